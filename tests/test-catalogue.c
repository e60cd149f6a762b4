/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the catalogue: records, versions and their files, migrations, damage, locks,
 * concurrency. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>

#include "tailor-catalogue.h"

/* Every test runs in its own data folder, reached through TAILOR_DATA_DIR as the app would. */
typedef struct
{
  char *dir;
  char *db_path;
} Fixture;

/* TAILOR_DATA_DIR is set once in main, before any thread exists (setenv is not thread-safe);
 * each test then gets a fresh folder of its own and names it explicitly. */
static char *data_root;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("tailor-catalogue-XXXXXX", &error);
  g_assert_no_error (error);
  f->db_path = g_build_filename (f->dir, "catalogue.db", NULL);
}

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
          remove_tree (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->db_path);
}

static TailorCatalogue *
open_catalogue (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TailorCatalogue *catalogue =
    tailor_catalogue_open (f->dir, TAILOR_CATALOGUE_OPEN_DEFAULT, &error);

  g_assert_no_error (error);
  g_assert_nonnull (catalogue);
  return catalogue;
}

/* A second connection that is not ours: what another tool or an older Tailor would do. */
static sqlite3 *
raw_open (const char *path)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  return db;
}

static void
raw_exec (sqlite3 *db, const char *sql)
{
  char *message = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("SQL failed: %s\n%s", message, sql);
}

static gint64
raw_int (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  gint64 value;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return value;
}

static char *
raw_text (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  char *value;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  return value;
}

static TailorExample *
chat (const char *user, const char *assistant)
{
  TailorExample *example = tailor_example_new_chat ();

  tailor_example_add_message (example, "user", user);
  tailor_example_add_message (example, "assistant", assistant);
  return example;
}

static GPtrArray *
examples_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);
}

/* n chat examples numbered from first. */
static GPtrArray *
numbered (guint first, guint n)
{
  GPtrArray *examples = examples_new ();

  for (guint i = first; i < first + n; i++)
    {
      g_autofree char *q = g_strdup_printf ("Question %u?", i);
      g_autofree char *a = g_strdup_printf ("Answer %u.", i);
      g_ptr_array_add (examples, chat (q, a));
    }
  return examples;
}

static TailorDatasetVersion *
write_version (TailorCatalogue *catalogue,
               gint64 project_id,
               const char *parent,
               const char *changelog,
               GPtrArray *train,
               GPtrArray *eval,
               gboolean *created)
{
  g_autoptr (GError) error = NULL;
  TailorVersionRequest request = { 0 };
  TailorDatasetVersion *version;

  request.parent = parent;
  request.changelog = changelog;
  request.split_settings = "{\"seed\": 7, \"eval_ratio\": 0.1}";
  version =
    tailor_catalogue_write_version (catalogue, project_id, &request, train, eval, created, &error);
  g_assert_no_error (error);
  g_assert_nonnull (version);
  return version;
}

/* Names of the .jsonl files under examples/, and no leftover temporary file. */
static guint
count_example_files (const char *dir)
{
  g_autofree char *examples = g_build_filename (dir, "examples", NULL);
  g_autoptr (GDir) top = g_dir_open (examples, 0, NULL);
  const char *name;
  guint count = 0;

  while (top != NULL && (name = g_dir_read_name (top)) != NULL)
    {
      g_autofree char *sub = g_build_filename (examples, name, NULL);
      g_autoptr (GDir) inner = NULL;
      const char *file;

      g_assert_false (g_str_has_prefix (name, ".incoming-"));
      inner = g_dir_open (sub, 0, NULL);
      g_assert_nonnull (inner);
      while ((file = g_dir_read_name (inner)) != NULL)
        {
          g_assert_true (g_str_has_suffix (file, ".jsonl"));
          g_assert_true (g_str_has_prefix (file, name));
          count++;
        }
    }
  return count;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The canonical lines of a set of examples, sorted: equal sets give equal arrays. */
static GPtrArray *
sorted_lines (GPtrArray *examples)
{
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < examples->len; i++)
    g_ptr_array_add (lines, tailor_example_to_json (g_ptr_array_index (examples, i)));
  g_ptr_array_sort (lines, compare_strings);
  return lines;
}

static GPtrArray *
read_back (TailorCatalogue *catalogue,
           const TailorDatasetVersion *version,
           TailorSplit split,
           GError **error)
{
  g_autoptr (TailorExampleReader) reader = NULL;
  g_autoptr (GPtrArray) examples = examples_new ();
  TailorExample *example;

  reader = tailor_catalogue_read_examples (catalogue, version, split, error);
  if (reader == NULL)
    return NULL;
  while ((example = tailor_example_reader_next (reader, error)) != NULL)
    g_ptr_array_add (examples, example);
  if (*error != NULL)
    return NULL;
  return g_steal_pointer (&examples);
}

static void
assert_same_lines (GPtrArray *a, GPtrArray *b)
{
  g_autoptr (GPtrArray) la = sorted_lines (a);
  g_autoptr (GPtrArray) lb = sorted_lines (b);

  g_assert_cmpuint (la->len, ==, lb->len);
  for (guint i = 0; i < la->len; i++)
    g_assert_cmpstr (g_ptr_array_index (la, i), ==, g_ptr_array_index (lb, i));
}

/* ------------------------------------------------------------------------------------------ */

static void
test_creates_wal_database (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autofree char *mode = NULL;
  sqlite3 *db;

  g_assert_cmpstr (tailor_catalogue_get_dir (catalogue), ==, f->dir);
  g_assert_cmpstr (tailor_catalogue_get_path (catalogue), ==, f->db_path);
  g_assert_true (g_file_test (f->db_path, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (tailor_catalogue_get_schema_version (catalogue), ==,
                   TAILOR_CATALOGUE_SCHEMA_VERSION);
  g_assert_null (tailor_catalogue_get_recovery_message (catalogue));

  db = raw_open (f->db_path);
  mode = raw_text (db, "PRAGMA journal_mode");
  g_assert_cmpstr (mode, ==, "wal");
  g_assert_cmpint (raw_int (db, "PRAGMA user_version"), ==, TAILOR_CATALOGUE_SCHEMA_VERSION);
  sqlite3_close (db);
}

/* Runs first, before any test starts a thread, because it changes the environment. */
static void
test_opens_in_tailor_data_dir (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autofree char *dir = tailor_catalogue_default_dir ();
  g_autofree char *expected = g_build_filename (data_root, "catalogue.db", NULL);
  g_autofree char *xdg = NULL;

  g_assert_cmpstr (dir, ==, data_root);
  catalogue = tailor_catalogue_open (NULL, TAILOR_CATALOGUE_OPEN_DEFAULT, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tailor_catalogue_get_path (catalogue), ==, expected);
  g_assert_true (g_file_test (expected, G_FILE_TEST_IS_REGULAR));

  g_unsetenv ("TAILOR_DATA_DIR");
  xdg = tailor_catalogue_default_dir ();
  g_setenv ("TAILOR_DATA_DIR", data_root, TRUE);
  g_assert_true (g_str_has_prefix (xdg, g_get_user_data_dir ()));
  g_assert_true (g_str_has_suffix (xdg, "/tailor"));
}

static void
test_projects_create_list_rename_delete (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) tone = NULL;
  g_autoptr (TailorProject) faq = NULL;
  g_autoptr (TailorProject) again = NULL;
  g_autoptr (TailorProject) found = NULL;
  g_autoptr (GPtrArray) list = NULL;

  tone = tailor_catalogue_create_project (catalogue, "Tone", "Write like our support team", &error);
  g_assert_no_error (error);
  faq = tailor_catalogue_create_project (catalogue, "FAQ", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (tone->id, !=, faq->id);
  g_assert_cmpstr (tone->goal, ==, "Write like our support team");
  g_assert_cmpstr (faq->goal, ==, "");
  g_assert_null (faq->base_model_path);
  g_assert_null (faq->wizard_step);
  g_assert_cmpint (faq->created, >, 0);
  g_assert_cmpint (faq->created, ==, faq->updated);

  again = tailor_catalogue_create_project (catalogue, "Tone", NULL, &error);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, "Tone"));
  g_assert_null (again);
  g_clear_error (&error);
  g_assert_null (tailor_catalogue_create_project (catalogue, "  ", NULL, &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID);
  g_clear_error (&error);

  list = tailor_catalogue_list_projects (catalogue, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 2);
  g_assert_cmpstr (((TailorProject *) list->pdata[0])->name, ==, "FAQ");
  g_assert_cmpstr (((TailorProject *) list->pdata[1])->name, ==, "Tone");
  g_clear_pointer (&list, g_ptr_array_unref);

  g_assert_true (tailor_catalogue_rename_project (catalogue, faq->id, "Help desk", &error));
  g_assert_no_error (error);
  g_assert_false (tailor_catalogue_rename_project (catalogue, faq->id, "Tone", &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_false (tailor_catalogue_rename_project (catalogue, 9999, "Nobody", &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (tailor_catalogue_set_project_goal (catalogue, faq->id, "Answer FAQs", &error));
  g_assert_true (
    tailor_catalogue_set_project_base_model (catalogue, faq->id, "/m/a.gguf", "ab12", &error));
  g_assert_true (
    tailor_catalogue_set_project_wizard_step (catalogue, faq->id, "documents", &error));
  g_assert_no_error (error);
  found = tailor_catalogue_find_project (catalogue, "Help desk", &error);
  g_assert_no_error (error);
  g_assert_cmpint (found->id, ==, faq->id);
  g_assert_cmpstr (found->goal, ==, "Answer FAQs");
  g_assert_cmpstr (found->base_model_path, ==, "/m/a.gguf");
  g_assert_cmpstr (found->base_model_sha256, ==, "ab12");
  g_assert_cmpstr (found->wizard_step, ==, "documents");
  g_assert_cmpint (found->updated, >=, found->created);
  g_assert_cmpint (found->created, ==, faq->created);
  g_assert_null (tailor_catalogue_find_project (catalogue, "FAQ", &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (tailor_catalogue_delete_project (catalogue, tone->id, &error));
  g_assert_no_error (error);
  g_assert_false (tailor_catalogue_delete_project (catalogue, tone->id, &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  list = tailor_catalogue_list_projects (catalogue, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_cmpstr (((TailorProject *) list->pdata[0])->name, ==, "Help desk");
}

static gint64
add_source (TailorCatalogue *catalogue, gint64 project_id, const char *path)
{
  g_autoptr (GError) error = NULL;
  TailorSource source = { 0 };
  gint64 id;

  source.project_id = project_id;
  source.path = (char *) path;
  source.sha256 = (char *) "00aa";
  source.size = 1234;
  source.license = (char *) "CC-BY-4.0";
  source.format = (char *) "chat-jsonl";
  source.examples = 10;
  source.rejected = 2;
  id = tailor_catalogue_add_source (catalogue, &source, &error);
  g_assert_no_error (error);
  g_assert_cmpint (id, >, 0);
  g_assert_cmpint (source.id, ==, id);
  g_assert_cmpint (source.imported, >, 0);
  return id;
}

static void
test_delete_project_cascades (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) doomed =
    tailor_catalogue_create_project (catalogue, "Doomed", NULL, NULL);
  g_autoptr (TailorProject) kept = tailor_catalogue_create_project (catalogue, "Kept", NULL, NULL);
  g_autoptr (GPtrArray) train = numbered (0, 5);
  g_autoptr (GPtrArray) eval = numbered (100, 2);
  g_autoptr (TailorDatasetVersion) v1 = NULL;
  g_autoptr (TailorDatasetVersion) v2 = NULL;
  g_autoptr (TailorDatasetVersion) kept_version = NULL;
  g_autoptr (TailorRun) run = NULL;
  g_autoptr (TailorAdapter) adapter = NULL;
  const char *const tables[] = { "sources", "versions", "runs", "adapters" };
  sqlite3 *db;

  gint64 source = add_source (catalogue, doomed->id, "/data/a.jsonl");
  TailorVersionRequest request = { 0 };

  add_source (catalogue, kept->id, "/data/b.jsonl");
  request.changelog = "first";
  request.source_ids = &source;
  request.n_source_ids = 1;
  v1 = tailor_catalogue_write_version (catalogue, doomed->id, &request, train, eval, NULL, &error);
  g_assert_no_error (error);
  g_ptr_array_add (train, chat ("More?", "More."));
  v2 = write_version (catalogue, doomed->id, v1->id, "second", train, eval, NULL);
  kept_version = write_version (catalogue, kept->id, NULL, "kept", train, eval, NULL);
  run = tailor_catalogue_add_run (catalogue, doomed->id, v2->id, "{}", "/runs/x", &error);
  g_assert_no_error (error);
  g_assert_true (tailor_catalogue_add_metric (catalogue, run->id, 1, "loss", 2.5, &error));
  adapter = tailor_catalogue_add_adapter (catalogue, doomed->id, run->id, "/b/x-v1", &error);
  g_assert_no_error (error);
  tailor_catalogue_add_evaluation (catalogue, 0, adapter->id, "eval", "loss", 1.0, NULL, &error);
  g_assert_no_error (error);
  tailor_catalogue_add_evaluation (catalogue, run->id, 0, "eval", "loss", 1.0, NULL, &error);
  g_assert_no_error (error);

  g_assert_true (tailor_catalogue_delete_project (catalogue, doomed->id, &error));
  g_assert_no_error (error);

  db = raw_open (f->db_path);
  for (guint i = 0; i < G_N_ELEMENTS (tables); i++)
    {
      g_autofree char *sql = g_strdup_printf (
        "SELECT count(*) FROM %s WHERE project_id = %" G_GINT64_FORMAT, tables[i], doomed->id);
      g_assert_cmpint (raw_int (db, sql), ==, 0);
    }
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM metrics"), ==, 0);
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM evaluations"), ==, 0);
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM version_sources"), ==, 0);
  /* The other project is untouched. */
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM versions"), ==, 1);
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM sources"), ==, 1);
  sqlite3_close (db);
}

static void
test_sources_keep_import_order_and_fields (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) project = tailor_catalogue_create_project (catalogue, "P", NULL, NULL);
  g_autoptr (GPtrArray) sources = NULL;
  TailorSource orphan = { 0 };
  gint64 first, second;
  TailorSource *s;

  first = add_source (catalogue, project->id, "/data/z.jsonl");
  second = add_source (catalogue, project->id, "/data/a.csv");
  sources = tailor_catalogue_list_sources (catalogue, project->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sources->len, ==, 2);
  s = sources->pdata[0];
  g_assert_cmpint (s->id, ==, first);
  g_assert_cmpstr (s->path, ==, "/data/z.jsonl");
  g_assert_cmpstr (s->sha256, ==, "00aa");
  g_assert_cmpuint (s->size, ==, 1234);
  g_assert_cmpstr (s->license, ==, "CC-BY-4.0");
  g_assert_cmpstr (s->format, ==, "chat-jsonl");
  g_assert_cmpuint (s->examples, ==, 10);
  g_assert_cmpuint (s->rejected, ==, 2);
  g_assert_cmpint (s->imported, >, 0);
  g_assert_cmpint (((TailorSource *) sources->pdata[1])->id, ==, second);

  /* Foreign keys are on: a source of a project that does not exist is refused. */
  orphan.project_id = 4242;
  orphan.path = (char *) "/x";
  orphan.sha256 = (char *) "00";
  g_assert_cmpint (tailor_catalogue_add_source (catalogue, &orphan, &error), ==, 0);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND);
}

static void
assert_license (TailorCatalogue *catalogue, gint64 project_id, guint index, const char *expected)
{
  g_autoptr (GPtrArray) sources = tailor_catalogue_list_sources (catalogue, project_id, NULL);

  g_assert_nonnull (sources);
  g_assert_cmpuint (index, <, sources->len);
  g_assert_cmpstr (((TailorSource *) sources->pdata[index])->license, ==, expected);
}

static void
test_sources_license_can_change_after_import (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) project = tailor_catalogue_create_project (catalogue, "P", NULL, NULL);
  g_autoptr (TailorCatalogue) reopened = NULL;
  gint64 first, second;

  first = add_source (catalogue, project->id, "/data/z.jsonl");
  second = add_source (catalogue, project->id, "/data/a.csv");
  g_assert_true (tailor_catalogue_set_source_license (catalogue, first, "MIT", &error));
  g_assert_no_error (error);
  assert_license (catalogue, project->id, 0, "MIT");
  /* only that source changes */
  assert_license (catalogue, project->id, 1, "CC-BY-4.0");

  /* Empty is no license declared, as at import; NULL the same. */
  g_assert_true (tailor_catalogue_set_source_license (catalogue, second, "", &error));
  g_assert_no_error (error);
  assert_license (catalogue, project->id, 1, NULL);
  g_assert_true (tailor_catalogue_set_source_license (catalogue, first, NULL, &error));
  g_assert_no_error (error);
  assert_license (catalogue, project->id, 0, NULL);
  g_assert_true (tailor_catalogue_set_source_license (catalogue, second, "Apache-2.0", &error));
  g_assert_no_error (error);

  /* A source that does not exist is named in the error, and nothing changes. */
  g_assert_false (tailor_catalogue_set_source_license (catalogue, second + 100, "MIT", &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "source"));
  g_clear_error (&error);

  /* It is stored, not cached: a reopened catalogue reads it back. */
  g_clear_object (&catalogue);
  reopened = open_catalogue (f);
  assert_license (reopened, project->id, 1, "Apache-2.0");
  assert_license (reopened, project->id, 0, NULL);
}

static void
test_versions_chain_parents_and_changelog (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) project = tailor_catalogue_create_project (catalogue, "P", NULL, NULL);
  g_autoptr (GPtrArray) train = numbered (0, 20);
  g_autoptr (GPtrArray) eval = numbered (1000, 3);
  g_autoptr (TailorDatasetVersion) v1 = NULL;
  g_autoptr (TailorDatasetVersion) v2 = NULL;
  g_autoptr (TailorDatasetVersion) v3 = NULL;
  g_autoptr (TailorDatasetVersion) got = NULL;
  g_autoptr (GPtrArray) list = NULL;
  g_autoptr (JsonNode) json = NULL;
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;
  g_autoptr (TailorDatasetVersion) orphan = NULL;
  TailorVersionRequest request = { 0 };
  JsonArray *array;
  JsonObject *first, *second;
  gint64 sources[2];
  gboolean created = FALSE;

  sources[0] = add_source (catalogue, project->id, "/d/a.jsonl");
  sources[1] = add_source (catalogue, project->id, "/d/b.md");

  request.changelog = "Imported a.jsonl and b.md";
  request.split_settings = "{\"seed\":1}";
  request.hygiene_settings = "{\"near_dup\":{\"threshold\":0.8,\"shingle\":5}}";
  request.hygiene_counts = "[{\"step\":\"dedup\",\"before\":25,\"after\":23}]";
  request.source_ids = sources;
  request.n_source_ids = G_N_ELEMENTS (sources);
  v1 = tailor_catalogue_write_version (catalogue, project->id, &request, train, eval, &created,
                                       &error);
  g_assert_no_error (error);
  g_assert_true (created);
  g_assert_cmpuint (strlen (v1->id), ==, 64);
  g_assert_null (v1->parent);
  g_assert_cmpstr (v1->changelog, ==, "Imported a.jsonl and b.md");
  g_assert_cmpuint (v1->train_count, ==, 20);
  g_assert_cmpuint (v1->eval_count, ==, 3);
  g_assert_false (v1->eval_frozen);
  /* Settings are stored canonically: keys sorted, no spaces. */
  g_assert_cmpstr (v1->hygiene_settings, ==, "{\"near_dup\":{\"shingle\":5,\"threshold\":0.8}}");
  g_assert_cmpstr (v1->hygiene_counts, ==, "[{\"after\":23,\"before\":25,\"step\":\"dedup\"}]");
  g_assert_cmpuint (v1->source_ids->len, ==, 2);
  g_assert_cmpint (g_array_index (v1->source_ids, gint64, 0), ==, sources[0]);
  g_assert_cmpint (g_array_index (v1->source_ids, gint64, 1), ==, sources[1]);

  g_ptr_array_remove_index (train, 0);
  v2 = write_version (catalogue, project->id, v1->id, "Removed a duplicate", train, eval, NULL);
  g_ptr_array_add (train, chat ("New?", "New."));
  v3 = write_version (catalogue, project->id, v2->id, "Added one", train, eval, NULL);
  g_assert_cmpstr (v2->parent, ==, v1->id);
  g_assert_cmpstr (v3->parent, ==, v2->id);
  g_assert_cmpstr (v2->id, !=, v1->id);
  g_assert_cmpstr (v3->id, !=, v2->id);

  /* A parent from nowhere is refused with a message naming it. */
  request.parent = "feedface";
  request.changelog = "orphan";
  request.source_ids = NULL;
  request.n_source_ids = 0;
  g_ptr_array_add (train, chat ("Orphan?", "Yes."));
  orphan =
    tailor_catalogue_write_version (catalogue, project->id, &request, train, eval, NULL, &error);
  g_assert_null (orphan);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "feedface"));
  g_clear_error (&error);

  list = tailor_catalogue_list_versions (catalogue, project->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 3);
  g_assert_cmpstr (((TailorDatasetVersion *) list->pdata[0])->id, ==, v1->id);
  g_assert_cmpstr (((TailorDatasetVersion *) list->pdata[1])->id, ==, v2->id);
  g_assert_cmpstr (((TailorDatasetVersion *) list->pdata[2])->id, ==, v3->id);
  g_assert_cmpstr (((TailorDatasetVersion *) list->pdata[2])->changelog, ==, "Added one");
  g_assert_cmpuint (((TailorDatasetVersion *) list->pdata[1])->train_count, ==, 19);

  got = tailor_catalogue_get_version (catalogue, 0, v2->id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->parent, ==, v1->id);
  g_assert_cmpstr (got->train_sha256, ==, v2->train_sha256);

  /* The `data versions --json` contract. */
  json = tailor_catalogue_versions_to_json (list);
  json_generator_set_root (generator, json);
  text = json_generator_to_data (generator, NULL);
  g_test_message ("%s", text);
  array = json_node_get_array (json);
  g_assert_cmpuint (json_array_get_length (array), ==, 3);
  first = json_array_get_object_element (array, 0);
  second = json_array_get_object_element (array, 1);
  g_assert_cmpuint (json_object_get_size (first), ==, 6);
  g_assert_cmpstr (json_object_get_string_member (first, "id"), ==, v1->id);
  g_assert_true (json_object_get_null_member (first, "parent"));
  g_assert_cmpstr (json_object_get_string_member (second, "parent"), ==, v1->id);
  g_assert_cmpstr (json_object_get_string_member (first, "changelog"), ==,
                   "Imported a.jsonl and b.md");
  g_assert_cmpint (json_object_get_int_member (first, "train"), ==, 20);
  g_assert_cmpint (json_object_get_int_member (first, "eval"), ==, 3);
  {
    g_autoptr (GDateTime) created_at =
      g_date_time_new_from_iso8601 (json_object_get_string_member (first, "created"), NULL);

    g_assert_nonnull (created_at);
    g_assert_cmpint (g_date_time_to_unix (created_at), ==, v1->created / G_USEC_PER_SEC);
  }
}

static void
test_same_content_same_id_one_file (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) a = tailor_catalogue_create_project (catalogue, "A", NULL, NULL);
  g_autoptr (TailorProject) b = tailor_catalogue_create_project (catalogue, "B", NULL, NULL);
  g_autoptr (GPtrArray) train = numbered (0, 50);
  g_autoptr (GPtrArray) shuffled = examples_new ();
  g_autoptr (GPtrArray) eval = numbered (500, 5);
  g_autoptr (TailorDatasetVersion) first = NULL;
  g_autoptr (TailorDatasetVersion) again = NULL;
  g_autoptr (TailorDatasetVersion) other_project = NULL;
  g_autoptr (TailorDatasetVersion) other_settings = NULL;
  g_autoptr (TailorDatasetVersion) retagged = NULL;
  g_autoptr (GPtrArray) list = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  TailorVersionRequest request = { 0 };
  gboolean created = TRUE;

  for (guint i = 0; i < train->len; i++)
    g_ptr_array_add (shuffled, tailor_example_copy (g_ptr_array_index (train, i)));
  for (guint i = shuffled->len - 1; i > 0; i--)
    {
      guint j = g_rand_int_range (rand, 0, i + 1);
      gpointer tmp = shuffled->pdata[i];

      shuffled->pdata[i] = shuffled->pdata[j];
      shuffled->pdata[j] = tmp;
    }

  first = write_version (catalogue, a->id, NULL, "first", train, eval, &created);
  g_assert_true (created);
  g_assert_cmpuint (count_example_files (f->dir), ==, 2);

  /* The same set in another order is the same version: nothing new is written or recorded. */
  again = write_version (catalogue, a->id, NULL, "again", shuffled, eval, &created);
  g_assert_false (created);
  g_assert_cmpstr (again->id, ==, first->id);
  g_assert_cmpstr (again->changelog, ==, "first");
  list = tailor_catalogue_list_versions (catalogue, a->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_cmpuint (count_example_files (f->dir), ==, 2);

  /* Another project with the same content: its own record, the same files. */
  other_project = write_version (catalogue, b->id, NULL, "b", shuffled, eval, &created);
  g_assert_true (created);
  g_assert_cmpstr (other_project->id, ==, first->id);
  g_assert_cmpstr (other_project->train_sha256, ==, first->train_sha256);
  g_assert_cmpstr (other_project->eval_sha256, ==, first->eval_sha256);
  g_assert_cmpuint (count_example_files (f->dir), ==, 2);

  /* Settings are part of the identity, whatever their key order. */
  request.split_settings = "{\"seed\": 8, \"eval_ratio\": 0.1}";
  other_settings =
    tailor_catalogue_write_version (catalogue, a->id, &request, train, eval, &created, &error);
  g_assert_no_error (error);
  g_assert_true (created);
  g_assert_cmpstr (other_settings->id, !=, first->id);
  g_assert_cmpstr (other_settings->train_sha256, ==, first->train_sha256);
  g_assert_cmpuint (count_example_files (f->dir), ==, 2);
  g_clear_pointer (&other_settings, tailor_dataset_version_free);
  request.split_settings = "{\"eval_ratio\": 0.1, \"seed\": 8}";
  other_settings =
    tailor_catalogue_write_version (catalogue, a->id, &request, train, eval, &created, &error);
  g_assert_no_error (error);
  g_assert_false (created);

  /* Tags are content: re-tagging one example makes a new version and a new train file. */
  tailor_example_add_tag (g_ptr_array_index (train, 7), "counter-example");
  retagged = write_version (catalogue, a->id, first->id, "tagged", train, eval, &created);
  g_assert_true (created);
  g_assert_cmpstr (retagged->id, !=, first->id);
  g_assert_cmpstr (retagged->train_sha256, !=, first->train_sha256);
  g_assert_cmpstr (retagged->eval_sha256, ==, first->eval_sha256);
  g_assert_cmpuint (count_example_files (f->dir), ==, 3);

  /* Writing existing content with freeze_eval freezes that version rather than ignoring it. */
  g_clear_pointer (&other_settings, tailor_dataset_version_free);
  request.split_settings = "{\"seed\": 7, \"eval_ratio\": 0.1}";
  request.freeze_eval = TRUE;
  other_settings =
    tailor_catalogue_write_version (catalogue, a->id, &request, shuffled, eval, &created, &error);
  g_assert_no_error (error);
  g_assert_false (created);
  g_assert_cmpstr (other_settings->id, ==, first->id);
  g_assert_false (first->eval_frozen);
  g_assert_true (other_settings->eval_frozen);
}

static void
test_streams_back_what_was_written (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) project = tailor_catalogue_create_project (catalogue, "P", NULL, NULL);
  g_autoptr (GPtrArray) train = numbered (0, 3000);
  g_autoptr (GPtrArray) eval = examples_new ();
  g_autoptr (GPtrArray) empty = examples_new ();
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (TailorDatasetVersion) no_eval = NULL;
  g_autoptr (GPtrArray) train_back = NULL;
  g_autoptr (GPtrArray) eval_back = NULL;
  g_autoptr (GPtrArray) empty_back = NULL;
  g_autofree char *train_path = NULL;
  TailorExample *rich = tailor_example_new_chat ();
  TailorExample *text = tailor_example_new_text ("Plain text with\nnewlines, \"quotes\", tabs\t"
                                                 "and ünïcödé — 日本語 🎉");

  tailor_example_add_message (rich, "system", "Be brief.");
  tailor_example_add_message (rich, "user", "Line one\nline two\r\nthree");
  tailor_example_add_message (rich, "assistant", "{\"json\": [1, 2]}\\");
  tailor_example_add_message (rich, "tool", "");
  tailor_example_add_tag (rich, "counter-example");
  tailor_example_add_tag (text, "style");
  g_ptr_array_add (eval, rich);
  g_ptr_array_add (eval, text);
  g_ptr_array_add (eval, chat ("Duplicate", "kept twice"));
  g_ptr_array_add (eval, chat ("Duplicate", "kept twice"));

  version = write_version (catalogue, project->id, NULL, "v", train, eval, NULL);
  train_back = read_back (catalogue, version, TAILOR_SPLIT_TRAIN, &error);
  g_assert_no_error (error);
  eval_back = read_back (catalogue, version, TAILOR_SPLIT_EVAL, &error);
  g_assert_no_error (error);
  assert_same_lines (train, train_back);
  assert_same_lines (eval, eval_back);
  g_assert_cmpuint (eval_back->len, ==, 4);

  /* Provenance points at the stored file and line, for messages about it. */
  train_path = tailor_catalogue_get_examples_path (catalogue, version, TAILOR_SPLIT_TRAIN);
  g_assert_cmpstr (((TailorExample *) train_back->pdata[0])->source, ==, train_path);
  g_assert_cmpuint (((TailorExample *) train_back->pdata[0])->line, ==, 1);
  g_assert_cmpuint (((TailorExample *) train_back->pdata[2999])->line, ==, 3000);

  /* An empty split is a real, empty file. */
  no_eval = write_version (catalogue, project->id, NULL, "no eval", train, empty, NULL);
  empty_back = read_back (catalogue, no_eval, TAILOR_SPLIT_EVAL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (empty_back->len, ==, 0);
  g_assert_cmpstr (no_eval->eval_sha256, ==,
                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void
test_versions_are_immutable (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) project = tailor_catalogue_create_project (catalogue, "P", NULL, NULL);
  g_autoptr (GPtrArray) train = numbered (0, 10);
  g_autoptr (GPtrArray) eval = numbered (100, 2);
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (TailorDatasetVersion) after = NULL;
  g_autoptr (GPtrArray) back = NULL;
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *changed = NULL;
  const char *const updates[] = {
    "UPDATE versions SET changelog = 'rewritten history'",
    "UPDATE versions SET train_count = 11",
    "UPDATE versions SET train_sha256 = eval_sha256",
    "UPDATE versions SET id = 'abc'",
    "UPDATE versions SET parent = id",
    "UPDATE version_sources SET source_id = source_id",
  };
  GStatBuf st;
  gint64 source;
  sqlite3 *db;
  gsize length = 0;

  source = add_source (catalogue, project->id, "/d/a");
  {
    TailorVersionRequest request = { 0 };

    request.changelog = "original";
    request.source_ids = &source;
    request.n_source_ids = 1;
    version =
      tailor_catalogue_write_version (catalogue, project->id, &request, train, eval, NULL, &error);
    g_assert_no_error (error);
  }

  /* The database refuses every change to a version's content, whoever asks. */
  db = raw_open (f->db_path);
  for (guint i = 0; i < G_N_ELEMENTS (updates); i++)
    {
      char *message = NULL;

      g_assert_cmpint (sqlite3_exec (db, updates[i], NULL, NULL, &message), ==, SQLITE_CONSTRAINT);
      g_assert_nonnull (strstr (message, "immutable"));
      sqlite3_free (message);
    }
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM version_sources"), ==, 1);

  /* Freezing the eval set is the one change, and it only goes one way. */
  g_assert_true (tailor_catalogue_freeze_eval (catalogue, project->id, version->id, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_exec (db, "UPDATE versions SET eval_frozen = 0", NULL, NULL, NULL), ==,
                   SQLITE_CONSTRAINT);
  g_assert_false (tailor_catalogue_freeze_eval (catalogue, project->id, "nope", &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  sqlite3_close (db);

  after = tailor_catalogue_get_version (catalogue, project->id, version->id, &error);
  g_assert_no_error (error);
  g_assert_true (after->eval_frozen);
  g_assert_cmpstr (after->changelog, ==, "original");
  g_assert_cmpuint (after->train_count, ==, 10);

  /* Stored files are read-only, and a file changed behind Tailor's back is reported. */
  path = tailor_catalogue_get_examples_path (catalogue, version, TAILOR_SPLIT_TRAIN);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0222, ==, 0);
  g_assert_true (g_file_get_contents (path, &contents, &length, &error));
  changed = g_strdup (contents);
  changed[strstr (changed, "Answer") - changed] = 'X';
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  g_assert_true (g_file_set_contents (path, changed, length, &error));
  back = read_back (catalogue, version, TAILOR_SPLIT_TRAIN, &error);
  g_assert_null (back);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  /* A lost final newline is a change too. */
  g_assert_true (g_file_set_contents (path, contents, length - 1, &error));
  back = read_back (catalogue, version, TAILOR_SPLIT_TRAIN, &error);
  g_assert_null (back);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_CORRUPT);
  g_clear_error (&error);

  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_null (tailor_catalogue_read_examples (catalogue, version, TAILOR_SPLIT_TRAIN, &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_CORRUPT);
}

/* Schema version 1 exactly as the first Tailor wrote it. It is frozen here on purpose: the
 * test must keep passing against databases that already exist, whatever the code says now. */
static const char schema_v1[] =
  "CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
  "  goal TEXT NOT NULL DEFAULT '', base_model_path TEXT, base_model_sha256 TEXT,"
  "  created INTEGER NOT NULL, updated INTEGER NOT NULL);"
  "CREATE TABLE sources (id INTEGER PRIMARY KEY,"
  "  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,"
  "  path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, license TEXT, format TEXT,"
  "  imported INTEGER NOT NULL);"
  "CREATE INDEX sources_by_project ON sources (project_id);"
  "CREATE TABLE versions (seq INTEGER PRIMARY KEY, id TEXT NOT NULL,"
  "  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE, parent TEXT,"
  "  created INTEGER NOT NULL, changelog TEXT NOT NULL, split_settings TEXT NOT NULL,"
  "  hygiene_settings TEXT NOT NULL, hygiene_counts TEXT NOT NULL, train_sha256 TEXT NOT NULL,"
  "  eval_sha256 TEXT NOT NULL, train_count INTEGER NOT NULL, eval_count INTEGER NOT NULL,"
  "  eval_frozen INTEGER NOT NULL DEFAULT 0, UNIQUE (project_id, id),"
  "  FOREIGN KEY (project_id, parent) REFERENCES versions (project_id, id) ON DELETE CASCADE);"
  "CREATE TABLE version_sources ("
  "  version_seq INTEGER NOT NULL REFERENCES versions (seq) ON DELETE CASCADE,"
  "  source_id INTEGER NOT NULL REFERENCES sources (id),"
  "  PRIMARY KEY (version_seq, source_id)) WITHOUT ROWID;"
  "CREATE TRIGGER versions_immutable BEFORE UPDATE OF seq, id, project_id, parent, created,"
  "  changelog, split_settings, hygiene_settings, hygiene_counts, train_sha256, eval_sha256,"
  "  train_count, eval_count ON versions"
  "  BEGIN SELECT RAISE (ABORT, 'dataset versions are immutable'); END;"
  "CREATE TRIGGER versions_eval_stays_frozen BEFORE UPDATE OF eval_frozen ON versions"
  "  WHEN OLD.eval_frozen AND NOT NEW.eval_frozen"
  "  BEGIN SELECT RAISE (ABORT, 'dataset versions are immutable: a frozen eval set stays frozen');"
  "  END;"
  "CREATE TRIGGER version_sources_immutable BEFORE UPDATE ON version_sources"
  "  BEGIN SELECT RAISE (ABORT, 'dataset versions are immutable'); END;";

static void
test_migrates_version_1_without_loss (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) projects = NULL;
  g_autoptr (GPtrArray) sources = NULL;
  g_autoptr (GPtrArray) versions = NULL;
  g_autoptr (GPtrArray) other_versions = NULL;
  g_autoptr (TailorRun) run = NULL;
  g_autoptr (TailorProject) renamed = NULL;
  const char *const new_tables[] = { "runs", "metrics", "evaluations", "adapters" };
  TailorProject *p;
  TailorSource *s;
  TailorDatasetVersion *v;
  sqlite3 *db;

  db = raw_open (f->db_path);
  raw_exec (db, "BEGIN");
  raw_exec (db, schema_v1);
  raw_exec (
    db, "INSERT INTO projects VALUES (1, 'Support tone', 'Sound like us', '/m/base.gguf',"
        "  'cafe', 100, 200);"
        "INSERT INTO projects VALUES (2, 'Legal FAQ', '', NULL, NULL, 300, 300);"
        "INSERT INTO sources VALUES (10, 1, '/d/chats.jsonl', 'aa', 2048, 'MIT', 'chat-jsonl',"
        "  110);"
        "INSERT INTO sources VALUES (11, 1, '/d/notes.md', 'bb', 99, NULL, 'markdown', 120);"
        "INSERT INTO sources VALUES (12, 2, '/d/faq.csv', 'cc', 5, 'CC0', 'csv', 130);"
        "INSERT INTO versions VALUES (1, 'v1id', 1, NULL, 140, 'First import', '{}', '{}', '{}',"
        "  't1', 'e1', 90, 10, 1);"
        "INSERT INTO versions VALUES (2, 'v2id', 1, 'v1id', 150, 'Dropped PII', '{\"seed\":1}',"
        "  '{\"pii\":\"drop\"}', '[]', 't2', 'e1', 88, 10, 0);"
        "INSERT INTO versions VALUES (3, 'v3id', 2, NULL, 160, 'FAQ', '{}', '{}', '{}',"
        "  't3', 'e3', 4, 1, 0);"
        "INSERT INTO version_sources VALUES (1, 10), (1, 11), (2, 10), (3, 12);"
        "PRAGMA user_version = 1;");
  raw_exec (db, "COMMIT");
  sqlite3_close (db);

  catalogue = open_catalogue (f);
  g_assert_cmpint (tailor_catalogue_get_schema_version (catalogue), ==, 2);

  projects = tailor_catalogue_list_projects (catalogue, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (projects->len, ==, 2);
  p = projects->pdata[1];
  g_assert_cmpint (p->id, ==, 1);
  g_assert_cmpstr (p->name, ==, "Support tone");
  g_assert_cmpstr (p->goal, ==, "Sound like us");
  g_assert_cmpstr (p->base_model_path, ==, "/m/base.gguf");
  g_assert_cmpstr (p->base_model_sha256, ==, "cafe");
  g_assert_cmpint (p->created, ==, 100);
  g_assert_cmpint (p->updated, ==, 200);
  g_assert_null (p->wizard_step);
  p = projects->pdata[0];
  g_assert_cmpint (p->id, ==, 2);
  g_assert_cmpstr (p->name, ==, "Legal FAQ");
  g_assert_null (p->base_model_path);

  sources = tailor_catalogue_list_sources (catalogue, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sources->len, ==, 2);
  s = sources->pdata[0];
  g_assert_cmpint (s->id, ==, 10);
  g_assert_cmpstr (s->path, ==, "/d/chats.jsonl");
  g_assert_cmpstr (s->sha256, ==, "aa");
  g_assert_cmpuint (s->size, ==, 2048);
  g_assert_cmpstr (s->license, ==, "MIT");
  g_assert_cmpstr (s->format, ==, "chat-jsonl");
  g_assert_cmpint (s->imported, ==, 110);
  g_assert_cmpuint (s->examples, ==, 0);
  g_assert_cmpuint (s->rejected, ==, 0);
  s = sources->pdata[1];
  g_assert_cmpint (s->id, ==, 11);
  g_assert_null (s->license);

  versions = tailor_catalogue_list_versions (catalogue, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (versions->len, ==, 2);
  v = versions->pdata[0];
  g_assert_cmpstr (v->id, ==, "v1id");
  g_assert_null (v->parent);
  g_assert_cmpint (v->created, ==, 140);
  g_assert_cmpstr (v->changelog, ==, "First import");
  g_assert_cmpstr (v->train_sha256, ==, "t1");
  g_assert_cmpstr (v->eval_sha256, ==, "e1");
  g_assert_cmpuint (v->train_count, ==, 90);
  g_assert_cmpuint (v->eval_count, ==, 10);
  g_assert_true (v->eval_frozen);
  g_assert_cmpuint (v->source_ids->len, ==, 2);
  g_assert_cmpint (g_array_index (v->source_ids, gint64, 1), ==, 11);
  v = versions->pdata[1];
  g_assert_cmpstr (v->id, ==, "v2id");
  g_assert_cmpstr (v->parent, ==, "v1id");
  g_assert_cmpstr (v->split_settings, ==, "{\"seed\":1}");
  g_assert_cmpstr (v->hygiene_settings, ==, "{\"pii\":\"drop\"}");
  g_assert_cmpstr (v->hygiene_counts, ==, "[]");
  g_assert_false (v->eval_frozen);
  other_versions = tailor_catalogue_list_versions (catalogue, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (other_versions->len, ==, 1);
  g_assert_cmpuint (((TailorDatasetVersion *) other_versions->pdata[0])->source_ids->len, ==, 1);

  /* What version 2 added is there and works on the old rows. */
  db = raw_open (f->db_path);
  for (guint i = 0; i < G_N_ELEMENTS (new_tables); i++)
    {
      g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM sqlite_master WHERE "
                                              "type = 'table' AND name = '%s'",
                                              new_tables[i]);
      g_assert_cmpint (raw_int (db, sql), ==, 1);
    }
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM pragma_table_info('projects') "
                                "WHERE name = 'wizard_step'"),
                   ==, 1);
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM pragma_table_info('sources') "
                                "WHERE name IN ('examples', 'rejected')"),
                   ==, 2);
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM version_sources"), ==, 4);
  g_assert_cmpint (sqlite3_exec (db, "UPDATE versions SET changelog = 'x'", NULL, NULL, NULL), ==,
                   SQLITE_CONSTRAINT);
  sqlite3_close (db);

  g_assert_true (tailor_catalogue_set_project_wizard_step (catalogue, 2, "train", &error));
  g_assert_no_error (error);
  renamed = tailor_catalogue_get_project (catalogue, 2, &error);
  g_assert_cmpstr (renamed->wizard_step, ==, "train");
  run = tailor_catalogue_add_run (catalogue, 1, "v2id", "{\"seed\":42}", "/runs/r1", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (run->dataset_version, ==, "v2id");

  /* Opening again finds nothing to do. */
  g_clear_object (&catalogue);
  catalogue = open_catalogue (f);
  g_assert_cmpint (tailor_catalogue_get_schema_version (catalogue), ==, 2);
}

static void
test_refuses_newer_schema (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (GError) error = NULL;
  sqlite3 *db = raw_open (f->db_path);

  raw_exec (db, "CREATE TABLE future (x); PRAGMA user_version = 99;");
  sqlite3_close (db);

  catalogue = tailor_catalogue_open (f->dir, TAILOR_CATALOGUE_OPEN_SET_ASIDE_DAMAGED, &error);
  g_assert_null (catalogue);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_TOO_NEW);
  g_assert_nonnull (strstr (error->message, f->db_path));
  g_assert_nonnull (strstr (error->message, "99"));
  g_test_message ("%s", error->message);

  db = raw_open (f->db_path);
  g_assert_cmpint (raw_int (db, "PRAGMA user_version"), ==, 99);
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM sqlite_master"), ==, 1);
  sqlite3_close (db);
}

static GBytes *
random_bytes (gsize n)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  guint8 *bytes = g_malloc (n);

  for (gsize i = 0; i < n; i++)
    bytes[i] = (guint8) g_rand_int_range (rand, 0, 256);
  return g_bytes_new_take (bytes, n);
}

static void
assert_file_holds (const char *path, GBytes *expected)
{
  g_autofree char *contents = NULL;
  g_autoptr (GBytes) actual = NULL;
  gsize length = 0;

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  actual = g_bytes_new (contents, length);
  g_assert_true (g_bytes_equal (actual, expected));
}

static void
test_damaged_file_is_reported_and_kept (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) garbage = random_bytes (8192);
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *kept = NULL;
  const char *message;

  g_assert_true (g_file_set_contents (f->db_path, g_bytes_get_data (garbage, NULL),
                                      g_bytes_get_size (garbage), NULL));

  catalogue = tailor_catalogue_open (f->dir, TAILOR_CATALOGUE_OPEN_DEFAULT, &error);
  g_assert_null (catalogue);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, f->db_path));
  g_assert_nonnull (strstr (error->message, "damaged"));
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  assert_file_holds (f->db_path, garbage);

  /* The app's way: the damaged file is kept, byte for byte, and a new catalogue starts. */
  catalogue = tailor_catalogue_open (f->dir, TAILOR_CATALOGUE_OPEN_SET_ASIDE_DAMAGED, &error);
  g_assert_no_error (error);
  message = tailor_catalogue_get_recovery_message (catalogue);
  g_assert_nonnull (message);
  g_test_message ("%s", message);
  g_assert_true (g_str_has_prefix (message, "catalogue.db is damaged: "));
  kept = g_strndup (strstr (message, f->db_path),
                    strstr (message, " and started") - strstr (message, f->db_path));
  g_assert_true (g_str_has_prefix (kept, f->db_path));
  g_assert_nonnull (strstr (kept, ".damaged-"));
  assert_file_holds (kept, garbage);
  project = tailor_catalogue_create_project (catalogue, "Fresh", NULL, &error);
  g_assert_no_error (error);
}

static void
test_damaged_pages_are_reported (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) before = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  sqlite3 *db;

  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *name =
        g_strdup_printf ("Project %u with a name long enough to fill pages", i);
      g_autoptr (TailorProject) project =
        tailor_catalogue_create_project (catalogue, name, NULL, &error);
      g_assert_no_error (error);
    }
  g_clear_object (&catalogue);
  /* Fold the log into the file so the damage below hits the only copy. */
  db = raw_open (f->db_path);
  raw_exec (db, "PRAGMA journal_mode = DELETE");
  sqlite3_close (db);

  g_assert_true (g_file_get_contents (f->db_path, &contents, &length, NULL));
  g_assert_cmpuint (length, >, 4 * 4096);
  /* Scribble over the second page (a b-tree page); the header stays intact. */
  memset (contents + 4096, 0x5a, 4096);
  g_assert_true (g_file_set_contents (f->db_path, contents, length, NULL));
  before = g_bytes_new (contents, length);

  catalogue = tailor_catalogue_open (f->dir, TAILOR_CATALOGUE_OPEN_DEFAULT, &error);
  g_assert_null (catalogue);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_CORRUPT);
  g_test_message ("%s", error->message);
  assert_file_holds (f->db_path, before);
}

typedef struct
{
  const char *dir;
  GPtrArray *names;
  GError *error;
  gint64 elapsed_us;
} ReaderJob;

static gpointer
reader_thread (gpointer data)
{
  ReaderJob *job = data;
  g_autoptr (TailorCatalogue) reader = NULL;
  g_autoptr (GPtrArray) projects = NULL;
  gint64 start = g_get_monotonic_time ();

  reader = tailor_catalogue_open (job->dir, TAILOR_CATALOGUE_OPEN_DEFAULT, &job->error);
  if (reader != NULL)
    projects = tailor_catalogue_list_projects (reader, &job->error);
  job->elapsed_us = g_get_monotonic_time () - start;
  job->names = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; projects != NULL && i < projects->len; i++)
    g_ptr_array_add (job->names, g_strdup (((TailorProject *) projects->pdata[i])->name));
  return NULL;
}

static ReaderJob
read_in_thread (const char *dir)
{
  ReaderJob job = { 0 };
  GThread *thread;

  job.dir = dir;
  thread = g_thread_new ("catalogue-reader", reader_thread, &job);

  g_thread_join (thread);
  return job;
}

static void
test_reader_sees_committed_data_during_write (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) writer = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) committed = NULL;
  g_autoptr (TailorProject) pending = NULL;
  ReaderJob during;
  ReaderJob after;

  committed = tailor_catalogue_create_project (writer, "Committed", NULL, &error);
  g_assert_no_error (error);

  g_assert_true (tailor_catalogue_begin (writer, &error));
  pending = tailor_catalogue_create_project (writer, "Pending", NULL, &error);
  g_assert_no_error (error);

  /* The writer holds its transaction open; a reader must neither wait for it nor see it. */
  during = read_in_thread (f->dir);
  g_assert_no_error (during.error);
  g_assert_cmpuint (during.names->len, ==, 1);
  g_assert_cmpstr (during.names->pdata[0], ==, "Committed");
  g_assert_cmpint (during.elapsed_us, <, TAILOR_CATALOGUE_DEFAULT_BUSY_TIMEOUT_MS * 1000 / 2);

  g_assert_true (tailor_catalogue_commit (writer, &error));
  g_assert_no_error (error);
  after = read_in_thread (f->dir);
  g_assert_no_error (after.error);
  g_assert_cmpuint (after.names->len, ==, 2);
  g_assert_cmpstr (after.names->pdata[1], ==, "Pending");

  g_ptr_array_unref (during.names);
  g_ptr_array_unref (after.names);
}

static void
test_writer_not_blocked_by_open_reader (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) writer = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) first = NULL;
  g_autoptr (TailorProject) second = NULL;
  sqlite3 *reader;

  first = tailor_catalogue_create_project (writer, "First", NULL, &error);
  g_assert_no_error (error);

  /* The app in the middle of a long read: with a rollback journal the commit below would have
   * to wait for it; with WAL it goes through and the reader keeps its snapshot. */
  reader = raw_open (f->db_path);
  raw_exec (reader, "BEGIN");
  g_assert_cmpint (raw_int (reader, "SELECT count(*) FROM projects"), ==, 1);

  tailor_catalogue_set_busy_timeout (writer, 100);
  second = tailor_catalogue_create_project (writer, "Second", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (raw_int (reader, "SELECT count(*) FROM projects"), ==, 1);
  raw_exec (reader, "COMMIT");
  g_assert_cmpint (raw_int (reader, "SELECT count(*) FROM projects"), ==, 2);
  sqlite3_close (reader);
}

static void
test_locked_database_names_the_file (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) holder = open_catalogue (f);
  g_autoptr (TailorCatalogue) waiter = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) blocked = NULL;
  g_autoptr (TailorProject) later = NULL;
  g_autoptr (GPtrArray) list = NULL;
  gint64 start;
  gint64 waited;

  g_assert_true (tailor_catalogue_begin (holder, &error));
  g_assert_no_error (error);

  tailor_catalogue_set_busy_timeout (waiter, 200);
  start = g_get_monotonic_time ();
  blocked = tailor_catalogue_create_project (waiter, "Blocked", NULL, &error);
  waited = g_get_monotonic_time () - start;
  g_assert_null (blocked);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_LOCKED);
  g_assert_nonnull (strstr (error->message, f->db_path));
  g_assert_nonnull (strstr (error->message, "Close other Tailor windows"));
  g_test_message ("%s (after %" G_GINT64_FORMAT " ms)", error->message, waited / 1000);
  g_assert_cmpint (waited, >=, 150 * 1000);
  g_clear_error (&error);

  /* Reading is never blocked by the writer. */
  list = tailor_catalogue_list_projects (waiter, &error);
  g_assert_no_error (error);

  tailor_catalogue_rollback (holder);
  later = tailor_catalogue_create_project (waiter, "Later", NULL, &error);
  g_assert_no_error (error);
}

static void
test_transactions_group_writes (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) gone = NULL;
  g_autoptr (TailorProject) kept = NULL;
  g_autoptr (TailorProject) duplicate = NULL;
  g_autoptr (GPtrArray) list = NULL;

  g_assert_true (tailor_catalogue_begin (catalogue, &error));
  gone = tailor_catalogue_create_project (catalogue, "Gone", NULL, &error);
  g_assert_no_error (error);
  tailor_catalogue_rollback (catalogue);

  /* A failed write inside a transaction undoes only itself. */
  g_assert_true (tailor_catalogue_begin (catalogue, &error));
  kept = tailor_catalogue_create_project (catalogue, "Kept", NULL, &error);
  duplicate = tailor_catalogue_create_project (catalogue, "Kept", NULL, &error);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_true (tailor_catalogue_commit (catalogue, &error));
  g_assert_no_error (error);

  list = tailor_catalogue_list_projects (catalogue, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_cmpstr (((TailorProject *) list->pdata[0])->name, ==, "Kept");
}

static void
test_runs_metrics_evaluations_adapters (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorCatalogue) catalogue = open_catalogue (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) project = tailor_catalogue_create_project (catalogue, "P", NULL, NULL);
  g_autoptr (GPtrArray) train = numbered (0, 4);
  g_autoptr (GPtrArray) eval = numbered (10, 1);
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (TailorRun) run = NULL;
  g_autoptr (TailorRun) finished = NULL;
  g_autoptr (TailorRun) bad = NULL;
  g_autoptr (GArray) loss = NULL;
  g_autoptr (GPtrArray) runs = NULL;
  g_autoptr (GPtrArray) run_evals = NULL;
  g_autoptr (GPtrArray) adapter_evals = NULL;
  g_autoptr (GPtrArray) adapters = NULL;
  g_autoptr (TailorAdapter) a1 = NULL;
  g_autoptr (TailorAdapter) a2 = NULL;
  const char *run_json = "{\"base_model\":\"/m.gguf\",\"seed\":42}";
  TailorEvaluation *evaluation;
  gint64 id;

  version = write_version (catalogue, project->id, NULL, "v", train, eval, NULL);
  run = tailor_catalogue_add_run (catalogue, project->id, version->id, run_json, "/runs/r", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (run->status, ==, "running");
  g_assert_cmpstr (run->run_json, ==, run_json);
  g_assert_cmpstr (run->output_dir, ==, "/runs/r");
  g_assert_cmpint (run->started, >, 0);
  g_assert_cmpint (run->ended, ==, 0);

  bad = tailor_catalogue_add_run (catalogue, project->id, "no-such-version", "{}", "/r", &error);
  g_assert_null (bad);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (
    tailor_catalogue_add_run (catalogue, project->id, version->id, "{oops", "/r", &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID);
  g_clear_error (&error);

  g_assert_true (tailor_catalogue_add_metric (catalogue, run->id, 2, "loss", 1.5, &error));
  g_assert_true (tailor_catalogue_add_metric (catalogue, run->id, 1, "loss", 2.0, &error));
  g_assert_true (tailor_catalogue_add_metric (catalogue, run->id, 1, "lr", 1e-4, &error));
  /* A resumed run repeating step 2 replaces the point; a NaN loss survives as NaN. */
  g_assert_true (tailor_catalogue_add_metric (catalogue, run->id, 2, "loss", 1.25, &error));
  g_assert_true (tailor_catalogue_add_metric (catalogue, run->id, 3, "loss", NAN, &error));
  g_assert_no_error (error);
  loss = tailor_catalogue_list_metrics (catalogue, run->id, "loss", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (loss->len, ==, 3);
  g_assert_cmpint (g_array_index (loss, TailorMetricPoint, 0).step, ==, 1);
  g_assert_cmpfloat (g_array_index (loss, TailorMetricPoint, 0).value, ==, 2.0);
  g_assert_cmpfloat (g_array_index (loss, TailorMetricPoint, 1).value, ==, 1.25);
  g_assert_true (isnan (g_array_index (loss, TailorMetricPoint, 2).value));

  g_assert_false (tailor_catalogue_finish_run (catalogue, run->id, "paused", &error));
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (tailor_catalogue_finish_run (catalogue, run->id, "done", &error));
  g_assert_no_error (error);
  finished = tailor_catalogue_get_run (catalogue, run->id, &error);
  g_assert_cmpstr (finished->status, ==, "done");
  g_assert_cmpint (finished->ended, >=, finished->started);
  runs = tailor_catalogue_list_runs (catalogue, project->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (runs->len, ==, 1);

  a1 = tailor_catalogue_add_adapter (catalogue, project->id, run->id, "/b/p-v1", &error);
  g_assert_no_error (error);
  a2 = tailor_catalogue_add_adapter (catalogue, project->id, 0, "/b/p-v2", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (a1->version_number, ==, 1);
  g_assert_cmpuint (a2->version_number, ==, 2);
  g_assert_cmpint (a1->run_id, ==, run->id);
  g_assert_cmpint (a2->run_id, ==, 0);
  adapters = tailor_catalogue_list_adapters (catalogue, project->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (adapters->len, ==, 2);
  g_assert_cmpstr (((TailorAdapter *) adapters->pdata[1])->bundle_path, ==, "/b/p-v2");

  id = tailor_catalogue_add_evaluation (catalogue, run->id, 0, "eval", "perplexity", 3.5,
                                        "{\"tokens\":100}", &error);
  g_assert_no_error (error);
  g_assert_cmpint (id, >, 0);
  tailor_catalogue_add_evaluation (catalogue, 0, a1->id, "regressions", "pass_rate", 0.9, NULL,
                                   &error);
  g_assert_no_error (error);
  g_assert_cmpint (
    tailor_catalogue_add_evaluation (catalogue, run->id, 0, "eval", "x", 1, "{", &error), ==, 0);
  g_assert_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID);
  g_clear_error (&error);
  run_evals = tailor_catalogue_list_evaluations (catalogue, run->id, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (run_evals->len, ==, 1);
  evaluation = run_evals->pdata[0];
  g_assert_cmpstr (evaluation->set_name, ==, "eval");
  g_assert_cmpstr (evaluation->metric, ==, "perplexity");
  g_assert_cmpfloat (evaluation->value, ==, 3.5);
  g_assert_cmpstr (evaluation->detail, ==, "{\"tokens\":100}");
  g_assert_cmpint (evaluation->adapter_id, ==, 0);
  adapter_evals = tailor_catalogue_list_evaluations (catalogue, 0, a1->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (adapter_evals->len, ==, 1);
  g_assert_cmpstr (((TailorEvaluation *) adapter_evals->pdata[0])->set_name, ==, "regressions");
  g_assert_null (((TailorEvaluation *) adapter_evals->pdata[0])->detail);
}

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int argc, char *argv[])
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  data_root = g_dir_make_tmp ("tailor-catalogue-root-XXXXXX", &error);
  g_assert_no_error (error);
  g_setenv ("TAILOR_DATA_DIR", data_root, TRUE);

  g_test_add_func ("/catalogue/opens-in-tailor-data-dir", test_opens_in_tailor_data_dir);
  ADD ("/catalogue/creates-wal-database", test_creates_wal_database);
  ADD ("/catalogue/projects/create-list-rename-delete", test_projects_create_list_rename_delete);
  ADD ("/catalogue/projects/delete-cascades", test_delete_project_cascades);
  ADD ("/catalogue/sources/license-can-change-after-import",
       test_sources_license_can_change_after_import);
  ADD ("/catalogue/sources/keep-import-order-and-fields",
       test_sources_keep_import_order_and_fields);
  ADD ("/catalogue/versions/chain-parents-and-changelog",
       test_versions_chain_parents_and_changelog);
  ADD ("/catalogue/versions/same-content-same-id-one-file", test_same_content_same_id_one_file);
  ADD ("/catalogue/versions/stream-back-what-was-written", test_streams_back_what_was_written);
  ADD ("/catalogue/versions/are-immutable", test_versions_are_immutable);
  ADD ("/catalogue/migrates-version-1-without-loss", test_migrates_version_1_without_loss);
  ADD ("/catalogue/refuses-newer-schema", test_refuses_newer_schema);
  ADD ("/catalogue/damaged-file-is-reported-and-kept", test_damaged_file_is_reported_and_kept);
  ADD ("/catalogue/damaged-pages-are-reported", test_damaged_pages_are_reported);
  ADD ("/catalogue/reader-sees-committed-data-during-write",
       test_reader_sees_committed_data_during_write);
  ADD ("/catalogue/writer-not-blocked-by-open-reader", test_writer_not_blocked_by_open_reader);
  ADD ("/catalogue/locked-database-names-the-file", test_locked_database_names_the_file);
  ADD ("/catalogue/transactions-group-writes", test_transactions_group_writes);
  ADD ("/catalogue/runs-metrics-evaluations-adapters", test_runs_metrics_evaluations_adapters);

  status = g_test_run ();
  remove_tree (data_root);
  g_free (data_root);
  return status;
}
