/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Documents step work: rebuilds a version from its source files (so that a changed hygiene
 * choice reaches the original text) as a version derived from the current one, and reports. */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-chat.h"
#include "tailor-documents-work.h"
#include "tailor-gguf.h"
#include "tailor-tokenizer.h"

#define CHOICES_FILE "choices.json"
#define GLOSSARY_FILE "glossary.tsv"
#define PREVIEW_CHARS 60
#define MAX_DUPLICATE_SAMPLES 5
#define MAX_PII_SAMPLES_PER_KIND 3

TailorDocsSource *
tailor_docs_source_new (const char *path, const char *license, gboolean counter)
{
  TailorDocsSource *source = g_new0 (TailorDocsSource, 1);

  g_return_val_if_fail (path != NULL, NULL);

  source->path = g_strdup (path);
  source->license = g_strdup (license);
  source->counter = counter;
  return source;
}

void
tailor_docs_source_free (TailorDocsSource *source)
{
  if (source == NULL)
    return;
  g_free (source->path);
  g_free (source->license);
  g_free (source);
}

void
tailor_docs_term_free (TailorDocsTerm *term)
{
  if (term == NULL)
    return;
  g_free (term->variant);
  g_free (term->preferred);
  g_free (term);
}

/* ------------------------------------------------------------------------------------------ */
/* Choices and glossary */

char *
tailor_docs_project_dir (TailorCatalogue *catalogue, const TailorProject *project)
{
  g_autofree char *name = NULL;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (catalogue), NULL);
  g_return_val_if_fail (project != NULL, NULL);

  /* The creation time makes the folder unique even if a deleted project's id is reused. */
  name = g_strdup_printf ("%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT, project->id, project->created);
  return g_build_filename (tailor_catalogue_get_dir (catalogue), "documents", name, NULL);
}

static void
choices_init (TailorDocsChoices *choices)
{
  for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
    choices->pii[k] = TAILOR_PII_ACTION_REDACT;
  choices->counter_paths = g_ptr_array_new_with_free_func (g_free);
}

void
tailor_docs_choices_free (TailorDocsChoices *choices)
{
  if (choices == NULL)
    return;
  g_free (choices->current_version);
  g_clear_pointer (&choices->counter_paths, g_ptr_array_unref);
  g_free (choices);
}

TailorDocsChoices *
tailor_docs_choices_load (const char *project_dir, GError **error)
{
  g_autoptr (TailorDocsChoices) choices = g_new0 (TailorDocsChoices, 1);
  g_autofree char *path = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  JsonObject *root;

  g_return_val_if_fail (project_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  choices_init (choices);
  path = g_build_filename (project_dir, CHOICES_FILE, NULL);
  if (!json_parser_load_from_file (parser, path, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&choices);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Cannot read the document choices in “%s”: %s. Move the file away to start "
                   "from the defaults.",
                   path, local_error->message);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "The document choices in “%s” are not a JSON object. Move the file away to "
                   "start from the defaults.",
                   path);
      return NULL;
    }
  root = json_node_get_object (json_parser_get_root (parser));
  if (json_object_has_member (root, "current_version") &&
      JSON_NODE_HOLDS_VALUE (json_object_get_member (root, "current_version")))
    choices->current_version = g_strdup (json_object_get_string_member (root, "current_version"));
  if (json_object_has_member (root, "pii") &&
      JSON_NODE_HOLDS_OBJECT (json_object_get_member (root, "pii")))
    {
      JsonObject *pii = json_object_get_object_member (root, "pii");

      for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
        {
          const char *name = tailor_pii_kind_to_string (k);
          TailorPiiAction action;

          if (json_object_has_member (pii, name) &&
              JSON_NODE_HOLDS_VALUE (json_object_get_member (pii, name)) &&
              tailor_pii_action_from_string (json_object_get_string_member (pii, name), &action))
            choices->pii[k] = action;
        }
    }
  if (json_object_has_member (root, "counter_sources") &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (root, "counter_sources")))
    {
      JsonArray *paths = json_object_get_array_member (root, "counter_sources");

      for (guint i = 0; i < json_array_get_length (paths); i++)
        {
          JsonNode *node = json_array_get_element (paths, i);

          if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_string (node) != NULL)
            g_ptr_array_add (choices->counter_paths, g_strdup (json_node_get_string (node)));
        }
    }
  return g_steal_pointer (&choices);
}

gboolean
tailor_docs_choices_save (const TailorDocsChoices *choices, const char *project_dir, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;

  g_return_val_if_fail (choices != NULL, FALSE);
  g_return_val_if_fail (project_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "current_version");
  if (choices->current_version != NULL)
    json_builder_add_string_value (b, choices->current_version);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "pii");
  json_builder_begin_object (b);
  for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
    {
      json_builder_set_member_name (b, tailor_pii_kind_to_string (k));
      json_builder_add_string_value (b, tailor_pii_action_to_string (choices->pii[k]));
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "counter_sources");
  json_builder_begin_array (b);
  for (guint i = 0; i < choices->counter_paths->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (choices->counter_paths, i));
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  text = json_to_string (root, TRUE);

  if (g_mkdir_with_parents (project_dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Cannot create the folder “%s”: %s.", project_dir, g_strerror (saved));
      return FALSE;
    }
  path = g_build_filename (project_dir, CHOICES_FILE, NULL);
  return g_file_set_contents (path, text, -1, error);
}

gboolean
tailor_docs_choices_is_counter (const TailorDocsChoices *choices, const char *path)
{
  g_return_val_if_fail (choices != NULL, FALSE);

  for (guint i = 0; i < choices->counter_paths->len; i++)
    if (g_strcmp0 (g_ptr_array_index (choices->counter_paths, i), path) == 0)
      return TRUE;
  return FALSE;
}

void
tailor_docs_choices_set_counter (TailorDocsChoices *choices, const char *path, gboolean counter)
{
  g_return_if_fail (choices != NULL);
  g_return_if_fail (path != NULL);

  for (guint i = choices->counter_paths->len; i > 0; i--)
    if (g_strcmp0 (g_ptr_array_index (choices->counter_paths, i - 1), path) == 0)
      g_ptr_array_remove_index (choices->counter_paths, i - 1);
  if (counter)
    g_ptr_array_add (choices->counter_paths, g_strdup (path));
}

GPtrArray *
tailor_docs_glossary_load (const char *project_dir, GError **error)
{
  g_autoptr (GPtrArray) terms =
    g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_docs_term_free);
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (GError) local_error = NULL;
  g_auto (GStrv) lines = NULL;

  g_return_val_if_fail (project_dir != NULL, NULL);

  path = g_build_filename (project_dir, GLOSSARY_FILE, NULL);
  if (!g_file_get_contents (path, &contents, NULL, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&terms);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = NULL;
      TailorDocsTerm *term;

      if (lines[i][0] == '\0' || lines[i][0] == '#')
        continue;
      fields = g_strsplit (lines[i], "\t", 3);
      if (g_strv_length (fields) < 2)
        continue;
      term = g_new0 (TailorDocsTerm, 1);
      term->variant = g_strdup (fields[0]);
      term->preferred = g_strdup (fields[1]);
      g_ptr_array_add (terms, term);
    }
  return g_steal_pointer (&terms);
}

static gboolean
check_term (const char *text, GError **error)
{
  if (strpbrk (text, "\t\r\n") != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "The term “%s” contains a tab or a line break; write it on one line.", text);
      return FALSE;
    }
  return TRUE;
}

gboolean
tailor_docs_glossary_save (GPtrArray *terms, const char *project_dir, GError **error)
{
  g_autoptr (TailorGlossary) check = tailor_glossary_new ();
  g_autoptr (GString) text = g_string_new ("# Tailor glossary: variant<TAB>preferred term\n");
  g_autofree char *path = NULL;

  g_return_val_if_fail (terms != NULL, FALSE);
  g_return_val_if_fail (project_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  for (guint i = 0; i < terms->len; i++)
    {
      const TailorDocsTerm *term = g_ptr_array_index (terms, i);

      if (!check_term (term->variant, error) || !check_term (term->preferred, error) ||
          !tailor_glossary_add (check, term->variant, term->preferred, FALSE, error))
        return FALSE;
      g_string_append_printf (text, "%s\t%s\n", term->variant, term->preferred);
    }
  if (g_mkdir_with_parents (project_dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Cannot create the folder “%s”: %s.", project_dir, g_strerror (saved));
      return FALSE;
    }
  path = g_build_filename (project_dir, GLOSSARY_FILE, NULL);
  return g_file_set_contents (path, text->str, text->len, error);
}

char *
tailor_docs_glossary_path (const char *project_dir)
{
  g_autoptr (GPtrArray) terms = tailor_docs_glossary_load (project_dir, NULL);

  if (terms == NULL || terms->len == 0)
    return NULL;
  return g_build_filename (project_dir, GLOSSARY_FILE, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Requests and reports */

TailorDocsBuildRequest *
tailor_docs_build_request_new (void)
{
  TailorDocsBuildRequest *request = g_new0 (TailorDocsBuildRequest, 1);

  request->sources = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_docs_source_free);
  for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
    request->pii[k] = TAILOR_PII_ACTION_REDACT;
  return request;
}

void
tailor_docs_build_request_free (TailorDocsBuildRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->catalogue_dir);
  g_free (request->project_name);
  g_free (request->project_dir);
  g_free (request->parent);
  g_clear_pointer (&request->sources, g_ptr_array_unref);
  g_free (request->glossary_path);
  g_free (request->reason);
  g_free (request->model_path);
  g_free (request);
}

static void
reject_free (TailorDocsReject *reject)
{
  g_free (reject->file);
  g_free (reject->unit);
  g_free (reject->reason);
  g_free (reject->message);
  g_free (reject->preview);
  g_free (reject);
}

static void
failure_free (TailorDocsFailure *failure)
{
  g_free (failure->file);
  g_free (failure->message);
  g_free (failure);
}

static void
duplicate_free (TailorDocsDuplicate *duplicate)
{
  g_free (duplicate->preview);
  g_free (duplicate->where);
  g_free (duplicate->keeper);
  g_free (duplicate);
}

static void
pii_sample_free (TailorDocsPiiSample *sample)
{
  g_free (sample->preview);
  g_free (sample->where);
  g_free (sample);
}

static TailorDocsReport *
report_new (void)
{
  TailorDocsReport *report = g_new0 (TailorDocsReport, 1);

  report->rejects = g_ptr_array_new_with_free_func ((GDestroyNotify) reject_free);
  report->failures = g_ptr_array_new_with_free_func ((GDestroyNotify) failure_free);
  report->duplicates = g_ptr_array_new_with_free_func ((GDestroyNotify) duplicate_free);
  report->pii_samples = g_ptr_array_new_with_free_func ((GDestroyNotify) pii_sample_free);
  return report;
}

void
tailor_docs_report_free (TailorDocsReport *report)
{
  if (report == NULL)
    return;
  g_clear_pointer (&report->version, tailor_dataset_version_free);
  g_clear_pointer (&report->rejects, g_ptr_array_unref);
  g_clear_pointer (&report->failures, g_ptr_array_unref);
  g_clear_pointer (&report->duplicates, g_ptr_array_unref);
  g_clear_pointer (&report->pii_samples, g_ptr_array_unref);
  g_free (report->tokenizer_name);
  g_free (report->edges);
  g_free (report->counts);
  g_free (report->leak_message);
  g_free (report->frozen_version);
  g_free (report);
}

/* ------------------------------------------------------------------------------------------ */
/* Token counting: the pinned model's tokenizer and chat template, else the estimate. */

typedef struct
{
  TailorGguf *gguf;
  TailorTokenizer *tokenizer;
  TailorChatStyle style;
  GArray *ids;
  GArray *mask;
  char *name;
} TokenCounter;

static void
token_counter_clear (TokenCounter *counter)
{
  g_clear_pointer (&counter->tokenizer, tailor_tokenizer_free);
  g_clear_pointer (&counter->gguf, tailor_gguf_unref);
  g_clear_pointer (&counter->ids, g_array_unref);
  g_clear_pointer (&counter->mask, g_array_unref);
  g_clear_pointer (&counter->name, g_free);
}

/* A model that cannot be read only costs the exact count: the estimate stands in. */
static void
token_counter_init (TokenCounter *counter, const char *model_path)
{
  gint key;

  memset (counter, 0, sizeof *counter);
  counter->ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  counter->mask = g_array_new (FALSE, FALSE, sizeof (guint8));
  if (model_path == NULL)
    return;
  counter->gguf = tailor_gguf_open (model_path, NULL);
  if (counter->gguf == NULL)
    return;
  counter->tokenizer = tailor_tokenizer_new_from_gguf (counter->gguf, NULL);
  if (counter->tokenizer == NULL)
    return;
  counter->style = tailor_chat_style_for_gguf (counter->gguf, NULL);
  key = tailor_gguf_find_key (counter->gguf, "general.name");
  if (key >= 0 && tailor_gguf_get_kv_type (counter->gguf, key) == TAILOR_GGUF_STRING)
    counter->name = g_strdup (tailor_gguf_get_val_str (counter->gguf, key, NULL));
  else
    counter->name = g_path_get_basename (model_path);
}

static guint
estimate_tokens (guint64 chars)
{
  return (guint) MIN (ceil (chars / TAILOR_DOCS_CHARS_PER_TOKEN), (double) G_MAXUINT);
}

static guint
count_text_tokens (const char *text, gpointer user_data)
{
  TokenCounter *counter = user_data;

  if (counter->tokenizer == NULL)
    return estimate_tokens (g_utf8_strlen (text, -1));
  g_array_set_size (counter->ids, 0);
  tailor_tokenizer_encode (counter->tokenizer, text, -1, TAILOR_TOKENIZE_NONE, counter->ids);
  return counter->ids->len;
}

static guint
count_example_tokens (const TailorExample *example, gpointer user_data)
{
  TokenCounter *counter = user_data;
  guint64 chars = 0;

  if (counter->tokenizer != NULL)
    {
      g_array_set_size (counter->ids, 0);
      if (example->kind == TAILOR_EXAMPLE_TEXT)
        {
          tailor_tokenizer_encode (counter->tokenizer, example->text, -1,
                                   TAILOR_TOKENIZE_ADD_SPECIAL, counter->ids);
          return counter->ids->len;
        }
      else
        {
          g_autofree TailorChatMessage *msgs = g_new0 (TailorChatMessage, example->messages->len);

          g_array_set_size (counter->mask, 0);
          for (guint i = 0; i < example->messages->len; i++)
            {
              const TailorMessage *m = &g_array_index (example->messages, TailorMessage, i);

              msgs[i].role = m->role;
              msgs[i].content = m->content;
            }
          if (tailor_chat_render_tokens_style (counter->tokenizer, counter->style, msgs,
                                               example->messages->len, FALSE, counter->ids,
                                               counter->mask, NULL))
            return counter->ids->len;
        }
    }
  if (example->kind == TAILOR_EXAMPLE_TEXT)
    chars = g_utf8_strlen (example->text, -1);
  else
    for (guint i = 0; i < example->messages->len; i++)
      chars += g_utf8_strlen (g_array_index (example->messages, TailorMessage, i).content, -1);
  return estimate_tokens (chars);
}

/* The model's context when it is shorter than the default sequence length: a run cannot use
 * more. */
static guint
sequence_length_for (TokenCounter *counter)
{
  gint arch_key;
  guint32 context = 0;
  g_autofree char *key = NULL;

  if (counter->gguf == NULL)
    return TAILOR_DOCS_DEFAULT_SEQUENCE_LENGTH;
  arch_key = tailor_gguf_find_key (counter->gguf, "general.architecture");
  if (arch_key < 0 || tailor_gguf_get_kv_type (counter->gguf, arch_key) != TAILOR_GGUF_STRING)
    return TAILOR_DOCS_DEFAULT_SEQUENCE_LENGTH;
  key = g_strdup_printf ("%s.context_length",
                         tailor_gguf_get_val_str (counter->gguf, arch_key, NULL));
  if (!tailor_gguf_get_u32 (counter->gguf, key, &context, NULL) || context == 0)
    return TAILOR_DOCS_DEFAULT_SEQUENCE_LENGTH;
  return MIN (context, TAILOR_DOCS_DEFAULT_SEQUENCE_LENGTH);
}

/* ------------------------------------------------------------------------------------------ */
/* Previews that never show a secret */

static char *
clip_preview (const char *text)
{
  g_autoptr (GArray) spans = tailor_pii_scan_text (text, NULL);
  g_autofree char *redacted = tailor_pii_redact_text (text, spans, NULL);
  GString *out = g_string_new (NULL);
  gboolean space = FALSE;
  guint n = 0;

  for (const char *p = redacted; *p != '\0' && n < PREVIEW_CHARS; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c) || g_unichar_iscntrl (c))
        {
          space = out->len > 0;
          continue;
        }
      if (space)
        {
          g_string_append_c (out, ' ');
          n++;
          space = FALSE;
        }
      g_string_append_unichar (out, c);
      n++;
    }
  if (n >= PREVIEW_CHARS)
    g_string_append (out, "…");
  return g_string_free (out, FALSE);
}

static char *
example_preview (const TailorExample *example)
{
  g_autoptr (GString) text = g_string_new (NULL);

  if (example->kind == TAILOR_EXAMPLE_TEXT)
    g_string_append (text, example->text);
  else
    for (guint i = 0; i < example->messages->len; i++)
      {
        const TailorMessage *m = &g_array_index (example->messages, TailorMessage, i);

        if (g_strcmp0 (m->role, "system") == 0)
          continue;
        if (text->len > 0)
          g_string_append (text, " → ");
        g_string_append (text, m->content);
      }
  return clip_preview (text->str);
}

static char *
example_where (const TailorExample *example)
{
  g_autofree char *name = example->source != NULL ? g_path_get_basename (example->source) : NULL;

  return g_strdup_printf ("%s:%" G_GUINT64_FORMAT, name != NULL ? name : "?", example->line);
}

/* Samples from the imported examples: findings as the scanner masks them, and duplicates as they
 * look after the chosen redaction. */
static gboolean
collect_samples (TailorDocsReport *report,
                 GPtrArray *all,
                 const TailorPiiAction *actions,
                 GCancellable *cancellable,
                 GError **error)
{
  g_autoptr (TailorPiiReport) pii = NULL;
  g_autoptr (TailorDuplicateReport) dups = NULL;
  g_autoptr (GPtrArray) hygienic = NULL;
  TailorPiiOptions options;
  guint per_kind[TAILOR_PII_N_KINDS] = { 0 };

  tailor_pii_options_init (&options);
  memcpy (options.actions, actions, sizeof options.actions);
  pii = tailor_pii_scan (all, &options, cancellable, error);
  if (pii == NULL)
    return FALSE;
  for (guint i = 0; i < pii->findings->len; i++)
    {
      const TailorPiiFinding *finding = &g_array_index (pii->findings, TailorPiiFinding, i);
      TailorDocsPiiSample *sample;

      if (per_kind[finding->kind]++ >= MAX_PII_SAMPLES_PER_KIND)
        continue;
      sample = g_new0 (TailorDocsPiiSample, 1);
      sample->kind = finding->kind;
      sample->preview = g_strdup (finding->preview);
      sample->where = example_where (g_ptr_array_index (all, finding->index));
      g_ptr_array_add (report->pii_samples, sample);
    }

  hygienic = tailor_pii_report_apply (pii, all);
  dups = tailor_find_duplicates (hygienic, NULL, cancellable, error);
  if (dups == NULL)
    return FALSE;
  for (guint c = 0; c < dups->clusters->len && report->duplicates->len < MAX_DUPLICATE_SAMPLES;
       c++)
    {
      const TailorDuplicateCluster *cluster = g_ptr_array_index (dups->clusters, c);
      const TailorDuplicate *first;
      TailorDocsDuplicate *sample;

      if (cluster->duplicates->len == 0)
        continue;
      first = &g_array_index (cluster->duplicates, TailorDuplicate, 0);
      sample = g_new0 (TailorDocsDuplicate, 1);
      sample->preview = example_preview (g_ptr_array_index (hygienic, first->index));
      sample->where = example_where (g_ptr_array_index (hygienic, first->index));
      sample->keeper = example_where (g_ptr_array_index (hygienic, cluster->keeper));
      sample->exact = first->exact;
      g_ptr_array_add (report->duplicates, sample);
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------------ */
/* What only the build knows, kept beside the version */

static char *
extras_path (const char *project_dir, const char *version_id)
{
  g_autofree char *name = g_strdup_printf ("report-%s.json", version_id);

  return g_build_filename (project_dir, name, NULL);
}

static void
add_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static gboolean
save_extras (const TailorDocsReport *report,
             const char *project_dir,
             const char *version_id,
             GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autofree char *path = extras_path (project_dir, version_id);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "rejects_total");
  json_builder_add_int_value (b, (gint64) report->rejects_total);
  json_builder_set_member_name (b, "rejects");
  json_builder_begin_array (b);
  for (guint i = 0; i < report->rejects->len; i++)
    {
      const TailorDocsReject *r = g_ptr_array_index (report->rejects, i);

      json_builder_begin_object (b);
      add_string (b, "file", r->file);
      json_builder_set_member_name (b, "line");
      json_builder_add_int_value (b, (gint64) r->line);
      add_string (b, "unit", r->unit);
      add_string (b, "reason", r->reason);
      add_string (b, "message", r->message);
      add_string (b, "preview", r->preview);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "failures");
  json_builder_begin_array (b);
  for (guint i = 0; i < report->failures->len; i++)
    {
      const TailorDocsFailure *f = g_ptr_array_index (report->failures, i);

      json_builder_begin_object (b);
      add_string (b, "file", f->file);
      add_string (b, "message", f->message);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "duplicates");
  json_builder_begin_array (b);
  for (guint i = 0; i < report->duplicates->len; i++)
    {
      const TailorDocsDuplicate *d = g_ptr_array_index (report->duplicates, i);

      json_builder_begin_object (b);
      add_string (b, "preview", d->preview);
      add_string (b, "where", d->where);
      add_string (b, "keeper", d->keeper);
      json_builder_set_member_name (b, "exact");
      json_builder_add_boolean_value (b, d->exact);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "pii");
  json_builder_begin_array (b);
  for (guint i = 0; i < report->pii_samples->len; i++)
    {
      const TailorDocsPiiSample *s = g_ptr_array_index (report->pii_samples, i);

      json_builder_begin_object (b);
      add_string (b, "kind", tailor_pii_kind_to_string (s->kind));
      add_string (b, "preview", s->preview);
      add_string (b, "where", s->where);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  text = json_to_string (root, TRUE);
  return g_file_set_contents (path, text, -1, error);
}

static char *
dup_member (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (node));
}

static gint64
int_member (JsonObject *object, const char *name)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return 0;
  return MAX (json_node_get_int (node), 0);
}

static JsonObject *
object_member (JsonObject *object, const char *name)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static JsonArray *
array_member (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

/* A missing or unreadable file only leaves the lists empty: they are a convenience. */
static void
load_extras (TailorDocsReport *report, const char *project_dir, const char *version_id)
{
  g_autofree char *path = extras_path (project_dir, version_id);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root;
  JsonArray *array;

  if (!json_parser_load_from_file (parser, path, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return;
  root = json_node_get_object (json_parser_get_root (parser));
  report->rejects_total = int_member (root, "rejects_total");
  if ((array = array_member (root, "rejects")) != NULL)
    for (guint i = 0; i < json_array_get_length (array); i++)
      {
        JsonObject *o = json_array_get_object_element (array, i);
        TailorDocsReject *r;

        if (o == NULL)
          continue;
        r = g_new0 (TailorDocsReject, 1);
        r->file = dup_member (o, "file");
        r->line = int_member (o, "line");
        r->unit = dup_member (o, "unit");
        r->reason = dup_member (o, "reason");
        r->message = dup_member (o, "message");
        r->preview = dup_member (o, "preview");
        g_ptr_array_add (report->rejects, r);
      }
  if ((array = array_member (root, "failures")) != NULL)
    for (guint i = 0; i < json_array_get_length (array); i++)
      {
        JsonObject *o = json_array_get_object_element (array, i);
        TailorDocsFailure *f;

        if (o == NULL)
          continue;
        f = g_new0 (TailorDocsFailure, 1);
        f->file = dup_member (o, "file");
        f->message = dup_member (o, "message");
        g_ptr_array_add (report->failures, f);
      }
  if ((array = array_member (root, "duplicates")) != NULL)
    for (guint i = 0; i < json_array_get_length (array); i++)
      {
        JsonObject *o = json_array_get_object_element (array, i);
        TailorDocsDuplicate *d;

        if (o == NULL)
          continue;
        d = g_new0 (TailorDocsDuplicate, 1);
        d->preview = dup_member (o, "preview");
        d->where = dup_member (o, "where");
        d->keeper = dup_member (o, "keeper");
        d->exact = json_object_get_boolean_member_with_default (o, "exact", FALSE);
        g_ptr_array_add (report->duplicates, d);
      }
  if ((array = array_member (root, "pii")) != NULL)
    for (guint i = 0; i < json_array_get_length (array); i++)
      {
        JsonObject *o = json_array_get_object_element (array, i);
        g_autofree char *kind = o != NULL ? dup_member (o, "kind") : NULL;
        TailorDocsPiiSample *s;
        TailorPiiKind k;

        if (kind == NULL || !tailor_pii_kind_from_string (kind, &k))
          continue;
        s = g_new0 (TailorDocsPiiSample, 1);
        s->kind = k;
        s->preview = dup_member (o, "preview");
        s->where = dup_member (o, "where");
        g_ptr_array_add (report->pii_samples, s);
      }
}

/* ------------------------------------------------------------------------------------------ */
/* The report of a stored version */

static void
read_counts (TailorDocsReport *report, const char *counts_json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root;
  JsonObject *import, *dedup, *pii, *findings, *glossary;

  if (counts_json == NULL || !json_parser_load_from_data (parser, counts_json, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return;
  root = json_node_get_object (json_parser_get_root (parser));
  import = object_member (root, "import");
  report->n_read = int_member (import, "read");
  report->n_accepted = int_member (import, "accepted");
  report->n_rejected = int_member (import, "rejected");
  dedup = object_member (root, "dedup");
  report->n_exact = int_member (dedup, "exact");
  report->n_near = int_member (dedup, "near");
  pii = object_member (root, "pii");
  report->pii_redacted = int_member (pii, "redacted");
  report->pii_dropped_examples = int_member (pii, "dropped_examples");
  findings = object_member (pii, "findings");
  for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
    report->pii_findings[k] = int_member (findings, tailor_pii_kind_to_string (k));
  glossary = object_member (root, "glossary");
  report->glossary_replacements = int_member (glossary, "replacements");
  report->glossary_examples = int_member (glossary, "examples_changed");
  report->counter_examples = int_member (root, "counter_examples");
}

static void
measure_lengths (TailorDocsReport *report, GPtrArray *train, GPtrArray *eval, TokenCounter *counter)
{
  g_autoptr (TailorLengthReport) lengths = NULL;
  const TailorLengthStats *total;
  guint n;

  report->sequence_length = sequence_length_for (counter);
  report->tokens_from_model = counter->tokenizer != NULL;
  report->tokenizer_name = g_strdup (counter->name);
  lengths = tailor_length_report_new (report->sequence_length, 0);
  tailor_length_report_add_split (lengths, "train", train, count_example_tokens, counter);
  tailor_length_report_add_split (lengths, "eval", eval, count_example_tokens, counter);
  total = lengths->total;
  report->n_examples = total->n_examples;
  report->n_truncated = total->n_truncated;
  report->p50 = total->p50;
  report->p95 = total->p95;
  report->max = total->max;

  /* What would be cut off gets a bucket of its own beyond the marker. */
  n = total->n_buckets + (total->n_truncated > 0 ? 1 : 0);
  report->n_buckets = n;
  report->edges = g_new0 (double, n + 1);
  report->counts = g_new0 (double, n);
  for (guint i = 0; i <= total->n_buckets; i++)
    report->edges[i] = total->edges[i];
  for (guint i = 0; i < total->n_buckets; i++)
    report->counts[i] = total->counts[i];
  if (total->n_truncated > 0)
    {
      report->edges[n] = MAX (total->max, total->edges[total->n_buckets] + 1);
      report->counts[n - 1] = total->n_truncated;
    }
}

static void
report_progress (TailorDocsProgressFunc progress, gpointer user_data, TailorDocsPhase phase)
{
  TailorDocsProgress p = { phase, 0, 0, NULL, 0 };

  if (progress != NULL)
    progress (&p, user_data);
}

static TailorDocsReport *
report_on (TailorCatalogue *catalogue,
           gint64 project_id,
           const char *project_dir,
           TailorDatasetVersion *version,
           const char *model_path,
           TailorDocsProgressFunc progress,
           gpointer user_data,
           GCancellable *cancellable,
           GError **error)
{
  g_autoptr (TailorDocsReport) report = report_new ();
  g_autoptr (TailorLeakReport) leak = NULL;
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GPtrArray) eval = NULL;
  g_autoptr (GError) leak_error = NULL;
  TokenCounter counter;

  report_progress (progress, user_data, TAILOR_DOCS_PHASE_MEASURING);
  report->version = version;
  read_counts (report, version->hygiene_counts);
  load_extras (report, project_dir, version->id);

  leak = tailor_dataset_leak_check (catalogue, project_id, version->id, cancellable, error);
  if (leak == NULL)
    return NULL;
  report->leak_clean = tailor_leak_report_is_clean (leak);
  report->n_leaks = leak->leaks->len;
  if (!tailor_leak_report_to_error (leak, &leak_error))
    report->leak_message = g_strdup (leak_error->message);
  report->frozen_version = g_strdup (leak->frozen_version_id);
  report->carries_frozen = leak->frozen_version_id != NULL && leak->carries_frozen;

  train = tailor_dataset_read_split (catalogue, version, TAILOR_SPLIT_TRAIN, error);
  if (train == NULL)
    return NULL;
  eval = tailor_dataset_read_split (catalogue, version, TAILOR_SPLIT_EVAL, error);
  if (eval == NULL)
    return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  token_counter_init (&counter, model_path);
  measure_lengths (report, train, eval, &counter);
  token_counter_clear (&counter);
  return g_steal_pointer (&report);
}

TailorDocsReport *
tailor_docs_report_version (const char *catalogue_dir,
                            gint64 project_id,
                            const char *project_dir,
                            const char *version_id,
                            const char *model_path,
                            TailorDocsProgressFunc progress,
                            gpointer user_data,
                            GCancellable *cancellable,
                            GError **error)
{
  g_autoptr (TailorCatalogue) catalogue = NULL;
  TailorDatasetVersion *version;

  g_return_val_if_fail (catalogue_dir != NULL, NULL);
  g_return_val_if_fail (project_dir != NULL, NULL);
  g_return_val_if_fail (version_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  catalogue = tailor_catalogue_open (catalogue_dir, TAILOR_CATALOGUE_OPEN_DEFAULT, error);
  if (catalogue == NULL)
    return NULL;
  version = tailor_catalogue_get_version (catalogue, project_id, version_id, error);
  if (version == NULL)
    return NULL;
  /* The report owns the version from here on, also when it fails. */
  return report_on (catalogue, project_id, project_dir, version, model_path, progress, user_data,
                    cancellable, error);
}

/* ------------------------------------------------------------------------------------------ */
/* Building */

typedef struct
{
  TailorDocsProgressFunc progress;
  gpointer user_data;
  TailorDocsProgress state;
  TailorDocsReport *report;
  GPtrArray *examples;
  gboolean counter;
} ImportState;

static void
import_tick (ImportState *state)
{
  state->state.records++;
  if (state->progress != NULL)
    state->progress (&state->state, state->user_data);
}

static gboolean
on_example (TailorExample *example, gpointer user_data, GError **error)
{
  ImportState *state = user_data;

  if (state->counter)
    tailor_example_add_tag (example, TAILOR_TAG_COUNTER_EXAMPLE);
  g_ptr_array_add (state->examples, example);
  import_tick (state);
  return TRUE;
}

static void
on_reject (const TailorImportReject *reject, gpointer user_data)
{
  ImportState *state = user_data;
  TailorDocsReport *report = state->report;

  report->rejects_total++;
  if (report->rejects->len < TAILOR_DOCS_MAX_REJECTS)
    {
      TailorDocsReject *r = g_new0 (TailorDocsReject, 1);

      r->file = g_path_get_basename (reject->path);
      r->line = reject->line;
      r->unit = g_strdup (tailor_import_unit_to_string (reject->unit));
      r->reason = g_strdup (tailor_import_reject_reason_to_string (reject->reason));
      r->message = g_strdup (reject->message);
      r->preview = g_strdup (reject->preview);
      g_ptr_array_add (report->rejects, r);
    }
  import_tick (state);
}

/* The files are imported again and go through the current hygiene choices; the builder records
 * the current version as the parent but does not carry its examples, which went through the old
 * choices (a redaction cannot be undone on redacted text). The frozen evaluation set is carried
 * exactly, as frozen. */
static gboolean
build_in (const TailorDocsBuildRequest *request,
          TailorCatalogue *catalogue,
          TailorDocsReport *report,
          TailorDocsProgressFunc progress,
          gpointer user_data,
          GCancellable *cancellable,
          GError **error)
{
  g_autoptr (TailorDatasetVersion) frozen = NULL;
  g_autoptr (TailorDatasetVersion) parent = NULL;
  g_autoptr (TailorDatasetBuilder) builder = NULL;
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);
  g_autoptr (GError) local_error = NULL;
  TailorHygieneSettings hygiene;
  TailorSplitOptions split;
  TokenCounter counter;
  gboolean created = FALSE;
  guint n_imported = 0;
  guint n = request->sources->len;

  if (request->project_id != 0)
    {
      frozen = tailor_dataset_get_frozen (catalogue, request->project_id, &local_error);
      if (local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  if (request->parent != NULL)
    {
      parent = tailor_catalogue_get_version (catalogue, request->project_id, request->parent, error);
      if (parent == NULL)
        return FALSE;
    }

  tailor_hygiene_settings_init (&hygiene);
  memcpy (hygiene.pii.actions, request->pii, sizeof hygiene.pii.actions);
  hygiene.glossary_path = request->glossary_path;
  tailor_split_options_init (&split);
  if (parent != NULL && frozen == NULL &&
      !tailor_split_options_from_json (parent->split_settings, &split, error))
    return FALSE;
  builder = tailor_dataset_builder_new (catalogue, request->project_name, request->parent,
                                        &hygiene, frozen != NULL ? NULL : &split, error);
  if (builder == NULL)
    return FALSE;
  tailor_dataset_builder_set_carry_parent (builder, FALSE);
  tailor_dataset_builder_set_reason (builder, request->reason);

  token_counter_init (&counter, request->model_path);
  for (guint i = 0; i < n; i++)
    {
      const TailorDocsSource *source = g_ptr_array_index (request->sources, i);
      g_autofree char *name = g_path_get_basename (source->path);
      g_autoptr (GPtrArray) examples =
        g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);
      g_autoptr (TailorImportSummary) summary = NULL;
      g_autoptr (GError) file_error = NULL;
      TailorImportOptions options = { 0 };
      ImportState state = { 0 };
      GStatBuf st;

      options.license = source->license;
      options.count_tokens = count_text_tokens;
      options.count_tokens_data = &counter;
      state.progress = progress;
      state.user_data = user_data;
      state.state.phase = TAILOR_DOCS_PHASE_READING;
      state.state.file_index = i;
      state.state.n_files = n;
      state.state.file_name = name;
      state.report = report;
      state.examples = examples;
      state.counter = source->counter;
      if (progress != NULL)
        progress (&state.state, user_data);

      summary = tailor_import_file (source->path, TAILOR_IMPORT_FORMAT_AUTO, &options, on_example,
                                    on_reject, &state, cancellable, &file_error);
      if (summary == NULL)
        {
          TailorDocsFailure *failure;

          if (g_cancellable_is_cancelled (cancellable) || i + request->n_new < n)
            {
              token_counter_clear (&counter);
              if (g_cancellable_set_error_if_cancelled (cancellable, error))
                return FALSE;
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "%s Put the file back or remove it from the list, then try again.",
                           file_error->message);
              return FALSE;
            }
          failure = g_new0 (TailorDocsFailure, 1);
          failure->file = g_steal_pointer (&name);
          failure->message = g_strdup (file_error->message);
          g_ptr_array_add (report->failures, failure);
          continue;
        }
      for (guint e = 0; e < examples->len; e++)
        g_ptr_array_add (all, tailor_example_copy (g_ptr_array_index (examples, e)));
      if (!tailor_dataset_builder_add_examples (builder, summary,
                                                g_stat (source->path, &st) == 0 ? st.st_size : 0,
                                                examples, error))
        {
          token_counter_clear (&counter);
          return FALSE;
        }
      n_imported++;
    }
  token_counter_clear (&counter);

  if (n_imported == 0)
    {
      const TailorDocsFailure *first =
        report->failures->len > 0 ? g_ptr_array_index (report->failures, 0) : NULL;

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "None of the files could be used. %s", first != NULL ? first->message : "");
      return FALSE;
    }

  report_progress (progress, user_data, TAILOR_DOCS_PHASE_CHECKING);
  report->version = tailor_dataset_builder_commit (builder, &created, cancellable, error);
  if (report->version == NULL)
    return FALSE;
  if (!collect_samples (report, all, request->pii, cancellable, error))
    return FALSE;
  report_progress (progress, user_data, TAILOR_DOCS_PHASE_SAVING);
  report->created = created;
  return save_extras (report, request->project_dir, report->version->id, error);
}

TailorDocsReport *
tailor_docs_build (const TailorDocsBuildRequest *request,
                   TailorDocsProgressFunc progress,
                   gpointer user_data,
                   GCancellable *cancellable,
                   GError **error)
{
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorDocsReport) built = report_new ();
  TailorDocsReport *report;

  g_return_val_if_fail (request != NULL, NULL);
  g_return_val_if_fail (request->catalogue_dir != NULL && request->project_name != NULL, NULL);
  g_return_val_if_fail (request->project_dir != NULL, NULL);
  g_return_val_if_fail (request->sources != NULL && request->sources->len > 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  catalogue = tailor_catalogue_open (request->catalogue_dir, TAILOR_CATALOGUE_OPEN_DEFAULT, error);
  if (catalogue == NULL)
    return NULL;
  if (g_mkdir_with_parents (request->project_dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Cannot create the folder “%s”: %s.", request->project_dir,
                   g_strerror (saved));
      return NULL;
    }
  if (!build_in (request, catalogue, built, progress, user_data, cancellable, error))
    return NULL;

  report = report_on (catalogue, request->project_id, request->project_dir,
                      g_steal_pointer (&built->version), request->model_path, progress, user_data,
                      cancellable, error);
  if (report != NULL)
    report->created = built->created;
  return report;
}
