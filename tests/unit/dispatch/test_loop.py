from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from runtime.contract.outcome import Status
from runtime.dispatch.loop import EXIT_HELD, Dispatcher, Row, RunState, Summary, Verdict
from runtime.dispatch.view import PlainView, render_summary
from runtime.errors import AlreadyRunningError, InvalidInputError
from runtime.follow.classify import Outcome
from runtime.follow.follow import Ended, Target
from runtime.kube.logs import Printer
from runtime.tasks.parse import parse_tasks_text
from runtime.tasks.plan import DispatchPlan, build_plan

TASKS = """\
# Tasks
## Phase 1: Setup
- [X] T001 [SYNC] Create project structure
## Phase 2: Work
- [ ] T002 [P] [ASYNC] Add `src/a.py`
- [ ] T003 [P] [ASYNC] Add `src/b.py`
- [ ] T004 [P] [ASYNC] Add `src/c.py` (depends on T002)
- [ ] T005 [P] [ASYNC] Add `src/d.py` (depends on T004)
- [ ] T006 [P] [ASYNC] Add `src/e.py`
"""


def wait_until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


class FakeBackend:
    """Spawns 'pods' named pod-TID; follow() ends them with the scripted status."""

    def __init__(
        self,
        status: dict[str, Status] | None = None,
        attach: dict[str, str] | None = None,
        elsewhere: set[str] | None = None,
        spawn_error: dict[str, Exception] | None = None,
        gates: dict[str, threading.Event] | None = None,
    ) -> None:
        self.status = status or {}
        self.attach = attach or {}
        self.elsewhere = elsewhere or set()
        self.spawn_error = spawn_error or {}
        self.gates = gates or {}
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def _log(self, what: str, task: str) -> None:
        with self.lock:
            self.events.append((what, task))

    def attachable(self) -> dict[str, str]:
        return dict(self.attach)

    def spawn(self, task_id: str) -> str:
        if task_id in self.spawn_error:
            raise self.spawn_error[task_id]
        if task_id in self.elsewhere:
            raise AlreadyRunningError(f"task {task_id} already has a pod")
        self._log("spawn", task_id)
        return f"pod-{task_id}"

    def find(self, task_id: str) -> str | None:
        return f"other-{task_id}"

    def follow(self, task_id: str, pod: str, index: int, emit: Callable[[str, Any], None]) -> Ended:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.events.append(("follow", f"{task_id}:{pod}"))
        emit("line", f"working on {task_id}")
        if task_id in self.gates:
            assert self.gates[task_id].wait(10)
        with self.lock:
            self.active -= 1
        status = self.status.get(task_id, Status.SUCCEEDED)
        return Ended(Target(pod, task_id, index), {}, Outcome(status, f"{status.value}!"))

    def finish(self, ended: Ended) -> Verdict:
        self._log("finish", ended.target.task)
        task = ended.target.task
        return Verdict(ended.outcome.status, ended.outcome.reason, f"specs/f/{task}-async", "abc")

    def first(self, what: str, task: str) -> int:
        return self.events.index((what, task))


class RecordingView:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.notes: list[tuple[str, str, str]] = []
        self.updates = 0

    def line(self, task_id: str, text: str) -> None:
        self.lines.append((task_id, text))

    def note(self, level: str, task_id: str, text: str) -> None:
        self.notes.append((level, task_id, text))

    def update(self, rows: list[Row], now: float) -> None:
        self.updates += 1


def plan(text: str = TASKS, **kwargs: Any) -> DispatchPlan:
    return build_plan(parse_tasks_text(text), **kwargs)


def run(backend: FakeBackend, the_plan: DispatchPlan | None = None, **kw: Any) -> Summary:
    dispatcher = Dispatcher(the_plan or plan(), backend, RecordingView(), **kw)
    return dispatcher.run()


def states(summary: Summary) -> dict[str, str]:
    return {row.task: row.state.value for row in summary.rows}


@pytest.mark.timeout(30)
def test_all_succeed_in_dependency_order() -> None:
    backend = FakeBackend()
    summary = run(backend)
    assert summary.exit_code == 0
    assert set(states(summary).values()) == {"succeeded"}
    assert backend.first("finish", "T002") < backend.first("spawn", "T004")
    assert backend.first("finish", "T004") < backend.first("spawn", "T005")
    assert {row.branch for row in summary.rows} >= {"specs/f/T002-async"}


@pytest.mark.timeout(30)
def test_a_failure_blocks_only_its_dependents() -> None:
    backend = FakeBackend(status={"T002": Status.PUSH_REJECTED})
    summary = run(backend)
    assert states(summary) == {
        "T002": "failed",
        "T003": "succeeded",
        "T004": "blocked",
        "T005": "blocked",
        "T006": "succeeded",
    }
    rows = {row.task: row for row in summary.rows}
    assert rows["T002"].detail == "push-rejected!"
    assert rows["T004"].detail == rows["T005"].detail == "blocked by T002"
    assert ("spawn", "T004") not in backend.events
    assert summary.exit_code == 1


@pytest.mark.timeout(30)
def test_rerun_reattaches_to_running_pods_instead_of_spawning() -> None:
    backend = FakeBackend(attach={"T002": "pod-old", "T001": "pod-done-task"})
    summary = run(backend)
    assert ("spawn", "T002") not in backend.events
    assert ("follow", "T002:pod-old") in backend.events
    assert ("follow", "T001:pod-done-task") not in backend.events  # not planned: ignored
    assert summary.exit_code == 0


@pytest.mark.timeout(30)
def test_duplicate_spawn_attaches_to_the_other_dispatchers_pod() -> None:
    backend = FakeBackend(elsewhere={"T003"})
    summary = run(backend)
    assert ("follow", "T003:other-T003") in backend.events
    assert summary.exit_code == 0


@pytest.mark.timeout(30)
def test_spawn_error_fails_the_task_with_its_message() -> None:
    err = InvalidInputError("no --repo given", hint="pass --repo")
    backend = FakeBackend(spawn_error={"T004": err})
    dispatcher = Dispatcher(plan(), backend, view := RecordingView())
    summary = dispatcher.run()
    rows = {row.task: row for row in summary.rows}
    assert rows["T004"].state is RunState.FAILED and rows["T004"].detail == "no --repo given"
    assert rows["T005"].state is RunState.BLOCKED
    assert ("Hint", "T004", "pass --repo") in view.notes
    assert summary.exit_code == 1


@pytest.mark.timeout(30)
def test_only_and_held_tasks_exit_28() -> None:
    backend = FakeBackend()
    summary = run(backend, plan(only=["T002", "T005"]))
    assert states(summary) == {"T002": "succeeded", "T005": "held"}
    assert [e for e in backend.events if e[0] == "spawn"] == [("spawn", "T002")]
    assert summary.exit_code == EXIT_HELD


@pytest.mark.timeout(30)
def test_never_more_than_max_parallel_pods() -> None:
    independent = TASKS.replace(" (depends on T002)", "").replace(" (depends on T004)", "")
    gates = {f"T00{i}": threading.Event() for i in range(2, 7)}
    backend = FakeBackend(gates=gates)
    dispatcher = Dispatcher(plan(independent), backend, RecordingView(), max_parallel=2)
    result: list[Summary] = []
    thread = threading.Thread(target=lambda: result.append(dispatcher.run()), daemon=True)
    thread.start()
    for tid in ["T002", "T003", "T004", "T005", "T006"]:
        wait_until(lambda: ("follow", f"{tid}:pod-{tid}") in backend.events)  # noqa: B023
        assert backend.active <= 2
        gates[tid].set()
    thread.join(10)
    assert result and result[0].exit_code == 0
    assert backend.max_active == 2


class InterruptingView(RecordingView):
    def line(self, task_id: str, text: str) -> None:
        raise KeyboardInterrupt


@pytest.mark.timeout(30)
def test_ctrl_c_detaches_and_leaves_pods_running() -> None:
    gates = {"T002": threading.Event(), "T003": threading.Event(), "T006": threading.Event()}
    backend = FakeBackend(gates=gates)
    summary = Dispatcher(plan(), backend, InterruptingView()).run()
    for gate in gates.values():
        gate.set()
    assert summary.interrupted and summary.exit_code == 130
    assert "detached" in states(summary).values()
    assert not any(e[0] == "finish" for e in backend.events)


def test_plain_view_prints_prefixed_lines_and_state_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    view = PlainView(Printer(sys.stdout, sys.stderr, color=False), {"T002": 0})
    view.line("T002", "hello")
    rows = [Row("T002", RunState.WAITING), Row("T003", RunState.HELD, "waits for T001 [SYNC]")]
    view.update(rows, 0.0)
    view.update([Row("T002", RunState.RUNNING, pod="p"), rows[1]], 1.0)
    view.update([Row("T002", RunState.RUNNING, pod="p"), rows[1]], 2.0)
    out, err = capsys.readouterr()
    assert out == "[T002] hello\n"
    assert err.splitlines() == [
        "INFO: [T003] held: waits for T001 [SYNC]",
        "INFO: [T002] running",
    ]


def test_render_summary_aligns_columns() -> None:
    rows = [
        Row(
            "T002",
            RunState.SUCCEEDED,
            "pushed",
            branch="b/T002",
            started_at=0.0,
            ended_at=75.0,
            tokens=(12000, 345),
        ),
        Row("T004", RunState.BLOCKED, "blocked by T002"),
    ]
    text = render_summary(rows, 100.0).splitlines()
    header = ["TASK", "STATE", "ELAPSED", "TOKENS", "FROM", "INTEGRATED", "BRANCH", "DETAIL"]
    assert text[0].split() == header
    assert text[1].split() == ["T002", "succeeded", "1m15s", "12.3k", "-", "-", "b/T002", "pushed"]
    assert text[2].split() == ["T004", "blocked", "-", "-", "-", "-", "-", "blocked", "by", "T002"]


# --- ClusterBackend over the fake API -------------------------------------------------


def test_cluster_backend_reattaches_active_and_unreported_pods_and_cancels() -> None:
    from runtime.dispatch.backend import ClusterBackend
    from runtime.kube.client import Kube
    from runtime.spawn.create import SpawnOptions
    from tests.unit.fakes import FakeClusterCore, exited, make_pod, running

    core = FakeClusterCore()
    feature = "001-demo"
    core.add(make_pod("p2", task="T002", feature=feature, container=running()))
    core.add(make_pod("p3", task="T003", feature=feature, phase="Succeeded", container=exited(0)))
    core.add(make_pod("p4", task="T004", feature=feature, phase="Failed", container=exited(1)))
    core.add(make_pod("p5", task="T005", feature=feature, container=exited(0)))
    core.add(make_pod("p6", task="T006", feature=feature, container=exited(1)))
    core.add(make_pod("q2", task="T002", feature="002-other", container=running()))
    import sys

    from runtime.dispatch.backend import CANCELLED_BY
    from runtime.kube.labels import DELETED_BY

    backend = ClusterBackend(
        Kube(core=core, namespace="ns"),
        SpawnOptions(task_id=""),
        feature,
        Printer(sys.stdout, sys.stderr, color=False),
    )
    # p5/p6: the agent has exited, the kubelet has not moved the phase on yet
    assert backend.attachable() == {"T002": "p2", "T003": "p3", "T005": "p5"}
    assert backend.find("T002") == "p2" and backend.find("T004") is None
    assert backend.find("T006") is None
    assert backend.cancel() == ["p2"]
    assert "q2" in core.pods and "p3" in core.pods
    # marked before the delete: a dispatcher following p2 must not take its end for a loss
    assert core.patches == [("p2", {"metadata": {"annotations": {DELETED_BY: CANCELLED_BY}}})]


def test_the_backend_sees_only_its_own_repositorys_pods_of_a_feature() -> None:
    import sys

    from runtime.dispatch.backend import ClusterBackend
    from runtime.kube.client import Kube
    from runtime.spawn.create import SpawnOptions
    from runtime.spawn.names import repo_id
    from tests.unit.fakes import FakeClusterCore, make_pod, running

    mine, theirs = "https://git.example.com/acme/one.git", "https://git.example.com/acme/two.git"
    core = FakeClusterCore()
    core.add(
        make_pod("a2", task="T002", feature="001-x", repo_id=repo_id(mine), container=running())
    )
    core.add(
        make_pod("b2", task="T002", feature="001-x", repo_id=repo_id(theirs), container=running())
    )
    backend = ClusterBackend(
        Kube(core=core, namespace="ns"),
        SpawnOptions(task_id="", repo=mine),
        "001-x",
        Printer(sys.stdout, sys.stderr, color=False),
    )
    assert backend.attachable() == {"T002": "a2"}
    assert backend.cancel() == ["a2"] and "b2" in core.pods


# --- CLI --------------------------------------------------------------------------------


@pytest.fixture
def feature_dir(tmp_path: Any) -> Any:
    folder = tmp_path / "specs" / "001-demo"
    folder.mkdir(parents=True)
    (folder / "tasks.md").write_text(TASKS, encoding="utf-8")
    return folder


def cli(*args: str) -> int:
    from runtime.cli import main

    return main(["dispatch", *args])


def test_cli_plan_prints_waves(feature_dir: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("plan", "--tasks", str(feature_dir)) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[:3] == [
        "wave 1  T002  Add `src/a.py`",
        "wave 1  T003  Add `src/b.py`",
        "wave 1  T006  Add `src/e.py`",
    ]
    assert "wave 2  T004  Add `src/c.py` (depends on T002)  (after T002)" in out
    assert "INFO: 001-demo: 5 [ASYNC] task(s) to run, 0 held, 0 done" in err


def test_cli_dry_run_json(feature_dir: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert cli("--dry-run", "--json", "--tasks", str(feature_dir), "--only", "T004,T005") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["feature"] == "001-demo"
    assert data["waves"] == []
    assert data["held"] == [
        {"id": "T004", "waits_for": ["T002"]},
        {"id": "T005", "waits_for": ["T002"]},
    ]


def test_cli_run_with_only_held_tasks_exits_28_without_a_cluster(
    feature_dir: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("--tasks", str(feature_dir), "--only", "T005") == EXIT_HELD
    assert "held    T005  waits for T004 [ASYNC]" in capsys.readouterr().out


def test_cli_nothing_to_do_exits_0(feature_dir: Any) -> None:
    (feature_dir / "tasks.md").write_text(TASKS.replace("[ ]", "[X]"), encoding="utf-8")
    assert cli("--tasks", str(feature_dir)) == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["cancel", "--json"], 2, "--json goes with"),
        (["--integrate", "sometimes"], 2, "invalid choice: 'sometimes'"),
        (["plan", "--cancel"], 2, "choose one action"),
        (["--only", ","], 2, "--only needs task IDs"),
        (["--only", "T099", "plan"], 13, "unknown task ID"),
        (["--max-parallel", "0"], 2, "positive integer"),
    ],
)
def test_cli_errors(
    feature_dir: Any, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    assert cli("--tasks", str(feature_dir), *args) == code
    assert message in capsys.readouterr().err


def test_cli_a_bad_speckit_pods_integrate_is_a_usage_error(
    feature_dir: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPECKIT_PODS_INTEGRATE", "always")
    assert cli("--tasks", str(feature_dir), "--only", "T005") == 2
    err = capsys.readouterr().err
    assert "ERROR: SPECKIT_PODS_INTEGRATE='always' is not one of wave, end, never" in err
    assert "Hint: unset it, or set it to wave (the default), end or never" in err


def test_cli_run_json_with_only_held_tasks_is_one_object(
    feature_dir: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert cli("--tasks", str(feature_dir), "--only", "T005", "--json") == EXIT_HELD
    data = json.loads(capsys.readouterr().out)
    assert data["feature"] == "001-demo" and data["exit_code"] == EXIT_HELD
    assert [(t["id"], t["state"], t["detail"]) for t in data["tasks"]] == [
        ("T005", "held", "waits for T004 [ASYNC]")
    ]
    assert data["integration"] is None and data["stale"] == {}


def test_cli_cycle_exits_15(feature_dir: Any, capsys: pytest.CaptureFixture[str]) -> None:
    text = TASKS.replace("Add `src/a.py`", "a (depends on T005)")
    (feature_dir / "tasks.md").write_text(text, encoding="utf-8")
    assert cli("plan", "--tasks", str(feature_dir)) == 15
    err = capsys.readouterr().err
    assert (
        "ERROR: dependency cycle in" in err
        and "T002 -> T005 -> T004 -> T002 (each waits for the next)" in err
    )


def test_rerun_harvests_a_detached_pod_with_the_real_watching_code(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from runtime.contract.outcome import Result
    from runtime.dispatch.backend import ClusterBackend
    from runtime.kube import labels
    from runtime.kube.client import Kube
    from runtime.spawn.create import SpawnOptions
    from runtime.tasks.parse import parse_tasks
    from tests.unit.fakes import FakeClusterCore, exited, make_pod, stamp_ns

    tasks_file = tmp_path / "tasks.md"
    tasks_file.write_text(TASKS, encoding="utf-8")
    core = FakeClusterCore()
    annotations = {labels.CLEANUP: "on-success", labels.BRANCH: "specs/001-demo/T002-async"}
    pod = make_pod(
        "p2", task="T002", feature="001-demo", phase="Succeeded", container=exited(0),
        annotations=annotations,
    )  # fmt: skip
    core.add(pod)
    result = Result("T002", Status.SUCCEEDED, "specs/001-demo/T002-async", "c0ffee", ("a.py",))
    core.logs["p2"] = [(stamp_ns(1), "writing src/a.py"), (stamp_ns(2), result.to_line())]
    printer = Printer(sys.stdout, sys.stderr, color=False)
    backend = ClusterBackend(
        Kube(core=core, namespace="ns"),
        SpawnOptions(task_id="", tasks_file=tasks_file),
        "001-demo",
        printer,
    )
    the_plan = build_plan(parse_tasks(tasks_file), only=["T002"])
    summary = Dispatcher(the_plan, backend, PlainView(printer, {"T002": 0})).run()

    assert summary.exit_code == 0
    assert summary.rows[0].branch == "specs/001-demo/T002-async"
    assert parse_tasks(tasks_file).get("T002").is_done
    assert core.deleted == ["p2"]  # on-success cleanup
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "[T002] writing src/a.py"
    assert "[T002] RESULT status=succeeded exit=0 branch=specs/001-demo/T002-async" in out
    assert "INFO: [T002] attached to running pod p2" in err


def test_live_view_draws_the_table() -> None:
    import io
    import sys

    from rich.console import Console
    from rich.live import Live

    from runtime.dispatch.view import LiveView

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with Live(console=console, auto_refresh=False) as live:
        view = LiveView(Printer(sys.stdout, sys.stderr, color=False), {}, live)
        view.update([Row("T002", RunState.RUNNING, last_line="compiling", started_at=0.0)], 5.0)
    text = buffer.getvalue()
    assert "T002" in text and "running" in text and "compiling" in text and "5s" in text


def test_cli_status_without_a_cluster_shows_tasks_md_and_plan(
    feature_dir: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from runtime.errors import KubeConfigError
    from runtime.kube import client as kube

    def no_cluster(*_: Any) -> Any:
        raise KubeConfigError("no usable kubeconfig (missing)")

    monkeypatch.setattr(kube, "connect", no_cluster)
    assert cli("status", "--json", "--tasks", str(feature_dir), "--only", "T004") == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["cluster"] is False and "WARNING: pods not shown" in err
    rows = {row["id"]: row for row in data["tasks"]}
    assert rows["T004"]["plan"] == "held: waits for T002 [ASYNC]"
    assert rows["T002"]["plan"] == "-" and rows["T002"]["tasks_md"] == "pending"
