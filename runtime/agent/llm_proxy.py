"""The LLM proxy (container ``llm-proxy``): the only holder of the LLM keys in the pod.

The ``agent`` container runs an LLM with a shell, which a prompt injection may hijack:
it must never see an LLM key.  So opencode sends its requests, with a dummy key, to
this proxy on the pod's loopback (:data:`LLM_PROXY_HOST`, :data:`LLM_PROXY_PORT`).
``/<route>/<path>`` goes to the route's base URL, which this container's environment
fixes (the LLM Secret), never the request.  On the way the proxy

* forwards only a few API paths (:data:`ALLOWED`) and a few request headers
  (:data:`FORWARDED_HEADERS`): whatever auth the client sent is dropped and the real
  key added, so the agent can neither read the key nor spend it on other endpoints;
* never follows a redirect and uses no proxy from the environment;
* passes responses through as they arrive (a streamed SSE answer chunk by chunk),
  with the key masked should the provider echo it;
* counts requests and tokens and writes the totals to ``usage.json`` in
  :data:`~runtime.contract.pod.LLM_USAGE_DIR`, which the ``git`` side reads and the
  agent cannot see (the accounting: :mod:`runtime.agent.llm_usage`);
* with the developer's price (``LLM_PRICE_PER_MTOK``, from ``--llm-price``): turns the
  tokens counted into their cost, ``cost_usd`` there;
* with a token budget (``LLM_TOKEN_BUDGET``, from ``--max-tokens``) or a cost budget
  (``LLM_COST_BUDGET``, from ``--max-cost``): once the input and output tokens counted,
  or their cost, reach it, records ``over_budget`` there (the first budget reached) and
  refuses every further request (402, :data:`BUDGET_STATUS`); a request already in
  flight finishes.  With either budget set, one request at a time goes upstream, each
  admitted only once the one before it is answered and counted, and only if no budget
  is spent by then (:mod:`runtime.agent.llm_turns`): whatever the agent sends at once,
  the total ends at most one request's usage past a budget.  The others queue in
  arrival order (for up to :data:`TURN_TIMEOUT_SECONDS`), they are not refused.

The key is never logged, printed, put in an error message or sent to the client.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import re
import signal
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from runtime.agent.handoff import clean_text
from runtime.agent.llm_turns import Turns
from runtime.agent.llm_usage import (
    COST,
    OverBudget,
    Usage,
    UsageMeter,
    UsageTotals,
    cost_settings,
    token_budget,
    write_usage,
)
from runtime.contract.cost import Price, usd, usd_budget
from runtime.contract.exit_codes import ExitCode
from runtime.contract.pod import LLM_PROXY_HOST, LLM_PROXY_PORT, LLM_USAGE_FILE, Env, LLMRoute
from runtime.contract.redact import MIN_SECRET_LENGTH, scrub

MAX_BODY_BYTES = 32 * 1024 * 1024  # a request body beyond this is refused (413)
READ_CHUNK = 64 * 1024
UPSTREAM_TIMEOUT_SECONDS = 600.0
TURN_TIMEOUT_SECONDS = 600.0  # with a budget: the longest a request queues for its turn
QUEUED_NOTE_SECONDS = 0.1  # a request that queued longer says so in its log line
CLIENT_TIMEOUT_SECONDS = 600.0
SHUTDOWN_GRACE_SECONDS = 5.0  # for the requests in flight at SIGTERM
SECRET_NAME = "speckit-pods-llm"  # the LLM Secret's default name
ERROR_TYPE = "speckit_pods_proxy"
# Payment Required, not 429: a spent budget does not come back, and clients (the AI SDK
# opencode uses) retry a 429 with backoff, but not a 402
BUDGET_STATUS = 402
BUDGET_CODE = "token_budget_exceeded"
COST_BUDGET_CODE = "cost_budget_exceeded"
LOG_PREFIX = "[llm-proxy] "

AuthStyle = Literal["bearer", "x-api-key"]
AUTH_STYLES: Final[Mapping[str, AuthStyle]] = {"anthropic": "x-api-key"}  # others: bearer

ALLOWED_PATHS: Final = (
    ("POST", "chat/completions"),
    ("POST", "completions"),
    ("POST", "responses"),
    ("POST", "messages"),
    ("POST", "messages/count_tokens"),
    ("POST", "embeddings"),
    ("GET", "models"),
)
ALLOWED: Final = frozenset(ALLOWED_PATHS)
"""``(method, path below the route)`` pairs forwarded; compared exactly, so no ``..``,
``%2e`` or ``%2f`` gets through."""
FORWARDED_HEADERS: Final = (
    "content-type",
    "accept",
    "anthropic-version",
    "anthropic-beta",
    "openai-beta",
    "user-agent",
)
"""The only request headers passed on; auth, cookies, ``proxy-*``, ``x-forwarded-*``... are not."""
DROPPED_RESPONSE_HEADERS: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "trailers",
        "upgrade",
        "set-cookie",
        "content-length",  # set again from the response's length
    }
)
_KEY_ENV: Final = {name: key_env for name, key_env, _base_env, _default in LLMRoute.ALL}
_HEADER_SAFE_KEY = re.compile(r"[\x21-\x7e]+")  # no whitespace or controls: one header value
_QUERY = re.compile(r"[\x21-\x7e]*")
_FOLD = re.compile(r"[\r\n]+[ \t]*")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,15}")
_BODYLESS = (204, 304)

Log = Callable[[str], None]


def log_stderr(line: str) -> None:
    """The default log: one prefixed line on stderr (looked up at each call)."""
    sys.stderr.write(f"{LOG_PREFIX}{line}\n")
    sys.stderr.flush()


# --- routes -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Route:
    """Where ``/<name>/...`` goes, and the key it carries (never in ``repr``)."""

    name: str
    base_url: str
    key: str = dataclasses.field(repr=False)
    auth: AuthStyle = "bearer"

    @property
    def host(self) -> str:
        """The upstream's ``host[:port]``: the ``Host`` header, and what logs and errors name."""
        return urlsplit(self.base_url).netloc

    @property
    def tls(self) -> bool:
        """Whether the upstream is spoken to over https."""
        return urlsplit(self.base_url).scheme == "https"

    def auth_header(self) -> tuple[str, str]:
        """The header carrying the key."""
        if self.auth == "x-api-key":
            return "x-api-key", self.key
        return "Authorization", f"Bearer {self.key}"

    def target(self, rest: str, query: str = "") -> str:
        """The upstream request path for ``/<name>/<rest>?<query>``."""
        path = urlsplit(self.base_url).path.rstrip("/") + "/" + rest
        return f"{path}?{query}" if query else path


def _base_url_problem(key_env: str, base_env: str, url: str, insecure_ok: bool) -> str | None:
    """Why ``url`` (the value of ``base_env``) is no base URL to send a key to; names only."""
    if not _QUERY.fullmatch(url):
        return f"{base_env} has whitespace or control characters in it"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return f"{base_env} is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{base_env} is not an http(s) URL with a host"
    if "@" in parts.netloc:
        return f"{base_env} has credentials in it: the key belongs in {key_env}"
    if "?" in url or "#" in url:
        return f"{base_env} has a query or a fragment: give the API's base URL only"
    if parts.scheme == "http" and not insecure_ok:
        return (
            f"{base_env} is http://: the key is sent only over https unless the pod is "
            "spawned with --allow-insecure-http"
        )
    return None


def load_routes(env: Mapping[str, str]) -> tuple[dict[str, Route], dict[str, str]]:
    """The enabled routes, and each refused route's problem, both by route name.

    A route is enabled by a non-empty key; its base URL is its base env var or the
    default.  A route with a problem is not enabled.  Problems name environment
    variables, never their values.
    """
    insecure_ok = env.get(Env.ALLOW_INSECURE_HTTP, "").strip() == "1"
    routes: dict[str, Route] = {}
    problems: dict[str, str] = {}
    for name, key_env, base_env, default in LLMRoute.ALL:
        key = env.get(key_env, "").strip()
        if not key:
            continue
        base_url = env.get(base_env, "").strip() or default
        if not _HEADER_SAFE_KEY.fullmatch(key):
            problem: str | None = f"{key_env} has whitespace or control characters in it"
        elif not base_url:
            problem = f"{key_env} is set but {base_env} is not"
        else:
            problem = _base_url_problem(key_env, base_env, base_url, insecure_ok)
        if problem:
            problems[name] = problem
        else:
            routes[name] = Route(name, base_url, key, AUTH_STYLES.get(name, "bearer"))
    return routes, problems


def routes_from_env(env: Mapping[str, str]) -> tuple[dict[str, Route], list[str]]:
    """The enabled routes by name, and the problems of the others (one line each)."""
    routes, problems = load_routes(env)
    return routes, list(problems.values())


# --- masking ----------------------------------------------------------------------------


class KeyMask:
    """Overwrites the key with ``*`` of its length in a byte stream, across chunk boundaries.

    A chunk's tail that could be the start of the key is held back until the next
    chunk (or :meth:`flush`) tells; the length of the stream is unchanged, so a
    ``Content-Length`` stays right.  Keys shorter than
    :data:`~runtime.contract.redact.MIN_SECRET_LENGTH` are not masked (they would
    mangle ordinary text).
    """

    def __init__(self, key: str) -> None:
        self._key = key.encode("utf-8") if len(key) >= MIN_SECRET_LENGTH else b""
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        """What of ``data`` (and the held tail) can go out now, masked."""
        if not self._key:
            return data
        data = (self._held + data).replace(self._key, b"*" * len(self._key))
        keep = self._partial(data)
        self._held = data[len(data) - keep :]
        return data[: len(data) - keep]

    def flush(self) -> bytes:
        """The held tail: the stream ended, so it was not the key."""
        held, self._held = self._held, b""
        return held

    def _partial(self, data: bytes) -> int:
        for size in range(min(len(self._key) - 1, len(data)), 0, -1):
            if data.endswith(self._key[:size]):
                return size
        return 0


# --- the server -------------------------------------------------------------------------


def _reason(err: BaseException) -> str:
    """A short cause for an error message: the OS's words or the exception's type only."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return type(err).__name__


def _upstream_failure(route: Route, err: BaseException) -> tuple[int, str]:
    """The status and message for a request that got no answer from the upstream."""
    if isinstance(err, TimeoutError):
        status, what = 504, f"no answer in {UPSTREAM_TIMEOUT_SECONDS:.0f} s from"
    else:
        status, what = 502, "cannot reach"
    return status, f"route {route.name!r}: {what} the upstream {route.host}: {_reason(err)}"


class RefusedError(Exception):
    """The proxy answers a request itself with an error (nothing is forwarded)."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra  # more fields of the error object (a code, figures)


class ProxyHandler(BaseHTTPRequestHandler):
    """One client connection: each request is checked, forwarded and relayed."""

    protocol_version = "HTTP/1.1"
    server_version = "speckit-pods-llm-proxy"
    sys_version = ""
    timeout = CLIENT_TIMEOUT_SECONDS
    server: ProxyServer

    def do_GET(self) -> None:  # noqa: N802
        """Forward or refuse (only ``GET models`` is allowed)."""
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        """Forward or refuse."""
        self._handle()

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST  # noqa: N815  (all refused: 403)

    def log_message(self, format: str, *args: Any) -> None:
        """The base class's own messages (a malformed request line...), cleaned."""
        self.server.log(clean_text(format % args, 300))

    # --- one request ---

    def _handle(self) -> None:
        started = time.monotonic()
        self._body_read = False
        self.server.begin()
        try:
            status, note = self._answer()
            shown = clean_text(self.path.partition("?")[0], 200)
            elapsed = time.monotonic() - started
            self.server.log(f"{self.command} {shown} -> {status} in {elapsed:.1f}s ({note})")
        finally:
            self.server.handled()

    def _answer(self) -> tuple[int, str]:
        """Forward the request, or answer it with an error; ``(status, log note)``."""
        try:
            request = self._check()
            if self.server.turns is None:  # no budget: no queue
                return self._forward(request)
            return self._forward_in_turn(self.server.turns, request)
        except RefusedError as refusal:
            self._discard_body()
            self._send_error(refusal.status, refusal.message, refusal.extra)
            return refusal.status, f"proxy: {refusal.message}"

    def _check(self) -> tuple[Route, str, str, bytes]:
        """The route, path, query and body of an allowed request; :class:`RefusedError` if not."""
        path, _, query = self.path.partition("?")
        name, _, rest = path[1:].partition("/") if path.startswith("/") else ("", "", "")
        if (self.command, rest) not in ALLOWED or not _QUERY.fullmatch(query):
            allowed = ", ".join(f"{method} /<route>/{path}" for method, path in ALLOWED_PATHS)
            raise RefusedError(403, f"path not forwarded: only {allowed}")
        route = self.server.routes.get(name)
        if route is None:
            raise RefusedError(*self._no_route(name))
        self._check_budget()
        return route, rest, query, self._read_body()

    def _forward_in_turn(
        self, turns: Turns, request: tuple[Route, str, str, bytes]
    ) -> tuple[int, str]:
        """With a budget: forward once the requests before are counted, if none is spent then.

        The budget is checked again when the turn comes: requests queued behind the one
        that crossed it are refused, so the overrun is at most that one request's usage.
        """
        queued = time.monotonic()
        if not turns.take(TURN_TIMEOUT_SECONDS):
            raise RefusedError(
                503,
                f"no turn in {TURN_TIMEOUT_SECONDS:.0f} s: with a budget the proxy forwards "
                "one request at a time, and the ones before this one took that long",
            )
        waited = time.monotonic() - queued
        try:
            self._check_budget()
            status, note = self._forward(request)
        finally:
            turns.done()
        if waited >= QUEUED_NOTE_SECONDS:
            note = f"queued {waited:.1f}s; {note}"
        return status, note

    def _check_budget(self) -> None:
        """Refuse the request once a budget is spent (counted as refused)."""
        over = self.server.refuse_over_budget()
        if over is None:
            return
        if over.kind == COST:
            message = f"the task's LLM cost budget is spent: {self._spent(over)}, budget "
            message += f"{usd_budget(over.budget)} (--max-cost)"
        else:
            message = f"the task's LLM token budget is spent: {over.used} tokens used "
            message += f"(input + output), budget {over.budget} (--max-tokens)"
        raise RefusedError(
            BUDGET_STATUS,
            f"{message}; the proxy refuses every further request",
            code=COST_BUDGET_CODE if over.kind == COST else BUDGET_CODE,
            used=over.used,
            budget=over.budget,
        )

    def _spent(self, over: OverBudget) -> str:
        """``$0.0300 (20 input + 10 output tokens at 1000/1000 US dollars per million)``."""
        price = self.server.totals.price
        if over.used is None or price is None:
            return "the cost is unknown (no valid price reached the proxy)"
        usage = self.server.totals.snapshot()
        tokens = f"{usage.input_tokens} input + {usage.output_tokens} output tokens"
        return f"{usd(over.used)} ({tokens} at {price} US dollars per million)"

    def _no_route(self, name: str) -> tuple[int, str]:
        key_env = _KEY_ENV.get(name)
        if key_env is None:
            enabled = ", ".join(sorted(self.server.routes)) or "none"
            return 404, f"unknown route {clean_text(name, 40)!r}: the enabled routes are {enabled}"
        secret = f"the Secret {SECRET_NAME} (or the one given to --llm-secret)"
        problem = self.server.problems.get(name)
        if problem:
            return 503, f"route {name!r} is not enabled: {problem} (in {secret})"
        return 503, f"route {name!r} is not enabled: create {secret} with {key_env}"

    def _declared_length(self) -> int:
        values = self.headers.get_all("Content-Length") or []
        if len(set(values)) > 1 or not all(_CONTENT_LENGTH.fullmatch(v.strip()) for v in values):
            self.close_connection = True
            raise RefusedError(400, "invalid Content-Length")
        return int(values[0]) if values else 0

    def _read_body(self) -> bytes:
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            raise RefusedError(411, "send the request body with a Content-Length, not chunked")
        length = self._declared_length()
        if length > MAX_BODY_BYTES:
            raise RefusedError(413, f"the request body is over {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(length)
        self._body_read = True
        if len(body) < length:
            self.close_connection = True
            raise RefusedError(400, "the request body ended before its Content-Length")
        return body

    def _discard_body(self) -> None:
        """Read an unread body of a refused request, so the refusal reaches the client.

        (Closing a socket with unread data resets it, which may lose the answer.)  Too
        big or chunked: the connection is closed instead.
        """
        if self._body_read:
            return
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            return
        try:
            length = self._declared_length()
        except RefusedError:
            return
        if length > 2 * MAX_BODY_BYTES:
            self.close_connection = True
            return
        try:
            while length > 0:
                data = self.rfile.read(min(length, READ_CHUNK))
                if not data:
                    break
                length -= len(data)
        except OSError:
            pass
        self._body_read = True
        self.close_connection = self.close_connection or length > 0

    def _send_error(
        self, status: int, message: str, extra: Mapping[str, object] | None = None
    ) -> None:
        """A JSON error of the proxy's own, in both APIs' shape.

        ``{"type": "error", "error": {"message", "type", ...extra}}``: OpenAI clients
        read ``error.message`` (and ``error.code``), Anthropic's the ``"type": "error"``.
        """
        error = {"message": self.server.mask(message), "type": ERROR_TYPE, **(extra or {})}
        body = json.dumps({"type": "error", "error": error}).encode("utf-8")
        try:
            self.send_response_only(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    # --- forwarding ---

    def _upstream_headers(self, route: Route, body: bytes) -> list[tuple[str, str]]:
        headers = [(name, value) for name in FORWARDED_HEADERS if (value := self.headers.get(name))]
        headers += [route.auth_header(), ("Host", route.host), ("Accept-Encoding", "identity")]
        if body or self.command == "POST":
            headers.append(("Content-Length", str(len(body))))
        return headers

    def _forward(self, request: tuple[Route, str, str, bytes]) -> tuple[int, str]:
        """Send the request upstream and relay the answer; ``(status, log note)``."""
        route, rest, query, body = request
        conn = self.server.connect(route)
        try:
            try:
                conn.putrequest(
                    self.command,
                    route.target(rest, query),
                    skip_host=True,
                    skip_accept_encoding=True,
                )
                for name, value in self._upstream_headers(route, body):
                    conn.putheader(name, value)
                conn.endheaders(body or None)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException, ValueError) as err:
                self.server.record(0, 0, error=True)
                status, message = _upstream_failure(route, err)
                self._send_error(status, message)
                return status, f"proxy: {message}"
            return self._relay(route, response)
        finally:
            conn.close()

    def _relay(self, route: Route, response: http.client.HTTPResponse) -> tuple[int, str]:
        """Pass the upstream's answer to the client as it arrives, counting its tokens."""
        status = response.status
        meter = UsageMeter(response.getheader("Content-Type") or "")
        mask = KeyMask(route.key)
        bodyless = status in _BODYLESS or status < 200
        chunked = not bodyless and response.length is None
        length = None if bodyless else response.length
        broke, gone = "", not self._relay_head(response, route, length, chunked)
        while not broke and not gone:
            try:
                data = response.read1(READ_CHUNK)
            except (OSError, http.client.HTTPException, ValueError) as err:
                broke = _reason(err)
                break
            if not data:
                break
            meter.feed(data)
            gone = not self._write(mask.feed(data), chunked)
        if not gone:
            gone = not self._write(mask.flush(), chunked)
        if not gone and not broke and chunked:
            gone = not self._write(b"", chunked, last=True)
        if broke or gone:
            self.close_connection = True
        inputs, outputs = meter.finish()
        self.server.record(inputs, outputs, error=status >= 400 or bool(broke))
        note = f"tokens in {inputs}, out {outputs}"
        if broke:
            note += f"; the upstream broke off: {broke}"
        if gone:
            note += "; the client went away"
        return status, note

    def _relay_head(
        self, response: http.client.HTTPResponse, route: Route, length: int | None, chunked: bool
    ) -> bool:
        """Status line and headers, hop-by-hop ones and cookies dropped; ``False``: client gone."""
        named = {
            token.strip().lower()
            for value in response.headers.get_all("Connection") or []
            for token in value.split(",")
        }
        reason = re.sub(r"[^\x20-\x7e]", "", response.reason or "") or None
        self.send_response_only(response.status, reason)
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in DROPPED_RESPONSE_HEADERS or lower in named or lower.startswith("proxy-"):
                continue
            self.send_header(name, scrub(_FOLD.sub(" ", value), [route.key]))
        if length is not None:
            self.send_header("Content-Length", str(length))
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        try:
            self.end_headers()
        except OSError:
            return False
        return True

    def _write(self, data: bytes, chunked: bool, *, last: bool = False) -> bool:
        """Send ``data`` to the client now (one chunk if chunked); ``False`` if it went away."""
        if not data and not last:
            return True  # an empty chunk would end a chunked body
        try:
            if chunked:
                data = b"%x\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n"
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            return False
        return True


class ProxyServer(ThreadingHTTPServer):
    """The proxy on ``LLM_PROXY_HOST:port``: routes, usage totals, the log."""

    daemon_threads = True
    request_queue_size = 64  # the listen backlog (default 5): many connects at once, no SYN retry

    def __init__(
        self,
        routes: Mapping[str, Route],
        usage_dir: Path | None,
        port: int = LLM_PROXY_PORT,
        *,
        problems: Mapping[str, str] | None = None,
        log: Log | None = None,
        budget: int | None = None,
        price: Price | None = None,
        cost_budget: float | None = None,
    ) -> None:
        self.routes = dict(routes)
        self.problems = dict(problems or {})
        self.usage_dir = usage_dir
        self.totals = UsageTotals(budget, price, cost_budget)
        # a budget: one request upstream at a time (llm_turns); none: no queue, as many as sent
        self.turns = None if budget is None and cost_budget is None else Turns()
        self._log = log or log_stderr
        self._keys = [route.key for route in self.routes.values()]
        self._tls = (
            ssl.create_default_context() if any(r.tls for r in self.routes.values()) else None
        )
        self._write_lock = threading.Lock()
        self._progress = threading.Condition()
        self._handled = 0
        self._active = 0
        self._arrived = 0
        self._save_failed = False
        super().__init__((LLM_PROXY_HOST, port), ProxyHandler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup of :class:`HTTPServer` (no traffic off the pod)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.server_name}:{self.server_port}"

    def mask(self, text: str) -> str:
        """``text`` with every key replaced by ``***``."""
        return scrub(text, self._keys)

    def log(self, line: str) -> None:
        """One log line, never with a key in it."""
        self._log(self.mask(line))

    def announce(self) -> None:
        """The start lines: where it listens, its routes, where usage goes, the problems."""
        routes = ", ".join(f"{r.name} -> {r.host}" for r in self.routes.values())
        if not routes:
            names = ", ".join(key_env for key_env in _KEY_ENV.values())
            routes = f"none (set one of {names} in the Secret {SECRET_NAME})"
        where = (
            self.usage_dir / LLM_USAGE_FILE
            if self.usage_dir
            else f"nowhere (no {Env.LLM_USAGE_DIR})"
        )
        self.log(f"listening on {self.url}; routes: {routes}; usage to {where}; {self._limits()}")
        for problem in self.problems.values():
            self.log(f"route refused: {problem}")

    def _limits(self) -> str:
        """``token budget 1000; price 3/15 US dollars per million …; cost budget $0.50``."""
        usage, price = self.totals.snapshot(), self.totals.price
        parts = ["no token budget" if usage.budget is None else f"token budget {usage.budget}"]
        parts.append(
            "no price (cost unknown)"
            if price is None
            else f"price {price} US dollars per million input/output tokens"
        )
        if usage.cost_budget is not None:
            parts.append(f"cost budget {usd_budget(usage.cost_budget)}")
        return "; ".join(parts)

    def connect(self, route: Route) -> http.client.HTTPConnection:
        """A new connection to the route's upstream (direct: no proxy from the environment)."""
        parts = urlsplit(route.base_url)
        host = parts.hostname or ""
        if parts.scheme == "https":
            context = self._tls or ssl.create_default_context()
            return http.client.HTTPSConnection(
                host, parts.port, timeout=UPSTREAM_TIMEOUT_SECONDS, context=context
            )
        return http.client.HTTPConnection(host, parts.port, timeout=UPSTREAM_TIMEOUT_SECONDS)

    def record(self, input_tokens: int, output_tokens: int, *, error: bool) -> None:
        """Count one forwarded request and write the totals to ``usage.json``."""
        usage, crossed = self.totals.add(input_tokens, output_tokens, error=error)
        self.save()
        over = usage.over_budget
        if crossed and over is not None:
            what = "cost" if over.kind == COST else "token"
            self.log(f"{what} budget reached: {over.reason}; refusing what follows")

    def refuse_over_budget(self) -> OverBudget | None:
        """How a budget is spent, if one is (the refusal counted and saved); else ``None``."""
        over = self.totals.refuse()
        if over is not None:
            self.save()
        return over

    def _save(self, usage: Usage) -> None:
        if self.usage_dir is None:
            return
        try:
            write_usage(self.usage_dir, usage)
        except OSError as err:
            if not self._save_failed:
                self.log(f"cannot write {self.usage_dir / LLM_USAGE_FILE}: {_reason(err)}")
            self._save_failed = True

    def save(self) -> None:
        """Write the current totals (at start too: the git side finds zeros, not nothing)."""
        with self._write_lock:
            self._save(self.totals.snapshot())  # the newest: never older totals over newer

    def begin(self) -> None:
        """One request starts."""
        with self._progress:
            self._active += 1
            self._arrived += 1
            self._progress.notify_all()

    def handled(self) -> None:
        """One request done (answered, logged, counted)."""
        with self._progress:
            self._active -= 1
            self._handled += 1
            self._progress.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; ``False`` on timeout."""
        with self._progress:
            return self._progress.wait_for(lambda: self._active <= 0, timeout)

    def wait_handled(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` requests are done in all; ``False`` on timeout."""
        with self._progress:
            return self._progress.wait_for(lambda: self._handled >= count, timeout)

    def wait_arrived(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` requests have arrived, in flight or done; ``False`` on timeout."""
        with self._progress:
            return self._progress.wait_for(lambda: self._arrived >= count, timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """An unexpected error in a handler: one line, no traceback (it may quote values)."""
        self.log(f"internal error: {type(sys.exc_info()[1]).__name__}")

    def stop(self) -> None:
        """Stop serving (from another thread than :meth:`serve_forever`'s) and close."""
        self.shutdown()
        self.server_close()


def serve_in_thread(
    routes: Mapping[str, Route],
    usage_dir: Path | None,
    port: int = 0,
    *,
    problems: Mapping[str, str] | None = None,
    log: Log | None = None,
    budget: int | None = None,
    price: Price | None = None,
    cost_budget: float | None = None,
) -> tuple[ProxyServer, threading.Thread]:
    """A proxy serving in a daemon thread (tests); :meth:`ProxyServer.stop` ends it."""
    server = ProxyServer(
        routes,
        usage_dir,
        port,
        problems=problems,
        log=log,
        budget=budget,
        price=price,
        cost_budget=cost_budget,
    )
    server.save()
    thread = threading.Thread(
        target=server.serve_forever, name="llm-proxy", kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return server, thread


def _usage_dir(env: Mapping[str, str]) -> Path | None:
    raw = env.get(Env.LLM_USAGE_DIR, "").strip()
    return Path(raw) if raw else None


def main(env: Mapping[str, str] | None = None, port: int | None = None) -> int:
    """Serve until SIGTERM (or SIGINT): 0; 1 when the port cannot be listened on."""
    env = os.environ if env is None else env
    routes, problems = load_routes(env)
    budget, budget_problem = token_budget(env)
    price, cost_budget, cost_problems = cost_settings(env)
    port = LLM_PROXY_PORT if port is None else port
    try:
        server = ProxyServer(
            routes,
            _usage_dir(env),
            port,
            problems=problems,
            budget=budget,
            price=price,
            cost_budget=cost_budget,
        )
    except OSError as err:
        log_stderr(f"cannot listen on {LLM_PROXY_HOST}:{port}: {_reason(err)}")
        return ExitCode.FAILED
    server.announce()
    for problem in [budget_problem, *cost_problems]:
        if problem:
            server.log(problem)
    server.save()

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, name="llm-proxy-stop", daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.serve_forever()
        server.wait_idle(SHUTDOWN_GRACE_SECONDS)  # their usage is counted too
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
    log_stderr(f"stopped; {_summary(server.totals.snapshot())}")
    return ExitCode.SUCCEEDED


def _summary(usage: Usage) -> str:
    over = usage.over_budget
    budget = f"; over budget: {over.reason}, {usage.refused} refused" if over else ""
    cost = "" if usage.cost_usd is None else f", cost {usd(usage.cost_usd)}"
    return (
        f"{usage.requests} requests, {usage.errors} errors, "
        f"tokens in {usage.input_tokens}, out {usage.output_tokens}{cost}{budget}"
    )
