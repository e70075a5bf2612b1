from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from runtime.agent import gitops
from runtime.agent.gitops import Git, GitError, Repo
from runtime.contract.outcome import Status
from runtime.contract.start import StartPoint
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


def test_the_commit_message_records_where_the_task_started() -> None:
    points = (StartPoint("T002", "b/2", "a" * 40), StartPoint("T003", "b/3", "b" * 40))
    message = gitops.commit_message("T012", "Add it", "Dev <d@x.io>", started_from=points)

    assert message == (
        f"T012: Add it\n\nStarted-from: T002 {'a' * 40}\nStarted-from: T003 {'b' * 40}\n"
        "Co-authored-by: Dev <d@x.io>\n"
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


def split(tmp_path: Path, name: str) -> Repo:
    """A git dir apart from its work tree, as in the pod (``/gitdir``, ``/workspace/repo``)."""
    return Repo(tmp_path / name / "gitdir" / "repo.git", tmp_path / name / "ws" / "repo")


def test_prepare_starts_a_new_branch_from_base(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "task/t1", split(tmp_path, "c"))

    assert not checkout.resumed
    assert (
        git.run(["branch", "--show-current"], checkout.path, repo=checkout.repo).strip()
        == "task/t1"
    )
    assert checkout.start == git.run(["rev-parse", "main"], bare).strip()
    shallow = git.run(
        ["rev-parse", "--is-shallow-repository"], checkout.path, repo=checkout.repo
    ).strip()
    assert shallow == "true"


def test_prepare_continues_an_existing_task_branch(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    first = gitops.prepare(git, f"file://{bare}", "main", "task/t1", split(tmp_path, "one"))
    (first.path / "wip.txt").write_text("wip\n")
    assert gitops.commit_all(git, first.repo, "WIP T1: x\n")
    end = time.monotonic() + 60
    gitops.push(git, first.repo, f"file://{bare}", "task/t1", lambda: end)

    again = gitops.prepare(git, f"file://{bare}", "main", "task/t1", split(tmp_path, "two"))

    assert again.resumed
    assert (again.path / "wip.txt").read_text() == "wip\n"


def test_prepare_reports_a_missing_base_branch(tmp_path: Path, bare: Path) -> None:
    with pytest.raises(GitError) as err:
        gitops.prepare(Git(GIT_ENV), f"file://{bare}", "develop", "t", split(tmp_path, "c"))

    assert err.value.status is Status.REPO_NOT_FOUND
    assert "'develop'" in err.value.message


def test_prepare_reports_a_missing_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError) as err:
        gitops.prepare(
            Git(GIT_ENV), f"file://{tmp_path}/nope.git", "main", "t", split(tmp_path, "c")
        )

    assert err.value.status is Status.REPO_NOT_FOUND


def test_context_is_copied_without_configmap_internals(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    source = tmp_path / "context"
    (source / "..2026_11_25" / "contracts").mkdir(parents=True)
    (source / "..2026_11_25" / "spec.md").write_text("spec\n")
    (source / "..2026_11_25" / "contracts" / "api.yaml").write_text("a: 1\n")
    (source / "..data").symlink_to("..2026_11_25")
    (source / "spec.md").symlink_to("..data/spec.md")
    (source / "contracts").symlink_to("..data/contracts")

    gitops.write_excludes(checkout.repo)
    assert gitops.place_context(source, checkout.path) == 2
    context = checkout.path / gitops.CONTEXT_DIR
    assert (context / "contracts" / "api.yaml").read_text() == "a: 1\n"
    assert not (context / "..data").exists()
    assert not gitops.commit_all(git, checkout.repo, "nothing\n")


@pytest.mark.parametrize(
    "planted", [".speckit-pods", ".speckit-pods/context", ".speckit-pods/context/spec.md"]
)
def test_a_planted_symlink_is_never_followed_by_the_context_copy(
    tmp_path: Path, bare: Path, planted: str
) -> None:
    """A branch an agent wrote may hold ``.speckit-pods`` as a link out of the work tree."""
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    outside = tmp_path / "outside"
    outside.mkdir()
    link = checkout.path / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside / "spec.md" if planted.endswith(".md") else outside)
    source = tmp_path / "context"
    source.mkdir()
    (source / "spec.md").write_text("spec\n")

    assert gitops.place_context(source, checkout.path) == 1
    assert list(outside.iterdir()) == []  # nothing written where the link pointed
    context = checkout.path / gitops.CONTEXT_DIR
    assert not context.is_symlink() and (context / "spec.md").read_text() == "spec\n"


def test_a_link_in_our_place_is_not_committed(tmp_path: Path, bare: Path) -> None:
    """An agent's ``.speckit-pods`` link never reaches the branch, for a rerun to follow."""
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    gitops.write_excludes(checkout.repo)
    (checkout.path / ".speckit-pods").symlink_to("/home")
    (checkout.path / "new.txt").write_text("n\n")
    assert gitops.commit_all(git, checkout.repo, "work\n")
    committed = git.run(["ls-tree", "-r", "--name-only", "HEAD"], checkout.path, repo=checkout.repo)
    assert ".speckit-pods" not in committed.split() and "new.txt" in committed.split()


def test_a_planted_file_in_the_contexts_place_is_replaced(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    (checkout.path / ".speckit-pods").write_text("not a directory\n")
    source = tmp_path / "context"
    source.mkdir()
    (source / "spec.md").write_text("spec\n")

    assert gitops.place_context(source, checkout.path) == 1
    assert (checkout.path / gitops.CONTEXT_DIR / "spec.md").read_text() == "spec\n"


def test_excluded_dirs_are_not_committed(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    gitops.write_excludes(checkout.repo)
    assert gitops.place_context(tmp_path / "missing", checkout.path) == 0
    (checkout.path / ".opencode").mkdir()
    (checkout.path / ".opencode" / "package-lock.json").write_text("{}")
    (checkout.path / "new.txt").write_text("n\n")

    assert gitops.commit_all(git, checkout.repo, "T1: x\n")
    assert gitops.changed_files(git, checkout.repo, checkout.start) == ("new.txt",)


def test_push_retries_with_backoff_then_reports_the_branch(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t/x", split(tmp_path, "c"))
    (checkout.path / "n.txt").write_text("n\n")
    gitops.commit_all(git, checkout.repo, "T1: x\n")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    sleeps: list[float] = []

    with pytest.raises(GitError) as err:
        end = time.monotonic() + 60
        gitops.push(git, checkout.repo, f"file://{bare}", "t/x", lambda: end, sleep=sleeps.append)

    assert err.value.status is Status.PUSH_REJECTED
    assert "'t/x'" in err.value.message
    assert sleeps == [2.0, 4.0, 8.0]


def test_push_gives_up_at_the_deadline(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t/x", split(tmp_path, "c"))

    with pytest.raises(GitError) as err:
        gitops.push(git, checkout.repo, f"file://{bare}", "t/x", lambda: time.monotonic() - 1)

    assert err.value.status is Status.PUSH_REJECTED
    assert "not attempted" in err.value.message


def test_commit_reads_the_message_from_stdin(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    (checkout.path / "n.txt").write_text("n\n")
    message = gitops.commit_message("T9", "Quote ' and \" and $HOME", "")

    assert gitops.commit_all(git, checkout.repo, message)
    log = git.run(["log", "-1", "--format=%B"], checkout.path, repo=checkout.repo)
    assert log.strip() == "T9: Quote ' and \" and $HOME"


def test_the_clone_keeps_its_git_dir_apart_from_the_work_tree(tmp_path: Path, bare: Path) -> None:
    repo = split(tmp_path, "c")
    checkout = gitops.prepare(Git(GIT_ENV), f"file://{bare}", "main", "t", repo)

    assert (repo.git_dir / "HEAD").is_file()
    assert (repo.work_tree / ".git").read_text().strip() == f"gitdir: {repo.git_dir}"
    assert (repo.work_tree / "a.txt").read_text() == "a\n"
    assert checkout.path == repo.work_tree


def test_commit_ignores_a_rewritten_dot_git_file(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    evil = tmp_path / "evil.git"
    subprocess.run(["git", "init", "-q", "--bare", str(evil)], check=True)
    marker = tmp_path / "hook-ran"
    hook = evil / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    (checkout.path / ".git").write_text(f"gitdir: {evil}\n")
    (checkout.path / "n.txt").write_text("n\n")

    assert gitops.commit_all(git, checkout.repo, "T1: x\n")
    assert not marker.exists()
    assert gitops.changed_files(git, checkout.repo, checkout.start) == ("n.txt",)
    evil_refs = subprocess.run(
        ["git", "--git-dir", str(evil), "for-each-ref"], capture_output=True, text=True, check=True
    )
    assert evil_refs.stdout == ""


def test_no_hook_or_fsmonitor_of_the_git_dir_runs(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    ran = tmp_path / "ran"
    ran.mkdir()
    for name in ("pre-commit", "commit-msg", "post-commit", "pre-push", "reference-transaction"):
        hook = checkout.repo.git_dir / "hooks" / name
        hook.write_text(f"#!/bin/sh\ntouch {ran}/{name}\n")
        hook.chmod(0o755)
    monitor = tmp_path / "fsmonitor"
    monitor.write_text(f"#!/bin/sh\ntouch {ran}/fsmonitor\n")
    monitor.chmod(0o755)
    config = ["git", "--git-dir", str(checkout.repo.git_dir), "config", "core.fsmonitor"]
    subprocess.run([*config, str(monitor)], check=True)
    (checkout.path / "n.txt").write_text("n\n")

    assert gitops.commit_all(git, checkout.repo, "T1: x\n")
    gitops.push(git, checkout.repo, f"file://{bare}", "t", lambda: time.monotonic() + 60)

    assert sorted(p.name for p in ran.iterdir()) == []


def test_a_work_tree_replaced_by_a_symlink_is_refused(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "token").write_text("s3cr3t-token-value\n")
    checkout.path.rename(tmp_path / "moved")
    checkout.path.symlink_to(secret)

    with pytest.raises(GitError) as err:
        gitops.commit_all(git, checkout.repo, "T1: x\n")

    assert "replaced" in err.value.message


def test_a_symlink_to_a_secret_is_committed_as_a_link(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-token-value\n")
    (checkout.path / "leak").symlink_to(secret)

    assert gitops.commit_all(git, checkout.repo, "T1: x\n")
    blob = git.run(["cat-file", "-p", "HEAD:leak"], checkout.path, repo=checkout.repo)
    assert blob == str(secret)


def test_push_is_fast_forward_only(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    url = f"file://{bare}"
    checkout = gitops.prepare(git, url, "main", "t/x", split(tmp_path, "c"))
    (checkout.path / "n.txt").write_text("n\n")
    gitops.commit_all(git, checkout.repo, "T1: x\n")
    # meanwhile the task branch on the remote got a history of its own
    other = make_bare_repo(tmp_path / "other", "o", {"z.txt": "z\n"})
    subprocess.run(["git", "--git-dir", str(other), "push", "-q", url, "main:t/x"], check=True)
    theirs = git.run(["rev-parse", "t/x"], bare).strip()

    with pytest.raises(GitError) as err:
        end = time.monotonic() + 60
        gitops.push(git, checkout.repo, url, "t/x", lambda: end, sleep=lambda _: None)

    assert err.value.status is Status.PUSH_REJECTED
    assert git.run(["rev-parse", "t/x"], bare).strip() == theirs  # not overwritten


def test_push_goes_to_the_url_not_to_a_remote_of_that_name(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    decoy = make_bare_repo(tmp_path / "decoy", "d", {"d.txt": "d\n"})
    config = ["git", "--git-dir", str(checkout.repo.git_dir), "config"]
    subprocess.run([*config, "remote.origin.pushurl", f"file://{decoy}"], check=True)
    (checkout.path / "n.txt").write_text("n\n")
    gitops.commit_all(git, checkout.repo, "T1: x\n")

    gitops.push(git, checkout.repo, f"file://{bare}", "t", lambda: time.monotonic() + 60)

    assert git.run(["rev-parse", "t"], bare).strip() == gitops.head(git, checkout.repo)
    assert "t" not in git.run(["branch", "--list", "t"], decoy)


def test_a_file_git_cannot_add_is_left_out_with_a_warning(tmp_path: Path, bare: Path) -> None:
    git = Git(GIT_ENV)
    checkout = gitops.prepare(git, f"file://{bare}", "main", "t", split(tmp_path, "c"))
    (checkout.path / "ok.txt").write_text("ok\n")
    (checkout.path / "bad.txt").write_text("bad\n")
    real = git.run

    def add_fails_for_one(args: list[str], cwd: Path, **kw: object) -> str:
        out = real(args, cwd, **kw)  # type: ignore[arg-type]
        if args[0] == "add":
            raise GitError(Status.FAILED, 'git add failed: error: open("bad.txt"): denied')
        return out

    warnings: list[str] = []
    object.__setattr__(git, "run", add_fails_for_one)
    assert gitops.commit_all(git, checkout.repo, "T1: x\n", warn=warnings.append)
    assert warnings and "left out" in warnings[0]
