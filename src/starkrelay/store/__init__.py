"""Redis: the connection, every key name, and the scripts that must run atomically.

The only package that knows key names (``keys.Keys``). Modules by concept:

- ``connection``: the client type (``Redis``, responses decoded to ``str``) and how to build it;
- ``keys``: the ``Keys`` builder, every key name under ``REDIS_KEY_PREFIX``;
- ``claims``: owner-token claims and locks (``claim``, ``release``, ``extend``, ``hold``);
- ``ledger``: the invoice ledger and forward stream scripts (``intake_event``,
  ``settle_forwards``, ``requeue_lost_entry``);
- ``workspace``: our Stark Bank workspace id once learned (``learn_workspace_id``,
  ``learned_workspace_id``);
- ``dead_letters``: re-driving a dead letter (``redrive_dead_letter``,
  ``record_dead_letter_transfer``);
- ``deliveries``: webhook deliveries per invoice (``record_delivery``, ``load_deliveries``);
- ``server_info``: what the server says about itself (``server_facts``: version, eviction
  policy, persistence), for ``starkrelay doctor``;
- ``waiting``: forwards waiting for the balance (``list_waiting``, ``release_waiting``,
  ``record_waiting_transfer``).

Every public name is importable from ``starkrelay.store`` itself; callers need not know which
module holds it.
"""

from starkrelay.store.claims import claim, extend, hold, new_token, release
from starkrelay.store.connection import (
    MAX_CONNECTIONS,
    Redis,
    connect,
    connect_from_settings,
    redis_answers,
    redis_hint,
)
from starkrelay.store.dead_letters import (
    RedriveOutcome,
    record_dead_letter_transfer,
    redrive_dead_letter,
)
from starkrelay.store.deliveries import DELIVERIES_KEPT, load_deliveries, record_delivery
from starkrelay.store.keys import Keys, keys_from_settings
from starkrelay.store.ledger import (
    FORWARD_GROUP,
    FORWARD_STAGES,
    LEDGER_TTL_SECONDS,
    RequeueOutcome,
    Settlement,
    intake_event,
    requeue_lost_entry,
    settle_forward,
    settle_forwards,
)
from starkrelay.store.refusals import reopen_refused
from starkrelay.store.server_info import ServerFacts, server_facts
from starkrelay.store.waiting import (
    ReleaseOutcome,
    Waiter,
    last_balance_check,
    list_waiting,
    record_waiting_transfer,
    release_waiting,
    save_balance_check,
    waiting_count,
)
from starkrelay.store.workspace import learn_workspace_id, learned_workspace_id

__all__ = [
    "DELIVERIES_KEPT",
    "FORWARD_GROUP",
    "FORWARD_STAGES",
    "LEDGER_TTL_SECONDS",
    "MAX_CONNECTIONS",
    "Keys",
    "Redis",
    "RedriveOutcome",
    "ReleaseOutcome",
    "RequeueOutcome",
    "ServerFacts",
    "Settlement",
    "Waiter",
    "claim",
    "connect",
    "connect_from_settings",
    "extend",
    "hold",
    "intake_event",
    "keys_from_settings",
    "last_balance_check",
    "learn_workspace_id",
    "learned_workspace_id",
    "list_waiting",
    "load_deliveries",
    "new_token",
    "record_dead_letter_transfer",
    "record_delivery",
    "record_waiting_transfer",
    "redis_answers",
    "redis_hint",
    "redrive_dead_letter",
    "release",
    "release_waiting",
    "reopen_refused",
    "requeue_lost_entry",
    "save_balance_check",
    "server_facts",
    "settle_forward",
    "settle_forwards",
    "waiting_count",
]
