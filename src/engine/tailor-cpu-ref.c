/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The fp32 CPU reference: one plain function per op, and the llama/qwen2 forward pass. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "tailor-cpu-ref.h"
#include "tailor-parallel.h"

G_DEFINE_QUARK (tailor - ref - error - quark, tailor_ref_error)

/* Tokens evaluated per pass through the layers: bounds the activation buffers (T × n_ff)
 * for long prompts; the KV cache makes the split invisible in the results. */
#define MAX_BATCH 256

/* Work per parallel chunk worth a thread hand-off, in multiply-adds. */
#define MIN_CHUNK_WORK 32768

/* A dot product with eight fixed accumulators: the compiler can vectorise it, and the
 * summation order depends only on n, never on threads. */
static inline float
dot (const float *a, const float *b, int n)
{
  float acc[8] = { 0 };
  float sum;
  int i = 0;
  int j;

  for (; i + 8 <= n; i += 8)
    for (j = 0; j < 8; j++)
      acc[j] += a[i + j] * b[i + j];
  sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; i++)
    sum += a[i] * b[i];
  return sum;
}

void
tailor_ref_rmsnorm_forward (
  float *out, const float *inp, const float *weight, int T, int C, float eps)
{
  int t;
  int i;

  for (t = 0; t < T; t++)
    {
      const float *x = inp + (gsize) t * C; /* (C) */
      float *o = out + (gsize) t * C;       /* (C) */
      double ss = 0.0;
      float scale;

      for (i = 0; i < C; i++)
        ss += (double) x[i] * x[i];
      scale = (float) (1.0 / sqrt (ss / C + eps));
      for (i = 0; i < C; i++)
        o[i] = x[i] * scale * weight[i];
    }
}

typedef struct
{
  float *out;       /* (T, OC) */
  const float *inp; /* (T, IC) */
  const TailorGgufTensor *w;
  const float *bias; /* (OC) or NULL */
  int T, IC, OC;
  gsize row_bytes;
} MatmulArgs;

static void
matmul_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const MatmulArgs *a = user_data;
  g_autofree float *row = g_new (float, a->IC); /* one row of W, dequantized */
  const guint8 *w_data = a->w->data;
  gint64 o;
  int t;

  for (o = begin; o < end; o++)
    {
      float b = a->bias != NULL ? a->bias[o] : 0.0f;

      tailor_dequantize_row (a->w->type, w_data + (gsize) o * a->row_bytes, row, a->IC);
      for (t = 0; t < a->T; t++)
        a->out[(gsize) t * a->OC + o] = dot (a->inp + (gsize) t * a->IC, row, a->IC) + b;
    }
}

void
tailor_ref_matmul_forward (
  float *out, const float *inp, const TailorGgufTensor *w, const float *bias, int T, int IC, int OC)
{
  MatmulArgs a = { out, inp, w, bias, T, IC, OC, 0 };

  g_return_if_fail (w != NULL && w->ne[0] == IC && w->ne[1] == OC);

  a.row_bytes = tailor_type_row_size (w->type, IC);
  g_return_if_fail (a.row_bytes > 0);
  tailor_parallel_for (OC, MAX (1, MIN_CHUNK_WORK / MAX ((gint64) IC * T, 1)), matmul_rows, &a);
}

void
tailor_ref_rope_forward (float *x,
                         const int *pos,
                         int T,
                         int n_head,
                         int head_dim,
                         int n_rot,
                         float freq_base,
                         float freq_scale,
                         const float *freq_factors,
                         TailorRopeType type)
{
  int half = n_rot / 2;
  int t;
  int h;
  int i;

  for (t = 0; t < T; t++)
    for (h = 0; h < n_head; h++)
      {
        float *xh = x + ((gsize) t * n_head + h) * head_dim; /* (head_dim) */

        for (i = 0; i < half; i++)
          {
            /* llama.cpp's angle: pos · base^(−2i/n_rot) · freq_scale / factor_i */
            double theta = pos[t] * pow (freq_base, -2.0 * i / n_rot) * freq_scale /
                           (freq_factors != NULL ? freq_factors[i] : 1.0f);
            float c = (float) cos (theta);
            float s = (float) sin (theta);
            int i0 = type == TAILOR_ROPE_NEOX ? i : 2 * i;
            int i1 = type == TAILOR_ROPE_NEOX ? i + half : 2 * i + 1;
            float x0 = xh[i0];
            float x1 = xh[i1];

            xh[i0] = x0 * c - x1 * s;
            xh[i1] = x0 * s + x1 * c;
          }
      }
}

typedef struct
{
  float *out;     /* (T, n_head, hd) */
  const float *q; /* (T, n_head, hd) */
  const float *k; /* (n_kv, n_head_kv, hd) */
  const float *v; /* (n_kv, n_head_kv, hd) */
  int T, q_pos0, n_head, n_head_kv, hd;
} AttentionArgs;

static void
attention_items (gint64 begin, gint64 end, gpointer user_data)
{
  const AttentionArgs *a = user_data;
  int n_max = a->q_pos0 + a->T;
  g_autofree float *att = g_new (float, n_max); /* (n_kv) scores, then weights */
  float scale = 1.0f / sqrtf ((float) a->hd);
  int group = a->n_head / a->n_head_kv;
  gint64 item;

  for (item = begin; item < end; item++)
    {
      int t = (int) (item / a->n_head);
      int h = (int) (item % a->n_head);
      int kvh = h / group; /* GQA: consecutive query heads share one key/value head */
      int n_seen = a->q_pos0 + t + 1;
      const float *qh = a->q + ((gsize) t * a->n_head + h) * a->hd;
      float *oh = a->out + ((gsize) t * a->n_head + h) * a->hd;
      gsize kv_stride = (gsize) a->n_head_kv * a->hd;
      float max = -INFINITY;
      double sum = 0.0;
      int j;
      int d;

      for (j = 0; j < n_seen; j++)
        {
          att[j] = dot (qh, a->k + j * kv_stride + (gsize) kvh * a->hd, a->hd) * scale;
          max = MAX (max, att[j]);
        }
      for (j = 0; j < n_seen; j++)
        {
          att[j] = expf (att[j] - max);
          sum += att[j];
        }
      memset (oh, 0, sizeof (float) * a->hd);
      for (j = 0; j < n_seen; j++)
        {
          const float *vj = a->v + j * kv_stride + (gsize) kvh * a->hd;
          float p = (float) (att[j] / sum);

          for (d = 0; d < a->hd; d++)
            oh[d] += p * vj[d];
        }
    }
}

void
tailor_ref_attention_forward (float *out,
                              const float *q,
                              const float *k,
                              const float *v,
                              int T,
                              int q_pos0,
                              int n_head,
                              int n_head_kv,
                              int hd)
{
  AttentionArgs a = { out, q, k, v, T, q_pos0, n_head, n_head_kv, hd };

  g_return_if_fail (n_head_kv > 0 && n_head % n_head_kv == 0);

  tailor_parallel_for ((gint64) T * n_head,
                       MAX (1, MIN_CHUNK_WORK / MAX ((gint64) (q_pos0 + T) * hd * 2, 1)),
                       attention_items, &a);
}

void
tailor_ref_swiglu_forward (float *out, const float *gate, const float *up, int T, int C)
{
  gsize n = (gsize) T * C;
  gsize i;

  for (i = 0; i < n; i++)
    {
      float g = gate[i];

      out[i] = g / (1.0f + expf (-g)) * up[i];
    }
}

void
tailor_ref_embedding_forward (
  float *out, const TailorGgufTensor *embd, const gint32 *tokens, int T, int C)
{
  gsize row_bytes;
  int t;

  g_return_if_fail (embd != NULL && embd->ne[0] == C);

  row_bytes = tailor_type_row_size (embd->type, C);
  for (t = 0; t < T; t++)
    {
      g_return_if_fail (tokens[t] >= 0 && tokens[t] < embd->ne[1]);
      tailor_dequantize_row (embd->type,
                             (const guint8 *) embd->data + (gsize) tokens[t] * row_bytes,
                             out + (gsize) t * C, C);
    }
}

/* ---- The forward pass ---- */

typedef struct
{
  float *attn_norm; /* (C) */
  float *ffn_norm;  /* (C) */
  float *bq;        /* (n_head·hd) or NULL */
  float *bk;        /* (n_head_kv·hd) or NULL */
  float *bv;        /* (n_head_kv·hd) or NULL */
  float *k_cache;   /* (n_ctx, n_head_kv, hd) */
  float *v_cache;   /* (n_ctx, n_head_kv, hd) */
} RefLayer;

struct _TailorRefContext
{
  TailorModel *model;
  guint n_ctx;
  guint n_past;
  float *output_norm; /* (C) */
  float *rope_freqs;  /* (n_rot/2) or NULL */
  RefLayer *layers;   /* (n_layer) */
};

/* A 1-D tensor (norm, bias, rope factors) as fp32; NULL stays NULL. */
static float *
vector_to_f32 (const TailorGgufTensor *t)
{
  float *v;

  if (t == NULL)
    return NULL;
  v = g_new (float, t->n_elements);
  tailor_dequantize_row (t->type, t->data, v, t->n_elements);
  return v;
}

TailorRefContext *
tailor_ref_context_new (TailorModel *model, guint n_ctx, GError **error)
{
  g_autoptr (TailorRefContext) self = NULL;
  const TailorHparams *hp;
  guint l;

  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  hp = &model->hp;
  self = g_new0 (TailorRefContext, 1);
  self->model = tailor_model_ref (model);
  self->n_ctx = n_ctx > 0 ? n_ctx : hp->n_ctx_train;
  self->output_norm = vector_to_f32 (model->output_norm);
  self->rope_freqs = vector_to_f32 (model->rope_freqs);
  self->layers = g_new0 (RefLayer, hp->n_layer);

  for (l = 0; l < hp->n_layer; l++)
    {
      const TailorLayerWeights *w = &model->layers[l];
      RefLayer *rl = &self->layers[l];
      guint64 n_floats = (guint64) self->n_ctx * hp->layers[l].n_head_kv * hp->head_dim;

      rl->attn_norm = vector_to_f32 (w->attn_norm);
      rl->ffn_norm = vector_to_f32 (w->ffn_norm);
      rl->bq = vector_to_f32 (w->bq);
      rl->bk = vector_to_f32 (w->bk);
      rl->bv = vector_to_f32 (w->bv);
      if (n_floats > G_MAXSIZE / sizeof (float))
        rl->k_cache = NULL;
      else
        {
          rl->k_cache = g_try_new0 (float, n_floats);
          rl->v_cache = g_try_new0 (float, n_floats);
        }
      if (rl->k_cache == NULL || rl->v_cache == NULL)
        {
          g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_NO_MEMORY,
                       "the fp32 KV cache for %u positions (%" G_GUINT64_FORMAT
                       " MiB per layer) does not fit in memory; use a shorter context",
                       self->n_ctx, n_floats * 2 * sizeof (float) >> 20);
          return NULL;
        }
    }
  return g_steal_pointer (&self);
}

void
tailor_ref_context_free (TailorRefContext *self)
{
  guint l;

  if (self == NULL)
    return;
  for (l = 0; l < self->model->hp.n_layer && self->layers != NULL; l++)
    {
      RefLayer *rl = &self->layers[l];

      g_free (rl->attn_norm);
      g_free (rl->ffn_norm);
      g_free (rl->bq);
      g_free (rl->bk);
      g_free (rl->bv);
      g_free (rl->k_cache);
      g_free (rl->v_cache);
    }
  g_free (self->layers);
  g_free (self->output_norm);
  g_free (self->rope_freqs);
  tailor_model_unref (self->model);
  g_free (self);
}

guint
tailor_ref_context_get_n_past (TailorRefContext *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_past;
}

void
tailor_ref_context_reset (TailorRefContext *self)
{
  g_return_if_fail (self != NULL);
  self->n_past = 0;
}

static void
add_inplace (float *x, const float *y, gsize n)
{
  gsize i;

  for (i = 0; i < n; i++)
    x[i] += y[i];
}

/* Activation buffers for one batch, sized for the widest layer. */
typedef struct
{
  float *x;    /* (T, C) the residual stream */
  float *xn;   /* (T, C) normalised */
  float *q;    /* (T, n_head·hd) */
  float *k;    /* (T, n_head_kv·hd) */
  float *v;    /* (T, n_head_kv·hd) */
  float *att;  /* (T, n_head·hd) */
  float *proj; /* (T, C) */
  float *gate; /* (T, n_ff) */
  float *up;   /* (T, n_ff) */
  int *pos;    /* (T) */
} Activations;

static void
activations_init (Activations *a, const TailorHparams *hp, int T)
{
  guint q_max = 0;
  guint kv_max = 0;
  guint ff_max = 0;
  guint l;

  for (l = 0; l < hp->n_layer; l++)
    {
      q_max = MAX (q_max, hp->layers[l].n_head * hp->head_dim);
      kv_max = MAX (kv_max, hp->layers[l].n_head_kv * hp->head_dim);
      ff_max = MAX (ff_max, hp->layers[l].n_ff);
    }
  a->x = g_new (float, (gsize) T * hp->n_embd);
  a->xn = g_new (float, (gsize) T * hp->n_embd);
  a->q = g_new (float, (gsize) T *q_max);
  a->k = g_new (float, (gsize) T *kv_max);
  a->v = g_new (float, (gsize) T *kv_max);
  a->att = g_new (float, (gsize) T *q_max);
  a->proj = g_new (float, (gsize) T * hp->n_embd);
  a->gate = g_new (float, (gsize) T *ff_max);
  a->up = g_new (float, (gsize) T *ff_max);
  a->pos = g_new (int, T);
}

static void
activations_clear (Activations *a)
{
  g_free (a->x);
  g_free (a->xn);
  g_free (a->q);
  g_free (a->k);
  g_free (a->v);
  g_free (a->att);
  g_free (a->proj);
  g_free (a->gate);
  g_free (a->up);
  g_free (a->pos);
}

/* Runs T tokens at positions n_past … n_past+T−1; logits (n_out, n_vocab) for the last
 * n_out of them. */
static void
forward_batch (
  TailorRefContext *self, Activations *a, const gint32 *tokens, int T, int n_out, float *logits)
{
  TailorModel *m = self->model;
  const TailorHparams *hp = &m->hp;
  int C = hp->n_embd;
  int hd = hp->head_dim;
  guint l;
  int t;

  for (t = 0; t < T; t++)
    a->pos[t] = (int) self->n_past + t;

  tailor_ref_embedding_forward (a->x, m->tok_embd, tokens, T, C);

  for (l = 0; l < hp->n_layer; l++)
    {
      const TailorLayerWeights *w = &m->layers[l];
      RefLayer *rl = &self->layers[l];
      int n_head = hp->layers[l].n_head;
      int n_head_kv = hp->layers[l].n_head_kv;
      int n_ff = hp->layers[l].n_ff;
      int q_dim = n_head * hd;
      int kv_dim = n_head_kv * hd;

      /* attention block */
      tailor_ref_rmsnorm_forward (a->xn, a->x, rl->attn_norm, T, C, hp->norm_eps);
      tailor_ref_matmul_forward (a->q, a->xn, w->wq, rl->bq, T, C, q_dim);
      tailor_ref_matmul_forward (a->k, a->xn, w->wk, rl->bk, T, C, kv_dim);
      tailor_ref_matmul_forward (a->v, a->xn, w->wv, rl->bv, T, C, kv_dim);
      tailor_ref_rope_forward (a->q, a->pos, T, n_head, hd, hp->n_rot, hp->rope_freq_base,
                               hp->rope_freq_scale, self->rope_freqs, hp->rope_type);
      tailor_ref_rope_forward (a->k, a->pos, T, n_head_kv, hd, hp->n_rot, hp->rope_freq_base,
                               hp->rope_freq_scale, self->rope_freqs, hp->rope_type);
      memcpy (rl->k_cache + (gsize) self->n_past * kv_dim, a->k, sizeof (float) * T * kv_dim);
      memcpy (rl->v_cache + (gsize) self->n_past * kv_dim, a->v, sizeof (float) * T * kv_dim);
      tailor_ref_attention_forward (a->att, a->q, rl->k_cache, rl->v_cache, T, self->n_past, n_head,
                                    n_head_kv, hd);
      tailor_ref_matmul_forward (a->proj, a->att, w->wo, NULL, T, q_dim, C);
      add_inplace (a->x, a->proj, (gsize) T * C);

      /* feed-forward block */
      tailor_ref_rmsnorm_forward (a->xn, a->x, rl->ffn_norm, T, C, hp->norm_eps);
      tailor_ref_matmul_forward (a->gate, a->xn, w->w_gate, NULL, T, C, n_ff);
      tailor_ref_matmul_forward (a->up, a->xn, w->w_up, NULL, T, C, n_ff);
      tailor_ref_swiglu_forward (a->gate, a->gate, a->up, T, n_ff);
      tailor_ref_matmul_forward (a->proj, a->gate, w->w_down, NULL, T, n_ff, C);
      add_inplace (a->x, a->proj, (gsize) T * C);
    }

  if (n_out > 0)
    {
      const float *last = a->x + (gsize) (T - n_out) * C;

      tailor_ref_rmsnorm_forward (a->xn, last, self->output_norm, n_out, C, hp->norm_eps);
      tailor_ref_matmul_forward (logits, a->xn, m->output, NULL, n_out, C, hp->n_vocab);
    }
  self->n_past += T;
}

gboolean
tailor_ref_context_eval (TailorRefContext *self,
                         const gint32 *tokens,
                         guint n,
                         gboolean all_logits,
                         float *logits,
                         GError **error)
{
  const TailorHparams *hp;
  Activations a = { 0 };
  guint done;
  guint i;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (tokens != NULL || n == 0, FALSE);
  g_return_val_if_fail (logits != NULL || n == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  hp = &self->model->hp;
  if ((guint64) self->n_past + n > self->n_ctx)
    {
      g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_CONTEXT_FULL,
                   "%u more tokens after %u do not fit in the context of %u positions; "
                   "use a larger context or a shorter input",
                   n, self->n_past, self->n_ctx);
      return FALSE;
    }
  for (i = 0; i < n; i++)
    if (tokens[i] < 0 || (guint) tokens[i] >= hp->n_vocab)
      {
        g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_INVALID_TOKEN,
                     "token %u of the input has id %d, outside the vocabulary of %u tokens", i,
                     tokens[i], hp->n_vocab);
        return FALSE;
      }
  if (n == 0)
    return TRUE;

  activations_init (&a, hp, (int) MIN (n, MAX_BATCH));
  for (done = 0; done < n; done += MIN (n - done, MAX_BATCH))
    {
      int T = (int) MIN (n - done, MAX_BATCH);
      gboolean last_batch = done + T == n;
      int n_out = all_logits ? T : (last_batch ? 1 : 0);
      float *dst = all_logits ? logits + (gsize) done * hp->n_vocab : logits;

      forward_batch (self, &a, tokens + done, T, n_out, dst);
    }
  activations_clear (&a);
  return TRUE;
}
