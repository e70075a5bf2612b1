from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from runtime.agent import gitops
from runtime.agent.gitops import Git, GitError
from runtime.contract.outcome import Status
from tests.support.git_http import make_bare_repo

GIT_ENV = {
    "PATH": os.environ["PATH"],
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "a",
    "GIT_AUTHOR_EMAIL": "a@example.invalid",
    "GIT_COMMITTER_NAME": "a",
    "GIT_COMMITTER_EMAIL": "a@example.invalid",
}


def test_commit_message_plain_and_with_trailer() -> None:
    assert gitops.commit_message("T012", "Add it", "") == "T012: Add it\n"
    assert gitops.commit_message("T012", "Add it", "Dev <d@x.io>") == (
        "T012: Add it\n\nCo-authored-by: Dev <d@x.io>\n"
    )


def test_wip_commit_message_says_why() -> None:
    message = gitops.commit_message("T012", "Add it", "Dev <d@x.io>", wip="timeout: deadline")

    assert message == (
        "WIP T012: Add it\n\nStopped early: timeout: deadline\n\nCo-authored-by: Dev <d@x.io>\n"
    )


@pytest.mark.parametrize(
    ("stderr", "status"),
    [
        ("fatal: Authentication failed for 'https://h/r.git/'", Status.GIT_AUTH_FAILED),
        (
            "fatal: could not read Username for 'https://h': terminal prompts disabled",
            Status.GIT_AUTH_FAILED,
        ),
        (
            "git@h: Permission denied (publickey).\nfatal: Could not read from remote",
            Status.GIT_AUTH_FAILED,
        ),
        (
            "fatal: unable to access 'https://h/': The requested URL returned error: 403",
            Status.GIT_AUTH_FAILED,
        ),
        ("Host key verification failed.", Status.GIT_AUTH_FAILED),
        (
            "remote: Repository not found.\nfatal: repository 'https://h/r/' not found",
            Status.REPO_NOT_FOUND,
        ),
        ("fatal: repository 'http://127.0.0.1:1/x.git/' not found", Status.REPO_NOT_FOUND),
        ("fatal: '/tmp/x' does not appear to be a git repository", Status.REPO_NOT_FOUND),
        ("fatal: Remote branch nope not found in upstream origin", Status.REPO_NOT_FOUND),
        ("fatal: unable to access 'https://h/': Could not resolve host: h", Status.FAILED),
        (" ! [remote rejected] HEAD -> b (pre-receive hook declined)", Status.FAILED),
    ],
)
def test_classify(stderr: str, status: Status) -> None:
    assert gitops.classify(stderr) is status


def test_reason_line_names_the_servers_refusal() -> None:
    stderr = (
        "remote: \nremote: Gitea: Not allowed to push to protected branch b/T1\n"
        "To http://git/x.git\n ! [remote rejected] b/T1 -> b/T1 (pre-receive hook declined)\n"
        "error: failed to push some refs to 'http://git/x.git'\n"
    )
    assert gitops.reason_line(stderr) == (
        "! [remote rejected] b/T1 -> b/T1 (pre-receive hook declined): "
        "Gitea: Not allowed to push to protected branch b/T1"
    )


def test_reason_line_is_the_last_line_otherwise() -> None:
    assert gitops.reason_line("warning: x\nfatal: repository 'y' not found\n") == (
        "fatal: repository 'y' not found"
    )


def test_scrub_hides_secrets() -> None:
    git = Git({}, redact=("s3cr3t-token",))

    assert git.scrub("x s3cr3t-token y") == "x *** y"


@pytest.fixture()
def bare(tmp_path: Path) -> Path:
    return make_bare_repo(tmp_path, "r", {"a.txt": "a\n"})


def test_prepare_starts_a_new_branch_from_base(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "task/t1", tmp_path / "ws" / "repo")

    assert not checkout.resumed
    assert git.run(["branch", "--show-current"], checkout.path).strip() == "task/t1"
    assert checkout.start == git.run(["rev-parse", "main"], bare).strip()
    shallow = git.run(["rev-parse", "--is-shallow-repository"], checkout.path).strip()
    assert shallow == "true"


def test_prepare_continues_an_existing_task_branch(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    first = gitops.prepare(git, f"file://{bare}", "main", "task/t1", tmp_path / "one")
    (first.path / "wip.txt").write_text("wip\n")
    assert gitops.commit_all(git, first.path, "WIP T1: x\n")
    end = time.monotonic() + 60
    gitops.push(git, first.path, "task/t1", lambda: end)

    again = gitops.prepare(git, f"file://{bare}", "main", "task/t1", tmp_path / "two")

    assert again.resumed
    assert (again.path / "wip.txt").read_text() == "wip\n"


def test_prepare_reports_a_missing_base_branch(tmp_path: Path, bare: Path) -> None:
    with pytest.raises(GitError) as err:
        gitops.prepare(Git(GIT_ENV), f"file://{bare}", "develop", "t", tmp_path / "c")

    assert err.value.status is Status.REPO_NOT_FOUND
    assert "'develop'" in err.value.message


def test_prepare_reports_a_missing_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError) as err:
        gitops.prepare(Git(GIT_ENV), f"file://{tmp_path}/nope.git", "main", "t", tmp_path / "c")

    assert err.value.status is Status.REPO_NOT_FOUND


def test_context_is_copied_without_configmap_internals(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", tmp_path / "c")
    source = tmp_path / "context"
    (source / "..2026_11_25" / "contracts").mkdir(parents=True)
    (source / "..2026_11_25" / "spec.md").write_text("spec\n")
    (source / "..2026_11_25" / "contracts" / "api.yaml").write_text("a: 1\n")
    (source / "..data").symlink_to("..2026_11_25")
    (source / "spec.md").symlink_to("..data/spec.md")
    (source / "contracts").symlink_to("..data/contracts")

    assert gitops.place_context(source, checkout.path) == 2
    context = checkout.path / gitops.CONTEXT_DIR
    assert (context / "contracts" / "api.yaml").read_text() == "a: 1\n"
    assert not (context / "..data").exists()
    assert not gitops.commit_all(git, checkout.path, "nothing\n")


def test_excluded_dirs_are_not_committed(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", tmp_path / "c")
    gitops.place_context(tmp_path / "missing", checkout.path)
    (checkout.path / ".opencode").mkdir()
    (checkout.path / ".opencode" / "package-lock.json").write_text("{}")
    (checkout.path / "new.txt").write_text("n\n")

    assert gitops.commit_all(git, checkout.path, "T1: x\n")
    assert gitops.changed_files(git, checkout.path, checkout.start) == ("new.txt",)


def test_push_retries_with_backoff_then_reports_the_branch(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t/x", tmp_path / "c")
    (checkout.path / "n.txt").write_text("n\n")
    gitops.commit_all(git, checkout.path, "T1: x\n")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    sleeps: list[float] = []

    with pytest.raises(GitError) as err:
        end = time.monotonic() + 60
        gitops.push(git, checkout.path, "t/x", lambda: end, sleep=sleeps.append)

    assert err.value.status is Status.PUSH_REJECTED
    assert "'t/x'" in err.value.message
    assert sleeps == [2.0, 4.0, 8.0]


def test_push_gives_up_at_the_deadline(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t/x", tmp_path / "c")

    with pytest.raises(GitError) as err:
        gitops.push(git, checkout.path, "t/x", lambda: time.monotonic() - 1)

    assert err.value.status is Status.PUSH_REJECTED
    assert "not attempted" in err.value.message


def test_commit_reads_the_message_from_stdin(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", tmp_path / "c")
    (checkout.path / "n.txt").write_text("n\n")
    message = gitops.commit_message("T9", "Quote ' and \" and $HOME", "")

    assert gitops.commit_all(git, checkout.path, message)
    log = subprocess.run(
        ["git", "log", "-1", "--format=%B"], cwd=checkout.path, capture_output=True, text=True
    )
    assert log.stdout.strip() == "T9: Quote ' and \" and $HOME"
