"""Writing files so that a reader never sees half a file (host side)."""

from __future__ import annotations

from pathlib import Path

from runtime.contract import files


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, keeping the original's permission bits.

    :func:`runtime.contract.files.write_atomic` with :data:`~runtime.contract.files.KEEP_MODE`:
    an exclusively created temporary file in the same directory, written in full,
    synced and renamed over ``path``; removed when anything fails.  A new file is 0600.
    """
    files.write_atomic(path, data, mode=files.KEEP_MODE)
