from __future__ import annotations

from pathlib import Path

from runtime.spawn import prompt
from runtime.tasks.parse import Task, TaskState, parse_tasks_text

EXTRA = prompt.PromptInput(
    feature="001-photo-albums",
    branch="specs/001-photo-albums/T012-async",
    base="main",
    context_files=("spec.md", "contracts/api.yaml"),
)

TASKS = """\
# Tasks

## Phase 3: User Story 1 - Create an album

- [ ] T012 [P] [ASYNC] [US1] Create the Album model in src/models/album.py
  with fields id, title and created_at (depends on T001, T002).
  SCRIPTED_LLM: write-file
- [ ] T013 [ASYNC] Other task
"""


def task_t012() -> Task:
    return parse_tasks_text(TASKS, Path("tasks.md")).get("T012")


def test_prompt_names_the_task_and_everything_known_about_it() -> None:
    text = prompt.render(task_t012(), EXTRA)
    assert text.startswith("# Task T012: Create the Album model in src/models/album.py\n")
    for expected in (
        "- Phase: Phase 3: User Story 1 - Create an album",
        "- User story: US1",
        "- Markers: [ASYNC] [P]",
        "- Depends on: T001, T002",
        "- `src/models/album.py`",
        "with fields id, title and created_at (depends on T001, T002).",
        "SCRIPTED_LLM: write-file",
        "feature `001-photo-albums`",
        "branch `specs/001-photo-albums/T012-async`, based on `main`",
        "- `contracts/api.yaml`",
    ):
        assert expected in text, expected


def test_prompt_quotes_the_raw_task_line_verbatim() -> None:
    text = prompt.render(task_t012(), EXTRA)
    raw = "- [ ] T012 [P] [ASYNC] [US1] Create the Album model in src/models/album.py"
    assert f"```text\n{raw}\n```" in text


def test_prompt_fences_the_agent_in() -> None:
    text = prompt.render(task_t012(), EXTRA)
    assert "Work ONLY on task T012" in text
    assert "Do NOT run `git commit`, `git push`" in text
    assert f"`{prompt.CONTEXT_DIR}/`" in text
    assert prompt.CONTEXT_DIR == ".speckit-pods/context"
    assert "T013" not in text


def test_missing_fields_say_none() -> None:
    bare = Task(
        id="T001",
        title="Set up",
        description="Set up",
        state=TaskState.PENDING,
        markers=frozenset(),
        story=None,
        phase=None,
        files=(),
        depends_on=(),
        line=3,
        raw="- [ ] T001 Set up",
    )
    text = prompt.render(bare, prompt.PromptInput("f", "b", "main", ()))
    for expected in (
        "- Phase: none",
        "- User story: none",
        "- Markers: none",
        "- Depends on: none",
    ):
        assert expected in text
    assert "## Files named by the task\n\n- none" in text


def test_backticks_in_the_raw_line_get_a_longer_fence() -> None:
    task = Task(
        id="T002",
        title="Run ```make```",
        description="Run ```make```",
        state=TaskState.PENDING,
        markers=frozenset({"ASYNC"}),
        story=None,
        phase=None,
        files=(),
        depends_on=(),
        line=1,
        raw="- [ ] T002 [ASYNC] Run ```make```",
    )
    text = prompt.render(task, EXTRA)
    assert "````text\n- [ ] T002 [ASYNC] Run ```make```\n````" in text
