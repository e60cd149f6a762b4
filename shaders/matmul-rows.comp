#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Gathers rows of a weight in the matmul kernels' device layout (matmul-dequant.glsl) as fp32:
// out row t = W row tokens[t] (an embedding) or W row row0 + t (a vocabulary chunk of the
// output projection). Each lane writes four values, one quant texel decoded, where the gather
// over ggml's blocks (ops-embedding.comp) reads several 32-bit words per value.
#extension GL_GOOGLE_include_directive : require

layout (constant_id = 0) const uint WG = 64;
layout (constant_id = 1) const uint TYPE = 0;
layout (local_size_x_id = 0) in;

layout (binding = 0, std430) writeonly buffer Out { vec4 o[]; };
layout (binding = 1) uniform usamplerBuffer WQ; // RGBA32UI: the weight's quants
layout (binding = 2) uniform usamplerBuffer WH; // R32UI: high bits of 5- and 6-bit quants
layout (binding = 3) uniform samplerBuffer WS;  // RG32F: per-chunk scales
layout (binding = 4) uniform isamplerBuffer Tokens; // R32I: row ids, with use_tokens

layout (push_constant) uniform Push {
  uint T;      // rows to write
  uint C4;     // values per row / 4
  uint n_rows; // rows of W
  uint row0;
  uint use_tokens;
} pc;

#include "matmul-dequant.glsl"

void
main ()
{
  uint n = pc.T * pc.C4;
  uint stride = gl_NumWorkGroups.x * WG;

  for (uint i = gl_GlobalInvocationID.x; i < n; i += stride)
    {
      uint t = i / pc.C4;
      int r = pc.use_tokens != 0 ? texelFetch (Tokens, int (t)).r : int (pc.row0 + t);

      // An id outside the table gives zeros rather than a read past the weight.
      o[i] = r >= 0 && uint (r) < pc.n_rows ? w_load (w_row_base (uint (r), pc.C4), i % pc.C4)
                                            : vec4 (0.0);
    }
}
