"""Classify how an agent pod ended.

The pod's own result line (``runtime.contract.outcome``) is the best evidence and wins when
present.  Without it the pod status is read: the pod-level reason
(``DeadlineExceeded``, ``Evicted``), then the ``agent`` container's terminated
state (``OOMKilled``, signal exit codes, our own exit codes).

Pods are handled as plain dicts in the API's JSON shape (camelCase keys), as the
watch's ``raw_object`` gives them; :func:`as_plain` converts client models.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from runtime.contract.outcome import Result, Status, status_for_exit_code

AGENT_CONTAINER = "agent"
ENDED_PHASES = ("Succeeded", "Failed")
SIGNAL_EXIT_CODES = {137: "SIGKILL", 143: "SIGTERM"}
LAST_LINES = 5

Pod = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The verdict on one pod: a status, a human reason, and the result line if any."""

    status: Status
    reason: str
    result: Result | None = None


@functools.lru_cache(maxsize=1)
def _serializer() -> Any:
    from kubernetes.client import ApiClient

    return ApiClient()


def as_plain(obj: Any) -> Pod:
    """Return ``obj`` as a JSON-shaped dict (camelCase keys); dicts pass through."""
    if isinstance(obj, Mapping):
        return dict(obj)
    plain = _serializer().sanitize_for_serialization(obj)
    return dict(plain) if isinstance(plain, Mapping) else {}


def _dig(data: Mapping[str, Any] | None, *keys: str) -> Any:
    node: Any = data
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def agent_status(pod: Pod) -> dict[str, Any]:
    """Return the ``agent`` container's status (or the first container's), or ``{}``."""
    statuses = _dig(pod, "status", "containerStatuses") or []
    for status in statuses:
        if status.get("name") == AGENT_CONTAINER:
            return dict(status)
    return dict(statuses[0]) if statuses else {}


def terminated(pod: Pod) -> dict[str, Any] | None:
    """Return the agent container's terminated state, if it has terminated."""
    state = _dig(agent_status(pod), "state", "terminated")
    return dict(state) if isinstance(state, Mapping) else None


def is_finished(pod: Pod) -> bool:
    """Whether the pod has ended: the container terminated, or the phase is final."""
    return terminated(pod) is not None or _dig(pod, "status", "phase") in ENDED_PHASES


def has_started(pod: Pod) -> bool:
    """Whether the agent container runs or ran (its logs can be read)."""
    state = _dig(agent_status(pod), "state") or {}
    return bool(state.get("running") or state.get("terminated")) or is_finished(pod)


def memory_limit(pod: Pod) -> str:
    """Return the agent container's memory limit, e.g. ``2Gi``, or ``unknown``."""
    for container in _dig(pod, "spec", "containers") or []:
        if container.get("name") == AGENT_CONTAINER:
            return str(_dig(container, "resources", "limits", "memory") or "unknown")
    return "unknown"


def _tail(last_lines: Sequence[str]) -> str:
    lines = [line.strip() for line in last_lines if line.strip()][-LAST_LINES:]
    return "; last lines: " + " | ".join(lines) if lines else "; no log output"


def _from_result(result: Result) -> Outcome:
    reason = result.reason or f"the agent reported {result.status.value}"
    return Outcome(result.status, reason, result)


def _from_pod_reason(pod: Pod) -> Outcome | None:
    reason = _dig(pod, "status", "reason")
    message = _dig(pod, "status", "message") or ""
    if reason == "DeadlineExceeded":
        deadline = _dig(pod, "spec", "activeDeadlineSeconds")
        limit = f" ({deadline}s)" if deadline else ""
        return Outcome(Status.TIMEOUT, f"the pod's deadline{limit} passed before a result")
    if reason == "Evicted":
        return Outcome(Status.KILLED, f"evicted: {message}".rstrip(": "))
    return None


def _from_container(pod: Pod, last_lines: Sequence[str]) -> Outcome | None:
    state = terminated(pod)
    if state is None:
        return None
    code = int(state.get("exitCode", -1))
    if state.get("reason") == "OOMKilled":
        return Outcome(Status.FAILED, f"out of memory (limit {memory_limit(pod)})")
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
    phase = _dig(plain, "status", "phase") or "Unknown"
    if phase not in ENDED_PHASES:
        return Outcome(Status.UNKNOWN, f"the pod has not ended (phase {phase})")
    detail = _dig(plain, "status", "message") or _dig(plain, "status", "reason") or ""
    reason = f"pod {phase}" + (f": {detail}" if detail else "")
    return Outcome(Status.UNKNOWN, reason + _tail(last_lines))
