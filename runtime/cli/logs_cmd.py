"""``logs``: follow agent pods to their end (``scripts/tail-logs.sh``).

stdout gets the log lines, prefixed ``[T012]``, and one ``RESULT`` line per pod;
stderr gets waiting reasons, errors and what was done afterwards.  Exit code: the
pod's ``Status.exit_code``; with several pods 0 only if all succeeded, else the
code of the first failing pod in task order; 27 when a pod has not ended yet
(``--no-follow``, ``--timeout``); 2 usage, 20-26 cluster errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from runtime.cli.pod_options import duration
from runtime.errors import PodNotFoundError, UsageError
from runtime.follow.finish import Finisher, Options
from runtime.follow.follow import Cluster, Target, follow_all, snapshot_all
from runtime.kube import labels
from runtime.kube.logs import ClusterLogs, Printer, use_color
from runtime.kube.pod import Pod, PodView
from runtime.kube.podwatch import ClusterPods, Deadline

EPILOG = """\
exit codes: 0 succeeded, 1 failed, 3 no-changes, 4 stalled, 5 killed, 6 git-auth-failed,
7 repo-not-found, 8 push-rejected (or --verify-remote failed), 9 unknown, 124 timeout,
27 not ended yet (--no-follow, --timeout), 2 usage, 20-26 cluster errors, 130 interrupted.
"""


def register(sub: Any) -> None:
    """Add the ``logs`` sub-command."""
    parser = sub.add_parser(
        "logs",
        help="follow agent pods: stream logs, report the result, clean up",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pod", nargs="?", help="pod name")
    parser.add_argument("--task", metavar="ID", help="the newest pod of this task")
    parser.add_argument("--all", action="store_true", help="every agent pod (of --feature)")
    parser.add_argument("--namespace", "-n", help="namespace (default $SPECKIT_PODS_NAMESPACE)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--feature", metavar="NAME", help="only pods of this feature")
    parser.add_argument("--no-follow", action="store_true", help="print the log once and exit")
    parser.add_argument("--timeout", type=duration, metavar="DURATION", help="give up after")
    parser.add_argument("--verify-remote", action="store_true", help="git ls-remote the branch")
    parser.add_argument("--mark-done", action="store_true", help="mark succeeded tasks [X]")
    parser.add_argument("--tasks", metavar="FILE", help="tasks.md (default: pod annotation)")
    parser.add_argument("--async-state", action="store_true", help="create .async_state/ files")
    parser.add_argument("--no-color", action="store_true", help="no colours (also NO_COLOR)")
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    chosen = [bool(args.pod), bool(args.task), bool(args.all)]
    if sum(chosen) != 1:
        raise UsageError("give exactly one of: a pod name, --task ID, --all")
    if args.tasks and not args.mark_done and not args.async_state:
        raise UsageError("--tasks is only used with --mark-done or --async-state")


def _selector(args: argparse.Namespace) -> str:
    from runtime.spawn.names import label_value

    parts = [labels.SELECTOR]
    if args.task:
        parts.append(f"{labels.TASK}={label_value(args.task)}")
    if args.feature:
        parts.append(f"{labels.FEATURE}={label_value(args.feature)}")
    return ",".join(parts)


def _newest_per_task(found: list[Pod]) -> list[Pod]:
    newest: dict[tuple[str, str], Pod] = {}
    for pod in sorted(found, key=lambda p: PodView(p).created):
        view = PodView(pod)
        newest[(view.label(labels.FEATURE), view.label(labels.TASK))] = pod
    return list(newest.values())


def resolve_targets(pods: ClusterPods, args: argparse.Namespace) -> list[Target]:
    """Turn the pod / ``--task`` / ``--all`` selection into targets, sorted by task."""
    if args.pod:
        pod = pods.read(args.pod)
        if pod is None:
            raise PodNotFoundError(
                f"pod {args.pod!r} not found in namespace {pods.namespace}",
                hint="list agent pods with: speckit-pods status",
            )
        found = [pod]
    else:
        found = pods.select(_selector(args))
        if args.task:
            found = _newest_per_task(found)
    if not found:
        what = f"task {args.task}" if args.task else "any task"
        scope = f" of feature {args.feature}" if args.feature else ""
        raise PodNotFoundError(
            f"no agent pod for {what}{scope} in namespace {pods.namespace}",
            hint="spawn one with scripts/spawn-pod.sh, or check --namespace",
        )
    views = sorted(
        map(PodView, found), key=lambda v: (v.label(labels.TASK), v.label(labels.FEATURE), v.name)
    )
    return [Target(v.name, v.label(labels.TASK) or v.name, index) for index, v in enumerate(views)]


def run(args: argparse.Namespace, cluster: Cluster | None = None) -> int:
    """Follow (or snapshot) the selected pods; return the exit code."""
    _check(args)
    if cluster is None:
        from runtime.kube.client import connect

        kube = connect(args.namespace, args.context)
        cluster = Cluster(pods=ClusterPods(kube), logs=ClusterLogs(kube))
    printer = Printer(
        sys.stdout, sys.stderr, color=use_color(args.no_color, sys.stdout, dict(os.environ))
    )
    targets = resolve_targets(cluster.pods, args)
    options = Options(
        verify_remote=args.verify_remote,
        mark_done=args.mark_done,
        tasks_file=args.tasks or "",
        async_state=args.async_state,
    )
    finisher = Finisher(cluster.pods, printer, options)
    if args.no_follow:
        return snapshot_all(targets, cluster, printer, finisher)
    return follow_all(targets, cluster, Deadline.after(args.timeout), printer, finisher)
