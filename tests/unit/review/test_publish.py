"""A task's result to its pull request: the open one updated, else a draft (review.publish)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from runtime.contract.outcome import Result, Status
from runtime.contract.start import StartPoint
from runtime.errors import ReviewError
from runtime.review.credentials import Credential
from runtime.review.gitea import Gitea
from runtime.review.hosts import PullRequest
from runtime.review.publish import Published, open_or_update
from runtime.review.remote import parse_remote
from tests.unit.fake_api_server import Answer, Request, serving

HEAD = "specs/001-demo/T012-async"
T002 = StartPoint("T002", "specs/001-demo/T002-async", "a" * 40)
T003 = StartPoint("T003", "specs/001-demo/T003-async", "b" * 40)


@dataclasses.dataclass
class FakeHost:
    """A host with at most one open pull request, recording the calls."""

    kind: str = "fake"
    open_pull: PullRequest | None = None
    calls: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)

    def find_open(self, head: str, base: str | None = None) -> PullRequest | None:
        self.calls.append(("find_open", {"head": head, "base": base}))
        return self.open_pull

    def create(self, title: str, body: str, head: str, base: str, draft: bool) -> PullRequest:
        self.calls.append(
            ("create", {"title": title, "head": head, "base": base, "draft": draft, "body": body})
        )
        return PullRequest(1, "https://h/pulls/1", "open", draft, head, base, title)

    def update(
        self, number: int, title: str, body: str, base: str, *, draft: bool = False
    ) -> PullRequest:
        self.calls.append(
            (
                "update",
                {"number": number, "title": title, "base": base, "draft": draft, "body": body},
            )
        )
        return PullRequest(number, "https://h/pulls/1", "open", draft, HEAD, base, title)


def publish(host: FakeHost, **changes: Any) -> Published:
    result = Result(task="T012", status=Status.SUCCEEDED, branch=HEAD, commit="c" * 40)
    return open_or_update(
        host,
        task_id="T012",
        task_title="Add the parser",
        task_text="- [ ] T012 [ASYNC] Add the parser in src/parser.py",
        result=dataclasses.replace(result, **changes),
        base_branch="main",
        log_lines=["agent: done"],
    )


def test_no_open_pull_request_opens_a_draft_on_the_base() -> None:
    host = FakeHost()
    done = publish(host)
    assert done.created and done.pull.draft
    name, call = host.calls[-1]
    assert name == "create"
    assert (call["title"], call["head"], call["base"], call["draft"]) == (
        "T012: Add the parser",
        HEAD,
        "main",
        True,
    )
    assert "**Base:** `main`, which the run started from" in call["body"]
    assert "agent: done" in call["body"]
    assert host.calls[0] == ("find_open", {"head": HEAD, "base": None})


def test_one_prerequisite_stacks_on_its_branch() -> None:
    host = FakeHost()
    publish(host, started_from=(T002,))
    call = host.calls[-1][1]
    assert call["base"] == T002.branch
    assert f"`{T002.branch}`, the branch of T002" in call["body"]


def test_several_prerequisites_go_on_the_base_and_say_so() -> None:
    host = FakeHost()
    publish(host, started_from=(T002, T003))
    call = host.calls[-1][1]
    assert call["base"] == "main"
    assert "started from 2 prerequisites' work" in call["body"]


@pytest.mark.parametrize("draft", [True, False])
def test_an_open_pull_request_is_updated_and_keeps_its_draft_state(draft: bool) -> None:
    found = PullRequest(9, "https://h/pulls/9", "open", draft, HEAD, "main", "T012: old")
    host = FakeHost(open_pull=found)
    done = publish(host, status=Status.FAILED, reason="tests fail")
    assert not done.created
    name, call = host.calls[-1]
    assert name == "update" and call["number"] == 9 and call["draft"] is draft
    assert call["title"] == "[failed] T012: Add the parser"
    assert "tests fail" in call["body"]
    assert [c[0] for c in host.calls] == ["find_open", "update"]


def test_no_branch_no_pull_request() -> None:
    host = FakeHost()
    with pytest.raises(ReviewError, match="pushed no branch"):
        publish(host, branch="")
    assert host.calls == []


def test_on_gitea_through_the_wire() -> None:
    created: dict[str, Any] = {}

    def answer(request: Request) -> Answer:
        if request.method == "GET":
            return Answer.json(200, [])
        created.update(request.body)
        pull = {
            "number": 3,
            "html_url": "https://g/o/r/pulls/3",
            "state": "open",
            "title": request.body["title"],
            "merged": False,
            "head": {"ref": request.body["head"]},
            "base": {"ref": request.body["base"]},
        }
        return Answer.json(201, pull)

    with serving(answer) as server:
        host = Gitea(server.url, parse_remote("https://g.example/o/r.git"), Credential("t" * 12))
        done = open_or_update(
            host,
            task_id="T012",
            task_title="Add @bob's parser",
            task_text="x",
            result=Result(task="T012", status=Status.SUCCEEDED, branch=HEAD, started_from=(T002,)),
            base_branch="main",
        )
    assert done.created and done.pull.draft and done.pull.base == T002.branch
    assert created["title"] == "WIP: T012: Add @\u200bbob's parser"
    assert [r.method for r in server.seen] == ["GET", "POST"]
