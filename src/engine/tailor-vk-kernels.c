/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Host side of the kernels: pipelines, shapes checked against device limits, grids. */
#include "config.h"

#include "tailor-vk-kernels.h"
#include "tailor-vk-private.h"

static gboolean
invalid (GError **error, const char *kernel, const char *problem)
{
  g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID, "%s: %s.", kernel, problem);
  return FALSE;
}

/* The caller's range narrowed to exactly bytes, or FALSE when it is shorter. */
static gboolean
exact_range (const TailorVkBufferRange *in, guint64 bytes, TailorVkBufferRange *out)
{
  gsize available;

  if (in == NULL || in->buffer == NULL || in->offset > in->buffer->size)
    return FALSE;
  available = in->size > 0 ? in->size : in->buffer->size - in->offset;
  if (bytes == 0 || bytes > available)
    return FALSE;
  *out = (TailorVkBufferRange){ in->buffer, in->offset, (gsize) bytes };
  return TRUE;
}

/* groups workgroups as an x × y grid within the device's limits (x fastest). */
static gboolean
grid_2d (const TailorVkDeviceInfo *info, guint64 groups, guint32 *x, guint32 *y)
{
  *x = (guint32) MIN (groups, (guint64) info->max_workgroup_count[0]);
  *y = (guint32) ((groups + *x - 1) / *x);
  return (guint64) *y <= info->max_workgroup_count[1];
}

gboolean
tailor_vk_swiglu_forward (TailorVkRecorder *rec,
                          const TailorVkBufferRange *out,
                          const TailorVkBufferRange *gate,
                          const TailorVkBufferRange *up,
                          guint64 n,
                          GError **error)
{
  static const TailorVkBinding bindings[] = {
    { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SFLOAT, FALSE },
  };
  TailorVkContext *ctx;
  const TailorVkDeviceInfo *info;
  TailorVkPipelineDesc desc = {
    .shader = "swiglu-forward",
    .bindings = bindings,
    .n_bindings = G_N_ELEMENTS (bindings),
    .push_constant_size = sizeof (guint32),
    .n_spec_constants = 1,
  };
  TailorVkBufferRange ranges[3];
  TailorVkPipeline *pipeline;
  guint32 wg, push, gx, gy;

  g_return_val_if_fail (rec != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = out != NULL && out->buffer != NULL ? out->buffer->ctx : NULL;
  if (ctx == NULL)
    return invalid (error, "swiglu", "no output buffer");
  info = ctx->info;
  if (n == 0 || n > G_MAXINT32 || n > info->max_texel_buffer_elements)
    return invalid (error, "swiglu", "the element count is 0 or beyond the texel buffer limit");
  if (!exact_range (out, n * 4, &ranges[0]) || !exact_range (gate, n * 4, &ranges[1]) ||
      !exact_range (up, n * 4, &ranges[2]))
    return invalid (error, "swiglu", "a buffer range is shorter than n floats");

  wg = MIN (64, MIN (info->max_workgroup_size[0], info->max_workgroup_invocations));
  desc.spec_constants = &wg;
  if (!grid_2d (info, (n + wg - 1) / wg, &gx, &gy))
    return invalid (error, "swiglu", "too many elements for one dispatch");
  pipeline = tailor_vk_pipeline_get (ctx, &desc, error);
  if (pipeline == NULL)
    return FALSE;
  push = (guint32) n;
  return tailor_vk_recorder_dispatch (rec, pipeline, "swiglu_forward", ranges, 3, &push,
                                      sizeof push, gx, gy, 1, error);
}

gboolean
tailor_vk_matmul_f32_forward (TailorVkRecorder *rec,
                              const TailorVkBufferRange *y,
                              const TailorVkBufferRange *x,
                              const TailorVkBufferRange *w,
                              guint T,
                              guint K,
                              guint N,
                              const TailorVkMatmulTiles *tiles,
                              GError **error)
{
  static const TailorVkBinding bindings[] = {
    { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
  };
  TailorVkContext *ctx;
  const TailorVkDeviceInfo *info;
  guint32 spec[3];
  TailorVkPipelineDesc desc = {
    .shader = "matmul-f32-splitk",
    .bindings = bindings,
    .n_bindings = G_N_ELEMENTS (bindings),
    .push_constant_size = 3 * sizeof (guint32),
    .spec_constants = spec,
    .n_spec_constants = G_N_ELEMENTS (spec),
  };
  TailorVkBufferRange ranges[3];
  TailorVkPipeline *pipeline;
  guint32 push[3];
  guint64 n_blocks, groups;
  guint32 per_group;

  g_return_val_if_fail (rec != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = y != NULL && y->buffer != NULL ? y->buffer->ctx : NULL;
  if (ctx == NULL)
    return invalid (error, "matmul", "no output buffer");
  info = ctx->info;
  if (T == 0 || K == 0 || N == 0 || K % 4 != 0)
    return invalid (error, "matmul", "T, K and N must be positive and K a multiple of 4");
  if ((guint64) T * K / 4 > info->max_texel_buffer_elements ||
      (guint64) N * K / 4 > info->max_texel_buffer_elements || (guint64) T * N > G_MAXUINT32)
    return invalid (error, "matmul", "the operands exceed the device's texel buffer limit");
  if (!exact_range (y, (guint64) T * N * 4, &ranges[0]) ||
      !exact_range (x, (guint64) T * K * 4, &ranges[1]) ||
      !exact_range (w, (guint64) N * K * 4, &ranges[2]))
    return invalid (error, "matmul", "a buffer range is shorter than its matrix");

  /* On llvmpipe a 16 × 16 block per 8-lane subgroup, one subgroup per workgroup, measured
   * fastest (more blocks per workgroup make llvmpipe build coroutines: slower to compile, no
   * faster). Other devices get a register-light 8 × 8 until the tiled GPU family exists. */
  spec[0] =
    tiles != NULL && tiles->workgroup_size > 0 ? tiles->workgroup_size : info->subgroup_size;
  spec[1] = tiles != NULL && tiles->block_m > 0  ? tiles->block_m
            : info->type == TAILOR_VK_DEVICE_CPU ? 16
                                                 : 8;
  spec[2] = tiles != NULL && tiles->block_n > 0  ? tiles->block_n
            : info->type == TAILOR_VK_DEVICE_CPU ? 16
                                                 : 8;
  if (spec[0] > info->max_workgroup_size[0] || spec[0] > info->max_workgroup_invocations ||
      spec[1] * spec[2] > 256 || spec[2] % 4 != 0)
    return invalid (error, "matmul",
                    "tiles need BN a multiple of 4, BM × BN ≤ 256 and a workgroup the device "
                    "allows");

  pipeline = tailor_vk_pipeline_get (ctx, &desc, error);
  if (pipeline == NULL)
    return FALSE;
  n_blocks = (guint64) ((T + spec[1] - 1) / spec[1]) * ((N + spec[2] - 1) / spec[2]);
  per_group = MAX (1, spec[0] / MAX (info->subgroup_size, 1));
  /* The shader strides over blocks, so a grid capped at the device limit still covers all. */
  groups = MIN ((n_blocks + per_group - 1) / per_group, (guint64) info->max_workgroup_count[0]);
  push[0] = T;
  push[1] = N;
  push[2] = K / 4;
  return tailor_vk_recorder_dispatch (rec, pipeline, "matmul_f32_forward", ranges, 3, push,
                                      sizeof push, (guint32) groups, 1, 1, error);
}
