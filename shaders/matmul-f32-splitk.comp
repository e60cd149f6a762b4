#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Y (T, N) = X (T, K) · Wᵀ with W (N, K), fp32: the texel-buffer split-K family for CPU
// implementations such as llvmpipe (see LAVAPIPE.md).
//
// On CPU devices (OWN = 1) each lane owns whole BM × BN blocks of Y (BN a multiple of 4) over
// all of K, dealt so that a subgroup's lanes take neighbouring row blocks of one column block
// (they read the same rows of W); only the last round can leave lanes idle. Otherwise one
// subgroup owns a block and its lanes split K in vec4 chunks (lane l takes chunks l,
// l + lanes, …), so one fetch round reads contiguous memory across the subgroup, and one
// subgroupAdd per four outputs ends the block: on llvmpipe those reductions cost as much as the
// products of a K of a few hundred. Each lane keeps its sums in registers. Shared memory and
// per-iteration subgroup operations are avoided: both are slow on llvmpipe. Workgroups of one
// subgroup compile fastest there (no coroutines).

#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout (constant_id = 0) const uint WG = 8;
layout (constant_id = 1) const uint BM = 8;
layout (constant_id = 2) const uint BN = 16;
layout (constant_id = 3) const uint OWN = 0;
// LoRA dropout on X (1): each element is multiplied by its mask (ops-dropout.glsl) as read.
layout (constant_id = 4) const uint DROP = 0;
layout (local_size_x_id = 0) in;

layout (binding = 0, std430) writeonly buffer Y { float y[]; };
layout (binding = 1) uniform samplerBuffer X; // RGBA32F: T × K/4 texels
layout (binding = 2) uniform samplerBuffer W; // RGBA32F: N × K/4 texels
layout (binding = 3) uniform isamplerBuffer Seed; // R32I: the dropout seed, with DROP

layout (push_constant) uniform Push {
  uint T;
  uint N;
  uint K4; // K / 4
  float drop_p;
  float drop_keep;
} pc;

#include "ops-dropout.glsl"

void
main ()
{
  uint lanes = gl_SubgroupSize;
  uint lane = gl_SubgroupInvocationID;
  uint n_col_blocks = (pc.N + BN - 1) / BN;
  uint n_row_blocks = (pc.T + BM - 1) / BM;
  uint n_blocks = n_row_blocks * n_col_blocks;
  uint n_rounds = OWN != 0 ? (n_blocks + lanes - 1) / lanes : n_blocks;
  // The host sizes the grid from the subgroup size it was told; a device may pick another size
  // for this pipeline, so the subgroups stride over the rounds instead of owning a fixed one.
  uint stride = gl_NumWorkGroups.x * gl_NumSubgroups;
  uint seed_hash = DROP != 0 ? dropout_seed_hash (uint (texelFetch (Seed, 0).r)) : 0u;

  for (uint b = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; b < n_rounds; b += stride)
    {
      // An owned block past the end repeats the last one and is never stored.
      uint item = OWN != 0 ? min (b * lanes + lane, n_blocks - 1) : b;
      uint r0 = (OWN != 0 ? item % n_row_blocks : item / n_col_blocks) * BM;
      uint c0 = (OWN != 0 ? item / n_row_blocks : item % n_col_blocks) * BN;
      uint x_base[BM];
      uint w_base[BN];
      // acc[i][q][e] is the lane's (partial) sum for row r0 + i, column c0 + 4q + e: vec4
      // groups so the split form's reduction is one subgroupAdd per four outputs.
      vec4 acc[BM][BN / 4];

      // Rows past the edge re-read the last row; their sums are never stored.
      for (uint i = 0; i < BM; i++)
        x_base[i] = min (r0 + i, pc.T - 1) * pc.K4;
      for (uint j = 0; j < BN; j++)
        w_base[j] = min (c0 + j, pc.N - 1) * pc.K4;
      // Every loop over the tile has a constant trip count of at most BM or BN, so the compiler
      // unrolls it and acc stays in registers; an array indexed at run time would go to memory.
      for (uint i = 0; i < BM; i++)
        for (uint q = 0; q < BN / 4; q++)
          acc[i][q] = vec4 (0.0);

      for (uint k = OWN != 0 ? 0 : lane; k < pc.K4; k += OWN != 0 ? 1 : lanes)
        {
          vec4 x[BM];

          for (uint i = 0; i < BM; i++)
            {
              x[i] = texelFetch (X, int (x_base[i] + k));
              if (DROP != 0)
                x[i] *= dropout_mask4 (seed_hash, (x_base[i] + k) * 4, pc.drop_p, pc.drop_keep);
            }
          for (uint q = 0; q < BN / 4; q++)
            {
              vec4 w0 = texelFetch (W, int (w_base[4 * q] + k));
              vec4 w1 = texelFetch (W, int (w_base[4 * q + 1] + k));
              vec4 w2 = texelFetch (W, int (w_base[4 * q + 2] + k));
              vec4 w3 = texelFetch (W, int (w_base[4 * q + 3] + k));

              for (uint i = 0; i < BM; i++)
                acc[i][q] += vec4 (dot (x[i], w0), dot (x[i], w1), dot (x[i], w2), dot (x[i], w3));
            }
        }

      if (OWN != 0)
        {
          if (b * lanes + lane < n_blocks)
            for (uint i = 0; i < BM; i++)
              for (uint q = 0; q < BN / 4; q++)
                {
                  uint r = r0 + i;
                  uint c = c0 + 4 * q;

                  if (r < pc.T)
                    for (uint e = 0; e < 4; e++)
                      if (c + e < pc.N)
                        y[r * pc.N + c + e] = acc[i][q][e];
                }
          continue;
        }

      // Group g of four outputs is reduced by one subgroupAdd and kept by lane g % lanes; each
      // time every lane holds one, they all store at once (llvmpipe turns every storage-buffer
      // store into a loop over the lanes, so one store per group would cost `lanes` times more).
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

                if (p <= g && r < pc.T)
                  for (uint e = 0; e < 4; e++)
                    if (c + e < pc.N)
                      y[r * pc.N + c + e] = mine[e];
              }
          }
    }
}
