"""Log latency: a line written in the pod -> on ``tail-logs.sh`` stdout, vs ``kubectl logs -f``.

One pod per run (the agent's Pod from ``spawn-pod.sh --dry-run``, the agent container's
command overridden) prints ``READY`` until both followers are attached, then
``LAT <i> <epoch>`` every 200 ms, each line both to its stdout (``kubectl logs -f -c
agent``, the baseline) and to the handoff's ``agent.log``, which the git side relays into
the pod's log as it does the real agent's (``tail-logs.sh``: relay, log API, our
printing).  The kind node shares the host's clock, so receive time minus the
embedded time is the latency.  Both followers read the same pod at the same time.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import pytest

from tests.bench.figures import Figure, Recorder
from tests.bench.kube_watch import RunningTimes
from tests.bench.manifest import agent, dry_run, renamed
from tests.e2e.cluster import NAMESPACE, Kubectl, wait_for
from tests.e2e.conftest import TAIL, Feature

RUNS = 5
LINES = 25
LAT_RE = re.compile(r"LAT (\d+) (\d+\.\d+)$")
# Each line goes to the agent container's stdout (what ``kubectl logs -f -c agent`` reads)
# and to the handoff directory's agent.log, where the real agent side writes its lines and
# the git side relays them into the pod's log (what ``tail-logs.sh`` reads).
SCRIPT = f"""
import os, time
log = open(os.path.join(os.environ.get('HANDOFF_DIR', '/handoff'), 'agent.log'), 'a')
def say(text):
    print(text, flush=True)
    log.write(text + '\\n')
    log.flush()
while not os.path.exists('/tmp/go'):
    say('READY')
    time.sleep(0.2)
for i in range({LINES}):
    say(f'LAT {{i}} {{time.time():.6f}}')
    time.sleep(0.2)
"""


class Reader:
    """Reads a follower's stdout in a thread, stamping each line on arrival."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[tuple[float, str]] = []
        self.thread = threading.Thread(target=self._run, args=(proc.stdout,), daemon=True)
        self.thread.start()

    def _run(self, stream: IO[str] | None) -> None:
        assert stream is not None
        with stream:
            for line in stream:
                self.lines.append((time.time(), line.rstrip("\n")))

    def ready(self) -> bool:
        return any(text.endswith("READY") for _, text in self.lines)

    def tail(self) -> list[str]:
        """Its last lines (stderr included), for a failure's message."""
        return [text for _, text in self.lines[-8:]]

    def latencies(self) -> list[float]:
        found = [(at, LAT_RE.search(text)) for at, text in self.lines]
        return [at - float(m.group(2)) for at, m in found if m]


def _follow(args: list[str], kubectl: Kubectl) -> Reader:
    env = {**kubectl.env, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    return Reader(proc)


def _set_command(pod: dict[str, Any]) -> None:
    agent(pod)["command"] = ["python3", "-u", "-c", SCRIPT]


def _one_run(feature: Feature, kubectl: Kubectl, i: int, watcher: RunningTimes) -> list[float]:
    pod = f"lat-{feature.repo}-{i}"
    manifest = renamed(dry_run(feature, "T300", "--cleanup", "never"), pod, _set_command)
    kubectl.run("apply", "-f", "-", input_text=manifest)
    ours = _follow(["bash", str(TAIL), pod, "--namespace", NAMESPACE, "--no-color"], kubectl)
    watcher.running_at(pod)
    base = _follow([str(kubectl.path), "logs", "-f", pod, "-c", "agent", "-n", NAMESPACE], kubectl)
    try:
        try:
            wait_for("both followers attached", lambda: ours.ready() and base.ready(), 60, 0.1)
        except TimeoutError as e:
            raise AssertionError(f"{e}; tail-logs: {ours.tail()}; kubectl: {base.tail()}") from e
        kubectl.run("exec", pod, "-c", "agent", "-n", NAMESPACE, "--", "touch", "/tmp/go")
        for reader in (ours, base):
            reader.proc.wait(timeout=120)
            reader.thread.join(timeout=10)
    finally:
        for reader in (ours, base):
            if reader.proc.poll() is None:
                reader.proc.kill()
                reader.proc.wait(timeout=10)  # reaped here, not warned of in a later test
        kubectl.run(
            "delete", f"pod/{pod}", f"configmap/{pod}-task", "-n", NAMESPACE,
            "--grace-period=1", "--wait=false", check=False,
        )  # fmt: skip
    got_ours, got_base = ours.latencies(), base.latencies()
    assert len(got_ours) == LINES and len(got_base) == LINES, (len(got_ours), len(got_base))
    return [statistics.median(got_ours), statistics.median(got_base)]


@pytest.mark.timeout(1200)
def test_log_latency(
    make_feature: Callable[[list[str]], Feature], installed: Kubectl, bench: Recorder
) -> None:
    feature = make_feature(["- [ ] T300 [ASYNC] Print timestamps scripted:noop"])
    ours: list[float] = []
    base: list[float] = []
    selector = f"speckit-pods.dev/feature={feature.name}"
    with RunningTimes(installed.kubeconfig, selector) as watcher:
        for i in range(RUNS):
            mine, theirs = _one_run(feature, installed, i, watcher)
            ours.append(mine * 1000)
            base.append(theirs * 1000)
    bench.add(
        Figure("log line -> stdout", "ms", tuple(ours), tuple(base), "kubectl logs -f",
               note=f"per run: median of {LINES} lines, 200 ms apart; same pod, both attached")
    )  # fmt: skip
