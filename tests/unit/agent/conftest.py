"""Fixtures for runtime.agent: a token-protected git remote, the scripted LLM, a runner."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import git_http, scripted_llm
from tests.unit.agent.harness import BASE_FILES, Harness


@pytest.fixture(scope="session")
def opencode_bin() -> str:
    found = os.environ.get("OPENCODE_BIN") or shutil.which("opencode")
    if found:
        return found
    message = "opencode not found (npm install -g opencode-ai@1.18.33, or set OPENCODE_BIN)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + "; CI is set, so this is a failure")
    pytest.skip(message)


@pytest.fixture(scope="session")
def llm() -> Iterator[scripted_llm.ScriptedLLMServer]:
    server = scripted_llm.start()
    yield server
    server.stop()


@pytest.fixture()
def harness(
    tmp_path: Path, opencode_bin: str, llm: scripted_llm.ScriptedLLMServer
) -> Iterator[Harness]:
    token = "tok-" + secrets.token_hex(12)
    root = tmp_path / "remote"
    root.mkdir()
    git_http.make_bare_repo(root, "demo", BASE_FILES)
    server = git_http.start(root, token)
    yield Harness(tmp_path, server, llm.url, opencode_bin, token)
    server.stop()
