# The three secrets of a deployment. Terraform creates only the containers: the values are
# written by an operator with `aws secretsmanager put-secret-value` (deploy/README.md), so they
# never appear in this code, in a plan or in the state. There is deliberately no
# aws_secretsmanager_secret_version resource here.

locals {
  secrets = {
    stark_private_key = "Stark Bank project private key (PEM), read as STARK_PRIVATE_KEY"
    admin_token       = "Bearer token of the admin endpoints, read as ADMIN_TOKEN"
    redis_auth_token  = "ElastiCache AUTH token, read as REDIS_PASSWORD and set on the replication group"
  }
}

resource "aws_secretsmanager_secret" "this" {
  for_each = local.secrets
  #checkov:skip=CKV2_AWS_57:Rotation is an operator procedure (deploy/README.md): the Stark Bank key must be registered with Stark Bank first, and the Redis token needs a two-step ROTATE/SET on ElastiCache.

  name                    = "${var.name}/${replace(each.key, "_", "-")}"
  description             = each.value
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}
