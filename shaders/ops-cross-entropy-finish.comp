#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Cross-entropy's end, one workgroup: lse[t] = max + log(sum) for the rows the mask counts, and
// loss = mean over them of lse − target logit (0 when none counts). A fixed tree sums the rows,
// so the loss does not vary from run to run.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) writeonly buffer Loss { float loss[]; };
layout (binding = 1, std430) writeonly buffer Lse { float lse[]; };
layout (binding = 2) uniform samplerBuffer State;
layout (binding = 3) uniform samplerBuffer Mask;

layout (push_constant) uniform Push {
  uint loss_off;
  uint lse_off;
  uint state_off;
  uint mask_off;
  uint T;
  uint has_lse;
} pc;

void
main ()
{
  uint l = gl_LocalInvocationID.x;
  float total = 0.0;
  float count = 0.0;

  for (uint t = l; t < pc.T; t += WG)
    if (texelFetch (Mask, int (pc.mask_off + t)).r != 0.0)
      {
        float row_lse = texelFetch (State, int (pc.state_off + 3 * t)).r + log (texelFetch (State, int (pc.state_off + 3 * t + 1)).r);

        if (pc.has_lse != 0)
          lse[pc.lse_off + t] = row_lse;
        total += row_lse - texelFetch (State, int (pc.state_off + 3 * t + 2)).r;
        count += 1.0;
      }
  total = wg_sum (total);
  count = wg_sum (count);
  if (l == 0)
    loss[pc.loss_off] = count > 0.0 ? total / count : 0.0;
}
