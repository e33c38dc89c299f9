"""``python -m starkrelay``: the same command line as ``starkrelay``."""

from starkrelay.main import app

app(prog_name="starkrelay")
