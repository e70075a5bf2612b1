"""``logs --task`` with no pod left, and ``session``: the run stored in git, read back."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from runtime.cli import build_parser, main
from runtime.cli.logs_cmd import run
from runtime.contract.outcome import Result, Status
from runtime.errors import PodNotFoundError
from runtime.follow.follow import Cluster
from runtime.kube.client import Kube
from runtime.kube.logs import ClusterLogs
from runtime.kube.podwatch import ClusterPods
from tests.support.git_http import make_bare_repo
from tests.unit.fakes import FakeClusterCore, git
from tests.unit.spawn.test_session import FEATURE, store

FENCE = "```\n# x"
RESULT = Result("T012", Status.NO_CHANGES, branch="specs/001-f/T012-async", reason="nothing")
HOSTILE = {
    "info": {"id": "ses_1", "title": "T012 \x1b]0;pwned\x07"},
    "messages": [
        {
            "info": {"role": "assistant"},
            "parts": [
                {"type": "text", "text": "hi \x1b[2J\x1b[31mred\u202e"},
                {
                    "type": "tool",
                    "tool": "bash",
                    "state": {"status": "completed", "input": {"command": "ls"}, "output": FENCE},
                },
            ],
        }
    ],
}


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A bare remote (its URL) with T012's run stored; the cwd is the developer's clone."""
    bare = make_bare_repo(tmp_path, "r", {"README.md": "r\n"})
    developer = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(bare), str(developer))
    monkeypatch.chdir(developer)
    store(bare, "T012", "[git] cloning\n[text] done \x1b[2J\x1b]52;c;Zm9v\x07", RESULT, HOSTILE)
    return f"file://{bare}"


def no_pods() -> Cluster:
    kube = Kube(core=FakeClusterCore(), namespace="ns")
    return Cluster(ClusterPods(kube), ClusterLogs(kube))


def logs_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["logs", *argv])


def test_tail_logs_of_a_task_without_a_pod_prints_its_stored_log(
    remote: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("--task", "T012", "--feature", FEATURE, "--repo", remote, "--no-color")
    assert run(logs_args(*argv), no_pods()) == Status.NO_CHANGES.exit_code

    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert out[:2] == ["[T012] [git] cloning", "[T012] [text] done "]
    assert out[-1].startswith("[T012] RESULT status=no-changes exit=3 branch=specs/001-f/T012-")
    assert out[-1].endswith('pod=- reason="nothing"')
    assert Result.from_line(out[2].removeprefix("[T012] ")) == RESULT  # as live
    assert len(out) == 4 and "\x1b" not in captured.out
    assert "no agent pod: printing the stored log of a finished run" in captured.err
    assert "refs/speckit-pods/session/001-f/T012" in captured.err


def test_no_pod_and_no_stored_session_is_the_clear_error(remote: str) -> None:
    argv = ("--task", "T099", "--feature", FEATURE, "--repo", remote)
    with pytest.raises(PodNotFoundError) as err:
        run(logs_args(*argv), no_pods())
    assert "no agent pod for task T099 and no stored session" in err.value.message
    assert err.value.exit_code == 23 and "spawn-pod.sh" in (err.value.hint or "")


def test_session_renders_the_stored_export_inert(
    remote: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["session", "T012", "--feature", FEATURE, "--repo", remote]) == 0

    captured = capsys.readouterr()
    assert "\x1b" not in captured.out and "\u202e" not in captured.out
    assert captured.out.startswith("# Session ses_1: T012\n")
    assert "hi red" in captured.out
    assert "````text\n```\n# x\n````" in captured.out  # the output cannot close its fence
    assert "it ended no-changes" in captured.err


def test_session_json_is_the_export_escaped(
    remote: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["session", "T012", "--feature", FEATURE, "--repo", remote, "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == HOSTILE and "\x1b" not in out


def test_session_log_prints_the_stored_log(remote: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["session", "T012", "--feature", FEATURE, "--repo", remote, "--log"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "[git] cloning" and "\x1b" not in out


def test_session_of_a_run_without_an_export_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = make_bare_repo(tmp_path, "r", {"README.md": "r\n"})
    git(tmp_path, "init", "-q", "dev")
    monkeypatch.chdir(tmp_path / "dev")
    store(bare, "T013", "[git] x", Result("T013", Status.KILLED))
    assert main(["session", "T013", "--feature", FEATURE, "--repo", f"file://{bare}"]) == 23
    err = capsys.readouterr().err
    assert "kept no opencode session" in err and "tail-logs.sh --task T013" in err


def test_session_of_an_unknown_task_is_no_such_pod(
    remote: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["session", "T099", "--feature", FEATURE, "--repo", remote]) == 23
    assert "no stored session refs/speckit-pods/session/001-f/T099" in capsys.readouterr().err
