"""Fixtures of the money-path tests (see relay_harness)."""

from relay_harness import relay

__all__ = ["relay"]
