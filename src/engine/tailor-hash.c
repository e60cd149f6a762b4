/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Streaming SHA-256 of files and a small cache of results keyed by path, size, mtime and inode. */
#include "config.h"

#include "tailor-hash.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Large enough that syscall overhead vanishes next to hashing, small enough to stay in cache. */
#define HASH_CHUNK     (1024 * 1024)
#define SHA256_HEX_LEN 64

static gboolean
read_chunk (int fd, const char *path, guint8 *buf, gsize size, gssize *out_n, GError **error)
{
  gssize n;

  do
    n = read (fd, buf, size);
  while (n < 0 && errno == EINTR);

  if (n < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot read “%s”: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  *out_n = n;
  return TRUE;
}

/* Hashes an open descriptor whose stat the caller already took. */
static char *
sha256_fd (int fd,
           const char *path,
           guint64 total,
           GCancellable *cancellable,
           TailorHashProgress progress,
           gpointer user_data,
           GError **error)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buf = g_malloc (HASH_CHUNK);
  guint64 done = 0;

#ifdef POSIX_FADV_SEQUENTIAL
  posix_fadvise (fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif

  if (progress != NULL)
    progress (0, total, user_data);

  for (;;)
    {
      gssize n = 0;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      if (!read_chunk (fd, path, buf, HASH_CHUNK, &n, error))
        return NULL;
      if (n == 0)
        break;
      g_checksum_update (checksum, buf, n);
      done += n;
      if (progress != NULL)
        progress (done, MAX (total, done), user_data);
    }

  return g_strdup (g_checksum_get_string (checksum));
}

static int
open_for_hash (const char *path, struct stat *st, GError **error)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot open “%s”: %s", path,
                   g_strerror (saved));
      return -1;
    }
  if (fstat (fd, st) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot stat “%s”: %s", path,
                   g_strerror (saved));
      close (fd);
      return -1;
    }
  if (!S_ISREG (st->st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   "Cannot hash “%s”: it is not a regular file", path);
      close (fd);
      return -1;
    }
  return fd;
}

char *
tailor_file_sha256 (const char *path,
                    GCancellable *cancellable,
                    TailorHashProgress progress,
                    gpointer user_data,
                    GError **error)
{
  struct stat st;
  char *hex;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  fd = open_for_hash (path, &st, error);
  if (fd < 0)
    return NULL;
  hex = sha256_fd (fd, path, st.st_size, cancellable, progress, user_data, error);
  close (fd);
  return hex;
}

/* ---- Cache ---- */

static char *
cache_file_path (void)
{
  const char *dir = g_getenv ("TAILOR_CACHE_DIR");

  if (dir != NULL && *dir != '\0')
    return g_build_filename (dir, "sha256.ini", NULL);
  return g_build_filename (g_get_user_cache_dir (), "tailor", "sha256.ini", NULL);
}

/* Group names cannot hold '[', ']' or control characters, and the file must be UTF-8;
 * escaping every non-path byte keeps any file name representable. */
static char *
cache_group_for_path (const char *abs_path)
{
  return g_uri_escape_string (abs_path, "/", FALSE);
}

static gboolean
is_sha256_hex (const char *s)
{
  if (s == NULL || strlen (s) != SHA256_HEX_LEN)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'f'))
      return FALSE;
  return TRUE;
}

/* The identity of a file's contents as far as the cache trusts it. */
typedef struct
{
  gint64 size;
  gint64 mtime_sec;
  gint64 mtime_nsec;
  gint64 inode;
} FileStamp;

static void
stamp_from_stat (FileStamp *stamp, const struct stat *st)
{
  stamp->size = st->st_size;
  stamp->mtime_sec = st->st_mtim.tv_sec;
  stamp->mtime_nsec = st->st_mtim.tv_nsec;
  stamp->inode = st->st_ino;
}

static gboolean
stamp_equal (const FileStamp *a, const FileStamp *b)
{
  return a->size == b->size && a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
         a->inode == b->inode;
}

static gboolean
cache_entry_stamp (GKeyFile *kf, const char *group, FileStamp *stamp)
{
  g_autoptr (GError) local = NULL;
  const char *keys[] = { "size", "mtime-sec", "mtime-nsec", "inode" };
  gint64 *fields[] = { &stamp->size, &stamp->mtime_sec, &stamp->mtime_nsec, &stamp->inode };

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      *fields[i] = g_key_file_get_int64 (kf, group, keys[i], &local);
      if (local != NULL)
        return FALSE;
    }
  return TRUE;
}

/* A missing or unreadable cache is simply empty: the cache only ever saves time. */
static GKeyFile *
cache_load (const char *cache_path)
{
  GKeyFile *kf = g_key_file_new ();

  if (!g_key_file_load_from_file (kf, cache_path, G_KEY_FILE_NONE, NULL))
    {
      g_key_file_free (kf);
      kf = g_key_file_new ();
    }
  return kf;
}

/* Entries for files that are gone would otherwise accumulate forever. */
static void
cache_prune (GKeyFile *kf)
{
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_autofree char *path = g_uri_unescape_string (groups[i], NULL);

      if (path == NULL || !g_file_test (path, G_FILE_TEST_EXISTS))
        g_key_file_remove_group (kf, groups[i], NULL);
    }
}

static void
cache_store (const char *cache_path, const char *group, const FileStamp *stamp, const char *hex)
{
  g_autoptr (GKeyFile) kf = cache_load (cache_path);
  g_autoptr (GError) local = NULL;
  g_autofree char *dir = g_path_get_dirname (cache_path);
  g_autofree char *data = NULL;
  gsize len = 0;

  cache_prune (kf);
  g_key_file_set_int64 (kf, group, "size", stamp->size);
  g_key_file_set_int64 (kf, group, "mtime-sec", stamp->mtime_sec);
  g_key_file_set_int64 (kf, group, "mtime-nsec", stamp->mtime_nsec);
  g_key_file_set_int64 (kf, group, "inode", stamp->inode);
  g_key_file_set_string (kf, group, "sha256", hex);
  data = g_key_file_to_data (kf, &len, NULL);

  /* Failing to remember a hash costs a re-hash next time, nothing more. */
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_debug ("Cannot create the hash cache folder “%s”: %s", dir, g_strerror (errno));
      return;
    }
  if (!g_file_set_contents (cache_path, data, len, &local))
    g_debug ("Cannot write the hash cache “%s”: %s", cache_path, local->message);
}

char *
tailor_file_sha256_cached (const char *path,
                           GCancellable *cancellable,
                           TailorHashProgress progress,
                           gpointer user_data,
                           gboolean *from_cache,
                           GError **error)
{
  g_autofree char *abs_path = NULL;
  g_autofree char *group = NULL;
  g_autofree char *cache_path = NULL;
  g_autoptr (GKeyFile) kf = NULL;
  g_autofree char *hex = NULL;
  FileStamp before, cached, after;
  struct stat st;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (from_cache != NULL)
    *from_cache = FALSE;

  fd = open_for_hash (path, &st, error);
  if (fd < 0)
    return NULL;
  stamp_from_stat (&before, &st);

  abs_path = g_canonicalize_filename (path, NULL);
  group = cache_group_for_path (abs_path);
  cache_path = cache_file_path ();
  kf = cache_load (cache_path);

  if (cache_entry_stamp (kf, group, &cached) && stamp_equal (&cached, &before))
    {
      g_autofree char *stored = g_key_file_get_string (kf, group, "sha256", NULL);

      if (is_sha256_hex (stored))
        {
          close (fd);
          if (progress != NULL)
            progress (before.size, before.size, user_data);
          if (from_cache != NULL)
            *from_cache = TRUE;
          return g_steal_pointer (&stored);
        }
    }

  hex = sha256_fd (fd, path, before.size, cancellable, progress, user_data, error);
  if (hex == NULL)
    {
      close (fd);
      return NULL;
    }

  /* A file rewritten while we read it has no single hash worth remembering. */
  if (fstat (fd, &st) == 0)
    {
      stamp_from_stat (&after, &st);
      if (stamp_equal (&before, &after))
        cache_store (cache_path, group, &before, hex);
    }
  close (fd);

  return g_steal_pointer (&hex);
}
