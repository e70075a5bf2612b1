"""Find the current feature's ``tasks.md`` the way spec-kit's scripts do.

Order (first that applies wins; an explicit choice that points nowhere is an
error, never a silent fall-through):

1. ``explicit`` (``--tasks PATH``): a tasks file, or a feature dir holding tasks.md.
2. ``SPECIFY_FEATURE_DIRECTORY`` (relative paths are under the repo root).
3. ``.specify/feature.json`` at the repo root, key ``feature_directory``
   (what ``specify`` and ``common.sh`` write; relative to the repo root).
4. ``SPECIFY_FEATURE`` (older spec-kit: a feature/branch name).
5. The current git branch, read from ``.git/HEAD``: ``NNN-name`` selects
   ``specs/NNN-*``, any other name ``specs/<branch>``.
6. The only ``specs/*/tasks.md`` in the repo.

The repo root is ``SPECIFY_INIT_DIR`` if set, else the nearest ancestor of
``cwd`` holding ``.specify/``, else the nearest holding ``.git``, else ``cwd``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from runtime.errors import TasksFileNotFoundError

__all__ = ["feature_dir", "feature_name", "find_repo_root", "find_tasks_file"]

log = logging.getLogger(__name__)

TASKS_MD = "tasks.md"
_RUN_TASKS = "Run /speckit.tasks first."
_BRANCH_PREFIX = re.compile(r"^(\d{3,})-")


def find_tasks_file(
    explicit: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Return the absolute path of the feature's tasks.md.

    Raises:
        TasksFileNotFoundError: nothing found, or the chosen feature has no tasks.md.
    """
    cwd = (cwd or Path.cwd()).absolute()
    env = os.environ if env is None else env
    if explicit is not None:
        return _tasks_in(cwd / explicit, "--tasks")
    root = find_repo_root(cwd, env)
    if value := env.get("SPECIFY_FEATURE_DIRECTORY", "").strip():
        return _tasks_in(root / value, "SPECIFY_FEATURE_DIRECTORY")
    if value := _feature_json(root):
        return _tasks_in(root / value, f"{root / '.specify' / 'feature.json'}")
    if value := env.get("SPECIFY_FEATURE", "").strip():
        return _tasks_in(_by_branch(root, value), "SPECIFY_FEATURE")
    if branch := _git_branch(root):
        candidate = _by_branch(root, branch)
        if candidate.is_dir() or _BRANCH_PREFIX.match(candidate.name):
            return _tasks_in(candidate, f"branch {branch!r}")
    return _only_tasks_file(root)


def find_repo_root(cwd: Path, env: Mapping[str, str]) -> Path:
    """Return the spec-kit project root for ``cwd`` (see the module docstring)."""
    if value := env.get("SPECIFY_INIT_DIR", "").strip():
        return (cwd / value).absolute()
    for marker in (".specify", ".git"):
        for folder in (cwd, *cwd.parents):
            if (folder / marker).exists():
                return folder
    return cwd


def feature_dir(tasks_file: Path) -> Path:
    """Return the feature directory holding ``tasks_file``."""
    return tasks_file.absolute().parent


def feature_name(tasks_file: Path) -> str:
    """Return the feature's name, e.g. ``001-photo-albums``."""
    return feature_dir(tasks_file).name


def _tasks_in(target: Path, source: str) -> Path:
    """Resolve a tasks file or a feature dir chosen by ``source``."""
    path = target / TASKS_MD if target.is_dir() else target
    if path.is_file():
        return path
    if target.is_dir():
        raise TasksFileNotFoundError(f"no {TASKS_MD} in {target} (from {source})", hint=_RUN_TASKS)
    what = "tasks file" if target.suffix == ".md" else "feature directory"
    raise TasksFileNotFoundError(f"{what} not found: {target} (from {source})", hint=_RUN_TASKS)


def _feature_json(root: Path) -> str:
    path = root / ".specify" / "feature.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ""
    except (OSError, ValueError) as err:
        log.debug("ignoring unreadable %s: %s", path, err)
        return ""
    value = data.get("feature_directory") if isinstance(data, dict) else None
    return value.strip() if isinstance(value, str) else ""


def _git_branch(root: Path) -> str:
    """Read the checked-out branch from ``.git/HEAD`` (worktree ``.git`` files too)."""
    git = root / ".git"
    try:
        if git.is_file():
            pointer = git.read_text(encoding="utf-8").strip()
            git = (root / pointer.removeprefix("gitdir:").strip()).absolute()
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: refs/heads/") else ""


def _by_branch(root: Path, branch: str) -> Path:
    """``specs/<branch>``, or the single ``specs/NNN-*`` matching its number prefix."""
    specs = root / "specs"
    name = branch.rsplit("/", 1)[-1]
    exact = specs / name
    m = _BRANCH_PREFIX.match(name)
    if exact.is_dir() or not m:
        return exact
    matches = sorted(p for p in specs.glob(f"{m.group(1)}-*") if p.is_dir())
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        raise TasksFileNotFoundError(
            f"several feature dirs for prefix {m.group(1)} in {specs}: {names}",
            hint="Pass --tasks PATH or set SPECIFY_FEATURE_DIRECTORY.",
        )
    return matches[0] if matches else exact


def _only_tasks_file(root: Path) -> Path:
    found = sorted((root / "specs").glob(f"*/{TASKS_MD}"))
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(p.parent.name for p in found)
        raise TasksFileNotFoundError(
            f"cannot tell which feature is current: {names}",
            hint="Pass --tasks PATH, set SPECIFY_FEATURE_DIRECTORY or check out its branch.",
        )
    raise TasksFileNotFoundError(
        f"no {TASKS_MD} found for the current feature under {root}",
        hint=f"{_RUN_TASKS} Or pass --tasks PATH.",
    )
