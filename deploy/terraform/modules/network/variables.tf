variable "name" {
  description = "Prefix for the names of every resource in this module."
  type        = string
}

variable "cidr_block" {
  description = "CIDR block of the VPC created when no existing VPC is passed in."
  type        = string
}

variable "availability_zones" {
  description = "Exactly two availability zones for the public and private subnets."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2
    error_message = "availability_zones must list exactly two zones."
  }
}

variable "existing_vpc_id" {
  description = "ID of an existing VPC to use instead of creating one; null creates a VPC."
  type        = string
  default     = null
}

variable "existing_public_subnet_ids" {
  description = "Public subnets (two AZs) of the existing VPC, for the load balancer."
  type        = list(string)
  default     = []
}

variable "existing_private_subnet_ids" {
  description = "Private subnets (two AZs, with a NAT route) of the existing VPC, for tasks and Redis."
  type        = list(string)
  default     = []
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both zones (cheaper; a zone outage then cuts the other zone's egress)."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow log group."
  type        = string
}
