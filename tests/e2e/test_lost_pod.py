"""The flake, made on purpose: ``git`` SIGKILLed before its result line, rerun once.

Seen under heavy load: the agent container had exited, then the ``git`` sidecar was
SIGKILLed (exit 137) at the end of the grace period without printing a line after its
SIGTERM, and the pod ended with no result line.  Here the ``git`` side's processes are
frozen (SIGSTOP, through ``kubectl exec`` into the ``git`` container) while the agent
waits on a scripted LLM that never answers; the agent's stall watchdog then ends it by
itself, the kubelet sends the frozen ``git`` its SIGTERM and, 60 s later, SIGKILL.  The
task's text is switched to a plain write meanwhile (a rerun's pod reads tasks.md when it
is spawned), so the rerun the dispatcher makes succeeds.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from tests.e2e.cluster import NAMESPACE, REPO_ROOT, Kubectl, wait_for
from tests.e2e.conftest import Feature
from tests.e2e.gitea import GiteaServer
from tests.support.scripted_llm import Marker, write_target

RUN_ASYNC = REPO_ROOT / "scripts" / "run-async.sh"
TASK = "T070"
# SIGSTOP every process of the git side (tini, PID 1, ignores it from inside: its child
# is the git side); a stopped process prints nothing, SIGKILL still ends it
FREEZE = (
    "import os, signal\n"
    "for p in os.listdir('/proc'):\n"
    "    if p.isdigit() and int(p) not in (1, os.getpid()):\n"
    "        cmd = open(f'/proc/{p}/cmdline', 'rb').read()\n"
    "        if b'runtime.agent' in cmd:\n"
    "            os.kill(int(p), signal.SIGSTOP); print('stopped', p, flush=True)\n"
)


def agent_running(kubectl: Kubectl, feature: Feature) -> str | None:
    """The task's pod once its agent container runs (so ``git`` is past its clone)."""
    for pod in kubectl.pods(f"speckit-pods.dev/feature={feature.name}"):
        statuses: list[Mapping[str, Any]] = pod.get("status", {}).get("containerStatuses") or []
        if any(s.get("name") == "agent" and "running" in (s.get("state") or {}) for s in statuses):
            return str(pod["metadata"]["name"])
    return None


def test_a_git_container_killed_before_its_result_is_rerun_once(
    make_feature: Callable[[list[str]], Feature], gitea: GiteaServer, installed: Kubectl
) -> None:
    feature = make_feature(
        [f"- [ ] {TASK} [ASYNC] Write file then stall scripted:write-then-stall"]
    )
    args = [
        "bash", str(RUN_ASYNC), "--tasks", str(feature.tasks_file), "--repo", feature.remote_url,
        "--base", "main", "--namespace", NAMESPACE, "--no-integrate", "--no-live", "--json",
        "--stall-timeout", "30s", "--timeout", "10m",
    ]  # fmt: skip
    with subprocess.Popen(
        args, cwd=feature.clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    ) as proc:  # fmt: skip
        pod = wait_for("the agent container running", lambda: agent_running(installed, feature))
        frozen = installed.run(
            "exec", "-n", NAMESPACE, pod, "-c", "git", "--", "python3", "-c", FREEZE
        )  # fmt: skip
        assert "stopped" in frozen.stdout, frozen.stdout + frozen.stderr
        # the rerun's pod is spawned from the tasks.md of then: it writes and ends
        text = feature.tasks_file.read_text()
        feature.tasks_file.write_text(text.replace("scripted:write-then-stall", "scripted:write"))
        stdout, stderr = proc.communicate(timeout=600)

    assert proc.returncode == 0, stderr
    lost = f"WARNING: [{TASK}] the git container was killed (exit 137"
    warnings = [line for line in stderr.splitlines() if line.startswith(lost)]
    assert len(warnings) == 1, stderr
    assert warnings[0].endswith("before it printed a result; rerunning once"), warnings[0]
    data = json.loads(stdout)
    (task,) = data["tasks"]
    assert (task["id"], task["state"], task["attempts"]) == (TASK, "succeeded", 2), task
    path, content = write_target(Marker("write", {}, TASK))
    assert gitea.read_file(feature.repo, feature.branch(TASK), path) == content
    assert f"- [X] {TASK} " in feature.tasks_file.read_text()
