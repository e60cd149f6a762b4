/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Small random models with a real-shaped vocabulary: the tests' fixtures, and a way for a
 * user to try Tailor without a download. */
#pragma once

#include "tailor-model.h"
#include "tailor-quantize-model.h"
#include "tailor-tokenizer.h"

G_BEGIN_DECLS

/* The smallest test vocabulary: 256 byte tokens and 3 special tokens. */
#define TAILOR_TEST_VOCAB_MIN 259

typedef struct {
  TailorArch arch;
  TailorFileType ftype;
  guint64 seed;
  TailorTokenizerKind vocab_kind; /* SPM (llama default) or BPE (qwen2 default) */
  guint n_vocab;   /* exact size, ≥ TAILOR_TEST_VOCAB_MIN; see tailor_test_vocab_write() */
  /* n_embd and n_ff 0 ⇒ chosen by ftype: 64 and 160 for F32, F16, BF16, Q8_0, Q4_0 …;
   * 256 and 512 for the K-quant file types (Q4_K_S/M, Q5_K_S/M, Q6_K), whose blocks span
   * 256 values, so that K-quant blocks are really written instead of fallback types. */
  guint n_embd;
  guint n_layer;
  guint n_head;
  guint n_head_kv;
  guint n_ff;
  guint n_ctx;
  gboolean tied_output;
  float weight_std; /* init scale; 0 ⇒ 0.02 */
} TailorTestModelParams;

/* Sensible tiny defaults for an architecture (llama: SPM vocab, qwen2: BPE vocab + biases).
 * Both: F32, seed 1, 1000 vocabulary entries, 2 layers, 4 heads over 2 key/value
 * heads (GQA), n_embd/n_ff 0 (by ftype, see above), n_ctx 256, weight_std 0.02; llama
 * has a separate output.weight, qwen2 ties it to token_embd (as Qwen2.5-0.5B does). */
void tailor_test_model_params_init (TailorTestModelParams *p, TailorArch arch);
/* Copies p into out with the values chosen by ftype filled in (n_embd, n_ff, weight_std). */
void tailor_test_model_params_resolve (const TailorTestModelParams *p, TailorTestModelParams *out);
/* Weights are N(0, weight_std) (norm weights 1 + N(0, 0.1), biases N(0, 0.1)) from a
 * seeded generator that calls no libm function (so files match across machines), each
 * tensor encoded in the type tailor_ftype_tensor_type() gives. The same params give a
 * byte-identical file. */
gboolean tailor_test_model_write (const TailorTestModelParams *p, const char *path, GError **error);

/* Writes the tokenizer.* keys of a made-up vocabulary of exactly n_vocab_target entries,
 * learned by BPE merges over a built-in English/code/multilingual corpus so that it has
 * the shape of a real one: SPM ("llama": ▁-pieces with scores, <0xNN> byte fallback,
 * <unk> <s> </s>) or byte-level BPE ("gpt2": merges, pre "default"/"qwen2"/…, ChatML
 * special tokens). The corpus yields about 1500–1700 entries; larger sizes are padded
 * with "<unused-K>" normal tokens at the end. Also sets tokenizer.chat_template (Llama 2
 * style for SPM, ChatML for BPE). Returns the vocabulary size written, or 0 (writing
 * nothing) when n_vocab_target < TAILOR_TEST_VOCAB_MIN. */
guint tailor_test_vocab_write (TailorTokenizerKind kind, guint n_vocab_target, guint64 seed,
                               TailorGgufWriter *writer);

G_END_DECLS
