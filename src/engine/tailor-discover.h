/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Finding GGUF models already on the computer: Ollama, LM Studio, GPT4All, the Hugging Face hub
 * cache and folders the user adds. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  TAILOR_MODEL_STORE_OLLAMA,       /* ~/.ollama/models: manifests naming sha256 blobs */
  TAILOR_MODEL_STORE_LM_STUDIO,    /* ~/.lmstudio/models, ~/.cache/lm-studio/models */
  TAILOR_MODEL_STORE_GPT4ALL,      /* ~/.local/share/nomic.ai/GPT4All */
  TAILOR_MODEL_STORE_HUGGING_FACE, /* ~/.cache/huggingface/hub snapshots */
  TAILOR_MODEL_STORE_FOLDER,       /* a folder the user added */
} TailorModelStore;

typedef struct
{
  char *path;         /* the model file itself, symbolic links resolved */
  char *display_name; /* "llama3.2:1b" for Ollama, the file name without .gguf elsewhere */
  char *detail;       /* where the store says it came from: "registry.ollama.ai/library",
                       * "publisher/repo", "org/name", or the added folder; never NULL */
  TailorModelStore store;
  guint64 size;
} TailorDiscoveredModel;

void tailor_discovered_model_free (TailorDiscoveredModel *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorDiscoveredModel, tailor_discovered_model_free)

/* "Ollama", "LM Studio", "GPT4All", "Hugging Face", "Folder". */
const char *tailor_model_store_name (TailorModelStore store);

/* Scans the stores under home (NULL: g_get_home_dir) and the extra folders (NULL-terminated,
 * may be NULL; searched three levels deep). Missing stores and unreadable or malformed entries
 * are skipped, since a half-deleted Ollama model must not hide the others. A file found twice
 * (an added folder that is also a store, two snapshots sharing a blob) is listed once, under
 * the first store that found it. Returns TailorDiscoveredModel*, ordered by store then display
 * name; NULL only when cancelled. */
GPtrArray *tailor_discover_models (const char *home,
                                   const char *const *folders,
                                   GCancellable *cancellable,
                                   GError **error);

/* The same in a worker thread. */
void tailor_discover_models_async (const char *home,
                                   const char *const *folders,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);
GPtrArray *tailor_discover_models_finish (GAsyncResult *result, GError **error);

G_END_DECLS
