output "vpc_id" {
  description = "ID of the VPC the service runs in."
  value       = local.vpc_id
}

output "public_subnet_ids" {
  description = "Public subnets, one per availability zone (load balancer)."
  value       = local.create ? [for key in sort(keys(aws_subnet.public)) : aws_subnet.public[key].id] : var.existing_public_subnet_ids
}

output "private_subnet_ids" {
  description = "Private subnets, one per availability zone (tasks and Redis)."
  value       = local.create ? [for key in sort(keys(aws_subnet.private)) : aws_subnet.private[key].id] : var.existing_private_subnet_ids
}
