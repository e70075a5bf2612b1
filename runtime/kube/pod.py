"""One typed view of an agent pod, over the API's JSON shape.

Pods are handled as plain dicts in the API's JSON shape (camelCase keys), as the
watch's ``raw_object`` gives them; :func:`as_plain` converts client models.  Every
read of a pod's fields goes through :class:`PodView`, so a missing ``metadata`` or
``status`` is handled once, here.

An agent pod has two containers (docs/architecture.md, "Contract: agent pod"): ``git``,
a native sidecar listed in ``status.initContainerStatuses``, whose log holds the result
line and whose end is the pod's end; and ``agent``, in ``status.containerStatuses``.
A pod without a ``git`` container (made by an older version) is read by its ``agent``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

from runtime.contract import pod as pod_contract
from runtime.contract.start import StartPoint, StartPointError, decode
from runtime.kube import labels

AGENT_CONTAINER = pod_contract.AGENT_CONTAINER
RESULT_CONTAINER = pod_contract.RESULT_CONTAINER  # `git`: its log and its end are the pod's
ENDED_PHASES = ("Succeeded", "Failed")
# DisruptionTarget reasons and the pod reason that say the pod's node is gone
NODE_LOST_REASONS = {
    "DeletionByTaintManager": "not ready or unreachable",  # its NoExecute taint, tolerated 20 s
    "DeletionByPodGC": "gone from the cluster",
    "NodeLost": "unreachable",  # status.reason, as older node controllers set it
}

Pod = dict[str, Any]


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


def _dig(data: Any, *keys: str) -> Any:
    node: Any = data
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _text(value: Any) -> str:
    return str(value) if value is not None else ""


@dataclasses.dataclass(frozen=True)
class PodView:
    """Typed, total reads of one pod: absent fields are ``""``, ``{}`` or ``None``."""

    raw: Pod

    @property
    def name(self) -> str:
        """``metadata.name``."""
        return _text(_dig(self.raw, "metadata", "name"))

    @property
    def namespace(self) -> str:
        """``metadata.namespace``."""
        return _text(_dig(self.raw, "metadata", "namespace"))

    @property
    def created(self) -> str:
        """``metadata.creationTimestamp`` (RFC 3339), or ``""``."""
        return _text(_dig(self.raw, "metadata", "creationTimestamp"))

    @property
    def start_time(self) -> str:
        """``status.startTime`` (RFC 3339), or ``""``."""
        return _text(_dig(self.raw, "status", "startTime"))

    @property
    def resource_version(self) -> str:
        """``metadata.resourceVersion``."""
        return _text(_dig(self.raw, "metadata", "resourceVersion"))

    @property
    def deleting(self) -> bool:
        """Whether the pod has a ``deletionTimestamp`` (it is terminating)."""
        return _dig(self.raw, "metadata", "deletionTimestamp") is not None

    @property
    def labels(self) -> dict[str, str]:
        """``metadata.labels``."""
        return {k: _text(v) for k, v in (_dig(self.raw, "metadata", "labels") or {}).items()}

    @property
    def annotations(self) -> dict[str, str]:
        """``metadata.annotations``."""
        found = _dig(self.raw, "metadata", "annotations") or {}
        return {k: _text(v) for k, v in found.items()}

    def label(self, key: str) -> str:
        """One label's value, or ``""``."""
        return self.labels.get(key, "")

    def annotation(self, key: str) -> str:
        """One annotation's value, or ``""``."""
        return self.annotations.get(key, "")

    @property
    def started_from(self) -> tuple[StartPoint, ...]:
        """The prerequisites' work the spawn pinned (``()``: the base, or unreadable)."""
        try:
            return decode(self.annotation(labels.STARTED_FROM))
        except StartPointError:
            return ()

    @property
    def phase(self) -> str:
        """``status.phase``, or ``""`` before the API set one."""
        return _text(_dig(self.raw, "status", "phase"))

    @property
    def reason(self) -> str:
        """``status.reason`` (``DeadlineExceeded``, ``Evicted``, ...)."""
        return _text(_dig(self.raw, "status", "reason"))

    @property
    def message(self) -> str:
        """``status.message``."""
        return _text(_dig(self.raw, "status", "message"))

    @property
    def conditions(self) -> list[dict[str, Any]]:
        """``status.conditions``."""
        return [dict(c) for c in _dig(self.raw, "status", "conditions") or []]

    @property
    def node_name(self) -> str:
        """``spec.nodeName``, or ``""`` before the pod was scheduled."""
        return _text(_dig(self.raw, "spec", "nodeName"))

    @property
    def node_lost(self) -> str:
        """How the pod's node was lost (``"not ready or unreachable"``), or ``""``.

        Read from the pod alone (no access to Nodes needed): the ``DisruptionTarget``
        condition the taint manager (a NoExecute ``not-ready``/``unreachable`` taint past
        its toleration) or the pod garbage collector (the Node deleted) sets before
        deleting the pod, or the ``NodeLost`` pod reason.  Such a pod never ends by
        itself: its kubelet, which would stop the containers, is gone with the node.
        """
        if self.reason == "NodeLost":
            return NODE_LOST_REASONS["NodeLost"]
        for condition in self.conditions:
            if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
                found = NODE_LOST_REASONS.get(str(condition.get("reason") or ""), "")
                if found:
                    return found
        return ""

    @property
    def deadline_seconds(self) -> int | None:
        """``spec.activeDeadlineSeconds``."""
        value = _dig(self.raw, "spec", "activeDeadlineSeconds")
        return int(value) if value is not None else None

    @property
    def grace_seconds(self) -> int | None:
        """The grace period its containers get: the deletion's, else the spec's."""
        value = _dig(self.raw, "metadata", "deletionGracePeriodSeconds")
        if value is None:
            value = _dig(self.raw, "spec", "terminationGracePeriodSeconds")
        return int(value) if value is not None else None

    @property
    def statuses(self) -> list[dict[str, Any]]:
        """Every container's status: init containers (the ``git`` sidecar) first."""
        found: list[dict[str, Any]] = []
        for key in ("initContainerStatuses", "containerStatuses"):
            listed = _dig(self.raw, "status", key) or []
            found += [dict(s) for s in listed if isinstance(s, Mapping)]
        return found

    def status_of(self, name: str) -> dict[str, Any]:
        """The status of container ``name``, or ``{}``."""
        return next((s for s in self.statuses if s.get("name") == name), {})

    @property
    def has_git_side(self) -> bool:
        """Whether the pod has the ``git`` container (in its spec or its status)."""
        spec = _dig(self.raw, "spec", "initContainers") or []
        in_spec = any(c.get("name") == RESULT_CONTAINER for c in spec if isinstance(c, Mapping))
        return in_spec or bool(self.status_of(RESULT_CONTAINER))

    @property
    def agent(self) -> dict[str, Any]:
        """The ``agent`` container's status (or the first main container's), or ``{}``."""
        statuses = [dict(s) for s in _dig(self.raw, "status", "containerStatuses") or []]
        for status in statuses:
            if status.get("name") == AGENT_CONTAINER:
                return status
        return statuses[0] if statuses else {}

    @property
    def result_status(self) -> dict[str, Any]:
        """The status of the container whose log holds the result: ``git`` (else ``agent``)."""
        return self.status_of(RESULT_CONTAINER) if self.has_git_side else self.agent

    @property
    def terminated(self) -> dict[str, Any] | None:
        """The result container's terminated state, if it has terminated."""
        state = _dig(self.result_status, "state", "terminated")
        return dict(state) if isinstance(state, Mapping) else None

    @property
    def result_end(self) -> dict[str, Any] | None:
        """How the result container last ended: its terminated state, else its ``lastState``'s.

        A sidecar killed while the pod still ran shows ``waiting`` (being restarted) with
        the kill in ``lastState``; once the pod has ended, that is how it ended.
        """
        status = self.result_status
        for key in ("state", "lastState"):
            state = _dig(status, key, "terminated")
            if isinstance(state, Mapping):
                return dict(state)
        return None

    @property
    def agent_terminated(self) -> dict[str, Any] | None:
        """The ``agent`` container's terminated state (e.g. ``OOMKilled``), if any."""
        state = _dig(self.agent, "state", "terminated")
        return dict(state) if isinstance(state, Mapping) else None

    @property
    def finished(self) -> bool:
        """Whether the pod has ended: the phase is final, or its result container ended.

        The ``git`` sidecar ends after the agent; a ``git`` that terminated while the
        agent has not (yet) is being restarted by the kubelet, unless the pod is deleted.
        A pod whose node is lost (:attr:`node_lost`) has ended too: nothing reports on it.
        """
        if self.phase in ENDED_PHASES or self.node_lost:
            return True
        if self.terminated is None:
            return False
        return not self.has_git_side or self.agent_terminated is not None or self.deleting

    @property
    def started(self) -> bool:
        """Whether the result container runs or ran (its logs can be read)."""
        state = _dig(self.result_status, "state") or {}
        return bool(state.get("running") or state.get("terminated")) or self.finished

    def limit_of(self, name: str, resource: str = "memory") -> str:
        """Container ``name``'s limit of ``resource``, e.g. ``2Gi``, or ``unknown``."""
        for key in ("containers", "initContainers"):
            for container in _dig(self.raw, "spec", key) or []:
                if container.get("name") == name:
                    return str(_dig(container, "resources", "limits", resource) or "unknown")
        return "unknown"

    @property
    def memory_limit(self) -> str:
        """The agent container's memory limit, e.g. ``2Gi``, or ``unknown``."""
        return self.limit_of(AGENT_CONTAINER)


def agent_status(pod: Pod) -> dict[str, Any]:
    """Return the ``agent`` container's status (see :attr:`PodView.agent`)."""
    return PodView(pod).agent


def terminated(pod: Pod) -> dict[str, Any] | None:
    """Return the result container's terminated state, if it has terminated."""
    return PodView(pod).terminated


def is_finished(pod: Pod) -> bool:
    """Whether the pod has ended (see :attr:`PodView.finished`)."""
    return PodView(pod).finished


def has_started(pod: Pod) -> bool:
    """Whether the result container runs or ran (its logs can be read)."""
    return PodView(pod).started
