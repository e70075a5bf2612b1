from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from runtime.cli import dispatch_status
from runtime.cli.dispatch_status import TaskStatus, collect, render, total
from runtime.cli.status_cmd import Row as PodRow
from runtime.contract.outcome import Result, Status
from runtime.spawn.lineage import Lineage
from runtime.tasks.parse import parse_tasks_text
from runtime.tasks.plan import build_plan

TEXT = """\
# Tasks
- [X] T001 [ASYNC] First
- [X] T002 [ASYNC] Second (depends on T001)
- [ ] T003 [ASYNC] Third
"""


def test_rows_show_what_each_task_started_from_stale_and_integrated() -> None:
    lineage = {
        "T001": Lineage("T001", "a" * 40, integrated=False),
        "T002": Lineage("T002", "b" * 40, (("T001", "c" * 40),), ("T001",), True),
        "T003": Lineage("T003", ""),
    }

    rows = {row.id: row for row in collect(build_plan(parse_tasks_text(TEXT)), None, lineage)}

    assert rows["T002"].to_json()["started_from"] == [f"T001@{'c' * 12}"]
    assert rows["T002"].stale == "T001 moved" and rows["T002"].integrated is True
    assert rows["T001"].integrated is False and rows["T003"].integrated is None
    table = render(list(rows.values())).splitlines()
    assert table[0].split() == [
        "ID", "TASKS.MD", "PLAN", "POD", "STATE", "RESULT", "TOKENS", "FROM", "STALE",
        "INTEGRATED", "REASON",
    ]  # fmt: skip
    assert f"T001@{'c' * 12}" in table[2] and "T001 moved" in table[2] and "yes" in table[2]


def test_the_table_strips_escapes_an_agent_put_in_a_reason() -> None:
    row = TaskStatus("T001", "pending", "wave 1", reason="ok\x1b]52;c;cGF5bG9hZA==\x07\x1b[2J")

    assert row.cell("reason") == "ok"


def test_a_task_without_a_pod_shows_the_outcome_its_run_stored() -> None:
    stored = {"T001": Result("T001", Status.NO_CHANGES, branch="b1", reason="nothing \x1b[2J")}

    rows = {row.id: row for row in collect(build_plan(parse_tasks_text(TEXT)), None, None, stored)}

    assert (rows["T001"].state, rows["T001"].result, rows["T001"].branch) == (
        "ended (pod gone)", "no-changes", "b1",
    )  # fmt: skip
    assert rows["T001"].stored is True and rows["T001"].to_json()["stored"] is True
    assert rows["T001"].cell("reason") == "nothing " and rows["T002"].stored is False


def pod_row(task: str, outcome: Result | None, state: str = "terminated") -> PodRow:
    return PodRow(
        task, "001-f", f"p-{task}", "Succeeded", state, 60, 42, f"b-{task}",
        outcome.status.value if outcome else "", "", "", outcome=outcome,
    )  # fmt: skip


def counted(
    task: str, tokens_in: int, tokens_out: int, requests: int, cost: float | None = None
) -> Result:
    return Result(
        task, Status.SUCCEEDED, input_tokens=tokens_in, output_tokens=tokens_out,
        llm_requests=requests, cost_usd=cost,
    )  # fmt: skip


def test_tokens_come_from_the_ended_pod_else_from_the_stored_run_and_a_running_pod_has_none() -> (
    None
):
    plan = build_plan(parse_tasks_text(TEXT))
    pods = {"T001": pod_row("T001", counted("T001", 12_000, 345, 7)), "T003": pod_row("T003", None)}
    stored = {
        "T002": counted("T002", 900, 50, 2),
        "T003": counted("T003", 5, 5, 1),  # an earlier run: its pod runs again now
    }

    rows = {row.id: row for row in collect(plan, pods, None, stored)}

    assert [rows[t].cell("tokens") for t in ("T001", "T002", "T003")] == ["12.3k", "950", "-"]
    assert render(list(rows.values())).splitlines()[1].split()[6] == "12.3k"
    one, three = rows["T001"].to_json(), rows["T003"].to_json()
    assert (one["input_tokens"], one["output_tokens"], one["llm_requests"]) == (12_000, 345, 7)
    assert (three["input_tokens"], three["output_tokens"], three["llm_requests"]) == (None,) * 3
    assert "counted" not in one and "outcome" not in one
    assert total(list(rows.values())) == {
        "tasks_reported": 2, "llm_requests": 9, "input_tokens": 12_900, "output_tokens": 395,
        "cost_usd": 0, "tasks_priced": 0,
    }  # fmt: skip


def test_the_json_passes_through_the_results_counts_and_invents_none() -> None:
    row = TaskStatus("T001", "done", "done", counted=counted("T001", 1, 2, 3)).to_json()
    assert (row["llm_requests"], row["input_tokens"], row["output_tokens"]) == (3, 1, 2)
    assert row["cost_usd"] is None  # no price given: no cost, not $0
    priced = TaskStatus("T002", "done", "done", counted=counted("T002", 1, 2, 3, 0.25)).to_json()
    assert priced["cost_usd"] == 0.25


@pytest.mark.parametrize("as_json", [False, True])
def test_status_prints_the_features_token_total_like_the_dispatcher(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    as_json: bool,
) -> None:
    tasks_file = tmp_path / "specs" / "001-f" / "tasks.md"
    tasks_file.parent.mkdir(parents=True)
    tasks_file.write_text(TEXT, encoding="utf-8")
    plan = build_plan(parse_tasks_text(TEXT))
    pods = {"T001": pod_row("T001", counted("T001", 31_200, 2_100, 7, 0.125))}
    monkeypatch.setattr(dispatch_status, "_pod_rows", lambda *_: pods)
    monkeypatch.setattr(dispatch_status, "_lineage", lambda *_: None)
    monkeypatch.setattr(dispatch_status, "_stored", lambda *_: {"T002": counted("T002", 800, 0, 1)})

    assert dispatch_status.print_status(plan, tasks_file, argparse.Namespace(json=as_json)) == 0

    out, err = capsys.readouterr()
    if as_json:
        data = json.loads(out)
        assert data["total"]["input_tokens"] == 32_000 and data["total"]["tasks_reported"] == 2
        assert (data["total"]["cost_usd"], data["total"]["tasks_priced"]) == (0.125, 1)
        assert [t["output_tokens"] for t in data["tasks"]] == [2_100, 0, None]
        assert "tokens:" not in err
    else:
        assert (
            "INFO: tokens: 32000 in, 2100 out (2 task(s) reported), cost $0.1250 (1 of them priced)"
            in err.splitlines()
        )
        assert out.splitlines()[1].split()[6] == "33.3k"
