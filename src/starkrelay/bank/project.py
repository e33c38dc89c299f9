"""The SDK user the gateway passes on every call: a ``starkbank.Project`` whose private key is
parsed once.

The SDK's ``User.private_key()`` parses the PEM again every time it signs a request (about
2 ms of pure Python per call, a fifth of a 100-transfer ``transfer.create``). ``ParsedKeyProject``
parses it when built and hands the same ``ellipticcurve.PrivateKey`` to every request; signing
itself is unchanged (the SDK's ``Ecdsa.sign`` over ``access_id:access_time:body``). The key
object is read-only during signing, so one instance is safe across the gateway's threads.
"""

from __future__ import annotations

import starkbank
from ellipticcurve import PrivateKey


class ParsedKeyProject(starkbank.Project):  # type: ignore[misc]
    """``starkbank.Project`` with the private key parsed once, at construction.

    Refuses a key that is not secp256k1 PEM exactly as ``starkbank.Project`` does (the SDK's
    check runs first).
    """

    def __init__(self, *, environment: str, id: str, private_key: str) -> None:
        super().__init__(environment=environment, id=id, private_key=private_key)
        self._parsed_key: PrivateKey = PrivateKey.fromPem(self.pem)

    def private_key(self) -> PrivateKey:
        """The parsed key (the SDK calls this once per request it signs)."""
        return self._parsed_key
