"""Wait for an agent pod to start or end, with a watch, saying why it is stuck.

Every wait checks first (one GET), then watches the single pod (field selector)
for at most :data:`WATCH_SECONDS`, then re-reads and watches again, until the
condition holds or the deadline passes.  While the pod has not started, the
container waiting reasons, the ``PodScheduled`` condition and the pod's events
are turned into one :class:`Diagnosis` reported once each time it changes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from runtime.errors import KubeApiError, PodStuckError, StillRunningError
from runtime.kube.client import Kube, api_error
from runtime.kube.pod import Pod, PodView, as_plain, has_started

log = logging.getLogger(__name__)

WATCH_SECONDS = 30
# A restarting API server answers 401/403 until its authn/authz caches have synced;
# right after a dropped connection such denials are retried for this long.
RECOVERY_GRACE_S = 60.0
DENIED = (401, 403)
IMAGE_PULL_REASONS = ("ErrImagePull", "ImagePullBackOff")
NEVER_PULLABLE = ("ErrImageNeverPull", "InvalidImageName")
_MISSING = re.compile(r'(secret|configmap)s? "([^"]+)" not found', re.IGNORECASE)

Clock = Callable[[], float]


@dataclasses.dataclass(frozen=True)
class Deadline:
    """An optional point in time (monotonic clock) after which waiting stops."""

    at: float | None = None
    clock: Clock = time.monotonic

    @classmethod
    def after(cls, seconds: float | None, clock: Clock = time.monotonic) -> Deadline:
        """Return a deadline ``seconds`` from now (no limit for ``None``)."""
        return cls(None if seconds is None else clock() + seconds, clock)

    def remaining(self) -> float | None:
        """Seconds left (never negative), or ``None`` without a limit."""
        return None if self.at is None else max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.at is not None and self.clock() >= self.at


@dataclasses.dataclass
class Recovery:
    """Tracks a connection that dropped, to tell a restarting API server from RBAC.

    A denial (401/403) on the first call is real and reported at once; one that
    follows a dropped connection is retried until ``RECOVERY_GRACE_S`` after the drop.
    """

    clock: Clock = time.monotonic
    since: float | None = None

    def dropped(self) -> None:
        """A connection failed; start (or continue) the grace period."""
        if self.since is None:
            self.since = self.clock()

    def recovered(self) -> None:
        """A call went through."""
        self.since = None

    def tolerates(self, status: int | None) -> bool:
        """Whether a denial with HTTP ``status`` is retried rather than reported."""
        return (
            status in DENIED
            and self.since is not None
            and self.clock() - self.since < RECOVERY_GRACE_S
        )


@dataclasses.dataclass(frozen=True)
class StuckPolicy:
    """How long each kind of stuck pod is given before we give up."""

    image_pull_s: float = 120.0
    missing_config_s: float = 60.0
    unschedulable_s: float = 900.0  # long enough for a cluster autoscaler


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """Why a pod has not started: one line for the user, and whether it is fatal."""

    key: str  # category; a change of key is reported, a change of wording is not
    message: str
    fatal_after: float | None = None  # seconds in this state before giving up
    hint: str = ""


@dataclasses.dataclass(frozen=True)
class Waited:
    """The pod when the wait ended; ``deleted`` when it disappeared."""

    pod: Pod
    deleted: bool = False


class ClusterPods:
    """The pod API calls of this module, bound to one namespace."""

    def __init__(self, kube: Kube, watch_factory: Callable[[], Any] | None = None) -> None:
        self.core = kube.core
        self.namespace = kube.namespace
        self._watch_factory = watch_factory

    def read(self, name: str) -> Pod | None:
        """Return the pod, or ``None`` when it does not exist."""
        try:
            return as_plain(self.core.read_namespaced_pod(name, self.namespace))
        except ApiException as err:
            if err.status == 404:
                return None
            raise api_error(err, f"reading pod {name}") from err

    def select(self, label_selector: str) -> list[Pod]:
        """Return the pods matching ``label_selector``."""
        try:
            found = self.core.list_namespaced_pod(self.namespace, label_selector=label_selector)
        except ApiException as err:
            raise api_error(err, f"listing pods in {self.namespace}") from err
        return [as_plain(item) for item in as_plain(found).get("items") or []]

    def events(self, name: str) -> list[Pod]:
        """Return the events about pod ``name`` (empty when they cannot be read)."""
        selector = f"involvedObject.name={name}"
        try:
            found = self.core.list_namespaced_event(self.namespace, field_selector=selector)
        except ApiException as err:  # events are a hint only: RBAC may hide them
            log.debug("cannot list events of %s: %s", name, err.reason)
            return []
        return [as_plain(item) for item in as_plain(found).get("items") or []]

    def watch(self, name: str, resource_version: str, timeout_s: int) -> Iterator[tuple[str, Pod]]:
        """Yield ``(event type, pod)`` for pod ``name`` for at most ``timeout_s`` seconds."""
        if self._watch_factory is None:
            from kubernetes.watch import Watch

            self._watch_factory = Watch
        watcher = self._watch_factory()
        kwargs: dict[str, Any] = {
            "field_selector": f"metadata.name={name}",
            "timeout_seconds": timeout_s,
        }
        if resource_version:
            kwargs["resource_version"] = resource_version
        try:
            for event in watcher.stream(self.core.list_namespaced_pod, self.namespace, **kwargs):
                obj = event.get("raw_object") or as_plain(event.get("object"))
                yield str(event.get("type", "")), as_plain(obj)
        finally:
            watcher.stop()


def _missing_object(text: str, namespace: str, policy: StuckPolicy) -> Diagnosis | None:
    match = _MISSING.search(text or "")
    if match is None:
        return None
    kind, name = match.group(1).lower(), match.group(2)
    what = "secret generic" if kind == "secret" else "configmap"
    hint = f"create it: kubectl -n {namespace} create {what} {name} ..."
    message = f"missing {kind} {name!r}"
    return Diagnosis(f"config:{message}", message, policy.missing_config_s, hint)


def _image_diagnosis(reason: str, message: str, image: str, policy: StuckPolicy) -> Diagnosis:
    hint = (
        "check the image name and that the cluster can pull it: push the agent image to "
        "your registry (nox -s images -- --push REF) and set SPECKIT_PODS_IMAGE=REF (a "
        "repository's toolchain image: push it too, SPECKIT_PODS_TOOLCHAIN_IMAGE); a "
        "private registry needs imagePullSecrets on the speckit-pods-agent service account"
    )
    if reason in NEVER_PULLABLE:
        return Diagnosis("image", f"image {image} cannot be used ({reason}): {message}", 0, hint)
    text = f"cannot pull image {image} ({reason})" + (f": {message}" if message else "")
    return Diagnosis("image-pull", text, policy.image_pull_s, hint)


def _from_container(pod: Pod, policy: StuckPolicy, namespace: str) -> Diagnosis | None:
    for status in PodView(pod).statuses:  # the git sidecar first: it starts first
        waiting = (status.get("state") or {}).get("waiting") or {}
        reason, message = str(waiting.get("reason") or ""), str(waiting.get("message") or "")
        if reason in IMAGE_PULL_REASONS or reason in NEVER_PULLABLE:
            return _image_diagnosis(reason, message, str(status.get("image") or "?"), policy)
        if reason in ("CreateContainerConfigError", "CreateContainerError"):
            missing = _missing_object(message, namespace, policy)
            return missing or Diagnosis("create:" + reason, f"{reason}: {message}")
    return None


def _from_events(events: list[Pod], policy: StuckPolicy, namespace: str) -> Diagnosis | None:
    for event in reversed(events):
        if event.get("type") == "Warning" and event.get("reason") == "FailedMount":
            missing = _missing_object(str(event.get("message") or ""), namespace, policy)
            if missing is not None:
                return missing
    return None


def _from_scheduling(pod: Pod, policy: StuckPolicy) -> Diagnosis | None:
    for condition in PodView(pod).conditions:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            if condition.get("reason") == "Unschedulable":
                message = condition.get("message") or "no node fits the pod"
                hint = "check the pod's resource requests and the nodes (kubectl describe nodes)"
                text = f"unschedulable: {message}"
                return Diagnosis("unschedulable", text, policy.unschedulable_s, hint)
    return None


def diagnose(pod: Pod, events: list[Pod], policy: StuckPolicy = StuckPolicy()) -> Diagnosis | None:
    """Explain why ``pod`` has not started, or ``None`` when nothing is wrong (yet)."""
    namespace = PodView(pod).namespace or "<namespace>"
    return (
        _from_container(pod, policy, namespace)
        or _from_events(events, policy, namespace)
        or _from_scheduling(pod, policy)
    )


class _Stuck:
    """Reports each new diagnosis once and raises when one lasts too long."""

    def __init__(self, report: Callable[[str], None], clock: Clock) -> None:
        self.report, self.clock = report, clock
        self.current: Diagnosis | None = None
        self.since = 0.0

    def update(self, diagnosis: Diagnosis | None) -> None:
        if diagnosis is None or self.current is None or diagnosis.key != self.current.key:
            self.since = self.clock()
            if diagnosis is not None:
                self.report(diagnosis.message)
        self.current = diagnosis
        if diagnosis is not None and self.seconds_left() == 0:
            raise PodStuckError(diagnosis.message, hint=diagnosis.hint)

    def seconds_left(self) -> float | None:
        if self.current is None or self.current.fatal_after is None:
            return None
        return max(0.0, self.current.fatal_after - (self.clock() - self.since))


def _watch_timeout(deadline: Deadline, stuck: _Stuck) -> int:
    limits = [WATCH_SECONDS, deadline.remaining(), stuck.seconds_left()]
    return max(1, math.ceil(min(limit for limit in limits if limit is not None)))


def wait_for(
    pods: ClusterPods,
    name: str,
    until: Callable[[Pod], bool],
    *,
    deadline: Deadline,
    report: Callable[[str], None],
    policy: StuckPolicy = StuckPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> Waited:
    """Wait until ``until(pod)`` holds or the pod is deleted.

    Raises:
        PodStuckError: the pod cannot start (fatal diagnosis lasted too long).
        StillRunningError: the deadline passed first.
        PodNotFoundError: never; a missing pod is returned as ``deleted``.
    """
    stuck = _Stuck(report, deadline.clock)
    recovery = Recovery(deadline.clock)
    pod, failures = pods.read(name), 0
    last: Pod = pod or {}
    while True:
        if pod is None:
            return Waited(last, deleted=True)
        last = pod
        if until(pod):
            return Waited(pod)
        events = [] if has_started(pod) else pods.events(name)
        if not has_started(pod):
            stuck.update(diagnose(pod, events, policy))
        if deadline.expired():
            raise StillRunningError(f"pod {name} has not finished; gave up waiting (--timeout)")
        version = PodView(pod).resource_version
        try:
            for kind, obj in pods.watch(name, version, _watch_timeout(deadline, stuck)):
                if kind == "DELETED":
                    return Waited(obj or last, deleted=True)
                if kind in ("ADDED", "MODIFIED"):
                    last = obj
                    if until(obj):
                        return Waited(obj)
                    if not has_started(obj):
                        stuck.update(diagnose(obj, events, policy))
            failures = 0
        except ApiException as err:
            if err.status in DENIED and not recovery.tolerates(err.status):
                raise api_error(err, f"watching pod {name}") from err
            if err.status != 410:  # 410: resourceVersion too old, just re-read
                failures += 1
                recovery.dropped()
        except (OSError, HTTPError):  # connection dropped or timed out
            failures += 1
            recovery.dropped()
        if failures:
            log.debug("watch of %s failed %d time(s); re-reading", name, failures)
            sleep(min(2.0**failures, 10.0))
        pod = read_recovering(pods, name, recovery, sleep)


def read_recovering(
    pods: ClusterPods, name: str, recovery: Recovery, sleep: Callable[[float], None]
) -> Pod | None:
    """``pods.read(name)``, waiting out the denials ``recovery`` tolerates."""
    attempt = 0
    while True:
        try:
            pod = pods.read(name)
        except KubeApiError as err:
            if not recovery.tolerates(err.status):
                raise
            attempt += 1
            log.debug("reading %s denied (%s) while the API server recovers", name, err.status)
            sleep(min(2.0**attempt, 10.0))
            continue
        recovery.recovered()
        return pod
