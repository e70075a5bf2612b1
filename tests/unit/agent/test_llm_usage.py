"""The LLM proxy's accounting: what ``usage.json`` holds, the budget from the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.agent import llm_usage
from runtime.agent.llm_usage import (
    OverBudget,
    Usage,
    UsageMeter,
    UsageTotals,
    cost_settings,
    read_usage,
    token_budget,
)
from runtime.contract.cost import Price
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


# --- the cost and the cost budget -------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "price", "limit", "problems"),
    [
        ({}, None, None, []),
        ({"LLM_PRICE_PER_MTOK": "3/15"}, Price.parse("3/15"), None, []),
        ({"LLM_PRICE_PER_MTOK": " 0.15/0.6 ", "LLM_COST_BUDGET": "0.50"},
         Price.parse("0.15/0.6"), 0.5, []),
        ({"LLM_PRICE_PER_MTOK": "3"}, None, None, ["is not a price", "the cost is unknown"]),
        ({"LLM_PRICE_PER_MTOK": "x/15", "LLM_COST_BUDGET": "1"}, None, 1.0,
         ["is not a price", "the cost budget refuses all"]),
        ({"LLM_COST_BUDGET": "1"}, None, 1.0,
         ["LLM_COST_BUDGET is set without a valid LLM_PRICE_PER_MTOK"]),
        ({"LLM_PRICE_PER_MTOK": "3/15", "LLM_COST_BUDGET": "-1"}, Price.parse("3/15"), 0.0,
         ["is not an amount of US dollars above zero: refusing all"]),
        ({"LLM_PRICE_PER_MTOK": "3/15", "LLM_COST_BUDGET": "0"}, Price.parse("3/15"), 0.0,
         ["refusing all"]),
    ],
)  # fmt: skip
def test_the_price_and_cost_budget_from_the_environment_fail_closed(
    env: dict[str, str], price: Price | None, limit: float | None, problems: list[str]
) -> None:
    got_price, got_limit, got_problems = cost_settings(env)
    assert (got_price, got_limit) == (price, limit)
    logged = "\n".join(got_problems)  # each problem one line: main logs them
    assert all(words in logged for words in problems) and bool(problems) == bool(logged)
    if limit is not None and (price is None or limit == 0):  # every request refused
        over = UsageTotals(None, got_price, got_limit).snapshot().over_budget
        assert over is not None and over.kind == "cost"


def test_the_cost_is_the_counted_tokens_at_the_price_exactly() -> None:
    totals = UsageTotals(price=Price.parse("0.1/0.2"))
    assert totals.snapshot().cost_usd == 0.0
    for _ in range(3):  # 0.1 + 0.2 three times: floats would drift
        totals.add(1_000_000, 1_000_000, error=False)
    assert totals.snapshot().cost_usd == 0.9
    assert UsageTotals().add(5, 3, error=False)[0].cost_usd is None  # no price: unknown


def test_the_cost_budget_is_reached_at_the_budget() -> None:
    totals = UsageTotals(price=Price.parse("1000/1000"), cost_budget=0.02)
    usage, crossed = totals.add(10, 5, error=False)  # $0.015
    assert not crossed and usage.over_budget is None and totals.refuse() is None
    usage, crossed = totals.add(4, 1, error=False)  # $0.02: reached counts as over
    assert crossed and usage.over_budget == OverBudget(0.02, 0.02, "cost")
    assert usage.reached == "cost"
    assert totals.refuse() == OverBudget(0.02, 0.02, "cost")
    assert totals.snapshot().refused == 1


def test_the_budget_reached_first_stays_it() -> None:
    totals = UsageTotals(budget=100, price=Price.parse("1000/1000"), cost_budget=0.05)
    _, crossed = totals.add(40, 10, error=False)  # 50 tokens, $0.05: the cost first
    assert crossed
    usage, crossed = totals.add(60, 0, error=False)  # 110 tokens (in flight): over both now
    assert not crossed and usage.over_budget == OverBudget(0.11, 0.05, "cost")
    both = UsageTotals(budget=50, price=Price.parse("1000/1000"), cost_budget=0.05)
    assert both.add(40, 10, error=False)[0].over_budget == OverBudget(50, 50, "tokens")


def test_usage_json_holds_the_cost_and_over_budget_names_its_kind(tmp_path: Path) -> None:
    usage = Usage(2, 400, 100, 0, 1, None, 0.0125, 0.01, "cost")
    llm_usage.write_usage(tmp_path, usage)
    assert json.loads((tmp_path / LLM_USAGE_FILE).read_text()) == {
        "requests": 2,
        "input_tokens": 400,
        "output_tokens": 100,
        "errors": 0,
        "refused": 1,
        "budget": None,
        "cost_usd": 0.0125,
        "cost_budget": 0.01,
        "over_budget": {"used": 0.0125, "budget": 0.01, "kind": "cost"},
    }
    assert read_usage(tmp_path) == usage


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"cost_usd": None}, Usage(1, 2, 3, 0)),
        ({"cost_usd": 0.5, "cost_budget": 2}, Usage(1, 2, 3, 0, cost_usd=0.5, cost_budget=2.0)),
        ({"cost_usd": 1, "cost_budget": 1, "over_budget": {"kind": "cost"}},
         Usage(1, 2, 3, 0, cost_usd=1.0, cost_budget=1.0, reached="cost")),
        ({"over_budget": {"kind": "everything"}}, Usage(1, 2, 3, 0)),
        ({"cost_usd": "0.5"}, None),
        ({"cost_usd": -0.5}, None),
        ({"cost_usd": True}, None),
        ({"cost_budget": "1"}, None),
    ],
)  # fmt: skip
def test_read_usage_reads_the_cost_strictly(
    tmp_path: Path, extra: dict[str, object], expected: Usage | None
) -> None:
    data = {"requests": 1, "input_tokens": 2, "output_tokens": 3, "errors": 0, **extra}
    (tmp_path / LLM_USAGE_FILE).write_text(json.dumps(data))
    assert read_usage(tmp_path) == expected


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
