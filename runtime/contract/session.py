"""A finished run's session, kept in git after its pod is gone; stdlib only.

The pod's trusted ``git`` side pushes one commit per run to :func:`session_ref`, a ref
outside ``refs/heads/`` (no branch, never checked out, never merged); its tree holds
:data:`LOG_FILE` (every line the git side printed, the result line last),
:data:`RESULT_FILE` (the result line's JSON) and, when the agent exported one,
:data:`SESSION_FILE` (opencode's session export, untrusted data).  A rerun appends a
commit whose parent is the previous run's.  The developer's side fetches the same ref
with its own git (``runtime.spawn.session``).  Both sides build the name from the
feature and the task ID with this one function.

:func:`checkpoint_ref` names the other ref a pod pushes beside its branch: the last
checkpoint of a running task's work tree, which a rerun after a hard fault continues
from.
"""

from __future__ import annotations

import re
from typing import Final

SESSION_REF_PREFIX: Final = "refs/speckit-pods/session"
CHECKPOINT_REF_PREFIX: Final = "refs/speckit-pods/wip"
LOG_FILE: Final = "log.txt"
RESULT_FILE: Final = "result.json"
SESSION_FILE: Final = "session.json"
MAX_LOG_BYTES: Final = 5 * 1024 * 1024  # log.txt keeps the tail of a longer log
MAX_SESSION_BYTES: Final = 20 * 1024 * 1024  # a bigger export is not kept
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def ref_component(text: str) -> str:
    """``text`` as one valid path component of a ref, or ``""``.

    Characters outside ``[A-Za-z0-9._-]`` become ``-``, runs of dots one dot; the ends
    are trimmed to alphanumerics (no leading ``.`` or ``-``, no ``.lock`` suffix).
    """
    value = re.sub(r"\.{2,}", ".", _UNSAFE.sub("-", text.strip()))
    value = value.strip("-_.")
    while value.endswith(".lock"):
        value = value[: -len(".lock")].strip("-_.")
    return value


def _task_ref(prefix: str, feature: str, task_id: str) -> str:
    feature_part, task_part = ref_component(feature), ref_component(task_id)
    if not feature_part or not task_part:
        return ""
    return f"{prefix}/{feature_part}/{task_part}"


def session_ref(feature: str, task_id: str) -> str:
    """``refs/speckit-pods/session/<feature>/<TID>``, or ``""`` when either is unusable."""
    return _task_ref(SESSION_REF_PREFIX, feature, task_id)


def checkpoint_ref(feature: str, task_id: str) -> str:
    """``refs/speckit-pods/wip/<feature>/<TID>``, or ``""`` when either is unusable.

    The running pod's checkpoints of its work tree (``runtime.agent.checkpoint``): one
    commit, forced on each checkpoint, whose parent is the commit the run started from;
    deleted once the task branch holds the run's work.
    """
    return _task_ref(CHECKPOINT_REF_PREFIX, feature, task_id)
