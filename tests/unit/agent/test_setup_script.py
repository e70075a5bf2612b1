"""The repository's setup script: run before the agent, its failure ends the run setup-failed."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from runtime.agent import setup_script
from runtime.agent.handoff import MAX_REASON_CHARS, Verdict
from runtime.contract.outcome import Status
from runtime.contract.start import encode
from tests.unit.agent.harness import Harness, fake_opencode
from tests.unit.agent.test_main import _push_prerequisite

SCRIPT = ".speckit-pods/setup.sh"


def _tree(tmp_path: Path, script: str | None) -> Path:
    tree = tmp_path / "repo"
    (tree / ".speckit-pods").mkdir(parents=True)
    if script is not None:
        (tree / SCRIPT).write_text(script, encoding="utf-8")
    return tree


def _run(
    tree: Path,
    *,
    limit_s: float = 30,
    deadline: float | None = None,
    stop: threading.Event | None = None,
) -> tuple[Verdict | None, list[str]]:
    lines: list[str] = []
    home = tree.parent / "home"
    verdict = setup_script.run_setup(
        tree,
        env=setup_script.user_env({"PATH": os.environ["PATH"]}, home),
        limit_s=limit_s,
        deadline=deadline,
        stop_requested=stop or threading.Event(),
        emit=lines.append,
    )
    return verdict, lines


def test_no_script_is_no_setup(tmp_path: Path) -> None:
    assert _run(_tree(tmp_path, None)) == (None, [])
    bare = tmp_path / "bare"
    bare.mkdir()  # no .speckit-pods at all
    assert _run(bare) == (None, [])


def test_a_script_runs_in_the_work_tree_with_its_output_relayed(tmp_path: Path) -> None:
    tree = _tree(tmp_path, 'echo "in $(pwd)"\necho "path ${PATH%%:*}"\necho err >&2\ntouch made\n')

    verdict, lines = _run(tree)

    assert verdict is None, lines
    assert lines[0] == f"[agent] running the repository's setup script {SCRIPT} (limit 30s)"
    home = tmp_path / "home"
    assert lines[1:4] == [f"[setup] in {tree}", f"[setup] path {home}/.local/bin", "[setup] err"]
    assert lines[-1].startswith("[agent] setup script done in ")
    assert (tree / "made").exists()


def test_a_failing_script_is_setup_failed_with_its_exit_code_and_last_lines(
    tmp_path: Path,
) -> None:
    script = "for i in $(seq 1 15); do echo line $i; done\nprintf 'x\\033[2Jy\\n'\nexit 3\n"
    tree = _tree(tmp_path, script)

    verdict, lines = _run(tree)

    assert verdict is not None and verdict.status is Status.SETUP_FAILED
    kept = " | ".join(f"line {i}" for i in range(7, 16))
    assert verdict.reason == f"setup script exited 3; last lines: {kept} | xy"  # escapes gone
    assert "[setup] line 1" in lines  # the whole output is in the log


def test_the_reason_keeps_the_last_lines_within_a_verdicts_size() -> None:
    last = tuple(f"{i:02d}" + "x" * 300 for i in range(10))

    reason = setup_script.failure_reason("setup script exited 1", last)

    assert len(reason) <= MAX_REASON_CHARS
    assert reason.endswith("09" + "x" * (setup_script.LINE_CHARS - 3) + "…")  # each capped
    assert "00xx" not in reason  # the earliest dropped to fit
    assert setup_script.failure_reason("setup script exited 1", ()) == (
        "setup script exited 1; no output"
    )


def test_a_script_over_its_limit_is_stopped_and_setup_failed(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "echo installing\nsleep 60\n")
    started = time.monotonic()

    verdict, _ = _run(tree, limit_s=1)

    assert time.monotonic() - started < 15
    assert verdict == Verdict(
        Status.SETUP_FAILED,
        "setup script ran out of its 1s (--setup-timeout); last lines: installing",
    )


def test_the_runs_deadline_during_the_setup_is_a_timeout(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "sleep 60\n")

    verdict, _ = _run(tree, limit_s=600, deadline=time.monotonic() + 1)

    assert verdict == Verdict(Status.TIMEOUT, "the run's deadline passed during the setup script")


def test_a_sigterm_during_the_setup_is_killed(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()

    verdict, _ = _run(_tree(tmp_path, "sleep 60\n"), stop=stop)

    assert verdict == Verdict(Status.KILLED, "terminated by a signal during the setup script")


def test_a_background_process_left_running_does_not_hold_the_run(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "sleep 30 &\necho $! > service.pid\necho started the service\n")
    started = time.monotonic()

    verdict, lines = _run(tree)

    assert verdict is None, lines
    assert "[setup] started the service" in lines
    assert time.monotonic() - started < 15
    service = int((tree / "service.pid").read_text())
    os.kill(service, 0)  # still running: a service for the agent
    os.kill(service, signal.SIGKILL)


def test_a_symlinked_script_is_refused_and_not_run(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.sh"
    elsewhere.write_text(f"touch {tmp_path}/ran\n", encoding="utf-8")
    tree = _tree(tmp_path, None)
    (tree / SCRIPT).symlink_to(elsewhere)

    verdict, _ = _run(tree)

    assert verdict == Verdict(
        Status.SETUP_FAILED, f"{SCRIPT} is a symlink: refused (commit the script itself)"
    )
    assert not (tmp_path / "ran").exists()


def test_a_symlinked_directory_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "setup.sh").write_text(f"touch {tmp_path}/ran\n", encoding="utf-8")
    tree = tmp_path / "repo"
    tree.mkdir()
    (tree / ".speckit-pods").symlink_to(elsewhere)

    verdict, lines = _run(tree)

    assert verdict is None
    assert lines == ["[agent] WARNING: .speckit-pods is not a directory: no setup script read"]
    assert not (tmp_path / "ran").exists()


# --- both sides of the pod -------------------------------------------------------------


def _commit_to_main(pod: Harness, files: dict[str, str]) -> None:
    seed = pod.tmp / "seed-main"
    ident = ["-c", "user.name=a", "-c", "user.email=a@x.invalid"]
    subprocess.run(["git", "clone", "-q", str(pod.bare), str(seed)], check=True)
    for rel, text in files.items():
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed / rel).write_text(text, encoding="utf-8")
    for args in (["add", "-A"], [*ident, "commit", "-qm", "setup"], ["push", "-q"]):
        subprocess.run(["git", "-C", str(seed), *args], check=True)


# a tool installed where the agent finds it by name: $HOME/.local/bin comes first on PATH
INSTALL_TOOL = (
    'set -eu\nmkdir -p "$HOME/.local/bin"\n'
    "printf '#!/bin/sh\\necho tool 1.0\\n' > \"$HOME/.local/bin/repotool\"\n"
    'chmod +x "$HOME/.local/bin/repotool"\necho installed repotool\n'
)


def test_the_setup_runs_before_the_agent_which_uses_what_it_installed(pod: Harness) -> None:
    _commit_to_main(pod, {SCRIPT: INSTALL_TOOL})
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", "repotool > out.txt")

    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SUCCEEDED, run.output
    assert pod.remote_file("speckit/t012", "out.txt") == "tool 1.0\n"
    assert run.result.files_changed == ("out.txt",)
    log = run.output  # the pod's log: the git side relays the agent's lines
    assert "[setup] installed repotool" in log
    assert log.index("[setup] installed repotool") < log.index("[agent] running opencode")


def test_a_failing_setup_ends_setup_failed_before_opencode_and_pushes_nothing(
    pod: Harness,
) -> None:
    failing = "echo fetching deps\necho junk > junk.txt\necho 'E: no such package' >&2\nexit 3\n"
    _commit_to_main(pod, {SCRIPT: failing})
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", f"touch {pod.tmp}/opencode-ran")

    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SETUP_FAILED, run.output
    assert run.returncode == 32 and run.agent_returncode == 32
    assert run.result.reason == (
        "setup script exited 3; last lines: fetching deps | E: no such package"
    )
    assert "running opencode" not in run.agent_output
    assert not (pod.tmp / "opencode-ran").exists()
    assert "speckit/t012" not in pod.remote_branches()  # nothing pushed
    assert "[setup] E: no such package" in run.output


def test_an_agent_claiming_setup_failed_only_ends_its_own_task(pod: Harness) -> None:
    """A hijacked agent forges the claim after working: its task ends, nothing is pushed."""
    forge = (
        "echo mine > mine.txt\n"
        'printf \'{"status": "setup-failed", "reason": "forged"}\' > "$HANDOFF_DIR/verdict.json"\n'
        "kill -KILL $PPID\n"
    )
    pod.opencode_bin = fake_opencode(pod.tmp / "oc", forge)
    main_before = pod.git("rev-parse", "main").strip()

    run = pod.run("do it\n", timeout=60)

    assert run.result.status is Status.SETUP_FAILED, run.output
    assert run.result.reason == "forged"
    assert run.result.commit == ""
    assert pod.remote_branches() == {"main"}
    assert pod.git("rev-parse", "main").strip() == main_before


def test_an_integration_runs_the_setup_before_its_tests(pod: Harness) -> None:
    _commit_to_main(pod, {SCRIPT: INSTALL_TOOL})
    points = (_push_prerequisite(pod, "T010", {"a.txt": "a\n"}),)

    run = pod.run(
        "integrate\n", timeout=60, START_POINTS=encode(points), INTEGRATE="1",
        TEST_COMMAND="repotool && test -f a.txt",
    )  # fmt: skip

    assert run.result.status is Status.SUCCEEDED, run.output
    assert "[setup] installed repotool" in run.output
    assert "[test] tool 1.0" in run.output
