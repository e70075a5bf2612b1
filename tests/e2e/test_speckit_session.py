"""S1: the integration proof, a real spec-kit project driven by a real OpenCode session.

The project is made by the real ``specify init`` (specify-cli), our extension is added
with ``specify extension add --dev`` and the subagent with the extension's install
script.  The real ``opencode`` binary runs ``/speckit.implement`` on the host as the
MAIN session; the scripted LLM (``speckit-main``) makes it call the ``speckit-pods``
subagent once per [ASYNC] task, in parallel, and each subagent (``speckit-subagent``)
calls its two tools (``speckit_pods_spawn``, ``speckit_pods_follow``: ``spawn-pod.sh`` and
``tail-logs.sh --mark-done``, fixed argv, no shell) exactly as its prompt says; the
repository URL and the http:// opt-in come
from the project's ``pods-config.yml``, which the subagent cannot override.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.e2e.cluster import REPO_ROOT, Kubectl
from tests.e2e.gitea import GiteaServer, git
from tests.support import scripted_llm
from tests.support.opencode_offline import NO_PLUGIN_INSTALL, OPENCODE_OFFLINE_ENV
from tests.support.scripted_llm import Marker, write_target

ASYNC_IDS = ("T040", "T041")
TASKS_MD = """\
# Tasks: {feature}

## Phase 1: Setup

- [ ] T001 [SYNC] Create the project skeleton in src/

## Phase 2: Agents

- [ ] T040 [P] [ASYNC] [US1] Write the greeting file scripted:write
- [ ] T041 [P] [ASYNC] [US1] Write the farewell file scripted:write

## Phase 3: Polish

- [ ] T050 [SYNC] Review the agents' branches
"""


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args[:3]} exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def make_project(root: Path, feature: str) -> Path:
    """A spec-kit project from the real specify CLI, with our extension and subagent."""
    root.mkdir()
    git(["init", "-q", "-b", "main"], root)
    run(["specify", "init", "--here", "--force", "--non-interactive", "--integration",
         "opencode", "--script", "sh", "--ignore-agent-tools"], root)  # fmt: skip
    run(["specify", "extension", "add", "--dev", str(REPO_ROOT / "extension")], root)
    run(["bash", ".specify/extensions/pods/scripts/bash/install-agent.sh"], root)
    feature_dir = root / "specs" / feature
    feature_dir.mkdir(parents=True)
    (feature_dir / "spec.md").write_text("# Spec\n\nGreetings and farewells, one file each.\n")
    (feature_dir / "plan.md").write_text("# Plan\n\nPlain text files under scripted/.\n")
    (feature_dir / "tasks.md").write_text(TASKS_MD.format(feature=feature))
    git(["add", "--all"], root)
    git(["-c", "user.name=dev", "-c", "user.email=dev@example.invalid",
         "commit", "-q", "-m", "spec-kit project"], root)  # fmt: skip
    return root


def pin_pod_settings(project: Path, repo_url: str, image: str) -> None:
    """The developer's pods-config.yml: the pods' repository, the agent image as the
    cluster pulls it (the wrappers drop SPECKIT_PODS_IMAGE), and Gitea's http:// opt-in."""
    config = project / ".specify" / "extensions" / "pods" / "pods-config.yml"
    assert config.exists(), "specify extension add installs the config template"
    config.write_text(
        f"repo: {repo_url}\nimage: {image}\nnamespace: speckit-pods\nallow_insecure_http: true\n"
    )


def push_to_gitea(gitea: GiteaServer, project: Path, repo: str) -> None:
    gitea.api("POST", "/user/repos", {"name": repo, "private": True}, ok=201)
    git(["remote", "add", "origin", gitea.clone_url(repo)], project)
    git(["push", "-q", "origin", "HEAD:refs/heads/main"], project, gitea.auth)


def developer_home(tmp: Path, gitea: GiteaServer, repo_url: str) -> Path:
    """A HOME whose git has the developer's credentials for Gitea, the way developers keep
    them (a credential store, not the environment: the extension's wrappers drop GIT_*),
    for the subagent's ``tail-logs.sh --verify-remote``."""
    home = tmp / "home"
    home.mkdir()
    store = gitea.auth.credential_store(home / ".git-credentials", [repo_url])
    (home / ".gitconfig").write_text(f"[credential]\n\thelper = store --file {store}\n")
    return home


def opencode_env(tmp: Path, llm_url: str, project: Path) -> dict[str, str]:
    """Isolated opencode state, the scripted provider, permissions that never ask."""
    config = {
        **scripted_llm.opencode_config(llm_url),
        "autoupdate": False,
        "share": "disabled",
        "snapshot": False,
        "permission": {
            key: "allow"
            for key in ("edit", "bash", "webfetch", "read", "external_directory", "doom_loop")
        },
    }
    config_file = tmp / "opencode.json"
    config_file.write_text(json.dumps(config))
    xdg = {name: tmp / "xdg" / name.lower() for name in ("CONFIG", "DATA", "CACHE", "STATE")}
    for where in (xdg["CONFIG"] / "opencode", project / ".opencode"):
        (where / "node_modules").mkdir(parents=True, exist_ok=True)  # no plugin download
        (where / "package-lock.json").write_text(json.dumps(NO_PLUGIN_INSTALL))
    return {
        **os.environ,
        **OPENCODE_OFFLINE_ENV,
        **{f"XDG_{name}_HOME": str(path) for name, path in xdg.items()},
        "OPENCODE_CONFIG": str(config_file),
        "PWD": str(project),  # opencode takes the project from $PWD, not from getcwd()
        "SPECKIT_PODS_HOME": str(REPO_ROOT),
        "SPECKIT_PODS_NAMESPACE": "speckit-pods",
    }


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_implement_session_delegates_async_tasks_to_pods(
    gitea: GiteaServer,
    installed: Kubectl,
    agent_image: str,
    llm: scripted_llm.ScriptedLLMServer,
    tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    feature, repo = f"001-session-{suffix}", f"session-{suffix}"
    project = make_project(tmp_path / "project", feature)
    push_to_gitea(gitea, project, repo)
    pin_pod_settings(project, gitea.clone_url(repo, cluster=True), agent_image)
    env = opencode_env(tmp_path, llm.url, project)
    env["HOME"] = str(developer_home(tmp_path, gitea, gitea.clone_url(repo, cluster=True)))
    tasks_rel = f"specs/{feature}/tasks.md"
    marker = (
        f"scripted:speckit-main,ids={'.'.join(ASYNC_IDS)},pod=speckit-subagent,"
        f"repo={gitea.clone_url(repo, cluster=True)},tasks={tasks_rel},feature={feature}"
    )
    done = subprocess.run(
        ["opencode", "run", "--print-logs", "--format", "json", "--title", "implement",
         "--command", "speckit.implement", marker],
        cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    stream = events(done.stdout)
    context = (
        f"exit {done.returncode}\nstdout:\n{done.stdout[-6000:]}\nstderr:\n{done.stderr[-4000:]}"
    )
    assert done.returncode == 0, context
    assert not [e for e in stream if e.get("type") == "error"], context

    # one completed `task` tool call per [ASYNC] task, each with the pod's RESULT line
    tasks = [e["part"] for e in stream if e.get("type") == "tool_use"]
    tasks = [p for p in tasks if p.get("tool") == "task"]
    by_id = {str(p["state"]["input"]["description"]).split()[0]: p for p in tasks}
    assert sorted(by_id) == list(ASYNC_IDS), context
    for tid, part in by_id.items():
        assert part["state"]["status"] == "completed", part
        assert part["state"]["input"]["subagent_type"] == "speckit-pods"
        output = str(part["state"]["output"])
        # the subagent's digest, as its prompt asks for it
        assert f"task: {tid}\nstatus: succeeded\nexit_code: 0" in output, output

    # the pods pushed their branches with the scripted content
    for tid in ASYNC_IDS:
        path, content = write_target(Marker("write", {}, tid))
        assert gitea.read_file(repo, f"specs/{feature}/{tid}-async", path) == content

    # the subagent's own session holds the streamed pod log
    session = str(by_id[ASYNC_IDS[0]]["state"]["metadata"]["sessionId"])
    exported = run(["opencode", "export", session], project, env)
    assert f"[{ASYNC_IDS[0]}] " in exported and "RESULT status=succeeded" in exported

    # tail-logs --mark-done ticked off the [ASYNC] tasks, and only them
    text = (project / tasks_rel).read_text()
    for tid in ASYNC_IDS:
        assert f"- [X] {tid} [P] [ASYNC]" in text, text
    assert "- [ ] T001 [SYNC]" in text and "- [ ] T050 [SYNC]" in text, text
    subagent_requests = [r for r in llm.requests_for("speckit-subagent") if r.turn == 0]
    assert len(subagent_requests) == len(ASYNC_IDS)
    assert all("exactly ONE `[ASYNC]` task" in r.system for r in subagent_requests)
