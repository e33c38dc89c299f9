terraform {
  # 1.11 brings write-only arguments, which keep the Redis AUTH token out of state and plans.
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # auth_token_wo on aws_elasticache_replication_group exists only in recent 6.x releases:
      # `terraform init -upgrade` picks the newest 6.x, and .terraform.lock.hcl pins it.
      version = ">= 6.0.0, < 7.0.0"
    }
  }

  # Partial configuration: bucket, key, region and locking come from backend.hcl
  # (`terraform init -backend-config=backend.hcl`), see backend.hcl.example.
  backend "s3" {}
}
