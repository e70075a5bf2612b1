"""The session kept in git after the pod: both sides as processes, a local remote.

The fake ``opencode`` stands in for the agent (and for ``opencode export``); one test
runs the real binary.  See ``runtime/agent/session_store.py``.
"""

from __future__ import annotations

import json
import shlex

import pytest

from runtime.agent.session_store import Transcript
from runtime.contract.outcome import Result, Status
from tests.unit.agent.harness import SUCCESS_EVENTS, Harness, fake_opencode

SESSION_ID = "ses_fake0123"
EXPORT = {"info": {"id": SESSION_ID}, "messages": [{"info": {"role": "user"}, "parts": []}]}


def with_session(event: str) -> str:
    return json.dumps({**json.loads(event), "sessionID": SESSION_ID})


def agent(pod: Harness, script: str, export: str | None = None, session_id: bool = True) -> None:
    """A fake opencode running ``script``; ``opencode export`` prints ``export``."""
    events = tuple(map(with_session, SUCCESS_EVENTS)) if session_id else SUCCESS_EVENTS
    body = json.dumps(EXPORT) if export is None else export
    prelude = f'if [ "$1" = export ]; then printf "%s" {shlex.quote(body)}; exit 0; fi'
    pod.opencode_bin = fake_opencode(pod.tmp / "opencode", f"{prelude}\n{script}", events=events)


FORGED = {"ref": "refs/heads/main", "log.txt": "forged"}
VERDICT = {"status": "succeeded", "ref": "refs/heads/main"}


def refs(pod: Harness) -> set[str]:
    return set(pod.git("for-each-ref", "--format=%(refname)").split())


def test_a_run_keeps_its_log_result_and_session_on_the_session_ref(pod: Harness) -> None:
    agent(pod, "echo change > new.txt")
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    log = pod.session_file("log.txt").splitlines()
    assert "[git] ready: the agent starts; its lines follow" in log
    assert "[text] done" in log  # a relayed agent line
    assert f"[agent] opencode session {SESSION_ID} exported (0 KiB)" in log
    assert Result.from_line(log[-1]) == run.result  # the result line, last
    assert json.loads(pod.session_file("result.json")) == json.loads(
        run.result.to_line().split(" ", 1)[1]
    )
    assert json.loads(pod.session_file("session.json")) == EXPORT
    # one parentless commit, beside the task branch, which it leaves alone
    assert pod.git("rev-list", "--count", pod.session_ref()).strip() == "1"
    assert pod.git("rev-parse", "speckit/t012").strip() == run.result.commit
    assert refs(pod) == {"refs/heads/main", "refs/heads/speckit/t012", pod.session_ref()}
    kept = pod.git("rev-parse", pod.session_ref()).strip()
    assert f"[git] session kept in {pod.session_ref()} ({kept[:12]}: " in run.output
    message = pod.git("log", "-1", "--format=%B", pod.session_ref())
    assert message.startswith("Session of T012: succeeded\n")
    assert f"Task-commit: {run.result.commit}" in message


def test_a_rerun_appends_a_commit_on_the_previous_session(pod: Harness) -> None:
    agent(pod, "echo one > one.txt")
    first = pod.run("do it\n", timeout=60)
    before = pod.git("rev-parse", pod.session_ref()).strip()
    agent(pod, "echo two > two.txt")
    second = pod.run("do it\n", timeout=60)

    assert second.result.status is Status.SUCCEEDED, second.output
    after = pod.git("rev-parse", pod.session_ref()).strip()
    assert pod.git("rev-parse", f"{after}^").strip() == before  # appended, never forced
    assert Result.from_line(pod.session_file("log.txt", rev="~1").splitlines()[-1]) == first.result
    assert Result.from_line(pod.session_file("log.txt").splitlines()[-1]) == second.result
    assert pod.git("rev-parse", "speckit/t012").strip() == second.result.commit
    assert "one.txt" not in pod.git("ls-tree", "--name-only", pod.session_ref())


def test_without_an_export_the_log_is_kept_with_a_note(pod: Harness) -> None:
    agent(pod, "echo change > new.txt", session_id=False)
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    names = pod.git("ls-tree", "--name-only", pod.session_ref()).split()
    assert names == ["log.txt", "result.json"]
    log = pod.session_file("log.txt")
    assert "[agent] no opencode session to export" in log
    assert "[git] session: the agent left no opencode session export; log.txt only" in log


def test_a_killed_run_keeps_its_session_after_the_wip_push(pod: Harness) -> None:
    agent(pod, "echo half > half.txt\necho started\nsleep 60")
    started = pod.start("do it\n")
    started.wait_for("[opencode] started", timeout=60)
    started.delete()
    run = started.wait(timeout=60)

    assert run.result.status is Status.KILLED, run.output
    stored = Result.from_line(pod.session_file("log.txt").splitlines()[-1])
    assert stored == run.result
    assert pod.remote_file("speckit/t012", "half.txt") == "half\n"
    lines = run.output.splitlines()
    pushed = next(i for i, line in enumerate(lines) if line.startswith("[git] pushing "))
    kept = next(i for i, line in enumerate(lines) if line.startswith("[git] session kept"))
    assert pushed < kept


def test_a_refused_session_push_is_one_warning_and_the_outcome_stands(pod: Harness) -> None:
    hook = pod.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nif grep -q speckit-pods/session; then exit 1; fi\nexit 0\n")
    hook.chmod(0o755)
    agent(pod, "echo change > new.txt")
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    assert run.returncode == 0
    warnings = [line for line in run.lines if line.startswith("[git] WARNING: the session")]
    assert len(warnings) == 1, run.output
    assert pod.session_ref() not in refs(pod)
    assert pod.git("rev-parse", "speckit/t012").strip() == run.result.commit


def test_without_a_feature_no_session_is_kept(pod: Harness) -> None:
    agent(pod, "echo change > new.txt")
    run = pod.run("do it\n", timeout=60, FEATURE="")

    assert run.result.status is Status.SUCCEEDED, run.output
    assert "the session is not kept in git: the pod's environment names no FEATURE" in run.output
    assert refs(pod) == {"refs/heads/main", "refs/heads/speckit/t012"}


@pytest.mark.opencode
def test_the_real_opencode_export_is_kept(harness: Harness) -> None:
    prompt = "# Task T012\n\nRaw task line: - [ ] T012 [ASYNC] scripted:write\n"
    run = harness.run(prompt, timeout=120)

    assert run.result.status is Status.SUCCEEDED, run.output
    session = json.loads(harness.session_file("session.json"))
    assert session["info"]["id"].startswith("ses_")
    tools = [
        part.get("tool")
        for message in session["messages"]
        for part in message["parts"]
        if part.get("type") == "tool"
    ]
    assert "write" in tools


# --- the hostile agent -------------------------------------------------------------------


def _planted(pod: Harness, script: str) -> str:
    agent(pod, f"echo change > new.txt\n{script}", session_id=False)
    run = pod.run("do it\n", timeout=90)
    assert run.result.status is Status.SUCCEEDED, run.output
    assert refs(pod) == {"refs/heads/main", "refs/heads/speckit/t012", pod.session_ref()}
    assert pod.git("rev-parse", "speckit/t012").strip() == run.result.commit
    return run.output


@pytest.mark.parametrize(
    ("script", "note"),
    [
        ('head -c 21000000 /dev/zero > "$HANDOFF_DIR/session.json"', "over 20 MiB"),
        ('echo "{not json" > "$HANDOFF_DIR/session.json"', "is not valid JSON"),
        ('echo "[1, 2]" > "$HANDOFF_DIR/session.json"', "is not a JSON object"),
        (
            'python3 -c \'print("[" * 200000 + "]" * 200000)\' > "$HANDOFF_DIR/session.json"',
            "is not valid JSON",
        ),
        ('ln -s "$GIT_TOKEN_FILE" "$HANDOFF_DIR/session.json"', "cannot open safely"),
        ('mkfifo "$HANDOFF_DIR/session.json"', "not a regular file"),
    ],
    ids=["huge", "invalid", "not-an-object", "nesting-bomb", "symlink-to-token", "fifo"],
)
def test_a_bad_session_file_is_left_out_and_changes_nothing_else(
    pod: Harness, script: str, note: str
) -> None:
    pod.overrides["GIT_TOKEN_FILE"] = str(pod.creds / "token")
    output = _planted(pod, script)

    assert "[git] session: not kept: " in output and note in output, output
    assert pod.git("ls-tree", "--name-only", pod.session_ref()).split() == [
        "log.txt",
        "result.json",
    ]
    assert pod.token not in pod.session_file("log.txt")


def test_the_agent_cannot_pick_the_ref_or_add_one(pod: Harness) -> None:
    ref = pod.session_ref().removeprefix("refs/")
    script = "\n".join(
        [
            # files named like the ref: in the work tree (committed as files) and the handoff
            f"mkdir -p {shlex.quote(ref)} && echo x > {shlex.quote(ref)}/log.txt",
            'echo refs/heads/main > "$HANDOFF_DIR/session-ref"',
            'mkdir -p "$HANDOFF_DIR/refs/heads" && echo evil > "$HANDOFF_DIR/refs/heads/evil"',
            # a session that names other refs and files
            "printf '%s' " + shlex.quote(json.dumps(FORGED)) + ' > "$HANDOFF_DIR/session.json"',
            # refs in the git dir (read-only in the pod; even written, never pushed)
            "git update-ref refs/heads/evil HEAD 2>/dev/null || true",
            "git update-ref refs/speckit-pods/session-parent HEAD 2>/dev/null || true",
            # a verdict claiming more than a status
            "echo " + shlex.quote(json.dumps(VERDICT)) + ' > "$HANDOFF_DIR/verdict.json"',
        ]
    )
    before = pod.git("rev-parse", "main").strip()
    output = _planted(pod, script)

    assert pod.git("rev-parse", "main").strip() == before
    assert json.loads(pod.session_file("session.json")) == FORGED
    assert "forged" not in pod.session_file("log.txt")
    assert pod.git("rev-list", "--count", pod.session_ref()).strip() == "1"  # no planted parent
    assert "[git] session kept in refs/speckit-pods/session/001-demo/T012" in output
    # the ref-named files are ordinary work on the task branch
    assert pod.remote_file("speckit/t012", f"{ref}/log.txt") == "x\n"


# --- the transcript ----------------------------------------------------------------------


def test_the_transcript_keeps_the_tail_and_the_result_line_last() -> None:
    transcript = Transcript(("s3cr3t-token",), limit=64 * 1024 + 100)
    printed: list[str] = []
    emit = transcript.tee(printed.append)
    for number in range(40):
        emit(f"line {number} s3cr3t-token \x1b[2J")
    text = transcript.text(Result("T012", Status.FAILED, reason="x")).decode()

    lines = text.splitlines()
    assert lines[0].startswith("[git] (") and "earlier line(s) cut" in lines[0]
    assert lines[-2] == "line 39 *** "
    assert Result.from_line(lines[-1]) == Result("T012", Status.FAILED, reason="x")
    assert "s3cr3t" not in text and "\x1b" not in text
    assert len(printed) == 40
