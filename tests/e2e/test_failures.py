"""Failure reporting: each way a run can fail gives one reason line and its own exit code.

All the pods of this module run at once (one module fixture spawns them and follows
them in parallel); each test then checks one outcome.  The default cleanup policy
(``on-success``) applies, so every failed pod is kept, with an ``expires-at``
annotation and its task ConfigMap, and nothing else is left behind.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from runtime.kube import labels
from tests.e2e.cluster import NAMESPACE, Kubectl, wait_for
from tests.e2e.conftest import (
    Feature,
    create_feature,
    create_secret,
    feature_objects,
    result_line,
    spawn,
    tail_all,
    task_configmap,
)
from tests.e2e.gitea import GiteaServer, git

BAD_GIT_SECRET = "e2e-bad-git-token"
TASKS = {
    "T040": "LLM rejects every request scripted:error400",
    "T041": "Clone with a wrong token scripted:write",
    "T042": "Clone a repo that does not exist scripted:write",
    "T043": "Push to a protected branch scripted:write",
    "T044": "Answer without changing anything scripted:noop",
}
VERIFY_TASK = "T045"  # succeeds; its branch is deleted before tail-logs --verify-remote


@dataclass(frozen=True)
class Batch:
    feature: Feature
    pods: dict[str, str]  # task id -> pod
    runs: dict[str, subprocess.CompletedProcess[str]]  # task id -> tail-logs run


@pytest.fixture(scope="module")
def batch(
    gitea: GiteaServer, installed: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Batch]:
    lines = [f"- [ ] {tid} [P] [ASYNC] {title}" for tid, title in TASKS.items()]
    lines.append(f"- [ ] {VERIFY_TASK} [P] [ASYNC] Write, then lose the branch scripted:write")
    feature = create_feature(gitea, tmp_path_factory.mktemp("failures"), lines)
    create_secret(installed, BAD_GIT_SECRET, "token", "0123456789abcdef" * 3)
    protect_branch(gitea, feature.repo, feature.branch("T043"))
    missing_repo = gitea.clone_url(f"{feature.repo}-missing", cluster=True)
    extra = {
        "T041": ["--git-secret", BAD_GIT_SECRET],
        "T042": ["--repo", missing_repo],
        VERIFY_TASK: ["--cleanup", "never"],
    }
    pods = {tid: spawn(feature, tid, *extra.get(tid, [])) for tid in [*TASKS, VERIFY_TASK]}
    done = tail_all({pods[tid]: ["--timeout", "4m"] for tid in TASKS}, cwd=feature.clone)
    yield Batch(feature, pods, {tid: done[pods[tid]] for tid in TASKS})
    for pod in pods.values():
        installed.run("delete", "pod", pod, "-n", NAMESPACE, "--ignore-not-found", "--wait=false")
    installed.run("delete", "secret", BAD_GIT_SECRET, "-n", NAMESPACE, "--ignore-not-found")


def protect_branch(gitea: GiteaServer, repo: str, branch: str) -> None:
    """A Gitea branch protection rule that forbids every push to ``branch``."""
    rule = {"rule_name": branch, "enable_push": False}
    gitea.api("POST", f"/repos/{gitea.owner}/{repo}/branch_protections", rule, ok=201)


def _reason(line: str) -> str:
    return line.split(" reason=", 1)[1]


@pytest.mark.parametrize(
    ("task_id", "status", "code", "reason"),
    [
        ("T040", "failed", 1, "400"),
        ("T041", "git-auth-failed", 6, "Authentication failed"),
        ("T042", "repo-not-found", 7, "not found"),
        ("T044", "no-changes", 3, "without changing any file"),
    ],
)
def test_failure_has_its_exit_code_and_one_reason_line(
    batch: Batch, task_id: str, status: str, code: int, reason: str
) -> None:
    done = batch.runs[task_id]
    assert done.returncode == code, done.stdout + done.stderr
    line = result_line(done)
    assert line.startswith(f"[{task_id}] RESULT status={status} exit={code} "), line
    assert reason.lower() in _reason(line).lower(), line
    assert f"{status}: " in done.stderr, done.stderr  # the WARNING line on stderr


def test_push_to_a_protected_branch_is_push_rejected(batch: Batch, gitea: GiteaServer) -> None:
    done = batch.runs["T043"]
    branch = batch.feature.branch("T043")
    assert done.returncode == 8, done.stdout + done.stderr
    line = result_line(done)
    assert line.startswith("[T043] RESULT status=push-rejected exit=8 "), line
    assert branch in _reason(line), line
    assert gitea.branch_commit(batch.feature.repo, branch) is None


def test_wrong_token_never_reaches_the_log(batch: Batch) -> None:
    done = batch.runs["T041"]
    assert "0123456789abcdef" not in done.stdout + done.stderr


def test_failed_pods_are_kept_with_their_configmap_and_nothing_else(
    batch: Batch, installed: Kubectl
) -> None:
    failed = sorted(batch.pods[tid] for tid in TASKS)
    mine = set(failed) | {batch.pods[VERIFY_TASK]}
    assert set(feature_objects(installed, "pods", batch.feature)) == mine
    assert set(feature_objects(installed, "configmaps", batch.feature)) == {
        task_configmap(installed, pod) for pod in mine
    }
    for pod in failed:
        meta: dict[str, Any] = installed.json("get", "pod", pod, "-n", NAMESPACE)["metadata"]
        assert meta["annotations"].get(labels.EXPIRES_AT), meta["annotations"]


def test_verify_remote_fails_when_the_branch_is_gone(
    batch: Batch, gitea: GiteaServer, installed: Kubectl
) -> None:
    feature, pod = batch.feature, batch.pods[VERIFY_TASK]
    branch = feature.branch(VERIFY_TASK)
    phase = wait_for(f"{pod} ended", lambda: _ended_phase(installed, pod), timeout=240)
    assert phase == "Succeeded", installed.run("logs", pod, "-n", NAMESPACE, check=False).stdout
    assert gitea.branch_commit(feature.repo, branch)
    git(["push", "-q", "origin", "--delete", branch], feature.clone, gitea.auth)
    before = feature.tasks_file.read_text()

    env = {**os.environ, **gitea.auth.env()}
    args = ["--verify-remote", "--mark-done", "--tasks", str(feature.tasks_file)]
    done = tail_all({pod: args}, cwd=feature.clone, env=env)[pod]
    assert done.returncode == 8, done.stdout + done.stderr
    line = result_line(done)
    assert line.startswith(f"[{VERIFY_TASK}] RESULT status=push-rejected exit=8 "), line
    assert f"branch {branch} not found" in line, line
    assert feature.tasks_file.read_text() == before
    assert f"- [ ] {VERIFY_TASK} " in before


def _ended_phase(kubectl: Kubectl, pod: str) -> str | None:
    out = kubectl.run(
        "get", "pod", pod, "-n", NAMESPACE, "-o", "jsonpath={.status.phase}", check=False
    )
    phase = out.stdout.strip()
    return phase if phase in ("Succeeded", "Failed") else None
