"""The agent's settings, read from the environment the pod manifest sets.

See "Contract: agent pod" in ``docs/architecture.md`` for every variable.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

REQUIRED = ("TASK_ID", "TASK_TITLE", "REPO_URL", "BASE_BRANCH", "TASK_BRANCH")
DEFAULT_AUTHOR_NAME = "speckit-pods agent"
DEFAULT_AUTHOR_EMAIL = "agent@speckit-pods.invalid"
DEFAULT_STALL_SECONDS = 600.0


class ConfigError(Exception):
    """The environment is missing or has invalid variables."""


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """Everything one agent run needs to know."""

    task_id: str
    task_title: str
    repo_url: str
    base_branch: str
    task_branch: str
    task_dir: Path = Path("/etc/speckit-pods/task")
    workspace: Path = Path("/workspace")
    credentials_dir: Path = Path("/var/run/secrets/speckit-pods/git")
    home: Path = Path("/home/agent")
    author_name: str = DEFAULT_AUTHOR_NAME
    author_email: str = DEFAULT_AUTHOR_EMAIL
    requested_by: str = ""
    model: str = ""
    deadline_s: float | None = None
    stall_s: float = DEFAULT_STALL_SECONDS
    opencode_bin: str = "opencode"

    @property
    def clone_dir(self) -> Path:
        """Where the repository is cloned (inside the workspace)."""
        return self.workspace / "repo"


def load(env: Mapping[str, str] | None = None) -> AgentConfig:
    """Build the config from ``env`` (default ``os.environ``).

    Raises:
        ConfigError: listing every missing or invalid variable at once.
    """
    env = os.environ if env is None else env
    problems = [f"{name} is not set" for name in REQUIRED if not env.get(name, "").strip()]
    deadline = _seconds(env, "AGENT_DEADLINE_SECONDS", None, problems)
    stall = _seconds(env, "AGENT_STALL_SECONDS", DEFAULT_STALL_SECONDS, problems)
    repo_url = env.get("REPO_URL", "").strip()
    if repo_url and _has_credentials(repo_url):
        problems.append("REPO_URL must not contain credentials (use the git Secret)")
    for name in ("BASE_BRANCH", "TASK_BRANCH"):
        if env.get(name) and not _valid_branch(env[name]):
            problems.append(f"{name}={env[name]!r} is not a valid branch name")
    if problems:
        raise ConfigError("; ".join(problems))
    return AgentConfig(
        task_id=env["TASK_ID"].strip(),
        task_title=env["TASK_TITLE"].strip().splitlines()[0],
        repo_url=repo_url,
        base_branch=env["BASE_BRANCH"].strip(),
        task_branch=env["TASK_BRANCH"].strip(),
        task_dir=Path(env.get("TASK_DIR") or "/etc/speckit-pods/task"),
        workspace=Path(env.get("WORKSPACE") or "/workspace"),
        credentials_dir=Path(env.get("GIT_CREDENTIALS_DIR") or "/var/run/secrets/speckit-pods/git"),
        home=Path(env.get("HOME") or "/home/agent"),
        author_name=env.get("GIT_AUTHOR_NAME") or DEFAULT_AUTHOR_NAME,
        author_email=env.get("GIT_AUTHOR_EMAIL") or DEFAULT_AUTHOR_EMAIL,
        requested_by=env.get("REQUESTED_BY", "").strip(),
        model=env.get("MODEL", "").strip(),
        deadline_s=deadline,
        stall_s=stall if stall is not None else DEFAULT_STALL_SECONDS,
        opencode_bin=env.get("OPENCODE_BIN") or "opencode",
    )


def _seconds(
    env: Mapping[str, str], name: str, default: float | None, problems: list[str]
) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} is not a number of seconds")
        return default
    if value <= 0:
        problems.append(f"{name}={raw!r} must be greater than 0")
        return default
    return value


def _has_credentials(url: str) -> bool:
    if "://" not in url:
        return False  # scp-like ssh (git@host:path): the user part is not a secret
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.username or parts.password)


_BAD_BRANCH = re.compile(r"(^[-/.])|(\.\.)|([\s~^:?*\[\\])|(@\{)|([/.]$)|(\.lock$)|(//)")


def _valid_branch(name: str) -> bool:
    return bool(name) and _BAD_BRANCH.search(name) is None
