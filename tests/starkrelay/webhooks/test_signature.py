"""Signature checks: starkbank.event.parse semantics, cheaper under a forged flood."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from ellipticcurve import Ecdsa, PrivateKey, Signature

from starkrelay.webhooks.signature import (
    PublicKeyUnavailable,
    SignatureError,
    SignatureVerifier,
    decode_signature,
)

pytestmark = pytest.mark.anyio

BODY = {"event": {"id": "5415223380934656", "subscription": "invoice", "log": {"type": "credited"}}}
SORTED = json.dumps(BODY, sort_keys=True)
_N = int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)


class Keys:
    """A key pair usable from both libraries; counts public-key fetches."""

    def __init__(self) -> None:
        self.private = PrivateKey()
        self.pem: str = self.private.publicKey().toPem()
        self.fetches = 0

    async def fetch(self) -> str:
        self.fetches += 1
        return self.pem

    def sign_sdk(self, message: str) -> str:
        return str(Ecdsa.sign(message, self.private).toBase64())

    def sign_openssl(self, message: str) -> str:
        # from the secret, not from toPem(): that PEM drops a leading zero byte of the
        # secret (one key in 256), which OpenSSL refuses
        key = ec.derive_private_key(self.private.secret, ec.SECP256K1())
        return base64.b64encode(key.sign(message.encode(), ec.ECDSA(hashes.SHA256()))).decode()


def verifier(
    keys: Keys, refresh: float = 60.0, clock: list[float] | None = None
) -> SignatureVerifier:
    now = clock if clock is not None else [0.0]
    return SignatureVerifier(keys.fetch, refresh_min_seconds=refresh, clock=lambda: now[0])


@pytest.mark.parametrize("signer", ["sign_sdk", "sign_openssl"])
async def test_accepts_the_raw_body_signed_by_either_library(signer: str) -> None:
    keys = Keys()
    body = json.dumps(BODY, indent=1)  # not sorted form: only the raw check can pass
    await verifier(keys).verify(body.encode(), getattr(keys, signer)(body))
    assert keys.fetches == 1


async def test_accepts_a_sorted_keys_signature_over_a_reformatted_body() -> None:
    keys = Keys()
    signature = keys.sign_sdk(SORTED)
    reformatted = json.dumps(BODY, indent=4, sort_keys=False).encode()
    await verifier(keys).verify(reformatted, signature)


async def test_a_compact_signature_fails_once_the_body_is_re_serialised() -> None:
    keys = Keys()
    compact = json.dumps(BODY, separators=(",", ":"))
    signature = keys.sign_sdk(compact)
    with pytest.raises(SignatureError):
        await verifier(keys).verify(json.dumps(BODY, indent=2).encode(), signature)


async def test_forged_content_is_refused_and_refresh_is_rate_limited() -> None:
    keys = Keys()
    clock = [0.0]
    check = verifier(keys, refresh=60, clock=clock)
    signature = keys.sign_sdk(SORTED)
    forged = SORTED.replace("credited", "creditex").encode()
    for _ in range(50):
        with pytest.raises(SignatureError):
            await check.verify(forged, signature)
    assert keys.fetches == 1  # first load only; refreshes wait out the interval
    clock[0] = 61.0
    with pytest.raises(SignatureError):
        await check.verify(forged, signature)
    assert keys.fetches == 2


async def test_another_keys_signature_is_refused() -> None:
    ours, theirs = Keys(), Keys()
    with pytest.raises(SignatureError):
        await verifier(ours, refresh=0).verify(SORTED.encode(), theirs.sign_sdk(SORTED))
    assert ours.fetches == 2  # the one refresh the SDK would also make


async def test_a_rotated_key_is_picked_up_by_one_refresh() -> None:
    keys = Keys()
    clock = [0.0]
    check = verifier(keys, refresh=60, clock=clock)
    await check.verify(SORTED.encode(), keys.sign_sdk(SORTED))
    keys.private = PrivateKey()
    keys.pem = keys.private.publicKey().toPem()
    clock[0] = 100.0
    await check.verify(SORTED.encode(), keys.sign_sdk(SORTED))
    assert keys.fetches == 2


async def test_concurrent_mismatches_share_one_refresh() -> None:
    keys = Keys()
    check = verifier(keys, refresh=0)
    forged = keys.sign_sdk("something else")

    await check.verify(SORTED.encode(), keys.sign_sdk(SORTED))
    results = await asyncio.gather(
        *(check.verify(SORTED.encode() + b" ", forged) for _ in range(20)),
        return_exceptions=True,
    )
    results = list(results)
    assert all(isinstance(r, SignatureError) for r in results)
    assert keys.fetches <= 21  # never more than one refresh per mismatching request
    assert keys.fetches >= 2


@pytest.mark.parametrize(
    "header",
    [None, "", "not base64!!", base64.b64encode(b"\x30\x03\x02\x01").decode(), "AAAA"],
)
async def test_malformed_headers_are_refused_without_fetching(header: str | None) -> None:
    keys = Keys()
    with pytest.raises(SignatureError):
        await verifier(keys).verify(SORTED.encode(), header)
    assert keys.fetches == 0


def test_non_canonical_der_is_refused_like_the_sdk() -> None:
    keys = Keys()
    good = base64.b64decode(keys.sign_sdk(SORTED))
    r, s = decode_dss_signature(good)
    # long-form length byte: same integers, non-canonical encoding
    body = encode_dss_signature(r, s)[2:]
    padded = bytes([0x30, 0x81, len(body)]) + body
    header = base64.b64encode(padded).decode()
    with pytest.raises(Exception, match="canonical"):
        Signature.fromBase64(header)
    with pytest.raises(SignatureError, match="DER"):
        decode_signature(header)


async def test_high_s_and_out_of_range_values_are_refused() -> None:
    keys = Keys()
    good = base64.b64decode(keys.sign_sdk(SORTED))
    r, s = decode_dss_signature(good)
    high_s = base64.b64encode(encode_dss_signature(r, _N - s)).decode()
    await verifier(keys).verify(SORTED.encode(), high_s)  # ECDSA accepts both; so does the SDK
    out_of_range = base64.b64encode(encode_dss_signature(r, _N + 1)).decode()
    with pytest.raises(SignatureError):
        await verifier(keys).verify(SORTED.encode(), out_of_range)


async def test_key_fetch_failure_answers_unavailable_and_is_rate_limited() -> None:
    calls = 0

    async def broken() -> str:
        nonlocal calls
        calls += 1
        raise ConnectionError("down")

    check = SignatureVerifier(broken, refresh_min_seconds=60, clock=lambda: 0.0)
    for _ in range(3):
        with pytest.raises(PublicKeyUnavailable):
            await check.verify(SORTED.encode(), Keys().sign_sdk(SORTED))
    assert calls == 1
