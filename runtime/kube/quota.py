"""The namespace's ResourceQuotas: why one refused a pod, and how many more pods fit.

A pod counts against a ResourceQuota as the API server's quota admission counts it: one
``pods``, and per resource (``cpu``, ``memory``, ``ephemeral-storage``) the sum of its
containers and native sidecars (init containers with ``restartPolicy: Always``), or the
largest plain init container with the sidecars started before it, whichever is more.
:func:`pods_that_fit` divides what each quota leaves (``status.hard - status.used``) by
that; :func:`refusal` reads the quota's name and the resources out of the 403 the API
answers (``exceeded quota: <name>, requested: ..., used: ..., limited: ...``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from runtime.kube.pod import as_plain

__all__ = [
    "Allowance",
    "QuotaApi",
    "Refusal",
    "allowance",
    "pod_usage",
    "pods_that_fit",
    "read_quotas",
    "refusal",
]

log = logging.getLogger(__name__)

RESOURCES = ("cpu", "memory", "ephemeral-storage")
# a bare resource name in a quota means its requests (the API's own aliases)
ALIASES = {name: f"requests.{name}" for name in RESOURCES} | {"count/pods": "pods"}
# scopes an agent pod is in: it has a deadline (Terminating) and requests (NotBestEffort)
AGENT_SCOPES = frozenset({"Terminating", "NotBestEffort"})

_EXCEEDED = re.compile(
    r"exceeded quota: (?P<name>[^,\s]+), requested: (?P<requested>\S*), "
    r"used: (?P<used>\S*), limited: (?P<limited>\S*)"
)
_UNKNOWN = re.compile(r"status unknown for quota: (?P<name>[^,\s]+)(?:, resources?: (?P<res>\S+))?")


@dataclasses.dataclass(frozen=True)
class Refusal:
    """What a quota refusal says: the quota, and per resource (requested, used, limit)."""

    quota: str
    amounts: tuple[tuple[str, str, str, str], ...]  # (resource, requested, used, limited)

    @property
    def resources(self) -> tuple[str, ...]:
        """The resources the pod would exceed, e.g. ``("pods", "requests.cpu")``."""
        return tuple(amount[0] for amount in self.amounts)

    def describe(self) -> str:
        """``pods (requested 1, used 3, limit 3)``, one per resource.

        Without amounts: the quota's usage is not computed yet (a quota just created).
        """
        if not self.amounts:
            return "its usage is not computed yet"
        return ", ".join(
            f"{res} (requested {req or '?'}, used {used or '?'}, limit {limit or '?'})"
            for res, req, used, limit in self.amounts
        )


def _pairs(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split(",") if "=" in pair)


def refusal(message: str) -> Refusal | None:
    """The quota refusal in an API error message, or ``None`` if it is none."""
    found = _EXCEEDED.search(message)
    if found is not None:
        requested, used, limited = (_pairs(found[k]) for k in ("requested", "used", "limited"))
        amounts = tuple(
            (res, requested[res], used.get(res, ""), limited.get(res, "")) for res in requested
        )
        return Refusal(found["name"], amounts)
    unknown = _UNKNOWN.search(message)  # a quota just created: the controller is late
    if unknown is not None:
        return Refusal(unknown["name"], ())
    return None


def _quantity(value: Any) -> Decimal:
    from kubernetes.utils.quantity import parse_quantity  # imported on use: it is slow

    return Decimal(parse_quantity(str(value)))  # type: ignore[no-untyped-call]


def _amounts(container: Mapping[str, Any], kind: str) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    given = dict(resources.get(kind) or {})
    if kind == "requests":  # an unset request is the limit (the API's defaulting)
        given = {**(resources.get("limits") or {}), **given}
    return {name: _quantity(given[name]) for name in RESOURCES if name in given}


def _add(*parts: Mapping[str, Decimal]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for part in parts:
        for name, value in part.items():
            total[name] = total.get(name, Decimal(0)) + value
    return total


def _max(a: Mapping[str, Decimal], b: Mapping[str, Decimal]) -> dict[str, Decimal]:
    return {name: max(a.get(name, Decimal(0)), b.get(name, Decimal(0))) for name in {*a, *b}}


def _pod_total(spec: Mapping[str, Any], kind: str) -> dict[str, Decimal]:
    sidecars: dict[str, Decimal] = {}
    peak_init: dict[str, Decimal] = {}
    for container in spec.get("initContainers") or []:
        amounts = _amounts(container, kind)
        if container.get("restartPolicy") == "Always":
            sidecars = _add(sidecars, amounts)
        else:
            peak_init = _max(peak_init, _add(sidecars, amounts))
    running = _add(sidecars, *(_amounts(c, kind) for c in spec.get("containers") or []))
    return _max(running, peak_init)


def pod_usage(pod: Mapping[str, Any]) -> dict[str, Decimal]:
    """What ``pod`` counts against a quota: ``pods``, ``requests.cpu``, ``limits.memory`` ..."""
    usage = {"pods": Decimal(1)}
    for kind in ("requests", "limits"):
        usage |= {f"{kind}.{name}": v for name, v in _pod_total(pod["spec"], kind).items()}
    return usage


def _applies(quota: Mapping[str, Any]) -> bool:
    """Whether an agent pod counts against ``quota`` (scopes it cannot be in: not)."""
    spec = quota.get("spec") or {}
    scopes = set(spec.get("scopes") or [])
    return scopes <= AGENT_SCOPES and not spec.get("scopeSelector")


def pods_that_fit(quota: Mapping[str, Any], usage: Mapping[str, Decimal]) -> int | None:
    """How many more pods of ``usage`` the quota admits now; ``None``: it limits none of it.

    A resource the quota limits but the pod does not set (e.g. ``limits.cpu`` unset) is
    left to the LimitRange's defaults and not counted here.
    """
    if not _applies(quota):
        return None
    status = quota.get("status") or {}
    hard = status.get("hard") or (quota.get("spec") or {}).get("hard") or {}
    used = status.get("used") or {}
    fits: list[int] = []
    for name, limit in hard.items():
        need = usage.get(ALIASES.get(name, name))
        if not need:
            continue
        free = _quantity(limit) - _quantity(used.get(name, "0"))
        fits.append(max(0, int(free // need)))
    return min(fits) if fits else None


@dataclasses.dataclass(frozen=True)
class Allowance:
    """How many more pods of one shape the namespace's quotas admit, and which binds."""

    pods: int
    quota: str


def allowance(quotas: Iterable[Mapping[str, Any]], pod: Mapping[str, Any]) -> Allowance | None:
    """The tightest quota for pods like ``pod``; ``None`` when no quota limits them."""
    usage = pod_usage(pod)
    found: list[Allowance] = []
    for quota in quotas:
        fit = pods_that_fit(quota, usage)
        if fit is not None:
            found.append(Allowance(fit, str(quota["metadata"]["name"])))
    return min(found, key=lambda a: a.pods) if found else None


class QuotaApi(Protocol):
    """The one CoreV1 call this module makes."""

    def list_namespaced_resource_quota(self, namespace: str, **kwargs: Any) -> Any: ...  # noqa: D102


def read_quotas(core: QuotaApi, namespace: str) -> list[dict[str, Any]] | None:
    """The namespace's ResourceQuotas.

    ``None`` when they may not be read (RBAC) or the call fails otherwise: the caller
    then does without.
    """
    from kubernetes.client.exceptions import ApiException

    try:
        found = as_plain(core.list_namespaced_resource_quota(namespace))
    except ApiException as err:
        log.debug("cannot read the ResourceQuotas of %s: HTTP %s", namespace, err.status)
        return None
    return [as_plain(item) for item in found.get("items") or []]
