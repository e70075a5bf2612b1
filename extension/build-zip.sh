#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# build-zip.sh: pack the spec-kit extension as a release zip (what `specify extension add
# --from URL` installs): every file of this folder except those .extensionignore excludes,
# i.e. exactly what `specify extension add --dev extension/` copies. The patterns are read
# as specify-cli 1.2.3 reads them (pathspec's GitIgnoreSpec; lines stripped, `\` -> `/`,
# .extensionignore itself always excluded, an excluded directory is not descended into);
# OUT_DIR is also left out when it lies inside this folder. Modes: 755 if executable, else
# 644; timestamps fixed, entries sorted, so the zip is reproducible.
#
# Usage: build-zip.sh [OUT_DIR]        (default OUT_DIR: extension/dist)
# Env read: SPECKIT_PODS_PYTHON  interpreter with the pathspec package (default python3;
#                                specify-cli depends on pathspec, so its Python has it).
# OUTPUTS: stdout = the zip's path (speckit-pods-extension-<version>.zip).
# Exit: 0 ok, 1 error, 2 usage.

set -o errexit -o nounset -o pipefail

EXT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"

main() {
  case "${1:-}" in
    -h | --help)
      sed -n '5,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2
      exit 2
      ;;
  esac
  [[ $# -le 1 ]] || { printf 'ERROR: too many arguments. Use --help.\n' >&2; exit 2; }
  local python="${SPECKIT_PODS_PYTHON:-python3}"
  command -v "$python" >/dev/null 2>&1 || {
    printf 'ERROR: %s not found: install Python 3, or set SPECKIT_PODS_PYTHON\n' "$python" >&2
    exit 1
  }
  "$python" -c 'import pathspec' 2>/dev/null || {
    printf '%s %s\n' "ERROR: $python lacks the pathspec package (spec-kit reads .extensionignore" \
      "with it): pip install pathspec, or set SPECKIT_PODS_PYTHON to specify-cli's Python" >&2
    exit 1
  }
  local out version
  out="$(mkdir -p "${1:-$EXT_DIR/dist}" && cd "${1:-$EXT_DIR/dist}" && pwd -P)"
  version="$(sed -n 's/^  version: "\(.*\)"$/\1/p' "$EXT_DIR/extension.yml" | head -n 1)"
  [[ -n "$version" ]] || { printf 'ERROR: no extension.version in %s\n' "$EXT_DIR/extension.yml" >&2; exit 1; }
  local zip="$out/speckit-pods-extension-$version.zip"
  rm -f -- "$zip"
  "$python" - "$EXT_DIR" "$out" "$zip" <<'PY'
import os
import re
import sys
import zipfile
from pathlib import Path

import pathspec

IGNORE_FILE = ".extensionignore"
source, out, archive_path = (Path(arg) for arg in sys.argv[1:4])


def load_spec() -> "pathspec.GitIgnoreSpec":
    """The patterns as specify_cli._install_ignore.load_install_ignore reads them."""
    ignore = source / IGNORE_FILE
    lines = []
    if ignore.exists():
        try:
            raw = ignore.read_text(encoding="utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as err:
            sys.exit(f"ERROR: {ignore} is not valid UTF-8 ({err.reason} at byte {err.start})")
        for line in raw.splitlines():
            stripped = line.strip()
            keep = stripped and not stripped.startswith("#")
            lines.append(stripped.replace("\\", "/") if keep else line)
    lines.append(IGNORE_FILE)  # always excluded, even after a negation
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except (ValueError, re.error) as err:
        sys.exit(f"ERROR: invalid patterns in {ignore}: {err}")


def included(spec: "pathspec.GitIgnoreSpec") -> list[str]:
    """Walk like shutil.copytree(ignore=...): an excluded directory is pruned."""
    names = []
    for directory, dirs, files in os.walk(source, followlinks=True):
        rel_dir = Path(directory).relative_to(source)

        def rel(entry: str) -> str:
            return entry if str(rel_dir) == "." else f"{rel_dir.as_posix()}/{entry}"

        dirs[:] = sorted(
            d for d in dirs
            if not spec.match_file(rel(d) + "/") and (Path(directory) / d).resolve() != out
        )
        names += [rel(f) for f in files if not spec.match_file(rel(f))]
    return sorted(names)


files = included(load_spec())
with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
    for name in files:
        path = source / name
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
        archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
PY
  printf '%s\n' "$zip"
}

main "$@"
