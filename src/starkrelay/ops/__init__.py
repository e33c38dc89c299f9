"""Operations: health and readiness, Prometheus metrics, status, the going-live doctor."""
