"""The HTTP helper's failures: one line each, never the token (runtime.review.http)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from runtime.contract.exit_codes import ExitCode
from runtime.errors import ReviewError
from runtime.review import http
from runtime.review.credentials import Credential
from runtime.review.gitea import Gitea
from runtime.review.github import GitHub
from runtime.review.gitlab import GitLab
from runtime.review.remote import parse_remote
from tests.unit.fake_api_server import Answer, serving

DATA = Path(__file__).parent / "data"
TOKEN = "tok-0123456789abcdef"
HEAD = "specs/001-demo/T012-async"


def recorded(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def _fails(answer: Answer, client: str = "github") -> ReviewError:
    with serving(lambda _request: answer) as server:
        host: Any
        if client == "github":
            host = GitHub(server.url, parse_remote("https://github.com/o/r"), Credential(TOKEN))
        elif client == "gitea":
            host = Gitea(server.url, parse_remote("https://h.example/o/r"), Credential(TOKEN))
        else:
            host = GitLab(server.url, parse_remote("https://h.example/g/r"), Credential(TOKEN))
        with pytest.raises(ReviewError) as caught:
            host.create("T012: x", "body", HEAD, "main", True)
        assert len(server.seen) == 1
    error = caught.value
    assert TOKEN not in error.message + error.hint
    assert "\n" not in error.message
    return error


@pytest.mark.parametrize(
    ("client", "code", "name", "said", "exit_code"),
    [
        ("github", 401, "github_401.json", "Bad credentials", ExitCode.GIT_AUTH_FAILED),
        ("github", 403, "github_403.json", "not accessible", ExitCode.GIT_AUTH_FAILED),
        ("github", 404, "github_404.json", "Not Found", ExitCode.REPO_NOT_FOUND),
        (
            "github",
            422,
            "github_422_exists.json",
            "Validation Failed: A pull request already",
            ExitCode.FAILED,
        ),
        ("gitea", 404, "gitea_404.json", "couldn't be found", ExitCode.REPO_NOT_FOUND),
        ("gitea", 409, "gitea_409_exists.json", "already exists", ExitCode.FAILED),
        ("gitea", 422, "gitea_422.json", "no changes", ExitCode.FAILED),
        ("gitlab", 401, "gitlab_401.json", "401 Unauthorized", ExitCode.GIT_AUTH_FAILED),
        ("gitlab", 404, "gitlab_404.json", "Project Not Found", ExitCode.REPO_NOT_FOUND),
        ("gitlab", 409, "gitlab_409_exists.json", "Another open merge request", ExitCode.FAILED),
    ],
)
def test_status_errors(client: str, code: int, name: str, said: str, exit_code: ExitCode) -> None:
    error = _fails(Answer.json(code, recorded(name)), client)
    assert "POST " in error.message and f"HTTP {code}: " in error.message
    assert said in error.message
    assert error.hint and error.status == code and error.exit_code == exit_code


def test_a_server_error_without_json() -> None:
    error = _fails(Answer(502, b"<html>Bad Gateway</html>", "text/html"))
    assert error.message.endswith("HTTP 502") and "later" in error.hint


def test_the_apis_message_is_one_printable_line_without_the_token() -> None:
    message = f"denied\x1b[2J for {TOKEN}\nSecond line \u202eevil"
    error = _fails(Answer.json(403, {"message": message}))
    assert "\x1b" not in error.message and "\u202e" not in error.message
    assert "denied for *** Second line evil" in error.message


def test_a_redirect_is_not_followed() -> None:
    answer = Answer(301, b"", headers=(("Location", "https://evil.example/steal?x=1"),))
    error = _fails(answer)
    assert "redirect (301) to https://evil.example/steal; not followed" in error.message


def test_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = http.Api(f"http://127.0.0.1:{port}", {"Authorization": f"token {TOKEN}"})
    with pytest.raises(ReviewError) as caught:
        api.call("GET", "/repos/o/r/pulls")
    assert f"the API at http://127.0.0.1:{port} is unreachable" in caught.value.message
    assert TOKEN not in caught.value.message and TOKEN not in repr(api)


def test_the_timeout_is_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []

    def slow(request: Any, timeout: float) -> Any:
        seen.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(http, "OPEN", slow)
    with pytest.raises(ReviewError, match="unreachable: timed out"):
        http.Api("http://127.0.0.1:1", {}).call("GET", "/x")
    assert seen == [http.TIMEOUT_S]


def test_not_json_and_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(lambda _r: Answer(200, b"<html>login</html>", "text/html")) as server:
        with pytest.raises(ReviewError, match="did not answer JSON"):
            http.Api(server.url, {}).call("GET", "/x")
    monkeypatch.setattr(http, "MAX_ANSWER", 10)
    with serving(lambda _r: Answer.json(200, ["x" * 20])) as server:
        with pytest.raises(ReviewError, match="larger than 10 bytes"):
            http.Api(server.url, {}).call("GET", "/x")


def test_an_unexpected_answer_shape() -> None:
    with serving(lambda _r: Answer.json(201, {"id": 1})) as server:
        host = GitHub(server.url, parse_remote("https://github.com/o/r"), Credential(TOKEN))
        with pytest.raises(ReviewError, match="no number"):
            host.create("t", "b", HEAD, "main", True)
        with pytest.raises(ReviewError, match="not a list|other than a list"):
            host.find_open(HEAD)


def test_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.corp:3128")
    monkeypatch.setenv("http_proxy", "http://proxy.corp:3128")
    monkeypatch.setenv("no_proxy", "internal.corp")
    assert http._proxies("https://api.github.com/x") == {"https": "http://proxy.corp:3128"}
    assert http._proxies("http://git.corp/api/v1") == {}  # never the token in clear
    assert http._proxies("https://127.0.0.1:3000/api/v1") == {}
    assert http._proxies("https://localhost/api/v1") == {}
    assert http._proxies("https://git.internal.corp/api/v1") == {}


def test_the_guard_keeps_other_hosts_away() -> None:
    with pytest.raises(AssertionError, match="a git host's API"):
        http.Api("https://api.github.com", {}).call("GET", "/x")


def test_a_header_urllib_refuses_is_not_quoted() -> None:
    with serving(lambda _r: Answer.json(200, [])) as server:
        api = http.Api(server.url, {"Authorization": f"token {TOKEN}\nX: y"})
        with pytest.raises(ReviewError) as caught:
            api.call("GET", "/x")
    assert "failed (ValueError)" in caught.value.message
    assert TOKEN not in caught.value.message
