from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "hack" / "bootstrap" / "all.sh"


def fake_step(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / "steps" / f"{name}.sh"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(0o755)
    return path


def run(
    tmp_path: Path, *steps: Path, args: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    # fake steps, no host deps (no root, no apt), the logs under tmp_path
    full_env = {
        **os.environ,
        "BOOTSTRAP_STEPS": " ".join(str(s) for s in steps),
        "BOOTSTRAP_SKIP_HOST_DEPS": "1",
        "BOOTSTRAP_CACHE_DIR": str(tmp_path / "cache"),
        **env,
    }
    for name in ("BOOTSTRAP_VERBOSE", "EXTRA_STEPS"):
        if name not in env:
            full_env.pop(name, None)
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        stdin=subprocess.DEVNULL,
    )


def log_of(result: subprocess.CompletedProcess[str]) -> Path:
    first = result.stderr.splitlines()[0]
    assert first.startswith("==> bootstrap log: "), result.stderr
    return Path(first.removeprefix("==> bootstrap log: "))


def test_help_documents_the_flags_and_the_test_hooks() -> None:
    result = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == ""
    assert "Usage: hack/bootstrap/all.sh [-v|--verbose] [-h|--help]" in result.stdout
    for word in ("BOOTSTRAP_VERBOSE", "BOOTSTRAP_STEPS", "BOOTSTRAP_SKIP_HOST_DEPS", "EXAMPLES:"):
        assert word in result.stdout


def test_unknown_option_exits_2(tmp_path: Path) -> None:
    result = run(tmp_path, args=("--bogus",))
    assert result.returncode == 2
    assert result.stderr == "ERROR: Unknown option '--bogus'. Use --help.\n"


def test_quiet_run_prints_one_line_per_step_and_logs_their_output(tmp_path: Path) -> None:
    one = fake_step(tmp_path, "one", "echo one-out; echo one-err >&2")
    two = fake_step(tmp_path, "two", "echo two-out; echo two-err >&2")
    result = run(tmp_path, one, two, CI="true")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    assert re.fullmatch(r"==> \[1/2\] one \.\.\. ok \(\d+ s(, cached)?\)", lines[1])
    assert re.fullmatch(r"==> \[2/2\] two \.\.\. ok \(\d+ s(, cached)?\)", lines[2])
    assert "-out" not in result.stdout and "-err" not in result.stderr
    # the timing table on stdout is unchanged
    table = [line.split() for line in result.stdout.splitlines()]
    assert [row[0] for row in table] == ["STEP", "one", "two", "total"]
    assert all(row[1].isdigit() for row in table[1:])
    log = log_of(result)
    assert log.parent == tmp_path / "cache" / "bootstrap" / "logs"
    text = log.read_text()
    for word in ("one-out", "one-err", "two-out", "two-err"):
        assert word in text
    assert text.index("one-out") < text.index("two-out")
    assert (log.parent / "latest.log").resolve() == log.resolve()


def test_failure_prints_the_tail_and_exits_with_the_step_code(tmp_path: Path) -> None:
    ok = fake_step(tmp_path, "ok", "echo fine")
    bad = fake_step(tmp_path, "bad", 'for i in $(seq 1 40); do echo "out $i"; done; exit 3')
    never = fake_step(tmp_path, "never", "echo never-ran")
    result = run(tmp_path, ok, bad, never)
    assert result.returncode == 3
    assert result.stdout == ""  # no table
    log = log_of(result)
    err = result.stderr
    assert re.search(
        rf"^ERROR: bootstrap step bad failed \(exit 3\) after \d+ s; log: {re.escape(str(log))}$",
        err,
        re.MULTILINE,
    )
    tail = err.split("ERROR: bootstrap step bad", 1)[1].splitlines()
    printed = [line for line in tail if line.startswith("out ")]
    assert printed == [f"out {i}" for i in range(11, 41)]
    assert "never" not in err and "never-ran" not in log.read_text()
    assert "out 1\n" in log.read_text()  # the log has all of it


def test_failure_output_without_a_final_newline(tmp_path: Path) -> None:
    bad = fake_step(tmp_path, "bad", "printf 'last words' >&2; exit 42")
    result = run(tmp_path, bad)
    assert result.returncode == 42
    lines = result.stderr.splitlines()
    assert "last words" in lines and lines[-1] == "-----"


@pytest.mark.parametrize(
    ("args", "env"), [(("--verbose",), {}), (("-v",), {}), ((), {"BOOTSTRAP_VERBOSE": "1"})]
)
def test_verbose_streams_the_output_to_stderr(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    step = fake_step(tmp_path, "chatty", "echo chatty-out; echo chatty-err >&2")
    result = run(tmp_path, step, args=args, **env)
    assert result.returncode == 0, result.stderr
    assert "chatty-out" in result.stderr and "chatty-err" in result.stderr
    assert "chatty-out" not in result.stdout
    assert "chatty-out" in log_of(result).read_text()
