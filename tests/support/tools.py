"""External tools the tests run: skipped on a developer's machine without them, a failure in CI."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    """Whether the tests run in CI (``CI`` set to true, 1 or yes)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_tool(name: str, hint: str, *, env_var: str = "") -> str:
    """Return the path of tool ``name`` (or of ``$env_var``); skip, or fail in CI, without it."""
    found = (os.environ.get(env_var) if env_var else None) or shutil.which(name)
    if found:
        return found
    message = f"{name} not found ({hint})"
    if in_ci():
        pytest.fail(f"{message}; CI is set, so this is a failure")
    pytest.skip(message)
