# Who may talk to whom, in one place:
#   internet  --443/80-->  load balancer  --8000-->  API tasks
#   API tasks, worker tasks  --6379-->  Redis
#   API tasks, worker tasks  --443-->  Stark Bank, ECR, Secrets Manager, CloudWatch (via NAT)
# Nothing else: the worker accepts no connection at all, Redis only from the tasks.

resource "aws_security_group" "alb" {
  name        = "${local.prefix}-alb"
  description = "starkrelay load balancer: HTTPS (and HTTP that only redirects) from clients"
  vpc_id      = module.network.vpc_id
}

resource "aws_security_group" "api" {
  #checkov:skip=CKV2_AWS_5:Attached to the API service in module.ecs (network_configuration); the check does not follow module inputs into that block.
  name        = "${local.prefix}-api"
  description = "starkrelay API tasks: reachable only from the load balancer"
  vpc_id      = module.network.vpc_id
}

resource "aws_security_group" "worker" {
  #checkov:skip=CKV2_AWS_5:Attached to the worker service in module.ecs (network_configuration); the check does not follow module inputs into that block.
  name        = "${local.prefix}-worker"
  description = "starkrelay worker tasks: no inbound traffic"
  vpc_id      = module.network.vpc_id
}

resource "aws_security_group" "redis" {
  name        = "${local.prefix}-redis"
  description = "starkrelay Redis: reachable only from the API and worker tasks"
  vpc_id      = module.network.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients and Stark Bank webhooks"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http_redirect" {
  for_each = toset(var.alb_ingress_cidrs)
  #checkov:skip=CKV_AWS_260:Port 80 is open only so browsers get a 301 to HTTPS; its listener forwards nothing.

  security_group_id = aws_security_group.alb.id
  description       = "HTTP, answered only with a redirect to HTTPS"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to the API tasks"
  referenced_security_group_id = aws_security_group.api.id
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api.id
  description                  = "Requests from the load balancer only"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_tasks" {
  for_each = {
    api    = aws_security_group.api.id
    worker = aws_security_group.worker.id
  }

  security_group_id            = aws_security_group.redis.id
  description                  = "Redis over TLS from the ${each.key} tasks"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_redis" {
  for_each = {
    api    = aws_security_group.api.id
    worker = aws_security_group.worker.id
  }

  security_group_id            = each.value
  description                  = "Redis over TLS"
  referenced_security_group_id = aws_security_group.redis.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_https" {
  for_each = {
    api    = aws_security_group.api.id
    worker = aws_security_group.worker.id
  }

  security_group_id = each.value
  description       = "HTTPS to Stark Bank and the AWS APIs (ECR, Secrets Manager, CloudWatch) through NAT"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}
