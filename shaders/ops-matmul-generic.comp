#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// A general strided fp32 product behind LoRA, the cross-entropy chunks and fp32 matmul
// gradients:
//   C[m, n] = alpha Σ_k A(m, k) B(n, k)  (+ C[m, n] when accumulating) (+ bias[n])
// with A(m, k) = a[m·sam + k·sak], B(n, k) = b[n·sbn + k·sbk] (or 1), C[m, n] = c[m·ldc + n].
// LoRA's dropout multiplies A's, B's or C's elements by the mask of their own index, as
// tailor_ref_dropout_factor does for the LoRA input (T, IC).
//
// Each invocation owns a BM × BN block of C and keeps its sums in registers: every fetched
// element serves BN (or BM) products instead of one, which on llvmpipe (where each fetch is a
// gather across the lanes) is what bounds this kernel. Each output still sums k in order, so
// results equal the one-output-per-invocation form bit for bit. Neighbouring lanes take
// neighbouring column blocks, so B's rows of an N-contiguous operand are read together.
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
// C again, as RGBA32F texels, when VEC4_OUT: storage-buffer stores are one lane at a time on
// llvmpipe, a texel store writes a lane's four outputs at once.
layout (binding = 5, rgba32f) uniform imageBuffer C4;
layout (constant_id = 1) const uint VEC4_OUT = 0u;

layout (push_constant) uniform Push {
  uint c_off;
  uint a_off;
  uint b_off;
  uint bias_off;
  uint seed_off;
  uint c4_off; // in texels
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

const uint BM = 4u;
const uint BN = 4u;

void
main ()
{
  uint nbn = (pc.N + BN - 1u) / BN;
  uint i = global_index ();

  if (i >= ((pc.M + BM - 1u) / BM) * nbn)
    return;
  uint m0 = (i / nbn) * BM;
  uint n0 = (i % nbn) * BN;
  bool drop_a = (pc.flags & DROP_A) != 0u;
  bool drop_b = (pc.flags & DROP_B) != 0u;
  bool b_ones = (pc.flags & B_ONES) != 0u;
  uint seed = (pc.flags & (DROP_A | DROP_B | DROP_C)) != 0u
                ? uint (texelFetch (Seed, int (pc.seed_off)).r)
                : 0u;
  uint a_row[BM];
  uint b_row[BN];
  float acc[BM][BN];

  // Rows and columns past the edge re-read the last one; their sums are never stored.
  for (uint r = 0u; r < BM; r++)
    a_row[r] = min (m0 + r, pc.M - 1u) * pc.sam;
  for (uint q = 0u; q < BN; q++)
    b_row[q] = min (n0 + q, pc.N - 1u) * pc.sbn;
  for (uint r = 0u; r < BM; r++)
    for (uint q = 0u; q < BN; q++)
      acc[r][q] = 0.0;

  if (!drop_a && !drop_b && !b_ones)
    for (uint k = 0u; k < pc.K; k++)
      {
        uint ak = pc.a_off + k * pc.sak;
        uint bk = pc.b_off + k * pc.sbk;
        float a[BM];
        float b[BN];

        for (uint r = 0u; r < BM; r++)
          a[r] = texelFetch (A, int (ak + a_row[r])).r;
        for (uint q = 0u; q < BN; q++)
          b[q] = texelFetch (B, int (bk + b_row[q])).r;
        for (uint r = 0u; r < BM; r++)
          for (uint q = 0u; q < BN; q++)
            acc[r][q] += a[r] * b[q];
      }
  else
    for (uint k = 0u; k < pc.K; k++)
      {
        float a[BM];
        float b[BN];

        for (uint r = 0u; r < BM; r++)
          {
            uint ai = a_row[r] + k * pc.sak;

            a[r] = texelFetch (A, int (pc.a_off + ai)).r;
            if (drop_a)
              a[r] *= dropout_factor (seed, ai, pc.drop_p, pc.drop_keep);
          }
        for (uint q = 0u; q < BN; q++)
          {
            uint bi = b_row[q] + k * pc.sbk;

            b[q] = b_ones ? 1.0 : texelFetch (B, int (pc.b_off + bi)).r;
            if (drop_b)
              b[q] *= dropout_factor (seed, bi, pc.drop_p, pc.drop_keep);
          }
        for (uint r = 0u; r < BM; r++)
          for (uint q = 0u; q < BN; q++)
            acc[r][q] += a[r] * b[q];
      }

  // The host sets VEC4_OUT only when every row of C starts on a texel and N is a multiple of 4.
  if (VEC4_OUT != 0u)
    {
      for (uint r = 0u; r < BM; r++)
        if (m0 + r < pc.M)
          {
            uint ci = (m0 + r) * pc.ldc + n0;
            vec4 v = pc.alpha * vec4 (acc[r][0], acc[r][1], acc[r][2], acc[r][3]);

            if ((pc.flags & DROP_C) != 0u)
              for (uint q = 0u; q < BN; q++)
                v[q] *= dropout_factor (seed, ci + q, pc.drop_p, pc.drop_keep);
            if ((pc.flags & HAS_BIAS) != 0u)
              for (uint q = 0u; q < BN; q++)
                v[q] += texelFetch (Bias, int (pc.bias_off + n0 + q)).r;
            if ((pc.flags & ACCUMULATE) != 0u)
              v += imageLoad (C4, int (pc.c4_off + ci / 4u));
            imageStore (C4, int (pc.c4_off + ci / 4u), v);
          }
      return;
    }
  for (uint r = 0u; r < BM; r++)
    for (uint q = 0u; q < BN; q++)
      if (m0 + r < pc.M && n0 + q < pc.N)
        {
          uint ci = (m0 + r) * pc.ldc + n0 + q;
          float v = pc.alpha * acc[r][q];

          if ((pc.flags & DROP_C) != 0u)
            v *= dropout_factor (seed, ci, pc.drop_p, pc.drop_keep);
          if ((pc.flags & HAS_BIAS) != 0u)
            v += texelFetch (Bias, int (pc.bias_off + n0 + q)).r;
          if ((pc.flags & ACCUMULATE) != 0u)
            v += c[pc.c_off + ci];
          c[pc.c_off + ci] = v;
        }
}
