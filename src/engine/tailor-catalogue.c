/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The catalogue: SQLite schema and migrations, records, and content-addressed example files. */
#include "config.h"

#include "tailor-catalogue.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (tailor-catalogue-error-quark, tailor_catalogue_error)

#define CATALOGUE_FILE  "catalogue.db"
#define EXAMPLES_FOLDER "examples"
/* Large enough to keep write() calls few, small enough not to matter next to the examples. */
#define WRITE_BUFFER (1024 * 1024)

/* Each step moves the schema from version i to i + 1 inside one transaction. Shipped steps never
 * change: a catalogue written by an older Tailor is exactly what its step left behind. */
static const char *const migrations[] = {
  /* 1: projects, sources and dataset versions. */
  "CREATE TABLE projects ("
  "  id INTEGER PRIMARY KEY,"
  "  name TEXT NOT NULL UNIQUE,"
  "  goal TEXT NOT NULL DEFAULT '',"
  "  base_model_path TEXT,"
  "  base_model_sha256 TEXT,"
  "  created INTEGER NOT NULL,"
  "  updated INTEGER NOT NULL);"
  "CREATE TABLE sources ("
  "  id INTEGER PRIMARY KEY,"
  "  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,"
  "  path TEXT NOT NULL,"
  "  sha256 TEXT NOT NULL,"
  "  size INTEGER NOT NULL,"
  "  license TEXT,"
  "  format TEXT,"
  "  imported INTEGER NOT NULL);"
  "CREATE INDEX sources_by_project ON sources (project_id);"
  "CREATE TABLE versions ("
  "  seq INTEGER PRIMARY KEY,"
  "  id TEXT NOT NULL,"
  "  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,"
  "  parent TEXT,"
  "  created INTEGER NOT NULL,"
  "  changelog TEXT NOT NULL,"
  "  split_settings TEXT NOT NULL,"
  "  hygiene_settings TEXT NOT NULL,"
  "  hygiene_counts TEXT NOT NULL,"
  "  train_sha256 TEXT NOT NULL,"
  "  eval_sha256 TEXT NOT NULL,"
  "  train_count INTEGER NOT NULL,"
  "  eval_count INTEGER NOT NULL,"
  "  eval_frozen INTEGER NOT NULL DEFAULT 0,"
  "  UNIQUE (project_id, id),"
  "  FOREIGN KEY (project_id, parent) REFERENCES versions (project_id, id) ON DELETE CASCADE);"
  "CREATE TABLE version_sources ("
  "  version_seq INTEGER NOT NULL REFERENCES versions (seq) ON DELETE CASCADE,"
  "  source_id INTEGER NOT NULL REFERENCES sources (id),"
  "  PRIMARY KEY (version_seq, source_id)) WITHOUT ROWID;"
  /* The database itself refuses changes, so no code path (ours or a script's) can rewrite
   * history that runs and adapters point at. Freezing the eval set is the one allowed change. */
  "CREATE TRIGGER versions_immutable BEFORE UPDATE OF seq, id, project_id, parent, created,"
  "  changelog, split_settings, hygiene_settings, hygiene_counts, train_sha256, eval_sha256,"
  "  train_count, eval_count ON versions"
  "  BEGIN SELECT RAISE (ABORT, 'dataset versions are immutable'); END;"
  "CREATE TRIGGER versions_eval_stays_frozen BEFORE UPDATE OF eval_frozen ON versions"
  "  WHEN OLD.eval_frozen AND NOT NEW.eval_frozen"
  "  BEGIN SELECT RAISE (ABORT, 'dataset versions are immutable: a frozen eval set stays frozen');"
  "  END;"
  "CREATE TRIGGER version_sources_immutable BEFORE UPDATE ON version_sources"
  "  BEGIN SELECT RAISE (ABORT, 'dataset versions are immutable'); END;",

  /* 2: wizard position, per-source counts, runs, metrics, adapters and evaluations. */
  "ALTER TABLE projects ADD COLUMN wizard_step TEXT;"
  "ALTER TABLE sources ADD COLUMN examples INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE sources ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0;"
  "CREATE TABLE runs ("
  "  id INTEGER PRIMARY KEY,"
  "  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,"
  "  dataset_version TEXT NOT NULL,"
  "  run_json TEXT NOT NULL,"
  "  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),"
  "  started INTEGER NOT NULL,"
  "  ended INTEGER,"
  "  output_dir TEXT NOT NULL,"
  "  FOREIGN KEY (project_id, dataset_version) REFERENCES versions (project_id, id)"
  "    ON DELETE CASCADE);"
  "CREATE INDEX runs_by_project ON runs (project_id);"
  /* value may be NULL: SQLite stores NaN as NULL, and a NaN loss is worth keeping. */
  "CREATE TABLE metrics ("
  "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
  "  name TEXT NOT NULL,"
  "  step INTEGER NOT NULL,"
  "  value REAL,"
  "  PRIMARY KEY (run_id, name, step)) WITHOUT ROWID;"
  "CREATE TABLE adapters ("
  "  id INTEGER PRIMARY KEY,"
  "  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,"
  "  run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,"
  "  version_number INTEGER NOT NULL,"
  "  bundle_path TEXT NOT NULL,"
  "  created INTEGER NOT NULL,"
  "  UNIQUE (project_id, version_number));"
  "CREATE TABLE evaluations ("
  "  id INTEGER PRIMARY KEY,"
  "  run_id INTEGER REFERENCES runs (id) ON DELETE CASCADE,"
  "  adapter_id INTEGER REFERENCES adapters (id) ON DELETE CASCADE,"
  "  set_name TEXT NOT NULL,"
  "  metric TEXT NOT NULL,"
  "  value REAL,"
  "  detail TEXT,"
  "  created INTEGER NOT NULL,"
  "  CHECK ((run_id IS NULL) <> (adapter_id IS NULL)));"
  "CREATE INDEX evaluations_by_run ON evaluations (run_id);"
  "CREATE INDEX evaluations_by_adapter ON evaluations (adapter_id);",
};

G_STATIC_ASSERT (G_N_ELEMENTS (migrations) == TAILOR_CATALOGUE_SCHEMA_VERSION);

struct _TailorCatalogue
{
  GObject parent_instance;

  sqlite3 *db;
  GHashTable *statements; /* SQL text (static) → sqlite3_stmt*, prepared once */
  char *dir;
  char *path;
  char *examples_dir;
  char *recovery_message;
  char *damage_reason; /* set while open finds the file damaged */
  guint busy_timeout_ms;
  guint depth; /* open transactions: 1 is BEGIN, more are savepoints */
  int schema_version;
};

G_DEFINE_FINAL_TYPE (TailorCatalogue, tailor_catalogue, G_TYPE_OBJECT)

/* Cached statements go back to the cache (reset, bindings cleared) when they leave scope. */
typedef sqlite3_stmt CachedStmt;

static void
cached_stmt_release (CachedStmt *stmt)
{
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CachedStmt, cached_stmt_release)

static void
finalize_stmt (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

static void
close_db (TailorCatalogue *self)
{
  g_hash_table_remove_all (self->statements);
  if (self->db != NULL)
    {
      if (self->depth > 0 && !sqlite3_get_autocommit (self->db))
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
      sqlite3_close (self->db);
      self->db = NULL;
    }
  self->depth = 0;
}

static void
tailor_catalogue_finalize (GObject *object)
{
  TailorCatalogue *self = TAILOR_CATALOGUE (object);

  close_db (self);
  g_clear_pointer (&self->statements, g_hash_table_unref);
  g_clear_pointer (&self->dir, g_free);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->examples_dir, g_free);
  g_clear_pointer (&self->recovery_message, g_free);
  g_clear_pointer (&self->damage_reason, g_free);

  G_OBJECT_CLASS (tailor_catalogue_parent_class)->finalize (object);
}

static void
tailor_catalogue_class_init (TailorCatalogueClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = tailor_catalogue_finalize;
}

static void
tailor_catalogue_init (TailorCatalogue *self)
{
  self->statements = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, finalize_stmt);
  self->busy_timeout_ms = TAILOR_CATALOGUE_DEFAULT_BUSY_TIMEOUT_MS;
}

/* ------------------------------------------------------------------------------------------ */
/* Errors */

static void
set_db_error (TailorCatalogue *self, int rc, const char *doing, GError **error)
{
  const char *message = self->db != NULL ? sqlite3_errmsg (self->db) : sqlite3_errstr (rc);

  switch (rc & 0xff)
    {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_LOCKED,
                     "“%s” is busy: another Tailor window or training run kept it locked for more "
                     "than %.1f s while %s. Close other Tailor windows or wait for the running "
                     "training to finish, then try again.",
                     self->path, self->busy_timeout_ms / 1000.0, doing);
        break;
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB:
        g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_CORRUPT,
                     "“%s” is damaged (%s) while %s. Tailor has not changed it; keep a copy of it, "
                     "then move it aside to start a new catalogue.",
                     self->path, message, doing);
        break;
      case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_TRIGGER && strstr (message, "immutable") != NULL)
          g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_IMMUTABLE,
                       "Cannot change a dataset version while %s: %s. Write a new version instead.",
                       doing, message);
        else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
          g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                       "Cannot finish %s: it refers to a project, source, version or run that is "
                       "not in “%s”.",
                       doing, self->path);
        else
          g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID,
                       "Cannot finish %s in “%s”: %s.", doing, self->path, message);
        break;
      case SQLITE_FULL:
        g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_IO,
                     "Cannot write “%s” while %s: the disk is full. Free some space and try again.",
                     self->path, doing);
        break;
      case SQLITE_IOERR:
      case SQLITE_CANTOPEN:
      case SQLITE_READONLY:
      case SQLITE_PERM:
        g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_IO,
                     "Cannot read or write “%s” while %s: %s. Check that the file and its folder "
                     "are readable and writable.",
                     self->path, doing, message);
        break;
      default:
        g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_FAILED,
                     "SQLite failed on “%s” while %s: %s.", self->path, doing, message);
        break;
    }
}

static gboolean
set_io_error (const char *what, const char *path, int saved_errno, GError **error)
{
  g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_IO,
               "Cannot %s “%s”: %s. Check that the folder exists, is writable and has free space.",
               what, path, g_strerror (saved_errno));
  return FALSE;
}

/* ------------------------------------------------------------------------------------------ */
/* Statements and transactions */

static CachedStmt *
prepare (TailorCatalogue *self, const char *sql, const char *doing, GError **error)
{
  sqlite3_stmt *stmt = g_hash_table_lookup (self->statements, sql);

  if (stmt == NULL)
    {
      int rc = sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);

      if (rc != SQLITE_OK)
        {
          set_db_error (self, rc, doing, error);
          return NULL;
        }
      g_hash_table_insert (self->statements, (gpointer) sql, stmt);
    }
  return stmt;
}

static gboolean
exec_sql (TailorCatalogue *self, const char *sql, const char *doing, GError **error)
{
  int rc = sqlite3_exec (self->db, sql, NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    {
      set_db_error (self, rc, doing, error);
      return FALSE;
    }
  return TRUE;
}

/* Steps a statement that returns no rows. */
static gboolean
step_done (TailorCatalogue *self, sqlite3_stmt *stmt, const char *doing, GError **error)
{
  int rc = sqlite3_step (stmt);

  if (rc != SQLITE_DONE)
    {
      set_db_error (self, rc, doing, error);
      return FALSE;
    }
  return TRUE;
}

static void
bind_text (sqlite3_stmt *stmt, int index, const char *text)
{
  sqlite3_bind_text (stmt, index, text, -1, SQLITE_TRANSIENT);
}

static char *
column_strdup (sqlite3_stmt *stmt, int column)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, column));
}

static double
column_double_or_nan (sqlite3_stmt *stmt, int column)
{
  if (sqlite3_column_type (stmt, column) == SQLITE_NULL)
    return NAN;
  return sqlite3_column_double (stmt, column);
}

/* Write transactions take the write lock at once (BEGIN IMMEDIATE), so the busy timeout covers
 * the whole wait; read transactions only pin a snapshot and never wait for a writer. */
static gboolean
tx_begin (TailorCatalogue *self, gboolean write, GError **error)
{
  g_autofree char *sql = NULL;

  if (self->depth == 0)
    sql = g_strdup (write ? "BEGIN IMMEDIATE" : "BEGIN");
  else
    sql = g_strdup_printf ("SAVEPOINT tailor_%u", self->depth);
  if (!exec_sql (self, sql, "starting a transaction", error))
    return FALSE;
  self->depth++;
  return TRUE;
}

static void
tx_rollback (TailorCatalogue *self)
{
  g_autofree char *sql = NULL;

  g_assert (self->depth > 0);

  self->depth--;
  /* SQLite rolls the whole transaction back itself after some errors (disk full, I/O). */
  if (sqlite3_get_autocommit (self->db))
    return;
  if (self->depth == 0)
    sql = g_strdup ("ROLLBACK");
  else
    sql = g_strdup_printf ("ROLLBACK TO tailor_%u; RELEASE tailor_%u", self->depth, self->depth);
  sqlite3_exec (self->db, sql, NULL, NULL, NULL);
}

static gboolean
tx_commit (TailorCatalogue *self, GError **error)
{
  g_autofree char *sql = NULL;

  g_assert (self->depth > 0);

  if (sqlite3_get_autocommit (self->db))
    {
      self->depth--;
      g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_FAILED,
                   "SQLite rolled back a transaction on “%s” after an earlier error; nothing "
                   "from it was saved. Try again.",
                   self->path);
      return FALSE;
    }
  if (self->depth == 1)
    sql = g_strdup ("COMMIT");
  else
    sql = g_strdup_printf ("RELEASE tailor_%u", self->depth - 1);
  if (!exec_sql (self, sql, "saving changes", error))
    {
      tx_rollback (self);
      return FALSE;
    }
  self->depth--;
  return TRUE;
}

/* Ends a transaction the way its body went: commits when ok, rolls back otherwise. */
static gboolean
tx_end (TailorCatalogue *self, gboolean ok, GError **error)
{
  if (!ok)
    {
      tx_rollback (self);
      return FALSE;
    }
  return tx_commit (self, error);
}

gboolean
tailor_catalogue_begin (TailorCatalogue *self, GError **error)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return tx_begin (self, TRUE, error);
}

gboolean
tailor_catalogue_commit (TailorCatalogue *self, GError **error)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (self->depth > 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return tx_commit (self, error);
}

void
tailor_catalogue_rollback (TailorCatalogue *self)
{
  g_return_if_fail (TAILOR_IS_CATALOGUE (self));
  g_return_if_fail (self->depth > 0);

  tx_rollback (self);
}

/* ------------------------------------------------------------------------------------------ */
/* Opening, migrating, setting a damaged file aside */

char *
tailor_catalogue_default_dir (void)
{
  const char *env = g_getenv ("TAILOR_DATA_DIR");

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  return g_build_filename (g_get_user_data_dir (), "tailor", NULL);
}

static gboolean
read_user_version (TailorCatalogue *self, int *version, GError **error)
{
  g_autoptr (CachedStmt) stmt =
    prepare (self, "PRAGMA user_version", "reading the schema version", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      set_db_error (self, rc, "reading the schema version", error);
      return FALSE;
    }
  *version = sqlite3_column_int (stmt, 0);
  return TRUE;
}

static gboolean
remember_damage (TailorCatalogue *self, const char *reason, GError **error)
{
  g_free (self->damage_reason);
  self->damage_reason = g_strdup (reason);
  g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_CORRUPT,
               "%s is damaged: %s. Tailor has not changed it; keep a copy of it, then move it "
               "aside (Tailor then starts a new, empty catalogue) or restore it from a backup.",
               self->path, reason);
  return FALSE;
}

static gboolean
check_integrity (TailorCatalogue *self, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  g_autofree char *first = NULL;
  int rc;

  /* quick_check reads every page but skips index cross-checks: milliseconds for a catalogue,
   * whose bulk (the examples) lives in files. */
  rc = sqlite3_prepare_v2 (self->db, "PRAGMA quick_check", -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW)
        first = column_strdup (stmt, 0);
    }
  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    rc = SQLITE_OK;
  else
    rc = sqlite3_errcode (self->db);
  sqlite3_finalize (stmt);

  if (rc != SQLITE_OK)
    {
      if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
        return remember_damage (self, sqlite3_errstr (rc), error);
      set_db_error (self, rc, "checking the catalogue", error);
      return FALSE;
    }
  if (first != NULL && g_strcmp0 (first, "ok") != 0)
    {
      /* quick_check lists every bad page; the first few lines say enough. */
      g_auto (GStrv) lines = g_strsplit (first, "\n", 4);
      g_autofree char *reason = NULL;

      if (g_strv_length (lines) > 3)
        g_clear_pointer (&lines[3], g_free);
      reason = g_strjoinv ("; ", lines);
      return remember_damage (self, reason, error);
    }
  return TRUE;
}

static gboolean
migrate (TailorCatalogue *self, int from, GError **error)
{
  /* Only a catalogue that needs a step takes the write lock, so opening never waits for a
   * training run that is writing. The version is read again inside the transaction because
   * another process may have migrated meanwhile. */
  for (int target = from + 1; target <= TAILOR_CATALOGUE_SCHEMA_VERSION; target++)
    {
      g_autofree char *set_version = g_strdup_printf ("PRAGMA user_version = %d", target);
      int current = 0;
      gboolean ok;

      if (!tx_begin (self, TRUE, error))
        return FALSE;
      ok = read_user_version (self, &current, error);
      if (ok && current < target)
        ok = exec_sql (self, migrations[target - 1], "upgrading the catalogue", error) &&
             exec_sql (self, set_version, "upgrading the catalogue", error);
      if (!tx_end (self, ok, error))
        return FALSE;
    }
  return read_user_version (self, &self->schema_version, error);
}

static gboolean
open_db (TailorCatalogue *self, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int version = 0;
  int rc;

  g_clear_pointer (&self->damage_reason, g_free);
  rc = sqlite3_open_v2 (self->path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc != SQLITE_OK)
    {
      set_db_error (self, rc, "opening it", error);
      close_db (self);
      return FALSE;
    }
  sqlite3_extended_result_codes (self->db, 1);
  sqlite3_busy_timeout (self->db, self->busy_timeout_ms);

  /* Read before anything writes: a damaged or newer catalogue must stay exactly as it is. */
  if (!read_user_version (self, &version, error))
    {
      rc = sqlite3_errcode (self->db);
      if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
        {
          g_clear_error (error);
          remember_damage (self, sqlite3_errstr (rc), error);
        }
      return FALSE;
    }
  if (version > TAILOR_CATALOGUE_SCHEMA_VERSION)
    {
      g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_TOO_NEW,
                   "%s was written by a newer Tailor (catalogue schema %d; this Tailor knows up "
                   "to %d). Tailor does not downgrade catalogues; update Tailor to open it.",
                   self->path, version, TAILOR_CATALOGUE_SCHEMA_VERSION);
      return FALSE;
    }
  if (!check_integrity (self, error))
    return FALSE;

  if (!exec_sql (self, "PRAGMA foreign_keys = ON", "turning on foreign keys", error))
    return FALSE;
  /* WAL lets the app read while a training process writes. Asking again when it is already
   * WAL changes nothing and takes no lock. */
  rc = sqlite3_prepare_v2 (self->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    rc = sqlite3_errcode (self->db);
  else
    rc = SQLITE_OK;
  sqlite3_finalize (stmt);
  if (rc != SQLITE_OK)
    {
      set_db_error (self, rc, "switching to write-ahead logging", error);
      return FALSE;
    }
  /* NORMAL is durable across application crashes in WAL mode and much cheaper per commit. */
  if (!exec_sql (self, "PRAGMA synchronous = NORMAL", "setting durability", error))
    return FALSE;

  return migrate (self, version, error);
}

static gboolean
rename_if_exists (const char *from, const char *to, GError **error)
{
  if (!g_file_test (from, G_FILE_TEST_EXISTS))
    return TRUE;
  if (g_rename (from, to) != 0)
    return set_io_error ("move aside", from, errno, error);
  return TRUE;
}

static gboolean
set_aside_damaged (TailorCatalogue *self, GError **error)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  g_autofree char *kept = g_strdup_printf ("%s.damaged-%s", self->path, stamp);
  static const char *const suffixes[] = { "-wal", "-shm" };

  for (guint n = 2; g_file_test (kept, G_FILE_TEST_EXISTS); n++)
    {
      g_free (kept);
      kept = g_strdup_printf ("%s.damaged-%s-%u", self->path, stamp, n);
    }

  if (!rename_if_exists (self->path, kept, error))
    return FALSE;
  /* The log and index travel with the file so the kept copy is exactly what was there. */
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *from = g_strconcat (self->path, suffixes[i], NULL);
      g_autofree char *to = g_strconcat (kept, suffixes[i], NULL);

      if (!rename_if_exists (from, to, error))
        return FALSE;
    }

  self->recovery_message = g_strdup_printf ("%s is damaged: %s; Tailor kept a copy at %s and "
                                            "started a new one.",
                                            CATALOGUE_FILE, self->damage_reason, kept);
  return TRUE;
}

TailorCatalogue *
tailor_catalogue_open (const char *dir, TailorCatalogueOpenFlags flags, GError **error)
{
  g_autoptr (TailorCatalogue) self = NULL;
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (TAILOR_TYPE_CATALOGUE, NULL);
  self->dir = dir != NULL ? g_strdup (dir) : tailor_catalogue_default_dir ();
  self->path = g_build_filename (self->dir, CATALOGUE_FILE, NULL);
  self->examples_dir = g_build_filename (self->dir, EXAMPLES_FOLDER, NULL);

  if (g_mkdir_with_parents (self->dir, 0700) != 0)
    {
      set_io_error ("create the folder", self->dir, errno, error);
      return NULL;
    }

  if (open_db (self, &local_error))
    return g_steal_pointer (&self);

  close_db (self);
  if ((flags & TAILOR_CATALOGUE_OPEN_SET_ASIDE_DAMAGED) == 0 || self->damage_reason == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  if (!set_aside_damaged (self, error) || !open_db (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

const char *
tailor_catalogue_get_dir (TailorCatalogue *self)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  return self->dir;
}

const char *
tailor_catalogue_get_path (TailorCatalogue *self)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  return self->path;
}

int
tailor_catalogue_get_schema_version (TailorCatalogue *self)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), 0);
  return self->schema_version;
}

const char *
tailor_catalogue_get_recovery_message (TailorCatalogue *self)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  return self->recovery_message;
}

void
tailor_catalogue_set_busy_timeout (TailorCatalogue *self, guint milliseconds)
{
  g_return_if_fail (TAILOR_IS_CATALOGUE (self));

  self->busy_timeout_ms = milliseconds;
  sqlite3_busy_timeout (self->db, (int) MIN (milliseconds, (guint) G_MAXINT));
}

/* ------------------------------------------------------------------------------------------ */
/* Records */

void
tailor_project_free (TailorProject *self)
{
  if (self == NULL)
    return;
  g_free (self->name);
  g_free (self->goal);
  g_free (self->base_model_path);
  g_free (self->base_model_sha256);
  g_free (self->wizard_step);
  g_free (self);
}

void
tailor_source_free (TailorSource *self)
{
  if (self == NULL)
    return;
  g_free (self->path);
  g_free (self->sha256);
  g_free (self->license);
  g_free (self->format);
  g_free (self);
}

void
tailor_dataset_version_free (TailorDatasetVersion *self)
{
  if (self == NULL)
    return;
  g_free (self->id);
  g_free (self->parent);
  g_free (self->changelog);
  g_free (self->split_settings);
  g_free (self->hygiene_settings);
  g_free (self->hygiene_counts);
  g_free (self->train_sha256);
  g_free (self->eval_sha256);
  g_clear_pointer (&self->source_ids, g_array_unref);
  g_free (self);
}

void
tailor_run_free (TailorRun *self)
{
  if (self == NULL)
    return;
  g_free (self->dataset_version);
  g_free (self->run_json);
  g_free (self->status);
  g_free (self->output_dir);
  g_free (self);
}

void
tailor_evaluation_free (TailorEvaluation *self)
{
  if (self == NULL)
    return;
  g_free (self->set_name);
  g_free (self->metric);
  g_free (self->detail);
  g_free (self);
}

void
tailor_adapter_free (TailorAdapter *self)
{
  if (self == NULL)
    return;
  g_free (self->bundle_path);
  g_free (self);
}

static gboolean
set_not_found (const char *what, gint64 id, GError **error)
{
  g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
               "There is no %s with id %" G_GINT64_FORMAT " in the catalogue; list them to see "
               "which exist.",
               what, id);
  return FALSE;
}

static void
append_json_string (GString *out, const char *text)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_VALUE);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *quoted = NULL;

  json_node_set_string (node, text);
  json_generator_set_root (generator, node);
  quoted = json_generator_to_data (generator, NULL);
  g_string_append (out, quoted);
}

/* The shortest decimal that reads back as the same double: 0.8, not 0.80000000000000004. */
static void
append_shortest_double (GString *out, double value)
{
  static const char *const formats[] = { "%.15g", "%.16g", "%.17g" };
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_ascii_formatd (buffer, sizeof buffer, formats[i], value);
      if (g_ascii_strtod (buffer, NULL) == value)
        break;
    }
  g_string_append (out, buffer);
}

/* Members sorted, no spaces, numbers in their shortest round-trip form: equal settings give
 * equal text (and so equal version ids) however the caller wrote them. */
static void
append_canonical (GString *out, JsonNode *node)
{
  switch (json_node_get_node_type (node))
    {
      case JSON_NODE_OBJECT:
        {
          JsonObject *object = json_node_get_object (node);
          GList *names = g_list_sort (json_object_get_members (object), (GCompareFunc) strcmp);

          g_string_append_c (out, '{');
          for (GList *l = names; l != NULL; l = l->next)
            {
              if (l != names)
                g_string_append_c (out, ',');
              append_json_string (out, l->data);
              g_string_append_c (out, ':');
              append_canonical (out, json_object_get_member (object, l->data));
            }
          g_string_append_c (out, '}');
          g_list_free (names);
        }
        break;
      case JSON_NODE_ARRAY:
        {
          JsonArray *array = json_node_get_array (node);

          g_string_append_c (out, '[');
          for (guint i = 0; i < json_array_get_length (array); i++)
            {
              if (i > 0)
                g_string_append_c (out, ',');
              append_canonical (out, json_array_get_element (array, i));
            }
          g_string_append_c (out, ']');
        }
        break;
      case JSON_NODE_NULL:
        g_string_append (out, "null");
        break;
      case JSON_NODE_VALUE:
        if (json_node_get_value_type (node) == G_TYPE_INT64)
          g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
        else if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
          append_shortest_double (out, json_node_get_double (node));
        else if (json_node_get_value_type (node) == G_TYPE_BOOLEAN)
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
        else
          append_json_string (out, json_node_get_string (node));
        break;
      default:
        g_assert_not_reached ();
    }
}

/* Accepts NULL as {}. */
static char *
canonical_json (const char *json, const char *what, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) parse_error = NULL;
  GString *out;

  if (json == NULL)
    return g_strdup ("{}");
  if (!json_parser_load_from_data (parser, json, -1, &parse_error) ||
      json_parser_get_root (parser) == NULL)
    {
      g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID,
                   "The %s to store are not valid JSON (%s); pass a JSON document or NULL.", what,
                   parse_error != NULL ? parse_error->message : "empty");
      return NULL;
    }
  out = g_string_new (NULL);
  append_canonical (out, json_parser_get_root (parser));
  return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------------------------ */
/* Projects */

#define PROJECT_COLUMNS \
  "id, name, goal, base_model_path, base_model_sha256, wizard_step, created, updated"

static TailorProject *
project_from_row (sqlite3_stmt *stmt)
{
  TailorProject *project = g_new0 (TailorProject, 1);

  project->id = sqlite3_column_int64 (stmt, 0);
  project->name = column_strdup (stmt, 1);
  project->goal = column_strdup (stmt, 2);
  project->base_model_path = column_strdup (stmt, 3);
  project->base_model_sha256 = column_strdup (stmt, 4);
  project->wizard_step = column_strdup (stmt, 5);
  project->created = sqlite3_column_int64 (stmt, 6);
  project->updated = sqlite3_column_int64 (stmt, 7);
  return project;
}

static gboolean
check_project_name (const char *name, GError **error)
{
  g_autofree char *stripped = g_strstrip (g_strdup (name));

  if (*stripped == '\0' || !g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID,
                           "A project name must be non-empty UTF-8 text; type a name.");
      return FALSE;
    }
  return TRUE;
}

static void
set_name_taken (const char *name, GError **error)
{
  g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_EXISTS,
               "A project named “%s” already exists; choose another name.", name);
}

TailorProject *
tailor_catalogue_get_project (TailorCatalogue *self, gint64 project_id, GError **error)
{
  g_autoptr (CachedStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = prepare (self, "SELECT " PROJECT_COLUMNS " FROM projects WHERE id = ?",
                  "reading a project", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, project_id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return project_from_row (stmt);
  if (rc == SQLITE_DONE)
    set_not_found ("project", project_id, error);
  else
    set_db_error (self, rc, "reading a project", error);
  return NULL;
}

TailorProject *
tailor_catalogue_find_project (TailorCatalogue *self, const char *name, GError **error)
{
  g_autoptr (CachedStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = prepare (self, "SELECT " PROJECT_COLUMNS " FROM projects WHERE name = ?",
                  "finding a project", error);
  if (stmt == NULL)
    return NULL;
  bind_text (stmt, 1, name);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return project_from_row (stmt);
  if (rc == SQLITE_DONE)
    g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                 "There is no project named “%s”; create it first or check the spelling.", name);
  else
    set_db_error (self, rc, "finding a project", error);
  return NULL;
}

TailorProject *
tailor_catalogue_create_project (TailorCatalogue *self,
                                 const char *name,
                                 const char *goal,
                                 GError **error)
{
  gint64 now = g_get_real_time ();
  gint64 id = 0;
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_project_name (name, error) || !tx_begin (self, TRUE, error))
    return NULL;
  {
    g_autoptr (CachedStmt) stmt = prepare (self,
                                           "INSERT INTO projects (name, goal, created, updated) "
                                           "VALUES (?, ?, ?, ?)",
                                           "creating a project", error);
    int rc;

    ok = stmt != NULL;
    if (ok)
      {
        bind_text (stmt, 1, name);
        bind_text (stmt, 2, goal != NULL ? goal : "");
        sqlite3_bind_int64 (stmt, 3, now);
        sqlite3_bind_int64 (stmt, 4, now);
        rc = sqlite3_step (stmt);
        if (rc == SQLITE_CONSTRAINT_UNIQUE)
          set_name_taken (name, error);
        else if (rc != SQLITE_DONE)
          set_db_error (self, rc, "creating a project", error);
        ok = rc == SQLITE_DONE;
        id = sqlite3_last_insert_rowid (self->db);
      }
  }
  if (!tx_end (self, ok, error))
    return NULL;
  return tailor_catalogue_get_project (self, id, error);
}

GPtrArray *
tailor_catalogue_list_projects (TailorCatalogue *self, GError **error)
{
  g_autoptr (CachedStmt) stmt = NULL;
  g_autoptr (GPtrArray) projects =
    g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_project_free);
  int rc;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = prepare (self, "SELECT " PROJECT_COLUMNS " FROM projects ORDER BY name, id",
                  "listing projects", error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (projects, project_from_row (stmt));
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, rc, "listing projects", error);
      return NULL;
    }
  return g_steal_pointer (&projects);
}

/* Runs an UPDATE of one project (?1 id, ?2 and ?3 values, ?4 the time) that must hit a row. */
static gboolean
update_project (TailorCatalogue *self,
                gint64 project_id,
                const char *sql,
                const char *value1,
                const char *value2,
                const char *doing,
                GError **error)
{
  gboolean ok;

  if (!tx_begin (self, TRUE, error))
    return FALSE;
  {
    g_autoptr (CachedStmt) stmt = prepare (self, sql, doing, error);
    int rc;

    ok = stmt != NULL;
    if (ok)
      {
        sqlite3_bind_int64 (stmt, 1, project_id);
        bind_text (stmt, 2, value1);
        bind_text (stmt, 3, value2);
        sqlite3_bind_int64 (stmt, 4, g_get_real_time ());
        rc = sqlite3_step (stmt);
        if (rc == SQLITE_CONSTRAINT_UNIQUE)
          set_name_taken (value1, error);
        else if (rc != SQLITE_DONE)
          set_db_error (self, rc, doing, error);
        else if (sqlite3_changes (self->db) == 0)
          set_not_found ("project", project_id, error);
        ok = rc == SQLITE_DONE && sqlite3_changes (self->db) > 0;
      }
  }
  return tx_end (self, ok, error);
}

gboolean
tailor_catalogue_rename_project (TailorCatalogue *self,
                                 gint64 project_id,
                                 const char *name,
                                 GError **error)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_project_name (name, error))
    return FALSE;
  return update_project (self, project_id,
                         "UPDATE projects SET name = ?2, updated = ?4 WHERE id = ?1", name, NULL,
                         "renaming a project", error);
}

gboolean
tailor_catalogue_set_project_goal (TailorCatalogue *self,
                                   gint64 project_id,
                                   const char *goal,
                                   GError **error)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return update_project (self, project_id,
                         "UPDATE projects SET goal = ?2, updated = ?4 WHERE id = ?1",
                         goal != NULL ? goal : "", NULL, "setting a project's goal", error);
}

gboolean
tailor_catalogue_set_project_base_model (
  TailorCatalogue *self, gint64 project_id, const char *path, const char *sha256, GError **error)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return update_project (self, project_id,
                         "UPDATE projects SET base_model_path = ?2, base_model_sha256 = ?3, "
                         "updated = ?4 WHERE id = ?1",
                         path, sha256, "setting a project's base model", error);
}

gboolean
tailor_catalogue_set_project_wizard_step (TailorCatalogue *self,
                                          gint64 project_id,
                                          const char *step,
                                          GError **error)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return update_project (self, project_id,
                         "UPDATE projects SET wizard_step = ?2, updated = ?4 "
                         "WHERE id = ?1",
                         step, NULL, "saving the wizard step", error);
}

gboolean
tailor_catalogue_delete_project (TailorCatalogue *self, gint64 project_id, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!tx_begin (self, TRUE, error))
    return FALSE;
  {
    g_autoptr (CachedStmt) stmt =
      prepare (self, "DELETE FROM projects WHERE id = ?", "deleting a project", error);

    ok = stmt != NULL;
    if (ok)
      {
        sqlite3_bind_int64 (stmt, 1, project_id);
        ok = step_done (self, stmt, "deleting a project", error);
        if (ok && sqlite3_changes (self->db) == 0)
          ok = set_not_found ("project", project_id, error);
      }
  }
  return tx_end (self, ok, error);
}

/* ------------------------------------------------------------------------------------------ */
/* Sources */

gint64
tailor_catalogue_add_source (TailorCatalogue *self, TailorSource *source, GError **error)
{
  gint64 now = g_get_real_time ();
  gint64 id = 0;
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), 0);
  g_return_val_if_fail (source != NULL, 0);
  g_return_val_if_fail (source->path != NULL, 0);
  g_return_val_if_fail (source->sha256 != NULL, 0);
  g_return_val_if_fail (error == NULL || *error == NULL, 0);

  if (!tx_begin (self, TRUE, error))
    return 0;
  {
    g_autoptr (CachedStmt) stmt = prepare (self,
                                           "INSERT INTO sources (project_id, path, sha256, size, "
                                           "license, format, imported, examples, rejected) "
                                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                           "adding a source", error);

    ok = stmt != NULL;
    if (ok)
      {
        sqlite3_bind_int64 (stmt, 1, source->project_id);
        bind_text (stmt, 2, source->path);
        bind_text (stmt, 3, source->sha256);
        sqlite3_bind_int64 (stmt, 4, (sqlite3_int64) source->size);
        bind_text (stmt, 5, source->license);
        bind_text (stmt, 6, source->format);
        sqlite3_bind_int64 (stmt, 7, now);
        sqlite3_bind_int64 (stmt, 8, (sqlite3_int64) source->examples);
        sqlite3_bind_int64 (stmt, 9, (sqlite3_int64) source->rejected);
        ok = step_done (self, stmt, "adding a source", error);
        id = sqlite3_last_insert_rowid (self->db);
      }
  }
  if (!tx_end (self, ok, error))
    return 0;
  source->id = id;
  source->imported = now;
  return id;
}

GPtrArray *
tailor_catalogue_list_sources (TailorCatalogue *self, gint64 project_id, GError **error)
{
  g_autoptr (CachedStmt) stmt = NULL;
  g_autoptr (GPtrArray) sources =
    g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_source_free);
  int rc;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = prepare (self,
                  "SELECT id, project_id, path, sha256, size, license, format, imported, "
                  "examples, rejected FROM sources WHERE project_id = ? ORDER BY id",
                  "listing sources", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, project_id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      TailorSource *source = g_new0 (TailorSource, 1);

      source->id = sqlite3_column_int64 (stmt, 0);
      source->project_id = sqlite3_column_int64 (stmt, 1);
      source->path = column_strdup (stmt, 2);
      source->sha256 = column_strdup (stmt, 3);
      source->size = (guint64) sqlite3_column_int64 (stmt, 4);
      source->license = column_strdup (stmt, 5);
      source->format = column_strdup (stmt, 6);
      source->imported = sqlite3_column_int64 (stmt, 7);
      source->examples = (guint64) sqlite3_column_int64 (stmt, 8);
      source->rejected = (guint64) sqlite3_column_int64 (stmt, 9);
      g_ptr_array_add (sources, source);
    }
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, rc, "listing sources", error);
      return NULL;
    }
  return g_steal_pointer (&sources);
}

gboolean
tailor_catalogue_set_source_license (TailorCatalogue *self,
                                     gint64 source_id,
                                     const char *license,
                                     GError **error)
{
  const char *doing = "changing a source file's license";
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!tx_begin (self, TRUE, error))
    return FALSE;
  {
    g_autoptr (CachedStmt) stmt =
      prepare (self, "UPDATE sources SET license = ?2 WHERE id = ?1", doing, error);
    int rc;

    ok = stmt != NULL;
    if (ok)
      {
        sqlite3_bind_int64 (stmt, 1, source_id);
        /* an empty license is no license declared, as at import */
        bind_text (stmt, 2, license != NULL && license[0] != '\0' ? license : NULL);
        rc = sqlite3_step (stmt);
        if (rc != SQLITE_DONE)
          set_db_error (self, rc, doing, error);
        else if (sqlite3_changes (self->db) == 0)
          set_not_found ("source", source_id, error);
        ok = rc == SQLITE_DONE && sqlite3_changes (self->db) > 0;
      }
  }
  return tx_end (self, ok, error);
}

/* ------------------------------------------------------------------------------------------ */
/* Example files */

static char *
examples_path (TailorCatalogue *self, const char *sha256)
{
  g_autofree char *prefix = g_strndup (sha256, 2);
  g_autofree char *name = g_strconcat (sha256, ".jsonl", NULL);

  return g_build_filename (self->examples_dir, prefix, name, NULL);
}

static gboolean
write_all (int fd, const char *data, gsize len, const char *path, GError **error)
{
  while (len > 0)
    {
      gssize n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return set_io_error ("write", path, errno, error);
      data += n;
      len -= n;
    }
  return TRUE;
}

static void
fsync_dir (const char *dir)
{
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  /* Best effort: some file systems refuse fsync on folders, and the file itself is synced. */
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
}

/* Hands out the lines to store one at a time (without their newline): NULL at the end, or on
 * failure with error set. */
typedef const char *(*LineSource) (gpointer data, gsize *len, GError **error);

/* Writes lines (each followed by "\n") to a temporary file, syncs it, and renames it to its
 * content hash; when a file of that hash is already there, keeps that one. Returns the hash. */
static char *
store_lines_from (TailorCatalogue *self, LineSource next, gpointer data, GError **error)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr (GString) buffer = g_string_sized_new (WRITE_BUFFER + 4096);
  g_autofree char *tmp = NULL;
  g_autofree char *final = NULL;
  g_autofree char *final_dir = NULL;
  char *sha256;
  gboolean ok = TRUE;
  int fd;

  if (g_mkdir_with_parents (self->examples_dir, 0700) != 0)
    {
      set_io_error ("create the folder", self->examples_dir, errno, error);
      return NULL;
    }
  tmp = g_build_filename (self->examples_dir, ".incoming-XXXXXX", NULL);
  fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      set_io_error ("create", tmp, errno, error);
      return NULL;
    }

  while (ok)
    {
      g_autoptr (GError) source_error = NULL;
      gsize len = 0;
      const char *line = next (data, &len, &source_error);

      if (line == NULL && source_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&source_error));
          ok = FALSE;
          break;
        }
      if (line != NULL)
        {
          g_string_append_len (buffer, line, len);
          g_string_append_c (buffer, '\n');
        }
      if (buffer->len > 0 && (buffer->len >= WRITE_BUFFER || line == NULL))
        {
          g_checksum_update (checksum, (const guchar *) buffer->str, buffer->len);
          ok = write_all (fd, buffer->str, buffer->len, tmp, error);
          g_string_truncate (buffer, 0);
        }
      if (line == NULL)
        break;
    }
  if (ok && fsync (fd) != 0)
    ok = set_io_error ("sync", tmp, errno, error);
  if (close (fd) != 0 && ok)
    ok = set_io_error ("close", tmp, errno, error);
  if (!ok)
    {
      g_unlink (tmp);
      return NULL;
    }

  sha256 = g_strdup (g_checksum_get_string (checksum));
  final = examples_path (self, sha256);
  final_dir = g_path_get_dirname (final);
  if (g_file_test (final, G_FILE_TEST_EXISTS))
    {
      g_unlink (tmp);
      return sha256;
    }
  /* Read-only: a stored file is referenced by its hash and must never change in place. */
  if (g_mkdir_with_parents (final_dir, 0700) != 0 || g_chmod (tmp, 0444) != 0 ||
      g_rename (tmp, final) != 0)
    {
      int saved = errno;

      g_unlink (tmp);
      g_free (sha256);
      set_io_error ("store", final, saved, error);
      return NULL;
    }
  fsync_dir (final_dir);
  return sha256;
}

typedef struct
{
  GPtrArray *lines;
  guint next;
} LineArraySource;

static const char *
next_array_line (gpointer data, gsize *len, GError **error)
{
  LineArraySource *source = data;
  const char *line;

  if (source->next == source->lines->len)
    return NULL;
  line = g_ptr_array_index (source->lines, source->next++);
  *len = strlen (line);
  return line;
}

typedef struct
{
  char hash[65];
  char *line;
} HashedLine;

static void
hashed_line_clear (gpointer data)
{
  g_free (((HashedLine *) data)->line);
}

static int
compare_hashed_lines (gconstpointer a, gconstpointer b)
{
  return strcmp (((const HashedLine *) a)->hash, ((const HashedLine *) b)->hash);
}

/* Canonical lines of a split, sorted by their SHA-256 so the stored bytes depend on the set of
 * examples only, not on the order the caller happened to produce them in. */
static GArray *
hash_examples (GPtrArray *examples)
{
  GArray *hashed = g_array_sized_new (FALSE, TRUE, sizeof (HashedLine), examples->len);

  g_array_set_clear_func (hashed, hashed_line_clear);
  for (guint i = 0; i < examples->len; i++)
    {
      HashedLine entry;
      g_autofree char *hex = NULL;

      entry.line = tailor_example_to_json (g_ptr_array_index (examples, i));
      hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, entry.line, -1);
      memcpy (entry.hash, hex, sizeof entry.hash);
      g_array_append_val (hashed, entry);
    }
  g_array_sort (hashed, compare_hashed_lines);
  return hashed;
}

/* The hex SHA-256 of line i of a split (0 train, 1 eval), in stored order; scratch may hold it. */
typedef const char *(*LineHashFunc) (gpointer data, guint split, guint i, char scratch[65]);

/* The version's identity: what is in each split and the settings that made it. Hashes cover
 * the whole stored line (tags included), so re-tagging makes a new version. Every way of writing
 * a version computes it here. */
static char *
content_id_from_hashes (const guint counts[2],
                        LineHashFunc hash_at,
                        gpointer data,
                        const char *split_settings,
                        const char *hygiene_settings)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  static const char *const names[] = { "train\n", "eval\n" };
  char scratch[65];

  g_checksum_update (checksum, (const guchar *) "tailor-dataset-version 1\n", -1);
  for (guint s = 0; s < G_N_ELEMENTS (names); s++)
    {
      g_checksum_update (checksum, (const guchar *) names[s], -1);
      for (guint i = 0; i < counts[s]; i++)
        {
          g_checksum_update (checksum, (const guchar *) hash_at (data, s, i, scratch), 64);
          g_checksum_update (checksum, (const guchar *) "\n", 1);
        }
    }
  g_checksum_update (checksum, (const guchar *) "split_settings\n", -1);
  g_checksum_update (checksum, (const guchar *) split_settings, -1);
  g_checksum_update (checksum, (const guchar *) "\nhygiene_settings\n", -1);
  g_checksum_update (checksum, (const guchar *) hygiene_settings, -1);
  return g_strdup (g_checksum_get_string (checksum));
}

static const char *
hashed_line_hash_at (gpointer data, guint split, guint i, char scratch[65])
{
  GArray **splits = data;

  return g_array_index (splits[split], HashedLine, i).hash;
}

static char *
version_content_id (GArray *train,
                    GArray *eval,
                    const char *split_settings,
                    const char *hygiene_settings)
{
  GArray *splits[] = { train, eval };
  guint counts[] = { train->len, eval->len };

  return content_id_from_hashes (counts, hashed_line_hash_at, splits, split_settings,
                                 hygiene_settings);
}

char *
tailor_catalogue_get_examples_path (TailorCatalogue *self,
                                    const TailorDatasetVersion *version,
                                    TailorSplit split)
{
  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (version != NULL, NULL);

  return examples_path (self,
                        split == TAILOR_SPLIT_TRAIN ? version->train_sha256 : version->eval_sha256);
}

/* ------------------------------------------------------------------------------------------ */
/* Dataset versions */

#define VERSION_COLUMNS                                                                 \
  "seq, id, project_id, parent, created, changelog, split_settings, hygiene_settings, " \
  "hygiene_counts, train_sha256, eval_sha256, train_count, eval_count, eval_frozen"

static gboolean
load_version_sources (TailorCatalogue *self,
                      gint64 seq,
                      TailorDatasetVersion *version,
                      GError **error)
{
  g_autoptr (CachedStmt) stmt = prepare (self,
                                         "SELECT source_id FROM version_sources "
                                         "WHERE version_seq = ? ORDER BY source_id",
                                         "reading a version's sources", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, seq);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (stmt, 0);
      g_array_append_val (version->source_ids, id);
    }
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, rc, "reading a version's sources", error);
      return FALSE;
    }
  return TRUE;
}

/* Reads every row of a prepared version query, sources included. */
static GPtrArray *
collect_versions (TailorCatalogue *self, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr (GPtrArray) versions =
    g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_dataset_version_free);
  g_autoptr (GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      TailorDatasetVersion *version = g_new0 (TailorDatasetVersion, 1);
      gint64 seq = sqlite3_column_int64 (stmt, 0);

      version->id = column_strdup (stmt, 1);
      version->project_id = sqlite3_column_int64 (stmt, 2);
      version->parent = column_strdup (stmt, 3);
      version->created = sqlite3_column_int64 (stmt, 4);
      version->changelog = column_strdup (stmt, 5);
      version->split_settings = column_strdup (stmt, 6);
      version->hygiene_settings = column_strdup (stmt, 7);
      version->hygiene_counts = column_strdup (stmt, 8);
      version->train_sha256 = column_strdup (stmt, 9);
      version->eval_sha256 = column_strdup (stmt, 10);
      version->train_count = (guint64) sqlite3_column_int64 (stmt, 11);
      version->eval_count = (guint64) sqlite3_column_int64 (stmt, 12);
      version->eval_frozen = sqlite3_column_int (stmt, 13) != 0;
      version->source_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_ptr_array_add (versions, version);
      g_array_append_val (seqs, seq);
    }
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, rc, "reading dataset versions", error);
      return NULL;
    }
  sqlite3_reset (stmt);
  for (guint i = 0; i < versions->len; i++)
    if (!load_version_sources (self, g_array_index (seqs, gint64, i),
                               g_ptr_array_index (versions, i), error))
      return NULL;
  return g_steal_pointer (&versions);
}

/* project_id 0: any project. Sets NOT_FOUND when there is none. */
static TailorDatasetVersion *
lookup_version (TailorCatalogue *self, gint64 project_id, const char *version_id, GError **error)
{
  g_autoptr (CachedStmt) stmt = prepare (self,
                                         "SELECT " VERSION_COLUMNS " FROM versions WHERE id = ?1 "
                                         "AND (?2 = 0 OR project_id = ?2) ORDER BY seq LIMIT 1",
                                         "reading a dataset version", error);
  g_autoptr (GPtrArray) found = NULL;

  if (stmt == NULL)
    return NULL;
  bind_text (stmt, 1, version_id);
  sqlite3_bind_int64 (stmt, 2, project_id);
  found = collect_versions (self, stmt, error);
  if (found == NULL)
    return NULL;
  if (found->len == 0)
    {
      g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                   "There is no dataset version “%s”%s; `tailor-cli data versions PROJECT` lists "
                   "them.",
                   version_id, project_id != 0 ? " in this project" : "");
      return NULL;
    }
  return g_ptr_array_steal_index (found, 0);
}

TailorDatasetVersion *
tailor_catalogue_get_version (TailorCatalogue *self,
                              gint64 project_id,
                              const char *version_id,
                              GError **error)
{
  TailorDatasetVersion *version = NULL;
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (version_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!tx_begin (self, FALSE, error))
    return NULL;
  version = lookup_version (self, project_id, version_id, error);
  ok = version != NULL;
  if (!tx_end (self, ok, error))
    g_clear_pointer (&version, tailor_dataset_version_free);
  return version;
}

GPtrArray *
tailor_catalogue_list_versions (TailorCatalogue *self, gint64 project_id, GError **error)
{
  g_autoptr (GPtrArray) versions = NULL;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* One snapshot for the versions and their sources, even while a run writes. */
  if (!tx_begin (self, FALSE, error))
    return NULL;
  {
    g_autoptr (CachedStmt) stmt = prepare (self,
                                           "SELECT " VERSION_COLUMNS " FROM versions "
                                           "WHERE project_id = ? ORDER BY seq",
                                           "listing dataset versions", error);

    if (stmt != NULL)
      {
        sqlite3_bind_int64 (stmt, 1, project_id);
        versions = collect_versions (self, stmt, error);
      }
  }
  if (!tx_end (self, versions != NULL, error))
    return NULL;
  return g_steal_pointer (&versions);
}

static gboolean
insert_version (TailorCatalogue *self,
                gint64 project_id,
                const TailorVersionRequest *request,
                const char *id,
                const char *split_settings,
                const char *hygiene_settings,
                const char *hygiene_counts,
                const char *train_sha256,
                const char *eval_sha256,
                guint train_count,
                guint eval_count,
                gboolean *inserted,
                GError **error)
{
  g_autoptr (CachedStmt) stmt = prepare (self,
                                         "INSERT INTO versions (id, project_id, parent, created, "
                                         "changelog, split_settings, hygiene_settings, "
                                         "hygiene_counts, train_sha256, eval_sha256, train_count, "
                                         "eval_count, eval_frozen) "
                                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                         "ON CONFLICT (project_id, id) DO NOTHING",
                                         "recording a dataset version", error);
  gint64 seq;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, id);
  sqlite3_bind_int64 (stmt, 2, project_id);
  bind_text (stmt, 3, request->parent);
  sqlite3_bind_int64 (stmt, 4, g_get_real_time ());
  bind_text (stmt, 5, request->changelog != NULL ? request->changelog : "");
  bind_text (stmt, 6, split_settings);
  bind_text (stmt, 7, hygiene_settings);
  bind_text (stmt, 8, hygiene_counts);
  bind_text (stmt, 9, train_sha256);
  bind_text (stmt, 10, eval_sha256);
  sqlite3_bind_int64 (stmt, 11, train_count);
  sqlite3_bind_int64 (stmt, 12, eval_count);
  sqlite3_bind_int (stmt, 13, request->freeze_eval ? 1 : 0);
  if (!step_done (self, stmt, "recording a dataset version", error))
    return FALSE;
  /* Another process wrote the same content first: that version stands. */
  *inserted = sqlite3_changes (self->db) > 0;
  if (!*inserted)
    return TRUE;
  seq = sqlite3_last_insert_rowid (self->db);

  for (guint i = 0; i < request->n_source_ids; i++)
    {
      g_autoptr (CachedStmt) link = prepare (self,
                                             "INSERT OR IGNORE INTO version_sources "
                                             "(version_seq, source_id) SELECT ?1, id FROM sources "
                                             "WHERE id = ?2 AND project_id = ?3",
                                             "recording a version's sources", error);

      if (link == NULL)
        return FALSE;
      sqlite3_bind_int64 (link, 1, seq);
      sqlite3_bind_int64 (link, 2, request->source_ids[i]);
      sqlite3_bind_int64 (link, 3, project_id);
      if (!step_done (self, link, "recording a version's sources", error))
        return FALSE;
      if (sqlite3_changes (self->db) == 0)
        {
          /* Distinguish a repeated id (ignored) from one that is not this project's. */
          g_autoptr (CachedStmt) check = prepare (self,
                                                  "SELECT 1 FROM sources WHERE id = ? AND "
                                                  "project_id = ?",
                                                  "recording a version's sources", error);
          int rc;

          if (check == NULL)
            return FALSE;
          sqlite3_bind_int64 (check, 1, request->source_ids[i]);
          sqlite3_bind_int64 (check, 2, project_id);
          rc = sqlite3_step (check);
          if (rc == SQLITE_DONE)
            {
              g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                           "Source %" G_GINT64_FORMAT " is not a source of this project; add "
                           "it with the project before naming it in a version.",
                           request->source_ids[i]);
              return FALSE;
            }
          if (rc != SQLITE_ROW)
            {
              set_db_error (self, rc, "recording a version's sources", error);
              return FALSE;
            }
        }
    }
  return TRUE;
}

/* Everything after the id: an existing version of that id is returned (frozen when asked), else
 * the parent is checked, the files stored and the version recorded. */
static TailorDatasetVersion *
record_version (TailorCatalogue *self,
                gint64 project_id,
                const TailorVersionRequest *request,
                const char *id,
                const char *split_settings,
                const char *hygiene_settings,
                const char *hygiene_counts,
                LineSource next_line,
                gpointer train_data,
                guint train_count,
                gpointer eval_data,
                guint eval_count,
                gboolean *created,
                GError **error)
{
  g_autofree char *train_sha256 = NULL;
  g_autofree char *eval_sha256 = NULL;
  g_autoptr (GError) lookup_error = NULL;
  TailorDatasetVersion *existing;
  gboolean inserted = FALSE;
  gboolean ok;

  existing = tailor_catalogue_get_version (self, project_id, id, &lookup_error);
  if (existing != NULL && request->freeze_eval && !existing->eval_frozen)
    {
      /* Asking for the same content frozen is asking to freeze it. */
      if (!tailor_catalogue_freeze_eval (self, project_id, id, error))
        {
          tailor_dataset_version_free (existing);
          return NULL;
        }
      existing->eval_frozen = TRUE;
    }
  if (existing != NULL)
    return existing;
  if (!g_error_matches (lookup_error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&lookup_error));
      return NULL;
    }
  if (request->parent != NULL)
    {
      g_autoptr (TailorDatasetVersion) parent = NULL;
      g_autoptr (GError) parent_error = NULL;

      parent = tailor_catalogue_get_version (self, project_id, request->parent, &parent_error);
      if (parent == NULL)
        {
          if (g_error_matches (parent_error, TAILOR_CATALOGUE_ERROR,
                               TAILOR_CATALOGUE_ERROR_NOT_FOUND))
            g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                         "The parent version “%s” is not in this project; name a version that "
                         "`tailor-cli data versions PROJECT` lists, or none.",
                         request->parent);
          else
            g_propagate_error (error, g_steal_pointer (&parent_error));
          return NULL;
        }
    }

  /* Files first, outside the transaction: the write lock is held only for the few inserts.
   * A failure after this leaves unreferenced files, which a later identical write reuses. */
  train_sha256 = store_lines_from (self, next_line, train_data, error);
  if (train_sha256 == NULL)
    return NULL;
  eval_sha256 = store_lines_from (self, next_line, eval_data, error);
  if (eval_sha256 == NULL)
    return NULL;

  if (!tx_begin (self, TRUE, error))
    return NULL;
  ok =
    insert_version (self, project_id, request, id, split_settings, hygiene_settings, hygiene_counts,
                    train_sha256, eval_sha256, train_count, eval_count, &inserted, error);
  if (!tx_end (self, ok, error))
    return NULL;

  if (created != NULL)
    *created = inserted;
  return tailor_catalogue_get_version (self, project_id, id, error);
}

TailorDatasetVersion *
tailor_catalogue_write_version (TailorCatalogue *self,
                                gint64 project_id,
                                const TailorVersionRequest *request,
                                GPtrArray *train,
                                GPtrArray *eval,
                                gboolean *created,
                                GError **error)
{
  g_autofree char *split_settings = NULL;
  g_autofree char *hygiene_settings = NULL;
  g_autofree char *hygiene_counts = NULL;
  g_autofree char *id = NULL;
  g_autoptr (GArray) train_lines = NULL;
  g_autoptr (GArray) eval_lines = NULL;
  g_autoptr (GPtrArray) train_text = NULL;
  g_autoptr (GPtrArray) eval_text = NULL;
  LineArraySource train_source;
  LineArraySource eval_source;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (request != NULL, NULL);
  g_return_val_if_fail (request->n_source_ids == 0 || request->source_ids != NULL, NULL);
  g_return_val_if_fail (train != NULL, NULL);
  g_return_val_if_fail (eval != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (created != NULL)
    *created = FALSE;

  split_settings = canonical_json (request->split_settings, "split settings", error);
  if (split_settings == NULL)
    return NULL;
  hygiene_settings = canonical_json (request->hygiene_settings, "hygiene settings", error);
  if (hygiene_settings == NULL)
    return NULL;
  hygiene_counts = canonical_json (request->hygiene_counts, "hygiene counts", error);
  if (hygiene_counts == NULL)
    return NULL;

  train_lines = hash_examples (train);
  eval_lines = hash_examples (eval);
  id = version_content_id (train_lines, eval_lines, split_settings, hygiene_settings);

  train_text = g_ptr_array_sized_new (train_lines->len);
  for (guint i = 0; i < train_lines->len; i++)
    g_ptr_array_add (train_text, g_array_index (train_lines, HashedLine, i).line);
  eval_text = g_ptr_array_sized_new (eval_lines->len);
  for (guint i = 0; i < eval_lines->len; i++)
    g_ptr_array_add (eval_text, g_array_index (eval_lines, HashedLine, i).line);
  train_source = (LineArraySource){ train_text, 0 };
  eval_source = (LineArraySource){ eval_text, 0 };
  return record_version (self, project_id, request, id, split_settings, hygiene_settings,
                         hygiene_counts, next_array_line, &train_source, train_lines->len,
                         &eval_source, eval_lines->len, created, error);
}

/* ------------------------------------------------------------------------------------------ */
/* Versions written one example at a time */

char *
tailor_catalogue_make_spool_dir (TailorCatalogue *self, GError **error)
{
  g_autofree char *tmp_dir = NULL;
  g_autofree char *spool = NULL;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  tmp_dir = g_build_filename (self->dir, "tmp", NULL);
  if (g_mkdir_with_parents (tmp_dir, 0700) != 0)
    {
      set_io_error ("create the folder", tmp_dir, errno, error);
      return NULL;
    }
  spool = g_build_filename (tmp_dir, "spool-XXXXXX", NULL);
  if (g_mkdtemp_full (spool, 0700) == NULL)
    {
      set_io_error ("create", spool, errno, error);
      return NULL;
    }
  return g_steal_pointer (&spool);
}

/* A spooled line: its SHA-256 and where its bytes are in the spool file. */
typedef struct
{
  guint8 hash[32];
  guint64 offset;
  guint32 len;
} SpooledLine;

struct _TailorVersionWriter
{
  TailorCatalogue *catalogue;
  char *dir;  /* the spool folder, removed with the writer */
  char *path; /* the spool file in it */
  int fd;
  GString *buffer; /* bytes not yet written to the spool */
  guint64 flushed; /* spool bytes written before the buffer */
  GChecksum *checksum;
  GArray *lines[2]; /* SpooledLine per split, sorted by hash in finish */
  gboolean finished;
};

void
tailor_version_writer_free (TailorVersionWriter *self)
{
  if (self == NULL)
    return;
  if (self->fd >= 0)
    close (self->fd);
  if (self->path != NULL)
    g_unlink (self->path);
  if (self->dir != NULL)
    g_rmdir (self->dir);
  g_clear_object (&self->catalogue);
  g_free (self->dir);
  g_free (self->path);
  if (self->buffer != NULL)
    g_string_free (self->buffer, TRUE);
  g_clear_pointer (&self->checksum, g_checksum_free);
  g_clear_pointer (&self->lines[0], g_array_unref);
  g_clear_pointer (&self->lines[1], g_array_unref);
  g_free (self);
}

TailorVersionWriter *
tailor_catalogue_new_version_writer (TailorCatalogue *self, GError **error)
{
  g_autoptr (TailorVersionWriter) writer = NULL;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  writer = g_new0 (TailorVersionWriter, 1);
  writer->fd = -1;
  writer->catalogue = g_object_ref (self);
  writer->buffer = g_string_sized_new (WRITE_BUFFER + 4096);
  writer->checksum = g_checksum_new (G_CHECKSUM_SHA256);
  writer->lines[TAILOR_SPLIT_TRAIN] = g_array_new (FALSE, FALSE, sizeof (SpooledLine));
  writer->lines[TAILOR_SPLIT_EVAL] = g_array_new (FALSE, FALSE, sizeof (SpooledLine));
  writer->dir = tailor_catalogue_make_spool_dir (self, error);
  if (writer->dir == NULL)
    return NULL;
  writer->path = g_build_filename (writer->dir, "version.jsonl", NULL);
  writer->fd = g_open (writer->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (writer->fd < 0)
    {
      set_io_error ("create", writer->path, errno, error);
      g_clear_pointer (&writer->path, g_free);
      return NULL;
    }
  return g_steal_pointer (&writer);
}

static gboolean
flush_spool (TailorVersionWriter *self, GError **error)
{
  if (self->buffer->len == 0)
    return TRUE;
  if (!write_all (self->fd, self->buffer->str, self->buffer->len, self->path, error))
    return FALSE;
  self->flushed += self->buffer->len;
  g_string_truncate (self->buffer, 0);
  return TRUE;
}

gboolean
tailor_version_writer_add_line (
  TailorVersionWriter *self, TailorSplit split, const char *line, gssize len, GError **error)
{
  SpooledLine entry;
  gsize digest_len = sizeof entry.hash;

  g_return_val_if_fail (self != NULL && !self->finished, FALSE);
  g_return_val_if_fail (split == TAILOR_SPLIT_TRAIN || split == TAILOR_SPLIT_EVAL, FALSE);
  g_return_val_if_fail (line != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (len < 0)
    len = strlen (line);
  if ((gsize) len > G_MAXUINT32 || memchr (line, '\n', len) != NULL)
    {
      g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID,
                   "An example line of %" G_GSSIZE_FORMAT " bytes cannot be stored: lines are "
                   "one canonical JSON object each, without newlines, under 4 GiB.",
                   len);
      return FALSE;
    }
  g_checksum_reset (self->checksum);
  g_checksum_update (self->checksum, (const guchar *) line, len);
  g_checksum_get_digest (self->checksum, entry.hash, &digest_len);
  entry.offset = self->flushed + self->buffer->len;
  entry.len = (guint32) len;
  g_array_append_val (self->lines[split], entry);
  g_string_append_len (self->buffer, line, len);
  g_string_append_c (self->buffer, '\n');
  if (self->buffer->len >= WRITE_BUFFER)
    return flush_spool (self, error);
  return TRUE;
}

gboolean
tailor_version_writer_add (TailorVersionWriter *self,
                           TailorSplit split,
                           const TailorExample *example,
                           GError **error)
{
  g_autofree char *line = NULL;

  g_return_val_if_fail (self != NULL && !self->finished, FALSE);
  g_return_val_if_fail (example != NULL, FALSE);

  line = tailor_example_to_json (example);
  return tailor_version_writer_add_line (self, split, line, -1, error);
}

static int
compare_spooled_lines (gconstpointer a, gconstpointer b)
{
  return memcmp (((const SpooledLine *) a)->hash, ((const SpooledLine *) b)->hash, 32);
}

static const char *
spooled_hash_at (gpointer data, guint split, guint i, char scratch[65])
{
  static const char hex[] = "0123456789abcdef";
  TailorVersionWriter *self = data;
  const SpooledLine *entry = &g_array_index (self->lines[split], SpooledLine, i);

  for (guint b = 0; b < 32; b++)
    {
      scratch[2 * b] = hex[entry->hash[b] >> 4];
      scratch[2 * b + 1] = hex[entry->hash[b] & 15];
    }
  scratch[64] = '\0';
  return scratch;
}

/* Reads one split's lines back from the spool in hash order. */
typedef struct
{
  TailorVersionWriter *writer;
  GArray *lines;
  guint next;
  GString *scratch;
} SpoolSource;

static const char *
next_spooled_line (gpointer data, gsize *len, GError **error)
{
  SpoolSource *source = data;
  const SpooledLine *entry;
  gsize done = 0;

  if (source->next == source->lines->len)
    return NULL;
  entry = &g_array_index (source->lines, SpooledLine, source->next++);
  g_string_set_size (source->scratch, entry->len);
  while (done < entry->len)
    {
      gssize n = pread (source->writer->fd, source->scratch->str + done, entry->len - done,
                        (off_t) (entry->offset + done));

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          set_io_error ("read back", source->writer->path, n < 0 ? errno : EIO, error);
          return NULL;
        }
      done += n;
    }
  *len = entry->len;
  return source->scratch->str;
}

TailorDatasetVersion *
tailor_version_writer_finish (TailorVersionWriter *self,
                              gint64 project_id,
                              const TailorVersionRequest *request,
                              gboolean *created,
                              GError **error)
{
  g_autofree char *split_settings = NULL;
  g_autofree char *hygiene_settings = NULL;
  g_autofree char *hygiene_counts = NULL;
  g_autofree char *id = NULL;
  g_autoptr (GString) train_scratch = g_string_new (NULL);
  g_autoptr (GString) eval_scratch = g_string_new (NULL);
  SpoolSource train_source;
  SpoolSource eval_source;
  guint counts[2];

  g_return_val_if_fail (self != NULL && !self->finished, NULL);
  g_return_val_if_fail (request != NULL, NULL);
  g_return_val_if_fail (request->n_source_ids == 0 || request->source_ids != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self->finished = TRUE;
  if (created != NULL)
    *created = FALSE;
  if (self->lines[0]->len > G_MAXUINT32 - self->lines[1]->len)
    {
      g_set_error_literal (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID,
                           "A dataset version holds at most 4,294,967,295 examples.");
      return NULL;
    }
  split_settings = canonical_json (request->split_settings, "split settings", error);
  if (split_settings == NULL)
    return NULL;
  hygiene_settings = canonical_json (request->hygiene_settings, "hygiene settings", error);
  if (hygiene_settings == NULL)
    return NULL;
  hygiene_counts = canonical_json (request->hygiene_counts, "hygiene counts", error);
  if (hygiene_counts == NULL)
    return NULL;
  if (!flush_spool (self, error))
    return NULL;

  /* Equal hashes are equal lines, so the order of ties does not show in the bytes. */
  g_array_sort (self->lines[TAILOR_SPLIT_TRAIN], compare_spooled_lines);
  g_array_sort (self->lines[TAILOR_SPLIT_EVAL], compare_spooled_lines);
  counts[0] = self->lines[TAILOR_SPLIT_TRAIN]->len;
  counts[1] = self->lines[TAILOR_SPLIT_EVAL]->len;
  id = content_id_from_hashes (counts, spooled_hash_at, self, split_settings, hygiene_settings);

  train_source = (SpoolSource){ self, self->lines[TAILOR_SPLIT_TRAIN], 0, train_scratch };
  eval_source = (SpoolSource){ self, self->lines[TAILOR_SPLIT_EVAL], 0, eval_scratch };
  return record_version (self->catalogue, project_id, request, id, split_settings, hygiene_settings,
                         hygiene_counts, next_spooled_line, &train_source, counts[0], &eval_source,
                         counts[1], created, error);
}

gboolean
tailor_catalogue_freeze_eval (TailorCatalogue *self,
                              gint64 project_id,
                              const char *version_id,
                              GError **error)
{
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (version_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!tx_begin (self, TRUE, error))
    return FALSE;
  {
    g_autoptr (CachedStmt) stmt = prepare (self,
                                           "UPDATE versions SET eval_frozen = 1 "
                                           "WHERE project_id = ? AND id = ?",
                                           "freezing an evaluation set", error);

    ok = stmt != NULL;
    if (ok)
      {
        sqlite3_bind_int64 (stmt, 1, project_id);
        bind_text (stmt, 2, version_id);
        ok = step_done (self, stmt, "freezing an evaluation set", error);
        if (ok && sqlite3_changes (self->db) == 0)
          {
            g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                         "There is no dataset version “%s” in this project to freeze.", version_id);
            ok = FALSE;
          }
      }
  }
  return tx_end (self, ok, error);
}

static char *
format_time (gint64 usec)
{
  g_autoptr (GDateTime) seconds = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);
  g_autoptr (GDateTime) precise = g_date_time_add (seconds, usec % G_USEC_PER_SEC);

  return g_date_time_format_iso8601 (precise);
}

JsonNode *
tailor_catalogue_versions_to_json (GPtrArray *versions)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  g_return_val_if_fail (versions != NULL, NULL);

  json_builder_begin_array (builder);
  for (guint i = 0; i < versions->len; i++)
    {
      const TailorDatasetVersion *version = g_ptr_array_index (versions, i);
      g_autofree char *created = format_time (version->created);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_string_value (builder, version->id);
      json_builder_set_member_name (builder, "parent");
      if (version->parent != NULL)
        json_builder_add_string_value (builder, version->parent);
      else
        json_builder_add_null_value (builder);
      json_builder_set_member_name (builder, "created");
      json_builder_add_string_value (builder, created);
      json_builder_set_member_name (builder, "changelog");
      json_builder_add_string_value (builder, version->changelog);
      json_builder_set_member_name (builder, "train");
      json_builder_add_int_value (builder, (gint64) version->train_count);
      json_builder_set_member_name (builder, "eval");
      json_builder_add_int_value (builder, (gint64) version->eval_count);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  return json_builder_get_root (builder);
}

/* ------------------------------------------------------------------------------------------ */
/* Streaming examples back */

struct _TailorExampleReader
{
  GDataInputStream *input;
  GChecksum *checksum;
  char *path;
  char *expected_sha256;
  guint64 line;
  gboolean finished;
};

void
tailor_example_reader_free (TailorExampleReader *self)
{
  if (self == NULL)
    return;
  g_clear_object (&self->input);
  g_clear_pointer (&self->checksum, g_checksum_free);
  g_free (self->path);
  g_free (self->expected_sha256);
  g_free (self);
}

TailorExampleReader *
tailor_catalogue_read_examples (TailorCatalogue *self,
                                const TailorDatasetVersion *version,
                                TailorSplit split,
                                GError **error)
{
  g_autoptr (TailorExampleReader) reader = NULL;
  g_autoptr (GFile) file = NULL;
  g_autoptr (GFileInputStream) stream = NULL;
  g_autoptr (GError) open_error = NULL;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (version != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  reader = g_new0 (TailorExampleReader, 1);
  reader->path = tailor_catalogue_get_examples_path (self, version, split);
  reader->expected_sha256 =
    g_strdup (split == TAILOR_SPLIT_TRAIN ? version->train_sha256 : version->eval_sha256);
  reader->checksum = g_checksum_new (G_CHECKSUM_SHA256);
  file = g_file_new_for_path (reader->path);
  stream = g_file_read (file, NULL, &open_error);
  if (stream == NULL)
    {
      g_set_error (error, TAILOR_CATALOGUE_ERROR,
                   g_error_matches (open_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)
                     ? TAILOR_CATALOGUE_ERROR_CORRUPT
                     : TAILOR_CATALOGUE_ERROR_IO,
                   "Cannot read the %s examples of version %s: %s. The catalogue's examples "
                   "folder is incomplete; restore it from a backup or import the data again.",
                   split == TAILOR_SPLIT_TRAIN ? "training" : "evaluation", version->id,
                   open_error->message);
      return NULL;
    }
  reader->input = g_data_input_stream_new (G_INPUT_STREAM (stream));
  return g_steal_pointer (&reader);
}

static void
set_examples_damaged (TailorExampleReader *self, const char *why, GError **error)
{
  self->finished = TRUE;
  g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_CORRUPT,
               "%s:%" G_GUINT64_FORMAT ": %s. This examples file was changed after Tailor wrote "
               "it; restore it from a backup or import the data again.",
               self->path, self->line, why);
}

TailorExample *
tailor_example_reader_next (TailorExampleReader *self, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *line = NULL;
  TailorExample *example;
  gsize length = 0;
  int newline = -1;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (self->finished)
    return NULL;

  /* read_upto leaves the newline in the stream, so a missing final newline stays visible to
   * the checksum instead of being papered over. */
  line = g_data_input_stream_read_upto (self->input, "\n", 1, &length, NULL, &local_error);
  if (line == NULL && local_error == NULL)
    {
      self->finished = TRUE;
      if (g_strcmp0 (g_checksum_get_string (self->checksum), self->expected_sha256) != 0)
        {
          set_examples_damaged (self, "its SHA-256 does not match the one recorded", error);
          return NULL;
        }
      return NULL;
    }
  if (line == NULL)
    {
      self->finished = TRUE;
      g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_IO,
                   "Cannot read “%s”: %s.", self->path, local_error->message);
      return NULL;
    }
  /* read_upto returns either at a newline, which is then in the buffer, or at the end. */
  if (g_buffered_input_stream_get_available (G_BUFFERED_INPUT_STREAM (self->input)) > 0)
    newline = g_data_input_stream_read_byte (self->input, NULL, NULL);
  self->line++;
  g_checksum_update (self->checksum, (const guchar *) line, length);
  if (newline == '\n')
    g_checksum_update (self->checksum, (const guchar *) "\n", 1);

  example = tailor_example_from_json (line, &local_error);
  if (example == NULL)
    {
      set_examples_damaged (self, local_error->message, error);
      return NULL;
    }
  example->source = g_strdup (self->path);
  example->line = self->line;
  return example;
}

/* ------------------------------------------------------------------------------------------ */
/* Runs, metrics, evaluations, adapters */

#define RUN_COLUMNS "id, project_id, dataset_version, run_json, status, started, ended, output_dir"

static gboolean
check_json (const char *json, const char *what, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) parse_error = NULL;

  if (!json_parser_load_from_data (parser, json, -1, &parse_error))
    {
      g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID,
                   "The %s to store is not valid JSON: %s.", what, parse_error->message);
      return FALSE;
    }
  return TRUE;
}

TailorRun *
tailor_catalogue_get_run (TailorCatalogue *self, gint64 run_id, GError **error)
{
  g_autoptr (CachedStmt) stmt = NULL;
  TailorRun *run;
  int rc;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = prepare (self, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?", "reading a run", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, run_id);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      if (rc == SQLITE_DONE)
        set_not_found ("run", run_id, error);
      else
        set_db_error (self, rc, "reading a run", error);
      return NULL;
    }
  run = g_new0 (TailorRun, 1);
  run->id = sqlite3_column_int64 (stmt, 0);
  run->project_id = sqlite3_column_int64 (stmt, 1);
  run->dataset_version = column_strdup (stmt, 2);
  run->run_json = column_strdup (stmt, 3);
  run->status = column_strdup (stmt, 4);
  run->started = sqlite3_column_int64 (stmt, 5);
  run->ended = sqlite3_column_int64 (stmt, 6);
  run->output_dir = column_strdup (stmt, 7);
  return run;
}

TailorRun *
tailor_catalogue_add_run (TailorCatalogue *self,
                          gint64 project_id,
                          const char *version_id,
                          const char *run_json,
                          const char *output_dir,
                          GError **error)
{
  gint64 id = 0;
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (version_id != NULL, NULL);
  g_return_val_if_fail (run_json != NULL, NULL);
  g_return_val_if_fail (output_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_json (run_json, "run.json", error) || !tx_begin (self, TRUE, error))
    return NULL;
  {
    g_autoptr (CachedStmt) stmt = prepare (self,
                                           "INSERT INTO runs (project_id, dataset_version, "
                                           "run_json, status, started, output_dir) "
                                           "VALUES (?, ?, ?, 'running', ?, ?)",
                                           "recording a run", error);

    ok = stmt != NULL;
    if (ok)
      {
        sqlite3_bind_int64 (stmt, 1, project_id);
        bind_text (stmt, 2, version_id);
        bind_text (stmt, 3, run_json);
        sqlite3_bind_int64 (stmt, 4, g_get_real_time ());
        bind_text (stmt, 5, output_dir);
        ok = step_done (self, stmt, "recording a run", error);
        id = sqlite3_last_insert_rowid (self->db);
      }
  }
  if (!tx_end (self, ok, error))
    return NULL;
  return tailor_catalogue_get_run (self, id, error);
}

gboolean
tailor_catalogue_finish_run (TailorCatalogue *self,
                             gint64 run_id,
                             const char *status,
                             GError **error)
{
  static const char *const finished[] = { "done", "failed", "cancelled", NULL };
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (status != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!g_strv_contains (finished, status))
    {
      g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_INVALID,
                   "“%s” is not a final run status; use done, failed or cancelled.", status);
      return FALSE;
    }
  if (!tx_begin (self, TRUE, error))
    return FALSE;
  {
    g_autoptr (CachedStmt) stmt = prepare (
      self, "UPDATE runs SET status = ?, ended = ? WHERE id = ?", "finishing a run", error);

    ok = stmt != NULL;
    if (ok)
      {
        bind_text (stmt, 1, status);
        sqlite3_bind_int64 (stmt, 2, g_get_real_time ());
        sqlite3_bind_int64 (stmt, 3, run_id);
        ok = step_done (self, stmt, "finishing a run", error);
        if (ok && sqlite3_changes (self->db) == 0)
          ok = set_not_found ("run", run_id, error);
      }
  }
  return tx_end (self, ok, error);
}

GPtrArray *
tailor_catalogue_list_runs (TailorCatalogue *self, gint64 project_id, GError **error)
{
  g_autoptr (GPtrArray) runs = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_run_free);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (CachedStmt) stmt = NULL;
  gboolean ok;
  int rc;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!tx_begin (self, FALSE, error))
    return NULL;
  stmt =
    prepare (self, "SELECT id FROM runs WHERE project_id = ? ORDER BY id", "listing runs", error);
  ok = stmt != NULL;
  if (ok)
    {
      sqlite3_bind_int64 (stmt, 1, project_id);
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        {
          gint64 id = sqlite3_column_int64 (stmt, 0);
          g_array_append_val (ids, id);
        }
      if (rc != SQLITE_DONE)
        {
          set_db_error (self, rc, "listing runs", error);
          ok = FALSE;
        }
    }
  for (guint i = 0; ok && i < ids->len; i++)
    {
      TailorRun *run = tailor_catalogue_get_run (self, g_array_index (ids, gint64, i), error);

      ok = run != NULL;
      if (ok)
        g_ptr_array_add (runs, run);
    }
  if (!tx_end (self, ok, error))
    return NULL;
  return g_steal_pointer (&runs);
}

gboolean
tailor_catalogue_add_metric (
  TailorCatalogue *self, gint64 run_id, gint64 step, const char *name, double value, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!tx_begin (self, TRUE, error))
    return FALSE;
  {
    g_autoptr (CachedStmt) stmt = prepare (self,
                                           "INSERT INTO metrics (run_id, name, step, value) "
                                           "VALUES (?, ?, ?, ?) ON CONFLICT (run_id, name, step) "
                                           "DO UPDATE SET value = excluded.value",
                                           "recording a metric", error);

    ok = stmt != NULL;
    if (ok)
      {
        sqlite3_bind_int64 (stmt, 1, run_id);
        bind_text (stmt, 2, name);
        sqlite3_bind_int64 (stmt, 3, step);
        sqlite3_bind_double (stmt, 4, value);
        ok = step_done (self, stmt, "recording a metric", error);
      }
  }
  return tx_end (self, ok, error);
}

GArray *
tailor_catalogue_list_metrics (TailorCatalogue *self,
                               gint64 run_id,
                               const char *name,
                               GError **error)
{
  g_autoptr (GArray) points = g_array_new (FALSE, FALSE, sizeof (TailorMetricPoint));
  g_autoptr (CachedStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt =
    prepare (self, "SELECT step, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY step",
             "reading metrics", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, run_id);
  bind_text (stmt, 2, name);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      TailorMetricPoint point = { sqlite3_column_int64 (stmt, 0), column_double_or_nan (stmt, 1) };
      g_array_append_val (points, point);
    }
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, rc, "reading metrics", error);
      return NULL;
    }
  return g_steal_pointer (&points);
}

gint64
tailor_catalogue_add_evaluation (TailorCatalogue *self,
                                 gint64 run_id,
                                 gint64 adapter_id,
                                 const char *set_name,
                                 const char *metric,
                                 double value,
                                 const char *detail_json,
                                 GError **error)
{
  gint64 id = 0;
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), 0);
  g_return_val_if_fail ((run_id != 0) != (adapter_id != 0), 0);
  g_return_val_if_fail (set_name != NULL, 0);
  g_return_val_if_fail (metric != NULL, 0);
  g_return_val_if_fail (error == NULL || *error == NULL, 0);

  if (detail_json != NULL && !check_json (detail_json, "evaluation detail", error))
    return 0;
  if (!tx_begin (self, TRUE, error))
    return 0;
  {
    g_autoptr (CachedStmt) stmt = prepare (self,
                                           "INSERT INTO evaluations (run_id, adapter_id, set_name, "
                                           "metric, value, detail, created) "
                                           "VALUES (NULLIF (?, 0), NULLIF (?, 0), ?, ?, ?, ?, ?)",
                                           "recording an evaluation", error);

    ok = stmt != NULL;
    if (ok)
      {
        sqlite3_bind_int64 (stmt, 1, run_id);
        sqlite3_bind_int64 (stmt, 2, adapter_id);
        bind_text (stmt, 3, set_name);
        bind_text (stmt, 4, metric);
        sqlite3_bind_double (stmt, 5, value);
        bind_text (stmt, 6, detail_json);
        sqlite3_bind_int64 (stmt, 7, g_get_real_time ());
        ok = step_done (self, stmt, "recording an evaluation", error);
        id = sqlite3_last_insert_rowid (self->db);
      }
  }
  if (!tx_end (self, ok, error))
    return 0;
  return id;
}

GPtrArray *
tailor_catalogue_list_evaluations (TailorCatalogue *self,
                                   gint64 run_id,
                                   gint64 adapter_id,
                                   GError **error)
{
  g_autoptr (GPtrArray) evaluations =
    g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_evaluation_free);
  g_autoptr (CachedStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail ((run_id != 0) != (adapter_id != 0), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt =
    prepare (self,
             "SELECT id, run_id, adapter_id, set_name, metric, value, detail, created "
             "FROM evaluations WHERE run_id IS NULLIF (?1, 0) AND adapter_id IS NULLIF (?2, 0) "
             "ORDER BY id",
             "reading evaluations", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, run_id);
  sqlite3_bind_int64 (stmt, 2, adapter_id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      TailorEvaluation *evaluation = g_new0 (TailorEvaluation, 1);

      evaluation->id = sqlite3_column_int64 (stmt, 0);
      evaluation->run_id = sqlite3_column_int64 (stmt, 1);
      evaluation->adapter_id = sqlite3_column_int64 (stmt, 2);
      evaluation->set_name = column_strdup (stmt, 3);
      evaluation->metric = column_strdup (stmt, 4);
      evaluation->value = column_double_or_nan (stmt, 5);
      evaluation->detail = column_strdup (stmt, 6);
      evaluation->created = sqlite3_column_int64 (stmt, 7);
      g_ptr_array_add (evaluations, evaluation);
    }
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, rc, "reading evaluations", error);
      return NULL;
    }
  return g_steal_pointer (&evaluations);
}

static TailorAdapter *
adapter_from_row (sqlite3_stmt *stmt)
{
  TailorAdapter *adapter = g_new0 (TailorAdapter, 1);

  adapter->id = sqlite3_column_int64 (stmt, 0);
  adapter->project_id = sqlite3_column_int64 (stmt, 1);
  adapter->run_id = sqlite3_column_int64 (stmt, 2);
  adapter->version_number = (guint) sqlite3_column_int64 (stmt, 3);
  adapter->bundle_path = column_strdup (stmt, 4);
  adapter->created = sqlite3_column_int64 (stmt, 5);
  return adapter;
}

#define ADAPTER_COLUMNS "id, project_id, run_id, version_number, bundle_path, created"

TailorAdapter *
tailor_catalogue_add_adapter (
  TailorCatalogue *self, gint64 project_id, gint64 run_id, const char *bundle_path, GError **error)
{
  TailorAdapter *adapter = NULL;
  gboolean ok;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (bundle_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* The number is taken inside the write transaction, so two processes never share one. */
  if (!tx_begin (self, TRUE, error))
    return NULL;
  {
    g_autoptr (CachedStmt) stmt = prepare (self,
                                           "INSERT INTO adapters (project_id, run_id, "
                                           "version_number, bundle_path, created) "
                                           "SELECT ?1, NULLIF (?2, 0), "
                                           "COALESCE (MAX (version_number), 0) + 1, ?3, ?4 "
                                           "FROM adapters WHERE project_id = ?1",
                                           "recording an adapter", error);

    ok = stmt != NULL;
    if (ok)
      {
        sqlite3_bind_int64 (stmt, 1, project_id);
        sqlite3_bind_int64 (stmt, 2, run_id);
        bind_text (stmt, 3, bundle_path);
        sqlite3_bind_int64 (stmt, 4, g_get_real_time ());
        ok = step_done (self, stmt, "recording an adapter", error);
      }
  }
  if (ok)
    {
      g_autoptr (CachedStmt) stmt = prepare (
        self, "SELECT " ADAPTER_COLUMNS " FROM adapters WHERE id = ?", "reading an adapter", error);
      int rc;

      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, sqlite3_last_insert_rowid (self->db));
          rc = sqlite3_step (stmt);
          ok = rc == SQLITE_ROW;
          if (ok)
            adapter = adapter_from_row (stmt);
          else
            set_db_error (self, rc, "reading an adapter", error);
        }
    }
  if (!tx_end (self, ok, error))
    g_clear_pointer (&adapter, tailor_adapter_free);
  return adapter;
}

GPtrArray *
tailor_catalogue_list_adapters (TailorCatalogue *self, gint64 project_id, GError **error)
{
  g_autoptr (GPtrArray) adapters =
    g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_adapter_free);
  g_autoptr (CachedStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (TAILOR_IS_CATALOGUE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = prepare (self,
                  "SELECT " ADAPTER_COLUMNS " FROM adapters WHERE project_id = ? "
                  "ORDER BY version_number",
                  "listing adapters", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, project_id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (adapters, adapter_from_row (stmt));
  if (rc != SQLITE_DONE)
    {
      set_db_error (self, rc, "listing adapters", error);
      return NULL;
    }
  return g_steal_pointer (&adapters);
}
