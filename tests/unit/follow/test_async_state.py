from __future__ import annotations

import datetime
from pathlib import Path

from runtime.contract.outcome import Result, Status
from runtime.follow import async_state
from runtime.follow.classify import Outcome

NOW = datetime.datetime(2025, 1, 2, 12, 0, tzinfo=datetime.UTC)
OK = Outcome(
    Status.SUCCEEDED,
    "pushed",
    Result(
        task="T012", status=Status.SUCCEEDED, branch="b", commit="abc", files_changed=("x", "y")
    ),
)
BAD = Outcome(Status.FAILED, "the LLM\nrefused", None)


def test_nothing_written_without_the_directory(tmp_path: Path) -> None:
    assert async_state.record(tmp_path, "T012", OK, "pod-1", now=NOW) is None
    assert not (tmp_path / ".async_state").exists()


def test_success_writes_the_completed_marker(tmp_path: Path) -> None:
    (tmp_path / ".async_state").mkdir()
    path = async_state.record(tmp_path, "T012", OK, "pod-1", now=NOW)
    assert path == tmp_path / ".async_state" / "delegation_completed" / "T012.txt"
    text = path.read_text()
    for line in (
        "task: T012",
        "status: succeeded",
        "exit_code: 0",
        "pod: pod-1",
        "branch: b",
        "commit: abc",
        "files_changed: 2",
        "finished_at: 2025-01-02T12:00:00Z",
    ):
        assert line + "\n" in text
    assert not (tmp_path / ".async_state" / "delegation_errors" / "T012.txt").exists()


def test_failure_writes_the_error_marker_on_one_line_per_key(tmp_path: Path) -> None:
    path = async_state.record(tmp_path, "T012", BAD, "pod-1", create=True, now=NOW)
    assert path == tmp_path / ".async_state" / "delegation_errors" / "T012.txt"
    text = path.read_text()
    assert "status: failed\n" in text and "exit_code: 1\n" in text
    assert "reason: the LLM refused\n" in text


def test_a_retry_replaces_the_other_marker(tmp_path: Path) -> None:
    async_state.record(tmp_path, "T012", BAD, "pod-1", create=True, now=NOW)
    async_state.record(tmp_path, "T012", OK, "pod-2", now=NOW)
    root = tmp_path / ".async_state"
    assert (root / "delegation_completed" / "T012.txt").exists()
    assert not (root / "delegation_errors" / "T012.txt").exists()
    async_state.record(tmp_path, "T012", BAD, "pod-3", now=NOW)
    assert not (root / "delegation_completed" / "T012.txt").exists()
    assert [p.name for p in (root / "delegation_errors").iterdir()] == [
        "T012.txt"
    ]  # no temp files left
