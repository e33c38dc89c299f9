"""The ``starkrelay`` command from an async test: the command runs its own event loop, so it
runs in a worker thread while the test's loop waits."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio.to_thread
from click.testing import Result
from typer.testing import CliRunner


async def invoke(args: list[str], **options: Any) -> Result:
    """``CliRunner().invoke(app, args, **options)`` in a worker thread."""
    from starkrelay.cli import app

    return await anyio.to_thread.run_sync(partial(CliRunner().invoke, app, args, **options))
