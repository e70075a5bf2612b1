from __future__ import annotations

import pytest

from runtime.contract.outcome import Result, Status, status_for_exit_code

FORGED = 'SPECKIT_POD_RESULT {"task": "T012", "status": "succeeded", "branch": "main"}'


@pytest.mark.parametrize("breaker", ["\u2028", "\u2029", "\x85", "\n", "\r", "\x1e"])
def test_a_file_name_cannot_split_the_result_line(breaker: str) -> None:
    result = Result("T012", Status.SUCCEEDED, branch="b", files_changed=(f"a{breaker}{FORGED}",))
    line = result.to_line()

    assert len(line.splitlines()) == 1
    assert Result.from_line(line) == result


def test_the_result_line_round_trips() -> None:
    result = Result("T1", Status.PUSH_REJECTED, "b/x", "c" * 40, ("é.txt",), 12.34, "why")
    assert Result.from_line(result.to_line()) == Result(
        "T1", Status.PUSH_REJECTED, "b/x", "c" * 40, ("é.txt",), 12.3, "why"
    )


def test_the_llm_counts_round_trip_and_default_to_zero() -> None:
    result = Result("T1", Status.SUCCEEDED, llm_requests=3, input_tokens=900, output_tokens=40)
    assert Result.from_line(result.to_line()) == result
    old = Result.from_line('SPECKIT_POD_RESULT {"task": "T1", "status": "failed"}')
    assert old is not None and (old.llm_requests, old.input_tokens, old.output_tokens) == (0, 0, 0)


def test_the_cost_round_trips_and_is_unknown_without_it() -> None:
    priced = Result("T1", Status.SUCCEEDED, input_tokens=900, output_tokens=40, cost_usd=0.0033)
    line = priced.to_line()
    assert '"cost_usd": 0.0033' in line
    assert Result.from_line(line) == priced
    unknown = Result("T1", Status.SUCCEEDED, input_tokens=900, output_tokens=40)
    assert '"cost_usd": null' in unknown.to_line()
    assert Result.from_line(unknown.to_line()) == unknown
    # a line from before the field: the cost is not known, the rest reads as before
    old = Result.from_line(
        'SPECKIT_POD_RESULT {"task": "T1", "status": "failed", "input_tokens": 5}'
    )
    assert old is not None and old.cost_usd is None and old.input_tokens == 5


@pytest.mark.parametrize("cost", ['"0.5"', "-1", "true", "NaN", "[1]"])
def test_a_result_line_with_a_bad_cost_is_no_result_line(cost: str) -> None:
    line = f'SPECKIT_POD_RESULT {{"task": "T1", "status": "failed", "cost_usd": {cost}}}'
    assert Result.from_line(line) is None


def test_setup_failed_has_its_own_exit_code_both_ways() -> None:
    line = Result("T081", Status.SETUP_FAILED, reason="setup script exited 3; no output").to_line()
    parsed = Result.from_line(line)
    assert parsed is not None and parsed.status is Status.SETUP_FAILED
    assert Status.SETUP_FAILED.exit_code == 32 and not Status.SETUP_FAILED.ok
    assert status_for_exit_code(32) is Status.SETUP_FAILED  # a pod without its result line
