// SPDX-License-Identifier: GPL-3.0-or-later
// Interop with llama.cpp: models written by `tailor-cli make-test-model` must load in llama.cpp
// (the build shipped in node-llama-cpp) and give the same next-token log-probabilities as our
// fp32 CPU reference, within a tolerance per weight type, and so must our forward pass over the op
// interface on the CPU backend and on Vulkan (lavapipe here). Prints a table; exits 1 on a failure.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const cli = process.env.TAILOR_CLI;
const nodeModules = process.env.TAILOR_NODE_MODULES;
if (!cli || !nodeModules) {
  console.error("logits.mjs: TAILOR_CLI and TAILOR_NODE_MODULES must be set (run logits.sh)");
  process.exit(2);
}
const { getLlama, LlamaLogLevel } = await import(
  pathToFileURL(join(nodeModules, "node-llama-cpp", "dist", "index.js")).href);

// Shapes where every 2-D weight takes the K-quant itself (rows a multiple of 256), with
// grouped-query attention. weight_std 0.05 makes the logits' spread about 1 (0.05·√256·~1.2
// after the norms): a distribution with a clear argmax, yet far from one-hot, so log-probs of
// most of the vocabulary are meaningful rather than underflowing.
const shape = ["--embd", "256", "--ff", "512", "--heads", "4", "--kv-heads", "2", "--layers", "2",
               "--ctx", "256", "--weight-std", "0.05"];

// Tolerance on max |Δ log-prob| over the whole vocabulary at the last position, and the least
// top-5 overlap. Both engines read the same weight bytes; what differs is llama.cpp's CPU path:
// - F32, F16: its KV cache is F16 (K and V rounded to 11 significant bits, ~5e-4 relative) and
//   F16 weights meet activations converted to F16; sums run in another order. Measured: max
//   ~5e-3, mean ~7e-4. Bound 0.015 (3x).
// - Q8_0, Q4_0 (vec_dot with Q8_0 activations) and Q4_K/Q6_K (Q8_K activations): every input
//   of every matmul is rounded to 8 bits against its block's max, ~0.4% of the block's range,
//   which moves each logit by ~1e-2 (measured mean |Δ| 1.1e-2 to 1.7e-2 for all four types
//   alike: the weight rounding is the same bytes in both engines, so the weight type hardly
//   matters). The max over 1000 tokens x 4 prompts of such noise is ~5 sigma: measured
//   0.05 to 0.083. Bound 0.15 (~2x). A real format bug (a wrong scale, nibble order or
//   sub-block) moves log-probs by whole units, far past any of these bounds.
// An argmax that differs is accepted only as a near-tie: our log-probs of the two tokens
// closer than the bound (counted and shown in the table).
const floatTol = { tol: 0.015, minTop5: 4 };
const quantTol = { tol: 0.15, minTop5: 3 };
const types = [
  { type: "f32", ...floatTol },
  { type: "f16", ...floatTol },
  { type: "q8_0", ...quantTol },
  { type: "q4_0", ...quantTol },
  { type: "q4_k_m", ...quantTol },
  { type: "q6_k", ...quantTol },
];
const archs = ["llama", "qwen2"];
// `tailor-cli logits --device`: the CPU reference, the CPU backend and the best Vulkan device.
// The bounds are llama.cpp's noise, the same for each: our devices agree with one another to
// ~1e-6 (tests/test-infer.c), far inside it.
const devices = ["ref", "cpu", "vulkan"];
const prompts = [
  "Hello",
  "The quick brown fox jumps over the lazy dog.",
  "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
  "Tailor fine-tunes local models; la température est élevée — 東京 2024! 🎉",
];

const work = mkdtempSync(join(tmpdir(), "tailor-interop-logits-"));
const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
const failures = [];
const notes = [];
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

function ours(modelPath, tokens, device) {
  const out = execFileSync(cli, ["logits", "--json", "--all", "--top", "5", "--model", modelPath,
                                 "--tokens", tokens.join(" "), "--device", device],
                           { encoding: "utf8", maxBuffer: 1 << 28 });
  const doc = JSON.parse(out);
  return logSoftmax(doc.positions[doc.positions.length - 1]);
}

async function theirs(sequence, tokens, nVocab) {
  await sequence.clearHistory();
  const it = sequence.evaluateWithMetadata(tokens, { probabilities: true },
                                           { temperature: 1, topK: 0, topP: 1, minP: 0,
                                             // else a sampled end-of-generation token ends
                                             // the iteration before it yields anything
                                             yieldEogToken: true });
  const { value } = await it.next();
  await it.return();
  const lp = new Array(nVocab).fill(-Infinity);
  for (const [id, p] of value.probabilities) lp[id] = Math.log(p);
  return lp;
}

try {
  for (const arch of archs) {
    for (const { type, tol, minTop5 } of types) {
      const name = `${arch}-${type}`;
      const path = join(work, `${name}.gguf`);
      execFileSync(cli, ["make-test-model", "--arch", arch, "--type", type, "--seed", "42",
                         ...shape, path], { stdio: ["ignore", "ignore", "inherit"] });

      let model, context;
      try {
        model = await llama.loadModel({ modelPath: path });
        context = await model.createContext({ contextSize: 256 });
      } catch (e) {
        failures.push(`${name}: llama.cpp refused ${path}: ${e.message}`);
        rows.push({ name, device: "", verdict: "REFUSED" });
        continue;
      }
      const sequence = context.getSequence();
      const stats = new Map(devices.map((device) => [device, {
        maxAbs: 0, sumAbs: 0, count: 0, argmaxSame: 0, nearTies: 0, worstTop5: 5, maxProb: 0,
        nVocab: 0, seconds: 0 }]));

      for (const text of prompts) {
        const tokens = model.tokenize(text, false);
        if (model.tokens.bos != null && arch === "llama") tokens.unshift(model.tokens.bos);
        let b = null;
        for (const device of devices) {
          const st = stats.get(device);
          const label = `${name} (${device})`;
          const started = process.hrtime.bigint();
          const a = ours(path, tokens, device);
          st.seconds += Number(process.hrtime.bigint() - started) / 1e9;
          st.nVocab = a.length;
          if (b === null) b = await theirs(sequence, tokens, a.length);
          const topA = topIds(a, 5), topB = topIds(b, 5);
          for (let v = 0; v < a.length; v++) {
            const d = Math.abs(a[v] - b[v]);
            st.maxAbs = Math.max(st.maxAbs, d);
            st.sumAbs += d;
            st.count++;
          }
          st.maxProb = Math.max(st.maxProb, Math.exp(a[topA[0]]));
          // A different argmax is only acceptable where our top two are closer than the
          // tolerance.
          if (topA[0] === topB[0]) st.argmaxSame++;
          else if (a[topA[0]] - a[topB[0]] <= tol) {
            st.nearTies++;
            notes.push(`${label}, ${JSON.stringify(text)}: argmax ours ${topA[0]}, llama.cpp ` +
                       `${topB[0]}; our log-probs of the two differ by ` +
                       `${(a[topA[0]] - a[topB[0]]).toExponential(2)}`);
          } else
            failures.push(`${label}: argmax differs for ${JSON.stringify(text)}: ours ` +
                          `${topA[0]}, llama.cpp ${topB[0]}`);
          const overlap = topA.filter((id) => topB.includes(id)).length;
          st.worstTop5 = Math.min(st.worstTop5, overlap);
        }
      }
      for (const device of devices) {
        const st = stats.get(device);
        const label = `${name} (${device})`;
        if (st.maxAbs > tol)
          failures.push(`${label}: max |Δ log-prob| ${st.maxAbs.toExponential(2)} exceeds ${tol}`);
        if (st.worstTop5 < minTop5)
          failures.push(`${label}: top-5 sets share only ${st.worstTop5} tokens (need ${minTop5})`);
        const argmax = `${st.argmaxSame}/${prompts.length}` +
          (st.nearTies > 0 ? ` (+${st.nearTies} near-tie)` : "");
        const failed = failures.some((f) => f.startsWith(`${label}:`));
        rows.push({ name, device, nVocab: st.nVocab, maxAbs: st.maxAbs,
                    meanAbs: st.sumAbs / st.count, argmax, top5: st.worstTop5,
                    maxProb: st.maxProb, tol, seconds: st.seconds,
                    verdict: failed ? "FAIL" : "ok" });
      }
      await context.dispose();
      await model.dispose();
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const header = ["model", "device", "vocab", "max|Δlogp|", "mean|Δlogp|", "argmax", "top5∩",
                "max p", "tolerance", "seconds", "verdict"];
const table = rows.map((r) => r.verdict === "REFUSED"
  ? [r.name, r.device, "", "", "", "", "", "", "", "", r.verdict]
  : [r.name, r.device, String(r.nVocab), r.maxAbs.toExponential(2), r.meanAbs.toExponential(2),
     r.argmax, String(r.top5), r.maxProb.toFixed(3), String(r.tol), r.seconds.toFixed(1),
     r.verdict]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
console.log(`Last-position log-probabilities, tailor-cli (--device ${devices.join(", ")}) vs ` +
            `llama.cpp (node-llama-cpp, CPU), ${prompts.length} prompts per model; seconds: ` +
            `tailor-cli's wall time over the prompts:`);
console.log(line(header));
for (const row of table) console.log(line(row));
if (notes.length > 0) {
  console.log("\nNear-ties (accepted):");
  for (const n of notes) console.log(`  ${n}`);
}

if (failures.length > 0) {
  console.error("\nFAILURES:");
  for (const f of failures) console.error(`  ${f}`);
  process.exit(1);
}
console.log("\nAll models load in llama.cpp and agree within tolerance.");
