from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime.common.files import write_atomic


def test_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    write_atomic(path, b"new\r\n")
    assert path.read_bytes() == b"new\r\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["tasks.md"]


def test_a_failed_write_leaves_the_original_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"kept")
    with pytest.raises(TypeError):
        write_atomic(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"kept"
    assert os.listdir(tmp_path) == ["f"]
