from __future__ import annotations

from typing import Any

import pytest

from runtime.kube.pod import PodView, as_plain
from tests.unit.fakes import exited, make_pod, running, waiting


def test_an_empty_pod_reads_as_absent_fields() -> None:
    view = PodView({})
    assert (view.name, view.namespace, view.phase, view.reason, view.created) == (
        "",
        "",
        "",
        "",
        "",
    )
    assert view.labels == {} and view.annotations == {} and view.conditions == []
    assert view.agent == {} and view.terminated is None
    assert not view.finished and not view.started and not view.deleting
    assert view.memory_limit == "unknown" and view.deadline_seconds is None


def test_null_sections_are_absent_not_errors() -> None:
    view = PodView({"metadata": {"labels": None, "annotations": None}, "status": None})
    assert view.label("x") == "" and view.annotation("y") == "" and view.phase == ""


def test_reads_the_agent_container_not_the_first() -> None:
    pod = {
        "metadata": {
            "name": "p",
            "labels": {"a": "1"},
            "deletionTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "activeDeadlineSeconds": 60,
            "containers": [
                {"name": "side", "resources": {"limits": {"memory": "1Gi"}}},
                {"name": "agent", "resources": {"limits": {"memory": "2Gi"}}},
            ],
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "side", "state": {"running": {}}},
                {"name": "agent", "state": {"terminated": {"exitCode": 3}}},
            ],
        },
    }
    view = PodView(pod)
    assert view.name == "p" and view.label("a") == "1" and view.deleting
    assert view.terminated == {"exitCode": 3} and view.finished and view.started
    assert view.memory_limit == "2Gi" and view.deadline_seconds == 60


def test_as_plain_turns_client_models_into_camel_case() -> None:
    from kubernetes.client import V1ObjectMeta, V1Pod

    plain = as_plain(V1Pod(metadata=V1ObjectMeta(name="x", resource_version="7")))
    assert PodView(plain).name == "x" and PodView(plain).resource_version == "7"


def two(agent: dict[str, Any] | None, git: dict[str, Any] | None, **kw: Any) -> PodView:
    return PodView(make_pod("p", container=agent, git=git, **kw))


def test_the_git_sidecar_is_the_result_container() -> None:
    view = two(exited(0), exited(3))
    assert view.has_git_side
    assert view.result_status["name"] == "git" and view.agent["name"] == "agent"
    assert view.terminated is not None and view.terminated["exitCode"] == 3
    assert view.agent_terminated is not None and view.agent_terminated["exitCode"] == 0
    assert [s["name"] for s in view.statuses] == ["git", "agent"]
    assert view.limit_of("git") == "1Gi" and view.memory_limit == "2Gi"


@pytest.mark.parametrize(
    ("agent", "git", "started", "finished"),
    [
        (waiting("PodInitializing"), None, False, False),  # git not created yet
        (waiting("PodInitializing"), running(), True, False),  # cloning: its log is readable
        (running(), running(), True, False),
        (exited(0), running(), True, False),  # the agent ended; git commits and pushes
        (running(), exited(1), True, False),  # git crashed: the kubelet restarts a sidecar
        (waiting("PodInitializing"), exited(1), True, False),  # crashed during the clone
        (exited(0), exited(0), True, True),
        (exited(137, "OOMKilled"), exited(1), True, True),
    ],
)
def test_a_two_container_pod_starts_and_ends_with_git(
    agent: dict[str, Any], git: dict[str, Any] | None, started: bool, finished: bool
) -> None:
    view = two(agent, git)
    assert (view.started, view.finished) == (started, finished)


def test_a_deleted_pod_ends_when_git_has_even_if_the_agent_never_ran() -> None:
    pod = make_pod("p", container=waiting("PodInitializing"), git=exited(5))
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert PodView(pod).finished


def test_a_final_phase_is_the_end_whatever_the_containers_say() -> None:
    assert two(running(), running(), phase="Failed").finished


def test_result_end_reads_the_last_state_of_a_restarted_sidecar() -> None:
    pod = make_pod("p", container=exited(0), git=waiting("PodInitializing"))
    assert PodView(pod).terminated is None  # still "being restarted" for finished()
    pod["status"]["initContainerStatuses"][0]["lastState"] = exited(137, "Error")
    assert PodView(pod).result_end == exited(137, "Error")["terminated"]
    pod["status"]["initContainerStatuses"][0]["state"] = exited(143)
    assert PodView(pod).result_end == exited(143)["terminated"]  # the current end first
