"""The e2e git server works: real git over HTTP with token auth, and its API read-backs.

Cheap (about 10 s): it needs only the image from hack/bootstrap/gitea.sh and a docker
daemon, not the kind cluster. It uses its own throwaway docker network.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from tests.e2e.gitea import GitAuth, GiteaError, GiteaServer, git, gitea_server

pytestmark = pytest.mark.e2e

FILES = {"README.md": "# demo\n", "src/app.py": "print('hello')\n"}


@pytest.fixture(scope="module")
def network() -> Iterator[str]:
    name = f"gitea-smoke-{uuid4().hex[:8]}"
    subprocess.run(["docker", "network", "create", name], check=True, capture_output=True)
    yield name
    subprocess.run(["docker", "network", "rm", name], check=False, capture_output=True)


@pytest.fixture(scope="module")
def gitea(network: str) -> Iterator[GiteaServer]:
    with gitea_server(network) as server:
        yield server


@pytest.fixture
def repo(gitea: GiteaServer) -> str:
    name = f"demo-{uuid4().hex[:8]}"
    gitea.create_repo(name, FILES)
    return name


def test_create_repo_is_readable_through_the_api(gitea: GiteaServer) -> None:
    name = f"demo-{uuid4().hex[:8]}"
    sha = gitea.create_repo(name, FILES, default_branch="trunk")
    assert gitea.branch_commit(name, "trunk") == sha
    assert gitea.list_branches(name) == ["trunk"]
    assert gitea.read_file(name, "trunk", "src/app.py") == FILES["src/app.py"]
    assert gitea.read_file(name, "trunk", "missing.txt") is None
    assert gitea.branch_commit(name, "nope") is None
    assert gitea.api("GET", f"/repos/{gitea.owner}/{name}")["default_branch"] == "trunk"


def test_clone_and_push_a_branch_over_http(gitea: GiteaServer, repo: str, tmp_path: Path) -> None:
    git(["clone", "-q", gitea.clone_url(repo), "work"], tmp_path, gitea.auth)
    work = tmp_path / "work"
    assert (work / "README.md").read_text() == FILES["README.md"]
    assert (work / "src" / "app.py").read_text() == FILES["src/app.py"]
    git(["checkout", "-q", "-b", "speckit/T001-demo"], work)
    (work / "NOTES.md").write_text("done\n")
    git(["add", "NOTES.md"], work)
    git(["-c", "user.name=t", "-c", "user.email=t@x.invalid", "commit", "-q", "-m", "T001"], work)
    git(["push", "-q", "origin", "speckit/T001-demo"], work, gitea.auth)
    local_sha = git(["rev-parse", "HEAD"], work).strip()

    assert gitea.branch_commit(repo, "speckit/T001-demo") == local_sha
    assert gitea.read_file(repo, "speckit/T001-demo", "NOTES.md") == "done\n"
    assert gitea.read_file(repo, "main", "NOTES.md") is None
    assert gitea.list_branches(repo) == ["main", "speckit/T001-demo"]


def test_a_wrong_or_missing_token_is_refused(gitea: GiteaServer, repo: str, tmp_path: Path) -> None:
    wrong = GitAuth(gitea.owner, "0" * 40)
    with pytest.raises(GiteaError, match=r"Authentication failed|could not read Username"):
        git(["clone", "-q", gitea.clone_url(repo), "work"], tmp_path, wrong)
    with pytest.raises(GiteaError, match=r"terminal prompts disabled|could not read Username"):
        git(["ls-remote", gitea.clone_url(repo)], tmp_path, auth=None)
    path = f"/api/v1/repos/{gitea.owner}/{repo}"
    assert gitea.request("GET", path, token=wrong.token)[0] == 401
    assert gitea.request("GET", path, token="")[0] == 404  # private: hidden from anonymous
    assert gitea.request("GET", path)[0] == 200


def test_cluster_url_serves_git_to_containers_on_the_network(
    gitea: GiteaServer, network: str, repo: str
) -> None:
    env = {**os.environ, **gitea.auth.env()}
    pass_env = [arg for key in gitea.auth.env() for arg in ("-e", key)]  # values from env
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", network, *pass_env, "--entrypoint", "git",
         gitea.image, "ls-remote", gitea.clone_url(repo, cluster=True), "refs/heads/main"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [gitea.branch_commit(repo, "main"), "refs/heads/main"]
