# Network: a VPC with a public and a private subnet in each of two availability zones, or the
# subnets of an existing VPC passed in. Load balancer in the public subnets; tasks and Redis in
# the private ones, which reach Stark Bank and ECR through NAT gateways.

locals {
  create   = var.existing_vpc_id == null
  vpc_id   = local.create ? aws_vpc.this[0].id : var.existing_vpc_id
  nat_keys = var.single_nat_gateway ? [0] : [0, 1]
  zones    = { for index, zone in var.availability_zones : tostring(index) => zone }
}

resource "aws_vpc" "this" {
  count = local.create ? 1 : 0

  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = var.name }
}

# The default security group of the VPC allows nothing, so nothing lands in it by accident.
resource "aws_default_security_group" "this" {
  count = local.create ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = { Name = "${var.name}-default-deny" }
}

resource "aws_internet_gateway" "this" {
  count = local.create ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = { Name = var.name }
}

resource "aws_subnet" "public" {
  for_each = local.create ? local.zones : {}

  vpc_id            = aws_vpc.this[0].id
  availability_zone = each.value
  cidr_block        = cidrsubnet(var.cidr_block, 8, tonumber(each.key))
  # Only the load balancer and the NAT gateways live here; neither needs an automatic public IP.
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-public-${each.value}", Tier = "public" }
}

resource "aws_subnet" "private" {
  for_each = local.create ? local.zones : {}

  vpc_id                  = aws_vpc.this[0].id
  availability_zone       = each.value
  cidr_block              = cidrsubnet(var.cidr_block, 8, 10 + tonumber(each.key))
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-private-${each.value}", Tier = "private" }
}

resource "aws_route_table" "public" {
  count = local.create ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = { Name = "${var.name}-public" }
}

resource "aws_route" "public_internet" {
  count = local.create ? 1 : 0

  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_eip" "nat" {
  for_each = local.create ? toset([for key in local.nat_keys : tostring(key)]) : toset([])

  domain = "vpc"
  tags   = { Name = "${var.name}-nat-${each.key}" }
}

resource "aws_nat_gateway" "this" {
  for_each = aws_eip.nat

  allocation_id = each.value.id
  subnet_id     = aws_subnet.public[each.key].id
  tags          = { Name = "${var.name}-nat-${each.key}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "private" {
  for_each = local.create ? local.zones : {}

  vpc_id = aws_vpc.this[0].id
  tags   = { Name = "${var.name}-private-${each.value}" }
}

resource "aws_route" "private_nat" {
  for_each = aws_route_table.private

  route_table_id         = each.value.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? "0" : each.key].id
}

resource "aws_route_table_association" "private" {
  for_each = aws_subnet.private

  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[each.key].id
}

# Flow logs of the whole VPC (accepted and rejected traffic), kept encrypted.
resource "aws_cloudwatch_log_group" "flow" {
  count = local.create ? 1 : 0

  name              = "/starkrelay/${var.name}/vpc-flow"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow" {
  count = local.create ? 1 : 0

  name               = "${var.name}-vpc-flow"
  assume_role_policy = data.aws_iam_policy_document.flow_assume.json
}

data "aws_iam_policy_document" "flow_write" {
  count = local.create ? 1 : 0

  statement {
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = ["${aws_cloudwatch_log_group.flow[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow" {
  count = local.create ? 1 : 0

  name   = "write-flow-logs"
  role   = aws_iam_role.flow[0].id
  policy = data.aws_iam_policy_document.flow_write[0].json
}

resource "aws_flow_log" "this" {
  count = local.create ? 1 : 0

  vpc_id          = aws_vpc.this[0].id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow[0].arn
  iam_role_arn    = aws_iam_role.flow[0].arn
}
