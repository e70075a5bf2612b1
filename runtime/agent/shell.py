"""Run a command of the repository's in the agent container, its output relayed line by line.

The repository's code (an integration's test command, the setup script) runs only in
the untrusted ``agent`` container, never in ``git``.  It runs in the work tree, in a
process group of its own, stdin closed, stdout and stderr merged and relayed with a
prefix; a deadline or a stop request ends the whole group (SIGTERM, then SIGKILL).

A process it leaves running in the background (a database for the tests, say) is not
waited for: once the command has exited, the output is read for
:data:`EXIT_DRAIN_SECONDS` more, then no longer relayed; the process keeps running
until the container ends.
"""

from __future__ import annotations

import dataclasses
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from runtime.agent.opencode import terminate_group

POLL_SECONDS = 0.2
EXIT_DRAIN_SECONDS = 2.0

Emit = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Ran:
    """How a command ended: its exit code, why it was stopped, its last output lines."""

    code: int
    stopped: str  # "" (it exited), "killed" (stop requested) or "timeout" (the deadline)
    last: tuple[str, ...]


def run_relayed(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    deadline: float | None,
    stop_requested: threading.Event,
    emit: Emit,
    prefix: str,
    keep: int,
) -> Ran:
    """Run ``argv`` to its end, a ``deadline`` (monotonic) or ``stop_requested``.

    Each output line is emitted as ``prefix + line``; the last ``keep`` are returned.
    """
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env={**env, "PWD": str(cwd)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    detached = threading.Event()
    pump = threading.Thread(target=_pump, args=(proc.stdout, lines, detached), daemon=True)
    pump.start()
    last: list[str] = []
    stopped, exited_at = "", 0.0
    while True:
        if stop_requested.is_set():
            stopped = "killed"
        elif deadline is not None and time.monotonic() >= deadline:
            stopped = "timeout"
        if stopped:
            terminate_group(proc)
            break
        if proc.poll() is not None:
            exited_at = exited_at or time.monotonic()
            if time.monotonic() - exited_at > EXIT_DRAIN_SECONDS:
                break  # a background process holds the output open: leave it running
        try:
            line = lines.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if line is None:
            break
        emit(prefix + line)
        last = [*last[-(keep - 1) :], line] if keep > 0 else []
    detached.set()
    code = proc.wait()
    pump.join(timeout=0 if exited_at else 1)
    return Ran(code, stopped, tuple(last))


def _pump(stream: IO[str], lines: queue.Queue[str | None], detached: threading.Event) -> None:
    with stream:
        for line in stream:
            if not detached.is_set():  # else nobody reads them: dropped
                lines.put(line.rstrip("\n"))
    lines.put(None)
