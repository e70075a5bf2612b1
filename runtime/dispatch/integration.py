"""One integrated branch per feature: the integration pod, spawned and followed.

After the dispatch, the feature's succeeded tasks (checked off, with a branch on the
remote) are merged in dependency order into the integration branch (default
``specs/<feature>/integration``, never the base) by an integration pod: its trusted
``git`` side makes one merge commit per task and stops at the first conflict, keeping
the clean merges; its ``agent`` container runs the feature's test command on the
result, if one is given (``runtime.agent.integration``).

Why a pod and not the developer's machine: the merges then run on the same trusted,
hardened git side as every task (no hook, filter or config of a tree an agent wrote,
the git Secret never on the developer's side), the push goes through the same
fast-forward-only path, and the test command -- the repository's own code, which
agents wrote -- runs in the sandboxed agent container, never on the developer's
machine.  The cost is one pod start per dispatch.
"""

from __future__ import annotations

import dataclasses

from runtime.contract import pod as pod_contract
from runtime.contract.outcome import Result, Status, status_for_exit_code
from runtime.dispatch.loop import Emit
from runtime.follow.finish import Finisher, Options
from runtime.follow.follow import Cluster, Target, follow_pod
from runtime.kube.client import Kube
from runtime.kube.logs import ClusterLogs, Printer
from runtime.kube.podwatch import ClusterPods, Deadline
from runtime.spawn import create as spawn

__all__ = ["Integrated", "integrate"]

TASK = pod_contract.INTEGRATION_TASK


@dataclasses.dataclass(frozen=True)
class Integrated:
    """How the integration ended."""

    status: Status
    branch: str
    reason: str
    result: Result | None


def integrate(
    kube: Kube,
    template: spawn.SpawnOptions,
    printer: Printer,
    emit: Emit,
    *,
    branch: str | None = None,
    test_command: str = "",
    index: int = 0,
) -> Integrated | None:
    """Spawn the feature's integration pod, follow it, report it; ``None``: nothing done."""
    the_plan = spawn.plan_integration(template, branch=branch, test_command=test_command)
    if the_plan is None:
        return None
    name = spawn.apply(the_plan, kube, replace=False)
    emit("note", f"integrating into {the_plan.spec.branch}: pod {name}")
    cluster = Cluster(pods=ClusterPods(kube), logs=ClusterLogs(kube))
    ended = follow_pod(Target(name, TASK, index), cluster, Deadline.after(None), emit)
    options = Options(verify_remote=False, mark_done=False, tasks_file="")
    code = Finisher(cluster.pods, printer, options)(ended)
    outcome = ended.outcome
    status = status_for_exit_code(code) or outcome.status
    return Integrated(status, the_plan.spec.branch, outcome.reason, outcome.result)
