/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The CPU reference: plain fp32 ops (llm.c style: outputs first, sizes last) and a
 * forward pass with a KV cache. Every faster kernel is checked against this. */
#pragma once

#include "tailor-model.h"

G_BEGIN_DECLS

#define TAILOR_REF_ERROR (tailor_ref_error_quark ())
GQuark tailor_ref_error_quark (void);

typedef enum {
  TAILOR_REF_ERROR_CONTEXT_FULL,  /* n_past + n would pass n_ctx */
  TAILOR_REF_ERROR_INVALID_TOKEN, /* a token id is not in [0, n_vocab) */
  TAILOR_REF_ERROR_NO_MEMORY,     /* the KV cache for n_ctx does not fit in memory */
} TailorRefError;

/* out (T, C) = inp (T, C) / rms(inp) * weight (C) */
void tailor_ref_rmsnorm_forward (float *out, const float *inp, const float *weight,
                                 int T, int C, float eps);

/* out (T, OC) = inp (T, IC) · Wᵀ + bias, W a GGUF tensor with ne {IC, OC} of any
 * dequantizable type, dequantized row by row (never the whole matrix in fp32).
 * bias (OC) may be NULL. Threads over OC. */
void tailor_ref_matmul_forward (float *out, const float *inp, const TailorGgufTensor *w,
                                const float *bias, int T, int IC, int OC);

/* In place on x (T, n_head, head_dim): rotates the first n_rot dims of each head at
 * positions pos[t]. freq_factors (n_rot/2) may be NULL (Llama 3 rope_freqs). */
void tailor_ref_rope_forward (float *x, const int *pos, int T, int n_head, int head_dim,
                              int n_rot, float freq_base, float freq_scale,
                              const float *freq_factors, TailorRopeType type);

/* out (T, n_head, hd): causal GQA attention of q (T, n_head, hd) over the cache
 * k, v (n_kv, n_head_kv, hd); query t sits at cache position q_pos0 + t and sees
 * positions 0 ..= q_pos0 + t. Scale 1/sqrt(hd). */
void tailor_ref_attention_forward (float *out, const float *q, const float *k, const float *v,
                                   int T, int q_pos0, int n_head, int n_head_kv, int hd);

/* out (T, C) = silu(gate) * up */
void tailor_ref_swiglu_forward (float *out, const float *gate, const float *up, int T, int C);

/* out (T, C): rows of the embedding tensor (ne {C, n_vocab}) for tokens. */
void tailor_ref_embedding_forward (float *out, const TailorGgufTensor *embd, const gint32 *tokens,
                                   int T, int C);

/* A model plus its KV cache. */
typedef struct _TailorRefContext TailorRefContext;

/* n_ctx 0 means the model's training context length. The KV cache is fp32:
 * 2 · n_layer · n_ctx · n_head_kv · head_dim floats. */
TailorRefContext *tailor_ref_context_new (TailorModel *model, guint n_ctx, GError **error);
void tailor_ref_context_free (TailorRefContext *self);
guint tailor_ref_context_get_n_past (TailorRefContext *self);
void tailor_ref_context_reset (TailorRefContext *self);

/* Runs tokens after those already in the cache. logits receives n_vocab floats for the
 * last token, or n × n_vocab when all_logits. Fails (naming the limit) when the cache is
 * full or a token id is out of range. */
gboolean tailor_ref_context_eval (TailorRefContext *self, const gint32 *tokens, guint n,
                                  gboolean all_logits, float *logits, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorRefContext, tailor_ref_context_free)

G_END_DECLS
