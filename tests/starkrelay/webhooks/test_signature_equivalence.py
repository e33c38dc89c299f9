"""The libsecp256k1 verifier accepts exactly what OpenSSL and ``starkbank.event.parse`` accept.

10,000+ random cases, good and bad: signatures over the raw body and over its sorted-keys
form, high-S twins, wrong keys, tampered bodies, non-canonical and truncated DER, values out
of range, random bytes, bad base64. Every case is checked against OpenSSL (``cryptography``:
strict DER, ``s`` high or low); a sample of every kind is also put through the SDK's
``event.parse`` (pure-Python, slow) against a starksandbox that signs with the same key.

The one documented difference from the SDK: a header must be strict base64 (surrounding
whitespace allowed), where the SDK's decoder skips characters outside the alphabet. So for a
header that is not strict base64 we refuse and the SDK may accept; everywhere else the
answers are equal.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
from dataclasses import dataclass

import coincurve
import pytest
import starkbank
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from starkrelay.webhooks.signature import (
    SignatureError,
    decode_signature,
    load_public_key,
    signature_matches,
)
from starksandbox.keys import private_pem, public_pem
from starksandbox.testing import running_sandbox

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
CASES = 10_400
SDK_SAMPLE_PER_KIND = 10
_ECDSA = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True)
class Case:
    kind: str
    body: bytes
    header: str | None


def _event_body(rng: random.Random, *, sort: bool) -> bytes:
    """A webhook body event.parse can turn into an Event (credited invoice log)."""
    n = rng.randrange(10**15, 10**16)
    invoice = {"id": str(n), "amount": rng.randrange(1, 10**7), "fee": rng.randrange(0, 500),
               "status": "paid", "tags": [f"t{rng.randrange(99)}"], "name": "Maria Ã"}  # fmt: skip
    log = {"id": str(n + 1), "created": "2026-12-01T10:00:00.000000+00:00", "type": "credited",
           "errors": [], "invoice": invoice}  # fmt: skip
    event = {"id": str(n + 2), "created": "2026-12-01T10:00:00.000000+00:00",
             "subscription": "invoice", "log": log, "workspaceId": "1"}  # fmt: skip
    document = {"event": event}
    if sort:
        return json.dumps(document, sort_keys=True).encode()
    indent = rng.choice([None, 1, 2])
    return json.dumps(document, indent=indent, ensure_ascii=rng.random() < 0.5).encode()


def _der(r: int, s: int) -> bytes:
    return encode_dss_signature(r, s)


def _int_bytes(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return b"\x00" + raw if raw[0] & 0x80 else raw


def _non_canonical(rng: random.Random, r: int, s: int) -> bytes:
    """The same integers (or almost), encoded in a way strict DER refuses."""
    rb, sb = _int_bytes(r), _int_bytes(s)
    choice = rng.randrange(7)
    if choice == 0:  # long-form sequence length
        inner = b"\x02" + bytes([len(rb)]) + rb + b"\x02" + bytes([len(sb)]) + sb
        return b"\x30\x81" + bytes([len(inner)]) + inner
    if choice == 1:  # a needless leading zero on r
        rb = b"\x00" + rb
    elif choice == 2:  # a required leading zero dropped (reads as negative)
        rb = rb[1:] if rb[0] == 0 and len(rb) > 1 else rb[:1] + rb[1:]
        rb = bytes([rb[0] | 0x80]) + rb[1:]
    elif choice == 3:  # a byte after the sequence
        return _der(r, s) + bytes([rng.randrange(256)])
    elif choice == 4:  # wrong sequence length
        der = bytearray(_der(r, s))
        der[1] = (der[1] + rng.choice([-1, 1, 2])) % 256
        return bytes(der)
    elif choice == 5:  # wrong tag on s
        inner = b"\x02" + bytes([len(rb)]) + rb + b"\x03" + bytes([len(sb)]) + sb
        return b"\x30" + bytes([len(inner)]) + inner
    else:  # long-form length on an integer
        inner = b"\x02\x81" + bytes([len(rb)]) + rb + b"\x02" + bytes([len(sb)]) + sb
        return b"\x30" + bytes([len(inner)]) + inner
    inner = b"\x02" + bytes([len(rb)]) + rb + b"\x02" + bytes([len(sb)]) + sb
    return b"\x30" + bytes([len(inner)]) + inner


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


class CaseMaker:
    """Random cases of every kind; signatures from libsecp256k1 (fast), never the SDK."""

    def __init__(self, seed: int) -> None:  # one method per kind: _<kind>(body) -> Case
        self.rng = random.Random(seed)
        self.stark = ec.generate_private_key(ec.SECP256K1())
        self.other = ec.generate_private_key(ec.SECP256K1())
        self._signers = {
            "stark": coincurve.PrivateKey(_secret(self.stark)),
            "other": coincurve.PrivateKey(_secret(self.other)),
        }

    def rs(self, message: bytes, who: str = "stark") -> tuple[int, int]:
        return decode_dss_signature(self._signers[who].sign(message))

    def make(self, kind: str) -> Case:
        body = _event_body(self.rng, sort=True)
        made: Case = getattr(self, f"_{kind}")(body)
        return Case(kind, made.body, made.header)

    def _good_raw(self, _: bytes) -> Case:
        loose = _event_body(self.rng, sort=False)
        return Case("", loose, _b64(_der(*self.rs(loose))))

    def _good_sorted_form(self, _: bytes) -> Case:
        loose = _event_body(self.rng, sort=False)
        normalised = json.dumps(json.loads(loose), sort_keys=True).encode()
        return Case("", loose, _b64(_der(*self.rs(normalised))))

    def _good_high_s(self, body: bytes) -> Case:
        r, s = self.rs(body)
        return Case("", body, _b64(_der(r, N - s)))

    def _good_padded_header(self, body: bytes) -> Case:
        return Case("", body, f" {_b64(_der(*self.rs(body)))}\n")

    def _wrong_key(self, body: bytes) -> Case:
        return Case("", body, _b64(_der(*self.rs(body, "other"))))

    def _wrong_key_high_s(self, body: bytes) -> Case:
        r, s = self.rs(body, "other")
        return Case("", body, _b64(_der(r, N - s)))

    def _non_canonical_der(self, body: bytes) -> Case:
        return Case("", body, _b64(_non_canonical(self.rng, *self.rs(body))))

    def _random_bytes(self, body: bytes) -> Case:
        size = self.rng.randrange(1, 80)
        return Case("", body, _b64(bytes(self.rng.randrange(256) for _ in range(size))))

    def _missing(self, body: bytes) -> Case:
        return Case("", body, self.rng.choice([None, "", "   "]))

    def _tampered_body(self, body: bytes) -> Case:
        r, s = self.rs(body)
        if self.rng.random() < 0.5:
            s = N - s
        changed = body.replace(b'"paid"', b'"void"')  # (added spaces would still pass)
        return Case("", changed, _b64(_der(r, s)))

    def _truncated_der(self, body: bytes) -> Case:
        der = _der(*self.rs(body))
        return Case("", body, _b64(der[: self.rng.randrange(0, len(der))]))

    def _out_of_range(self, body: bytes) -> Case:
        r, s = self.rs(body)
        r, s = self.rng.choice(
            [(0, s), (r, 0), (N, s), (r, N), (r + N, s), (r, s + N), (N + 1, N - 1), (1, 1)]
        )
        return Case("", body, _b64(_der(r, s)))

    def _bad_base64(self, body: bytes) -> Case:
        text = _b64(_der(*self.rs(body)))
        at = self.rng.randrange(1, len(text))  # inside: surrounding spaces are allowed
        mutated = self.rng.choice(
            [
                text[:at] + "!" + text[at:],  # a character outside the alphabet
                text[:at] + " " + text[at:],  # a space inside
                text.rstrip("=") + "A",  # bad padding
                text.replace("+", "-").replace("/", "_") + "-",  # url-safe alphabet
                "not base64 at all",
            ]
        )
        return Case("", body, mutated)


KINDS = [
    "good_raw", "good_sorted_form", "good_high_s", "good_padded_header", "wrong_key",
    "wrong_key_high_s", "tampered_body", "non_canonical_der", "truncated_der", "out_of_range",
    "random_bytes", "bad_base64", "missing",
]  # fmt: skip


def _secret(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_numbers().private_value.to_bytes(32, "big")


def ours(key: coincurve.PublicKey, case: Case) -> bool:
    try:
        der = decode_signature(case.header)
    except SignatureError:
        return False
    return signature_matches(key, der, case.body)


def strict_base64(header: str | None) -> bytes | None:
    if not header or not header.strip():
        return None
    try:
        return base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def openssl(key: ec.EllipticCurvePublicKey, case: Case) -> bool:
    """OpenSSL's answer: strict DER (it re-encodes and compares), any s in [1, n-1]."""
    der = strict_base64(case.header)
    if der is None:
        return False
    messages = [case.body]
    try:
        normalised = json.dumps(json.loads(case.body), sort_keys=True).encode()
        if normalised != case.body:
            messages.append(normalised)
    except ValueError:
        pass
    for message in messages:
        try:
            key.verify(der, message, _ECDSA)
            return True
        except InvalidSignature:
            continue
    return False


def sdk(case: Case) -> bool:
    try:
        starkbank.event.parse(content=case.body.decode(), signature=case.header)
    except starkbank.error.InvalidSignatureError:
        return False
    return True


def all_cases(maker: CaseMaker) -> list[Case]:
    return [maker.make(KINDS[n % len(KINDS)]) for n in range(CASES)]


def test_ten_thousand_cases_agree_with_openssl() -> None:
    maker = CaseMaker(seed=20261201)
    cases = all_cases(maker)
    key = load_public_key(public_pem(maker.stark))
    reference = maker.stark.public_key()
    accepted: dict[str, int] = {}
    for case in cases:
        answer = ours(key, case)
        assert answer == openssl(reference, case), case
        accepted[case.kind] = accepted.get(case.kind, 0) + answer
    per_kind = len(cases) // len(KINDS)
    for kind in ("good_raw", "good_sorted_form", "good_high_s", "good_padded_header"):
        assert accepted[kind] >= per_kind, kind  # every good case passes
    for kind in ("wrong_key", "wrong_key_high_s", "tampered_body", "out_of_range", "missing"):
        assert accepted[kind] == 0, kind
    assert accepted["non_canonical_der"] == 0
    assert accepted["bad_base64"] == 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_sample_of_each_kind_agrees_with_event_parse(kind: str) -> None:
    maker = CaseMaker(seed=KINDS.index(kind))
    with running_sandbox(signing_key=private_pem(maker.stark)):
        key = load_public_key(public_pem(maker.stark))
        for _ in range(SDK_SAMPLE_PER_KIND):
            case = maker.make(kind)
            answer, expected = ours(key, case), sdk(case)
            if strict_base64(case.header) is None and case.header and case.header.strip():
                assert not answer or expected, case  # never accept what the SDK refuses
            else:
                assert answer == expected, case
