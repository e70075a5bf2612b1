"""Git server down when the deadline's WIP push runs.

The agent writes its file and stalls; Gitea is paused (``docker pause``: connections
hang rather than fail fast); the run's deadline passes, the WIP commit's push is tried
with backoff and fails.  The pod must report ``push-rejected`` (exit 8) naming the
branch, and ``--cleanup on-success`` must keep the pod: the work lives only there.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.cluster import NAMESPACE, Kubectl, wait_for
from tests.e2e.conftest import Feature, spawn
from tests.e2e.follower import Follower
from tests.e2e.gitea import GiteaServer
from tests.support.scripted_llm import Marker, write_target


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def _healthy(gitea: GiteaServer) -> bool:
    try:
        return gitea.request("GET", "/api/healthz", token="")[0] == 200
    except OSError:
        return False


def _unpause(gitea: GiteaServer) -> None:
    state = _docker("inspect", "--format", "{{.State.Paused}}", gitea.container_id)
    if state.stdout.strip() == "true":
        done = _docker("unpause", gitea.container_id)
        assert done.returncode == 0, done.stderr
    wait_for("gitea healthy again", lambda: _healthy(gitea), timeout=60)


@pytest.fixture(scope="module")
def outage(gitea: GiteaServer) -> Iterator[Callable[[], contextlib.AbstractContextManager[None]]]:
    """``with outage(): ...`` pauses Gitea; it is unpaused on exit and after the module."""

    @contextlib.contextmanager
    def paused() -> Iterator[None]:
        done = _docker("pause", gitea.container_id)
        assert done.returncode == 0, done.stderr
        try:
            yield
        finally:
            _unpause(gitea)

    try:
        yield paused
    finally:
        _unpause(gitea)


def _run_through_outage(
    pod: str,
    path: str,
    feature: Feature,
    installed: Kubectl,
    outage: Callable[[], contextlib.AbstractContextManager[None]],
) -> tuple[int, Follower]:
    """Follow ``pod``; pause Gitea once the agent wrote ``path``; the follower's exit code."""
    tail = Follower([pod], feature.clone, installed.env)
    try:
        wait_for("the agent's write", lambda: tail.saw(f"[tool] write {path}"), timeout=240)
        with outage():  # the deadline (~34 s into the run) comes while Gitea is paused
            return tail.wait(timeout=400), tail
    finally:
        if tail.proc.poll() is None:
            tail.proc.kill()
            tail.proc.wait()


@pytest.mark.timeout(600)
def test_wip_push_during_git_outage_is_push_rejected_and_pod_kept(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    outage: Callable[[], contextlib.AbstractContextManager[None]],
) -> None:
    feature = make_feature(["- [ ] T600 [ASYNC] Write then hang scripted:write-then-stall"])
    path, _ = write_target(Marker("write", {}, "T600"))
    branch = feature.branch("T600")
    pod = spawn(feature, "T600", "--timeout", "45", "--stall-timeout", "1h",
                "--cleanup", "on-success")  # fmt: skip
    try:
        rc, tail = _run_through_outage(pod, path, feature, installed, outage)
        summary = [line for line in tail.lines if " RESULT " in line]
        assert len(summary) == 1, tail.dump()
        assert rc == 8 and "status=push-rejected" in summary[0], tail.dump()
        assert f"push to branch {branch!r} failed" in summary[0], tail.dump()
        assert tail.saw("[git] pushing "), tail.dump()
        assert gitea.branch_commit(feature.repo, branch) is None, "the push went through"
        kept = installed.run("get", "pod", pod, "-n", NAMESPACE, "-o", "name", check=False)
        assert kept.returncode == 0 and kept.stdout.strip() == f"pod/{pod}", kept.stderr
    finally:
        installed.run(
            "delete", "pod", pod, "-n", NAMESPACE, "--ignore-not-found", "--wait=false",
            check=False,
        )  # fmt: skip
