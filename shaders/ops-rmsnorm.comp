#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// RMSNorm forward: one workgroup per row of C; out = inp · s · weight with
// s = (Σ inp² / C + eps)^−½, and rstd[t] = s for the backward.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) writeonly buffer Out { float o[]; };
layout (binding = 1, std430) writeonly buffer Rstd { float rstd[]; };
layout (binding = 2) uniform samplerBuffer Inp;
layout (binding = 3) uniform samplerBuffer Weight;

layout (push_constant) uniform Push {
  uint out_off;
  uint rstd_off;
  uint inp_off;
  uint weight_off;
  uint T;
  uint C;
  float eps;
  uint has_rstd;
} pc;

void
main ()
{
  uint t = group_index ();
  uint l = gl_LocalInvocationID.x;

  if (t >= pc.T)
    return;
  uint row = pc.inp_off + t * pc.C;
  float ss = 0.0;

  for (uint i = l; i < pc.C; i += WG)
    {
      float x = texelFetch (Inp, int (row + i)).r;
      ss += x * x;
    }
  float s = 1.0 / sqrt (wg_sum (ss) / float (pc.C) + pc.eps);

  for (uint i = l; i < pc.C; i += WG)
    o[pc.out_off + t * pc.C + i] =
      texelFetch (Inp, int (row + i)).r * s * texelFetch (Weight, int (pc.weight_off + i)).r;
  if (l == 0 && pc.has_rstd != 0)
    rstd[pc.rstd_off + t] = s;
}
