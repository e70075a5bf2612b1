"""Guards for every unit test."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from runtime.review import credentials as review_credentials
from runtime.review import http as review_http
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


def _fake_git_only(command: Sequence[str], *args: Any, **kwargs: Any) -> Any:
    """``git credential fill``, allowed only for a fake git in a temporary directory."""
    path = (kwargs.get("env") or {}).get("PATH")
    git = shutil.which(command[0], path=path)
    if git is None or not Path(git).resolve().is_relative_to(Path(tempfile.gettempdir()).resolve()):
        raise AssertionError(f"a unit test reached for the developer's git credentials: {git}")
    return subprocess.run(command, *args, **kwargs)


def _loopback_only(request: urllib.request.Request, timeout: float) -> Any:
    """The pull-request clients' HTTP, allowed to 127.0.0.1 only."""
    host = urllib.parse.urlsplit(request.full_url).hostname
    if host != "127.0.0.1":
        raise AssertionError(f"a unit test reached for a git host's API: {host}")
    return review_http._open(request, timeout)


@pytest.fixture(autouse=True)
def no_git_host_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pull-request clients never reach a real host nor the developer's credentials in
    unit tests: their HTTP goes to 127.0.0.1 only, ``git credential`` to a fake git."""
    monkeypatch.setattr(review_http, "OPEN", _loopback_only)
    monkeypatch.setattr(review_credentials, "RUN", _fake_git_only)
