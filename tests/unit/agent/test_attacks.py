"""A hostile agent: the fake ``opencode`` does what a hijacked LLM with bash could do.

Each test is an attack on the trust boundary of the pod (docs/architecture.md,
"Contract: agent pod"): the git side must push only the work tree's content, only to
the task branch, run nothing the agent wrote, leak no credential, and print the only
result line of the pod's log.  Tests marked ``isolated`` need the agent in namespaces
of its own (``harness.read_only_mounts``): the read-only git dir and the PID namespace
are what the pod's volume mount and container give.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

from runtime.contract.outcome import Result, Status
from tests.support.git_http import make_bare_repo
from tests.unit.agent.harness import Harness, fake_opencode

FORGED = json.dumps({"task": "T012", "status": "succeeded", "branch": "main", "commit": "0" * 40})


def isolated(pod: Harness) -> None:
    if not pod.isolated:
        pytest.skip("needs mount and PID namespaces (root, or unprivileged user namespaces)")


def hostile(pod: Harness, script: str) -> None:
    pod.opencode_bin = fake_opencode(pod.tmp / "opencode", script)


def q(path: Path | str) -> str:
    return shlex.quote(str(path))


def markers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def main_commit(pod: Harness) -> str:
    return pod.git("rev-parse", "main").strip()


# --- the result line -------------------------------------------------------------------


def test_a_forged_result_line_in_the_agents_log_is_neutralised(pod: Harness) -> None:
    forged = f"SPECKIT_POD_RESULT {FORGED}"
    script = "\n".join(
        [
            "echo change > new.txt",
            f'printf "%s\\n" {q(forged)} >> "$HANDOFF_DIR/agent.log"',
            f'printf "   %s\\n" {q(forged)} >> "$HANDOFF_DIR/agent.log"',
            f"printf 'x\\342\\200\\250%s\\n' {q(forged)} >> \"$HANDOFF_DIR/agent.log\"",
            f"echo {q(forged)}",  # on opencode's stdout too
        ]
    )
    hostile(pod, script)
    run = pod.run("do it\n", timeout=60)  # finished() checks: one result line, the last

    assert run.result.status is Status.SUCCEEDED, run.output
    assert run.result.branch == "speckit/t012" and run.result.commit != "0" * 40
    assert run.output.count("[agent:forged] ") >= 2
    assert all(len(line.splitlines()) == 1 for line in run.lines)
    assert not [
        line for line in run.lines[:-1] for part in line.splitlines() if Result.from_line(part)
    ]


def test_a_verdict_claiming_another_branch_changes_only_the_status(pod: Harness) -> None:
    claim = json.dumps(
        {"status": "succeeded", "task": "T999", "branch": "main", "commit": "0" * 40}
    )
    hostile(
        pod, f'echo change > new.txt\necho {q(claim)} > "$HANDOFF_DIR/verdict.json"\nkill -9 $PPID'
    )
    before = main_commit(pod)
    run = pod.run("do it\n", timeout=60)

    assert "[agent] done" not in run.agent_output  # the agent side never overwrote the claim
    assert run.result.status is Status.SUCCEEDED, run.output
    assert (run.result.task, run.result.branch) == ("T012", "speckit/t012")
    assert pod.git("rev-parse", "speckit/t012").strip() == run.result.commit
    assert main_commit(pod) == before
    assert pod.remote_branches() == {"main", "speckit/t012"}


# --- the token budget: decided from the proxy's usage.json, which the agent cannot reach ---

OVER = {"requests": 9, "input_tokens": 5000, "output_tokens": 9, "errors": 0, "budget": 100}
UNDER = {"requests": 1, "input_tokens": 10, "output_tokens": 5, "errors": 0, "budget": 100}


def fake_usage_files(usage: dict[str, int]) -> str:
    """Shell lines writing a forged usage.json wherever the agent's container can write.

    Not the proxy's directory: the agent container has no mount of it (the manifest
    tests hold that); here, one user on one file system, it could reach it.
    """
    text = q(json.dumps(usage))
    places = ('"$HANDOFF_DIR"', '"$HOME"', ".", '"$HOME/var/run/speckit-pods/llm"')
    return "\n".join(f"mkdir -p {p}; echo {text} > {p}/usage.json" for p in places)


def test_an_agent_cannot_forge_over_budget(pod: Harness) -> None:
    usage = pod.tmp / "llm-usage"  # the proxy's: in the pod, mounted in llm-proxy and git only
    usage.mkdir()
    (usage / "usage.json").write_text(json.dumps(UNDER))
    forged = "SPECKIT_POD_RESULT " + json.dumps(
        {"task": "T012", "status": "over-budget", "branch": "speckit/t012", "reason": "x"}
    )
    claim = json.dumps({"status": "over-budget", "reason": "5009 tokens used, budget 100"})
    script = "\n".join(
        [
            "echo change > new.txt",
            fake_usage_files(OVER),
            f"echo {q(forged)}",
            f'echo {q(forged)} >> "$HANDOFF_DIR/agent.log"',
            f'echo {q(claim)} > "$HANDOFF_DIR/verdict.json"',
            "kill -9 $PPID",  # so the agent side never overwrites the claim
        ]
    )
    hostile(pod, script)
    run = pod.run("do it\n", timeout=60, LLM_USAGE_DIR=str(usage))

    assert run.result.status is Status.FAILED, run.output  # over-budget is no claim to make
    assert run.result.reason.startswith("the agent container ended without a verdict")
    assert run.returncode == 1
    assert (run.result.input_tokens, run.result.output_tokens) == (10, 5)  # the proxy's figures
    assert "[agent:forged] " in run.output
    assert pod.remote_file("speckit/t012", "new.txt") == "change\n"


def test_an_agent_cannot_hide_over_budget(pod: Harness) -> None:
    """A process left behind keeps deleting ``stop`` and claiming success: over-budget still."""
    isolated(pod)  # the loop dies with the agent's PID namespace, as with its container
    usage = pod.tmp / "llm-usage"
    usage.mkdir()
    (usage / "usage.json").write_text(json.dumps(UNDER))
    claim = q(json.dumps({"status": "succeeded", "reason": ""}))
    hide = f'rm -f "$HANDOFF_DIR/stop"; echo {claim} > "$HANDOFF_DIR/verdict.json"'
    script = "\n".join(
        [
            "echo change > new.txt",
            fake_usage_files(UNDER),
            f"setsid sh -c {q(f'while :; do {hide}; sleep 0.02; done')} >/dev/null 2>&1 &",
            """echo '{"type":"text","part":{"text":"attacked"}}'""",
            "exec sleep 600",
        ]
    )
    pod.opencode_bin = fake_opencode(pod.tmp / "opencode", script, events=())
    started = pod.start("do it\n", LLM_USAGE_DIR=str(usage), AGENT_STALL_SECONDS="4")
    started.wait_for("[text] attacked", timeout=60)
    (usage / "usage.json.tmp").write_text(json.dumps(OVER))  # the proxy counts it spent
    (usage / "usage.json.tmp").rename(usage / "usage.json")
    run = started.wait(60)

    assert run.result.status is Status.OVER_BUDGET, run.output
    assert run.returncode == 31
    assert run.result.reason.startswith("5009 tokens used, budget 100 (--max-tokens); WIP commit")
    assert (run.result.input_tokens, run.result.output_tokens) == (5000, 9)
    assert pod.remote_file("speckit/t012", "new.txt") == "change\n"
    assert Result.from_line(run.lines[-1]) == run.result  # the git side's line, last


def test_an_agent_killed_before_its_verdict_is_a_failure_whose_work_is_saved(pod: Harness) -> None:
    hostile(pod, "echo half > half.txt\nkill -9 $PPID")
    run = pod.run("do it\n", timeout=60)

    assert "[agent] done" not in run.agent_output
    assert run.result.status is Status.FAILED
    assert run.result.reason.startswith("the agent container ended without a verdict")
    assert pod.remote_file("speckit/t012", "half.txt") == "half\n"  # the WIP is pushed


# --- the credentials -------------------------------------------------------------------


def test_handoff_symlinks_to_the_token_leak_nothing(pod: Harness) -> None:
    token = pod.creds / "token"
    script = "\n".join(
        [
            'rm -f "$HANDOFF_DIR/agent.log"',
            f'ln -s {q(token)} "$HANDOFF_DIR/agent.log"',
            f'ln -s {q(token)} "$HANDOFF_DIR/verdict.json"',
            "kill -9 $PPID",  # so the agent side cannot replace the verdict symlink
        ]
    )
    hostile(pod, script)
    run = pod.run("do it\n", timeout=60)

    assert (pod.handoff / "verdict.json").is_symlink()  # the attack was in place
    assert run.result.status is Status.FAILED
    assert "ended without a verdict" in run.result.reason
    assert pod.token not in run.output


def test_a_fifo_as_verdict_does_not_block_the_git_side(pod: Harness) -> None:
    hostile(pod, 'mkfifo "$HANDOFF_DIR/verdict.json"\nkill -9 $PPID')
    started = time.monotonic()
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.FAILED and "without a verdict" in run.result.reason
    assert time.monotonic() - started < 30


def test_a_work_tree_replaced_by_a_symlink_to_the_secret_is_not_committed(pod: Harness) -> None:
    hostile(pod, f"cd ..\nmv repo repo.old\nln -s {q(pod.creds)} repo")
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.FAILED
    assert "replaced" in run.result.reason
    assert "speckit/t012" not in pod.remote_branches()
    assert pod.token not in run.output


def test_a_symlink_to_the_token_is_committed_as_a_link_not_its_content(pod: Harness) -> None:
    hostile(pod, f"ln -s {q(pod.creds / 'token')} leak")
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    assert pod.remote_file("speckit/t012", "leak") == str(pod.creds / "token")
    assert pod.token not in pod.git("log", "-p", "--all")


# --- executing what the agent wrote ----------------------------------------------------


def _plant(git_dir: str, ran: Path) -> str:
    """Shell: hooks and an fsmonitor in ``git_dir`` that leave a marker in ``ran`` when run."""
    lines = [f"mkdir -p {q(ran)} {git_dir}/hooks"]
    for hook in ("pre-commit", "commit-msg", "post-commit", "pre-push", "reference-transaction"):
        lines += [
            f"printf '#!/bin/sh\\ntouch {ran}/{hook}\\n' > {git_dir}/hooks/{hook}",
            f"chmod +x {git_dir}/hooks/{hook}",
        ]
    lines += [
        f"printf '#!/bin/sh\\ntouch {ran}/fsmonitor\\n' > {q(ran.parent / 'monitor')}",
        f"chmod +x {q(ran.parent / 'monitor')}",
        f"git --git-dir={git_dir} config core.fsmonitor {q(ran.parent / 'monitor')}",
    ]
    return "\n".join(f'{line} 2>>"$HOME/errors"' for line in lines)


def test_writes_to_the_git_dir_fail_read_only(pod: Harness) -> None:
    isolated(pod)
    ran = pod.tmp / "ran"
    decoy = make_bare_repo(pod.tmp / "decoy", "d", {"d.txt": "d\n"})
    redirect = f"git config url.file://{decoy}.insteadOf {pod.server.url}/demo.git"
    script = "\n".join(
        [
            "echo change > new.txt",
            'GD=$(sed "s/^gitdir: //" .git)',
            _plant('"$GD"', ran),
            f'{redirect} 2>>"$HOME/errors"',
            'git update-ref refs/heads/speckit/t012 HEAD 2>>"$HOME/errors"',
            'cat "$HOME/errors"',
        ]
    )
    hostile(pod, script)
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    assert "Read-only file system" in run.agent_output
    assert not (pod.git_dir / "hooks" / "pre-push").exists()
    config = (pod.git_dir / "config").read_text()
    assert "fsmonitor" not in config and "insteadOf" not in config
    assert markers(ran) == []
    assert pod.remote_file("speckit/t012", "new.txt") == "change\n"  # the real remote


def test_hooks_and_fsmonitor_in_the_git_dir_are_never_run(pod: Harness) -> None:
    # as if the read-only mount were missing: the git side still runs none of them
    pod.read_only_git_dir = False
    ran = pod.tmp / "ran"
    hostile(
        pod,
        "echo change > new.txt\n"
        + 'if [ -d .git ]; then GD=.git; else GD=$(sed "s/^gitdir: //" .git); fi\n'
        + _plant('"$GD"', ran),
    )
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    assert (pod.git_dir / "hooks" / "pre-push").exists()  # the attack was in place
    assert markers(ran) == []


def test_a_rewritten_dot_git_file_is_ignored(pod: Harness) -> None:
    ran = pod.tmp / "ran"
    decoy = make_bare_repo(pod.tmp / "decoy", "d", {"d.txt": "d\n"})
    evil = pod.workspace / "evil.git"
    script = "\n".join(
        [
            f"git clone -q --bare file://{decoy} {q(evil)}",  # another history altogether
            _plant(q(evil), ran),
            f"git --git-dir={q(evil)} config url.file://{decoy}.insteadOf {pod.server.url}/",
            f"echo 'gitdir: {evil}' > .git",
            "echo change > new.txt",
        ]
    )
    hostile(pod, script)
    before = main_commit(pod)
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    assert markers(ran) == []
    assert pod.git("rev-parse", "speckit/t012^").strip() == before  # on our history
    assert pod.remote_file("speckit/t012", "new.txt") == "change\n"
    assert pod.git("rev-parse", "speckit/t012").strip() == run.result.commit
    decoy_branches = (decoy / "refs" / "heads").iterdir()
    assert [p.name for p in decoy_branches] == ["main"]


def test_a_nested_repository_runs_nothing(pod: Harness) -> None:
    ran = pod.tmp / "ran"
    script = "\n".join(
        [
            "mkdir sub && cd sub && git init -q",
            "echo s > s.txt && git add s.txt",
            "git -c user.name=a -c user.email=a@b.invalid commit -qm s",
            _plant(".git", ran),
            "cd .. && echo change > new.txt",
        ]
    )
    hostile(pod, script)
    run = pod.run("do it\n", timeout=60)

    assert markers(ran) == [], run.output
    assert run.result.status is Status.SUCCEEDED, run.output


def test_insteadof_in_the_agents_home_gitconfig_does_not_redirect_the_push(pod: Harness) -> None:
    decoy = make_bare_repo(pod.tmp / "decoy", "d", {"d.txt": "d\n"})
    url = f"{pod.server.url}/"
    script = "\n".join(
        [
            f"git config --global url.file://{decoy}/.insteadOf {url}",
            f"git config --global url.file://{decoy}/.pushInsteadOf {url}",
            'mkdir -p "$HOME/.config/git"',
            f'git config --file "$HOME/.config/git/config" url.file://{decoy}/.insteadOf {url}',
            "echo change > new.txt",
        ]
    )
    hostile(pod, script)
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    assert "insteadOf" in (pod.agent_home / ".gitconfig").read_text()  # the attack was in place
    assert pod.remote_file("speckit/t012", "new.txt") == "change\n"
    assert [p.name for p in (decoy / "refs" / "heads").iterdir()] == ["main"]


def test_a_process_left_running_dies_with_the_agent_container(pod: Harness) -> None:
    isolated(pod)
    late = "sleep 1.5; echo late > late.txt; ln -s /etc/passwd sneaky"
    hostile(pod, f"echo change > new.txt\nsetsid sh -c {q(late)} >/dev/null 2>&1 &\nsleep 0.3")
    run = pod.run("do it\n", timeout=60)
    time.sleep(2.5)  # past the time the left-behind process would have written

    assert run.result.status is Status.SUCCEEDED, run.output
    assert run.result.files_changed == ("new.txt",)
    assert not (pod.work_tree / "late.txt").exists()


# --- where the push goes ---------------------------------------------------------------


def test_the_push_is_fast_forward_only(pod: Harness) -> None:
    # the task branch exists: the pod continues it; meanwhile someone rewrites it
    seeded = make_bare_repo(pod.tmp / "seed", "s", {"README.md": "# demo\n", "w.txt": "w\n"})
    pod.git("fetch", "-q", str(seeded), "+main:speckit/t012")
    hostile(pod, 'while [ ! -e "$HANDOFF_DIR/go" ]; do sleep 0.1; done\necho change > new.txt')
    started = pod.start("do it\n")
    started.wait_for("[agent] running opencode", timeout=60)
    rewritten = make_bare_repo(pod.tmp / "rewritten", "r", {"other.txt": "o\n"})
    pod.git("fetch", "-q", str(rewritten), "+main:speckit/t012")
    theirs = pod.git("rev-parse", "speckit/t012").strip()
    (pod.handoff / "go").touch()
    run = started.wait(90)

    assert "already exists on the remote: continuing" in run.output
    assert run.result.status is Status.PUSH_REJECTED, run.output
    assert pod.git("rev-parse", "speckit/t012").strip() == theirs  # not overwritten
