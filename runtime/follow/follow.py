"""Follow one or several agent pods: wait, stream, classify; lines interleave whole.

One thread per pod waits through Pending (``podwatch``), streams its log
(``logs``) and classifies how it ended (``completion``).  Threads never print:
they put ``(target, kind, payload)`` messages on one queue and the main thread
prints each whole line, so lines of different pods never mix, and runs the
end-of-pod actions (``on_end``) one pod at a time.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from runtime.contract.exit_codes import ExitCode
from runtime.contract.outcome import Result
from runtime.errors import (
    ClusterUnreachableError,
    PodNotFoundError,
    SpeckitPodsError,
    StillRunningError,
)
from runtime.follow.classify import LAST_LINES, Outcome, checkpoint_pushed, classify
from runtime.kube.logs import LogSource, Printer, read_once, stream_logs
from runtime.kube.pod import Pod, PodView, has_started, is_finished
from runtime.kube.podwatch import ClusterPods, Deadline, StuckPolicy, diagnose, wait_for

GRACE_S = 30.0  # after --timeout, how long the main thread waits for the pod threads


@dataclasses.dataclass(frozen=True)
class Target:
    """One pod to follow; ``task`` prefixes its lines, ``index`` picks its colour."""

    pod: str
    task: str
    index: int = 0


@dataclasses.dataclass(frozen=True)
class Ended:
    """A pod that ended (or disappeared), with the verdict."""

    target: Target
    pod: Pod
    outcome: Outcome
    deleted: bool = False


@dataclasses.dataclass(frozen=True)
class Cluster:
    """What following needs from the cluster (fakes in tests)."""

    pods: ClusterPods
    logs: LogSource
    policy: StuckPolicy = StuckPolicy()
    sleep: Callable[[float], None] = time.sleep


Emit = Callable[[str, Any], None]
OnEnd = Callable[[Ended], int]


def follow_pod(target: Target, cluster: Cluster, deadline: Deadline, emit: Emit) -> Ended:
    """Follow one pod to its end, emitting ``("line", text)`` and ``("note", text)``."""

    def wait(until: Callable[[Pod], bool]) -> Any:
        report = lambda text: emit("note", text)  # noqa: E731
        return wait_for(
            cluster.pods, target.pod, until, deadline=deadline, report=report,
            policy=cluster.policy, sleep=cluster.sleep,
        )  # fmt: skip

    waited = wait(has_started)
    result: Result | None = None
    last: deque[str] = deque(maxlen=LAST_LINES)
    checkpoint = ""
    if not waited.deleted:
        for text in stream_logs(
            cluster.logs, cluster.pods, target.pod, deadline=deadline, sleep=cluster.sleep
        ):
            emit("line", text)
            last.append(text)
            result = Result.from_line(text) or result
            checkpoint = checkpoint_pushed(text) or checkpoint
        waited = wait(is_finished)
    outcome = classify(
        waited.pod, result, deleted=waited.deleted, last_lines=list(last), checkpoint=checkpoint
    )
    return Ended(target, waited.pod, outcome, deleted=waited.deleted)


def _worker(target: Target, cluster: Cluster, deadline: Deadline, put: Callable[..., None]) -> None:
    def emit(kind: str, payload: Any) -> None:
        put((target, kind, payload))

    try:
        put((target, "ended", follow_pod(target, cluster, deadline, emit)))
    except Exception as err:  # noqa: BLE001 - handed to the main thread, which reports it
        put((target, "error", err))


def report_error(printer: Printer, target: Target, err: BaseException) -> int:
    """Print an error of one pod (``ERROR:`` + ``Hint:``) and return its exit code."""
    if isinstance(err, (HTTPError, OSError)):  # retried for a minute by runtime.kube.client
        reason = getattr(err, "reason", None) or err
        err = ClusterUnreachableError(
            f"lost the Kubernetes API while following pod {target.pod}: {type(reason).__name__}",
            hint=f"the pod is unaffected; follow it again with `scripts/tail-logs.sh {target.pod}`",
        )
    if isinstance(err, SpeckitPodsError):
        printer.note("ERROR", target.task, target.index, err.message)
        if err.hint:
            print(f"Hint: {err.hint}", file=printer.err, flush=True)
        return err.exit_code
    printer.note("ERROR", target.task, target.index, f"{type(err).__name__}: {err}")
    return ExitCode.FAILED


def first_failure(codes: Sequence[int]) -> int:
    """0 when every code is 0, else the first non-zero code."""
    return next((code for code in codes if code != 0), 0)


def follow_all(
    targets: Sequence[Target], cluster: Cluster, deadline: Deadline, printer: Printer, on_end: OnEnd
) -> int:
    """Follow every target at once; return the first failing exit code (target order)."""
    messages: queue.Queue[tuple[Target, str, Any]] = queue.Queue()
    for target in targets:
        args = (target, cluster, deadline, messages.put)
        threading.Thread(
            target=_worker, args=args, name=f"follow-{target.pod}", daemon=True
        ).start()
    codes: dict[str, int] = {}
    while len(codes) < len(targets):
        remaining = deadline.remaining()
        try:
            target, kind, payload = messages.get(
                timeout=None if remaining is None else remaining + GRACE_S
            )
        except queue.Empty:
            for target in targets:
                if target.pod not in codes:
                    err = StillRunningError(f"pod {target.pod} still runs; gave up (--timeout)")
                    codes[target.pod] = report_error(printer, target, err)
            break
        if kind == "line":
            printer.line(target.task, target.index, payload)
        elif kind == "note":
            printer.note("WARNING", target.task, target.index, payload)
        elif kind == "ended":
            codes[target.pod] = on_end(payload)
        else:
            codes[target.pod] = report_error(printer, target, payload)
    return first_failure([codes[target.pod] for target in targets])


def snapshot(target: Target, cluster: Cluster, printer: Printer) -> Ended | None:
    """Print the current log once; the verdict if the pod ended, else ``None``."""
    pod = cluster.pods.read(target.pod)
    if pod is None:
        raise PodNotFoundError(
            f"pod {target.pod!r} not found in namespace {cluster.pods.namespace}"
        )
    lines: list[str] = []
    if has_started(pod):
        try:
            lines = read_once(cluster.logs, target.pod)
        except ApiException as err:
            # 400: the container has not started; a lost node's kubelet cannot answer
            if err.status != 400 and not PodView(pod).node_lost:
                raise
    for text in lines:
        printer.line(target.task, target.index, text)
    if is_finished(pod):
        result = next((r for r in map(Result.from_line, reversed(lines)) if r), None)
        checkpoint = next((c for c in map(checkpoint_pushed, reversed(lines)) if c), "")
        outcome = classify(pod, result, last_lines=lines[-LAST_LINES:], checkpoint=checkpoint)
        return Ended(target, pod, outcome)
    if not has_started(pod):
        diagnosis = diagnose(pod, cluster.pods.events(target.pod), cluster.policy)
        if diagnosis is not None:
            printer.note("WARNING", target.task, target.index, diagnosis.message)
    phase = PodView(pod).phase or "Unknown"
    printer.note("INFO", target.task, target.index, f"not ended yet (phase {phase})")
    return None


def snapshot_all(
    targets: Sequence[Target], cluster: Cluster, printer: Printer, on_end: OnEnd
) -> int:
    """``--no-follow``: one snapshot per target; 27 for pods still running."""
    codes = []
    for target in targets:
        try:
            ended = snapshot(target, cluster, printer)
        except SpeckitPodsError as err:
            codes.append(report_error(printer, target, err))
            continue
        codes.append(StillRunningError.exit_code if ended is None else on_end(ended))
    return first_failure(codes)
