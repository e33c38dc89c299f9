output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "api_service_name" {
  description = "Name of the API service."
  value       = aws_ecs_service.api.name
}

output "worker_service_name" {
  description = "Name of the worker service."
  value       = aws_ecs_service.worker.name
}

output "log_group_names" {
  description = "Log groups of the API and worker containers."
  value       = { for key, group in aws_cloudwatch_log_group.service : key => group.name }
}

output "execution_role_arn" {
  description = "Role ECS uses to start the tasks."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "Role the application runs as (no permissions)."
  value       = aws_iam_role.task.arn
}
