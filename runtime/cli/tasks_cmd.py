"""``speckit-pods tasks``: list, show and check off the feature's tasks.

``tasks list [--async] [--pending] [--phase TEXT] [--json]``, ``tasks show ID
[--json]`` and ``tasks done ID [--json]``; each takes ``--tasks PATH`` (a tasks
file or a feature dir; default: found like spec-kit, see ``runtime.tasks.feature``).
stdout gets the data (a table, or one JSON object); messages go to stderr.

A task ID shared by several tasks does not stop the others: every command
prints one ``WARNING:`` line per such ID (stderr), ``list --json`` lists them
under ``duplicates``, and only ``show``/``done`` of that ID fail (exit 12).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from runtime.cli.helptext import HelpFormatter, add_verbose, epilog
from runtime.common.tables import render_table
from runtime.contract.exit_codes import ExitCode
from runtime.tasks.edit import mark_done
from runtime.tasks.feature import feature_name, find_tasks_file
from runtime.tasks.parse import (
    Task,
    TaskList,
    TaskState,
    normalize_task_id,
    parse_tasks,
    print_duplicate_warnings,
)

_STATE_BOX = {TaskState.PENDING: "[ ]", TaskState.DONE: "[X]", TaskState.SKIPPED: "[-]"}


CODES = (
    ExitCode.SUCCEEDED,
    ExitCode.USAGE,
    ExitCode.TASKS_FILE_NOT_FOUND,
    ExitCode.TASKS_MALFORMED,
    ExitCode.DUPLICATE_TASK,
    ExitCode.UNKNOWN_TASK,
    ExitCode.INTERRUPTED,
)
EXAMPLES = """\
# the pending [ASYNC] tasks of the current feature
%(prog)s list --async --pending

# one task in full; tick it off
%(prog)s show T012
%(prog)s done T012 --tasks specs/001-photo-albums
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Make PARSER the ``tasks`` sub-command, with ``list``/``show``/``done`` actions."""
    parser.description = "Read the feature's tasks.md (found like spec-kit does)."
    parser.epilog = epilog(CODES, examples=EXAMPLES)
    actions = parser.add_subparsers(dest="tasks_action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--tasks", type=Path, metavar="PATH", help="tasks.md or feature dir (default: current)"
    )
    common.add_argument("--json", action="store_true", help="print one JSON object")
    add_verbose(common)
    lister = actions.add_parser("list", parents=[common], help="list tasks")
    lister.add_argument("--async", dest="async_only", action="store_true", help="[ASYNC] only")
    lister.add_argument("--pending", action="store_true", help="pending tasks only")
    lister.add_argument("--phase", help='phase heading words, e.g. "Phase 3" or "3"')
    lister.set_defaults(func=run_list)

    show = actions.add_parser("show", parents=[common], help="show one task")
    show.add_argument("task_id", metavar="ID")
    show.set_defaults(func=run_show)

    done = actions.add_parser("done", parents=[common], help="mark a task done in place")
    done.add_argument("task_id", metavar="ID")
    done.set_defaults(func=run_done)
    for action in (lister, show, done):
        action.formatter_class, action.epilog = HelpFormatter, epilog(CODES)


def _load(args: argparse.Namespace) -> TaskList:
    return parse_tasks(find_tasks_file(args.tasks))


def run_list(args: argparse.Namespace) -> int:
    """Print the (filtered) tasks."""
    tasks = _load(args)
    print_duplicate_warnings(tasks)
    chosen = tasks.filter(async_only=args.async_only, pending_only=args.pending, phase=args.phase)
    if args.json:
        _print_json(
            {
                "tasks_file": str(tasks.path),
                "feature": feature_name(tasks.path),
                "count": len(chosen),
                "tasks": [t.to_json() for t in chosen],
                "unidentified": [{"line": n, "text": text} for n, text in tasks.unidentified],
                "duplicates": [
                    {"id": task_id, "lines": list(lines)}
                    for task_id, lines in tasks.duplicates.items()
                ],
            }
        )
    else:
        print(_table(chosen))
        done = sum(t.is_done for t in chosen)
        print(f"{len(chosen)} of {len(tasks.tasks)} tasks shown, {done} done", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print one task in full."""
    tasks = _load(args)
    task = tasks.get(args.task_id)
    print_duplicate_warnings(tasks)
    if args.json:
        _print_json({"tasks_file": str(tasks.path), **task.to_json()})
        return 0
    for label, value in (
        ("id", task.id),
        ("state", task.state.value),
        ("markers", _markers(task) or "-"),
        ("phase", task.phase or "-"),
        ("files", ", ".join(task.files) or "-"),
        ("depends on", ", ".join(task.depends_on) or "-"),
        ("line", f"{tasks.path}:{task.line}"),
    ):
        print(f"{label + ':':12}{value}")
    print()
    print(task.description)
    return 0


def run_done(args: argparse.Namespace) -> int:
    """Mark a task done; succeed quietly if it already was."""
    path = find_tasks_file(args.tasks)
    changed = mark_done(path, args.task_id)
    print_duplicate_warnings(parse_tasks(path))
    task_id = normalize_task_id(args.task_id)
    if args.json:
        _print_json({"tasks_file": str(path), "id": task_id, "changed": changed})
    else:
        what = "marked done" if changed else "was already done"
        print(f"{task_id} {what} in {path}", file=sys.stderr)
    return 0


def _markers(task: Task) -> str:
    order = ["P", "ASYNC", "SYNC"]
    names = sorted(task.markers, key=lambda m: (order.index(m) if m in order else 9, m))
    return ",".join(names + ([task.story] if task.story else []))


def _table(tasks: list[Task]) -> str:
    rows = [(t.id, _STATE_BOX[t.state], _markers(t), t.title) for t in tasks]
    id_w = max([len(r[0]) for r in rows] + [2])
    mark_w = max([len(r[2]) for r in rows] + [7])
    width = shutil.get_terminal_size((120, 24)).columns
    title_w = max(width - id_w - mark_w - 9, 20)
    cells = [
        [task_id, box, marks, title if len(title) <= title_w else title[: title_w - 1] + "…"]
        for task_id, box, marks, title in rows
    ]
    return render_table(["ID", "", "MARKERS", "TITLE"], cells)


def _print_json(data: dict[str, object]) -> None:
    print(json.dumps(data, ensure_ascii=False))
