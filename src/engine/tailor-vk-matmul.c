/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Host side of the quantized matmuls: the device weight layout, tile choice per device class,
 * dispatch, and the benchmark. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tailor-vk-matmul.h"
#include "tailor-vk-kernels.h"
#include "tailor-vk-private.h"

#define SECOND G_GUINT64_CONSTANT (1000000000)

/* Spec constant 4 of both shaders. */
enum
{
  MODE_FORWARD = 0,
  MODE_INPUT = 1,
  MODE_WEIGHT = 2,
};

/* Push constant flags. */
enum
{
  FLAG_ACCUMULATE = 1,
  FLAG_BIAS = 2,
};

struct _TailorVkWeight
{
  TailorType type;
  gint64 IC;
  gint64 OC;
  TailorVkBuffer *buffer;
  /* Sections of buffer: quants (RGBA32UI), high bits (R32UI), scales (RG32F). A section a
   * type lacks is a 16-byte stand-in, so every binding has something valid to view. */
  gsize q_off, q_size;
  gsize h_off, h_size;
  gsize s_off, s_size;
};

static gboolean
invalid (GError **error, const char *what, const char *problem)
{
  g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID, "%s: %s.", what, problem);
  return FALSE;
}

gboolean
tailor_vk_matmul_supports_type (TailorType type)
{
  switch ((int) type)
    {
      case TAILOR_TYPE_F32:
      case TAILOR_TYPE_F16:
      case TAILOR_TYPE_BF16:
      case TAILOR_TYPE_Q4_0:
      case TAILOR_TYPE_Q4_1:
      case TAILOR_TYPE_Q5_0:
      case TAILOR_TYPE_Q5_1:
      case TAILOR_TYPE_Q8_0:
      case TAILOR_TYPE_Q4_K:
      case TAILOR_TYPE_Q5_K:
      case TAILOR_TYPE_Q6_K:
        return TRUE;
      default:
        return FALSE;
    }
}

/* Elements per chunk, as matmul-dequant.glsl's CE. */
static guint
chunk_elements (TailorType type)
{
  switch ((int) type)
    {
      case TAILOR_TYPE_F32:
        return 4;
      case TAILOR_TYPE_F16:
      case TAILOR_TYPE_BF16:
        return 8;
      default:
        return 32;
    }
}

static guint
quant_texels_per_chunk (TailorType type)
{
  return type == TAILOR_TYPE_Q8_0 ? 2 : 1;
}

static guint
high_words_per_chunk (TailorType type)
{
  switch ((int) type)
    {
      case TAILOR_TYPE_Q5_0:
      case TAILOR_TYPE_Q5_1:
      case TAILOR_TYPE_Q5_K:
        return 1;
      case TAILOR_TYPE_Q6_K:
        return 2;
      default:
        return 0;
    }
}

static gboolean
has_scales (TailorType type)
{
  return chunk_elements (type) == 32;
}

static float
half_at (const guint8 *p)
{
  return tailor_fp16_to_fp32 ((guint16) (p[0] | p[1] << 8));
}

/* Scale and min of sub-block j of a Q4_K/Q5_K super-block (FORMATS.md). */
static void
scale_min_k4 (const guint8 *q, guint j, guint *sc, guint *m)
{
  if (j < 4)
    {
      *sc = q[j] & 63;
      *m = q[j + 4] & 63;
    }
  else
    {
      *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
      *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Chunk `sub` (32 elements) of a raw block: the low quant bits (the whole byte for Q8_0), the
 * high bits, and the (d, m) pair the shader multiplies with. */
static void
decode_chunk (
  TailorType type, const guint8 *b, guint sub, guint8 lo[32], guint8 hi[32], float sc[2])
{
  memset (hi, 0, 32);
  sc[1] = 0;
  switch ((int) type)
    {
      case TAILOR_TYPE_Q4_0:
      case TAILOR_TYPE_Q4_1:
      case TAILOR_TYPE_Q5_0:
      case TAILOR_TYPE_Q5_1:
        {
          gboolean with_min = type == TAILOR_TYPE_Q4_1 || type == TAILOR_TYPE_Q5_1;
          gboolean five = type == TAILOR_TYPE_Q5_0 || type == TAILOR_TYPE_Q5_1;
          const guint8 *qh = b + (with_min ? 4 : 2);
          const guint8 *qs = qh + (five ? 4 : 0);
          guint32 h = five ? (guint32) qh[0] | (guint32) qh[1] << 8 | (guint32) qh[2] << 16 |
                               (guint32) qh[3] << 24
                           : 0;

          sc[0] = half_at (b);
          if (with_min)
            sc[1] = half_at (b + 2);
          for (guint j = 0; j < 16; j++)
            {
              lo[j] = qs[j] & 0xf;
              lo[j + 16] = qs[j] >> 4;
            }
          for (guint j = 0; j < 32; j++)
            hi[j] = (h >> j) & 1;
          break;
        }
      case TAILOR_TYPE_Q8_0:
        sc[0] = half_at (b);
        memcpy (lo, b + 2, 32);
        break;
      case TAILOR_TYPE_Q4_K:
      case TAILOR_TYPE_Q5_K:
        {
          gboolean five = type == TAILOR_TYPE_Q5_K;
          const guint8 *qh = b + 16;
          const guint8 *qs = b + (five ? 48 : 16) + 32 * (sub / 2);
          guint s, m;

          scale_min_k4 (b + 4, sub, &s, &m);
          sc[0] = half_at (b) * s;
          sc[1] = -(half_at (b + 2) * m);
          for (guint l = 0; l < 32; l++)
            {
              lo[l] = sub % 2 == 0 ? qs[l] & 0xf : qs[l] >> 4;
              hi[l] = five ? (qh[l] >> sub) & 1 : 0;
            }
          break;
        }
      case TAILOR_TYPE_Q6_K:
        {
          guint half = sub / 4, r = sub % 4;
          const guint8 *ql = b + 64 * half;
          const guint8 *qh = b + 128 + 32 * half;
          const gint8 *scales = (const gint8 *) (b + 192 + 8 * half);
          float d = half_at (b + 208);

          sc[0] = d * scales[2 * r];
          sc[1] = d * scales[2 * r + 1];
          for (guint l = 0; l < 32; l++)
            {
              guint8 q = ql[l + (r % 2) * 32];

              lo[l] = r < 2 ? q & 0xf : q >> 4;
              hi[l] = (qh[l] >> (2 * r)) & 3;
            }
          break;
        }
      default:
        g_assert_not_reached ();
    }
}

/* One row of raw ggml data into the device layout (matmul-dequant.glsl). */
static void
repack_row (TailorType type, const guint8 *src, gint64 IC, guint32 *q, guint32 *h, float *s)
{
  const TailorTypeInfo *info = tailor_type_get_info (type);
  gint64 n_chunks = IC / chunk_elements (type);

  if (type == TAILOR_TYPE_F32)
    {
      memcpy (q, src, (gsize) IC * 4);
      return;
    }
  if (type == TAILOR_TYPE_F16 || type == TAILOR_TYPE_BF16)
    {
      for (gint64 c = 0; c < n_chunks; c++)
        for (guint e = 0; e < 4; e++)
          {
            const guint8 *a = src + 16 * c + 2 * e, *b = a + 8;

            q[4 * c + e] = (guint32) (a[0] | a[1] << 8) | (guint32) (b[0] | b[1] << 8) << 16;
          }
      return;
    }
  for (gint64 c = 0; c < n_chunks; c++)
    {
      guint per_block = info->block_size / 32;
      const guint8 *block = src + (c / per_block) * info->type_size;
      guint8 lo[32], hi[32];
      guint32 *texels = q + 4 * quant_texels_per_chunk (type) * c;

      decode_chunk (type, block, (guint) (c % per_block), lo, hi, s + 2 * c);
      memset (texels, 0, 16 * quant_texels_per_chunk (type));
      if (type == TAILOR_TYPE_Q8_0)
        {
          for (guint j = 0; j < 32; j++)
            texels[4 * (j / 16) + j % 4] |= (guint32) lo[j] << (8 * ((j % 16) / 4));
        }
      else
        for (guint j = 0; j < 32; j++)
          texels[j % 4] |= (guint32) lo[j] << (4 * (j / 4));
      if (type == TAILOR_TYPE_Q6_K)
        {
          h[2 * c] = h[2 * c + 1] = 0;
          for (guint j = 0; j < 32; j++)
            h[2 * c + j / 16] |= (guint32) hi[j] << (2 * (j % 16));
        }
      else if (high_words_per_chunk (type) == 1)
        {
          h[c] = 0;
          for (guint j = 0; j < 32; j++)
            h[c] |= (guint32) hi[j] << j;
        }
    }
}

static gsize
align_up (gsize v, gsize a)
{
  return (v + a - 1) / a * a;
}

TailorVkWeight *
tailor_vk_weight_upload_data (TailorVkContext *ctx,
                              const char *name,
                              TailorType type,
                              const void *data,
                              gint64 IC,
                              gint64 OC,
                              GError **error)
{
  g_autoptr (TailorVkWeight) self = NULL;
  g_autofree guint32 *q = NULL;
  g_autofree guint32 *h = NULL;
  g_autofree float *s = NULL;
  const TailorTypeInfo *info;
  gsize align, row_bytes, total;
  gint64 n_chunks;
  guint ce;

  g_return_val_if_fail (ctx != NULL, NULL);
  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (name == NULL)
    name = "weight";
  info = tailor_type_get_info (type);
  if (!tailor_vk_matmul_supports_type (type))
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_UNSUPPORTED,
                   "The weight “%s” has type %s, which the Vulkan matmul cannot read; "
                   "re-quantize the model to one of F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, "
                   "Q8_0, Q4_K, Q5_K or Q6_K.",
                   name, tailor_type_name (type));
      return NULL;
    }
  ce = chunk_elements (type);
  if (IC <= 0 || OC <= 0 || IC % ce != 0 || IC % info->block_size != 0 || IC > G_MAXINT32 ||
      OC > G_MAXINT32)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "The weight “%s” (%s, %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT ") cannot be "
                   "uploaded: its rows must be a positive multiple of %u elements.",
                   name, info->name, OC, IC, MAX (ce, info->block_size));
      return NULL;
    }

  self = g_new0 (TailorVkWeight, 1);
  self->type = type;
  self->IC = IC;
  self->OC = OC;
  n_chunks = IC / ce * OC;
  align = MAX (16, ctx->info->texel_buffer_alignment);
  self->q_size = (gsize) n_chunks * 16 * quant_texels_per_chunk (type);
  self->h_size = MAX ((gsize) n_chunks * 4 * high_words_per_chunk (type), 16);
  self->s_size = has_scales (type) ? (gsize) n_chunks * 8 : 16;
  self->q_off = 0;
  self->h_off = align_up (self->q_size, align);
  self->s_off = align_up (self->h_off + self->h_size, align);
  total = self->s_off + self->s_size;

  q = g_try_malloc0 (self->q_size);
  h = g_try_malloc0 (self->h_size);
  s = g_try_malloc0 (self->s_size);
  if (q == NULL || h == NULL || s == NULL)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_OUT_OF_MEMORY,
                   "Out of host memory repacking the weight “%s” (%" G_GSIZE_FORMAT " bytes). %s",
                   name, total, tailor_vk_oom_advice);
      return NULL;
    }
  row_bytes = tailor_type_row_size (type, IC);
  for (gint64 r = 0; r < OC; r++)
    {
      gint64 chunks = IC / ce;

      repack_row (type, (const guint8 *) data + (gsize) r * row_bytes, IC,
                  q + (gsize) r * chunks * 4 * quant_texels_per_chunk (type),
                  h + (gsize) r * chunks * high_words_per_chunk (type),
                  s + (has_scales (type) ? (gsize) r * chunks * 2 : 0));
    }

  self->buffer = tailor_vk_buffer_new (ctx, total, name, error);
  if (self->buffer == NULL)
    return NULL;
  if (!tailor_vk_buffer_upload (self->buffer, self->q_off, q, self->q_size, error) ||
      !tailor_vk_buffer_upload (self->buffer, self->h_off, h, self->h_size, error) ||
      !tailor_vk_buffer_upload (self->buffer, self->s_off, s, self->s_size, error))
    return NULL;
  return g_steal_pointer (&self);
}

TailorVkWeight *
tailor_vk_weight_upload (TailorVkContext *ctx, const TailorGgufTensor *src, GError **error)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  g_return_val_if_fail (src != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (src->n_dims > 2 || src->ne[2] != 1 || src->ne[3] != 1)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "The tensor “%s” has %u dimensions; a matmul weight has two.", src->name,
                   src->n_dims);
      return NULL;
    }
  return tailor_vk_weight_upload_data (ctx, src->name, src->type, src->data, src->ne[0], src->ne[1],
                                       error);
}

void
tailor_vk_weight_free (TailorVkWeight *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->buffer, tailor_vk_buffer_free);
  g_free (self);
}

TailorType
tailor_vk_weight_get_type (const TailorVkWeight *self)
{
  g_return_val_if_fail (self != NULL, TAILOR_TYPE_F32);
  return self->type;
}

gint64
tailor_vk_weight_get_in (const TailorVkWeight *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->IC;
}

gint64
tailor_vk_weight_get_out (const TailorVkWeight *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->OC;
}

gsize
tailor_vk_weight_get_device_size (const TailorVkWeight *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return tailor_vk_buffer_get_size (self->buffer);
}

gboolean
tailor_vk_weight_get_f32_range (const TailorVkWeight *self, TailorVkBufferRange *out)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  if (self->type != TAILOR_TYPE_F32)
    return FALSE;
  *out = (TailorVkBufferRange){ self->buffer, self->q_off, self->q_size };
  return TRUE;
}

TailorVkMatmulFamily
tailor_vk_matmul_get_family (TailorVkContext *ctx)
{
  const char *forced = g_getenv ("TAILOR_VK_MATMUL");

  g_return_val_if_fail (ctx != NULL, TAILOR_VK_MATMUL_SPLITK);

  if (g_strcmp0 (forced, "splitk") == 0)
    return TAILOR_VK_MATMUL_SPLITK;
  if (g_strcmp0 (forced, "tiled") == 0)
    return TAILOR_VK_MATMUL_TILED;
  return ctx->info->type == TAILOR_VK_DEVICE_CPU ? TAILOR_VK_MATMUL_SPLITK : TAILOR_VK_MATMUL_TILED;
}

/* The caller's range narrowed to exactly bytes, or FALSE when it is shorter. */
static gboolean
exact_range (const TailorVkBufferRange *in, guint64 bytes, TailorVkBufferRange *out)
{
  gsize available;

  if (in == NULL || in->buffer == NULL || in->offset > tailor_vk_buffer_get_size (in->buffer))
    return FALSE;
  available = in->size > 0 ? in->size : tailor_vk_buffer_get_size (in->buffer) - in->offset;
  if (bytes == 0 || bytes > available)
    return FALSE;
  *out = (TailorVkBufferRange){ in->buffer, in->offset, (gsize) bytes };
  return TRUE;
}

typedef struct
{
  guint32 M, N, R, flags;
  float alpha, drop_p, drop_keep, lora_scale;
} Push;

/* TAILOR_VK_MATMUL_TILES=<BM>x<BN>[/<KU>] (multiples of 4, BM × BN ≤ 256, KU 1 … 16)
 * replaces the split-K family's block and steps per iteration: tests use small ones, which
 * llvmpipe compiles several times faster. */
static void
splitk_tiles_override (guint32 *bm, guint32 *bn, guint32 *ku)
{
  const char *tiles = g_getenv ("TAILOR_VK_MATMUL_TILES");
  guint m = 0, n = 0, k = 0;
  int got = tiles != NULL ? sscanf (tiles, "%ux%u/%u", &m, &n, &k) : 0;

  if (got >= 2 && m >= 4 && m % 4 == 0 && n >= 4 && n % 4 == 0 && m * n <= 256)
    {
      *bm = m;
      *bn = n;
      if (got == 3 && k >= 1 && k <= 16)
        *ku = k;
    }
}

/* Whether the split-K family's forward gives each lane whole blocks over the full reduction
 * rather than splitting each block's reduction across the subgroup: yes past the
 * matrix-vector path. Splitting ends every block with BM · BN / 4 subgroupAdds, which on
 * llvmpipe cost about as much as a 288-long reduction itself: at T = 512 owning was 2.4× as
 * fast for IC 288 (Q8_0 and F32, OC 288 or 768) and 1.4× for IC 768 (load average 2.5).
 * TAILOR_VK_MATMUL_FORWARD=split keeps the split form for tests. */
static gboolean
forward_owns_blocks (guint32 M)
{
  return M > 4 && g_strcmp0 (g_getenv ("TAILOR_VK_MATMUL_FORWARD"), "split") != 0;
}

static gboolean
check_texels (const TailorVkDeviceInfo *info, const char *label, guint64 bytes, GError **error)
{
  if (bytes / 16 > info->max_texel_buffer_elements)
    return invalid (error, label, "an operand exceeds the device's texel buffer limit");
  return TRUE;
}

/* Products of fewer rows keep the smaller forward block on CPU devices (see below). */
#define BIG_BLOCK_MIN_ROWS 64

/* Past the matrix-vector path: the block and steps per iteration by device class. */
static void
splitk_block_tiles (gboolean cpu, guint mode, TailorType type, guint32 M, guint32 spec[8])
{
  /* Forward on llvmpipe: 16 × 16 (256 sums per lane), sixteen reduction steps per loop
   * iteration: each step's 32 texel fetches (out-of-line calls on llvmpipe, about half the
   * time) serve 1024 products. Best of 12 runs in four interleaved rounds (this machine's
   * speed swings 2× from minute to minute): 16 × 16 / 16 24–41 GFLOP/s at 576 × 1536 and
   * 35–39 at 2048 × 8192, 16 × 8 / 8 19–30 and 26–27; 32 × 16, 16 × 32, 24 × 8 and 32 × 8 no
   * better, one step per iteration half as fast. Under 64 rows (a prompt, a short sequence)
   * 16 × 8 / 8: the bigger block takes llvmpipe tens of seconds to compile per weight type and
   * gains nothing on so few rows. Elsewhere a register-light 8 × 8, one step at a time (the
   * input gradient's BN then grows to a whole chunk, BM shrinking). */
  spec[1] = cpu ? 16 : 8;
  spec[2] = cpu && mode == MODE_FORWARD && M >= BIG_BLOCK_MIN_ROWS ? 16 : 8;
  spec[5] = cpu ? (mode == MODE_WEIGHT || M < BIG_BLOCK_MIN_ROWS ? 8 : 16) : 1;
  if (cpu && mode == MODE_INPUT)
    {
      /* The input gradient on llvmpipe: 8 × 32, a whole chunk of every type, so no BM
       * shrinking to 4; 10–20% ahead of 16 × 8 (shrunk to 4 × 32 for 32-element chunks)
       * at T = 512, IC or OC 288 and 768, Q8_0, Q4_K and F32 (load average 2.5). Sixteen
       * steps per iteration: 1.2–1.4× eight on 2048 × 8192 (F32, Q8_0), four slower still.
       * F16 and BF16 (four 8-element chunks a row) need the shader's chunk loop unrolled
       * explicitly: left to itself llvmpipe kept the sums in per-lane memory (5–7 GFLOP/s
       * against 37 unrolled at 2048 × 8192). */
      spec[1] = 8;
      spec[2] = 32;
    }
}

/* The split-K family's block (BM × BN) and reduction steps per iteration (KU) for mode over M
 * rows; also the matrix-vector path's (M ≤ 4) on every device. */
static void
splitk_tiles (TailorVkContext *ctx, guint mode, TailorType type, guint32 M, guint32 spec[8])
{
  gboolean cpu = ctx->info->type == TAILOR_VK_DEVICE_CPU;

  if (mode != MODE_WEIGHT && M <= 4)
    {
      /* The matrix-vector path: one block row holds every token, so each weight is read
       * once; lanes split the reduction, which is also how GPUs stream a matrix past a
       * vector. */
      spec[1] = M;
      spec[2] = cpu ? 16 : 8;
      spec[5] = cpu ? 8 : 1;
    }
  else
    {
      splitk_block_tiles (cpu, mode, type, M, spec);
      splitk_tiles_override (&spec[1], &spec[2], &spec[5]);
    }
  if (mode == MODE_INPUT && spec[2] % chunk_elements (type) != 0)
    {
      /* The input gradient's block spans whole chunks of a weight row (matmul-splitk.comp);
       * BM shrinks to keep the block's area, so its registers. */
      guint32 ce = chunk_elements (type);
      guint32 area = spec[1] * spec[2];

      spec[2] = (spec[2] + ce - 1) / ce * ce;
      if (M > 4)
        spec[1] = MAX (4, area / spec[2] / 4 * 4);
    }
}


/* Whether the split-K family's lanes own whole blocks of mode's product over M rows, so that
 * its A operand can be packed (matmul-pack.comp). */
static gboolean
splitk_owns_blocks (TailorVkContext *ctx, guint mode, guint32 M)
{
  return tailor_vk_matmul_get_family (ctx) == TAILOR_VK_MATMUL_SPLITK && M > 4 &&
         (mode == MODE_INPUT || (mode == MODE_FORWARD && forward_owns_blocks (M)));
}

/* Whether the input gradient over M rows of a weight of type with rows of N and a reduction of
 * R reads the weight transposed into scratch as fp32 (matmul-transpose.comp), with the
 * forward's block, steps and packing, on CPU devices. Read in place, the rows a step takes lie
 * a row's bytes apart and alias in L1 once those are kilobytes. TAILOR_VK_MATMUL_TRANSPOSE=1
 * forces it (tests), =0 turns it off. */
static gboolean
input_transposed (TailorVkContext *ctx,
                  guint mode,
                  TailorType type,
                  guint32 M,
                  guint32 N,
                  guint32 R)
{
  const char *forced = g_getenv ("TAILOR_VK_MATMUL_TRANSPOSE");
  const TailorTypeInfo *info = tailor_type_get_info (type);
  guint32 from;

  if (mode != MODE_INPUT || !splitk_owns_blocks (ctx, mode, M) || g_strcmp0 (forced, "0") == 0)
    return FALSE;
  if (g_strcmp0 (forced, "1") == 0)
    return TRUE;
  /* Paired against the fp32 forward (T = 512, llvmpipe), transposed against in place: F32
   * 0.99 against 0.87 at IC × OC 896 × 4864, 0.95 against 0.79 at 2048 × 8192, 0.94 against
   * 0.88 at 4864 × 896, behind at 576 × 1536 and 288 × 768 (0.85 against 0.89, 0.89 against
   * 0.98), where rows of 1–2 KiB spread over enough cache sets. Types of 6 bits and more: F16
   * 0.85–0.97 against 0.74–0.78 and Q8_0 1.00–1.05 against 0.83–0.93 at 2048 × 8192, F16,
   * Q8_0 and Q6_K 0.85–0.90 against 0.72–0.75 at 4096 × 14336, but F16 behind at 4864 × 896
   * (0.89 against 0.97). Four-bit types gain only at 4096 × 14336 (Q4_K 0.90 against 0.84;
   * 0.89 against 0.99–1.00 at 2048 × 8192). */
  if (type == TAILOR_TYPE_F32)
    return N >= 896;
  from = info->type_size * 8 >= 6 * info->block_size ? 2048 : 4096;
  return N >= from && R >= from;
}

/* Floats the transposed weight of mode's product takes at the start of its scratch (0: none),
 * rounded so that what follows starts on the device's texel-buffer alignment. */
static guint64
transposed_floats (TailorVkContext *ctx, guint mode, TailorType type, guint32 M, guint32 N,
                   guint32 R)
{
  guint64 align = MAX (ctx->info->texel_buffer_alignment, 16) / 4;

  if (!input_transposed (ctx, mode, type, M, N, R))
    return 0;
  return ((guint64) N * R + align - 1) / align * align;
}

/* Floats of the packed A of mode's product over M rows and a reduction of R (0: A is read in
 * place). TAILOR_VK_MATMUL_PACK=0 turns packing off, for tests and comparisons. */
static guint64
packed_floats (TailorVkContext *ctx, guint mode, TailorType type, guint32 M, guint32 N,
               guint32 R)
{
  guint32 spec[8] = { 0 };

  /* Measured in pairs of alternating runs (T = 512, F32, llvmpipe), packing pays only for
   * the forward over long rows: it won 8 of 9 pairs at a reduction of 896, 1536 and 2048
   * (1.1–1.2× by median at 896 and 2048) and tied at 288–768, where rows 1–3 KiB apart
   * spread over enough cache sets. The input gradient's blocks are half as tall and it lost
   * or tied at every reduction from 288 to 8192 (1–4 pairs of 9–15 won); one over a
   * transposed weight takes the forward's block and so its policy. */
  if (input_transposed (ctx, mode, type, M, N, R))
    mode = MODE_FORWARD;
  if (!splitk_owns_blocks (ctx, mode, M) || mode != MODE_FORWARD || R < 896 ||
      g_strcmp0 (g_getenv ("TAILOR_VK_MATMUL_PACK"), "0") == 0)
    return 0;
  splitk_tiles (ctx, mode, type, M, spec);
  return (guint64) ((M + spec[1] - 1) / spec[1]) * spec[1] * R;
}

/* Floats of the scratch mode's product over M rows, N columns and a reduction of R reads: the
 * transposed weight, then the packed A (0: neither, everything read in place). */
static guint64
pack_floats (TailorVkContext *ctx, guint mode, TailorType type, guint32 M, guint32 N, guint32 R)
{
  guint64 packed = packed_floats (ctx, mode, type, M, N, R);
  guint64 transposed = transposed_floats (ctx, mode, type, M, N, R);

  return transposed > 0 || packed > 0 ? transposed + packed : 0;
}

/* Records W (R × C, of type, its quants, high bits and scales at w[0..2]) transposed into wt as
 * fp32, exactly C × R floats, in bands of columns that each fit the device's storage-buffer
 * range and alignment. */
static gboolean
dispatch_transpose (TailorVkRecorder *rec,
                    TailorVkContext *ctx,
                    const TailorVkBufferRange *wt,
                    const TailorVkBufferRange w[3],
                    TailorType type,
                    guint32 R,
                    guint32 C,
                    GError **error)
{
  static const TailorVkBinding bindings[] = {
    { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_UINT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_UINT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32_SFLOAT, FALSE },
  };
  const TailorVkDeviceInfo *info = ctx->info;
  guint32 spec[2] = { 64, type };
  TailorVkPipelineDesc desc = {
    .shader = "matmul-transpose",
    .bindings = bindings,
    .n_bindings = G_N_ELEMENTS (bindings),
    .push_constant_size = 4 * sizeof (guint32),
    .spec_constants = spec,
    .n_spec_constants = G_N_ELEMENTS (spec),
  };
  guint64 row_bytes = (guint64) R * 4;
  /* Bands of whole 16-column groups as long as the storage range allows: a band then starts
   * 64 · R bytes after the last, on every alignment a device asks (at most 256). */
  guint64 band = MIN ((guint64) info->max_storage_buffer_range / row_bytes / 16 * 16, C);
  TailorVkPipeline *pipeline;

  if (band == 0 || (wt->offset % MAX (info->storage_buffer_alignment, 1)) != 0)
    return invalid (error, "matmul_transpose",
                    "a weight row transposed is longer than the device's storage-buffer range");
  pipeline = tailor_vk_pipeline_get (ctx, &desc, error);
  if (pipeline == NULL)
    return FALSE;
  for (guint64 c0 = 0; c0 < C; c0 += band)
    {
      guint64 cols = MIN (band, C - c0);
      guint32 push[4] = { R / 4, (guint32) (cols / 4), C / 4, (guint32) (c0 / 4) };
      TailorVkBufferRange ranges[4] = {
        { wt->buffer, wt->offset + c0 * row_bytes, (gsize) (cols * row_bytes) },
        w[0],
        w[1],
        w[2],
      };
      guint64 items = (guint64) (R / 4) * ((cols / 4 + 3) / 4);
      guint32 gx = (guint32) MIN ((items + spec[0] - 1) / spec[0],
                                  (guint64) info->max_workgroup_count[0]);

      if (!tailor_vk_recorder_dispatch (rec, pipeline, "matmul_transpose", ranges, 4, push,
                                        sizeof push, gx, 1, 1, error))
        return FALSE;
    }
  return TRUE;
}

/* Records A packed for the product into pack (sized exactly to the floats pack_floats gave). */
static gboolean
dispatch_pack (TailorVkRecorder *rec,
               TailorVkContext *ctx,
               const TailorVkBufferRange *pack,
               const TailorVkBufferRange *a,
               guint32 bm,
               guint32 M,
               guint32 R,
               GError **error)
{
  static const TailorVkBinding bindings[] = {
    { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
  };
  guint32 spec[2] = { 64, bm };
  TailorVkPipelineDesc desc = {
    .shader = "matmul-pack",
    .bindings = bindings,
    .n_bindings = G_N_ELEMENTS (bindings),
    .push_constant_size = 2 * sizeof (guint32),
    .spec_constants = spec,
    .n_spec_constants = G_N_ELEMENTS (spec),
  };
  guint32 push[2] = { M, R / 4 };
  TailorVkBufferRange ranges[2] = { *pack, *a };
  guint64 texels = pack->size / 16;
  TailorVkPipeline *pipeline = tailor_vk_pipeline_get (ctx, &desc, error);
  guint32 gx;

  if (pipeline == NULL)
    return FALSE;
  gx = (guint32) MIN ((texels + spec[0] - 1) / spec[0], (guint64) ctx->info->max_workgroup_count[0]);
  return tailor_vk_recorder_dispatch (rec, pipeline, "matmul_pack", ranges, 2, push, sizeof push,
                                      gx, 1, 1, error);
}

/* Records one matmul: ranges are y, a, wq, wh, ws, bias, already sized; type is the weight's
 * (F32 for MODE_WEIGHT). Picks the family and tiles from the device. pack (NULL: none) is
 * scratch for A packed, of at least pack_floats floats; without it A is read in place. */
static gboolean
dispatch (TailorVkRecorder *rec,
          TailorVkContext *ctx,
          const char *label,
          guint mode,
          TailorType type,
          const TailorVkBufferRange ranges_in[6],
          const TailorVkBufferRange *pack,
          const TailorVkDropout *drop,
          const TailorVkLoraPart *lora,
          const Push *push_in,
          GError **error)
{
  static const TailorVkBinding bindings[] = {
    { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_UINT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_UINT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SINT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_SFLOAT, FALSE },
  };
  const TailorVkDeviceInfo *info = ctx->info;
  gboolean cpu = info->type == TAILOR_VK_DEVICE_CPU;
  Push p = *push_in;
  const Push *push = &p;
  TailorVkPipelineDesc desc = {
    .bindings = bindings,
    .n_bindings = G_N_ELEMENTS (bindings),
    .push_constant_size = sizeof (Push),
  };
  TailorVkBufferRange ranges[9];
  TailorVkPipeline *pipeline;
  guint32 spec[12] = { 0 };
  guint32 gx, gy;

  memcpy (ranges, ranges_in, 6 * sizeof ranges[0]);
  /* Without dropout or a LoRA part, stand-ins the kernel never reads. */
  ranges[6] = (TailorVkBufferRange){ ranges[2].buffer, ranges[2].offset, 16 };
  ranges[7] = ranges[8] = (TailorVkBufferRange){ ranges[1].buffer, ranges[1].offset, 16 };
  if (lora != NULL)
    {
      if (!splitk_owns_blocks (ctx, mode, push->M) || lora->rank == 0 || lora->rank % 4 != 0 ||
          !exact_range (lora->in, (guint64) push->M * lora->rank * 4, &ranges[7]) ||
          !exact_range (lora->w, (guint64) push->N * lora->rank * 4, &ranges[8]))
        return invalid (error, label,
                        "a LoRA part needs a device that takes it (tailor_vk_matmul_takes_lora), "
                        "a rank that is a multiple of 4 and ranges as long as its matrices");
      spec[10] = lora->rank / 4;
      p.lora_scale = lora->scale;
      drop = lora->drop;
    }
  if (drop != NULL && drop->p > 0.0f)
    {
      if (drop->p >= 1.0f || mode == MODE_FORWARD || !exact_range (drop->seed, 4, &ranges[6]))
        return invalid (error, label,
                        "dropout needs p below 1, a seed and a gradient (not a forward)");
      p.drop_p = drop->p;
      p.drop_keep = 1.0f / (1.0f - drop->p);
      spec[8] = 1;
    }
  spec[9] = push->flags;
  if ((mode == MODE_WEIGHT || push->M > 4) &&
      tailor_vk_matmul_get_family (ctx) != TAILOR_VK_MATMUL_SPLITK)
    {
      /* 64 × 64 tiles of 4 × 4 per invocation, 256 invocations, on GPUs; on CPU devices
       * (where this family only runs to be tested) 32 × 32 with 64 invocations, because
       * llvmpipe's compile time grows with the workgroup. */
      gboolean big = !cpu && info->max_workgroup_invocations >= 256 &&
                     info->max_workgroup_size[0] >= 256 && info->max_shared_memory >= 8192;
      guint64 groups_x, groups_y;

      spec[0] = big ? 256 : 64;
      spec[1] = spec[2] = big ? 64 : 32;
      spec[3] = type;
      spec[4] = mode;
      spec[5] = 16; /* BK */
      spec[6] = spec[7] = 4;
      groups_x = (push->N + spec[2] - 1) / spec[2];
      groups_y = (push->M + spec[1] - 1) / spec[1];
      if (groups_x > info->max_workgroup_count[0] || groups_y > info->max_workgroup_count[1])
        return invalid (error, label, "the matrix needs more workgroups than the device allows");
      desc.shader = "matmul-tiled";
      desc.spec_constants = spec;
      desc.n_spec_constants = 11;
      pipeline = tailor_vk_pipeline_get (ctx, &desc, error);
      if (pipeline == NULL)
        return FALSE;
      return tailor_vk_recorder_dispatch (rec, pipeline, label, ranges, 9, push, sizeof *push,
                                          (guint32) groups_x, (guint32) groups_y, 1, error);
    }

  {
    gboolean trans =
      pack != NULL && input_transposed (ctx, mode, type, push->M, push->N, push->R);
    guint64 n_blocks;
    guint64 transposed = 0, packed = 0;
    TailorVkBufferRange space = { NULL, 0, 0 };

    if (pack != NULL)
      {
        transposed = transposed_floats (ctx, mode, type, push->M, push->N, push->R);
        packed = packed_floats (ctx, mode, type, push->M, push->N, push->R);
      }
    /* Over a transposed weight the input gradient is the forward's shape of product. */
    splitk_tiles (ctx, trans ? MODE_FORWARD : mode, type, push->M, spec);
    spec[0] = MAX (info->subgroup_size, 1);
    spec[3] = type;
    spec[4] = mode;
    spec[6] = mode == MODE_FORWARD && forward_owns_blocks (push->M);
    if (transposed + packed > 0 && !exact_range (pack, (transposed + packed) * 4, &space))
      return invalid (error, label, "the packing scratch is shorter than the packed operands");
    if (trans)
      {
        TailorVkBufferRange wt = { space.buffer, space.offset, (gsize) push->N * push->R * 4 };

        if (!dispatch_transpose (rec, ctx, &wt, &ranges_in[2], type, push->R, push->N, error))
          return FALSE;
        ranges[2] = wt;
        spec[3] = TAILOR_TYPE_F32; /* what the kernel reads now */
        spec[11] = 1;
      }
    if (packed > 0)
      {
        ranges[1] = (TailorVkBufferRange){ space.buffer, space.offset + transposed * 4,
                                           (gsize) packed * 4 };
        if (!check_texels (info, label, packed * 4, error) ||
            !dispatch_pack (rec, ctx, &ranges[1], &ranges_in[1], spec[1], push->M, push->R,
                            error))
          return FALSE;
        spec[7] = 1;
      }
    n_blocks = (guint64) ((push->M + spec[1] - 1) / spec[1]) * ((push->N + spec[2] - 1) / spec[2]);
    /* Lanes owning blocks take a subgroup's worth of them per round. */
    if (mode == MODE_INPUT || spec[6])
      n_blocks = (n_blocks + spec[0] - 1) / spec[0];
    /* The shader strides over rounds, so a grid capped at the device limit still covers all. */
    gx = (guint32) MIN (n_blocks, (guint64) info->max_workgroup_count[0]);
    gy = 1;
    desc.shader = "matmul-splitk";
    desc.spec_constants = spec;
    desc.n_spec_constants = 12;
    pipeline = tailor_vk_pipeline_get (ctx, &desc, error);
    if (pipeline == NULL)
      return FALSE;
    return tailor_vk_recorder_dispatch (rec, pipeline, label, ranges, 9, push, sizeof *push, gx, gy,
                                        1, error);
  }
}

static void
weight_ranges (const TailorVkWeight *w, TailorVkBufferRange ranges[6])
{
  ranges[2] = (TailorVkBufferRange){ w->buffer, w->q_off, w->q_size };
  ranges[3] = (TailorVkBufferRange){ w->buffer, w->h_off, w->h_size };
  ranges[4] = (TailorVkBufferRange){ w->buffer, w->s_off, w->s_size };
  /* No bias: a stand-in the shader never reads. */
  ranges[5] = (TailorVkBufferRange){ w->buffer, w->h_off, 16 };
}

gboolean
tailor_vk_weight_rows (TailorVkRecorder *rec,
                       const TailorVkBufferRange *out,
                       const TailorVkWeight *w,
                       const TailorVkBufferRange *tokens,
                       guint row0,
                       guint n_rows,
                       GError **error)
{
  static const TailorVkBinding bindings[] = {
    { TAILOR_VK_BINDING_STORAGE_BUFFER, VK_FORMAT_UNDEFINED, TRUE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32B32A32_UINT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_UINT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32G32_SFLOAT, FALSE },
    { TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, VK_FORMAT_R32_SINT, FALSE },
  };
  TailorVkContext *ctx;
  guint32 spec[2];
  TailorVkPipelineDesc desc = {
    .shader = "matmul-rows",
    .bindings = bindings,
    .n_bindings = G_N_ELEMENTS (bindings),
    .push_constant_size = 5 * sizeof (guint32),
    .spec_constants = spec,
    .n_spec_constants = G_N_ELEMENTS (spec),
  };
  TailorVkBufferRange ranges[6]; /* weight_ranges' six; the fifth becomes the tokens */
  TailorVkPipeline *pipeline;
  guint32 push[5];
  guint64 items;

  g_return_val_if_fail (rec != NULL, FALSE);
  g_return_val_if_fail (w != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = w->buffer->ctx;
  items = (guint64) n_rows * (w->IC / 4);
  if (n_rows == 0 || items > G_MAXUINT32 ||
      (tokens == NULL && (guint64) row0 + n_rows > (guint64) w->OC))
    return invalid (error, "weight rows", "the rows must lie inside the weight");
  weight_ranges (w, ranges);
  /* Without tokens, a stand-in the kernel never reads. */
  ranges[5] = ranges[3];
  if (!exact_range (out, items * 16, &ranges[0]) ||
      (tokens != NULL && !exact_range (tokens, (guint64) n_rows * 4, &ranges[5])))
    return invalid (error, "weight rows", "the output or token range is shorter than its rows");
  /* bindings: out, quants, high bits, scales, tokens */
  ranges[1] = ranges[2];
  ranges[2] = ranges[3];
  ranges[3] = ranges[4];
  ranges[4] = ranges[5];
  spec[0] = 64;
  spec[1] = w->type;
  push[0] = n_rows;
  push[1] = (guint32) (w->IC / 4);
  push[2] = (guint32) w->OC;
  push[3] = row0;
  push[4] = tokens != NULL;
  pipeline = tailor_vk_pipeline_get (ctx, &desc, error);
  if (pipeline == NULL)
    return FALSE;
  return tailor_vk_recorder_dispatch (
    rec, pipeline, "weight_rows", ranges, 5, push, sizeof push,
    (guint32) MIN ((items + spec[0] - 1) / spec[0], (guint64) ctx->info->max_workgroup_count[0]), 1,
    1, error);
}

guint64
tailor_vk_matmul_pack_floats (TailorVkContext *ctx,
                              TailorVkMatmulDirection direction,
                              TailorType type,
                              guint T,
                              guint IC,
                              guint OC)
{
  g_return_val_if_fail (ctx != NULL, 0);

  if (direction == TAILOR_VK_MATMUL_FORWARD)
    return pack_floats (ctx, MODE_FORWARD, type, T, OC, IC);
  if (direction == TAILOR_VK_MATMUL_BACKWARD_INPUT)
    return pack_floats (ctx, MODE_INPUT, type, T, IC, OC);
  return 0;
}

/* Whether an F32 forward over T rows and a reduction of IC, plain (no bias, accumulation or
 * LoRA part), takes the plain fp32 kernel (matmul-f32-splitk.comp) on this device: on CPU
 * devices where X is not packed it ran 1.06–1.12× as fast as this family's in paired runs
 * (T = 512, reductions 288 and 576); with packing (long rows) this family is ahead. */
static gboolean
plain_f32_forward (TailorVkContext *ctx, TailorType type, guint T, guint IC, gboolean plain)
{
  return plain && type == TAILOR_TYPE_F32 && ctx->info->type == TAILOR_VK_DEVICE_CPU &&
         splitk_owns_blocks (ctx, MODE_FORWARD, T) &&
         packed_floats (ctx, MODE_FORWARD, type, T, 0, IC) == 0;
}

gboolean
tailor_vk_matmul_takes_lora (TailorVkContext *ctx, TailorVkMatmulDirection direction, guint T)
{
  g_return_val_if_fail (ctx != NULL, FALSE);

  if (direction == TAILOR_VK_MATMUL_FORWARD)
    return splitk_owns_blocks (ctx, MODE_FORWARD, T);
  if (direction == TAILOR_VK_MATMUL_BACKWARD_INPUT)
    return splitk_owns_blocks (ctx, MODE_INPUT, T);
  return FALSE;
}

gboolean
tailor_vk_matmul (TailorVkRecorder *rec,
                  const TailorVkBufferRange *y,
                  const TailorVkBufferRange *x,
                  const TailorVkBufferRange *pack,
                  const TailorVkWeight *w,
                  const TailorVkBufferRange *bias,
                  guint T,
                  gboolean accumulate,
                  const TailorVkLoraPart *lora,
                  GError **error)
{
  TailorVkContext *ctx;
  TailorVkBufferRange ranges[6];
  Push push;

  g_return_val_if_fail (rec != NULL, FALSE);
  g_return_val_if_fail (w != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = w->buffer->ctx;
  if (T == 0 || (guint64) T * w->OC > G_MAXUINT32 || (guint64) T * w->IC > G_MAXUINT32)
    return invalid (error, "matmul", "T must be positive and T × IC, T × OC below 2³²");
  if (!exact_range (y, (guint64) T * w->OC * 4, &ranges[0]) ||
      !exact_range (x, (guint64) T * w->IC * 4, &ranges[1]))
    return invalid (error, "matmul", "the X or Y range is shorter than its matrix");
  if (!check_texels (ctx->info, "matmul", (guint64) T * w->IC * 4, error) ||
      !check_texels (ctx->info, "matmul", w->q_size, error))
    return FALSE;
  weight_ranges (w, ranges);
  if (plain_f32_forward (ctx, w->type, T, w->IC, bias == NULL && !accumulate && lora == NULL))
    return tailor_vk_matmul_f32_forward (rec, y, x, &ranges[2], T, w->IC, w->OC, NULL, NULL,
                                         error);
  push = (Push){ T, (guint32) w->OC, (guint32) w->IC, accumulate ? FLAG_ACCUMULATE : 0, 1.0f };
  if (bias != NULL)
    {
      if (!exact_range (bias, (guint64) w->OC * 4, &ranges[5]))
        return invalid (error, "matmul", "the bias range is shorter than OC floats");
      push.flags |= FLAG_BIAS;
    }
  return dispatch (rec, ctx, "matmul_forward", MODE_FORWARD, w->type, ranges, pack, NULL, lora,
                   &push, error);
}

gboolean
tailor_vk_matmul_backward_input (TailorVkRecorder *rec,
                                 const TailorVkBufferRange *dx,
                                 const TailorVkBufferRange *dy,
                                 const TailorVkBufferRange *pack,
                                 const TailorVkWeight *w,
                                 guint T,
                                 gboolean accumulate,
                                 const TailorVkLoraPart *lora,
                                 GError **error)
{
  TailorVkContext *ctx;
  TailorVkBufferRange ranges[6];
  Push push;

  g_return_val_if_fail (rec != NULL, FALSE);
  g_return_val_if_fail (w != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = w->buffer->ctx;
  if (T == 0 || (guint64) T * w->OC > G_MAXUINT32 || (guint64) T * w->IC > G_MAXUINT32)
    return invalid (error, "matmul backward", "T must be positive and T × IC, T × OC below 2³²");
  if (w->OC % 4 != 0)
    return invalid (error, "matmul backward", "the weight's OC must be a multiple of 4");
  if (!exact_range (dx, (guint64) T * w->IC * 4, &ranges[0]) ||
      !exact_range (dy, (guint64) T * w->OC * 4, &ranges[1]))
    return invalid (error, "matmul backward", "the dX or dY range is shorter than its matrix");
  if (!check_texels (ctx->info, "matmul backward", (guint64) T * w->OC * 4, error) ||
      !check_texels (ctx->info, "matmul backward", w->q_size, error))
    return FALSE;
  weight_ranges (w, ranges);
  push = (Push){ T, (guint32) w->IC, (guint32) w->OC, accumulate ? FLAG_ACCUMULATE : 0, 1.0f };
  return dispatch (rec, ctx, "matmul_backward_input", MODE_INPUT, w->type, ranges, pack, NULL,
                   lora, &push, error);
}

gboolean
tailor_vk_matmul_backward_weight (TailorVkRecorder *rec,
                                  const TailorVkBufferRange *dw,
                                  const TailorVkBufferRange *dy,
                                  const TailorVkBufferRange *x,
                                  guint T,
                                  guint IC,
                                  guint OC,
                                  float alpha,
                                  const TailorVkDropout *drop,
                                  GError **error)
{
  TailorVkContext *ctx;
  TailorVkBufferRange ranges[6];
  Push push;

  g_return_val_if_fail (rec != NULL, FALSE);
  g_return_val_if_fail (dw != NULL && dw->buffer != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = dw->buffer->ctx;
  if (T == 0 || IC == 0 || OC == 0 || IC % 4 != 0 || OC % 4 != 0)
    return invalid (error, "matmul weight gradient",
                    "T must be positive and IC, OC positive multiples of 4");
  if ((guint64) IC * OC > G_MAXUINT32 || (guint64) T * IC > G_MAXUINT32 ||
      (guint64) T * OC > G_MAXUINT32)
    return invalid (error, "matmul weight gradient",
                    "the matrices must hold fewer than 2³² values");
  if (!exact_range (dw, (guint64) IC * OC * 4, &ranges[0]) ||
      !exact_range (dy, (guint64) T * OC * 4, &ranges[1]) ||
      !exact_range (x, (guint64) T * IC * 4, &ranges[2]))
    return invalid (error, "matmul weight gradient", "a range is shorter than its matrix");
  if (!check_texels (ctx->info, "matmul weight gradient", (guint64) T * OC * 4, error) ||
      !check_texels (ctx->info, "matmul weight gradient", (guint64) T * IC * 4, error))
    return FALSE;
  /* Stand-ins the fp32 path never reads. */
  ranges[3] = ranges[4] = ranges[5] =
    (TailorVkBufferRange){ ranges[1].buffer, ranges[1].offset, 16 };
  push = (Push){ OC, IC, T, FLAG_ACCUMULATE, alpha };
  return dispatch (rec, ctx, "matmul_backward_weight", MODE_WEIGHT, TAILOR_TYPE_F32, ranges, NULL,
                   drop, NULL, &push, error);
}

gboolean
tailor_vk_matmul_dense (TailorVkRecorder *rec,
                        TailorVkMatmulDirection direction,
                        const TailorVkBufferRange *out,
                        const TailorVkBufferRange *in,
                        const TailorVkBufferRange *pack,
                        const TailorVkBufferRange *w,
                        guint T,
                        guint IC,
                        guint OC,
                        float alpha,
                        gboolean accumulate,
                        const TailorVkDropout *drop,
                        GError **error)
{
  const char *label = "matmul_dense";
  TailorVkContext *ctx;
  TailorVkBufferRange ranges[6];
  gboolean forward = direction == TAILOR_VK_MATMUL_FORWARD;
  guint64 in_cols = forward ? IC : OC, out_cols = forward ? OC : IC;
  Push push;

  g_return_val_if_fail (rec != NULL, FALSE);
  g_return_val_if_fail (out != NULL && out->buffer != NULL, FALSE);
  g_return_val_if_fail (direction != TAILOR_VK_MATMUL_BACKWARD_WEIGHT, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = out->buffer->ctx;
  if (T == 0 || IC == 0 || OC == 0 || IC % 4 != 0 || (!forward && OC % 4 != 0))
    return invalid (error, label,
                    "T must be positive, IC a positive multiple of 4 and, for the input "
                    "gradient, OC too");
  if ((guint64) T * IC > G_MAXUINT32 || (guint64) T * OC > G_MAXUINT32 ||
      (guint64) IC * OC > G_MAXUINT32)
    return invalid (error, label, "the matrices must hold fewer than 2³² values");
  if (!exact_range (out, (guint64) T * out_cols * 4, &ranges[0]) ||
      !exact_range (in, (guint64) T * in_cols * 4, &ranges[1]) ||
      !exact_range (w, (guint64) IC * OC * 4, &ranges[2]))
    return invalid (error, label, "a range is shorter than its matrix");
  if (!check_texels (ctx->info, label, (guint64) T * in_cols * 4, error) ||
      !check_texels (ctx->info, label, (guint64) IC * OC * 4, error))
    return FALSE;
  if (forward && plain_f32_forward (ctx, TAILOR_TYPE_F32, T, IC, alpha == 1.0f && !accumulate))
    return tailor_vk_matmul_f32_forward (rec, out, in, w, T, IC, OC, NULL, NULL, error);
  /* Stand-ins an F32 weight never reads. */
  ranges[3] = ranges[4] = ranges[5] =
    (TailorVkBufferRange){ ranges[2].buffer, ranges[2].offset, 16 };
  push =
    (Push){ T, (guint32) out_cols, (guint32) in_cols, accumulate ? FLAG_ACCUMULATE : 0, alpha };
  return dispatch (rec, ctx, label, forward ? MODE_FORWARD : MODE_INPUT, TAILOR_TYPE_F32, ranges,
                   pack, drop, NULL, &push, error);
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static TailorVkBuffer *
random_buffer (TailorVkContext *ctx, GRand *rand, gsize n, const char *name, GError **error)
{
  g_autofree float *v = g_new (float, n);
  g_autoptr (TailorVkBuffer) buffer = NULL;

  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rand, -1, 1);
  buffer = tailor_vk_buffer_new (ctx, n * 4, name, error);
  if (buffer == NULL || !tailor_vk_buffer_upload (buffer, 0, v, n * 4, error))
    return NULL;
  return g_steal_pointer (&buffer);
}

struct _TailorVkMatmulBench
{
  TailorVkWeight *w;
  TailorVkBuffer *in, *out, *other, *pack;
  TailorVkRecorder *rec;
};

void
tailor_vk_matmul_bench_free (TailorVkMatmulBench *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->rec, tailor_vk_recorder_free);
  g_clear_pointer (&self->w, tailor_vk_weight_free);
  g_clear_pointer (&self->in, tailor_vk_buffer_free);
  g_clear_pointer (&self->out, tailor_vk_buffer_free);
  g_clear_pointer (&self->other, tailor_vk_buffer_free);
  g_clear_pointer (&self->pack, tailor_vk_buffer_free);
  g_free (self);
}

TailorVkMatmulBench *
tailor_vk_matmul_bench_new (TailorVkContext *ctx,
                            TailorType type,
                            guint T,
                            guint K,
                            guint N,
                            TailorVkMatmulDirection direction,
                            GError **error)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  g_autoptr (TailorVkMatmulBench) self = g_new0 (TailorVkMatmulBench, 1);
  guint64 packed;
  gboolean ok;

  g_return_val_if_fail (ctx != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (direction == TAILOR_VK_MATMUL_BACKWARD_WEIGHT)
    {
      if (type != TAILOR_TYPE_F32)
        {
          invalid (error, "matmul benchmark", "the weight gradient is fp32 only");
          return NULL;
        }
      self->in = random_buffer (ctx, rand, (gsize) T * N, "dY", error);
      self->other = self->in != NULL ? random_buffer (ctx, rand, (gsize) T * K, "X", error) : NULL;
      if (self->other == NULL)
        return NULL;
      self->out = tailor_vk_buffer_new (ctx, (gsize) K * N * 4, "dW", error);
    }
  else
    {
      const TailorTypeInfo *info = tailor_type_get_info (type);
      gsize row_bytes = tailor_type_row_size (type, K);
      g_autofree float *row = g_new (float, K);
      g_autofree guint8 *data = NULL;
      gboolean forward = direction == TAILOR_VK_MATMUL_FORWARD;

      if (!tailor_vk_matmul_supports_type (type) || row_bytes == 0 || !info->can_quantize)
        {
          invalid (error, "matmul benchmark",
                   "the type is not supported or K is not a multiple of its block size");
          return NULL;
        }
      data = g_malloc ((gsize) N * row_bytes);
      for (guint r = 0; r < N; r++)
        {
          for (guint k = 0; k < K; k++)
            row[k] = (float) g_rand_double_range (rand, -1, 1);
          tailor_quantize_row (type, row, data + (gsize) r * row_bytes, K);
        }
      self->w = tailor_vk_weight_upload_data (ctx, "W", type, data, K, N, error);
      if (self->w == NULL)
        return NULL;
      self->in = random_buffer (ctx, rand, (gsize) T * (forward ? K : N), forward ? "X" : "dY",
                                error);
      self->out = self->in != NULL ? tailor_vk_buffer_new (ctx, (gsize) T * (forward ? N : K) * 4,
                                                           forward ? "Y" : "dX", error)
                                   : NULL;
    }
  if (self->out == NULL ||
      !tailor_vk_buffer_fill (self->out, 0, tailor_vk_buffer_get_size (self->out), 0, error))
    return NULL;

  packed = tailor_vk_matmul_pack_floats (ctx, direction, type, T, K, N);
  if (packed > 0)
    {
      self->pack = tailor_vk_buffer_new (ctx, packed * 4, "packed", error);
      if (self->pack == NULL)
        return NULL;
    }
  self->rec = tailor_vk_recorder_new (ctx, TRUE, error);
  if (self->rec == NULL)
    return NULL;
  {
    TailorVkBufferRange o = { self->out, 0, 0 }, i = { self->in, 0, 0 }, p = { self->pack, 0, 0 };
    const TailorVkBufferRange *pp = self->pack != NULL ? &p : NULL;

    if (direction == TAILOR_VK_MATMUL_FORWARD)
      ok = tailor_vk_matmul (self->rec, &o, &i, pp, self->w, NULL, T, FALSE, NULL, error);
    else if (direction == TAILOR_VK_MATMUL_BACKWARD_INPUT)
      ok = tailor_vk_matmul_backward_input (self->rec, &o, &i, pp, self->w, T, FALSE, NULL, error);
    else
      ok = tailor_vk_matmul_backward_weight (self->rec, &o, &i,
                                             &(TailorVkBufferRange){ self->other, 0, 0 }, T, K, N,
                                             1.0f, NULL, error);
  }
  /* The first run pays for page faults and caches; it is not counted. */
  if (!ok || !tailor_vk_recorder_run (self->rec, 600 * SECOND, error))
    return NULL;
  return g_steal_pointer (&self);
}

gboolean
tailor_vk_matmul_bench_run (TailorVkMatmulBench *self, double *ms, GError **error)
{
  const TailorVkTiming *timings;
  guint n_timings = 0;

  g_return_val_if_fail (self != NULL && ms != NULL, FALSE);

  if (!tailor_vk_recorder_run (self->rec, 600 * SECOND, error))
    return FALSE;
  timings = tailor_vk_recorder_get_timings (self->rec, &n_timings);
  /* The packing and the weight's transposing (one dispatch per band) are part of the
   * product's time. */
  g_assert (n_timings >= 1);
  *ms = 0.0;
  for (guint d = 0; d < n_timings; d++)
    *ms += timings[d].ms;
  return TRUE;
}

gboolean
tailor_vk_matmul_bench (TailorVkContext *ctx,
                        TailorType type,
                        guint T,
                        guint K,
                        guint N,
                        TailorVkMatmulDirection direction,
                        guint runs,
                        double *gflops,
                        double *best,
                        GError **error)
{
  g_autoptr (TailorVkMatmulBench) bench = NULL;
  g_autofree double *ms = NULL;

  g_return_val_if_fail (ctx != NULL, FALSE);
  g_return_val_if_fail (gflops != NULL || best != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  runs = MAX (runs, 1);
  bench = tailor_vk_matmul_bench_new (ctx, type, T, K, N, direction, error);
  if (bench == NULL)
    return FALSE;
  ms = g_new (double, runs);
  for (guint r = 0; r < runs; r++)
    if (!tailor_vk_matmul_bench_run (bench, &ms[r], error))
      return FALSE;
  qsort (ms, runs, sizeof ms[0], compare_doubles);
  if (gflops != NULL)
    *gflops = 2.0 * T * K * N / (ms[runs / 2] * 1e6);
  if (best != NULL)
    *best = 2.0 * T * K * N / (ms[0] * 1e6);
  return TRUE;
}
