"""Parallel scaling: one scripted task vs four through ``run-async.sh``.

Figures: the wall time of x4 against x1 (ideal: x1.0 with free CPU, more on a small
node that queues pods), and the dispatcher's own CPU time per task (user + system of
the ``run-async.sh`` process tree, from ``getrusage(RUSAGE_CHILDREN)``) against x1.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import pytest

from tests.bench.figures import Figure, Recorder
from tests.e2e.cluster import NAMESPACE, REPO_ROOT, Kubectl
from tests.e2e.conftest import Feature, run_script

RUN_ASYNC = REPO_ROOT / "scripts" / "run-async.sh"
RUNS = 2
WIDE = 4


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _dispatch(feature: Feature) -> tuple[float, float]:
    """Run every task of ``feature``; its (wall seconds, dispatcher CPU seconds)."""
    cpu, start = _cpu(), time.monotonic()
    done = run_script(
        RUN_ASYNC, "--tasks", str(feature.tasks_file), "--repo", feature.remote_url,
        "--base", "main", "--namespace", NAMESPACE, "--timeout", "10m",
        "--max-parallel", str(WIDE), "--cleanup", "always", "--no-live",
        cwd=feature.clone, timeout=900,
    )  # fmt: skip
    wall, used = time.monotonic() - start, _cpu() - cpu
    assert done.returncode == 0, done.stdout + done.stderr
    return wall, used


@pytest.mark.timeout(1800)
def test_parallel_scaling(
    make_feature: Callable[[list[str]], Feature], installed: Kubectl, bench: Recorder
) -> None:
    walls: dict[int, list[float]] = {1: [], WIDE: []}
    cpus: dict[int, list[float]] = {1: [], WIDE: []}
    for run in range(RUNS + 1):  # run 0 warms caches and is not counted
        for width in (1, WIDE):
            ids = [f"T{700 + 10 * run + i}" for i in range(width)]
            lines = [f"- [ ] {tid} [P] [ASYNC] Write {tid} scripted:write" for tid in ids]
            wall, cpu = _dispatch(make_feature(lines))
            if run:
                walls[width].append(wall)
                cpus[width].append(cpu / width)
    bench.add(
        Figure(f"run-async x{WIDE} wall", "s", tuple(walls[WIDE]), tuple(walls[1]), "x1",
               note=f"scripted:write tasks, --max-parallel {WIDE}; ratio = x{WIDE} / x1")
    )  # fmt: skip
    bench.add(
        Figure(f"dispatcher CPU per task (x{WIDE})", "s", tuple(cpus[WIDE]), tuple(cpus[1]),
               "x1", note="user+sys of run-async.sh and its children / tasks")
    )  # fmt: skip
