"""Without REDIS_URL a long-running command starts an embedded Valkey; SIGTERM stops both."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from tests.support.ports import free_port
from tests.support.processes import relay_environment, starkrelay_command

from starksandbox.testing import SandboxHandle


def children_of(pid: int) -> dict[int, str]:
    """pid -> command name of every live process whose parent is `pid`."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = name
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2 :].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the child process")
@pytest.mark.parametrize("command", ["api", "serve"])
def test_sigterm_stops_the_embedded_valkey(
    sandbox: SandboxHandle, tmp_path: Path, command: str
) -> None:
    port = free_port()
    process = subprocess.Popen(
        starkrelay_command(command, "--port", str(port)),
        cwd=tmp_path, env=relay_environment(sandbox, log_level="warning"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the service exited early"
            assert time.monotonic() < deadline, "the service never answered /health"
            time.sleep(0.05)
        valkeys = [pid for pid, name in children_of(process.pid).items() if "valkey" in name]
        assert len(valkeys) == 1, children_of(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) in (0, 128 + signal.SIGTERM)
        for _ in range(200):
            if not alive(valkeys[0]):
                break
            time.sleep(0.05)
        assert not alive(valkeys[0]), "the embedded Valkey outlived the service"
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
