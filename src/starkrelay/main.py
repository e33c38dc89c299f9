"""The whole ``starkrelay`` command line: every command of ``cli``, plus ``demo``, which sits
above the CLI (it runs the app, the console and the emulator). The console script and
``python -m starkrelay`` start here."""

from starkrelay.cli import app, main
from starkrelay.demo import command as _registers_demo  # noqa: F401 (adds ``demo`` to ``app``)

__all__ = ["app", "main"]
