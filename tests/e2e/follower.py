"""Helpers for the log-stream e2e: ``tail-logs.sh`` in the background, and printer pods.

A printer pod is the agent Pod of ``spawn-pod.sh --dry-run`` (same image, security
context and ConfigMap) reduced to its ``git`` container, whose command prints numbered
lines at a steady pace, so a test knows exactly what the full log must be.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import IO

import yaml

from runtime.spawn.manifests import to_yaml
from tests.e2e.cluster import NAMESPACE, Kubectl
from tests.e2e.conftest import SPAWN, TAIL, Feature, run_script


def printer_pod(feature: Feature, task_id: str, kubectl: Kubectl, lines: int) -> str:
    """Create a pod for ``task_id`` that prints ``line 000`` .. every 0.1 s; its name."""
    spawned = run_script(
        SPAWN, task_id, "--repo", feature.remote_url, "--base", "main", "--dry-run",
        cwd=feature.clone,
    )  # fmt: skip
    docs = [d for d in yaml.safe_load_all(spawned.stdout) if d]
    pod = next(d for d in docs if d["kind"] == "Pod")
    program = (
        "import time\n"
        f"for i in range({lines}):\n"
        "    print(f'line {i:03d} ' + 'x' * 40, flush=True)\n"
        "    time.sleep(0.1)\n"
    )
    # one plain container named git (the log the host follows), printing and exiting: a
    # sidecar that exits would be restarted, and its startupProbe waits for a clone
    git = next(c for c in pod["spec"].pop("initContainers") if c["name"] == "git")
    for key in ("restartPolicy", "startupProbe"):
        git.pop(key)
    git["command"] = ["python3", "-u", "-c", program]
    pod["spec"]["containers"] = [git]
    kubectl.run("apply", "-f", "-", input_text=to_yaml(docs))
    return str(pod["metadata"]["name"])


class Follower:
    """``tail-logs.sh`` in the background; its stdout lines collected as they arrive."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["bash", str(TAIL), *args, "--namespace", NAMESPACE], cwd=cwd, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**env, "NO_COLOR": "1"},
        )  # fmt: skip
        self.lines: list[str] = []
        self.stderr = ""
        self._threads = [
            threading.Thread(target=self._out, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._err, args=(self.proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _out(self, stream: IO[str] | None) -> None:
        assert stream is not None
        with stream:
            for line in stream:
                self.lines.append(line.rstrip("\n"))

    def _err(self, stream: IO[str] | None) -> None:
        assert stream is not None
        with stream:
            self.stderr = stream.read()

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def wait(self, timeout: float = 300) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for thread in self._threads:
            thread.join(timeout=10)
        return rc

    def dump(self) -> str:
        return "stdout:\n" + "\n".join(self.lines) + f"\nstderr:\n{self.stderr}"
