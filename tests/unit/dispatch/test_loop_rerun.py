"""A lost pod (no result line, killed or deleted from outside) is run again once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from runtime.contract.outcome import Result, Status
from runtime.dispatch.backend import CANCELLED_BY
from runtime.dispatch.loop import INTEGRATION, Dispatcher, Integrated, RunState, Summary
from runtime.dispatch.view import render_summary, summary_json
from runtime.follow.classify import Outcome, classify
from runtime.follow.follow import Ended, Target
from runtime.kube import labels
from tests.unit.dispatch.test_loop import FakeBackend, RecordingView, plan, run
from tests.unit.dispatch.test_loop_integration import BRANCH, FakeIntegrator, dispatch
from tests.unit.fakes import exited, make_pod, running

KILLED = (
    "the git container was killed (exit 137, Error) 0s after the agent container ended, "
    "before it printed a result"
)
RERUN = f"{KILLED}; rerunning once"

# how one pod of a task ended: (its pod as the API shows it, the result line, deleted)
End = tuple[dict[str, Any], Result | None, bool]


def branch(task: str) -> str:
    return f"specs/f/{task}-async"


def pod_of(task: str, git: dict[str, Any], **kw: Any) -> dict[str, Any]:
    annotations = {labels.BRANCH: branch(task), **kw.pop("annotations", {})}
    return make_pod(
        f"pod-{task}", task=task, phase="Succeeded", container=exited(0), git=git,
        annotations=annotations, **kw,
    )  # fmt: skip


def git_killed(task: str) -> End:
    """The flake: the agent exited 0, then the git sidecar was SIGKILLed before its result."""
    return pod_of(task, exited(137, "Error")), None, False


class Scripted(FakeBackend):
    """Each task's pods end as scripted (then succeed), classified by the real classifier."""

    def __init__(self, ends: dict[str, list[End]]) -> None:
        super().__init__()
        self.ends = ends

    def follow(self, task_id: str, pod: str, index: int, emit: Callable[[str, Any], None]) -> Ended:
        super().follow(task_id, pod, index, emit)  # records the follow
        if not self.ends.get(task_id):
            return Ended(Target(pod, task_id, index), {}, Outcome(Status.SUCCEEDED, "pushed"))
        obj, result, deleted = self.ends[task_id].pop(0)
        outcome = classify(obj, result, deleted=deleted)
        return Ended(Target(pod, task_id, index), obj, outcome, deleted=deleted)

    def count(self, what: str, task: str) -> int:
        return sum(1 for event in self.events if event == (what, task))


def rows(summary: Summary) -> dict[str, Any]:
    return {row.task: row for row in summary.rows}


@pytest.mark.timeout(30)
def test_a_git_container_killed_before_its_result_is_rerun_once_and_the_task_succeeds() -> None:
    backend = Scripted({"T002": [git_killed("T002")]})
    view = RecordingView()
    summary = Dispatcher(plan(), backend, view).run()

    assert summary.exit_code == 0
    assert backend.count("spawn", "T002") == 2  # a new pod
    assert backend.count("finish", "T002") == 1  # the lost pod is not reported as an end
    assert [n for n in view.notes if n[2].endswith("rerunning once")] == [
        ("WARNING", "T002", RERUN)
    ]
    row = rows(summary)["T002"]
    assert row.state is RunState.SUCCEEDED and row.attempts == 2
    assert rows(summary)["T004"].state is RunState.SUCCEEDED  # its dependent was not blocked
    assert backend.first("finish", "T002") < backend.first("spawn", "T004")
    tasks = {t["id"]: t for t in json.loads(json.dumps(summary_json(summary, 9.0)))["tasks"]}
    assert tasks["T002"]["attempts"] == 2 and tasks["T003"]["attempts"] == 1
    line = next(x for x in render_summary(list(summary.rows), 9.0).splitlines() if "T002" in x)
    assert line.endswith("(2 attempts)")


@pytest.mark.timeout(30)
def test_a_second_loss_is_not_rerun_and_says_which_container_died() -> None:
    backend = Scripted({"T002": [git_killed("T002"), git_killed("T002")]})
    view = RecordingView()
    summary = Dispatcher(plan(), backend, view).run()

    assert backend.count("spawn", "T002") == 2
    assert len([n for n in view.notes if n[2].endswith("rerunning once")]) == 1
    row = rows(summary)["T002"]
    assert row.state is RunState.FAILED and row.attempts == 2
    assert row.detail == KILLED  # exit code and reason, from the pod status
    assert rows(summary)["T004"].detail == "blocked by T002"
    assert summary.exit_code == 1


@pytest.mark.parametrize(
    "status", [Status.KILLED, Status.FAILED, Status.SUCCEEDED], ids=lambda s: s.value
)
@pytest.mark.timeout(30)
def test_a_pod_that_printed_a_result_is_never_rerun(status: Status) -> None:
    # whatever the container says afterwards (here: SIGKILLed once the line was out)
    result = Result(task="T002", status=status, branch=branch("T002"), commit="c" * 40)
    backend = Scripted({"T002": [(pod_of("T002", exited(137, "Error")), result, False)]})
    summary = run(backend)
    assert backend.count("spawn", "T002") == 1
    assert rows(summary)["T002"].attempts == 1
    assert (rows(summary)["T002"].state is RunState.SUCCEEDED) is status.ok


@pytest.mark.parametrize("deleted", [True, False], ids=["gone", "terminated"])
@pytest.mark.timeout(30)
def test_a_pod_we_deleted_on_purpose_is_not_rerun(deleted: bool) -> None:
    ours = {labels.DELETED_BY: CANCELLED_BY}
    obj = pod_of("T002", exited(137, "Error"), annotations=ours)
    backend = Scripted({"T002": [(obj, None, deleted)]})
    summary = run(backend)
    assert backend.count("spawn", "T002") == 1
    row = rows(summary)["T002"]
    assert row.state is RunState.FAILED and row.detail.endswith(f"(deleted by {CANCELLED_BY})")


@pytest.mark.timeout(30)
def test_a_pod_deleted_by_someone_else_before_a_result_is_rerun() -> None:
    obj = pod_of("T003", running())
    backend = Scripted({"T003": [(obj, None, True)]})
    view = RecordingView()
    summary = Dispatcher(plan(), backend, view).run()
    assert backend.count("spawn", "T003") == 2
    assert (
        "WARNING", "T003", "the pod was deleted before it printed a result; rerunning once"
    ) in view.notes  # fmt: skip
    assert summary.exit_code == 0


@pytest.mark.timeout(30)
def test_an_ordinary_failure_without_a_result_is_not_rerun() -> None:
    backend = Scripted({"T002": [(pod_of("T002", exited(1)), None, False)]})
    summary = run(backend)
    assert backend.count("spawn", "T002") == 1
    assert rows(summary)["T002"].detail.startswith("the git container exited 1")


# --- the integration pod: the same rule ------------------------------------------------


class LostIntegrator(FakeIntegrator):
    """Its first ``lost`` pods end like the flake: the git sidecar SIGKILLed, no result."""

    def __init__(self, lost: int) -> None:
        super().__init__()
        self.lost, self.finished = lost, 0

    def follow(self, pod: str, index: int, emit: Callable[[str, Any], None]) -> Ended:
        ended = super().follow(pod, index, emit)
        if self.lost <= 0:
            return ended
        self.lost -= 1
        obj = make_pod(pod, task=INTEGRATION, phase="Succeeded", container=exited(0),
                       git=exited(137, "Error"))  # fmt: skip
        return Ended(ended.target, obj, classify(obj, None))

    def finish(self, ended: Ended) -> Integrated:
        self.finished += 1
        if ended.outcome.status is not Status.SUCCEEDED:  # as ClusterIntegrator reports it
            return Integrated(ended.outcome.status, BRANCH, ended.outcome.reason)
        return super().finish(ended)


@pytest.mark.timeout(30)
def test_a_lost_integration_pod_is_run_again_once_and_asks_for_everything() -> None:
    integrator = LostIntegrator(lost=1)
    summary, view = dispatch(FakeBackend(), integrator, each_wave=False)  # one, at the end

    assert len(integrator.asked) == 2
    assert integrator.asked[1] == integrator.asked[0]  # the rerun asks for all again
    assert integrator.finished == 1  # the lost one is not reported as an end
    assert summary.exit_code == 0 and summary.integration is not None
    assert summary.integration.status is Status.SUCCEEDED
    assert ("WARNING", INTEGRATION, RERUN) in view.notes
    data = json.loads(json.dumps(summary_json(summary, 9.0)))
    assert data["integration"]["attempts"] == 2


@pytest.mark.timeout(30)
def test_an_integration_lost_twice_fails_the_dispatch_with_the_containers_end() -> None:
    integrator = LostIntegrator(lost=10)
    summary, view = dispatch(FakeBackend(), integrator)
    assert len([n for n in view.notes if n[2].endswith("rerunning once")]) == 1
    assert summary.exit_code == 1
    assert summary.integration is not None and summary.integration.reason == KILLED
