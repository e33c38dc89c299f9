"""Redis: the connection, every key name, and the scripts that must run atomically.

The only package that knows key names (``keys.Keys``). Modules by concept:

- ``connection``: the client type (``Redis``, responses decoded to ``str``), how to build it,
  and ``Store`` (a client and its ``Keys``), what features receive;
- ``keys``: the ``Keys`` builder, every key name under ``REDIS_KEY_PREFIX``;
- ``claims``: owner-token claims and locks (``claim``, ``release``, ``extend``, ``hold``);
- ``deliveries``: webhook deliveries per invoice and in one capped stream of all of them
  (``record_delivery``, ``load_deliveries``);
- ``server_info``: what the server says about itself (``server_facts``: version, eviction
  policy, persistence), for ``starkrelay doctor``;
- ``batching``: one pipeline per event-loop tick for a hot script.

The scripts that change a forward's stage live in ``starkrelay.ledger``, one level up.

Every public name is importable from ``starkrelay.core.store`` itself; callers need not know which
module holds it.
"""

from starkrelay.core.store.claims import claim, extend, hold, new_token, release
from starkrelay.core.store.connection import (
    MAX_CONNECTIONS,
    Redis,
    Store,
    connect,
    connect_from_settings,
    redis_answers,
    redis_hint,
    store_from_settings,
)
from starkrelay.core.store.deliveries import (
    DELIVERIES_KEPT,
    DELIVERY_LOG_KEPT,
    load_deliveries,
    record_delivery,
)
from starkrelay.core.store.keys import Keys, keys_from_settings
from starkrelay.core.store.server_info import ServerFacts, server_facts

__all__ = [
    "DELIVERIES_KEPT",
    "DELIVERY_LOG_KEPT",
    "MAX_CONNECTIONS",
    "Keys",
    "Redis",
    "ServerFacts",
    "Store",
    "claim",
    "connect",
    "connect_from_settings",
    "extend",
    "hold",
    "keys_from_settings",
    "load_deliveries",
    "new_token",
    "record_delivery",
    "redis_answers",
    "redis_hint",
    "release",
    "server_facts",
    "store_from_settings",
]
