#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Attention backward for the queries, one invocation per query row (t, h), accumulating:
// p_j = exp(s_j − lse) recomputed per key from the forward's lse, delta = dout · out,
// dq += scale Σ_j p_j (dout · v_j − delta) k_j. delta goes to a scratch (T, n_head) for the
// key/value pass.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (constant_id = 1) const uint HD = 64;
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

  if (item >= pc.T * pc.n_head)
    return;
  uint t = item / pc.n_head;
  uint h = item % pc.n_head;
  uint kvh = h / (pc.n_head / pc.n_head_kv);
  uint kv_stride = pc.n_head_kv * HD4;
  vec4 q[HD4];
  vec4 dy[HD4];
  vec4 acc[HD4];
  float delta = 0.0;
  float row_lse = texelFetch (Lse, int (pc.lse_off + h * pc.T + t)).r;

  for (uint d = 0; d < HD4; d++)
    {
      q[d] = texelFetch (Q, int (pc.q_off + item * HD4 + d));
      dy[d] = texelFetch (DOut, int (pc.dout_off + item * HD4 + d));
      delta += dot (dy[d], texelFetch (O, int (pc.out_off + item * HD4 + d)));
      acc[d] = vec4 (0.0);
    }
  for (uint j = 0; j <= t; j++)
    {
      uint kb = pc.k_off + j * kv_stride + kvh * HD4;
      uint vb = pc.v_off + j * kv_stride + kvh * HD4;
      float s = 0.0;
      float dp = 0.0;

      for (uint d = 0; d < HD4; d++)
        {
          s += dot (q[d], texelFetch (K, int (kb + d)));
          dp += dot (dy[d], texelFetch (V, int (vb + d)));
        }
      float ds = exp (s * pc.scale - row_lse) * (dp - delta);

      for (uint d = 0; d < HD4; d++)
        acc[d] += ds * texelFetch (K, int (kb + d));
    }
  for (uint d = 0; d < HD4; d++)
    dq[pc.dq_off + item * HD4 + d] += pc.scale * acc[d];
  delta_out[pc.delta_off + item] = delta;
}
