"""The online fast path of node-image.sh and kube-binaries.sh, and its offline fallback.

A fake ``docker`` (and ``go``) first on PATH stands for a daemon whose registry answers or
refuses; it records every call and keeps the images it "has" in a state file. No real
docker, registry or Go build is used.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BOOTSTRAP = ROOT / "hack" / "bootstrap"
VERSIONS = dict(
    line.split("=", 1)
    for line in (BOOTSTRAP / "versions.env").read_text().splitlines()
    if line and not line.startswith("#")
)
KUBE = VERSIONS["KUBE_VERSION"]
NODE_IMAGE = VERSIONS["NODE_IMAGE"]
UPSTREAM = f"kindest/node@{VERSIONS['NODE_IMAGE_DIGEST']}"
REFUSED = "Error response from daemon: dial tcp: lookup registry-1.docker.io: no such host"

# docker: `version` answers unless NO_DAEMON; `image inspect` knows the images in $IMAGES;
# `pull` succeeds when REGISTRY=up; `build` lists its context into $CALLS.ctx and fails
# when BUILD_FAILS; `cp` writes a kubectl that reports $KUBECTL_VERSION.
FAKE_DOCKER = r"""#!/usr/bin/env bash
echo "docker $*" >> "$CALLS"
case "$1" in
  version) [[ -z "${NO_DAEMON:-}" ]] || exit 1; echo 26.1.5 ;;
  image)
    ref="${*: -1}"
    grep -qxF "$ref" "$IMAGES" || { echo "Error: No such image: $ref" >&2; exit 1; }
    [[ "$*" != *Size* ]] || echo 431000000 ;;
  pull)
    [[ "${REGISTRY:-}" == up ]] || { echo "$REFUSED" >&2; exit 1; }
    echo "${*: -1}" >> "$IMAGES" ;;
  tag) echo "$3" >> "$IMAGES" ;;
  build)
    [[ -z "${BUILD_FAILS:-}" ]] || { echo "build failed" >&2; exit 1; }
    ctx="${*: -1}"
    (cd "$ctx" && for f in *; do echo "$f $(stat -c %a "$f") $(sha256sum < "$f")"; done) \
      > "$CALLS.ctx"
    prev=""; for a in "$@"; do [[ "$prev" != -t ]] || echo "$a" >> "$IMAGES"; prev="$a"; done ;;
  create) echo ctr-1 ;;
  cp)
    printf '#!/bin/sh\necho "Client Version: %s"\necho "Kustomize Version: v5.7.1"\n' \
      "$KUBECTL_VERSION" > "${*: -1}" ;;
  rm) ;;
  *) echo "fake docker: unexpected $*" >&2; exit 99 ;;
esac
"""
FAKE_GO = r"""#!/usr/bin/env bash
echo "go $*" >> "$CALLS"
if [[ "$1" == install && -n "${GOBIN:-}" ]]; then
  printf '#!/bin/sh\n' > "$GOBIN/bridge" && chmod 0755 "$GOBIN/bridge"; exit 0
fi
exit 1
"""


def run(
    tmp_path: Path, script: str, *args: str, images: tuple[str, ...] = (), **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    cache = tmp_path / "cache"
    bin_dir = cache / "bin"  # lib.sh puts it first on PATH
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, body in (("docker", FAKE_DOCKER), ("go", FAKE_GO)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    calls, state = tmp_path / "calls", tmp_path / "images"
    calls.touch()
    if not state.exists():
        state.write_text("".join(f"{image}\n" for image in images))
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BOOTSTRAP_", "NODE_"))},
        "BOOTSTRAP_CACHE_DIR": str(cache),
        "CALLS": str(calls),
        "IMAGES": str(state),
        "REFUSED": REFUSED,
        "KUBECTL_VERSION": KUBE,
        **env,
    }
    for name in ("KUBE_VERSION", "CNI_PLUGINS_VERSION"):
        if name not in env:
            full_env.pop(name, None)
    done = subprocess.run(
        ["bash", str(BOOTSTRAP / script), *args],
        capture_output=True, text=True, timeout=60, env=full_env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done, calls.read_text().splitlines()


def pulls(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("docker pull")]


# --- node-image.sh ---------------------------------------------------------------------


def test_offline_the_refused_pull_says_so_and_fetch_only_exits_3(tmp_path: Path) -> None:
    done, calls = run(tmp_path, "node-image.sh", "--fetch-only")
    assert done.returncode == 3, done.stderr
    assert pulls(calls) == [f"docker pull {UPSTREAM}"]  # by digest, never a tag
    assert f"INFO: no registry answers for {UPSTREAM} (Error response" in done.stderr
    assert not [c for c in calls if c.startswith(("docker tag", "docker build", "go "))]


def test_online_pulls_by_digest_and_adds_the_bridge_plugin(tmp_path: Path) -> None:
    done, calls = run(tmp_path, "node-image.sh", "--fetch-only", REGISTRY="up")
    assert done.returncode == 0, done.stderr
    assert f"INFO: pulled {UPSTREAM} in " in done.stderr
    local = f"speckit-pods/kind-node-upstream:{KUBE}"
    assert f"docker tag {UPSTREAM} {local}" in calls
    bridge = "github.com/containernetworking/plugins/plugins/main/bridge@"
    bridge += VERSIONS["CNI_PLUGINS_VERSION"]
    assert any(c.startswith("go install") and c.endswith(bridge) for c in calls), calls
    (build,) = [c for c in calls if c.startswith("docker build")]
    assert f"-t {NODE_IMAGE} " in build
    assert f"--build-arg UPSTREAM_IMAGE={local} --build-arg PULLED_FROM={UPSTREAM}" in build
    assert f"-f {BOOTSTRAP}/node/Dockerfile.pulled " in build
    # the context: the plugin (executable) and the built image's conflist, byte for byte
    ctx = {
        line.split()[0]: line.split()[1:]
        for line in (tmp_path / "calls.ctx").read_text().splitlines()
    }
    assert sorted(ctx) == ["10-bridge.conflist", "bridge"]
    assert ctx["bridge"][0] == "755" and ctx["10-bridge.conflist"][0] == "644"
    conflist = BOOTSTRAP / "node" / "files" / "etc" / "cni" / "net.d" / "10-bridge.conflist"
    expected = subprocess.run(["sha256sum"], input=conflist.read_bytes(), capture_output=True)
    assert ctx["10-bridge.conflist"][1] == expected.stdout.decode().split()[0]
    assert f"step: node-image {NODE_IMAGE} from {UPSTREAM} done in " in done.stderr


def test_a_failed_build_on_the_pulled_image_fails_the_step(tmp_path: Path) -> None:
    # run in an `if`, bash would ignore errexit: the failure must not read as success
    done, _ = run(tmp_path, "node-image.sh", "--fetch-only", REGISTRY="up", BUILD_FAILS="1")
    assert done.returncode not in (0, 3), done.stderr
    assert " done in " not in done.stderr


def test_bootstrap_pull_0_never_pulls(tmp_path: Path) -> None:
    done, calls = run(tmp_path, "node-image.sh", "--fetch-only", REGISTRY="up", BOOTSTRAP_PULL="0")
    assert done.returncode == 3 and pulls(calls) == []


def test_another_kube_version_has_no_digest_to_pull(tmp_path: Path) -> None:
    done, calls = run(
        tmp_path, "node-image.sh", "--fetch-only", REGISTRY="up", KUBE_VERSION="v1.99.0"
    )
    assert done.returncode == 3 and pulls(calls) == []
    assert "no upstream kindest/node digest pinned for v1.99.0" in done.stderr


def test_a_malformed_digest_is_an_error(tmp_path: Path) -> None:
    done, calls = run(
        tmp_path, "node-image.sh", "--fetch-only", REGISTRY="up", NODE_IMAGE_DIGEST="latest"
    )
    assert done.returncode == 1 and pulls(calls) == []
    assert "ERROR: NODE_IMAGE_DIGEST is not sha256:<64 hex digits>: latest" in done.stderr


def test_an_existing_image_is_kept(tmp_path: Path) -> None:
    done, calls = run(tmp_path, "node-image.sh", REGISTRY="up", images=(NODE_IMAGE,))
    assert done.returncode == 0 and pulls(calls) == []
    assert "(exists)" in done.stderr


def test_unknown_option_exits_2(tmp_path: Path) -> None:
    done, _ = run(tmp_path, "node-image.sh", "--bogus")
    assert done.returncode == 2
    assert done.stderr == "ERROR: Unknown option '--bogus'. Use --help.\n"


# --- kube-binaries.sh ------------------------------------------------------------------


def test_a_fetched_node_image_means_kubectl_only_copied_from_it(tmp_path: Path) -> None:
    done, calls = run(tmp_path, "kube-binaries.sh", REGISTRY="up")
    assert done.returncode == 0, done.stderr
    assert [c for c in calls if c.startswith("go ") and "kubernetes" in c] == []
    assert "docker create " + NODE_IMAGE in calls
    assert "docker cp -L ctr-1:/usr/bin/kubectl" in "\n".join(calls)
    assert "docker rm ctr-1" in calls
    kubectl = tmp_path / "cache" / "kube" / KUBE / "kubectl"
    assert kubectl.stat().st_mode & stat.S_IXUSR
    assert (tmp_path / "cache" / "bin" / "kubectl").resolve() == kubectl
    assert sorted(p.name for p in kubectl.parent.iterdir()) == ["kubectl"]
    assert f"kubectl only: {NODE_IMAGE} needs no other binary" in done.stderr


def test_a_kubectl_of_another_version_is_refused(tmp_path: Path) -> None:
    done, _ = run(tmp_path, "kube-binaries.sh", images=(NODE_IMAGE,), KUBECTL_VERSION="v1.30.0")
    assert done.returncode == 1
    assert f"reports 'v1.30.0', not {KUBE}" in done.stderr
    assert not list((tmp_path / "cache" / "kube" / KUBE).iterdir())


@pytest.mark.parametrize(
    ("no_daemon", "said"),
    [
        ("", f"no registry answers for {UPSTREAM}"),
        ("1", "no docker daemon answers: building every binary"),
    ],
)
def test_no_registry_or_no_daemon_builds_everything(
    tmp_path: Path, no_daemon: str, said: str
) -> None:
    out = tmp_path / "cache" / "kube" / KUBE
    out.mkdir(parents=True)
    (out / "pause").write_text("")  # no gcc needed: the build's first go call is the proof
    (out / "pause").chmod(0o755)
    done, calls = run(tmp_path, "kube-binaries.sh", NO_DAEMON=no_daemon)
    assert said in done.stderr
    assert done.returncode == 1  # the fake go fails the etcd build: the build path was taken
    assert any(c.startswith("go mod tidy") for c in calls), calls
    assert "docker create" not in "\n".join(calls)
