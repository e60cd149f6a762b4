#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Embedding backward, accumulating: dembd[row] += dout[t] for every t with tokens[t] = row.
// One invocation per (position, column); only a row's first position writes, adding the rows of
// all its positions in order, so no two invocations touch one value and the sum is the CPU
// reference's, bit for bit (no atomics).
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) buffer DEmbd { float dembd[]; };
layout (binding = 1) uniform samplerBuffer DOut;
layout (binding = 2) uniform isamplerBuffer Tokens;

layout (push_constant) uniform Push {
  uint dembd_off;
  uint dout_off;
  uint tokens_off;
  uint T;
  uint C;
  uint n_rows;
} pc;

void
main ()
{
  uint i = global_index ();

  if (i >= pc.T * pc.C)
    return;
  uint t = i / pc.C;
  uint c = i % pc.C;
  int row = texelFetch (Tokens, int (pc.tokens_off + t)).r;

  if (row < 0 || uint (row) >= pc.n_rows)
    return;
  for (uint u = 0; u < t; u++)
    if (texelFetch (Tokens, int (pc.tokens_off + u)).r == row)
      return;
  uint at = pc.dembd_off + uint (row) * pc.C + c;
  float acc = dembd[at];

  for (uint u = t; u < pc.T; u++)
    if (texelFetch (Tokens, int (pc.tokens_off + u)).r == row)
      acc += texelFetch (DOut, int (pc.dout_off + u * pc.C + c)).r;
  dembd[at] = acc;
}
