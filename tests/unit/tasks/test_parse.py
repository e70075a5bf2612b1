from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.errors import (
    DuplicateTaskError,
    TaskParseError,
    TasksFileNotFoundError,
    UnknownTaskError,
)
from runtime.tasks.parse import (
    Task,
    TaskList,
    TaskState,
    duplicate_warnings,
    parse_tasks,
    parse_tasks_text,
    print_duplicate_warnings,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tasks"


def load(name: str) -> TaskList:
    return parse_tasks(FIXTURES / name)


def by_id(tasks: TaskList) -> dict[str, Task]:
    return {t.id: t for t in tasks.tasks}


def test_current_template_task_line() -> None:
    tasks = load("current_template.md")
    assert [t.id for t in tasks.tasks] == ["T001", "T002", "T012", "T013", "T014"]
    t012 = tasks.get("T012")
    assert t012.title == "Create Album model in src/models/album.py"
    assert t012.markers == {"P", "ASYNC"}
    assert t012.story == "US1"
    assert t012.is_async and t012.is_parallel and not t012.is_done
    assert t012.phase == "Phase 3: User Story 1 - Upload photos (Priority: P1) 🎯 MVP"
    assert t012.files == ("src/models/album.py",)
    assert t012.line == 24
    assert t012.raw == "- [ ] T012 [P] [ASYNC] [US1] Create Album model in src/models/album.py"
    assert tasks.get("T002").markers == {"P", "SYNC"} and tasks.get("T002").is_done
    assert tasks.get("T014").depends_on == ("T012", "T013")


def test_markers_in_any_order_and_spelling() -> None:
    tasks = by_id(load("marker_order.md"))
    assert (tasks["T020"].markers, tasks["T020"].story) == (frozenset({"P", "ASYNC"}), "US2")
    assert (tasks["T021"].markers, tasks["T021"].story) == (frozenset({"P", "ASYNC"}), "US2")
    assert (tasks["T022"].markers, tasks["T022"].story) == (frozenset({"SYNC"}), "US3")
    assert tasks["T023"].markers == {"P", "ASYNC"}
    assert tasks["T024"].title == "Markers at the end of the title"
    assert (tasks["T024"].markers, tasks["T024"].story) == (frozenset({"ASYNC"}), "US4")
    assert tasks["T025"].markers == {"P", "ASYNC"}
    for title in ("Story first, then parallel and async", "No spaces between markers"):
        assert title in {t.title for t in tasks.values()}


def test_unknown_bracket_token_stops_markers_and_mid_title_marker_is_text() -> None:
    tasks = by_id(load("marker_order.md"))
    assert tasks["T026"].markers == frozenset()
    assert tasks["T026"].title == "[Setup] [P] Unknown token stops the marker run"
    assert not tasks["T027"].is_async
    assert "[ASYNC]" in tasks["T027"].title


def test_legacy_phase_layout() -> None:
    tasks = load("legacy_phase_layout.md")
    assert [t.id for t in tasks.tasks] == ["T001", "T002", "T003", "T004", "T005"]
    assert tasks.get("T002").phase == "Phase 3.1: Setup"
    assert tasks.get("T004").is_done
    assert tasks.get("T005").phase == "Phase 3.3: Core Implementation"


def test_dependency_notes_without_checkbox_are_not_tasks_when_checkboxes_exist() -> None:
    tasks = load("legacy_phase_layout.md")
    assert tasks.get("T005").line == 25  # not "T005 depends on T001" / "- T005 blocks T006"
    assert "T006" not in {t.id for t in tasks.tasks}


@pytest.mark.parametrize(
    ("task_id", "state"),
    [
        ("T001", TaskState.PENDING),
        ("T002", TaskState.DONE),
        ("T003", TaskState.DONE),
        ("T004", TaskState.SKIPPED),
        ("T005", TaskState.SKIPPED),
    ],
)
def test_checkbox_states(task_id: str, state: TaskState) -> None:
    assert load("checkbox_states.md").get(task_id).state is state


def test_bullet_styles() -> None:
    tasks = load("bullets.md")
    assert [t.id for t in tasks.tasks] == ["T001", "T002", "T003", "T004", "T005"]
    assert tasks.get("T004").title == "Numbered with a dot"
    assert tasks.get("T005").is_done


def test_bold_ids() -> None:
    tasks = by_id(load("bold_ids.md"))
    assert tasks["T001"].title == "Bold ID then the title"
    assert (tasks["T002"].markers, tasks["T002"].title) == (
        frozenset({"P"}),
        "Markers inside the bold span",
    )
    assert (tasks["T003"].title, tasks["T003"].is_done) == ("Colon after the bold span", True)
    assert (tasks["T004"].markers, tasks["T004"].title) == (
        frozenset({"ASYNC"}),
        "Colon inside the bold span",
    )
    assert tasks["T005"].title == "Underscore bold"


def test_checkbox_less_bold_bullets_when_file_has_no_checkboxes() -> None:
    tasks = by_id(load("bold_no_checkbox.md"))
    assert list(tasks) == ["T001", "T002", "T003"]
    assert tasks["T001"].title == "Create the database schema in db/schema.sql"
    assert tasks["T002"].markers == {"P", "ASYNC"}
    assert (
        tasks["T002"].is_done and tasks["T002"].title == "Write the seed script in scripts/seed.py"
    )
    assert tasks["T003"].title == "Wire the API routes in src/api/routes.py"
    assert tasks["T003"].description.endswith("\n- uses the schema from T001")


def test_bare_id_lines_with_continuation() -> None:
    tasks = by_id(load("bare_lines.md"))
    assert list(tasks) == ["T001", "T002", "T003"]
    assert tasks["T001"].markers == {"P"}
    assert tasks["T001"].description == (
        'Create the folder layout in src/\nRef: plan.md, section "Project Structure"'
    )
    assert tasks["T003"].is_done and tasks["T003"].phase == "Phase 2: Core"


def test_letter_suffixed_ids() -> None:
    tasks = load("letter_suffix.md")
    assert [t.id for t in tasks.tasks] == ["T003", "T003a", "T003b", "T004", "T004.1", "T005"]
    assert tasks.get("T003a").is_parallel
    assert tasks.get("T004.1").depends_on == ("T004",)
    assert tasks.get("T004").description == "Extend the schema in lib/db/schema.ts"
    assert tasks.get("T003b").depends_on == ("T003a",)
    assert tasks.get("t003A").id == "T003a"


def test_uppercase_letter_suffix_is_the_same_id_as_lowercase() -> None:
    tasks = load("uppercase_suffix.md")
    assert [t.id for t in tasks.tasks] == ["T021", "T021a", "T021b", "T021c", "T022"]
    t021a = tasks.get("T021A")
    assert t021a is tasks.get("t021a")
    assert t021a.markers == {"P", "ASYNC"}
    assert t021a.raw.startswith("- [ ] T021A [P]")  # the file's spelling is kept
    assert tasks.get("T021B").depends_on == ("T021a",)
    assert tasks.get("T022").depends_on == ("T021b",)
    assert tasks.get("T021C").title == "Bold, with an uppercase suffix"
    assert tasks.duplicates == {"T023a": (10, 11)}  # T023a and T023A
    assert tasks.unidentified == ((12, "T024AB Two letters: not an ID"),)


def test_continuation_lines_and_sub_bullets_belong_to_their_task() -> None:
    tasks = by_id(load("continuation.md"))
    assert tasks["T001"].description == (
        "Prepare the release branch\n"
        "Ref: `/specs/004-release/plan.md#summary`\n"
        "Keep the changelog untouched."
    )
    assert tasks["T002"].description == (
        "Build the importer\n"
        "- read rows from `data/input.csv`\n"
        "- [ ] validate each row\n"
        "- log a summary\n"
        "\n"
        "```bash\n"
        "python -m importer --dry-run\n"
        "```"
    )
    assert tasks["T002"].title == "Build the importer"
    assert tasks["T003"].description == "Single line task"


def test_nested_line_with_its_own_id_is_a_task() -> None:
    tasks = by_id(load("continuation.md"))
    assert list(tasks) == ["T001", "T002", "T002a", "T003"]
    assert tasks["T002a"].description == (
        "Write the row counter in src/importer/count.py\n- counter must be thread safe"
    )
    assert load("continuation.md").unidentified == ((10, "validate each row"),)


def test_heading_style_tasks() -> None:
    tasks = load("heading_tasks.md")
    t = by_id(tasks)
    assert list(t) == ["T001", "T002", "T003", "T004"]
    assert (t["T001"].title, t["T001"].markers) == ("Create the worker pool", frozenset({"ASYNC"}))
    assert t["T001"].phase == "Phase 1: Foundations"
    assert "#### Acceptance" in t["T001"].description
    assert t["T001"].files == ("src/workers/pool.py", "tests/unit/test_pool.py")
    assert (t["T002"].title, t["T002"].markers, t["T002"].is_done) == (
        "Add retry helper",
        frozenset({"P"}),
        True,
    )
    assert t["T002"].depends_on == ("T001",)
    assert t["T002"].description == "Add retry helper\n\nDepends on: T001"  # "---" trimmed
    assert (t["T003"].title, t["T003"].markers) == (
        "Review the error taxonomy",
        frozenset({"SYNC"}),
    )
    assert (t["T004"].markers, t["T004"].phase) == (frozenset({"ASYNC"}), "Phase 2: Integration")
    assert [n for n, _ in tasks.unidentified] == [9, 10]


def test_legend_lines_are_not_tasks() -> None:
    tasks = load("legend_notes.md")
    assert [t.id for t in tasks.tasks] == ["T001"]
    assert tasks.unidentified == ((17, "marks a finished task"),)


def test_checklist_items_without_id_are_unidentified() -> None:
    tasks = load("unidentified.md")
    assert [t.id for t in tasks.tasks] == ["T001"]
    assert tasks.unidentified == (
        (6, "Forgot the ID on this one"),
        (7, "[US1] Story label but no ID"),
        (8, "TXXX [P] Placeholder from the template"),
        (12, "All tasks have IDs"),
    )


def test_fenced_code_is_ignored() -> None:
    assert [t.id for t in load("fenced_code.md").tasks] == ["T001", "T006"]


def test_html_comments_are_ignored() -> None:
    tasks = load("html_comments.md")
    assert [t.id for t in tasks.tasks] == ["T001", "T003"]
    assert tasks.get("T001").title == "The real T001"
    assert tasks.get("T001").line == 10


def test_dependency_phrasings() -> None:
    deps = {t.id: t.depends_on for t in load("dependencies.md").tasks}
    assert deps["T004"] == ("T001", "T002")
    assert deps["T005"] == ("T004",)
    assert deps["T006"] == ("T005", "T003")
    assert deps["T007"] == ("T001", "T002", "T003")
    assert deps["T008"] == ("T006", "T007")
    assert deps["T009"] == ("T008", "T001")
    assert deps["T010"] == ()


def test_file_paths() -> None:
    files = {t.id: t.files for t in load("files.md").tasks}
    assert files["T001"] == ("src/models/user.py",)
    assert files["T002"] == ("stacks/starr.yaml", ".env.example")
    assert files["T003"] == ("pyproject.toml", "package.json")
    assert files["T004"] == ()
    assert files["T005"] == ("tests/contract/test_users.py",)
    assert files["T006"] == ("docs/", "Dockerfile")
    assert files["T007"] == ()


def test_ranges_never_start_a_task() -> None:
    tasks = load("ranges_not_tasks.md")
    assert [t.id for t in tasks.tasks] == ["T010", "T011", "T012"]
    assert tasks.get("T010").phase == "Phase 1: Models"


def test_front_matter_is_skipped() -> None:
    text = "---\ndescription: x\n# T009 a YAML comment\n---\n\n- [ ] T001 Real\n"
    assert [t.id for t in parse_tasks_text(text).tasks] == ["T001"]


def test_crlf_parses_the_same() -> None:
    text = (FIXTURES / "continuation.md").read_text(encoding="utf-8")
    lf = parse_tasks_text(text)
    crlf = parse_tasks_text(text.replace("\n", "\r\n"))
    assert crlf.tasks == lf.tasks
    assert crlf.unidentified == lf.unidentified


def test_bom_is_ignored() -> None:
    assert parse_tasks_text("\ufeff- [ ] T001 First\n").get("T001").line == 1


def test_duplicate_ids_are_kept_apart_and_the_rest_parses() -> None:
    tasks = load("duplicate_ids.md")
    assert [t.id for t in tasks.tasks] == ["T002", "T003"]
    assert [(t.id, t.line) for t in tasks.duplicate_tasks] == [
        ("T001", 5),
        ("T001", 7),
        ("T004", 9),
        ("T004", 10),
        ("T004", 11),
    ]
    assert tasks.duplicates == {"T001": (5, 7), "T004": (9, 10, 11)}
    assert tasks.get("T003").description == "Third, after T001"  # nested copy: its own task
    assert tasks.get("T003").depends_on == ("T001",)
    assert [t.id for t in tasks.filter(pending_only=True)] == ["T002", "T003"]


def test_file_without_duplicates_has_none() -> None:
    tasks = load("current_template.md")
    assert (tasks.duplicate_tasks, tasks.duplicates, duplicate_warnings(tasks)) == ((), {}, [])


def test_only_duplicated_ids_parse_to_no_tasks() -> None:
    tasks = parse_tasks_text("- [ ] T001 a\n- [ ] T001 b\n")
    assert tasks.tasks == ()
    assert tasks.duplicates == {"T001": (1, 2)}


@pytest.mark.parametrize(
    ("task_id", "lines"), [("T001", "lines 5 and 7"), ("t004", "lines 9, 10 and 11")]
)
def test_addressing_a_duplicated_id_names_all_its_lines(task_id: str, lines: str) -> None:
    tasks = load("duplicate_ids.md")
    with pytest.raises(DuplicateTaskError) as info:
        tasks.get(task_id)
    assert info.value.exit_code == 12
    assert info.value.message == (
        f"duplicate task ID {task_id.upper()} on {lines} of {FIXTURES / 'duplicate_ids.md'}"
    )
    assert info.value.hint.startswith("Rename ")


def test_duplicate_warnings_one_per_id() -> None:
    assert duplicate_warnings(load("duplicate_ids.md")) == [
        "task ID T001 appears on lines 5 and 7; those tasks are skipped (rename one to address it)",
        "task ID T004 appears on lines 9, 10 and 11; those tasks are skipped "
        "(rename all but one to address it)",
    ]


def test_print_duplicate_warnings_prefixes_each_line() -> None:
    out = io.StringIO()
    print_duplicate_warnings(load("duplicate_ids.md"), out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("WARNING: task ID T001 appears on lines 5 and 7;")
    empty = io.StringIO()
    print_duplicate_warnings(load("current_template.md"), empty)
    assert empty.getvalue() == ""


def test_unknown_id_lists_nearest() -> None:
    with pytest.raises(UnknownTaskError) as info:
        load("current_template.md").get("T011")
    assert info.value.exit_code == 13
    assert "T011" in info.value.message
    assert info.value.hint.startswith("Nearest IDs: ")
    assert "T012" in info.value.hint and "T013" in info.value.hint


@pytest.mark.parametrize("name", ["empty.md", "no_tasks.md"])
def test_empty_or_no_tasks_is_a_one_line_error(name: str) -> None:
    with pytest.raises(TaskParseError) as info:
        load(name)
    assert type(info.value) is TaskParseError
    assert "\n" not in info.value.message
    assert name in info.value.message
    assert "empty" in info.value.message or "no spec-kit tasks" in info.value.message


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(TasksFileNotFoundError, match="not found"):
        parse_tasks(tmp_path / "tasks.md")


def test_non_utf8_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_bytes(b"- [ ] T001 caf\xe9\n")
    with pytest.raises(TaskParseError, match="not UTF-8"):
        parse_tasks(path)


def test_filter() -> None:
    tasks = load("current_template.md")
    assert [t.id for t in tasks.filter(async_only=True)] == ["T001", "T012", "T013"]
    assert [t.id for t in tasks.filter(pending_only=True, phase="phase 1")] == ["T001"]
    assert [t.id for t in tasks.filter(phase="3")] == ["T012", "T013", "T014"]
    assert tasks.filter(phase="Phase 30") == []
    legacy = load("legacy_phase_layout.md")
    assert len(legacy.filter(phase="Phase 3")) == 5
    assert [t.id for t in legacy.filter(phase="3.2")] == ["T003", "T004"]


def test_to_json_has_stable_keys() -> None:
    data = load("current_template.md").get("T012").to_json()
    assert list(data) == [
        "id",
        "title",
        "description",
        "state",
        "markers",
        "story",
        "phase",
        "files",
        "depends_on",
        "line",
        "raw",
        "is_async",
        "is_parallel",
        "is_done",
    ]
    assert data["markers"] == ["ASYNC", "P"]
    assert data["state"] == "pending"


TOKENS = list("-*+#[]()xX~ `<!>:.,T0123456789aUS\n\r\t\u2705_") + [
    "T001",
    "- [ ] ",
    "```",
    "~~~",
    "<!--",
    "-->",
    "## ",
    "**T00",
    "[P]",
    "[ASYNC]",
    "depends on ",
    "src/a.py",
]
markdownish = st.lists(st.sampled_from(TOKENS), max_size=120).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(markdownish, st.text(max_size=200)))
def test_random_text_only_raises_parse_errors(text: str) -> None:
    try:
        tasks = parse_tasks_text(text)
    except TaskParseError:
        return
    assert tasks.tasks or tasks.duplicate_tasks
    assert not {t.id for t in tasks.tasks} & set(tasks.duplicates)
    for task in tasks.tasks:
        assert task.description.split("\n", 1)[0] == task.title
