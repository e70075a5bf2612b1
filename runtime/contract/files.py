"""Writing a file so that a reader never sees half of it; stdlib only.

An atomic writer with two mode policies, for the agent pod and the host side.  They
differ only in the mode: the pod (``runtime.agent.handoff``: files another container reads)
sets a fixed mode whatever the umask (``0o644``, the reader is another user); the host
(tasks.md mark-done, ``.async_state/`` markers) keeps the permission bits of the file
it replaces (:data:`KEEP_MODE`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import Final

KEEP_MODE: Final = None
"""Mode policy: the existing file's permission bits; a new file is private (0600)."""
NEW_FILE_MODE: Final = 0o600
_CREATE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_ATTEMPTS: Final = 16


def write_atomic(path: Path, data: bytes, *, mode: int | None) -> None:
    """Replace ``path`` with ``data`` by renaming a new file over it.

    The temporary file is in the same directory (so the rename is atomic), created
    exclusively and never through a link (a planted symlink or file is not written
    to), given its permission bits with ``fchmod`` (so the umask does not matter),
    written in full and synced before the rename; it is removed when anything fails.
    A symlink at ``path`` itself is replaced, not followed, by the rename.

    Args:
        path: the file to replace (or create).
        data: the whole new content.
        mode: :data:`KEEP_MODE` (``None``) keeps the permission bits of the file at
            ``path`` (following a link), and makes a new file 0600; an ``int`` sets
            exactly those bits (e.g. ``0o644``).

    Raises:
        TypeError: ``data`` is not bytes-like (nothing is created).
        ValueError: ``mode`` is not a permission mask.
        OSError: the write failed; ``path`` is unchanged and no temporary file is left.
    """
    view = memoryview(data)
    if mode is not None and not 0 <= mode <= 0o7777:
        raise ValueError(f"not a file mode: {mode:#o}")
    bits = _mode_of(path) if mode is None else mode
    tmp, fd = _create_temp(path)
    try:
        try:
            os.fchmod(fd, bits)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _mode_of(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return NEW_FILE_MODE


def _create_temp(path: Path) -> tuple[Path, int]:
    for _ in range(_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        with contextlib.suppress(FileExistsError):
            return tmp, os.open(tmp, _CREATE_FLAGS, NEW_FILE_MODE)
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(path.parent))
