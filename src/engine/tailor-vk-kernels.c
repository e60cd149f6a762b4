/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Host side of the kernels: pipelines, shapes checked against device limits, grids. */
#include "config.h"

#include <math.h>
#include <string.h>

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

/* Whether a kernel over n elements with vec4 views (K_VSTORE, K_VTEXF) can take them four at a
 * time: n and every range's offset multiples of 4 floats. With vec4 loads and stores llvmpipe
 * ran a residual add 3.5× as fast as one float per invocation (0.8 against 2.8 ms, 512 × 288). */
static gboolean
vec4_fits (const TailorVkBufferRange *const *ranges, guint n_ranges, guint64 n)
{
  if (n % 4 != 0)
    return FALSE;
  for (guint i = 0; i < n_ranges; i++)
    if (ranges[i] != NULL && ranges[i]->offset % 16 != 0)
      return FALSE;
  return TRUE;
}

gboolean
tailor_vk_swiglu_forward (TailorVkRecorder *rec,
                          const TailorVkBufferRange *out,
                          const TailorVkBufferRange *gate,
                          const TailorVkBufferRange *up,
                          guint64 n,
                          GError **error)
{
  static const TailorVkBinding scalar[] = {
    { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SFLOAT, FALSE },
  };
  static const TailorVkBinding vector[] = {
    { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
  };
  TailorVkContext *ctx;
  const TailorVkDeviceInfo *info;
  TailorVkPipelineDesc desc = {
    .shader = "swiglu-forward",
    .n_bindings = G_N_ELEMENTS (scalar),
    .push_constant_size = sizeof (guint32),
    .n_spec_constants = 2,
  };
  TailorVkBufferRange ranges[3];
  TailorVkPipeline *pipeline;
  const TailorVkBufferRange *operands[3] = { out, gate, up };
  guint32 spec[2], push, gx, gy;

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

  spec[0] = MIN (64, MIN (info->max_workgroup_size[0], info->max_workgroup_invocations));
  /* four elements per invocation where the ranges allow (see vec4_fits) */
  spec[1] = vec4_fits (operands, 3, n);
  desc.spec_constants = spec;
  desc.bindings = spec[1] ? vector : scalar;
  if (!grid_2d (info, ((spec[1] ? n / 4 : n) + spec[0] - 1) / spec[0], &gx, &gy))
    return invalid (error, "swiglu", "too many elements for one dispatch");
  pipeline = tailor_vk_pipeline_get (ctx, &desc, error);
  if (pipeline == NULL)
    return FALSE;
  push = (guint32) n;
  return tailor_vk_recorder_dispatch (rec, pipeline, "swiglu_forward", ranges, 3, &push,
                                      sizeof push, gx, gy, 1, error);
}

static guint32
fbits (float f)
{
  guint32 u;

  memcpy (&u, &f, sizeof u);
  return u;
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
                              const TailorVkDropout *drop,
                              GError **error)
{
  static const TailorVkBinding bindings[] = {
    { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SINT, FALSE },
  };
  TailorVkContext *ctx;
  const TailorVkDeviceInfo *info;
  guint32 spec[5];
  TailorVkPipelineDesc desc = {
    .shader = "matmul-f32-splitk",
    .bindings = bindings,
    .n_bindings = G_N_ELEMENTS (bindings),
    .push_constant_size = 5 * sizeof (guint32),
    .spec_constants = spec,
    .n_spec_constants = G_N_ELEMENTS (spec),
  };
  TailorVkBufferRange ranges[4];
  TailorVkPipeline *pipeline;
  guint32 push[5];
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
  /* Without dropout a stand-in for the seed the kernel never reads. */
  ranges[3] = (TailorVkBufferRange){ ranges[2].buffer, ranges[2].offset, 16 };
  spec[4] = 0;
  push[3] = push[4] = 0;
  if (drop != NULL && drop->p > 0.0f)
    {
      if (drop->p >= 1.0f || !exact_range (drop->seed, 4, &ranges[3]))
        return invalid (error, "matmul", "dropout needs p below 1 and a seed");
      spec[4] = 1;
      push[3] = fbits (drop->p);
      push[4] = fbits (1.0f / (1.0f - drop->p));
    }

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

  /* On llvmpipe each lane owns whole blocks: the split form's closing subgroupAdds cost as
   * much as the products of a K of a few hundred (the training step's logits at T = 512,
   * K = 288 ran 2.8× as fast owning, load average 2). A matrix-vector product streams W
   * once either way. */
  spec[3] = info->type == TAILOR_VK_DEVICE_CPU;
  pipeline = tailor_vk_pipeline_get (ctx, &desc, error);
  if (pipeline == NULL)
    return FALSE;
  n_blocks = (guint64) ((T + spec[1] - 1) / spec[1]) * ((N + spec[2] - 1) / spec[2]);
  /* Lanes owning blocks take a subgroup's worth of them per round. */
  if (spec[3])
    n_blocks = (n_blocks + MAX (info->subgroup_size, 1) - 1) / MAX (info->subgroup_size, 1);
  per_group = MAX (1, spec[0] / MAX (info->subgroup_size, 1));
  /* The shader strides over blocks, so a grid capped at the device limit still covers all. */
  groups = MIN ((n_blocks + per_group - 1) / per_group, (guint64) info->max_workgroup_count[0]);
  push[0] = T;
  push[1] = N;
  push[2] = K / 4;
  return tailor_vk_recorder_dispatch (rec, pipeline, "matmul_f32_forward", ranges, 4, push,
                                      sizeof push, (guint32) groups, 1, 1, error);
}

/* ---- Op kernels ---- */

/* How a kernel sees each binding: its descriptor and the unit its offset is counted in. */
typedef enum
{
  K_STORE,  /* float storage buffer the kernel writes */
  K_STORE4, /* vec4 storage buffer the kernel writes */
  K_TEXF,   /* R32F uniform texel buffer */
  K_TEXF4,  /* RGBA32F uniform texel buffer */
  K_TEXI,   /* R32I uniform texel buffer (token ids, positions, seeds) */
  K_TEXU,   /* R32UI uniform texel buffer (raw quantized blocks) */
  K_IMG4,   /* RGBA32F storage texel buffer the kernel writes */
  /* vec4 views whose offsets count floats, for kernels that read and write four elements at a
   * time where every offset allows (see vec4_fits) and one at a time elsewhere */
  K_VSTORE, /* vec4 storage buffer the kernel writes */
  K_VTEXF,  /* RGBA32F uniform texel buffer */
} KBind;

static const TailorVkBinding kbindings[] = {
  [K_STORE] = { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
  [K_STORE4] = { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
  [K_TEXF] = { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SFLOAT, FALSE },
  [K_TEXF4] = { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
  [K_TEXI] = { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SINT, FALSE },
  [K_TEXU] = { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_UINT, FALSE },
  [K_IMG4] = { TAILOR_VK_BINDING_STORAGE_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, TRUE },
  [K_VSTORE] = { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
  [K_VTEXF] = { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
};

#define K_MAX_BINDINGS 8
#define K_MAX_PUSH     32

/* The size of the binding's element. */
static guint
kunit (KBind kind)
{
  return kind == K_STORE4 || kind == K_TEXF4 || kind == K_IMG4 || kind == K_VSTORE ||
             kind == K_VTEXF
           ? 16
           : 4;
}

/* The unit the binding's offset is counted in. */
static guint
koffset_unit (KBind kind)
{
  return kind == K_VSTORE || kind == K_VTEXF ? 4 : kunit (kind);
}


/* One subgroup on CPU implementations (see ops-common.glsl), 64 elsewhere; a power of two the
 * device allows. */
static guint32
op_workgroup (const TailorVkDeviceInfo *info)
{
  guint32 want = info->type == TAILOR_VK_DEVICE_CPU ? MAX (info->subgroup_size, 1) : 64;
  guint32 limit = MIN (info->max_workgroup_size[0], info->max_workgroup_invocations);
  guint32 wg = 1;

  while (wg * 2 <= MIN (want, limit))
    wg *= 2;
  return wg;
}

/* Binds the range around r that the device's alignment allows and returns where r starts in it,
 * in units of the binding's element. */
static gboolean
bind_range (const TailorVkDeviceInfo *info,
            const char *shader,
            guint index,
            KBind kind,
            const TailorVkBufferRange *r,
            TailorVkBufferRange *out,
            guint32 *offset,
            GError **error)
{
  gsize unit = kunit (kind);
  gsize offset_unit = koffset_unit (kind);
  gsize align = kbindings[kind].kind == TAILOR_VK_BINDING_STORAGE_BUFFER
                  ? (gsize) info->storage_buffer_alignment
                  : (gsize) info->texel_buffer_alignment;
  gsize size, base, span, limit;

  if (r == NULL || r->buffer == NULL || r->offset % offset_unit != 0 ||
      r->offset >= r->buffer->size)
    return invalid (error, shader, "a tensor lies outside its buffer or is misaligned");
  size = r->size > 0 ? r->size : r->buffer->size - r->offset;
  if (size > r->buffer->size - r->offset)
    return invalid (error, shader, "a tensor runs past the end of its buffer");
  align = MAX (MAX (align, unit), 1);
  base = r->offset / align * align;
  span = (r->offset - base + size + unit - 1) / unit * unit;
  span = MIN (span, (r->buffer->size - base) / unit * unit);
  limit = kbindings[kind].kind == TAILOR_VK_BINDING_STORAGE_BUFFER
            ? (gsize) info->max_storage_buffer_range
            : (gsize) info->max_texel_buffer_elements * unit;
  if (span > limit || (r->offset - base) / offset_unit > G_MAXUINT32)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "%s: binding %u spans %" G_GSIZE_FORMAT
                   " bytes; “%s” binds at most %" G_GSIZE_FORMAT
                   " bytes. Use a smaller batch or sequence length.",
                   shader, index, span, info->name, limit);
      return FALSE;
    }
  *out = (TailorVkBufferRange){ r->buffer, base, span };
  *offset = (guint32) ((r->offset - base) / offset_unit);
  return TRUE;
}

/* Records shader over groups workgroups with ranges[i] at binding i; push[i] receives binding
 * i's element offset, push[n..n_push) are the kernel's own words. spec[0..n_spec) are
 * constants 1, 2, … (constant 0 is the workgroup size). */
static gboolean
op_dispatch_spec (TailorVkRecorder *rec,
                  const char *shader,
                  const KBind *kinds,
                  const TailorVkBufferRange *const *ranges,
                  guint n,
                  guint32 *push,
                  guint n_push,
                  const guint32 *extra,
                  guint n_extra,
                  guint64 groups,
                  GError **error)
{
  TailorVkContext *ctx = ranges[0]->buffer->ctx;
  const TailorVkDeviceInfo *info = ctx->info;
  TailorVkBinding bindings[K_MAX_BINDINGS];
  TailorVkBufferRange resolved[K_MAX_BINDINGS];
  guint32 spec[3];
  TailorVkPipelineDesc desc = {
    .shader = shader,
    .bindings = bindings,
    .n_bindings = n,
    .push_constant_size = n_push * sizeof (guint32),
    .spec_constants = spec,
    .n_spec_constants = 1 + n_extra,
  };
  TailorVkPipeline *pipeline;
  guint32 gx, gy;

  g_assert (n <= K_MAX_BINDINGS && n_push <= K_MAX_PUSH && n <= n_push &&
            n_extra < G_N_ELEMENTS (spec));
  for (guint i = 0; i < n; i++)
    {
      bindings[i] = kbindings[kinds[i]];
      if (!bind_range (info, shader, i, kinds[i], ranges[i], &resolved[i], &push[i], error))
        return FALSE;
    }
  if (groups == 0)
    return TRUE;
  if (!grid_2d (info, groups, &gx, &gy))
    return invalid (error, shader, "too many workgroups for one dispatch");
  spec[0] = op_workgroup (info);
  for (guint i = 0; i < n_extra; i++)
    spec[1 + i] = extra[i];
  pipeline = tailor_vk_pipeline_get (ctx, &desc, error);
  if (pipeline == NULL)
    return FALSE;
  return tailor_vk_recorder_dispatch (rec, pipeline, shader, resolved, n, push,
                                      n_push * sizeof (guint32), gx, gy, 1, error);
}

/* op_dispatch_spec with spec1 as constant 1 (none when negative). */
static gboolean
op_dispatch (TailorVkRecorder *rec,
             const char *shader,
             const KBind *kinds,
             const TailorVkBufferRange *const *ranges,
             guint n,
             guint32 *push,
             guint n_push,
             gint64 spec1,
             guint64 groups,
             GError **error)
{
  guint32 extra = spec1 >= 0 ? (guint32) spec1 : 0;

  return op_dispatch_spec (rec, shader, kinds, ranges, n, push, n_push, &extra, spec1 >= 0,
                           groups, error);
}

static guint32
wg_of (const TailorVkBufferRange *r)
{
  return op_workgroup (r->buffer->ctx->info);
}

static guint64
groups_for (const TailorVkBufferRange *r, guint64 invocations)
{
  guint32 wg = wg_of (r);

  return (invocations + wg - 1) / wg;
}

static gboolean
fits_u32 (guint64 n, const char *kernel, GError **error)
{
  if (n > G_MAXUINT32 / 2)
    return invalid (error, kernel, "the tensor has too many elements");
  return TRUE;
}

/* A buffer fill rather than a kernel: llvmpipe stores from a kernel one lane at a time, a fill
 * is a memset. */
gboolean
tailor_vk_op_zero (TailorVkRecorder *rec, const TailorVkBufferRange *out, guint64 n, GError **error)
{
  TailorVkBufferRange r;

  if (out == NULL || out->buffer == NULL || out->offset % 4 != 0 ||
      out->offset + n * 4 > out->buffer->size)
    return invalid (error, "ops-zero", "a tensor lies outside its buffer or is misaligned");
  r = (TailorVkBufferRange){ out->buffer, out->offset, (gsize) n * 4 };
  if (n == 0)
    return TRUE;
  return tailor_vk_recorder_fill (rec, &r, 0, "ops-zero", error);
}

gboolean
tailor_vk_op_add (TailorVkRecorder *rec,
                  const TailorVkBufferRange *out,
                  const TailorVkBufferRange *a,
                  const TailorVkBufferRange *b,
                  guint64 n,
                  guint64 nb,
                  GError **error)
{
  static const KBind kinds[] = { K_VSTORE, K_VTEXF, K_VTEXF };
  const TailorVkBufferRange *r[] = { out, a, b };
  guint32 push[5];
  gboolean vec4;

  if (!fits_u32 (n, "ops-add", error))
    return FALSE;
  if (nb == 0 || nb > n)
    return invalid (error, "ops-add", "the second operand is empty or longer than the first");
  vec4 = vec4_fits (r, 3, n) && nb % 4 == 0;
  push[3] = (guint32) n;
  push[4] = (guint32) nb;
  return op_dispatch (rec, "ops-add", kinds, r, 3, push, 5, vec4,
                      groups_for (out, vec4 ? n / 4 : n), error);
}

gboolean
tailor_vk_op_swiglu_backward (TailorVkRecorder *rec,
                              const TailorVkBufferRange *dgate,
                              const TailorVkBufferRange *dup,
                              const TailorVkBufferRange *dout,
                              const TailorVkBufferRange *gate,
                              const TailorVkBufferRange *up,
                              guint64 n,
                              GError **error)
{
  static const KBind kinds[] = { K_VSTORE, K_VSTORE, K_VTEXF, K_VTEXF, K_VTEXF };
  const TailorVkBufferRange *r[] = { dgate, dup, dout, gate, up };
  guint32 push[6];
  gboolean vec4 = vec4_fits (r, 5, n);

  if (!fits_u32 (n, "ops-swiglu-backward", error))
    return FALSE;
  push[5] = (guint32) n;
  return op_dispatch (rec, "ops-swiglu-backward", kinds, r, 5, push, 6, vec4,
                      groups_for (dgate, vec4 ? n / 4 : n), error);
}

gboolean
tailor_vk_op_rmsnorm (TailorVkRecorder *rec,
                      const TailorVkBufferRange *out,
                      const TailorVkBufferRange *rstd,
                      const TailorVkBufferRange *inp,
                      const TailorVkBufferRange *weight,
                      guint T,
                      guint C,
                      float eps,
                      GError **error)
{
  static const KBind kinds[] = { K_STORE, K_STORE, K_TEXF, K_TEXF };
  /* Without rstd, out stands in for the binding; the kernel does not store to it. */
  const TailorVkBufferRange *r[] = { out, rstd != NULL ? rstd : out, inp, weight };
  guint32 push[8];

  if (!fits_u32 ((guint64) T * C, "ops-rmsnorm", error))
    return FALSE;
  push[4] = T;
  push[5] = C;
  push[6] = fbits (eps);
  push[7] = rstd != NULL;
  return op_dispatch (rec, "ops-rmsnorm", kinds, r, 4, push, 8, -1, T, error);
}

gboolean
tailor_vk_op_rmsnorm_backward (TailorVkRecorder *rec,
                               const TailorVkBufferRange *dinp,
                               const TailorVkBufferRange *dweight,
                               const TailorVkBufferRange *scratch,
                               const TailorVkBufferRange *dout,
                               const TailorVkBufferRange *inp,
                               const TailorVkBufferRange *weight,
                               guint T,
                               guint C,
                               float eps,
                               GError **error)
{
  static const KBind row_kinds[] = { K_STORE, K_STORE, K_TEXF, K_TEXF, K_TEXF };
  static const KBind col_kinds[] = { K_STORE, K_TEXF, K_TEXF, K_TEXF };
  const TailorVkBufferRange *row[] = { dinp != NULL ? dinp : scratch, scratch, dout, inp, weight };
  guint32 push[9];

  if (!fits_u32 ((guint64) T * C, "ops-rmsnorm-backward", error))
    return FALSE;
  push[5] = T;
  push[6] = C;
  push[7] = fbits (eps);
  push[8] = dinp != NULL;
  if (!op_dispatch (rec, "ops-rmsnorm-backward", row_kinds, row, 5, push, 9, -1, T, error))
    return FALSE;
  if (dweight != NULL)
    {
      const TailorVkBufferRange *col[] = { dweight, dout, inp, scratch };

      push[4] = T;
      push[5] = C;
      return op_dispatch (rec, "ops-rmsnorm-dweight", col_kinds, col, 4, push, 6, -1,
                          groups_for (dweight, C), error);
    }
  return TRUE;
}

gboolean
tailor_vk_op_rope (TailorVkRecorder *rec,
                   const TailorVkBufferRange *x,
                   const TailorVkBufferRange *pos,
                   const TailorVkBufferRange *factors,
                   guint T,
                   guint n_head,
                   guint head_dim,
                   guint n_rot,
                   float freq_base,
                   float freq_scale,
                   gboolean neox,
                   gboolean inverse,
                   GError **error)
{
  static const KBind kinds[] = { K_STORE, K_TEXI, K_TEXF };
  const TailorVkBufferRange *r[] = { x, pos, factors != NULL ? factors : pos };
  guint32 push[12];
  /* one invocation per token and pair index, over every head */
  guint64 items = (guint64) T * (n_rot / 2);

  if (n_rot % 2 != 0 || n_rot > head_dim || freq_base <= 0.0f)
    return invalid (error, "ops-rope",
                    "n_rot must be even and at most head_dim, the base positive");
  if (!fits_u32 ((guint64) T * n_head * head_dim, "ops-rope", error))
    return FALSE;
  push[3] = T;
  push[4] = n_head;
  push[5] = head_dim;
  push[6] = n_rot;
  push[7] = neox;
  push[8] = inverse;
  push[9] = factors != NULL;
  push[10] = fbits ((float) log2 (freq_base));
  push[11] = fbits (freq_scale);
  return op_dispatch (rec, "ops-rope", kinds, r, 3, push, 12, factors != NULL, groups_for (x, items),
                      error);
}

gboolean
tailor_vk_type_is_gatherable (int type)
{
  switch (type)
    {
      case 0:  /* F32 */
      case 1:  /* F16 */
      case 2:  /* Q4_0 */
      case 3:  /* Q4_1 */
      case 6:  /* Q5_0 */
      case 7:  /* Q5_1 */
      case 8:  /* Q8_0 */
      case 12: /* Q4_K */
      case 13: /* Q5_K */
      case 14: /* Q6_K */
      case 30: /* BF16 */
        return TRUE;
      default:
        return FALSE;
    }
}

/* Bytes of a row of C values; 0 when C is not a whole number of blocks. */
static guint64
gather_row_bytes (int type, guint C)
{
  guint block = type == 0 || type == 1 || type == 30 ? 1 : type >= 12 && type <= 14 ? 256 : 32;
  guint64 size;

  switch (type)
    {
      case 0:
        size = 4;
        break;
      case 1:
      case 30:
        size = 2;
        break;
      case 2:
        size = 18;
        break;
      case 3:
        size = 20;
        break;
      case 6:
        size = 22;
        break;
      case 7:
        size = 24;
        break;
      case 8:
        size = 34;
        break;
      case 12:
        size = 144;
        break;
      case 13:
        size = 176;
        break;
      default:
        size = 210;
        break;
    }
  return C % block == 0 ? (guint64) C / block * size : 0;
}

gboolean
tailor_vk_op_embedding (TailorVkRecorder *rec,
                        const TailorVkBufferRange *out,
                        const TailorVkBufferRange *w,
                        int type,
                        guint n_rows,
                        const TailorVkBufferRange *tokens,
                        guint row0,
                        guint T,
                        guint C,
                        GError **error)
{
  static const KBind kinds[] = { K_STORE, K_TEXU, K_TEXI };
  const TailorVkBufferRange *r[] = { out, w, tokens != NULL ? tokens : out };
  guint64 row_bytes = gather_row_bytes (type, C);
  guint32 push[9];

  if (!tailor_vk_type_is_gatherable (type) || row_bytes == 0)
    return invalid (error, "ops-embedding",
                    "the weight type has no gather kernel or its rows are not whole blocks");
  if (!fits_u32 ((guint64) T * C, "ops-embedding", error) ||
      !fits_u32 (row_bytes * n_rows, "ops-embedding", error))
    return FALSE;
  push[3] = T;
  push[4] = C;
  push[5] = n_rows;
  push[6] = (guint32) row_bytes;
  push[7] = tokens != NULL;
  push[8] = row0;
  return op_dispatch (rec, "ops-embedding", kinds, r, 3, push, 9, type,
                      groups_for (out, (guint64) T * C), error);
}

gboolean
tailor_vk_op_embedding_backward (TailorVkRecorder *rec,
                                 const TailorVkBufferRange *dembd,
                                 const TailorVkBufferRange *dout,
                                 const TailorVkBufferRange *tokens,
                                 guint T,
                                 guint C,
                                 guint n_rows,
                                 GError **error)
{
  static const KBind kinds[] = { K_STORE, K_TEXF, K_TEXI };
  const TailorVkBufferRange *r[] = { dembd, dout, tokens };
  guint32 push[6];

  if (!fits_u32 ((guint64) T * C, "ops-embedding-backward", error) ||
      !fits_u32 ((guint64) n_rows * C, "ops-embedding-backward", error))
    return FALSE;
  push[3] = T;
  push[4] = C;
  push[5] = n_rows;
  return op_dispatch (rec, "ops-embedding-backward", kinds, r, 3, push, 6, -1,
                      groups_for (dembd, (guint64) T * C), error);
}

/* Rows per invocation of the attention kernels (their BQ and BK): one on GPUs; on CPU devices
 * enough that each fetched texel serves several rows while a lane's arrays (two to four of
 * BQ × HD floats) stay within a few KiB. TAILOR_VK_ATTENTION_BLOCK=N overrides it (tests,
 * comparisons). */
static guint32
attention_block (const TailorVkBufferRange *r, guint hd)
{
  const char *forced = g_getenv ("TAILOR_VK_ATTENTION_BLOCK");
  guint64 n = forced != NULL ? g_ascii_strtoull (forced, NULL, 10) : 0;

  if (n >= 1 && n <= 16)
    return (guint32) n;
  if (r->buffer->ctx->info->type != TAILOR_VK_DEVICE_CPU)
    return 1;
  return CLAMP (256 / hd, 1, 8);
}

/* Workgroups for n_blocks blocks of rows of each of n_heads heads, dealt a head per workgroup
 * (ops-common.glsl's head_block). */
static guint64
head_block_groups (const TailorVkBufferRange *r, guint64 n_blocks, guint n_heads)
{
  return groups_for (r, n_blocks) * n_heads;
}

static gboolean
check_attention (guint T, guint n_head, guint n_head_kv, guint hd, GError **error)
{
  if (n_head == 0 || n_head_kv == 0 || n_head % n_head_kv != 0)
    return invalid (error, "ops-attention", "n_head must be a multiple of n_head_kv");
  if (hd == 0 || hd % 4 != 0 || hd > 256)
    return invalid (error, "ops-attention", "head_dim must be a multiple of 4 up to 256");
  return fits_u32 ((guint64) T * n_head * hd, "ops-attention", error);
}

gboolean
tailor_vk_op_attention (TailorVkRecorder *rec,
                        const TailorVkBufferRange *out,
                        const TailorVkBufferRange *lse,
                        const TailorVkBufferRange *q,
                        const TailorVkBufferRange *k,
                        const TailorVkBufferRange *v,
                        guint T,
                        guint n_head,
                        guint n_head_kv,
                        guint hd,
                        GError **error)
{
  static const KBind kinds[] = { K_STORE4, K_STORE, K_TEXF4, K_TEXF4, K_TEXF4 };
  const TailorVkBufferRange *r[] = { out, lse != NULL ? lse : out, q, k, v };
  guint32 push[10];
  guint32 spec[2] = { hd, attention_block (out, hd) };

  if (!check_attention (T, n_head, n_head_kv, hd, error))
    return FALSE;
  push[5] = T;
  push[6] = n_head;
  push[7] = n_head_kv;
  push[8] = fbits (1.0f / sqrtf ((float) hd));
  push[9] = lse != NULL;
  return op_dispatch_spec (rec, "ops-attention", kinds, r, 5, push, 10, spec, 2,
                           head_block_groups (out, (T + spec[1] - 1) / spec[1], n_head), error);
}

gboolean
tailor_vk_op_attention_cached (TailorVkRecorder *rec,
                               const TailorVkBufferRange *out,
                               const TailorVkBufferRange *k_cache,
                               const TailorVkBufferRange *v_cache,
                               const TailorVkBufferRange *q,
                               const TailorVkBufferRange *k,
                               const TailorVkBufferRange *v,
                               const TailorVkBufferRange *pos,
                               guint T,
                               guint n_ctx,
                               guint n_head,
                               guint n_head_kv,
                               guint hd,
                               GError **error)
{
  static const KBind kinds[] = { K_STORE4, K_STORE4, K_STORE4, K_TEXF4, K_TEXF4, K_TEXF4, K_TEXI };
  const TailorVkBufferRange *r[] = { out, k_cache, v_cache, q, k, v, pos };
  guint32 push[12];

  if (!check_attention (T, n_head, n_head_kv, hd, error) ||
      !fits_u32 ((guint64) n_ctx * n_head_kv * hd, "ops-attention-cached", error))
    return FALSE;
  if (T == 0 || n_ctx < T)
    return invalid (error, "ops-attention-cached", "the cache is shorter than the queries");
  push[7] = T;
  push[8] = n_head;
  push[9] = n_head_kv;
  push[10] = fbits (1.0f / sqrtf ((float) hd));
  push[11] = n_ctx;
  return op_dispatch (rec, "ops-attention-cached", kinds, r, 7, push, 12, hd,
                      groups_for (out, (guint64) T * n_head), error);
}

gboolean
tailor_vk_op_attention_backward (TailorVkRecorder *rec,
                                 const TailorVkBufferRange *dq,
                                 const TailorVkBufferRange *dk,
                                 const TailorVkBufferRange *dv,
                                 const TailorVkBufferRange *delta,
                                 const TailorVkBufferRange *dout,
                                 const TailorVkBufferRange *out,
                                 const TailorVkBufferRange *lse,
                                 const TailorVkBufferRange *q,
                                 const TailorVkBufferRange *k,
                                 const TailorVkBufferRange *v,
                                 guint T,
                                 guint n_head,
                                 guint n_head_kv,
                                 guint hd,
                                 GError **error)
{
  static const KBind q_kinds[] = { K_STORE4, K_STORE, K_TEXF4, K_TEXF4,
                                   K_TEXF,   K_TEXF4, K_TEXF4, K_TEXF4 };
  static const KBind kv_kinds[] = { K_STORE4, K_STORE4, K_TEXF4, K_TEXF,
                                    K_TEXF,   K_TEXF4,  K_TEXF4, K_TEXF4 };
  const TailorVkBufferRange *qr[] = { dq, delta, dout, out, lse, q, k, v };
  const TailorVkBufferRange *kvr[] = { dk, dv, dout, lse, delta, q, k, v };
  guint32 push[12];
  guint32 spec[2] = { hd, attention_block (dq, hd) };

  if (!check_attention (T, n_head, n_head_kv, hd, error))
    return FALSE;
  push[8] = T;
  push[9] = n_head;
  push[10] = n_head_kv;
  push[11] = fbits (1.0f / sqrtf ((float) hd));
  if (!op_dispatch_spec (rec, "ops-attention-backward-q", q_kinds, qr, 8, push, 12, spec, 2,
                         groups_for (dq, (guint64) (T + spec[1] - 1) / spec[1] * n_head), error))
    return FALSE;
  return op_dispatch_spec (rec, "ops-attention-backward-kv", kv_kinds, kvr, 8, push, 12, spec, 2,
                           groups_for (dk, (guint64) (T + spec[1] - 1) / spec[1] * n_head_kv),
                           error);
}

gboolean
tailor_vk_op_gemm (TailorVkRecorder *rec,
                   const TailorVkBufferRange *c,
                   const TailorVkBufferRange *a,
                   const TailorVkBufferRange *b,
                   const TailorVkBufferRange *bias,
                   const TailorVkBufferRange *seed,
                   const TailorVkGemm *g,
                   GError **error)
{
  static const KBind kinds[] = { K_STORE, K_TEXF, K_TEXF, K_TEXF, K_TEXI, K_IMG4 };
  TailorVkBufferRange c_head = { c != NULL ? c->buffer : NULL, 0, 16 };
  const TailorVkBufferRange *r[] = {
    c, a, b != NULL ? b : a, bias != NULL ? bias : a, seed != NULL ? seed : a, c
  };
  const TailorVkDeviceInfo *info;
  guint32 push[18];
  guint32 flags = 0;
  gboolean vec4_out;

  if ((b == NULL && !g->b_ones) || (g->drop != TAILOR_VK_DROP_NONE && seed == NULL))
    return invalid (error, "ops-matmul-generic", "an operand or the dropout seed is missing");
  if (!fits_u32 ((guint64) g->M * g->N, "ops-matmul-generic", error))
    return FALSE;
  if (g->accumulate)
    flags |= 1;
  if (bias != NULL)
    flags |= 2;
  if (g->b_ones)
    flags |= 4;
  if (g->drop == TAILOR_VK_DROP_A)
    flags |= 16;
  else if (g->drop == TAILOR_VK_DROP_B)
    flags |= 32;
  else if (g->drop == TAILOR_VK_DROP_C)
    flags |= 64;
  push[6] = g->M;
  push[7] = g->N;
  push[8] = g->K;
  push[9] = g->ldc;
  push[10] = g->sam;
  push[11] = g->sak;
  push[12] = g->sbn;
  push[13] = g->sbk;
  push[14] = fbits (g->alpha);
  push[15] = flags;
  push[16] = fbits (g->drop != TAILOR_VK_DROP_NONE ? g->dropout : 0.0f);
  push[17] = fbits (g->dropout > 0.0f && g->dropout < 1.0f ? 1.0f / (1.0f - g->dropout) : 1.0f);
  /* C's rows as whole texels: each starts 16-byte aligned and N fills whole texels (the texel
   * binding itself must start at the device's texel alignment, which bind_range rounds to) */
  info = c != NULL && c->buffer != NULL ? c->buffer->ctx->info : NULL;
  vec4_out =
    info != NULL && c->offset % 16 == 0 && g->ldc % 4 == 0 && g->N % 4 == 0 &&
    (c->size > 0 ? c->size : c->buffer->size - c->offset) / 16 <= info->max_texel_buffer_elements;
  /* the texel view of C is bound either way (the shader names it); unused, it covers the
   * first texel of C's buffer */
  if (!vec4_out)
    r[5] = &c_head;
  /* one invocation per 4 × 4 block of C (the shader's BM × BN) */
  return op_dispatch (rec, "ops-matmul-generic", kinds, r, 6, push, 18, vec4_out ? 1 : 0,
                      groups_for (c, (guint64) ((g->M + 3) / 4) * ((g->N + 3) / 4)), error);
}

gboolean
tailor_vk_op_cross_entropy_chunk (TailorVkRecorder *rec,
                                  const TailorVkBufferRange *state,
                                  const TailorVkBufferRange *logits,
                                  const TailorVkBufferRange *targets,
                                  guint T,
                                  guint nc,
                                  guint v0,
                                  gboolean first,
                                  GError **error)
{
  static const KBind kinds[] = { K_STORE, K_TEXF, K_TEXI };
  const TailorVkBufferRange *r[] = { state, logits, targets };
  guint32 push[7];

  if (!fits_u32 ((guint64) T * nc, "ops-cross-entropy-chunk", error))
    return FALSE;
  push[3] = T;
  push[4] = nc;
  push[5] = v0;
  push[6] = first;
  return op_dispatch (rec, "ops-cross-entropy-chunk", kinds, r, 3, push, 7, -1,
                      groups_for (state, T), error);
}

gboolean
tailor_vk_op_cross_entropy_finish (TailorVkRecorder *rec,
                                   const TailorVkBufferRange *loss,
                                   const TailorVkBufferRange *lse,
                                   const TailorVkBufferRange *state,
                                   const TailorVkBufferRange *mask,
                                   guint T,
                                   GError **error)
{
  static const KBind kinds[] = { K_STORE, K_STORE, K_TEXF, K_TEXF };
  const TailorVkBufferRange *r[] = { loss, lse != NULL ? lse : loss, state, mask };
  guint32 push[6];

  push[4] = T;
  push[5] = lse != NULL;
  return op_dispatch (rec, "ops-cross-entropy-finish", kinds, r, 4, push, 6, -1, 1, error);
}

gboolean
tailor_vk_op_cross_entropy_backward (TailorVkRecorder *rec,
                                     const TailorVkBufferRange *logits,
                                     const TailorVkBufferRange *lse,
                                     const TailorVkBufferRange *targets,
                                     const TailorVkBufferRange *mask,
                                     const TailorVkBufferRange *dloss,
                                     guint T,
                                     guint nc,
                                     guint v0,
                                     GError **error)
{
  static const KBind kinds[] = { K_STORE, K_TEXF, K_TEXI, K_TEXF, K_TEXF };
  const TailorVkBufferRange *r[] = { logits, lse, targets, mask, dloss };
  guint32 push[8];

  if (!fits_u32 ((guint64) T * nc, "ops-cross-entropy-backward", error))
    return FALSE;
  push[5] = T;
  push[6] = nc;
  push[7] = v0;
  /* each workgroup covers 64 (the shader's PER) elements per invocation */
  return op_dispatch (rec, "ops-cross-entropy-backward", kinds, r, 5, push, 8, -1,
                      groups_for (logits, ((guint64) T * nc + 63) / 64), error);
}

gboolean
tailor_vk_op_reduce (TailorVkRecorder *rec,
                     const TailorVkBufferRange *out,
                     const TailorVkBufferRange *x,
                     guint64 n,
                     guint span,
                     gboolean square,
                     GError **error)
{
  static const KBind kinds[] = { K_STORE, K_TEXF };
  const TailorVkBufferRange *r[] = { out, x };
  guint32 push[5];

  if (span == 0 || !fits_u32 (n, "ops-reduce-sumsq", error))
    return FALSE;
  push[2] = (guint32) n;
  push[3] = span;
  push[4] = square;
  return op_dispatch (rec, "ops-reduce-sumsq", kinds, r, 2, push, 5, -1, (n + span - 1) / span,
                      error);
}

gboolean
tailor_vk_op_adamw (TailorVkRecorder *rec,
                    const TailorVkBufferRange *param,
                    const TailorVkBufferRange *m,
                    const TailorVkBufferRange *v,
                    const TailorVkBufferRange *grad,
                    const TailorVkBufferRange *hyper,
                    const TailorVkBufferRange *norm_sq,
                    guint64 n,
                    GError **error)
{
  static const KBind kinds[] = { K_STORE, K_STORE, K_STORE, K_TEXF, K_TEXF, K_TEXF };
  const TailorVkBufferRange *r[] = { param, m, v, grad, hyper, norm_sq != NULL ? norm_sq : hyper };
  guint32 push[8];

  if (!fits_u32 (n, "ops-adamw", error))
    return FALSE;
  push[6] = (guint32) n;
  push[7] = norm_sq != NULL;
  /* 16 (the shader's PER) elements per invocation */
  return op_dispatch (rec, "ops-adamw", kinds, r, 6, push, 8, -1, groups_for (param, (n + 15) / 16),
                      error);
}
