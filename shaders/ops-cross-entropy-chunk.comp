#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Cross-entropy forward over one vocabulary chunk: for each row t, folds the chunk's logits
// (T, nc) into the row's online log-sum-exp (running max, running Σ exp(logit − max)) and keeps
// the target's logit when the target falls in the chunk. state (T, 3): max, sum, target logit.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) buffer State { float state[]; };
layout (binding = 1) uniform samplerBuffer Logits;
layout (binding = 2) uniform isamplerBuffer Targets;

layout (push_constant) uniform Push {
  uint state_off;
  uint logits_off;
  uint targets_off;
  uint T;
  uint nc;
  uint v0;
  uint first;
} pc;

void
main ()
{
  uint t = global_index ();

  if (t >= pc.T)
    return;
  float run_max = pc.first != 0 ? -1.0 / 0.0 : state[pc.state_off + 3 * t];
  float run_sum = pc.first != 0 ? 0.0 : state[pc.state_off + 3 * t + 1];
  float target_logit = pc.first != 0 ? 0.0 : state[pc.state_off + 3 * t + 2];
  int target = texelFetch (Targets, int (pc.targets_off + t)).r;
  uint row = pc.logits_off + t * pc.nc;
  float cmax = run_max;
  float sum = 0.0;

  for (uint j = 0; j < pc.nc; j++)
    cmax = max (cmax, texelFetch (Logits, int (row + j)).r);
  for (uint j = 0; j < pc.nc; j++)
    sum += exp (texelFetch (Logits, int (row + j)).r - cmax);
  state[pc.state_off + 3 * t] = cmax;
  state[pc.state_off + 3 * t + 1] = run_sum * exp (run_max - cmax) + sum;
  if (target >= int (pc.v0) && target < int (pc.v0 + pc.nc))
    target_logit = texelFetch (Logits, int (row + uint (target) - pc.v0)).r;
  state[pc.state_off + 3 * t + 2] = target_logit;
}
