"""The developer's repository: defaults read from local git, and checks of git inputs.

Defaults come from the git repository holding tasks.md (``origin`` URL, current
branch, ``user.name``/``user.email``).  Repository URLs must be reachable from a
pod and never carry credentials (those live in the git Secret); branch names
follow ``git check-ref-format --branch``.
"""

from __future__ import annotations

import re
import subprocess
import urllib.parse
from pathlib import Path

from runtime.errors import InvalidInputError

_SCP_RE = re.compile(r"^(?P<user>[A-Za-z0-9._~-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$")
_SCHEMES = ("https", "http", "ssh", "git")
_CREDENTIALS_HINT = (
    "put the token in the git Secret instead (key `token`, optional `username`; "
    "see manifests/secrets.example.yaml) and pass the URL without it"
)


def redact(url: str) -> str:
    """Hide the userinfo part of a URL (``https://***@host/...``)."""
    return re.sub(r"^([a-z+]+://)[^/@]*@", r"\1***@", url)


def check_repo_url(url: str) -> str:
    """Return ``url`` if a pod can clone it and it carries no credentials.

    Accepted: ``https://``, ``http://``, ``ssh://``, ``git://`` URLs and the
    scp-like ``git@host:org/repo.git``.

    Raises:
        InvalidInputError: anything else, or a URL with a password or token in it.
    """
    if not url or any(c.isspace() or ord(c) < 0x20 for c in url):
        raise InvalidInputError(
            f"invalid repository URL: {url!r}", hint="use https://host/org/repo.git"
        )
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in _SCHEMES:
        _check_url_parts(url, parsed)
        return url
    if "://" not in url and _SCP_RE.match(url):
        return url
    raise InvalidInputError(
        f"unsupported repository URL: {redact(url)}",
        hint="the pod clones over the network: "
        "use https://, http://, ssh:// or git@host:org/repo.git",
    )


def _check_url_parts(url: str, parsed: urllib.parse.SplitResult) -> None:
    if not parsed.hostname:
        raise InvalidInputError(f"repository URL has no host: {redact(url)}")
    if parsed.password is not None or (parsed.username and parsed.scheme in ("https", "http")):
        raise InvalidInputError(
            f"repository URL contains credentials: {redact(url)}", hint=_CREDENTIALS_HINT
        )


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def ref_format_error(name: str) -> str | None:
    """Return why ``name`` is not a valid branch name (``git check-ref-format --branch``)."""
    problems = [
        (not name, "is empty"),
        (name.startswith("-"), "starts with '-'"),
        (name == "@" or name == "HEAD", "is reserved"),
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


def check_branch(name: str, what: str = "branch") -> str:
    """Return ``name`` if git accepts it as a branch name.

    Raises:
        InvalidInputError: naming the rule it breaks.
    """
    why = ref_format_error(name)
    if why:
        raise InvalidInputError(
            f"invalid {what} name {name!r}: it {why}",
            hint="see `git help check-ref-format`; e.g. specs/001-feature/T012-async",
        )
    return name


def _git(directory: Path, *args: str) -> str | None:
    """Run ``git -C directory args``; stdout stripped, ``None`` on any failure."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def origin_url(directory: Path) -> str | None:
    """``git remote get-url origin`` of the repository holding ``directory``."""
    return _git(directory, "remote", "get-url", "origin")


def current_branch(directory: Path) -> str | None:
    """The checked-out branch, ``None`` when detached or not a repository."""
    return _git(directory, "symbolic-ref", "--quiet", "--short", "HEAD")


def user_ident(directory: Path) -> str | None:
    """``Name <email>`` from git config, ``None`` unless both are set."""
    name = _git(directory, "config", "user.name")
    email = _git(directory, "config", "user.email")
    return f"{name} <{email}>" if name and email else None
