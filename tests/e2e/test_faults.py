"""Faults: a pod deleted mid-run, a rerun after a timeout."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.cluster import NAMESPACE, Kubectl, wait_for
from tests.e2e.conftest import SPAWN, TAIL, Feature, run_script
from tests.e2e.follower import Follower
from tests.e2e.gitea import GiteaServer
from tests.support.scripted_llm import Marker, write_target


def spawn(feature: Feature, task_id: str, *extra: str) -> str:
    done = run_script(
        SPAWN, "--task-id", task_id, "--branch", feature.branch(task_id),
        "--repo", feature.remote_url, "--context-dir", str(feature.feature_dir),
        "--base", "main", "--cleanup", "never", *extra, cwd=feature.clone,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _file(gitea: GiteaServer, feature: Feature, task_id: str, path: str) -> str | None:
    return gitea.read_file(feature.repo, feature.branch(task_id), path)


def test_pod_deleted_mid_run_pushes_wip_and_is_not_marked_done(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    git_secret: str,
) -> None:
    feature = make_feature(["- [ ] T500 [ASYNC] Write then hang scripted:write-then-stall"])
    path, content = write_target(Marker("write", {}, "T500"))
    pod = spawn(
        feature, "T500", "--git-secret", git_secret, "--stall-timeout", "1h", "--timeout", "20m"
    )
    tail = Follower(
        [pod, "--mark-done", "--tasks", str(feature.tasks_file)], feature.clone, installed.env
    )
    try:
        wait_for("the agent's write", lambda: tail.saw(f"[tool] write {path}"), timeout=240)
    finally:
        installed.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false")
    rc = tail.wait(timeout=180)
    summary = [line for line in tail.lines if " RESULT " in line]
    assert rc == 5, tail.dump()
    assert len(summary) == 1 and "status=killed" in summary[0], tail.dump()
    assert _file(gitea, feature, "T500", path) == content, "the WIP commit was not pushed"
    commit = gitea.branch_commit(feature.repo, feature.branch("T500"))
    assert commit and f"commit={commit}" in summary[0], (commit, summary)
    assert "- [ ] T500 [ASYNC]" in feature.tasks_file.read_text()


def test_rerun_after_timeout_continues_from_the_pushed_branch(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    git_secret: str,
) -> None:
    first = "- [ ] T510 [ASYNC] Part one scripted:write-then-stall,path=scripted/first.txt"
    feature = make_feature([first])
    pod = spawn(
        feature, "T510", "--git-secret", git_secret, "--timeout", "60", "--stall-timeout", "1h"
    )
    run1 = run_script(TAIL, pod, "--namespace", NAMESPACE, cwd=feature.clone, timeout=300)
    assert run1.returncode == 124, run1.stdout + run1.stderr
    assert _file(gitea, feature, "T510", "scripted/first.txt") is not None
    first_commit = gitea.branch_commit(feature.repo, feature.branch("T510"))

    text = feature.tasks_file.read_text()
    second = "- [ ] T510 [ASYNC] Part two scripted:write,path=scripted/second.txt"
    feature.tasks_file.write_text(text.replace(first, second))
    pod2 = spawn(feature, "T510", "--git-secret", git_secret, "--timeout", "10m")
    run2 = run_script(TAIL, pod2, "--namespace", NAMESPACE, cwd=feature.clone, timeout=300)
    assert run2.returncode == 0, run2.stdout + run2.stderr
    assert "already exists on the remote: continuing from it" in run2.stdout
    assert _file(gitea, feature, "T510", "scripted/first.txt") is not None
    assert _file(gitea, feature, "T510", "scripted/second.txt") is not None
    head = gitea.branch_commit(feature.repo, feature.branch("T510"))
    parents = gitea.api("GET", f"/repos/{gitea.owner}/{feature.repo}/git/commits/{head}")
    assert first_commit in [p["sha"] for p in parents["parents"]]
