#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Gitea image entrypoint: seeds /data/gitea/conf/app.ini from /etc/gitea/app.ini on
# first start, applies GITEA__<section>__<KEY> env vars to it, then execs `gitea ARGS`
# (default `web`). Runs as the image's non-root user.
set -o errexit -o nounset -o pipefail

CONF="${GITEA_CUSTOM:-/data/gitea}/conf/app.ini"

log_info() { printf 'entrypoint: %s\n' "$*" >&2; }

seed_config() {
  if [[ ! -f "${CONF}" ]]; then
    mkdir -p "$(dirname "${CONF}")"
    cp /etc/gitea/app.ini "${CONF}"
    log_info "seeded ${CONF}"
  fi
  gitea config edit-ini --config "${CONF}" --in-place --apply-env
}

_is_sourced() { [[ "${BASH_SOURCE[0]}" != "${0}" ]]; }

_main() {
  [[ "$(id -u)" != 0 ]] || { printf 'entrypoint: refusing to run gitea as root\n' >&2; exit 1; }
  seed_config
  exec gitea "$@"
}

_is_sourced || _main "$@"
