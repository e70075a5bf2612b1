"""A spawn pins the pushed work of the done [ASYNC] tasks its task waits for."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runtime.contract.exit_codes import ExitCode
from runtime.contract.pod import Env
from runtime.contract.start import StartPoint, decode
from runtime.errors import InvalidInputError
from runtime.kube import labels
from runtime.spawn import create as spawn
from runtime.spawn.start import RemoteError, remote_commits
from tests.support.git_http import make_bare_repo
from tests.unit.fakes import feature_repo, git

BRANCH = "specs/001-photo-albums/T012-async"
URL = "https://git.example.com/acme/photos.git"


def via(bare: Path) -> Any:
    """Run ``git ls-remote`` for real, against ``bare`` instead of :data:`URL`."""

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert command[:3] == ["git", "ls-remote", "--"]  # the URL can never be an option
        assert command[3] == URL
        return subprocess.run([*command[:3], str(bare), *command[4:]], **kwargs, check=False)

    return run


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """The repository, with T012's branch pushed by its pod (one commit on main)."""
    bare = make_bare_repo(tmp_path, "photos", {"README.md": "# photos\n"})
    seed = tmp_path / "t012"
    git(tmp_path, "clone", "-q", str(bare), str(seed))
    (seed / "album.py").write_text("class Album: ...\n")
    git(seed, "checkout", "-q", "-b", BRANCH)
    git(seed, "add", "album.py")
    git(seed, "-c", "user.name=a", "-c", "user.email=a@x.invalid", "commit", "-q", "-m", "T012")
    git(seed, "push", "-q", "origin", BRANCH)
    return bare


@pytest.fixture
def checkout(tmp_path: Path, remote: Path) -> Path:
    feature = feature_repo(tmp_path / "dev", origin=URL)
    tasks = feature / "tasks.md"
    tasks.write_text(tasks.read_text().replace("- [ ] T012", "- [X] T012"))
    return tmp_path / "dev"


def _opts(**changes: Any) -> spawn.SpawnOptions:
    return dataclasses.replace(spawn.SpawnOptions(task_id="T013"), **changes)


def _env(pod: dict[str, Any], container: str) -> dict[str, str]:
    every = [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]
    found = next(c for c in every if c["name"] == container)
    return {e["name"]: e["value"] for e in found.get("env", [])}


def test_a_dependent_task_pins_its_prerequisites_commit(checkout: Path, remote: Path) -> None:
    commit = git(remote, "rev-parse", BRANCH)

    plan = spawn.plan(_opts(), cwd=checkout, env={}, git=via(remote))

    point = StartPoint("T012", BRANCH, commit)
    assert plan.spec.start_points == (point,)
    pod = plan.pod
    assert decode(pod["metadata"]["annotations"][labels.STARTED_FROM]) == (point,)
    assert decode(_env(pod, "git")[Env.START_POINTS]) == (point,)
    assert Env.START_POINTS not in _env(pod, "agent")  # the trusted side merges
    assert json.loads(_env(pod, "git")[Env.START_POINTS]) == [
        {"task": "T012", "branch": BRANCH, "commit": commit}
    ]


def test_a_task_without_done_async_prerequisites_starts_from_the_base(
    checkout: Path, remote: Path
) -> None:
    def no_git(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no prerequisite: no ls-remote")

    plan = spawn.plan(_opts(task_id="T012"), cwd=checkout, env={}, git=no_git)

    assert plan.spec.start_points == ()
    assert labels.STARTED_FROM not in plan.pod["metadata"]["annotations"]
    assert Env.START_POINTS not in _env(plan.pod, "git")


def test_start_from_base_reads_no_remote(checkout: Path) -> None:
    def no_git(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("--start-from-base: no ls-remote")

    plan = spawn.plan(_opts(start_from_base=True), cwd=checkout, env={}, git=no_git)

    assert plan.spec.start_points == ()


def test_a_done_prerequisite_without_a_branch_is_a_warning_naming_the_way_out(
    checkout: Path, remote: Path, caplog: pytest.LogCaptureFixture
) -> None:
    git(remote, "update-ref", "-d", f"refs/heads/{BRANCH}")
    caplog.set_level(logging.INFO)

    plan = spawn.plan(_opts(), cwd=checkout, env={}, git=via(remote))

    assert plan.spec.start_points == ()
    (record,) = [r for r in caplog.records if "is not on the remote" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"T012 is done but its branch {BRANCH} is not on")
    assert "(if it was deleted unmerged, rerun T012 first)" in record.getMessage()


def test_a_pending_prerequisite_is_warned_about(
    checkout: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tasks = checkout / "specs" / "001-photo-albums" / "tasks.md"
    tasks.write_text(tasks.read_text().replace("- [X] T012", "- [ ] T012"))

    plan = spawn.plan(_opts(), cwd=checkout, env={}, git=via(checkout / "nowhere"))

    assert plan.spec.start_points == ()
    assert "T013 waits for T012, which is not done: starting without its work" in caplog.text


def test_an_unreadable_remote_is_an_error_with_a_hint(checkout: Path, tmp_path: Path) -> None:
    with pytest.raises(RemoteError) as err:
        spawn.plan(_opts(), cwd=checkout, env={}, git=via(tmp_path / "gone.git"))

    assert err.value.exit_code == ExitCode.REPO_NOT_FOUND
    assert err.value.message.startswith("cannot read the prerequisites' branches: fatal:")
    assert "--start-from-base" in err.value.hint


def test_refused_credentials_exit_as_git_auth_failed() -> None:
    def refused(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert command[:3] == ["git", "ls-remote", "--"]  # the URL can never be an option
        assert kwargs["env"]["GIT_TERMINAL_PROMPT"] == "0"
        stderr = "fatal: Authentication failed for 'https://h/r.git/'\n"
        return subprocess.CompletedProcess(command, 128, "", stderr)

    with pytest.raises(RemoteError) as err:
        remote_commits("https://h/r.git", ["b"], refused)

    assert err.value.exit_code == ExitCode.GIT_AUTH_FAILED


def test_remote_commits_reads_only_the_branches_asked_for() -> None:
    out = f"{'a' * 40}\trefs/heads/x\n{'b' * 40}\trefs/heads/y/z\n"

    def listed(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert command[4:] == ["refs/heads/x", "refs/heads/y/z"]
        return subprocess.CompletedProcess(command, 0, out, "")

    assert remote_commits("https://h/r.git", ["x", "y/z"], listed) == {
        "x": "a" * 40,
        "y/z": "b" * 40,
    }
    assert remote_commits("https://h/r.git", [], listed) == {}


# --- the integration pod ----------------------------------------------------------------


def test_the_integration_pod_merges_the_done_tasks_and_tests_in_the_agent_container(
    checkout: Path, remote: Path
) -> None:
    commit = git(remote, "rev-parse", BRANCH)

    plan = spawn.plan_integration(
        _opts(), test_command="pytest -q", cwd=checkout, env={}, git=via(remote)
    )

    assert plan is not None
    spec = plan.spec
    assert spec.branch == "specs/001-photo-albums/integration"
    assert spec.start_points == (StartPoint("T012", BRANCH, commit),)
    assert spec.task_id == "integration" and spec.name.startswith("sp-001-photo-albums-integ")
    git_env, agent_env = _env(plan.pod, "git"), _env(plan.pod, "agent")
    assert git_env[Env.INTEGRATE] == "1" and agent_env[Env.INTEGRATE] == "1"
    assert agent_env[Env.TEST_COMMAND] == "pytest -q"
    assert Env.TEST_COMMAND not in git_env  # the repository's code never runs in `git`


def test_nothing_to_integrate_without_a_pushed_done_task(checkout: Path, remote: Path) -> None:
    git(remote, "update-ref", "-d", f"refs/heads/{BRANCH}")

    assert spawn.plan_integration(_opts(), cwd=checkout, env={}, git=via(remote)) is None


def test_the_integration_never_writes_the_base_branch(checkout: Path, remote: Path) -> None:
    with pytest.raises(InvalidInputError, match="is the base branch"):
        spawn.plan_integration(
            _opts(base="main"), branch="main", cwd=checkout, env={}, git=via(remote)
        )
