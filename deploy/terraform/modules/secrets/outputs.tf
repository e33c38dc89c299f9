output "stark_private_key_arn" {
  description = "ARN of the secret holding the Stark Bank private key."
  value       = aws_secretsmanager_secret.this["stark_private_key"].arn
}

output "admin_token_arn" {
  description = "ARN of the secret holding the admin token."
  value       = aws_secretsmanager_secret.this["admin_token"].arn
}

output "redis_auth_token_arn" {
  description = "ARN of the secret holding the Redis AUTH token."
  value       = aws_secretsmanager_secret.this["redis_auth_token"].arn
}

output "redis_auth_token_id" {
  description = "ID of the Redis AUTH token secret, read ephemerally when Redis is created."
  value       = aws_secretsmanager_secret.this["redis_auth_token"].id
}

output "names" {
  description = "Names of the secrets, for `aws secretsmanager put-secret-value --secret-id`."
  value       = { for key, secret in aws_secretsmanager_secret.this : key => secret.name }
}
