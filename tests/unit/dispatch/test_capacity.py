from __future__ import annotations

from typing import Any

from runtime.dispatch.capacity import default_max_parallel, pod_shape
from runtime.kube.client import Kube
from runtime.kube.quota import pod_usage
from runtime.spawn import manifests
from runtime.spawn.create import SpawnOptions
from tests.unit.fakes import api_exception
from tests.unit.spawn.test_manifests import spec

TEMPLATE = SpawnOptions(task_id="")


class QuotaCore:
    """The ResourceQuota list of a namespace, or a refusal to list it."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def list_namespaced_resource_quota(self, namespace: str, **kwargs: Any) -> Any:
        self.asked.append(namespace)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return {"items": self.answer}


def quota(name: str, hard: dict[str, str], used: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"hard": hard},
        "status": {"hard": hard, "used": used},
    }


def kube(answer: Any) -> Kube:
    return Kube(core=QuotaCore(answer), namespace="team-a")


def test_the_shape_is_the_pod_spawn_renders() -> None:
    assert pod_usage(pod_shape(TEMPLATE)) == pod_usage(manifests.render_pod(spec()))
    bigger = pod_usage(pod_shape(SpawnOptions(task_id="", cpu="4", memory="8Gi")))
    assert bigger["limits.cpu"] == 4 + 1 + 0.5 and bigger["limits.memory"] > 8 * 2**30


def test_a_quota_with_room_for_fewer_lowers_the_default_and_says_so() -> None:
    # 2 pods of 320m requested cpu fit in the 700m left; the pods count would allow 8
    k = kube(
        [
            quota(
                "speckit-pods",
                {"pods": "10", "requests.cpu": "3"},
                {"pods": "2", "requests.cpu": "2300m"},
            )
        ]
    )
    assert default_max_parallel(k, TEMPLATE) == (
        2,
        "max-parallel 2 (quota speckit-pods allows 2 more pods of this shape)",
    )
    assert k.core.asked == ["team-a"]


def test_a_quota_with_more_room_keeps_the_default_and_says_how_much() -> None:
    k = kube([quota("speckit-pods", {"pods": "20"}, {"pods": "0"})])
    assert default_max_parallel(k, TEMPLATE) == (
        3,
        "max-parallel 3 (quota speckit-pods allows 20 more pods of this shape)",
    )


def test_a_full_quota_still_allows_one_the_queue_waits_for_the_rest() -> None:
    k = kube([quota("q", {"pods": "3"}, {"pods": "3"})])
    assert default_max_parallel(k, TEMPLATE)[0] == 1


def test_the_tightest_of_several_quotas_wins() -> None:
    k = kube([
        quota("loose", {"pods": "20"}, {"pods": "1"}),
        quota("memory", {"limits.memory": "8Gi"}, {"limits.memory": "0"}),  # 3328Mi a pod
    ])  # fmt: skip
    assert default_max_parallel(k, TEMPLATE) == (
        2,
        "max-parallel 2 (quota memory allows 2 more pods of this shape)",
    )


def test_no_quota_or_no_right_to_read_them_is_the_old_default_silently() -> None:
    assert default_max_parallel(kube([]), TEMPLATE) == (3, "")
    assert default_max_parallel(kube(api_exception(403, "Forbidden")), TEMPLATE) == (3, "")
