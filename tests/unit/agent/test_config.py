from __future__ import annotations

from pathlib import Path

import pytest

from runtime.agent.config import ConfigError, load
from runtime.contract.pod import DEFAULT_AUTHOR_EMAIL
from runtime.errors import InvalidInputError
from runtime.spawn.repo import check_branch
from tests.unit.contract.test_refs import BAD_BRANCHES, GOOD_BRANCHES

MINIMAL = {
    "TASK_ID": "T012",
    "TASK_TITLE": "Add the widget\nsecond line",
    "REPO_URL": "https://git.example.com/org/repo.git",
    "BASE_BRANCH": "main",
    "TASK_BRANCH": "speckit/001-feature/t012",
}


def test_minimal_env_uses_the_contract_defaults() -> None:
    cfg = load(MINIMAL)

    assert cfg.task_title == "Add the widget"
    assert cfg.task_dir == Path("/etc/speckit-pods/task")
    assert cfg.workspace == Path("/workspace")
    assert cfg.clone_dir == Path("/workspace/repo")
    assert cfg.credentials_dir == Path("/var/run/secrets/speckit-pods/git")
    assert cfg.author_email == DEFAULT_AUTHOR_EMAIL
    assert cfg.stall_s == 600
    assert cfg.setup_s == 600  # the setup script's limit
    assert cfg.deadline_s is None
    assert cfg.model == "" and cfg.requested_by == ""


def test_optional_values_are_read() -> None:
    env = {
        **MINIMAL,
        "MODEL": "anthropic/claude",
        "REQUESTED_BY": "Dev <dev@example.com>",
        "AGENT_DEADLINE_SECONDS": "3300",
        "AGENT_STALL_SECONDS": "90.5",
        "AGENT_SETUP_SECONDS": "1200",
        "GIT_AUTHOR_NAME": "Bot",
        "WORKSPACE": "/w",
    }
    cfg = load(env)

    assert (cfg.model, cfg.requested_by) == ("anthropic/claude", "Dev <dev@example.com>")
    assert (cfg.deadline_s, cfg.stall_s, cfg.setup_s) == (3300, 90.5, 1200)
    assert cfg.author_name == "Bot"
    assert cfg.clone_dir == Path("/w/repo")


def test_every_problem_is_listed_at_once() -> None:
    env = {"TASK_ID": "T1", "AGENT_STALL_SECONDS": "soon", "AGENT_DEADLINE_SECONDS": "-5"}
    env["AGENT_SETUP_SECONDS"] = "0"
    with pytest.raises(ConfigError) as err:
        load(env)

    message = str(err.value)
    for expected in (
        "TASK_TITLE", "REPO_URL", "BASE_BRANCH", "TASK_BRANCH", "'soon'", "'-5'",
        "AGENT_SETUP_SECONDS='0'",
    ):  # fmt: skip
        assert expected in message
    assert "TASK_ID" not in message


@pytest.mark.parametrize(
    "url", ["https://user:tok@git.example.com/r.git", "https://tok@git.example.com/r.git"]
)
def test_credentials_in_the_url_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="must not contain credentials"):
        load({**MINIMAL, "REPO_URL": url})


@pytest.mark.parametrize("url", ["git@github.com:org/repo.git", "ssh://git@host/org/repo.git"])
def test_ssh_urls_with_a_user_are_fine(url: str) -> None:
    assert load({**MINIMAL, "REPO_URL": url}).repo_url == url


@pytest.mark.parametrize("branch", [b for b in BAD_BRANCHES if b.strip()])
def test_the_agent_refuses_every_branch_the_host_refuses(branch: str) -> None:
    with pytest.raises(ConfigError, match="not a valid branch name"):
        load({**MINIMAL, "TASK_BRANCH": branch})
    with pytest.raises(InvalidInputError):
        check_branch(branch)


@pytest.mark.parametrize("branch", GOOD_BRANCHES)
def test_the_agent_accepts_every_branch_the_host_accepts(branch: str) -> None:
    assert load({**MINIMAL, "BASE_BRANCH": branch}).base_branch == branch
    assert check_branch(branch) == branch


def test_the_agent_side_needs_no_repository() -> None:
    from runtime.contract.pod import AGENT_REQUIRED

    cfg = load({"TASK_ID": "T1", "TASK_TITLE": "x", "HANDOFF_DIR": "/h"}, required=AGENT_REQUIRED)
    assert (cfg.repo_url, cfg.task_branch) == ("", "")
    assert str(cfg.handoff_dir) == "/h"
    with pytest.raises(ConfigError):
        load({"TASK_ID": "T1", "TASK_TITLE": "x"})  # the git side's requirements


def test_insecure_http_is_an_explicit_one() -> None:
    base = {"TASK_ID": "T1", "TASK_TITLE": "x", "REPO_URL": "http://h/r.git"}
    base |= {"BASE_BRANCH": "main", "TASK_BRANCH": "t"}
    assert not load(base).allow_insecure_http
    assert not load({**base, "ALLOW_INSECURE_HTTP": "true"}).allow_insecure_http
    assert load({**base, "ALLOW_INSECURE_HTTP": "1"}).allow_insecure_http
