from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.agent.events import StreamState, describe, tool_summary


def line(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "timestamp": 1, "sessionID": "ses_1", **fields})


def tool(name: str, args: dict[str, Any], status: str = "completed", **state: Any) -> str:
    part = {"type": "tool", "tool": name, "state": {"status": status, "input": args, **state}}
    return line("tool_use", part=part)


def finish(reason: str, output: int = 5) -> str:
    return line("step_finish", part={"reason": reason, "tokens": {"input": 10, "output": output}})


START = line("step_start", part={"type": "step-start"})
TEXT = line("text", part={"type": "text", "text": "All\n  done."})
ERROR = line(
    "error",
    error={"name": "APIError", "data": {"message": "scripted internal error", "statusCode": 500}},
)


def feed(*lines: str) -> StreamState:
    state = StreamState()
    for text in lines:
        state.on_stdout(text, "/workspace/repo")
    return state


def test_success_needs_a_final_stop_step() -> None:
    state = feed(START, tool("write", {"filePath": "/workspace/repo/a.py"}), finish("tool-calls"))
    state.on_stdout(START)
    state.on_stdout(TEXT)
    state.on_stdout(finish("stop"))

    assert state.verdict(0) == (True, "")
    assert state.tools == 1


def test_error_event_fails_even_with_exit_code_zero() -> None:
    ok, reason = feed(START, ERROR).verdict(0)

    assert not ok
    assert reason == "opencode reported an error: APIError: scripted internal error (status 500)"


def test_auto_rejected_permission_fails_the_run() -> None:
    state = feed(START, TEXT, finish("stop"))
    state.on_stderr("permission requested: external_directory (/etc/*); auto-rejecting")

    ok, reason = state.verdict(0)
    assert not ok
    assert "auto-rejected" in reason and "external_directory" in reason


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((START, finish("tool-calls")), "last step reason=tool-calls"),
        ((), "produced no events"),
        (("not json",), "produced no events"),
    ],
)
def test_runs_without_a_final_answer_fail(lines: tuple[str, ...], expected: str) -> None:
    ok, reason = feed(*lines).verdict(0)

    assert not ok
    assert expected in reason


def test_nonzero_exit_code_fails_an_otherwise_clean_stream() -> None:
    assert feed(START, TEXT, finish("stop")).verdict(1) == (False, "opencode exited with code 1")


def test_readable_lines() -> None:
    state = StreamState()
    root = "/workspace/repo"

    assert state.on_stdout(START).text is None
    assert state.on_stdout(tool("write", {"filePath": f"{root}/src/x.py"}), root).text == (
        "[tool] write src/x.py"
    )
    assert (
        state.on_stdout(tool("bash", {"command": "cat a\n| wc"})).text == "[tool] bash cat a | wc"
    )
    assert state.on_stdout(TEXT).text == "[text] All done."
    assert state.on_stdout(finish("stop")).text == "[step] finish reason=stop tokens=10/5"
    assert state.on_stdout(ERROR).text == ("[error] APIError: scripted internal error (status 500)")
    assert state.on_stdout("plain words").text == "[opencode] plain words"


def test_tool_error_is_shown() -> None:
    text = StreamState().on_stdout(tool("read", {"filePath": "x"}, "error", error="no such file"))

    assert text.text == "[tool] read x (error: no such file)"


def test_empty_steps_are_not_progress_and_printed_sparsely() -> None:
    state = StreamState()
    shown = []
    for _ in range(100):
        state.on_stdout(START)
        shown.append(state.on_stdout(finish("unknown", output=0)))

    assert not any(s.progress for s in shown)
    assert [s.text for s in shown if s.text] == [
        "[step] empty answer from the LLM (x1)",
        "[step] empty answer from the LLM (x10)",
        "[step] empty answer from the LLM (x100)",
    ]
    assert state.empty_steps == 100


def test_long_text_is_cut_to_one_line() -> None:
    text = describe({"type": "text", "part": {"text": "word " * 200}})

    assert len(text) < 320 and "\n" not in text and text.endswith("…")


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("grep", {"pattern": "TODO", "path": "/r/src"}, "src"),
        ("glob", {"pattern": "**/*.py"}, "**/*.py"),
        ("webfetch", {"url": "https://example.com"}, "https://example.com"),
        ("todowrite", {"todos": [{}, {}]}, "2 items"),
        ("task", {"description": "explore", "prompt": "..."}, "explore"),
        ("skill", {}, ""),
    ],
)
def test_tool_summary(name: str, args: dict[str, Any], expected: str) -> None:
    assert tool_summary(name, args, "/r") == expected
