#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Prove the images (built offline or pulled, see node-image.sh): create a kind cluster
# from kindest/node:<KUBE_VERSION> and hack/kind-config.yaml, load BASE_IMAGE with `kind
# load docker-image`, then in a namespace enforcing the `restricted` Pod Security level
# run pods (imagePullPolicy Never) that must: print "hi"; reach the API server's Service
# IP (kube-proxy); reach a container on the `kind` docker network (a perl HTTP server in
# BASE_IMAGE: perl is Essential in Debian; the upstream node image has no socat); reach
# the host through the network's gateway IP; resolve a Service name and the container's
# name (CoreDNS). A non-compliant pod must be rejected. Deletes the cluster at the end.
#
# Usage: hack/bootstrap/smoke.sh [--keep] [-h|--help]
#
# OPTIONS:
#   --keep   keep the cluster (and print how to delete it)
#
# Env vars read:
#   CLUSTER_NAME (default bootstrap-smoke), KUBE_VERSION, NODE_IMAGE, BASE_IMAGE
#
# OUTPUTS: stdout: one `ok: <check>` line per check. Exit 1 on the first failure.
#
# EXAMPLES:
#   hack/bootstrap/all.sh && hack/bootstrap/smoke.sh
set -o errexit -o nounset -o pipefail
# shellcheck source=hack/bootstrap/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLUSTER_NAME="${CLUSTER_NAME:-bootstrap-smoke}"
NS="smoke-restricted"
KEEP=0
HTTP_PID=""
KUBECTL=(kubectl --context "kind-${CLUSTER_NAME}")
# the peer on the kind network: answers every request (read to its blank line) on :8080
# shellcheck disable=SC2016  # perl expands these, not bash
PEER_HTTP='my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 16, ReuseAddr => 1)
  or die "listen: $!\n";
while (my $c = $s->accept) {
  while (my $line = <$c>) { last if $line =~ /^\r?\n$/ }
  print $c "HTTP/1.0 200 OK\r\n\r\nfrom-kind-network\n";
  close $c;
}'

usage() { usage_from_header "${BASH_SOURCE[0]}"; }
cleanup() {
  [[ -z "${HTTP_PID}" ]] || kill "${HTTP_PID}" 2>/dev/null || true
  docker rm -f "${CLUSTER_NAME}-http" >/dev/null 2>&1 || true
  if (( KEEP )); then log_info "kept; delete with: kind delete cluster --name ${CLUSTER_NAME}"
  else kind delete cluster --name "${CLUSTER_NAME}" >&2 || true; fi
}

# run_pod NAME SCRIPT: runs SCRIPT (bash) in a restricted-compliant pod, prints its log.
run_pod() {
  "${KUBECTL[@]}" -n "${NS}" apply -f - >/dev/null <<EOF_POD
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: main
      image: ${BASE_IMAGE}
      imagePullPolicy: Never
      command: [bash, -c, '$2']
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF_POD
  "${KUBECTL[@]}" -n "${NS}" wait "pod/$1" --for=jsonpath='{.status.phase}'=Succeeded --timeout=90s >/dev/null \
    || { "${KUBECTL[@]}" -n "${NS}" describe "pod/$1" >&2; "${KUBECTL[@]}" -n "${NS}" logs "$1" >&2 || true
      die "pod $1 did not succeed"; }
  "${KUBECTL[@]}" -n "${NS}" logs "$1"
}

# http_get HOST PORT: bash snippet printing the body of GET / (no curl in the base image).
http_get() {
  printf 'exec 3<>/dev/tcp/%s/%s && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3' "$1" "$2"
}

check() { grep -q "$2" <<<"$3" || die "check '$1' failed: expected '$2' in: $3"; printf 'ok: %s\n' "$1"; }

create_cluster() {
  kind get clusters 2>/dev/null | grep -qx "${CLUSTER_NAME}" \
    || kind create cluster --name "${CLUSTER_NAME}" --image "${NODE_IMAGE}" \
      --config "${REPO_ROOT}/hack/kind-config.yaml" --wait 5m >&2
  kind load docker-image "${BASE_IMAGE}" --name "${CLUSTER_NAME}" >&2
  "${KUBECTL[@]}" create namespace "${NS}" >/dev/null
  "${KUBECTL[@]}" label namespace "${NS}" pod-security.kubernetes.io/enforce=restricted >/dev/null
}

main() {
  while (( $# )); do
    case "$1" in
      -h|--help) usage; exit 0 ;;
      --keep) KEEP=1 ;;
      *) printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2; exit 2 ;;
    esac
    shift
  done
  step_begin "smoke ${CLUSTER_NAME}"
  require_cmd kind kubectl docker python3
  trap cleanup EXIT
  create_cluster
  printf 'ok: cluster %s Ready\n' "${CLUSTER_NAME}"
  local gw peer out
  gw="$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -F . | head -1)"
  docker run -d --name "${CLUSTER_NAME}-http" --network kind --entrypoint perl "${BASE_IMAGE}" \
    -MIO::Socket::INET -e "${PEER_HTTP}" >/dev/null
  peer="$(docker inspect -f '{{.NetworkSettings.Networks.kind.IPAddress}}' "${CLUSTER_NAME}-http")"
  mkdir -p "${CACHE_DIR}/smoke-www" && echo from-host >"${CACHE_DIR}/smoke-www/index.html"
  python3 -m http.server 18080 --bind "${gw}" --directory "${CACHE_DIR}/smoke-www" >/dev/null 2>&1 &
  HTTP_PID=$!
  check "pod runs a locally built image" '^hi$' "$(run_pod hi 'echo hi')"
  check "pod reaches the API server Service (kube-proxy)" 'open' \
    "$(run_pod svc 'exec 3<>/dev/tcp/10.96.0.1/443 && echo open')"
  check "pod reaches a container on the kind network (${peer}:8080)" 'from-kind-network' \
    "$(run_pod peer "$(http_get "${peer}" 8080)")"
  check "pod reaches the host via the kind gateway (${gw}:18080)" 'from-host' \
    "$(run_pod host "$(http_get "${gw}" 18080)")"
  "${KUBECTL[@]}" -n kube-system rollout status deployment/coredns --timeout=120s >&2
  check "pod resolves a Service name (CoreDNS)" 'open' \
    "$(run_pod dns 'exec 3<>/dev/tcp/kubernetes.default.svc.cluster.local/443 && echo open')"
  check "pod resolves a container name on the kind network (CoreDNS -> docker DNS)" 'from-kind-network' \
    "$(run_pod peer-dns "$(http_get "${CLUSTER_NAME}-http" 8080)")"
  out="$("${KUBECTL[@]}" -n "${NS}" run bad --image="${BASE_IMAGE}" --restart=Never -- true 2>&1 || true)"
  check "restricted namespace rejects a non-compliant pod" 'violates PodSecurity' "${out}"
  step_end "all checks passed"
}

main "$@"
