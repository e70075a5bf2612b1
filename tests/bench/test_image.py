"""Agent image: its size against its base image, and pod start cached and not.

Pod start: the agent Pod of ``spawn-pod.sh --dry-run`` with ``command: [sleep]``
(image already in the node, the normal case in kind) against the same Pod running
the ``pause`` image every kind node holds: what the image itself costs at start.

Not cached: the image is removed from the node's containerd, then the same Pod,
against the cached start: the kubelet pulls it from the real registry beside the
cluster (``tests/e2e/registry.py``), as a connected cluster pulls from its own -- the
cost of moving the image into the node, the first time a node runs it (over the
docker bridge here: no network latency, the registry's and containerd's work only).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from pytest_kind import KindCluster

from tests.bench.figures import Figure, Recorder
from tests.bench.kube_watch import RunningTimes, time_to_running
from tests.bench.manifest import agent, dry_run, on, renamed
from tests.bench.node import has_image, remove_image
from tests.e2e.cluster import Kubectl, agent_nodes, pinned_versions
from tests.e2e.conftest import Feature

RUNS = 5
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"


def image_size(image: str) -> float:
    out = subprocess.run(
        ["docker", "image", "inspect", image, "--format", "{{.Size}}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.strip()) / 1e6


def test_image_size(bench: Recorder) -> None:
    versions = pinned_versions()
    ours, base = image_size(versions["AGENT_IMAGE"]), image_size(versions["BASE_IMAGE"])
    bench.add(Figure("agent image size", "MB", (ours,), (base,), versions["BASE_IMAGE"]))


def _sleeping(pod: dict[str, Any]) -> None:
    agent(pod)["command"] = ["sleep", "3600"]
    agent(pod).pop("args", None)  # the entrypoint's side (`run`) is no argument of sleep


def _pause(pod: dict[str, Any]) -> None:
    container = agent(pod)
    container["image"] = PAUSE_IMAGE
    container["imagePullPolicy"] = "Never"


@pytest.mark.timeout(900)
def test_pod_start_cached_image(
    make_feature: Callable[[list[str]], Feature],
    installed: Kubectl,
    e2e_cluster: KindCluster,
    bench: Recorder,
) -> None:
    node = agent_nodes(e2e_cluster)[0]
    feature = make_feature(["- [ ] T400 [ASYNC] Sleep scripted:noop"])
    docs = dry_run(feature, "T400", "--cleanup", "never")
    ours: list[float] = []
    base: list[float] = []
    selector = f"speckit-pods.dev/feature={feature.name}"
    with RunningTimes(installed.kubeconfig, selector) as watcher:
        for i in range(RUNS + 1):  # run 0 warms up and is not counted
            name = f"img-{feature.repo}-{i}"
            mine = time_to_running(
                installed, renamed(docs, name, on(node, _sleeping)), name, watcher
            )
            paused = f"{name}-p"
            theirs = time_to_running(
                installed, renamed(docs, paused, on(node, _pause)), paused, watcher
            )
            if i:
                ours.append(mine)
                base.append(theirs)
    bench.add(
        Figure("pod start, image cached", "s", tuple(ours), tuple(base), "pause image",
               note="same Pod spec; agent image with command sleep vs registry.k8s.io/pause")
    )  # fmt: skip


@pytest.mark.timeout(1800)
def test_pod_start_image_not_cached(
    make_feature: Callable[[list[str]], Feature],
    installed: Kubectl,
    e2e_cluster: KindCluster,
    agent_image: str,
    bench: Recorder,
) -> None:
    image, node = agent_image, agent_nodes(e2e_cluster)[0]
    feature = make_feature(["- [ ] T401 [ASYNC] Sleep scripted:noop"])
    docs = dry_run(feature, "T401", "--cleanup", "never")
    cold: list[float] = []
    warm: list[float] = []
    selector = f"speckit-pods.dev/feature={feature.name}"
    with RunningTimes(installed.kubeconfig, selector) as watcher:
        for i in range(RUNS):
            name = f"cold-{feature.repo}-{i}"
            remove_image(node, image)
            assert not has_image(node, image), f"{node} still holds {image}"  # a cold start
            since = time.monotonic()
            cold.append(  # the kubelet pulls it from the registry
                time_to_running(
                    installed, renamed(docs, name, on(node, _sleeping)), name, watcher, since
                )
            )
            name = f"warm-{feature.repo}-{i}"
            warm.append(
                time_to_running(installed, renamed(docs, name, on(node, _sleeping)), name, watcher)
            )
    bench.add(
        Figure("pod start, image not cached", "s", tuple(cold), tuple(warm), "image cached",
               note="crictl rmi, then the same Pod: a real pull from the registry beside it")
    )  # fmt: skip
