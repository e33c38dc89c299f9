"""Our webhook at Stark Bank: registered exactly once for ``API_EXTERNAL_URL``, however many
replicas start at once (a Redis lock serialises them; Stark Bank holds the webhook).

``ensure_webhook`` is the operation (also ``starkrelay webhook ensure``);
``webhook_registered_at_start`` runs it as a background part of the app.
"""

from starkrelay.registration.webhook import (
    SUBSCRIPTIONS,
    RegistrationBusyError,
    ensure_webhook,
    webhook_registered_at_start,
)

__all__ = [
    "SUBSCRIPTIONS",
    "RegistrationBusyError",
    "ensure_webhook",
    "webhook_registered_at_start",
]
