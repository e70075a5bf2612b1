"""NetworkPolicy enforcement on the e2e cluster: kube-router's firewall controller.

``tests/e2e/conftest.py`` makes ``installed`` depend on :func:`network_policy_enforcer`
and applies :func:`test_hosts_policy` for the session's Gitea and scripted LLM.

The enforcer: ``hack/bootstrap/kube-router.sh`` builds the image offline,
``hack/kube-router.yaml`` runs it (firewall only, beside the node's bridge CNI). The
fixture loads the image into the node, applies the manifest, waits for the DaemonSet,
then proves enforcement on two pods of its own (a deny-all policy blocks a connection
that worked before it, and removing the policy restores it) before any test relies on
it (about 10 s on a warm cluster). Once per cluster per session (``ensure_enforcer``);
left installed at the end.

Also here: the in-pod listener and probe scripts and the pod builders the network
policy e2e (``test_network_policy.py``) attacks the shipped policy with.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import yaml
from pytest_kind import KindCluster

from runtime.kube import labels
from tests.e2e import registry
from tests.e2e.cluster import REPO_ROOT, Kubectl, pinned_versions, wait_for

ENFORCER_MANIFEST = REPO_ROOT / "hack" / "kube-router.yaml"
ENFORCER_NAMESPACE = "kube-system"
ENFORCER_DAEMONSET = "kube-router"
PROBE_NAMESPACE = "speckit-pods-e2e-netpol-probe"
TEST_HOSTS_POLICY = "speckit-pods-e2e-test-hosts"
AGENT_LABELS = {labels.MANAGED_BY: labels.TOOL_NAME, labels.COMPONENT: "agent"}
E2E_LABELS = {"app.kubernetes.io/part-of": "speckit-pods-e2e"}
BANNER = "speckit-pods-netpol-listener"
RUNTIME_UID = 10001
ROLLOUT_TIMEOUT_S = 120
READY_TIMEOUT_S = 120
ENFORCE_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 3.0

# The listener, run in a pod: one thread per "tcp:ADDR:PORT" / "udp:ADDR:PORT" argument.
# TCP: sends BANNER and closes. UDP: answers every datagram with BANNER + a space + the
# datagram. Writes /tmp/ready once every socket is bound (the readiness probe's file).
LISTENER = f"""
import socket, sys, threading
def tcp(sock):
    while True:
        conn, _ = sock.accept()
        with conn:
            conn.sendall(b"{BANNER}\\n")
def udp(sock):
    while True:
        data, peer = sock.recvfrom(2048)
        sock.sendto(b"{BANNER} " + data, peer)
threads = []
for spec in sys.argv[1:]:
    proto, addr, port = spec.split(":")
    if proto == "tcp":
        sock = socket.create_server((addr, int(port)))
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((addr, int(port)))
    threads.append(threading.Thread(target=tcp if proto == "tcp" else udp, args=(sock,)))
for thread in threads:
    thread.start()
open("/tmp/ready", "w").close()
print("listening on", *sys.argv[1:], flush=True)
"""

# The probe, run in a pod: argv[1] is the per-attempt timeout, then one "PROTO:HOST:PORT"
# per check (tcp: connect, then read what the peer sends first; udp: send a DNS query for
# kubernetes.default.svc.cluster.local and read one datagram). One JSON line per check.
PROBE = """
import json, os, socket, struct, sys
timeout = float(sys.argv[1])
def dns_query():
    qid = os.urandom(2)
    labels = b"kubernetes.default.svc.cluster.local".split(b".")
    name = b"".join(bytes([len(label)]) + label for label in labels) + b"\\0"
    header = struct.pack(">HHHHH", 0x0100, 1, 0, 0, 0)
    return qid, qid + header + name + struct.pack(">HH", 1, 1)
def check(proto, host, port):
    out = {"check": f"{proto}:{host}:{port}", "ok": False, "detail": "", "reply": "", "dns": False}
    family = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, family)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
        if proto == "tcp":
            out["ok"], out["detail"] = True, "connected"
            sock.settimeout(1.0)
            try:
                out["reply"] = sock.recv(256).decode(errors="replace").strip()
            except OSError:
                pass
        else:
            qid, query = dns_query()
            sock.send(query)
            data = sock.recv(2048)
            out["ok"], out["detail"] = True, "answered"
            out["dns"] = len(data) >= 12 and data[:2] == qid and bool(data[2] & 0x80)
            if not out["dns"]:
                out["reply"] = data.decode(errors="replace").split(" ", 1)[0]
    except TimeoutError:
        out["detail"] = "timeout"
    except OSError as err:
        out["detail"] = type(err).__name__ + ": " + str(err)
    finally:
        sock.close()
    return out
for spec in sys.argv[2:]:
    proto, host, port = spec.split(":")
    print(json.dumps(check(proto, host, int(port))), flush=True)
"""


@dataclass(frozen=True)
class Check:
    """One connection attempt from a pod: TCP connect, or a DNS query over UDP."""

    proto: Literal["tcp", "udp"]
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.proto}:{self.host}:{self.port}"


@dataclass(frozen=True)
class Outcome:
    """What one :class:`Check` saw: ``ok`` (connected / answered), ``reply``, ``dns``."""

    check: str
    ok: bool
    detail: str
    reply: str  # what a TCP peer sent first; the first word of a UDP answer (not DNS)
    dns: bool  # the UDP answer is a DNS response to the query sent

    @property
    def reached_listener(self) -> bool:
        """The attempt reached one of our listeners (it answered with the banner)."""
        return self.ok and self.reply == BANNER


def probe(kubectl: Kubectl, namespace: str, pod: str, checks: Sequence[Check]) -> list[Outcome]:
    """Run ``checks`` in ``pod`` (one ``kubectl exec``; each attempt bounded)."""
    args = ["exec", "-n", namespace, pod, "--", "python3", "-c", PROBE, str(CONNECT_TIMEOUT_S)]
    budget = len(checks) * (CONNECT_TIMEOUT_S + 1.5) + 20
    done = subprocess.run(
        [str(kubectl.path), *args, *map(str, checks)],
        capture_output=True, text=True, env=kubectl.env, timeout=budget, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"probe in {namespace}/{pod} failed: {done.stderr.strip()}")
    outcomes = [Outcome(**json.loads(line)) for line in done.stdout.splitlines() if line]
    if len(outcomes) != len(checks):
        raise RuntimeError(f"probe in {namespace}/{pod} printed {done.stdout!r}")
    return outcomes


def restricted_security_context() -> dict[str, Any]:
    """A container meeting Pod Security "restricted"."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": RUNTIME_UID,
        "runAsGroup": RUNTIME_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod(
    name: str, namespace: str, pod_labels: Mapping[str, str], container: dict[str, Any]
) -> Any:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**E2E_LABELS, **pod_labels},
        },
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 1,
            "restartPolicy": "Never",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    # the agent image, as the node pulls it from the e2e's registry
                    "image": registry.in_cluster_ref(pinned_versions()["AGENT_IMAGE"]),
                    "imagePullPolicy": "IfNotPresent",
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi"},
                        "limits": {"memory": "64Mi"},
                    },
                    **container,
                }
            ],
        },
    }


def client_pod(name: str, namespace: str, pod_labels: Mapping[str, str]) -> Any:
    """An idle restricted pod of the agent image to run :func:`probe` in."""
    return _pod(
        name,
        namespace,
        pod_labels,
        {
            "name": "client",
            "command": ["tini", "--", "sleep", "infinity"],
            "securityContext": restricted_security_context(),
        },
    )


def listener_pod(
    name: str,
    namespace: str,
    listen: Sequence[str],
    pod_labels: Mapping[str, str] | None = None,
    *,
    host_network: bool = False,
) -> Any:
    """A pod running :data:`LISTENER` on ``listen`` ("tcp:ADDR:PORT", "udp:ADDR:PORT").

    ``$(HOST_IP)`` in an address is the node's IP. A pod-network listener runs restricted
    (ports below 1024 through the safe sysctl ``net.ipv4.ip_unprivileged_port_start``);
    a ``host_network`` one runs as root (the node's network namespace takes no sysctl).
    """
    container: dict[str, Any] = {
        "name": "listener",
        "command": ["python3", "-u", "-c", LISTENER, *listen],
        "env": [{"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}],
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1},
    }
    pod = _pod(name, namespace, pod_labels or {}, container)
    if host_network:
        pod["spec"]["hostNetwork"] = True
        container_security = {
            "runAsUser": 0,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        }
    else:
        pod["spec"]["securityContext"]["sysctls"] = [
            {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
        ]
        container_security = restricted_security_context()
    pod["spec"]["containers"][0]["securityContext"] = container_security
    return pod


def namespace_object(name: str, *, restricted: bool = True) -> Any:
    """A Namespace of the e2e's own (Pod Security "restricted" enforced by default)."""
    ns_labels = dict(E2E_LABELS)
    if restricted:
        ns_labels["pod-security.kubernetes.io/enforce"] = "restricted"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": ns_labels},
    }


def apply(kubectl: Kubectl, *objects: Any) -> None:
    """``kubectl apply`` the objects (a List on stdin)."""
    body = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    kubectl.run("apply", "-f", "-", input_text=json.dumps(body))


def recreate_namespace(kubectl: Kubectl, namespace: Any) -> None:
    """Delete a leftover of the namespace (waiting until it is gone), then create it."""
    name = namespace["metadata"]["name"]
    kubectl.run("delete", "namespace", name, "--ignore-not-found", "--wait=true", "--timeout=90s")
    apply(kubectl, namespace)


def wait_ready(kubectl: Kubectl, namespace: str, *pods: str) -> None:
    """Until every pod is Ready (bounded)."""
    kubectl.run(
        "wait", "-n", namespace, "--for=condition=Ready", f"--timeout={READY_TIMEOUT_S}s",
        *(f"pod/{pod}" for pod in pods),
    )  # fmt: skip


def pod_ip(kubectl: Kubectl, namespace: str, pod: str) -> str:
    """The pod's IP (the pod is Ready)."""
    ip = str(kubectl.json("get", "pod", "-n", namespace, pod)["status"].get("podIP", ""))
    if not ip:
        raise RuntimeError(f"pod {namespace}/{pod} has no IP")
    return ip


def test_hosts_policy(namespace: str, allowed: list[tuple[str, int]]) -> dict[str, Any]:
    """An extra NetworkPolicy letting the agent pods reach the e2e's own test hosts.

    One egress rule per ``(ip, port)``: TCP to ``ip/32`` on ``port`` only (e.g. the
    e2e's Gitea container on the kind network, port 3000, and the scripted LLM on the
    kind network's gateway, a random port). Policies add up, so the shipped policy's
    rules still hold. Only private (RFC 1918) IPv4 addresses are accepted.
    """
    egress = []
    for ip, port in allowed:
        address = ipaddress.IPv4Address(ip)
        if not address.is_private or address.is_link_local or address.is_loopback:
            raise ValueError(f"{ip} is not a private test-network address")
        if not 0 < port < 65536:
            raise ValueError(f"bad port {port} for {ip}")
        egress.append(
            {
                "to": [{"ipBlock": {"cidr": f"{address}/32"}}],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": TEST_HOSTS_POLICY, "namespace": namespace, "labels": dict(E2E_LABELS)},
        "spec": {
            "podSelector": {"matchLabels": dict(AGENT_LABELS)},
            "policyTypes": ["Egress"],
            "egress": egress,
        },
    }


test_hosts_policy.__test__ = False  # type: ignore[attr-defined]  # not a test: pytest, skip it


def enforcer_objects() -> list[Any]:
    """``hack/kube-router.yaml`` with the DaemonSet's image set to the pinned one."""
    image = pinned_versions()["KUBE_ROUTER_IMAGE"]
    objects = [doc for doc in yaml.safe_load_all(ENFORCER_MANIFEST.read_text()) if doc]
    for doc in objects:
        if doc["kind"] == "DaemonSet":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                container["image"] = image
    return objects


def install_enforcer(cluster: KindCluster, kubectl: Kubectl) -> None:
    """Load the image into the node, apply the manifest, wait for the DaemonSet."""
    cluster.load_docker_image(pinned_versions()["KUBE_ROUTER_IMAGE"])
    apply(kubectl, *enforcer_objects())
    kubectl.run(
        "rollout", "status", "-n", ENFORCER_NAMESPACE, f"daemonset/{ENFORCER_DAEMONSET}",
        f"--timeout={ROLLOUT_TIMEOUT_S}s",
    )  # fmt: skip


def prove_enforcement(kubectl: Kubectl) -> None:
    """A deny-all ingress policy blocks a connection that worked, its removal restores it.

    Two pods of the probe namespace: a listener on 8080 and a client. Fails (TimeoutError)
    unless each state is reached within ENFORCE_TIMEOUT_S.
    """
    ns = PROBE_NAMESPACE
    recreate_namespace(kubectl, namespace_object(ns))
    apply(
        kubectl,
        listener_pod("server", ns, ["tcp:0.0.0.0:8080"], {"app": "server"}),
        client_pod("client", ns, {"app": "client"}),
    )
    wait_ready(kubectl, ns, "server", "client")
    check = Check("tcp", pod_ip(kubectl, ns, "server"), 8080)
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny-all-ingress", "namespace": ns},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }

    def reached() -> bool:
        return probe(kubectl, ns, "client", [check])[0].reached_listener

    wait_for("the probe client to reach the server", reached, timeout=ENFORCE_TIMEOUT_S)
    apply(kubectl, deny)
    wait_for("a deny-all policy to block it", lambda: not reached(), timeout=ENFORCE_TIMEOUT_S)
    kubectl.run("delete", "networkpolicy", "-n", ns, "deny-all-ingress")
    wait_for("its removal to let it through", reached, timeout=ENFORCE_TIMEOUT_S)
    kubectl.run("delete", "namespace", ns, "--wait=false")


# Removes what kube-router's firewall left in the node's filter table and ipsets, for the
# backend holding it (v2.1.0's own --cleanup-config cleans nothing of the firewall's and
# then crashes in the service proxy's cleanup). Run in the node's network namespace.
DOCKER_TIMEOUT_S = 60

_ENFORCED: set[str] = set()  # kubeconfigs whose cluster proved enforcement this session


def ensure_enforcer(cluster: KindCluster, kubectl: Kubectl) -> None:
    """Install the enforcer and prove it, once per cluster per session."""
    key = str(kubectl.kubeconfig)
    if key in _ENFORCED:
        return
    start = time.monotonic()
    install_enforcer(cluster, kubectl)
    installed_s = time.monotonic() - start
    prove_enforcement(kubectl)
    total_s = time.monotonic() - start
    print(
        f"network policy enforcer: installed in {installed_s:.1f} s, "
        f"enforcement proved after {total_s:.1f} s",
        flush=True,
    )
    _ENFORCED.add(key)


@pytest.fixture(scope="session")
def network_policy_enforcer(e2e_cluster: KindCluster, kubectl: Kubectl) -> Iterator[None]:
    """NetworkPolicy is enforced on the cluster (kube-router's firewall; proved, see above).

    Left installed at the end: the cluster is throwaway, and a kept one is reused as is.
    """
    ensure_enforcer(e2e_cluster, kubectl)
    yield
