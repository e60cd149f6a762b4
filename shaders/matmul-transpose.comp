#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Wt (C × R, fp32) = Wᵀ for a device-layout weight W (R × C, matmul-dequant.glsl, any type the
// matmul kernels read), R and C multiples of 4, so that matmul-splitk.comp's input gradient on
// CPU devices can read the weight along its reduction as the forward does (see
// tailor-vk-matmul.c: read in place its rows lie far apart and alias in L1).
//
// One dispatch may cover a band of W's columns (from step col0), Wt's rows of that band: a
// device's storage-buffer range can be shorter than the whole matrix. Item t takes four rows
// (4a … 4a + 3) and sixteen columns (four steps) of the band: sixteen texels out. Neighbouring
// lanes take neighbouring a, so a subgroup's stores to each row of Wt are contiguous.
#extension GL_GOOGLE_include_directive : require

layout (constant_id = 0) const uint WG = 64;
layout (constant_id = 1) const uint TYPE = 0;
layout (local_size_x_id = 0) in;

layout (binding = 0, std430) writeonly buffer Wt { vec4 wt[]; }; // the band's rows of Wt
layout (binding = 1) uniform usamplerBuffer WQ; // RGBA32UI: the weight's quants
layout (binding = 2) uniform usamplerBuffer WH; // R32UI: high bits of 5- and 6-bit quants
layout (binding = 3) uniform samplerBuffer WS;  // RG32F: per-chunk scales

layout (push_constant) uniform Push {
  uint R4;   // R / 4
  uint C4;   // the band's columns / 4
  uint W4;   // C / 4
  uint col0; // the band's first column / 4
} pc;

#include "matmul-dequant.glsl"

void
main ()
{
  uint groups = (pc.C4 + 3) / 4;
  uint n = pc.R4 * groups;
  uint stride = gl_NumWorkGroups.x * WG;

  for (uint t = gl_GlobalInvocationID.x; t < n; t += stride)
    {
      uint a = t % pc.R4;
      uint b0 = (t / pc.R4) * 4;

      for (uint u = 0; u < 4; u++)
        {
          uint b = min (b0 + u, pc.C4 - 1);
          uint k4 = pc.col0 + b;
          vec4 v0 = w_load (w_row_base (4 * a, pc.W4), k4);
          vec4 v1 = w_load (w_row_base (4 * a + 1, pc.W4), k4);
          vec4 v2 = w_load (w_row_base (4 * a + 2, pc.W4), k4);
          vec4 v3 = w_load (w_row_base (4 * a + 3, pc.W4), k4);

          // Column 4b + f of the band is row 4b + f of its Wt; its texel a holds rows 4a … 4a + 3.
          if (b0 + u < pc.C4)
            {
              wt[(4 * b) * pc.R4 + a] = vec4 (v0.x, v1.x, v2.x, v3.x);
              wt[(4 * b + 1) * pc.R4 + a] = vec4 (v0.y, v1.y, v2.y, v3.y);
              wt[(4 * b + 2) * pc.R4 + a] = vec4 (v0.z, v1.z, v2.z, v3.z);
              wt[(4 * b + 3) * pc.R4 + a] = vec4 (v0.w, v1.w, v2.w, v3.w);
            }
        }
    }
}
