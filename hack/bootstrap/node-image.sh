#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# The kind node image kindest/node:<KUBE_VERSION> (NODE_IMAGE), by the first path that
# works, each saying so on stderr:
#   1. it exists: nothing to do;
#   2. a tarball saved by BOOTSTRAP_SAVE_IMAGES=1: `docker load`;
#   3. the online fast path: pull the upstream image kind's release notes publish for the
#      pinned KUBE_VERSION by its digest (NODE_IMAGE_DIGEST in versions.env; never a tag,
#      which may name an image built for another kind release), bounded (try_pull in
#      lib.sh: a registry must answer in 30 s, then the ~400 MB may take 600 s; offline
#      the pull is refused in well under a second), then docker build
#      node/Dockerfile.pulled on it: the CNI bridge plugin upstream lacks (built from the
#      Go proxy: seconds), our static bridge conflist and containerd setting, so
#      hack/kind-config.yaml and the e2e work on both images;
#   4. build it offline, the way kind's images/base + `kind build node-image` do, but from
#      Debian packages and the binaries of kube-binaries.sh: docker build
#      hack/bootstrap/node/Dockerfile (kind's node files are copied from the kind Go
#      module), then start containerd in a throwaway container of that stage image,
#      `ctr images import --no-unpack` the control-plane images of k8s-images.sh into the
#      k8s.io namespace (pinned), stop it and `docker commit` with kind's entrypoint. No
#      /var volume here on purpose: a volume would be left out of the commit (unpacking
#      happens later, at cluster start, when kind mounts /var as a volume).
#
# Usage: hack/bootstrap/node-image.sh [--fetch-only] [-h|--help]
#
#   --fetch-only  paths 1-3 only; exit 3 when the image would have to be built
#                 (kube-binaries.sh asks, to build only kubectl when it need not)
#
# Idempotent: skips when NODE_IMAGE exists; docker's build cache makes rebuilds quick.
#
# Env vars read:
#   KUBE_VERSION (default v1.34.11), KIND_VERSION (default v0.33.0),
#   BASE_IMAGE (default debian:bookworm-slim), NODE_IMAGE (default kindest/node:KUBE_VERSION)
#   NODE_IMAGE_DIGEST        upstream kindest/node digest to pull (default: versions.env's
#                            for the pinned KUBE_VERSION, none for another; empty: no pull)
#   CNI_PLUGINS_VERSION      the bridge plugin added to a pulled image (default v1.9.1)
#   BOOTSTRAP_PULL=0         never pull, always build
#   BOOTSTRAP_PULL_TIMEOUT   seconds a registry has to answer (default 30)
#   BOOTSTRAP_PULL_TOTAL     seconds the whole pull may take (default 600)
#   BOOTSTRAP_NO_CACHE=1     docker build --no-cache (fresh Debian packages)
#   BOOTSTRAP_SAVE_IMAGES=1  also `docker save` the node image to .cache/images/; a saved
#                            tarball is `docker load`ed instead of rebuilding (never required)
#
# Exit codes: 0 NODE_IMAGE exists; 1 a failure; 2 usage; 3 (--fetch-only) not fetched,
#   it must be built.
#
# OUTPUTS: the docker image NODE_IMAGE (built: also the k8s-images.sh images; pulled: also
#   speckit-pods/kind-node-upstream:KUBE_VERSION, the upstream image, and the plugin in
#   .cache/cni/CNI_PLUGINS_VERSION/bridge).
#
# EXAMPLES:
#   hack/bootstrap/node-image.sh && kind create cluster --image kindest/node:v1.34.11 \
#     --config hack/kind-config.yaml
#   BOOTSTRAP_PULL=0 hack/bootstrap/node-image.sh   # the offline build even where online
#   docker image inspect -f '{{index .Config.Labels "io.speckit-pods.node-image.pulled-from"}}' \
#     kindest/node:v1.34.11                         # empty: built here
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE_BIN_DIR="${CACHE_DIR}/kube/${KUBE_VERSION}"
STAGE_IMAGE="speckit-pods/kind-node-stage:${KUBE_VERSION}"
SAVED_TAR="${CACHE_DIR}/images/$(tr '/:' '__' <<<"${NODE_IMAGE}").tar"
# the pinned digest is that of the pinned KUBE_VERSION's image only
if [[ -z "${NODE_IMAGE_DIGEST+set}" ]]; then
  NODE_IMAGE_DIGEST=""
  [[ "${KUBE_VERSION}" != "$(_pinned KUBE_VERSION)" ]] || NODE_IMAGE_DIGEST="$(_pinned NODE_IMAGE_DIGEST)"
fi
PULLED_FROM="kindest/node@${NODE_IMAGE_DIGEST}"
UPSTREAM_TAG="speckit-pods/kind-node-upstream:${KUBE_VERSION}"
NODE_PULL_TOTAL=600  # seconds for the whole download (~400 MB) once a registry answers
CNI_PLUGINS_VERSION="${CNI_PLUGINS_VERSION:-$(_pinned CNI_PLUGINS_VERSION)}"
CNI_DIR="${CACHE_DIR}/cni/${CNI_PLUGINS_VERSION}"
EXIT_MUST_BUILD=3
FETCH_ONLY=0
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

# build_bridge: the CNI bridge plugin (static) the pulled image lacks, cached.
build_bridge() {
  [[ -x "${CNI_DIR}/bridge" ]] && return 0
  ensure_go
  mkdir -p "${CNI_DIR}"
  log_info "go install CNI bridge plugin ${CNI_PLUGINS_VERSION} (seconds)"
  GOBIN="${CNI_DIR}" CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' \
    "github.com/containernetworking/plugins/plugins/main/bridge@${CNI_PLUGINS_VERSION}"
  [[ -x "${CNI_DIR}/bridge" ]] || die "go install left no ${CNI_DIR}/bridge"
}

# pull_upstream: the pull of path 3 (see the header); false, after saying why, when it
# cannot be taken. Only the pull: run in an `if`, where errexit is off.
pull_upstream() {
  [[ "${BOOTSTRAP_PULL:-1}" != 0 ]] || return 1
  if [[ -z "${NODE_IMAGE_DIGEST}" ]]; then
    log_info "no upstream kindest/node digest pinned for ${KUBE_VERSION} (NODE_IMAGE_DIGEST); building it"
    return 1
  fi
  [[ "${NODE_IMAGE_DIGEST}" =~ ^sha256:[0-9a-f]{64}$ ]] \
    || die "NODE_IMAGE_DIGEST is not sha256:<64 hex digits>: ${NODE_IMAGE_DIGEST}"
  try_pull "${PULLED_FROM}" "${NODE_PULL_TOTAL}"
}

# derive_pulled: the rest of path 3, on the pulled image: NODE_IMAGE from node/Dockerfile.pulled.
derive_pulled() {
  step_begin "node-image ${NODE_IMAGE} from ${PULLED_FROM}"
  build_bridge
  trap cleanup EXIT
  CTX="$(mktemp -d)"
  cp "${CNI_DIR}/bridge" "${BOOTSTRAP_DIR}/node/files/etc/cni/net.d/10-bridge.conflist" "${CTX}/"
  chmod 0755 "${CTX}/bridge"
  chmod 0644 "${CTX}/10-bridge.conflist"
  docker tag "${PULLED_FROM}" "${UPSTREAM_TAG}"
  log_info "docker build ${NODE_IMAGE} FROM ${PULLED_FROM} + the bridge CNI"
  docker build -q ${BOOTSTRAP_NO_CACHE:+--no-cache} -t "${NODE_IMAGE}" \
    --build-arg "UPSTREAM_IMAGE=${UPSTREAM_TAG}" --build-arg "PULLED_FROM=${PULLED_FROM}" \
    -f "${BOOTSTRAP_DIR}/node/Dockerfile.pulled" "${CTX}" >/dev/null
  save_image
  step_end "pulled, $(docker image inspect --format '{{.Size}}' "${NODE_IMAGE}" | numfmt --to=si)B"
}

# save_image: with BOOTSTRAP_SAVE_IMAGES=1, `docker save` NODE_IMAGE to SAVED_TAR.
save_image() {
  [[ "${BOOTSTRAP_SAVE_IMAGES:-0}" == 1 ]] || return 0
  mkdir -p "${CACHE_DIR}/images"
  docker save -o "${SAVED_TAR}.tmp" "${NODE_IMAGE}" && mv "${SAVED_TAR}.tmp" "${SAVED_TAR}"
}

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    --fetch-only) FETCH_ONLY=1 ;;
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
  if pull_upstream; then
    derive_pulled
    return 0
  fi
  (( FETCH_ONLY == 0 )) || exit "${EXIT_MUST_BUILD}"
  image_exists "${BASE_IMAGE}" || die "base image ${BASE_IMAGE} missing; run hack/bootstrap/base-image.sh"
  local refs=() pause_ref
  mapfile -t refs < <("${BOOTSTRAP_DIR}/k8s-images.sh")
  step_begin "node-image ${NODE_IMAGE}"
  pause_ref="$(printf '%s\n' "${refs[@]}" | grep '/pause:')" || die "no pause image in kubeadm's list"
  trap cleanup EXIT
  build_stage "${pause_ref}"
  import_images "${refs[@]}"
  save_image
  step_end "built, $(docker image inspect --format '{{.Size}}' "${NODE_IMAGE}" | numfmt --to=si)B"
}

main "$@"
