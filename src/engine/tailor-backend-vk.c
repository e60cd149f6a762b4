/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Vulkan backend: buffers on the Vulkan layer's memory, each op list recorded once into one
 * command buffer (the recorder places the barriers), submitted and waited for per run. */
#include "config.h"

#include <string.h>

#include "tailor-backend-private.h"
#include "tailor-vk-kernels.h"
#include "tailor-vk-matmul.h"
#include "tailor-vk-memory.h"
#include "tailor-vk-private.h"
#include "tailor-vk-recorder.h"

/* A whole training step may take long on a CPU implementation; a hung device still ends. */
#define RUN_TIMEOUT_NS (G_GUINT64_CONSTANT (600) * 1000000000)

/* Products below this many multiply-adds take the general kernel: the tiled and split-K ones
 * save less than a millisecond there, and on llvmpipe each new shape of theirs costs seconds of
 * compilation at its first run. */
#define FAST_MATMUL_MIN_MACS (G_GUINT64_CONSTANT (1) << 20)

/* Elements of a gradient one workgroup sums for the norm; fixed, so the sum is deterministic. */
#define NORM_SPAN 16384

typedef struct
{
  TailorBackend parent;
  TailorVkContext *ctx;
} VkBackend;

/* A quantized weight uploaded into a buffer, also kept in the matmul kernels' layout. */
typedef struct
{
  gsize offset;
  TailorType type;
  gint64 ne0, ne1;
  TailorVkWeight *weight;
  TailorBackend *backend; /* whose allocated bytes count the copy */
} Repacked;

typedef struct
{
  TailorBuf parent;
  TailorVkBuffer *vk;
  GArray *repacked; /* Repacked */
  /* tailor_backend_vk_keep_layout freed the ggml blocks: vk is a placeholder, the tensor is
   * only in its repacked copy */
  gboolean blocks_freed;
} VkBuf;

static void
repacked_clear (gpointer data)
{
  Repacked *r = data;

  if (r->weight != NULL)
    tailor_backend_account (r->backend, -(gint64) tailor_vk_weight_get_device_size (r->weight));
  g_clear_pointer (&r->weight, tailor_vk_weight_free);
}

typedef struct
{
  GArray *ops;        /* TailorOp, lists copied into lists */
  GPtrArray *lists;   /* TailorTensor arrays */
  GPtrArray *scratch; /* TailorVkBuffer: the temporaries of the recording */
  GHashTable *slots;  /* slot name → its current (largest) buffer in scratch */
  TailorVkRecorder *rec;
  gboolean profile;
  GArray *dispatch_op; /* guint: the op each dispatch belongs to */
  /* A LoRA op (index) whose up product (forward) or d(xa) and d(inp) (backward) the op before
   * it recorded with its base matmul; G_MAXUINT: none */
  guint fused_op;
  TailorBackend *backend;
  guint64 scratch_bytes; /* accounted in the backend's allocated bytes */
} VkCompiled;

/* Vulkan-layer errors become backend errors of the matching code, message (and advice) kept. */
static gboolean
propagate (GError **error, GError *vk_error)
{
  TailorBackendError code;

  if (vk_error == NULL)
    return TRUE;
  if (vk_error->domain != TAILOR_VK_ERROR)
    code = vk_error->domain == TAILOR_BACKEND_ERROR ? (TailorBackendError) vk_error->code
                                                    : TAILOR_BACKEND_ERROR_FAILED;
  else
    switch (vk_error->code)
      {
        case TAILOR_VK_ERROR_NO_DEVICE:
        case TAILOR_VK_ERROR_NOT_FOUND:
          code = TAILOR_BACKEND_ERROR_NO_DEVICE;
          break;
        case TAILOR_VK_ERROR_OUT_OF_MEMORY:
          code = TAILOR_BACKEND_ERROR_OUT_OF_MEMORY;
          break;
        case TAILOR_VK_ERROR_DEVICE_LOST:
          code = TAILOR_BACKEND_ERROR_DEVICE_LOST;
          break;
        case TAILOR_VK_ERROR_UNSUPPORTED:
          code = TAILOR_BACKEND_ERROR_UNSUPPORTED;
          break;
        case TAILOR_VK_ERROR_INVALID:
          code = TAILOR_BACKEND_ERROR_INVALID;
          break;
        default:
          code = TAILOR_BACKEND_ERROR_FAILED;
          break;
      }
  g_set_error_literal (error, TAILOR_BACKEND_ERROR, code, vk_error->message);
  g_error_free (vk_error);
  return FALSE;
}

static void
vk_free (TailorBackend *backend)
{
  VkBackend *self = (VkBackend *) backend;

  g_clear_pointer (&self->ctx, tailor_vk_context_free);
  g_free (self->parent.name);
  g_free (self);
}

static TailorBuf *
vk_buf_new (TailorBackend *backend, gsize n_bytes, GError **error)
{
  VkBackend *self = (VkBackend *) backend;
  GError *local = NULL;
  VkBuf *buf;
  TailorVkBuffer *vk;
  /* Whole 16-byte units, so every kernel can bind vec4 texels up to the end. */
  gsize size = MAX ((n_bytes + 15) / 16 * 16, 16);

  vk = tailor_vk_buffer_new (self->ctx, size, "tensor", &local);
  if (vk == NULL)
    {
      propagate (error, local);
      return NULL;
    }
  if (!tailor_vk_buffer_fill (vk, 0, size, 0, &local))
    {
      tailor_vk_buffer_free (vk);
      propagate (error, local);
      return NULL;
    }
  buf = g_new0 (VkBuf, 1);
  buf->vk = vk;
  buf->repacked = g_array_new (FALSE, TRUE, sizeof (Repacked));
  g_array_set_clear_func (buf->repacked, repacked_clear);
  return &buf->parent;
}

static void
vk_buf_free (TailorBackend *backend, TailorBuf *buf)
{
  VkBuf *self = (VkBuf *) buf;

  /* the dispatch layer takes the whole size off again */
  if (self->blocks_freed)
    tailor_backend_account (backend, (gint64) self->parent.size);
  g_array_unref (self->repacked);
  tailor_vk_buffer_free (self->vk);
  g_free (self);
}

static gboolean
blocks_freed (GError **error, const char *what)
{
  g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID,
               "%s needs a weight's ggml blocks, which were freed after upload "
               "(tailor_backend_vk_keep_layout): keep them for a weight read that way.",
               what);
  return FALSE;
}

/* The matmul kernels read quantized weights in their own layout (tailor-vk-matmul.h); a 2-D
 * upload of a type they read gets that copy beside the ggml blocks, which the gather kernels
 * (embedding, output chunks) and downloads keep using. F32 stays single: it may be trained. */
static gboolean
repack (VkBackend *self, VkBuf *buf, const TailorTensor *t, const void *data, GError **error)
{
  GError *local = NULL;
  Repacked r = { t->offset, t->type, t->ne[0], t->ne[1], NULL, &self->parent };

  for (guint i = 0; i < buf->repacked->len; i++)
    if (g_array_index (buf->repacked, Repacked, i).offset == t->offset)
      g_array_remove_index_fast (buf->repacked, i--);
  if (t->type == TAILOR_TYPE_F32 || t->type == TAILOR_TYPE_I32 ||
      !tailor_vk_matmul_supports_type (t->type) || t->ne[2] != 1 || t->ne[3] != 1)
    return TRUE;
  r.weight =
    tailor_vk_weight_upload_data (self->ctx, "weight", t->type, data, t->ne[0], t->ne[1], &local);
  if (r.weight == NULL)
    {
      /* A shape the kernels refuse falls back to dequantizing; running out of memory does not. */
      if (g_error_matches (local, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID) ||
          g_error_matches (local, TAILOR_VK_ERROR, TAILOR_VK_ERROR_UNSUPPORTED))
        {
          g_error_free (local);
          return TRUE;
        }
      return propagate (error, local);
    }
  tailor_backend_account (&self->parent, (gint64) tailor_vk_weight_get_device_size (r.weight));
  g_array_append_val (buf->repacked, r);
  return TRUE;
}

static gboolean
vk_upload (TailorBackend *backend, const TailorTensor *t, const void *data, GError **error)
{
  VkBuf *buf = (VkBuf *) t->buf;
  GError *local = NULL;

  if (buf->blocks_freed)
    return blocks_freed (error, "an upload");
  if (!tailor_vk_buffer_upload (buf->vk, t->offset, data, tailor_tensor_n_bytes (t), &local))
    return propagate (error, local);
  return repack ((VkBackend *) backend, buf, t, data, error);
}

/* The repacked copy of w, when its upload made one. */
static const TailorVkWeight *
repacked_weight (const TailorTensor *w)
{
  VkBuf *buf = (VkBuf *) w->buf;

  for (guint i = 0; i < buf->repacked->len; i++)
    {
      const Repacked *r = &g_array_index (buf->repacked, Repacked, i);

      if (r->offset == w->offset && r->type == w->type && r->ne0 == w->ne[0] &&
          r->ne1 == tailor_tensor_n_elements (w) / w->ne[0])
        return r->weight;
    }
  return NULL;
}

static gboolean
vk_download (TailorBackend *backend, const TailorTensor *t, void *data, GError **error)
{
  GError *local = NULL;

  (void) backend;
  if (((VkBuf *) t->buf)->blocks_freed)
    return blocks_freed (error, "a download");
  if (!tailor_vk_buffer_download (((VkBuf *) t->buf)->vk, t->offset, data,
                                  tailor_tensor_n_bytes (t), &local))
    return propagate (error, local);
  return TRUE;
}

/* ---- Recording ---- */

static gboolean
present (const TailorTensor *t)
{
  return t != NULL && t->buf != NULL;
}

/* The range of t in *storage, or NULL when t is absent. */
static const TailorVkBufferRange *
range (const TailorTensor *t, TailorVkBufferRange *storage)
{
  if (!present (t))
    return NULL;
  *storage = (TailorVkBufferRange){ ((VkBuf *) t->buf)->vk, t->offset, tailor_tensor_n_bytes (t) };
  return storage;
}

static gint64
rows_of (const TailorTensor *t, gint64 row_len)
{
  return row_len > 0 ? tailor_tensor_n_elements (t) / row_len : 0;
}

/* A temporary of n_floats for one op's recording. Ops run one after the other and the recorder
 * orders a write after earlier reads of the same buffer, so every op that asks for the same
 * slot shares one buffer (grown when a later op needs more): the temporaries of a graph cost
 * its largest op's, not their sum. Temporaries an op needs at once take different slots. */
static gboolean
scratch (VkCompiled *c,
         TailorVkContext *ctx,
         const char *slot,
         guint64 n_floats,
         TailorVkBufferRange *out,
         GError **error)
{
  gsize need = MAX (n_floats, 4) * sizeof (float);
  TailorVkBuffer *buf = g_hash_table_lookup (c->slots, slot);

  if (buf == NULL || tailor_vk_buffer_get_size (buf) < need)
    {
      buf = tailor_vk_buffer_new (ctx, need, "scratch", error);
      if (buf == NULL)
        return FALSE;
      g_ptr_array_add (c->scratch, buf);
      g_hash_table_replace (c->slots, (gpointer) slot, buf);
      c->scratch_bytes += tailor_vk_buffer_get_size (buf);
      tailor_backend_account (c->backend, (gint64) tailor_vk_buffer_get_size (buf));
    }
  *out = (TailorVkBufferRange){ buf, 0, (gsize) n_floats * sizeof (float) };
  return TRUE;
}

/* The packing scratch the matmul kernels read this product's X (or dY) through, in *pack
 * (NULL where they read it in place). */
static gboolean
pack_scratch (VkCompiled *c,
              TailorVkContext *ctx,
              TailorVkMatmulDirection direction,
              TailorType type,
              guint T,
              guint IC,
              guint OC,
              TailorVkBufferRange *space,
              const TailorVkBufferRange **pack,
              GError **error)
{
  guint64 n = tailor_vk_matmul_pack_floats (ctx, direction, type, T, IC, OC);

  *pack = NULL;
  if (n == 0)
    return TRUE;
  if (!scratch (c, ctx, "pack", n, space, error))
    return FALSE;
  *pack = space;
  return TRUE;
}

static gboolean
unsupported (GError **error, guint index, const TailorOp *op, const char *what)
{
  g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_UNSUPPORTED,
               "op %u (%s): %s on the Vulkan backend; use the CPU backend (--device cpu).", index,
               tailor_op_kind_name (op->kind), what);
  return FALSE;
}

/* W (ne {IC, OC}) as a row-major fp32 matrix: the tensor itself for F32, else its rows
 * dequantized into a scratch by the gather kernel. */
static gboolean
weight_f32 (VkCompiled *c,
            TailorVkRecorder *rec,
            TailorVkContext *ctx,
            const TailorTensor *w,
            guint64 row0,
            guint64 n_rows,
            TailorVkBufferRange *out,
            GError **error)
{
  TailorVkBufferRange wr;
  guint64 IC = (guint64) w->ne[0];
  const TailorVkWeight *repacked = repacked_weight (w);

  /* (F32 weights are never repacked: they may be trained in place.) */
  if (repacked != NULL)
    return scratch (c, ctx, "weight", n_rows * IC, out, error) &&
           tailor_vk_weight_rows (rec, out, repacked, NULL, (guint) row0, (guint) n_rows, error);
  if (((VkBuf *) w->buf)->blocks_freed)
    return blocks_freed (error, "dequantizing rows (a small or unaligned product, a loss chunk)");
  range (w, &wr);
  if (w->type == TAILOR_TYPE_F32)
    {
      *out = (TailorVkBufferRange){ wr.buffer, wr.offset + row0 * IC * 4, n_rows * IC * 4 };
      return TRUE;
    }
  return scratch (c, ctx, "weight", n_rows * IC, out, error) &&
         tailor_vk_op_embedding (rec, out, &wr, w->type, (guint) rows_of (w, w->ne[0]), NULL,
                                 (guint) row0, (guint) n_rows, (guint) IC, error);
}

/* Whether the tensors sit where the matmul kernels can bind them as they are (those kernels
 * take ranges at the tensor's own offset): texel reads, then storage writes; NULL ones pass. */
static gboolean
bindable (TailorVkContext *ctx,
          const TailorTensor *texel1,
          const TailorTensor *texel2,
          const TailorTensor *storage)
{
  guint64 ta = ctx->info->texel_buffer_alignment, sa = ctx->info->storage_buffer_alignment;

  return (!present (texel1) || texel1->offset % ta == 0) &&
         (!present (texel2) || texel2->offset % ta == 0) &&
         (!present (storage) || storage->offset % sa == 0);
}

/* The same tensor: buffer, offset and shape. */
static gboolean
same_tensor (const TailorTensor *a, const TailorTensor *b)
{
  return present (a) && present (b) && a->buf == b->buf && a->offset == b->offset &&
         a->type == b->type && tailor_tensor_n_elements (a) == tailor_tensor_n_elements (b);
}

/* A LoRA op's pieces: its matrices' shapes and its dropout. */
typedef struct
{
  guint IC, r, OC, T;
  float scale, dropout;
  const TailorTensor *inp, *a, *b, *seed;
} LoraShape;

static void
lora_shape (const TailorOp *op, LoraShape *l)
{
  gboolean backward = op->kind == TAILOR_OP_LORA_BACKWARD;

  l->inp = &op->t[backward ? 4 : 2];
  l->a = &op->t[backward ? 6 : 3];
  l->b = &op->t[backward ? 7 : 4];
  l->seed = &op->t[backward ? 8 : 5];
  l->scale = op->f[0];
  l->dropout = op->f[1];
  l->IC = (guint) l->a->ne[0];
  l->r = (guint) rows_of (l->a, l->a->ne[0]);
  l->OC = (guint) rows_of (l->b, l->r);
  l->T = (guint) rows_of (l->inp, l->IC);
}

/* xa (T, r) = drop (inp) · Aᵀ into the forward op's t[1]: the fp32 forward kernel dropping inp's
 * elements as it reads them, or the general product. */
static gboolean
lora_down (TailorVkRecorder *rec, TailorVkContext *ctx, const TailorOp *op, GError **error)
{
  const TailorTensor *t = op->t;
  LoraShape l;
  TailorVkBufferRange s[4];
  TailorVkDropout drop;
  TailorVkGemm down;

  lora_shape (op, &l);
  drop = (TailorVkDropout){ range (l.seed, &s[3]), l.dropout };
  if ((guint64) l.T * l.IC * l.r >= FAST_MATMUL_MIN_MACS && l.IC % 4 == 0 &&
      bindable (ctx, l.inp, l.a, &t[1]))
    return tailor_vk_matmul_f32_forward (rec, range (&t[1], &s[0]), range (l.inp, &s[1]),
                                         range (l.a, &s[2]), l.T, l.IC, l.r, NULL,
                                         l.dropout > 0.0f ? &drop : NULL, error);
  down = (TailorVkGemm){ l.T,  l.r,  l.IC,  l.r,
                         l.IC, 1,    l.IC,  1,
                         1.0f, FALSE, FALSE, l.dropout > 0.0f ? TAILOR_VK_DROP_A : TAILOR_VK_DROP_NONE,
                         l.dropout };
  return tailor_vk_op_gemm (rec, range (&t[1], &s[0]), range (l.inp, &s[1]), range (l.a, &s[2]),
                            NULL, range (l.seed, &s[3]), &down, error);
}

/* d(xa) (T, r) = scale · dout · B of a backward op into the "lora" scratch *dxa. */
static gboolean
lora_dxa (VkCompiled *c,
          TailorVkRecorder *rec,
          TailorVkContext *ctx,
          const TailorOp *op,
          TailorVkBufferRange *dxa,
          GError **error)
{
  const TailorTensor *t = op->t;
  LoraShape l;
  TailorVkBufferRange s[2];
  TailorVkGemm g;

  lora_shape (op, &l);
  g = (TailorVkGemm){ l.T, l.r, l.OC, l.r, l.OC, 1, 1, l.r, l.scale };
  if (!scratch (c, ctx, "lora", (guint64) l.T * l.r, dxa, error))
    return FALSE;
  if ((guint64) l.T * l.OC * l.r >= FAST_MATMUL_MIN_MACS && l.OC % 4 == 0 && l.r % 4 == 0 &&
      bindable (ctx, &t[3], l.b, NULL))
    return tailor_vk_matmul_dense (rec, TAILOR_VK_MATMUL_BACKWARD_INPUT, dxa, range (&t[3], &s[0]),
                                   NULL, range (l.b, &s[1]), l.T, l.r, l.OC, l.scale, FALSE, NULL,
                                   error);
  return tailor_vk_op_gemm (rec, dxa, range (&t[3], &s[0]), range (l.b, &s[1]), NULL, NULL, &g,
                            error);
}

/* Whether next is a LoRA op of the same rows whose rank-r product the base matmul over T rows
 * can take as its LoRA part (tailor_vk_matmul_takes_lora): its output (forward) or input
 * gradient (backward) is the base's, w (B or A) and in (xa, or the dxa scratch) bind as texels. */
static gboolean
lora_fuses (TailorVkContext *ctx,
            const TailorOp *next,
            TailorOpKind kind,
            const TailorTensor *out,
            guint T,
            guint N)
{
  LoraShape l;

  if (next == NULL || next->kind != kind || !same_tensor (&next->t[0], out))
    return FALSE;
  lora_shape (next, &l);
  return l.T == T && l.r % 4 == 0 && l.r > 0 &&
         (kind == TAILOR_OP_LORA ? l.OC == N && bindable (ctx, &next->t[1], l.b, NULL)
                                 : l.IC == N && bindable (ctx, l.a, NULL, NULL)) &&
         tailor_vk_matmul_takes_lora (ctx,
                                      kind == TAILOR_OP_LORA ? TAILOR_VK_MATMUL_FORWARD
                                                             : TAILOR_VK_MATMUL_BACKWARD_INPUT,
                                      T);
}

static gboolean
record_matmul (VkCompiled *c,
               TailorVkRecorder *rec,
               TailorVkContext *ctx,
               guint index,
               const TailorOp *op,
               GError **error)
{
  TailorVkBufferRange s[4], w, space, lr[3];
  const TailorVkBufferRange *pack = NULL;
  const TailorTensor *t = op->t;
  const TailorOp *next =
    index + 1 < c->ops->len ? &g_array_index (c->ops, TailorOp, index + 1) : NULL;
  TailorVkDropout drop;
  TailorVkLoraPart part;
  LoraShape l;

  if (op->kind == TAILOR_OP_MATMUL)
    {
      guint IC = (guint) t[2].ne[0], OC = (guint) rows_of (&t[2], t[2].ne[0]);
      guint T = (guint) rows_of (&t[1], IC);
      const TailorVkWeight *weight = repacked_weight (&t[2]);
      TailorVkGemm g = { T, OC, IC, OC, IC, 1, IC, 1, 1.0f };
      /* a weight kept only repacked takes those kernels at any size */
      gboolean big =
        (guint64) T * IC * OC >= FAST_MATMUL_MIN_MACS || ((VkBuf *) t[2].buf)->blocks_freed;

      if (big && weight != NULL && bindable (ctx, &t[1], &t[3], &t[0]))
        {
          /* A LoRA op right after on the same output: its down product first, then its up
           * product in the same pass as this one. */
          gboolean fuse = lora_fuses (ctx, next, TAILOR_OP_LORA, &t[0], T, OC);

          if (fuse)
            {
              lora_shape (next, &l);
              part = (TailorVkLoraPart){ range (&next->t[1], &lr[0]), range (l.b, &lr[1]), l.r,
                                         l.scale, NULL };
              if (!lora_down (rec, ctx, next, error))
                return FALSE;
              c->fused_op = index + 1;
            }
          return pack_scratch (c, ctx, TAILOR_VK_MATMUL_FORWARD, t[2].type, T, IC, OC, &space,
                               &pack, error) &&
                 tailor_vk_matmul (rec, range (&t[0], &s[0]), range (&t[1], &s[1]), pack, weight,
                                   range (&t[3], &s[3]), T, FALSE, fuse ? &part : NULL, error);
        }
      if (big && t[2].type == TAILOR_TYPE_F32 && IC % 4 == 0 && bindable (ctx, &t[1], &t[2], &t[0]))
        return tailor_vk_matmul_f32_forward (rec, range (&t[0], &s[0]), range (&t[1], &s[1]),
                                             range (&t[2], &s[2]), T, IC, OC, NULL, NULL, error) &&
               (!present (&t[3]) || tailor_vk_op_add (rec, &s[0], &s[0], range (&t[3], &s[3]),
                                                      (guint64) T * OC, OC, error));
      return weight_f32 (c, rec, ctx, &t[2], 0, OC, &w, error) &&
             tailor_vk_op_gemm (rec, range (&t[0], &s[0]), range (&t[1], &s[1]), &w,
                                range (&t[3], &s[3]), NULL, &g, error);
    }
  if (op->kind == TAILOR_OP_MATMUL_BACKWARD_INPUT)
    {
      guint IC = (guint) t[2].ne[0], OC = (guint) rows_of (&t[2], t[2].ne[0]);
      guint T = (guint) rows_of (&t[1], OC);
      const TailorVkWeight *weight = repacked_weight (&t[2]);
      TailorVkGemm g = { T, IC, OC, IC, OC, 1, 1, IC, 1.0f, TRUE };

      if (((guint64) T * IC * OC >= FAST_MATMUL_MIN_MACS || ((VkBuf *) t[2].buf)->blocks_freed) &&
          weight != NULL && OC % 4 == 0 && bindable (ctx, &t[1], NULL, &t[0]))
        {
          /* A LoRA backward right after into the same input gradient: its d(xa) first, then its
           * d(inp) in the same pass as this one; the LoRA op records the rest. */
          gboolean fuse = lora_fuses (ctx, next, TAILOR_OP_LORA_BACKWARD, &t[0], T, IC);

          if (fuse)
            {
              lora_shape (next, &l);
              if (!lora_dxa (c, rec, ctx, next, &lr[2], error))
                return FALSE;
              drop = (TailorVkDropout){ range (l.seed, &lr[0]), l.dropout };
              part = (TailorVkLoraPart){ &lr[2], range (l.a, &lr[1]), l.r, 1.0f,
                                         l.dropout > 0.0f ? &drop : NULL };
              c->fused_op = index + 1;
            }
          return pack_scratch (c, ctx, TAILOR_VK_MATMUL_BACKWARD_INPUT, t[2].type, T, IC, OC,
                               &space, &pack, error) &&
                 tailor_vk_matmul_backward_input (rec, range (&t[0], &s[0]), range (&t[1], &s[1]),
                                                  pack, weight, T, TRUE, fuse ? &part : NULL,
                                                  error);
        }
      return weight_f32 (c, rec, ctx, &t[2], 0, OC, &w, error) &&
             tailor_vk_op_gemm (rec, range (&t[0], &s[0]), range (&t[1], &s[1]), &w, NULL, NULL, &g,
                                error);
    }
  else
    {
      guint IC = (guint) t[0].ne[0], OC = (guint) rows_of (&t[0], t[0].ne[0]);
      guint T = (guint) rows_of (&t[3], IC);
      TailorVkGemm g = { OC, IC, T, IC, 1, OC, 1, IC, 1.0f, TRUE };
      TailorVkGemm gb = { OC, 1, T, 1, 1, OC, 0, 0, 1.0f, TRUE, TRUE };
      gboolean ok;

      if ((guint64) T * IC * OC >= FAST_MATMUL_MIN_MACS && IC % 4 == 0 && OC % 4 == 0 &&
          bindable (ctx, &t[2], &t[3], &t[0]))
        ok = tailor_vk_matmul_backward_weight (rec, range (&t[0], &s[0]), range (&t[2], &s[2]),
                                               range (&t[3], &s[3]), T, IC, OC, 1.0f, NULL, error);
      else
        ok = tailor_vk_op_gemm (rec, range (&t[0], &s[0]), range (&t[2], &s[2]),
                                range (&t[3], &s[3]), NULL, NULL, &g, error);
      return ok && (!present (&t[1]) ||
                    tailor_vk_op_gemm (rec, range (&t[1], &s[1]), range (&t[2], &s[2]), NULL, NULL,
                                       NULL, &gb, error));
    }
}

static gboolean
record_lora (VkCompiled *c,
             TailorVkRecorder *rec,
             TailorVkContext *ctx,
             guint index,
             const TailorOp *op,
             GError **error)
{
  const TailorTensor *t = op->t;
  gboolean backward = op->kind == TAILOR_OP_LORA_BACKWARD;
  gboolean fused = c->fused_op == index;
  LoraShape l;
  TailorVkBufferRange s[9], dxa;
  TailorVkDropout drop = { NULL, 0.0f };

  lora_shape (op, &l);
  if (l.dropout > 0.0f && !present (l.seed))
    {
      g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID,
                   "op %u (%s): dropout %g needs a seed tensor.", index,
                   tailor_op_kind_name (op->kind), l.dropout);
      return FALSE;
    }
  if (l.dropout > 0.0f)
    drop = (TailorVkDropout){ range (l.seed, &s[8]), l.dropout };
  if (!backward)
    {
      /* xa (T, r) = drop (inp) · Aᵀ, then out += scale · xa · Bᵀ (both already recorded with
       * the base matmul when fused) */
      TailorVkGemm up = { l.T, l.OC, l.r, l.OC, l.r, 1, l.r, 1, l.scale, TRUE };

      if (fused)
        return TRUE;
      if (!lora_down (rec, ctx, op, error))
        return FALSE;
      /* the up product through the matmul kernels, which own whole blocks on llvmpipe */
      if ((guint64) l.T * l.OC * l.r >= FAST_MATMUL_MIN_MACS && l.r % 4 == 0 &&
          bindable (ctx, &t[1], l.b, &t[0]))
        return tailor_vk_matmul_dense (rec, TAILOR_VK_MATMUL_FORWARD, range (&t[0], &s[0]),
                                       range (&t[1], &s[1]), NULL, range (l.b, &s[4]), l.T, l.r,
                                       l.OC, l.scale, TRUE, NULL, error);
      return tailor_vk_op_gemm (rec, range (&t[0], &s[0]), range (&t[1], &s[1]),
                                range (l.b, &s[4]), NULL, NULL, &up, error);
    }
  else
    {
      /* dxa (T, r) = scale · dout · B; db += scale · doutᵀ · xa; da += dxaᵀ · drop (inp);
       * dinp += drop ⊙ (dxa · A). Fused, the matmul backward before recorded dxa (into the
       * same scratch) and dinp. */
      guint T = l.T, IC = l.IC, r = l.r, OC = l.OC;
      TailorVkGemm g_db = { OC, r, T, r, 1, OC, 1, r, l.scale, TRUE };
      TailorVkGemm g_da = { r,      IC,    T,
                            IC,     1,     r,
                            1,      IC,    1.0f,
                            TRUE,   FALSE, l.dropout > 0.0f ? TAILOR_VK_DROP_B : TAILOR_VK_DROP_NONE,
                            l.dropout };
      TailorVkGemm g_dinp = {
        T,      IC, r,    IC,   r,     1,
        1,      IC, 1.0f, TRUE, FALSE, l.dropout > 0.0f ? TAILOR_VK_DROP_C : TAILOR_VK_DROP_NONE,
        l.dropout
      };
      const TailorVkDropout *dropping = l.dropout > 0.0f ? &drop : NULL;
      gboolean big_in = (guint64) T * IC * r >= FAST_MATMUL_MIN_MACS && IC % 4 == 0 && r % 4 == 0;
      gboolean big_out = (guint64) T * OC * r >= FAST_MATMUL_MIN_MACS && OC % 4 == 0 && r % 4 == 0;
      /* dB and dA (of the dropped input) are weight gradients, d(inp) an input gradient through
       * A: the matmul kernels', dropout included */
      gboolean db_fast = big_out && bindable (ctx, &t[3], &t[5], &t[2]);
      gboolean da_fast = big_in && bindable (ctx, l.inp, NULL, &t[1]);
      gboolean dinp_fast = big_in && bindable (ctx, NULL, l.a, &t[0]);

      if (fused ? !scratch (c, ctx, "lora", (guint64) T * r, &dxa, error)
                : !lora_dxa (c, rec, ctx, op, &dxa, error))
        return FALSE;
      return (db_fast ? tailor_vk_matmul_backward_weight (rec, range (&t[2], &s[2]),
                                                          range (&t[3], &s[3]),
                                                          range (&t[5], &s[5]), T, r, OC, l.scale,
                                                          NULL, error)
                      : tailor_vk_op_gemm (rec, range (&t[2], &s[2]), range (&t[3], &s[3]),
                                           range (&t[5], &s[5]), NULL, NULL, &g_db, error)) &&
             (da_fast ? tailor_vk_matmul_backward_weight (rec, range (&t[1], &s[1]), &dxa,
                                                          range (l.inp, &s[4]), T, IC, r, 1.0f,
                                                          dropping, error)
                      : tailor_vk_op_gemm (rec, range (&t[1], &s[1]), &dxa, range (l.inp, &s[4]),
                                           NULL, range (l.seed, &s[7]), &g_da, error)) &&
             (fused || !present (&t[0]) ||
              (dinp_fast ? tailor_vk_matmul_dense (rec, TAILOR_VK_MATMUL_BACKWARD_INPUT,
                                                   range (&t[0], &s[0]), &dxa, NULL,
                                                   range (l.a, &s[6]), T, IC, r, 1.0f, TRUE,
                                                   dropping, error)
                         : tailor_vk_op_gemm (rec, range (&t[0], &s[0]), &dxa, range (l.a, &s[6]),
                                              NULL, range (l.seed, &s[7]), &g_dinp, error)));
    }
}

static gboolean
record_cross_entropy (
  VkCompiled *c, TailorVkRecorder *rec, TailorVkContext *ctx, const TailorOp *op, GError **error)
{
  const TailorTensor *t = op->t;
  gboolean backward = op->kind == TAILOR_OP_CROSS_ENTROPY_BACKWARD;
  const TailorTensor *inp = &t[2];
  const TailorTensor *w = &t[3];
  guint C = (guint) w->ne[0], V = (guint) rows_of (w, w->ne[0]);
  guint T = (guint) rows_of (inp, C);
  guint chunk = (guint) MIN ((guint) MAX (op->i[0], 1), V);
  TailorVkBufferRange s[8], logits, state, wc, space;
  const TailorVkBufferRange *pack = NULL;

  if (!scratch (c, ctx, "logits", (guint64) T * chunk, &logits, error) ||
      (!backward && !scratch (c, ctx, "loss", (guint64) T * 3, &state, error)))
    return FALSE;
  for (guint v0 = 0; v0 < V; v0 += chunk)
    {
      guint nc = MIN (chunk, V - v0);
      TailorVkBufferRange lc = { logits.buffer, 0, (gsize) T * nc * 4 };
      TailorVkGemm g_logits = { T, nc, C, nc, C, 1, C, 1, 1.0f };
      gboolean big = (guint64) T * C * nc >= FAST_MATMUL_MIN_MACS && C % 4 == 0;

      if (!weight_f32 (c, rec, ctx, w, v0, nc, &wc, error))
        return FALSE;
      big = big && bindable (ctx, inp, NULL, NULL) &&
            wc.offset % ctx->info->texel_buffer_alignment == 0;
      /* The chunk's logits through the fp32 forward kernel where the shapes allow (1.2–1.5× the
       * quantized family's over an F32 weight, in pairs of alternating runs at reductions of
       * 288 and 576), else the general product. */
      if (big)
        {
          if (!tailor_vk_matmul_f32_forward (rec, &lc, range (inp, &s[2]), &wc, T, C, nc, NULL,
                                             NULL, error))
            return FALSE;
        }
      else if (!tailor_vk_op_gemm (rec, &lc, range (inp, &s[2]), &wc, NULL, NULL, &g_logits, error))
        return FALSE;
      if (!backward)
        {
          if (!tailor_vk_op_cross_entropy_chunk (rec, &state, &lc, range (&t[4], &s[4]), T, nc, v0,
                                                 v0 == 0, error))
            return FALSE;
        }
      else
        {
          /* dlogits in place; dinp += dlogits · W_chunk, an input gradient through the chunk;
           * dw rows += dlogitsᵀ · inp */
          TailorVkGemm g_dinp = { T, C, nc, C, nc, 1, 1, C, 1.0f, TRUE };
          TailorVkGemm g_dw = { nc, C, T, C, 1, nc, 1, C, 1.0f, TRUE };
          gboolean dinp_fast = big && nc % 4 == 0 && bindable (ctx, NULL, NULL, &t[0]);

          if (!tailor_vk_op_cross_entropy_backward (rec, &lc, range (&t[6], &s[6]),
                                                    range (&t[4], &s[4]), range (&t[5], &s[5]),
                                                    range (&t[7], &s[7]), T, nc, v0, error))
            return FALSE;
          if (dinp_fast ? !pack_scratch (c, ctx, TAILOR_VK_MATMUL_BACKWARD_INPUT, TAILOR_TYPE_F32,
                                         T, C, nc, &space, &pack, error) ||
                            !tailor_vk_matmul_dense (rec, TAILOR_VK_MATMUL_BACKWARD_INPUT,
                                                     range (&t[0], &s[0]), &lc, pack, &wc, T, C,
                                                     nc, 1.0f, TRUE, NULL, error)
                        : !tailor_vk_op_gemm (rec, range (&t[0], &s[0]), &lc, &wc, NULL, NULL,
                                              &g_dinp, error))
            return FALSE;
          if (present (&t[1]))
            {
              TailorVkBufferRange dw = { ((VkBuf *) t[1].buf)->vk, t[1].offset + (gsize) v0 * C * 4,
                                         (gsize) nc * C * 4 };

              gboolean ok;

              if ((guint64) T * C * nc >= FAST_MATMUL_MIN_MACS && C % 4 == 0 && nc % 4 == 0 &&
                  bindable (ctx, inp, NULL, &t[1]) &&
                  dw.offset % ctx->info->storage_buffer_alignment == 0)
                ok = tailor_vk_matmul_backward_weight (rec, &dw, &lc, range (inp, &s[2]), T, C, nc,
                                                       1.0f, NULL, error);
              else
                ok =
                  tailor_vk_op_gemm (rec, &dw, &lc, range (inp, &s[2]), NULL, NULL, &g_dw, error);
              if (!ok)
                return FALSE;
            }
        }
    }
  return backward ||
         tailor_vk_op_cross_entropy_finish (rec, range (&t[0], &s[0]), range (&t[1], &s[1]), &state,
                                            range (&t[5], &s[5]), T, error);
}

static gboolean
record_grad_norm (
  VkCompiled *c, TailorVkRecorder *rec, TailorVkContext *ctx, const TailorOp *op, GError **error)
{
  TailorVkBufferRange s[2], partials;
  guint64 n_partials = 0, at = 0;

  for (guint i = 0; i < op->n_list; i++)
    n_partials += (tailor_tensor_n_elements (&op->list[i]) + NORM_SPAN - 1) / NORM_SPAN;
  if (!scratch (c, ctx, "norm", MAX (n_partials, 1), &partials, error))
    return FALSE;
  if (n_partials == 0)
    return tailor_vk_op_zero (rec, range (&op->t[0], &s[0]), 1, error);
  for (guint i = 0; i < op->n_list; i++)
    {
      guint64 n = (guint64) tailor_tensor_n_elements (&op->list[i]);
      TailorVkBufferRange part = { partials.buffer, at * 4, 0 };

      if (n == 0)
        continue;
      part.size = (n + NORM_SPAN - 1) / NORM_SPAN * 4;
      if (!tailor_vk_op_reduce (rec, &part, range (&op->list[i], &s[1]), n, NORM_SPAN, TRUE, error))
        return FALSE;
      at += (n + NORM_SPAN - 1) / NORM_SPAN;
    }
  return tailor_vk_op_reduce (rec, range (&op->t[0], &s[0]), &partials, n_partials,
                              (guint) n_partials, FALSE, error);
}

static gboolean
record_op (VkCompiled *c,
           TailorVkRecorder *rec,
           TailorVkContext *ctx,
           guint index,
           const TailorOp *op,
           GError **error)
{
  const TailorTensor *t = op->t;
  TailorVkBufferRange s[TAILOR_OP_MAX_TENSORS], tmp;

  switch (op->kind)
    {
      case TAILOR_OP_ZERO:
        return tailor_vk_op_zero (rec, range (&t[0], &s[0]), tailor_tensor_n_bytes (&t[0]) / 4,
                                  error);
      case TAILOR_OP_ADD:
        return tailor_vk_op_add (rec, range (&t[0], &s[0]), range (&t[1], &s[1]),
                                 range (&t[2], &s[2]), tailor_tensor_n_elements (&t[0]),
                                 tailor_tensor_n_elements (&t[0]), error);
      case TAILOR_OP_EMBEDDING:
        /* From the matmul kernels' layout where the weight has it: four values per lane. */
        if (repacked_weight (&t[1]) != NULL)
          return tailor_vk_weight_rows (rec, range (&t[0], &s[0]), repacked_weight (&t[1]),
                                        range (&t[2], &s[2]), 0,
                                        (guint) tailor_tensor_n_elements (&t[2]), error);
        if (((VkBuf *) t[1].buf)->blocks_freed)
          return blocks_freed (error, "an embedding gather");
        if (!tailor_vk_type_is_gatherable (t[1].type))
          return unsupported (error, index, op, "this embedding type has no gather kernel");
        return tailor_vk_op_embedding (rec, range (&t[0], &s[0]), range (&t[1], &s[1]), t[1].type,
                                       (guint) rows_of (&t[1], t[1].ne[0]), range (&t[2], &s[2]), 0,
                                       (guint) tailor_tensor_n_elements (&t[2]), (guint) t[1].ne[0],
                                       error);
      case TAILOR_OP_EMBEDDING_BACKWARD:
        return tailor_vk_op_embedding_backward (
          rec, range (&t[0], &s[0]), range (&t[1], &s[1]), range (&t[2], &s[2]),
          (guint) tailor_tensor_n_elements (&t[2]), (guint) t[0].ne[0],
          (guint) rows_of (&t[0], t[0].ne[0]), error);
      case TAILOR_OP_RMSNORM:
        return tailor_vk_op_rmsnorm (rec, range (&t[0], &s[0]), range (&t[1], &s[1]),
                                     range (&t[2], &s[2]), range (&t[3], &s[3]),
                                     (guint) rows_of (&t[2], t[2].ne[0]), (guint) t[2].ne[0],
                                     op->f[0], error);
      case TAILOR_OP_RMSNORM_BACKWARD:
        {
          guint T = (guint) rows_of (&t[3], t[3].ne[0]);

          return scratch (c, ctx, "rows", T, &tmp, error) &&
                 tailor_vk_op_rmsnorm_backward (rec, range (&t[0], &s[0]), range (&t[1], &s[1]),
                                                &tmp, range (&t[2], &s[2]), range (&t[3], &s[3]),
                                                range (&t[4], &s[4]), T, (guint) t[3].ne[0],
                                                op->f[0], error);
        }
      case TAILOR_OP_MATMUL:
      case TAILOR_OP_MATMUL_BACKWARD_INPUT:
      case TAILOR_OP_MATMUL_BACKWARD_WEIGHT:
        if (op->kind != TAILOR_OP_MATMUL_BACKWARD_WEIGHT &&
            !tailor_vk_type_is_gatherable (t[2].type))
          return unsupported (error, index, op, "this weight type has no kernel");
        return record_matmul (c, rec, ctx, index, op, error);
      case TAILOR_OP_ROPE:
        return tailor_vk_op_rope (rec, range (&t[0], &s[0]), range (&t[1], &s[1]),
                                  range (&t[2], &s[2]), (guint) tailor_tensor_n_elements (&t[1]),
                                  (guint) op->i[0], (guint) op->i[1], (guint) op->i[2], op->f[0],
                                  op->f[1], op->i[3] == TAILOR_ROPE_NEOX, op->i[4] != 0, error);
      case TAILOR_OP_ATTENTION:
        return tailor_vk_op_attention (rec, range (&t[0], &s[0]), range (&t[1], &s[1]),
                                       range (&t[2], &s[2]), range (&t[3], &s[3]),
                                       range (&t[4], &s[4]),
                                       (guint) rows_of (&t[2], (gint64) op->i[0] * op->i[2]),
                                       (guint) op->i[0], (guint) op->i[1], (guint) op->i[2], error);
      case TAILOR_OP_ATTENTION_BACKWARD:
        {
          guint T = (guint) rows_of (&t[6], (gint64) op->i[0] * op->i[2]);

          return scratch (c, ctx, "rows", (guint64) T * op->i[0], &tmp, error) &&
                 tailor_vk_op_attention_backward (
                   rec, range (&t[0], &s[0]), range (&t[1], &s[1]), range (&t[2], &s[2]), &tmp,
                   range (&t[3], &s[3]), range (&t[4], &s[4]), range (&t[5], &s[5]),
                   range (&t[6], &s[6]), range (&t[7], &s[7]), range (&t[8], &s[8]), T,
                   (guint) op->i[0], (guint) op->i[1], (guint) op->i[2], error);
        }
      case TAILOR_OP_ATTENTION_CACHED:
        return tailor_vk_op_attention_cached (
          rec, range (&t[0], &s[0]), range (&t[4], &s[4]), range (&t[5], &s[5]),
          range (&t[1], &s[1]), range (&t[2], &s[2]), range (&t[3], &s[3]), range (&t[6], &s[6]),
          (guint) tailor_tensor_n_elements (&t[6]),
          (guint) rows_of (&t[4], (gint64) op->i[1] * op->i[2]), (guint) op->i[0], (guint) op->i[1],
          (guint) op->i[2], error);
      case TAILOR_OP_SWIGLU:
        if (t[0].offset % ctx->info->texel_buffer_alignment != 0 ||
            t[1].offset % ctx->info->texel_buffer_alignment != 0 ||
            t[2].offset % ctx->info->texel_buffer_alignment != 0)
          return unsupported (error, index, op, "a view offset below the texel alignment");
        return tailor_vk_swiglu_forward (rec, range (&t[0], &s[0]), range (&t[1], &s[1]),
                                         range (&t[2], &s[2]), tailor_tensor_n_elements (&t[0]),
                                         error);
      case TAILOR_OP_SWIGLU_BACKWARD:
        return tailor_vk_op_swiglu_backward (
          rec, range (&t[0], &s[0]), range (&t[1], &s[1]), range (&t[2], &s[2]),
          range (&t[3], &s[3]), range (&t[4], &s[4]), tailor_tensor_n_elements (&t[0]), error);
      case TAILOR_OP_LORA:
      case TAILOR_OP_LORA_BACKWARD:
        return record_lora (c, rec, ctx, index, op, error);
      case TAILOR_OP_CROSS_ENTROPY:
      case TAILOR_OP_CROSS_ENTROPY_BACKWARD:
        if (!tailor_vk_type_is_gatherable (t[3].type))
          return unsupported (error, index, op, "this output weight type has no kernel");
        return record_cross_entropy (c, rec, ctx, op, error);
      case TAILOR_OP_GRAD_NORM_SQ:
        return record_grad_norm (c, rec, ctx, op, error);
      case TAILOR_OP_ADAMW:
        return tailor_vk_op_adamw (rec, range (&t[0], &s[0]), range (&t[1], &s[1]),
                                   range (&t[2], &s[2]), range (&t[3], &s[3]), range (&t[4], &s[4]),
                                   range (&t[5], &s[5]), tailor_tensor_n_elements (&t[0]), error);
      default:
        return unsupported (error, index, op, "an unknown op");
    }
}

static void
drop_recording (VkCompiled *c)
{
  g_clear_pointer (&c->rec, tailor_vk_recorder_free);
  g_hash_table_remove_all (c->slots);
  g_ptr_array_set_size (c->scratch, 0);
  g_array_set_size (c->dispatch_op, 0);
  tailor_backend_account (c->backend, -(gint64) c->scratch_bytes);
  c->scratch_bytes = 0;
}

/* Records every op into a new recorder (with timestamps when profile). */
static gboolean
record_all (VkBackend *self, VkCompiled *c, gboolean profile, GError **error)
{
  GError *local = NULL;

  drop_recording (c);
  c->profile = profile;
  c->fused_op = G_MAXUINT;
  c->rec = tailor_vk_recorder_new (self->ctx, profile, &local);
  if (c->rec == NULL)
    return propagate (error, local);
  for (guint i = 0; i < c->ops->len; i++)
    {
      const TailorOp *op = &g_array_index (c->ops, TailorOp, i);
      guint before = tailor_vk_recorder_get_n_dispatches (c->rec);

      if (!record_op (c, c->rec, self->ctx, i, op, &local))
        {
          if (local->domain == TAILOR_VK_ERROR)
            g_prefix_error (&local, "op %u (%s): ", i, tailor_op_kind_name (op->kind));
          drop_recording (c);
          return propagate (error, local);
        }
      for (guint d = before; d < tailor_vk_recorder_get_n_dispatches (c->rec); d++)
        g_array_append_val (c->dispatch_op, i);
    }
  return TRUE;
}

static void
vk_compiled_free (TailorBackend *backend, gpointer compiled)
{
  VkCompiled *c = compiled;

  if (c == NULL)
    return;
  drop_recording (c);
  g_ptr_array_unref (c->scratch);
  g_hash_table_unref (c->slots);
  g_ptr_array_unref (c->lists);
  g_array_unref (c->ops);
  g_array_unref (c->dispatch_op);
  g_free (c);
  (void) backend;
}

static gpointer
vk_compile (TailorBackend *backend, const TailorOp *ops, guint n_ops, GError **error)
{
  VkCompiled *c = g_new0 (VkCompiled, 1);

  c->backend = backend;
  c->ops = g_array_sized_new (FALSE, FALSE, sizeof (TailorOp), n_ops);
  c->lists = g_ptr_array_new_with_free_func (g_free);
  c->scratch = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_vk_buffer_free);
  c->slots = g_hash_table_new (g_str_hash, g_str_equal);
  c->dispatch_op = g_array_new (FALSE, FALSE, sizeof (guint));
  /* A copy, so that a recording can be redone (profiling switched) from the op list alone. */
  for (guint i = 0; i < n_ops; i++)
    {
      TailorOp op = ops[i];

      if (op.list != NULL)
        {
          op.list = g_memdup2 (op.list, sizeof (TailorTensor) * MAX (op.n_list, 1));
          g_ptr_array_add (c->lists, op.list);
        }
      g_array_append_val (c->ops, op);
    }
  if (!record_all ((VkBackend *) backend, c, FALSE, error))
    {
      vk_compiled_free (backend, c);
      return NULL;
    }
  return c;
}

static gboolean
vk_run (
  TailorBackend *backend, gpointer compiled, gboolean profile, GHashTable *timings, GError **error)
{
  VkBackend *self = (VkBackend *) backend;
  VkCompiled *c = compiled;
  GError *local = NULL;
  const TailorVkTiming *times;
  guint n_times;
  gboolean print_dispatches;

  if (profile != c->profile && !record_all (self, c, profile, error))
    return FALSE;
  if (!tailor_vk_recorder_run (c->rec, RUN_TIMEOUT_NS, &local))
    return propagate (error, local);
  if (!profile || timings == NULL)
    return TRUE;
  times = tailor_vk_recorder_get_timings (c->rec, &n_times);
  print_dispatches = g_strcmp0 (g_getenv ("TAILOR_PROFILE_DISPATCHES"), "1") == 0;
  for (guint d = 0; d < n_times && d < c->dispatch_op->len; d++)
    {
      guint i = g_array_index (c->dispatch_op, guint, d);
      const TailorOp *op = &g_array_index (c->ops, TailorOp, i);
      char *label = g_strdup_printf ("%03u %s", i, tailor_op_kind_name (op->kind));
      double *ms = g_hash_table_lookup (timings, label);

      if (ms == NULL)
        {
          ms = g_new0 (double, 1);
          g_hash_table_insert (timings, label, ms);
        }
      else
        g_free (label);
      *ms += times[d].ms;
      /* TAILOR_PROFILE_DISPATCHES=1: every dispatch of a profiled run on stderr, with its op
       * and the shapes of the op's first and third tensors (output, weight for products). */
      if (print_dispatches)
        g_printerr ("dispatch op %03u %-24s %-28s %8.3f ms  %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT
                    " | %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT "\n",
                    i, tailor_op_kind_name (op->kind), times[d].label, times[d].ms, op->t[0].ne[0],
                    op->t[0].ne[1], op->t[2].ne[0], op->t[2].ne[1]);
    }
  return TRUE;
}

static const TailorBackendClass vk_class = {
  .name = "vulkan",
  .free = vk_free,
  .buf_new = vk_buf_new,
  .buf_free = vk_buf_free,
  .upload = vk_upload,
  .download = vk_download,
  .compile = vk_compile,
  .run = vk_run,
  .compiled_free = vk_compiled_free,
};

TailorBackend *
tailor_backend_vk_new (const char *request, GError **error)
{
  GError *local = NULL;
  TailorVkContext *ctx;
  VkBackend *self;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ctx = tailor_vk_context_new_for_device (request, &local);
  if (ctx == NULL)
    {
      propagate (error, local);
      return NULL;
    }
  self = g_new0 (VkBackend, 1);
  self->ctx = ctx;
  self->parent.klass = &vk_class;
  self->parent.kind = TAILOR_BACKEND_VULKAN;
  self->parent.name = g_strdup (tailor_vk_context_get_info (ctx)->name);
  return &self->parent;
}

gboolean
tailor_backend_vk_keep_layout (const TailorTensor *t, TailorVkLayout keep, guint64 *device_bytes)
{
  VkBuf *buf;
  GError *local = NULL;
  TailorVkBuffer *placeholder;

  g_return_val_if_fail (t != NULL && t->buf != NULL, FALSE);

  if (t->buf->backend->kind != TAILOR_BACKEND_VULKAN)
    return FALSE;
  buf = (VkBuf *) t->buf;
  /* only a weight that fills its own buffer and has a repacked copy has two to choose from */
  if (buf->blocks_freed || t->offset != 0 || tailor_tensor_n_bytes (t) != t->buf->size ||
      repacked_weight (t) == NULL)
    return FALSE;
  if (keep == TAILOR_VK_LAYOUT_BLOCKS)
    {
      g_array_set_size (buf->repacked, 0);
      if (device_bytes != NULL)
        *device_bytes = t->buf->size;
      return TRUE;
    }
  placeholder =
    tailor_vk_buffer_new (((VkBackend *) t->buf->backend)->ctx, 16, "freed blocks", &local);
  if (placeholder == NULL)
    {
      g_error_free (local);
      return FALSE;
    }
  tailor_vk_buffer_free (buf->vk);
  buf->vk = placeholder;
  buf->blocks_freed = TRUE;
  tailor_backend_account (t->buf->backend, -(gint64) t->buf->size);
  if (device_bytes != NULL)
    *device_bytes = tailor_vk_weight_get_device_size (repacked_weight (t));
  return TRUE;
}

TailorVkContext *
tailor_backend_vk_get_context (TailorBackend *backend)
{
  g_return_val_if_fail (backend != NULL && backend->kind == TAILOR_BACKEND_VULKAN, NULL);
  return ((VkBackend *) backend)->ctx;
}
