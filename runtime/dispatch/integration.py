"""One integrated branch per feature: the integration pod, spawned and followed.

After each wave of a dispatch and at its end (``runtime.dispatch.loop``), and on
``run-async.sh integrate``, the feature's succeeded tasks (checked off, with a branch on the
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
from runtime.contract.outcome import status_for_exit_code
from runtime.dispatch.loop import Emit, Integrated
from runtime.follow.finish import Finisher, Options
from runtime.follow.follow import Cluster, Ended, Target, follow_pod
from runtime.kube import labels
from runtime.kube.client import Kube
from runtime.kube.logs import ClusterLogs, Printer
from runtime.kube.pod import PodView
from runtime.kube.podwatch import ClusterPods, Deadline
from runtime.spawn import create as spawn

__all__ = ["ClusterIntegrator", "integrate"]

TASK = pod_contract.INTEGRATION_TASK


@dataclasses.dataclass
class ClusterIntegrator:
    """:class:`runtime.dispatch.loop.Integrator` on a real cluster."""

    kube: Kube
    template: spawn.SpawnOptions
    printer: Printer
    branch: str | None = None  # None: specs/<feature>/integration
    test_command: str = ""
    cluster: Cluster | None = None

    def __post_init__(self) -> None:
        if self.cluster is None:
            self.cluster = Cluster(pods=ClusterPods(self.kube), logs=ClusterLogs(self.kube))

    @property
    def _cluster(self) -> Cluster:
        assert self.cluster is not None
        return self.cluster

    def spawn(self) -> str | None:
        """Plan and create the integration pod; ``None`` when no done task has a branch."""
        the_plan = spawn.plan_integration(
            self.template, branch=self.branch, test_command=self.test_command
        )
        if the_plan is None:
            return None
        self.branch = the_plan.spec.branch
        return spawn.apply(the_plan, self.kube, replace=False)

    def follow(self, pod: str, index: int, emit: Emit) -> Ended:
        """Wait, stream and classify; no deadline: the pod has its own."""
        return follow_pod(Target(pod, TASK, index), self._cluster, Deadline.after(None), emit)

    def finish(self, ended: Ended) -> Integrated:
        """The RESULT line, cleanup; what the branch holds now and what it was to hold."""
        options = Options(verify_remote=False, mark_done=False, tasks_file="")
        code = Finisher(self._cluster.pods, self.printer, options)(ended)
        outcome, result = ended.outcome, ended.outcome.result
        status = status_for_exit_code(code) or outcome.status
        view = PodView(ended.pod)
        base, asked = view.annotation(labels.BASE), tuple(p.task for p in view.started_from)
        branch = self.branch or ""
        return Integrated(status, branch, outcome.reason, result, base, asked)


def integrate(integrator: ClusterIntegrator, emit: Emit, index: int = 0) -> Integrated | None:
    """Spawn the feature's integration pod, follow it, report it; ``None``: nothing done."""
    name = integrator.spawn()
    if name is None:
        return None
    emit("note", f"integrating into {integrator.branch}: pod {name}")
    return integrator.finish(integrator.follow(name, index, emit))
