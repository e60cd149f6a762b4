#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// out (n) = a (n) + b (i mod nb): residual adds (nb = n) and bias rows (nb = the row length).
// out may be a itself.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) buffer Out { float o[]; };
layout (binding = 1) uniform samplerBuffer A;
layout (binding = 2) uniform samplerBuffer B;

layout (push_constant) uniform Push {
  uint out_off;
  uint a_off;
  uint b_off;
  uint n;
  uint nb;
} pc;

void
main ()
{
  uint i = global_index ();

  if (i < pc.n)
    o[pc.out_off + i] =
      texelFetch (A, int (pc.a_off + i)).r + texelFetch (B, int (pc.b_off + i % pc.nb)).r;
}
