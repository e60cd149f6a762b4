/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tailor-cli make-test-model: small random models, the tests' fixtures and a download-free demo. */
#include "config.h"

#include <stdio.h>

#include "tailor-cli-private.h"
#include "tailor-test-model.h"

typedef struct
{
  int value; /* -1: keep the architecture's default */
  guint *field;
  const char *option;
} SizeOption;

int
tailor_cli_make_test_model (int argc, char **argv)
{
  g_autofree char *arch_name = NULL;
  g_autofree char *type_name = NULL;
  g_autofree char *vocab_name = NULL;
  gint64 seed = 1;
  int embd = -1, layers = -1, heads = -1, kv_heads = -1, ff = -1, ctx = -1, vocab_size = -1;
  gboolean tied = FALSE;
  double weight_std = 0;
  const GOptionEntry entries[] = {
    { "arch", 'a', 0, G_OPTION_ARG_STRING, &arch_name, "Architecture: llama or qwen2 (required)",
      "ARCH" },
    { "type", 't', 0, G_OPTION_ARG_STRING, &type_name,
      "File type: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k_s, q4_k_m, q5_k_s, q5_k_m, "
      "q6_k (default f32)",
      "TYPE" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed,
      "Random seed of weights and vocabulary "
      "(default 1)",
      "S" },
    { "vocab", 0, 0, G_OPTION_ARG_STRING, &vocab_name,
      "Vocabulary kind: spm or bpe (default spm for llama, bpe for qwen2)", "KIND" },
    { "embd", 0, 0, G_OPTION_ARG_INT, &embd, "Embedding width", "N" },
    { "layers", 0, 0, G_OPTION_ARG_INT, &layers, "Number of blocks", "N" },
    { "heads", 0, 0, G_OPTION_ARG_INT, &heads, "Attention heads", "N" },
    { "kv-heads", 0, 0, G_OPTION_ARG_INT, &kv_heads, "Key/value heads (grouped-query attention)",
      "N" },
    { "ff", 0, 0, G_OPTION_ARG_INT, &ff, "Feed-forward width", "N" },
    { "ctx", 0, 0, G_OPTION_ARG_INT, &ctx, "Training context length", "N" },
    { "vocab-size", 0, 0, G_OPTION_ARG_INT, &vocab_size,
      "Vocabulary size, at least " G_STRINGIFY (TAILOR_TEST_VOCAB_MIN) " (default 1000)", "N" },
    { "tied", 0, 0, G_OPTION_ARG_NONE, &tied,
      "Tie the output projection to the embeddings (qwen2 models are tied anyway)", NULL },
    { "weight-std", 0, 0, G_OPTION_ARG_DOUBLE, &weight_std,
      "Standard deviation of the random weights (default 0.02)", "STD" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = tailor_cli_context_new ("make-test-model", entries);
  g_autoptr (GError) error = NULL;
  TailorTestModelParams params;
  TailorArch arch;
  TailorFileType ftype = TAILOR_FTYPE_ALL_F32;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc != 2)
    return tailor_cli_usage_error (context,
                                   argc < 2 ? "OUT.gguf is missing" : "expected one output file");
  if (arch_name == NULL)
    return tailor_cli_usage_error (context, "--arch is required");
  if (!tailor_arch_from_name (arch_name, &arch))
    return tailor_cli_usage_error (context, "unknown architecture “%s”: use llama or qwen2",
                                   arch_name);
  if (type_name != NULL && !tailor_ftype_from_name (type_name, &ftype))
    return tailor_cli_usage_error (context, "unknown file type “%s”", type_name);
  if (seed < 0 || weight_std < 0)
    return tailor_cli_usage_error (context, "--seed and --weight-std must not be negative");

  tailor_test_model_params_init (&params, arch);
  params.ftype = ftype;
  params.seed = seed;
  if (tied)
    params.tied_output = TRUE;
  params.weight_std = weight_std;
  if (vocab_name != NULL)
    {
      if (g_ascii_strcasecmp (vocab_name, "spm") == 0)
        params.vocab_kind = TAILOR_TOKENIZER_SPM;
      else if (g_ascii_strcasecmp (vocab_name, "bpe") == 0)
        params.vocab_kind = TAILOR_TOKENIZER_BPE;
      else
        return tailor_cli_usage_error (context, "unknown vocabulary kind “%s”: use spm or bpe",
                                       vocab_name);
    }
  {
    SizeOption sizes[] = {
      { embd, &params.n_embd, "--embd" },
      { layers, &params.n_layer, "--layers" },
      { heads, &params.n_head, "--heads" },
      { kv_heads, &params.n_head_kv, "--kv-heads" },
      { ff, &params.n_ff, "--ff" },
      { ctx, &params.n_ctx, "--ctx" },
      { vocab_size, &params.n_vocab, "--vocab-size" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
      {
        if (sizes[i].value == -1)
          continue;
        if (sizes[i].value <= 0)
          return tailor_cli_usage_error (context, "%s must be a positive number", sizes[i].option);
        *sizes[i].field = sizes[i].value;
      }
  }

  if (params.n_vocab < TAILOR_TEST_VOCAB_MIN)
    return tailor_cli_usage_error (context,
                                   "--vocab-size %u is too small: the 256 byte tokens and 3 "
                                   "special tokens need at least %u",
                                   params.n_vocab, TAILOR_TEST_VOCAB_MIN);

  if (!tailor_test_model_write (&params, argv[1], &error))
    return tailor_cli_fail (error);
  printf ("Wrote %s (%s, %s, seed %" G_GINT64_FORMAT ")\n", argv[1], tailor_arch_name (arch),
          tailor_ftype_name (ftype), seed);
  return TAILOR_CLI_EXIT_OK;
}
