"""Mark a task done in tasks.md, in place, changing nothing else.

Only the task's own line changes:

* checkbox tasks: the box character becomes ``X`` (``[ ]``, ``[-]``, ``[~]`` ->
  ``[X]``), as ``/speckit.implement`` does;
* checkbox-less tasks (``## T001 — Title``, ``- **T001**: ...``, bare ``T001 ...``
  lines): `` ✅`` is inserted at the end of the line's text, before trailing
  whitespace and a heading's closing ``#``s; the parser reads ✅ as done.  Adding a
  checkbox instead would turn notes-style lines into checkbox tasks and change
  how the rest of the file parses.

Every other byte (line endings, trailing spaces, BOM, a missing final newline)
is kept.  Writers serialise on an ``fcntl.flock`` of a sidecar
``.<name>.lock`` next to the file, re-read the file under the lock, write a temp
file in the same directory and ``os.replace`` it over the original, so a reader
sees the old or the new file, never a torn one.  The lock file is removed on
release; the inode check in :func:`_locked` keeps a waiter from holding a lock
on a removed file.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from runtime.common.files import write_atomic
from runtime.errors import SpeckitPodsError, TaskParseError, TasksFileNotFoundError
from runtime.tasks.parse import DONE_MARK, TaskState, find_task_head, head_state

__all__ = ["LOCK_TIMEOUT_SECONDS", "lock_file", "mark_done"]

LOCK_TIMEOUT_SECONDS = 30.0
_POLL_SECONDS = 0.02
_BOM = b"\xef\xbb\xbf"
_BOX = re.compile(rb"^([ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\[)([ xX~-])(\])")
_HEADING_END = re.compile(rb"(?:[ \t]+#+)?[ \t]*$")
_LINE_END = re.compile(rb"[ \t]*$")


def mark_done(path: Path, task_id: str) -> bool:
    """Check off ``task_id`` in ``path``.

    Returns:
        True if the file changed, False if the task was already done.

    Raises:
        UnknownTaskError: no such task (the hint names the nearest IDs).
        DuplicateTaskError: several tasks have this ID (the message names their
            lines); the file is left as it is.  Other tasks of such a file can
            be marked as usual.
        TasksFileNotFoundError, TaskParseError: the file is missing or not a task list.
        SpeckitPodsError: the lock could not be taken or the file not written.
    """
    target = path.resolve()
    if not target.is_file():
        raise TasksFileNotFoundError(
            f"tasks.md not found: {path}", hint="Run /speckit.tasks first."
        )
    try:
        with _locked(target):
            data = _read(target)
            new = _mark_line(data, target, task_id)
            if new is None:
                return False
            write_atomic(target, new)
            return True
    except OSError as err:
        raise SpeckitPodsError(f"cannot update {path}: {err.strerror or err}") from err


def lock_file(path: Path) -> Path:
    """Return the sidecar lock file that writers of ``path`` flock."""
    return path.with_name(f".{path.name}.lock")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as err:
        raise TasksFileNotFoundError(
            f"tasks.md not found: {path}", hint="Run /speckit.tasks first."
        ) from err


def _mark_line(data: bytes, path: Path, task_id: str) -> bytes | None:
    """Return the new file content, or None when the task is already done."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TaskParseError(f"{path} is not UTF-8 text (byte {err.start})") from err
    head = find_task_head(text, task_id, path)  # reads the task lines only
    lines = data.split(b"\n")
    index = head.index
    bom = _BOM if index == 0 and lines[0].startswith(_BOM) else b""
    line = lines[index][len(bom) :]
    body, cr = (line[:-1], b"\r") if line.endswith(b"\r") else (line, b"")
    if box := _BOX.match(body):
        if box.group(2) in (b"x", b"X"):
            return None
        body = body[: box.start(2)] + b"X" + body[box.end(2) :]
    else:
        if DONE_MARK.encode() in body:
            return None
        end = (_HEADING_END if body.lstrip().startswith(b"#") else _LINE_END).search(body)
        cut = end.start() if end else len(body)
        body = body[:cut] + b" " + DONE_MARK.encode() + body[cut:]
    lines[index] = bom + body + cr
    new = b"\n".join(lines)
    # check the edit as the parser reads it (task lines only: no full re-parse)
    if head_state(find_task_head(new.decode("utf-8"), head.task_id, path)) is not TaskState.DONE:
        raise TaskParseError(f"could not mark {head.task_id} done on line {index + 1} of {path}")
    return new


@contextmanager
def _locked(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive flock on ``.<name>.lock`` beside ``path``."""
    timeout = LOCK_TIMEOUT_SECONDS if timeout is None else timeout
    lock_path = lock_file(path)
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if _try_lock(fd, lock_path):
            break
        os.close(fd)
        if time.monotonic() >= deadline:
            raise SpeckitPodsError(
                f"{path} is locked by another writer (waited {timeout:.0f}s)",
                hint=f"Retry, or check which process holds {lock_path}.",
            )
        time.sleep(_POLL_SECONDS)
    try:
        yield
    finally:
        with suppress(FileNotFoundError):
            os.unlink(lock_path)
        os.close(fd)


def _try_lock(fd: int, lock_path: Path) -> bool:
    """Lock ``fd``; True only if it still is the file at ``lock_path``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    mine = os.fstat(fd)
    try:
        current = os.stat(lock_path)
    except FileNotFoundError:
        return False  # the holder removed it on release: lock the new one
    return (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev)
