/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorModelFacts: metadata, tensor-type mix and whether the model loader accepts the file. */
#include "config.h"

#include <sys/stat.h>

#include "tailor-chat.h"
#include "tailor-gguf.h"
#include "tailor-model-facts.h"
#include "tailor-model.h"
#include "tailor-quantize-model.h"

typedef struct
{
  TailorType type;
  guint64 n_bytes;
} Share;

void
tailor_model_facts_free (TailorModelFacts *self)
{
  if (self == NULL)
    return;
  g_free (self->path);
  g_free (self->file_name);
  g_free (self->unsupported_reason);
  g_free (self->name);
  g_free (self->architecture);
  g_free (self->file_type);
  g_free (self->quantization);
  g_free (self->chat_template);
  g_free (self->license);
  g_free (self);
}

static char *
dup_string (TailorGguf *gguf, const char *key)
{
  gint i = tailor_gguf_find_key (gguf, key);

  if (i < 0 || tailor_gguf_get_kv_type (gguf, i) != TAILOR_GGUF_STRING)
    return NULL;
  return g_strdup (tailor_gguf_get_val_str (gguf, i, NULL));
}

static gboolean
lookup_int (TailorGguf *gguf, const char *key, gint64 *out)
{
  gint i = tailor_gguf_find_key (gguf, key);

  if (i < 0)
    return FALSE;
  switch (tailor_gguf_get_kv_type (gguf, i))
    {
    case TAILOR_GGUF_U8:
    case TAILOR_GGUF_I8:
    case TAILOR_GGUF_U16:
    case TAILOR_GGUF_I16:
    case TAILOR_GGUF_U32:
    case TAILOR_GGUF_I32:
    case TAILOR_GGUF_U64:
    case TAILOR_GGUF_I64:
      *out = tailor_gguf_get_val_i64 (gguf, i);
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

static int
compare_shares (gconstpointer a, gconstpointer b)
{
  const Share *x = a, *y = b;

  if (x->n_bytes != y->n_bytes)
    return x->n_bytes > y->n_bytes ? -1 : 1;
  return (int) x->type - (int) y->type;
}

static char *
quantization_mix (TailorGguf *gguf, guint64 *n_params)
{
  g_autoptr (GArray) shares = g_array_new (FALSE, TRUE, sizeof (Share));
  GString *text = g_string_new (NULL);
  guint64 total = 0;

  *n_params = 0;
  for (guint i = 0; i < tailor_gguf_get_n_tensors (gguf); i++)
    {
      const TailorGgufTensor *t = tailor_gguf_get_tensor (gguf, i);
      Share *share = NULL;

      for (guint j = 0; j < shares->len && share == NULL; j++)
        if (g_array_index (shares, Share, j).type == t->type)
          share = &g_array_index (shares, Share, j);
      if (share == NULL)
        {
          Share fresh = { t->type, 0 };

          g_array_append_val (shares, fresh);
          share = &g_array_index (shares, Share, shares->len - 1);
        }
      share->n_bytes += t->n_bytes;
      total += t->n_bytes;
      *n_params += t->n_elements;
    }
  g_array_sort (shares, compare_shares);
  for (guint i = 0; i < shares->len; i++)
    {
      const Share *s = &g_array_index (shares, Share, i);
      double percent = total > 0 ? 100.0 * s->n_bytes / total : 0.0;
      g_autofree char *type = g_ascii_strup (tailor_type_name (s->type), -1);

      if (text->len > 0)
        g_string_append (text, ", ");
      if (percent >= 1.0 || percent == 0.0)
        g_string_append_printf (text, "%s %.0f %%", type, percent);
      else
        g_string_append_printf (text, "%s <1 %%", type);
    }
  return g_string_free (text, FALSE);
}

TailorModelFacts *
tailor_model_facts_read (const char *path)
{
  g_autoptr (TailorModelFacts) facts = g_new0 (TailorModelFacts, 1);
  g_autoptr (TailorGguf) gguf = NULL;
  g_autoptr (TailorModel) model = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *template_text = NULL;
  g_autofree char *license_name = NULL;
  g_autofree char *ctx_key = NULL;
  gint64 ftype = -1;
  struct stat st;

  g_return_val_if_fail (path != NULL, NULL);

  facts->path = g_strdup (path);
  facts->file_name = g_path_get_basename (path);
  facts->context_length = -1;
  if (stat (path, &st) == 0)
    facts->size = st.st_size;

  gguf = tailor_gguf_open (path, &error);
  if (gguf == NULL)
    {
      facts->unsupported_reason = g_strdup (error->message);
      return g_steal_pointer (&facts);
    }
  facts->is_gguf = TRUE;
  facts->name = dup_string (gguf, "general.name");
  facts->architecture = dup_string (gguf, "general.architecture");
  if (lookup_int (gguf, "general.file_type", &ftype) && tailor_ftype_name (ftype) != NULL)
    facts->file_type = g_strdup (tailor_ftype_name (ftype));
  facts->quantization = quantization_mix (gguf, &facts->n_params);
  ctx_key = g_strdup_printf ("%s.context_length",
                             facts->architecture != NULL ? facts->architecture : "");
  if (!lookup_int (gguf, ctx_key, &facts->context_length))
    facts->context_length = -1;
  template_text = dup_string (gguf, "tokenizer.chat_template");
  if (template_text != NULL)
    facts->chat_template =
      g_strdup (tailor_chat_family_name (tailor_chat_family_detect (template_text)));
  facts->license = dup_string (gguf, "general.license");
  license_name = dup_string (gguf, "general.license.name");
  if (facts->license != NULL && license_name != NULL)
    {
      char *both = g_strdup_printf ("%s (%s)", facts->license, license_name);

      g_free (facts->license);
      facts->license = both;
    }
  else if (license_name != NULL)
    facts->license = g_steal_pointer (&license_name);

  /* The loader checks the architecture, every hyper-parameter and every tensor's type and
   * shape: what it refuses, training would refuse too. */
  model = tailor_model_new_from_gguf (gguf, &error);
  facts->supported = model != NULL;
  if (model == NULL)
    facts->unsupported_reason = g_strdup (error->message);
  return g_steal_pointer (&facts);
}
