"""Benchmark of the money path against starksandbox, measured as production runs it.

    .venv/bin/python bench/relay_throughput.py [--runs 3] [--events 3000] [--naive-events 300]
        [--steady-rate 200] [--steady-seconds 10] [--burst 10000] [--forged 2000]
        [--processes 2] [--only throughput]

Processes and cores (a 2-core machine): the service runs as ``starkrelay serve`` (uvicorn with
uvloop and httptools, JSON logs at ``LOG_LEVEL=INFO`` written to a file, every other setting
at its production default) pinned to core 0 together with its own ``redis-server`` (started
here, no persistence); starksandbox and this load client are pinned to core 1. CPU time of
the service, Redis and the client is read from ``/proc`` over each measured window and
divided by the events in it. Every webhook body is a credited-invoice event signed like
Stark Bank signs them, about an invoice issued and paid in the emulator first (the relay
forwards only what Stark Bank reports credited; the naive way never asks). Prints:

1. forwarded end to end per second, starkrelay against the naive way (``event.parse`` and an
   inline ``transfer.create`` per event, same core, same uvicorn), in ``--runs`` interleaved
   runs as min / median / max, with CPU microseconds per event and the machine's load;
2. how fast a flood signed by another key is refused, and the public-key fetches it caused;
3. credited event -> transfer created latency, p50 and p99, at a steady rate and in a burst;
4. Stark Bank API calls per forwarded invoice in the burst: ``transfer.create`` calls plus
   ownership reads when the service counts them (``ownership_calls``);
5. with ``--processes 2``: ``starkrelay api --workers N`` beside one ``starkrelay worker``,
   for N = 1 (core 0) and N = 2 (cores 0 and 1, shared with the client and the emulator).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import redis
import starkbank
import uvloop

from proc_cpu import cpu_seconds, loadavg, pinned_redis, self_cpu_seconds
from relay_load import (
    Shot,
    credited_event,
    free_port,
    pin,
    post_all,
    relay_service,
    run_naive,
    run_sandbox,
)
from relay_report import print_results
from starksandbox.keys import Signer, load_private_pem, new_key_pair
from starksandbox.sdk import point_sdk_at

PROJECT_ID = "5656565656565656"
CLIENT_CORE = 1


@contextmanager
def child(target: Callable[..., None], *args: Any) -> Iterator[tuple[Any, int]]:
    """Run `target(conn, *args)` in a process; yields (its first message, its pid)."""
    ctx = mp.get_context("spawn")
    parent, child_end = ctx.Pipe()
    process = ctx.Process(target=target, args=(child_end, *args), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError(f"{target.__name__} did not start")
        assert process.pid is not None
        yield parent.recv(), process.pid
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


def make_shots(signing_key: str, tag: str, ids: list[str]) -> list[Shot]:
    """Signed credited events, one per invoice of `ids`, event ids unique to `tag`."""
    signer = Signer(load_private_pem(signing_key))
    shots = []
    for n, invoice_id in enumerate(ids):
        body = credited_event(f"{tag}{n:07d}", invoice_id, amount_of(n), 0)
        shots.append(Shot(body, signer.sign(body), invoice_id=invoice_id))
    return shots


def made_up(tag: str, count: int) -> list[str]:
    """Invoice ids Stark Bank does not hold (the naive way and the forged flood never ask)."""
    return [f"{tag}{n:07d}" for n in range(count)]


class Bench:
    """What every phase shares: the emulator, the keys, the private Redis."""

    def __init__(self, sandbox_url: str, project_key: str, redis_url: str, redis_pid: int):
        self.sandbox_url = sandbox_url
        self.project_key = project_key
        self.redis_url = redis_url
        self.redis_pid = redis_pid

    def env(self, prefix: str) -> dict[str, str]:
        return {
            "STARK_PROJECT_ID": PROJECT_ID, "STARK_PRIVATE_KEY": self.project_key,
            "STARK_API_URL": self.sandbox_url, "REDIS_URL": self.redis_url,
            "REDIS_KEY_PREFIX": prefix, "LOG_LEVEL": "INFO", "LOG_FORMAT": "json",
        }  # fmt: skip

    def counters(self, prefix: str) -> dict[str, int]:
        client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        found = client.hgetall(f"{prefix}:forward:counters")
        client.close()
        return {name: int(value) for name, value in found.items()}

    def wait_forwarded(self, prefix: str, count: int, limit: float = 600) -> float:
        deadline = time.monotonic() + limit
        while (sent := self.counters(prefix).get("items_sent", 0)) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {sent} of {count} forwarded")
            time.sleep(0.01)
        return time.perf_counter()

    def relay(
        self, shots: list[Shot], *, connections: int, rate: float | None = None,
        cores: str = "0", api_workers: int | None = None, expect: int = 200,
    ) -> dict[str, Any]:  # fmt: skip
        """One fresh service; post every shot; wait until all are forwarded (when 200)."""
        prefix = f"bench-{secrets.token_hex(4)}"
        with relay_service(self.env(prefix), cores=cores, api_workers=api_workers) as service:
            log_start = service.log_path.stat().st_size
            before = self.cpu(service.pids)
            start = time.perf_counter()
            elapsed = uvloop.run(post_all(service.port, shots, connections=connections, rate=rate))
            wrong = sum(1 for shot in shots if shot.status != expect)
            if wrong:
                raise RuntimeError(f"{wrong} of {len(shots)} webhooks were not answered {expect}")
            done = self.wait_forwarded(prefix, len(shots)) if expect == 200 else time.perf_counter()
            after = self.cpu(service.pids)
            metrics = httpx.get(f"http://127.0.0.1:{service.port}/metrics").text
            with service.log_path.open("rb") as logs:
                logs.seek(log_start)
                lines = logs.read().splitlines()
        counters = self.counters(prefix)
        self.forget(prefix)
        n = len(shots)
        return {
            "acked_per_s": n / elapsed, "forwarded_per_s": n / (done - start),
            "counters": counters, "metrics": metrics,
            "info_lines": sum(1 for line in lines if b'"level":"info"' in line) / n,
            "all_lines": len(lines) / n,
            **{f"{part}_us": (after[part] - before[part]) * 1e6 / n for part in after},
        }  # fmt: skip

    def naive(self, shots: list[Shot]) -> dict[str, float]:
        port = free_port()
        project = {"id": PROJECT_ID, "private_key": self.project_key}
        with child(run_naive, self.sandbox_url, project, port) as (_, pid):
            before = self.cpu([pid])
            elapsed = uvloop.run(post_all(port, shots, connections=16))
            after = self.cpu([pid])
        assert all(shot.status == 200 for shot in shots), "a naive webhook was not answered 200"
        n = len(shots)
        return {
            "forwarded_per_s": n / elapsed,
            **{f"{part}_us": (after[part] - before[part]) * 1e6 / n for part in after},
        }

    def cpu(self, pids: list[int]) -> dict[str, float]:
        return {
            "service": sum(cpu_seconds(pid) for pid in pids),
            "redis": cpu_seconds(self.redis_pid),
            "client": self_cpu_seconds(),
        }

    def forget(self, prefix: str) -> None:
        client = redis.Redis.from_url(self.redis_url)
        batch = list(client.scan_iter(f"{prefix}:*", count=1000))
        for start in range(0, len(batch), 1000):
            client.unlink(*batch[start : start + 1000])
        client.close()


def created_at() -> dict[str, float]:
    """invoice id -> transfer creation time, read from the emulator through the SDK."""
    found: dict[str, float] = {}
    for transfer in starkbank.transfer.query(tags=None):
        if transfer.external_id.startswith("invoice-"):
            found[transfer.external_id.removeprefix("invoice-")] = transfer.created.timestamp()
    return found


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency_ms(shots: list[Shot]) -> tuple[float, float, int]:
    created = created_at()
    waits = [
        (created[shot.invoice_id] - shot.sent_at) * 1000
        for shot in shots
        if shot.invoice_id in created
    ]
    return percentile(waits, 50), percentile(waits, 99), len(waits)


def say(text: str) -> None:
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--naive-events", type=int, default=300)
    parser.add_argument("--steady-rate", type=float, default=200.0)
    parser.add_argument("--steady-seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--forged", type=int, default=2000)
    parser.add_argument("--processes", type=int, choices=[1, 2], default=1)
    parser.add_argument("--only", choices=["throughput", "all"], default="all")
    args = parser.parse_args()

    pin(CLIENT_CORE)
    project_key, project_public = new_key_pair()
    stark_key, _ = new_key_pair()
    with (
        pinned_redis(core=0) as server,
        child(run_sandbox, PROJECT_ID, project_public, stark_key) as (sandbox_url, _),
    ):
        point_sdk_at(sandbox_url)
        starkbank.user = starkbank.Project(
            environment="sandbox", id=PROJECT_ID, private_key=project_key
        )
        bench = Bench(sandbox_url, project_key, server.url, server.pid)
        say(f"cores: {os.cpu_count()}; service and its redis-server on core 0, "
            f"starksandbox and the load client on core {CLIENT_CORE}")  # fmt: skip
        results: dict[str, Any] = {"runs": []}
        for run in range(args.runs):
            load_before = loadavg()
            say(f"   ... run {run + 1}/{args.runs}: starkrelay, {args.events} webhooks")
            ids = credited_invoices(sandbox_url, args.events)
            relay = bench.relay(make_shots(stark_key, f"1{run}", ids), connections=64)
            say(f"   ... run {run + 1}/{args.runs}: naive, {args.naive_events} webhooks")
            naive_ids = made_up(f"2{run}", args.naive_events)
            naive = bench.naive(make_shots(stark_key, f"2{run}", naive_ids))
            results["runs"].append({"relay": relay, "naive": naive, "load": load_before})
        if args.only == "all":
            say(f"   ... forged flood: {args.forged} webhooks signed by another key")
            forged_shots = make_shots(new_key_pair()[0], "5", made_up("5", args.forged))
            results["forged"] = bench.relay(forged_shots, connections=64, expect=401)
            count = int(args.steady_rate * args.steady_seconds)
            say(f"   ... steady {args.steady_rate:.0f}/s: {count} webhooks")
            steady_shots = make_shots(stark_key, "3", credited_invoices(sandbox_url, count))
            results["steady"] = bench.relay(steady_shots, connections=16, rate=args.steady_rate)
            results["steady"]["latency"] = latency_ms(steady_shots)
            say(f"   ... burst: {args.burst} webhooks")
            burst_shots = make_shots(stark_key, "4", credited_invoices(sandbox_url, args.burst))
            results["burst"] = bench.relay(burst_shots, connections=128)
            results["burst"]["latency"] = latency_ms(burst_shots)
        if args.processes == 2:
            results["processes"] = {}
            for n, cores in ((1, "0"), (2, "0,1")):
                say(f"   ... api --workers {n} + worker on cores {cores}: {args.events} webhooks")
                shots = make_shots(stark_key, f"6{n}", credited_invoices(sandbox_url, args.events))
                results["processes"][n] = bench.relay(
                    shots, connections=64, cores=cores, api_workers=n
                )
        results["load_end"] = loadavg()
    print_results(args, results)


if __name__ == "__main__":
    main()
