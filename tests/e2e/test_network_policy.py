"""The shipped NetworkPolicy, attacked on the real cluster (kube-router enforcing it).

An idle pod carrying the agent labels (``netpol-agent``) and one without them
(``netpol-control``), both in the speckit-pods namespace under Pod Security
"restricted", try the same connections. Every blocked case has its positive control:
the unlabelled pod makes the very connection the agent pod cannot, so a pass means
enforcement, not a broken network. Targets are this test's own, inside the cluster:

- the API server: the ``kubernetes`` Service IP on 443 and the node IP on 6443;
- ``target``: a pod (TCP 80, UDP 53) and its Service in a namespace of its own;
- ``decoy``: a host-network pod on the node: TCP 80 on the node IP (allowed by the
  policy: the agent pod's own positive control), UDP 53 on the node IP, and TCP 80 on
  DECOY_ADDRESS, an address of the CGNAT range the policy excepts (100.64.0.0/10),
  put on the node's loopback for this test. The whole range is blackholed in the
  node first, so no packet for it can leave the test network even if the address were
  missing. No other address outside the cluster is ever contacted.

Each attempt is bounded (CONNECT_TIMEOUT_S); the policy is in force before the first
assertion (the fixture waits for the agent pod to be blocked while the control passes).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from pytest_kind import KindCluster

from tests.e2e.cluster import (
    NAMESPACE,
    REPO_ROOT,
    Kubectl,
    node_exec,
    node_name,
    node_names,
    wait_for,
)
from tests.e2e.network_policy import (
    AGENT_LABELS,
    ENFORCE_TIMEOUT_S,
    Check,
    Outcome,
    apply,
    client_pod,
    listener_pod,
    namespace_object,
    pod_ip,
    probe,
    recreate_namespace,
    wait_ready,
)

TARGET_NS = "speckit-pods-e2e-netpol-target"
TARGET = {"app": "target"}
AGENT_POD = "netpol-agent"
CONTROL_POD = "netpol-control"
DECOY_ADDRESS = "100.64.7.7"
DECOY_GUARD = "100.64.0.0/10"  # blackholed in the node while the test runs


@dataclass(frozen=True)
class Lab:
    """The pods and addresses of the attack."""

    kubectl: Kubectl
    api_service_ip: str  # the `kubernetes` Service
    api_endpoint: tuple[str, int]  # what it forwards to: the node IP, 6443
    node_ip: str
    dns_service_ip: str  # kube-dns
    target_pod_ip: str
    target_service_ip: str

    def agent(self, *checks: Check) -> list[Outcome]:
        return probe(self.kubectl, NAMESPACE, AGENT_POD, checks)

    def control(self, *checks: Check) -> list[Outcome]:
        return probe(self.kubectl, NAMESPACE, CONTROL_POD, checks)


def shipped_policy_objects(kubectl: Kubectl) -> list[Any]:
    """The Namespace and NetworkPolicy of ``kubectl kustomize manifests/`` (as shipped).

    Only those two: applying the rest would reset the agent config an earlier
    ``installed`` pointed at this session's scripted LLM.
    """
    rendered = kubectl.run("kustomize", str(REPO_ROOT / "manifests")).stdout
    docs = [doc for doc in yaml.safe_load_all(rendered) if doc]
    wanted = [doc for doc in docs if doc["kind"] in ("Namespace", "NetworkPolicy")]
    assert {doc["kind"] for doc in wanted} == {"Namespace", "NetworkPolicy"}, rendered
    return wanted


def place_decoy_address(node: str) -> None:
    """Blackhole DECOY_GUARD in the node, then put DECOY_ADDRESS on its loopback.

    Checked before use: the node routes DECOY_ADDRESS locally and the rest of the range
    nowhere, so no probe of it can leave the node.
    """
    node_exec(node, "ip", "route", "replace", "blackhole", DECOY_GUARD)
    node_exec(node, "ip", "address", "replace", f"{DECOY_ADDRESS}/32", "dev", "lo")
    local = node_exec(node, "ip", "-4", "route", "get", DECOY_ADDRESS)
    assert local.startswith(f"local {DECOY_ADDRESS} dev lo"), local
    guard = node_exec(node, "ip", "-4", "route", "show", "type", "blackhole")
    assert DECOY_GUARD in guard, guard


def remove_decoy_address(node: str) -> None:
    """Undo :func:`place_decoy_address` (the address first, the guard last)."""
    node_exec(node, "ip", "address", "del", f"{DECOY_ADDRESS}/32", "dev", "lo", check=False)
    node_exec(node, "ip", "route", "del", "blackhole", DECOY_GUARD, check=False)


def delete_pods(kubectl: Kubectl, *, wait: bool) -> None:
    kubectl.run(
        "delete", "pod", "-n", NAMESPACE, AGENT_POD, CONTROL_POD, "--ignore-not-found",
        f"--wait={str(wait).lower()}", "--timeout=60s",
    )  # fmt: skip


@pytest.fixture(scope="module")
def lab(
    cluster_lock: None,
    network_policy_enforcer: None,
    e2e_cluster: KindCluster,
    kubectl: Kubectl,
) -> Iterator[Lab]:
    apply(kubectl, *shipped_policy_objects(kubectl))
    nodes = node_names(e2e_cluster)  # on every node: a probe pod runs on any of them
    try:
        for node in nodes:
            place_decoy_address(node)
        recreate_namespace(kubectl, namespace_object(TARGET_NS, restricted=False))
        delete_pods(kubectl, wait=True)
        target_service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "target", "namespace": TARGET_NS},
            "spec": {
                "selector": TARGET,
                "ports": [
                    {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 80},
                    {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53},
                ],
            },
        }
        pods = [
            listener_pod("target", TARGET_NS, ["tcp:0.0.0.0:80", "udp:0.0.0.0:53"], TARGET),
            listener_pod(
                "decoy", TARGET_NS,
                [f"tcp:{DECOY_ADDRESS}:80", "tcp:$(HOST_IP):80", "udp:$(HOST_IP):53"],
                host_network=True,
            ),
            client_pod(AGENT_POD, NAMESPACE, AGENT_LABELS),
            client_pod(CONTROL_POD, NAMESPACE, {}),
        ]  # fmt: skip
        # all on the control plane (nodeName passes its NoSchedule taint): the decoy is
        # the node's own address, and the API server listens on that node's IP
        for pod in pods:
            pod["spec"]["nodeName"] = node_name(e2e_cluster.name)
        apply(kubectl, target_service, *pods)
        wait_ready(kubectl, TARGET_NS, "target", "decoy")
        wait_ready(kubectl, NAMESPACE, AGENT_POD, CONTROL_POD)
        endpoints = kubectl.json("get", "endpointslice", "-n", "default", "kubernetes")
        lab = Lab(
            kubectl=kubectl,
            api_service_ip=service_ip(kubectl, "default", "kubernetes"),
            api_endpoint=(endpoints["endpoints"][0]["addresses"][0], endpoints["ports"][0]["port"]),
            node_ip=str(kubectl.json("get", "pod", "-n", TARGET_NS, "decoy")["status"]["hostIP"]),
            dns_service_ip=service_ip(kubectl, "kube-system", "kube-dns"),
            target_pod_ip=pod_ip(kubectl, TARGET_NS, "target"),
            target_service_ip=service_ip(kubectl, TARGET_NS, "target"),
        )
        in_force = Check("tcp", lab.target_pod_ip, 80)

        def enforced() -> bool:
            return lab.control(in_force)[0].reached_listener and not lab.agent(in_force)[0].ok

        wait_for("the shipped policy on the agent pod", enforced, timeout=ENFORCE_TIMEOUT_S)
        yield lab
    finally:
        delete_pods(kubectl, wait=True)  # no agent-labelled pod left for the next tests
        kubectl.run("delete", "namespace", TARGET_NS, "--ignore-not-found", "--wait=false")
        for node in nodes:
            remove_decoy_address(node)


def service_ip(kubectl: Kubectl, namespace: str, name: str) -> str:
    return str(kubectl.json("get", "service", "-n", namespace, name)["spec"]["clusterIP"])


def assert_blocked(outcomes: Sequence[Outcome]) -> None:
    reached = [o for o in outcomes if o.ok]
    assert not reached, f"the agent pod got through: {reached}"


def assert_reached(outcomes: Sequence[Outcome], *, listener: bool = True) -> None:
    missed = [o for o in outcomes if not (o.reached_listener if listener else o.ok)]
    assert not missed, f"positive control failed (network, not policy?): {missed}"


def test_api_server_is_unreachable_from_an_agent_pod(lab: Lab) -> None:
    host, port = lab.api_endpoint
    assert host == lab.node_ip, "one-node kind: the API server listens on the node IP"
    checks = (Check("tcp", lab.api_service_ip, 443), Check("tcp", host, port))
    assert_reached(lab.control(*checks), listener=False)
    assert_blocked(lab.agent(*checks))
    # the same host on a port the policy allows: the agent pod has a network
    assert_reached(lab.agent(Check("tcp", lab.node_ip, 80)))


def test_an_in_cluster_service_is_unreachable_from_an_agent_pod(lab: Lab) -> None:
    checks = (
        Check("tcp", lab.target_service_ip, 80),  # the Service IP (service range excepted)
        Check("tcp", lab.target_pod_ip, 80),  # the pod IP (pod range excepted)
        Check("tcp", f"target.{TARGET_NS}.svc.cluster.local", 80),  # by name, via kube-dns
    )
    assert_reached(lab.control(*checks))
    assert_blocked(lab.agent(*checks))


def test_dns_goes_to_kube_dns_only(lab: Lab) -> None:
    kube_dns = Check("udp", lab.dns_service_ip, 53)
    kube_dns_tcp = Check("tcp", lab.dns_service_ip, 53)
    others = (
        Check("udp", lab.node_ip, 53),  # outside every excepted range: only the port rule
        Check("udp", lab.target_pod_ip, 53),
        Check("udp", lab.target_service_ip, 53),
    )
    for outcome in [*lab.agent(kube_dns), *lab.control(kube_dns)]:
        assert outcome.ok and outcome.dns, f"kube-dns did not answer: {outcome}"
    assert_reached(lab.agent(kube_dns_tcp), listener=False)
    assert_reached(lab.control(*others))
    assert_blocked(lab.agent(*others))


def test_a_decoy_in_the_cgnat_range_is_unreachable_from_an_agent_pod(lab: Lab) -> None:
    decoy = Check("tcp", DECOY_ADDRESS, 80)
    same_listener_allowed_range = Check("tcp", lab.node_ip, 80)
    assert_reached(lab.control(decoy, same_listener_allowed_range))
    assert_reached(lab.agent(same_listener_allowed_range))
    assert_blocked(lab.agent(decoy))
