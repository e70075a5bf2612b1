"""Cluster operations for spawning: free a task's slot, create the Pod and its ConfigMap.

Everything goes through ``CoreApi``, the subset of ``kubernetes.client.CoreV1Api``
used here, so unit tests drive it with a fake.  Every wait is bounded.

Creation order: the ConfigMap first (no owner yet), then the Pod, then the ConfigMap's
``ownerReference`` to the Pod's uid (a patch).  The kubelet finds the volume's ConfigMap
at once (created after the Pod, its mount failed and was retried with a backoff), and
from the patch on the garbage collector deletes it with the Pod.  A step that fails
deletes what the earlier ones made; a spawn killed between the creates leaves an unowned
ConfigMap, which the next spawn of the task replaces and
:func:`runtime.kube.cleanup.sweep_orphans` deletes once it is old.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from runtime.errors import AlreadyRunningError, KubeApiError, QuotaExceededError
from runtime.kube import labels
from runtime.kube.client import api_error
from runtime.kube.pod import Pod, PodView, as_plain, is_finished
from runtime.kube.quota import refusal

log = logging.getLogger(__name__)

ACTIVE_PHASES = ("Pending", "Running")
GONE_TIMEOUT_S = 120.0  # > terminationGracePeriodSeconds (60) plus API latency
POLL_S = 1.0
# an unowned task ConfigMap this old is an orphan (its spawn was killed before it made the
# pod its owner, which takes a second or two): runtime.kube.cleanup.sweep_orphans deletes it
ORPHAN_AGE = datetime.timedelta(minutes=10)

Manifest = dict[str, Any]
ConfigMapRenderer = Callable[[str | None], Manifest]  # owner pod uid (None: no owner) -> ConfigMap


class CoreApi(Protocol):
    """The calls of ``kubernetes.client.CoreV1Api`` this module makes."""

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> Any: ...  # noqa: D102
    def read_namespaced_pod(self, name: str, namespace: str, **kwargs: Any) -> Any: ...  # noqa: D102
    def create_namespaced_pod(self, namespace: str, body: Any, **kwargs: Any) -> Any: ...  # noqa: D102
    def delete_namespaced_pod(self, name: str, namespace: str, **kwargs: Any) -> Any: ...  # noqa: D102
    def patch_namespaced_pod(self, name: str, namespace: str, body: Any, **kwargs: Any) -> Any: ...  # noqa: D102
    def read_namespaced_config_map(self, name: str, namespace: str, **kwargs: Any) -> Any: ...  # noqa: D102
    def create_namespaced_config_map(self, namespace: str, body: Any, **kwargs: Any) -> Any: ...  # noqa: D102
    def patch_namespaced_config_map(  # noqa: D102
        self, name: str, namespace: str, body: Any, **kwargs: Any
    ) -> Any: ...
    def delete_namespaced_config_map(self, name: str, namespace: str, **kwargs: Any) -> Any: ...  # noqa: D102


@dataclasses.dataclass(frozen=True)
class Clock:
    """Time sources, replaceable in tests."""

    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


SYSTEM_CLOCK = Clock()


def status_of(err: BaseException) -> int | None:
    """HTTP status of a kubernetes ``ApiException`` (``None`` for other errors)."""
    from kubernetes.client.exceptions import ApiException

    return int(err.status) if isinstance(err, ApiException) and err.status else None


def _quota_error(error: KubeApiError, action: str, namespace: str) -> KubeApiError:
    """A 403 from the namespace's ResourceQuota: :class:`QuotaExceededError`, else ``error``."""
    found = refusal(error.message) if error.status == 403 else None
    if found is None:
        return error
    return QuotaExceededError(
        f"{action} refused by quota {found.quota}: {found.describe()}",
        hint="wait for pods of the namespace to end (the dispatcher queues the task), ask for "
        f"more (kubectl -n {namespace} describe resourcequota {found.quota}), or lower "
        "--max-parallel",
        quota=found.quota,
        resources=found.resources,
    )


def _api_error(err: BaseException, action: str, namespace: str = "") -> KubeApiError:
    """One-line error with a hint.

    A creation the namespace's quota refused (``namespace`` given) is a
    :class:`QuotaExceededError`.
    """
    error = api_error(err if isinstance(err, Exception) else Exception(err), action)
    status = status_of(err)
    if namespace and status == 403:
        error = _quota_error(error, action, namespace)
        if isinstance(error, QuotaExceededError):
            return error
    if status == 403:
        error.hint = "bind the speckit-pods-operator Role to you (see manifests/README.md)"
    elif status == 404 and "namespace" in error.message.lower():
        error.hint = "install the manifests first: kubectl apply -k manifests/"
    return error


def _phase(pod: Pod) -> str:
    return PodView(pod).phase or "Unknown"


def _terminating(pod: Pod) -> bool:
    return PodView(pod).deleting


def _name(pod: Pod) -> str:
    return PodView(pod).name


def is_active(pod: Pod) -> bool:
    """Whether ``pod`` is Pending or Running, not being deleted, and its agent still runs.

    The agent container terminates a moment before the kubelet moves the phase on;
    a pod in that window has ended (its logs say how) and must not block a rerun.
    """
    return _phase(pod) in ACTIVE_PHASES and not _terminating(pod) and not is_finished(pod)


def _read_pod(core: CoreApi, name: str, namespace: str) -> Pod | None:
    from kubernetes.client.exceptions import ApiException

    try:
        return as_plain(core.read_namespaced_pod(name, namespace))
    except ApiException as err:
        if status_of(err) == 404:
            return None
        raise _api_error(err, f"reading pod {name}") from err


def _delete_pod(core: CoreApi, name: str, namespace: str, grace: int | None = None) -> None:
    from kubernetes.client.exceptions import ApiException

    kwargs = {} if grace is None else {"grace_period_seconds": grace}
    try:
        core.delete_namespaced_pod(name, namespace, **kwargs)
    except ApiException as err:
        if status_of(err) != 404:
            raise _api_error(err, f"deleting pod {name}") from err


def mark_deleted_by(core: CoreApi, name: str, namespace: str, by: str) -> None:
    """Annotate pod ``name`` as deleted by us (``by``), just before we delete it.

    A pod deleted while it runs may end without a result line; the annotation tells
    the dispatcher following it that this was on purpose, not a loss to run again.
    A pod already gone is fine.
    """
    from kubernetes.client.exceptions import ApiException

    patch = {"metadata": {"annotations": {labels.DELETED_BY: by}}}
    try:
        core.patch_namespaced_pod(name, namespace, patch)
    except ApiException as err:
        if status_of(err) != 404:
            raise _api_error(err, f"annotating pod {name}") from err


def wait_gone(core: CoreApi, names: Iterable[str], namespace: str, clock: Clock) -> None:
    """Wait until none of the pods ``names`` exists any more (bounded by ``GONE_TIMEOUT_S``)."""
    pending = set(names)
    deadline = clock.monotonic() + GONE_TIMEOUT_S
    while pending:
        pending = {n for n in pending if _read_pod(core, n, namespace) is not None}
        if not pending:
            return
        if clock.monotonic() >= deadline:
            raise KubeApiError(
                f"pods still terminating after {GONE_TIMEOUT_S:.0f}s: {', '.join(sorted(pending))}",
                hint=f"check `kubectl -n {namespace} describe pod {min(pending)}`",
            )
        clock.sleep(POLL_S)


def _list(core: CoreApi, namespace: str, selector: str) -> list[Pod]:
    from kubernetes.client.exceptions import ApiException

    try:
        found = as_plain(core.list_namespaced_pod(namespace, label_selector=selector))
        return [as_plain(item) for item in found.get("items") or []]
    except ApiException as err:
        raise _api_error(err, f"listing pods in namespace {namespace}") from err


def free_slot(core: CoreApi, pod: dict[str, Any], *, replace: bool, clock: Clock) -> None:
    """Make sure nothing stands in the way of creating ``pod``.

    A Pending/Running pod of the same task and feature is refused
    (``AlreadyRunningError``) unless ``replace``, which deletes it.  A finished pod
    of an earlier run with the same name is deleted.  Then waits until they are gone.
    """
    meta = pod["metadata"]
    name, namespace, lab = meta["name"], meta["namespace"], meta["labels"]
    selector = ",".join(f"{k}={lab[k]}" for k in (labels.MANAGED_BY, labels.TASK, labels.FEATURE))
    active = {_name(p): p for p in _list(core, namespace, selector) if is_active(p)}
    same = _read_pod(core, name, namespace)
    if same is not None and is_active(same):
        active[name] = same
    if active and not replace:
        listing = ", ".join(f"{n} ({_phase(p)})" for n, p in sorted(active.items()))
        raise AlreadyRunningError(
            f"task {lab[labels.TASK]} of feature {lab[labels.FEATURE]} "
            f"already has a pod: {listing}",
            hint=f"follow it with `scripts/tail-logs.sh {min(active)}`, "
            "or pass --replace to delete it and start again",
        )
    for other in sorted(active):
        log.info("deleting pod %s (--replace); waiting for it to stop", other)
        mark_deleted_by(core, other, namespace, "--replace")
        _delete_pod(core, other, namespace)
    if same is not None and name not in active and not _terminating(same):
        log.info("deleting pod %s of an earlier run (%s)", name, _phase(same))
        _delete_pod(core, name, namespace, grace=0)
    elif same is not None and name not in active and PodView(same).node_lost:
        # its kubelet is gone: the pod would stay Terminating until the node comes back
        node = PodView(same).node_name or "?"
        log.warning("pod %s is stuck on lost node %s: deleting it at once", name, node)
        _delete_pod(core, name, namespace, grace=0)
    wait_gone(core, [*active, *([name] if same is not None else [])], namespace, clock)


def _create_configmap(core: CoreApi, body: Manifest) -> Manifest:
    """Create the ConfigMap ``body``; return it as stored (its uid and resourceVersion).

    Its name carries the spawn's run id (:func:`runtime.spawn.names.configmap_name`), so
    one in the way is this very spawn's request sent twice by the HTTP client (used);
    anything else is refused, never replaced: it may be mounted by a running pod.
    """
    from kubernetes.client.exceptions import ApiException

    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    try:
        return as_plain(core.create_namespaced_config_map(namespace, body))
    except ApiException as err:
        if status_of(err) != 409:
            raise _api_error(err, f"creating configmap {name}", namespace) from err
        conflict = err
    try:
        existing = as_plain(core.read_namespaced_config_map(name, namespace))
    except ApiException as err:
        raise _api_error(err, f"reading configmap {name}", namespace) from err
    if not _ours(existing, body):
        raise _api_error(conflict, f"creating configmap {name}", namespace) from conflict
    log.info("configmap %s was created by this spawn already (a request sent twice)", name)
    return existing


def _uid(obj: Manifest) -> str:
    return str(obj["metadata"].get("uid") or "")


def _delete_configmap(core: CoreApi, name: str, namespace: str, uid: str = "") -> None:
    """Delete a ConfigMap; one already gone (garbage-collected meanwhile) is fine.

    With ``uid``, only that very object: one made again since under the same name is
    refused by the API server (409), not deleted.
    """
    from kubernetes.client.exceptions import ApiException

    kwargs = {"body": {"preconditions": {"uid": uid}}} if uid else {}
    try:
        core.delete_namespaced_config_map(name, namespace, **kwargs)
    except ApiException as err:
        if status_of(err) != 404:
            raise


def _create_pod(core: CoreApi, pod: Manifest) -> Manifest:
    """Create ``pod``; return it as stored.  409 from our own pod (the same run id) uses it."""
    from kubernetes.client.exceptions import ApiException

    name, namespace = str(pod["metadata"]["name"]), str(pod["metadata"]["namespace"])
    try:
        return as_plain(core.create_namespaced_pod(namespace, pod))
    except ApiException as err:
        if status_of(err) != 409:
            raise _api_error(err, f"creating pod {name}", namespace) from err
        existing = _read_pod(core, name, namespace)
        if existing is None or not _ours(existing, pod):
            raise AlreadyRunningError(
                f"pod {name} already exists{_state(existing)} (another spawn of this task?)",
                hint=f"check `kubectl -n {namespace} get pod {name}`",
            ) from err
        log.info("pod %s was created by this spawn already (a request sent twice)", name)
        return existing


def _adopt(core: CoreApi, configmap: Manifest, owned: Manifest) -> None:
    """Patch ``configmap`` to the ``ownerReferences`` of ``owned`` (the same, owned by the pod).

    The patch carries the resourceVersion we created: a ConfigMap changed or made again
    since is refused (409), never adopted by our pod.
    """
    from kubernetes.client.exceptions import ApiException

    meta = configmap["metadata"]
    name, namespace = owned["metadata"]["name"], owned["metadata"]["namespace"]
    patch: Manifest = {"metadata": {"ownerReferences": owned["metadata"]["ownerReferences"]}}
    if meta.get("resourceVersion"):
        patch["metadata"]["resourceVersion"] = meta["resourceVersion"]
    try:
        core.patch_namespaced_config_map(name, namespace, patch)
    except ApiException as err:
        error = _api_error(err, f"setting the owner of configmap {name}")
        if status_of(err) == 403:
            error.hint = (
                "the speckit-pods-operator Role needs patch on configmaps: re-apply it "
                "(kubectl apply -k manifests/)"
            )
        elif status_of(err) in (404, 409):
            error.hint = f"another spawn of this task? check `kubectl -n {namespace} get pods`"
        raise error from err


def create(core: CoreApi, pod: Manifest, configmap: ConfigMapRenderer) -> str:
    """Create ``configmap(None)``, then ``pod``, then make the pod the ConfigMap's owner.

    ``configmap(uid)`` renders the ConfigMap owned by the pod ``uid``: its
    ``ownerReferences`` are what the patch sets.  A failed step deletes what the earlier
    ones created.  Returns the pod name.  Raises ``AlreadyRunningError`` if a pod of
    that name appeared meanwhile (a concurrent spawn of the same task).
    """
    name, namespace = str(pod["metadata"]["name"]), str(pod["metadata"]["namespace"])
    made = _create_configmap(core, configmap(None))
    try:
        created = _create_pod(core, pod)
    except BaseException:
        _rollback_configmap(core, made, namespace)
        raise
    try:
        _adopt(core, made, configmap(_uid(created)))
    except BaseException:
        _rollback(core, name, namespace)
        _rollback_configmap(core, made, namespace)
        raise
    return name


def _ours(existing: Manifest, made: Manifest) -> bool:
    """Whether ``existing`` is the object (pod, ConfigMap) this very spawn creates.

    Both carry the spawn's run id.  A create refused 409 may be our own request sent
    again by the HTTP client after its answer was lost: the object is then ours to use.
    """
    run = (existing["metadata"].get("labels") or {}).get(labels.RUN)
    return run is not None and run == made["metadata"]["labels"].get(labels.RUN)


def _state(existing: Pod | None) -> str:
    """`` (Running on node-1, deleting)``: what stands in the way, for the message."""
    if existing is None:
        return " (gone again)"
    view = PodView(existing)
    where = f" on {view.node_name}" if view.node_name else ""
    deleting = ", deleting" if view.deleting else ""
    return f" ({_phase(existing)}{where}{deleting})"


def _rollback(core: CoreApi, name: str, namespace: str) -> None:
    """Delete the half-created pod at once (grace 0: its agent has not done anything)."""
    try:
        _delete_pod(core, name, namespace, grace=0)
    except KubeApiError as err:
        log.error("could not delete pod %s after a failed spawn: %s", name, err.message)
        log.error("delete it by hand: kubectl -n %s delete pod %s", namespace, name)
    else:
        log.info("deleted pod %s: the spawn did not complete", name)


def _rollback_configmap(core: CoreApi, made: Manifest, namespace: str) -> None:
    """Delete the ConfigMap this spawn made: that very object, not one made again since."""
    from kubernetes.client.exceptions import ApiException

    name = str(made["metadata"]["name"])
    try:
        _delete_configmap(core, name, namespace, uid=_uid(made))
    except ApiException as err:
        if status_of(err) == 409:  # made again since under this name: not ours to delete
            log.info("configmap %s is not the one this spawn made any more: left alone", name)
            return
        error = _api_error(err, f"deleting configmap {name}")
        log.error("could not delete configmap %s after a failed spawn: %s", name, error.message)
        log.error(
            "delete it by hand: kubectl -n %s delete configmap %s (spawn and status delete "
            "it once it is %d minutes old)",
            namespace, name, ORPHAN_AGE // datetime.timedelta(minutes=1),
        )  # fmt: skip
    else:
        log.info("deleted configmap %s: the spawn did not complete", name)
