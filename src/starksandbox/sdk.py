"""Point the unchanged official ``starkbank`` SDK at a starksandbox: ``point_sdk_at(url)``,
``restore_sdk()``, ``with sdk_pointed_at(url):``.

The redirect lives in ``sdk_redirect``, a package of its own that the service uses too (for
``STARK_API_URL``); it is re-exported here for programs and tests that drive the emulator.
"""

from sdk_redirect import STARK_HOSTS, point_sdk_at, restore_sdk, sdk_pointed_at

__all__ = ["STARK_HOSTS", "point_sdk_at", "restore_sdk", "sdk_pointed_at"]
