from __future__ import annotations

from runtime.common.tables import render_table


def test_columns_align_and_lines_have_no_trailing_space() -> None:
    text = render_table(["task", "state"], [["T001", "running"], ["T0100", "-"]])
    assert text.splitlines() == ["TASK   STATE", "T001   running", "T0100  -"]


def test_header_only() -> None:
    assert render_table(["a", "bb"], []) == "A  BB"
