#version 450
// SPDX-License-Identifier: GPL-3.0-or-later
// Matmuls over a device-layout weight, the texel-buffer split-K family for CPU implementations
// such as llvmpipe (see LAVAPIPE.md), and the matrix-vector path (BM = T ≤ 4) on every device.
//
// MODE 0: Y (M = T, N = OC) = X (T, R = IC) · Wᵀ (+ bias), W (OC, IC) of type TYPE.
// MODE 1: dX (M = T, N = IC) = dY (T, R = OC) · W.
// MODE 2: dW (M = OC, N = IC) = dYᵀ (R = T rows) · X, fp32 only; X comes through WQ.
// (MODE 1 with TRANS: W comes transposed, see below.)
// With flags bit 0 the result is added to what Y holds.
//
// The forward on llvmpipe and the input gradient everywhere give each lane whole BM × BN blocks
// of the output over the full reduction, dealt so that a subgroup's lanes take neighbouring row
// blocks of one column block (they read the same weights) and only the last round can leave
// lanes idle. Otherwise (OWN = 0: the forward on GPUs and the matrix-vector path; MODE 2) one
// subgroup owns a block and its lanes split the reduction in four-wide steps (lane l takes
// steps l, l + lanes, …: neighbouring lanes read neighbouring texels), and one subgroupAdd per
// four outputs ends the block; on llvmpipe those reductions cost as much as a short
// reduction's products. For the input gradient, which reads W across its rows, the block's
// columns are whole chunks of those rows, so each chunk is fetched once and decoded step by
// step. Shared memory and per-iteration subgroup operations are avoided: both are slow on
// llvmpipe. Every loop over the tile has a constant trip count of at most BM or BN, so the
// compiler unrolls it and the sums stay in registers.

#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout (constant_id = 0) const uint WG = 8;
layout (constant_id = 1) const uint BM = 16;
layout (constant_id = 2) const uint BN = 16;
layout (constant_id = 3) const uint TYPE = 0;
layout (constant_id = 4) const uint MODE = 0;
// Reduction steps per iteration of the lanes' loop.
layout (constant_id = 5) const uint KU = 1;
// MODE 0: each lane owns whole blocks (1) rather than the subgroup splitting one block's
// reduction (0); see the host's choice in tailor-vk-matmul.c.
layout (constant_id = 6) const uint OWN = 0;
// Lanes owning blocks (the host packs only forwards): A comes packed by matmul-pack.comp
// (texel (r0 / BM · R4 + k) · BM + i holds step k of row r0 + i) rather than row-major.
layout (constant_id = 7) const uint PACK = 0;
// LoRA dropout (1): MODE 2 multiplies each element of X by its mask (ops-dropout.glsl) as
// read, MODE 1 each output of the product before it is added.
layout (constant_id = 8) const uint DROP = 0;
// What the end of a block does besides storing: bit 0 adds to what Y holds, bit 1 adds the bias.
// A constant rather than a push-constant test: llvmpipe runs both sides of every branch inside
// the unrolled store loop, so a bias fetch and a load of Y per output cost even when unused
// (up to a quarter of the forward at a reduction of 288).
layout (constant_id = 9) const uint FLAGS = 0;
// A LoRA pair's part, lanes owning blocks: its rank / 4 (0: none). MODE 0 adds
// lora_scale · xa (M, r) · Bᵀ (B (N, r)) to the product; MODE 1 adds dxa (M, r) · A (A (r, N)),
// masked by DROP there instead of the whole product. Reading the pair in the same pass saves the
// separate rank-r product, whose loads and stores of every output cost on llvmpipe what the
// multiply-adds of a reduction of hundreds do.
layout (constant_id = 10) const uint LORA_R4 = 0;
// MODE 1 over an F32 weight that matmul-transpose.comp turned round (1): WQ holds Wᵀ (N rows of
// the reduction R), read along the reduction with the forward's steps, where the weight in place
// is read across its rows, N · 4 bytes apart, which alias in a CPU's L1 cache. LoRA part, dropout
// and the end of a block stay MODE 1's.
layout (constant_id = 11) const uint TRANS = 0;
layout (local_size_x_id = 0) in;

layout (binding = 0, std430) buffer Y { float y[]; };
layout (binding = 1) uniform samplerBuffer A;   // RGBA32F: X (MODE 0) or dY (MODE 1, 2)
layout (binding = 2) uniform usamplerBuffer WQ; // RGBA32UI: the weight's quants (X in MODE 2)
layout (binding = 3) uniform usamplerBuffer WH; // R32UI: high bits of 5- and 6-bit quants
layout (binding = 4) uniform samplerBuffer WS;  // RG32F: per-chunk scales
layout (binding = 5) uniform samplerBuffer BIAS; // R32F: N values, read when flags bit 1 is set
layout (binding = 6) uniform isamplerBuffer Seed; // R32I: the dropout seed, with DROP
layout (binding = 7) uniform samplerBuffer LA;   // RGBA32F: xa (MODE 0) or dxa (MODE 1), M × r
layout (binding = 8) uniform samplerBuffer LB;   // RGBA32F: B (N, r) or A (r, N)

layout (push_constant) uniform Push {
  uint M;
  uint N;
  uint R; // the reduction's length, a multiple of 4
  uint flags; // unused: FLAGS says it
  float alpha; // scales the product, not the bias or what is accumulated onto
  float drop_p;
  float drop_keep;
  float lora_scale;
} pc;

#include "matmul-dequant.glsl"
#include "ops-dropout.glsl"

// How far apart A's texels of neighbouring reduction steps of one row lie.
const uint A_STEP = PACK != 0 ? BM : 1;

// BM / 4, never 0: an array of length 0 is invalid SPIR-V even where unused (BM < 4 is the
// matrix-vector path, which never takes MODE 2).
const uint BM4 = BM >= 4 ? BM / 4 : 1;

// acc[i][q][e] is the lane's partial sum for row r0 + i, column c0 + 4q + e of the block.
vec4 acc[BM][BN / 4];

// MODE 0, reduction step k: column j of the block is row c0 + j of W; w[e] holds its four
// weights at step k, so a · w gives four dot products.
void
forward_step (uint k, uint a_base[BM], uint w_base[BN])
{
  vec4 a[BM];

  for (uint i = 0; i < BM; i++)
    a[i] = texelFetch (A, int (a_base[i] + k * A_STEP));
  for (uint q = 0; q < BN / 4; q++)
    {
      mat4 w;

      for (uint e = 0; e < 4; e++)
        w[e] = w_load (w_base[4 * q + e], k);
      for (uint i = 0; i < BM; i++)
        acc[i][q] += a[i] * w;
    }
}

// MODE 0 with lanes owning blocks, chunk c of every row of the block (types of more than one
// step per chunk): each chunk's texels are fetched once and its STEPS steps decoded from
// registers, where forward_step fetches them again at every step.
void
forward_chunk (uint c, uint a_base[BM], uint w_base[BN])
{
  uvec4 q0[BN];
  uvec4 q1[BN];
  uint h0[BN];
  uint h1[BN];
  vec2 sc[BN];

  for (uint j = 0; j < BN; j++)
    {
      uint chunk = w_base[j] + c;

      q0[j] = texelFetch (WQ, int (w_quant_texel (chunk, 0)));
      q1[j] = TYPE == T_Q8_0 ? texelFetch (WQ, int (w_quant_texel (chunk, 4))) : q0[j];
      h0[j] = HAS_HIGH ? texelFetch (WH, int (w_high_word (chunk, 0))).x : 0u;
      h1[j] = TYPE == T_Q6_K ? texelFetch (WH, int (w_high_word (chunk, 4))).x : h0[j];
      sc[j] = HAS_SCALES ? texelFetch (WS, int (chunk)).xy : vec2 (0.0);
    }
  [[unroll]] for (uint s = 0; s < STEPS; s++)
    {
      vec4 a[BM];

      for (uint i = 0; i < BM; i++)
        a[i] = texelFetch (A, int (a_base[i] + (c * STEPS + s) * A_STEP));
      for (uint q = 0; q < BN / 4; q++)
        {
          mat4 w;

          for (uint e = 0; e < 4; e++)
            {
              uint j = 4 * q + e;

              w[e] = w_decode (s < 4 ? q0[j] : q1[j], s < 4 ? h0[j] : h1[j], sc[j], s);
            }
          for (uint i = 0; i < BM; i++)
            acc[i][q] += a[i] * w;
        }
    }
}

// MODE 1, reduction step k (the same for every lane): rows 4k … 4k + 3 of W. The lane's
// columns are BN / CE whole chunks of each row (the host makes BN a multiple of CE), starting
// at chunk `first`: each chunk's texels are fetched once and all its steps decoded from
// registers. The four rows' weights of a step form one matrix, so each sum is updated once per
// step rather than once per row: 1.6–1.9× as fast on llvmpipe (T = 512, Q8_0, Q4_K, F32).
void
input_step (uint k, uint a_base[BM], uint first)
{
  uint n_chunks = pc.N / CE;
  vec4 a[BM];

  for (uint i = 0; i < BM; i++)
    a[i] = texelFetch (A, int (a_base[i] + k * A_STEP));
  [[unroll]] for (uint cc = 0; cc < BN / CE; cc++)
    {
      uvec4 q0[4];
      uvec4 q1[4];
      uint h0[4];
      uint h1[4];
      vec2 sc[4];

      for (uint e = 0; e < 4; e++)
        {
          // Chunks past the edge re-read the last one; their sums are never stored.
          uint chunk = w_row_base (4 * k + e, pc.N / 4) + min (first + cc, n_chunks - 1);

          q0[e] = texelFetch (WQ, int (w_quant_texel (chunk, 0)));
          q1[e] = TYPE == T_Q8_0 ? texelFetch (WQ, int (w_quant_texel (chunk, 4))) : q0[e];
          h0[e] = HAS_HIGH ? texelFetch (WH, int (w_high_word (chunk, 0))).x : 0u;
          h1[e] = TYPE == T_Q6_K ? texelFetch (WH, int (w_high_word (chunk, 4))).x : h0[e];
          sc[e] = HAS_SCALES ? texelFetch (WS, int (chunk)).xy : vec2 (0.0);
        }
      [[unroll]] for (uint s = 0; s < STEPS; s++)
        {
          mat4 w;

          for (uint e = 0; e < 4; e++)
            w[e] = w_decode (s < 4 ? q0[e] : q1[e], s < 4 ? h0[e] : h1[e], sc[e], s);
          for (uint i = 0; i < BM; i++)
            acc[i][cc * STEPS + s] += w * a[i];
        }
    }
}

// MODE 0, LoRA step k of the block at rows r0, columns c0: the pair's rank is a short
// reduction after the weight's.
void
lora_forward_step (uint k, uint r0, uint c0)
{
  vec4 a[BM];

  for (uint i = 0; i < BM; i++)
    a[i] = pc.lora_scale * texelFetch (LA, int (min (r0 + i, pc.M - 1) * LORA_R4 + k));
  for (uint q = 0; q < BN / 4; q++)
    {
      mat4 w;

      for (uint e = 0; e < 4; e++)
        w[e] = texelFetch (LB, int (min (c0 + 4 * q + e, pc.N - 1) * LORA_R4 + k));
      for (uint i = 0; i < BM; i++)
        acc[i][q] += a[i] * w;
    }
}

// MODE 1, LoRA step k: rows 4k … 4k + 3 of A against step k of dxa.
void
lora_input_step (uint k, uint r0, uint c0)
{
  uint N4 = pc.N / 4;
  vec4 a[BM];

  for (uint i = 0; i < BM; i++)
    a[i] = texelFetch (LA, int (min (r0 + i, pc.M - 1) * LORA_R4 + k));
  for (uint q = 0; q < BN / 4; q++)
    {
      mat4 w;

      // Columns past the edge re-read the last texel; their sums are never stored.
      for (uint e = 0; e < 4; e++)
        w[e] = texelFetch (LB, int ((4 * k + e) * N4 + min (c0 / 4 + q, N4 - 1)));
      for (uint i = 0; i < BM; i++)
        acc[i][q] += w * a[i];
    }
}

const uint ACCUMULATE = 1;
const uint ADD_BIAS = 2;

void
main ()
{
  uint lanes = gl_SubgroupSize;
  uint lane = gl_SubgroupInvocationID;
  // Lanes own whole blocks (OWN forward, and always the input gradient, which reads W across
  // its rows) or split the reduction of one block (MODE 2, and the forward with OWN = 0).
  bool own = MODE == 1 || (MODE == 0 && OWN != 0);
  uint n_col_blocks = (pc.N + BN - 1) / BN;
  uint n_row_blocks = (pc.M + BM - 1) / BM;
  uint n_blocks = n_row_blocks * n_col_blocks;
  // Owned blocks are dealt to the lanes one each, so a subgroup takes `lanes` of them a round
  // and only the very last round can leave lanes idle, whatever N is.
  uint n_rounds = own ? (n_blocks + lanes - 1) / lanes : n_blocks;
  uint R4 = pc.R / 4;
  uint N4 = pc.N / 4;
  // The host sizes the grid from the subgroup size it was told; a device may pick another size
  // for this pipeline, so the subgroups stride over the rounds instead of owning a fixed one.
  uint stride = gl_NumWorkGroups.x * gl_NumSubgroups;
  uint seed_hash = DROP != 0 ? dropout_seed_hash (uint (texelFetch (Seed, 0).r)) : 0u;

  for (uint b = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; b < n_rounds; b += stride)
    {
      // An owned block past the end repeats the last one and is never stored.
      uint item = own ? min (b * lanes + lane, n_blocks - 1) : b;
      // Owned blocks: neighbouring lanes take neighbouring row blocks of one column block, so
      // they read the same weights while X or dY streams by. Split blocks: neighbouring
      // blocks share a row block of X, which stays in cache while W streams by.
      uint r0 = (own ? item % n_row_blocks : item / n_col_blocks) * BM;
      uint c0 = (own ? item / n_row_blocks : item % n_col_blocks) * BN;

      for (uint i = 0; i < BM; i++)
        for (uint q = 0; q < BN / 4; q++)
          acc[i][q] = vec4 (0.0);

      if (MODE == 2)
        {
          uint M4 = pc.M / 4;

          // BM is a multiple of 4 here; rows and columns past the edge re-read the last texel
          // and their sums are never stored.
          for (uint t = lane; t < pc.R; t += lanes)
            {
              vec4 dy[BM4];
              vec4 x[BN / 4];

              for (uint i = 0; i < BM4; i++)
                dy[i] = texelFetch (A, int (t * M4 + min (r0 / 4 + i, M4 - 1)));
              for (uint q = 0; q < BN / 4; q++)
                {
                  uint at = t * N4 + min (c0 / 4 + q, N4 - 1);

                  x[q] = uintBitsToFloat (texelFetch (WQ, int (at)));
                  if (DROP != 0)
                    x[q] *= dropout_mask4 (seed_hash, at * 4, pc.drop_p, pc.drop_keep);
                }
              for (uint i = 0; i < BM; i++)
                for (uint q = 0; q < BN / 4; q++)
                  acc[i][q] += dy[i / 4][i % 4] * x[q];
            }
        }
      else
        {
          uint a_base[BM];
          uint w_base[BN];
          uint first = c0 / CE;
          uint k = own ? 0 : lane;
          uint k_step = own ? 1 : lanes;

          for (uint i = 0; i < BM; i++)
            a_base[i] = PACK != 0 ? r0 * R4 + i : min (r0 + i, pc.M - 1) * R4;
          for (uint j = 0; j < BN; j++)
            w_base[j] = w_row_base (min (c0 + j, pc.N - 1), R4);
          // The LoRA part first: in MODE 1 the dropout mask covers only it.
          if (LORA_R4 > 0 && own)
            {
              for (uint lk = 0; lk < LORA_R4; lk++)
                if (MODE == 0)
                  lora_forward_step (lk, r0, c0);
                else
                  lora_input_step (lk, r0, c0);
              if (MODE == 1 && DROP != 0)
                for (uint i = 0; i < BM; i++)
                  for (uint q = 0; q < BN / 4; q++)
                    acc[i][q] *= dropout_mask4 (seed_hash, (r0 + i) * pc.N + c0 + 4 * q, pc.drop_p,
                                                pc.drop_keep);
            }
          // Owned forward blocks over chunks of several steps: a chunk per iteration.
          if (MODE == 0 && own && STEPS > 1)
            {
              for (uint c = 0; c < R4 / STEPS; c++)
                forward_chunk (c, a_base, w_base);
              k = R4; // nothing left for the loops below
            }
          // KU steps per iteration, then what is left one step at a time: llvmpipe blends every
          // sum with the loop's lane mask once per iteration, and longer iterations amortise
          // that.
          for (; k + (KU - 1) * k_step < R4; k += KU * k_step)
            for (uint u = 0; u < KU; u++)
              if (MODE == 0 || TRANS != 0)
                forward_step (k + u * k_step, a_base, w_base);
              else
                input_step (k + u, a_base, first);
          for (; KU > 1 && k < R4; k += k_step)
            if (MODE == 0 || TRANS != 0)
              forward_step (k, a_base, w_base);
            else
              input_step (k, a_base, first);
        }

      if (own)
        {
          // The lane holds whole outputs: no reduction across the subgroup.
          if (b * lanes + lane < n_blocks)
            for (uint i = 0; i < BM; i++)
              for (uint q = 0; q < BN / 4; q++)
                {
                  uint r = r0 + i;
                  uint c = c0 + 4 * q;

                  if (r < pc.M)
                    for (uint e = 0; e < 4; e++)
                      if (c + e < pc.N)
                        {
                          uint at = r * pc.N + c + e;
                          float v = pc.alpha * acc[i][q][e];

                          if (DROP != 0 && LORA_R4 == 0)
                            v *= dropout_mask (seed_hash, at, pc.drop_p, pc.drop_keep);

                          if ((FLAGS & ADD_BIAS) != 0)
                            v += texelFetch (BIAS, int (c + e)).x;
                          if ((FLAGS & ACCUMULATE) != 0)
                            v += y[at];
                          y[at] = v;
                        }
                }
          continue;
        }

      // Group g of four outputs is reduced by one subgroupAdd and kept by lane g % lanes; each
      // time every lane holds one, they all store at once (llvmpipe turns every storage-buffer
      // access into a loop over the lanes, so one store per group would cost `lanes` times more).
      vec4 mine = vec4 (0.0);

      for (uint i = 0; i < BM; i++)
        for (uint q = 0; q < BN / 4; q++)
          {
            uint g = i * (BN / 4) + q;
            vec4 s = subgroupAdd (acc[i][q]);

            mine = g % lanes == lane ? s : mine;
            if ((g + 1) % lanes == 0 || g + 1 == BM * BN / 4)
              {
                uint p = g - g % lanes + lane; // the group this lane holds
                uint r = r0 + p / (BN / 4);
                uint c = c0 + 4 * (p % (BN / 4));

                if (p <= g && r < pc.M)
                  for (uint e = 0; e < 4; e++)
                    if (c + e < pc.N)
                      {
                        uint at = r * pc.N + c + e;
                        float v = pc.alpha * mine[e];

                        if ((FLAGS & ADD_BIAS) != 0)
                          v += texelFetch (BIAS, int (c + e)).x;
                        if ((FLAGS & ACCUMULATE) != 0)
                          v += y[at];
                        y[at] = v;
                      }
              }
          }
    }
}
