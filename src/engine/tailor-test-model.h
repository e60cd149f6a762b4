/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Small random models with a real-shaped vocabulary: the tests' fixtures, and a way for a
 * user to try Tailor without a download. */
#pragma once

#include "tailor-model.h"
#include "tailor-quantize-model.h"
#include "tailor-tokenizer.h"

G_BEGIN_DECLS

typedef struct {
  TailorArch arch;
  TailorFileType ftype;
  guint64 seed;
  TailorTokenizerKind vocab_kind; /* SPM (llama default) or BPE (qwen2 default) */
  guint n_vocab;   /* approximate target; the built vocabulary decides (≥ 256 + specials) */
  guint n_embd;
  guint n_layer;
  guint n_head;
  guint n_head_kv;
  guint n_ff;
  guint n_ctx;
  gboolean tied_output;
  float weight_std; /* init scale; 0 ⇒ 0.02 */
} TailorTestModelParams;

/* Sensible tiny defaults for an architecture (llama: SPM vocab, qwen2: BPE vocab + biases). */
void tailor_test_model_params_init (TailorTestModelParams *p, TailorArch arch);
gboolean tailor_test_model_write (const TailorTestModelParams *p, const char *path, GError **error);

G_END_DECLS
