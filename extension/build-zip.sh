#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# build-zip.sh: pack the spec-kit extension as a release zip (what `specify extension add
# --from URL` installs): the installable files, without those listed in .extensionignore.
#
# Usage: build-zip.sh [OUT_DIR]        (default OUT_DIR: extension/dist)
# Env read: none.
# OUTPUTS: stdout = the zip's path (speckit-pods-extension-<version>.zip).
# Exit: 0 ok, 1 error, 2 usage.

set -o errexit -o nounset -o pipefail

EXT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"

main() {
  case "${1:-}" in
    -h | --help)
      sed -n '5,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2
      exit 2
      ;;
  esac
  local out version
  out="$(mkdir -p "${1:-$EXT_DIR/dist}" && cd "${1:-$EXT_DIR/dist}" && pwd -P)"
  version="$(sed -n 's/^  version: "\(.*\)"$/\1/p' "$EXT_DIR/extension.yml" | head -n 1)"
  [[ -n "$version" ]] || { printf 'ERROR: no extension.version in %s\n' "$EXT_DIR/extension.yml" >&2; exit 1; }
  local zip="$out/speckit-pods-extension-$version.zip"
  rm -f -- "$zip"
  (
    cd "$EXT_DIR"
    python3 - "$zip" <<'PY'
import os, sys, zipfile
files = ["extension.yml", "commands/dispatch.md", "commands/status.md", "agents/speckit-pods.md"]
files += sorted("scripts/bash/" + f for f in os.listdir("scripts/bash") if f.endswith(".sh"))
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as archive:
    for name in files:
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = (0o755 if name.endswith(".sh") else 0o644) << 16
        with open(name, "rb") as handle:
            archive.writestr(info, handle.read(), zipfile.ZIP_DEFLATED)
PY
  )
  printf '%s\n' "$zip"
}

main "$@"
