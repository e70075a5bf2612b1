"""The dispatcher's closing lines: the feature's tokens, and their cost at your price."""

from __future__ import annotations

import pytest

from runtime.cli.dispatch_cmd import _report
from runtime.dispatch.loop import Row, RunState, Summary


def tokens_line(rows: list[Row], capsys: pytest.CaptureFixture[str]) -> list[str]:
    _report(Summary(tuple(rows)), [])
    return [line for line in capsys.readouterr().err.splitlines() if "tokens:" in line]


def test_the_tokens_line_adds_the_cost_when_a_task_reported_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [
        Row("T001", RunState.SUCCEEDED, tokens=(1000, 200), cost_usd=0.0060),
        Row("T002", RunState.FAILED, tokens=(500, 100), cost_usd=0.0615),
        Row("T003", RunState.BLOCKED),
    ]
    assert tokens_line(rows, capsys) == [
        "INFO: tokens: 1500 in, 300 out (2 task(s) reported), cost $0.0675"
    ]


def test_without_a_price_the_tokens_line_is_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [Row("T001", RunState.SUCCEEDED, tokens=(1000, 200))]
    assert tokens_line(rows, capsys) == ["INFO: tokens: 1000 in, 200 out (1 task(s) reported)"]


def test_a_cost_from_some_of_the_tasks_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [  # one pod before --llm-price was given (a rerun, a re-attach)
        Row("T001", RunState.SUCCEEDED, tokens=(1000, 200), cost_usd=0.5),
        Row("T002", RunState.SUCCEEDED, tokens=(10, 2)),
    ]
    assert tokens_line(rows, capsys) == [
        "INFO: tokens: 1010 in, 202 out (2 task(s) reported), cost $0.5000 (1 of them priced)"
    ]
