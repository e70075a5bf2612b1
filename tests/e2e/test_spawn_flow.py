"""F1-F4: spawn an [ASYNC] task, stream it, and find its commit in Gitea."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

from tests.e2e.cluster import Kubectl, wait_for
from tests.e2e.conftest import TAIL, Feature, run_script, spawn, task_configmap
from tests.e2e.gitea import GiteaServer
from tests.support.scripted_llm import Marker, write_target


def expected_write(task_id: str) -> tuple[str, str]:
    return write_target(Marker("write", {}, task_id))


def test_async_task_commits_to_its_branch_and_streams(
    make_feature: Callable[[list[str]], Feature], gitea: GiteaServer, installed: Kubectl
) -> None:
    feature = make_feature(["- [ ] T010 [ASYNC] [US1] Write the greeting file scripted:write"])
    base_before = gitea.branch_commit(feature.repo, "main")
    pod = spawn(feature, "T010")
    configmap = task_configmap(installed, pod)

    # F2: the first agent line arrives on stdout before the pod ends.
    lines: list[str] = []
    first_line_phase: list[str] = []
    with subprocess.Popen(
        ["bash", str(TAIL), pod, "--namespace", "speckit-pods", "--mark-done", "--tasks",
         str(feature.tasks_file), "--verify-remote"],
        cwd=feature.clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**_git_env(gitea), "NO_COLOR": "1"},
    ) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            if not lines:
                first_line_phase.append(_phase(installed, pod))
            lines.append(line.rstrip("\n"))
        stderr = proc.stderr.read()
        rc = proc.wait(timeout=60)
    assert rc == 0, f"tail-logs exit {rc}\nstdout:\n" + "\n".join(lines) + f"\nstderr:\n{stderr}"
    assert first_line_phase and first_line_phase[0] in ("Running", "Pending"), first_line_phase
    assert all(line.startswith("[T010] ") for line in lines), lines
    summary = [line for line in lines if " RESULT " in line]
    assert len(summary) == 1 and "status=succeeded" in summary[0], summary

    # F3/F4: the commit is on the task branch with exactly the scripted content.
    branch = feature.branch("T010")
    commit = gitea.branch_commit(feature.repo, branch)
    assert commit and f"commit={commit}" in summary[0]
    path, content = expected_write("T010")
    assert gitea.read_file(feature.repo, branch, path) == content
    message = gitea.api("GET", f"/repos/{gitea.owner}/{feature.repo}/git/commits/{commit}")
    assert message["commit"]["message"].startswith("T010: Write the greeting file")
    # the base branch is untouched
    assert gitea.branch_commit(feature.repo, "main") == base_before
    # completion: marked [X] locally; on-success cleanup removed the pod (and its ConfigMap)
    assert "- [X] T010 [ASYNC]" in feature.tasks_file.read_text()
    assert "cleanup" in stderr.lower() or "deleted" in stderr.lower(), stderr
    wait_for(f"pod {pod} deleted", lambda: _phase(installed, pod) == "Gone", timeout=90)
    wait_for(
        f"configmap of {pod} garbage-collected",
        lambda: (
            installed.run(
                "get", "configmap", configmap, "-n", "speckit-pods", check=False
            ).returncode
            != 0
        ),
        timeout=90,
    )


def test_three_async_tasks_run_in_parallel(
    make_feature: Callable[[list[str]], Feature], gitea: GiteaServer, installed: Kubectl
) -> None:
    ids = ["T020", "T021", "T022"]
    feature = make_feature(
        [f"- [ ] {tid} [P] [ASYNC] Write file {tid} scripted:write" for tid in ids]
    )
    pods = [spawn(feature, tid, "--cleanup", "never") for tid in ids]
    result = run_script(
        TAIL, "--all", "--feature", feature.name, "--namespace", "speckit-pods",
        cwd=feature.clone, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    for tid in ids:
        path, content = expected_write(tid)
        assert gitea.read_file(feature.repo, feature.branch(tid), path) == content
        mine = [line for line in out if line.startswith(f"[{tid}] ")]
        assert sum(" RESULT status=succeeded" in line for line in mine) == 1
        # no line lost or duplicated: compare with the pod's full log
        pod = next(p for p in pods if tid.lower() in p)
        full = installed.run("logs", pod, "-n", "speckit-pods").stdout.splitlines()
        streamed = [line[len(tid) + 3 :] for line in mine if " RESULT " not in line]
        assert streamed == full
    # their running intervals overlap
    spans = [_running_span(installed, pod) for pod in pods]
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    for pod in pods:
        installed.run("delete", "pod", pod, "-n", "speckit-pods", "--wait=false")


def _phase(kubectl: Kubectl, pod: str) -> str:
    out = kubectl.run(
        "get", "pod", pod, "-n", "speckit-pods", "-o", "jsonpath={.status.phase}", check=False
    )
    return out.stdout.strip() or "Gone"


def _running_span(kubectl: Kubectl, pod: str) -> tuple[float, float]:
    status = kubectl.json("get", "pod", pod, "-n", "speckit-pods")["status"]
    state = status["containerStatuses"][0]["state"]["terminated"]
    return _ts(state["startedAt"]), _ts(state["finishedAt"])


def _ts(text: str) -> float:
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def _git_env(gitea: GiteaServer) -> dict[str, str]:
    """The developer's own git credentials, for --verify-remote's ls-remote."""
    return {**os.environ, **gitea.auth.env()}
