/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Model discovery in the local stores of other tools, read-only. */
#include "config.h"

#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tailor-discover.h"

/* How deep folder and snapshot walks go: deep enough for "publisher/repo/file.gguf" layouts,
 * shallow enough that adding ~ as a folder does not walk the whole home. */
#define MAX_DEPTH 3

#define OLLAMA_MODEL_MEDIA_TYPE "application/vnd.ollama.image.model"

typedef struct
{
  GPtrArray *models; /* TailorDiscoveredModel* */
  GHashTable *seen;  /* resolved path → NULL */
  GCancellable *cancellable;
} Scan;

void
tailor_discovered_model_free (TailorDiscoveredModel *self)
{
  if (self == NULL)
    return;
  g_free (self->path);
  g_free (self->display_name);
  g_free (self->detail);
  g_free (self);
}

const char *
tailor_model_store_name (TailorModelStore store)
{
  switch (store)
    {
    case TAILOR_MODEL_STORE_OLLAMA:
      return "Ollama";
    case TAILOR_MODEL_STORE_LM_STUDIO:
      return "LM Studio";
    case TAILOR_MODEL_STORE_GPT4ALL:
      return "GPT4All";
    case TAILOR_MODEL_STORE_HUGGING_FACE:
      return "Hugging Face";
    case TAILOR_MODEL_STORE_FOLDER:
    default:
      return "Folder";
    }
}

static gboolean
has_gguf_suffix (const char *name)
{
  gsize len = strlen (name);

  return len > 5 && g_ascii_strcasecmp (name + len - 5, ".gguf") == 0;
}

static char *
strip_gguf_suffix (const char *name)
{
  return has_gguf_suffix (name) ? g_strndup (name, strlen (name) - 5) : g_strdup (name);
}

/* Adds the file unless it is missing, not a regular file, or already listed. */
static void
scan_add (Scan *scan,
          const char *path,
          char *display_name,
          char *detail,
          TailorModelStore store)
{
  g_autofree char *owned_name = display_name;
  g_autofree char *owned_detail = detail;
  g_autofree char *resolved = realpath (path, NULL);
  TailorDiscoveredModel *model;
  struct stat st;

  if (resolved == NULL || stat (resolved, &st) != 0 || !S_ISREG (st.st_mode) ||
      g_hash_table_contains (scan->seen, resolved))
    return;
  model = g_new0 (TailorDiscoveredModel, 1);
  model->path = g_strdup (resolved);
  model->display_name = g_steal_pointer (&owned_name);
  model->detail = g_steal_pointer (&owned_detail);
  model->store = store;
  model->size = st.st_size;
  g_hash_table_add (scan->seen, g_steal_pointer (&resolved));
  g_ptr_array_add (scan->models, model);
}

static gboolean
is_sha256_hex (const char *s)
{
  if (strlen (s) != 64)
    return FALSE;
  for (; *s != '\0'; s++)
    if (!g_ascii_isxdigit (*s))
      return FALSE;
  return TRUE;
}

/* manifests/<host>/<namespace>/<model>/<tag> → the blob of its model layer. */
static void
scan_ollama_manifest (Scan *scan,
                      const char *models_dir,
                      const char *manifest,
                      const char *host,
                      const char *ns,
                      const char *model,
                      const char *tag)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root, *node;
  JsonArray *layers;
  const char *digest = NULL;
  g_autofree char *blob = NULL;
  g_autofree char *blob_name = NULL;
  g_autofree char *display = NULL;

  if (!json_parser_load_from_mapped_file (parser, manifest, NULL))
    return;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  node = json_object_get_member (json_node_get_object (root), "layers");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return;
  layers = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (layers) && digest == NULL; i++)
    {
      JsonNode *element = json_array_get_element (layers, i);
      JsonObject *layer;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        continue;
      layer = json_node_get_object (element);
      if (g_strcmp0 (json_object_get_string_member_with_default (layer, "mediaType", NULL),
                     OLLAMA_MODEL_MEDIA_TYPE) == 0)
        digest = json_object_get_string_member_with_default (layer, "digest", NULL);
    }
  /* The digest becomes a file name: only "sha256:<64 hex>" may, nothing with a slash in it. */
  if (digest == NULL || !g_str_has_prefix (digest, "sha256:") ||
      !is_sha256_hex (digest + strlen ("sha256:")))
    return;
  blob_name = g_strdup_printf ("sha256-%s", digest + strlen ("sha256:"));
  blob = g_build_filename (models_dir, "blobs", blob_name, NULL);

  if (strcmp (host, "registry.ollama.ai") != 0)
    display = g_strdup_printf ("%s/%s/%s:%s", host, ns, model, tag);
  else if (strcmp (ns, "library") != 0)
    display = g_strdup_printf ("%s/%s:%s", ns, model, tag);
  else
    display = g_strdup_printf ("%s:%s", model, tag);
  scan_add (scan, blob, g_steal_pointer (&display), g_strdup_printf ("%s/%s", host, ns),
            TAILOR_MODEL_STORE_OLLAMA);
}

/* The entry names of dir, sorted so that results do not depend on the file system's order;
 * empty when it cannot be read. */
static GPtrArray *
list_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (d == NULL)
    return names;
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  return names;
}

static void
scan_ollama (Scan *scan, const char *home)
{
  g_autofree char *models_dir = g_build_filename (home, ".ollama", "models", NULL);
  g_autofree char *manifests = g_build_filename (models_dir, "manifests", NULL);
  g_autoptr (GPtrArray) hosts = list_dir (manifests);

  for (guint h = 0; h < hosts->len; h++)
    {
      g_autofree char *host_dir = g_build_filename (manifests, hosts->pdata[h], NULL);
      g_autoptr (GPtrArray) namespaces = list_dir (host_dir);

      for (guint n = 0; n < namespaces->len; n++)
        {
          g_autofree char *ns_dir = g_build_filename (host_dir, namespaces->pdata[n], NULL);
          g_autoptr (GPtrArray) models = list_dir (ns_dir);

          for (guint m = 0; m < models->len; m++)
            {
              g_autofree char *model_dir = g_build_filename (ns_dir, models->pdata[m], NULL);
              g_autoptr (GPtrArray) tags = list_dir (model_dir);

              for (guint t = 0; t < tags->len; t++)
                {
                  g_autofree char *manifest = g_build_filename (model_dir, tags->pdata[t], NULL);

                  if (g_file_test (manifest, G_FILE_TEST_IS_REGULAR))
                    scan_ollama_manifest (scan, models_dir, manifest, hosts->pdata[h],
                                          namespaces->pdata[n], models->pdata[m], tags->pdata[t]);
                }
            }
        }
    }
}

/* Every *.gguf under dir, depth levels down. Its detail is root_detail, or with relative_detail
 * the path between root and the file ("publisher/repo") when it lies below root. */
static void
scan_tree (Scan *scan,
           const char *root,
           const char *dir,
           guint depth,
           const char *root_detail,
           gboolean relative_detail,
           TailorModelStore store)
{
  g_autoptr (GPtrArray) names = NULL;

  if (g_cancellable_is_cancelled (scan->cancellable))
    return;
  names = list_dir (dir);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = names->pdata[i];
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (name[0] == '.')
        continue;
      if (has_gguf_suffix (name) && g_file_test (path, G_FILE_TEST_IS_REGULAR))
        {
          char *detail;

          if (!relative_detail || strcmp (dir, root) == 0)
            detail = g_strdup (root_detail);
          else
            detail = g_strdup (dir + strlen (root) + 1);
          scan_add (scan, path, strip_gguf_suffix (name), detail, store);
        }
      else if (depth > 0 && g_file_test (path, G_FILE_TEST_IS_DIR))
        scan_tree (scan, root, path, depth - 1, root_detail, relative_detail, store);
    }
}

/* hub/models--<org>--<name>/snapshots/<revision>/ holds the .gguf files (at any depth) as
 * links into blobs/. */
static void
scan_hugging_face (Scan *scan, const char *home)
{
  g_autofree char *hub = g_build_filename (home, ".cache", "huggingface", "hub", NULL);
  g_autoptr (GPtrArray) repos = list_dir (hub);

  for (guint r = 0; r < repos->len; r++)
    {
      const char *repo = repos->pdata[r];
      g_autofree char *snapshots = NULL;
      g_autoptr (GPtrArray) revisions = NULL;
      g_auto (GStrv) parts = NULL;
      g_autofree char *repo_id = NULL;

      if (!g_str_has_prefix (repo, "models--"))
        continue;
      /* The hub turns "/" in a repo id into "--"; names themselves may not contain "--". */
      parts = g_strsplit (repo + strlen ("models--"), "--", -1);
      repo_id = g_strjoinv ("/", parts);
      snapshots = g_build_filename (hub, repo, "snapshots", NULL);
      revisions = list_dir (snapshots);
      for (guint v = 0; v < revisions->len; v++)
        {
          g_autofree char *snapshot = g_build_filename (snapshots, revisions->pdata[v], NULL);

          scan_tree (scan, snapshot, snapshot, MAX_DEPTH, repo_id, FALSE,
                     TAILOR_MODEL_STORE_HUGGING_FACE);
        }
    }
}

static int
compare_models (gconstpointer a, gconstpointer b)
{
  const TailorDiscoveredModel *x = *(TailorDiscoveredModel *const *) a;
  const TailorDiscoveredModel *y = *(TailorDiscoveredModel *const *) b;
  g_autofree char *kx = NULL;
  g_autofree char *ky = NULL;

  if (x->store != y->store)
    return (int) x->store - (int) y->store;
  kx = g_utf8_collate_key_for_filename (x->display_name, -1);
  ky = g_utf8_collate_key_for_filename (y->display_name, -1);
  return strcmp (kx, ky);
}

GPtrArray *
tailor_discover_models (const char *home,
                        const char *const *folders,
                        GCancellable *cancellable,
                        GError **error)
{
  g_autoptr (GPtrArray) models =
    g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_discovered_model_free);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Scan scan = { models, seen, cancellable };
  const char *lm_studio[] = { ".lmstudio/models", ".cache/lm-studio/models" };
  g_autofree char *gpt4all = NULL;

  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (home == NULL)
    home = g_get_home_dir ();

  scan_ollama (&scan, home);
  for (guint i = 0; i < G_N_ELEMENTS (lm_studio); i++)
    {
      g_autofree char *root = g_build_filename (home, lm_studio[i], NULL);

      /* LM Studio keeps publisher/repo/file.gguf: exactly two levels. */
      scan_tree (&scan, root, root, 2, "", TRUE, TAILOR_MODEL_STORE_LM_STUDIO);
    }
  gpt4all = g_build_filename (home, ".local", "share", "nomic.ai", "GPT4All", NULL);
  scan_tree (&scan, gpt4all, gpt4all, 0, "", FALSE, TAILOR_MODEL_STORE_GPT4ALL);
  scan_hugging_face (&scan, home);
  for (guint i = 0; folders != NULL && folders[i] != NULL; i++)
    scan_tree (&scan, folders[i], folders[i], MAX_DEPTH, folders[i], FALSE,
               TAILOR_MODEL_STORE_FOLDER);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  g_ptr_array_sort (models, compare_models);
  return g_steal_pointer (&models);
}

typedef struct
{
  char *home;
  GStrv folders;
} DiscoverTask;

static void
discover_task_free (DiscoverTask *task)
{
  g_free (task->home);
  g_strfreev (task->folders);
  g_free (task);
}

static void
discover_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  DiscoverTask *data = task_data;
  g_autoptr (GError) error = NULL;
  GPtrArray *models;

  models = tailor_discover_models (data->home, (const char *const *) data->folders, cancellable,
                                   &error);
  if (models == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, models, (GDestroyNotify) g_ptr_array_unref);
}

void
tailor_discover_models_async (const char *home,
                              const char *const *folders,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  DiscoverTask *data;

  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, tailor_discover_models_async);
  data = g_new0 (DiscoverTask, 1);
  data->home = g_strdup (home);
  data->folders = g_strdupv ((char **) folders);
  g_task_set_task_data (task, data, (GDestroyNotify) discover_task_free);
  g_task_run_in_thread (task, discover_thread);
}

GPtrArray *
tailor_discover_models_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
