from __future__ import annotations

import pytest

from runtime.common.durations import human_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600),
        ("90", 90),
        ("45s", 45),
        ("10m", 600),
        ("90m", 5400),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1d2h3m4s", 93784),
        (" 2h ", 7200),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", " ", "h", "2x", "1.5h", "-5", "m90", "2m1h", "1w"])
def test_bad_durations_name_the_input_and_examples(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as err:
        parse_duration(text)
    assert "e.g." in str(err.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (7, "7s"),
        (192, "3m12s"),
        (7500, "2h5m"),
        (356400, "4d3h"),
        (7.9, "7s"),
    ],
)
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text
