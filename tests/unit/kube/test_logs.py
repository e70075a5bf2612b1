from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest

from runtime.kube.client import Kube
from runtime.kube.logs import (
    ClusterLogs,
    LogCursor,
    Printer,
    iter_lines,
    read_once,
    split_timestamp,
    stream_logs,
    use_color,
)
from runtime.kube.podwatch import ClusterPods, Deadline
from tests.unit.fakes import Cut, FakeClock, FakeClusterCore, exited, make_pod, running, stamp_ns


def test_split_timestamp_nanos_and_trimmed_fraction() -> None:
    key, text = split_timestamp("2025-01-01T00:00:05.5Z hello world")
    assert key == stamp_ns(5, 500_000_000) and text == "hello world"
    key2, _ = split_timestamp("2025-01-01T00:00:05.000000001Z x")
    assert key2 == stamp_ns(5, 1)
    assert split_timestamp("2025-01-01T00:00:05Z ")[1] == ""
    assert split_timestamp("no stamp here") == (None, "no stamp here")


def test_iter_lines_across_chunks_keeps_partial_last() -> None:
    chunks = [b"ab", b"c\nde", b"f\n\ng", b"h"]
    assert list(iter_lines(chunks)) == [("abc", True), ("def", True), ("", True), ("gh", False)]


def test_iter_lines_multibyte_split_across_chunks() -> None:
    data = "héllo ✓\n".encode()
    assert list(iter_lines([data[:2], data[2:9], data[9:]])) == [("héllo ✓", True)]


def test_cursor_skips_replayed_lines_including_same_timestamp() -> None:
    clock = FakeClock()
    cursor = LogCursor(clock)
    cursor.begin()
    first = [stamp_ns(1), stamp_ns(2), stamp_ns(2)]
    assert [cursor.accept(k) for k in first] == [True, True, True]
    # reconnect: the API resends from a whole second; two lines at ts 2 were printed
    cursor.begin()
    replay = [stamp_ns(1), stamp_ns(2), stamp_ns(2), stamp_ns(2), stamp_ns(3)]
    assert [cursor.accept(k) for k in replay] == [False, False, False, True, True]


def test_cursor_since_seconds_uses_local_elapsed_time_plus_margin() -> None:
    clock = FakeClock()
    cursor = LogCursor(clock)
    assert cursor.since_seconds() is None
    cursor.begin()
    cursor.accept(stamp_ns(100))
    clock.now += 12.2
    assert cursor.since_seconds() == 13 + 5


def lines(n: int, *, same_second: bool = False) -> list[tuple[int, str]]:
    # same_second: pairs of lines share one timestamp exactly
    return [(stamp_ns(i // 2 if same_second else i, 0), f"line {i}") for i in range(n)]


def setup(
    log: list[tuple[int, str]], cuts: list[Cut], *, finished: bool = True
) -> tuple[FakeClusterCore, ClusterPods, ClusterLogs, FakeClock]:
    core, clock = FakeClusterCore(), FakeClock()
    core.add(make_pod("p", container=running()))
    core.logs["p"] = log
    core.cuts["p"] = [dataclasses.replace(cut) for cut in cuts]
    if finished:
        core.final["p"] = make_pod("p", phase="Succeeded", container=exited(0))
    kube = Kube(core=core, namespace="ns")
    return core, ClusterPods(kube), ClusterLogs(kube), clock


@pytest.mark.parametrize(
    "cuts",
    [
        [],
        [Cut(3)],
        [Cut(3, partial=True)],
        [Cut(2, error=True), Cut(2, partial=True, error=True), Cut(7)],
        [Cut(1), Cut(4, partial=True), Cut(4), Cut(9, partial=True)],
    ],
)
@pytest.mark.parametrize("same_second", [False, True])
def test_reconnects_without_loss_or_duplication(cuts: list[Cut], same_second: bool) -> None:
    log = lines(12, same_second=same_second)
    core, pods, logs, clock = setup(log, cuts)
    got = list(stream_logs(logs, pods, "p", deadline=Deadline(None, clock), sleep=clock.sleep))
    assert got == [text for _, text in log]
    follows = [call for call in core.log_calls if call["follow"]]
    assert len(follows) == len(cuts) + 1
    # every reconnect resumes from a point in time, never from the start again
    assert all("since_seconds" in call for call in follows[1:])
    assert all(call["timestamps"] for call in core.log_calls)


def test_final_line_without_newline_is_drained_after_the_end() -> None:
    core, pods, logs, clock = setup(lines(3), [])
    core.pods["p"] = make_pod("p", phase="Succeeded", container=exited(0))
    core.chunk = 1000

    # the container ended: the follow stream's last line has no newline
    original = core.read_namespaced_pod_log

    def no_final_newline(name: str, namespace: str, **kw: object) -> object:
        response = original(name, namespace, **kw)
        if kw.get("follow"):
            response.data = response.data.rstrip(b"\n")
        return response

    core.read_namespaced_pod_log = no_final_newline  # type: ignore[method-assign]
    got = list(stream_logs(logs, pods, "p", deadline=Deadline(None, clock), sleep=clock.sleep))
    assert got == ["line 0", "line 1", "line 2"]
    assert core.log_calls[-1]["follow"] is False


def test_stops_when_the_pod_is_deleted() -> None:
    core, pods, logs, clock = setup(lines(4), [Cut(2)], finished=False)
    original = core.read_namespaced_pod_log

    def delete_on_drop(name: str, namespace: str, **kw: object) -> object:
        response = original(name, namespace, **kw)
        core.pods.pop("p", None)
        return response

    core.read_namespaced_pod_log = delete_on_drop  # type: ignore[method-assign]
    got = list(stream_logs(logs, pods, "p", deadline=Deadline(None, clock), sleep=clock.sleep))
    assert got == ["line 0", "line 1"]


def test_idle_reconnects_back_off_and_stop_at_the_deadline() -> None:
    core, pods, logs, clock = setup(lines(2), [Cut(2)] * 50, finished=False)
    got = list(stream_logs(logs, pods, "p", deadline=Deadline.after(30, clock), sleep=clock.sleep))
    assert got == ["line 0", "line 1"]
    assert clock.slept[:3] == [1.0, 2.0, 4.0] and max(clock.slept) == 10.0
    assert clock.now >= 1030


def test_read_once_and_tail() -> None:
    core, pods, logs, _ = setup(lines(8), [])
    assert read_once(logs, "p") == [f"line {i}" for i in range(8)]
    assert logs.tail("p", 2) == ["line 6", "line 7"]
    assert core.log_calls[-1]["tail_lines"] == 2


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("no_color", "env", "tty", "expected"),
    [
        (False, {}, True, True),
        (True, {}, True, False),
        (False, {"NO_COLOR": "1"}, True, False),
        (False, {"NO_COLOR": ""}, True, True),
        (False, {}, False, False),
    ],
)
def test_use_color(no_color: bool, env: dict[str, str], tty: bool, expected: bool) -> None:
    stream = Tty() if tty else io.StringIO()
    assert use_color(no_color, stream, env) is expected


def test_printer_prefixes_and_colours_per_pod() -> None:
    out, err = io.StringIO(), io.StringIO()
    plain = Printer(out, err, color=False)
    plain.line("T012", 0, "hello")
    plain.note("WARNING", "T013", 1, "stuck")
    assert out.getvalue() == "[T012] hello\n"
    assert err.getvalue() == "WARNING: [T013] stuck\n"
    coloured = Printer(out, err, color=True)
    assert coloured.prefix("T012", 0) != coloured.prefix("T013", 1)
    assert coloured.prefix("T012", 0).startswith("\033[") and "[T012]" in coloured.prefix("T012", 0)


def test_forbidden_log_is_an_api_error_not_a_retry_loop() -> None:
    from kubernetes.client.exceptions import ApiException

    from runtime.errors import KubeApiError

    core, pods, logs, clock = setup(lines(2), [])

    def forbidden(name: str, namespace: str, **kw: object) -> object:
        raise ApiException(status=403, reason="Forbidden")

    core.read_namespaced_pod_log = forbidden  # type: ignore[method-assign]
    with pytest.raises(KubeApiError, match="reading the log of pod p failed: HTTP 403"):
        list(stream_logs(logs, pods, "p", deadline=Deadline(None, clock), sleep=clock.sleep))


def _deny_reads(core: FakeClusterCore, times: int) -> list[int]:
    """The next ``times`` pod reads answer 403, like an API server whose RBAC cache is cold."""
    from kubernetes.client.exceptions import ApiException

    original, denied = core.read_namespaced_pod, [0]

    def read(name: str, namespace: str) -> Any:
        if denied[0] < times:
            denied[0] += 1
            raise ApiException(status=403, reason="Forbidden")
        return original(name, namespace)

    core.read_namespaced_pod = read  # type: ignore[method-assign]
    return denied


def test_denials_right_after_a_drop_are_waited_out() -> None:
    core, pods, logs, clock = setup(lines(6), [Cut(3, error=True)])
    denied = _deny_reads(core, 4)
    got = list(stream_logs(logs, pods, "p", deadline=Deadline(None, clock), sleep=clock.sleep))
    assert got == [f"line {i}" for i in range(6)]
    assert denied == [4]


def test_denials_that_outlast_the_grace_period_are_reported() -> None:
    from runtime.errors import KubeApiError
    from runtime.kube.podwatch import RECOVERY_GRACE_S

    core, pods, logs, clock = setup(lines(6), [Cut(3, error=True)])
    _deny_reads(core, 10_000)
    with pytest.raises(KubeApiError, match="HTTP 403"):
        list(stream_logs(logs, pods, "p", deadline=Deadline(None, clock), sleep=clock.sleep))
    assert RECOVERY_GRACE_S <= clock.now - 1000 < RECOVERY_GRACE_S + 11


def test_a_denial_without_a_drop_is_reported_at_once() -> None:
    from kubernetes.client.exceptions import ApiException

    from runtime.errors import KubeApiError

    core, pods, logs, clock = setup(lines(6), [])

    def forbidden(name: str, namespace: str, **kw: Any) -> Any:
        raise ApiException(status=403, reason="Forbidden")

    core.read_namespaced_pod_log = forbidden  # type: ignore[method-assign]
    with pytest.raises(KubeApiError, match="HTTP 403"):
        list(stream_logs(logs, pods, "p", deadline=Deadline(None, clock), sleep=clock.sleep))
    assert not clock.slept


def test_the_log_followed_is_the_git_containers() -> None:
    core, pods, logs, clock = setup(lines(3), [])
    list(stream_logs(logs, pods, "p", deadline=Deadline(None, clock), sleep=clock.sleep))
    logs.tail("p", 5)
    assert core.log_calls and {call["container"] for call in core.log_calls} == {"git"}
