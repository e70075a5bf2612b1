"""``logs``: follow agent pods to their end (``scripts/tail-logs.sh``).

stdout gets the log lines, prefixed ``[T012]``, and one ``RESULT`` line per pod;
stderr gets waiting reasons, errors and what was done afterwards.  Exit code: the
pod's ``Status.exit_code``; with several pods the first failure in task order
(:data:`CODES` and :data:`NOTE`, shown by ``--help``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from runtime.cli.helptext import epilog, paragraph
from runtime.common.durations import EXAMPLES as EXAMPLES_DURATION
from runtime.contract.exit_codes import ExitCode
from runtime.errors import InvalidInputError, PodNotFoundError, UsageError
from runtime.kube import labels
from runtime.kube.pod import Pod, PodView

# following pods needs the kubernetes package: imported by run(), so --help needs none
if TYPE_CHECKING:
    from runtime.follow.follow import Cluster, Target
    from runtime.kube.podwatch import ClusterPods

CODES = (
    ExitCode.SUCCEEDED,
    ExitCode.FAILED,
    ExitCode.NO_CHANGES,
    ExitCode.STALLED,
    ExitCode.KILLED,
    ExitCode.GIT_AUTH_FAILED,
    ExitCode.REPO_NOT_FOUND,
    ExitCode.PUSH_REJECTED,
    ExitCode.CONFLICT,
    ExitCode.OVER_BUDGET,
    ExitCode.SETUP_FAILED,
    ExitCode.UNKNOWN,
    ExitCode.TIMEOUT,
    ExitCode.STILL_RUNNING,
    ExitCode.USAGE,
    ExitCode.NO_KUBECONFIG,
    ExitCode.CLUSTER_UNREACHABLE,
    ExitCode.POD_NOT_FOUND,
    ExitCode.API_REFUSED,
    ExitCode.POD_STUCK,
    ExitCode.INVALID_INPUT,
    ExitCode.MISSING_DEPENDENCY,
    ExitCode.INTERRUPTED,
)
NOTE = (
    "One pod: its result's code (push-rejected also when --verify-remote finds another "
    "commit). Several pods: succeeded only if all did, else the code of the first failing "
    "pod in task order; still-running when one has not ended (--no-follow, --timeout)."
)
DESCRIPTION = paragraph(
    "Follow agent pods: wait while Pending (saying why it is stuck), stream the log "
    "prefixed with the task ID, print one RESULT line per pod, then apply the pod's "
    "cleanup policy. A task whose pod is gone: the log and RESULT its run stored in git "
    "(refs/speckit-pods/session/<feature>/<TID>, read with your git)."
)
STILL_RUNNING = f"exit {ExitCode.STILL_RUNNING:d}"
EXAMPLES = f"""\
# follow the pod spawn-pod.sh just started
%(prog)s "$(spawn-pod.sh T012)"

# wait for a task, verify the push and tick it off in tasks.md
%(prog)s --task T012 --verify-remote --mark-done

# everything running for a feature, at most one hour
%(prog)s --all --feature 001-photo-albums --timeout 1h

# poll from a script: {ExitCode.STILL_RUNNING:d} means still running
%(prog)s --task T012 --no-follow --no-color >/dev/null || rc=$?
"""


def duration(text: str) -> int:
    """``--timeout``'s type: :func:`runtime.cli.pod_options.duration`, imported on use.

    ``pod_options`` imports the pod manifests (PyYAML): only parsing a duration needs it.
    """
    from runtime.cli import pod_options

    return pod_options.duration(text)


def configure(parser: argparse.ArgumentParser) -> None:
    """Make PARSER the ``logs`` sub-command."""
    parser.usage = "%(prog)s POD | --task TID | --all [OPTIONS]"
    parser.description = DESCRIPTION
    parser.epilog = epilog(CODES, examples=EXAMPLES, note=NOTE)
    which = parser.add_argument_group("which pods")
    which.add_argument("pod", nargs="?", metavar="POD", help="a pod name (as spawn prints it)")
    which.add_argument(
        "--task",
        metavar="TID",
        help="the newest pod of task TID; with no pod left, the log its run stored in git",
    )
    which.add_argument("--all", action="store_true", help="every agent pod (of --feature)")
    which.add_argument(
        "--feature", metavar="NAME", help="only pods of this feature, e.g. 001-photo-albums"
    )
    which.add_argument(
        "--repo",
        metavar="URL",
        help="only pods of this repository (as given to spawn); needed when a task ID of "
        "one feature has pods from two repositories",
    )
    which.add_argument(
        "--namespace", "-n", metavar="NS", help="namespace (default $SPECKIT_PODS_NAMESPACE)"
    )
    which.add_argument("--context", metavar="CTX", help="kubeconfig context")
    what = parser.add_argument_group("what to do")
    what.add_argument(
        "--no-follow",
        action="store_true",
        help=f"print the log so far; the result if the pod ended, else {STILL_RUNNING}",
    )
    what.add_argument(
        "--timeout",
        type=duration,
        metavar="DUR",
        help=f"stop waiting after DUR ({EXAMPLES_DURATION}); {STILL_RUNNING}",
    )
    what.add_argument(
        "--verify-remote",
        action="store_true",
        help="check with git ls-remote (your git credentials) that the branch holds the "
        f"reported commit; else push-rejected (exit {ExitCode.PUSH_REJECTED:d})",
    )
    what.add_argument("--mark-done", action="store_true", help="on success mark the task [X]")
    what.add_argument(
        "--tasks",
        metavar="FILE",
        help="tasks.md for --mark-done/--async-state (default: pod annotation)",
    )
    what.add_argument(
        "--async-state",
        action="store_true",
        help="create $FEATURE_DIR/.async_state/ markers even if the dir is missing",
    )
    what.add_argument(
        "--no-color", action="store_true", help="no colours (also NO_COLOR, or not a terminal)"
    )
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    chosen = [bool(args.pod), bool(args.task), bool(args.all)]
    if sum(chosen) != 1:
        raise UsageError("give exactly one of: a pod name, --task ID, --all")
    if args.tasks and not args.mark_done and not args.async_state:
        raise UsageError("--tasks is only used with --mark-done or --async-state")


def _selector(args: argparse.Namespace) -> str:
    from runtime.spawn.names import label_value, repo_id

    parts = [labels.SELECTOR]
    if args.task:
        parts.append(f"{labels.TASK}={label_value(args.task)}")
    if args.feature:
        parts.append(f"{labels.FEATURE}={label_value(args.feature)}")
    if args.repo:
        parts.append(f"{labels.REPO_ID}={repo_id(args.repo)}")
    return ",".join(parts)


def _newest_per_task(found: list[Pod], task: str) -> list[Pod]:
    """The newest pod of each (feature, task); refused when one has several repositories."""
    newest: dict[tuple[str, str], Pod] = {}
    repos: dict[tuple[str, str], set[str]] = {}
    for pod in sorted(found, key=lambda p: PodView(p).created):
        view = PodView(pod)
        key = (view.label(labels.FEATURE), view.label(labels.TASK))
        newest[key] = pod
        repos.setdefault(key, set()).add(view.annotation(labels.REPO) or view.label(labels.REPO_ID))
    for (feature, _task), urls in repos.items():
        if len(urls) > 1:
            listed = ", ".join(sorted(urls))
            raise InvalidInputError(
                f"task {task} of feature {feature} has pods of {len(urls)} repositories: {listed}",
                hint="say which with --repo URL",
            )
    return list(newest.values())


def resolve_targets(pods: ClusterPods, args: argparse.Namespace) -> list[Target]:
    """Turn the pod / ``--task`` / ``--all`` selection into targets, sorted by task."""
    from runtime.follow.follow import Target

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
            found = _newest_per_task(found, args.task)
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
    from runtime.follow.finish import Finisher, Options
    from runtime.follow.follow import Cluster, follow_all, snapshot_all
    from runtime.kube.logs import ClusterLogs, Printer, use_color
    from runtime.kube.podwatch import ClusterPods, Deadline

    if cluster is None:
        from runtime.kube.client import connect

        kube = connect(args.namespace, args.context)
        cluster = Cluster(pods=ClusterPods(kube), logs=ClusterLogs(kube))
    printer = Printer(
        sys.stdout, sys.stderr, color=use_color(args.no_color, sys.stdout, dict(os.environ))
    )
    try:
        targets = resolve_targets(cluster.pods, args)
    except PodNotFoundError:
        if not args.task:
            raise
        from runtime.cli.stored_session import print_log

        return print_log(args, printer)  # the pod is gone: its session kept in git
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
