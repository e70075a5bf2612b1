from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.cli import main

REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "tasks"


@pytest.fixture
def feature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repo with one feature whose tasks.md is the current-template fixture."""
    (tmp_path / ".specify").mkdir()
    folder = tmp_path / "specs" / "001-photo-albums"
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "current_template.md", folder / "tasks.md")
    monkeypatch.chdir(tmp_path)
    for var in ("SPECIFY_FEATURE_DIRECTORY", "SPECIFY_FEATURE", "SPECIFY_INIT_DIR"):
        monkeypatch.delenv(var, raising=False)
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json(feature: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tasks", "list", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["tasks_file"] == str(feature / "tasks.md")
    assert data["feature"] == "001-photo-albums"
    assert data["count"] == 5
    assert [t["id"] for t in data["tasks"]] == ["T001", "T002", "T012", "T013", "T014"]
    assert data["tasks"][2]["markers"] == ["ASYNC", "P"]
    assert data["unidentified"] == []


def test_list_filters(feature: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "tasks", "list", "--async", "--pending", "--phase", "3", "--json")
    assert [t["id"] for t in json.loads(out)["tasks"]] == ["T012", "T013"]


def test_list_table(feature: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tasks", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "MARKERS", "TITLE"]
    assert lines[2].split()[:4] == ["T002", "[X]", "P,SYNC", "Add"]
    assert lines[3].split()[:5] == ["T012", "[", "]", "P,ASYNC,US1", "Create"]
    assert "5 of 5 tasks shown, 1 done" in err


def test_explicit_tasks_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "heading_tasks.md"
    code, out, _ = run(capsys, "tasks", "list", "--tasks", str(path), "--async", "--json")
    assert code == 0
    assert [t["id"] for t in json.loads(out)["tasks"]] == ["T001", "T004"]


def test_show_json(feature: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tasks", "show", "t014", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["id"], data["depends_on"], data["line"]) == ("T014", ["T012", "T013"], 26)
    assert data["files"] == ["src/services/upload.py"]


def test_show_text(feature: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tasks", "show", "T012")
    assert code == 0
    assert "markers:    P,ASYNC,US1" in out
    assert out.rstrip().endswith("Create Album model in src/models/album.py")


def test_done_marks_in_place(feature: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tasks", "done", "T013")
    assert (code, out) == (0, "")
    assert "T013 marked done" in err
    assert "- [X] T013 [US1]" in (feature / "tasks.md").read_text(encoding="utf-8")
    code, out, _ = run(capsys, "tasks", "done", "T013", "--json")
    assert code == 0
    assert json.loads(out) == {
        "tasks_file": str(feature / "tasks.md"),
        "id": "T013",
        "changed": False,
    }


def test_unknown_id_exit_13(feature: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tasks", "show", "setup")
    assert (code, out) == (13, "")
    assert err.splitlines() == [
        f"ERROR: unknown task ID 'setup' in {feature / 'tasks.md'}",
        "Hint: Known IDs: T001, T002, T012, T013, T014.",
    ]
    code, _, err = run(capsys, "tasks", "done", "T015")
    assert code == 13 and err.splitlines()[1].startswith("Hint: Nearest IDs: T01")


def test_no_tasks_file_exit_10(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tasks", "list", "--tasks", str(tmp_path))
    assert code == 10
    assert err.splitlines()[0].startswith("ERROR: no tasks.md in ")
    assert err.splitlines()[1] == "Hint: Run /speckit.tasks first."


def test_parse_error_exit_11(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tasks", "list", "--tasks", str(FIXTURES / "no_tasks.md"))
    assert code == 11 and err.startswith("ERROR: no spec-kit tasks")


DUPLICATE_WARNINGS = [
    "WARNING: task ID T001 appears on lines 5 and 7; those tasks are skipped "
    "(rename one to address it)",
    "WARNING: task ID T004 appears on lines 9, 10 and 11; those tasks are skipped "
    "(rename all but one to address it)",
]


@pytest.fixture
def duplicated(tmp_path: Path) -> Path:
    """A copy of the duplicate-IDs fixture (``done`` writes to it)."""
    path = tmp_path / "tasks.md"
    shutil.copy(FIXTURES / "duplicate_ids.md", path)
    return path


def test_list_warns_once_per_duplicated_id_and_lists_the_rest(
    duplicated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "tasks", "list", "--tasks", str(duplicated))
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["T002", "T003"]
    assert err.splitlines() == [*DUPLICATE_WARNINGS, "2 of 2 tasks shown, 0 done"]
    code, out, _ = run(capsys, "tasks", "list", "--tasks", str(duplicated), "--json")
    assert code == 0
    assert json.loads(out)["duplicates"] == [
        {"id": "T001", "lines": [5, 7]},
        {"id": "T004", "lines": [9, 10, 11]},
    ]


def test_show_and_done_of_a_duplicated_id_exit_12(
    duplicated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = duplicated.read_bytes()
    for action in ("show", "done"):
        code, out, err = run(capsys, "tasks", action, "T001", "--tasks", str(duplicated))
        assert (code, out) == (12, "")
        assert (
            err.splitlines()[0] == f"ERROR: duplicate task ID T001 on lines 5 and 7 of {duplicated}"
        )
        assert err.splitlines()[1].startswith("Hint: Rename one of them")
    assert duplicated.read_bytes() == before


def test_show_and_done_of_a_unique_id_warn_and_work(
    duplicated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "tasks", "show", "T003", "--tasks", str(duplicated))
    assert code == 0 and out.startswith("id:         T003")
    assert err.splitlines() == DUPLICATE_WARNINGS
    code, out, err = run(capsys, "tasks", "done", "T003", "--tasks", str(duplicated))
    assert (code, out) == (0, "")
    assert err.splitlines() == [*DUPLICATE_WARNINGS, f"T003 marked done in {duplicated}"]
    assert "- [X] T003 Third" in duplicated.read_text(encoding="utf-8")


def test_no_warnings_without_duplicates(feature: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "tasks", "list")
    assert "WARNING" not in err


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "tasks", "show")
    assert code == 2


def test_python_dash_m_runtime(feature: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "runtime", "tasks", "list", "--json", "--async"],
        cwd=feature,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert [t["id"] for t in json.loads(proc.stdout)["tasks"]] == ["T001", "T012", "T013"]
