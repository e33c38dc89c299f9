"""The GitHub Actions workflow runs the same checks as .ci/run, by running .ci/run."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_model import REPO

yaml = pytest.importorskip("yaml")


def workflow() -> dict[str, Any]:
    text = (REPO / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def test_the_checks_job_runs_ci_run_on_python_3_11_with_redis() -> None:
    job = workflow()["jobs"]["checks"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert "bash .ci/run" in runs
    (python,) = [
        s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python")
    ]
    assert python["with"]["python-version"] == "3.11"
    assert job["services"]["redis"]["image"].startswith("redis:7")


def test_ci_run_is_lint_types_and_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/lint" in ci
    assert "scripts/test" in ci
    lint = (REPO / "scripts" / "lint").read_text(encoding="utf-8")
    assert "ruff" in lint
    assert "mypy" in lint


def test_the_workflow_only_reads_the_repository() -> None:
    document = workflow()
    assert document["permissions"] == {"contents": "read"}
    for job in document["jobs"].values():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False


def test_the_workflow_audits_dependencies_and_builds_the_image() -> None:
    jobs = workflow()["jobs"]
    audit = " ".join(step.get("run", "") for step in jobs["audit"]["steps"])
    assert "pip-audit --requirement requirements.lock" in audit
    image = " ".join(step.get("run", "") for step in jobs["image"]["steps"])
    assert "docker build" in image
    assert "docker compose" in image
