"""Stream an agent pod's log with reconnects, and print lines with a coloured prefix.

The log is the ``git`` container's (:data:`~runtime.kube.pod.RESULT_CONTAINER`): the
trusted side prints its own lines, relays the agent's, and prints the result line last.

Reconnect without loss or duplication: every request asks for ``timestamps=True``.
:class:`LogCursor` remembers the timestamp of the last line printed and how many
printed lines carried exactly that timestamp.  The log API only resumes with
second precision (the Python client offers ``since_seconds`` only), so a
reconnect asks for a few seconds more than needed and the cursor drops what was
already printed: older timestamps, and the first *n* lines at the last one.
``since_seconds`` is measured on our monotonic clock from when the last line
arrived, so clock skew between us and the node does not matter.

A connection that drops mid-line leaves a partial last line; it is discarded and
comes back whole on the next connection.  When the container has ended, one last
non-follow read drains what remains, including a final line without newline.
"""

from __future__ import annotations

import datetime
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Protocol

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from runtime.contract.redact import printable
from runtime.kube.client import Kube, api_error
from runtime.kube.pod import RESULT_CONTAINER, PodView, is_finished
from runtime.kube.podwatch import DENIED, Clock, ClusterPods, Deadline, Recovery, read_recovering

RESUME_MARGIN_S = 5
# a quiet log reconnects this often: a stream from a lost node's kubelet never errors,
# and each reconnect re-reads the pod (which says when its node is lost)
READ_TIMEOUT_S = 30.0
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})")
PALETTE = (36, 32, 33, 35, 34, 96, 92, 93, 95, 94)


def split_timestamp(line: str) -> tuple[int | None, str]:
    """Split ``"<RFC3339Nano> text"`` into (nanoseconds since the epoch, text)."""
    match = _STAMP.match(line)
    if match is None:
        return None, line
    base, fraction, zone = match.groups()
    moment = datetime.datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    nanos = int((fraction or "0").ljust(9, "0"))
    text = line[match.end() :]
    return int(moment.timestamp()) * 1_000_000_000 + nanos, text[1:] if text[:1] == " " else text


class LogCursor:
    """Remembers what was printed so a re-read prints only new lines."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.last_key: int | None = None
        self.count = 0  # printed lines carrying exactly last_key
        self.replayed = 0  # lines at last_key seen on the current connection
        self.received_at: float | None = None

    def begin(self) -> None:
        """Start a new connection."""
        self.replayed = 0

    def accept(self, key: int) -> bool:
        """Whether a line stamped ``key`` is new; records it when it is."""
        if self.last_key is not None and key < self.last_key:
            return False
        if key == self.last_key:
            self.replayed += 1
            if self.replayed <= self.count:
                return False
            self.count += 1
        else:
            self.last_key, self.count, self.replayed = key, 1, 1
        self.received_at = self.clock()
        return True

    def since_seconds(self) -> int | None:
        """The ``since_seconds`` to resume with; ``None`` reads from the start."""
        if self.received_at is None:
            return None
        return math.ceil(self.clock() - self.received_at) + RESUME_MARGIN_S


def iter_lines(chunks: Iterable[bytes]) -> Iterator[tuple[str, bool]]:
    """Split byte chunks into ``(line, complete)``; only the last may be incomplete."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace").rstrip("\r"), True
    if buffer:
        yield buffer.decode("utf-8", errors="replace"), False


class LogSource(Protocol):
    """Opens one log request; yields raw byte chunks of timestamped lines."""

    def open(
        self, name: str, *, follow: bool, since_seconds: int | None, read_timeout: float
    ) -> Iterable[bytes]:
        """Open the log of pod ``name``'s result container (``git``)."""
        ...


class ClusterLogs:
    """:class:`LogSource` reading from the Kubernetes API."""

    def __init__(self, kube: Kube) -> None:
        self.core, self.namespace = kube.core, kube.namespace

    def open(
        self, name: str, *, follow: bool, since_seconds: int | None, read_timeout: float
    ) -> Iterator[bytes]:
        """Stream the log as byte chunks (raises ``ApiException`` / urllib3 errors)."""
        kwargs: dict[str, Any] = {"container": RESULT_CONTAINER, "follow": follow}
        if since_seconds is not None:
            kwargs["since_seconds"] = max(1, since_seconds)
        response = self.core.read_namespaced_pod_log(
            name,
            self.namespace,
            timestamps=True,
            _preload_content=False,
            _request_timeout=(10, max(1.0, read_timeout)),
            **kwargs,
        )
        try:
            yield from response.stream(4096)
        finally:
            response.release_conn()

    def tail(self, name: str, lines: int) -> list[str]:
        """Return the last ``lines`` lines of the log (empty when unreadable)."""
        try:
            text = self.core.read_namespaced_pod_log(
                name, self.namespace, container=RESULT_CONTAINER, tail_lines=lines
            )
        except ApiException:
            return []
        return str(text or "").splitlines()


def _read(chunks: Iterable[bytes], cursor: LogCursor, *, keep_partial: bool) -> Iterator[str]:
    cursor.begin()
    for raw, complete in iter_lines(chunks):
        if not complete and not keep_partial:
            return  # the connection dropped mid-line: the next one resends it
        key, text = split_timestamp(raw)
        if key is None or cursor.accept(key):
            yield text


def read_once(source: LogSource, name: str) -> list[str]:
    """Read the whole current log once (no follow)."""
    chunks = source.open(name, follow=False, since_seconds=None, read_timeout=60.0)
    return list(_read(chunks, LogCursor(), keep_partial=True))


def stream_logs(
    source: LogSource,
    pods: ClusterPods,
    name: str,
    *,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """Yield the log lines of pod ``name`` (timestamps stripped) until it ends.

    Returns when the container has ended (after draining), the pod is gone, or the
    deadline passed; the caller then reads the pod's final state.
    """
    cursor, idle = LogCursor(deadline.clock), 0
    recovery = Recovery(deadline.clock)
    while True:
        before = (cursor.last_key, cursor.count)
        remaining = deadline.remaining()
        timeout = READ_TIMEOUT_S if remaining is None else min(READ_TIMEOUT_S, remaining)
        try:
            chunks = source.open(
                name, follow=True, since_seconds=cursor.since_seconds(), read_timeout=timeout
            )
            yield from _read(chunks, cursor, keep_partial=False)
        except ApiException as err:
            if err.status == 404:
                return
            if err.status in DENIED and not recovery.tolerates(err.status):
                raise api_error(err, f"reading the log of pod {name}") from err
            recovery.dropped()
        except (OSError, HTTPError):
            recovery.dropped()  # dropped: reconnect below
        pod = read_recovering(pods, name, recovery, sleep)
        if pod is None:
            return
        if PodView(pod).node_lost:
            return  # its kubelet is gone with the node: nothing more to read
        if is_finished(pod):
            yield from _drain(source, name, cursor)
            return
        if deadline.expired():
            return
        idle = 0 if (cursor.last_key, cursor.count) != before else idle + 1
        if idle:
            sleep(min(0.5 * 2**idle, 10.0))


def _drain(source: LogSource, name: str, cursor: LogCursor) -> Iterator[str]:
    try:
        chunks = source.open(
            name, follow=False, since_seconds=cursor.since_seconds(), read_timeout=60.0
        )
        yield from _read(chunks, cursor, keep_partial=True)
    except (ApiException, OSError, HTTPError):
        return


def use_color(no_color: bool, stream: IO[str], env: dict[str, str]) -> bool:
    """Colour only on a terminal, and never with ``--no-color`` or ``NO_COLOR``."""
    return not no_color and not env.get("NO_COLOR") and stream.isatty()


class Printer:
    """Prints whole lines prefixed with the task id, coloured per pod."""

    def __init__(self, out: IO[str], err: IO[str], *, color: bool) -> None:
        self.out, self.err, self.color = out, err, color

    def prefix(self, label: str, index: int) -> str:
        """Return ``[label]``, coloured when colour is on."""
        if not self.color:
            return f"[{label}]"
        return f"\033[{PALETTE[index % len(PALETTE)]}m[{label}]\033[0m"

    def line(self, label: str, index: int, text: str) -> None:
        """Print one log line on stdout."""
        print(f"{self.prefix(label, index)} {printable(text)}", file=self.out, flush=True)

    def note(self, level: str, label: str, index: int, text: str) -> None:
        """Print one status line on stderr, e.g. ``WARNING: [T012] ...``."""
        line = f"{level}: {self.prefix(label, index)} {printable(text)}"
        print(line, file=self.err, flush=True)
