/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of `tailor-cli data` as users and scripts run it: imports, versions, export, leak check,
 * hygiene report, exit codes and messages. */
#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "tailor-catalogue.h"
#include "tailor-data-split.h"

typedef struct
{
  char *dir;      /* the test's folder: input files and exports */
  char *data_dir; /* TAILOR_DATA_DIR of the commands it runs */
} Fixture;

typedef struct
{
  int status;
  char *out;
  char *err;
} CliResult;

static void
cli_result_clear (CliResult *r)
{
  g_clear_pointer (&r->out, g_free);
  g_clear_pointer (&r->err, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CliResult, cli_result_clear)

static int
run_cli_v (Fixture *f, CliResult *r, const char *const *args)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  const char *cli = g_getenv ("TAILOR_CLI");

  g_assert_nonnull (cli);
  g_ptr_array_add (argv, (gpointer) cli);
  g_ptr_array_add (argv, (gpointer) "data");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "TAILOR_DATA_DIR", f->data_dir, TRUE);
  g_subprocess_launcher_set_cwd (launcher, f->dir);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &r->out, &r->err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  r->status = g_subprocess_get_exit_status (proc);
  if (r->status != 0)
    g_test_message ("exit %d, stderr: %s", r->status, r->err);
  return r->status;
}

#define run_cli(f, r, ...) run_cli_v (f, r, (const char *const[]){ __VA_ARGS__, NULL })

static JsonNode *
parse_json (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  return json_node_ref (json_parser_get_root (parser));
}

/* Runs, expects success, returns the JSON document on stdout. */
static JsonNode *
run_json_v (Fixture *f, const char *const *args)
{
  g_auto (CliResult) r = { 0 };

  run_cli_v (f, &r, args);
  g_assert_cmpint (r.status, ==, 0);
  return parse_json (r.out);
}

#define run_json(f, ...) run_json_v (f, (const char *const[]){ __VA_ARGS__, NULL })

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

#define CHAT(q, a)                                                                    \
  "{\"messages\":[{\"role\":\"user\",\"content\":\"" q "\"},{\"role\":\"assistant\"," \
  "\"content\":\"" a "\"}]}\n"

/* Line 2 repeats line 1, line 3 has an email, line 4 is broken. */
static const char faq_jsonl[] =
  CHAT ("How do I reset my password?", "Open the settings, choose Account, then Reset password.")
    CHAT ("How do I reset my password?", "Open the settings, choose Account, then Reset password.")
      CHAT (
        "Who can I write to?",
        "Write to help@example.org and we answer within one day.") "{\"messages\": [ "
                                                                   "broken\n" CHAT ("What are your "
                                                                                    "opening "
                                                                                    "hours?",
                                                                                    "We are open "
                                                                                    "from nine to "
                                                                                    "five on "
                                                                                    "weekdays.")
                                                                     CHAT ("Do you ship abroad?",
                                                                           "Yes, we ship to every "
                                                                           "country of the "
                                                                           "European Union.");

static const char faq_csv[] = "question,answer\n"
                              "\"Can I pay by card?\",\"Yes, all major cards are accepted.\"\n"
                              "\"Is there a free trial?\",\"Yes, thirty days, no card needed.\"\n";

static void
write_file (Fixture *f, const char *name, const char *contents)
{
  g_autofree char *path = g_build_filename (f->dir, name, NULL);

  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("tailor-cli-data-XXXXXX", &error);
  g_assert_no_error (error);
  f->data_dir = g_build_filename (f->dir, "catalogue", NULL);
  write_file (f, "faq.jsonl", faq_jsonl);
  write_file (f, "faq.csv", faq_csv);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->data_dir);
}

static gint64
member_int (JsonObject *object, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, ".", -1);
  guint n = g_strv_length (parts);

  for (guint i = 0; i + 1 < n; i++)
    object = json_object_get_object_member (object, parts[i]);
  return json_object_get_int_member (object, parts[n - 1]);
}

static void
test_import_cleans_and_reports (Fixture *f, gconstpointer data)
{
  g_auto (CliResult) r = { 0 };
  g_autoptr (JsonNode) root = NULL;
  JsonObject *object;
  const char *changelog;

  run_cli (f, &r, "import", "demo", "faq.jsonl", "faq.csv", "--license", "CC0-1.0", "--json");
  g_assert_cmpint (r.status, ==, 0);
  /* The reject names file, line and reason, and shows no more than the importer's preview. */
  g_assert_nonnull (strstr (r.err, "faq.jsonl:4: malformed"));
  g_assert_null (strstr (r.err, "help@example.org"));

  root = parse_json (r.out);
  object = json_node_get_object (root);
  g_assert_true (json_object_get_boolean_member (object, "created"));
  g_assert_true (json_object_get_null_member (object, "parent"));
  g_assert_cmpint (json_object_get_int_member (object, "train") +
                     json_object_get_int_member (object, "eval"),
                   ==, 6);
  g_assert_cmpint (json_object_get_int_member (object, "eval"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (object, "rejected"), ==, 1);
  g_assert_cmpint (member_int (object, "counts.import.accepted"), ==, 7);
  g_assert_cmpint (member_int (object, "counts.dedup.exact"), ==, 1);
  g_assert_cmpint (member_int (object, "counts.pii.redacted"), ==, 1);
  changelog = json_object_get_string_member (object, "changelog");
  g_assert_cmpstr (changelog, ==,
                   "Imported faq.jsonl (5 examples, 1 rejected), faq.csv (2 examples); removed 1 "
                   "duplicate; redacted 1 email");
}

static void
test_versions_json_follows_contract (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonNode) first = NULL;
  g_autoptr (JsonNode) second = NULL;
  g_autoptr (JsonNode) versions = NULL;
  static const char *const keys[] = { "changelog", "created", "eval", "id", "parent", "train" };
  JsonArray *array;

  write_file (f, "more.jsonl",
              CHAT ("Can I get a refund?", "Yes, within fourteen days of the purchase.")
                CHAT ("Do you have a phone line?", "Yes, on weekdays between nine and five."));
  first = run_json (f, "import", "demo", "faq.jsonl", "--json");
  second = run_json (f, "import", "demo", "more.jsonl", "--json");
  versions = run_json (f, "versions", "demo", "--json");

  g_assert_true (JSON_NODE_HOLDS_ARRAY (versions));
  array = json_node_get_array (versions);
  g_assert_cmpuint (json_array_get_length (array), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *version = json_array_get_object_element (array, i);
      g_autoptr (GList) members = json_object_get_members (version);
      g_autoptr (GDateTime) created = NULL;
      guint k = 0;

      members = g_list_sort (members, (GCompareFunc) strcmp);
      g_assert_cmpuint (g_list_length (members), ==, G_N_ELEMENTS (keys));
      for (GList *l = members; l != NULL; l = l->next)
        g_assert_cmpstr (l->data, ==, keys[k++]);
      g_assert_cmpuint (strlen (json_object_get_string_member (version, "id")), ==, 64);
      created =
        g_date_time_new_from_iso8601 (json_object_get_string_member (version, "created"), NULL);
      g_assert_nonnull (created);
    }
  /* Oldest first, each the parent of the next. */
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (array, 0), "id"),
                   ==, json_object_get_string_member (json_node_get_object (first), "version"));
  g_assert_true (json_object_get_null_member (json_array_get_object_element (array, 0), "parent"));
  g_assert_cmpstr (
    json_object_get_string_member (json_array_get_object_element (array, 1), "parent"), ==,
    json_object_get_string_member (json_array_get_object_element (array, 0), "id"));
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (array, 1), "train") +
                     json_object_get_int_member (json_array_get_object_element (array, 1), "eval"),
                   ==, 4 + 2);
  g_assert_nonnull (
    strstr (json_object_get_string_member (json_array_get_object_element (array, 1), "changelog"),
            "Imported more.jsonl (2 examples)"));
}

static guint
check_export_file (const char *path, GString *all)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  guint n = 0;

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_string_append (all, contents);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (JsonNode) line = NULL;
      JsonObject *object;
      JsonArray *messages;

      if (*lines[i] == '\0')
        {
          g_assert_null (lines[i + 1]);
          continue;
        }
      line = parse_json (lines[i]);
      object = json_node_get_object (line);
      g_assert_cmpuint (json_object_get_size (object), ==, 1);
      messages = json_object_get_array_member (object, "messages");
      g_assert_cmpuint (json_array_get_length (messages), ==, 2);
      g_assert_cmpstr (
        json_object_get_string_member (json_array_get_object_element (messages, 1), "role"), ==,
        "assistant");
      n++;
    }
  return n;
}

static void
test_export_writes_chat_lines (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonNode) imported = run_json (f, "import", "demo", "faq.jsonl", "faq.csv", "--json");
  JsonObject *object = json_node_get_object (imported);
  const char *id = json_object_get_string_member (object, "version");
  g_autofree char *prefix = g_strndup (id, 12);
  g_autofree char *out = g_build_filename (f->dir, "export", NULL);
  g_autofree char *train = g_build_filename (out, "train.jsonl", NULL);
  g_autofree char *eval = g_build_filename (out, "eval.jsonl", NULL);
  g_autoptr (GString) all = g_string_new (NULL);
  g_auto (CliResult) r = { 0 };
  g_auto (CliResult) missing = { 0 };

  /* A unique prefix of the id is enough. */
  g_assert_cmpint (run_cli (f, &r, "export", prefix, out), ==, 0);
  g_assert_cmpuint (check_export_file (train, all), ==,
                    json_object_get_int_member (object, "train"));
  g_assert_cmpuint (check_export_file (eval, all), ==, json_object_get_int_member (object, "eval"));
  /* Tailor's own tags (provenance) stay out; the redaction is in. */
  g_assert_null (strstr (all->str, "tags"));
  g_assert_null (strstr (all->str, "help@example.org"));
  g_assert_nonnull (strstr (all->str, "[EMAIL]"));

  g_assert_cmpint (run_cli (f, &missing, "export", "0123456789abcdef", out), ==, 1);
  g_assert_nonnull (strstr (missing.err, "0123456789abcdef"));
}

/* Writes a version behind the CLI's back whose training set holds an evaluation example (or
 * whose eval set is not the frozen one), as a damaged or foreign catalogue could. */
static void
write_bad_version (Fixture *f, gboolean swap_eval)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorCatalogue) catalogue =
    tailor_catalogue_open (f->data_dir, TAILOR_CATALOGUE_OPEN_DEFAULT, &error);
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (GPtrArray) versions = NULL;
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GPtrArray) eval = NULL;
  g_autoptr (TailorDatasetVersion) written = NULL;
  const TailorDatasetVersion *latest;
  TailorVersionRequest request = { 0 };

  g_assert_no_error (error);
  project = tailor_catalogue_find_project (catalogue, "demo", &error);
  g_assert_no_error (error);
  versions = tailor_catalogue_list_versions (catalogue, project->id, &error);
  g_assert_no_error (error);
  latest = g_ptr_array_index (versions, versions->len - 1);
  train = tailor_dataset_read_split (catalogue, latest, TAILOR_SPLIT_TRAIN, &error);
  g_assert_no_error (error);
  eval = tailor_dataset_read_split (catalogue, latest, TAILOR_SPLIT_EVAL, &error);
  g_assert_no_error (error);
  if (swap_eval)
    {
      g_ptr_array_add (eval, g_ptr_array_steal_index (train, 0));
      g_ptr_array_add (train, g_ptr_array_steal_index (eval, 0));
    }
  else
    g_ptr_array_add (train, tailor_example_copy (g_ptr_array_index (eval, 0)));
  /* Stored lines carry their provenance tag; without it the same examples are other lines. */
  for (guint i = 0; i < train->len + eval->len; i++)
    {
      TailorExample *example =
        i < train->len ? g_ptr_array_index (train, i) : g_ptr_array_index (eval, i - train->len);
      g_autofree char *tag = g_strconcat (TAILOR_SOURCE_TAG_PREFIX, example->source, NULL);

      tailor_example_add_tag (example, tag);
    }
  request.parent = latest->id;
  request.changelog = "written behind the CLI's back";
  written =
    tailor_catalogue_write_version (catalogue, project->id, &request, train, eval, NULL, &error);
  g_assert_no_error (error);
}

static void
test_leak_check_exit_codes (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonNode) imported = run_json (f, "import", "demo", "faq.jsonl", "faq.csv", "--json");
  g_autoptr (JsonNode) frozen = NULL;
  g_autoptr (JsonNode) report = NULL;
  g_auto (CliResult) clean = { 0 };
  g_auto (CliResult) leaking = { 0 };
  g_auto (CliResult) leaking_json = { 0 };
  g_auto (CliResult) swapped = { 0 };
  g_auto (CliResult) ratio = { 0 };
  g_autoptr (GError) error = NULL;
  JsonArray *leaks;

  frozen = run_json (f, "split", "demo", "--freeze", "--json");
  g_assert_true (json_object_get_boolean_member (json_node_get_object (frozen), "eval_frozen"));
  g_assert_cmpint (run_cli (f, &clean, "leak-check", "demo"), ==, 0);
  g_assert_nonnull (strstr (clean.out, "No leak"));

  /* Changing the frozen set's share is refused. */
  g_assert_cmpint (run_cli (f, &ratio, "import", "demo", "faq.csv", "--eval-ratio", "0.5"), ==, 1);
  g_assert_nonnull (strstr (ratio.err, "frozen"));

  write_bad_version (f, FALSE);
  g_assert_cmpint (run_cli (f, &leaking, "leak-check", "demo"), ==, 1);
  g_assert_nonnull (strstr (leaking.err, "leaks the frozen evaluation set"));
  g_assert_cmpint (run_cli (f, &leaking_json, "leak-check", "demo", "--json"), ==, 1);
  report = parse_json (leaking_json.out);
  g_assert_false (json_object_get_boolean_member (json_node_get_object (report), "clean"));
  leaks = json_object_get_array_member (json_node_get_object (report), "leaks");
  g_assert_cmpuint (json_array_get_length (leaks), ==, 1);
  /* The message lists the leaking example by id. */
  g_assert_nonnull (strstr (leaking.err, json_object_get_string_member (
                                           json_array_get_object_element (leaks, 0), "train_id")));
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (leaks, 0), "kind"),
                   ==, "exact");

  write_bad_version (f, TRUE);
  g_assert_cmpint (run_cli (f, &swapped, "leak-check", "demo"), ==, 1);
  g_assert_nonnull (strstr (swapped.err, "does not carry the frozen evaluation set"));
}

static void
test_check_json_reports (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonNode) imported =
    run_json (f, "import", "demo", "faq.jsonl", "faq.csv", "--pii", "keep", "--json");
  g_autoptr (JsonNode) report = run_json (f, "check", "demo", "--json", "--seq-len", "12");
  JsonObject *object = json_node_get_object (report);
  JsonObject *pii;
  JsonArray *findings;
  const char *preview;

  g_assert_cmpstr (json_object_get_string_member (object, "version"), ==,
                   json_object_get_string_member (json_node_get_object (imported), "version"));
  g_assert_cmpint (json_object_get_int_member (object, "train") +
                     json_object_get_int_member (object, "eval"),
                   ==, 6);
  g_assert_cmpint (member_int (object, "duplicates.exact_duplicates"), ==, 0);
  g_assert_cmpstr (
    json_object_get_string_member (json_object_get_object_member (object, "tokens"), "method"), ==,
    "estimate");

  /* --pii keep kept the email: the report finds it and shows it masked. */
  pii = json_object_get_object_member (object, "pii");
  g_assert_cmpint (json_object_get_int_member (pii, "examples_with_findings"), ==, 1);
  findings = json_object_get_array_member (pii, "findings");
  g_assert_cmpuint (json_array_get_length (findings), ==, 1);
  g_assert_cmpstr (
    json_object_get_string_member (json_array_get_object_element (findings, 0), "kind"), ==,
    "email");
  preview = json_object_get_string_member (json_array_get_object_element (findings, 0), "preview");
  g_assert_null (strstr (preview, "help@example.org"));

  /* Every example is longer than 12 estimated tokens. */
  g_assert_cmpint (member_int (object, "lengths.sequence_length"), ==, 12);
  g_assert_cmpint (member_int (object, "lengths.total.truncated"), ==, 6);
  g_assert_cmpint (member_int (object, "balance.examples"), ==, 6);
  g_assert_true (json_object_has_member (object, "hygiene"));
}

static void
test_errors_and_usage (Fixture *f, gconstpointer data)
{
  g_auto (CliResult) no_files = { 0 };
  g_auto (CliResult) both = { 0 };
  g_auto (CliResult) unknown = { 0 };
  g_auto (CliResult) missing_file = { 0 };
  g_auto (CliResult) no_project = { 0 };
  g_auto (CliResult) empty = { 0 };
  g_auto (CliResult) bad_pii = { 0 };
  g_auto (CliResult) help = { 0 };

  g_assert_cmpint (run_cli (f, &no_files, "import", "demo"), ==, 2);
  g_assert_cmpint (
    run_cli (f, &both, "import", "demo", "faq.csv", "--eval-ratio", "0.1", "--eval-count", "3"), ==,
    2);
  g_assert_cmpint (run_cli (f, &bad_pii, "import", "demo", "faq.csv", "--pii", "email=shred"), ==,
                   2);
  g_assert_nonnull (strstr (bad_pii.err, "shred"));
  g_assert_cmpint (run_cli (f, &unknown, "frobnicate"), ==, 2);

  /* A file that cannot be imported fails the whole import: nothing is saved. */
  write_file (f, "empty.jsonl", "");
  g_assert_cmpint (run_cli (f, &missing_file, "import", "demo", "faq.csv", "nope.jsonl"), ==, 1);
  g_assert_nonnull (strstr (missing_file.err, "nope.jsonl"));
  g_assert_cmpint (run_cli (f, &empty, "import", "demo", "faq.csv", "empty.jsonl"), ==, 1);
  g_assert_nonnull (strstr (empty.err, "empty.jsonl"));
  g_assert_cmpint (run_cli (f, &no_project, "versions", "demo", "--json"), ==, 1);
  g_assert_nonnull (strstr (no_project.err, "demo"));

  /* The default of redacting secrets is stated in the help. */
  g_assert_cmpint (run_cli (f, &help, "import", "--help"), ==, 0);
  g_assert_nonnull (strstr (help.out, "redacted by default"));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/cli-data/import-cleans-and-reports", Fixture, NULL, fixture_setup,
              test_import_cleans_and_reports, fixture_teardown);
  g_test_add ("/cli-data/versions-json-follows-contract", Fixture, NULL, fixture_setup,
              test_versions_json_follows_contract, fixture_teardown);
  g_test_add ("/cli-data/export-writes-chat-lines", Fixture, NULL, fixture_setup,
              test_export_writes_chat_lines, fixture_teardown);
  g_test_add ("/cli-data/leak-check-exit-codes", Fixture, NULL, fixture_setup,
              test_leak_check_exit_codes, fixture_teardown);
  g_test_add ("/cli-data/check-json-reports", Fixture, NULL, fixture_setup, test_check_json_reports,
              fixture_teardown);
  g_test_add ("/cli-data/errors-and-usage", Fixture, NULL, fixture_setup, test_errors_and_usage,
              fixture_teardown);

  return g_test_run ();
}
