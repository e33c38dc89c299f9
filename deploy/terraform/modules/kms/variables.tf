variable "name" {
  description = "Prefix for the key alias."
  type        = string
}

variable "account_id" {
  description = "AWS account that owns the key."
  type        = string
}

variable "region" {
  description = "Region of the log groups and alarms that use the key."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
}

variable "log_group_name_prefixes" {
  description = "Log group name prefixes that CloudWatch Logs may encrypt with this key."
  type        = list(string)
}
