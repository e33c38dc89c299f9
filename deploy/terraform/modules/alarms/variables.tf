variable "name" {
  description = "Prefix for alarm names and the topic."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the alarm topic."
  type        = string
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic; empty subscribes nobody."
  type        = string
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the load balancer."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the API target group."
  type        = string
}

variable "elb_5xx_threshold" {
  description = "5xx answers per 5 minutes (load balancer plus targets) that raise the alarm."
  type        = number
}

variable "redis_node_ids" {
  description = "Cache cluster IDs of the Redis nodes."
  type        = list(string)
}

variable "redis_memory_percent" {
  description = "DatabaseMemoryUsagePercentage of a node that raises the alarm."
  type        = number
}
