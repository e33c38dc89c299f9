"""Redis: the connection, every key name, and the scripts that must run atomically.

The only package that knows key names (``keys.Keys``). Modules by concept:

- ``connection``: the client type (``Redis``, responses decoded to ``str``) and how to build it;
- ``keys``: the ``Keys`` builder, every key name under ``REDIS_KEY_PREFIX``;
- ``claims``: owner-token claims and locks (``claim``, ``release``, ``extend``);
- ``ledger``: the invoice ledger and forward stream scripts (``intake_event``,
  ``settle_forwards``, ``requeue_lost_entry``);
- ``dead_letters``: re-driving a dead letter (``redrive_dead_letter``,
  ``record_dead_letter_transfer``);
- ``server_info``: what the server says about itself (``server_facts``: version, eviction
  policy, persistence), for ``starkrelay doctor``.

Every public name is importable from ``starkrelay.store`` itself; callers need not know which
module holds it.
"""

from starkrelay.store.claims import claim, extend, new_token, release
from starkrelay.store.connection import (
    MAX_CONNECTIONS,
    Redis,
    connect,
    connect_from_settings,
    redis_answers,
)
from starkrelay.store.dead_letters import (
    RedriveOutcome,
    record_dead_letter_transfer,
    redrive_dead_letter,
)
from starkrelay.store.keys import Keys, keys_from_settings
from starkrelay.store.ledger import (
    FORWARD_GROUP,
    FORWARD_STAGES,
    RequeueOutcome,
    Settlement,
    intake_event,
    requeue_lost_entry,
    settle_forward,
    settle_forwards,
)
from starkrelay.store.server_info import ServerFacts, server_facts

__all__ = [
    "FORWARD_GROUP",
    "FORWARD_STAGES",
    "MAX_CONNECTIONS",
    "Keys",
    "Redis",
    "RedriveOutcome",
    "RequeueOutcome",
    "ServerFacts",
    "Settlement",
    "claim",
    "connect",
    "connect_from_settings",
    "extend",
    "intake_event",
    "keys_from_settings",
    "new_token",
    "record_dead_letter_transfer",
    "redis_answers",
    "redrive_dead_letter",
    "release",
    "requeue_lost_entry",
    "server_facts",
    "settle_forward",
    "settle_forwards",
]
