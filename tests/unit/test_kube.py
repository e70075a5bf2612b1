"""``runtime.kube.connect`` against a local HTTP API server that misbehaves on cue."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from runtime import kube
from runtime.errors import ClusterUnreachableError, KubeConfigError

VERSION = {
    "major": "1", "minor": "34", "gitVersion": "v1.34.4", "gitCommit": "x",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
    "compiler": "gc", "platform": "linux/amd64",
}  # fmt: skip
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}}


class FakeApi(ThreadingHTTPServer):
    """Answers /version, then ``outage`` 503s to pod calls before answering them."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.outage = 0  # answer this many pod calls with 503
        self.drops = 0  # close this many connections without an answer
        self.calls: list[str] = []


class Handler(BaseHTTPRequestHandler):
    server: FakeApi

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _answer(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _pod_call(self) -> None:
        self.server.calls.append(self.command)
        if self.server.drops:
            self.server.drops -= 1
            self.close_connection = True
        elif self.server.outage:
            self.server.outage -= 1
            self._answer(503, {"kind": "Status", "code": 503, "message": "restarting"})
        else:
            self._answer(200, POD)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/version"):
            self._answer(200, VERSION)
        else:
            self._pod_call()

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._pod_call()


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
    server = FakeApi()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    config = _kubeconfig(tmp_path / "config", f"http://{host!s}:{port}")
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kube, "OUTAGE_BACKOFF_S", 0.001)
    monkeypatch.setattr(kube, "OUTAGE_BACKOFF_MAX_S", 0.01)
    yield server
    server.shutdown()
    server.server_close()


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
    server = FakeApi()  # bound, then closed: nothing listens on the port
    host, port = server.server_address[:2]
    server.server_close()
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "c", f"http://{host!s}:{port}")))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kube, "OUTAGE_BACKOFF_S", 60.0)  # would hang if it were used
    with pytest.raises(ClusterUnreachableError) as info:
        kube.connect()
    assert f":{port}" in info.value.message
