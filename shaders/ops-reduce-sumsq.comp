#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Deterministic sums for the gradient norm: workgroup g adds x² (or x, the final pass) over its
// fixed span [g·span, (g+1)·span) with its lanes strided, then a fixed tree, and writes
// out[g]. Pass 1 makes one partial per span of every gradient; pass 2, one workgroup, adds the
// partials in order.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) writeonly buffer Out { float o[]; };
layout (binding = 1) uniform samplerBuffer X;

layout (push_constant) uniform Push {
  uint out_off;
  uint x_off;
  uint n;
  uint span;
  uint square;
} pc;

void
main ()
{
  uint g = group_index ();
  uint end = min (pc.n, (g + 1) * pc.span);
  float acc = 0.0;

  for (uint i = g * pc.span + gl_LocalInvocationID.x; i < end; i += WG)
    {
      float x = texelFetch (X, int (pc.x_off + i)).r;
      acc += pc.square != 0 ? x * x : x;
    }
  acc = wg_sum (acc);
  if (gl_LocalInvocationID.x == 0)
    o[pc.out_off + g] = acc;
}
