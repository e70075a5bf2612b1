from __future__ import annotations

from pathlib import Path

import pytest

from runtime.errors import InvalidInputError
from runtime.spawn import repo
from tests.unit.contract.test_refs import BAD_BRANCHES, GOOD_BRANCHES
from tests.unit.fakes import feature_repo, git


@pytest.mark.parametrize("name", BAD_BRANCHES)
def test_bad_branch_names(name: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid branch name"):
        repo.check_branch(name)


@pytest.mark.parametrize("name", GOOD_BRANCHES)
def test_good_branch_names(name: str) -> None:
    assert repo.check_branch(name) == name


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/photos.git",
        "http://gitea.gitea.svc:3000/acme/photos.git",
        "ssh://git@github.com:22/acme/photos.git",
        "git://example.com/photos.git",
        "git@github.com:acme/photos.git",
        "github.com:acme/photos.git",
    ],
)
def test_cloneable_urls_pass(url: str) -> None:
    assert repo.check_repo_url(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user:ghp_abc@github.com/acme/photos.git", "credentials"),
        ("https://ghp_abc@github.com/acme/photos.git", "credentials"),
        ("ssh://git:pw@github.com/acme/photos.git", "credentials"),
        ("/srv/git/photos.git", "unsupported"),
        ("./photos", "unsupported"),
        ("file:///srv/git/photos.git", "unsupported"),
        ("ftp://example.com/photos.git", "unsupported"),
        ("https:///acme/photos.git", "no host"),
        ("https://github.com/acme/photos.git\n", "invalid"),
        ("", "invalid"),
    ],
)
def test_unusable_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        repo.check_repo_url(url)
    assert why in info.value.message
    assert "ghp_abc" not in info.value.message and "pw" not in info.value.message


def test_local_git_queries(tmp_path: Path) -> None:
    root = tmp_path / "r"
    feature = feature_repo(root)
    assert repo.origin_url(feature) == "https://git.example.com/acme/photos.git"
    assert repo.current_branch(feature) == "001-photo-albums"
    assert repo.user_ident(feature) == "Ada Lovelace <ada@example.com>"
    git(root, "commit", "-q", "--allow-empty", "-m", "x")
    git(root, "checkout", "-q", "--detach")
    assert repo.current_branch(feature) is None


def test_local_git_queries_outside_a_repo(tmp_path: Path) -> None:
    assert repo.origin_url(tmp_path) is None
    assert repo.current_branch(tmp_path) is None
