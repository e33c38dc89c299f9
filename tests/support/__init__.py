"""What several test folders share: ``from tests.support.relay_harness import ...``."""
