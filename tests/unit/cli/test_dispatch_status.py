from __future__ import annotations

from runtime.cli.dispatch_status import TaskStatus, collect, render
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
        "ID", "TASKS.MD", "PLAN", "POD", "STATE", "RESULT", "FROM", "STALE", "INTEGRATED",
        "REASON",
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
