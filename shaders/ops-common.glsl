// SPDX-License-Identifier: GPL-3.0-or-later
// What the op kernels share: the workgroup size, the 2-D grid's flat indices, a deterministic
// workgroup reduction and the LoRA dropout hash (ops-dropout.glsl).
//
// Workgroups are one subgroup wide on CPU implementations (llvmpipe compiles larger ones into
// coroutines, much slower to build) and 64 wide elsewhere; the host passes WG, a power of two.

layout (constant_id = 0) const uint WG = 64;
layout (local_size_x_id = 0) in;

// Large grids are 2-D because one grid dimension may be as small as 65535 workgroups.
uint
group_index ()
{
  return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
}

uint
global_index ()
{
  return group_index () * WG + gl_LocalInvocationID.x;
}

// Blocks of rows of n_heads attention heads, dealt so that a workgroup's invocations take
// neighbouring blocks of one head: they read that head's keys and values, which stay in cache,
// rather than a slice of every head's. The forward's fastest layer at T = 1024 on llvmpipe
// went from 36–38 to 30–33 ms in alternated runs; the backward passes showed no gain under the
// noise and keep one head per lane. The host dispatches ceil(n_blocks / WG) · n_heads
// workgroups. False past the last block.
bool
head_block (uint n_blocks, uint n_heads, out uint head, out uint block)
{
  uint g = group_index ();

  head = g % n_heads;
  block = (g / n_heads) * WG + gl_LocalInvocationID.x;
  return block < n_blocks;
}

shared float ops_reduce[WG];

// The sum of v over the workgroup: a fixed tree, so the result does not vary from run to run.
// Every invocation must call it.
float
wg_sum (float v)
{
  uint l = gl_LocalInvocationID.x;

  ops_reduce[l] = v;
  barrier ();
  for (uint s = WG / 2; s > 0; s >>= 1)
    {
      if (l < s)
        ops_reduce[l] += ops_reduce[l + s];
      barrier ();
    }
  float r = ops_reduce[0];
  barrier ();
  return r;
}

#include "ops-dropout.glsl"
