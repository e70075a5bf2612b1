#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Build the NetworkPolicy enforcer of the e2e cluster without a registry: kube-router's
# firewall controller alone (hack/kube-router.yaml runs it with --run-firewall and no
# router, no service proxy, beside the node's bridge CNI; iptables + ipset). The binary
# is `go install`ed from the Go module proxy (github.com/cloudnativelabs/kube-router/v2
# has no replace directives; CGO off, version-stamped), then packaged FROM BASE_IMAGE
# with Debian's iptables and ipset. Its entrypoint picks the iptables backend (legacy
# or nft) the node already uses -- the one holding more rules, as the node's
# kube-proxy wrapper does -- so its rules land in the same tables as kube-proxy's.
#
# Usage: hack/bootstrap/kube-router.sh [-h|--help]
#
# Idempotent: skips when KUBE_ROUTER_IMAGE exists; the binary is cached under
# .cache/kube-router/<version>/ (cold build ~4 min on 2 cores, warm: seconds).
#
# Env vars read:
#   KUBE_ROUTER_VERSION  module version (default: hack/bootstrap/versions.env, v2.1.0)
#   KUBE_ROUTER_IMAGE    image tag to create (default: versions.env)
#   BASE_IMAGE           FROM image (default debian:bookworm-slim, see base-image.sh)
#   BOOTSTRAP_NO_CACHE=1 docker build --no-cache (fresh Debian packages)
#   GOFLAGS, GOCACHE, GOMODCACHE, GOPROXY   as usual for go
#
# OUTPUTS: none on stdout; progress on stderr. Creates
#   .cache/kube-router/<version>/kube-router and the docker image KUBE_ROUTER_IMAGE
#   (entrypoint: the backend-picking wrapper, then kube-router with the given args).
#
# EXAMPLES:
#   hack/bootstrap/kube-router.sh && .cache/bin/kind load docker-image \
#     speckit-pods/kube-router:v2.1.0 --name speckit-pods-e2e
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-$(_pinned KUBE_ROUTER_VERSION)}"
KUBE_ROUTER_IMAGE="${KUBE_ROUTER_IMAGE:-$(_pinned KUBE_ROUTER_IMAGE)}"
KUBE_ROUTER_MODULE="github.com/cloudnativelabs/kube-router/v2"
OUT_DIR="${CACHE_DIR}/kube-router/${KUBE_ROUTER_VERSION}"
CTX=""

usage() { usage_from_header "${BASH_SOURCE[0]}"; }
cleanup() { [[ -z "${CTX}" ]] || rm -rf "${CTX}"; }

build_binary() {
  if [[ -x "${OUT_DIR}/kube-router" ]]; then
    log_info "cached: ${OUT_DIR}/kube-router"
    return 0
  fi
  ensure_go
  mkdir -p "${OUT_DIR}/bin"
  local pkg="${KUBE_ROUTER_MODULE}/pkg/version" ldflags
  ldflags="-s -w -X ${pkg}.Version=${KUBE_ROUTER_VERSION} -X ${pkg}.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  log_info "go install ${KUBE_ROUTER_MODULE}/cmd/kube-router@${KUBE_ROUTER_VERSION} (cold: ~4 min)"
  GOBIN="${OUT_DIR}/bin" CGO_ENABLED=0 go install -trimpath -ldflags "${ldflags}" \
    "${KUBE_ROUTER_MODULE}/cmd/kube-router@${KUBE_ROUTER_VERSION}"
  mv "${OUT_DIR}/bin/kube-router" "${OUT_DIR}/kube-router"
  rmdir "${OUT_DIR}/bin"
}

# write_wrapper FILE: the entrypoint choosing the node's iptables backend.
write_wrapper() {
  cat >"$1" <<'EOF'
#!/bin/sh
# Entrypoint of the offline kube-router image (hack/bootstrap/kube-router.sh): use the
# iptables backend (legacy or nft) the node already uses -- the one holding more rules,
# ties going to legacy -- so the firewall rules sit beside kube-proxy's, then exec.
set -eu
legacy=$( (iptables-legacy-save; ip6tables-legacy-save) 2>/dev/null | grep -c '^-' || true)
nft=$( (timeout 5 sh -c 'iptables-nft-save; ip6tables-nft-save') 2>/dev/null | grep -c '^-' || true)
mode=nft
if [ "${legacy}" -ge "${nft}" ]; then mode=legacy; fi
echo "kube-router-wrapper: iptables mode ${mode} (legacy rules ${legacy}, nft rules ${nft})" >&2
for cmd in iptables ip6tables; do
  update-alternatives --set "${cmd}" "/usr/sbin/${cmd}-${mode}" >/dev/null
done
exec /usr/local/bin/kube-router.bin "$@"
EOF
}

# dockerfile: prints the image's Dockerfile.
dockerfile() {
  printf 'FROM %s\n' "${BASE_IMAGE}"
  printf 'RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iptables ipset \\\n'
  printf '    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n'
  printf 'COPY kube-router /usr/local/bin/kube-router.bin\nCOPY wrapper.sh /usr/local/bin/kube-router\n'
  printf 'ENTRYPOINT ["/usr/local/bin/kube-router"]\n'
}

build_image() {
  image_exists "${BASE_IMAGE}" || die "base image ${BASE_IMAGE} missing; run hack/bootstrap/base-image.sh"
  CTX="$(mktemp -d)"
  trap cleanup EXIT
  cp "${OUT_DIR}/kube-router" "${CTX}/kube-router"
  write_wrapper "${CTX}/wrapper.sh"
  chmod 0755 "${CTX}/kube-router" "${CTX}/wrapper.sh"
  dockerfile >"${CTX}/Dockerfile"
  log_info "docker build ${KUBE_ROUTER_IMAGE}"
  docker build -q ${BOOTSTRAP_NO_CACHE:+--no-cache} \
    --label "org.opencontainers.image.version=${KUBE_ROUTER_VERSION}" \
    -t "${KUBE_ROUTER_IMAGE}" "${CTX}" >/dev/null
  # ipset --version asks the kernel (needs CAP_NET_ADMIN): only check that it is there
  docker run --rm --entrypoint sh "${KUBE_ROUTER_IMAGE}" -c \
    'kube-router.bin --version && iptables-nft --version && iptables-legacy --version && command -v ipset' >&2 \
    || { docker rmi "${KUBE_ROUTER_IMAGE}" >/dev/null; die "${KUBE_ROUTER_IMAGE} does not run its tools"; }
}

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    '') ;;
    *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
  esac
  [[ -n "${KUBE_ROUTER_VERSION}" && -n "${KUBE_ROUTER_IMAGE}" ]] \
    || die "KUBE_ROUTER_VERSION and KUBE_ROUTER_IMAGE must be set (hack/bootstrap/versions.env)"
  step_begin "kube-router image ${KUBE_ROUTER_IMAGE}"
  if image_exists "${KUBE_ROUTER_IMAGE}"; then
    step_end "exists"
    return 0
  fi
  require_cmd docker
  build_binary
  build_image
  step_end "$(docker image inspect --format '{{.Size}}' "${KUBE_ROUTER_IMAGE}" | numfmt --to=si)B"
}

main "$@"
