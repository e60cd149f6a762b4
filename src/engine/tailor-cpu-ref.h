/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The CPU reference: plain fp32 ops and their backward passes (llm.c style: outputs first,
 * sizes last), LoRA, chunked cross-entropy, AdamW and clipping, and a forward pass with a KV
 * cache. Every faster kernel is checked against this. */
#pragma once

#include "tailor-model.h"

G_BEGIN_DECLS

#define TAILOR_REF_ERROR (tailor_ref_error_quark ())
GQuark tailor_ref_error_quark (void);

typedef enum {
  TAILOR_REF_ERROR_CONTEXT_FULL,  /* n_past + n would pass n_ctx */
  TAILOR_REF_ERROR_INVALID_TOKEN, /* a token id is not in [0, n_vocab) */
  TAILOR_REF_ERROR_NO_MEMORY,     /* the KV cache for n_ctx does not fit in memory */
  TAILOR_REF_ERROR_UNSUPPORTED,   /* a tensor type or setting the reference cannot train */
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

/* ---- Backward passes ----
 * Each ACCUMULATES into its gradient outputs (+=), so zeroing is the caller's explicit
 * step; a NULL gradient output is not computed. The in-place RoPE is the exception: its
 * backward maps the gradient in place, as its forward maps x. */

/* dembd (n_vocab, C) += dout (T, C) scattered to the rows of tokens (T): the dense gradient
 * of the embedding table for full fine-tuning. */
void tailor_ref_embedding_backward (float *dembd, const float *dout, const gint32 *tokens, int T,
                                    int C);

/* dinp (T, C), dweight (C) from dout (T, C), given the forward's inp (T, C), weight (C). */
void tailor_ref_rmsnorm_backward (float *dinp, float *dweight, const float *dout, const float *inp,
                                  const float *weight, int T, int C, float eps);

/* dinp (T, IC) += dout (T, OC) · W, dequantizing W (ne {IC, OC}) one row at a time;
 * dweight (OC, IC) += doutᵀ · inp (T, IC), a dense fp32 gradient for full fine-tuning;
 * dbias (OC) += Σ_t dout. Threads over T for dinp and over OC for dweight; every sum runs
 * in a fixed order, so results do not depend on the number of threads. */
void tailor_ref_matmul_backward (float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const TailorGgufTensor *w, int T, int IC,
                                 int OC);

/* In place on dx (T, n_head, head_dim), the gradient of the forward's output: rotates it
 * back by the same angles (the inverse, i.e. transposed, rotation). */
void tailor_ref_rope_backward (float *dx, const int *pos, int T, int n_head, int head_dim,
                               int n_rot, float freq_base, float freq_scale,
                               const float *freq_factors, TailorRopeType type);

/* dq (T, n_head, hd), dk, dv (T, n_head_kv, hd) from dout (T, n_head, hd) of causal GQA
 * attention over T positions (tailor_ref_attention_forward with q_pos0 0 and the cache
 * holding exactly k, v (T, n_head_kv, hd)). The query heads of a group sum into their
 * shared key/value head. Softmax rows are recomputed from q and k; the only state kept is
 * two floats per query and head, never T². */
void tailor_ref_attention_backward (float *dq, float *dk, float *dv, const float *dout,
                                    const float *q, const float *k, const float *v, int T,
                                    int n_head, int n_head_kv, int hd);

/* dgate, dup (T, C) from dout (T, C) of out = silu(gate) * up. */
void tailor_ref_swiglu_backward (float *dgate, float *dup, const float *dout, const float *gate,
                                 const float *up, int T, int C);

/* out (T, C) = inp1 + inp2 (out may alias either input) */
void tailor_ref_residual_forward (float *out, const float *inp1, const float *inp2, int T, int C);
/* dinp1, dinp2 (T, C) += dout (T, C) */
void tailor_ref_residual_backward (float *dinp1, float *dinp2, const float *dout, int T, int C);

/* ---- LoRA ---- */

/* alpha / rank, or alpha / √rank with rsLoRA. */
float tailor_ref_lora_scale (float alpha, int rank, gboolean rslora);

/* Inverted dropout's multiplier for element index of the mask named by seed: 0 with
 * probability p, else 1 / (1 − p); always 1 when p is 0. A counter-based hash (no state),
 * so the same seed gives the same mask in the forward, the backward and any kernel. */
float tailor_ref_dropout_factor (guint32 seed, guint32 index, float p);

/* out (T, OC) += scale · B · (A · drop(inp)):  xa (T, r) = drop(inp (T, IC)) · Aᵀ is kept for
 * the backward; A (r, IC), B (OC, r). drop() multiplies element t·IC + i by
 * tailor_ref_dropout_factor (seed, t·IC + i, dropout). */
void tailor_ref_lora_forward (float *out, float *xa, const float *inp, const float *a,
                              const float *b, float scale, float dropout, guint32 seed, int T,
                              int IC, int r, int OC);

/* From dout (T, OC): da (r, IC), db (OC, r) and dinp (T, IC) += the LoRA path's
 * contribution to the input gradient. inp, xa, a, b, scale, dropout and seed as given to
 * the forward. */
void tailor_ref_lora_backward (float *dinp, float *da, float *db, const float *dout,
                               const float *inp, const float *xa, const float *a, const float *b,
                               float scale, float dropout, guint32 seed, int T, int IC, int r,
                               int OC);

/* ---- Output projection and cross-entropy ---- */

/* The mean over rows t with mask[t] != 0 of −log softmax(inp[t] · Wᵀ)[targets[t]], with W
 * (ne {C, V}) dequantized `chunk` vocabulary rows at a time and an online log-sum-exp, so
 * the (T, V) logits never exist. lse (T) receives each counted row's log-sum-exp for the
 * backward (may be NULL). Returns 0 when no row is counted. */
double tailor_ref_cross_entropy_forward (float *lse, const float *inp, const TailorGgufTensor *w,
                                         const gint32 *targets, const guint8 *mask, int T, int C,
                                         int V, int chunk);

/* dinp (T, C) and dweight (V, C) (may be NULL) += the gradient of dloss · loss, recomputing
 * each chunk's logits; lse from the forward. */
void tailor_ref_cross_entropy_backward (float *dinp, float *dweight, const float *inp,
                                        const TailorGgufTensor *w, const gint32 *targets,
                                        const guint8 *mask, const float *lse, float dloss, int T,
                                        int C, int V, int chunk);

/* ---- Optimizer ---- */

/* One AdamW step t (1-based) over n parameters, as FORMATS.md "Training facts": decoupled
 * weight decay (param · (1 − lr·wd)) and bias-corrected moments m, v (n), updated in place. */
void tailor_ref_adamw_update (float *param, float *m, float *v, const float *grad, gsize n,
                              float lr, float beta1, float beta2, float eps, float weight_decay,
                              int t);

/* The L2 norm of n_tensors tensors taken together (sizes[i] floats each), summed in double
 * in a fixed order. */
double tailor_ref_grad_norm (const float *const *grads, const gsize *sizes, int n_tensors);

/* Scales the tensors by min (1, max_norm / (norm + 1e-6)), as PyTorch's clip_grad_norm_;
 * returns the norm before clipping. */
double tailor_ref_clip_grad_norm (float *const *grads, const gsize *sizes, int n_tensors,
                                  float max_norm);

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
