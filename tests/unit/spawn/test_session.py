"""A stored session read back with the developer's git (real git, a file:// remote)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from runtime.contract.outcome import RESULT_PREFIX, Result, Status
from runtime.contract.session import session_ref
from runtime.spawn.session import read_session
from tests.support.git_http import make_bare_repo
from tests.unit.fakes import git

FEATURE = "001-f"
IDENT = {"GIT_AUTHOR_NAME": "pod", "GIT_AUTHOR_EMAIL": "pod@x.invalid"}
SESSION = {"info": {"id": "ses_1", "title": "T012"}, "messages": []}


def store(
    bare: Path,
    task: str,
    log: str,
    result: Result,
    session: Mapping[str, object] | None = None,
    feature: str = FEATURE,
) -> str:
    """Push one session commit to the task's ref, as the pod's git side does."""
    env = {"GIT_DIR": str(bare), "PATH": "/usr/bin:/bin", **IDENT}
    env |= {"GIT_COMMITTER_NAME": "pod", "GIT_COMMITTER_EMAIL": "pod@x.invalid"}

    def plumb(*args: str, data: bytes = b"") -> str:
        done = subprocess.run(["git", *args], input=data, env=env, capture_output=True, check=True)
        return done.stdout.decode().strip()

    files = {
        "log.txt": (log + "\n" + result.to_line() + "\n").encode(),
        "result.json": result.to_line().removeprefix(RESULT_PREFIX).encode(),
    }
    if session is not None:
        files["session.json"] = json.dumps(session).encode()
    listing = "".join(
        f"100644 blob {plumb('hash-object', '-w', '--stdin', data=data)}\t{name}\n"
        for name, data in sorted(files.items())
    )
    tree = plumb("mktree", data=listing.encode())
    ref = session_ref(feature, task)
    parent = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", "--verify", "-q", ref],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    argv = ["commit-tree", tree, *(["-p", parent] if parent else []), "-m", f"Session of {task}"]
    commit = plumb(*argv)
    plumb("update-ref", ref, commit)
    return commit


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote and the developer's clone of it."""
    bare = make_bare_repo(tmp_path, "r", {"README.md": "r\n"})
    developer = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(bare), str(developer))
    return bare, developer


def test_no_stored_session_is_none(remote: tuple[Path, Path]) -> None:
    bare, developer = remote
    assert read_session(developer, f"file://{bare}", FEATURE, "T012") is None


def test_the_newest_run_is_read_into_the_developers_clone_under_the_same_ref(
    remote: tuple[Path, Path],
) -> None:
    bare, developer = remote
    branches = git(developer, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes")
    store(bare, "T012", "[git] first", Result("T012", Status.FAILED, reason="one"))
    second = Result("T012", Status.SUCCEEDED, commit="c" * 40)
    commit = store(bare, "T012", "[git] second", second, SESSION)

    stored = read_session(developer, f"file://{bare}", FEATURE, "T012")

    assert stored is not None
    assert (stored.commit, stored.runs) == (commit, 2)
    assert (stored.result, stored.session) == (second, SESSION)
    assert stored.log.splitlines() == ["[git] second", second.to_line()]
    assert stored.ref == "refs/speckit-pods/session/001-f/T012" and stored.date
    assert git(developer, "rev-parse", stored.ref) == commit
    after = git(developer, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes")
    assert after == branches  # no branch of the developer's touched


def test_an_unreadable_session_json_is_no_session(remote: tuple[Path, Path]) -> None:
    bare, developer = remote
    store(bare, "T012", "x", Result("T012", Status.SUCCEEDED), {"info": {}})
    stored = read_session(developer, f"file://{bare}", FEATURE, "T012")
    assert stored is not None and stored.session == {"info": {}}


def test_an_unreachable_remote_is_a_remote_error(tmp_path: Path) -> None:
    from runtime.spawn.start import RemoteError

    developer = tmp_path / "dev"
    git(tmp_path, "init", "-q", str(developer))
    with pytest.raises(RemoteError) as err:
        read_session(developer, f"file://{tmp_path}/missing.git", FEATURE, "T012")
    assert "cannot read the stored session" in err.value.message and err.value.hint


def test_the_stored_results_of_several_tasks_in_one_fetch(remote: tuple[Path, Path]) -> None:
    from runtime.spawn.session import read_results

    bare, developer = remote
    one = Result("T001", Status.SUCCEEDED, commit="a" * 40)
    store(bare, "T001", "x", one)
    store(bare, "T002", "x", Result("T002", Status.FAILED))
    store(bare, "T002", "x", two := Result("T002", Status.KILLED))

    found = read_results(developer, f"file://{bare}", FEATURE, ["T001", "T002", "T003"])

    assert found == {"T001": one, "T002": two}


def test_the_log_alone_of_the_newest_run(remote: tuple[Path, Path]) -> None:
    from runtime.spawn.session import read_log

    bare, developer = remote
    url = f"file://{bare}"
    assert read_log(developer, url, FEATURE, "T012") is None
    store(bare, "T012", "[git] first", Result("T012", Status.FAILED))
    last = Result("T012", Status.SUCCEEDED, commit="c" * 40)
    store(bare, "T012", "[git] second\n[agent] done", last, SESSION)

    log = read_log(developer, url, FEATURE, "T012")

    assert log is not None
    assert log.splitlines() == ["[git] second", "[agent] done", last.to_line()]
