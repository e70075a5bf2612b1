"""GitHub's pull requests (REST API, ``2022-11-28``).

* find: ``GET /repos/{owner}/{repo}/pulls?head={owner}:{branch}&state=open[&base=]``;
* create: ``POST /repos/{owner}/{repo}/pulls`` with ``draft: true``;
* update: ``PATCH /repos/{owner}/{repo}/pulls/{number}`` (title, body, base); the draft
  state is left alone (only GraphQL can change it, and a human may have marked it ready).

Auth: ``SPECKIT_PODS_GIT_API_TOKEN`` as ``Authorization: Bearer``; a git credential as
HTTP basic (user and token, which is what a GitHub https password is).
"""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from runtime.review.credentials import Credential
from runtime.review.hosts import PullRequest, field, items
from runtime.review.http import Api
from runtime.review.remote import Remote


def auth_headers(credential: Credential) -> dict[str, str]:
    """Bearer for a bare token, basic auth for a git credential."""
    if credential.from_env:
        return {"Authorization": f"Bearer {credential.secret}"}
    pair = f"{credential.username}:{credential.secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def _pull(data: Any) -> PullRequest:
    merged = bool(data.get("merged_at")) if isinstance(data, dict) else False
    return PullRequest(
        number=field(data, "number", kind=int),
        url=field(data, "html_url"),
        state="merged" if merged else field(data, "state"),
        draft=bool(data.get("draft", False)),
        head=field(data, "head", "ref"),
        base=field(data, "base", "ref"),
        title=field(data, "title"),
    )


class GitHub:
    """One repository's pull requests on github.com or a GitHub Enterprise server."""

    kind = "github"

    def __init__(self, api_base: str, remote: Remote, credential: Credential) -> None:
        headers = {
            **auth_headers(credential),
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        self.api = Api(api_base, headers, secrets=(credential.secret,))
        self.owner, self.name = remote.owner_repo
        quoted = "/".join(urllib.parse.quote(p, safe="") for p in (self.owner, self.name))
        self._pulls = f"/repos/{quoted}/pulls"

    def find_open(self, head: str, base: str | None = None) -> PullRequest | None:
        """The open pull request of ``head`` in this repository (not a fork's)."""
        query: dict[str, str | int] = {"head": f"{self.owner}:{head}", "state": "open"}
        if base:
            query["base"] = base
        found = [_pull(item) for item in items(self.api.call("GET", self._pulls, query))]
        return next((p for p in found if p.head == head), None)

    def create(self, title: str, body: str, head: str, base: str, draft: bool) -> PullRequest:
        """``POST .../pulls`` with GitHub's own ``draft`` flag."""
        payload = {"title": title, "body": body, "head": head, "base": base, "draft": draft}
        return _pull(self.api.call("POST", self._pulls, payload=payload))

    def update(
        self, number: int, title: str, body: str, base: str, *, draft: bool = False
    ) -> PullRequest:
        """``PATCH .../pulls/{number}``; ``draft`` is not sent (REST cannot change it)."""
        payload = {"title": title, "body": body, "base": base}
        return _pull(self.api.call("PATCH", f"{self._pulls}/{number}", payload=payload))
