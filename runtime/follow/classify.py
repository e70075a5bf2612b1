"""Classify how an agent pod ended.

The pod's own result line (``runtime.contract.outcome``) is the best evidence and wins when
present.  Without it the pod status is read: the pod-level reason
(``DeadlineExceeded``, ``Evicted``), then the ``agent`` container's terminated
state (``OOMKilled``, signal exit codes, our own exit codes).

Pods are read through :class:`runtime.kube.pod.PodView`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from runtime.contract.outcome import Result, Status, status_for_exit_code
from runtime.kube.pod import ENDED_PHASES, Pod, PodView, as_plain

SIGNAL_EXIT_CODES = {137: "SIGKILL", 143: "SIGTERM"}
LAST_LINES = 5


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The verdict on one pod: a status, a human reason, and the result line if any."""

    status: Status
    reason: str
    result: Result | None = None


def _tail(last_lines: Sequence[str]) -> str:
    lines = [line.strip() for line in last_lines if line.strip()][-LAST_LINES:]
    return "; last lines: " + " | ".join(lines) if lines else "; no log output"


def _from_result(result: Result) -> Outcome:
    reason = result.reason or f"the agent reported {result.status.value}"
    return Outcome(result.status, reason, result)


def _from_pod_reason(pod: Pod) -> Outcome | None:
    view = PodView(pod)
    reason, message = view.reason, view.message
    if reason == "DeadlineExceeded":
        deadline = view.deadline_seconds
        limit = f" ({deadline}s)" if deadline else ""
        return Outcome(Status.TIMEOUT, f"the pod's deadline{limit} passed before a result")
    if reason == "Evicted":
        return Outcome(Status.KILLED, f"evicted: {message}".rstrip(": "))
    return None


def _from_container(pod: Pod, last_lines: Sequence[str]) -> Outcome | None:
    view = PodView(pod)
    state = view.terminated
    if state is None:
        return None
    code = int(state.get("exitCode", -1))
    if state.get("reason") == "OOMKilled":
        return Outcome(Status.FAILED, f"out of memory (limit {view.memory_limit})")
    if code in SIGNAL_EXIT_CODES:
        signal = SIGNAL_EXIT_CODES[code]
        return Outcome(Status.KILLED, f"killed by {signal} (exit {code}) before a result")
    status = status_for_exit_code(code)
    if status is not None and not status.ok:  # success needs the result line (its commit)
        return Outcome(status, f"exited {code} ({status.value}) without a result line")
    return Outcome(Status.UNKNOWN, f"exited {code}{_tail(last_lines)}")


def classify(
    pod: Any,
    result: Result | None,
    *,
    deleted: bool = False,
    last_lines: Sequence[str] = (),
) -> Outcome:
    """Decide how a pod ended.

    Args:
        pod: the pod (dict or client model); may be ``None`` when it is gone.
        result: the result line read from its log, if any.
        deleted: the pod was deleted before it ended.
        last_lines: its last log lines, quoted when nothing else explains the end.

    Returns:
        The outcome; ``UNKNOWN`` when nothing explains it.
    """
    if result is not None:
        return _from_result(result)
    plain = as_plain(pod) if pod is not None else {}
    if deleted or not plain:
        return Outcome(Status.KILLED, "the pod was deleted before it finished")
    for outcome in (_from_pod_reason(plain), _from_container(plain, last_lines)):
        if outcome is not None:
            return outcome
    view = PodView(plain)
    phase = view.phase or "Unknown"
    if phase not in ENDED_PHASES:
        return Outcome(Status.UNKNOWN, f"the pod has not ended (phase {phase})")
    detail = view.message or view.reason
    reason = f"pod {phase}" + (f": {detail}" if detail else "")
    return Outcome(Status.UNKNOWN, reason + _tail(last_lines))
