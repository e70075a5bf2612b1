#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Build the agent image (Dockerfile at the repo root) with BuildKit. Passes the host's
# CA bundle as the optional `extra_ca` build secret, so npm works behind a
# TLS-intercepting proxy. Docker's layer cache makes a rebuild with unchanged inputs
# take seconds; changed inputs (runtime/agent/, the Dockerfile, ...) rebuild.
#
# Usage: hack/bootstrap/agent-image.sh [-h|--help] [--no-cache] [--push REF]
#
# OPTIONS:
#   --no-cache   rebuild every layer
#   --push REF   then push it as REF (REGISTRY/PATH[:TAG]; the tag defaults to
#                AGENT_IMAGE's) with your docker login, for a cluster to pull: point
#                spawn and the dispatcher at it with SPECKIT_PODS_IMAGE=REF (or
#                `image: REF` in the spec-kit extension's pods-config.yml)
#
# Env vars read:
#   AGENT_IMAGE       tag to build (default ghcr.io/speckit-pods/agent:0.1.0)
#   OPENCODE_VERSION  opencode-ai version (default: hack/bootstrap/versions.env)
#   BASE_IMAGE        FROM image (default debian:bookworm-slim; must exist locally
#                     or be pullable: hack/bootstrap/base-image.sh builds it offline)
#   EXTRA_CA_FILE     PEM bundle given to the build (default
#                     /etc/ssl/certs/ca-certificates.crt if present; "" = none)
#
# OUTPUTS: stdout: the image tag and its size; with --push, the pushed REF@sha256:…
#   digest too. Progress and the duration on stderr.
#
# EXAMPLES:
#   hack/bootstrap/agent-image.sh
#   hack/bootstrap/agent-image.sh --push registry.example.com/team/speckit-pods-agent
#   EXTRA_CA_FILE= hack/bootstrap/agent-image.sh --no-cache
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

AGENT_IMAGE="${AGENT_IMAGE:-$(_pinned AGENT_IMAGE)}"
OPENCODE_VERSION="${OPENCODE_VERSION:-$(_pinned OPENCODE_VERSION)}"
DEFAULT_CA=/etc/ssl/certs/ca-certificates.crt
EXTRA_CA_FILE="${EXTRA_CA_FILE-$([[ -r "${DEFAULT_CA}" ]] && echo "${DEFAULT_CA}")}"

usage() { usage_from_header "${BASH_SOURCE[0]}"; }

build_args() {
  local -n _args="$1"
  _args=(docker buildx build --load --progress=plain
    --build-arg "OPENCODE_VERSION=${OPENCODE_VERSION}"
    --build-arg "BASE_IMAGE=${BASE_IMAGE}"
    --tag "${AGENT_IMAGE}" --file "${REPO_ROOT}/Dockerfile")
  if [[ -n "${EXTRA_CA_FILE}" ]]; then
    [[ -r "${EXTRA_CA_FILE}" ]] || die "EXTRA_CA_FILE not readable: ${EXTRA_CA_FILE}"
    _args+=(--secret "id=extra_ca,src=${EXTRA_CA_FILE}")
  fi
  [[ "${NO_CACHE}" == 1 ]] && _args+=(--no-cache)
  _args+=("${REPO_ROOT}")
}

# push_ref REF: REF with AGENT_IMAGE's tag when it has neither a tag nor a digest.
push_ref() {
  local ref="$1" last="${1##*/}"
  if [[ "${ref}" != *@* && "${last}" != *:* ]]; then
    ref="${ref}:${AGENT_IMAGE##*:}"
  fi
  printf '%s\n' "${ref}"
}

# push REF: tag the built image as REF, push it, print REF@digest.
push() {
  local ref digest
  ref="$(push_ref "$1")"
  step_begin "push ${ref}"
  docker tag "${AGENT_IMAGE}" "${ref}"
  docker push --quiet "${ref}" >&2 \
    || die "docker push ${ref} failed (hint: docker login to its registry; the name must be one you may push to)"
  digest="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "${ref}" \
    | grep -F "${ref%:*}@" | head -n 1)"
  step_end "${digest:-${ref}}"
  printf '%s\n' "${digest:-${ref}}"
  log_info "point spawn and the dispatcher at it: export SPECKIT_PODS_IMAGE=${ref} (or image: ${ref} in the extension's pods-config.yml)"
}

main() {
  NO_CACHE=0
  PUSH=""
  while (( $# > 0 )); do
    case "$1" in
      -h|--help) usage; exit 0 ;;
      --no-cache) NO_CACHE=1 ;;
      --push)
        [[ $# -ge 2 && -n "$2" && "$2" != -* ]] || { printf "ERROR: --push needs REGISTRY/PATH[:TAG]. Use --help.\n" >&2; exit 2; }
        PUSH="$2"; shift ;;
      *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
    esac
    shift
  done
  require_cmd docker
  docker_server_major >/dev/null || die "no docker daemon answers; run hack/bootstrap/docker.sh"
  image_exists "${BASE_IMAGE}" \
    || log_warn "${BASE_IMAGE} is not local; the build will try to pull it (offline: hack/bootstrap/base-image.sh)"
  local args=()
  build_args args
  step_begin agent-image
  ( set -x; "${args[@]}" ) >&2
  step_end "${AGENT_IMAGE}"
  docker image inspect --format '{{index .RepoTags 0}} {{.Size}}' "${AGENT_IMAGE}"
  [[ -z "${PUSH}" ]] || push "${PUSH}"
}

main "$@"
