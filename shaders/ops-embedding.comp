#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Gathers and dequantizes rows of a weight in ggml's block layout, one invocation per value:
// out (T, C) row t = W row tokens[t] (the embedding), or W row row0 + t (a vocabulary chunk of
// the output projection). The weight is read as 32-bit words of its raw bytes.
#extension GL_GOOGLE_include_directive : require
#include "ops-common.glsl"

// ggml type ids
layout (constant_id = 1) const uint TYPE = 0;

layout (binding = 0, std430) writeonly buffer Out { float o[]; };
layout (binding = 1) uniform usamplerBuffer W;
layout (binding = 2) uniform isamplerBuffer Tokens;

layout (push_constant) uniform Push {
  uint out_off;
  uint w_off; // in words
  uint tokens_off;
  uint T;
  uint C;
  uint n_rows;
  uint row_bytes;
  uint use_tokens;
  uint row0;
} pc;

uint
byte_at (uint b)
{
  return (texelFetch (W, int (pc.w_off + (b >> 2))).r >> ((b & 3u) * 8u)) & 0xffu;
}

// Blocks and their fields sit at even offsets, so a 16-bit field never straddles two words.
uint
u16_at (uint b)
{
  return (texelFetch (W, int (pc.w_off + (b >> 2))).r >> ((b & 2u) * 8u)) & 0xffffu;
}

float
half_at (uint b)
{
  return unpackHalf2x16 (u16_at (b)).x;
}

int
i8_at (uint b)
{
  return int (byte_at (b) << 24) >> 24;
}

uint
u32_at (uint b)
{
  return u16_at (b) | (u16_at (b + 2) << 16);
}

// The 6-bit scale (x) and min (y) of sub-block j of a Q4_K/Q5_K block's 12 scale bytes at q.
uvec2
scale_min_k4 (uint q, uint j)
{
  if (j < 4)
    return uvec2 (byte_at (q + j) & 63u, byte_at (q + j + 4) & 63u);
  return uvec2 ((byte_at (q + j + 4) & 0xfu) | ((byte_at (q + j - 4) >> 6) << 4),
                (byte_at (q + j + 4) >> 4) | ((byte_at (q + j) >> 6) << 4));
}

float
dequantize (uint row, uint c)
{
  if (TYPE == 0) // F32
    return uintBitsToFloat (texelFetch (W, int (pc.w_off + row / 4 + c)).r);
  if (TYPE == 1) // F16
    return half_at (row + 2 * c);
  if (TYPE == 30) // BF16
    return uintBitsToFloat (u16_at (row + 2 * c) << 16);

  uint j = c % 32;
  if (TYPE == 2) // Q4_0: d, 16 bytes of nibbles (low nibbles first)
    {
      uint b = row + (c / 32) * 18;
      uint q = byte_at (b + 2 + j % 16);
      return float (int (j < 16 ? q & 0xfu : q >> 4) - 8) * half_at (b);
    }
  if (TYPE == 3) // Q4_1: d, m, nibbles
    {
      uint b = row + (c / 32) * 20;
      uint q = byte_at (b + 4 + j % 16);
      return float (j < 16 ? q & 0xfu : q >> 4) * half_at (b) + half_at (b + 2);
    }
  if (TYPE == 6) // Q5_0: d, 32 fifth bits, nibbles
    {
      uint b = row + (c / 32) * 22;
      uint q = byte_at (b + 6 + j % 16);
      uint h = (u32_at (b + 2) >> j) & 1u;
      return float (int ((j < 16 ? q & 0xfu : q >> 4) | (h << 4)) - 16) * half_at (b);
    }
  if (TYPE == 7) // Q5_1: d, m, 32 fifth bits, nibbles
    {
      uint b = row + (c / 32) * 24;
      uint q = byte_at (b + 8 + j % 16);
      uint h = (u32_at (b + 4) >> j) & 1u;
      return float ((j < 16 ? q & 0xfu : q >> 4) | (h << 4)) * half_at (b) + half_at (b + 2);
    }
  if (TYPE == 8) // Q8_0: d, 32 signed bytes
    {
      uint b = row + (c / 32) * 34;
      return float (i8_at (b + 2 + j)) * half_at (b);
    }

  uint k = c % 256;
  uint chunk = k / 64; // Q4_K/Q5_K: chunks of 64, low nibbles of 32 bytes then high nibbles
  uint l = k % 32;
  bool high = (k % 64) >= 32;
  if (TYPE == 12 || TYPE == 13)
    {
      uint size = TYPE == 12 ? 144 : 176;
      uint b = row + (c / 256) * size;
      uvec2 sm = scale_min_k4 (b + 4, 2 * chunk + (high ? 1 : 0));
      uint qs = b + (TYPE == 12 ? 16 : 48);
      uint q = byte_at (qs + 32 * chunk + l);
      q = high ? q >> 4 : q & 0xfu;
      if (TYPE == 13)
        q |= ((byte_at (b + 16 + l) >> (2 * chunk + (high ? 1 : 0))) & 1u) << 4;
      float d1 = half_at (b) * float (sm.x);
      float m1 = half_at (b + 2) * float (sm.y);
      return d1 * float (q) - m1;
    }
  if (TYPE == 14) // Q6_K: ql[128], qh[64], scales[16], d; two halves of four quarters
    {
      uint b = row + (c / 256) * 210;
      uint half_ = k / 128;
      uint quarter = (k % 128) / 32;
      uint ql = byte_at (b + 64 * half_ + l + (quarter % 2 == 1 ? 32 : 0));
      uint qh = byte_at (b + 128 + 32 * half_ + l);
      uint lo = quarter < 2 ? ql & 0xfu : ql >> 4;
      int q = int (lo | (((qh >> (2 * quarter)) & 3u) << 4)) - 32;
      float sc = float (i8_at (b + 192 + 8 * half_ + l / 16 + 2 * quarter));
      return half_at (b + 208) * sc * float (q);
    }
  return 0.0;
}

void
main ()
{
  uint i = global_index ();

  if (i >= pc.T * pc.C)
    return;
  uint t = i / pc.C;
  uint c = i % pc.C;
  int r = pc.use_tokens != 0 ? texelFetch (Tokens, int (pc.tokens_off + t)).r : int (pc.row0 + t);

  // An id outside the table gives zeros rather than a read past the weight.
  o[pc.out_off + i] = r >= 0 && uint (r) < pc.n_rows ? dequantize (uint (r) * pc.row_bytes, c) : 0.0;
}
