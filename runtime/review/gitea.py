"""Gitea's (and Forgejo's) pull requests (API v1).

* find: ``GET /repos/{owner}/{repo}/pulls?state=open&page=N&limit=50``, filtered here by
  head branch (the list has no head filter), at most :data:`MAX_PAGES` pages;
* create: ``POST /repos/{owner}/{repo}/pulls``; Gitea has no draft flag: a draft is a
  title starting with ``WIP:`` (the first of the default ``WORK_IN_PROGRESS_PREFIXES``,
  ``WIP:,[WIP]``; an instance configured otherwise needs its own in :data:`MARKERS`);
* update: ``PATCH /repos/{owner}/{repo}/pulls/{number}`` (title, body, base), the
  ``WIP:`` kept when the pull request is still a draft, left off when not.

Auth: ``SPECKIT_PODS_GIT_API_TOKEN`` as ``Authorization: token``; a git credential as
HTTP basic (user and password or token; Gitea takes either).
"""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from runtime.review.credentials import Credential
from runtime.review.hosts import PullRequest, field, has_marker, items, marked
from runtime.review.http import Api
from runtime.review.remote import Remote

MARKER = "WIP:"
MARKERS = ("WIP:", "[WIP]")
PAGE_SIZE = 50
MAX_PAGES = 20


def auth_headers(credential: Credential) -> dict[str, str]:
    """``token`` for a bare token, basic auth for a git credential."""
    if credential.from_env:
        return {"Authorization": f"token {credential.secret}"}
    pair = f"{credential.username}:{credential.secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def _pull(data: Any) -> PullRequest:
    title = field(data, "title")
    merged = bool(data.get("merged")) if isinstance(data, dict) else False
    return PullRequest(
        number=field(data, "number", kind=int),
        url=field(data, "html_url"),
        state="merged" if merged else field(data, "state"),
        draft=bool(data.get("draft")) or has_marker(title, MARKERS),
        head=field(data, "head", "ref"),
        base=field(data, "base", "ref"),
        title=title,
    )


def _same_repo(data: dict[str, Any]) -> bool:
    head, base = data.get("head"), data.get("base")
    names = [
        part.get("repo", {}).get("full_name") if isinstance(part, dict) else None
        for part in (head, base)
    ]
    return None in names or names[0] == names[1]


class Gitea:
    """One repository's pull requests on a Gitea or Forgejo server."""

    kind = "gitea"

    def __init__(self, api_base: str, remote: Remote, credential: Credential) -> None:
        self.api = Api(api_base, auth_headers(credential), secrets=(credential.secret,))
        owner, name = remote.owner_repo
        quoted = "/".join(urllib.parse.quote(p, safe="") for p in (owner, name))
        self._pulls = f"/repos/{quoted}/pulls"

    def find_open(self, head: str, base: str | None = None) -> PullRequest | None:
        """The open pull request of ``head`` from this repository (not a fork's)."""
        for page in range(1, MAX_PAGES + 1):
            query: dict[str, str | int] = {"state": "open", "page": page, "limit": PAGE_SIZE}
            found = items(self.api.call("GET", self._pulls, query))
            for item in found:
                pull = _pull(item)
                if pull.head == head and base in (None, pull.base) and _same_repo(item):
                    return pull
            if len(found) < PAGE_SIZE:
                break
        return None

    def create(self, title: str, body: str, head: str, base: str, draft: bool) -> PullRequest:
        """``POST .../pulls``, a draft by its ``WIP:`` title."""
        payload = {"title": marked(title, draft, MARKER, MARKERS), "body": body}
        payload |= {"head": head, "base": base}
        return _pull(self.api.call("POST", self._pulls, payload=payload))

    def update(
        self, number: int, title: str, body: str, base: str, *, draft: bool = False
    ) -> PullRequest:
        """``PATCH .../pulls/{number}``, the ``WIP:`` kept while ``draft``."""
        payload = {"title": marked(title, draft, MARKER, MARKERS), "body": body, "base": base}
        return _pull(self.api.call("PATCH", f"{self._pulls}/{number}", payload=payload))
