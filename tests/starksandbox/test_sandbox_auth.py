"""Request authentication and transport rules, through raw HTTP where the SDK cannot go."""

from __future__ import annotations

import time

import pytest
import starkbank
from sandbox_raw import call, errors, signed_headers
from starkbank.error import InputErrors

from starksandbox.keys import Signer, load_private_pem, new_key_pair
from starksandbox.testing import SandboxHandle


def test_sdk_signed_requests_pass(sandbox: SandboxHandle) -> None:
    balance = starkbank.balance.get()
    assert balance.amount == 0
    assert balance.currency == "BRL"


def test_wrong_key_is_invalid_credentials(sandbox: SandboxHandle) -> None:
    other_private, _ = new_key_pair()
    intruder = starkbank.Project(
        environment="sandbox", id=sandbox.project_id, private_key=other_private
    )
    with pytest.raises(InputErrors) as caught:
        starkbank.balance.get(user=intruder)
    assert [e.code for e in caught.value.errors] == ["invalidCredentials"]


def test_unknown_project_is_invalid_access_id(sandbox: SandboxHandle) -> None:
    stranger = starkbank.Project(environment="sandbox", id="1234", private_key=sandbox.private_key)
    with pytest.raises(InputErrors) as caught:
        starkbank.balance.get(user=stranger)
    assert [e.code for e in caught.value.errors] == ["invalidAccessId"]


def test_tampered_body_is_refused(sandbox: SandboxHandle) -> None:
    headers = signed_headers(sandbox, b'{"invoices": []}')
    response = call(sandbox, "POST", "/v2/invoice", b'{"invoices": [1]}', headers)
    assert response.status_code == 400
    assert errors(response) == ["invalidCredentials"]


@pytest.mark.parametrize("skew", [-301.0, 301.0])
def test_stale_access_time_is_refused(sandbox: SandboxHandle, skew: float) -> None:
    headers = signed_headers(sandbox, b"", access_time=str(time.time() + skew))
    response = call(sandbox, "GET", "/v2/balance", headers=headers)
    assert response.status_code == 400
    assert errors(response) == ["invalidAccessTime"]


def test_integer_access_time_is_accepted(sandbox: SandboxHandle) -> None:
    headers = signed_headers(sandbox, b"", access_time=str(int(time.time())))
    assert call(sandbox, "GET", "/v2/balance", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("drop", "code"),
    [
        ("Access-Id", "invalidAccessId"),
        ("Access-Time", "invalidAccessTime"),
        ("Access-Signature", "invalidCredentials"),
    ],
)
def test_missing_header_is_refused(sandbox: SandboxHandle, drop: str, code: str) -> None:
    headers = signed_headers(sandbox, b"")
    del headers[drop]
    response = call(sandbox, "GET", "/v2/balance", headers=headers)
    assert response.status_code == 400
    assert errors(response) == [code]


def test_garbage_signature_is_refused(sandbox: SandboxHandle) -> None:
    headers = signed_headers(sandbox, b"")
    headers["Access-Signature"] = "not base64 at all!"
    response = call(sandbox, "GET", "/v2/balance", headers=headers)
    assert errors(response) == ["invalidCredentials"]


def test_malformed_json_is_invalid_json(sandbox: SandboxHandle) -> None:
    response = call(sandbox, "POST", "/v2/invoice", b'{"invoices": [')
    assert response.status_code == 400
    assert errors(response) == ["invalidJson"]


def test_oversized_body_is_refused(sandbox: SandboxHandle) -> None:
    body = b'{"invoices": ["' + b"x" * 1_100_000 + b'"]}'
    response = call(sandbox, "POST", "/v2/invoice", body)
    assert response.status_code == 400
    assert errors(response) == ["invalidJson"]


def test_repeated_and_trailing_slashes_collapse(sandbox: SandboxHandle) -> None:
    response = call(sandbox, "GET", "/v2//public-key?limit=1")
    assert response.status_code == 200
    key = response.json()["publicKeys"][0]
    assert key["content"].startswith("-----BEGIN PUBLIC KEY-----")
    assert response.json()["cursor"] is None
    assert call(sandbox, "GET", "/v2//balance/").status_code == 200


def test_raw_sdk_request_with_double_slash(sandbox: SandboxHandle) -> None:
    response = starkbank.request.get(path="/balance/")
    assert response.status == 200
    assert response.json()["balances"][0]["amount"] == 0


def test_unknown_route_is_not_found(sandbox: SandboxHandle) -> None:
    response = call(sandbox, "GET", "/v2/nothing-here")
    assert response.status_code == 404
    assert errors(response) == ["notFound"]


def test_the_signing_key_may_be_an_sdk_written_pem_with_a_short_secret() -> None:
    from ellipticcurve import Ecdsa, PrivateKey, PublicKey, Signature

    sdk_key = PrivateKey(secret=0xB36F7739EB6048BC20C919CA4DED53DF94107E6638A91AFEEC484E2C5C744C)
    signer = Signer(load_private_pem(sdk_key.toPem()))
    signature = Signature.fromBase64(signer.sign(b"body"))
    assert Ecdsa.verify("body", signature, PublicKey.fromPem(signer.public_pem))
    with pytest.raises(ValueError, match="PEM form"):
        load_private_pem("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
