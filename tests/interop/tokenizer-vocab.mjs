// SPDX-License-Identifier: GPL-3.0-or-later
// Writes the real LLaMA (SentencePiece) and Llama 3 (byte-level BPE) vocabularies that ship
// inside the llama-tokenizer-js and llama3-tokenizer-js npm packages as JSON, for
// vocab-to-gguf to turn into GGUF fixtures. Usage: node tokenizer-vocab.mjs NODE_MODULES OUTDIR
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const [nodeModules, outDir] = process.argv.slice(2);
const require = createRequire(join(nodeModules, "noop.js"));
const importPkg = async (name) => import(require.resolve(name));

// The packages keep the merge list as a map "left right" → priority; sorting by priority
// gives the merges in rank order.
function mergesInOrder(map) {
  return [...map.entries()].sort((a, b) => a[1] - b[1]).map(([k]) => k);
}

{
  const mod = await importPkg("llama-tokenizer-js");
  const tok = mod.default ?? mod.llamaTokenizer;
  const tokens = tok.vocabById;
  // The package has no scores. SentencePiece BPE numbers pieces by merge order, so a
  // score falling with the id gives the same merge priorities; control and byte tokens
  // score 0 as in the original model.
  const scores = tokens.map((_, i) => (i < 259 ? 0 : -(i - 259)));
  const types = tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  writeFileSync(join(outDir, "spm-vocab.json"), JSON.stringify({ tokens, scores, types }));
}

{
  const mod = await importPkg("llama3-tokenizer-js");
  const tok = mod.default ?? mod.llama3Tokenizer;
  const tokens = tok.vocabById;
  const merges = mergesInOrder(tok.merges);
  // Llama 3's 256 special tokens follow the 128000 learned ones and are control tokens.
  const types = tokens.map((t, i) => (i >= 128000 ? 3 : 1));
  writeFileSync(join(outDir, "bpe-vocab.json"), JSON.stringify({ tokens, types, merges }));
}
