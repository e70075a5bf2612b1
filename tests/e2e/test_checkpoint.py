"""Checkpoints: a hard fault loses minutes, not the task (docs/architecture.md, "Checkpoints").

A task writes a file and hangs; its pod pushes a checkpoint to
``refs/speckit-pods/wip/<feature>/<TID>`` every 5 s.  Then the pod dies without its
``git`` side getting any chance to push a WIP commit, and a rerun continues from the
checkpoint.

The single-node hard fault: every process of the pod is frozen (the pod's cgroup v2
``cgroup.freeze`` on the node) and the pod is force-deleted.  Killing the processes
alone is no hard fault here: the kubelet restarts the ``git`` sidecar, which finds its
clone in the emptyDir and pushes the WIP; frozen, it never runs again before the
kubelet SIGKILLs it (SIGTERM is never acted on).  The second test, for clusters with
two or more workers, ``docker kill``s the worker running the pod: the node is lost.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from urllib.parse import quote

import pytest
from pytest_kind import KindCluster

from tests.e2e.cluster import (
    NAMESPACE,
    Kubectl,
    agent_nodes,
    node_names,
    route_pod_subnets,
    wait_for,
)
from tests.e2e.conftest import TAIL, Feature, run_script, spawn
from tests.e2e.follower import Follower
from tests.e2e.gitea import GiteaServer, git
from tests.support.scripted_llm import Marker, write_target

HANG = "Write then hang scripted:write-then-stall"
NOOP = "Nothing more to do scripted:noop"
NODE_LOST_REPORT_S = 150  # node controller grace (40-50 s) + toleration (20 s) + follower


def wip_ref(feature: Feature, task_id: str) -> str:
    return f"refs/speckit-pods/wip/{feature.name}/{task_id}"


def remote_ref(gitea: GiteaServer, feature: Feature, ref: str) -> str:
    """The ref's commit on Gitea (``git ls-remote``), or ``""``."""
    out = git(["ls-remote", gitea.clone_url(feature.repo), ref], None, gitea.auth)
    return out.split()[0] if out.strip() else ""


def file_at(gitea: GiteaServer, feature: Feature, commit: str, path: str) -> str | None:
    status, raw = gitea.request(
        "GET", f"/api/v1/repos/{gitea.owner}/{feature.repo}/raw/{quote(path)}?ref={commit}"
    )
    return raw.decode() if status == 200 else None


def checkpoint_holding(
    gitea: GiteaServer, feature: Feature, task_id: str, path: str, content: str
) -> str:
    """Wait until the task's checkpoint ref holds ``path`` with ``content``; its commit."""

    def probe() -> str | None:
        commit = remote_ref(gitea, feature, wip_ref(feature, task_id))
        return commit if commit and file_at(gitea, feature, commit, path) == content else None

    return wait_for("a checkpoint holding the agent's file", probe, timeout=300, interval=1)


def spawn_hanging(feature: Feature, task_id: str, git_secret: str) -> str:
    return spawn(
        feature, task_id, "--git-secret", git_secret, "--checkpoint-interval", "5",
        "--stall-timeout", "1h", "--timeout", "30m", "--cleanup", "never",
    )  # fmt: skip


def pod_field(kubectl: Kubectl, pod: str, path: str) -> str:
    done = kubectl.run("get", "pod", pod, "-n", NAMESPACE, "-o", f"jsonpath={{{path}}}")
    return done.stdout.strip()


FREEZE = """
set -eu
uid="$1"; under=$(printf %s "$uid" | tr - _)
pod_dir() {  # the pod's cgroup under $1: the shortest path naming its uid
  find "$1" -type d \\( -name "*pod$uid" -o -name "*pod$uid.slice" \\
       -o -name "*pod$under.slice" \\) | awk '{ print length, $0 }' | sort -n | head -1 \\
       | cut -d' ' -f2
}
if [ -d /sys/fs/cgroup/freezer ]; then  # cgroup v1: the freezer controller
  dir=$(pod_dir /sys/fs/cgroup/freezer)
  [ -n "$dir" ] || { echo "no freezer cgroup for pod $uid" >&2; exit 1; }
  echo FROZEN > "$dir/freezer.state"
  i=0; until grep -qx FROZEN "$dir/freezer.state"; do
    i=$((i+1)); [ $i -lt 100 ]; sleep 0.1
  done
else  # cgroup v2
  dir=$(pod_dir /sys/fs/cgroup)
  [ -n "$dir" ] || { echo "no cgroup for pod $uid" >&2; exit 1; }
  echo 1 > "$dir/cgroup.freeze"
  i=0; until grep -q '^frozen 1' "$dir/cgroup.events"; do
    i=$((i+1)); [ $i -lt 100 ]; sleep 0.1
  done
fi
echo "$dir"
"""


def freeze_pod(node: str, uid: str) -> str:
    """Freeze every process of the pod (all three containers) on its node; the cgroup."""
    done = subprocess.run(
        ["docker", "exec", node, "sh", "-c", FREEZE, "sh", uid],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def thaw(node: str, cgroup: str) -> None:
    """Undo :func:`freeze_pod` (cgroup v1 or v2): pending signals are then acted on."""
    v1 = f"{cgroup}/freezer.state"
    script = (
        f'if [ -e "{v1}" ]; then echo THAWED > "{v1}"; else echo 0 > "{cgroup}/cgroup.freeze"; fi'
    )
    subprocess.run(["docker", "exec", node, "sh", "-c", script], capture_output=True, check=False)


SIGKILL_BIT = 1 << (9 - 1)  # in /proc/<pid>/status's signal masks


def container_pid(node: str, container_id: str) -> int:
    """The node's pid of a container's first process (``crictl inspect``)."""
    done = subprocess.run(
        ["docker", "exec", node, "crictl", "inspect", "--output", "go-template",
         "--template", "{{.info.pid}}", container_id],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(done.stdout.strip())


def sigkill_pending(node: str, pid: int) -> bool:
    """Whether the (frozen) process has a SIGKILL waiting: it dies the moment it thaws."""
    done = subprocess.run(
        ["docker", "exec", node, "cat", f"/proc/{pid}/status"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    masks = [
        int(line.split()[1], 16)
        for line in done.stdout.splitlines()
        if line.startswith(("SigPnd:", "ShdPnd:"))
    ]
    return any(mask & SIGKILL_BIT for mask in masks)


def git_container_id(kubectl: Kubectl, pod: str) -> str:
    statuses = kubectl.json("get", "pod", pod, "-n", NAMESPACE)["status"]["initContainerStatuses"]
    found = next(s for s in statuses if s["name"] == "git")
    return str(found["containerID"]).partition("://")[2]


def rerun_continues_from_the_checkpoint(
    feature: Feature, gitea: GiteaServer, git_secret: str, task_id: str, path: str, content: str
) -> None:
    """The rerun's agent does nothing: its branch holds the checkpoint's file all the same."""
    text = feature.tasks_file.read_text()
    feature.tasks_file.write_text(text.replace(HANG, NOOP))
    pod = spawn(feature, task_id, "--git-secret", git_secret, "--timeout", "10m")
    done = run_script(TAIL, pod, "--namespace", NAMESPACE, cwd=feature.clone, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[git] continuing from checkpoint " in done.stdout, done.stdout
    assert gitea.read_file(feature.repo, feature.branch(task_id), path) == content
    assert remote_ref(gitea, feature, wip_ref(feature, task_id)) == "", "the ref was not deleted"


@pytest.mark.timeout(1200)
def test_a_hard_fault_loses_nothing_since_the_last_checkpoint(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    git_secret: str,
) -> None:
    feature = make_feature([f"- [ ] T530 [ASYNC] {HANG}"])
    path, content = write_target(Marker("write", {}, "T530"))
    pod = spawn_hanging(feature, "T530", git_secret)
    try:
        checkpoint_holding(gitea, feature, "T530", path, content)
        node, uid = (
            pod_field(installed, pod, ".spec.nodeName"),
            pod_field(installed, pod, ".metadata.uid"),
        )
        git_pid = container_pid(node, git_container_id(installed, pod))
        cgroup = freeze_pod(node, uid)
        try:
            installed.run("delete", "pod", pod, "-n", NAMESPACE, "--grace-period=0", "--force")
            # the kubelet stops the containers: SIGTERM, then SIGKILL; frozen, the git side
            # acts on neither until it thaws, and then SIGKILL ends it before any code runs
            wait_for("the kubelet's SIGKILL of the frozen git side",
                     lambda: sigkill_pending(node, git_pid), timeout=120, interval=1)  # fmt: skip
        finally:
            thaw(node, cgroup)  # never leave a frozen pod: the node could not be stopped
        gone = ["docker", "exec", node, "test", "!", "-e", cgroup]
        wait_for("the pod's processes to be gone", lambda: subprocess.run(gone).returncode == 0,
                 timeout=180, interval=1)  # fmt: skip
    finally:
        installed.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false", check=False)
    # no WIP commit: the git side never ran after the freeze
    assert gitea.read_file(feature.repo, feature.branch("T530"), path) is None

    rerun_continues_from_the_checkpoint(feature, gitea, git_secret, "T530", path, content)


@pytest.mark.node_fault
@pytest.mark.timeout(1500)
def test_a_lost_node_is_reported_killed_fast_and_the_rerun_continues_elsewhere(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    git_secret: str,
    e2e_cluster: KindCluster,
) -> None:
    if len(agent_nodes(e2e_cluster)) < 2:
        pytest.skip("needs a kind cluster with two or more worker nodes")
    if os.environ.get("SPECKIT_PODS_E2E_NODE_KILL") == "0":
        pytest.skip("SPECKIT_PODS_E2E_NODE_KILL=0: the docker-kill node test is off")
    feature = make_feature([f"- [ ] T531 [ASYNC] {HANG}"])
    path, content = write_target(Marker("write", {}, "T531"))
    pod = spawn_hanging(feature, "T531", git_secret)
    tail = Follower([pod], feature.clone, installed.env)
    node = ""
    try:
        commit = checkpoint_holding(gitea, feature, "T531", path, content)
        node = pod_field(installed, pod, ".spec.nodeName")
        subprocess.run(["docker", "kill", node], check=True, capture_output=True)
        killed_at = time.monotonic()
        rc = tail.wait(timeout=NODE_LOST_REPORT_S)
        took = time.monotonic() - killed_at
        summary = [line for line in tail.lines if " RESULT " in line]
        assert rc == 5, tail.dump()
        assert len(summary) == 1 and "status=killed" in summary[0], tail.dump()
        assert f"node {node} lost" in summary[0], summary
        assert f"{wip_ref(feature, 'T531')} (checkpoint {commit[:12]})" in summary[0], summary
        assert took < NODE_LOST_REPORT_S, took

        rerun_continues_from_the_checkpoint(feature, gitea, git_secret, "T531", path, content)
    finally:
        if node:
            subprocess.run(["docker", "start", node], check=False, capture_output=True)
            route_pod_subnets(node_names(e2e_cluster))  # a restarted node lost its routes
            ready = ["wait", "--for=condition=Ready", f"node/{node}", "--timeout=300s"]
            installed.run(*ready, check=False)
        installed.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false", check=False)
