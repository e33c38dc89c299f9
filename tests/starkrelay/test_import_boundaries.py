"""Who may import what: the service runs without the emulator; only bank/ imports starkbank.

``starksandbox`` is imported only by ``starkrelay.demo`` (and the tests); the ``STARK_API_URL``
redirect of the SDK lives in ``starkrelay.bank``. Checked twice: statically over every import
statement (lazy ones included), and by importing every service module in a fresh interpreter
where ``starksandbox`` cannot be imported, then redirecting a gateway.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "starkrelay"


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_demo_imports_starksandbox_and_only_bank_imports_starkbank() -> None:
    emulator, sdk = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0]
        roots = imported_roots(path)
        if "starksandbox" in roots and part != "demo":
            emulator.append(str(path.relative_to(PACKAGE)))
        if roots & {"starkbank", "starkcore"} and part != "bank":
            sdk.append(str(path.relative_to(PACKAGE)))
    assert emulator == [], "only starkrelay/demo may import starksandbox"
    assert sdk == [], "only starkrelay/bank may import starkbank"


SCRIPT = """
import importlib, pkgutil, sys
sys.modules["starksandbox"] = None  # any import of the emulator now fails
import starkrelay
names = [m.name for m in pkgutil.walk_packages(starkrelay.__path__, "starkrelay.")
         if not m.name.startswith("starkrelay.demo") and m.name != "starkrelay.__main__"]
for name in names:
    importlib.import_module(name)
import requests.api
from ellipticcurve import PrivateKey
from starkrelay.bank.gateway import BankGateway
from starkrelay.core.settings import load_settings
settings = load_settings(_env_file=None, stark_project_id="1",
                         stark_private_key=PrivateKey().toPem(),
                         stark_api_url="http://127.0.0.1:9")
before = requests.api.request
BankGateway(settings)
assert requests.api.request is not before, "the gateway did not redirect the SDK"
print(len(names), "modules")
"""


def test_service_modules_import_and_redirect_without_the_emulator(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().splitlines()[-1].split()[0]) > 30
