"""A local HTTP server standing in for the Kubernetes API in the client-side unit tests.

Every request is recorded as a :class:`Request`; ``answer(request)`` decides the reply:
an :class:`Answer`, or ``None`` to close the connection without one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased: use header()
    body: Any

    def header(self, name: str) -> str | None:
        """A request header, by case-insensitive name."""
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Answer:
    code: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, code: int, body: object) -> Answer:
        return cls(code, json.dumps(body).encode())


Responder = Callable[[Request], Answer | None]


class FakeApiServer(ThreadingHTTPServer):
    def __init__(self, answer: Responder) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.seen: list[Request] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeApiServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = json.loads(self.rfile.read(length)) if length else None
        request = Request(self.command, url.path, dict(parse_qsl(url.query)), headers, body)
        self.server.seen.append(request)
        answer = self.server.answer(request)
        if answer is None:
            self.close_connection = True
            return
        self.send_response(answer.code)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815


@contextmanager
def serving(answer: Responder) -> Iterator[FakeApiServer]:
    """Run a :class:`FakeApiServer` in a thread for the ``with`` block."""
    server = FakeApiServer(answer)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
