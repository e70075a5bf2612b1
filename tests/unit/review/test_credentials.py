"""The API token: the environment's, else ``git credential fill`` (runtime.review.credentials)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.contract.exit_codes import ExitCode
from runtime.errors import ReviewError
from runtime.review import credentials
from runtime.review.credentials import Credential, credential, fill
from runtime.review.remote import parse_remote

REMOTE = parse_remote("https://git.example.com:3000/octo/app.git")
FAKE_GIT = """#!{python}
import json, os, sys
request = sys.stdin.read()
with open(os.environ["FAKE_GIT_LOG"], "w") as log:
    json.dump({{"argv": sys.argv[1:], "stdin": request, "env": dict(os.environ)}}, log)
sys.stdout.write(os.environ.get("FAKE_GIT_OUT", ""))
sys.stderr.write(os.environ.get("FAKE_GIT_ERR", ""))
sys.exit(int(os.environ.get("FAKE_GIT_RC", "0")))
"""


@pytest.fixture
def fake_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fake ``git`` first on PATH, run by the real subprocess.run (the guard allows it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = bin_dir / "git"
    git.write_text(FAKE_GIT.format(python=sys.executable))
    git.chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_GIT_LOG": str(tmp_path / "git.json"),
        "HOME": str(tmp_path),
        "GIT_ASKPASS": "/usr/bin/some-gui-askpass",
    }


def _seen(env: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(env["FAKE_GIT_LOG"]).read_text())
    return data


def test_the_environments_token_wins(fake_git: dict[str, str]) -> None:
    env = {**fake_git, "SPECKIT_PODS_GIT_API_TOKEN": " tok-123456789 "}
    assert credential(REMOTE, env) == Credential("tok-123456789")
    assert credential(REMOTE, env).from_env
    assert not Path(fake_git["FAKE_GIT_LOG"]).exists()  # git was not asked


def test_git_credential_fill(fake_git: dict[str, str], tmp_path: Path) -> None:
    env = {**fake_git, "FAKE_GIT_OUT": "protocol=https\nhost=x\nusername=dev\npassword=pw=1\n"}
    found = credential(REMOTE, env, cwd=tmp_path)
    assert found == Credential("pw=1", "dev") and not found.from_env
    seen = _seen(env)
    assert seen["argv"] == ["credential", "fill"]
    assert seen["stdin"] == "protocol=https\nhost=git.example.com:3000\npath=octo/app.git\n\n"
    assert seen["env"]["GIT_TERMINAL_PROMPT"] == "0"
    assert seen["env"]["GIT_ASKPASS"] == "" and seen["env"]["SSH_ASKPASS"] == ""


def test_an_ssh_remote_asks_for_the_https_host(fake_git: dict[str, str]) -> None:
    env = {**fake_git, "FAKE_GIT_OUT": "username=dev\npassword=pw\n"}
    fill(parse_remote("ssh://git@git.example.com:2222/octo/app.git"), env)
    assert _seen(env)["stdin"].startswith("protocol=https\nhost=git.example.com\n")


def test_the_secret_is_not_in_the_repr() -> None:
    assert "s3cret" not in repr(Credential("s3cret-token", "dev"))


@pytest.mark.parametrize(
    ("out", "err", "rc", "said"),
    [
        (
            "",
            "fatal: could not read Username for 'https://x': terminal prompts disabled\n",
            128,
            "could not read Username",
        ),
        ("username=dev\n", "", 0, "no credential"),
    ],
)
def test_no_credential(fake_git: dict[str, str], out: str, err: str, rc: int, said: str) -> None:
    env = {**fake_git, "FAKE_GIT_OUT": out, "FAKE_GIT_ERR": err, "FAKE_GIT_RC": str(rc)}
    with pytest.raises(ReviewError) as caught:
        fill(REMOTE, env)
    assert said in caught.value.message and "git.example.com:3000" in caught.value.message
    assert "SPECKIT_PODS_GIT_API_TOKEN" in caught.value.hint
    assert caught.value.exit_code == ExitCode.GIT_AUTH_FAILED


def test_git_missing_or_hanging() -> None:
    def missing(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError("git")

    def hanging(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert kwargs["timeout"] == credentials.FILL_TIMEOUT_S
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    with pytest.raises(ReviewError, match="git credential fill .* failed: .*git"):
        fill(REMOTE, {}, run=missing)
    with pytest.raises(ReviewError, match="timed out"):
        fill(REMOTE, {}, run=hanging)


def test_the_guard_keeps_the_real_git_away() -> None:
    with pytest.raises(AssertionError, match="credentials"):
        fill(REMOTE, {"PATH": os.environ["PATH"]})


@pytest.mark.parametrize("secret", ["tok\r\nX-Evil: 1", "tok en", "tok\x00"])
def test_a_token_that_could_forge_a_header_is_refused_unquoted(secret: str) -> None:
    with pytest.raises(ReviewError) as caught:
        credential(REMOTE, {"SPECKIT_PODS_GIT_API_TOKEN": secret})
    assert (
        secret not in caught.value.message + caught.value.hint
        and "Evil" not in caught.value.message
    )
