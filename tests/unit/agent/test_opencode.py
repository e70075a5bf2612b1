"""The opencode runner with a FAKE opencode (a small Python script): fast and exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runtime.agent import opencode
from runtime.agent.opencode import Limits, Stop

STEP = json.dumps({"type": "step_start", "part": {}})
TEXT = json.dumps({"type": "text", "part": {"text": "done"}})
STOP = json.dumps({"type": "step_finish", "part": {"reason": "stop"}})


def fake(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "fake_opencode.py"
    script.write_text("import sys, time, signal, subprocess\nsys.stdin.read()\n" + body)
    return [sys.executable, str(script)]


def run(
    tmp_path: Path, argv: list[str], limits: Limits, stop: threading.Event | None = None
) -> tuple[opencode.RunOutcome, list[str], float]:
    prompt = tmp_path / "prompt.md"
    prompt.write_text("do it\n")
    lines: list[str] = []
    started = time.monotonic()
    outcome = opencode.run(
        argv,
        cwd=tmp_path,
        env=dict(os.environ),
        prompt=prompt,
        limits=limits,
        stop_requested=stop or threading.Event(),
        emit=lines.append,
    )
    return outcome, lines, time.monotonic() - started


def test_clean_run_is_ok(tmp_path: Path) -> None:
    argv = fake(tmp_path, f"print({STEP!r}); print({TEXT!r}); print({STOP!r})\n")
    outcome, lines, _ = run(tmp_path, argv, Limits(stall_s=30))

    assert (outcome.ok, outcome.stop, outcome.exit_code) == (True, None, 0)
    assert lines == ["[text] done", "[step] finish reason=stop"]


def test_prompt_arrives_on_stdin_and_stdin_is_closed(tmp_path: Path) -> None:
    script = tmp_path / "echo.py"
    script.write_text(
        "import json, sys\ndata = sys.stdin.read()\n"
        "print(json.dumps({'type': 'text', 'part': {'text': data}}))\n"
    )
    _, lines, _ = run(tmp_path, [sys.executable, str(script)], Limits(stall_s=30))

    assert lines == ["[text] do it"]


def test_silence_trips_the_watchdog(tmp_path: Path) -> None:
    argv = fake(tmp_path, f"print({STEP!r}, flush=True); time.sleep(60)\n")
    outcome, _, took = run(tmp_path, argv, Limits(stall_s=1.0))

    assert outcome.stop is Stop.STALLED
    assert 1.0 <= took < 10


def test_deadline_stops_a_chatty_run(tmp_path: Path) -> None:
    chatty = f"while True:\n    print({TEXT!r}, flush=True); time.sleep(0.1)\n"
    outcome, _, took = run(
        tmp_path, fake(tmp_path, chatty), Limits(stall_s=30, deadline=time.monotonic() + 1.5)
    )

    assert outcome.stop is Stop.TIMEOUT
    assert took < 10


def test_stop_request_kills_the_run(tmp_path: Path) -> None:
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    outcome, _, took = run(tmp_path, fake(tmp_path, "time.sleep(60)\n"), Limits(stall_s=30), stop)

    assert outcome.stop is Stop.KILLED
    assert took < 10


def test_the_stop_file_stops_a_chatty_run(tmp_path: Path) -> None:
    stop_file = tmp_path / "handoff-stop"
    timer = threading.Timer(0.5, stop_file.write_text, args=("over budget\n",))
    timer.start()
    chatty = f"while True:\n    print({TEXT!r}, flush=True); time.sleep(0.1)\n"
    outcome, _, took = run(tmp_path, fake(tmp_path, chatty), Limits(30, stop_file=stop_file))

    assert outcome.stop is Stop.ASKED and not outcome.ok
    assert took < 10


def test_a_leftover_child_holding_the_pipes_does_not_block(tmp_path: Path) -> None:
    body = f"subprocess.Popen(['sleep', '300'])\nprint({TEXT!r}); print({STOP!r}, flush=True)\n"
    outcome, _, took = run(tmp_path, fake(tmp_path, body), Limits(stall_s=60))

    assert outcome.ok and outcome.stop is None
    assert took < 15


def test_terminate_group_escalates_to_sigkill(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(300)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    with proc.stdout:
        assert proc.stdout.readline() == "ready\n"
        opencode.terminate_group(proc, grace=0.5)

    assert proc.returncode == -signal.SIGKILL


def test_command_line() -> None:
    assert opencode.command("opencode", "T1: x") == [
        "opencode",
        "run",
        "--format",
        "json",
        "--title",
        "T1: x",
    ]
    assert opencode.command("oc", "t", "prov/model")[-2:] == ["-m", "prov/model"]


def test_environment_sets_no_download_switches_and_permissions(tmp_path: Path) -> None:
    env = opencode.environment({"PATH": "/bin", "OPENCODE_DISABLE_SHARE": "0"}, tmp_path)

    assert env["XDG_CONFIG_HOME"] == str(tmp_path / ".config")
    assert env["OPENCODE_DISABLE_MODELS_FETCH"] == "1"
    assert env["OPENCODE_DISABLE_PROJECT_CONFIG"] == "1"  # the repository configures nothing
    assert env["OPENCODE_DISABLE_SHARE"] == "0"  # an explicit setting wins
    permission = json.loads(env["OPENCODE_PERMISSION"])
    assert set(permission.values()) <= {"allow", "deny"}
    assert {"edit", "bash", "read", "webfetch", "external_directory", "doom_loop"} <= set(
        permission
    )


def test_with_a_proxy_the_builtin_providers_go_through_it_with_a_dummy_key(
    tmp_path: Path,
) -> None:
    mine = {"provider": {"openai": {"options": {"baseURL": "https://evil.example/v1"}}}, "x": 1}
    base = {"SPECKIT_LLM_PROXY_URL": "http://127.0.0.1:4141/", "OPENCODE_CONFIG_CONTENT": ""}
    env = opencode.environment({**base, "OPENCODE_CONFIG_CONTENT": json.dumps(mine)}, tmp_path)

    content = json.loads(env["OPENCODE_CONFIG_CONTENT"])
    assert content["x"] == 1  # the rest of an explicit content is kept
    for name in ("openai", "anthropic"):
        options = content["provider"][name]["options"]
        assert options["baseURL"] == f"http://127.0.0.1:4141/{name}"  # merged last: wins
        assert options["apiKey"] == opencode.PROXY_DUMMY_KEY
    plain = opencode.environment({"PATH": "/bin"}, tmp_path)
    assert "OPENCODE_CONFIG_CONTENT" not in plain  # no proxy, nothing rewritten


def test_seed_config_dirs_keeps_existing_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "package-lock.json").write_text("mine")
    opencode.seed_config_dirs([tmp_path / "a", tmp_path / "b"])

    assert (tmp_path / "a" / "node_modules").is_dir()
    lock = json.loads((tmp_path / "a" / "package-lock.json").read_text())
    assert lock == {"packages": {"": {"dependencies": {"@opencode-ai/plugin": "*"}}}}
    assert (tmp_path / "b" / "package-lock.json").read_text() == "mine"


@pytest.mark.parametrize("reason", ["tool-calls", "unknown"])
def test_run_ending_without_stop_is_not_ok(tmp_path: Path, reason: str) -> None:
    finish = json.dumps({"type": "step_finish", "part": {"reason": reason, "tokens": {}}})
    argv = fake(tmp_path, f"print({TEXT!r}); print({finish!r})\n")
    outcome, _, _ = run(tmp_path, argv, Limits(stall_s=30))

    assert not outcome.ok
    assert f"reason={reason}" in outcome.reason
