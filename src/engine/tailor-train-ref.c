/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The reference training step: LoRA adapters, the llama/qwen2 forward with activations
 * kept (or recomputed per layer), the backward to every trainable tensor, and AdamW. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "tailor-train-ref.h"

#define N_TARGETS TAILOR_REF_LORA_N_TARGETS
#define DEFAULT_VOCAB_CHUNK 512

static const char *const target_names[N_TARGETS] = { "q", "k", "v", "o", "gate", "up", "down" };
static const char *const target_tensors[N_TARGETS] = {
  "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};

const char *
tailor_ref_lora_target_name (TailorRefLoraTarget target)
{
  g_return_val_if_fail (target < N_TARGETS, NULL);
  return target_names[target];
}

const char *
tailor_ref_lora_target_tensor (TailorRefLoraTarget target)
{
  g_return_val_if_fail (target < N_TARGETS, NULL);
  return target_tensors[target];
}

static const TailorGgufTensor *
layer_weight (const TailorLayerWeights *w, TailorRefLoraTarget target)
{
  switch (target)
    {
    case TAILOR_REF_LORA_Q:
      return w->wq;
    case TAILOR_REF_LORA_K:
      return w->wk;
    case TAILOR_REF_LORA_V:
      return w->wv;
    case TAILOR_REF_LORA_O:
      return w->wo;
    case TAILOR_REF_LORA_GATE:
      return w->w_gate;
    case TAILOR_REF_LORA_UP:
      return w->w_up;
    case TAILOR_REF_LORA_DOWN:
    case TAILOR_REF_LORA_N_TARGETS:
    default:
      return w->w_down;
    }
}

/* SplitMix64: a seeded stream that is the same on every machine. */
static guint64
splitmix64 (guint64 *state)
{
  guint64 z = (*state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* ---- The adapter ---- */

TailorRefAdapter *
tailor_ref_adapter_new (TailorModel *model,
                        guint targets,
                        int rank,
                        float alpha,
                        gboolean rslora,
                        float dropout,
                        guint64 seed)
{
  TailorRefAdapter *self;
  guint64 state = seed;
  int l;
  int t;

  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (rank > 0, NULL);
  g_return_val_if_fail ((targets & ~TAILOR_REF_LORA_ALL) == 0, NULL);
  g_return_val_if_fail (dropout >= 0.0f && dropout < 1.0f, NULL);

  self = g_new0 (TailorRefAdapter, 1);
  self->n_layer = (int) model->hp.n_layer;
  self->dropout = dropout;
  self->lora = g_new0 (TailorRefLora, (gsize) self->n_layer * N_TARGETS);
  for (l = 0; l < self->n_layer; l++)
    for (t = 0; t < N_TARGETS; t++)
      {
        const TailorGgufTensor *w = layer_weight (&model->layers[l], t);
        TailorRefLora *lora = &self->lora[l * N_TARGETS + t];
        gsize n_a;
        float bound;
        gsize i;

        if ((targets & (1u << t)) == 0)
          continue;
        lora->rank = rank;
        lora->in = (int) w->ne[0];
        lora->out = (int) w->ne[1];
        lora->alpha = alpha;
        lora->rslora = rslora;
        n_a = (gsize) rank * lora->in;
        lora->a = g_new (float, n_a);
        lora->b = g_new0 (float, (gsize) lora->out * rank);
        /* kaiming_uniform_(a=√5): gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√fan_in */
        bound = 1.0f / sqrtf ((float) lora->in);
        for (i = 0; i < n_a; i++)
          {
            float u = (float) (splitmix64 (&state) >> 40) * (1.0f / 16777216.0f);

            lora->a[i] = bound * (2.0f * u - 1.0f);
          }
      }
  return self;
}

void
tailor_ref_adapter_free (TailorRefAdapter *self)
{
  int i;

  if (self == NULL)
    return;
  for (i = 0; i < self->n_layer * N_TARGETS; i++)
    {
      g_free (self->lora[i].a);
      g_free (self->lora[i].b);
    }
  g_free (self->lora);
  g_free (self);
}

TailorRefLora *
tailor_ref_adapter_get (TailorRefAdapter *self, int layer, TailorRefLoraTarget target)
{
  TailorRefLora *lora;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (layer >= 0 && layer < self->n_layer && target < N_TARGETS, NULL);

  lora = &self->lora[layer * N_TARGETS + target];
  return lora->rank > 0 ? lora : NULL;
}

/* ---- The trainer ---- */

typedef struct
{
  float *attn_norm, *ffn_norm; /* (C) */
  float *bq, *bk, *bv;         /* or NULL */
  const TailorGgufTensor *w[N_TARGETS];
  /* Full fine-tuning's gradients (dense fp32); NULL for a frozen base. */
  float *d_attn_norm, *d_ffn_norm;
  float *dbq, *dbk, *dbv;
  float *dw[N_TARGETS];
} TrainLayer;

typedef struct
{
  float *m; /* (n) */
  float *v; /* (n) */
} Moments;

struct _TailorRefTrainer
{
  TailorModel *model;
  TailorRefAdapter *adapter; /* borrowed; NULL when nothing or everything is trained */
  gboolean full;
  gboolean checkpointing;
  int vocab_chunk;
  guint32 dropout_seed;
  int step;

  const TailorGgufTensor *tok_embd;
  const TailorGgufTensor *output; /* == tok_embd when tied */
  float *output_norm;             /* (C) */
  float *rope_freqs;              /* (n_rot/2) or NULL */
  float *d_tok_embd, *d_output, *d_output_norm;
  TrainLayer *layers;
  float **lora_da, **lora_db; /* (n_layer, N_TARGETS); NULL where no LoRA */

  GArray *params;          /* TailorRefParam */
  GArray *moments;         /* Moments, one per parameter */
  GPtrArray *owned;        /* every buffer allocated here */
  TailorGgufTensor *views; /* full fine-tuning: fp32 tensors over the parameter values */
  int n_views;
};

static float *
owned_new0 (TailorRefTrainer *self, gsize n)
{
  float *p = g_new0 (float, n);

  g_ptr_array_add (self->owned, p);
  return p;
}

/* A 1-D tensor (norm, bias, rope factors) as fp32; NULL stays NULL. */
static float *
owned_vector (TailorRefTrainer *self, const TailorGgufTensor *t)
{
  float *v;

  if (t == NULL)
    return NULL;
  v = owned_new0 (self, t->n_elements);
  tailor_dequantize_row (t->type, t->data, v, t->n_elements);
  return v;
}

/* Adds a trainable tensor; returns its gradient buffer. */
static float *
add_param (TailorRefTrainer *self, char *name, float *value, gsize n, int ne0, int ne1)
{
  TailorRefParam p = { name, value, owned_new0 (self, n), n, ne0, ne1 };
  Moments mo = { owned_new0 (self, n), owned_new0 (self, n) };

  g_ptr_array_add (self->owned, name);
  g_array_append_val (self->params, p);
  g_array_append_val (self->moments, mo);
  return p.grad;
}

static gboolean
check_full_type (const TailorGgufTensor *t, GError **error)
{
  if (t == NULL || t->type == TAILOR_TYPE_F32 || t->type == TAILOR_TYPE_F16 ||
      t->type == TAILOR_TYPE_BF16)
    return TRUE;
  g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_UNSUPPORTED,
               "tensor %s is %s: full fine-tuning needs an F32, F16 or BF16 model; "
               "train a LoRA adapter on this one instead",
               t->name, tailor_type_name (t->type));
  return FALSE;
}

/* Full fine-tuning of a matrix: its fp32 copy becomes a parameter, seen by the ops through
 * an F32 tensor view. Returns the view; *grad receives the gradient. */
static const TailorGgufTensor *
add_matrix_param (TailorRefTrainer *self, const TailorGgufTensor *t, float **grad)
{
  TailorGgufTensor *view = &self->views[self->n_views++];
  float *value = owned_new0 (self, t->n_elements);

  tailor_dequantize_row (t->type, t->data, value, t->n_elements);
  *view = *t;
  view->type = TAILOR_TYPE_F32;
  view->n_bytes = t->n_elements * sizeof (float);
  view->data = value;
  *grad = add_param (self, g_strdup (t->name), value, t->n_elements, (int) t->ne[0],
                     (int) t->ne[1]);
  return view;
}

static float *
add_vector_param (TailorRefTrainer *self, const TailorGgufTensor *t, float *value)
{
  if (t == NULL)
    return NULL;
  return add_param (self, g_strdup (t->name), value, t->n_elements, (int) t->n_elements, 1);
}

static gboolean
setup_full (TailorRefTrainer *self, GError **error)
{
  TailorModel *m = self->model;
  int l;
  int t;

  if (!check_full_type (m->tok_embd, error) || !check_full_type (m->output, error))
    return FALSE;
  for (l = 0; l < (int) m->hp.n_layer; l++)
    for (t = 0; t < N_TARGETS; t++)
      if (!check_full_type (layer_weight (&m->layers[l], t), error))
        return FALSE;

  self->views = g_new0 (TailorGgufTensor, 2 + (gsize) m->hp.n_layer * N_TARGETS);
  self->tok_embd = add_matrix_param (self, m->tok_embd, &self->d_tok_embd);
  self->d_output_norm = add_vector_param (self, m->output_norm, self->output_norm);
  if (m->hp.tied_output)
    {
      self->output = self->tok_embd;
      self->d_output = self->d_tok_embd;
    }
  else
    self->output = add_matrix_param (self, m->output, &self->d_output);

  for (l = 0; l < (int) m->hp.n_layer; l++)
    {
      const TailorLayerWeights *w = &m->layers[l];
      TrainLayer *tl = &self->layers[l];

      tl->d_attn_norm = add_vector_param (self, w->attn_norm, tl->attn_norm);
      for (t = TAILOR_REF_LORA_Q; t <= TAILOR_REF_LORA_O; t++)
        tl->w[t] = add_matrix_param (self, layer_weight (w, t), &tl->dw[t]);
      tl->dbq = add_vector_param (self, w->bq, tl->bq);
      tl->dbk = add_vector_param (self, w->bk, tl->bk);
      tl->dbv = add_vector_param (self, w->bv, tl->bv);
      tl->d_ffn_norm = add_vector_param (self, w->ffn_norm, tl->ffn_norm);
      for (t = TAILOR_REF_LORA_GATE; t < N_TARGETS; t++)
        tl->w[t] = add_matrix_param (self, layer_weight (w, t), &tl->dw[t]);
    }
  return TRUE;
}

static gboolean
setup_lora (TailorRefTrainer *self, GError **error)
{
  TailorModel *m = self->model;
  TailorRefAdapter *ad = self->adapter;
  int l;
  int t;

  if (ad->n_layer != (int) m->hp.n_layer)
    {
      g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_UNSUPPORTED,
                   "the adapter has %d layers but the model has %u; use an adapter made for "
                   "this model",
                   ad->n_layer, m->hp.n_layer);
      return FALSE;
    }
  self->lora_da = g_new0 (float *, (gsize) ad->n_layer * N_TARGETS);
  self->lora_db = g_new0 (float *, (gsize) ad->n_layer * N_TARGETS);
  for (l = 0; l < ad->n_layer; l++)
    for (t = 0; t < N_TARGETS; t++)
      {
        TailorRefLora *lora = tailor_ref_adapter_get (ad, l, t);
        const TailorGgufTensor *w = layer_weight (&m->layers[l], t);

        if (lora == NULL)
          continue;
        if (lora->in != w->ne[0] || lora->out != w->ne[1])
          {
            g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_UNSUPPORTED,
                         "the adapter's LoRA for %s is %d→%d but the tensor is %" G_GINT64_FORMAT
                         "→%" G_GINT64_FORMAT "; use an adapter made for this model",
                         w->name, lora->in, lora->out, w->ne[0], w->ne[1]);
            return FALSE;
          }
        self->lora_da[l * N_TARGETS + t] =
          add_param (self, g_strdup_printf ("blk.%d.%s.weight.lora_a", l, target_tensors[t]),
                     lora->a, (gsize) lora->rank * lora->in, lora->in, lora->rank);
        self->lora_db[l * N_TARGETS + t] =
          add_param (self, g_strdup_printf ("blk.%d.%s.weight.lora_b", l, target_tensors[t]),
                     lora->b, (gsize) lora->out * lora->rank, lora->rank, lora->out);
      }
  return TRUE;
}

static TailorRefTrainer *
trainer_new (TailorModel *model, TailorRefAdapter *adapter, gboolean full, GError **error)
{
  g_autoptr (TailorRefTrainer) self = g_new0 (TailorRefTrainer, 1);
  const TailorHparams *hp = &model->hp;
  int l;
  int t;

  self->model = tailor_model_ref (model);
  self->adapter = adapter;
  self->full = full;
  self->vocab_chunk = DEFAULT_VOCAB_CHUNK;
  self->params = g_array_new (FALSE, FALSE, sizeof (TailorRefParam));
  self->moments = g_array_new (FALSE, FALSE, sizeof (Moments));
  self->owned = g_ptr_array_new_with_free_func (g_free);
  self->tok_embd = model->tok_embd;
  self->output = model->output;
  self->output_norm = owned_vector (self, model->output_norm);
  self->rope_freqs = owned_vector (self, model->rope_freqs);
  self->layers = g_new0 (TrainLayer, hp->n_layer);
  for (l = 0; l < (int) hp->n_layer; l++)
    {
      const TailorLayerWeights *w = &model->layers[l];
      TrainLayer *tl = &self->layers[l];

      tl->attn_norm = owned_vector (self, w->attn_norm);
      tl->ffn_norm = owned_vector (self, w->ffn_norm);
      tl->bq = owned_vector (self, w->bq);
      tl->bk = owned_vector (self, w->bk);
      tl->bv = owned_vector (self, w->bv);
      for (t = 0; t < N_TARGETS; t++)
        tl->w[t] = layer_weight (w, t);
    }
  if (full && !setup_full (self, error))
    return NULL;
  if (adapter != NULL && !setup_lora (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

TailorRefTrainer *
tailor_ref_trainer_new (TailorModel *model, TailorRefAdapter *adapter, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return trainer_new (model, adapter, adapter == NULL, error);
}

void
tailor_ref_trainer_free (TailorRefTrainer *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->params, g_array_unref);
  g_clear_pointer (&self->moments, g_array_unref);
  g_clear_pointer (&self->owned, g_ptr_array_unref);
  g_free (self->layers);
  g_free (self->lora_da);
  g_free (self->lora_db);
  g_free (self->views);
  tailor_model_unref (self->model);
  g_free (self);
}

void
tailor_ref_trainer_set_checkpointing (TailorRefTrainer *self, gboolean checkpointing)
{
  g_return_if_fail (self != NULL);
  self->checkpointing = checkpointing;
}

void
tailor_ref_trainer_set_vocab_chunk (TailorRefTrainer *self, int chunk)
{
  g_return_if_fail (self != NULL && chunk > 0);
  self->vocab_chunk = chunk;
}

void
tailor_ref_trainer_set_dropout_seed (TailorRefTrainer *self, guint32 seed)
{
  g_return_if_fail (self != NULL);
  self->dropout_seed = seed;
}

int
tailor_ref_trainer_get_n_params (TailorRefTrainer *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (int) self->params->len;
}

TailorRefParam *
tailor_ref_trainer_get_param (TailorRefTrainer *self, int i)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (i >= 0 && i < (int) self->params->len, NULL);
  return &g_array_index (self->params, TailorRefParam, i);
}

int
tailor_ref_trainer_get_step (TailorRefTrainer *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->step;
}

void
tailor_ref_trainer_zero_grad (TailorRefTrainer *self)
{
  guint i;

  g_return_if_fail (self != NULL);
  for (i = 0; i < self->params->len; i++)
    {
      TailorRefParam *p = &g_array_index (self->params, TailorRefParam, i);

      memset (p->grad, 0, p->n * sizeof (float));
    }
}

/* ---- Forward and backward of one layer ---- */

/* What a layer's backward needs from its forward (the input x_in is kept apart). */
typedef struct
{
  float *xn1;           /* (T, C) attention norm output */
  float *q;             /* (T, n_head·hd) after RoPE */
  float *k, *v;         /* (T, n_head_kv·hd), k after RoPE */
  float *att;           /* (T, n_head·hd) attention output */
  float *x_mid;         /* (T, C) residual stream between the blocks */
  float *xn2;           /* (T, C) feed-forward norm output */
  float *gate, *up;     /* (T, n_ff) */
  float *h;             /* (T, n_ff) silu(gate) · up */
  float *xa[N_TARGETS]; /* (T, rank) LoRA A·x, or NULL */
} LayerActs;

static TailorRefLora *
lora_of (TailorRefTrainer *self, int l, TailorRefLoraTarget t)
{
  return self->adapter != NULL ? tailor_ref_adapter_get (self->adapter, l, t) : NULL;
}

static LayerActs *
layer_acts_new (TailorRefTrainer *self, int l, int T)
{
  const TailorHparams *hp = &self->model->hp;
  LayerActs *a = g_new0 (LayerActs, 1);
  gsize C = hp->n_embd;
  gsize q_dim = (gsize) hp->layers[l].n_head * hp->head_dim;
  gsize kv_dim = (gsize) hp->layers[l].n_head_kv * hp->head_dim;
  gsize n_ff = hp->layers[l].n_ff;
  int t;

  a->xn1 = g_new (float, T * C);
  a->q = g_new (float, T * q_dim);
  a->k = g_new (float, T * kv_dim);
  a->v = g_new (float, T * kv_dim);
  a->att = g_new (float, T * q_dim);
  a->x_mid = g_new (float, T * C);
  a->xn2 = g_new (float, T * C);
  a->gate = g_new (float, T * n_ff);
  a->up = g_new (float, T * n_ff);
  a->h = g_new (float, T * n_ff);
  for (t = 0; t < N_TARGETS; t++)
    {
      TailorRefLora *lora = lora_of (self, l, t);

      if (lora != NULL)
        a->xa[t] = g_new (float, (gsize) T * lora->rank);
    }
  return a;
}

static void
layer_acts_free (LayerActs *a)
{
  int t;

  if (a == NULL)
    return;
  g_free (a->xn1);
  g_free (a->q);
  g_free (a->k);
  g_free (a->v);
  g_free (a->att);
  g_free (a->x_mid);
  g_free (a->xn2);
  g_free (a->gate);
  g_free (a->up);
  g_free (a->h);
  for (t = 0; t < N_TARGETS; t++)
    g_free (a->xa[t]);
  g_free (a);
}

/* Each (layer, target) draws its own mask from the batch's seed. */
static guint32
lora_seed (TailorRefTrainer *self, int l, TailorRefLoraTarget t)
{
  guint64 state = ((guint64) self->dropout_seed << 32) | (guint32) (l * N_TARGETS + t);

  return (guint32) splitmix64 (&state);
}

/* out (T, OC) = inp (T, IC) · Wᵀ + bias, plus the target's LoRA. */
static void
project_forward (TailorRefTrainer *self,
                 int l,
                 TailorRefLoraTarget target,
                 LayerActs *a,
                 gboolean train,
                 float *out,
                 const float *inp,
                 const float *bias,
                 int T,
                 int IC,
                 int OC)
{
  TailorRefLora *lora = lora_of (self, l, target);

  tailor_ref_matmul_forward (out, inp, self->layers[l].w[target], bias, T, IC, OC);
  if (lora != NULL)
    tailor_ref_lora_forward (out, a->xa[target], inp, lora->a, lora->b,
                             tailor_ref_lora_scale (lora->alpha, lora->rank, lora->rslora),
                             train ? self->adapter->dropout : 0.0f, lora_seed (self, l, target),
                             T, IC, lora->rank, OC);
}

/* dinp (T, IC) += the input gradient (NULL: not needed), and the weight, bias and LoRA
 * gradients that are trained. */
static void
project_backward (TailorRefTrainer *self,
                  int l,
                  TailorRefLoraTarget target,
                  LayerActs *a,
                  gboolean train,
                  float *dinp,
                  float *dbias,
                  const float *dout,
                  const float *inp,
                  int T,
                  int IC,
                  int OC)
{
  TrainLayer *tl = &self->layers[l];
  TailorRefLora *lora = lora_of (self, l, target);

  tailor_ref_matmul_backward (dinp, tl->dw[target], dbias, dout, inp, tl->w[target], T, IC, OC);
  if (lora != NULL)
    tailor_ref_lora_backward (dinp, self->lora_da[l * N_TARGETS + target],
                              self->lora_db[l * N_TARGETS + target], dout, inp, a->xa[target],
                              lora->a, lora->b,
                              tailor_ref_lora_scale (lora->alpha, lora->rank, lora->rslora),
                              train ? self->adapter->dropout : 0.0f, lora_seed (self, l, target),
                              T, IC, lora->rank, OC);
}

/* x_out (T, C) from x_in (T, C), filling a; proj (T, C) is scratch. The same sequence of
 * operations as the inference forward, so an adapter with B = 0 changes no bit. */
static void
layer_forward (TailorRefTrainer *self,
               int l,
               LayerActs *a,
               gboolean train,
               float *x_out,
               float *proj,
               const float *x_in,
               const int *pos,
               int T)
{
  const TailorHparams *hp = &self->model->hp;
  TrainLayer *tl = &self->layers[l];
  int C = hp->n_embd;
  int hd = hp->head_dim;
  int n_head = hp->layers[l].n_head;
  int n_head_kv = hp->layers[l].n_head_kv;
  int n_ff = hp->layers[l].n_ff;
  int q_dim = n_head * hd;
  int kv_dim = n_head_kv * hd;

  /* attention block: x_mid = x_in + o(attention(rope(q), rope(k), v)) */
  tailor_ref_rmsnorm_forward (a->xn1, x_in, tl->attn_norm, T, C, hp->norm_eps);
  project_forward (self, l, TAILOR_REF_LORA_Q, a, train, a->q, a->xn1, tl->bq, T, C, q_dim);
  project_forward (self, l, TAILOR_REF_LORA_K, a, train, a->k, a->xn1, tl->bk, T, C, kv_dim);
  project_forward (self, l, TAILOR_REF_LORA_V, a, train, a->v, a->xn1, tl->bv, T, C, kv_dim);
  tailor_ref_rope_forward (a->q, pos, T, n_head, hd, hp->n_rot, hp->rope_freq_base,
                           hp->rope_freq_scale, self->rope_freqs, hp->rope_type);
  tailor_ref_rope_forward (a->k, pos, T, n_head_kv, hd, hp->n_rot, hp->rope_freq_base,
                           hp->rope_freq_scale, self->rope_freqs, hp->rope_type);
  tailor_ref_attention_forward (a->att, a->q, a->k, a->v, T, 0, n_head, n_head_kv, hd);
  project_forward (self, l, TAILOR_REF_LORA_O, a, train, proj, a->att, NULL, T, q_dim, C);
  tailor_ref_residual_forward (a->x_mid, x_in, proj, T, C);

  /* feed-forward block: x_out = x_mid + down(silu(gate) · up) */
  tailor_ref_rmsnorm_forward (a->xn2, a->x_mid, tl->ffn_norm, T, C, hp->norm_eps);
  project_forward (self, l, TAILOR_REF_LORA_GATE, a, train, a->gate, a->xn2, NULL, T, C, n_ff);
  project_forward (self, l, TAILOR_REF_LORA_UP, a, train, a->up, a->xn2, NULL, T, C, n_ff);
  tailor_ref_swiglu_forward (a->h, a->gate, a->up, T, n_ff);
  project_forward (self, l, TAILOR_REF_LORA_DOWN, a, train, proj, a->h, NULL, T, n_ff, C);
  tailor_ref_residual_forward (x_out, a->x_mid, proj, T, C);
}

/* Gradient scratch, sized for the widest layer. */
typedef struct
{
  float *dxn;          /* (T, C) */
  float *datt, *dq;    /* (T, q_max) */
  float *dk, *dv;      /* (T, kv_max) */
  float *dh, *dgate, *dup; /* (T, ff_max) */
} GradScratch;

/* On entry dx (T, C) holds d(x_out); on return d(x_in). need_dx FALSE skips the input
 * gradient where nothing below needs it (the first layer of a LoRA run). */
static void
layer_backward (TailorRefTrainer *self,
                int l,
                LayerActs *a,
                GradScratch *g,
                gboolean train,
                gboolean need_dx,
                float *dx,
                const float *x_in,
                const int *pos,
                int T)
{
  const TailorHparams *hp = &self->model->hp;
  TrainLayer *tl = &self->layers[l];
  int C = hp->n_embd;
  int hd = hp->head_dim;
  int n_head = hp->layers[l].n_head;
  int n_head_kv = hp->layers[l].n_head_kv;
  int n_ff = hp->layers[l].n_ff;
  int q_dim = n_head * hd;
  int kv_dim = n_head_kv * hd;
  gsize n_c = (gsize) T * C;

  /* feed-forward block; the residual passes dx on to x_mid unchanged, and the norm's
   * path adds to it in place */
  memset (g->dh, 0, sizeof (float) * T * n_ff);
  project_backward (self, l, TAILOR_REF_LORA_DOWN, a, train, g->dh, NULL, dx, a->h, T, n_ff, C);
  memset (g->dgate, 0, sizeof (float) * T * n_ff);
  memset (g->dup, 0, sizeof (float) * T * n_ff);
  tailor_ref_swiglu_backward (g->dgate, g->dup, g->dh, a->gate, a->up, T, n_ff);
  memset (g->dxn, 0, sizeof (float) * n_c);
  project_backward (self, l, TAILOR_REF_LORA_GATE, a, train, g->dxn, NULL, g->dgate, a->xn2, T, C,
                    n_ff);
  project_backward (self, l, TAILOR_REF_LORA_UP, a, train, g->dxn, NULL, g->dup, a->xn2, T, C,
                    n_ff);
  tailor_ref_rmsnorm_backward (dx, tl->d_ffn_norm, g->dxn, a->x_mid, tl->ffn_norm, T, C,
                               hp->norm_eps);

  /* attention block */
  memset (g->datt, 0, sizeof (float) * T * q_dim);
  project_backward (self, l, TAILOR_REF_LORA_O, a, train, g->datt, NULL, dx, a->att, T, q_dim,
                    C);
  memset (g->dq, 0, sizeof (float) * T * q_dim);
  memset (g->dk, 0, sizeof (float) * T * kv_dim);
  memset (g->dv, 0, sizeof (float) * T * kv_dim);
  tailor_ref_attention_backward (g->dq, g->dk, g->dv, g->datt, a->q, a->k, a->v, T, n_head,
                                 n_head_kv, hd);
  tailor_ref_rope_backward (g->dq, pos, T, n_head, hd, hp->n_rot, hp->rope_freq_base,
                            hp->rope_freq_scale, self->rope_freqs, hp->rope_type);
  tailor_ref_rope_backward (g->dk, pos, T, n_head_kv, hd, hp->n_rot, hp->rope_freq_base,
                            hp->rope_freq_scale, self->rope_freqs, hp->rope_type);
  memset (g->dxn, 0, sizeof (float) * n_c);
  project_backward (self, l, TAILOR_REF_LORA_Q, a, train, need_dx ? g->dxn : NULL, tl->dbq, g->dq,
                    a->xn1, T, C, q_dim);
  project_backward (self, l, TAILOR_REF_LORA_K, a, train, need_dx ? g->dxn : NULL, tl->dbk, g->dk,
                    a->xn1, T, C, kv_dim);
  project_backward (self, l, TAILOR_REF_LORA_V, a, train, need_dx ? g->dxn : NULL, tl->dbv, g->dv,
                    a->xn1, T, C, kv_dim);
  if (need_dx || tl->d_attn_norm != NULL)
    tailor_ref_rmsnorm_backward (need_dx ? dx : NULL, tl->d_attn_norm, g->dxn, x_in,
                                 tl->attn_norm, T, C, hp->norm_eps);
}

/* ---- The whole model ---- */

static gboolean
check_tokens (TailorRefTrainer *self, const gint32 *tokens, const gint32 *targets, int T,
              GError **error)
{
  const TailorHparams *hp = &self->model->hp;
  int t;

  if ((guint) T > hp->n_ctx_train)
    {
      g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_CONTEXT_FULL,
                   "a sequence of %d tokens does not fit the model's context of %u positions; "
                   "use a shorter sequence length",
                   T, hp->n_ctx_train);
      return FALSE;
    }
  for (t = 0; t < T; t++)
    {
      gboolean bad_token = tokens[t] < 0 || (guint) tokens[t] >= hp->n_vocab;

      if (bad_token ||
          (targets != NULL && (targets[t] < 0 || (guint) targets[t] >= hp->n_vocab)))
        {
          g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_INVALID_TOKEN,
                       "%s %d of the sequence has id %d, outside the vocabulary of %u tokens",
                       bad_token ? "token" : "target", t, bad_token ? tokens[t] : targets[t],
                       hp->n_vocab);
          return FALSE;
        }
    }
  return TRUE;
}

/* A forward through every layer: xs (n_layer + 1, T, C) receives each layer's input and
 * the final residual stream; acts (n_layer) each layer's activations unless NULL (then
 * they are computed in scratch and dropped). */
static void
forward_layers (TailorRefTrainer *self,
                float *xs,
                LayerActs **acts,
                gboolean train,
                const gint32 *tokens,
                const int *pos,
                int T)
{
  const TailorHparams *hp = &self->model->hp;
  gsize n_c = (gsize) T * hp->n_embd;
  g_autofree float *proj = g_new (float, n_c);
  int l;

  tailor_ref_embedding_forward (xs, self->tok_embd, tokens, T, hp->n_embd);
  for (l = 0; l < (int) hp->n_layer; l++)
    {
      LayerActs *a = acts != NULL ? acts[l] : layer_acts_new (self, l, T);

      layer_forward (self, l, a, train, xs + (l + 1) * n_c, proj, xs + l * n_c, pos, T);
      if (acts == NULL)
        layer_acts_free (a);
    }
}

static void
grad_scratch_init (GradScratch *g, const TailorHparams *hp, int T)
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
  g->dxn = g_new (float, (gsize) T * hp->n_embd);
  g->datt = g_new (float, (gsize) T * q_max);
  g->dq = g_new (float, (gsize) T * q_max);
  g->dk = g_new (float, (gsize) T * kv_max);
  g->dv = g_new (float, (gsize) T * kv_max);
  g->dh = g_new (float, (gsize) T * ff_max);
  g->dgate = g_new (float, (gsize) T * ff_max);
  g->dup = g_new (float, (gsize) T * ff_max);
}

static void
grad_scratch_clear (GradScratch *g)
{
  g_free (g->dxn);
  g_free (g->datt);
  g_free (g->dq);
  g_free (g->dk);
  g_free (g->dv);
  g_free (g->dh);
  g_free (g->dgate);
  g_free (g->dup);
}

/* The loss, and with backward the gradients of dloss · loss. */
static gboolean
run (TailorRefTrainer *self,
     const gint32 *tokens,
     const gint32 *targets,
     const guint8 *mask,
     int T,
     gboolean train,
     gboolean backward,
     float dloss,
     double *loss_out,
     GError **error)
{
  const TailorHparams *hp = &self->model->hp;
  int L = (int) hp->n_layer;
  int C = (int) hp->n_embd;
  gsize n_c = (gsize) T * C;
  g_autofree int *pos = NULL;
  g_autofree float *xs = NULL;
  g_autofree float *xn = NULL;
  g_autofree float *lse = NULL;
  g_autofree float *dx = NULL;
  g_autofree float *scratch_out = NULL;
  g_autofree float *scratch_proj = NULL;
  g_autofree LayerActs **acts = NULL;
  GradScratch g = { 0 };
  double loss;
  int l;
  int t;

  if (!check_tokens (self, tokens, targets, T, error))
    return FALSE;

  pos = g_new (int, T);
  for (t = 0; t < T; t++)
    pos[t] = t;
  xs = g_new (float, (gsize) (L + 1) * n_c);
  if (backward && !self->checkpointing)
    {
      acts = g_new0 (LayerActs *, L);
      for (l = 0; l < L; l++)
        acts[l] = layer_acts_new (self, l, T);
    }
  forward_layers (self, xs, acts, train, tokens, pos, T);

  xn = g_new (float, n_c);
  lse = g_new (float, T);
  tailor_ref_rmsnorm_forward (xn, xs + L * n_c, self->output_norm, T, C, hp->norm_eps);
  loss = tailor_ref_cross_entropy_forward (lse, xn, self->output, targets, mask, T, C,
                                           (int) hp->n_vocab, self->vocab_chunk);
  if (loss_out != NULL)
    *loss_out = loss;
  if (!backward)
    return TRUE;

  dx = g_new0 (float, n_c);
  grad_scratch_init (&g, hp, T);
  memset (g.dxn, 0, sizeof (float) * n_c);
  tailor_ref_cross_entropy_backward (g.dxn, self->d_output, xn, self->output, targets, mask, lse,
                                     dloss, T, C, (int) hp->n_vocab, self->vocab_chunk);
  tailor_ref_rmsnorm_backward (dx, self->d_output_norm, g.dxn, xs + L * n_c, self->output_norm, T,
                               C, hp->norm_eps);
  if (self->checkpointing)
    {
      scratch_out = g_new (float, n_c);
      scratch_proj = g_new (float, n_c);
    }
  for (l = L - 1; l >= 0; l--)
    {
      LayerActs *a = acts != NULL ? acts[l] : layer_acts_new (self, l, T);

      /* checkpointing: recompute this layer from its kept input, with the same masks */
      if (acts == NULL)
        layer_forward (self, l, a, train, scratch_out, scratch_proj, xs + l * n_c, pos, T);
      layer_backward (self, l, a, &g, train, l > 0 || self->full, dx, xs + l * n_c, pos, T);
      layer_acts_free (a);
    }
  if (self->d_tok_embd != NULL)
    tailor_ref_embedding_backward (self->d_tok_embd, dx, tokens, T, C);
  grad_scratch_clear (&g);
  return TRUE;
}

gboolean
tailor_ref_trainer_loss (TailorRefTrainer *self,
                         const gint32 *tokens,
                         const gint32 *targets,
                         const guint8 *mask,
                         int T,
                         gboolean train,
                         double *loss,
                         GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (T > 0, FALSE);
  g_return_val_if_fail (tokens != NULL && targets != NULL && mask != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return run (self, tokens, targets, mask, T, train, FALSE, 0.0f, loss, error);
}

gboolean
tailor_ref_trainer_forward_backward (TailorRefTrainer *self,
                                     const gint32 *tokens,
                                     const gint32 *targets,
                                     const guint8 *mask,
                                     int T,
                                     float dloss,
                                     double *loss,
                                     GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (T > 0, FALSE);
  g_return_val_if_fail (tokens != NULL && targets != NULL && mask != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return run (self, tokens, targets, mask, T, TRUE, TRUE, dloss, loss, error);
}

double
tailor_ref_trainer_step (TailorRefTrainer *self, const TailorRefAdamW *opt)
{
  guint n;
  g_autofree float **grads = NULL;
  g_autofree gsize *sizes = NULL;
  double norm;
  guint i;

  g_return_val_if_fail (self != NULL && opt != NULL, 0.0);

  n = self->params->len;
  grads = g_new (float *, MAX (n, 1));
  sizes = g_new (gsize, MAX (n, 1));
  for (i = 0; i < n; i++)
    {
      TailorRefParam *p = &g_array_index (self->params, TailorRefParam, i);

      grads[i] = p->grad;
      sizes[i] = p->n;
    }
  if (opt->max_grad_norm > 0.0f)
    norm = tailor_ref_clip_grad_norm (grads, sizes, (int) n, opt->max_grad_norm);
  else
    norm = tailor_ref_grad_norm ((const float *const *) grads, sizes, (int) n);

  self->step++;
  for (i = 0; i < n; i++)
    {
      TailorRefParam *p = &g_array_index (self->params, TailorRefParam, i);
      Moments *mo = &g_array_index (self->moments, Moments, i);

      tailor_ref_adamw_update (p->value, mo->m, mo->v, p->grad, p->n, opt->lr, opt->beta1,
                               opt->beta2, opt->eps, opt->weight_decay, self->step);
    }
  return norm;
}

gboolean
tailor_ref_trainer_logits (TailorRefTrainer *self,
                           const gint32 *tokens,
                           int T,
                           float *logits,
                           GError **error)
{
  const TailorHparams *hp;
  gsize n_c;
  g_autofree int *pos = NULL;
  g_autofree float *xs = NULL;
  g_autofree float *xn = NULL;
  int t;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (T > 0, FALSE);
  g_return_val_if_fail (tokens != NULL && logits != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_tokens (self, tokens, NULL, T, error))
    return FALSE;
  hp = &self->model->hp;
  n_c = (gsize) T * hp->n_embd;
  pos = g_new (int, T);
  for (t = 0; t < T; t++)
    pos[t] = t;
  xs = g_new (float, (hp->n_layer + 1) * n_c);
  forward_layers (self, xs, NULL, FALSE, tokens, pos, T);
  xn = g_new (float, n_c);
  tailor_ref_rmsnorm_forward (xn, xs + hp->n_layer * n_c, self->output_norm, T, hp->n_embd,
                              hp->norm_eps);
  tailor_ref_matmul_forward (logits, xn, self->output, NULL, T, hp->n_embd, hp->n_vocab);
  return TRUE;
}

gboolean
tailor_ref_adapter_logits (TailorModel *model,
                           TailorRefAdapter *adapter,
                           const gint32 *tokens,
                           int T,
                           float *logits,
                           GError **error)
{
  g_autoptr (TailorRefTrainer) trainer = NULL;

  g_return_val_if_fail (model != NULL, FALSE);
  g_return_val_if_fail (T > 0, FALSE);
  g_return_val_if_fail (tokens != NULL && logits != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  trainer = trainer_new (model, adapter, FALSE, error);
  if (trainer == NULL)
    return FALSE;
  return tailor_ref_trainer_logits (trainer, tokens, T, logits, error);
}
