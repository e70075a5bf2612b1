"""The cost of the extra nodes: the e2e cluster brought up with two workers against none.

Each side is :func:`tests.e2e.cluster.make_cluster`, the e2e's own creation, on the
pinned node image: ``kind create cluster`` with ``hack/kind-config.yaml`` as it is (zero
workers: the control plane alone, the demo's cluster) or with two workers (a bridge
conflist mounted per node by :func:`~tests.e2e.cluster.multi_node_config`, then
:func:`~tests.e2e.cluster.route_pod_subnets` routing each node's pod /24 to the others),
timed up to every node Ready. What the e2e does per node after that (trusting the
registry beside the cluster, the agent image's first pull) is not included.

A cluster takes about a minute: one sample per side by default,
``SPECKIT_PODS_BENCH_CLUSTER_COST=2`` for two (alternating which side goes first), ``0``
to skip. The clusters get throwaway names (never the bench's own ``speckit-pods-e2e``),
one at a time, each deleted in a ``finally``. This file sorts first, so it runs before
the bench creates its own cluster (unless ``--keep-cluster`` kept one: then it is up,
idle, meanwhile).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.bench.figures import Figure, Recorder
from tests.e2e.cluster import (
    Kubectl,
    kubeconfig_path,
    make_cluster,
    pinned_versions,
    tool,
    wait_for,
)

COST_ENV = "SPECKIT_PODS_BENCH_CLUSTER_COST"
READY_TIMEOUT_S = 300.0
DELETE_TIMEOUT_S = 300.0


def samples() -> int:
    """How many times each side is measured: ``$SPECKIT_PODS_BENCH_CLUSTER_COST`` (0-2)."""
    text = os.environ.get(COST_ENV, "").strip() or "1"
    if text not in ("0", "1", "2"):
        raise ValueError(f"{COST_ENV}={text!r}: want 0 (skip), 1 (the default) or 2 samples")
    return int(text)


def _ready_nodes(kubectl: Kubectl) -> int:
    """How many nodes report Ready (0 while the API server does not answer)."""
    done = kubectl.run("get", "nodes", "-o", "json", check=False)
    if done.returncode != 0:
        return 0
    ready = 0
    for node in json.loads(done.stdout)["items"]:
        conditions = node["status"].get("conditions", [])
        ready += any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return ready


def bring_up(workers: int) -> float:
    """Seconds to create a throwaway cluster with ``workers`` workers, all nodes Ready."""
    name = f"spk-cost-{uuid.uuid4().hex[:6]}"
    try:
        start = time.monotonic()
        cluster = make_cluster(name, pinned_versions()["NODE_IMAGE"], workers=workers)
        kubectl = Kubectl(Path(cluster.kubeconfig_path))
        nodes = workers + 1
        wait_for(f"{nodes} nodes of {name} Ready",
                 lambda: _ready_nodes(kubectl) == nodes, READY_TIMEOUT_S)  # fmt: skip
        seconds = time.monotonic() - start
    finally:
        deleted = _delete(name)
    assert deleted.returncode == 0, f"kind delete cluster --name={name}: {deleted.stderr}"
    return seconds


def _delete(name: str) -> subprocess.CompletedProcess[str]:
    """``kind delete cluster`` (a no-op if it was never made), then its files."""
    kubeconfig = kubeconfig_path(name)
    done = subprocess.run(
        [str(tool("kind")), "delete", "cluster", f"--name={name}", f"--kubeconfig={kubeconfig}"],
        capture_output=True, text=True, check=False, timeout=DELETE_TIMEOUT_S,
    )  # fmt: skip
    shutil.rmtree(kubeconfig.parent, ignore_errors=True)  # its conflists and kubeconfig
    shutil.rmtree(Path(".pytest-kind") / name, ignore_errors=True)  # pytest-kind's, in cwd
    return done


@pytest.mark.timeout(1800)
def test_two_workers_against_control_plane_only(bench: Recorder) -> None:
    count = samples()
    if not count:
        pytest.skip(f"{COST_ENV}=0")
    seconds: dict[int, list[float]] = {0: [], 2: []}
    for i in range(count):
        for workers in (0, 2) if i % 2 == 0 else (2, 0):
            seconds[workers].append(bring_up(workers))
    bench.add(
        Figure("cluster up, 2 workers vs control plane only", "s", tuple(seconds[2]),
               tuple(seconds[0]), "0 workers",
               note=f"make_cluster (kind create cluster + per-node pod routes) to every node"
                    f" Ready; {count} sample(s) each, one cluster at a time")
    )  # fmt: skip
