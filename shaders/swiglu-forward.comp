#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// SwiGLU forward: result = silu(gate) * up over n values (T × C flattened).
//
// Inputs are R32F uniform texel buffers: llvmpipe turns texelFetch into one wide load per
// subgroup where a storage-buffer read becomes a bounds-checked scalar loop per lane.

layout (constant_id = 0) const uint WG = 64;
layout (local_size_x_id = 0) in;

layout (binding = 0, std430) writeonly buffer Result { float result[]; };
layout (binding = 1) uniform samplerBuffer gate;
layout (binding = 2) uniform samplerBuffer up;

layout (push_constant) uniform Push {
  uint n;
} pc;

void
main ()
{
  // Large n is dispatched as a 2-D grid because one grid dimension may be as small as 65535.
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * (gl_NumWorkGroups.x * WG);

  if (i >= pc.n)
    return;

  float g = texelFetch (gate, int (i)).r;
  result[i] = g / (1.0 + exp (-g)) * texelFetch (up, int (i)).r;
}
