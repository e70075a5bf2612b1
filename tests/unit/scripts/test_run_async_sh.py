from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "run-async.sh"
EXAMPLE = ROOT / "examples" / "001-greeting-service"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_help_is_the_runtimes_with_examples_and_exit_codes() -> None:
    result = run("--help")
    assert result.returncode == 0 and result.stderr == ""
    usage = "Usage: run-async.sh [run|plan|status|cancel|integrate] [OPTIONS]\n"
    assert result.stdout.startswith(usage)
    assert "examples:\n" in result.stdout and "  run-async.sh plan\n" in result.stdout
    assert "--max-parallel N" in result.stdout and "(default 3, or what the" in result.stdout
    assert "28 held," in result.stdout and "held: nothing failed" in result.stdout


@pytest.mark.parametrize("flag", ["--bogus", "--max-parallel=x"])
def test_bad_options_exit_2_with_one_line(flag: str) -> None:
    result = run(flag)
    assert result.returncode == 2
    assert result.stderr.startswith("ERROR: ") and result.stderr.count("\n") == 1


def test_plan_of_the_example_feature_needs_no_cluster() -> None:
    result = run("plan", "--tasks", str(EXAMPLE), "--written-deps-only")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("wave 2  T007")


def test_session_is_its_own_sub_command() -> None:
    result = run("session", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: run-async.sh session TID [--json | --log] [OPTIONS]\n")
    assert "23 pod-not-found" in result.stdout
