"""``runtime.cli``: lazy sub-commands, ``-v`` anywhere, a missing package in one line."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.cli import COMMANDS, PROG_ENV, build_parser, invoked_command, main
from runtime.contract.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "001-greeting-service" / "tasks.md"
THIRD_PARTY = ("kubernetes", "urllib3", "yaml", "rich")
HINT = "Hint: pip install speckit-pods (or, from this checkout, pip install .)"


def without(
    modules: tuple[str, ...], *argv: str, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``main(argv)`` in a fresh interpreter where MODULES cannot be imported."""
    code = (
        "import sys\n"
        f"for name in {modules!r}:\n"
        "    sys.modules[name] = None  # import raises ModuleNotFoundError(name=name)\n"
        "from runtime.cli import main\n"
        f"sys.exit(main({list(argv)!r}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(PROG_ENV, None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


@pytest.fixture
def tasks_md(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.md"
    shutil.copy(EXAMPLE, path)
    return path


def test_tasks_commands_need_no_third_party_package(tasks_md: Path) -> None:
    for argv in (["list"], ["show", "T002"], ["done", "T002"], ["list", "--json"]):
        done = without(THIRD_PARTY, "tasks", *argv, "--tasks", str(tasks_md))
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    assert "- [X] T002" in tasks_md.read_text(encoding="utf-8")


def test_root_help_lists_every_command_without_importing_them() -> None:
    done = without(THIRD_PARTY, "--help")
    assert done.returncode == 0, done.stderr
    assert all(f"    {name} " in done.stdout for name in COMMANDS)


@pytest.mark.parametrize("command", ["logs", "status"])
def test_help_of_the_cluster_commands_needs_no_third_party_package(command: str) -> None:
    done = without(THIRD_PARTY, command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: speckit-pods {command} ")
    assert "exit codes:" in done.stdout and done.stderr == ""


def test_dispatch_plan_needs_no_kubernetes() -> None:
    done = without(("kubernetes", "urllib3", "rich"), "dispatch", "plan", "--tasks", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("held    T002")


@pytest.mark.parametrize(
    ("missing", "argv", "package"),
    [
        ("kubernetes", ["status"], "kubernetes"),
        ("kubernetes", ["logs", "--all"], "kubernetes"),
        ("yaml", ["spawn", "--help"], "PyYAML"),
        ("kubernetes.client", ["-v", "status"], "kubernetes"),
    ],
)
def test_a_missing_package_is_one_error_line_and_a_hint(
    missing: str, argv: list[str], package: str, tmp_path: Path
) -> None:
    done = without((missing,), *argv, cwd=tmp_path)
    assert done.returncode == ExitCode.MISSING_DEPENDENCY
    # -v's debug line comes first: the cluster side is imported when the command runs
    lines = [line for line in done.stderr.splitlines() if not line.startswith("DEBUG: ")]
    assert lines == [
        f"ERROR: speckit-pods needs the Python package '{package}', which is not installed",
        HINT,
    ]
    assert done.stdout == ""


def test_a_missing_module_of_ours_is_a_bug_and_keeps_its_traceback() -> None:
    done = without(("runtime.cli.status_cmd",), "status")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "runtime.cli.status_cmd" in done.stderr


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["spawn", "T012"], "spawn"),
        (["-v", "tasks", "list"], "tasks"),
        (["--verbose", "logs", "--all"], "logs"),
        (["--version"], None),
        (["nope"], None),
        ([], None),
    ],
)
def test_invoked_command_is_the_first_non_option(argv: list[str], command: str | None) -> None:
    assert invoked_command(argv) == command


def test_only_the_invoked_command_is_configured() -> None:
    parser = build_parser(["tasks", "list"])
    assert parser.parse_args(["tasks", "list"]).func.__module__ == "runtime.cli.tasks_cmd"
    with pytest.raises(SystemExit):  # the others are names in the root's help only
        parser.parse_args(["status", "--json"])


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        (["spawn", "T012"], False),
        (["-v", "spawn", "T012"], True),
        (["spawn", "-v", "T012"], True),
        (["spawn", "T012", "--verbose"], True),
        (["dispatch", "plan", "-v"], True),
        (["logs", "--all", "-v"], True),
        (["status", "-v"], True),
        (["tasks", "-v", "list"], True),
        (["tasks", "list", "-v"], True),
        (["-v", "tasks", "show", "T001"], True),
    ],
)
def test_verbose_works_before_and_after_the_command(argv: list[str], verbose: bool) -> None:
    assert build_parser(argv).parse_args(argv).verbose is verbose


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:  # argparse has no public walk
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_parser_takes_verbose() -> None:
    for parser in _parsers(build_parser()):
        flags = {flag for action in parser._actions for flag in action.option_strings}
        assert {"-v", "--verbose"} <= flags, parser.prog


def test_verbose_logs_which_python_and_which_code_run(
    tasks_md: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="runtime.cli")
    assert main(["tasks", "list", "-v", "--tasks", str(tasks_md)]) == 0
    (record,) = [r for r in caplog.records if r.name == "runtime.cli"]
    assert sys.executable in record.getMessage()
    assert str(ROOT / "runtime") in record.getMessage()


def test_help_names_the_script_that_runs_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PROG_ENV, "tail-logs.sh")
    assert main(["logs", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: tail-logs.sh POD | --task TID | --all [OPTIONS]\n")
    assert "  tail-logs.sh --task T012 --verify-remote --mark-done\n" in out
    monkeypatch.delenv(PROG_ENV)
    assert main(["logs", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: speckit-pods logs POD | --task TID | --all [OPTIONS]\n")
    assert "  speckit-pods logs --task T012 --verify-remote --mark-done\n" in out
