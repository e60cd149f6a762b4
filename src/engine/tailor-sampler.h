/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Choosing the next token: greedy, or temperature + top-k + top-p with a seeded RNG. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  float temperature; /* <= 0: greedy */
  guint top_k;       /* 0: off */
  float top_p;       /* >= 1: off */
  guint64 seed;
} TailorSamplerParams;

typedef struct _TailorSampler TailorSampler;

TailorSampler *tailor_sampler_new (const TailorSamplerParams *params);
void tailor_sampler_free (TailorSampler *self);
/* Same params + seed + logits sequence ⇒ same tokens. */
gint32 tailor_sampler_sample (TailorSampler *self, const float *logits, guint n_vocab);
/* Index of the largest logit (lowest index on ties). */
gint32 tailor_argmax (const float *logits, guint n);
/* In place: log-softmax of n logits, computed stably. */
void tailor_log_softmax (float *x, guint n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorSampler, tailor_sampler_free)

G_END_DECLS
