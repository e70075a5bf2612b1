"""The dispatcher's views: an agent's last line reaches the terminal as plain text."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.text import Text

from runtime.dispatch.loop import Row, RunState
from runtime.dispatch.view import LiveView, render_summary
from runtime.kube.logs import Printer

HOSTILE = "\x1b]0;pwned\x07\x1b[2J[link=https://evil.example]click[/link] \x1b[31mred\u202e"


class _Live:
    def __init__(self) -> None:
        self.shown: Any = None

    def update(self, table: Any, refresh: bool = False) -> None:
        self.shown = table


def _running(line: str) -> Row:
    return Row("T012", RunState.RUNNING, pod="p", branch="b", last_line=line, started_at=0.0)


def test_the_live_table_shows_an_agents_line_without_escapes_or_markup() -> None:
    live = _Live()
    view = LiveView(Printer(io.StringIO(), io.StringIO(), color=False), {"T012": 0}, live)
    view.update([_running(HOSTILE)], now=1.0)

    cells = [cell for column in live.shown.columns for cell in column.cells]
    assert all(isinstance(cell, Text) for cell in cells)
    detail = next(cell.plain for cell in cells if "click" in cell.plain)
    assert detail == "[link=https://evil.example]click[/link] red"  # shown, not obeyed
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=200).print(live.shown)
    rendered = out.getvalue()
    assert "\x1b]" not in rendered and "evil.example" in rendered  # no OSC 8 link, no title
    assert "\u202e" not in rendered


def test_the_summary_is_printable() -> None:
    text = render_summary([_running(HOSTILE)], now=1.0)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text


def test_the_json_summary_carries_from_integrated_and_the_conflict_per_task() -> None:
    import json

    from runtime.contract.outcome import Result, Status
    from runtime.contract.start import StartPoint
    from runtime.dispatch.loop import Integrated, Summary
    from runtime.dispatch.view import summary_json

    branch = "specs/f/integration"
    points = (StartPoint("T002", "specs/f/T002-async", "a" * 40),)
    result = Result("integration", Status.CONFLICT, branch, "c" * 40, started_from=points)
    done = Integrated(Status.CONFLICT, branch, "stopped at T003", result, asked=("T002", "T003"))
    rows = (
        Row("T002", RunState.SUCCEEDED, started_from=(), integrated=True, tokens=(10, 2),
            started_at=1.0, ended_at=4.0),
        Row("T003", RunState.SUCCEEDED, started_from=("T002",), integrated=False, conflict=True),
        Row("T004", RunState.BLOCKED, detail="blocked by T009"),
        Row("integration", RunState.FAILED, detail="stopped at T003"),
    )  # fmt: skip

    data = json.loads(json.dumps(summary_json(Summary(rows, integration=done), 9.0)))

    tasks = {t["id"]: t for t in data["tasks"]}
    assert list(tasks) == ["T002", "T003", "T004"]  # the integration is not a task
    assert tasks["T002"] == {
        "id": "T002", "state": "succeeded", "detail": "", "pod": "", "branch": "",
        "elapsed_s": 3.0, "started_from": [], "integrated": True, "conflict": False,
        "input_tokens": 10, "output_tokens": 2, "cost_usd": None, "pull_request": "",
        "attempts": 1,
    }  # fmt: skip
    assert tasks["T003"]["started_from"] == ["T002"] and tasks["T003"]["conflict"] is True
    assert tasks["T004"]["started_from"] is None and tasks["T004"]["integrated"] is None
    assert data["integration"] == {
        "status": "conflict", "branch": branch, "commit": "c" * 40, "on_branch": ["T002"],
        "stopped_at": "T003", "reason": "stopped at T003", "pull_request": "", "attempts": 1,
    }  # fmt: skip
    assert data["exit_code"] == 1 and data["total"]["input_tokens"] == 10
    table = {ln.split()[0]: ln.split() for ln in render_summary(list(rows), 9.0).splitlines()}
    assert table["T003"][5] == "conflict" and table["T002"][5] == "yes"
