"""The one interface of the pull-request clients, and what they share.

Each host is a module of its own (``gitea``, ``github``, ``gitlab``) with a class that
has the methods of :class:`PullRequestHost`.  Where a host marks a draft by a title
prefix (Gitea's ``WIP:``, GitLab's ``Draft:``) the client adds or keeps it: callers pass
the bare title and say whether the pull request is a draft.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from runtime.errors import ReviewError


@dataclasses.dataclass(frozen=True)
class PullRequest:
    """An open (or just opened) pull request, GitLab's merge request likewise."""

    number: int  # GitHub's and Gitea's number, GitLab's iid: what the web shows
    url: str  # its web page
    state: str  # "open", "closed" or "merged" (GitLab's "opened" is "open")
    draft: bool
    head: str  # the branch it merges
    base: str  # the branch it merges into
    title: str = ""  # as the host has it, draft marker included


class PullRequestHost(Protocol):
    """A git host's pull requests for one repository."""

    kind: str  # "gitea", "github" or "gitlab"

    def find_open(self, head: str, base: str | None = None) -> PullRequest | None:
        """The open pull request of branch ``head`` (into ``base``, if given), if any."""
        ...

    def create(self, title: str, body: str, head: str, base: str, draft: bool) -> PullRequest:
        """Open a pull request of ``head`` into ``base``."""
        ...

    def update(
        self, number: int, title: str, body: str, base: str, *, draft: bool = False
    ) -> PullRequest:
        """Set the title, body and base of pull request ``number``.

        ``draft`` keeps a prefix host's draft marker on the title; on GitHub the draft
        state is left as it is (its REST API cannot change it).
        """
        ...


def marked(title: str, draft: bool, marker: str, markers: Sequence[str]) -> str:
    """``title`` without any of ``markers`` (case-insensitive), then ``marker`` if a draft."""
    bare = title.strip()
    stripped = True
    while stripped:
        stripped = False
        for known in markers:
            if bare.lower().startswith(known.lower()):
                bare, stripped = bare[len(known) :].lstrip(), True
    return f"{marker} {bare}" if draft else bare


def has_marker(title: str, markers: Sequence[str]) -> bool:
    """Whether ``title`` starts with one of ``markers`` (case-insensitive)."""
    return title.strip().lower().startswith(tuple(m.lower() for m in markers))


def field(data: Any, *keys: str, kind: type = str) -> Any:
    """``data[k1][k2]...``, checked to be a ``kind``.

    Raises:
        ReviewError: the API's answer has no such field (not the API we think it is).
    """
    value = data
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ReviewError(
            f"the API's answer has no {'.'.join(keys)} ({kind.__name__})",
            hint="is the host's kind right? SPECKIT_PODS_GIT_HOST sets it",
        )
    return value


def items(data: Any) -> list[dict[str, Any]]:
    """A list answer's objects.

    Raises:
        ReviewError: the answer is not a list.
    """
    if not isinstance(data, list):
        raise ReviewError(
            "the API answered something other than a list of pull requests",
            hint="is the host's kind right? SPECKIT_PODS_GIT_HOST sets it",
        )
    return [item for item in data if isinstance(item, dict)]
