from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sh

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "tail-logs.sh"


def run(*args: str, env: dict[str, str] | None = None) -> sh.RunningCommand:
    bash = sh.Command("bash")
    return bash(
        str(SCRIPT),
        *args,
        _ok_code=list(range(256)),
        _env=env or dict(os.environ),
        _timeout=60,
        _return_cmd=True,
    )


def test_help_is_the_runtimes_with_examples_and_exit_codes() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert str(result).startswith("Usage: tail-logs.sh POD | --task TID | --all [OPTIONS]\n")
    assert "examples:\n" in result and "  tail-logs.sh --task T012 --verify-remote" in result
    assert "--no-follow" in result and "27 still-running" in result
    assert result.stderr == b""


def test_help_wins_anywhere_on_the_line() -> None:
    assert run("--task", "T012", "-h").exit_code == 0


@pytest.mark.parametrize("flag", ["--bogus", "-x", "--bogus=1"])
def test_unknown_option_exits_2_with_the_house_message(flag: str) -> None:
    result = run("--task", "T012", flag)
    assert result.exit_code == 2
    name = flag.split("=")[0]
    assert result.stderr.decode() == f"ERROR: Unknown option '{name}'. Use --help.\n"
    assert result.stdout == b""


def test_option_without_value_exits_2() -> None:
    result = run("--timeout")
    assert result.exit_code == 2 and "needs a value" in result.stderr.decode()


def fake_python(tmp_path: Path) -> Path:
    # stands in for the interpreter: prints what the script exec'd, proves the contract
    path = tmp_path / "python"
    path.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "PYTHONPATH=$PYTHONPATH" "$@"\nexit 7\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_execs_runtime_logs_with_all_arguments(tmp_path: Path) -> None:
    env = {**os.environ, "SPECKIT_PODS_PYTHON": str(fake_python(tmp_path)), "PYTHONPATH": "/x"}
    result = run("--task", "T012", "--timeout=10m", "--no-color", env=env)
    assert result.exit_code == 7  # the exit code of python passes through exec
    lines = str(result).splitlines()
    repo = str(SCRIPT.parents[1])
    assert lines == [
        f"PYTHONPATH={repo}:/x",
        "-m",
        "runtime",
        "logs",
        "--task",
        "T012",
        "--timeout=10m",
        "--no-color",
    ]


def test_usage_errors_from_python_exit_2() -> None:
    result = run("--no-color")  # no pod, no --task, no --all
    assert result.exit_code == 2
    assert "give exactly one of" in result.stderr.decode()


def test_runs_through_a_symlink(tmp_path: Path) -> None:
    # a link in ~/bin: BASH_SOURCE is the link, lib/common.sh and REPO_ROOT are the checkout's
    (tmp_path / "bin").mkdir()
    link = tmp_path / "bin" / "tail-logs"
    link.symlink_to(SCRIPT)
    env = {**os.environ, "SPECKIT_PODS_PYTHON": str(fake_python(tmp_path))}
    env.pop("PYTHONPATH", None)
    done = sh.bash(str(link), "--all", _env=env, _cwd=str(tmp_path), _ok_code=[7], _return_cmd=True)
    repo = str(SCRIPT.parents[1])
    assert str(done).splitlines() == [f"PYTHONPATH={repo}", "-m", "runtime", "logs", "--all"]


@pytest.mark.parametrize("name", ["tail-logs.sh", "tail-logs"])
def test_help_is_the_runtimes_under_the_name_the_script_was_called_by(
    tmp_path: Path, name: str
) -> None:
    python = tmp_path / "python"
    python.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$SPECKIT_PODS_PROG" "$@"\n')
    python.chmod(0o755)
    script = SCRIPT if name == SCRIPT.name else tmp_path / name
    if script != SCRIPT:
        script.symlink_to(SCRIPT)
    env = {**os.environ, "SPECKIT_PODS_PYTHON": str(python)}
    done = sh.bash(str(script), "--task", "T1", "-h", _env=env, _return_cmd=True)
    assert str(done).splitlines() == [name, "-m", "runtime", "logs", "--task", "T1", "-h"]
