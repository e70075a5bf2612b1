"""Paths, defaults and environment variable names of the agent pod.

The host side renders them into the pod manifest (``runtime.spawn.manifests``); the
agent reads them (``runtime.agent.config``).  See "Contract: agent pod" in
docs/architecture.md.
"""

from __future__ import annotations

from typing import Final

AGENT_CONTAINER: Final = "agent"
UID: Final = 10001
TASK_DIR: Final = "/etc/speckit-pods/task"
OPENCODE_DIR: Final = "/etc/speckit-pods/opencode"
GIT_CREDENTIALS_DIR: Final = "/var/run/secrets/speckit-pods/git"
WORKSPACE: Final = "/workspace"
HOME: Final = "/home/agent"
DEFAULT_AUTHOR_NAME: Final = "speckit-pods agent"
DEFAULT_AUTHOR_EMAIL: Final = "agent@speckit-pods.invalid"
DEFAULT_STALL_SECONDS: Final = 600


class Env:
    """Names of the environment variables the manifest sets and the agent reads."""

    TASK_ID: Final = "TASK_ID"
    TASK_TITLE: Final = "TASK_TITLE"
    REPO_URL: Final = "REPO_URL"
    BASE_BRANCH: Final = "BASE_BRANCH"
    TASK_BRANCH: Final = "TASK_BRANCH"
    MODEL: Final = "MODEL"
    TASK_DIR: Final = "TASK_DIR"
    WORKSPACE: Final = "WORKSPACE"
    HOME: Final = "HOME"
    GIT_CREDENTIALS_DIR: Final = "GIT_CREDENTIALS_DIR"
    GIT_AUTHOR_NAME: Final = "GIT_AUTHOR_NAME"
    GIT_AUTHOR_EMAIL: Final = "GIT_AUTHOR_EMAIL"
    REQUESTED_BY: Final = "REQUESTED_BY"
    AGENT_DEADLINE_SECONDS: Final = "AGENT_DEADLINE_SECONDS"
    AGENT_STALL_SECONDS: Final = "AGENT_STALL_SECONDS"
    OPENCODE_CONFIG: Final = "OPENCODE_CONFIG"
    OPENCODE_BIN: Final = "OPENCODE_BIN"


REQUIRED: Final = (Env.TASK_ID, Env.TASK_TITLE, Env.REPO_URL, Env.BASE_BRANCH, Env.TASK_BRANCH)
