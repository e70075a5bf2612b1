from __future__ import annotations

import json

import pytest

from runtime.contract.outcome import Result, Status
from runtime.contract.start import StartPoint, StartPointError, decode, describe, encode

SHA1 = "1" * 40
SHA2 = "2" * 64  # SHA-256 repositories


def test_points_round_trip_through_the_wire_form() -> None:
    points = (StartPoint("T002", "specs/001-x/T002-async", SHA1), StartPoint("T021a", "b/c", SHA2))

    assert decode(encode(points)) == points
    assert json.loads(encode(points))[0] == {
        "task": "T002",
        "branch": "specs/001-x/T002-async",
        "commit": SHA1,
    }
    assert encode(()) == "" and decode("") == () and decode("  ") == ()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{", "not JSON"),
        ('{"task": "T1"}', "must be a JSON list"),
        ('[{"task": "T002", "branch": "b"}]', "task, branch and commit strings"),
        (f'[{{"task": "x;rm", "branch": "b", "commit": "{SHA1}"}}]', "invalid task ID"),
        (f'[{{"task": "T002", "branch": "a/.b", "commit": "{SHA1}"}}]', "path component"),
        (f'[{{"task": "T002", "branch": "-f", "commit": "{SHA1}"}}]', "starts with '-'"),
        ('[{"task": "T002", "branch": "b", "commit": "HEAD"}]', "not a full commit ID"),
        ('[{"task": "T002", "branch": "b", "commit": "--upload-pack=x"}]', "not a full commit"),
        (
            f'[{{"task": "T002", "branch": "b", "commit": "{SHA1}"}},'
            f'{{"task": "T002", "branch": "c", "commit": "{SHA1}"}}]',
            "named twice",
        ),
    ],
)
def test_malformed_points_are_refused(text: str, why: str) -> None:
    with pytest.raises(StartPointError, match=why):
        decode(text)


def test_describe_is_short() -> None:
    assert describe([StartPoint("T002", "b", SHA1)]) == f"T002@{SHA1[:12]}"
    assert describe([]) == "the base branch"


def test_the_result_line_carries_where_the_run_started() -> None:
    result = Result(
        "T004",
        Status.CONFLICT,
        reason="conflicts in a.py",
        started_from=(StartPoint("T002", "b", SHA1),),
        start_commit="",
    )

    line = result.to_line()

    assert Result.from_line(line) == result
    payload = json.loads(line.split(" ", 1)[1])
    assert payload["started_from"] == [{"task": "T002", "branch": "b", "commit": SHA1}]
    # an older pod's line without the fields still parses
    old = {k: v for k, v in payload.items() if k not in ("started_from", "start_commit")}
    parsed = Result.from_line("SPECKIT_POD_RESULT " + json.dumps(old))
    assert parsed is not None and parsed.started_from == ()
    # a line with broken start points is no result line
    payload["started_from"] = [{"task": "T002", "branch": "b", "commit": "x"}]
    assert Result.from_line("SPECKIT_POD_RESULT " + json.dumps(payload)) is None
