"""Errors raised on the developer's side, each with its own exit code.

Every error is reported as one line (``ERROR: <message>``), optionally followed
by one ``Hint:`` line.  ``runtime.cli`` maps them to exit codes; nothing below
the CLI calls ``sys.exit``.
"""

from __future__ import annotations


class SpeckitPodsError(Exception):
    """Base class: a failure we can explain in one line."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(SpeckitPodsError):
    """Bad command-line arguments."""

    exit_code = 2


class TasksFileNotFoundError(SpeckitPodsError):
    """No tasks.md could be found for the feature."""

    exit_code = 10


class TaskParseError(SpeckitPodsError):
    """The tasks.md is empty, not spec-kit, or malformed."""

    exit_code = 11


class DuplicateTaskError(TaskParseError):
    """Two tasks share an ID."""

    exit_code = 12


class UnknownTaskError(SpeckitPodsError):
    """The task ID is not in tasks.md."""

    exit_code = 13


class ContextTooLargeError(SpeckitPodsError):
    """The feature's context files exceed the ConfigMap size cap."""

    exit_code = 14


class KubeConfigError(SpeckitPodsError):
    """No usable kubeconfig."""

    exit_code = 20


class ClusterUnreachableError(SpeckitPodsError):
    """The Kubernetes API server cannot be reached."""

    exit_code = 21


class AlreadyRunningError(SpeckitPodsError):
    """A pod for this task is still running."""

    exit_code = 22


class PodNotFoundError(SpeckitPodsError):
    """No agent pod matches the request."""

    exit_code = 23


class KubeApiError(SpeckitPodsError):
    """The API server rejected a request (RBAC, admission, validation)."""

    exit_code = 24

    def __init__(self, message: str, hint: str = "", status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class PodStuckError(SpeckitPodsError):
    """The pod cannot start (image pull, unschedulable, missing secret)."""

    exit_code = 25


class InvalidInputError(SpeckitPodsError):
    """A value given on the command line is invalid (repo URL, branch, name)."""

    exit_code = 26


class StillRunningError(SpeckitPodsError):
    """The pod has not ended yet (``logs --no-follow``, or ``--timeout`` passed)."""

    exit_code = 27


class DependencyCycleError(TaskParseError):
    """Pending tasks of tasks.md depend on each other in a cycle (``dispatch``)."""

    exit_code = 15
