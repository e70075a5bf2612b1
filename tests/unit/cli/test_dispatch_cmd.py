"""The dispatcher command: ``integrate`` (the integration pod faked, its pull request on a
fake host), and the closing lines (the feature's tokens, and their cost at your price)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from runtime.cli import main
from runtime.cli.dispatch_cmd import _report
from runtime.contract.outcome import Result, Status
from runtime.contract.start import StartPoint
from runtime.dispatch import integration, pull_requests
from runtime.dispatch.loop import Integrated, Row, RunState, Summary
from runtime.dispatch.pull_requests import PullRequests
from runtime.errors import ReviewError
from runtime.kube import client
from runtime.kube.client import Kube
from runtime.tasks.parse import Task
from tests.unit.fakes import FakeClusterCore
from tests.unit.review.test_publish import FakeHost

REPO = "https://git.example.com/acme/app.git"
BRANCH = "specs/001-demo/integration"
TASKS = "- [X] T002 [ASYNC] Add `src/a.py`\n- [X] T003 [ASYNC] Add `src/b.py`\n"
POINTS = (
    StartPoint("T002", "specs/001-demo/T002-async", "a" * 40),
    StartPoint("T003", "specs/001-demo/T003-async", "b" * 40),
)


@pytest.fixture
def feature_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "specs" / "001-demo"
    folder.mkdir(parents=True)
    (folder / "tasks.md").write_text(TASKS, encoding="utf-8")
    return folder


def integrated(status: Status = Status.SUCCEEDED) -> Integrated:
    result = Result(
        "integration", status, BRANCH, "c" * 40, started_from=POINTS, reason="merged 2 task(s)"
    )
    return Integrated(status, BRANCH, result.reason, result, "develop")


class Fakes:
    """The cluster, the integration and the pull requests' host, recorded."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, done: Integrated | None, host: FakeHost | None = None
    ) -> None:
        self.host = host or FakeHost()
        self.wired: list[tuple[str, str]] = []
        monkeypatch.setattr(client, "connect", lambda *_: Kube(FakeClusterCore(), "ns"))
        monkeypatch.setattr(integration, "integrate", lambda *_: done)
        monkeypatch.setattr(pull_requests, "cluster_pull_requests", self.pull_requests)

    def pull_requests(
        self, repo_url: str, feature: str, tasks: Mapping[str, Task], cwd: Path
    ) -> PullRequests:
        self.wired.append((repo_url, feature))
        return PullRequests(lambda: self.host, tasks)


def integrate(feature_dir: Path, *args: str) -> int:
    return main(["dispatch", "integrate", "--tasks", str(feature_dir), "--repo", REPO, *args])


def test_integrate_with_pr_opens_the_integration_branchs_pull_request_as_run_does(
    feature_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fakes = Fakes(monkeypatch, integrated())

    assert integrate(feature_dir, "--pr") == 0

    assert fakes.wired == [(REPO, "001-demo")]
    ((_, sent),) = [call for call in fakes.host.calls if call[0] == "create"]
    assert (sent["head"], sent["base"], sent["draft"]) == (BRANCH, "develop", True)
    assert sent["title"] == "001-demo: integration of 2 task(s)"
    assert "`T003` at `bbbbbbbbbbbb`: Add `src/b.py`" in sent["body"]
    assert capsys.readouterr().err.splitlines()[-3:] == [
        f"INFO: [integration] opened draft pull request #1 ({BRANCH} -> develop): "
        "https://h/pulls/1",
        f"INFO: integration succeeded: {BRANCH} at cccccccccccc holds T002, T003: merged 2 task(s)",
        "INFO: pull requests: integration https://h/pulls/1",
    ]


def test_speckit_pods_pr_turns_it_on_and_a_second_integrate_updates_the_same_one(
    feature_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPECKIT_PODS_PR", "1")
    fakes = Fakes(monkeypatch, integrated())
    fakes.host.open_pull = fakes.host.create("x", "", BRANCH, "develop", True)

    assert integrate(feature_dir) == 0

    (*_, (found, asked), (updated, sent)) = fakes.host.calls
    assert (found, asked["head"]) == ("find_open", BRANCH)
    assert (updated, sent["base"]) == ("update", "develop")
    assert "INFO: [integration] updated pull request #1 (" in capsys.readouterr().err


def test_integrate_without_pr_opens_none(
    feature_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SPECKIT_PODS_PR", raising=False)
    fakes = Fakes(monkeypatch, integrated())

    assert integrate(feature_dir) == 0

    assert fakes.wired == [] and fakes.host.calls == []
    assert "pull request" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("done", "code", "said"),
    [
        (None, 0, "INFO: integration: no done [ASYNC] task has a branch yet"),
        (integrated(Status.CONFLICT), 1, "INFO: [integration] opened draft pull request #1 "),
    ],
)
def test_nothing_integrated_opens_none_and_a_conflict_still_shows_its_clean_merges(
    feature_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    done: Integrated | None,
    code: int,
    said: str,
) -> None:
    fakes = Fakes(monkeypatch, done)

    assert integrate(feature_dir, "--pr") == code

    assert said in capsys.readouterr().err
    titles = [sent["title"] for name, sent in fakes.host.calls if name == "create"]
    assert titles == ([] if done is None else ["[conflict] 001-demo: integration of 2 task(s)"])


def test_the_host_refusing_is_a_warning_and_the_exit_code_is_the_integrations(
    feature_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Refusing(FakeHost):
        def find_open(self, head: str, base: str | None = None) -> None:
            raise ReviewError("gitea refused (403): forbidden", hint="check the token's scopes")

    Fakes(monkeypatch, integrated(), Refusing())

    assert integrate(feature_dir, "--pr") == 0

    err = capsys.readouterr().err
    assert (
        "WARNING: [integration] no pull request: gitea refused (403): forbidden "
        "(hint: check the token's scopes)"
    ) in err.splitlines()
    assert "INFO: pull requests:" not in err


def test_pr_without_a_repository_is_a_usage_error_before_any_pod(
    feature_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[object] = []
    monkeypatch.setattr(client, "connect", lambda *_: started.append(1))
    monkeypatch.chdir(feature_dir)

    assert main(["dispatch", "integrate", "--tasks", str(feature_dir), "--pr"]) == 2

    assert "--pr needs the repository: pass --repo" in capsys.readouterr().err
    assert started == []


def tokens_line(rows: list[Row], capsys: pytest.CaptureFixture[str]) -> list[str]:
    _report(Summary(tuple(rows)), [])
    return [line for line in capsys.readouterr().err.splitlines() if "tokens:" in line]


def test_the_tokens_line_adds_the_cost_when_a_task_reported_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [
        Row("T001", RunState.SUCCEEDED, tokens=(1000, 200), cost_usd=0.0060),
        Row("T002", RunState.FAILED, tokens=(500, 100), cost_usd=0.0615),
        Row("T003", RunState.BLOCKED),
    ]
    assert tokens_line(rows, capsys) == [
        "INFO: tokens: 1500 in, 300 out (2 task(s) reported), cost $0.0675"
    ]


def test_without_a_price_the_tokens_line_is_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [Row("T001", RunState.SUCCEEDED, tokens=(1000, 200))]
    assert tokens_line(rows, capsys) == ["INFO: tokens: 1000 in, 200 out (1 task(s) reported)"]


def test_a_cost_from_some_of_the_tasks_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [  # one pod before --llm-price was given (a rerun, a re-attach)
        Row("T001", RunState.SUCCEEDED, tokens=(1000, 200), cost_usd=0.5),
        Row("T002", RunState.SUCCEEDED, tokens=(10, 2)),
    ]
    assert tokens_line(rows, capsys) == [
        "INFO: tokens: 1010 in, 202 out (2 task(s) reported), cost $0.5000 (1 of them priced)"
    ]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("never", [["--integrate", "never"], ["--no-integrate"]])
def test_run_json_prints_one_object_and_the_agents_lines_on_stderr(
    feature_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    never: list[str],
) -> None:
    import json

    from runtime.kube import labels
    from runtime.spawn.names import repo_id
    from tests.unit.fakes import exited, make_pod, stamp_ns

    (feature_dir / "tasks.md").write_text(TASKS.replace("[X] T002", "[ ] T002"), encoding="utf-8")
    core = FakeClusterCore()
    branch = "specs/001-demo/T002-async"
    annotations = {labels.CLEANUP: "on-success", labels.BRANCH: branch}
    core.add(
        make_pod(
            "p2", task="T002", feature="001-demo", phase="Succeeded", container=exited(0),
            annotations=annotations, repo_id=repo_id(REPO),
        )
    )  # fmt: skip
    result = Result("T002", Status.SUCCEEDED, branch, "c0ffee", ("a.py",), input_tokens=1200)
    core.logs["p2"] = [(stamp_ns(1), "writing src/a.py"), (stamp_ns(2), result.to_line())]
    monkeypatch.setattr(client, "connect", lambda *_: Kube(core, "ns"))
    monkeypatch.setattr(integration, "ClusterIntegrator", None)  # never built: never integrates

    code = main(["dispatch", "--tasks", str(feature_dir), "--repo", REPO, "--json", *never])

    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)  # the whole of stdout: one object
    assert data["feature"] == "001-demo" and data["exit_code"] == 0
    (task,) = data["tasks"]
    assert task["id"] == "T002" and task["state"] == "succeeded" and task["branch"] == branch
    assert task["started_from"] == [] and task["input_tokens"] == 1200
    assert task["integrated"] is None and task["conflict"] is False
    assert data["integration"] is None and data["total"]["tasks_reported"] == 1
    assert "[T002] writing src/a.py" in err and "[T002] RESULT status=succeeded" in err
    assert "TASK" not in out  # no table


def test_max_parallel_given_wins_and_the_default_says_what_the_quota_allows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse

    from runtime.cli.dispatch_cmd import _max_parallel
    from runtime.spawn.create import SpawnOptions
    from tests.unit.dispatch.test_capacity import kube, quota

    full = kube([quota("speckit-pods", {"pods": "5"}, {"pods": "4"})])
    template = SpawnOptions(task_id="")
    assert _max_parallel(argparse.Namespace(max_parallel=4), full, template) == 4
    assert capsys.readouterr().err == ""
    assert _max_parallel(argparse.Namespace(max_parallel=None), full, template) == 1
    assert capsys.readouterr().err == (
        "INFO: max-parallel 1 (quota speckit-pods allows 1 more pod of this shape)\n"
    )
