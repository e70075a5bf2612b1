"""The LLM proxy: the key stays in the proxy, only the API is reachable, usage is counted.

Every test talks to a real proxy on 127.0.0.1 in front of a fake upstream (an
``http.server`` in a thread, also on 127.0.0.1): no traffic goes anywhere else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import queue
import re
import secrets
import signal
import socket
import socketserver
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runtime.agent import llm_proxy
from runtime.agent.llm_proxy import (
    KeyMask,
    ProxyServer,
    Route,
    load_routes,
    routes_from_env,
    serve_in_thread,
)
from runtime.agent.llm_usage import OverBudget, Usage, read_usage
from runtime.contract.cost import Price
from runtime.contract.exit_codes import ExitCode
from runtime.contract.pod import LLM_USAGE_FILE

KEY = "sk-real-" + secrets.token_hex(16)
ANTHROPIC_KEY = "sk-ant-real-" + secrets.token_hex(16)
WAIT = 10.0  # every wait in these tests is bounded by this
REPO = Path(__file__).resolve().parents[3]


# --- the fake upstream ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Seen:
    """One request as the upstream got it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(Seen(self.command, self.path, list(self.headers.items()), body))
        self.server.reply(self)

    do_GET = do_POST  # noqa: N815

    def start_chunked(self, status: int = 200, content_type: str = "text/event-stream") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


Reply = Callable[[UpstreamHandler], None]


def json_reply(status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()

    def reply(handler: UpstreamHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


def sse_reply(pieces: list[bytes]) -> Reply:
    def reply(handler: UpstreamHandler) -> None:
        handler.start_chunked()
        for piece in pieces:
            handler.chunk(piece)
        handler.end_chunks()

    return reply


def sse(event: dict[str, Any], name: str = "") -> bytes:
    prefix = f"event: {name}\n" if name else ""
    return f"{prefix}data: {json.dumps(event)}\n\n".encode()


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.reply: Reply = json_reply(200, {"usage": {"prompt_tokens": 5, "completion_tokens": 3}})
        super().__init__(("127.0.0.1", 0), UpstreamHandler)

    def server_bind(self) -> None:  # no reverse lookup of 127.0.0.1
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


@pytest.fixture()
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(WAIT)


@pytest.fixture()
def usage_dir(tmp_path: Path) -> Path:
    path = tmp_path / "usage"
    path.mkdir()
    return path


@pytest.fixture()
def routes(upstream: Upstream) -> dict[str, Route]:
    return {
        "llm": Route("llm", upstream.url + "/v1/", KEY),
        "anthropic": Route("anthropic", upstream.url + "/v1", ANTHROPIC_KEY, "x-api-key"),
    }


StartProxy = Callable[..., ProxyServer]


@pytest.fixture()
def start_proxy(usage_dir: Path) -> Iterator[StartProxy]:
    started: list[tuple[ProxyServer, threading.Thread]] = []

    def start(
        routes: dict[str, Route],
        problems: dict[str, str] | None = None,
        budget: int | None = None,
        price: Price | None = None,
        cost_budget: float | None = None,
    ) -> ProxyServer:
        server, thread = serve_in_thread(
            routes,
            usage_dir,
            problems=problems,
            budget=budget,
            price=price,
            cost_budget=cost_budget,
        )
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.wait_idle(WAIT)  # the last log line is the test's
        server.stop()
        thread.join(WAIT)


@pytest.fixture()
def proxy(start_proxy: StartProxy, routes: dict[str, Route]) -> ProxyServer:
    return start_proxy(routes)


# --- the client -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def error(self) -> str:
        payload = json.loads(self.body)
        assert payload["error"]["type"] == "speckit_pods_proxy"
        return str(payload["error"]["message"])


def call(
    port: int,
    path: str,
    method: str = "POST",
    body: bytes = b'{"model": "m"}',
    headers: dict[str, str] | None = None,
) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request(method, path, body=body if method == "POST" else None, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def totals(proxy: ProxyServer, usage_dir: Path, handled: int = 1) -> Usage | None:
    assert proxy.wait_handled(handled, WAIT)
    return read_usage(usage_dir)


# --- routes from the environment --------------------------------------------------------


def test_a_route_is_enabled_by_its_key_with_its_default_base_url() -> None:
    routes, problems = routes_from_env(
        {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": f" {ANTHROPIC_KEY}\n", "LLM_BASE_URL": "x"}
    )
    assert problems == []
    assert routes == {
        "openai": Route("openai", "https://api.openai.com/v1", KEY, "bearer"),
        "anthropic": Route("anthropic", "https://api.anthropic.com/v1", ANTHROPIC_KEY, "x-api-key"),
    }
    assert KEY not in repr(routes)


def test_a_base_url_in_the_environment_replaces_the_default() -> None:
    routes, problems = routes_from_env(
        {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "https://gateway.example/openai/v1/"}
    )
    assert problems == []
    assert routes["openai"].base_url == "https://gateway.example/openai/v1/"
    assert routes["openai"].target("chat/completions", "a=1") == "/openai/v1/chat/completions?a=1"


def test_the_llm_route_needs_its_base_url() -> None:
    routes, problems = routes_from_env({"LLM_API_KEY": KEY})
    assert routes == {}
    assert problems == ["LLM_API_KEY is set but LLM_BASE_URL is not"]


@pytest.mark.parametrize(
    ("base_url", "words"),
    [
        ("http://10.0.0.5:8000/v1", "--allow-insecure-http"),
        ("https://user:hunter2-password@llm.example/v1", "credentials"),
        ("https://llm.example/v1?token=hunter2-password", "query"),
        ("https://llm.example/v1#hunter2-password", "fragment"),
        ("ftp://llm.example/v1", "http(s)"),
        ("https:///v1", "http(s)"),
        ("https://llm.example:99999/v1", "not a valid URL"),
        ("https://llm.example/v1 hunter2-password", "whitespace"),
    ],
)
def test_a_base_url_the_key_must_not_go_to_is_refused(base_url: str, words: str) -> None:
    routes, problems = routes_from_env({"LLM_API_KEY": KEY, "LLM_BASE_URL": base_url})
    assert routes == {}
    assert len(problems) == 1
    assert problems[0].startswith("LLM_BASE_URL ")
    assert words in problems[0]
    assert KEY not in problems[0]
    assert "hunter2" not in problems[0]


def test_http_is_allowed_with_the_opt_in() -> None:
    env = {
        "LLM_API_KEY": KEY,
        "LLM_BASE_URL": "http://10.0.0.5:8000/v1",
        "ALLOW_INSECURE_HTTP": "1",
    }
    routes, problems = routes_from_env(env)
    assert problems == []
    assert routes["llm"] == Route("llm", "http://10.0.0.5:8000/v1", KEY, "bearer")
    assert routes["llm"].host == "10.0.0.5:8000"


def test_a_key_that_cannot_be_a_header_is_refused_without_its_value() -> None:
    routes, problems = routes_from_env({"OPENAI_API_KEY": "sk-one\r\nX-Evil: sk-two"})
    assert routes == {}
    assert problems == ["OPENAI_API_KEY has whitespace or control characters in it"]


# --- auth: the client's is dropped, the real key added --------------------------------


def test_the_clients_auth_is_replaced_by_the_bearer_key(
    proxy: ProxyServer, upstream: Upstream
) -> None:
    answer = call(
        proxy.server_port,
        "/llm/chat/completions?api-version=2",
        headers={
            "Authorization": "Bearer stolen",
            "x-api-key": "x",
            "Cookie": "session=1",
            "Proxy-Authorization": "Basic eA==",
            "X-Forwarded-For": "10.0.0.1",
            "X-Custom": "1",
            "Content-Type": "application/json",
            "User-Agent": "opencode/1",
            "OpenAI-Beta": "assistants=v2",
        },
    )
    assert answer.status == 200
    [seen] = upstream.seen
    assert (seen.method, seen.path, seen.body) == (
        "POST",
        "/v1/chat/completions?api-version=2",
        b'{"model": "m"}',
    )
    assert seen.header("Authorization") == [f"Bearer {KEY}"]
    names = sorted(name.lower() for name, _ in seen.headers)
    assert names == [
        "accept-encoding",
        "authorization",
        "content-length",
        "content-type",
        "host",
        "openai-beta",
        "user-agent",
    ]
    assert seen.header("Host") == [f"127.0.0.1:{upstream.server_port}"]
    assert seen.header("Accept-Encoding") == ["identity"]
    assert seen.header("Content-Length") == ["14"]


def test_the_clients_auth_is_replaced_by_the_anthropic_key(
    proxy: ProxyServer, upstream: Upstream
) -> None:
    headers = {
        "Authorization": "Bearer stolen",
        "x-api-key": "x",
        "anthropic-version": "2023-06-01",
    }
    answer = call(proxy.server_port, "/anthropic/messages", headers=headers)
    assert answer.status == 200
    [seen] = upstream.seen
    assert seen.path == "/v1/messages"
    assert seen.header("x-api-key") == [ANTHROPIC_KEY]
    assert seen.header("Authorization") == []
    assert seen.header("anthropic-version") == ["2023-06-01"]


def test_get_models_is_forwarded_without_a_body(proxy: ProxyServer, upstream: Upstream) -> None:
    upstream.reply = json_reply(200, {"data": [{"id": "m"}]})
    answer = call(proxy.server_port, "/llm/models", method="GET")
    assert (answer.status, json.loads(answer.body)) == (200, {"data": [{"id": "m"}]})
    [seen] = upstream.seen
    assert (seen.method, seen.path, seen.header("Content-Length")) == ("GET", "/v1/models", [])


# --- what is not forwarded ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/llm/files"),
        ("POST", "/llm/../x"),
        ("POST", "/llm/%2e%2e/x"),
        ("POST", "/llm/chat%2fcompletions"),
        ("POST", "/llm//chat/completions"),
        ("POST", "/llm/chat/completions/../../files"),
        ("POST", "/llm"),
        ("POST", "http://127.0.0.1:9/llm/chat/completions"),
        ("GET", "/llm/chat/completions"),
        ("DELETE", "/llm/models"),
    ],
)
def test_only_the_api_paths_are_forwarded(
    proxy: ProxyServer, upstream: Upstream, method: str, path: str
) -> None:
    answer = call(proxy.server_port, path, method=method)
    assert answer.status == 403
    assert "POST /<route>/chat/completions" in answer.error()
    assert "GET /<route>/models" in answer.error()
    assert upstream.seen == []


def test_an_unknown_route_is_404_naming_the_enabled_ones(
    proxy: ProxyServer, upstream: Upstream
) -> None:
    answer = call(proxy.server_port, "/nope/chat/completions")
    assert answer.status == 404
    assert "'nope'" in answer.error()
    assert "anthropic, llm" in answer.error()
    assert upstream.seen == []


def test_a_route_without_a_key_is_503_naming_the_secret_key(
    proxy: ProxyServer, upstream: Upstream
) -> None:
    answer = call(proxy.server_port, "/openai/chat/completions")
    assert answer.status == 503
    assert "create the Secret speckit-pods-llm" in answer.error()
    assert "OPENAI_API_KEY" in answer.error()
    assert upstream.seen == []


def test_a_refused_route_is_503_with_its_problem(start_proxy: StartProxy) -> None:
    routes, problems = load_routes({"LLM_API_KEY": KEY, "LLM_BASE_URL": "http://10.0.0.5/v1"})
    proxy = start_proxy(routes, problems)
    answer = call(proxy.server_port, "/llm/chat/completions")
    assert answer.status == 503
    assert "LLM_BASE_URL is http://" in answer.error()
    assert KEY not in answer.error()


def test_a_body_over_the_cap_is_413(
    proxy: ProxyServer, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm_proxy, "MAX_BODY_BYTES", 1024)
    answer = call(proxy.server_port, "/llm/chat/completions", body=b"x" * 2000)
    assert answer.status == 413
    assert "1024" in answer.error()
    assert call(proxy.server_port, "/llm/chat/completions", body=b"x" * 1024).status == 200
    assert [len(seen.body) for seen in upstream.seen] == [1024]


def test_a_chunked_request_body_is_411(proxy: ProxyServer, upstream: Upstream) -> None:
    head = b"POST /llm/chat/completions HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n"
    with socket.create_connection(("127.0.0.1", proxy.server_port), timeout=WAIT) as sock:
        sock.sendall(head)
        received = b""
        while data := sock.recv(65536):  # the proxy closes the connection after its answer
            received += data
    assert received.startswith(b"HTTP/1.1 411 ")
    assert b"Connection: close" in received
    assert upstream.seen == []


# --- responses ------------------------------------------------------------------------


def test_a_streamed_answer_reaches_the_client_chunk_by_chunk(
    proxy: ProxyServer, upstream: Upstream, usage_dir: Path
) -> None:
    first = sse({"choices": [{"delta": {"content": "Hel"}}], "usage": None})
    last = sse({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7}})
    client_got_first = threading.Event()
    upstream_released: list[bool] = []

    def reply(handler: UpstreamHandler) -> None:
        handler.start_chunked()
        handler.chunk(first)
        upstream_released.append(client_got_first.wait(WAIT))  # a buffering proxy: False
        handler.chunk(last)
        handler.chunk(b"data: [DONE]\n\n")
        handler.end_chunks()

    upstream.reply = reply
    conn = http.client.HTTPConnection("127.0.0.1", proxy.server_port, timeout=WAIT / 2)
    try:
        conn.request("POST", "/llm/chat/completions", body=b"{}")
        response = conn.getresponse()
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.getheader("Transfer-Encoding") == "chunked"
        received = b""
        while b"\n\n" not in received:
            data = response.read1(65536)  # a buffering proxy: TimeoutError before WAIT
            assert data, "the stream ended before its first event"
            received += data
        assert received == first
        client_got_first.set()
        rest = response.read()
    finally:
        conn.close()
    assert upstream_released == [True]
    assert rest == last + b"data: [DONE]\n\n"
    assert totals(proxy, usage_dir) == Usage(1, 11, 7, 0)


OPENAI_SSE = [
    sse({"choices": [{"delta": {"role": "assistant"}}], "usage": None}),
    b"data: not json\n\n",
    sse({"choices": [{"delta": {"content": "hi"}}], "usage": None})[:20],
    sse({"choices": [{"delta": {"content": "hi"}}], "usage": None})[20:],
    b'data: {"choices": [], "usage": {"prompt_tokens": 1',
    b'1, "completion_tokens": 7, "total_tokens": 18}}\n',
    b"\ndata: [DONE]\n\n",
]
OPENAI_SSE_CRLF = [piece.replace(b"\n", b"\r\n") for piece in OPENAI_SSE]
RESPONSES_SSE = [
    sse({"type": "response.created", "response": {"usage": None}}, "response.created"),
    sse({"type": "response.output_text.delta", "delta": "hi"}, "response.output_text.delta"),
    sse(
        {
            "type": "response.completed",
            "response": {"usage": {"input_tokens": 30, "output_tokens": 12, "total_tokens": 42}},
        },
        "response.completed",
    ),
]
ANTHROPIC_SSE = [
    sse(
        {
            "type": "message_start",
            "message": {
                "usage": {
                    "input_tokens": 20,
                    "cache_read_input_tokens": 5,
                    "cache_creation_input_tokens": 3,
                    "output_tokens": 1,
                }
            },
        },
        "message_start",
    ),
    sse({"type": "content_block_delta", "delta": {"text": "hi"}}, "content_block_delta"),
    sse({"type": "message_delta", "usage": {"output_tokens": 10}}, "message_delta"),
    sse({"type": "message_delta", "usage": {"output_tokens": 15}}, "message_delta"),
    sse({"type": "message_stop"}, "message_stop"),
]


@pytest.mark.parametrize(
    ("route", "reply", "expected"),
    [
        ("llm", sse_reply(OPENAI_SSE), (11, 7)),
        ("llm", sse_reply(OPENAI_SSE_CRLF), (11, 7)),
        ("llm", sse_reply(RESPONSES_SSE), (30, 12)),
        ("anthropic", sse_reply(ANTHROPIC_SSE), (28, 15)),  # the last message_delta
        ("llm", json_reply(200, {"usage": {"prompt_tokens": 5, "completion_tokens": 3}}), (5, 3)),
        ("anthropic", json_reply(200, {"usage": {"input_tokens": 9, "output_tokens": 4}}), (9, 4)),
        ("llm", json_reply(200, b'{"usage": {"prompt_tokens": 5'), (0, 0)),
        ("llm", json_reply(200, {"usage": {"prompt_tokens": True, "completion_tokens": -1}}),
         (0, 0)),
    ],
    ids=["openai-sse", "openai-sse-crlf", "responses-sse", "anthropic-sse", "openai-json",
         "anthropic-json", "malformed-json", "not-counts"],
)  # fmt: skip
def test_tokens_are_counted_as_the_answer_passes(
    proxy: ProxyServer,
    upstream: Upstream,
    usage_dir: Path,
    route: str,
    reply: Reply,
    expected: tuple[int, int],
) -> None:
    upstream.reply = reply
    path = f"/{route}/{'messages' if route == 'anthropic' else 'chat/completions'}"
    answer = call(proxy.server_port, path)
    assert answer.status == 200
    assert totals(proxy, usage_dir) == Usage(1, *expected, 0)


def test_the_body_passes_through_unchanged(proxy: ProxyServer, upstream: Upstream) -> None:
    upstream.reply = sse_reply(ANTHROPIC_SSE)
    assert call(proxy.server_port, "/anthropic/messages").body == b"".join(ANTHROPIC_SSE)
    upstream.reply = json_reply(200, b'{"usage": {"prompt_tokens": 5')
    assert call(proxy.server_port, "/llm/chat/completions").body == b'{"usage": {"prompt_tokens": 5'


def test_usage_json_holds_the_totals(
    proxy: ProxyServer, upstream: Upstream, usage_dir: Path
) -> None:
    assert read_usage(usage_dir) == Usage()  # written at start: zeros, not nothing
    call(proxy.server_port, "/llm/chat/completions")
    upstream.reply = json_reply(200, {"usage": {"input_tokens": 9, "output_tokens": 4}})
    call(proxy.server_port, "/anthropic/messages")
    assert proxy.wait_handled(2, WAIT)
    path = usage_dir / LLM_USAGE_FILE
    assert json.loads(path.read_text()) == {
        "requests": 2,
        "input_tokens": 14,
        "output_tokens": 7,
        "errors": 0,
        "refused": 0,
        "budget": None,
        "cost_usd": None,  # no price: the cost is not known
        "cost_budget": None,
        "over_budget": None,
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in usage_dir.iterdir()) == [LLM_USAGE_FILE]  # no temp file left


def test_an_upstream_error_is_passed_through_and_counted(
    proxy: ProxyServer, upstream: Upstream, usage_dir: Path
) -> None:
    upstream.reply = json_reply(500, {"error": {"message": "boom"}})
    answer = call(proxy.server_port, "/llm/chat/completions")
    assert (answer.status, json.loads(answer.body)) == (500, {"error": {"message": "boom"}})
    assert totals(proxy, usage_dir) == Usage(1, 0, 0, 1)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_upstream_that_is_down_is_502(
    start_proxy: StartProxy, usage_dir: Path, scheme: str
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = closed.getsockname()[1]
        proxy = start_proxy({"llm": Route("llm", f"{scheme}://127.0.0.1:{port}/v1", KEY)})
        answer = call(proxy.server_port, "/llm/chat/completions")
    assert answer.status == 502
    assert f"route 'llm': cannot reach the upstream 127.0.0.1:{port}" in answer.error()
    assert totals(proxy, usage_dir) == Usage(1, 0, 0, 1)


def test_headers_hop_by_hop_and_cookies_are_dropped_and_redirects_not_followed(
    proxy: ProxyServer, upstream: Upstream
) -> None:
    upstream.reply = json_reply(
        302,
        {},
        (
            ("Location", "http://127.0.0.1:9/elsewhere"),
            ("Set-Cookie", "session=1"),
            ("Keep-Alive", "timeout=5"),
            ("Connection", "X-Hop"),
            ("X-Hop", "1"),
            ("X-Request-Id", "req-1"),
        ),
    )
    answer = call(proxy.server_port, "/llm/chat/completions")
    assert answer.status == 302
    assert answer.header("Location") == ["http://127.0.0.1:9/elsewhere"]
    assert answer.header("X-Request-Id") == ["req-1"]
    for name in ("Set-Cookie", "Keep-Alive", "Connection", "X-Hop"):
        assert answer.header(name) == [], name
    assert len(upstream.seen) == 1


def test_each_request_is_logged_in_one_line(
    proxy: ProxyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    call(proxy.server_port, "/llm/chat/completions?secret-ish=1")
    assert proxy.wait_handled(1, WAIT)  # logged once answered: wait, or the lines may swap
    call(proxy.server_port, "/llm/files")
    assert proxy.wait_handled(2, WAIT)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(
        r"\[llm-proxy\] POST /llm/chat/completions -> 200 in \d+\.\ds \(tokens in 5, out 3\)",
        lines[0],
    )
    assert lines[1].startswith("[llm-proxy] POST /llm/files -> 403 in ")


# --- the key never leaves the proxy ---------------------------------------------------


# --- the token budget -------------------------------------------------------------------


def test_the_budget_refuses_every_request_once_the_tokens_reach_it(
    start_proxy: StartProxy, routes: dict[str, Route], upstream: Upstream, usage_dir: Path
) -> None:
    logged: list[str] = []
    proxy = start_proxy(routes, budget=10)  # the upstream answers 5 + 3 tokens
    proxy._log = logged.append
    assert call(proxy.server_port, "/llm/chat/completions").status == 200  # 8 of 10
    crossing = call(proxy.server_port, "/llm/chat/completions")  # 16: it crosses, and finishes
    assert (crossing.status, json.loads(crossing.body)["usage"]["completion_tokens"]) == (200, 3)
    assert proxy.wait_handled(2, WAIT)

    for method, path in (("POST", "/llm/chat/completions"), ("GET", "/anthropic/models")):
        refused = call(proxy.server_port, path, method=method)
        assert refused.status == 402
        error = json.loads(refused.body)
        assert error["type"] == "error"  # Anthropic's shape; error.message is OpenAI's
        assert error["error"]["code"] == "token_budget_exceeded"
        assert (error["error"]["used"], error["error"]["budget"]) == (16, 10)
        assert "16 tokens used (input + output), budget 10 (--max-tokens)" in refused.error()
    assert proxy.wait_handled(4, WAIT)
    assert len(upstream.seen) == 2  # nothing refused reached the upstream
    assert read_usage(usage_dir) == Usage(2, 10, 6, 0, refused=2, budget=10, reached="tokens")
    saved = json.loads((usage_dir / LLM_USAGE_FILE).read_text())
    assert saved["over_budget"] == {"used": 16, "budget": 10, "kind": "tokens"}
    assert (saved["budget"], saved["refused"]) == (10, 2)
    assert [line for line in logged if "token budget reached" in line] == [
        "token budget reached: 16 tokens used, budget 10 (--max-tokens); refusing what follows"
    ]


class AtOnce:
    """How many requests the upstream has in hand at once: now, and the most so far."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.now = 0
        self.most = 0

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        with self._changed:
            self.now += 1
            self.most = max(self.most, self.now)
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self.now -= 1

    def wait_most(self, count: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.most >= count, WAIT)


def in_thread(
    proxy: ProxyServer, path: str, body: bytes = b'{"model": "m"}'
) -> queue.Queue[Answer]:
    """Send one request from a thread of its own; its answer arrives in the queue."""
    answers: queue.Queue[Answer] = queue.Queue()
    threading.Thread(
        target=lambda: answers.put(call(proxy.server_port, path, body=body)), daemon=True
    ).start()
    return answers


def fire_at_once(proxy: ProxyServer, count: int) -> list[Answer]:
    """``count`` requests from as many threads at once; their answers, in any order."""
    sent = [in_thread(proxy, "/llm/chat/completions") for _ in range(count)]
    return [answers.get(timeout=WAIT) for answers in sent]


def test_a_stream_that_crosses_the_budget_is_relayed_whole_and_what_queued_behind_refused(
    start_proxy: StartProxy, routes: dict[str, Route], upstream: Upstream, usage_dir: Path
) -> None:
    proxy = start_proxy(routes, budget=10)
    assert call(proxy.server_port, "/llm/chat/completions").status == 200  # 8 of 10
    first = sse({"choices": [{"delta": {"content": "Hel"}}], "usage": None})
    last = sse({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}})
    streaming, release = threading.Event(), threading.Event()

    def reply(handler: UpstreamHandler) -> None:
        handler.start_chunked()
        handler.chunk(first)
        streaming.set()
        release.wait(WAIT)
        handler.chunk(last)
        handler.end_chunks()

    upstream.reply = reply
    streamed = in_thread(proxy, "/llm/chat/completions", b'{"stream": true}')
    assert streaming.wait(WAIT)
    behind = in_thread(proxy, "/llm/chat/completions")
    assert proxy.turns is not None
    assert proxy.turns.wait_queued(1, WAIT)  # behind the stream in flight, not yet counted
    release.set()
    answer = streamed.get(timeout=WAIT)
    assert (answer.status, answer.body) == (200, first + last)  # 14 of 10: not cut
    refused = behind.get(timeout=WAIT)  # its turn came after the stream was counted
    assert refused.status == 402
    assert json.loads(refused.body)["error"]["code"] == "token_budget_exceeded"
    assert len(upstream.seen) == 2
    assert totals(proxy, usage_dir, handled=3) == Usage(
        2, 9, 5, 0, refused=1, budget=10, reached="tokens"
    )


def test_with_a_budget_requests_sent_together_queue_and_are_not_refused(
    start_proxy: StartProxy, routes: dict[str, Route], upstream: Upstream, usage_dir: Path
) -> None:
    """opencode sends a title request beside its turn: with a budget, the second one waits."""
    proxy = start_proxy(routes, budget=1000)
    last = sse({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}})
    at_once, streaming, release = AtOnce(), threading.Event(), threading.Event()

    def reply(handler: UpstreamHandler) -> None:
        with at_once.holding():
            if handler.path == "/v1/messages":  # the title: 9 + 4 tokens
                json_reply(200, {"usage": {"input_tokens": 9, "output_tokens": 4}})(handler)
                return
            handler.start_chunked()
            streaming.set()
            release.wait(WAIT)
            handler.chunk(last)
            handler.end_chunks()

    upstream.reply = reply
    turn = in_thread(proxy, "/llm/chat/completions", b'{"stream": true}')
    assert streaming.wait(WAIT)
    title = in_thread(proxy, "/anthropic/messages")
    assert proxy.turns is not None
    assert proxy.turns.wait_queued(1, WAIT)  # it waits: not refused, not forwarded
    release.set()
    assert turn.get(timeout=WAIT).status == 200
    assert title.get(timeout=WAIT).status == 200
    assert at_once.most == 1  # the title went upstream once the turn was counted
    assert [seen.path for seen in upstream.seen] == ["/v1/chat/completions", "/v1/messages"]
    assert totals(proxy, usage_dir, handled=2) == Usage(2, 13, 6, 0, budget=1000)


def test_a_request_queued_past_the_turn_timeout_is_503_and_the_one_in_flight_finishes(
    start_proxy: StartProxy,
    routes: dict[str, Route],
    upstream: Upstream,
    usage_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(llm_proxy, "TURN_TIMEOUT_SECONDS", 0.05)
    proxy = start_proxy(routes, budget=1000)
    streaming, release = threading.Event(), threading.Event()

    def reply(handler: UpstreamHandler) -> None:
        handler.start_chunked()
        streaming.set()
        release.wait(WAIT)
        handler.chunk(sse({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}))
        handler.end_chunks()

    upstream.reply = reply
    streamed = in_thread(proxy, "/llm/chat/completions", b'{"stream": true}')
    assert streaming.wait(WAIT)
    waited = call(proxy.server_port, "/llm/chat/completions")  # its wait has a bound
    assert waited.status == 503
    assert "one request at a time" in waited.error()
    release.set()
    assert streamed.get(timeout=WAIT).status == 200
    assert len(upstream.seen) == 1
    assert totals(proxy, usage_dir, handled=2) == Usage(1, 4, 2, 0, budget=1000)


@pytest.mark.parametrize(
    ("limits", "code", "per_answer"),
    [
        ({"budget": 100}, "token_budget_exceeded", 60),
        ({"price": Price.parse("1000/1000"), "cost_budget": 0.1}, "cost_budget_exceeded", 0.06),
    ],
    ids=["tokens", "cost"],
)
def test_requests_sent_at_once_overrun_the_budget_by_one_answer_at_most(
    start_proxy: StartProxy,
    routes: dict[str, Route],
    upstream: Upstream,
    usage_dir: Path,
    limits: dict[str, Any],
    code: str,
    per_answer: float,
) -> None:
    """A hostile agent fires 8 requests at once at a budget's edge, before any is counted.

    Every answer spends over half the budget (60 tokens of 100, or $0.06 of $0.10): the
    first two are admitted (nothing, then 60% spent) and the other six refused.
    """
    clients = 8
    proxy = start_proxy(routes, **limits)
    answer = json_reply(200, {"usage": {"prompt_tokens": 50, "completion_tokens": 10}})
    at_once, all_arrived = AtOnce(), []

    def reply(handler: UpstreamHandler) -> None:
        with at_once.holding():
            # no answer (so nothing counted) before every request is in the proxy
            all_arrived.append(proxy.wait_arrived(clients, WAIT))
            answer(handler)

    upstream.reply = reply
    answers = fire_at_once(proxy, clients)

    assert all(all_arrived)
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200] * 2 + [402] * (clients - 2), statuses
    for refused in (answer for answer in answers if answer.status == 402):
        assert json.loads(refused.body)["error"]["code"] == code
    assert len(upstream.seen) == 2 and at_once.most == 1
    usage = totals(proxy, usage_dir, handled=clients)
    assert usage is not None and (usage.requests, usage.refused) == (2, clients - 2)
    over = usage.over_budget
    assert over is not None and over.used is not None
    assert over.budget <= over.used < over.budget + per_answer


def test_without_a_budget_requests_go_upstream_at_once(
    proxy: ProxyServer, upstream: Upstream
) -> None:
    at_once, both_upstream = AtOnce(), []

    def reply(handler: UpstreamHandler) -> None:
        with at_once.holding():
            both_upstream.append(at_once.wait_most(2))  # False if they were queued
            json_reply(200, {"usage": {"prompt_tokens": 5, "completion_tokens": 3}})(handler)

    upstream.reply = reply
    assert [answer.status for answer in fire_at_once(proxy, 2)] == [200, 200]
    assert both_upstream == [True, True]


def test_without_a_budget_nothing_is_refused(proxy: ProxyServer, usage_dir: Path) -> None:
    for _ in range(3):
        assert call(proxy.server_port, "/llm/chat/completions").status == 200
    usage = totals(proxy, usage_dir, handled=3)
    assert usage == Usage(3, 15, 9, 0) and usage.over_budget is None


# --- the cost and the cost budget -------------------------------------------------------


def test_the_cost_is_the_counted_tokens_at_the_price(
    start_proxy: StartProxy, routes: dict[str, Route], upstream: Upstream, usage_dir: Path
) -> None:
    proxy = start_proxy(routes, price=Price.parse("3/15"))
    assert read_usage(usage_dir) == Usage(cost_usd=0.0)  # priced: zero, not unknown
    call(proxy.server_port, "/llm/chat/completions")  # 5 in, 3 out
    upstream.reply = json_reply(200, {"usage": {"input_tokens": 995, "output_tokens": 997}})
    call(proxy.server_port, "/anthropic/messages")
    assert proxy.wait_handled(2, WAIT)
    saved = json.loads((usage_dir / LLM_USAGE_FILE).read_text())
    # 1000 input tokens at $3 per million, 1000 output tokens at $15: 0.003 + 0.015
    assert (saved["input_tokens"], saved["output_tokens"]) == (1000, 1000)
    assert saved["cost_usd"] == 0.018 and saved["cost_budget"] is None
    assert read_usage(usage_dir) == Usage(2, 1000, 1000, 0, cost_usd=0.018)


def test_the_cost_budget_refuses_every_request_once_the_cost_reaches_it(
    start_proxy: StartProxy, routes: dict[str, Route], upstream: Upstream, usage_dir: Path
) -> None:
    logged: list[str] = []
    # 5 + 3 tokens an answer at $1000 per million each: $0.008 an answer
    proxy = start_proxy(routes, price=Price.parse("1000/1000"), cost_budget=0.01)
    proxy._log = logged.append
    assert call(proxy.server_port, "/llm/chat/completions").status == 200  # $0.008
    assert call(proxy.server_port, "/llm/chat/completions").status == 200  # $0.016: crosses
    assert proxy.wait_handled(2, WAIT)

    refused = call(proxy.server_port, "/llm/chat/completions")
    assert refused.status == 402
    error = json.loads(refused.body)["error"]
    assert error["code"] == "cost_budget_exceeded"
    assert (error["used"], error["budget"]) == (0.016, 0.01)
    assert refused.error() == (
        "the task's LLM cost budget is spent: $0.0160 (10 input + 6 output tokens at "
        "1000/1000 US dollars per million), budget $0.01 (--max-cost); the proxy refuses "
        "every further request"
    )
    assert proxy.wait_handled(3, WAIT)
    assert len(upstream.seen) == 2  # nothing refused reached the upstream
    saved = json.loads((usage_dir / LLM_USAGE_FILE).read_text())
    assert saved["over_budget"] == {"used": 0.016, "budget": 0.01, "kind": "cost"}
    assert (saved["cost_usd"], saved["cost_budget"], saved["refused"]) == (0.016, 0.01, 1)
    usage = read_usage(usage_dir)
    assert usage is not None and usage.over_budget == OverBudget(0.016, 0.01, "cost")
    assert usage.over_budget.reason == "$0.0160 spent, budget $0.01 (--max-cost)"
    assert [line for line in logged if "budget reached" in line] == [
        "cost budget reached: $0.0160 spent, budget $0.01 (--max-cost); refusing what follows"
    ]


@pytest.mark.parametrize(
    ("budget", "cost_budget", "kind"),
    [(16, 1.0, "tokens"), (1000, 0.016, "cost"), (16, 0.016, "tokens")],
    ids=["tokens-first", "cost-first", "both-at-once"],
)
def test_with_both_budgets_the_first_reached_ends_it(
    start_proxy: StartProxy,
    routes: dict[str, Route],
    usage_dir: Path,
    budget: int,
    cost_budget: float,
    kind: str,
) -> None:
    proxy = start_proxy(
        routes, budget=budget, price=Price.parse("1000/1000"), cost_budget=cost_budget
    )
    for _ in range(2):  # 8 tokens, $0.008 an answer: the second reaches 16 tokens, $0.016
        assert call(proxy.server_port, "/llm/chat/completions").status == 200
    assert proxy.wait_handled(2, WAIT)  # counted once answered: the client may be first
    refused = call(proxy.server_port, "/llm/chat/completions")
    assert refused.status == 402
    code = {"tokens": "token_budget_exceeded", "cost": "cost_budget_exceeded"}[kind]
    assert json.loads(refused.body)["error"]["code"] == code
    usage = totals(proxy, usage_dir, handled=3)
    assert usage is not None and usage.over_budget is not None
    assert usage.over_budget.kind == kind


def test_a_cost_budget_without_a_price_refuses_all(
    start_proxy: StartProxy, routes: dict[str, Route], upstream: Upstream, usage_dir: Path
) -> None:
    """A cost budget whose price did not reach the proxy fails closed: the cost is unknown."""
    proxy = start_proxy(routes, cost_budget=0.5)
    usage = read_usage(usage_dir)  # spent from the start: the git side stops the agent
    assert usage is not None and usage.over_budget == OverBudget(None, 0.5, "cost")
    assert usage.over_budget.reason == "cost unknown (no valid price), budget $0.50 (--max-cost)"
    refused = call(proxy.server_port, "/llm/chat/completions")
    assert refused.status == 402
    assert json.loads(refused.body)["error"]["code"] == "cost_budget_exceeded"
    assert "the cost is unknown (no valid price reached the proxy)" in refused.error()
    assert proxy.wait_handled(1, WAIT) and upstream.seen == []


def echo_auth(handler: UpstreamHandler) -> None:
    """A provider that quotes the key back, in a header and split across chunks."""
    auth = (handler.headers.get("Authorization") or handler.headers.get("x-api-key") or "").encode()
    handler.send_response(401)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("X-Echo", auth.decode())
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    half = len(auth) // 2
    handler.chunk(b"data: invalid key " + auth[:half])
    handler.chunk(auth[half:-1])
    handler.chunk(auth[-1:] + b"\n\n")
    handler.end_chunks()


def test_the_key_never_reaches_the_client_or_the_log(
    start_proxy: StartProxy,
    upstream: Upstream,
    usage_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}"
        env = {
            "LLM_API_KEY": KEY,
            "LLM_BASE_URL": upstream.url,
            "ALLOW_INSECURE_HTTP": "1",
            "OPENAI_API_KEY": KEY + "-openai",
            "OPENAI_BASE_URL": down,
            "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "ANTHROPIC_BASE_URL": f"https://user:{ANTHROPIC_KEY}@127.0.0.1:9",
        }
        routes, problems = load_routes(env)
        proxy = start_proxy(routes, problems)
        proxy.announce()
        upstream.reply = echo_auth
        answers = [
            call(proxy.server_port, "/llm/chat/completions", headers={"x-api-key": KEY}),
            call(proxy.server_port, "/llm/responses"),
            call(proxy.server_port, "/openai/chat/completions"),  # 502
            call(proxy.server_port, "/anthropic/messages"),  # 503
            call(proxy.server_port, "/llm/files"),  # 403
            call(proxy.server_port, "/other/chat/completions"),  # 404
        ]
    assert [answer.status for answer in answers] == [401, 401, 502, 503, 403, 404]
    assert proxy.wait_handled(len(answers), WAIT)
    assert all(len(seen.header("Authorization")) == 1 for seen in upstream.seen)  # it was sent
    assert answers[0].body == b"data: invalid key Bearer " + b"*" * len(KEY) + b"\n\n"
    log = capsys.readouterr().err
    assert "route refused: ANTHROPIC_BASE_URL has credentials" in log
    for key in (KEY, ANTHROPIC_KEY, KEY + "-openai"):
        assert key not in log
        for answer in answers:
            assert key.encode() not in answer.body
            assert not any(key in f"{name}: {value}" for name, value in answer.headers)


# --- pieces ---------------------------------------------------------------------------


def test_key_mask_masks_a_key_split_across_chunks_and_keeps_the_length() -> None:
    mask = KeyMask(KEY)
    pieces = [b"a" + KEY[:5].encode(), KEY[5:-3].encode(), KEY[-3:].encode() + b"z", b"sk-"]
    out = [mask.feed(piece) for piece in pieces] + [mask.flush()]
    assert out[0] == b"a"  # the tail that may be the key's start is held back
    assert b"".join(out) == b"a" + b"*" * len(KEY) + b"zsk-"
    assert KeyMask(KEY).feed(b"data: hello\n\n") == b"data: hello\n\n"  # nothing held


# --- main -----------------------------------------------------------------------------


def test_main_fails_when_the_port_is_taken(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = llm_proxy.main({"LLM_API_KEY": KEY, "LLM_BASE_URL": "https://x.example"}, port)
    assert code == ExitCode.FAILED
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"[llm-proxy] cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def _lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.decode("utf-8", "replace"))
    into.put(None)


def test_main_serves_until_sigterm(upstream: Upstream, usage_dir: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "LLM_API_KEY": KEY,
        "LLM_BASE_URL": upstream.url + "/v1",
        "ALLOW_INSECURE_HTTP": "1",
        "LLM_USAGE_DIR": str(usage_dir),
    }
    script = "import sys; from runtime.agent.llm_proxy import main; sys.exit(main(port=0))"
    lines: queue.Queue[str | None] = queue.Queue()
    with subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            reader = threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True)
            reader.start()
            first = lines.get(timeout=WAIT)
            assert first is not None
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+); routes: llm -> ", first)
            assert found, first
            assert call(int(found.group(1)), "/llm/chat/completions").status == 200
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=WAIT) == 0
            reader.join(WAIT)
        finally:
            if proc.poll() is None:
                proc.kill()
    rest = [line for line in iter(lines.get_nowait, None)]
    log = first + "".join(rest)
    assert KEY not in log
    assert "stopped; 1 requests, 0 errors, tokens in 5, out 3" in log
    assert read_usage(usage_dir) == Usage(1, 5, 3, 0)


def test_main_reads_the_price_and_budgets_and_logs_a_bad_price(
    upstream: Upstream, usage_dir: Path
) -> None:
    """A malformed price with a cost budget: logged, and every request refused (closed)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "LLM_API_KEY": KEY,
        "LLM_BASE_URL": upstream.url + "/v1",
        "ALLOW_INSECURE_HTTP": "1",
        "LLM_USAGE_DIR": str(usage_dir),
        "LLM_TOKEN_BUDGET": "1000",
        "LLM_PRICE_PER_MTOK": "3 dollars",
        "LLM_COST_BUDGET": "0.5",
    }
    script = "import sys; from runtime.agent.llm_proxy import main; sys.exit(main(port=0))"
    lines: queue.Queue[str | None] = queue.Queue()
    with subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            reader = threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True)
            reader.start()
            first = lines.get(timeout=WAIT)
            assert first is not None
            assert "; token budget 1000; no price (cost unknown); cost budget $0.50" in first
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+);", first)
            assert found, first
            refused = call(int(found.group(1)), "/llm/chat/completions")
            assert refused.status == 402
            assert json.loads(refused.body)["error"]["code"] == "cost_budget_exceeded"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=WAIT) == 0
            reader.join(WAIT)
        finally:
            if proc.poll() is None:
                proc.kill()
    log = first + "".join(line for line in iter(lines.get_nowait, None))
    assert "LLM_PRICE_PER_MTOK='3 dollars' is not a price (IN/OUT, US dollars" in log
    assert "LLM_COST_BUDGET is set without a valid LLM_PRICE_PER_MTOK" in log
    assert upstream.seen == []
    usage = read_usage(usage_dir)
    assert usage is not None and usage.cost_usd is None and usage.refused == 1
    assert usage.over_budget == OverBudget(None, 0.5, "cost")
