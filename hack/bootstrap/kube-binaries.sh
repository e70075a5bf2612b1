#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Build the Kubernetes, etcd and pause binaries for the offline kind node image from
# the Go module proxy (no GitHub, no registry). k8s.io/kubernetes and etcd's server
# module carry replace directives, so each is built in a throwaway wrapper module
# generated under .cache/kube/build/ from the sources in hack/bootstrap/gomod/.
# Binaries are static (CGO_ENABLED=0; pause is C built with gcc -static) and the
# Kubernetes ones are version-stamped through ldflags (else they report v0.0.0).
#
# The fast path: when a docker daemon answers and `node-image.sh --fetch-only` gets
# NODE_IMAGE without a build (it exists, is loaded from a saved tarball or pulled), the
# node needs none of these binaries: only kubectl is made, copied out of NODE_IMAGE
# (/usr/bin/kubectl: the upstream image's is the release binary, pinned by the image
# digest; the built image's is ours) and checked to report KUBE_VERSION. No registry or
# no daemon: everything is built (21 min cold on 2 cores, seconds when cached).
#
# Usage: hack/bootstrap/kube-binaries.sh [-h|--help]
#
# Idempotent: each group (pause, etcd, crictl, kube, coredns) is skipped when its binaries exist.
#
# Env vars read:
#   KUBE_VERSION   (default v1.34.11)    ETCD_VERSION (default v3.6.16)
#   CRICTL_VERSION (default v1.34.0; sigs.k8s.io/cri-tools, kind calls crictl)
#   (CoreDNS: the version `kubeadm config images list` names)
#   GOFLAGS, GOCACHE, GOMODCACHE, GOPROXY   as usual for go
#   BOOTSTRAP_PULL, BOOTSTRAP_PULL_TIMEOUT, BOOTSTRAP_PULL_TOTAL, NODE_IMAGE: as node-image.sh
#
# OUTPUTS: .cache/kube/<KUBE_VERSION>/{kube-apiserver,kube-controller-manager,
#   kube-scheduler,kube-proxy,kubelet,kubeadm,kubectl,etcd,pause,crictl,coredns}; .cache/bin/kubectl.
#   Fast path: .cache/kube/<KUBE_VERSION>/kubectl and .cache/bin/kubectl only (and NODE_IMAGE).
#
# EXAMPLES:
#   hack/bootstrap/kube-binaries.sh 2>&1 | tee /tmp/kube-build.log
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT_DIR="${CACHE_DIR}/kube/${KUBE_VERSION}"
BUILD_DIR="${CACHE_DIR}/kube/build"
CRICTL_VERSION="${CRICTL_VERSION:-v1.34.0}"
KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubeadm kubectl)

usage() { usage_from_header "${BASH_SOURCE[0]}"; }

# have_all FILE...: true when every file exists under OUT_DIR.
have_all() {
  local f
  for f in "$@"; do [[ -x "${OUT_DIR}/${f}" ]] || return 1; done
}

build_pause() {
  have_all pause && return 0
  log_info "gcc -static pause"
  gcc -static -Os -s -o "${OUT_DIR}/pause.tmp" "${BOOTSTRAP_DIR}/pause/pause.c"
  mv "${OUT_DIR}/pause.tmp" "${OUT_DIR}/pause"
}

build_etcd() {
  have_all etcd && return 0
  local dir="${BUILD_DIR}/etcd-${ETCD_VERSION}"
  mkdir -p "${dir}"
  cp "${BOOTSTRAP_DIR}/gomod/etcd/main.go" "${dir}/"
  printf 'module speckit-pods.local/etcd-build\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
    "${ETCD_VERSION}" >"${dir}/go.mod"
  log_info "go build etcd ${ETCD_VERSION}"
  ( cd "${dir}" && go mod tidy >&2 \
    && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "${OUT_DIR}/etcd.tmp" . )
  mv "${OUT_DIR}/etcd.tmp" "${OUT_DIR}/etcd"
}

# kube_go_mod DIR: writes the wrapper go.mod, pinning every k8s.io staging module
# that k8s.io/kubernetes requires at v0.0.0 to the matching v0.<minor>.<patch>.
kube_go_mod() {
  local dir="$1" upstream staging="v0.${KUBE_VERSION#v1.}"
  upstream="$(cd "${dir}" && go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "${upstream}" ]] || die "cannot download k8s.io/kubernetes@${KUBE_VERSION} go.mod"
  {
    printf 'module speckit-pods.local/kube-build\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' \
      "${KUBE_VERSION}"
    awk -v v="${staging}" '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { printf "\t%s => %s %s\n", $1, $1, v }' \
      "${upstream}" | sort -u
    printf ')\n'
  } >"${dir}/go.mod"
}

kube_ldflags() {
  local minor="${KUBE_VERSION#v1.}" date pkg flags="-s -w"
  minor="${minor%%.*}"
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    flags+=" -X ${pkg}.gitCommit=0000000000000000000000000000000000000000"
    flags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${date}"
  done
  printf '%s\n' "${flags}"
}

build_crictl() {
  have_all crictl && return 0
  log_info "go install crictl ${CRICTL_VERSION}"
  GOBIN="${OUT_DIR}" CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' \
    "sigs.k8s.io/cri-tools/cmd/crictl@${CRICTL_VERSION}"
}

build_kube() {
  have_all "${KUBE_CMDS[@]}" && return 0
  local dir="${BUILD_DIR}/kube-${KUBE_VERSION}" tmp="${OUT_DIR}/.kube.tmp" pkgs=() cmd
  mkdir -p "${dir}" "${tmp}"
  cp "${BOOTSTRAP_DIR}/gomod/kube/tools.go" "${dir}/"
  kube_go_mod "${dir}"
  for cmd in "${KUBE_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/${cmd}"); done
  log_info "go build ${KUBE_CMDS[*]} ${KUBE_VERSION} (cold: tens of minutes)"
  ( cd "${dir}" && go mod tidy >&2 \
    && CGO_ENABLED=0 go build -trimpath -ldflags "$(kube_ldflags)" -o "${tmp}/" "${pkgs[@]}" )
  for cmd in "${KUBE_CMDS[@]}"; do mv "${tmp}/${cmd}" "${OUT_DIR}/${cmd}"; done
  rmdir "${tmp}"
}

# build_coredns: the CoreDNS version kubeadm deploys (github.com/coredns/coredns has
# no replace directives, so plain `go install`).
build_coredns() {
  have_all coredns && return 0
  local version
  version="$("${OUT_DIR}/kubeadm" config images list --kubernetes-version "${KUBE_VERSION}" 2>/dev/null \
    | sed -n 's|.*/coredns:||p')"
  [[ -n "${version}" ]] || die "kubeadm lists no CoreDNS image for ${KUBE_VERSION}"
  log_info "go install coredns ${version}"
  GOBIN="${OUT_DIR}" CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' \
    "github.com/coredns/coredns@${version}"
}

# node_image_fetched: true when NODE_IMAGE exists or was fetched without a build (the
# fast path of the header); false when it must be built; dies on node-image.sh's errors.
node_image_fetched() {
  if ! docker_server_major >/dev/null; then
    log_info "no docker daemon answers: building every binary the node image needs"
    return 1
  fi
  local rc=0
  "${BOOTSTRAP_DIR}/node-image.sh" --fetch-only || rc=$?
  case "${rc}" in
    0) return 0 ;;
    3) return 1 ;;
    *) die "node-image.sh --fetch-only failed (exit ${rc}); see its output above" ;;
  esac
}

# kubectl_from_node_image: OUT_DIR/kubectl copied out of NODE_IMAGE, unless it is there.
kubectl_from_node_image() {
  have_all kubectl && return 0
  local ctr version
  ctr="$(docker create "${NODE_IMAGE}")"
  docker cp -L "${ctr}:/usr/bin/kubectl" "${OUT_DIR}/kubectl.tmp" >/dev/null \
    || { docker rm "${ctr}" >/dev/null; die "no /usr/bin/kubectl in ${NODE_IMAGE}"; }
  docker rm "${ctr}" >/dev/null
  chmod 0755 "${OUT_DIR}/kubectl.tmp"
  version="$("${OUT_DIR}/kubectl.tmp" version --client 2>/dev/null | sed -n 's/^Client Version: //p')"
  [[ "${version}" == "${KUBE_VERSION}" ]] || { rm -f "${OUT_DIR}/kubectl.tmp"
    die "the kubectl of ${NODE_IMAGE} reports '${version}', not ${KUBE_VERSION}" \
      "(remove the image or set NODE_IMAGE)"; }
  mv "${OUT_DIR}/kubectl.tmp" "${OUT_DIR}/kubectl"
  log_info "kubectl ${version} copied from ${NODE_IMAGE}"
}

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    '') ;;
    *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
  esac
  mkdir -p "${OUT_DIR}" "${BIN_DIR}"
  if node_image_fetched; then
    step_begin "kube-binaries ${KUBE_VERSION}"
    kubectl_from_node_image
    ln -sf "${OUT_DIR}/kubectl" "${BIN_DIR}/kubectl"
    step_end "kubectl only: ${NODE_IMAGE} needs no other binary"
    return 0
  fi
  step_begin "kube-binaries ${KUBE_VERSION}"
  ensure_go
  if ! have_all pause; then require_cmd gcc; fi
  build_pause
  build_etcd
  build_crictl
  build_kube
  build_coredns
  ln -sf "${OUT_DIR}/kubectl" "${BIN_DIR}/kubectl"
  "${OUT_DIR}/kubeadm" version -o short >/dev/null || die "kubeadm does not run"
  step_end "$("${OUT_DIR}/kubeadm" version -o short), etcd $("${OUT_DIR}/etcd" --version | sed -n 's/^etcd Version: //p')"
}

main "$@"
