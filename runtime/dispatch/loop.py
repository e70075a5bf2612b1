"""The dispatcher's run loop: start ready [ASYNC] tasks as pods, follow them, report.

A task starts as soon as its own prerequisites succeeded (no waiting for a whole
wave), while at most ``max_parallel`` pods run.  One worker thread per task spawns
(or re-attaches to) its pod and follows it; workers never print: they put
``(task, kind, payload)`` messages on one queue and the main thread prints whole
lines, updates the status view and runs the end-of-pod actions (report, mark the
task [X], clean up) one pod at a time.

* A failure blocks only the tasks that wait for it (``blocked by T012``).
* Re-run safe: pods of the feature that are still running (or ended successfully
  without being reported: a detached dispatch) are re-attached, never spawned twice; a
  concurrent dispatcher's pod shows up as :class:`AlreadyRunningError` and is attached
  too.  A kept pod whose result was reported (``reported-at``) is not re-attached: its
  task, set back to ``[ ]``, runs anew.
* Ctrl-C detaches: the pods keep running; the summary says how to re-attach.
* With an :class:`Integrator`, each time a wave of the plan is over (every task of it
  succeeded, failed or was blocked) and tasks succeeded since the last integration, the
  integration pod merges the done tasks into the feature's integration branch, while
  the next waves run; one integration at a time (a wave that ends meanwhile is taken by
  the next one), and a last one when the dispatch ends, so the branch holds every task
  that succeeded.  ``each_wave=False`` (``--integrate=end``) keeps only the last one.
  The integration pod takes no ``max_parallel`` slot (it is short; at most one runs).
  Each integration marks the succeeded tasks' rows: on the branch or not, and the task a
  conflict stopped at.  A conflict stops the integrations of this dispatch (the next would
  stop at the same task); a failed test command does not (later work may mend it).
* A pod the namespace's ResourceQuota refuses (:class:`QuotaExceededError`) does not fail
  its task: the task is ``queued`` with the quota's reason, nothing new starts while any
  is queued (first come, first started), and the first queued task is tried again as soon
  as one of this dispatch's pods ends, and on a backoff (:data:`QUOTA_RETRY_S`, doubling to
  :data:`QUOTA_RETRY_MAX_S`) in any case: another feature's pods may be the ones holding
  the quota.  With none of its own pods running for ``quota_give_up_s``
  (:data:`QUOTA_GIVE_UP_S`), the queued tasks fail, and the dispatch exits 19.
* One rule for lost pods (:meth:`Dispatcher._rerun_once`), task and integration pods
  alike: a pod that ended without a result line for a reason outside the run (its
  ``git`` container killed by a signal, OOM or the node, the pod deleted or evicted by
  someone other than us: ``Outcome.lost``) is run again once per dispatch, with one
  WARNING line naming why; the new pod continues from the task branch like any rerun.
  A second loss is reported as it ended.  A pod that printed a result is never rerun,
  nor one we deleted on purpose (``run-async.sh cancel``, ``--replace``).
"""

from __future__ import annotations

import dataclasses
import enum
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from runtime.common.durations import human_duration
from runtime.contract.exit_codes import ExitCode
from runtime.contract.outcome import Result, Status
from runtime.errors import AlreadyRunningError, QuotaExceededError, SpeckitPodsError
from runtime.follow.follow import Ended
from runtime.tasks.plan import DispatchPlan

__all__ = [
    "EXIT_HELD",
    "INTEGRATION",
    "Backend",
    "Dispatcher",
    "Integrated",
    "Integrator",
    "Row",
    "RunState",
    "Summary",
    "Verdict",
    "View",
]

EXIT_HELD = ExitCode.HELD  # nothing failed, but some [ASYNC] tasks wait for unfinished tasks
REFRESH_S = 1.0  # how often the status view is redrawn while nothing happens
QUOTA_RETRY_S = 5.0  # a task the quota refused is tried again after this, then doubling
QUOTA_RETRY_MAX_S = 30.0
QUOTA_GIVE_UP_S = 30 * 60.0  # with none of this dispatch's pods running: fail the queued

INTEGRATION = "integration"  # the integration pod's row and message key (never a task ID)

Emit = Callable[[str, Any], None]


class RunState(enum.StrEnum):
    """Where one task stands in this dispatch."""

    WAITING = "waiting"  # prerequisites not done yet
    HELD = "held"  # waits for a task this dispatch does not run ([SYNC], not --only)
    STARTING = "starting"  # worker spawning the pod
    QUEUED = "queued"  # the namespace's quota has no room for its pod (yet)
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"  # a prerequisite failed
    DETACHED = "detached"  # still running when we stopped following (Ctrl-C)

    @property
    def final(self) -> bool:
        """Whether the task will not change state any more in this dispatch."""
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.BLOCKED, RunState.HELD)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """How a task's pod ended, after verification and the end-of-pod actions."""

    status: Status
    reason: str
    branch: str = ""
    commit: str = ""
    started_from: tuple[str, ...] | None = None  # whose work it started from; None: not known
    tokens: tuple[int, int] | None = None  # (input, output) the pod's LLM proxy counted
    pull_request: str = ""  # the URL of its pull request (--pr)
    cost_usd: float | None = None  # those tokens at the developer's price; None: not known


@dataclasses.dataclass(frozen=True)
class Integrated:
    """How one integration ended."""

    status: Status
    branch: str
    reason: str
    result: Result | None = None  # the integration pod's result line
    base: str = ""  # the feature's base branch
    asked: tuple[str, ...] = ()  # the tasks it was to merge, in order (the pod's start points)

    @property
    def on_branch(self) -> tuple[str, ...]:
        """The tasks the branch holds now, in merge order (the result's ``started_from``)."""
        return tuple(point.task for point in self.result.started_from) if self.result else ()

    @property
    def commit(self) -> str:
        """The branch's commit after the integration; ``""`` without a result."""
        return self.result.commit if self.result else ""

    @property
    def stopped_at(self) -> str:
        """The task a conflict stopped it at (the first asked one not on the branch), or ``""``.

        Not known (``""``) without a result or without the tasks it was asked to merge.
        """
        if self.status is not Status.CONFLICT or self.result is None:
            return ""
        on_branch = set(self.on_branch)
        return next((task for task in self.asked if task not in on_branch), "")


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the status view."""

    task: str
    state: RunState
    detail: str = ""  # reason, "blocked by T012", "waits for T003 [SYNC]"
    pod: str = ""
    branch: str = ""
    last_line: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    started_from: tuple[str, ...] | None = None  # None: not known yet; (): the base
    integrated: bool | None = None  # None: not known (not succeeded, or not integrated yet)
    conflict: bool = False  # an integration stopped at this task (its work does not merge)
    tokens: tuple[int, int] | None = None  # (input, output); None: no result line
    pull_request: str = ""  # the URL of its pull request (--pr)
    cost_usd: float | None = None  # US dollars at the developer's price; None: not known
    attempts: int = 1  # pods run for it in this dispatch (2: a lost pod was run again)


class Backend(Protocol):
    """What the loop needs from the cluster side (fakes in tests)."""

    def attachable(self) -> Mapping[str, str]:
        """Task ID -> pod of this feature to re-attach to instead of spawning."""
        ...

    def spawn(self, task_id: str) -> str:
        """Start the task's pod; return its name (``AlreadyRunningError`` if one runs)."""
        ...

    def find(self, task_id: str) -> str | None:
        """The task's running pod, after a spawn was refused as a duplicate."""
        ...

    def follow(self, task_id: str, pod: str, index: int, emit: Emit) -> Ended:
        """Follow the pod to its end (worker thread); ``emit("line"|"note", text)``."""
        ...

    def finish(self, ended: Ended) -> Verdict:
        """Report, verify, mark done and clean up one ended pod (main thread)."""
        ...


class Integrator(Protocol):
    """Merges the feature's done tasks into its integration branch (fakes in tests)."""

    def spawn(self) -> str | None:
        """Start the integration pod (worker thread); ``None``: nothing to integrate."""
        ...

    def follow(self, pod: str, index: int, emit: Emit) -> Ended:
        """Follow the integration pod to its end (worker thread)."""
        ...

    def finish(self, ended: Ended) -> Integrated:
        """Report the ended integration pod (main thread)."""
        ...


class View(Protocol):
    """Where the dispatch shows itself: log lines, notes and the status table."""

    def line(self, task_id: str, text: str) -> None:
        """One log line of a task's agent (stdout)."""
        ...

    def note(self, level: str, task_id: str, text: str) -> None:
        """One status line about a task (stderr)."""
        ...

    def update(self, rows: list[Row], now: float) -> None:
        """The table changed (or time passed)."""
        ...


@dataclasses.dataclass(frozen=True)
class Summary:
    """The end state of every task of the plan."""

    rows: tuple[Row, ...]
    interrupted: bool = False
    integration: Integrated | None = None  # the last integration of the dispatch
    gave_up: frozenset[str] = frozenset()  # tasks failed waiting for the quota

    @property
    def tokens(self) -> tuple[int, int, int]:
        """Input and output tokens of every task that reported them, and how many did."""
        counted = [row.tokens for row in self.rows if row.tokens is not None]
        return sum(t[0] for t in counted), sum(t[1] for t in counted), len(counted)

    @property
    def cost(self) -> tuple[float, int]:
        """The cost of every task that reported one (US dollars), and how many did."""
        costs = [row.cost_usd for row in self.rows if row.cost_usd is not None]
        return sum(costs), len(costs)

    @property
    def exit_code(self) -> int:
        """0 all succeeded, 1 a failure, 28 some held, 130 interrupted (detached).

        A failed last integration (conflict, tests) is a failure too; 19 when the only
        failures are tasks that waited for the quota too long.
        """
        states = {row.state for row in self.rows}
        if self.interrupted:
            return ExitCode.INTERRUPTED
        failed = {row.task for row in self.rows if row.state is RunState.FAILED}
        if failed and failed <= self.gave_up:  # the quota, not the tasks
            return ExitCode.QUOTA_EXCEEDED
        if states & {RunState.FAILED, RunState.BLOCKED}:
            return ExitCode.FAILED
        if self.integration is not None and not self.integration.status.ok:
            return ExitCode.FAILED
        return EXIT_HELD if RunState.HELD in states else ExitCode.SUCCEEDED


@dataclasses.dataclass
class QuotaWait:
    """The namespace's quota refused this dispatch's next pod: when to try again."""

    error: QuotaExceededError  # the last refusal
    idle_since: float  # since when none of this dispatch's pods runs
    retry_at: float
    delay: float = QUOTA_RETRY_S
    freed: bool = False  # one of this dispatch's pods ended: try again at once


class Dispatcher:
    """Runs one plan against a backend; :meth:`run` returns the summary."""

    def __init__(
        self,
        plan: DispatchPlan,
        backend: Backend,
        view: View,
        *,
        max_parallel: int = 3,
        integrator: Integrator | None = None,
        each_wave: bool = True,
        clock: Callable[[], float] = time.monotonic,
        quota_give_up_s: float = QUOTA_GIVE_UP_S,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.plan, self.backend, self.view = plan, backend, view
        self.max_parallel, self.clock = max(1, max_parallel), clock
        self.quota_give_up_s, self.refresh_s = quota_give_up_s, refresh_s
        self.queued: list[str] = []  # refused by the quota, first come first
        self.quota_wait: QuotaWait | None = None
        self.probe: str | None = None  # the queued task being tried again
        self.gave_up: set[str] = set()
        self.integrator, self.each_wave = integrator, each_wave
        self.integration: Integrated | None = None  # the last one that ended
        self.integration_row: Row | None = None
        self.integrating = False  # an integration pod is being spawned or followed
        self.integrated_upto: frozenset[str] = frozenset()  # succeeded when it was started
        self.integrations_stopped = False  # a conflict: the next would stop there too
        self.reran: set[str] = set()  # the tasks (and INTEGRATION) whose lost pod was rerun
        self.waves_over: set[int] = set()
        self.index = {tid: i for i, tid in enumerate(plan.runnable)}
        self.rows: dict[str, Row] = {tid: Row(tid, RunState.WAITING) for tid in plan.runnable}
        for held in plan.held:
            detail = held.describe(plan.tasks)
            self.rows[held.task_id] = Row(held.task_id, RunState.HELD, detail)
        self.messages: queue.Queue[tuple[str, str, Any]] = queue.Queue()

    # --- state -----------------------------------------------------------------------

    def _set(self, task_id: str, **changes: Any) -> None:
        self.rows[task_id] = dataclasses.replace(self.rows[task_id], **changes)

    def _in(self, *states: RunState) -> list[str]:
        return [tid for tid, row in self.rows.items() if row.state in states]

    def _ordered_rows(self) -> list[Row]:
        order = list(self.plan.tasks)
        rows = sorted(self.rows.values(), key=lambda r: order.index(r.task))
        return rows + ([self.integration_row] if self.integration_row else [])

    # --- workers ---------------------------------------------------------------------

    def _start(self, task_id: str, pod: str | None) -> None:
        started = self.rows[task_id].started_at  # a rerun's elapsed time counts from the first
        started = self.clock() if started is None else started
        self._set(task_id, state=RunState.STARTING, pod=pod or "", started_at=started)
        args = (task_id, pod)
        threading.Thread(target=self._work, args=args, name=f"task-{task_id}", daemon=True).start()

    def _work(self, task_id: str, pod: str | None) -> None:
        put = self.messages.put
        try:
            if pod is None:
                try:
                    pod = self.backend.spawn(task_id)
                    put((task_id, "spawned", pod))
                except AlreadyRunningError:
                    pod = self.backend.find(task_id)
                    if pod is None:
                        raise
                    put((task_id, "attached", pod))
            else:
                put((task_id, "attached", pod))
            emit: Emit = lambda kind, payload: put((task_id, kind, payload))  # noqa: E731
            put((task_id, "ended", self.backend.follow(task_id, pod, self.index[task_id], emit)))
        except QuotaExceededError as err:  # no pod was created: the task waits
            put((task_id, "quota", err))
        except Exception as err:  # noqa: BLE001 - reported by the main thread
            put((task_id, "error", err))

    def _integrate_work(self, integrator: Integrator) -> None:
        put = self.messages.put
        try:
            pod = integrator.spawn()
            if pod is None:
                put((INTEGRATION, "nothing", None))
                return
            put((INTEGRATION, "spawned", pod))
            emit: Emit = lambda kind, payload: put((INTEGRATION, kind, payload))  # noqa: E731
            put((INTEGRATION, "ended", integrator.follow(pod, len(self.index), emit)))
        except Exception as err:  # noqa: BLE001 - reported by the main thread
            put((INTEGRATION, "error", err))

    def _integration_due(self) -> bool:
        """Whether to start an integration now (a wave is over, or the dispatch is)."""
        if self.integrator is None or self.integrating or self.integrations_stopped:
            return False
        if not set(self._in(RunState.SUCCEEDED)) - self.integrated_upto:
            return False
        over = {
            number
            for number, wave in enumerate(self.plan.waves)
            if all(self.rows[tid].state.final for tid in wave)
        }
        new_wave, self.waves_over = bool(over - self.waves_over), self.waves_over | over
        if new_wave and self.each_wave:
            return True
        return not self._in(RunState.STARTING, RunState.RUNNING, RunState.WAITING, RunState.QUEUED)

    def _integrate(self) -> None:
        if self.integrator is None or not self._integration_due():
            return
        self.integrating = True
        self.integrated_upto = frozenset(self._in(RunState.SUCCEEDED))
        previous = self.integration_row  # WAITING: its pod was lost, this is the rerun
        lost = previous is not None and previous.state is RunState.WAITING
        attempts = previous.attempts if previous is not None and lost else 1
        self.integration_row = Row(
            INTEGRATION, RunState.STARTING, started_at=self.clock(), attempts=attempts
        )
        args = (self.integrator,)
        threading.Thread(
            target=self._integrate_work, args=args, name=INTEGRATION, daemon=True
        ).start()

    def _launch_ready(self) -> None:
        if self.quota_wait is not None:  # the queued go first
            return
        started = [tid for tid, row in self.rows.items() if row.state is not RunState.WAITING]
        succeeded = self._in(RunState.SUCCEEDED)
        for task_id in self.plan.ready(succeeded, started):
            if len(self._in(RunState.STARTING, RunState.RUNNING)) >= self.max_parallel:
                return
            self._start(task_id, None)

    # --- the quota -------------------------------------------------------------------

    def _queue(self, task_id: str, err: QuotaExceededError) -> None:
        """The quota refused the task's pod: queue it (a refused retry: at the front)."""
        now, retried = self.clock(), task_id == self.probe
        self._set(task_id, state=RunState.QUEUED, detail=err.reason, pod="", started_at=None)
        self.queued.insert(0 if retried else len(self.queued), task_id)
        wait = self.quota_wait
        if wait is None:
            self.quota_wait = QuotaWait(err, idle_since=now, retry_at=now + QUOTA_RETRY_S)
        elif retried:
            delay = min(wait.delay * 2, QUOTA_RETRY_MAX_S)
            wait.error, wait.delay, wait.retry_at, wait.freed = err, delay, now + delay, False
        if retried:
            self.probe = None

    def _retry_queued(self) -> None:
        """Try the first queued task again when a pod ended or the backoff passed."""
        wait = self.quota_wait
        if wait is None or self.probe is not None:
            return
        if not self.queued:
            self.quota_wait = None
            return
        now, busy = self.clock(), len(self._in(RunState.STARTING, RunState.RUNNING))
        if busy:
            wait.idle_since = now
        elif now - wait.idle_since >= self.quota_give_up_s:
            self._give_up(wait)
            return
        if (wait.freed or now >= wait.retry_at) and busy < self.max_parallel:
            self.probe, wait.freed = self.queued.pop(0), False
            self._start(self.probe, None)

    def _started(self, task_id: str) -> None:
        """A pod of the task runs: a queued one got in, so try the next at once."""
        if task_id != self.probe or self.quota_wait is None:
            return
        self.probe = None
        self.quota_wait.freed = True

    def _give_up(self, wait: QuotaWait) -> None:
        waited = human_duration(self.quota_give_up_s)
        detail = f"{wait.error.reason}: gave up after {waited} with no pod of this dispatch running"
        queued, self.queued, self.quota_wait = self.queued, [], None
        for task_id in queued:
            self.gave_up.add(task_id)
            self.view.note("ERROR", task_id, detail)
            self._end(task_id, False, detail, "")
        self.view.note("Hint", queued[0], wait.error.hint)

    # --- messages --------------------------------------------------------------------

    def _handle(self, task_id: str, kind: str, payload: Any) -> None:
        if task_id == INTEGRATION:
            self._handle_integration(kind, payload)
        elif kind == "line":
            self.view.line(task_id, str(payload))
            self._set(task_id, last_line=str(payload))
        elif kind == "note":
            self.view.note("WARNING", task_id, str(payload))
        elif kind == "quota":
            self._queue(task_id, payload)
        elif kind in ("spawned", "attached"):
            self._started(task_id)
            self._set(task_id, state=RunState.RUNNING, pod=str(payload))
            verb = "started pod" if kind == "spawned" else "attached to running pod"
            self.view.note("INFO", task_id, f"{verb} {payload}")
        elif kind == "ended" and self._rerun_once(task_id, payload):
            self._set(task_id, attempts=self.rows[task_id].attempts + 1)
            self._start(task_id, None)
        elif kind == "ended":
            verdict = self.backend.finish(payload)
            self._end(task_id, verdict.status.ok, verdict.reason, verdict.branch)
            self._set(
                task_id,
                started_from=verdict.started_from,
                tokens=verdict.tokens,
                cost_usd=verdict.cost_usd,
                pull_request=verdict.pull_request,
            )
        else:
            err: BaseException = payload
            message = err.message if isinstance(err, SpeckitPodsError) else repr(err)
            self.view.note("ERROR", task_id, message)
            if isinstance(err, SpeckitPodsError) and err.hint:
                self.view.note("Hint", task_id, err.hint)
            self._end(task_id, False, message, "")

    def _set_integration(self, **changes: Any) -> None:
        if self.integration_row is not None:
            self.integration_row = dataclasses.replace(self.integration_row, **changes)

    def _handle_integration(self, kind: str, payload: Any) -> None:
        """A message of the integration's worker: like a task's, plus the branch's state."""
        if kind == "line":
            self.view.line(INTEGRATION, str(payload))
            self._set_integration(last_line=str(payload))
        elif kind == "note":
            self.view.note("INFO", INTEGRATION, str(payload))
        elif kind == "spawned":
            self._set_integration(state=RunState.RUNNING, pod=str(payload))
        elif kind == "nothing":  # the done tasks have no branch on the remote (yet)
            self.integrating = False
            self._set_integration(state=RunState.SUCCEEDED, detail="nothing to integrate")
        elif kind == "ended" and self._rerun_once(INTEGRATION, payload):
            # merging again skips what is on the branch; started when it is due again
            self.integrating, self.integrated_upto = False, frozenset()
            row = self.integration_row
            attempts = row.attempts + 1 if row is not None else 2
            self._set_integration(
                state=RunState.WAITING, detail="its pod was lost: to run again", attempts=attempts
            )
        elif kind == "ended" and self.integrator is not None:
            self.integrating = False
            self._integration_ended(self.integrator.finish(payload))
        else:
            self.integrating, self.integrations_stopped = False, True
            err: BaseException = payload
            if isinstance(err, AlreadyRunningError):  # another dispatcher's integration
                self.view.note("INFO", INTEGRATION, f"not started: {err.message}")
                self._set_integration(state=RunState.DETACHED, detail=err.message)
                return
            message = err.message if isinstance(err, SpeckitPodsError) else repr(err)
            self.view.note("ERROR", INTEGRATION, message)
            if isinstance(err, SpeckitPodsError) and err.hint:
                self.view.note("Hint", INTEGRATION, f"{err.hint} (or --integrate=never)")
            self.integration = Integrated(Status.FAILED, "", message)
            self._set_integration(state=RunState.FAILED, detail=message, ended_at=self.clock())

    def _integration_ended(self, done: Integrated) -> None:
        """Record an ended integration: its row, the tasks' marks, what comes next."""
        self.integration = done
        state = RunState.SUCCEEDED if done.status.ok else RunState.FAILED
        self._set_integration(
            state=state, detail=done.reason, branch=done.branch, ended_at=self.clock(),
        )  # fmt: skip
        if done.result is not None:  # else it said nothing of the branch
            on_branch, stopped = set(done.on_branch), done.stopped_at
            for tid in self._in(RunState.SUCCEEDED):
                self._set(tid, integrated=tid in on_branch, conflict=tid == stopped)
        if done.status is Status.CONFLICT:
            self.integrations_stopped = True
            self.view.note("WARNING", INTEGRATION, f"no more integrations: {done.reason}")
            if done.stopped_at in self.rows:
                self.view.note(
                    "WARNING", done.stopped_at,
                    f"not on {done.branch}: the integration stopped here (conflict)",
                )  # fmt: skip

    def _rerun_once(self, key: str, ended: Ended) -> bool:
        """Whether to run a lost pod again (task ID or INTEGRATION): once per dispatch.

        Lost (``Outcome.lost``, decided by ``runtime.follow.classify``): no result line,
        and its result container killed (signal, OOM, the node) or the pod deleted or
        evicted by someone other than us.  Says why in one WARNING line.
        """
        if not ended.outcome.lost or key in self.reran:
            return False
        self.reran.add(key)
        self.view.note("WARNING", key, f"{ended.outcome.reason}; rerunning once")
        return True

    def _end(self, task_id: str, ok: bool, reason: str, branch: str) -> None:
        if self.quota_wait is not None:  # its pod (if any) no longer counts against the quota
            self.quota_wait.freed = True
        if task_id == self.probe:
            self.probe = None
        state = RunState.SUCCEEDED if ok else RunState.FAILED
        self._set(task_id, state=state, detail=reason, ended_at=self.clock())
        if branch:
            self._set(task_id, branch=branch)
        if ok:
            return
        for dependent in self.plan.dependents(task_id):
            if self.rows[dependent].state is RunState.WAITING:
                self._set(dependent, state=RunState.BLOCKED, detail=f"blocked by {task_id}")
                self.view.note("WARNING", dependent, f"not started: blocked by {task_id}")

    # --- loop ------------------------------------------------------------------------

    def run(self) -> Summary:
        """Dispatch until every task reached a final state (or Ctrl-C)."""
        try:
            for task_id, pod in self.backend.attachable().items():
                if task_id in self.rows and self.rows[task_id].state is RunState.WAITING:
                    self._start(task_id, pod)
            while True:
                self._retry_queued()
                self._launch_ready()
                self._integrate()
                self.view.update(self._ordered_rows(), self.clock())
                busy = self._in(RunState.STARTING, RunState.RUNNING, RunState.QUEUED)
                if not busy and not self.integrating:
                    break
                try:
                    self._handle(*self.messages.get(timeout=self.refresh_s))
                except queue.Empty:
                    continue
        except KeyboardInterrupt:
            for task_id in self._in(RunState.STARTING, RunState.RUNNING):
                self._set(task_id, state=RunState.DETACHED, detail="still running")
            if self.integrating:
                self._set_integration(state=RunState.DETACHED, detail="still running")
            self.view.update(self._ordered_rows(), self.clock())
            return self._summary(interrupted=True)
        for task_id in self._in(RunState.WAITING):  # unreachable unless a plan bug
            self._set(task_id, state=RunState.BLOCKED, detail="never became ready")
        return self._summary(interrupted=False)

    def _summary(self, *, interrupted: bool) -> Summary:
        rows = tuple(self._ordered_rows())
        return Summary(rows, interrupted, self.integration, frozenset(self.gave_up))
