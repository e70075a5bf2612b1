"""The remote URL to the host's kind, repository path and API (runtime.review.remote)."""

from __future__ import annotations

import pytest

from runtime.contract.exit_codes import ExitCode
from runtime.errors import GitHostConfigError
from runtime.review.remote import Remote, api_base, host_kind, parse_remote


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "path"),
    [
        ("https://github.com/octo/app.git", "https", "github.com", None, "octo/app"),
        ("https://github.com/octo/app", "https", "github.com", None, "octo/app"),
        ("https://github.com/octo/app/", "https", "github.com", None, "octo/app"),
        ("git@github.com:octo/app.git", "https", "github.com", None, "octo/app"),
        ("ssh://git@github.com/octo/app.git", "https", "github.com", None, "octo/app"),
        ("ssh://git@ssh.github.com:443/octo/app.git", "https", "ssh.github.com", None, "octo/app"),
        ("https://Git.Example.com:3000/octo/app.git", "https", "git.example.com", 3000, "octo/app"),
        ("http://127.0.0.1:3000/octo/app.git", "http", "127.0.0.1", 3000, "octo/app"),
        ("ssh://git@git.example.com:2222/o/app.git", "https", "git.example.com", None, "o/app"),
        ("git@gitlab.com:group/sub/app.git", "https", "gitlab.com", None, "group/sub/app"),
        ("https://gitlab.com/g/sub/deeper/app", "https", "gitlab.com", None, "g/sub/deeper/app"),
        ("https://user@github.com/octo/app.git", "https", "github.com", None, "octo/app"),
    ],
)
def test_parse_remote(url: str, scheme: str, host: str, port: int | None, path: str) -> None:
    remote = parse_remote(url)
    assert (remote.scheme, remote.host, remote.port, remote.path) == (scheme, host, port, path)


def test_the_credential_path_is_the_urls() -> None:
    assert parse_remote("https://h.example/octo/app.git").url_path == "octo/app.git"
    assert parse_remote("git@h.example:octo/app.git").url_path == "octo/app.git"


def test_owner_repo_is_the_last_two_components() -> None:
    assert parse_remote("https://h.example/git/octo/app.git").owner_repo == ("octo", "app")


@pytest.mark.parametrize(
    "url",
    [
        "/srv/git/app.git",
        "file:///srv/git/app.git",
        "https://github.com/",
        "https://github.com/octo",
        "https://github.com/octo/../app",
        "git@github.com:app.git",
        "ftp://github.com/octo/app",
        "https://github.com:99999/octo/app",
    ],
)
def test_not_a_hosted_repository(url: str) -> None:
    with pytest.raises(GitHostConfigError) as caught:
        parse_remote(url)
    assert caught.value.exit_code == ExitCode.INVALID_INPUT


def test_no_password_in_the_error() -> None:
    with pytest.raises(GitHostConfigError) as caught:
        parse_remote("https://dev:hunter2-secret@github.com/")
    assert "hunter2" not in caught.value.message


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://github.com/octo/app", "github"),
        ("git@ssh.github.com:octo/app.git", "github"),
        ("https://gitlab.com/group/app", "gitlab"),
        ("https://gitlab.example.com/group/app", "gitlab"),
        ("git@mygitlab.corp:group/app.git", "gitlab"),
        ("https://gitea.example.com/octo/app", "gitea"),
        ("https://codeberg.org/octo/app", "gitea"),
    ],
)
def test_host_kind_from_the_name(url: str, kind: str) -> None:
    assert host_kind(parse_remote(url), {}) == kind


def test_an_unknown_host_says_how_to_configure_it() -> None:
    with pytest.raises(GitHostConfigError) as caught:
        host_kind(parse_remote("https://git.example.com/octo/app"), {})
    assert "git.example.com" in caught.value.message
    assert "SPECKIT_PODS_GIT_HOST=gitea|github|gitlab" in caught.value.hint
    assert caught.value.exit_code == ExitCode.INVALID_INPUT


def test_the_configured_kind_wins() -> None:
    remote = parse_remote("https://gitlab.example.com/octo/app")
    assert host_kind(remote, {"SPECKIT_PODS_GIT_HOST": " Gitea "}) == "gitea"
    with pytest.raises(GitHostConfigError, match="bitbucket"):
        host_kind(remote, {"SPECKIT_PODS_GIT_HOST": "bitbucket"})


@pytest.mark.parametrize(
    ("url", "kind", "api"),
    [
        ("https://github.com/octo/app", "github", "https://api.github.com"),
        ("git@github.com:octo/app.git", "github", "https://api.github.com"),
        ("https://ghe.corp/octo/app", "github", "https://ghe.corp/api/v3"),
        ("git@gitlab.com:g/s/app.git", "gitlab", "https://gitlab.com/api/v4"),
        ("https://git.example.com:3000/o/app", "gitea", "https://git.example.com:3000/api/v1"),
        ("ssh://git@git.example.com:2222/o/app", "gitea", "https://git.example.com/api/v1"),
        ("http://127.0.0.1:3000/o/app.git", "gitea", "http://127.0.0.1:3000/api/v1"),
    ],
)
def test_api_base(url: str, kind: str, api: str) -> None:
    assert api_base(kind, parse_remote(url), {}) == api


def test_api_base_configured() -> None:
    remote = Remote("https", "h.example", None, "o/r", "o/r.git")
    env = {"SPECKIT_PODS_GIT_API": "https://h.example/gitea/api/v1/"}
    assert api_base("gitea", remote, env) == "https://h.example/gitea/api/v1"
    for bad in ("h.example/api", "ftp://h.example", "https://tok:x@h.example/api/v1"):
        with pytest.raises(GitHostConfigError) as caught:
            api_base("gitea", remote, {"SPECKIT_PODS_GIT_API": bad})
        assert "tok:x" not in caught.value.message
