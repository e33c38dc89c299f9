"""The money report's equation and verdict, and the chart of credited against forwarded per
day, from report values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starkrelay.console.money_view import daily_chart, equation, report_day, short_brl
from starkrelay.reconciliation.report import MoneyReport


def report(**lines: int) -> MoneyReport:
    return MoneyReport(since="2027-01-10", generated_at="2027-01-12T04:00:00+00:00", **lines)


def test_every_centavo_in_one_line_is_green() -> None:
    ok = report(net=10_000, forwarded=6_000, in_flight=1_000, waiting=1_000, failed=500,
                dead_lettered=1_500, skipped=0)  # fmt: skip
    eq = equation(ok)
    assert eq.ok
    assert eq.difference == 0
    assert [name for name, _ in eq.terms] == [
        "forwarded", "in_flight", "waiting", "failed", "dead_lettered", "skipped"
    ]  # fmt: skip
    assert eq.left == eq.right == 10_000


def test_a_reversal_after_forward_balances_but_is_not_green() -> None:
    # forwarded 4,950 of an invoice reversed by 2,000 afterwards: we hold 2,950 of it
    eq = equation(report(net=2_950, forwarded=4_950, reversed_after_forward=2_000))
    assert eq.difference == 0
    assert not eq.ok
    assert eq.findings == ("R$ 20.00 to recover (reversed after forward)",)


def test_cents_in_no_line_disagreements_and_outflow_are_findings() -> None:
    eq = equation(report(net=10_000, forwarded=9_000, unexplained_outflow=100,
                         disagreements=[{"invoice_id": "i", "net": 1_000, "problem": "p"}]))  # type: ignore[arg-type]  # fmt: skip
    assert eq.difference == 1_000
    assert eq.findings == (
        "R$ 10.00 of net is in no line", "1 invoice disagrees", "R$ 1.00 unexplained outflow"
    )  # fmt: skip


def test_chart_one_pair_of_bars_per_day_from_the_days_last_report() -> None:
    start = datetime(2027, 1, 10, 12, tzinfo=UTC)

    def at(day: int, hour: int, credited: int, forwarded: int) -> MoneyReport:
        when = (start + timedelta(days=day, hours=hour)).isoformat()
        return MoneyReport(since="x", generated_at=when, credited=credited, forwarded=forwarded)

    history = [at(2, 3, 30_000, 29_000), at(2, 1, 1, 1), at(1, 0, 20_000, 0), at(0, 0, 0, 0)]
    chart = daily_chart(history)
    assert chart is not None
    assert [b.day for b in chart.bars] == [
        "2027-01-10", "2027-01-10", "2027-01-11", "2027-01-11", "2027-01-12", "2027-01-12"
    ]  # fmt: skip
    assert [(b.series, b.cents) for b in chart.bars[-2:]] == [
        ("credited", 30_000), ("forwarded", 29_000)
    ]  # fmt: skip
    tallest = chart.bars[-2]
    assert tallest.y + tallest.height == chart.baseline
    assert 0 < tallest.height <= chart.baseline
    assert chart.bars[0].height == 0
    assert chart.ticks[-1][1] == short_brl(50_000) == "R$ 500"
    assert daily_chart([]) is None


def test_report_day_is_the_sao_paulo_day() -> None:
    late_utc = MoneyReport(since="x", generated_at="2027-01-12T02:30:00+00:00")
    assert report_day(late_utc) == "2027-01-11"
