"""Sessions outlive their pods: stored in git by the trusted side, read back without a pod.

One dispatch (real cluster, Gitea, opencode) of one task with the default cleanup (the
pod is deleted once it succeeded).  Then, with no pod left:

* Gitea holds ``refs/speckit-pods/session/<feature>/T080``: a commit whose ``log.txt``
  ends with the pod's result line and whose ``session.json`` is opencode's export of the
  run, with the scripted LLM's tool call in it;
* ``tail-logs.sh --task T080`` prints that stored log and its RESULT line, saying so;
* ``run-async.sh session T080`` renders the session as markdown;
* ``run-async.sh status`` shows the task's stored outcome;
* a rerun appends a commit on the ref (its parent is the first run's), never forced.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.e2e.cluster import Kubectl, wait_for
from tests.e2e.conftest import TAIL, Feature, run_script
from tests.e2e.gitea import GiteaServer, git
from tests.e2e.test_dispatch import RUN_ASYNC, dispatch, results


def _ref(feature: Feature, task: str) -> str:
    return f"refs/speckit-pods/session/{feature.name}/{task}"


def _stored(feature: Feature, gitea: GiteaServer, task: str) -> str:
    """Fetch the task's session ref into the test's own clone; return its commit."""
    ref = _ref(feature, task)
    git(["fetch", "-q", "origin", f"+{ref}:refs/e2e/{task}"], cwd=feature.clone, auth=gitea.auth)
    return git(["rev-parse", f"refs/e2e/{task}"], cwd=feature.clone).strip()


def test_a_finished_tasks_session_and_log_are_kept_in_git_after_its_pod_is_gone(
    make_feature: Callable[[list[str]], Feature], gitea: GiteaServer, installed: Kubectl
) -> None:
    feature = make_feature(["- [ ] T080 [ASYNC] Write and keep the session scripted:write"])
    done = dispatch(feature)  # --cleanup on-success: the pod goes
    out = done.stdout + done.stderr
    assert results(done.stdout) == {"T080": "succeeded"}, out
    selector = f"speckit-pods.dev/feature={feature.name}"
    wait_for("the succeeded pod to be deleted", lambda: not installed.pods(selector) or None)

    first = _stored(feature, gitea, "T080")
    show = ["show", f"{first}:log.txt"]
    log = git(show, cwd=feature.clone).splitlines()
    assert log[-1].startswith("SPECKIT_POD_RESULT ") and '"status": "succeeded"' in log[-1]
    assert any("[git] cloning" in line for line in log), log[:5]
    session = json.loads(git(["show", f"{first}:session.json"], cwd=feature.clone))
    assert "write" in json.dumps(session), str(session)[:500]  # the scripted LLM's tool call
    branch_tip = str(gitea.branch_commit(feature.repo, feature.branch("T080")))
    tree = git(["ls-tree", "--name-only", first], cwd=feature.clone).split()
    assert sorted(tree) == ["log.txt", "result.json", "session.json"]  # not the task's tree
    assert first != branch_tip

    args = ["--namespace", "speckit-pods", "--repo", feature.remote_url, "--no-color"]
    tail = run_script(TAIL, "--task", "T080", "--feature", feature.name, *args, cwd=feature.clone)
    assert tail.returncode == 0, tail.stdout + tail.stderr
    assert "printing the stored log of a finished run" in tail.stderr, tail.stderr
    assert tail.stdout.splitlines()[-1].startswith("[T080] RESULT status=succeeded exit=0 ")
    assert "[T080] [git] cloning" in tail.stdout

    rendered = run_script(
        RUN_ASYNC, "session", "T080", "--tasks", str(feature.tasks_file),
        "--repo", feature.remote_url, cwd=feature.clone,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    assert rendered.stdout.startswith("# Session "), rendered.stdout[:300]

    shown = dispatch(feature, "status", "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    (row,) = [r for r in json.loads(shown.stdout)["tasks"] if r["id"] == "T080"]
    assert row["result"] == "succeeded" and row.get("stored") is True, row

    # a rerun appends: its session commit's parent is the first run's
    text = feature.tasks_file.read_text()
    feature.tasks_file.write_text(text.replace("- [X] T080 ", "- [ ] T080 "))
    again = dispatch(feature)
    rerun = results(again.stdout)["T080"]  # the same file again: nothing new
    assert rerun in ("succeeded", "no-changes"), again.stdout + again.stderr
    second = _stored(feature, gitea, "T080")
    assert second != first
    assert git(["rev-parse", f"{second}^"], cwd=feature.clone).strip() == first
