"""Collect a feature's context files for the task ConfigMap.

The agent gets the feature's spec-kit documents (spec, plan, tasks, data model,
research, quickstart and everything under ``contracts/``) next to its prompt.
They travel in one ConfigMap, which Kubernetes limits to 1 MiB including
metadata, so the total is capped.  ConfigMap keys must match ``[-._a-zA-Z0-9]+``:
each file gets the key ``ctx.<n>`` and the pod volume's ``items[].path`` restores
its relative path (``contracts/api.yaml``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

from runtime.errors import ContextTooLargeError

DOCUMENTS = ("spec.md", "plan.md", "tasks.md", "data-model.md", "research.md", "quickstart.md")
DIRECTORIES = ("contracts",)
DEFAULT_MAX_BYTES = 900 * 1024  # ConfigMaps hold 1 MiB; leave room for the prompt and metadata
KEY_PREFIX = "ctx."


@dataclasses.dataclass(frozen=True)
class ContextFile:
    """One file of the feature directory, as it goes into the ConfigMap."""

    rel_path: str  # POSIX path relative to the feature dir, e.g. "contracts/api.yaml"
    key: str  # ConfigMap key, e.g. "ctx.3"
    content: bytes

    @property
    def size(self) -> int:
        """Size in bytes as stored (binary files are base64-encoded: 4/3 larger)."""
        if self.is_text:
            return len(self.content)
        return (len(self.content) + 2) // 3 * 4

    @property
    def is_text(self) -> bool:
        """Whether the content is UTF-8 (goes to ``data``; else ``binaryData``)."""
        try:
            self.content.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True


def _walk(directory: Path) -> Iterator[Path]:
    """Yield regular files under ``directory`` in sorted order, skipping hidden ones."""
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file():
            yield path


def _candidates(feature_dir: Path) -> Iterator[Path]:
    for name in DOCUMENTS:
        path = feature_dir / name
        if path.is_file():
            yield path
    for name in DIRECTORIES:
        directory = feature_dir / name
        if directory.is_dir():
            yield from _walk(directory)


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (after resolving symlinks) stays inside ``root``."""
    return path.resolve().is_relative_to(root.resolve())


def collect(feature_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[ContextFile, ...]:
    """Read the feature's context files; missing ones are skipped.

    Symlinks leading outside ``feature_dir`` are skipped (they would leak files
    from elsewhere on the developer's machine into the cluster).

    Raises:
        ContextTooLargeError: the files together exceed ``max_bytes``.
    """
    files: list[ContextFile] = []
    for index, path in enumerate(p for p in _candidates(feature_dir) if _inside(p, feature_dir)):
        rel = path.relative_to(feature_dir).as_posix()
        files.append(
            ContextFile(rel_path=rel, key=f"{KEY_PREFIX}{index}", content=path.read_bytes())
        )
    check_size(files, max_bytes, feature_dir)
    return tuple(files)


def _human(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MiB"


def check_size(files: Sequence[ContextFile], max_bytes: int, feature_dir: Path) -> None:
    """Raise ``ContextTooLargeError`` naming the biggest files when over ``max_bytes``."""
    total = sum(f.size for f in files)
    if total <= max_bytes:
        return
    biggest = sorted(files, key=lambda f: f.size, reverse=True)[:3]
    listing = ", ".join(f"{f.rel_path} ({_human(f.size)})" for f in biggest)
    raise ContextTooLargeError(
        f"context files in {feature_dir} total {_human(total)}, over the "
        f"{_human(max_bytes)} cap; biggest: {listing}",
        hint="shrink or move those files out of the feature directory "
        "(they travel in one ConfigMap, limited to 1 MiB)",
    )
