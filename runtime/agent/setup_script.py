"""The repository's own setup: ``.speckit-pods/setup.sh``, run before the agent starts.

Like Codex's setup script or Copilot's ``copilot-setup-steps``: a repository that needs
more than the image gives (its dependencies, a tool of its own) commits a script that
installs it.  The agent side runs it in the untrusted ``agent`` container, in the work
tree the ``git`` side checked out at the task's start commit, before opencode (or an
integration's tests) and before anything else runs there: the script is the committed
one, nothing an agent of this run could have planted.  The ``git`` side never runs it.

It runs with ``bash`` (``sh`` when the image has none) as ``bash .speckit-pods/setup.sh``,
with the agent's environment (no secret exists in this container), its output relayed
with ``[setup] ``, under its own time limit (``AGENT_SETUP_SECONDS``) and the run's
deadline.  A non-zero exit or the limit ends the run ``setup-failed`` with the last
lines of its output in the reason: opencode is never started, the LLM never asked.

The root filesystem is read-only and the user not root: it installs into the work tree
(what ``.gitignore`` does not ignore is committed with the agent's work) or ``$HOME``;
``$HOME/.local/bin`` comes first on ``PATH`` for it, the agent and the tests
(``pip install --user``, ``npm --prefix ~/.local``, ``GOBIN=~/.local/bin``).
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.agent import shell
from runtime.agent.handoff import MAX_REASON_CHARS, Verdict, clean_text
from runtime.contract.outcome import Status
from runtime.contract.pod import SETUP_SCRIPT

PREFIX = "[setup] "
LAST_LINES = 10  # of the output, in a failure's reason
LINE_CHARS = 160  # each of them at most
USER_BIN = Path(".local") / "bin"

Emit = Callable[[str], None]


def user_env(base: Mapping[str, str], home: Path) -> dict[str, str]:
    """``base`` with ``HOME`` and ``$HOME/.local/bin`` first on ``PATH``."""
    env = dict(base)
    env["HOME"] = str(home)
    path = env.get("PATH") or os.defpath
    env["PATH"] = os.pathsep.join([str(home / USER_BIN), path])
    return env


def locate(work_tree: Path, emit: Emit) -> tuple[Path | None, str]:
    """The script in ``work_tree`` (``None``: there is none) and why it is refused ("": it is not).

    Neither ``.speckit-pods`` nor the script is followed when it is a symlink.
    """
    directory = (work_tree / SETUP_SCRIPT).parent
    try:
        if not stat.S_ISDIR(os.lstat(directory).st_mode):
            emit(f"[agent] WARNING: {directory.name} is not a directory: no setup script read")
            return None, ""
        mode = os.lstat(work_tree / SETUP_SCRIPT).st_mode
    except FileNotFoundError:
        return None, ""
    if stat.S_ISLNK(mode):
        return None, f"{SETUP_SCRIPT} is a symlink: refused (commit the script itself)"
    if not stat.S_ISREG(mode):
        return None, f"{SETUP_SCRIPT} is not a regular file: refused"
    return work_tree / SETUP_SCRIPT, ""


def failure_reason(head: str, last: tuple[str, ...]) -> str:
    """``head; last lines: a | b | c``, cleaned, the earliest lines dropped to fit a verdict."""
    lines = [clean_text(line.strip(), LINE_CHARS) for line in last if line.strip()]

    def text() -> str:
        return f"{head}; last lines: {' | '.join(lines)}" if lines else f"{head}; no output"

    while len(lines) > 1 and len(text()) > MAX_REASON_CHARS:
        lines.pop(0)
    return text()


def run_setup(
    work_tree: Path,
    *,
    env: Mapping[str, str],
    limit_s: float,
    deadline: float | None,
    stop_requested: threading.Event,
    emit: Emit,
) -> Verdict | None:
    """Run the setup script; ``None`` when there is none or it succeeded, else the verdict."""
    script, refused = locate(work_tree, emit)
    if refused:
        return Verdict(Status.SETUP_FAILED, refused)
    if script is None:
        return None
    interpreter = shutil.which("bash", path=env.get("PATH")) or "sh"
    emit(f"[agent] running the repository's setup script {SETUP_SCRIPT} (limit {limit_s:.0f}s)")
    started = time.monotonic()
    own_end = started + limit_s
    ran = shell.run_relayed(
        [interpreter, SETUP_SCRIPT],
        cwd=work_tree,
        env=env,
        deadline=own_end if deadline is None else min(own_end, deadline),
        stop_requested=stop_requested,
        emit=emit,
        prefix=PREFIX,
        keep=LAST_LINES,
    )
    if ran.stopped == "killed":
        return Verdict(Status.KILLED, "terminated by a signal during the setup script")
    if ran.stopped == "timeout":
        if deadline is not None and deadline <= own_end:
            return Verdict(Status.TIMEOUT, "the run's deadline passed during the setup script")
        head = f"setup script ran out of its {limit_s:.0f}s (--setup-timeout)"
        return Verdict(Status.SETUP_FAILED, failure_reason(head, ran.last))
    if ran.code != 0:
        how = f"exited {ran.code}" if ran.code > 0 else f"was killed by signal {-ran.code}"
        return Verdict(Status.SETUP_FAILED, failure_reason(f"setup script {how}", ran.last))
    emit(f"[agent] setup script done in {time.monotonic() - started:.1f}s")
    return None
