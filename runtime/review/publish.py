"""A task's result to its pull request: update the open one of its branch, else open a draft.

The base is where the task's own work starts: the one prerequisite's task branch when
the run started from exactly one prerequisite (a stacked pull request: its diff is this
task's work only), else the base branch (from several prerequisites, their work shows
in the diff until they are merged; the body says so).  An existing pull request keeps
its draft state: a human who marked it ready is not overruled by a rerun.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from runtime.contract.outcome import Result
from runtime.contract.start import describe
from runtime.errors import ReviewError
from runtime.review import body as render
from runtime.review.hosts import PullRequest, PullRequestHost


@dataclasses.dataclass(frozen=True)
class Published:
    """What :func:`open_or_update` did."""

    pull: PullRequest
    created: bool  # False: an open pull request of the branch was updated


def base_of(result: Result, base_branch: str) -> tuple[str, str]:
    """The pull request's base branch, and the body's note on why."""
    points = result.started_from
    if len(points) == 1:
        point = points[0]
        return point.branch, (
            f"{render.code(point.branch)}, the branch of {point.task}, the one prerequisite "
            "this run started from: the diff is this task's work only"
        )
    if points:
        return base_branch, (
            f"{render.code(base_branch)}; the run started from {len(points)} prerequisites' "
            f"work ({render.code(describe(points))}), which shows in the diff until it is "
            "merged"
        )
    return base_branch, f"{render.code(base_branch)}, which the run started from"


def open_or_update(
    host: PullRequestHost,
    *,
    task_id: str,
    task_title: str,
    task_text: str,
    result: Result,
    base_branch: str,
    log_lines: Iterable[str] = (),
) -> Published:
    """Open a draft pull request of ``result.branch``, or update the open one.

    Args:
        host: the repository's client (:func:`runtime.review.connect.connect`).
        task_id: ``T012``.
        task_title: the task's one-line title (untrusted: neutralised here).
        task_text: the task's full text (untrusted).
        result: the run's result line.
        base_branch: the feature's base branch (the pods' ``BASE_BRANCH``).
        log_lines: the run's last lines (untrusted; the last 30 are shown).

    Raises:
        ReviewError: the run pushed no branch, or the host's API failed.
    """
    if not result.branch:
        raise ReviewError(
            f"{task_id} pushed no branch: no pull request to open",
            hint="a pull request needs the task branch on the remote",
        )
    base, note = base_of(result, base_branch)
    title = render.title(task_id, task_title, result.status)
    text = render.body(task_id, task_text, result, note, log_lines)
    found = host.find_open(result.branch)
    if found is not None:
        pull = host.update(found.number, title, text, base, draft=found.draft)
        return Published(pull, created=False)
    return Published(host.create(title, text, result.branch, base, draft=True), created=True)


def integration_body(feature: str, result: Result, titles: Mapping[str, str]) -> str:
    """The integration pull request's markdown: the branch, then every task it holds."""
    tasks = [
        f"- {render.code(point.task, 20)} at {render.code(point.commit[:12])}: "
        f"{render.one_line(titles.get(point.task, ''), render.MAX_LINE) or '-'}"
        for point in result.started_from
    ]
    parts = [
        f"The integration branch of feature {render.code(feature)}: every done task merged "
        "in dependency order, one merge commit per task, by speckit-pods. Task titles and "
        "the reason are the repository's and the pod's text, shown as text.",
        "",
        f"- **Status:** {render.code(result.status.value)}",
        f"- **Branch:** {render.code(result.branch)} at {render.code(result.commit[:12])}",
        f"- **Files changed since the last integration:** {len(result.files_changed)}",
        "",
        f"### Tasks on the branch ({len(tasks)})",
        "",
        *(tasks or ["(none)"]),
        "",
        *render.section("Reason", render.block(result.reason, render.MAX_REASON)),
        "<sub>Opened as a draft from the developer's side by speckit-pods; each integration "
        "updates it.</sub>",
    ]
    text = "\n".join(parts)
    return text if len(text) <= render.MAX_BODY else text[: render.MAX_BODY]


def open_or_update_integration(
    host: PullRequestHost,
    *,
    feature: str,
    result: Result,
    base_branch: str,
    titles: Mapping[str, str],
) -> Published:
    """The one pull request of the integration branch into the base: update, else draft.

    Raises:
        ReviewError: the integration pushed no branch, or the host's API failed.
    """
    if not result.branch or not result.commit:
        raise ReviewError(
            "the integration pushed no branch: no pull request to open",
            hint="a pull request needs the integration branch on the remote",
        )
    mark = "" if result.status.ok else f"[{result.status.value}] "
    count = len(result.started_from)
    title = f"{mark}{render.one_line(feature, 100)}: integration of {count} task(s)"
    text = integration_body(feature, result, titles)
    found = host.find_open(result.branch)
    if found is not None:
        pull = host.update(found.number, title, text, base_branch, draft=found.draft)
        return Published(pull, created=False)
    return Published(host.create(title, text, result.branch, base_branch, draft=True), True)
