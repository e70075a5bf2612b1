"""Errors raised on the developer's side, each with its own exit code.

Every error is reported as one line (``ERROR: <message>``), optionally followed
by one ``Hint:`` line.  ``runtime.cli`` maps them to exit codes; nothing below
the CLI calls ``sys.exit``.
"""

from __future__ import annotations

from runtime.contract.exit_codes import ExitCode


class SpeckitPodsError(Exception):
    """Base class: a failure we can explain in one line."""

    exit_code: int = ExitCode.FAILED

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(SpeckitPodsError):
    """Bad command-line arguments."""

    exit_code = ExitCode.USAGE


class TasksFileNotFoundError(SpeckitPodsError):
    """No tasks.md could be found for the feature."""

    exit_code = ExitCode.TASKS_FILE_NOT_FOUND


class TaskParseError(SpeckitPodsError):
    """The tasks.md is empty, not spec-kit, or malformed."""

    exit_code = ExitCode.TASKS_MALFORMED


class DuplicateTaskError(TaskParseError):
    """Two tasks share an ID."""

    exit_code = ExitCode.DUPLICATE_TASK


class UnknownTaskError(SpeckitPodsError):
    """The task ID is not in tasks.md."""

    exit_code = ExitCode.UNKNOWN_TASK


class ContextTooLargeError(SpeckitPodsError):
    """The feature's context files exceed the ConfigMap size cap."""

    exit_code = ExitCode.CONTEXT_TOO_LARGE


class KubeConfigError(SpeckitPodsError):
    """No usable kubeconfig."""

    exit_code = ExitCode.NO_KUBECONFIG


class ClusterUnreachableError(SpeckitPodsError):
    """The Kubernetes API server cannot be reached."""

    exit_code = ExitCode.CLUSTER_UNREACHABLE


class AlreadyRunningError(SpeckitPodsError):
    """A pod for this task is still running."""

    exit_code = ExitCode.ALREADY_RUNNING


class PodNotFoundError(SpeckitPodsError):
    """No agent pod matches the request."""

    exit_code = ExitCode.POD_NOT_FOUND


class KubeApiError(SpeckitPodsError):
    """The API server rejected a request (RBAC, admission, validation)."""

    exit_code = ExitCode.API_REFUSED

    def __init__(self, message: str, hint: str = "", status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class QuotaExceededError(KubeApiError):
    """The namespace's ResourceQuota refused the pod: it would exceed ``quota``'s ``resources``."""

    exit_code = ExitCode.QUOTA_EXCEEDED

    def __init__(
        self, message: str, hint: str = "", *, quota: str, resources: tuple[str, ...]
    ) -> None:
        super().__init__(message, hint, status=403)
        self.quota, self.resources = quota, resources

    @property
    def reason(self) -> str:
        """``quota speckit-pods full (pods, requests.cpu)``: what a queued task waits for."""
        return f"quota {self.quota} full ({', '.join(self.resources) or 'unknown resource'})"


class PodStuckError(SpeckitPodsError):
    """The pod cannot start (image pull, unschedulable, missing secret)."""

    exit_code = ExitCode.POD_STUCK


class InvalidInputError(SpeckitPodsError):
    """A value given on the command line is invalid (repo URL, branch, name)."""

    exit_code = ExitCode.INVALID_INPUT


class StillRunningError(SpeckitPodsError):
    """The pod has not ended yet (``logs --no-follow``, or ``--timeout`` passed)."""

    exit_code = ExitCode.STILL_RUNNING


class DependencyCycleError(TaskParseError):
    """Pending tasks of tasks.md depend on each other in a cycle (``dispatch``)."""

    exit_code = ExitCode.DEPENDENCY_CYCLE


class ReviewError(SpeckitPodsError):
    """A task's pull request could not be opened or updated (the host's API, the token)."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, hint: str = "", status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status  # the API's HTTP status, when it answered


class GitHostConfigError(ReviewError):
    """The git host's kind or API cannot be told from the remote URL and the environment."""

    exit_code = ExitCode.INVALID_INPUT
