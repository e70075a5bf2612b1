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
