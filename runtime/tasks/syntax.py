"""Scan spec-kit ``tasks.md`` markdown: find task lines and pull out their parts.

Low-level helpers for :mod:`runtime.tasks.parse`, which owns the ``Task`` model.

Supported syntax (each rule has a fixture under ``tests/unit/fixtures/tasks/``):

* Checkbox tasks, current template and older ``## Phase 3.1: Setup`` layout:
  ``- [ ] T012 [P] [ASYNC] [US1] Create model in src/models/x.py``.  Bullets ``-``,
  ``*``, ``+`` or ``1.``/``1)``, at any indentation.  Boxes: ``[ ]`` pending,
  ``[x]``/``[X]`` done, ``[-]``/``[~]`` skipped.
* IDs ``T<digits>`` with an optional letter or ``.N`` (``T003a``, ``T021A``,
  ``T004.1``), plain or bold
  (``**T001**``, ``**T001 [P]**``, ``**T001**: desc``, ``**T001:** desc``).
  The letter's case does not matter, as in every lookup: ``T021A`` is task
  ``T021a`` (:func:`normalize_task_id`; ``raw`` keeps the spelling), so ``T021A``
  and ``T021a`` in one file are the same ID twice.
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
  Checkbox items without an ID go to ``TaskList.unidentified``.
* An ID on more than one task line: all those tasks go to
  ``TaskList.duplicate_tasks`` instead of ``TaskList.tasks`` (see
  :mod:`runtime.tasks.parse`); the other tasks parse as usual.
* ``depends_on``: IDs after ``depends on``, ``depends upon``, ``dependencies:``,
  ``requires``, ``after``, ``blocked by``, ``waits for``, ``needs``; lists joined
  by ``,``/``and``/``&``/``/`` and ranges ``T001-T003`` (expanded).
* ``files``: backticked paths and bare tokens that look like paths (a ``/`` with
  a file extension or a trailing ``/``, or ``name.ext`` with a known extension).
  These two are read by :mod:`runtime.tasks.references`.
* ``phase``: the nearest enclosing heading starting with "Phase", else the
  nearest heading below the title.

Tables (``| T001 | ... |``) are not read.  CRLF and a UTF-8 BOM are accepted.
"""

from __future__ import annotations

import functools
import re
import textwrap
from dataclasses import dataclass

__all__ = [
    "Line",
    "TaskHead",
    "continuation",
    "find_heads",
    "normalize_task_id",
    "parse_title",
    "scan_lines",
]


def normalize_task_id(task_id: str) -> str:
    """Spell an ID as the parser does: ``t003A`` becomes ``T003a``."""
    text = task_id.strip()
    if re.fullmatch(r"[tT]\d+(?:[a-zA-Z]|\.\d+)?", text):
        return "T" + text[1:].lower()
    return text


# --- scanning ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the file, with HTML comments removed."""

    no: int  # 1-based
    raw: str  # without line ending
    text: str  # comments removed; raw for code lines
    code: bool  # fenced code, fence delimiter or front matter: never a task


@dataclass(frozen=True, slots=True)
class TaskHead:
    """The line that starts a task, split into ID and the rest of the title."""

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
    r"(T\d+(?:[a-zA-Z]|\.\d+)?)(?!\w|\.\w)"  # T001, T003a, T021A, T004.1; not T001ab, T001.md
    r"(?!\s*(?:[-\u2013\u2014,/&+]|to\b|and\b|or\b|through\b)\s*T\d)"  # not a range/list
)
_PHASE_WORD = re.compile(r"(?i)phase\b")
_YAML_LINE = re.compile(r"^(?:\s*$|#|[\w-]+\s*:|\s+\S|-\s+[^\[\s])")


def scan_lines(text: str) -> list[Line]:
    """Split ``text`` into lines, marking front matter and fenced code, dropping comments."""
    raws = [r.removesuffix("\r") for r in text.split("\n")]
    front = _front_matter_end(raws)
    out: list[Line] = []
    fence: tuple[str, int] | None = None
    in_comment = False
    for i, raw in enumerate(raws):
        if i <= front:
            out.append(Line(i + 1, raw, raw, True))
        elif fence is not None:
            if re.fullmatch(rf"[ \t]*{re.escape(fence[0])}{{{fence[1]},}}[ \t]*", raw):
                fence = None
            out.append(Line(i + 1, raw, raw, True))
        else:
            starts_in_comment = in_comment
            visible, in_comment = _strip_comments(raw, in_comment)
            m = None if starts_in_comment else _FENCE_OPEN.match(visible)
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                fence = (m.group(1)[0], len(m.group(1)))
                out.append(Line(i + 1, raw, raw, True))
            else:
                out.append(Line(i + 1, raw, visible, False))
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
        rest = f"{inner[m.end() :]} {text[bold.end() :]}" if m else ""
        return (normalize_task_id(m.group(1)), rest) if m else None
    m = _ID_AT.match(text)
    return (normalize_task_id(m.group(1)), text[m.end() :]) if m else None


def find_heads(lines: list[Line]) -> tuple[list[TaskHead], list[tuple[int, str]]]:
    """Every line that starts a task, plus ``(line, text)`` of checkbox items without an ID."""
    heads: list[TaskHead] = []
    unidentified: list[tuple[int, str]] = []
    stack: list[tuple[int, str, bool]] = []  # (level, text, is_task)
    phase: str | None = None  # _phase(stack), kept up to date as the stack changes
    for i, line in enumerate(lines):
        if line.code or not line.text.strip():
            continue
        if found := _heading(line.text):
            level, htext = found
            split = _split_id(htext)
            while stack and stack[-1][0] >= level:
                stack.pop()
            if split:
                heads.append(TaskHead(i, "heading", 0, level, *split, None, _phase(stack)))
            stack.append((level, htext.strip("*_ "), split is not None))
            phase = _phase(stack)
        elif m := _ITEM.match(line.text):
            box, rest = m.group(2), m.group(3)
            split = _split_id(rest)
            if split:
                kind = "box" if box else "weak"
                heads.append(TaskHead(i, kind, _indent(line.text), 0, *split, box, phase))
            elif box:
                unidentified.append((line.no, rest.strip()))
        elif _indent(line.text) <= 3 and (split := _split_id(line.text.strip())):
            heads.append(TaskHead(i, "weak", _indent(line.text), 0, *split, None, phase))
    return heads, unidentified


def _phase(stack: list[tuple[int, str, bool]]) -> str | None:
    sections = [(level, text) for level, text, is_task in stack if not is_task and text]
    for _level, text in reversed(sections):
        if _PHASE_WORD.match(text):
            return text
    below_title = [text for level, text in sections if level >= 2]
    return below_title[-1] if below_title else None


def continuation(head: TaskHead, lines: list[Line], starts: frozenset[int]) -> list[str]:
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


# --- markers ----------------------------------------------------------------------------

_TOKEN = r"(?:\[([^\[\]\n]{1,40})\]|\(([^()\n]{1,40})\))"
_LEAD_TOKEN = re.compile(rf"^{_TOKEN}")
_TAIL_TOKEN = re.compile(rf"\s*{_TOKEN}\s*$")
_CLOSERS = ("]", ")")  # cheap pre-test: a tail token ends the text
_HEADING_MARK = re.compile(r"\s*[\[(](A?SYNC)[\])]", re.IGNORECASE)
_LEAD_SEP = re.compile(r"^(?:\s*(?::|\.(?=\s|$)|[\u2014\u2013|-](?=\s|$)))*\s*")
_TOKEN_SEP = re.compile(r"\s*[,;|]\s*")
_STORY = re.compile(r"(?:STORY\s*:?\s*)?(US\d+)")


@functools.lru_cache(maxsize=1024)
def _classify(token: str) -> tuple[frozenset[str], tuple[str, ...]] | None:
    """Markers and stories in a bracket token, or None if it is not a marker token."""
    markers: set[str] = set()
    stories: list[str] = []
    for part in _TOKEN_SEP.split(token.strip()):
        word = part.upper()
        story = _STORY.fullmatch(word)
        if word in ("P", "PARALLEL"):
            markers.add("P")
        elif word in ("ASYNC", "SYNC"):
            markers.add(word)
        elif story:
            stories.append(story.group(1))
        else:
            return None
    return frozenset(markers), tuple(stories)


def parse_title(rest: str, heading: bool) -> tuple[frozenset[str], str | None, str]:
    """Split the text after the ID into (markers, first story, clean title)."""
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
    while text.rstrip()[-1:] in _CLOSERS and (m := _TAIL_TOKEN.search(text)):
        if (found := _classify(m.group(1) or m.group(2))) is None:
            break
        markers |= found[0]
        stories += found[1]
        text = text[: m.start()]
    if heading:
        markers |= {tok.upper() for tok in _HEADING_MARK.findall(text)}
        text = _HEADING_MARK.sub("", text)
    return frozenset(markers), (stories[0] if stories else None), " ".join(text.split())
