# ---- Identity --------------------------------------------------------------------------------

variable "region" {
  description = "AWS region of the deployment (Stark Bank is in Brazil: sa-east-1 keeps latency low)."
  type        = string
  default     = "sa-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as sa-east-1."
  }
}

variable "name" {
  description = "Name of the application, first part of every resource name."
  type        = string
  default     = "starkrelay"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.name))
    error_message = "name must be 2-16 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "environment_name" {
  description = "Name of this deployment (production, staging...), second part of every resource name."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.environment_name))
    error_message = "environment_name must be 2-12 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# ---- Network ---------------------------------------------------------------------------------

variable "availability_zones" {
  description = "The two availability zones to use; null means <region>a and <region>b."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null || length(var.availability_zones) == 2
    error_message = "availability_zones must name exactly two zones, e.g. [\"sa-east-1a\", \"sa-east-1c\"]."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC created when existing_vpc_id is null (a /16 to /20)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a valid CIDR block of size /20 or larger."
  }
}

variable "existing_vpc_id" {
  description = "Deploy into this existing VPC instead of creating one (then pass both subnet lists)."
  type        = string
  default     = null

  validation {
    condition     = var.existing_vpc_id == null || can(regex("^vpc-[0-9a-f]+$", var.existing_vpc_id))
    error_message = "existing_vpc_id must be a VPC ID (vpc-...) or null."
  }
}

variable "existing_public_subnet_ids" {
  description = "With existing_vpc_id: public subnets in two availability zones, for the load balancer."
  type        = list(string)
  default     = []

  validation {
    condition     = var.existing_vpc_id == null || length(var.existing_public_subnet_ids) >= 2
    error_message = "existing_public_subnet_ids needs subnets in at least two availability zones when existing_vpc_id is set."
  }
}

variable "existing_private_subnet_ids" {
  description = "With existing_vpc_id: private subnets with a NAT route in two availability zones, for tasks and Redis."
  type        = list(string)
  default     = []

  validation {
    condition     = var.existing_vpc_id == null || length(var.existing_private_subnet_ids) >= 2
    error_message = "existing_private_subnet_ids needs subnets in at least two availability zones when existing_vpc_id is set."
  }
}

variable "single_nat_gateway" {
  description = "Share one NAT gateway between both zones (cheaper, but one zone's outage cuts egress for both)."
  type        = bool
  default     = false
}

# ---- Public endpoint -------------------------------------------------------------------------

variable "domain_name" {
  description = "Public host name of the service, e.g. relay.example.com (the certificate must cover it)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,}$", var.domain_name))
    error_message = "domain_name must be a lowercase DNS name such as relay.example.com, without scheme or path."
  }
}

variable "certificate_arn" {
  description = "ARN of an issued ACM certificate for domain_name, in the deployment's region."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)."
  }
}

variable "route53_zone_id" {
  description = "Hosted zone to create the domain's alias record in; null if DNS is managed elsewhere."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener: TLS 1.3 and 1.2 with forward-secret AEAD ciphers only."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"

  validation {
    condition     = startswith(var.ssl_policy, "ELBSecurityPolicy-TLS13-1-2-")
    error_message = "ssl_policy must be a TLS 1.3 policy that refuses TLS 1.0 and 1.1 (ELBSecurityPolicy-TLS13-1-2-*)."
  }
}

variable "alb_ingress_cidrs" {
  description = "Client networks allowed to reach the load balancer (Stark Bank's webhook senders must be inside)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.alb_ingress_cidrs) > 0 && alltrue([for cidr in var.alb_ingress_cidrs : can(cidrhost(cidr, 0))])
    error_message = "alb_ingress_cidrs must be a non-empty list of CIDR blocks."
  }
}

variable "metrics_allowed_cidrs" {
  description = "Networks of your Prometheus scraper allowed to read /metrics through the load balancer; empty hides /metrics (404) from everyone."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.metrics_allowed_cidrs) <= 5 && alltrue([for cidr in var.metrics_allowed_cidrs : can(cidrhost(cidr, 0)) && cidr != "0.0.0.0/0"])
    error_message = "metrics_allowed_cidrs takes at most 5 CIDR blocks (a listener rule's limit), and never 0.0.0.0/0."
  }
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer; set false only to tear the deployment down."
  type        = bool
  default     = true
}

variable "waf_rate_limit" {
  description = "Requests per client IP per 5 minutes before WAF blocks it (the webhook path is exempt)."
  type        = number
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 100 && var.waf_rate_limit <= 2000000000
    error_message = "waf_rate_limit must be between 100 and 2,000,000,000 (WAF's limits)."
  }
}

# ---- Image -----------------------------------------------------------------------------------

variable "image_reference" {
  description = "Image to run, from this deployment's ECR repository: a digest (sha256:...) or an immutable release tag (v1.2.3, git-abc1234). Never latest."
  type        = string

  validation {
    condition     = can(regex("^(sha256:[0-9a-f]{64}|v[0-9]+\\.[0-9]+\\.[0-9]+([.+-][0-9A-Za-z.-]+)?|(git|sha)-[0-9a-f]{7,40})$", var.image_reference))
    error_message = "image_reference must be sha256:<64 hex>, a release tag vX.Y.Z or git-<commit>; mutable tags such as latest are refused."
  }

  validation {
    condition     = !strcontains(lower(var.image_reference), "latest")
    error_message = "image_reference must never be latest: deploy a digest or an immutable release tag."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64, or ARM64 for a Graviton build (cheaper)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "ecr_keep_release_images" {
  description = "Release images kept in ECR; rollbacks can go back this far."
  type        = number
  default     = 30

  validation {
    condition     = var.ecr_keep_release_images >= 5
    error_message = "ecr_keep_release_images must keep at least 5 images, so a rollback target always exists."
  }
}

# ---- Service ---------------------------------------------------------------------------------

variable "stark_environment" {
  description = "Stark Bank environment the service talks to: sandbox or production (STARK_ENVIRONMENT)."
  type        = string
  default     = "production"

  validation {
    condition     = contains(["sandbox", "production"], var.stark_environment)
    error_message = "stark_environment must be sandbox or production."
  }
}

variable "stark_project_id" {
  description = "Stark Bank project ID (STARK_PROJECT_ID); the project's key pair lives in Secrets Manager."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{10,20}$", var.stark_project_id))
    error_message = "stark_project_id must be the numeric project ID shown in the Stark Bank dashboard."
  }
}

variable "stark_workspace_id" {
  description = "Stark Bank workspace ID (STARK_WORKSPACE_ID), required in production: Stark Bank's web banking shows it, and `starkrelay doctor` prints the one Stark Bank reports for the project's credentials."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{10,20}$", var.stark_workspace_id))
    error_message = "stark_workspace_id must be the numeric workspace ID (Stark Bank's web banking shows it; `starkrelay doctor` prints it)."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the service."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "app_settings" {
  description = "Extra non-secret settings of the service (campaign, invoice, destination, forwarding, reconciliation), by environment variable name."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for key in keys(var.app_settings) : contains([
        "REDIS_KEY_PREFIX",
        "CAMPAIGN_INTERVAL_SECONDS", "CAMPAIGN_DURATION_SECONDS", "CAMPAIGN_GRACE_SECONDS",
        "CAMPAIGN_BATCH_MIN", "CAMPAIGN_BATCH_MAX",
        "CAMPAIGN_RETRY_INITIAL_SECONDS", "CAMPAIGN_RETRY_MAX_SECONDS",
        "INVOICE_AMOUNT_MIN", "INVOICE_AMOUNT_MAX", "INVOICE_DUE_SECONDS", "INVOICE_EXPIRATION_SECONDS",
        "INVOICE_DISCOUNT_PERCENT", "INVOICE_DISCOUNT_SECONDS",
        "DESTINATION_BANK_CODE", "DESTINATION_BRANCH_CODE", "DESTINATION_ACCOUNT_NUMBER",
        "DESTINATION_NAME", "DESTINATION_TAX_ID", "DESTINATION_ACCOUNT_TYPE",
        "WEBHOOK_MAX_BODY_BYTES", "WEBHOOK_REPLAY_WINDOW_SECONDS", "WEBHOOK_CLOCK_SKEW_SECONDS",
        "PUBLIC_KEY_REFRESH_MIN_SECONDS",
        "FORWARD_BATCH_SIZE", "FORWARD_MAX_DELIVERIES", "FORWARD_CLAIM_IDLE_SECONDS",
        "FORWARD_BLOCK_MS", "FORWARD_MAX_RESENDS", "FORWARD_BALANCE_CHECK_SECONDS", "FORWARD_CONCURRENCY",
        "FORWARD_MAX_AMOUNT", "FORWARD_DAILY_LIMIT", "FORWARD_HOURLY_COUNT",
        "FORWARD_RELEASE_HELD_NEXT_DAY",
        "RECONCILE_CRON", "RECONCILE_TIMEZONE", "RECONCILE_LOOKBACK_DAYS", "RECONCILE_REPORT_HISTORY",
        "BANK_RETRY_DEADLINE_SECONDS", "BANK_RETRY_MAX_WAIT_SECONDS", "BANK_TIMEOUT_SECONDS",
        "BANK_BACKOFF_MAX_SECONDS",
        "STARTUP_RETRY_DEADLINE_SECONDS", "STARTUP_RETRY_MAX_WAIT_SECONDS", "HEARTBEAT_TIMEOUT_SECONDS",
        "METRICS_SCRAPE_TIMEOUT_SECONDS",
        "CONSOLE_REFRESH_SECONDS", "CONSOLE_SESSION_SECONDS", "CONSOLE_SIGNIN_LINK_SECONDS",
      ], key)
    ])
    error_message = "app_settings accepts only the service's non-secret tuning variables; secrets go to Secrets Manager, and the managed variables (ENVIRONMENT, STARK_*, REDIS_URL, API_EXTERNAL_URL, LOG_*) are set from their own variables."
  }
}

variable "api_cpu" {
  description = "CPU units of an API task (1024 = one vCPU)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.api_cpu)
    error_message = "api_cpu must be a Fargate size: 256, 512, 1024, 2048 or 4096."
  }
}

variable "api_memory" {
  description = "Memory of an API task in MiB (must fit api_cpu's Fargate range)."
  type        = number
  default     = 1024

  validation {
    condition     = var.api_memory >= 512 && var.api_memory <= 30720
    error_message = "api_memory must be between 512 and 30720 MiB."
  }
}

variable "worker_cpu" {
  description = "CPU units of a worker task (1024 = one vCPU)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.worker_cpu)
    error_message = "worker_cpu must be a Fargate size: 256, 512, 1024, 2048 or 4096."
  }
}

variable "worker_memory" {
  description = "Memory of a worker task in MiB (must fit worker_cpu's Fargate range)."
  type        = number
  default     = 1024

  validation {
    condition     = var.worker_memory >= 512 && var.worker_memory <= 30720
    error_message = "worker_memory must be between 512 and 30720 MiB."
  }
}

variable "api_min_count" {
  description = "Fewest API tasks: at least two, one per availability zone."
  type        = number
  default     = 2

  validation {
    condition     = var.api_min_count >= 2
    error_message = "api_min_count must be at least 2 so the API survives a zone outage."
  }
}

variable "api_max_count" {
  description = "Most API tasks autoscaling may run."
  type        = number
  default     = 8

  validation {
    condition     = var.api_max_count >= var.api_min_count
    error_message = "api_max_count must be at least api_min_count."
  }
}

variable "api_cpu_target_percent" {
  description = "Average CPU utilisation the API autoscaling keeps."
  type        = number
  default     = 60

  validation {
    condition     = var.api_cpu_target_percent >= 20 && var.api_cpu_target_percent <= 90
    error_message = "api_cpu_target_percent must be between 20 and 90."
  }
}

variable "api_requests_per_target" {
  description = "Requests per minute per API task the autoscaling keeps."
  type        = number
  default     = 3000

  validation {
    condition     = var.api_requests_per_target >= 10
    error_message = "api_requests_per_target must be at least 10."
  }
}

variable "worker_count" {
  description = "Worker tasks (scheduler and forwarding); any number can run, at least two survive a zone outage."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_count >= 1 && var.worker_count <= 20
    error_message = "worker_count must be between 1 and 20."
  }
}

variable "wait_for_steady_state" {
  description = "Make apply wait for both services to become stable (and fail when a release is rolled back)."
  type        = bool
  default     = true
}

# ---- Redis -----------------------------------------------------------------------------------

variable "redis_engine" {
  description = "ElastiCache engine: valkey (cheaper, Redis-compatible) or redis."
  type        = string
  default     = "valkey"

  validation {
    condition     = contains(["valkey", "redis"], var.redis_engine)
    error_message = "redis_engine must be valkey or redis."
  }
}

variable "redis_engine_version" {
  description = "Engine version: 7.2 or 8.0 for valkey, 7.1 for redis (streams, Lua and TLS are required)."
  type        = string
  default     = "8.0"

  validation {
    condition     = can(regex("^[78]\\.[0-9]+$", var.redis_engine_version))
    error_message = "redis_engine_version must be a 7.x or 8.x major.minor version."
  }
}

variable "redis_parameter_group_family" {
  description = "Parameter group family matching engine and version: valkey8, valkey7 or redis7."
  type        = string
  default     = "valkey8"

  validation {
    condition     = contains(["valkey8", "valkey7", "redis7"], var.redis_parameter_group_family)
    error_message = "redis_parameter_group_family must be valkey8, valkey7 or redis7."
  }
}

variable "redis_node_type" {
  description = "Cache node type; size it so DatabaseMemoryUsagePercentage stays under the alarm."
  type        = string
  default     = "cache.t4g.medium"

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.redis_node_type))
    error_message = "redis_node_type must be a cache node type such as cache.t4g.medium."
  }
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes: one primary plus replicas spread over the zones (Multi-AZ needs at least 2)."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_num_cache_clusters >= 2 && var.redis_num_cache_clusters <= 6
    error_message = "redis_num_cache_clusters must be between 2 and 6: Multi-AZ failover needs a replica."
  }
}

variable "redis_snapshot_retention_days" {
  description = "Days of daily Redis snapshots kept."
  type        = number
  default     = 7

  validation {
    condition     = var.redis_snapshot_retention_days >= 1 && var.redis_snapshot_retention_days <= 35
    error_message = "redis_snapshot_retention_days must be between 1 and 35."
  }
}

variable "redis_auth_token_version" {
  description = "Increase by one after writing a new token to the Redis secret: apply then pushes it to ElastiCache."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_auth_token_version >= 1 && floor(var.redis_auth_token_version) == var.redis_auth_token_version
    error_message = "redis_auth_token_version must be a positive whole number."
  }
}

variable "redis_auth_token_update_strategy" {
  description = "How a new token replaces the old: ROTATE keeps both valid (first step), SET keeps only the new (second step)."
  type        = string
  default     = "ROTATE"

  validation {
    condition     = contains(["ROTATE", "SET"], var.redis_auth_token_update_strategy)
    error_message = "redis_auth_token_update_strategy must be ROTATE or SET."
  }
}

variable "redis_apply_immediately" {
  description = "Apply Redis changes at once instead of in the maintenance window."
  type        = bool
  default     = false
}

# ---- Operations ------------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of every log group, in days (CloudWatch's allowed values; at least a year)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least 365 days."
  }
}

variable "alb_access_log_retention_days" {
  description = "Days load balancer access logs are kept in S3."
  type        = number
  default     = 90

  validation {
    condition     = var.alb_access_log_retention_days >= 1
    error_message = "alb_access_log_retention_days must be at least 1."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (7 to 30)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30
    error_message = "secret_recovery_window_days must be between 7 and 30."
  }
}

variable "alarm_email" {
  description = "Address that receives the alarms (confirm the subscription mail); empty for none."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}

variable "alb_5xx_alarm_threshold" {
  description = "5xx answers per 5 minutes that raise the alarm."
  type        = number
  default     = 5

  validation {
    condition     = var.alb_5xx_alarm_threshold >= 1
    error_message = "alb_5xx_alarm_threshold must be at least 1."
  }
}

variable "redis_memory_alarm_percent" {
  description = "Redis memory use (percent of maxmemory) that raises the alarm; with noeviction, 100 % refuses writes."
  type        = number
  default     = 70

  validation {
    condition     = var.redis_memory_alarm_percent >= 10 && var.redis_memory_alarm_percent <= 90
    error_message = "redis_memory_alarm_percent must be between 10 and 90."
  }
}
