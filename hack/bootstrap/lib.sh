#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Shared helpers for hack/bootstrap/*.sh (sourced, never executed).
# Defines: REPO_ROOT, CACHE_DIR, BIN_DIR, KUBE_VERSION, ETCD_VERSION, KIND_VERSION,
# log_info/log_warn/die, require_cmd, step_begin/step_end, docker_server_major,
# try_pull, apt_install, apt_private (host sources + trixie + bookworm-backports), ensure_go.
#
# Env vars read (all optional):
#   KUBE_VERSION   Kubernetes version to build (default v1.34.11)
#   ETCD_VERSION   etcd version to build (default v3.6.16)
#   KIND_VERSION   kind version to install (default v0.33.0)
#   BOOTSTRAP_CACHE_DIR  cache root (default $REPO_ROOT/.cache)
#   BOOTSTRAP_STATE_DIR  private apt view (default /var/lib/speckit-pods-bootstrap)
#   BOOTSTRAP_PULL=0        try_pull never pulls: every step builds
#   BOOTSTRAP_PULL_TIMEOUT  seconds a registry has to answer a pull (default 30)
#   BOOTSTRAP_PULL_TOTAL    seconds a whole pull may take (default: the step's; 30 for the
#                           base image, 600 for the kind node image)

# shellcheck disable=SC2034  # the variables below are used by the scripts that source this file
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
BOOTSTRAP_DIR="${REPO_ROOT}/hack/bootstrap"
CACHE_DIR="${BOOTSTRAP_CACHE_DIR:-${REPO_ROOT}/.cache}"
BIN_DIR="${CACHE_DIR}/bin"
# pinned defaults; a variable already set in the environment wins
_pinned() { sed -n "s/^$1=//p" "${BOOTSTRAP_DIR}/versions.env"; }
KUBE_VERSION="${KUBE_VERSION:-$(_pinned KUBE_VERSION)}"
ETCD_VERSION="${ETCD_VERSION:-$(_pinned ETCD_VERSION)}"
KIND_VERSION="${KIND_VERSION:-$(_pinned KIND_VERSION)}"
BASE_IMAGE="${BASE_IMAGE:-$(_pinned BASE_IMAGE)}"
NODE_IMAGE="${NODE_IMAGE:-kindest/node:${KUBE_VERSION}}"
STATE_DIR="${BOOTSTRAP_STATE_DIR:-/var/lib/speckit-pods-bootstrap}"
APT_DIR="${STATE_DIR}/apt"
GO_BACKPORT_PKG="golang-1.23-go"
export PATH="${BIN_DIR}:/usr/local/go/bin:${PATH}:/usr/lib/go-1.23/bin"

log_info() { printf 'INFO: %s\n' "$*" >&2; }
log_warn() { printf 'WARN: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

require_cmd() {
  local cmd
  for cmd in "$@"; do
    command -v "${cmd}" >/dev/null 2>&1 || die "required command not found: ${cmd}"
  done
}

require_root() {
  [[ "$(id -u)" == 0 ]] || die "must run as root (uid 0), got uid $(id -u)"
}

# step_begin NAME: prints the step banner and starts its timer.
step_begin() {
  _STEP_NAME="$1"
  _STEP_START="$(date +%s)"
  printf '==> step: %s\n' "${_STEP_NAME}" >&2
}

# step_end [NOTE]: prints the step's duration.
step_end() {
  local secs=$(( $(date +%s) - _STEP_START ))
  printf '==> step: %s done in %ss%s\n' "${_STEP_NAME}" "${secs}" "${1:+ (${1})}" >&2
}

# docker_server_major: prints the daemon's major version, or fails if none answers.
docker_server_major() {
  local version
  version="$(timeout 10 docker version --format '{{.Server.Version}}' 2>/dev/null)" || return 1
  [[ -n "${version}" ]] || return 1
  printf '%s\n' "${version%%.*}"
}

# image_exists REF: true if the local docker daemon has the image.
image_exists() {
  docker image inspect "$1" >/dev/null 2>&1
}

# apt_install PKG...: installs Debian packages that are not installed yet.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("${pkg}")
  done
  (( ${#missing[@]} == 0 )) && return 0
  log_info "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
}

# apt_private ARGS...: apt-get over the host's sources plus trixie and bookworm-backports,
# both pinned to 100 (installed only when asked for, e.g. `docker.io/trixie`). Uses its
# own sources list, lists dir and pin file: the host's apt configuration is not touched.
apt_private() {
  local list="${APT_DIR}/extra.list" opts=(
    -o Dir::Etc::SourceList="${APT_DIR}/extra.list"
    -o Dir::Etc::Preferences="${APT_DIR}/preferences"
    -o Dir::State::Lists="${APT_DIR}/lists"
    -o Dir::Cache::pkgcache="${APT_DIR}/pkgcache.bin"
    -o Dir::Cache::srcpkgcache="${APT_DIR}/srcpkgcache.bin"
  )
  if [[ ! -f "${list}" ]]; then
    mkdir -p "${APT_DIR}/lists/partial"
    printf 'deb http://deb.debian.org/debian %s main\n' trixie bookworm-backports >"${list}.new"
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >"${APT_DIR}/preferences"
    mv "${list}.new" "${list}"
    log_info "apt-get update (private view: host sources + trixie + bookworm-backports)"
    apt-get "${opts[@]}" update -q >&2 || { rm -f "${list}"; die "apt-get update failed"; }
  fi
  DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" "$@"
}

# ensure_go: a go command (>= 1.21, so GOTOOLCHAIN=auto fetches what a go.mod asks for);
# installs bookworm-backports' Go when there is none.
ensure_go() {
  command -v go >/dev/null 2>&1 && return 0
  require_root
  log_info "no go on PATH: apt-get install ${GO_BACKPORT_PKG}/bookworm-backports"
  apt_private install -y -q --no-install-recommends "${GO_BACKPORT_PKG}/bookworm-backports" >&2
  command -v go >/dev/null 2>&1 || die "go still not found after installing ${GO_BACKPORT_PKG}"
}

# try_pull IMAGE [SECONDS]: pull IMAGE from its registry; true when pulled. The online
# fast path: a step builds only when this fails. A registry must answer within
# BOOTSTRAP_PULL_TIMEOUT seconds (default 30; docker prints its first line once it has
# the manifest, or its error), then the whole pull may take BOOTSTRAP_PULL_TOTAL seconds
# (default SECONDS, which a step with a big image passes, else the same 30).
# BOOTSTRAP_PULL=0 skips it (always build). Offline it fails at once (DNS: ~0.2 s).
try_pull() {
  [[ "${BOOTSTRAP_PULL:-1}" != 0 ]] || return 1
  local answer="${BOOTSTRAP_PULL_TIMEOUT:-30}" total dir pid fd line="" last="" got=0 rc=0 started
  local failed="no registry answers for $1"
  total="${BOOTSTRAP_PULL_TOTAL:-${2:-${answer}}}"
  (( total >= answer )) || total="${answer}"
  started="$(date +%s)"
  dir="$(mktemp -d)"
  mkfifo "${dir}/out"
  timeout "${total}" docker pull "$1" >"${dir}/out" 2>&1 &
  pid=$!
  exec {fd}<"${dir}/out"  # returns once the pull holds the other end
  rm -rf "${dir}"
  IFS= read -r -t "${answer}" -u "${fd}" line || got=$?
  if (( got > 128 )); then  # no line in time: nobody answers
    kill "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
    rc=124
  else
    last="${line}"
    while IFS= read -r -u "${fd}" line; do last="${line}"; done
    [[ -z "${line}" ]] || last="${line}"
    wait "${pid}" || rc=$?
  fi
  exec {fd}<&-
  if (( rc == 124 && got != 0 )); then  # (the total may end first when it equals the answer's)
    last="no answer in ${answer}s (BOOTSTRAP_PULL_TIMEOUT)"
  elif (( rc == 124 )); then
    failed="the pull of $1 took over ${total}s" last="BOOTSTRAP_PULL_TOTAL"
  fi
  if (( rc == 0 )); then
    log_info "pulled $1 in $(( $(date +%s) - started ))s: no build needed"
    return 0
  fi
  log_info "${failed} ($(printf '%s' "${last}" | cut -c1-160)); building it"
  return 1
}

# usage_from_header FILE: prints FILE's header comment (from line 5 to the first
# non-comment line) without the leading '# ': each script's --help text.
usage_from_header() {
  awk 'NR > 4 && /^#/ { sub(/^# ?/, ""); print; next } NR > 4 { exit }' "$1"
}

# verify_privileged IMAGE: kind runs its nodes --privileged; fail early if the daemon cannot.
verify_privileged() {
  docker run --rm --privileged --entrypoint /bin/sh "$1" -c 'grep -q "^CapEff:.*f" /proc/self/status' \
    || die "docker run --privileged fails with $(docker version --format '{{.Server.Version}}')" \
      "(dockerd < 24 cannot here: run hack/bootstrap/docker.sh; see ${DOCKERD_LOG:-/var/log/dockerd.log})"
}
