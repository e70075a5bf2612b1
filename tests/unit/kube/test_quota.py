from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from runtime.kube.quota import Allowance, allowance, pod_usage, pods_that_fit, read_quotas, refusal
from tests.unit.fakes import api_exception

# the API server's words (plugin/pkg/admission/resourcequota): only the exceeded resources
EXCEEDED = (
    'pods "sp-001-x-t004-1a2b3c" is forbidden: exceeded quota: speckit-pods, '
    "requested: limits.memory=3328Mi,pods=1, used: limits.memory=33280Mi,pods=10, "
    "limited: limits.memory=36Gi,pods=10"
)


def container(name: str, requests: dict[str, str], limits: dict[str, str], **extra: Any) -> Any:
    return {"name": name, "resources": {"requests": requests, "limits": limits}, **extra}


def quota(hard: dict[str, str], used: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "q"},
        "spec": {"hard": hard, **spec},
        "status": {"hard": hard, "used": used},
    }


def test_a_quota_refusal_names_the_quota_and_each_exceeded_resource() -> None:
    found = refusal(EXCEEDED)
    assert found is not None
    assert (found.quota, found.resources) == ("speckit-pods", ("limits.memory", "pods"))
    assert found.describe() == (
        "limits.memory (requested 3328Mi, used 33280Mi, limit 36Gi), "
        "pods (requested 1, used 10, limit 10)"
    )


def test_a_quota_whose_usage_is_not_computed_yet_is_a_refusal_too() -> None:
    found = refusal("pods is forbidden: status unknown for quota: speckit-pods, resources: pods")
    assert found is not None and found.quota == "speckit-pods" and found.resources == ()


@pytest.mark.parametrize(
    "message",
    [
        'pods "x" is forbidden: User "bob" cannot create resource "pods"',
        "pods is forbidden: failed quota: q: must specify limits.cpu for: agent",
        "",
    ],
)
def test_other_denials_are_no_quota_refusal(message: str) -> None:
    assert refusal(message) is None


def test_a_pod_counts_its_sidecars_with_its_containers_and_its_largest_init_step() -> None:
    pod = {
        "spec": {
            "initContainers": [
                container("sidecar", {"cpu": "50m", "memory": "64Mi"}, {"cpu": "1"},
                          restartPolicy="Always"),
                # a plain init step runs beside the sidecar started before it: 50m + 2
                container("migrate", {"cpu": "2"}, {"cpu": "2"}),
            ],
            "containers": [
                container("main", {"cpu": "250m", "memory": "768Mi"}, {"memory": "2Gi"}),
                container("other", {}, {"cpu": "500m"}),  # no request: the limit
            ],
        }
    }  # fmt: skip
    usage = pod_usage(pod)
    assert usage["pods"] == 1
    assert usage["requests.cpu"] == Decimal("2.05")  # the init step, not 0.8 running
    assert usage["requests.memory"] == (64 + 768) * 2**20
    assert usage["limits.cpu"] == 3  # sidecar 1 + init step 2, more than 1 + 0.5 running
    assert usage["limits.memory"] == 2 * 2**30


def test_how_many_more_pods_fit_is_the_tightest_resource() -> None:
    usage = {"pods": Decimal(1), "requests.cpu": Decimal("0.32"), "limits.memory": Decimal(2**30)}
    free = quota(
        {"pods": "20", "cpu": "4", "limits.memory": "8Gi", "services": "3"},
        {"pods": "3", "cpu": "2", "limits.memory": "5Gi", "services": "3"},
    )
    assert pods_that_fit(free, usage) == 3  # limits.memory: 3Gi left; cpu (requests) 6
    full = quota({"pods": "3"}, {"pods": "3"})
    assert pods_that_fit(full, usage) == 0
    assert pods_that_fit(quota({"services": "3"}, {}), usage) is None  # limits no pod
    over = quota({"pods": "3"}, {"pods": "5"})  # lowered below its use
    assert pods_that_fit(over, usage) == 0


def test_quotas_of_scopes_an_agent_pod_is_not_in_are_left_out() -> None:
    usage = {"pods": Decimal(1)}
    assert pods_that_fit(quota({"pods": "1"}, {}, scopes=["NotTerminating"]), usage) is None
    assert pods_that_fit(quota({"pods": "1"}, {}, scopes=["BestEffort"]), usage) is None
    assert pods_that_fit(quota({"pods": "2"}, {}, scopes=["Terminating"]), usage) == 2
    selector = {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "Exists"}]}
    assert pods_that_fit(quota({"pods": "1"}, {}, scopeSelector=selector), usage) is None


def test_the_allowance_is_the_tightest_quota() -> None:
    pod = {"spec": {"containers": [container("a", {"cpu": "1"}, {"cpu": "1"})]}}
    loose = {**quota({"pods": "10"}, {"pods": "1"}), "metadata": {"name": "loose"}}
    tight = {**quota({"limits.cpu": "4"}, {"limits.cpu": "2"}), "metadata": {"name": "tight"}}
    assert allowance([loose, tight], pod) == Allowance(2, "tight")
    assert allowance([], pod) is None


class QuotaCore:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def list_namespaced_resource_quota(self, namespace: str, **kwargs: Any) -> Any:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def test_reading_quotas_does_without_when_refused() -> None:
    assert read_quotas(QuotaCore({"items": [{"metadata": {"name": "q"}}]}), "ns") == [
        {"metadata": {"name": "q"}}
    ]
    assert read_quotas(QuotaCore({"items": []}), "ns") == []
    assert read_quotas(QuotaCore(api_exception(403, "Forbidden")), "ns") is None
