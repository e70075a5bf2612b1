"""The developer's repository: defaults read from local git, and checks of git inputs.

Defaults come from the git repository holding tasks.md (``origin`` URL, current
branch, ``user.name``/``user.email``).  Repository URLs must be reachable from a
pod and never carry credentials (those live in the git Secret); branch names
follow ``git check-ref-format --branch``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from runtime.contract.refs import branch_name_error, has_credentials, repo_url_error
from runtime.errors import InvalidInputError

_CREDENTIALS_HINT = (
    "put the token in the git Secret instead (key `token`, optional `username`; "
    "see manifests/secrets.example.yaml) and pass the URL without it"
)
_SCHEME_HINT = (
    "the pod clones over the network: use https://, http://, ssh:// or git@host:org/repo.git"
)


def check_repo_url(url: str) -> str:
    """Return ``url`` if a pod can clone it and it carries no credentials.

    The rule is the pod contract's (:func:`runtime.contract.refs.repo_url_error`).

    Raises:
        InvalidInputError: anything else, or a URL with a password or token in it.
    """
    why = repo_url_error(url)
    if why is None:
        return url
    if has_credentials(url):
        raise InvalidInputError(why, hint=_CREDENTIALS_HINT)
    hint = "use https://host/org/repo.git" if why.startswith("invalid") else _SCHEME_HINT
    raise InvalidInputError(why, hint=hint)


def check_branch(name: str, what: str = "branch") -> str:
    """Return ``name`` if git accepts it as a branch name (the pod contract's rule).

    Raises:
        InvalidInputError: naming the rule it breaks.
    """
    why = branch_name_error(name)
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
