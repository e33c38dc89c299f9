"""The command line's own surface: --version, shell completion, option bounds, help that
reads (no type labels, no markup), a bare command that prints its help."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version
from typing import Any

import pytest
import typer
import typer.main
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


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group of a typer app's click tree, as argument tuples."""
    paths = [prefix]
    for name, command in getattr(group, "commands", {}).items():
        paths += _command_paths(command, (*prefix, name))
    return paths


WIDE = {"COLUMNS": "200", "NO_COLOR": "1"}


@pytest.mark.parametrize(
    ("name", "tree"),
    [("starkrelay", app), ("starksandbox", sandbox_app)],
    ids=["starkrelay", "starksandbox"],
)
def test_help_has_no_type_labels_and_no_markup(name: str, tree: typer.Typer) -> None:
    paths = _command_paths(typer.main.get_command(tree))
    assert len(paths) > (15 if name == "starkrelay" else 8)
    for path in paths:
        shown = runner.invoke(tree, [*path, "--help"], env=WIDE)
        assert shown.exit_code == 0, (path, shown.output)
        labels = set(re.findall(r"<[^<>\n]+>", shown.output)) - {"<id>", "<N>"}
        assert not labels, (path, labels)  # typer's <bool>, <str>, <list[str]>, <%Y-%m-%d>...
        assert "``" not in shown.output, path


def test_flags_show_no_value_and_options_a_readable_one() -> None:
    def help_of(*command: str) -> str:
        return " ".join(runner.invoke(app, [*command, "--help"], env=WIDE).output.split())

    assert "--since YYYY-MM-DD First day" in help_of("reconcile")
    assert "--json Print one JSON document" in help_of("reconcile")
    assert "--invoice ID Retry" in help_of("dead-letters", "retry")
    assert "--all Retry every dead letter" in help_of("dead-letters", "retry")
    assert "--port PORT [1<=x<=65535]" in help_of("serve")
    assert "--force Replace" in help_of("campaign", "start")
    assert "--help Show this message" in help_of()
    assert "SLOT [x>=0]" in help_of("campaign", "retry-slot")


@pytest.mark.parametrize("group", [[], ["campaign"], ["webhook"], ["dead-letters"]], ids=str)
def test_a_bare_command_prints_its_help_and_exits_0(group: list[str]) -> None:
    bare = runner.invoke(app, group, env=WIDE)
    assert bare.exit_code == 0, bare.output
    assert f"Usage: starkrelay {' '.join(group)}".strip() in bare.output
    assert "Commands" in bare.output
    assert "default" not in bare.output  # no command claims to run when none is named


@pytest.mark.parametrize("group", [[], ["clock"]], ids=str)
def test_a_bare_sandbox_command_prints_its_help_and_exits_0(group: list[str]) -> None:
    bare = runner.invoke(sandbox_app, group, env=WIDE)
    assert bare.exit_code == 0, bare.output
    assert "Commands" in bare.output
