"""The git token stays secret, the agent has no API rights, Pod Security is enforced."""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml

from runtime.spawn.manifests import to_yaml
from tests.e2e.cluster import NAMESPACE, Kubectl, pinned_versions
from tests.e2e.conftest import (
    SPAWN,
    Feature,
    create_feature,
    result_line,
    run_script,
    spawn,
    tail_all,
)
from tests.e2e.gitea import GiteaServer

AGENT_SA = f"system:serviceaccount:{NAMESPACE}:speckit-pods-agent"
CHUNK = 8 << 20


@dataclass(frozen=True)
class Ran:
    feature: Feature
    pod: str
    tail: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def ran(
    gitea: GiteaServer, installed: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ran]:
    """One agent pod that cloned and pushed with the token, kept for inspection."""
    feature = create_feature(
        gitea,
        tmp_path_factory.mktemp("security"),
        ["- [ ] T060 [ASYNC] Write with the real token scripted:write"],
    )
    pod = spawn(feature, "T060", "--cleanup", "never")
    done = tail_all({pod: ["--timeout", "4m"]}, cwd=feature.clone)[pod]
    yield Ran(feature, pod, done)
    installed.run("delete", "pod", pod, "-n", NAMESPACE, "--ignore-not-found", "--wait=false")


def _forms(token: str) -> list[str]:
    """The token as such and base64-encoded (as a Secret's data holds it)."""
    return [token, base64.b64encode(token.encode()).decode()]


def test_git_token_is_nowhere_in_the_pod_its_log_or_configmaps(
    ran: Ran, gitea: GiteaServer, installed: Kubectl
) -> None:
    assert "RESULT status=succeeded" in result_line(ran.tail)  # the token was used
    token = gitea.auth.token
    secret = installed.run(
        "get", "secret", "speckit-pods-git", "-n", NAMESPACE, "-o", "jsonpath={.data.token}"
    ).stdout  # fmt: skip
    assert base64.b64decode(secret).decode() == token  # we look for the right value
    places = {
        "tail-logs output": ran.tail.stdout + ran.tail.stderr,
        "pod log": installed.run("logs", ran.pod, "-n", NAMESPACE).stdout,
        "pod yaml": installed.run("get", "pod", ran.pod, "-n", NAMESPACE, "-o", "yaml").stdout,
        "describe pod": installed.run("describe", "pod", ran.pod, "-n", NAMESPACE).stdout,
        "configmaps": installed.run("get", "configmaps", "-n", NAMESPACE, "-o", "yaml").stdout,
        "events": installed.run("get", "events", "-n", NAMESPACE, "-o", "yaml").stdout,
    }
    assert "scripted/T060.txt" in places["pod log"]  # the log is the real one
    for where, text in places.items():
        for form in _forms(token):
            assert form not in text, f"git token found in {where}"


def test_git_token_is_in_no_layer_of_the_agent_image(gitea: GiteaServer) -> None:
    image = pinned_versions()["AGENT_IMAGE"]
    needles = [form.encode() for form in _forms(gitea.auth.token)]
    control = b"SPECKIT_POD_RESULT"  # in runtime/contract/outcome.py: proves layers are searchable
    found = _scan_docker_save(image, [*needles, control])
    assert control in found, "docker save output not searchable (compressed layers?)"
    assert not found & set(needles), "git token found in the agent image"


def _scan_docker_save(image: str, needles: list[bytes]) -> set[bytes]:
    """Which ``needles`` occur in the ``docker save`` stream (read in overlapping chunks)."""
    overlap = max(len(n) for n in needles)
    found: set[bytes] = set()
    with subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        tail = b""
        while chunk := proc.stdout.read(CHUNK):
            window = tail + chunk
            found.update(n for n in needles if n in window)
            tail = window[-overlap:]
    assert proc.returncode == 0, f"docker save {image} failed"
    return found


@pytest.mark.parametrize("verb_resource", ["list pods", "get secrets", "create pods"])
def test_agent_service_account_has_no_api_rights(installed: Kubectl, verb_resource: str) -> None:
    verb, resource = verb_resource.split()
    args = ["auth", "can-i", verb, resource, "-n", NAMESPACE]
    assert installed.run(*args, check=False).stdout.strip() == "yes"  # admin: the check works
    denied = installed.run(*args, f"--as={AGENT_SA}", check=False)
    assert denied.stdout.strip() == "no" and denied.returncode == 1, denied


def test_namespace_enforces_pod_security_restricted(installed: Kubectl) -> None:
    ns_labels = installed.json("get", "namespace", NAMESPACE)["metadata"]["labels"]
    assert ns_labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_restricted_rejects_a_privileged_pod_and_admits_ours(ran: Ran, installed: Kubectl) -> None:
    image = pinned_versions()["AGENT_IMAGE"]
    bad = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"e2e-psa-{uuid.uuid4().hex[:8]}", "namespace": NAMESPACE},
        "spec": {
            "containers": [{"name": "c", "image": image, "securityContext": {"privileged": True}}]
        },
    }
    rejected = installed.run(
        "apply", "--dry-run=server", "-f", "-", input_text=yaml.safe_dump(bad), check=False
    )
    assert rejected.returncode != 0, rejected.stdout
    assert 'violates PodSecurity "restricted:latest"' in rejected.stderr, rejected.stderr

    rendered = run_script(
        SPAWN, "--task-id", "T060", "--branch", ran.feature.branch("T060") + "-psa",
        "--repo", ran.feature.remote_url, "--context-dir", str(ran.feature.feature_dir),
        "--base", "main", "--dry-run", cwd=ran.feature.clone,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    pods = [d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "Pod"]
    assert len(pods) == 1
    pods[0]["metadata"]["name"] += "-psa"  # the real one of T060 still exists
    admitted = installed.run(
        "apply", "--dry-run=server", "-f", "-", input_text=to_yaml([pods[0]]), check=False
    )
    assert admitted.returncode == 0, admitted.stderr
    assert "PodSecurity" not in admitted.stderr, admitted.stderr  # not even a warning
    # and the real agent pod was admitted and ran to success
    phase = installed.run(
        "get", "pod", ran.pod, "-n", NAMESPACE, "-o", "jsonpath={.status.phase}"
    ).stdout  # fmt: skip
    assert phase == "Succeeded"
