"""Plan which [ASYNC] tasks the dispatcher may run, and in which order.

A task's prerequisites follow spec-kit's ``/speckit.implement`` rules:

* written dependencies (``Task.depends_on``: "depends on T010", "after T003" ...);
* phases run in file order: every task of a phase waits for all tasks of the
  phases above it;
* inside a phase, a task without ``[P]`` waits for every task above it in that
  phase (sequential, file order); a ``[P]`` task waits only for the non-``[P]``
  tasks above it, so a run of ``[P]`` tasks starts together.

Tasks checked off (``[X]``) or skipped (``[-]``) satisfy every dependency.  The
candidates are the pending ``[ASYNC]`` tasks (``only`` narrows them).  A
candidate whose prerequisite is pending but is not a candidate itself (a
``[SYNC]`` task, or an ``[ASYNC]`` task left out by ``only``) is **held**: the
dispatcher does not start it, and reports the tasks it waits for.  Do those
tasks (and push them: pods clone the remote), then run the dispatcher again.
``written_only`` drops the phase and ``[P]`` rules and keeps only written
dependencies.

A duplicated ID (``TaskList.duplicates``: several tasks share it) is never run:
none of its tasks is a candidate, and ``only`` naming it raises
``DuplicateTaskError``.  It still counts as a prerequisite, so nothing runs as if
its work were done: a written dependency on it, and the phase and ``[P]`` rules
at each of its lines, make a task wait for it.  It is settled only when every
one of its tasks is checked off or skipped; until then the candidates waiting
for it are held (``waits for T005 [duplicate ID]``), like those waiting for a
``[SYNC]`` task, and run once the tasks are renamed apart.
``DispatchPlan.warnings`` starts with one
:func:`~runtime.tasks.parse.duplicate_warnings` line per duplicated ID.

A dependency cycle among pending tasks is an error (:class:`DependencyCycleError`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from runtime.errors import DependencyCycleError, UnknownTaskError
from runtime.tasks.parse import (
    Task,
    TaskList,
    TaskState,
    duplicate_warnings,
    normalize_task_id,
)

__all__ = [
    "DispatchPlan",
    "Held",
    "StartTasks",
    "build_plan",
    "done_async_tasks",
    "prerequisites",
    "reopen",
    "start_tasks",
]


@dataclasses.dataclass(frozen=True)
class Held:
    """A candidate that cannot start in this run, and the pending tasks it waits for."""

    task_id: str
    waits_for: tuple[str, ...]  # the root causes: pending tasks outside the run set

    def describe(self, tasks: Mapping[str, Task]) -> str:
        """``waits for T003 [SYNC], T004 [SYNC]`` (at most 4 IDs, then ``+N more``).

        ``tasks`` is ``DispatchPlan.tasks``: an ID missing from it is a duplicated
        ID, shown as ``T005 [duplicate ID]``.
        """
        shown = [_label(t, tasks) for t in self.waits_for[:4]]
        more = len(self.waits_for) - len(shown)
        return "waits for " + ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")


@dataclasses.dataclass(frozen=True)
class DispatchPlan:
    """The tasks to run, their prerequisites among themselves, and the held ones."""

    tasks: Mapping[str, Task]  # every task of tasks.md with a unique ID, by ID
    runnable: tuple[str, ...]  # candidates that can run in this dispatch, file order
    prereqs: Mapping[str, frozenset[str]]  # runnable ID -> runnable IDs it waits for
    held: tuple[Held, ...]
    done: tuple[str, ...]  # [ASYNC] tasks already checked off (skipped by the run)
    warnings: tuple[str, ...] = ()

    @property
    def waves(self) -> list[list[str]]:
        """Group the runnable tasks: wave *n* needs only tasks of waves < *n*."""
        level: dict[str, int] = {}
        for tid in self.runnable:  # prerequisites come earlier (topological order)
            level[tid] = 1 + max((level[p] for p in self.prereqs[tid]), default=-1)
        waves: list[list[str]] = [[] for _ in range(1 + max(level.values(), default=-1))]
        for tid in self.runnable:
            waves[level[tid]].append(tid)
        return waves

    def dependents(self, task_id: str) -> list[str]:
        """Every runnable task that (transitively) waits for ``task_id``, file order."""
        found: set[str] = {task_id}
        for tid in self.runnable:  # topological order: one pass suffices
            if self.prereqs[tid] & found:
                found.add(tid)
        return [t for t in self.runnable if t in found and t != task_id]

    def ready(self, succeeded: Iterable[str], started: Iterable[str]) -> list[str]:
        """Runnable tasks not started yet whose prerequisites all succeeded."""
        ok, begun = set(succeeded), set(started)
        return [t for t in self.runnable if t not in begun and self.prereqs[t] <= ok]

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary with stable snake_case keys (``--dry-run --json``)."""
        return {
            "waves": self.waves,
            "tasks": [
                {
                    "id": tid,
                    "title": self.tasks[tid].title,
                    "files": list(self.tasks[tid].files),
                    "after": sorted(self.prereqs[tid], key=self.runnable.index),
                }
                for tid in self.runnable
            ],
            "held": [{"id": h.task_id, "waits_for": list(h.waits_for)} for h in self.held],
            "done": list(self.done),
            "warnings": list(self.warnings),
        }


def _label(task_id: str, tasks: Mapping[str, Task]) -> str:
    """``T003 [SYNC]``, ``T004 [ASYNC]``; ``T005 [duplicate ID]`` if not in ``tasks``."""
    task = tasks.get(task_id)
    if task is None:
        return f"{task_id} [duplicate ID]"
    return f"{task_id} [{'ASYNC' if task.is_async else 'SYNC'}]"


def _settled(task: Task) -> bool:
    return task.state is not TaskState.PENDING


def prerequisites(
    tasks: Sequence[Task], *, written_only: bool = False, duplicated: Sequence[Task] = ()
) -> tuple[dict[str, list[str]], list[str]]:
    """Return every task's direct prerequisites (file order) and warnings.

    Args:
        tasks: The tasks with a unique ID (``TaskList.tasks``), file order.
        written_only: Keep only written dependencies (no phase or ``[P]`` rules).
        duplicated: The tasks sharing an ID (``TaskList.duplicate_tasks``).  Their
            ID is a prerequisite like any other (written, or by the phase and
            ``[P]`` rules at each of their lines); they get no entry themselves.

    Returns:
        ``{task ID: prerequisite IDs}`` for ``tasks``, and warnings naming written
        dependencies on IDs that are not in tasks.md (ignored).
    """
    everything = sorted([*tasks, *duplicated], key=lambda t: t.line)  # file order
    order: dict[str, int] = {}
    phase_rank: dict[str | None, int] = {}
    for task in everything:
        order.setdefault(task.id, len(order))
        phase_rank.setdefault(task.phase, len(phase_rank))
    result: dict[str, list[str]] = {}
    warnings: list[str] = []
    for task in tasks:
        found: set[str] = set()
        for dep in task.depends_on:
            if dep in order:
                found.add(dep)
            else:
                warnings.append(f"{task.id} depends on {dep}, which is not in tasks.md; ignored")
        if not written_only:
            found |= _implicit(task, everything, phase_rank)
        found.discard(task.id)
        result[task.id] = sorted(found, key=order.__getitem__)
    return result, warnings


@dataclasses.dataclass(frozen=True)
class StartTasks:
    """The [ASYNC] tasks whose work a task starts from (:func:`start_tasks`)."""

    done: tuple[Task, ...]  # checked off: their pushed branches are the start points
    pending: tuple[Task, ...]  # not done yet: the task starts without their work


def start_tasks(task_list: TaskList, task_id: str, *, written_only: bool = False) -> StartTasks:
    """Every [ASYNC] task ``task_id`` waits for, directly or through other tasks.

    The prerequisites are the plan's (:func:`prerequisites`: written dependencies, phase
    order, the non-[P] order within a phase), followed transitively: a [SYNC] task in
    between does not hide the [ASYNC] work it depends on.  Topological order, file order
    among equals, so that a prerequisite is merged before the tasks built on it.
    Duplicated IDs are left out: no branch can be told for them.
    """
    deps, _warnings = prerequisites(task_list.tasks, written_only=written_only)
    by_id = {t.id: t for t in task_list.tasks}
    wanted = normalize_task_id(task_id)
    seen: set[str] = set()
    stack = list(deps.get(wanted, ()))
    while stack:
        tid = stack.pop()
        if tid in seen or tid not in by_id:
            continue
        seen.add(tid)
        stack.extend(deps.get(tid, ()))
    order = _topological([t for t in by_id if t in seen], deps)
    asyncs = [
        by_id[t] for t in order if by_id[t].is_async and by_id[t].state is not TaskState.SKIPPED
    ]
    return StartTasks(
        done=tuple(t for t in asyncs if t.is_done),
        pending=tuple(t for t in asyncs if not t.is_done),
    )


def done_async_tasks(task_list: TaskList, *, written_only: bool = False) -> tuple[Task, ...]:
    """The checked-off [ASYNC] tasks in dependency order (file order among equals).

    What a feature's integration branch is made of: each task after the ones it
    depends on, so every merge brings one task's own work.
    """
    deps, _warnings = prerequisites(task_list.tasks, written_only=written_only)
    by_id = {t.id: t for t in task_list.tasks}
    order = _topological(list(by_id), deps)
    return tuple(by_id[t] for t in order if by_id[t].is_async and by_id[t].is_done)


def reopen(
    task_list: TaskList, ids: Iterable[str], *, written_only: bool = False
) -> tuple[TaskList, tuple[str, ...]]:
    """Make done [ASYNC] tasks pending again in the parsed list: ``ids`` and their dependents.

    Every done [ASYNC] task that (transitively) depends on one of ``ids`` is reopened
    too; returns the new list and the reopened IDs, file order.  For ``--restack``: a
    task whose prerequisite moved is rerun, and so is everything built on it, in plan
    order.  Only the parsed list changes, never tasks.md.
    """
    deps, _warnings = prerequisites(task_list.tasks, written_only=written_only)
    wanted = {normalize_task_id(tid) for tid in ids}
    grown = True
    while grown:  # dependents of dependents, whatever the file order
        more = {t for t, d in deps.items() if t not in wanted and wanted.intersection(d)}
        wanted |= more
        grown = bool(more)
    again = {t.id for t in task_list.tasks if t.id in wanted and t.is_async and t.is_done}
    tasks = tuple(
        dataclasses.replace(t, state=TaskState.PENDING) if t.id in again else t
        for t in task_list.tasks
    )
    order = tuple(t.id for t in task_list.tasks if t.id in again)
    return dataclasses.replace(task_list, tasks=tasks), order


def _implicit(task: Task, tasks: Sequence[Task], phase_rank: Mapping[str | None, int]) -> set[str]:
    rank = phase_rank[task.phase]
    found: set[str] = set()
    for other in tasks:
        if other.id == task.id:
            break
        other_rank = phase_rank[other.phase]
        if other_rank < rank:
            found.add(other.id)
        elif other_rank == rank and (not task.is_parallel or not other.is_parallel):
            found.add(other.id)
    for other in tasks:  # tasks of earlier phases written below this one
        if phase_rank[other.phase] < rank:
            found.add(other.id)
    return found


def _find_cycle(pending: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return one dependency cycle among ``pending`` tasks (first == last), if any."""
    wanted = set(pending)
    color: dict[str, int] = {}  # 1 visiting, 2 done
    for start in pending:
        if color.get(start):
            continue
        path: list[str] = [start]
        stack = [iter([d for d in deps[start] if d in wanted])]
        color[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                color[path.pop()] = 2
                stack.pop()
            elif color.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not color.get(nxt):
                color[nxt] = 1
                path.append(nxt)
                stack.append(iter([d for d in deps[nxt] if d in wanted]))
    return None


def _candidates(task_list: TaskList, only: Sequence[str] | None) -> list[Task]:
    asyncs = [t for t in task_list.tasks if t.is_async and t.state is TaskState.PENDING]
    if only is None:
        return asyncs
    wanted = [task_list.get(normalize_task_id(tid)) for tid in only]  # unknown IDs raise
    for task in wanted:
        if not task.is_async:
            raise UnknownTaskError(
                f"{task.id} is not an [ASYNC] task", hint="the dispatcher only runs [ASYNC] tasks"
            )
    ids = {t.id for t in wanted}
    return [t for t in asyncs if t.id in ids]


def build_plan(
    task_list: TaskList, *, only: Sequence[str] | None = None, written_only: bool = False
) -> DispatchPlan:
    """Plan the dispatch of ``task_list``'s pending [ASYNC] tasks (see the module doc).

    Raises:
        DependencyCycleError: pending tasks depend on each other in a cycle.
        UnknownTaskError: an ``only`` ID is not in tasks.md or not [ASYNC].
        DuplicateTaskError: an ``only`` ID is shared by several tasks.
    """
    tasks = {t.id: t for t in task_list.tasks}
    deps, warnings = prerequisites(
        task_list.tasks, written_only=written_only, duplicated=task_list.duplicate_tasks
    )
    pending = _pending(task_list)
    waiting = set(pending)
    deps = {tid: [d for d in deps.get(tid, ()) if d in waiting] for tid in pending}
    cycle = _find_cycle(pending, deps)
    if cycle:
        raise DependencyCycleError(
            f"dependency cycle in {task_list.path}: {' -> '.join(cycle)} (each waits for the next)",
            hint="remove one of these dependencies (phase and [P] order count too; "
            "--written-deps-only ignores them)",
        )
    candidates = {t.id for t in _candidates(task_list, only)}
    runnable, held = _split(_topological(pending, deps), deps, candidates)
    prereqs = _reduce({tid: set(deps[tid]) for tid in runnable})
    file_order = list(tasks)
    return DispatchPlan(
        tasks=tasks,
        runnable=tuple(runnable),
        prereqs={tid: frozenset(prereqs[tid]) for tid in runnable},
        held=tuple(sorted(held, key=lambda h: file_order.index(h.task_id))),
        done=tuple(t.id for t in task_list.tasks if t.is_async and t.is_done),
        warnings=tuple(dict.fromkeys([*duplicate_warnings(task_list), *warnings])),
    )


def _pending(task_list: TaskList) -> list[str]:
    """Unsettled IDs in file order; a duplicated ID is unsettled unless all its tasks are."""
    copies: dict[str, list[Task]] = {}
    for task in sorted([*task_list.tasks, *task_list.duplicate_tasks], key=lambda t: t.line):
        copies.setdefault(task.id, []).append(task)
    return [tid for tid, same in copies.items() if not all(_settled(t) for t in same)]


def _split(
    order: Sequence[str], deps: Mapping[str, Sequence[str]], candidates: set[str]
) -> tuple[list[str], list[Held]]:
    """Split candidates (visited in topological ``order``) into runnable and held."""
    runnable: list[str] = []
    held: list[Held] = []
    roots: dict[str, list[str]] = {}  # held candidate -> pending non-candidates it waits for
    for tid in order:
        if tid not in candidates:
            continue
        waits: dict[str, None] = {}
        for dep in deps[tid]:
            if dep not in candidates:
                waits[dep] = None
            for root in roots.get(dep, []):
                waits[root] = None
        if waits:
            roots[tid] = sorted(waits, key=order.index)
            held.append(Held(tid, tuple(roots[tid])))
        else:
            runnable.append(tid)
    return runnable, held


def _reduce(deps: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """Drop prerequisites implied by other prerequisites (transitive reduction)."""
    reach: dict[str, set[str]] = {}

    def reachable(tid: str) -> set[str]:
        if tid not in reach:
            found: set[str] = set()
            for dep in deps[tid]:
                found |= {dep} | reachable(dep)
            reach[tid] = found
        return reach[tid]

    return {
        tid: {d for d in direct if not any(d in reachable(o) for o in direct if o != d)}
        for tid, direct in deps.items()
    }


def _topological(ids: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[str]:
    """``ids`` ordered so prerequisites come first, ties in the given order (acyclic)."""
    wanted = set(ids)
    done: set[str] = set()
    out: list[str] = []
    remaining = list(ids)
    while remaining:
        progress = [t for t in remaining if all(d in done or d not in wanted for d in deps[t])]
        if not progress:  # unreachable for acyclic input; keep the rest in order
            progress = remaining
        first = progress[0]
        out.append(first)
        done.add(first)
        remaining.remove(first)
    return out
