"""Fixtures of the imaging tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["RAS", "LPS", "oblique"])
def orientation(request) -> str:
    """Each image orientation in turn."""
    return request.param
