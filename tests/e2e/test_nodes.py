"""Several nodes: agent pods spread over the workers; a worker drained mid-run.

The e2e cluster has a control plane and two workers (``SPECKIT_PODS_E2E_WORKERS``);
these tests skip on a one-node cluster.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_kind import KindCluster

from tests.e2e.cluster import NAMESPACE, REPO_ROOT, Kubectl, agent_nodes, wait_for
from tests.e2e.conftest import SPAWN, TAIL, Feature, run_script
from tests.e2e.follower import Follower
from tests.e2e.gitea import GiteaServer
from tests.support.scripted_llm import Marker, write_target

RUN_ASYNC = REPO_ROOT / "scripts" / "run-async.sh"
DRAIN_TIMEOUT_S = 180


@pytest.fixture
def workers(e2e_cluster: KindCluster) -> list[str]:
    nodes = agent_nodes(e2e_cluster)
    if len(nodes) < 2:
        pytest.skip("needs a cluster with two worker nodes (SPECKIT_PODS_E2E_WORKERS=2)")
    return nodes


def _node_of(kubectl: Kubectl, pod: str) -> str:
    spec = kubectl.json("get", "pod", pod, "-n", NAMESPACE)["spec"]
    return str(spec.get("nodeName", ""))


def test_agent_pods_spread_over_the_workers(
    make_feature: Callable[[list[str]], Feature], installed: Kubectl, workers: list[str]
) -> None:
    ids = ["T600", "T601", "T602", "T603"]
    feature = make_feature([f"- [ ] {tid} [P] [ASYNC] Write {tid} scripted:write" for tid in ids])
    done = run_script(
        RUN_ASYNC, "--no-integrate", "--tasks", str(feature.tasks_file),
        "--repo", feature.remote_url, "--base", "main", "--namespace", NAMESPACE,
        "--max-parallel", "4", "--cleanup", "never", "--no-live", cwd=feature.clone, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    pods = installed.pods(f"speckit-pods.dev/feature={feature.name}")
    placed = {str(pod["spec"].get("nodeName", "")) for pod in pods}
    try:
        assert len(pods) == len(ids), [p["metadata"]["name"] for p in pods]
        assert placed == set(workers), f"pods on {sorted(placed)}, workers {workers}"
    finally:
        installed.run(
            "delete", "pod", "-n", NAMESPACE, "-l", f"speckit-pods.dev/feature={feature.name}",
            "--wait=false",
        )  # fmt: skip


@pytest.mark.node_fault
def test_drained_worker_ends_the_agent_killed_and_a_rerun_continues_elsewhere(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    git_secret: str,
    workers: list[str],
) -> None:
    first = "- [ ] T610 [ASYNC] Part one scripted:write-then-stall,path=scripted/first.txt"
    feature = make_feature([first])
    branch = feature.branch("T610")
    common = ["--task-id", "T610", "--branch", branch, "--repo", feature.remote_url,
              "--context-dir", str(feature.feature_dir), "--base", "main",
              "--git-secret", git_secret, "--cleanup", "never"]  # fmt: skip
    spawned = run_script(SPAWN, *common, "--stall-timeout", "1h", cwd=feature.clone)
    assert spawned.returncode == 0, spawned.stderr
    pod = spawned.stdout.strip()
    tail = Follower([pod], feature.clone, installed.env)
    path, _ = write_target(Marker("write", {"path": "scripted/first.txt"}, "T610"))
    drained = ""
    try:
        wait_for("the agent's write", lambda: tail.saw(f"[tool] write {path}"), timeout=240)
        drained = _node_of(installed, pod)
        assert drained in workers, drained
        # honours the pod's grace period: the git side pushes the WIP on SIGTERM
        drain = installed.run(
            "drain",
            drained,
            "--ignore-daemonsets",
            "--force",
            "--delete-emptydir-data",
            f"--timeout={DRAIN_TIMEOUT_S}s",
            check=False,
        )  # fmt: skip
        assert drain.returncode == 0, drain.stdout + drain.stderr
        rc = tail.wait(timeout=180)
        result = [line for line in tail.lines if " RESULT " in line]
        assert rc == 5 and len(result) == 1 and "status=killed" in result[0], tail.dump()
        assert gitea.read_file(feature.repo, branch, "scripted/first.txt") is not None, (
            "the WIP commit was not pushed before the node was drained"
        )

        text = feature.tasks_file.read_text()
        second = "- [ ] T610 [ASYNC] Part two scripted:write,path=scripted/second.txt"
        feature.tasks_file.write_text(text.replace(first, second))
        again = run_script(SPAWN, *common, "--timeout", "10m", cwd=feature.clone)
        assert again.returncode == 0, again.stderr
        pod2 = again.stdout.strip()
        run2 = run_script(TAIL, pod2, "--namespace", NAMESPACE, cwd=feature.clone, timeout=300)
        assert run2.returncode == 0, run2.stdout + run2.stderr
        elsewhere = _node_of(installed, pod2)
        assert elsewhere in workers and elsewhere != drained, (drained, elsewhere)
        assert "already exists on the remote: continuing from it" in run2.stdout
        assert gitea.read_file(feature.repo, branch, "scripted/first.txt") is not None
        assert gitea.read_file(feature.repo, branch, "scripted/second.txt") is not None
    finally:
        if drained:
            installed.run("uncordon", drained, check=False)
        installed.run(
            "delete", "pod", "-n", NAMESPACE, "-l", f"speckit-pods.dev/feature={feature.name}",
            "--wait=false",
        )  # fmt: skip
