from __future__ import annotations

import datetime
from typing import Any

import pytest

from runtime.contract.outcome import Status
from runtime.kube import labels
from runtime.kube.cleanup import Policy, apply_policy, delete_pod, is_expired, sweep_expired
from runtime.kube.client import Kube
from runtime.kube.podwatch import ClusterPods
from tests.unit.fakes import FakeClusterCore, exited, make_pod, running

NOW = datetime.datetime(2025, 1, 2, 12, 0, tzinfo=datetime.UTC)


def cluster(*pods: dict[str, Any]) -> tuple[FakeClusterCore, ClusterPods]:
    core = FakeClusterCore()
    for pod in pods:
        core.add(pod)
    return core, ClusterPods(Kube(core=core, namespace="ns"))


@pytest.mark.parametrize(
    ("policy", "status", "deleted"),
    [
        ("always", Status.SUCCEEDED, True),
        ("always", Status.FAILED, True),
        ("on-success", Status.SUCCEEDED, True),
        ("on-success", Status.FAILED, False),
        ("on-success", Status.NO_CHANGES, False),
        ("never", Status.SUCCEEDED, False),
        ("", Status.SUCCEEDED, True),  # missing annotation: on-success
        ("", Status.KILLED, False),
        ("bogus", Status.TIMEOUT, False),
    ],
)
def test_policy_table(policy: str, status: Status, deleted: bool) -> None:
    annotations = {labels.CLEANUP: policy} if policy else {}
    pod = make_pod("p", phase="Failed", container=exited(1), annotations=annotations)
    core, pods = cluster(pod)
    cleaned = apply_policy(pods, pod, status, now=NOW)
    assert cleaned.deleted is deleted
    assert ("p" in core.deleted) is deleted
    assert ("p" in core.pods) is not deleted


def test_kept_pod_gets_an_expiry() -> None:
    pod = make_pod("p", phase="Failed", container=exited(1), annotations={labels.CLEANUP: "never"})
    core, pods = cluster(pod)
    cleaned = apply_policy(pods, pod, Status.FAILED, now=NOW, keep=datetime.timedelta(hours=2))
    assert cleaned.expires_at == "2025-01-02T14:00:00Z"
    assert core.pods["p"]["metadata"]["annotations"][labels.EXPIRES_AT] == "2025-01-02T14:00:00Z"
    assert "kept until 2025-01-02T14:00:00Z" in cleaned.describe()


def test_kept_pod_keeps_an_existing_expiry() -> None:
    annotations = {labels.CLEANUP: "on-success", labels.EXPIRES_AT: "2025-01-05T00:00:00Z"}
    pod = make_pod("p", phase="Failed", container=exited(1), annotations=annotations)
    core, pods = cluster(pod)
    cleaned = apply_policy(pods, pod, Status.FAILED, now=NOW)
    assert cleaned.expires_at == "2025-01-05T00:00:00Z" and core.patches == []


def test_deleting_a_pod_already_gone_is_fine() -> None:
    pod = make_pod(
        "p", phase="Succeeded", container=exited(0), annotations={labels.CLEANUP: "always"}
    )
    core, pods = cluster()
    assert apply_policy(pods, pod, Status.SUCCEEDED, now=NOW).deleted


def test_policy_of() -> None:
    assert Policy.of(make_pod("p", annotations={labels.CLEANUP: "never"})) is Policy.NEVER
    assert Policy.of(make_pod("p")) is Policy.ON_SUCCESS


def test_sweep_deletes_only_ended_expired_agent_pods() -> None:
    past = {labels.EXPIRES_AT: "2025-01-02T11:59:59Z"}
    future = {labels.EXPIRES_AT: "2025-01-02T12:00:01Z"}
    pods_ = [
        make_pod("old-failed", phase="Failed", container=exited(1), annotations=past),
        make_pod("old-done", phase="Succeeded", container=exited(0), annotations=past),
        make_pod("old-but-running", container=running(), annotations=past),
        make_pod("fresh-failed", phase="Failed", container=exited(1), annotations=future),
        make_pod("no-expiry", phase="Failed", container=exited(1)),
        make_pod("garbage-expiry", phase="Failed", annotations={labels.EXPIRES_AT: "soon"}),
    ]
    foreign = make_pod("not-ours", phase="Failed", annotations=past)
    del foreign["metadata"]["labels"][labels.MANAGED_BY]
    core, pods = cluster(*pods_, foreign)
    swept = sweep_expired(pods, now=NOW)
    assert sorted(swept) == ["old-done", "old-failed"]
    assert sorted(core.pods) == [
        "fresh-failed",
        "garbage-expiry",
        "no-expiry",
        "not-ours",
        "old-but-running",
    ]


def test_sweep_accepts_a_kube() -> None:
    core = FakeClusterCore()
    core.add(make_pod("x", phase="Failed", annotations={labels.EXPIRES_AT: "2020-01-01T00:00:00Z"}))
    assert sweep_expired(Kube(core=core, namespace="ns"), now=NOW) == ["x"]


def test_is_expired_handles_offsets() -> None:
    pod = make_pod(
        "p", phase="Failed", annotations={labels.EXPIRES_AT: "2025-01-02T13:30:00+02:00"}
    )
    assert is_expired(pod, NOW)


def test_a_deletion_of_ours_is_marked_on_the_pod_first() -> None:
    core, pods = cluster(make_pod("p", container=running()), make_pod("q", container=running()))
    assert delete_pod(pods, "p", by="run-async.sh cancel") is True
    assert core.patches == [
        ("p", {"metadata": {"annotations": {labels.DELETED_BY: "run-async.sh cancel"}}})
    ]
    assert core.deleted == ["p"]
    assert delete_pod(pods, "q") is True and len(core.patches) == 1  # no mark without ``by``
    assert delete_pod(pods, "gone", by="run-async.sh cancel") is False  # already gone: fine
