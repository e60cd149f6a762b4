#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Attention backward for keys and values. Each invocation takes BK neighbouring key rows
// j0 … j0 + BK − 1 of one kv head and accumulates over the query heads of its group and the
// queries t ≥ j0, in order (deterministic, no atomics): dv_j += Σ p dout_t,
// dk_j += scale Σ p (dout_t · v_j − delta_t) q_t, with p recomputed from lse and zero for
// t < j. Each fetched query and output-gradient texel serves BK keys (see ops-attention.comp
// for why BK > 1 on CPU implementations; 1 on GPUs).
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (constant_id = 1) const uint HD = 64;
layout (constant_id = 2) const uint BK = 1;
const uint HD4 = HD / 4;

layout (binding = 0, std430) buffer DK { vec4 dk[]; };
layout (binding = 1, std430) buffer DV { vec4 dv[]; };
layout (binding = 2) uniform samplerBuffer DOut;
layout (binding = 3) uniform samplerBuffer Lse;
layout (binding = 4) uniform samplerBuffer Delta;
layout (binding = 5) uniform samplerBuffer Q;
layout (binding = 6) uniform samplerBuffer K;
layout (binding = 7) uniform samplerBuffer V;

layout (push_constant) uniform Push {
  uint dk_off; // vec4 units
  uint dv_off; // vec4 units
  uint dout_off;
  uint lse_off;
  uint delta_off;
  uint q_off;
  uint k_off;
  uint v_off;
  uint T;
  uint n_head;
  uint n_head_kv;
  float scale;
} pc;

void
main ()
{
  uint item = global_index ();

  if (item >= (pc.T + BK - 1) / BK * pc.n_head_kv)
    return;
  uint kvh = item % pc.n_head_kv;
  uint j0 = item / pc.n_head_kv * BK;
  uint group = pc.n_head / pc.n_head_kv;
  vec4 k[BK][HD4];
  vec4 v[BK][HD4];
  vec4 acc_k[BK][HD4];
  vec4 acc_v[BK][HD4];

  // Keys past T repeat the last one; they are never stored.
  for (uint b = 0; b < BK; b++)
    {
      uint row = min (j0 + b, pc.T - 1) * pc.n_head_kv + kvh;

      for (uint d = 0; d < HD4; d++)
        {
          k[b][d] = texelFetch (K, int (pc.k_off + row * HD4 + d));
          v[b][d] = texelFetch (V, int (pc.v_off + row * HD4 + d));
          acc_k[b][d] = vec4 (0.0);
          acc_v[b][d] = vec4 (0.0);
        }
    }
  for (uint h = kvh * group; h < (kvh + 1) * group; h++)
    for (uint t = j0; t < pc.T; t++)
      {
        uint row = t * pc.n_head + h;
        uint qb = pc.q_off + row * HD4;
        uint ob = pc.dout_off + row * HD4;
        vec4 qt[HD4];
        vec4 ot[HD4];
        float s[BK];
        float dp[BK];

        for (uint b = 0; b < BK; b++)
          {
            s[b] = 0.0;
            dp[b] = 0.0;
          }
        for (uint d = 0; d < HD4; d++)
          {
            qt[d] = texelFetch (Q, int (qb + d));
            ot[d] = texelFetch (DOut, int (ob + d));
            for (uint b = 0; b < BK; b++)
              {
                s[b] += dot (qt[d], k[b][d]);
                dp[b] += dot (ot[d], v[b][d]);
              }
          }
        float row_lse = texelFetch (Lse, int (pc.lse_off + h * pc.T + t)).r;
        float row_delta = texelFetch (Delta, int (pc.delta_off + row)).r;

        for (uint b = 0; b < BK; b++)
          {
            // Keys after the query are masked out (the select also drops an overflowing exp).
            float p = j0 + b <= t ? exp (s[b] * pc.scale - row_lse) : 0.0;
            float ds = p * (dp[b] - row_delta);

            for (uint d = 0; d < HD4; d++)
              {
                acc_v[b][d] += p * ot[d];
                acc_k[b][d] += ds * qt[d];
              }
          }
      }
  for (uint b = 0; b < BK; b++)
    if (j0 + b < pc.T)
      {
        uint row = (j0 + b) * pc.n_head_kv + kvh;

        for (uint d = 0; d < HD4; d++)
          {
            dk[pc.dk_off + row * HD4 + d] += pc.scale * acc_k[b][d];
            dv[pc.dv_off + row * HD4 + d] += acc_v[b][d];
          }
      }
}
