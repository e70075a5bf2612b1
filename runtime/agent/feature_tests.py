"""The agent side of an integration pod: the feature's test command on the merged work.

It runs in the untrusted ``agent`` container (the repository's code runs here, never
in ``git``), as ``sh -c TEST_COMMAND`` in the work tree, in a process group of its
own, its output relayed line by line; the pod's deadline and a SIGTERM end it (the
whole group).  Without a test command there is nothing to run: the integration is
reported on its merges alone.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from runtime.agent.handoff import Verdict
from runtime.agent.opencode import terminate_group
from runtime.contract.outcome import Status

POLL_SECONDS = 0.2
LAST_LINES = 3  # of the output, in a failure's reason

Emit = Callable[[str], None]


def run_tests(
    command: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    deadline: float | None,
    stop_requested: threading.Event,
    emit: Emit,
) -> Verdict:
    """Run ``command``; succeeded on exit 0, else failed with its last lines."""
    if not command:
        return Verdict(Status.SUCCEEDED, "no test command configured")
    emit(f"[agent] running the feature's tests: {command}")
    proc = subprocess.Popen(
        ["sh", "-c", command],
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
    pump = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    pump.start()
    last: list[str] = []
    stopped = ""
    while True:
        if stop_requested.is_set():
            stopped = "killed"
        elif deadline is not None and time.monotonic() >= deadline:
            stopped = "timeout"
        if stopped:
            terminate_group(proc)
            break
        try:
            line = lines.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if line is None:
            break
        emit(f"[test] {line}")
        last = [*last[-(LAST_LINES - 1) :], line]
    code = proc.wait()
    pump.join(timeout=1)
    if stopped == "killed":
        return Verdict(Status.KILLED, "terminated by a signal during the tests")
    if stopped == "timeout":
        return Verdict(Status.TIMEOUT, "the deadline passed during the tests")
    if code == 0:
        return Verdict(Status.SUCCEEDED, "tests passed")
    tail = " | ".join(line.strip() for line in last if line.strip())
    return Verdict(Status.FAILED, f"tests failed (exit {code})" + (f": {tail}" if tail else ""))


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)
