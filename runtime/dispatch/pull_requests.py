"""``--pr``: one draft pull request per ended task, opened from the developer's side.

After a task's pod ended and its work is on the remote, the dispatcher opens a draft
pull request of its branch (or updates the open one: a rerun never opens a second) with
the developer's own credentials (``runtime.review``: ``git credential fill``, or
``SPECKIT_PODS_GIT_API_TOKEN``) -- never a token in a pod.  A failed task whose work in
progress was pushed gets one too, its title marked with the outcome.  The host's API
failing (unreachable, 401/403/404/422) is one warning: the task's outcome stays what
its pod said, its work is pushed either way.  An unknown host, or no token, is said
once and no other pull request is tried in this dispatch.

The body ends with the run's last log lines: the tail of the ``log.txt`` the pod's
trusted side stored on the task's session ref before it ended, read with the
developer's git (``runtime.spawn.session``) through an injected :data:`LogTail`.  They
are shown only when the log's last line is this run's result line (an earlier run's
log, when this one kept none, is not this run's); a session that cannot be read leaves
the section out and adds a few words to the report, never more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from runtime.contract.outcome import Result
from runtime.errors import GitHostConfigError, ReviewError, SpeckitPodsError
from runtime.review.body import MAX_LOG_LINES
from runtime.review.hosts import PullRequestHost
from runtime.review.publish import Published, open_or_update, open_or_update_integration
from runtime.tasks.parse import Task

__all__ = ["LogTail", "PullRequests", "Report"]

Connect = Callable[[], PullRequestHost]
# the last lines of a task's newest stored log, its result line last; [] when none is kept
LogTail = Callable[[str], Sequence[str]]
TAIL_LINES = MAX_LOG_LINES + 1  # the lines shown, and the result line that proves the run


@dataclasses.dataclass(frozen=True)
class Report:
    """What to tell the developer about one task's pull request."""

    level: str  # INFO or WARNING
    text: str
    url: str = ""


class PullRequests:
    """Opens or updates the pull request of each ended task (main thread, one at a time)."""

    def __init__(
        self, connect: Connect, tasks: Mapping[str, Task], log_tail: LogTail | None = None
    ) -> None:
        self.connect, self.tasks, self.log_tail = connect, tasks, log_tail
        self.host: PullRequestHost | None = None
        self.disabled = ""  # why no pull request is tried any more

    def _host(self) -> PullRequestHost:
        if self.host is None:
            self.host = self.connect()
        return self.host

    def publish(self, task_id: str, result: Result | None, base_branch: str) -> Report | None:
        """Open or update ``task_id``'s pull request; ``None`` when there is nothing to show."""
        if self.disabled or result is None or not result.branch or not result.commit:
            return None  # nothing pushed (a conflict, a failed clone): no pull request
        task = self.tasks.get(task_id)
        lines, unread = self._log_lines(task_id, result)
        try:
            done = open_or_update(
                self._host(),
                task_id=task_id,
                task_title=task.title if task else task_id,
                task_text=task.description if task else "",
                result=result,
                base_branch=base_branch,
                log_lines=lines,
            )
        except GitHostConfigError as err:  # the same for every task: say it once
            self.disabled = err.message
            return Report("WARNING", _failed(err) + "; no pull request is opened in this run")
        except ReviewError as err:
            if self.host is None:  # no token: the same for every task
                self.disabled = err.message
                return Report("WARNING", _failed(err) + "; no pull request is opened in this run")
            return Report("WARNING", _failed(err))
        return Report("INFO", _done(done) + unread, done.pull.url)

    def _log_lines(self, task_id: str, result: Result) -> tuple[list[str], str]:
        """This run's last log lines, without its result line; a note if they were unread."""
        if self.log_tail is None:
            return [], ""
        try:
            tail = list(self.log_tail(task_id))
        except Exception as err:  # noqa: BLE001 - the lines are a nicety: never the task's fate
            why = err.message if isinstance(err, SpeckitPodsError) else repr(err)
            return [], f" (without its last log lines: {why})"
        if not tail or Result.from_line(tail[-1]) != result:
            return [], ""  # no session kept, or an earlier run's: this run left none
        return tail[-TAIL_LINES:-1], ""

    def publish_integration(
        self, feature: str, result: Result | None, base_branch: str
    ) -> Report | None:
        """Open or update the integration branch's one pull request into the base."""
        if self.disabled or result is None or not result.branch or not result.commit:
            return None
        titles = {tid: task.title for tid, task in self.tasks.items()}
        try:
            done = open_or_update_integration(
                self._host(), feature=feature, result=result, base_branch=base_branch,
                titles=titles,
            )  # fmt: skip
        except ReviewError as err:
            return Report("WARNING", _failed(err))
        return Report("INFO", _done(done), done.pull.url)


def _done(done: Published) -> str:
    verb = "opened draft" if done.created else "updated"
    return f"{verb} pull request #{done.pull.number} ({done.pull.head} -> {done.pull.base}): " + (
        done.pull.url or "-"
    )


def _failed(err: ReviewError) -> str:
    hint = f" (hint: {err.hint})" if err.hint else ""
    return f"no pull request: {err.message}{hint}"


def cluster_pull_requests(
    repo_url: str, feature: str, tasks: Mapping[str, Task], cwd: Path
) -> PullRequests:  # pragma: no cover - wiring
    """:class:`PullRequests` on the repository's real host; logs from the session refs."""
    from runtime.review.connect import connect
    from runtime.spawn.session import read_log

    def log_tail(task_id: str) -> list[str]:
        log = read_log(cwd, repo_url, feature, task_id)
        return (log or "").splitlines()[-TAIL_LINES:]

    return PullRequests(lambda: connect(repo_url, cwd=cwd), tasks, log_tail)
