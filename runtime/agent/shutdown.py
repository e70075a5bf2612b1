"""SIGTERM handling shared by both sides of the pod."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType


class TerminatedError(Exception):
    """SIGTERM arrived during an interruptible phase (raised from the signal handler)."""


class Shutdown:
    """Remembers SIGTERM/SIGINT; interrupts the phases marked interruptible, flags the others."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.at: float | None = None
        self.interruptible = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler."""
        if not self.requested.is_set():
            self.at = time.monotonic()
            self.requested.set()
        if self.interruptible:
            self.interruptible = False
            raise TerminatedError(signal.Signals(signum).name)

    def install(self) -> None:
        """Handle SIGTERM (pod deletion, deadline, the agent's end for the git side) and SIGINT."""
        signal.signal(signal.SIGTERM, self.handle)
        signal.signal(signal.SIGINT, self.handle)


class LateWatch:
    """Says in the log where this side is when no result follows a SIGTERM in time.

    The kubelet SIGKILLs a container its grace period after the SIGTERM; a side that has
    not printed its result by then leaves the host only "killed (exit 137)".  This daemon
    thread is woken by the signal itself (:func:`signal.set_wakeup_fd`: the byte is
    written by the C-level handler, even while the main thread is blocked in a system call
    and cannot run the Python one) and, ``after`` seconds on with :meth:`done` not called,
    writes one line to stderr: how long ago the signal came and the main thread's
    innermost frames (file, line and function names only: never a value).
    """

    def __init__(self, after: float, write: Callable[[str], object] | None = None) -> None:
        self.after = after
        self.fired = threading.Event()
        self._done = threading.Event()
        self._write = write or _write_stderr
        self._main = threading.main_thread().ident
        self._reader, self._writer = socket.socketpair()
        self._previous = -1
        self._thread = threading.Thread(target=self._watch, name="late-watch", daemon=True)

    def start(self) -> None:
        """Install the wakeup fd (from the main thread) and start watching."""
        self._writer.setblocking(False)
        self._previous = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._thread.start()

    def done(self) -> None:
        """The result is out: nothing to say."""
        self._done.set()

    def stop(self) -> None:
        """Put back the wakeup fd there was before :meth:`start` (tests)."""
        self.done()
        signal.set_wakeup_fd(self._previous)
        self._writer.close()  # the watch reads the end of the stream and closes its side
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        with self._reader:
            try:
                signals = self._reader.recv(16)
            except OSError:
                return
        if not signals or self._done.wait(self.after):
            return
        names = ", ".join(sorted({_signal_name(number) for number in signals}))
        frame = sys._current_frames().get(self._main or -1)
        where = " <- ".join(
            f"{os.path.basename(f.filename)}:{f.lineno} {f.name}"
            for f in reversed(traceback.extract_stack(frame)[-6:] if frame else [])
        )
        self._write(
            f"[git] WARNING: no result {self.after:g}s after {names}; "
            f"the main thread is at {where or 'an unknown place'}\n"
        )
        self.fired.set()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _write_stderr(line: str) -> None:
    os.write(2, line.encode("utf-8", "replace"))  # not sys.stderr: its lock may be held
