"""The dispatcher integrates after each wave, one integration at a time, and last."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import pytest

from runtime.contract.outcome import Result, Status
from runtime.contract.start import StartPoint
from runtime.dispatch.loop import INTEGRATION, Dispatcher, Integrated, Row, RunState, Summary
from runtime.dispatch.view import render_summary
from runtime.errors import AlreadyRunningError
from runtime.follow.classify import Outcome
from runtime.follow.follow import Ended, Target
from runtime.spawn.start import RemoteError
from tests.unit.dispatch.test_loop import FakeBackend, RecordingView, plan

BRANCH = "specs/f/integration"


class FakeIntegrator:
    """Integrates what had succeeded when it was started; records every run."""

    def __init__(
        self,
        status: list[Status] | None = None,
        *,
        nothing: bool = False,
        error: Exception | None = None,
        on_finish: Callable[[int], None] | None = None,
    ) -> None:
        self.status = status or []
        self.nothing, self.error, self.on_finish = nothing, error, on_finish
        self.dispatcher: Dispatcher | None = None
        self.asked: list[frozenset[str]] = []
        self.lock = threading.Lock()
        self.active = self.max_active = 0

    def spawn(self) -> str | None:
        if self.error is not None:
            raise self.error
        if self.nothing:
            return None
        assert self.dispatcher is not None
        with self.lock:
            self.asked.append(self.dispatcher.integrated_upto)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        return f"sp-integration-{len(self.asked)}"

    def follow(self, pod: str, index: int, emit: Callable[[str, Any], None]) -> Ended:
        emit("line", f"[git] merging in {pod}")
        with self.lock:
            self.active -= 1
        return Ended(Target(pod, INTEGRATION, index), {}, Outcome(Status.SUCCEEDED, ""))

    def finish(self, ended: Ended) -> Integrated:
        number = len(self.asked)
        status = self.status[number - 1] if number <= len(self.status) else Status.SUCCEEDED
        on_branch = tuple(sorted(self.asked[-1]))
        if status is Status.CONFLICT:
            on_branch = on_branch[:1]
        if self.on_finish is not None:
            self.on_finish(number)
        reason = f"{', '.join(on_branch)} on the branch"
        commit = f"c0ffee{number:06d}"
        points = tuple(StartPoint(t, f"specs/f/{t}-async", "a" * 40) for t in on_branch)
        result = Result(INTEGRATION, status, BRANCH, commit, started_from=points)
        asked = tuple(sorted(self.asked[-1]))  # the pod's start points, in merge order
        return Integrated(status, BRANCH, reason, result, asked=asked)


def dispatch(
    backend: FakeBackend, integrator: FakeIntegrator, **kw: Any
) -> tuple[Summary, RecordingView]:
    view = RecordingView()
    dispatcher = Dispatcher(plan(), backend, view, integrator=integrator, **kw)
    integrator.dispatcher = dispatcher
    return dispatcher.run(), view


def rows(summary: Summary) -> dict[str, Any]:
    return {row.task: row for row in summary.rows}


@pytest.mark.timeout(30)
def test_each_wave_is_integrated_while_the_next_runs_and_the_branch_ends_with_every_task() -> None:
    # waves: T002 T003 T006 | T004 | T005; T004 may end only once the first integration did
    first_done = threading.Event()
    backend = FakeBackend(gates={"T004": first_done})
    integrator = FakeIntegrator(on_finish=lambda n: first_done.set() if n == 1 else None)

    summary, view = dispatch(backend, integrator)

    assert integrator.asked == [
        {"T002", "T003", "T006"},
        {"T002", "T003", "T006", "T004"},
        {"T002", "T003", "T006", "T004", "T005"},
    ]
    assert integrator.max_active == 1
    assert summary.exit_code == 0
    assert summary.integration is not None and summary.integration.commit == "c0ffee000003"
    table = rows(summary)
    assert all(table[t].integrated is True for t in ("T002", "T003", "T004", "T005", "T006"))
    assert table[INTEGRATION].state is RunState.SUCCEEDED
    assert table[INTEGRATION].branch == BRANCH
    assert (INTEGRATION, "[git] merging in sp-integration-1") in view.lines
    assert list(table)[-1] == INTEGRATION  # the last row of the table


@pytest.mark.timeout(30)
def test_a_wave_that_ends_during_an_integration_is_taken_by_the_next_one() -> None:
    release = threading.Event()
    integrations: list[int] = []

    class Slow(FakeIntegrator):
        def follow(self, pod: str, index: int, emit: Callable[[str, Any], None]) -> Ended:
            if not integrations:
                assert release.wait(10)  # the first integration lasts until T005 ended
            integrations.append(1)
            return super().follow(pod, index, emit)

    class Releasing(FakeBackend):
        def finish(self, ended: Ended) -> Any:
            verdict = super().finish(ended)
            if ended.target.task == "T005":
                release.set()
            return verdict

    integrator = Slow()
    summary, _view = dispatch(Releasing(), integrator)

    assert len(integrator.asked) == 2  # waves 2 and 3 ended meanwhile: one more, not two
    assert integrator.asked[-1] == {"T002", "T003", "T004", "T005", "T006"}
    assert integrator.max_active == 1
    assert summary.exit_code == 0


@pytest.mark.timeout(30)
def test_a_conflict_stops_the_integrations_and_fails_the_dispatch() -> None:
    first_done = threading.Event()
    backend = FakeBackend(gates={"T004": first_done})
    integrator = FakeIntegrator(
        [Status.CONFLICT], on_finish=lambda n: first_done.set() if n == 1 else None
    )

    summary, view = dispatch(backend, integrator)

    assert len(integrator.asked) == 1  # the next would stop at the same task
    assert {row.state for t, row in rows(summary).items() if t != INTEGRATION} == {
        RunState.SUCCEEDED
    }
    assert summary.exit_code == 1
    table = rows(summary)
    assert table["T002"].integrated is True and table["T003"].integrated is False
    assert table["T005"].integrated is None  # succeeded after the last integration
    assert table[INTEGRATION].state is RunState.FAILED
    assert any(
        level == "WARNING" and "no more integrations" in text for level, _, text in view.notes
    )
    # the task it stopped at is named, in its row and on its own line; the others are not
    assert table["T003"].conflict and not table["T006"].conflict and not table["T002"].conflict
    cells = {
        ln.split()[0]: ln.split() for ln in render_summary(list(summary.rows), 0.0).splitlines()
    }
    assert (cells["T002"][5], cells["T003"][5], cells["T006"][5]) == ("yes", "conflict", "no")
    assert (
        "WARNING", "T003", f"not on {BRANCH}: the integration stopped here (conflict)"
    ) in view.notes  # fmt: skip
    assert [t for _, t, text in view.notes if "stopped here" in text] == ["T003"]


@pytest.mark.timeout(30)
def test_failed_tests_do_not_stop_the_integrations_and_the_last_one_decides() -> None:
    first_done = threading.Event()
    backend = FakeBackend(gates={"T004": first_done})
    integrator = FakeIntegrator(
        [Status.FAILED], on_finish=lambda n: first_done.set() if n == 1 else None
    )

    summary, _view = dispatch(backend, integrator)

    assert len(integrator.asked) == 3
    assert summary.integration is not None and summary.integration.status is Status.SUCCEEDED
    assert summary.exit_code == 0


@pytest.mark.timeout(30)
def test_nothing_to_integrate_is_not_a_failure() -> None:
    summary, _view = dispatch(FakeBackend(), FakeIntegrator(nothing=True))
    assert summary.exit_code == 0
    assert rows(summary)[INTEGRATION].detail == "nothing to integrate"


@pytest.mark.timeout(30)
def test_an_unreadable_remote_fails_the_integration_with_its_message_and_hint() -> None:
    err = RemoteError("cannot read the remote", hint="check your git credentials")
    summary, view = dispatch(FakeBackend(), FakeIntegrator(error=err))
    assert summary.exit_code == 1
    assert ("ERROR", INTEGRATION, "cannot read the remote") in view.notes
    assert ("Hint", INTEGRATION, "check your git credentials (or --integrate=never)") in view.notes


@pytest.mark.timeout(30)
def test_another_dispatchers_integration_is_left_alone() -> None:
    err = AlreadyRunningError("the integration already has a pod: sp-integration-x")
    summary, view = dispatch(FakeBackend(), FakeIntegrator(error=err))
    assert summary.exit_code == 0
    assert rows(summary)[INTEGRATION].state is RunState.DETACHED
    assert any(level == "INFO" and "not started" in text for level, _, text in view.notes)


@pytest.mark.timeout(30)
def test_no_wave_succeeded_no_integration() -> None:
    statuses = dict.fromkeys(("T002", "T003", "T006"), Status.FAILED)
    integrator = FakeIntegrator()
    summary, _view = dispatch(FakeBackend(status=statuses), integrator)
    assert integrator.asked == []
    assert INTEGRATION not in rows(summary)
    assert summary.exit_code == 1


@pytest.mark.timeout(30)
def test_the_table_shows_what_each_task_started_from_and_whether_it_is_integrated() -> None:
    class Starting(FakeBackend):
        def finish(self, ended: Ended) -> Any:
            verdict = super().finish(ended)
            task = ended.target.task
            started = {"T004": ("T002",), "T005": ("T002", "T004")}.get(task, ())
            tokens = (1000, 234) if task == "T002" else None
            cost = 0.0125 if task == "T002" else None
            return type(verdict)(
                verdict.status, verdict.reason, verdict.branch, "abc", started, tokens,
                cost_usd=cost,
            )  # fmt: skip

    summary, _view = dispatch(Starting(), FakeIntegrator())
    table = render_summary(list(summary.rows), 0.0)
    header, *lines = table.splitlines()
    assert header.split()[:6] == ["TASK", "STATE", "ELAPSED", "TOKENS", "FROM", "INTEGRATED"]
    cells = {line.split()[0]: line.split() for line in lines}
    assert cells["T002"][3:6] == ["1.2k", "base", "yes"]
    assert cells["T005"][3:6] == ["-", "T002+T004", "yes"]
    assert cells[INTEGRATION][3:7] == ["-", "-", "-", BRANCH]
    assert summary.tokens == (1000, 234, 1)
    assert summary.cost == (0.0125, 1)


@pytest.mark.timeout(30)
def test_the_live_rows_show_what_is_integrated_while_the_next_wave_runs() -> None:
    first_done = threading.Event()
    seen: list[list[Row]] = []

    class Watching(RecordingView):
        def update(self, rows: list[Row], now: float) -> None:
            super().update(rows, now)
            table = {row.task: row for row in rows}
            ended = INTEGRATION in table and table[INTEGRATION].state is RunState.SUCCEEDED
            if ended and not seen:  # the first table after the first integration ended
                seen.append(rows)

    backend = FakeBackend(gates={"T004": first_done})
    integrator = FakeIntegrator(on_finish=lambda n: first_done.set() if n == 1 else None)
    view = Watching()
    dispatcher = Dispatcher(plan(), backend, view, integrator=integrator)
    integrator.dispatcher = dispatcher
    dispatcher.run()

    table = {row.task: row for row in seen[0]}
    assert table["T004"].state is RunState.RUNNING  # wave 2 still runs
    assert table["T005"].state is RunState.WAITING
    assert {t for t, row in table.items() if row.integrated} == {"T002", "T003", "T006"}
    assert table["T004"].integrated is None
    cells = {ln.split()[0]: ln.split() for ln in render_summary(seen[0], 0.0).splitlines()}
    assert cells["T002"][5] == "yes" and cells["T004"][5] == "-"


@pytest.mark.timeout(30)
def test_integrate_end_keeps_one_integration_after_every_task_ended() -> None:
    backend = FakeBackend()
    integrator = FakeIntegrator()

    summary, _view = dispatch(backend, integrator, each_wave=False)

    assert integrator.asked == [{"T002", "T003", "T004", "T005", "T006"}]
    assert summary.exit_code == 0
    assert all(row.integrated for t, row in rows(summary).items() if t != INTEGRATION)


@pytest.mark.timeout(30)
def test_a_wave_with_nothing_new_succeeded_starts_no_integration() -> None:
    # wave 2 (T004) fails, wave 3 (T005) is blocked: nothing new after the first integration
    integrator = FakeIntegrator()
    summary, _view = dispatch(FakeBackend(status={"T004": Status.FAILED}), integrator)

    assert integrator.asked == [{"T002", "T003", "T006"}]
    assert summary.exit_code == 1
    assert rows(summary)["T004"].integrated is None


def test_stopped_at_is_the_first_task_asked_that_is_not_on_the_branch() -> None:
    points = (StartPoint("T002", "b2", "a" * 40),)
    result = Result(INTEGRATION, Status.CONFLICT, BRANCH, "c" * 40, started_from=points)
    asked = ("T002", "T004", "T005")
    assert Integrated(Status.CONFLICT, BRANCH, "", result, asked=asked).stopped_at == "T004"
    assert Integrated(Status.CONFLICT, BRANCH, "", result).stopped_at == ""  # asked unknown
    assert Integrated(Status.CONFLICT, BRANCH, "", None, asked=asked).stopped_at == ""
    done = dataclasses.replace(result, status=Status.FAILED)
    assert Integrated(Status.FAILED, BRANCH, "", done, asked=asked).stopped_at == ""
