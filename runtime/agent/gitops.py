"""The git steps of the trusted side: clone, task branch, context files, commit, push.

The clone is split: its git dir (:attr:`Repo.git_dir`) lives on a volume the agent
mounts read-only, its work tree (:attr:`Repo.work_tree`) in the shared workspace.
Every git command names both explicitly (``GIT_DIR``, ``GIT_WORK_TREE``), so the
work tree's ``.git`` file, which the agent can rewrite, is never read; every command
runs with hooks and fsmonitor off and no system config (:data:`HARDENING`), and reads
only config the agent cannot write: the git dir's (read-only for it) and the git side's
own global file (``GIT_CONFIG_GLOBAL``, in a HOME the agent never mounts), so no
``url.*.insteadOf`` of the agent's applies.  Pushes go to the spawn URL itself (never
a remote name, so no ``pushurl``), with ``--`` before it, fast-forward only.

A rerun continues the work in progress: when the remote already has
``TASK_BRANCH`` (e.g. a WIP commit pushed after a timeout) the clone starts from
that branch instead of ``BASE_BRANCH``.

A task with start points (``runtime.contract.start``: its prerequisites' pushed
commits) starts from their work: each pinned commit is merged, in the given order,
onto the base (or onto the continued task branch), fast-forward when it can be.  A
commit already contained is skipped; a conflict aborts the merge and ends the run as
``conflict`` naming the files, before the agent ever starts.  The merges need
history, so such a clone fetches the branches in full instead of one commit deep.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from runtime.contract.outcome import Status
from runtime.contract.redact import scrub
from runtime.contract.start import StartPoint, describe

CONTEXT_DIR = ".speckit-pods/context"
# no trailing slash on ours: a file or link an agent puts there is excluded too
EXCLUDES = ("/.speckit-pods", "/.opencode/")
# before every subcommand: nothing the agent wrote is executed, paths are C-quoted
HARDENING = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.symlinks=true",  # a symlink is committed as a link, never as its target
    "-c", "core.quotePath=true",
    "-c", "commit.gpgSign=false",
    "-c", "protocol.ext.allow=never",
)  # fmt: skip
SAFE_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
AUTH_PATTERNS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "permission denied (publickey",
    "returned error: 401",
    "returned error: 403",
    "access denied",
    "invalid username or password",
    "host key verification failed",
)
NOT_FOUND_PATTERNS = (
    "repository not found",
    "does not appear to be a git repository",
    "returned error: 404",
    "could not find remote branch",
    "couldn't find remote ref",
    "not found in upstream",
    "no such device or address",
)
NOT_FOUND_RE = re.compile(r"repository '.*' not found|remote branch .* not found")


class GitError(Exception):
    """A git step failed; ``status`` says how to report it."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def classify(stderr: str) -> Status:
    """Map git's stderr to the status a failed clone/fetch/push reports."""
    text = stderr.lower()
    if any(p in text for p in AUTH_PATTERNS):
        return Status.GIT_AUTH_FAILED
    if any(p in text for p in NOT_FOUND_PATTERNS) or NOT_FOUND_RE.search(text):
        return Status.REPO_NOT_FOUND
    return Status.FAILED


def last_line(text: str) -> str:
    """The last non-empty line of git's output (the ``fatal:`` line, usually)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def reason_line(text: str) -> str:
    """One line saying why git failed.

    For a refused push that is the ``[remote rejected]`` / ``[rejected]`` line plus the
    server's own message (``remote: ...``), not git's generic last line
    ``error: failed to push some refs``.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    rejected = next((line for line in lines if "rejected]" in line), "")
    if not rejected:
        return last_line(text)
    said = [line[len("remote:") :].strip() for line in lines if line.startswith("remote:")]
    message = next((m for m in said if m), "")
    return f"{rejected}: {message}" if message else rejected


@dataclasses.dataclass(frozen=True)
class Repo:
    """The clone: its git dir and its work tree, always named explicitly."""

    git_dir: Path
    work_tree: Path

    @property
    def env(self) -> dict[str, str]:
        """``GIT_DIR`` and ``GIT_WORK_TREE``: git never looks for ``.git`` itself."""
        return {"GIT_DIR": str(self.git_dir), "GIT_WORK_TREE": str(self.work_tree)}


@dataclasses.dataclass(frozen=True)
class Git:
    """Runs git with the credential environment; secrets in ``redact`` never leave."""

    env: Mapping[str, str]
    redact: tuple[str, ...] = ()

    def run(
        self,
        args: Sequence[str],
        cwd: Path,
        *,
        repo: Repo | None = None,
        timeout: float = 120.0,
        stdin: str | None = None,
        failure: Status | None = None,
    ) -> str:
        """Run ``git args`` (in ``repo`` if given); return stdout; raise :class:`GitError`."""
        data = stdin.encode("utf-8") if stdin is not None else None
        out = self.run_bytes(args, cwd, repo=repo, timeout=timeout, data=data, failure=failure)
        return out.decode("utf-8", "replace")

    def run_bytes(
        self,
        args: Sequence[str],
        cwd: Path,
        *,
        repo: Repo | None = None,
        timeout: float = 120.0,
        data: bytes | None = None,
        failure: Status | None = None,
        env: Mapping[str, str] | None = None,
    ) -> bytes:
        """:meth:`run` for bytes in and out (``-z`` listings, blobs); ``env`` added last."""
        full = {**self.env, **SAFE_ENV, **(repo.env if repo else {}), **(env or {})}
        try:
            proc = subprocess.run(
                ["git", *HARDENING, *args],
                cwd=cwd,
                env=full,
                input=data,
                capture_output=True,
                timeout=timeout,
                stdin=None if data is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as err:
            raise GitError(Status.FAILED, f"git {args[0]} timed out after {timeout:.0f}s") from err
        if proc.returncode != 0:
            stderr = self.scrub(proc.stderr.decode("utf-8", "replace"))
            status = failure or classify(stderr)
            why = reason_line(stderr) or proc.returncode
            raise GitError(status, f"git {args[0]} failed: {why}")
        return proc.stdout

    def scrub(self, text: str) -> str:
        """Replace every secret in ``text`` with ``***``."""
        return scrub(text, self.redact)


@dataclasses.dataclass(frozen=True)
class Checkout:
    """The clone, on the task branch, and the commit the run starts from."""

    repo: Repo
    start: str
    resumed: bool
    merged: tuple[StartPoint, ...] = ()  # the start points merged in (not already there)
    restored_tree: str = ""  # a checkpoint's tree restored as uncommitted work (checkpoint.py)

    @property
    def path(self) -> Path:
        """The work tree."""
        return self.repo.work_tree


def remote_heads(git: Git, url: str, cwd: Path) -> set[str]:
    """Branch names on the remote (also proves that auth and the URL work)."""
    out = git.run(["ls-remote", "--heads", "--", url], cwd, timeout=120)
    return {line.split("refs/heads/", 1)[1] for line in out.splitlines() if "refs/heads/" in line}


def _empty(path: Path, keep: tuple[str, ...] = ()) -> None:
    """Empty directory ``path`` (it may be a mount point, so it stays), but for ``keep``."""
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.name in keep:
            continue
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink()
        else:
            shutil.rmtree(entry)


def prepare(
    git: Git, url: str, base: str, task: str, repo: Repo, points: tuple[StartPoint, ...] = ()
) -> Checkout:
    """Clone on ``task`` (continued if the remote has it, else new from ``base``).

    Then the start ``points`` are merged in (:func:`merge_points`).

    Raises:
        GitError: the clone failed, a branch is gone (``repo-not-found``), or the
            points do not merge (``conflict``).
    """
    resumed = _clone(git, url, base, task, repo, points)
    if not points:
        return Checkout(repo, head(git, repo), resumed)
    merged = merge_points(git, repo, points, onto=task if resumed else base)
    return Checkout(repo, head(git, repo), resumed, merged)


def _clone(
    git: Git, url: str, base: str, task: str, repo: Repo, points: tuple[StartPoint, ...]
) -> bool:
    """Check out ``task`` (the remote's, else new from ``base``); whether it was continued.

    With ``points`` their branches are fetched too, in full (merges need history).
    """
    repo.work_tree.parent.mkdir(parents=True, exist_ok=True)
    repo.git_dir.parent.mkdir(parents=True, exist_ok=True)
    heads = remote_heads(git, url, repo.work_tree.parent)
    if base not in heads:
        raise GitError(Status.REPO_NOT_FOUND, f"base branch {base!r} not found in {url}")
    for point in points:
        if point.branch not in heads:
            raise GitError(
                Status.REPO_NOT_FOUND,
                f"{point.task}'s branch {point.branch!r} (a prerequisite's work) is not in {url}",
            )
    resumed = task in heads
    start_from = task if resumed else base
    # the work tree and its .git are both mount points: init + fetch, never clone into them
    _empty(repo.git_dir)
    _empty(
        repo.work_tree, keep=(repo.git_dir.name,) if repo.git_dir.parent == repo.work_tree else ()
    )
    git.run(["init", "--quiet"], repo.work_tree, repo=repo)
    if repo.git_dir.parent != repo.work_tree:  # elsewhere: point the work tree at it
        (repo.work_tree / ".git").write_text(f"gitdir: {repo.git_dir}\n", encoding="utf-8")
    git.run(["config", "remote.origin.url", url], repo.work_tree, repo=repo)  # for the agent's git
    if not points:
        fetch = ["fetch", "--quiet", "--depth", "1", "--no-tags", "--", url]
        git.run([*fetch, f"refs/heads/{start_from}"], repo.work_tree, repo=repo, timeout=600)
        git.run(["checkout", "--quiet", "-B", task, "FETCH_HEAD"], repo.work_tree, repo=repo)
        return resumed
    refspecs = [f"refs/heads/{start_from}:{_START_REF}/start"]
    refspecs += [f"refs/heads/{p.branch}:{_START_REF}/{p.task}" for p in points]
    fetch = ["fetch", "--quiet", "--no-tags", "--", url, *refspecs]
    git.run(fetch, repo.work_tree, repo=repo, timeout=900)
    git.run(["checkout", "--quiet", "-B", task, f"{_START_REF}/start"], repo.work_tree, repo=repo)
    return resumed


@dataclasses.dataclass(frozen=True)
class Integration:
    """What one integration run merged into the integration branch."""

    before: str  # the branch's tip before this run (the base's for a new branch)
    merged: tuple[StartPoint, ...]  # merged now, one merge commit each, in order
    already: tuple[StartPoint, ...]  # held by the branch already (an earlier run)
    conflict: str = ""  # why it stopped before the rest; "" when every point is in
    conflict_files: tuple[str, ...] = ()


def integrate(
    git: Git, url: str, base: str, branch: str, repo: Repo, points: tuple[StartPoint, ...]
) -> tuple[Checkout, Integration]:
    """Merge each point into ``branch`` (continued, or new from ``base``), in order.

    One merge commit per task (``--no-ff``); a point the branch holds already is
    skipped; the first conflict stops the run, keeping the clean merges before it.

    Raises:
        GitError: the clone failed, or a branch or pinned commit is gone.
    """
    resumed = _clone(git, url, base, branch, repo, points)
    before = head(git, repo)
    _check_pinned(git, repo, points)
    merged: list[StartPoint] = []
    already: list[StartPoint] = []
    for point in points:
        if _contains(git, repo, point.commit, "HEAD"):
            already.append(point)
            continue
        message = f"Integrate {point.task} ({point.commit[:12]}, {point.branch})"
        files = _merge(git, repo, point.commit, message, fast_forward=False)
        if files:
            so_far = describe([*already, *merged]) if already or merged else base
            why = (
                f"stopped at {point.task}: its work ({point.commit[:12]}) conflicts with "
                f"{so_far} in: {_shown(files)}"
            )
            checkout = Checkout(repo, head(git, repo), resumed, tuple(merged))
            return checkout, Integration(before, tuple(merged), tuple(already), why, tuple(files))
        merged.append(point)
    checkout = Checkout(repo, head(git, repo), resumed, tuple(merged))
    return checkout, Integration(before, tuple(merged), tuple(already))


def _shown(files: list[str]) -> str:
    more = f" (+{len(files) - 10} more)" if len(files) > 10 else ""
    return ", ".join(files[:10]) + more


_START_REF = "refs/speckit-pods"  # in the pod's own clone only; never pushed


def _contains(git: Git, repo: Repo, ancestor: str, descendant: str) -> bool:
    try:
        git.run(["merge-base", "--is-ancestor", ancestor, descendant], repo.work_tree, repo=repo)
    except GitError:
        return False
    return True


def merge_points(
    git: Git, repo: Repo, points: tuple[StartPoint, ...], onto: str
) -> tuple[StartPoint, ...]:
    """Merge each point's pinned commit into HEAD, in order; return those merged.

    A pinned commit must still be on its branch (a rerun of the prerequisite moves the
    branch forward, which keeps it).  A commit HEAD or another point already contains
    is skipped.

    Raises:
        GitError: ``repo-not-found`` for a commit gone from its branch, ``conflict``
            (the merge aborted, nothing left half-merged) naming the files.
    """
    _check_pinned(git, repo, points)
    # a point another point's work already holds (T002 under T004, which started from
    # it) adds nothing: merging only the others keeps the history free of no-op merges
    tips = [p.commit for p in points]
    independent = set(
        git.run(["merge-base", "--independent", *tips], repo.work_tree, repo=repo).split()
    )
    merged: list[StartPoint] = []
    for point in points:
        if point.commit not in independent or _contains(git, repo, point.commit, "HEAD"):
            continue
        message = f"Start from {point.task} ({point.commit[:12]}, {point.branch})\n\n"
        message += "".join(f"Started-from: {p.task} {p.commit}\n" for p in points)
        files = _merge(git, repo, point.commit, message, fast_forward=True)
        if files:
            so_far = describe(merged) if merged else onto
            raise GitError(
                Status.CONFLICT,
                f"the work of {point.task} ({point.commit[:12]}) conflicts with {so_far} "
                f"in: {_shown(files)}",
            )
        merged.append(point)
    return tuple(merged)


def _check_pinned(git: Git, repo: Repo, points: tuple[StartPoint, ...]) -> None:
    """Each pinned commit must still be on its branch (a rerun moves it forward)."""
    for point in points:
        if not _contains(git, repo, point.commit, f"{_START_REF}/{point.task}"):
            raise GitError(
                Status.REPO_NOT_FOUND,
                f"{point.task}'s commit {point.commit[:12]} is no longer on {point.branch!r} "
                "(its history was rewritten): spawn the task again to pin its new commit",
            )


def _merge(git: Git, repo: Repo, commit: str, message: str, *, fast_forward: bool) -> list[str]:
    """Merge ``commit`` into HEAD; ``[]``, or the conflicting files (the merge aborted).

    Raises:
        GitError: the merge failed for another reason than a conflict.
    """
    argv = ["merge", "--quiet", "--no-edit", "--no-verify", "-m", message]
    argv += [] if fast_forward else ["--no-ff"]
    try:
        git.run([*argv, commit], repo.work_tree, repo=repo, timeout=600)
    except GitError:
        files = _unmerged(git, repo)
        _abort_merge(git, repo)
        if not files:
            raise
        return files
    return []


def _unmerged(git: Git, repo: Repo) -> list[str]:
    try:
        out = git.run(["diff", "--name-only", "--diff-filter=U"], repo.work_tree, repo=repo)
    except GitError:
        return []
    return [line for line in out.splitlines() if line]


def _abort_merge(git: Git, repo: Repo) -> None:
    try:
        git.run(["merge", "--abort"], repo.work_tree, repo=repo)
    except GitError:
        pass


def write_excludes(repo: Repo) -> None:
    """Keep the context copy and opencode's dir out of every commit (in the git dir)."""
    exclude = repo.git_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a", encoding="utf-8") as handle:
        handle.write("\n# speckit-pods\n" + "\n".join(EXCLUDES) + "\n")


def place_context(source: Path, clone: Path) -> int:
    """Copy the task's context files into the work tree (git-excluded); return how many.

    The work tree is the branch's, which an agent wrote: ``.speckit-pods`` or its
    ``context`` may be a symlink (or a file) it committed, pointing anywhere in this
    container, or hold links inside.  Such an entry is removed first, never followed,
    and the context directory is made anew (``rmtree`` unlinks links, never follows
    them): the copy only ever writes under the work tree.
    """
    if not source.is_dir():
        return 0
    target = clone / CONTEXT_DIR
    for entry in (target.parent, target):
        if entry.is_symlink() or (entry.exists() and not entry.is_dir()):
            entry.unlink()
    if target.is_dir():
        shutil.rmtree(target)
    # ConfigMap volumes hold "..data" symlink trees; copy the resolved files only.
    shutil.copytree(source, target, ignore=_hidden_configmap_entries, dirs_exist_ok=True)
    return sum(1 for path in target.rglob("*") if path.is_file())


def _hidden_configmap_entries(directory: str, names: list[str]) -> list[str]:
    return [name for name in names if name.startswith("..")]


def commit_message(
    task_id: str,
    title: str,
    requested_by: str,
    wip: str = "",
    started_from: tuple[StartPoint, ...] = (),
) -> str:
    """``T012: title`` (``WIP T012: title`` plus why when ``wip``) with trailers.

    ``Started-from: T002 <commit>`` records, in the history itself, the prerequisites'
    work the task started from (it outlives the pod and its annotation).
    """
    subject = f"{'WIP ' if wip else ''}{task_id}: {title}".strip()
    body = [f"Stopped early: {wip}"] if wip else []
    trailers = [f"Started-from: {p.task} {p.commit}" for p in started_from]
    trailers += [f"Co-authored-by: {requested_by}"] if requested_by else []
    parts = [subject, "\n".join(body), "\n".join(trailers)]
    return "\n\n".join(part for part in parts if part) + "\n"


def check_work_tree(repo: Repo) -> None:
    """Refuse a work tree that is not a plain directory.

    The agent can replace the work tree with a symlink (to the Secret's mount, say);
    git would then commit what it points at.  Checked after the agent container has
    exited, so nothing can swap it back in between.
    """
    try:
        mode = os.lstat(repo.work_tree).st_mode
    except OSError as err:
        raise GitError(Status.FAILED, f"the work tree is gone: {err.strerror}") from err
    if not stat.S_ISDIR(mode):
        raise GitError(Status.FAILED, "the work tree was replaced by something not a directory")


def commit_all(
    git: Git, repo: Repo, message: str, warn: Callable[[str], None] = lambda _: None
) -> bool:
    """Stage everything not excluded and commit; False when there was nothing.

    A file the git side cannot read (the agent made it mode 0600: another user owns
    it) is left out with a warning rather than losing the whole commit.
    """
    check_work_tree(repo)
    try:
        git.run(["add", "--all", "--ignore-errors"], repo.work_tree, repo=repo)
    except GitError as err:
        warn(f"[git] WARNING: some files were left out of the commit: {err.message}")
    if not git.run(["diff", "--cached", "--name-only"], repo.work_tree, repo=repo).strip():
        return False
    commit = ["commit", "--quiet", "--no-verify", "--file", "-"]
    git.run(commit, repo.work_tree, repo=repo, stdin=message)
    return True


def head(git: Git, repo: Repo) -> str:
    """The current commit id."""
    return git.run(["rev-parse", "HEAD"], repo.work_tree, repo=repo).strip()


def changed_files(git: Git, repo: Repo, start: str, end: str = "HEAD") -> tuple[str, ...]:
    """Files that differ between ``start`` and ``end`` (C-quoted when unusual)."""
    out = git.run(["diff", "--name-only", start, end, "--"], repo.work_tree, repo=repo)
    return tuple(line for line in out.splitlines() if line)


def push(
    git: Git,
    repo: Repo,
    url: str,
    branch: str,
    deadline: Callable[[], float],
    *,
    attempts: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    head: str = "HEAD",
) -> None:
    """Push ``head`` (a commit) to ``url``'s ``branch``, fast-forward only, with retries.

    It gives up at ``deadline()``.

    ``deadline`` is asked again before every attempt, so a SIGTERM arriving during
    the push shortens the remaining budget.
    """
    delay = 2.0
    error = GitError(Status.PUSH_REJECTED, f"push to {branch!r} was not attempted")
    refspec = f"{head}:refs/heads/{branch}"  # no "+": a rewritten history is refused
    for attempt in range(1, attempts + 1):
        left = deadline() - time.monotonic()
        if left < 1:
            break
        try:
            argv = ["push", "--quiet", "--no-verify", "--", url, refspec]
            git.run(argv, repo.work_tree, repo=repo, timeout=min(60, left))
            return
        except GitError as err:
            error = err
            if err.status is Status.GIT_AUTH_FAILED:
                break
        if attempt < attempts and deadline() - time.monotonic() > delay + 1:
            sleep(delay)
            delay *= 2
    status = (
        Status.GIT_AUTH_FAILED if error.status is Status.GIT_AUTH_FAILED else Status.PUSH_REJECTED
    )
    raise GitError(status, f"push to branch {branch!r} failed: {error.message}")
