"""--pr on the real Gitea: one draft pull request per task, stacked, updated on a rerun.

One dispatch (real cluster, Gitea, opencode) of three tasks with ``--pr``:

* T060 writes a file: a draft pull request ``specs/<f>/T060-async -> main``;
* T061 depends on T060 and starts from its work: its pull request is based on T060's
  branch (a stacked pull request: its diff is T061's own work);
* T062 writes, then its LLM hangs until the task's deadline: ``timeout`` with the work
  in progress pushed, and a draft pull request whose title says ``[timeout]``;
* the integration branch (T060 and T061) gets one pull request into ``main``.

Then T060 is rerun: its one pull request is updated (its body names the new commit),
never a second opened, and so is the integration's.  The pull requests are read back
from Gitea's API with the admin's token; the dispatcher used the developer's own git
credentials.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from typing import Any

from tests.e2e.cluster import Kubectl
from tests.e2e.conftest import Feature
from tests.e2e.gitea import GiteaServer
from tests.e2e.test_dispatch import dispatch, results


def _dispatch(feature: Feature, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPECKIT_PODS_GIT_HOST": "gitea"}
    return dispatch(feature, "--pr", *extra, integrate=True, pod_timeout="90", env=env)


def _pulls(gitea: GiteaServer, feature: Feature) -> dict[str, list[dict[str, Any]]]:
    """Head branch -> its open pull requests."""
    found: dict[str, list[dict[str, Any]]] = {}
    pulls = gitea.api("GET", f"/repos/{gitea.owner}/{feature.repo}/pulls?state=open&limit=50")
    for pull in pulls:
        found.setdefault(pull["head"]["ref"], []).append(pull)
    return found


def test_each_task_gets_a_draft_pull_request_stacked_on_its_prerequisite_and_a_rerun_updates_it(
    make_feature: Callable[[list[str]], Feature], gitea: GiteaServer, installed: Kubectl
) -> None:
    feature = make_feature(
        [
            "- [ ] T060 [ASYNC] Write the greeting scripted:write",
            "- [ ] T061 [ASYNC] Build on the greeting, depends on T060 scripted:write",
            "- [ ] T062 [ASYNC] Write then hang scripted:write-then-stall,path=scripted/wip.txt",
        ]
    )
    done = _dispatch(feature, "--written-deps-only")
    out = done.stdout + done.stderr
    assert results(done.stdout) == {"T060": "succeeded", "T061": "succeeded", "T062": "timeout"}
    assert done.returncode == 1, out

    pulls = _pulls(gitea, feature)
    first, stacked, failed = (pulls[feature.branch(t)] for t in ("T060", "T061", "T062"))
    assert len(first) == len(stacked) == len(failed) == 1, pulls
    assert first[0]["base"]["ref"] == "main"
    assert first[0]["title"].startswith("WIP: T060: Write the greeting"), first[0]["title"]
    assert stacked[0]["base"]["ref"] == feature.branch("T060"), stacked[0]  # its own diff
    assert failed[0]["base"]["ref"] == "main"
    assert failed[0]["title"].startswith("WIP: [timeout] T062: "), failed[0]["title"]
    t60 = str(gitea.branch_commit(feature.repo, feature.branch("T060")))
    assert t60[:12] in first[0]["body"], first[0]["body"]
    # its run's last log lines, from the session ref its pod stored before it ended
    assert "### Last log lines" in first[0]["body"], first[0]["body"]
    assert "SPECKIT_POD_RESULT" not in first[0]["body"], first[0]["body"]
    assert "timeout" in failed[0]["body"] and "WIP" in failed[0]["body"], failed[0]["body"]
    for pull in (first[0], stacked[0], failed[0]):
        assert f"pull request #{pull['number']} " in done.stderr, done.stderr
    assert "INFO: pull requests: T060 " in done.stderr, done.stderr
    # the integration branch (T060, T061; not T062): one pull request into main
    (merged,) = pulls[f"specs/{feature.name}/integration"]
    assert merged["base"]["ref"] == "main"
    assert merged["title"] == f"WIP: {feature.name}: integration of 2 task(s)", merged["title"]
    assert "`T060`" in merged["body"] and "`T061`" in merged["body"], merged["body"]
    assert "`T062`" not in merged["body"], merged["body"]

    # T060 changed and rerun: the same pull request, updated
    text = feature.tasks_file.read_text()
    feature.tasks_file.write_text(
        text.replace("- [X] T060 [ASYNC] Write the greeting scripted:write",
                     "- [ ] T060 [ASYNC] Write the greeting scripted:write,path=scripted/v2.txt")
    )  # fmt: skip
    again = _dispatch(feature, "--only", "T060")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"updated pull request #{first[0]['number']} " in again.stderr, again.stderr
    rerun = _pulls(gitea, feature)[feature.branch("T060")]
    assert [p["number"] for p in rerun] == [first[0]["number"]]
    moved = str(gitea.branch_commit(feature.repo, feature.branch("T060")))
    assert moved != t60 and moved[:12] in rerun[0]["body"], rerun[0]["body"]
    (again_merged,) = _pulls(gitea, feature)[f"specs/{feature.name}/integration"]
    assert again_merged["number"] == merged["number"]  # updated, not a second one
    assert moved[:12] in again_merged["body"], again_merged["body"]
