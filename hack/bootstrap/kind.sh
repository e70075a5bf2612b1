#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Install the kind CLI from the Go module proxy into .cache/bin/ (git-ignored).
# Uses go's default GOCACHE/GOMODCACHE, so reruns and rebuilds are fast.
#
# Usage: hack/bootstrap/kind.sh [-h|--help]
#
# Idempotent: skips when .cache/bin/kind already reports KIND_VERSION.
#
# Env vars read:
#   KIND_VERSION   (default v0.33.0)
#
# OUTPUTS: .cache/bin/kind. The kind module (with images/base/files, used by
#   node-image.sh) is left in GOMODCACHE.
#
# EXAMPLES:
#   hack/bootstrap/kind.sh && .cache/bin/kind version
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { usage_from_header "${BASH_SOURCE[0]}"; }

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    '') ;;
    *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
  esac
  step_begin "kind ${KIND_VERSION}"
  if [[ -x "${BIN_DIR}/kind" ]] && "${BIN_DIR}/kind" version | grep -qF " ${KIND_VERSION} "; then
    step_end "${BIN_DIR}/kind exists"
    return 0
  fi
  ensure_go
  mkdir -p "${BIN_DIR}"
  ( set -x; GOBIN="${BIN_DIR}" CGO_ENABLED=0 go install "sigs.k8s.io/kind@${KIND_VERSION}" )
  step_end "$("${BIN_DIR}/kind" version)"
}

main "$@"
