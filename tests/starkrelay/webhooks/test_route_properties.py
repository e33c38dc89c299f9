"""Property: no validly signed event, however odd, gets a 5xx, breaks /metrics, or leaves
anything behind when it is refused.

Events are drawn around real ones (a credited invoice, a transfer log) with every field
sometimes replaced by something odd: naive or bare dates, far-future and out-of-range dates,
lone surrogates, huge strings and lists, floats and strings for money, unknown subscriptions
and log types, random JSON. Each is signed with the emulator's key and posted to the relay over
HTTP. Redis is a private ``redis-server`` of this module, so its key count is exact.

Examples: ``HYPOTHESIS_PROFILE`` (``ci`` runs 2,500; ``dev``, the default, 300); ``CI=true``
selects ``ci``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from tests.support.redis_server import own_redis
from tests.support.relay_harness import Relay, relay_context

from starkrelay.core.relay_metrics import EVENTS
from starkrelay.webhooks.events import LOG_TYPES_ACTED_ON, OTHER, SUBSCRIPTIONS_ACTED_ON
from starksandbox.keys import Signer, load_private_pem, new_key_pair

STARK_KEY, _ = new_key_pair()
SIGNER = Signer(load_private_pem(STARK_KEY))

settings.register_profile(
    "ci", max_examples=2500, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip
settings.register_profile(
    "dev", max_examples=300, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")

OUTCOMES = {
    200: {
        "enqueued",
        "already_enqueued",
        "recorded",
        "noted",
        "hinted",
        "foreign",
        "duplicate",
        "ignored",
    },
    400: {"malformed", "stale", "future"},
    403: {"other_workspace"},
    413: {"too_large"},
}
LABELS = {
    "subscription": SUBSCRIPTIONS_ACTED_ON | {OTHER},
    "log_type": frozenset().union(*LOG_TYPES_ACTED_ON.values()) | {OTHER},
}


@pytest.fixture(scope="module")
def private_redis() -> Iterator[str]:
    """A redis-server of this module alone (its key count is exact); stopped at the end."""
    with own_redis() as server:
        yield server.url()


@pytest.fixture(scope="module")
def signed_relay(private_redis: str) -> Iterator[Relay]:
    with relay_context(
        private_redis, "fuzz", sandbox={"pay_share": 0.0, "signing_key": STARK_KEY},
        webhook_replay_window_seconds=86400,
    ) as relay:  # fmt: skip
        yield relay


# --- strategies ----------------------------------------------------------------------------------

NOW = datetime.now(UTC)
ODD_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),  # surrogates included
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "é", "🙂", "", " ", "x" * 300, "9" * 70]),
    st.text(max_size=6000).filter(lambda t: len(t) > 256),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4),
    max_leaves=12,
)


def stamp(moment: datetime, fmt: str = "%Y-%m-%dT%H:%M:%S.%f%z") -> str:
    return moment.strftime(fmt)


def often(usual: st.SearchStrategy[Any], *odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` about 15 times in 16, else one of `odd` (a middle value picks `odd`: the
    bounds are what Hypothesis draws most)."""
    unusual = st.one_of(*odd)
    return st.integers(0, 15).flatmap(lambda n: unusual if n == 7 else usual)


IDS = often(
    st.uuids().map(lambda u: str(u.int % 10**17)),
    ODD_TEXT, st.integers(), st.none(), st.just("1" * 64), st.just("1" * 65),
)  # fmt: skip
CREATED = often(
    st.integers(-3600, 60).map(lambda s: stamp(NOW + timedelta(seconds=s))),
    st.integers(-3600, 60).map(lambda s: stamp(NOW.replace(tzinfo=None) + timedelta(seconds=s))),
    st.just(NOW.date().isoformat()),
    st.integers(1, 10**6).map(lambda d: stamp(NOW + timedelta(days=d))),
    st.integers(2, 10**5).map(lambda d: stamp(NOW - timedelta(days=d))),
    st.sampled_from(["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "now", ""]),
    st.datetimes(timezones=st.timezones()).map(lambda m: m.isoformat()),
    st.integers(), st.floats(), ODD_TEXT,
)  # fmt: skip
SUBSCRIPTIONS = often(
    st.sampled_from(["invoice", "invoice", "transfer"]),
    st.sampled_from(["deposit", "boleto", "brcode-payment", "INVOICE"]), ODD_TEXT, st.integers(),
)  # fmt: skip
LOG_TYPES = often(
    st.sampled_from(["credited", "credited", "paid", "created", "success", "failed"]),
    ODD_TEXT, st.none(), st.integers(),
)  # fmt: skip
CENTS = often(st.integers(0, 10**7), st.integers(), st.floats(), st.text(max_size=5), st.booleans())
TAGS = often(st.lists(st.text(max_size=20), max_size=3), st.lists(ODD_TEXT, max_size=150), ANY_JSON)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    subscription = draw(SUBSCRIPTIONS)
    subject_id = draw(IDS)
    if draw(often(st.just(subscription != "transfer"), st.booleans())):
        subject = {"id": subject_id, "amount": draw(CENTS), "fee": draw(CENTS), "tags": draw(TAGS),
                   "status": draw(often(st.just("paid"), ODD_TEXT)),
                   "nominalAmount": draw(often(st.none(), CENTS))}  # fmt: skip
        kind = "invoice"
    else:
        external = draw(often(st.integers(1, 10**9).map(lambda n: f"invoice-{n}-r1"), ODD_TEXT))
        subject = {"id": subject_id, "amount": draw(CENTS), "externalId": external,
                   "tags": draw(TAGS)}  # fmt: skip
        kind = "transfer"
    log: Any = {"id": draw(IDS), "created": draw(CREATED), "type": draw(LOG_TYPES),
                "errors": draw(often(st.lists(st.text(max_size=10), max_size=2), ANY_JSON)),
                kind: subject}  # fmt: skip
    if draw(st.integers(0, 19)) == 7:
        log = draw(ANY_JSON)
    event: dict[str, Any] = {"id": draw(IDS), "created": draw(CREATED),
                             "subscription": subscription, "log": log}  # fmt: skip
    if draw(st.booleans()):
        event["workspaceId"] = draw(often(st.integers(1, 10**12).map(str), ODD_TEXT, st.integers()))
    if draw(st.integers(0, 9)) == 7:
        event[draw(st.sampled_from(["id", "created", "subscription", "log"]))] = draw(ANY_JSON)
    return event


# --- the property --------------------------------------------------------------------------------


def metric_families(client: httpx.Client, relay: Relay) -> dict[str, Any]:
    assert relay.server is not None
    answer = client.get(relay.server.url + "/metrics")
    assert answer.status_code == 200
    return {family.name: family for family in text_string_to_metric_families(answer.text)}


def events_family(client: httpx.Client, relay: Relay, scrape: bool) -> dict[str, Any]:
    """The ``starkrelay_events`` family: from a whole ``/metrics`` scrape (it must answer 200
    and parse), or, cheaper, from the counter itself (the relay serves in this process)."""
    if scrape:
        return metric_families(client, relay)
    return {family.name: family for family in EVENTS.collect()}


def events_taken(families: dict[str, Any]) -> float:
    family = families.get("starkrelay_events")
    return sum(s.value for s in family.samples if s.name.endswith("_total")) if family else 0.0


def test_no_signed_event_gets_a_5xx_or_breaks_metrics(signed_relay: Relay) -> None:
    assert signed_relay.server is not None
    url = signed_relay.server.webhook_url
    store = redis.Redis.from_url(str(signed_relay.settings.redis_url))
    client = httpx.Client(timeout=10)
    seen: dict[str, int] = {}
    sent = [0]
    taken = [events_taken(metric_families(client, signed_relay))]

    @settings(settings.get_profile(PROFILE))
    @given(event=events(), wrap=st.integers(0, 29))
    def check(event: dict[str, Any], wrap: int) -> None:
        if isinstance(event.get("id"), str) and event["id"].isascii() and event["id"].isdigit():
            event["id"] += f"{sent[0]:06d}"  # drawn ids repeat; most events are new
        sent[0] += 1
        document: Any = [event] if wrap == 7 else {"event": event}
        body = json.dumps(document).encode()  # lone surrogates travel as \\ud800 escapes
        keys_before = store.dbsize()
        answer = client.post(
            url,
            content=body,
            headers={"content-type": "application/json", "digital-signature": SIGNER.sign(body)},
        )
        assert answer.status_code in OUTCOMES, (answer.status_code, answer.text)
        outcome = answer.json()["outcome"]
        assert outcome in OUTCOMES[answer.status_code], outcome
        seen[f"{answer.status_code} {outcome}"] = seen.get(f"{answer.status_code} {outcome}", 0) + 1
        families = events_family(client, signed_relay, scrape=sent[0] % 25 == 0)
        for sample in (
            families["starkrelay_events"].samples if "starkrelay_events" in families else ()
        ):
            for name, allowed in LABELS.items():
                assert sample.labels[name] in allowed, sample
        taken_before, taken[0] = taken[0], events_taken(families)
        if answer.status_code != 200:
            assert store.dbsize() == keys_before, "a refused event left keys behind"
            assert taken[0] == taken_before, "a refused event was counted"

    try:
        check()
        assert "starkrelay_events" in metric_families(client, signed_relay)  # still scrapes
    finally:
        client.close()
        store.close()
    print(f"answers by status ({PROFILE}): {dict(sorted(seen.items()))}")
    assert any(o.startswith("200") for o in seen), (
        "no drawn event was accepted: the strategy is too odd"
    )
    assert any(o.startswith("400") for o in seen), (
        "no drawn event was refused: the strategy is too tame"
    )
