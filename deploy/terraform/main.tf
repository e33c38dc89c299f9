# starkrelay on AWS: an HTTPS load balancer in front of the API service, a worker service with
# no inbound traffic, both on ECS Fargate from one immutable image, and a Multi-AZ ElastiCache
# replication group for coordination. deploy/README.md is the runbook.

locals {
  prefix       = "${var.name}-${var.environment_name}"
  webhook_path = "/api/v1/webhooks/starkbank"
  public_url   = "https://${var.domain_name}"
  image = (startswith(var.image_reference, "sha256:")
    ? "${module.ecr.repository_url}@${var.image_reference}"
  : "${module.ecr.repository_url}:${var.image_reference}")
  container_port = 8000

  availability_zones = var.availability_zones != null ? var.availability_zones : ["${var.region}a", "${var.region}b"]

  # Every variable the containers read that is not a secret. Secrets (STARK_PRIVATE_KEY,
  # ADMIN_TOKEN, REDIS_PASSWORD) are injected by ECS from Secrets Manager, see modules/ecs.
  # ENVIRONMENT=production refuses to start without STARK_WORKSPACE_ID.
  container_environment = merge(var.app_settings, {
    ENVIRONMENT        = "production"
    STARK_ENVIRONMENT  = var.stark_environment
    STARK_PROJECT_ID   = var.stark_project_id
    STARK_WORKSPACE_ID = var.stark_workspace_id
    API_EXTERNAL_URL   = local.public_url
    REDIS_URL          = module.redis.url
    LOG_LEVEL          = var.log_level
    LOG_FORMAT         = "json"
  })
}

module "kms" {
  source = "./modules/kms"

  name                    = local.prefix
  account_id              = data.aws_caller_identity.current.account_id
  region                  = var.region
  partition               = data.aws_partition.current.partition
  log_group_name_prefixes = ["/starkrelay/${local.prefix}", "aws-waf-logs-${local.prefix}"]
}

module "network" {
  source = "./modules/network"

  name                        = local.prefix
  cidr_block                  = var.vpc_cidr
  availability_zones          = sort(data.aws_availability_zones.selected.names)
  existing_vpc_id             = var.existing_vpc_id
  existing_public_subnet_ids  = var.existing_public_subnet_ids
  existing_private_subnet_ids = var.existing_private_subnet_ids
  single_nat_gateway          = var.single_nat_gateway
  flow_log_retention_days     = var.log_retention_days
  kms_key_arn                 = module.kms.key_arn
}

module "ecr" {
  source = "./modules/ecr"

  name               = local.prefix
  kms_key_arn        = module.kms.key_arn
  keep_tagged_images = var.ecr_keep_release_images
}

module "secrets" {
  source = "./modules/secrets"

  name                 = local.prefix
  kms_key_arn          = module.kms.key_arn
  recovery_window_days = var.secret_recovery_window_days
}

module "alb" {
  source = "./modules/alb"

  name                      = local.prefix
  vpc_id                    = module.network.vpc_id
  public_subnet_ids         = module.network.public_subnet_ids
  security_group_id         = aws_security_group.alb.id
  certificate_arn           = var.certificate_arn
  ssl_policy                = var.ssl_policy
  container_port            = local.container_port
  deletion_protection       = var.alb_deletion_protection
  access_log_retention_days = var.alb_access_log_retention_days
  log_retention_days        = var.log_retention_days
  kms_key_arn               = module.kms.key_arn
  waf_rate_limit            = var.waf_rate_limit
  metrics_allowed_cidrs     = var.metrics_allowed_cidrs
  webhook_path              = local.webhook_path
}

module "redis" {
  source = "./modules/redis"

  name                       = local.prefix
  engine                     = var.redis_engine
  engine_version             = var.redis_engine_version
  parameter_group_family     = var.redis_parameter_group_family
  node_type                  = var.redis_node_type
  num_cache_clusters         = var.redis_num_cache_clusters
  subnet_ids                 = module.network.private_subnet_ids
  security_group_id          = aws_security_group.redis.id
  kms_key_arn                = module.kms.key_arn
  auth_token_secret_id       = module.secrets.redis_auth_token_id
  auth_token_version         = var.redis_auth_token_version
  auth_token_update_strategy = var.redis_auth_token_update_strategy
  snapshot_retention_days    = var.redis_snapshot_retention_days
  log_retention_days         = var.log_retention_days
  apply_immediately          = var.redis_apply_immediately
}

module "ecs" {
  source = "./modules/ecs"

  name                     = local.prefix
  region                   = var.region
  account_id               = data.aws_caller_identity.current.account_id
  partition                = data.aws_partition.current.partition
  image                    = local.image
  repository_arn           = module.ecr.repository_arn
  cpu_architecture         = var.cpu_architecture
  private_subnet_ids       = module.network.private_subnet_ids
  api_security_group_id    = aws_security_group.api.id
  worker_security_group_id = aws_security_group.worker.id
  target_group_arn         = module.alb.target_group_arn
  alb_request_count_label  = "${module.alb.arn_suffix}/${module.alb.target_group_arn_suffix}"
  container_port           = local.container_port
  environment              = local.container_environment
  kms_key_arn              = module.kms.key_arn
  log_retention_days       = var.log_retention_days
  api_cpu                  = var.api_cpu
  api_memory               = var.api_memory
  worker_cpu               = var.worker_cpu
  worker_memory            = var.worker_memory
  api_min_count            = var.api_min_count
  api_max_count            = var.api_max_count
  api_cpu_target_percent   = var.api_cpu_target_percent
  api_requests_per_target  = var.api_requests_per_target
  worker_count             = var.worker_count
  wait_for_steady_state    = var.wait_for_steady_state

  secret_arns = {
    stark_private_key = module.secrets.stark_private_key_arn
    admin_token       = module.secrets.admin_token_arn
    redis_auth_token  = module.secrets.redis_auth_token_arn
  }
}

module "alarms" {
  source = "./modules/alarms"

  name                    = local.prefix
  kms_key_arn             = module.kms.key_arn
  alarm_email             = var.alarm_email
  alb_arn_suffix          = module.alb.arn_suffix
  target_group_arn_suffix = module.alb.target_group_arn_suffix
  elb_5xx_threshold       = var.alb_5xx_alarm_threshold
  redis_node_ids          = module.redis.node_ids
  redis_memory_percent    = var.redis_memory_alarm_percent
}

resource "aws_route53_record" "public" {
  count = var.route53_zone_id == null ? 0 : 1

  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = module.alb.dns_name
    zone_id                = module.alb.zone_id
    evaluate_target_health = true
  }
}
