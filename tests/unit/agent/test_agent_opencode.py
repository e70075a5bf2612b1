"""End-to-end runs of both sides of the pod with the REAL opencode binary.

The LLM is the scripted server, the remote a bare repository behind
``git http-backend`` with token auth; no docker, no cluster.  See ``harness.py``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from runtime.agent.llm_proxy import Route, serve_in_thread
from runtime.agent.llm_usage import read_usage
from runtime.contract.outcome import Status
from tests.support.scripted_llm import (
    TOKENS_PER_REPLY,
    ScriptedLLMServer,
    parse_marker,
    write_target,
)
from tests.unit.agent.harness import Harness

pytestmark = pytest.mark.opencode


def prompt_for(marker: str, task: str = "T012") -> str:
    return f"# Task {task}: Implement {task}\n\nRaw task line: - [ ] {task} [ASYNC] {marker}\n"


def test_write_script_lands_on_the_task_branch(harness: Harness) -> None:
    marker = "scripted:write,path=src/greeting.txt,content=hello%20world%0A"
    run = harness.run(prompt_for(marker), REQUESTED_BY="Dev One <dev@example.com>")

    assert run.result.status is Status.SUCCEEDED, run.output
    assert run.returncode == 0
    assert run.result.files_changed == ("src/greeting.txt",)
    assert harness.remote_file("speckit/t012", "src/greeting.txt") == "hello world\n"
    message = harness.git("log", "-1", "--format=%B", "speckit/t012")
    assert message.startswith("T012: Implement T012\n")
    assert "Co-authored-by: Dev One <dev@example.com>" in message
    assert harness.git("rev-parse", "speckit/t012").strip() == run.result.commit
    assert "[tool] write src/greeting.txt" in run.output
    assert "[step] finish reason=stop" in run.output


def test_token_stays_out_of_output_config_and_argv(harness: Harness) -> None:
    run = harness.run(prompt_for("scripted:write"))

    assert run.result.status is Status.SUCCEEDED, run.output
    path, content = write_target(parse_marker(prompt_for("scripted:write")) or pytest.fail())
    assert harness.remote_file("speckit/t012", path) == content
    clone_config = (harness.git_dir / "config").read_text()
    assert harness.token not in clone_config
    assert harness.server.url in clone_config  # plain URL, no user info
    for home in (harness.agent_home, harness.git_home, harness.handoff, harness.workspace):
        files = [p for p in home.rglob("*") if p.is_file()]
        assert not [p for p in files if harness.token.encode() in p.read_bytes()], home
    assert harness.token not in run.output and harness.token not in run.agent_output
    assert any(h.startswith("Basic ") for h in harness.server.auth_headers)


def test_context_files_are_placed_but_never_committed(harness: Harness) -> None:
    run = harness.run(prompt_for("scripted:write"))

    clone = harness.work_tree
    assert (clone / ".speckit-pods/context/contracts/api.yaml").read_text() == "a: 1\n"
    tree = harness.git("ls-tree", "-r", "--name-only", "speckit/t012").split()
    assert sorted(tree) == ["README.md", "scripted/T012.txt", "src/app.py"], run.output


def test_noop_reports_no_changes(harness: Harness) -> None:
    run = harness.run(prompt_for("scripted:noop"))

    assert run.result.status is Status.NO_CHANGES, run.output
    assert run.returncode == 3
    assert "speckit/t012" not in harness.remote_branches()


def test_http_400_fails_fast(harness: Harness) -> None:
    run = harness.run(prompt_for("scripted:error400"))

    assert run.result.status is Status.FAILED, run.output
    assert "opencode reported an error" in run.result.reason
    assert run.returncode == 1


@pytest.mark.timeout(240)
def test_http_500_fails_after_opencode_gives_up(harness: Harness) -> None:
    # opencode retries silently for ~80 s (backoff up to 34 s): the watchdog must outlast it.
    run = harness.run(prompt_for("scripted:error500"), timeout=200, AGENT_STALL_SECONDS="150")

    assert run.result.status is Status.FAILED, run.output
    assert "500" in run.result.reason


@pytest.mark.parametrize("script", ["silence", "garbage"])
def test_no_output_is_stalled(harness: Harness, script: str) -> None:
    run = harness.run(prompt_for(f"scripted:{script}"), AGENT_STALL_SECONDS="6")

    assert run.result.status is Status.STALLED, run.output
    assert run.returncode == 4
    assert run.result.duration_s < 60


def test_deadline_times_out_and_pushes_wip(harness: Harness) -> None:
    # the deadline covers opencode's start and the write: 45s leaves room for a loaded
    # 2-core machine (at 20s a loaded run once ended before the write)
    run = harness.run(
        prompt_for("scripted:write-then-stall"), AGENT_DEADLINE_SECONDS="45", timeout=150
    )

    assert run.result.status is Status.TIMEOUT, run.output
    assert run.returncode == 124
    assert harness.remote_file("speckit/t012", "scripted/T012.txt").startswith("T012 written")
    subject = harness.git("log", "-1", "--format=%s", "speckit/t012").strip()
    assert subject == "WIP T012: Implement T012"
    assert "WIP commit pushed to speckit/t012" in run.result.reason


def test_endless_tool_loop_is_ended_by_the_deadline(harness: Harness) -> None:
    # the model keeps calling bash: output never stops, so only the deadline can end it
    run = harness.run(
        prompt_for("scripted:loop"), AGENT_DEADLINE_SECONDS="15", AGENT_STALL_SECONDS="600",
        timeout=90,
    )  # fmt: skip

    assert run.result.status is Status.TIMEOUT, run.output
    assert run.returncode == 124
    assert run.result.duration_s < 60


def test_sigterm_stops_commits_wip_and_reports_killed(harness: Harness) -> None:
    pod = harness.start(prompt_for("scripted:write-then-stall"))
    pod.wait_for("[tool] write scripted/T012.txt", timeout=60)
    sent = time.monotonic()
    pod.delete()  # SIGTERM to the agent; the git side gets its own once the agent is gone
    run = pod.wait(timeout=50)
    took = time.monotonic() - sent

    assert run.result.status is Status.KILLED, run.output
    assert run.returncode == 5
    assert run.agent_returncode == 5
    assert took < 20
    subject = harness.git("log", "-1", "--format=%s", "speckit/t012").strip()
    assert subject == "WIP T012: Implement T012"


def test_rerun_continues_an_existing_task_branch(harness: Harness) -> None:
    first = harness.run(prompt_for("scripted:write,path=one.txt,content=1"))
    assert first.result.status is Status.SUCCEEDED, first.output
    second = harness.run(prompt_for("scripted:write,path=two.txt,content=2"))

    assert second.result.status is Status.SUCCEEDED, second.output
    assert "already exists on the remote: continuing" in second.output
    assert harness.remote_file("speckit/t012", "one.txt") == "1"
    assert harness.remote_file("speckit/t012", "two.txt") == "2"
    assert second.result.files_changed == ("two.txt",)


def test_wrong_token_is_git_auth_failed(harness: Harness) -> None:
    harness.token, real = "wrong-token", harness.token
    run = harness.run(prompt_for("scripted:write"))

    assert run.result.status is Status.GIT_AUTH_FAILED, run.output
    assert run.returncode == 6
    assert "wrong-token" not in run.output and real not in run.output


def test_missing_repository_is_repo_not_found(harness: Harness) -> None:
    harness.repo = "does-not-exist"
    run = harness.run(prompt_for("scripted:write"))

    assert run.result.status is Status.REPO_NOT_FOUND, run.output
    assert run.returncode == 7


def test_missing_base_branch_is_repo_not_found(harness: Harness) -> None:
    run = harness.run(prompt_for("scripted:write"), BASE_BRANCH="nope")

    assert run.result.status is Status.REPO_NOT_FOUND, run.output
    assert "'nope'" in run.result.reason


def test_push_rejected_when_the_remote_refuses(harness: Harness) -> None:
    hook = harness.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    run = harness.run(prompt_for("scripted:write"), timeout=120)

    assert run.result.status is Status.PUSH_REJECTED, run.output
    assert "speckit/t012" in run.result.reason
    assert run.returncode == 8


def test_deadline_with_wip_push_refused_is_push_rejected(harness: Harness) -> None:
    hook = harness.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    run = harness.run(  # 45s: the write must come before the deadline, loaded or not
        prompt_for("scripted:write-then-stall"), AGENT_DEADLINE_SECONDS="45", timeout=150
    )

    assert run.result.status is Status.PUSH_REJECTED, run.output  # not timeout: no WIP pushed
    assert run.returncode == 8
    assert "deadline" in run.result.reason and "WIP not saved" in run.result.reason
    assert "speckit/t012" in run.result.reason


def test_file_remote_without_credentials(harness: Harness) -> None:
    run = harness.run(prompt_for("scripted:write"), REPO_URL=f"file://{harness.bare}")

    assert run.result.status is Status.SUCCEEDED, run.output
    out = subprocess.run(
        ["git", "--git-dir", str(harness.bare), "branch", "--list", "speckit/t012"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "speckit/t012" in out


def test_over_budget_through_the_real_proxy_stops_opencode_and_pushes_the_wip(
    tmp_path: Path, harness: Harness, llm: ScriptedLLMServer
) -> None:
    """opencode -> the LLM proxy (budget 40) -> the scripted LLM (15 tokens an answer)."""
    usage = tmp_path / "llm-usage"
    usage.mkdir()
    routes = {"llm": Route("llm", llm.url, "scripted-key-" + "x" * 16)}
    proxy, thread = serve_in_thread(routes, usage, budget=40, log=lambda line: None)
    try:
        harness.llm_url = f"{proxy.url}/llm"
        marker = "scripted:write,path=src/greeting.txt,content=hello%0A"
        run = harness.run(prompt_for(marker), timeout=120, LLM_USAGE_DIR=str(usage))
    finally:
        proxy.stop()
        thread.join(10)

    assert run.result.status is Status.OVER_BUDGET, run.output
    assert run.returncode == 31
    used = run.result.input_tokens + run.result.output_tokens
    assert used >= 40 and used % TOKENS_PER_REPLY == 0  # the crossing answer relayed whole
    assert run.result.reason == (
        f"{used} tokens used, budget 40 (--max-tokens); WIP commit pushed to speckit/t012"
    )
    saved = read_usage(usage)
    assert saved is not None and saved.budget == 40 and saved.over_budget is not None
    assert harness.remote_file("speckit/t012", "src/greeting.txt") == "hello\n"
    assert f"[git] over budget: {used} tokens used, budget 40" in run.output
