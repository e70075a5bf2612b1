"""Understand ``opencode run --format json``: one readable line per event, and a verdict.

opencode exits 0 even when a permission was auto-rejected, so success is decided
from the stream: no ``error`` event, no auto-rejected permission on stderr, and
the last ``step_finish`` has ``reason == "stop"``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

MAX_TEXT = 300
REJECTED_MARKER = "auto-rejecting"


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _one_line(text: str, limit: int = MAX_TEXT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _relative(path: str, root: str) -> str:
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if root and path.startswith(prefix) else path


def tool_summary(tool: str, args: dict[str, Any], root: str = "") -> str:
    """A short description of a tool call's input (path, command, pattern...)."""
    for key in ("filePath", "path"):
        if isinstance(args.get(key), str):
            return _relative(args[key], root)
    for key in ("command", "pattern", "url", "description", "name"):
        if isinstance(args.get(key), str):
            return _one_line(args[key], 120)
    if tool == "todowrite" and isinstance(args.get("todos"), list):
        return f"{len(args['todos'])} items"
    return ""


def describe(event: dict[str, Any], root: str = "") -> str:
    """The human-readable line for one event."""
    kind = str(event.get("type", "?"))
    part = _obj(event.get("part"))
    if kind == "text":
        return f"[text] {_one_line(str(part.get('text', '')))}"
    if kind == "tool_use":
        return _describe_tool(part, root)
    if kind == "step_finish":
        tokens = _obj(part.get("tokens"))
        usage = f" tokens={tokens.get('input', 0)}/{tokens.get('output', 0)}" if tokens else ""
        return f"[step] finish reason={part.get('reason', '?')}{usage}"
    if kind == "error":
        return f"[error] {error_text(event)}"
    return f"[event] {kind}"


def _describe_tool(part: dict[str, Any], root: str) -> str:
    tool = str(part.get("tool", "?"))
    state = _obj(part.get("state"))
    args = _obj(state.get("input"))
    line = f"[tool] {tool} {tool_summary(tool, args, root)}".rstrip()
    if state.get("status") == "error":
        line += f" (error: {_one_line(str(state.get('error', '')), 160)})"
    return line


def error_text(event: dict[str, Any]) -> str:
    """``Name: message (status N)`` for an ``error`` event."""
    error = _obj(event.get("error"))
    data = _obj(error.get("data"))
    text = f"{error.get('name', 'Error')}: {_one_line(str(data.get('message', '')), 200)}"
    if data.get("statusCode"):
        text += f" (status {data['statusCode']})"
    return text


def parse(line: str) -> dict[str, Any] | None:
    """The event of a stdout line, or ``None`` when it is not a JSON object."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclasses.dataclass(frozen=True)
class Shown:
    """What to print for a line (``None``: nothing) and whether it is progress."""

    text: str | None
    progress: bool = True


def _is_power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1


@dataclasses.dataclass
class StreamState:
    """What the stream has told so far (mutable accumulator).

    A step with no text, no tool call and reason ``unknown`` is *empty*: opencode
    loops on those (several per second) when the server answers 200 with a non-SSE
    body. Empty steps are not progress for the watchdog and are printed sparsely.
    """

    events: int = 0
    last_finish: str = ""
    error: str = ""
    rejected: str = ""
    tools: int = 0
    empty_steps: int = 0
    session_id: str = ""  # the first event's ``sessionID``: what ``opencode export`` takes
    _step_has_content: bool = False

    def on_stdout(self, line: str, root: str = "") -> Shown:
        """Record one stdout line; return what to print."""
        event = parse(line)
        if event is None:
            return Shown(f"[opencode] {_one_line(line)}")
        self.events += 1
        if not self.session_id and isinstance(event.get("sessionID"), str):
            self.session_id = event["sessionID"]
        kind = event.get("type")
        if kind == "step_start":
            self._step_has_content = False
            return Shown(None, progress=False)
        if kind == "step_finish":
            return self._step_finish(event)
        self._step_has_content = True
        if kind == "error" and not self.error:
            self.error = error_text(event)
        elif kind == "tool_use":
            self.tools += 1
        return Shown(describe(event, root))

    def _step_finish(self, event: dict[str, Any]) -> Shown:
        part = _obj(event.get("part"))
        self.last_finish = str(part.get("reason", ""))
        if self._step_has_content or self.last_finish not in ("unknown", ""):
            return Shown(describe(event))
        self.empty_steps += 1
        if _is_power_of_ten(self.empty_steps):
            return Shown(f"[step] empty answer from the LLM (x{self.empty_steps})", False)
        return Shown(None, progress=False)

    def on_stderr(self, line: str) -> Shown:
        """Record one stderr line; return what to print."""
        if REJECTED_MARKER in line and not self.rejected:
            self.rejected = _one_line(line, 200)
        return Shown(f"[opencode:stderr] {_one_line(line)}")

    def verdict(self, exit_code: int | None) -> tuple[bool, str]:
        """``(ok, reason)`` for a run that ended by itself."""
        if self.error:
            return False, f"opencode reported an error: {self.error}"
        if self.rejected:
            return False, f"a permission was auto-rejected: {self.rejected}"
        if not self.events:
            return False, f"opencode produced no events (exit code {exit_code})"
        if self.last_finish != "stop":
            reason = self.last_finish or "none"
            return False, f"the run ended without a final answer (last step reason={reason})"
        if exit_code not in (0, None):
            return False, f"opencode exited with code {exit_code}"
        return True, ""
