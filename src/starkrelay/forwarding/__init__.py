"""Forwarding: credited invoices become exactly one transfer each to the destination account."""
