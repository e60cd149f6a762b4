#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// out (n) = a (n) + b (i mod nb): residual adds (nb = n) and bias rows (nb = the row length).
// out may be a itself.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

// Four elements per invocation (1) where every offset, n and nb are multiples of 4, else one.
layout (constant_id = 1) const uint VEC4 = 0;

// vec4 views; offsets count floats
layout (binding = 0, std430) buffer Out { vec4 o[]; };
layout (binding = 1) uniform samplerBuffer A; // RGBA32F
layout (binding = 2) uniform samplerBuffer B; // RGBA32F

layout (push_constant) uniform Push {
  uint out_off;
  uint a_off;
  uint b_off;
  uint n;
  uint nb;
} pc;

float
at (samplerBuffer t, uint e)
{
  return texelFetch (t, int (e >> 2))[e & 3u];
}

void
main ()
{
  uint i = global_index ();

  if (VEC4 != 0)
    {
      if (i < pc.n / 4)
        o[pc.out_off / 4 + i] = texelFetch (A, int (pc.a_off / 4 + i)) +
                                texelFetch (B, int (pc.b_off / 4 + i % (pc.nb / 4)));
    }
  else if (i < pc.n)
    {
      uint e = pc.out_off + i;

      o[e >> 2][e & 3u] = at (A, pc.a_off + i) + at (B, pc.b_off + i % pc.nb);
    }
}
