"""``session``: a finished task's stored opencode session, as readable markdown.

Reads the task's session ref (``refs/speckit-pods/session/<feature>/<TID>``) from the
remote with the developer's own git (``runtime.cli.stored_session``) and prints its
``session.json`` as markdown on stdout: each message, its tool calls and their
outputs (capped), every text made terminal-safe (``runtime.common.session_markdown``).
``--json`` prints the export itself as one JSON object (ASCII, escapes quoted);
``--log`` the stored log instead.  stderr says which run it is.
"""

from __future__ import annotations

import argparse
import json
import sys

from runtime.cli.helptext import epilog, paragraph
from runtime.contract.exit_codes import ExitCode
from runtime.contract.redact import printable

CODES = (
    ExitCode.SUCCEEDED,
    ExitCode.USAGE,
    ExitCode.REPO_NOT_FOUND,
    ExitCode.TASKS_FILE_NOT_FOUND,
    ExitCode.POD_NOT_FOUND,
    ExitCode.INVALID_INPUT,
    ExitCode.INTERRUPTED,
)
NOTE = (
    "0 when the session was printed, whatever the run's outcome (tail-logs.sh --task "
    "exits with that); no-such-pod when nothing is stored for the task; repo-not-found "
    "when the remote cannot be read."
)
DESCRIPTION = paragraph(
    "Show a finished task's stored session: its pod pushed it to "
    "refs/speckit-pods/session/<feature>/<TID> when it ended (every outcome), so it "
    "outlives the pod. Read with your own git; nothing is checked out."
)
EXAMPLES = """\
# what the agent of T012 did, as markdown
%(prog)s T012 | less

# the export itself, for a script
%(prog)s T012 --json | jq '.messages | length'

# another feature, another repository
%(prog)s T012 --feature 001-photo-albums --repo https://host/org/repo.git
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Make PARSER the ``session`` sub-command."""
    parser.usage = "%(prog)s TID [--json | --log] [OPTIONS]"
    parser.description = DESCRIPTION
    parser.epilog = epilog(CODES, examples=EXAMPLES, note=NOTE)
    parser.add_argument("task", metavar="TID", help="the task ID, e.g. T012")
    parser.add_argument("--feature", metavar="NAME", help="the feature (default: from tasks.md)")
    parser.add_argument("--repo", metavar="URL", help="the repository (default: origin)")
    parser.add_argument("--tasks", metavar="FILE", help="tasks.md naming the feature")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="the opencode export as JSON")
    shown.add_argument("--log", action="store_true", help="the stored log instead (log.txt)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the stored session; return the exit code."""
    from runtime.cli.stored_session import describe, fetch
    from runtime.common.session_markdown import inert, render
    from runtime.errors import PodNotFoundError

    stored = fetch(args, args.task)
    status = stored.result.status.value if stored.result else "unknown"
    print(f"INFO: [{args.task}] {describe(stored)}; it ended {status}", file=sys.stderr)
    if args.log:
        print(inert(stored.log))
        return ExitCode.SUCCEEDED
    if stored.session is None:
        raise PodNotFoundError(
            f"the stored run of {args.task} kept no opencode session (its log says why)",
            hint=f"read its log with: scripts/tail-logs.sh --task {printable(args.task)}",
        )
    if args.json:
        print(json.dumps(stored.session, ensure_ascii=True))
    else:
        sys.stdout.write(render(stored.session))
    return ExitCode.SUCCEEDED
