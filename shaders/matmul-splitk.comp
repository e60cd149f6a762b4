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
// block. Shared memory and per-iteration subgroup operations are avoided: both are slow on
// llvmpipe. Every loop over the tile has a constant trip count of at most BM or BN, so the
// compiler unrolls it and the sums stay in registers.

#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_GOOGLE_include_directive : require

layout (constant_id = 0) const uint WG = 8;
layout (constant_id = 1) const uint BM = 16;
layout (constant_id = 2) const uint BN = 16;
layout (constant_id = 3) const uint TYPE = 0;
layout (constant_id = 4) const uint MODE = 0;
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

const uint ACCUMULATE = 1;
const uint ADD_BIAS = 2;

void
main ()
{
  uint lanes = gl_SubgroupSize;
  uint lane = gl_SubgroupInvocationID;
  uint n_col_blocks = (pc.N + BN - 1) / BN;
  uint n_blocks = ((pc.M + BM - 1) / BM) * n_col_blocks;
  uint R4 = pc.R / 4;
  uint N4 = pc.N / 4;
  // The host sizes the grid from the subgroup size it was told; a device may pick another size
  // for this pipeline, so the subgroups stride over the blocks instead of owning a fixed one.
  uint stride = gl_NumWorkGroups.x * gl_NumSubgroups;

  for (uint b = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; b < n_blocks; b += stride)
    {
      uint r0 = (b / n_col_blocks) * BM;
      uint c0 = (b % n_col_blocks) * BN;
      // acc[i][q][e] is the lane's partial sum for row r0 + i, column c0 + 4q + e.
      vec4 acc[BM][BN / 4];

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
      else
        {
          uint a_base[BM];
          uint w_base[BN];

          for (uint i = 0; i < BM; i++)
            a_base[i] = min (r0 + i, pc.M - 1) * R4;
          for (uint j = 0; j < BN; j++)
            w_base[j] = w_row_base (min (c0 + j, pc.N - 1), R4);
          for (uint k = lane; k < R4; k += lanes)
            {
              vec4 a[BM];

              for (uint i = 0; i < BM; i++)
                a[i] = texelFetch (A, int (a_base[i] + k));
              for (uint q = 0; q < BN / 4; q++)
                {
                  mat4 w;

                  if (MODE == 0)
                    {
                      // Column j of the block is row c0 + j of W: w[e] holds its four weights
                      // at reduction step k, so a · w gives four dot products.
                      for (uint e = 0; e < 4; e++)
                        w[e] = w_load (w_base[4 * q + e], k);
                      for (uint i = 0; i < BM; i++)
                        acc[i][q] += a[i] * w;
                    }
                  else
                    {
                      // w[e] holds row 4k + e of W at the block's columns 4q … 4q + 3, so
                      // w · a sums the four reduction steps for four outputs.
                      for (uint e = 0; e < 4; e++)
                        w[e] = w_load (w_row_base (4 * k + e, N4), min (c0 / 4 + q, N4 - 1));
                      for (uint i = 0; i < BM; i++)
                        acc[i][q] += w * a[i];
                    }
                }
            }
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
