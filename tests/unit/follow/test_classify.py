from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from kubernetes import client

from runtime.contract.outcome import NO_VERDICT, Result, Status
from runtime.follow.classify import checkpoint_pushed, classify
from runtime.kube import labels
from runtime.kube.pod import as_plain, has_started, is_finished
from tests.unit.fakes import exited, make_pod, running, waiting

OK = Result(task="T012", status=Status.SUCCEEDED, branch="b", commit="c" * 40, reason="done")


@pytest.mark.parametrize(
    ("pod", "result", "status", "reason_part"),
    [
        # the result line wins over everything the pod status says
        (make_pod("p", phase="Failed", container=exited(1)), OK, Status.SUCCEEDED, "done"),
        (
            make_pod("p", phase="Failed", reason="DeadlineExceeded", container=exited(143)),
            Result(task="T012", status=Status.TIMEOUT),
            Status.TIMEOUT,
            "reported timeout",
        ),
        # an evicted pod's git side reports killed; the kubelet's reason is added
        (
            make_pod("p", phase="Failed", reason="Evicted", message='volume "agent-tmp" full'),
            Result(task="T012", status=Status.KILLED, branch="b", reason="terminated"),
            Status.KILLED,
            'evicted: volume "agent-tmp" full; terminated',
        ),
        # pod-level reasons
        (
            make_pod("p", phase="Failed", reason="DeadlineExceeded", container=exited(143)),
            None,
            Status.TIMEOUT,
            "deadline",
        ),
        (
            make_pod("p", phase="Failed", reason="Evicted", message="node low on memory"),
            None,
            Status.KILLED,
            "evicted: node low on memory",
        ),
        # container terminated state
        (
            make_pod("p", phase="Failed", container=exited(137, "OOMKilled")),
            None,
            Status.FAILED,
            "out of memory (limit 2Gi)",
        ),
        # killed before a result line: no WIP was pushed, the end is not known (exit 9)
        (make_pod("p", phase="Failed", container=exited(137)), None, Status.UNKNOWN, "(exit 137)"),
        (make_pod("p", phase="Failed", container=exited(143)), None, Status.UNKNOWN, "(exit 143)"),
        (make_pod("p", phase="Failed", container=exited(6)), None, Status.GIT_AUTH_FAILED, "6"),
        (make_pod("p", phase="Failed", container=exited(124)), None, Status.TIMEOUT, "124"),
        (make_pod("p", phase="Failed", container=exited(3)), None, Status.NO_CHANGES, "3"),
        (make_pod("p", phase="Failed", container=exited(31)), None, Status.OVER_BUDGET, "31"),
        (
            make_pod("p", phase="Succeeded", container=exited(31)),
            dataclasses.replace(OK, status=Status.OVER_BUDGET, reason="20 tokens used, budget 9"),
            Status.OVER_BUDGET,
            "20 tokens used, budget 9",
        ),
        (make_pod("p", phase="Succeeded", container=exited(0)), None, Status.UNKNOWN, "exited 0"),
        (make_pod("p", phase="Failed", container=exited(42)), None, Status.UNKNOWN, "exited 42"),
        # phase without container info
        (make_pod("p", phase="Failed", message="boom"), None, Status.UNKNOWN, "pod Failed: boom"),
        (make_pod("p", phase="Running", container=running()), None, Status.UNKNOWN, "not ended"),
        # gone
        (None, None, Status.KILLED, "deleted"),
    ],
)
def test_classify_table(
    pod: dict[str, Any] | None, result: Result | None, status: Status, reason_part: str
) -> None:
    outcome = classify(pod, result)
    assert outcome.status is status
    assert reason_part in outcome.reason
    assert outcome.result is result


def test_deleted_while_running_is_killed_unless_a_result_was_printed() -> None:
    pod = make_pod("p", container=running())
    assert classify(pod, None, deleted=True).status is Status.KILLED
    assert classify(pod, OK, deleted=True).status is Status.SUCCEEDED


def test_unknown_quotes_the_last_log_lines() -> None:
    pod = make_pod("p", phase="Failed", container=exited(42))
    lines = [f"line {i}" for i in range(10)] + [""]
    reason = classify(pod, None, last_lines=lines).reason
    assert "line 9" in reason and "line 5" in reason and "line 4" not in reason


def test_unknown_without_output_says_so() -> None:
    pod = make_pod("p", phase="Failed", container=exited(42))
    assert "no log output" in classify(pod, None).reason


def test_client_models_are_accepted() -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="p"),
        status=client.V1PodStatus(
            phase="Failed",
            container_statuses=[
                client.V1ContainerStatus(
                    name="agent",
                    image="i",
                    image_id="",
                    ready=False,
                    restart_count=0,
                    state=client.V1ContainerState(
                        terminated=client.V1ContainerStateTerminated(exit_code=8)
                    ),
                )
            ],
        ),
    )
    assert as_plain(pod)["status"]["phase"] == "Failed"
    assert classify(pod, None).status is Status.PUSH_REJECTED


@pytest.mark.parametrize(
    ("pod", "started", "finished"),
    [
        (make_pod("p", phase="Pending", container=waiting("ContainerCreating")), False, False),
        (make_pod("p", phase="Pending"), False, False),
        (make_pod("p", phase="Running", container=running()), True, False),
        # the container's terminated state counts before the phase catches up
        (make_pod("p", phase="Running", container=exited(0)), True, True),
        (make_pod("p", phase="Failed", reason="DeadlineExceeded"), True, True),
    ],
)
def test_started_and_finished(pod: dict[str, Any], started: bool, finished: bool) -> None:
    assert has_started(pod) is started
    assert is_finished(pod) is finished


BRANCH = "specs/001-demo/T012-async"


def spawned(agent: dict[str, Any] | None, git: dict[str, Any] | None, **kw: Any) -> dict[str, Any]:
    """A pod as spawn makes it: two containers, the task label and the branch annotation."""
    return make_pod("p", container=agent, git=git, annotations={labels.BRANCH: BRANCH}, **kw)


def test_a_result_about_this_pod_counts() -> None:
    result = Result(task="T012", status=Status.SUCCEEDED, branch=BRANCH, commit="c" * 40)
    outcome = classify(spawned(exited(0), exited(0), phase="Succeeded"), result)
    assert outcome.status is Status.SUCCEEDED and outcome.result is result


@pytest.mark.parametrize(
    "forged",
    [
        Result(task="T012", status=Status.SUCCEEDED, branch="main"),
        Result(task="T099", status=Status.SUCCEEDED, branch=BRANCH),
    ],
)
def test_a_result_about_another_task_or_branch_is_ignored_as_forged(forged: Result) -> None:
    pod = spawned(exited(1), exited(8), phase="Failed")
    outcome = classify(pod, forged)
    assert outcome.result is None
    assert outcome.status is Status.PUSH_REJECTED  # from the git container's exit code


def test_no_verdict_from_an_oom_killed_agent_says_out_of_memory() -> None:
    result = Result(task="T012", status=Status.FAILED, branch=BRANCH, reason=NO_VERDICT)
    pod = spawned(exited(137, "OOMKilled"), exited(1), phase="Failed")
    outcome = classify(pod, result)
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("out of memory (limit 2Gi)")
    # not OOM-killed: the reason stays the git side's
    assert classify(spawned(exited(137), exited(1)), result).reason == NO_VERDICT


def test_an_oom_killed_git_container_names_its_own_limit() -> None:
    outcome = classify(spawned(exited(0), exited(137, "OOMKilled"), phase="Failed"), None)
    assert outcome.status is Status.FAILED and outcome.lost
    assert outcome.reason == (
        "out of memory (limit 1Gi): the git container was killed (exit 137, OOMKilled) "
        "0s after the agent container ended, before it printed a result"
    )


def test_the_end_is_the_git_containers_exit_code() -> None:
    outcome = classify(spawned(exited(0), exited(6), phase="Succeeded"), None)
    assert outcome.status is Status.GIT_AUTH_FAILED  # the agent's 0 says nothing


# --- a lost node -------------------------------------------------------------------------

CHECKPOINT_LINE = (
    "[git] checkpoint 3f2a1b4c5d6e (2 file(s)) pushed to refs/speckit-pods/wip/001-demo/T012"
)


def lost(reason: str = "DeletionByTaintManager", **kw: Any) -> dict[str, Any]:
    """A pod the taint manager is deleting: its node went NotReady; nothing ended in it."""
    condition = {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": reason,
        "message": "Taint manager: deleting due to NoExecute taint",
    }
    pod = spawned(running(), running(), conditions=[condition], **kw)
    pod["metadata"]["deletionTimestamp"] = "2025-01-01T00:02:00Z"
    pod["spec"]["nodeName"] = "kind-worker2"
    return pod


def test_a_pod_on_a_lost_node_is_killed_naming_the_node_and_its_checkpoint() -> None:
    outcome = classify(lost(), None, checkpoint=checkpoint_pushed(CHECKPOINT_LINE))

    assert outcome.status is Status.KILLED
    assert outcome.reason == (
        "node kind-worker2 lost (not ready or unreachable); work since the last checkpoint "
        "may be lost; rerun continues from refs/speckit-pods/wip/001-demo/T012 "
        "(checkpoint 3f2a1b4c5d6e)"
    )
    assert is_finished(lost())  # it never ends by itself: its kubelet is gone


def test_a_pod_on_a_lost_node_without_a_checkpoint_says_its_work_is_lost() -> None:
    outcome = classify(lost(), None, deleted=True)

    assert outcome.status is Status.KILLED
    assert "node kind-worker2 lost" in outcome.reason
    assert "no checkpoint of this run was pushed" in outcome.reason


@pytest.mark.parametrize(
    ("pod", "how"),
    [
        (lost("DeletionByPodGC"), "gone from the cluster"),
        (spawned(running(), running(), reason="NodeLost"), "unreachable"),
    ],
)
def test_other_signs_of_a_lost_node(pod: dict[str, Any], how: str) -> None:
    pod["spec"]["nodeName"] = "kind-worker2"
    assert classify(pod, None).reason.startswith(f"node kind-worker2 lost ({how}); ")


def test_other_disruptions_are_not_a_lost_node() -> None:
    condition = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
    pod = spawned(running(), running(), conditions=[condition])
    assert not is_finished(pod)
    assert classify(pod, None).status is Status.UNKNOWN


def test_a_result_line_still_wins_over_a_lost_node() -> None:
    """The node came back in time: the kubelet stopped the pod and the WIP was pushed."""
    result = Result("T012", Status.KILLED, BRANCH, "c" * 40, reason="terminated; WIP pushed")
    assert classify(lost(), result).result == result


def test_only_the_git_sides_checkpoint_line_names_a_checkpoint() -> None:
    assert checkpoint_pushed(CHECKPOINT_LINE).endswith("(checkpoint 3f2a1b4c5d6e)")
    for line in (
        "[git] checkpoint stopped by SIGTERM: the work is committed now instead",
        "[git] checkpoint 3f2a1b4c5d6e (2 file(s)) pushed to refs/heads/main",
        "[tool] [git] checkpoint 3f2a1b4c5d6e (2 file(s)) pushed to refs/speckit-pods/wip/x/T1",
    ):
        assert checkpoint_pushed(line) == ""


# --- a pod that ended without a result line: which container, how, and whether it was lost


def with_last_state(state: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """The git sidecar as the kubelet shows one killed mid-pod: being restarted, the kill last."""
    pod = spawned(exited(0), state, phase="Succeeded")
    pod["status"]["initContainerStatuses"][0]["lastState"] = last
    return pod


@pytest.mark.parametrize(
    ("git", "expected"),
    [
        (exited(137, "Error"), "the git container was killed (exit 137, Error)"),
        (exited(143), "the git container was killed (exit 143)"),
        (exited(1, "ContainerStatusUnknown"), "the git container was killed (exit 1, Container"),
    ],
)
def test_a_git_container_killed_before_its_result_is_lost_and_named(
    git: dict[str, Any], expected: str
) -> None:
    outcome = classify(spawned(exited(0), git, phase="Succeeded"), None, last_lines=["[git] x"])
    assert outcome.status is Status.UNKNOWN and outcome.status.exit_code == 9
    assert outcome.lost
    assert outcome.reason.startswith(expected)
    assert outcome.reason.endswith("before it printed a result")
    assert "kubectl -n ns describe pod p" in outcome.hint
    assert "--max-parallel" in outcome.hint and "--memory" in outcome.hint


def test_a_kill_shown_only_in_the_last_state_is_read_from_there() -> None:
    # the kubelet restarted the killed sidecar (waiting) while the agent exited: phase
    # Succeeded without a terminated git; the kill is in lastState
    pod = with_last_state(waiting("PodInitializing"), exited(137, "Error"))
    outcome = classify(pod, None)
    assert outcome.lost
    assert outcome.reason == (
        "the git container was killed (exit 137, Error) 0s after the agent container ended, "
        "before it printed a result"
    )


def test_a_kill_says_when_it_came_after_the_agent_ended() -> None:
    """61 s after the agent ended with a 60 s grace: the git side ran out of its grace."""
    git = exited(137, "Error")
    git["terminated"]["finishedAt"] = "2025-01-01T00:01:44Z"
    pod = spawned(exited(0), git, phase="Failed")
    pod["spec"]["terminationGracePeriodSeconds"] = 60
    assert classify(pod, None).reason == (
        "the git container was killed (exit 137, Error) 61s after the agent container "
        "ended (grace period 60s), before it printed a result"
    )
    pod["metadata"]["deletionGracePeriodSeconds"] = 5  # a delete's own grace wins
    assert "(grace period 5s)" in classify(pod, None).reason
    while_running = spawned(running(), git, phase="Running")
    assert "killed (exit 137, Error) while the agent container still ran, before" in (
        classify(while_running, None).reason
    )


def test_a_pod_ended_without_any_end_of_its_git_container_names_every_container() -> None:
    outcome = classify(spawned(exited(0), running(), phase="Succeeded"), None)
    assert outcome.status is Status.UNKNOWN and not outcome.lost
    assert outcome.reason.startswith("pod Succeeded (git running, agent exited 0)")
    assert "describe pod p" in outcome.hint


def test_an_ordinary_exit_without_a_result_is_not_lost() -> None:
    for code in (0, 1, 6, 42):
        outcome = classify(spawned(exited(0), exited(code), phase="Failed"), None)
        assert not outcome.lost, code
        assert outcome.reason.startswith(f"the git container exited {code}")


def test_a_result_line_is_never_lost_whatever_the_container_says() -> None:
    killed = Result(task="T012", status=Status.KILLED, branch=BRANCH, reason="terminated")
    for result in (killed, dataclasses.replace(killed, status=Status.FAILED)):
        outcome = classify(spawned(exited(137), exited(137, "Error"), phase="Failed"), result)
        assert outcome.result is result and not outcome.lost


def test_deleted_or_evicted_by_someone_else_before_a_result_is_lost() -> None:
    gone = classify(make_pod("p", container=running()), None, deleted=True)
    assert gone.status is Status.KILLED and gone.lost
    assert gone.reason == "the pod was deleted before it printed a result"
    evicted = classify(make_pod("p", phase="Failed", reason="Evicted", message="low memory"), None)
    assert evicted.lost and evicted.reason == "evicted: low memory before it printed a result"


def test_a_deadline_is_the_runs_own_limit_not_a_loss() -> None:
    pod = spawned(exited(143), exited(137), phase="Failed", reason="DeadlineExceeded")
    outcome = classify(pod, None)
    assert outcome.status is Status.TIMEOUT and not outcome.lost


@pytest.mark.parametrize("deleted", [True, False])
def test_a_pod_we_deleted_on_purpose_is_not_lost(deleted: bool) -> None:
    # run-async.sh cancel / --replace annotate the pod before deleting it
    pod = spawned(exited(143), exited(137, "Error"), phase="Failed")
    pod["metadata"]["annotations"][labels.DELETED_BY] = "run-async.sh cancel"
    pod["metadata"]["deletionTimestamp"] = "2025-01-01T00:01:00Z"
    outcome = classify(pod, None, deleted=deleted)
    assert not outcome.lost
    assert outcome.reason.endswith("(deleted by run-async.sh cancel)")
