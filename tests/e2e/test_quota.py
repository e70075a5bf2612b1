"""A namespace whose quota admits 3 pods: the dispatcher's fourth task waits, then runs.

In a namespace of its own (the project's manifests through an overlay naming it, the
ResourceQuota patched to ``pods: 3``), four independent [ASYNC] tasks run through
``run-async.sh --max-parallel 4``; the scripted LLM holds each agent's first answer
(``scripted:held``) until the test releases that task. Seen from outside (a watch on
the API): never more than 3 agent pods at once, the fourth task has no pod while the
dispatcher prints its queued reason (once), its pod starts only after a released task's
pod ended, and all four succeed with their branches on Gitea.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
import yaml

from tests.e2e.cluster import REPO_ROOT, Kubectl, wait_for
from tests.e2e.conftest import Feature, install
from tests.e2e.gitea import GiteaServer
from tests.e2e.observe import PodCensus, selector_of
from tests.support.scripted_llm import Marker, ScriptedLLMServer, write_target

RUN_ASYNC = REPO_ROOT / "scripts" / "run-async.sh"
IDS = ("T500", "T501", "T502", "T503")
ROOM = 3
QUEUED = "queued: quota speckit-pods full (pods)"


@pytest.fixture
def quota_namespace(
    installed: Kubectl, gitea: GiteaServer, llm_cluster_url: str, llm_key: str, tmp_path: Path
) -> Iterator[str]:
    """A namespace of its own: the manifests through an overlay (which names the Namespace
    object too), its quota lowered to 3 pods; deleted after."""
    namespace = f"speckit-pods-quota-{uuid.uuid4().hex[:8]}"
    overlay = tmp_path / "quota-overlay"
    overlay.mkdir()
    lower = [{"op": "replace", "path": "/spec/hard/pods", "value": str(ROOM)}]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": [os.path.relpath(REPO_ROOT / "manifests", overlay)],
        "patches": [
            {
                "target": {"kind": "ResourceQuota", "name": "speckit-pods"},
                "patch": json.dumps(lower),
            }
        ],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    try:
        install(installed, overlay, namespace, gitea, llm_cluster_url, llm_key)
        wait_for(  # until then the API refuses every pod: "status unknown for quota"
            "the quota controller to count the namespace's pods",
            lambda: (
                _quota_status(installed, namespace).get("hard", {}).get("pods") == str(ROOM)
                and "pods" in _quota_status(installed, namespace).get("used", {})
            ),
            timeout=60,
        )
        yield namespace
    finally:
        installed.run("delete", "namespace", namespace, "--timeout=180s", check=False)


def _quota_status(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, str]]:
    quota = kubectl.json("get", "resourcequota", "speckit-pods", "-n", namespace)
    return dict(quota.get("status") or {})


class Lines:
    """One of the dispatcher's streams, read line by line as it comes (a thread).

    Both streams are read so, never by ``communicate()`` as well: it would close the
    stream under the thread (a ValueError in it, seen once).
    """

    def __init__(self, stream: IO[str] | None) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        assert stream is not None
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        with stream:  # closed here at its end: nothing else reads or closes it
            for line in stream:
                with self._lock:
                    self.lines.append(line.rstrip("\n"))

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def join(self) -> None:
        self._thread.join(timeout=30)


def _dispatch(feature: Feature, namespace: str) -> subprocess.Popen[str]:
    args = [
        "bash", str(RUN_ASYNC), "--no-integrate",
        "--tasks", str(feature.tasks_file), "--repo", feature.remote_url,
        "--base", "main", "--namespace", namespace, "--timeout", "20m",
        "--stall-timeout", "15m", "--max-parallel", "4", "--cleanup", "on-success", "--no-live",
    ]  # fmt: skip
    return subprocess.Popen(
        args, cwd=feature.clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


def _held_now(llm: ScriptedLLMServer, count: int) -> set[str] | None:
    """The tasks whose agent waits at its first answer, once there are ``count``."""
    held = llm.held() & set(IDS)
    return held if len(held) == count else None


def _first(lines: list[str], text: str) -> int:
    return next(i for i, line in enumerate(lines) if text in line)


@pytest.mark.timeout(1500)
def test_the_fourth_task_waits_for_the_quota_and_runs_when_a_pod_ends(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    llm: ScriptedLLMServer,
    quota_namespace: str,
) -> None:
    feature = make_feature([f"- [ ] {tid} [P] [ASYNC] Write {tid} scripted:held" for tid in IDS])
    census = PodCensus(installed.kubeconfig, selector_of(feature), namespace=quota_namespace)
    with census:
        proc = _dispatch(feature, quota_namespace)
        err, out_lines = Lines(proc.stderr), Lines(proc.stdout)
        try:
            held = wait_for(
                "three agents running, each held at its first answer",
                lambda: _held_now(llm, ROOM),
                timeout=420,
                interval=1,
            )
            (fourth,) = set(IDS) - held
            wait_for(
                f"the dispatcher to say {fourth} is queued",
                lambda: any(f"[{fourth}] {QUEUED}" in line for line in err.snapshot()),
                timeout=120,
                interval=0.5,
            )
            assert census.peak <= ROOM, (census.peak, census.errors)
            assert census.pods_per_task()[fourth] == 0, census.tasks  # refused: no pod at all

            released = min(held)
            llm.release(released)
            wait_for(f"{fourth}'s agent to run", lambda: fourth in llm.held(), timeout=420)
            lines = err.snapshot()
            assert _first(lines, f"[{released}] succeeded") < _first(
                lines, f"[{fourth}] started pod"
            ), "\n".join(lines)
            for tid in IDS:
                llm.release(tid)
            proc.wait(timeout=900)
        finally:
            for tid in IDS:
                llm.release(tid)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        err.join()
        out_lines.join()
    lines = err.snapshot()
    stdout = "\n".join(out_lines.snapshot())
    out = stdout + "\n" + "\n".join(lines)

    assert proc.returncode == 0, out
    assert census.peak <= ROOM, (census.peak, census.errors)
    assert census.pods_per_task() == Counter(dict.fromkeys(IDS, 1)), census.tasks
    assert sum(f"[{fourth}] {QUEUED}" in line for line in lines) == 1, out  # once, not per retry
    for tid in IDS:
        path, content = write_target(Marker("held", {}, tid))
        assert gitea.read_file(feature.repo, feature.branch(tid), path) == content, (tid, out)
