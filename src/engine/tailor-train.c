/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The training step over the op interface: parameters in flat buffers, the llama/qwen2
 * forward, backward and AdamW recorded once per graph and resubmitted per micro-batch. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "tailor-chat.h"
#include "tailor-data.h"
#include "tailor-hash.h"
#include "tailor-vk-kernels.h"
#include "tailor-lora.h"
#include "tailor-train.h"

G_DEFINE_QUARK (tailor-train-error-quark, tailor_train_error)

#define N_TARGETS TAILOR_REF_LORA_N_TARGETS
#define DEFAULT_VOCAB_CHUNK 512
/* Parameters start at 16-byte boundaries in the flat buffers (the views' alignment). */
#define ALIGN_FLOATS 4
#define SEED_STRIDE 4 /* I32 per seed slot: 16 bytes */

typedef struct
{
  char *name;
  gsize offset; /* floats into the flat buffers */
  gsize n;
  gint64 ne0;
  gint64 ne1;
} Param;

typedef struct
{
  int n_head, n_head_kv, n_ff, q_dim, kv_dim;
  TailorTensor w[N_TARGETS]; /* base weights, or (full) views of the parameters */
  TailorTensor attn_norm, ffn_norm, bq, bk, bv; /* F32; biases absent: buf NULL */
  int lora[N_TARGETS];        /* parameter index of A (B follows), or -1 */
  float lora_scale[N_TARGETS];
  /* full fine-tuning: gradient views (buf NULL otherwise) */
  TailorTensor dw[N_TARGETS], d_attn_norm, d_ffn_norm, dbq, dbk, dbv;
} StepLayer;

/* One layer's activations, sized for the widest layer; views take each layer's shape. */
typedef struct
{
  TailorTensor xn1, q, k, v, att, x_mid, xn2, gate, up;
  TailorTensor *lse; /* one (n_head, T) per sequence */
  TailorTensor xa[N_TARGETS];
} Acts;

struct _TailorStep
{
  TailorBackend *backend; /* borrowed */
  TailorModel *model;
  TailorStepConfig cfg;
  int T, B, BT, L, C, hd;
  int q_max, kv_max, ff_max, r_max;
  GArray *params; /* Param */
  gsize flat_n;
  guint64 n_trainable;
  TailorTensor values, grads, m, v;

  TailorTensor tok_embd, output, output_norm, rope_freqs;
  TailorTensor d_tok_embd, d_output, d_output_norm;
  StepLayer *layers;

  TailorTensor *xs; /* L + 1 residual streams (BT, C) */
  Acts *acts;
  int n_acts;
  TailorTensor proj, x_scratch, xn_out, ce_lse;
  TailorTensor dx, dxn, datt, dq, dk, dv, dh, dgate, dup;
  TailorTensor tokens, targets, mask, pos, loss, dloss, norm_sq, hyper, seeds;

  TailorGraph *g_fb, *g_step, *g_eval, *g_zero;
  GPtrArray *bufs;
  GHashTable *flops;     /* kind → TailorOpProfile: the products of forward and backward */
  gboolean counting;     /* recording the graph whose products flops counts */
  gboolean profiling;
  GHashTable *profile;   /* the last profiled tailor_step_run; NULL before one */
  gint64 base_kept_delta; /* device bytes of the base weights beyond their buffers' sizes */
};

/* Counts 2 × multiply-adds of a product while the step graph is being recorded. */
static void
count_flops (TailorStep *self, const char *kind, double flops)
{
  if (self->counting)
    tailor_op_profile_add_flops (self->flops, kind, flops);
}

/* SplitMix64 (the reference trainer's generator, so dropout masks agree). */
static guint64
splitmix64 (guint64 *state)
{
  guint64 z = (*state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* The seed of one layer and target's dropout mask, as TailorRefTrainer derives it. */
static guint32
lora_seed (guint32 dropout_seed, int l, int t)
{
  guint64 state = ((guint64) dropout_seed << 32) | (guint32) (l * N_TARGETS + t);

  return (guint32) splitmix64 (&state);
}

static const TailorGgufTensor *
layer_weight (const TailorLayerWeights *w, int target)
{
  const TailorGgufTensor *by_target[N_TARGETS] = {
    w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down,
  };

  return by_target[target];
}

/* ---- Allocation helpers ---- */

static gboolean
alloc2 (TailorStep *self, TailorType type, gint64 ne0, gint64 ne1, TailorTensor *out,
        GError **error)
{
  gint64 ne[2] = { ne0, ne1 };

  if (!tailor_tensor_alloc (self->backend, type, 2, ne, out, error))
    return FALSE;
  g_ptr_array_add (self->bufs, out->buf);
  return TRUE;
}

static gboolean
alloc_acts (TailorStep *self, TailorTensor *t, gint64 width, GError **error)
{
  return alloc2 (self, TAILOR_TYPE_F32, width, self->BT, t, error);
}

/* The start of t's buffer seen as a (ne1, ne0) F32 matrix. */
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

static TailorTensor
acts_view (TailorStep *self, const TailorTensor *t, gint64 width)
{
  return view2d (t, width, self->BT);
}

static TailorTensor
flat_view (TailorStep *self, const TailorTensor *flat, int i)
{
  Param *p = &g_array_index (self->params, Param, i);
  TailorTensor v = *flat;

  v.offset = flat->offset + p->offset * sizeof (float);
  v.ne[0] = p->ne0;
  v.ne[1] = p->ne1;
  v.ne[2] = 1;
  v.ne[3] = 1;
  return v;
}

static TailorTensor
seed_view (TailorStep *self, int l, int t)
{
  TailorTensor v = self->seeds;

  v.offset = (gsize) (l * N_TARGETS + t) * SEED_STRIDE * sizeof (gint32);
  v.ne[0] = 1;
  v.ne[1] = 1;
  return v;
}

/* Rows of sequence b. */
static TailorTensor
seq_rows (TailorStep *self, const TailorTensor *t, int b)
{
  return tailor_tensor_rows (t, (gint64) b * self->T, self->T);
}

static int
add_param (TailorStep *self, char *name, gint64 ne0, gint64 ne1)
{
  Param p = { name, self->flat_n, (gsize) (ne0 * ne1), ne0, ne1 };

  self->flat_n += (p.n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
  self->n_trainable += p.n;
  g_array_append_val (self->params, p);
  return (int) self->params->len - 1;
}

static void
param_clear (gpointer data)
{
  Param *p = data;

  g_free (p->name);
}

/* A 1-D model tensor uploaded as F32 (absent: buf stays NULL). */
static gboolean
upload_vector (TailorStep *self, const TailorGgufTensor *src, TailorTensor *out, GError **error)
{
  g_autofree float *data = NULL;
  gint64 ne[1];

  memset (out, 0, sizeof *out);
  if (src == NULL)
    return TRUE;
  ne[0] = src->n_elements;
  data = g_new (float, src->n_elements);
  tailor_dequantize_row (src->type, src->data, data, src->n_elements);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, out, error))
    return FALSE;
  g_ptr_array_add (self->bufs, out->buf);
  return tailor_tensor_upload (out, data, error);
}

static gboolean
upload_weight (TailorStep *self, const TailorGgufTensor *src, TailorTensor *out, GError **error)
{
  if (!tailor_tensor_alloc_from_gguf (self->backend, src, out, error))
    return FALSE;
  g_ptr_array_add (self->bufs, out->buf);
  return TRUE;
}

/* ---- Parameters ---- */

/* Full fine-tuning: every tensor's fp32 copy is a parameter, in the reference's order. */
static void
plan_full (TailorStep *self, GArray *sources)
{
  TailorModel *m = self->model;
  int l;
  int t;

#define PLAN(src) \
  G_STMT_START { \
    const TailorGgufTensor *s_ = (src); \
    if (s_ != NULL) \
      { \
        add_param (self, g_strdup (s_->name), s_->ne[0], s_->n_elements / s_->ne[0]); \
        g_array_append_val (sources, s_); \
      } \
  } G_STMT_END

  PLAN (m->tok_embd);
  PLAN (m->output_norm);
  if (!m->hp.tied_output)
    PLAN (m->output);
  for (l = 0; l < self->L; l++)
    {
      const TailorLayerWeights *w = &m->layers[l];

      PLAN (w->attn_norm);
      for (t = TAILOR_REF_LORA_Q; t <= TAILOR_REF_LORA_O; t++)
        PLAN (layer_weight (w, t));
      PLAN (w->bq);
      PLAN (w->bk);
      PLAN (w->bv);
      PLAN (w->ffn_norm);
      for (t = TAILOR_REF_LORA_GATE; t < N_TARGETS; t++)
        PLAN (layer_weight (w, t));
    }
#undef PLAN
}

static int
find_param (TailorStep *self, const char *name)
{
  guint i;

  for (i = 0; i < self->params->len; i++)
    if (g_str_equal (g_array_index (self->params, Param, i).name, name))
      return (int) i;
  return -1;
}

/* Points the model tensors of a full fine-tune at the parameter and gradient views. */
static void
bind_full (TailorStep *self)
{
  TailorModel *m = self->model;
  int l;
  int t;

#define BIND(src, val, grad) \
  G_STMT_START { \
    const TailorGgufTensor *s_ = (src); \
    if (s_ != NULL) \
      { \
        int i_ = find_param (self, s_->name); \
        (val) = flat_view (self, &self->values, i_); \
        (grad) = flat_view (self, &self->grads, i_); \
      } \
  } G_STMT_END

  BIND (m->tok_embd, self->tok_embd, self->d_tok_embd);
  BIND (m->output_norm, self->output_norm, self->d_output_norm);
  if (m->hp.tied_output)
    {
      self->output = self->tok_embd;
      self->d_output = self->d_tok_embd;
    }
  else
    BIND (m->output, self->output, self->d_output);
  for (l = 0; l < self->L; l++)
    {
      const TailorLayerWeights *w = &m->layers[l];
      StepLayer *sl = &self->layers[l];

      BIND (w->attn_norm, sl->attn_norm, sl->d_attn_norm);
      BIND (w->ffn_norm, sl->ffn_norm, sl->d_ffn_norm);
      BIND (w->bq, sl->bq, sl->dbq);
      BIND (w->bk, sl->bk, sl->dbk);
      BIND (w->bv, sl->bv, sl->dbv);
      for (t = 0; t < N_TARGETS; t++)
        BIND (layer_weight (w, t), sl->w[t], sl->dw[t]);
    }
#undef BIND
}

/* A backend that keeps a weight in two layouts (Vulkan) keeps only the one the step reads. */
static void
keep_one_layout (TailorStep *self, const TailorTensor *w, TailorVkLayout keep)
{
  guint64 bytes = 0;

  if (tailor_backend_vk_keep_layout (w, keep, &bytes))
    self->base_kept_delta += (gint64) bytes - (gint64) tailor_buf_get_size (w->buf);
}

static gboolean
setup_base (TailorStep *self, GError **error)
{
  TailorModel *m = self->model;
  int l;
  int t;

  if (!upload_weight (self, m->tok_embd, &self->tok_embd, error) ||
      !upload_vector (self, m->output_norm, &self->output_norm, error))
    return FALSE;
  if (m->hp.tied_output)
    self->output = self->tok_embd;
  else if (!upload_weight (self, m->output, &self->output, error))
    return FALSE;
  for (l = 0; l < self->L; l++)
    {
      const TailorLayerWeights *w = &m->layers[l];
      StepLayer *sl = &self->layers[l];

      if (!upload_vector (self, w->attn_norm, &sl->attn_norm, error) ||
          !upload_vector (self, w->ffn_norm, &sl->ffn_norm, error) ||
          !upload_vector (self, w->bq, &sl->bq, error) ||
          !upload_vector (self, w->bk, &sl->bk, error) ||
          !upload_vector (self, w->bv, &sl->bv, error))
        return FALSE;
      for (t = 0; t < N_TARGETS; t++)
        {
          if (!upload_weight (self, layer_weight (w, t), &sl->w[t], error))
            return FALSE;
          /* only products read the layer weights; their input gradient needs whole texels of
           * output rows */
          if (sl->w[t].ne[1] % 4 == 0)
            keep_one_layout (self, &sl->w[t], TAILOR_VK_LAYOUT_REPACKED);
        }
    }
  /* the embedding gather and the loss's chunks read the matmul kernels' layout too (four
   * values per lane there, several words per value from the blocks) */
  keep_one_layout (self, &self->tok_embd, TAILOR_VK_LAYOUT_REPACKED);
  if (!m->hp.tied_output)
    keep_one_layout (self, &self->output, TAILOR_VK_LAYOUT_REPACKED);
  return TRUE;
}

static gboolean
setup_params (TailorStep *self, TailorRefAdapter *adapter, GError **error)
{
  g_autoptr (GArray) sources = g_array_new (FALSE, FALSE, sizeof (const TailorGgufTensor *));
  g_autofree float *host = NULL;
  gint64 ne[1];
  int l;
  int t;
  guint i;

  /* No LoRA pair until one is planned: full fine-tuning has none at all. */
  for (l = 0; l < self->L; l++)
    for (t = 0; t < N_TARGETS; t++)
      self->layers[l].lora[t] = -1;

  if (self->cfg.method == TAILOR_TRAIN_FULL)
    plan_full (self, sources);
  else
    for (l = 0; l < self->L; l++)
      for (t = 0; t < N_TARGETS; t++)
        {
          TailorRefLora *lora = tailor_ref_adapter_get (adapter, l, t);
          const TailorGgufTensor *w = layer_weight (&self->model->layers[l], t);
          StepLayer *sl = &self->layers[l];

          if (lora == NULL)
            continue;
          if (lora->in != w->ne[0] || lora->out != w->ne[1])
            {
              g_set_error (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_UNSUPPORTED,
                           "the adapter's LoRA for %s is %d→%d but the tensor is %"
                           G_GINT64_FORMAT "→%" G_GINT64_FORMAT,
                           w->name, lora->in, lora->out, w->ne[0], w->ne[1]);
              return FALSE;
            }
          sl->lora[t] = add_param (self, g_strconcat (w->name, ".lora_a", NULL), lora->in,
                                   lora->rank);
          add_param (self, g_strconcat (w->name, ".lora_b", NULL), lora->rank, lora->out);
          sl->lora_scale[t] = tailor_ref_lora_scale (lora->alpha, lora->rank, lora->rslora);
          self->r_max = MAX (self->r_max, lora->rank);
        }
  if (self->params->len == 0)
    {
      g_set_error_literal (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_UNSUPPORTED,
                           "nothing to train: the adapter has no LoRA pair");
      return FALSE;
    }

  ne[0] = (gint64) self->flat_n;
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, &self->values, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->values.buf);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, &self->grads, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->grads.buf);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, &self->m, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->m.buf);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, &self->v, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->v.buf);

  host = g_new0 (float, self->flat_n);
  if (self->cfg.method == TAILOR_TRAIN_FULL)
    for (i = 0; i < sources->len; i++)
      {
        const TailorGgufTensor *src = g_array_index (sources, const TailorGgufTensor *, i);
        Param *p = &g_array_index (self->params, Param, i);

        tailor_dequantize_row (src->type, src->data, host + p->offset, src->n_elements);
        /* the parameter is a copy from here on; the file's pages would hold it twice */
        tailor_gguf_release_pages (self->model->gguf, src->data, src->n_bytes);
      }
  else
    for (l = 0; l < self->L; l++)
      for (t = 0; t < N_TARGETS; t++)
        {
          TailorRefLora *lora = tailor_ref_adapter_get (adapter, l, t);
          int ia = self->layers[l].lora[t];

          if (lora == NULL)
            continue;
          memcpy (host + g_array_index (self->params, Param, ia).offset, lora->a,
                  sizeof (float) * lora->rank * lora->in);
          memcpy (host + g_array_index (self->params, Param, ia + 1).offset, lora->b,
                  sizeof (float) * lora->rank * lora->out);
        }
  return tailor_tensor_upload (&self->values, host, error);
}

static gboolean
setup_activations (TailorStep *self, GError **error)
{
  gint64 ne[1];
  int i;
  int b;
  int t;

  self->xs = g_new0 (TailorTensor, self->L + 1);
  for (i = 0; i <= self->L; i++)
    if (!alloc_acts (self, &self->xs[i], self->C, error))
      return FALSE;
  self->n_acts = self->cfg.checkpointing ? 1 : self->L;
  self->acts = g_new0 (Acts, self->n_acts);
  for (i = 0; i < self->n_acts; i++)
    {
      Acts *a = &self->acts[i];
      int l = self->cfg.checkpointing ? -1 : i;
      int q_dim = l < 0 ? self->q_max : self->layers[l].q_dim;
      int kv_dim = l < 0 ? self->kv_max : self->layers[l].kv_dim;
      int n_ff = l < 0 ? self->ff_max : self->layers[l].n_ff;
      int n_head = l < 0 ? self->q_max / self->hd : self->layers[l].n_head;

      if (!alloc_acts (self, &a->xn1, self->C, error) || !alloc_acts (self, &a->q, q_dim, error) ||
          !alloc_acts (self, &a->k, kv_dim, error) || !alloc_acts (self, &a->v, kv_dim, error) ||
          !alloc_acts (self, &a->att, q_dim, error) ||
          !alloc_acts (self, &a->x_mid, self->C, error) ||
          !alloc_acts (self, &a->xn2, self->C, error) ||
          !alloc_acts (self, &a->gate, n_ff, error) || !alloc_acts (self, &a->up, n_ff, error))
        return FALSE;
      a->lse = g_new0 (TailorTensor, self->B);
      for (b = 0; b < self->B; b++)
        if (!alloc2 (self, TAILOR_TYPE_F32, self->T, n_head, &a->lse[b], error))
          return FALSE;
      for (t = 0; t < N_TARGETS; t++)
        {
          int rank = 0;
          int ll;

          for (ll = 0; ll < self->L; ll++)
            if ((l < 0 || ll == l) && self->layers[ll].lora[t] >= 0)
              rank = MAX (rank, (int) g_array_index (self->params, Param,
                                                     self->layers[ll].lora[t]).ne1);
          if (rank > 0 && !alloc_acts (self, &a->xa[t], rank, error))
            return FALSE;
        }
    }
  if (!alloc_acts (self, &self->proj, self->C, error) ||
      !alloc_acts (self, &self->x_scratch, self->C, error) ||
      !alloc_acts (self, &self->xn_out, self->C, error) ||
      !alloc_acts (self, &self->dx, self->C, error) ||
      !alloc_acts (self, &self->dxn, self->C, error) ||
      !alloc_acts (self, &self->datt, self->q_max, error) ||
      !alloc_acts (self, &self->dq, self->q_max, error) ||
      !alloc_acts (self, &self->dk, self->kv_max, error) ||
      !alloc_acts (self, &self->dv, self->kv_max, error) ||
      !alloc_acts (self, &self->dh, self->ff_max, error) ||
      !alloc_acts (self, &self->dgate, self->ff_max, error) ||
      !alloc_acts (self, &self->dup, self->ff_max, error))
    return FALSE;

  ne[0] = self->BT;
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, &self->ce_lse, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->ce_lse.buf);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_I32, 1, ne, &self->tokens, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->tokens.buf);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_I32, 1, ne, &self->targets, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->targets.buf);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_I32, 1, ne, &self->pos, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->pos.buf);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, &self->mask, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->mask.buf);
  ne[0] = 1;
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, &self->loss, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->loss.buf);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, &self->dloss, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->dloss.buf);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, &self->norm_sq, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->norm_sq.buf);
  ne[0] = sizeof (TailorAdamWHyper) / sizeof (float);
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_F32, 1, ne, &self->hyper, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->hyper.buf);
  ne[0] = (gint64) self->L * N_TARGETS * SEED_STRIDE;
  if (!tailor_tensor_alloc (self->backend, TAILOR_TYPE_I32, 1, ne, &self->seeds, error))
    return FALSE;
  g_ptr_array_add (self->bufs, self->seeds.buf);
  return TRUE;
}

/* ---- Recording ---- */

static Acts *
acts_of (TailorStep *self, int l)
{
  return &self->acts[self->cfg.checkpointing ? 0 : l];
}

static gboolean
lora_of (TailorStep *self, int l, int t, TailorTensor *a, TailorTensor *b)
{
  int i = self->layers[l].lora[t];

  if (self->cfg.method == TAILOR_TRAIN_FULL || i < 0)
    return FALSE;
  *a = flat_view (self, &self->values, i);
  *b = flat_view (self, &self->values, i + 1);
  return TRUE;
}

/* out = inp · Wᵀ + bias, plus the target's LoRA. */
static void
project_forward (TailorStep *self, TailorGraph *g, int l, int t, Acts *acts, gboolean train,
                 const TailorTensor *out, const TailorTensor *inp, const TailorTensor *bias)
{
  StepLayer *sl = &self->layers[l];
  TailorTensor a;
  TailorTensor b;

  double ic = (double) sl->w[t].ne[0];
  double oc = (double) sl->w[t].ne[1];

  tailor_op_matmul (g, out, inp, &sl->w[t], bias != NULL && bias->buf != NULL ? bias : NULL);
  count_flops (self, "matmul", 2.0 * self->BT * ic * oc);
  if (lora_of (self, l, t, &a, &b))
    {
      TailorTensor xa = acts_view (self, &acts->xa[t], a.ne[1]);
      TailorTensor seed = seed_view (self, l, t);
      float dropout = train ? self->cfg.dropout : 0.0f;

      count_flops (self, "lora", 2.0 * self->BT * (double) a.ne[1] * (ic + oc));

      tailor_op_lora (g, out, &xa, inp, &a, &b, sl->lora_scale[t], dropout,
                      dropout > 0.0f ? &seed : NULL);
    }
}

/* dinp (NULL: not needed) += input gradient; the weight, bias and LoRA gradients trained. */
static void
project_backward (TailorStep *self, TailorGraph *g, int l, int t, Acts *acts, gboolean train,
                  const TailorTensor *dinp, const TailorTensor *dbias, const TailorTensor *dout,
                  const TailorTensor *inp)
{
  StepLayer *sl = &self->layers[l];
  TailorTensor a;
  TailorTensor b;
  double ic = (double) sl->w[t].ne[0];
  double oc = (double) sl->w[t].ne[1];

  if (dinp != NULL)
    {
      tailor_op_matmul_backward_input (g, dinp, dout, &sl->w[t]);
      count_flops (self, "matmul_backward_input", 2.0 * self->BT * ic * oc);
    }
  if (sl->dw[t].buf != NULL)
    {
      tailor_op_matmul_backward_weight (g, &sl->dw[t],
                                        dbias != NULL && dbias->buf != NULL ? dbias : NULL, dout,
                                        inp);
      count_flops (self, "matmul_backward_weight", 2.0 * self->BT * ic * oc);
    }
  if (lora_of (self, l, t, &a, &b))
    {
      int i = sl->lora[t];
      TailorTensor da = flat_view (self, &self->grads, i);
      TailorTensor db = flat_view (self, &self->grads, i + 1);
      TailorTensor xa = acts_view (self, &acts->xa[t], a.ne[1]);
      TailorTensor seed = seed_view (self, l, t);
      float dropout = train ? self->cfg.dropout : 0.0f;

      /* dB and d(xa) from dout, dA from d(xa), and d(inp) through A when asked */
      count_flops (self, "lora_backward",
                   2.0 * self->BT * (double) a.ne[1] *
                     (2.0 * oc + (dinp != NULL ? 2.0 : 1.0) * ic));
      tailor_op_lora_backward (g, dinp, &da, &db, dout, inp, &xa, &a, &b, sl->lora_scale[t],
                               dropout, dropout > 0.0f ? &seed : NULL);
    }
}

static void
record_layer_forward (TailorStep *self, TailorGraph *g, int l, gboolean train,
                      const TailorTensor *x_out_full)
{
  const TailorHparams *hp = &self->model->hp;
  StepLayer *sl = &self->layers[l];
  Acts *a = acts_of (self, l);
  const TailorTensor *x_in = &self->xs[l];
  TailorTensor xn1 = acts_view (self, &a->xn1, self->C);
  TailorTensor q = acts_view (self, &a->q, sl->q_dim);
  TailorTensor k = acts_view (self, &a->k, sl->kv_dim);
  TailorTensor v = acts_view (self, &a->v, sl->kv_dim);
  TailorTensor att = acts_view (self, &a->att, sl->q_dim);
  TailorTensor x_mid = acts_view (self, &a->x_mid, self->C);
  TailorTensor xn2 = acts_view (self, &a->xn2, self->C);
  TailorTensor gate = acts_view (self, &a->gate, sl->n_ff);
  TailorTensor up = acts_view (self, &a->up, sl->n_ff);
  /* silu(gate)·up is not kept: it is cheap to recompute from gate and up, and keeping it
   * would cost n_ff floats per token per layer. The backward's dh is free during a forward. */
  TailorTensor h = acts_view (self, &self->dh, sl->n_ff);
  const TailorTensor *freqs = self->rope_freqs.buf != NULL ? &self->rope_freqs : NULL;
  int b;

  /* attention block: x_mid = x_in + o(attention(rope(q), rope(k), v)) */
  tailor_op_rmsnorm (g, &xn1, NULL, x_in, &sl->attn_norm, hp->norm_eps);
  project_forward (self, g, l, TAILOR_REF_LORA_Q, a, train, &q, &xn1, &sl->bq);
  project_forward (self, g, l, TAILOR_REF_LORA_K, a, train, &k, &xn1, &sl->bk);
  project_forward (self, g, l, TAILOR_REF_LORA_V, a, train, &v, &xn1, &sl->bv);
  tailor_op_rope (g, &q, &self->pos, sl->n_head, self->hd, hp->n_rot, hp->rope_freq_base,
                  hp->rope_freq_scale, freqs, hp->rope_type, FALSE);
  tailor_op_rope (g, &k, &self->pos, sl->n_head_kv, self->hd, hp->n_rot, hp->rope_freq_base,
                  hp->rope_freq_scale, freqs, hp->rope_type, FALSE);
  for (b = 0; b < self->B; b++)
    {
      TailorTensor att_b = seq_rows (self, &att, b);
      TailorTensor q_b = seq_rows (self, &q, b);
      TailorTensor k_b = seq_rows (self, &k, b);
      TailorTensor v_b = seq_rows (self, &v, b);
      TailorTensor lse_b = view2d (&a->lse[b], self->T, sl->n_head);

      tailor_op_attention (g, &att_b, &lse_b, &q_b, &k_b, &v_b, sl->n_head, sl->n_head_kv,
                           self->hd);
      /* causal: q·kᵀ and p·v over T (T + 1) / 2 pairs per head */
      count_flops (self, "attention", 2.0 * sl->n_head * self->hd * self->T * (self->T + 1.0));
    }
  project_forward (self, g, l, TAILOR_REF_LORA_O, a, train, &self->proj, &att, NULL);
  tailor_op_add (g, &x_mid, x_in, &self->proj);

  /* feed-forward block: x_out = x_mid + down(silu(gate) · up) */
  tailor_op_rmsnorm (g, &xn2, NULL, &x_mid, &sl->ffn_norm, hp->norm_eps);
  project_forward (self, g, l, TAILOR_REF_LORA_GATE, a, train, &gate, &xn2, NULL);
  project_forward (self, g, l, TAILOR_REF_LORA_UP, a, train, &up, &xn2, NULL);
  tailor_op_swiglu (g, &h, &gate, &up);
  project_forward (self, g, l, TAILOR_REF_LORA_DOWN, a, train, &self->proj, &h, NULL);
  tailor_op_add (g, x_out_full, &x_mid, &self->proj);
}

/* On entry dx holds d(x_out); on return d(x_in) (when need_dx). */
static void
record_layer_backward (TailorStep *self, TailorGraph *g, int l, gboolean need_dx)
{
  const TailorHparams *hp = &self->model->hp;
  StepLayer *sl = &self->layers[l];
  Acts *a = acts_of (self, l);
  const TailorTensor *x_in = &self->xs[l];
  TailorTensor xn1 = acts_view (self, &a->xn1, self->C);
  TailorTensor q = acts_view (self, &a->q, sl->q_dim);
  TailorTensor k = acts_view (self, &a->k, sl->kv_dim);
  TailorTensor v = acts_view (self, &a->v, sl->kv_dim);
  TailorTensor att = acts_view (self, &a->att, sl->q_dim);
  TailorTensor x_mid = acts_view (self, &a->x_mid, self->C);
  TailorTensor xn2 = acts_view (self, &a->xn2, self->C);
  TailorTensor gate = acts_view (self, &a->gate, sl->n_ff);
  TailorTensor up = acts_view (self, &a->up, sl->n_ff);
  TailorTensor dh = acts_view (self, &self->dh, sl->n_ff);
  TailorTensor dgate = acts_view (self, &self->dgate, sl->n_ff);
  /* the forward's silu(gate)·up, recomputed into dgate, which is free until the swiglu
   * backward (same op, same inputs: the same bits as in the forward) */
  TailorTensor h = dgate;
  TailorTensor dup = acts_view (self, &self->dup, sl->n_ff);
  TailorTensor datt = acts_view (self, &self->datt, sl->q_dim);
  TailorTensor dq = acts_view (self, &self->dq, sl->q_dim);
  TailorTensor dk = acts_view (self, &self->dk, sl->kv_dim);
  TailorTensor dv = acts_view (self, &self->dv, sl->kv_dim);
  const TailorTensor *freqs = self->rope_freqs.buf != NULL ? &self->rope_freqs : NULL;
  const TailorTensor *dx = &self->dx;
  const TailorTensor *dxn = &self->dxn;
  int b;

  /* feed-forward block; the residual passes dx on to x_mid unchanged and the norm's path
   * adds to it */
  tailor_op_swiglu (g, &h, &gate, &up);
  tailor_op_zero (g, &dh);
  project_backward (self, g, l, TAILOR_REF_LORA_DOWN, a, TRUE, &dh, NULL, dx, &h);
  tailor_op_zero (g, &dgate);
  tailor_op_zero (g, &dup);
  tailor_op_swiglu_backward (g, &dgate, &dup, &dh, &gate, &up);
  tailor_op_zero (g, dxn);
  project_backward (self, g, l, TAILOR_REF_LORA_GATE, a, TRUE, dxn, NULL, &dgate, &xn2);
  project_backward (self, g, l, TAILOR_REF_LORA_UP, a, TRUE, dxn, NULL, &dup, &xn2);
  tailor_op_rmsnorm_backward (g, dx, sl->d_ffn_norm.buf != NULL ? &sl->d_ffn_norm : NULL, dxn,
                              &x_mid, &sl->ffn_norm, hp->norm_eps);

  /* attention block */
  tailor_op_zero (g, &datt);
  project_backward (self, g, l, TAILOR_REF_LORA_O, a, TRUE, &datt, NULL, dx, &att);
  tailor_op_zero (g, &dq);
  tailor_op_zero (g, &dk);
  tailor_op_zero (g, &dv);
  for (b = 0; b < self->B; b++)
    {
      TailorTensor dq_b = seq_rows (self, &dq, b);
      TailorTensor dk_b = seq_rows (self, &dk, b);
      TailorTensor dv_b = seq_rows (self, &dv, b);
      TailorTensor datt_b = seq_rows (self, &datt, b);
      TailorTensor att_b = seq_rows (self, &att, b);
      TailorTensor q_b = seq_rows (self, &q, b);
      TailorTensor k_b = seq_rows (self, &k, b);
      TailorTensor v_b = seq_rows (self, &v, b);
      TailorTensor lse_b = view2d (&a->lse[b], self->T, sl->n_head);

      tailor_op_attention_backward (g, &dq_b, &dk_b, &dv_b, &datt_b, &att_b, &lse_b, &q_b, &k_b,
                                    &v_b, sl->n_head, sl->n_head_kv, self->hd);
      /* scores again, dP, dV, dQ and dK */
      count_flops (self, "attention_backward",
                   5.0 * sl->n_head * self->hd * self->T * (self->T + 1.0));
    }
  tailor_op_rope (g, &dq, &self->pos, sl->n_head, self->hd, hp->n_rot, hp->rope_freq_base,
                  hp->rope_freq_scale, freqs, hp->rope_type, TRUE);
  tailor_op_rope (g, &dk, &self->pos, sl->n_head_kv, self->hd, hp->n_rot, hp->rope_freq_base,
                  hp->rope_freq_scale, freqs, hp->rope_type, TRUE);
  if (need_dx)
    tailor_op_zero (g, dxn);
  project_backward (self, g, l, TAILOR_REF_LORA_Q, a, TRUE, need_dx ? dxn : NULL, &sl->dbq, &dq,
                    &xn1);
  project_backward (self, g, l, TAILOR_REF_LORA_K, a, TRUE, need_dx ? dxn : NULL, &sl->dbk, &dk,
                    &xn1);
  project_backward (self, g, l, TAILOR_REF_LORA_V, a, TRUE, need_dx ? dxn : NULL, &sl->dbv, &dv,
                    &xn1);
  if (need_dx)
    tailor_op_rmsnorm_backward (g, dx, sl->d_attn_norm.buf != NULL ? &sl->d_attn_norm : NULL, dxn,
                                x_in, &sl->attn_norm, hp->norm_eps);
}

static void
record_forward (TailorStep *self, TailorGraph *g, gboolean train)
{
  const TailorHparams *hp = &self->model->hp;
  int l;

  tailor_op_embedding (g, &self->xs[0], &self->tok_embd, &self->tokens);
  for (l = 0; l < self->L; l++)
    record_layer_forward (self, g, l, train, &self->xs[l + 1]);
  tailor_op_rmsnorm (g, &self->xn_out, NULL, &self->xs[self->L], &self->output_norm,
                     hp->norm_eps);
  tailor_op_cross_entropy (g, &self->loss, &self->ce_lse, &self->xn_out, &self->output,
                           &self->targets, &self->mask, self->cfg.vocab_chunk);
  count_flops (self, "cross_entropy", 2.0 * self->BT * self->C * (double) hp->n_vocab);
}

static void
record_backward (TailorStep *self, TailorGraph *g)
{
  const TailorHparams *hp = &self->model->hp;
  gboolean full = self->cfg.method == TAILOR_TRAIN_FULL;
  int l;

  tailor_op_zero (g, &self->dxn);
  tailor_op_zero (g, &self->dx);
  tailor_op_cross_entropy_backward (g, &self->dxn, full ? &self->d_output : NULL, &self->xn_out,
                                    &self->output, &self->targets, &self->mask, &self->ce_lse,
                                    &self->dloss, self->cfg.vocab_chunk);
  /* the logits again, the input gradient and (full) the output weight's */
  count_flops (self, "cross_entropy_backward",
               (full ? 6.0 : 4.0) * self->BT * self->C * (double) hp->n_vocab);
  tailor_op_rmsnorm_backward (g, &self->dx, full ? &self->d_output_norm : NULL, &self->dxn,
                              &self->xs[self->L], &self->output_norm, hp->norm_eps);
  for (l = self->L - 1; l >= 0; l--)
    {
      /* checkpointing: recompute this layer from its kept input, with the same masks */
      if (self->cfg.checkpointing)
        record_layer_forward (self, g, l, TRUE, &self->x_scratch);
      record_layer_backward (self, g, l, l > 0 || full);
    }
  if (full)
    tailor_op_embedding_backward (g, &self->d_tok_embd, &self->dx, &self->tokens);
}

static void
record_optimizer (TailorStep *self, TailorGraph *g)
{
  const TailorTensor *grads[1] = { &self->grads };

  tailor_op_grad_norm_sq (g, &self->norm_sq, grads, 1);
  tailor_op_adamw (g, &self->values, &self->m, &self->v, &self->grads, &self->hyper,
                   &self->norm_sq);
  tailor_op_zero (g, &self->grads);
}

/* ---- The step object ---- */

static gboolean
check_shapes (TailorStep *self, GError **error)
{
  const TailorHparams *hp = &self->model->hp;
  int l;

  for (l = 0; l < self->L; l++)
    {
      StepLayer *sl = &self->layers[l];

      sl->n_head = (int) hp->layers[l].n_head;
      sl->n_head_kv = (int) hp->layers[l].n_head_kv;
      sl->n_ff = (int) hp->layers[l].n_ff;
      sl->q_dim = sl->n_head * self->hd;
      sl->kv_dim = sl->n_head_kv * self->hd;
      self->q_max = MAX (self->q_max, sl->q_dim);
      self->kv_max = MAX (self->kv_max, sl->kv_dim);
      self->ff_max = MAX (self->ff_max, sl->n_ff);
      /* the sequences of a micro-batch are row views, which must start 16-byte aligned */
      if (self->B > 1 && ((gint64) self->T * sl->kv_dim % ALIGN_FLOATS != 0 ||
                          (gint64) self->T * sl->q_dim % ALIGN_FLOATS != 0))
        {
          g_set_error (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_UNSUPPORTED,
                       "layer %d: a micro-batch of %d sequences of %d tokens needs seq_len × "
                       "key/value width (%d) to be a multiple of 4; use batch 1 or a seq_len "
                       "that is a multiple of 4",
                       l, self->B, self->T, sl->kv_dim);
          return FALSE;
        }
    }
  return TRUE;
}

TailorStep *
tailor_step_new (TailorBackend *backend,
                 TailorModel *model,
                 const TailorStepConfig *config,
                 TailorRefAdapter *adapter,
                 GError **error)
{
  g_autoptr (TailorStep) self = NULL;

  g_return_val_if_fail (backend != NULL && model != NULL && config != NULL, NULL);
  g_return_val_if_fail ((config->method == TAILOR_TRAIN_FULL) == (adapter == NULL), NULL);
  g_return_val_if_fail (config->seq_len > 0 && config->batch > 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_new0 (TailorStep, 1);
  self->backend = backend;
  self->model = tailor_model_ref (model);
  self->cfg = *config;
  if (self->cfg.vocab_chunk <= 0)
    self->cfg.vocab_chunk = DEFAULT_VOCAB_CHUNK;
  self->T = config->seq_len;
  self->B = config->batch;
  self->BT = self->T * self->B;
  self->L = (int) model->hp.n_layer;
  self->C = (int) model->hp.n_embd;
  self->hd = (int) model->hp.head_dim;
  self->params = g_array_new (FALSE, TRUE, sizeof (Param));
  g_array_set_clear_func (self->params, param_clear);
  self->bufs = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_buf_free);
  self->layers = g_new0 (StepLayer, self->L);

  if (adapter != NULL && adapter->n_layer != self->L)
    {
      g_set_error (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_UNSUPPORTED,
                   "the adapter has %d layers but the model has %d", adapter->n_layer, self->L);
      return NULL;
    }
  if (!check_shapes (self, error))
    return NULL;
  if (!upload_vector (self, model->rope_freqs, &self->rope_freqs, error))
    return NULL;
  if (!setup_params (self, adapter, error))
    return NULL;
  if (config->method == TAILOR_TRAIN_FULL)
    bind_full (self);
  else if (!setup_base (self, error))
    return NULL;
  if (!setup_activations (self, error))
    return NULL;

  self->g_fb = tailor_graph_new (backend);
  record_forward (self, self->g_fb, TRUE);
  record_backward (self, self->g_fb);
  self->g_step = tailor_graph_new (backend);
  self->flops = tailor_op_profile_new ();
  self->counting = TRUE;
  record_forward (self, self->g_step, TRUE);
  record_backward (self, self->g_step);
  self->counting = FALSE;
  record_optimizer (self, self->g_step);
  self->g_eval = tailor_graph_new (backend);
  record_forward (self, self->g_eval, FALSE);
  self->g_zero = tailor_graph_new (backend);
  tailor_op_zero (self->g_zero, &self->grads);
  return g_steal_pointer (&self);
}

void
tailor_step_free (TailorStep *self)
{
  int i;

  if (self == NULL)
    return;
  g_clear_pointer (&self->g_fb, tailor_graph_free);
  g_clear_pointer (&self->g_step, tailor_graph_free);
  g_clear_pointer (&self->g_eval, tailor_graph_free);
  g_clear_pointer (&self->g_zero, tailor_graph_free);
  g_clear_pointer (&self->bufs, g_ptr_array_unref);
  g_clear_pointer (&self->flops, g_hash_table_unref);
  g_clear_pointer (&self->profile, g_hash_table_unref);
  for (i = 0; i < self->n_acts; i++)
    g_free (self->acts[i].lse);
  g_free (self->acts);
  g_free (self->xs);
  g_free (self->layers);
  g_clear_pointer (&self->params, g_array_unref);
  tailor_model_unref (self->model);
  g_free (self);
}

int
tailor_step_get_n_params (TailorStep *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (int) self->params->len;
}

const char *
tailor_step_get_param_name (TailorStep *self, int i)
{
  g_return_val_if_fail (self != NULL && i >= 0 && i < (int) self->params->len, NULL);
  return g_array_index (self->params, Param, i).name;
}

gsize
tailor_step_get_param_size (TailorStep *self, int i)
{
  g_return_val_if_fail (self != NULL && i >= 0 && i < (int) self->params->len, 0);
  return g_array_index (self->params, Param, i).n;
}

gsize
tailor_step_get_flat_size (TailorStep *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->flat_n;
}

guint64
tailor_step_get_n_trainable (TailorStep *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_trainable;
}

const float *
tailor_step_param_slice (TailorStep *self, int i, const float *flat)
{
  g_return_val_if_fail (self != NULL && i >= 0 && i < (int) self->params->len, NULL);
  return flat + g_array_index (self->params, Param, i).offset;
}

void
tailor_step_set_profiling (TailorStep *self, gboolean profiling)
{
  g_return_if_fail (self != NULL);
  self->profiling = profiling;
}

GHashTable *
tailor_step_get_profile (TailorStep *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->profile;
}

static void
profile_submit (TailorStep *self, TailorGraph *graph)
{
  GHashTableIter iter;
  gpointer value;

  g_clear_pointer (&self->profile, g_hash_table_unref);
  self->profile = tailor_op_profile_new ();
  tailor_op_profile_add_timings (self->profile, tailor_graph_get_timings (graph));
  g_hash_table_iter_init (&iter, self->flops);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const TailorOpProfile *e = value;

      tailor_op_profile_add_flops (self->profile, e->kind, e->flops);
    }
}

static gboolean
upload_batch (TailorStep *self, const gint32 *tokens, const gint32 *targets, const float *mask,
              const gint32 *pos, GError **error)
{
  return tailor_tensor_upload (&self->tokens, tokens, error) &&
         tailor_tensor_upload (&self->targets, targets, error) &&
         tailor_tensor_upload (&self->mask, mask, error) &&
         tailor_tensor_upload (&self->pos, pos, error);
}

gboolean
tailor_step_run (TailorStep *self,
                 const gint32 *tokens,
                 const gint32 *targets,
                 const float *mask,
                 const gint32 *pos,
                 float dloss,
                 guint32 dropout_seed,
                 const TailorAdamWHyper *hyper,
                 float *loss,
                 float *grad_norm_sq,
                 GError **error)
{
  g_autofree gint32 *seeds = NULL;
  TailorGraph *graph;
  int l;
  int t;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (tokens != NULL && targets != NULL && mask != NULL && pos != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  seeds = g_new0 (gint32, (gsize) self->L * N_TARGETS * SEED_STRIDE);
  for (l = 0; l < self->L; l++)
    for (t = 0; t < N_TARGETS; t++)
      seeds[(l * N_TARGETS + t) * SEED_STRIDE] = (gint32) lora_seed (dropout_seed, l, t);
  if (!upload_batch (self, tokens, targets, mask, pos, error) ||
      !tailor_tensor_upload (&self->dloss, &dloss, error) ||
      !tailor_tensor_upload (&self->seeds, seeds, error))
    return FALSE;
  if (hyper != NULL && !tailor_tensor_upload (&self->hyper, hyper, error))
    return FALSE;
  graph = hyper != NULL ? self->g_step : self->g_fb;
  tailor_graph_set_profiling (graph, self->profiling);
  if (!tailor_graph_submit (graph, error))
    return FALSE;
  if (self->profiling)
    profile_submit (self, graph);
  if (loss != NULL && !tailor_tensor_download (&self->loss, loss, error))
    return FALSE;
  if (hyper != NULL && grad_norm_sq != NULL &&
      !tailor_tensor_download (&self->norm_sq, grad_norm_sq, error))
    return FALSE;
  return TRUE;
}

gboolean
tailor_step_eval (TailorStep *self,
                  const gint32 *tokens,
                  const gint32 *targets,
                  const float *mask,
                  const gint32 *pos,
                  float *loss,
                  GError **error)
{
  g_return_val_if_fail (self != NULL && loss != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return upload_batch (self, tokens, targets, mask, pos, error) &&
         tailor_graph_submit (self->g_eval, error) &&
         tailor_tensor_download (&self->loss, loss, error);
}

gboolean
tailor_step_zero_grad (TailorStep *self, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return tailor_graph_submit (self->g_zero, error);
}

static const TailorTensor *
flat_buffer (TailorStep *self, TailorStepBuffer which)
{
  switch (which)
    {
    case TAILOR_STEP_GRADS:
      return &self->grads;
    case TAILOR_STEP_M:
      return &self->m;
    case TAILOR_STEP_V:
      return &self->v;
    case TAILOR_STEP_VALUES:
    default:
      return &self->values;
    }
}

gboolean
tailor_step_download (TailorStep *self, TailorStepBuffer which, float *data, GError **error)
{
  g_return_val_if_fail (self != NULL && data != NULL, FALSE);
  return tailor_tensor_download (flat_buffer (self, which), data, error);
}

gboolean
tailor_step_upload (TailorStep *self, TailorStepBuffer which, const float *data, GError **error)
{
  g_return_val_if_fail (self != NULL && data != NULL, FALSE);
  return tailor_tensor_upload (flat_buffer (self, which), data, error);
}

TailorRefAdapter *
tailor_step_get_adapter (TailorStep *self, GError **error)
{
  g_autoptr (TailorRefAdapter) adapter = NULL;
  g_autofree float *values = NULL;
  int l;
  int t;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (self->cfg.method != TAILOR_TRAIN_FULL, NULL);

  values = g_new (float, self->flat_n);
  if (!tailor_step_download (self, TAILOR_STEP_VALUES, values, error))
    return NULL;
  adapter = g_new0 (TailorRefAdapter, 1);
  adapter->n_layer = self->L;
  adapter->dropout = self->cfg.dropout;
  adapter->lora = g_new0 (TailorRefLora, (gsize) self->L * N_TARGETS);
  for (l = 0; l < self->L; l++)
    for (t = 0; t < N_TARGETS; t++)
      {
        int i = self->layers[l].lora[t];
        TailorRefLora *lora = &adapter->lora[l * N_TARGETS + t];
        Param *pa;
        Param *pb;

        if (i < 0)
          continue;
        pa = &g_array_index (self->params, Param, i);
        pb = &g_array_index (self->params, Param, i + 1);
        lora->rank = (int) pa->ne1;
        lora->in = (int) pa->ne0;
        lora->out = (int) pb->ne1;
        /* the scale is what matters; alpha = scale · rank reproduces it without rsLoRA */
        lora->alpha = self->layers[l].lora_scale[t] * (float) lora->rank;
        lora->rslora = FALSE;
        lora->a = g_memdup2 (values + pa->offset, sizeof (float) * pa->n);
        lora->b = g_memdup2 (values + pb->offset, sizeof (float) * pb->n);
      }
  return g_steal_pointer (&adapter);
}

static guint64
buf_bytes (const TailorTensor *t)
{
  return t->buf != NULL ? tailor_buf_get_size (t->buf) : 0;
}

void
tailor_step_get_memory (TailorStep *self, TailorStepMemory *out)
{
  const TailorTensor *work[] = {
    &self->proj,   &self->x_scratch, &self->xn_out, &self->ce_lse, &self->dx,
    &self->dxn,    &self->datt,      &self->dq,     &self->dk,     &self->dv,
    &self->dh,     &self->dgate,     &self->dup,    &self->tokens, &self->targets,
    &self->mask,   &self->pos,       &self->loss,   &self->dloss,  &self->norm_sq,
    &self->hyper,  &self->seeds,
  };
  guint64 total = 0;
  guint i;
  int l;
  int b;
  int t;

  g_return_if_fail (self != NULL && out != NULL);

  memset (out, 0, sizeof *out);
  for (i = 0; i < self->bufs->len; i++)
    total += tailor_buf_get_size (g_ptr_array_index (self->bufs, i));
  out->trainable = buf_bytes (&self->values) + buf_bytes (&self->grads) + buf_bytes (&self->m) +
                   buf_bytes (&self->v);
  for (l = 0; l <= self->L; l++)
    out->activations += buf_bytes (&self->xs[l]);
  for (l = 0; l < self->n_acts; l++)
    {
      const Acts *a = &self->acts[l];
      const TailorTensor *kept[] = { &a->xn1, &a->q,    &a->k,  &a->v,  &a->att,
                                     &a->x_mid, &a->xn2, &a->gate, &a->up };

      for (i = 0; i < G_N_ELEMENTS (kept); i++)
        out->activations += buf_bytes (kept[i]);
      for (b = 0; b < self->B; b++)
        out->activations += buf_bytes (&a->lse[b]);
      for (t = 0; t < N_TARGETS; t++)
        out->activations += buf_bytes (&a->xa[t]);
    }
  for (i = 0; i < G_N_ELEMENTS (work); i++)
    out->workspace += buf_bytes (work[i]);
  out->base_weights = total - out->trainable - out->activations - out->workspace +
                     (guint64) self->base_kept_delta;
}

/* ---- Data ----
 * Each example becomes tokens with a per-token flag "learn to predict this token"
 * (assistant content by default, everything with loss_on "all"; never an example's first
 * token). Packing concatenates whole examples in the epoch's order into sequences of up
 * to seq_len + 1 tokens; attention stays causal over the whole sequence, so a packed
 * example can attend to the examples before it in its sequence (as most trainers do), and
 * positions run on across the pack. */

typedef struct
{
  gint32 *ids;
  guint8 *learn;
  guint n;
} Sample;

static void
sample_clear (gpointer data)
{
  Sample *s = data;

  g_free (s->ids);
  g_free (s->learn);
}

typedef struct
{
  GArray *items;  /* guint32 sample index, every sequence's samples in order */
  GArray *starts; /* guint32 index into items of each sequence's first sample, + sentinel */
} Plan;

static void
plan_init (Plan *p)
{
  p->items = g_array_new (FALSE, FALSE, sizeof (guint32));
  p->starts = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_array_append_val (p->starts, p->items->len);
}

static void
plan_clear (Plan *p)
{
  g_clear_pointer (&p->items, g_array_unref);
  g_clear_pointer (&p->starts, g_array_unref);
}

static guint
plan_n_seq (const Plan *p)
{
  return p->starts->len - 1;
}

/* Appends the samples in order, packed (or one per sequence). */
static void
plan_add (Plan *p, GArray *samples, const guint32 *order, guint n, int cap, gboolean packing)
{
  guint fill = 0;
  guint i;

  for (i = 0; i < n; i++)
    {
      const Sample *s = &g_array_index (samples, Sample, order[i]);

      if (p->items->len > g_array_index (p->starts, guint32, p->starts->len - 1) &&
          (!packing || fill + s->n > (guint) cap))
        {
          g_array_append_val (p->starts, p->items->len);
          fill = 0;
        }
      g_array_append_val (p->items, order[i]);
      fill += s->n;
    }
  if (p->items->len > g_array_index (p->starts, guint32, p->starts->len - 1))
    g_array_append_val (p->starts, p->items->len);
}

static void
shuffle (guint32 *order, guint n, guint64 seed, guint epoch)
{
  guint64 state = seed ^ (0xd1b54a32d192ed03ULL * (epoch + 1));
  guint i;

  for (i = 0; i < n; i++)
    order[i] = i;
  for (i = n; i > 1; i--)
    {
      guint j = (guint) (splitmix64 (&state) % i);
      guint32 tmp = order[i - 1];

      order[i - 1] = order[j];
      order[j] = tmp;
    }
}

/* The host side of one micro-batch. */
typedef struct
{
  gint32 *tokens, *targets, *pos;
  float *mask;
  gint32 *scratch_ids; /* seq_len + 1 */
  guint8 *scratch_learn;
  guint n_real; /* input tokens that are not padding */
  guint n_mask; /* targets counted by the loss */
} Batch;

static void
batch_init (Batch *b, int T, int B)
{
  b->tokens = g_new (gint32, (gsize) T * B);
  b->targets = g_new (gint32, (gsize) T * B);
  b->pos = g_new (gint32, (gsize) T * B);
  b->mask = g_new (float, (gsize) T * B);
  b->scratch_ids = g_new (gint32, T + 1);
  b->scratch_learn = g_new (guint8, T + 1);
}

static void
batch_clear (Batch *b)
{
  g_free (b->tokens);
  g_free (b->targets);
  g_free (b->pos);
  g_free (b->mask);
  g_free (b->scratch_ids);
  g_free (b->scratch_learn);
}

/* Fills the micro-batch with sequences first … first + B − 1 of the plan (padding past
 * its end). */
static void
batch_fill (Batch *b, GArray *samples, const Plan *plan, gint64 first, int T, int B, gint32 pad)
{
  int r;

  b->n_real = 0;
  b->n_mask = 0;
  for (r = 0; r < B; r++)
    {
      gint64 s = first + r;
      guint len = 0;
      gsize row = (gsize) r * T;
      int t;

      if (s < plan_n_seq (plan))
        {
          guint i;

          for (i = g_array_index (plan->starts, guint32, s);
               i < g_array_index (plan->starts, guint32, s + 1); i++)
            {
              const Sample *smp = &g_array_index (samples, Sample,
                                                  g_array_index (plan->items, guint32, i));
              guint n = MIN (smp->n, (guint) (T + 1) - len);

              memcpy (b->scratch_ids + len, smp->ids, n * sizeof (gint32));
              memcpy (b->scratch_learn + len, smp->learn, n);
              len += n;
            }
        }
      for (t = 0; t < T; t++)
        {
          gboolean real = (guint) t < len;
          gboolean has_target = (guint) t + 1 < len;

          b->tokens[row + t] = real ? b->scratch_ids[t] : pad;
          b->targets[row + t] = has_target ? b->scratch_ids[t + 1] : 0;
          b->mask[row + t] = has_target && b->scratch_learn[t + 1] ? 1.0f : 0.0f;
          b->pos[row + t] = t;
          b->n_real += real;
          b->n_mask += b->mask[row + t] != 0.0f;
        }
    }
}

static gboolean
data_fail (GError **error, const char *field, const char *path, guint line, const char *message)
{
  g_set_error (error, TAILOR_RUN_CONFIG_ERROR, TAILOR_RUN_CONFIG_ERROR_DATA,
               "run.json: “%s”: %s line %u: %s", field, path, line, message);
  return FALSE;
}

/* Reads a JSONL file of examples into samples (truncated to cap tokens). */
static gboolean
load_samples (const char *path, const char *field, TailorTokenizer *tok, TailorChatStyle style,
              gboolean loss_on_all, int cap, GArray *samples, guint *n_skipped, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) local_error = NULL;
  g_auto (GStrv) lines = NULL;
  gint32 eos = tailor_tokenizer_get_eos (tok);
  guint n_examples = 0;
  guint i;

  if (!g_file_get_contents (path, &text, NULL, &local_error))
    {
      g_set_error (error, TAILOR_RUN_CONFIG_ERROR, TAILOR_RUN_CONFIG_ERROR_DATA,
                   "run.json: “%s”: %s", field, local_error->message);
      return FALSE;
    }
  lines = g_strsplit (text, "\n", -1);
  *n_skipped = 0;
  for (i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (TailorExample) ex = NULL;
      g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
      g_autoptr (GArray) learn = g_array_new (FALSE, FALSE, sizeof (guint8));
      Sample s = { 0 };
      guint n_learn = 0;
      guint j;

      g_strstrip (lines[i]);
      if (lines[i][0] == '\0')
        continue;
      ex = tailor_example_from_json (lines[i], &local_error);
      if (ex == NULL)
        return data_fail (error, field, path, i + 1, local_error->message);
      n_examples++;
      if (ex->kind == TAILOR_EXAMPLE_CHAT)
        {
          g_autofree TailorChatMessage *msgs = g_new0 (TailorChatMessage,
                                                       MAX (ex->messages->len, 1));

          for (j = 0; j < ex->messages->len; j++)
            {
              TailorMessage *m = &g_array_index (ex->messages, TailorMessage, j);

              msgs[j].role = m->role;
              msgs[j].content = m->content;
            }
          if (!tailor_chat_render_tokens_style (tok, style, msgs, ex->messages->len, FALSE, ids,
                                                learn, &local_error))
            return data_fail (error, field, path, i + 1, local_error->message);
        }
      else
        {
          tailor_tokenizer_encode (tok, ex->text, -1, TAILOR_TOKENIZE_ADD_SPECIAL, ids);
          if (eos >= 0 && (ids->len == 0 || g_array_index (ids, gint32, ids->len - 1) != eos))
            g_array_append_val (ids, eos);
          g_array_set_size (learn, ids->len);
          memset (learn->data, 1, ids->len);
        }
      s.n = MIN (ids->len, (guint) cap);
      if (s.n < 2)
        {
          (*n_skipped)++;
          continue;
        }
      s.ids = g_memdup2 (ids->data, sizeof (gint32) * s.n);
      s.learn = g_memdup2 (learn->data, s.n);
      if (loss_on_all)
        memset (s.learn, 1, s.n);
      s.learn[0] = 0;
      for (j = 1; j < s.n; j++)
        n_learn += s.learn[j];
      if (n_learn == 0)
        {
          sample_clear (&s);
          (*n_skipped)++;
          continue;
        }
      g_array_append_val (samples, s);
    }
  if (samples->len == 0)
    {
      g_set_error (error, TAILOR_RUN_CONFIG_ERROR, TAILOR_RUN_CONFIG_ERROR_DATA,
                   n_examples == 0
                     ? "run.json: “%s”: %s holds no examples; export a dataset version with "
                       "examples in it"
                     : "run.json: “%s”: none of the examples of %s has a token to learn from "
                       "within seq_len (assistant replies cut off, or empty); use a longer "
                       "seq_len or loss_on \"all\"",
                   field, path);
      return FALSE;
    }
  return TRUE;
}

/* ---- Runs ---- */

#define CHECKPOINT_VERSION 1
#define KEEP_CHECKPOINTS 2
#define MAX_TRIPS 3
#define SPIKE_FACTOR 3.0f
#define SPIKE_MIN_RISE 1.0f
#define SPIKE_MIN_STEPS 10

struct _TailorTrainRun
{
  TailorRunConfig *config;
  char *config_json;   /* recorded in the adapter (no output_dir: runs elsewhere match) */
  char *config_sha256; /* a checkpoint belongs to the run with this */
  TailorModel *model;
  TailorTokenizer *tok;
  char *chat_warning;
  GArray *train;       /* Sample */
  GArray *eval;        /* Sample, or NULL */
  guint n_skipped_train;
  guint n_skipped_eval;
  Plan plan;
  Plan eval_plan;
  int n_steps;
  int seqs_per_step;
  gint32 pad;
  gboolean resume;
  gboolean complete;
  TailorTrainEventFunc func;
  gpointer user_data;

  char *device;        /* the device to compute on instead of config->device, or NULL */
  TailorBackend *backend;
  TailorStep *step;
  Batch batch;
  FILE *log;
  FILE *metrics;
  char *last_checkpoint;
  int last_checkpoint_step;

  /* what a checkpoint holds besides the tensors */
  int step_no;
  guint64 rng;
  float lr_scale;
  float loss_ema;
  int ema_n;
  int trips;
  int trip_step;

  /* the instability test hook: TAILOR_TRAIN_INJECT_NAN=N (once at step N) or N+ (from N on) */
  int inject_step;
  gboolean inject_always;
  gboolean injected;
};

static void
json_set_double (JsonObject *o, const char *key, double v)
{
  if (isfinite (v))
    json_object_set_double_member (o, key, v);
  else
    json_object_set_null_member (o, key);
}

static JsonObject *
event_new (const char *name)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "event", name);
  return o;
}

static char *
object_to_line (JsonObject *o)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_set_object (node, o);
  return json_to_string (node, FALSE);
}

/* Sends an event to the listener and the run log (and step/eval events to metrics). */
static void
emit (TailorTrainRun *self, JsonObject *o)
{
  const char *name = json_object_get_string_member (o, "event");

  if (self->log != NULL || self->metrics != NULL)
    {
      g_autofree char *line = object_to_line (o);

      if (self->log != NULL)
        {
          g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
          g_autofree char *stamp = g_date_time_format_iso8601 (now);

          fprintf (self->log, "%s %s\n", stamp, line);
          fflush (self->log);
        }
      if (self->metrics != NULL && (g_str_equal (name, "step") || g_str_equal (name, "eval")))
        {
          fprintf (self->metrics, "%s\n", line);
          fflush (self->metrics);
        }
    }
  if (self->func != NULL)
    self->func (o, self->user_data);
  json_object_unref (o);
}

static void
emit_warning (TailorTrainRun *self, const char *code, const char *message)
{
  JsonObject *o = event_new ("warning");

  json_object_set_string_member (o, "code", code);
  json_object_set_string_member (o, "message", message);
  json_object_set_int_member (o, "step", self->step_no);
  emit (self, o);
}

static char *
sha256_of (const char *text)
{
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
}

static gboolean
prepare (TailorTrainRun *self, GCancellable *cancellable, GError **error)
{
  TailorRunConfig *c = self->config;
  TailorRunConfig recorded;
  TailorChatStyle style;
  int cap = c->seq_len + 1;
  gint64 needed;
  guint epoch;

  /* an unpinned base is pinned now, so that a resume refuses a base that changed since */
  if (c->base_sha256 == NULL && g_file_test (c->base_model, G_FILE_TEST_IS_REGULAR))
    {
      c->base_sha256 = tailor_file_sha256_cached (c->base_model, cancellable, NULL, NULL, NULL,
                                                  error);
      if (c->base_sha256 == NULL)
        return FALSE;
    }
  if (!tailor_run_config_check_files (c, cancellable, &self->model, error))
    return FALSE;
  recorded = *c;
  recorded.output_dir = NULL;
  self->config_json = tailor_run_config_to_json (&recorded);
  self->config_sha256 = sha256_of (self->config_json);
  self->tok = tailor_tokenizer_new_from_gguf (self->model->gguf, error);
  if (self->tok == NULL)
    return FALSE;
  style = tailor_chat_style_for_gguf (self->model->gguf, &self->chat_warning);
  self->pad = MAX (tailor_tokenizer_get_eos (self->tok), 0);

  self->train = g_array_new (FALSE, TRUE, sizeof (Sample));
  g_array_set_clear_func (self->train, sample_clear);
  if (!load_samples (c->train, "train", self->tok, style, c->loss_on_all, cap, self->train,
                     &self->n_skipped_train, error))
    return FALSE;
  if (c->eval != NULL)
    {
      g_autofree guint32 *order = NULL;
      guint i;

      self->eval = g_array_new (FALSE, TRUE, sizeof (Sample));
      g_array_set_clear_func (self->eval, sample_clear);
      if (!load_samples (c->eval, "eval", self->tok, style, c->loss_on_all, cap, self->eval,
                         &self->n_skipped_eval, error))
        return FALSE;
      order = g_new (guint32, self->eval->len);
      for (i = 0; i < self->eval->len; i++)
        order[i] = i;
      plan_add (&self->eval_plan, self->eval, order, self->eval->len, cap, c->packing);
    }

  self->seqs_per_step = c->batch * c->grad_accum;
  needed = c->max_steps > 0 ? (gint64) c->max_steps * self->seqs_per_step : 0;
  for (epoch = 0; c->max_steps > 0 ? plan_n_seq (&self->plan) < needed : epoch < (guint) c->epochs;
       epoch++)
    {
      g_autofree guint32 *order = g_new (guint32, self->train->len);

      shuffle (order, self->train->len, c->seed, epoch);
      plan_add (&self->plan, self->train, order, self->train->len, cap, c->packing);
    }
  self->n_steps = c->max_steps > 0
                    ? c->max_steps
                    : (int) ((plan_n_seq (&self->plan) + self->seqs_per_step - 1) /
                             self->seqs_per_step);
  return TRUE;
}

static TailorTrainRun *
run_new (TailorRunConfig *config, gboolean resume, GCancellable *cancellable, GError **error)
{
  g_autoptr (TailorTrainRun) self = g_new0 (TailorTrainRun, 1);
  const char *inject = g_getenv ("TAILOR_TRAIN_INJECT_NAN");

  self->config = config;
  self->resume = resume;
  self->lr_scale = 1.0f;
  self->rng = config->seed ^ 0x6a09e667f3bcc908ULL;
  plan_init (&self->plan);
  plan_init (&self->eval_plan);
  if (inject != NULL && inject[0] != '\0')
    {
      self->inject_step = (int) g_ascii_strtoll (inject, NULL, 10);
      self->inject_always = g_str_has_suffix (inject, "+");
    }
  if (!prepare (self, cancellable, error))
    return NULL;
  return g_steal_pointer (&self);
}

static char *
checkpoint_dir (TailorTrainRun *self)
{
  return g_build_filename (self->config->output_dir, "checkpoints", NULL);
}

/* Zero-padded step numbers sort as text. */
static gint
compare_newest_first (gconstpointer a, gconstpointer b)
{
  return -g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* Checkpoint file names, newest first. */
static GPtrArray *
list_checkpoints (TailorTrainRun *self)
{
  g_autofree char *dir_path = checkpoint_dir (self);
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (dir == NULL)
    return names;
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "step-") && g_str_has_suffix (name, ".gguf"))
      g_ptr_array_add (names, g_build_filename (dir_path, name, NULL));
  g_ptr_array_sort (names, compare_newest_first);
  return names;
}

TailorTrainRun *
tailor_train_run_new (TailorRunConfig *config, GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) existing = NULL;
  TailorTrainRun *self;

  g_return_val_if_fail (config != NULL && config->output_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = run_new (config, FALSE, cancellable, error);
  if (self == NULL)
    return NULL;
  existing = list_checkpoints (self);
  if (existing->len > 0)
    {
      g_set_error (error, TAILOR_RUN_CONFIG_ERROR, TAILOR_RUN_CONFIG_ERROR_INVALID,
                   "run.json: “output_dir”: %s already holds a run with checkpoints; continue it "
                   "with --resume or choose another output_dir",
                   config->output_dir);
      tailor_train_run_free (self);
      return NULL;
    }
  return self;
}

TailorTrainRun *
tailor_train_run_new_resume (const char *run_dir, GCancellable *cancellable, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr (TailorRunConfig) config = NULL;
  TailorTrainRun *self;

  g_return_val_if_fail (run_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  path = g_build_filename (run_dir, "config.json", NULL);
  config = tailor_run_config_load (path, error);
  if (config == NULL)
    {
      g_prefix_error (error, "%s is not a run folder that can be resumed: ", run_dir);
      return NULL;
    }
  /* the folder may have moved since the run began */
  g_free (config->output_dir);
  config->output_dir = g_canonicalize_filename (run_dir, NULL);
  self = run_new (config, TRUE, cancellable, error);
  if (self != NULL)
    g_steal_pointer (&config);
  return self;
}

TailorTrainRun *
tailor_train_run_new_resume_on (const char *run_dir,
                                const char *device,
                                GCancellable *cancellable,
                                GError **error)
{
  TailorTrainRun *self;

  g_return_val_if_fail (run_dir != NULL && device != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = tailor_train_run_new_resume (run_dir, cancellable, error);
  if (self != NULL)
    self->device = g_strdup (device);
  return self;
}

void
tailor_train_run_free (TailorTrainRun *self)
{
  if (self == NULL)
    return;
  if (self->resume)
    tailor_run_config_free (self->config);
  g_free (self->config_json);
  g_free (self->config_sha256);
  g_free (self->device);
  g_clear_pointer (&self->tok, tailor_tokenizer_free);
  g_clear_pointer (&self->model, tailor_model_unref);
  g_free (self->chat_warning);
  g_clear_pointer (&self->train, g_array_unref);
  g_clear_pointer (&self->eval, g_array_unref);
  plan_clear (&self->plan);
  plan_clear (&self->eval_plan);
  g_clear_pointer (&self->step, tailor_step_free);
  g_clear_pointer (&self->backend, tailor_backend_free);
  if (self->batch.tokens != NULL)
    batch_clear (&self->batch);
  g_clear_pointer (&self->log, fclose);
  g_clear_pointer (&self->metrics, fclose);
  g_free (self->last_checkpoint);
  g_free (self);
}

void
tailor_train_run_set_event_func (TailorTrainRun *self, TailorTrainEventFunc func,
                                 gpointer user_data)
{
  g_return_if_fail (self != NULL);
  self->func = func;
  self->user_data = user_data;
}

int
tailor_train_run_get_n_steps (TailorTrainRun *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_steps;
}

gboolean
tailor_train_run_is_complete (TailorTrainRun *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->complete;
}

const char *
tailor_train_run_get_dir (TailorTrainRun *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->config->output_dir;
}

/* ---- Checkpoints ---- */

static gboolean
add_flat (TailorGgufWriter *w, const char *name, float *data, gsize n, GError **error)
{
  gint64 ne[1] = { (gint64) n };
  g_autoptr (GBytes) bytes = g_bytes_new_take (data, n * sizeof (float));

  return tailor_gguf_writer_add_tensor (w, name, TAILOR_TYPE_F32, 1, ne, bytes, error);
}

/* Keeps the newest KEEP_CHECKPOINTS files. */
static void
prune_checkpoints (TailorTrainRun *self)
{
  g_autoptr (GPtrArray) names = list_checkpoints (self);
  guint i;

  for (i = KEEP_CHECKPOINTS; i < names->len; i++)
    g_unlink (g_ptr_array_index (names, i));
}

static gboolean
write_checkpoint (TailorTrainRun *self, GError **error)
{
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autofree char *dir = checkpoint_dir (self);
  g_autofree char *name = g_strdup_printf ("step-%08d.gguf", self->step_no);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  static const TailorStepBuffer which[3] = { TAILOR_STEP_VALUES, TAILOR_STEP_M, TAILOR_STEP_V };
  static const char *const names[3] = { "values", "m", "v" };
  gsize n = tailor_step_get_flat_size (self->step);
  JsonObject *o;
  int i;

  tailor_gguf_writer_set_string (w, "general.type", "tailor-checkpoint");
  tailor_gguf_writer_set_u32 (w, "tailor.checkpoint.version", CHECKPOINT_VERSION);
  tailor_gguf_writer_set_string (w, "tailor.checkpoint.config_sha256", self->config_sha256);
  tailor_gguf_writer_set_u32 (w, "tailor.checkpoint.step", (guint32) self->step_no);
  tailor_gguf_writer_set_u64 (w, "tailor.checkpoint.cursor",
                              (guint64) self->step_no * self->seqs_per_step);
  tailor_gguf_writer_set_u64 (w, "tailor.checkpoint.rng", self->rng);
  tailor_gguf_writer_set_f32 (w, "tailor.checkpoint.lr_scale", self->lr_scale);
  tailor_gguf_writer_set_f32 (w, "tailor.checkpoint.loss_ema", self->loss_ema);
  tailor_gguf_writer_set_u32 (w, "tailor.checkpoint.ema_n", (guint32) self->ema_n);
  tailor_gguf_writer_set_u32 (w, "tailor.checkpoint.trips", (guint32) self->trips);
  tailor_gguf_writer_set_u32 (w, "tailor.checkpoint.trip_step", (guint32) self->trip_step);
  for (i = 0; i < 3; i++)
    {
      float *data = g_new (float, n);

      if (!tailor_step_download (self->step, which[i], data, error))
        {
          g_free (data);
          return FALSE;
        }
      if (!add_flat (w, names[i], data, n, error))
        return FALSE;
    }
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;

      g_set_error (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_IO,
                   "Cannot create the checkpoint folder %s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  if (!tailor_gguf_writer_write (w, path, error))
    {
      g_prefix_error (error, "Cannot write the checkpoint: ");
      return FALSE;
    }
  g_free (self->last_checkpoint);
  self->last_checkpoint = g_steal_pointer (&path);
  self->last_checkpoint_step = self->step_no;
  prune_checkpoints (self);

  o = event_new ("checkpoint");
  json_object_set_int_member (o, "step", self->step_no);
  json_object_set_string_member (o, "path", self->last_checkpoint);
  emit (self, o);
  return TRUE;
}

static gboolean
ckpt_fail (GError **error, const char *path, const char *what)
{
  g_set_error (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_CHECKPOINT,
               "The checkpoint %s %s; start the run again in a new output_dir", path, what);
  return FALSE;
}

static gboolean
load_checkpoint (TailorTrainRun *self, const char *path, GError **error)
{
  g_autoptr (TailorGguf) gguf = tailor_gguf_open (path, error);
  static const TailorStepBuffer which[3] = { TAILOR_STEP_VALUES, TAILOR_STEP_M, TAILOR_STEP_V };
  static const char *const names[3] = { "values", "m", "v" };
  gsize n = tailor_step_get_flat_size (self->step);
  const char *sha;
  guint32 version = 0, step = 0, ema_n = 0, trips = 0, trip_step = 0;
  guint64 rng = 0;
  float lr_scale = 0, loss_ema = 0;
  int i;

  if (gguf == NULL)
    return FALSE;
  if (!tailor_gguf_get_u32 (gguf, "tailor.checkpoint.version", &version, error))
    return FALSE;
  if (version != CHECKPOINT_VERSION)
    return ckpt_fail (error, path, "was written by another version of Tailor");
  sha = tailor_gguf_get_string (gguf, "tailor.checkpoint.config_sha256", error);
  if (sha == NULL)
    return FALSE;
  if (!g_str_equal (sha, self->config_sha256))
    return ckpt_fail (error, path, "belongs to other run settings than config.json holds");
  if (!tailor_gguf_get_u32 (gguf, "tailor.checkpoint.step", &step, error) ||
      !tailor_gguf_get_u64 (gguf, "tailor.checkpoint.rng", &rng, error) ||
      !tailor_gguf_get_f32 (gguf, "tailor.checkpoint.lr_scale", &lr_scale, error) ||
      !tailor_gguf_get_f32 (gguf, "tailor.checkpoint.loss_ema", &loss_ema, error) ||
      !tailor_gguf_get_u32 (gguf, "tailor.checkpoint.ema_n", &ema_n, error) ||
      !tailor_gguf_get_u32 (gguf, "tailor.checkpoint.trips", &trips, error) ||
      !tailor_gguf_get_u32 (gguf, "tailor.checkpoint.trip_step", &trip_step, error))
    return FALSE;
  if (step > (guint32) self->n_steps)
    return ckpt_fail (error, path, "is past the end of the run");
  for (i = 0; i < 3; i++)
    {
      const TailorGgufTensor *t = tailor_gguf_find_tensor (gguf, names[i]);

      if (t == NULL || t->type != TAILOR_TYPE_F32 || (gsize) t->n_elements != n)
        return ckpt_fail (error, path, "does not hold the tensors this run trains");
      if (!tailor_step_upload (self->step, which[i], t->data, error))
        return FALSE;
    }
  if (!tailor_step_zero_grad (self->step, error))
    return FALSE;
  self->step_no = (int) step;
  self->rng = rng;
  self->lr_scale = lr_scale;
  self->loss_ema = loss_ema;
  self->ema_n = (int) ema_n;
  self->trips = (int) trips;
  self->trip_step = (int) trip_step;
  /* path may be last_checkpoint itself */
  if (self->last_checkpoint != path)
    {
      g_free (self->last_checkpoint);
      self->last_checkpoint = g_strdup (path);
    }
  self->last_checkpoint_step = self->step_no;
  return TRUE;
}

/* ---- The loop ---- */

/* The learning rate of optimizer step s (0-based): linear warm-up, then the schedule. */
static float
learning_rate (TailorTrainRun *self, int s)
{
  const TailorRunConfig *c = self->config;
  int warm = c->warmup_steps;
  double p;
  double f = 1.0;

  if (s < warm)
    f = (double) (s + 1) / warm;
  else if (c->schedule != TAILOR_SCHEDULE_CONSTANT)
    {
      p = (double) (s - warm) / MAX (1, self->n_steps - warm);
      f = c->schedule == TAILOR_SCHEDULE_COSINE ? 0.5 * (1.0 + cos (G_PI * p)) : 1.0 - p;
    }
  return (float) (c->lr * f) * self->lr_scale;
}

typedef struct
{
  float loss;
  float grad_norm;
  float lr;
  guint n_real;
} StepResult;

/* One optimizer step. A cancellation between its micro-batches drops the partial step
 * (*interrupted), so that a long accumulation does not hold SIGTERM up. */
static gboolean
train_step (TailorTrainRun *self, GCancellable *cancellable, StepResult *res,
            gboolean *interrupted, GError **error)
{
  const TailorRunConfig *c = self->config;
  gint64 first = (gint64) self->step_no * self->seqs_per_step;
  guint64 rng_before = self->rng;
  guint n_mask_total = 0;
  double loss_sum = 0.0;
  float norm_sq = 0.0f;
  gboolean inject;
  TailorAdamWHyper hyper = { 0 };
  int j;

  inject = self->inject_step > 0 &&
           (self->inject_always ? self->step_no + 1 >= self->inject_step
                                : self->step_no + 1 == self->inject_step && !self->injected);
  if (inject)
    self->injected = TRUE;

  /* the loss is the mean over every counted target of the step, so each micro-batch's
   * gradient is weighted by its share of them */
  for (j = 0; j < c->grad_accum; j++)
    {
      batch_fill (&self->batch, self->train, &self->plan, first + (gint64) j * c->batch,
                  c->seq_len, c->batch, self->pad);
      n_mask_total += self->batch.n_mask;
    }
  res->lr = learning_rate (self, self->step_no);
  hyper.lr = res->lr;
  hyper.beta1 = c->beta1;
  hyper.beta2 = c->beta2;
  hyper.eps = c->eps;
  hyper.weight_decay = c->weight_decay;
  hyper.step = (float) (self->step_no + 1);
  hyper.max_grad_norm = c->grad_clip;
  res->n_real = 0;
  for (j = 0; j < c->grad_accum; j++)
    {
      gboolean last = j + 1 == c->grad_accum;
      float dloss;
      float loss = 0.0f;

      if (j > 0 && g_cancellable_is_cancelled (cancellable))
        {
          self->rng = rng_before;
          *interrupted = TRUE;
          return tailor_step_zero_grad (self->step, error);
        }

      batch_fill (&self->batch, self->train, &self->plan, first + (gint64) j * c->batch,
                  c->seq_len, c->batch, self->pad);
      dloss = n_mask_total > 0 ? (float) self->batch.n_mask / (float) n_mask_total : 0.0f;
      if (inject)
        dloss = NAN;
      if (!tailor_step_run (self->step, self->batch.tokens, self->batch.targets,
                            self->batch.mask, self->batch.pos, dloss,
                            (guint32) splitmix64 (&self->rng), last ? &hyper : NULL, &loss,
                            last ? &norm_sq : NULL, error))
        return FALSE;
      loss_sum += (double) loss * self->batch.n_mask;
      res->n_real += self->batch.n_real;
    }
  res->loss = n_mask_total > 0 ? (float) (loss_sum / n_mask_total) : 0.0f;
  res->grad_norm = sqrtf (norm_sq);
  return TRUE;
}

static gboolean
eval_loss (TailorTrainRun *self, double *out, GError **error)
{
  const TailorRunConfig *c = self->config;
  double sum = 0.0;
  guint64 count = 0;
  gint64 s;

  for (s = 0; s < plan_n_seq (&self->eval_plan); s += c->batch)
    {
      float loss = 0.0f;

      batch_fill (&self->batch, self->eval, &self->eval_plan, s, c->seq_len, c->batch, self->pad);
      if (self->batch.n_mask == 0)
        continue;
      if (!tailor_step_eval (self->step, self->batch.tokens, self->batch.targets,
                             self->batch.mask, self->batch.pos, &loss, error))
        return FALSE;
      sum += (double) loss * self->batch.n_mask;
      count += self->batch.n_mask;
    }
  *out = count > 0 ? sum / count : 0.0;
  return TRUE;
}

static gboolean
run_eval (TailorTrainRun *self, double *loss, GError **error)
{
  JsonObject *o;

  if (self->eval == NULL)
    return TRUE;
  if (!eval_loss (self, loss, error))
    return FALSE;
  o = event_new ("eval");
  json_object_set_int_member (o, "step", self->step_no);
  json_set_double (o, "loss", *loss);
  emit (self, o);
  return TRUE;
}

/* Unstable: NaN or infinite loss or gradient, or a spike far above the moving average. */
static gboolean
is_unstable (TailorTrainRun *self, const StepResult *r, char **why)
{
  if (!isfinite (r->loss) || !isfinite (r->grad_norm))
    {
      *why = g_strdup_printf ("the %s became %s", !isfinite (r->loss) ? "loss" : "gradient norm",
                              !isfinite (r->loss) ? (isnan (r->loss) ? "NaN" : "infinite")
                                                  : (isnan (r->grad_norm) ? "NaN" : "infinite"));
      return TRUE;
    }
  if (self->ema_n >= SPIKE_MIN_STEPS && r->loss > SPIKE_FACTOR * self->loss_ema &&
      r->loss > self->loss_ema + SPIKE_MIN_RISE)
    {
      *why = g_strdup_printf ("the loss jumped to %.4g, far above its moving average %.4g",
                              r->loss, self->loss_ema);
      return TRUE;
    }
  return FALSE;
}

static gboolean
setup_compute (TailorTrainRun *self, GError **error)
{
  const TailorRunConfig *c = self->config;
  g_autoptr (TailorRefAdapter) adapter = NULL;
  TailorStepConfig sc = { 0 };

  self->backend = tailor_backend_new (self->device != NULL ? self->device : c->device, error);
  if (self->backend == NULL)
    return FALSE;
  sc.method = c->method;
  sc.dropout = c->lora_dropout;
  sc.seq_len = c->seq_len;
  sc.batch = c->batch;
  sc.checkpointing = c->grad_checkpointing;
  if (c->method != TAILOR_TRAIN_FULL)
    adapter = tailor_ref_adapter_new (self->model, c->lora_targets, c->lora_rank, c->lora_alpha,
                                      c->lora_rslora, c->lora_dropout, c->seed);
  self->step = tailor_step_new (self->backend, self->model, &sc, adapter, error);
  if (self->step == NULL)
    return FALSE;
  batch_init (&self->batch, c->seq_len, c->batch);
  return TRUE;
}

static FILE *
open_append (const char *dir, const char *name, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  FILE *f = g_fopen (path, "a");

  if (f == NULL)
    {
      int saved = errno;

      g_set_error (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_IO, "Cannot write %s: %s", path,
                   g_strerror (saved));
    }
  return f;
}

/* On resume, metrics past the checkpoint are dropped: the steps run again. */
static void
trim_metrics (TailorTrainRun *self)
{
  g_autofree char *path = g_build_filename (self->config->output_dir, "metrics.jsonl", NULL);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GString) kept = g_string_new (NULL);
  guint i;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return;
  lines = g_strsplit (text, "\n", -1);
  for (i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonNode *root;

      if (lines[i][0] == '\0' || !json_parser_load_from_data (parser, lines[i], -1, NULL))
        continue;
      root = json_parser_get_root (parser);
      if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
          json_object_get_int_member_with_default (json_node_get_object (root), "step", 0) >
            self->step_no)
        continue;
      g_string_append_printf (kept, "%s\n", lines[i]);
    }
  g_file_set_contents (path, kept->str, (gssize) kept->len, NULL);
}

static gboolean
open_run_dir (TailorTrainRun *self, GError **error)
{
  const char *dir = self->config->output_dir;
  g_autofree char *config_path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *full_json = NULL;

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;

      g_set_error (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_IO,
                   "Cannot create the run folder %s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  if (!self->resume)
    {
      full_json = tailor_run_config_to_json (self->config);
      if (!g_file_set_contents (config_path, full_json, -1, error))
        return FALSE;
    }
  self->log = open_append (dir, "run.log", error);
  return self->log != NULL;
}

static gboolean
resume_from_checkpoint (TailorTrainRun *self, GError **error)
{
  g_autoptr (GPtrArray) names = list_checkpoints (self);
  g_autoptr (GError) first_error = NULL;
  guint i;

  for (i = 0; i < names->len; i++)
    {
      g_autoptr (GError) local_error = NULL;

      /* a half-written file never has the final name; a damaged one falls back to the
       * one before it */
      if (load_checkpoint (self, g_ptr_array_index (names, i), &local_error))
        return TRUE;
      if (first_error == NULL)
        first_error = g_steal_pointer (&local_error);
    }
  if (first_error != NULL)
    g_propagate_error (error, g_steal_pointer (&first_error));
  else
    g_set_error (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_CHECKPOINT,
                 "%s has no checkpoint to resume from; start the run again",
                 self->config->output_dir);
  return FALSE;
}

static gboolean
write_outputs (TailorTrainRun *self, char **path_out, GError **error)
{
  const char *dir = self->config->output_dir;

  if (self->config->method != TAILOR_TRAIN_FULL)
    {
      g_autoptr (TailorRefAdapter) adapter = tailor_step_get_adapter (self->step, error);
      const char *base_name = tailor_gguf_get_string (self->model->gguf, "general.name", NULL);
      g_autofree char *name = g_strdup_printf ("LoRA for %s", base_name != NULL ? base_name
                                                                              : "a model");
      TailorLoraInfo info = { name, self->config->base_sha256, self->config_json };

      *path_out = g_build_filename (dir, "adapter.gguf", NULL);
      return adapter != NULL &&
             tailor_lora_write_gguf (adapter, self->model, &info, *path_out, error);
    }
  else
    {
      TailorGguf *base = self->model->gguf;
      g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
      g_autofree float *values = g_new (float, tailor_step_get_flat_size (self->step));
      int n_params = tailor_step_get_n_params (self->step);
      guint i;

      if (!tailor_step_download (self->step, TAILOR_STEP_VALUES, values, error))
        return FALSE;
      for (i = 0; i < tailor_gguf_get_n_kv (base); i++)
        tailor_gguf_writer_copy_kv (w, base, i);
      tailor_gguf_writer_set_u32 (w, "general.file_type", 0);
      for (i = 0; i < tailor_gguf_get_n_tensors (base); i++)
        {
          const TailorGgufTensor *t = tailor_gguf_get_tensor (base, i);
          g_autoptr (GBytes) bytes = NULL;
          TailorType type = t->type;
          int p;

          for (p = 0; p < n_params; p++)
            if (g_str_equal (tailor_step_get_param_name (self->step, p), t->name))
              break;
          if (p < n_params)
            {
              bytes = g_bytes_new (tailor_step_param_slice (self->step, p, values),
                                   sizeof (float) * t->n_elements);
              type = TAILOR_TYPE_F32;
            }
          else
            bytes = g_bytes_new (t->data, t->n_bytes);
          if (!tailor_gguf_writer_add_tensor (w, t->name, type, t->n_dims, t->ne, bytes, error))
            return FALSE;
        }
      *path_out = g_build_filename (dir, "model.gguf", NULL);
      return tailor_gguf_writer_write (w, *path_out, error);
    }
}

static void
emit_start (TailorTrainRun *self)
{
  const TailorRunConfig *c = self->config;
  JsonObject *o = event_new ("start");

  json_object_set_string_member (o, "run_dir", c->output_dir);
  json_object_set_string_member (o, "method", tailor_train_method_name (c->method));
  json_object_set_string_member (o, "device", tailor_backend_get_name (self->backend));
  json_object_set_int_member (o, "steps", self->n_steps);
  json_object_set_int_member (o, "start_step", self->step_no);
  json_object_set_boolean_member (o, "resumed", self->resume);
  json_object_set_int_member (o, "examples", self->train->len);
  json_object_set_int_member (o, "skipped_examples", self->n_skipped_train);
  json_object_set_int_member (o, "eval_examples", self->eval != NULL ? self->eval->len : 0);
  json_object_set_int_member (o, "sequences", plan_n_seq (&self->plan));
  json_object_set_int_member (o, "trainable_params",
                              (gint64) tailor_step_get_n_trainable (self->step));
  emit (self, o);
  if (self->chat_warning != NULL)
    emit_warning (self, "chat-template", self->chat_warning);
}

static gboolean
train_loop (TailorTrainRun *self, GCancellable *cancellable, GError **error)
{
  const TailorRunConfig *c = self->config;
  gint64 t_start = g_get_monotonic_time ();
  int start_step = self->step_no;
  double last_eval = NAN;
  int last_eval_step = -1;
  float last_loss = NAN;
  g_autofree char *output = NULL;
  JsonObject *o;

  /* the held-out loss before any training: the baseline the curve starts from */
  if (self->step_no == 0 && self->eval != NULL)
    {
      if (!run_eval (self, &last_eval, error))
        return FALSE;
      last_eval_step = 0;
    }
  while (self->step_no < self->n_steps)
    {
      StepResult r = { 0 };
      g_autofree char *why = NULL;
      gint64 t0 = g_get_monotonic_time ();
      double dt;
      double elapsed;
      gboolean interrupted = FALSE;
      gboolean ran = FALSE;

      if (!g_cancellable_is_cancelled (cancellable))
        {
          if (!train_step (self, cancellable, &r, &interrupted, error))
            return FALSE;
          ran = !interrupted;
        }
      if (!ran)
        {
          if (self->last_checkpoint_step != self->step_no && !write_checkpoint (self, error))
            return FALSE;
          o = event_new ("done");
          json_object_set_int_member (o, "step", self->step_no);
          json_object_set_int_member (o, "steps", self->n_steps);
          json_object_set_boolean_member (o, "complete", FALSE);
          json_object_set_string_member (o, "checkpoint", self->last_checkpoint);
          emit (self, o);
          return TRUE;
        }
      if (is_unstable (self, &r, &why))
        {
          g_autofree char *message = NULL;
          float lr_scale = self->lr_scale * 0.5f;
          /* trips counts failures since the run last got past the furthest one */
          int trips = self->trips + 1;
          int failed = self->step_no + 1;
          int trip_step = MAX (self->trip_step, failed);

          if (trips > MAX_TRIPS)
            {
              g_set_error (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_UNSTABLE,
                           "Training is unstable: at step %d %s again after lowering the "
                           "learning rate %d times; lower optimizer.lr, raise warmup_steps or "
                           "check the data",
                           failed, why, MAX_TRIPS);
              return FALSE;
            }
          if (!load_checkpoint (self, self->last_checkpoint, error))
            return FALSE;
          self->lr_scale = lr_scale;
          self->trips = trips;
          self->trip_step = trip_step;
          message = g_strdup_printf ("At step %d %s; went back to the checkpoint of step %d and "
                                     "halved the learning rate (now %.3g×)",
                                     failed, why, self->step_no, self->lr_scale);
          emit_warning (self, "unstable", message);
          continue;
        }
      self->step_no++;
      if (self->step_no > self->trip_step)
        self->trips = 0;
      self->loss_ema = self->ema_n == 0 ? r.loss : 0.9f * self->loss_ema + 0.1f * r.loss;
      self->ema_n++;
      last_loss = r.loss;

      dt = (g_get_monotonic_time () - t0) / 1e6;
      elapsed = (g_get_monotonic_time () - t_start) / 1e6;
      o = event_new ("step");
      json_object_set_int_member (o, "step", self->step_no);
      json_object_set_int_member (o, "steps", self->n_steps);
      json_set_double (o, "epoch",
                       (double) self->step_no * self->seqs_per_step / plan_n_seq (&self->plan) *
                         (c->max_steps > 0 ? 1.0 : c->epochs));
      json_set_double (o, "loss", r.loss);
      json_set_double (o, "lr", r.lr);
      json_set_double (o, "grad_norm", r.grad_norm);
      json_set_double (o, "tokens_per_s", dt > 0 ? r.n_real / dt : 0.0);
      json_object_set_int_member (o, "mem_bytes", (gint64) tailor_backend_get_peak (self->backend));
      json_set_double (o, "eta_s",
                       elapsed / (self->step_no - start_step) * (self->n_steps - self->step_no));
      emit (self, o);

      if (c->eval_every > 0 && self->step_no % c->eval_every == 0 && self->eval != NULL)
        {
          if (!run_eval (self, &last_eval, error))
            return FALSE;
          last_eval_step = self->step_no;
        }
      if (c->checkpoint_every > 0 && self->step_no % c->checkpoint_every == 0 &&
          self->step_no < self->n_steps && !write_checkpoint (self, error))
        return FALSE;
    }

  if (self->eval != NULL && last_eval_step != self->step_no && !run_eval (self, &last_eval, error))
    return FALSE;
  if (self->last_checkpoint_step != self->step_no && !write_checkpoint (self, error))
    return FALSE;
  if (!write_outputs (self, &output, error))
    return FALSE;
  self->complete = TRUE;
  o = event_new ("done");
  json_object_set_int_member (o, "step", self->step_no);
  json_object_set_int_member (o, "steps", self->n_steps);
  json_object_set_boolean_member (o, "complete", TRUE);
  json_set_double (o, "loss", last_loss);
  json_set_double (o, "eval_loss", last_eval);
  json_object_set_string_member (o, self->config->method == TAILOR_TRAIN_FULL ? "model"
                                                                               : "adapter",
                                 output);
  emit (self, o);
  return TRUE;
}

static const char *
error_code (const GError *error)
{
  if (error->domain == TAILOR_TRAIN_ERROR && error->code == TAILOR_TRAIN_ERROR_UNSTABLE)
    return "unstable";
  if (error->domain == TAILOR_BACKEND_ERROR && error->code == TAILOR_BACKEND_ERROR_OUT_OF_MEMORY)
    return "out-of-memory";
  if (error->domain == TAILOR_BACKEND_ERROR)
    return "device";
  if (error->domain == TAILOR_TRAIN_ERROR && error->code == TAILOR_TRAIN_ERROR_CHECKPOINT)
    return "checkpoint";
  if (error->domain == TAILOR_RUN_CONFIG_ERROR)
    return "config";
  return "io";
}

gboolean
tailor_train_run_run (TailorTrainRun *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  gboolean ok;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ok = open_run_dir (self, &local_error) && setup_compute (self, &local_error);
  if (ok && self->resume)
    {
      ok = resume_from_checkpoint (self, &local_error);
      if (ok)
        trim_metrics (self);
    }
  if (ok)
    {
      self->metrics = open_append (self->config->output_dir, "metrics.jsonl", &local_error);
      ok = self->metrics != NULL;
    }
  if (ok)
    {
      emit_start (self);
      /* a first checkpoint, so that the instability guard always has one to go back to */
      if (!self->resume)
        ok = write_checkpoint (self, &local_error);
    }
  if (ok)
    ok = train_loop (self, cancellable, &local_error);
  if (!ok)
    {
      JsonObject *o = event_new ("error");

      json_object_set_string_member (o, "code", error_code (local_error));
      json_object_set_string_member (o, "message", local_error->message);
      json_object_set_int_member (o, "step", self->step_no);
      emit (self, o);
      g_propagate_error (error, g_steal_pointer (&local_error));
    }
  return ok;
}
