#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# spawn-pod.sh: start one Kubernetes pod running an OpenCode agent on one spec-kit task.
#
# Usage: spawn-pod.sh --task-id TID [--branch B] [--repo URL] [--context-dir DIR] [OPTIONS]
#        spawn-pod.sh TID [BRANCH [REPO_URL [CONTEXT_DIR]]] [OPTIONS]
#
# OPTIONS: see --help (all parsing and validation is done by `python3 -m runtime spawn`).
#
# Env read: SPECKIT_PODS_PYTHON (interpreter, default python3), SPECKIT_PODS_NAMESPACE,
#           KUBECONFIG, SPECIFY_FEATURE_DIRECTORY / SPECIFY_FEATURE (feature discovery).
#
# OUTPUTS: stdout = the pod name (one line), or with --dry-run the Pod and ConfigMap as
#          multi-document YAML. stderr = INFO:/WARNING:/ERROR: lines.
# Exit: 0 ok, 2 usage, 10-14 tasks.md/context, 20-26 cluster/input (see docs/architecture.md).

set -o errexit -o nounset -o pipefail

# resolve symlinks (a link in ~/bin) so lib/ and the runtime are found next to the real file
SCRIPT_PATH="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null || printf '%s' "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$SCRIPT_PATH")/lib/common.sh"

usage() {
  cat <<'USAGE'
Usage: spawn-pod.sh --task-id TID [--branch B] [--repo URL] [--context-dir DIR] [OPTIONS]
       spawn-pod.sh TID [BRANCH [REPO_URL [CONTEXT_DIR]]] [OPTIONS]

Start a pod that clones REPO_URL at --base, runs OpenCode on task TID of the feature's
tasks.md, commits and pushes to BRANCH. Prints the pod name; follow it with tail-logs.sh.

What to run:
  --task-id TID          task ID in tasks.md (e.g. T012)
  --branch B             branch to push (default specs/<feature>/<TID>-async)
  --repo URL             https://, http://, ssh:// or git@host:org/repo.git, no credentials
                         (default: `git remote get-url origin`)
  --context-dir DIR      feature dir whose spec.md, plan.md, tasks.md, contracts/ ... go to
                         the agent (default: the dir holding tasks.md)
  --tasks FILE           tasks.md to read (default: found like spec-kit does)
  --base BRANCH          branch to clone (default: current branch, else main)
  --model P/M            OpenCode model, provider/model (default: from opencode.json)
  --requested-by "N <E>" Co-authored-by trailer (default: git config user.name/email)

Pod:
  --namespace NS         default speckit-pods (or $SPECKIT_PODS_NAMESPACE)
  --context CTX          kubeconfig context
  --image IMAGE          default ghcr.io/speckit-pods/agent:0.1.0
  --timeout DUR          run deadline, e.g. 90m, 2h, 3600 (default 2h)
  --stall-timeout DUR    stop after this long without agent output (default 10m)
  --cleanup WHEN         always | on-success | never (default on-success)
  --keep-for DUR         how long a kept pod stays before it is swept (default 24h)
  --git-secret NAME      Secret with token[/username] or ssh-privatekey[/known_hosts]
                         (default speckit-pods-git)
  --llm-secret NAME      Secret whose keys become the agent's env (default speckit-pods-llm)
  --cpu Q, --memory Q    container limits (default 2 CPUs, 2Gi)
  --replace              delete a pending/running pod of the same task first
  --dry-run              print the Pod and ConfigMap YAML; needs no cluster
  -h, --help             this help

EXAMPLES:
  # the agentic-sdlc implement flow
  spawn-pod.sh --task-id T012 --branch specs/001-photo-albums/T012-async \
    --repo https://github.com/acme/photos.git --context-dir specs/001-photo-albums

  # everything from the current checkout and feature
  spawn-pod.sh T012

  # look before you leap
  spawn-pod.sh T012 --dry-run | less

  # start over after editing the task
  spawn-pod.sh T012 --replace --timeout 90m --model anthropic/claude-sonnet-4-5
USAGE
}

main() {
  help_or_exec_runtime spawn "$@"
}

main "$@"
