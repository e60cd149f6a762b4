#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Attention backward for keys and values, one invocation per key row (j, kvh), accumulating over
// the query heads of its group and the queries t ≥ j, in order (deterministic, no atomics):
// dv_j += Σ p dout_t, dk_j += scale Σ p (dout_t · v_j − delta) q_t, with p recomputed from lse.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (constant_id = 1) const uint HD = 64;
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

  if (item >= pc.T * pc.n_head_kv)
    return;
  uint j = item / pc.n_head_kv;
  uint kvh = item % pc.n_head_kv;
  uint group = pc.n_head / pc.n_head_kv;
  vec4 k[HD4];
  vec4 v[HD4];
  vec4 acc_k[HD4];
  vec4 acc_v[HD4];

  for (uint d = 0; d < HD4; d++)
    {
      k[d] = texelFetch (K, int (pc.k_off + item * HD4 + d));
      v[d] = texelFetch (V, int (pc.v_off + item * HD4 + d));
      acc_k[d] = vec4 (0.0);
      acc_v[d] = vec4 (0.0);
    }
  for (uint h = kvh * group; h < (kvh + 1) * group; h++)
    for (uint t = j; t < pc.T; t++)
      {
        uint row = t * pc.n_head + h;
        uint qb = pc.q_off + row * HD4;
        uint ob = pc.dout_off + row * HD4;
        float s = 0.0;
        float dp = 0.0;

        for (uint d = 0; d < HD4; d++)
          {
            s += dot (texelFetch (Q, int (qb + d)), k[d]);
            dp += dot (texelFetch (DOut, int (ob + d)), v[d]);
          }
        float p = exp (s * pc.scale - texelFetch (Lse, int (pc.lse_off + h * pc.T + t)).r);
        float ds = p * (dp - texelFetch (Delta, int (pc.delta_off + row)).r);

        for (uint d = 0; d < HD4; d++)
          {
            acc_v[d] += p * texelFetch (DOut, int (ob + d));
            acc_k[d] += ds * texelFetch (Q, int (qb + d));
          }
      }
  for (uint d = 0; d < HD4; d++)
    {
      dk[pc.dk_off + item * HD4 + d] += pc.scale * acc_k[d];
      dv[pc.dv_off + item * HD4 + d] += acc_v[d];
    }
}
