"""What happens to an agent pod after it ended, and the TTL sweep of kept pods.

The pod's ``cleanup`` annotation says: ``always`` (delete), ``on-success`` (delete
when it succeeded, the default) or ``never``.  A kept pod carries an ``expires-at``
annotation (RFC 3339); :func:`sweep_expired` deletes ended pods past it.  A kept pod
whose result was reported (its task marked done) carries ``reported-at``
(:func:`mark_reported`).  Deleting the pod also garbage-collects its task ConfigMap
(ownerReference).  A task ConfigMap with no owner, left by a spawn killed before its pod
owned it, is deleted by :func:`sweep_orphans` once it is ``ORPHAN_AGE`` old.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import logging

from kubernetes.client.exceptions import ApiException

from runtime.common.timestamps import parse_rfc3339, rfc3339
from runtime.contract.outcome import Status
from runtime.kube import labels
from runtime.kube.client import Kube, api_error
from runtime.kube.pod import Pod, PodView, as_plain
from runtime.kube.pods import ORPHAN_AGE, mark_deleted_by
from runtime.kube.podwatch import ClusterPods

log = logging.getLogger(__name__)

DEFAULT_KEEP = datetime.timedelta(hours=24)
# the task ConfigMaps spawn creates (the agent config of manifests/ is not managed-by us)
TASK_CONFIGMAPS = f"{labels.SELECTOR},{labels.COMPONENT}=agent"


class Policy(enum.StrEnum):
    """Values of the ``cleanup`` annotation."""

    ALWAYS = "always"
    ON_SUCCESS = "on-success"
    NEVER = "never"

    @classmethod
    def of(cls, pod: Pod) -> Policy:
        """Read the policy from ``pod``; unknown or missing values mean on-success."""
        value = _annotations(pod).get(labels.CLEANUP, "")
        try:
            return cls(value)
        except ValueError:
            if value:
                log.warning(
                    "unknown cleanup policy %r on pod %s; using on-success", value, _name(pod)
                )
            return cls.ON_SUCCESS

    def deletes(self, status: Status) -> bool:
        """Whether a pod that ended with ``status`` is deleted under this policy."""
        return self is Policy.ALWAYS or (self is Policy.ON_SUCCESS and status.ok)


@dataclasses.dataclass(frozen=True)
class Cleaned:
    """What was done: deleted, or kept until ``expires_at``."""

    pod: str
    deleted: bool
    expires_at: str = ""

    def describe(self) -> str:
        """One line for the user."""
        if self.deleted:
            return f"pod {self.pod} deleted"
        return f"pod {self.pod} kept until {self.expires_at}"


def _annotations(pod: Pod) -> dict[str, str]:
    return PodView(pod).annotations


def _name(pod: Pod) -> str:
    return PodView(pod).name


def delete_pod(pods: ClusterPods, name: str, *, by: str = "") -> bool:
    """Delete pod ``name``; ``False`` when it was already gone.

    ``by``: who of ours deletes a pod that may still run (``run-async.sh cancel``),
    annotated first so that no dispatcher following it takes its end for a loss.
    """
    try:
        if by:
            mark_deleted_by(pods.core, name, pods.namespace, by)
        pods.core.delete_namespaced_pod(name, pods.namespace)
    except ApiException as err:
        if err.status == 404:
            return False
        raise api_error(err, f"deleting pod {name}") from err
    return True


def apply_policy(
    pods: ClusterPods,
    pod: Pod,
    status: Status,
    *,
    now: datetime.datetime | None = None,
    keep: datetime.timedelta = DEFAULT_KEEP,
) -> Cleaned:
    """Delete or keep an ended pod according to its ``cleanup`` annotation."""
    name = _name(pod)
    if Policy.of(pod).deletes(status):
        delete_pod(pods, name)
        return Cleaned(name, deleted=True)
    existing = _annotations(pod).get(labels.EXPIRES_AT, "")
    if parse_rfc3339(existing) is not None:
        return Cleaned(name, deleted=False, expires_at=existing)
    expires = rfc3339((now or datetime.datetime.now(datetime.UTC)) + keep)
    patch = {"metadata": {"annotations": {labels.EXPIRES_AT: expires}}}
    try:
        pods.core.patch_namespaced_pod(name, pods.namespace, patch)
    except ApiException as err:
        if err.status != 404:
            raise api_error(err, f"annotating pod {name}") from err
    return Cleaned(name, deleted=False, expires_at=expires)


def mark_reported(pods: ClusterPods, name: str, *, now: datetime.datetime | None = None) -> bool:
    """Annotate the ended pod ``name`` as reported (``reported-at``); ``False``: it is gone.

    Its result was printed and its task marked done: the dispatcher no longer takes it
    for a detached run to re-attach to (``runtime.dispatch.backend``), so a rerun of the
    task spawns a new pod.  Raises :class:`runtime.errors.KubeApiError` when refused.
    """
    moment = rfc3339(now or datetime.datetime.now(datetime.UTC))
    patch = {"metadata": {"annotations": {labels.REPORTED_AT: moment}}}
    try:
        pods.core.patch_namespaced_pod(name, pods.namespace, patch)
    except ApiException as err:
        if err.status == 404:
            return False
        raise api_error(err, f"annotating pod {name} as reported") from err
    return True


def is_reported(pod: Pod) -> bool:
    """Whether ``pod`` carries a ``reported-at`` annotation (:func:`mark_reported`)."""
    return bool(_annotations(pod).get(labels.REPORTED_AT, "").strip())


def is_expired(pod: Pod, now: datetime.datetime) -> bool:
    """Whether ``pod`` has ended and its ``expires-at`` has passed."""
    ended = PodView(pod).finished
    expires = parse_rfc3339(_annotations(pod).get(labels.EXPIRES_AT, ""))
    return ended and expires is not None and expires <= now


def sweep_expired(kube: Kube | ClusterPods, *, now: datetime.datetime | None = None) -> list[str]:
    """Delete the ended agent pods whose ``expires-at`` has passed; return their names.

    Running and pending pods are never swept, whatever their annotation says.
    """
    pods = kube if isinstance(kube, ClusterPods) else ClusterPods(kube)
    moment = now or datetime.datetime.now(datetime.UTC)
    swept = []
    for pod in pods.select(labels.SELECTOR):
        if is_expired(pod, moment) and delete_pod(pods, _name(pod)):
            log.info("deleted expired pod %s", _name(pod))
            swept.append(_name(pod))
    return swept


def _minutes(age: datetime.timedelta) -> str:
    return f"{age.total_seconds() / 60:g} minutes"


def _mounted(pods: ClusterPods) -> set[str]:
    """The ConfigMaps the volumes of our pods name."""
    return {
        str(volume["configMap"].get("name"))
        for pod in pods.select(labels.SELECTOR)
        for volume in (pod.get("spec") or {}).get("volumes") or []
        if volume.get("configMap")
    }


def _orphaned(meta: dict[str, object], before: datetime.datetime) -> bool:
    """Whether a ConfigMap's ``meta`` says: no owner, created before ``before``."""
    created = parse_rfc3339(str(meta.get("creationTimestamp") or ""))
    return not meta.get("ownerReferences") and created is not None and created < before


def sweep_orphans(
    kube: Kube | ClusterPods,
    *,
    now: datetime.datetime | None = None,
    age: datetime.timedelta = ORPHAN_AGE,
) -> list[str]:
    """Delete the task ConfigMaps no pod owns or mounts, older than ``age``; return their names.

    A spawn creates the ConfigMap, then the pod, then makes the pod its owner
    (:func:`runtime.kube.pods.create`); one killed in between leaves it unowned.  A spawn
    in progress has an unowned one for a second or two, hence ``age``.  Only the
    ConfigMaps' metadata is listed, not their data.
    """
    pods = kube if isinstance(kube, ClusterPods) else ClusterPods(kube)
    before = (now or datetime.datetime.now(datetime.UTC)) - age
    try:
        found = pods.core.list_namespaced_config_map_metadata(
            pods.namespace, label_selector=TASK_CONFIGMAPS
        )
    except ApiException as err:
        raise api_error(err, f"listing configmaps in {pods.namespace}") from err
    metas = [as_plain(item).get("metadata") or {} for item in as_plain(found).get("items") or []]
    old = {
        str(meta["name"]): str(meta.get("uid") or "") for meta in metas if _orphaned(meta, before)
    }
    if not old:
        return []
    swept = []
    for name in sorted(set(old) - _mounted(pods)):
        precondition = {"preconditions": {"uid": old[name]}} if old[name] else None
        try:  # that very object: not one a spawn made again since under the same name
            pods.core.delete_namespaced_config_map(name, pods.namespace, body=precondition)
        except ApiException as err:
            if err.status in (404, 409):
                continue
            raise api_error(err, f"deleting configmap {name}") from err
        log.info("deleted configmap %s: no pod has owned it for %s", name, _minutes(age))
        swept.append(name)
    return swept
