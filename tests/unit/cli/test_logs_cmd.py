from __future__ import annotations

import argparse

import pytest

from runtime.cli import build_parser, main
from runtime.cli.logs_cmd import resolve_targets, run
from runtime.contract.outcome import Result, Status
from runtime.errors import InvalidInputError, PodNotFoundError
from runtime.follow.follow import Cluster
from runtime.kube import labels
from runtime.kube.client import Kube
from runtime.kube.logs import ClusterLogs
from runtime.kube.podwatch import ClusterPods
from tests.unit.fakes import (
    FakeClock,
    FakeClusterCore,
    FakeWatch,
    exited,
    make_pod,
    running,
    stamp_ns,
)


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["logs", *argv])


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["pod-1", "--task", "T012"],
        ["--task", "T012", "--all"],
        ["pod-1", "--tasks", "tasks.md"],
        ["pod-1", "--timeout", "soon"],
        ["pod-1", "--bogus"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", *argv]) == 2
    assert capsys.readouterr().err


def test_help_lists_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "--help"]) == 0
    out = capsys.readouterr().out
    assert "27 still-running" in out and "--verify-remote" in out


def pods_of(core: FakeClusterCore) -> ClusterPods:
    return ClusterPods(Kube(core=core, namespace="ns"))


def test_targets_by_task_take_the_newest_pod_per_feature() -> None:
    core = FakeClusterCore()
    core.add(make_pod("old", task="T012", created="2025-01-01T00:00:00Z"))
    core.add(make_pod("new", task="T012", created="2025-01-01T01:00:00Z"))
    core.add(make_pod("elsewhere", task="T012", feature="002-x"))
    core.add(make_pod("t13", task="T013"))
    targets = resolve_targets(pods_of(core), args("--task", "T012"))
    assert sorted(t.pod for t in targets) == ["elsewhere", "new"]
    assert {t.task for t in targets} == {"T012"}
    assert [
        t.pod
        for t in resolve_targets(pods_of(core), args("--task", "T012", "--feature", "001-demo"))
    ] == ["new"]


def test_a_task_with_pods_of_two_repositories_needs_repo() -> None:
    from runtime.spawn.names import repo_id

    one, two = "https://git.example/a/one.git", "https://git.example/b/two.git"
    core = FakeClusterCore()
    core.add(make_pod("p-one", repo_id=repo_id(one), annotations={labels.REPO: one}))
    core.add(make_pod("p-two", repo_id=repo_id(two), annotations={labels.REPO: two}))
    with pytest.raises(InvalidInputError) as err:
        resolve_targets(pods_of(core), args("--task", "T012"))
    assert one in str(err.value) and two in str(err.value) and "--repo" in err.value.hint
    assert err.value.exit_code == 26
    chosen = resolve_targets(pods_of(core), args("--task", "T012", "--repo", two))
    assert [t.pod for t in chosen] == ["p-two"]
    everything = resolve_targets(pods_of(core), args("--all", "--repo", one))
    assert [t.pod for t in everything] == ["p-one"]


def test_targets_all_sorted_by_task_with_distinct_colours() -> None:
    core = FakeClusterCore()
    for name, task in [("c", "T003"), ("a", "T001"), ("b", "T002")]:
        core.add(make_pod(name, task=task))
    targets = resolve_targets(pods_of(core), args("--all"))
    assert [t.task for t in targets] == ["T001", "T002", "T003"]
    assert [t.index for t in targets] == [0, 1, 2]


@pytest.mark.parametrize("argv", [["missing"], ["--task", "T099"], ["--all", "--feature", "nope"]])
def test_no_match_is_pod_not_found(argv: list[str]) -> None:
    core = FakeClusterCore()
    core.add(make_pod("p", task="T012"))
    with pytest.raises(PodNotFoundError) as err:
        resolve_targets(pods_of(core), args(*argv))
    assert err.value.exit_code == 23 and err.value.hint


def cluster_with(status: Status, *, ended: bool = True) -> tuple[FakeClusterCore, Cluster]:
    core = FakeClusterCore()
    annotations = {labels.CLEANUP: "never"}
    core.add(make_pod("p", container=running(), annotations=annotations))
    core.logs["p"] = [
        (stamp_ns(0), "hello"),
        (stamp_ns(1), Result(task="T012", status=status).to_line()),
    ]
    if ended:
        core.final["p"] = make_pod(
            "p", phase="Failed", container=exited(status.exit_code), annotations=annotations
        )
    clock = FakeClock()
    kube = Kube(core=core, namespace="ns")
    return core, Cluster(
        ClusterPods(kube, watch_factory=FakeWatch(core, clock, [])),
        ClusterLogs(kube),
        sleep=clock.sleep,
    )


@pytest.mark.parametrize("status", list(Status))
def test_follow_exit_code_is_the_status_exit_code(
    status: Status, capsys: pytest.CaptureFixture[str]
) -> None:
    _, cluster = cluster_with(status)
    assert run(args("p", "--no-color"), cluster) == status.exit_code
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[T012] hello"
    assert out[-1].startswith(f"[T012] RESULT status={status.value} exit={status.exit_code} ")


def test_no_follow_on_a_running_pod_exits_27(capsys: pytest.CaptureFixture[str]) -> None:
    core, cluster = cluster_with(Status.SUCCEEDED, ended=False)
    core.logs["p"] = core.logs["p"][:1]
    assert run(args("p", "--no-follow"), cluster) == 27
    captured = capsys.readouterr()
    assert captured.out == "[T012] hello\n" and "not ended yet" in captured.err


def test_main_maps_a_missing_pod_to_23(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import runtime.kube.client

    monkeypatch.setattr(
        runtime.kube.client, "connect", lambda *a: Kube(core=FakeClusterCore(), namespace="ns")
    )
    assert main(["logs", "ghost"]) == 23
    err = capsys.readouterr().err
    assert "ERROR: pod 'ghost' not found in namespace ns" in err and "Hint:" in err
