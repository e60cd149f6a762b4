/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Writes a vocabulary-only llama GGUF for the tokenizer parity test, from a JSON vocabulary
 * (tokenizer-vocab.mjs) or from Tailor's made-up test vocabulary. */
#include "config.h"

#include <json-glib/json-glib.h>
#include <stdlib.h>

#include "tailor.h"

static void
write_llama_hparams (TailorGgufWriter *w, guint n_vocab)
{
  /* Enough of a llama architecture for llama.cpp to load the file with vocab_only. */
  tailor_gguf_writer_set_string (w, "general.architecture", "llama");
  tailor_gguf_writer_set_string (w, "general.name", "tailor tokenizer fixture");
  tailor_gguf_writer_set_u32 (w, "llama.context_length", 4096);
  tailor_gguf_writer_set_u32 (w, "llama.embedding_length", 64);
  tailor_gguf_writer_set_u32 (w, "llama.block_count", 1);
  tailor_gguf_writer_set_u32 (w, "llama.feed_forward_length", 128);
  tailor_gguf_writer_set_u32 (w, "llama.attention.head_count", 4);
  tailor_gguf_writer_set_u32 (w, "llama.attention.head_count_kv", 4);
  tailor_gguf_writer_set_u32 (w, "llama.rope.dimension_count", 16);
  tailor_gguf_writer_set_f32 (w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  tailor_gguf_writer_set_u32 (w, "llama.vocab_size", n_vocab);
}

static GPtrArray *
string_array (JsonObject *o, const char *member)
{
  JsonArray *a = json_object_get_array_member (o, member);
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; i < json_array_get_length (a); i++)
    g_ptr_array_add (out, (gpointer) json_array_get_string_element (a, i));
  return out;
}

static GArray *
number_array (JsonObject *o, const char *member, gboolean as_float)
{
  JsonArray *a = json_object_get_array_member (o, member);
  GArray *out = g_array_new (FALSE, FALSE, as_float ? sizeof (float) : sizeof (gint32));

  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      if (as_float)
        {
          float v = json_array_get_double_element (a, i);
          g_array_append_val (out, v);
        }
      else
        {
          gint32 v = json_array_get_int_element (a, i);
          g_array_append_val (out, v);
        }
    }
  return out;
}

int
main (int argc, char **argv)
{
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (GError) error = NULL;
  const char *kind, *out, *pre;
  guint n_vocab;

  if (argc != 5)
    {
      g_printerr ("usage: %s spm|bpe|test-spm|test-bpe VOCAB.json|- PRE OUT.gguf\n", argv[0]);
      return 2;
    }
  kind = argv[1];
  pre = argv[3];
  out = argv[4];

  if (g_str_has_prefix (kind, "test-"))
    {
      gboolean spm = g_str_equal (kind, "test-spm");

      n_vocab = tailor_test_vocab_write (spm ? TAILOR_TOKENIZER_SPM : TAILOR_TOKENIZER_BPE, 1200, 1, w);
      if (!spm)
        tailor_gguf_writer_set_string (w, "tokenizer.ggml.pre", pre);
    }
  else
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GPtrArray) tokens = NULL;
      g_autoptr (GArray) types = NULL;
      JsonObject *o;

      if (!json_parser_load_from_file (parser, argv[2], &error))
        {
          g_printerr ("%s: %s\n", argv[2], error->message);
          return 1;
        }
      o = json_node_get_object (json_parser_get_root (parser));
      tokens = string_array (o, "tokens");
      types = number_array (o, "types", FALSE);
      n_vocab = tokens->len;
      tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.tokens", (const char *const *) tokens->pdata, tokens->len);
      tailor_gguf_writer_set_array_i32 (w, "tokenizer.ggml.token_type", (const gint32 *) types->data, types->len);
      if (g_str_equal (kind, "spm"))
        {
          g_autoptr (GArray) scores = number_array (o, "scores", TRUE);

          tailor_gguf_writer_set_string (w, "tokenizer.ggml.model", "llama");
          tailor_gguf_writer_set_array_f32 (w, "tokenizer.ggml.scores", (const float *) scores->data, scores->len);
          tailor_gguf_writer_set_u32 (w, "tokenizer.ggml.bos_token_id", 1);
          tailor_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", 2);
          tailor_gguf_writer_set_u32 (w, "tokenizer.ggml.unknown_token_id", 0);
          tailor_gguf_writer_set_bool (w, "tokenizer.ggml.add_bos_token", TRUE);
          tailor_gguf_writer_set_bool (w, "tokenizer.ggml.add_eos_token", FALSE);
        }
      else
        {
          g_autoptr (GPtrArray) merges = string_array (o, "merges");

          tailor_gguf_writer_set_string (w, "tokenizer.ggml.model", "gpt2");
          tailor_gguf_writer_set_string (w, "tokenizer.ggml.pre", pre);
          tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.merges", (const char *const *) merges->pdata, merges->len);
          tailor_gguf_writer_set_u32 (w, "tokenizer.ggml.bos_token_id", 128000);
          tailor_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", 128001);
          tailor_gguf_writer_set_u32 (w, "tokenizer.ggml.eot_token_id", 128009);
          tailor_gguf_writer_set_bool (w, "tokenizer.ggml.add_bos_token", TRUE);
        }
    }
  write_llama_hparams (w, n_vocab);
  if (!tailor_gguf_writer_write (w, out, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  return 0;
}
