"""The console tests serve the app with the money-path harness's ``RelayServer``
(../webhooks/relay_harness.py): uvicorn on a real 127.0.0.1 port."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "webhooks"))
