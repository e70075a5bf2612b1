"""The cleanup policy applied by tail-logs, and the task ConfigMap going with its pod.

Four pods run at once: ``on-success`` x {succeeded, failed}, ``always`` x failed,
``never`` x succeeded.
"""

from __future__ import annotations

import datetime
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from runtime.common.timestamps import parse_rfc3339
from runtime.kube import labels
from tests.e2e.cluster import NAMESPACE, Kubectl, wait_for
from tests.e2e.conftest import (
    Feature,
    create_feature,
    result_line,
    spawn,
    tail_all,
    task_configmap,
)
from tests.e2e.gitea import GiteaServer

# task id -> (script, --cleanup, expected status, deleted by tail-logs)
CASES = {
    "T050": ("write", "on-success", "succeeded", True),
    "T051": ("error400", "on-success", "failed", False),
    "T052": ("error400", "always", "failed", True),
    "T053": ("write", "never", "succeeded", False),
}


@dataclass(frozen=True)
class Cleaned:
    feature: Feature
    pods: dict[str, str]  # task id -> pod
    configmaps: dict[str, str]  # task id -> its pod's task ConfigMap
    runs: dict[str, subprocess.CompletedProcess[str]]  # task id -> tail-logs run


@pytest.fixture(scope="module")
def cleaned(
    gitea: GiteaServer, installed: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cleaned]:
    lines = [
        f"- [ ] {tid} [P] [ASYNC] Cleanup {policy} scripted:{script}"
        for tid, (script, policy, _, _) in CASES.items()
    ]
    feature = create_feature(gitea, tmp_path_factory.mktemp("cleanup"), lines)
    pods = {
        tid: spawn(feature, tid, "--cleanup", policy, "--keep-for", "1h")
        for tid, (_, policy, _, _) in CASES.items()
    }
    configmaps = {tid: task_configmap(installed, pod) for tid, pod in pods.items()}
    # every task ConfigMap exists and is owned by its pod before anything ends
    for tid, pod in pods.items():
        cm = configmaps[tid]
        owners = installed.json("get", "configmap", cm, "-n", NAMESPACE)["metadata"][
            "ownerReferences"
        ]
        uid = installed.json("get", "pod", pod, "-n", NAMESPACE)["metadata"]["uid"]
        assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [("Pod", pod, uid)]
    done = tail_all({pod: ["--timeout", "4m"] for pod in pods.values()}, cwd=feature.clone)
    yield Cleaned(feature, pods, configmaps, {tid: done[pod] for tid, pod in pods.items()})
    for pod in pods.values():
        installed.run("delete", "pod", pod, "-n", NAMESPACE, "--ignore-not-found", "--wait=false")


def _exists(kubectl: Kubectl, kind: str, name: str) -> bool:
    return kubectl.run("get", kind, name, "-n", NAMESPACE, check=False).returncode == 0


@pytest.mark.parametrize("task_id", list(CASES))
def test_policy_decides_what_tail_logs_deletes(
    cleaned: Cleaned, installed: Kubectl, task_id: str
) -> None:
    _, policy, status, deleted = CASES[task_id]
    done, pod = cleaned.runs[task_id], cleaned.pods[task_id]
    cm = cleaned.configmaps[task_id]
    assert f"RESULT status={status} " in result_line(done), done.stdout + done.stderr
    if deleted:
        assert f"pod {pod} deleted" in done.stderr, done.stderr
        wait_for(f"{pod} gone", lambda: not _exists(installed, "pod", pod), timeout=90)
        wait_for(
            f"{cm} garbage-collected",
            lambda: not _exists(installed, "configmap", cm),
            timeout=90,
        )
        return
    assert f"pod {pod} kept until " in done.stderr, done.stderr
    meta = installed.json("get", "pod", pod, "-n", NAMESPACE)["metadata"]
    expires = parse_rfc3339(meta["annotations"].get(labels.EXPIRES_AT, ""))
    now = datetime.datetime.now(datetime.UTC)
    assert expires is not None and now + datetime.timedelta(minutes=50) < expires, meta
    assert meta["annotations"][labels.CLEANUP] == policy
    assert _exists(installed, "configmap", cm)


def test_deleting_a_kept_pod_takes_its_configmap(cleaned: Cleaned, installed: Kubectl) -> None:
    pod, cm = cleaned.pods["T053"], cleaned.configmaps["T053"]
    assert _exists(installed, "configmap", cm)
    installed.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false")
    wait_for(
        f"{cm} garbage-collected",
        lambda: not _exists(installed, "configmap", cm),
        timeout=90,
    )
