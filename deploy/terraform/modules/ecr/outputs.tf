output "repository_url" {
  description = "Registry URL of the repository (no tag)."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "ARN of the repository, for the pull permission of the execution role."
  value       = aws_ecr_repository.this.arn
}
