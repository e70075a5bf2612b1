from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from runtime.cli import build_parser
from runtime.cli.status_cmd import run
from runtime.contract.outcome import Result, Status
from runtime.contract.start import StartPoint, encode
from runtime.kube import labels
from runtime.kube.client import Kube
from runtime.kube.logs import ClusterLogs
from runtime.kube.podwatch import ClusterPods
from tests.unit.fakes import FakeClusterCore, exited, make_pod, running, stamp_ns, waiting

NOW = datetime.datetime(2025, 1, 1, 0, 5, tzinfo=datetime.UTC)
KEYS = [
    "task",
    "feature",
    "pod",
    "phase",
    "state",
    "age_s",
    "elapsed_s",
    "branch",
    "result",
    "reason",
    "expires_at",
    "started_from",
]
POINT = StartPoint("T001", "specs/001/T001-async", "c" * 40)


def fake_cluster() -> FakeClusterCore:
    core = FakeClusterCore()
    core.add(make_pod("p-run", task="T001", container=running(), annotations={labels.BRANCH: "b1"}))
    pinned = {labels.STARTED_FROM: encode([POINT])}
    core.add(
        make_pod("p-ok", task="T002", phase="Succeeded", container=exited(0), annotations=pinned)
    )
    core.logs["p-ok"] = [(stamp_ns(i), f"l{i}") for i in range(20)] + [
        (stamp_ns(21), Result(task="T002", status=Status.SUCCEEDED, reason="all good").to_line())
    ]
    core.add(make_pod("p-oom", task="T003", phase="Failed", container=exited(137, "OOMKilled")))
    core.add(
        make_pod(
            "p-pull", task="T004", phase="Pending", container=waiting("ImagePullBackOff", "nope")
        )
    )
    core.add(make_pod("p-other", task="T005", feature="002-other", container=running()))
    gone = make_pod(
        "p-expired",
        task="T006",
        phase="Failed",
        container=exited(1),
        annotations={labels.EXPIRES_AT: "2025-01-01T00:01:00Z"},
    )
    core.add(gone)
    return core


def status(argv: list[str], core: FakeClusterCore) -> int:
    args = build_parser().parse_args(["status", *argv])
    kube = Kube(core=core, namespace="ns")
    return run(args, ClusterPods(kube), ClusterLogs(kube), NOW)


def test_json_rows_with_stable_keys(capsys: pytest.CaptureFixture[str]) -> None:
    core = fake_cluster()
    assert status(["--json"], core) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [list(row) for row in rows] == [KEYS] * len(rows)
    by_task = {row["task"]: row for row in rows}
    assert set(by_task) == {"T001", "T002", "T003", "T004", "T005"}  # T006 expired: swept
    assert "p-expired" in core.deleted
    assert by_task["T001"]["state"] == "running" and by_task["T001"]["result"] == ""
    assert by_task["T001"]["branch"] == "b1" and by_task["T001"]["age_s"] == 300
    assert by_task["T002"]["result"] == "succeeded" and by_task["T002"]["reason"] == "all good"
    assert by_task["T002"]["elapsed_s"] == 43
    assert by_task["T002"]["started_from"] == [POINT.to_json()]
    assert by_task["T001"]["started_from"] == []
    assert by_task["T003"]["result"] == "failed" and "out of memory" in by_task["T003"]["reason"]
    assert "cannot pull image" in by_task["T004"]["state"]
    # the result is read cheaply: only ended pods, only the last lines
    tails = [call["tail_lines"] for call in core.log_calls]
    assert tails == [5, 5]


def test_status_sweeps_orphaned_task_configmaps_and_warns_when_it_cannot(
    capsys: pytest.CaptureFixture[str],
) -> None:
    core = fake_cluster()
    task_labels = {labels.MANAGED_BY: labels.TOOL_NAME, labels.COMPONENT: "agent"}
    for name, created in (
        ("sp-orphan-task", "2024-12-31T23:54:00Z"),
        ("sp-new-task", "2025-01-01T00:04:00Z"),
    ):
        core.configmaps[name] = {"name": name, "labels": task_labels, "creationTimestamp": created}
    assert status(["--json"], core) == 0
    assert core.deleted_configmaps == ["sp-orphan-task"] and "sp-new-task" in core.configmaps
    assert "WARNING" not in capsys.readouterr().err

    class Denied(FakeClusterCore):
        def list_namespaced_config_map_metadata(self, namespace: str, **kw: Any) -> Any:
            raise ApiException(status=403, reason="Forbidden")

    assert status(["--json"], Denied()) == 0
    err = capsys.readouterr().err
    assert "WARNING: could not sweep orphaned configmaps: listing configmaps in ns failed" in err


def test_feature_filter(capsys: pytest.CaptureFixture[str]) -> None:
    status(["--json", "--feature", "002-other"], fake_cluster())
    assert [row["task"] for row in json.loads(capsys.readouterr().out)] == ["T005"]


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    status([], fake_cluster())
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "TASK",
        "FEATURE",
        "STATE",
        "AGE",
        "ELAPSED",
        "RESULT",
        "BRANCH",
        "FROM",
        "POD",
    ]
    assert any(line.startswith("T002") and "succeeded" in line and "5m0s" in line for line in lines)
    assert any(line.startswith("T002") and f"T001@{'c' * 12}" in line for line in lines)
    assert len(lines) == 6


def test_empty(capsys: pytest.CaptureFixture[str]) -> None:
    assert status([], FakeClusterCore()) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no agent pods" in captured.err


def test_two_container_pods_say_cloning_running_pushing(capsys: pytest.CaptureFixture[str]) -> None:
    core = FakeClusterCore()
    core.add(make_pod("a", task="T001", container=waiting("PodInitializing"), git=running()))
    core.add(make_pod("b", task="T002", container=running(), git=running()))
    core.add(make_pod("c", task="T003", container=exited(0), git=running()))
    core.add(make_pod("d", task="T004", phase="Failed", container=exited(0), git=exited(8)))
    status(["--json"], core)
    states = {row["task"]: row["state"] for row in json.loads(capsys.readouterr().out)}
    assert states == {
        "T001": "cloning",
        "T002": "running",
        "T003": "pushing",
        "T004": "terminated (exit 8)",
    }


def test_the_table_strips_escapes_from_what_it_shows() -> None:
    from runtime.cli.status_cmd import Row, render_table

    # an annotation anyone who may patch the pod could have set
    branch = "b\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\x1b[2Jdone"
    row = Row("T012", "001", "p", "Failed", "ended", 5, 5, branch, "failed", "why", "")
    table = render_table([row])
    assert "\x1b" not in table and "\x07" not in table
    assert "bclick" in table and "done" in table


def test_an_ended_pods_row_keeps_its_checked_result_line_out_of_the_json() -> None:
    from runtime.cli.status_cmd import make_row

    core = FakeClusterCore()
    mine = Result("T002", Status.SUCCEEDED, input_tokens=40, output_tokens=2)
    core.add(make_pod("ok", task="T002", phase="Succeeded", container=exited(0)))
    core.logs["ok"] = [(stamp_ns(1), mine.to_line())]
    core.add(make_pod("forged", task="T003", phase="Succeeded", container=exited(0)))
    core.logs["forged"] = [(stamp_ns(1), Result("T009", Status.SUCCEEDED).to_line())]
    core.add(make_pod("busy", task="T004", container=running()))
    logs = ClusterLogs(Kube(core=core, namespace="ns"))

    rows = {pod["metadata"]["name"]: make_row(pod, logs, NOW) for pod in core.pods.values()}

    assert rows["ok"].outcome == mine and list(rows["ok"].to_json()) == KEYS
    assert rows["forged"].outcome is None  # about another task: not its counts
    assert rows["busy"].outcome is None
