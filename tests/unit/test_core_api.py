"""``JsonCoreApi`` against a local HTTP server: what goes on the wire, what comes back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch import Watch

from runtime.core_api import JsonCoreApi

POD = {"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "7"}}


class Recorder(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[dict[str, Any]] = []
        self.answers: dict[str, tuple[int, str, bytes]] = {}  # path -> (code, type, body)


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append({
            "method": self.command, "path": url.path, "query": dict(parse_qsl(url.query)),
            "content_type": self.headers.get("Content-Type"),
            "auth": self.headers.get("Authorization"),
            "accept": self.headers.get("Accept"),
            "body": json.loads(self.rfile.read(length)) if length else None,
        })  # fmt: skip
        code, kind, body = self.server.answers.get(url.path, (200, "application/json", b"{}"))
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815


@pytest.fixture
def server() -> Iterator[Recorder]:
    srv = Recorder()
    threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def api(server: Recorder) -> JsonCoreApi:
    config = client.Configuration()
    host, port = server.server_address[:2]
    config.host = f"http://{host!s}:{port}"
    config.api_key = {"authorization": "t0ken"}
    config.api_key_prefix = {"authorization": "Bearer"}
    return JsonCoreApi(client.ApiClient(config))


def test_reads_answer_dicts_with_camel_case_query_and_the_bearer_token(
    server: Recorder, api: JsonCoreApi
) -> None:
    server.answers["/api/v1/namespaces/ns/pods"] = (200, "application/json", b'{"items": []}')
    assert api.list_namespaced_pod("ns", label_selector="a=b", watch=False) == {"items": []}
    assert server.seen[0]["query"] == {"labelSelector": "a=b", "watch": "false"}
    assert server.seen[0]["auth"] == "Bearer t0ken"


def test_patch_is_a_json_merge_patch(server: Recorder, api: JsonCoreApi) -> None:
    patch = {"metadata": {"annotations": {"x": "1"}}}
    api.patch_namespaced_pod("p", "ns", patch)
    assert server.seen[0]["method"] == "PATCH"
    assert server.seen[0]["content_type"] == "application/merge-patch+json"
    assert server.seen[0]["body"] == patch


def test_errors_are_the_clients_api_exception(server: Recorder, api: JsonCoreApi) -> None:
    body = b'{"kind": "Status", "code": 404, "message": "pods \\"p\\" not found"}'
    server.answers["/api/v1/namespaces/ns/pods/p"] = (404, "application/json", body)
    with pytest.raises(ApiException) as info:
        api.read_namespaced_pod("p", "ns")
    assert info.value.status == 404 and "not found" in str(info.value.body)


def test_logs_as_text_or_as_a_stream(server: Recorder, api: JsonCoreApi) -> None:
    server.answers["/api/v1/namespaces/ns/pods/p/log"] = (200, "text/plain", b"one\ntwo\n")
    assert api.read_namespaced_pod_log("p", "ns", tail_lines=2) == "one\ntwo\n"
    stream = api.read_namespaced_pod_log("p", "ns", follow=True, _preload_content=False)
    assert b"".join(stream.stream(4)) == b"one\ntwo\n"
    assert server.seen[1]["query"] == {"follow": "true"}
    # the API server answers 406 to ``Accept: text/plain``, even for logs
    assert {seen["accept"] for seen in server.seen} == {"application/json"}


def test_the_official_watch_streams_events_as_dicts(server: Recorder, api: JsonCoreApi) -> None:
    events = [{"type": "ADDED", "object": POD}, {"type": "DELETED", "object": POD}]
    body = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    server.answers["/api/v1/namespaces/ns/pods"] = (200, "application/json", body)
    watch = Watch()  # type: ignore[no-untyped-call]
    got = list(watch.stream(api.list_namespaced_pod, "ns", timeout_seconds=5))  # type: ignore[no-untyped-call]
    assert [(e["type"], e["object"]) for e in got] == [("ADDED", POD), ("DELETED", POD)]
    assert server.seen[0]["query"] == {"watch": "true", "timeoutSeconds": "5"}
