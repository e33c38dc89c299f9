"""The ledger tests share the money-path harness in ../webhooks/relay_harness.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "webhooks"))
