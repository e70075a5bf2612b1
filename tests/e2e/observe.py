"""Watchers for the load and concurrency e2e: a pod census and a process's peak RSS.

``PodCensus`` watches a label selector from a consistent list onwards (no event lost
between the list and the watch) and records every pod uid with its task label and the
largest number of pods that were alive at the same moment.  ``PeakRss`` samples a
process's ``VmHWM`` from ``/proc`` until it exits.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from runtime.kube import labels
from runtime.spawn.names import label_value
from tests.e2e.cluster import NAMESPACE
from tests.e2e.conftest import Feature
from tests.support.scripted_llm import LoggedRequest, classify

ENDED_PHASES = ("Succeeded", "Failed")


def _alive(pod: Any) -> bool:
    """Pending or Running, not deleted, and its git container (the last to end) not terminated."""
    if (pod.status.phase or "Pending") in ENDED_PHASES:
        return False
    statuses = pod.status.init_container_statuses or []
    return not any(s.name == "git" and s.state and s.state.terminated for s in statuses)


class PodCensus:
    """Every pod matching ``selector`` seen by a watch, and the peak of live pods."""

    def __init__(self, kubeconfig: Path, selector: str, namespace: str = NAMESPACE) -> None:
        api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(api)
        self.selector, self.namespace = selector, namespace
        self.tasks: dict[str, str] = {}  # uid -> task label
        self.live: set[str] = set()
        self.peak = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._watch = watch.Watch()  # type: ignore[no-untyped-call]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-census", daemon=True)

    def __enter__(self) -> PodCensus:
        listed = self.core.list_namespaced_pod(self.namespace, label_selector=self.selector)
        for pod in listed.items:
            self._seen("ADDED", pod)
        self._version = str(listed.metadata.resource_version) if listed.metadata else ""
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._watch.stop()  # type: ignore[no-untyped-call]
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for event in self._watch.stream(  # type: ignore[no-untyped-call]
                    self.core.list_namespaced_pod, self.namespace,
                    label_selector=self.selector, resource_version=self._version,
                    timeout_seconds=120, allow_watch_bookmarks=True,
                ):  # fmt: skip
                    pod = event["object"]
                    self._version = str(pod.metadata.resource_version)
                    if event["type"] != "BOOKMARK":
                        self._seen(str(event["type"]), pod)
            except Exception as err:  # noqa: BLE001 - a dropped watch resumes from _version
                self.errors.append(repr(err))
                time.sleep(0.2)

    def _seen(self, kind: str, pod: Any) -> None:
        uid = str(pod.metadata.uid)
        with self._lock:
            self.tasks[uid] = str((pod.metadata.labels or {}).get(labels.TASK, ""))
            if kind != "DELETED" and _alive(pod):
                self.live.add(uid)
            else:
                self.live.discard(uid)
            self.peak = max(self.peak, len(self.live))

    def pods_per_task(self) -> Counter[str]:
        """Task label -> number of distinct pods (uids) seen."""
        with self._lock:
            return Counter(self.tasks.values())


class PeakRss:
    """Samples ``VmHWM`` (peak resident set) of ``pid`` every ``interval`` until it exits."""

    def __init__(self, proc: subprocess.Popen[str], interval: float = 0.1) -> None:
        self.proc, self.interval = proc, interval
        self.peak_kib = 0
        self.samples: list[tuple[float, int]] = []  # (monotonic, VmRSS KiB)
        self.command = ""
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        status = Path(f"/proc/{self.proc.pid}/status")
        while self.proc.poll() is None:
            try:
                fields = dict(
                    line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
                )
                self.command = Path(f"/proc/{self.proc.pid}/comm").read_text().strip()
            except OSError:
                break
            if "VmHWM" in fields:
                self.peak_kib = max(self.peak_kib, int(fields["VmHWM"].split()[0]))
                self.samples.append((time.monotonic(), int(fields["VmRSS"].split()[0])))
            time.sleep(self.interval)

    def join(self) -> None:
        self._thread.join(timeout=10)

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024


def requests_of(requests: Sequence[LoggedRequest], feature: Feature) -> list[tuple[str, int]]:
    """``(task id, turn)`` of the scripted-LLM requests whose prompt names ``feature``."""
    found = []
    for request in requests:
        if feature.name in json.dumps(request.body):
            marker, turn, _ = classify(request.body)
            found.append((marker.task_id if marker else "", turn))
    return found


def turns_per_task(requests: Sequence[LoggedRequest], feature: Feature, turn: int) -> Counter[str]:
    """Task ID -> number of requests at ``turn`` (one per agent run for turns > 0)."""
    return Counter(tid for tid, t in requests_of(requests, feature) if t == turn)


def selector_of(feature: Feature) -> str:
    """Label selector of the feature's pods."""
    return f"{labels.FEATURE}={label_value(feature.name)}"


_RERUN = re.compile(r"^WARNING: \[([^\]]+)\] (.*); rerunning once$", re.MULTILINE)


def reruns(output: str) -> dict[str, str]:
    """Task id -> why, for each task the dispatcher ran again once (its pod was lost).

    A pod lost before its result (the git container killed, the node gone) is run again
    once, by design: such a task has two pods and may have two agent runs.  Tests that
    count pods per task allow exactly that, and only when the dispatcher said so.
    """
    return {match.group(1): match.group(2) for match in _RERUN.finditer(output)}


def runs_allowed(ids: Sequence[str], output: str) -> Counter[str]:
    """One pod (or agent run) per task; two for a task the dispatcher said it reran."""
    again = reruns(output)
    return Counter({tid: 2 if tid in again else 1 for tid in ids})


def at_most(counted: Counter[str], allowed: Counter[str]) -> bool:
    """Every task counted at least once and at most as often as ``allowed``, no other task."""
    return set(counted) == set(allowed) and all(counted[t] <= allowed[t] for t in allowed)
