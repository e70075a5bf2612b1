"""The agent pod's layout: three containers (two trusted sidecars) against one.

The issue's target: the sidecar layout costs at most 1.2x the start of a single-container
pod. Both pods are the Pod of ``spawn-pod.sh --dry-run``, measured from ``kubectl apply``
to the ``agent`` container Running, in the same run:

* ours: ``llm-proxy`` and ``git`` as native sidecars, started in order (``git``'s
  startupProbe passes at its first probe: its command touches ``/handoff/ready`` at once,
  so no clone is timed, only what the layout itself costs), then ``agent``;
* baseline: the same Pod without its init containers (one container, the layout before
  the trust boundary).

Every command is ``sleep``: the image is the same and already in the node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.bench.figures import Figure, Recorder
from tests.bench.kube_watch import RunningTimes, time_to_running
from tests.bench.manifest import agent, dry_run, renamed
from tests.e2e.cluster import Kubectl
from tests.e2e.conftest import Feature

RUNS = 5
SLEEP = ["sleep", "3600"]


def _sidecars_sleeping(pod: dict[str, Any]) -> None:
    for container in pod["spec"]["initContainers"]:
        container.pop("args", None)
        if container["name"] == "git":
            container["command"] = ["sh", "-c", "touch /handoff/ready && exec sleep 3600"]
        else:
            container["command"] = SLEEP
    agent(pod)["command"] = SLEEP
    agent(pod).pop("args", None)


def _one_container(pod: dict[str, Any]) -> None:
    pod["spec"].pop("initContainers")
    agent(pod)["command"] = SLEEP
    agent(pod).pop("args", None)


@pytest.mark.timeout(900)
def test_three_container_pod_start_against_one(
    make_feature: Callable[[list[str]], Feature], installed: Kubectl, bench: Recorder
) -> None:
    feature = make_feature(["- [ ] T402 [ASYNC] Sleep scripted:noop"])
    docs = dry_run(feature, "T402", "--cleanup", "never")
    ours: list[float] = []
    base: list[float] = []
    selector = f"speckit-pods.dev/feature={feature.name}"
    with RunningTimes(installed.kubeconfig, selector) as watcher:
        for i in range(RUNS + 1):  # run 0 warms up and is not counted
            name = f"lay-{feature.repo}-{i}"
            mine = time_to_running(
                installed, renamed(docs, name, _sidecars_sleeping), name, watcher
            )
            single = f"{name}-1"
            theirs = time_to_running(
                installed, renamed(docs, single, _one_container), single, watcher
            )
            if i:
                ours.append(mine)
                base.append(theirs)
    bench.add(
        Figure("pod start, 3 containers vs 1", "s", tuple(ours), tuple(base),
               "one-container pod", note="apply -> agent Running; target <= 1.2x")
    )  # fmt: skip
