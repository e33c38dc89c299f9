"""The command line's own surface: --version, shell completion, option bounds."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from starkrelay.cli import app
from starksandbox.cli import app as sandbox_app

runner = CliRunner()


def test_version_of_both_commands() -> None:
    relay = runner.invoke(app, ["--version"])
    assert (relay.exit_code, relay.output.strip()) == (0, f"starkrelay {version('starkrelay')}")
    sandbox = runner.invoke(sandbox_app, ["--version"])
    assert (sandbox.exit_code, sandbox.output.strip()) == (
        0,
        f"starksandbox {version('starkrelay')}",
    )


@pytest.mark.parametrize("command", ["starkrelay", "starksandbox"])
def test_shell_completion_is_offered(command: str) -> None:
    module = "starkrelay" if command == "starkrelay" else "starksandbox"
    shown = subprocess.run(
        [sys.executable, "-m", module, "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "complete" in shown.stdout
    assert (
        "--install-completion"
        in runner.invoke(app if module == "starkrelay" else sandbox_app, ["--help"]).output
    )


@pytest.mark.parametrize("command", ["serve", "api"])
@pytest.mark.parametrize("port", ["0", "70000", "-1"])
def test_ports_outside_1_to_65535_are_refused(command: str, port: str) -> None:
    result = runner.invoke(app, [command, "--port", port])
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())
    assert "--port" in text
    assert (
        "less than or equal to 65535" if int(port) > 1 else "greater than or equal to 1"
    ) in text
