// SPDX-License-Identifier: GPL-3.0-or-later
// The LoRA dropout mask, shared by the op kernels and the matmul kernels.

// Wellons' lowbias32, exactly as tailor-cpu-ref.c, so the dropout mask matches bit for bit.
uint
hash32 (uint x)
{
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// What a seed contributes to every element's hash: computed once per invocation.
uint
dropout_seed_hash (uint seed)
{
  return hash32 (seed + 0x9e3779b9u);
}

// tailor_ref_dropout_factor of element `index` from the seed's hash: 0 with probability p, else
// keep (= 1 / (1 − p), computed on the host because GLSL division need not round correctly).
float
dropout_mask (uint seed_hash, uint index, float p, float keep)
{
  float u = float (hash32 (index ^ seed_hash) >> 8) * (1.0 / 16777216.0);
  return u < p ? 0.0 : keep;
}

// The factors of elements index … index + 3.
vec4
dropout_mask4 (uint seed_hash, uint index, float p, float keep)
{
  return vec4 (dropout_mask (seed_hash, index, p, keep), dropout_mask (seed_hash, index + 1, p, keep),
               dropout_mask (seed_hash, index + 2, p, keep),
               dropout_mask (seed_hash, index + 3, p, keep));
}

float
dropout_factor (uint seed, uint index, float p, float keep)
{
  if (p <= 0.0)
    return 1.0;
  return dropout_mask (dropout_seed_hash (seed), index, p, keep);
}
