"""Run ``python3 -m runtime.agent`` as a subprocess against a local remote and the scripted LLM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from runtime.contract.outcome import Result
from tests.support import git_http, scripted_llm

REPO_ROOT = Path(__file__).resolve().parents[3]
AGENT_CONFIG = REPO_ROOT / "manifests" / "agent-config" / "opencode.json"
BASE_FILES = {"README.md": "# demo\n", "src/app.py": "print('hi')\n"}


@dataclass
class Finished:
    returncode: int
    lines: list[str]
    result: Result

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Harness:
    """Runs ``python3 -m runtime.agent`` against a local remote and the scripted LLM."""

    tmp: Path
    server: git_http.GitHTTPServer
    llm_url: str
    opencode_bin: str
    token: str
    repo: str = "demo"
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def bare(self) -> Path:
        return self.server.root / f"{self.repo}.git"

    def env(self, prompt: str, task: str = "T012", **extra: str) -> dict[str, str]:
        task_dir = self.tmp / "task"
        (task_dir / "context" / "contracts").mkdir(parents=True, exist_ok=True)
        (task_dir / "prompt.md").write_text(prompt, encoding="utf-8")
        (task_dir / "context" / "spec.md").write_text("# spec\n", encoding="utf-8")
        (task_dir / "context" / "contracts" / "api.yaml").write_text("a: 1\n", encoding="utf-8")
        creds = self.tmp / "creds"
        creds.mkdir(exist_ok=True)
        (creds / "token").write_text(self.token + "\n", encoding="utf-8")
        env = {
            "PATH": os.environ["PATH"],
            "LANG": "C.UTF-8",
            "HOME": str(self.tmp / "home"),
            "PYTHONPATH": str(REPO_ROOT),
            "TASK_ID": task,
            "TASK_TITLE": f"Implement {task}",
            "REPO_URL": f"{self.server.url}/{self.repo}.git",
            "BASE_BRANCH": "main",
            "TASK_BRANCH": f"speckit/{task.lower()}",
            "TASK_DIR": str(task_dir),
            "WORKSPACE": str(self.tmp / "workspace"),
            "GIT_CREDENTIALS_DIR": str(creds),
            "OPENCODE_BIN": self.opencode_bin,
            "OPENCODE_CONFIG": str(AGENT_CONFIG),
            "OPENCODE_CONFIG_CONTENT": json.dumps(scripted_llm.opencode_config(self.llm_url)),
            "AGENT_STALL_SECONDS": "60",
        }
        (self.tmp / "home").mkdir(exist_ok=True)
        return {**env, **self.overrides, **extra}

    def start(self, prompt: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "runtime.agent"],
            cwd=self.tmp,
            env=self.env(prompt, **extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, prompt: str, timeout: float = 120, **extra: str) -> Finished:
        proc = self.start(prompt, **extra)
        out, _ = proc.communicate(timeout=timeout)
        return finished(proc.returncode, out.splitlines())

    def git(self, *args: str) -> str:
        cmd = ["git", "--git-dir", str(self.bare), *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    def remote_file(self, branch: str, path: str) -> str:
        return self.git("show", f"{branch}:{path}")

    def remote_branches(self) -> set[str]:
        out = self.git("for-each-ref", "--format=%(refname:short)", "refs/heads")
        return set(out.split())


def finished(returncode: int, lines: list[str]) -> Finished:
    assert lines, "the agent printed nothing"
    result = Result.from_line(lines[-1])
    assert result is not None, f"last line is not a result line: {lines[-1]!r}\n" + "\n".join(lines)
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
