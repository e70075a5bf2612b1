"""Tasks that compose: a dependent task starts from the pushed work of its prerequisites.

One dispatch (real cluster, Gitea, opencode) of two chains:

* T020 and T021 ([P]) write their own files; T022 waits for both (non-[P] after them),
  so its pod merges their pushed commits onto ``main`` before its agent starts: its
  branch holds both commits, its own diff is its own file, and the pod and its RESULT
  line name what it started from.
* T030 and T031 ([P]) write the same file differently; T032 waits for both: their work
  does not merge, so T032 ends ``conflict`` naming the file, before any agent runs (the
  scripted LLM never hears of it) and without pushing a branch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from tests.e2e.cluster import Kubectl
from tests.e2e.conftest import Feature
from tests.e2e.gitea import GiteaServer, git
from tests.e2e.test_dispatch import dispatch, results
from tests.support.scripted_llm import ScriptedLLMServer, classify

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


def _result_fields(stdout: str, task: str) -> dict[str, str]:
    line = next(ln for ln in stdout.splitlines() if ln.startswith(f"[{task}] RESULT "))
    head, _, reason = line.partition(" reason=")
    fields = dict(part.split("=", 1) for part in head.split()[2:])
    fields["reason"] = json.loads(reason)
    return fields


def test_dependent_tasks_start_from_their_prerequisites_work(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    llm: ScriptedLLMServer,
) -> None:
    feature = make_feature(TASKS)
    done = dispatch(feature, "--cleanup", "never", "--max-parallel", "2")
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
    whole = _result_fields(done.stdout, "T022")
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
    clash = _result_fields(done.stdout, "T032")
    assert clash["exit"] == "30", out
    assert re.fullmatch(
        r"the work of T031 \([0-9a-f]{12}\) conflicts with T030@[0-9a-f]{12} in: shared\.txt",
        clash["reason"],
    ), clash
    asked = [classify(r.body)[0] for r in llm.requests]
    assert not [m for m in asked if m is not None and m.task_id == "T032"]
    assert feature.branch("T032") not in gitea.list_branches(feature.repo)
    text = feature.tasks_file.read_text()
    assert "- [ ] T032 " in text and "- [X] T022 " in text
    installed.run(
        "delete", "pods", "-n", "speckit-pods", "-l", f"speckit-pods.dev/feature={feature.name}",
        "--wait=false",
    )  # fmt: skip
