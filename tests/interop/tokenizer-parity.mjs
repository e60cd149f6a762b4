// SPDX-License-Identifier: GPL-3.0-or-later
// Compares Tailor's tokenization (tokenize-corpus output) with llama.cpp's on the same GGUF.
// Usage: node tokenizer-parity.mjs NODE_MODULES MODEL.gguf OURS.json CORPUS.json LABEL
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [nodeModules, modelPath, oursPath, corpusPath, label] = process.argv.slice(2);
const require = createRequire(join(nodeModules, "noop.js"));
const { getLlama, LlamaLogLevel } = await import(require.resolve("node-llama-cpp"));

const corpus = JSON.parse(readFileSync(corpusPath, "utf8"));
const ours = JSON.parse(readFileSync(oursPath, "utf8"));
const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, vocabOnly: true });

let failures = 0;
const show = (s) => JSON.stringify(s);
function fail(what, detail) {
  failures++;
  if (failures <= 30) console.log(`[${label}] MISMATCH ${what}\n${detail}`);
}
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

// Like with like: llama.cpp's tokenize() adds no BOS/EOS here, so the ids with added specials
// are compared with the model's own add-BOS/EOS settings applied by hand.
if (ours.add_bos !== model.tokens.shouldPrependBosToken)
  fail("add_bos", `tailor ${ours.add_bos}, llama.cpp ${model.tokens.shouldPrependBosToken}`);
if (ours.add_eos !== model.tokens.shouldAppendEosToken)
  fail("add_eos", `tailor ${ours.add_eos}, llama.cpp ${model.tokens.shouldAppendEosToken}`);
for (const [name, mine, theirs] of [["bos", ours.bos, model.tokens.bos], ["eos", ours.eos, model.tokens.eos],
                                     ["eot", ours.eot, model.tokens.eot]])
  if (mine !== (theirs ?? -1)) fail(name, `tailor ${mine}, llama.cpp ${theirs}`);
const eog = new Set(ours.eog);
for (const id of new Set([...ours.eog, ...ours.control]))
  if (eog.has(id) !== model.isEogToken(id))
    fail(`is_eog(${id})`, `tailor ${eog.has(id)}, llama.cpp ${model.isEogToken(id)}`);

for (let i = 0; i < corpus.length; i++) {
  const text = corpus[i];
  const r = ours.results[i];
  const plain = model.tokenize(text, false);
  const special = model.tokenize(text, true);
  const added = [...(model.tokens.shouldPrependBosToken ? [model.tokens.bos] : []), ...special,
                 ...(model.tokens.shouldAppendEosToken ? [model.tokens.eos] : [])];
  for (const [what, mine, theirs] of [["ids", r.plain, plain], ["ids with special tokens", r.special, special],
                                       ["ids with BOS/EOS", r.added, added]])
    if (!same(mine, theirs))
      fail(`${what} for ${show(text)}`, `  tailor:    [${mine.join(", ")}]\n  llama.cpp: [${theirs.join(", ")}]`);
  const text1 = Buffer.from(r.text, "base64").toString("utf8");
  const text2 = Buffer.from(r.text_special, "base64").toString("utf8");
  const det1 = model.detokenize(plain, false);
  const det2 = model.detokenize(special, true);
  if (text1 !== det1) fail(`detokenize of ${show(text)}`, `  tailor:    ${show(text1)}\n  llama.cpp: ${show(det1)}`);
  if (text2 !== det2)
    fail(`detokenize (special) of ${show(text)}`, `  tailor:    ${show(text2)}\n  llama.cpp: ${show(det2)}`);
}

await model.dispose();
if (failures > 0) {
  console.log(`[${label}] ${failures} mismatches over ${corpus.length} strings`);
  process.exit(1);
}
console.log(`[${label}] ${corpus.length} strings: ids (plain, special, BOS/EOS) and detokenized text all equal`);
