"""Record when each pod's ``agent`` container starts Running (a watch, not polling)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from tests.e2e.cluster import NAMESPACE, Kubectl


class RunningTimes:
    """Watches the namespace's pods matching ``selector`` in a thread.

    ``running_at(pod)`` is the ``time.monotonic()`` at which the watch event showing
    the container in state ``running`` arrived.
    """

    def __init__(self, kubeconfig: Path, selector: str, namespace: str = NAMESPACE) -> None:
        api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(api)
        self.selector, self.namespace = selector, namespace
        self.times: dict[str, float] = {}
        self.error = ""  # the watch's last failure, for the timeout's message
        self._cond = threading.Condition()
        self._watch = watch.Watch()  # type: ignore[no-untyped-call]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)

    def __enter__(self) -> RunningTimes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._watch.stop()  # type: ignore[no-untyped-call]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for event in self._watch.stream(  # type: ignore[no-untyped-call]
                    self.core.list_namespaced_pod, self.namespace,
                    label_selector=self.selector, timeout_seconds=60,
                ):  # fmt: skip
                    self._seen(event["object"])
            except Exception as err:  # noqa: BLE001 - a dropped watch restarts
                self.error = f"{type(err).__name__}: {err}"[:500]
                time.sleep(0.2)

    def _seen(self, pod: Any) -> None:
        statuses = pod.status.container_statuses or []
        if any(s.name == "agent" and s.state and s.state.running for s in statuses):
            with self._cond:
                self.times.setdefault(pod.metadata.name, time.monotonic())
                self._cond.notify_all()

    def running_at(self, pod: str, timeout: float = 180.0) -> float:
        """Block until ``pod`` was seen Running; its monotonic time."""
        with self._cond:
            if not self._cond.wait_for(lambda: pod in self.times, timeout):
                why = f" (the watch failed: {self.error})" if self.error else ""
                raise TimeoutError(f"pod {pod} not Running after {timeout:.0f}s{why}")
            return self.times[pod]


def time_to_running(
    kubectl: Kubectl, manifest: str, pod: str, watcher: RunningTimes, since: float | None = None
) -> float:
    """Seconds from ``since`` (default: now) to the pod's container Running; then delete it."""
    start = time.monotonic() if since is None else since
    kubectl.run("apply", "-f", "-", input_text=manifest)
    seconds = watcher.running_at(pod) - start
    kubectl.run(
        "delete", f"pod/{pod}", f"configmap/{pod}-task", "-n", NAMESPACE,
        "--grace-period=1", "--wait=true",
    )  # fmt: skip
    return seconds
