"""The repository keeps secrets out of commits: README step 1's key pair and .env are ignored."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
@pytest.mark.parametrize(
    "path", ["keys/private-key.pem", "keys/public-key.pem", "other/private-key.pem", ".env"]
)
def test_private_keys_and_env_are_ignored(path: str) -> None:
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, check=False, timeout=30
    )
    assert checked.returncode == 0, f"{path} is not ignored by .gitignore"


README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_python_snippets_import_what_they_use() -> None:
    import ast

    blocks = README.split("```python\n")[1:]
    assert blocks
    for block in (b.split("```", 1)[0] for b in blocks):
        tree = ast.parse(block)  # every snippet is valid Python
        imported = {
            alias.asname or alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        used = {
            node.value.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        }
        assert "starkbank" not in used or "starkbank" in imported, block


def test_readme_says_how_to_reach_the_commands() -> None:
    assert "source .venv/bin/activate" in README
    assert "scripts/lock" in README
    assert "--install-completion" in README
