"""How a dispatch shows itself: prefixed log lines, notes, and a status table.

* :class:`PlainView` (pipes, CI, ``--no-live``): log lines on stdout as
  ``[T012] text`` (the watching side's :class:`~runtime.kube.logs.Printer`), and one
  ``INFO: [T012] running`` line on stderr each time a task changes state.
* :class:`LiveView` (both stdout and stderr are a terminal): the same lines
  scroll above a table that ``rich.live`` redraws in place: task, state, elapsed,
  tokens (input + output, from the result line), what it started from (``T002+T003``,
  ``base``), whether the integration branch holds it (``yes``, ``no``, ``conflict``: an
  integration stopped at it; ``-`` until an integration after its success), branch,
  last line; the integration pod has the last row.

Both end with :func:`render_summary`, the final table, on stdout; ``run --json``
prints :func:`summary_json` instead (one object, the same facts per task).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from runtime.common.durations import human_duration
from runtime.common.tables import render_table
from runtime.contract.cost import usd
from runtime.contract.redact import printable
from runtime.dispatch.loop import INTEGRATION, Integrated, Row, RunState, Summary
from runtime.kube.logs import Printer

__all__ = [
    "LiveView",
    "PlainView",
    "describe_tokens",
    "human_count",
    "integrated_cell",
    "live_view",
    "render_summary",
    "summary_json",
    "tokens_cell",
]

COLUMNS = ("TASK", "STATE", "ELAPSED", "TOKENS", "FROM", "INTEGRATED", "BRANCH", "DETAIL")
_STYLE = {
    RunState.SUCCEEDED: "green",
    RunState.FAILED: "red",
    RunState.BLOCKED: "red",
    RunState.HELD: "yellow",
    RunState.QUEUED: "yellow",
    RunState.RUNNING: "cyan",
    RunState.DETACHED: "magenta",
}


def seconds(row: Row, now: float) -> float | None:
    """Seconds since the task started (until it ended); ``None`` if it never did."""
    if row.started_at is None:
        return None
    end = row.ended_at if row.ended_at is not None else now
    return max(0.0, end - row.started_at)


def elapsed(row: Row, now: float) -> str:
    """``3m12s`` since the task started (until it ended), ``-`` if it never did."""
    took = seconds(row, now)
    return "-" if took is None else human_duration(int(took))


def _cells(row: Row, now: float, width: int = 60) -> list[str]:
    detail = row.last_line if row.state is RunState.RUNNING and row.last_line else row.detail
    detail = " ".join(printable(detail).split())  # the agent's own text: no escapes
    if row.attempts > 1:
        detail = f"{detail or '-'} ({row.attempts} attempts)"
    if len(detail) > width:
        detail = detail[: width - 1] + "\u2026"
    started = "-" if row.started_from is None else "+".join(row.started_from) or "base"
    integrated = integrated_cell(row)
    return [
        row.task, row.state.value, elapsed(row, now), tokens_cell(row.tokens), started, integrated,
        row.branch or "-", detail or "-",
    ]  # fmt: skip


def integrated_cell(row: Row) -> str:
    """``yes`` (on the integration branch), ``no``, ``conflict`` (stopped there), ``-``."""
    if row.conflict:
        return "conflict"
    return {None: "-", True: "yes", False: "no"}[row.integrated]


def human_count(count: int) -> str:
    """``950``, ``12.3k``, ``4.1M``: a token count at a glance."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"


def tokens_cell(tokens: tuple[int, int] | None) -> str:
    """The TOKENS cell: input + output (``51.3k``), ``-`` without a result line.

    One rendering for the dispatcher's table and ``dispatch status``.
    """
    return "-" if tokens is None else human_count(sum(tokens))


def describe_tokens(
    tokens_in: int, tokens_out: int, counted: int, cost: tuple[float, int] = (0.0, 0)
) -> str:
    """``tokens: 31200 in, 2100 out (2 task(s) reported), cost $0.1234``: a feature's total.

    ``cost`` is the total of the tasks that reported one (the proxy's count at the
    developer's price) and how many did; none: no cost is said.
    """
    text = f"tokens: {tokens_in} in, {tokens_out} out ({counted} task(s) reported)"
    total, priced = cost
    if not priced:
        return text
    some = f" ({priced} of them priced)" if priced < counted else ""
    return f"{text}, cost {usd(total)}{some}"


def render_summary(rows: list[Row], now: float) -> str:
    """Render the rows as aligned plain-text columns with a header."""
    return render_table(COLUMNS, [_cells(row, now, width=200) for row in rows])


def row_json(row: Row, now: float) -> dict[str, object]:
    """One task of :func:`summary_json`, with stable keys (``None``: not known)."""
    tokens, took = row.tokens or (None, None), seconds(row, now)
    return {
        "id": row.task,
        "state": row.state.value,
        "detail": row.detail,
        "pod": row.pod,
        "branch": row.branch,
        "elapsed_s": None if took is None else round(took, 1),
        "started_from": None if row.started_from is None else list(row.started_from),
        "integrated": row.integrated,
        "conflict": row.conflict,
        "input_tokens": tokens[0],
        "output_tokens": tokens[1],
        "cost_usd": row.cost_usd,
        "pull_request": row.pull_request,
        "attempts": row.attempts,
    }


def integration_json(
    done: Integrated | None, pull_request: str = "", attempts: int = 1
) -> dict[str, object] | None:
    """The last integration of :func:`summary_json`; ``None`` when none ended.

    ``attempts``: its pods (2: the first was lost and run again).
    """
    if done is None:
        return None
    return {
        "status": done.status.value,
        "branch": done.branch,
        "commit": done.commit,
        "on_branch": list(done.on_branch),
        "stopped_at": done.stopped_at,
        "reason": done.reason,
        "pull_request": pull_request,
        "attempts": attempts,
    }


def summary_json(
    summary: Summary,
    now: float,
    *,
    stale: dict[str, list[str]] | None = None,
    integration_pull_request: str = "",
) -> dict[str, object]:
    """The dispatch's end as JSON: ``tasks``, ``integration``, ``stale``, ``total``.

    ``stale``: the done tasks this dispatch made stale, each with the reruns it lacks.
    """
    tokens_in, tokens_out, counted = summary.tokens
    cost, priced = summary.cost
    row = next((row for row in summary.rows if row.task == INTEGRATION), None)
    attempts = row.attempts if row is not None else 1
    return {
        "exit_code": summary.exit_code,
        "interrupted": summary.interrupted,
        "tasks": [row_json(row, now) for row in summary.rows if row.task != INTEGRATION],
        "integration": integration_json(summary.integration, integration_pull_request, attempts),
        "stale": stale or {},
        "total": {
            "tasks_reported": counted, "input_tokens": tokens_in, "output_tokens": tokens_out,
            "cost_usd": round(cost, 6) if priced else None, "tasks_priced": priced,
        },
    }  # fmt: skip


class PlainView:
    """Line-oriented output: safe for pipes, files and agents reading it."""

    def __init__(self, printer: Printer, index: dict[str, int]) -> None:
        self.printer, self.index = printer, index
        self.seen: dict[str, tuple[RunState, str]] = {}

    def line(self, task_id: str, text: str) -> None:
        """Print one agent log line on stdout."""
        self.printer.line(task_id, self.index.get(task_id, 0), text)

    def note(self, level: str, task_id: str, text: str) -> None:
        """Print one status line on stderr."""
        self.printer.note(level, task_id, self.index.get(task_id, 0), text)

    def update(self, rows: list[Row], now: float) -> None:
        """Announce each state change once (``INFO: [T012] succeeded: ...``)."""
        for row in rows:
            key = (row.state, row.detail)
            if self.seen.get(row.task) == key or row.state is RunState.STARTING:
                continue
            first = row.task not in self.seen
            self.seen[row.task] = key
            if first and row.state is RunState.WAITING:
                continue
            level = "INFO" if row.state not in (RunState.FAILED, RunState.BLOCKED) else "WARNING"
            text = row.state.value + (f": {row.detail}" if row.detail else "")
            self.note(level, row.task, text)


class LiveView(PlainView):
    """A ``rich.live`` table redrawn in place, with the log scrolling above it."""

    def __init__(self, printer: Printer, index: dict[str, int], live: Any) -> None:
        super().__init__(printer, index)
        self.live = live

    def update(self, rows: list[Row], now: float) -> None:
        """Redraw the table."""
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in COLUMNS:
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        for row in rows:
            # Text, not str: rich would read "[link=...]" in an agent's line as markup
            cells = [Text(cell) for cell in _cells(row, now)]
            table.add_row(*cells, style=_STYLE.get(row.state, ""))
        self.live.update(table, refresh=True)


@contextmanager
def live_view(index: dict[str, int], *, color: bool) -> Iterator[LiveView]:
    """Open a :class:`LiveView` on the terminal; log handlers write above the table."""
    from rich.console import Console
    from rich.live import Live

    console = Console(file=sys.stderr)
    with Live(
        console=console, auto_refresh=False, redirect_stdout=True, redirect_stderr=True
    ) as live:
        # sys.stdout/err are rich's proxies now: print through them, logging too
        printer = Printer(sys.stdout, sys.stderr, color=color)
        with _log_to(sys.stderr):
            yield LiveView(printer, index, live)


@contextmanager
def _log_to(stream: IO[str]) -> Iterator[None]:
    """Point the root logger's stream handlers at ``stream`` for a while."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    old = [h.setStream(stream) for h in handlers]
    try:
        yield
    finally:
        for handler, previous in zip(handlers, old, strict=True):
            if previous is not None:
                handler.setStream(previous)
