from __future__ import annotations

import datetime

import pytest

from runtime.common.timestamps import parse_rfc3339, rfc3339


def test_round_trip_in_utc() -> None:
    moment = datetime.datetime(
        2026, 12, 1, 10, 30, 5, 999, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert rfc3339(moment) == "2026-12-01T08:30:05Z"
    assert parse_rfc3339("2026-12-01T08:30:05Z") == moment.replace(microsecond=0)


@pytest.mark.parametrize("text", ["", "  ", "yesterday", "2026-13-01T00:00:00Z"])
def test_not_a_timestamp_is_none(text: str) -> None:
    assert parse_rfc3339(text) is None


def test_naive_is_read_as_utc() -> None:
    assert parse_rfc3339("2026-12-01T00:00:00") == datetime.datetime(
        2026, 12, 1, tzinfo=datetime.UTC
    )
