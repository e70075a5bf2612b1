"""Run both sides of an agent pod as two processes, the way the kubelet runs the containers.

``python3 -m runtime.agent git-side`` starts first; once it has written ``ready`` in the
handoff directory, ``python3 -m runtime.agent run`` starts; when that has exited the
git side gets SIGTERM (as a native sidecar does), commits, pushes and prints the result
line.  :meth:`PodRun.delete` is a pod deletion: SIGTERM to the agent first.

The remote is a bare repository behind ``git http-backend`` with token auth; the LLM
the scripted server (with the real opencode) or a fake ``opencode`` script (the
attack tests).  When the system allows namespaces (root, or unprivileged user
namespaces), the agent runs as its container does: in its own PID namespace (when it
exits, every process it left behind is killed with it) and seeing the git dir through
a read-only bind mount, as the pod's ``readOnly: true`` volume mount gives it.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from runtime.contract.outcome import Result
from tests.support import git_http, scripted_llm

REPO_ROOT = Path(__file__).resolve().parents[3]
AGENT_CONFIG = REPO_ROOT / "manifests" / "agent-config" / "opencode.json"
BASE_FILES = {"README.md": "# demo\n", "src/app.py": "print('hi')\n"}
GIT_ONLY = {
    "REPO_URL", "BASE_BRANCH", "TASK_BRANCH", "GIT_CREDENTIALS_DIR", "REQUESTED_BY",
    "ALLOW_INSECURE_HTTP", "CLONE_GIT_DIR", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "LLM_USAGE_DIR",
    "START_POINTS", "FEATURE", "CHECKPOINT_SECONDS",
}  # fmt: skip
FEATURE = "001-demo"
READY_TIMEOUT = 120.0
# PID 1 of the agent's namespace, as tini is in the container: forwards SIGTERM, exits
# with the child's status (PID 1 itself would ignore a SIGKILL sent from inside)
INIT = (
    '"$@" & child=$!; trap \'kill -TERM "$child"\' TERM; wait "$child"; rc=$?; '
    'if kill -0 "$child" 2>/dev/null; then wait "$child"; rc=$?; fi; exit "$rc"'
)

SUCCESS_EVENTS = (
    '{"type":"step_start","part":{}}',
    '{"type":"text","part":{"text":"done"}}',
    '{"type":"step_finish","part":{"reason":"stop"}}',
)


@functools.lru_cache(maxsize=1)
def read_only_mounts() -> list[str] | None:
    """The ``unshare`` prefix of a container-like agent process, or ``None``.

    A private mount namespace and a PID namespace of its own.  Probed once: a
    directory bind-mounted read-only over itself must refuse a write.  Without (or with
    ``SPECKIT_TEST_NO_NAMESPACES=1``) the agent is a plain process: the tests that need
    the namespaces skip.
    """
    if os.environ.get("SPECKIT_TEST_NO_NAMESPACES") == "1":  # to try the fallback
        return None
    with tempfile.TemporaryDirectory() as scratch:
        probe = f"{_read_only(scratch)} && ! touch {shlex.quote(scratch)}/x 2>/dev/null"
        for prefix in (
            ["unshare", "--mount", "--propagation", "private", "--pid", "--fork"],
            [
                "unshare",
                "--user",
                "--map-root-user",
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
            ],
        ):
            try:
                done = subprocess.run(
                    [*prefix, "sh", "-c", probe], capture_output=True, timeout=10, check=False
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
            if done.returncode == 0 and not Path(scratch, "x").exists():
                return prefix
    return None


def _read_only(directory: str) -> str:
    where = shlex.quote(directory)
    return f"mount --bind {where} {where} && mount -o remount,bind,ro {where}"


@dataclass
class Finished:
    """The pod's end: the git side's exit code and log (the pod's log), and the agent's."""

    returncode: int
    lines: list[str]
    result: Result
    agent_returncode: int | None = None
    agent_lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def agent_output(self) -> str:
        return "\n".join(self.agent_lines)


def fake_opencode(path: Path, script: str, *, events: tuple[str, ...] = SUCCESS_EVENTS) -> str:
    """An executable ``opencode`` that runs ``script`` (sh, in the work tree) then reports success.

    It stands in for a hijacked agent: anything the LLM's bash tool could do.
    """
    lines = ["#!/bin/sh", "cat >/dev/null", script, *(f"echo {shlex.quote(e)}" for e in events)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


@dataclass
class Harness:
    """Both sides of a pod against a local remote and an LLM (scripted or faked)."""

    tmp: Path
    server: git_http.GitHTTPServer
    llm_url: str
    opencode_bin: str
    token: str
    repo: str = "demo"
    overrides: dict[str, str] = field(default_factory=dict)
    read_only_git_dir: bool = True  # when the system allows it (see read_only_mounts)

    @property
    def bare(self) -> Path:
        return self.server.root / f"{self.repo}.git"

    @property
    def workspace(self) -> Path:
        return self.tmp / "workspace"

    @property
    def work_tree(self) -> Path:
        return self.workspace / "repo"

    @property
    def git_dir(self) -> Path:
        return self.work_tree / ".git"  # as in the pod: a mount of its own on the work tree

    @property
    def handoff(self) -> Path:
        return self.tmp / "handoff"

    @property
    def git_home(self) -> Path:
        return self.tmp / "git-home"

    @property
    def agent_home(self) -> Path:
        return self.tmp / "home"

    @property
    def creds(self) -> Path:
        return self.tmp / "creds"

    def _task_dir(self, prompt: str) -> Path:
        task_dir = self.tmp / "task"
        (task_dir / "context" / "contracts").mkdir(parents=True, exist_ok=True)
        (task_dir / "prompt.md").write_text(prompt, encoding="utf-8")
        (task_dir / "context" / "spec.md").write_text("# spec\n", encoding="utf-8")
        (task_dir / "context" / "contracts" / "api.yaml").write_text("a: 1\n", encoding="utf-8")
        return task_dir

    def envs(self, prompt: str, task: str = "T012", **extra: str) -> tuple[dict[str, str], ...]:
        """The git side's and the agent side's environments (as the manifest sets them).

        Every pod starts with empty volumes: what a previous run left is removed.
        """
        for volume in (self.workspace, self.handoff, self.git_home):
            shutil.rmtree(volume, ignore_errors=True)
        shutil.rmtree(self.agent_home, ignore_errors=True)
        task_dir = self._task_dir(prompt)
        self.creds.mkdir(exist_ok=True)
        (self.creds / "token").write_text(self.token + "\n", encoding="utf-8")
        for directory in (self.git_home, self.agent_home, self.handoff, self.git_dir):
            directory.mkdir(parents=True, exist_ok=True)
        common = {
            "PATH": os.environ["PATH"],
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO_ROOT),
            "TASK_ID": task,
            "TASK_TITLE": f"Implement {task}",
            "TASK_DIR": str(task_dir),
            "WORKSPACE": str(self.workspace),
            "HANDOFF_DIR": str(self.handoff),
        }
        git = {
            **common,
            "HOME": str(self.git_home),
            "REPO_URL": f"{self.server.url}/{self.repo}.git",
            "BASE_BRANCH": "main",
            "TASK_BRANCH": f"speckit/{task.lower()}",
            "FEATURE": FEATURE,
            "CLONE_GIT_DIR": str(self.git_dir),
            "GIT_CREDENTIALS_DIR": str(self.creds),
            "ALLOW_INSECURE_HTTP": "1",  # the test server speaks http://
        }
        agent = {
            **common,
            "HOME": str(self.agent_home),
            "OPENCODE_BIN": self.opencode_bin,
            "OPENCODE_CONFIG": str(AGENT_CONFIG),
            "OPENCODE_CONFIG_CONTENT": json.dumps(scripted_llm.opencode_config(self.llm_url)),
            "OPENCODE_DISABLE_PROJECT_CONFIG": "1",
            "AGENT_STALL_SECONDS": "60",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
        }
        extra = {**self.overrides, **extra}
        git.update(extra)
        agent.update({k: v for k, v in extra.items() if k not in GIT_ONLY})
        return git, agent

    def start(self, prompt: str, **extra: str) -> PodRun:
        git_env, agent_env = self.envs(prompt, **extra)
        return PodRun(self, git_env, agent_env)

    def run(self, prompt: str, timeout: float = 120, **extra: str) -> Finished:
        return self.start(prompt, **extra).wait(timeout)

    @property
    def isolated(self) -> bool:
        """Whether the agent runs in namespaces of its own (see :func:`read_only_mounts`)."""
        return read_only_mounts() is not None

    def agent_command(self) -> list[str]:
        """``python -m runtime.agent run``, container-like when possible."""
        command = [sys.executable, "-m", "runtime.agent", "run"]
        prefix = read_only_mounts()
        if prefix is None:
            return command
        mount = _read_only(str(self.git_dir)) if self.read_only_git_dir else "true"
        return [*prefix, "sh", "-c", f"{mount} && {INIT}", "sh", *command]

    def git(self, *args: str) -> str:
        cmd = ["git", "--git-dir", str(self.bare), *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    def remote_file(self, branch: str, path: str) -> str:
        return self.git("show", f"{branch}:{path}")

    def session_ref(self, task: str = "T012") -> str:
        return f"refs/speckit-pods/session/{FEATURE}/{task}"

    def session_file(self, path: str, task: str = "T012", rev: str = "") -> str:
        """A file of the task's stored session (``rev``: e.g. ``~1`` for the run before)."""
        return self.git("show", f"{self.session_ref(task)}{rev}:{path}")

    def remote_branches(self) -> set[str]:
        out = self.git("for-each-ref", "--format=%(refname:short)", "refs/heads")
        return set(out.split())


class PodRun:
    """One pod: the git side now, the agent once ``ready`` is there, SIGTERM to git at its end."""

    def __init__(self, harness: Harness, git_env: dict[str, str], agent_env: dict[str, str]):
        self.harness = harness
        self.agent_env = agent_env
        self.git = _popen([sys.executable, "-m", "runtime.agent", "git-side"], git_env, harness)
        self.log = LineReader(self.git)  # the pod's log: the git container's
        self.agent: subprocess.Popen[str] | None = None
        self.agent_log: LineReader | None = None
        self._lock = threading.Lock()
        self._deleted = False
        self._kubelet = threading.Thread(target=self._run, daemon=True)
        self._kubelet.start()

    def _run(self) -> None:
        ready = self.harness.handoff / "ready"
        end = time.monotonic() + READY_TIMEOUT
        while not ready.exists():
            if self.git.poll() is not None or time.monotonic() > end:
                return
            with self._lock:
                if self._deleted:
                    return
            time.sleep(0.05)
        with self._lock:
            if self._deleted:
                self.git.send_signal(signal.SIGTERM)
                return
            self.agent = _popen(self.harness.agent_command(), self.agent_env, self.harness)
            self.agent_log = LineReader(self.agent)
        self.agent.wait()
        if self.git.poll() is None:
            self.git.send_signal(signal.SIGTERM)  # the kubelet: sidecars after the main container

    def delete(self) -> None:
        """Pod deletion: SIGTERM to the agent (the git side follows), or to git before it."""
        with self._lock:
            self._deleted = True
            if self.agent is None:
                if self.git.poll() is None:
                    self.git.send_signal(signal.SIGTERM)
                return
            if self.agent.poll() is None:
                os.kill(self._agent_pid(), signal.SIGTERM)

    def _agent_pid(self) -> int:
        """The agent process: unshare's child (PID 1 of its namespace) when isolated."""
        assert self.agent is not None
        if not self.harness.isolated:
            return self.agent.pid
        children = Path(f"/proc/{self.agent.pid}/task/{self.agent.pid}/children")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            found = children.read_text().split()
            if found:
                return int(found[0])
            time.sleep(0.02)
        raise AssertionError("the agent process did not start")

    def wait_for(self, text: str, timeout: float) -> None:
        """Wait for ``text`` in the pod's log (the git side's output)."""
        self.log.wait_for(text, timeout)

    def wait(self, timeout: float = 120) -> Finished:
        try:
            self.git.wait(timeout=timeout)
        finally:
            for proc in (self.agent, self.git):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        self._kubelet.join(timeout=10)
        agent_lines = self.agent_log.join(timeout=5) if self.agent_log else []
        run = finished(self.git.returncode, self.log.join(timeout=5))
        agent_rc = self.agent.returncode if self.agent is not None else None
        return Finished(run.returncode, run.lines, run.result, agent_rc, agent_lines)


def _popen(argv: list[str], env: dict[str, str], harness: Harness) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        cwd=harness.tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )


def finished(returncode: int, lines: list[str]) -> Finished:
    assert lines, "the git side printed nothing"
    result = Result.from_line(lines[-1])
    assert result is not None, f"last line is not a result line: {lines[-1]!r}\n" + "\n".join(lines)
    others = [line for line in lines[:-1] if Result.from_line(line) is not None]
    assert not others, "a second result line in the pod's log:\n" + "\n".join(others)
    return Finished(returncode, lines, result)


class LineReader:
    """Collects a process's stdout lines in a thread; wait for one with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                with self._cond:
                    self.lines.append(line.rstrip("\n"))
                    self._cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{text!r} not seen in:\n" + "\n".join(self.lines))
                self._cond.wait(left)

    def join(self, timeout: float) -> list[str]:
        self._thread.join(timeout)
        return self.lines
