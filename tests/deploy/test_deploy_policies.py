"""The guarantees a security reviewer signs off, read straight from the HCL.

Each test names one guarantee of deploy/terraform: no mutable image tags, a Redis that never
evicts and is encrypted and authenticated, no secret value in code or state, HTTPS only,
least-privilege IAM, an immutable scanned registry, and traffic allowed only where it must flow.
"""

from __future__ import annotations

import re
from typing import Any

from deploy_model import REPO, SKIP_COMMENT, TerraformTree, first, walk

SECRET_ENV = {"STARK_PRIVATE_KEY", "ADMIN_TOKEN", "REDIS_PASSWORD", "STARKBANK_EC_PRIVATE_KEY"}

# IAM actions that have no resource type, so IAM accepts only "*" for them.
ACTIONS_WITHOUT_RESOURCES = {"ecr:GetAuthorizationToken"}


def _container_environment(tf: TerraformTree) -> dict[str, str]:
    """Name -> expression of the plain variables set on both containers (besides app_settings)."""
    expression = tf.locals()["container_environment"]
    assert expression.startswith("${merge(var.app_settings, {"), "app_settings first, then ours"
    return dict(re.findall(r"([A-Z][A-Z0-9_]+) = ([^,}]+)", expression))


def _image_regexes(tf: TerraformTree) -> list[re.Pattern[str]]:
    (variable,) = [v for v in tf.variables() if v.name == "image_reference"]
    patterns = []
    for validation in variable.body["validation"]:
        match = re.search(r'regex\("(.+)", var\.image_reference\)', validation["condition"])
        if match:
            patterns.append(re.compile(match.group(1).replace("\\\\", "\\")))
    assert patterns, "image_reference must be checked against a pattern"
    return patterns


# ---- images --------------------------------------------------------------------------------------


def test_no_latest_image_anywhere(tf: TerraformTree) -> None:
    for path, text in tf.texts.items():
        assert not re.search(r":latest\b", text, re.IGNORECASE), f"{path} uses a :latest image"
    for block in tf.resources() + tf.data_sources():
        for keys, value in walk(block.body):
            if "validation" in keys or not isinstance(value, str):
                continue
            assert value.strip().lower() != "latest", f"{block.where} {'.'.join(keys)} = latest"


def test_image_reference_refuses_mutable_tags_and_accepts_digests_and_releases(
    tf: TerraformTree,
) -> None:
    (pattern,) = _image_regexes(tf)
    refused = ["latest", "LATEST", "main", "stable", "", "v1", "git-xyz", "sha256:abc"]
    accepted = ["v0.1.0", "v1.2.3-rc.1", "git-0a1b2c3", "sha-0a1b2c3d", "sha256:" + "0" * 64]
    for reference in refused:
        assert not pattern.fullmatch(reference), f"{reference!r} must be refused"
    for reference in accepted:
        assert pattern.fullmatch(reference), f"{reference!r} must be accepted"
    (variable,) = [v for v in tf.variables() if v.name == "image_reference"]
    assert "default" not in variable.body, "the image must be chosen at every deployment"


def test_services_run_the_one_image_by_digest_or_immutable_tag(tf: TerraformTree) -> None:
    image = tf.locals()["image"]
    assert "@${var.image_reference}" in image
    assert ":${var.image_reference}" in image
    assert "module.ecr.repository_url" in image
    for name in ("api", "worker"):
        definition = tf.one("aws_ecs_task_definition", name).body["container_definitions"]
        assert "merge(local.container_defaults" in definition
    (tasks,) = [text for path, text in tf.texts.items() if path.name == "tasks.tf"]
    assert "image                  = var.image" in tasks


def test_registry_is_immutable_scanned_encrypted_and_pruned(tf: TerraformTree) -> None:
    repository = tf.one("aws_ecr_repository").body
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert first(repository, "image_scanning_configuration")["scan_on_push"] is True
    assert first(repository, "encryption_configuration")["encryption_type"] == "KMS"
    policy = tf.one("aws_ecr_lifecycle_policy").body["policy"]
    assert "untagged" in policy
    assert "imageCountMoreThan" in policy


# ---- Redis ---------------------------------------------------------------------------------------


def test_redis_never_evicts(tf: TerraformTree) -> None:
    group = tf.one("aws_elasticache_parameter_group").body
    parameters = {p["name"]: p["value"] for p in group["parameter"]}
    assert parameters["maxmemory-policy"] == "noeviction"
    replication = tf.one("aws_elasticache_replication_group").body
    assert replication["parameter_group_name"] == "${aws_elasticache_parameter_group.this.name}"


def test_redis_is_encrypted_in_transit_and_at_rest_and_requires_auth(tf: TerraformTree) -> None:
    replication = tf.one("aws_elasticache_replication_group").body
    assert replication["transit_encryption_enabled"] is True
    assert replication["transit_encryption_mode"] == "required"
    assert replication["at_rest_encryption_enabled"] is True
    assert replication["kms_key_id"] == "${var.kms_key_arn}"
    # The token is write-only, read from Secrets Manager through an ephemeral resource.
    assert "auth_token" not in replication, "auth_token would be stored in the state"
    token = replication["auth_token_wo"]
    assert token == "${ephemeral.aws_secretsmanager_secret_version.auth_token.secret_string}"
    assert replication["auth_token_wo_version"] == "${var.auth_token_version}"
    assert tf.ephemerals("aws_secretsmanager_secret_version"), "the token must be read ephemerally"


def test_redis_fails_over_across_zones(tf: TerraformTree) -> None:
    replication = tf.one("aws_elasticache_replication_group").body
    assert replication["multi_az_enabled"] is True
    assert replication["automatic_failover_enabled"] is True
    (nodes,) = [v for v in tf.variables() if v.name == "redis_num_cache_clusters"]
    assert "var.redis_num_cache_clusters >= 2" in nodes.body["validation"][0]["condition"]


def test_redis_url_uses_tls_and_carries_no_password(tf: TerraformTree) -> None:
    (url,) = [o for o in tf.outputs(root_only=False) if o.name == "url"]
    assert url.body["value"].startswith("rediss://${")
    assert "@" not in url.body["value"], "the password reaches the container as REDIS_PASSWORD"
    assert _container_environment(tf)["REDIS_URL"] == "module.redis.url"


# ---- secrets -------------------------------------------------------------------------------------


def test_no_secret_value_in_code_or_state(tf: TerraformTree) -> None:
    assert not tf.resources("aws_secretsmanager_secret_version"), "values are set outside"
    assert not tf.data_sources("aws_secretsmanager_secret_version"), "data sources reach state"
    forbidden = {"secret_string", "secret_string_wo", "secret_binary", "password", "auth_token"}
    for block in tf.resources() + tf.data_sources() + tf.ephemerals():
        for keys, _value in walk(block.body):
            assert not set(keys) & forbidden, f"{block.where} sets {'.'.join(keys)}"
    for path, text in tf.texts.items():
        assert "PRIVATE KEY-----" not in text, f"{path} contains a key"
    names = {s.body["name"] for s in tf.resources("aws_secretsmanager_secret")}
    assert names == {'${var.name}/${replace(each.key, "_", "-")}'}
    (module,) = [
        data
        for path, data in tf.files.items()
        if path.parent.name == "secrets" and "locals" in data
    ]
    secrets = module["locals"][0]["secrets"]
    assert set(secrets) == {"stark_private_key", "admin_token", "redis_auth_token"}


def test_secrets_reach_containers_only_through_ecs_secrets(tf: TerraformTree) -> None:
    plain = _container_environment(tf)
    assert {"ENVIRONMENT", "STARK_PROJECT_ID", "API_EXTERNAL_URL", "REDIS_URL"} <= set(plain)
    assert not set(plain) & SECRET_ENV
    (settings,) = [v for v in tf.variables() if v.name == "app_settings"]
    allowed = settings.body["validation"][0]["condition"]
    for name in SECRET_ENV | {"STARK_PRIVATE_KEY_FILE", "STARKBANK_EC_PARAMETERS"}:
        assert f'"{name}"' not in allowed, f"app_settings must not accept {name}"
    (tasks,) = [text for path, text in tf.texts.items() if path.name == "tasks.tf"]
    for name in ("STARK_PRIVATE_KEY", "REDIS_PASSWORD", "ADMIN_TOKEN"):
        assert re.search(rf'name = "{name}", valueFrom = var\.secret_arns\.', tasks), name


def test_secrets_and_logs_are_encrypted_with_the_deployment_key(tf: TerraformTree) -> None:
    for secret in tf.resources("aws_secretsmanager_secret"):
        assert secret.body["kms_key_id"] == "${var.kms_key_arn}"
    groups = tf.resources("aws_cloudwatch_log_group")
    assert {g.name for g in groups} == {"service", "engine", "flow", "waf"}
    for group in groups:
        assert group.body["kms_key_id"] == "${var.kms_key_arn}", group.where
        assert group.body["retention_in_days"], group.where
    key = tf.one("aws_kms_key").body
    assert key["enable_key_rotation"] is True


# ---- HTTPS ---------------------------------------------------------------------------------------


def test_https_only_port_80_only_redirects(tf: TerraformTree) -> None:
    listeners = {block.name: block.body for block in tf.resources("aws_lb_listener")}
    assert set(listeners) == {"https", "http_redirect"}
    https = listeners["https"]
    assert (https["port"], https["protocol"]) == (443, "HTTPS")
    assert https["ssl_policy"] == "${var.ssl_policy}"
    assert https["certificate_arn"] == "${var.certificate_arn}"
    http = listeners["http_redirect"]
    assert (http["port"], http["protocol"]) == (80, "HTTP")
    action = first(http, "default_action")
    assert action["type"] == "redirect"
    assert first(action, "redirect") == {
        "port": "443",
        "protocol": "HTTPS",
        "status_code": "HTTP_301",
    }
    (policy,) = [v for v in tf.variables() if v.name == "ssl_policy"]
    assert policy.body["default"].startswith("ELBSecurityPolicy-TLS13-1-2-")
    assert "TLS13-1-2-" in policy.body["validation"][0]["condition"]


def test_load_balancer_checks_readiness_and_drops_bad_headers(tf: TerraformTree) -> None:
    target_group = tf.one("aws_lb_target_group").body
    assert first(target_group, "health_check")["path"] == "/health/ready"
    balancer = tf.one("aws_lb").body
    assert balancer["drop_invalid_header_fields"] is True
    assert tf.one("aws_wafv2_web_acl_association")


def test_containers_check_liveness_and_the_load_balancer_readiness(tf: TerraformTree) -> None:
    probes = tf.locals(root_only=False)
    assert probes["api_health_probe"] == [
        "CMD", "python", "-m", "starkrelay.probe", "http://127.0.0.1:${var.container_port}/health"
    ]  # fmt: skip
    assert probes["worker_health_probe"][-1] == (
        "http://127.0.0.1:${var.worker_metrics_port}/health"
    )
    api = tf.one("aws_ecs_task_definition", "api").body["container_definitions"]
    worker = tf.one("aws_ecs_task_definition", "worker").body["container_definitions"]
    assert "local.api_health_probe" in api
    assert "local.worker_health_probe" in worker
    assert "WORKER_METRICS_PORT" in worker


def test_metrics_are_hidden_from_the_internet(tf: TerraformTree) -> None:
    rules = {block.name: block.body for block in tf.resources("aws_lb_listener_rule")}
    hidden = rules["metrics_hidden"]
    assert first(first(hidden, "condition"), "path_pattern")["values"] == ["/metrics"]
    action = first(hidden, "action")
    assert action["type"] == "fixed-response"
    assert first(action, "fixed_response")["status_code"] == "404"
    allowed = rules["metrics_allowed"]
    assert allowed["priority"] < hidden["priority"]
    conditions = {key for condition in allowed["condition"] for key in condition}
    assert conditions == {"path_pattern", "source_ip"}, "only named networks may scrape"


# ---- IAM -----------------------------------------------------------------------------------------


def _identity_policies(tf: TerraformTree) -> dict[str, dict[str, Any]]:
    """Policy documents attached to roles (not key or bucket policies, which are resource-based)."""
    attached = {
        re.sub(r"\[\d+\]", "", block.body["policy"])
        .removeprefix("${data.aws_iam_policy_document.")
        .split(".")[0]
        for block in tf.resources("aws_iam_role_policy")
    }
    return {
        block.name: block.body
        for block in tf.data_sources("aws_iam_policy_document")
        if block.name in attached
    }


def test_iam_identity_policies_name_actions_and_scope_resources(tf: TerraformTree) -> None:
    policies = _identity_policies(tf)
    assert {"execution", "flow_write"} <= set(policies)
    for name, policy in policies.items():
        for statement in policy["statement"]:
            assert statement.get("effect", "Allow") == "Allow"
            for action in statement["actions"]:
                assert "*" not in action, f"{name}: wildcard action {action}"
            resources = statement["resources"]
            # A for-expression parses as one string; a literal list as a list.
            for resource in [resources] if isinstance(resources, str) else resources:
                if resource == "*":
                    assert set(statement["actions"]) <= ACTIONS_WITHOUT_RESOURCES, (
                        f"{name}: '*' resource for {statement['actions']}"
                    )


def test_execution_role_reads_exactly_the_three_secrets_one_repository_its_logs(
    tf: TerraformTree,
) -> None:
    statements = {s["sid"]: s for s in _identity_policies(tf)["execution"]["statement"]}
    assert statements["ReadTheServiceSecrets"]["actions"] == ["secretsmanager:GetSecretValue"]
    assert statements["ReadTheServiceSecrets"]["resources"] == [
        "${var.secret_arns.stark_private_key}",
        "${var.secret_arns.admin_token}",
        "${var.secret_arns.redis_auth_token}",
    ]
    assert statements["PullTheServiceImage"]["resources"] == ["${var.repository_arn}"]
    decrypt = statements["DecryptTheSecretsThroughSecretsManager"]
    assert decrypt["resources"] == ["${var.kms_key_arn}"]
    assert decrypt["condition"][0]["variable"] == "kms:ViaService"
    logs = statements["WriteTheServiceLogs"]
    assert set(logs["actions"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert ":log-stream:*" in str(logs["resources"])


def test_task_role_has_no_permissions(tf: TerraformTree) -> None:
    tf.one("aws_iam_role", "task")
    for policy in tf.resources("aws_iam_role_policy"):
        assert "aws_iam_role.task" not in policy.body["role"]
    assert not tf.resources("aws_iam_role_policy_attachment"), "no managed policies"
    assert not tf.resources("aws_iam_policy"), "no standalone policies to attach later"


def test_roles_trust_only_their_service_in_this_account(tf: TerraformTree) -> None:
    trust = {b.name: b.body for b in tf.data_sources("aws_iam_policy_document")}
    (statement,) = trust["ecs_tasks_assume"]["statement"]
    assert statement["principals"][0]["identifiers"] == ["ecs-tasks.amazonaws.com"]
    assert {c["variable"] for c in statement["condition"]} == {"aws:SourceAccount", "aws:SourceArn"}


# ---- network -------------------------------------------------------------------------------------


def _rules(tf: TerraformTree, type_: str) -> dict[str, dict[str, Any]]:
    return {block.name: block.body for block in tf.resources(type_)}


def test_only_the_load_balancer_reaches_the_api_and_only_tasks_reach_redis(
    tf: TerraformTree,
) -> None:
    ingress = _rules(tf, "aws_vpc_security_group_ingress_rule")
    by_target: dict[str, list[dict[str, Any]]] = {}
    for body in ingress.values():
        by_target.setdefault(body["security_group_id"], []).append(body)
    api = by_target["${aws_security_group.api.id}"]
    assert [r["referenced_security_group_id"] for r in api] == ["${aws_security_group.alb.id}"]
    redis = by_target["${aws_security_group.redis.id}"]
    assert all("cidr_ipv4" not in r and r["from_port"] == 6379 for r in redis)
    assert ingress["redis_from_tasks"]["for_each"] == {
        "api": "${aws_security_group.api.id}",
        "worker": "${aws_security_group.worker.id}",
    }
    assert "${aws_security_group.worker.id}" not in by_target, "the worker accepts no traffic"
    public = [b for b in ingress.values() if "cidr_ipv4" in b]
    assert {(b["from_port"], b["security_group_id"]) for b in public} == {
        (443, "${aws_security_group.alb.id}"),
        (80, "${aws_security_group.alb.id}"),
    }
    for group in tf.resources("aws_security_group"):
        assert "ingress" not in group.body, group.where
        assert "egress" not in group.body, group.where


def test_tasks_run_privately_with_circuit_breaker_and_rollback(tf: TerraformTree) -> None:
    services = {b.name: b.body for b in tf.resources("aws_ecs_service")}
    assert set(services) == {"api", "worker"}
    for name, service in services.items():
        breaker = first(service, "deployment_circuit_breaker")
        assert (breaker["enable"], breaker["rollback"]) == (True, True), name
        assert first(service, "network_configuration")["assign_public_ip"] is False, name
        assert service["launch_type"] == "FARGATE"
    assert "load_balancer" in services["api"]
    assert "load_balancer" not in services["worker"]
    (tasks,) = [text for path, text in tf.texts.items() if path.name == "tasks.tf"]
    assert 'command      = ["starkrelay", "worker"]' in tasks
    assert 'command      = ["starkrelay", "api", "--host", "0.0.0.0"' in tasks
    assert "readonlyRootFilesystem = true" in tasks
    assert tf.one("aws_appautoscaling_target")
    assert len(tf.resources("aws_appautoscaling_policy")) == 2


def test_alarms_watch_5xx_unhealthy_targets_and_redis_memory(tf: TerraformTree) -> None:
    metrics = set()
    for alarm in tf.resources("aws_cloudwatch_metric_alarm"):
        metrics |= {v for k, v in walk(alarm.body) if k and k[-1] == "metric_name"}
        assert alarm.body["alarm_actions"] == "${local.actions}", alarm.where
    assert {"HTTPCode_ELB_5XX_Count", "UnHealthyHostCount", "DatabaseMemoryUsagePercentage"} <= (
        metrics
    )


# ---- checkov skips -------------------------------------------------------------------------------


def test_every_checkov_skip_says_why() -> None:
    skips = []
    for path in sorted((REPO / "deploy" / "terraform").rglob("*.tf")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "checkov:skip" in line:
                match = SKIP_COMMENT.search(line)
                assert match, f"{path}:{number}: malformed skip"
                reason = (match.group("reason") or "").strip()
                assert len(reason) >= 30, f"{path}:{number}: {match.group('check')} needs a reason"
                skips.append(match.group("check"))
    assert skips, "expected the explained skips to be found"
