"""The handoff directory: what the ``git`` and ``agent`` containers pass each other.

``git`` (trusted) writes ``ready`` (and ``abort``) before the agent starts; ``agent``
(untrusted) writes ``verdict.json`` (its claimed status) and ``agent.log`` (its output
lines).  Anything in this directory may have been planted by the agent: a symlink to
the git Secret, a FIFO that blocks a reader, a file of gigabytes.  So the git side opens
every file here with ``O_NOFOLLOW | O_NONBLOCK``, requires a regular file, reads at
most a cap, and writes only by an atomic rename of a file it created itself.

Relayed lines lose their control characters and line separators, and a line that
would parse as a result line is prefixed with :data:`FORGED_PREFIX`: the only result
line in the ``git`` container's log is its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from runtime.contract import files
from runtime.contract.outcome import RESULT_PREFIX, Status
from runtime.contract.pod import Handoff

MAX_SMALL_FILE = 64 * 1024  # verdict.json, ready
MAX_LINE_CHARS = 2000
MAX_REASON_CHARS = 500
MAX_RELAY_BYTES = 32 * 1024 * 1024
READ_CHUNK = 64 * 1024
FORGED_PREFIX = "[agent:forged] "
HANDOFF_MODE = 0o644  # files the other container (another user) reads
# what the agent may claim; everything else (git-auth-failed, push-rejected...) is the
# git side's to say. setup-failed too: the setup script runs in the agent's container, and
# claiming it only ends the agent's own task, its work tree not pushed
CLAIMABLE = (
    Status.SUCCEEDED,
    Status.FAILED,
    Status.STALLED,
    Status.TIMEOUT,
    Status.KILLED,
    Status.NO_CHANGES,
    Status.SETUP_FAILED,
)
# C0 and C1 controls (tab handled apart), DEL, and what str.splitlines() or a terminal
# treats specially: line/paragraph separators, bidi overrides and isolates, BOM
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")  # CSI, OSC
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


class UntrustedFileError(Exception):
    """A handoff file is not a regular file (symlink, FIFO, directory...)."""


def clean_text(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """``text`` on one line: tabs as spaces, control and separator characters removed, capped."""
    text = _UNSAFE.sub("", _ANSI.sub("", text.replace("\t", " ")))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_line(text: str) -> str:
    """One relayed line: :func:`clean_text`, and never a result line."""
    text = clean_text(text)
    if text.strip().startswith(RESULT_PREFIX.strip()):
        return FORGED_PREFIX + text
    return text


def open_untrusted(path: Path) -> int:
    """Open ``path`` for reading without following a symlink or blocking on a FIFO.

    Raises:
        FileNotFoundError: nothing there.
        UntrustedFileError: a symlink, FIFO, socket, device or directory.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise UntrustedFileError(f"{path.name}: cannot open safely ({err.strerror})") from err
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UntrustedFileError(f"{path.name}: not a regular file")
    return fd


def read_untrusted(path: Path, limit: int = MAX_SMALL_FILE) -> bytes | None:
    """At most ``limit`` bytes of a regular file; ``None`` when absent or not regular."""
    try:
        fd = open_untrusted(path)
    except (FileNotFoundError, UntrustedFileError):
        return None
    try:
        return os.read(fd, limit + 1)[: limit + 1]
    finally:
        os.close(fd)


def write_atomic(directory: Path, name: str, data: bytes) -> None:
    """Write ``directory/name`` by renaming a new file over it (a planted symlink is replaced).

    :func:`runtime.contract.files.write_atomic` with mode :data:`HANDOFF_MODE`: the new
    file is created exclusively (never through a link), mode 0644 whatever the umask
    (the reader is another user), written in full and synced before the rename; it is
    removed when anything fails.
    """
    files.write_atomic(directory / name, data, mode=HANDOFF_MODE)


# --- ready / abort (git -> agent) -----------------------------------------------------


def mark_ready(directory: Path, started_at: float, *, abort: str = "") -> None:
    """Let the agent start: ``abort`` first (why there is nothing to do), then ``ready``."""
    directory.mkdir(parents=True, exist_ok=True)
    if abort:
        write_atomic(directory, Handoff.ABORT, abort.encode("utf-8") + b"\n")
    payload = {"started_at": started_at}
    write_atomic(directory, Handoff.READY, json.dumps(payload).encode("utf-8") + b"\n")


@dataclasses.dataclass(frozen=True)
class Ready:
    """What the agent learns from the git side before it starts."""

    started_at: float  # time.time() when the git side started (the pod's run began)
    abort: str | None  # why there is nothing to work on, or None


def read_ready(directory: Path) -> Ready | None:
    """The git side's ``ready`` (and ``abort``); ``None`` before it is there."""
    raw = read_untrusted(directory / Handoff.READY)
    if raw is None:
        return None
    try:
        started = float(json.loads(raw.decode("utf-8")).get("started_at", 0.0))
    except (ValueError, AttributeError, TypeError):
        started = 0.0
    abort = read_untrusted(directory / Handoff.ABORT)
    reason = None if abort is None else clean_text(abort.decode("utf-8", "replace").strip())
    return Ready(started, reason)


# --- stop (git -> agent) ---------------------------------------------------------------


def request_stop(directory: Path, reason: str) -> None:
    """Ask the agent side to stop opencode now (the token budget is spent): ``stop``."""
    write_atomic(directory, Handoff.STOP, reason.encode("utf-8") + b"\n")


def read_stop(directory: Path) -> str | None:
    """Why the git side asked to stop (cleaned), or ``None`` when it did not."""
    raw = read_untrusted(directory / Handoff.STOP)
    return None if raw is None else clean_text(raw.decode("utf-8", "replace").strip())


# --- verdict (agent -> git) ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The agent's claim about its run: one of :data:`CLAIMABLE` and why."""

    status: Status
    reason: str = ""


def write_verdict(directory: Path, verdict: Verdict) -> None:
    """The agent side's last act: its claimed status and reason."""
    payload = {"status": verdict.status.value, "reason": verdict.reason}
    write_atomic(directory, Handoff.VERDICT, json.dumps(payload).encode("utf-8") + b"\n")


def read_verdict(directory: Path) -> Verdict | None:
    """The agent's claim, or ``None`` when missing, not a regular file, too big or malformed.

    Only ``status`` and ``reason`` are read: the task, branch and commit of the result
    are the git side's own, whatever else the file says.
    """
    raw = read_untrusted(directory / Handoff.VERDICT)
    if raw is None or len(raw) > MAX_SMALL_FILE:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        status = Status(data["status"])
        reason = data.get("reason", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if status not in CLAIMABLE or not isinstance(reason, str):
        return None
    return Verdict(status, clean_text(reason, MAX_REASON_CHARS))


# --- agent.log (agent -> git -> the pod's log) ----------------------------------------


class AgentLog:
    """The agent side's line sink in the handoff directory (append-only, best effort)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def write(self, line: str) -> None:
        """Append one line; a failure to write loses the line, never the run."""
        try:
            if self._fd is None:
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                self._fd = os.open(self.path, flags, 0o644)
            os.write(self._fd, line.encode("utf-8", "replace") + b"\n")
        except OSError:
            return

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Relay:
    """Copies the agent's lines from ``agent.log`` to the git side's output, cleaned.

    The file is opened once it is there (safely; a symlink or FIFO is refused and
    reported once), read incrementally, and at most :data:`MAX_RELAY_BYTES` are relayed.
    """

    def __init__(self, path: Path, emit: Callable[[str], None]) -> None:
        self.path, self.emit = path, emit
        self.relayed = 0
        self._fd: int | None = None
        self._buffer = b""
        self._refused = False
        self._capped = False

    def poll(self) -> None:
        """Relay every complete line written since the last call."""
        if self._fd is None and not self._open():
            return
        assert self._fd is not None
        while not self._capped:
            try:
                chunk = os.read(self._fd, READ_CHUNK)
            except OSError as err:
                self.emit(f"[git] WARNING: stopped relaying the agent's log: {err.strerror}")
                self._capped = True
                return
            if not chunk:
                return
            self._take(chunk)

    def finish(self) -> None:
        """Relay what is left, including a last line without a newline; close."""
        self.poll()
        if self._buffer and not self._capped:
            self.emit(clean_line(self._buffer.decode("utf-8", "replace")))
        self._buffer = b""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self) -> bool:
        if self._refused:
            return False
        try:
            self._fd = open_untrusted(self.path)
        except FileNotFoundError:
            return False
        except UntrustedFileError as err:
            self._refused = True
            self.emit(f"[git] WARNING: not relaying the agent's log: {err}")
            return False
        return True

    def _take(self, chunk: bytes) -> None:
        room = MAX_RELAY_BYTES - self.relayed
        if len(chunk) >= room:
            chunk, self._capped = chunk[:room], True
        self.relayed += len(chunk)
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > 4 * MAX_LINE_CHARS:  # one endless line: cut it
            lines.append(self._buffer)
            self._buffer = b""
        for line in lines:
            self.emit(clean_line(line.decode("utf-8", "replace")))
        if self._capped:
            limit = MAX_RELAY_BYTES // (1024 * 1024)
            self.emit(f"[git] WARNING: the agent's log was cut at {limit} MiB")
