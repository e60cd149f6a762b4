#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the interop tests' npm packages (pinned by package-lock.json) into the build dir,
# once, under a lock so tests running in parallel share one install. Prints the
# node_modules path. Needs the npm registry the first time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# Exit 77 (meson's "skipped") when the interop tests cannot run here, saying why.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: node and npm are needed for the llama.cpp interop tests" >&2
  exit 77
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "SKIP: node-llama-cpp 3.21.1 needs Node.js >= 20 (this machine has $(node --version))" >&2
  exit 77
fi
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
