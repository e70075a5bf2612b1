#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Offline image bootstrap for the e2e harness, from nothing (root on Debian 12) to a
# docker daemon holding every image the e2e needs (base, kind node, Gitea, agent), and
# kind + kubectl in .cache/bin. Pinned versions: hack/bootstrap/versions.env.
# Runs the steps in order and prints a timing table. Every step skips when its output
# exists, so a rerun takes seconds.
#
# Usage: hack/bootstrap/all.sh [-h|--help]
#
# Steps: docker.sh, base-image.sh, kind.sh, kube-binaries.sh, node-image.sh
# (node-image.sh runs k8s-images.sh), gitea.sh, agent-image.sh, then EXTRA_STEPS.
#
# Env vars read:
#   EXTRA_STEPS   space-separated scripts in hack/bootstrap/ to run last
#                 (e.g. "smoke.sh")
#   plus the ones of each step (KUBE_VERSION, KIND_VERSION, BASE_IMAGE, ...)
#
# OUTPUTS: stdout: the timing table (step, seconds). Progress on stderr.
#
# EXAMPLES:
#   sudo hack/bootstrap/all.sh
#   sudo EXTRA_STEPS=smoke.sh hack/bootstrap/all.sh
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STEPS=(docker.sh base-image.sh kind.sh kube-binaries.sh node-image.sh gitea.sh agent-image.sh)
STEP_NAMES=()
STEP_SECONDS=()

usage() { usage_from_header "${BASH_SOURCE[0]}"; }

install_host_deps() {
  require_root
  apt_install debootstrap build-essential ca-certificates
  ensure_go
}

run_step() {
  local script="$1" start
  start="$(date +%s)"
  "${BOOTSTRAP_DIR}/${script}" >/dev/null
  STEP_NAMES+=("${script%.sh}")
  STEP_SECONDS+=("$(( $(date +%s) - start ))")
}

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    '') ;;
    *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
  esac
  local total_start step i extra=()
  total_start="$(date +%s)"
  install_host_deps
  read -r -a extra <<<"${EXTRA_STEPS:-}"
  for step in "${STEPS[@]}" "${extra[@]}"; do run_step "${step}"; done
  printf '%-16s %8s\n' STEP SECONDS
  for i in "${!STEP_NAMES[@]}"; do printf '%-16s %8s\n' "${STEP_NAMES[i]}" "${STEP_SECONDS[i]}"; done
  printf '%-16s %8s\n' total "$(( $(date +%s) - total_start ))"
}

main "$@"
