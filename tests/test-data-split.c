/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of splits by content hash, the frozen evaluation set and its leak check, and the dataset
 * builder's all-or-nothing versions. */
#include "config.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "tailor-catalogue.h"
#include "tailor-data-split.h"

static const char *const syllables[] = {
  "ka", "to", "ri", "mu",  "se", "lo", "na", "pe", "di", "gu",
  "ba", "ve", "zo", "chi", "ra", "fu", "mi", "te", "so", "qua",
};

/* A text of n made-up words: two texts from different seeds share almost no 3-word shingle. */
static char *
random_text (GRand *rand, guint n)
{
  GString *out = g_string_new (NULL);

  for (guint w = 0; w < n; w++)
    {
      if (w > 0)
        g_string_append_c (out, ' ');
      for (guint s = 0; s < 3; s++)
        g_string_append (out, syllables[g_rand_int_range (rand, 0, G_N_ELEMENTS (syllables))]);
    }
  return g_string_free (out, FALSE);
}

/* The same text with the words at the given positions replaced. */
static char *
paraphrase (const char *text, const guint *positions, guint n_positions)
{
  g_auto (GStrv) words = g_strsplit (text, " ", -1);

  for (guint i = 0; i < n_positions; i++)
    {
      g_assert_nonnull (words[positions[i]]);
      g_free (words[positions[i]]);
      words[positions[i]] = g_strdup_printf ("changed%u", i);
    }
  return g_strjoinv (" ", words);
}

static GPtrArray *
text_examples (GRand *rand, guint n, const char *source)
{
  GPtrArray *examples = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = random_text (rand, 30);
      TailorExample *example = tailor_example_new_text (text);

      example->source = g_strdup (source);
      example->line = i + 1;
      g_ptr_array_add (examples, example);
    }
  return examples;
}

static GHashTable *
eval_ids (GPtrArray *examples, const guint8 *flags)
{
  GHashTable *ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < examples->len; i++)
    if (flags[i])
      g_hash_table_add (ids, tailor_example_content_id (g_ptr_array_index (examples, i)));
  return ids;
}

static void
test_split_is_deterministic_by_content (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (1);
  g_autoptr (GPtrArray) examples = text_examples (rand, 200, "a.jsonl");
  g_autoptr (GPtrArray) shuffled = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *first = NULL;
  g_autofree guint8 *second = NULL;
  g_autofree guint8 *reseeded = NULL;
  g_autoptr (GHashTable) first_ids = NULL;
  g_autoptr (GHashTable) second_ids = NULL;
  g_autoptr (GHashTable) reseeded_ids = NULL;
  TailorSplitOptions options;
  GHashTableIter iter;
  gpointer key;
  guint n_eval = 0;
  guint common = 0;

  tailor_split_options_init (&options);
  first = tailor_split_assign (examples, &options, &n_eval, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n_eval, ==, 20);
  first_ids = eval_ids (examples, first);

  /* The same examples in another order choose the same eval set. */
  for (guint i = 0; i < examples->len; i++)
    g_ptr_array_add (shuffled, g_ptr_array_index (examples, (i * 7 + 3) % examples->len));
  second = tailor_split_assign (shuffled, &options, &n_eval, &error);
  g_assert_no_error (error);
  second_ids = eval_ids (shuffled, second);
  g_assert_cmpuint (g_hash_table_size (second_ids), ==, 20);
  g_hash_table_iter_init (&iter, first_ids);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_assert_true (g_hash_table_contains (second_ids, key));

  /* Another seed chooses another set: the seed is part of the hash. */
  options.seed = 99;
  reseeded = tailor_split_assign (examples, &options, &n_eval, &error);
  g_assert_no_error (error);
  reseeded_ids = eval_ids (examples, reseeded);
  g_hash_table_iter_init (&iter, first_ids);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    common += g_hash_table_contains (reseeded_ids, key);
  g_assert_cmpuint (common, <, 20);
}

static void
test_split_ratio_and_count (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (2);
  g_autoptr (GPtrArray) examples = text_examples (rand, 50, "a.jsonl");
  g_autoptr (GPtrArray) two = text_examples (rand, 2, "b.jsonl");
  g_autoptr (GError) error = NULL;
  TailorSplitOptions options;
  guint n_eval = 0;
  struct
  {
    double ratio;
    guint count;
    guint expected;
  } cases[] = {
    { 0.1, 0, 5 }, { 0.25, 0, 13 },  { 0.0, 0, 0 }, { 0.001, 0, 1 }, /* at least one */
    { 0.1, 7, 7 }, { 0.1, 500, 49 },                                 /* one left for training */
  };

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autofree guint8 *flags = NULL;
      guint counted = 0;

      tailor_split_options_init (&options);
      options.eval_ratio = cases[c].ratio;
      options.eval_count = cases[c].count;
      flags = tailor_split_assign (examples, &options, &n_eval, &error);
      g_assert_no_error (error);
      for (guint i = 0; i < examples->len; i++)
        counted += flags[i];
      g_assert_cmpuint (n_eval, ==, cases[c].expected);
      g_assert_cmpuint (counted, ==, cases[c].expected);
    }

  /* Two examples at 10%: one each, rather than an empty evaluation set. */
  {
    g_autofree guint8 *flags = NULL;

    tailor_split_options_init (&options);
    flags = tailor_split_assign (two, &options, &n_eval, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (n_eval, ==, 1);
  }

  tailor_split_options_init (&options);
  options.eval_ratio = 1.0;
  g_assert_null (tailor_split_assign (examples, &options, &n_eval, &error));
  g_assert_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_INVALID);
}

static void
test_split_is_stratified_by_source (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  g_autoptr (GPtrArray) examples = text_examples (rand, 150, "big.csv");
  g_autoptr (GPtrArray) small = text_examples (rand, 50, "small.jsonl");
  g_autoptr (GPtrArray) odd = text_examples (rand, 7, "odd.md");
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GPtrArray) eval = NULL;
  g_autoptr (GError) error = NULL;
  TailorSplitOptions options;
  guint big = 0, little = 0, other = 0;

  for (guint i = 0; i < small->len; i++)
    g_ptr_array_add (examples, tailor_example_copy (g_ptr_array_index (small, i)));
  for (guint i = 0; i < odd->len; i++)
    g_ptr_array_add (examples, tailor_example_copy (g_ptr_array_index (odd, i)));

  tailor_split_options_init (&options);
  options.eval_ratio = 0.2;
  g_assert_true (tailor_split_examples (examples, &options, &train, &eval, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (examples->len, ==, 0);
  /* round(0.2 × 207) = 41: 150 → 29.0 + 50 → 9.66 + 7 → 1.35 by largest remainder. */
  g_assert_cmpuint (eval->len, ==, 41);
  g_assert_cmpuint (train->len, ==, 207 - 41);
  for (guint i = 0; i < eval->len; i++)
    {
      const TailorExample *example = g_ptr_array_index (eval, i);

      if (g_str_equal (example->source, "big.csv"))
        big++;
      else if (g_str_equal (example->source, "small.jsonl"))
        little++;
      else
        other++;
    }
  g_assert_cmpuint (big, ==, 30);
  g_assert_cmpuint (little, ==, 10);
  g_assert_cmpuint (other, ==, 1);
}

static void
test_split_keeps_counter_examples_in_training (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (4);
  g_autoptr (GPtrArray) examples = text_examples (rand, 100, "a.jsonl");
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *flags = NULL;
  TailorSplitOptions options;
  guint n_eval = 0;

  for (guint i = 0; i < 20; i++)
    tailor_example_add_tag (g_ptr_array_index (examples, i * 5), TAILOR_TAG_COUNTER_EXAMPLE);
  tailor_split_options_init (&options);
  options.eval_ratio = 0.5;
  flags = tailor_split_assign (examples, &options, &n_eval, &error);
  g_assert_no_error (error);
  /* Half of the 80 eligible; none of the 20 counter-examples. */
  g_assert_cmpuint (n_eval, ==, 40);
  for (guint i = 0; i < 20; i++)
    g_assert_cmpuint (flags[i * 5], ==, 0);
}

static void
test_leak_check_catches_exact_and_near_duplicates (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);
  g_autoptr (GPtrArray) eval = text_examples (rand, 20, "eval.jsonl");
  g_autoptr (GPtrArray) train = text_examples (rand, 60, "train.jsonl");
  g_autoptr (TailorLeakReport) clean = NULL;
  g_autoptr (TailorLeakReport) exact = NULL;
  g_autoptr (TailorLeakReport) near = NULL;
  g_autoptr (TailorLeakReport) distant = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *eval3_id = tailor_example_content_id (g_ptr_array_index (eval, 3));
  g_autofree char *eval5_id = tailor_example_content_id (g_ptr_array_index (eval, 5));
  const TailorExample *eval5 = g_ptr_array_index (eval, 5);
  static const guint few[] = { 4, 15, 26 };
  static const guint many[] = { 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29 };
  g_autofree char *reworded = paraphrase (eval5->text, few, G_N_ELEMENTS (few));
  g_autofree char *rewritten = paraphrase (eval5->text, many, G_N_ELEMENTS (many));
  TailorExample *copy;
  TailorExample *para;
  const TailorLeak *leak;

  clean = tailor_leak_check_examples (eval, train, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tailor_leak_report_is_clean (clean));
  g_assert_true (tailor_leak_report_to_error (clean, &error));
  g_assert_cmpuint (clean->n_train, ==, 60);
  g_assert_cmpuint (clean->n_eval, ==, 20);

  /* An exact copy, as a counter-example: counter-examples are checked like any example. */
  copy = tailor_example_copy (g_ptr_array_index (eval, 3));
  tailor_example_add_tag (copy, TAILOR_TAG_COUNTER_EXAMPLE);
  g_free (copy->source);
  copy->source = g_strdup ("more.jsonl");
  copy->line = 12;
  g_ptr_array_add (train, copy);
  exact = tailor_leak_check_examples (eval, train, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (exact->leaks->len, ==, 1);
  leak = g_ptr_array_index (exact->leaks, 0);
  g_assert_true (leak->exact);
  g_assert_cmpstr (leak->eval_id, ==, eval3_id);
  g_assert_cmpstr (leak->source, ==, "more.jsonl");
  g_assert_cmpuint (leak->line, ==, 12);
  g_assert_false (tailor_leak_report_to_error (exact, &error));
  g_assert_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_LEAK);
  g_assert_nonnull (strstr (error->message, leak->train_id));
  g_assert_nonnull (strstr (error->message, "more.jsonl:12"));
  g_clear_error (&error);
  g_ptr_array_remove_index (train, train->len - 1);

  /* A paraphrase differing in three of thirty words. */
  para = tailor_example_new_text (reworded);
  g_ptr_array_add (train, para);
  near = tailor_leak_check_examples (eval, train, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (near->leaks->len, ==, 1);
  leak = g_ptr_array_index (near->leaks, 0);
  g_assert_false (leak->exact);
  g_assert_cmpstr (leak->eval_id, ==, eval5_id);
  g_assert_cmpfloat (leak->jaccard, <, 1.0);
  g_assert_cmpfloat (leak->jaccard, >=, 0.5);
  g_ptr_array_remove_index (train, train->len - 1);

  /* Half the words rewritten is another text, not a leak. */
  g_ptr_array_add (train, tailor_example_new_text (rewritten));
  distant = tailor_leak_check_examples (eval, train, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tailor_leak_report_is_clean (distant));
}

/* ------------------------------------------------------------------------------------------ */
/* The builder, against a catalogue in a temporary folder */

typedef struct
{
  char *dir;
  char *files;
  TailorCatalogue *catalogue;
} Fixture;

static void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          g_chmod (child, 0700);
          remove_tree (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("tailor-split-XXXXXX", &error);
  g_assert_no_error (error);
  f->files = g_build_filename (f->dir, "files", NULL);
  g_assert_cmpint (g_mkdir (f->files, 0700), ==, 0);
  f->catalogue = tailor_catalogue_open (f->dir, TAILOR_CATALOGUE_OPEN_DEFAULT, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->catalogue);
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->files);
}

/* Writes {"text": …} lines (texts are made of plain letters and spaces). */
static char *
write_texts (Fixture *f, const char *name, const char *const *texts, guint n)
{
  g_autoptr (GString) contents = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (f->files, name, NULL);

  for (guint i = 0; i < n; i++)
    g_string_append_printf (contents, "{\"text\":\"%s\"}\n", texts[i]);
  g_file_set_contents (path, contents->str, contents->len, &error);
  g_assert_no_error (error);
  return path;
}

static char *
write_random_texts (Fixture *f, const char *name, GRand *rand, guint n)
{
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (texts, random_text (rand, 30));
  return write_texts (f, name, (const char *const *) texts->pdata, n);
}

static TailorDatasetVersion *
import_files (Fixture *f,
              const char *project,
              const TailorSplitOptions *split,
              const char *const *paths,
              gboolean *created,
              GError **error)
{
  g_autoptr (TailorDatasetBuilder) builder = NULL;

  builder = tailor_dataset_builder_new (f->catalogue, project, NULL, NULL, split, error);
  if (builder == NULL)
    return NULL;
  for (guint i = 0; paths[i] != NULL; i++)
    if (!tailor_dataset_builder_import_file (builder, paths[i], TAILOR_IMPORT_FORMAT_AUTO, NULL,
                                             NULL, NULL, NULL, error))
      return NULL;
  return tailor_dataset_builder_commit (builder, created, NULL, error);
}

static gint64
project_id (Fixture *f, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) project = tailor_catalogue_find_project (f->catalogue, name, &error);

  g_assert_no_error (error);
  return project->id;
}

static guint
count_versions (Fixture *f, gint64 id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) versions = tailor_catalogue_list_versions (f->catalogue, id, &error);

  g_assert_no_error (error);
  return versions->len;
}

static guint
count_sources (Fixture *f, gint64 id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) sources = tailor_catalogue_list_sources (f->catalogue, id, &error);

  g_assert_no_error (error);
  return sources->len;
}

/* A first version with a frozen eval set of 10 examples out of 50. */
static TailorDatasetVersion *
make_frozen (Fixture *f, GRand *rand)
{
  g_autofree char *path = write_random_texts (f, "first.jsonl", rand, 50);
  const char *paths[] = { path, NULL };
  g_autoptr (GError) error = NULL;
  TailorSplitOptions split;
  TailorDatasetVersion *version;
  gboolean created = FALSE;

  tailor_split_options_init (&split);
  split.eval_ratio = 0.2;
  version = import_files (f, "demo", &split, paths, &created, &error);
  g_assert_no_error (error);
  g_assert_true (created);
  g_assert_cmpuint (version->eval_count, ==, 10);
  g_assert_true (
    tailor_dataset_freeze_eval (f->catalogue, version->project_id, version->id, NULL, &error));
  g_assert_no_error (error);
  version->eval_frozen = TRUE;
  return version;
}

static void
test_builder_carries_frozen_eval (Fixture *f, gconstpointer data)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (6);
  g_autoptr (TailorDatasetVersion) first = make_frozen (f, rand);
  g_autofree char *more = write_random_texts (f, "more.jsonl", rand, 40);
  const char *paths[] = { more, NULL };
  g_autoptr (TailorDatasetVersion) second = NULL;
  g_autoptr (TailorDatasetVersion) frozen = NULL;
  g_autoptr (TailorLeakReport) report = NULL;
  g_autoptr (TailorDatasetBuilder) resplit = NULL;
  g_autoptr (TailorDatasetVersion) refused = NULL;
  g_autoptr (GError) error = NULL;
  TailorSplitOptions split;
  gboolean created = FALSE;

  /* A new import with its own split settings still keeps the frozen set, all new to training. */
  tailor_split_options_init (&split);
  split.eval_ratio = 0.5;
  second = import_files (f, "demo", &split, paths, &created, &error);
  g_assert_no_error (error);
  g_assert_true (created);
  g_assert_cmpstr (second->parent, ==, first->id);
  g_assert_cmpstr (second->eval_sha256, ==, first->eval_sha256);
  g_assert_cmpuint (second->eval_count, ==, 10);
  g_assert_cmpuint (second->train_count, ==, 40 + 40);
  g_assert_cmpstr (second->split_settings, ==, first->split_settings);

  frozen = tailor_dataset_get_frozen (f->catalogue, first->project_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (frozen->id, ==, first->id);
  report = tailor_dataset_leak_check (f->catalogue, first->project_id, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (report->version_id, ==, second->id);
  g_assert_cmpstr (report->frozen_version_id, ==, first->id);
  g_assert_true (report->carries_frozen);
  g_assert_true (tailor_leak_report_is_clean (report));

  /* Re-splitting would change the sacred set. */
  resplit = tailor_dataset_builder_new (f->catalogue, "demo", NULL, NULL, &split, &error);
  g_assert_no_error (error);
  tailor_dataset_builder_set_resplit (resplit, TRUE);
  refused = tailor_dataset_builder_commit (resplit, &created, NULL, &error);
  g_assert_null (refused);
  g_assert_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_FROZEN);
  g_assert_cmpuint (count_versions (f, first->project_id), ==, 2);
}

static char *
first_eval_text (Fixture *f, const TailorDatasetVersion *version)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) eval =
    tailor_dataset_read_split (f->catalogue, version, TAILOR_SPLIT_EVAL, &error);
  const TailorExample *example;

  g_assert_no_error (error);
  example = g_ptr_array_index (eval, 0);
  g_assert_cmpstr (example->source, ==, "first.jsonl");
  return g_strdup (example->text);
}

static void
test_builder_refuses_leak_into_training (Fixture *f, gconstpointer data)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autoptr (TailorDatasetVersion) first = make_frozen (f, rand);
  g_autofree char *eval_text = first_eval_text (f, first);
  static const guint few[] = { 5, 17 };
  g_autofree char *reworded = paraphrase (eval_text, few, G_N_ELEMENTS (few));
  g_autofree char *fresh = random_text (rand, 30);
  const char *leaky_texts[] = { fresh, reworded };
  const char *copy_texts[] = { fresh, eval_text };
  g_autofree char *leaky = write_texts (f, "leaky.jsonl", leaky_texts, 2);
  g_autofree char *copies = write_texts (f, "copies.jsonl", copy_texts, 2);
  const char *leaky_paths[] = { leaky, NULL };
  const char *copy_paths[] = { copies, NULL };
  g_autoptr (TailorDatasetVersion) refused = NULL;
  g_autoptr (TailorDatasetVersion) accepted = NULL;
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GError) error = NULL;
  gint64 id = first->project_id;
  gboolean created = FALSE;

  /* Two words changed of thirty: under the 0.8 deduplication threshold, over the leak check's. */
  refused = import_files (f, "demo", NULL, leaky_paths, &created, &error);
  g_assert_null (refused);
  g_assert_error (error, TAILOR_SPLIT_ERROR, TAILOR_SPLIT_ERROR_LEAK);
  g_assert_nonnull (strstr (error->message, "leaky.jsonl:2"));
  g_assert_nonnull (strstr (error->message, "near-duplicate"));
  g_clear_error (&error);
  g_assert_cmpuint (count_versions (f, id), ==, 1);
  g_assert_cmpuint (count_sources (f, id), ==, 1);

  /* An exact copy of an evaluation example is a duplicate of it: dropped, not trained on. */
  accepted = import_files (f, "demo", NULL, copy_paths, &created, &error);
  g_assert_no_error (error);
  g_assert_true (created);
  g_assert_cmpuint (accepted->train_count, ==, 40 + 1);
  g_assert_cmpstr (accepted->eval_sha256, ==, first->eval_sha256);
  train = tailor_dataset_read_split (f->catalogue, accepted, TAILOR_SPLIT_TRAIN, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < train->len; i++)
    g_assert_cmpstr (((TailorExample *) g_ptr_array_index (train, i))->text, !=, eval_text);
  g_assert_nonnull (strstr (accepted->changelog, "removed 1 duplicate"));
}

static void
test_builder_is_all_or_nothing (Fixture *f, gconstpointer data)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (8);
  g_autofree char *path = write_random_texts (f, "a.jsonl", rand, 20);
  g_autofree char *empty = write_texts (f, "empty.jsonl", NULL, 0);
  const char *paths[] = { path, NULL };
  g_autofree char *examples_dir = g_build_filename (f->dir, "examples", NULL);
  g_autofree char *examples_aside = g_build_filename (f->dir, "examples.aside", NULL);
  g_autoptr (TailorDatasetBuilder) builder = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (TailorProject) missing = NULL;
  g_autoptr (GPtrArray) projects = NULL;
  g_autoptr (GError) error = NULL;
  gboolean created = FALSE;

  /* The example files cannot be stored (a file sits where their folder goes): the failure comes
   * after the project and the source were written in the transaction. */
  if (g_file_test (examples_dir, G_FILE_TEST_IS_DIR))
    g_assert_cmpint (g_rename (examples_dir, examples_aside), ==, 0);
  g_assert_true (g_file_set_contents (examples_dir, "in the way", -1, NULL));
  version = import_files (f, "demo", NULL, paths, &created, &error);
  g_assert_null (version);
  g_assert_nonnull (error);
  g_clear_error (&error);
  missing = tailor_catalogue_find_project (f->catalogue, "demo", &error);
  g_assert_null (missing);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  projects = tailor_catalogue_list_projects (f->catalogue, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (projects->len, ==, 0);
  g_assert_cmpint (g_unlink (examples_dir), ==, 0);

  /* With storage back, the same import succeeds. */
  version = import_files (f, "demo", NULL, paths, &created, &error);
  g_assert_no_error (error);
  g_assert_true (created);
  g_clear_pointer (&version, tailor_dataset_version_free);

  /* A file that fails as a whole fails the builder's import of it. */
  builder = tailor_dataset_builder_new (f->catalogue, "demo", NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (tailor_dataset_builder_import_file (builder, empty, TAILOR_IMPORT_FORMAT_AUTO,
                                                      NULL, NULL, NULL, NULL, &error));
  g_assert_nonnull (error);
  g_assert_cmpuint (count_versions (f, project_id (f, "demo")), ==, 1);
}

static void
test_builder_changelog_and_counts (Fixture *f, gconstpointer data)
{
  const char *contents =
    "{\"messages\":[{\"role\":\"user\",\"content\":\"How do I reset my password?\"},"
    "{\"role\":\"assistant\",\"content\":\"Open the settings and choose Reset.\"}]}\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"How do I reset my password?\"},"
    "{\"role\":\"assistant\",\"content\":\"Open the settings and choose Reset.\"}]}\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Who can I write to?\"},"
    "{\"role\":\"assistant\",\"content\":\"Write to help@example.org any time.\"}]}\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Can I pay later?\"},"
    "{\"role\":\"assistant\",\"content\":\"[BAD] No idea, ask someone else.\"}]}\n"
    "{\"messages\": not json\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Do you ship abroad?\"},"
    "{\"role\":\"assistant\",\"content\":\"Yes, to the whole European Union.\"}]}\n";
  g_autofree char *path = g_build_filename (f->files, "faq.jsonl", NULL);
  g_autofree char *sha256 = g_compute_checksum_for_string (G_CHECKSUM_SHA256, contents, -1);
  const char *markers[] = { "[BAD]", NULL };
  g_autoptr (TailorDatasetBuilder) builder = NULL;
  g_autoptr (TailorDatasetBuilder) again = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (TailorDatasetVersion) same = NULL;
  g_autoptr (GPtrArray) sources = NULL;
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GPtrArray) eval = NULL;
  g_autoptr (JsonNode) counts = NULL;
  g_autoptr (GError) error = NULL;
  TailorImportOptions import_options = { 0 };
  TailorHygieneSettings hygiene;
  const TailorSource *source;
  JsonObject *root;
  gboolean created = FALSE;
  gboolean redacted = FALSE;

  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
  tailor_hygiene_settings_init (&hygiene);
  hygiene.counter_markers = markers;
  import_options.license = "CC-BY-4.0";

  builder = tailor_dataset_builder_new (f->catalogue, "faq", NULL, &hygiene, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tailor_dataset_builder_import_file (builder, path, TAILOR_IMPORT_FORMAT_AUTO,
                                                     &import_options, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  version = tailor_dataset_builder_commit (builder, &created, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (created);
  g_assert_cmpstr (tailor_dataset_builder_get_changelog (builder), ==,
                   "Imported faq.jsonl (5 examples, 1 rejected); removed 1 duplicate; redacted 1 "
                   "email; tagged 1 counter-example");
  g_assert_cmpstr (version->changelog, ==, tailor_dataset_builder_get_changelog (builder));
  g_assert_null (version->parent);
  g_assert_cmpuint (version->train_count + version->eval_count, ==, 4);

  counts = json_from_string (version->hygiene_counts, &error);
  g_assert_no_error (error);
  root = json_node_get_object (counts);
  g_assert_cmpint (
    json_object_get_int_member (json_object_get_object_member (root, "import"), "read"), ==, 6);
  g_assert_cmpint (
    json_object_get_int_member (json_object_get_object_member (root, "import"), "rejected"), ==, 1);
  g_assert_cmpint (
    json_object_get_int_member (json_object_get_object_member (root, "dedup"), "before"), ==, 5);
  g_assert_cmpint (
    json_object_get_int_member (json_object_get_object_member (root, "dedup"), "exact"), ==, 1);
  g_assert_cmpint (
    json_object_get_int_member (json_object_get_object_member (root, "dedup"), "after"), ==, 4);
  g_assert_cmpint (
    json_object_get_int_member (json_object_get_object_member (root, "pii"), "redacted"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (root, "counter_examples"), ==, 1);
  g_assert_nonnull (strstr (version->hygiene_settings, "\"email\":\"redact\""));

  /* The source as declared, with the file's SHA-256. */
  sources = tailor_catalogue_list_sources (f->catalogue, version->project_id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sources->len, ==, 1);
  source = g_ptr_array_index (sources, 0);
  g_assert_cmpstr (source->sha256, ==, sha256);
  g_assert_cmpstr (source->license, ==, "CC-BY-4.0");
  g_assert_cmpuint (source->examples, ==, 5);
  g_assert_cmpuint (source->rejected, ==, 1);
  g_assert_cmpuint (version->source_ids->len, ==, 1);
  g_assert_cmpint (g_array_index (version->source_ids, gint64, 0), ==, source->id);

  /* Redacted, tagged, and with provenance restored when read back; the counter-example is in
   * training. */
  train = tailor_dataset_read_split (f->catalogue, version, TAILOR_SPLIT_TRAIN, &error);
  g_assert_no_error (error);
  eval = tailor_dataset_read_split (f->catalogue, version, TAILOR_SPLIT_EVAL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < train->len + eval->len; i++)
    {
      const TailorExample *example =
        i < train->len ? g_ptr_array_index (train, i) : g_ptr_array_index (eval, i - train->len);
      const char *answer = g_array_index (example->messages, TailorMessage, 1).content;

      g_assert_cmpstr (example->source, ==, "faq.jsonl");
      g_assert_null (strstr (answer, "help@example.org"));
      redacted |= strstr (answer, "[EMAIL]") != NULL;
      if (strstr (answer, "[BAD]") != NULL)
        {
          g_assert_true (tailor_example_has_tag (example, TAILOR_TAG_COUNTER_EXAMPLE));
          g_assert_cmpuint (i, <, train->len);
        }
    }
  g_assert_true (redacted);

  /* Importing the same file again changes nothing and records nothing. */
  again = tailor_dataset_builder_new (f->catalogue, "faq", NULL, &hygiene, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tailor_dataset_builder_import_file (again, path, TAILOR_IMPORT_FORMAT_AUTO,
                                                     &import_options, NULL, NULL, NULL, &error));
  same = tailor_dataset_builder_commit (again, &created, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (created);
  g_assert_cmpstr (same->id, ==, version->id);
  g_assert_cmpuint (count_versions (f, version->project_id), ==, 1);
  g_assert_cmpuint (count_sources (f, version->project_id), ==, 1);
}

static void
test_builder_separates_near_duplicates_before_freezing (Fixture *f, gconstpointer data)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (9);
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  static const guint few[] = { 6, 20 };
  g_autofree char *path = NULL;
  const char *paths[] = { NULL, NULL };
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (TailorLeakReport) report = NULL;
  g_autoptr (JsonNode) counts = NULL;
  g_autoptr (GError) error = NULL;
  TailorSplitOptions split;
  JsonObject *split_counts;
  gboolean created = FALSE;

  /* Twenty pairs of paraphrases: at a 50% split some pairs straddle the boundary. */
  for (guint i = 0; i < 20; i++)
    {
      char *text = random_text (rand, 30);

      g_ptr_array_add (texts, text);
      g_ptr_array_add (texts, paraphrase (text, few, G_N_ELEMENTS (few)));
    }
  path = write_texts (f, "pairs.jsonl", (const char *const *) texts->pdata, texts->len);
  paths[0] = path;
  tailor_split_options_init (&split);
  split.eval_ratio = 0.5;
  version = import_files (f, "pairs", &split, paths, &created, &error);
  g_assert_no_error (error);
  counts = json_from_string (version->hygiene_counts, &error);
  g_assert_no_error (error);
  split_counts = json_object_get_object_member (json_node_get_object (counts), "split");
  g_assert_cmpint (json_object_get_int_member (split_counts, "moved_to_eval"), >, 0);
  g_assert_cmpuint (version->train_count + version->eval_count, ==, 40);

  report = tailor_dataset_leak_check (f->catalogue, version->project_id, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (report->frozen_version_id);
  g_assert_true (tailor_leak_report_is_clean (report));
  g_assert_true (
    tailor_dataset_freeze_eval (f->catalogue, version->project_id, version->id, NULL, &error));
  g_assert_no_error (error);
}

/* Chat examples with exact and near duplicates, emails, counter-example markers and a glossary
 * term; n answers of `words` words. */
static char *
write_chat_file (Fixture *f, const char *name, GRand *rand, guint n, guint words)
{
  g_autofree char *path = g_build_filename (f->files, name, NULL);
  static const guint one[] = { 3 };
  FILE *file = fopen (path, "w");

  g_assert_nonnull (file);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *question = random_text (rand, 12);
      g_autofree char *answer = random_text (rand, words);
      g_autofree char *twin = paraphrase (answer, one, 1);
      const char *extra = i % 9 == 4    ? " mail me at someone@example.org"
                          : i % 11 == 5 ? " DONT"
                          : i % 7 == 6  ? " the colour theme"
                                        : "";

      fprintf (file,
               "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},"
               "{\"role\":\"assistant\",\"content\":\"%s%s\"}]}\n",
               question, answer, extra);
      if (i % 13 == 2)
        fprintf (file,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},"
                 "{\"role\":\"assistant\",\"content\":\"%s%s\"}]}\n",
                 question, answer, extra);
      if (i % 10 == 1)
        fprintf (file,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},"
                 "{\"role\":\"assistant\",\"content\":\"%s\"}]}\n",
                 question, twin);
    }
  g_assert_cmpint (fclose (file), ==, 0);
  return g_steal_pointer (&path);
}

static char *
write_glossary (Fixture *f)
{
  char *path = g_build_filename (f->files, "glossary.tsv", NULL);

  g_assert_true (g_file_set_contents (path, "colour\tcolor\n", -1, NULL));
  return path;
}

static TailorDatasetVersion *
build (Fixture *f,
       const char *project,
       const TailorHygieneSettings *hygiene,
       const TailorSplitOptions *split,
       const char *const *paths,
       guint batch_size,
       gboolean resplit,
       gboolean freeze,
       gboolean *created,
       char **counts)
{
  g_autoptr (TailorDatasetBuilder) builder = NULL;
  g_autoptr (GError) error = NULL;
  TailorDatasetVersion *version;

  builder = tailor_dataset_builder_new (f->catalogue, project, NULL, hygiene, split, &error);
  g_assert_no_error (error);
  tailor_dataset_builder_set_batch_size (builder, batch_size);
  tailor_dataset_builder_set_resplit (builder, resplit);
  tailor_dataset_builder_set_freeze_eval (builder, freeze);
  for (guint i = 0; paths != NULL && paths[i] != NULL; i++)
    {
      tailor_dataset_builder_import_file (builder, paths[i], TAILOR_IMPORT_FORMAT_AUTO, NULL, NULL,
                                          NULL, NULL, &error);
      g_assert_no_error (error);
    }
  version = tailor_dataset_builder_commit (builder, created, NULL, &error);
  g_assert_no_error (error);
  if (counts != NULL)
    *counts = g_strdup (tailor_dataset_builder_get_counts (builder));
  return version;
}

static gint64
split_count (const char *counts, const char *member)
{
  g_autoptr (JsonNode) root = json_from_string (counts, NULL);

  g_assert_nonnull (root);
  return json_object_get_int_member (
    json_object_get_object_member (json_node_get_object (root), "split"), member);
}

static gboolean
spool_is_gone (Fixture *f)
{
  g_autofree char *tmp = g_build_filename (f->dir, "tmp", NULL);
  g_autoptr (GDir) dir = g_dir_open (tmp, 0, NULL);

  return dir == NULL || g_dir_read_name (dir) == NULL;
}

static void
test_version_writer_matches_write_version (Fixture *f, gconstpointer data)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  g_autoptr (GPtrArray) train = text_examples (rand, 300, "a.jsonl");
  g_autoptr (GPtrArray) eval = text_examples (rand, 40, "b.jsonl");
  g_autoptr (TailorProject) first = NULL;
  g_autoptr (TailorProject) second = NULL;
  g_autoptr (TailorDatasetVersion) in_memory = NULL;
  g_autoptr (TailorDatasetVersion) streamed = NULL;
  g_autoptr (TailorDatasetVersion) again = NULL;
  g_autoptr (TailorVersionWriter) writer = NULL;
  g_autoptr (TailorVersionWriter) repeat = NULL;
  g_autoptr (GError) error = NULL;
  TailorVersionRequest request = { 0 };
  gboolean created = FALSE;

  tailor_example_add_tag (g_ptr_array_index (train, 7), TAILOR_TAG_COUNTER_EXAMPLE);
  /* Two equal lines are two lines. */
  g_ptr_array_add (train, tailor_example_copy (g_ptr_array_index (train, 11)));
  request.changelog = "test";
  request.split_settings = "{\"seed\":1,\"eval_ratio\":0.1}";
  request.hygiene_settings = "{\"dedup\":{\"enabled\":true}}";
  first = tailor_catalogue_create_project (f->catalogue, "first", "", &error);
  g_assert_no_error (error);
  second = tailor_catalogue_create_project (f->catalogue, "second", "", &error);
  g_assert_no_error (error);
  in_memory = tailor_catalogue_write_version (f->catalogue, first->id, &request, train, eval,
                                              &created, &error);
  g_assert_no_error (error);
  g_assert_true (created);

  /* Any order, the splits interleaved. */
  writer = tailor_catalogue_new_version_writer (f->catalogue, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < train->len; i++)
    {
      const TailorExample *example = g_ptr_array_index (train, train->len - 1 - i);

      g_assert_true (tailor_version_writer_add (writer, TAILOR_SPLIT_TRAIN, example, &error));
      if (i < eval->len)
        {
          g_autofree char *line = tailor_example_to_json (g_ptr_array_index (eval, i));

          g_assert_true (
            tailor_version_writer_add_line (writer, TAILOR_SPLIT_EVAL, line, -1, &error));
        }
    }
  g_assert_false (
    tailor_version_writer_add_line (writer, TAILOR_SPLIT_TRAIN, "{}\n{}", -1, &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID);
  g_clear_error (&error);
  streamed = tailor_version_writer_finish (writer, second->id, &request, &created, &error);
  g_assert_no_error (error);
  g_assert_true (created);
  g_assert_cmpstr (streamed->id, ==, in_memory->id);
  g_assert_cmpstr (streamed->train_sha256, ==, in_memory->train_sha256);
  g_assert_cmpstr (streamed->eval_sha256, ==, in_memory->eval_sha256);
  g_assert_cmpuint (streamed->train_count, ==, train->len);
  g_assert_cmpuint (streamed->eval_count, ==, eval->len);
  g_clear_pointer (&writer, tailor_version_writer_free);
  g_assert_true (spool_is_gone (f));

  /* The same content again is the existing version. */
  repeat = tailor_catalogue_new_version_writer (f->catalogue, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < train->len; i++)
    g_assert_true (
      tailor_version_writer_add (repeat, TAILOR_SPLIT_TRAIN, g_ptr_array_index (train, i), &error));
  for (guint i = 0; i < eval->len; i++)
    g_assert_true (
      tailor_version_writer_add (repeat, TAILOR_SPLIT_EVAL, g_ptr_array_index (eval, i), &error));
  again = tailor_version_writer_finish (repeat, second->id, &request, &created, &error);
  g_assert_no_error (error);
  g_assert_false (created);
  g_assert_cmpstr (again->id, ==, in_memory->id);
}

/* One history — two files, a third with near-duplicates, a re-split frozen, one more file on the
 * frozen set, and a project without deduplication whose split must move near-duplicates — built
 * with several spool batch sizes: every version id is the same. */
static void
test_builder_version_does_not_depend_on_batch_size (Fixture *f, gconstpointer data)
{
  static const guint sizes[] = { 0, 1, 7 };
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  g_autofree char *a = write_chat_file (f, "a.jsonl", rand, 120, 30);
  g_autofree char *b = write_chat_file (f, "b.jsonl", rand, 60, 30);
  g_autofree char *c = write_chat_file (f, "c.jsonl", rand, 50, 30);
  g_autofree char *d = write_chat_file (f, "d.jsonl", rand, 40, 30);
  g_autofree char *glossary = write_glossary (f);
  const char *first[] = { a, b, NULL }, *second[] = { c, NULL }, *third[] = { d, NULL };
  const char *markers[] = { "DONT", NULL };
  g_autoptr (GPtrArray) reference = g_ptr_array_new_with_free_func (g_free);
  gboolean moved = FALSE;

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      g_autofree char *project = g_strdup_printf ("p%u", s);
      g_autofree char *plain = g_strdup_printf ("q%u", s);
      g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
      TailorHygieneSettings hygiene;
      TailorSplitOptions split;
      gboolean created = FALSE;

      tailor_hygiene_settings_init (&hygiene);
      hygiene.glossary_path = glossary;
      hygiene.counter_markers = markers;
      tailor_split_options_init (&split);
      split.eval_ratio = 0.2;
      {
        g_autoptr (TailorDatasetVersion) v =
          build (f, project, &hygiene, &split, first, sizes[s], FALSE, FALSE, &created, NULL);
        g_ptr_array_add (ids, g_strdup (v->id));
      }
      {
        g_autoptr (TailorDatasetVersion) v =
          build (f, project, &hygiene, NULL, second, sizes[s], FALSE, FALSE, &created, NULL);
        g_ptr_array_add (ids, g_strdup (v->id));
      }
      split.eval_ratio = 0.0;
      split.eval_count = 30;
      split.seed = 5;
      {
        g_autoptr (TailorDatasetVersion) v =
          build (f, project, &hygiene, &split, NULL, sizes[s], TRUE, TRUE, &created, NULL);
        g_assert_true (v->eval_frozen);
        g_ptr_array_add (ids, g_strdup (v->id));
      }
      {
        g_autoptr (TailorDatasetVersion) v =
          build (f, project, &hygiene, NULL, third, sizes[s], FALSE, FALSE, &created, NULL);
        g_assert_true (created);
        g_ptr_array_add (ids, g_strdup (v->id));
      }
      tailor_hygiene_settings_init (&hygiene);
      hygiene.dedup = FALSE;
      {
        g_autofree char *counts = NULL;
        g_autoptr (TailorDatasetVersion) v =
          build (f, plain, &hygiene, NULL, first, sizes[s], FALSE, FALSE, &created, &counts);

        moved |= split_count (counts, "moved_to_eval") > 0;
        g_ptr_array_add (ids, g_strdup (v->id));
      }

      for (guint i = 0; i < ids->len; i++)
        {
          if (s == 0)
            g_ptr_array_add (reference, g_strdup (g_ptr_array_index (ids, i)));
          else
            g_assert_cmpstr (g_ptr_array_index (ids, i), ==, g_ptr_array_index (reference, i));
        }
    }
  /* The history went through the separation of near-duplicates. */
  g_assert_true (moved);
  g_assert_true (spool_is_gone (f));
}

static void
tag_provenance (GPtrArray *examples)
{
  for (guint i = 0; i < examples->len; i++)
    {
      TailorExample *example = g_ptr_array_index (examples, i);
      g_autofree char *name = g_path_get_basename (example->source);
      g_autofree char *tag = g_strconcat (TAILOR_SOURCE_TAG_PREFIX, name, NULL);

      tailor_example_add_tag (example, tag);
    }
}

static gboolean
collect_example (TailorExample *example, gpointer user_data, GError **error)
{
  g_ptr_array_add (user_data, example);
  return TRUE;
}

/* The steps of the builder run by hand on examples held in memory — import, markers, secrets,
 * glossary, deduplication, split, provenance, tailor_catalogue_write_version — give the version
 * the spooling builder gives. */
static void
test_builder_matches_in_memory_steps (Fixture *f, gconstpointer data)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (21);
  g_autofree char *path = write_chat_file (f, "memory.jsonl", rand, 150, 80);
  g_autofree char *glossary_path = write_glossary (f);
  const char *paths[] = { path, NULL };
  const char *markers[] = { "DONT", NULL };
  g_autoptr (TailorDatasetVersion) spooled = NULL;
  g_autoptr (TailorDatasetVersion) in_memory = NULL;
  g_autoptr (TailorImportSummary) summary = NULL;
  g_autoptr (GPtrArray) examples =
    g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);
  g_autoptr (GPtrArray) scrubbed = NULL;
  g_autoptr (GPtrArray) normalised = NULL;
  g_autoptr (GPtrArray) unique = NULL;
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GPtrArray) eval = NULL;
  g_autoptr (TailorPiiReport) pii = NULL;
  g_autoptr (TailorGlossary) glossary = NULL;
  g_autoptr (TailorGlossaryReport) glossary_report = NULL;
  g_autoptr (TailorDuplicateReport) duplicates = NULL;
  g_autoptr (TailorProject) project = NULL;
  g_autofree char *counts = NULL;
  g_autofree char *split_settings = NULL;
  g_autoptr (GError) error = NULL;
  TailorVersionRequest request = { 0 };
  TailorHygieneSettings hygiene;
  TailorSplitOptions split;
  gboolean created = FALSE;

  tailor_hygiene_settings_init (&hygiene);
  hygiene.glossary_path = glossary_path;
  hygiene.counter_markers = markers;
  tailor_split_options_init (&split);
  split.eval_ratio = 0.25;
  spooled = build (f, "spooled", &hygiene, &split, paths, 16, FALSE, FALSE, &created, &counts);
  /* Moving near-duplicates is not among the steps done by hand here. */
  g_assert_cmpint (split_count (counts, "moved_to_eval"), ==, 0);
  g_assert_cmpint (split_count (counts, "moved_to_train"), ==, 0);

  summary = tailor_import_file (path, TAILOR_IMPORT_FORMAT_AUTO, NULL, collect_example, NULL,
                                examples, NULL, &error);
  g_assert_no_error (error);
  tailor_examples_tag_where (examples, TAILOR_TAG_COUNTER_EXAMPLE, tailor_example_contains_marker,
                             markers[0]);
  pii = tailor_pii_scan (examples, &hygiene.pii, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pii->n_redacted, >, 0);
  scrubbed = tailor_pii_report_apply (pii, examples);
  glossary = tailor_glossary_load (glossary_path, &error);
  g_assert_no_error (error);
  normalised = tailor_glossary_apply (glossary, scrubbed, &glossary_report);
  g_assert_cmpuint (glossary_report->n_examples_changed, >, 0);
  duplicates = tailor_find_duplicates (normalised, &hygiene.dedup_options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (duplicates->n_exact, >, 0);
  g_assert_cmpuint (duplicates->n_near, >, 0);
  unique = tailor_duplicate_report_apply (duplicates, normalised);
  g_assert_true (tailor_split_examples (unique, &split, &train, &eval, &error));
  tag_provenance (train);
  tag_provenance (eval);

  split_settings = tailor_split_options_to_json (&split);
  request.split_settings = split_settings;
  request.hygiene_settings = spooled->hygiene_settings;
  project = tailor_catalogue_create_project (f->catalogue, "in-memory", "", &error);
  g_assert_no_error (error);
  in_memory = tailor_catalogue_write_version (f->catalogue, project->id, &request, train, eval,
                                              &created, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (in_memory->train_count, ==, spooled->train_count);
  g_assert_cmpuint (in_memory->eval_count, ==, spooled->eval_count);
  g_assert_cmpstr (in_memory->train_sha256, ==, spooled->train_sha256);
  g_assert_cmpstr (in_memory->eval_sha256, ==, spooled->eval_sha256);
  g_assert_cmpstr (in_memory->id, ==, spooled->id);
}

static gboolean
split_mentions (Fixture *f,
                const TailorDatasetVersion *version,
                TailorSplit split,
                const char *text)
{
  g_autofree char *path = tailor_catalogue_get_examples_path (f->catalogue, version, split);
  g_autofree char *contents = NULL;

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  return strstr (contents, text) != NULL;
}

/* Changed per-example settings scan the parent's training examples again (and only then); the
 * frozen evaluation set stays as it was frozen. */
static void
test_builder_rescans_parent_when_hygiene_changes (Fixture *f, gconstpointer data)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);
  g_autofree char *path = write_chat_file (f, "mail.jsonl", rand, 90, 20);
  const char *paths[] = { path, NULL };
  g_autoptr (TailorDatasetVersion) kept = NULL;
  g_autoptr (TailorDatasetVersion) redacted = NULL;
  g_autoptr (TailorDatasetVersion) same = NULL;
  g_autoptr (TailorDatasetVersion) inherited = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) counts = NULL;
  g_autofree char *counts_text = NULL;
  g_autofree char *again_counts = NULL;
  g_autoptr (TailorDatasetBuilder) builder = NULL;
  TailorHygieneSettings hygiene;
  TailorSplitOptions split;
  gboolean created = FALSE;

  tailor_hygiene_settings_init (&hygiene);
  hygiene.pii.actions[TAILOR_PII_EMAIL] = TAILOR_PII_ACTION_KEEP;
  tailor_split_options_init (&split);
  split.eval_ratio = 0.3;
  kept = build (f, "mail", &hygiene, &split, paths, 0, FALSE, TRUE, &created, NULL);
  g_assert_true (kept->eval_frozen);
  g_assert_true (split_mentions (f, kept, TAILOR_SPLIT_TRAIN, "someone@example.org"));
  g_assert_true (split_mentions (f, kept, TAILOR_SPLIT_EVAL, "someone@example.org"));

  /* Redacting now: the training examples are scanned again, the sacred set is not. */
  hygiene.pii.actions[TAILOR_PII_EMAIL] = TAILOR_PII_ACTION_REDACT;
  redacted = build (f, "mail", &hygiene, NULL, NULL, 0, FALSE, FALSE, &created, &counts_text);
  g_assert_true (created);
  g_assert_false (split_mentions (f, redacted, TAILOR_SPLIT_TRAIN, "someone@example.org"));
  g_assert_true (split_mentions (f, redacted, TAILOR_SPLIT_TRAIN, "[EMAIL]"));
  g_assert_cmpstr (redacted->eval_sha256, ==, kept->eval_sha256);
  g_assert_nonnull (strstr (redacted->changelog, "again for changed hygiene settings"));
  counts = json_from_string (counts_text, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (counts), "rescanned"), ==,
                   kept->train_count);

  /* The same settings again scan nothing and change nothing; neither do inherited ones. */
  same = build (f, "mail", &hygiene, NULL, NULL, 0, FALSE, FALSE, &created, &again_counts);
  g_assert_false (created);
  g_assert_cmpstr (same->id, ==, redacted->id);
  builder = tailor_dataset_builder_new (f->catalogue, "mail", NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  inherited = tailor_dataset_builder_commit (builder, &created, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (created);
  g_assert_cmpstr (inherited->id, ==, redacted->id);
}

static TailorDatasetVersion *
rebuild_from (Fixture *f,
              const TailorDatasetVersion *parent,
              const TailorHygieneSettings *hygiene,
              const char *path,
              gboolean carry,
              gboolean *created)
{
  g_autoptr (TailorDatasetBuilder) builder = NULL;
  g_autoptr (GError) error = NULL;
  TailorDatasetVersion *version;

  builder = tailor_dataset_builder_new (f->catalogue, "mail", parent->id, hygiene, NULL, &error);
  g_assert_no_error (error);
  tailor_dataset_builder_set_carry_parent (builder, carry);
  tailor_dataset_builder_set_reason (builder, "Chose to keep emails");
  tailor_dataset_builder_import_file (builder, path, TAILOR_IMPORT_FORMAT_AUTO, NULL, NULL, NULL,
                                      NULL, &error);
  g_assert_no_error (error);
  version = tailor_dataset_builder_commit (builder, created, NULL, &error);
  g_assert_no_error (error);
  return version;
}

/* A version rebuilt from its files without carrying the parent's examples reaches the original
 * text (a redaction undone), records the parent, and keeps a frozen evaluation set exactly;
 * carrying them, the redacted text stays. */
static void
test_builder_rebuild_without_parent_examples (Fixture *f, gconstpointer data)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (8);
  g_autofree char *path = write_chat_file (f, "mail.jsonl", rand, 90, 20);
  const char *paths[] = { path, NULL };
  g_autoptr (TailorDatasetVersion) redacted = NULL;
  g_autoptr (TailorDatasetVersion) carried = NULL;
  g_autoptr (TailorDatasetVersion) rebuilt = NULL;
  g_autoptr (TailorDatasetVersion) frozen_rebuilt = NULL;
  g_autoptr (GError) error = NULL;
  TailorHygieneSettings hygiene;
  TailorSplitOptions split;
  gboolean created = FALSE;

  tailor_hygiene_settings_init (&hygiene);
  tailor_split_options_init (&split);
  split.eval_ratio = 0.3;
  redacted = build (f, "mail", &hygiene, &split, paths, 0, FALSE, FALSE, &created, NULL);
  g_assert_true (created);
  g_assert_false (split_mentions (f, redacted, TAILOR_SPLIT_TRAIN, "someone@example.org"));
  g_assert_true (split_mentions (f, redacted, TAILOR_SPLIT_TRAIN, "[EMAIL]"));

  hygiene.pii.actions[TAILOR_PII_EMAIL] = TAILOR_PII_ACTION_KEEP;
  carried = rebuild_from (f, redacted, &hygiene, path, TRUE, &created);
  g_assert_true (split_mentions (f, carried, TAILOR_SPLIT_TRAIN, "[EMAIL]"));

  rebuilt = rebuild_from (f, redacted, &hygiene, path, FALSE, &created);
  g_assert_true (created);
  g_assert_cmpstr (rebuilt->parent, ==, redacted->id);
  g_assert_true (split_mentions (f, rebuilt, TAILOR_SPLIT_TRAIN, "someone@example.org"));
  g_assert_false (split_mentions (f, rebuilt, TAILOR_SPLIT_TRAIN, "[EMAIL]"));
  g_assert_false (split_mentions (f, rebuilt, TAILOR_SPLIT_EVAL, "[EMAIL]"));
  /* The same examples, once each: nothing of the parent doubles them. */
  g_assert_cmpuint (rebuilt->train_count + rebuilt->eval_count, ==,
                    redacted->train_count + redacted->eval_count);
  /* The reason leads the changelog; the file, imported again unchanged, is still one source. */
  g_assert_true (g_str_has_prefix (rebuilt->changelog, "Chose to keep emails; imported mail.jsonl"));
  g_assert_cmpuint (count_sources (f, rebuilt->project_id), ==, 1);

  /* With a frozen evaluation set, the rebuild carries it exactly, as frozen (redacted). */
  g_assert_true (
    tailor_dataset_freeze_eval (f->catalogue, redacted->project_id, redacted->id, NULL, &error));
  g_assert_no_error (error);
  frozen_rebuilt = rebuild_from (f, redacted, &hygiene, path, FALSE, &created);
  g_assert_cmpstr (frozen_rebuilt->eval_sha256, ==, redacted->eval_sha256);
  g_assert_cmpuint (frozen_rebuilt->train_count + frozen_rebuilt->eval_count, ==,
                    redacted->train_count + redacted->eval_count);
  g_assert_true (split_mentions (f, frozen_rebuilt, TAILOR_SPLIT_TRAIN, "someone@example.org"));
}

static gsize
proc_status_kb (const char *key)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, key);
  if (line == NULL)
    return 0;
  return (gsize) g_ascii_strtoull (line + strlen (key), NULL, 10);
}

/* The peak memory an import and commit add over the memory in use before it, in KiB. */
static gsize
import_peak_growth (Fixture *f, const char *project, const char *path, guint *kept)
{
  const char *paths[] = { path, NULL };
  g_autoptr (TailorDatasetVersion) version = NULL;
  gboolean created = FALSE;
  gsize before;

  g_file_set_contents ("/proc/self/clear_refs", "5", 1, NULL);
  before = proc_status_kb ("VmRSS:");
  version = build (f, project, NULL, NULL, paths, 128, FALSE, FALSE, &created, NULL);
  g_assert_true (created);
  *kept = version->train_count + version->eval_count;
  return proc_status_kb ("VmHWM:") - before;
}

/* Two imports of 6,000 examples, of about 16 MB and 63 MB: the larger raises the peak memory by
 * about as much as the smaller, and by far less than its size, since the examples live in the
 * spool, not in memory. */
static void
test_builder_memory_does_not_grow_with_bytes (Fixture *f, gconstpointer data)
{
  g_autoptr (GRand) small_rand = g_rand_new_with_seed (17);
  g_autoptr (GRand) large_rand = g_rand_new_with_seed (17);
  g_autofree char *small = write_chat_file (f, "small.jsonl", small_rand, 6000, 300);
  g_autofree char *large = write_chat_file (f, "large.jsonl", large_rand, 6000, 1200);
  gsize small_growth;
  gsize large_growth;
  guint small_kept = 0;
  guint large_kept = 0;
  GStatBuf small_st;
  GStatBuf large_st;

  if (!g_file_test ("/proc/self/clear_refs", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("needs /proc/self/clear_refs to reset the peak");
      return;
    }
  g_assert_cmpint (g_stat (small, &small_st), ==, 0);
  g_assert_cmpint (g_stat (large, &large_st), ==, 0);
  g_assert_cmpint (large_st.st_size, >, 55 * 1024 * 1024);

  /* The smaller one first also warms the thread pool and the allocator up. */
  small_growth = import_peak_growth (f, "small", small, &small_kept);
  large_growth = import_peak_growth (f, "large", large, &large_kept);
  g_test_message ("%" G_GINT64_FORMAT " bytes, %u examples kept: peak +%" G_GSIZE_FORMAT " KiB; "
                  "%" G_GINT64_FORMAT " bytes, %u examples kept: peak +%" G_GSIZE_FORMAT " KiB",
                  (gint64) small_st.st_size, small_kept, small_growth, (gint64) large_st.st_size,
                  large_kept, large_growth);
  g_assert_cmpuint (small_kept, >=, 5900);
  g_assert_cmpuint (large_kept, >=, 5900);
  /* Holding the examples would add the file's size at least (the in-memory builder peaked at
   * over three times it): 47 MB more bytes would add 47 MiB or more. What grows here is per
   * example (about 1 KiB while deduplicating) and per batch of 128, 13–17 MiB in all. */
  g_assert_cmpuint (large_growth, <,
                    small_growth + (large_st.st_size - small_st.st_size) / 1024 / 6);
  g_assert_cmpuint (large_growth, <, large_st.st_size / 1024 / 3);
  g_assert_true (spool_is_gone (f));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/split/is-deterministic-by-content", test_split_is_deterministic_by_content);
  g_test_add_func ("/split/ratio-and-count", test_split_ratio_and_count);
  g_test_add_func ("/split/is-stratified-by-source", test_split_is_stratified_by_source);
  g_test_add_func ("/split/keeps-counter-examples-in-training",
                   test_split_keeps_counter_examples_in_training);
  g_test_add_func ("/leak/catches-exact-and-near-duplicates",
                   test_leak_check_catches_exact_and_near_duplicates);
  g_test_add ("/builder/carries-frozen-eval", Fixture, NULL, fixture_setup,
              test_builder_carries_frozen_eval, fixture_teardown);
  g_test_add ("/builder/refuses-leak-into-training", Fixture, NULL, fixture_setup,
              test_builder_refuses_leak_into_training, fixture_teardown);
  g_test_add ("/builder/is-all-or-nothing", Fixture, NULL, fixture_setup,
              test_builder_is_all_or_nothing, fixture_teardown);
  g_test_add ("/builder/changelog-and-counts", Fixture, NULL, fixture_setup,
              test_builder_changelog_and_counts, fixture_teardown);
  g_test_add ("/catalogue/version-writer-matches-write-version", Fixture, NULL, fixture_setup,
              test_version_writer_matches_write_version, fixture_teardown);
  g_test_add ("/builder/version-does-not-depend-on-batch-size", Fixture, NULL, fixture_setup,
              test_builder_version_does_not_depend_on_batch_size, fixture_teardown);
  g_test_add ("/builder/matches-in-memory-steps", Fixture, NULL, fixture_setup,
              test_builder_matches_in_memory_steps, fixture_teardown);
  g_test_add ("/builder/rebuild-without-parent-examples", Fixture, NULL, fixture_setup,
              test_builder_rebuild_without_parent_examples, fixture_teardown);
  g_test_add ("/builder/rescans-parent-when-hygiene-changes", Fixture, NULL, fixture_setup,
              test_builder_rescans_parent_when_hygiene_changes, fixture_teardown);
  g_test_add ("/builder/memory-does-not-grow-with-bytes", Fixture, NULL, fixture_setup,
              test_builder_memory_does_not_grow_with_bytes, fixture_teardown);
  g_test_add ("/builder/separates-near-duplicates-before-freezing", Fixture, NULL, fixture_setup,
              test_builder_separates_near_duplicates_before_freezing, fixture_teardown);

  return g_test_run ();
}
