"""SIGTERM handling shared by both sides of the pod."""

from __future__ import annotations

import signal
import threading
import time
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
