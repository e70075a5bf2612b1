"""Runs that never finish: the run deadline (timeout, WIP saved), the stall watchdog,
and a model that calls tools forever (output never stops: only the deadline ends it).

The pods run at once (one module fixture); each test checks one of them.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest

from tests.e2e.cluster import Kubectl, wait_for
from tests.e2e.conftest import (
    Feature,
    create_feature,
    feature_objects,
    result_line,
    spawn,
    tail_all,
)
from tests.e2e.gitea import GiteaServer
from tests.support.scripted_llm import Marker, write_target

TIMEOUT_TASK, STALL_TASK, LOOP_TASK = "T030", "T031", "T032"


@dataclass(frozen=True)
class Ended:
    feature: Feature
    runs: dict[str, subprocess.CompletedProcess[str]]  # task id -> tail-logs run


@pytest.fixture(scope="module")
def ended(
    gitea: GiteaServer, installed: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Ended:
    feature = create_feature(
        gitea,
        tmp_path_factory.mktemp("timeouts"),
        [
            f"- [ ] {TIMEOUT_TASK} [P] [ASYNC] Write then hang scripted:write-then-stall",
            f"- [ ] {STALL_TASK} [P] [ASYNC] Never answered scripted:silence",
            f"- [ ] {LOOP_TASK} [P] [ASYNC] Call tools forever scripted:loop",
        ],
    )
    # The deadline runs from the pod's start, so it covers three clones and three opencode
    # starts on a loaded node: 90s (the agent stops at 80s, 10s margin) leaves room for
    # them (at 40s a CI run once saw no LLM request before the deadline) and still fires
    # long before the 10m watchdog; the watchdog (15s without output) fires long before
    # the 10m deadline.
    pods = {
        TIMEOUT_TASK: spawn(feature, TIMEOUT_TASK, "--timeout", "90s", "--cleanup", "always"),
        STALL_TASK: spawn(feature, STALL_TASK, "--stall-timeout", "15s", "--cleanup", "always"),
        LOOP_TASK: spawn(feature, LOOP_TASK, "--timeout", "90s", "--cleanup", "always"),
    }
    done = tail_all({pod: ["--timeout", "4m"] for pod in pods.values()}, cwd=feature.clone)
    return Ended(feature, {task: done[pod] for task, pod in pods.items()})


def test_deadline_reports_timeout_and_pushes_the_wip_commit(
    ended: Ended, gitea: GiteaServer
) -> None:
    done = ended.runs[TIMEOUT_TASK]
    assert done.returncode == 124, done.stdout + done.stderr
    line = result_line(done)
    assert line.startswith(f"[{TIMEOUT_TASK}] RESULT status=timeout exit=124 "), line
    assert "deadline" in line and "WIP commit pushed" in line, line

    feature, branch = ended.feature, ended.feature.branch(TIMEOUT_TASK)
    commit = gitea.branch_commit(feature.repo, branch)
    assert commit and f"commit={commit}" in line, (commit, line)
    message = gitea.api("GET", f"/repos/{gitea.owner}/{feature.repo}/git/commits/{commit}")
    subject = message["commit"]["message"].splitlines()[0]
    assert subject == f"WIP {TIMEOUT_TASK}: Write then hang scripted:write-then-stall", subject
    path, content = write_target(Marker("write-then-stall", {}, TIMEOUT_TASK))
    assert gitea.read_file(feature.repo, branch, path) == content


def test_silent_llm_is_stopped_by_the_stall_watchdog(ended: Ended, gitea: GiteaServer) -> None:
    done = ended.runs[STALL_TASK]
    assert done.returncode == 4, done.stdout + done.stderr
    line = result_line(done)
    assert line.startswith(f"[{STALL_TASK}] RESULT status=stalled exit=4 "), line
    assert "no output from opencode for 15s" in line, line
    # nothing was written, so nothing was pushed
    branch = ended.feature.branch(STALL_TASK)
    assert gitea.branch_commit(ended.feature.repo, branch) is None


def test_ended_pods_are_cleaned_up(ended: Ended, installed: Kubectl) -> None:
    for kind in ("pods", "configmaps"):
        wait_for(
            f"{kind} of {ended.feature.name} deleted (--cleanup always)",
            lambda: not feature_objects(installed, kind, ended.feature),  # noqa: B023
            timeout=90,
        )


def test_endless_tool_loop_is_ended_by_the_deadline(ended: Ended, gitea: GiteaServer) -> None:
    done = ended.runs[LOOP_TASK]
    assert done.returncode == 124, done.stdout + done.stderr
    line = result_line(done)
    assert line.startswith(f"[{LOOP_TASK}] RESULT status=timeout exit=124 "), line
    turns = [text for text in done.stdout.splitlines() if "echo loop" in text]
    assert len(turns) >= 3, done.stdout  # it really looped in the pod before the deadline
    assert gitea.branch_commit(ended.feature.repo, ended.feature.branch(LOOP_TASK)) is None
