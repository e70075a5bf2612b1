"""Every exit code of every command and of the agent pod, in one enum.

The table in docs/architecture.md ("Exit codes") is this module's :func:`markdown`
output (a unit test holds them equal); the scripts' and commands' help texts quote
:func:`summary`.  Run ``python -m runtime.contract.exit_codes`` to print the table.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class ExitCode(enum.IntEnum):
    """One code per outcome, so a script can tell outcomes apart."""

    SUCCEEDED = 0
    FAILED = 1
    USAGE = 2
    NO_CHANGES = 3
    STALLED = 4
    KILLED = 5
    GIT_AUTH_FAILED = 6
    REPO_NOT_FOUND = 7
    PUSH_REJECTED = 8
    UNKNOWN = 9
    TASKS_FILE_NOT_FOUND = 10
    TASKS_MALFORMED = 11
    DUPLICATE_TASK = 12
    UNKNOWN_TASK = 13
    CONTEXT_TOO_LARGE = 14
    DEPENDENCY_CYCLE = 15
    QUOTA_EXCEEDED = 19
    NO_KUBECONFIG = 20
    CLUSTER_UNREACHABLE = 21
    ALREADY_RUNNING = 22
    POD_NOT_FOUND = 23
    API_REFUSED = 24
    POD_STUCK = 25
    INVALID_INPUT = 26
    STILL_RUNNING = 27
    HELD = 28
    MISSING_DEPENDENCY = 29
    CONFLICT = 30
    OVER_BUDGET = 31
    SETUP_FAILED = 32
    TIMEOUT = 124
    INTERRUPTED = 130

    @property
    def slug(self) -> str:
        """The short name used in help texts, e.g. ``git-auth-failed``."""
        return self.name.lower().replace("_", "-")


_POD = "pod, tail-logs"
MEANINGS: dict[ExitCode, tuple[str, str]] = {
    ExitCode.SUCCEEDED: ("succeeded", "pod, `tail-logs.sh`, `run-async.sh`"),
    ExitCode.FAILED: (
        "failed (LLM/agent error; for `run-async.sh`: some task failed or was blocked)",
        "pod, tail-logs, dispatcher",
    ),
    ExitCode.USAGE: ("usage error", "every command"),
    ExitCode.NO_CHANGES: ("no-changes: the agent finished but changed nothing", _POD),
    ExitCode.STALLED: ("stalled: no output for `--stall-timeout`", _POD),
    ExitCode.KILLED: (
        "killed: SIGTERM from outside (pod deleted, node drained, evicted); WIP pushed; "
        "or its node was lost (the last checkpoint kept)",
        _POD,
    ),
    ExitCode.GIT_AUTH_FAILED: (
        "git-auth-failed (spawn: your git could not read the prerequisites' branches)",
        "pod, tail-logs, spawn",
    ),
    ExitCode.REPO_NOT_FOUND: (
        "repo-not-found (repository, base branch, a prerequisite's branch or commit)",
        "pod, tail-logs, spawn",
    ),
    ExitCode.PUSH_REJECTED: (
        "push-rejected after retries, or `--verify-remote` found another commit",
        _POD,
    ),
    ExitCode.UNKNOWN: ("unknown: the pod ended without a result line", "tail-logs"),
    ExitCode.TASKS_FILE_NOT_FOUND: ("tasks.md not found", "every command reading tasks.md"),
    ExitCode.TASKS_MALFORMED: ("tasks.md malformed", "every command reading tasks.md"),
    ExitCode.DUPLICATE_TASK: (
        "the task addressed has a duplicated ID in tasks.md",
        "spawn, `tasks done`",
    ),
    ExitCode.UNKNOWN_TASK: ("unknown task ID", "spawn, `tasks`, dispatcher"),
    ExitCode.CONTEXT_TOO_LARGE: ("the feature's context is too large for a ConfigMap", "spawn"),
    ExitCode.DEPENDENCY_CYCLE: ("the tasks' dependencies form a cycle", "`tasks plan`, dispatcher"),
    ExitCode.QUOTA_EXCEEDED: (
        "the namespace's ResourceQuota has no room for the pod (the dispatcher queues the task; "
        "it gives up after 30 min with none of its pods running)",
        "spawn, dispatcher",
    ),
    ExitCode.NO_KUBECONFIG: ("no kubeconfig", "every cluster command"),
    ExitCode.CLUSTER_UNREACHABLE: ("cluster unreachable", "every cluster command"),
    ExitCode.ALREADY_RUNNING: ("the task is already running", "spawn, dispatcher"),
    ExitCode.POD_NOT_FOUND: ("no such agent pod", "tail-logs, status"),
    ExitCode.API_REFUSED: ("the API server refused a request", "every cluster command"),
    ExitCode.POD_STUCK: ("pod stuck (image, secret, scheduling)", "spawn, tail-logs"),
    ExitCode.INVALID_INPUT: (
        "invalid input (repository URL, branch, model, quantity; a task ID of two repositories)",
        "spawn, dispatcher, tail-logs",
    ),
    ExitCode.STILL_RUNNING: ("still running (`--no-follow`, `--timeout`)", "tail-logs"),
    ExitCode.HELD: (
        "some [ASYNC] tasks are held: they wait for an unfinished [SYNC] task",
        "dispatcher",
    ),
    ExitCode.MISSING_DEPENDENCY: (
        "a Python package speckit-pods needs is not installed (`pip install speckit-pods`)",
        "every command but `tasks`",
    ),
    ExitCode.CONFLICT: (
        "conflict: the prerequisites' work does not merge (files named); the agent never ran",
        _POD,
    ),
    ExitCode.OVER_BUDGET: (
        "over-budget: the LLM use counted reached `--max-tokens` or `--max-cost`; WIP pushed",
        _POD,
    ),
    ExitCode.SETUP_FAILED: (
        "setup-failed: the repository's `.speckit-pods/setup.sh` failed or ran out of "
        "`--setup-timeout` (its last lines in the reason); the agent never ran",
        _POD,
    ),
    ExitCode.TIMEOUT: ("timeout: the run's deadline passed; WIP pushed", _POD),
    ExitCode.INTERRUPTED: (
        "interrupted (Ctrl-C); the dispatcher detaches and the pods keep running",
        "every command",
    ),
}


def markdown() -> str:
    """The exit-code table of docs/architecture.md."""
    rows = ["| code | meaning | from |", "|---|---|---|"]
    rows += [f"| {code.value} | {text} | {where} |" for code, (text, where) in MEANINGS.items()]
    return "\n".join(rows)


def summary(codes: Iterable[ExitCode]) -> str:
    """``0 succeeded, 1 failed, ...``: a one-paragraph list for a help text."""
    return ", ".join(f"{code.value} {code.slug}" for code in codes)


if __name__ == "__main__":
    print(markdown())
