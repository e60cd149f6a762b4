// SPDX-License-Identifier: GPL-3.0-or-later
// Reading four weights of a device-layout weight (tailor-vk-matmul.c writes the layout).
//
// The includer declares the specialization constant TYPE (a ggml type id) and the texel buffers
// WQ (RGBA32UI), WH (R32UI) and WS (RG32F). A row of K weights is cut into chunks of CE
// elements; chunk c of the row owns:
//   WQ: one 16-byte texel (two for Q8_0) of quants, so every fetch is one aligned 16-byte read;
//   WH: Q5_*: one uint whose bit j is the fifth bit of element j; Q6_K: two uints, the 2-bit
//       high parts of elements j < 16 in the first (bits 2j, 2j + 1), the rest in the second;
//   WS: (d, m) as fp32 — w = q·d + m for Q4_1, Q5_1 and the K-quants (d and m already multiplied
//       by the sub-block's scale and min), w = (q − o)·d for Q4_0, Q5_0, Q8_0; for Q6_K the two
//       16-element sub-blocks' d·scale.
// Element 4s + e of a chunk sits in component e of the quant texel at bit 4s (4-bit types),
// byte s % 4 of texel s / 4 (Q8_0) or half s (F16, BF16), so the four weights of step s are one
// shift of the whole texel by a uniform amount: no per-lane indexing, no byte loads.

const uint T_F32 = 0;
const uint T_F16 = 1;
const uint T_Q4_0 = 2;
const uint T_Q4_1 = 3;
const uint T_Q5_0 = 6;
const uint T_Q5_1 = 7;
const uint T_Q8_0 = 8;
const uint T_Q4_K = 12;
const uint T_Q5_K = 13;
const uint T_Q6_K = 14;
const uint T_BF16 = 30;

// Elements per chunk and four-element steps per chunk.
const uint CE = TYPE == T_F32 ? 4 : (TYPE == T_F16 || TYPE == T_BF16) ? 8 : 32;
const uint STEPS = CE / 4;

// Where row `row` starts, in chunks, for rows of row_k4 = K / 4 steps.
uint
w_row_base (uint row, uint row_k4)
{
  return row * (row_k4 / STEPS);
}

const bool HAS_HIGH = TYPE == T_Q5_0 || TYPE == T_Q5_1 || TYPE == T_Q5_K || TYPE == T_Q6_K;
const bool HAS_SCALES = CE == 32;

// Which quant texel and which high-bit word of chunk `chunk` hold step s.
uint
w_quant_texel (uint chunk, uint s)
{
  return TYPE == T_Q8_0 ? 2 * chunk + s / 4 : chunk;
}

uint
w_high_word (uint chunk, uint s)
{
  return TYPE == T_Q6_K ? 2 * chunk + s / 4 : chunk;
}

// The four weights of step s of a chunk from its fetched parts: q the quant texel holding step
// s, h the high-bit word holding it, sc the chunk's scales. With s a constant (a loop the
// compiler unrolls) every shift below is by a constant.
vec4
w_decode (uvec4 q, uint h, vec2 sc, uint s)
{
  if (TYPE == T_F32)
    return uintBitsToFloat (q);
  if (TYPE == T_BF16)
    return uintBitsToFloat (s == 0 ? q << 16 : q & 0xffff0000u);
  if (TYPE == T_F16)
    {
      uvec4 v = q >> (16 * s);

      return vec4 (unpackHalf2x16 (v.x).x, unpackHalf2x16 (v.y).x, unpackHalf2x16 (v.z).x,
                   unpackHalf2x16 (v.w).x);
    }
  if (TYPE == T_Q8_0)
    return vec4 (bitfieldExtract (ivec4 (q), int (8 * (s % 4)), 8)) * sc.x;

  uvec4 n = (q >> (4 * s)) & 0xfu;

  if (TYPE == T_Q5_0 || TYPE == T_Q5_1 || TYPE == T_Q5_K)
    n |= ((uvec4 (h) >> (4 * s + uvec4 (0, 1, 2, 3))) & 1u) << 4;
  if (TYPE == T_Q6_K)
    {
      n |= ((uvec4 (h) >> (8 * (s % 4) + uvec4 (0, 2, 4, 6))) & 3u) << 4;
      return (vec4 (n) - 32.0) * (s < 4 ? sc.x : sc.y);
    }
  if (TYPE == T_Q4_0)
    return (vec4 (n) - 8.0) * sc.x;
  if (TYPE == T_Q5_0)
    return (vec4 (n) - 16.0) * sc.x;
  return vec4 (n) * sc.x + sc.y;
}

// The four weights at elements 4·k4 … 4·k4 + 3 of the row starting at chunk `base`.
vec4
w_load (uint base, uint k4)
{
  uint chunk = base + k4 / STEPS;
  uint s = k4 % STEPS;
  uint h = HAS_HIGH ? texelFetch (WH, int (w_high_word (chunk, s))).x : 0u;
  vec2 sc = HAS_SCALES ? texelFetch (WS, int (chunk)).xy : vec2 (0.0);

  return w_decode (texelFetch (WQ, int (w_quant_texel (chunk, s))), h, sc, s);
}
