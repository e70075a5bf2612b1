"""Guards for every unit test."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

from runtime.spawn import start


def _local_git_only(command: Sequence[str], *args: Any, **kwargs: Any) -> Any:
    """``git ls-remote`` of a spawn, allowed for ``file://`` remotes only."""
    remote = [part for part in command if "://" in part or "@" in part]
    if not all(url.startswith("file://") for url in remote):
        raise AssertionError(f"a unit test reached for a git host: {list(command)}")
    return subprocess.run(command, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_git_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spawn reads its prerequisites' commits with ``git ls-remote``: never from a real
    host in unit tests (pass ``git=`` to ``plan`` or a file:// repository)."""
    monkeypatch.setattr(start, "RUN", _local_git_only)
