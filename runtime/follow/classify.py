"""Classify how an agent pod ended.

The pod's own result line (``runtime.contract.outcome``), the last line of the ``git``
container's log, is the best evidence and wins when present -- if it is about this
pod: its task and branch must match the pod's task label and branch annotation, else
it is ignored as forged.  Without it the pod status is read: the pod-level reason
(``DeadlineExceeded``, ``Evicted``), then how the ``git`` container ended (its
terminated state, else its ``lastState``: ``OOMKilled``, signal exit codes, our own exit
codes), each message naming the container, its exit code and the kubelet's reason, with
a hint.  An end outside the run (a signal, OOM, the pod deleted or evicted by someone
other than us) is marked ``lost``: the dispatcher runs such a task again, once.  When
the result says the agent ended without a verdict and the ``agent`` container was
OOM-killed, that is said.  A pod whose node was lost (``PodView.node_lost``) is ``killed``
naming the node and its last checkpoint, the moment the taint manager deletes it
(tolerated for 20 s, not 300).

Pods are read through :class:`runtime.kube.pod.PodView`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from runtime.common.timestamps import parse_rfc3339
from runtime.contract.outcome import NO_VERDICT, Result, Status, status_for_exit_code
from runtime.kube import labels
from runtime.kube.pod import (
    AGENT_CONTAINER,
    ENDED_PHASES,
    RESULT_CONTAINER,
    Pod,
    PodView,
    as_plain,
)

SIGNAL_EXIT_CODES = {137: "SIGKILL", 143: "SIGTERM"}
# the kubelet's reasons for a container it killed (memory) or lost track of (node trouble)
KILL_REASONS = ("OOMKilled", "ContainerStatusUnknown")
LAST_LINES = 5
# the git side's line for each checkpoint it pushed (runtime.agent.checkpoint.Checkpoints.take)
_CHECKPOINT_LINE = re.compile(
    r"^\[git\] checkpoint (?P<commit>[0-9a-f]{12}) \(\d+ file\(s\)\) pushed to "
    r"(?P<ref>refs/speckit-pods/wip/\S+)"
)


def checkpoint_pushed(line: str) -> str:
    """``<ref> (checkpoint <commit12>)`` when ``line`` says a checkpoint was pushed, else ``""``.

    A hint for the reason only: the agent's relayed lines could imitate it; whether a
    rerun restores anything is decided by the pod from the ref itself.
    """
    match = _CHECKPOINT_LINE.match(line.strip())
    return f"{match['ref']} (checkpoint {match['commit']})" if match else ""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The verdict on one pod: a status, a human reason, and the result line if any.

    ``lost``: it ended without a result line for a reason outside the run -- its
    result container killed by a signal, OOM or the node, or the pod deleted or evicted
    by someone other than us -- so running it again may well succeed (the dispatcher
    does, once).  ``hint``: the next step for the user when the pod could not say.
    """

    status: Status
    reason: str
    result: Result | None = None
    lost: bool = False
    hint: str = ""


def _tail(last_lines: Sequence[str]) -> str:
    lines = [line.strip() for line in last_lines if line.strip()][-LAST_LINES:]
    return "; last lines: " + " | ".join(lines) if lines else "; no log output"


def _hint(view: PodView) -> str:
    namespace = f"-n {view.namespace} " if view.namespace else ""
    return (
        f"`kubectl {namespace}describe pod {view.name or '<pod>'}` shows how each container "
        "ended; a kill under load is node pressure (`kubectl describe node`): run fewer pods "
        "at once (--max-parallel) or raise the limits (--cpu, --memory)"
    )


def _label_value(text: str) -> str:
    """The task label made of a task ID (as ``runtime.spawn.names.label_value`` for IDs)."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", text).strip("-_.")


def is_about(result: Result, pod: Pod) -> bool:
    """Whether ``result`` names the pod's own task and branch (where the pod says them)."""
    view = PodView(pod)
    task, branch = view.label(labels.TASK), view.annotation(labels.BRANCH)
    task_ok = not task or task in (result.task, _label_value(result.task))
    return task_ok and (not branch or branch == result.branch)


def _from_result(result: Result, pod: Pod) -> Outcome:
    reason = result.reason or f"the agent reported {result.status.value}"
    agent_end = PodView(pod).agent_terminated or {}
    if reason.startswith(NO_VERDICT) and agent_end.get("reason") == "OOMKilled":
        limit = PodView(pod).memory_limit
        reason = f"out of memory (limit {limit}): {reason}"
    view = PodView(pod)
    if result.status is Status.KILLED and view.reason == "Evicted":
        # the git side saw only its SIGTERM; the kubelet says why it came
        reason = f"evicted: {view.message}; {reason}" if view.message else f"evicted; {reason}"
    return Outcome(result.status, reason, result)


def _node_lost(pod: Pod, checkpoint: str) -> Outcome | None:
    view = PodView(pod)
    how = view.node_lost
    if not how:
        return None
    node = view.node_name or "?"
    if checkpoint:
        then = f"work since the last checkpoint may be lost; rerun continues from {checkpoint}"
    else:
        then = "no checkpoint of this run was pushed: its work is lost, a rerun starts it again"
    return Outcome(Status.KILLED, f"node {node} lost ({how}); {then}")


def _from_pod_reason(pod: Pod) -> Outcome | None:
    view = PodView(pod)
    reason, message = view.reason, view.message
    if reason == "DeadlineExceeded":
        deadline = view.deadline_seconds
        limit = f" ({deadline}s)" if deadline else ""
        return Outcome(Status.TIMEOUT, f"the pod's deadline{limit} passed before a result")
    if reason == "Evicted":
        text = f"evicted: {message}".rstrip(": ") + " before it printed a result"
        return Outcome(Status.KILLED, text, lost=True, hint=_hint(view))
    return None


def _from_container(pod: Pod, last_lines: Sequence[str]) -> Outcome | None:
    """How the result container ended, when it printed no result line."""
    view = PodView(pod)
    state = view.result_end
    if state is None:
        return None
    name = RESULT_CONTAINER if view.has_git_side else AGENT_CONTAINER
    code, why = int(state.get("exitCode", -1)), str(state.get("reason") or "")
    ended = f"exit {code}" + (f", {why}" if why else "")
    killed = f"the {name} container was killed ({ended}){_when(view, name, state)}"
    killed += " before it printed a result"
    if why == "OOMKilled":
        text = f"out of memory (limit {view.limit_of(name)}): {killed}"
        return Outcome(Status.FAILED, text, lost=True, hint=_hint(view))
    if code in SIGNAL_EXIT_CODES or why in KILL_REASONS:
        return Outcome(Status.UNKNOWN, killed, lost=True, hint=_hint(view))
    status = status_for_exit_code(code)
    if status is not None and not status.ok:  # success needs the result line (its commit)
        text = f"the {name} container exited {code} ({status.value}) without a result line"
        return Outcome(status, text)
    text = f"the {name} container exited {code}" + (f" ({why})" if why else "")
    return Outcome(Status.UNKNOWN, text + _tail(last_lines), hint=_hint(view))


def _when(view: PodView, name: str, state: dict[str, Any]) -> str:
    """`` 61s after the agent container ended (grace period 60s),``: when the kill came.

    Tells a kill at the end of the grace period (the git side did not finish in time)
    from one that came early (an eviction, a node under pressure, a runtime fault).
    """
    if name == AGENT_CONTAINER:
        return ""
    agent = view.agent_terminated
    killed_at = parse_rfc3339(str(state.get("finishedAt") or ""))
    if agent is None:
        return " while the agent container still ran,"
    agent_at = parse_rfc3339(str(agent.get("finishedAt") or ""))
    if killed_at is None or agent_at is None:
        return ""
    seconds = round((killed_at - agent_at).total_seconds())
    grace = view.grace_seconds
    of = f" (grace period {grace}s)" if grace is not None else ""
    return f" {seconds}s after the agent container ended{of},"


def _states(view: PodView) -> str:
    """``git running, agent exited 0``: what the pod's status says of each container."""
    parts = []
    for status in view.statuses:
        state = status.get("state") or {}
        if isinstance(state.get("terminated"), dict):
            parts.append(f"{status.get('name')} exited {state['terminated'].get('exitCode')}")
        else:
            parts.append(f"{status.get('name')} {next(iter(state), 'unknown')}")
    return ", ".join(parts) or "no container status"


def _by_us(outcome: Outcome, view: PodView) -> Outcome:
    """A lost pod that we deleted on purpose (cancel, --replace) is not lost: it says so."""
    by = view.annotation(labels.DELETED_BY)
    if not (outcome.lost and by):
        return outcome
    return dataclasses.replace(outcome, reason=f"{outcome.reason} (deleted by {by})", lost=False)


def classify(
    pod: Any,
    result: Result | None,
    *,
    deleted: bool = False,
    last_lines: Sequence[str] = (),
    checkpoint: str = "",
) -> Outcome:
    """Decide how a pod ended.

    Args:
        pod: the pod (dict or client model); may be ``None`` when it is gone.
        result: the result line read from its log, if any.
        deleted: the pod was deleted before it ended.
        last_lines: its last log lines, quoted when nothing else explains the end.
        checkpoint: its last checkpoint (:func:`checkpoint_pushed`), named when its node
            was lost.

    Returns:
        The outcome; ``UNKNOWN`` when nothing explains it.
    """
    plain = as_plain(pod) if pod is not None else {}
    if result is not None and not is_about(result, plain):
        result = None  # forged: a result line about another task or branch
    if result is not None:
        return _from_result(result, plain)
    lost = _node_lost(plain, checkpoint) if plain else None
    if lost is not None:  # deleted too, by the taint manager or the pod GC
        # not ``lost`` (no rerun by the dispatcher): the pod stays Terminating on the
        # dead node until the node is back or removed, and holds the task's pod name
        return lost
    view = PodView(plain)
    if deleted or not plain:
        text = "the pod was deleted before it printed a result"
        return _by_us(Outcome(Status.KILLED, text, lost=True, hint=_hint(view)), view)
    for outcome in (_from_pod_reason(plain), _from_container(plain, last_lines)):
        if outcome is not None:
            return _by_us(outcome, view)
    phase = view.phase or "Unknown"
    if phase not in ENDED_PHASES:
        return Outcome(Status.UNKNOWN, f"the pod has not ended (phase {phase})")
    detail = view.message or view.reason
    reason = f"pod {phase}" + (f": {detail}" if detail else "") + f" ({_states(view)})"
    return Outcome(Status.UNKNOWN, reason + _tail(last_lines), hint=_hint(view))
