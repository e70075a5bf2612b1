"""From a remote URL to the pull-request client of its host, with the developer's token."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.errors import GitHostConfigError
from runtime.review.credentials import TOKEN_ENV, Credential, Runner, credential
from runtime.review.gitea import Gitea
from runtime.review.github import GitHub
from runtime.review.gitlab import GitLab
from runtime.review.hosts import PullRequestHost
from runtime.review.remote import API_ENV, Remote, api_base, host_kind, parse_remote

Client = Callable[[str, Remote, Credential], PullRequestHost]
CLIENTS: dict[str, Client] = {"gitea": Gitea, "github": GitHub, "gitlab": GitLab}


def connect(
    remote_url: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    run: Runner | None = None,
) -> PullRequestHost:
    """The client for ``remote_url``'s repository.

    Args:
        remote_url: the repository's remote (https, http, ssh or ``git@host:o/r.git``).
        env: where ``SPECKIT_PODS_GIT_HOST``, ``SPECKIT_PODS_GIT_API`` and
            ``SPECKIT_PODS_GIT_API_TOKEN`` are read (default: the process's).
        cwd: the developer's repository, where ``git credential fill`` runs (its config).
        run: runs ``git credential fill`` (default: ``subprocess.run``).

    Raises:
        GitHostConfigError: the host's kind cannot be told, or the API setting is bad.
        ReviewError: no token (none set, none from git).
    """
    env = os.environ if env is None else env
    remote = parse_remote(remote_url)
    kind = host_kind(remote, env)
    base = api_base(kind, remote, env)
    _check_api_host(base, remote, env)
    return CLIENTS[kind](base, remote, credential(remote, env, cwd, run))


def _check_api_host(base: str, remote: Remote, env: Mapping[str, str]) -> None:
    """Your git's credentials for the repository's host go to that host's API only.

    ``SPECKIT_PODS_GIT_API`` may name another host (an API elsewhere); then the token
    must be given for it (``SPECKIT_PODS_GIT_API_TOKEN``), so that a wrong or planted
    setting never sends the credentials ``git credential fill`` gives for the repository
    to somebody else.

    Raises:
        GitHostConfigError: the API is on another host and no token is given for it.
    """
    if env.get(TOKEN_ENV, "").strip():
        return
    host = (urllib.parse.urlsplit(base).hostname or "").lower()
    github_api = host == "api.github.com" and remote.host == "github.com"
    if host != remote.host and not github_api:
        raise GitHostConfigError(
            f"{API_ENV} is on {host}, not on the repository's host {remote.host}: "
            f"your git credentials for {remote.host} are not sent there",
            hint=f"give that API's token in {TOKEN_ENV}, or unset {API_ENV}",
        )
