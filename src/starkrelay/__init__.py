"""starkrelay: issue Stark Bank invoices on a schedule and forward every credited payment once."""

__version__ = "0.1.0"
