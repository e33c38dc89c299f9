output "primary_endpoint" {
  description = "Host name of the primary node (moves on failover)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "url" {
  description = "REDIS_URL for the service: TLS, no password (the password comes from REDIS_PASSWORD)."
  value       = "rediss://${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0"
}

output "replication_group_id" {
  description = "ID of the replication group, for the memory alarm."
  value       = aws_elasticache_replication_group.this.id
}

output "node_ids" {
  description = "Node (cache cluster) IDs, known at plan time: ElastiCache numbers them <id>-001, -002..."
  value       = [for index in range(var.num_cache_clusters) : format("%s-%03d", var.name, index + 1)]
}
