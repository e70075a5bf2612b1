"""Fixtures for the hermetic e2e: kind cluster, Gitea, scripted LLM, installed manifests.

Everything is real except the LLM: a kind cluster built from the locally built node
image, Gitea in a container on the ``kind`` docker network, our agent image pushed to
a real registry beside it that the node pulls from, and the real ``opencode`` binary
inside each agent pod talking to the scripted OpenAI-compatible server on the host.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pytest_kind import KindCluster

from runtime.kube import labels
from runtime.spawn.names import label_value
from tests.e2e import network_policy, registry
from tests.e2e.cluster import (
    NAMESPACE,
    REPO_ROOT,
    Kubectl,
    docker_network_gateway,
    make_cluster,
    node_names,
    pinned_versions,
    wait_for,
)
from tests.e2e.gitea import GiteaServer, git, gitea_server
from tests.support import scripted_llm

SPAWN = REPO_ROOT / "scripts" / "spawn-pod.sh"
TAIL = REPO_ROOT / "scripts" / "tail-logs.sh"
SESSION_LOCK_TIMEOUT_S = 1800.0
# worker nodes of the e2e cluster (besides the control plane, which runs no agent pod);
# 0 gives the one-node cluster of the demo
WORKERS = int(os.environ.get("SPECKIT_PODS_E2E_WORKERS", "2"))
# what opencode in the pod is configured with: the LLM proxy's route to LLM_BASE_URL
PROXIED_LLM_URL = "{env:SPECKIT_LLM_PROXY_URL}/llm"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)
    # a drained or restarted node is back for the next test, but nothing else should
    # depend on how well: the node faults run last (stable sort keeps their order)
    items.sort(key=lambda item: item.get_closest_marker("node_fault") is not None)


@pytest.fixture(scope="session")
def kind_cluster(request: pytest.FixtureRequest) -> Iterator[KindCluster]:
    """A kind cluster from the node image (built or pulled); deleted unless --keep-cluster."""
    # --cluster-name and --keep-cluster are pytest-kind's own options
    name = str(request.config.getoption("cluster_name"))
    if name == "pytest-kind":
        name = "speckit-pods-e2e"
    cluster = make_cluster(name, pinned_versions()["NODE_IMAGE"], workers=WORKERS)
    yield cluster
    if not request.config.getoption("keep_cluster"):
        cluster.delete()


@pytest.fixture(scope="session")
def e2e_registry(kind_cluster: KindCluster) -> Iterator[registry.Registry]:
    """A real registry on the kind network, which every node's containerd pulls from."""
    with registry.registry_server("kind", pinned_versions()["REGISTRY_IMAGE"]) as server:
        for node in node_names(kind_cluster):
            registry.trust_on_node(node)
        yield server


@pytest.fixture(scope="session")
def agent_image(e2e_registry: registry.Registry) -> Iterator[str]:
    """The agent image pushed to the registry: the reference the node pulls.

    Every spawn's image for the session (``SPECKIT_PODS_IMAGE``, the ``--image``
    default): no ``kind load``, so an agent pod's first start on a node is a real pull.
    """
    image = e2e_registry.push(pinned_versions()["AGENT_IMAGE"])
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPECKIT_PODS_IMAGE", image)
        yield image


@pytest.fixture(scope="session")
def e2e_cluster(kind_cluster: KindCluster, agent_image: str) -> KindCluster:
    """The cluster, ready for agent pods: the registry beside it holds the agent image."""
    return kind_cluster


@pytest.fixture(scope="session")
def kubeconfig(e2e_cluster: KindCluster) -> Iterator[Path]:
    """The cluster's kubeconfig, also exported as KUBECONFIG for the scripts under test."""
    path = Path(e2e_cluster.kubeconfig_path)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KUBECONFIG", str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def insecure_http_to_gitea() -> Iterator[None]:
    """Gitea speaks http://: every spawn in this session lets the git side send the token.

    Without the opt-in the pod's git side refuses to send it over cleartext (the
    ``--allow-insecure-http`` spawn flag, read from the environment by default).
    """
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPECKIT_PODS_ALLOW_INSECURE_HTTP", "1")
        yield


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
def developer_git(gitea: GiteaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The developer's git, as on their machine: a global config whose credential store
    holds their Gitea token (never the environment), for what the host side reads with
    their git -- a dependent task's prerequisites' branches, ``--verify-remote``."""
    home = tmp_path_factory.mktemp("developer-git")
    store = gitea.auth.credential_store(
        home / "git-credentials", [gitea.host_url, gitea.cluster_url]
    )
    config = home / "gitconfig"
    config.write_text(f"[credential]\n\thelper = store --file {store}\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GIT_CONFIG_GLOBAL", str(config))
        yield config


@pytest.fixture(scope="session")
def cluster_lock(kubeconfig: Path) -> Iterator[None]:
    """Serialise e2e sessions on one cluster: ``installed`` points the namespace's git
    Secret and agent config at *this* session's Gitea and LLM, so two concurrent
    sessions (``--keep-cluster``) would break each other's pods."""
    with (kubeconfig.parent / "e2e-session.lock").open("a") as handle:
        wait_for(
            "the other e2e session on this cluster to end",
            lambda: _try_lock(handle.fileno()),
            timeout=SESSION_LOCK_TIMEOUT_S,
            interval=2,
        )
        yield
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@pytest.fixture(scope="session")
def llm_key() -> str:
    """The LLM key of this session: only the pods' LLM proxy may ever hold it."""
    return f"sk-speckit-e2e-{secrets.token_hex(16)}"


# the session fixture, registered here by assignment (an import would be ruff F811 once
# `installed` names it as a parameter): the cluster enforces NetworkPolicy (kube-router)
network_policy_enforcer = network_policy.network_policy_enforcer


@pytest.fixture(scope="session")
def installed(
    kubectl: Kubectl,
    gitea: GiteaServer,
    llm_cluster_url: str,
    llm_key: str,
    cluster_lock: None,
    network_policy_enforcer: None,
    developer_git: Path,
) -> Kubectl:
    """``kubectl apply -k manifests/`` on a cluster that enforces its NetworkPolicy, the
    agent config pointed at the pod's LLM proxy, the proxy's route to the scripted LLM,
    and the secrets created the documented way (value on stdin, never in argv)."""
    install(kubectl, REPO_ROOT / "manifests", NAMESPACE, gitea, llm_cluster_url, llm_key)
    return kubectl


def install(
    kubectl: Kubectl,
    kustomization: Path,
    namespace: str,
    gitea: GiteaServer,
    llm_cluster_url: str,
    llm_key: str,
) -> None:
    """Apply ``kustomization`` (the manifests, or an overlay of them for ``namespace``),
    then point ``namespace``'s agent pods at this session's Gitea and scripted LLM."""
    kubectl.run("apply", "-k", str(kustomization))
    # the shipped policy allows TCP 80/443/22 only: let the agent pods reach this
    # session's Gitea (port 3000 on the kind network) and scripted LLM (the gateway), as
    # an operator's overlay would name their git and LLM hosts
    hosts = [urlsplit(url) for url in (gitea.cluster_url, llm_cluster_url)]
    allowed = [(str(u.hostname), int(u.port or 80)) for u in hosts]
    policy = network_policy.test_hosts_policy(namespace, allowed)
    kubectl.run("apply", "-f", "-", input_text=json.dumps(policy))
    config = json.loads((REPO_ROOT / "manifests" / "agent-config" / "opencode.json").read_text())
    config.update(scripted_llm.opencode_config(PROXIED_LLM_URL))
    rendered = kubectl.run(
        "create", "configmap", "speckit-pods-agent-config", "-n", namespace,
        "--from-literal=opencode.json=" + json.dumps(config), "--dry-run=client", "-o", "yaml",
    ).stdout  # fmt: skip
    kubectl.run("apply", "-f", "-", input_text=rendered)
    create_secret(kubectl, "speckit-pods-git", "token", gitea.auth.token, namespace=namespace)
    create_secret(
        kubectl, "speckit-pods-llm", "LLM_API_KEY", llm_key, {"LLM_BASE_URL": llm_cluster_url},
        namespace=namespace,
    )  # fmt: skip


def create_secret(
    kubectl: Kubectl,
    name: str,
    key: str,
    value: str,
    plain: Mapping[str, str] | None = None,
    namespace: str = NAMESPACE,
) -> None:
    """Create or replace a Secret with the value on stdin (as the README documents);
    ``plain`` holds keys that are no secret (a base URL), given as literals."""
    kubectl.run("delete", "secret", name, "-n", namespace, "--ignore-not-found")
    literals = [f"--from-literal={k}={v}" for k, v in (plain or {}).items()]
    kubectl.run(
        "create", "secret", "generic", name, "-n", namespace, f"--from-file={key}=/dev/stdin",
        *literals, input_text=value,
    )  # fmt: skip


@pytest.fixture
def git_secret(installed: Kubectl, gitea: GiteaServer) -> Iterator[str]:
    """Our own git Secret: the shared cluster's default one may hold another run's token."""
    name = f"e2e-git-{uuid.uuid4().hex[:8]}"
    create_secret(installed, name, "token", gitea.auth.token)
    yield name
    installed.run("delete", "secret", name, "-n", NAMESPACE, "--ignore-not-found")


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
        return create_feature(gitea, tmp_path, task_lines)

    return factory


def create_feature(gitea: GiteaServer, workdir: Path, task_lines: list[str]) -> Feature:
    """A new Gitea repo holding a spec-kit feature with ``task_lines``, cloned in ``workdir``."""
    suffix = uuid.uuid4().hex[:8]
    repo, name = f"e2e-{suffix}", f"001-e2e-{suffix}"
    files = {
        "README.md": "# e2e sample\n",
        f"specs/{name}/spec.md": "# Spec\n\nAgents write files named in their tasks.\n",
        f"specs/{name}/plan.md": "# Plan\n\nPlain text files under scripted/.\n",
        f"specs/{name}/tasks.md": TASKS_TEMPLATE.format(feature=name, tasks="\n".join(task_lines)),
    }
    gitea.create_repo(repo, files)
    clone = workdir / repo
    git(["clone", "-q", gitea.clone_url(repo), str(clone)], cwd=workdir, auth=gitea.auth)
    return Feature(repo, name, clone, gitea.clone_url(repo, cluster=True))


def run_script(
    script: Path,
    *args: str,
    cwd: Path,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one of our scripts the way a subagent does; never raises on exit codes."""
    return subprocess.run(
        ["bash", str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**(os.environ if env is None else env), "NO_COLOR": "1"},
        check=False,
    )


def spawn(feature: Feature, task_id: str, *extra: str) -> str:
    """``spawn-pod.sh`` for ``task_id`` of ``feature``; asserts success, returns the pod name."""
    result = run_script(
        SPAWN,
        "--task-id", task_id,
        "--branch", feature.branch(task_id),
        "--repo", feature.remote_url,
        "--context-dir", str(feature.feature_dir),
        "--base", "main",
        "--timeout", "10m",
        *extra,
        cwd=feature.clone,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pod = result.stdout.strip()
    assert pod and "\n" not in pod, f"spawn must print exactly the pod name, got {result.stdout!r}"
    return pod


def tail_all(
    jobs: Mapping[str, Sequence[str]], cwd: Path, env: Mapping[str, str] | None = None
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run ``tail-logs.sh POD ARGS...`` for every ``pod -> args`` at once; wait for all."""
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        futures = {
            pod: pool.submit(
                run_script, TAIL, pod, "--namespace", NAMESPACE, *args, cwd=cwd, env=env
            )
            for pod, args in jobs.items()
        }
        return {pod: future.result() for pod, future in futures.items()}


def result_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one ``RESULT`` summary line of a ``tail-logs.sh`` run (asserts there is one)."""
    lines = [line for line in done.stdout.splitlines() if " RESULT " in line]
    assert len(lines) == 1, f"want one RESULT line\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return lines[0]


def task_configmap(kubectl: Kubectl, pod: str) -> str:
    """The name of the task ConfigMap ``pod`` mounts (one per spawn: it carries the run id)."""
    volumes = kubectl.json("get", "pod", pod, "-n", NAMESPACE)["spec"]["volumes"]
    return str(next(v["configMap"]["name"] for v in volumes if v["name"] == "task"))


def feature_objects(kubectl: Kubectl, kind: str, feature: Feature) -> list[str]:
    """Names of the ``kind`` objects (pods, configmaps) labelled with ``feature``."""
    selector = f"{labels.FEATURE}={label_value(feature.name)}"
    out = kubectl.run(
        "get", kind, "-n", NAMESPACE, "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"
    ).stdout  # fmt: skip
    return sorted(out.split())
