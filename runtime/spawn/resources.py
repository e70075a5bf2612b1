"""Container resources for the agent pod: defaults, Kubernetes quantities, limits.

Pure functions; an invalid quantity raises :class:`~runtime.errors.InvalidInputError`.
"""

from __future__ import annotations

import dataclasses
import re

from runtime.errors import InvalidInputError

__all__ = ["Resources", "cpu_millis", "memory_bytes", "resources_with_limits"]


@dataclasses.dataclass(frozen=True)
class Resources:
    """Container requests and limits (Kubernetes quantities)."""

    cpu_request: str = "250m"
    cpu_limit: str = "2"
    memory_request: str = "768Mi"  # opencode alone peaks at ~650 MB
    memory_limit: str = "2Gi"


_CPU_RE = re.compile(r"^(\d+(\.\d+)?)(m?)$")
_MEM_RE = re.compile(r"^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$")
_MEM_UNITS = {"": 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
              "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}  # fmt: skip


def cpu_millis(quantity: str) -> float:
    """Parse a CPU quantity (``250m``, ``2``, ``0.5``) into millicores."""
    match = _CPU_RE.match(quantity)
    if not match:
        raise InvalidInputError(f"invalid CPU quantity: {quantity!r}", hint="use e.g. 500m or 2")
    value = float(match.group(1))
    return value if match.group(3) else value * 1000


def memory_bytes(quantity: str) -> float:
    """Parse a memory quantity (``768Mi``, ``2Gi``, ``1G``) into bytes."""
    match = _MEM_RE.match(quantity)
    if not match:
        raise InvalidInputError(
            f"invalid memory quantity: {quantity!r}", hint="use e.g. 1Gi or 768Mi"
        )
    return float(match.group(1)) * _MEM_UNITS[match.group(3) or ""]


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
