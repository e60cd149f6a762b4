#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Causal GQA attention over a KV cache (inference), one invocation per query row (t, h): query t
// sits at position p0 + t, p0 = pos[0] read at run time so one recording serves every decoding
// step. Keys before p0 come from the cache, the step's own keys from k and v, which the first
// query head of each group also stores into the cache at rows p0 + t: no invocation of this
// dispatch reads a cache row another one writes. Online softmax in tiles of BK, as
// ops-attention.comp.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (constant_id = 1) const uint HD = 64;
const uint HD4 = HD / 4;
const uint BK = 8;

layout (binding = 0, std430) writeonly buffer Out { vec4 o[]; };
layout (binding = 1, std430) buffer KCache { vec4 kc[]; };
layout (binding = 2, std430) buffer VCache { vec4 vc[]; };
layout (binding = 3) uniform samplerBuffer Q;
layout (binding = 4) uniform samplerBuffer K;
layout (binding = 5) uniform samplerBuffer V;
layout (binding = 6) uniform isamplerBuffer Pos;

layout (push_constant) uniform Push {
  uint out_off; // vec4 units
  uint kc_off;
  uint vc_off;
  uint q_off;
  uint k_off;
  uint v_off;
  uint pos_off; // int units
  uint T;
  uint n_head;
  uint n_head_kv;
  float scale;
  uint n_ctx;
} pc;

vec4
key (uint j, uint p0, uint kv_stride, uint kvh, uint d)
{
  if (j < p0)
    return kc[pc.kc_off + j * kv_stride + kvh * HD4 + d];
  return texelFetch (K, int (pc.k_off + (j - p0) * kv_stride + kvh * HD4 + d));
}

vec4
value (uint j, uint p0, uint kv_stride, uint kvh, uint d)
{
  if (j < p0)
    return vc[pc.vc_off + j * kv_stride + kvh * HD4 + d];
  return texelFetch (V, int (pc.v_off + (j - p0) * kv_stride + kvh * HD4 + d));
}

void
main ()
{
  uint item = global_index ();

  if (item >= pc.T * pc.n_head)
    return;
  uint t = item / pc.n_head;
  uint h = item % pc.n_head;
  uint group = pc.n_head / pc.n_head_kv;
  uint kvh = h / group;
  uint kv_stride = pc.n_head_kv * HD4;
  // The host keeps positions inside the cache; clamping only keeps a bad one from reading or
  // writing outside it.
  uint p0 = uint (clamp (texelFetch (Pos, int (pc.pos_off)).r, 0, int (pc.n_ctx - pc.T)));
  uint last = p0 + t;
  vec4 q[HD4];
  vec4 acc[HD4];
  float m = -1.0 / 0.0;
  float l = 0.0;

  if (h % group == 0)
    for (uint d = 0; d < HD4; d++)
      {
        uint src = t * kv_stride + kvh * HD4 + d;
        uint dst = last * kv_stride + kvh * HD4 + d;

        kc[pc.kc_off + dst] = texelFetch (K, int (pc.k_off + src));
        vc[pc.vc_off + dst] = texelFetch (V, int (pc.v_off + src));
      }
  for (uint d = 0; d < HD4; d++)
    {
      q[d] = texelFetch (Q, int (pc.q_off + item * HD4 + d)) * pc.scale;
      acc[d] = vec4 (0.0);
    }
  for (uint j0 = 0; j0 <= last; j0 += BK)
    {
      float s[BK];
      float tile_max = m;

      for (uint jj = 0; jj < BK; jj++)
        {
          uint j = min (j0 + jj, last);
          float dotp = 0.0;

          for (uint d = 0; d < HD4; d++)
            dotp += dot (q[d], key (j, p0, kv_stride, kvh, d));
          // Keys past the query's position are masked out of the tile.
          s[jj] = j0 + jj <= last ? dotp : -1.0 / 0.0;
          tile_max = max (tile_max, s[jj]);
        }
      float correction = exp (m - tile_max);

      l *= correction;
      for (uint d = 0; d < HD4; d++)
        acc[d] *= correction;
      for (uint jj = 0; jj < BK; jj++)
        {
          uint j = min (j0 + jj, last);
          float p = exp (s[jj] - tile_max);

          l += p;
          for (uint d = 0; d < HD4; d++)
            acc[d] += p * value (j, p0, kv_stride, kvh, d);
        }
      m = tile_max;
    }
  for (uint d = 0; d < HD4; d++)
    o[pc.out_off + item * HD4 + d] = acc[d] / l;
}
