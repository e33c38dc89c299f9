variable "name" {
  description = "Repository name."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the images at rest."
  type        = string
}

variable "keep_tagged_images" {
  description = "How many release images (tags starting with v, sha- or git-) the lifecycle policy keeps."
  type        = number
}
