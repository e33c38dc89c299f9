"""Wiring stays at the edge: features take plain arguments and never import the app's
container, and nothing on the request path hops to a thread."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import starkrelay
from starkrelay.api import deps

PACKAGE = Path(starkrelay.__file__).parent
FEATURES = ("bank", "forwarding", "invoicing", "reconciliation", "registration", "store", "ops")
EDGE = ("starkrelay.app", "starkrelay.api.wiring", "starkrelay.cli")


def _imports(path: Path) -> set[tuple[str, str]]:
    """(module, name) for every ``from module import name`` and ``import module``."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {(node.module, alias.name) for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {(alias.name, "") for alias in node.names}
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", [*FEATURES, "webhooks"])
def test_no_feature_imports_the_container_or_the_edge(folder: str) -> None:
    for path in _modules(folder):
        for module, name in _imports(path):
            assert not module.startswith(EDGE), f"{path.name} imports {module}"
            assert (module, name) != ("starkrelay.api.deps", "Services"), f"{path.name}: Services"


@pytest.mark.parametrize("folder", ["forwarding", "invoicing", "reconciliation", "registration"])
def test_background_features_do_not_import_deps_at_all(folder: str) -> None:
    for path in _modules(folder):
        assert not any(m == "starkrelay.api.deps" for m, _ in _imports(path)), path.name


def test_forwarding_does_not_import_webhooks() -> None:
    for path in _modules("forwarding"):
        assert not any(m.startswith("starkrelay.webhooks") for m, _ in _imports(path)), path


def test_bank_keeps_no_state_in_redis() -> None:
    for path in _modules("bank"):
        for module, _ in _imports(path):
            assert not module.startswith(("starkrelay.core.store", "redis")), (
                f"{path.name}: {module}"
            )


def test_every_request_dependency_is_async() -> None:
    providers = [value for name, value in vars(deps).items() if name.startswith("get_")]
    assert len(providers) >= 6  # services, settings, store, bank, public key, supervisor
    for provider in providers:
        assert inspect.iscoroutinefunction(provider), provider.__name__
