/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The whole-model reference training step (LoRA over a frozen base, or full fine-tuning of
 * an F32/F16/BF16 model) built from the CPU reference ops: what training engines are
 * proven against. */
#pragma once

#include "tailor-cpu-ref.h"

G_BEGIN_DECLS

/* The linear layers LoRA can target, in the order tensors are listed. */
typedef enum {
  TAILOR_REF_LORA_Q,    /* attn_q */
  TAILOR_REF_LORA_K,    /* attn_k */
  TAILOR_REF_LORA_V,    /* attn_v */
  TAILOR_REF_LORA_O,    /* attn_output */
  TAILOR_REF_LORA_GATE, /* ffn_gate */
  TAILOR_REF_LORA_UP,   /* ffn_up */
  TAILOR_REF_LORA_DOWN, /* ffn_down */
  TAILOR_REF_LORA_N_TARGETS,
} TailorRefLoraTarget;

#define TAILOR_REF_LORA_ALL ((1u << TAILOR_REF_LORA_N_TARGETS) - 1)

/* "q", "k", "v", "o", "gate", "up", "down" (run.json's names). */
const char *tailor_ref_lora_target_name (TailorRefLoraTarget target);
/* "attn_q" … "ffn_down": the GGUF tensor base name (blk.N.<this>.weight). */
const char *tailor_ref_lora_target_tensor (TailorRefLoraTarget target);

/* One LoRA pair: y += scale · B · (A · x), scale = tailor_ref_lora_scale (alpha, rank, rslora). */
typedef struct {
  int rank;        /* 0: this layer and target have no LoRA */
  int in;          /* the base weight's input width (ne[0]) */
  int out;         /* its output width (ne[1]) */
  float alpha;
  gboolean rslora;
  float *a;        /* (rank, in) */
  float *b;        /* (out, rank) */
} TailorRefLora;

typedef struct {
  int n_layer;
  float dropout;       /* on each LoRA input while training; 0 for none */
  TailorRefLora *lora; /* (n_layer, TAILOR_REF_LORA_N_TARGETS) */
} TailorRefAdapter;

/* LoRA on the targets in the bit set (1 << TailorRefLoraTarget) of every layer: A
 * Kaiming-uniform as PyTorch's kaiming_uniform_ (a = √5), i.e. U(−1/√in, 1/√in), from a
 * generator seeded with seed (layers, then targets, in order); B zero, so that a fresh
 * adapter leaves the model's output exactly as it was. */
TailorRefAdapter *tailor_ref_adapter_new (TailorModel *model, guint targets, int rank, float alpha,
                                          gboolean rslora, float dropout, guint64 seed);
void tailor_ref_adapter_free (TailorRefAdapter *self);
/* NULL when layer and target have no LoRA. */
TailorRefLora *tailor_ref_adapter_get (TailorRefAdapter *self, int layer,
                                       TailorRefLoraTarget target);

/* logits (T, n_vocab) of tokens at positions 0 … T−1 with adapter applied (no dropout);
 * adapter NULL gives the plain model, exactly as tailor_ref_context_eval with all_logits. */
gboolean tailor_ref_adapter_logits (TailorModel *model, TailorRefAdapter *adapter,
                                    const gint32 *tokens, int T, float *logits, GError **error);

/* A trainable tensor: its value, its gradient (accumulated by the backward) and shape. */
typedef struct {
  char *name; /* "blk.0.attn_q.weight.lora_a", or the GGUF name in full fine-tuning */
  float *value;
  float *grad;
  gsize n;
  int ne0;    /* row length */
  int ne1;    /* rows */
} TailorRefParam;

typedef struct {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weight_decay;
  float max_grad_norm; /* 0: no clipping */
} TailorRefAdamW;

typedef struct _TailorRefTrainer TailorRefTrainer;

/* LoRA training when adapter is given (borrowed and trained in place; the base stays
 * frozen, any type); full fine-tuning of every weight when it is NULL, for models whose
 * matrices are F32, F16 or BF16 (copied to fp32; anything else is refused naming the
 * tensor). */
TailorRefTrainer *tailor_ref_trainer_new (TailorModel *model, TailorRefAdapter *adapter,
                                          GError **error);
void tailor_ref_trainer_free (TailorRefTrainer *self);

/* Keep only each layer's input and recompute the layer in the backward; the gradients are
 * bit-identical either way. Off by default. */
void tailor_ref_trainer_set_checkpointing (TailorRefTrainer *self, gboolean checkpointing);
/* Vocabulary rows per output-projection chunk (default 512). */
void tailor_ref_trainer_set_vocab_chunk (TailorRefTrainer *self, int chunk);
/* Names the dropout masks of the next passes; each layer and target derives its own. */
void tailor_ref_trainer_set_dropout_seed (TailorRefTrainer *self, guint32 seed);

int tailor_ref_trainer_get_n_params (TailorRefTrainer *self);
TailorRefParam *tailor_ref_trainer_get_param (TailorRefTrainer *self, int i);
/* Completed optimizer steps. */
int tailor_ref_trainer_get_step (TailorRefTrainer *self);

void tailor_ref_trainer_zero_grad (TailorRefTrainer *self);

/* The mean over t with mask[t] of −log p(targets[t] | tokens[0..t]) (T each). train
 * applies LoRA dropout with the current seed, as the backward does. */
gboolean tailor_ref_trainer_loss (TailorRefTrainer *self, const gint32 *tokens,
                                  const gint32 *targets, const guint8 *mask, int T,
                                  gboolean train, double *loss, GError **error);
/* Forward with activations kept, then the backward of dloss · loss, ACCUMULATING into each
 * parameter's grad; loss receives the forward's loss (may be NULL). */
gboolean tailor_ref_trainer_forward_backward (TailorRefTrainer *self, const gint32 *tokens,
                                              const gint32 *targets, const guint8 *mask, int T,
                                              float dloss, double *loss, GError **error);

/* Clips the gradients to opt->max_grad_norm, then one AdamW step on every parameter.
 * Returns the gradient norm before clipping. */
double tailor_ref_trainer_step (TailorRefTrainer *self, const TailorRefAdamW *opt);

/* logits (T, n_vocab) with the current parameters (no dropout). */
gboolean tailor_ref_trainer_logits (TailorRefTrainer *self, const gint32 *tokens, int T,
                                    float *logits, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorRefAdapter, tailor_ref_adapter_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorRefTrainer, tailor_ref_trainer_free)

G_END_DECLS
