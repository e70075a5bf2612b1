"""The log stream breaks while a pod runs; ``tail-logs.sh`` loses and repeats nothing.

Two ways it breaks on real clusters: the connection is cut (load balancer, proxy,
idle timeout), and the API server itself restarts (upgrade, crash).  Either way the
lines ``tail-logs.sh`` printed must equal the pod's full log from ``kubectl logs``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pytest_kind import KindCluster

from tests.e2e.cluster import NAMESPACE, Kubectl, node_name, wait_for
from tests.e2e.conftest import Feature
from tests.e2e.follower import Follower, printer_pod
from tests.support.tcp_proxy import TcpProxy


def _proxied_kubeconfig(kubectl: Kubectl, proxy_dir: Path) -> tuple[Path, tuple[str, int]]:
    config = yaml.safe_load(kubectl.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    host, _, port = server.removeprefix("https://").rpartition(":")
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:{port}"
    path = proxy_dir / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path, (host, int(port))


def _wait_line(tail: Follower, number: int, timeout: float = 120) -> None:
    mark = f"line {number:03d}"
    try:
        wait_for(mark, lambda: tail.saw(mark), timeout, 0.05)
    except TimeoutError as err:
        raise AssertionError(f"{err}\n{tail.dump()}") from err


def _assert_streamed_everything(tail: Follower, rc: int, full: list[str], lines: int) -> None:
    assert len(full) == lines, tail.dump()
    streamed = [line.split("] ", 1)[1] for line in tail.lines if " RESULT " not in line]
    assert streamed == full, tail.dump()
    assert rc == 9, tail.dump()  # exit 0 without a result line is unknown, not success


@pytest.mark.timeout(600)
def test_log_stream_cut_loses_and_repeats_nothing(
    make_feature: Callable[[list[str]], Feature], installed: Kubectl, tmp_path: Path
) -> None:
    lines = 150
    feature = make_feature(["- [ ] T520 [ASYNC] Print lines scripted:noop"])
    pod = printer_pod(feature, "T520", installed, lines)
    template, upstream = _proxied_kubeconfig(installed, tmp_path)
    proxy = TcpProxy(upstream)
    template.write_text(template.read_text().replace("{port}", str(proxy.port)))
    tail = Follower([pod], feature.clone, {**installed.env, "KUBECONFIG": str(template)})
    try:
        cuts = 0
        for after in (20, 60, 100):
            _wait_line(tail, after)
            cuts += proxy.cut()
        rc = tail.wait(timeout=180)
        full = installed.run("logs", pod, "-n", NAMESPACE).stdout.splitlines()
    finally:
        proxy.close()
        installed.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false", check=False)
    assert cuts >= 3 and proxy.accepted > 3, (cuts, proxy.accepted)
    _assert_streamed_everything(tail, rc, full, lines)


def _apiserver_container(node: str) -> str:
    found = subprocess.run(
        ["docker", "exec", node, "crictl", "ps", "--name", "kube-apiserver", "--state",
         "running", "-q"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return found.stdout.strip() if found.returncode == 0 else ""


def _ready(kubectl: Kubectl) -> bool:
    return kubectl.run("get", "--raw", "/readyz", check=False).returncode == 0


@pytest.mark.timeout(600)
def test_log_stream_survives_an_api_server_restart(
    make_feature: Callable[[list[str]], Feature], installed: Kubectl, e2e_cluster: KindCluster
) -> None:
    lines = 600  # one minute of output: the API server is away for part of it
    feature = make_feature(
        ["- [ ] T521 [ASYNC] Print lines scripted:noop", "- [ ] T522 [ASYNC] Probe scripted:noop"]
    )
    pod = printer_pod(feature, "T521", installed, lines)
    node = node_name(e2e_cluster.name)
    tail = Follower([pod], feature.clone, installed.env)
    try:
        _wait_line(tail, 50)
        before = _apiserver_container(node)
        assert before, "no running kube-apiserver container on the node"
        subprocess.run(["docker", "exec", node, "crictl", "stop", before], check=True)
        # the kubelet starts a new kube-apiserver container for the static pod
        wait_for("a new kube-apiserver", lambda: _apiserver_container(node) not in ("", before),
                 timeout=180)  # fmt: skip
        wait_for("the API server to be ready", lambda: _ready(installed), timeout=180)
        rc = tail.wait(timeout=240)
        full = installed.run("logs", pod, "-n", NAMESPACE).stdout.splitlines()
    finally:
        installed.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false", check=False)
    _assert_streamed_everything(tail, rc, full, lines)
    _wait_schedulable(installed, feature)


def _wait_schedulable(kubectl: Kubectl, feature: Feature) -> None:
    """Leave the cluster whole for the next test: a new pod gets scheduled and runs.

    The scheduler and controller-manager lose their leases while the API server is
    away, exit, and are restarted by the kubelet with a back-off.
    """
    pod = printer_pod(feature, "T522", kubectl, 1)
    try:
        wait_for(
            "a pod to be scheduled and run after the restart",
            lambda: (
                kubectl.run(
                    "get",
                    "pod",
                    pod,
                    "-n",
                    NAMESPACE,
                    "-o",
                    "jsonpath={.status.phase}",
                    check=False,
                ).stdout
                in ("Running", "Succeeded")
            ),
            timeout=240,
        )
    finally:
        kubectl.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false", check=False)
