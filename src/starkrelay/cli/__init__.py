"""The ``starkrelay`` commands; the whole command line (with ``demo``, which sits above the
CLI) is ``starkrelay.main:app``, also ``python -m starkrelay``.

Every command reads the settings first; a wrong setting prints one line naming the variable
and exits with status 2. Without ``REDIS_URL``, the long-running commands start an embedded
Valkey (data lives as long as the process) and say so. One module per command group; each
registers its commands on ``app`` (``common``) when imported here.
"""

from starkrelay.cli import campaign, doctor, forwards, keys, money, serve, status, webhook
from starkrelay.cli.common import app

__all__ = [
    "app",
    "campaign",
    "doctor",
    "forwards",
    "keys",
    "main",
    "money",
    "serve",
    "status",
    "webhook",
]


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="starkrelay")
