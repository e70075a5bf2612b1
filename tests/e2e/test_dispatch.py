"""D1-D4: the dispatcher (run-async.sh) on the real cluster.

One feature, four [ASYNC] tasks: T010 and T011 start together ([P]); T012 waits for
T010 and T013 for T011 (written dependencies).  T011 fails fast (HTTP 400 from the
scripted LLM), so T013 is blocked while T010 and T012 push their branches.  After
fixing T011 in tasks.md, a rerun starts only T011 and T013: no second pod for a task
that is done.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Callable, Mapping

from tests.e2e.cluster import REPO_ROOT, Kubectl, wait_for
from tests.e2e.conftest import Feature, run_script
from tests.e2e.gitea import GiteaServer
from tests.support.scripted_llm import Marker, write_target

RUN_ASYNC = REPO_ROOT / "scripts" / "run-async.sh"
TASKS = [
    "- [ ] T010 [P] [ASYNC] Write file A scripted:write",
    "- [ ] T011 [P] [ASYNC] Fail fast scripted:error400",
    "- [ ] T012 [P] [ASYNC] Write file C, depends on T010 scripted:write",
    "- [ ] T013 [P] [ASYNC] Write file D, depends on T011 scripted:write",
]
TASK_IDS = ("T010", "T011", "T012", "T013")


def dispatch(
    feature: Feature,
    *extra: str,
    integrate: bool = False,
    pod_timeout: str = "10m",
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``run-async.sh`` on ``feature`` (without the integration pod unless ``integrate``)."""
    return run_script(
        RUN_ASYNC,
        *extra,
        *(() if integrate else ("--no-integrate",)),
        "--tasks", str(feature.tasks_file),
        "--repo", feature.remote_url,
        "--base", "main",
        "--namespace", "speckit-pods",
        "--timeout", pod_timeout,
        "--no-live",
        cwd=feature.clone,
        timeout=900,
        env=env,
    )  # fmt: skip


def pod_uids(kubectl: Kubectl, feature: Feature) -> dict[str, list[str]]:
    """Task ID -> uids of its pods (kept: the runs use --cleanup never)."""
    found: dict[str, list[str]] = {}
    for pod in kubectl.pods(f"speckit-pods.dev/feature={feature.name}"):
        task = str(pod["metadata"]["labels"]["speckit-pods.dev/task"])
        found.setdefault(task, []).append(str(pod["metadata"]["uid"]))
    return found


def pods_per_task(kubectl: Kubectl, feature: Feature) -> Counter[str]:
    return Counter({task: len(uids) for task, uids in pod_uids(kubectl, feature).items()})


def results(stdout: str) -> dict[str, str]:
    """Task ID -> status of its ``[TID] RESULT status=...`` line."""
    found = re.findall(r"^\[(T\d+)\] RESULT status=(\S+)", stdout, re.MULTILINE)
    return dict(found)


def result_lines(stdout: str, task: str) -> list[str]:
    """The ``[TID] RESULT ...`` lines of ``task`` in a dispatch's stdout, in order."""
    return [ln for ln in stdout.splitlines() if ln.startswith(f"[{task}] RESULT ")]


def result_fields(stdout: str, task: str) -> dict[str, str]:
    """The fields of the task's last RESULT line (``reason`` JSON-decoded)."""
    line = result_lines(stdout, task)[-1]
    head, _, reason = line.partition(" reason=")
    fields = dict(part.split("=", 1) for part in head.split()[2:])
    fields["reason"] = json.loads(reason)
    return fields


def dispatch_status(feature: Feature) -> dict[str, dict[str, object]]:
    """``run-async.sh status --json``: task ID -> its row (asserts the command succeeded)."""
    shown = dispatch(feature, "status", "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return {row["id"]: row for row in json.loads(shown.stdout)["tasks"]}


def assert_written(gitea: GiteaServer, feature: Feature, task_id: str) -> None:
    path, content = write_target(Marker("write", {}, task_id))
    assert gitea.read_file(feature.repo, feature.branch(task_id), path) == content


def test_dry_run_prints_waves_from_dependencies(
    make_feature: Callable[[list[str]], Feature], installed: Kubectl
) -> None:
    feature = make_feature(TASKS)
    plain = dispatch(feature, "--dry-run")
    assert plain.returncode == 0, plain.stderr
    waves = [line.split()[:3] for line in plain.stdout.splitlines() if line.startswith("wave")]
    assert waves == [
        ["wave", "1", "T010"],
        ["wave", "1", "T011"],
        ["wave", "2", "T012"],
        ["wave", "2", "T013"],
    ], plain.stdout
    assert "(after T010)" in plain.stdout and "(after T011)" in plain.stdout
    as_json = dispatch(feature, "plan", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["waves"] == [["T010", "T011"], ["T012", "T013"]]
    # a dry run touches nothing
    assert pods_per_task(installed, feature) == Counter()
    assert "- [X]" not in feature.tasks_file.read_text().split("## Phase 2")[1]


def test_failure_blocks_only_its_dependents_and_rerun_resumes(
    make_feature: Callable[[list[str]], Feature], gitea: GiteaServer, installed: Kubectl
) -> None:
    feature = make_feature(TASKS)
    first = dispatch(feature, "--cleanup", "never")
    out = first.stdout + first.stderr
    assert first.returncode == 1, out
    assert results(first.stdout) == {
        "T010": "succeeded",
        "T011": "failed",
        "T012": "succeeded",
    }, out
    assert re.search(r"T013.*blocked by T011", out), out
    for tid in ("T010", "T012"):
        assert_written(gitea, feature, tid)
    branches = gitea.list_branches(feature.repo)
    assert feature.branch("T011") not in branches and feature.branch("T013") not in branches
    text = feature.tasks_file.read_text()
    for tid in ("T010", "T012"):
        assert f"- [X] {tid} " in text
    for tid in ("T011", "T013"):
        assert f"- [ ] {tid} " in text
    assert pods_per_task(installed, feature) == Counter({"T010": 1, "T011": 1, "T012": 1})
    before = pod_uids(installed, feature)

    # Fix the failing task and run again: only T011 (a new pod replaces the failed one)
    # and T013 get pods; the pods of the done tasks are left alone.
    feature.tasks_file.write_text(
        text.replace("Fail fast scripted:error400", "Retry scripted:write")
    )
    second = dispatch(feature, "--cleanup", "never")
    out = second.stdout + second.stderr
    assert second.returncode == 0, out
    assert results(second.stdout) == {"T011": "succeeded", "T013": "succeeded"}, out
    for tid in TASK_IDS:
        assert_written(gitea, feature, tid)
        assert f"- [X] {tid} " in feature.tasks_file.read_text()
    after = pod_uids(installed, feature)
    assert {tid: len(uids) for tid, uids in after.items()} == dict.fromkeys(TASK_IDS, 1), after
    assert after["T010"] == before["T010"] and after["T012"] == before["T012"]
    assert after["T011"] != before["T011"]
    counts = pods_per_task(installed, feature)

    # a third run has nothing to do and starts nothing
    third = dispatch(feature)
    assert third.returncode == 0, third.stdout + third.stderr
    assert pods_per_task(installed, feature) == counts
    installed.run(
        "delete", "pods", "-n", "speckit-pods", "-l", f"speckit-pods.dev/feature={feature.name}",
        "--wait=false",
    )  # fmt: skip


def test_ctrl_c_detaches_and_rerun_reattaches(
    make_feature: Callable[[list[str]], Feature], gitea: GiteaServer, installed: Kubectl
) -> None:
    ids = ("T030", "T031")
    feature = make_feature(
        [f"- [ ] {tid} [P] [ASYNC] Write file {tid} scripted:write" for tid in ids]
    )
    args = ["bash", str(RUN_ASYNC), "--tasks", str(feature.tasks_file), "--repo",
            feature.remote_url, "--base", "main", "--cleanup", "never", "--no-live"]  # fmt: skip
    with subprocess.Popen(
        args, cwd=feature.clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    ) as proc:  # fmt: skip
        wait_for("both pods created", lambda: len(pods_per_task(installed, feature)) == 2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "re-attach with" in stderr, stderr
    before = pod_uids(installed, feature)

    again = dispatch(feature, "--cleanup", "never")
    out = again.stdout + again.stderr
    assert again.returncode == 0, out
    assert "attached to running pod" in out, out
    assert "started pod" not in out, out
    assert pod_uids(installed, feature) == before
    for tid in ids:
        assert_written(gitea, feature, tid)
        assert f"- [X] {tid} " in feature.tasks_file.read_text()
    installed.run(
        "delete", "pods", "-n", "speckit-pods", "-l", f"speckit-pods.dev/feature={feature.name}",
        "--wait=false",
    )  # fmt: skip
