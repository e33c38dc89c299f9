"""The money report as people check it: its equation written out with a verdict, and a chart
of credited against forwarded per report day. Both pure (built from ``MoneyReport`` values).

The equation: every centavo of ``net`` (what we hold of the credited invoices, less fees and
reversals before the forward) is in exactly one place, and a reversal after the forward adds
what was sent beyond what we hold::

    net + reversed after forward
        = forwarded + in flight + waiting + failed + dead lettered + skipped

The verdict is green only when that holds to the cent, no invoice disagrees, and nothing is
left to recover (no reversal after forward, no unexplained outflow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starkrelay.console.render import SAO_PAULO
from starkrelay.core.money import brl
from starkrelay.reconciliation.report import MoneyReport

TERMS = ("forwarded", "in_flight", "waiting", "failed", "dead_lettered", "skipped")
"""Where each centavo of net is, in the order the equation writes them."""


@dataclass(frozen=True)
class Equation:
    net: int
    reversed_after_forward: int
    terms: tuple[tuple[str, int], ...]
    difference: int
    """``net + reversed_after_forward - sum(terms)``: cents in no term (0 when it holds)."""
    findings: tuple[str, ...]
    """Why the verdict is not green (empty when it is)."""

    @property
    def left(self) -> int:
        return self.net + self.reversed_after_forward

    @property
    def right(self) -> int:
        return sum(cents for _, cents in self.terms)

    @property
    def ok(self) -> bool:
        return not self.findings


def equation(report: MoneyReport) -> Equation:
    """The report's equation and verdict (see the module docstring)."""
    terms = tuple((name, int(getattr(report, name))) for name in TERMS)
    left = report.net + report.reversed_after_forward
    difference = left - sum(cents for _, cents in terms)
    findings: list[str] = []
    if difference:
        findings.append(f"{brl(difference)} of net is in no line")
    if report.disagreements:
        count = len(report.disagreements)
        findings.append(f"{count} invoice{' disagrees' if count == 1 else 's disagree'}")
    if report.reversed_after_forward:
        findings.append(f"{brl(report.reversed_after_forward)} to recover (reversed after forward)")
    if report.unexplained_outflow:
        findings.append(f"{brl(report.unexplained_outflow)} unexplained outflow")
    return Equation(report.net, report.reversed_after_forward, terms, difference, tuple(findings))


@dataclass(frozen=True)
class Bar:
    series: str
    """``credited`` or ``forwarded``."""
    day: str
    cents: int
    x: float
    y: float
    width: float
    height: float

    @property
    def label(self) -> str:
        return f"{self.day}: {self.series} {brl(self.cents)}"


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart's geometry, in the SVG's own units (``width`` x ``height``)."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    days: tuple[tuple[float, str], ...]
    """Each day's label and the x of its centre."""
    ticks: tuple[tuple[float, str], ...]
    """Horizontal guide lines: y and the amount they mark."""
    baseline: float
    left: float


def report_day(report: MoneyReport) -> str:
    """The São Paulo day a report was generated (``YYYY-MM-DD``)."""
    try:
        generated = datetime.fromisoformat(report.generated_at)
    except ValueError:
        return report.generated_at[:10]
    return generated.astimezone(SAO_PAULO).date().isoformat()


def short_brl(cents: int) -> str:
    """An axis label: ``R$ 1.5k``, ``R$ 2M``, ``R$ 40``."""
    reais = cents / 100
    for size, unit in ((1e6, "M"), (1e3, "k")):
        if reais >= size:
            return f"R$ {reais / size:.3g}{unit}"
    return f"R$ {reais:.3g}"


def _nice_top(value: int) -> int:
    """A round amount of cents at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 100
    power = 1
    while power * 10 <= value:
        power *= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover


def daily_chart(history: list[MoneyReport], days: int = 14) -> Chart | None:
    """Credited and forwarded of the last report of each of the newest ``days`` days,
    oldest day first; None when there is no report."""
    newest: dict[str, MoneyReport] = {}
    for report in history:  # newest first: keep each day's first seen
        newest.setdefault(report_day(report), report)
    chosen = sorted(newest.items())[-days:]
    if not chosen:
        return None
    width, height, left, top, bottom = 640, 240, 64.0, 12.0, 28.0
    plot_w, plot_h = width - left - 8, height - top - bottom
    peak = _nice_top(max(max(r.credited, r.forwarded) for _, r in chosen))
    slot = plot_w / len(chosen)
    bar_w = min(28.0, slot * 0.38)
    baseline = top + plot_h
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for n, (day, report) in enumerate(chosen):
        centre = left + slot * (n + 0.5)
        for offset, series in ((-bar_w, "credited"), (0.0, "forwarded")):
            cents = max(0, int(getattr(report, series)))
            tall = plot_h * cents / peak
            x, y = round(centre + offset, 1), round(baseline - tall, 1)
            bars.append(Bar(series, day, cents, x, y, round(bar_w, 1), round(tall, 1)))
        labels.append((round(centre, 1), day[5:]))
    ticks = tuple(
        (round(baseline - plot_h * part / 4, 1), short_brl(peak * part // 4)) for part in range(5)
    )
    return Chart(width, height, tuple(bars), tuple(labels), ticks, baseline, left)
