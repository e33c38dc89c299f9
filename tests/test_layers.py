"""The house imports one way: each package of ``starkrelay`` imports only packages of lower
layers (features may import each other, without cycles); ``starksandbox`` and
``sdk_redirect`` import nothing of ``starkrelay``. Every import statement counts, lazy and
type-only ones included."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: list[set[str]] = [
    {"core"},  # settings, logs, metrics registry, supervision, Redis
    {"bank"},  # the only importer of starkbank
    {"ledger"},  # the money state machine
    {"webhooks", "forwarding", "invoicing", "reconciliation"},  # features
    {"api"},  # dependencies and routes
    {"console"},
    {"app"},  # the app factory for every role
    {"cli"},  # commands, the doctor and terminal rendering
    {"demo"},  # the only importer of starksandbox
    {"main", "__main__"},  # the whole command line
]
STANDALONE = {"probe", "__init__"}
"""Top-level modules that import nothing of the package (the container probe)."""

LAYER = {package: n for n, packages in enumerate(LAYERS) for package in packages}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _package(module: str) -> str | None:
    """The starkrelay package or top-level module `module` is in (None: not ours, or a name
    such as ``__version__`` imported from the package itself)."""
    parts = module.split(".")
    if parts[0] != "starkrelay" or len(parts) < 2:
        return None
    here = SRC / "starkrelay" / parts[1]
    return parts[1] if here.is_dir() or here.with_suffix(".py").exists() else None


def package_imports() -> dict[str, set[str]]:
    """starkrelay package -> the other starkrelay packages it imports."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in (SRC / "starkrelay").rglob("*.py"):
        parts = path.relative_to(SRC / "starkrelay").with_suffix("").parts
        source = parts[0]
        for module in _imports(path):
            target = _package(module)
            if target is not None and target != source:
                edges[source].add(target)
    return edges


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in (SRC / "starkrelay").iterdir() if p.is_dir() and p.name[0] != "_"}
    modules = {p.stem for p in (SRC / "starkrelay").glob("*.py")}
    assert packages | modules <= set(LAYER) | STANDALONE


def test_packages_import_only_lower_layers() -> None:
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in package_imports().items()
        for target in targets
        if source in STANDALONE or LAYER.get(target, -1) > LAYER[source] or target not in LAYER
    )
    assert upward == []


def test_no_package_cycles() -> None:
    edges = package_imports()
    seen: set[str] = set()

    def visit(package: str, path: tuple[str, ...]) -> None:
        assert package not in path, " -> ".join((*path, package))
        if package in seen:
            return
        for target in sorted(edges.get(package, ())):
            visit(target, (*path, package))
        seen.add(package)

    for package in sorted(edges):
        visit(package, ())


def test_the_emulator_and_the_redirect_stand_alone() -> None:
    leaks = sorted(
        f"{path.relative_to(SRC)}: {module}"
        for folder in ("starksandbox", "sdk_redirect")
        for path in (SRC / folder).rglob("*.py")
        for module in _imports(path)
        if module.split(".")[0] == "starkrelay"
    )
    assert leaks == []


def test_only_core_reads_the_environment() -> None:
    readers = sorted(
        str(path.relative_to(SRC))
        for path in (SRC / "starkrelay").rglob("*.py")
        if path.relative_to(SRC / "starkrelay").parts[0] not in {"core", "probe.py"}
        and ("os.environ" in path.read_text(encoding="utf-8") or "getenv(" in path.read_text())
    )
    assert readers == []
