"""Every sub-command's ``--help``: examples and exit codes, the codes from the one enum."""

from __future__ import annotations

import importlib
import re

import pytest

from runtime.cli import COMMANDS, main
from runtime.cli.helptext import epilog, exit_codes, paragraph
from runtime.contract.exit_codes import ExitCode, summary


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_exit_codes_close_every_help_and_come_from_the_enum(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = importlib.import_module(f"runtime.cli.{COMMANDS[command][0]}")
    out = help_of(capsys, command)
    rendered = exit_codes(module.CODES, getattr(module, "NOTE", ""))
    assert out.endswith(rendered + "\n")
    assert "examples:\n" in out and f"  speckit-pods {command} " in out
    assert ExitCode.USAGE in module.CODES and ExitCode.INTERRUPTED in module.CODES


@pytest.mark.parametrize("action", ["list", "show", "done"])
def test_the_tasks_actions_list_their_exit_codes(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime.cli.tasks_cmd import CODES

    assert help_of(capsys, "tasks", action).endswith(exit_codes(CODES) + "\n")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_codes_are_listed_once(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert help_of(capsys, command).lower().count("exit codes") == 1


def test_a_code_and_its_name_stay_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "44")
    text = exit_codes(list(ExitCode), "and a note after the codes")
    lines = text.splitlines()
    assert all(len(line) <= 42 for line in lines)
    assert not any(re.search(r"\b\d+$", line) for line in lines), text
    assert " ".join(lines).startswith(f"exit codes: {summary(ExitCode)}. and a note")


def test_epilog_indents_the_examples_and_keeps_prog_for_argparse() -> None:
    text = epilog([ExitCode.SUCCEEDED], examples="# say hi\n%(prog)s hi\n")
    assert text == "examples:\n  # say hi\n  %(prog)s hi\n\nexit codes: 0 succeeded."


def test_paragraph_joins_and_wraps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "42")
    text = "a paragraph\n   of several words, joined and wrapped at forty"
    assert paragraph(text) == "a paragraph of several words, joined and\nwrapped at forty"
