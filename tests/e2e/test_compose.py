"""Tasks that compose: a dependent task starts from the pushed work of its prerequisites.

One dispatch (real cluster, Gitea, opencode) of two chains:

* T020 and T021 ([P]) write their own files; T022 waits for both (non-[P] after them),
  so its pod merges their pushed commits onto ``main`` before its agent starts: its
  branch holds both commits, its own diff is its own file, and the pod and its RESULT
  line name what it started from.
* T030 and T031 ([P]) write the same file differently; T032 waits for both: their work
  does not merge, so T032 ends ``conflict`` naming the file, before any agent runs (the
  scripted LLM never hears of it) and without pushing a branch.
* After each wave (the first once wave 1 ended), the integration pod merges the done tasks
  in dependency order into ``specs/<feature>/integration``, one merge commit per task,
  and stops at T031 (it conflicts with T030), keeping the four clean merges; the task
  branches stay as they are, and the table marks T031 ``conflict``.  With T031 set back
  to pending, ``run-async.sh integrate --test-command`` finds everything on the branch
  already and runs the tests there, in the pod.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from tests.e2e.cluster import Kubectl
from tests.e2e.conftest import Feature
from tests.e2e.gitea import GiteaServer, first_parent_log, git
from tests.e2e.observe import requests_of
from tests.e2e.test_dispatch import (
    dispatch,
    dispatch_status,
    result_fields,
    result_lines,
    results,
)
from tests.support.scripted_llm import ScriptedLLMServer

TASKS = [
    "## Phase 1: Parts",
    "",
    "- [ ] T020 [P] [ASYNC] Write part A scripted:write",
    "- [ ] T021 [P] [ASYNC] Write part B scripted:write",
    "- [ ] T022 [ASYNC] Write the whole from A and B scripted:write",
    "",
    "## Phase 2: Clash",
    "",
    "- [ ] T030 [P] [ASYNC] Settle it one way scripted:write,path=shared.txt,content=T030%0A",
    "- [ ] T031 [P] [ASYNC] Settle it the other way scripted:write,path=shared.txt,content=T031%0A",
    "- [ ] T032 [ASYNC] Build on both, depends on T030 and T031 scripted:write",
]


def test_dependent_tasks_start_from_their_prerequisites_work(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    llm: ScriptedLLMServer,
) -> None:
    feature = make_feature(TASKS)
    done = dispatch(feature, "--cleanup", "never", "--max-parallel", "2", integrate=True)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out  # T032 failed
    assert results(done.stdout) == {
        "T020": "succeeded",
        "T021": "succeeded",
        "T022": "succeeded",
        "T030": "succeeded",
        "T031": "succeeded",
        "T032": "conflict",
    }, out
    commits = {
        t: str(gitea.branch_commit(feature.repo, feature.branch(t))) for t in ("T020", "T021")
    }

    # T022 started from T020's and T021's pushed commits, merged onto main
    whole = result_fields(done.stdout, "T022")
    assert whole["from"] == f"T020@{commits['T020'][:12]},T021@{commits['T021'][:12]}", out
    assert whole["files"] == "1", out  # its own diff: scripted/T022.txt
    branch = feature.branch("T022")
    for tid in ("T020", "T021", "T022"):
        assert gitea.read_file(feature.repo, branch, f"scripted/{tid}.txt"), tid
    clone = feature.clone
    git(["fetch", "-q", "origin", branch], cwd=clone, auth=gitea.auth)
    for commit in commits.values():
        git(["merge-base", "--is-ancestor", commit, "FETCH_HEAD"], cwd=clone)
    (pod,) = installed.pods(f"speckit-pods.dev/feature={feature.name},speckit-pods.dev/task=T022")
    pinned = json.loads(pod["metadata"]["annotations"]["speckit-pods.dev/started-from"])
    assert pinned == [
        {"task": t, "branch": feature.branch(t), "commit": commits[t]} for t in ("T020", "T021")
    ]

    # T032: the work of T030 and T031 does not merge; its agent never ran
    clash = result_fields(done.stdout, "T032")
    assert clash["exit"] == "30", out
    assert re.fullmatch(
        r"the work of T031 \([0-9a-f]{12}\) conflicts with T030@[0-9a-f]{12} in: shared\.txt",
        clash["reason"],
    ), clash
    # this feature's requests only: the scripted LLM serves the whole session
    assert "T032" not in [tid for tid, _ in requests_of(llm.requests, feature)]
    assert feature.branch("T032") not in gitea.list_branches(feature.repo)
    text = feature.tasks_file.read_text()
    assert "- [ ] T032 " in text and "- [X] T022 " in text

    # the integration after each wave (T020+T021 first, while T022 ran), then the rest:
    # T020, T021, T022, T030 merged, stopped at T031
    assert len(result_lines(done.stdout, "integration")) >= 2, out
    first = json.loads(result_lines(done.stdout, "integration")[0].partition(" reason=")[2])
    assert first.startswith("T020@") and "T021@" in first and "T022" not in first, first
    lines = done.stdout.splitlines()
    first_at = lines.index(result_lines(done.stdout, "integration")[0])
    assert lines.index(result_lines(done.stdout, "T021")[-1]) < first_at, out  # after wave 1
    merged = result_fields(done.stdout, "integration")
    assert merged["status"] == "conflict", out
    assert re.match(
        r"stopped at T031: its work \([0-9a-f]{12}\) conflicts with T020@\w+, T021@\w+, "
        r"T022@\w+, T030@\w+ in: shared\.txt; ",
        merged["reason"],
    ), merged
    integration = f"specs/{feature.name}/integration"
    assert f"INFO: integration conflict: {integration} at {merged['commit'][:12]}" in out, out
    subjects = [c.subject for c in first_parent_log(clone, integration, gitea.auth)]
    assert [s.split(" (")[0] for s in subjects[:4]] == [
        "Integrate T030", "Integrate T022", "Integrate T021", "Integrate T020",
    ]  # fmt: skip
    assert gitea.read_file(feature.repo, integration, "shared.txt") == "T030\n"
    for tid in ("T020", "T021", "T022"):
        assert gitea.read_file(feature.repo, integration, f"scripted/{tid}.txt"), tid
    assert gitea.branch_commit(feature.repo, feature.branch("T031")) is not None  # untouched
    # the final table: what each task started from, and whether the branch holds it
    table = {ln.split()[0]: ln.split() for ln in done.stdout.splitlines() if ln[:1] == "T"}
    assert table["T020"][4:6] == ["base", "yes"], out
    assert table["T022"][4:6] == ["T020+T021", "yes"], out
    assert table["T031"][5] == "conflict" and table["T032"][1] == "failed", out
    assert table["T030"][5] == "yes", out
    stopped = f"WARNING: [T031] not on {integration}: the integration stopped here (conflict)"
    assert stopped in done.stderr, out
    assert int(table["T020"][3]) > 0, out  # the scripted LLM's tokens, counted by the proxy
    assert re.search(
        r"^INFO: tokens: \d+ in, \d+ out \(6 task\(s\) reported\)$", done.stderr, re.M
    ), out

    # T031 pending again: everything done is on the branch; the tests run there
    feature.tasks_file.write_text(text.replace("- [X] T031 ", "- [ ] T031 "))
    tests = 'test "$(cat shared.txt)" = T030 && echo integration-tests-ok'
    again = dispatch(feature, "integrate", "--test-command", tests, integrate=True)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out
    checked = result_fields(again.stdout, "integration")
    assert checked["status"] == "succeeded" and checked["commit"] == merged["commit"], out
    assert checked["reason"].endswith("on the branch; tests passed"), checked
    assert "[test] integration-tests-ok" in again.stdout, out
    installed.run(
        "delete", "pods", "-n", "speckit-pods", "-l", f"speckit-pods.dev/feature={feature.name}",
        "--wait=false",
    )  # fmt: skip


def test_a_rerun_prerequisite_makes_its_dependent_stale_and_restack_brings_it_along(
    make_feature: Callable[[list[str]], Feature], gitea: GiteaServer, installed: Kubectl
) -> None:
    feature = make_feature(
        [
            "- [ ] T040 [ASYNC] Write the base scripted:write",
            "- [ ] T041 [ASYNC] Build on it scripted:write",
        ]
    )
    first = dispatch(feature)
    assert first.returncode == 0, first.stdout + first.stderr
    assert dispatch_status(feature)["T041"]["stale"] == ""

    # T040 is changed and rerun: its branch moves on; T041 now lacks its new work
    text = feature.tasks_file.read_text()
    feature.tasks_file.write_text(
        text.replace("- [X] T040 [ASYNC] Write the base scripted:write",
                     "- [ ] T040 [ASYNC] Write the base scripted:write,path=scripted/T040-v2.txt")
    )  # fmt: skip
    rerun = dispatch(feature, "--only", "T040")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "WARNING: [T041] stale: T040 reran after it started" in rerun.stderr, rerun.stderr
    rows = dispatch_status(feature)
    t40 = str(gitea.branch_commit(feature.repo, feature.branch("T040")))
    assert rows["T041"]["stale"] == "T040 moved", rows
    assert rows["T041"]["started_from"] and rows["T041"]["started_from"] != [f"T040@{t40[:12]}"]

    restacked = dispatch(feature, "--restack")
    out = restacked.stdout + restacked.stderr
    assert restacked.returncode == 0, out
    assert "[T041] restacked: rerun from its prerequisites' work (T040 moved)" in out, out
    assert results(restacked.stdout) == {"T041": "succeeded"}, out
    branch = feature.branch("T041")
    assert gitea.read_file(feature.repo, branch, "scripted/T040-v2.txt"), out
    assert gitea.read_file(feature.repo, branch, "scripted/T041.txt"), out
    rows = dispatch_status(feature)
    assert rows["T041"]["stale"] == "" and rows["T041"]["started_from"] == [f"T040@{t40[:12]}"]
