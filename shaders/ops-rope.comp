#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// RoPE in place on x (T, n_head, head_dim): the first n_rot dims of each head turn by
// θ = pos · base^(−2i/n_rot) · freq_scale / factor_i (llama.cpp's angle), or by −θ for the
// backward. Normal pairs (2i, 2i+1), NeoX pairs (i, i + n_rot/2). One invocation per token and
// pair index turns that pair in every head: the angle, its sine and cosine (long polynomials
// on a CPU device) are computed once for all heads.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) buffer X { float x[]; };
layout (binding = 1) uniform isamplerBuffer Pos;
layout (binding = 2) uniform samplerBuffer Factors;
// Per-pair frequency factors (1): a constant, so that a model without them skips the fetch.
layout (constant_id = 1) const uint HAS_FACTORS = 0;

layout (push_constant) uniform Push {
  uint x_off;
  uint pos_off;
  uint factors_off;
  uint T;
  uint n_head;
  uint head_dim;
  uint n_rot;
  uint neox;
  uint inverse;
  uint has_factors; // unused: HAS_FACTORS says it
  float log2_base;
  float freq_scale;
} pc;

void
main ()
{
  uint half_rot = pc.n_rot / 2;
  uint item = global_index ();

  if (item >= pc.T * half_rot)
    return;
  uint i = item % half_rot;
  uint t = item / half_rot;
  float theta = float (texelFetch (Pos, int (pc.pos_off + t)).r) *
                exp2 (-2.0 * float (i) / float (pc.n_rot) * pc.log2_base) * pc.freq_scale;

  if (HAS_FACTORS != 0)
    theta /= texelFetch (Factors, int (pc.factors_off + i)).r;
  float c = cos (theta);
  float s = pc.inverse != 0 ? -sin (theta) : sin (theta);

  for (uint h = 0; h < pc.n_head; h++)
    {
      uint base = pc.x_off + (t * pc.n_head + h) * pc.head_dim;
      uint i0 = base + (pc.neox != 0 ? i : 2 * i);
      uint i1 = base + (pc.neox != 0 ? i + half_rot : 2 * i + 1);
      float x0 = x[i0];
      float x1 = x[i1];

      x[i0] = x0 * c - x1 * s;
      x[i1] = x0 * s + x1 * c;
    }
}
