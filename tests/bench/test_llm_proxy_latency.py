"""The pod's LLM proxy: what it adds to each streamed chunk, against a direct connection.

A streaming upstream on loopback sends :data:`CHUNKS` server-sent events, each stamped
with ``time.monotonic()`` as it is written; the client notes when each arrives. The
figure is the per-chunk delay (arrival minus send) through ``llm_proxy`` against the
same stream read directly, in the same run. No cluster: the proxy is the module the
``llm-proxy`` container runs, in a thread.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runtime.agent import llm_proxy
from tests.bench.figures import Figure, Recorder

CHUNKS = 200
GAP_S = 0.002  # between events: each one is its own write, not coalesced with the next
KEY = "sk-bench-0123456789abcdef"


class _Streamer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(CHUNKS):
            event = f'data: {{"sent": {time.monotonic()!r}}}\n\n'.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            time.sleep(GAP_S)  # pacing the stream, not synchronisation
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Streamer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _delays(port: int, path: str) -> list[float]:
    """Per-event delay (arrival minus send) of one streamed answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=b"{}", headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200
    delays: list[float] = []
    pending = b""
    while data := response.read1(65536):
        now = time.monotonic()
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.startswith(b"data: "):
                sent = float(line.split(b'"sent": ', 1)[1].rstrip(b"}"))
                delays.append(now - sent)
    conn.close()
    assert len(delays) == CHUNKS
    return delays


def test_llm_proxy_delay_per_streamed_chunk(upstream: str, tmp_path: Path, bench: Recorder) -> None:
    route = llm_proxy.Route("llm", upstream, KEY)
    proxy, _thread = llm_proxy.serve_in_thread({"llm": route}, tmp_path, log=lambda _: None)
    try:
        upstream_port = int(upstream.rsplit(":", 1)[1].split("/")[0])
        _delays(upstream_port, "/v1/chat/completions")  # warm-up, not counted
        direct = _delays(upstream_port, "/v1/chat/completions")
        proxied = _delays(proxy.server_address[1], "/llm/chat/completions")
    finally:
        proxy.stop()
    ms = 1000.0
    bench.add(
        Figure("LLM proxy, delay per streamed chunk", "ms",
               tuple(d * ms for d in proxied), tuple(d * ms for d in direct), "direct",
               note=f"{CHUNKS} SSE events on loopback, through llm_proxy vs straight")
    )  # fmt: skip
