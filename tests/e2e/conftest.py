"""Fixtures for the hermetic e2e: kind cluster, Gitea, scripted LLM, installed manifests.

Everything is real except the LLM: a kind cluster built from the locally built node
image, Gitea in a container on the ``kind`` docker network, our agent image loaded
into the node, and the real ``opencode`` binary inside each agent pod talking to the
scripted OpenAI-compatible server on the host.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cluster import (
    NAMESPACE,
    REPO_ROOT,
    Kubectl,
    docker_network_gateway,
    make_cluster,
    pinned_versions,
)
from tests.e2e.gitea import GiteaServer, git, gitea_server
from tests.support import scripted_llm

SPAWN = REPO_ROOT / "scripts" / "spawn-pod.sh"
TAIL = REPO_ROOT / "scripts" / "tail-logs.sh"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def kubeconfig(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A kind cluster from the locally built node image; deleted unless --keep-cluster."""
    versions = pinned_versions()
    # --cluster-name and --keep-cluster are pytest-kind's own options
    name = str(request.config.getoption("cluster_name"))
    if name == "pytest-kind":
        name = "speckit-pods-e2e"
    cluster = make_cluster(name, versions["NODE_IMAGE"])
    cluster.load_docker_image(versions["AGENT_IMAGE"])
    path = Path(cluster.kubeconfig_path)
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = previous
    if not request.config.getoption("keep_cluster"):
        cluster.delete()


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path) -> Kubectl:
    return Kubectl(kubeconfig)


@pytest.fixture(scope="session")
def llm() -> Iterator[scripted_llm.ScriptedLLMServer]:
    """The scripted LLM on the host, reachable from pods through the kind network gateway."""
    server = scripted_llm.start("0.0.0.0", 0)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llm_cluster_url(llm: scripted_llm.ScriptedLLMServer, kubeconfig: Path) -> str:
    port = llm.server_address[1]
    return f"http://{docker_network_gateway('kind')}:{port}/v1"


@pytest.fixture(scope="session")
def gitea(kubeconfig: Path) -> Iterator[GiteaServer]:
    with gitea_server("kind", image=pinned_versions()["GITEA_IMAGE"]) as server:
        yield server


@pytest.fixture(scope="session")
def installed(kubectl: Kubectl, gitea: GiteaServer, llm_cluster_url: str) -> Kubectl:
    """``kubectl apply -k manifests/``, the agent config pointed at the scripted LLM,
    and the secrets created the documented way (value on stdin, never in argv)."""
    kubectl.run("apply", "-k", str(REPO_ROOT / "manifests"))
    config = json.loads((REPO_ROOT / "manifests" / "agent-config" / "opencode.json").read_text())
    config.update(scripted_llm.opencode_config(llm_cluster_url))
    rendered = kubectl.run(
        "create", "configmap", "speckit-pods-agent-config", "-n", NAMESPACE,
        "--from-literal=opencode.json=" + json.dumps(config), "--dry-run=client", "-o", "yaml",
    ).stdout  # fmt: skip
    kubectl.run("apply", "-f", "-", input_text=rendered)
    create_secret(kubectl, "speckit-pods-git", "token", gitea.auth.token)
    create_secret(kubectl, "speckit-pods-llm", "LLM_API_KEY", "scripted")
    return kubectl


def create_secret(kubectl: Kubectl, name: str, key: str, value: str) -> None:
    """Create or replace a Secret with the value on stdin (as the README documents)."""
    kubectl.run("delete", "secret", name, "-n", NAMESPACE, "--ignore-not-found")
    kubectl.run(
        "create", "secret", "generic", name, "-n", NAMESPACE, f"--from-file={key}=/dev/stdin",
        input_text=value,
    )  # fmt: skip


TASKS_TEMPLATE = """\
# Tasks: {feature}

## Phase 1: Setup

- [X] T001 [SYNC] Create the project skeleton

## Phase 2: Agents

{tasks}

## Notes

- [P] tasks = different files, no dependencies
"""


@dataclass(frozen=True)
class Feature:
    """A spec-kit feature pushed to Gitea and cloned locally."""

    repo: str  # Gitea repo name
    name: str  # feature dir name, e.g. 001-e2e-1a2b3c4d
    clone: Path  # local working copy (the developer's checkout)
    remote_url: str  # clone URL as pods see it (no credentials)

    @property
    def tasks_file(self) -> Path:
        return self.clone / "specs" / self.name / "tasks.md"

    @property
    def feature_dir(self) -> Path:
        return self.tasks_file.parent

    def branch(self, task_id: str) -> str:
        return f"specs/{self.name}/{task_id}-async"


@pytest.fixture
def make_feature(
    gitea: GiteaServer, tmp_path: Path, installed: Kubectl
) -> Callable[[list[str]], Feature]:
    """Factory: a repo in Gitea holding a spec-kit feature with the given task lines."""

    def factory(task_lines: list[str]) -> Feature:
        suffix = uuid.uuid4().hex[:8]
        repo, name = f"e2e-{suffix}", f"001-e2e-{suffix}"
        files = {
            "README.md": "# e2e sample\n",
            f"specs/{name}/spec.md": "# Spec\n\nAgents write files named in their tasks.\n",
            f"specs/{name}/plan.md": "# Plan\n\nPlain text files under scripted/.\n",
            f"specs/{name}/tasks.md": TASKS_TEMPLATE.format(
                feature=name, tasks="\n".join(task_lines)
            ),
        }
        gitea.create_repo(repo, files)
        clone = tmp_path / repo
        git(["clone", "-q", gitea.clone_url(repo), str(clone)], cwd=tmp_path, auth=gitea.auth)
        return Feature(repo, name, clone, gitea.clone_url(repo, cluster=True))

    return factory


def run_script(
    script: Path, *args: str, cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run one of our scripts the way a subagent does; never raises on exit codes."""
    return subprocess.run(
        ["bash", str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
