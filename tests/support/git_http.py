"""A git server over HTTP for tests: ``git http-backend`` behind token auth.

Every request must carry HTTP basic auth whose password is the token (any user
name), else 401, as hosted forges do.  Repositories live under ``root`` and are
served at ``<url>/<name>.git``; pushes are allowed for authenticated users.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: GitHTTPServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence the default per-request stderr log."""

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        self.server.record_auth(header)
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return bool(user) and password == self.server.token

    def _serve(self) -> None:
        if not self._authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self._body()
        path, _, query = self.path.partition("?")
        env = {
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": urllib.parse.unquote(path),
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "tester",
            "REMOTE_ADDR": self.client_address[0],
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        }
        proc = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        self._relay_cgi(proc.stdout)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(self._chunks())
        return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _relay_cgi(self, output: bytes) -> None:
        head, _, payload = output.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = output.partition(b"\n\n")
        headers = [line.split(b":", 1) for line in head.splitlines() if b":" in line]
        status = 200
        for name, value in headers:
            if name.strip().lower() == b"status":
                status = int(value.strip().split()[0])
        self.send_response(status)
        for name, value in headers:
            if name.strip().lower() != b"status":
                self.send_header(name.strip().decode(), value.strip().decode())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitHTTPServer(ThreadingHTTPServer):
    """Serves the bare repositories under ``root``; ``auth_headers`` logs what came in."""

    daemon_threads = True

    def __init__(self, root: Path, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.root = root
        self.token = token
        self.auth_headers: list[str] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Base URL; a repository ``x.git`` under root is at ``<url>/x.git``."""
        host, port = self.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else host
        return f"http://{text}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up (opencode killed mid-request); report the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def record_auth(self, header: str) -> None:
        """Remember an Authorization header (thread-safe)."""
        with self._lock:
            self.auth_headers.append(header)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()


def start(root: Path, token: str, host: str = "127.0.0.1", port: int = 0) -> GitHTTPServer:
    """Start the server in a daemon thread; ``port=0`` picks a free port."""
    server = GitHTTPServer(root, token, host, port)
    threading.Thread(target=server.serve_forever, name="git-http", daemon=True).start()
    return server


def make_bare_repo(root: Path, name: str, files: dict[str, str], branch: str = "main") -> Path:
    """Create ``root/<name>.git`` with one commit of ``files`` on ``branch``."""
    bare = root / f"{name}.git"
    work = root / f".{name}-seed"
    git = ["git", "-c", "user.name=seed", "-c", "user.email=seed@example.invalid"]
    subprocess.run(["git", "init", "-q", "--bare", "-b", branch, str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", branch, str(work)], check=True)
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text, encoding="utf-8")
    subprocess.run([*git, "-C", str(work), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "seed"], check=True)
    subprocess.run([*git, "-C", str(work), "push", "-q", str(bare), branch], check=True)
    return bare
