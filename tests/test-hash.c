/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the streaming SHA-256 and its path + size + mtime + inode cache. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "tailor-hash.h"

typedef struct
{
  char *dir;
  char *cache_dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("tailor-hash-XXXXXX", &error);
  g_assert_no_error (error);
  f->cache_dir = g_build_filename (f->dir, "cache", NULL);
  g_setenv ("TAILOR_CACHE_DIR", f->cache_dir, TRUE);
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);
        remove_tree (child);
      }
  g_remove (path);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_unsetenv ("TAILOR_CACHE_DIR");
  remove_tree (f->dir);
  g_free (f->cache_dir);
  g_free (f->dir);
}

static char *
write_file (Fixture *f, const char *name, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (f->dir, name, NULL);

  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
  return path;
}

static char *
cache_file (Fixture *f)
{
  return g_build_filename (f->cache_dir, "sha256.ini", NULL);
}

static void
set_mtime (const char *path, gint64 sec)
{
  struct timeval tv[2] = { { sec, 0 }, { sec, 0 } };

  g_assert_cmpint (utimes (path, tv), ==, 0);
}

static void
test_known_vectors (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *empty = write_file (f, "empty", "", 0);
  g_autofree char *abc = write_file (f, "abc", "abc", 3);
  g_autofree char *h_empty = tailor_file_sha256 (empty, NULL, NULL, NULL, &error);
  g_autofree char *h_abc = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (h_empty, ==, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  h_abc = tailor_file_sha256 (abc, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (h_abc, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

typedef struct
{
  guint64 last_done;
  guint64 total;
  guint calls;
  gboolean monotonic;
  GCancellable *cancel_after_first;
} ProgressLog;

static void
log_progress (guint64 done, guint64 total, gpointer user_data)
{
  ProgressLog *log = user_data;

  if (log->calls > 0 && done < log->last_done)
    log->monotonic = FALSE;
  log->last_done = done;
  log->total = total;
  log->calls++;
  if (log->cancel_after_first != NULL && done > 0)
    g_cancellable_cancel (log->cancel_after_first);
}

/* Several read chunks plus a ragged tail, so chunk boundaries are crossed. */
#define BIG_SIZE (5 * 1024 * 1024 + 12345)

static char *
write_big_file (Fixture *f, const char *name, char **whole_hash)
{
  g_autofree guint8 *buf = g_malloc (BIG_SIZE);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);

  for (gsize i = 0; i < BIG_SIZE; i++)
    buf[i] = g_rand_int (rand) & 0xff;
  if (whole_hash != NULL)
    *whole_hash = g_compute_checksum_for_data (G_CHECKSUM_SHA256, buf, BIG_SIZE);
  return write_file (f, name, buf, BIG_SIZE);
}

static void
test_multi_megabyte_matches_whole_buffer (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *path = write_big_file (f, "big", &expected);
  ProgressLog log = { 0, 0, 0, TRUE, NULL };
  g_autofree char *hex = tailor_file_sha256 (path, NULL, log_progress, &log, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (hex, ==, expected);
  g_assert_true (log.monotonic);
  g_assert_cmpuint (log.calls, >=, 3);
  g_assert_cmpuint (log.last_done, ==, BIG_SIZE);
  g_assert_cmpuint (log.total, ==, BIG_SIZE);
}

static void
test_missing_file_names_it (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "no-such-model.gguf", NULL);
  g_autofree char *hex = tailor_file_sha256_cached (path, NULL, NULL, NULL, NULL, &error);

  g_assert_null (hex);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "no-such-model.gguf"));
}

static void
test_second_call_hits_cache (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *path = write_big_file (f, "model.gguf", &expected);
  g_autofree char *ini = cache_file (f);
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  gboolean from_cache = TRUE;

  first = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_false (from_cache);
  g_assert_cmpstr (first, ==, expected);
  g_assert_true (g_file_test (ini, G_FILE_TEST_IS_REGULAR));

  second = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_true (from_cache);
  g_assert_cmpstr (second, ==, expected);
}

/* The cache must answer from what it stored, not rehash: a planted wrong hash shows it. */
static void
test_cache_answers_from_stored_entry (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file (f, "m.gguf", "abc", 3);
  g_autofree char *ini = cache_file (f);
  g_autofree char *first = tailor_file_sha256_cached (path, NULL, NULL, NULL, NULL, &error);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_auto (GStrv) groups = NULL;
  g_autofree char *planted = g_strnfill (64, 'a');
  g_autofree char *stored = NULL;
  g_autofree char *again = NULL;
  gboolean from_cache = FALSE;

  g_assert_no_error (error);
  g_key_file_load_from_file (kf, ini, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  groups = g_key_file_get_groups (kf, NULL);
  g_assert_cmpuint (g_strv_length (groups), ==, 1);
  stored = g_key_file_get_string (kf, groups[0], "sha256", NULL);
  g_assert_cmpstr (stored, ==, first);
  g_key_file_set_string (kf, groups[0], "sha256", planted);
  g_key_file_save_to_file (kf, ini, &error);
  g_assert_no_error (error);

  again = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_true (from_cache);
  g_assert_cmpstr (again, ==, planted);
}

static void
test_invalidated_on_size_change (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file (f, "m.gguf", "abc", 3);
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  gboolean from_cache = TRUE;

  set_mtime (path, 1700000000);
  first = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_false (from_cache);

  /* Rewrite in place (same inode) with a longer content but the same mtime. */
  {
    FILE *fp = fopen (path, "ab");
    g_assert_nonnull (fp);
    fputs ("d", fp);
    fclose (fp);
  }
  set_mtime (path, 1700000000);
  second = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_false (from_cache);
  g_assert_cmpstr (second, ==, "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
}

static void
test_invalidated_on_mtime_change (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file (f, "m.gguf", "abc", 3);
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  gboolean from_cache = TRUE;

  set_mtime (path, 1700000000);
  first = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_false (from_cache);

  /* Same size, different bytes, only the mtime tells. */
  {
    FILE *fp = fopen (path, "r+b");
    g_assert_nonnull (fp);
    fputs ("xyz", fp);
    fclose (fp);
  }
  set_mtime (path, 1700000001);
  second = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_false (from_cache);
  g_assert_cmpstr (second, ==, "3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282");
  g_assert_cmpstr (second, !=, first);
}

static void
test_invalidated_on_inode_change (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file (f, "m.gguf", "abc", 3);
  g_autofree char *other = write_file (f, "other", "xyz", 3);
  g_autofree char *second = NULL;
  g_autofree char *first = NULL;
  gboolean from_cache = TRUE;

  set_mtime (path, 1700000000);
  first = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);

  /* A different file moved over the path with identical size and mtime. */
  set_mtime (other, 1700000000);
  g_assert_cmpint (g_rename (other, path), ==, 0);
  second = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_false (from_cache);
  g_assert_cmpstr (second, ==, "3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282");
}

static void
test_corrupt_cache_is_rewritten (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file (f, "m.gguf", "abc", 3);
  g_autofree char *ini = cache_file (f);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  const char garbage[] = "[unterminated\n\xff\xfe not utf-8 = [[[\nsize=\n";
  g_autofree char *hex = NULL;
  gboolean from_cache = TRUE;

  g_assert_cmpint (g_mkdir_with_parents (f->cache_dir, 0700), ==, 0);
  g_file_set_contents (ini, garbage, sizeof garbage - 1, &error);
  g_assert_no_error (error);

  hex = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_false (from_cache);
  g_assert_cmpstr (hex, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  /* The rewritten cache parses and serves the next call. */
  g_key_file_load_from_file (kf, ini, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  g_clear_pointer (&hex, g_free);
  hex = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_true (from_cache);
}

static void
test_bad_cache_entry_is_a_miss (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file (f, "m.gguf", "abc", 3);
  g_autofree char *ini = cache_file (f);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_auto (GStrv) groups = NULL;
  g_autofree char *first = tailor_file_sha256_cached (path, NULL, NULL, NULL, NULL, &error);
  g_autofree char *again = NULL;
  gboolean from_cache = TRUE;

  g_assert_no_error (error);
  g_key_file_load_from_file (kf, ini, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  groups = g_key_file_get_groups (kf, NULL);
  g_key_file_set_string (kf, groups[0], "sha256", "not-a-hash");
  g_key_file_set_string (kf, groups[0], "mtime-nsec", "soon");
  g_key_file_save_to_file (kf, ini, &error);
  g_assert_no_error (error);

  again = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_false (from_cache);
  g_assert_cmpstr (again, ==, first);
}

/* Odd characters in a path must not break the key file (group names forbid '[' ']'). */
static void
test_path_with_brackets_is_cached (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file (f, "we[i]rd\tname=é.gguf", "abc", 3);
  g_autofree char *hex = NULL;
  g_autofree char *again = NULL;
  gboolean from_cache = TRUE;

  hex = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_false (from_cache);
  again = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_true (from_cache);
  g_assert_cmpstr (again, ==, hex);
}

/* Relative and absolute spellings of one file share an entry. */
static void
test_relative_path_shares_entry (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file (f, "m.gguf", "abc", 3);
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *hex = NULL;
  gboolean from_cache = TRUE;

  hex = tailor_file_sha256_cached (path, NULL, NULL, NULL, &from_cache, &error);
  g_assert_no_error (error);
  g_assert_false (from_cache);
  g_assert_cmpint (g_chdir (f->dir), ==, 0);
  g_clear_pointer (&hex, g_free);
  hex = tailor_file_sha256_cached ("./m.gguf", NULL, NULL, NULL, &from_cache, &error);
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  g_assert_no_error (error);
  g_assert_true (from_cache);
}

static void
test_default_location_is_user_cache_dir (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("tailor-hash-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "m.gguf", NULL);
  g_autofree char *ini = g_build_filename (g_get_user_cache_dir (), "tailor", "sha256.ini", NULL);
  g_autofree char *hex = NULL;

  g_assert_no_error (error);
  g_unsetenv ("TAILOR_CACHE_DIR");
  g_file_set_contents (path, "abc", 3, &error);
  g_assert_no_error (error);
  hex = tailor_file_sha256_cached (path, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_test (ini, G_FILE_TEST_IS_REGULAR));
  g_remove (path);
  g_remove (dir);
}

static void
test_cancelled_before_start (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *path = write_file (f, "m.gguf", "abc", 3);
  g_autofree char *hex = NULL;

  g_cancellable_cancel (cancellable);
  hex = tailor_file_sha256 (path, cancellable, NULL, NULL, &error);
  g_assert_null (hex);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_cancelled_midway_stores_nothing (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *path = write_big_file (f, "big", NULL);
  g_autofree char *ini = cache_file (f);
  ProgressLog log = { 0, 0, 0, TRUE, cancellable };
  g_autofree char *hex = NULL;

  hex = tailor_file_sha256_cached (path, cancellable, log_progress, &log, NULL, &error);
  g_assert_null (hex);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (log.last_done, <, BIG_SIZE);
  g_assert_false (g_file_test (ini, G_FILE_TEST_EXISTS));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(name, fn) g_test_add (name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/hash/sha256-known-vectors", test_known_vectors);
  ADD ("/hash/sha256-multi-megabyte-file-matches-whole-buffer",
       test_multi_megabyte_matches_whole_buffer);
  ADD ("/hash/missing-file-error-names-it", test_missing_file_names_it);
  ADD ("/hash/cache/second-call-hits", test_second_call_hits_cache);
  ADD ("/hash/cache/answers-from-stored-entry", test_cache_answers_from_stored_entry);
  ADD ("/hash/cache/invalidated-on-size-change", test_invalidated_on_size_change);
  ADD ("/hash/cache/invalidated-on-mtime-change", test_invalidated_on_mtime_change);
  ADD ("/hash/cache/invalidated-on-inode-change", test_invalidated_on_inode_change);
  ADD ("/hash/cache/corrupt-file-tolerated-and-rewritten", test_corrupt_cache_is_rewritten);
  ADD ("/hash/cache/malformed-entry-is-a-miss", test_bad_cache_entry_is_a_miss);
  ADD ("/hash/cache/path-with-brackets-and-tabs", test_path_with_brackets_is_cached);
  ADD ("/hash/cache/relative-path-shares-entry", test_relative_path_shares_entry);
  ADD ("/hash/cancelled-before-start", test_cancelled_before_start);
  ADD ("/hash/cancelled-midway-stores-nothing", test_cancelled_midway_stores_nothing);
#undef ADD
  g_test_add_func ("/hash/cache/default-location-is-user-cache-dir",
                   test_default_location_is_user_cache_dir);

  return g_test_run ();
}
