/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests for loading models from GGUF (hyper-parameters, tensor map, shape checks) and for
 * the test-model writer. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "tailor-model.h"
#include "tailor-test-model.h"
#include "tailor-tokenizer.h"

/* A model file built in memory from a spec; every tensor is zero-filled F32 unless said. */
typedef struct
{
  const char *arch;
  guint n_embd;
  guint n_layer;
  guint n_vocab;
  guint n_head[2];
  guint n_head_kv[2];
  guint n_ff[2];
  gboolean per_layer_arrays; /* head counts and n_ff as arrays */
  gboolean omit_head_count_kv;
  guint key_length; /* 0: key absent */
  gboolean biases;
  gboolean tied;
  gint64 rope_freqs_len;       /* 0: no rope_freqs.weight */
  const char *skip_tensor;     /* leave this tensor out */
  const char *bad_tensor;      /* give this tensor a wrong ne0 */
  const char *skip_key;        /* leave this key out */
  const char *odd_type_tensor; /* write this tensor in odd_type */
  TailorType odd_type;
  void (*extra_keys) (TailorGgufWriter *w);
  GPtrArray *names; /* out: tensor names written, in order */
} Spec;

static void
spec_init (Spec *s, const char *arch)
{
  memset (s, 0, sizeof *s);
  s->arch = arch;
  s->n_embd = 32;
  s->n_layer = 2;
  s->n_vocab = 40;
  s->n_head[0] = s->n_head[1] = 4;
  s->n_head_kv[0] = s->n_head_kv[1] = 2;
  s->n_ff[0] = s->n_ff[1] = 48;
  s->biases = strcmp (arch, "qwen2") == 0;
}

static void
set_key_u32 (TailorGgufWriter *w, const Spec *s, const char *suffix, guint32 v)
{
  g_autofree char *key = g_strdup_printf ("%s.%s", s->arch, suffix);

  if (s->skip_key == NULL || strcmp (s->skip_key, key) != 0)
    tailor_gguf_writer_set_u32 (w, key, v);
}

static void
set_key_layers (TailorGgufWriter *w, const Spec *s, const char *suffix, const guint *v)
{
  g_autofree char *key = g_strdup_printf ("%s.%s", s->arch, suffix);
  guint32 arr[2] = { v[0], v[1] };

  if (s->skip_key != NULL && strcmp (s->skip_key, key) == 0)
    return;
  if (s->per_layer_arrays)
    tailor_gguf_writer_set_array_u32 (w, key, arr, s->n_layer);
  else
    tailor_gguf_writer_set_u32 (w, key, v[0]);
}

static void
add (TailorGgufWriter *w, Spec *s, const char *name, gint64 ne0, gint64 ne1)
{
  gint64 ne[2] = { ne0, ne1 > 0 ? ne1 : 1 };
  TailorType type = TAILOR_TYPE_F32;
  gsize size;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;

  if (s->skip_tensor != NULL && strcmp (s->skip_tensor, name) == 0)
    return;
  if (s->bad_tensor != NULL && strcmp (s->bad_tensor, name) == 0)
    ne[0] += 32;
  if (s->odd_type_tensor != NULL && strcmp (s->odd_type_tensor, name) == 0)
    type = s->odd_type;
  size = tailor_type_row_size (type, ne[0]) * ne[1];
  g_assert_cmpuint (size, >, 0);
  bytes = g_bytes_new_take (g_malloc0 (size), size);
  g_assert_true (tailor_gguf_writer_add_tensor (w, name, type, ne1 > 0 ? 2 : 1, ne, bytes, &error));
  g_assert_no_error (error);
  if (s->names != NULL)
    g_ptr_array_add (s->names, g_strdup (name));
}

static TailorGguf *
build (Spec *s)
{
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  TailorGguf *gguf;
  guint hd = s->key_length ? s->key_length : s->n_embd / s->n_head[0];
  guint l;

  if (s->skip_key == NULL || strcmp (s->skip_key, "general.architecture") != 0)
    tailor_gguf_writer_set_string (w, "general.architecture", s->arch);
  set_key_u32 (w, s, "context_length", 128);
  set_key_u32 (w, s, "embedding_length", s->n_embd);
  set_key_u32 (w, s, "block_count", s->n_layer);
  set_key_layers (w, s, "feed_forward_length", s->n_ff);
  set_key_layers (w, s, "attention.head_count", s->n_head);
  if (!s->omit_head_count_kv)
    set_key_layers (w, s, "attention.head_count_kv", s->n_head_kv);
  if (s->key_length)
    {
      set_key_u32 (w, s, "attention.key_length", s->key_length);
      set_key_u32 (w, s, "attention.value_length", s->key_length);
    }
  {
    g_autofree char *key = g_strdup_printf ("%s.attention.layer_norm_rms_epsilon", s->arch);

    if (s->skip_key == NULL || strcmp (s->skip_key, key) != 0)
      tailor_gguf_writer_set_f32 (w, key, 1e-5f);
  }
  if (s->extra_keys != NULL)
    s->extra_keys (w);

  add (w, s, "token_embd.weight", s->n_embd, s->n_vocab);
  if (s->rope_freqs_len > 0)
    add (w, s, "rope_freqs.weight", s->rope_freqs_len, 0);
  for (l = 0; l < s->n_layer; l++)
    {
      guint q_dim = s->n_head[l] * hd;
      guint kv_dim = s->n_head_kv[l] * hd;
      char name[64];

#define ADD(suffix, ne0, ne1)                               \
  G_STMT_START                                              \
  {                                                         \
    g_snprintf (name, sizeof name, "blk.%u.%s", l, suffix); \
    add (w, s, name, ne0, ne1);                             \
  }                                                         \
  G_STMT_END
      ADD ("attn_norm.weight", s->n_embd, 0);
      ADD ("attn_q.weight", s->n_embd, q_dim);
      ADD ("attn_k.weight", s->n_embd, kv_dim);
      ADD ("attn_v.weight", s->n_embd, kv_dim);
      if (s->biases)
        {
          ADD ("attn_q.bias", q_dim, 0);
          ADD ("attn_k.bias", kv_dim, 0);
          ADD ("attn_v.bias", kv_dim, 0);
        }
      ADD ("attn_output.weight", q_dim, s->n_embd);
      ADD ("ffn_norm.weight", s->n_embd, 0);
      ADD ("ffn_gate.weight", s->n_embd, s->n_ff[l]);
      ADD ("ffn_up.weight", s->n_embd, s->n_ff[l]);
      ADD ("ffn_down.weight", s->n_ff[l], s->n_embd);
#undef ADD
    }
  add (w, s, "output_norm.weight", s->n_embd, 0);
  if (!s->tied)
    add (w, s, "output.weight", s->n_embd, s->n_vocab);

  bytes = tailor_gguf_writer_to_bytes (w);
  gguf = tailor_gguf_new_from_bytes (bytes, "spec.gguf", &error);
  g_assert_no_error (error);
  return gguf;
}

static TailorModel *
load_spec (Spec *s, GError **error)
{
  g_autoptr (TailorGguf) gguf = build (s);

  return tailor_model_new_from_gguf (gguf, error);
}

static void
test_llama_hparams_from_metadata (void)
{
  g_autoptr (TailorModel) m = NULL;
  g_autoptr (GError) error = NULL;
  Spec s;

  spec_init (&s, "llama");
  m = load_spec (&s, &error);
  g_assert_no_error (error);
  g_assert_cmpint (m->hp.arch, ==, TAILOR_ARCH_LLAMA);
  g_assert_cmpint (m->hp.rope_type, ==, TAILOR_ROPE_NORMAL);
  g_assert_cmpuint (m->hp.n_vocab, ==, 40);
  g_assert_cmpuint (m->hp.n_ctx_train, ==, 128);
  g_assert_cmpuint (m->hp.n_embd, ==, 32);
  g_assert_cmpuint (m->hp.n_layer, ==, 2);
  g_assert_cmpuint (m->hp.head_dim, ==, 8);
  g_assert_cmpfloat (m->hp.norm_eps, ==, 1e-5f);
  g_assert_cmpuint (m->hp.layers[1].n_head, ==, 4);
  g_assert_cmpuint (m->hp.layers[1].n_head_kv, ==, 2);
  g_assert_cmpuint (m->hp.layers[1].n_ff, ==, 48);
  g_assert_false (m->hp.tied_output);
  g_assert_true (m->output != m->tok_embd);
  g_assert_null (m->layers[0].bq);
  g_assert_null (m->rope_freqs);
  g_assert_cmpstr (m->layers[1].w_down->name, ==, "blk.1.ffn_down.weight");
}

static void
test_defaults_when_keys_absent (void)
{
  g_autoptr (TailorModel) m = NULL;
  g_autoptr (GError) error = NULL;
  Spec s;

  /* No rope.freq_base, rope.dimension_count, key_length, head_count_kv, vocab_size. */
  spec_init (&s, "llama");
  s.omit_head_count_kv = TRUE;
  s.n_head_kv[0] = s.n_head_kv[1] = 4;
  m = load_spec (&s, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (m->hp.rope_freq_base, ==, 10000.0f);
  g_assert_cmpfloat (m->hp.rope_freq_scale, ==, 1.0f);
  g_assert_cmpuint (m->hp.head_dim, ==, 32 / 4);
  g_assert_cmpuint (m->hp.n_rot, ==, m->hp.head_dim);
  g_assert_cmpuint (m->hp.layers[0].n_head_kv, ==, 4); /* = head_count */
  g_assert_cmpuint (m->hp.n_vocab, ==, 40);            /* from token_embd */
}

static void
test_per_layer_arrays_honoured (void)
{
  g_autoptr (TailorModel) m = NULL;
  g_autoptr (GError) error = NULL;
  Spec s;

  spec_init (&s, "llama");
  s.per_layer_arrays = TRUE;
  s.n_head_kv[1] = 4;
  s.n_ff[1] = 64;
  m = load_spec (&s, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (m->hp.layers[0].n_head_kv, ==, 2);
  g_assert_cmpuint (m->hp.layers[1].n_head_kv, ==, 4);
  g_assert_cmpuint (m->hp.layers[0].n_ff, ==, 48);
  g_assert_cmpuint (m->hp.layers[1].n_ff, ==, 64);
  g_assert_cmpint (m->layers[1].wk->ne[1], ==, 4 * 8);
  g_assert_cmpint (m->layers[1].w_down->ne[0], ==, 64);
}

static void
three_layer_array (TailorGgufWriter *w)
{
  static const guint32 v[3] = { 2, 2, 2 };

  tailor_gguf_writer_set_array_u32 (w, "llama.attention.head_count_kv", v, 3);
}

static void
test_per_layer_array_of_wrong_length_rejected (void)
{
  g_autoptr (TailorModel) m = NULL;
  g_autoptr (GError) error = NULL;
  Spec s;

  spec_init (&s, "llama");
  s.omit_head_count_kv = TRUE;
  s.extra_keys = three_layer_array;
  m = load_spec (&s, &error);
  g_assert_null (m);
  g_assert_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS);
  g_assert_nonnull (strstr (error->message, "llama.attention.head_count_kv"));
}

static void
test_key_length_sets_head_dim (void)
{
  g_autoptr (TailorModel) m = NULL;
  g_autoptr (GError) error = NULL;
  Spec s;

  spec_init (&s, "llama");
  s.key_length = 16; /* 4 heads × 16 = 64 ≠ n_embd 32 */
  m = load_spec (&s, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (m->hp.head_dim, ==, 16);
  g_assert_cmpuint (m->hp.n_rot, ==, 16);
  g_assert_cmpint (m->layers[0].wq->ne[1], ==, 64);
  g_assert_cmpint (m->layers[0].wo->ne[0], ==, 64);
}

static void
keys_linear_factor_4 (TailorGgufWriter *w)
{
  tailor_gguf_writer_set_string (w, "llama.rope.scaling.type", "linear");
  tailor_gguf_writer_set_f32 (w, "llama.rope.scaling.factor", 4.0f);
  tailor_gguf_writer_set_f32 (w, "llama.rope.freq_base", 500000.0f);
  tailor_gguf_writer_set_u32 (w, "llama.rope.dimension_count", 4);
}

static void
keys_old_scale_linear (TailorGgufWriter *w)
{
  tailor_gguf_writer_set_f32 (w, "llama.rope.scale_linear", 2.0f);
}

static void
keys_scaling_none (TailorGgufWriter *w)
{
  tailor_gguf_writer_set_string (w, "llama.rope.scaling.type", "none");
  tailor_gguf_writer_set_f32 (w, "llama.rope.scaling.factor", 4.0f);
}

static void
keys_scaling_yarn (TailorGgufWriter *w)
{
  tailor_gguf_writer_set_string (w, "llama.rope.scaling.type", "yarn");
  tailor_gguf_writer_set_f32 (w, "llama.rope.scaling.factor", 4.0f);
}

static void
test_rope_keys_read (void)
{
  Spec s;

  spec_init (&s, "llama");
  {
    g_autoptr (TailorModel) m = NULL;
    g_autoptr (GError) error = NULL;

    s.extra_keys = keys_linear_factor_4;
    m = load_spec (&s, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (m->hp.rope_freq_scale, ==, 0.25f);
    g_assert_cmpfloat (m->hp.rope_freq_base, ==, 500000.0f);
    g_assert_cmpuint (m->hp.n_rot, ==, 4);
  }
  {
    g_autoptr (TailorModel) m = NULL;
    g_autoptr (GError) error = NULL;

    s.extra_keys = keys_old_scale_linear;
    m = load_spec (&s, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (m->hp.rope_freq_scale, ==, 0.5f);
  }
  {
    g_autoptr (TailorModel) m = NULL;
    g_autoptr (GError) error = NULL;

    s.extra_keys = keys_scaling_none;
    m = load_spec (&s, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (m->hp.rope_freq_scale, ==, 1.0f);
  }
  {
    g_autoptr (TailorModel) m = NULL;
    g_autoptr (GError) error = NULL;

    s.extra_keys = keys_scaling_yarn;
    m = load_spec (&s, &error);
    g_assert_null (m);
    g_assert_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS);
    g_assert_nonnull (strstr (error->message, "llama.rope.scaling.type"));
    g_assert_nonnull (strstr (error->message, "yarn"));
  }
}

static void
test_tied_output_when_output_absent (void)
{
  static const char *const archs[] = { "llama", "qwen2" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (archs); i++)
    {
      g_autoptr (TailorModel) m = NULL;
      g_autoptr (GError) error = NULL;
      Spec s;

      spec_init (&s, archs[i]);
      s.tied = TRUE;
      m = load_spec (&s, &error);
      g_assert_no_error (error);
      g_assert_true (m->hp.tied_output);
      g_assert_true (m->output == m->tok_embd);
    }
}

static void
test_rope_freqs_optional_and_checked (void)
{
  Spec s;

  spec_init (&s, "llama");
  {
    g_autoptr (TailorModel) m = NULL;
    g_autoptr (GError) error = NULL;

    s.rope_freqs_len = 4; /* n_rot 8 / 2 */
    m = load_spec (&s, &error);
    g_assert_no_error (error);
    g_assert_nonnull (m->rope_freqs);
    g_assert_cmpstr (m->rope_freqs->name, ==, "rope_freqs.weight");
  }
  {
    g_autoptr (TailorModel) m = NULL;
    g_autoptr (GError) error = NULL;

    s.rope_freqs_len = 8;
    m = load_spec (&s, &error);
    g_assert_null (m);
    g_assert_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_SHAPE);
    g_assert_nonnull (strstr (error->message, "rope_freqs.weight"));
    g_assert_nonnull (strstr (error->message, "[8]"));
    g_assert_nonnull (strstr (error->message, "[4]"));
  }
}

static gboolean
is_optional (const char *arch, const char *name)
{
  return strcmp (name, "output.weight") == 0 || strcmp (name, "rope_freqs.weight") == 0 ||
         (strcmp (arch, "llama") == 0 && g_str_has_suffix (name, ".bias"));
}

static void
check_every_tensor (const char *arch, gboolean biases)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (TailorGguf) gguf = NULL;
  Spec s;
  guint i;

  spec_init (&s, arch);
  s.biases = biases;
  s.rope_freqs_len = strcmp (arch, "llama") == 0 ? 4 : 0;
  s.names = names;
  gguf = build (&s);
  s.names = NULL;
  g_assert_cmpuint (names->len, >, 20);

  for (i = 0; i < names->len; i++)
    {
      const char *name = names->pdata[i];
      g_autoptr (TailorModel) missing = NULL;
      g_autoptr (TailorModel) misshaped = NULL;
      g_autoptr (GError) e1 = NULL;
      g_autoptr (GError) e2 = NULL;

      s.skip_tensor = name;
      missing = load_spec (&s, &e1);
      s.skip_tensor = NULL;
      if (is_optional (arch, name))
        g_assert_no_error (e1);
      else
        {
          g_assert_null (missing);
          g_assert_error (e1, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_MISSING_TENSOR);
          g_assert_nonnull (strstr (e1->message, name));
        }

      s.bad_tensor = name;
      misshaped = load_spec (&s, &e2);
      s.bad_tensor = NULL;
      g_assert_null (misshaped);
      g_assert_error (e2, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_SHAPE);
      g_assert_nonnull (strstr (e2->message, name));
      if (i == 1)
        g_test_message ("for example: %s / %s", e1 ? e1->message : "(optional)", e2->message);
    }
}

static void
test_every_missing_or_misshaped_tensor_named (void)
{
  check_every_tensor ("llama", FALSE);
  check_every_tensor ("llama", TRUE);
  check_every_tensor ("qwen2", TRUE);
}

static void
test_qwen2_without_biases_refused (void)
{
  g_autoptr (TailorModel) m = NULL;
  g_autoptr (GError) error = NULL;
  Spec s;

  spec_init (&s, "qwen2");
  s.biases = FALSE;
  m = load_spec (&s, &error);
  g_assert_null (m);
  g_assert_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_MISSING_TENSOR);
  g_assert_nonnull (strstr (error->message, "blk.0.attn_q.bias"));
}

static void
test_qwen2_loads_with_biases_and_neox (void)
{
  g_autoptr (TailorModel) m = NULL;
  g_autoptr (GError) error = NULL;
  Spec s;

  spec_init (&s, "qwen2");
  m = load_spec (&s, &error);
  g_assert_no_error (error);
  g_assert_cmpint (m->hp.arch, ==, TAILOR_ARCH_QWEN2);
  g_assert_cmpint (m->hp.rope_type, ==, TAILOR_ROPE_NEOX);
  g_assert_nonnull (m->layers[1].bq);
  g_assert_nonnull (m->layers[1].bk);
  g_assert_nonnull (m->layers[1].bv);
  g_assert_cmpint (m->layers[1].bk->ne[0], ==, 2 * 8);
}

static void
test_unsupported_arch_named (void)
{
  g_autoptr (TailorModel) m = NULL;
  g_autoptr (GError) error = NULL;
  Spec s;

  spec_init (&s, "gpt2");
  m = load_spec (&s, &error);
  g_assert_null (m);
  g_assert_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_UNSUPPORTED_ARCH);
  g_assert_nonnull (strstr (error->message, "gpt2"));
  g_assert_nonnull (strstr (error->message, "llama"));
  g_assert_nonnull (strstr (error->message, "qwen2"));
}

static void
test_missing_hparam_key_named (void)
{
  static const char *const keys[] = {
    "llama.embedding_length",    "llama.block_count",
    "llama.context_length",      "llama.attention.head_count",
    "llama.feed_forward_length", "llama.attention.layer_norm_rms_epsilon",
    "general.architecture",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autoptr (TailorModel) m = NULL;
      g_autoptr (GError) error = NULL;
      Spec s;

      spec_init (&s, "llama");
      s.skip_key = keys[i];
      m = load_spec (&s, &error);
      g_assert_null (m);
      g_assert_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS);
      g_assert_nonnull (strstr (error->message, keys[i]));
    }
}

static void
test_uncomputable_type_refused (void)
{
  g_autoptr (TailorModel) m = NULL;
  g_autoptr (GError) error = NULL;
  TailorType odd = TAILOR_TYPE_COUNT_;
  Spec s;
  int t;

  /* Any ggml type the quant engine cannot dequantize, with a block that fits a row of 32. */
  for (t = 0; t < TAILOR_TYPE_COUNT_ && odd == TAILOR_TYPE_COUNT_; t++)
    {
      const TailorTypeInfo *info = tailor_type_get_info ((TailorType) t);

      if (info != NULL && !info->can_dequantize && 32 % info->block_size == 0)
        odd = (TailorType) t;
    }
  if (odd == TAILOR_TYPE_COUNT_)
    {
      g_test_skip ("every known type with a small block can be dequantized");
      return;
    }

  spec_init (&s, "llama");
  s.odd_type_tensor = "blk.1.attn_k.weight";
  s.odd_type = odd;
  m = load_spec (&s, &error);
  g_assert_null (m);
  g_assert_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_TYPE);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "blk.1.attn_k.weight"));
  g_assert_nonnull (strstr (error->message, tailor_type_name (odd)));
}

static void
test_count_params_sums_all_tensors (void)
{
  g_autoptr (TailorModel) m = NULL;
  g_autoptr (GError) error = NULL;
  guint64 per_layer = 32 /* attn_norm */ + 32 * 32 /* q */ + 2 * 32 * 16 /* k, v */
                      + 32 * 32 /* o */ + 32 /* ffn_norm */ + 3 * 32 * 48 /* gate, up, down */;
  Spec s;

  spec_init (&s, "llama");
  m = load_spec (&s, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_model_count_params (m), ==,
                    2 * per_layer + 40 * 32 /* token_embd */ + 32 + 40 * 32 /* output */);
}

/* ---- the test-model writer ---- */

static char *
tmp_path (const char *dir, const char *name)
{
  return g_build_filename (dir, name, NULL);
}

static void
test_written_model_loads_with_its_params (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("tailor-model-XXXXXX", &error);
  static const TailorArch archs[] = { TAILOR_ARCH_LLAMA, TAILOR_ARCH_QWEN2 };
  guint i;

  g_assert_no_error (error);
  for (i = 0; i < G_N_ELEMENTS (archs); i++)
    {
      g_autofree char *path = tmp_path (dir, "m.gguf");
      g_autoptr (TailorModel) m = NULL;
      g_autoptr (GError) e = NULL;
      TailorTestModelParams p, r;
      guint32 file_type = 0;

      tailor_test_model_params_init (&p, archs[i]);
      tailor_test_model_params_resolve (&p, &r);
      g_assert_true (tailor_test_model_write (&p, path, &e));
      g_assert_no_error (e);
      m = tailor_model_load (path, &e);
      g_assert_no_error (e);
      g_assert_cmpint (m->hp.arch, ==, archs[i]);
      g_assert_cmpuint (m->hp.n_embd, ==, r.n_embd);
      g_assert_cmpuint (m->hp.n_embd, ==, 64);
      g_assert_cmpuint (m->hp.n_layer, ==, r.n_layer);
      g_assert_cmpuint (m->hp.layers[0].n_head, ==, r.n_head);
      g_assert_cmpuint (m->hp.layers[0].n_head_kv, ==, r.n_head_kv);
      g_assert_cmpuint (m->hp.layers[0].n_ff, ==, 160);
      g_assert_cmpuint (m->hp.n_ctx_train, ==, r.n_ctx);
      g_assert_cmpuint (m->hp.n_vocab, >=, 256);
      g_assert_true (m->hp.tied_output == r.tied_output);
      g_assert_true ((m->layers[0].bq != NULL) == (archs[i] == TAILOR_ARCH_QWEN2));
      g_assert_cmpint (m->tok_embd->type, ==, TAILOR_TYPE_F32);
      g_assert_true (tailor_gguf_get_u32 (m->gguf, "general.file_type", &file_type, &e));
      g_assert_cmpuint (file_type, ==, TAILOR_FTYPE_ALL_F32);
      g_assert_cmpstr (tailor_gguf_get_string (m->gguf, "general.license", &e), ==, "apache-2.0");
      g_assert_cmpint (tailor_gguf_find_key (m->gguf, "tokenizer.ggml.tokens"), >=, 0);
      g_assert_cmpuint (
        tailor_gguf_get_arr_n (m->gguf, tailor_gguf_find_key (m->gguf, "tokenizer.ggml.tokens")),
        ==, m->hp.n_vocab);
      g_assert_no_error (e);
      g_unlink (path);
    }
  g_rmdir (dir);
}

static void
test_k_quant_model_uses_k_quant_blocks (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("tailor-model-XXXXXX", &error);
  g_autofree char *path = tmp_path (dir, "q4km.gguf");
  g_autoptr (TailorModel) m = NULL;
  TailorTestModelParams p;
  guint n_q4k = 0, n_q6k = 0;
  guint i;

  g_assert_no_error (error);
  tailor_test_model_params_init (&p, TAILOR_ARCH_LLAMA);
  p.ftype = TAILOR_FTYPE_MOSTLY_Q4_K_M;
  g_assert_true (tailor_test_model_write (&p, path, &error));
  g_assert_no_error (error);
  m = tailor_model_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (m->hp.n_embd, ==, 256);
  g_assert_cmpuint (m->hp.layers[0].n_ff, ==, 512);
  for (i = 0; i < tailor_gguf_get_n_tensors (m->gguf); i++)
    {
      const TailorGgufTensor *t = tailor_gguf_get_tensor (m->gguf, i);

      n_q4k += t->type == TAILOR_TYPE_Q4_K;
      n_q6k += t->type == TAILOR_TYPE_Q6_K;
      if (t->n_dims == 1)
        g_assert_cmpint (t->type, ==, TAILOR_TYPE_F32);
    }
  g_assert_cmpuint (n_q4k, >, 0);
  g_assert_cmpuint (n_q6k, >, 0);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_writer_is_deterministic (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("tailor-model-XXXXXX", &error);
  g_autofree char *a = tmp_path (dir, "a.gguf");
  g_autofree char *b = tmp_path (dir, "b.gguf");
  g_autofree char *c = tmp_path (dir, "c.gguf");
  g_autofree char *da = NULL, *db = NULL, *dc = NULL;
  gsize la, lb, lc;
  TailorTestModelParams p;

  g_assert_no_error (error);
  tailor_test_model_params_init (&p, TAILOR_ARCH_QWEN2);
  p.ftype = TAILOR_FTYPE_MOSTLY_Q8_0;
  p.seed = 77;
  g_assert_true (tailor_test_model_write (&p, a, &error));
  g_assert_true (tailor_test_model_write (&p, b, &error));
  p.seed = 78;
  g_assert_true (tailor_test_model_write (&p, c, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (a, &da, &la, NULL));
  g_assert_true (g_file_get_contents (b, &db, &lb, NULL));
  g_assert_true (g_file_get_contents (c, &dc, &lc, NULL));
  g_assert_cmpmem (da, la, db, lb);
  g_assert_true (la != lc || memcmp (da, dc, la) != 0);
  g_unlink (a);
  g_unlink (b);
  g_unlink (c);
  g_rmdir (dir);
}

/* Sizes past what the built-in corpus yields (about 1500–1700) are padded, so a model
 * can have the shape of a real one (SmolLM's 49152, say); every row is a token the
 * tokenizer loads, and no text encodes to a pad, not even the pad's own text. */
static void
test_vocab_size_is_exact (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("tailor-model-XXXXXX", &error);
  static const TailorTokenizerKind kinds[] = { TAILOR_TOKENIZER_SPM, TAILOR_TOKENIZER_BPE };
  static const guint sizes[] = { TAILOR_TEST_VOCAB_MIN, 1000, 4096, 8192 };
  static const char text[] = "The quick brown fox, 42 times: caf\xc3\xa9 <unused-3>!";

  g_assert_no_error (error);
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_autoptr (GArray) padded_ids = NULL;

      for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
        {
          g_autofree char *path = tmp_path (dir, "v.gguf");
          g_autoptr (TailorModel) m = NULL;
          g_autoptr (TailorTokenizer) tok = NULL;
          g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
          g_autofree char *decoded = NULL;
          TailorTestModelParams p;

          g_test_message ("kind %d, %u entries", kinds[k], sizes[i]);
          tailor_test_model_params_init (&p, TAILOR_ARCH_LLAMA);
          p.vocab_kind = kinds[k];
          p.n_vocab = sizes[i];
          p.n_layer = 1;
          g_assert_true (tailor_test_model_write (&p, path, &error));
          g_assert_no_error (error);
          m = tailor_model_load (path, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (m->hp.n_vocab, ==, sizes[i]);
          g_assert_cmpint (m->tok_embd->ne[1], ==, sizes[i]);
          g_assert_false (m->hp.tied_output);
          g_assert_cmpint (m->output->ne[1], ==, sizes[i]);

          tok = tailor_tokenizer_new_from_gguf (m->gguf, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (tailor_tokenizer_get_n_vocab (tok), ==, sizes[i]);
          tailor_tokenizer_encode (tok, text, -1, TAILOR_TOKENIZE_NONE, ids);
          g_assert_cmpuint (ids->len, >, 0);
          for (guint j = 0; j < ids->len; j++)
            g_assert_cmpint (g_array_index (ids, gint32, j), <, (gint32) sizes[i]);
          /* The smallest SPM vocabulary has no ▁ piece: spaces come back as its bytes. */
          if (sizes[i] > TAILOR_TEST_VOCAB_MIN)
            {
              decoded = tailor_tokenizer_decode (tok, (const gint32 *) ids->data, ids->len, FALSE);
              g_assert_cmpstr (decoded, ==, text);
            }
          if (sizes[i] >= 4096)
            {
              gint32 last = (gint32) sizes[i] - 1;
              gint32 first_pad = tailor_tokenizer_find_token (tok, "<unused-0>");

              g_assert_cmpint (first_pad, >, 0);
              for (guint j = 0; j < ids->len; j++)
                g_assert_cmpint (g_array_index (ids, gint32, j), <, first_pad);
              g_assert_true (
                g_str_has_prefix (tailor_tokenizer_get_token_text (tok, last), "<unused-"));
              g_assert_cmpint (tailor_tokenizer_get_token_type (tok, last), ==,
                               TAILOR_TOKEN_NORMAL);
              if (padded_ids == NULL)
                padded_ids = g_array_ref (ids);
              else
                g_assert_cmpmem (padded_ids->data, padded_ids->len * sizeof (gint32), ids->data,
                                 ids->len * sizeof (gint32));
            }
          g_unlink (path);
        }
    }
  g_rmdir (dir);
}

static void
test_vocab_size_below_minimum_refused (void)
{
  g_autoptr (GError) error = NULL;
  TailorTestModelParams p;

  tailor_test_model_params_init (&p, TAILOR_ARCH_QWEN2);
  p.n_vocab = TAILOR_TEST_VOCAB_MIN - 1;
  g_assert_false (tailor_test_model_write (&p, "/nonexistent/never-written.gguf", &error));
  g_assert_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS);
  g_assert_nonnull (strstr (error->message, "258"));
  g_assert_nonnull (strstr (error->message, "at least 259"));
}

static void
test_writer_rejects_impossible_params (void)
{
  g_autoptr (GError) error = NULL;
  TailorTestModelParams p;

  tailor_test_model_params_init (&p, TAILOR_ARCH_LLAMA);
  p.n_head = 3; /* 64 is not a multiple of 3 */
  g_assert_false (tailor_test_model_write (&p, "/nonexistent/never-written.gguf", &error));
  g_assert_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS);
  g_assert_nonnull (strstr (error->message, "n_head"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/model/llama-hparams-from-metadata", test_llama_hparams_from_metadata);
  g_test_add_func ("/model/defaults-when-keys-absent", test_defaults_when_keys_absent);
  g_test_add_func ("/model/per-layer-arrays-honoured", test_per_layer_arrays_honoured);
  g_test_add_func ("/model/per-layer-array-of-wrong-length-rejected",
                   test_per_layer_array_of_wrong_length_rejected);
  g_test_add_func ("/model/key-length-sets-head-dim", test_key_length_sets_head_dim);
  g_test_add_func ("/model/rope-base-scaling-and-dims-read", test_rope_keys_read);
  g_test_add_func ("/model/tied-output-when-output-absent", test_tied_output_when_output_absent);
  g_test_add_func ("/model/rope-freqs-optional-and-shape-checked",
                   test_rope_freqs_optional_and_checked);
  g_test_add_func ("/model/every-missing-or-misshaped-tensor-named",
                   test_every_missing_or_misshaped_tensor_named);
  g_test_add_func ("/model/qwen2-without-biases-refused", test_qwen2_without_biases_refused);
  g_test_add_func ("/model/qwen2-loads-with-biases-and-neox",
                   test_qwen2_loads_with_biases_and_neox);
  g_test_add_func ("/model/unsupported-arch-named", test_unsupported_arch_named);
  g_test_add_func ("/model/missing-hparam-key-named", test_missing_hparam_key_named);
  g_test_add_func ("/model/uncomputable-type-refused", test_uncomputable_type_refused);
  g_test_add_func ("/model/count-params-sums-all-tensors", test_count_params_sums_all_tensors);
  g_test_add_func ("/test-model/written-model-loads-with-its-params",
                   test_written_model_loads_with_its_params);
  g_test_add_func ("/test-model/k-quant-model-uses-k-quant-blocks",
                   test_k_quant_model_uses_k_quant_blocks);
  g_test_add_func ("/test-model/writer-is-deterministic", test_writer_is_deterministic);
  g_test_add_func ("/test-model/writer-rejects-impossible-params",
                   test_writer_rejects_impossible_params);
  g_test_add_func ("/test-model/vocab-size-is-exact-past-the-learned-pieces",
                   test_vocab_size_is_exact);
  g_test_add_func ("/test-model/vocab-size-below-minimum-refused",
                   test_vocab_size_below_minimum_refused);

  return g_test_run ();
}
