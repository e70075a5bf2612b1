"""``dispatch status``: every [ASYNC] task of the feature, from tasks.md, plan and pods.

One row per [ASYNC] task: its tasks.md state, where the plan puts it (``wave 2``,
``held: waits for T003 [SYNC]``), and its newest pod (state, result, branch,
reason) when the cluster can be reached; without a cluster the pod columns stay
empty and a warning says why.  ``--json`` prints one object ``{"feature",
"tasks_file", "cluster", "tasks": [{"id", "tasks_md", "plan", "pod", "state",
"result", "branch", "reason"}]}``.
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
from runtime.dispatch.backend import feature_selector, newest_per_task
from runtime.errors import ClusterUnreachableError, KubeConfigError
from runtime.tasks.feature import feature_name
from runtime.tasks.plan import DispatchPlan

COLUMNS = ("id", "tasks_md", "plan", "pod", "state", "result", "branch", "reason")


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


def collect(plan: DispatchPlan, pods: dict[str, PodRow] | None) -> list[TaskStatus]:
    """Build the rows for every [ASYNC] task, file order."""
    rows = []
    for task in plan.tasks.values():
        if not task.is_async:
            continue
        pod = (pods or {}).get(task.id)
        row = TaskStatus(task.id, task.state.value, plan_state(plan, task.id))
        if pod is not None:
            row = dataclasses.replace(
                row,
                pod=pod.pod,
                state=pod.state,
                result=pod.result,
                branch=pod.branch,
                reason=pod.reason,
            )
        rows.append(row)
    return rows


def render(rows: list[TaskStatus]) -> str:
    """Aligned columns with a header."""
    header = [c.replace("_", ".") for c in COLUMNS]
    return render_table(header, [[str(getattr(row, c)) or "-" for c in COLUMNS] for row in rows])


def print_status(plan: DispatchPlan, tasks_file: Path, args: argparse.Namespace) -> int:
    """Print the status table (or JSON); 0 unless the cluster answered with an error."""
    feature = feature_name(tasks_file)
    pods = _pod_rows(args, feature, tasks_file)
    rows = collect(plan, pods)
    if args.json:
        data = {
            "feature": feature,
            "tasks_file": str(tasks_file),
            "cluster": pods is not None,
            "tasks": [dataclasses.asdict(row) for row in rows],
        }
        print(json.dumps(data, ensure_ascii=False))
    elif rows:
        print(render(rows))
    else:
        print(f"INFO: no [ASYNC] tasks in {tasks_file}", file=sys.stderr)
    return 0
