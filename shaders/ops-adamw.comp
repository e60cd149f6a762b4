#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// AdamW after clipping, as tailor_ref_clip_grad_norm then tailor_ref_adamw_update: the gradient
// is scaled by min (1, max_norm / (‖g‖ + 1e-6)) when max_norm > 0 (the gradient buffer itself is
// left as it is), then decoupled weight decay and bias-corrected moments. The hyper-parameters
// (TailorAdamWHyper) and ‖g‖² are read from the device, so a recorded step needs no new record.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

layout (binding = 0, std430) buffer Param { float param[]; };
layout (binding = 1, std430) buffer M { float mom[]; };
layout (binding = 2, std430) buffer Vel { float vel[]; };
layout (binding = 3) uniform samplerBuffer Grad;
layout (binding = 4) uniform samplerBuffer Hyper;
layout (binding = 5) uniform samplerBuffer NormSq;

layout (push_constant) uniform Push {
  uint param_off;
  uint m_off;
  uint v_off;
  uint grad_off;
  uint hyper_off;
  uint norm_off;
  uint n;
  uint has_norm;
} pc;

float
hyper (uint i)
{
  return texelFetch (Hyper, int (pc.hyper_off + i)).r;
}

// Elements per invocation: the hyper-parameters, the clipping coefficient and the bias
// corrections are computed once for all of them (the same values, so the same results).
const uint PER = 16u;

void
main ()
{
  float lr = hyper (0);
  float beta1 = hyper (1);
  float beta2 = hyper (2);
  float eps = hyper (3);
  float wd = hyper (4);
  float step = hyper (5);
  float max_norm = hyper (6);
  float coef = 1.0;

  if (max_norm > 0.0 && pc.has_norm != 0)
    {
      float c = max_norm / (sqrt (texelFetch (NormSq, int (pc.norm_off)).r) + 1e-6);
      if (c < 1.0)
        coef = c;
    }
  float bc1 = 1.0 - pow (beta1, step);
  float bc2 = 1.0 - pow (beta2, step);
  uint first = group_index () * WG * PER + gl_LocalInvocationID.x;

  for (uint e = 0u; e < PER; e++)
    {
      uint i = first + e * WG;

      if (i >= pc.n)
        break;
      float g = texelFetch (Grad, int (pc.grad_off + i)).r;

      if (coef < 1.0)
        g *= coef;
      float m = beta1 * mom[pc.m_off + i] + (1.0 - beta1) * g;
      float v = beta2 * vel[pc.v_off + i] + (1.0 - beta2) * g * g;

      mom[pc.m_off + i] = m;
      vel[pc.v_off + i] = v;
      param[pc.param_off + i] =
        param[pc.param_off + i] * (1.0 - lr * wd) - lr * (m / bc1) / (sqrt (v / bc2) + eps);
    }
}
