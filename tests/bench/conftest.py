"""Bench fixtures: the e2e cluster fixtures plus a session-wide figure recorder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.bench.figures import Recorder
from tests.e2e.cluster import NAMESPACE, Kubectl
from tests.e2e.conftest import (  # noqa: F401 - fixtures shared with the e2e
    agent_image,
    cluster_lock,
    create_secret,
    developer_git,
    e2e_cluster,
    e2e_registry,
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
from tests.e2e.gitea import GiteaServer

_RECORDER = Recorder()


@pytest.fixture(scope="session")
def bench() -> Iterator[Recorder]:
    """Where each test adds its figure; written to JSON when the session ends."""
    yield _RECORDER
    if _RECORDER.figures:
        _RECORDER.write()


@pytest.fixture
def git_secret(installed: Kubectl, gitea: GiteaServer) -> Iterator[str]:  # noqa: F811
    """Our own git Secret: the shared cluster's default one may hold another run's token."""
    name = f"bench-git-{uuid.uuid4().hex[:8]}"
    create_secret(installed, name, "token", gitea.auth.token)
    yield name
    installed.run("delete", "secret", name, "-n", NAMESPACE, "--ignore-not-found")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RECORDER.figures:
        return
    terminalreporter.section("speckit-pods bench (ours vs baseline, same run)")
    for line in _RECORDER.table():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"written to {_RECORDER.path()}")
