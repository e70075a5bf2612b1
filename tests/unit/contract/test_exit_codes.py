"""One enum owns the exit codes; the docs' table, the errors and the statuses follow it."""

from __future__ import annotations

import inspect
from pathlib import Path

import runtime.errors as errors
from runtime.contract.exit_codes import MEANINGS, ExitCode, markdown, summary
from runtime.contract.outcome import Status, status_for_exit_code

DOC = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"


def test_the_docs_table_is_the_enums() -> None:
    assert markdown() in DOC.read_text(encoding="utf-8"), (
        "docs/architecture.md: exit-code table stale; paste `python -m runtime.contract.exit_codes`"
    )


def test_every_code_has_a_meaning_and_codes_are_distinct() -> None:
    assert set(MEANINGS) == set(ExitCode)
    assert len({int(code) for code in ExitCode}) == len(ExitCode)


def test_every_status_has_its_own_code_and_maps_back() -> None:
    for status in Status:
        assert status.exit_code.name == status.name
        assert status_for_exit_code(status.exit_code) is status


def test_every_error_class_takes_its_code_from_the_enum() -> None:
    classes = [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.SpeckitPodsError)
    ]
    assert len(classes) > 10
    for cls in classes:
        assert ExitCode(cls.exit_code) in ExitCode, cls


def test_summary_names_codes_by_their_slug() -> None:
    assert (
        summary([ExitCode.SUCCEEDED, ExitCode.GIT_AUTH_FAILED]) == "0 succeeded, 6 git-auth-failed"
    )
