from __future__ import annotations

import dataclasses
import io
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runtime.common.timestamps import parse_rfc3339
from runtime.contract.outcome import Result, Status
from runtime.contract.start import StartPoint, encode
from runtime.follow.classify import Outcome, classify
from runtime.follow.finish import Finisher, Options, summary_line, verify_push
from runtime.follow.follow import Ended, Target
from runtime.kube import labels
from runtime.kube.client import Kube
from runtime.kube.logs import Printer
from runtime.kube.podwatch import ClusterPods
from tests.unit.fakes import FakeClusterCore, api_exception, exited, make_pod

SHA = "3f2a" + "0" * 36
OK = Result(
    task="T012",
    status=Status.SUCCEEDED,
    branch="specs/001/T012-async",
    commit=SHA,
    files_changed=("a", "b", "c"),
    duration_s=41.6,
    reason='pushed "3" files',
    llm_requests=4,
    input_tokens=1200,
    output_tokens=80,
)


def test_summary_line_is_key_value_with_a_json_reason() -> None:
    pod = make_pod("pod-1", phase="Succeeded", container=exited(0))
    line = summary_line(Outcome(Status.SUCCEEDED, OK.reason, OK), pod, "pod-1")
    assert line == (
        f"RESULT status=succeeded exit=0 branch=specs/001/T012-async commit={SHA} from=base "
        "files=3 "
        "duration=42s llm_requests=4 tokens_in=1200 tokens_out=80 cost=- "
        'pod=pod-1 reason="pushed \\"3\\" files"'
    )
    fields = dict(part.split("=", 1) for part in shlex.split(line)[1:])
    assert fields["reason"] == 'pushed "3" files'
    assert json.loads(line.split("reason=", 1)[1]) == 'pushed "3" files'


def test_summary_line_shows_the_cost_after_the_tokens() -> None:
    pod = make_pod("pod-1", phase="Succeeded", container=exited(0))
    priced = dataclasses.replace(OK, cost_usd=0.012345)
    line = summary_line(Outcome(Status.SUCCEEDED, OK.reason, priced), pod, "pod-1")
    assert " tokens_in=1200 tokens_out=80 cost=$0.0123 pod=pod-1 " in line
    fields = dict(part.split("=", 1) for part in shlex.split(line)[1:])
    assert fields["cost"] == "$0.0123"
    nothing = dataclasses.replace(OK, cost_usd=0.0)  # priced, nothing spent: not unknown
    assert " cost=$0.0000 " in summary_line(Outcome(Status.SUCCEEDED, "", nothing), pod, "p")


def test_summary_line_names_the_work_the_run_started_from() -> None:
    points = (StartPoint("T010", "b/t010", "a" * 40), StartPoint("T011", "b/t011", "b" * 40))
    result = dataclasses.replace(OK, started_from=points)
    pod = make_pod("pod-1", phase="Succeeded", container=exited(0))

    line = summary_line(Outcome(Status.SUCCEEDED, OK.reason, result), pod, "pod-1")

    assert f" from=T010@{'a' * 12},T011@{'b' * 12} files=3 " in line
    # without a result line: what the spawn pinned on the pod
    pinned = make_pod(
        "pod-1", phase="Failed", container=exited(137),
        annotations={labels.STARTED_FROM: encode(points[:1])},
    )  # fmt: skip
    line = summary_line(Outcome(Status.KILLED, "killed", None), pinned, "pod-1")
    assert f" from=T010@{'a' * 12} files=- " in line
    broken = make_pod("pod-1", phase="Failed", annotations={labels.STARTED_FROM: "[{"})
    assert " from=base " in summary_line(Outcome(Status.KILLED, "killed", None), broken, "pod-1")


def test_summary_line_without_result_uses_pod_data() -> None:
    pod = make_pod(
        "pod-1", phase="Failed", container=exited(137), annotations={labels.BRANCH: "br"}
    )
    line = summary_line(Outcome(Status.KILLED, "killed by SIGKILL", None), pod, "pod-1")
    assert line.startswith(
        "RESULT status=killed exit=5 branch=br commit=- from=base files=- duration=42s "
        "llm_requests=- tokens_in=- tokens_out=- cost=- pod=pod-1 "
    )


def fake_git(stdout: str = "", returncode: int = 0, stderr: str = "") -> Any:
    calls: list[list[str]] = []

    def run(command: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        assert kw["env"]["GIT_TERMINAL_PROMPT"] == "0" and kw["timeout"] > 0
        return subprocess.CompletedProcess(command, returncode, stdout, stderr)

    run.calls = calls  # type: ignore[attr-defined]
    return run


@pytest.mark.parametrize(
    ("stdout", "returncode", "stderr", "problem"),
    [
        (f"{SHA}\trefs/heads/br\n", 0, "", ""),
        ("", 0, "", "branch br not found"),
        ("1111111111111111111111111111111111111111\trefs/heads/br\n", 0, "", "is at 111111111111"),
        (
            "",
            128,
            "fatal: Authentication failed\n",
            "git ls-remote failed: fatal: Authentication failed",
        ),
    ],
)
def test_verify_push(stdout: str, returncode: int, stderr: str, problem: str) -> None:
    run = fake_git(stdout, returncode, stderr)
    found = verify_push("https://git.example/r.git", "br", SHA, run)
    assert (problem in found) if problem else found == ""
    assert run.calls == [["git", "ls-remote", "--", "https://git.example/r.git", "refs/heads/br"]]


def test_verify_push_needs_all_three_values() -> None:
    assert "did not report" in verify_push("", "br", SHA, fake_git())


def finisher(
    tmp_path: Path, options: Options, pod: dict[str, Any], run: Any = None
) -> tuple[Finisher, FakeClusterCore, io.StringIO, io.StringIO]:
    core = FakeClusterCore()
    core.add(pod)
    out, err = io.StringIO(), io.StringIO()
    pods = ClusterPods(Kube(core=core, namespace="ns"))
    return (
        Finisher(pods, Printer(out, err, color=False), options, run or fake_git()),
        core,
        out,
        err,
    )


def tasks_md(tmp_path: Path) -> Path:
    feature = tmp_path / "specs" / "001-demo"
    feature.mkdir(parents=True)
    path = feature / "tasks.md"
    path.write_text("# Tasks\n\n- [ ] T012 [ASYNC] Do the thing in src/x.py\n- [ ] T013 Other\n")
    return path


def ended_pod(
    tmp_path: Path, status: Status, cleanup: str = "on-success"
) -> tuple[Ended, dict[str, Any]]:
    annotations = {
        labels.CLEANUP: cleanup,
        labels.REPO: "https://git.example/r.git",
        labels.BRANCH: OK.branch,
        labels.TASKS_FILE: str(tasks_md(tmp_path)),
    }
    pod = make_pod(
        "pod-1", phase="Succeeded", container=exited(status.exit_code), annotations=annotations
    )
    result = Result(task="T012", status=status, branch=OK.branch, commit=SHA)
    return Ended(Target("pod-1", "T012"), pod, Outcome(status, "why", result)), pod


def test_success_marks_done_writes_async_state_and_deletes(tmp_path: Path) -> None:
    ended, pod = ended_pod(tmp_path, Status.SUCCEEDED)
    feature = tmp_path / "specs" / "001-demo"
    (feature / ".async_state").mkdir()
    fin, core, out, err = finisher(tmp_path, Options(mark_done=True), pod)
    assert fin(ended) == 0
    assert out.getvalue().startswith("[T012] RESULT status=succeeded exit=0 ")
    assert "- [X] T012 [ASYNC]" in (feature / "tasks.md").read_text()
    assert "- [ ] T013" in (feature / "tasks.md").read_text()
    assert (feature / ".async_state" / "delegation_completed" / "T012.txt").is_file()
    assert core.deleted == ["pod-1"]
    assert "pod pod-1 deleted" in err.getvalue()


def test_failure_is_not_marked_and_the_pod_is_kept(tmp_path: Path) -> None:
    ended, pod = ended_pod(tmp_path, Status.FAILED)
    fin, core, out, err = finisher(tmp_path, Options(mark_done=True, async_state=True), pod)
    assert fin(ended) == 1
    feature = tmp_path / "specs" / "001-demo"
    assert "- [ ] T012" in (feature / "tasks.md").read_text()
    assert (feature / ".async_state" / "delegation_errors" / "T012.txt").is_file()
    assert core.deleted == [] and core.patches  # kept, with an expiry
    assert "WARNING: [T012] failed: why" in err.getvalue()


def test_a_pod_ended_without_a_result_names_the_dead_container_and_hints(
    tmp_path: Path,
) -> None:
    pod = make_pod(
        "pod-1", phase="Succeeded", container=exited(0), git=exited(137, "Error"),
        annotations={labels.BRANCH: OK.branch},
    )  # fmt: skip
    ended = Ended(Target("pod-1", "T012"), pod, classify(pod, None))
    fin, core, out, err = finisher(tmp_path, Options(), pod)
    assert fin(ended) == 9
    assert out.getvalue().startswith("[T012] RESULT status=unknown exit=9 ")
    reason = (
        "the git container was killed (exit 137, Error) 0s after the agent container ended, "
        "before it printed a result"
    )
    assert f'reason="{reason}"' in out.getvalue()
    lines = err.getvalue().splitlines()
    assert f"WARNING: [T012] unknown: {reason}" in lines
    hint = next(line for line in lines if line.startswith("Hint: [T012] "))
    assert "kubectl -n ns describe pod pod-1" in hint and "--max-parallel" in hint


def test_over_budget_is_a_failure_like_a_timeout(tmp_path: Path) -> None:
    ended, pod = ended_pod(tmp_path, Status.OVER_BUDGET)
    fin, core, out, err = finisher(tmp_path, Options(mark_done=True, async_state=True), pod)
    assert fin(ended) == 31
    assert out.getvalue().startswith("[T012] RESULT status=over-budget exit=31 ")
    feature = tmp_path / "specs" / "001-demo"
    assert "- [ ] T012" in (feature / "tasks.md").read_text()
    assert (feature / ".async_state" / "delegation_errors" / "T012.txt").is_file()
    assert core.deleted == [] and core.patches
    assert "WARNING: [T012] over-budget: why" in err.getvalue()


def test_unverified_push_downgrades_to_push_rejected(tmp_path: Path) -> None:
    ended, pod = ended_pod(tmp_path, Status.SUCCEEDED)
    fin, core, out, err = finisher(
        tmp_path, Options(verify_remote=True, mark_done=True), pod, fake_git("")
    )
    assert fin(ended) == 8
    assert "status=push-rejected" in out.getvalue() and "push not verified" in out.getvalue()
    assert "- [ ] T012" in (tmp_path / "specs" / "001-demo" / "tasks.md").read_text()
    assert core.deleted == []  # on-success keeps it for inspection


def test_verified_push_stays_succeeded(tmp_path: Path) -> None:
    ended, pod = ended_pod(tmp_path, Status.SUCCEEDED)
    fin, *_ = finisher(
        tmp_path, Options(verify_remote=True), pod, fake_git(f"{SHA}\trefs/heads/x\n")
    )
    assert fin(ended) == 0


def test_mark_done_problem_is_a_warning_and_cleanup_still_runs(tmp_path: Path) -> None:
    ended, pod = ended_pod(tmp_path, Status.SUCCEEDED)
    other = tmp_path / "other.md"
    other.write_text("- [ ] T001 nothing here\n")
    fin, core, out, err = finisher(tmp_path, Options(mark_done=True, tasks_file=str(other)), pod)
    assert fin(ended) == 0
    assert "WARNING: [T012]" in err.getvalue()
    assert core.deleted == ["pod-1"]


# --- reported-at: a kept pod whose task was marked done is not re-attached by a rerun -------


def reported(core: FakeClusterCore) -> list[str]:
    """The pods a patch annotated ``reported-at``."""
    return [
        name for name, body in core.patches if labels.REPORTED_AT in body["metadata"]["annotations"]
    ]


def test_a_kept_pod_whose_task_was_marked_done_is_annotated_reported(tmp_path: Path) -> None:
    ended, pod = ended_pod(tmp_path, Status.SUCCEEDED, cleanup="never")
    fin, core, out, err = finisher(tmp_path, Options(mark_done=True), pod)
    assert fin(ended) == 0
    assert "- [X] T012 [ASYNC]" in (tmp_path / "specs" / "001-demo" / "tasks.md").read_text()
    assert reported(core) == ["pod-1"] and core.deleted == []
    stamp = core.pods["pod-1"]["metadata"]["annotations"][labels.REPORTED_AT]
    assert parse_rfc3339(stamp) is not None
    assert "WARNING" not in err.getvalue()


@pytest.mark.parametrize(
    ("status", "cleanup", "options"),
    [
        (Status.SUCCEEDED, "on-success", Options(mark_done=True)),  # deleted: nothing to mark
        (Status.SUCCEEDED, "never", Options()),  # tail-logs without --mark-done: not reported
        (Status.FAILED, "never", Options(mark_done=True)),  # not marked done
    ],
)
def test_a_pod_is_annotated_reported_only_when_kept_and_marked_done(
    tmp_path: Path, status: Status, cleanup: str, options: Options
) -> None:
    ended, pod = ended_pod(tmp_path, status, cleanup=cleanup)
    fin, core, out, err = finisher(tmp_path, options, pod)
    assert fin(ended) == status.exit_code
    assert reported(core) == []
    assert labels.REPORTED_AT not in (core.pods.get("pod-1") or pod)["metadata"]["annotations"]


def test_a_refused_reported_annotation_is_one_warning_and_the_outcome_stands(
    tmp_path: Path,
) -> None:
    ended, pod = ended_pod(tmp_path, Status.SUCCEEDED, cleanup="never")
    fin, core, out, err = finisher(tmp_path, Options(mark_done=True), pod)
    core.refused[labels.REPORTED_AT] = api_exception(403, "Forbidden", 'cannot patch "pod-1"')
    assert fin(ended) == 0
    assert out.getvalue().startswith("[T012] RESULT status=succeeded exit=0 ")
    assert "- [X] T012 [ASYNC]" in (tmp_path / "specs" / "001-demo" / "tasks.md").read_text()
    warnings = [line for line in err.getvalue().splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, err.getvalue()
    assert warnings[0].startswith("WARNING: [T012] annotating pod pod-1 as reported failed: ")
    assert "HTTP 403" in warnings[0] and "kubectl -n ns delete pod pod-1" in warnings[0]
    assert "INFO: [T012] pod pod-1 kept until " in err.getvalue()  # the expiry was set
    assert labels.REPORTED_AT not in core.pods["pod-1"]["metadata"]["annotations"]
