variable "name" {
  description = "Prefix for the names of every resource in this module."
  type        = string
}

variable "region" {
  description = "Region, for the awslogs driver and IAM conditions."
  type        = string
}

variable "account_id" {
  description = "AWS account ID, for IAM conditions."
  type        = string
}

variable "partition" {
  description = "AWS partition, for ARNs."
  type        = string
}

variable "image" {
  description = "Full image reference: repository URL with @sha256 digest or an immutable tag."
  type        = string
}

variable "repository_arn" {
  description = "ECR repository the execution role may pull from."
  type        = string
}

variable "cpu_architecture" {
  description = "CPU architecture the image was built for: X86_64 or ARM64."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets the tasks run in."
  type        = list(string)
}

variable "api_security_group_id" {
  description = "Security group of the API tasks (ingress from the load balancer only)."
  type        = string
}

variable "worker_security_group_id" {
  description = "Security group of the worker tasks (no ingress at all)."
  type        = string
}

variable "target_group_arn" {
  description = "Load balancer target group of the API tasks."
  type        = string
}

variable "alb_request_count_label" {
  description = "<load balancer ARN suffix>/<target group ARN suffix>, for request-count autoscaling."
  type        = string
}

variable "container_port" {
  description = "Port the API container listens on."
  type        = number
}

variable "environment" {
  description = "Plain (non-secret) environment variables of both containers."
  type        = map(string)
}

variable "secret_arns" {
  description = "Secrets Manager ARNs by role: stark_private_key, admin_token, redis_auth_token."
  type = object({
    stark_private_key = string
    admin_token       = string
    redis_auth_token  = string
  })
}

variable "kms_key_arn" {
  description = "KMS key of the secrets and log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the container log groups, in days."
  type        = number
}

variable "api_cpu" {
  description = "CPU units of an API task."
  type        = number
}

variable "api_memory" {
  description = "Memory (MiB) of an API task."
  type        = number
}

variable "worker_cpu" {
  description = "CPU units of a worker task."
  type        = number
}

variable "worker_memory" {
  description = "Memory (MiB) of a worker task."
  type        = number
}

variable "api_min_count" {
  description = "Fewest API tasks autoscaling keeps."
  type        = number
}

variable "api_max_count" {
  description = "Most API tasks autoscaling starts."
  type        = number
}

variable "api_cpu_target_percent" {
  description = "Average CPU the API autoscaling aims for."
  type        = number
}

variable "api_requests_per_target" {
  description = "Requests per minute per API task the autoscaling aims for."
  type        = number
}

variable "worker_count" {
  description = "Number of worker tasks."
  type        = number
}

variable "wait_for_steady_state" {
  description = "Make apply wait until each service is stable (and fail if the circuit breaker rolls back)."
  type        = bool
}

variable "worker_metrics_port" {
  description = "Port of the worker's own listener (/metrics, /health, /health/ready), inside its task."
  type        = number
  default     = 8001

  validation {
    condition     = var.worker_metrics_port >= 1 && var.worker_metrics_port <= 65535
    error_message = "worker_metrics_port must be a TCP port (1-65535)."
  }
}
