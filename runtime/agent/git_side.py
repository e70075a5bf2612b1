"""The trusted side of the pod (container ``git``): clone, wait, commit, push, result line.

Runs as a native sidecar: started before the ``agent`` container, which the kubelet
holds back until ``ready`` is in the handoff directory (the startupProbe), and sent
SIGTERM only after the ``agent`` container has exited -- whether it ended by itself,
the pod was deleted or its deadline passed.  So when this side commits and pushes, no
agent process runs any more (the two containers share no process namespace), and what
it checks in the work tree stays checked.

Everything this side prints goes to stdout, which is the pod's log the host follows:
its own lines, the agent's lines relayed from the handoff directory (cleaned, never a
result line), and the result line last.  The result's task, branch, commit and files
are this side's own; the agent's verdict only picks among the statuses an agent run
can end with (:data:`runtime.agent.handoff.CLAIMABLE`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.agent import checkpoint, credentials, gitops, handoff, integration, session_store
from runtime.agent.config import AgentConfig, ConfigError, load
from runtime.agent.gitops import Checkout, Git, GitError, Repo
from runtime.agent.handoff import Verdict
from runtime.agent.llm_usage import OverBudget, read_usage
from runtime.agent.shutdown import LateWatch, Shutdown, TerminatedError
from runtime.contract.outcome import NO_VERDICT, Result, Status
from runtime.contract.pod import (
    HANDOFF_DIR,
    SIGTERM_BUDGET_SECONDS,
    Env,
    Handoff,
)
from runtime.contract.redact import scrub
from runtime.contract.start import describe

POLL_SECONDS = 0.5
RELAY_SECONDS = 0.1  # the agent's lines reach the pod's log within this (~50 ms on average)
VERDICT_GRACE_SECONDS = 8.0  # of the 45 s after SIGTERM
# no result this long after SIGTERM (10 s before the SIGKILL): say where the side is stuck
LATE_RESULT_SECONDS = SIGTERM_BUDGET_SECONDS + 5.0
UMASK = 0o002  # the work tree is group-writable: the agent (same group) edits it
STATE_FILE = ".speckit-pods/state.json"

Emit = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Run:
    """One run's fixed inputs."""

    config: AgentConfig
    started: float
    shutdown: Shutdown
    emit: Emit
    transcript: session_store.Transcript | None = None  # what emit printed, for the session

    def push_deadline(self) -> Callable[[], float]:
        """When pushing must be done: the SIGTERM's budget of the grace period, from now."""
        end = (self.shutdown.at or time.monotonic()) + SIGTERM_BUDGET_SECONDS
        return lambda: end

    @property
    def repo(self) -> Repo:
        """The clone: git dir on its own volume, work tree in the workspace."""
        return Repo(self.config.git_dir, self.config.clone_dir)

    def result(
        self,
        status: Status,
        reason: str = "",
        commit: str = "",
        files: tuple[str, ...] = (),
        start: str = "",
    ) -> Result:
        """The result line's data, with the duration so far and the LLM proxy's counts.

        ``start`` is the commit the agent started from (after the start points' merges).
        """
        requests, tokens_in, tokens_out, cost = llm_usage(self.config.llm_usage_dir)
        return Result(
            task=self.config.task_id,
            status=status,
            branch=self.config.task_branch,
            commit=commit,
            files_changed=files,
            duration_s=time.monotonic() - self.started,
            reason=reason,
            llm_requests=requests,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            started_from=self.config.start_points,
            start_commit=start,
        )


def over_budget(directory: Path | None) -> OverBudget | None:
    """The budget reached first and what was used, once the proxy counted it; else ``None``.

    From ``usage.json``, which the proxy (trusted) writes and the agent cannot reach:
    a hijacked agent can neither claim over-budget nor hide it.
    """
    usage = read_usage(directory) if directory is not None else None
    return usage.over_budget if usage is not None else None


def llm_usage(directory: Path | None) -> tuple[int, int, int, float | None]:
    """Requests, input and output tokens the pod's LLM proxy counted, and their cost.

    Zeros and ``None`` (the cost unknown) if there are none.  The cost is the proxy's
    tokens at the developer's price (``LLM_PRICE_PER_MTOK``), ``None`` without one;
    opencode's own cost is never read: the agent can rewrite its config.  The proxy
    (trusted) writes the file; the agent container has no mount of it.
    """
    usage = read_usage(directory) if directory is not None else None
    if usage is None:
        return 0, 0, 0, None
    return usage.requests, usage.input_tokens, usage.output_tokens, usage.cost_usd


# --- start: clone, or pick up after a restart of this container ------------------------


def _state_path(cfg: AgentConfig) -> Path:
    return cfg.home / STATE_FILE


def _save_state(cfg: AgentConfig, checkout: Checkout | None, failed: Result | None) -> None:
    path = _state_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {
        "start": checkout.start if checkout else "",
        "resumed": checkout.resumed if checkout else False,
        "failed": failed.to_line() if failed else "",
    }
    path.write_text(json.dumps(data), encoding="utf-8")


def _load_state(run: Run) -> tuple[Checkout | None, Result | None] | None:
    """After a restart of this container (the kubelet restarts sidecars): the saved start."""
    try:
        data = json.loads(_state_path(run.config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    failed = Result.from_line(str(data.get("failed", "")))
    if failed is not None:
        return None, failed
    return Checkout(run.repo, str(data["start"]), bool(data.get("resumed"))), None


def _clone(run: Run, git: Git) -> Checkout:
    cfg = run.config
    run.emit(f"[git] cloning {cfg.repo_url} ({cfg.base_branch} -> {cfg.task_branch})")
    if cfg.integrate:
        return integration.clone(cfg, git, run.repo, run.emit)
    points = cfg.start_points
    if points:
        run.emit(f"[git] starting from the work of its prerequisites: {describe(points)}")
    checkout = gitops.prepare(git, cfg.repo_url, cfg.base_branch, cfg.task_branch, run.repo, points)
    if checkout.resumed:
        run.emit(f"[git] {cfg.task_branch} already exists on the remote: continuing from it")
    if points:
        merged = describe(checkout.merged) if checkout.merged else "nothing (all contained)"
        run.emit(f"[git] merged {merged}; the agent starts at {checkout.start[:12]}")
    checkout = checkpoint.restore(cfg, git, checkout, run.emit)  # after a hard fault
    gitops.write_excludes(run.repo)
    count = gitops.place_context(cfg.task_dir / "context", checkout.path)
    run.emit(f"[git] {count} context file(s) in {gitops.CONTEXT_DIR}")
    return checkout


def start(run: Run, git: Git) -> tuple[Checkout | None, Result | None]:
    """Clone (or reuse the clone after a restart); exactly one of the two is set.

    Raises:
        TerminatedError: SIGTERM arrived during the clone.
    """
    saved = _load_state(run)
    if saved is not None:
        run.emit("[git] restarted: continuing with the clone made before")
        return saved
    run.shutdown.interruptible = True
    try:
        checkout = _clone(run, git)
    except GitError as err:
        run.shutdown.interruptible = False
        failed = run.result(err.status, err.message)
        _save_state(run.config, None, failed)
        return None, failed
    run.shutdown.interruptible = False
    _save_state(run.config, checkout, None)
    return checkout, None


# --- end: the agent's claim, commit, push ----------------------------------------------


def claimed(verdict: Verdict | None) -> tuple[Status, str]:
    """The status the agent's verdict may choose; no verdict is a failure."""
    if verdict is None:
        return Status.FAILED, NO_VERDICT
    if verdict.status is Status.NO_CHANGES:  # the work tree decides that, below
        return Status.SUCCEEDED, verdict.reason
    return verdict.status, verdict.reason


def decided(run: Run, verdict: Verdict | None) -> tuple[Status, str]:
    """The run's status: over-budget when the proxy counted the budget spent, else the claim.

    Over-budget wins over any claim, succeeded too: the run used more than it was given.
    """
    over = over_budget(run.config.llm_usage_dir)
    if over is not None:
        return Status.OVER_BUDGET, over.reason
    return claimed(verdict)


def finish(run: Run, git: Git, checkout: Checkout, verdict: Verdict | None) -> Result:
    """Commit everything in the work tree and push it to the task branch."""
    cfg = run.config
    status, reason = decided(run, verdict)
    if status is not Status.SUCCEEDED:
        run.emit(f"[git] the agent ended {status.value}: {reason}")
    if status is Status.SETUP_FAILED:  # no agent ran: what the script left is no task's work
        run.emit("[git] nothing pushed: the setup script failed before the agent started")
        return run.result(status, reason, start=checkout.start)
    wip = "" if status.ok else f"{status.value}: {reason}"
    message = gitops.commit_message(
        cfg.task_id, cfg.task_title, cfg.requested_by, wip, cfg.start_points
    )
    gitops.commit_all(git, checkout.repo, message, warn=run.emit)
    commit = gitops.head(git, checkout.repo)
    start = checkout.start
    restacked = checkout.resumed and bool(checkout.merged)  # new prerequisite work merged in
    if commit == start and not restacked:
        if status.ok:
            return run.result(
                Status.NO_CHANGES, "opencode finished without changing any file", start=start
            )
        return run.result(status, f"{reason}; no changes to save", start=start)
    files = gitops.changed_files(git, checkout.repo, start)
    run.emit(f"[git] pushing {commit[:12]} ({len(files)} file(s)) to {cfg.task_branch}")
    try:
        gitops.push(git, checkout.repo, cfg.repo_url, cfg.task_branch, run.push_deadline())
    except GitError as err:
        if status.ok:
            return run.result(err.status, err.message, commit, files, start)
        # not timeout/killed: those promise a pushed WIP; the work is only in this pod
        return run.result(
            err.status, f"{reason}; WIP not saved: {err.message}", commit, files, start
        )
    checkpoint.discard(cfg, git, checkout.repo, run.push_deadline()(), run.emit)
    if not status.ok:
        reason = f"{reason}; WIP commit pushed to {cfg.task_branch}"
    elif commit == start:  # restacked, nothing of its own to add: the merges are the news
        reason = f"nothing new of its own; its branch now holds {describe(checkout.merged)}"
    return run.result(status, reason, commit, files, start)


def _finish_safely(run: Run, git: Git, checkout: Checkout, verdict: Verdict | None) -> Result:
    try:
        if run.config.integrate:
            return integration.finish(
                run.config, git, checkout, verdict, run.result, run.push_deadline(), run.emit
            )
        return finish(run, git, checkout, verdict)
    except GitError as err:
        status, reason = decided(run, verdict)
        status = status if not status.ok else Status.FAILED
        return run.result(status, f"{reason} {err.message}".strip())


# --- the whole side --------------------------------------------------------------------


def _wait_for_sigterm(
    run: Run, relay: handoff.Relay, checkpoints: checkpoint.Checkpoints | None = None
) -> None:
    """Relay the agent's lines until SIGTERM: the agent container has exited then.

    Meanwhile ``checkpoints`` snapshots the work tree when one is due (interrupted by
    SIGTERM, so the WIP push keeps its budget).

    The kubelet orders it so (Kubernetes >= 1.29). Should a SIGTERM come early anyway
    (an older kubelet, a kubelet restarted mid-termination), a missing verdict is waited
    for a few seconds: the agent writes it last, so this usually lets the agent finish.
    It is no defence against a hostile agent; the ordering is.
    """
    asked = False
    checked = 0.0
    while not run.shutdown.requested.wait(RELAY_SECONDS):
        relay.poll()
        if time.monotonic() - checked < POLL_SECONDS:
            continue  # the budget and the checkpoints every POLL_SECONDS, the lines sooner
        checked = time.monotonic()
        asked = _stop_if_over_budget(run, asked)
        if checkpoints is not None:
            checkpoints.poll()
    end = time.monotonic() + VERDICT_GRACE_SECONDS
    while not (run.config.handoff_dir / Handoff.VERDICT).exists() and time.monotonic() < end:
        relay.poll()
        time.sleep(POLL_SECONDS / 5)
    relay.finish()


def _stop_if_over_budget(run: Run, asked: bool) -> bool:
    """Once the proxy counted a budget spent, ask the agent side to stop opencode.

    Like the stall watchdog and the deadline, the agent side stops opencode and exits,
    and the kubelet then sends us SIGTERM; opencode may otherwise retry the refused
    requests.  ``stop`` is written again should it go (the agent can delete it).  The
    outcome does not depend on any of it: :func:`decided` reads ``usage.json``.
    """
    stop = run.config.handoff_dir / Handoff.STOP
    if asked and stop.exists():
        return True
    over = over_budget(run.config.llm_usage_dir)
    if over is None:
        return False
    if not asked:
        run.emit(f"[git] over budget: {over.reason}; the proxy refuses more: stopping the agent")
    try:
        handoff.request_stop(run.config.handoff_dir, f"over budget: {over.reason}")
    except OSError as err:
        if not asked:
            run.emit(f"[git] WARNING: cannot ask the agent to stop: {err}")
    return True


def run_git_side(run: Run) -> Result:
    """Clone, let the agent start, wait for SIGTERM, then commit, push; the result."""
    cfg = run.config
    env = {**os.environ, **credentials.setup(cfg, warn=run.emit)}
    git = Git(env, redact=(credentials.read_token(cfg.credentials_dir),))
    try:
        checkout, failed = start(run, git)
    except TerminatedError:
        return run.result(Status.KILLED, "terminated before opencode started")
    if checkout is None:
        assert failed is not None
        run.emit(f"[git] ERROR: {failed.reason}")
        # the agent sees abort and exits at once; then the kubelet sends us SIGTERM
        _abort(cfg.handoff_dir, failed.reason or "the clone failed", run.shutdown)
        return dataclasses.replace(failed, duration_s=time.monotonic() - run.started)
    handoff.mark_ready(cfg.handoff_dir, time.time() - (time.monotonic() - run.started))
    run.emit("[git] ready: the agent starts; its lines follow")
    relay = handoff.Relay(cfg.handoff_dir / Handoff.AGENT_LOG, run.emit)
    checkpoints = checkpoint.start(cfg, git, checkout, run.shutdown, run.emit)
    _wait_for_sigterm(run, relay, checkpoints)
    verdict = handoff.read_verdict(cfg.handoff_dir)
    run.emit("[git] the agent container has ended: committing and pushing its work")
    result = _finish_safely(run, git, checkout, verdict)
    if run.transcript is not None:  # after the task branch's push, which matters more
        deadline = run.push_deadline()()
        session_store.keep(cfg, git, checkout.repo, result, run.transcript, deadline, run.emit)
    return result


def _printer(redact: tuple[str, ...]) -> Emit:
    def emit(line: str) -> None:
        print(handoff.clean_line(scrub(line, redact)), flush=True)

    return emit


def _abort(directory: Path, reason: str, shutdown: Shutdown) -> None:
    """Let the agent container start and exit at once; wait for our SIGTERM.

    A sidecar that exits early is restarted by the kubelet, so even a failed start
    waits for the end of the pod like a successful one.
    """
    try:
        handoff.mark_ready(directory, time.time(), abort=reason)
    except OSError:
        pass
    while not shutdown.requested.wait(POLL_SECONDS):
        pass


def _failed_config(env: Mapping[str, str], err: ConfigError, shutdown: Shutdown) -> Result:
    print(f"[git] ERROR: invalid environment: {err}", flush=True)
    print("[git] Hint: the pod manifest (runtime/spawn/manifests.py) sets these.", flush=True)
    task = env.get(Env.TASK_ID, "").strip() or "unknown"
    result = Result(task, Status.FAILED, reason=f"invalid environment: {err}")
    _abort(Path(env.get(Env.HANDOFF_DIR) or HANDOFF_DIR), result.reason, shutdown)
    return result


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the git side; print the result line last; return its exit code."""
    started = time.monotonic()
    os.umask(UMASK)
    shutdown = Shutdown()
    shutdown.install()
    late = LateWatch(LATE_RESULT_SECONDS)
    late.start()
    env = os.environ if env is None else env
    try:
        cfg = load(env)
    except ConfigError as err:
        result = _failed_config(env, err, shutdown)
        print(result.to_line(), flush=True)
        late.done()
        return result.status.exit_code
    redact = (credentials.read_token(cfg.credentials_dir),)
    transcript = session_store.Transcript(redact)
    run = Run(cfg, started, shutdown, transcript.tee(_printer(redact)), transcript)
    try:
        result = run_git_side(run)
    except Exception as err:  # the result line must be printed whatever happens
        traceback.print_exc(file=sys.stdout)
        result = run.result(Status.FAILED, f"internal error: {type(err).__name__}: {err}")
        if not shutdown.requested.is_set():  # exiting now would be restarted: wait as usual
            _abort(cfg.handoff_dir, result.reason, shutdown)
    sys.stderr.flush()
    print(result.to_line(), flush=True)
    late.done()
    return result.status.exit_code
