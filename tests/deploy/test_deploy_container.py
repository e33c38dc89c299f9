"""The Docker image and the Compose files, checked as files (no Docker engine runs here).

What an engine would enforce at build or start time is asserted on the text instead: a
multi-stage slim image that runs as a non-root user with a health check and no secrets, a
Redis that persists (AOF), never evicts and is not published, and a sandbox override that
wires the key pair, the emulator and the service together consistently.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import metadata
from typing import Any

import pytest
from deploy_model import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

yaml = pytest.importorskip("yaml")

SECRETISH = re.compile(r"(PASSWORD|TOKEN|SECRET|PRIVATE_KEY|EC_PARAMETERS)", re.IGNORECASE)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def compose(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    return document


COMPOSE_FILES = ["docker-compose.yml", "docker-compose.override.yml", "docker-compose.dev.yml"]


# ---- Dockerfile ----------------------------------------------------------------------------------


def test_image_is_multi_stage_on_python_3_11_slim() -> None:
    instructions = dockerfile_instructions()
    args = [rest for keyword, rest in instructions if keyword == "ARG"]
    assert "PYTHON_IMAGE=python:3.11-slim-bookworm" in args
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert stages == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]


def test_image_runs_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    runtime = instructions[[k for k, _ in instructions].index("FROM", 1) + 1 :]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users, "the runtime stage must switch user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    user_index = max(i for i, (k, _) in enumerate(runtime) if k == "USER")
    cmd_index = max(i for i, (k, _) in enumerate(runtime) if k == "CMD")
    assert user_index < cmd_index


def test_image_installs_the_locked_runtime_then_the_project_without_dev_tools() -> None:
    runs = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "RUN")
    assert "--require-hashes --requirement requirements-runtime.lock" in runs
    assert "--require-hashes --requirement requirements-build.lock" in runs
    assert "pip wheel --no-deps --no-build-isolation" in runs  # hatchling from the build lock
    assert "/opt/starkrelay/bin/pip install --no-deps /build/wheels/" in runs
    assert "pip check" in runs
    for tool in ("pytest", "ruff", "mypy", "checkov"):
        assert tool not in runs


def test_every_runtime_dependency_is_pinned_in_the_lock() -> None:
    """The image installs requirements-runtime.lock (hashed): every distribution pyproject's
    dependencies pull in (transitively, with extras) must have a pin there, and no dev tool."""
    pins = {}
    for line in (REPO / "requirements-runtime.lock").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)  # `name==version [; marker] \` (hashes follow)
            pins[canonicalize_name(name)] = version.split()[0].rstrip(";")
    seen: set[str] = set()
    pending: list[tuple[str, frozenset[str]]] = [("starkrelay", frozenset())]
    while pending:
        name, extras = pending.pop()
        key = f"{canonicalize_name(name)}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for spec in metadata.requires(name) or []:
            requirement = Requirement(spec)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            marker = requirement.marker
            if marker is None or any(marker.evaluate(env) for env in environments):
                pending.append((requirement.name, frozenset(requirement.extras)))
    needed = {entry.split("[")[0] for entry in seen} - {"starkrelay"}
    unpinned = sorted(needed - pins.keys())
    assert not unpinned, f"runtime dependencies missing from requirements.lock: {unpinned}"
    for name in needed:
        assert metadata.version(name) == pins[name], f"{name}: installed differs from the lock"
    assert not {"pytest", "ruff", "mypy", "hypothesis"} & pins.keys(), "dev tools in the image"


def test_image_health_check_probes_liveness_with_python_only() -> None:
    (check,) = [rest for keyword, rest in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    assert "CMD" in check
    command = json.loads(check[check.index("[") :])
    assert command == ["python", "-m", "starkrelay.probe"]  # /health of the API or the worker
    assert "curl" not in check
    assert "wget" not in check


def test_image_default_command_serves_on_all_interfaces() -> None:
    (cmd,) = [rest for keyword, rest in dockerfile_instructions() if keyword == "CMD"]
    # Inside a container, all interfaces is the container's own network namespace.
    everywhere = "0.0.0.0"  # noqa: S104
    assert json.loads(cmd) == ["starkrelay", "serve", "--host", everywhere, "--port", "8000"]


def test_image_carries_no_secret() -> None:
    for keyword, rest in dockerfile_instructions():
        if keyword in {"ENV", "ARG", "LABEL"}:
            assert not SECRETISH.search(rest), f"{keyword} {rest}"
        if keyword in {"COPY", "ADD"}:
            assert ".env" not in rest
            assert ".pem" not in rest
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line for line in ignored if line and not line.startswith("#")]
    assert rules[0] == "*", ".dockerignore must start by excluding everything"
    allowed = {rule[1:] for rule in rules if rule.startswith("!")}
    assert allowed == {
        "pyproject.toml", "requirements-runtime.lock", "requirements-build.lock", "README.md",
        "src/",
    }  # fmt: skip
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:  # a source the context leaves out fails the build
                assert source in allowed or f"{source.rstrip('/')}/" in allowed, source
    assert {"**/.env", "**/*.pem"} <= set(rules)


# ---- Compose -------------------------------------------------------------------------------------


def test_redis_persists_with_aof_never_evicts_and_is_not_published() -> None:
    redis = compose("docker-compose.yml")["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert "ports" not in redis, "Redis must not be reachable from the host"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert redis["networks"] == ["backend"]
    assert compose("docker-compose.yml")["networks"]["backend"]["internal"] is True
    assert re.fullmatch(r"redis:\d+\.\d+-alpine", redis["image"])


def test_service_waits_for_a_healthy_redis_and_has_its_own_health_check() -> None:
    service = compose("docker-compose.yml")["services"]["starkrelay"]
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert service["healthcheck"]["test"] == [
        "CMD", "python", "-m", "starkrelay.probe", "http://127.0.0.1:8000/health"
    ]  # fmt: skip
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert service["env_file"] == [{"path": ".env", "required": False}]


def test_published_ports_are_bound_to_loopback_and_no_image_is_latest() -> None:
    for name in COMPOSE_FILES:
        for service_name, service in compose(name)["services"].items():
            for port in service.get("ports", []):
                assert str(port).startswith("127.0.0.1:"), f"{name} {service_name} {port}"
            image = str(service.get("image", ""))
            assert not image.endswith(":latest"), f"{name} {service_name} uses latest"
            assert image == "" or ":" in image, f"{name} {service_name}: pin the image tag"


def test_every_long_running_service_has_a_health_check() -> None:
    merged: dict[str, dict[str, Any]] = {}
    for name in COMPOSE_FILES[:2]:
        for service_name, service in compose(name)["services"].items():
            merged.setdefault(service_name, {}).update(service)
    for service_name, service in merged.items():
        one_shot = service.get("restart") in {"no", "on-failure"}
        if one_shot:
            continue
        assert "test" in service.get("healthcheck", {}), f"{service_name} has no health check"


def test_sandbox_override_wires_keys_emulator_and_service_consistently() -> None:
    override = compose("docker-compose.override.yml")
    services = override["services"]
    environment = override["x-sandbox-environment"]
    sandbox = services["starksandbox"]["command"]
    assert sandbox[:2] == ["starksandbox", "serve"]
    port = sandbox[sandbox.index("--port") + 1]
    assert environment["STARK_API_URL"] == f"http://starksandbox:{port}"
    assert environment["STARK_ENVIRONMENT"] == "sandbox"
    assert environment["STARK_PROJECT_ID"] == sandbox[sandbox.index("--project-id") + 1]
    assert environment["STARK_PRIVATE_KEY"] == "", "a real key from .env must not be used"
    keys = "/var/lib/starkrelay/keys"
    assert environment["STARK_PRIVATE_KEY_FILE"] == f"{keys}/private-key.pem"
    assert sandbox[sandbox.index("--public-key") + 1] == f"{keys}/public-key.pem"
    keygen = " ".join(services["keygen"]["command"])
    assert f"starkrelay keygen --directory {keys}" in keygen
    assert f"test -s {keys}/private-key.pem" in keygen, "keys are created once and kept"
    for name in ("keygen", "starksandbox", "starkrelay"):
        assert any(v.startswith(f"sandbox-keys:{keys}") for v in services[name]["volumes"]), name
    for name in ("starksandbox", "starkrelay"):
        condition = services[name]["depends_on"]["keygen"]["condition"]
        assert condition == "service_completed_successfully"
    assert services["starkrelay"]["depends_on"]["starksandbox"]["condition"] == "service_healthy"
    assert environment["API_EXTERNAL_URL"] == "http://starkrelay:8000"


def test_dev_mode_reloads_the_mounted_source() -> None:
    service = compose("docker-compose.dev.yml")["services"]["starkrelay"]
    assert service["command"][0] == "watchfiles"
    assert "starkrelay serve --host 0.0.0.0 --port 8000" in service["command"]
    assert "./src:/app/src:ro" in service["volumes"]
    assert service["environment"]["PYTHONPATH"] == "/app/src"
    # watchfiles is a runtime dependency (uvicorn[standard]), so the image has its command.
    assert metadata.version("watchfiles")


def test_compose_config_is_valid_when_docker_compose_is_available() -> None:
    docker = shutil.which("docker")
    has_compose = docker is not None and (
        subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode
        == 0
    )
    if not has_compose:
        pytest.skip("no `docker compose` on this machine (the files are checked as YAML above)")
    assert docker is not None
    files = [arg for name in COMPOSE_FILES for arg in ("-f", str(REPO / name))]
    result = subprocess.run(
        [docker, "compose", *files, "config", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
