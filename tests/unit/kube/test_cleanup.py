from __future__ import annotations

import datetime
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from runtime.contract.outcome import Status
from runtime.errors import KubeApiError
from runtime.kube import labels
from runtime.kube.cleanup import (
    Policy,
    apply_policy,
    delete_pod,
    is_expired,
    is_reported,
    mark_reported,
    sweep_expired,
    sweep_orphans,
)
from runtime.kube.client import Kube
from runtime.kube.podwatch import ClusterPods
from tests.unit.fakes import FakeClusterCore, api_exception, exited, make_pod, running

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


# --- orphaned task ConfigMaps -------------------------------------------------------------

TASK_CM_LABELS = {
    labels.MANAGED_BY: labels.TOOL_NAME,
    labels.COMPONENT: "agent",
    labels.TASK: "T012",
}


def task_cm(
    name: str,
    *,
    age: datetime.timedelta | None = datetime.timedelta(minutes=11),
    owned: bool = False,
    cm_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A ConfigMap's metadata as a metadata-only list returns it, created ``age`` before NOW."""
    meta: dict[str, Any] = {
        "name": name,
        "uid": f"uid-{name}",
        "labels": cm_labels or TASK_CM_LABELS,
    }
    if age is not None:
        meta["creationTimestamp"] = (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")
    if owned:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u"}]
    return meta


def with_configmaps(core: FakeClusterCore, *metas: dict[str, Any]) -> None:
    for meta in metas:
        core.configmaps[meta["name"]] = meta


def test_sweep_orphans_deletes_only_old_unowned_unmounted_task_configmaps() -> None:
    mounting = make_pod("sp-mounted", phase="Failed", container=exited(1))
    mounting["spec"]["volumes"] = [{"name": "task", "configMap": {"name": "sp-mounted-task"}}]
    core, pods = cluster(mounting)
    with_configmaps(
        core,
        task_cm("sp-orphan-task"),
        task_cm("sp-in-flight-task", age=datetime.timedelta(minutes=9)),  # its spawn runs
        task_cm("sp-owned-task", owned=True),
        task_cm("sp-mounted-task"),  # its pod lost the owner: kept while the pod is there
        task_cm("sp-no-timestamp-task", age=None),
        task_cm("speckit-pods-agent-config", cm_labels={labels.COMPONENT: "agent-config"}),
        task_cm("sp-other-tool-task", cm_labels={labels.COMPONENT: "agent"}),
    )
    assert sweep_orphans(pods, now=NOW) == ["sp-orphan-task"]
    assert core.deleted_configmaps == ["sp-orphan-task"]
    assert "speckit-pods-agent-config" in core.configmaps


def test_sweep_orphans_takes_the_age_it_is_given() -> None:
    core, pods = cluster()
    with_configmaps(core, task_cm("sp-a-task", age=datetime.timedelta(minutes=3)))
    assert sweep_orphans(pods, now=NOW) == []
    assert sweep_orphans(pods, now=NOW, age=datetime.timedelta(minutes=2)) == ["sp-a-task"]


def test_sweep_orphans_lists_no_pods_when_nothing_is_old() -> None:
    class NoPods(FakeClusterCore):
        def list_namespaced_pod(self, namespace: str, label_selector: str = "", **_: Any) -> Any:
            raise AssertionError("pods listed for nothing")

    core = NoPods()
    with_configmaps(core, task_cm("sp-young-task", age=datetime.timedelta(seconds=5)))
    assert sweep_orphans(Kube(core=core, namespace="ns"), now=NOW) == []


def test_sweep_orphans_leaves_a_configmap_made_again_since_it_listed() -> None:
    """The next spawn of the task replaced the orphan: the delete's uid precondition fails."""

    class Replaced(FakeClusterCore):
        def list_namespaced_config_map_metadata(self, namespace: str, **kw: Any) -> Any:
            listed = super().list_namespaced_config_map_metadata(namespace, **kw)
            self.configmaps["sp-orphan-task"] = task_cm("sp-orphan-task", age=None)
            self.configmaps["sp-orphan-task"]["uid"] = "uid-of-the-new-one"
            return listed

    core = Replaced()
    with_configmaps(core, task_cm("sp-orphan-task"))
    assert sweep_orphans(Kube(core=core, namespace="ns"), now=NOW) == []
    assert core.configmaps["sp-orphan-task"]["uid"] == "uid-of-the-new-one"


def test_sweep_orphans_reports_a_listing_it_may_not_make() -> None:
    class Denied(FakeClusterCore):
        def list_namespaced_config_map_metadata(self, namespace: str, **kw: Any) -> Any:
            raise ApiException(status=403, reason="Forbidden")

    with pytest.raises(KubeApiError, match="listing configmaps in ns failed: HTTP 403"):
        sweep_orphans(Kube(core=Denied(), namespace="ns"), now=NOW)


def test_mark_reported_annotates_the_moment_and_a_gone_pod_is_false() -> None:
    pod = make_pod("p", phase="Succeeded", container=exited(0))
    core, pods = cluster(pod)
    assert not is_reported(pod)
    assert mark_reported(pods, "p", now=NOW)
    assert core.pods["p"]["metadata"]["annotations"][labels.REPORTED_AT] == "2025-01-02T12:00:00Z"
    assert is_reported(core.pods["p"])
    assert not mark_reported(pods, "gone", now=NOW)


def test_mark_reported_refused_is_a_kube_api_error() -> None:
    core, pods = cluster(make_pod("p", phase="Succeeded", container=exited(0)))
    core.refused[labels.REPORTED_AT] = api_exception(403, "Forbidden", "no patch for you")
    with pytest.raises(KubeApiError) as caught:
        mark_reported(pods, "p", now=NOW)
    assert caught.value.message == (
        "annotating pod p as reported failed: HTTP 403 Forbidden. no patch for you"
    )
