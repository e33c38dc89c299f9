"""Container health probe: ``python -m starkrelay.probe [--ready] [URL ...]``.

Exit 0 when the first of the URLs that answers at all answers 200, else 1. Without URLs it
probes this container's process, whichever it is: the API (``serve``/``api``) on
127.0.0.1:8000, else the ``worker``'s on 127.0.0.1:``$WORKER_METRICS_PORT`` (8001).
``/health`` (liveness: restart when it fails) by default; ``--ready`` probes ``/health/ready``.
Standard library only, so it starts fast and needs nothing the process may have lost.
"""

from __future__ import annotations

import http.client
import os
import sys
from urllib.parse import urlsplit


def probe(urls: list[str], timeout: float = 3.0) -> int:
    """0 if the first URL that answers says 200; 1 if it says anything else or none answers.
    Plain ``http://`` URLs only (a container probes itself)."""
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            print(f"starkrelay.probe: expected an http:// URL, got {url!r}", file=sys.stderr)
            return 1
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        try:
            connection.request("GET", parts.path or "/")
            return 0 if connection.getresponse().status == 200 else 1
        except OSError:
            continue  # nothing listens there: try the next one
        finally:
            connection.close()
    return 1


def main(argv: list[str]) -> int:
    path = "/health/ready" if "--ready" in argv else "/health"
    urls = [arg for arg in argv if not arg.startswith("--")]
    if not urls:
        worker_port = os.environ.get("WORKER_METRICS_PORT") or "8001"
        urls = [f"http://127.0.0.1:{port}{path}" for port in ("8000", worker_port)]
    return probe(urls)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
