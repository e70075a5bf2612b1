"""``dispatch``: run the feature's [ASYNC] tasks as pods, in dependency order.

Actions: ``run`` (default), ``plan`` (= ``--dry-run``: print the waves, touch
nothing), ``status`` (each [ASYNC] task: tasks.md, plan and pod state) and
``cancel`` (= ``--cancel``: delete the feature's running pods; they push their
work in progress on SIGTERM).  stdout gets data (prefixed log lines, RESULT
lines, the final table, the plan); stderr gets status lines or the live table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.cli.helptext import epilog, paragraph
from runtime.cli.pod_options import add_pod_options, spawn_options
from runtime.contract.exit_codes import ExitCode
from runtime.errors import AlreadyRunningError, SpeckitPodsError, UsageError
from runtime.tasks.feature import feature_name, find_tasks_file
from runtime.tasks.parse import TaskList, parse_tasks
from runtime.tasks.plan import DispatchPlan, build_plan

if TYPE_CHECKING:  # the cluster side is imported where it is used: plan needs no cluster
    from runtime.dispatch.integration import ClusterIntegrator
    from runtime.dispatch.loop import Integrated, Summary
    from runtime.dispatch.pull_requests import PullRequests
    from runtime.dispatch.view import PlainView
    from runtime.kube.client import Kube
    from runtime.kube.logs import Printer
    from runtime.spawn.create import SpawnOptions

ACTIONS = ("run", "plan", "status", "cancel", "integrate")
INTEGRATE_WHEN = ("wave", "end", "never")  # --integrate: after each wave (and last), last, never
CODES = (
    ExitCode.SUCCEEDED,
    ExitCode.FAILED,
    ExitCode.HELD,
    ExitCode.USAGE,
    ExitCode.TASKS_FILE_NOT_FOUND,
    ExitCode.TASKS_MALFORMED,
    ExitCode.DUPLICATE_TASK,
    ExitCode.UNKNOWN_TASK,
    ExitCode.DEPENDENCY_CYCLE,
    ExitCode.QUOTA_EXCEEDED,
    ExitCode.NO_KUBECONFIG,
    ExitCode.CLUSTER_UNREACHABLE,
    ExitCode.ALREADY_RUNNING,
    ExitCode.POD_NOT_FOUND,
    ExitCode.API_REFUSED,
    ExitCode.POD_STUCK,
    ExitCode.INVALID_INPUT,
    ExitCode.MISSING_DEPENDENCY,
    ExitCode.INTERRUPTED,
)
NOTE = (
    "succeeded: every planned task succeeded, or nothing to do (plan, status, cancel: ok); "
    "failed: a task failed or was blocked by a failed one, or the integration failed "
    "(conflict, tests); held: nothing failed but some "
    "[ASYNC] tasks wait for unfinished tasks ([SYNC], or left out by --only): do them, "
    "push, run again; interrupted: detached by Ctrl-C, the pods keep running: run the "
    "same command again to re-attach."
)
DESCRIPTION = (
    paragraph(
        "Run the pending [ASYNC] tasks of the current feature's tasks.md as agent pods. A "
        'task starts as soon as the tasks it depends on succeeded (written "depends on '
        'T010", earlier phases, non-[P] order), at most --max-parallel at a time. Each '
        "success is marked [X]. A failure blocks only the tasks that depend on it. Tasks "
        "that wait for an unfinished [SYNC] task are held: do that task, push, and run again. "
        "A task that depends on done [ASYNC] tasks starts from their pushed work. After "
        "each wave (while the next run) and at the end, an integration pod merges every "
        "done [ASYNC] task, in dependency order, into one integration branch (one merge "
        "commit per task; a conflict stops it at the last clean merge) and runs "
        "--test-command on it; --integrate=end only at the end, never: not at all."
    )
    + """

actions:
  run       (default) spawn, follow, mark done; re-attaches to running pods (and
            to succeeded ones not reported yet: a detached run)
  plan      print the waves and held tasks; touches nothing (= --dry-run)
  status    every [ASYNC] task: tasks.md state, plan, newest pod, result, tokens
  cancel    delete the feature's running pods (= --cancel); they push WIP
  integrate only merge the done tasks into the integration branch (run does it
            after each wave and last); with --pr, update its pull request"""
)
EXAMPLES = """\
# what would run, in which order
%(prog)s plan

# run everything ready, 2 pods at a time; Ctrl-C detaches, the same command re-attaches
%(prog)s --max-parallel 2 --model anthropic/claude-sonnet-4-5

# just two tasks, from an explicit tasks.md
%(prog)s --only T012,T013 --tasks specs/001-photo-albums/tasks.md

# where is everything; stop everything
%(prog)s status
%(prog)s cancel
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Make PARSER the ``dispatch`` sub-command."""
    parser.usage = "%(prog)s [run|plan|status|cancel|integrate] [OPTIONS]"
    parser.description = DESCRIPTION
    parser.epilog = epilog(CODES, examples=EXAMPLES, note=NOTE)
    parser.add_argument(
        "action",
        nargs="?",
        choices=ACTIONS,
        default="run",
        metavar="ACTION",
        help="run (default), plan, status, cancel or integrate (see actions above)",
    )
    what = parser.add_argument_group("what to run")
    what.add_argument(
        "--tasks",
        type=Path,
        metavar="PATH",
        help="tasks.md or feature dir (default: found like spec-kit does)",
    )
    what.add_argument("--only", metavar="IDS", help="only these tasks, e.g. T012,T013")
    what.add_argument(
        "--max-parallel",
        type=_positive,
        default=None,
        metavar="N",
        help="pods at once (default 3, or what the namespace's quota has room for if less)",
    )
    what.add_argument(
        "--written-deps-only",
        action="store_true",
        help="ignore phase and [P] ordering, keep written dependencies",
    )
    what.add_argument(
        "--restack",
        action="store_true",
        help="rerun the done tasks that are stale (a prerequisite's branch moved since they "
        "started: see the status action) and the done tasks built on them, each from its "
        "prerequisites' new work",
    )
    what.add_argument("--dry-run", action="store_true", help="same as the plan action")
    what.add_argument("--cancel", action="store_true", help="same as the cancel action")
    what.add_argument(
        "--json",
        action="store_true",
        help="plan/status/run: print one JSON object (run: instead of the final table; the "
        "agents' lines go to stderr)",
    )
    what.add_argument(
        "--verify-remote", action="store_true", help="check each pushed branch with git ls-remote"
    )
    what.add_argument(
        "--integration-branch",
        metavar="BRANCH",
        help="where the done tasks are merged (default specs/<feature>/integration; "
        "never the base branch)",
    )
    what.add_argument(
        "--integrate",
        choices=INTEGRATE_WHEN,
        default=os.environ.get("SPECKIT_PODS_INTEGRATE") or "wave",
        help="when run merges the done tasks into the integration branch: after each wave "
        "and at the end (wave), only at the end (end), or never (default: "
        "$SPECKIT_PODS_INTEGRATE, else wave)",
    )
    what.add_argument(
        "--no-integrate",
        dest="integrate",
        action="store_const",
        const="never",
        help="same as --integrate=never",
    )
    what.add_argument(
        "--test-command",
        default=os.environ.get("SPECKIT_PODS_TEST_COMMAND", ""),
        metavar="CMD",
        help="run `sh -c CMD` on the integration branch in the integration pod (default "
        "$SPECKIT_PODS_TEST_COMMAND; none: the merges alone)",
    )
    what.add_argument(
        "--pr",
        action="store_true",
        default=os.environ.get("SPECKIT_PODS_PR", "").lower() in ("1", "true", "yes"),
        help="open (or update) a draft pull request per task that pushed its work, and "
        "one of the integration branch (integrate: that one), with your git credentials "
        "(default: $SPECKIT_PODS_PR=1; host: github, gitlab, or $SPECKIT_PODS_GIT_HOST=gitea)",
    )
    what.add_argument("--no-live", action="store_true", help="plain lines even on a terminal")
    what.add_argument("--no-color", action="store_true", help="no colours (also NO_COLOR)")
    add_pod_options(parser, "each pod")
    parser.set_defaults(func=run)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _action(args: argparse.Namespace) -> str:
    chosen = {args.action} - {"run"}
    chosen |= {"plan"} if args.dry_run else set()
    chosen |= {"cancel"} if args.cancel else set()
    if len(chosen) > 1:
        raise UsageError(f"choose one action, not {' and '.join(sorted(chosen))}")
    action = chosen.pop() if chosen else "run"
    if args.json and action not in ("plan", "status", "run"):
        raise UsageError("--json goes with the run, plan (--dry-run) and status actions")
    if args.integrate not in INTEGRATE_WHEN:  # only the environment's default is unchecked
        raise UsageError(
            f"SPECKIT_PODS_INTEGRATE={args.integrate!r} is not one of {', '.join(INTEGRATE_WHEN)}",
            hint="unset it, or set it to wave (the default), end or never",
        )
    return action


def _only(args: argparse.Namespace) -> list[str] | None:
    if args.only is None:
        return None
    ids = [part.strip() for part in args.only.split(",") if part.strip()]
    if not ids:
        raise UsageError(f"--only needs task IDs, got {args.only!r}")
    return ids


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; return the exit code (see CODES and NOTE)."""
    action = _action(args)
    tasks_file = find_tasks_file(args.tasks).resolve()
    if action == "cancel":
        return _cancel(args, tasks_file)
    template = _spawn_template(args, tasks_file)  # bad pod options fail before anything runs
    task_list = parse_tasks(tasks_file)
    if args.restack and action in ("run", "plan"):
        task_list = _restacked(task_list, tasks_file, args)
    plan = build_plan(task_list, only=_only(args), written_only=args.written_deps_only)
    for warning in plan.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    if action == "plan":
        print_plan(plan, tasks_file, args.json)
        return 0
    if action == "status":
        from runtime.cli.dispatch_status import print_status

        return print_status(plan, tasks_file, args)
    if action == "integrate":
        return _integrate(plan, tasks_file, template, args)
    return _dispatch(plan, tasks_file, template, args)


def _restacked(task_list: TaskList, tasks_file: Path, args: argparse.Namespace) -> TaskList:
    """The task list with the stale done tasks (and what is built on them) pending again."""
    from runtime.spawn.create import default_branch, integration_branch, repo_url_of
    from runtime.spawn.lineage import read_lineage
    from runtime.tasks.plan import reopen

    feature = feature_name(tasks_file)
    repo = repo_url_of(spawn_options(args, tasks_file=tasks_file))
    if repo is None:
        raise UsageError("--restack needs the repository: pass --repo")
    done = [t.id for t in task_list.tasks if t.is_async and t.is_done]
    branches = {tid: default_branch(feature, tid) for tid in done}
    integration = args.integration_branch or integration_branch(feature)
    lineage = read_lineage(tasks_file.parent, repo, feature, branches, integration)
    stale = {tid: known.stale_because for tid, known in lineage.items() if known.stale}
    task_list, again = reopen(task_list, stale, written_only=args.written_deps_only)
    for tid in again:
        moved = ", ".join(f"{p} moved" for p in stale.get(tid, ()))
        why = moved or "built on a restacked task"
        print(
            f"INFO: [{tid}] restacked: rerun from its prerequisites' work ({why})", file=sys.stderr
        )
    if not again:
        print("INFO: --restack: no done task is stale", file=sys.stderr)
    return task_list


def print_plan(plan: DispatchPlan, tasks_file: Path, as_json: bool) -> None:
    """Print the waves (stdout), a header on stderr."""
    if as_json:
        data = {"feature": feature_name(tasks_file), "tasks_file": str(tasks_file)}
        print(json.dumps({**data, **plan.to_json()}, ensure_ascii=False))
        return
    print(
        f"INFO: {feature_name(tasks_file)}: {len(plan.runnable)} [ASYNC] task(s) to run, "
        f"{len(plan.held)} held, {len(plan.done)} done ({tasks_file})",
        file=sys.stderr,
    )
    order = list(plan.runnable)
    for number, wave in enumerate(plan.waves, start=1):
        for tid in wave:
            after = sorted(plan.prereqs[tid], key=order.index)
            suffix = f"  (after {', '.join(after)})" if after else ""
            print(f"wave {number}  {tid}  {plan.tasks[tid].title}{suffix}")
    for held in plan.held:
        print(f"held    {held.task_id}  {held.describe(plan.tasks)}")
    for tid in plan.done:
        print(f"done    {tid}  {plan.tasks[tid].title}")


def _spawn_template(args: argparse.Namespace, tasks_file: Path) -> SpawnOptions:
    return spawn_options(args, tasks_file=tasks_file, written_deps_only=args.written_deps_only)


@contextlib.contextmanager
def _view(args: argparse.Namespace, index: dict[str, int]) -> Iterator[PlainView]:
    from runtime.dispatch.view import PlainView, live_view
    from runtime.kube.logs import Printer, use_color

    color = use_color(args.no_color, sys.stdout, dict(os.environ))
    if args.json:  # stdout holds the one JSON object: every line goes to stderr
        yield PlainView(Printer(sys.stderr, sys.stderr, color=color), index)
    elif not args.no_live and sys.stdout.isatty() and sys.stderr.isatty():
        with live_view(index, color=color) as view:
            yield view
    else:
        yield PlainView(Printer(sys.stdout, sys.stderr, color=color), index)


def _dispatch(
    plan: DispatchPlan, tasks_file: Path, template: SpawnOptions, args: argparse.Namespace
) -> int:
    from runtime.dispatch.backend import ClusterBackend
    from runtime.dispatch.loop import Dispatcher, Row, RunState, Summary
    from runtime.kube.client import connect

    feature = feature_name(tasks_file)
    if not plan.runnable:
        # nothing ran: the branch is as the last run (or `integrate`) left it
        if not args.json:
            print_plan(plan, tasks_file, False)
            return ExitCode.HELD if plan.held else ExitCode.SUCCEEDED
        rows = (Row(h.task_id, RunState.HELD, h.describe(plan.tasks)) for h in plan.held)
        held = Summary(tuple(rows))
        _print_json(held, tasks_file)
        return held.exit_code
    kube = connect(args.namespace, args.kube_context)
    index = {tid: i for i, tid in enumerate(plan.runnable)}
    with _view(args, index) as view:
        backend = ClusterBackend(
            kube, template, feature, view.printer, verify_remote=args.verify_remote,
            pull_requests=_pull_requests(plan, tasks_file, template) if args.pr else None,
        )  # fmt: skip
        integrator = (
            None if args.integrate == "never" else _integrator(kube, template, view.printer, args)
        )
        dispatcher = Dispatcher(
            plan, backend, view, max_parallel=_max_parallel(args, kube, template),
            integrator=integrator, each_wave=args.integrate == "wave",
        )  # fmt: skip
        summary = dispatcher.run()
        url = _integration_pull_request(backend.pull_requests, feature, summary.integration)
    argv = sys.argv[1:]
    links = [f"integration {url}"] if url else []
    again = argv[argv.index("dispatch") + 1 :] if "dispatch" in argv else argv
    _report(summary, again, links, table=not args.json)
    stale = _report_stale(plan, tasks_file, summary, args.written_deps_only)
    if args.json:
        _print_json(summary, tasks_file, stale, url)
    return summary.exit_code


def _print_json(
    summary: Summary, tasks_file: Path, stale: dict[str, list[str]] | None = None, url: str = ""
) -> None:
    """``run --json``: the one object on stdout (``runtime.dispatch.view.summary_json``)."""
    from runtime.dispatch.view import summary_json

    data = {"feature": feature_name(tasks_file), "tasks_file": str(tasks_file)}
    facts = summary_json(summary, time.monotonic(), stale=stale, integration_pull_request=url)
    print(json.dumps({**data, **facts}))


def _max_parallel(args: argparse.Namespace, kube: Kube, template: SpawnOptions) -> int:
    """``--max-parallel``, else the default the namespace's quota allows (said once)."""
    from runtime.dispatch.capacity import default_max_parallel

    if args.max_parallel is not None:
        return int(args.max_parallel)
    chosen, said = default_max_parallel(kube, template)
    if said:
        print(f"INFO: {said}", file=sys.stderr)
    return chosen


def _integration_pull_request(
    pulls: PullRequests | None, feature: str, done: Integrated | None
) -> str:
    """With --pr: the integration branch's pull request; its link, or ``""``."""
    if pulls is None or done is None:
        return ""
    report = pulls.publish_integration(feature, done.result, done.base or "main")
    if report is None:
        return ""
    print(f"{report.level}: [integration] {report.text}", file=sys.stderr)
    return report.url or ""


def _pull_requests(plan: DispatchPlan, tasks_file: Path, template: SpawnOptions) -> PullRequests:
    from runtime.dispatch.pull_requests import cluster_pull_requests
    from runtime.spawn.create import repo_url_of

    repo = repo_url_of(template)
    if repo is None:
        raise UsageError("--pr needs the repository: pass --repo")
    return cluster_pull_requests(repo, feature_name(tasks_file), plan.tasks, tasks_file.parent)


def _integrator(
    kube: Kube, template: SpawnOptions, printer: Printer, args: argparse.Namespace
) -> ClusterIntegrator:
    from runtime.dispatch.integration import ClusterIntegrator

    return ClusterIntegrator(
        kube, template, printer, branch=args.integration_branch, test_command=args.test_command
    )


def _integrate(
    plan: DispatchPlan, tasks_file: Path, template: SpawnOptions, args: argparse.Namespace
) -> int:
    """The ``integrate`` action: merge the done tasks into the integration branch.

    With ``--pr``, then open or update the integration branch's pull request, as ``run
    --pr`` does after its last integration (same lines; the host failing is a warning,
    never the exit code).
    """
    from runtime.dispatch.integration import TASK, integrate
    from runtime.kube.client import connect
    from runtime.kube.logs import Printer, use_color

    pulls = _pull_requests(plan, tasks_file, template) if args.pr else None  # no --repo: now
    color = use_color(args.no_color, sys.stdout, dict(os.environ))
    printer = Printer(sys.stdout, sys.stderr, color=color)

    def emit(kind: str, payload: object) -> None:
        if kind == "line":
            printer.line(TASK, 0, str(payload))
        else:
            printer.note("INFO" if kind == "note" else "WARNING", TASK, 0, str(payload))

    kube = connect(args.namespace, args.kube_context)
    try:
        done = integrate(_integrator(kube, template, printer, args), emit)
    except AlreadyRunningError as err:
        print(f"INFO: integration not started: {err.message}", file=sys.stderr)
        return ExitCode.SUCCEEDED
    except SpeckitPodsError as err:
        print(f"ERROR: integration: {err.message}", file=sys.stderr)
        if err.hint:
            print(f"Hint: {err.hint}", file=sys.stderr)
        return err.exit_code
    if done is None:
        print("INFO: integration: no done [ASYNC] task has a branch yet", file=sys.stderr)
        return ExitCode.SUCCEEDED
    url = _integration_pull_request(pulls, feature_name(tasks_file), done)
    print(f"INFO: {describe_integration(done)}", file=sys.stderr)
    if url:
        print(f"INFO: pull requests: integration {url}", file=sys.stderr)
    return ExitCode.SUCCEEDED if done.status.ok else ExitCode.FAILED


def describe_integration(done: Integrated) -> str:
    """``integration succeeded: specs/x/integration at 1a2b3c4d5e6f holds T002, T003: ...``."""
    held = ", ".join(done.on_branch) or "no task"
    commit = done.commit[:12] or "-"
    return (
        f"integration {done.status.value}: {done.branch or '-'} at {commit} holds {held}: "
        f"{done.reason}"
    )


def _report_stale(
    plan: DispatchPlan, tasks_file: Path, summary: Summary, written: bool
) -> dict[str, list[str]]:
    """Name the done tasks this dispatch made stale (a prerequisite of theirs reran).

    Returns each of them with the reruns it lacks (``run --json``'s ``stale``).
    """
    from runtime.dispatch.loop import RunState
    from runtime.tasks.plan import start_tasks

    rerun = {row.task for row in summary.rows if row.state is RunState.SUCCEEDED}
    stale: dict[str, list[str]] = {}
    if not rerun or not plan.done:
        return stale
    task_list = parse_tasks(tasks_file)
    for tid in plan.done:
        moved = [
            t.id for t in start_tasks(task_list, tid, written_only=written).done if t.id in rerun
        ]
        if moved:
            stale[tid] = moved
            print(
                f"WARNING: [{tid}] stale: {', '.join(moved)} reran after it started; "
                "rerun it on the new work with: scripts/run-async.sh --restack",
                file=sys.stderr,
            )
    return stale


def _report(
    summary: Summary, argv: Sequence[str], links: Sequence[str] = (), *, table: bool = True
) -> None:
    """The final table (stdout, unless ``table`` is false: ``--json``) and the INFO lines."""
    from runtime.dispatch.view import describe_tokens, render_summary

    if table:
        print(render_summary(list(summary.rows), time.monotonic()))
    if summary.tokens[2]:
        print(f"INFO: {describe_tokens(*summary.tokens, summary.cost)}", file=sys.stderr)
    if summary.integration is not None:
        print(f"INFO: {describe_integration(summary.integration)}", file=sys.stderr)
    pulls = [f"{row.task} {row.pull_request}" for row in summary.rows if row.pull_request]
    pulls += links
    if pulls:
        print(f"INFO: pull requests: {'; '.join(pulls)}", file=sys.stderr)
    if summary.interrupted:
        again = "scripts/run-async.sh " + shlex.join(argv)
        print("INFO: detached; the pods keep running.", file=sys.stderr)
        print(f"INFO: re-attach with: {again.rstrip()}", file=sys.stderr)
        print("INFO: or stop them with: scripts/run-async.sh cancel", file=sys.stderr)
    elif summary.exit_code == ExitCode.HELD:
        print(
            "INFO: some [ASYNC] tasks wait for unfinished tasks: do them, push, run again.",
            file=sys.stderr,
        )


def _cancel(args: argparse.Namespace, tasks_file: Path) -> int:
    from runtime.dispatch.backend import ClusterBackend
    from runtime.kube.client import connect
    from runtime.kube.logs import Printer

    feature = feature_name(tasks_file)
    kube = connect(args.namespace, args.kube_context)
    printer = Printer(sys.stdout, sys.stderr, color=False)
    backend = ClusterBackend(kube, _spawn_template(args, tasks_file), feature, printer)
    deleted = backend.cancel()
    for name in deleted:
        print(name)
    grace = "they push work in progress within their grace period"
    what = (
        f"deleted {len(deleted)} running pod(s) of {feature}; {grace}"
        if deleted
        else (f"no running pods of {feature} in namespace {kube.namespace}")
    )
    print(f"INFO: {what}", file=sys.stderr)
    return 0
