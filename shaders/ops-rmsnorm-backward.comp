#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// RMSNorm backward for the input, one workgroup per row, accumulating:
// dinp += s w dy − (s³/C) x Σ_j dy_j w_j x_j. The row's s goes to scale[t] for the weight pass.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) buffer DInp { float dinp[]; };
layout (binding = 1, std430) writeonly buffer Scale { float scale[]; };
layout (binding = 2) uniform samplerBuffer DOut;
layout (binding = 3) uniform samplerBuffer Inp;
layout (binding = 4) uniform samplerBuffer Weight;

layout (push_constant) uniform Push {
  uint dinp_off;
  uint scale_off;
  uint dout_off;
  uint inp_off;
  uint weight_off;
  uint T;
  uint C;
  float eps;
  uint has_dinp;
} pc;

void
main ()
{
  uint t = group_index ();
  uint l = gl_LocalInvocationID.x;

  if (t >= pc.T)
    return;
  uint row = t * pc.C;
  float ss = 0.0;
  float dwx = 0.0;

  for (uint i = l; i < pc.C; i += WG)
    {
      float x = texelFetch (Inp, int (pc.inp_off + row + i)).r;
      float dy = texelFetch (DOut, int (pc.dout_off + row + i)).r;
      ss += x * x;
      dwx += dy * texelFetch (Weight, int (pc.weight_off + i)).r * x;
    }
  ss = wg_sum (ss);
  dwx = wg_sum (dwx);
  float s = 1.0 / sqrt (ss / float (pc.C) + pc.eps);
  float k = s * s * s * dwx / float (pc.C);

  if (pc.has_dinp != 0)
    for (uint i = l; i < pc.C; i += WG)
      {
        float x = texelFetch (Inp, int (pc.inp_off + row + i)).r;
        float dy = texelFetch (DOut, int (pc.dout_off + row + i)).r;
        float w = texelFetch (Weight, int (pc.weight_off + i)).r;
        dinp[pc.dinp_off + row + i] += s * w * dy - k * x;
      }
  if (l == 0)
    scale[pc.scale_off + t] = s;
}
