"""A chain of edits: each task edits what its prerequisites wrote, and a rerun restacks it.

One feature, three [ASYNC] tasks in a row (real cluster, Gitea, opencode):

* T090 creates ``chain.txt``, one line per task of the chain (``T091 todo`` ...);
* T091 (depends on T090) edits its line of ``chain.txt`` and writes ``part.txt``; its
  command fails (and the run ends ``no-changes``) unless ``chain.txt`` is there, so it
  succeeds only if its pod started from T090's pushed commit;
* T092 (after T090 and T091) edits both files; its command needs T091's edit and
  ``part.txt``, so it succeeds only if its pod started from both.

From outside: the RESULT lines, the pods' ``started-from`` annotations and the branches'
history name the commits each task started from, and the branches hold every edit;
the integration branch on Gitea holds the three, one merge commit each, in dependency
order; the pods are kept, each annotated ``reported-at``.  Then T090 is changed and
rerun alone, in a new pod (its kept one is not re-attached to): ``status`` marks T091
*and* T092 stale (T090 moved), and ``--restack`` reruns both, in order, each in a new
pod continuing its own branch with T090's new work merged in: neither is stale after
it, and both branches hold T090's new line beside their own edits.  (The conflicting
pair is proven in ``test_compose.py``.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from urllib.parse import quote

import pytest

from tests.e2e.cluster import Kubectl
from tests.e2e.conftest import Feature
from tests.e2e.gitea import GiteaServer, first_parent_log
from tests.e2e.test_dispatch import dispatch, dispatch_status, result_fields, results

IDS = ("T090", "T091", "T092")
TASK_LABEL = "speckit-pods.dev/task"
REPORTED_AT = "speckit-pods.dev/reported-at"  # a kept pod whose task was marked done
CHAIN = "T090 v1\n--\nT091 todo\n--\nT092 todo\n"  # an unchanged line between the edits
PART = "T091 wrote this\nT092 todo\n"
# the agents' bash commands: each fails where the work it builds on is missing
EDIT_ONE = (
    "test -f chain.txt && sed -i 's/^T091 todo$/T091 edited/' chain.txt"
    " && printf 'T091 wrote this\\nT092 todo\\n' > part.txt"
)
EDIT_BOTH = (
    "grep -qx 'T091 edited' chain.txt && test -f part.txt"
    " && sed -i 's/^T092 todo$/T092 edited/' chain.txt part.txt"
)
CREATE = "- [ ] T090 [ASYNC] Create the chain scripted:write,path=chain.txt,content=" + quote(
    CHAIN, safe=""
)
RECREATE = "- [ ] T090 [ASYNC] Create the chain anew scripted:run,command=" + quote(
    "sed -i 's/^T090 v1$/T090 v2/' chain.txt", safe=""
)  # a command, not the write tool: opencode's write wants a file it overwrites read first
TASKS = [
    CREATE,
    "- [ ] T091 [ASYNC] Edit the chain, depends on T090 scripted:run,command="
    + quote(EDIT_ONE, safe=""),
    "- [ ] T092 [ASYNC] Edit both files, after T090 and T091 scripted:run,command="
    + quote(EDIT_BOTH, safe=""),
]
# what each task's branch holds (None: no such file), on T090's first version
HELD: dict[str, dict[str, str | None]] = {
    "T090": {"chain.txt": CHAIN, "part.txt": None},
    "T091": {"chain.txt": CHAIN.replace("T091 todo", "T091 edited"), "part.txt": PART},
    "T092": {
        "chain.txt": CHAIN.replace("todo", "edited"),
        "part.txt": PART.replace("todo", "edited"),
    },
}


def _held(gitea: GiteaServer, feature: Feature, branch: str) -> dict[str, str | None]:
    return {path: gitea.read_file(feature.repo, branch, path) for path in ("chain.txt", "part.txt")}


def _on_v2(held: Mapping[str, str | None]) -> dict[str, str | None]:
    """``held`` with T090's second version of its line."""
    return {p: None if c is None else c.replace("T090 v1", "T090 v2") for p, c in held.items()}


def _assert_started_from(
    feature: Feature,
    gitea: GiteaServer,
    installed: Kubectl,
    stdout: str,
    task: str,
    commits: Mapping[str, str],
) -> None:
    """``task`` started from every earlier task's pushed commit: RESULT, pod, history."""
    prereqs = IDS[: IDS.index(task)]
    fields = result_fields(stdout, task)
    assert fields["from"] == ",".join(f"{t}@{commits[t][:12]}" for t in prereqs), stdout
    assert fields["files"] == "2", stdout  # its own diff: chain.txt and part.txt
    selector = f"speckit-pods.dev/feature={feature.name},speckit-pods.dev/task={task}"
    (pod,) = installed.pods(selector)
    pinned = json.loads(pod["metadata"]["annotations"]["speckit-pods.dev/started-from"])
    assert pinned == [
        {"task": t, "branch": feature.branch(t), "commit": commits[t]} for t in prereqs
    ]
    # its own commit sits on the last prerequisite's (which holds the ones before it)
    own = first_parent_log(feature.clone, feature.branch(task), gitea.auth)[0]
    assert (own.commit, own.parents) == (commits[task], (commits[prereqs[-1]],)), own


@pytest.mark.timeout(900)  # 7 pods in a row: 3 tasks, the last integration, 3 reruns
def test_a_chain_of_edits_builds_on_each_prerequisite_and_restacks_two_deep(
    make_feature: Callable[[list[str]], Feature], gitea: GiteaServer, installed: Kubectl
) -> None:
    feature = make_feature(TASKS)
    done = dispatch(feature, "--cleanup", "never", "--max-parallel", "2", integrate=True)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert results(done.stdout) == dict.fromkeys(IDS, "succeeded"), out
    commits = {t: str(gitea.branch_commit(feature.repo, feature.branch(t))) for t in IDS}
    assert result_fields(done.stdout, "T090")["from"] == "base", out
    for tid in ("T091", "T092"):
        _assert_started_from(feature, gitea, installed, done.stdout, tid, commits)
    for tid in IDS:
        assert _held(gitea, feature, feature.branch(tid)) == HELD[tid], tid

    # the integration branch: one merge commit per task, in dependency order, on main
    integration = f"specs/{feature.name}/integration"
    assert result_fields(done.stdout, "integration")["status"] == "succeeded", out
    log = first_parent_log(feature.clone, integration, gitea.auth)
    assert [(c.subject, c.parents[1:]) for c in log] == [
        *((f"Integrate {t} ({commits[t][:12]}, {feature.branch(t)})", (commits[t],))
          for t in reversed(IDS)),
        ("Initial commit", ()),
    ], log  # fmt: skip
    assert _held(gitea, feature, integration) == HELD["T092"]
    table = {ln.split()[0]: ln.split() for ln in done.stdout.splitlines() if ln[:1] == "T"}
    assert [table[t][4:6] for t in IDS] == [
        ["base", "yes"], ["T090", "yes"], ["T090+T091", "yes"],
    ], out  # fmt: skip
    rows = dispatch_status(feature)
    assert [(rows[t]["stale"], rows[t]["integrated"]) for t in IDS] == [("", True)] * 3, rows
    assert rows["T092"]["started_from"] == [f"T090@{commits['T090'][:12]}",
                                            f"T091@{commits['T091'][:12]}"], rows  # fmt: skip
    # the pods are kept (--cleanup never), each marked reported: its task is done, so a
    # rerun spawns a new pod instead of re-attaching to it and replaying its old result
    for tid in IDS:
        (pod,) = installed.pods(f"speckit-pods.dev/feature={feature.name},{TASK_LABEL}={tid}")
        assert pod["metadata"]["annotations"].get(REPORTED_AT), (tid, pod["metadata"])

    # T090 changed and rerun alone: its branch moves on; T091 and T092 now lack its work
    text = feature.tasks_file.read_text()
    changed = text.replace(CREATE.replace("- [ ] ", "- [X] "), RECREATE)
    assert changed != text, text
    feature.tasks_file.write_text(changed)
    rerun = dispatch(feature, "--only", "T090")
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, out
    assert "INFO: [T090] started pod " in out and "attached to running pod" not in out, out
    assert results(rerun.stdout) == {"T090": "succeeded"}, out
    for tid in ("T091", "T092"):
        assert f"WARNING: [{tid}] stale: T090 reran after it started" in rerun.stderr, out
    moved = str(gitea.branch_commit(feature.repo, feature.branch("T090")))
    assert moved != commits["T090"], out
    assert _held(gitea, feature, feature.branch("T090")) == _on_v2(HELD["T090"])
    rows = dispatch_status(feature)
    assert [rows[t]["stale"] for t in IDS] == ["", "T090 moved", "T090 moved"], rows

    # --restack reruns both, T091 first: each continues its branch with T090's new work
    restacked = dispatch(feature, "--restack")
    out = restacked.stdout + restacked.stderr
    assert restacked.returncode == 0, out
    assert "attached to running pod" not in out, out  # their first runs' pods are kept
    for tid in ("T091", "T092"):
        assert f"[{tid}] restacked: rerun from its prerequisites' work (T090 moved)" in out, out
    assert results(restacked.stdout) == {"T091": "succeeded", "T092": "succeeded"}, out
    now = {t: str(gitea.branch_commit(feature.repo, feature.branch(t))) for t in IDS}
    assert now["T090"] == moved, out
    # each continued its own branch: its tip merges the new work onto its first run's
    # commit, and its command found its edit made (nothing new of its own); T092 merged
    # T091's new commit only, which holds T090's
    for tid, prereq in (("T091", "T090"), ("T092", "T091")):
        assert _held(gitea, feature, feature.branch(tid)) == _on_v2(HELD[tid]), tid
        tip = first_parent_log(feature.clone, feature.branch(tid), gitea.auth)[0]
        assert (tip.commit, tip.parents) == (now[tid], (commits[tid], now[prereq])), tip
        holds = f"{prereq}@{now[prereq][:12]}"
        reason = result_fields(restacked.stdout, tid)["reason"]
        assert reason == f"nothing new of its own; its branch now holds {holds}", out
    rows = dispatch_status(feature)
    assert [rows[t]["stale"] for t in IDS] == ["", "", ""], rows
    assert rows["T091"]["started_from"] == [f"T090@{moved[:12]}"], rows
    assert rows["T092"]["started_from"] == [f"T090@{moved[:12]}",
                                            f"T091@{now['T091'][:12]}"], rows  # fmt: skip
