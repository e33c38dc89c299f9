"""Benchmark of the money path against starksandbox, in one run.

    .venv/bin/python bench/relay_throughput.py [--events 3000] [--naive-events 300]
        [--steady-rate 200] [--steady-seconds 10] [--burst 10000] [--forged 2000]

Processes: the service under test is pinned to core 0; starksandbox and this load client share
core 1; Redis is whatever ``$REDIS_URL`` (else 127.0.0.1:6379) points at. Every webhook body is
a credited-invoice event signed like Stark Bank signs them. Prints:

1. verified webhooks per second on one core, starkrelay vs the naive way (``event.parse`` and
   an inline ``transfer.create`` per event), both acknowledged and fully forwarded; and how
   fast a flood signed by another key is refused, with the public-key fetches it caused;
2. credited event -> transfer created latency, p50 and p99, under a steady load and a burst;
3. API calls per forwarded invoice under the burst, the ownership read of each batch's
   credited logs included (target <= 0.02). The events name invoices issued and paid in the
   emulator first, since the relay forwards only what Stark Bank reports credited.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import redis
import starkbank

from relay_load import Shot, credited_event, post_all, run_naive, run_relay, run_sandbox
from starksandbox.keys import Signer, load_private_pem, new_key_pair
from starksandbox.sdk import point_sdk_at

PROJECT_ID = "5656565656565656"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def child(target: Callable[..., None], *args: Any) -> Iterator[Any]:
    """Run `target(conn, *args)` in a process; yields its first message; stops it on exit."""
    ctx = mp.get_context("spawn")
    parent, child_end = ctx.Pipe()
    process = ctx.Process(target=target, args=(child_end, *args), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError(f"{target.__name__} did not start")
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(15)
        if process.is_alive():
            process.kill()


def amount_of(n: int) -> int:
    return 1_000 + n % 5_000


def credited_invoices(sandbox_url: str, count: int) -> list[str]:
    """Issue `count` invoices in the emulator and pay them: Stark Bank then holds the credited
    logs the relay reads before forwarding (its fee is 0 here). Ids in order."""
    ids: list[str] = []
    for start in range(0, count, 100):
        batch = [
            starkbank.Invoice(amount=amount_of(n), name="Ana Lima", tax_id="012.345.678-90")
            for n in range(start, min(count, start + 100))
        ]
        ids += [invoice.id for invoice in starkbank.invoice.create(batch)]
    with httpx.Client(base_url=sandbox_url, timeout=30) as http:
        for invoice_id in ids:
            http.post(f"/sandbox/invoices/{invoice_id}/pay", json={}).raise_for_status()
    return ids


def make_shots(signing_key: str, count: int, tag: str, ids: list[str] | None = None) -> list[Shot]:
    """Signed credited events; for invoices `ids` (Stark Bank's) when given, else made up."""
    signer = Signer(load_private_pem(signing_key))
    shots = []
    for n in range(count):
        invoice_id = ids[n] if ids is not None else f"{tag}{n:07d}"
        body = credited_event(f"{tag}{n:07d}", invoice_id, amount_of(n), 0)
        shots.append(Shot(body, signer.sign(body)))
    return shots


def relay_settings(sandbox_url: str, private_key: str, prefix: str) -> dict[str, Any]:
    return {
        "stark_project_id": PROJECT_ID, "stark_private_key": private_key,
        "stark_api_url": sandbox_url, "redis_url": REDIS_URL, "redis_key_prefix": prefix,
        "log_level": "ERROR", "forward_block_ms": 50, "webhook_replay_window_seconds": 3600,
    }  # fmt: skip


def forwarded(prefix: str) -> tuple[int, int, int]:
    """(items sent, transfer.create calls, ownership reads) from the relay's counters."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    counters = client.hgetall(f"{prefix}:forward:counters")
    client.close()
    return (
        int(counters.get("items_sent", 0)),
        int(counters.get("transfer_calls", 0)),
        int(counters.get("ownership_calls", 0)),
    )


def wait_forwarded(prefix: str, count: int, limit: float = 600) -> float:
    deadline = time.monotonic() + limit
    while forwarded(prefix)[0] < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {forwarded(prefix)[0]} of {count} forwarded")
        time.sleep(0.02)
    return time.perf_counter()


def created_at() -> dict[str, float]:
    """invoice id -> transfer creation time, read from the emulator through the SDK."""
    found: dict[str, float] = {}
    for transfer in starkbank.transfer.query(tags=None):
        if transfer.external_id.startswith("invoice-"):
            found[transfer.external_id.removeprefix("invoice-")] = transfer.created.timestamp()
    return found


def forget(prefix: str) -> None:
    """Delete the keys a phase wrote, so runs do not pile up in a shared Redis."""
    client = redis.Redis.from_url(REDIS_URL)
    batch = [key for key in client.scan_iter(f"{prefix}:*", count=1000)]
    for start in range(0, len(batch), 1000):
        client.unlink(*batch[start : start + 1000])
    client.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency_ms(
    shots: list[Shot], ids: list[str], created: dict[str, float]
) -> tuple[float, float, int]:
    waits = []
    for shot, invoice_id in zip(shots, ids, strict=True):
        done = created.get(invoice_id)
        if done is not None:
            waits.append((done - shot.sent_at) * 1000)
    return percentile(waits, 50), percentile(waits, 99), len(waits)


def say(text: str) -> None:
    print(text, flush=True)


def relay_phase(
    urls: dict[str, str], keys: dict[str, str], shots: list[Shot], ids: list[str], **load: Any
) -> dict[str, float]:
    prefix = f"bench-{secrets.token_hex(4)}"
    port = free_port()
    settings = relay_settings(urls["sandbox"], keys["project"], prefix)
    with child(run_relay, settings, port):
        say(f"   ... relay: {len(shots)} webhooks")
        start = time.perf_counter()
        elapsed = asyncio.run(post_all(port, shots, **load))
        refused = sum(1 for shot in shots if shot.status != 200)
        if refused:
            raise RuntimeError(f"{refused} of {len(shots)} webhooks were not answered 200")
        done = wait_forwarded(prefix, len(shots))
        say("   ... forwarded; reading transfers")
    items, calls, reads = forwarded(prefix)
    forget(prefix)
    p50, p99, matched = latency_ms(shots, ids, created_at())
    return {
        "acked_per_s": len(shots) / elapsed, "forwarded_per_s": len(shots) / (done - start),
        "p50_ms": p50, "p99_ms": p99, "matched": matched, "calls": calls, "items": items,
        "reads": reads,
    }  # fmt: skip


def naive_phase(urls: dict[str, str], keys: dict[str, str], shots: list[Shot]) -> float:
    port = free_port()
    project = {"id": PROJECT_ID, "private_key": keys["project"]}
    with child(run_naive, urls["sandbox"], project, port):
        say(f"   ... naive: {len(shots)} webhooks")
        elapsed = asyncio.run(post_all(port, shots, connections=16))
    assert all(shot.status == 200 for shot in shots), "a naive webhook was not answered 200"
    return len(shots) / elapsed


def forged_phase(urls: dict[str, str], keys: dict[str, str], shots: list[Shot]) -> dict[str, float]:
    """A flood of bodies signed by the wrong key: refusals per second and key fetches."""
    prefix = f"bench-{secrets.token_hex(4)}"
    port = free_port()
    with child(run_relay, relay_settings(urls["sandbox"], keys["project"], prefix), port):
        say(f"   ... relay: {len(shots)} forged webhooks")
        elapsed = asyncio.run(post_all(port, shots, connections=64))
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    forget(prefix)
    assert all(shot.status == 401 for shot in shots), "a forged webhook was not refused 401"
    fetches = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('starkrelay_bank_calls_total{operation="fetch_public_key"}')
    )
    return {"refused_per_s": len(shots) / elapsed, "key_fetches": fetches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--naive-events", type=int, default=300)
    parser.add_argument("--steady-rate", type=float, default=200.0)
    parser.add_argument("--steady-seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--forged", type=int, default=2000)
    args = parser.parse_args()

    project_key, project_public = new_key_pair()
    stark_key, _ = new_key_pair()
    keys = {"project": project_key}
    with child(run_sandbox, PROJECT_ID, project_public, stark_key) as sandbox_url:
        urls = {"sandbox": sandbox_url}
        point_sdk_at(sandbox_url)
        starkbank.user = starkbank.Project(
            environment="sandbox", id=PROJECT_ID, private_key=project_key
        )
        print(f"cores: {os.cpu_count()} (service pinned to core 0); redis: {REDIS_URL}")

        count = int(args.steady_rate * args.steady_seconds)
        say(f"   ... issuing and paying {args.events + count + args.burst} invoices")
        ids = credited_invoices(sandbox_url, args.events + count + args.burst)
        first, steady_ids, burst_ids = (
            ids[: args.events], ids[args.events : args.events + count], ids[args.events + count :]
        )  # fmt: skip
        shots = make_shots(stark_key, args.events, "1", first)
        relay = relay_phase(urls, keys, shots, first, connections=64)
        naive_shots = make_shots(stark_key, args.naive_events, "2")
        naive = naive_phase(urls, keys, naive_shots)
        forged = forged_phase(urls, keys, make_shots(new_key_pair()[0], args.forged, "5"))
        steady_shots = make_shots(stark_key, count, "3", steady_ids)
        steady = relay_phase(
            urls, keys, steady_shots, steady_ids, connections=16, rate=args.steady_rate
        )
        burst_shots = make_shots(stark_key, args.burst, "4", burst_ids)
        burst = relay_phase(urls, keys, burst_shots, burst_ids, connections=128)
    print_results(args, relay, naive, forged, steady, burst)


def print_results(
    args: argparse.Namespace,
    relay: dict[str, float],
    naive: float,
    forged: dict[str, float],
    steady: dict[str, float],
    burst: dict[str, float],
) -> None:
    lines = [
        "",
        "1. Verified credited webhooks per second, one core",
        f"   starkrelay acknowledged       {relay['acked_per_s']:8.0f}/s  ({args.events} events)",
        f"   starkrelay forwarded          {relay['forwarded_per_s']:8.0f}/s",
        f"   naive parse + inline create   {naive:8.0f}/s  ({args.naive_events} events)",
        f"   speed-up, forwarded           {relay['forwarded_per_s'] / naive:8.1f}x",
        f"   forged (another key) refused  {forged['refused_per_s']:8.0f}/s  ({args.forged} "
        f"requests, {forged['key_fetches']:.0f} public-key fetches in all)",
        "",
        "2. Credited event -> transfer created (ms)",
        f"   steady {args.steady_rate:.0f}/s for {args.steady_seconds:.0f} s: "
        f"p50 {steady['p50_ms']:.1f}  p99 {steady['p99_ms']:.1f}  (n={steady['matched']:.0f})",
        f"   burst of {args.burst}: p50 {burst['p50_ms']:.1f}  p99 {burst['p99_ms']:.1f}  "
        f"(n={burst['matched']:.0f}; acknowledged in {args.burst / burst['acked_per_s']:.2f} s)",
        "",
        "3. API calls per forwarded invoice (ownership reads + transfer.create)",
        f"   burst:  {burst['reads']:.0f} + {burst['calls']:.0f} calls / {burst['items']:.0f} "
        f"invoices = {(burst['reads'] + burst['calls']) / burst['items']:.4f}  (target <= 0.02)",
        f"   steady: {steady['reads']:.0f} + {steady['calls']:.0f} calls / "
        f"{steady['items']:.0f} invoices = "
        f"{(steady['reads'] + steady['calls']) / steady['items']:.4f}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
