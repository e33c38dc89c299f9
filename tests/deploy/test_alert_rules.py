"""deploy/prometheus/starkrelay-alerts.yml: well-formed, and every expression refers only to
metrics (and labels) that a real starkrelay app exports on /metrics.

promtool (Prometheus's own checker) runs too when it is installed (``promtool`` on the PATH or
``$PROMTOOL``): ``check rules`` and the unit tests in starkrelay-alerts.test.yml.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_model import REPO
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from starkrelay.app import create_app, open_services
from starkrelay.core.settings import Settings
from starkrelay.invoicing.lifecycle import start_campaign
from starkrelay.reconciliation.report import new_report, store_report
from starksandbox.testing import SandboxHandle

RULES = REPO / "deploy" / "prometheus" / "starkrelay-alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "starkrelay-alerts.test.yml"
RUNBOOK = REPO / "deploy" / "README.md"

REQUIRED_ALERTS = {
    "StarkrelayDeadLetters",
    "StarkrelayForwardsWaitingTooLong",
    "StarkrelayReconciliationStale",
    "StarkrelayWebhookRefusalsSpiking",
    "StarkrelayNotReady",
    "StarkrelayForwardingStalled",
}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_IDENTIFIER = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"[^\"]*\"")


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """Every metric an expression selects (functions, keywords, label lists left out)."""
    text = _GROUPING.sub(" ", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\"[^\"]*\"", " ", text)
    text = re.sub(r"\b\d+(\.\d+)?(e\d+)?[smhdwy]?\b", " ", text)
    return {
        name
        for name, call in _IDENTIFIER.findall(text)
        if not call and name.lower() not in _KEYWORDS
    }


def selected_labels(expr: str) -> dict[str, set[str]]:
    """Metric -> the label names its matchers use."""
    found: dict[str, set[str]] = {}
    for name, matchers in _SELECTOR.findall(expr):
        found.setdefault(name, set()).update(label for label, _ in _MATCHER.findall(matchers))
    return found


@pytest.fixture(scope="module")
def exported(sandbox_module: SandboxHandle, redis_url: str) -> tuple[set[str], dict[str, set[str]]]:
    """Sample names and their label names, from a real app's /metrics with some state in
    Redis (a campaign, a money report) and a refused webhook."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        stark_project_id=sandbox_module.project_id,
        stark_private_key=sandbox_module.private_key,
        stark_api_url=sandbox_module.url,
        redis_url=redis_url,
        redis_key_prefix="test-alert-rules-" + os.urandom(6).hex(),
        log_format="console",
    )

    async def seed() -> None:
        async with open_services(settings) as services:
            await start_campaign(services.store, settings, services.bank)
            await store_report(services.store, new_report(date.today()))

    asyncio.run(seed())
    with TestClient(create_app(settings, role="api")) as client:
        client.post("/api/v1/webhooks/starkbank", content=b"{}")  # unsigned: refused
        text = client.get("/metrics").text
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
    return names, labels


@pytest.fixture(scope="module")
def sandbox_module() -> Iterator[SandboxHandle]:
    from starksandbox.testing import running_sandbox

    with running_sandbox() as handle:
        yield handle


def test_rules_are_well_formed_and_cover_what_operators_need() -> None:
    found = rules()
    names = [rule["alert"] for rule in found]
    assert len(names) == len(set(names)), "duplicate alert names"
    assert set(names) >= REQUIRED_ALERTS
    runbook = RUNBOOK.read_text(encoding="utf-8")
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        anchor = rule["annotations"]["runbook_url"].removeprefix("deploy/README.md#")
        assert f'<a id="{anchor}"></a>' in runbook, f"{rule['alert']}: no runbook section {anchor}"


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_each_expression_uses_only_exported_metrics_and_labels(
    rule: dict[str, Any], exported: tuple[set[str], dict[str, set[str]]]
) -> None:
    names, labels = exported
    used = metric_names(rule["expr"])
    assert used, f"no metric found in {rule['expr']!r}"
    assert used <= names, f"not exported: {sorted(used - names)}"
    for metric, wanted in selected_labels(rule["expr"]).items():
        assert metric in labels, f"{metric} has no sample to check labels against"
        assert wanted <= labels[metric], f"{metric} has no label {sorted(wanted - labels[metric])}"


def test_the_name_check_catches_a_wrong_name() -> None:
    expr = 'sum by (job) (rate(starkrelay_webhooks_total{outcome=~"a|b"}[5m])) > 0.2 and on() x'
    assert metric_names(expr) == {"starkrelay_webhooks_total", "x"}
    assert selected_labels(expr) == {"starkrelay_webhooks_total": {"outcome"}}


def _promtool() -> str:
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if found is None or not Path(found).exists():
        pytest.skip("promtool not installed (Debian: the prometheus package; or set $PROMTOOL)")
    return found


@pytest.mark.parametrize("command", ["check", "test"])
def test_promtool_accepts_the_rules_and_their_unit_tests(command: str) -> None:
    promtool = _promtool()
    target = RULES if command == "check" else RULE_TESTS
    result = subprocess.run(
        [promtool, command, "rules", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=target.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
