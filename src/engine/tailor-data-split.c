/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Train/eval splits by content hash, the frozen evaluation set, its leak check, and the dataset
 * builder that writes a new catalogue version all or nothing. */
#include "config.h"

#include "tailor-data-split.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tailor-parallel.h"

G_DEFINE_QUARK (tailor - split - error - quark, tailor_split_error)

/* Examples go through per-example hygiene and into the spool in batches of this many (and are
 * read back so), so the copies the hygiene steps make never double the memory of a large import.
 * The result does not depend on it. */
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

/* What the split needs to know of an example. */
typedef struct
{
  const guint8 *id;    /* binary content id, 32 bytes */
  const char *stratum; /* its source; "" when unknown */
  gboolean eligible;   /* FALSE for counter-examples, which stay in training */
} SplitItem;

typedef struct
{
  const SplitItem *items;
  guint64 seed;
  guint64 *keys;
} KeyJob;

static void
digest_to_hex (const guint8 *digest, char hex[65])
{
  static const char digits[] = "0123456789abcdef";

  for (guint b = 0; b < 32; b++)
    {
      hex[2 * b] = digits[digest[b] >> 4];
      hex[2 * b + 1] = digits[digest[b] & 15];
    }
  hex[64] = '\0';
}

static void
hex_to_digest (const char *hex, guint8 *digest)
{
  for (guint b = 0; b < 32; b++)
    digest[b] = (g_ascii_xdigit_value (hex[2 * b]) << 4) | g_ascii_xdigit_value (hex[2 * b + 1]);
}

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
      char hex[65];
      guint64 key = 0;

      digest_to_hex (job->items[i].id, hex);
      g_checksum_reset (checksum);
      g_checksum_update (checksum, (const guchar *) seed_prefix, -1);
      g_checksum_update (checksum, (const guchar *) hex, 64);
      g_checksum_get_digest (checksum, digest, &len);
      for (guint b = 0; b < 8; b++)
        key = (key << 8) | digest[b];
      job->keys[i] = key;
    }
}

typedef struct
{
  const char *name;
  GArray *members; /* guint item indices */
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

/* The order of the hex ids is the order of the digests. */
static int
compare_ranked (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const KeyJob *job = user_data;
  guint x = *(const guint *) a;
  guint y = *(const guint *) b;
  int by_id;

  if (job->keys[x] != job->keys[y])
    return job->keys[x] < job->keys[y] ? -1 : 1;
  by_id = memcmp (job->items[x].id, job->items[y].id, 32);
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
assign_items (
  const SplitItem *items, guint n, const TailorSplitOptions *options, guint total, guint *n_eval)
{
  g_autoptr (GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) strata = g_ptr_array_new_with_free_func (stratum_free);
  g_autoptr (GPtrArray) by_fraction = NULL;
  guint8 *flags = g_new0 (guint8, MAX (n, 1));
  KeyJob job = { items, options->seed, NULL };
  guint n_eligible = 0;
  guint assigned = 0;
  guint chosen = 0;

  job.keys = g_new0 (guint64, MAX (n, 1));
  tailor_parallel_for (n, 256, key_range, &job);

  for (guint i = 0; i < n; i++)
    {
      const char *name = items[i].stratum;
      Stratum *stratum;

      if (!items[i].eligible)
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

  g_free (job.keys);
  if (n_eval != NULL)
    *n_eval = chosen;
  return flags;
}

typedef struct
{
  GPtrArray *examples;
  guint8 *ids; /* 32 bytes each */
} IdJob;

static void
id_range (gint64 begin, gint64 end, gpointer user_data)
{
  IdJob *job = user_data;

  for (gint64 i = begin; i < end; i++)
    {
      g_autofree char *hex = tailor_example_content_id (g_ptr_array_index (job->examples, i));

      hex_to_digest (hex, job->ids + 32 * i);
    }
}

static guint8 *
assign_with_total (GPtrArray *examples,
                   const TailorSplitOptions *options,
                   guint total,
                   guint *n_eval)
{
  g_autofree SplitItem *items = g_new0 (SplitItem, MAX (examples->len, 1));
  g_autofree guint8 *ids = g_new (guint8, 32 * (gsize) MAX (examples->len, 1));
  IdJob job = { examples, ids };

  tailor_parallel_for (examples->len, 256, id_range, &job);
  for (guint i = 0; i < examples->len; i++)
    {
      const TailorExample *example = g_ptr_array_index (examples, i);

      items[i].id = ids + 32 * i;
      items[i].stratum = example->source != NULL ? example->source : "";
      items[i].eligible = !tailor_example_has_tag (example, TAILOR_TAG_COUNTER_EXAMPLE);
    }
  return assign_items (items, examples->len, options, total, n_eval);
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
/* The dataset builder
 *
 * Memory does not grow with the size of the examples. Each hygiene batch is written to a spool
 * file in the catalogue's tmp/ folder, as exactly the lines that will be stored, and leaves
 * behind only an Entry per example (content id, source, line, flags: about 56 bytes) and, for
 * deduplication, its MinHash record. Deduplication, the split and the separation of
 * near-duplicates decide on entries; the leak checks read the spool back a batch at a time; the
 * catalogue's version writer takes the kept lines one by one. Every decision is the one the same
 * steps make on examples held in memory, so the version id does not depend on the batch size. */

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
  guint64 rescanned;
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

typedef enum
{
  ORIGIN_EVAL,  /* the parent's (or the frozen) eval split */
  ORIGIN_TRAIN, /* the parent's training split */
  ORIGIN_NEW,
} Origin;

enum
{
  ENTRY_COUNTER = 1 << 0,
  ENTRY_DUPLICATE = 1 << 1, /* dropped by deduplication */
  ENTRY_EVAL = 1 << 2,      /* in the evaluation split */
  ENTRY_PINNED = 1 << 3,    /* moved to training next to a counter-example; stays there */
};

/* All the builder keeps of an example once it is spooled. */
typedef struct
{
  guint8 id[32];  /* content id, binary */
  guint64 line;   /* in its source file; 0 for stored examples */
  guint32 source; /* index in the builder's source names; 0: none */
  guint32 pos;    /* place in its split's order while near-duplicates are separated */
  guint8 origin;  /* Origin */
  guint8 flags;
} Entry;

/* A spool file of stored lines, one per entry, for entries [first, first + n) of the pool. */
typedef struct
{
  char *path;
  FILE *file; /* open while it is written */
  guint first;
  guint n;
} Segment;

static void
segment_free (gpointer data)
{
  Segment *segment = data;

  if (segment->file != NULL)
    fclose (segment->file);
  g_free (segment->path);
  g_free (segment);
}

/* Signature sets are built a batch at a time with tailor_signature_set_new and joined through the
 * layout of tailor_signature_set_serialize (a header that ends with the u32 item count, then
 * fixed-size records, one per item): the joined set is the one tailor_signature_set_new makes of
 * all the examples at once. */
typedef struct
{
  GByteArray *bytes; /* header, then records */
  gsize header_size;
  gsize record_size;
  guint n;
} SignatureJoin;

static guint32
read_u32_le (const guint8 *p)
{
  guint32 v;

  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}

static void
signature_join_clear (SignatureJoin *join)
{
  g_clear_pointer (&join->bytes, g_byte_array_unref);
  join->n = 0;
}

static gboolean
signature_join_init (SignatureJoin *join, const TailorDedupOptions *options, GError **error)
{
  g_autoptr (GPtrArray) none = examples_array_new (0);
  g_autoptr (GPtrArray) one = examples_array_new (1);
  g_autoptr (TailorSignatureSet) none_set = NULL;
  g_autoptr (TailorSignatureSet) one_set = NULL;
  g_autoptr (GBytes) none_bytes = NULL;
  g_autoptr (GBytes) one_bytes = NULL;
  const guint8 *a;
  const guint8 *b;
  gsize a_size = 0;
  gsize b_size = 0;

  g_ptr_array_add (one, tailor_example_new_text ("x"));
  none_set = tailor_signature_set_new (none, options, NULL, error);
  if (none_set == NULL)
    return FALSE;
  one_set = tailor_signature_set_new (one, options, NULL, error);
  if (one_set == NULL)
    return FALSE;
  none_bytes = tailor_signature_set_serialize (none_set);
  one_bytes = tailor_signature_set_serialize (one_set);
  a = g_bytes_get_data (none_bytes, &a_size);
  b = g_bytes_get_data (one_bytes, &b_size);
  if (a_size < 4 || b_size <= a_size || memcmp (a, b, a_size - 4) != 0 ||
      read_u32_le (a + a_size - 4) != 0 || read_u32_le (b + a_size - 4) != 1)
    {
      g_set_error_literal (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_INVALID,
                           "The MinHash signatures of this build are not laid out as the dataset "
                           "builder expects; this is a bug in Tailor, please report it.");
      return FALSE;
    }
  signature_join_clear (join);
  join->header_size = a_size;
  join->record_size = b_size - a_size;
  join->bytes = g_byte_array_new ();
  g_byte_array_append (join->bytes, a, a_size);
  return TRUE;
}

/* The records of set, serialized, and their number. */
static const guint8 *
set_records (const SignatureJoin *join, const TailorSignatureSet *set, GBytes **holder)
{
  gsize size = 0;
  const guint8 *data;

  *holder = tailor_signature_set_serialize (set);
  data = g_bytes_get_data (*holder, &size);
  g_assert (size ==
            join->header_size + (gsize) tailor_signature_set_get_size (set) * join->record_size);
  return data + join->header_size;
}

/* Room for n records, to be filled in any order with signature_join_put. */
static void
signature_join_reserve (SignatureJoin *join, guint n)
{
  g_byte_array_set_size (join->bytes, join->header_size + (gsize) n * join->record_size);
  join->n = n;
}

/* Record i of set goes to slot slots[i]. */
static void
signature_join_put (SignatureJoin *join, const TailorSignatureSet *set, const guint *slots)
{
  g_autoptr (GBytes) holder = NULL;
  const guint8 *records = set_records (join, set, &holder);

  for (guint i = 0; i < tailor_signature_set_get_size (set); i++)
    memcpy (join->bytes->data + join->header_size + (gsize) slots[i] * join->record_size,
            records + (gsize) i * join->record_size, join->record_size);
}

static void
signature_join_append_records (SignatureJoin *join, const guint8 *records, guint n)
{
  g_byte_array_append (join->bytes, records, (guint) ((gsize) n * join->record_size));
  join->n += n;
}

static TailorSignatureSet *
signature_join_finish (SignatureJoin *join, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;
  guint32 n = GUINT32_TO_LE (join->n);

  memcpy (join->bytes->data + join->header_size - 4, &n, 4);
  bytes = g_byte_array_free_to_bytes (g_steal_pointer (&join->bytes));
  join->n = 0;
  return tailor_signature_set_deserialize (bytes, error);
}

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
  char *inherited_glossary; /* the parent's glossary record (JSON), kept when inheriting */
  TailorSplitOptions split;
  gboolean resplit;
  gboolean freeze;
  gboolean carry_parent; /* the parent's examples join the pool */
  char *reason;          /* put before the generated changelog */
  guint batch_size;
  char *spool_dir;          /* made with the first spooled example */
  Segment *incoming;        /* the new examples' lines, hygiene applied */
  char *incoming_sigs_path; /* their deduplication records */
  FILE *incoming_sigs;
  GArray *incoming_entries; /* Entry, one per line of incoming */
  GPtrArray *batch;         /* TailorExample*, waiting for hygiene */
  GPtrArray *imports;       /* ImportRecord* */
  GPtrArray *source_names;  /* char*; 0 is NULL, for no source */
  GHashTable *source_index; /* name → index */
  /* During commit: the pool, in the order deduplication sees it. */
  GArray *entries;     /* Entry */
  GPtrArray *segments; /* Segment*, covering the entries in order */
  GCancellable *cancellable;
  Counts counts;
  char *changelog;
  char *counts_json;
  gboolean committed;
};

static void
remove_spool_dir (const char *dir)
{
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  const char *name;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (dir);
}

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
  g_free (self->inherited_glossary);
  g_clear_pointer (&self->incoming, segment_free);
  if (self->incoming_sigs != NULL)
    fclose (self->incoming_sigs);
  g_free (self->incoming_sigs_path);
  g_clear_pointer (&self->incoming_entries, g_array_unref);
  g_clear_pointer (&self->batch, g_ptr_array_unref);
  g_clear_pointer (&self->imports, g_ptr_array_unref);
  g_clear_pointer (&self->source_names, g_ptr_array_unref);
  g_clear_pointer (&self->source_index, g_hash_table_unref);
  g_clear_pointer (&self->entries, g_array_unref);
  g_clear_pointer (&self->segments, g_ptr_array_unref);
  if (self->spool_dir != NULL)
    remove_spool_dir (self->spool_dir);
  g_free (self->spool_dir);
  g_free (self->changelog);
  g_free (self->counts_json);
  g_free (self->reason);
  g_free (self);
}

static char *
file_sha256 (const char *path, GError **error)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInputStream) stream = g_file_read (file, NULL, error);
  g_autofree guint8 *buffer = NULL;
  gssize n;

  if (stream == NULL)
    return NULL;
  buffer = g_malloc (65536);
  while ((n = g_input_stream_read (G_INPUT_STREAM (stream), buffer, 65536, NULL, error)) > 0)
    g_checksum_update (checksum, buffer, n);
  if (n < 0)
    return NULL;
  return g_strdup (g_checksum_get_string (checksum));
}

static void
read_dedup_options (JsonObject *settings, const char *member, TailorDedupOptions *options)
{
  JsonNode *node = json_object_get_member (settings, member);
  JsonObject *object;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return;
  object = json_node_get_object (node);
  if (json_object_has_member (object, "threshold"))
    options->threshold = json_object_get_double_member (object, "threshold");
  if (json_object_has_member (object, "shingle_words"))
    options->shingle_words = (guint) json_object_get_int_member (object, "shingle_words");
}

/* The hygiene settings a version recorded (what hygiene_settings_json writes), so that a version
 * derived without settings of its own goes on with its parent's and scans nothing again. Its
 * glossary cannot be loaded (the version records its name and hash, not the file): the record is
 * carried over, and new examples get no glossary unless a file is given. */
static void
inherit_hygiene (TailorDatasetBuilder *self, const char *recorded)
{
  g_autoptr (JsonNode) root = recorded != NULL ? json_from_string (recorded, NULL) : NULL;
  g_autoptr (GStrvBuilder) markers = g_strv_builder_new ();
  JsonObject *settings;
  JsonNode *node;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  settings = json_node_get_object (root);
  node = json_object_get_member (settings, "dedup");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node) &&
      json_object_has_member (json_node_get_object (node), "enabled"))
    self->hygiene.dedup = json_object_get_boolean_member (json_node_get_object (node), "enabled");
  read_dedup_options (settings, "dedup", &self->hygiene.dedup_options);
  read_dedup_options (settings, "leak", &self->hygiene.leak_options);
  node = json_object_get_member (settings, "pii");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
      {
        const char *value = json_object_get_string_member_with_default (
          json_node_get_object (node), tailor_pii_kind_to_string (k), NULL);
        TailorPiiAction action;

        if (g_strcmp0 (value, "off") == 0)
          self->hygiene.pii.enabled[k] = FALSE;
        else if (value != NULL && tailor_pii_action_from_string (value, &action))
          self->hygiene.pii.actions[k] = action;
      }
  node = json_object_get_member (settings, "counter_markers");
  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        if (JSON_NODE_HOLDS_VALUE (json_array_get_element (array, i)))
          g_strv_builder_add (markers, json_array_get_string_element (array, i));
      g_strfreev (self->counter_markers);
      self->counter_markers = g_strv_builder_end (markers);
      self->hygiene.counter_markers = (const char *const *) self->counter_markers;
    }
  node = json_object_get_member (settings, "glossary");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    self->inherited_glossary = json_to_string (node, FALSE);
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
  self->batch_size = HYGIENE_BATCH;
  self->carry_parent = TRUE;
  self->incoming_entries = g_array_new (FALSE, FALSE, sizeof (Entry));
  self->batch = examples_array_new (HYGIENE_BATCH);
  self->imports = g_ptr_array_new_with_free_func (import_record_free);
  self->source_names = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (self->source_names, NULL);
  self->source_index = g_hash_table_new (g_str_hash, g_str_equal);
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

  if (hygiene == NULL && self->parent != NULL)
    inherit_hygiene (self, self->parent->hygiene_settings);

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
tailor_dataset_builder_set_carry_parent (TailorDatasetBuilder *self, gboolean carry)
{
  g_return_if_fail (self != NULL);

  self->carry_parent = carry;
}

void
tailor_dataset_builder_set_reason (TailorDatasetBuilder *self, const char *reason)
{
  g_return_if_fail (self != NULL);

  g_free (self->reason);
  self->reason = reason != NULL && reason[0] != '\0' ? g_strdup (reason) : NULL;
}

void
tailor_dataset_builder_set_freeze_eval (TailorDatasetBuilder *self, gboolean freeze)
{
  g_return_if_fail (self != NULL);

  self->freeze = freeze;
}

void
tailor_dataset_builder_set_batch_size (TailorDatasetBuilder *self, guint n)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (self->incoming == NULL && self->batch->len == 0);

  self->batch_size = n > 0 ? n : HYGIENE_BATCH;
}

/* ------------------------------------------------------------------------------------------ */
/* Spooling */

static gboolean
set_spool_error (const char *what, const char *path, int saved_errno, GError **error)
{
  g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO,
               "Cannot %s the import spool file “%s”: %s. Check the free space of the catalogue "
               "folder.",
               what, path, g_strerror (saved_errno));
  return FALSE;
}

static FILE *
open_spool_file (TailorDatasetBuilder *self, const char *name, char **path, GError **error)
{
  FILE *file;

  if (self->spool_dir == NULL)
    {
      self->spool_dir = tailor_catalogue_make_spool_dir (self->catalogue, error);
      if (self->spool_dir == NULL)
        return NULL;
    }
  *path = g_build_filename (self->spool_dir, name, NULL);
  file = fopen (*path, "w+xe");
  if (file == NULL)
    {
      set_spool_error ("create", *path, errno, error);
      return NULL;
    }
  return file;
}

static Segment *
segment_new (TailorDatasetBuilder *self, const char *name, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  Segment *segment = g_new0 (Segment, 1);

  segment->file = open_spool_file (self, name, &segment->path, &local_error);
  if (segment->file == NULL)
    {
      segment_free (segment);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  return segment;
}

static guint32
intern_source (TailorDatasetBuilder *self, const char *name)
{
  gpointer index;
  char *copy;

  if (name == NULL)
    return 0;
  if (g_hash_table_lookup_extended (self->source_index, name, NULL, &index))
    return GPOINTER_TO_UINT (index);
  copy = g_strdup (name);
  g_ptr_array_add (self->source_names, copy);
  g_hash_table_insert (self->source_index, copy, GUINT_TO_POINTER (self->source_names->len - 1));
  return self->source_names->len - 1;
}

static const char *
source_name (TailorDatasetBuilder *self, const Entry *entry)
{
  return g_ptr_array_index (self->source_names, entry->source);
}

typedef struct
{
  GPtrArray *examples;
  Entry *entries;
  char **lines;
} SpoolJob;

static void
spool_range (gint64 begin, gint64 end, gpointer user_data)
{
  SpoolJob *job = user_data;

  for (gint64 i = begin; i < end; i++)
    {
      TailorExample *example = g_ptr_array_index (job->examples, i);
      g_autofree char *id = tailor_example_content_id (example);

      hex_to_digest (id, job->entries[i].id);
      if (tailor_example_has_tag (example, TAILOR_TAG_COUNTER_EXAMPLE))
        job->entries[i].flags |= ENTRY_COUNTER;
      add_provenance (example);
      job->lines[i] = tailor_example_to_json (example);
    }
}

/* Writes a batch that went through hygiene (it is left empty) to segment as stored lines, one
 * entry each to entries and, with deduplication, their MinHash records to join. */
static gboolean
spool_batch (TailorDatasetBuilder *self,
             GPtrArray *batch,
             Origin origin,
             Segment *segment,
             GArray *entries,
             SignatureJoin *join,
             GError **error)
{
  g_autofree Entry *fresh = g_new0 (Entry, MAX (batch->len, 1));
  g_autofree char **lines = g_new0 (char *, batch->len + 1);
  SpoolJob job = { batch, fresh, lines };
  gboolean ok = TRUE;

  if (batch->len == 0)
    return TRUE;
  if (join != NULL)
    {
      g_autoptr (TailorSignatureSet) set = NULL;
      g_autoptr (GBytes) holder = NULL;

      set =
        tailor_signature_set_new (batch, &self->hygiene.dedup_options, self->cancellable, error);
      if (set == NULL)
        return FALSE;
      signature_join_append_records (join, set_records (join, set, &holder), batch->len);
    }

  for (guint i = 0; i < batch->len; i++)
    {
      const TailorExample *example = g_ptr_array_index (batch, i);

      fresh[i].origin = origin;
      fresh[i].line = example->line;
      fresh[i].source = intern_source (self, example->source);
    }
  tailor_parallel_for (batch->len, 64, spool_range, &job);
  for (guint i = 0; i < batch->len; i++)
    {
      if (ok && (fputs (lines[i], segment->file) < 0 || fputc ('\n', segment->file) < 0))
        ok = set_spool_error ("write", segment->path, errno, error);
      g_free (lines[i]);
    }
  g_array_append_vals (entries, fresh, batch->len);
  segment->n += batch->len;
  g_ptr_array_set_size (batch, 0);
  return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* Per-example hygiene and importing */

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

/* Counter-example tags, then secrets and personal data, then the glossary; *batch is replaced by
 * the result. */
static gboolean
apply_hygiene (TailorDatasetBuilder *self, GPtrArray **batch, GError **error)
{
  for (guint m = 0; self->counter_markers != NULL && self->counter_markers[m] != NULL; m++)
    tailor_examples_tag_where (*batch, TAILOR_TAG_COUNTER_EXAMPLE, tailor_example_contains_marker,
                               self->counter_markers[m]);
  self->counts.counter_examples += tailor_examples_count_tag (*batch, TAILOR_TAG_COUNTER_EXAMPLE);

  /* Secrets first, on the text as written: a glossary rewrite could hide one from the scanner. */
  {
    g_autoptr (TailorPiiReport) report =
      tailor_pii_scan (*batch, &self->hygiene.pii, self->cancellable, error);

    if (report == NULL)
      return FALSE;
    count_pii (self, report);
    if (report->n_redacted > 0 || report->n_dropped > 0)
      {
        GPtrArray *cleaned = tailor_pii_report_apply (report, *batch);

        g_ptr_array_unref (*batch);
        *batch = cleaned;
      }
  }

  if (self->glossary != NULL)
    {
      g_autoptr (TailorGlossaryReport) report = NULL;
      GPtrArray *normalised = tailor_glossary_apply (self->glossary, *batch, &report);

      self->counts.glossary_examples_changed += report->n_examples_changed;
      for (guint e = 0; e < report->entries->len; e++)
        self->counts.glossary_replacements +=
          g_array_index (report->entries, TailorGlossaryCount, e).n_replacements;
      g_ptr_array_unref (*batch);
      *batch = normalised;
    }
  return TRUE;
}

static gboolean
ensure_incoming (TailorDatasetBuilder *self, GError **error)
{
  if (self->incoming != NULL)
    return TRUE;
  self->incoming = segment_new (self, "incoming.jsonl", error);
  if (self->incoming == NULL)
    return FALSE;
  if (!self->hygiene.dedup)
    return TRUE;
  self->incoming_sigs = open_spool_file (self, "incoming.sig", &self->incoming_sigs_path, error);
  return self->incoming_sigs != NULL;
}

/* The waiting batch through hygiene into the spool; its MinHash records go to a spool file of
 * their own until commit, where they follow those of the parent's examples. */
static gboolean
flush_batch (TailorDatasetBuilder *self, GError **error)
{
  SignatureJoin join = { 0 };
  gboolean ok;

  if (self->batch->len == 0)
    return TRUE;
  if (!ensure_incoming (self, error))
    return FALSE;
  if (self->hygiene.dedup && !signature_join_init (&join, &self->hygiene.dedup_options, error))
    return FALSE;
  ok = apply_hygiene (self, &self->batch, error) &&
       spool_batch (self, self->batch, ORIGIN_NEW, self->incoming, self->incoming_entries,
                    self->hygiene.dedup ? &join : NULL, error);
  if (ok && self->hygiene.dedup && join.n > 0 &&
      fwrite (join.bytes->data + join.header_size, join.record_size, join.n, self->incoming_sigs) !=
        join.n)
    ok = set_spool_error ("write", self->incoming_sigs_path, errno, error);
  signature_join_clear (&join);
  return ok;
}

/* Where the spool stood before a file, to forget the file if it fails. */
typedef struct
{
  Counts counts;
  guint entries;
  guint lines;
  off_t lines_end;
  off_t sigs_end;
} SpoolMark;

static gboolean
take_mark (TailorDatasetBuilder *self, SpoolMark *mark, GError **error)
{
  memset (mark, 0, sizeof *mark);
  mark->counts = self->counts;
  mark->entries = self->incoming_entries->len;
  if (self->incoming == NULL)
    return TRUE;
  mark->lines = self->incoming->n;
  if (fflush (self->incoming->file) != 0)
    return set_spool_error ("write", self->incoming->path, errno, error);
  mark->lines_end = ftello (self->incoming->file);
  if (self->incoming_sigs != NULL)
    {
      if (fflush (self->incoming_sigs) != 0)
        return set_spool_error ("write", self->incoming_sigs_path, errno, error);
      mark->sigs_end = ftello (self->incoming_sigs);
    }
  return TRUE;
}

static gboolean
truncate_spool (FILE *file, const char *path, off_t end, GError **error)
{
  if (fflush (file) != 0 || ftruncate (fileno (file), end) != 0 ||
      fseeko (file, end, SEEK_SET) != 0)
    return set_spool_error ("truncate", path, errno, error);
  return TRUE;
}

/* What a failed file delivered is forgotten: a file is imported whole. */
static void
return_to_mark (TailorDatasetBuilder *self, const SpoolMark *mark)
{
  g_ptr_array_set_size (self->batch, 0);
  self->counts = mark->counts;
  g_array_set_size (self->incoming_entries, mark->entries);
  if (self->incoming == NULL)
    return;
  self->incoming->n = mark->lines;
  /* A spool that cannot be cut back cannot be trusted: commit then refuses. */
  if (!truncate_spool (self->incoming->file, self->incoming->path, mark->lines_end, NULL) ||
      (self->incoming_sigs != NULL &&
       !truncate_spool (self->incoming_sigs, self->incoming_sigs_path, mark->sigs_end, NULL)))
    self->incoming->n = G_MAXUINT;
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
  if (self->batch->len < self->batch_size)
    return TRUE;
  return flush_batch (self, error);
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
  SpoolMark mark;
  GStatBuf st;
  gboolean ok;

  g_return_val_if_fail (self != NULL && !self->committed, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!take_mark (self, &mark, error))
    return FALSE;
  self->cancellable = cancellable;
  summary = tailor_import_file (path, format, options, on_import_example, on_import_reject, &relay,
                                cancellable, error);
  ok = summary != NULL && flush_batch (self, error);
  self->cancellable = NULL;
  if (!ok)
    {
      return_to_mark (self, &mark);
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
  SpoolMark mark;
  gboolean ok = TRUE;

  g_return_val_if_fail (self != NULL && !self->committed, FALSE);
  g_return_val_if_fail (summary != NULL && summary->path != NULL && summary->sha256 != NULL, FALSE);
  g_return_val_if_fail (examples != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!take_mark (self, &mark, error))
    {
      g_ptr_array_set_size (examples, 0);
      return FALSE;
    }
  for (guint i = 0; i < examples->len; i++)
    {
      g_ptr_array_add (self->batch, g_ptr_array_index (examples, i));
      g_ptr_array_index (examples, i) = NULL;
      if (ok && self->batch->len >= self->batch_size)
        ok = flush_batch (self, error);
    }
  g_ptr_array_set_size (examples, 0);
  if (!ok || !flush_batch (self, error))
    {
      return_to_mark (self, &mark);
      return FALSE;
    }
  record_import (self, summary, size);
  return TRUE;
}

/* ------------------------------------------------------------------------------------------ */
/* Changelog, settings and counts */

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

  if (c->rescanned > 0)
    {
      g_string_append (out, "; scanned ");
      append_count (out, c->rescanned, "earlier example", "earlier examples");
      g_string_append (out, " again for changed hygiene settings");
    }

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
  else if (self->inherited_glossary != NULL)
    json_builder_add_value (b, json_from_string (self->inherited_glossary, NULL));
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
  add_count (b, "rescanned", c->rescanned);
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

/* ------------------------------------------------------------------------------------------ */
/* The pool: the parent's examples, then the new ones, as entries over spool segments */

static gboolean
close_segment (Segment *segment, GError **error)
{
  int failed;

  if (segment->file == NULL)
    return TRUE;
  failed = fflush (segment->file) != 0 || ferror (segment->file);
  failed = fclose (segment->file) != 0 || failed;
  segment->file = NULL;
  if (failed)
    return set_spool_error ("write", segment->path, errno, error);
  return TRUE;
}

static guint
digest_hash (gconstpointer key)
{
  guint h;

  memcpy (&h, key, sizeof h);
  return h;
}

static gboolean
digest_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, 32) == 0;
}

/* One stored split of a version becomes a segment of the pool: provenance restored and written
 * back last, as the stored line has it; hygiene again when rescan; examples whose content id is
 * in skip left out. */
static gboolean
pool_add_split (TailorDatasetBuilder *self,
                const TailorDatasetVersion *version,
                TailorSplit split,
                Origin origin,
                gboolean rescan,
                GHashTable *skip,
                SignatureJoin *join,
                GError **error)
{
  g_autoptr (TailorExampleReader) reader = NULL;
  g_autoptr (GPtrArray) batch = examples_array_new (self->batch_size);
  g_autoptr (GError) local_error = NULL;
  g_autofree char *name = g_strdup_printf ("pool-%u.jsonl", self->segments->len);
  Segment *segment;

  segment = segment_new (self, name, error);
  if (segment == NULL)
    return FALSE;
  segment->first = self->entries->len;
  g_ptr_array_add (self->segments, segment);
  reader = tailor_catalogue_read_examples (self->catalogue, version, split, error);
  if (reader == NULL)
    return FALSE;
  for (;;)
    {
      TailorExample *example = tailor_example_reader_next (reader, &local_error);

      if (example == NULL && local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      if (example != NULL)
        {
          restore_provenance (example);
          if (skip != NULL)
            {
              g_autofree char *id = tailor_example_content_id (example);
              guint8 digest[32];

              hex_to_digest (id, digest);
              if (g_hash_table_contains (skip, digest))
                {
                  tailor_example_free (example);
                  continue;
                }
            }
          g_ptr_array_add (batch, example);
        }
      if (batch->len > 0 && (batch->len >= self->batch_size || example == NULL))
        {
          if (rescan)
            {
              self->counts.rescanned += batch->len;
              if (!apply_hygiene (self, &batch, error))
                return FALSE;
            }
          if (!spool_batch (self, batch, origin, segment, self->entries, join, error))
            return FALSE;
        }
      if (example == NULL)
        break;
    }
  return close_segment (segment, error);
}

/* The new examples' segment and MinHash records join the pool after the parent's. */
static gboolean
pool_add_incoming (TailorDatasetBuilder *self, SignatureJoin *join, GError **error)
{
  Segment *segment = g_steal_pointer (&self->incoming);
  g_autofree guint8 *chunk = NULL;
  guint expected;

  if (segment == NULL)
    return TRUE;
  g_ptr_array_add (self->segments, segment);
  if (segment->n == G_MAXUINT)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO,
                   "The import spool “%s” could not be cut back after a file failed; nothing was "
                   "saved. Import the files again.",
                   segment->path);
      return FALSE;
    }
  if (!close_segment (segment, error))
    return FALSE;
  segment->first = self->entries->len;
  g_assert (segment->n == self->incoming_entries->len);
  g_array_append_vals (self->entries, self->incoming_entries->data, self->incoming_entries->len);
  g_array_set_size (self->incoming_entries, 0);
  if (join == NULL)
    return TRUE;

  expected = join->n + segment->n;
  chunk = g_malloc (join->record_size * self->batch_size);
  if (fflush (self->incoming_sigs) != 0 || fseeko (self->incoming_sigs, 0, SEEK_SET) != 0)
    return set_spool_error ("read", self->incoming_sigs_path, errno, error);
  for (;;)
    {
      size_t got = fread (chunk, join->record_size, self->batch_size, self->incoming_sigs);

      if (got > 0)
        signature_join_append_records (join, chunk, (guint) got);
      if (got < self->batch_size)
        break;
    }
  if (ferror (self->incoming_sigs) || join->n != expected)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO,
                   "The import spool “%s” is shorter than the examples it describes; nothing was "
                   "saved. Import the files again.",
                   self->incoming_sigs_path);
      return FALSE;
    }
  return TRUE;
}

/* The pool in the order deduplication sees it. Unfrozen: the parent's eval split, its training
 * split, the new examples. Frozen: the sacred set first (duplicates of it among the rest are
 * dropped, never it), the parent's training split, those of its eval examples that are not
 * sacred (training material now), the new examples. */
static gboolean
build_pool (TailorDatasetBuilder *self,
            const TailorDatasetVersion *frozen,
            gboolean rescan,
            SignatureJoin *join,
            GError **error)
{
  const TailorDatasetVersion *parent = self->carry_parent ? self->parent : NULL;

  self->entries = g_array_new (FALSE, FALSE, sizeof (Entry));
  self->segments = g_ptr_array_new_with_free_func (segment_free);
  if (join != NULL && !signature_join_init (join, &self->hygiene.dedup_options, error))
    return FALSE;

  if (frozen != NULL)
    {
      g_autoptr (GHashTable) sacred =
        g_hash_table_new_full (digest_hash, digest_equal, g_free, NULL);

      if (!pool_add_split (self, frozen, TAILOR_SPLIT_EVAL, ORIGIN_EVAL, FALSE, NULL, join, error))
        return FALSE;
      for (guint i = 0; i < self->entries->len; i++)
        g_hash_table_add (sacred, g_memdup2 (g_array_index (self->entries, Entry, i).id, 32));
      if (parent != NULL && (!pool_add_split (self, parent, TAILOR_SPLIT_TRAIN, ORIGIN_TRAIN,
                                              rescan, NULL, join, error) ||
                             !pool_add_split (self, parent, TAILOR_SPLIT_EVAL, ORIGIN_TRAIN,
                                              rescan, sacred, join, error)))
        return FALSE;
    }
  else if (parent != NULL)
    {
      if (!pool_add_split (self, parent, TAILOR_SPLIT_EVAL, ORIGIN_EVAL, rescan, NULL, join,
                           error) ||
          !pool_add_split (self, parent, TAILOR_SPLIT_TRAIN, ORIGIN_TRAIN, rescan, NULL, join,
                           error))
        return FALSE;
    }
  return pool_add_incoming (self, join, error);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading the pool back */

typedef gboolean (*EntryFilter) (const Entry *entry);
/* A batch of stored lines (and, when asked for, their examples) with their entries' indices. */
typedef gboolean (*PoolBatchFunc) (TailorDatasetBuilder *self,
                                   GPtrArray *lines,
                                   GPtrArray *examples,
                                   GArray *indices,
                                   gpointer user_data,
                                   GError **error);

static gboolean
is_kept (const Entry *entry)
{
  return !(entry->flags & ENTRY_DUPLICATE);
}

static gboolean
is_kept_eval (const Entry *entry)
{
  return is_kept (entry) && (entry->flags & ENTRY_EVAL);
}

static gboolean
is_kept_train (const Entry *entry)
{
  return is_kept (entry) && !(entry->flags & ENTRY_EVAL);
}

static Entry *
entry_at (TailorDatasetBuilder *self, guint index)
{
  return &g_array_index (self->entries, Entry, index);
}

typedef struct
{
  GPtrArray *lines;
  GPtrArray *examples;
} ParseJob;

static void
parse_range (gint64 begin, gint64 end, gpointer user_data)
{
  ParseJob *job = user_data;

  for (gint64 i = begin; i < end; i++)
    g_ptr_array_index (job->examples, i) =
      tailor_example_from_json (g_ptr_array_index (job->lines, i), NULL);
}

static gboolean
deliver (TailorDatasetBuilder *self,
         GPtrArray *lines,
         GArray *indices,
         gboolean parse,
         PoolBatchFunc fn,
         gpointer user_data,
         GError **error)
{
  g_autoptr (GPtrArray) examples = NULL;
  gboolean ok;

  if (lines->len == 0)
    return TRUE;
  if (g_cancellable_set_error_if_cancelled (self->cancellable, error))
    return FALSE;
  if (parse)
    {
      ParseJob job;

      examples = examples_array_new (lines->len);
      g_ptr_array_set_size (examples, lines->len);
      job = (ParseJob){ lines, examples };
      tailor_parallel_for (lines->len, 64, parse_range, &job);
      for (guint i = 0; i < examples->len; i++)
        if (g_ptr_array_index (examples, i) == NULL)
          {
            g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO,
                         "A line of the import spool in “%s” was changed while the import ran; "
                         "nothing was saved. Import the files again.",
                         self->spool_dir);
            return FALSE;
          }
    }
  ok = fn (self, lines, examples, indices, user_data, error);
  g_ptr_array_set_size (lines, 0);
  g_array_set_size (indices, 0);
  return ok;
}

/* Streams the lines of the entries that wanted accepts, in pool order, a batch at a time. */
static gboolean
read_pool (TailorDatasetBuilder *self,
           EntryFilter wanted,
           gboolean parse,
           PoolBatchFunc fn,
           gpointer user_data,
           GError **error)
{
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (free);
  g_autoptr (GArray) indices = g_array_new (FALSE, FALSE, sizeof (guint));
  gboolean ok = TRUE;

  for (guint s = 0; ok && s < self->segments->len; s++)
    {
      const Segment *segment = g_ptr_array_index (self->segments, s);
      FILE *file = fopen (segment->path, "re");
      char *buffer = NULL;
      size_t capacity = 0;

      if (file == NULL)
        return set_spool_error ("open", segment->path, errno, error);
      for (guint k = 0; ok && k < segment->n; k++)
        {
          ssize_t got = getline (&buffer, &capacity, file);
          guint index = segment->first + k;

          if (got <= 0 || buffer[got - 1] != '\n')
            {
              g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO,
                           "The import spool “%s” ends after %u of its %u lines; nothing was "
                           "saved. Check the free space of the catalogue folder and import "
                           "again.",
                           segment->path, k, segment->n);
              ok = FALSE;
              break;
            }
          if (!wanted (entry_at (self, index)))
            continue;
          buffer[got - 1] = '\0';
          g_ptr_array_add (lines, g_steal_pointer (&buffer));
          capacity = 0;
          g_array_append_val (indices, index);
          if (lines->len >= self->batch_size)
            ok = deliver (self, lines, indices, parse, fn, user_data, error);
        }
      free (buffer);
      fclose (file);
    }
  return ok && deliver (self, lines, indices, parse, fn, user_data, error);
}

/* ------------------------------------------------------------------------------------------ */
/* Deduplication, split and leak checks on entries */

static gboolean
deduplicate_pool (TailorDatasetBuilder *self,
                  SignatureJoin *join,
                  gboolean protect_eval,
                  GError **error)
{
  g_autoptr (TailorSignatureSet) set = NULL;
  g_autoptr (TailorDuplicateReport) report = NULL;
  g_autofree guint8 *exact = NULL;
  guint n = self->entries->len;
  guint dropped = 0;

  self->counts.dedup_before = n;
  self->counts.dedup_after = n;
  if (!self->hygiene.dedup || n <= 1)
    return TRUE;
  g_assert (join->n == n);
  set = signature_join_finish (join, error);
  if (set == NULL)
    return FALSE;
  report = tailor_signature_set_find_duplicates (set, self->cancellable, error);
  if (report == NULL)
    return FALSE;
  g_clear_pointer (&set, tailor_signature_set_free);

  exact = g_new0 (guint8, n);
  for (guint c = 0; c < report->clusters->len; c++)
    {
      const TailorDuplicateCluster *cluster = g_ptr_array_index (report->clusters, c);

      for (guint d = 0; d < cluster->duplicates->len; d++)
        {
          const TailorDuplicate *dup = &g_array_index (cluster->duplicates, TailorDuplicate, d);

          exact[dup->index] = dup->exact;
        }
    }
  for (guint i = 0; i < n; i++)
    {
      Entry *entry = entry_at (self, i);

      if (!report->is_duplicate[i] || (protect_eval && entry->origin == ORIGIN_EVAL))
        continue;
      entry->flags |= ENTRY_DUPLICATE;
      if (exact[i])
        self->counts.dedup_exact++;
      else
        self->counts.dedup_near++;
      dropped++;
    }
  self->counts.dedup_after = n - dropped;
  return TRUE;
}

/* Entries' place in their split's order, and which split they are in. */
static void
set_orders (TailorDatasetBuilder *self, GArray *train, GArray *eval)
{
  for (guint i = 0; i < train->len; i++)
    {
      Entry *entry = entry_at (self, g_array_index (train, guint, i));

      entry->pos = i;
      entry->flags &= ~ENTRY_EVAL;
    }
  for (guint i = 0; i < eval->len; i++)
    {
      Entry *entry = entry_at (self, g_array_index (eval, guint, i));

      entry->pos = i;
      entry->flags |= ENTRY_EVAL;
    }
}

/* A training entry that matches an evaluation entry (exactly, or as a near-duplicate). */
typedef struct
{
  guint train;
  guint eval;
  gboolean exact;
  double jaccard;
} EntryMatch;

typedef struct
{
  SignatureJoin *join;
  const TailorDedupOptions *options;
  GArray *eval;
  const TailorSignatureSet *eval_set;
  GArray *matches;
} MatchJob;

/* The evaluation signatures go to their place in the eval order: the order decides which of
 * several matching evaluation examples answers (the first), as it does in memory. */
static gboolean
collect_eval_signatures (TailorDatasetBuilder *self,
                         GPtrArray *lines,
                         GPtrArray *examples,
                         GArray *indices,
                         gpointer user_data,
                         GError **error)
{
  MatchJob *job = user_data;
  g_autoptr (TailorSignatureSet) set = NULL;
  g_autofree guint *slots = g_new (guint, indices->len);

  set = tailor_signature_set_new (examples, job->options, self->cancellable, error);
  if (set == NULL)
    return FALSE;
  for (guint i = 0; i < indices->len; i++)
    slots[i] = entry_at (self, g_array_index (indices, guint, i))->pos;
  signature_join_put (job->join, set, slots);
  return TRUE;
}

static gboolean
query_train (TailorDatasetBuilder *self,
             GPtrArray *lines,
             GPtrArray *examples,
             GArray *indices,
             gpointer user_data,
             GError **error)
{
  MatchJob *job = user_data;
  g_autoptr (TailorSetMatchReport) report = NULL;

  report = tailor_signature_set_find_matches (job->eval_set, examples, self->cancellable, error);
  if (report == NULL)
    return FALSE;
  for (guint m = 0; m < report->matches->len; m++)
    {
      const TailorSetMatch *found = &g_array_index (report->matches, TailorSetMatch, m);
      EntryMatch match;

      match.train = g_array_index (indices, guint, found->index);
      match.eval = g_array_index (job->eval, guint, found->frozen_index);
      match.exact = found->exact;
      match.jaccard = found->exact ? 1.0 : found->jaccard;
      g_array_append_val (job->matches, match);
    }
  return TRUE;
}

static int
compare_matches_by_train (gconstpointer a, gconstpointer b, gpointer user_data)
{
  TailorDatasetBuilder *self = user_data;
  guint x = entry_at (self, ((const EntryMatch *) a)->train)->pos;
  guint y = entry_at (self, ((const EntryMatch *) b)->train)->pos;

  return x < y ? -1 : (x > y ? 1 : 0);
}

/* Which training entries match an evaluation entry, by training order: the eval side's
 * signatures are built from one pass over the spool, the training side is queried in a second. */
static GArray *
find_pool_matches (TailorDatasetBuilder *self,
                   GArray *train,
                   GArray *eval,
                   const TailorDedupOptions *options,
                   GError **error)
{
  g_autoptr (GArray) matches = g_array_new (FALSE, FALSE, sizeof (EntryMatch));
  g_autoptr (TailorSignatureSet) eval_set = NULL;
  SignatureJoin join = { 0 };
  MatchJob job = { &join, options, eval, NULL, matches };
  gboolean ok;

  if (train->len == 0 || eval->len == 0)
    return g_steal_pointer (&matches);
  if (!signature_join_init (&join, options, error))
    return NULL;
  signature_join_reserve (&join, eval->len);
  ok = read_pool (self, is_kept_eval, TRUE, collect_eval_signatures, &job, error);
  if (ok)
    eval_set = signature_join_finish (&join, error);
  signature_join_clear (&join);
  if (eval_set == NULL)
    return NULL;
  job.eval_set = eval_set;
  if (!read_pool (self, is_kept_train, TRUE, query_train, &job, error))
    return NULL;
  g_array_sort_with_data (matches, compare_matches_by_train, self);
  return g_steal_pointer (&matches);
}

/* Until no training example matches an evaluation example: a non-counter-example moves to eval
 * with its twin; an evaluation example matched by a counter-example (which must stay in training)
 * or by an example pinned there moves to training and is pinned. The new orders are those of the
 * in-memory arrays: train keeps its order and takes the evaluation examples that move after it;
 * eval starts with the training examples that move, then keeps its own. */
static gboolean
separate_near_duplicates (TailorDatasetBuilder *self, GArray **train, GArray **eval, GError **error)
{
  for (guint round = 0; round < MAX_SEPARATION_ROUNDS; round++)
    {
      g_autoptr (GArray) matches = NULL;
      g_autofree guint8 *train_moves = NULL;
      g_autofree guint8 *eval_moves = NULL;
      GArray *new_train;
      GArray *new_eval;

      matches = find_pool_matches (self, *train, *eval, &self->hygiene.leak_options, error);
      if (matches == NULL)
        return FALSE;
      if (matches->len == 0)
        return TRUE;

      train_moves = g_new0 (guint8, (*train)->len);
      eval_moves = g_new0 (guint8, (*eval)->len);
      for (guint m = 0; m < matches->len; m++)
        {
          const EntryMatch *match = &g_array_index (matches, EntryMatch, m);
          const Entry *example = entry_at (self, match->train);

          if (example->flags & (ENTRY_COUNTER | ENTRY_PINNED))
            eval_moves[entry_at (self, match->eval)->pos] = 1;
          else
            train_moves[example->pos] = 1;
        }

      new_train = g_array_sized_new (FALSE, FALSE, sizeof (guint), (*train)->len);
      new_eval = g_array_sized_new (FALSE, FALSE, sizeof (guint), (*eval)->len);
      for (guint i = 0; i < (*train)->len; i++)
        {
          if (train_moves[i])
            self->counts.moved_to_eval++;
          g_array_append_val (train_moves[i] ? new_eval : new_train,
                              g_array_index (*train, guint, i));
        }
      for (guint i = 0; i < (*eval)->len; i++)
        {
          guint index = g_array_index (*eval, guint, i);

          if (eval_moves[i])
            {
              entry_at (self, index)->flags |= ENTRY_PINNED;
              self->counts.moved_to_train++;
            }
          g_array_append_val (eval_moves[i] ? new_train : new_eval, index);
        }
      g_array_unref (*train);
      g_array_unref (*eval);
      *train = new_train;
      *eval = new_eval;
      set_orders (self, *train, *eval);
    }
  g_set_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_LEAK,
               "Training and evaluation examples could not be separated after %d rounds of moving "
               "near-duplicates; the data has long chains of near-identical examples. Raise the "
               "deduplication (lower --dedup-threshold) and import again.",
               MAX_SEPARATION_ROUNDS);
  return FALSE;
}

static TailorLeakReport *
leak_report_from_matches (TailorDatasetBuilder *self, GArray *matches, guint n_train, guint n_eval)
{
  TailorLeakReport *report = g_new0 (TailorLeakReport, 1);

  report->carries_frozen = TRUE;
  report->n_train = n_train;
  report->n_eval = n_eval;
  report->leaks = g_ptr_array_new_with_free_func (leak_free);
  for (guint m = 0; m < matches->len; m++)
    {
      const EntryMatch *match = &g_array_index (matches, EntryMatch, m);
      const Entry *train = entry_at (self, match->train);
      TailorLeak *leak = g_new0 (TailorLeak, 1);

      leak->train_id = g_malloc (65);
      digest_to_hex (train->id, leak->train_id);
      leak->eval_id = g_malloc (65);
      digest_to_hex (entry_at (self, match->eval)->id, leak->eval_id);
      leak->source = g_strdup (source_name (self, train));
      leak->line = train->line;
      leak->exact = match->exact;
      leak->jaccard = match->jaccard;
      g_ptr_array_add (report->leaks, leak);
    }
  return report;
}

/* The frozen case: eval is the sacred set as stored; everything else is training, and nothing of
 * it may match the sacred set. */
static gboolean
split_on_frozen (TailorDatasetBuilder *self,
                 const TailorDatasetVersion *frozen,
                 GArray **out_train,
                 GArray **out_eval,
                 GError **error)
{
  g_autoptr (GArray) train = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) eval = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) matches = NULL;
  g_autoptr (TailorLeakReport) report = NULL;

  for (guint i = 0; i < self->entries->len; i++)
    {
      const Entry *entry = entry_at (self, i);

      if (!is_kept (entry))
        continue;
      if (entry->origin == ORIGIN_EVAL)
        g_array_append_val (eval, i);
      else
        {
          g_array_append_val (train, i);
          if (entry->origin == ORIGIN_NEW)
            self->counts.new_train++;
          else
            self->counts.carried_train++;
        }
    }
  self->counts.carried_eval = eval->len;
  set_orders (self, train, eval);

  matches = find_pool_matches (self, train, eval, &self->hygiene.leak_options, error);
  if (matches == NULL)
    return FALSE;
  report = leak_report_from_matches (self, matches, train->len, eval->len);
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
split_unfrozen (TailorDatasetBuilder *self, GArray **out_train, GArray **out_eval, GError **error)
{
  g_autoptr (GArray) train = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) eval = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) candidates = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autofree SplitItem *items = NULL;
  g_autofree guint8 *flags = NULL;
  guint total = G_MAXUINT;

  for (guint i = 0; i < self->entries->len; i++)
    {
      const Entry *entry = entry_at (self, i);

      if (!is_kept (entry))
        continue;
      if (self->resplit || entry->origin == ORIGIN_NEW)
        g_array_append_val (candidates, i);
      else if (entry->origin == ORIGIN_EVAL)
        g_array_append_val (eval, i);
      else
        g_array_append_val (train, i);
    }
  self->counts.carried_train = train->len;
  self->counts.carried_eval = eval->len;

  if (!self->resplit && self->split.eval_count > 0)
    total = self->split.eval_count > eval->len ? self->split.eval_count - eval->len : 0;
  items = g_new0 (SplitItem, MAX (candidates->len, 1));
  for (guint i = 0; i < candidates->len; i++)
    {
      const Entry *entry = entry_at (self, g_array_index (candidates, guint, i));
      const char *name = source_name (self, entry);

      items[i].id = entry->id;
      items[i].stratum = name != NULL ? name : "";
      items[i].eligible = !(entry->flags & ENTRY_COUNTER);
    }
  flags = assign_items (items, candidates->len, &self->split, total, NULL);
  for (guint i = 0; i < candidates->len; i++)
    {
      if (!self->resplit)
        {
          if (flags[i])
            self->counts.new_eval++;
          else
            self->counts.new_train++;
        }
      g_array_append_val (flags[i] ? eval : train, g_array_index (candidates, guint, i));
    }
  if (self->resplit)
    {
      self->counts.carried_train = 0;
      self->counts.carried_eval = 0;
    }
  set_orders (self, train, eval);

  if (!separate_near_duplicates (self, &train, &eval, error))
    return FALSE;
  *out_train = g_steal_pointer (&train);
  *out_eval = g_steal_pointer (&eval);
  return TRUE;
}

/* Whether the parent's examples went through other per-example settings (secrets and personal
 * data, glossary content, counter-example markers) than this builder's: then they are scanned
 * again, so that every example of a version has been through the settings it records. */
static const char *
glossary_sha256_of (JsonObject *settings)
{
  JsonNode *glossary = json_object_get_member (settings, "glossary");
  JsonObject *object;

  if (glossary == NULL || !JSON_NODE_HOLDS_OBJECT (glossary))
    return NULL;
  object = json_node_get_object (glossary);
  return json_object_has_member (object, "sha256")
           ? json_object_get_string_member (object, "sha256")
           : NULL;
}

static gboolean
per_example_settings_differ (const char *parent_json, const char *mine_json)
{
  static const char *const members[] = { "pii", "counter_markers" };
  g_autoptr (JsonNode) theirs = NULL;
  g_autoptr (JsonNode) mine = NULL;
  JsonObject *a;
  JsonObject *b;

  if (parent_json == NULL)
    return TRUE;
  theirs = json_from_string (parent_json, NULL);
  mine = json_from_string (mine_json, NULL);
  if (theirs == NULL || mine == NULL || !JSON_NODE_HOLDS_OBJECT (theirs) ||
      !JSON_NODE_HOLDS_OBJECT (mine))
    return TRUE;
  a = json_node_get_object (theirs);
  b = json_node_get_object (mine);
  for (guint m = 0; m < G_N_ELEMENTS (members); m++)
    {
      JsonNode *x = json_object_get_member (a, members[m]);
      JsonNode *y = json_object_get_member (b, members[m]);

      if (x == NULL || y == NULL || !json_node_equal (x, y))
        return TRUE;
    }
  return g_strcmp0 (glossary_sha256_of (a), glossary_sha256_of (b)) != 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing the version */

static gboolean
write_kept_lines (TailorDatasetBuilder *self,
                  GPtrArray *lines,
                  GPtrArray *examples,
                  GArray *indices,
                  gpointer user_data,
                  GError **error)
{
  TailorVersionWriter *writer = user_data;

  for (guint i = 0; i < lines->len; i++)
    {
      const Entry *entry = entry_at (self, g_array_index (indices, guint, i));

      if (!tailor_version_writer_add_line (
            writer, (entry->flags & ENTRY_EVAL) ? TAILOR_SPLIT_EVAL : TAILOR_SPLIT_TRAIN,
            g_ptr_array_index (lines, i), -1, error))
        return FALSE;
    }
  return TRUE;
}

/* Streams the kept lines to a version writer, then records the project, the sources and the
 * version in one transaction. */
static TailorDatasetVersion *
write_all (TailorDatasetBuilder *self,
           const TailorDatasetVersion *frozen,
           const char *split_settings,
           const char *hygiene_settings,
           gboolean *created,
           GError **error)
{
  g_autoptr (TailorVersionWriter) writer = NULL;
  g_autoptr (GArray) source_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GPtrArray) existing = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;
  TailorVersionRequest request = { 0 };
  gint64 project_id = self->project_id;
  gboolean inserted = FALSE;

  writer = tailor_catalogue_new_version_writer (self->catalogue, error);
  if (writer == NULL)
    return NULL;
  if (!read_pool (self, is_kept, FALSE, write_kept_lines, writer, error))
    return NULL;
  /* The spool is no longer needed: its disk space goes back before the files are stored. */
  g_clear_pointer (&self->segments, g_ptr_array_unref);
  remove_spool_dir (self->spool_dir);
  g_clear_pointer (&self->spool_dir, g_free);

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
  existing = tailor_catalogue_list_sources (self->catalogue, project_id, error);
  if (existing == NULL)
    goto fail;
  for (guint i = 0; i < self->imports->len; i++)
    {
      const ImportRecord *record = g_ptr_array_index (self->imports, i);
      TailorSource source = { 0 };
      gint64 id = 0;

      /* The same file with the same content and license is the same source: rebuilding from
       * the files again records no new rows. */
      for (guint j = existing->len; j > 0 && id == 0; j--)
        {
          const TailorSource *row = g_ptr_array_index (existing, j - 1);

          if (g_strcmp0 (row->path, record->path) == 0 &&
              g_strcmp0 (row->sha256, record->sha256) == 0 &&
              g_strcmp0 (row->license, record->license) == 0)
            id = row->id;
        }
      if (id != 0)
        {
          g_array_append_val (source_ids, id);
          continue;
        }
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
  version = tailor_version_writer_finish (writer, project_id, &request, &inserted, error);
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

static TailorDatasetVersion *
commit_spooled (TailorDatasetBuilder *self,
                const TailorDatasetVersion *frozen,
                gboolean *created,
                GError **error)
{
  g_autoptr (GArray) train = NULL;
  g_autoptr (GArray) eval = NULL;
  g_autofree char *split_settings = NULL;
  g_autofree char *hygiene_settings = hygiene_settings_json (self);
  SignatureJoin join = { 0 };
  gboolean rescan;
  gboolean ok;

  rescan = self->parent != NULL &&
           per_example_settings_differ (self->parent->hygiene_settings, hygiene_settings);
  ok = build_pool (self, frozen, rescan, self->hygiene.dedup ? &join : NULL, error) &&
       deduplicate_pool (self, &join, frozen != NULL, error);
  signature_join_clear (&join);
  if (!ok)
    return NULL;

  if (frozen != NULL)
    {
      if (!split_on_frozen (self, frozen, &train, &eval, error))
        return NULL;
      split_settings = g_strdup (frozen->split_settings);
    }
  else
    {
      if (!split_unfrozen (self, &train, &eval, error))
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
  self->changelog = make_changelog (self, frozen != NULL);
  if (self->reason != NULL)
    {
      /* "Removed notes.md; imported faq.jsonl (…)": the reason, then what the builder did. */
      char *built = self->changelog;

      built[0] = g_ascii_tolower (built[0]);
      self->changelog = g_strdup_printf ("%s; %s", self->reason, built);
      g_free (built);
    }
  self->counts_json = counts_json (self, frozen != NULL);
  return write_all (self, frozen, split_settings, hygiene_settings, created, error);
}

TailorDatasetVersion *
tailor_dataset_builder_commit (TailorDatasetBuilder *self,
                               gboolean *created,
                               GCancellable *cancellable,
                               GError **error)
{
  g_autoptr (TailorDatasetVersion) frozen = NULL;
  g_autoptr (GError) local_error = NULL;
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

  self->cancellable = cancellable;
  version = commit_spooled (self, frozen, &was_created, error);
  self->cancellable = NULL;
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

/* Writes one split as chat-form JSON lines to a temporary file beside path, renamed over it only
 * when everything is written: a failed export never leaves a half file under the real name. */
gboolean
tailor_dataset_export_split (TailorCatalogue *catalogue,
                             const TailorDatasetVersion *version,
                             TailorSplit split,
                             const char *path,
                             guint64 *n_written,
                             GError **error)
{
  g_autoptr (TailorExampleReader) reader = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *tmp = g_strconcat (path, ".incoming-XXXXXX", NULL);
  TailorExample *next;
  gboolean ok = TRUE;
  FILE *out;
  int fd;

  g_return_val_if_fail (catalogue != NULL, FALSE);
  g_return_val_if_fail (version != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (n_written != NULL)
    *n_written = 0;
  reader = tailor_catalogue_read_examples (catalogue, version, split, error);
  if (reader == NULL)
    return FALSE;
  fd = g_mkstemp (tmp);
  if (fd < 0 || (out = fdopen (fd, "w")) == NULL)
    {
      int saved = errno;

      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Cannot create a file beside “%s”: %s", path, g_strerror (saved));
      return FALSE;
    }
  while (ok && (next = tailor_example_reader_next (reader, &local_error)) != NULL)
    {
      g_autoptr (TailorExample) example = next;
      g_autofree char *line = NULL;

      /* Tags (provenance, counter-example) are Tailor's; trainers read plain chat records. */
      g_ptr_array_set_size (example->tags, 0);
      line = tailor_example_to_json (example);
      ok = fputs (line, out) != EOF && fputc ('\n', out) != EOF;
      if (n_written != NULL)
        (*n_written)++;
    }
  if (local_error != NULL)
    {
      fclose (out);
      g_unlink (tmp);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (!ok || fflush (out) != 0 || fsync (fileno (out)) != 0)
    {
      int saved = errno;

      fclose (out);
      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot write “%s”: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  if (fclose (out) != 0 || g_rename (tmp, path) != 0)
    {
      int saved = errno;

      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot write “%s”: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}
