from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from runtime.cli import build_parser
from runtime.cli.spawn_cmd import options
from runtime.errors import InvalidInputError, UsageError


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["spawn", *argv])


def test_fork_form_and_positional_form_give_the_same_options() -> None:
    fork = options(
        parse(
            "--task-id", "T012", "--branch", "b", "--repo", "https://h/r.git", "--context-dir", "d"
        )
    )
    positional = options(parse("T012", "b", "https://h/r.git", "d"))
    assert fork == positional
    assert fork.context_dir == Path("d")


def test_defaults() -> None:
    got = options(parse("T012"))
    assert (got.timeout_s, got.stall_s, got.keep_for_s) == (7200, 600, 86400)
    assert (got.cleanup, got.namespace, got.replace, got.dry_run) == (
        "on-success",
        "speckit-pods",
        False,
        False,
    )
    assert got.image == "ghcr.io/speckit-pods/agent:0.1.0"


def test_namespace_default_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECKIT_PODS_NAMESPACE", "agents")
    assert options(parse("T012")).namespace == "agents"


def test_conflicting_values_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="given twice"):
        options(parse("T012", "--task-id", "T013"))


def test_task_id_is_required() -> None:
    with pytest.raises(UsageError):
        options(parse("--dry-run"))


def test_model_needs_a_provider() -> None:
    with pytest.raises(InvalidInputError, match="provider/model"):
        options(parse("T012", "--model", "gpt-4"))


def test_abbreviated_flags_are_not_accepted() -> None:
    with pytest.raises(SystemExit) as info:
        parse("T012", "--rep", "x")
    assert info.value.code == 2
