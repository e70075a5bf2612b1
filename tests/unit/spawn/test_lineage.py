"""Stale and integrated, read from git alone (real git, a file:// remote)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.spawn.lineage import Lineage, read_lineage
from runtime.spawn.start import RemoteError
from runtime.tasks.parse import parse_tasks_text
from runtime.tasks.plan import reopen
from tests.support.git_http import make_bare_repo
from tests.unit.fakes import git

IDENT = ("-c", "user.name=a", "-c", "user.email=a@x.invalid")
FEATURE = "001-f"


def _branch(name: str) -> str:
    return f"specs/{FEATURE}/{name}"


def _commit(work: Path, branch: str, start: str, file: str, message: str) -> str:
    git(work, "checkout", "-q", "-B", branch, start)
    (work / file).write_text(f"{file}\n")
    git(work, "add", file)
    git(work, *IDENT, "commit", "-q", "-m", message)
    git(work, "push", "-q", "-f", "origin", f"{branch}:{branch}")
    return git(work, "rev-parse", "HEAD")


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """T002 pushed; T004 started from it (trailer); the integration branch holds T004."""
    bare = make_bare_repo(tmp_path, "r", {"README.md": "r\n"})
    work = tmp_path / "pods"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    t2 = _commit(work, _branch("T002-async"), "main", "a.txt", "T002: a")
    t4 = _commit(work, _branch("T004-async"), t2, "b.txt", f"T004: b\n\nStarted-from: T002 {t2}\n")
    git(work, "checkout", "-q", "-B", _branch("integration"), t4)
    git(work, "push", "-q", "origin", f"{_branch('integration')}:{_branch('integration')}")
    developer = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(bare), str(developer))
    return bare, developer, {"T002": t2, "T004": t4}


def _read(bare: Path, developer: Path) -> dict[str, Lineage]:
    branches = {t: _branch(f"{t}-async") for t in ("T002", "T004", "T005")}
    return read_lineage(developer, f"file://{bare}", FEATURE, branches, _branch("integration"))


def test_a_fresh_dependent_is_not_stale_and_both_are_integrated(
    remote: tuple[Path, Path, dict[str, str]],
) -> None:
    bare, developer, commits = remote

    found = _read(bare, developer)

    t4 = found["T004"]
    assert t4.commit == commits["T004"]
    assert t4.started_from == (("T002", commits["T002"]),)
    assert not t4.stale and t4.integrated
    assert found["T002"].integrated
    assert found["T005"].commit == ""  # no branch
    # fetched under a private namespace: no branch of the developer's changed
    refs = git(developer, "for-each-ref", "--format=%(refname)", "refs/speckit-pods/")
    assert f"refs/speckit-pods/{FEATURE}/T004" in refs.split()
    assert git(developer, "branch", "--format=%(refname:short)") == "main"


def test_a_rerun_prerequisite_makes_its_dependent_stale(
    remote: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    bare, developer, commits = remote
    _commit(tmp_path / "pods", _branch("T002-async"), commits["T002"], "a2.txt", "T002: again")

    found = _read(bare, developer)

    assert found["T004"].stale_because == ("T002",)
    assert not found["T002"].integrated  # its new tip is not


def test_an_unreadable_remote_is_a_remote_error(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="cannot read the feature's branches"):
        read_lineage(tmp_path, f"file://{tmp_path}/gone.git", FEATURE, {"T1": "b"}, "i")


def test_reopen_takes_the_stale_tasks_and_everything_built_on_them() -> None:
    text = """\
# Tasks
- [X] T001 [ASYNC] First
- [X] T002 [ASYNC] Second (depends on T001)
- [X] T003 [ASYNC] Third (depends on T002)
- [X] T004 [ASYNC] Apart
- [ ] T005 [ASYNC] Pending (depends on T003)
"""
    tasks, again = reopen(parse_tasks_text(text), ["T002"], written_only=True)

    assert again == ("T002", "T003")
    states = {t.id: t.state.value for t in tasks.tasks}
    assert states == {
        "T001": "done", "T002": "pending", "T003": "pending", "T004": "done", "T005": "pending",
    }  # fmt: skip
