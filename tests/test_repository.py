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
