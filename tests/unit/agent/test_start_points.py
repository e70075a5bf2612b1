"""The git side starts a task from its prerequisites' pushed work (real git, file:// remotes)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from runtime.agent import gitops
from runtime.agent.gitops import Git, GitError, Repo
from runtime.contract.outcome import Status
from runtime.contract.start import StartPoint
from tests.support.git_http import make_bare_repo
from tests.unit.agent.test_gitops import GIT_ENV, split


def _push_task(tmp_path: Path, bare: Path, task: str, files: dict[str, str], base: str) -> str:
    """Push a branch ``specs/f/<task>-async`` from ``base`` with ``files``; its commit."""
    git = Git(GIT_ENV)
    branch = f"specs/f/{task}-async"
    checkout = gitops.prepare(git, f"file://{bare}", base, branch, split(tmp_path, task))
    for rel, text in files.items():
        (checkout.path / rel).parent.mkdir(parents=True, exist_ok=True)
        (checkout.path / rel).write_text(text, encoding="utf-8")
    assert gitops.commit_all(git, checkout.repo, f"{task}: work\n")
    end = time.monotonic() + 60
    gitops.push(git, checkout.repo, f"file://{bare}", branch, lambda: end)
    return gitops.head(git, checkout.repo)


def _point(task: str, commit: str) -> StartPoint:
    return StartPoint(task, f"specs/f/{task}-async", commit)


def _log(git: Git, repo: Repo) -> list[str]:
    return git.run(["log", "--format=%s", "HEAD"], repo.work_tree, repo=repo).splitlines()


@pytest.fixture()
def bare(tmp_path: Path) -> Path:
    return make_bare_repo(tmp_path, "r", {"a.txt": "a\n"})


def test_one_prerequisite_is_fast_forwarded_to(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    t1 = _push_task(tmp_path, bare, "T001", {"one.txt": "1\n"}, "main")

    checkout = gitops.prepare(
        git, f"file://{bare}", "main", "specs/f/T002-async", split(tmp_path, "c"), (
            _point("T001", t1),
        )
    )  # fmt: skip

    assert checkout.start == t1  # its pushed commit itself: no merge commit
    assert checkout.merged == (_point("T001", t1),)
    assert (checkout.path / "one.txt").read_text() == "1\n"
    assert git.run(["branch", "--show-current"], checkout.path, repo=checkout.repo).strip() == (
        "specs/f/T002-async"
    )


def test_several_prerequisites_are_merged_onto_the_base_in_order(
    tmp_path: Path, bare: Path
) -> None:
    git = Git(GIT_ENV)
    t1 = _push_task(tmp_path, bare, "T001", {"one.txt": "1\n"}, "main")
    t2 = _push_task(tmp_path, bare, "T002", {"two.txt": "2\n"}, "main")
    points = (_point("T001", t1), _point("T002", t2))

    checkout = gitops.prepare(
        git, f"file://{bare}", "main", "specs/f/T003-async", split(tmp_path, "c"), points
    )

    assert checkout.merged == points
    assert (checkout.path / "one.txt").exists() and (checkout.path / "two.txt").exists()
    assert _log(git, checkout.repo)[0] == f"Start from T002 ({t2[:12]}, specs/f/T002-async)"
    for commit in (t1, t2):
        git.run(["merge-base", "--is-ancestor", commit, "HEAD"], checkout.path, repo=checkout.repo)
    # the task's own diff starts after the merges
    (checkout.path / "three.txt").write_text("3\n")
    assert gitops.commit_all(git, checkout.repo, "T003: x\n")
    assert gitops.changed_files(git, checkout.repo, checkout.start) == ("three.txt",)


def test_a_prerequisite_already_contained_is_skipped(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    t1 = _push_task(tmp_path, bare, "T001", {"one.txt": "1\n"}, "main")
    # T002 started from T001's work: its branch holds T001's commit
    t2 = _push_task(tmp_path, bare, "T002", {"two.txt": "2\n"}, "specs/f/T001-async")

    checkout = gitops.prepare(
        git, f"file://{bare}", "main", "specs/f/T003-async", split(tmp_path, "c"),
        (_point("T001", t1), _point("T002", t2)),
    )  # fmt: skip

    assert checkout.start == t2  # T002's own commit: T001 is in it, nothing else to merge
    assert [p.task for p in checkout.merged] == ["T002"]
    assert _log(git, checkout.repo)[:2] == ["T002: work", "T001: work"]  # no merge commits

    again = gitops.prepare(
        git, f"file://{bare}", "main", "specs/f/T004-async", split(tmp_path, "d"),
        (_point("T002", t2), _point("T001", t1)),
    )  # fmt: skip
    assert [p.task for p in again.merged] == ["T002"]  # T001 is in T002's work


def test_conflicting_prerequisites_end_as_conflict_naming_the_files(
    tmp_path: Path, bare: Path
) -> None:
    git = Git(GIT_ENV)
    t1 = _push_task(tmp_path, bare, "T001", {"shared.txt": "from T001\n", "x.txt": "x\n"}, "main")
    t2 = _push_task(tmp_path, bare, "T002", {"shared.txt": "from T002\n"}, "main")
    repo = split(tmp_path, "c")

    with pytest.raises(GitError) as err:
        gitops.prepare(
            git, f"file://{bare}", "main", "specs/f/T003-async", repo,
            (_point("T001", t1), _point("T002", t2)),
        )  # fmt: skip

    assert err.value.status is Status.CONFLICT
    assert err.value.message == (
        f"the work of T002 ({t2[:12]}) conflicts with T001@{t1[:12]} in: shared.txt"
    )
    # nothing left half-merged
    assert not (repo.git_dir / "MERGE_HEAD").exists()
    assert git.run(["status", "--porcelain"], repo.work_tree, repo=repo).strip() == ""


def test_a_continued_task_branch_gets_the_new_prerequisite_work(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    t1 = _push_task(tmp_path, bare, "T001", {"one.txt": "1\n"}, "main")
    wip = _push_task(tmp_path, bare, "T002", {"wip.txt": "wip\n"}, "main")  # an earlier run

    checkout = gitops.prepare(
        git, f"file://{bare}", "main", "specs/f/T002-async", split(tmp_path, "c"),
        (_point("T001", t1),),
    )  # fmt: skip

    assert checkout.resumed
    assert (checkout.path / "wip.txt").exists() and (checkout.path / "one.txt").exists()
    git.run(["merge-base", "--is-ancestor", wip, "HEAD"], checkout.path, repo=checkout.repo)


def test_a_missing_prerequisite_branch_is_reported(tmp_path: Path, bare: Path) -> None:
    with pytest.raises(GitError) as err:
        gitops.prepare(
            Git(GIT_ENV), f"file://{bare}", "main", "specs/f/T003-async", split(tmp_path, "c"),
            (_point("T001", "a" * 40),),
        )  # fmt: skip

    assert err.value.status is Status.REPO_NOT_FOUND
    assert "T001's branch 'specs/f/T001-async'" in err.value.message


def test_a_pinned_commit_gone_from_its_branch_is_reported(tmp_path: Path, bare: Path) -> None:
    t1 = _push_task(tmp_path, bare, "T001", {"one.txt": "1\n"}, "main")
    # the branch is rewritten (force-pushed to the base): the pinned commit is not on it
    subprocess.run(
        ["git", "-C", str(bare), "update-ref", "refs/heads/specs/f/T001-async", "main"],
        check=True,
    )

    with pytest.raises(GitError) as err:
        gitops.prepare(
            Git(GIT_ENV), f"file://{bare}", "main", "specs/f/T002-async", split(tmp_path, "c"),
            (_point("T001", t1),),
        )  # fmt: skip

    assert err.value.status is Status.REPO_NOT_FOUND
    assert f"T001's commit {t1[:12]} is no longer on" in err.value.message
