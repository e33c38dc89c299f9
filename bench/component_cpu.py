"""CPU microseconds per event of the request path's parts, each old way against the new one.

    .venv/bin/python bench/component_cpu.py [--events 3000]

Runs in one process pinned to core 0, with its own ``redis-server`` pinned to core 1 (its CPU
is read from /proc). Each line is CPU time (user + system) divided by the events:

1. signature check of one webhook body: OpenSSL (``cryptography``) against libsecp256k1
   (``webhooks.signature``, high-S normalised);
2. the intake script of one credited event, 64 requests in flight: one EVALSHA each against
   one pipeline per event-loop tick (``store.batching``); this process and Redis apart;
3. the log lines of one forwarded event at the production configuration (JSON, INFO, written
   to the process's stderr, here a file: /dev/null): two INFO lines against one INFO line and
   one DEBUG line that the level drops;
4. reading one webhook body into an ``Event``: the standard library's JSON and the event
   validated again as a whole against ``orjson`` (the standard library only for what it
   refuses) and the event built from its validated parts (``webhooks.events``);
5. taking one credited event (``take_event``: the intake script, then the delivery note),
   64 in flight, each a pipeline per tick: commands packed by redis-py's asyncio connection
   (in Python) against packed by hiredis (``store.connection``); this process and Redis apart;
6. reading the ownership read's answer (a page of 100 credited logs, each with its invoice as
   starksandbox writes it), per invoice: the standard library's JSON against ``orjson``
   (``bank.convert.raw_json``);
7. the same page's logs converted to the gateway's ``InvoiceLog``, per invoice: the JSON read
   through ``__getattr__`` (a failed attribute lookup first, as before) against
   ``__getattribute__`` (``bank.convert.FromApi``);
8. the Prometheus children of one forwarded event (event, answer, request duration, transfer):
   ``.labels(...)`` each time against looked up once (``core.metrics.remembered_labels``);
9. the key names of one event's intake and settle scripts: all built each time against the
   eight shared by every invoice built once (``ledger.steps``);
10. one webhook request through the app's ASGI stack in-process (plain route, both middlewares):
   FastAPI's OpenTelemetry on (its default) against off (``app.new_fastapi``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import structlog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proc_cpu import cpu_seconds, pinned_redis
from relay_load import credited_event, pin
from starkrelay.api import http_metrics
from starkrelay.api.body_limit import BodyLimitMiddleware
from starkrelay.api.http_metrics import RequestDurationMiddleware
from starkrelay.app import _NO_TELEMETRY
from starkrelay.bank import convert
from starkrelay.bank.convert import raw_json
from starkrelay.core import relay_metrics
from starkrelay.core.logs import configure_logging
from starkrelay.core.metrics import HTTP_REQUEST_DURATION
from starkrelay.core.settings import WEBHOOK_PATH
from starkrelay.core.store import Keys, Store, connect
from starkrelay.ledger import scripts as ledger_scripts
from starkrelay.ledger import steps as ledger_steps
from starkrelay.webhooks.events import Event, parse_event, parse_webhook_body
from starkrelay.webhooks.intake import IntakePolicy, take_event
from starkrelay.webhooks.signature import decode_signature, load_public_key, signature_matches
from starksandbox.keys import public_pem
from starksandbox.models import Invoice


def per_event(events: int, work: Callable[[], None]) -> float:
    start = time.process_time()
    work()
    return (time.process_time() - start) * 1e6 / events


def signatures(events: int) -> tuple[float, float]:
    key = ec.generate_private_key(ec.SECP256K1())
    bodies = [credited_event(f"9{n}", f"9{n}", 1000, 50) for n in range(events)]
    headers = [base64.b64encode(key.sign(b, ec.ECDSA(hashes.SHA256()))).decode() for b in bodies]
    public = key.public_key()
    fast = load_public_key(public_pem(key))

    def openssl() -> None:
        for body, header in zip(bodies, headers, strict=True):
            public.verify(base64.b64decode(header), body, ec.ECDSA(hashes.SHA256()))

    def libsecp256k1() -> None:
        for body, header in zip(bodies, headers, strict=True):
            assert signature_matches(fast, decode_signature(header), body)

    return per_event(events, openssl), per_event(events, libsecp256k1)


async def _intake(url: str, events: int, batched: bool, tag: str) -> None:
    store = Store(connect(url), Keys(f"component-{tag}"))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(events):
        queue.put_nowait(n)

    async def one(n: int) -> None:
        args = [
            *ledger_steps.script_keys(store.keys, f"{n}", f"e{n}"), 3600, "enqueued", "forward",
            f"{n}", 0, time.time(), 3600, "", "", 2, "invoice_id", f"{n}", "amount", 950,
            "credited_at", 950,
        ]  # fmt: skip
        if batched:
            await ledger_steps.intake_batcher(store).run(*args)
        else:
            await ledger_steps._run(store.redis, ledger_scripts.INTAKE, *args)

    async def client() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    await one(-1)  # load the script
    await asyncio.gather(*(client() for _ in range(64)))
    await store.redis.aclose()


def intakes(url: str, redis_pid: int, events: int) -> dict[str, tuple[float, float]]:
    found = {}
    for name, batched in (("one EVALSHA each", False), ("one pipeline per tick", True)):
        before = cpu_seconds(redis_pid)
        client = per_event(
            events, lambda b=batched, n=name: asyncio.run(_intake(url, events, b, n))
        )
        found[name] = (client, (cpu_seconds(redis_pid) - before) * 1e6 / events)
    return found


async def _take(url: str, events: int, hiredis: bool, tag: str) -> None:
    redis = connect(url)
    if not hiredis:  # the connection class redis-py chose for the URL, packing in Python
        redis.connection_pool.connection_class = redis.connection_pool.connection_class.__mro__[2]
    store = Store(redis, Keys(f"component-take-{tag}"))
    bodies = [credited_event(f"{n}", f"{n}", 950, 0) for n in range(events + 1)]
    taken = [parse_webhook_body(body) for body in bodies]
    policy = IntakePolicy(replay_window_seconds=3600)
    await take_event(store, taken[0], policy)  # load the scripts
    queue = iter(taken[1:])

    async def client() -> None:
        for event in queue:
            await take_event(store, event, policy)

    await asyncio.gather(*(client() for _ in range(64)))
    await redis.aclose()


def takes(url: str, redis_pid: int, events: int) -> dict[str, tuple[float, float]]:
    configure_logging("INFO", "json")  # the intake's DEBUG line dropped, as in production
    found = {}
    for name, hiredis in (("packed in Python", False), ("packed by hiredis", True)):
        before = cpu_seconds(redis_pid)
        client = per_event(events, lambda h=hiredis, n=name: asyncio.run(_take(url, events, h, n)))
        found[name] = (client, (cpu_seconds(redis_pid) - before) * 1e6 / events)
    return found


def log_lines(events: int) -> tuple[float, float]:
    configure_logging("INFO", "json")
    log = structlog.get_logger("starkrelay.bench")
    fields = {"event_id": "5415223380934656", "invoice_id": "5656565656565656", "amount": 950}

    def two_info() -> None:
        for _ in range(events):
            log.info("webhooks.event.taken", outcome="enqueued", stream_id="1-1", **fields)
            log.info("forwarding.transfer.created", transfer_id="1", deliveries=1, **fields)

    def one_info() -> None:
        for _ in range(events):
            log.debug("webhooks.event.taken", outcome="enqueued", stream_id="1-1", **fields)
            log.info("forwarding.transfer.created", transfer_id="1", deliveries=1, **fields)

    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)  # the same stream as in production, written to a file
    try:
        return per_event(events, two_info), per_event(events, one_info)
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def body_parses(events: int) -> tuple[float, float]:
    bodies = [credited_event(f"9{n}", f"9{n}", 1000, 50) for n in range(events)]

    def validated_twice() -> None:
        for body in bodies:
            event = parse_event(json.loads(body, strict=False)["event"])
            Event(**event.__dict__)  # the whole event validated again, as it was

    def orjson_built() -> None:
        for body in bodies:
            parse_webhook_body(body)

    return per_event(events, validated_twice), per_event(events, orjson_built)


def credited_page() -> bytes:
    """``GET /invoice/log`` of 100 credited invoices, as starksandbox answers it."""
    now = datetime.now(UTC)
    logs = []
    for n in range(100):
        invoice = Invoice(
            id=f"{5_000_000_000_000_000 + n}", amount=1000 + n, nominal_amount=1000 + n,
            tax_id="012.345.678-90", name="Ana Lima", due=now, expiration=5097600, fine=2.0,
            interest=1.0, discounts=[], rules=[], splits=[], tags=["campaign:1", f"slot:{n}"],
            descriptions=[], created=now, updated=now, uuid=f"{n:032x}",
            brcode="00020101021226890014br.gov.bcb.pix2567brcode-h.sandbox.starkinfra.com/v2/"
            + f"{n:032x}5204000053039865802BR5915Stark Bank S.A.6009Sao Paulo62070503***6304ABCD",
            base_url="https://sandbox.api.starkbank.com", status="paid", fee=0,
            transaction_ids=[f"{n}"],
        )  # fmt: skip
        logs.append({"id": f"{6_000_000_000_000_000 + n}", "type": "credited", "errors": [],
                     "created": now.isoformat(), "invoice": invoice.to_json()})  # fmt: skip
    return json.dumps({"cursor": None, "logs": logs}).encode()


def page_reads(pages: int) -> tuple[float, float]:
    response = SimpleNamespace(status=200, content=credited_page())

    def standard_library() -> None:
        for _ in range(pages):
            json.loads(response.content.decode("utf-8"))

    def orjson_read() -> None:
        for _ in range(pages):
            raw_json(response)

    found = [per_event(pages * 100, way) for way in (standard_library, orjson_read) * 3]
    return min(found[0::2]), min(found[1::2])  # interleaved, the best of three each


class _ReadByGetattr:
    """``FromApi`` as it was: every attribute found by ``__getattr__`` after a failed lookup."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def __getattr__(self, name: str) -> Any:
        value = self._body.get(convert._camel(name))
        if name in ("created", "updated"):
            return convert._api_when(value)
        if name == "due":
            return convert._api_when(value, convert.check_datetime_or_date)
        if name == "expiration":
            return convert.check_timedelta(value)
        return _ReadByGetattr(value) if isinstance(value, dict) else value


def log_conversions(pages: int) -> tuple[float, float]:
    logs = json.loads(credited_page())["logs"]
    old = [convert.invoice_log(_ReadByGetattr(item)) for item in logs]
    assert old == [convert.invoice_log(convert.FromApi(item)) for item in logs]

    def by_getattr() -> None:
        for _ in range(pages):
            for item in logs:
                convert.invoice_log(_ReadByGetattr(item))

    def by_getattribute() -> None:
        for _ in range(pages):
            for item in logs:
                convert.invoice_log(convert.FromApi(item))

    found = [per_event(pages * 100, way) for way in (by_getattr, by_getattribute) * 3]
    return min(found[0::2]), min(found[1::2])  # interleaved, the best of three each


def label_lookups(events: int) -> tuple[float, float]:
    def each_time() -> None:
        for _ in range(events):
            relay_metrics.EVENTS.labels("invoice", "credited").inc()
            relay_metrics.WEBHOOKS.labels("enqueued").inc()
            HTTP_REQUEST_DURATION.labels(method="POST", route=WEBHOOK_PATH, status="200").observe(1)
            relay_metrics.TRANSFERS.labels("sent").inc()

    def remembered() -> None:
        for _ in range(events):
            relay_metrics.events_by_kind("invoice", "credited").inc()
            relay_metrics.webhooks_by_outcome("enqueued").inc()
            http_metrics._observed("POST", WEBHOOK_PATH, 200).observe(1)
            relay_metrics.transfers_by_outcome("sent").inc()

    found = [per_event(events, way) for way in (each_time, remembered) * 3]
    return min(found[0::2]), min(found[1::2])  # interleaved, the best of three each


def _script_keys_each_time(keys: Keys, invoice_id: str, event_id: str | None) -> list[str]:
    """``ledger.steps.script_keys`` as it was: every key name built on every call."""
    return [
        keys.event_claim(event_id) if event_id else keys.key("event", "-"),
        keys.webhook_ledger(invoice_id) if invoice_id else keys.key("ledger", "-"),
        keys.ledger_stages(), keys.ledger_index(), keys.forward_stream(), keys.forward_waiting(),
        keys.forward_dead_letters(), keys.forward_counters(), keys.forward_hints(),
        keys.forward_held(),
    ]  # fmt: skip


def key_names(events: int) -> tuple[float, float]:
    keys = Keys("starkrelay")
    ids = [(f"{5_000_000_000_000_000 + n}", f"{6_000_000_000_000_000 + n}") for n in range(events)]
    assert _script_keys_each_time(keys, *ids[0]) == ledger_steps.script_keys(keys, *ids[0])

    def each_time() -> None:
        for invoice_id, event_id in ids:
            _script_keys_each_time(keys, invoice_id, event_id)
            _script_keys_each_time(keys, invoice_id, None)

    def shared_once() -> None:
        for invoice_id, event_id in ids:
            ledger_steps.script_keys(keys, invoice_id, event_id)
            ledger_steps.script_keys(keys, invoice_id)

    found = [per_event(events, way) for way in (each_time, shared_once) * 3]
    return min(found[0::2]), min(found[1::2])  # interleaved, the best of three each


def _webhook_app(telemetry: Any) -> Any:
    app = FastAPI(telemetry=telemetry) if telemetry else FastAPI()

    async def answer(request: Request) -> Response:
        await request.body()
        return Response(b'{"outcome":"enqueued"}', 200, media_type="application/json")

    app.router.routes.insert(0, Route(WEBHOOK_PATH, answer, methods=["POST"]))
    app.add_middleware(BodyLimitMiddleware, limits={WEBHOOK_PATH: 65536})
    app.add_middleware(RequestDurationMiddleware)
    return app


def asgi_requests(events: int) -> tuple[float, float]:
    body = credited_event("91", "91", 1000, 50)
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": WEBHOOK_PATH, "raw_path": b"", "query_string": b"",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("x", 80)}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None: ...

    async def run(app: Any) -> None:
        for _ in range(events):
            await app(dict(scope), receive, send)

    apps = [_webhook_app(None), _webhook_app(_NO_TELEMETRY)]  # warm by the best of three
    found = [per_event(events, lambda a=app: asyncio.run(run(a))) for app in apps * 3]
    return min(found[0::2]), min(found[1::2])  # interleaved, the best of three each


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    args = parser.parse_args()
    pin(0)
    openssl, secp = signatures(args.events)
    with pinned_redis(core=1) as server:
        intake = intakes(server.url, server.pid, args.events)
        take = takes(server.url, server.pid, args.events)
    two, one = log_lines(args.events)
    old_parse, new_parse = body_parses(args.events)
    old_page, new_page = page_reads(max(1, args.events // 100))
    old_convert, new_convert = log_conversions(max(1, args.events // 100))
    old_labels, new_labels = label_lookups(args.events)
    old_keys, new_keys = key_names(args.events)
    telemetry_on, telemetry_off = asgi_requests(args.events)
    print(f"CPU microseconds per event ({args.events} events each):")
    print(f"1. signature check   OpenSSL {openssl:7.1f}   libsecp256k1 {secp:7.1f}")
    for name, (client, redis_us) in intake.items():
        print(f"2. intake, {name:22s} service {client:7.1f}   redis {redis_us:7.1f}")
    print(f"3. log lines         2 INFO {two:7.1f}    1 INFO + 1 dropped DEBUG {one:7.1f}")
    print(f"4. body to Event     json, validated twice {old_parse:7.1f}   orjson {new_parse:7.1f}")
    for name, (client, redis_us) in take.items():
        print(f"5. take_event, {name:22s} service {client:7.1f}   redis {redis_us:7.1f}")
    print(f"6. credited page     json {old_page:7.1f}   orjson {new_page:7.1f}   (per invoice)")
    print(
        f"7. credited logs     __getattr__ {old_convert:7.1f}   __getattribute__ {new_convert:7.1f}"
    )
    print(f"8. metric children   .labels() {old_labels:7.1f}   remembered {new_labels:7.1f}")
    print(f"9. script key names  all built {old_keys:7.1f}   shared built once {new_keys:7.1f}")
    print(f"10. ASGI webhook      OpenTelemetry on {telemetry_on:7.1f}   off {telemetry_off:7.1f}")


if __name__ == "__main__":
    main()
