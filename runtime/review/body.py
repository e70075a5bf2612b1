"""A task's pull-request title and body, from its text and its result.

Everything but our own words is untrusted: the task's text (from the repository), the
agent's reason, its file names and log lines.  So it is

* stripped of terminal escapes and control characters (:func:`printable`);
* shown inside fenced code blocks or code spans whose fence is longer than any run of
  backticks in it, so it cannot close them: no HTML (``<!--`` comments, ``<details>``),
  no images, links or link definitions are rendered from it;
* kept from pinging people or cross-linking issues: ``@name`` and ``#123`` get a
  zero-width space after their sign (``@\u200bname``), which the hosts do not link;
* cut to a size: each part has a cap, and so has the whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from runtime.common.durations import human_duration
from runtime.contract.cost import usd
from runtime.contract.outcome import Result, Status
from runtime.contract.redact import printable
from runtime.contract.start import describe

MAX_TITLE = 200  # GitHub allows 256, GitLab 255: room for a draft marker and status
MAX_TASK = 4_000
MAX_REASON = 2_000
MAX_FILES = 100
MAX_LOG_LINES = 30
MAX_LINE = 300
MAX_BODY = 60_000  # GitHub's body limit is 65536 characters
_PINGS = re.compile(r"((?<!\w)[@!]|#)(?=\w)")  # a mention, an issue, GitLab's !12
_TICKS = re.compile(r"`+")


def quiet(text: str) -> str:
    """Mentions and references with a zero-width space after their sign.

    ``@name``, ``#12``, ``repo#12`` and GitLab's ``!12`` are changed; ``T002@1a2b`` and
    ``a@b.example`` are no mention and stay as they are.
    """
    return _PINGS.sub("\\1\u200b", text)


def one_line(text: str, limit: int) -> str:
    """``text`` printable, quiet, on one line with single spaces, at most ``limit`` long."""
    line = " ".join(printable(" ".join(text[: limit * 4].splitlines())).split())
    line = quiet(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def block(text: str, limit: int) -> str:
    """``text`` printable and quiet, line by line, at most ``limit`` characters."""
    raw = text[: limit * 2].split("\n")
    lines = [quiet(printable(line.expandtabs(4))).rstrip() for line in raw]
    shown = "\n".join(lines).strip("\n")
    if len(shown) > limit:
        cut = len(shown) - limit
        shown = shown[:limit].rstrip() + f"\n… ({cut} more characters not shown)"
    return shown


def fenced(text: str) -> str:
    """``text`` in a fenced code block it cannot close (the fence outruns its backticks)."""
    longest = max((len(run) for run in _TICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def code(text: str, limit: int = MAX_LINE) -> str:
    """``text`` as an inline code span it cannot close."""
    shown = one_line(text, limit) or "(none)"
    longest = max((len(run) for run in _TICKS.findall(shown)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""
    return f"{ticks}{pad}{shown}{pad}{ticks}"


def title(task_id: str, task_title: str, status: Status) -> str:
    """``T012: <task title>``; ``[failed] T012: ...`` (any status but succeeded)."""
    mark = "" if status.ok else f"[{status.value}] "
    return f"{mark}{task_id}: {one_line(task_title, MAX_TITLE) or 'task'}"


def section(heading: str, text: str) -> list[str]:
    """A markdown section holding ``text`` fenced; nothing when it is blank."""
    return [f"### {heading}", "", fenced(text), ""] if text.strip() else []


def _files(files: Sequence[str]) -> str:
    shown = [one_line(name, MAX_LINE) for name in files[:MAX_FILES]]
    if len(files) > MAX_FILES:
        shown.append(f"… and {len(files) - MAX_FILES} more")
    return "\n".join(shown)


def _logs(lines: Iterable[str]) -> str:
    tail = list(lines)[-MAX_LOG_LINES:]
    return "\n".join(block(line, MAX_LINE).replace("\n", " ") for line in tail)


def _facts(result: Result, base_note: str) -> list[str]:
    commit = f" at {code(result.commit[:12])}" if result.commit else ""
    tokens = f"{result.input_tokens} in, {result.output_tokens} out"
    if result.cost_usd is not None:  # the proxy's tokens at the developer's price
        tokens += f" tokens, cost {usd(result.cost_usd)} at your price"
    else:
        tokens += " tokens"
    return [
        f"- **Status:** {code(result.status.value)}",
        f"- **Branch:** {code(result.branch)}{commit}",
        f"- **Files changed:** {len(result.files_changed)}",
        f"- **Duration:** {human_duration(result.duration_s)}",
        f"- **LLM:** {result.llm_requests} requests, {tokens} (counted by the pod's proxy)",
        f"- **Started from:** {code(describe(result.started_from))}",
        f"- **Base:** {base_note}",
    ]


def body(
    task_id: str,
    task_text: str,
    result: Result,
    base_note: str,
    log_lines: Iterable[str] = (),
) -> str:
    """The pull request's markdown: the facts, then the task, reason, files, last lines.

    ``base_note`` is ours (trusted): why the pull request has the base it has.
    """
    parts = [
        f"Task **{code(task_id, 20)}**, run in a pod by speckit-pods. What follows the "
        "facts is the task's and the agent's text, shown as text.",
        "",
        *_facts(result, base_note),
        "",
        *section("Task", block(task_text, MAX_TASK)),
        *section("Reason", block(result.reason, MAX_REASON)),
        *section("Files changed", _files(result.files_changed)),
        *section("Last log lines", _logs(log_lines)),
        "<sub>Opened as a draft from the developer's side by speckit-pods; a rerun of "
        "the task updates it.</sub>",
    ]
    text = "\n".join(parts)
    return text if len(text) <= MAX_BODY else text[:MAX_BODY]
