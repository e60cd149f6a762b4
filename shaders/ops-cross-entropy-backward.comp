#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Cross-entropy backward over one vocabulary chunk, in place on its logits (T, nc):
// dlogit = dloss / n_counted · (exp(logit − lse[t]) − [v0 + j = target]) on counted rows, 0 on
// the others. Each workgroup counts the mask itself (T reads per workgroup, cheap next to the
// chunk's matmuls, and no extra pass).
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) buffer Logits { float logits[]; };
layout (binding = 1) uniform samplerBuffer Lse;
layout (binding = 2) uniform isamplerBuffer Targets;
layout (binding = 3) uniform samplerBuffer Mask;
layout (binding = 4) uniform samplerBuffer DLoss;

layout (push_constant) uniform Push {
  uint logits_off;
  uint lse_off;
  uint targets_off;
  uint mask_off;
  uint dloss_off;
  uint T;
  uint nc;
  uint v0;
} pc;

void
main ()
{
  float count = 0.0;

  for (uint t = gl_LocalInvocationID.x; t < pc.T; t += WG)
    count += texelFetch (Mask, int (pc.mask_off + t)).r != 0.0 ? 1.0 : 0.0;
  count = wg_sum (count);

  uint i = global_index ();

  if (i >= pc.T * pc.nc)
    return;
  uint t = i / pc.nc;
  uint j = i % pc.nc;
  float g = 0.0;

  if (texelFetch (Mask, int (pc.mask_off + t)).r != 0.0)
    {
      float dl = texelFetch (DLoss, int (pc.dloss_off)).r / count;
      int target = texelFetch (Targets, int (pc.targets_off + t)).r;
      float p = exp (logits[pc.logits_off + i] - texelFetch (Lse, int (pc.lse_off + t)).r);

      g = dl * (p - (int (pc.v0 + j) == target ? 1.0 : 0.0));
    }
  logits[pc.logits_off + i] = g;
}
