"""Two ``run-async.sh`` started at the same moment on the same feature and checkout.

Each task must run exactly once (one pod uid per task in a watch, one agent run per
task in the scripted LLM's request log), tasks.md must end with each task checked off
once and otherwise unchanged byte for byte, and both dispatchers must succeed: the
one that loses the race for a task attaches to the winner's pod.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from tests.e2e.cluster import NAMESPACE, REPO_ROOT, Kubectl, wait_for
from tests.e2e.conftest import Feature, feature_objects
from tests.e2e.gitea import GiteaServer
from tests.e2e.observe import (
    PodCensus,
    at_most,
    reruns,
    runs_allowed,
    selector_of,
    turns_per_task,
)
from tests.support.scripted_llm import Marker, ScriptedLLMServer, write_target

RUN_ASYNC = REPO_ROOT / "scripts" / "run-async.sh"
IDS = ("T400", "T401", "T402", "T403")


def _start(feature: Feature) -> subprocess.Popen[str]:
    args = [
        "bash", str(RUN_ASYNC), "--no-integrate",
        "--tasks", str(feature.tasks_file), "--repo", feature.remote_url,
        "--base", "main", "--namespace", NAMESPACE, "--timeout", "10m", "--no-live",
    ]  # fmt: skip
    return subprocess.Popen(
        args, cwd=feature.clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


def _wait(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stdout + stderr


@pytest.mark.timeout(1200)
def test_two_dispatchers_run_each_task_once(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    llm: ScriptedLLMServer,
) -> None:
    feature = make_feature([f"- [ ] {tid} [P] [ASYNC] Write {tid} scripted:write" for tid in IDS])
    before = feature.tasks_file.read_bytes()
    with PodCensus(installed.kubeconfig, selector_of(feature)) as census:
        first, second = _start(feature), _start(feature)
        (rc1, out1), (rc2, out2) = _wait(first), _wait(second)
    both = f"--- first ---\n{out1}\n--- second ---\n{out2}"

    # one pod per task: the dispatcher that loses the race attaches; a pod lost before its
    # result (a known kubelet flake) is run again once by design, and said so
    allowed = runs_allowed(IDS, both)
    print(f"reruns: {reruns(both) or 'none'}")
    assert census.pods_per_task() == allowed, (census.tasks, both)
    runs = turns_per_task(llm.requests, feature, 1)  # turn 1: after the write, once per run
    assert at_most(runs, allowed), (runs, both)
    expected = before
    for tid in IDS:
        expected = expected.replace(f"- [ ] {tid} ".encode(), f"- [X] {tid} ".encode())
    assert feature.tasks_file.read_bytes() == expected, both
    for tid in IDS:
        path, content = write_target(Marker("write", {}, tid))
        assert gitea.read_file(feature.repo, feature.branch(tid), path) == content, tid
    assert (rc1, rc2) == (0, 0), both
    assert "attached to running pod" in both, both
    wait_for(
        "the feature's pods to be cleaned up",
        lambda: not feature_objects(installed, "pods", feature),
        timeout=180,
        interval=1,
    )
