provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Application = "starkrelay"
      Environment = var.environment_name
      ManagedBy   = "terraform"
    })
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The two zones are named explicitly (availability_zones), so placement never changes when AWS
# adds a zone to the region; the data source only confirms they exist and are available.
data "aws_availability_zones" "selected" {
  state = "available"

  filter {
    name   = "zone-name"
    values = local.availability_zones
  }
}
