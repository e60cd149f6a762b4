#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// A general strided fp32 product, one invocation per output (no tiles: the correct, simple
// fallback behind LoRA, the cross-entropy chunks and fp32 matmul gradients):
//   C[m, n] = alpha Σ_k A(m, k) B(n, k)  (+ C[m, n] when accumulating) (+ bias[n])
// with A(m, k) = a[m·sam + k·sak], B(n, k) = b[n·sbn + k·sbk] (or 1), C[m, n] = c[m·ldc + n].
// LoRA's dropout multiplies A's, B's or C's elements by the mask of their own index, as
// tailor_ref_dropout_factor does for the LoRA input (T, IC).
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

const uint ACCUMULATE = 1u;
const uint HAS_BIAS = 2u;
const uint B_ONES = 4u;
const uint DROP_A = 16u;
const uint DROP_B = 32u;
const uint DROP_C = 64u;

layout (binding = 0, std430) buffer C { float c[]; };
layout (binding = 1) uniform samplerBuffer A;
layout (binding = 2) uniform samplerBuffer B;
layout (binding = 3) uniform samplerBuffer Bias;
layout (binding = 4) uniform isamplerBuffer Seed;

layout (push_constant) uniform Push {
  uint c_off;
  uint a_off;
  uint b_off;
  uint bias_off;
  uint seed_off;
  uint M;
  uint N;
  uint K;
  uint ldc;
  uint sam;
  uint sak;
  uint sbn;
  uint sbk;
  float alpha;
  uint flags;
  float drop_p;
  float drop_keep;
} pc;

void
main ()
{
  uint i = global_index ();

  if (i >= pc.M * pc.N)
    return;
  uint m = i / pc.N;
  uint n = i % pc.N;
  uint seed = (pc.flags & (DROP_A | DROP_B | DROP_C)) != 0
                ? uint (texelFetch (Seed, int (pc.seed_off)).r)
                : 0u;
  float acc = 0.0;

  for (uint k = 0; k < pc.K; k++)
    {
      uint ai = m * pc.sam + k * pc.sak;
      uint bi = n * pc.sbn + k * pc.sbk;
      float a = texelFetch (A, int (pc.a_off + ai)).r;
      float b = (pc.flags & B_ONES) != 0 ? 1.0 : texelFetch (B, int (pc.b_off + bi)).r;

      if ((pc.flags & DROP_A) != 0)
        a *= dropout_factor (seed, ai, pc.drop_p, pc.drop_keep);
      if ((pc.flags & DROP_B) != 0)
        b *= dropout_factor (seed, bi, pc.drop_p, pc.drop_keep);
      acc += a * b;
    }
  uint ci = m * pc.ldc + n;
  float r = pc.alpha * acc;

  if ((pc.flags & DROP_C) != 0)
    r *= dropout_factor (seed, ci, pc.drop_p, pc.drop_keep);
  if ((pc.flags & HAS_BIAS) != 0)
    r += texelFetch (Bias, int (pc.bias_off + n)).r;
  if ((pc.flags & ACCUMULATE) != 0)
    r += c[pc.c_off + ci];
  c[pc.c_off + ci] = r;
}
