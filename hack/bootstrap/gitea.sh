#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Build a Gitea server image without a registry: compile code.gitea.io/gitea from the
# Go module proxy (it has replace directives, so in a throwaway wrapper module that
# copies them; tags sqlite sqlite_unlock_notify, CGO on), then package the binary, the
# module's templates/options (served via STATIC_ROOT_PATH; no JS/CSS bundle: UI
# unstyled, API and git over HTTP fine) and a headless app.ini FROM BASE_IMAGE.
#
# Always built, never pulled (unlike the base and node images): the upstream image is
# no drop-in for tests/e2e/gitea.py, which starts it with no environment and seeds the
# admin with `gitea admin user create` through `docker exec` as the image's user:
# - gitea/gitea:1.26.4 runs s6 as root, so that exec runs as root, which gitea refuses
#   (upstream's docs add `-u git`);
# - gitea/gitea:1.26.4-rootless runs as uid 1000 on 3000 and its exec works, but its
#   first start writes app.ini from a template with INSTALL_LOCK=false unless SECRET_KEY
#   or INSTALL_LOCK is set: it serves the install page, not the /api/v1 the e2e calls;
#   nor is it headless like ours (OFFLINE_MODE, no update checker, registration and SSH off);
# - no digest of either is pinned here, and a tag can move.
# Pulling would take a pinned -rootless digest and the e2e passing that config as
# GITEA__section__KEY env (which our image applies too). Cold build: ~7 min on 2 cores.
#
# Usage: hack/bootstrap/gitea.sh [-h|--help]
#
# Idempotent: skips when the image tag exists; the binary is cached under .cache/gitea/.
# The Go build runs first; docker steps wait for READY_FILE or for BASE_IMAGE to exist.
#
# Env vars read:
#   GITEA_VERSION   Gitea module version (default v1.26.4) -> image gitea/gitea:1.26.4
#   GITEA_IMAGE     image tag to create (default gitea/gitea:<version without v>)
#   READY_FILE      file to wait for before docker steps (default /tmp/bootstrap-base-ready)
#   READY_WAIT_SECONDS  how long to wait for it (default 1800)
#   BASE_IMAGE      FROM image (default debian:bookworm-slim, see base-image.sh)
#   GOFLAGS, GOCACHE, GOMODCACHE, GOPROXY   as usual for go
#
# OUTPUTS: none on stdout; progress on stderr. Creates .cache/gitea/<version>/gitea and
#   the docker image GITEA_IMAGE (entrypoint runs `gitea web` as uid 1000; HTTP on 3000;
#   GITEA__section__KEY env vars override app.ini, e.g. GITEA__server__ROOT_URL).
#
# EXAMPLES:
#   hack/bootstrap/gitea.sh && docker run --rm -p 3000:3000 gitea/gitea:1.26.4
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GITEA_VERSION="${GITEA_VERSION:-$(_pinned GITEA_VERSION)}"
GITEA_IMAGE="${GITEA_IMAGE:-gitea/gitea:${GITEA_VERSION#v}}"
GITEA_TAGS="sqlite sqlite_unlock_notify"
READY_FILE="${READY_FILE:-/tmp/bootstrap-base-ready}"
READY_WAIT_SECONDS="${READY_WAIT_SECONDS:-1800}"
OUT_DIR="${CACHE_DIR}/gitea/${GITEA_VERSION}"
CONTEXT_DIR=""

usage() { usage_from_header "${BASH_SOURCE[0]}"; }
cleanup() { [[ -z "${CONTEXT_DIR}" ]] || rm -rf "${CONTEXT_DIR}"; }

# module_dir: downloads code.gitea.io/gitea@GITEA_VERSION and prints its directory.
module_dir() {
  local dir
  dir="$(cd "${OUT_DIR}" && go mod download -json "code.gitea.io/gitea@${GITEA_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -f "${dir}/go.mod" ]] || die "Go module proxy does not serve code.gitea.io/gitea@${GITEA_VERSION}"
  printf '%s\n' "${dir}"
}

# write_wrapper MODDIR WRAPDIR: a module requiring gitea, with gitea's go line,
# godebug, replace and exclude directives (they only apply in the main module).
write_wrapper() {
  local mod="$1" dir="$2"
  mkdir -p "${dir}"
  {
    printf 'module speckit-pods.local/gitea-build\n\n'
    grep -E '^go [0-9]' "${mod}/go.mod"
    printf '\nrequire code.gitea.io/gitea %s\n\n' "${GITEA_VERSION}"
    awk '/^(godebug|replace|exclude) \($/ { block = 1 }
         block || /^(godebug|replace|exclude) / { print }
         block && /^\)$/ { block = 0 }' "${mod}/go.mod"
  } >"${dir}/go.mod"
  cp "${mod}/go.sum" "${dir}/go.sum"
  chmod u+w "${dir}/go.sum"
}

build_binary() {
  [[ -x "${OUT_DIR}/gitea" ]] && { log_info "cached: ${OUT_DIR}/gitea"; return 0; }
  require_cmd go gcc
  local mod="$1" ldflags
  write_wrapper "${mod}" "${OUT_DIR}/wrapper"
  ldflags="-s -w -X 'main.Version=${GITEA_VERSION#v}' -X 'main.Tags=${GITEA_TAGS}'"
  log_info "go build code.gitea.io/gitea ${GITEA_VERSION} (cold: ~7 min on 2 cores, warm: seconds)"
  ( cd "${OUT_DIR}/wrapper" && CGO_ENABLED=1 GOFLAGS="${GOFLAGS:-} -mod=mod" \
      CGO_CFLAGS="$(go env CGO_CFLAGS) -DSQLITE_MAX_VARIABLE_NUMBER=32766" \
      go build -trimpath -tags "${GITEA_TAGS}" -ldflags "${ldflags}" \
      -o "${OUT_DIR}/gitea.tmp" code.gitea.io/gitea )
  mv "${OUT_DIR}/gitea.tmp" "${OUT_DIR}/gitea"
}

wait_ready_file() {
  local deadline=$(( SECONDS + READY_WAIT_SECONDS ))
  until [[ -e "${READY_FILE}" ]] || image_exists "${BASE_IMAGE}"; do
    (( SECONDS < deadline )) || die "base image not ready after ${READY_WAIT_SECONDS}s: ${READY_FILE}
Run hack/bootstrap/docker.sh and base-image.sh first."
    sleep 5
  done
}

# build_image MODDIR: assembles the build context and runs docker build.
build_image() {
  local mod="$1"
  CONTEXT_DIR="$(mktemp -d /var/tmp/gitea-image.XXXXXX)"
  cp "${BOOTSTRAP_DIR}"/gitea/{Dockerfile,app.ini,entrypoint.sh} "${OUT_DIR}/gitea" "${CONTEXT_DIR}/"
  mkdir -p "${CONTEXT_DIR}/static"
  cp -r "${mod}/templates" "${mod}/options" "${mod}/public" "${CONTEXT_DIR}/static/"
  # Stand-ins for the absent JS/CSS bundle, so UI pages do not log errors.
  mkdir -p "${CONTEXT_DIR}/static/public/assets/.vite" "${CONTEXT_DIR}/static/public/assets/css"
  printf '{}\n' >"${CONTEXT_DIR}/static/public/assets/.vite/manifest.json"
  : >"${CONTEXT_DIR}/static/public/assets/css/theme-gitea-auto.css"
  chmod -R u+w,go+rX "${CONTEXT_DIR}"
  chmod 0755 "${CONTEXT_DIR}/gitea" "${CONTEXT_DIR}/entrypoint.sh"
  ( set -x; docker build --build-arg "BASE_IMAGE=${BASE_IMAGE}" \
      --label "org.opencontainers.image.version=${GITEA_VERSION#v}" \
      -t "${GITEA_IMAGE}" "${CONTEXT_DIR}" >&2 )
}

main() {
  case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    '') ;;
    *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
  esac
  if image_exists "${GITEA_IMAGE}"; then
    step_begin "gitea image ${GITEA_IMAGE}"
    step_end "exists"
    return 0
  fi
  require_cmd go
  mkdir -p "${OUT_DIR}"
  local mod
  step_begin "gitea binary ${GITEA_VERSION}"
  mod="$(module_dir)"
  build_binary "${mod}"
  step_end "$("${OUT_DIR}/gitea" --version)"
  step_begin "wait for ${READY_FILE}"
  wait_ready_file
  step_end
  step_begin "gitea image ${GITEA_IMAGE}"
  if image_exists "${GITEA_IMAGE}"; then step_end "exists"; return 0; fi
  trap cleanup EXIT
  build_image "${mod}"
  step_end "built"
}

main "$@"
