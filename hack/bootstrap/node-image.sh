#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Build the kind node image kindest/node:<KUBE_VERSION> offline, the way kind's
# images/base + `kind build node-image` do, but from Debian packages and the
# binaries of kube-binaries.sh: docker build hack/bootstrap/node/Dockerfile (kind's
# node files are copied from the kind Go module), then start containerd in a
# throwaway container of that stage image, `ctr images import --no-unpack` the
# control-plane images of k8s-images.sh into the k8s.io namespace (pinned), stop
# it and `docker commit` with kind's entrypoint. No /var volume here on purpose:
# a volume would be left out of the commit (unpacking happens later, at cluster
# start, when kind mounts /var as a volume).
#
# Usage: hack/bootstrap/node-image.sh [-h|--help]
#
# Idempotent: skips when NODE_IMAGE exists; docker's build cache makes rebuilds quick.
#
# Env vars read:
#   KUBE_VERSION (default v1.34.11), KIND_VERSION (default v0.33.0),
#   BASE_IMAGE (default debian:bookworm-slim), NODE_IMAGE (default kindest/node:KUBE_VERSION)
#   BOOTSTRAP_NO_CACHE=1     docker build --no-cache (fresh Debian packages)
#   BOOTSTRAP_SAVE_IMAGES=1  also `docker save` the node image to .cache/images/; a saved
#                            tarball is `docker load`ed instead of rebuilding (never required)
#
# OUTPUTS: the docker image NODE_IMAGE (and the k8s-images.sh images).
#
# EXAMPLES:
#   hack/bootstrap/node-image.sh && kind create cluster --image kindest/node:v1.34.11 \
#     --config hack/kind-config.yaml
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE_BIN_DIR="${CACHE_DIR}/kube/${KUBE_VERSION}"
STAGE_IMAGE="speckit-pods/kind-node-stage:${KUBE_VERSION}"
SAVED_TAR="${CACHE_DIR}/images/$(tr '/:' '__' <<<"${NODE_IMAGE}").tar"
CTX=""
BUILDER=""

usage() { usage_from_header "${BASH_SOURCE[0]}"; }
cleanup() {
  [[ -z "${CTX}" ]] || rm -rf "${CTX}"
  [[ -z "${BUILDER}" ]] || docker rm -f "${BUILDER}" >/dev/null 2>&1 || true
}

kind_module_dir() {
  local dir
  dir="$(cd "${BOOTSTRAP_DIR}" && go mod download -json "sigs.k8s.io/kind@${KIND_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "${dir}/images/base/files" ]] || die "kind module files not found for ${KIND_VERSION}: ${dir}"
  printf '%s\n' "${dir}"
}

# build_stage PAUSE_REF: docker build of the node filesystem (no images inside yet).
build_stage() {
  local pause_ref="$1" kind_dir bin
  kind_dir="$(kind_module_dir)"
  CTX="$(mktemp -d)"
  mkdir -p "${CTX}/bin"
  cp -r "${kind_dir}/images/base/files" "${CTX}/kind"
  # module cache files are read-only: make them 0644, directories and scripts 0755
  chmod -R u+w,go-w,a+rX "${CTX}/kind"
  chmod 0755 "${CTX}"/kind/kind/bin/* "${CTX}"/kind/usr/local/bin/*
  cp -r "${BOOTSTRAP_DIR}/node/files" "${CTX}/files"
  sed -i "s|@PAUSE_IMAGE@|${pause_ref}|" "${CTX}/files/etc/containerd/config.toml"
  for bin in kubeadm kubelet kubectl crictl; do cp "${KUBE_BIN_DIR}/${bin}" "${CTX}/bin/"; done
  log_info "docker build ${STAGE_IMAGE}"
  docker build -q ${BOOTSTRAP_NO_CACHE:+--no-cache} -t "${STAGE_IMAGE}" --build-arg "BASE_IMAGE=${BASE_IMAGE}" \
    --build-arg "KUBE_VERSION=${KUBE_VERSION}" -f "${BOOTSTRAP_DIR}/node/Dockerfile" "${CTX}" >/dev/null
}

# wait_containerd: until ctr answers inside the builder (30 s limit).
wait_containerd() {
  local deadline=$(( $(date +%s) + 30 ))
  until docker exec "${BUILDER}" ctr version >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || die "containerd did not start in builder ${BUILDER}"
    sleep 1
  done
}

# import_images REF...: loads the images into containerd's k8s.io namespace, then commits.
import_images() {
  BUILDER="kind-node-build-$$"
  # --init: something must reap containerd once it is stopped (sleep as PID 1 does not)
  docker run -d --init --name "${BUILDER}" --entrypoint sleep --security-opt seccomp=unconfined \
    "${STAGE_IMAGE}" infinity >/dev/null
  docker exec "${BUILDER}" bash -c 'nohup containerd >/var/log/containerd-build.log 2>&1 &'
  wait_containerd
  log_info "ctr images import: $*"
  docker save "$@" | docker exec -i "${BUILDER}" ctr --namespace=k8s.io images import \
    --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - >/dev/null
  local ref listed
  listed="$(docker exec "${BUILDER}" ctr --namespace=k8s.io images list -q)"
  for ref in "$@"; do
    grep -qxF "${ref}" <<<"${listed}" || die "image ${ref} missing from the node's containerd"
  done
  docker exec "${BUILDER}" bash -c 'pkill -x containerd; for _ in $(seq 150); do
    pgrep -x containerd >/dev/null || exit 0; sleep 0.2; done; exit 1' \
    || die "containerd did not stop within 30s in builder ${BUILDER}"
  docker exec "${BUILDER}" rm -f /var/log/containerd-build.log
  docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' \
    "${BUILDER}" "${NODE_IMAGE}" >/dev/null
}

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    '') ;;
    *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
  esac
  if image_exists "${NODE_IMAGE}"; then
    step_begin "node-image ${NODE_IMAGE}"
    step_end "exists"
    return 0
  fi
  if [[ -f "${SAVED_TAR}" ]]; then
    step_begin "node-image ${NODE_IMAGE}"
    docker load -q -i "${SAVED_TAR}" >&2
    step_end "loaded ${SAVED_TAR}"
    return 0
  fi
  image_exists "${BASE_IMAGE}" || die "base image ${BASE_IMAGE} missing; run hack/bootstrap/base-image.sh"
  local refs=() pause_ref
  mapfile -t refs < <("${BOOTSTRAP_DIR}/k8s-images.sh")
  step_begin "node-image ${NODE_IMAGE}"
  pause_ref="$(printf '%s\n' "${refs[@]}" | grep '/pause:')" || die "no pause image in kubeadm's list"
  trap cleanup EXIT
  build_stage "${pause_ref}"
  import_images "${refs[@]}"
  if [[ "${BOOTSTRAP_SAVE_IMAGES:-0}" == 1 ]]; then
    mkdir -p "${CACHE_DIR}/images"
    docker save -o "${SAVED_TAR}.tmp" "${NODE_IMAGE}" && mv "${SAVED_TAR}.tmp" "${SAVED_TAR}"
  fi
  step_end "$(docker image inspect --format '{{.Size}}' "${NODE_IMAGE}" | numfmt --to=si)B"
}

main "$@"
