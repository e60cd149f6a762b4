#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Matmuls over a device-layout weight, the texel-buffer split-K family for CPU implementations
// such as llvmpipe (see LAVAPIPE.md), and the matrix-vector path (BM = T ≤ 4) on every device.
//
// MODE 0: Y (M = T, N = OC) = X (T, R = IC) · Wᵀ (+ bias), W (OC, IC) of type TYPE.
// MODE 1: dX (M = T, N = IC) = dY (T, R = OC) · W.
// MODE 2: dW (M = OC, N = IC) = dYᵀ (R = T rows) · X, fp32 only; X comes through WQ.
// With flags bit 0 the result is added to what Y holds.
//
// One subgroup owns a BM × BN block of the output. Its lanes split the reduction in four-wide
// steps (lane l takes steps l, l + lanes, …: neighbouring lanes read neighbouring texels), each
// lane keeps BM × BN partial sums in registers, and one subgroupAdd per four outputs ends the
// block. For the input gradient, which reads W across its rows, the block's columns are whole
// chunks of those rows, so each chunk is fetched once and decoded step by step. Shared memory
// and per-iteration subgroup operations are avoided: both are slow on llvmpipe. Every loop
// over the tile has a constant trip count of at most BM or BN, so the compiler unrolls it and
// the sums stay in registers.

#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_GOOGLE_include_directive : require

layout (constant_id = 0) const uint WG = 8;
layout (constant_id = 1) const uint BM = 16;
layout (constant_id = 2) const uint BN = 16;
layout (constant_id = 3) const uint TYPE = 0;
layout (constant_id = 4) const uint MODE = 0;
// Reduction steps per iteration of the lanes' loop.
layout (constant_id = 5) const uint KU = 1;
layout (local_size_x_id = 0) in;

layout (binding = 0, std430) buffer Y { float y[]; };
layout (binding = 1) uniform samplerBuffer A;   // RGBA32F: X (MODE 0) or dY (MODE 1, 2)
layout (binding = 2) uniform usamplerBuffer WQ; // RGBA32UI: the weight's quants (X in MODE 2)
layout (binding = 3) uniform usamplerBuffer WH; // R32UI: high bits of 5- and 6-bit quants
layout (binding = 4) uniform samplerBuffer WS;  // RG32F: per-chunk scales
layout (binding = 5) uniform samplerBuffer BIAS; // R32F: N values, read when flags bit 1 is set

layout (push_constant) uniform Push {
  uint M;
  uint N;
  uint R; // the reduction's length, a multiple of 4
  uint flags;
} pc;

#include "matmul-dequant.glsl"

// BM / 4, never 0: an array of length 0 is invalid SPIR-V even where unused (BM < 4 is the
// matrix-vector path, which never takes MODE 2).
const uint BM4 = BM >= 4 ? BM / 4 : 1;

// acc[i][q][e] is the lane's partial sum for row r0 + i, column c0 + 4q + e of the block.
vec4 acc[BM][BN / 4];

// MODE 0, reduction step k: column j of the block is row c0 + j of W; w[e] holds its four
// weights at step k, so a · w gives four dot products.
void
forward_step (uint k, uint a_base[BM], uint w_base[BN])
{
  vec4 a[BM];

  for (uint i = 0; i < BM; i++)
    a[i] = texelFetch (A, int (a_base[i] + k));
  for (uint q = 0; q < BN / 4; q++)
    {
      mat4 w;

      for (uint e = 0; e < 4; e++)
        w[e] = w_load (w_base[4 * q + e], k);
      for (uint i = 0; i < BM; i++)
        acc[i][q] += a[i] * w;
    }
}

// MODE 1, reduction step k (the same for every lane): rows 4k … 4k + 3 of W. The lane's
// columns are BN / CE whole chunks of each row (the host makes BN a multiple of CE), starting
// at chunk `first`: each chunk's texels are fetched once and all its steps decoded from
// registers.
void
input_step (uint k, uint a_base[BM], uint first)
{
  uint n_chunks = pc.N / CE;
  vec4 a[BM];

  for (uint i = 0; i < BM; i++)
    a[i] = texelFetch (A, int (a_base[i] + k));
  for (uint e = 0; e < 4; e++)
    {
      uint base = w_row_base (4 * k + e, pc.N / 4);

      for (uint cc = 0; cc < BN / CE; cc++)
        {
          // Chunks past the edge re-read the last one; their sums are never stored.
          uint chunk = base + min (first + cc, n_chunks - 1);
          uvec4 q0 = texelFetch (WQ, int (w_quant_texel (chunk, 0)));
          uvec4 q1 = TYPE == T_Q8_0 ? texelFetch (WQ, int (w_quant_texel (chunk, 4))) : q0;
          uint h0 = HAS_HIGH ? texelFetch (WH, int (w_high_word (chunk, 0))).x : 0u;
          uint h1 = TYPE == T_Q6_K ? texelFetch (WH, int (w_high_word (chunk, 4))).x : h0;
          vec2 sc = HAS_SCALES ? texelFetch (WS, int (chunk)).xy : vec2 (0.0);

          for (uint s = 0; s < STEPS; s++)
            {
              vec4 w = w_decode (s < 4 ? q0 : q1, s < 4 ? h0 : h1, sc, s);

              for (uint i = 0; i < BM; i++)
                acc[i][cc * STEPS + s] += a[i][e] * w;
            }
        }
    }
}

const uint ACCUMULATE = 1;
const uint ADD_BIAS = 2;

void
main ()
{
  uint lanes = gl_SubgroupSize;
  uint lane = gl_SubgroupInvocationID;
  // The input gradient's lanes split the columns (a block is lanes × BN wide), the other
  // modes' lanes split the reduction.
  uint block_n = MODE == 1 ? lanes * BN : BN;
  uint n_col_blocks = (pc.N + block_n - 1) / block_n;
  uint n_row_blocks = (pc.M + BM - 1) / BM;
  uint n_blocks = n_row_blocks * n_col_blocks;
  uint R4 = pc.R / 4;
  uint N4 = pc.N / 4;
  // The host sizes the grid from the subgroup size it was told; a device may pick another size
  // for this pipeline, so the subgroups stride over the blocks instead of owning a fixed one.
  uint stride = gl_NumWorkGroups.x * gl_NumSubgroups;

  for (uint b = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; b < n_blocks; b += stride)
    {
      // Neighbouring blocks share a row block of A (forward: the X rows stay in cache while
      // W streams by) or, for the input gradient, a column block of W, which then stays in
      // cache while dY streams by.
      uint r0 = (MODE == 1 ? b % n_row_blocks : b / n_col_blocks) * BM;
      uint c0 = (MODE == 1 ? b / n_row_blocks : b % n_col_blocks) * block_n;

      for (uint i = 0; i < BM; i++)
        for (uint q = 0; q < BN / 4; q++)
          acc[i][q] = vec4 (0.0);

      if (MODE == 2)
        {
          uint M4 = pc.M / 4;

          // BM is a multiple of 4 here; rows and columns past the edge re-read the last texel
          // and their sums are never stored.
          for (uint t = lane; t < pc.R; t += lanes)
            {
              vec4 dy[BM4];
              vec4 x[BN / 4];

              for (uint i = 0; i < BM4; i++)
                dy[i] = texelFetch (A, int (t * M4 + min (r0 / 4 + i, M4 - 1)));
              for (uint q = 0; q < BN / 4; q++)
                x[q] = uintBitsToFloat (texelFetch (WQ, int (t * N4 + min (c0 / 4 + q, N4 - 1))));
              for (uint i = 0; i < BM; i++)
                for (uint q = 0; q < BN / 4; q++)
                  acc[i][q] += dy[i / 4][i % 4] * x[q];
            }
        }
      else if (MODE == 0)
        {
          uint a_base[BM];
          uint w_base[BN];
          uint k = lane;

          for (uint i = 0; i < BM; i++)
            a_base[i] = min (r0 + i, pc.M - 1) * R4;
          for (uint j = 0; j < BN; j++)
            w_base[j] = w_row_base (min (c0 + j, pc.N - 1), R4);
          // KU steps per iteration, then what is left one step at a time: llvmpipe blends every
          // sum with the loop's lane mask once per iteration, and longer iterations amortise
          // that.
          for (; k + (KU - 1) * lanes < R4; k += KU * lanes)
            for (uint u = 0; u < KU; u++)
              forward_step (k + u * lanes, a_base, w_base);
          for (; KU > 1 && k < R4; k += lanes)
            forward_step (k, a_base, w_base);
        }
      else
        {
          // Every lane walks all of W's rows, reading its own columns: the subgroup reads
          // lanes × BN neighbouring weights of a row at a time. Lanes splitting the reduction
          // would each read a different row, a cache line and TLB entry per 16 bytes.
          uint a_base[BM];
          uint first = (c0 + lane * BN) / CE;
          uint k = 0;

          for (uint i = 0; i < BM; i++)
            a_base[i] = min (r0 + i, pc.M - 1) * R4;
          for (; k + KU <= R4; k += KU)
            for (uint u = 0; u < KU; u++)
              input_step (k + u, a_base, first);
          for (; KU > 1 && k < R4; k++)
            input_step (k, a_base, first);

          // The lane holds whole outputs: no reduction across the subgroup.
          for (uint i = 0; i < BM; i++)
            for (uint q = 0; q < BN / 4; q++)
              {
                uint r = r0 + i;
                uint c = c0 + lane * BN + 4 * q;

                if (r < pc.M)
                  for (uint e = 0; e < 4; e++)
                    if (c + e < pc.N)
                      {
                        uint at = r * pc.N + c + e;

                        y[at] = acc[i][q][e] + ((pc.flags & ACCUMULATE) != 0 ? y[at] : 0.0);
                      }
              }
          continue;
        }

      // Group g of four outputs is reduced by one subgroupAdd and kept by lane g % lanes; each
      // time every lane holds one, they all store at once (llvmpipe turns every storage-buffer
      // access into a loop over the lanes, so one store per group would cost `lanes` times more).
      vec4 mine = vec4 (0.0);

      for (uint i = 0; i < BM; i++)
        for (uint q = 0; q < BN / 4; q++)
          {
            uint g = i * (BN / 4) + q;
            vec4 s = subgroupAdd (acc[i][q]);

            mine = g % lanes == lane ? s : mine;
            if ((g + 1) % lanes == 0 || g + 1 == BM * BN / 4)
              {
                uint p = g - g % lanes + lane; // the group this lane holds
                uint r = r0 + p / (BN / 4);
                uint c = c0 + 4 * (p % (BN / 4));

                if (p <= g && r < pc.M)
                  for (uint e = 0; e < 4; e++)
                    if (c + e < pc.N)
                      {
                        uint at = r * pc.N + c + e;
                        float v = mine[e];

                        if ((pc.flags & ADD_BIAS) != 0)
                          v += texelFetch (BIAS, int (c + e)).x;
                        if ((pc.flags & ACCUMULATE) != 0)
                          v += y[at];
                        y[at] = v;
                      }
              }
          }
    }
}
