#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Causal GQA attention forward over T positions, one invocation per query row (t, h): an online
// softmax over the keys 0 ..= t in tiles of BK, so memory never grows with T². Writes
// out (T, n_head, HD) and lse (n_head, T), the log-sum-exp of each row's scaled scores, which
// the backward uses to recompute probabilities. q, k, v are read as vec4 texels.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (constant_id = 1) const uint HD = 64;
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
  uint item = global_index ();

  if (item >= pc.T * pc.n_head)
    return;
  uint t = item / pc.n_head;
  uint h = item % pc.n_head;
  uint kvh = h / (pc.n_head / pc.n_head_kv);
  uint kv_stride = pc.n_head_kv * HD4;
  vec4 q[HD4];
  vec4 acc[HD4];
  float m = -1.0 / 0.0;
  float l = 0.0;

  for (uint d = 0; d < HD4; d++)
    {
      q[d] = texelFetch (Q, int (pc.q_off + item * HD4 + d)) * pc.scale;
      acc[d] = vec4 (0.0);
    }
  for (uint j0 = 0; j0 <= t; j0 += BK)
    {
      float s[BK];
      float tile_max = m;

      for (uint jj = 0; jj < BK; jj++)
        {
          uint j = min (j0 + jj, t);
          uint kb = pc.k_off + j * kv_stride + kvh * HD4;
          float dotp = 0.0;

          for (uint d = 0; d < HD4; d++)
            dotp += dot (q[d], texelFetch (K, int (kb + d)));
          // Keys past t are masked out of the tile.
          s[jj] = j0 + jj <= t ? dotp : -1.0 / 0.0;
          tile_max = max (tile_max, s[jj]);
        }
      float correction = exp (m - tile_max);

      l *= correction;
      for (uint d = 0; d < HD4; d++)
        acc[d] *= correction;
      for (uint jj = 0; jj < BK; jj++)
        {
          uint j = min (j0 + jj, t);
          uint vb = pc.v_off + j * kv_stride + kvh * HD4;
          float p = exp (s[jj] - tile_max);

          l += p;
          for (uint d = 0; d < HD4; d++)
            acc[d] += p * texelFetch (V, int (vb + d));
        }
      m = tile_max;
    }
  for (uint d = 0; d < HD4; d++)
    o[pc.out_off + item * HD4 + d] = acc[d] / l;
  if (pc.has_lse != 0)
    lse[pc.lse_off + h * pc.T + t] = m + log (l);
}
