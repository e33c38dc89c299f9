"""Printing the relay benchmark's results next to its targets."""

from __future__ import annotations

import argparse
import statistics
from typing import Any

TARGET_RATIO = 10.0
TARGET_FORWARDED = 1500.0
TARGET_P99_MS = 100.0
TARGET_CALLS = 0.02


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    """min / median / max."""
    ordered = sorted(values)
    return " / ".join(fmt.format(v) for v in (ordered[0], statistics.median(ordered), ordered[-1]))


def _cpu(rows: list[dict[str, Any]], part: str) -> str:
    return spread([row[f"{part}_us"] for row in rows])


def _api_calls(result: dict[str, Any]) -> tuple[str, float]:
    counters = result["counters"]
    items = max(1, counters.get("items_sent", 0))
    transfer = counters.get("transfer_calls", 0)
    if "ownership_calls" in counters:
        ownership = counters["ownership_calls"]
        lookups = counters.get("lookup_calls", 0)
        text = (
            f"({transfer} transfer.create + {ownership} ownership reads + {lookups} hinted "
            f"look-ups) / {items} invoices"
        )
        return text, (transfer + ownership + lookups) / items
    text = (
        f"{transfer} transfer.create / {items} invoices "
        "(no ownership_calls counter in this build: ownership reads not counted)"
    )
    return text, transfer / items


def _fill(rows: list[dict[str, Any]]) -> str:
    fills = [
        row["counters"].get("items_sent", 0) / row["counters"]["ownership_calls"]
        for row in rows
        if row["counters"].get("ownership_calls")
    ]
    return spread(fills, "{:.1f}") if fills else "not counted in this build"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_results(args: argparse.Namespace, results: dict[str, Any]) -> None:
    runs = results["runs"]
    relay = [run["relay"] for run in runs]
    naive = [run["naive"] for run in runs]
    forwarded = [row["forwarded_per_s"] for row in relay]
    median_forwarded = statistics.median(forwarded)
    ratios = [
        r["forwarded_per_s"] / n["forwarded_per_s"] for r, n in zip(relay, naive, strict=True)
    ]
    capacity = [1e6 / (r["service_us"] + r["redis_us"]) for r in relay]
    naive_capacity = [1e6 / n["service_us"] for n in naive]
    capacity_ratio = [c / n for c, n in zip(capacity, naive_capacity, strict=True)]
    lines = [
        "",
        f"1. Forwarded end to end, one core; {len(runs)} interleaved runs, min / median / max",
        f"   machine load (1/5/15 min) before each run: {'; '.join(r['load'] for r in runs)}; "
        f"at the end: {results['load_end']}",
        f"   starkrelay acknowledged        {spread([r['acked_per_s'] for r in relay])} /s  "
        f"({args.events} events a run)",
        f"   starkrelay forwarded           {spread(forwarded)} /s  "
        f"(target >= {TARGET_FORWARDED:.0f}: {_verdict(median_forwarded >= TARGET_FORWARDED)})",
        f"   naive parse + inline create    {spread([n['forwarded_per_s'] for n in naive])} /s  "
        f"({args.naive_events} events a run)",
        f"   ratio, forwarded / naive       {spread(ratios, '{:.1f}')} x  "
        f"(target >= {TARGET_RATIO:.0f}x: {_verdict(statistics.median(ratios) >= TARGET_RATIO)})",
        "   CPU microseconds per event (from /proc, over the measured window):",
        f"     starkrelay service           {_cpu(relay, 'service')}",
        f"     its redis-server             {_cpu(relay, 'redis')}",
        f"     load client                  {_cpu(relay, 'client')}",
        f"     naive service                {_cpu(naive, 'service')}",
        "   CPU-bound rate on one core (1e6 / CPU us per event; service + its Redis for "
        "starkrelay):",
        f"     starkrelay {spread(capacity)} /s, naive {spread(naive_capacity)} /s, "
        f"ratio {spread(capacity_ratio, '{:.1f}')} x",
        f"   batch fill (invoices per ownership read, 100 at most): {_fill(relay)}; a fuller "
        "batch spreads its two API calls over more events",
        f"   log lines per event (production level INFO): "
        f"{spread([r['info_lines'] for r in relay], '{:.2f}')} INFO, "
        f"{spread([r['all_lines'] for r in relay], '{:.2f}')} in all",
    ]
    if "forged" in results:
        lines += _more(args, results)
    if "processes" in results:
        one, two = results["processes"][1], results["processes"][2]
        lines += [
            "",
            "5. API processes behind one port (starkrelay api --workers N) + one worker",
            f"   N = 1, core 0:      forwarded {one['forwarded_per_s']:6.0f}/s, acknowledged "
            f"{one['acked_per_s']:6.0f}/s, service CPU {one['service_us']:.0f} us/event",
            f"   N = 2, cores 0,1:   forwarded {two['forwarded_per_s']:6.0f}/s, acknowledged "
            f"{two['acked_per_s']:6.0f}/s, service CPU {two['service_us']:.0f} us/event",
            f"   ratio 2 / 1:        {two['forwarded_per_s'] / one['forwarded_per_s']:.2f}x "
            "(on 2 cores also shared with the load client and the emulator)",
        ]
    print("\n".join(lines))


def _fetches(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('starkrelay_bank_calls_total{operation="fetch_public_key"}')
    )


def _more(args: argparse.Namespace, results: dict[str, Any]) -> list[str]:
    forged, steady, burst = results["forged"], results["steady"], results["burst"]
    s50, s99, sn = steady["latency"]
    b50, b99, bn = burst["latency"]
    text, per_invoice = _api_calls(burst)
    return [
        "",
        "2. Forged flood (signed by another key)",
        f"   refused with 401               {forged['acked_per_s']:.0f}/s ({args.forged} requests; "
        f"{_fetches(forged['metrics']):.0f} public-key fetches in all, the first load included); "
        f"service CPU {forged['service_us']:.0f} us/request",
        "",
        "3. Credited event -> transfer created (ms)",
        f"   steady {args.steady_rate:.0f}/s for {args.steady_seconds:.0f} s: p50 {s50:.1f}  "
        f"p99 {s99:.1f}  (n={sn}; target p99 <= {TARGET_P99_MS:.0f}: "
        f"{_verdict(s99 <= TARGET_P99_MS)})",
        f"   burst of {args.burst}: p50 {b50:.1f}  p99 {b99:.1f}  (n={bn}; acknowledged in "
        f"{args.burst / burst['acked_per_s']:.2f} s, forwarded {burst['forwarded_per_s']:.0f}/s)",
        "",
        "4. Stark Bank API calls per forwarded invoice, burst",
        f"   {text} = {per_invoice:.4f}  (target <= {TARGET_CALLS}: "
        f"{_verdict(per_invoice <= TARGET_CALLS)})",
    ]
