"""Stark Bank: the only package that imports ``starkbank``.

Use ``BankGateway`` (typed async calls), the dataclasses in ``bank.models`` and the errors in
``bank.errors``. The gateway keeps no state; registering our webhook exactly once (which holds
a lock in Redis) is ``starkrelay.webhooks.registration``.
"""

from starkrelay.bank.errors import BankError, BankInputError, BankUnavailableError
from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.models import (
    Balance,
    Invoice,
    InvoiceLog,
    NewInvoice,
    NewTransfer,
    ProviderError,
    Transfer,
    TransferLog,
    Webhook,
)
from starkrelay.core.retry import RetryPolicy

__all__ = [
    "Balance",
    "BankError",
    "BankGateway",
    "BankInputError",
    "BankUnavailableError",
    "Invoice",
    "InvoiceLog",
    "NewInvoice",
    "NewTransfer",
    "ProviderError",
    "RetryPolicy",
    "Transfer",
    "TransferLog",
    "Webhook",
]
