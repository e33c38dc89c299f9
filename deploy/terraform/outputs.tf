output "public_url" {
  description = "Public base URL of the service (API_EXTERNAL_URL)."
  value       = local.public_url
}

output "webhook_url" {
  description = "URL to register as the Stark Bank webhook (`starkrelay webhook ensure` uses it)."
  value       = "${local.public_url}${local.webhook_path}"
}

output "load_balancer_dns_name" {
  description = "Point domain_name here (alias/CNAME) when Route 53 is not managed by this stack."
  value       = module.alb.dns_name
}

output "ecr_repository_url" {
  description = "Push the image here: docker push <url>:<release tag>."
  value       = module.ecr.repository_url
}

output "image" {
  description = "Image reference the services run."
  value       = local.image
}

output "ecs_cluster_name" {
  description = "ECS cluster of the two services."
  value       = module.ecs.cluster_name
}

output "api_service_name" {
  description = "ECS service running `starkrelay api`."
  value       = module.ecs.api_service_name
}

output "worker_service_name" {
  description = "ECS service running `starkrelay worker`."
  value       = module.ecs.worker_service_name
}

output "log_group_names" {
  description = "CloudWatch log groups of the API and worker containers."
  value       = module.ecs.log_group_names
}

output "secret_names" {
  description = "Secrets to fill with `aws secretsmanager put-secret-value` (values never pass through Terraform)."
  value       = module.secrets.names
}

output "redis_primary_endpoint" {
  description = "Primary endpoint of the Redis replication group (TLS, AUTH)."
  value       = module.redis.primary_endpoint
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms; subscribe a pager or chat integration to it."
  value       = module.alarms.topic_arn
}

output "private_subnet_ids" {
  description = "Private subnets, for one-off tasks (`aws ecs run-task`, see the runbook)."
  value       = module.network.private_subnet_ids
}

output "worker_security_group_id" {
  description = "Security group for one-off tasks: outbound HTTPS and Redis, no inbound."
  value       = aws_security_group.worker.id
}

output "worker_task_family" {
  description = "Task definition family of the worker, for one-off CLI tasks."
  value       = "${local.prefix}-worker"
}
