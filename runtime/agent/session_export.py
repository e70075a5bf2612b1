"""The agent side's last step before its verdict: ``opencode export`` into the handoff dir.

opencode keeps its sessions in the agent's HOME (a volume gone with the pod).  Once
``opencode run`` has ended, ``opencode export <sessionID>`` (the ID from the run's JSON
events) prints the whole session as JSON on stdout; it is written to
``session.json`` in the handoff directory, where the ``git`` side picks it up as
untrusted data (``runtime.agent.session_store``) and keeps it in git with the log.
Best effort: a missing session, a failed or slow export loses the export, never the
run; on SIGTERM it gets a few seconds only (the git side's push matters more).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.agent import handoff, opencode
from runtime.contract.pod import Handoff
from runtime.contract.session import MAX_SESSION_BYTES

EXPORT_TIMEOUT_S = 20.0
STOPPING_TIMEOUT_S = 4.0  # after SIGTERM: the grace period is the git side's
_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def export(
    binary: str,
    session_id: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    directory: Path,
    stopping: bool,
    emit: Callable[[str], None],
) -> bool:
    """Write ``opencode export <session_id>`` to ``directory/session.json``; whether it did."""
    if not _SESSION_ID.match(session_id):
        emit("[agent] no opencode session to export (no session ID in its events)")
        return False
    timeout = STOPPING_TIMEOUT_S if stopping else EXPORT_TIMEOUT_S
    data, why = _run_export([binary, "export", session_id], cwd, env, timeout)
    if data is None:
        emit(f"[agent] WARNING: the opencode session was not exported: {why}")
        return False
    try:
        handoff.write_atomic(directory, Handoff.SESSION, data)
    except OSError as err:
        emit(f"[agent] WARNING: cannot write the session export: {err.strerror}")
        return False
    emit(f"[agent] opencode session {session_id} exported ({len(data) // 1024} KiB)")
    return True


def _run_export(
    argv: list[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> tuple[bytes | None, str]:
    """The export (opencode's stdout), or ``None`` and why not."""
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as err:
        return None, f"cannot start {argv[0]}: {err.strerror}"
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        opencode.terminate_group(proc, grace=1.0)
        proc.communicate()
        return None, f"opencode export took longer than {timeout:.0f}s"
    if proc.returncode != 0:
        return None, f"opencode export exited with code {proc.returncode}"
    if len(out) > MAX_SESSION_BYTES:
        return None, f"the export is over {MAX_SESSION_BYTES // (1024 * 1024)} MiB"
    if not out.strip():
        return None, "opencode export printed nothing"
    return out, ""
