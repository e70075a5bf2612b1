"""The agent image comes from a real registry, as on a real cluster: no ``kind load``.

The session pushed the agent image to the registry beside the cluster
(``tests/e2e/registry.py``) and made that reference every spawn's image through
``SPECKIT_PODS_IMAGE``, the configuration a user sets once. Checked from outside: the
node never got the image under its build name, the agent pod's image is the registry's
digest, and a tag the registry lacks fails as a pull from that registry, diagnosed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pytest_kind import KindCluster

from tests.e2e import registry
from tests.e2e.cluster import NAMESPACE, Kubectl, node_names, pinned_versions, wait_for
from tests.e2e.conftest import Feature, result_line, spawn, tail_all


def _pod(kubectl: Kubectl, name: str) -> Any:
    return json.loads(kubectl.run("get", "pod", name, "-n", NAMESPACE, "-o", "json").stdout)


def test_agent_pods_run_the_image_the_node_pulled_from_the_registry(
    make_feature: Callable[[list[str]], Feature],
    installed: Kubectl,
    e2e_cluster: KindCluster,
    e2e_registry: registry.Registry,
    agent_image: str,
) -> None:
    feature = make_feature(["- [ ] T070 [ASYNC] Write T070 scripted:write"])
    pod = spawn(feature, "T070", "--cleanup", "never")
    done = tail_all({pod: ["--timeout", "3m"]}, cwd=feature.clone)[pod]
    assert done.returncode == 0, done.stdout + done.stderr
    assert " RESULT status=" in result_line(done)

    spec = _pod(installed, pod)
    statuses = spec["status"]["initContainerStatuses"] + spec["status"]["containerStatuses"]
    digest = e2e_registry.digest(agent_image)
    repository = agent_image.rsplit(":", 1)[0]
    for status in statuses:
        assert status["image"] == agent_image, status
        assert status["imageID"] == f"{repository}@{digest}", status  # the registry's manifest
    build_name = pinned_versions()["AGENT_IMAGE"]
    ran_on = str(spec["spec"]["nodeName"])
    assert agent_image in registry.node_images(ran_on), ran_on  # pulled there
    for node in node_names(e2e_cluster):
        held = registry.node_images(node)
        assert build_name not in held, f"{node} holds {build_name}: it was side-loaded"
    installed.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false")


def test_a_tag_the_registry_lacks_is_a_pull_error_from_that_registry(
    make_feature: Callable[[list[str]], Feature],
    installed: Kubectl,
    e2e_registry: registry.Registry,
    agent_image: str,
) -> None:
    feature = make_feature(["- [ ] T071 [ASYNC] Never starts scripted:noop"])
    missing = agent_image.rsplit(":", 1)[0] + ":no-such-tag"
    assert not e2e_registry.has(missing)
    pod = spawn(feature, "T071", "--image", missing, "--cleanup", "never")
    try:
        waiting = wait_for(
            f"{pod} waiting on the image pull",
            lambda: _pull_error(installed, pod),
            timeout=120,
        )
        reason, message = waiting
        assert reason in ("ErrImagePull", "ImagePullBackOff"), waiting
        assert f"{registry.HOST}:{registry.PORT}" in message and "not found" in message, waiting
    finally:
        installed.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false", check=False)


def _pull_error(kubectl: Kubectl, pod: str) -> tuple[str, str] | None:
    status = _pod(kubectl, pod).get("status") or {}
    for container in status.get("initContainerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff") and waiting.get("message"):
            return str(waiting["reason"]), str(waiting["message"])
    return None
