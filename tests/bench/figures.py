"""Benchmark figures: our samples against a baseline measured in the same run.

Every figure is reported as medians with min/max and the ratio of the medians
(ours / baseline); nothing here is asserted as a timing.  The table is printed at
the end of the session and written as JSON to ``$SPECKIT_BENCH_RESULTS`` (default
``.cache/bench/results.json``).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.e2e.cluster import REPO_ROOT

RESULTS_ENV = "SPECKIT_BENCH_RESULTS"
DEFAULT_RESULTS = REPO_ROOT / ".cache" / "bench" / "results.json"


@dataclasses.dataclass(frozen=True)
class Stats:
    """Median, min and max of one series of samples."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def text(self, unit: str) -> str:
        return f"{_num(self.median)} [{_num(self.low)}-{_num(self.high)}] {unit}".rstrip()


@dataclasses.dataclass(frozen=True)
class Figure:
    """One comparison: what we measured, what the baseline is, both series."""

    name: str
    unit: str
    ours: tuple[float, ...]
    baseline: tuple[float, ...]
    baseline_name: str
    note: str = ""

    @property
    def ratio(self) -> float:
        base = Stats.of(self.baseline).median
        return Stats.of(self.ours).median / base if base else float("inf")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "baseline_name": self.baseline_name,
            "ours": dataclasses.asdict(Stats.of(self.ours)),
            "baseline": dataclasses.asdict(Stats.of(self.baseline)),
            "ratio": round(self.ratio, 3),
            "samples": {"ours": list(self.ours), "baseline": list(self.baseline)},
            "note": self.note,
        }


class Recorder:
    """Collects the figures of one session; writes JSON and renders the table."""

    def __init__(self) -> None:
        self.figures: list[Figure] = []

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def path(self) -> Path:
        return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS)

    def write(self) -> Path:
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "figures": [figure.to_json() for figure in self.figures],
        }
        path.write_text(json.dumps(doc, indent=2) + "\n")
        return path

    def table(self) -> list[str]:
        rows = [("figure", "ours median [min-max]", "baseline median [min-max]", "ratio")]
        for f in self.figures:
            rows.append(
                (
                    f.name,
                    Stats.of(f.ours).text(f.unit),
                    f"{Stats.of(f.baseline).text(f.unit)} ({f.baseline_name})",
                    f"x{f.ratio:.2f}",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
        lines.insert(1, "-+-".join("-" * w for w in widths))
        lines += [f"{f.name}: {f.note}" for f in self.figures if f.note]
        return lines


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
             if ln.startswith("model name")),
            "",
        )  # fmt: skip
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "loadavg": list(os.getloadavg()),
    }


def _num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"
