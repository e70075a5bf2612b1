"""A hijacked agent fills its disk: the pod is evicted, the node and the remote are not hurt.

The agent writes more than its ``/tmp`` emptyDir's ``sizeLimit`` (1Gi); the kubelet
evicts the pod (the pod's storage limits, not the node's free space, stop it). Asserted
from outside: the run is reported ``killed`` with the eviction as its reason, nothing
reached the remote, the node stays Ready without disk pressure, and the next pod runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.e2e.cluster import NAMESPACE, Kubectl
from tests.e2e.conftest import Feature, result_line, spawn, tail_all
from tests.e2e.gitea import GiteaServer, git

FILLER, NEXT = "T080", "T081"


def _node_conditions(kubectl: Kubectl) -> dict[str, dict[str, str]]:
    """Node name -> its conditions (type -> status), for every node of the cluster."""
    nodes = json.loads(kubectl.run("get", "nodes", "-o", "json").stdout)["items"]
    return {
        node["metadata"]["name"]: {c["type"]: c["status"] for c in node["status"]["conditions"]}
        for node in nodes
    }


def test_a_disk_filling_agent_is_evicted_and_harms_nothing_else(
    make_feature: Callable[[list[str]], Feature], installed: Kubectl, gitea: GiteaServer
) -> None:
    feature = make_feature(
        [
            f"- [ ] {FILLER} [ASYNC] Fill the disk scripted:fill-disk",
            f"- [ ] {NEXT} [ASYNC] Write a file scripted:write",
        ]
    )
    pod = spawn(feature, FILLER, "--cleanup", "never")
    done = tail_all({pod: ["--timeout", "5m"]}, cwd=feature.clone)[pod]
    line = result_line(done)
    assert done.returncode == 5, line  # killed
    # the kubelet's reason, e.g. 'Usage of EmptyDir volume "agent-tmp" exceeds the limit'
    assert "status=killed" in line and "evicted: " in line and "exceeds" in line, line

    refs = git(["ls-remote", gitea.clone_url(feature.repo)], cwd=feature.clone, auth=gitea.auth)
    assert feature.branch(FILLER) not in refs  # the killed pod pushed nothing

    for node, conditions in _node_conditions(installed).items():
        assert conditions["Ready"] == "True", node
        assert conditions.get("DiskPressure") == "False", node
    follower = spawn(feature, NEXT)
    after = tail_all({follower: ["--timeout", "5m"]}, cwd=feature.clone)[follower]
    assert "status=succeeded" in result_line(after)
    installed.run("delete", "pod", pod, "-n", NAMESPACE, "--ignore-not-found", "--wait=false")
