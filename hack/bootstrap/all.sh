#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Image bootstrap for the e2e harness, offline-capable, from nothing (root on Debian 12)
# to a docker daemon holding every image the e2e needs (base, kind node, Gitea, agent,
# kube-router, registry), and kind + kubectl in .cache/bin. Pinned versions:
# hack/bootstrap/versions.env.
# Runs the steps in order and prints a timing table. Every step skips when its output
# exists, so a rerun takes seconds.
#
# Usage: hack/bootstrap/all.sh [-v|--verbose] [-h|--help]
#
#   -v, --verbose  also stream every step's full output to stderr (as well as the log)
#
# Steps: host deps (apt: debootstrap, build-essential, ca-certificates; go), then
# docker.sh, base-image.sh, kind.sh, kube-binaries.sh, node-image.sh
# (node-image.sh runs k8s-images.sh), gitea.sh, agent-image.sh, kube-router.sh (the
# NetworkPolicy enforcer), registry.sh (the registry the node pulls the agent image
# from), then EXTRA_STEPS.
# The online fast path: where a registry answers, base-image.sh pulls the base image,
# and kube-binaries.sh has node-image.sh pull the kind node image by digest (then it
# makes kubectl only, from that image: no Kubernetes build, no k8s-images.sh; the pull
# is timed in kube-binaries' line and node-image finds the image). Offline each pull is
# refused in well under a second and everything is built. Each step says which path it
# took (in the log). BOOTSTRAP_PULL=0 always builds.
#
# Quiet by default: one progress line per step on stderr, e.g.
#   ==> [3/8] kind ... ok (12 s)        (ok (0 s, cached) when it took under 2 s)
# A step still running after 5 s gets a start line, then one every 5 minutes (on a
# terminal: a single line, updated in place every minute). The full output (stdout
# and stderr, apt's too) of every step goes to one log per run,
# .cache/bootstrap/logs/<YYYYmmdd-HHMMSS>.log (latest.log links to it), whose path is
# printed first. When a step fails: `ERROR: bootstrap step NAME failed (exit N) after
# S s; log: PATH`, the last 30 lines of its output, and all.sh exits with the step's
# exit code. CI=true changes nothing (quiet, the tail on failure).
#
# Env vars read:
#   EXTRA_STEPS        space-separated scripts in hack/bootstrap/ to run last
#                      (e.g. "smoke.sh")
#   BOOTSTRAP_VERBOSE  1: same as --verbose
#   BOOTSTRAP_CACHE_DIR  cache root (default .cache); the logs go to bootstrap/logs/ in it
#   BOOTSTRAP_PULL     0: never pull, build every image
#   plus the ones of each step (KUBE_VERSION, KIND_VERSION, BASE_IMAGE, ...)
# Test hooks (tests/unit/scripts/test_bootstrap_all_sh.py):
#   BOOTSTRAP_STEPS           space-separated steps replacing the list above; a step
#                             with a '/' is a path, else a script in hack/bootstrap/
#   BOOTSTRAP_SKIP_HOST_DEPS  1: skip the host deps (no root, no apt)
#
# OUTPUTS: stdout: the timing table (step, seconds). Progress and errors on stderr.
#   The log file above.
#
# EXAMPLES:
#   sudo hack/bootstrap/all.sh
#   sudo hack/bootstrap/all.sh --verbose
#   sudo EXTRA_STEPS=smoke.sh hack/bootstrap/all.sh
#   less .cache/bootstrap/logs/latest.log
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STEPS=(docker.sh base-image.sh kind.sh kube-binaries.sh node-image.sh gitea.sh agent-image.sh kube-router.sh registry.sh)
STEP_NAMES=()
STEP_SECONDS=()
VERBOSE="${BOOTSTRAP_VERBOSE:-0}"
LOG_DIR="${CACHE_DIR}/bootstrap/logs"
LOG=""
TAIL_LINES=30
CACHED_SECS=2         # a step faster than this is reported as cached
ANNOUNCE_AFTER=5      # seconds before a running step gets its start line
HEARTBEAT=300         # seconds between "still running" lines
ANNOUNCER=""          # pid of the background progress printer of the current step

usage() { usage_from_header "${BASH_SOURCE[0]}"; }

install_host_deps() {
  require_root
  apt_install debootstrap build-essential ca-certificates
  ensure_go
}

# open_log: creates this run's log file (and latest.log) and prints its path.
open_log() {
  mkdir -p "${LOG_DIR}"
  LOG="${LOG_DIR}/$(date +%Y%m%d-%H%M%S).log"
  if [[ -e "${LOG}" ]]; then LOG="${LOG%.log}-$$.log"; fi
  : >"${LOG}"
  ln -sfn "$(basename "${LOG}")" "${LOG_DIR}/latest.log"
  printf '==> bootstrap log: %s\n' "${LOG}" >&2
}

# announce LABEL: in the background, shows that the step LABEL is alive (see header).
# Its sleeps do not hold stderr (a reader of a pipe is not kept waiting) and end with it.
announce() {
  local label="$1"
  (
    nap_pid=""
    # bash may have reaped the sleep already when TERM comes mid-wait: its "wait_for: No
    # record of process" complaint is noise on our stderr (seen once under load)
    trap 'kill "${nap_pid}" 2>/dev/null; wait 2>/dev/null; exit 0' TERM
    nap() { sleep "$1" >/dev/null 2>&1 & nap_pid=$!; wait "${nap_pid}" 2>/dev/null; }
    if [[ -t 2 ]]; then
      printf '%s ...' "${label}" >&2
      m=0
      while nap 60; do m=$(( m + 1 )); printf '\r\033[K%s ... %s min' "${label}" "${m}" >&2; done
    else
      nap "${ANNOUNCE_AFTER}"
      printf '%s ... started %s\n' "${label}" "$(date +%H:%M:%S)" >&2
      s="${ANNOUNCE_AFTER}"
      while nap "${HEARTBEAT}"; do
        s=$(( s + HEARTBEAT ))
        printf '%s ... still running (%s min)\n' "${label}" "$(( s / 60 ))" >&2
      done
    fi
  ) &
  ANNOUNCER=$!
}

stop_announcer() {
  [[ -n "${ANNOUNCER}" ]] || return 0
  kill "${ANNOUNCER}" 2>/dev/null || true
  wait "${ANNOUNCER}" 2>/dev/null || true
  ANNOUNCER=""
}

# run_logged NAME LABEL CMD...: runs CMD (errexit on, also for a function) with its
# stdout and stderr appended to LOG (and streamed to stderr with --verbose), prints the
# step's progress line, and on failure the error line and the tail, then exits.
# Sets STEP_SECS.
run_logged() {
  local name="$1" label="$2" start offset rc=0
  shift 2
  printf '===== %s: %s (%s)\n' "$(date '+%F %T')" "${name}" "$*" >>"${LOG}"
  offset="$(stat -c %s "${LOG}")"
  start="$(date +%s)"
  if [[ "${VERBOSE}" == 1 ]]; then
    printf '%s ... started %s\n' "${label}" "$(date +%H:%M:%S)" >&2
    set +o errexit
    ( set -o errexit; "$@" ) 2>&1 | tee -a "${LOG}" >&2
    rc=$?
    set -o errexit
  else
    announce "${label}"
    set +o errexit
    ( set -o errexit; "$@" ) >>"${LOG}" 2>&1
    rc=$?
    set -o errexit
    stop_announcer
      if [[ -t 2 ]]; then printf '\r\033[K' >&2; fi
  fi
  STEP_SECS=$(( $(date +%s) - start ))
  if [[ -n "$(tail -c 1 "${LOG}")" ]]; then  # output ended without a newline
    printf '\n' >>"${LOG}"
    [[ "${VERBOSE}" != 1 ]] || printf '\n' >&2
  fi
  if (( rc != 0 )); then
    printf '%s ... FAILED (exit %s, %s s)\n' "${label}" "${rc}" "${STEP_SECS}" >&2
    printf 'ERROR: bootstrap step %s failed (exit %s) after %s s; log: %s\n' \
      "${name}" "${rc}" "${STEP_SECS}" "${LOG}" >&2
    if [[ "${VERBOSE}" != 1 ]]; then
      printf -- '----- last %s lines of %s:\n' "${TAIL_LINES}" "${name}" >&2
      tail -c +"$(( offset + 1 ))" "${LOG}" | tail -n "${TAIL_LINES}" >&2
      printf -- '-----\n' >&2
    fi
  fi
  printf '===== %s: %s exit %s after %s s\n' "$(date '+%F %T')" "${name}" "${rc}" "${STEP_SECS}" >>"${LOG}"
  (( rc == 0 )) || exit "${rc}"
  if (( STEP_SECS < CACHED_SECS )); then
    printf '%s ... ok (%s s, cached)\n' "${label}" "${STEP_SECS}" >&2
  else
    printf '%s ... ok (%s s)\n' "${label}" "${STEP_SECS}" >&2
  fi
}

# step_path STEP: a step with a '/' is a path, else a script in hack/bootstrap/.
step_path() {
  if [[ "$1" == */* ]]; then printf '%s\n' "$1"; else printf '%s\n' "${BOOTSTRAP_DIR}/$1"; fi
}

main() {
  while (( $# > 0 )); do
    case "$1" in
      -h|--help) usage; exit 0 ;;
      -v|--verbose) VERBOSE=1 ;;
      *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
    esac
    shift
  done
  local total_start step name i n extra=() steps=()
  total_start="$(date +%s)"
  if [[ -n "${BOOTSTRAP_STEPS:-}" ]]; then read -r -a steps <<<"${BOOTSTRAP_STEPS}"; else steps=("${STEPS[@]}"); fi
  read -r -a extra <<<"${EXTRA_STEPS:-}"
  steps+=("${extra[@]}")
  trap stop_announcer EXIT
  open_log
  if [[ "${BOOTSTRAP_SKIP_HOST_DEPS:-0}" != 1 ]]; then
    run_logged host-deps "==> host deps" install_host_deps
  fi
  n="${#steps[@]}"
  for i in "${!steps[@]}"; do
    step="${steps[i]}"
    name="$(basename "${step}" .sh)"
    run_logged "${name}" "==> [$(( i + 1 ))/${n}] ${name}" "$(step_path "${step}")"
    STEP_NAMES+=("${name}")
    STEP_SECONDS+=("${STEP_SECS}")
  done
  printf '%-16s %8s\n' STEP SECONDS
  for i in "${!STEP_NAMES[@]}"; do printf '%-16s %8s\n' "${STEP_NAMES[i]}" "${STEP_SECONDS[i]}"; done
  printf '%-16s %8s\n' total "$(( $(date +%s) - total_start ))"
}

main "$@"
