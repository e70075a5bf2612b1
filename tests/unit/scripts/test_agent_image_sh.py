"""hack/bootstrap/agent-image.sh --push: the agent image where the user's cluster pulls it.

A fake ``docker`` on PATH records every call: the build, then the tag and the push of
the reference the user gave (the pinned tag added when it has none), and the digest.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "hack" / "bootstrap" / "agent-image.sh"
DIGEST = "sha256:" + "ab" * 32

FAKE_DOCKER = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$DOCKER_CALLS"
case "$1 $2" in
  "version --format") echo 26.1.5 ;;
  "push --quiet") [[ -z "${PUSH_FAILS:-}" ]] || { echo "denied: requested access" >&2; exit 1; } ;;
  "image inspect")
    case "$*" in
      *RepoDigests*) echo "${@: -1}" | sed "s/:[^:/]*$/@$FAKE_DIGEST/" ;;
      *RepoTags*) echo "ghcr.io/speckit-pods/agent:0.1.0 123" ;;
    esac ;;
esac
"""


def run(
    tmp_path: Path, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    done = subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "DOCKER_CALLS": str(calls),
            "FAKE_DIGEST": DIGEST,
            "AGENT_IMAGE": "ghcr.io/speckit-pods/agent:0.1.0",
            "EXTRA_CA_FILE": "",
            **env,
        },
    )  # fmt: skip
    return done, calls.read_text().splitlines()


@pytest.mark.parametrize(
    ("given", "pushed"),
    [
        ("registry.example.com:5000/team/agent", "registry.example.com:5000/team/agent:0.1.0"),
        ("registry.example.com/team/agent:v7", "registry.example.com/team/agent:v7"),
        ("localhost:5000/agent", "localhost:5000/agent:0.1.0"),
    ],
)
def test_push_tags_and_pushes_the_given_reference(tmp_path: Path, given: str, pushed: str) -> None:
    done, calls = run(tmp_path, "--push", given)
    assert done.returncode == 0, done.stderr
    assert any(c.startswith("buildx build") for c in calls), calls
    assert f"tag ghcr.io/speckit-pods/agent:0.1.0 {pushed}" in calls
    assert f"push --quiet {pushed}" in calls
    repo = pushed.rsplit(":", 1)[0]
    assert done.stdout.splitlines()[-1] == f"{repo}@{DIGEST}"
    assert f"export SPECKIT_PODS_IMAGE={pushed}" in done.stderr


def test_a_refused_push_is_one_error_with_a_hint(tmp_path: Path) -> None:
    done, _ = run(tmp_path, "--push", "registry.example.com/team/agent", PUSH_FAILS="1")
    assert done.returncode == 1
    error = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert error == [
        "ERROR: docker push registry.example.com/team/agent:0.1.0 failed (hint: docker login"
        " to its registry; the name must be one you may push to)"
    ]


@pytest.mark.parametrize("args", [["--push"], ["--push", "--no-cache"], ["--push", ""]])
def test_push_without_a_reference_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    done, calls = run(tmp_path, *args)
    assert done.returncode == 2 and "--push needs REGISTRY/PATH[:TAG]" in done.stderr
    assert calls == []  # nothing built


def test_without_push_nothing_is_pushed(tmp_path: Path) -> None:
    done, calls = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert not [c for c in calls if c.startswith(("push", "tag"))], calls
