/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Inference over the op interface: a model's forward pass with a KV cache on any backend,
 * with an optional LoRA adapter, for logits and generation. */
#pragma once

#include "tailor-backend.h"
#include "tailor-train-ref.h"

G_BEGIN_DECLS

#define TAILOR_INFER_ERROR (tailor_infer_error_quark ())
GQuark tailor_infer_error_quark (void);

typedef enum {
  TAILOR_INFER_ERROR_CONTEXT_FULL,  /* n_past + n would pass n_ctx */
  TAILOR_INFER_ERROR_INVALID_TOKEN, /* a token id is not in [0, n_vocab) */
  TAILOR_INFER_ERROR_UNSUPPORTED,   /* a model or adapter shape the pass cannot be built for */
} TailorInferError;

typedef struct _TailorInfer TailorInfer;

/* Uploads model's weights (kept quantized) and adapter's LoRA pairs (nullable; copied, applied
 * without dropout) to backend (borrowed: it must outlive the context) and allocates the KV
 * cache for n_ctx positions (0: the model's training context): 2 · n_layer · n_ctx ·
 * n_head_kv · head_dim floats on the backend. Graphs are recorded once per batch shape and
 * submitted again for every later batch of that shape. */
TailorInfer *tailor_infer_new (TailorBackend *backend, TailorModel *model,
                               TailorRefAdapter *adapter, guint n_ctx, GError **error);
void tailor_infer_free (TailorInfer *self);
guint tailor_infer_get_n_ctx (TailorInfer *self);
guint tailor_infer_get_n_past (TailorInfer *self);
/* Forgets the cached positions. */
void tailor_infer_reset (TailorInfer *self);

/* Runs tokens after those already in the cache, as tailor_ref_context_eval does: logits
 * receives n_vocab floats for the last token, or n × n_vocab when all_logits. Fails (naming
 * the limit) when the cache is full or a token id is out of range; after a failed submit the
 * cache is reset. */
gboolean tailor_infer_eval (TailorInfer *self, const gint32 *tokens, guint n, gboolean all_logits,
                            float *logits, GError **error);

/* Profiling from now on: every later tailor_infer_eval adds its submits to the profile. */
void tailor_infer_set_profiling (TailorInfer *self, gboolean profiling);
/* The sum since profiling was switched on (kind → TailorOpProfile); borrowed. */
GHashTable *tailor_infer_get_profile (TailorInfer *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorInfer, tailor_infer_free)

G_END_DECLS
