"""Point the unchanged official ``starkbank`` SDK at a starksandbox: ``point_sdk_at(url)``,
``restore_sdk()``, ``with sdk_pointed_at(url):``.

The redirect lives in the client, ``starkrelay.bank.redirect`` (the service must run without
the emulator); it is re-exported here for programs and tests that drive the emulator.
"""

from starkrelay.bank.redirect import STARK_HOSTS, point_sdk_at, restore_sdk, sdk_pointed_at

__all__ = ["STARK_HOSTS", "point_sdk_at", "restore_sdk", "sdk_pointed_at"]
