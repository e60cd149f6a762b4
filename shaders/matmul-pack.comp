#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Packs the rows of an M × R matrix (R a multiple of 4) for matmul-splitk.comp's lanes, which
// each own BM rows: texel (b · R4 + k) · BM + i of P holds the four columns of step k of row
// b · BM + i (the last row repeated past M). The BM texels a lane reads at one step are then
// neighbours and its steps follow each other, one stream per lane. Read in place, those BM rows
// lie R · 4 bytes apart; when that is a multiple of 4 KiB they all fall in one set of a CPU's
// L1 cache and evict each other before their lines are used up.

layout (constant_id = 0) const uint WG = 64;
layout (constant_id = 1) const uint BM = 16;
layout (local_size_x_id = 0) in;

layout (binding = 0, std430) writeonly buffer P { vec4 p[]; };
layout (binding = 1) uniform samplerBuffer A; // RGBA32F: the matrix, row-major

layout (push_constant) uniform Push {
  uint M;
  uint R4; // R / 4
} pc;

void
main ()
{
  uint n = (pc.M + BM - 1) / BM * BM * pc.R4;
  uint stride = gl_NumWorkGroups.x * WG;

  for (uint t = gl_GlobalInvocationID.x; t < n; t += stride)
    {
      uint i = t % BM;
      uint k = (t / BM) % pc.R4;
      uint row = min ((t / (BM * pc.R4)) * BM + i, pc.M - 1);

      p[t] = texelFetch (A, int (row * pc.R4 + k));
    }
}
