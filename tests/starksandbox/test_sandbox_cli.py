"""``starksandbox serve`` as a user runs it: one line for a wrong option, "listening" only
once the port is bound."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from starksandbox.keys import new_key_pair


def serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starksandbox", "serve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_line_without_traceback(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stdout
    return lines[0]


def test_missing_public_key_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    result = serve("--project-id", "1", "--public-key", str(missing))
    assert result.returncode == 2
    line = one_line_without_traceback(result)
    assert line.startswith(f"starksandbox: --public-key {missing}: cannot read the file")


@pytest.mark.parametrize(
    "content", ["not a key", new_key_pair()[0]], ids=["garbage", "a private key"]
)
def test_wrong_public_key_file_is_one_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "key.pem"
    path.write_text(content)
    result = serve("--project-id", "1", "--public-key", str(path))
    assert result.returncode == 2
    line = one_line_without_traceback(result)
    assert "expected a secp256k1 public key in PEM form" in line


def test_port_in_use_is_one_line_and_never_says_listening() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve("--port", str(port))
    assert result.returncode == 1
    line = one_line_without_traceback(result)
    assert line == f"starksandbox: cannot listen on 127.0.0.1:{port}: the port is in use"


def test_listening_is_said_once_the_port_answers(tmp_path: Path) -> None:
    _, public = new_key_pair()
    key = tmp_path / "public-key.pem"
    key.write_text(public)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "starksandbox", "serve", "--port", str(port),
         "--project-id", "42", "--public-key", str(key)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"starksandbox listening on http://127.0.0.1:{port}")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # bound before the line was printed: the connection is accepted
        for _ in range(200):
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/sandbox/health", timeout=5)
                break
            except httpx.TransportError:
                continue
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(10)
