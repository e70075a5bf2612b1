"""The throwaway kind cluster the e2e runs on, and small kubectl helpers."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pytest_kind import KindCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = REPO_ROOT / ".cache" / "bin"
KIND_CONFIG = REPO_ROOT / "hack" / "kind-config.yaml"
VERSIONS_FILE = REPO_ROOT / "hack" / "bootstrap" / "versions.env"
NAMESPACE = "speckit-pods"

T = TypeVar("T")


def pinned_versions() -> dict[str, str]:
    """Read ``hack/bootstrap/versions.env`` (KEY=value lines)."""
    versions: dict[str, str] = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip().strip('"')
    return versions


def tool(name: str) -> Path:
    """Path of a bootstrap-built tool (kind, kubectl), falling back to PATH."""
    local = BIN_DIR / name
    if local.exists():
        return local
    found = subprocess.run(["which", name], capture_output=True, text=True, check=False)
    if found.returncode == 0:
        return Path(found.stdout.strip())
    raise FileNotFoundError(f"{name} not found in {BIN_DIR} or PATH; run `nox -s images`")


def make_cluster(name: str, node_image: str, *, adopt: bool = False) -> KindCluster:
    """Create (or reuse) the kind cluster ``name``, its kubeconfig under ``.pytest-kind``.

    A cluster of that name whose kubeconfig this checkout does not hold is a leftover
    of a run that was killed, or of another checkout: its state is unknown. By default
    it is deleted and made anew (the e2e's cluster is throwaway); with ``adopt`` its
    kubeconfig is exported and it is reused (the demo's cluster is meant to live on).
    pytest-kind alone would find the cluster, skip creating it and fail on the empty
    kubeconfig.
    """
    kubeconfig = REPO_ROOT / ".pytest-kind" / name / "kubeconfig"
    kind = tool("kind")
    cluster = KindCluster(
        name,
        kubeconfig=kubeconfig,
        image=node_image,
        kind_path=kind,
        kubectl_path=tool("kubectl"),
    )
    if cluster_exists(kind, name) and not holds_kubeconfig(kubeconfig):
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        if adopt:
            print(f"kind cluster {name} exists without our kubeconfig: exporting it", flush=True)
            export = [str(kind), "export", "kubeconfig", f"--name={name}"]
            subprocess.run([*export, f"--kubeconfig={kubeconfig}"], check=True)
        else:
            print(f"kind cluster {name} is a leftover of another run: deleting it", flush=True)
            cluster.delete()
    cluster.create(config_file=KIND_CONFIG)
    return cluster


def cluster_exists(kind: Path, name: str) -> bool:
    """Whether kind knows a cluster called ``name``."""
    out = subprocess.run(
        [str(kind), "get", "clusters"], capture_output=True, text=True, check=True
    ).stdout
    return name in out.split()


def holds_kubeconfig(path: Path) -> bool:
    """Whether ``path`` is a kubeconfig with a current context (not missing, not empty)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return False
    return any(
        line.startswith("current-context:") and line.split(":", 1)[1].strip()
        for line in text.splitlines()
    )


def node_names(cluster: KindCluster) -> list[str]:
    """The docker containers of the cluster's nodes (``kind get nodes``)."""
    out = subprocess.run(
        [str(cluster.kind_path), "get", "nodes", f"--name={cluster.name}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return out.split()


def node_name(cluster_name: str) -> str:
    """The docker container of a one-node kind cluster."""
    return f"{cluster_name}-control-plane"


def docker_network_gateway(network: str = "kind") -> str:
    """IPv4 gateway of a docker network: the host as seen from pods."""
    out = subprocess.run(
        ["docker", "network", "inspect", network], capture_output=True, text=True, check=True
    ).stdout
    for cfg in json.loads(out)[0]["IPAM"]["Config"]:
        gateway = str(cfg.get("Gateway", ""))
        if gateway and ":" not in gateway:
            return gateway
    raise RuntimeError(f"docker network {network!r} has no IPv4 gateway")


class Kubectl:
    """``kubectl`` bound to one kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.path = tool("kubectl")

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def run(
        self, *args: str, input_text: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.path), *args],
            input=input_text,
            capture_output=True,
            text=True,
            env=self.env,
            check=check,
        )

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def pods(self, selector: str, namespace: str = NAMESPACE) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = self.json("get", "pods", "-n", namespace, "-l", selector)[
            "items"
        ]
        return items


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 120.0, interval: float = 0.5
) -> T:
    """Return the first truthy ``probe()`` result, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
