from __future__ import annotations

from pathlib import Path

import pytest

from runtime.errors import DependencyCycleError, DuplicateTaskError, UnknownTaskError
from runtime.tasks.parse import Task, parse_tasks_text
from runtime.tasks.plan import build_plan, done_async_tasks, start_tasks

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "001-greeting-service" / "tasks.md"

FEATURE = """\
# Tasks
## Phase 1: Setup
- [X] T001 [SYNC] Create project structure
- [ ] T002 [P] [ASYNC] Add `src/a.py`
- [ ] T003 [P] [ASYNC] Add `src/b.py`
## Phase 2: Core
- [ ] T004 [ASYNC] Add `src/c.py`
- [ ] T005 [P] [ASYNC] Add `src/d.py`
- [ ] T006 [P] [ASYNC] Add `src/e.py`
- [ ] T007 [ASYNC] Add `src/f.py`
## Phase 3: Polish
- [ ] T008 [P] [ASYNC] Docs in `docs/a.md`
- [ ] T009 [P] [ASYNC] Docs in `docs/b.md` (depends on T004)
"""
# T006 renamed by mistake: T005 is on lines 8 and 9
DUPLICATED = FEATURE.replace("T006 [P]", "T005 [P]")


def test_phases_and_parallel_markers_make_waves() -> None:
    plan = build_plan(parse_tasks_text(FEATURE))
    assert plan.waves == [["T002", "T003"], ["T004"], ["T005", "T006"], ["T007"], ["T008", "T009"]]
    assert plan.prereqs["T004"] == {"T002", "T003"}
    assert plan.prereqs["T007"] == {"T005", "T006"}  # reduced: T004 is implied
    assert plan.held == ()


def test_written_deps_only_keeps_only_written_edges() -> None:
    plan = build_plan(parse_tasks_text(FEATURE), written_only=True)
    assert plan.waves == [["T002", "T003", "T004", "T005", "T006", "T007", "T008"], ["T009"]]
    assert plan.prereqs["T009"] == {"T004"}


def test_written_dependency_on_a_later_task_reorders() -> None:
    text = FEATURE.replace(
        "- [ ] T005 [P] [ASYNC] Add `src/d.py`", "- [ ] T005 [P] [ASYNC] d after T006"
    )
    plan = build_plan(parse_tasks_text(text))
    assert plan.waves[2:4] == [["T006"], ["T005"]]
    assert plan.runnable.index("T006") < plan.runnable.index("T005")


def test_pending_sync_task_holds_its_dependents_with_the_root_cause() -> None:
    plan = build_plan(parse_tasks_text(FEATURE.replace("[X] T001", "[ ] T001")))
    assert plan.runnable == ()
    assert {h.task_id: h.waits_for for h in plan.held}["T009"] == ("T001",)
    assert plan.held[0].describe(plan.tasks) == "waits for T001 [SYNC]"


def test_sync_task_in_the_middle_holds_only_what_follows_it() -> None:
    text = FEATURE.replace("- [ ] T007 [ASYNC]", "- [ ] T007 [SYNC]")
    plan = build_plan(parse_tasks_text(text))
    assert plan.waves == [["T002", "T003"], ["T004"], ["T005", "T006"]]
    assert [(h.task_id, h.waits_for) for h in plan.held] == [
        ("T008", ("T007",)),
        ("T009", ("T007",)),
    ]


def test_done_and_skipped_tasks_satisfy_dependencies() -> None:
    text = FEATURE.replace("[ ] T004", "[X] T004").replace("[ ] T002", "[-] T002")
    plan = build_plan(parse_tasks_text(text))
    assert "T004" not in plan.runnable and "T002" not in plan.runnable
    assert plan.done == ("T004",)  # [ASYNC] ones only
    assert plan.waves[0] == ["T003"]


def test_only_selects_and_holds_on_unselected_pending_tasks() -> None:
    plan = build_plan(parse_tasks_text(FEATURE), only=["t002", "T003", "T009"], written_only=True)
    assert plan.runnable == ("T002", "T003")
    assert [(h.task_id, h.waits_for) for h in plan.held] == [("T009", ("T004",))]


def test_only_rejects_unknown_and_sync_ids() -> None:
    with pytest.raises(UnknownTaskError, match="T099"):
        build_plan(parse_tasks_text(FEATURE), only=["T099"])
    with pytest.raises(UnknownTaskError, match="not an \\[ASYNC\\] task"):
        build_plan(parse_tasks_text(FEATURE), only=["T001"])


def test_written_cycle_is_one_line_error() -> None:
    text = FEATURE.replace("Add `src/a.py`", "a after T003").replace(
        "Add `src/b.py`", "b after T002"
    )
    with pytest.raises(DependencyCycleError) as err:
        build_plan(parse_tasks_text(text), written_only=True)
    assert "T002 -> T003 -> T002" in err.value.message
    assert "\n" not in err.value.message
    assert err.value.exit_code == 15


def test_dependency_against_phase_order_is_a_cycle_unless_written_only() -> None:
    text = FEATURE.replace("Add `src/a.py`", "a (depends on T008)")
    with pytest.raises(DependencyCycleError):
        build_plan(parse_tasks_text(text))
    plan = build_plan(parse_tasks_text(text), written_only=True)
    assert plan.runnable.index("T008") < plan.runnable.index("T002")


def test_cycle_through_done_tasks_is_not_a_cycle() -> None:
    text = FEATURE.replace(
        "[X] T001 [SYNC] Create project structure", "[X] T001 [SYNC] x after T002"
    )
    text = text.replace("Add `src/a.py`", "a after T001")
    assert build_plan(parse_tasks_text(text), written_only=True).runnable[0] == "T002"


def test_dependents_and_ready_follow_the_graph() -> None:
    plan = build_plan(parse_tasks_text(FEATURE))
    assert plan.dependents("T005") == ["T007", "T008", "T009"]
    assert plan.dependents("T009") == []
    assert plan.ready(succeeded=[], started=[]) == ["T002", "T003"]
    assert plan.ready(succeeded=["T002"], started=["T002", "T003"]) == []
    assert plan.ready(succeeded=["T002", "T003"], started=["T002", "T003"]) == ["T004"]


def test_unknown_written_dependency_is_a_warning() -> None:
    plan = build_plan(parse_tasks_text(FEATURE.replace("(depends on T004)", "(depends on T404)")))
    assert plan.warnings == ("T009 depends on T404, which is not in tasks.md; ignored",)


def test_example_feature_plans_after_its_setup_task() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    held = build_plan(parse_tasks_text(text))
    assert held.runnable == () and all(h.waits_for == ("T001",) for h in held.held)
    plan = build_plan(parse_tasks_text(text.replace("[ ] T001", "[X] T001")))
    assert plan.waves == [["T002", "T003"], ["T004"], ["T005", "T006"], ["T007"]]
    assert plan.held == ()
    assert all(plan.tasks[t].files for t in plan.runnable)


def test_to_json_has_stable_keys() -> None:
    data = build_plan(parse_tasks_text(FEATURE)).to_json()
    assert list(data) == ["waves", "tasks", "held", "done", "warnings"]
    assert data["tasks"][2] == {  # type: ignore[index]
        "id": "T004",
        "title": "Add `src/c.py`",
        "files": ["src/c.py"],
        "after": ["T002", "T003"],
    }


def test_duplicated_id_never_runs_and_holds_what_follows_it_in_phase_order() -> None:
    plan = build_plan(parse_tasks_text(DUPLICATED))
    assert plan.waves == [["T002", "T003"], ["T004"]]
    assert "T005" not in plan.tasks
    assert [(h.task_id, h.waits_for) for h in plan.held] == [
        ("T007", ("T005",)),
        ("T008", ("T005",)),
        ("T009", ("T005",)),
    ]
    assert plan.held[0].describe(plan.tasks) == "waits for T005 [duplicate ID]"


def test_written_dependency_on_a_duplicated_id_holds_the_task() -> None:
    plan = build_plan(parse_tasks_text(DUPLICATED), written_only=True)
    assert plan.held == ()  # nothing is written to depend on T005
    text = DUPLICATED.replace("(depends on T004)", "(depends on T005)")
    plan = build_plan(parse_tasks_text(text), written_only=True)
    assert "T009" not in plan.runnable
    assert [(h.task_id, h.waits_for) for h in plan.held] == [("T009", ("T005",))]
    assert len(plan.warnings) == 1  # the duplicate's; a duplicated ID is not an unknown one
    assert plan.warnings[0].startswith("task ID T005 appears on lines 8 and 9")


def test_duplicated_id_is_settled_only_when_every_copy_is() -> None:
    plan = build_plan(parse_tasks_text(DUPLICATED.replace("[ ] T005", "[X] T005")))
    assert plan.waves == [["T002", "T003"], ["T004"], ["T007"], ["T008", "T009"]]
    assert plan.held == ()
    one_done = DUPLICATED.replace("[ ] T005 [P] [ASYNC] Add `src/d.py`", "[X] T005 [P] [ASYNC] d")
    assert [h.task_id for h in build_plan(parse_tasks_text(one_done)).held] == [
        "T007",
        "T008",
        "T009",
    ]


def test_copies_above_and_below_a_task_make_no_cycle() -> None:
    text = FEATURE.replace("- [ ] T007 [ASYNC] Add `src/f.py`", "- [ ] T004 [ASYNC] f after T006")
    plan = build_plan(parse_tasks_text(text))
    assert plan.runnable == ("T002", "T003")
    assert {h.task_id: h.waits_for for h in plan.held}["T006"] == ("T004",)


def test_only_with_a_duplicated_id_is_refused() -> None:
    with pytest.raises(DuplicateTaskError, match="T005 on lines 8 and 9"):
        build_plan(parse_tasks_text(DUPLICATED), only=["T005"])


def test_duplicate_warnings_come_first_in_the_plan_warnings() -> None:
    text = DUPLICATED.replace("(depends on T004)", "(depends on T404)")
    assert build_plan(parse_tasks_text(text)).warnings == (
        "task ID T005 appears on lines 8 and 9; those tasks are skipped (rename one to address it)",
        "T009 depends on T404, which is not in tasks.md; ignored",
    )
    assert build_plan(parse_tasks_text(FEATURE)).warnings == ()


# --- start_tasks: the [ASYNC] work a task starts from ---------------------------------


def _ids(tasks: tuple[Task, ...]) -> list[str]:
    return [t.id for t in tasks]


def _all_done(text: str) -> str:
    return text.replace("- [ ]", "- [X]")


def test_a_task_starts_from_every_async_task_it_waits_for_in_order() -> None:
    tasks = parse_tasks_text(_all_done(EXAMPLE.read_text(encoding="utf-8")))

    assert _ids(start_tasks(tasks, "T002").done) == []  # waits only for T001 [SYNC]
    assert _ids(start_tasks(tasks, "T004").done) == ["T002", "T003"]
    assert _ids(start_tasks(tasks, "T007").done) == ["T002", "T003", "T004", "T005", "T006"]
    assert _ids(start_tasks(tasks, "t007").done) == _ids(start_tasks(tasks, "T007").done)


def test_written_deps_only_follows_written_dependencies_through_sync_tasks() -> None:
    text = """\
# Tasks
- [X] T001 [ASYNC] Badge in README.md
- [X] T002 [SYNC] Review the badge (depends on T001)
- [X] T003 [ASYNC] Unrelated docs
- [ ] T004 [ASYNC] Wrap the badge in a link (depends on T002)
"""
    tasks = parse_tasks_text(text)

    assert _ids(start_tasks(tasks, "T004", written_only=True).done) == ["T001"]
    assert _ids(start_tasks(tasks, "T004").done) == ["T001", "T003"]  # file order counts too


def test_pending_and_skipped_prerequisites_are_not_started_from() -> None:
    text = FEATURE.replace("[ ] T002", "[X] T002").replace("[ ] T003", "[-] T003")
    found = start_tasks(parse_tasks_text(text), "T004")

    assert _ids(found.done) == ["T002"]
    assert _ids(found.pending) == []
    found = start_tasks(parse_tasks_text(text), "T007")
    assert _ids(found.done) == ["T002"]
    assert _ids(found.pending) == ["T004", "T005", "T006"]


def test_a_dependency_written_against_file_order_comes_first() -> None:
    text = """\
# Tasks
- [X] T001 [ASYNC] Second (depends on T002)
- [X] T002 [ASYNC] First
- [ ] T003 [ASYNC] Third (depends on T001)
"""
    found = start_tasks(parse_tasks_text(text), "T003", written_only=True)
    assert _ids(found.done) == ["T002", "T001"]


def test_done_async_tasks_come_in_dependency_order() -> None:
    text = """\
# Tasks
- [X] T001 [ASYNC] Second (depends on T002)
- [X] T002 [ASYNC] First
- [X] T003 [SYNC] By hand
- [ ] T004 [ASYNC] Not done
- [X] T005 [ASYNC] Third
"""
    tasks = parse_tasks_text(text)
    assert _ids(done_async_tasks(tasks, written_only=True)) == ["T002", "T001", "T005"]
    assert _ids(done_async_tasks(tasks)) == ["T001", "T002", "T005"]  # a cycle then
