"""A pod the namespace's quota refuses: its task is queued, retried, and given up on late."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest

from runtime.contract.exit_codes import ExitCode
from runtime.dispatch.loop import Dispatcher, RunState, Summary
from runtime.dispatch.view import PlainView
from runtime.errors import QuotaExceededError
from runtime.follow.follow import Ended
from runtime.kube.logs import Printer
from tests.unit.dispatch.test_loop import TASKS, FakeBackend, plan, wait_until

TWO = """\
# Tasks
## Phase 1: Work
- [ ] T002 [P] [ASYNC] Add `src/a.py`
- [ ] T003 [P] [ASYNC] Add `src/b.py`
"""
QUEUED_LINE = "INFO: [T003] queued: quota speckit-pods full (pods)"


def refused() -> QuotaExceededError:
    return QuotaExceededError(
        "creating pod p refused by quota speckit-pods: pods (requested 1, used 1, limit 1)",
        hint="wait, ask for more, or lower --max-parallel",
        quota="speckit-pods",
        resources=("pods",),
    )


class QuotaBackend(FakeBackend):
    """A namespace quota of ``room`` pods, ``others`` of them held by another feature."""

    def __init__(self, room: int, others: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.room, self.others, self.ours = room, others, 0
        self.attempts: list[str] = []
        self.release_others_after: int | None = None  # refusals before the others end

    def spawn(self, task_id: str) -> str:
        with self.lock:
            self.attempts.append(task_id)
            refusals = len(self.attempts) - len(set(self.attempts))
            if self.release_others_after is not None and refusals > self.release_others_after:
                self.others = 0
            if self.ours + self.others >= self.room:
                raise refused()
            self.ours += 1
        return super().spawn(task_id)

    def follow(self, task_id: str, pod: str, index: int, emit: Any) -> Ended:
        ended = super().follow(task_id, pod, index, emit)
        with self.lock:  # the pod is terminal: the quota counts it no more
            self.ours -= 1
        return ended


class TickClock:
    """Fake monotonic time: ``step`` seconds pass at every reading (``step=0``: frozen)."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class RecordingDispatcher(Dispatcher):
    """Records each backoff the dispatcher sets after a refused retry."""

    delays: list[float]

    def _queue(self, task_id: str, err: QuotaExceededError) -> None:
        super()._queue(task_id, err)
        assert self.quota_wait is not None
        self.delays = [*getattr(self, "delays", []), self.quota_wait.delay]


def plain_view(err: io.StringIO) -> PlainView:
    return PlainView(Printer(io.StringIO(), err, color=False), {})


@pytest.mark.timeout(30)
def test_a_refused_task_waits_queued_and_starts_when_our_pod_ends() -> None:
    gate = threading.Event()
    backend = QuotaBackend(room=1, gates={"T002": gate})
    err = io.StringIO()
    # a frozen clock: no backoff ever passes, only our own pod's end can start T003
    dispatcher = Dispatcher(
        plan(TWO), backend, plain_view(err), max_parallel=2, clock=TickClock(0), refresh_s=0.01
    )
    result: list[Summary] = []
    thread = threading.Thread(target=lambda: result.append(dispatcher.run()), daemon=True)
    thread.start()
    wait_until(lambda: dispatcher.rows["T003"].state is RunState.QUEUED)
    assert dispatcher.rows["T002"].state is RunState.RUNNING
    gate.set()
    thread.join(10)

    (summary,) = result
    assert summary.exit_code == 0
    assert {row.task: row.state for row in summary.rows} == {
        "T002": RunState.SUCCEEDED,
        "T003": RunState.SUCCEEDED,
    }
    assert backend.attempts.count("T003") == 2  # refused once, then after T002 ended
    assert backend.first("finish", "T002") < backend.first("spawn", "T003")
    assert err.getvalue().splitlines().count(QUEUED_LINE) == 1
    assert "ERROR" not in err.getvalue()


@pytest.mark.timeout(30)
def test_with_another_features_pods_holding_the_quota_it_backs_off_to_30s() -> None:
    backend = QuotaBackend(room=1, others=1)
    backend.release_others_after = 5  # the other feature's pod ends after 5 refused retries
    err = io.StringIO()
    clock = TickClock(0.25)
    dispatcher = RecordingDispatcher(
        plan(TWO), backend, plain_view(err), max_parallel=1, clock=clock, refresh_s=0
    )
    summary = dispatcher.run()

    assert summary.exit_code == 0, [(r.task, r.state, r.detail) for r in summary.rows]
    assert backend.attempts[:7] == ["T002"] * 7  # nothing else starts while one is queued
    assert dispatcher.delays[:6] == [5.0, 10.0, 20.0, 30.0, 30.0, 30.0]
    assert clock.now - 1000.0 >= 5 + 10 + 20 + 30 + 30 + 30
    queued = [line for line in err.getvalue().splitlines() if "queued:" in line]
    assert queued == ["INFO: [T002] queued: quota speckit-pods full (pods)"]


@pytest.mark.timeout(30)
def test_with_nothing_of_its_own_running_it_gives_up_after_the_bound() -> None:
    backend = QuotaBackend(room=0)  # never any room
    err = io.StringIO()
    clock = TickClock(1.0)
    dispatcher = Dispatcher(
        plan(TASKS), backend, plain_view(err), clock=clock, refresh_s=0, quota_give_up_s=1800
    )
    summary = dispatcher.run()

    rows = {row.task: row for row in summary.rows}
    assert {t: r.state for t, r in rows.items()} == {
        "T002": RunState.FAILED,
        "T003": RunState.FAILED,
        "T004": RunState.BLOCKED,
        "T005": RunState.BLOCKED,
        "T006": RunState.FAILED,
    }
    assert summary.gave_up == {"T002", "T003", "T006"}
    assert summary.exit_code == ExitCode.QUOTA_EXCEEDED
    assert rows["T002"].detail == (
        "quota speckit-pods full (pods): gave up after 30m0s with no pod of this dispatch running"
    )
    assert clock.now - 1000.0 >= 1800
    retries = len(backend.attempts) - 3  # the three ready tasks' first tries
    assert 1800 / 40 <= retries <= 3 + 1800 / 30  # one per 30 s after 5, 10, 20: no storm
    lines = err.getvalue().splitlines()
    assert sum("ERROR: [T002] quota speckit-pods full (pods): gave up" in x for x in lines) == 1
    assert sum(x.startswith("Hint:") for x in lines) == 1


@pytest.mark.timeout(30)
def test_our_own_running_pod_keeps_the_wait_from_giving_up() -> None:
    gate = threading.Event()
    backend = QuotaBackend(room=1, gates={"T002": gate})
    clock = TickClock(1.0)
    dispatcher = Dispatcher(
        plan(TWO), backend, plain_view(io.StringIO()), max_parallel=2, clock=clock,
        refresh_s=0.001, quota_give_up_s=60,
    )  # fmt: skip
    result: list[Summary] = []
    thread = threading.Thread(target=lambda: result.append(dispatcher.run()), daemon=True)
    thread.start()
    wait_until(lambda: clock.now > 1000 + 600)  # ten bounds pass while T002 runs
    assert dispatcher.rows["T003"].state in (RunState.QUEUED, RunState.STARTING)
    gate.set()
    thread.join(10)
    assert result and result[0].exit_code == 0
