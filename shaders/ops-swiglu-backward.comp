#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// SwiGLU backward, accumulating: dgate += dout · up · silu'(gate), dup += dout · silu(gate),
// with silu'(g) = σ(g) (1 + g (1 − σ(g))).
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) buffer DGate { float dgate[]; };
layout (binding = 1, std430) buffer DUp { float dup[]; };
layout (binding = 2) uniform samplerBuffer DOut;
layout (binding = 3) uniform samplerBuffer Gate;
layout (binding = 4) uniform samplerBuffer Up;

layout (push_constant) uniform Push {
  uint dgate_off;
  uint dup_off;
  uint dout_off;
  uint gate_off;
  uint up_off;
  uint n;
} pc;

void
main ()
{
  uint i = global_index ();

  if (i >= pc.n)
    return;
  float dy = texelFetch (DOut, int (pc.dout_off + i)).r;
  float g = texelFetch (Gate, int (pc.gate_off + i)).r;
  float u = texelFetch (Up, int (pc.up_off + i)).r;
  float sig = 1.0 / (1.0 + exp (-g));

  dgate[pc.dgate_off + i] += dy * u * sig * (1.0 + g * (1.0 - sig));
  dup[pc.dup_off + i] += dy * g * sig;
}
