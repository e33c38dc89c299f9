# One image, two task definitions: `starkrelay api` behind the load balancer and
# `starkrelay worker` (scheduler and forwarding worker) with no port at all. Secrets reach the
# containers as environment variables injected by ECS at start; they are never in the task
# definition. The root filesystem is read-only; /tmp is a task-local scratch volume.

locals {
  plain_environment = [
    for key in sort(keys(var.environment)) : { name = key, value = var.environment[key] }
  ]

  worker_secrets = [
    { name = "STARK_PRIVATE_KEY", valueFrom = var.secret_arns.stark_private_key },
    { name = "REDIS_PASSWORD", valueFrom = var.secret_arns.redis_auth_token },
  ]

  api_secrets = concat(local.worker_secrets, [
    { name = "ADMIN_TOKEN", valueFrom = var.secret_arns.admin_token },
  ])

  # Liveness probes (/health: a background part died or stopped beating). The load balancer
  # checks readiness (/health/ready) of the API; the worker has no load balancer, and its
  # listener (WORKER_METRICS_PORT) is reached only from inside the task.
  api_health_probe    = ["CMD", "python", "-m", "starkrelay.probe", "http://127.0.0.1:${var.container_port}/health"]
  worker_health_probe = ["CMD", "python", "-m", "starkrelay.probe", "http://127.0.0.1:${var.worker_metrics_port}/health"]

  container_defaults = {
    image                  = var.image
    essential              = true
    readonlyRootFilesystem = true
    privileged             = false
    environment            = local.plain_environment
    stopTimeout            = 30
    linuxParameters        = { initProcessEnabled = true }
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
  }
}

resource "aws_ecs_task_definition" "api" {
  family                   = "${var.name}-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.api_cpu
  memory                   = var.api_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    merge(local.container_defaults, {
      name         = "api"
      command      = ["starkrelay", "api", "--host", "0.0.0.0", "--port", tostring(var.container_port)]
      portMappings = [{ containerPort = var.container_port, protocol = "tcp" }]
      secrets      = local.api_secrets
      healthCheck = {
        command     = local.api_health_probe
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service["api"].name
          awslogs-region        = var.region
          awslogs-stream-prefix = "api"
        }
      }
    })
  ])
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    merge(local.container_defaults, {
      name         = "worker"
      command      = ["starkrelay", "worker"]
      portMappings = []
      secrets      = local.worker_secrets
      environment = concat(local.plain_environment, [
        { name = "WORKER_METRICS_PORT", value = tostring(var.worker_metrics_port) },
      ])
      healthCheck = {
        command     = local.worker_health_probe
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 60
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service["worker"].name
          awslogs-region        = var.region
          awslogs-stream-prefix = "worker"
        }
      }
    })
  ])
}
