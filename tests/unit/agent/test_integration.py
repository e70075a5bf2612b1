"""Both sides of an integration pod as processes, against a local git remote."""

from __future__ import annotations

from runtime.contract.outcome import Status
from runtime.contract.start import encode
from tests.unit.agent.harness import Harness
from tests.unit.agent.test_main import _push_prerequisite

BRANCH = "speckit/t012"  # the harness's TASK_BRANCH: here, the integration branch


def _subjects(pod: Harness, ref: str) -> list[str]:
    return pod.git("log", "--first-parent", "--format=%s", ref).splitlines()


def test_each_task_is_merged_with_a_commit_naming_it_then_the_tests_run(pod: Harness) -> None:
    points = (
        _push_prerequisite(pod, "T010", {"a.txt": "a\n"}),
        _push_prerequisite(pod, "T011", {"b.txt": "b\n"}),
    )
    tests = "test -f a.txt && test -f b.txt && echo all green && echo junk > artefact.txt"

    run = pod.run(
        "integrate\n", timeout=60, START_POINTS=encode(points), INTEGRATE="1", TEST_COMMAND=tests
    )

    assert run.result.status is Status.SUCCEEDED, run.output
    assert run.result.reason == f"{points[0].short}, {points[1].short} on the branch; tests passed"
    assert "[test] all green" in run.output
    assert "running opencode" not in run.agent_output
    assert _subjects(pod, BRANCH)[:2] == [
        f"Integrate T011 ({points[1].commit[:12]}, speckit/t011)",
        f"Integrate T010 ({points[0].commit[:12]}, speckit/t010)",
    ]
    assert run.result.commit == pod.git("rev-parse", BRANCH).strip()
    assert run.result.files_changed == ("a.txt", "b.txt")  # never what the tests wrote
    assert run.result.start_commit == pod.git("rev-parse", "main").strip()
    assert run.result.started_from == points  # what the branch holds now

    again = pod.run(
        "integrate\n", timeout=60, START_POINTS=encode(points), INTEGRATE="1", TEST_COMMAND=tests
    )
    assert again.result.status is Status.SUCCEEDED, again.output
    assert again.result.commit == run.result.commit  # nothing new: nothing merged or pushed
    assert "already integrated: " in again.output
    assert again.result.started_from == points  # held already: still on the branch


def test_a_conflict_stops_at_the_last_clean_merge_and_names_task_and_files(
    pod: Harness,
) -> None:
    points = (
        _push_prerequisite(pod, "T010", {"README.md": "T010's\n"}),
        _push_prerequisite(pod, "T011", {"README.md": "T011's\n"}),
        _push_prerequisite(pod, "T013", {"c.txt": "c\n"}),
    )

    run = pod.run("integrate\n", timeout=60, START_POINTS=encode(points), INTEGRATE="1")

    assert run.result.status is Status.CONFLICT, run.output
    assert run.returncode == 30
    assert run.result.reason == (
        f"stopped at T011: its work ({points[1].commit[:12]}) conflicts with "
        f"{points[0].short} in: README.md; {points[0].short} on the branch"
    )
    assert _subjects(pod, BRANCH)[0] == f"Integrate T010 ({points[0].commit[:12]}, speckit/t010)"
    assert pod.remote_file(BRANCH, "README.md") == "T010's\n"
    assert run.result.started_from == points[:1]  # not T011 (the conflict), nor T013
    # the task branches stay as they are
    for point in points:
        assert pod.git("rev-parse", point.branch).strip() == point.commit


def test_failing_tests_fail_the_integration_but_keep_its_merges(pod: Harness) -> None:
    points = (_push_prerequisite(pod, "T010", {"a.txt": "a\n"}),)

    run = pod.run(
        "integrate\n", timeout=60, START_POINTS=encode(points), INTEGRATE="1",
        TEST_COMMAND="echo 1 passed; echo 'FAILED test_a - boom'; exit 3",
    )  # fmt: skip

    assert run.result.status is Status.FAILED, run.output
    assert run.result.reason == (
        f"tests failed (exit 3): 1 passed | FAILED test_a - boom; {points[0].short} on the branch"
    )
    assert pod.remote_file(BRANCH, "a.txt") == "a\n"
