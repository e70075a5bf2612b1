"""The LLM proxy's accounting: what ``usage.json`` holds, the budget from the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.agent import llm_usage
from runtime.agent.llm_usage import OverBudget, Usage, UsageMeter, read_usage, token_budget
from runtime.contract.pod import LLM_USAGE_FILE

# --- the token budget -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (None, "")),
        ({"LLM_TOKEN_BUDGET": " "}, (None, "")),
        ({"LLM_TOKEN_BUDGET": "1000"}, (1000, "")),
        ({"LLM_TOKEN_BUDGET": "0"}, (0, "not a positive whole number")),
        ({"LLM_TOKEN_BUDGET": "-5"}, (0, "not a positive whole number")),
        ({"LLM_TOKEN_BUDGET": "1e3"}, (0, "not a positive whole number")),
    ],
)
def test_the_budget_from_the_environment_fails_closed(
    env: dict[str, str], expected: tuple[int | None, str]
) -> None:
    budget, problem = token_budget(env)
    assert budget == expected[0]
    assert expected[1] in problem and (not expected[1]) == (not problem)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, Usage(1, 2, 3, 0)),  # a file without the budget fields: no budget
        ({"refused": 4, "budget": 5}, Usage(1, 2, 3, 0, 4, 5)),
        ({"budget": "5"}, None),
        ({"budget": -1}, None),
        ({"refused": True}, None),
    ],
)
def test_read_usage_reads_the_budget_strictly(
    tmp_path: Path, extra: dict[str, object], expected: Usage | None
) -> None:
    data = {"requests": 1, "input_tokens": 2, "output_tokens": 3, "errors": 0, **extra}
    (tmp_path / LLM_USAGE_FILE).write_text(json.dumps(data))
    assert read_usage(tmp_path) == expected
    if expected is not None and expected.budget:
        assert expected.over_budget == OverBudget(5, 5)  # reached counts as over


# --- the meter ------------------------------------------------------------------------


def test_usage_meter_skips_a_line_over_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm_usage, "MAX_SSE_LINE_BYTES", 64)
    meter = UsageMeter("text/event-stream; charset=utf-8")
    huge = b'data: {"usage": {"prompt_tokens": 1000, "completion_tokens": 1000}, "pad": "'
    meter.feed(huge + b"x" * 100)
    meter.feed(b'x"}\n\n')
    meter.feed(b'data: {"usage": {"prompt_tokens": 2, "completion_tokens": 1}}\n\n')
    assert meter.finish() == (2, 1)


def test_usage_meter_ignores_other_content_types() -> None:
    meter = UsageMeter("text/plain")
    meter.feed(b'data: {"usage": {"prompt_tokens": 2, "completion_tokens": 1}}\n\n')
    assert meter.finish() == (0, 0)
