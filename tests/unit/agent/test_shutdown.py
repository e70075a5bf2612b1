"""The late-result watch: a SIGTERM with no result after it says where the side is stuck."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from runtime.agent.shutdown import LateWatch, Shutdown


@pytest.fixture
def shutdown() -> Iterator[Shutdown]:
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    handler = Shutdown()
    handler.install()
    yield handler
    for sig, old in previous.items():
        signal.signal(sig, old)


def _stuck_in_a_system_call(release: threading.Event) -> None:
    """Where the main thread waits: the line must name this function."""
    release.wait(5)


def test_no_result_after_sigterm_says_where_the_main_thread_is(shutdown: Shutdown) -> None:
    lines: list[str] = []
    watch = LateWatch(0.2, write=lines.append)
    watch.start()
    release = threading.Event()
    timer = threading.Timer(3, release.set)  # bounded: the test never hangs
    timer.start()
    try:
        os.kill(os.getpid(), signal.SIGTERM)

        def release_once_fired() -> None:
            watch.fired.wait(3)
            release.set()

        threading.Thread(target=release_once_fired).start()
        _stuck_in_a_system_call(release)
        assert watch.fired.is_set(), "no line 0.2 s after the SIGTERM"
    finally:
        timer.cancel()
        watch.stop()
    assert shutdown.requested.is_set()
    (line,) = lines
    assert line.startswith("[git] WARNING: no result 0.2s after SIGTERM; the main thread is at ")
    assert "test_shutdown.py:" in line and "_stuck_in_a_system_call" in line


def test_a_result_in_time_says_nothing(shutdown: Shutdown) -> None:
    lines: list[str] = []
    watch = LateWatch(0.3, write=lines.append)
    watch.start()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert shutdown.requested.wait(2)
        watch.done()  # the result printed
        assert not watch.fired.wait(0.6)
    finally:
        watch.stop()
    assert lines == []


def test_no_signal_says_nothing() -> None:
    lines: list[str] = []
    watch = LateWatch(0.05, write=lines.append)
    watch.start()
    try:
        assert not watch.fired.wait(0.3)
    finally:
        watch.stop()
    assert lines == []
