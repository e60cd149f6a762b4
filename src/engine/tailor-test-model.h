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

/* Writes the tokenizer.* keys of a made-up vocabulary of about n_vocab_target entries,
 * learned by BPE merges over a built-in English/code/multilingual corpus so that it has
 * the shape of a real one: SPM ("llama": ▁-pieces with scores, <0xNN> byte fallback,
 * <unk> <s> </s>) or byte-level BPE ("gpt2": merges, pre "default"/"qwen2"/…, ChatML
 * special tokens). Also sets tokenizer.chat_template (Llama 2 style for SPM, ChatML for
 * BPE). Returns the vocabulary size written. */
guint tailor_test_vocab_write (TailorTokenizerKind kind, guint n_vocab_target, guint64 seed,
                               TailorGgufWriter *writer);

G_END_DECLS
