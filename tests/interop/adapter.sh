#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Interop with llama.cpp: a LoRA adapter trained by `tailor-cli train` loads in llama.cpp on
# its base model, and changes llama.cpp's next-token log-probabilities exactly as our engine
# predicts (adapter.mjs does the work and prints a table). Exit 77 (skip) when node or npm is
# missing, or when this tailor-cli cannot train or apply adapters yet.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node and npm are needed for the llama.cpp interop test; skipping" >&2
  exit 77
fi
: "${TAILOR_CLI:?TAILOR_CLI must point at the built tailor-cli}"
if ! "$TAILOR_CLI" train --help >/dev/null 2>&1 ||
   ! "$TAILOR_CLI" logits --help 2>/dev/null | grep -q -- --adapter; then
  echo "this tailor-cli has no train command or no logits --adapter; skipping" >&2
  exit 77
fi

TAILOR_NODE_MODULES=$("$here/ensure-node-modules.sh")
export TAILOR_CLI TAILOR_NODE_MODULES
exec node "$here/adapter.mjs"
