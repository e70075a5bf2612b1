from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import runtime.tasks.edit as tasks_edit
from runtime.errors import (
    DuplicateTaskError,
    SpeckitPodsError,
    TasksFileNotFoundError,
    UnknownTaskError,
)
from runtime.tasks.edit import lock_file, mark_done
from runtime.tasks.parse import TaskState, parse_tasks

REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "tasks"


def write(tmp_path: Path, data: bytes, name: str = "tasks.md") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    old, new = before.split(b"\n"), after.split(b"\n")
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_only_the_checkbox_changes(tmp_path: Path) -> None:
    before = (FIXTURES / "current_template.md").read_bytes()
    path = write(tmp_path, before)
    assert mark_done(path, "T012") is True
    after = path.read_bytes()
    assert changed_lines(before, after) == [
        (
            b"- [ ] T012 [P] [ASYNC] [US1] Create Album model in src/models/album.py",
            b"- [X] T012 [P] [ASYNC] [US1] Create Album model in src/models/album.py",
        )
    ]
    assert len(after) == len(before)
    assert parse_tasks(path).get("T012").is_done


def test_idempotent(tmp_path: Path) -> None:
    path = write(tmp_path, b"- [ ] T001 First\n- [x] T002 Second\n")
    assert mark_done(path, "T001") is True
    once = path.read_bytes()
    assert mark_done(path, "T001") is False
    assert mark_done(path, "t002") is False
    assert path.read_bytes() == once == b"- [X] T001 First\n- [x] T002 Second\n"


def test_every_other_byte_is_kept(tmp_path: Path) -> None:
    before = (
        "\ufeff# Tâches\r\n\r\n- [ ] T001 Café  \r\n  * [ ] T002 [P] naïve ✓\t \r\n"
        "- [ ] T003 last, no newline"
    ).encode()
    path = write(tmp_path, before)
    assert mark_done(path, "T002")
    assert mark_done(path, "T003")
    expected = before.replace(b"* [ ] T002", b"* [X] T002").replace(b"- [ ] T003", b"- [X] T003")
    assert path.read_bytes() == expected


def test_skipped_task_can_be_marked_done(tmp_path: Path) -> None:
    path = write(tmp_path, b"1. [-] T001 Deferred\n2) [~] T002 Later\n")
    assert mark_done(path, "T001") and mark_done(path, "T002")
    assert path.read_bytes() == b"1. [X] T001 Deferred\n2) [X] T002 Later\n"


def test_heading_task_gets_a_check_mark(tmp_path: Path) -> None:
    before = (FIXTURES / "heading_tasks.md").read_bytes()
    path = write(tmp_path, before)
    assert mark_done(path, "T001") and mark_done(path, "T003")
    assert changed_lines(before, path.read_bytes()) == [
        (
            "### T001 — Create the worker pool (ASYNC)".encode(),
            "### T001 — Create the worker pool (ASYNC) ✅".encode(),
        ),
        (
            b"### T003 [SYNC] Review the error taxonomy ###",
            "### T003 [SYNC] Review the error taxonomy ✅ ###".encode(),
        ),
    ]
    tasks = parse_tasks(path)
    assert tasks.get("T001").is_done and tasks.get("T001").title == "Create the worker pool"
    assert mark_done(path, "T002") is False  # already ✅


def test_checkbox_less_bullet_gets_a_check_mark_before_trailing_spaces(tmp_path: Path) -> None:
    path = write(tmp_path, b"- **T001**: Create schema  \r\n- **T002**: Seed\r\n")
    assert mark_done(path, "T001")
    assert path.read_bytes() == "- **T001**: Create schema ✅  \r\n- **T002**: Seed\r\n".encode()
    assert parse_tasks(path).get("T001").state is TaskState.DONE


def test_unknown_task_leaves_file_untouched(tmp_path: Path) -> None:
    before = b"- [ ] T001 First\n"
    path = write(tmp_path, before)
    with pytest.raises(UnknownTaskError) as info:
        mark_done(path, "T010")
    assert "T001" in info.value.hint
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.md"]


def test_duplicated_id_is_refused_and_the_file_untouched(tmp_path: Path) -> None:
    before = (FIXTURES / "duplicate_ids.md").read_bytes()
    path = write(tmp_path, before)
    with pytest.raises(DuplicateTaskError) as info:
        mark_done(path, "T004")
    assert "T004 on lines 9, 10 and 11" in info.value.message
    assert info.value.hint
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.md"]


def test_other_tasks_of_a_file_with_duplicates_can_be_marked(tmp_path: Path) -> None:
    before = (FIXTURES / "duplicate_ids.md").read_bytes()
    path = write(tmp_path, before)
    assert mark_done(path, "T003")
    assert changed_lines(before, path.read_bytes()) == [
        (b"- [ ] T003 Third, after T001", b"- [X] T003 Third, after T001")
    ]


def test_uppercase_suffix_is_marked_and_keeps_its_spelling(tmp_path: Path) -> None:
    before = (FIXTURES / "uppercase_suffix.md").read_bytes()
    path = write(tmp_path, before)
    assert mark_done(path, "t021a")
    assert changed_lines(before, path.read_bytes()) == [
        (
            b"- [ ] T021A [P] [ASYNC] Validate file types in src/ui/validate.ts",
            b"- [X] T021A [P] [ASYNC] Validate file types in src/ui/validate.ts",
        )
    ]
    with pytest.raises(DuplicateTaskError, match="T023a on lines 10 and 11"):
        mark_done(path, "T023A")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TasksFileNotFoundError):
        mark_done(tmp_path / "tasks.md", "T001")


def test_mode_and_symlink_are_kept(tmp_path: Path) -> None:
    real = write(tmp_path, b"- [ ] T001 First\n", name="real.md")
    real.chmod(0o640)
    link = tmp_path / "tasks.md"
    link.symlink_to(real)
    assert mark_done(link, "T001")
    assert link.is_symlink()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert real.read_bytes() == b"- [X] T001 First\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.md", "tasks.md"]


def test_waits_for_the_lock_then_gives_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, b"- [ ] T001 First\n")
    monkeypatch.setattr(tasks_edit, "LOCK_TIMEOUT_SECONDS", 0.2)
    fd = os.open(lock_file(path), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(SpeckitPodsError, match="locked by another writer"):
            mark_done(path, "T001")
    finally:
        os.close(fd)
    assert path.read_bytes() == b"- [ ] T001 First\n"
    assert mark_done(path, "T001")


WORKER = """
import sys
from pathlib import Path
from runtime.tasks.edit import mark_done
path = Path(sys.argv[1])
for task_id in sys.argv[2:]:
    assert mark_done(path, task_id)
"""


def test_concurrent_writers_lose_no_update(tmp_path: Path) -> None:
    ids = [f"T{n:03d}" for n in range(1, 61)]
    path = write(tmp_path, "".join(f"- [ ] {i} Task {i}\n" for i in ids).encode())
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(path), *ids[k::3]], cwd=REPO)
        for k in range(3)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    tasks = parse_tasks(path)
    assert [t.id for t in tasks.tasks if not t.is_done] == []
    assert path.read_bytes() == "".join(f"- [X] {i} Task {i}\n" for i in ids).encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.md"]  # no lock/temp left
