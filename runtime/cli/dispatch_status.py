"""``dispatch status``: every [ASYNC] task of the feature, from tasks.md, plan and pods.

One row per [ASYNC] task: its tasks.md state, where the plan puts it (``wave 2``,
``held: waits for T003 [SYNC]``), and its newest pod (state, result, branch,
reason) when the cluster can be reached; without a cluster the pod columns stay
empty and a warning says why.  From git (``runtime.spawn.lineage``, the developer's
credentials; no pod needed): what each task started from, whether it is **stale** (a
prerequisite's branch moved since: rerun it with ``--restack``) and whether the
integration branch holds it.  A task with no pod left shows the outcome its last run
stored in git (``runtime.spawn.session``: its ``result.json``; state ``ended (pod
gone)``, ``stored`` true).  TOKENS is what the pod's LLM proxy counted in the run shown
(the ended pod's result line, else the stored one), rendered as the dispatcher's table
does; the feature's total goes to stderr as the dispatcher's ``INFO: tokens: ...``.
``--json`` prints one object ``{"feature", "tasks_file", "cluster", "git", "tasks":
[{"id", "tasks_md", "plan", "pod", "state", "result", "branch", "reason",
"started_from", "stale", "integrated", "stored", "llm_requests", "input_tokens",
"output_tokens"}], "total": {"tasks_reported", "llm_requests", "input_tokens",
"output_tokens"}}``; a count is ``null`` when the task has no result.  The counts are
the :class:`~runtime.contract.outcome.Result`'s own (:data:`USAGE`), so a count the
result line gains shows here too.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from pathlib import Path

from runtime.cli.status_cmd import Row as PodRow
from runtime.cli.status_cmd import make_row
from runtime.common.tables import render_table
from runtime.contract.outcome import Result
from runtime.contract.redact import printable
from runtime.dispatch.backend import feature_selector, newest_per_task
from runtime.dispatch.view import describe_tokens, tokens_cell
from runtime.errors import ClusterUnreachableError, KubeConfigError, SpeckitPodsError
from runtime.spawn.lineage import Lineage, read_lineage
from runtime.tasks.feature import feature_name
from runtime.tasks.plan import DispatchPlan

COLUMNS = (
    "id", "tasks_md", "plan", "pod", "state", "result", "tokens", "from", "stale", "integrated",
    "reason",
)  # fmt: skip
# what the pod's LLM proxy counted, as the Result names it (cost_usd: None without a price)
USAGE = ("llm_requests", "input_tokens", "output_tokens", "cost_usd")


@dataclasses.dataclass(frozen=True)
class TaskStatus:
    """One row of ``dispatch status``."""

    id: str
    tasks_md: str
    plan: str
    pod: str = ""
    state: str = ""
    result: str = ""
    branch: str = ""
    reason: str = ""
    started_from: tuple[str, ...] = ()  # T002@<commit>, from the task commit's trailers
    stale: str = ""  # "T002 moved": a prerequisite's branch moved since it started
    integrated: bool | None = None  # None: not known (no branch, or git not read)
    stored: bool = False  # state/result/reason from the run stored in git (no pod left)
    counted: Result | None = None  # the result its counts (USAGE) come from; None: unknown

    def usage(self) -> dict[str, object]:
        """``{"llm_requests": 7, "input_tokens": ..., ...}``; ``None`` values when unknown."""
        return {name: getattr(self.counted, name, None) for name in USAGE}

    def to_json(self) -> dict[str, object]:
        """The row with stable keys."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del values["counted"]
        return {**values, "started_from": list(self.started_from), **self.usage()}

    def cell(self, column: str) -> str:
        """What the table shows in ``column``."""
        if column == "tokens":
            c = self.counted
            return tokens_cell(None if c is None else (c.input_tokens, c.output_tokens))
        if column == "from":
            return ",".join(self.started_from) or "-"
        if column == "integrated":
            return {None: "-", True: "yes", False: "no"}[self.integrated]
        # a reason may quote the agent: no escape sequence reaches the terminal
        return printable(str(getattr(self, column))) or "-"


def total(rows: list[TaskStatus]) -> dict[str, int | float]:
    """The feature's counts: every count summed over the tasks with a result."""
    counted = [row.counted for row in rows if row.counted is not None]
    sums: dict[str, int | float] = {"tasks_reported": len(counted)}
    for name in USAGE:
        values = [value for c in counted if isinstance(value := getattr(c, name), int | float)]
        sums[name] = sum(values)
    sums["tasks_priced"] = sum(1 for c in counted if c.cost_usd is not None)
    return sums


def plan_state(plan: DispatchPlan, task_id: str) -> str:
    """``wave 2``, ``held: waits for T003 [SYNC]``, ``done`` or ``-``."""
    for number, wave in enumerate(plan.waves, start=1):
        if task_id in wave:
            return f"wave {number}"
    for held in plan.held:
        if held.task_id == task_id:
            return "held: " + held.describe(plan.tasks)
    return "done" if task_id in plan.done else "-"


def _pod_rows(args: argparse.Namespace, feature: str, tasks_file: Path) -> dict[str, PodRow] | None:
    from runtime.cli.pod_options import spawn_options
    from runtime.kube.client import connect
    from runtime.kube.logs import ClusterLogs
    from runtime.kube.podwatch import ClusterPods
    from runtime.spawn.create import repo_url_of

    try:
        kube = connect(args.namespace, args.kube_context)
    except (KubeConfigError, ClusterUnreachableError) as err:
        print(f"WARNING: pods not shown: {err.message}", file=sys.stderr)
        return None
    pods, logs = ClusterPods(kube), ClusterLogs(kube)
    now = datetime.datetime.now(datetime.UTC)
    repo = repo_url_of(spawn_options(args, tasks_file=tasks_file))
    newest = newest_per_task(pods.select(feature_selector(feature, repo)))
    return {task: make_row(pod, logs, now) for task, pod in newest.items()}


def _lineage(
    args: argparse.Namespace, feature: str, tasks_file: Path, ids: list[str]
) -> dict[str, Lineage] | None:
    from runtime.cli.pod_options import spawn_options
    from runtime.spawn.create import default_branch, integration_branch, repo_url_of

    repo = repo_url_of(spawn_options(args, tasks_file=tasks_file))
    if repo is None:
        print("WARNING: git state not shown: no repository URL (--repo)", file=sys.stderr)
        return None
    branches = {tid: default_branch(feature, tid) for tid in ids}
    integration = args.integration_branch or integration_branch(feature)
    try:
        return read_lineage(tasks_file.parent, repo, feature, branches, integration)
    except SpeckitPodsError as err:
        print(f"WARNING: git state not shown: {err.message}", file=sys.stderr)
        return None


def _stored(
    args: argparse.Namespace, feature: str, tasks_file: Path, ids: list[str]
) -> dict[str, Result]:
    """The outcomes stored in git of the tasks in ``ids`` (those without a pod)."""
    from runtime.cli.pod_options import spawn_options
    from runtime.spawn.create import repo_url_of
    from runtime.spawn.session import read_results

    repo = repo_url_of(spawn_options(args, tasks_file=tasks_file))
    if repo is None or not ids:
        return {}
    try:
        return read_results(tasks_file.parent, repo, feature, ids)
    except SpeckitPodsError as err:
        print(f"WARNING: stored outcomes not shown: {err.message}", file=sys.stderr)
        return {}


def collect(
    plan: DispatchPlan,
    pods: dict[str, PodRow] | None,
    lineage: dict[str, Lineage] | None = None,
    stored: dict[str, Result] | None = None,
) -> list[TaskStatus]:
    """Build the rows for every [ASYNC] task, file order."""
    rows = []
    for task in plan.tasks.values():
        if not task.is_async:
            continue
        pod = (pods or {}).get(task.id)
        row = TaskStatus(task.id, task.state.value, plan_state(plan, task.id))
        known = (lineage or {}).get(task.id)
        if known is not None and known.commit:
            row = dataclasses.replace(
                row,
                started_from=tuple(f"{t}@{c[:12]}" for t, c in known.started_from),
                stale=", ".join(f"{t} moved" for t in known.stale_because),
                integrated=known.integrated,
            )
        kept = (stored or {}).get(task.id)
        if pod is None and kept is not None:
            row = dataclasses.replace(
                row, state="ended (pod gone)", result=kept.status.value, branch=kept.branch,
                reason=kept.reason, stored=True, counted=kept,
            )  # fmt: skip
        if pod is not None:  # a running pod has counted nothing yet that we can read
            row = dataclasses.replace(
                row,
                pod=pod.pod,
                state=pod.state,
                result=pod.result,
                branch=pod.branch,
                reason=pod.reason,
                counted=pod.outcome,
            )
        rows.append(row)
    return rows


def render(rows: list[TaskStatus]) -> str:
    """Aligned columns with a header."""
    header = [c.replace("_", ".") for c in COLUMNS]
    return render_table(header, [[row.cell(c) for c in COLUMNS] for row in rows])


def print_status(plan: DispatchPlan, tasks_file: Path, args: argparse.Namespace) -> int:
    """Print the status table (or JSON); 0 unless the cluster answered with an error."""
    feature = feature_name(tasks_file)
    pods = _pod_rows(args, feature, tasks_file)
    ids = [t.id for t in plan.tasks.values() if t.is_async]
    lineage = _lineage(args, feature, tasks_file, ids)
    stored = _stored(args, feature, tasks_file, [t for t in ids if t not in (pods or {})])
    rows = collect(plan, pods, lineage, stored)
    if args.json:
        data = {
            "feature": feature,
            "tasks_file": str(tasks_file),
            "cluster": pods is not None,
            "git": lineage is not None,
            "tasks": [row.to_json() for row in rows],
            "total": total(rows),
        }
        print(json.dumps(data, ensure_ascii=False))
    elif rows:
        print(render(rows))
        summed = total(rows)
        if summed["tasks_reported"]:
            tokens_in, tokens_out = int(summed["input_tokens"]), int(summed["output_tokens"])
            cost = (float(summed["cost_usd"]), int(summed["tasks_priced"]))
            line = describe_tokens(tokens_in, tokens_out, int(summed["tasks_reported"]), cost)
            print(f"INFO: {line}", file=sys.stderr)
    else:
        print(f"INFO: no [ASYNC] tasks in {tasks_file}", file=sys.stderr)
    return 0
