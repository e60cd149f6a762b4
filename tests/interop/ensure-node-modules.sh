#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the interop tests' npm packages (pinned by package-lock.json) into the build dir,
# once, under a lock so tests running in parallel share one install. Prints the
# node_modules path. Needs the npm registry the first time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest="${MESON_BUILD_ROOT:-${TAILOR_BUILD_ROOT:-$PWD}}/interop-npm"
mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9
if [ ! -f "$dest/.installed" ] || ! cmp -s "$here/package-lock.json" "$dest/package-lock.json"; then
  cp "$here/package.json" "$here/package-lock.json" "$dest/"
  (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >&2)
  touch "$dest/.installed"
fi
echo "$dest/node_modules"
