import requests.api

from starksandbox.sdk import point_sdk_at, restore_sdk, sdk_pointed_at


def test_point_sdk_at_is_reversible() -> None:
    original = requests.api.request
    undo = point_sdk_at("http://127.0.0.1:1")
    assert requests.api.request is not original
    undo()
    assert requests.api.request is original


def test_context_manager_restores_on_error() -> None:
    original = requests.api.request
    try:
        with sdk_pointed_at("http://127.0.0.1:1"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert requests.api.request is original
    restore_sdk()
