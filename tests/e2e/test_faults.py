"""Faults: a pod deleted mid-run, a rerun after a timeout, a log stream cut mid-run."""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
import yaml

from tests.e2e.cluster import NAMESPACE, Kubectl, wait_for
from tests.e2e.conftest import SPAWN, TAIL, Feature, create_secret, run_script
from tests.e2e.gitea import GiteaServer
from tests.support.scripted_llm import Marker, write_target
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def git_secret(installed: Kubectl, gitea: GiteaServer) -> Iterator[str]:
    """Our own git Secret: the shared cluster's default one may hold another run's token."""
    name = f"e2e-git-{uuid.uuid4().hex[:8]}"
    create_secret(installed, name, "token", gitea.auth.token)
    yield name
    installed.run("delete", "secret", name, "-n", NAMESPACE, "--ignore-not-found")


def spawn(feature: Feature, task_id: str, *extra: str) -> str:
    done = run_script(
        SPAWN, "--task-id", task_id, "--branch", feature.branch(task_id),
        "--repo", feature.remote_url, "--context-dir", str(feature.feature_dir),
        "--base", "main", "--cleanup", "never", *extra, cwd=feature.clone,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


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


def _file(gitea: GiteaServer, feature: Feature, task_id: str, path: str) -> str | None:
    return gitea.read_file(feature.repo, feature.branch(task_id), path)


def test_pod_deleted_mid_run_pushes_wip_and_is_not_marked_done(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    git_secret: str,
) -> None:
    feature = make_feature(["- [ ] T500 [ASYNC] Write then hang scripted:write-then-stall"])
    path, content = write_target(Marker("write", {}, "T500"))
    pod = spawn(
        feature, "T500", "--git-secret", git_secret, "--stall-timeout", "1h", "--timeout", "20m"
    )
    tail = Follower(
        [pod, "--mark-done", "--tasks", str(feature.tasks_file)], feature.clone, installed.env
    )
    try:
        wait_for("the agent's write", lambda: tail.saw(f"[tool] write {path}"), timeout=240)
    finally:
        installed.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false")
    rc = tail.wait(timeout=180)
    summary = [line for line in tail.lines if " RESULT " in line]
    assert rc == 5, tail.dump()
    assert len(summary) == 1 and "status=killed" in summary[0], tail.dump()
    assert _file(gitea, feature, "T500", path) == content, "the WIP commit was not pushed"
    commit = gitea.branch_commit(feature.repo, feature.branch("T500"))
    assert commit and f"commit={commit}" in summary[0], (commit, summary)
    assert "- [ ] T500 [ASYNC]" in feature.tasks_file.read_text()


def test_rerun_after_timeout_continues_from_the_pushed_branch(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    git_secret: str,
) -> None:
    first = "- [ ] T510 [ASYNC] Part one scripted:write-then-stall,path=scripted/first.txt"
    feature = make_feature([first])
    pod = spawn(
        feature, "T510", "--git-secret", git_secret, "--timeout", "60", "--stall-timeout", "1h"
    )
    run1 = run_script(TAIL, pod, "--namespace", NAMESPACE, cwd=feature.clone, timeout=300)
    assert run1.returncode == 124, run1.stdout + run1.stderr
    assert _file(gitea, feature, "T510", "scripted/first.txt") is not None
    first_commit = gitea.branch_commit(feature.repo, feature.branch("T510"))

    text = feature.tasks_file.read_text()
    second = "- [ ] T510 [ASYNC] Part two scripted:write,path=scripted/second.txt"
    feature.tasks_file.write_text(text.replace(first, second))
    pod2 = spawn(feature, "T510", "--git-secret", git_secret, "--timeout", "10m")
    run2 = run_script(TAIL, pod2, "--namespace", NAMESPACE, cwd=feature.clone, timeout=300)
    assert run2.returncode == 0, run2.stdout + run2.stderr
    assert "already exists on the remote: continuing from it" in run2.stdout
    assert _file(gitea, feature, "T510", "scripted/first.txt") is not None
    assert _file(gitea, feature, "T510", "scripted/second.txt") is not None
    head = gitea.branch_commit(feature.repo, feature.branch("T510"))
    parents = gitea.api("GET", f"/repos/{gitea.owner}/{feature.repo}/git/commits/{head}")
    assert first_commit in [p["sha"] for p in parents["parents"]]


LINES = 150
PRINTER = f"""
import time
for i in range({LINES}):
    print(f'line {{i:03d}} ' + 'x' * 40, flush=True)
    time.sleep(0.1)
"""


def _proxied_kubeconfig(kubectl: Kubectl, proxy_dir: Path) -> tuple[Path, tuple[str, int]]:
    config = yaml.safe_load(kubectl.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    host, _, port = server.removeprefix("https://").rpartition(":")
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:{port}"
    path = proxy_dir / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path, (host, int(port))


@pytest.mark.timeout(600)
def test_log_stream_cut_loses_and_repeats_nothing(
    make_feature: Callable[[list[str]], Feature], installed: Kubectl, tmp_path: Path
) -> None:
    feature = make_feature(["- [ ] T520 [ASYNC] Print lines scripted:noop"])
    spawned = run_script(
        SPAWN, "T520", "--repo", feature.remote_url, "--base", "main", "--dry-run",
        cwd=feature.clone,
    )  # fmt: skip
    docs = [d for d in yaml.safe_load_all(spawned.stdout) if d]
    pod_doc = next(d for d in docs if d["kind"] == "Pod")
    pod_doc["spec"]["containers"][0]["command"] = ["python3", "-u", "-c", PRINTER]
    pod = pod_doc["metadata"]["name"]
    installed.run("apply", "-f", "-", input_text=yaml.safe_dump_all(docs))
    template, upstream = _proxied_kubeconfig(installed, tmp_path)
    proxy = TcpProxy(upstream)
    config = template.read_text().replace("{port}", str(proxy.port))
    template.write_text(config)
    env = {**installed.env, "KUBECONFIG": str(template)}
    tail = Follower([pod], feature.clone, env)
    try:
        cuts = 0
        for after in (20, 60, 100):
            mark = f"line {after:03d}"
            try:
                wait_for(mark, lambda mark=mark: tail.saw(mark), 120, 0.05)  # type: ignore[misc]
            except TimeoutError as err:
                raise AssertionError(f"{err}\n{tail.dump()}") from err
            cuts += proxy.cut()
        rc = tail.wait(timeout=180)
        full = installed.run("logs", pod, "-n", NAMESPACE).stdout.splitlines()
    finally:
        proxy.close()
        installed.run("delete", "pod", pod, "-n", NAMESPACE, "--wait=false", check=False)
    assert cuts >= 3 and proxy.accepted > 3, (cuts, proxy.accepted)
    assert len(full) == LINES
    streamed = [line.removeprefix("[T520] ") for line in tail.lines if " RESULT " not in line]
    assert streamed == full, tail.dump()
    assert rc == 9, tail.dump()  # exit 0 without a result line is unknown, not success
