"""Static scanners, run offline from .venv-tools: checkov over deploy/terraform, bandit over src.

checkov runs once per session (a few seconds). Every check it skips is skipped inline in the
HCL with a reason (``#checkov:skip=CKV_...:why``); none may fail.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from deploy_model import REPO, TERRAFORM_DIR, require_tool

# bandit findings that the project's lint policy already waives, with the reason:
#   B101 assert: asserts narrow types for mypy; ruff's S101 is off project-wide too.
#   B311 random: random draws fake payers and emulator behaviour, never secrets or tokens;
#        ruff's S311 is off project-wide for the same reason.
BANDIT_WAIVED = ("B101", "B311")


def run_checkov(directory: Path) -> dict[str, Any]:
    checkov = require_tool("checkov")
    command = [str(checkov), "--directory", str(directory), "--framework", "terraform"]
    command += ["--skip-download", "--output", "json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(result.stdout)
    # One framework gives one report; several would give a list.
    assert isinstance(report, dict), f"unexpected checkov output: {result.stdout[:300]}"
    return report


@pytest.fixture(scope="session")
def checkov_report() -> dict[str, Any]:
    return run_checkov(TERRAFORM_DIR)


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 200, f"suspiciously few checks ran: {summary}"


def test_checkov_skips_are_all_explained(checkov_report: dict[str, Any]) -> None:
    skipped = checkov_report["results"]["skipped_checks"]
    assert skipped
    for check in skipped:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) >= 30, f"{check['check_id']} on {check['resource']} needs a reason"


def test_checkov_really_fails_an_insecure_configuration(tmp_path: Path) -> None:
    # Guards against a scanner that silently passes everything (e.g. files not found).
    (tmp_path / "main.tf").write_text(
        """
resource "aws_ecr_repository" "bad" {
  name                 = "bad"
  image_tag_mutability = "MUTABLE"
}

resource "aws_elasticache_replication_group" "bad" {
  replication_group_id       = "bad"
  description                = "bad"
  node_type                  = "cache.t4g.small"
  at_rest_encryption_enabled = false
  transit_encryption_enabled = false
}
""",
        encoding="utf-8",
    )
    failed = {c["check_id"] for c in run_checkov(tmp_path)["results"]["failed_checks"]}
    assert {"CKV_AWS_51", "CKV_AWS_29", "CKV_AWS_30"} <= failed


def test_bandit_finds_nothing_beyond_the_waived_checks() -> None:
    bandit = require_tool("bandit")
    command = [str(bandit), "--recursive", str(REPO / "src"), "--format", "json", "--quiet"]
    command += ["--skip", ",".join(BANDIT_WAIVED)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    report = json.loads(result.stdout)
    findings = [
        f"{r['test_id']} {r['filename']}:{r['line_number']} {r['issue_text']}"
        for r in report["results"]
    ]
    assert not findings, "bandit findings:\n" + "\n".join(findings)
    assert not report["errors"], report["errors"]
