"""The settings of either side of the pod, read from the environment the manifest sets.

The ``git`` side needs the repository (:data:`~runtime.contract.pod.REQUIRED`), the
``agent`` side only the task (:data:`~runtime.contract.pod.AGENT_REQUIRED`).  See
"Contract: agent pod" in ``docs/architecture.md`` for every variable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from runtime.contract import pod
from runtime.contract.pod import DEFAULT_AUTHOR_EMAIL, DEFAULT_AUTHOR_NAME, REQUIRED, Env
from runtime.contract.refs import branch_name_error, has_credentials
from runtime.contract.start import StartPoint, StartPointError, decode

DEFAULT_STALL_SECONDS = float(pod.DEFAULT_STALL_SECONDS)
DEFAULT_CHECKPOINT_SECONDS = float(pod.DEFAULT_CHECKPOINT_SECONDS)
DEFAULT_SETUP_SECONDS = float(pod.DEFAULT_SETUP_SECONDS)


class ConfigError(Exception):
    """The environment is missing or has invalid variables."""


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """Everything one side of an agent run needs to know."""

    task_id: str
    task_title: str
    repo_url: str
    base_branch: str
    task_branch: str
    task_dir: Path = Path(pod.TASK_DIR)
    workspace: Path = Path(pod.WORKSPACE)
    credentials_dir: Path = Path(pod.GIT_CREDENTIALS_DIR)
    home: Path = Path(pod.HOME)
    git_dir: Path = Path(pod.GIT_DIR)
    handoff_dir: Path = Path(pod.HANDOFF_DIR)
    allow_insecure_http: bool = False
    author_name: str = DEFAULT_AUTHOR_NAME
    author_email: str = DEFAULT_AUTHOR_EMAIL
    requested_by: str = ""
    model: str = ""
    deadline_s: float | None = None
    stall_s: float = DEFAULT_STALL_SECONDS
    setup_s: float = DEFAULT_SETUP_SECONDS  # the agent side: the setup script's time limit
    opencode_bin: str = "opencode"
    llm_usage_dir: Path | None = None  # the git side: where the LLM proxy's counts are
    start_points: tuple[StartPoint, ...] = ()  # the git side: prerequisites' work to merge
    integrate: bool = False  # an integration run (runtime.contract.pod.Env.INTEGRATE)
    test_command: str = ""  # the agent side of an integration run: what it runs
    feature: str = ""  # the git side: names the session ref; "" = the session is not kept
    checkpoint_s: float = DEFAULT_CHECKPOINT_SECONDS  # the git side: 0 = no checkpoints

    @property
    def clone_dir(self) -> Path:
        """The work tree (inside the workspace); its git dir is :attr:`git_dir`."""
        return self.workspace / pod.CLONE_DIR_NAME


def load(env: Mapping[str, str] | None = None, required: Sequence[str] = REQUIRED) -> AgentConfig:
    """Build the config from ``env`` (default ``os.environ``), requiring ``required``.

    Raises:
        ConfigError: listing every missing or invalid variable at once.
    """
    env = os.environ if env is None else env
    problems = [f"{name} is not set" for name in required if not env.get(name, "").strip()]
    deadline = _seconds(env, Env.AGENT_DEADLINE_SECONDS, None, problems)
    stall = _seconds(env, Env.AGENT_STALL_SECONDS, DEFAULT_STALL_SECONDS, problems)
    checkpoint = _seconds(
        env, Env.CHECKPOINT_SECONDS, DEFAULT_CHECKPOINT_SECONDS, problems, allow_zero=True
    )
    setup = _seconds(env, Env.AGENT_SETUP_SECONDS, DEFAULT_SETUP_SECONDS, problems)
    repo_url = env.get(Env.REPO_URL, "").strip()
    if repo_url and has_credentials(repo_url):
        problems.append(f"{Env.REPO_URL} must not contain credentials (use the git Secret)")
    for name in (Env.BASE_BRANCH, Env.TASK_BRANCH):
        why = branch_name_error(env[name].strip()) if env.get(name, "").strip() else None
        if why:
            problems.append(f"{name}={env[name]!r} is not a valid branch name: it {why}")
    start_points: tuple[StartPoint, ...] = ()
    try:
        start_points = decode(env.get(Env.START_POINTS, ""))
    except StartPointError as err:
        problems.append(f"{Env.START_POINTS} is invalid: {err}")
    if problems:
        raise ConfigError("; ".join(problems))
    return AgentConfig(
        task_id=env[Env.TASK_ID].strip(),
        task_title=env[Env.TASK_TITLE].strip().splitlines()[0],
        repo_url=repo_url,
        base_branch=env.get(Env.BASE_BRANCH, "").strip(),
        task_branch=env.get(Env.TASK_BRANCH, "").strip(),
        task_dir=Path(env.get(Env.TASK_DIR) or pod.TASK_DIR),
        workspace=Path(env.get(Env.WORKSPACE) or pod.WORKSPACE),
        credentials_dir=Path(env.get(Env.GIT_CREDENTIALS_DIR) or pod.GIT_CREDENTIALS_DIR),
        home=Path(env.get(Env.HOME) or pod.HOME),
        git_dir=Path(env.get(Env.CLONE_GIT_DIR) or pod.GIT_DIR),
        handoff_dir=Path(env.get(Env.HANDOFF_DIR) or pod.HANDOFF_DIR),
        allow_insecure_http=env.get(Env.ALLOW_INSECURE_HTTP, "").strip() == "1",
        author_name=env.get(Env.GIT_AUTHOR_NAME) or DEFAULT_AUTHOR_NAME,
        author_email=env.get(Env.GIT_AUTHOR_EMAIL) or DEFAULT_AUTHOR_EMAIL,
        requested_by=env.get(Env.REQUESTED_BY, "").strip(),
        model=env.get(Env.MODEL, "").strip(),
        deadline_s=deadline,
        stall_s=stall if stall is not None else DEFAULT_STALL_SECONDS,
        setup_s=setup if setup is not None else DEFAULT_SETUP_SECONDS,
        opencode_bin=env.get(Env.OPENCODE_BIN) or "opencode",
        llm_usage_dir=Path(env[Env.LLM_USAGE_DIR]) if env.get(Env.LLM_USAGE_DIR) else None,
        start_points=start_points,
        integrate=env.get(Env.INTEGRATE, "").strip() == "1",
        test_command=env.get(Env.TEST_COMMAND, "").strip(),
        feature=env.get(Env.FEATURE, "").strip(),
        checkpoint_s=checkpoint if checkpoint is not None else DEFAULT_CHECKPOINT_SECONDS,
    )


def _seconds(
    env: Mapping[str, str],
    name: str,
    default: float | None,
    problems: list[str],
    *,
    allow_zero: bool = False,
) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} is not a number of seconds")
        return default
    if not value > 0 and not (allow_zero and value == 0):  # NaN is neither
        least = "0 or more" if allow_zero else "greater than 0"
        problems.append(f"{name}={raw!r} must be {least}")
        return default
    return value
