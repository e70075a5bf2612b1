"""The git host behind a remote URL: its kind, its repository path and its API.

The kind is inferred from the host name (``github.com``; ``gitlab.com`` or a host
naming ``gitlab``; a host naming ``gitea`` or ``forgejo``, or ``codeberg.org``) unless
``SPECKIT_PODS_GIT_HOST`` says it; the API's base URL follows from the kind and the
host (``https://api.github.com``, ``<web>/api/v3`` for GitHub Enterprise,
``<web>/api/v4`` for GitLab, ``<web>/api/v1`` for Gitea) unless ``SPECKIT_PODS_GIT_API``
gives it (a host served under a sub-path, an API on another host).

An ssh remote's API is reached over https on the same host name (the ssh port says
nothing about the web's); an ``http://`` remote's API over http, as git itself does.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Mapping

from runtime.contract.redact import redact_url
from runtime.errors import GitHostConfigError

HOST_ENV = "SPECKIT_PODS_GIT_HOST"
API_ENV = "SPECKIT_PODS_GIT_API"
KINDS = ("gitea", "github", "gitlab")
_SCP = re.compile(r"^(?:[^@/:]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$")
_CONFIGURE = (
    f"set {HOST_ENV}=gitea|github|gitlab (and {API_ENV}=https://<host>/api/v1 or the like "
    "when the API is not at its usual place)"
)


@dataclasses.dataclass(frozen=True)
class Remote:
    """A repository on a git host, as a remote URL names it."""

    scheme: str  # of the web and the API: "https", or "http" for an http:// remote
    host: str  # lower-case host name
    port: int | None  # the web's port (an http(s) URL's); None for ssh remotes
    path: str  # "owner/repo" or "group/subgroup/repo", without ".git"
    url_path: str  # the path as the URL spells it (what git's credential helpers see)

    @property
    def netloc(self) -> str:
        """``host`` or ``host:port``: the web's address."""
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def owner_repo(self) -> tuple[str, str]:
        """The last two path components: GitHub's and Gitea's ``{owner}/{repo}``."""
        owner, _, name = self.path.rpartition("/")
        return owner.rpartition("/")[2], name


def parse_remote(url: str) -> Remote:
    """The :class:`Remote` of an https, http, ssh or scp-like (``git@host:o/r.git``) URL.

    Raises:
        GitHostConfigError: not a hosted repository URL (a local path, ``file://``).
    """
    shown = redact_url(url)
    if "://" in url:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            raise GitHostConfigError(
                f"not a hosted repository URL: {shown}",
                hint="a pull request needs an https or ssh remote on Gitea, GitHub or GitLab",
            )
        web = parts.scheme if parts.scheme in ("https", "http") else "https"
        try:
            port = parts.port if web == parts.scheme else None
        except ValueError as err:
            raise GitHostConfigError(f"invalid port in the remote URL: {shown}") from err
        host, raw = parts.hostname, parts.path.lstrip("/")
    else:
        match = _SCP.match(url)
        if not match:
            raise GitHostConfigError(
                f"not a hosted repository URL: {shown}",
                hint="a pull request needs an https or ssh remote on Gitea, GitHub or GitLab",
            )
        web, port, host, raw = "https", None, match["host"], match["path"]
    path = raw.strip("/").removesuffix(".git").strip("/")
    components = path.split("/")
    if len(components) < 2 or any(c in ("", ".", "..") for c in components):
        raise GitHostConfigError(f"the remote URL names no owner/repository: {shown}")
    return Remote(web, host.lower(), port, path, raw)


def host_kind(remote: Remote, env: Mapping[str, str]) -> str:
    """``gitea``, ``github`` or ``gitlab``: configured, else told by the host name.

    Raises:
        GitHostConfigError: the configured kind is unknown, or the host name says nothing.
    """
    configured = env.get(HOST_ENV, "").strip().lower()
    if configured:
        if configured not in KINDS:
            raise GitHostConfigError(
                f"{HOST_ENV}={configured!r} is not a known git host", hint=_CONFIGURE
            )
        return configured
    host = remote.host
    if host == "github.com" or host.endswith(".github.com"):
        return "github"
    if "gitlab" in host:
        return "gitlab"
    if "gitea" in host or "forgejo" in host or host == "codeberg.org":
        return "gitea"
    raise GitHostConfigError(f"cannot tell which kind of git host {host} is", hint=_CONFIGURE)


def api_base(kind: str, remote: Remote, env: Mapping[str, str]) -> str:
    """The base URL of the host's REST API (no trailing slash).

    Raises:
        GitHostConfigError: ``SPECKIT_PODS_GIT_API`` is not an http(s) URL without
            credentials.
    """
    configured = env.get(API_ENV, "").strip()
    if configured:
        parts = urllib.parse.urlsplit(configured)
        if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
            raise GitHostConfigError(
                f"{API_ENV} must be an http(s) URL without credentials: {redact_url(configured)}",
                hint="e.g. https://git.example.com/api/v1 (the token goes in "
                "SPECKIT_PODS_GIT_API_TOKEN)",
            )
        return configured.rstrip("/")
    web = f"{remote.scheme}://{remote.netloc}"
    if kind == "github":
        github_com = remote.host == "github.com" or remote.host.endswith(".github.com")
        return "https://api.github.com" if github_com else f"{web}/api/v3"
    return f"{web}/api/v4" if kind == "gitlab" else f"{web}/api/v1"
