#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Interop with llama.cpp: our test models load there and give the same next-token
# log-probabilities as tailor-cli's CPU reference (logits.mjs does the work and prints a table).
# Exit 77 (skip) only when node or npm is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node and npm are needed for the llama.cpp interop test; skipping" >&2
  exit 77
fi
: "${TAILOR_CLI:?TAILOR_CLI must point at the built tailor-cli}"

TAILOR_NODE_MODULES=$("$here/ensure-node-modules.sh")
export TAILOR_CLI TAILOR_NODE_MODULES
exec node "$here/logits.mjs"
