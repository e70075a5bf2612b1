"""--pr: the dispatcher's side of the draft pull requests (a fake host)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runtime.contract.outcome import Result, Status
from runtime.contract.start import StartPoint
from runtime.dispatch.pull_requests import PullRequests
from runtime.errors import GitHostConfigError, ReviewError
from runtime.review.hosts import PullRequestHost
from runtime.tasks.parse import parse_tasks_text
from tests.unit.review.test_publish import FakeHost

TASKS = parse_tasks_text(
    "- [ ] T012 [ASYNC] Add the greeting @everyone\n  It says hello.\n"
    "- [ ] T013 [ASYNC] Add the farewell\n"
)
BY_ID = {task.id: task for task in TASKS.tasks}


def result(task: str = "T012", **changes: object) -> Result:
    fields: dict[str, object] = {
        "task": task, "status": Status.SUCCEEDED, "branch": f"specs/f/{task}-async",
        "commit": "c" * 40,
    }  # fmt: skip
    fields.update(changes)
    return Result(**fields)  # type: ignore[arg-type]


def test_a_pushed_task_gets_a_draft_on_its_branch_with_the_tasks_title() -> None:
    host = FakeHost()
    pulls = PullRequests(lambda: host, BY_ID)

    report = pulls.publish("T012", result(), "main")

    assert report is not None and report.level == "INFO"
    assert report.text.startswith("opened draft pull request #1 (specs/f/T012-async -> main): ")
    assert report.url == "https://h/pulls/1"
    ((call, sent),) = [c for c in host.calls if c[0] == "create"]
    assert sent["draft"] is True and sent["head"] == "specs/f/T012-async"
    assert sent["title"].startswith("T012: Add the greeting")
    assert "@everyone" not in sent["title"]  # no one is pinged by an agent's text


def test_a_stacked_task_is_based_on_its_one_prerequisites_branch() -> None:
    host = FakeHost()
    point = StartPoint("T012", "specs/f/T012-async", "a" * 40)
    report = PullRequests(lambda: host, BY_ID).publish(
        "T013", result("T013", started_from=(point,)), "main"
    )
    assert report is not None and "-> specs/f/T012-async" in report.text


def test_nothing_pushed_no_pull_request() -> None:
    host = FakeHost()
    pulls = PullRequests(lambda: host, BY_ID)
    assert pulls.publish("T012", result(commit=""), "main") is None  # a conflict
    assert pulls.publish("T012", None, "main") is None  # no result line
    assert host.calls == []


def test_an_api_refusal_is_one_warning_and_the_next_task_is_tried() -> None:
    class Refusing(FakeHost):
        def find_open(self, head: str, base: str | None = None) -> None:
            super().find_open(head, base)
            raise ReviewError("gitea refused (403): user does not have permission", hint="h")

    host = Refusing()
    pulls = PullRequests(lambda: host, BY_ID)
    first = pulls.publish("T012", result(), "main")
    second = pulls.publish("T013", result("T013"), "main")
    assert first is not None and first.level == "WARNING"
    assert (
        first.text
        == "no pull request: gitea refused (403): user does not have permission (hint: h)"
    )
    assert second is not None and len(host.calls) == 2  # tried again: it may be per branch


def test_an_unknown_host_is_said_once_and_nothing_more_is_tried() -> None:
    calls: list[int] = []

    def connect() -> PullRequestHost:
        calls.append(1)
        raise GitHostConfigError(
            "cannot tell the git host of git.example.org", hint="SPECKIT_PODS_GIT_HOST=gitea"
        )

    pulls = PullRequests(connect, BY_ID)
    report = pulls.publish("T012", result(), "main")
    assert report is not None and report.level == "WARNING"
    assert report.text.endswith("; no pull request is opened in this run")
    assert "SPECKIT_PODS_GIT_HOST=gitea" in report.text
    assert pulls.publish("T013", result("T013"), "main") is None
    assert calls == [1]


def test_a_failed_task_with_pushed_work_gets_a_pull_request_marked_failed() -> None:
    host = FakeHost()
    PullRequests(lambda: host, BY_ID).publish(
        "T012", result(status=Status.STALLED, reason="no output for 300s"), "main"
    )
    ((_, sent),) = [c for c in host.calls if c[0] == "create"]
    assert sent["title"].startswith("[stalled] T012: ")
    assert "no output for 300s" in sent["body"]


def sent_body(host: FakeHost) -> str:
    ((_, sent),) = [c for c in host.calls if c[0] in ("create", "update")]
    return str(sent["body"])


def test_the_body_ends_with_the_runs_last_log_lines_from_its_stored_session() -> None:
    host, asked = FakeHost(), []
    log = [f"[agent] step {n}" for n in range(100)] + [result().to_line()]

    def log_tail(task_id: str) -> list[str]:
        asked.append(task_id)
        return log

    report = PullRequests(lambda: host, BY_ID, log_tail).publish("T012", result(), "main")

    assert report is not None and report.level == "INFO" and report.text.endswith("pulls/1")
    body = sent_body(host)
    shown = body.split("### Last log lines\n\n```text\n")[1].split("\n```")[0].splitlines()
    assert shown == [f"[agent] step {n}" for n in range(70, 100)]  # the last 30
    assert "SPECKIT_POD_RESULT" not in body and asked == ["T012"]


@pytest.mark.parametrize(
    "log",
    [
        [],  # no session kept
        ["[agent] an earlier run", result(commit="e" * 40).to_line()],  # this run kept none
        ["[agent] cut before its result line"],
    ],
)
def test_a_log_that_is_not_this_runs_is_left_out(log: list[str]) -> None:
    host = FakeHost()
    report = PullRequests(lambda: host, BY_ID, lambda _: log).publish("T012", result(), "main")
    assert report is not None and report.level == "INFO" and report.text.endswith("pulls/1")
    body = sent_body(host)
    assert "### Last log lines" not in body and "earlier run" not in body


def test_an_unreadable_session_still_opens_the_pull_request_with_a_short_note() -> None:
    from runtime.spawn.start import RemoteError

    def log_tail(task_id: str) -> list[str]:
        raise RemoteError("cannot read the stored session: fatal: unable to access", hint="h")

    host = FakeHost()
    pulls = PullRequests(lambda: host, BY_ID, log_tail)
    report = pulls.publish("T012", result(), "main")

    assert report is not None and report.level == "INFO" and report.url == "https://h/pulls/1"
    assert report.text.endswith(
        "(without its last log lines: cannot read the stored session: fatal: unable to access)"
    )
    assert "### Last log lines" not in sent_body(host)

    def broken(task_id: str) -> list[str]:
        raise OSError("git: not found")

    other = PullRequests(lambda: FakeHost(), BY_ID, broken).publish("T013", result("T013"), "main")
    assert other is not None and other.level == "INFO" and "git: not found" in other.text


def test_the_integration_branch_gets_one_pull_request_into_the_base_listing_its_tasks() -> None:
    host = FakeHost()
    points = (
        StartPoint("T012", "specs/f/T012-async", "a" * 40),
        StartPoint("T013", "specs/f/T013-async", "b" * 40),
    )
    integrated = result("integration", branch="specs/f/integration", started_from=points)
    report = PullRequests(lambda: host, BY_ID).publish_integration("001-f", integrated, "main")
    assert report is not None and report.level == "INFO"
    assert "(specs/f/integration -> main)" in report.text
    ((_, sent),) = [c for c in host.calls if c[0] == "create"]
    assert sent["title"] == "001-f: integration of 2 task(s)" and sent["base"] == "main"
    assert "`T012` at `aaaaaaaaaaaa`: Add the greeting @\u200beveryone" in sent["body"]
    assert "`T013` at `bbbbbbbbbbbb`: Add the farewell" in sent["body"]

    host.open_pull = host.create("x", "", "specs/f/integration", "main", True)
    again = PullRequests(lambda: host, BY_ID).publish_integration("001-f", integrated, "main")
    assert again is not None and again.text.startswith("updated pull request #1 ")


def test_an_integration_that_pushed_nothing_gets_no_pull_request() -> None:
    host = FakeHost()
    pulls = PullRequests(lambda: host, BY_ID)
    assert pulls.publish_integration("001-f", None, "main") is None
    assert pulls.publish_integration("001-f", result("integration", commit=""), "main") is None
    assert host.calls == []


def test_the_backend_opens_the_pull_request_when_the_pod_ended_and_the_table_links_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime.dispatch.backend import ClusterBackend
    from runtime.dispatch.loop import Dispatcher
    from runtime.dispatch.view import PlainView
    from runtime.kube import labels
    from runtime.kube.client import Kube
    from runtime.kube.logs import Printer
    from runtime.spawn.create import SpawnOptions
    from runtime.tasks.parse import parse_tasks
    from runtime.tasks.plan import build_plan
    from tests.unit.fakes import FakeClusterCore, exited, make_pod, stamp_ns

    tasks_file = tmp_path / "tasks.md"
    tasks_file.write_text("- [ ] T012 [ASYNC] Add the greeting\n", encoding="utf-8")
    core = FakeClusterCore()
    annotations = {labels.BRANCH: "specs/f/T012-async", labels.BASE: "develop"}
    core.add(
        make_pod(
            "p12", task="T012", feature="001-f", phase="Succeeded", container=exited(0),
            annotations=annotations,
        )
    )  # fmt: skip
    core.logs["p12"] = [(stamp_ns(1), result().to_line())]
    stored = {"T012": ["[agent] wrote greeting.py @bob", result().to_line()]}  # its session
    host = FakeHost()
    printer = Printer(sys.stdout, sys.stderr, color=False)
    backend = ClusterBackend(
        Kube(core=core, namespace="ns"),
        SpawnOptions(task_id="", tasks_file=tasks_file),
        "001-f",
        printer,
        pull_requests=PullRequests(lambda: host, BY_ID, lambda task: stored.get(task, [])),
    )
    the_plan = build_plan(parse_tasks(tasks_file))
    summary = Dispatcher(the_plan, backend, PlainView(printer, {"T012": 0})).run()

    assert summary.rows[0].pull_request == "https://h/pulls/1"
    ((_, sent),) = [c for c in host.calls if c[0] == "create"]
    assert sent["base"] == "develop"  # the pod's base branch
    assert "```text\n[agent] wrote greeting.py @\u200bbob\n```" in sent["body"]
    err = capsys.readouterr().err
    assert "INFO: [T012] opened draft pull request #1 (specs/f/T012-async -> develop)" in err
