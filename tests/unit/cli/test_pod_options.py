"""spawn and dispatch share one builder of pod options: same checks, same exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.cli import build_parser, main
from runtime.cli.pod_options import spawn_options
from runtime.contract.exit_codes import ExitCode
from runtime.spawn.manifests import DEFAULT_IMAGE

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "001-greeting-service" / "tasks.md"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--model", "no-slash"], ExitCode.INVALID_INPUT),
        (["--image", "bad\x01image"], ExitCode.INVALID_INPUT),
        (["--timeout", "soon"], ExitCode.USAGE),
        (["--cleanup", "sometimes"], ExitCode.USAGE),
        (["--max-tokens", "0"], ExitCode.USAGE),
        (["--max-tokens", "lots"], ExitCode.USAGE),
    ],
)
def test_spawn_and_dispatch_refuse_bad_pod_options_alike(
    argv: list[str], code: ExitCode, capsys: pytest.CaptureFixture[str]
) -> None:
    spawn = main(["spawn", "T002", "--tasks", str(EXAMPLE), "--dry-run", *argv])
    spawn_err = capsys.readouterr().err
    dispatch = main(["dispatch", "--tasks", str(EXAMPLE), "--no-live", *argv])
    dispatch_err = capsys.readouterr().err
    assert spawn == dispatch == code, (spawn_err, dispatch_err)
    assert spawn_err.splitlines()[0] == dispatch_err.splitlines()[-1 if code == 2 else 0]


def test_both_commands_have_the_same_pod_options() -> None:
    parser = build_parser()
    spawn = parser.parse_args(["spawn", "T001"])
    dispatch = parser.parse_args(["dispatch"])
    built = (spawn_options(spawn, task_id="T001"), spawn_options(dispatch, task_id="T001"))
    assert built[0] == built[1]
    assert built[0].timeout_s == 7200 and built[0].keep_for_s == 86400


def test_the_token_budget_is_a_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPECKIT_PODS_MAX_TOKENS", raising=False)
    for command in (["spawn", "T001"], ["dispatch"]):
        assert spawn_options(build_parser().parse_args(command)).max_tokens is None  # unlimited
        flagged = build_parser().parse_args([*command, "--max-tokens", "20000"])
        assert spawn_options(flagged).max_tokens == 20000
    monkeypatch.setenv("SPECKIT_PODS_MAX_TOKENS", "15000")
    for command in (["spawn", "T001"], ["dispatch"]):
        assert spawn_options(build_parser().parse_args(command)).max_tokens == 15000
        flagged = build_parser().parse_args([*command, "--max-tokens", "9"])
        assert spawn_options(flagged).max_tokens == 9  # the flag wins


def test_the_agent_image_is_configured_once_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cluster pulls the image from the user's registry: set once, not on every call."""
    monkeypatch.delenv("SPECKIT_PODS_IMAGE", raising=False)
    for command in (["spawn", "T001"], ["dispatch"]):
        assert spawn_options(build_parser().parse_args(command)).image == DEFAULT_IMAGE
    monkeypatch.setenv("SPECKIT_PODS_IMAGE", "registry.example:5000/team/agent:0.1.0")
    for command in (["spawn", "T001"], ["dispatch"]):
        built = spawn_options(build_parser().parse_args(command))
        assert built.image == "registry.example:5000/team/agent:0.1.0"
        flagged = build_parser().parse_args([*command, "--image", "other/agent:1"])
        assert spawn_options(flagged).image == "other/agent:1"  # the flag wins
    monkeypatch.setenv("SPECKIT_PODS_IMAGE", "bad\x01image")
    assert main(["spawn", "T002", "--tasks", str(EXAMPLE), "--dry-run"]) == ExitCode.INVALID_INPUT


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "1e6", "ten", " ", "\u0661"])
def test_a_bad_token_budget_is_a_usage_error_naming_both_sources(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SPECKIT_PODS_MAX_TOKENS", raising=False)
    code = main(["spawn", "T002", "--tasks", str(EXAMPLE), "--dry-run", "--max-tokens", value])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert "--max-tokens" in err and "positive whole number" in err, err
    assert "SPECKIT_PODS_MAX_TOKENS" in err
    monkeypatch.setenv("SPECKIT_PODS_MAX_TOKENS", value)
    code = main(["dispatch", "--tasks", str(EXAMPLE), "--no-live"])
    assert code == ExitCode.USAGE
    assert "positive whole number" in capsys.readouterr().err


def test_extra_fields_must_be_spawn_options() -> None:
    args = build_parser().parse_args(["dispatch"])
    with pytest.raises(TypeError, match="not SpawnOptions fields"):
        spawn_options(args, colour="red")


def test_cleartext_http_is_opted_into_by_flag_or_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SPECKIT_PODS_ALLOW_INSECURE_HTTP", raising=False)
    for command in (["spawn", "T001"], ["dispatch"]):
        assert not spawn_options(build_parser().parse_args(command)).allow_insecure_http
        flagged = build_parser().parse_args([*command, "--allow-insecure-http"])
        assert spawn_options(flagged).allow_insecure_http
    monkeypatch.setenv("SPECKIT_PODS_ALLOW_INSECURE_HTTP", "1")
    assert spawn_options(build_parser().parse_args(["spawn", "T001"])).allow_insecure_http
