"""Atomic writes: the host side's ``runtime.common.files`` and the shared writer.

The shared writer (``runtime.contract.files``) is tested here with both mode policies:
keeping the target's mode (the host's) and a fixed mode whatever the umask (the agent
pod's, see also tests/unit/agent/test_handoff.py).
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.common.files import write_atomic
from runtime.contract import files


@pytest.fixture()
def umask() -> Iterator[None]:
    """A restrictive umask: the writer's modes must not depend on it."""
    old = os.umask(0o077)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- host side: keep the target's mode ------------------------------------------------


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


@pytest.mark.usefixtures("umask")
def test_keep_mode_keeps_bits_the_umask_would_drop(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_bytes(b"old")
    os.chmod(path, 0o664)
    files.write_atomic(path, b"new", mode=files.KEEP_MODE)
    assert _mode(path) == 0o664


def test_keep_mode_makes_a_new_file_private(tmp_path: Path) -> None:
    path = tmp_path / "T001.txt"
    write_atomic(path, b"marker\n")
    assert path.read_bytes() == b"marker\n"
    assert _mode(path) == files.NEW_FILE_MODE == 0o600


def test_keep_mode_follows_a_link_for_the_mode_and_replaces_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_bytes(b"real")
    os.chmod(real, 0o640)
    link = tmp_path / "link"
    link.symlink_to(real)
    write_atomic(link, b"new")
    assert not link.is_symlink() and link.read_bytes() == b"new" and _mode(link) == 0o640
    assert real.read_bytes() == b"real"


# --- agent side: a fixed mode ---------------------------------------------------------


@pytest.mark.usefixtures("umask")
@pytest.mark.parametrize("before", [None, 0o600, 0o755])
def test_fixed_mode_is_set_whatever_the_umask_and_the_old_file(
    tmp_path: Path, before: int | None
) -> None:
    path = tmp_path / "usage.json"
    if before is not None:
        path.write_bytes(b"old")
        os.chmod(path, before)
    files.write_atomic(path, b"{}\n", mode=0o644)
    assert path.read_bytes() == b"{}\n"
    assert _mode(path) == 0o644
    assert os.listdir(tmp_path) == ["usage.json"]


@pytest.mark.parametrize("mode", [-1, 0o10000])
def test_a_mode_that_is_no_permission_mask_is_refused(tmp_path: Path, mode: int) -> None:
    with pytest.raises(ValueError, match="not a file mode"):
        files.write_atomic(tmp_path / "f", b"x", mode=mode)
    assert os.listdir(tmp_path) == []


# --- both policies: exclusive temp, full write, cleanup -------------------------------

POLICIES = [files.KEEP_MODE, 0o644]


@pytest.mark.parametrize("mode", POLICIES)
def test_a_planted_temp_name_is_never_written_through(
    tmp_path: Path, mode: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"secret")
    (tmp_path / ".ready.aaaa.tmp").symlink_to(victim)
    names = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(secrets, "token_hex", lambda _n: next(names))

    files.write_atomic(tmp_path / "ready", b"go", mode=mode)

    assert victim.read_bytes() == b"secret"
    assert (tmp_path / "ready").read_bytes() == b"go"
    assert sorted(os.listdir(tmp_path)) == [".ready.aaaa.tmp", "ready", "victim"]


def test_no_free_temp_name_is_an_error_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".f.aaaa.tmp").write_bytes(b"planted")
    monkeypatch.setattr(secrets, "token_hex", lambda _n: "aaaa")
    with pytest.raises(FileExistsError):
        files.write_atomic(tmp_path / "f", b"x", mode=0o644)
    assert os.listdir(tmp_path) == [".f.aaaa.tmp"]
    assert (tmp_path / ".f.aaaa.tmp").read_bytes() == b"planted"


@pytest.mark.parametrize("mode", POLICIES)
def test_short_writes_are_completed(
    tmp_path: Path, mode: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:3]))
    data = bytes(range(256)) * 4
    files.write_atomic(tmp_path / "f", data, mode=mode)
    monkeypatch.undo()
    assert (tmp_path / "f").read_bytes() == data


@pytest.mark.parametrize("mode", POLICIES)
def test_the_data_is_synced_before_the_rename(
    tmp_path: Path, mode: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    files.write_atomic(tmp_path / "f", b"x", mode=mode)
    monkeypatch.undo()
    assert events == ["fsync", "replace"]


@pytest.mark.parametrize("mode", POLICIES)
@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_failure_leaves_the_original_and_no_temp_file(
    tmp_path: Path, mode: int | None, failing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"kept")

    def boom(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(OSError, match="No space"):
        files.write_atomic(path, b"new", mode=mode)
    monkeypatch.undo()
    assert path.read_bytes() == b"kept"
    assert os.listdir(tmp_path) == ["f"]
