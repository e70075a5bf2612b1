"""Parse a spec-kit ``tasks.md`` into :class:`Task` objects.

This module holds the model (:class:`Task`, :class:`TaskList`) and the public
API.  The markdown scanning, and the summary of the supported syntax, live in
:mod:`runtime.tasks.syntax`; ``depends_on`` and ``files`` extraction lives in
:mod:`runtime.tasks.references`.

Duplicated IDs (long hand-edited lists have them) do not spoil the file: the
tasks sharing an ID are parsed but kept apart in ``TaskList.duplicate_tasks``,
``TaskList.duplicates`` maps each such ID to its lines (for
:func:`duplicate_warnings`), and only *addressing* such an ID
(:meth:`TaskList.get`, :func:`find_task_head`) raises :class:`DuplicateTaskError`.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TextIO

from runtime.errors import (
    DuplicateTaskError,
    TaskParseError,
    TasksFileNotFoundError,
    UnknownTaskError,
)
from runtime.tasks.references import find_dependencies, find_files
from runtime.tasks.syntax import (
    Line,
    TaskHead,
    continuation,
    find_heads,
    normalize_task_id,
    parse_title,
    scan_lines,
)

__all__ = [
    "Task",
    "TaskList",
    "TaskState",
    "duplicate_warnings",
    "find_task_head",
    "head_state",
    "normalize_task_id",
    "parse_tasks",
    "parse_tasks_text",
    "print_duplicate_warnings",
]

DONE_MARK = "\u2705"  # ✅ marks checkbox-less tasks done


class TaskState(StrEnum):
    """Where a task stands, from its checkbox (or ✅ for checkbox-less tasks)."""

    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Task:
    """One task of a tasks.md."""

    id: str
    title: str
    description: str
    state: TaskState
    markers: frozenset[str]
    story: str | None
    phase: str | None
    files: tuple[str, ...]
    depends_on: tuple[str, ...]
    line: int
    raw: str

    @property
    def is_async(self) -> bool:
        """True for ``[ASYNC]`` tasks (the ones spawned as pods)."""
        return "ASYNC" in self.markers

    @property
    def is_parallel(self) -> bool:
        """True for ``[P]`` tasks."""
        return "P" in self.markers

    @property
    def is_done(self) -> bool:
        """True once the task is checked off."""
        return self.state is TaskState.DONE

    def to_json(self) -> dict[str, object]:
        """Return a JSON-ready dict with stable snake_case keys."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "state": self.state.value,
            "markers": sorted(self.markers),
            "story": self.story,
            "phase": self.phase,
            "files": list(self.files),
            "depends_on": list(self.depends_on),
            "line": self.line,
            "raw": self.raw,
            "is_async": self.is_async,
            "is_parallel": self.is_parallel,
            "is_done": self.is_done,
        }


@dataclass(frozen=True)
class TaskList:
    """The tasks of one tasks.md, in file order.

    Attributes:
        path: The file read (or the name given to :func:`parse_tasks_text`).
        tasks: The tasks whose ID is unique in the file.
        unidentified: ``(line, text)`` of checkbox items without an ID.
        duplicate_tasks: Every task whose ID appears on more than one task line,
            in file order; none of them is in ``tasks``.
    """

    path: Path
    tasks: tuple[Task, ...]
    unidentified: tuple[tuple[int, str], ...] = ()
    duplicate_tasks: tuple[Task, ...] = ()

    @property
    def duplicates(self) -> dict[str, tuple[int, ...]]:
        """Each duplicated ID and the lines it appears on, in file order."""
        found: dict[str, tuple[int, ...]] = {}
        for task in self.duplicate_tasks:
            found[task.id] = (*found.get(task.id, ()), task.line)
        return found

    def get(self, task_id: str) -> Task:
        """Return the task with this ID (``t3a`` style spellings are normalised).

        Raises:
            UnknownTaskError: no such task; the hint names the nearest IDs.
            DuplicateTaskError: several tasks have this ID; the message names their lines.
        """
        wanted = normalize_task_id(task_id)
        for task in self.tasks:
            if task.id == wanted:
                return task
        if lines := self.duplicates.get(wanted):
            raise _duplicate_task(wanted, lines, self.path)
        raise _unknown_task(task_id, [t.id for t in self.tasks], self.path)

    def filter(
        self, *, async_only: bool = False, pending_only: bool = False, phase: str | None = None
    ) -> list[Task]:
        """Return the tasks matching every given condition.

        ``phase`` matches case-insensitively as whole words (``Phase 3``
        matches ``Phase 3: US1`` and ``Phase 3.1: Setup`` but not ``Phase 30``);
        a bare number ``3`` means ``Phase 3``.
        """
        pattern = _phase_pattern(phase) if phase else None
        return [
            t
            for t in self.tasks
            if (not async_only or t.is_async)
            and (not pending_only or t.state is TaskState.PENDING)
            and (pattern is None or (t.phase is not None and pattern.search(t.phase) is not None))
        ]


def parse_tasks(path: Path) -> TaskList:
    """Read and parse a tasks.md file.

    Raises:
        TasksFileNotFoundError: the file does not exist.
        TaskParseError: unreadable, empty, or no spec-kit tasks.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise TasksFileNotFoundError(
            f"tasks.md not found: {path}", hint="Run /speckit.tasks first."
        ) from err
    except OSError as err:
        raise TaskParseError(f"cannot read {path}: {err.strerror or err}") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TaskParseError(f"{path} is not UTF-8 text (byte {err.start})") from err
    return parse_tasks_text(text, path)


def parse_tasks_text(text: str, path: Path = Path("tasks.md")) -> TaskList:
    """Parse tasks.md content; ``path`` is only used in messages and the result."""
    lines, heads, unidentified = _scan(text, path)
    starts = frozenset(h.index for h in heads)
    tasks = [_build(h, lines, starts) for h in heads]
    repeated = _repeated(t.id for t in tasks)
    return TaskList(
        path=path,
        tasks=tuple(t for t in tasks if t.id not in repeated),
        unidentified=tuple(unidentified),
        duplicate_tasks=tuple(t for t in tasks if t.id in repeated),
    )


def find_task_head(text: str, task_id: str, path: Path = Path("tasks.md")) -> TaskHead:
    """The head line of one task, found as :func:`parse_tasks_text` would, cheaper.

    Only the task lines are read (no titles, descriptions, files or dependencies
    of the other tasks); errors are those of ``parse_tasks_text(...).get(task_id)``.
    """
    _lines, heads, _unidentified = _scan(text, path)
    wanted = normalize_task_id(task_id)
    found = [h for h in heads if h.task_id == wanted]
    if len(found) > 1:
        raise _duplicate_task(wanted, tuple(h.index + 1 for h in found), path)
    if found:
        return found[0]
    repeated = _repeated(h.task_id for h in heads)
    raise _unknown_task(task_id, [h.task_id for h in heads if h.task_id not in repeated], path)


def duplicate_warnings(task_list: TaskList) -> list[str]:
    """One warning per duplicated ID, naming its lines (no ``WARNING:`` prefix).

    ``task ID T005 appears on lines 12 and 40; those tasks are skipped (rename one
    to address it)``.  Empty when every ID is unique.  The dispatch plan carries the
    same text in ``DispatchPlan.warnings``.
    """
    return [
        f"task ID {task_id} appears on lines {_and_list(lines)}; those tasks are skipped "
        f"(rename {_rename(lines)} to address it)"
        for task_id, lines in task_list.duplicates.items()
    ]


def print_duplicate_warnings(task_list: TaskList, file: TextIO | None = None) -> None:
    """Print :func:`duplicate_warnings` as ``WARNING: ...`` lines to ``file`` (stderr)."""
    for warning in duplicate_warnings(task_list):
        print(f"WARNING: {warning}", file=sys.stderr if file is None else file)


def head_state(head: TaskHead) -> TaskState:
    """The state of the task that ``head`` starts (``Task.state``)."""
    if head.box is not None:
        return _BOX_STATE.get(head.box, TaskState.SKIPPED)
    return TaskState.DONE if DONE_MARK in head.rest else TaskState.PENDING


def _scan(text: str, path: Path) -> tuple[list[Line], list[TaskHead], list[tuple[int, str]]]:
    """Lines, task heads and unidentified items; raises the file-level parse errors."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise TaskParseError(f"{path} is empty", hint="Run /speckit.tasks to generate tasks.")
    lines = scan_lines(text)
    heads, unidentified = find_heads(lines)
    if any(h.kind != "weak" for h in heads):
        heads = [h for h in heads if h.kind != "weak"]
    if not heads:
        raise TaskParseError(
            f"no spec-kit tasks (lines like '- [ ] T001 Description') in {path}",
            hint="Run /speckit.tasks to generate tasks.",
        )
    return lines, heads, unidentified


# --- building tasks ---------------------------------------------------------------------

_BOX_STATE = {" ": TaskState.PENDING, "x": TaskState.DONE, "X": TaskState.DONE}


def _build(head: TaskHead, lines: list[Line], starts: frozenset[int]) -> Task:
    line = lines[head.index]
    markers, story, title = parse_title(head.rest, head.kind == "heading")
    state = head_state(head)
    if head.box is None:
        title = " ".join(title.replace(DONE_MARK, " ").split())
    body = continuation(head, lines, starts)
    description = "\n".join([title, *body])
    return Task(
        id=head.task_id,
        title=title,
        description=description,
        state=state,
        markers=markers,
        story=story,
        phase=head.phase,
        files=find_files(description),
        depends_on=find_dependencies(description, head.task_id),
        line=line.no,
        raw=line.raw,
    )


def _repeated(ids: Iterable[str]) -> frozenset[str]:
    """The IDs that occur more than once in ``ids``."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for task_id in ids:
        (repeated if task_id in seen else seen).add(task_id)
    return frozenset(repeated)


def _duplicate_task(task_id: str, lines: tuple[int, ...], path: Path) -> DuplicateTaskError:
    return DuplicateTaskError(
        f"duplicate task ID {task_id} on lines {_and_list(lines)} of {path}",
        hint=f"Rename {_rename(lines)} of them so each task has its own ID "
        "(the tasks with unique IDs work as usual).",
    )


def _unknown_task(task_id: str, ids: list[str], path: Path) -> UnknownTaskError:
    wanted = normalize_task_id(task_id)
    near = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.5)
    hint = f"Nearest IDs: {', '.join(near)}." if near else f"Known IDs: {_id_span(ids)}."
    return UnknownTaskError(f"unknown task ID {task_id!r} in {path}", hint=hint)


# --- TaskList helpers -------------------------------------------------------------------


def _phase_pattern(phase: str) -> re.Pattern[str]:
    wanted = phase.strip()
    if re.fullmatch(r"[\d.]+", wanted):
        return re.compile(rf"(?i)^phase\s+{re.escape(wanted)}(?!\w)")
    return re.compile(rf"(?i)(?<!\w){re.escape(wanted)}(?!\w)")


def _rename(lines: tuple[int, ...]) -> str:
    """How many copies of a duplicated ID to rename: ``one`` or ``all but one``."""
    return "one" if len(lines) == 2 else "all but one"


def _and_list(numbers: Iterable[int]) -> str:
    """``5``, ``5 and 7``, ``5, 7 and 9``."""
    words = [str(n) for n in numbers]
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def _id_span(ids: list[str]) -> str:
    if not ids:
        return "none"
    return ", ".join(ids) if len(ids) <= 6 else f"{ids[0]} .. {ids[-1]} ({len(ids)} tasks)"
