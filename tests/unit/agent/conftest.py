"""Fixtures for runtime.agent: a token-protected git remote, the scripted LLM, a runner."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import git_http, scripted_llm
from tests.support.tools import require_tool
from tests.unit.agent.harness import BASE_FILES, Harness


@pytest.fixture(scope="session")
def opencode_bin() -> str:
    hint = "npm install -g opencode-ai@1.18.33, or set OPENCODE_BIN"
    return require_tool("opencode", hint, env_var="OPENCODE_BIN")


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
