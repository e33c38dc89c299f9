"""Request authentication exactly as the SDK signs.

The SDK sends ``Access-Id`` (``project/<id>``), ``Access-Time`` (epoch seconds, float or int)
and ``Access-Signature``: base64 of a DER ECDSA secp256k1/SHA-256 signature over
``"<Access-Id>:<Access-Time>:<raw body>"``. Verification uses OpenSSL through
``cryptography``. Refusals are HTTP 400 with one error:

- ``invalidAccessId``: header missing, malformed, or naming a project not registered;
- ``invalidAccessTime``: header missing, not a number, or more than the configured tolerance
  away from the real time (the emulator's own clock offset does not count);
- ``invalidCredentials``: signature missing, not base64/DER, or not matching the key.
"""

from __future__ import annotations

import base64
import binascii
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from starksandbox.web import ApiError

_ECDSA = ec.ECDSA(hashes.SHA256())


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """Parse a project's public key PEM; refuses anything but secp256k1."""
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256K1):
        raise ValueError("a project public key must be an EC secp256k1 key in PEM form")
    return key


def _required_header(headers: dict[str, str], name: str, code: str) -> str:
    """The non-empty value of header ``name`` (``headers`` has lower-case keys), else ``code``."""
    value = headers.get(name.lower())
    if not value:
        raise ApiError.one(code, f"The {name} header is missing")
    return value


class Authenticator:
    """Verifies signed requests against the registered project keys."""

    def __init__(self, projects: dict[str, str], tolerance: float) -> None:
        self.tolerance = tolerance
        self._keys = {f"project/{pid}": load_public_key(pem) for pid, pem in projects.items()}

    def register(self, project_id: str, public_key_pem: str) -> None:
        self._keys[f"project/{project_id}"] = load_public_key(public_key_pem)

    def project_ids(self) -> list[str]:
        return [access_id.split("/", 1)[1] for access_id in self._keys]

    def verify(self, headers: dict[str, str], body: bytes) -> str:
        """Return the Access-Id of a correctly signed request, else raise ``ApiError``."""
        access_id = _required_header(headers, "Access-Id", "invalidAccessId")
        key = self._keys.get(access_id)
        if key is None:
            raise ApiError.one(
                "invalidAccessId",
                f"Access-Id {access_id!r} names no registered project; expected project/<id>",
            )
        access_time = _required_header(headers, "Access-Time", "invalidAccessTime")
        try:
            sent = float(access_time)
        except ValueError:
            raise ApiError.one(
                "invalidAccessTime", "Access-Time must be epoch seconds, e.g. 1700000000.123"
            ) from None
        if abs(time.time() - sent) > self.tolerance:
            raise ApiError.one(
                "invalidAccessTime",
                f"Access-Time is more than {self.tolerance:g} seconds away from the server time",
            )
        signature = _required_header(headers, "Access-Signature", "invalidCredentials")
        try:
            der = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            der = b""
        message = access_id.encode() + b":" + access_time.encode() + b":" + body
        try:
            key.verify(der, message, _ECDSA)
        except (InvalidSignature, ValueError):
            raise ApiError.one(
                "invalidCredentials",
                "Provided digital signature in the header Access-Signature does not check out",
            ) from None
        return access_id
