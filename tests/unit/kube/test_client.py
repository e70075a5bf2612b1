"""``runtime.kube.client.connect`` against a local HTTP API server that misbehaves on cue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from runtime.errors import ClusterUnreachableError, KubeConfigError
from runtime.kube import client as kube
from tests.unit.fake_api_server import Answer, FakeApiServer, Request, serving

VERSION = {
    "major": "1", "minor": "34", "gitVersion": "v1.34.4", "gitCommit": "x",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
    "compiler": "gc", "platform": "linux/amd64",
}  # fmt: skip
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}}


class FakeApi:
    """Answers /version, then misbehaves on pod calls as told: ``drops`` connections
    closed without an answer, then ``outage`` 503s, then the pod."""

    def __init__(self) -> None:
        self.outage = 0
        self.drops = 0
        self.calls: list[str] = []

    def __call__(self, request: Request) -> Answer | None:
        if request.path.startswith("/version"):
            return Answer.json(200, VERSION)
        self.calls.append(request.method)
        if self.drops:
            self.drops -= 1
            return None
        if self.outage:
            self.outage -= 1
            return Answer.json(503, {"kind": "Status", "code": 503, "message": "restarting"})
        return Answer.json(200, POD)


def _kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": "t"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    }  # fmt: skip
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    fake = FakeApi()
    with serving(fake) as server:
        monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "config", server.url)))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        monkeypatch.setattr(kube, "OUTAGE_BACKOFF_S", 0.001)
        monkeypatch.setattr(kube, "OUTAGE_BACKOFF_MAX_S", 0.01)
        yield fake


def test_reads_ride_out_an_api_server_outage(api: FakeApi) -> None:
    core = kube.connect("ns").core
    api.outage = 3
    assert core.read_namespaced_pod("p", "ns")["metadata"]["name"] == "p"
    assert api.calls == ["GET"] * 4


def test_a_lasting_outage_ends_in_the_last_answer(api: FakeApi) -> None:
    core = kube.connect("ns").core
    api.outage = 1000
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod("p", "ns")
    assert info.value.status == 503
    assert len(api.calls) == kube.OUTAGE_RETRIES + 1


def test_a_create_is_never_sent_twice(api: FakeApi) -> None:
    core = kube.connect("ns").core
    api.outage = 1
    with pytest.raises(ApiException):
        core.create_namespaced_pod("ns", POD)
    assert api.calls == ["POST"]


def test_connections_closed_before_an_answer_are_retried_for_reads_only(api: FakeApi) -> None:
    core = kube.connect("ns").core
    api.drops = kube.OUTAGE_READ_RETRIES
    assert core.read_namespaced_pod("p", "ns")["metadata"]["name"] == "p"
    api.calls.clear()
    api.drops = 1
    with pytest.raises(Exception, match="Connection aborted|RemoteDisconnected"):
        core.create_namespaced_pod("ns", POD)
    assert api.calls == ["POST"]


def test_missing_kubeconfig_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeConfigError) as info:
        kube.connect()
    assert "set KUBECONFIG" in info.value.hint


def test_an_unreachable_cluster_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeApiServer(FakeApi())  # bound, then closed: nothing listens on the port
    url, port = server.url, server.server_address[1]
    server.server_close()
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "c", url)))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kube, "OUTAGE_BACKOFF_S", 60.0)  # would hang if it were used
    with pytest.raises(ClusterUnreachableError) as info:
        kube.connect()
    assert f":{port}" in info.value.message
