"""The untrusted side of the pod (container ``agent``): ``opencode run`` in the work tree.

Starts once the ``git`` side has cloned (the kubelet holds this container until
``ready`` is in the handoff directory); exits at once when the git side wrote
``abort``.  The repository's setup script, if it has one, runs first
(:mod:`runtime.agent.setup_script`); its failure ends the run before opencode starts.
It has no git credentials and the git dir is read-only for it: it can edit the work
tree and read the history, nothing else.  Its output lines go to
stdout and to ``agent.log`` in the handoff directory (the git side relays them into
the pod's log); its last act is ``verdict.json``, the status it claims, which the git
side weighs against the work tree.  Its exit code is that claimed status's.

The deadline runs from the git side's start (the pod's run), so the clone counts.
On SIGTERM opencode is stopped within seconds: the git side needs most of the grace
period for the WIP push.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.agent import feature_tests, handoff, opencode, session_export, setup_script
from runtime.agent.config import AgentConfig, ConfigError, load
from runtime.agent.handoff import AgentLog, Ready, Verdict
from runtime.agent.shutdown import Shutdown
from runtime.contract.outcome import Status
from runtime.contract.pod import AGENT_REQUIRED, HANDOFF_DIR, Env, Handoff

READY_WAIT_SECONDS = 60.0  # the startupProbe already waited; this covers slow volumes
POLL_SECONDS = 0.2
UMASK = 0o002  # what the agent creates stays readable (and writable) for the git side's group

Emit = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Run:
    """One run's fixed inputs."""

    config: AgentConfig
    started: float  # monotonic, when the git side started
    shutdown: Shutdown
    emit: Emit

    @property
    def deadline(self) -> float | None:
        """When the run must stop (monotonic), or ``None``."""
        return self.started + self.config.deadline_s if self.config.deadline_s else None


def wait_ready(directory: Path, shutdown: Shutdown, timeout: float) -> Ready | None:
    """The git side's ``ready``; ``None`` after ``timeout`` or a signal."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not shutdown.requested.is_set():
        ready = handoff.read_ready(directory)
        if ready is not None:
            return ready
        shutdown.requested.wait(POLL_SECONDS)
    return None


def _run_opencode(run: Run, prompt: Path, base: Mapping[str, str]) -> opencode.RunOutcome:
    cfg = run.config
    # PWD too: opencode takes the project directory from it, and a shell that started us
    # (a container's `sh -c`, a test harness) leaves its own there
    env = {**opencode.environment(base, cfg.home), "PWD": str(cfg.clone_dir)}
    # the repository's .opencode/ is not read (OPENCODE_DISABLE_PROJECT_CONFIG): only HOME's
    opencode.seed_config_dirs([Path(env["XDG_CONFIG_HOME"]) / "opencode"])
    argv = opencode.command(cfg.opencode_bin, f"{cfg.task_id}: {cfg.task_title}", cfg.model)
    run.emit(f"[agent] running opencode (model {cfg.model or 'from config'})")
    try:
        outcome = opencode.run(
            argv,
            cwd=cfg.clone_dir,
            env=env,
            prompt=prompt,
            limits=opencode.Limits(
                stall_s=cfg.stall_s,
                deadline=run.deadline,
                stop_file=cfg.handoff_dir / Handoff.STOP,
            ),
            stop_requested=run.shutdown.requested,
            emit=run.emit,
        )
    except OSError as err:
        return opencode.RunOutcome(None, None, False, f"cannot start {cfg.opencode_bin}: {err}")
    stopping = run.shutdown.requested.is_set()
    session_export.export(
        cfg.opencode_bin, outcome.session_id, cwd=cfg.clone_dir, env=env,
        directory=cfg.handoff_dir, stopping=stopping, emit=run.emit,
    )  # fmt: skip
    return outcome


def status_of(run: Run, outcome: opencode.RunOutcome) -> Verdict:
    """The verdict an opencode run earns (the git side decides no-changes)."""
    cfg = run.config
    deadline = run.deadline
    deadline_passed = deadline is not None and time.monotonic() >= deadline
    if outcome.stop is opencode.Stop.TIMEOUT or (
        outcome.stop is opencode.Stop.KILLED and deadline_passed
    ):
        return Verdict(Status.TIMEOUT, f"deadline of {cfg.deadline_s:.0f}s reached")
    if outcome.stop is opencode.Stop.ASKED:  # the git side decides what it was (over-budget)
        why = handoff.read_stop(cfg.handoff_dir) or "no reason given"
        return Verdict(Status.FAILED, f"stopped at the git container's request: {why}")
    if outcome.stop is opencode.Stop.STALLED:
        return Verdict(Status.STALLED, f"no output from opencode for {cfg.stall_s:.0f}s")
    if outcome.stop is opencode.Stop.KILLED:
        return Verdict(Status.KILLED, "terminated by a signal (pod deleted or its deadline passed)")
    if not outcome.ok:
        return Verdict(Status.FAILED, outcome.reason)
    return Verdict(Status.SUCCEEDED, "")


def run_agent(run: Run) -> Verdict:
    """Run the setup script, then opencode on the task (an integration: the tests)."""
    cfg = run.config
    env = setup_script.user_env(os.environ, cfg.home)
    prompt = cfg.task_dir / "prompt.md"
    if not cfg.integrate and not prompt.is_file():
        return Verdict(Status.FAILED, f"prompt not found: {prompt} (check the task ConfigMap)")
    if run.shutdown.requested.is_set():
        return Verdict(Status.KILLED, "terminated before opencode started")
    failed = setup_script.run_setup(
        cfg.clone_dir,
        env=env,
        limit_s=cfg.setup_s,
        deadline=run.deadline,
        stop_requested=run.shutdown.requested,
        emit=run.emit,
    )
    if failed is not None:
        return failed
    if cfg.integrate:
        return feature_tests.run_tests(
            cfg.test_command,
            cwd=cfg.clone_dir,
            env=env,
            deadline=run.deadline,
            stop_requested=run.shutdown.requested,
            emit=run.emit,
        )
    return status_of(run, _run_opencode(run, prompt, env))


def _sink(log: AgentLog) -> Emit:
    def emit(line: str) -> None:
        print(line, flush=True)
        log.write(line)

    return emit


def _started(ready: Ready) -> float:
    """The git side's start on our monotonic clock (``time.time()`` is shared, not monotonic)."""
    elapsed = max(0.0, time.time() - ready.started_at) if ready.started_at else 0.0
    return time.monotonic() - elapsed


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the agent side; write the verdict; exit with its status's code."""
    os.umask(UMASK)
    shutdown = Shutdown()
    shutdown.install()
    env = os.environ if env is None else env
    directory = Path(env.get(Env.HANDOFF_DIR) or HANDOFF_DIR)
    log = AgentLog(directory / Handoff.AGENT_LOG)
    emit = _sink(log)
    try:
        verdict = _main(env, shutdown, emit)
    except Exception as err:  # the verdict must be written whatever happens
        traceback.print_exc(file=sys.stdout)
        verdict = Verdict(Status.FAILED, f"internal error: {type(err).__name__}: {err}")
    if verdict is None:
        log.close()
        return Status.FAILED.exit_code
    if not verdict.status.ok:
        emit(f"[agent] {verdict.status.value}: {verdict.reason}")
    emit(f"[agent] done ({verdict.status.value}); the git container commits and pushes")
    log.close()
    try:
        handoff.write_verdict(directory, verdict)
    except OSError as err:
        print(f"[agent] ERROR: cannot write the verdict: {err}", flush=True)
    return verdict.status.exit_code


def _main(env: Mapping[str, str], shutdown: Shutdown, emit: Emit) -> Verdict | None:
    """The verdict, or ``None`` when the git side said there is nothing to do."""
    try:
        cfg = load(env, required=AGENT_REQUIRED)
    except ConfigError as err:
        emit(f"[agent] ERROR: invalid environment: {err}")
        return Verdict(Status.FAILED, f"invalid environment: {err}")
    ready = wait_ready(cfg.handoff_dir, shutdown, READY_WAIT_SECONDS)
    if ready is None:
        if shutdown.requested.is_set():
            return Verdict(Status.KILLED, "terminated before opencode started")
        return Verdict(Status.FAILED, "the git container never said the clone was ready")
    if ready.abort is not None:
        emit(f"[agent] nothing to work on: {ready.abort}")
        return None
    return run_agent(Run(cfg, _started(ready), shutdown, emit))
