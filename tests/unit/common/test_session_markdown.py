"""An opencode export as markdown: readable, capped, and no escape reaches the terminal."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.common.session_markdown import MAX_OUTPUT_CHARS, fenced, render

ATTACKS = [
    "\x1b[2J\x1b[H",  # clear the screen
    "\x1b]0;title\x07",  # window title
    "\x1b]52;c;Y3VybCBldmlsLnNo\x07",  # clipboard
    "\x1bP+q\x1b\\",  # DCS
    "\u202eevil",  # bidi override
    "a\rb",  # carriage return: rewrite the line
    "\x9b31m",  # C1 CSI
]


def session(*parts: dict[str, Any], role: str = "assistant") -> dict[str, Any]:
    return {
        "info": {"id": "ses_1", "title": "t"},
        "messages": [{"info": {"role": role}, "parts": list(parts)}],
    }


def tool(output: object, **state: Any) -> dict[str, Any]:
    return {
        "type": "tool",
        "tool": "bash",
        "state": {"status": "completed", "input": {"command": "ls"}, "output": output, **state},
    }


def assert_inert(text: str) -> None:
    forbidden = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0]
    assert not forbidden and "\u202e" not in text, repr(text)


@pytest.mark.parametrize("attack", ATTACKS)
def test_no_escape_survives_in_any_field(attack: str) -> None:
    hostile = {
        "info": {"id": attack, "title": attack, "model": {"providerID": attack, "id": attack}},
        "messages": [
            {
                "info": {"role": attack},
                "parts": [
                    {"type": "text", "text": f"x{attack}y"},
                    {"type": "reasoning", "text": attack},
                    {"type": attack},
                    {"type": "tool", "tool": attack, "state": {
                        "status": "error", "input": {"command": attack}, "output": attack,
                        "error": attack,
                    }},
                ],
            }
        ],
    }  # fmt: skip
    assert_inert(render(hostile))


def test_messages_tool_calls_and_outputs_in_order() -> None:
    text = render(
        session(
            {"type": "step-start"},
            {"type": "text", "text": "I will list.\nThen write."},
            tool("a.txt\nb.txt\n"),
            {"type": "step-finish", "reason": "stop"},
        )
    )
    assert text.splitlines()[:5] == ["# Session ses_1: t", "", "## assistant", "", "I will list."]
    assert "**tool `bash`** (completed)" in text
    assert '```json\n{\n "command": "ls"\n}\n```' in text
    assert "```text\na.txt\nb.txt\n```" in text


def test_a_tool_output_is_capped() -> None:
    text = render(session(tool("x" * (MAX_OUTPUT_CHARS + 500))))
    assert "… (500 more characters not shown)" in text
    assert text.count("x") <= MAX_OUTPUT_CHARS + 10


def test_an_output_cannot_close_its_code_block() -> None:
    block = fenced("```\n# heading outside?\n`````")
    assert block.startswith("``````text\n") and block.endswith("\n``````")


def test_unexpected_shapes_are_skipped_not_errors() -> None:
    for odd in ({}, {"messages": "x"}, {"messages": [1, None, {"parts": [1, {"type": 3}]}]}):
        assert render(odd).startswith("# Session ?")
    assert "error: boom" in render(session(tool(None, status="error", error="boom")))
