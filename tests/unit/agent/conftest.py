"""Fixtures for runtime.agent: a token-protected git remote, the scripted LLM, the harness."""

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
def remote(tmp_path: Path) -> Iterator[tuple[git_http.GitHTTPServer, str]]:
    """The bare repository ``demo`` behind token auth, and the token."""
    token = "tok-" + secrets.token_hex(12)
    root = tmp_path / "remote"
    root.mkdir()
    git_http.make_bare_repo(root, "demo", BASE_FILES)
    server = git_http.start(root, token)
    yield server, token
    server.stop()


@pytest.fixture()
def harness(
    tmp_path: Path,
    opencode_bin: str,
    llm: scripted_llm.ScriptedLLMServer,
    remote: tuple[git_http.GitHTTPServer, str],
) -> Harness:
    """Both sides with the REAL opencode and the scripted LLM."""
    server, token = remote
    return Harness(tmp_path, server, llm.url, opencode_bin, token)


@pytest.fixture()
def pod(tmp_path: Path, remote: tuple[git_http.GitHTTPServer, str]) -> Harness:
    """Both sides with no opencode: tests give the agent a fake one (``fake_opencode``)."""
    server, token = remote
    return Harness(tmp_path, server, "http://127.0.0.1:9/v1", "/nonexistent/opencode", token)
