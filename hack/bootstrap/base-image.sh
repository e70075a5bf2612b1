#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# The Debian base image: pulled when a registry answers (BASE_IMAGE is the upstream
# name; bounded, see try_pull in lib.sh), else built without one: debootstrap
# --variant=minbase bookworm from Debian's mirror, then `docker import` under the name
# the Dockerfiles' FROM uses, so the same Dockerfiles build online and offline.
#
# Usage: hack/bootstrap/base-image.sh [-h|--help]
#
# Idempotent: skips when the tag already exists. Then checks that `docker run
# --privileged` works (kind needs it; bookworm's docker 20.10 fails it here).
#
# Env vars read:
#   BASE_IMAGE      tag to create (default debian:bookworm-slim)
#   DEBIAN_MIRROR   mirror (default http://deb.debian.org/debian)
#   BOOTSTRAP_PULL=0          never pull, always build
#   BOOTSTRAP_PULL_TIMEOUT    seconds a registry has to answer (default 30)
#   BOOTSTRAP_PULL_TOTAL      seconds the whole pull may take (default 30)
#
# OUTPUTS: none on stdout; progress on stderr. Creates the docker image BASE_IMAGE.
#
# EXAMPLES:
#   sudo hack/bootstrap/base-image.sh && docker run --rm debian:bookworm-slim cat /etc/debian_version
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ROOTFS=""

usage() { usage_from_header "${BASH_SOURCE[0]}"; }
cleanup() { [[ -z "${ROOTFS}" ]] || rm -rf "${ROOTFS}"; }

build_rootfs() {
  ROOTFS="$(mktemp -d /var/tmp/bootstrap-rootfs.XXXXXX)"
  log_info "debootstrap --variant=minbase bookworm ${ROOTFS}"
  debootstrap --variant=minbase bookworm "${ROOTFS}" "${DEBIAN_MIRROR}" >"${ROOTFS}.log" 2>&1 \
    || { tail -20 "${ROOTFS}.log" >&2; die "debootstrap failed; full log: ${ROOTFS}.log"; }
  rm -f "${ROOTFS}.log"
  # Same trimming as the official -slim images: no apt lists, no caches.
  rm -rf "${ROOTFS}"/var/lib/apt/lists/* "${ROOTFS}"/var/cache/apt/*.bin \
    "${ROOTFS}"/var/cache/apt/archives/*.deb
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "${DEBIAN_MIRROR}" "${DEBIAN_MIRROR}" >"${ROOTFS}/etc/apt/sources.list"
}

import_rootfs() {
  log_info "docker import -> ${BASE_IMAGE}"
  tar -C "${ROOTFS}" --numeric-owner -c . \
    | docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      - "${BASE_IMAGE}" >/dev/null
}

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    '') ;;
    *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
  esac
  step_begin base-image
  if image_exists "${BASE_IMAGE}"; then
    verify_privileged "${BASE_IMAGE}"
    step_end "${BASE_IMAGE} exists, --privileged works"
    return 0
  fi
  if try_pull "${BASE_IMAGE}"; then
    verify_privileged "${BASE_IMAGE}"
    step_end "${BASE_IMAGE} pulled, --privileged works"
    return 0
  fi
  require_root
  apt_install debootstrap
  trap cleanup EXIT
  build_rootfs
  import_rootfs
  verify_privileged "${BASE_IMAGE}"
  step_end "${BASE_IMAGE} built, --privileged works"
}

main "$@"
