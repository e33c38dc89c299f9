"""The lock files: every distribution pinned with hashes, in step with pyproject.toml, and
installed with --require-hashes. `scripts/lock` regenerates them; these tests say when to."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of each requirement in a hashed lock file."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec, *options = line.split(" --hash=")
        requirement = Requirement(spec)
        [pinned] = list(requirement.specifier)
        assert pinned.operator == "==", f"{path.name}: {spec} is not pinned with =="
        pins[canonicalize_name(requirement.name)] = (pinned.version, [o.strip() for o in options])
    return pins


def direct(specs: list[str]) -> dict[str, str]:
    pins = {}
    for spec in specs:
        requirement = Requirement(spec)
        [pinned] = list(requirement.specifier)
        pins[canonicalize_name(requirement.name)] = pinned.version
    return pins


@pytest.mark.parametrize(
    "name", ["requirements.lock", "requirements-tools.lock", "requirements-build.lock"]
)
def test_every_locked_distribution_has_sha256_hashes(name: str) -> None:
    pins = locked(ROOT / name)
    assert len(pins) > (3 if name == "requirements-build.lock" else 20)
    for package, (_, hashes) in pins.items():
        assert hashes, f"{name}: {package} has no --hash (run scripts/lock)"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), package


def test_lock_matches_the_pins_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = direct(project["dependencies"] + project["optional-dependencies"]["dev"])
    pins = locked(ROOT / "requirements.lock")
    stale = {
        name: (version, pins.get(name, ("missing",))[0])
        for name, version in wanted.items()
        if pins.get(name, ("",))[0] != version
    }
    assert not stale, f"pyproject pin -> lock: {stale}; run scripts/lock"


def test_tools_lock_matches_its_pins() -> None:
    lines = (ROOT / "requirements-tools.in").read_text(encoding="utf-8").splitlines()
    wanted = direct([line for line in lines if line.strip() and not line.startswith("#")])
    pins = locked(ROOT / "requirements-tools.lock")
    assert {name: pins[name][0] for name in wanted} == wanted


def test_bootstrap_installs_every_lock_with_require_hashes() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text(encoding="utf-8")
    installs = [line for line in bootstrap.splitlines() if re.search(r"-r requirements", line)]
    assert len(installs) == 3
    assert all("--require-hashes" in line for line in installs)
    [project] = [line for line in bootstrap.splitlines() if line.rstrip().endswith(" -e .")]
    assert "--no-build-isolation" in project, "an isolated build fetches hatchling unchecked"
    assert "--upgrade pip" not in bootstrap, "pip comes from requirements-build.lock"


def test_build_lock_holds_the_build_backend_of_pyproject_at_the_lock_pins() -> None:
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lines = (ROOT / "requirements-build.in").read_text(encoding="utf-8").splitlines()
    wanted = direct([line for line in lines if line.strip() and not line.startswith("#")])
    assert direct(build_system["build-system"]["requires"]).items() <= wanted.items()
    assert "pip" in wanted
    build = locked(ROOT / "requirements-build.lock")
    assert {name: build[name][0] for name in wanted} == wanted
    everything = locked(ROOT / "requirements.lock")
    for name, (version, _) in build.items():
        if name in everything:
            assert everything[name][0] == version, f"{name}: two versions in one venv"


def test_runtime_lock_is_the_runtime_part_of_the_lock_at_the_same_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = locked(ROOT / "requirements-runtime.lock")
    everything = locked(ROOT / "requirements.lock")
    assert (
        direct(project["dependencies"]).items() <= {n: v for n, (v, _) in runtime.items()}.items()
    )
    for name, (version, hashes) in runtime.items():
        assert everything[name] == (version, hashes), f"{name} differs between the two locks"
    for tool in direct(project["optional-dependencies"]["dev"]):
        assert tool not in runtime, f"{tool} (a development tool) is in the runtime lock"
