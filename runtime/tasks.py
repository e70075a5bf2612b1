"""Parse a spec-kit ``tasks.md`` into :class:`Task` objects.

Supported syntax (each rule has a fixture under ``tests/unit/fixtures/tasks/``):

* Checkbox tasks, current template and older ``## Phase 3.1: Setup`` layout:
  ``- [ ] T012 [P] [ASYNC] [US1] Create model in src/models/x.py``.  Bullets ``-``,
  ``*``, ``+`` or ``1.``/``1)``, at any indentation.  Boxes: ``[ ]`` pending,
  ``[x]``/``[X]`` done, ``[-]``/``[~]`` skipped.
* IDs ``T<digits>`` with an optional lowercase letter or ``.N`` (``T003a``,
  ``T004.1``), plain or bold
  (``**T001**``, ``**T001 [P]**``, ``**T001**: desc``, ``**T001:** desc``).
  Ranges and lists (``T001-T005``, ``T001, T002``) never start a task.
* Markers: bracket tokens right after the ID, in any order, and known tokens at
  the end of the title: ``[P]``, ``[ASYNC]``, ``[SYNC]``, ``[US1]``,
  ``[Story: US1]``, combined ``[P, ASYNC]``; parentheses work too (``(ASYNC)``).
  Heading titles also lose ``(ASYNC)``/``[SYNC]`` tokens anywhere.  Only the first
  story is kept.
* Heading tasks: ``## T001 — Title (ASYNC)``, ``### T001: [P] Title``; their
  description is the section body up to the next heading of the same or a
  higher level.
* Checkbox-less tasks (``- **T001**: desc``, ``- T001 desc``, a bare
  ``T001 [P] desc`` line) count only when the file has no checkbox or heading
  task; otherwise they are notes (``- T008 blocks T009``).  Checkbox-less and
  heading tasks are done when their line holds ``✅``.
* Continuation lines indented past the bullet (including nested sub-bullets and
  indented code) belong to the task's description; a nested line with its own
  ID is a task of its own.
* Ignored: legend lines (``- [P] tasks = ...``, ``- **[P]**: ...``), anything in
  fenced code (`````` ``` `````` / ``~~~``), HTML comments and YAML front matter.
  Checkbox items without an ID go to :attr:`TaskList.unidentified`.
* ``depends_on``: IDs after ``depends on``, ``depends upon``, ``dependencies:``,
  ``requires``, ``after``, ``blocked by``, ``waits for``, ``needs``; lists joined
  by ``,``/``and``/``&``/``/`` and ranges ``T001-T003`` (expanded).
* ``files``: backticked paths and bare tokens that look like paths (a ``/`` with
  a file extension or a trailing ``/``, or ``name.ext`` with a known extension).
* ``phase``: the nearest enclosing heading starting with "Phase", else the
  nearest heading below the title.

Tables (``| T001 | ... |``) are not read.  CRLF and a UTF-8 BOM are accepted.
"""

from __future__ import annotations

import difflib
import re
import textwrap
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from runtime.errors import (
    DuplicateTaskError,
    TaskParseError,
    TasksFileNotFoundError,
    UnknownTaskError,
)

__all__ = ["Task", "TaskList", "TaskState", "normalize_task_id", "parse_tasks", "parse_tasks_text"]

DONE_MARK = "\u2705"  # ✅ marks checkbox-less tasks done


class TaskState(StrEnum):
    """Where a task stands, from its checkbox (or ✅ for checkbox-less tasks)."""

    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"


@dataclass(frozen=True)
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
    """The tasks of one tasks.md, in file order."""

    path: Path
    tasks: tuple[Task, ...]
    unidentified: tuple[tuple[int, str], ...] = ()

    def get(self, task_id: str) -> Task:
        """Return the task with this ID (``t3a`` style spellings are normalised).

        Raises:
            UnknownTaskError: no such task; the hint names the nearest IDs.
        """
        wanted = normalize_task_id(task_id)
        for task in self.tasks:
            if task.id == wanted:
                return task
        ids = [t.id for t in self.tasks]
        near = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.5)
        hint = f"Nearest IDs: {', '.join(near)}." if near else f"Known IDs: {_id_span(ids)}."
        raise UnknownTaskError(f"unknown task ID {task_id!r} in {self.path}", hint=hint)

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


def normalize_task_id(task_id: str) -> str:
    """Spell an ID as the parser does: ``t003A`` becomes ``T003a``."""
    text = task_id.strip()
    if re.fullmatch(r"[tT]\d+(?:[a-zA-Z]|\.\d+)?", text):
        return "T" + text[1:].lower()
    return text


def parse_tasks(path: Path) -> TaskList:
    """Read and parse a tasks.md file.

    Raises:
        TasksFileNotFoundError: the file does not exist.
        TaskParseError: unreadable, empty, or no spec-kit tasks.
        DuplicateTaskError: two tasks share an ID.
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
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise TaskParseError(f"{path} is empty", hint="Run /speckit.tasks to generate tasks.")
    lines = _scan(text)
    heads, unidentified = _find_heads(lines)
    if any(h.kind != "weak" for h in heads):
        heads = [h for h in heads if h.kind != "weak"]
    if not heads:
        raise TaskParseError(
            f"no spec-kit tasks (lines like '- [ ] T001 Description') in {path}",
            hint="Run /speckit.tasks to generate tasks.",
        )
    starts = frozenset(h.index for h in heads)
    tasks = tuple(_build(h, lines, starts) for h in heads)
    _check_duplicates(tasks, path)
    return TaskList(path=path, tasks=tasks, unidentified=tuple(unidentified))


# --- scanning ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    no: int  # 1-based
    raw: str  # without line ending
    text: str  # comments removed; raw for code lines
    code: bool  # fenced code, fence delimiter or front matter: never a task


@dataclass(frozen=True)
class _Head:
    index: int
    kind: str  # "box" | "heading" | "weak"
    indent: int
    level: int  # heading level, 0 for list items and bare lines
    task_id: str
    rest: str
    box: str | None
    phase: str | None


_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")
_ITEM = re.compile(r"^([ \t]*)(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[([ xX~-])\](?:[ \t]+|$))?(.*)$")
_BOLD = re.compile(r"(\*\*|__)(.+?)\1")
_ID_AT = re.compile(
    r"(T\d+(?:[a-z]|\.\d+)?)(?!\w|\.\w)"  # T001, T003a, T004.1; not T001ab, T001.md
    r"(?!\s*(?:[-\u2013\u2014,/&+]|to\b|and\b|or\b|through\b)\s*T\d)"  # not a range/list
)
_YAML_LINE = re.compile(r"^(?:\s*$|#|[\w-]+\s*:|\s+\S|-\s+[^\[\s])")
_BOX_STATE = {" ": TaskState.PENDING, "x": TaskState.DONE, "X": TaskState.DONE}


def _scan(text: str) -> list[_Line]:
    raws = [r.removesuffix("\r") for r in text.split("\n")]
    front = _front_matter_end(raws)
    out: list[_Line] = []
    fence: tuple[str, int] | None = None
    in_comment = False
    for i, raw in enumerate(raws):
        if i <= front:
            out.append(_Line(i + 1, raw, raw, True))
        elif fence is not None:
            if re.fullmatch(rf"[ \t]*{re.escape(fence[0])}{{{fence[1]},}}[ \t]*", raw):
                fence = None
            out.append(_Line(i + 1, raw, raw, True))
        else:
            starts_in_comment = in_comment
            visible, in_comment = _strip_comments(raw, in_comment)
            m = None if starts_in_comment else _FENCE_OPEN.match(visible)
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                fence = (m.group(1)[0], len(m.group(1)))
                out.append(_Line(i + 1, raw, raw, True))
            else:
                out.append(_Line(i + 1, raw, visible, False))
    return out


def _front_matter_end(raws: list[str]) -> int:
    """Index of the closing ``---`` of YAML front matter, or -1."""
    if not raws or raws[0].strip() != "---":
        return -1
    for i in range(1, min(len(raws), 60)):
        if raws[i].strip() in ("---", "..."):
            return i
        if not _YAML_LINE.match(raws[i]):
            return -1
    return -1


def _strip_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    parts: list[str] = []
    pos = 0
    while pos <= len(line):
        if in_comment:
            end = line.find("-->", pos)
            if end < 0:
                break
            pos, in_comment = end + 3, False
        else:
            start = line.find("<!--", pos)
            if start < 0:
                parts.append(line[pos:])
                break
            parts.append(line[pos:start])
            pos, in_comment = start + 4, True
    return "".join(parts), in_comment


def _heading(text: str) -> tuple[int, str] | None:
    """ATX heading level and text (closing ``#``s removed), or None."""
    m = _HEADING.fullmatch(text)
    if m is None:
        return None
    body = (m.group(2) or "").strip()
    unclosed = body.rstrip("#")
    if unclosed != body and (not unclosed or unclosed[-1] in " \t"):
        body = unclosed.rstrip()
    return len(m.group(1)), body


def _indent(text: str) -> int:
    expanded = text.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def _split_id(text: str) -> tuple[str, str] | None:
    """Split ``T001 rest`` / ``**T001 [P]**: rest`` into (ID, rest)."""
    bold = _BOLD.match(text)
    if bold:
        inner = bold.group(2).strip()
        m = _ID_AT.match(inner)
        return (m.group(1), f"{inner[m.end() :]} {text[bold.end() :]}") if m else None
    m = _ID_AT.match(text)
    return (m.group(1), text[m.end() :]) if m else None


def _find_heads(lines: list[_Line]) -> tuple[list[_Head], list[tuple[int, str]]]:
    heads: list[_Head] = []
    unidentified: list[tuple[int, str]] = []
    stack: list[tuple[int, str, bool]] = []  # (level, text, is_task)
    for i, line in enumerate(lines):
        if line.code or not line.text.strip():
            continue
        if found := _heading(line.text):
            level, htext = found
            split = _split_id(htext)
            while stack and stack[-1][0] >= level:
                stack.pop()
            if split:
                heads.append(_Head(i, "heading", 0, level, *split, None, _phase(stack)))
            stack.append((level, htext.strip("*_ "), split is not None))
        elif m := _ITEM.match(line.text):
            box, rest = m.group(2), m.group(3)
            split = _split_id(rest)
            if split:
                kind = "box" if box else "weak"
                heads.append(_Head(i, kind, _indent(line.text), 0, *split, box, _phase(stack)))
            elif box:
                unidentified.append((line.no, rest.strip()))
        elif _indent(line.text) <= 3 and (split := _split_id(line.text.strip())):
            heads.append(_Head(i, "weak", _indent(line.text), 0, *split, None, _phase(stack)))
    return heads, unidentified


def _phase(stack: list[tuple[int, str, bool]]) -> str | None:
    sections = [(level, text) for level, text, is_task in stack if not is_task and text]
    for _level, text in reversed(sections):
        if re.match(r"(?i)phase\b", text):
            return text
    below_title = [text for level, text in sections if level >= 2]
    return below_title[-1] if below_title else None


def _phase_pattern(phase: str) -> re.Pattern[str]:
    wanted = phase.strip()
    if re.fullmatch(r"[\d.]+", wanted):
        return re.compile(rf"(?i)^phase\s+{re.escape(wanted)}(?!\w)")
    return re.compile(rf"(?i)(?<!\w){re.escape(wanted)}(?!\w)")


# --- building tasks ---------------------------------------------------------------------

_TOKEN = r"(?:\[([^\[\]\n]{1,40})\]|\(([^()\n]{1,40})\))"
_LEAD_TOKEN = re.compile(rf"^{_TOKEN}")
_TAIL_TOKEN = re.compile(rf"\s*{_TOKEN}\s*$")
_HEADING_MARK = re.compile(r"\s*[\[(](A?SYNC)[\])]", re.IGNORECASE)
_LEAD_SEP = re.compile(r"^(?:\s*(?::|\.(?=\s|$)|[\u2014\u2013|-](?=\s|$)))*\s*")


def _classify(token: str) -> tuple[set[str], list[str]] | None:
    """Markers and stories in a bracket token, or None if it is not a marker token."""
    markers: set[str] = set()
    stories: list[str] = []
    for part in re.split(r"\s*[,;|]\s*", token.strip()):
        word = part.upper()
        story = re.fullmatch(r"(?:STORY\s*:?\s*)?(US\d+)", word)
        if word in ("P", "PARALLEL"):
            markers.add("P")
        elif word in ("ASYNC", "SYNC"):
            markers.add(word)
        elif story:
            stories.append(story.group(1))
        else:
            return None
    return markers, stories


def _parse_title(rest: str, heading: bool) -> tuple[frozenset[str], str | None, str]:
    markers: set[str] = set()
    stories: list[str] = []
    text = rest
    while True:
        text = _LEAD_SEP.sub("", text, count=1)
        m = _LEAD_TOKEN.match(text)
        found = _classify(m.group(1) or m.group(2)) if m else None
        if m is None or found is None:
            break
        markers |= found[0]
        stories += found[1]
        text = text[m.end() :]
    while (m := _TAIL_TOKEN.search(text)) and (found := _classify(m.group(1) or m.group(2))):
        markers |= found[0]
        stories += found[1]
        text = text[: m.start()]
    if heading:
        markers |= {tok.upper() for tok in _HEADING_MARK.findall(text)}
        text = _HEADING_MARK.sub("", text)
    return frozenset(markers), (stories[0] if stories else None), " ".join(text.split())


def _build(head: _Head, lines: list[_Line], starts: frozenset[int]) -> Task:
    line = lines[head.index]
    markers, story, title = _parse_title(head.rest, head.kind == "heading")
    if head.box is not None:
        state = _BOX_STATE.get(head.box, TaskState.SKIPPED)
    else:
        state = TaskState.DONE if DONE_MARK in head.rest else TaskState.PENDING
        title = " ".join(title.replace(DONE_MARK, " ").split())
    body = _continuation(head, lines, starts)
    description = "\n".join([title, *body])
    return Task(
        id=head.task_id,
        title=title,
        description=description,
        state=state,
        markers=markers,
        story=story,
        phase=head.phase,
        files=_files(description),
        depends_on=_depends(description, head.task_id),
        line=line.no,
        raw=line.raw,
    )


def _continuation(head: _Head, lines: list[_Line], starts: frozenset[int]) -> list[str]:
    """Lines belonging to ``head``; a nested task's own block is skipped, not a stop."""
    body: list[str] = []
    nested: int | None = None  # indent of a nested task whose block is being skipped
    for j in range(head.index + 1, len(lines)):
        line = lines[j]
        blank, indent = not line.text.strip(), _indent(line.text)
        heading = None if line.code else _heading(line.text)
        if head.kind == "heading":
            if j in starts or (heading and heading[0] <= head.level):
                break
        elif not blank and (heading or indent <= head.indent):
            break
        elif j in starts:
            nested = indent
            continue
        if nested is not None and (blank or indent > nested):
            continue
        nested = None
        body.append(line.text.rstrip())
    while body and body[-1].strip() in ("", "---", "***", "___"):
        body.pop()
    return textwrap.dedent("\n".join(body)).split("\n") if body else []


def _check_duplicates(tasks: tuple[Task, ...], path: Path) -> None:
    seen: dict[str, int] = {}
    for task in tasks:
        if task.id in seen:
            raise DuplicateTaskError(
                f"duplicate task ID {task.id} on lines {seen[task.id]} and {task.line} of {path}",
                hint="Give every task its own ID.",
            )
        seen[task.id] = task.line


def _id_span(ids: list[str]) -> str:
    if not ids:
        return "none"
    return ", ".join(ids) if len(ids) <= 6 else f"{ids[0]} .. {ids[-1]} ({len(ids)} tasks)"


# --- dependencies and files -------------------------------------------------------------

_DEPENDS = re.compile(
    r"(?i)\b(?:depends?\s+(?:up)?on|dependenc(?:y|ies)|requires|after|blocked\s+by"
    r"|waits?\s+for|needs)\b[\s*_:]*"
    r"(T\d+(?:[a-z]|\.\d+)?(?:\s*(?:,|;|&|/|\band\b|\bor\b|[-\u2013]|\bto\b|\bthrough\b)\s*"
    r"T\d+(?:[a-z]|\.\d+)?)*)"
)
_DEP_RANGE = re.compile(r"(?i)T(\d+)\s*(?:[-\u2013]|\bto\b|\bthrough\b)\s*T(\d+)(?![a-z\d])")
_DEP_ID = re.compile(r"(?i)T\d+(?:[a-z]|\.\d+)?")


def _depends(text: str, own_id: str) -> tuple[str, ...]:
    found: list[str] = []
    for m in _DEPENDS.finditer(text):
        group, pos = m.group(1), 0
        for r in _DEP_RANGE.finditer(group):
            found += [normalize_task_id(t) for t in _DEP_ID.findall(group[pos : r.start()])]
            lo, hi, width = int(r.group(1)), int(r.group(2)), len(r.group(1))
            found += [f"T{n:0{width}d}" for n in range(lo, hi + 1)] if 0 < hi - lo <= 100 else []
            pos = r.end()
        found += [normalize_task_id(t) for t in _DEP_ID.findall(group[pos:])]
    return tuple(dict.fromkeys(t for t in found if t != own_id))


_EXTS = frozenset(
    "py pyi md mdx rst txt toml yaml yml json jsonc ini cfg conf env xml csv lock mod sum "
    "ts tsx js jsx mjs cjs vue svelte astro html htm css scss sass less go rs java kt kts "
    "scala groovy gradle rb php cs fs swift dart c h cc cpp hpp m mm lua r ex exs erl hs ml "
    "clj sh bash zsh ps1 sql tf tfvars hcl proto graphql gql ipynb tpl j2 properties".split()
)
_NAMES = frozenset(
    "Dockerfile Containerfile Makefile Justfile Procfile Gemfile Jenkinsfile".split()
)
_NOT_FILES = frozenset(
    "node.js next.js nuxt.js vue.js react.js express.js three.js chart.js d3.js nest.js".split()
)
_FILE_TOKEN = re.compile(r"`([^`\n]+)`|([^\s`'\"()<>,;]+)")


def _files(text: str) -> tuple[str, ...]:
    found: list[str] = []
    for m in _FILE_TOKEN.finditer(text):
        quoted = m.group(1) is not None
        token = (m.group(1) if quoted else m.group(2)).strip().split("#", 1)[0]
        token = token.rstrip(".:") if not quoted else token
        if token and _is_path(token, quoted):
            found.append(token)
    return tuple(dict.fromkeys(found))


def _is_path(token: str, quoted: bool) -> bool:
    if " " in token or "://" in token or token.lower() in _NOT_FILES:
        return False
    segments = token.strip("/").split("/")
    if not all(re.fullmatch(r"[\w.\[\]{}@*+~-]+", s) for s in segments):
        return False
    last = segments[-1]
    ext = last.rsplit(".", 1)[1] if "." in last.strip(".") else ""
    named = last in _NAMES or ext.lower() in _EXTS and re.search(r"[A-Za-z_]", last[: -len(ext)])
    if "/" in token.strip("/") or token.endswith("/"):
        return quoted or token.endswith("/") or bool(named) or last.startswith(".")
    return bool(named) or (quoted and re.fullmatch(r"\.[\w.-]+", last) is not None)
