from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import sh
import yaml

from tests.unit.fakes import feature_repo

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "spawn-pod.sh"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    feature_repo(tmp_path / "photos")
    return tmp_path / "photos"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: no kubeconfig, no spec-kit variables, our interpreter."""
    import os
    import sys

    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        "SPECKIT_PODS_PYTHON": sys.executable,
    }


def run_script(script: Path, cwd: Path, env: dict[str, str], *args: str) -> sh.RunningCommand:
    return sh.bash(
        str(script),
        *args,
        _cwd=str(cwd),
        _env=env,
        _ok_code=list(range(256)),
        _timeout=60,
        _return_cmd=True,
    )


def spawn(cwd: Path, env: dict[str, str], *args: str) -> sh.RunningCommand:
    return run_script(SCRIPT, cwd, env, *args)


def stderr(result: sh.RunningCommand) -> str:
    return bytes(result.stderr).decode()


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_exits_0_with_examples(tmp_path: Path, env: dict[str, str], flag: str) -> None:
    result = spawn(tmp_path, env, "T012", flag)
    assert result.exit_code == 0
    out = str(result)
    assert out.startswith("Usage: spawn-pod.sh --task-id TID ")
    assert "Start a pod that clones REPO_URL at --base, runs OpenCode on" in out
    assert "examples:\n" in out and "  spawn-pod.sh T012 --dry-run | less" in out
    assert "--task-id TID" in out and "(default 2h)" in out and "13 unknown-task" in out
    assert stderr(result) == ""


def test_verbose_after_the_script_name_turns_debug_logging_on(
    checkout: Path, env: dict[str, str]
) -> None:
    result = spawn(checkout, env, "-v", "T012", "--dry-run")
    assert result.exit_code == 0, stderr(result)
    assert stderr(result).startswith("DEBUG: speckit-pods ")


def test_unknown_flag_is_a_one_line_usage_error(checkout: Path, env: dict[str, str]) -> None:
    result = spawn(checkout, env, "T012", "--frobnicate")
    assert result.exit_code == 2
    assert stderr(result).splitlines() == ["ERROR: Unknown option '--frobnicate'. Use --help."]
    assert str(result) == ""


def test_missing_task_id_is_a_usage_error(checkout: Path, env: dict[str, str]) -> None:
    result = spawn(checkout, env, "--dry-run")
    assert result.exit_code == 2
    assert "task ID is required" in stderr(result)


def test_dry_run_prints_valid_manifests_without_a_cluster(
    checkout: Path, env: dict[str, str]
) -> None:
    result = spawn(checkout, env, "--task-id", "T012", "--dry-run")
    assert result.exit_code == 0, stderr(result)
    docs = list(yaml.safe_load_all(str(result)))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Pod"]  # in the order they are created
    for doc in docs:
        kubernetes_validate.validate(doc, "1.34.0", strict=True)
    configmap, pod = docs
    # the trusted side that clones and pushes
    git = next(c for c in pod["spec"]["initContainers"] if c["name"] == "git")
    env_vars = {e["name"]: e["value"] for e in git["env"]}
    assert env_vars["TASK_BRANCH"] == "specs/001-photo-albums/T012-async"
    assert env_vars["REPO_URL"] == "https://git.example.com/acme/photos.git"
    assert "ALLOW_INSECURE_HTTP" not in env_vars
    assert "SCRIPTED_LLM: write-file" in configmap["data"]["prompt.md"]


def test_positional_form_and_options(checkout: Path, env: dict[str, str], tmp_path: Path) -> None:
    feature = checkout / "specs" / "001-photo-albums"
    result = spawn(
        tmp_path,  # outside the checkout: the context dir locates tasks.md
        env,
        "T013",
        "specs/001-photo-albums/T013-async",
        "https://gitea.local/acme/photos.git",
        str(feature),
        "--dry-run",
        "--timeout",
        "90m",
        "--cleanup",
        "never",
        "--memory",
        "3Gi",
        "--model",
        "openai/gpt-4.1",
    )
    assert result.exit_code == 0, stderr(result)
    pod = next(d for d in yaml.safe_load_all(str(result)) if d["kind"] == "Pod")
    container = pod["spec"]["containers"][0]
    env_vars = {e["name"]: e["value"] for e in container["env"]}
    assert env_vars["TASK_ID"] == "T013" and env_vars["MODEL"] == "openai/gpt-4.1"
    assert env_vars["AGENT_DEADLINE_SECONDS"] == str(90 * 60 - 60)
    assert pod["spec"]["activeDeadlineSeconds"] == 90 * 60 + 60
    assert pod["metadata"]["annotations"]["speckit-pods.dev/cleanup"] == "never"
    assert container["resources"]["limits"]["memory"] == "3Gi"


def test_bad_repo_url_exits_26(checkout: Path, env: dict[str, str]) -> None:
    result = spawn(checkout, env, "T012", "--repo", "https://me:s3cret@git.example.com/x.git")
    assert result.exit_code == 26
    assert "credentials" in stderr(result) and "s3cret" not in stderr(result)


def test_unknown_task_exits_13_naming_the_nearest(checkout: Path, env: dict[str, str]) -> None:
    result = spawn(checkout, env, "T014", "--dry-run")
    assert result.exit_code == 13
    lines = stderr(result).splitlines()
    assert lines[0].startswith("ERROR: unknown task ID 'T014'")
    assert "T013" in lines[1] and lines[1].startswith("Hint:")


def test_no_kubeconfig_exits_20(checkout: Path, env: dict[str, str]) -> None:
    result = spawn(checkout, env, "T012")
    assert result.exit_code == 20
    assert str(result) == ""
    assert "kubeconfig" in stderr(result)


def test_conflicting_positional_and_flag_is_a_usage_error(
    checkout: Path, env: dict[str, str]
) -> None:
    result = spawn(checkout, env, "T012", "--task-id", "T013", "--dry-run")
    assert result.exit_code == 2
    assert "given twice" in stderr(result)


def test_runs_through_a_symlink_from_anywhere(
    checkout: Path, env: dict[str, str], tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "spawn-pod").symlink_to(SCRIPT)
    result = run_script(bin_dir / "spawn-pod", checkout, env, "T012", "--dry-run")
    # BASH_SOURCE is the symlink; common.sh must still find the checkout
    assert result.exit_code == 0, bytes(result.stderr).decode()


def test_missing_python_is_reported(checkout: Path, env: dict[str, str]) -> None:
    result = spawn(checkout, {**env, "SPECKIT_PODS_PYTHON": "no-such-python3"}, "T012")
    assert result.exit_code == 1
    assert "no-such-python3" in stderr(result) and "SPECKIT_PODS_PYTHON" in stderr(result)
