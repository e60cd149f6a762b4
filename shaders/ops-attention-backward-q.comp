#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Attention backward for the queries. Each invocation takes BQ neighbouring query rows of one
// head (see ops-attention.comp for why BQ > 1 on CPU implementations) and accumulates over the
// keys j ≤ t: p_j = exp(s_j − lse) recomputed from the forward's lse, delta = dout · out,
// dq += scale Σ_j p_j (dout · v_j − delta) k_j. delta goes to a scratch (T, n_head) for the
// key/value pass.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (constant_id = 1) const uint HD = 64;
layout (constant_id = 2) const uint BQ = 1;
const uint HD4 = HD / 4;

layout (binding = 0, std430) buffer DQ { vec4 dq[]; };
layout (binding = 1, std430) writeonly buffer Delta { float delta_out[]; };
layout (binding = 2) uniform samplerBuffer DOut;
layout (binding = 3) uniform samplerBuffer O;
layout (binding = 4) uniform samplerBuffer Lse;
layout (binding = 5) uniform samplerBuffer Q;
layout (binding = 6) uniform samplerBuffer K;
layout (binding = 7) uniform samplerBuffer V;

layout (push_constant) uniform Push {
  uint dq_off; // vec4 units
  uint delta_off;
  uint dout_off; // vec4 units
  uint out_off;  // vec4 units
  uint lse_off;
  uint q_off; // vec4 units
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

  if (item >= (pc.T + BQ - 1) / BQ * pc.n_head)
    return;
  uint h = item % pc.n_head;
  uint t0 = item / pc.n_head * BQ;
  uint t_end = min (t0 + BQ, pc.T); // one past the block's last row
  uint kvh = h / (pc.n_head / pc.n_head_kv);
  uint kv_stride = pc.n_head_kv * HD4;
  vec4 q[BQ][HD4];
  vec4 dy[BQ][HD4];
  vec4 acc[BQ][HD4];
  float delta[BQ];
  float row_lse[BQ];

  // Rows past T repeat the last one; they are never stored.
  for (uint i = 0; i < BQ; i++)
    {
      uint t = min (t0 + i, pc.T - 1);
      uint row = t * pc.n_head + h;

      delta[i] = 0.0;
      for (uint d = 0; d < HD4; d++)
        {
          q[i][d] = texelFetch (Q, int (pc.q_off + row * HD4 + d));
          dy[i][d] = texelFetch (DOut, int (pc.dout_off + row * HD4 + d));
          delta[i] += dot (dy[i][d], texelFetch (O, int (pc.out_off + row * HD4 + d)));
          acc[i][d] = vec4 (0.0);
        }
      row_lse[i] = texelFetch (Lse, int (pc.lse_off + h * pc.T + t)).r;
    }
  for (uint j = 0; j < t_end; j++)
    {
      uint kb = pc.k_off + j * kv_stride + kvh * HD4;
      uint vb = pc.v_off + j * kv_stride + kvh * HD4;
      vec4 kd[HD4];
      float s[BQ];
      float dp[BQ];

      for (uint i = 0; i < BQ; i++)
        {
          s[i] = 0.0;
          dp[i] = 0.0;
        }
      for (uint d = 0; d < HD4; d++)
        {
          vec4 vd = texelFetch (V, int (vb + d));

          kd[d] = texelFetch (K, int (kb + d));
          for (uint i = 0; i < BQ; i++)
            {
              s[i] += dot (q[i][d], kd[d]);
              dp[i] += dot (dy[i][d], vd);
            }
        }
      for (uint i = 0; i < BQ; i++)
        {
          // Keys after the row are masked out (the select also drops an overflowing exp).
          float ds = j <= t0 + i ? exp (s[i] * pc.scale - row_lse[i]) * (dp[i] - delta[i]) : 0.0;

          for (uint d = 0; d < HD4; d++)
            acc[i][d] += ds * kd[d];
        }
    }
  for (uint i = 0; i < BQ; i++)
    if (t0 + i < pc.T)
      {
        uint row = (t0 + i) * pc.n_head + h;

        for (uint d = 0; d < HD4; d++)
          dq[pc.dq_off + row * HD4 + d] += pc.scale * acc[i][d];
        delta_out[pc.delta_off + row] = delta[i];
      }
}
