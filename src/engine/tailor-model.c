/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Loading a llama or qwen2 model from GGUF: hyper-parameters, tensor map and shape checks. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "tailor-model.h"

G_DEFINE_QUARK (tailor - model - error - quark, tailor_model_error)

static const char *const arch_names[] = {
  [TAILOR_ARCH_LLAMA] = "llama",
  [TAILOR_ARCH_QWEN2] = "qwen2",
};

const char *
tailor_arch_name (TailorArch arch)
{
  g_return_val_if_fail ((guint) arch < G_N_ELEMENTS (arch_names), NULL);
  return arch_names[arch];
}

gboolean
tailor_arch_from_name (const char *name, TailorArch *out)
{
  guint i;

  g_return_val_if_fail (name != NULL, FALSE);

  for (i = 0; i < G_N_ELEMENTS (arch_names); i++)
    if (strcmp (name, arch_names[i]) == 0)
      {
        if (out != NULL)
          *out = (TailorArch) i;
        return TRUE;
      }
  return FALSE;
}

/* State shared by the loading steps. */
typedef struct
{
  TailorGguf *gguf;
  const char *path;
  const char *arch;
} Loader;

static char *
arch_key (Loader *l, const char *suffix)
{
  return g_strdup_printf ("%s.%s", l->arch, suffix);
}

/* Turns a GGUF metadata error into a model error, keeping its message (which names the
 * file and the key). */
static void
set_hparams_error (GError **error, GError *gguf_error)
{
  g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS, "%s", gguf_error->message);
}

static gboolean
get_u32 (
  Loader *l, const char *suffix, gboolean required, guint32 def, guint32 *out, GError **error)
{
  g_autofree char *key = arch_key (l, suffix);
  g_autoptr (GError) local = NULL;
  gboolean ok;

  if (required && tailor_gguf_find_key (l->gguf, key) < 0)
    {
      g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                   "%s: the hyper-parameter “%s” is missing; the file was not written for %s "
                   "or is incomplete",
                   l->path, key, l->arch);
      return FALSE;
    }
  ok = tailor_gguf_lookup_u32 (l->gguf, key, def, out, &local);
  if (!ok)
    set_hparams_error (error, local);
  return ok;
}

static gboolean
get_f32 (Loader *l, const char *suffix, gboolean required, float def, float *out, GError **error)
{
  g_autofree char *key = arch_key (l, suffix);
  g_autoptr (GError) local = NULL;
  gboolean ok;

  if (required && tailor_gguf_find_key (l->gguf, key) < 0)
    {
      g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                   "%s: the hyper-parameter “%s” is missing; the file was not written for %s "
                   "or is incomplete",
                   l->path, key, l->arch);
      return FALSE;
    }
  ok = tailor_gguf_lookup_f32 (l->gguf, key, def, out, &local);
  if (!ok)
    set_hparams_error (error, local);
  return ok;
}

static gboolean
is_integer_type (TailorGgufValueType t)
{
  switch (t)
    {
      case TAILOR_GGUF_U8:
      case TAILOR_GGUF_I8:
      case TAILOR_GGUF_U16:
      case TAILOR_GGUF_I16:
      case TAILOR_GGUF_U32:
      case TAILOR_GGUF_I32:
      case TAILOR_GGUF_U64:
      case TAILOR_GGUF_I64:
        return TRUE;
      case TAILOR_GGUF_F32:
      case TAILOR_GGUF_BOOL:
      case TAILOR_GGUF_STRING:
      case TAILOR_GGUF_ARRAY:
      case TAILOR_GGUF_F64:
      default:
        return FALSE;
    }
}

/* A required per-layer hyper-parameter: either one u32 for all layers or an array of
 * n_layer integers. out receives n_layer values, each ≥ min_value. */
static gboolean
get_per_layer (
  Loader *l, const char *suffix, guint n_layer, guint32 min_value, guint32 *out, GError **error)
{
  g_autofree char *key = arch_key (l, suffix);
  gint idx = tailor_gguf_find_key (l->gguf, key);
  guint i;

  if (idx < 0)
    {
      g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                   "%s: the hyper-parameter “%s” is missing; the file was not written for %s "
                   "or is incomplete",
                   l->path, key, l->arch);
      return FALSE;
    }

  if (tailor_gguf_get_kv_type (l->gguf, idx) == TAILOR_GGUF_ARRAY)
    {
      guint64 n = tailor_gguf_get_arr_n (l->gguf, idx);

      if (!is_integer_type (tailor_gguf_get_arr_type (l->gguf, idx)) || n != n_layer)
        {
          g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                       "%s: the hyper-parameter “%s” is an array of %" G_GUINT64_FORMAT
                       " values%s; it must be one integer or %u integers (one per layer)",
                       l->path, key, n,
                       is_integer_type (tailor_gguf_get_arr_type (l->gguf, idx))
                         ? ""
                         : " that are not integers",
                       n_layer);
          return FALSE;
        }
      for (i = 0; i < n_layer; i++)
        {
          gint64 v = tailor_gguf_get_arr_i64 (l->gguf, idx, i);

          if (v < 0 || v > G_MAXUINT32)
            {
              g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                           "%s: the hyper-parameter “%s”[%u] = %" G_GINT64_FORMAT
                           " is out of range",
                           l->path, key, i, v);
              return FALSE;
            }
          out[i] = (guint32) v;
        }
    }
  else
    {
      g_autoptr (GError) local = NULL;
      guint32 v;

      if (!tailor_gguf_get_u32 (l->gguf, key, &v, &local))
        {
          set_hparams_error (error, local);
          return FALSE;
        }
      for (i = 0; i < n_layer; i++)
        out[i] = v;
    }

  for (i = 0; i < n_layer; i++)
    if (out[i] < min_value)
      {
        g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                     "%s: the hyper-parameter “%s” is %u for layer %u; it must be at least %u",
                     l->path, key, out[i], i, min_value);
        return FALSE;
      }
  return TRUE;
}

static gboolean hparams_error (GError **error, Loader *l, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

static gboolean
hparams_error (GError **error, Loader *l, const char *format, ...)
{
  g_autofree char *msg = NULL;
  va_list args;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS, "%s: %s", l->path, msg);
  return FALSE;
}

static gboolean
load_hparams (Loader *l, TailorHparams *hp, GError **error)
{
  g_autofree guint32 *n_head = NULL;
  g_autofree guint32 *n_head_kv = NULL;
  g_autofree guint32 *n_ff = NULL;
  g_autofree char *scaling_key = arch_key (l, "rope.scaling.type");
  g_autofree char *factor_key = arch_key (l, "rope.scaling.factor");
  g_autofree char *kv_key = NULL;
  g_autofree char *key_length_key = NULL;
  g_autoptr (GError) local = NULL;
  guint32 v;
  guint32 key_length;
  guint32 value_length;
  float rope_scale = 0.0f;
  const char *scaling_type = "linear";
  guint i;

  if (!get_u32 (l, "expert_count", FALSE, 0, &v, error))
    return FALSE;
  if (v > 0)
    return hparams_error (error, l,
                          "the model is a mixture of experts (%s.expert_count = %u), which "
                          "Tailor does not run yet; use a dense model",
                          l->arch, v);

  if (!get_u32 (l, "context_length", TRUE, 0, &hp->n_ctx_train, error) ||
      !get_u32 (l, "embedding_length", TRUE, 0, &hp->n_embd, error) ||
      !get_u32 (l, "block_count", TRUE, 0, &hp->n_layer, error))
    return FALSE;
  if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_ctx_train == 0)
    return hparams_error (error, l,
                          "%s.embedding_length (%u), %s.block_count (%u) and %s.context_length "
                          "(%u) must all be positive",
                          l->arch, hp->n_embd, l->arch, hp->n_layer, l->arch, hp->n_ctx_train);
  /* A sanity limit: it keeps later size arithmetic far from overflow. */
  if (hp->n_embd > (1u << 20) || hp->n_layer > 4096)
    return hparams_error (error, l,
                          "%s.embedding_length %u or %s.block_count %u is implausibly large",
                          l->arch, hp->n_embd, l->arch, hp->n_layer);

  n_head = g_new (guint32, hp->n_layer);
  n_head_kv = g_new (guint32, hp->n_layer);
  n_ff = g_new (guint32, hp->n_layer);
  if (!get_per_layer (l, "attention.head_count", hp->n_layer, 1, n_head, error) ||
      !get_per_layer (l, "feed_forward_length", hp->n_layer, 1, n_ff, error))
    return FALSE;
  /* head_count_kv defaults to head_count (no GQA), layer by layer. */
  kv_key = arch_key (l, "attention.head_count_kv");
  if (tailor_gguf_find_key (l->gguf, kv_key) < 0)
    memcpy (n_head_kv, n_head, hp->n_layer * sizeof (guint32));
  else if (!get_per_layer (l, "attention.head_count_kv", hp->n_layer, 1, n_head_kv, error))
    return FALSE;

  for (i = 0; i < hp->n_layer; i++)
    if (n_head[i] % n_head_kv[i] != 0 || n_head[i] > 65536 || n_ff[i] > (1u << 24))
      return hparams_error (
        error, l,
        "layer %u has %u attention heads, %u key/value heads and a feed-forward "
        "length of %u; the head count must be a multiple of the key/value "
        "head count",
        i, n_head[i], n_head_kv[i], n_ff[i]);

  key_length_key = arch_key (l, "attention.key_length");
  if (hp->n_embd % n_head[0] != 0 && tailor_gguf_find_key (l->gguf, key_length_key) < 0)
    return hparams_error (error, l,
                          "%s.embedding_length %u is not a multiple of the head count %u and "
                          "%s is absent, so the head size is unknown",
                          l->arch, hp->n_embd, n_head[0], key_length_key);
  if (!get_u32 (l, "attention.key_length", FALSE, hp->n_embd / n_head[0], &key_length, error) ||
      !get_u32 (l, "attention.value_length", FALSE, key_length, &value_length, error))
    return FALSE;
  if (key_length != value_length || key_length == 0 || key_length > 4096)
    return hparams_error (error, l,
                          "%s.attention.key_length %u and %s.attention.value_length %u must be "
                          "equal and between 1 and 4096",
                          l->arch, key_length, l->arch, value_length);
  hp->head_dim = key_length;

  if (!get_u32 (l, "rope.dimension_count", FALSE, hp->head_dim, &hp->n_rot, error))
    return FALSE;
  if (hp->n_rot % 2 != 0 || hp->n_rot > hp->head_dim)
    return hparams_error (error, l,
                          "%s.rope.dimension_count %u must be even and at most the head size %u",
                          l->arch, hp->n_rot, hp->head_dim);

  if (!get_f32 (l, "attention.layer_norm_rms_epsilon", TRUE, 0.0f, &hp->norm_eps, error) ||
      !get_f32 (l, "rope.freq_base", FALSE, 10000.0f, &hp->rope_freq_base, error))
    return FALSE;
  if (!(hp->norm_eps >= 0.0f && hp->norm_eps < 1.0f))
    return hparams_error (error, l, "%s.attention.layer_norm_rms_epsilon %g is not in [0, 1)",
                          l->arch, hp->norm_eps);
  if (!(hp->rope_freq_base > 0.0f) || isinf (hp->rope_freq_base))
    return hparams_error (error, l, "%s.rope.freq_base %g must be positive and finite", l->arch,
                          hp->rope_freq_base);

  /* As llama.cpp: the scaling type defaults to linear; the factor comes from
   * rope.scaling.factor, else the older rope.scale_linear; 0 or absent means none. */
  if (tailor_gguf_find_key (l->gguf, scaling_key) >= 0)
    {
      scaling_type = tailor_gguf_get_string (l->gguf, scaling_key, &local);
      if (scaling_type == NULL)
        {
          set_hparams_error (error, local);
          return FALSE;
        }
    }
  if (strcmp (scaling_type, "none") != 0 && strcmp (scaling_type, "linear") != 0)
    return hparams_error (error, l,
                          "%s is “%s”; Tailor supports only “none” and “linear” RoPE scaling",
                          scaling_key, scaling_type);
  if (tailor_gguf_find_key (l->gguf, factor_key) >= 0)
    {
      if (!get_f32 (l, "rope.scaling.factor", FALSE, 0.0f, &rope_scale, error))
        return FALSE;
    }
  else if (!get_f32 (l, "rope.scale_linear", FALSE, 0.0f, &rope_scale, error))
    return FALSE;
  if (rope_scale < 0.0f || isnan (rope_scale) || isinf (rope_scale))
    return hparams_error (error, l,
                          "the RoPE scaling factor %g of %s.rope.scaling.factor is not "
                          "a positive number",
                          rope_scale, l->arch);
  hp->rope_freq_scale =
    (rope_scale == 0.0f || strcmp (scaling_type, "none") == 0) ? 1.0f : 1.0f / rope_scale;

  hp->layers = g_new0 (TailorLayerHparams, hp->n_layer);
  for (i = 0; i < hp->n_layer; i++)
    {
      hp->layers[i].n_head = n_head[i];
      hp->layers[i].n_head_kv = n_head_kv[i];
      hp->layers[i].n_ff = n_ff[i];
    }
  return TRUE;
}

static char *
format_shape (const gint64 *ne, guint n_dims)
{
  GString *s = g_string_new ("[");
  guint i;

  for (i = 0; i < n_dims; i++)
    g_string_append_printf (s, i ? ", %" G_GINT64_FORMAT : "%" G_GINT64_FORMAT, ne[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static char *
supported_type_names (void)
{
  GString *s = g_string_new (NULL);
  int t;

  for (t = 0; t < TAILOR_TYPE_COUNT_; t++)
    {
      const TailorTypeInfo *info = tailor_type_get_info ((TailorType) t);

      if (info != NULL && info->can_dequantize)
        g_string_append_printf (s, s->len ? ", %s" : "%s", info->name);
    }
  return g_string_free (s, FALSE);
}

/* Finds a tensor and checks its shape {ne0, ne1} (ne1 0 for a vector) and type. Returns
 * NULL without error for an absent optional tensor (required FALSE). */
static const TailorGgufTensor *
get_tensor (Loader *l, const char *name, gboolean required, gint64 ne0, gint64 ne1, GError **error)
{
  const TailorGgufTensor *t = tailor_gguf_find_tensor (l->gguf, name);
  gint64 want[TAILOR_GGUF_MAX_DIMS] = { ne0, ne1 > 0 ? ne1 : 1, 1, 1 };
  guint want_dims = ne1 > 0 ? 2 : 1;
  const TailorTypeInfo *info;
  guint i;

  if (t == NULL)
    {
      if (required)
        g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_MISSING_TENSOR,
                     "%s: the tensor “%s” is missing; a %s model needs it (the file is "
                     "incomplete or was converted for another architecture)",
                     l->path, name, l->arch);
      return NULL;
    }

  for (i = 0; i < TAILOR_GGUF_MAX_DIMS; i++)
    {
      gint64 have = i < t->n_dims ? t->ne[i] : 1;

      if (have != want[i])
        {
          g_autofree char *have_s = format_shape (t->ne, MAX (t->n_dims, 1));
          g_autofree char *want_s = format_shape (want, want_dims);

          g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_SHAPE,
                       "%s: the tensor “%s” has shape %s but the %s hyper-parameters need %s; "
                       "the metadata and the weights do not belong together",
                       l->path, name, have_s, l->arch, want_s);
          return NULL;
        }
    }

  info = tailor_type_get_info (t->type);
  if (info == NULL || !info->can_dequantize)
    {
      g_autofree char *supported = supported_type_names ();

      g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_TYPE,
                   "%s: the tensor “%s” has type %s, which Tailor cannot compute with; "
                   "re-quantize the model to one of %s",
                   l->path, name, tailor_type_name (t->type), supported);
      return NULL;
    }
  return t;
}

static gboolean
load_tensors (Loader *l, TailorModel *m, GError **error)
{
  const TailorHparams *hp = &m->hp;
  gint64 n_embd = hp->n_embd;
  gint64 hd = hp->head_dim;
  guint i;

  m->tok_embd = get_tensor (l, "token_embd.weight", TRUE, n_embd, hp->n_vocab, error);
  if (m->tok_embd == NULL)
    return FALSE;
  m->output_norm = get_tensor (l, "output_norm.weight", TRUE, n_embd, 0, error);
  if (m->output_norm == NULL)
    return FALSE;

  /* Without output.weight the logits reuse the embedding matrix (tied embeddings). */
  m->hp.tied_output = tailor_gguf_find_tensor (l->gguf, "output.weight") == NULL;
  if (m->hp.tied_output)
    m->output = m->tok_embd;
  else
    {
      m->output = get_tensor (l, "output.weight", TRUE, n_embd, hp->n_vocab, error);
      if (m->output == NULL)
        return FALSE;
    }

  /* llama.cpp reads rope_freqs only for llama-family architectures. */
  if (hp->arch == TAILOR_ARCH_LLAMA &&
      tailor_gguf_find_tensor (l->gguf, "rope_freqs.weight") != NULL)
    {
      m->rope_freqs = get_tensor (l, "rope_freqs.weight", TRUE, hp->n_rot / 2, 0, error);
      if (m->rope_freqs == NULL)
        return FALSE;
    }

  m->layers = g_new0 (TailorLayerWeights, hp->n_layer);
  for (i = 0; i < hp->n_layer; i++)
    {
      TailorLayerWeights *w = &m->layers[i];
      const TailorLayerHparams *lh = &hp->layers[i];
      gint64 q_rows = (gint64) lh->n_head * hd;
      gint64 kv_rows = (gint64) lh->n_head_kv * hd;
      gboolean bias_required = hp->arch == TAILOR_ARCH_QWEN2;
      struct
      {
        const TailorGgufTensor **slot;
        const char *suffix;
        gboolean required;
        gint64 ne0;
        gint64 ne1;
      } map[] = {
        { &w->attn_norm, "attn_norm.weight", TRUE, n_embd, 0 },
        { &w->wq, "attn_q.weight", TRUE, n_embd, q_rows },
        { &w->wk, "attn_k.weight", TRUE, n_embd, kv_rows },
        { &w->wv, "attn_v.weight", TRUE, n_embd, kv_rows },
        { &w->wo, "attn_output.weight", TRUE, q_rows, n_embd },
        { &w->bq, "attn_q.bias", bias_required, q_rows, 0 },
        { &w->bk, "attn_k.bias", bias_required, kv_rows, 0 },
        { &w->bv, "attn_v.bias", bias_required, kv_rows, 0 },
        { &w->ffn_norm, "ffn_norm.weight", TRUE, n_embd, 0 },
        { &w->w_gate, "ffn_gate.weight", TRUE, n_embd, lh->n_ff },
        { &w->w_up, "ffn_up.weight", TRUE, n_embd, lh->n_ff },
        { &w->w_down, "ffn_down.weight", TRUE, lh->n_ff, n_embd },
      };
      guint j;

      for (j = 0; j < G_N_ELEMENTS (map); j++)
        {
          g_autofree char *name = g_strdup_printf ("blk.%u.%s", i, map[j].suffix);
          gboolean present = tailor_gguf_find_tensor (l->gguf, name) != NULL;

          *map[j].slot =
            get_tensor (l, name, map[j].required || present, map[j].ne0, map[j].ne1, error);
          if (*map[j].slot == NULL && (map[j].required || present))
            return FALSE;
        }
    }
  return TRUE;
}

static void
model_free (TailorModel *m)
{
  g_free (m->layers);
  g_free (m->hp.layers);
  g_clear_pointer (&m->gguf, tailor_gguf_unref);
  g_free (m);
}

TailorModel *
tailor_model_new_from_gguf (TailorGguf *gguf, GError **error)
{
  g_autoptr (GError) local = NULL;
  TailorModel *m;
  Loader l = { 0 };
  const char *arch_name;
  gint vocab_key;

  g_return_val_if_fail (gguf != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  l.gguf = gguf;
  l.path = tailor_gguf_get_path (gguf);

  if (tailor_gguf_find_key (gguf, "general.architecture") < 0)
    {
      g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                   "%s: the key “general.architecture” is missing, so the model type is "
                   "unknown; Tailor runs llama and qwen2 models",
                   l.path);
      return NULL;
    }
  arch_name = tailor_gguf_get_string (gguf, "general.architecture", &local);
  if (arch_name == NULL)
    {
      set_hparams_error (error, local);
      return NULL;
    }

  m = g_new0 (TailorModel, 1);
  m->ref_count = 1;
  m->gguf = tailor_gguf_ref (gguf);
  if (!tailor_arch_from_name (arch_name, &m->hp.arch))
    {
      g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_UNSUPPORTED_ARCH,
                   "%s: the architecture “%s” is not supported; Tailor runs llama and qwen2 "
                   "models",
                   l.path, arch_name);
      model_free (m);
      return NULL;
    }
  l.arch = tailor_arch_name (m->hp.arch);
  m->hp.rope_type = m->hp.arch == TAILOR_ARCH_QWEN2 ? TAILOR_ROPE_NEOX : TAILOR_ROPE_NORMAL;

  if (!load_hparams (&l, &m->hp, error))
    {
      model_free (m);
      return NULL;
    }

  {
    g_autofree char *key = arch_key (&l, "vocab_size");

    vocab_key = tailor_gguf_find_key (gguf, key);
    if (vocab_key >= 0)
      {
        if (!get_u32 (&l, "vocab_size", TRUE, 0, &m->hp.n_vocab, error))
          {
            model_free (m);
            return NULL;
          }
      }
    else
      {
        const TailorGgufTensor *embd = tailor_gguf_find_tensor (gguf, "token_embd.weight");

        if (embd == NULL)
          {
            g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_MISSING_TENSOR,
                         "%s: the tensor “token_embd.weight” is missing; a %s model needs it "
                         "(the file is incomplete or was converted for another architecture)",
                         l.path, l.arch);
            model_free (m);
            return NULL;
          }
        m->hp.n_vocab = embd->n_dims >= 2 && embd->ne[1] <= G_MAXINT32 ? (guint) embd->ne[1] : 0;
      }
    if (m->hp.n_vocab == 0)
      {
        g_set_error (error, TAILOR_MODEL_ERROR, TAILOR_MODEL_ERROR_HPARAMS,
                     "%s: the vocabulary size is 0 (from %s.vocab_size or token_embd.weight)",
                     l.path, l.arch);
        model_free (m);
        return NULL;
      }
  }

  if (!load_tensors (&l, m, error))
    {
      model_free (m);
      return NULL;
    }
  return m;
}

TailorModel *
tailor_model_load (const char *path, GError **error)
{
  g_autoptr (TailorGguf) gguf = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  gguf = tailor_gguf_open (path, error);
  if (gguf == NULL)
    return NULL;
  return tailor_model_new_from_gguf (gguf, error);
}

TailorModel *
tailor_model_ref (TailorModel *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
tailor_model_unref (TailorModel *self)
{
  g_return_if_fail (self != NULL);

  if (g_atomic_int_dec_and_test (&self->ref_count))
    model_free (self);
}

guint64
tailor_model_count_params (TailorModel *self)
{
  guint64 n = 0;
  guint i;

  g_return_val_if_fail (self != NULL, 0);

  for (i = 0; i < tailor_gguf_get_n_tensors (self->gguf); i++)
    n += (guint64) tailor_gguf_get_tensor (self->gguf, i)->n_elements;
  return n;
}
