"""The money state machine: a forward's identity, its stages, the one table of moves with the
evidence each needs, and every Redis script that changes a stage. Nothing else writes a stage.

- ``identity``: external ids, tags, attempts, the forward item (pure);
- ``stages``: ``Stage``, ``TransferStatus``, ``Evidence`` and ``TRANSITIONS`` (pure);
- ``scripts``: the Lua scripts, all over one ``move`` that checks the table;
- ``steps``: the Python calls of those scripts (``intake``, ``settle``, ``move`` with its two
  common shapes ``requeue`` and ``record_found``, ``note``);
- ``budget``: the outflow limits' calls (``reserve`` or hold, then confirm or release);
- ``reads``: what the ledger holds, read without moving anything;
- ``workspace``: which Stark Bank workspace is ours (the route's filter, the worker's learner).

Imports only ``core`` (the store: connection, keys, batching) and ``bank`` below it.
"""

from starkrelay.ledger import budget, reads, scripts, steps
from starkrelay.ledger.stages import (
    FAILED_STATUSES,
    LEDGER_STAGES,
    LIVE_STATUSES,
    TRANSITIONS,
    Evidence,
    Stage,
    TransferStatus,
)
from starkrelay.ledger.steps import (
    FORWARD_GROUP,
    LEDGER_TTL_SECONDS,
    IntakeCode,
    Move,
    MoveOutcome,
    Settled,
    Settlement,
    intake,
    intake_batcher,
    move,
    note,
    record_found,
    requeue,
    settle,
)

__all__ = [
    "FAILED_STATUSES",
    "FORWARD_GROUP",
    "LEDGER_STAGES",
    "LEDGER_TTL_SECONDS",
    "LIVE_STATUSES",
    "TRANSITIONS",
    "Evidence",
    "IntakeCode",
    "Move",
    "MoveOutcome",
    "Settled",
    "Settlement",
    "Stage",
    "TransferStatus",
    "budget",
    "intake",
    "intake_batcher",
    "move",
    "note",
    "reads",
    "record_found",
    "requeue",
    "scripts",
    "settle",
    "steps",
]
