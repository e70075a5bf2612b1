"""The branch-name and repository-URL rules, one definition for both sides of the pod.

Each check returns why its input is refused, or ``None``: the host turns the reason
into an error with a hint (``runtime.spawn.repo``), the agent into a config problem
(``runtime.agent.config``).
"""

from __future__ import annotations

import re
import urllib.parse

from runtime.contract.redact import redact_url

SCHEMES = ("https", "http", "ssh", "git")
_SCP = re.compile(r"^(?P<user>[A-Za-z0-9._~-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def branch_name_error(name: str) -> str | None:
    """Why ``name`` is not a valid branch name (``git check-ref-format --branch``)."""
    problems = [
        (not name, "is empty"),
        (name.startswith("-"), "starts with '-'"),
        (name in ("@", "HEAD"), "is reserved"),
        (
            bool(_REF_FORBIDDEN.search(name)),
            "contains a space, control character or one of ~^:?*[\\",
        ),
        (".." in name, "contains '..'"),
        ("@{" in name, "contains '@{'"),
        (name.startswith("/") or name.endswith("/") or "//" in name, "has an empty path component"),
        (name.endswith("."), "ends with '.'"),
    ]
    for bad, why in problems:
        if bad:
            return why
    for part in name.split("/"):
        if part.startswith("."):
            return "has a path component starting with '.'"
        if part.endswith(".lock"):
            return "has a path component ending with '.lock'"
    return None


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries a password or an HTTP(S) user (a token in the URL)."""
    if "://" not in url:
        return False  # scp-like ssh (git@host:path): the user part is not a secret
    parts = urllib.parse.urlsplit(url)
    return parts.password is not None or (
        parts.scheme in ("http", "https") and bool(parts.username)
    )


def repo_url_error(url: str) -> str | None:
    """Why a pod cannot clone ``url`` without credentials in it, or ``None``.

    Accepted: ``https://``, ``http://``, ``ssh://``, ``git://`` URLs with a host and
    the scp-like ``git@host:org/repo.git``; never a URL with a password or token.
    """
    if not url or any(c.isspace() or ord(c) < 0x20 for c in url):
        return f"invalid repository URL: {url!r}"
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in SCHEMES:
        if not parsed.hostname:
            return f"repository URL has no host: {redact_url(url)}"
        if has_credentials(url):
            return f"repository URL contains credentials: {redact_url(url)}"
        return None
    if "://" not in url and _SCP.match(url):
        return None
    return f"unsupported repository URL: {redact_url(url)}"
