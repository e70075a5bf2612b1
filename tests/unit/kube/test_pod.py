from __future__ import annotations

from runtime.kube.pod import PodView, as_plain


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
