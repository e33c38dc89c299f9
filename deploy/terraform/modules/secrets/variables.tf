variable "name" {
  description = "Prefix of the secret names, e.g. starkrelay-production."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the secret values."
  type        = string
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
}
