"""Container resources for the agent pod: defaults, Kubernetes quantities, limits.

Pure functions; an invalid quantity raises :class:`~runtime.errors.InvalidInputError`.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from runtime.errors import InvalidInputError

__all__ = ["Resources", "cpu_millis", "memory_bytes", "resources_with_limits"]


@dataclasses.dataclass(frozen=True)
class Resources:
    """Container requests and limits (Kubernetes quantities)."""

    cpu_request: str = "250m"
    cpu_limit: str = "2"
    memory_request: str = "768Mi"  # opencode alone peaks at ~650 MB
    memory_limit: str = "2Gi"


def _quantity(quantity: str, what: str, example: str) -> Decimal:
    """Parse with the official client's ``parse_quantity``: every form the API accepts."""
    from kubernetes.utils.quantity import parse_quantity  # imported on use: it is slow

    try:
        if any(c.isspace() for c in quantity):  # parse_quantity allows "2 Gi"; the API does not
            raise ValueError(quantity)
        value = parse_quantity(quantity)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, ArithmeticError):
        raise InvalidInputError(
            f"invalid {what} quantity: {quantity!r}", hint=f"use e.g. {example}"
        ) from None
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidInputError(
            f"invalid {what} quantity: {quantity!r} (must be more than 0)",
            hint=f"use e.g. {example}",
        )
    return value


def cpu_millis(quantity: str) -> float:
    """Parse a CPU quantity (``250m``, ``2``, ``0.5``, ``1e3``) into millicores."""
    return float(_quantity(quantity, "CPU", "500m or 2") * 1000)


def memory_bytes(quantity: str) -> float:
    """Parse a memory quantity (``768Mi``, ``2Gi``, ``1G``, ``1Pi``) into bytes."""
    return float(_quantity(quantity, "memory", "1Gi or 768Mi"))


def resources_with_limits(cpu: str | None = None, memory: str | None = None) -> Resources:
    """Default resources with the given limits; requests never exceed the limits."""
    res = Resources()
    if cpu is not None:
        request = res.cpu_request if cpu_millis(res.cpu_request) <= cpu_millis(cpu) else cpu
        res = dataclasses.replace(res, cpu_limit=cpu, cpu_request=request)
    if memory is not None:
        keep = memory_bytes(res.memory_request) <= memory_bytes(memory)
        res = dataclasses.replace(
            res, memory_limit=memory, memory_request=res.memory_request if keep else memory
        )
    return res
