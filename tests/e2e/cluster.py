"""The throwaway kind cluster the e2e runs on, and small kubectl helpers."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pytest_kind import KindCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = REPO_ROOT / ".cache" / "bin"
KIND_CONFIG = REPO_ROOT / "hack" / "kind-config.yaml"
BRIDGE_CONFLIST = REPO_ROOT / "hack" / "bootstrap" / "node" / "files" / "etc" / "cni" / "net.d"
BRIDGE_CONFLIST = BRIDGE_CONFLIST / "10-bridge.conflist"
POD_SUBNET = "10.244.0.0/16"  # hack/kind-config.yaml's podSubnet; node i gets 10.244.i.0/24
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


def kubeconfig_path(name: str) -> Path:
    """Where :func:`make_cluster` keeps the kubeconfig of cluster ``name`` (its directory
    also holds the per-node files of a cluster with workers)."""
    return REPO_ROOT / ".pytest-kind" / name / "kubeconfig"


def make_cluster(
    name: str, node_image: str, *, adopt: bool = False, workers: int = 0
) -> KindCluster:
    """Create (or reuse) the kind cluster ``name``, its kubeconfig under ``.pytest-kind``.

    With ``workers``, a control plane and that many worker nodes, their pods networked
    by :func:`multi_node_config` and :func:`route_pod_subnets`; else one node.

    A cluster of that name whose kubeconfig this checkout does not hold is a leftover
    of a run that was killed, or of another checkout: its state is unknown. By default
    it is deleted and made anew (the e2e's cluster is throwaway); with ``adopt`` its
    kubeconfig is exported and it is reused (the demo's cluster is meant to live on).
    pytest-kind alone would find the cluster, skip creating it and fail on the empty
    kubeconfig.
    """
    kubeconfig = kubeconfig_path(name)
    kind = tool("kind")
    cluster = KindCluster(
        name,
        kubeconfig=kubeconfig,
        image=node_image,
        kind_path=kind,
        kubectl_path=tool("kubectl"),
    )
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)  # pytest-kind makes its own in cwd
    if cluster_exists(kind, name) and not holds_kubeconfig(kubeconfig):
        if adopt:
            print(f"kind cluster {name} exists without our kubeconfig: exporting it", flush=True)
            export = [str(kind), "export", "kubeconfig", f"--name={name}"]
            subprocess.run([*export, f"--kubeconfig={kubeconfig}"], check=True)
        else:
            print(f"kind cluster {name} is a leftover of another run: deleting it", flush=True)
            cluster.delete()
    if not workers:
        cluster.create(config_file=KIND_CONFIG)
        return cluster
    cluster.create(config_file=multi_node_config(kubeconfig.parent, workers))
    route_pod_subnets(node_names(cluster))
    return cluster


# --- several nodes: the pod network, without a CNI daemon ------------------------------
# The node image's bridge conflist hands out the whole pod subnet, right for one node.
# With several, each node's bridge gets its own /24 (a conflist mounted over the image's
# by kind), every node routes the others' /24 to them over the `kind` docker network,
# and masquerades only what leaves the pod subnet: pod-to-pod traffic keeps its source
# address, so NetworkPolicy (kube-router's firewall) sees the real peer on every node.
# No kindnetd image can be built offline (not on the Go proxy); this is what it does.


def node_subnet(index: int) -> str:
    """The pod /24 of node ``index`` (0 = the control plane)."""
    return f"10.244.{index}.0/24"


def multi_node_config(directory: Path, workers: int) -> Path:
    """hack/kind-config.yaml with ``workers`` worker nodes, each with its own pod /24.

    Writes, in ``directory``, one bridge conflist per node (the image's, with that
    node's subnet and no masquerade of its own) and the kind config mounting them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(KIND_CONFIG.read_text())
    template = json.loads(BRIDGE_CONFLIST.read_text())
    nodes: list[dict[str, Any]] = []
    for index in range(workers + 1):
        conflist = json.loads(json.dumps(template))
        bridge = conflist["plugins"][0]
        bridge["ipMasq"] = False  # route_pod_subnets masquerades what leaves the subnet
        bridge["ipam"]["ranges"] = [[{"subnet": node_subnet(index)}]]
        path = directory / f"node{index}-bridge.conflist"
        path.write_text(json.dumps(conflist, indent=2) + "\n")
        mount = {"hostPath": str(path), "containerPath": "/etc/cni/net.d/10-bridge.conflist"}
        role = "control-plane" if index == 0 else "worker"
        nodes.append({"role": role, "extraMounts": [{**mount, "readOnly": True}]})
    config["nodes"] = nodes
    path = directory / "kind-config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


NODE_EXEC_TIMEOUT_S = 30


def node_exec(node: str, *args: str, check: bool = True) -> str:
    """Run a command in the kind node container (bounded); its stdout."""
    done = subprocess.run(
        ["docker", "exec", node, *args],
        capture_output=True, text=True, timeout=NODE_EXEC_TIMEOUT_S, check=check,
    )  # fmt: skip
    return done.stdout


def _node_ip(node: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.NetworkSettings.Networks.kind.IPAddress}}", node],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return out.strip()


def _mounted_subnet(node: str) -> str:
    conflist = json.loads(node_exec(node, "cat", "/etc/cni/net.d/10-bridge.conflist"))
    return str(conflist["plugins"][0]["ipam"]["ranges"][0][0]["subnet"])


def route_pod_subnets(nodes: list[str]) -> None:
    """Route every node's pod /24 to it from the others; masquerade what leaves the subnet.

    Idempotent (``ip route replace``, ``iptables -C`` before ``-A``).
    """
    subnets = {node: _mounted_subnet(node) for node in nodes}
    addresses = {node: _node_ip(node) for node in nodes}
    masquerade = ["-s", POD_SUBNET, "'!'", "-d", POD_SUBNET, "-j", "MASQUERADE"]
    for node in nodes:
        for other in nodes:
            if other != node:
                node_exec(node, "ip", "route", "replace", subnets[other], "via", addresses[other])
        rule = " ".join(masquerade)
        node_exec(node, "sh", "-c", f"iptables -t nat -C POSTROUTING {rule} 2>/dev/null"
                  f" || iptables -t nat -A POSTROUTING {rule}")  # fmt: skip


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


def agent_nodes(cluster: KindCluster) -> list[str]:
    """The nodes agent pods run on: the workers, or the control plane of a one-node cluster.

    kind taints the control plane when there are workers (NoSchedule).
    """
    nodes = node_names(cluster)
    workers = [node for node in nodes if not node.endswith("-control-plane")]
    return workers or nodes


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
