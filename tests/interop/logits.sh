#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Interop with llama.cpp: our test models load there and give the same next-token
# log-probabilities as tailor-cli's CPU reference, CPU backend and Vulkan device (logits.mjs does
# the work and prints a table).
# Exit 77 (skip) only when node or npm is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node and npm are needed for the llama.cpp interop test; skipping" >&2
  exit 77
fi
: "${TAILOR_CLI:?TAILOR_CLI must point at the built tailor-cli}"

# Every tailor-cli call on Vulkan builds its pipelines again; on lavapipe that is an LLVM
# compile of each kernel (seconds each). Tailor's pipeline cache and Mesa's shader cache (where
# lavapipe keeps the compiled code; Tailor's cache holds almost nothing there) live in the build
# tree, so the first run compiles once and later calls and runs reuse the code.
cache="${TAILOR_BUILD_ROOT:-$(dirname "$TAILOR_CLI")}/interop-cache"
mkdir -p "$cache"
export TAILOR_CACHE_DIR="$cache"
export MESA_SHADER_CACHE_DIR="$cache/mesa"

TAILOR_NODE_MODULES=$("$here/ensure-node-modules.sh")
export TAILOR_CLI TAILOR_NODE_MODULES
exec node "$here/logits.mjs"
