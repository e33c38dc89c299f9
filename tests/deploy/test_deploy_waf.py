"""The web ACL's body-size rule, read straight from the HCL: only Stark Bank's webhook path
may send a body over 8 KB.

The common rule set's ``SizeRestrictions_BODY`` only counts (and labels) a body over 8 KB;
the rule after it blocks that label on every path but the webhook's. ``verdict`` evaluates
the web ACL's rules, in priority order, for a benign request of a given path and body size:
the statements this ACL uses are interpreted, and any other kind fails the test, so a change
to the rules cannot pass by being ignored.
"""

from __future__ import annotations

from typing import Any

import pytest
from deploy_model import TerraformTree, first

from starkrelay.core.settings import WEBHOOK_PATH

SIZE_LABEL = "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"
BODY_LIMIT = 8192
"""``SizeRestrictions_BODY`` matches a body over 8 KB (AWS's common rule set)."""


def _matches(statement: dict[str, Any], path: str, labels: set[str], webhook: str) -> bool:
    """Whether a benign request (nothing but its path and labels stand out) matches."""
    (kind,) = statement
    inner = first(statement, kind)
    if kind == "label_match_statement":
        assert inner["scope"] == "LABEL"
        return str(inner["key"]) in labels
    if kind == "not_statement":
        return not _matches(first(inner, "statement"), path, labels, webhook)
    if kind == "and_statement":
        return all(_matches(s, path, labels, webhook) for s in inner["statement"])
    if kind == "or_statement":
        return any(_matches(s, path, labels, webhook) for s in inner["statement"])
    if kind == "byte_match_statement":
        assert set(first(inner, "field_to_match")) == {"uri_path"}, "only the path is modelled"
        transform = first(inner, "text_transformation")["type"]
        seen = {"NONE": path, "LOWERCASE": path.lower()}[transform]
        wanted = str(inner["search_string"]).replace("${var.webhook_path}", webhook)
        return {
            "EXACTLY": seen == wanted,
            "STARTS_WITH": seen.startswith(wanted),
            "CONTAINS": wanted in seen,
        }[inner["positional_constraint"]]
    raise AssertionError(f"the WAF model does not know {kind}: teach it before relying on it")


def _override(group: dict[str, Any], rule_name: str) -> dict[str, Any]:
    """The action a managed group's ``rule_action_override`` gives ``rule_name`` ({}: none)."""
    for override in group.get("rule_action_override", []):
        if override["name"] == rule_name:
            action: dict[str, Any] = first(override, "action_to_use")
            return action
    return {}


def verdict(acl: dict[str, Any], path: str, body_bytes: int, webhook: str) -> str:
    """``block`` or ``allow`` for a benign request to ``path`` with a body of ``body_bytes``."""
    labels: set[str] = set()
    for rule in sorted(acl["rule"], key=lambda r: int(r["priority"])):
        statement = first(rule, "statement")
        if "managed_rule_group_statement" in statement:
            group = first(statement, "managed_rule_group_statement")
            if "scope_down_statement" in group:
                scope = first(group, "scope_down_statement")
                if not _matches(scope, path, labels, webhook):
                    continue
            if group["name"] != "AWSManagedRulesCommonRuleSet" or body_bytes <= BODY_LIMIT:
                continue  # a benign request matches no other rule of a managed group
            labels.add(SIZE_LABEL)
            if "count" not in _override(group, "SizeRestrictions_BODY"):
                return "block"
        elif "rate_based_statement" in statement:
            continue  # one request is under any rate
        elif _matches(statement, path, labels, webhook):
            action = first(rule, "action")
            if "block" in action:
                return "block"
            if "allow" in action:
                return "allow"
    default = first(acl, "default_action")
    return "allow" if "allow" in default else "block"


@pytest.fixture(scope="module")
def acl(tf: TerraformTree) -> dict[str, Any]:
    body: dict[str, Any] = tf.one("aws_wafv2_web_acl").body
    return body


def test_the_webhook_path_given_to_the_waf_is_the_services(tf: TerraformTree) -> None:
    assert tf.locals()["webhook_path"] == WEBHOOK_PATH
    (alb,) = [
        block
        for path, data in tf.files.items()
        if path.name == "main.tf"
        for entry in data.get("module", [])
        for name, block in entry.items()
        if name == "alb"
    ]
    assert alb["webhook_path"] == "${local.webhook_path}"


OTHER_PATHS = (
    "/console/signin",
    "/api/v1/admin/reconcile",
    "/api/v1/status",
    WEBHOOK_PATH + "/",
    WEBHOOK_PATH + "x",
    WEBHOOK_PATH.upper(),
    "/console" + WEBHOOK_PATH,
    "/",
)


def test_a_body_over_8_kb_passes_on_the_webhook_path_only(acl: dict[str, Any]) -> None:
    assert verdict(acl, WEBHOOK_PATH, 262144, WEBHOOK_PATH) == "allow"
    for path in OTHER_PATHS:
        assert verdict(acl, path, BODY_LIMIT + 1, WEBHOOK_PATH) == "block", path
        assert verdict(acl, path, BODY_LIMIT, WEBHOOK_PATH) == "allow", path


def test_nothing_else_of_the_managed_rules_is_relaxed(acl: dict[str, Any]) -> None:
    groups = {
        rule["name"]: first(first(rule, "statement"), "managed_rule_group_statement")
        for rule in acl["rule"]
        if "managed_rule_group_statement" in first(rule, "statement")
    }
    relaxed = {
        (name, override["name"])
        for name, group in groups.items()
        for override in group.get("rule_action_override", [])
    }
    assert relaxed == {
        ("anonymous-ip", "HostingProviderIPList"),
        ("common", "SizeRestrictions_BODY"),
    }
    blockers = [rule for rule in acl["rule"] if SIZE_LABEL in str(first(rule, "statement"))]
    assert [rule["name"] for rule in blockers] == ["body-size-except-webhook"]
    (common,) = [rule for rule in acl["rule"] if rule["name"] == "common"]
    assert blockers[0]["priority"] > common["priority"], "a label is seen only by later rules"
