/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The llama/qwen2 forward pass for inference over the op interface: weights uploaded once, a
 * per-layer KV cache on the backend, one graph per batch shape, resubmitted. */
#include "config.h"

#include <string.h>

#include "tailor-infer.h"
#include "tailor-quant.h"

G_DEFINE_QUARK (tailor-infer-error-quark, tailor_infer_error)

#define N_TARGETS TAILOR_REF_LORA_N_TARGETS
/* Positions per submitted batch: bounds the activations, as the CPU reference's batches do. */
#define MAX_BATCH 512
/* Graphs kept at once; a caller cycling through more batch shapes re-records. */
#define MAX_GRAPHS 8

typedef enum
{
  OUT_NONE, /* a batch before the last: it only fills the cache */
  OUT_LAST, /* logits of the batch's last position */
  OUT_ALL,  /* logits of every position */
} OutMode;

typedef struct
{
  int n_head, n_head_kv, n_ff, q_dim, kv_dim;
  TailorTensor w[N_TARGETS];
  TailorTensor attn_norm, ffn_norm, bq, bk, bv; /* absent biases: buf NULL */
  TailorTensor lora_a[N_TARGETS];               /* ne {in, r}; buf NULL: no LoRA */
  TailorTensor lora_b[N_TARGETS];               /* ne {r, out} */
  float lora_scale[N_TARGETS];
  TailorTensor k_cache, v_cache;                /* (n_ctx, n_head_kv, head_dim) */
} Layer;

struct _TailorInfer
{
  TailorBackend *backend; /* borrowed */
  TailorModel *model;
  int L, C, hd, V;
  int q_max, kv_max, ff_max, r_max;
  guint n_ctx, n_batch, n_past;
  Layer *layers;
  TailorTensor tok_embd, output, output_norm, rope_freqs;
  /* activations of n_batch rows; a graph of T rows views their first T rows */
  TailorTensor tokens, pos, x, xn, q, k, v, att, proj, gate, up, h, xa;
  TailorTensor logits; /* logit_rows × V */
  guint logit_rows;
  GHashTable *graphs;  /* (T, OutMode) → TailorGraph */
  GPtrArray *bufs;
  GHashTable *profile; /* NULL: not profiling */
};

static const TailorGgufTensor *
layer_weight (const TailorLayerWeights *w, int target)
{
  const TailorGgufTensor *by_target[N_TARGETS] = {
    w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down,
  };

  return by_target[target];
}

/* The start of t's buffer seen as ne {ne0, ne1}. */
static TailorTensor
view2d (const TailorTensor *t, gint64 ne0, gint64 ne1)
{
  TailorTensor v = *t;

  v.ne[0] = ne0;
  v.ne[1] = ne1;
  v.ne[2] = 1;
  v.ne[3] = 1;
  return v;
}

static gboolean
alloc2 (TailorInfer *self, TailorType type, gint64 ne0, gint64 ne1, TailorTensor *out,
        GError **error)
{
  gint64 ne[2] = { ne0, ne1 };

  if (!tailor_tensor_alloc (self->backend, type, 2, ne, out, error))
    return FALSE;
  g_ptr_array_add (self->bufs, out->buf);
  return TRUE;
}

static gboolean
upload_floats (TailorInfer *self, const float *data, gint64 ne0, gint64 ne1, TailorTensor *out,
               GError **error)
{
  return alloc2 (self, TAILOR_TYPE_F32, ne0, ne1, out, error) &&
         tailor_tensor_upload (out, data, error);
}

/* A 1-D model tensor as F32 (absent: buf stays NULL). */
static gboolean
upload_vector (TailorInfer *self, const TailorGgufTensor *src, TailorTensor *out, GError **error)
{
  g_autofree float *data = NULL;

  memset (out, 0, sizeof *out);
  if (src == NULL)
    return TRUE;
  data = g_new (float, src->n_elements);
  tailor_dequantize_row (src->type, src->data, data, src->n_elements);
  return upload_floats (self, data, src->n_elements, 1, out, error);
}

static gboolean
upload_weight (TailorInfer *self, const TailorGgufTensor *src, TailorTensor *out, GError **error)
{
  if (!tailor_tensor_alloc_from_gguf (self->backend, src, out, error))
    return FALSE;
  g_ptr_array_add (self->bufs, out->buf);
  return TRUE;
}

static gboolean
setup_layer (TailorInfer *self, int l, TailorRefAdapter *adapter, GError **error)
{
  const TailorLayerHparams *lh = &self->model->hp.layers[l];
  const TailorLayerWeights *w = &self->model->layers[l];
  Layer *ly = &self->layers[l];
  int t;

  ly->n_head = (int) lh->n_head;
  ly->n_head_kv = (int) lh->n_head_kv;
  ly->n_ff = (int) lh->n_ff;
  ly->q_dim = ly->n_head * self->hd;
  ly->kv_dim = ly->n_head_kv * self->hd;
  self->q_max = MAX (self->q_max, ly->q_dim);
  self->kv_max = MAX (self->kv_max, ly->kv_dim);
  self->ff_max = MAX (self->ff_max, ly->n_ff);
  if (!upload_vector (self, w->attn_norm, &ly->attn_norm, error) ||
      !upload_vector (self, w->ffn_norm, &ly->ffn_norm, error) ||
      !upload_vector (self, w->bq, &ly->bq, error) ||
      !upload_vector (self, w->bk, &ly->bk, error) ||
      !upload_vector (self, w->bv, &ly->bv, error) ||
      !alloc2 (self, TAILOR_TYPE_F32, ly->kv_dim, self->n_ctx, &ly->k_cache, error) ||
      !alloc2 (self, TAILOR_TYPE_F32, ly->kv_dim, self->n_ctx, &ly->v_cache, error))
    return FALSE;
  for (t = 0; t < N_TARGETS; t++)
    {
      const TailorGgufTensor *src = layer_weight (w, t);
      TailorRefLora *lora = adapter != NULL ? tailor_ref_adapter_get (adapter, l, t) : NULL;

      if (!upload_weight (self, src, &ly->w[t], error))
        return FALSE;
      if (lora == NULL)
        continue;
      if (lora->in != src->ne[0] || lora->out != src->ne[1])
        {
          g_set_error (error, TAILOR_INFER_ERROR, TAILOR_INFER_ERROR_UNSUPPORTED,
                       "the adapter's LoRA for %s is %d→%d but the tensor is %" G_GINT64_FORMAT
                       "→%" G_GINT64_FORMAT "; use an adapter made for this model",
                       src->name, lora->in, lora->out, src->ne[0], src->ne[1]);
          return FALSE;
        }
      if (!upload_floats (self, lora->a, lora->in, lora->rank, &ly->lora_a[t], error) ||
          !upload_floats (self, lora->b, lora->rank, lora->out, &ly->lora_b[t], error))
        return FALSE;
      ly->lora_scale[t] = tailor_ref_lora_scale (lora->alpha, lora->rank, lora->rslora);
      self->r_max = MAX (self->r_max, lora->rank);
    }
  return TRUE;
}

static gboolean
setup_activations (TailorInfer *self, GError **error)
{
  gint64 B = self->n_batch;

  return alloc2 (self, TAILOR_TYPE_I32, B, 1, &self->tokens, error) &&
         alloc2 (self, TAILOR_TYPE_I32, B, 1, &self->pos, error) &&
         alloc2 (self, TAILOR_TYPE_F32, self->C, B, &self->x, error) &&
         alloc2 (self, TAILOR_TYPE_F32, self->C, B, &self->xn, error) &&
         alloc2 (self, TAILOR_TYPE_F32, self->q_max, B, &self->q, error) &&
         alloc2 (self, TAILOR_TYPE_F32, self->kv_max, B, &self->k, error) &&
         alloc2 (self, TAILOR_TYPE_F32, self->kv_max, B, &self->v, error) &&
         alloc2 (self, TAILOR_TYPE_F32, self->q_max, B, &self->att, error) &&
         alloc2 (self, TAILOR_TYPE_F32, self->C, B, &self->proj, error) &&
         alloc2 (self, TAILOR_TYPE_F32, self->ff_max, B, &self->gate, error) &&
         alloc2 (self, TAILOR_TYPE_F32, self->ff_max, B, &self->up, error) &&
         alloc2 (self, TAILOR_TYPE_F32, self->ff_max, B, &self->h, error) &&
         (self->r_max == 0 || alloc2 (self, TAILOR_TYPE_F32, self->r_max, B, &self->xa, error)) &&
         alloc2 (self, TAILOR_TYPE_F32, self->V, 1, &self->logits, error);
}

TailorInfer *
tailor_infer_new (TailorBackend *backend,
                  TailorModel *model,
                  TailorRefAdapter *adapter,
                  guint n_ctx,
                  GError **error)
{
  g_autoptr (TailorInfer) self = NULL;
  const TailorHparams *hp;
  int l;

  g_return_val_if_fail (backend != NULL && model != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  hp = &model->hp;
  self = g_new0 (TailorInfer, 1);
  self->backend = backend;
  self->model = tailor_model_ref (model);
  self->L = (int) hp->n_layer;
  self->C = (int) hp->n_embd;
  self->hd = (int) hp->head_dim;
  self->V = (int) hp->n_vocab;
  self->n_ctx = n_ctx > 0 ? n_ctx : hp->n_ctx_train;
  self->bufs = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_buf_free);
  self->graphs = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) tailor_graph_free);
  self->layers = g_new0 (Layer, self->L);
  if (self->n_ctx == 0)
    {
      g_set_error_literal (error, TAILOR_INFER_ERROR, TAILOR_INFER_ERROR_UNSUPPORTED,
                           "the model records no training context; give a context length");
      return NULL;
    }
  self->n_batch = MIN (self->n_ctx, MAX_BATCH);
  /* the last position's row of the residual stream is a view, which starts 16-byte aligned */
  if (self->C % 4 != 0)
    {
      g_set_error (error, TAILOR_INFER_ERROR, TAILOR_INFER_ERROR_UNSUPPORTED,
                   "the embedding width %d is not a multiple of 4", self->C);
      return NULL;
    }
  if (adapter != NULL && adapter->n_layer != self->L)
    {
      g_set_error (error, TAILOR_INFER_ERROR, TAILOR_INFER_ERROR_UNSUPPORTED,
                   "the adapter has %d layers but the model has %d; use an adapter made for "
                   "this model",
                   adapter->n_layer, self->L);
      return NULL;
    }

  if (!upload_weight (self, model->tok_embd, &self->tok_embd, error) ||
      !upload_vector (self, model->output_norm, &self->output_norm, error) ||
      !upload_vector (self, model->rope_freqs, &self->rope_freqs, error))
    return NULL;
  if (hp->tied_output)
    self->output = self->tok_embd;
  else if (!upload_weight (self, model->output, &self->output, error))
    return NULL;
  for (l = 0; l < self->L; l++)
    if (!setup_layer (self, l, adapter, error))
      return NULL;
  if (!setup_activations (self, error))
    return NULL;
  self->logit_rows = 1;
  return g_steal_pointer (&self);
}

void
tailor_infer_free (TailorInfer *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->graphs, g_hash_table_unref);
  g_clear_pointer (&self->bufs, g_ptr_array_unref);
  g_clear_pointer (&self->profile, g_hash_table_unref);
  g_clear_pointer (&self->model, tailor_model_unref);
  g_free (self->layers);
  g_free (self);
}

guint
tailor_infer_get_n_ctx (TailorInfer *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_ctx;
}

guint
tailor_infer_get_n_past (TailorInfer *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_past;
}

/* Cache rows past n_past are never read before they are written again (the attention op
 * stores a batch's keys before attending to them), so forgetting is only a count. */
void
tailor_infer_reset (TailorInfer *self)
{
  g_return_if_fail (self != NULL);
  self->n_past = 0;
}

/* ---- Recording ---- */

/* out = inp · Wᵀ + bias, plus the target's LoRA (no dropout). */
static void
project (TailorInfer *self, TailorGraph *g, Layer *ly, int target, int T, const TailorTensor *out,
         const TailorTensor *inp, const TailorTensor *bias)
{
  tailor_op_matmul (g, out, inp, &ly->w[target],
                    bias != NULL && bias->buf != NULL ? bias : NULL);
  if (ly->lora_a[target].buf != NULL)
    {
      TailorTensor xa = view2d (&self->xa, ly->lora_a[target].ne[1], T);

      tailor_op_lora (g, out, &xa, inp, &ly->lora_a[target], &ly->lora_b[target],
                      ly->lora_scale[target], 0.0f, NULL);
    }
}

static void
record_layer (TailorInfer *self, TailorGraph *g, int l, int T, const TailorTensor *x,
              const TailorTensor *pos)
{
  const TailorHparams *hp = &self->model->hp;
  Layer *ly = &self->layers[l];
  TailorTensor xn = view2d (&self->xn, self->C, T);
  TailorTensor q = view2d (&self->q, ly->q_dim, T);
  TailorTensor k = view2d (&self->k, ly->kv_dim, T);
  TailorTensor v = view2d (&self->v, ly->kv_dim, T);
  TailorTensor att = view2d (&self->att, ly->q_dim, T);
  TailorTensor proj = view2d (&self->proj, self->C, T);
  TailorTensor gate = view2d (&self->gate, ly->n_ff, T);
  TailorTensor up = view2d (&self->up, ly->n_ff, T);
  TailorTensor h = view2d (&self->h, ly->n_ff, T);
  const TailorTensor *freqs = self->rope_freqs.buf != NULL ? &self->rope_freqs : NULL;

  /* x += o (attention over the cache of rope (q), rope (k), v) */
  tailor_op_rmsnorm (g, &xn, NULL, x, &ly->attn_norm, hp->norm_eps);
  project (self, g, ly, TAILOR_REF_LORA_Q, T, &q, &xn, &ly->bq);
  project (self, g, ly, TAILOR_REF_LORA_K, T, &k, &xn, &ly->bk);
  project (self, g, ly, TAILOR_REF_LORA_V, T, &v, &xn, &ly->bv);
  tailor_op_rope (g, &q, pos, ly->n_head, self->hd, hp->n_rot, hp->rope_freq_base,
                  hp->rope_freq_scale, freqs, hp->rope_type, FALSE);
  tailor_op_rope (g, &k, pos, ly->n_head_kv, self->hd, hp->n_rot, hp->rope_freq_base,
                  hp->rope_freq_scale, freqs, hp->rope_type, FALSE);
  tailor_op_attention_cached (g, &att, &q, &k, &v, &ly->k_cache, &ly->v_cache, pos, ly->n_head,
                              ly->n_head_kv, self->hd);
  project (self, g, ly, TAILOR_REF_LORA_O, T, &proj, &att, NULL);
  tailor_op_add (g, x, x, &proj);

  /* x += down (silu (gate) · up) */
  tailor_op_rmsnorm (g, &xn, NULL, x, &ly->ffn_norm, hp->norm_eps);
  project (self, g, ly, TAILOR_REF_LORA_GATE, T, &gate, &xn, NULL);
  project (self, g, ly, TAILOR_REF_LORA_UP, T, &up, &xn, NULL);
  tailor_op_swiglu (g, &h, &gate, &up);
  project (self, g, ly, TAILOR_REF_LORA_DOWN, T, &proj, &h, NULL);
  tailor_op_add (g, x, x, &proj);
}

static TailorGraph *
record_graph (TailorInfer *self, int T, OutMode mode)
{
  TailorGraph *g = tailor_graph_new (self->backend);
  TailorTensor tokens = view2d (&self->tokens, T, 1);
  TailorTensor pos = view2d (&self->pos, T, 1);
  TailorTensor x = view2d (&self->x, self->C, T);
  float eps = self->model->hp.norm_eps;
  int l;

  tailor_op_embedding (g, &x, &self->tok_embd, &tokens);
  for (l = 0; l < self->L; l++)
    record_layer (self, g, l, T, &x, &pos);
  if (mode == OUT_ALL)
    {
      TailorTensor xn = view2d (&self->xn, self->C, T);
      TailorTensor logits = view2d (&self->logits, self->V, T);

      tailor_op_rmsnorm (g, &xn, NULL, &x, &self->output_norm, eps);
      tailor_op_matmul (g, &logits, &xn, &self->output, NULL);
    }
  else if (mode == OUT_LAST)
    {
      TailorTensor x_last = tailor_tensor_rows (&x, T - 1, 1);
      TailorTensor xn = view2d (&self->xn, self->C, 1);
      TailorTensor logits = view2d (&self->logits, self->V, 1);

      tailor_op_rmsnorm (g, &xn, NULL, &x_last, &self->output_norm, eps);
      tailor_op_matmul (g, &logits, &xn, &self->output, NULL);
    }
  return g;
}

/* Room for rows of logits; a larger buffer invalidates the graphs that wrote the old one. */
static gboolean
ensure_logit_rows (TailorInfer *self, guint rows, GError **error)
{
  TailorTensor bigger;

  if (rows <= self->logit_rows)
    return TRUE;
  if (!alloc2 (self, TAILOR_TYPE_F32, self->V, self->n_batch, &bigger, error))
    return FALSE;
  g_hash_table_remove_all (self->graphs);
  g_ptr_array_remove_fast (self->bufs, self->logits.buf);
  self->logits = bigger;
  self->logit_rows = self->n_batch;
  return TRUE;
}

static TailorGraph *
graph_for (TailorInfer *self, int T, OutMode mode)
{
  gpointer key = GINT_TO_POINTER (T * 3 + (int) mode);
  TailorGraph *g = g_hash_table_lookup (self->graphs, key);

  if (g != NULL)
    return g;
  if (g_hash_table_size (self->graphs) >= MAX_GRAPHS)
    g_hash_table_remove_all (self->graphs);
  g = record_graph (self, T, mode);
  g_hash_table_insert (self->graphs, key, g);
  return g;
}

/* ---- Profiles ---- */

void
tailor_infer_set_profiling (TailorInfer *self, gboolean profiling)
{
  g_return_if_fail (self != NULL);
  if (profiling && self->profile == NULL)
    self->profile = tailor_op_profile_new ();
  else if (!profiling)
    g_clear_pointer (&self->profile, g_hash_table_unref);
}

GHashTable *
tailor_infer_get_profile (TailorInfer *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->profile;
}

/* Adds a profiled submit of a T-row batch after n_past cached positions. */
static void
profile_batch (TailorInfer *self, TailorGraph *g, int T, OutMode mode)
{
  /* causal attention of the batch: query t sees n_past + t + 1 keys */
  double seen = (double) T * self->n_past + (double) T * (T + 1) / 2.0;
  double out_rows = mode == OUT_ALL ? T : mode == OUT_LAST ? 1 : 0;
  int l;

  tailor_op_profile_add_timings (self->profile, tailor_graph_get_timings (g));
  for (l = 0; l < self->L; l++)
    {
      const Layer *ly = &self->layers[l];

      for (int t = 0; t < N_TARGETS; t++)
        {
          double ic = (double) ly->w[t].ne[0];
          double oc = (double) ly->w[t].ne[1];

          tailor_op_profile_add_flops (self->profile, "matmul", 2.0 * T * ic * oc);
          if (ly->lora_a[t].buf != NULL)
            tailor_op_profile_add_flops (self->profile, "lora",
                                         2.0 * T * (double) ly->lora_a[t].ne[1] * (ic + oc));
        }
      tailor_op_profile_add_flops (self->profile, "attention_cached",
                                   4.0 * ly->n_head * self->hd * seen);
    }
  tailor_op_profile_add_flops (self->profile, "matmul", 2.0 * out_rows * self->C * self->V);
}

static gboolean
eval_batch (TailorInfer *self, const gint32 *tokens, int T, OutMode mode, float *logits,
            GError **error)
{
  g_autofree gint32 *pos = g_new (gint32, T);
  TailorTensor tokens_view = view2d (&self->tokens, T, 1);
  TailorTensor pos_view = view2d (&self->pos, T, 1);
  TailorGraph *g;
  int t;

  if (mode == OUT_ALL && !ensure_logit_rows (self, (guint) T, error))
    return FALSE;
  for (t = 0; t < T; t++)
    pos[t] = (gint32) self->n_past + t;
  g = graph_for (self, T, mode);
  tailor_graph_set_profiling (g, self->profile != NULL);
  if (!tailor_tensor_upload (&tokens_view, tokens, error) ||
      !tailor_tensor_upload (&pos_view, pos, error) || !tailor_graph_submit (g, error))
    return FALSE;
  if (self->profile != NULL)
    profile_batch (self, g, T, mode);
  self->n_past += (guint) T;
  if (mode == OUT_NONE)
    return TRUE;
  {
    TailorTensor out = view2d (&self->logits, self->V, mode == OUT_ALL ? T : 1);

    return tailor_tensor_download (&out, logits, error);
  }
}

gboolean
tailor_infer_eval (TailorInfer *self,
                   const gint32 *tokens,
                   guint n,
                   gboolean all_logits,
                   float *logits,
                   GError **error)
{
  guint done;
  guint i;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (tokens != NULL || n == 0, FALSE);
  g_return_val_if_fail (logits != NULL || n == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if ((guint64) self->n_past + n > self->n_ctx)
    {
      g_set_error (error, TAILOR_INFER_ERROR, TAILOR_INFER_ERROR_CONTEXT_FULL,
                   "%u more tokens after %u do not fit in the context of %u positions; "
                   "use a larger context or a shorter input",
                   n, self->n_past, self->n_ctx);
      return FALSE;
    }
  for (i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= self->V)
      {
        g_set_error (error, TAILOR_INFER_ERROR, TAILOR_INFER_ERROR_INVALID_TOKEN,
                     "token %u of the input has id %d, outside the vocabulary of %d tokens", i,
                     tokens[i], self->V);
        return FALSE;
      }
  for (done = 0; done < n; done += MIN (n - done, self->n_batch))
    {
      int T = (int) MIN (n - done, self->n_batch);
      OutMode mode = all_logits ? OUT_ALL : done + T == n ? OUT_LAST : OUT_NONE;
      float *dst = all_logits ? logits + (gsize) done * self->V : logits;

      if (!eval_batch (self, tokens + done, T, mode, dst, error))
        {
          tailor_infer_reset (self);
          return FALSE;
        }
    }
  return TRUE;
}
