variable "name" {
  description = "Replication group ID and prefix of the module's resources."
  type        = string
}

variable "engine" {
  description = "Cache engine: valkey or redis."
  type        = string
}

variable "engine_version" {
  description = "Engine version, e.g. 8.0 for valkey or 7.1 for redis."
  type        = string
}

variable "parameter_group_family" {
  description = "Parameter group family matching the engine and version, e.g. valkey8 or redis7."
  type        = string
}

variable "node_type" {
  description = "Cache node type."
  type        = string
}

variable "num_cache_clusters" {
  description = "Nodes in the replication group: one primary and at least one replica in another zone."
  type        = number
}

variable "subnet_ids" {
  description = "Private subnets in two availability zones."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the Redis nodes (ingress from the tasks only)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for data at rest and the engine logs."
  type        = string
}

variable "auth_token_secret_id" {
  description = "Secrets Manager secret whose current value is the AUTH token."
  type        = string
}

variable "auth_token_version" {
  description = "Bump to push the secret's current value to ElastiCache as the AUTH token."
  type        = number
}

variable "auth_token_update_strategy" {
  description = "ROTATE (old and new token both valid) or SET (only the new one) when the token changes."
  type        = string
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots kept."
  type        = number
}

variable "log_retention_days" {
  description = "Retention of the engine and slow log groups, in days."
  type        = number
}

variable "apply_immediately" {
  description = "Apply changes now instead of in the maintenance window."
  type        = bool
}
