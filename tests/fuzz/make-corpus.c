/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Writes the GGUF fuzzer's seed corpus: small valid files made by our writer. */

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "tailor-gguf.h"

static GBytes *
random_tensor_data (GRand *rand, TailorType type, const gint64 *ne, guint n_dims)
{
  gsize n = tailor_type_row_size (type, ne[0]);
  guint8 *p;

  for (guint d = 1; d < n_dims; d++)
    n *= (gsize) ne[d];
  p = g_malloc (n);
  for (gsize i = 0; i < n; i++)
    p[i] = (guint8) g_rand_int_range (rand, 0, 256);
  return g_bytes_new_take (p, n);
}

static void
add (TailorGgufWriter *w,
     GRand *rand,
     const char *name,
     TailorType type,
     guint n_dims,
     gint64 ne0,
     gint64 ne1)
{
  const gint64 ne[] = { ne0, ne1 };
  g_autoptr (GBytes) data = random_tensor_data (rand, type, ne, n_dims);
  g_autoptr (GError) error = NULL;

  if (!tailor_gguf_writer_add_tensor (w, name, type, n_dims, ne, data, &error))
    g_error ("%s", error->message);
}

static void
save (TailorGgufWriter *w, const char *dir, const char *name, guint32 version)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GBytes) bytes = tailor_gguf_writer_to_bytes (w);
  gsize n;
  g_autofree guint8 *copy = g_bytes_unref_to_data (g_steal_pointer (&bytes), &n);
  g_autoptr (GError) error = NULL;

  /* the writer only speaks v3; v2 has the same layout, so patching the field gives a v2 seed */
  copy[4] = (guint8) version;
  if (!g_file_set_contents (path, (const char *) copy, (gssize) n, &error))
    g_error ("%s", error->message);
}

int
main (int argc, char **argv)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (1);
  const char *const tokens[] = { "<unk>", "<s>", "</s>", "\xe2\x96\x81the", "<0x0A>", "" };
  const float scores[] = { 0.0f, 0.0f, 0.0f, -1.5f, -2.0f, -3.0f };
  const gint32 types[] = { 2, 3, 3, 1, 6, 1 };
  const guint32 heads[] = { 4, 4, 2 };

  if (argc != 2)
    {
      g_printerr ("usage: %s FOLDER\n", argv[0]);
      return 2;
    }
  if (g_mkdir_with_parents (argv[1], 0755) != 0)
    {
      g_printerr ("%s: cannot create the folder: %s\n", argv[1], g_strerror (errno));
      return 1;
    }

  {
    g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();

    save (w, argv[1], "empty.gguf", 3);
  }
  {
    g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();

    tailor_gguf_writer_set_string (w, "general.architecture", "llama");
    tailor_gguf_writer_set_string (w, "general.name", "seed");
    tailor_gguf_writer_set_u32 (w, "llama.block_count", 2);
    tailor_gguf_writer_set_i32 (w, "x.i32", -7);
    tailor_gguf_writer_set_u64 (w, "x.u64", G_GUINT64_CONSTANT (1) << 40);
    tailor_gguf_writer_set_f32 (w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    tailor_gguf_writer_set_bool (w, "tokenizer.ggml.add_bos_token", TRUE);
    tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.tokens", tokens, G_N_ELEMENTS (tokens));
    tailor_gguf_writer_set_array_f32 (w, "tokenizer.ggml.scores", scores, G_N_ELEMENTS (scores));
    tailor_gguf_writer_set_array_i32 (w, "tokenizer.ggml.token_type", types, G_N_ELEMENTS (types));
    tailor_gguf_writer_set_array_u32 (w, "llama.attention.head_count_kv", heads,
                                      G_N_ELEMENTS (heads));
    save (w, argv[1], "metadata.gguf", 3);
    save (w, argv[1], "metadata-v2.gguf", 2);
  }
  {
    g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();

    tailor_gguf_writer_set_string (w, "general.architecture", "llama");
    add (w, rand, "token_embd.weight", TAILOR_TYPE_Q8_0, 2, 64, 3);
    add (w, rand, "output_norm.weight", TAILOR_TYPE_F32, 1, 7, 1);
    add (w, rand, "blk.0.attn_q.weight", TAILOR_TYPE_F16, 2, 8, 2);
    add (w, rand, "blk.0.ffn_up.weight", TAILOR_TYPE_Q4_K, 2, 256, 1);
    save (w, argv[1], "tensors.gguf", 3);
  }
  {
    g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();

    tailor_gguf_writer_set_string (w, "general.architecture", "qwen2");
    tailor_gguf_writer_set_alignment (w, 64);
    tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.merges", tokens + 3, 2);
    add (w, rand, "blk.0.attn_k.weight", TAILOR_TYPE_Q4_0, 2, 32, 2);
    add (w, rand, "blk.0.attn_v.weight", TAILOR_TYPE_Q6_K, 1, 256, 1);
    add (w, rand, "blk.0.attn_k.bias", TAILOR_TYPE_BF16, 1, 5, 1);
    add (w, rand, "blk.0.ffn_down.weight", TAILOR_TYPE_Q5_K, 1, 256, 1);
    save (w, argv[1], "aligned-64.gguf", 3);
  }
  {
    g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();

    tailor_gguf_writer_set_alignment (w, 8);
    add (w, rand, "a", TAILOR_TYPE_Q5_0, 1, 32, 1);
    add (w, rand, "b", TAILOR_TYPE_Q5_1, 1, 32, 1);
    add (w, rand, "c", TAILOR_TYPE_Q4_1, 2, 32, 2);
    save (w, argv[1], "aligned-8.gguf", 3);
  }
  return 0;
}
