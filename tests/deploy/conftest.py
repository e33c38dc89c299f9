"""Fixtures for the offline deployment checks (tests/deploy): parsed once per session."""

from __future__ import annotations

import pytest
from deploy_model import TerraformTree, load_tree


@pytest.fixture(scope="session")
def tf() -> TerraformTree:
    """Every .tf file under deploy/terraform, parsed."""
    return load_tree()
