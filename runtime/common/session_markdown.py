"""An opencode session export (``opencode export``) as readable markdown, inert.

The export is the agent's: every text in it (messages, tool inputs and outputs, the
title) may hold terminal escapes, bidi overrides or markdown meant to break out of a
code block.  So each line goes through :func:`runtime.contract.redact.printable`,
code blocks are fenced with more backticks than the text holds, and every tool
output is capped (:data:`MAX_OUTPUT_CHARS`).  The structure read is opencode
1.18.33's: ``{"info": {...}, "messages": [{"info": {"role"}, "parts": [...]}]}``;
anything else is skipped, never an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from runtime.contract.redact import printable

MAX_OUTPUT_CHARS = 4000
MAX_INPUT_CHARS = 1000
MAX_TEXT_CHARS = 20000
_BACKTICKS = re.compile(r"`{3,}")


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def inert(text: str) -> str:
    """``text`` with every line made terminal-safe (any line break becomes a newline)."""
    return "\n".join(printable(line) for line in str(text).splitlines())


def one_line(text: object, limit: int = 200) -> str:
    """``text`` on one terminal-safe line, capped."""
    flat = " ".join(printable(" ".join(str(text).split())).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def capped(text: str, limit: int) -> str:
    """The first ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters not shown)"


def fenced(text: str, info: str = "text") -> str:
    """A code block that ``text`` cannot close: its fence is longer than any run in it."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def render(session: dict[str, Any]) -> str:
    """The whole session as markdown: a header, then each message's parts in order."""
    return "\n".join(_lines(session)).rstrip() + "\n"


def _lines(session: dict[str, Any]) -> Iterator[str]:
    info = _obj(session.get("info"))
    yield f"# Session {one_line(info.get('id', '?'), 80)}: {one_line(info.get('title', ''))}"
    model = _obj(info.get("model"))
    facts = [
        f"model {one_line(model.get('providerID', '?'), 60)}/{one_line(model.get('id', '?'), 60)}"
        if model
        else "",
        f"opencode {one_line(info.get('version', ''), 20)}" if info.get("version") else "",
    ]
    tokens = _obj(info.get("tokens"))
    if tokens:
        facts.append(f"tokens {tokens.get('input', 0)} in, {tokens.get('output', 0)} out")
    if any(facts):
        yield ""
        yield " · ".join(fact for fact in facts if fact)
    messages = session.get("messages")
    for message in messages if isinstance(messages, list) else []:
        yield from _message(_obj(message))


def _message(message: dict[str, Any]) -> Iterator[str]:
    role = one_line(_obj(message.get("info")).get("role", "?"), 20)
    yield ""
    yield f"## {role}"
    parts = message.get("parts")
    for part in parts if isinstance(parts, list) else []:
        yield from _part(_obj(part))


def _part(part: dict[str, Any]) -> Iterator[str]:
    kind = part.get("type")
    if kind in ("step-start", "step-finish"):
        return
    yield ""
    if kind == "text":
        yield inert(capped(str(part.get("text", "")), MAX_TEXT_CHARS))
    elif kind == "reasoning":
        yield "_thinking:_"
        yield fenced(inert(capped(str(part.get("text", "")), MAX_TEXT_CHARS)))
    elif kind == "tool":
        yield from _tool(part)
    else:
        yield f"_({one_line(kind, 40)} part not shown)_"


def _tool(part: dict[str, Any]) -> Iterator[str]:
    state = _obj(part.get("state"))
    status = one_line(state.get("status", "?"), 20)
    name = one_line(part.get("tool", "?"), 40).replace("`", "'")
    yield f"**tool `{name}`** ({status})"
    arguments = json.dumps(state.get("input", {}), ensure_ascii=False, indent=1, default=str)
    yield fenced(inert(capped(arguments, MAX_INPUT_CHARS)), "json")
    if state.get("status") == "error":
        yield f"error: {one_line(state.get('error', ''), 500)}"
    output = state.get("output")
    if isinstance(output, str) and output:
        yield fenced(inert(capped(output, MAX_OUTPUT_CHARS)))
