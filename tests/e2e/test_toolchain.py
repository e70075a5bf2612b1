"""A repository's own toolchain on the real cluster: a toolchain image and a setup script.

The test builds a toolchain image ``FROM`` the e2e agent image, shaped like
``examples/toolchain/Dockerfile`` but adding its tool with ``COPY`` (a small script)
instead of ``apt-get``: the e2e reaches no package mirror.  It pushes it to the registry
beside the cluster and dispatches two tasks of a repository whose ``.speckit-pods/setup.sh``
installs a wrapper of that tool in ``$HOME/.local/bin`` -- except for T081, where it
prints two lines and exits 3:

* T080: the setup runs before the agent (``[setup]`` lines in the pod's log), the scripted
  LLM's one bash call runs the wrapper, and the tool's output is on the task branch; the
  pod's ``agent`` container ran the toolchain image while ``git`` and ``llm-proxy`` kept
  the agent image (read from the API).
* T081: ``setup-failed`` (exit 32) with the exit code and the script's last lines in the
  reason; the scripted LLM is never asked for it and no branch is pushed.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.e2e import registry
from tests.e2e.cluster import NAMESPACE, Kubectl, pinned_versions
from tests.e2e.conftest import Feature
from tests.e2e.gitea import GiteaServer, git
from tests.e2e.observe import requests_of
from tests.e2e.test_dispatch import dispatch, results
from tests.support.scripted_llm import ScriptedLLMServer

TOOL = '#!/bin/sh\necho speckit-e2e-tool 1.0 "$@"\n'
# examples/toolchain/Dockerfile's shape, the tool COPYed: no network at build time
DOCKERFILE = """\
ARG AGENT_IMAGE
FROM ${AGENT_IMAGE}
USER root
COPY speckit-e2e-tool /usr/local/bin/speckit-e2e-tool
RUN chmod 0755 /usr/local/bin/speckit-e2e-tool
USER 10001:10001
"""
SETUP = """\
#!/usr/bin/env bash
set -euo pipefail
if [ "$TASK_ID" = T081 ]; then
  echo "fetching the repository's dependencies"
  echo "E: the dependencies cannot be fetched" >&2
  exit 3
fi
mkdir -p "$HOME/.local/bin"
printf '#!/bin/sh\\nexec speckit-e2e-tool --via-setup "$@"\\n' > "$HOME/.local/bin/repo-tool"
chmod +x "$HOME/.local/bin/repo-tool"
echo "repo-tool installed in $HOME/.local/bin"
"""
TASKS = [
    "- [ ] T080 [P] [ASYNC] Run the repository's tool "
    "scripted:run,command=repo-tool%20--version%20%3E%20tool-version.txt",
    "- [ ] T081 [P] [ASYNC] Gets no agent: its setup fails scripted:write",
]


@pytest.fixture(scope="module")
def toolchain_image(
    agent_image: str, e2e_registry: registry.Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The toolchain image built FROM the local agent image, as the cluster pulls it."""
    context = tmp_path_factory.mktemp("toolchain")
    (context / "Dockerfile").write_text(DOCKERFILE, encoding="utf-8")
    (context / "speckit-e2e-tool").write_text(TOOL, encoding="utf-8")
    local = f"speckit-pods/e2e-toolchain:{uuid.uuid4().hex[:8]}"
    base = pinned_versions()["AGENT_IMAGE"]  # what agent_image pushed: built locally
    build = ["docker", "build", "--build-arg", f"AGENT_IMAGE={base}", "-t", local, str(context)]
    done = subprocess.run(build, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    try:
        ref = e2e_registry.push(local)
        assert ref != agent_image
        yield ref
    finally:
        subprocess.run(["docker", "rmi", local], capture_output=True, check=False)


def _commit_setup_script(feature: Feature, gitea: GiteaServer) -> None:
    script = feature.clone / ".speckit-pods" / "setup.sh"
    script.parent.mkdir()
    script.write_text(SETUP, encoding="utf-8")
    ident = ["-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid"]
    git(["add", ".speckit-pods/setup.sh"], feature.clone)
    git([*ident, "commit", "-q", "-m", "Add the setup script"], feature.clone)
    git(["push", "-q", "origin", "main"], feature.clone, gitea.auth)


def _result(stdout: str, task: str) -> tuple[str, str]:
    """The task's RESULT line and its reason (the line's JSON-quoted last field)."""
    line = next(ln for ln in stdout.splitlines() if ln.startswith(f"[{task}] RESULT "))
    return line, str(json.loads(line.partition(" reason=")[2]))


def test_the_toolchain_image_and_the_setup_script_equip_the_agent(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    llm: ScriptedLLMServer,
    agent_image: str,
    toolchain_image: str,
) -> None:
    feature = make_feature(TASKS)
    _commit_setup_script(feature, gitea)

    done = dispatch(feature, "--toolchain-image", toolchain_image, "--cleanup", "never")

    out = done.stdout + done.stderr
    assert results(done.stdout) == {"T080": "succeeded", "T081": "setup-failed"}, out
    assert done.returncode == 1, out  # a task failed
    # T080: the tool of the image, through the wrapper the setup script installed
    version = gitea.read_file(feature.repo, feature.branch("T080"), "tool-version.txt")
    assert version == "speckit-e2e-tool 1.0 --via-setup --version\n", out
    pods = {
        str(p["metadata"]["labels"]["speckit-pods.dev/task"]): p
        for p in installed.pods(f"speckit-pods.dev/feature={feature.name}")
    }
    try:
        spec = pods["T080"]["spec"]
        images = {c["name"]: c["image"] for c in [*spec["initContainers"], *spec["containers"]]}
        assert images == {"llm-proxy": agent_image, "git": agent_image, "agent": toolchain_image}
        name = pods["T080"]["metadata"]["name"]
        log = installed.run("logs", name, "-n", NAMESPACE, "-c", "git").stdout
        assert "[setup] repo-tool installed in /home/agent/.local/bin" in log, log
        assert log.index("[setup] repo-tool installed") < log.index("[agent] running opencode")
        # T081: the script's exit code and last lines; no agent, no LLM request, no branch
        line, reason = _result(done.stdout, "T081")
        assert " exit=32 " in line, line
        assert reason == (
            "setup script exited 3; last lines: fetching the repository's dependencies"
            " | E: the dependencies cannot be fetched"
        ), line
        # this feature's requests only: the scripted LLM serves the whole session, and
        # other tests use the same task IDs
        asked = [tid for tid, _ in requests_of(llm.requests, feature)]
        assert "T081" not in asked
        assert "T080" in asked  # the control
        assert feature.branch("T081") not in gitea.list_branches(feature.repo)
        assert "- [ ] T081 " in feature.tasks_file.read_text()
    finally:
        for pod in pods.values():
            installed.run("delete", "pod", str(pod["metadata"]["name"]), "-n", NAMESPACE)
