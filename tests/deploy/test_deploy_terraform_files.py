"""deploy/terraform is well-formed: it parses, is formatted, documents and validates its inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from deploy_model import REPO, TERRAFORM_DIR, TerraformTree, parse_hcl, terraform_files

WEBHOOK_PATH = "/api/v1/webhooks/starkbank"


@pytest.mark.parametrize("path", terraform_files(), ids=lambda p: str(p.relative_to(TERRAFORM_DIR)))
def test_every_terraform_file_parses(path: Path) -> None:
    assert isinstance(parse_hcl(path), dict)


def test_the_tree_has_the_modules_a_reader_expects() -> None:
    modules = {p.name for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir()}
    assert {"network", "alb", "ecs", "redis", "ecr", "secrets", "alarms", "kms"} <= modules
    for module in modules:
        files = {p.name for p in (TERRAFORM_DIR / "modules" / module).glob("*.tf")}
        assert {"variables.tf", "outputs.tf"} <= files, f"{module} lacks variables.tf/outputs.tf"
        assert len(files) >= 3, f"{module} declares no resources"


def test_terraform_fmt_check() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("no terraform binary on PATH (none is published on PyPI, Debian or npm)")
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}"


def test_every_root_variable_has_a_type_a_description_and_a_validation(tf: TerraformTree) -> None:
    # Free-form inputs where any value is acceptable need no validation.
    free_form = {"tags", "single_nat_gateway", "alb_deletion_protection", "route53_zone_id"}
    free_form |= {"wait_for_steady_state", "redis_apply_immediately"}
    variables = tf.variables()
    assert len(variables) > 30
    for variable in variables:
        assert variable.body.get("description"), f"{variable.name} has no description"
        assert variable.body.get("type"), f"{variable.name} has no type"
        if variable.name not in free_form:
            assert variable.body.get("validation"), f"{variable.name} has no validation"


def test_every_module_variable_and_output_is_described(tf: TerraformTree) -> None:
    for block in tf.variables(root_only=False) + tf.outputs(root_only=False):
        assert block.body.get("description"), f"{block.where} has no description"


def test_outputs_give_the_public_url_and_the_webhook_url(tf: TerraformTree) -> None:
    outputs = {block.name: block.body["value"] for block in tf.outputs()}
    local = tf.locals()
    assert local["public_url"] == "https://${var.domain_name}"
    assert local["webhook_path"] == WEBHOOK_PATH
    assert outputs["public_url"] == "${local.public_url}"
    assert outputs["webhook_url"] == "${local.public_url}${local.webhook_path}"


def test_state_lives_in_s3_configured_from_backend_hcl(tf: TerraformTree) -> None:
    (versions,) = [data for path, data in tf.files.items() if path.name == "versions.tf"]
    terraform = versions["terraform"][0]
    assert terraform["backend"] == [{"s3": {}}], "the backend must be s3, configured from a file"
    assert terraform["required_version"].startswith(">= 1.11"), "write-only arguments need 1.11"
    example = parse_hcl(TERRAFORM_DIR / "backend.hcl.example")
    assert example["encrypt"] is True
    assert example["use_lockfile"] is True or example.get("dynamodb_table"), "state needs locking"
    assert {"bucket", "key", "region"} <= example.keys()


def test_per_deployment_files_are_not_committed() -> None:
    ignored = (TERRAFORM_DIR / ".gitignore").read_text(encoding="utf-8").split()
    assert {"backend.hcl", "*.tfvars", ".terraform/", "*.tfstate"} <= set(ignored)
    tracked = subprocess.run(
        ["git", "ls-files", "deploy"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.split()
    assert not [name for name in tracked if name.endswith((".tfstate", "backend.hcl"))]
