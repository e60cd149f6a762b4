// SPDX-License-Identifier: GPL-3.0-or-later
// Interop with llama.cpp: an adapter.gguf written by `tailor-cli train` must load in llama.cpp
// (the build shipped in node-llama-cpp) on its base model, and llama.cpp's next-token
// log-probabilities with the adapter must match ours with the adapter (`tailor-cli logits
// --adapter`, the fp32 reference) within the tolerances logits.mjs derives, while differing
// clearly from the base model's, so the adapter really applies. Exits 1 on a failure.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const cli = process.env.TAILOR_CLI;
const nodeModules = process.env.TAILOR_NODE_MODULES;
if (!cli || !nodeModules) {
  console.error("adapter.mjs: TAILOR_CLI and TAILOR_NODE_MODULES must be set (run adapter.sh)");
  process.exit(2);
}
const { getLlama, LlamaLogLevel } = await import(
  pathToFileURL(join(nodeModules, "node-llama-cpp", "dist", "index.js")).href);

// The shapes of logits.mjs: K-quant blocks really written, GQA, logits' spread about 1.
const shape = ["--embd", "256", "--ff", "512", "--heads", "4", "--kv-heads", "2", "--layers", "2",
               "--ctx", "256", "--weight-std", "0.05"];
// Tolerances as logits.mjs argues them: the adapter's tensors are F32 in both engines (llama.cpp
// adds scale·B·(A·x) in F32 next to the base matmul), so the differences are those of the base
// path: the F16 KV cache for float bases, 8-bit activations for quantized ones. The adapter is
// trained at a learning rate where training converges (loss → < 0.1): an adapter from a diverged
// run (lr 0.02 here) sharpened attention so much that the F16 KV cache alone moved llama.cpp's
// log-probs by 0.056, for the adapter and for the same adapter merged into the weights alike.
const floatTol = { tol: 0.015, minTop5: 4 };
const quantTol = { tol: 0.15, minTop5: 3 };
const types = [
  { type: "f32", ...floatTol },
  { type: "q8_0", ...quantTol },
  { type: "q4_k_m", ...quantTol },
];
const archs = ["llama", "qwen2"];
// The adapter must move llama.cpp's log-probs by at least this many tolerances somewhere:
// trained 15 steps on three repeated sentences, it moves them by ~7 nats, far beyond any
// numeric difference between the engines. Measured with it: max |Δ| 2e-3 (F32 bases), 0.05 to
// 0.08 (Q8_0, Q4_K_M), as logits.mjs measures on the base models alone.
const minEffectInTols = 10;
const prompts = ["Hello", "The quick brown fox", "def add(a, b):", "Tailor fine-tunes"];
const sentences = ["The quick brown fox jumps over the lazy dog.",
                   "Tailor fine-tunes local models on your own computer.",
                   "Hello world, hello adapter."];

const work = mkdtempSync(join(tmpdir(), "tailor-interop-adapter-"));
const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
const failures = [];
const rows = [];

function logSoftmax(row) {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  return row.map((x) => x - lse);
}

function topIds(values, k) {
  return [...values.keys()].sort((a, b) => values[b] - values[a] || a - b).slice(0, k);
}

function ours(modelPath, adapterPath, tokens) {
  const args = ["logits", "--json", "--all", "--top", "5", "--model", modelPath,
                "--tokens", tokens.join(" ")];
  if (adapterPath) args.push("--adapter", adapterPath);
  const out = execFileSync(cli, args, { encoding: "utf8", maxBuffer: 1 << 28 });
  const doc = JSON.parse(out);
  return logSoftmax(doc.positions[doc.positions.length - 1]);
}

async function theirs(sequence, tokens, nVocab) {
  await sequence.clearHistory();
  const it = sequence.evaluateWithMetadata(tokens, { probabilities: true },
                                           { temperature: 1, topK: 0, topP: 1, minP: 0,
                                             yieldEogToken: true });
  const { value } = await it.next();
  await it.return();
  const lp = new Array(nVocab).fill(-Infinity);
  for (const [id, p] of value.probabilities) lp[id] = Math.log(p);
  return lp;
}

function train(name, modelPath) {
  const dir = join(work, name);
  const data = join(work, `${name}.jsonl`);
  const lines = [];
  for (let i = 0; i < 24; i++) lines.push(JSON.stringify({ text: sentences[i % sentences.length] }));
  writeFileSync(data, lines.join("\n") + "\n");
  const config = join(work, `${name}.json`);
  writeFileSync(config, JSON.stringify({
    base_model: modelPath, train: data, method: "qlora",
    lora: { rank: 8, alpha: 16, dropout: 0.0 },
    optimizer: { lr: 0.005, warmup_steps: 2, schedule: "constant" },
    seq_len: 32, batch: 2, max_steps: 15, loss_on: "all", seed: 5, device: "cpu",
    eval_every: 0, checkpoint_every: 0, output_dir: dir,
  }));
  execFileSync(cli, ["train", config, "--progress=json"], { stdio: ["ignore", "ignore", "inherit"] });
  return join(dir, "adapter.gguf");
}

try {
  for (const arch of archs) {
    for (const { type, tol, minTop5 } of types) {
      const name = `${arch}-${type}`;
      const path = join(work, `${name}.gguf`);
      execFileSync(cli, ["make-test-model", "--arch", arch, "--type", type, "--seed", "42",
                         ...shape, path], { stdio: ["ignore", "ignore", "inherit"] });
      const adapter = train(name, path);

      let model, base, tuned;
      try {
        model = await llama.loadModel({ modelPath: path });
        base = await model.createContext({ contextSize: 256 });
        tuned = await model.createContext({ contextSize: 256,
                                            lora: { adapters: [{ filePath: adapter }] } });
      } catch (e) {
        failures.push(`${name}: llama.cpp refused the adapter ${adapter}: ${e.message}`);
        rows.push({ name, verdict: "REFUSED" });
        continue;
      }
      const baseSeq = base.getSequence();
      const tunedSeq = tuned.getSequence();
      const failuresBefore = failures.length;
      let maxAbs = 0, sumAbs = 0, count = 0, worstTop5 = 5, effect = 0, ourEffect = 0;
      let argmaxSame = 0;

      for (const text of prompts) {
        const tokens = model.tokenize(text, false);
        if (model.tokens.bos != null && arch === "llama") tokens.unshift(model.tokens.bos);
        const a = ours(path, adapter, tokens);
        const a0 = ours(path, null, tokens);
        const nVocab = a.length;
        const b = await theirs(tunedSeq, tokens, nVocab);
        const b0 = await theirs(baseSeq, tokens, nVocab);
        for (let v = 0; v < nVocab; v++) {
          const d = Math.abs(a[v] - b[v]);
          maxAbs = Math.max(maxAbs, d);
          sumAbs += d;
          count++;
          effect = Math.max(effect, Math.abs(b[v] - b0[v]));
          ourEffect = Math.max(ourEffect, Math.abs(a[v] - a0[v]));
        }
        const topA = topIds(a, 5), topB = topIds(b, 5);
        if (topA[0] === topB[0]) argmaxSame++;
        else if (a[topA[0]] - a[topB[0]] > tol)
          failures.push(`${name}: argmax with the adapter differs for ${JSON.stringify(text)}: ` +
                        `ours ${topA[0]}, llama.cpp ${topB[0]}`);
        worstTop5 = Math.min(worstTop5, topA.filter((id) => topB.includes(id)).length);
      }
      if (maxAbs > tol)
        failures.push(`${name}: with the adapter, max |Δ log-prob| ${maxAbs.toExponential(2)} ` +
                      `exceeds ${tol}`);
      if (worstTop5 < minTop5)
        failures.push(`${name}: top-5 sets with the adapter share only ${worstTop5} tokens`);
      if (effect < minEffectInTols * tol)
        failures.push(`${name}: the adapter moves llama.cpp's log-probs by only ` +
                      `${effect.toExponential(2)} (need ${minEffectInTols * tol}): not applied?`);
      rows.push({ name, maxAbs, meanAbs: sumAbs / count, argmax: `${argmaxSame}/${prompts.length}`,
                  top5: worstTop5, effect, ourEffect, tol,
                  verdict: failures.length === failuresBefore ? "ok" : "FAIL" });
      await tuned.dispose();
      await base.dispose();
      await model.dispose();
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const header = ["model", "max|Δlogp|", "mean|Δlogp|", "argmax", "top5∩", "adapter effect",
                "ours", "tolerance", "verdict"];
const table = rows.map((r) => r.verdict === "REFUSED"
  ? [r.name, "", "", "", "", "", "", "", r.verdict]
  : [r.name, r.maxAbs.toExponential(2), r.meanAbs.toExponential(2), r.argmax, String(r.top5),
     r.effect.toFixed(3), r.ourEffect.toFixed(3), String(r.tol), r.verdict]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
console.log("Last-position log-probabilities with a trained adapter, tailor-cli (fp32 reference) " +
            "vs llama.cpp (node-llama-cpp, CPU); 'adapter effect' is llama.cpp's max |Δ| " +
            "between the model with and without the adapter, 'ours' the same for tailor-cli:");
console.log(line(header));
for (const row of table) console.log(line(row));
if (failures.length > 0) {
  console.error("\nFAILURES:");
  for (const f of failures) console.error(`  ${f}`);
  process.exit(1);
}
console.log("\nEvery adapter loads in llama.cpp and changes its output as ours predicts.");
