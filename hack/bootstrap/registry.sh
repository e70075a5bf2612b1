#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Build a container registry without a registry: CNCF Distribution's `registry`
# (github.com/distribution/distribution/v3, the registry behind Docker Hub and most
# self-hosted ones) `go install`ed from the Go module proxy (no replace directives; CGO
# off), packaged FROM BASE_IMAGE. The e2e runs it beside the kind cluster, pushes the
# agent image to it and lets the node pull from it, as a real cluster pulls from its
# registry (tests/e2e/registry.py).
#
# Usage: hack/bootstrap/registry.sh [-h|--help]
#
# Idempotent: skips when REGISTRY_IMAGE exists; the binary is cached under
# .cache/registry/<version>/ (cold build ~4 min on 2 cores, warm: seconds).
#
# The image serves plain HTTP on :5000, stores under /var/lib/registry and runs as
# uid 65534 (nobody). Storage is the container's own: a throwaway registry.
#
# Env vars read:
#   REGISTRY_VERSION     module version (default: hack/bootstrap/versions.env)
#   REGISTRY_IMAGE       image tag to create (default: versions.env)
#   BASE_IMAGE           FROM image (default debian:bookworm-slim, see base-image.sh)
#   GOFLAGS, GOCACHE, GOMODCACHE, GOPROXY   as usual for go
#
# OUTPUTS: none on stdout; progress on stderr. Creates
#   .cache/registry/<version>/registry and the docker image REGISTRY_IMAGE.
#
# EXAMPLES:
#   hack/bootstrap/registry.sh
#   docker run -d -p 127.0.0.1:5000:5000 speckit-pods/registry:v3.1.2
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REGISTRY_VERSION="${REGISTRY_VERSION:-$(_pinned REGISTRY_VERSION)}"
REGISTRY_IMAGE="${REGISTRY_IMAGE:-$(_pinned REGISTRY_IMAGE)}"
REGISTRY_MODULE="github.com/distribution/distribution/v3"
OUT_DIR="${CACHE_DIR}/registry/${REGISTRY_VERSION}"
CTX=""

usage() { usage_from_header "${BASH_SOURCE[0]}"; }
cleanup() { [[ -z "${CTX}" ]] || rm -rf "${CTX}"; }

build_binary() {
  if [[ -x "${OUT_DIR}/registry" ]]; then
    log_info "cached: ${OUT_DIR}/registry"
    return 0
  fi
  ensure_go
  mkdir -p "${OUT_DIR}/bin"
  log_info "go install ${REGISTRY_MODULE}/cmd/registry@${REGISTRY_VERSION} (cold: ~4 min)"
  GOBIN="${OUT_DIR}/bin" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X ${REGISTRY_MODULE}/version.version=${REGISTRY_VERSION}" \
    "${REGISTRY_MODULE}/cmd/registry@${REGISTRY_VERSION}"
  mv "${OUT_DIR}/bin/registry" "${OUT_DIR}/registry"
  rmdir "${OUT_DIR}/bin"
}

# write_config FILE: the registry's configuration (filesystem storage, HTTP on :5000).
write_config() {
  cat >"$1" <<'YAML'
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
YAML
}

# dockerfile: prints the image's Dockerfile.
dockerfile() {
  printf 'FROM %s\n' "${BASE_IMAGE}"
  printf 'COPY registry /usr/local/bin/registry\nCOPY config.yml /etc/distribution/config.yml\n'
  printf 'RUN install -d -o 65534 -g 65534 -m 0755 /var/lib/registry\n'
  # no OpenTelemetry export (it would dial localhost:4318 for nothing)
  printf 'ENV OTEL_TRACES_EXPORTER=none OTEL_SDK_DISABLED=true\n'
  printf 'USER 65534:65534\nEXPOSE 5000\n'
  printf 'ENTRYPOINT ["/usr/local/bin/registry"]\nCMD ["serve", "/etc/distribution/config.yml"]\n'
}

build_image() {
  image_exists "${BASE_IMAGE}" || die "base image ${BASE_IMAGE} missing; run hack/bootstrap/base-image.sh"
  CTX="$(mktemp -d)"
  trap cleanup EXIT
  cp "${OUT_DIR}/registry" "${CTX}/registry"
  chmod 0755 "${CTX}/registry"
  write_config "${CTX}/config.yml"
  dockerfile >"${CTX}/Dockerfile"
  log_info "docker build ${REGISTRY_IMAGE}"
  docker build -q --label "org.opencontainers.image.version=${REGISTRY_VERSION}" \
    -t "${REGISTRY_IMAGE}" "${CTX}" >/dev/null
  docker run --rm "${REGISTRY_IMAGE}" --version >&2 \
    || { docker rmi "${REGISTRY_IMAGE}" >/dev/null; die "${REGISTRY_IMAGE} does not run"; }
}

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    '') ;;
    *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
  esac
  [[ -n "${REGISTRY_VERSION}" && -n "${REGISTRY_IMAGE}" ]] \
    || die "REGISTRY_VERSION and REGISTRY_IMAGE must be set (hack/bootstrap/versions.env)"
  step_begin "registry image ${REGISTRY_IMAGE}"
  if image_exists "${REGISTRY_IMAGE}"; then
    step_end "exists"
    return 0
  fi
  require_cmd docker
  build_binary
  build_image
  step_end "$(docker image inspect --format '{{.Size}}' "${REGISTRY_IMAGE}" | numfmt --to=si)B"
}

main "$@"
