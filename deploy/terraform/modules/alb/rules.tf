# /metrics is for the operators' scraper, not the internet: the load balancer answers 404 for it
# unless the client is inside metrics_allowed_cidrs. Everything else goes to the API, whose
# admin endpoints require the bearer token.

resource "aws_lb_listener_rule" "metrics_allowed" {
  count = length(var.metrics_allowed_cidrs) == 0 ? 0 : 1

  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  condition {
    path_pattern {
      values = ["/metrics"]
    }
  }

  condition {
    source_ip {
      values = var.metrics_allowed_cidrs
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

resource "aws_lb_listener_rule" "metrics_hidden" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 20

  condition {
    path_pattern {
      values = ["/metrics"]
    }
  }

  action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Not Found"
      status_code  = "404"
    }
  }
}
