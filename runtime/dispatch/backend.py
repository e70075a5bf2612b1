"""The dispatcher's cluster side, built from the spawn and watching pipelines.

Spawning is :func:`runtime.spawn.create.plan` + :func:`runtime.spawn.create.apply` (same
defaults as ``spawn-pod.sh``; a second pod for a running task is refused with
``AlreadyRunningError``).  Following is :func:`runtime.follow.follow.follow_pod`; the
end of a pod is :class:`runtime.follow.finish.Finisher` (RESULT line, ``--verify-remote``,
mark the task [X], cleanup policy), exactly what ``tail-logs.sh --mark-done`` does;
then, with ``--pr``, the task's draft pull request (``runtime.dispatch.pull_requests``).
"""

from __future__ import annotations

import dataclasses

from runtime.contract.outcome import status_for_exit_code
from runtime.dispatch.loop import Emit, Verdict
from runtime.dispatch.pull_requests import PullRequests
from runtime.follow.finish import Finisher, Options
from runtime.follow.follow import Cluster, Ended, Target, follow_pod
from runtime.kube import labels
from runtime.kube.cleanup import delete_pod, is_reported
from runtime.kube.client import Kube
from runtime.kube.logs import ClusterLogs, Printer
from runtime.kube.pod import Pod, PodView, terminated
from runtime.kube.pods import is_active
from runtime.kube.podwatch import ClusterPods, Deadline
from runtime.spawn import create as spawn
from runtime.spawn.names import label_value, repo_id

__all__ = ["CANCELLED_BY", "ClusterBackend", "feature_selector", "newest_per_task"]

CANCELLED_BY = "run-async.sh cancel"  # the deleted-by annotation of the pods cancel deletes


def feature_selector(feature: str, repo: str | None = None) -> str:
    """Label selector of every agent pod of ``feature`` (of repository ``repo`` if given)."""
    selector = f"{labels.SELECTOR},{labels.FEATURE}={label_value(feature)}"
    return f"{selector},{labels.REPO_ID}={repo_id(repo)}" if repo else selector


def _task(pod: Pod) -> str:
    return PodView(pod).label(labels.TASK)


def newest_per_task(found: list[Pod]) -> dict[str, Pod]:
    """Task label -> its newest pod (by creation time)."""
    newest: dict[str, Pod] = {}
    for pod in sorted(found, key=lambda p: PodView(p).created):
        newest[_task(pod)] = pod
    return newest


def _phase(pod: Pod) -> str:
    return PodView(pod).phase


class ClusterBackend:
    """:class:`runtime.dispatch.loop.Backend` on a real cluster."""

    def __init__(
        self,
        kube: Kube,
        template: spawn.SpawnOptions,
        feature: str,
        printer: Printer,
        *,
        verify_remote: bool = False,
        cluster: Cluster | None = None,
        pull_requests: PullRequests | None = None,
    ) -> None:
        self.kube, self.template, self.feature, self.printer = kube, template, feature, printer
        self.pull_requests = pull_requests
        self.cluster = cluster or Cluster(pods=ClusterPods(kube), logs=ClusterLogs(kube))
        tasks_file = str(template.tasks_file or "")
        self.options = Options(verify_remote=verify_remote, mark_done=True, tasks_file=tasks_file)
        self.selector = feature_selector(feature, spawn.repo_url_of(template))

    def _pods(self) -> dict[str, Pod]:
        return newest_per_task(self.cluster.pods.select(self.selector))

    def attachable(self) -> dict[str, str]:
        """Running pods, and pods that succeeded but were never reported (detached).

        A succeeded pod whose result was reported (``reported-at``: its task was marked
        done, and has been set back to ``[ ]`` or edited since) is left alone: the task
        is spawned anew, and the spawn deletes that ended pod of the same name.
        """
        return {
            task: PodView(pod).name
            for task, pod in self._pods().items()
            if is_active(pod) or (_succeeded(pod) and not is_reported(pod))
        }

    def spawn(self, task_id: str) -> str:
        """Render and create the task's pod; return its name."""
        opts = dataclasses.replace(self.template, task_id=task_id)
        return spawn.apply(spawn.plan(opts), self.kube, replace=False)

    def find(self, task_id: str) -> str | None:
        """The task's active pod, if any."""
        pod = self._pods().get(label_value(task_id))
        return PodView(pod).name if pod is not None and is_active(pod) else None

    def follow(self, task_id: str, pod: str, index: int, emit: Emit) -> Ended:
        """Wait, stream and classify (worker thread); no deadline: the pod has its own."""
        return follow_pod(Target(pod, task_id, index), self.cluster, Deadline.after(None), emit)

    def finish(self, ended: Ended) -> Verdict:
        """RESULT line, verification, mark done, cleanup (main thread)."""
        code = Finisher(self.cluster.pods, self.printer, self.options)(ended)
        outcome = ended.outcome
        status = status_for_exit_code(code) or outcome.status
        reason = outcome.reason if status is outcome.status else f"{status.value} (see above)"
        result = outcome.result
        branch = (result.branch if result else "") or _annotation(ended.pod, labels.BRANCH)
        if result is None:
            return Verdict(status, reason, branch)
        started_from = tuple(point.task for point in result.started_from)
        tokens = (result.input_tokens, result.output_tokens)
        verdict = Verdict(
            status, reason, branch, result.commit, started_from, tokens, cost_usd=result.cost_usd
        )
        if self.pull_requests is None:
            return verdict
        task, base = ended.target.task, _annotation(ended.pod, labels.BASE)
        report = self.pull_requests.publish(task, result, base or "main")
        if report is None:
            return verdict
        self.printer.note(report.level, task, ended.target.index, report.text)
        return dataclasses.replace(verdict, pull_request=report.url)

    def cancel(self) -> list[str]:
        """Delete the feature's active pods (they push WIP on SIGTERM); return their names."""
        names = [
            PodView(pod).name for pod in self.cluster.pods.select(self.selector) if is_active(pod)
        ]
        pods = self.cluster.pods
        return [name for name in sorted(names) if delete_pod(pods, name, by=CANCELLED_BY)]


def _succeeded(pod: Pod) -> bool:
    """Phase Succeeded, or the agent exited 0 and the kubelet has not caught up yet."""
    return _phase(pod) == "Succeeded" or (terminated(pod) or {}).get("exitCode") == 0


def _annotation(pod: Pod, key: str) -> str:
    return PodView(pod).annotation(key)
