/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A transformer read from GGUF: hyper-parameters, tensor map and shape checks. */
#pragma once

#include "tailor-gguf.h"

G_BEGIN_DECLS

#define TAILOR_MODEL_ERROR (tailor_model_error_quark ())
GQuark tailor_model_error_quark (void);

typedef enum {
  TAILOR_MODEL_ERROR_UNSUPPORTED_ARCH, /* general.architecture is not one Tailor runs */
  TAILOR_MODEL_ERROR_HPARAMS,          /* a hyper-parameter is missing or impossible */
  TAILOR_MODEL_ERROR_MISSING_TENSOR,   /* a required tensor is absent (message names it) */
  TAILOR_MODEL_ERROR_SHAPE,            /* a tensor has the wrong shape (message names it) */
  TAILOR_MODEL_ERROR_TYPE,             /* a tensor has a type Tailor cannot compute with */
} TailorModelError;

typedef enum {
  TAILOR_ARCH_LLAMA,
  TAILOR_ARCH_QWEN2,
} TailorArch;

typedef enum {
  TAILOR_ROPE_NORMAL, /* rotate adjacent pairs (2i, 2i+1): llama */
  TAILOR_ROPE_NEOX,   /* rotate (i, i + n_rot/2): qwen2 */
} TailorRopeType;

typedef struct {
  guint n_head;
  guint n_head_kv;
  guint n_ff;
} TailorLayerHparams;

typedef struct {
  TailorArch arch;
  TailorRopeType rope_type;
  guint n_vocab;
  guint n_ctx_train;
  guint n_embd;
  guint n_layer;
  guint head_dim;   /* n_embd / n_head unless attention.key_length says otherwise */
  guint n_rot;      /* rope.dimension_count, default head_dim */
  float norm_eps;
  float rope_freq_base;
  float rope_freq_scale; /* 1 / rope.scale_linear, default 1 */
  gboolean tied_output;  /* no output.weight: logits use token_embd */
  TailorLayerHparams *layers; /* n_layer entries (per-layer arrays are honoured) */
} TailorHparams;

/* Pointers into the GGUF mapping; optional ones are NULL when absent. */
typedef struct {
  const TailorGgufTensor *attn_norm; /* [n_embd] */
  const TailorGgufTensor *wq;        /* ne {n_embd, n_head*head_dim} */
  const TailorGgufTensor *wk;        /* ne {n_embd, n_head_kv*head_dim} */
  const TailorGgufTensor *wv;        /* ne {n_embd, n_head_kv*head_dim} */
  const TailorGgufTensor *wo;        /* ne {n_head*head_dim, n_embd} */
  const TailorGgufTensor *bq, *bk, *bv; /* qwen2 (required there), optional for llama */
  const TailorGgufTensor *ffn_norm;  /* [n_embd] */
  const TailorGgufTensor *w_gate;    /* ne {n_embd, n_ff} */
  const TailorGgufTensor *w_up;      /* ne {n_embd, n_ff} */
  const TailorGgufTensor *w_down;    /* ne {n_ff, n_embd} */
} TailorLayerWeights;

typedef struct _TailorModel {
  gint ref_count;
  TailorGguf *gguf;
  TailorHparams hp;
  const TailorGgufTensor *tok_embd;    /* ne {n_embd, n_vocab} */
  const TailorGgufTensor *output_norm; /* [n_embd] */
  const TailorGgufTensor *output;      /* ne {n_embd, n_vocab}; == tok_embd when tied */
  const TailorGgufTensor *rope_freqs;  /* [n_rot/2] or NULL */
  TailorLayerWeights *layers;          /* n_layer entries */
} TailorModel;

TailorModel *tailor_model_load (const char *path, GError **error);
TailorModel *tailor_model_new_from_gguf (TailorGguf *gguf, GError **error);
TailorModel *tailor_model_ref (TailorModel *self);
void tailor_model_unref (TailorModel *self);

const char *tailor_arch_name (TailorArch arch); /* "llama", "qwen2" */
gboolean tailor_arch_from_name (const char *name, TailorArch *out);
/* Number of parameters (elements of all tensors). */
guint64 tailor_model_count_params (TailorModel *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorModel, tailor_model_unref)

G_END_DECLS
