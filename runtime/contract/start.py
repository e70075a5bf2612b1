"""Where a task's run starts: the pushed work of the prerequisites it depends on.

A task whose prerequisites in the plan include ``[ASYNC]`` tasks that succeeded starts
from their work, not from the bare base branch.  The host side (``runtime.spawn.start``)
pins each such prerequisite as a :class:`StartPoint` -- its task ID, its task branch and
the commit that branch held at spawn time -- and hands the list to the pod twice: in the
``git`` container's environment (:data:`runtime.contract.pod.Env.START_POINTS`), which
merges the commits onto the base before the agent starts, and in an annotation, so the
pod records what it started from.  The git side reports them again in the result line.

The wire form is JSON (``[{"task": "T002", "branch": "...", "commit": "..."}]``):
branch names may hold characters a separator would need escaping for, and both sides
have the standard library's parser.  :func:`decode` checks everything it is given, since
the pod reads it from an environment variable.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable

from runtime.contract.refs import branch_name_error

COMMIT_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # SHA-1 or SHA-256, full length
TASK_ID_RE = re.compile(r"^T\d+(?:[a-z]|\.\d+)?$")  # as the parser spells IDs
MAX_POINTS = 200  # a tasks.md with more [ASYNC] prerequisites than this is not sane input


class StartPointError(ValueError):
    """The start points are not well-formed."""


@dataclasses.dataclass(frozen=True)
class StartPoint:
    """One prerequisite's work: its task, its branch, and the commit pinned at spawn."""

    task: str
    branch: str
    commit: str

    def __post_init__(self) -> None:
        if not TASK_ID_RE.match(self.task):
            raise StartPointError(f"invalid task ID {self.task!r}")
        why = branch_name_error(self.branch)
        if why:
            raise StartPointError(f"{self.task}: branch {self.branch!r} {why}")
        if not COMMIT_RE.match(self.commit):
            raise StartPointError(f"{self.task}: {self.commit!r} is not a full commit ID")

    @property
    def short(self) -> str:
        """``T002@1a2b3c4d5e6f``: how lines and tables show it."""
        return f"{self.task}@{self.commit[:12]}"

    def to_json(self) -> dict[str, str]:
        """The point as a JSON object."""
        return dataclasses.asdict(self)


def encode(points: Iterable[StartPoint]) -> str:
    """The wire form of ``points`` (``""`` for none: the run starts from the base)."""
    items = [point.to_json() for point in points]
    return json.dumps(items, separators=(",", ":")) if items else ""


def from_json(data: object) -> tuple[StartPoint, ...]:
    """Start points from parsed JSON (a list of objects); raises :class:`StartPointError`."""
    if not isinstance(data, list):
        raise StartPointError("start points must be a JSON list")
    if len(data) > MAX_POINTS:
        raise StartPointError(f"more than {MAX_POINTS} start points")
    points: list[StartPoint] = []
    for item in data:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(key), str) for key in ("task", "branch", "commit")
        ):
            raise StartPointError("each start point needs task, branch and commit strings")
        points.append(StartPoint(item["task"], item["branch"], item["commit"]))
    if len({p.task for p in points}) != len(points):
        raise StartPointError("a task is named twice among the start points")
    return tuple(points)


def decode(text: str) -> tuple[StartPoint, ...]:
    """Parse :func:`encode`'s output; ``""`` is none.  Raises :class:`StartPointError`."""
    if not text.strip():
        return ()
    try:
        data = json.loads(text)
    except ValueError as err:
        raise StartPointError(f"start points are not JSON: {err}") from err
    return from_json(data)


def describe(points: Iterable[StartPoint]) -> str:
    """``T002@1a2b3c4d5e6f, T003@...``, or ``the base branch`` for none."""
    shown = [point.short for point in points]
    return ", ".join(shown) if shown else "the base branch"
