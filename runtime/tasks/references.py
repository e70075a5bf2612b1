"""Find the task IDs and file paths a task description refers to.

The rules are summarised with the rest of the supported syntax in
:mod:`runtime.tasks.syntax`.
"""

from __future__ import annotations

import re

from runtime.tasks.syntax import normalize_task_id

__all__ = ["find_dependencies", "find_files"]

# --- dependencies ---------------------------------------------------------------------

_DEPENDS = re.compile(
    r"(?i)\b(?:depends?\s+(?:up)?on|dependenc(?:y|ies)|requires|after|blocked\s+by"
    r"|waits?\s+for|needs)\b[\s*_:]*"
    r"(T\d+(?:[a-z]|\.\d+)?(?:\s*(?:,|;|&|/|\band\b|\bor\b|[-\u2013]|\bto\b|\bthrough\b)\s*"
    r"T\d+(?:[a-z]|\.\d+)?)*)"
)
_DEP_RANGE = re.compile(r"(?i)T(\d+)\s*(?:[-\u2013]|\bto\b|\bthrough\b)\s*T(\d+)(?![a-z\d])")
_DEP_ID = re.compile(r"(?i)T\d+(?:[a-z]|\.\d+)?")
_ANY_ID = re.compile(r"(?i)T\d")


def find_dependencies(text: str, own_id: str) -> tuple[str, ...]:
    """IDs named after ``depends on``/``requires``/... in ``text``, ranges expanded."""
    found: list[str] = []
    if _ANY_ID.search(text) is None:  # cheap test first: no ID, no dependency
        return ()
    for m in _DEPENDS.finditer(text):
        group, pos = m.group(1), 0
        for r in _DEP_RANGE.finditer(group):
            found += [normalize_task_id(t) for t in _DEP_ID.findall(group[pos : r.start()])]
            lo, hi, width = int(r.group(1)), int(r.group(2)), len(r.group(1))
            found += [f"T{n:0{width}d}" for n in range(lo, hi + 1)] if 0 < hi - lo <= 100 else []
            pos = r.end()
        found += [normalize_task_id(t) for t in _DEP_ID.findall(group[pos:])]
    return tuple(dict.fromkeys(t for t in found if t != own_id))


# --- files ----------------------------------------------------------------------------

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
_ANY_NAME = re.compile("|".join(sorted(_NAMES)))
_FILE_TOKEN = re.compile(r"`([^`\n]+)`|([^\s`'\"()<>,;]+)")
# The same tokens, skipping bare ones without "/" or "." (paths only if in _NAMES).
_PATH_TOKEN = re.compile(
    r"`([^`\n]+)`"
    r"|(?<![^\s`'\"()<>,;])([^\s`'\"()<>,;]*[./][^\s`'\"()<>,;]*)"  # from a token's start
)
_SEGMENTS = re.compile(r"[\w.\[\]{}@*+~-]+(?:/[\w.\[\]{}@*+~-]+)*")
_STEM_LETTER = re.compile(r"[A-Za-z_]")
_DOTFILE = re.compile(r"\.[\w.-]+")


def find_files(text: str) -> tuple[str, ...]:
    """Paths named in ``text``: backticked ones and bare tokens that look like paths."""
    found: list[str] = []
    pattern = _FILE_TOKEN if _ANY_NAME.search(text) else _PATH_TOKEN
    for m in pattern.finditer(text):
        bare = m.group(2)
        quoted = bare is None
        token = (m.group(1) if quoted else bare).strip().split("#", 1)[0]
        token = token.rstrip(".:") if not quoted else token
        if not quoted and "/" not in token and "." not in token:
            if token in _NAMES:  # cheap: such a bare token is a path only as a known name
                found.append(token)
        elif token and _is_path(token, quoted):
            found.append(token)
    return tuple(dict.fromkeys(found))


def _is_path(token: str, quoted: bool) -> bool:
    if " " in token or "://" in token or token.lower() in _NOT_FILES:
        return False
    inner = token.strip("/")
    if _SEGMENTS.fullmatch(inner) is None:
        return False
    last = inner.rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[1] if "." in last.strip(".") else ""
    named = last in _NAMES or ext.lower() in _EXTS and _STEM_LETTER.search(last[: -len(ext)])
    if "/" in inner or token.endswith("/"):
        return quoted or token.endswith("/") or bool(named) or last.startswith(".")
    return bool(named) or (quoted and _DOTFILE.fullmatch(last) is not None)
