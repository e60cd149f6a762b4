/* SPDX-License-Identifier: GPL-3.0-or-later */
/* SHA-256 of model files, cached by path + size + mtime under the user cache dir. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Called with bytes hashed so far and the total, from the hashing thread. */
typedef void (*TailorHashProgress) (guint64 done, guint64 total, gpointer user_data);

/* Lowercase hex. Streams the file (constant memory). Honors cancellable. */
char *tailor_file_sha256 (const char *path, GCancellable *cancellable, TailorHashProgress progress,
                          gpointer user_data, GError **error);
/* Same, but answers from the cache ($XDG_CACHE_HOME/tailor/sha256.ini, or
 * TAILOR_CACHE_DIR) when path, size and mtime match; stores new results there.
 * *from_cache (may be NULL) tells which. */
char *tailor_file_sha256_cached (const char *path, GCancellable *cancellable,
                                 TailorHashProgress progress, gpointer user_data,
                                 gboolean *from_cache, GError **error);

G_END_DECLS
