"""The three hosts' clients against recorded API answers on a loopback server.

The answers under data/review/ are shaped like the hosts' documented ones (trimmed);
each test checks what the client sent: method, path, query, auth header and JSON.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.errors import GitHostConfigError
from runtime.review.connect import _check_api_host, connect
from runtime.review.credentials import Credential
from runtime.review.gitea import Gitea
from runtime.review.github import GitHub
from runtime.review.gitlab import GitLab
from runtime.review.hosts import PullRequest
from runtime.review.remote import parse_remote
from tests.unit.fake_api_server import Answer, FakeApiServer, Request, serving

DATA = Path(__file__).parent / "data"
HEAD = "specs/001-demo/T012-async"
TOKEN = "tok-0123456789abcdef"
BASIC = "Basic " + base64.b64encode(b"dev:" + TOKEN.encode()).decode()


def recorded(name: str) -> Any:
    return json.loads((DATA / name).read_text())


class Routes:
    """Answers by ``(method, path)``: a recorded file and a status."""

    def __init__(self, routes: dict[tuple[str, str], tuple[int, str | object]]) -> None:
        self.routes = routes

    def __call__(self, request: Request) -> Answer:
        code, answer = self.routes.get((request.method, request.path), (599, {"message": "?"}))
        return Answer.json(code, recorded(answer) if isinstance(answer, str) else answer)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[FakeApiServer]:
    with serving(Routes(request.param)) as running:
        yield running


def only(server: FakeApiServer) -> Request:
    assert len(server.seen) == 1, server.seen
    return server.seen[0]


# -- GitHub -------------------------------------------------------------------------------

GH = "/repos/octo/app/pulls"


def github(server: FakeApiServer, credential: Credential | None = None) -> GitHub:
    remote = parse_remote("https://github.com/octo/app.git")
    return GitHub(server.url, remote, credential or Credential(TOKEN))


@pytest.mark.parametrize("server", [{("GET", GH): (200, "github_pulls.json")}], indirect=True)
def test_github_find_open(server: FakeApiServer) -> None:
    found = github(server).find_open(HEAD, "main")
    assert found == PullRequest(
        42,
        "https://github.com/octo/app/pull/42",
        "open",
        True,
        HEAD,
        "main",
        "T012: Add the parser",
    )
    sent = only(server)
    assert sent.query == {"head": f"octo:{HEAD}", "state": "open", "base": "main"}
    assert sent.header("Authorization") == f"Bearer {TOKEN}"
    assert sent.header("X-GitHub-Api-Version") == "2022-11-28"
    assert sent.header("User-Agent") == "speckit-pods"


@pytest.mark.parametrize("server", [{("GET", GH): (200, [])}], indirect=True)
def test_github_find_none(server: FakeApiServer) -> None:
    assert github(server).find_open(HEAD) is None
    assert "base" not in only(server).query


@pytest.mark.parametrize("server", [{("POST", GH): (201, "github_pull.json")}], indirect=True)
def test_github_create_draft(server: FakeApiServer) -> None:
    pull = github(server, Credential(TOKEN, "dev")).create("T012: Add", "body", HEAD, "main", True)
    assert pull.number == 42 and pull.draft
    sent = only(server)
    assert sent.body == {
        "title": "T012: Add",
        "body": "body",
        "head": HEAD,
        "base": "main",
        "draft": True,
    }
    assert sent.header("Authorization") == BASIC
    assert sent.header("Content-Type") == "application/json"


@pytest.mark.parametrize(
    "server", [{("PATCH", f"{GH}/42"): (200, "github_pull.json")}], indirect=True
)
def test_github_update(server: FakeApiServer) -> None:
    github(server).update(42, "[failed] T012: Add", "new", "specs/001-demo/T002-async", draft=True)
    assert only(server).body == {
        "title": "[failed] T012: Add",
        "body": "new",
        "base": "specs/001-demo/T002-async",
    }


# -- Gitea --------------------------------------------------------------------------------

GT = "/api/v1/repos/octo/app/pulls"


def gitea(server: FakeApiServer, credential: Credential | None = None) -> Gitea:
    remote = parse_remote("http://127.0.0.1/octo/app.git")
    return Gitea(server.url + "/api/v1", remote, credential or Credential(TOKEN))


@pytest.mark.parametrize("server", [{("GET", GT): (200, "gitea_pulls.json")}], indirect=True)
def test_gitea_find_open_skips_other_branches_and_forks(server: FakeApiServer) -> None:
    found = gitea(server).find_open(HEAD)
    assert found is not None and found.number == 7
    assert found.draft  # no draft field (Gitea < 1.22): the WIP: title says it
    sent = only(server)
    assert sent.query == {"state": "open", "page": "1", "limit": "50"}
    assert sent.header("Authorization") == f"token {TOKEN}"


def test_gitea_find_open_pages() -> None:
    mine = recorded("gitea_pull.json")
    other = {**mine, "head": {**mine["head"], "ref": "other"}}

    def answer(request: Request) -> Answer:
        page = int(request.query["page"])
        return Answer.json(200, [other] * 50 if page == 1 else [mine])

    with serving(answer) as running:
        found = gitea(running).find_open(HEAD, base="main")
        assert found is not None and found.number == 7
        assert [r.query["page"] for r in running.seen] == ["1", "2"]
        assert gitea(running).find_open(HEAD, base="develop") is None


@pytest.mark.parametrize("server", [{("POST", GT): (201, "gitea_pull.json")}], indirect=True)
def test_gitea_create_draft_is_a_wip_title(server: FakeApiServer) -> None:
    pull = gitea(server, Credential(TOKEN, "dev")).create("T012: Add", "b", HEAD, "main", True)
    assert pull.draft and pull.title.startswith("WIP: ")
    sent = only(server)
    assert sent.body == {"title": "WIP: T012: Add", "body": "b", "head": HEAD, "base": "main"}
    assert sent.header("Authorization") == BASIC


@pytest.mark.parametrize(
    "server", [{("PATCH", f"{GT}/7"): (200, "gitea_pull.json")}], indirect=True
)
def test_gitea_update_keeps_or_drops_the_marker(server: FakeApiServer) -> None:
    client = gitea(server)
    client.update(7, "WIP: [WIP] T012: Add", "b", "main", draft=True)
    client.update(7, "T012: Add", "b", "main", draft=False)
    assert [r.body["title"] for r in server.seen] == ["WIP: T012: Add", "T012: Add"]
    assert server.seen[0].body == {"title": "WIP: T012: Add", "body": "b", "base": "main"}


# -- GitLab -------------------------------------------------------------------------------

GL = "/api/v4/projects/group%2Fsub%2Fapp/merge_requests"


def gitlab(server: FakeApiServer, credential: Credential | None = None) -> GitLab:
    remote = parse_remote("git@gitlab.example.com:group/sub/app.git")
    return GitLab(server.url + "/api/v4", remote, credential or Credential(TOKEN))


@pytest.mark.parametrize("server", [{("GET", GL): (200, "gitlab_mrs.json")}], indirect=True)
def test_gitlab_find_open_in_a_subgroup(server: FakeApiServer) -> None:
    found = gitlab(server).find_open(HEAD, "main")
    assert found == PullRequest(
        5,
        "https://gitlab.example.com/group/sub/app/-/merge_requests/5",
        "open",
        False,
        HEAD,
        "main",
        "T012: Add the parser",
    )  # the fork's merge request of the same branch name is skipped
    sent = only(server)
    assert sent.query == {"source_branch": HEAD, "state": "opened", "target_branch": "main"}
    assert sent.header("PRIVATE-TOKEN") == TOKEN and sent.header("Authorization") is None


@pytest.mark.parametrize("server", [{("POST", GL): (201, "gitlab_mr.json")}], indirect=True)
def test_gitlab_create_draft(server: FakeApiServer) -> None:
    pull = gitlab(server, Credential(TOKEN, "dev")).create("T012: Add", "b", HEAD, "main", True)
    assert pull.number == 5 and pull.draft and pull.state == "open"
    sent = only(server)
    assert sent.body == {
        "title": "Draft: T012: Add",
        "description": "b",
        "source_branch": HEAD,
        "target_branch": "main",
    }
    assert sent.header("PRIVATE-TOKEN") == TOKEN  # a git credential's password, no basic auth


@pytest.mark.parametrize("server", [{("PUT", f"{GL}/5"): (200, "gitlab_mr.json")}], indirect=True)
def test_gitlab_update(server: FakeApiServer) -> None:
    gitlab(server, Credential(TOKEN, "oauth2")).update(5, "T012: Add", "b", "main", draft=True)
    sent = only(server)
    assert sent.body == {"title": "Draft: T012: Add", "description": "b", "target_branch": "main"}
    assert sent.header("Authorization") == f"Bearer {TOKEN}"


# -- connect ------------------------------------------------------------------------------


@pytest.mark.parametrize("server", [{("GET", GT): (200, [])}], indirect=True)
def test_connect_with_the_configured_host_api_and_token(server: FakeApiServer) -> None:
    env = {
        "SPECKIT_PODS_GIT_HOST": "gitea",
        "SPECKIT_PODS_GIT_API": server.url + "/api/v1",
        "SPECKIT_PODS_GIT_API_TOKEN": TOKEN,
    }
    client = connect("git@git.example.com:octo/app.git", env=env)
    assert client.kind == "gitea" and client.find_open(HEAD) is None
    assert only(server).header("Authorization") == f"token {TOKEN}"
    assert TOKEN not in repr(client.__dict__)


def test_git_credentials_are_never_sent_to_an_api_on_another_host() -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("git credential fill must not run")

    env = {"SPECKIT_PODS_GIT_HOST": "gitea", "SPECKIT_PODS_GIT_API": "https://evil.example/api/v1"}
    with pytest.raises(GitHostConfigError) as err:
        connect("https://git.example.com/octo/app.git", env=env, run=never)
    assert err.value.message == (
        "SPECKIT_PODS_GIT_API is on evil.example, not on the repository's host git.example.com: "
        "your git credentials for git.example.com are not sent there"
    )
    assert "SPECKIT_PODS_GIT_API_TOKEN" in err.value.hint


def test_github_coms_api_host_takes_github_coms_credentials() -> None:
    _check_api_host("https://api.github.com", parse_remote("https://github.com/o/r.git"), {})
