"""Webhook intake: signature verification, replay guard, de-duplication and dispatch."""
