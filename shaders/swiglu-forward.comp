#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// SwiGLU forward: result = silu(gate) * up over n values (T × C flattened).
//
// Inputs are R32F uniform texel buffers: llvmpipe turns texelFetch into one wide load per
// subgroup where a storage-buffer read becomes a bounds-checked scalar loop per lane.

layout (constant_id = 0) const uint WG = 64;
layout (local_size_x_id = 0) in;

// Four values per invocation (1): RGBA32F views and vec4 stores, where the ranges' offsets and n
// are multiples of 4 (the host checks); else one, through R32F views.
layout (constant_id = 1) const uint VEC4 = 0;

layout (binding = 0, std430) writeonly buffer Result { vec4 result[]; };
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

  if (VEC4 != 0)
    {
      if (i < pc.n / 4)
        {
          vec4 g = texelFetch (gate, int (i));

          result[i] = g / (1.0 + exp (-g)) * texelFetch (up, int (i));
        }
    }
  else if (i < pc.n)
    {
      float g = texelFetch (gate, int (i)).r;

      result[i >> 2][i & 3u] = g / (1.0 + exp (-g)) * texelFetch (up, int (i)).r;
    }
}
