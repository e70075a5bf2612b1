"""What ``logs`` does when a pod has ended: verify, report, mark done, clean up.

In order: ``--verify-remote`` (``git ls-remote`` must show the reported commit,
else the outcome becomes ``push-rejected``), the ``RESULT`` line on stdout,
``--mark-done`` on success, the fork's ``.async_state`` markers, the pod's cleanup
policy, and, for a kept pod whose task was marked done, its ``reported-at`` annotation
(so that a rerun of the task spawns a new pod rather than re-attaching to this one).
Returns the exit code of the (possibly downgraded) outcome.

The summary line (stdout, one per pod, fields never contain spaces except the
last, ``reason``, which is a JSON string)::

    [T012] RESULT status=succeeded exit=0 branch=specs/001-x/T012-async commit=3f2a... \
from=T010@9c1e2d3f4a5b files=3 duration=42s llm_requests=9 tokens_in=48210 tokens_out=3120 \
cost=$0.1915 pod=speckit-001-x-t012-9f3c reason="pushed 3 files"

``cost`` is the proxy's tokens at the developer's price (``-``: no price, or no result).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from runtime.common.timestamps import parse_rfc3339
from runtime.contract.cost import usd
from runtime.contract.outcome import Result, Status
from runtime.contract.start import StartPoint
from runtime.errors import SpeckitPodsError
from runtime.follow import async_state
from runtime.follow.classify import Outcome
from runtime.follow.follow import Ended, Target
from runtime.kube import labels
from runtime.kube.cleanup import apply_policy, mark_reported
from runtime.kube.logs import Printer
from runtime.kube.pod import Pod, PodView, terminated
from runtime.kube.podwatch import ClusterPods

LS_REMOTE_TIMEOUT_S = 60
Runner = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclasses.dataclass(frozen=True)
class Options:
    """The end-of-pod flags of ``logs``."""

    verify_remote: bool = False
    mark_done: bool = False
    tasks_file: str = ""  # overrides the pod's tasks-file annotation
    async_state: bool = False  # create .async_state/ when missing


def _annotation(pod: Pod, key: str) -> str:
    return PodView(pod).annotation(key)


def _duration(outcome: Outcome, pod: Pod) -> str:
    if outcome.result is not None and outcome.result.duration_s:
        return f"{round(outcome.result.duration_s)}s"
    state = terminated(pod) or {}
    start, end = (parse_rfc3339(str(state.get(k) or "")) for k in ("startedAt", "finishedAt"))
    return f"{round((end - start).total_seconds())}s" if start and end else "-"


def summary_line(outcome: Outcome, pod: Pod, pod_name: str) -> str:
    """Render the ``RESULT ...`` line (without the ``[T012]`` prefix)."""
    result = outcome.result
    fields = {
        "status": outcome.status.value,
        "exit": str(outcome.status.exit_code),
        "branch": (result.branch if result else "") or _annotation(pod, labels.BRANCH) or "-",
        "commit": (result.commit if result else "") or "-",
        # the prerequisites' work it started from (``base``: the base branch alone)
        "from": ",".join(p.short for p in started_from(result, pod)) or "base",
        "files": str(len(result.files_changed)) if result else "-",
        "duration": _duration(outcome, pod),
        # counted by the pod's LLM proxy, not claimed by the agent
        "llm_requests": str(result.llm_requests) if result else "-",
        "tokens_in": str(result.input_tokens) if result else "-",
        "tokens_out": str(result.output_tokens) if result else "-",
        "cost": usd(result.cost_usd) if result and result.cost_usd is not None else "-",
        "pod": pod_name,
    }
    pairs = " ".join(f"{key}={value}" for key, value in fields.items())
    return f"RESULT {pairs} reason={json.dumps(outcome.reason, ensure_ascii=False)}"


def started_from(result: Result | None, pod: Pod) -> tuple[StartPoint, ...]:
    """The start points: the trusted side's report, else what the spawn pinned on the pod."""
    return result.started_from if result is not None else PodView(pod).started_from


def verify_push(repo: str, branch: str, commit: str, run: Runner = subprocess.run) -> str:
    """Check with ``git ls-remote`` that ``branch`` points at ``commit``; ``""`` if so.

    Uses the developer's own git configuration and credentials; never prompts.
    """
    if not (repo and branch and commit):
        return "push not verified: the pod did not report repo, branch and commit"
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    command = ["git", "ls-remote", "--", repo, f"refs/heads/{branch}"]
    try:
        done = run(command, capture_output=True, text=True, timeout=LS_REMOTE_TIMEOUT_S, env=env)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"push not verified: git ls-remote failed: {err}"
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"push not verified: git ls-remote failed: {detail}"
    remote = (done.stdout.split() or [""])[0]
    if not remote:
        return f"push not verified: branch {branch} not found on {repo}"
    if not (remote.startswith(commit) or commit.startswith(remote)):
        return f"push not verified: {branch} is at {remote[:12]} on the remote, not {commit[:12]}"
    return ""


class Finisher:
    """Callable run by the main thread for each ended pod; returns its exit code."""

    def __init__(
        self, pods: ClusterPods, printer: Printer, options: Options, run: Runner = subprocess.run
    ) -> None:
        self.pods, self.printer, self.options, self.run = pods, printer, options, run

    def __call__(self, ended: Ended) -> int:
        """Verify, report and clean up one ended pod; return its exit code."""
        outcome, pod, target = ended.outcome, ended.pod, ended.target
        if self.options.verify_remote and outcome.status.ok:
            outcome = self._verified(outcome, pod)
        self.printer.line(target.task, target.index, summary_line(outcome, pod, target.pod))
        if not outcome.status.ok:
            self._note(target, "WARNING", f"{outcome.status.value}: {outcome.reason}")
            if outcome.hint:
                self._note(target, "Hint", outcome.hint)
        task_id = outcome.result.task if outcome.result and outcome.result.task else target.task
        tasks_file = self.options.tasks_file or _annotation(pod, labels.TASKS_FILE)
        marked = self._step(target, lambda: self._mark_done(ended, outcome, task_id, tasks_file))
        self._step(target, lambda: self._async_state(ended, outcome, task_id, tasks_file))
        kept = self._step(target, lambda: self._cleanup(ended, outcome))
        if marked and kept is not False:  # kept, or its deletion failed: it may be there
            self._mark_reported(target, task_id)
        return outcome.status.exit_code

    def _step(self, target: Target, step: Callable[[], bool | None]) -> bool | None:
        """Run one end-of-pod step; a failure is one WARNING line (and ``None``)."""
        try:
            return step()
        except SpeckitPodsError as err:  # the verdict stands; say what was not done
            self._note(target, "WARNING", err.message)
        except OSError as err:  # e.g. .async_state not writable
            self._note(target, "WARNING", f"{err.strerror or err}: {err.filename or ''}")
        return None

    def _note(self, target: Target, level: str, text: str) -> None:
        self.printer.note(level, target.task, target.index, text)

    def _verified(self, outcome: Outcome, pod: Pod) -> Outcome:
        result = outcome.result
        repo = _annotation(pod, labels.REPO)
        branch = (result.branch if result else "") or _annotation(pod, labels.BRANCH)
        problem = verify_push(repo, branch, result.commit if result else "", self.run)
        if problem:
            return Outcome(Status.PUSH_REJECTED, problem, result)
        return outcome

    def _mark_done(self, ended: Ended, outcome: Outcome, task_id: str, tasks_file: str) -> bool:
        """Mark the task [X] (``--mark-done``, success); whether it is marked now."""
        if not (self.options.mark_done and outcome.status.ok):
            return False
        if not tasks_file:
            self._note(ended.target, "WARNING", "not marked done: no --tasks and no annotation")
            return False
        from runtime.tasks.edit import mark_done

        changed = mark_done(Path(tasks_file), task_id)
        state = f"marked {task_id} done in" if changed else f"{task_id} was already done in"
        self._note(ended.target, "INFO", f"{state} {tasks_file}")
        return True

    def _async_state(self, ended: Ended, outcome: Outcome, task_id: str, tasks_file: str) -> None:
        if not tasks_file or not Path(tasks_file).is_file():
            if self.options.async_state:
                self._note(
                    ended.target, "WARNING", f"no .async_state: tasks file {tasks_file!r} not found"
                )
            return
        from runtime.tasks.feature import feature_dir

        written = async_state.record(
            feature_dir(Path(tasks_file)), task_id, outcome, ended.target.pod,
            create=self.options.async_state, now=datetime.datetime.now(datetime.UTC),
        )  # fmt: skip
        if written is not None:
            self._note(ended.target, "INFO", f"wrote {written}")

    def _cleanup(self, ended: Ended, outcome: Outcome) -> bool:
        """Apply the pod's cleanup policy; whether the pod is kept."""
        if ended.deleted or not ended.pod:
            return False
        cleaned = apply_policy(self.pods, ended.pod, outcome.status)
        self._note(ended.target, "INFO", cleaned.describe())
        return not cleaned.deleted

    def _mark_reported(self, target: Target, task_id: str) -> None:
        """Annotate the kept pod ``reported-at``: a rerun of the task spawns, not re-attaches.

        A refusal is one WARNING line; the outcome stands.
        """
        try:
            mark_reported(self.pods, target.pod)
        except SpeckitPodsError as err:
            self._note(
                target, "WARNING",
                f"{err.message} (a rerun of {task_id} would re-attach to it and report this "
                f"result again: delete it first, kubectl -n {self.pods.namespace} delete pod "
                f"{target.pod})",
            )  # fmt: skip
