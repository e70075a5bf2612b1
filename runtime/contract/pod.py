"""Containers, paths, users, defaults and environment variable names of the agent pod.

The host side renders them into the pod manifest (``runtime.spawn.manifests``) and
reads the pod through them (``runtime.kube``); the two sides inside the pod read
them too (``runtime.agent``).  See "Contract: agent pod" in docs/architecture.md.

Two containers of one image share the pod:

* ``git`` (:data:`GIT_CONTAINER`), the TRUSTED side: a native sidecar (an init
  container with ``restartPolicy: Always``) running as :data:`GIT_UID`.  It alone
  holds the git Secret; it clones, waits for SIGTERM (sent by the kubelet only after
  the ``agent`` container has exited), then commits, pushes and prints the result
  line.  Its log is the pod's log: the host follows it and trusts its last line.
* ``llm-proxy`` (:data:`LLM_PROXY_CONTAINER`), TRUSTED: a native sidecar started
  before ``git``, running as :data:`LLM_PROXY_UID`.  It alone holds the LLM Secret
  (its keys as environment variables); it listens on ``127.0.0.1``
  (:data:`LLM_PROXY_PORT`), adds the key to each request and forwards it to the
  provider the Secret names, and counts requests and tokens in
  :data:`LLM_USAGE_DIR` (read-only for ``git``, absent from ``agent``).
* ``agent`` (:data:`AGENT_CONTAINER`), UNTRUSTED: runs opencode as :data:`AGENT_UID`
  in the work tree, with the git dir read-only, and hands its claimed verdict and its
  output lines over in :data:`HANDOFF_DIR`.
"""

from __future__ import annotations

from typing import Final

AGENT_CONTAINER: Final = "agent"
GIT_CONTAINER: Final = "git"
LLM_PROXY_CONTAINER: Final = "llm-proxy"
RESULT_CONTAINER: Final = GIT_CONTAINER  # whose log is followed and holds the result line

AGENT_UID: Final = 10001
GIT_UID: Final = 10002
LLM_PROXY_UID: Final = 10003
GID: Final = 10001  # both containers' group: the work tree is group-writable (umask 0002)
UID: Final = AGENT_UID  # the pod-level runAsUser; the git container overrides it

TASK_DIR: Final = "/etc/speckit-pods/task"
OPENCODE_DIR: Final = "/etc/speckit-pods/opencode"
GIT_CREDENTIALS_DIR: Final = "/var/run/secrets/speckit-pods/git"  # mounted in `git` only
WORKSPACE: Final = "/workspace"
CLONE_DIR_NAME: Final = "repo"
# The work tree is an emptyDir of its own (shared, writable by both) and its `.git` is
# another, mounted on top: read-write in `git`, read-only in `agent`. So the agent (and
# opencode, which finds the project by its `.git` directory) sees an ordinary clone, but
# can neither write the git dir nor replace it (a mount point cannot be moved or removed).
WORK_TREE: Final = f"{WORKSPACE}/{CLONE_DIR_NAME}"
GIT_DIR_MOUNT: Final = f"{WORK_TREE}/.git"
GIT_DIR: Final = GIT_DIR_MOUNT
LLM_USAGE_DIR: Final = "/var/run/speckit-pods/llm"  # llm-proxy writes, git reads
LLM_USAGE_FILE: Final = "usage.json"
LLM_PROXY_HOST: Final = "127.0.0.1"  # the pod's loopback: no other pod can use the key
LLM_PROXY_PORT: Final = 4141
LLM_PROXY_URL: Final = f"http://{LLM_PROXY_HOST}:{LLM_PROXY_PORT}"
HANDOFF_DIR: Final = "/handoff"  # shared; every file in it is written by an untrusted party
HOME: Final = "/home/agent"  # the agent's HOME
GIT_HOME: Final = "/home/git"  # the git side's HOME: its git config, ssh key copy, state
DEFAULT_AUTHOR_NAME: Final = "speckit-pods agent"
DEFAULT_AUTHOR_EMAIL: Final = "agent@speckit-pods.invalid"
DEFAULT_STALL_SECONDS: Final = 600
DEFAULT_CHECKPOINT_SECONDS: Final = 180  # the git side's checkpoint interval; 0 = none
DEFAULT_SETUP_SECONDS: Final = 600  # the repository's setup script's own time limit
# run by the agent side in the work tree before opencode (or an integration's tests); read
# from the work tree the git side checked out, before anything of the agent has run
SETUP_SCRIPT: Final = ".speckit-pods/setup.sh"
SIGTERM_BUDGET_SECONDS: Final = 45  # the git side's commit + push after SIGTERM (grace is 60)
CLONE_BUDGET_SECONDS: Final = 900  # the startupProbe holds the agent this long at most
INTEGRATION_TASK: Final = "integration"  # TASK_ID of a feature's integration pod


class Handoff:
    """File names in :data:`HANDOFF_DIR`."""

    READY: Final = "ready"  # by `git`: the clone is ready (or failed: see ABORT)
    ABORT: Final = "abort"  # by `git`: nothing to work on; the agent exits at once
    VERDICT: Final = "verdict.json"  # by `agent`: its claimed status and reason
    AGENT_LOG: Final = "agent.log"  # by `agent`: its output lines, relayed by `git`
    STOP: Final = "stop"  # by `git`: stop opencode now (why: its text); over a budget
    SESSION: Final = "session.json"  # by `agent`: `opencode export` (kept by `git`, as data)


class Env:
    """Names of the environment variables the manifest sets and the two sides read."""

    TASK_ID: Final = "TASK_ID"
    TASK_TITLE: Final = "TASK_TITLE"
    REPO_URL: Final = "REPO_URL"
    BASE_BRANCH: Final = "BASE_BRANCH"
    TASK_BRANCH: Final = "TASK_BRANCH"
    FEATURE: Final = "FEATURE"  # git: names the session ref (runtime.contract.session)
    MODEL: Final = "MODEL"
    TASK_DIR: Final = "TASK_DIR"
    WORKSPACE: Final = "WORKSPACE"
    CLONE_GIT_DIR: Final = "CLONE_GIT_DIR"  # not GIT_DIR: git itself would read that
    HANDOFF_DIR: Final = "HANDOFF_DIR"
    HOME: Final = "HOME"
    GIT_CREDENTIALS_DIR: Final = "GIT_CREDENTIALS_DIR"
    ALLOW_INSECURE_HTTP: Final = "ALLOW_INSECURE_HTTP"  # "1": send the token over http://
    GIT_AUTHOR_NAME: Final = "GIT_AUTHOR_NAME"
    GIT_AUTHOR_EMAIL: Final = "GIT_AUTHOR_EMAIL"
    REQUESTED_BY: Final = "REQUESTED_BY"
    AGENT_DEADLINE_SECONDS: Final = "AGENT_DEADLINE_SECONDS"
    AGENT_STALL_SECONDS: Final = "AGENT_STALL_SECONDS"
    AGENT_SETUP_SECONDS: Final = "AGENT_SETUP_SECONDS"  # the setup script's time limit
    LLM_PROXY_URL: Final = "SPECKIT_LLM_PROXY_URL"  # agent: where its LLM requests go
    LLM_USAGE_DIR: Final = "LLM_USAGE_DIR"
    # llm-proxy only: input + output tokens after which it refuses every request (unset: no
    # limit); the proxy records reaching it in usage.json, where the git side reads it
    LLM_TOKEN_BUDGET: Final = "LLM_TOKEN_BUDGET"
    # llm-proxy only: the developer's price, IN/OUT US dollars per million input / output
    # tokens (runtime.contract.cost), by which it turns the tokens it counted into usage.json's
    # cost_usd (unset: the cost is unknown); and the US dollars after which it refuses every
    # request (unset: no limit; set, it needs the price)
    LLM_PRICE_PER_MTOK: Final = "LLM_PRICE_PER_MTOK"
    LLM_COST_BUDGET: Final = "LLM_COST_BUDGET"
    OPENCODE_CONFIG: Final = "OPENCODE_CONFIG"
    OPENCODE_BIN: Final = "OPENCODE_BIN"
    # git: seconds between checkpoints of the work tree (runtime.agent.checkpoint); 0 = none
    CHECKPOINT_SECONDS: Final = "CHECKPOINT_SECONDS"
    START_POINTS: Final = "START_POINTS"  # git: runtime.contract.start.encode(); "" = base
    # "1": an integration run: git merges START_POINTS into TASK_BRANCH (one merge commit
    # each, stopping at a conflict) and commits nothing of the work tree; the agent side
    # runs TEST_COMMAND (if any) on the result instead of opencode
    INTEGRATE: Final = "INTEGRATE"
    TEST_COMMAND: Final = "TEST_COMMAND"


REQUIRED: Final = (Env.TASK_ID, Env.TASK_TITLE, Env.REPO_URL, Env.BASE_BRANCH, Env.TASK_BRANCH)
"""What the ``git`` side needs."""
AGENT_REQUIRED: Final = (Env.TASK_ID, Env.TASK_TITLE)
"""What the ``agent`` side needs: it never sees the repository URL or pushes."""


class LLMRoute:
    """The proxy's routes: ``{LLM_PROXY_URL}/<name>/...`` goes to the route's base URL.

    Each is enabled by its key in the LLM Secret; the base URL may be set there too.
    Names of Secret keys (the ``llm-proxy`` container's environment):
    """

    OPENAI: Final = ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1")
    ANTHROPIC: Final = (
        "anthropic",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "https://api.anthropic.com/v1",
    )
    LLM: Final = ("llm", "LLM_API_KEY", "LLM_BASE_URL", "")  # any OpenAI-compatible API
    ALL: Final = (OPENAI, ANTHROPIC, LLM)
