#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Build the control-plane images kubeadm expects, from the binaries of
# kube-binaries.sh, tagged exactly as `kubeadm config images list` prints them:
# kube-apiserver, kube-controller-manager, kube-scheduler, etcd (FROM scratch),
# pause (FROM scratch, static C), kube-proxy (FROM the base image + iptables, with a
# wrapper choosing the node's iptables backend), coredns (FROM scratch, runs as root
# with the NET_BIND_SERVICE capability kubeadm's Deployment adds).
#
# Usage: hack/bootstrap/k8s-images.sh [-h|--help]
#
# Idempotent: skips every image whose tag exists.
#
# Env vars read:
#   KUBE_VERSION (default v1.34.11), BASE_IMAGE (default debian:bookworm-slim)
#   BOOTSTRAP_NO_CACHE=1   docker build --no-cache
#
# OUTPUTS: stdout: the image references, one per line (what node-image.sh imports).
#
# EXAMPLES:
#   hack/bootstrap/k8s-images.sh | xargs docker image inspect --format '{{.RepoTags}}'
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE_BIN_DIR="${CACHE_DIR}/kube/${KUBE_VERSION}"
CTX=""

usage() { usage_from_header "${BASH_SOURCE[0]}"; }
cleanup() { [[ -z "${CTX}" ]] || rm -rf "${CTX}"; }

# image_refs: kubeadm's image list for KUBE_VERSION.
image_refs() {
  "${KUBE_BIN_DIR}/kubeadm" config images list --kubernetes-version "${KUBE_VERSION}" 2>/dev/null
}

# dockerfile NAME: prints the Dockerfile for component NAME (binary of the same name).
dockerfile() {
  case "$1" in
    coredns)
      printf 'FROM scratch\nCOPY coredns /coredns\nEXPOSE 53 53/udp\nENTRYPOINT ["/coredns"]\n' ;;
    pause)
      printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' ;;
    kube-proxy)
      printf 'FROM %s\n' "${BASE_IMAGE}"
      printf 'RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iptables conntrack ipset kmod \\\n'
      printf '    && apt-get clean && rm -rf /var/lib/apt/lists/*\n'
      printf 'COPY kube-proxy /usr/local/bin/kube-proxy.bin\nCOPY kube-proxy-wrapper.sh /usr/local/bin/kube-proxy\n'
      printf 'RUN chmod 0755 /usr/local/bin/kube-proxy /usr/local/bin/kube-proxy.bin\n' ;;
    *)
      printf 'FROM scratch\nCOPY %s /usr/local/bin/%s\nENV PATH=/usr/local/bin:/usr/bin:/bin\n' "$1" "$1"
      printf 'ENTRYPOINT ["/usr/local/bin/%s"]\n' "$1" ;;
  esac
}

build_image() {
  local ref="$1" name
  name="${ref##*/}"
  name="${name%%:*}"
  [[ -x "${KUBE_BIN_DIR}/${name}" ]] || die "binary missing for ${ref}: ${KUBE_BIN_DIR}/${name}" \
    "(run hack/bootstrap/kube-binaries.sh)"
  rm -rf "${CTX:?}"/*
  cp "${KUBE_BIN_DIR}/${name}" "${BOOTSTRAP_DIR}/node/kube-proxy-wrapper.sh" "${CTX}/"
  log_info "docker build ${ref}"
  dockerfile "${name}" | docker build -q ${BOOTSTRAP_NO_CACHE:+--no-cache} -t "${ref}" -f - "${CTX}" >/dev/null
}

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    '') ;;
    *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
  esac
  step_begin "k8s-images ${KUBE_VERSION}"
  [[ -x "${KUBE_BIN_DIR}/kubeadm" ]] || die "kubeadm not found in ${KUBE_BIN_DIR}" \
    "Run hack/bootstrap/kube-binaries.sh first."
  local refs=() ref built=0
  mapfile -t refs < <(image_refs)
  (( ${#refs[@]} > 0 )) || die "kubeadm config images list printed nothing"
  CTX="$(mktemp -d)"
  trap cleanup EXIT
  for ref in "${refs[@]}"; do
    if ! image_exists "${ref}"; then build_image "${ref}"; built=$(( built + 1 )); fi
    printf '%s\n' "${ref}"
  done
  step_end "${built} of ${#refs[@]} built"
}

main "$@"
