/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tailor-cli inspect: what a GGUF file holds, read from its metadata and tensor table. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tailor-chat.h"
#include "tailor-cli-private.h"
#include "tailor-gguf.h"
#include "tailor-hash.h"
#include "tailor-model.h"
#include "tailor-quantize-model.h"

typedef struct
{
  TailorType type;
  guint n_tensors;
  guint64 n_bytes;
  guint64 n_elements;
} QuantShare;

typedef struct
{
  const char *suffix; /* of the "<arch>." key */
  const char *json_name;
  const char *label;
  gboolean found;
  gint64 value;
} Hparam;

static const char *
lookup_string (TailorGguf *gguf, const char *key)
{
  gint i = tailor_gguf_find_key (gguf, key);

  if (i < 0 || tailor_gguf_get_kv_type (gguf, i) != TAILOR_GGUF_STRING)
    return NULL;
  return tailor_gguf_get_val_str (gguf, i, NULL);
}

static gboolean
is_integer_type (TailorGgufValueType type)
{
  switch (type)
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

/* An integer key, or the largest entry of a per-layer array (head counts can vary by layer). */
static gboolean
lookup_count (TailorGguf *gguf, const char *key, gint64 *out)
{
  gint i = tailor_gguf_find_key (gguf, key);
  TailorGgufValueType type;

  if (i < 0)
    return FALSE;
  type = tailor_gguf_get_kv_type (gguf, i);
  if (is_integer_type (type))
    {
      *out = tailor_gguf_get_val_i64 (gguf, i);
      return TRUE;
    }
  if (type == TAILOR_GGUF_ARRAY && is_integer_type (tailor_gguf_get_arr_type (gguf, i)) &&
      tailor_gguf_get_arr_n (gguf, i) > 0)
    {
      gint64 max = G_MININT64;

      for (guint64 j = 0; j < tailor_gguf_get_arr_n (gguf, i); j++)
        max = MAX (max, tailor_gguf_get_arr_i64 (gguf, i, j));
      *out = max;
      return TRUE;
    }
  return FALSE;
}

static gint64
vocab_size (TailorGguf *gguf, const char *arch)
{
  g_autofree char *key = g_strdup_printf ("%s.vocab_size", arch != NULL ? arch : "");
  const TailorGgufTensor *embd;
  gint64 n = 0;
  gint i;

  if (arch != NULL && lookup_count (gguf, key, &n))
    return n;
  i = tailor_gguf_find_key (gguf, "tokenizer.ggml.tokens");
  if (i >= 0 && tailor_gguf_get_kv_type (gguf, i) == TAILOR_GGUF_ARRAY)
    return tailor_gguf_get_arr_n (gguf, i);
  embd = tailor_gguf_find_tensor (gguf, "token_embd.weight");
  if (embd != NULL && embd->n_dims == 2)
    return embd->ne[1];
  return -1;
}

static int
compare_shares (gconstpointer a, gconstpointer b)
{
  const QuantShare *x = a, *y = b;

  if (x->n_bytes != y->n_bytes)
    return x->n_bytes > y->n_bytes ? -1 : 1;
  return (int) x->type - (int) y->type;
}

/* Per type: how many tensors and bytes; largest share first. */
static GArray *
quant_mix (TailorGguf *gguf, guint64 *n_params)
{
  GArray *shares = g_array_new (FALSE, TRUE, sizeof (QuantShare));

  *n_params = 0;
  for (guint i = 0; i < tailor_gguf_get_n_tensors (gguf); i++)
    {
      const TailorGgufTensor *t = tailor_gguf_get_tensor (gguf, i);
      QuantShare *share = NULL;

      for (guint j = 0; j < shares->len && share == NULL; j++)
        if (g_array_index (shares, QuantShare, j).type == t->type)
          share = &g_array_index (shares, QuantShare, j);
      if (share == NULL)
        {
          QuantShare fresh = { t->type, 0, 0, 0 };

          g_array_append_val (shares, fresh);
          share = &g_array_index (shares, QuantShare, shares->len - 1);
        }
      share->n_tensors++;
      share->n_bytes += t->n_bytes;
      share->n_elements += t->n_elements;
      *n_params += t->n_elements;
    }
  g_array_sort (shares, compare_shares);
  return shares;
}

static void
show_hash_progress (guint64 done, guint64 total, gpointer user_data)
{
  guint percent = total > 0 ? (guint) (done * 100 / total) : 100;

  g_printerr ("\rComputing SHA-256… %3u%%", percent);
  if (done >= total)
    g_printerr ("\r%*s\r", 24, "");
}

static char *
format_count (guint64 n)
{
  if (n >= 1000000000)
    return g_strdup_printf ("%.2f B (%" G_GUINT64_FORMAT ")", n / 1e9, n);
  if (n >= 1000000)
    return g_strdup_printf ("%.2f M (%" G_GUINT64_FORMAT ")", n / 1e6, n);
  if (n >= 1000)
    return g_strdup_printf ("%.1f K (%" G_GUINT64_FORMAT ")", n / 1e3, n);
  return g_strdup_printf ("%" G_GUINT64_FORMAT, n);
}

static void
add_optional_string (JsonBuilder *b, const char *member, const char *value)
{
  json_builder_set_member_name (b, member);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_row (GPtrArray *rows, const char *label, char *value)
{
  g_ptr_array_add (rows, g_strdup (label));
  g_ptr_array_add (rows, value);
}

/* Labels in one column, values aligned in the next; continuation lines have an empty label. */
static void
print_rows (GPtrArray *rows)
{
  int width = 0;

  for (guint i = 0; i < rows->len; i += 2)
    width = MAX (width, (int) g_utf8_strlen (rows->pdata[i], -1));
  for (guint i = 0; i < rows->len; i += 2)
    {
      const char *label = rows->pdata[i];
      int pad = width - (int) g_utf8_strlen (label, -1);

      printf ("%s%*s  %s\n", label, pad, "", (const char *) rows->pdata[i + 1]);
    }
}

int
tailor_cli_inspect (int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON document", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = tailor_cli_context_new ("inspect", entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) gguf = NULL;
  g_autoptr (TailorModel) model = NULL;
  g_autoptr (GError) model_error = NULL;
  g_autoptr (GArray) shares = NULL;
  g_autofree char *path = NULL;
  g_autofree char *basename = NULL;
  g_autofree char *sha256 = NULL;
  g_autofree char *chat_name = NULL;
  const char *arch, *name, *tok_model, *tok_pre, *template_text;
  const char *license_id, *license_name, *license_link;
  const char *ftype_name = NULL;
  gint64 ftype_id = -1, n_vocab;
  guint64 n_params = 0;
  gboolean from_cache = FALSE;
  Hparam hparams[] = {
    { "context_length", "context_length", "Context length", FALSE, 0 },
    { "embedding_length", "embedding_length", "Embedding", FALSE, 0 },
    { "block_count", "block_count", "Layers", FALSE, 0 },
    { "attention.head_count", "head_count", "Heads", FALSE, 0 },
    { "attention.head_count_kv", "head_count_kv", "KV heads", FALSE, 0 },
    { "feed_forward_length", "feed_forward_length", "Feed-forward", FALSE, 0 },
  };

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc != 2)
    return tailor_cli_usage_error (context, argc < 2 ? "MODEL is missing"
                                                     : "expected one MODEL, got several arguments");

  path = g_canonicalize_filename (argv[1], NULL);
  basename = g_path_get_basename (path);
  gguf = tailor_gguf_open (argv[1], &error);
  if (gguf == NULL)
    return tailor_cli_fail (error);

  arch = lookup_string (gguf, "general.architecture");
  name = lookup_string (gguf, "general.name");
  tok_model = lookup_string (gguf, "tokenizer.ggml.model");
  tok_pre = lookup_string (gguf, "tokenizer.ggml.pre");
  template_text = lookup_string (gguf, "tokenizer.chat_template");
  license_id = lookup_string (gguf, "general.license");
  license_name = lookup_string (gguf, "general.license.name");
  license_link = lookup_string (gguf, "general.license.link");
  if (lookup_count (gguf, "general.file_type", &ftype_id))
    ftype_name = tailor_ftype_name ((TailorFileType) ftype_id);
  for (guint i = 0; i < G_N_ELEMENTS (hparams); i++)
    {
      g_autofree char *key = g_strdup_printf ("%s.%s", arch != NULL ? arch : "", hparams[i].suffix);

      hparams[i].found = arch != NULL && lookup_count (gguf, key, &hparams[i].value);
    }
  n_vocab = vocab_size (gguf, arch);
  shares = quant_mix (gguf, &n_params);
  if (template_text != NULL)
    chat_name = g_strdup (tailor_chat_family_name (tailor_chat_family_detect (template_text)));

  /* Whether Tailor can run it: the model loader checks hyper-parameters and every tensor. */
  model = tailor_model_new_from_gguf (gguf, &model_error);

  sha256 = tailor_file_sha256_cached (
    argv[1], NULL, isatty (STDERR_FILENO) ? show_hash_progress : NULL, NULL, &from_cache, &error);
  if (sha256 == NULL)
    return tailor_cli_fail (error);

  if (json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();

      json_builder_begin_object (b);
      add_optional_string (b, "file", basename);
      add_optional_string (b, "path", path);
      json_builder_set_member_name (b, "size");
      json_builder_add_int_value (b, tailor_gguf_get_file_size (gguf));
      json_builder_set_member_name (b, "gguf_version");
      json_builder_add_int_value (b, tailor_gguf_get_version (gguf));
      add_optional_string (b, "name", name);
      add_optional_string (b, "architecture", arch);
      json_builder_set_member_name (b, "supported");
      json_builder_add_boolean_value (b, model != NULL);
      add_optional_string (b, "unsupported_reason", model_error ? model_error->message : NULL);
      json_builder_set_member_name (b, "parameters");
      json_builder_add_int_value (b, n_params);
      json_builder_set_member_name (b, "tensors");
      json_builder_add_int_value (b, tailor_gguf_get_n_tensors (gguf));
      add_optional_string (b, "file_type", ftype_name);
      json_builder_set_member_name (b, "file_type_id");
      if (ftype_id >= 0)
        json_builder_add_int_value (b, ftype_id);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "quantization");
      json_builder_begin_array (b);
      for (guint i = 0; i < shares->len; i++)
        {
          const QuantShare *s = &g_array_index (shares, QuantShare, i);

          json_builder_begin_object (b);
          add_optional_string (b, "type", tailor_type_name (s->type));
          json_builder_set_member_name (b, "tensors");
          json_builder_add_int_value (b, s->n_tensors);
          json_builder_set_member_name (b, "bytes");
          json_builder_add_int_value (b, s->n_bytes);
          json_builder_set_member_name (b, "parameters");
          json_builder_add_int_value (b, s->n_elements);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      for (guint i = 0; i < G_N_ELEMENTS (hparams); i++)
        {
          json_builder_set_member_name (b, hparams[i].json_name);
          if (hparams[i].found)
            json_builder_add_int_value (b, hparams[i].value);
          else
            json_builder_add_null_value (b);
        }
      json_builder_set_member_name (b, "vocab_size");
      if (n_vocab >= 0)
        json_builder_add_int_value (b, n_vocab);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "tokenizer");
      json_builder_begin_object (b);
      add_optional_string (b, "model", tok_model);
      add_optional_string (b, "pre", tok_pre);
      json_builder_end_object (b);
      add_optional_string (b, "chat_template", chat_name);
      json_builder_set_member_name (b, "license");
      json_builder_begin_object (b);
      add_optional_string (b, "id", license_id);
      add_optional_string (b, "name", license_name);
      add_optional_string (b, "link", license_link);
      json_builder_end_object (b);
      add_optional_string (b, "sha256", sha256);
      json_builder_set_member_name (b, "sha256_from_cache");
      json_builder_add_boolean_value (b, from_cache);
      json_builder_end_object (b);
      if (!tailor_cli_print_json (b, TRUE))
        return TAILOR_CLI_EXIT_ERROR;
    }
  else
    {
      g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (g_free);
      g_autofree char *size = g_format_size (tailor_gguf_get_file_size (gguf));

      add_row (rows, "File", g_strdup (basename));
      add_row (rows, "Path", g_strdup (path));
      add_row (
        rows, "Size",
        g_strdup_printf ("%s (%" G_GSIZE_FORMAT " bytes)", size, tailor_gguf_get_file_size (gguf)));
      add_row (rows, "Name", g_strdup (name != NULL ? name : "—"));
      add_row (rows, "Architecture",
               g_strdup_printf ("%s%s", arch != NULL ? arch : "—",
                                model != NULL ? "" : " (Tailor cannot run this model)"));
      if (model == NULL)
        add_row (rows, "", g_strdup (model_error->message));
      add_row (rows, "Parameters", format_count (n_params));
      if (ftype_id >= 0)
        add_row (rows, "File type",
                 ftype_name != NULL ? g_strdup (ftype_name)
                                    : g_strdup_printf ("%" G_GINT64_FORMAT, ftype_id));
      for (guint i = 0; i < shares->len; i++)
        {
          const QuantShare *s = &g_array_index (shares, QuantShare, i);
          g_autofree char *bytes = g_format_size (s->n_bytes);

          add_row (rows, i == 0 ? "Quantization" : "",
                   g_strdup_printf ("%-6s %5u tensors  %10s", tailor_type_name (s->type),
                                    s->n_tensors, bytes));
        }
      for (guint i = 0; i < G_N_ELEMENTS (hparams); i++)
        if (hparams[i].found)
          add_row (rows, hparams[i].label, g_strdup_printf ("%" G_GINT64_FORMAT, hparams[i].value));
      if (n_vocab >= 0)
        add_row (rows, "Vocabulary",
                 g_strdup_printf ("%" G_GINT64_FORMAT " tokens (%s%s%s)", n_vocab,
                                  tok_model != NULL ? tok_model : "no tokenizer",
                                  tok_pre != NULL ? ", pre-tokenizer " : "",
                                  tok_pre != NULL ? tok_pre : ""));
      add_row (rows, "Chat template", g_strdup (chat_name != NULL ? chat_name : "none"));
      add_row (rows, "License",
               g_strdup_printf (
                 "%s%s%s%s%s", license_id != NULL ? license_id : "not stated",
                 license_name != NULL ? " — " : "", license_name != NULL ? license_name : "",
                 license_link != NULL ? " — " : "", license_link != NULL ? license_link : ""));
      add_row (rows, "SHA-256", g_strdup_printf ("%s%s", sha256, from_cache ? " (cached)" : ""));
      print_rows (rows);
    }

  return TAILOR_CLI_EXIT_OK;
}
