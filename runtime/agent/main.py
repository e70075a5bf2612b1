"""The agent pod's pipeline: env, git auth, clone, opencode, commit, push, result line.

Everything the pod prints goes to stdout (one stream keeps the order intact in
``kubectl logs``); the last line is always the result line of
:mod:`runtime.contract.outcome`, and the exit code is its status's exit code.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from runtime.agent import credentials, gitops, opencode
from runtime.agent.config import AgentConfig, ConfigError, load
from runtime.agent.gitops import Checkout, Git, GitError
from runtime.contract.outcome import Result, Status
from runtime.contract.redact import scrub

SIGTERM_BUDGET_SECONDS = 45.0  # terminationGracePeriodSeconds is 60
PUSH_BUDGET_SECONDS = 300.0

Emit = Callable[[str], None]


class TerminatedError(Exception):
    """SIGTERM arrived before opencode started (raised from the signal handler)."""


class Shutdown:
    """Remembers SIGTERM/SIGINT; interrupts the setup phase, flags the others."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.at: float | None = None
        self.interruptible = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler."""
        if not self.requested.is_set():
            self.at = time.monotonic()
            self.requested.set()
        if self.interruptible:
            self.interruptible = False
            raise TerminatedError(signal.Signals(signum).name)

    def install(self) -> None:
        """Handle SIGTERM (pod deletion, deadline) and SIGINT."""
        signal.signal(signal.SIGTERM, self.handle)
        signal.signal(signal.SIGINT, self.handle)

    def finish_by(self, deadline: float) -> float:
        """``deadline``, or earlier if a signal arrived: the budget of the closing git steps."""
        return deadline if self.at is None else min(deadline, self.at + SIGTERM_BUDGET_SECONDS)


@dataclasses.dataclass(frozen=True)
class Run:
    """One run's fixed inputs."""

    config: AgentConfig
    started: float
    shutdown: Shutdown
    emit: Emit

    def result(
        self, status: Status, reason: str = "", commit: str = "", files: tuple[str, ...] = ()
    ) -> Result:
        """The result line's data, with the duration so far."""
        return Result(
            task=self.config.task_id,
            status=status,
            branch=self.config.task_branch,
            commit=commit,
            files_changed=files,
            duration_s=time.monotonic() - self.started,
            reason=reason,
        )


def run_agent(run: Run) -> Result:
    """The whole pipeline; never raises for expected failures."""
    cfg = run.config
    try:
        run.shutdown.interruptible = True
        git, checkout = _setup(run)
        run.shutdown.interruptible = False
    except TerminatedError:
        return run.result(Status.KILLED, "terminated before opencode started")
    except GitError as err:
        run.shutdown.interruptible = False
        return run.result(err.status, err.message)
    prompt = cfg.task_dir / "prompt.md"
    if not prompt.is_file():
        return run.result(Status.FAILED, f"prompt not found: {prompt} (check the task ConfigMap)")
    outcome = _run_opencode(run, checkout, prompt)
    status, reason = _status_of(run, outcome)
    try:
        return _finish(run, git, checkout, status, reason)
    except GitError as err:
        return run.result(
            status if not status.ok else Status.FAILED, f"{reason} {err.message}".strip()
        )


def _setup(run: Run) -> tuple[Git, Checkout]:
    cfg = run.config
    env = {**os.environ, **credentials.setup(cfg)}
    git = Git(env, redact=(credentials.read_token(cfg.credentials_dir),))
    run.emit(f"[agent] cloning {cfg.repo_url} ({cfg.base_branch} -> {cfg.task_branch})")
    checkout = gitops.prepare(git, cfg.repo_url, cfg.base_branch, cfg.task_branch, cfg.clone_dir)
    if checkout.resumed:
        run.emit(f"[agent] {cfg.task_branch} already exists on the remote: continuing from it")
    count = gitops.place_context(cfg.task_dir / "context", checkout.path)
    run.emit(f"[agent] {count} context file(s) in {gitops.CONTEXT_DIR}")
    return git, checkout


def _run_opencode(run: Run, checkout: Checkout, prompt: Path) -> opencode.RunOutcome:
    cfg = run.config
    env = opencode.environment(os.environ, cfg.home)
    config_dirs = [Path(env["XDG_CONFIG_HOME"]) / "opencode"]
    if (checkout.path / ".opencode").is_dir():
        config_dirs.append(checkout.path / ".opencode")
    opencode.seed_config_dirs(config_dirs)
    argv = opencode.command(cfg.opencode_bin, f"{cfg.task_id}: {cfg.task_title}", cfg.model)
    deadline = run.started + cfg.deadline_s if cfg.deadline_s else None
    run.emit(f"[agent] running opencode (model {cfg.model or 'from config'})")
    try:
        return opencode.run(
            argv,
            cwd=checkout.path,
            env=env,
            prompt=prompt,
            limits=opencode.Limits(stall_s=cfg.stall_s, deadline=deadline),
            stop_requested=run.shutdown.requested,
            emit=run.emit,
        )
    except OSError as err:
        return opencode.RunOutcome(None, None, False, f"cannot start {cfg.opencode_bin}: {err}")


def _status_of(run: Run, outcome: opencode.RunOutcome) -> tuple[Status, str]:
    cfg = run.config
    deadline_passed = cfg.deadline_s is not None and (
        time.monotonic() - run.started >= cfg.deadline_s
    )
    if outcome.stop is opencode.Stop.TIMEOUT or (
        outcome.stop is opencode.Stop.KILLED and deadline_passed
    ):
        return Status.TIMEOUT, f"deadline of {cfg.deadline_s:.0f}s reached"
    if outcome.stop is opencode.Stop.STALLED:
        return Status.STALLED, f"no output from opencode for {cfg.stall_s:.0f}s"
    if outcome.stop is opencode.Stop.KILLED:
        return Status.KILLED, "terminated by a signal (pod deleted or its deadline passed)"
    if not outcome.ok:
        return Status.FAILED, outcome.reason
    return Status.SUCCEEDED, ""


def _finish(run: Run, git: Git, checkout: Checkout, status: Status, reason: str) -> Result:
    cfg = run.config
    if status is not Status.SUCCEEDED:
        run.emit(f"[agent] {status.value}: {reason}")
    wip = "" if status.ok else f"{status.value}: {reason}"
    message = gitops.commit_message(cfg.task_id, cfg.task_title, cfg.requested_by, wip)
    gitops.commit_all(git, checkout.path, message)
    commit = gitops.head(git, checkout.path)
    if commit == checkout.start:
        if status.ok:
            return run.result(Status.NO_CHANGES, "opencode finished without changing any file")
        return run.result(status, f"{reason}; no changes to save")
    files = gitops.changed_files(git, checkout.path, checkout.start)
    run.emit(f"[agent] pushing {commit[:12]} ({len(files)} file(s)) to {cfg.task_branch}")
    budget = time.monotonic() + PUSH_BUDGET_SECONDS
    try:
        gitops.push(git, checkout.path, cfg.task_branch, lambda: run.shutdown.finish_by(budget))
    except GitError as err:
        if status.ok:
            return run.result(err.status, err.message, commit, files)
        # not timeout/killed: those promise a pushed WIP; the work is only in this pod
        return run.result(err.status, f"{reason}; WIP not saved: {err.message}", commit, files)
    if not status.ok:
        reason = f"{reason}; WIP commit pushed to {cfg.task_branch}"
    return run.result(status, reason, commit, files)


def _printer(redact: tuple[str, ...]) -> Emit:
    def emit(line: str) -> None:
        print(scrub(line, redact), flush=True)

    return emit


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the agent; print the result line last; return its exit code."""
    started = time.monotonic()
    shutdown = Shutdown()
    shutdown.install()
    env = os.environ if env is None else env
    try:
        cfg = load(env)
    except ConfigError as err:
        print(f"[agent] ERROR: invalid environment: {err}", flush=True)
        print("[agent] Hint: the pod manifest (runtime/spawn/manifests.py) sets these.", flush=True)
        task = env.get("TASK_ID", "").strip() or "unknown"
        result = Result(task, Status.FAILED, reason=f"invalid environment: {err}")
    else:
        emit = _printer((credentials.read_token(cfg.credentials_dir),))
        try:
            result = run_agent(Run(cfg, started, shutdown, emit))
        except Exception as err:  # the result line must be printed whatever happens
            traceback.print_exc(file=sys.stdout)
            reason = f"internal error: {type(err).__name__}: {err}"
            result = Run(cfg, started, shutdown, emit).result(Status.FAILED, reason)
    sys.stderr.flush()
    print(result.to_line(), flush=True)
    return result.status.exit_code
