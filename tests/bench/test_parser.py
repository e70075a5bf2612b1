"""Parser: a generated 5,000-task tasks.md parsed and one task marked done.

Baseline: read the file, ``re.findall`` the task IDs, flip one checkbox with
``str.replace`` and write it back: the least work that gives the same answer.
"""

from __future__ import annotations

import re
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from runtime.tasks.edit import mark_done
from runtime.tasks.parse import parse_tasks
from tests.bench.figures import Figure, Recorder

TASKS = 5000
RUNS = 7
TARGET = "T02500"


def generate(path: Path) -> None:
    lines = ["# Tasks: bench", ""]
    for n in range(1, TASKS + 1):
        if n % 100 == 1:
            lines += [f"## Phase {n // 100 + 1}: Block {n // 100 + 1}", ""]
        marker = "[ASYNC] " if n % 3 else "[SYNC] "
        story = f"[US{n % 7 + 1}]"
        lines.append(f"- [ ] T{n:05d} [P] {marker}{story} Implement part {n} in src/m{n}.py")
    path.write_text("\n".join(lines) + "\n")


def ours(path: Path) -> None:
    tasks = parse_tasks(path)
    assert len(tasks.tasks) == TASKS
    assert mark_done(path, TARGET)


def baseline(path: Path) -> None:
    text = path.read_text()
    assert len(re.findall(r"^- \[[ xX]\] (T\d+)", text, re.MULTILINE)) == TASKS
    path.write_text(text.replace(f"- [ ] {TARGET} ", f"- [X] {TARGET} ", 1))


def _measure(fn: Callable[[Path], None], path: Path) -> tuple[list[float], list[float]]:
    seconds: list[float] = []
    peaks: list[float] = []
    for _ in range(RUNS):
        generate(path)
        start = time.perf_counter()
        fn(path)
        seconds.append((time.perf_counter() - start) * 1000)
        assert f"- [X] {TARGET} " in path.read_text()
    for _ in range(RUNS):  # tracemalloc slows code down: peaks are measured apart
        generate(path)
        tracemalloc.start()
        fn(path)
        peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    return seconds, peaks


def test_parse_and_mark_done(tmp_path: Path, bench: Recorder) -> None:
    path = tmp_path / "tasks.md"
    our_ms, our_mib = _measure(ours, path)
    base_ms, base_mib = _measure(baseline, path)
    name = f"parse {TASKS} tasks + mark done"
    bench.add(Figure(name, "ms", tuple(our_ms), tuple(base_ms), "read + re.findall + replace"))
    bench.add(
        Figure(f"{name}: peak memory", "MiB", tuple(our_mib), tuple(base_mib),
               "read + re.findall + replace", note="tracemalloc peak")
    )  # fmt: skip
