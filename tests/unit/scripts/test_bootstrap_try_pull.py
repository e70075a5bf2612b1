"""hack/bootstrap/lib.sh try_pull: the online fast path, bounded, and off on request.

A fake ``docker`` on PATH stands for a registry that answers, refuses or hangs; docker
prints its first line once the registry answered (or failed), which bounds the wait for
an answer apart from the whole download.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

LIB = Path(__file__).resolve().parents[3] / "hack" / "bootstrap" / "lib.sh"


def try_pull(
    tmp_path: Path, docker_body: str, *args: str, **env: str
) -> tuple[int, str, list[str], float]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(f'#!/usr/bin/env bash\necho "$*" >> "$CALLS"\n{docker_body}\n')
    (bin_dir / "docker").chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", f'source "{LIB}"; try_pull debian:bookworm-slim {" ".join(args)}'],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), **env},
    )  # fmt: skip
    took = time.monotonic() - started
    return done.returncode, done.stderr, calls.read_text().splitlines(), took


def test_a_registry_that_answers_is_used(tmp_path: Path) -> None:
    code, err, calls, _ = try_pull(tmp_path, "exit 0")
    assert code == 0 and calls == ["pull debian:bookworm-slim"]
    assert "INFO: pulled debian:bookworm-slim in " in err and "no build needed" in err


def test_no_registry_means_build_and_says_why(tmp_path: Path) -> None:
    refused = "Error response from daemon: dial tcp: lookup registry-1.docker.io: no such host"
    code, err, _, _ = try_pull(tmp_path, f'echo "{refused}" >&2; exit 1')
    assert code == 1
    assert "INFO: no registry answers for debian:bookworm-slim (Error response" in err
    assert err.rstrip().endswith("building it")


def test_a_hanging_registry_is_given_up_on_in_time(tmp_path: Path) -> None:
    code, err, _, took = try_pull(tmp_path, "exec sleep 20", BOOTSTRAP_PULL_TIMEOUT="1")
    assert code == 1 and err.rstrip().endswith("building it")
    assert "INFO: no registry answers for debian:bookworm-slim (no answer in 1s" in err
    assert took < 10


def test_a_step_with_a_big_image_gives_the_download_longer(tmp_path: Path) -> None:
    # the registry answers at once (the first line), the download takes 2 s
    slow = "echo 'bookworm-slim: Pulling from library/debian'; sleep 2; echo 'Status: Downloaded'"
    code, err, _, _ = try_pull(tmp_path, slow, "10", BOOTSTRAP_PULL_TIMEOUT="3")
    assert code == 0, err
    assert "INFO: pulled debian:bookworm-slim in " in err


def test_a_download_over_its_total_is_given_up_on(tmp_path: Path) -> None:
    slow = "echo 'bookworm-slim: Pulling from library/debian'; exec sleep 20"
    code, err, _, took = try_pull(tmp_path, slow, "4", BOOTSTRAP_PULL_TIMEOUT="3")
    assert code == 1 and took < 15
    assert "INFO: the pull of debian:bookworm-slim took over 4s (BOOTSTRAP_PULL_TOTAL)" in err
    code, err, _, took = try_pull(
        tmp_path, slow, "600", BOOTSTRAP_PULL_TIMEOUT="3", BOOTSTRAP_PULL_TOTAL="4"
    )
    assert code == 1 and took < 15 and "took over 4s" in err


def test_bootstrap_pull_0_never_pulls(tmp_path: Path) -> None:
    code, err, calls, _ = try_pull(tmp_path, "exit 0", BOOTSTRAP_PULL="0")
    assert code == 1 and calls == [] and err == ""
