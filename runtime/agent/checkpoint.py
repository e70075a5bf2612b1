"""Checkpoints of the work tree while the agent runs, and a rerun's restore of the last one.

A graceful end (SIGTERM) commits and pushes the work as a WIP commit; a hard fault (the
node lost, the pod OOM-killed as a whole) gives the git side no chance to.  So every
``CHECKPOINT_SECONDS`` the trusted side snapshots the work tree into a commit whose
parent is HEAD and force-pushes it to :func:`~runtime.contract.session.checkpoint_ref`
(``refs/speckit-pods/wip/<feature>/<TID>``), beside the task branch, which it never
touches.  A rerun whose start commit is that parent restores the snapshot's tree as
uncommitted changes (:func:`restore`); once the task branch holds the run's work the ref
is deleted (:func:`discard`).

The agent is running while a checkpoint is taken, so ``git add`` cannot be used: git
opens the paths it found by name, and an agent swapping a file or directory for a
symlink in between would have git read what the link points at (the git Secret, say).
Instead this module lists the candidates with git (``ls-files --cached --others
--exclude-standard`` on a private index: the same excludes as the final commit) and
reads each one itself, component by component relative to directory descriptors with
``O_NOFOLLOW``: a symlink is recorded as a link, never followed, whatever is swapped
in.  Blobs are written as loose objects by this process (nothing is filtered or
executed), the private index (``GIT_INDEX_FILE`` in the git dir, which the agent
cannot write) is filled with ``update-index --index-info`` and ``write-tree`` makes
the tree.  The clone's HEAD, index and branch are never touched.  Paths under
:data:`~runtime.agent.gitops.EXCLUDES` (the context copy) and ``.git`` components are
never read.  A file over :data:`MAX_FILE_BYTES` keeps HEAD's version.

Each checkpoint runs interruptibly (:class:`~runtime.agent.shutdown.Shutdown`): a
SIGTERM during one stops it at once (git children are killed), so the WIP push keeps
its whole budget.  A failed checkpoint is one ``[git] WARNING:`` line; the run goes on.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import hashlib
import os
import stat
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from runtime.agent import gitops
from runtime.agent.config import AgentConfig
from runtime.agent.gitops import Checkout, Git, GitError, Repo
from runtime.agent.shutdown import Shutdown, TerminatedError
from runtime.contract.session import checkpoint_ref

Emit = Callable[[str], None]
INDEX_FILE = "speckit-pods-checkpoint.index"  # in the git dir: the agent cannot write it
LOCAL_REF = "refs/speckit-pods/checkpoint"  # the fetched checkpoint, in the pod's clone only
STEP_TIMEOUT_S = 60.0
PUSH_TIMEOUT_S = 30.0
MAX_FILE_BYTES = 50 * 1024 * 1024
CHUNK = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_SKIPPED = tuple(e.strip("/").encode() for e in gitops.EXCLUDES)
_ZERO = "0" * 40
StatKey = tuple[int, int, int, int, int, int]


class UnreadableError(Exception):
    """A path the snapshot leaves as HEAD has it (unreadable, or too big)."""


def _safe_path(path: bytes) -> bool:
    parts = path.split(b"/")
    if any(part.lower() in (b".git", b"", b".", b"..") for part in parts):
        return False
    return not any(path == skip or path.startswith(skip + b"/") for skip in _SKIPPED)


def _open_parent(root: int, path: bytes) -> tuple[int, bytes]:
    """A descriptor of ``path``'s directory, opened without following any link."""
    *dirs, name = path.split(b"/")
    fd = os.dup(root)
    try:
        for part in dirs:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, name


def _stat_key(st: os.stat_result) -> StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


class Objects:
    """Loose blobs written by this process into the git dir (SHA-1 repositories)."""

    def __init__(self, git_dir: Path) -> None:
        self.dir = git_dir / "objects"
        self.cache: dict[bytes, tuple[StatKey, str, str]] = {}  # path -> stat, mode, blob

    def write(self, data_chunks: list[bytes], size: int) -> str:
        """Store one blob of ``size`` bytes made of ``data_chunks``; its id."""
        digest = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
        packer = zlib.compressobj()
        fd, tmp = tempfile.mkstemp(prefix="tmp_obj_", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(packer.compress(b"blob %d\0" % size))
                for chunk in data_chunks:
                    digest.update(chunk)
                    out.write(packer.compress(chunk))
                out.write(packer.flush())
            sha = digest.hexdigest()
            target = self.dir / sha[:2] / sha[2:]
            target.parent.mkdir(exist_ok=True)
            if target.exists():
                os.unlink(tmp)
            else:
                os.chmod(tmp, 0o444)
                os.replace(tmp, target)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise
        return sha

    def entry(self, root: int, path: bytes) -> tuple[str, str] | None:
        """``(mode, blob)`` of ``path`` in the work tree, ``None`` when it is gone.

        Raises:
            UnreadableError: a file this side may not read, or over :data:`MAX_FILE_BYTES`.
        """
        try:
            parent, name = _open_parent(root, path)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None  # gone, or a link now stands where a directory was
            raise UnreadableError(path) from err
        try:
            return self._entry(parent, path, name)
        finally:
            os.close(parent)

    def _entry(self, parent: int, path: bytes, name: bytes) -> tuple[str, str] | None:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None
        key = _stat_key(st)
        cached = self.cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=parent)
            found = ("120000", self.write([target], len(target)))
        elif stat.S_ISREG(st.st_mode):
            mode = "100755" if st.st_mode & stat.S_IXUSR else "100644"
            found = (mode, self._file(parent, path, name, st))
        else:
            return None  # a directory (a nested repository), a FIFO, a socket: as git add
        self.cache[path] = (key, *found)
        return found

    def _file(self, parent: int, path: bytes, name: bytes, st: os.stat_result) -> str:
        if st.st_size > MAX_FILE_BYTES:
            raise UnreadableError(path)
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=parent)
        except OSError as err:
            raise UnreadableError(path) from err
        with os.fdopen(fd, "rb") as handle:
            opened = os.fstat(handle.fileno())
            if not stat.S_ISREG(opened.st_mode) or opened.st_ino != st.st_ino:
                raise UnreadableError(path)  # swapped since the stat
            chunks, size = [], 0
            while size <= MAX_FILE_BYTES and (chunk := handle.read(CHUNK)):
                chunks.append(chunk)
                size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise UnreadableError(path)
        return self.write(chunks, size)


@dataclasses.dataclass
class Checkpoints:
    """The git side's checkpoint loop state for one run."""

    cfg: AgentConfig
    git: Git
    checkout: Checkout
    shutdown: Shutdown
    emit: Emit
    ref: str
    last_tree: str
    clock: Callable[[], float] = time.monotonic
    next_at: float = 0.0
    objects: Objects | None = None

    def __post_init__(self) -> None:
        self.next_at = self.clock() + self.cfg.checkpoint_s
        self.objects = Objects(self.checkout.repo.git_dir)

    @property
    def repo(self) -> Repo:
        """The clone."""
        return self.checkout.repo

    def poll(self) -> str:
        """Take a checkpoint when one is due; its commit, or ``""``."""
        if self.clock() < self.next_at:
            return ""
        self.shutdown.interruptible = True
        try:
            if self.shutdown.requested.is_set():
                return ""
            return self.take()
        except TerminatedError:
            self.emit("[git] checkpoint stopped by SIGTERM: the work is committed now instead")
            return ""
        finally:
            self.shutdown.interruptible = False
            self.next_at = self.clock() + self.cfg.checkpoint_s

    def take(self) -> str:
        """Snapshot the work tree, push it if it changed; the commit pushed, or ``""``."""
        try:
            tree, left_out = self.snapshot()
            if tree == self.last_tree:
                return ""
            files = self._count(tree)
            message = f"WIP checkpoint {self.cfg.task_id} ({files} files)\n"
            argv = ["commit-tree", tree, "-p", self.checkout.start, "-F", "-"]
            commit = self._git(argv, stdin=message).strip()
            push = [
                "push",
                "--quiet",
                "--no-verify",
                "--",
                self.cfg.repo_url,
                f"+{commit}:{self.ref}",
            ]
            self._git(push, timeout=PUSH_TIMEOUT_S)
        except (GitError, OSError) as err:
            why = err.message if isinstance(err, GitError) else f"{err.strerror or err}"
            self.emit(f"[git] WARNING: checkpoint not saved: {why}")
            return ""
        self.last_tree = tree
        note = f"; {left_out} unreadable or over {MAX_FILE_BYTES >> 20} MiB left as HEAD has them"
        extra = note if left_out else ""
        self.emit(f"[git] checkpoint {commit[:12]} ({files} file(s)) pushed to {self.ref}{extra}")
        return commit

    def snapshot(self) -> tuple[str, int]:
        """The work tree's tree (what the final commit would hold) and how many paths kept HEAD's.

        Raises:
            GitError: a git step failed.
            OSError: the work tree cannot be opened (replaced by a link, gone).
        """
        assert self.objects is not None
        gitops.check_work_tree(self.repo)
        self._git(["read-tree", self.checkout.start])
        listing = self._git_bytes(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        paths = sorted({p for p in listing.split(b"\0") if p and _safe_path(p)})
        root = os.open(self.repo.work_tree, _DIR_FLAGS)
        lines, left_out = [], 0
        try:
            for path in paths:
                try:
                    found = self.objects.entry(root, path)
                except UnreadableError:
                    left_out += 1
                    continue
                mode, blob = found if found is not None else ("0", _ZERO)
                lines.append(f"{mode} {blob}\t".encode() + path + b"\0")
        finally:
            os.close(root)
        self._git_bytes(["update-index", "-z", "--index-info"], b"".join(lines))
        return self._git(["write-tree"]).strip(), left_out

    def _count(self, tree: str) -> int:
        out = self._git_bytes(["diff-tree", "-r", "-z", "--name-only", self.checkout.start, tree])
        return len([p for p in out.split(b"\0") if p])

    def _env(self) -> dict[str, str]:
        return {"GIT_INDEX_FILE": str(self.repo.git_dir / INDEX_FILE)}

    def _git(self, args: list[str], stdin: str = "", timeout: float = STEP_TIMEOUT_S) -> str:
        data = stdin.encode("utf-8")
        return self._git_bytes(args, data, timeout).decode("utf-8", "replace")

    def _git_bytes(
        self, args: list[str], data: bytes = b"", timeout: float = STEP_TIMEOUT_S
    ) -> bytes:
        return self.git.run_bytes(
            args, self.repo.work_tree, repo=self.repo, timeout=timeout, data=data, env=self._env()
        )


def start(
    cfg: AgentConfig, git: Git, checkout: Checkout, shutdown: Shutdown, emit: Emit
) -> Checkpoints | None:
    """The checkpoint loop of this run, or ``None`` (said once) when it takes none."""
    if cfg.integrate or cfg.checkpoint_s <= 0:
        return None
    ref = checkpoint_ref(cfg.feature, cfg.task_id)
    if not ref:
        emit("[git] no checkpoints: the pod's environment names no FEATURE")
        return None
    if len(checkout.start) != 40:
        emit("[git] no checkpoints: the clone does not use SHA-1 object ids")
        return None
    try:
        head_tree = git.run(
            ["rev-parse", f"{checkout.start}^{{tree}}"], checkout.path, repo=checkout.repo
        )
    except GitError as err:
        emit(f"[git] WARNING: no checkpoints: {err.message}")
        return None
    last = checkout.restored_tree or head_tree.strip()
    every = f"{cfg.checkpoint_s:g}"
    emit(f"[git] checkpoints of the work tree every {every}s to {ref}")
    return Checkpoints(cfg, git, checkout, shutdown, emit, ref, last)


# --- a rerun: continue from the last checkpoint ---------------------------------------


def restore(cfg: AgentConfig, git: Git, checkout: Checkout, emit: Emit) -> Checkout:
    """Restore the remote's checkpoint into the work tree when it was taken on this start.

    Its tree becomes the work tree and the index (HEAD stays the start), so the work
    shows as uncommitted changes and the final commit holds it as usual.  Returns the
    checkout, with :attr:`~runtime.agent.gitops.Checkout.restored_tree` set if restored.
    A checkpoint that cannot be read is a warning; the run then starts without it.
    """
    ref = checkpoint_ref(cfg.feature, cfg.task_id)
    if not ref or cfg.integrate:
        return checkout
    repo, where = checkout.repo, checkout.path
    try:
        if not git.run(
            ["ls-remote", "--", cfg.repo_url, ref], where, timeout=STEP_TIMEOUT_S
        ).strip():
            return checkout
        fetch = ["fetch", "--quiet", "--no-tags", "--depth", "1", "--", cfg.repo_url]
        git.run([*fetch, f"+{ref}:{LOCAL_REF}"], where, repo=repo, timeout=300)
        raw = git.run(["cat-file", "commit", LOCAL_REF], where, repo=repo)
        commit = git.run(["rev-parse", LOCAL_REF], where, repo=repo).strip()
    except GitError as err:
        emit(f"[git] WARNING: the checkpoint in {ref} was not read: {err.message}")
        return checkout
    headers = raw.split("\n\n", 1)[0].splitlines()
    parents = [line.split()[1] for line in headers if line.startswith("parent ")]
    tree = next((line.split()[1] for line in headers if line.startswith("tree ")), "")
    if parents != [checkout.start]:
        taken_on = parents[0][:12] if parents else "no parent"
        emit(
            f"[git] checkpoint {commit[:12]} ignored: taken on {taken_on}, "
            f"the task starts at {checkout.start[:12]}"
        )
        return checkout
    try:
        git.run(["read-tree", "-m", "-u", checkout.start, commit], where, repo=repo, timeout=600)
    except GitError as err:
        emit(f"[git] WARNING: checkpoint {commit[:12]} not restored: {err.message}")
        return checkout
    emit(f"[git] continuing from checkpoint {commit[:12]} (taken {_taken(headers)})")
    return dataclasses.replace(checkout, restored_tree=tree)


def _taken(headers: list[str]) -> str:
    line = next((h for h in headers if h.startswith("committer ")), "")
    try:
        stamp = int(line.rsplit(" ", 2)[1])
    except (IndexError, ValueError):
        return "at an unknown time"
    when = datetime.datetime.fromtimestamp(stamp, datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def discard(cfg: AgentConfig, git: Git, repo: Repo, deadline: float, emit: Emit) -> None:
    """Delete the remote's checkpoint ref, once the task branch holds the work (best effort)."""
    ref = checkpoint_ref(cfg.feature, cfg.task_id)
    left = deadline - time.monotonic()
    if not ref or cfg.integrate or left < 2:
        return
    try:
        timeout = min(PUSH_TIMEOUT_S, left)
        if not git.run(
            ["ls-remote", "--", cfg.repo_url, ref], repo.work_tree, timeout=timeout
        ).strip():
            return
        timeout = max(1.0, min(PUSH_TIMEOUT_S, deadline - time.monotonic()))
        push = ["push", "--quiet", "--no-verify", "--", cfg.repo_url, f":{ref}"]
        git.run(push, repo.work_tree, repo=repo, timeout=timeout)
    except GitError as err:
        emit(f"[git] WARNING: the checkpoint ref {ref} was not deleted: {err.message}")
        return
    emit(f"[git] checkpoint ref {ref} deleted: the task branch holds the work")
