output "dns_name" {
  description = "DNS name of the load balancer (point the domain's alias record at it)."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Hosted zone of the load balancer, for an alias record."
  value       = aws_lb.this.zone_id
}

output "arn_suffix" {
  description = "ARN suffix of the load balancer, for CloudWatch metrics."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn" {
  description = "Target group the API service registers its tasks in (available once the HTTPS listener forwards to it)."
  value       = aws_lb_target_group.api.arn

  # ECS refuses a service whose target group no load balancer uses yet.
  depends_on = [aws_lb_listener.https]
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group, for CloudWatch metrics and autoscaling."
  value       = aws_lb_target_group.api.arn_suffix
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener (the API service depends on it)."
  value       = aws_lb_listener.https.arn
}
