"""manifests/quota.yaml: the default agent pod fits the LimitRange, and 11 of them the quota."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.kube.quota import RESOURCES, pod_usage, pods_that_fit
from runtime.spawn import manifests
from tests.unit.spawn.test_manifests import all_containers, spec, validate

QUOTA_FILE = Path(__file__).resolve().parents[3] / "manifests" / "quota.yaml"
DEFAULT_PODS = 11  # what the file's comment promises


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(QUOTA_FILE.read_text(encoding="utf-8")) if d]
    return {d["kind"]: d for d in docs}


def _q(value: str) -> Decimal:
    from kubernetes.utils.quantity import parse_quantity

    return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call]


def test_both_objects_are_valid_and_in_the_namespace(objects: dict[str, dict[str, Any]]) -> None:
    assert set(objects) == {"ResourceQuota", "LimitRange"}
    for obj in objects.values():
        validate(obj)
        assert obj["metadata"]["namespace"] == "speckit-pods"


def test_every_container_of_the_default_pod_is_within_the_limit_range(
    objects: dict[str, dict[str, Any]],
) -> None:
    (rule,) = objects["LimitRange"]["spec"]["limits"]
    assert rule["type"] == "Container"
    pod = manifests.render_pod(spec())
    containers = all_containers(pod)
    assert {c["name"] for c in containers} == {"agent", "git", "llm-proxy"}
    for container in containers:
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == set(rule["max"]), container["name"]
            for name, value in container["resources"][kind].items():
                assert _q(value) <= _q(rule["max"][name]), (container["name"], kind, name)
    for name, value in rule["default"].items():  # a container that sets nothing is sane
        assert _q(rule["defaultRequest"][name]) <= _q(value) <= _q(rule["max"][name])


def test_the_agent_containers_largest_limits_fit_the_limit_range(
    objects: dict[str, dict[str, Any]],
) -> None:
    (rule,) = objects["LimitRange"]["spec"]["limits"]
    big = manifests.render_pod(spec(resources=manifests.resources_with_limits("4", "8Gi")))
    agent = big["spec"]["containers"][0]["resources"]["limits"]
    assert _q(agent["cpu"]) == _q(rule["max"]["cpu"])
    assert _q(agent["memory"]) == _q(rule["max"]["memory"])


def test_the_quota_admits_eleven_default_pods_and_not_twelve(
    objects: dict[str, dict[str, Any]],
) -> None:
    quota = objects["ResourceQuota"]
    usage = pod_usage(manifests.render_pod(spec()))
    assert pods_that_fit(quota, usage) == DEFAULT_PODS
    hard = {name: _q(value) for name, value in quota["spec"]["hard"].items()}
    assert set(hard) == set(usage)  # every resource the pod uses is limited
    assert hard.pop("pods") > DEFAULT_PODS
    for name, limit in hard.items():  # each holds 11: none is sized for far more
        assert DEFAULT_PODS * usage[name] <= limit < (DEFAULT_PODS + 1) * usage[name], name


def test_the_pod_shape_the_comment_shows_is_the_rendered_one() -> None:
    usage = pod_usage(manifests.render_pod(spec()))
    text = QUOTA_FILE.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("#   one pod"))
    figures = row.split()[3:]
    names = [f"{k}.{r}" for k in ("requests", "limits") for r in RESOURCES]
    assert {n: _q(f) for n, f in zip(names, figures, strict=True)} == {n: usage[n] for n in names}
