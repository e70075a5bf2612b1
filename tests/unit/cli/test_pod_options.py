"""spawn and dispatch share one builder of pod options: same checks, same exit codes."""

from __future__ import annotations

import argparse
import os
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from runtime.cli import build_parser, main
from runtime.cli.pod_options import add_pod_options, spawn_options
from runtime.contract.cost import Price
from runtime.contract.exit_codes import ExitCode
from runtime.spawn import manifests
from runtime.spawn.manifests import DEFAULT_IMAGE

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "001-greeting-service" / "tasks.md"
GOLDEN_HELP = Path(__file__).parent / "golden" / "pod-options-help.txt"


def test_the_pod_options_help_is_pinned_word_for_word(monkeypatch: pytest.MonkeyPatch) -> None:
    """spawn's and dispatch's --help for the pod options, with no SPECKIT_PODS_* set."""
    for name in [name for name in os.environ if name.startswith("SPECKIT_PODS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(manifests, "DEFAULT_IMAGE", "registry.example/agent:1")  # not a release
    parser = argparse.ArgumentParser(prog="speckit-pods spawn", add_help=False)
    add_pod_options(parser)
    text = parser.format_help()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN_HELP.write_text(text, encoding="utf-8")
    assert text == GOLDEN_HELP.read_text(encoding="utf-8"), "run with UPDATE_GOLDEN=1 and review"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--model", "no-slash"], ExitCode.INVALID_INPUT),
        (["--image", "bad\x01image"], ExitCode.INVALID_INPUT),
        (["--image", "Upper/Case:1"], ExitCode.INVALID_INPUT),
        (["--toolchain-image", "tools:1; id"], ExitCode.INVALID_INPUT),
        (["--setup-timeout", "soon"], ExitCode.USAGE),
        (["--timeout", "soon"], ExitCode.USAGE),
        (["--cleanup", "sometimes"], ExitCode.USAGE),
        (["--max-tokens", "0"], ExitCode.USAGE),
        (["--max-tokens", "lots"], ExitCode.USAGE),
        (["--llm-price", "3"], ExitCode.USAGE),
        (["--max-cost", "0"], ExitCode.USAGE),
        (["--checkpoint-interval", "-1"], ExitCode.USAGE),
        (["--checkpoint-interval", "3m"], ExitCode.USAGE),
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


def test_the_checkpoint_interval_is_a_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SPECKIT_PODS_CHECKPOINT_INTERVAL", raising=False)
    for command in (["spawn", "T001"], ["dispatch"]):
        assert spawn_options(build_parser().parse_args(command)).checkpoint_s == 180
        flagged = build_parser().parse_args([*command, "--checkpoint-interval", "0"])
        assert spawn_options(flagged).checkpoint_s == 0  # off
    monkeypatch.setenv("SPECKIT_PODS_CHECKPOINT_INTERVAL", "60")
    for command in (["spawn", "T001"], ["dispatch"]):
        assert spawn_options(build_parser().parse_args(command)).checkpoint_s == 60
        flagged = build_parser().parse_args([*command, "--checkpoint-interval", "5"])
        assert spawn_options(flagged).checkpoint_s == 5  # the flag wins
    monkeypatch.setenv("SPECKIT_PODS_CHECKPOINT_INTERVAL", "often")
    assert main(["spawn", "T002", "--tasks", str(EXAMPLE), "--dry-run"]) == ExitCode.USAGE
    assert "SPECKIT_PODS_CHECKPOINT_INTERVAL" in capsys.readouterr().err


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


def test_the_toolchain_image_is_a_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A repository's toolchain image, for its agent container; unset: the agent image."""
    monkeypatch.delenv("SPECKIT_PODS_TOOLCHAIN_IMAGE", raising=False)
    monkeypatch.setenv("SPECKIT_PODS_IMAGE", "registry.example/agent:0.1.0")
    for command in (["spawn", "T001"], ["dispatch"]):
        assert spawn_options(build_parser().parse_args(command)).toolchain_image == ""
        flagged = build_parser().parse_args([*command, "--toolchain-image", "r.example/tools:2"])
        built = spawn_options(flagged)
        assert (built.image, built.toolchain_image) == (
            "registry.example/agent:0.1.0", "r.example/tools:2"
        )  # fmt: skip
        same = build_parser().parse_args([*command, "--toolchain-image", built.image])
        assert spawn_options(same).toolchain_image == ""  # the agent image itself: none
    monkeypatch.setenv("SPECKIT_PODS_TOOLCHAIN_IMAGE", "r.example/tools:3")
    for command in (["spawn", "T001"], ["dispatch"]):
        assert spawn_options(build_parser().parse_args(command)).toolchain_image == (
            "r.example/tools:3"
        )
    monkeypatch.setenv("SPECKIT_PODS_TOOLCHAIN_IMAGE", "r.example/Tools:3")
    assert main(["spawn", "T002", "--tasks", str(EXAMPLE), "--dry-run"]) == ExitCode.INVALID_INPUT


def test_a_dry_run_shows_the_toolchain_image_in_the_agent_container_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SPECKIT_PODS_TOOLCHAIN_IMAGE", raising=False)
    argv = ["spawn", "T002", "--tasks", str(EXAMPLE), "--dry-run", "--repo", "https://h/r.git"]
    argv += ["--image", "r.example/agent:1", "--toolchain-image", "r.example/tools:2"]
    argv += ["--setup-timeout", "20m"]
    assert main(argv) == 0
    pod = next(d for d in yaml.safe_load_all(capsys.readouterr().out) if d["kind"] == "Pod")
    images = {
        c["name"]: c["image"] for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]
    }
    assert images == {"llm-proxy": "r.example/agent:1", "git": "r.example/agent:1",
                      "agent": "r.example/tools:2"}  # fmt: skip
    (agent,) = pod["spec"]["containers"]
    assert {"name": "AGENT_SETUP_SECONDS", "value": "1200"} in agent["env"]


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


@pytest.fixture
def no_cost_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("SPECKIT_PODS_LLM_PRICE", "SPECKIT_PODS_MAX_COST"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_price_and_the_cost_budget_are_flags_or_the_environment(
    no_cost_env: pytest.MonkeyPatch,
) -> None:
    for command in (["spawn", "T001"], ["dispatch"]):
        built = spawn_options(build_parser().parse_args(command))
        assert (built.llm_price, built.max_cost) == (None, None)  # no cost known, no limit
        flagged = build_parser().parse_args(
            [*command, "--llm-price", "0.15/0.6", "--max-cost", "2.50"]
        )
        built = spawn_options(flagged)
        assert (built.llm_price, built.max_cost) == (Price.parse("0.15/0.6"), Decimal("2.50"))
    no_cost_env.setenv("SPECKIT_PODS_LLM_PRICE", "3/15")
    no_cost_env.setenv("SPECKIT_PODS_MAX_COST", "1")
    for command in (["spawn", "T001"], ["dispatch"]):
        built = spawn_options(build_parser().parse_args(command))
        assert (built.llm_price, built.max_cost) == (Price.parse("3/15"), Decimal(1))
        flagged = build_parser().parse_args([*command, "--llm-price", "1/2"])
        assert spawn_options(flagged).llm_price == Price.parse("1/2")  # the flag wins


@pytest.mark.parametrize("value", ["3", "3/15/1", "-1/2", "3e1/2", "three/15", "$3/$15", " "])
def test_a_bad_price_is_a_usage_error_naming_both_sources(
    value: str, no_cost_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["spawn", "T002", "--tasks", str(EXAMPLE), "--dry-run", f"--llm-price={value}"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert len(err.splitlines()) == 1, err
    assert "expected IN/OUT, US dollars per million input / output tokens" in err
    assert "--llm-price" in err and "SPECKIT_PODS_LLM_PRICE" in err
    no_cost_env.setenv("SPECKIT_PODS_LLM_PRICE", value)
    code = main(["dispatch", "--tasks", str(EXAMPLE), "--no-live"])
    assert code == ExitCode.USAGE
    assert "expected IN/OUT" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "1e3", "$1", "lots"])
def test_a_bad_cost_budget_is_a_usage_error_naming_both_sources(
    value: str, no_cost_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["spawn", "T002", "--tasks", str(EXAMPLE), "--dry-run", "--llm-price", "3/15"]
    code = main([*argv, f"--max-cost={value}"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert "--max-cost" in err and "SPECKIT_PODS_MAX_COST" in err and "US dollars" in err, err


def test_a_cost_budget_without_a_price_is_a_usage_error_naming_the_variable(
    no_cost_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["spawn", "T002", "--tasks", str(EXAMPLE), "--dry-run", "--max-cost", "0.5"])
    lines = capsys.readouterr().err.splitlines()
    assert code == ExitCode.USAGE
    assert lines[0].startswith("ERROR: --max-cost needs your price"), lines
    assert lines[1].startswith("Hint: set SPECKIT_PODS_LLM_PRICE=IN/OUT"), lines
    assert len(lines) == 2
    no_cost_env.setenv("SPECKIT_PODS_MAX_COST", "0.5")  # the environment's alike
    code = main(["dispatch", "--tasks", str(EXAMPLE), "--no-live"])
    assert code == ExitCode.USAGE
    assert "SPECKIT_PODS_LLM_PRICE" in capsys.readouterr().err
    no_cost_env.setenv("SPECKIT_PODS_LLM_PRICE", "3/15")  # with a price: accepted
    assert spawn_options(build_parser().parse_args(["dispatch"])).max_cost == Decimal("0.5")


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
