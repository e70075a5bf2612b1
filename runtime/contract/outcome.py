"""How an agent run ended: the statuses, their exit codes and the result line.

This module is the contract between the agent pod (``runtime.agent``) and the
developer's side (``tail-logs.sh``, the dispatcher).  It uses the standard library
only because it also runs inside the agent image.

The pod prints exactly one result line as its last line of output::

    SPECKIT_POD_RESULT {"task": "T012", "status": "succeeded", ...}

and exits with the status's exit code.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from typing import Any

from runtime.contract.exit_codes import ExitCode
from runtime.contract.start import StartPoint, StartPointError, from_json

RESULT_PREFIX = "SPECKIT_POD_RESULT "
NO_VERDICT = "the agent container ended without a verdict"  # the reason, when it did
# json.dumps(ensure_ascii=False) leaves these raw, and str.splitlines() breaks a line at
# them: a file name holding one could split the result line and forge a second one
_LINE_BREAKERS = {c: f"\\u{c:04x}" for c in (*range(0x7F, 0xA0), 0x2028, 0x2029)}


class Status(enum.StrEnum):
    """Final state of one agent run."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the agent or the LLM failed (error event, rejected permission)
    NO_CHANGES = "no-changes"  # the agent finished but changed nothing
    STALLED = "stalled"  # no output for the watchdog period
    TIMEOUT = "timeout"  # the run's deadline passed
    KILLED = "killed"  # SIGTERM from outside (pod deleted, node drained)
    GIT_AUTH_FAILED = "git-auth-failed"  # the git server refused our credentials
    REPO_NOT_FOUND = "repo-not-found"  # the repository or base branch does not exist
    PUSH_REJECTED = "push-rejected"  # the push failed after retries
    CONFLICT = "conflict"  # the prerequisites' work does not merge; the agent never ran
    OVER_BUDGET = "over-budget"  # the LLM proxy counted a budget spent (--max-tokens, --max-cost)
    SETUP_FAILED = "setup-failed"  # the repository's setup script failed; the agent never ran
    UNKNOWN = "unknown"  # the pod ended without a result line and no known reason

    @property
    def exit_code(self) -> ExitCode:
        """Exit code used by the pod and by ``tail-logs.sh`` for this status."""
        return EXIT_CODES[self]

    @property
    def ok(self) -> bool:
        """Whether this status counts as success."""
        return self is Status.SUCCEEDED


EXIT_CODES: dict[Status, ExitCode] = {status: ExitCode[status.name] for status in Status}


def status_for_exit_code(code: int) -> Status | None:
    """Map a container exit code back to a status, if it is one of ours."""
    for status, value in EXIT_CODES.items():
        if value == code:
            return status
    return None


@dataclasses.dataclass(frozen=True)
class Result:
    """The machine-readable summary of one agent run."""

    task: str
    status: Status
    branch: str = ""
    commit: str = ""
    files_changed: tuple[str, ...] = ()
    duration_s: float = 0.0
    reason: str = ""
    # counted by the pod's LLM proxy (trusted), not claimed by the agent
    llm_requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    # those tokens at the developer's price (US dollars), from the proxy too; None: no price.
    # opencode's own cost is never used: it is computed where the agent can change it
    cost_usd: float | None = None
    # where the run started: the prerequisites' commits merged onto the base, and the
    # commit the agent got (its own diff is start_commit..commit)
    started_from: tuple[StartPoint, ...] = ()
    start_commit: str = ""

    def to_line(self) -> str:
        """Render the single result line the pod prints last."""
        payload: dict[str, Any] = dataclasses.asdict(self)
        payload["status"] = self.status.value
        payload["files_changed"] = list(self.files_changed)
        payload["started_from"] = [point.to_json() for point in self.started_from]
        payload["duration_s"] = round(self.duration_s, 1)
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return RESULT_PREFIX + text.translate(_LINE_BREAKERS)

    @classmethod
    def from_line(cls, line: str) -> Result | None:
        """Parse a result line; ``None`` when the line is not one."""
        text = line.strip()
        if not text.startswith(RESULT_PREFIX.strip()):
            return None
        try:
            data = json.loads(text[len(RESULT_PREFIX.strip()) :])
            return cls(
                task=str(data["task"]),
                status=Status(data["status"]),
                branch=str(data.get("branch", "")),
                commit=str(data.get("commit", "")),
                files_changed=tuple(str(f) for f in data.get("files_changed", [])),
                duration_s=float(data.get("duration_s", 0.0)),
                reason=str(data.get("reason", "")),
                llm_requests=int(data.get("llm_requests", 0)),
                input_tokens=int(data.get("input_tokens", 0)),
                output_tokens=int(data.get("output_tokens", 0)),
                cost_usd=_cost(data.get("cost_usd")),
                started_from=from_json(data.get("started_from", [])),
                start_commit=str(data.get("start_commit", "")),
            )
        except (ValueError, KeyError, TypeError, StartPointError):
            return None


def _cost(value: object) -> float | None:
    """A result line's ``cost_usd``: ``None`` when absent or null (a line from before it)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("cost_usd is not a number")
    cost = float(value)
    if not math.isfinite(cost) or cost < 0:
        raise ValueError("cost_usd is not an amount")
    return cost
