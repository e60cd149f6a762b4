#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// out (n) = 0.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) writeonly buffer Out { float o[]; };

layout (push_constant) uniform Push {
  uint out_off;
  uint n;
} pc;

void
main ()
{
  uint i = global_index ();

  if (i < pc.n)
    o[pc.out_off + i] = 0.0;
}
