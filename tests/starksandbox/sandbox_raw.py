"""Raw signed HTTP calls, for what the SDK cannot send (bad signatures, odd bodies)."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from starksandbox.testing import SandboxHandle


def sign(private_pem: str, message: bytes) -> str:
    key = load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return base64.b64encode(key.sign(message, ec.ECDSA(hashes.SHA256()))).decode()


def signed_headers(
    sb: SandboxHandle, body: bytes, access_time: str | None = None, access_id: str | None = None
) -> dict[str, str]:
    access_id = access_id or f"project/{sb.project_id}"
    access_time = access_time or str(time.time())
    message = f"{access_id}:{access_time}:".encode() + body
    return {
        "Access-Id": access_id,
        "Access-Time": access_time,
        "Access-Signature": sign(sb.private_key, message),
        "Content-Type": "application/json",
    }


def call(
    sb: SandboxHandle,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.request(
        method, sb.url + path, content=body, headers=headers or signed_headers(sb, body), timeout=10
    )


def errors(response: httpx.Response) -> list[str]:
    data: dict[str, Any] = response.json()
    return [error["code"] for error in data["errors"]]
