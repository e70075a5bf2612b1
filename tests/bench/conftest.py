"""Bench fixtures: the e2e cluster fixtures plus a session-wide figure recorder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bench.figures import Recorder
from tests.e2e.conftest import (  # noqa: F401 - fixtures shared with the e2e
    agent_image,
    cluster_lock,
    create_secret,
    developer_git,
    e2e_cluster,
    e2e_registry,
    git_secret,
    gitea,
    insecure_http_to_gitea,  # autouse: Gitea speaks http://
    installed,
    kind_cluster,
    kubeconfig,
    kubectl,
    llm,
    llm_cluster_url,
    llm_key,
    make_feature,
    network_policy_enforcer,
)

_RECORDER = Recorder()


@pytest.fixture(scope="session")
def bench() -> Iterator[Recorder]:
    """Where each test adds its figure; written to JSON when the session ends."""
    yield _RECORDER
    if _RECORDER.figures:
        _RECORDER.write()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RECORDER.figures:
        return
    terminalreporter.section("speckit-pods bench (ours vs baseline, same run)")
    for line in _RECORDER.table():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"written to {_RECORDER.path()}")
