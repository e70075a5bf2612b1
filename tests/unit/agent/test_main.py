"""The entrypoint as a subprocess, in cases that need no opencode."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.contract.outcome import Status
from tests.support.git_http import make_bare_repo
from tests.unit.agent.harness import REPO_ROOT, LineReader, finished


def agent_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    (tmp_path / "home").mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(REPO_ROOT),
        "TASK_ID": "T007",
        "TASK_TITLE": "Seven",
        "BASE_BRANCH": "main",
        "TASK_BRANCH": "speckit/t007",
        "TASK_DIR": str(tmp_path / "task"),
        "WORKSPACE": str(tmp_path / "ws"),
        "GIT_CREDENTIALS_DIR": str(tmp_path / "creds"),
        "OPENCODE_BIN": "/nonexistent/opencode",
    }
    return {**env, **extra}


def start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runtime.agent"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_missing_env_still_prints_a_result_line(tmp_path: Path) -> None:
    env = agent_env(tmp_path)
    del env["TASK_BRANCH"]
    proc = start(env)
    out, _ = proc.communicate(timeout=30)
    run = finished(proc.returncode, out.splitlines())

    assert run.result.status is Status.FAILED
    assert run.returncode == 1
    assert run.result.task == "T007"
    assert "TASK_BRANCH is not set" in run.result.reason
    assert "REPO_URL is not set" in run.result.reason
    assert "ERROR: invalid environment" in out


def test_missing_prompt_fails_after_the_clone(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "r", {"a.txt": "a\n"})
    proc = start(agent_env(tmp_path, REPO_URL=f"file://{bare}"))
    out, _ = proc.communicate(timeout=30)
    run = finished(proc.returncode, out.splitlines())

    assert run.result.status is Status.FAILED
    assert "prompt not found" in run.result.reason


@pytest.fixture()
def black_hole() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def test_sigterm_during_the_clone_is_killed_quickly(tmp_path: Path, black_hole: int) -> None:
    proc = start(agent_env(tmp_path, REPO_URL=f"http://127.0.0.1:{black_hole}/r.git"))
    reader = LineReader(proc)
    reader.wait_for("[agent] cloning", timeout=30)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    run = finished(proc.returncode, reader.join(timeout=5))

    assert run.result.status is Status.KILLED
    assert run.returncode == 5
    assert time.monotonic() - sent < 10


def test_missing_opencode_binary_is_a_failure_with_a_result_line(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "r", {"a.txt": "a\n"})
    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "prompt.md").write_text("do it\n")
    proc = start(agent_env(tmp_path, REPO_URL=f"file://{bare}"))
    out, _ = proc.communicate(timeout=30)
    run = finished(proc.returncode, out.splitlines())

    assert run.result.status is Status.FAILED
    assert "cannot start /nonexistent/opencode" in run.result.reason
