from __future__ import annotations

import os
import shlex
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from runtime.agent import credentials
from runtime.agent.config import AgentConfig

TOKEN = "ghp_exampletoken1234567890"


def config(tmp_path: Path, url: str, insecure: bool = False) -> AgentConfig:
    return AgentConfig(
        task_id="T1",
        task_title="x",
        repo_url=url,
        base_branch="main",
        task_branch="t",
        credentials_dir=tmp_path / "creds",
        home=tmp_path / "home",
        allow_insecure_http=insecure,
    )


def fill(env: dict[str, str], url: str, *, check: bool = True) -> str:
    parts = urllib.parse.urlsplit(url)
    request = f"protocol={parts.scheme}\nhost={parts.netloc}\npath={parts.path[1:]}\n\n"
    proc = subprocess.run(
        ["git", "credential", "fill"],
        input=request,
        env={"PATH": os.environ["PATH"], "GIT_ASKPASS": "/bin/false", **env},
        capture_output=True,
        text=True,
        check=check,
    )
    return proc.stdout


def test_helper_reads_the_token_file_at_call_time(tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "token").write_text("first-token-value\n")
    env = credentials.setup(config(tmp_path, "https://git.example.com/org/repo.git"))
    (tmp_path / "creds" / "token").write_text(TOKEN + "\n")  # rotated after setup

    out = fill(env, "https://git.example.com/org/repo.git")

    assert f"password={TOKEN}\n" in out
    assert "username=x-access-token\n" in out
    gitconfig = Path(env["GIT_CONFIG_GLOBAL"]).read_text()
    assert TOKEN not in gitconfig and "first-token-value" not in gitconfig
    assert env["GIT_TERMINAL_PROMPT"] == "0"


def test_helper_uses_the_username_key(tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "token").write_text(TOKEN)
    (tmp_path / "creds" / "username").write_text("oauth2\n")
    env = credentials.setup(config(tmp_path, "https://git.example.com/org/repo.git"))

    assert "username=oauth2\n" in fill(env, "https://git.example.com/org/repo.git")


def test_no_token_means_no_helper(tmp_path: Path) -> None:
    env = credentials.setup(config(tmp_path, "https://git.example.com/org/repo.git"))

    assert "credential" not in Path(env["GIT_CONFIG_GLOBAL"]).read_text()


def test_paths_with_spaces_are_quoted(tmp_path: Path) -> None:
    creds = tmp_path / "my creds"
    creds.mkdir()
    (creds / "token").write_text(TOKEN)
    cfg = config(tmp_path, "https://git.example.com/org/repo.git")
    env = credentials.setup(AgentConfig(**{**cfg.__dict__, "credentials_dir": creds}))

    assert f"password={TOKEN}\n" in fill(env, "https://git.example.com/org/repo.git")


def test_ssh_key_is_copied_private_with_accept_new(tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "ssh-privatekey").write_text("KEY\n")
    env = credentials.setup(config(tmp_path, "git@git.example.com:org/repo.git"))

    argv = shlex.split(env["GIT_SSH_COMMAND"])
    key = Path(argv[argv.index("-i") + 1])
    assert key.read_text() == "KEY\n"
    assert key.stat().st_mode & 0o777 == 0o600
    assert "StrictHostKeyChecking=accept-new" in argv
    assert "BatchMode=yes" in argv
    assert "credential" not in Path(env["GIT_CONFIG_GLOBAL"]).read_text()


def test_ssh_known_hosts_from_the_secret_is_strict(tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "ssh-privatekey").write_text("KEY\n")
    (tmp_path / "creds" / "known_hosts").write_text("host ssh-ed25519 AAAA\n")
    env = credentials.setup(config(tmp_path, "ssh://git@git.example.com/org/repo.git"))

    argv = shlex.split(env["GIT_SSH_COMMAND"])
    assert "StrictHostKeyChecking=yes" in argv
    assert f"UserKnownHostsFile={tmp_path / 'creds' / 'known_hosts'}" in argv


@pytest.mark.parametrize(
    ("url", "ssh"),
    [
        ("git@github.com:org/repo.git", True),
        ("ssh://git@host:22/org/repo.git", True),
        ("https://host/org/repo.git", False),
        ("file:///srv/repo.git", False),
        ("/srv/repo.git", False),
    ],
)
def test_is_ssh_url(url: str, ssh: bool) -> None:
    assert credentials.is_ssh_url(url) is ssh


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://evil.example.com/org/repo.git",
        "http://git.example.com/org/repo.git",  # same host, cleartext
        "https://git.example.com:8443/org/repo.git",  # same host, other port
        "https://git.example.com.evil.io/org/repo.git",
    ],
)
def test_the_helper_answers_for_the_spawn_urls_host_only(tmp_path: Path, elsewhere: str) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "token").write_text(TOKEN)
    env = credentials.setup(config(tmp_path, "https://git.example.com/org/repo.git"))

    assert f"password={TOKEN}" in fill(env, "https://git.example.com/other/repo.git")
    assert TOKEN not in fill(env, elsewhere, check=False)
    gitconfig = Path(env["GIT_CONFIG_GLOBAL"]).read_text()
    assert '[credential "https://git.example.com"]' in gitconfig
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"


def test_cleartext_http_gets_the_token_only_when_allowed(tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "token").write_text(TOKEN)
    url = "http://gitea:3000/org/repo.git"
    warnings: list[str] = []

    env = credentials.setup(config(tmp_path, url), warn=warnings.append)
    assert TOKEN not in fill(env, url, check=False)
    assert warnings and "--allow-insecure-http" in warnings[0]

    env = credentials.setup(config(tmp_path, url, insecure=True))
    assert f"password={TOKEN}" in fill(env, url)
