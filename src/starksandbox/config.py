"""Every knob of a starksandbox, as plain data.

Durations are seconds (floats), money is integer cents. A ``SandboxConfig`` is immutable; the
server copies what it needs at start, and faults can be replaced at run time through
``/sandbox/faults`` without touching the rest.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (300.0, 1800.0, 7200.0)


class ThrottleBody(enum.StrEnum):
    """Bodies of a 429: the API's error shape, the text ``Too Many Requests``, or nothing."""

    json = "json"
    plain = "plain"
    empty = "empty"


THROTTLE_BODIES = tuple(body.value for body in ThrottleBody)

FaultValue = float | str | None
"""A fault's value on the wire: a rate, seconds or a count; a body name; null (no header)."""


@dataclass(frozen=True)
class Faults:
    """Misbehaviour to inject; all rates are probabilities in [0, 1], delays are seconds.

    - ``api_error_rate``: share of ``/v2`` requests answered HTTP 500 before anything happens.
    - ``api_throttle_rate``: share of ``/v2`` requests answered HTTP 429 Too Many Requests
      before anything happens (nothing created, no state changed).
    - ``api_throttle_retry_after``: whole seconds sent as ``Retry-After`` with those 429s;
      ``None`` sends no header.
    - ``api_throttle_body``: body of every 429: ``json`` (``{"errors": [{"code":
      "tooManyRequests", ...}]}``), ``plain`` (the text ``Too Many Requests``) or ``empty``.
    - ``api_requests_per_second``: budget of ``/v2`` requests per second of the emulator's
      clock; once this second's budget is spent, further requests in it are answered 429 with
      ``Retry-After: 1``. 0 means no budget.
    - ``api_lost_response_rate``: share of ``/v2`` requests that take effect but are answered
      HTTP 500 anyway (the client cannot tell whether its call worked).
    - ``api_latency``: seconds added before every ``/v2`` answer.
    - ``transfer_refused_after_create_rate``: share of ``POST /v2/transfer`` calls that
      create their transfers and are answered HTTP 400 anyway, with an error code and message
      no client has seen (``unexpectedConflict``), naming no item: the client must look the
      transfers up to learn that they exist.
    - ``webhook_drop_rate``: share of deliveries never sent (no attempt, no retry; the event
      stays ``isDelivered=false``).
    - ``webhook_duplicate_rate``: share of deliveries sent twice.
    - ``webhook_delay``: seconds every delivery waits before it is sent.
    - ``webhook_reorder_window``: each delivery waits a random extra time in [0, window], so
      deliveries arrive out of order.
    - ``transfer_fail_rate``: share of transfers that fail AFTER ``processing`` and
      ``sending``: the receiving bank refuses them, the amount and fee come back to the
      balance, and the transfer gets a ``failed`` log with errors ``["receiverRefused"]``
      (never ``invalidbalance``).
    """

    api_error_rate: float = 0.0
    api_throttle_rate: float = 0.0
    api_throttle_retry_after: int | None = None
    api_throttle_body: str = "json"
    api_requests_per_second: int = 0
    api_lost_response_rate: float = 0.0
    api_latency: float = 0.0
    transfer_refused_after_create_rate: float = 0.0
    webhook_drop_rate: float = 0.0
    webhook_duplicate_rate: float = 0.0
    webhook_delay: float = 0.0
    webhook_reorder_window: float = 0.0
    transfer_fail_rate: float = 0.0

    def __post_init__(self) -> None:
        rates = [f.name for f in fields(self) if f.name.endswith("_rate")]
        _check_ranges(
            self, "fault ", rates, ("api_latency", "webhook_delay", "webhook_reorder_window")
        )
        for name in _COUNTS:
            value = getattr(self, name)
            if value is None and name in _OPTIONAL:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"fault {name} must be a whole number >= 0, got {value!r}")
        if self.api_throttle_body not in THROTTLE_BODIES:
            raise ValueError(
                f"fault api_throttle_body must be one of {list(THROTTLE_BODIES)}, "
                f"got {self.api_throttle_body!r}"
            )

    def to_json(self) -> dict[str, FaultValue]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Faults | None = None) -> Faults:
        """Build faults from a JSON object; keys not given keep the value of ``base``.

        Rates and seconds may be any number, counts a whole number (``3`` or ``3.0``),
        ``api_throttle_retry_after`` also ``null``, ``api_throttle_body`` a body name.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {sorted(known)}")
        values = {name: _from_wire(name, value) for name, value in data.items()}
        return replace(base or cls(), **values)


_COUNTS = ("api_throttle_retry_after", "api_requests_per_second")
_OPTIONAL = ("api_throttle_retry_after",)


def _check_ranges(
    config: object,
    prefix: str,
    rates: Iterable[str],
    seconds: Iterable[str],
    cents: Iterable[str] = (),
) -> None:
    """Refuse a rate outside [0, 1], or negative seconds or cents, naming the field."""
    for name in rates:
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"{prefix}{name} must be within [0, 1], got {getattr(config, name)}")
    for unit, names in (("seconds", seconds), ("cents", cents)):
        for name in names:
            if getattr(config, name) < 0:
                raise ValueError(f"{prefix}{name} must be >= 0 {unit}, got {getattr(config, name)}")


def _from_wire(name: str, value: Any) -> Any:
    """A JSON value as fault ``name``'s type; ``Faults`` checks the result."""
    if name == "api_throttle_body":
        return value
    if name in _COUNTS:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    return float(value)


@dataclass(frozen=True)
class SandboxConfig:
    """Configuration of one emulator.

    - ``projects``: project id -> PEM of that project's public key (requests are signed by it).
    - ``pay_share``: share of new invoices paid automatically, ``pay_delay`` seconds after
      creation (by the emulator's clock).
    - ``invoice_fee`` / ``transfer_fee``: cents charged per credited invoice / per transfer.
    - ``initial_balance``: cents in the workspace at start.
    - ``transfer_processing_delay``: seconds from ``created`` to ``processing`` (and again to
      ``success``, with ``sending`` half way) for a transfer due now.
    - ``retry_schedule``: seconds after the 1st, 2nd, ... failed delivery before the next try.
    - ``delivery_timeout``: seconds a webhook receiver has to answer.
    - ``delivery_concurrency``: deliveries in flight at once.
    - ``access_time_tolerance``: seconds ``Access-Time`` may differ from the real time.
    - ``seed``: makes ids, auto-pay choices and fault draws reproducible.
    - ``signing_key``: PEM of the emulator's own secp256k1 private key (generated if None).
    - ``workspace_id``: id shown in events (derived from the seed if None). Two emulators
      with their own ``workspace_id`` and one ``signing_key`` play two Stark Bank workspaces:
      each one's events verify against the other's ``/v2/public-key``.
    """

    projects: dict[str, str] = field(default_factory=dict)
    pay_share: float = 0.9
    pay_delay: float = 60.0
    invoice_fee: int = 50
    transfer_fee: int = 0
    initial_balance: int = 0
    transfer_processing_delay: float = 2.0
    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    delivery_timeout: float = 10.0
    delivery_concurrency: int = 64
    access_time_tolerance: float = 300.0
    max_body_bytes: int = 1_048_576
    seed: int | None = None
    signing_key: str | None = None
    workspace_id: str | None = None
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        seconds = ("pay_delay", "transfer_processing_delay", "delivery_timeout")
        _check_ranges(self, "", ["pay_share"], seconds, ("invoice_fee", "transfer_fee"))
        if any(delay < 0 for delay in self.retry_schedule):
            raise ValueError(f"retry_schedule must hold seconds >= 0, got {self.retry_schedule}")
        if self.delivery_concurrency < 1:
            raise ValueError("delivery_concurrency must be >= 1")
        if self.workspace_id is not None and not (
            self.workspace_id.isdigit() and len(self.workspace_id) <= 32
        ):
            raise ValueError(f"workspace_id must be 1 to 32 digits, got {self.workspace_id!r}")
