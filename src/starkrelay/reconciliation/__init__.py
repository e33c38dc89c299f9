"""Reconciliation: the safety net that compares Stark Bank's records with ours and closes gaps."""
