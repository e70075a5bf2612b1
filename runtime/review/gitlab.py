"""GitLab's merge requests (API v4).

The project is addressed by its URL-encoded path (``group%2Fsub%2Frepo``), so
subgroups need nothing more.

* find: ``GET /projects/:id/merge_requests?source_branch=..&state=opened[&target_branch=]``;
* create: ``POST /projects/:id/merge_requests`` (source_branch, target_branch, title,
  description); a draft is a title starting with ``Draft:``, which every GitLab since
  13.2 reads as one (the create call has no draft parameter);
* update: ``PUT /projects/:id/merge_requests/:iid`` (title, description,
  target_branch), the ``Draft:`` kept while the merge request is still a draft.

Auth: the ``PRIVATE-TOKEN`` header, with ``SPECKIT_PODS_GIT_API_TOKEN`` or a git
credential's password (a personal, project or group access token: GitLab's API takes no
basic auth); a credential of user ``oauth2`` is an OAuth token, sent as ``Bearer``.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from runtime.review.credentials import Credential
from runtime.review.hosts import PullRequest, field, has_marker, items, marked
from runtime.review.http import Api
from runtime.review.remote import Remote

MARKER = "Draft:"
MARKERS = ("Draft:", "[Draft]", "(Draft)", "WIP:", "[WIP]")
_STATES = {"opened": "open"}


def auth_headers(credential: Credential) -> dict[str, str]:
    """``PRIVATE-TOKEN``, or ``Bearer`` for an OAuth credential (user ``oauth2``)."""
    if credential.username == "oauth2":
        return {"Authorization": f"Bearer {credential.secret}"}
    return {"PRIVATE-TOKEN": credential.secret}


def _pull(data: Any) -> PullRequest:
    title = field(data, "title")
    draft = isinstance(data, dict) and bool(data.get("draft", data.get("work_in_progress")))
    state = field(data, "state")
    return PullRequest(
        number=field(data, "iid", kind=int),
        url=field(data, "web_url"),
        state=_STATES.get(state, state),
        draft=draft or has_marker(title, MARKERS),
        head=field(data, "source_branch"),
        base=field(data, "target_branch"),
        title=title,
    )


def _same_project(data: dict[str, Any]) -> bool:
    source, target = data.get("source_project_id"), data.get("target_project_id")
    return source is None or target is None or source == target


class GitLab:
    """One project's merge requests on gitlab.com or a self-managed GitLab."""

    kind = "gitlab"

    def __init__(self, api_base: str, remote: Remote, credential: Credential) -> None:
        self.api = Api(api_base, auth_headers(credential), secrets=(credential.secret,))
        self._requests = f"/projects/{urllib.parse.quote(remote.path, safe='')}/merge_requests"

    def find_open(self, head: str, base: str | None = None) -> PullRequest | None:
        """The open merge request of ``head`` from this project (not a fork's)."""
        query: dict[str, str | int] = {"source_branch": head, "state": "opened"}
        if base:
            query["target_branch"] = base
        for item in items(self.api.call("GET", self._requests, query)):
            pull = _pull(item)
            if pull.head == head and _same_project(item):
                return pull
        return None

    def create(self, title: str, body: str, head: str, base: str, draft: bool) -> PullRequest:
        """``POST .../merge_requests``, a draft by its ``Draft:`` title."""
        payload = {
            "title": marked(title, draft, MARKER, MARKERS),
            "description": body,
            "source_branch": head,
            "target_branch": base,
        }
        return _pull(self.api.call("POST", self._requests, payload=payload))

    def update(
        self, number: int, title: str, body: str, base: str, *, draft: bool = False
    ) -> PullRequest:
        """``PUT .../merge_requests/:iid``, the ``Draft:`` kept while ``draft``."""
        payload = {
            "title": marked(title, draft, MARKER, MARKERS),
            "description": body,
            "target_branch": base,
        }
        return _pull(self.api.call("PUT", f"{self._requests}/{number}", payload=payload))
