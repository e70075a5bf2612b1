"""Completion markers for the agentic spec-kit fork's implement flow.

The fork (tikalk/agentic-sdlc-spec-kit) polls, per delegated task::

    $FEATURE_DIR/.async_state/delegation_completed/<TID>.txt   -> "completed"
    $FEATURE_DIR/.async_state/delegation_errors/<TID>.txt      -> "failed"

It checks only whether the files exist (completed first), so the content is ours:
``key: value`` lines describing the run.  Writing one marker removes the other,
so a retried task never shows both.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from runtime.common.files import write_atomic
from runtime.common.timestamps import rfc3339
from runtime.follow.classify import Outcome

STATE_DIR = ".async_state"
COMPLETED = "delegation_completed"
ERRORS = "delegation_errors"


def state_dir(feature_dir: Path) -> Path:
    """Return ``$FEATURE_DIR/.async_state``."""
    return feature_dir / STATE_DIR


def marker_text(task_id: str, outcome: Outcome, pod: str, now: datetime.datetime) -> str:
    """Render the marker file's content."""
    result = outcome.result
    fields = {
        "task": task_id,
        "status": outcome.status.value,
        "exit_code": str(outcome.status.exit_code),
        "pod": pod,
        "branch": result.branch if result else "",
        "commit": result.commit if result else "",
        "files_changed": str(len(result.files_changed)) if result else "0",
        "finished_at": rfc3339(now),
        "reason": " ".join(outcome.reason.split()),
    }
    return "".join(f"{key}: {value}\n" for key, value in fields.items())


def record(
    feature_dir: Path,
    task_id: str,
    outcome: Outcome,
    pod: str,
    *,
    create: bool = False,
    now: datetime.datetime | None = None,
) -> Path | None:
    """Write the completed or error marker for ``task_id``.

    Args:
        feature_dir: the feature directory holding tasks.md.
        task_id: e.g. ``T012``.
        outcome: how the pod ended; success writes ``delegation_completed``.
        pod: the pod name, recorded in the file.
        create: create ``.async_state/`` when missing (else do nothing).
        now: the finish time to record (default: now).

    Returns:
        The marker written, or ``None`` when ``.async_state/`` does not exist.
    """
    root = state_dir(feature_dir)
    if not root.is_dir() and not create:
        return None
    kind, other = (COMPLETED, ERRORS) if outcome.status.ok else (ERRORS, COMPLETED)
    path = root / kind / f"{task_id}.txt"
    text = marker_text(task_id, outcome, pod, now or datetime.datetime.now(datetime.UTC))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))
    (root / other / f"{task_id}.txt").unlink(missing_ok=True)
    return path
