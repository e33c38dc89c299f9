"""``python -m starksandbox serve ...`` is ``starksandbox serve ...``."""

from starksandbox.cli import app

app(prog_name="starksandbox")
