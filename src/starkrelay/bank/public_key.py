"""Stark Bank's webhook signing key, as last fetched by this process.

``StarkPublicKey.fetch`` is a ``PublicKeyFetcher`` (``async () -> PEM``): give it to the webhook
verifier, which decides when to refresh. Readiness asks ``loaded``. The app tries to load the
key at start (``load``), so the first webhook does not wait for it.
"""

from __future__ import annotations

import anyio
import structlog

from starkrelay.bank.errors import BankError
from starkrelay.bank.gateway import BankGateway
from starkrelay.core import metrics

log = structlog.get_logger("starkrelay.bank")


class StarkPublicKey:
    """Holds the PEM of Stark Bank's current public key once fetched."""

    def __init__(self, bank: BankGateway) -> None:
        self._bank = bank
        self.pem: str | None = None

    @property
    def loaded(self) -> bool:
        """True once a key has been fetched successfully."""
        return self.pem is not None

    async def fetch(self) -> str:
        """Fetch the current key now, remember it and return it (gateway errors propagate)."""
        pem = await self._bank.fetch_public_key()
        if pem != self.pem:
            log.info("bank.public_key.loaded", refreshed=self.pem is not None)
        self.pem = pem
        metrics.PUBLIC_KEY_LOADED.set(1)
        return pem

    async def load(self, *, attempts: int = 0, pause: float = 5.0) -> None:
        """Try to fetch until it works (``attempts`` = 0: forever); never raises BankError."""
        tried = 0
        while not self.loaded:
            try:
                await self.fetch()
            except BankError as error:
                tried += 1
                log.warning("bank.public_key.unavailable", error=str(error), attempt=tried)
                if attempts and tried >= attempts:
                    return
                await anyio.sleep(pause)
