# Redis for coordination: locks, claims, de-duplication keys and the forwarding stream. Multi-AZ
# with automatic failover, TLS required, encrypted at rest, AUTH token required.
#
# maxmemory-policy is noeviction: a full Redis must refuse writes (the service answers 503 and
# Stark Bank retries) rather than silently evict a lock or a claim, which could let one credited
# invoice be forwarded twice. The memory alarm fires long before that.
#
# The AUTH token is read from Secrets Manager by an ephemeral resource and passed to the
# write-only auth_token_wo argument: it is never written to the plan or the state.

resource "aws_elasticache_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_elasticache_parameter_group" "this" {
  name   = "${var.name}-${var.parameter_group_family}"
  family = var.parameter_group_family

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "engine" {
  for_each = toset(["engine-log", "slow-log"])

  name              = "/starkrelay/${var.name}/redis-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

ephemeral "aws_secretsmanager_secret_version" "auth_token" {
  secret_id = var.auth_token_secret_id
}

resource "aws_elasticache_replication_group" "this" {
  #checkov:skip=CKV_AWS_31:Transit encryption is required and the AUTH token is set through the write-only auth_token_wo argument, which this check does not recognise (tests/deploy asserts it).
  replication_group_id = var.name
  description          = "starkrelay coordination store (${var.name})"

  engine               = var.engine
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.this.name

  num_cache_clusters         = var.num_cache_clusters
  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [var.security_group_id]

  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"

  auth_token_wo              = ephemeral.aws_secretsmanager_secret_version.auth_token.secret_string
  auth_token_wo_version      = var.auth_token_version
  auth_token_update_strategy = var.auth_token_update_strategy

  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "05:00-06:00"
  maintenance_window         = "sun:06:30-sun:07:30"
  auto_minor_version_upgrade = true
  apply_immediately          = var.apply_immediately

  dynamic "log_delivery_configuration" {
    for_each = aws_cloudwatch_log_group.engine
    content {
      destination      = log_delivery_configuration.value.name
      destination_type = "cloudwatch-logs"
      log_format       = "json"
      log_type         = log_delivery_configuration.key
    }
  }
}
