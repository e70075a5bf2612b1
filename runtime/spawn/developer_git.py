"""The developer's own git, run in their clone to read the remote: never prompting.

What ``runtime.spawn.lineage`` (the feature's branches) and ``runtime.spawn.session``
(the stored sessions) read from the remote comes through here: ``ls-remote`` and
``fetch`` with the developer's credentials, into refs of our own namespace (no branch of
theirs is touched), then plain reads of what was fetched.  A remote that cannot be read
is one :class:`~runtime.spawn.start.RemoteError` naming what was being read.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from runtime.spawn import start
from runtime.spawn.start import RemoteError, Runner, first_fatal

__all__ = ["FETCH_TIMEOUT_S", "DeveloperGit"]

FETCH_TIMEOUT_S = 300
LS_REMOTE_TIMEOUT_S = 60
HINT = "check your git credentials for the repository (git fetch must work)"


@dataclasses.dataclass(frozen=True)
class DeveloperGit:
    """``git -C <clone>`` with the developer's config; ``what`` names it in errors."""

    clone: Path
    what: str  # "the feature's branches": "cannot read the feature's branches: ..."
    run: Runner = dataclasses.field(default_factory=lambda: start.RUN)

    def call(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run git; the caller looks at the exit code."""
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        return self.run(
            ["git", "-C", str(self.clone), *args],
            capture_output=True, text=True, errors="replace", timeout=timeout, env=env,
            check=False,
        )  # fmt: skip

    def remote(self, *args: str, timeout: float = FETCH_TIMEOUT_S) -> str:
        """Run a git command that talks to the remote; its stdout.

        Raises:
            RemoteError: git failed, hung or is missing.
        """
        try:
            done = self.call(*args, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise RemoteError(f"cannot read {self.what}: {err}", hint=HINT) from err
        if done.returncode != 0:
            raise RemoteError(f"cannot read {self.what}: {first_fatal(done.stderr)}", hint=HINT)
        return done.stdout

    def out(self, *args: str) -> str:
        """Run a local git command; its stdout (``RemoteError`` when it fails)."""
        done = self.call(*args)
        if done.returncode != 0:
            raise RemoteError(f"cannot read {self.what}: {first_fatal(done.stderr)}")
        return done.stdout

    def ls_remote(self, url: str, refs: Sequence[str]) -> dict[str, str]:
        """``{ref: commit}`` of the ``refs`` (full names) the remote has."""
        listed = self.remote("ls-remote", "--", url, *refs, timeout=LS_REMOTE_TIMEOUT_S)
        found: dict[str, str] = {}
        for line in listed.splitlines():
            commit, _, ref = line.partition("\t")
            if ref.strip() in refs:
                found[ref.strip()] = commit.strip()
        return found

    def fetch(self, url: str, refspecs: Sequence[str]) -> None:
        """Fetch ``refspecs`` (no tags)."""
        self.remote("fetch", "--quiet", "--no-tags", "--", url, *refspecs)

    def blob(self, commit: str, path: str) -> str | None:
        """The file ``path`` of ``commit``, or ``None``."""
        done = self.call("cat-file", "blob", f"{commit}:{path}", timeout=120)
        return done.stdout if done.returncode == 0 else None
