from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest

from runtime.contract.outcome import Result, Status
from runtime.errors import StillRunningError
from runtime.follow.follow import (
    Cluster,
    Ended,
    Target,
    first_failure,
    follow_all,
    follow_pod,
    report_error,
    snapshot_all,
)
from runtime.kube.client import Kube
from runtime.kube.logs import ClusterLogs, Printer
from runtime.kube.podwatch import ClusterPods, Deadline
from tests.unit.fakes import (
    FakeClock,
    FakeClusterCore,
    FakeWatch,
    exited,
    make_pod,
    running,
    stamp_ns,
    stamp_text,
    waiting,
)

WAIT = 5.0  # seconds a thread handshake may take before the test fails


def result_line(task: str, status: Status) -> str:
    return Result(task=task, status=status, branch=f"b-{task}", commit="c" * 40).to_line()


class Handshake:
    """Two log streams that must alternate chunk by chunk: A, B, A, B, ..."""

    def __init__(self, chunks: dict[str, list[bytes]]) -> None:
        self.chunks = chunks
        self.turn = {"a": threading.Event(), "b": threading.Event()}
        self.turn["a"].set()
        self.timed_out = False

    def open(
        self, name: str, *, follow: bool, since_seconds: int | None, read_timeout: float
    ) -> Iterator[bytes]:
        if not follow:  # the drain after the end: everything again, de-duplicated
            yield b"".join(self.chunks[name])
            return
        other = "b" if name == "a" else "a"
        for chunk in self.chunks[name]:
            if not self.turn[name].wait(WAIT):
                self.timed_out = True
            self.turn[name].clear()
            yield chunk
            self.turn[other].set()
        self.turn[other].set()


def two_pods(status_b: Status) -> tuple[FakeClusterCore, Handshake]:
    core = FakeClusterCore()
    core.add(make_pod("a", task="T001", phase="Succeeded", container=exited(0)))
    core.add(make_pod("b", task="T002", phase="Failed", container=exited(status_b.exit_code)))
    a = [stamp_text(stamp_ns(i), t).encode() for i, t in enumerate(["a0", "a1"])]
    b = [stamp_text(stamp_ns(i), t).encode() for i, t in enumerate(["b0", "b1"])]
    chunks = {
        # chunks end mid-line on purpose: lines must still come out whole
        "a": [
            a[0][:20],
            a[0][20:] + b"\n" + a[1][:25],
            a[1][25:] + b"\n",
            (stamp_text(stamp_ns(3), result_line("T001", Status.SUCCEEDED)) + "\n").encode(),
        ],
        "b": [
            b[0][:22],
            b[0][22:] + b"\n" + b[1] + b"\n",
            (stamp_text(stamp_ns(3), result_line("T002", status_b)) + "\n").encode(),
        ],
    }
    return core, Handshake(chunks)


def run_two(status_b: Status) -> tuple[int, list[str], list[Ended], Handshake]:
    core, source = two_pods(status_b)
    clock = FakeClock()
    pods = ClusterPods(Kube(core=core, namespace="ns"), watch_factory=FakeWatch(core, clock, []))
    out = io.StringIO()
    ended: list[Ended] = []

    def on_end(item: Ended) -> int:
        ended.append(item)
        return item.outcome.status.exit_code

    targets = [Target("a", "T001", 0), Target("b", "T002", 1)]
    code = follow_all(
        targets,
        Cluster(pods, source),
        Deadline(None),
        Printer(out, io.StringIO(), color=False),
        on_end,
    )
    return code, out.getvalue().splitlines(), ended, source


def test_two_pods_interleave_whole_lines_in_order() -> None:
    code, lines, ended, source = run_two(Status.SUCCEEDED)
    assert not source.timed_out
    assert code == 0
    # a0 and b0 each arrive split over two chunks of alternating streams
    assert lines[:4] == ["[T001] a0", "[T002] b0", "[T002] b1", "[T001] a1"]
    assert {e.target.pod: e.outcome.status for e in ended} == {
        "a": Status.SUCCEEDED,
        "b": Status.SUCCEEDED,
    }
    assert all(line.startswith(("[T001] ", "[T002] ")) for line in lines)
    assert len(lines) == 6  # no line printed twice by the drain


def test_exit_code_is_the_first_failure_in_target_order() -> None:
    code, _, ended, _ = run_two(Status.NO_CHANGES)
    assert code == 3
    assert [e.outcome.status for e in sorted(ended, key=lambda e: e.target.pod)] == [
        Status.SUCCEEDED,
        Status.NO_CHANGES,
    ]


def test_first_failure() -> None:
    assert first_failure([0, 0]) == 0
    assert first_failure([0, 5, 1]) == 5
    assert first_failure([]) == 0


def test_stuck_pod_is_reported_with_hint_and_others_still_finish() -> None:
    core = FakeClusterCore()
    core.add(
        make_pod("a", task="T001", phase="Pending", container=waiting("ErrImageNeverPull", "no"))
    )
    core.add(make_pod("b", task="T002", container=running()))
    core.logs["b"] = [(stamp_ns(0), result_line("T002", Status.SUCCEEDED))]
    core.final["b"] = make_pod("b", task="T002", phase="Succeeded", container=exited(0))
    kube = Kube(core=core, namespace="ns")
    clock = FakeClock()
    cluster = Cluster(
        ClusterPods(kube, watch_factory=FakeWatch(core, clock, [])),
        ClusterLogs(kube),
        sleep=clock.sleep,
    )
    out, err = io.StringIO(), io.StringIO()
    targets = [Target("a", "T001", 0), Target("b", "T002", 1)]
    code = follow_all(
        targets,
        cluster,
        Deadline(None),
        Printer(out, err, color=False),
        lambda e: e.outcome.status.exit_code,
    )
    assert code == 25
    assert "ERROR: [T001] image agent:1 cannot be used" in err.getvalue()
    assert "Hint: " in err.getvalue()
    assert "[T002] SPECKIT_POD_RESULT" in out.getvalue()


def test_losing_the_api_server_is_one_line_with_how_to_resume() -> None:
    from urllib3.exceptions import MaxRetryError, SSLError

    out, err = io.StringIO(), io.StringIO()
    lost = MaxRetryError(None, "/api/v1/namespaces/ns/pods/p", SSLError("EOF"))  # type: ignore[arg-type]
    code = report_error(Printer(out, err, color=False), Target("p", "T001"), lost)
    assert code == 21
    lines = err.getvalue().splitlines()
    assert lines == [
        "ERROR: [T001] lost the Kubernetes API while following pod p: SSLError",
        "Hint: the pod is unaffected; follow it again with `scripts/tail-logs.sh p`",
    ]
    assert not out.getvalue()


def test_snapshot_of_running_and_ended_pods() -> None:
    core = FakeClusterCore()
    core.add(make_pod("a", task="T001", container=running()))
    core.add(make_pod("b", task="T002", phase="Failed", container=exited(4)))
    core.logs["a"] = [(stamp_ns(0), "working")]
    core.logs["b"] = [(stamp_ns(0), "quiet"), (stamp_ns(1), result_line("T002", Status.STALLED))]
    kube = Kube(core=core, namespace="ns")
    cluster = Cluster(ClusterPods(kube), ClusterLogs(kube))
    out, err = io.StringIO(), io.StringIO()
    ended: list[Ended] = []

    def on_end(item: Ended) -> int:
        ended.append(item)
        return item.outcome.status.exit_code

    code = snapshot_all(
        [Target("a", "T001", 0), Target("b", "T002", 1)],
        cluster,
        Printer(out, err, color=False),
        on_end,
    )
    assert code == StillRunningError.exit_code == 27
    assert out.getvalue().splitlines()[:2] == ["[T001] working", "[T002] quiet"]
    assert "INFO: [T001] not ended yet (phase Running)" in err.getvalue()
    assert [e.outcome.status for e in ended] == [Status.STALLED]
    assert not any(call.get("follow") for call in core.log_calls)


def test_snapshot_of_a_stuck_pending_pod_says_why() -> None:
    core = FakeClusterCore()
    core.add(
        make_pod(
            "a",
            task="T001",
            phase="Pending",
            container=waiting("CreateContainerConfigError", 'secret "s" not found'),
        )
    )
    kube = Kube(core=core, namespace="ns")
    err = io.StringIO()
    code = snapshot_all(
        [Target("a", "T001", 0)],
        Cluster(ClusterPods(kube), ClusterLogs(kube)),
        Printer(io.StringIO(), err, color=False),
        lambda e: 0,
    )
    assert code == 27
    assert "WARNING: [T001] missing secret 's'" in err.getvalue()
    assert core.log_calls == []


@pytest.mark.parametrize("timeout", [30.0])
def test_timeout_gives_still_running(timeout: float) -> None:
    core = FakeClusterCore()
    core.add(make_pod("a", task="T001", container=running()))
    core.logs["a"] = [(stamp_ns(0), "working")]
    core.cuts["a"] = []
    clock = FakeClock()
    kube = Kube(core=core, namespace="ns")
    cluster = Cluster(
        ClusterPods(kube, watch_factory=FakeWatch(core, clock, [])),
        ClusterLogs(kube),
        sleep=clock.sleep,
    )
    err = io.StringIO()
    code = follow_all(
        [Target("a", "T001", 0)],
        cluster,
        Deadline.after(timeout, clock),
        Printer(io.StringIO(), err, color=False),
        lambda e: 0,
    )
    assert code == 27
    assert "gave up" in err.getvalue()


def test_a_pod_whose_node_is_lost_ends_killed_at_once_naming_its_checkpoint() -> None:
    """The taint manager deletes it; its kubelet is gone: no result, no end, no drain."""
    core = FakeClusterCore()
    core.add(make_pod("a", task="T012", container=running(), git=running()))
    line = "[git] checkpoint 3f2a1b4c5d6e (1 file(s)) pushed to refs/speckit-pods/wip/f/T012"
    core.logs["a"] = [(stamp_ns(0), "[git] ready"), (stamp_ns(1), line)]
    gone = make_pod("a", task="T012", container=running(), git=running())
    gone["metadata"]["deletionTimestamp"] = "2025-01-01T00:02:00Z"
    gone["spec"]["nodeName"] = "kind-worker2"
    gone["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager"}
    ]
    core.final["a"] = gone  # once the log was delivered
    kube = Kube(core=core, namespace="ns")
    clock = FakeClock()
    cluster = Cluster(
        ClusterPods(kube, watch_factory=FakeWatch(core, clock, [])),
        ClusterLogs(kube),
        sleep=clock.sleep,
    )
    lines: list[str] = []

    ended = follow_pod(
        Target("a", "T012"), cluster, Deadline(None), lambda kind, text: lines.append(text)
    )

    assert ended.outcome.status is Status.KILLED
    assert ended.outcome.reason.startswith("node kind-worker2 lost (not ready or unreachable)")
    assert "rerun continues from refs/speckit-pods/wip/f/T012 (checkpoint 3f2a1b4c5d6e)" in (
        ended.outcome.reason
    )
    assert [call.get("follow") for call in core.log_calls] == [True]  # no drain from it
    assert lines == ["[git] ready", line]
