"""``python -m starkrelay``: the same command line as ``starkrelay``."""

from starkrelay.cli import app

app(prog_name="starkrelay")
