#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// RMSNorm backward for the weight: one invocation per column, dweight[c] += Σ_t dy x s_t summed
// over rows in order (deterministic: no atomics).
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) buffer DWeight { float dweight[]; };
layout (binding = 1) uniform samplerBuffer DOut;
layout (binding = 2) uniform samplerBuffer Inp;
layout (binding = 3) uniform samplerBuffer Scale;

layout (push_constant) uniform Push {
  uint dweight_off;
  uint dout_off;
  uint inp_off;
  uint scale_off;
  uint T;
  uint C;
} pc;

void
main ()
{
  uint c = global_index ();

  if (c >= pc.C)
    return;
  float acc = dweight[pc.dweight_off + c];

  for (uint t = 0; t < pc.T; t++)
    acc += texelFetch (DOut, int (pc.dout_off + t * pc.C + c)).r *
           texelFetch (Inp, int (pc.inp_off + t * pc.C + c)).r *
           texelFetch (Scale, int (pc.scale_off + t)).r;
  dweight[pc.dweight_off + c] = acc;
}
