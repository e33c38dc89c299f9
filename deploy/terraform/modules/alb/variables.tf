variable "name" {
  description = "Prefix for the names of every resource in this module."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the target group."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets in two availability zones."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the load balancer."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
}

variable "container_port" {
  description = "Port the API containers listen on."
  type        = number
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer (turn off only to tear the stack down)."
  type        = bool
}

variable "access_log_retention_days" {
  description = "Days access logs are kept in the log bucket."
  type        = number
}

variable "log_retention_days" {
  description = "Retention of the WAF log group, in days."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key for the WAF log group."
  type        = string
}

variable "waf_rate_limit" {
  description = "Requests per client IP per 5 minutes before WAF blocks it (the webhook path is exempt)."
  type        = number
}

variable "metrics_allowed_cidrs" {
  description = "Networks (at most 5 CIDRs) whose requests to /metrics reach the API; everyone else gets 404."
  type        = list(string)
}

variable "webhook_path" {
  description = "Path Stark Bank posts events to; exempt from the per-IP rate limit."
  type        = string
}
