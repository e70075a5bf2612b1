"""The agent side of an integration pod: the feature's test command on the merged work.

It runs in the untrusted ``agent`` container (the repository's code runs here, never
in ``git``), as ``sh -c TEST_COMMAND`` in the work tree (:mod:`runtime.agent.shell`: a
process group of its own, its output relayed line by line); the pod's deadline and a
SIGTERM end it (the whole group).  Without a test command there is nothing to run: the
integration is reported on its merges alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.agent import shell
from runtime.agent.handoff import Verdict
from runtime.contract.outcome import Status

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
    ran = shell.run_relayed(
        ["sh", "-c", command],
        cwd=cwd,
        env=env,
        deadline=deadline,
        stop_requested=stop_requested,
        emit=emit,
        prefix="[test] ",
        keep=LAST_LINES,
    )
    if ran.stopped == "killed":
        return Verdict(Status.KILLED, "terminated by a signal during the tests")
    if ran.stopped == "timeout":
        return Verdict(Status.TIMEOUT, "the deadline passed during the tests")
    if ran.code == 0:
        return Verdict(Status.SUCCEEDED, "tests passed")
    tail = " | ".join(line.strip() for line in ran.last if line.strip())
    return Verdict(Status.FAILED, f"tests failed (exit {ran.code})" + (f": {tail}" if tail else ""))
