/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Train/eval splits by content hash, the frozen evaluation set, its leak check, and the dataset
 * builder that writes a new catalogue version all or nothing. */
#include "config.h"

#include "tailor-data-split.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-parallel.h"

G_DEFINE_QUARK (tailor - split - error - quark, tailor_split_error)

/* Examples go through per-example hygiene in batches of this many, so the copies the hygiene
 * steps make never double the memory of a large import. */
#define HYGIENE_BATCH 2048
/* Unfrozen splits move near-duplicates across the split boundary until none is left; a chain
 * longer than this means something is wrong. */
#define MAX_SEPARATION_ROUNDS 8
/* Leaks listed in an error message; the JSON report lists them all. */
#define MAX_LEAKS_IN_MESSAGE 20

static GPtrArray *
examples_array_new (guint reserve)
{
  return g_ptr_array_new_full (reserve, (GDestroyNotify) tailor_example_free);
}

/* Moves every element of src (left empty) to the end of dst. */
static void
move_all (GPtrArray *dst, GPtrArray *src)
{
  for (guint i = 0; i < src->len; i++)
    g_ptr_array_add (dst, g_ptr_array_index (src, i));
  g_ptr_array_set_free_func (src, NULL);
  g_ptr_array_set_size (src, 0);
  g_ptr_array_set_free_func (src, (GDestroyNotify) tailor_example_free);
}

/* ------------------------------------------------------------------------------------------ */
/* Splits */

void
tailor_split_options_init (TailorSplitOptions *options)
{
  g_return_if_fail (options != NULL);

  options->eval_ratio = TAILOR_SPLIT_DEFAULT_EVAL_RATIO;
  options->eval_count = 0;
  options->seed = 0;
}

static gboolean
check_split_options (const TailorSplitOptions *options, GError **error)
{
  if (options->eval_count == 0 && !(options->eval_ratio >= 0.0 && options->eval_ratio < 1.0))
    {
      g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_INVALID,
                   "Evaluation ratio %g is out of range; use a share from 0 up to (not "
                   "including) 1, e.g. %g",
                   options->eval_ratio, TAILOR_SPLIT_DEFAULT_EVAL_RATIO);
      return FALSE;
    }
  return TRUE;
}

char *
tailor_split_options_to_json (const TailorSplitOptions *options)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  g_return_val_if_fail (options != NULL, NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "method");
  json_builder_add_string_value (builder, "content-hash");
  json_builder_set_member_name (builder, "stratify");
  json_builder_add_string_value (builder, "source");
  json_builder_set_member_name (builder, "seed");
  json_builder_add_int_value (builder, (gint64) options->seed);
  if (options->eval_count > 0)
    {
      json_builder_set_member_name (builder, "eval_count");
      json_builder_add_int_value (builder, options->eval_count);
    }
  else
    {
      json_builder_set_member_name (builder, "eval_ratio");
      json_builder_add_double_value (builder, options->eval_ratio);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

gboolean
tailor_split_options_from_json (const char *json, TailorSplitOptions *options, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) parse_error = NULL;
  TailorSplitOptions parsed;
  JsonObject *object;

  g_return_val_if_fail (options != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  tailor_split_options_init (&parsed);
  if (json == NULL || *json == '\0')
    {
      *options = parsed;
      return TRUE;
    }
  if (!json_parser_load_from_data (parser, json, -1, &parse_error) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_INVALID,
                   "The split settings “%s” are not a JSON object%s%s", json,
                   parse_error != NULL ? ": " : "",
                   parse_error != NULL ? parse_error->message : "");
      return FALSE;
    }
  object = json_node_get_object (json_parser_get_root (parser));
  if (json_object_has_member (object, "seed"))
    parsed.seed = (guint64) json_object_get_int_member (object, "seed");
  if (json_object_has_member (object, "eval_count"))
    {
      gint64 count = json_object_get_int_member (object, "eval_count");

      if (count <= 0 || count > G_MAXUINT)
        {
          g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_INVALID,
                       "The split settings' eval_count %" G_GINT64_FORMAT " is out of range",
                       count);
          return FALSE;
        }
      parsed.eval_count = (guint) count;
    }
  else if (json_object_has_member (object, "eval_ratio"))
    parsed.eval_ratio = json_object_get_double_member (object, "eval_ratio");
  if (!check_split_options (&parsed, error))
    return FALSE;
  *options = parsed;
  return TRUE;
}

typedef struct
{
  GPtrArray *examples;
  guint64 seed;
  char **ids;
  guint64 *keys;
} KeyJob;

static void
key_range (gint64 begin, gint64 end, gpointer user_data)
{
  KeyJob *job = user_data;
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *seed_prefix = g_strdup_printf ("%" G_GUINT64_FORMAT ":", job->seed);

  for (gint64 i = begin; i < end; i++)
    {
      guint8 digest[32];
      gsize len = sizeof digest;
      guint64 key = 0;

      job->ids[i] = tailor_example_content_id (g_ptr_array_index (job->examples, i));
      g_checksum_reset (checksum);
      g_checksum_update (checksum, (const guchar *) seed_prefix, -1);
      g_checksum_update (checksum, (const guchar *) job->ids[i], -1);
      g_checksum_get_digest (checksum, digest, &len);
      for (guint b = 0; b < 8; b++)
        key = (key << 8) | digest[b];
      job->keys[i] = key;
    }
}

typedef struct
{
  const char *name;
  GArray *members; /* guint example indices */
  guint quota;
  double fraction;
} Stratum;

static void
stratum_free (gpointer data)
{
  Stratum *stratum = data;

  g_array_unref (stratum->members);
  g_free (stratum);
}

static int
compare_strata_by_name (gconstpointer a, gconstpointer b)
{
  const Stratum *x = *(Stratum *const *) a;
  const Stratum *y = *(Stratum *const *) b;

  return strcmp (x->name, y->name);
}

static int
compare_strata_by_fraction (gconstpointer a, gconstpointer b)
{
  const Stratum *x = *(Stratum *const *) a;
  const Stratum *y = *(Stratum *const *) b;

  if (x->fraction != y->fraction)
    return x->fraction > y->fraction ? -1 : 1;
  return strcmp (x->name, y->name);
}

static int
compare_ranked (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const KeyJob *job = user_data;
  guint x = *(const guint *) a;
  guint y = *(const guint *) b;
  int by_id;

  if (job->keys[x] != job->keys[y])
    return job->keys[x] < job->keys[y] ? -1 : 1;
  by_id = strcmp (job->ids[x], job->ids[y]);
  if (by_id != 0)
    return by_id;
  return x < y ? -1 : (x > y ? 1 : 0);
}

/* How many of n eligible examples the options send to eval. */
static guint
eval_total (const TailorSplitOptions *options, guint n)
{
  guint total;

  if (n == 0)
    return 0;
  if (options->eval_count > 0)
    total = MIN (options->eval_count, n);
  else
    {
      total = (guint) floor (options->eval_ratio * n + 0.5);
      if (total == 0 && options->eval_ratio > 0.0 && n >= 2)
        total = 1;
    }
  return MIN (total, n - 1);
}

/* The assignment itself; total G_MAXUINT means "from the options". */
static guint8 *
assign_with_total (GPtrArray *examples,
                   const TailorSplitOptions *options,
                   guint total,
                   guint *n_eval)
{
  g_autoptr (GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) strata = g_ptr_array_new_with_free_func (stratum_free);
  g_autoptr (GPtrArray) by_fraction = NULL;
  guint8 *flags = g_new0 (guint8, MAX (examples->len, 1));
  KeyJob job = { examples, options->seed, NULL, NULL };
  guint n_eligible = 0;
  guint assigned = 0;
  guint chosen = 0;

  job.ids = g_new0 (char *, examples->len + 1);
  job.keys = g_new0 (guint64, MAX (examples->len, 1));
  tailor_parallel_for (examples->len, 256, key_range, &job);

  for (guint i = 0; i < examples->len; i++)
    {
      const TailorExample *example = g_ptr_array_index (examples, i);
      const char *name = example->source != NULL ? example->source : "";
      Stratum *stratum;

      if (tailor_example_has_tag (example, TAILOR_TAG_COUNTER_EXAMPLE))
        continue;
      stratum = g_hash_table_lookup (by_name, name);
      if (stratum == NULL)
        {
          stratum = g_new0 (Stratum, 1);
          stratum->name = name;
          stratum->members = g_array_new (FALSE, FALSE, sizeof (guint));
          g_hash_table_insert (by_name, (gpointer) name, stratum);
          g_ptr_array_add (strata, stratum);
        }
      g_array_append_val (stratum->members, i);
      n_eligible++;
    }

  if (total == G_MAXUINT)
    total = eval_total (options, n_eligible);
  total = MIN (total, n_eligible > 0 ? n_eligible - 1 : 0);

  /* Largest remainder: each source gets its share, the rounding leftovers go to the sources
   * closest to deserving one more. */
  g_ptr_array_sort (strata, compare_strata_by_name);
  by_fraction = g_ptr_array_sized_new (strata->len);
  for (guint s = 0; s < strata->len; s++)
    {
      Stratum *stratum = g_ptr_array_index (strata, s);
      double exact = n_eligible > 0 ? (double) total * stratum->members->len / n_eligible : 0.0;

      stratum->quota = (guint) floor (exact);
      stratum->fraction = exact - stratum->quota;
      assigned += stratum->quota;
      g_ptr_array_add (by_fraction, stratum);
    }
  g_ptr_array_sort (by_fraction, compare_strata_by_fraction);
  for (guint s = 0; s < by_fraction->len && assigned < total; s++)
    {
      Stratum *stratum = g_ptr_array_index (by_fraction, s);

      if (stratum->quota < stratum->members->len)
        {
          stratum->quota++;
          assigned++;
        }
    }

  for (guint s = 0; s < strata->len; s++)
    {
      Stratum *stratum = g_ptr_array_index (strata, s);

      g_array_sort_with_data (stratum->members, compare_ranked, &job);
      for (guint k = 0; k < stratum->quota; k++)
        {
          flags[g_array_index (stratum->members, guint, k)] = 1;
          chosen++;
        }
    }

  g_strfreev (job.ids);
  g_free (job.keys);
  if (n_eval != NULL)
    *n_eval = chosen;
  return flags;
}

guint8 *
tailor_split_assign (GPtrArray *examples,
                     const TailorSplitOptions *options,
                     guint *n_eval,
                     GError **error)
{
  g_return_val_if_fail (examples != NULL, NULL);
  g_return_val_if_fail (options != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_split_options (options, error))
    return NULL;
  return assign_with_total (examples, options, G_MAXUINT, n_eval);
}

/* Moves the flagged examples of src (left empty) to b, the others to a. */
static void
partition (GPtrArray *src, const guint8 *flags, GPtrArray *a, GPtrArray *b)
{
  for (guint i = 0; i < src->len; i++)
    g_ptr_array_add (flags[i] ? b : a, g_ptr_array_index (src, i));
  g_ptr_array_set_free_func (src, NULL);
  g_ptr_array_set_size (src, 0);
  g_ptr_array_set_free_func (src, (GDestroyNotify) tailor_example_free);
}

gboolean
tailor_split_examples (GPtrArray *examples,
                       const TailorSplitOptions *options,
                       GPtrArray **train,
                       GPtrArray **eval,
                       GError **error)
{
  g_autofree guint8 *flags = NULL;
  GPtrArray *out_train;
  GPtrArray *out_eval;

  g_return_val_if_fail (examples != NULL, FALSE);
  g_return_val_if_fail (options != NULL, FALSE);
  g_return_val_if_fail (train != NULL && eval != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  flags = tailor_split_assign (examples, options, NULL, error);
  if (flags == NULL)
    return FALSE;
  out_train = examples_array_new (examples->len);
  out_eval = examples_array_new (0);
  partition (examples, flags, out_train, out_eval);
  *train = out_train;
  *eval = out_eval;
  return TRUE;
}

/* ------------------------------------------------------------------------------------------ */
/* Leak check */

void
tailor_leak_options_init (TailorDedupOptions *options)
{
  g_return_if_fail (options != NULL);

  tailor_dedup_options_init (options);
  options->shingle_words = 2;
  options->threshold = 0.5;
}

static void
leak_free (gpointer data)
{
  TailorLeak *leak = data;

  g_free (leak->train_id);
  g_free (leak->eval_id);
  g_free (leak->source);
  g_free (leak);
}

void
tailor_leak_report_free (TailorLeakReport *report)
{
  if (report == NULL)
    return;
  g_free (report->version_id);
  g_free (report->frozen_version_id);
  g_clear_pointer (&report->leaks, g_ptr_array_unref);
  g_free (report);
}

/* Which training examples match an evaluation example; an empty side matches nothing. */
static TailorSetMatchReport *
find_leak_matches (GPtrArray *eval,
                   GPtrArray *train,
                   const TailorDedupOptions *options,
                   GCancellable *cancellable,
                   GError **error)
{
  g_autoptr (TailorSignatureSet) signatures = NULL;

  if (eval->len == 0 || train->len == 0)
    {
      TailorSetMatchReport *empty = g_new0 (TailorSetMatchReport, 1);

      empty->n_checked = train->len;
      empty->matches = g_array_new (FALSE, FALSE, sizeof (TailorSetMatch));
      return empty;
    }
  signatures = tailor_signature_set_new (eval, options, cancellable, error);
  if (signatures == NULL)
    return NULL;
  return tailor_signature_set_find_matches (signatures, train, cancellable, error);
}

TailorLeakReport *
tailor_leak_check_examples (GPtrArray *eval,
                            GPtrArray *train,
                            const TailorDedupOptions *options,
                            GCancellable *cancellable,
                            GError **error)
{
  g_autoptr (TailorSetMatchReport) matches = NULL;
  TailorDedupOptions defaults;
  TailorLeakReport *report;

  g_return_val_if_fail (eval != NULL && train != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (options == NULL)
    {
      tailor_leak_options_init (&defaults);
      options = &defaults;
    }
  matches = find_leak_matches (eval, train, options, cancellable, error);
  if (matches == NULL)
    return NULL;

  report = g_new0 (TailorLeakReport, 1);
  report->carries_frozen = TRUE;
  report->n_train = train->len;
  report->n_eval = eval->len;
  report->leaks = g_ptr_array_new_with_free_func (leak_free);
  for (guint i = 0; i < matches->matches->len; i++)
    {
      const TailorSetMatch *match = &g_array_index (matches->matches, TailorSetMatch, i);
      const TailorExample *example = g_ptr_array_index (train, match->index);
      TailorLeak *leak = g_new0 (TailorLeak, 1);

      leak->train_id = tailor_example_content_id (example);
      leak->eval_id = tailor_example_content_id (g_ptr_array_index (eval, match->frozen_index));
      leak->source = g_strdup (example->source);
      leak->line = example->line;
      leak->exact = match->exact;
      leak->jaccard = match->exact ? 1.0 : match->jaccard;
      g_ptr_array_add (report->leaks, leak);
    }
  return report;
}

gboolean
tailor_leak_report_is_clean (const TailorLeakReport *report)
{
  g_return_val_if_fail (report != NULL, FALSE);

  return report->carries_frozen && report->leaks->len == 0;
}

gboolean
tailor_leak_report_to_error (const TailorLeakReport *report, GError **error)
{
  g_autoptr (GString) message = NULL;

  g_return_val_if_fail (report != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!report->carries_frozen)
    {
      g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_FROZEN,
                   "Version %s does not carry the frozen evaluation set of version %s; every "
                   "version after a freeze must keep it. Build new versions with `tailor-cli data "
                   "import`, which keeps it.",
                   report->version_id != NULL ? report->version_id : "(new)",
                   report->frozen_version_id);
      return FALSE;
    }
  if (report->leaks->len == 0)
    return TRUE;

  message = g_string_new (NULL);
  g_string_append_printf (message,
                          "%u training example%s leak%s the %sevaluation set%s%s (an exact copy "
                          "or a near-duplicate of an evaluation example would inflate every "
                          "evaluation score):",
                          report->leaks->len, report->leaks->len == 1 ? "" : "s",
                          report->leaks->len == 1 ? "s" : "",
                          report->frozen_version_id != NULL ? "frozen " : "",
                          report->frozen_version_id != NULL ? " of version " : "",
                          report->frozen_version_id != NULL ? report->frozen_version_id : "");
  for (guint i = 0; i < report->leaks->len && i < MAX_LEAKS_IN_MESSAGE; i++)
    {
      const TailorLeak *leak = g_ptr_array_index (report->leaks, i);

      g_string_append_printf (message, "\n  %s", leak->train_id);
      if (leak->source != NULL && leak->line > 0)
        g_string_append_printf (message, " (%s:%" G_GUINT64_FORMAT ")", leak->source, leak->line);
      else if (leak->source != NULL)
        g_string_append_printf (message, " (from %s)", leak->source);
      if (leak->exact)
        g_string_append_printf (message, " is a copy of evaluation example %s", leak->eval_id);
      else
        g_string_append_printf (message,
                                " is a near-duplicate (estimated Jaccard %.2f) of evaluation "
                                "example %s",
                                leak->jaccard, leak->eval_id);
    }
  if (report->leaks->len > MAX_LEAKS_IN_MESSAGE)
    g_string_append_printf (message, "\n  … and %u more (use --json for all)",
                            report->leaks->len - MAX_LEAKS_IN_MESSAGE);
  g_string_append (message, "\nRemove or rewrite these examples in their source files and import "
                            "again.");
  g_set_error_literal (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_LEAK, message->str);
  return FALSE;
}

JsonNode *
tailor_leak_report_to_json (const TailorLeakReport *report)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  g_return_val_if_fail (report != NULL, NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "version");
  if (report->version_id != NULL)
    json_builder_add_string_value (builder, report->version_id);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "frozen_version");
  if (report->frozen_version_id != NULL)
    json_builder_add_string_value (builder, report->frozen_version_id);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "carries_frozen");
  json_builder_add_boolean_value (builder, report->carries_frozen);
  json_builder_set_member_name (builder, "train");
  json_builder_add_int_value (builder, report->n_train);
  json_builder_set_member_name (builder, "eval");
  json_builder_add_int_value (builder, report->n_eval);
  json_builder_set_member_name (builder, "clean");
  json_builder_add_boolean_value (builder, tailor_leak_report_is_clean (report));
  json_builder_set_member_name (builder, "leaks");
  json_builder_begin_array (builder);
  for (guint i = 0; i < report->leaks->len; i++)
    {
      const TailorLeak *leak = g_ptr_array_index (report->leaks, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "train_id");
      json_builder_add_string_value (builder, leak->train_id);
      json_builder_set_member_name (builder, "eval_id");
      json_builder_add_string_value (builder, leak->eval_id);
      json_builder_set_member_name (builder, "source");
      if (leak->source != NULL)
        json_builder_add_string_value (builder, leak->source);
      else
        json_builder_add_null_value (builder);
      json_builder_set_member_name (builder, "line");
      json_builder_add_int_value (builder, (gint64) leak->line);
      json_builder_set_member_name (builder, "kind");
      json_builder_add_string_value (builder, leak->exact ? "exact" : "near");
      json_builder_set_member_name (builder, "jaccard");
      json_builder_add_double_value (builder, leak->jaccard);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/* ------------------------------------------------------------------------------------------ */
/* Stored versions */

static void
restore_provenance (TailorExample *example)
{
  gsize prefix_len = strlen (TAILOR_SOURCE_TAG_PREFIX);

  g_clear_pointer (&example->source, g_free);
  example->line = 0;
  for (guint i = 0; i < example->tags->len; i++)
    {
      const char *tag = g_ptr_array_index (example->tags, i);

      if (g_str_has_prefix (tag, TAILOR_SOURCE_TAG_PREFIX))
        {
          example->source = g_strdup (tag + prefix_len);
          g_ptr_array_remove_index (example->tags, i);
          return;
        }
    }
}

/* The tag goes last, so that reading and writing back gives the same stored line. */
static void
add_provenance (TailorExample *example)
{
  g_autofree char *name = NULL;
  g_autofree char *tag = NULL;

  if (example->source == NULL)
    return;
  name = g_path_get_basename (example->source);
  tag = g_strconcat (TAILOR_SOURCE_TAG_PREFIX, name, NULL);
  tailor_example_add_tag (example, tag);
}

GPtrArray *
tailor_dataset_read_split (TailorCatalogue *catalogue,
                           const TailorDatasetVersion *version,
                           TailorSplit split,
                           GError **error)
{
  g_autoptr (TailorExampleReader) reader = NULL;
  g_autoptr (GPtrArray) examples = NULL;
  g_autoptr (GError) local_error = NULL;
  TailorExample *example;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (catalogue), NULL);
  g_return_val_if_fail (version != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  reader = tailor_catalogue_read_examples (catalogue, version, split, error);
  if (reader == NULL)
    return NULL;
  examples =
    examples_array_new (split == TAILOR_SPLIT_TRAIN ? version->train_count : version->eval_count);
  while ((example = tailor_example_reader_next (reader, &local_error)) != NULL)
    {
      restore_provenance (example);
      g_ptr_array_add (examples, example);
    }
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  return g_steal_pointer (&examples);
}

TailorDatasetVersion *
tailor_dataset_get_frozen (TailorCatalogue *catalogue, gint64 project_id, GError **error)
{
  g_autoptr (GPtrArray) versions = NULL;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (catalogue), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  versions = tailor_catalogue_list_versions (catalogue, project_id, error);
  if (versions == NULL)
    return NULL;
  for (guint i = 0; i < versions->len; i++)
    if (((TailorDatasetVersion *) g_ptr_array_index (versions, i))->eval_frozen)
      return g_ptr_array_steal_index (versions, i);
  return NULL;
}

TailorLeakReport *
tailor_dataset_leak_check (TailorCatalogue *catalogue,
                           gint64 project_id,
                           const char *version_id,
                           GCancellable *cancellable,
                           GError **error)
{
  g_autoptr (GPtrArray) versions = NULL;
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GPtrArray) eval = NULL;
  const TailorDatasetVersion *target = NULL;
  const TailorDatasetVersion *frozen = NULL;
  const TailorDatasetVersion *reference;
  guint target_index = 0;
  guint frozen_index = 0;
  TailorLeakReport *report;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (catalogue), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  versions = tailor_catalogue_list_versions (catalogue, project_id, error);
  if (versions == NULL)
    return NULL;
  for (guint i = 0; i < versions->len; i++)
    {
      const TailorDatasetVersion *version = g_ptr_array_index (versions, i);

      if (frozen == NULL && version->eval_frozen)
        {
          frozen = version;
          frozen_index = i;
        }
      if (version_id == NULL ? i + 1 == versions->len : g_str_equal (version->id, version_id))
        {
          target = version;
          target_index = i;
        }
    }
  if (target == NULL)
    {
      if (version_id != NULL)
        g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                     "There is no dataset version “%s” in this project; `tailor-cli data versions "
                     "PROJECT` lists them.",
                     version_id);
      else
        g_set_error_literal (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                             "The project has no dataset version yet; import data with "
                             "`tailor-cli data import PROJECT FILE…` first.");
      return NULL;
    }

  reference = frozen != NULL && target_index >= frozen_index ? frozen : target;
  train = tailor_dataset_read_split (catalogue, target, TAILOR_SPLIT_TRAIN, error);
  if (train == NULL)
    return NULL;
  eval = tailor_dataset_read_split (catalogue, reference, TAILOR_SPLIT_EVAL, error);
  if (eval == NULL)
    return NULL;
  report = tailor_leak_check_examples (eval, train, NULL, cancellable, error);
  if (report == NULL)
    return NULL;
  report->version_id = g_strdup (target->id);
  if (reference == frozen)
    {
      report->frozen_version_id = g_strdup (frozen->id);
      report->carries_frozen = g_strcmp0 (target->eval_sha256, frozen->eval_sha256) == 0;
    }
  return report;
}

gboolean
tailor_dataset_freeze_eval (TailorCatalogue *catalogue,
                            gint64 project_id,
                            const char *version_id,
                            GCancellable *cancellable,
                            GError **error)
{
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (TailorDatasetVersion) frozen = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (TailorLeakReport) report = NULL;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (catalogue), FALSE);
  g_return_val_if_fail (version_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  version = tailor_catalogue_get_version (catalogue, project_id, version_id, error);
  if (version == NULL)
    return FALSE;
  if (version->eval_frozen)
    return TRUE;
  frozen = tailor_dataset_get_frozen (catalogue, project_id, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (frozen != NULL && g_strcmp0 (frozen->eval_sha256, version->eval_sha256) != 0)
    {
      g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_FROZEN,
                   "The evaluation set of this project was frozen at version %s; version %s has "
                   "a different one and cannot become the sacred set. Build on the frozen set "
                   "instead.",
                   frozen->id, version->id);
      return FALSE;
    }
  if (version->eval_count == 0)
    {
      g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_INVALID,
                   "Version %s has no evaluation examples to freeze; split it first, e.g. with "
                   "`tailor-cli data split PROJECT --eval-ratio %g`.",
                   version->id, TAILOR_SPLIT_DEFAULT_EVAL_RATIO);
      return FALSE;
    }
  report = tailor_dataset_leak_check (catalogue, project_id, version_id, cancellable, error);
  if (report == NULL || !tailor_leak_report_to_error (report, error))
    return FALSE;
  return tailor_catalogue_freeze_eval (catalogue, project_id, version_id, error);
}

/* ------------------------------------------------------------------------------------------ */
/* The dataset builder */

void
tailor_hygiene_settings_init (TailorHygieneSettings *settings)
{
  g_return_if_fail (settings != NULL);

  memset (settings, 0, sizeof *settings);
  settings->dedup = TRUE;
  tailor_dedup_options_init (&settings->dedup_options);
  tailor_pii_options_init (&settings->pii);
  tailor_leak_options_init (&settings->leak_options);
}

typedef struct
{
  char *path;
  char *sha256;
  char *license;
  char *format;
  guint64 size;
  guint64 read;
  guint64 accepted;
  guint64 rejected;
} ImportRecord;

static void
import_record_free (gpointer data)
{
  ImportRecord *record = data;

  g_free (record->path);
  g_free (record->sha256);
  g_free (record->license);
  g_free (record->format);
  g_free (record);
}

typedef struct
{
  guint64 read, accepted, rejected;
  guint64 counter_examples;
  guint64 pii_examples_with_findings, pii_redacted, pii_dropped;
  guint64 pii_findings[TAILOR_PII_N_KINDS];
  guint64 pii_redacted_by_kind[TAILOR_PII_N_KINDS];
  guint64 glossary_examples_changed, glossary_replacements;
  guint64 dedup_before, dedup_exact, dedup_near, dedup_after;
  guint64 carried_train, carried_eval, new_train, new_eval;
  guint64 moved_to_eval, moved_to_train;
  guint64 train, eval;
} Counts;

struct _TailorDatasetBuilder
{
  TailorCatalogue *catalogue;
  char *project_name;
  gint64 project_id; /* 0: created on commit */
  TailorDatasetVersion *parent;
  TailorHygieneSettings hygiene;
  char **counter_markers;
  char *glossary_path;
  char *glossary_sha256;
  TailorGlossary *glossary;
  TailorSplitOptions split;
  gboolean resplit;
  gboolean freeze;
  GPtrArray *incoming;       /* TailorExample*, hygiene applied */
  GPtrArray *batch;          /* TailorExample*, waiting for hygiene */
  GPtrArray *imports;        /* ImportRecord* */
  GCancellable *cancellable; /* during an import */
  Counts counts;
  char *changelog;
  char *counts_json;
  gboolean committed;
};

void
tailor_dataset_builder_free (TailorDatasetBuilder *self)
{
  if (self == NULL)
    return;
  g_clear_object (&self->catalogue);
  g_free (self->project_name);
  g_clear_pointer (&self->parent, tailor_dataset_version_free);
  g_strfreev (self->counter_markers);
  g_free (self->glossary_path);
  g_free (self->glossary_sha256);
  g_clear_pointer (&self->glossary, tailor_glossary_free);
  g_clear_pointer (&self->incoming, g_ptr_array_unref);
  g_clear_pointer (&self->batch, g_ptr_array_unref);
  g_clear_pointer (&self->imports, g_ptr_array_unref);
  g_free (self->changelog);
  g_free (self->counts_json);
  g_free (self);
}

static char *
file_sha256 (const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &contents, &len, error))
    return NULL;
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
}

TailorDatasetBuilder *
tailor_dataset_builder_new (TailorCatalogue *catalogue,
                            const char *project_name,
                            const char *parent,
                            const TailorHygieneSettings *hygiene,
                            const TailorSplitOptions *split,
                            GError **error)
{
  g_autoptr (TailorDatasetBuilder) self = NULL;
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (catalogue), NULL);
  g_return_val_if_fail (project_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_new0 (TailorDatasetBuilder, 1);
  self->catalogue = g_object_ref (catalogue);
  self->project_name = g_strdup (project_name);
  self->incoming = examples_array_new (0);
  self->batch = examples_array_new (HYGIENE_BATCH);
  self->imports = g_ptr_array_new_with_free_func (import_record_free);
  if (hygiene != NULL)
    self->hygiene = *hygiene;
  else
    tailor_hygiene_settings_init (&self->hygiene);
  self->counter_markers = g_strdupv ((char **) self->hygiene.counter_markers);
  self->hygiene.counter_markers = (const char *const *) self->counter_markers;
  self->glossary_path = g_strdup (self->hygiene.glossary_path);
  self->hygiene.glossary_path = self->glossary_path;

  if (self->hygiene.dedup && !(self->hygiene.dedup_options.threshold > 0.0 &&
                               self->hygiene.dedup_options.threshold <= 1.0))
    {
      g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_INVALID,
                   "Near-duplicate threshold %g is out of range; use a similarity above 0 and at "
                   "most 1 (default 0.8)",
                   self->hygiene.dedup_options.threshold);
      return NULL;
    }
  if (self->glossary_path != NULL)
    {
      self->glossary = tailor_glossary_load (self->glossary_path, error);
      if (self->glossary == NULL)
        return NULL;
      self->glossary_sha256 = file_sha256 (self->glossary_path, error);
      if (self->glossary_sha256 == NULL)
        return NULL;
    }

  project = tailor_catalogue_find_project (catalogue, project_name, &local_error);
  if (project == NULL &&
      !g_error_matches (local_error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  g_clear_error (&local_error);
  if (project != NULL)
    self->project_id = project->id;

  if (parent != NULL)
    {
      if (project == NULL)
        {
          g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                       "There is no project “%s” to take the parent version %s from.", project_name,
                       parent);
          return NULL;
        }
      self->parent = tailor_catalogue_get_version (catalogue, project->id, parent, error);
      if (self->parent == NULL)
        return NULL;
    }
  else if (project != NULL)
    {
      g_autoptr (GPtrArray) versions =
        tailor_catalogue_list_versions (catalogue, project->id, error);

      if (versions == NULL)
        return NULL;
      if (versions->len > 0)
        self->parent = g_ptr_array_steal_index (versions, versions->len - 1);
    }

  if (split != NULL)
    self->split = *split;
  else if (self->parent != NULL)
    {
      if (!tailor_split_options_from_json (self->parent->split_settings, &self->split, error))
        return NULL;
    }
  else
    tailor_split_options_init (&self->split);
  if (!check_split_options (&self->split, error))
    return NULL;
  return g_steal_pointer (&self);
}

void
tailor_dataset_builder_set_resplit (TailorDatasetBuilder *self, gboolean resplit)
{
  g_return_if_fail (self != NULL);

  self->resplit = resplit;
}

void
tailor_dataset_builder_set_freeze_eval (TailorDatasetBuilder *self, gboolean freeze)
{
  g_return_if_fail (self != NULL);

  self->freeze = freeze;
}

/* Replaces the batch's examples by the hygiene step's copies. */
static void
replace_batch (TailorDatasetBuilder *self, GPtrArray *cleaned)
{
  g_ptr_array_set_size (self->batch, 0);
  move_all (self->batch, cleaned);
  g_ptr_array_unref (cleaned);
}

static void
count_pii (TailorDatasetBuilder *self, const TailorPiiReport *report)
{
  g_autofree guint8 *dropped = g_new0 (guint8, MAX (report->n_examples, 1));

  self->counts.pii_examples_with_findings += report->n_examples_with_findings;
  self->counts.pii_redacted += report->n_redacted;
  self->counts.pii_dropped += report->n_dropped;
  for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
    self->counts.pii_findings[k] += report->counts[k];
  /* A redaction in an example that is dropped anyway never happens. */
  for (guint i = 0; i < report->findings->len; i++)
    {
      const TailorPiiFinding *finding = &g_array_index (report->findings, TailorPiiFinding, i);

      if (report->options.actions[finding->kind] == TAILOR_PII_ACTION_DROP)
        dropped[finding->index] = 1;
    }
  for (guint i = 0; i < report->findings->len; i++)
    {
      const TailorPiiFinding *finding = &g_array_index (report->findings, TailorPiiFinding, i);

      if (report->options.actions[finding->kind] == TAILOR_PII_ACTION_REDACT &&
          !dropped[finding->index])
        self->counts.pii_redacted_by_kind[finding->kind]++;
    }
}

static gboolean
process_batch (TailorDatasetBuilder *self, GError **error)
{
  if (self->batch->len == 0)
    return TRUE;

  for (guint m = 0; self->counter_markers != NULL && self->counter_markers[m] != NULL; m++)
    tailor_examples_tag_where (self->batch, TAILOR_TAG_COUNTER_EXAMPLE,
                               tailor_example_contains_marker, self->counter_markers[m]);
  self->counts.counter_examples +=
    tailor_examples_count_tag (self->batch, TAILOR_TAG_COUNTER_EXAMPLE);

  /* Secrets first, on the text as written: a glossary rewrite could hide one from the scanner. */
  {
    g_autoptr (TailorPiiReport) report =
      tailor_pii_scan (self->batch, &self->hygiene.pii, self->cancellable, error);

    if (report == NULL)
      return FALSE;
    count_pii (self, report);
    if (report->n_redacted > 0 || report->n_dropped > 0)
      replace_batch (self, tailor_pii_report_apply (report, self->batch));
  }

  if (self->glossary != NULL)
    {
      g_autoptr (TailorGlossaryReport) report = NULL;
      GPtrArray *normalised = tailor_glossary_apply (self->glossary, self->batch, &report);

      self->counts.glossary_examples_changed += report->n_examples_changed;
      for (guint e = 0; e < report->entries->len; e++)
        self->counts.glossary_replacements +=
          g_array_index (report->entries, TailorGlossaryCount, e).n_replacements;
      replace_batch (self, normalised);
    }

  move_all (self->incoming, self->batch);
  return TRUE;
}

/* The importer has one user_data for both callbacks. */
typedef struct
{
  TailorDatasetBuilder *builder;
  TailorImportRejectFunc on_reject;
  gpointer user_data;
} ImportRelay;

static gboolean
on_import_example (TailorExample *example, gpointer user_data, GError **error)
{
  ImportRelay *relay = user_data;
  TailorDatasetBuilder *self = relay->builder;

  g_ptr_array_add (self->batch, example);
  if (self->batch->len < HYGIENE_BATCH)
    return TRUE;
  return process_batch (self, error);
}

static void
on_import_reject (const TailorImportReject *reject, gpointer user_data)
{
  ImportRelay *relay = user_data;

  if (relay->on_reject != NULL)
    relay->on_reject (reject, relay->user_data);
}

static void
record_import (TailorDatasetBuilder *self, const TailorImportSummary *summary, guint64 size)
{
  ImportRecord *record = g_new0 (ImportRecord, 1);

  record->path = g_strdup (summary->path);
  record->sha256 = g_strdup (summary->sha256);
  record->license = g_strdup (summary->license);
  record->format = g_strdup (tailor_import_format_to_string (summary->format));
  record->size = size;
  record->read = summary->records_read;
  record->accepted = summary->accepted;
  record->rejected = summary->rejected;
  g_ptr_array_add (self->imports, record);
  self->counts.read += summary->records_read;
  self->counts.accepted += summary->accepted;
  self->counts.rejected += summary->rejected;
}

gboolean
tailor_dataset_builder_import_file (TailorDatasetBuilder *self,
                                    const char *path,
                                    TailorImportFormat format,
                                    const TailorImportOptions *options,
                                    TailorImportRejectFunc on_reject,
                                    gpointer user_data,
                                    GCancellable *cancellable,
                                    GError **error)
{
  g_autoptr (TailorImportSummary) summary = NULL;
  ImportRelay relay = { self, on_reject, user_data };
  Counts saved;
  guint mark;
  GStatBuf st;
  gboolean ok;

  g_return_val_if_fail (self != NULL && !self->committed, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  saved = self->counts;
  mark = self->incoming->len;
  self->cancellable = cancellable;
  summary = tailor_import_file (path, format, options, on_import_example, on_import_reject, &relay,
                                cancellable, error);
  ok = summary != NULL && process_batch (self, error);
  self->cancellable = NULL;
  if (!ok)
    {
      /* What this file delivered before failing is discarded: a file is imported whole. */
      g_ptr_array_set_size (self->batch, 0);
      g_ptr_array_set_size (self->incoming, mark);
      self->counts = saved;
      return FALSE;
    }
  record_import (self, summary, g_stat (path, &st) == 0 ? (guint64) st.st_size : 0);
  return TRUE;
}

gboolean
tailor_dataset_builder_add_examples (TailorDatasetBuilder *self,
                                     const TailorImportSummary *summary,
                                     guint64 size,
                                     GPtrArray *examples,
                                     GError **error)
{
  Counts saved;
  guint mark;
  gboolean ok = TRUE;

  g_return_val_if_fail (self != NULL && !self->committed, FALSE);
  g_return_val_if_fail (summary != NULL && summary->path != NULL && summary->sha256 != NULL, FALSE);
  g_return_val_if_fail (examples != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  saved = self->counts;
  mark = self->incoming->len;
  for (guint i = 0; i < examples->len; i++)
    {
      g_ptr_array_add (self->batch, g_ptr_array_index (examples, i));
      g_ptr_array_index (examples, i) = NULL;
      if (ok && self->batch->len >= HYGIENE_BATCH)
        ok = process_batch (self, error);
    }
  g_ptr_array_set_size (examples, 0);
  if (!ok || !process_batch (self, error))
    {
      g_ptr_array_set_size (self->batch, 0);
      g_ptr_array_set_size (self->incoming, mark);
      self->counts = saved;
      return FALSE;
    }
  record_import (self, summary, size);
  return TRUE;
}

typedef enum
{
  ORIGIN_EVAL,  /* the parent's (or the frozen) eval split */
  ORIGIN_TRAIN, /* the parent's training split */
  ORIGIN_NEW,
} Origin;

/* Deduplicates pool (left empty) into kept, with origins following. Examples whose origin is
 * protected are kept even when flagged (the frozen set is never touched). */
static gboolean
deduplicate (TailorDatasetBuilder *self,
             GPtrArray *pool,
             GArray *origins,
             gboolean protect_eval,
             GPtrArray *kept,
             GArray *kept_origins,
             GCancellable *cancellable,
             GError **error)
{
  g_autoptr (TailorDuplicateReport) report = NULL;
  g_autofree guint8 *exact = g_new0 (guint8, MAX (pool->len, 1));

  self->counts.dedup_before = pool->len;
  if (self->hygiene.dedup && pool->len > 1)
    {
      report = tailor_find_duplicates (pool, &self->hygiene.dedup_options, cancellable, error);
      if (report == NULL)
        return FALSE;
      for (guint c = 0; c < report->clusters->len; c++)
        {
          const TailorDuplicateCluster *cluster = g_ptr_array_index (report->clusters, c);

          for (guint d = 0; d < cluster->duplicates->len; d++)
            {
              const TailorDuplicate *dup = &g_array_index (cluster->duplicates, TailorDuplicate, d);

              exact[dup->index] = dup->exact;
            }
        }
    }
  for (guint i = 0; i < pool->len; i++)
    {
      TailorExample *example = g_ptr_array_index (pool, i);
      Origin origin = g_array_index (origins, Origin, i);
      gboolean drop =
        report != NULL && report->is_duplicate[i] && !(protect_eval && origin == ORIGIN_EVAL);

      g_ptr_array_index (pool, i) = NULL;
      if (drop)
        {
          if (exact[i])
            self->counts.dedup_exact++;
          else
            self->counts.dedup_near++;
          tailor_example_free (example);
          continue;
        }
      g_ptr_array_add (kept, example);
      g_array_append_val (kept_origins, origin);
    }
  g_ptr_array_set_size (pool, 0);
  self->counts.dedup_after = kept->len;
  return TRUE;
}

/* Until no training example matches an evaluation example: a non-counter-example moves to eval
 * with its twin; an evaluation example matched by a counter-example (which must stay in training)
 * or by an example pinned there moves to training and is pinned. */
static gboolean
separate_near_duplicates (TailorDatasetBuilder *self,
                          GPtrArray **train,
                          GPtrArray **eval,
                          GCancellable *cancellable,
                          GError **error)
{
  g_autoptr (GHashTable) pinned = g_hash_table_new (NULL, NULL);

  for (guint round = 0; round < MAX_SEPARATION_ROUNDS; round++)
    {
      g_autoptr (TailorSetMatchReport) matches = NULL;
      g_autofree guint8 *train_moves = NULL;
      g_autofree guint8 *eval_moves = NULL;
      GPtrArray *new_train;
      GPtrArray *new_eval;

      matches = find_leak_matches (*eval, *train, &self->hygiene.leak_options, cancellable, error);
      if (matches == NULL)
        return FALSE;
      if (matches->matches->len == 0)
        return TRUE;

      train_moves = g_new0 (guint8, (*train)->len);
      eval_moves = g_new0 (guint8, (*eval)->len);
      for (guint m = 0; m < matches->matches->len; m++)
        {
          const TailorSetMatch *match = &g_array_index (matches->matches, TailorSetMatch, m);
          TailorExample *example = g_ptr_array_index (*train, match->index);

          if (tailor_example_has_tag (example, TAILOR_TAG_COUNTER_EXAMPLE) ||
              g_hash_table_contains (pinned, example))
            eval_moves[match->frozen_index] = 1;
          else
            train_moves[match->index] = 1;
        }

      new_train = examples_array_new ((*train)->len);
      new_eval = examples_array_new ((*eval)->len);
      for (guint i = 0; i < (*train)->len; i++)
        {
          if (train_moves[i])
            self->counts.moved_to_eval++;
          g_ptr_array_add (train_moves[i] ? new_eval : new_train, g_ptr_array_index (*train, i));
        }
      for (guint i = 0; i < (*eval)->len; i++)
        {
          TailorExample *example = g_ptr_array_index (*eval, i);

          if (eval_moves[i])
            {
              g_hash_table_add (pinned, example);
              self->counts.moved_to_train++;
            }
          g_ptr_array_add (eval_moves[i] ? new_train : new_eval, example);
        }
      g_ptr_array_set_free_func (*train, NULL);
      g_ptr_array_set_free_func (*eval, NULL);
      g_ptr_array_unref (*train);
      g_ptr_array_unref (*eval);
      *train = new_train;
      *eval = new_eval;
    }
  g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_LEAK,
               "Training and evaluation examples could not be separated after %d rounds of moving "
               "near-duplicates; the data has long chains of near-identical examples. Raise the "
               "deduplication (lower --dedup-threshold) and import again.",
               MAX_SEPARATION_ROUNDS);
  return FALSE;
}

static const char *const pii_kind_words[TAILOR_PII_N_KINDS][2] = {
  [TAILOR_PII_EMAIL] = { "email", "emails" },
  [TAILOR_PII_PHONE] = { "phone number", "phone numbers" },
  [TAILOR_PII_CREDIT_CARD] = { "credit card number", "credit card numbers" },
  [TAILOR_PII_IBAN] = { "IBAN", "IBANs" },
  [TAILOR_PII_IP_ADDRESS] = { "IP address", "IP addresses" },
  [TAILOR_PII_PRIVATE_KEY] = { "private key", "private keys" },
  [TAILOR_PII_API_KEY] = { "API key", "API keys" },
  [TAILOR_PII_URL_PASSWORD] = { "password in a URL", "passwords in URLs" },
  [TAILOR_PII_NATIONAL_ID] = { "national ID number", "national ID numbers" },
};

static void
append_count (GString *out, guint64 n, const char *one, const char *many)
{
  g_string_append_printf (out, "%" G_GUINT64_FORMAT " %s", n, n == 1 ? one : many);
}

static char *
make_changelog (TailorDatasetBuilder *self, gboolean frozen_eval)
{
  GString *out = g_string_new (NULL);
  const Counts *c = &self->counts;
  guint64 removed = c->dedup_before - c->dedup_after;

  if (self->imports->len > 0)
    {
      g_string_append (out, "Imported ");
      for (guint i = 0; i < self->imports->len; i++)
        {
          const ImportRecord *record = g_ptr_array_index (self->imports, i);
          g_autofree char *name = g_path_get_basename (record->path);

          if (i > 0)
            g_string_append (out, ", ");
          g_string_append_printf (out, "%s (", name);
          append_count (out, record->accepted, "example", "examples");
          if (record->rejected > 0)
            g_string_append_printf (out, ", %" G_GUINT64_FORMAT " rejected", record->rejected);
          g_string_append_c (out, ')');
        }
    }
  else if (self->resplit)
    {
      if (self->split.eval_count > 0)
        g_string_append_printf (out, "Re-split with %u evaluation examples",
                                self->split.eval_count);
      else
        g_string_append_printf (out, "Re-split with evaluation ratio %g", self->split.eval_ratio);
    }
  else
    g_string_append (out, "Rebuilt");

  if (removed > 0)
    {
      g_string_append (out, "; removed ");
      append_count (out, removed, "duplicate", "duplicates");
    }
  if (c->pii_redacted > 0)
    {
      gboolean first = TRUE;

      g_string_append (out, "; redacted ");
      for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
        {
          if (c->pii_redacted_by_kind[k] == 0)
            continue;
          if (!first)
            g_string_append (out, ", ");
          append_count (out, c->pii_redacted_by_kind[k], pii_kind_words[k][0],
                        pii_kind_words[k][1]);
          first = FALSE;
        }
    }
  if (c->pii_dropped > 0)
    {
      g_string_append (out, "; dropped ");
      append_count (out, c->pii_dropped, "example", "examples");
      g_string_append (out, " with secrets or personal data");
    }
  if (c->glossary_examples_changed > 0)
    {
      g_string_append (out, "; normalised terms in ");
      append_count (out, c->glossary_examples_changed, "example", "examples");
    }
  if (c->counter_examples > 0)
    {
      g_string_append (out, "; tagged ");
      append_count (out, c->counter_examples, "counter-example", "counter-examples");
    }
  if (c->moved_to_eval > 0)
    {
      g_string_append (out, "; moved ");
      append_count (out, c->moved_to_eval, "near-duplicate", "near-duplicates");
      g_string_append (out, " of evaluation examples into evaluation");
    }
  if (c->moved_to_train > 0)
    {
      g_string_append (out, "; moved ");
      append_count (out, c->moved_to_train, "evaluation example", "evaluation examples");
      g_string_append (out, " next to a counter-example into training");
    }
  if (frozen_eval)
    {
      g_string_append (out, "; kept the frozen evaluation set (");
      append_count (out, c->eval, "example", "examples");
      g_string_append_c (out, ')');
    }
  if (self->freeze)
    g_string_append (out, "; froze the evaluation set");
  return g_string_free (out, FALSE);
}

static void
add_dedup_options (JsonBuilder *b, const TailorDedupOptions *options)
{
  json_builder_set_member_name (b, "threshold");
  json_builder_add_double_value (b, options->threshold);
  json_builder_set_member_name (b, "shingle_words");
  json_builder_add_int_value (b, options->shingle_words);
}

static char *
hygiene_settings_json (TailorDatasetBuilder *self)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "dedup");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "enabled");
  json_builder_add_boolean_value (b, self->hygiene.dedup);
  add_dedup_options (b, &self->hygiene.dedup_options);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "pii");
  json_builder_begin_object (b);
  for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
    {
      json_builder_set_member_name (b, tailor_pii_kind_to_string (k));
      json_builder_add_string_value (
        b, self->hygiene.pii.enabled[k] ? tailor_pii_action_to_string (self->hygiene.pii.actions[k])
                                        : "off");
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "glossary");
  if (self->glossary != NULL)
    {
      g_autofree char *name = g_path_get_basename (self->glossary_path);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "file");
      json_builder_add_string_value (b, name);
      json_builder_set_member_name (b, "sha256");
      json_builder_add_string_value (b, self->glossary_sha256);
      json_builder_end_object (b);
    }
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "counter_markers");
  json_builder_begin_array (b);
  for (guint m = 0; self->counter_markers != NULL && self->counter_markers[m] != NULL; m++)
    json_builder_add_string_value (b, self->counter_markers[m]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "leak");
  json_builder_begin_object (b);
  add_dedup_options (b, &self->hygiene.leak_options);
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static void
add_count (JsonBuilder *b, const char *name, guint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, (gint64) value);
}

static char *
counts_json (TailorDatasetBuilder *self, gboolean frozen_eval)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  const Counts *c = &self->counts;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "import");
  json_builder_begin_object (b);
  add_count (b, "files", self->imports->len);
  add_count (b, "read", c->read);
  add_count (b, "accepted", c->accepted);
  add_count (b, "rejected", c->rejected);
  json_builder_end_object (b);
  add_count (b, "counter_examples", c->counter_examples);
  json_builder_set_member_name (b, "pii");
  json_builder_begin_object (b);
  add_count (b, "examples_with_findings", c->pii_examples_with_findings);
  add_count (b, "redacted", c->pii_redacted);
  add_count (b, "dropped_examples", c->pii_dropped);
  json_builder_set_member_name (b, "findings");
  json_builder_begin_object (b);
  for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
    add_count (b, tailor_pii_kind_to_string (k), c->pii_findings[k]);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "glossary");
  json_builder_begin_object (b);
  add_count (b, "examples_changed", c->glossary_examples_changed);
  add_count (b, "replacements", c->glossary_replacements);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "dedup");
  json_builder_begin_object (b);
  add_count (b, "before", c->dedup_before);
  add_count (b, "exact", c->dedup_exact);
  add_count (b, "near", c->dedup_near);
  add_count (b, "after", c->dedup_after);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "split");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "frozen_eval");
  json_builder_add_boolean_value (b, frozen_eval);
  add_count (b, "carried_train", c->carried_train);
  add_count (b, "carried_eval", c->carried_eval);
  add_count (b, "new_train", c->new_train);
  add_count (b, "new_eval", c->new_eval);
  add_count (b, "moved_to_eval", c->moved_to_eval);
  add_count (b, "moved_to_train", c->moved_to_train);
  json_builder_end_object (b);
  add_count (b, "train", c->train);
  add_count (b, "eval", c->eval);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* The frozen case: eval is the sacred set as stored; everything else is training, and nothing of
 * it may match the sacred set. */
static gboolean
build_on_frozen (TailorDatasetBuilder *self,
                 const TailorDatasetVersion *frozen,
                 GPtrArray *parent_train,
                 GPtrArray *parent_eval,
                 GPtrArray **out_train,
                 GPtrArray **out_eval,
                 GCancellable *cancellable,
                 GError **error)
{
  g_autoptr (GPtrArray) sacred = NULL;
  g_autoptr (GPtrArray) eval = examples_array_new (0);
  g_autoptr (GPtrArray) pool = examples_array_new (0);
  g_autoptr (GArray) origins = g_array_new (FALSE, FALSE, sizeof (Origin));
  g_autoptr (GPtrArray) kept = examples_array_new (0);
  g_autoptr (GArray) kept_origins = g_array_new (FALSE, FALSE, sizeof (Origin));
  g_autoptr (GHashTable) eval_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) train = examples_array_new (0);
  g_autoptr (TailorLeakReport) report = NULL;
  Origin origin;

  sacred = tailor_dataset_read_split (self->catalogue, frozen, TAILOR_SPLIT_EVAL, error);
  if (sacred == NULL)
    return FALSE;
  for (guint i = 0; i < sacred->len; i++)
    g_hash_table_add (eval_ids, tailor_example_content_id (g_ptr_array_index (sacred, i)));

  /* The sacred set first: duplicates of it among the rest are dropped, never it. */
  origin = ORIGIN_EVAL;
  for (guint i = 0; i < sacred->len; i++)
    g_array_append_val (origins, origin);
  move_all (pool, sacred);
  origin = ORIGIN_TRAIN;
  for (guint i = 0; i < parent_train->len; i++)
    g_array_append_val (origins, origin);
  move_all (pool, parent_train);
  /* A parent from before the freeze may hold evaluation examples that are not sacred; those
   * are training material now, except copies of the sacred set. */
  for (guint i = 0; i < parent_eval->len; i++)
    {
      TailorExample *example = g_ptr_array_index (parent_eval, i);
      g_autofree char *id = tailor_example_content_id (example);

      if (g_hash_table_contains (eval_ids, id))
        continue;
      g_ptr_array_add (pool, tailor_example_copy (example));
      g_array_append_val (origins, origin);
    }
  origin = ORIGIN_NEW;
  for (guint i = 0; i < self->incoming->len; i++)
    g_array_append_val (origins, origin);
  move_all (pool, self->incoming);

  if (!deduplicate (self, pool, origins, TRUE, kept, kept_origins, cancellable, error))
    return FALSE;
  for (guint i = 0; i < kept->len; i++)
    {
      Origin o = g_array_index (kept_origins, Origin, i);

      if (o == ORIGIN_EVAL)
        g_ptr_array_add (eval, g_ptr_array_index (kept, i));
      else
        {
          g_ptr_array_add (train, g_ptr_array_index (kept, i));
          if (o == ORIGIN_NEW)
            self->counts.new_train++;
          else
            self->counts.carried_train++;
        }
      g_ptr_array_index (kept, i) = NULL;
    }
  self->counts.carried_eval = eval->len;

  report =
    tailor_leak_check_examples (eval, train, &self->hygiene.leak_options, cancellable, error);
  if (report == NULL)
    return FALSE;
  report->frozen_version_id = g_strdup (frozen->id);
  if (!tailor_leak_report_to_error (report, error))
    return FALSE;
  *out_train = g_steal_pointer (&train);
  *out_eval = g_steal_pointer (&eval);
  return TRUE;
}

/* No frozen set: the parent's examples keep their split (all are re-split with resplit), new
 * examples are split among themselves, then near-duplicates are separated. */
static gboolean
build_unfrozen (TailorDatasetBuilder *self,
                GPtrArray *parent_train,
                GPtrArray *parent_eval,
                GPtrArray **out_train,
                GPtrArray **out_eval,
                GCancellable *cancellable,
                GError **error)
{
  g_autoptr (GPtrArray) pool = examples_array_new (0);
  g_autoptr (GArray) origins = g_array_new (FALSE, FALSE, sizeof (Origin));
  g_autoptr (GPtrArray) kept = examples_array_new (0);
  g_autoptr (GArray) kept_origins = g_array_new (FALSE, FALSE, sizeof (Origin));
  g_autoptr (GPtrArray) candidates = examples_array_new (0);
  g_autoptr (GPtrArray) train = examples_array_new (0);
  g_autoptr (GPtrArray) eval = examples_array_new (0);
  g_autofree guint8 *flags = NULL;
  Origin origin;
  guint total = G_MAXUINT;

  origin = ORIGIN_EVAL;
  for (guint i = 0; i < parent_eval->len; i++)
    g_array_append_val (origins, origin);
  move_all (pool, parent_eval);
  origin = ORIGIN_TRAIN;
  for (guint i = 0; i < parent_train->len; i++)
    g_array_append_val (origins, origin);
  move_all (pool, parent_train);
  origin = ORIGIN_NEW;
  for (guint i = 0; i < self->incoming->len; i++)
    g_array_append_val (origins, origin);
  move_all (pool, self->incoming);

  if (!deduplicate (self, pool, origins, FALSE, kept, kept_origins, cancellable, error))
    return FALSE;

  for (guint i = 0; i < kept->len; i++)
    {
      Origin o = g_array_index (kept_origins, Origin, i);
      TailorExample *example = g_ptr_array_index (kept, i);

      g_ptr_array_index (kept, i) = NULL;
      if (self->resplit || o == ORIGIN_NEW)
        g_ptr_array_add (candidates, example);
      else if (o == ORIGIN_EVAL)
        g_ptr_array_add (eval, example);
      else
        g_ptr_array_add (train, example);
    }
  self->counts.carried_train = train->len;
  self->counts.carried_eval = eval->len;

  if (!self->resplit && self->split.eval_count > 0)
    total = self->split.eval_count > eval->len ? self->split.eval_count - eval->len : 0;
  flags = assign_with_total (candidates, &self->split, total, NULL);
  for (guint i = 0; i < candidates->len; i++)
    {
      if (self->resplit)
        continue;
      if (flags[i])
        self->counts.new_eval++;
      else
        self->counts.new_train++;
    }
  if (self->resplit)
    {
      self->counts.carried_train = 0;
      self->counts.carried_eval = 0;
    }
  partition (candidates, flags, train, eval);

  if (!separate_near_duplicates (self, &train, &eval, cancellable, error))
    return FALSE;
  *out_train = g_steal_pointer (&train);
  *out_eval = g_steal_pointer (&eval);
  return TRUE;
}

/* Records the project, the sources and the version in one transaction. */
static TailorDatasetVersion *
write_all (TailorDatasetBuilder *self,
           const TailorDatasetVersion *frozen,
           GPtrArray *train,
           GPtrArray *eval,
           const char *split_settings,
           const char *hygiene_settings,
           gboolean *created,
           GError **error)
{
  g_autoptr (GArray) source_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (TailorDatasetVersion) version = NULL;
  TailorVersionRequest request = { 0 };
  gint64 project_id = self->project_id;
  gboolean inserted = FALSE;

  if (!tailor_catalogue_begin (self->catalogue, error))
    return NULL;
  if (project_id == 0)
    {
      g_autoptr (TailorProject) project =
        tailor_catalogue_create_project (self->catalogue, self->project_name, "", error);

      if (project == NULL)
        goto fail;
      project_id = project->id;
    }
  for (guint i = 0; i < self->imports->len; i++)
    {
      const ImportRecord *record = g_ptr_array_index (self->imports, i);
      TailorSource source = { 0 };
      gint64 id;

      source.project_id = project_id;
      source.path = record->path;
      source.sha256 = record->sha256;
      source.size = record->size;
      source.license = record->license;
      source.format = record->format;
      source.examples = record->accepted;
      source.rejected = record->rejected;
      id = tailor_catalogue_add_source (self->catalogue, &source, error);
      if (id == 0)
        goto fail;
      g_array_append_val (source_ids, id);
    }

  request.parent = self->parent != NULL ? self->parent->id : NULL;
  request.changelog = self->changelog;
  request.split_settings = split_settings;
  request.hygiene_settings = hygiene_settings;
  request.hygiene_counts = self->counts_json;
  request.source_ids = (const gint64 *) source_ids->data;
  request.n_source_ids = source_ids->len;
  request.freeze_eval = self->freeze;
  version = tailor_catalogue_write_version (self->catalogue, project_id, &request, train, eval,
                                            &inserted, error);
  if (version == NULL)
    goto fail;
  if (frozen != NULL && g_strcmp0 (version->eval_sha256, frozen->eval_sha256) != 0)
    {
      g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_FROZEN,
                   "The new version's evaluation set differs from the one frozen at version %s; "
                   "nothing was saved. The frozen examples file may have been changed on disk.",
                   frozen->id);
      goto fail;
    }
  if (!inserted)
    {
      /* The same content exists: an import that adds nothing records nothing. */
      tailor_catalogue_rollback (self->catalogue);
      *created = FALSE;
      if (self->freeze &&
          !tailor_dataset_freeze_eval (self->catalogue, project_id, version->id, NULL, error))
        return NULL;
      if (self->freeze)
        version->eval_frozen = TRUE;
      return g_steal_pointer (&version);
    }
  if (!tailor_catalogue_commit (self->catalogue, error))
    return NULL;
  self->project_id = project_id;
  *created = TRUE;
  return g_steal_pointer (&version);

fail:
  tailor_catalogue_rollback (self->catalogue);
  return NULL;
}

TailorDatasetVersion *
tailor_dataset_builder_commit (TailorDatasetBuilder *self,
                               gboolean *created,
                               GCancellable *cancellable,
                               GError **error)
{
  g_autoptr (TailorDatasetVersion) frozen = NULL;
  g_autoptr (GPtrArray) parent_train = NULL;
  g_autoptr (GPtrArray) parent_eval = NULL;
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GPtrArray) eval = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *split_settings = NULL;
  g_autofree char *hygiene_settings = NULL;
  TailorDatasetVersion *version;
  gboolean was_created = FALSE;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (!self->committed, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self->committed = TRUE;
  if (created != NULL)
    *created = FALSE;

  if (self->project_id != 0)
    {
      frozen = tailor_dataset_get_frozen (self->catalogue, self->project_id, &local_error);
      if (local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
    }
  if (frozen != NULL && self->resplit)
    {
      g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_FROZEN,
                   "The evaluation set of project “%s” is frozen (version %s); a new split would "
                   "change it. Later versions keep it as it is.",
                   self->project_name, frozen->id);
      return NULL;
    }

  if (self->parent != NULL)
    {
      parent_train =
        tailor_dataset_read_split (self->catalogue, self->parent, TAILOR_SPLIT_TRAIN, error);
      if (parent_train == NULL)
        return NULL;
      parent_eval =
        tailor_dataset_read_split (self->catalogue, self->parent, TAILOR_SPLIT_EVAL, error);
      if (parent_eval == NULL)
        return NULL;
    }
  else
    {
      parent_train = examples_array_new (0);
      parent_eval = examples_array_new (0);
    }

  if (frozen != NULL)
    {
      if (!build_on_frozen (self, frozen, parent_train, parent_eval, &train, &eval, cancellable,
                            error))
        return NULL;
      split_settings = g_strdup (frozen->split_settings);
    }
  else
    {
      if (!build_unfrozen (self, parent_train, parent_eval, &train, &eval, cancellable, error))
        return NULL;
      split_settings = tailor_split_options_to_json (&self->split);
    }

  if (train->len == 0)
    {
      g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_EMPTY,
                   "No training example is left after hygiene and the split; nothing was saved. "
                   "Import more data or lower the evaluation share.");
      return NULL;
    }
  if (self->freeze && eval->len == 0)
    {
      g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_INVALID,
                   "There is no evaluation example to freeze; split with an evaluation ratio or "
                   "count above 0.");
      return NULL;
    }
  self->counts.train = train->len;
  self->counts.eval = eval->len;
  for (guint i = 0; i < train->len; i++)
    add_provenance (g_ptr_array_index (train, i));
  for (guint i = 0; i < eval->len; i++)
    add_provenance (g_ptr_array_index (eval, i));

  self->changelog = make_changelog (self, frozen != NULL);
  self->counts_json = counts_json (self, frozen != NULL);
  hygiene_settings = hygiene_settings_json (self);

  version =
    write_all (self, frozen, train, eval, split_settings, hygiene_settings, &was_created, error);
  if (version != NULL && created != NULL)
    *created = was_created;
  return version;
}

const char *
tailor_dataset_builder_get_changelog (TailorDatasetBuilder *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->changelog;
}

const char *
tailor_dataset_builder_get_counts (TailorDatasetBuilder *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->counts_json;
}
