"""``status``: one row per agent pod: task, feature, state, age, result, branch.

Expired kept pods and orphaned task ConfigMaps are deleted first (the sweeps).
``--json`` prints one JSON array with stable snake_case keys::

    [{"task": "T012", "feature": "001-x", "pod": "...", "phase": "Succeeded",
      "state": "terminated (exit 0)", "age_s": 300, "elapsed_s": 42,
      "branch": "...", "started_from": [{"task": "T010", "branch": "...", "commit": "..."}],
      "result": "succeeded", "reason": "...", "expires_at": "..."}]

``started_from`` is the work of the done [ASYNC] prerequisites the task started from
(``[]``: the base branch alone); the table shows it as ``T010@<commit>``.

``result`` and ``reason`` are empty while the pod runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from typing import TYPE_CHECKING

from runtime.cli.helptext import epilog, paragraph
from runtime.common import tables
from runtime.common.durations import human_duration
from runtime.common.timestamps import parse_rfc3339
from runtime.contract.exit_codes import ExitCode
from runtime.contract.outcome import Result
from runtime.contract.redact import printable
from runtime.contract.start import StartPoint
from runtime.errors import SpeckitPodsError
from runtime.follow.classify import classify
from runtime.kube import labels
from runtime.kube.pod import Pod, PodView, terminated

# the cluster side needs the kubernetes package: imported where used, so --help needs none
if TYPE_CHECKING:
    from runtime.kube.logs import ClusterLogs
    from runtime.kube.podwatch import ClusterPods

TAIL_LINES = 5
COLUMNS = ("task", "feature", "state", "age", "elapsed", "result", "branch", "from", "pod")


@dataclasses.dataclass(frozen=True)
class Row:
    """What ``status`` shows about one pod."""

    task: str
    feature: str
    pod: str
    phase: str
    state: str
    age_s: int | None
    elapsed_s: int | None
    branch: str
    result: str
    reason: str
    expires_at: str
    started_from: tuple[StartPoint, ...] = ()
    # the ended pod's result line, parsed (``dispatch status`` shows its tokens); not in --json
    outcome: Result | None = dataclasses.field(default=None, repr=False)

    def to_json(self) -> dict[str, object]:
        """The row with stable snake_case keys."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del values["outcome"]
        values["started_from"] = [point.to_json() for point in self.started_from]
        return values


CODES = (
    ExitCode.SUCCEEDED,
    ExitCode.USAGE,
    ExitCode.NO_KUBECONFIG,
    ExitCode.CLUSTER_UNREACHABLE,
    ExitCode.API_REFUSED,
    ExitCode.MISSING_DEPENDENCY,
    ExitCode.INTERRUPTED,
)
DESCRIPTION = paragraph(
    "List the agent pods: task, feature, state, age, result, branch. Kept pods whose "
    "--keep-for has passed are deleted first."
)
EXAMPLES = """\
# every agent pod of one feature, as JSON
%(prog)s --feature 001-photo-albums --json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Make PARSER the ``status`` sub-command."""
    parser.description = DESCRIPTION
    parser.epilog = epilog(CODES, examples=EXAMPLES)
    parser.add_argument(
        "--namespace", "-n", metavar="NS", help="namespace (default $SPECKIT_PODS_NAMESPACE)"
    )
    parser.add_argument("--context", metavar="CTX", help="kubeconfig context")
    parser.add_argument("--feature", metavar="NAME", help="only pods of this feature")
    parser.add_argument("--json", action="store_true", help="print one JSON array")
    parser.set_defaults(func=run)


def _seconds(start: str, end: datetime.datetime | None) -> int | None:
    begin = parse_rfc3339(start) if start else None
    return None if begin is None or end is None else max(0, int((end - begin).total_seconds()))


def _state(pod: Pod) -> str:
    from runtime.kube.podwatch import StuckPolicy, diagnose

    end = terminated(pod)
    if end is not None:
        why = f", {end['reason']}" if end.get("reason") else ""
        return f"terminated (exit {end.get('exitCode', '?')}{why})"
    view = PodView(pod)
    container = view.agent.get("state") or {}
    if container.get("running"):
        return "running"
    if view.has_git_side and (view.result_status.get("state") or {}).get("running"):
        return "pushing" if container.get("terminated") else "cloning"
    diagnosis = diagnose(pod, [], StuckPolicy())
    if diagnosis is not None:
        return diagnosis.message
    waiting = (container.get("waiting") or {}).get("reason")
    return str(waiting or PodView(pod).reason or "pending").lower()


def make_row(pod: Pod, logs: ClusterLogs, now: datetime.datetime) -> Row:
    """Describe one pod; reads the last log lines only when it has ended."""
    view = PodView(pod)
    name = view.name
    result, reason, finished_at = "", "", now
    checked: Result | None = None
    if view.finished:
        tail = logs.tail(name, TAIL_LINES)
        line = next((r for r in map(Result.from_line, reversed(tail)) if r), None)
        outcome = classify(pod, line, last_lines=tail)
        result, reason, checked = outcome.status.value, outcome.reason, outcome.result
        finished_at = parse_rfc3339(str((view.terminated or {}).get("finishedAt") or "")) or now
    return Row(
        task=view.label(labels.TASK),
        feature=view.label(labels.FEATURE),
        pod=name,
        phase=view.phase or "Unknown",
        state=_state(pod),
        age_s=_seconds(view.created, now),
        elapsed_s=_seconds(view.start_time, finished_at),
        branch=view.annotation(labels.BRANCH),
        result=result,
        reason=reason,
        expires_at=view.annotation(labels.EXPIRES_AT),
        started_from=view.started_from,
        outcome=checked,  # None when the line was about another task (forged)
    )


def render_table(rows: list[Row]) -> str:
    """Render rows as aligned columns with a header."""
    cells = []
    for row in rows:
        values = row.to_json()
        values["age"], values["elapsed"] = human_duration(row.age_s), human_duration(row.elapsed_s)
        values["from"] = ",".join(point.short for point in row.started_from)
        # a reason may quote the agent: no escape sequence reaches the terminal
        cells.append([printable(str(values[c] or "-")) for c in COLUMNS])
    return tables.render_table(COLUMNS, cells)


def run(
    args: argparse.Namespace,
    pods: ClusterPods | None = None,
    logs: ClusterLogs | None = None,
    now: datetime.datetime | None = None,
) -> int:
    """List the agent pods; return 0 (cluster errors raise)."""
    from runtime.kube.cleanup import sweep_expired, sweep_orphans
    from runtime.kube.logs import ClusterLogs
    from runtime.kube.podwatch import ClusterPods

    if pods is None or logs is None:
        from runtime.kube.client import connect

        kube = connect(args.namespace, args.context)
        pods, logs = ClusterPods(kube), ClusterLogs(kube)
    moment = now or datetime.datetime.now(datetime.UTC)
    for what, sweep in (("expired pods", sweep_expired), ("orphaned configmaps", sweep_orphans)):
        try:
            sweep(pods, now=moment)
        except SpeckitPodsError as err:
            print(f"WARNING: could not sweep {what}: {err.message}", file=sys.stderr)
    selector = labels.SELECTOR
    if args.feature:
        from runtime.spawn.names import label_value

        selector += f",{labels.FEATURE}={label_value(args.feature)}"
    rows = sorted(
        (make_row(pod, logs, moment) for pod in pods.select(selector)),
        key=lambda r: (r.feature, r.task, -(r.age_s or 0)),
    )
    if args.json:
        print(json.dumps([row.to_json() for row in rows], ensure_ascii=False))
    elif rows:
        print(render_table(rows))
    else:
        print(f"INFO: no agent pods in namespace {pods.namespace}", file=sys.stderr)
    return 0
