"""The dispatcher's ``--max-parallel`` default: 3, or what the namespace's quota has room for.

The namespace's ResourceQuotas are read once, when the dispatch starts
(:func:`runtime.kube.quota.read_quotas`; the operator Role may ``list`` them): each
quota's ``hard - used``, per resource, divided by what one pod of the shape this
dispatch spawns counts (:func:`runtime.kube.quota.pod_usage`).  The tightest quota
wins, and never below 1: a full quota makes the tasks wait in the queue
(:mod:`runtime.dispatch.loop`), not fail.  No quota, or none readable (RBAC): the old
default.
"""

from __future__ import annotations

import datetime
from typing import Any

from runtime.kube.client import Kube
from runtime.kube.quota import allowance, read_quotas
from runtime.spawn import manifests
from runtime.spawn.create import SpawnOptions

__all__ = ["DEFAULT_MAX_PARALLEL", "default_max_parallel", "pod_shape"]

DEFAULT_MAX_PARALLEL = 3


def pod_shape(opts: SpawnOptions) -> dict[str, Any]:
    """A pod as ``opts`` spawns them, for its resources only (names are placeholders)."""
    spec = manifests.PodSpecInput(
        name="sp-shape", namespace=opts.namespace, run_id="shape", task_id="T000",
        task_title="", task_label="T000", feature_label="shape", repo_url="", branch="",
        base="", tasks_file="", prompt="", context=(),
        created_at=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC), timeout_s=opts.timeout_s,
        image=opts.image, resources=manifests.resources_with_limits(opts.cpu, opts.memory),
    )  # fmt: skip
    return manifests.render_pod(spec)


def default_max_parallel(
    kube: Kube, template: SpawnOptions, default: int = DEFAULT_MAX_PARALLEL
) -> tuple[int, str]:
    """``(N, what to say)``: ``default``, or fewer when the quota has room for fewer.

    What to say is ``""`` when no quota limits the pods (or none can be read).
    """
    found = allowance(read_quotas(kube.core, kube.namespace) or [], pod_shape(template))
    if found is None:
        return default, ""
    chosen = max(1, min(default, found.pods))
    pods = f"{found.pods} more pod{'' if found.pods == 1 else 's'}"
    return chosen, f"max-parallel {chosen} (quota {found.quota} allows {pods} of this shape)"
