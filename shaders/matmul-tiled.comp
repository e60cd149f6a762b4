#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Matmuls over a device-layout weight, the shared-memory tiled family for GPUs. The same three
// modes and bindings as matmul-splitk.comp:
// MODE 0: Y (M = T, N = OC) = X (T, R = IC) · Wᵀ (+ bias);
// MODE 1: dX (M = T, N = IC) = dY (T, R = OC) · W;
// MODE 2: dW (M = OC, N = IC) = dYᵀ (R = T rows) · X, fp32 only, X through WQ.
//
// A workgroup owns a BM × BN output tile and walks the reduction in steps of BK: its invocations
// load the step's slice of A and W into shared memory — neighbouring invocations reading
// neighbouring 16-byte texels, so loads coalesce, and W dequantized once per tile rather than
// once per output — then each invocation accumulates a TM × TN register block in fp32.
// (BM / TM) · (BN / TN) = WG, checked by the host.

#extension GL_GOOGLE_include_directive : require

layout (constant_id = 0) const uint WG = 64;
layout (constant_id = 1) const uint BM = 32;
layout (constant_id = 2) const uint BN = 32;
layout (constant_id = 3) const uint TYPE = 0;
layout (constant_id = 4) const uint MODE = 0;
layout (constant_id = 5) const uint BK = 16;
layout (constant_id = 6) const uint TM = 4;
layout (constant_id = 7) const uint TN = 4;
// LoRA dropout, as in matmul-splitk.comp: MODE 2 on X as read, MODE 1 on each output.
layout (constant_id = 8) const uint DROP = 0;
// What the end of a tile does besides storing, as in matmul-splitk.comp.
layout (constant_id = 9) const uint FLAGS = 0;
layout (local_size_x_id = 0) in;

layout (binding = 0, std430) buffer Y { float y[]; };
layout (binding = 1) uniform samplerBuffer A;
layout (binding = 2) uniform usamplerBuffer WQ;
layout (binding = 3) uniform usamplerBuffer WH;
layout (binding = 4) uniform samplerBuffer WS;
layout (binding = 5) uniform samplerBuffer BIAS;
layout (binding = 6) uniform isamplerBuffer Seed;

layout (push_constant) uniform Push {
  uint M;
  uint N;
  uint R;
  uint flags; // unused: FLAGS says it
  float alpha; // scales the product, not the bias or what is accumulated onto
  float drop_p;
  float drop_keep;
} pc;

#include "matmul-dequant.glsl"
#include "ops-dropout.glsl"

const uint ACCUMULATE = 1;
const uint ADD_BIAS = 2;

// Reduction-major, so the inner loop reads a row of each.
shared float As[BK * BM];
shared float Bs[BK * BN];

void
put4 (bool a_side, uint at, uint step, vec4 v)
{
  for (uint e = 0; e < 4; e++)
    if (a_side)
      As[at + e * step] = v[e];
    else
      Bs[at + e * step] = v[e];
}

void
main ()
{
  uint lid = gl_LocalInvocationID.x;
  uint r0 = gl_WorkGroupID.y * BM;
  uint c0 = gl_WorkGroupID.x * BN;
  uint tx = lid % (BN / TN);
  uint ty = lid / (BN / TN);
  uint R4 = pc.R / 4;
  uint M4 = pc.M / 4;
  uint N4 = pc.N / 4;
  float acc[TM][TN];
  uint seed_hash = DROP != 0 ? dropout_seed_hash (uint (texelFetch (Seed, 0).r)) : 0u;

  for (uint i = 0; i < TM; i++)
    for (uint j = 0; j < TN; j++)
      acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < pc.R; k0 += BK)
    {
      if (MODE == 2)
        {
          // dY and X both have the reduction (t) as their rows: texels run along the tile.
          for (uint idx = lid; idx < BK * (BM / 4); idx += WG)
            {
              uint kk = idx / (BM / 4), m4 = idx % (BM / 4);
              uint t = k0 + kk, m = r0 / 4 + m4;
              vec4 v = t < pc.R && m < M4 ? texelFetch (A, int (t * M4 + m)) : vec4 (0.0);

              put4 (true, kk * BM + 4 * m4, 1, v);
            }
          for (uint idx = lid; idx < BK * (BN / 4); idx += WG)
            {
              uint kk = idx / (BN / 4), q = idx % (BN / 4);
              uint t = k0 + kk, n = c0 / 4 + q;
              vec4 v = t < pc.R && n < N4 ? uintBitsToFloat (texelFetch (WQ, int (t * N4 + n)))
                                          : vec4 (0.0);

              if (DROP != 0)
                v *= dropout_mask4 (seed_hash, (t * N4 + n) * 4, pc.drop_p, pc.drop_keep);

              put4 (false, kk * BN + 4 * q, 1, v);
            }
        }
      else
        {
          for (uint idx = lid; idx < BM * (BK / 4); idx += WG)
            {
              uint m = idx / (BK / 4), k4 = idx % (BK / 4);
              uint row = r0 + m, k = k0 / 4 + k4;
              vec4 v = row < pc.M && k < R4 ? texelFetch (A, int (row * R4 + k)) : vec4 (0.0);

              put4 (true, 4 * k4 * BM + m, BM, v);
            }
          if (MODE == 0)
            for (uint idx = lid; idx < BN * (BK / 4); idx += WG)
              {
                uint n = idx / (BK / 4), k4 = idx % (BK / 4);
                uint col = c0 + n, k = k0 / 4 + k4;
                vec4 v = col < pc.N && k < R4 ? w_load (w_row_base (col, R4), k) : vec4 (0.0);

                put4 (false, 4 * k4 * BN + n, BN, v);
              }
          else
            for (uint idx = lid; idx < BK * (BN / 4); idx += WG)
              {
                uint kk = idx / (BN / 4), q = idx % (BN / 4);
                uint row = k0 + kk, c = c0 / 4 + q;
                vec4 v = row < pc.R && c < N4 ? w_load (w_row_base (row, N4), c) : vec4 (0.0);

                put4 (false, kk * BN + 4 * q, 1, v);
              }
        }
      barrier ();

      for (uint kk = 0; kk < BK; kk++)
        {
          float a[TM];
          float b[TN];

          for (uint i = 0; i < TM; i++)
            a[i] = As[kk * BM + ty * TM + i];
          for (uint j = 0; j < TN; j++)
            b[j] = Bs[kk * BN + tx * TN + j];
          for (uint i = 0; i < TM; i++)
            for (uint j = 0; j < TN; j++)
              acc[i][j] += a[i] * b[j];
        }
      barrier ();
    }

  for (uint i = 0; i < TM; i++)
    for (uint j = 0; j < TN; j++)
      {
        uint r = r0 + ty * TM + i;
        uint c = c0 + tx * TN + j;

        if (r < pc.M && c < pc.N)
          {
            uint at = r * pc.N + c;
            float v = pc.alpha * acc[i][j];

            if (DROP != 0 && MODE == 1)
              v *= dropout_mask (seed_hash, at, pc.drop_p, pc.drop_keep);
            if ((FLAGS & ADD_BIAS) != 0)
              v += texelFetch (BIAS, int (c)).x;
            if ((FLAGS & ACCUMULATE) != 0)
              v += y[at];
            y[at] = v;
          }
      }
}
