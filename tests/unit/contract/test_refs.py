"""The branch-name and repository-URL rules of the pod contract, held against git."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.contract.redact import redact_url, scrub
from runtime.contract.refs import branch_name_error, has_credentials, repo_url_error

BAD_BRANCHES = ["", "-x", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[b", "a\\b", "/a",
                "a/", "a//b", "a.", "a/.b", ".a", "a/b.", "a.lock", "a.lock/b", "a/b.lock/c",
                "a@{1}", "HEAD", "a\tb", "a\x7fb", "@", "a\x01b"]  # fmt: skip
GOOD_BRANCHES = ["main", "specs/001-photo-albums/T012-async", "a.b/c-d_e", "ä/ü", "x@y", "a/-b",
                 "{x}", "a;b", "v1.2"]  # fmt: skip


def git_accepts(name: str) -> bool:
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.mark.parametrize("name", BAD_BRANCHES)
def test_bad_branch_names_are_refused(name: str) -> None:
    assert branch_name_error(name) is not None


@pytest.mark.parametrize("name", GOOD_BRANCHES)
def test_good_branch_names_pass(name: str) -> None:
    assert branch_name_error(name) is None


@pytest.mark.parametrize("name", [n for n in BAD_BRANCHES + GOOD_BRANCHES if n != "@"])
def test_branch_rules_agree_with_git(name: str) -> None:
    assert (branch_name_error(name) is None) == git_accepts(name)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab./-_@{}~^:?*[\\ .lock", min_size=1, max_size=12))
def test_branch_rules_agree_with_git_on_random_names(name: str) -> None:
    if name == "@":  # git --branch expands @ to the current branch; we refuse it
        return
    assert (branch_name_error(name) is None) == git_accepts(name), name


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://github.com/acme/photos.git", None),
        ("git@github.com:acme/photos.git", None),
        ("https://user:ghp_abc@github.com/acme/photos.git", "credentials"),
        ("https://ghp_abc@github.com/acme/photos.git", "credentials"),
        ("ssh://git:pw@github.com/acme/photos.git", "credentials"),
        ("file:///srv/git/photos.git", "unsupported"),
        ("https:///acme/photos.git", "no host"),
        ("", "invalid"),
    ],
)
def test_repo_url_rule(url: str, why: str | None) -> None:
    error = repo_url_error(url)
    assert (error is None) if why is None else (error is not None and why in error)
    assert "ghp_abc" not in (error or "") and ":pw@" not in (error or "")


def test_ssh_user_is_not_a_credential() -> None:
    assert not has_credentials("git@github.com:acme/photos.git")
    assert not has_credentials("ssh://git@github.com/acme/photos.git")


def test_redact_url_hides_userinfo_only() -> None:
    assert redact_url("https://u:t@h/x") == "https://***@h/x"
    assert redact_url("HTTPS://t@h/x") == "HTTPS://***@h/x"
    assert redact_url("https://h/x@y") == "https://h/x@y"


def test_scrub_hides_secrets_but_not_short_words() -> None:
    assert scrub("token=s3cr3t-value-1 and x", ["s3cr3t-value-1", "x"]) == "token=*** and x"


def test_printable_drops_escapes_and_controls_but_keeps_text() -> None:
    from runtime.contract.redact import printable

    hostile = "ok\x1b[2J\x1b[H\x1b]0;pwned\x07 \x1b]52;c;ZXZpbA==\x07done\r\x08\x9b\u202eevil\ttab"
    assert printable(hostile) == "ok doneevil\ttab"
    assert printable("plain [T012] é ü 日本") == "plain [T012] é ü 日本"
