"""Money as people read it: the one formatter of cents for the CLI, the console and reports."""

from __future__ import annotations


def brl(cents: int | str | None) -> str:
    """``123456`` -> ``R$ 1,234.56``; ``-5`` -> ``-R$ 0.05``; ``None`` or ``""`` -> an em dash.
    Integer arithmetic only: no float ever rounds a cent."""
    if cents is None or cents == "":
        return "—"
    value = int(cents)
    sign = "-" if value < 0 else ""
    return f"{sign}R$ {abs(value) // 100:,}.{abs(value) % 100:02d}"
