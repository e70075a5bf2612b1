"""Markers of the script tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register ``slow``: a real ``pip install`` (tens of seconds); ``-m 'not slow'`` skips it."""
    config.addinivalue_line(
        "markers", "slow: takes tens of seconds (a real pip install); deselect with -m 'not slow'"
    )
