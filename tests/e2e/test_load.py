"""Load: 20 [P] [ASYNC] tasks through ``run-async.sh --max-parallel 8``.

Every branch is pushed once with the scripted content, the dispatcher never has more
than 8 live pods of the feature (a watch counts them), nothing of the feature is left
in the cluster afterwards (``--cleanup on-success``), and the dispatcher's own peak
RSS stays under a fixed bound (reported in the test output).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from tests.e2e.cluster import NAMESPACE, REPO_ROOT, Kubectl, wait_for
from tests.e2e.conftest import Feature, feature_objects
from tests.e2e.gitea import GiteaServer
from tests.e2e.observe import PeakRss, PodCensus, reruns, runs_allowed, selector_of
from tests.support.scripted_llm import Marker, write_target

RUN_ASYNC = REPO_ROOT / "scripts" / "run-async.sh"
TASKS = 20
MAX_PARALLEL = 8
RSS_BOUND_MIB = 300.0


def _dispatch(feature: Feature) -> subprocess.Popen[str]:
    args = [
        "bash", str(RUN_ASYNC), "--no-integrate",
        "--tasks", str(feature.tasks_file), "--repo", feature.remote_url,
        "--base", "main", "--namespace", NAMESPACE, "--timeout", "15m",
        "--max-parallel", str(MAX_PARALLEL), "--cleanup", "on-success", "--no-live",
    ]  # fmt: skip
    return subprocess.Popen(
        args, cwd=feature.clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


def _assert_one_commit_each(gitea: GiteaServer, feature: Feature, ids: list[str]) -> None:
    heads = gitea.heads(feature.repo)
    base = heads["main"]
    for tid in ids:
        path, content = write_target(Marker("write", {}, tid))
        assert gitea.read_file(feature.repo, feature.branch(tid), path) == content, tid
        head = heads[feature.branch(tid)]
        commit = gitea.api("GET", f"/repos/{gitea.owner}/{feature.repo}/git/commits/{head}")
        assert [p["sha"] for p in commit["parents"]] == [base], (tid, commit["parents"])


@pytest.mark.timeout(1500)
def test_twenty_tasks_eight_at_a_time(
    make_feature: Callable[[list[str]], Feature], gitea: GiteaServer, installed: Kubectl
) -> None:
    ids = [f"T{300 + i}" for i in range(TASKS)]
    feature = make_feature([f"- [ ] {tid} [P] [ASYNC] Write {tid} scripted:write" for tid in ids])
    with PodCensus(installed.kubeconfig, selector_of(feature)) as census:
        proc = _dispatch(feature)
        rss = PeakRss(proc)
        try:
            stdout, stderr = proc.communicate(timeout=1200)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        rss.join()
    out = stdout + stderr
    assert proc.returncode == 0, out
    print(f"\ndispatcher ({rss.command}) peak RSS: {rss.peak_mib:.1f} MiB; "
          f"peak live pods: {census.peak}")  # fmt: skip

    again = reruns(out)  # a lost pod is run again once, by design: said, with why
    print(f"reruns: {again or 'none'}")
    assert census.pods_per_task() == runs_allowed(ids, out), (census.pods_per_task(), out)
    assert MAX_PARALLEL // 2 < census.peak <= MAX_PARALLEL, (census.peak, census.errors)
    branches = [b for b in gitea.list_branches(feature.repo) if b != "main"]
    assert sorted(branches) == sorted(feature.branch(tid) for tid in ids)
    _assert_one_commit_each(gitea, feature, ids)
    text = feature.tasks_file.read_text()
    assert all(text.count(f"- [X] {tid} ") == 1 for tid in ids), text
    wait_for(
        "the feature's pods and ConfigMaps to be gone",
        lambda: (
            not feature_objects(installed, "pods", feature)
            and not feature_objects(installed, "configmaps", feature)
        ),
        timeout=180,
        interval=1,
    )
    assert rss.command.startswith("python"), rss.command
    assert 0 < rss.peak_mib < RSS_BOUND_MIB, rss.peak_mib
