"""starksandbox: a local Stark Bank v2 API emulator that the official SDK talks to unchanged."""

__version__ = "0.1.0"
