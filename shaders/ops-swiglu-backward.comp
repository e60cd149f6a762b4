#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// SwiGLU backward, accumulating: dgate += dout · up · silu'(gate), dup += dout · silu(gate),
// with silu'(g) = σ(g) (1 + g (1 − σ(g))).
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

// Four elements per invocation (1) where every offset and n are multiples of 4, else one.
layout (constant_id = 1) const uint VEC4 = 0;

// vec4 views; offsets count floats
layout (binding = 0, std430) buffer DGate { vec4 dgate[]; };
layout (binding = 1, std430) buffer DUp { vec4 dup[]; };
layout (binding = 2) uniform samplerBuffer DOut; // RGBA32F
layout (binding = 3) uniform samplerBuffer Gate; // RGBA32F
layout (binding = 4) uniform samplerBuffer Up;   // RGBA32F

layout (push_constant) uniform Push {
  uint dgate_off;
  uint dup_off;
  uint dout_off;
  uint gate_off;
  uint up_off;
  uint n;
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
      if (i >= pc.n / 4)
        return;
      vec4 dy = texelFetch (DOut, int (pc.dout_off / 4 + i));
      vec4 g = texelFetch (Gate, int (pc.gate_off / 4 + i));
      vec4 u = texelFetch (Up, int (pc.up_off / 4 + i));
      vec4 sig = 1.0 / (1.0 + exp (-g));

      dgate[pc.dgate_off / 4 + i] += dy * u * sig * (1.0 + g * (1.0 - sig));
      dup[pc.dup_off / 4 + i] += dy * g * sig;
    }
  else if (i < pc.n)
    {
      float dy = at (DOut, pc.dout_off + i);
      float g = at (Gate, pc.gate_off + i);
      float u = at (Up, pc.up_off + i);
      float sig = 1.0 / (1.0 + exp (-g));
      uint eg = pc.dgate_off + i;
      uint eu = pc.dup_off + i;

      dgate[eg >> 2][eg & 3u] += dy * u * sig * (1.0 + g * (1.0 - sig));
      dup[eu >> 2][eu & 3u] += dy * g * sig;
    }
}
