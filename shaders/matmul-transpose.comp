#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Wt (C × R) = Wᵀ for an fp32 W (R × C), R and C multiples of 4, so that matmul-splitk.comp's
// input gradient on CPU devices can read the weight along its reduction, as the forward does
// (see tailor-vk-matmul.c: read in place its rows lie C · 4 bytes apart and alias in L1).
//
// One dispatch may cover a band of W's columns (from texel col0), Wt's rows of that band: a
// device's storage-buffer range can be shorter than the whole matrix. Item t takes four rows
// (4a … 4a + 3) and sixteen columns (four texels) of the band: one cache line of each row in,
// sixteen texels out. Neighbouring lanes take neighbouring a, so a
// subgroup's stores to each row of Wt are contiguous.

layout (constant_id = 0) const uint WG = 64;
layout (local_size_x_id = 0) in;

layout (binding = 0, std430) writeonly buffer Wt { vec4 wt[]; }; // the band's rows of Wt
layout (binding = 1) uniform samplerBuffer W; // RGBA32F: R rows of W4 texels

layout (push_constant) uniform Push {
  uint R4;   // R / 4
  uint C4;   // the band's columns / 4
  uint W4;   // C / 4
  uint col0; // the band's first column / 4
} pc;

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
          uint at = 4 * a * pc.W4 + pc.col0 + b;
          vec4 v0 = texelFetch (W, int (at));
          vec4 v1 = texelFetch (W, int (at + pc.W4));
          vec4 v2 = texelFetch (W, int (at + 2 * pc.W4));
          vec4 v3 = texelFetch (W, int (at + 3 * pc.W4));

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
