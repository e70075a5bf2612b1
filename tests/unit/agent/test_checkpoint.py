"""Checkpoints of the work tree while the agent runs, and their restore: real git, a local remote.

See ``runtime/agent/checkpoint.py``.  The last test runs both sides as processes and
kills the git side hard (SIGKILL: no WIP commit), then reruns the task.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runtime.agent import checkpoint, gitops
from runtime.agent.checkpoint import Checkpoints
from runtime.agent.config import AgentConfig
from runtime.agent.gitops import Checkout, Git, Repo
from runtime.agent.shutdown import Shutdown
from runtime.contract.outcome import Status
from runtime.contract.session import checkpoint_ref
from runtime.follow.classify import checkpoint_pushed
from tests.support.git_http import make_bare_repo
from tests.unit.agent.harness import Harness, fake_opencode
from tests.unit.agent.test_gitops import GIT_ENV, split

FEATURE = "001-demo"
REF = f"refs/speckit-pods/wip/{FEATURE}/T012"
SECRET = "s3cr3t-token-value"


@pytest.fixture()
def bare(tmp_path: Path) -> Path:
    return make_bare_repo(tmp_path, "r", {"a.txt": "a\n", "src/app.py": "print(1)\n"})


def config(bare: Path, **extra: object) -> AgentConfig:
    fields: dict[str, object] = {
        "task_id": "T012",
        "task_title": "Add it",
        "repo_url": f"file://{bare}",
        "base_branch": "main",
        "task_branch": "task/t12",
        "feature": FEATURE,
        **extra,
    }
    return AgentConfig(**fields)  # type: ignore[arg-type]


def clone(tmp_path: Path, bare: Path, name: str, lines: list[str]) -> tuple[Git, Checkout]:
    """A checkout as the git side makes it: prepared, restored, excludes, context."""
    git, cfg = Git(GIT_ENV), config(bare)
    checkout = gitops.prepare(git, cfg.repo_url, "main", cfg.task_branch, split(tmp_path, name))
    checkout = checkpoint.restore(cfg, git, checkout, lines.append)
    gitops.write_excludes(checkout.repo)
    context = tmp_path / f"{name}-context"
    context.mkdir()
    (context / "spec.md").write_text("# spec\n")
    gitops.place_context(context, checkout.path)
    return git, checkout


def loop(bare: Path, git: Git, checkout: Checkout, lines: list[str]) -> Checkpoints:
    found = checkpoint.start(config(bare), git, checkout, Shutdown(), lines.append)
    assert found is not None
    return found


def remote(bare: Path, *args: str) -> str:
    done = subprocess.run(["git", "--git-dir", str(bare), *args], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


def local(git: Git, repo: Repo, *args: str) -> str:
    return git.run(list(args), repo.work_tree, repo=repo)


def test_the_ref_is_named_like_the_session_ref() -> None:
    assert checkpoint_ref(FEATURE, "T012") == REF
    assert checkpoint_ref("../x", "T 1") == "refs/speckit-pods/wip/x/T-1"
    assert checkpoint_ref("", "T012") == ""


def test_a_checkpoint_holds_the_work_and_leaves_head_index_and_branch_alone(
    tmp_path: Path, bare: Path
) -> None:
    lines: list[str] = []
    git, checkout = clone(tmp_path, bare, "c", lines)
    (checkout.path / "new.txt").write_text("new\n")
    (checkout.path / "a.txt").write_text("changed\n")
    (checkout.path / "src" / "app.py").unlink()
    index_before = (checkout.repo.git_dir / "index").read_bytes()

    commit = loop(bare, git, checkout, lines).take()

    assert commit and remote(bare, "rev-parse", REF).strip() == commit
    assert remote(bare, "rev-parse", f"{REF}^").strip() == checkout.start
    assert remote(bare, "show", f"{REF}:new.txt") == "new\n"
    assert remote(bare, "show", f"{REF}:a.txt") == "changed\n"
    assert remote(bare, "ls-tree", "-r", "--name-only", REF).split() == ["a.txt", "new.txt"]
    assert remote(bare, "log", "-1", "--format=%s", REF) == "WIP checkpoint T012 (3 files)\n"
    assert f"[git] checkpoint {commit[:12]} (3 file(s)) pushed to {REF}" in lines
    said = checkpoint_pushed(lines[-1])  # what the follower names when the node is lost
    assert said == f"{REF} (checkpoint {commit[:12]})"
    # the clone: HEAD, branch and index as they were; the task branch not pushed
    assert gitops.head(git, checkout.repo) == checkout.start
    assert local(git, checkout.repo, "branch", "--show-current").strip() == "task/t12"
    assert (checkout.repo.git_dir / "index").read_bytes() == index_before
    assert remote(bare, "branch", "--list", "task/t12") == ""


def test_an_unchanged_tree_takes_no_new_checkpoint(tmp_path: Path, bare: Path) -> None:
    lines: list[str] = []
    git, checkout = clone(tmp_path, bare, "c", lines)
    checkpoints = loop(bare, git, checkout, lines)

    assert checkpoints.take() == ""  # nothing changed since HEAD
    assert remote(bare, "rev-parse", "--verify", "--quiet", REF) == ""
    (checkout.path / "new.txt").write_text("one\n")
    first = checkpoints.take()
    assert first
    assert checkpoints.take() == ""  # the same tree again
    (checkout.path / "new.txt").write_text("two\n")  # the agent goes on
    second = checkpoints.take()

    assert second not in ("", first)
    assert remote(bare, "show", f"{REF}:new.txt") == "two\n"
    assert remote(bare, "rev-parse", f"{REF}^").strip() == checkout.start  # forced, not stacked


def test_excludes_and_nested_git_dirs_stay_out(tmp_path: Path, bare: Path) -> None:
    lines: list[str] = []
    git, checkout = clone(tmp_path, bare, "c", lines)
    tree = checkout.path
    (tree / ".gitignore").write_text("build/\n")
    (tree / "build").mkdir()
    (tree / "build" / "out.o").write_text("binary\n")
    (tree / ".opencode").mkdir()
    (tree / ".opencode" / "state").write_text("x\n")
    (tree / "sub").mkdir()
    (tree / "sub" / ".git").write_text("gitdir: /etc\n")  # a planted .git file
    (tree / "sub" / "file.txt").write_text("sub\n")
    (tree / "kept.txt").write_text("kept\n")

    assert loop(bare, git, checkout, lines).take()

    names = remote(bare, "ls-tree", "-r", "--name-only", REF).split()
    assert ".speckit-pods/context/spec.md" not in names
    assert not [n for n in names if n.startswith((".opencode", "build/")) or ".git/" in n]
    assert "sub/.git" not in names
    assert {"kept.txt", ".gitignore", "a.txt"} <= set(names)
    # what the final commit would hold, except the nested repository's gitlink
    assert gitops.commit_all(git, checkout.repo, "T012: x\n")
    final = set(local(git, checkout.repo, "ls-tree", "-r", "--name-only", "HEAD").split())
    assert set(names) - final == set()


def test_a_symlink_to_a_secret_is_kept_as_a_link(tmp_path: Path, bare: Path) -> None:
    lines: list[str] = []
    git, checkout = clone(tmp_path, bare, "c", lines)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "token").write_text(SECRET)
    (checkout.path / "leak").symlink_to(secret / "token")
    (checkout.path / "dir").symlink_to(secret)
    # .speckit-pods replaced by a link to the secret: never read
    (checkout.path / ".speckit-pods" / "context").rename(tmp_path / "moved")
    os.rmdir(checkout.path / ".speckit-pods")
    (checkout.path / ".speckit-pods").symlink_to(secret)

    assert loop(bare, git, checkout, lines).take()

    assert remote(bare, "cat-file", "-p", f"{REF}:leak") == str(secret / "token")
    assert remote(bare, "cat-file", "-t", f"{REF}:dir") == "blob\n"  # a link, not a tree
    assert SECRET not in remote(bare, "log", "-p", "--all")


def test_a_directory_swapped_for_a_link_during_the_snapshot_is_not_followed(
    tmp_path: Path, bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent runs during a checkpoint: it swaps paths git has just listed."""
    lines: list[str] = []
    git, checkout = clone(tmp_path, bare, "c", lines)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "app.py").write_text(SECRET)
    (checkout.path / "notes.txt").write_text("notes\n")
    real_stat = os.stat
    swapped: list[str] = []

    def agent_swaps(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        found = real_stat(path, *args, **kwargs)
        if path == b"notes.txt" and not swapped:  # after the stat, before the open
            os.unlink(checkout.path / "notes.txt")
            (checkout.path / "notes.txt").symlink_to(secret / "app.py")
            swapped.append("file")
        return found

    real_listing = Checkpoints._git_bytes

    def listed_then_swapped(self: Checkpoints, args: list[str], *rest: Any) -> bytes:
        out = real_listing(self, args, *rest)
        if args[0] == "ls-files":  # git has listed src/app.py: now src becomes a link
            os.unlink(checkout.path / "src" / "app.py")
            os.rmdir(checkout.path / "src")
            (checkout.path / "src").symlink_to(secret)
        return out

    monkeypatch.setattr(os, "stat", agent_swaps)  # the agent acts between our calls
    monkeypatch.setattr(Checkpoints, "_git_bytes", listed_then_swapped)
    commit = loop(bare, git, checkout, lines).take()

    assert commit and swapped
    assert SECRET not in remote(bare, "log", "-p", "--all")
    assert remote(bare, "show", f"{REF}:notes.txt") == ""  # left as HEAD has it: absent
    assert "src/app.py" not in remote(bare, "ls-tree", "-r", "--name-only", REF).split()
    assert any("1 unreadable or over" in line for line in lines)


def test_a_failed_push_is_a_warning_and_is_retried(tmp_path: Path, bare: Path) -> None:
    lines: list[str] = []
    git, checkout = clone(tmp_path, bare, "c", lines)
    checkpoints = loop(bare, git, checkout, lines)
    checkpoints.cfg = config(tmp_path / "gone.git")
    (checkout.path / "new.txt").write_text("new\n")

    assert checkpoints.take() == ""
    assert lines[-1].startswith("[git] WARNING: checkpoint not saved: git push failed")
    checkpoints.cfg = config(bare)
    assert checkpoints.take()  # the same tree, pushed at the next interval


def test_sigterm_stops_a_checkpoint_in_flight(
    tmp_path: Path, bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    git, checkout = clone(tmp_path, bare, "c", lines)
    shutdown = Shutdown()
    checkpoints = checkpoint.start(config(bare), git, checkout, shutdown, lines.append)
    assert checkpoints is not None
    checkpoints.next_at = 0
    (checkout.path / "new.txt").write_text("new\n")

    def sigterm_arrives(*_: object) -> tuple[str, int]:
        shutdown.handle(signal.SIGTERM, None)  # what the kubelet's SIGTERM does here
        raise AssertionError("not interrupted")

    monkeypatch.setattr(checkpoints, "snapshot", sigterm_arrives)
    assert checkpoints.poll() == ""
    assert lines[-1].startswith("[git] checkpoint stopped by SIGTERM")
    assert shutdown.requested.is_set() and not shutdown.interruptible
    checkpoints.next_at = 0
    assert checkpoints.poll() == ""  # none starts once SIGTERM came


def test_no_checkpoints_for_integration_pods_or_without_a_feature(
    tmp_path: Path, bare: Path
) -> None:
    lines: list[str] = []
    git, checkout = clone(tmp_path, bare, "c", lines)
    for cfg in (config(bare, integrate=True), config(bare, checkpoint_s=0.0)):
        assert checkpoint.start(cfg, git, checkout, Shutdown(), lines.append) is None
    assert (
        checkpoint.start(config(bare, feature=""), git, checkout, Shutdown(), lines.append) is None
    )
    assert lines[-1] == "[git] no checkpoints: the pod's environment names no FEATURE"


def test_a_rerun_restores_a_fitting_checkpoint_as_uncommitted_work(
    tmp_path: Path, bare: Path
) -> None:
    lines: list[str] = []
    git, first = clone(tmp_path, bare, "one", lines)
    (first.path / "new.txt").write_text("new\n")
    (first.path / "a.txt").unlink()
    taken = loop(bare, git, first, lines).take()  # then the pod is lost: no WIP commit

    git, again = clone(tmp_path, bare, "two", lines)

    assert any(
        line.startswith(f"[git] continuing from checkpoint {taken[:12]} (taken 20")
        for line in lines
    )
    assert gitops.head(git, again.repo) == again.start == first.start
    assert (again.path / "new.txt").read_text() == "new\n"
    assert not (again.path / "a.txt").exists()
    staged = local(git, again.repo, "diff", "--cached", "--name-only").split()
    assert staged == ["a.txt", "new.txt"]
    assert (again.path / ".speckit-pods" / "context" / "spec.md").is_file()
    assert gitops.commit_all(git, again.repo, "T012: x\n")
    assert gitops.changed_files(git, again.repo, again.start) == ("a.txt", "new.txt")
    # restored: the same tree is not pushed again
    assert loop(bare, git, again, lines).take() == ""


def test_a_checkpoint_taken_on_another_start_is_ignored(tmp_path: Path, bare: Path) -> None:
    lines: list[str] = []
    git, first = clone(tmp_path, bare, "one", lines)
    (first.path / "new.txt").write_text("new\n")
    taken = loop(bare, git, first, lines).take()
    seed = tmp_path / ".r-seed"  # the base moves on meanwhile
    (seed / "b.txt").write_text("b\n")
    subprocess.run(["git", "-C", str(seed), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(seed), "-c", "user.name=s", "-c", "user.email=s@x", "commit", "-qm", "b"],
        check=True,
    )
    subprocess.run(["git", "-C", str(seed), "push", "-q", str(bare), "main"], check=True)

    git, again = clone(tmp_path, bare, "two", lines)

    assert again.start != first.start
    assert lines[-1] == (
        f"[git] checkpoint {taken[:12]} ignored: taken on {first.start[:12]}, "
        f"the task starts at {again.start[:12]}"
    )
    assert not (again.path / "new.txt").exists()
    assert local(git, again.repo, "status", "--porcelain").strip() == ""


def test_discard_deletes_the_ref_and_is_quiet_without_one(tmp_path: Path, bare: Path) -> None:
    lines: list[str] = []
    git, checkout = clone(tmp_path, bare, "c", lines)
    (checkout.path / "new.txt").write_text("new\n")
    assert loop(bare, git, checkout, lines).take()
    far = float("inf")

    checkpoint.discard(config(bare), git, checkout.repo, far, lines.append)

    assert remote(bare, "rev-parse", "--verify", "--quiet", REF) == ""
    assert lines[-1] == f"[git] checkpoint ref {REF} deleted: the task branch holds the work"
    checkpoint.discard(config(bare), git, checkout.repo, far, lines.append)
    assert len([line for line in lines if "deleted" in line]) == 1


# --- both sides as processes ---------------------------------------------------------


def test_a_hard_fault_loses_nothing_since_the_checkpoint(pod: Harness) -> None:
    """SIGKILL of the git side (node lost): no WIP; the rerun continues from the checkpoint."""
    ref = f"refs/speckit-pods/wip/{FEATURE}/T012"
    wait = (
        f"echo work > work.txt; i=0; until git --git-dir={pod.bare} rev-parse -q --verify {ref}"
        " >/dev/null; do i=$((i+1)); [ $i -gt 300 ] && exit 3; sleep 0.1; done; sleep 600"
    )
    pod.opencode_bin = fake_opencode(pod.tmp / "opencode", wait)
    first = pod.start("do it\n", CHECKPOINT_SECONDS="1")
    first.wait_for("[git] checkpoint ", timeout=60)
    first.git.send_signal(signal.SIGKILL)  # no chance to commit or push
    first.git.wait(timeout=30)
    if first.agent is not None:
        first.agent.kill()
        first.agent.wait(timeout=30)
    assert "speckit/t012" not in pod.remote_branches()
    assert pod.git("show", f"{ref}:work.txt") == "work\n"

    pod.opencode_bin = fake_opencode(pod.tmp / "opencode", "echo more > more.txt")
    rerun = pod.run("do it\n", timeout=60)

    assert rerun.result.status is Status.SUCCEEDED, rerun.output
    assert "[git] continuing from checkpoint " in rerun.output
    assert set(rerun.result.files_changed) == {"more.txt", "work.txt"}
    assert pod.remote_file("speckit/t012", "work.txt") == "work\n"
    assert f"[git] checkpoint ref {ref} deleted: the task branch holds the work" in rerun.output
    assert ref not in pod.git("for-each-ref", "--format=%(refname)")
