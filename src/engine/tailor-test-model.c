/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Writing small random llama/qwen2 models with a real-shaped vocabulary (test fixtures). */
#include "config.h"

#include <string.h>

#include "tailor-test-model.h"

void
tailor_test_model_params_init (TailorTestModelParams *p, TailorArch arch)
{
  g_return_if_fail (p != NULL);

  memset (p, 0, sizeof *p);
  p->arch = arch;
  p->ftype = TAILOR_FTYPE_ALL_F32;
  p->seed = 1;
  p->vocab_kind = arch == TAILOR_ARCH_QWEN2 ? TAILOR_TOKENIZER_BPE : TAILOR_TOKENIZER_SPM;
  p->n_vocab = 1000;
  p->n_layer = 2;
  p->n_head = 4;
  p->n_head_kv = 2;
  p->n_ctx = 256;
  p->tied_output = arch == TAILOR_ARCH_QWEN2;
  p->weight_std = 0.02f;
}

static gboolean
ftype_is_k_quant (TailorFileType ftype)
{
  switch (ftype)
    {
      case TAILOR_FTYPE_MOSTLY_Q4_K_S:
      case TAILOR_FTYPE_MOSTLY_Q4_K_M:
      case TAILOR_FTYPE_MOSTLY_Q5_K_S:
      case TAILOR_FTYPE_MOSTLY_Q5_K_M:
      case TAILOR_FTYPE_MOSTLY_Q6_K:
        return TRUE;
      case TAILOR_FTYPE_ALL_F32:
      case TAILOR_FTYPE_MOSTLY_F16:
      case TAILOR_FTYPE_MOSTLY_Q4_0:
      case TAILOR_FTYPE_MOSTLY_Q4_1:
      case TAILOR_FTYPE_MOSTLY_Q8_0:
      case TAILOR_FTYPE_MOSTLY_Q5_0:
      case TAILOR_FTYPE_MOSTLY_Q5_1:
      case TAILOR_FTYPE_MOSTLY_BF16:
      default:
        return FALSE;
    }
}

void
tailor_test_model_params_resolve (const TailorTestModelParams *p, TailorTestModelParams *out)
{
  gboolean k_quant;

  g_return_if_fail (p != NULL && out != NULL);

  *out = *p;
  k_quant = ftype_is_k_quant (p->ftype);
  if (out->n_embd == 0)
    out->n_embd = k_quant ? 256 : 64;
  if (out->n_ff == 0)
    out->n_ff = k_quant ? 512 : 160;
  if (out->weight_std <= 0.0f)
    out->weight_std = 0.02f;
}

/* splitmix64: a tiny, well-mixed generator whose output depends only on the seed. */
static guint64
rng_next (guint64 *state)
{
  guint64 z = (*state += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Approximately N(0, 1) as the Irwin–Hall sum of 12 uniforms minus 6: only additions of
 * exactly representable values, so every machine produces the same bits (a Box–Muller
 * through log/cos would depend on the libm). */
static float
rng_normal (guint64 *state)
{
  double sum = 0.0;
  int i;

  for (i = 0; i < 12; i++)
    sum += (double) (rng_next (state) >> 11) * (1.0 / 9007199254740992.0);
  return (float) (sum - 6.0);
}

typedef enum
{
  INIT_WEIGHT, /* N(0, weight_std) */
  INIT_NORM,   /* 1 + N(0, 0.1) */
  INIT_BIAS,   /* N(0, 0.1) */
} Init;

typedef struct
{
  TailorGgufWriter *writer;
  const TailorTestModelParams *p;
  guint64 rng;
} Builder;

static gboolean
add_tensor (
  Builder *b, const char *name, Init init, gint64 ne0, gint64 ne1, gint layer, GError **error)
{
  guint n_dims = ne1 > 0 ? 2 : 1;
  gint64 rows = ne1 > 0 ? ne1 : 1;
  gint64 ne[2] = { ne0, rows };
  gsize n = (gsize) (ne0 * rows);
  g_autofree float *values = g_new (float, n);
  TailorType type = tailor_ftype_tensor_type (b->p->ftype, name, n_dims, ne0, layer, b->p->n_layer);
  const TailorTypeInfo *info = tailor_type_get_info (type);
  gsize row_bytes = tailor_type_row_size (type, ne0);
  g_autoptr (GBytes) bytes = NULL;
  gsize i;

  for (i = 0; i < n; i++)
    {
      float r = rng_normal (&b->rng);

      switch (init)
        {
          case INIT_WEIGHT:
            values[i] = r * b->p->weight_std;
            break;
          case INIT_NORM:
            values[i] = 1.0f + 0.1f * r;
            break;
          case INIT_BIAS:
          default:
            values[i] = 0.1f * r;
            break;
        }
    }

  if (type == TAILOR_TYPE_F32)
    bytes = g_bytes_new_take (g_steal_pointer (&values), n * sizeof (float));
  else
    {
      guint8 *data;
      gint64 r;

      if (info == NULL || !info->can_quantize || row_bytes == 0)
        {
          g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_TYPE,
                       "cannot write the tensor “%s” (%" G_GINT64_FORMAT " values per row) as %s "
                       "for the file type %s; choose another file type or row length",
                       name, ne0, tailor_type_name (type), tailor_ftype_name (b->p->ftype));
          return FALSE;
        }
      data = g_malloc (row_bytes * rows);
      for (r = 0; r < rows; r++)
        tailor_quantize_row (type, values + r * ne0, data + r * row_bytes, ne0);
      bytes = g_bytes_new_take (data, row_bytes * rows);
    }
  return tailor_gguf_writer_add_tensor (b->writer, name, type, n_dims, ne, bytes, error);
}

static gboolean
check_params (const TailorTestModelParams *p, GError **error)
{
  const char *problem = NULL;

  if (p->n_layer == 0 || p->n_head == 0 || p->n_head_kv == 0 || p->n_ctx == 0)
    problem = "n_layer, n_head, n_head_kv and n_ctx must be positive";
  else if (p->n_embd % p->n_head != 0 || (p->n_embd / p->n_head) % 2 != 0)
    problem = "n_embd must be a multiple of n_head with an even head size";
  else if (p->n_head % p->n_head_kv != 0)
    problem = "n_head must be a multiple of n_head_kv";
  else if (p->n_embd > 16384 || p->n_ff > 65536 || p->n_layer > 256 || p->n_vocab > 1000000)
    problem = "the sizes are too large for a test model";
  else if (p->arch != TAILOR_ARCH_LLAMA && p->arch != TAILOR_ARCH_QWEN2)
    problem = "the architecture must be llama or qwen2";

  if (problem != NULL)
    {
      g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                   "invalid test model parameters (n_embd %u, n_ff %u, n_layer %u, n_head %u, "
                   "n_head_kv %u): %s",
                   p->n_embd, p->n_ff, p->n_layer, p->n_head, p->n_head_kv, problem);
      return FALSE;
    }
  return TRUE;
}

static void
set_arch_u32 (TailorGgufWriter *w, const char *arch, const char *suffix, guint32 v)
{
  g_autofree char *key = g_strdup_printf ("%s.%s", arch, suffix);

  tailor_gguf_writer_set_u32 (w, key, v);
}

static void
set_arch_f32 (TailorGgufWriter *w, const char *arch, const char *suffix, float v)
{
  g_autofree char *key = g_strdup_printf ("%s.%s", arch, suffix);

  tailor_gguf_writer_set_f32 (w, key, v);
}

gboolean
tailor_test_model_write (const TailorTestModelParams *params, const char *path, GError **error)
{
  g_autoptr (TailorGgufWriter) writer = NULL;
  g_autofree char *name = NULL;
  TailorTestModelParams p;
  Builder b;
  const char *arch;
  gboolean qwen2;
  guint head_dim;
  guint n_vocab;
  guint l;

  g_return_val_if_fail (params != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  tailor_test_model_params_resolve (params, &p);
  if (!check_params (&p, error))
    return FALSE;
  if (p.n_vocab < TAILOR_TEST_VOCAB_MIN)
    {
      g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                   "invalid test model parameters: a vocabulary of %u entries is too small; "
                   "the 256 byte tokens and 3 special tokens need at least %u",
                   p.n_vocab, TAILOR_TEST_VOCAB_MIN);
      return FALSE;
    }

  arch = tailor_arch_name (p.arch);
  qwen2 = p.arch == TAILOR_ARCH_QWEN2;
  head_dim = p.n_embd / p.n_head;
  writer = tailor_gguf_writer_new ();

  name = g_strdup_printf ("Tailor test %s %s", arch, tailor_ftype_name (p.ftype));
  tailor_gguf_writer_set_string (writer, "general.architecture", arch);
  tailor_gguf_writer_set_string (writer, "general.name", name);
  tailor_gguf_writer_set_string (writer, "general.license", "apache-2.0");
  tailor_gguf_writer_set_u32 (writer, "general.file_type", (guint32) p.ftype);

  n_vocab = tailor_test_vocab_write (p.vocab_kind, p.n_vocab, p.seed, writer);
  if (n_vocab != p.n_vocab)
    {
      g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                   "no vocabulary of kind %d could be built with %u entries; use SPM or BPE",
                   (int) p.vocab_kind, p.n_vocab);
      return FALSE;
    }

  set_arch_u32 (writer, arch, "vocab_size", n_vocab);
  set_arch_u32 (writer, arch, "context_length", p.n_ctx);
  set_arch_u32 (writer, arch, "embedding_length", p.n_embd);
  set_arch_u32 (writer, arch, "block_count", p.n_layer);
  set_arch_u32 (writer, arch, "feed_forward_length", p.n_ff);
  set_arch_u32 (writer, arch, "attention.head_count", p.n_head);
  set_arch_u32 (writer, arch, "attention.head_count_kv", p.n_head_kv);
  set_arch_u32 (writer, arch, "rope.dimension_count", head_dim);
  /* The values the real models of each family use. */
  set_arch_f32 (writer, arch, "rope.freq_base", qwen2 ? 1000000.0f : 10000.0f);
  set_arch_f32 (writer, arch, "attention.layer_norm_rms_epsilon", qwen2 ? 1e-6f : 1e-5f);

  b.writer = writer;
  b.p = &p;
  b.rng = p.seed;

  if (!add_tensor (&b, "token_embd.weight", INIT_WEIGHT, p.n_embd, n_vocab, -1, error))
    return FALSE;

  for (l = 0; l < p.n_layer; l++)
    {
      guint q_dim = p.n_head * head_dim;
      guint kv_dim = p.n_head_kv * head_dim;
      struct
      {
        const char *suffix;
        Init init;
        gint64 ne0;
        gint64 ne1;
        gboolean wanted;
      } map[] = {
        { "attn_norm.weight", INIT_NORM, p.n_embd, 0, TRUE },
        { "attn_q.weight", INIT_WEIGHT, p.n_embd, q_dim, TRUE },
        { "attn_q.bias", INIT_BIAS, q_dim, 0, qwen2 },
        { "attn_k.weight", INIT_WEIGHT, p.n_embd, kv_dim, TRUE },
        { "attn_k.bias", INIT_BIAS, kv_dim, 0, qwen2 },
        { "attn_v.weight", INIT_WEIGHT, p.n_embd, kv_dim, TRUE },
        { "attn_v.bias", INIT_BIAS, kv_dim, 0, qwen2 },
        { "attn_output.weight", INIT_WEIGHT, q_dim, p.n_embd, TRUE },
        { "ffn_norm.weight", INIT_NORM, p.n_embd, 0, TRUE },
        { "ffn_gate.weight", INIT_WEIGHT, p.n_embd, p.n_ff, TRUE },
        { "ffn_up.weight", INIT_WEIGHT, p.n_embd, p.n_ff, TRUE },
        { "ffn_down.weight", INIT_WEIGHT, p.n_ff, p.n_embd, TRUE },
      };
      guint j;

      for (j = 0; j < G_N_ELEMENTS (map); j++)
        {
          g_autofree char *tname = NULL;

          if (!map[j].wanted)
            continue;
          tname = g_strdup_printf ("blk.%u.%s", l, map[j].suffix);
          if (!add_tensor (&b, tname, map[j].init, map[j].ne0, map[j].ne1, (gint) l, error))
            return FALSE;
        }
    }

  if (!add_tensor (&b, "output_norm.weight", INIT_NORM, p.n_embd, 0, -1, error))
    return FALSE;
  if (!p.tied_output &&
      !add_tensor (&b, "output.weight", INIT_WEIGHT, p.n_embd, n_vocab, -1, error))
    return FALSE;

  return tailor_gguf_writer_write (writer, path, error);
}
