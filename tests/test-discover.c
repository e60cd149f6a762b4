/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of model discovery over fake Ollama, LM Studio, GPT4All and Hugging Face stores built in
 * a temporary home. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "tailor-discover.h"
#include "tailor-hash.h"
#include "tailor-test-model.h"

typedef struct
{
  char *home;
  char *folder;
  char *model_bytes_path; /* one generated GGUF, copied into every store */
} Fixture;

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);
        remove_tree (child);
      }
  g_remove (path);
}

static char *
make_path (Fixture *f, const char *relative)
{
  char *path = g_build_filename (f->home, relative, NULL);
  g_autofree char *parent = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  return path;
}

/* Copies the generated model to home/relative; returns the full path. */
static char *
put_model (Fixture *f, const char *relative)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;
  char *path = make_path (f, relative);

  g_file_get_contents (f->model_bytes_path, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (path, contents, len, &error);
  g_assert_no_error (error);
  return path;
}

static void
put_text (Fixture *f, const char *relative, const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = make_path (f, relative);

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
put_link (Fixture *f, const char *relative, const char *target)
{
  g_autofree char *path = make_path (f, relative);

  g_assert_cmpint (symlink (target, path), ==, 0);
}

/* An Ollama blob named by the SHA-256 of its bytes, and a manifest in Ollama's own layout:
 * a docker v2 manifest whose model layer is application/vnd.ollama.image.model. */
static char *
put_ollama_model (Fixture *f, const char *manifest_relative, const char *blob_suffix)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = put_model (f, ".ollama/models/blobs/incoming");
  g_autofree char *sha = NULL;
  g_autofree char *blob_rel = NULL;
  g_autofree char *blob = NULL;
  g_autofree char *manifest = NULL;
  g_autofree char *manifest_rel = g_build_filename (".ollama/models/manifests", manifest_relative,
                                                    NULL);
  GStatBuf st;

  /* Appending a suffix gives each model its own bytes, hence its own digest. */
  {
    g_autofree char *contents = NULL;
    g_autofree char *longer = NULL;
    gsize len = 0;

    g_file_get_contents (tmp, &contents, &len, &error);
    g_assert_no_error (error);
    longer = g_malloc (len + strlen (blob_suffix));
    memcpy (longer, contents, len);
    memcpy (longer + len, blob_suffix, strlen (blob_suffix));
    g_file_set_contents (tmp, longer, len + strlen (blob_suffix), &error);
    g_assert_no_error (error);
  }
  sha = tailor_file_sha256 (tmp, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  blob_rel = g_strdup_printf (".ollama/models/blobs/sha256-%s", sha);
  blob = g_build_filename (f->home, blob_rel, NULL);
  g_assert_cmpint (g_rename (tmp, blob), ==, 0);
  g_assert_cmpint (g_stat (blob, &st), ==, 0);

  manifest = g_strdup_printf (
    "{\"schemaVersion\":2,"
    "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
    "\"digest\":\"sha256:%064d\",\"size\":485},"
    "\"layers\":["
    "{\"mediaType\":\"application/vnd.ollama.image.license\","
    "\"digest\":\"sha256:%064d\",\"size\":1085},"
    "{\"mediaType\":\"application/vnd.ollama.image.model\","
    "\"digest\":\"sha256:%s\",\"size\":%" G_GINT64_FORMAT "},"
    "{\"mediaType\":\"application/vnd.ollama.image.template\","
    "\"digest\":\"sha256:%064d\",\"size\":182}]}",
    1, 2, sha, (gint64) st.st_size, 3);
  put_text (f, manifest_rel, manifest);
  return g_steal_pointer (&blob);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  TailorTestModelParams params;

  f->home = g_dir_make_tmp ("tailor-discover-XXXXXX", &error);
  g_assert_no_error (error);
  f->folder = g_build_filename (f->home, "my-models", NULL);
  f->model_bytes_path = g_build_filename (f->home, "generated.bin", NULL);
  tailor_test_model_params_init (&params, TAILOR_ARCH_LLAMA);
  params.n_vocab = 300;
  g_assert_true (tailor_test_model_write (&params, f->model_bytes_path, &error));
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  remove_tree (f->home);
  g_free (f->home);
  g_free (f->folder);
  g_free (f->model_bytes_path);
}

static const TailorDiscoveredModel *
find_by_name (GPtrArray *models, const char *display_name)
{
  for (guint i = 0; i < models->len; i++)
    {
      const TailorDiscoveredModel *m = models->pdata[i];

      if (strcmp (m->display_name, display_name) == 0)
        return m;
    }
  return NULL;
}

static void
assert_found (GPtrArray *models,
              const char *display_name,
              TailorModelStore store,
              const char *detail,
              const char *path)
{
  const TailorDiscoveredModel *m = find_by_name (models, display_name);
  g_autofree char *resolved = realpath (path, NULL);

  g_test_message ("looking for %s", display_name);
  g_assert_nonnull (m);
  g_assert_cmpint (m->store, ==, store);
  g_assert_cmpstr (m->detail, ==, detail);
  g_assert_cmpstr (m->path, ==, resolved);
  g_assert_cmpuint (m->size, >, 0);
}

static void
test_ollama_manifests_lead_to_model_blobs (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) models = NULL;
  g_autofree char *tiny = NULL;
  g_autofree char *mine = NULL;
  g_autofree char *hosted = NULL;

  tiny = put_ollama_model (f, "registry.ollama.ai/library/tinyllama/latest", "a");
  mine = put_ollama_model (f, "registry.ollama.ai/someone/tiny/q4", "b");
  hosted = put_ollama_model (f, "example.org/team/small/v1", "c");
  /* Damaged entries: not JSON, no model layer, a digest that tries to leave blobs/, a blob
   * that was deleted. None of them may hide the good ones. */
  put_text (f, ".ollama/models/manifests/registry.ollama.ai/library/broken/latest", "{\"lay");
  put_text (f, ".ollama/models/manifests/registry.ollama.ai/library/nomodel/latest",
            "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":"
            "\"application/vnd.ollama.image.template\",\"digest\":\"sha256:"
            "0000000000000000000000000000000000000000000000000000000000000000\"}]}");
  put_text (f, ".ollama/models/manifests/registry.ollama.ai/library/escape/latest",
            "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":"
            "\"application/vnd.ollama.image.model\",\"digest\":\"sha256:../../../generated.bin\"}]}");
  put_text (f, ".ollama/models/manifests/registry.ollama.ai/library/gone/latest",
            "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":"
            "\"application/vnd.ollama.image.model\",\"digest\":\"sha256:"
            "1111111111111111111111111111111111111111111111111111111111111111\"}]}");

  models = tailor_discover_models (f->home, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 3);
  assert_found (models, "tinyllama:latest", TAILOR_MODEL_STORE_OLLAMA,
                "registry.ollama.ai/library", tiny);
  assert_found (models, "someone/tiny:q4", TAILOR_MODEL_STORE_OLLAMA, "registry.ollama.ai/someone",
                mine);
  assert_found (models, "example.org/team/small:v1", TAILOR_MODEL_STORE_OLLAMA, "example.org/team",
                hosted);
}

static void
test_lm_studio_and_gpt4all_folders (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) models = NULL;
  g_autofree char *lms = put_model (f, ".lmstudio/models/acme/Tiny-GGUF/tiny-Q4_K_M.gguf");
  g_autofree char *lms_old = put_model (f, ".cache/lm-studio/models/bob/Old-GGUF/old.Q8_0.gguf");
  g_autofree char *g4a = put_model (f, ".local/share/nomic.ai/GPT4All/orca-mini-3b.gguf");

  put_text (f, ".lmstudio/models/acme/Tiny-GGUF/README.md", "not a model");
  put_text (f, ".local/share/nomic.ai/GPT4All/localdocs_v2.db", "not a model");
  /* Deeper than LM Studio's publisher/repo/file layout: not one of its models. */
  g_free (put_model (f, ".lmstudio/models/acme/Tiny-GGUF/extra/deep.gguf"));

  models = tailor_discover_models (f->home, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 3);
  assert_found (models, "tiny-Q4_K_M", TAILOR_MODEL_STORE_LM_STUDIO, "acme/Tiny-GGUF", lms);
  assert_found (models, "old.Q8_0", TAILOR_MODEL_STORE_LM_STUDIO, "bob/Old-GGUF", lms_old);
  assert_found (models, "orca-mini-3b", TAILOR_MODEL_STORE_GPT4ALL, "", g4a);
}

static void
test_hugging_face_snapshots_resolve_to_blobs (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) models = NULL;
  const char *repo = ".cache/huggingface/hub/models--TheOrg--Tiny-Chat-GGUF";
  g_autofree char *blob_a = NULL;
  g_autofree char *blob_b = NULL;
  g_autofree char *rel = NULL;
  const TailorDiscoveredModel *m;

  rel = g_strdup_printf ("%s/blobs/aaaa", repo);
  blob_a = put_model (f, rel);
  g_free (rel);
  rel = g_strdup_printf ("%s/blobs/bbbb", repo);
  blob_b = put_model (f, rel);
  g_free (rel);
  /* The hub's layout: relative links from snapshots/<revision>/ into blobs/; two revisions
   * share a blob, which must be listed once. */
  rel = g_strdup_printf ("%s/snapshots/rev1/tiny-chat.Q8_0.gguf", repo);
  put_link (f, rel, "../../blobs/aaaa");
  g_free (rel);
  rel = g_strdup_printf ("%s/snapshots/rev2/tiny-chat.Q8_0.gguf", repo);
  put_link (f, rel, "../../blobs/aaaa");
  g_free (rel);
  rel = g_strdup_printf ("%s/snapshots/rev2/q4/tiny-chat.Q4_0.gguf", repo);
  put_link (f, rel, "../../../blobs/bbbb");
  g_free (rel);
  rel = g_strdup_printf ("%s/snapshots/rev2/config.json", repo);
  put_text (f, rel, "{}");
  g_free (rel);
  /* A dangling link (an interrupted download) is skipped. */
  rel = g_strdup_printf ("%s/snapshots/rev2/partial.gguf", repo);
  put_link (f, rel, "../../blobs/cccc");
  put_text (f, ".cache/huggingface/hub/datasets--x--y/snapshots/r/data.gguf", "x");

  models = tailor_discover_models (f->home, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 2);
  assert_found (models, "tiny-chat.Q8_0", TAILOR_MODEL_STORE_HUGGING_FACE, "TheOrg/Tiny-Chat-GGUF",
                blob_a);
  assert_found (models, "tiny-chat.Q4_0", TAILOR_MODEL_STORE_HUGGING_FACE, "TheOrg/Tiny-Chat-GGUF",
                blob_b);
  m = find_by_name (models, "tiny-chat.Q8_0");
  g_assert_true (strstr (m->path, "/blobs/aaaa") != NULL);
}

static void
test_added_folders_and_duplicates (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) models = NULL;
  g_autofree char *g4a = put_model (f, ".local/share/nomic.ai/GPT4All/shared.gguf");
  g_autofree char *mine = put_model (f, "my-models/project/nested/mine.gguf");
  g_autofree char *too_deep = put_model (f, "my-models/a/b/c/d/deep.gguf");
  g_autofree char *other_dir = g_build_filename (f->home, "missing-folder", NULL);
  const char *folders[] = { f->folder, other_dir, NULL };

  put_link (f, "my-models/link-to-shared.gguf", g4a);
  put_text (f, "my-models/.hidden/secret.gguf", "x");

  models = tailor_discover_models (f->home, folders, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 2);
  /* Found by GPT4All first; the folder's link to it does not list it again. */
  assert_found (models, "shared", TAILOR_MODEL_STORE_GPT4ALL, "", g4a);
  assert_found (models, "mine", TAILOR_MODEL_STORE_FOLDER, f->folder, mine);
  g_assert_null (find_by_name (models, "link-to-shared"));
  g_assert_null (find_by_name (models, "deep"));
}

static void
test_results_are_ordered_by_store_then_name (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) models = NULL;
  const char *folders[] = { f->folder, NULL };
  const char *expected[] = { "zeta:latest", "b-model", "model-2", "model-10", "mine" };

  g_free (put_model (f, ".local/share/nomic.ai/GPT4All/model-10.gguf"));
  g_free (put_model (f, ".local/share/nomic.ai/GPT4All/model-2.gguf"));
  g_free (put_model (f, ".lmstudio/models/p/r/b-model.gguf"));
  g_free (put_model (f, "my-models/mine.gguf"));
  g_free (put_ollama_model (f, "registry.ollama.ai/library/zeta/latest", "z"));

  models = tailor_discover_models (f->home, folders, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_cmpstr (((TailorDiscoveredModel *) models->pdata[i])->display_name, ==, expected[i]);
}

static void
test_empty_home_finds_nothing (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) models = tailor_discover_models (f->home, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 0);
}

static void
test_cancelled_discovery_reports_it (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GPtrArray) models = NULL;

  g_free (put_model (f, ".local/share/nomic.ai/GPT4All/any.gguf"));
  g_cancellable_cancel (cancellable);
  models = tailor_discover_models (f->home, NULL, cancellable, &error);
  g_assert_null (models);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
on_discovered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GPtrArray **out = user_data;
  g_autoptr (GError) error = NULL;

  *out = tailor_discover_models_finish (result, &error);
  g_assert_no_error (error);
}

static void
test_async_discovery_matches_sync (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) models = NULL;
  g_autofree char *g4a = put_model (f, ".local/share/nomic.ai/GPT4All/async.gguf");

  tailor_discover_models_async (f->home, NULL, NULL, on_discovered, &models);
  while (models == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (models->len, ==, 1);
  assert_found (models, "async", TAILOR_MODEL_STORE_GPT4ALL, "", g4a);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/discover/ollama-manifests-lead-to-model-blobs", test_ollama_manifests_lead_to_model_blobs);
  ADD ("/discover/lm-studio-and-gpt4all-folders", test_lm_studio_and_gpt4all_folders);
  ADD ("/discover/hugging-face-snapshots-resolve-to-blobs",
       test_hugging_face_snapshots_resolve_to_blobs);
  ADD ("/discover/added-folders-and-duplicates", test_added_folders_and_duplicates);
  ADD ("/discover/results-are-ordered-by-store-then-name",
       test_results_are_ordered_by_store_then_name);
  ADD ("/discover/empty-home-finds-nothing", test_empty_home_finds_nothing);
  ADD ("/discover/cancelled-discovery-reports-it", test_cancelled_discovery_reports_it);
  ADD ("/discover/async-discovery-matches-sync", test_async_discovery_matches_sync);
#undef ADD

  return g_test_run ();
}
