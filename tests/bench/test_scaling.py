"""Parallel scaling: the same scripted task x1, x4 and x8 through ``run-async.sh``.

Per width and run: the wall time of the whole dispatch, the dispatcher's own CPU
time (user + system of the ``run-async.sh`` process tree, from
``getrusage(RUSAGE_CHILDREN)``), and the CPU the task pods used (from the node's
cgroups, :class:`tests.bench.node.KubepodsCpu`).  Figures:

- wall time x4 and x8 against x1 (ideal x1.0 with free CPU; on a small node the
  pods queue for CPU, so compare with the pods' CPU demand below);
- the dispatcher's CPU against the pods' CPU at x8 (target < 5 %);
- the pods' CPU per task at x8 against x1 (flat: parallel pods do not cost more);
- the dispatcher's CPU per task at x8 against x1 (flat or falling: no per-task
  overhead that grows with width).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from pytest_kind import KindCluster

from tests.bench.figures import Figure, Recorder
from tests.bench.node import KubepodsCpu
from tests.e2e.cluster import NAMESPACE, REPO_ROOT, Kubectl, agent_nodes, wait_for
from tests.e2e.conftest import Feature, run_script

RUN_ASYNC = REPO_ROOT / "scripts" / "run-async.sh"
RUNS = 5
WIDTHS = (1, 4, 8)


@dataclass(frozen=True)
class Sample:
    wall: float
    dispatcher_cpu: float
    pods_cpu: float


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _dispatch(feature: Feature, width: int, kubectl: Kubectl, nodes: list[str]) -> Sample:
    """Run the ``width`` tasks of ``feature`` at once, measuring; then delete their pods."""
    pods_before = KubepodsCpu.read_nodes(nodes)
    cpu, start = _cpu(), time.monotonic()
    done = run_script(
        RUN_ASYNC, "--no-integrate",
        "--tasks", str(feature.tasks_file), "--repo", feature.remote_url,
        "--base", "main", "--namespace", NAMESPACE, "--timeout", "10m",
        "--max-parallel", str(width), "--cleanup", "always", "--no-live",
        cwd=feature.clone, timeout=900,
    )  # fmt: skip
    wall, used = time.monotonic() - start, _cpu() - cpu
    assert done.returncode == 0, done.stdout + done.stderr
    selector = f"speckit-pods.dev/feature={feature.name}"
    wait_for("the pods deleted (--cleanup always)", lambda: not kubectl.pods(selector), 120)
    return Sample(wall, used, KubepodsCpu.read_nodes(nodes).new_pods_seconds(pods_before))


@pytest.mark.timeout(3600)
def test_parallel_scaling(
    make_feature: Callable[[list[str]], Feature],
    installed: Kubectl,
    e2e_cluster: KindCluster,
    bench: Recorder,
) -> None:
    nodes = agent_nodes(e2e_cluster)
    samples: dict[int, list[Sample]] = {width: [] for width in WIDTHS}
    for run in range(RUNS + 1):  # run 0 warms caches and is not counted
        for width in WIDTHS:
            ids = [f"T{700 + 10 * run + i}" for i in range(width)]
            lines = [f"- [ ] {tid} [P] [ASYNC] Write {tid} scripted:write" for tid in ids]
            sample = _dispatch(make_feature(lines), width, installed, nodes)
            if run:
                samples[width].append(sample)

    def series(
        width: int, value: Callable[[Sample], float], per_task: bool = False
    ) -> tuple[float, ...]:
        return tuple(value(s) / (width if per_task else 1) for s in samples[width])

    wide = max(WIDTHS)
    cores = os.cpu_count() or 1
    for width in WIDTHS[1:]:
        bench.add(
            Figure(f"run-async x{width} wall", "s", series(width, lambda s: s.wall),
                   series(1, lambda s: s.wall), "x1",
                   note=f"{width} scripted:write tasks at --max-parallel {width}, {cores} CPUs")
        )  # fmt: skip
    bench.add(
        Figure(f"dispatcher CPU vs pods CPU (x{wide})", "s",
               series(wide, lambda s: s.dispatcher_cpu), series(wide, lambda s: s.pods_cpu),
               "pods", note="run-async.sh tree vs the task pods' cgroups; target < 0.05")
    )  # fmt: skip
    bench.add(
        Figure(f"pods CPU per task (x{wide})", "s",
               series(wide, lambda s: s.pods_cpu, per_task=True),
               series(1, lambda s: s.pods_cpu, per_task=True), "x1",
               note=f"x{wide} wall is bounded below by x{wide} pods CPU / {cores} CPUs")
    )  # fmt: skip
    bench.add(
        Figure(f"dispatcher CPU per task (x{wide})", "s",
               series(wide, lambda s: s.dispatcher_cpu, per_task=True),
               series(1, lambda s: s.dispatcher_cpu, per_task=True), "x1",
               note="user+sys of run-async.sh and its children / tasks")
    )  # fmt: skip
