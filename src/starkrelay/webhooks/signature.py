"""Verification of Stark Bank's `Digital-Signature` header over a webhook body.

Same acceptance rule as ``starkbank.event.parse`` (``starkcore.utils.parse.verify``):

1. the header is base64 of a canonical DER ``SEQUENCE{r, s}``; anything else is refused
   without touching the network;
2. ECDSA (secp256k1, SHA-256) is checked over the raw body bytes, then over
   ``json.dumps(json.loads(body), sort_keys=True)``;
3. if both fail, the public key is fetched again once and step 2 is repeated.

Differences that only make it cheaper: the maths runs in libsecp256k1 (through
``coincurve``), about ten times faster than OpenSSL; the sorted-keys check is skipped when it
would hash the very same bytes; and key refreshes are rate-limited
(``PUBLIC_KEY_REFRESH_MIN_SECONDS``) and coalesced, so a flood of forged requests costs at
most one or two verifications each and never more than one key fetch per interval.

libsecp256k1 accepts only low-S signatures (``s <= n/2``) while ECDSA, OpenSSL and the SDK
accept ``s`` and ``n - s`` alike; a high-S signature is therefore normalised (``s`` replaced
by ``n - s``, an equally valid signature of the same message) before the check, so the set of
accepted signatures is exactly the SDK's (``tests/.../test_signature_equivalence.py`` checks
it against OpenSSL and ``event.parse``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable

import structlog
from coincurve import PublicKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

log = structlog.get_logger(__name__)

PublicKeyFetcher = Callable[[], Awaitable[str]]
"""Returns the PEM of the key Stark Bank currently signs webhooks with."""

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""Order of the secp256k1 group."""


class SignatureError(Exception):
    """The body is not signed by Stark Bank's current key (or the header is unusable)."""


class PublicKeyUnavailable(Exception):
    """No public key is known yet and it could not be fetched (answer 503: Stark Bank retries)."""


def decode_signature(header: str | None) -> bytes:
    """Return the DER bytes of a `Digital-Signature` header value, in low-S form.

    Raises SignatureError when the header is missing, not base64, or not a canonical DER
    ECDSA signature (the SDK's ``Signature.fromBase64`` refuses the same inputs). A high-S
    signature comes back as its low-S twin (same validity for every message and key).
    """
    if not header:
        raise SignatureError("the Digital-Signature header is missing")
    try:
        der = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("the Digital-Signature header is not valid base64") from exc
    try:
        r, s = decode_dss_signature(der)
        canonical = encode_dss_signature(r, s)
    except ValueError as exc:
        raise SignatureError("the Digital-Signature header is not a DER signature") from exc
    if canonical != der:
        raise SignatureError("the Digital-Signature header is not in canonical DER form")
    if _N // 2 < s < _N:
        return encode_dss_signature(r, _N - s)
    return der


def load_public_key(pem: str) -> PublicKey:
    """Parse a PEM public key, requiring secp256k1 (the only curve Stark Bank signs with)."""
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256K1):
        raise ValueError("the webhook public key is not a secp256k1 EC key")
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return PublicKey(point)


def sorted_form(body: bytes) -> bytes | None:
    """The body as ``json.dumps(json.loads(body), sort_keys=True)``, or None if it is not JSON."""
    try:
        return json.dumps(json.loads(body), sort_keys=True).encode()
    except (ValueError, RecursionError):
        return None


def _verifies(key: PublicKey, der: bytes, message: bytes) -> bool:
    # r or s out of [1, n - 1] parses as an all-zero signature, which never verifies
    return key.verify(der, message)


def signature_matches(key: PublicKey, der: bytes, body: bytes) -> bool:
    """True when `der` (low-S, from ``decode_signature``) signs `body` as received or its
    sorted-keys JSON form, with ECDSA over SHA-256."""
    if _verifies(key, der, body):
        return True
    normalised = sorted_form(body)
    if normalised is None or normalised == body:
        return False
    return _verifies(key, der, normalised)


class SignatureVerifier:
    """Checks webhook signatures against a cached Stark Bank public key.

    One instance per process: the key is fetched on first use and kept. On a mismatch the
    key is fetched again only if the last fetch is at least `refresh_min_seconds` old;
    concurrent mismatches share one fetch. A fetch that fails leaves the cached key in place
    and the request is refused (Stark Bank retries later).
    """

    def __init__(
        self,
        fetch_public_key: PublicKeyFetcher,
        *,
        refresh_min_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch_public_key
        self._refresh_min_seconds = refresh_min_seconds
        self._clock = clock
        self._key: PublicKey | None = None
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0
        """How many times the key was fetched (exposed for metrics and tests)."""

    async def verify(self, body: bytes, header: str | None) -> None:
        """Return when `header` is a valid Stark Bank signature of `body`; else SignatureError."""
        der = decode_signature(header)
        key = self._key or await self._first_key()
        if signature_matches(key, der, body):
            return
        fresher = await self._refresh_if_allowed(key)
        if fresher is not None and signature_matches(fresher, der, body):
            return
        raise SignatureError("the signature and content do not match Stark Bank's public key")

    async def _refresh_if_allowed(self, stale: PublicKey) -> PublicKey | None:
        """A key different from `stale`, if one could be fetched now; else None."""
        async with self._lock:
            if self._key is not stale and self._key is not None:
                return self._key  # another request refreshed while we waited
            if self._fetched_at is not None and (
                self._clock() - self._fetched_at < self._refresh_min_seconds
            ):
                return None
            try:
                fresh = await self._fetch_locked()
            except Exception as exc:  # any fetch failure keeps the old key
                log.warning("webhooks.public_key.refresh_failed", error=type(exc).__name__)
                return None
        return None if _same_key(fresh, stale) else fresh

    async def _first_key(self) -> PublicKey:
        async with self._lock:
            if self._key is not None:
                return self._key
            if self._fetched_at is not None and (
                self._clock() - self._fetched_at < self._refresh_min_seconds
            ):
                raise PublicKeyUnavailable("the public key fetch failed recently; retry later")
            try:
                return await self._fetch_locked()
            except Exception as exc:
                log.warning("webhooks.public_key.fetch_failed", error=type(exc).__name__)
                raise PublicKeyUnavailable(
                    "could not fetch Stark Bank's public key to verify the webhook"
                ) from exc

    async def _fetch_locked(self) -> PublicKey:
        self._fetched_at = self._clock()
        self.fetch_count += 1
        key = load_public_key(await self._fetch())
        self._key = key
        log.info("webhooks.public_key.fetched", fetch_count=self.fetch_count)
        return key


def _same_key(a: PublicKey, b: PublicKey) -> bool:
    return a.format() == b.format()
