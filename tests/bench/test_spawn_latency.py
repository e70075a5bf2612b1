"""Spawn latency: ``spawn-pod.sh`` -> agent Running, vs ``kubectl apply -f`` of the same Pod."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.bench.figures import Figure, Recorder
from tests.bench.kube_watch import RunningTimes
from tests.bench.manifest import delete_pods, dry_run, renamed
from tests.e2e.cluster import NAMESPACE, Kubectl
from tests.e2e.conftest import SPAWN, Feature, run_script

RUNS = 5
POD_ARGS = ("--stall-timeout", "1h", "--timeout", "30m", "--cleanup", "never")


def _ours(feature: Feature, task_id: str, watcher: RunningTimes, *extra: str) -> tuple[str, float]:
    start = time.monotonic()
    done = run_script(
        SPAWN, "--task-id", task_id, "--branch", feature.branch(task_id),
        "--repo", feature.remote_url, "--context-dir", str(feature.feature_dir),
        "--base", "main", *POD_ARGS, *extra, cwd=feature.clone,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pod = done.stdout.strip()
    return pod, watcher.running_at(pod) - start


def _baseline(
    feature: Feature,
    kubectl: Kubectl,
    task_id: str,
    watcher: RunningTimes,
    *extra: str,
    configmap_first: bool = True,
) -> tuple[str, float]:
    pod = f"bl-{feature.repo}-{task_id.lower()}"
    docs = dry_run(feature, task_id, *POD_ARGS, *extra)
    manifest = renamed(docs, pod, configmap_first=configmap_first)
    start = time.monotonic()
    kubectl.run("apply", "-f", "-", input_text=manifest)
    return pod, watcher.running_at(pod) - start


@pytest.mark.timeout(1200)
def test_spawn_latency(
    make_feature: Callable[[list[str]], Feature],
    installed: Kubectl,
    bench: Recorder,
    git_secret: str,
) -> None:
    ids = [f"T{base + i}" for base in (100, 200, 300) for i in range(RUNS + 1)]
    feature = make_feature([f"- [ ] {tid} [ASYNC] Wait scripted:silence" for tid in ids])
    ours: list[float] = []
    base: list[float] = []
    pod_first: list[float] = []
    selector = f"speckit-pods.dev/feature={feature.name}"
    with RunningTimes(installed.kubeconfig, selector) as watcher:
        try:
            for i in range(RUNS + 1):  # run 0 warms caches and is not counted
                secret = ("--git-secret", git_secret)
                pod, seconds = _ours(feature, f"T{100 + i}", watcher, *secret)
                delete_pods(installed, pod)
                bpod, bseconds = _baseline(feature, installed, f"T{200 + i}", watcher, *secret)
                delete_pods(installed, bpod)
                late = _baseline(
                    feature, installed, f"T{300 + i}", watcher, *secret, configmap_first=False
                )
                delete_pods(installed, late[0])
                if i:
                    ours.append(seconds)
                    base.append(bseconds)
                    pod_first.append(late[1])
        finally:
            installed.run(
                "delete", "pod", "-n", NAMESPACE, "-l", selector, "--grace-period=1",
                "--wait=false", check=False,
            )  # fmt: skip
    bench.add(
        Figure("spawn -> Running", "s", tuple(ours), tuple(base), "kubectl apply -f",
               note="same ConfigMap+Pod (spawn-pod.sh --dry-run, renamed, ConfigMap first)")
    )  # fmt: skip
    bench.add(
        Figure("Pod before its ConfigMap (mount retry)", "s", tuple(pod_first), tuple(base),
               "ConfigMap first", note="kubectl apply -f of the same objects, Pod first")
    )  # fmt: skip
