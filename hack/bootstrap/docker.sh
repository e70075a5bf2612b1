#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Install and start a Docker engine that can run `--privileged` containers (kind needs it).
# bookworm's docker.io 20.10 cannot (caps error); trixie's docker.io 26.x can. It is
# installed from a private apt view (own sources list, lists dir and pin file under
# STATE_DIR): only docker.io (+ what bookworm cannot satisfy) comes from trixie; the
# host's apt configuration is not touched. Also installs trixie's docker-cli and
# docker-buildx (BuildKit). dockerd is started by hand (no systemd).
#
# Usage: hack/bootstrap/docker.sh [-h|--help]
#
# Idempotent: does nothing when a Docker >= 24 daemon already answers `docker info`.
# The docker CLI in PATH may be newer than the daemon (it negotiates the API down).
#
# Env vars read:
#   DOCKERD_LOG            dockerd log file (default /var/log/dockerd.log)
#   DOCKER_WAIT_SECONDS    how long to wait for the daemon (default 60)
#   BOOTSTRAP_STATE_DIR    private apt state (default /var/lib/speckit-pods-bootstrap)
#
# OUTPUTS: none on stdout; progress on stderr. The daemon keeps running afterwards.
#
# EXAMPLES:
#   sudo hack/bootstrap/docker.sh && docker info
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
DOCKER_WAIT_SECONDS="${DOCKER_WAIT_SECONDS:-60}"

usage() { usage_from_header "${BASH_SOURCE[0]}"; }

install_docker() {
  local pkgs=()
  if ! command -v dockerd >/dev/null || ! [[ "$(dockerd --version)" =~ version\ (2[4-9]|[3-9][0-9]) ]]; then
    pkgs+=(docker.io/trixie)
  fi
  # The CLI matching the daemon; a newer docker CLI earlier in PATH also works (it
  # negotiates the API version down), an older one may not.
  [[ -x /usr/bin/docker ]] || pkgs+=(docker-cli/trixie)
  # BuildKit for `docker build` (COPY --chmod, RUN --mount); it uses local images offline.
  [[ -x /usr/libexec/docker/cli-plugins/docker-buildx ]] || pkgs+=(docker-buildx/trixie)
  (( ${#pkgs[@]} > 0 )) || return 0
  log_info "apt-get install ${pkgs[*]}"
  apt_private install -y -q --no-install-recommends "${pkgs[@]}" >&2
}

start_dockerd() {
  if pgrep -x dockerd >/dev/null; then
    log_info "dockerd already running; waiting for it"
  else
    # a daemon killed uncleanly leaves its pid file behind, and dockerd refuses to start
    rm -f /var/run/docker.pid
    log_info "starting dockerd (log: ${DOCKERD_LOG})"
    setsid nohup dockerd >>"${DOCKERD_LOG}" 2>&1 </dev/null &
  fi
  local deadline=$(( $(date +%s) + DOCKER_WAIT_SECONDS ))
  until timeout 10 docker info >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || die "dockerd did not answer within ${DOCKER_WAIT_SECONDS}s; see ${DOCKERD_LOG}"
    sleep 1
  done
}

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    '') ;;
    *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
  esac
  step_begin docker
  local major
  if major="$(docker_server_major)" && (( major >= 24 )); then
    step_end "daemon ${major}.x already answers"
    return 0
  fi
  require_root
  install_docker
  start_dockerd
  step_end "$(docker version --format 'server {{.Server.Version}}, client {{.Client.Version}}')"
}

main "$@"
