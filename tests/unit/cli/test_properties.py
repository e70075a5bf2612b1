"""Property tests of the CLI surface: random argument vectors never crash ``main``.

For each command below, random mixes of known flags, random values and random
positional tokens are run through ``runtime.cli.main`` in a temp repo with no
kubeconfig (``logs``/``status`` must fail with a cluster error, never reach a
cluster).  The call returns an int and, on a non-zero exit, stderr holds one
``ERROR:`` line, optionally followed by one ``Hint:`` line (argparse usage
errors included).  Log records (``WARNING:``) go to pytest's log capture here,
not to stderr, so only the printed error report is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.cli import main

TASKS_MD = """# Tasks: demo

## Phase 1: Setup

- [ ] T001 [ASYNC] Create `src/app.py`
- [ ] T002 [P] [ASYNC] Add tests in tests/test_app.py (depends on T001)
- [X] T003 [SYNC] Write the docs
"""

# argv prefixes, known flags taking a value, known switches; "--dry-run" / "plan"
# / "--no-follow" are fixed in the prefix so no example can start a pod
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "spawn": (
        ("spawn", "--dry-run"),
        ("--task-id", "--branch", "--repo", "--context-dir", "--tasks", "--base", "--model",
         "--requested-by", "--namespace", "--context", "--image", "--timeout",
         "--stall-timeout", "--cleanup", "--keep-for", "--git-secret", "--llm-secret", "--cpu",
         "--memory"),
        ("--replace", "--dry-run"),
    ),
    "tasks list": (("tasks", "list"), ("--tasks", "--phase"), ("--json", "--async", "--pending")),
    "tasks show": (("tasks", "show"), ("--tasks",), ("--json",)),
    "tasks done": (("tasks", "done"), ("--tasks",), ("--json",)),
    "logs": (
        ("logs", "--no-follow"),
        ("--task", "--namespace", "-n", "--context", "--feature", "--timeout", "--tasks"),
        ("--all", "--verify-remote", "--mark-done", "--async-state", "--no-color"),
    ),
    "status": (("status",), ("--namespace", "-n", "--context", "--feature"), ("--json",)),
    "dispatch plan": (
        ("dispatch", "plan"),
        ("--tasks", "--only", "--max-parallel", "--repo", "--base", "--model", "--namespace",
         "--timeout", "--cleanup", "--cpu", "--memory"),
        ("--json", "--written-deps-only", "--dry-run", "--cancel", "--no-live", "--no-color"),
    ),
}  # fmt: skip

# argv strings cannot hold NUL; lone surrogates only come from undecodable bytes
_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_SAMPLES = st.sampled_from(
    ["", " ", "T001", "t2", "T003", "T999", "T001,T002", "tasks.md", "specs/001-demo", ".",
     "-", "--", "-1", "0", "3", "90m", "1h30m", "x" * 80, "a\nb", "\r", "é✅", "Ünïcode/ünï",
     "https://example.com/org/repo.git", "git@host:org/repo.git", "main", "never", "always",
     "openai/gpt", "Name <n@example.com>", "--bogus", "-x", "--tasks", "--json"]
)  # fmt: skip
VALUES = st.one_of(_SAMPLES, st.text(_CHARS, max_size=12))


@st.composite
def argvs(draw: st.DrawFn, command: str) -> list[str]:
    prefix, valued, switches = COMMANDS[command]
    argv = list(prefix)
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            argv += [draw(st.sampled_from(valued)), draw(VALUES)]
        else:
            argv.append(draw(st.sampled_from(switches)))
    for _ in range(draw(st.integers(0, 2))):  # positional tokens, anywhere
        argv.insert(draw(st.integers(len(prefix), len(argv))), draw(VALUES))
    return argv


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "repo"
    (root / ".specify").mkdir(parents=True)
    (root / "specs" / "001-demo").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    for name in ("KUBERNETES_SERVICE_HOST", "SPECKIT_PODS_NAMESPACE", "SPECIFY_INIT_DIR",
                 "SPECIFY_FEATURE", "SPECIFY_FEATURE_DIRECTORY", "GIT_DIR"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(root)
    yield root


def check_run(argv: list[str], root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    (root / "specs" / "001-demo" / "tasks.md").write_text(TASKS_MD)  # fresh for every example
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert isinstance(code, int)
    assert "Traceback" not in err
    if code != 0:
        lines = err.splitlines()
        assert 1 <= len(lines) <= 2, (argv, err)
        assert lines[0].startswith("ERROR: "), (argv, err)
        assert all(line.startswith("Hint: ") for line in lines[1:]), (argv, err)
    return code, err


PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("command", ["spawn", "tasks list", "tasks show", "tasks done"])
@PROPERTY
@given(data=st.data())
def test_local_commands_never_crash(
    command: str, data: st.DataObject, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check_run(data.draw(argvs(command), label="argv"), repo, capsys)


@pytest.mark.parametrize("command", ["logs", "status"])
@PROPERTY
@given(data=st.data())
def test_cluster_commands_fail_cleanly_without_a_kubeconfig(
    command: str, data: st.DataObject, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = data.draw(argvs(command), label="argv")
    code, err = check_run(argv, repo, capsys)
    assert code != 0, (argv, err)  # never a success: there is no cluster
    assert code == 2 or 20 <= code <= 26, (argv, err)  # usage, else a cluster error


@PROPERTY
@given(argv=argvs("dispatch plan"))
def test_dispatch_plan_never_crashes(
    argv: list[str], repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check_run(argv, repo, capsys)


def test_the_fixture_repo_works(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The happy paths succeed, so the properties above are not all about errors."""
    assert check_run(["tasks", "list", "--json"], repo, capsys)[0] == 0
    assert check_run(["dispatch", "plan"], repo, capsys)[0] == 0
    argv = ["spawn", "--dry-run", "T001", "--repo", "https://example.com/org/repo.git"]
    assert check_run(argv, repo, capsys)[0] == 0
    code, err = check_run(["status"], repo, capsys)
    assert code == 20 and "kubeconfig" in err
