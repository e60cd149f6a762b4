#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Tokenizer parity with llama.cpp (node-llama-cpp): real LLaMA SentencePiece and Llama 3 BPE
# vocabularies from npm packages become GGUF fixtures; every corpus string must give the same
# ids and the same detokenized text from Tailor and from llama.cpp.
set -euo pipefail
command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm missing: skipping"; exit 77; }

here=$(cd "$(dirname "$0")" && pwd)
build="${TAILOR_BUILD_ROOT:?TAILOR_BUILD_ROOT is not set; run through meson test}"
helpers="$build/tests/interop"
modules=$("$here/ensure-node-modules.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

node "$here/tokenizer-vocab.mjs" "$modules" "$work"

fixtures=(
  "spm spm-vocab.json - llama-spm"
  "bpe bpe-vocab.json llama-bpe llama3-llama-bpe"
  "bpe bpe-vocab.json llama3 llama3-llama3"
  "bpe bpe-vocab.json qwen2 llama3-qwen2"
  "bpe bpe-vocab.json smollm llama3-smollm"
  "bpe bpe-vocab.json gpt-2 llama3-gpt-2"
  "bpe bpe-vocab.json default llama3-default"
  "test-spm - - tailor-test-spm"
  "test-bpe - default tailor-test-bpe"
  "test-bpe - qwen2 tailor-test-bpe-qwen2"
)
status=0
for f in "${fixtures[@]}"; do
  read -r kind vocab pre label <<<"$f"
  src="$vocab"
  [ "$vocab" = "-" ] || src="$work/$vocab"
  "$helpers/vocab-to-gguf" "$kind" "$src" "$pre" "$work/$label.gguf"
  "$helpers/tokenize-corpus" "$work/$label.gguf" "$here/tokenizer-corpus.json" "$work/$label.json"
  node "$here/tokenizer-parity.mjs" "$modules" "$work/$label.gguf" "$work/$label.json" \
    "$here/tokenizer-corpus.json" "$label" || status=1
done
exit $status
