#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Causal GQA attention forward over T positions. Each invocation takes BQ neighbouring query
// rows of one head, t0 … t0 + BQ − 1, and runs an online softmax over the keys 0 … t0 + BQ − 1
// in tiles of BK, so memory never grows with T². Writes out (T, n_head, HD) and lse
// (n_head, T), the log-sum-exp of each row's scaled scores, which the backward uses to
// recompute probabilities. q, k, v are read as vec4 texels.
//
// BQ is 1 on GPUs (one invocation per row). On CPU implementations such as llvmpipe a texel
// fetch is an out-of-line call for the whole subgroup, so each fetched key and value texel
// serves BQ rows: the queries and sums live in per-lane arrays, which cost plain loads there.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (constant_id = 1) const uint HD = 64;
layout (constant_id = 2) const uint BQ = 1;
const uint HD4 = HD / 4;
const uint BK = 8;

layout (binding = 0, std430) writeonly buffer Out { vec4 o[]; };
layout (binding = 1, std430) writeonly buffer Lse { float lse[]; };
layout (binding = 2) uniform samplerBuffer Q;
layout (binding = 3) uniform samplerBuffer K;
layout (binding = 4) uniform samplerBuffer V;

layout (push_constant) uniform Push {
  uint out_off; // vec4 units
  uint lse_off;
  uint q_off;   // vec4 units
  uint k_off;
  uint v_off;
  uint T;
  uint n_head;
  uint n_head_kv;
  float scale;
  uint has_lse;
} pc;

void
main ()
{
  uint h, qb;

  if (!head_block ((pc.T + BQ - 1) / BQ, pc.n_head, h, qb))
    return;
  uint t0 = qb * BQ;
  uint t_end = min (t0 + BQ, pc.T); // one past the block's last row
  uint kvh = h / (pc.n_head / pc.n_head_kv);
  uint kv_stride = pc.n_head_kv * HD4;
  vec4 q[BQ][HD4];
  vec4 acc[BQ][HD4];
  float m[BQ];
  float l[BQ];

  // Rows past T repeat the last one; they are never stored.
  for (uint i = 0; i < BQ; i++)
    {
      uint row = min (t0 + i, pc.T - 1) * pc.n_head + h;

      for (uint d = 0; d < HD4; d++)
        {
          q[i][d] = texelFetch (Q, int (pc.q_off + row * HD4 + d)) * pc.scale;
          acc[i][d] = vec4 (0.0);
        }
      m[i] = -1.0 / 0.0;
      l[i] = 0.0;
    }
  for (uint j0 = 0; j0 < t_end; j0 += BK)
    {
      float s[BQ][BK];

      for (uint jj = 0; jj < BK; jj++)
        {
          uint kb = pc.k_off + min (j0 + jj, t_end - 1) * kv_stride + kvh * HD4;

          for (uint i = 0; i < BQ; i++)
            s[i][jj] = 0.0;
          for (uint d = 0; d < HD4; d++)
            {
              vec4 kd = texelFetch (K, int (kb + d));

              for (uint i = 0; i < BQ; i++)
                s[i][jj] += dot (q[i][d], kd);
            }
        }
      // s becomes each row's probabilities against its running maximum; keys after the row
      // (and past the block) are masked out.
      for (uint i = 0; i < BQ; i++)
        {
          float tile_max = m[i];

          for (uint jj = 0; jj < BK; jj++)
            {
              s[i][jj] = j0 + jj <= t0 + i ? s[i][jj] : -1.0 / 0.0;
              tile_max = max (tile_max, s[i][jj]);
            }
          float correction = exp (m[i] - tile_max);

          l[i] *= correction;
          for (uint d = 0; d < HD4; d++)
            acc[i][d] *= correction;
          for (uint jj = 0; jj < BK; jj++)
            {
              s[i][jj] = exp (s[i][jj] - tile_max);
              l[i] += s[i][jj];
            }
          m[i] = tile_max;
        }
      for (uint jj = 0; jj < BK; jj++)
        {
          uint vb = pc.v_off + min (j0 + jj, t_end - 1) * kv_stride + kvh * HD4;

          for (uint d = 0; d < HD4; d++)
            {
              vec4 vd = texelFetch (V, int (vb + d));

              for (uint i = 0; i < BQ; i++)
                acc[i][d] += s[i][jj] * vd;
            }
        }
    }
  for (uint i = 0; i < BQ; i++)
    if (t0 + i < pc.T)
      {
        uint row = (t0 + i) * pc.n_head + h;

        for (uint d = 0; d < HD4; d++)
          o[pc.out_off + row * HD4 + d] = acc[i][d] / l[i];
        if (pc.has_lse != 0)
          lse[pc.lse_off + h * pc.T + t0 + i] = m[i] + log (l[i]);
      }
}
