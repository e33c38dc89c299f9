"""The Terraform tree as data, for the offline deployment checks.

Nothing here talks to a network or a cloud: the HCL is parsed with python-hcl2 and inspected
as data. ``terraform validate`` and ``plan`` need provider downloads and are not run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "deploy" / "terraform"
TOOLS_BIN = Path(os.environ.get("STARKRELAY_TOOLS_VENV", REPO / ".venv-tools")) / "bin"

_PLAIN = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


def parse_hcl(path: Path) -> dict[str, Any]:
    """The file as plain data: string values unquoted, interpolations kept as ``${...}``."""
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = hcl2.load(handle, serialization_options=_PLAIN)
    return data


@dataclass(frozen=True)
class Block:
    """One labelled block (resource, data source, variable...) and where it is."""

    kind: str
    type: str
    name: str
    body: dict[str, Any]
    path: Path

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}: {self.kind} {self.type} {self.name}".strip()


@dataclass
class TerraformTree:
    """Every .tf file under deploy/terraform, parsed, with lookups by block kind and type."""

    files: dict[Path, dict[str, Any]] = field(default_factory=dict)
    texts: dict[Path, str] = field(default_factory=dict)

    def _two_labels(self, kind: str) -> Iterator[Block]:
        for path, data in self.files.items():
            for entry in data.get(kind, []):
                for type_, named in entry.items():
                    for name, body in named.items():
                        yield Block(kind, type_, name, body, path)

    def _one_label(self, kind: str, root_only: bool) -> Iterator[Block]:
        for path, data in self.files.items():
            if root_only and path.parent != TERRAFORM_DIR:
                continue
            for entry in data.get(kind, []):
                for name, body in entry.items():
                    yield Block(kind, "", name, body, path)

    def resources(self, type_: str | None = None) -> list[Block]:
        return [b for b in self._two_labels("resource") if type_ in (None, b.type)]

    def data_sources(self, type_: str | None = None) -> list[Block]:
        return [b for b in self._two_labels("data") if type_ in (None, b.type)]

    def ephemerals(self, type_: str | None = None) -> list[Block]:
        return [b for b in self._two_labels("ephemeral") if type_ in (None, b.type)]

    def variables(self, root_only: bool = True) -> list[Block]:
        return list(self._one_label("variable", root_only))

    def outputs(self, root_only: bool = True) -> list[Block]:
        return list(self._one_label("output", root_only))

    def locals(self, root_only: bool = True) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for path, data in self.files.items():
            if root_only and path.parent != TERRAFORM_DIR:
                continue
            for entry in data.get("locals", []):
                merged.update(entry)
        return merged

    def one(self, type_: str, name: str | None = None) -> Block:
        found = [b for b in self.resources(type_) if name in (None, b.name)]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {len(found)}"
        return found[0]


def walk(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (key path, leaf value) in a parsed block."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, (*path, str(key)))
    elif isinstance(value, list):
        for item in value:
            yield from walk(item, path)
    else:
        yield path, value


def first(body: dict[str, Any], key: str) -> Any:
    """A nested block's single body (hcl2 lists blocks), or an attribute's value."""
    value = body[key]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return value


def terraform_files() -> list[Path]:
    return sorted(TERRAFORM_DIR.rglob("*.tf"))


def load_tree() -> TerraformTree:
    tree = TerraformTree()
    for path in terraform_files():
        tree.files[path] = parse_hcl(path)
        tree.texts[path] = path.read_text(encoding="utf-8")
    return tree


def require_tool(name: str) -> Path:
    """Path of a tool in .venv-tools; skips without it, except in CI (where it must be there)."""
    tool = TOOLS_BIN / name
    if not tool.exists():
        message = f"{tool} is missing: run scripts/bootstrap (it installs requirements-tools.lock)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return tool


SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(?P<check>CKV2?_[A-Z]+_\d+)(?::(?P<reason>.*))?")
