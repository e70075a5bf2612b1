"""Both sides of the pod as processes, in cases that need no opencode (a fake one at most)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.agent import git_side
from runtime.agent.config import load
from runtime.agent.handoff import Verdict
from runtime.agent.llm_usage import Usage
from runtime.agent.shutdown import Shutdown
from runtime.contract.outcome import Status
from runtime.contract.start import StartPoint, describe, encode
from tests.unit.agent.harness import REPO_ROOT, Harness, LineReader, PodRun, fake_opencode


def test_no_side_named_is_a_usage_error() -> None:
    for args in ([], ["both"], ["run", "git-side"]):
        done = subprocess.run(
            [sys.executable, "-m", "runtime.agent", *args],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 2, args
        assert "git-side|llm-proxy|run" in done.stderr


def test_missing_env_still_prints_a_result_line(pod: Harness) -> None:
    git_env, agent_env = pod.envs("do it\n")
    del git_env["TASK_BRANCH"], git_env["REPO_URL"]
    run = PodRun(pod, git_env, agent_env).wait(60)

    assert run.result.status is Status.FAILED
    assert run.returncode == 1
    assert run.result.task == "T012"
    assert "TASK_BRANCH is not set" in run.result.reason
    assert "REPO_URL is not set" in run.result.reason
    assert "ERROR: invalid environment" in run.output
    assert "nothing to work on" in run.agent_output  # the agent saw abort and left at once


def test_missing_prompt_fails_after_the_clone(pod: Harness) -> None:
    run = pod.run("x", timeout=60, TASK_DIR=str(pod.tmp / "no-task"))

    assert run.result.status is Status.FAILED
    assert "prompt not found" in run.result.reason


def test_a_failed_clone_is_reported_and_the_agent_exits_at_once(pod: Harness) -> None:
    pod.repo = "does-not-exist"
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.REPO_NOT_FOUND
    assert run.returncode == 7
    assert "nothing to work on" in run.agent_output and run.agent_returncode == 1
    assert "running opencode" not in run.agent_output


@pytest.fixture()
def black_hole() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def test_sigterm_during_the_clone_is_killed_quickly(pod: Harness, black_hole: int) -> None:
    run_ = pod.start("do it\n", REPO_URL=f"http://127.0.0.1:{black_hole}/r.git")
    run_.wait_for("[git] cloning", timeout=30)
    sent = time.monotonic()
    run_.delete()
    run = run_.wait(30)

    assert run.result.status is Status.KILLED
    assert run.returncode == 5
    assert time.monotonic() - sent < 10
    assert run.agent_returncode is None  # the agent never started


def test_missing_opencode_binary_is_a_failure_with_a_result_line(pod: Harness) -> None:
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.FAILED
    assert "cannot start /nonexistent/opencode" in run.result.reason
    assert run.agent_returncode == 1


def test_a_fake_agent_that_writes_a_file_gets_it_pushed(pod: Harness) -> None:
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", "echo hello > new.txt")
    run = pod.run("do it\n", timeout=60, REQUESTED_BY="Dev One <dev@example.com>")

    assert run.result.status is Status.SUCCEEDED, run.output
    assert run.result.files_changed == ("new.txt",)
    assert pod.remote_file("speckit/t012", "new.txt") == "hello\n"
    assert pod.git("rev-parse", "speckit/t012").strip() == run.result.commit
    message = pod.git("log", "-1", "--format=%B", "speckit/t012")
    assert message.strip() == "T012: Implement T012\n\nCo-authored-by: Dev One <dev@example.com>"
    # the agent's lines are in the pod's log (relayed), before the git side's end
    assert run.output.index("[agent] running opencode") < run.output.index("[git] pushing")


def test_the_result_line_carries_the_llm_proxys_counts(pod: Harness) -> None:
    usage = pod.tmp / "llm-usage"
    usage.mkdir()
    counts = '{"requests": 3, "input_tokens": 900, "output_tokens": 40, "errors": 0}'
    (usage / "usage.json").write_text(counts)  # as the proxy writes it
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", "echo hello > new.txt")
    run = pod.run("do it\n", timeout=60, LLM_USAGE_DIR=str(usage))

    assert run.result.status is Status.SUCCEEDED, run.output
    assert (run.result.llm_requests, run.result.input_tokens, run.result.output_tokens) == (
        3,
        900,
        40,
    )


FORGED_COST_EVENTS = (  # opencode's own cost, which the agent can set: never read
    '{"type":"step_start","part":{}}',
    '{"type":"text","part":{"text":"done"}}',
    '{"type":"step_finish","part":{"reason":"stop","cost":0.000001,'
    '"tokens":{"input":1,"output":1}}}',
)


@pytest.mark.parametrize(
    ("cost_usd", "expected"), [(0.0282, 0.0282), (None, None)], ids=["priced", "no-price"]
)
def test_the_cost_is_the_proxys_not_opencodes(
    pod: Harness, cost_usd: float | None, expected: float | None
) -> None:
    usage = pod.tmp / "llm-usage"
    usage.mkdir()
    counts = Usage(3, 900, 40, 0, cost_usd=cost_usd).to_json()
    (usage / "usage.json").write_text(json.dumps(counts))  # as the proxy writes it
    # the agent reports a cost of its own (in opencode's events) and plants a usage file
    # where it can write: neither is read
    script = (
        "echo hello > new.txt; "
        """echo '{"requests": 1, "input_tokens": 1, "output_tokens": 1, "errors": 0, """
        """"cost_usd": 0.000001}' > "$HANDOFF_DIR/usage.json" """
    )
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", script, events=FORGED_COST_EVENTS)
    run = pod.run("do it\n", timeout=60, LLM_USAGE_DIR=str(usage))

    assert run.result.status is Status.SUCCEEDED, run.output
    assert (run.result.input_tokens, run.result.output_tokens) == (900, 40)
    assert run.result.cost_usd == expected
    assert f'"cost_usd": {json.dumps(expected)}' in run.output  # the result line itself
    assert (pod.handoff / "usage.json").exists()  # the planted file was there


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]", '{"requests": "many"}'])
def test_unreadable_llm_counts_are_zeros(tmp_path: Path, content: str) -> None:
    (tmp_path / "usage.json").write_text(content)
    assert git_side.llm_usage(tmp_path) == (0, 0, 0, None)
    assert git_side.llm_usage(tmp_path / "missing") == (0, 0, 0, None)
    assert git_side.llm_usage(None) == (0, 0, 0, None)


def test_the_agent_reads_the_history_with_git(pod: Harness) -> None:
    script = "git log --oneline -1 > log.txt; git status --short >> log.txt"
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", script)
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    assert "seed" in pod.remote_file("speckit/t012", "log.txt")


def test_the_agent_cannot_commit(pod: Harness) -> None:
    if not pod.isolated:
        pytest.skip("needs a mount namespace for the read-only git dir (root or user namespaces)")
    script = "echo x > x.txt; git add x.txt 2>add.err; git commit -qm mine 2>commit.err; true"
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", script)
    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    assert "Read-only file system" in pod.remote_file("speckit/t012", "add.err")
    assert pod.git("log", "-1", "--format=%s", "speckit/t012").strip() == "T012: Implement T012"


def test_a_restarted_git_side_keeps_the_clone_and_the_agents_work(pod: Harness) -> None:
    git_env, _ = pod.envs("do it\n")
    argv = [sys.executable, "-m", "runtime.agent", "git-side"]
    first = subprocess.Popen(argv, env=git_env, stdout=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while not (pod.handoff / "ready").exists() and time.monotonic() < end:
        time.sleep(0.05)
    first.kill()  # e.g. OOM-killed: the kubelet restarts a sidecar
    first.wait()
    (pod.work_tree / "work.txt").write_text("the agent's work\n")
    (pod.handoff / "ready").unlink()  # the restarted container's startupProbe runs again

    second = subprocess.Popen(argv, env=git_env, stdout=subprocess.PIPE, text=True)
    reader = LineReader(second)
    reader.wait_for("[git] ready", timeout=30)
    assert (pod.handoff / "ready").exists()
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=60)
    lines = reader.join(timeout=5)

    assert any("restarted: continuing with the clone" in line for line in lines)
    assert not any("[git] cloning" in line for line in lines)
    assert pod.remote_file("speckit/t012", "work.txt") == "the agent's work\n"
    assert "ended without a verdict" in lines[-1]  # the agent never wrote one here


# the agent side's stops with a fake opencode that writes a file, then hangs
WRITE_THEN_HANG = (
    'echo wip > wip.txt\necho \'{"type":"text","part":{"text":"wrote"}}\'\nexec sleep 600'
)


def test_the_deadline_times_out_and_the_git_side_pushes_the_wip(pod: Harness) -> None:
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", WRITE_THEN_HANG, events=())
    run = pod.run("do it\n", timeout=90, AGENT_DEADLINE_SECONDS="4")

    assert run.result.status is Status.TIMEOUT, run.output
    assert run.returncode == 124 and run.agent_returncode == 124
    assert pod.remote_file("speckit/t012", "wip.txt") == "wip\n"
    assert pod.git("log", "-1", "--format=%s", "speckit/t012").strip() == "WIP T012: Implement T012"
    assert "WIP commit pushed to speckit/t012" in run.result.reason


def test_no_output_is_stalled_and_the_wip_pushed(pod: Harness) -> None:
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", WRITE_THEN_HANG, events=())
    run = pod.run("do it\n", timeout=90, AGENT_STALL_SECONDS="3")

    assert run.result.status is Status.STALLED, run.output
    assert run.returncode == 4
    assert pod.remote_file("speckit/t012", "wip.txt") == "wip\n"


def usage_json(
    budget: int | None,
    used: tuple[int, int],
    refused: int = 0,
    cost: tuple[float, float] | None = None,
) -> str:
    """``usage.json`` as the LLM proxy writes it (runtime.agent.llm_usage.Usage).

    ``cost``: (spent, cost budget) in US dollars.
    """
    spent, limit = cost if cost else (None, None)
    usage = Usage(3, *used, 0, refused, budget, spent, limit)
    return json.dumps(usage.to_json())


def test_over_budget_stops_the_agent_and_pushes_the_wip(pod: Harness) -> None:
    usage = pod.tmp / "llm-usage"
    usage.mkdir()
    (usage / "usage.json").write_text(usage_json(1000, (600, 100)))  # under: the run goes on
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", WRITE_THEN_HANG, events=())
    started = pod.start("do it\n", LLM_USAGE_DIR=str(usage))
    started.wait_for("[text] wrote", timeout=60)
    time.sleep(1.5)  # the git side has read the file under the budget a few times
    crossed = time.monotonic()
    (usage / "usage.json.tmp").write_text(usage_json(1000, (1200, 34), refused=1))
    (usage / "usage.json.tmp").rename(usage / "usage.json")  # the proxy's atomic replace
    run = started.wait(60)

    assert run.result.status is Status.OVER_BUDGET, run.output
    assert run.returncode == 31 and run.result.status.exit_code == 31
    assert time.monotonic() - crossed < 20  # stopped like a stall: opencode gets 5 s
    assert run.result.reason == (
        "1234 tokens used, budget 1000 (--max-tokens); WIP commit pushed to speckit/t012"
    )
    assert (run.result.input_tokens, run.result.output_tokens) == (1200, 34)
    assert "[git] over budget: 1234 tokens used, budget 1000" in run.output
    assert "stopped at the git container's request: over budget" in run.agent_output
    assert pod.remote_file("speckit/t012", "wip.txt") == "wip\n"
    message = pod.git("log", "-1", "--format=%B", "speckit/t012")
    assert message.startswith("WIP T012: Implement T012\n\nStopped early: over-budget: 1234 ")


@pytest.mark.parametrize(
    "verdict",
    [
        Verdict(Status.SUCCEEDED),
        Verdict(Status.NO_CHANGES),
        Verdict(Status.STALLED, "x"),
        Verdict(Status.SETUP_FAILED, "setup script exited 1; no output"),
        None,
    ],
)
def test_over_budget_wins_over_any_claim(tmp_path: Path, verdict: Verdict | None) -> None:
    """The last answer crossed the budget and opencode finished: still over-budget."""
    (tmp_path / "usage.json").write_text(usage_json(100, (90, 15)))
    env = {"TASK_ID": "T012", "TASK_TITLE": "t", "REPO_URL": "https://h/r.git"}
    env |= {"BASE_BRANCH": "main", "TASK_BRANCH": "b", "LLM_USAGE_DIR": str(tmp_path)}
    run = git_side.Run(load(env), time.monotonic(), Shutdown(), print)
    assert git_side.decided(run, verdict) == (
        Status.OVER_BUDGET,
        "105 tokens used, budget 100 (--max-tokens)",
    )
    (tmp_path / "usage.json").write_text(usage_json(200, (90, 15)))
    assert git_side.decided(run, verdict) == git_side.claimed(verdict)  # under: the claim


def test_over_the_cost_budget_stops_the_agent_and_pushes_the_wip(pod: Harness) -> None:
    usage = pod.tmp / "llm-usage"
    usage.mkdir()
    under = usage_json(None, (600, 100), cost=(0.3, 0.5))
    (usage / "usage.json").write_text(under)
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", WRITE_THEN_HANG, events=())
    started = pod.start("do it\n", LLM_USAGE_DIR=str(usage))
    started.wait_for("[text] wrote", timeout=60)
    time.sleep(1.5)  # the git side has read the file under the budget a few times
    over = usage_json(None, (1200, 34), refused=1, cost=(0.52134, 0.5))
    (usage / "usage.json.tmp").write_text(over)
    (usage / "usage.json.tmp").rename(usage / "usage.json")  # the proxy's atomic replace
    run = started.wait(60)

    assert run.result.status is Status.OVER_BUDGET, run.output
    assert run.returncode == 31
    assert run.result.reason == (
        "$0.5213 spent, budget $0.50 (--max-cost); WIP commit pushed to speckit/t012"
    )
    assert run.result.cost_usd == 0.52134
    assert "[git] over budget: $0.5213 spent, budget $0.50 (--max-cost)" in run.output
    assert pod.remote_file("speckit/t012", "wip.txt") == "wip\n"


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(3, 90, 15, 0, 0, 100, 0.02, 0.05), "105 tokens used, budget 100 (--max-tokens)"),
        (Usage(3, 90, 15, 0, 0, 1000, 0.05, 0.05), "$0.0500 spent, budget $0.05 (--max-cost)"),
        # both reached, the cost first (the proxy recorded it): the cost's figures
        (Usage(3, 90, 15, 0, 0, 100, 0.06, 0.05, "cost"),
         "$0.0600 spent, budget $0.05 (--max-cost)"),
        (Usage(3, 90, 15, 0, 0, None, None, 0.05), "cost unknown (no valid price), budget "
         "$0.05 (--max-cost)"),
    ],
)  # fmt: skip
def test_the_budget_reached_first_decides_the_reason(
    tmp_path: Path, usage: Usage, expected: str
) -> None:
    (tmp_path / "usage.json").write_text(json.dumps(usage.to_json()))
    env = {"TASK_ID": "T012", "TASK_TITLE": "t", "REPO_URL": "https://h/r.git"}
    env |= {"BASE_BRANCH": "main", "TASK_BRANCH": "b", "LLM_USAGE_DIR": str(tmp_path)}
    run = git_side.Run(load(env), time.monotonic(), Shutdown(), print)
    assert git_side.decided(run, Verdict(Status.SUCCEEDED)) == (Status.OVER_BUDGET, expected)


def test_under_budget_is_the_agents_outcome(pod: Harness) -> None:
    usage = pod.tmp / "llm-usage"
    usage.mkdir()
    (usage / "usage.json").write_text(usage_json(1000, (900, 99)))
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", "echo done > new.txt")
    run = pod.run("do it\n", timeout=60, LLM_USAGE_DIR=str(usage))

    assert run.result.status is Status.SUCCEEDED, run.output
    assert not (pod.handoff / "stop").exists()


def test_deleting_the_pod_stops_the_agent_fast_and_pushes_the_wip(pod: Harness) -> None:
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", WRITE_THEN_HANG, events=())
    started = pod.start("do it\n")
    started.wait_for("[text] wrote", timeout=60)
    sent = time.monotonic()
    started.delete()
    run = started.wait(60)

    assert run.result.status is Status.KILLED, run.output
    assert run.returncode == 5 and run.agent_returncode == 5
    assert time.monotonic() - sent < 20  # opencode gets 5 s after SIGTERM; git the rest
    assert pod.remote_file("speckit/t012", "wip.txt") == "wip\n"


def _push_prerequisite(pod: Harness, task: str, files: dict[str, str]) -> StartPoint:
    """A prerequisite's pod pushed ``files`` to its branch from main; its start point."""
    seed = pod.tmp / f"seed-{task}"
    branch = f"speckit/{task.lower()}"
    ident = ["-c", "user.name=a", "-c", "user.email=a@x.invalid"]
    subprocess.run(["git", "clone", "-q", str(pod.bare), str(seed)], check=True)
    for rel, text in files.items():
        (seed / rel).write_text(text, encoding="utf-8")
    for args in (["checkout", "-q", "-b", branch], ["add", "-A"], [*ident, "commit", "-qm", task]):
        subprocess.run(["git", "-C", str(seed), *args], check=True)
    subprocess.run(["git", "-C", str(seed), "push", "-q", "origin", branch], check=True)
    commit = pod.git("rev-parse", branch).strip()
    return StartPoint(task, branch, commit)


def test_the_agent_starts_on_its_prerequisites_merged_work(pod: Harness) -> None:
    points = (
        _push_prerequisite(pod, "T010", {"a.txt": "from T010\n"}),
        _push_prerequisite(pod, "T011", {"b.txt": "from T011\n"}),
    )
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", "cat a.txt b.txt > seen.txt")

    run = pod.run("do it\n", timeout=60, START_POINTS=encode(points))

    assert run.result.status is Status.SUCCEEDED, run.output
    assert run.result.started_from == points
    assert run.result.files_changed == ("seen.txt",)  # its own diff, not its prerequisites'
    assert pod.remote_file("speckit/t012", "seen.txt") == "from T010\nfrom T011\n"
    assert pod.git("rev-parse", f"{run.result.commit}^").strip() == run.result.start_commit
    assert f"[git] merged {describe(points)}" in run.output
    trailers = pod.git(
        "log", "-1", "--format=%(trailers:key=Started-from,valueonly)", "speckit/t012"
    )
    assert trailers.split() == ["T010", points[0].commit, "T011", points[1].commit]


def test_conflicting_prerequisites_end_as_conflict_before_the_agent_starts(pod: Harness) -> None:
    points = (
        _push_prerequisite(pod, "T010", {"README.md": "T010's README\n"}),
        _push_prerequisite(pod, "T011", {"README.md": "T011's README\n"}),
    )
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", "echo ran > ran.txt")

    run = pod.run("do it\n", timeout=60, START_POINTS=encode(points))

    assert run.result.status is Status.CONFLICT, run.output
    assert run.returncode == 30
    assert run.result.reason == (
        f"the work of T011 ({points[1].commit[:12]}) conflicts with {points[0].short} in: README.md"
    )
    assert run.result.started_from == points
    assert "nothing to work on" in run.agent_output and run.agent_returncode == 1
    assert "running opencode" not in run.agent_output
    assert "speckit/t012" not in pod.remote_branches()  # nothing pushed


def test_malformed_start_points_are_an_invalid_environment(pod: Harness) -> None:
    run = pod.run("do it\n", timeout=60, START_POINTS='[{"task": "T1", "commit": "--x"}]')

    assert run.result.status is Status.FAILED
    assert "START_POINTS is invalid" in run.result.reason


def test_a_restacked_task_pushes_its_prerequisites_new_work_even_with_nothing_of_its_own(
    pod: Harness,
) -> None:
    first = _push_prerequisite(pod, "T010", {"a.txt": "one\n"})
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", "echo mine > mine.txt")
    assert pod.run("do it\n", timeout=60, START_POINTS=encode((first,))).result.status.ok
    # T010 is rerun: its branch moves on
    seed = pod.tmp / "seed-T010"
    (seed / "a.txt").write_text("two\n")
    ident = ["-c", "user.name=a", "-c", "user.email=a@x.invalid"]
    subprocess.run(["git", "-C", str(seed), *ident, "commit", "-qam", "T010 again"], check=True)
    subprocess.run(["git", "-C", str(seed), "push", "-q", "origin", "speckit/t010"], check=True)
    moved = StartPoint("T010", "speckit/t010", pod.git("rev-parse", "speckit/t010").strip())

    run = pod.run("do it\n", timeout=60, START_POINTS=encode((moved,)))  # writes the same

    assert run.result.status is Status.SUCCEEDED, run.output
    assert run.result.reason == f"nothing new of its own; its branch now holds {moved.short}"
    assert pod.remote_file("speckit/t012", "a.txt") == "two\n"
    assert pod.remote_file("speckit/t012", "mine.txt") == "mine\n"
    trailers = pod.git(
        "log", "-1", "--format=%(trailers:key=Started-from,valueonly)", "speckit/t012"
    )
    assert trailers.split() == ["T010", moved.commit]
