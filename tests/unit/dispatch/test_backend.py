"""ClusterBackend: which ended pod a dispatch re-attaches to, and a rerun of a reported one."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from runtime.contract.outcome import Result, Status
from runtime.dispatch.backend import ClusterBackend
from runtime.follow.classify import Outcome
from runtime.follow.follow import Ended, Target
from runtime.kube import labels
from runtime.kube.client import Kube
from runtime.kube.logs import Printer
from runtime.kube.pod import Pod
from runtime.spawn import names
from runtime.spawn.create import SpawnOptions
from tests.unit.fakes import (
    FakeClusterCore,
    SpawnCore,
    api_exception,
    exited,
    feature_repo,
    make_pod,
    spawn_pod,
)

REPO = "https://git.example.com/acme/photos.git"
FEATURE = "001-photo-albums"
POD = names.pod_name(FEATURE, "T012", REPO)
POD_LABELS = {
    labels.MANAGED_BY: "speckit-pods",
    labels.COMPONENT: "agent",
    labels.TASK: "T012",
    labels.FEATURE: FEATURE,
    labels.REPO_ID: names.repo_id(REPO),
}
STAMP = "2026-11-25T12:00:00Z"


def succeeded(annotations: dict[str, str]) -> Pod:
    """The task's pod of an earlier run, ended: Succeeded, every container exited 0."""
    pod = spawn_pod(POD, "Succeeded", POD_LABELS, annotations)
    pod["status"] = {
        "phase": "Succeeded",
        "containerStatuses": [{"name": "agent", "state": exited(0)}],
    }
    return pod


def backend(core: Any, feature: Path, namespace: str) -> tuple[ClusterBackend, io.StringIO]:
    err = io.StringIO()
    template = SpawnOptions(task_id="", tasks_file=feature / "tasks.md")
    kube = Kube(core=core, namespace=namespace)
    return ClusterBackend(kube, template, FEATURE, Printer(io.StringIO(), err, color=False)), err


@pytest.fixture
def feature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = feature_repo(tmp_path / "photos", origin=REPO)
    monkeypatch.chdir(tmp_path / "photos")
    return folder


def test_an_unreported_succeeded_pod_is_reattached(feature: Path) -> None:
    """A dispatch detached (Ctrl-C) before its pod ended: the next one reports it."""
    core = SpawnCore()
    core.add(succeeded({labels.EXPIRES_AT: STAMP}))
    cluster, _ = backend(core, feature, core.namespace)
    assert cluster.attachable() == {"T012": POD}


def test_a_reported_succeeded_pod_is_not_reattached_and_its_task_is_spawned_anew(
    feature: Path,
) -> None:
    """Its task was marked done, then set back to [ ]: a new run, not the old result."""
    core = SpawnCore()
    core.add(succeeded({labels.EXPIRES_AT: STAMP, labels.REPORTED_AT: STAMP}))
    cluster, _ = backend(core, feature, core.namespace)
    assert cluster.attachable() == {}
    assert cluster.find("T012") is None  # an ended pod is no duplicate either

    assert cluster.spawn("T012") == POD  # not refused: the ended pod of that name goes
    assert ("delete_namespaced_pod", POD) in core.calls
    new = core.pods[POD]
    assert new["metadata"]["uid"] == "uid-1" and new["status"]["phase"] == "Pending"
    assert labels.REPORTED_AT not in new["metadata"]["annotations"]
    assert cluster.attachable() == {"T012": POD}  # the new pod runs: a dispatch attaches


def ended(pod: Pod) -> Ended:
    result = Result(task="T012", status=Status.SUCCEEDED, branch="b", commit="c" * 40)
    return Ended(Target(POD, "T012"), pod, Outcome(Status.SUCCEEDED, "pushed", result))


def kept_pod(feature: Path) -> Pod:
    annotations = {labels.CLEANUP: "never", labels.TASKS_FILE: str(feature / "tasks.md")}
    pod = make_pod(POD, task="T012", feature=FEATURE, phase="Succeeded", container=exited(0))
    pod["metadata"]["labels"][labels.REPO_ID] = names.repo_id(REPO)
    pod["metadata"]["annotations"] = annotations
    return pod


def test_a_pod_the_dispatcher_reported_is_not_reattached_by_the_next_dispatch(
    feature: Path,
) -> None:
    """``--cleanup never``: the kept pod is marked reported when its task is marked done."""
    core = FakeClusterCore()
    pod = kept_pod(feature)
    core.add(pod)
    cluster, err = backend(core, feature, core.namespace)
    assert cluster.attachable() == {"T012": POD}  # detached so far: to report

    verdict = cluster.finish(ended(pod))

    assert verdict.status is Status.SUCCEEDED
    assert "- [X] T012 [P] [ASYNC]" in (feature / "tasks.md").read_text()
    assert POD in core.pods and labels.REPORTED_AT in core.pods[POD]["metadata"]["annotations"]
    assert cluster.attachable() == {}
    assert "WARNING" not in err.getvalue()


def test_a_refused_annotation_keeps_the_verdict_and_the_pod_reattachable(feature: Path) -> None:
    core = FakeClusterCore()
    pod = kept_pod(feature)
    core.add(pod)
    core.refused[labels.REPORTED_AT] = api_exception(403, "Forbidden")
    cluster, err = backend(core, feature, core.namespace)

    verdict = cluster.finish(ended(pod))

    assert verdict.status is Status.SUCCEEDED and verdict.commit == "c" * 40
    assert "- [X] T012 [P] [ASYNC]" in (feature / "tasks.md").read_text()
    warnings = [line for line in err.getvalue().splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "as reported failed: HTTP 403" in warnings[0], warnings
    assert cluster.attachable() == {"T012": POD}  # as before the change: said in the warning
