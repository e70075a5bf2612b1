"""The developer's token for the git host's API: the environment's, else git's own.

``SPECKIT_PODS_GIT_API_TOKEN`` wins when set.  Otherwise ``git credential fill`` is
asked for the remote's web address (``protocol``, ``host``, ``path``: what ``git push``
over https would ask for), with a fixed argv, no shell, the request on stdin, a short
timeout, and ``GIT_TERMINAL_PROMPT=0`` and an empty ``GIT_ASKPASS`` so it never
prompts: a credential helper has it, or there is none.  Nothing is written back
(no ``approve``/``reject``): the developer's credential store is theirs.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.contract.exit_codes import ExitCode
from runtime.contract.redact import printable
from runtime.errors import ReviewError
from runtime.review.remote import Remote

TOKEN_ENV = "SPECKIT_PODS_GIT_API_TOKEN"
FILL_TIMEOUT_S = 20
Runner = Callable[..., "subprocess.CompletedProcess[str]"]
RUN: Runner = subprocess.run  # how ``git credential fill`` runs when no runner is given


@dataclasses.dataclass(frozen=True)
class Credential:
    """A secret for the API, and the user git's credential named with it."""

    secret: str = dataclasses.field(repr=False)
    username: str = ""  # "" for a token from the environment

    def __post_init__(self) -> None:
        if not self.secret.isprintable() or " " in self.secret or ":" in self.username:
            raise ReviewError(  # never quoting it
                "the git host token holds a space or a control character (or the user a ':')",
                hint=f"check {TOKEN_ENV} or the git credential: one line, the token only",
            )

    @property
    def from_env(self) -> bool:
        """Whether it is ``SPECKIT_PODS_GIT_API_TOKEN`` (a bare token, no user)."""
        return not self.username


def _hint(remote: Remote) -> str:
    return (
        f"set {TOKEN_ENV}, or store a credential for {remote.scheme}://{remote.netloc} "
        "in a git credential helper (what git push over https uses)"
    )


def _request(remote: Remote) -> str:
    fields = {"protocol": remote.scheme, "host": remote.netloc, "path": remote.url_path}
    return "".join(f"{key}={value}\n" for key, value in fields.items()) + "\n"


def _parse(stdout: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key not in found:
            found[key] = value
    return found


def fill(
    remote: Remote,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    run: Runner | None = None,
) -> Credential:
    """The credential ``git credential fill`` gives for ``remote``'s web address.

    Raises:
        ReviewError: git is missing, timed out, or has no credential for the host.
    """
    quiet = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
    env = {**(os.environ if env is None else env), **quiet}
    command = ["git", "credential", "fill"]
    try:
        done = (run or RUN)(
            command,
            input=_request(remote),
            capture_output=True,
            text=True,
            timeout=FILL_TIMEOUT_S,
            env=env,
            cwd=cwd,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        what = "timed out" if isinstance(err, subprocess.TimeoutExpired) else str(err)
        raise ReviewError(
            f"git credential fill for {remote.netloc} failed: {what}", hint=_hint(remote)
        ) from None
    answer = _parse(done.stdout) if done.returncode == 0 else {}
    if not answer.get("password"):
        lines = [printable(line).strip() for line in done.stderr.splitlines()]
        said = next((line for line in lines if line), "no credential")[:200]
        error = ReviewError(f"no git credential for {remote.netloc}: {said}", hint=_hint(remote))
        error.exit_code = ExitCode.GIT_AUTH_FAILED
        raise error
    return Credential(answer["password"], answer.get("username", "") or "git")


def credential(
    remote: Remote,
    env: Mapping[str, str],
    cwd: Path | None = None,
    run: Runner | None = None,
) -> Credential:
    """``SPECKIT_PODS_GIT_API_TOKEN`` if set, else :func:`fill`'s."""
    token = env.get(TOKEN_ENV, "").strip()
    return Credential(token) if token else fill(remote, env, cwd, run)
