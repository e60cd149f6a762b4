/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The catalogue: one SQLite database of projects, sources, dataset versions, runs, metrics,
 * evaluations and adapters, with dataset examples stored as content-addressed JSONL files beside
 * it. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "tailor-data.h"

G_BEGIN_DECLS

#define TAILOR_CATALOGUE_ERROR (tailor_catalogue_error_quark ())
GQuark tailor_catalogue_error_quark (void);

typedef enum
{
  TAILOR_CATALOGUE_ERROR_IO,        /* cannot create the folder, read or write a file */
  TAILOR_CATALOGUE_ERROR_CORRUPT,   /* catalogue.db or an examples file is damaged */
  TAILOR_CATALOGUE_ERROR_LOCKED,    /* another connection held the database past the busy timeout */
  TAILOR_CATALOGUE_ERROR_TOO_NEW,   /* written by a newer Tailor: its schema is unknown here */
  TAILOR_CATALOGUE_ERROR_NOT_FOUND, /* no such project, version, run or adapter */
  TAILOR_CATALOGUE_ERROR_EXISTS,    /* a project of that name already exists */
  TAILOR_CATALOGUE_ERROR_IMMUTABLE, /* an attempt to change a dataset version */
  TAILOR_CATALOGUE_ERROR_INVALID,   /* an argument the catalogue cannot store (bad JSON, status) */
  TAILOR_CATALOGUE_ERROR_FAILED,    /* any other SQLite failure; the message carries SQLite's */
} TailorCatalogueError;

/* The schema this code writes. Older catalogues are migrated on open; newer ones are refused. */
#define TAILOR_CATALOGUE_SCHEMA_VERSION 2

/* How long a statement waits for another connection's write lock before failing with
 * TAILOR_CATALOGUE_ERROR_LOCKED. Training writes in short transactions, so this is generous. */
#define TAILOR_CATALOGUE_DEFAULT_BUSY_TIMEOUT_MS 5000

typedef enum
{
  TAILOR_CATALOGUE_OPEN_DEFAULT = 0,
  /* A damaged catalogue.db (and its -wal/-shm) is renamed to catalogue.db.damaged-<UTC time>,
   * never deleted, and a new empty catalogue is started; tailor_catalogue_get_recovery_message
   * then says so. Without this flag a damaged file is an error and is left untouched. */
  TAILOR_CATALOGUE_OPEN_SET_ASIDE_DAMAGED = 1 << 0,
} TailorCatalogueOpenFlags;

typedef enum
{
  TAILOR_SPLIT_TRAIN,
  TAILOR_SPLIT_EVAL,
} TailorSplit;

/* Timestamps are microseconds since the Unix epoch, UTC (g_get_real_time). */

typedef struct
{
  gint64 id;
  char *name;
  char *goal;              /* "" when not chosen yet */
  char *base_model_path;   /* NULL when not chosen yet */
  char *base_model_sha256; /* NULL when unknown */
  char *wizard_step;       /* the wizard page the user was on, NULL before the first */
  gint64 created;
  gint64 updated;
} TailorProject;

typedef struct
{
  gint64 id; /* set by the catalogue */
  gint64 project_id;
  char *path;
  char *sha256;
  guint64 size;
  char *license;    /* declared by the user, NULL if none */
  char *format;     /* importer format name, e.g. "chat-jsonl", "csv" */
  gint64 imported;  /* set by the catalogue */
  guint64 examples; /* records accepted */
  guint64 rejected; /* records rejected */
} TailorSource;

/* What a caller says about a version it writes; the examples are passed beside it. */
typedef struct
{
  const char *parent;           /* content id of the version it derives from, or NULL */
  const char *changelog;        /* one line for humans, e.g. "Imported faq.md (120 examples)" */
  const char *split_settings;   /* JSON object (ratio, seed, …) or NULL for {}; in the id */
  const char *hygiene_settings; /* JSON object or NULL for {}; in the id */
  const char *hygiene_counts;   /* JSON (counts before/after each step) or NULL for {};
                                 * a report, not in the id */
  const gint64 *source_ids;     /* sources that contributed */
  guint n_source_ids;
  gboolean freeze_eval; /* the eval set becomes sacred from this version on; not in the id
                         * (writing existing content with it set freezes that version) */
} TailorVersionRequest;

typedef struct
{
  char *id; /* content id: SHA-256 hex over sorted example hashes + split + settings */
  gint64 project_id;
  char *parent; /* NULL for a first version */
  gint64 created;
  char *changelog;
  char *split_settings;   /* canonical JSON (keys sorted) */
  char *hygiene_settings; /* canonical JSON */
  char *hygiene_counts;   /* canonical JSON */
  char *train_sha256;     /* the examples file of each split (SHA-256 of its bytes) */
  char *eval_sha256;
  guint64 train_count;
  guint64 eval_count;
  gboolean eval_frozen;
  GArray *source_ids; /* gint64, ascending */
} TailorDatasetVersion;

typedef struct
{
  gint64 id;
  gint64 project_id;
  char *dataset_version; /* content id */
  char *run_json;        /* the run.json text the run was started with */
  char *status;          /* "running", "done", "failed" or "cancelled" */
  gint64 started;
  gint64 ended; /* 0 while running */
  char *output_dir;
} TailorRun;

typedef struct
{
  gint64 step;
  double value;
} TailorMetricPoint;

typedef struct
{
  gint64 id;
  gint64 run_id; /* exactly one of run_id and adapter_id is non-zero */
  gint64 adapter_id;
  char *set_name; /* "eval", a regression set's name, … */
  char *metric;   /* "loss", "perplexity", … */
  double value;
  char *detail; /* JSON, or NULL */
  gint64 created;
} TailorEvaluation;

typedef struct
{
  gint64 id;
  gint64 project_id;
  gint64 run_id;        /* 0 when the run is unknown */
  guint version_number; /* 1, 2, … per project: the N of <name>-v<N> */
  char *bundle_path;
  gint64 created;
} TailorAdapter;

void tailor_project_free (TailorProject *self);
void tailor_source_free (TailorSource *self);
void tailor_dataset_version_free (TailorDatasetVersion *self);
void tailor_run_free (TailorRun *self);
void tailor_evaluation_free (TailorEvaluation *self);
void tailor_adapter_free (TailorAdapter *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorProject, tailor_project_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorSource, tailor_source_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorDatasetVersion, tailor_dataset_version_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorRun, tailor_run_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorEvaluation, tailor_evaluation_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorAdapter, tailor_adapter_free)

#define TAILOR_TYPE_CATALOGUE (tailor_catalogue_get_type ())
G_DECLARE_FINAL_TYPE (TailorCatalogue, tailor_catalogue, TAILOR, CATALOGUE, GObject)

/* $TAILOR_DATA_DIR if set, else $XDG_DATA_HOME/tailor. */
char *tailor_catalogue_default_dir (void);

/* Opens (creating if needed) <dir>/catalogue.db; dir NULL means tailor_catalogue_default_dir.
 * Migrates an older schema, one transaction per step. A handle is used from one thread at a time;
 * open one handle per thread or process. */
TailorCatalogue *
tailor_catalogue_open (const char *dir, TailorCatalogueOpenFlags flags, GError **error);
const char *tailor_catalogue_get_dir (TailorCatalogue *self);
const char *tailor_catalogue_get_path (TailorCatalogue *self);
int tailor_catalogue_get_schema_version (TailorCatalogue *self);
/* NULL unless open set a damaged catalogue aside; then the sentence to show the user. */
const char *tailor_catalogue_get_recovery_message (TailorCatalogue *self);
void tailor_catalogue_set_busy_timeout (TailorCatalogue *self, guint milliseconds);

/* Groups several writes into one transaction (they nest). Every write function is atomic on its
 * own; use these when several must succeed or fail together (an import's sources + version). */
gboolean tailor_catalogue_begin (TailorCatalogue *self, GError **error);
gboolean tailor_catalogue_commit (TailorCatalogue *self, GError **error);
void tailor_catalogue_rollback (TailorCatalogue *self);

/* Projects. Names are unique. Deleting a project deletes its sources, versions, runs, metrics,
 * evaluations and adapter records (not the example files, which other projects may share, nor
 * adapter bundles on disk). */
TailorProject *tailor_catalogue_create_project (TailorCatalogue *self,
                                                const char *name,
                                                const char *goal,
                                                GError **error);
TailorProject *
tailor_catalogue_get_project (TailorCatalogue *self, gint64 project_id, GError **error);
TailorProject *
tailor_catalogue_find_project (TailorCatalogue *self, const char *name, GError **error);
/* TailorProject*, by name. */
GPtrArray *tailor_catalogue_list_projects (TailorCatalogue *self, GError **error);
gboolean tailor_catalogue_rename_project (TailorCatalogue *self,
                                          gint64 project_id,
                                          const char *name,
                                          GError **error);
gboolean tailor_catalogue_set_project_goal (TailorCatalogue *self,
                                            gint64 project_id,
                                            const char *goal,
                                            GError **error);
gboolean tailor_catalogue_set_project_base_model (
  TailorCatalogue *self, gint64 project_id, const char *path, const char *sha256, GError **error);
gboolean tailor_catalogue_set_project_wizard_step (TailorCatalogue *self,
                                                   gint64 project_id,
                                                   const char *step,
                                                   GError **error);
gboolean tailor_catalogue_delete_project (TailorCatalogue *self, gint64 project_id, GError **error);

/* Sources. Returns the new id and fills source->id and source->imported. */
gint64 tailor_catalogue_add_source (TailorCatalogue *self, TailorSource *source, GError **error);
/* TailorSource*, in import order. */
GPtrArray *tailor_catalogue_list_sources (TailorCatalogue *self, gint64 project_id, GError **error);
/* Declares a source file's license after import (NULL or "" for none). Versions refer to their
 * sources, so every version built from it reports the new license. */
gboolean tailor_catalogue_set_source_license (TailorCatalogue *self,
                                              gint64 source_id,
                                              const char *license,
                                              GError **error);

/* Dataset versions. Writes the examples (in the order of their canonical-JSON hash, so the same
 * content is always the same bytes) to examples/<xx>/<sha256>.jsonl and records the version.
 * If the project already has a version with the same content id, nothing is written and that
 * version is returned with *created FALSE. Versions are immutable: the only change ever made to
 * one is freezing its eval set. */
TailorDatasetVersion *tailor_catalogue_write_version (TailorCatalogue *self,
                                                      gint64 project_id,
                                                      const TailorVersionRequest *request,
                                                      GPtrArray *train,
                                                      GPtrArray *eval,
                                                      gboolean *created,
                                                      GError **error);
/* Writing a version one example at a time, for datasets larger than memory: each line goes to a
 * spool file in the catalogue's tmp/ folder and only its SHA-256 and place in the spool stay in
 * memory (48 bytes an example). finish computes the same content id and writes the same files as
 * tailor_catalogue_write_version given the same examples in any order, and returns the same. */
typedef struct _TailorVersionWriter TailorVersionWriter;

TailorVersionWriter *tailor_catalogue_new_version_writer (TailorCatalogue *self, GError **error);
gboolean tailor_version_writer_add (TailorVersionWriter *self,
                                    TailorSplit split,
                                    const TailorExample *example,
                                    GError **error);
/* A line exactly as tailor_example_to_json writes it, without a newline; len -1: NUL-ended. */
gboolean tailor_version_writer_add_line (
  TailorVersionWriter *self, TailorSplit split, const char *line, gssize len, GError **error);
/* Once per writer; then only tailor_version_writer_free, which removes the spool. */
TailorDatasetVersion *tailor_version_writer_finish (TailorVersionWriter *self,
                                                    gint64 project_id,
                                                    const TailorVersionRequest *request,
                                                    gboolean *created,
                                                    GError **error);
void tailor_version_writer_free (TailorVersionWriter *self);
/* A new private folder <catalogue dir>/tmp/spool-XXXXXX for temporary files of a large write;
 * the caller removes it. Left behind only by a crash, and then safe to delete while no import
 * runs. */
char *tailor_catalogue_make_spool_dir (TailorCatalogue *self, GError **error);

/* project_id 0 finds the version in any project (the content is the same wherever it is). */
TailorDatasetVersion *tailor_catalogue_get_version (TailorCatalogue *self,
                                                    gint64 project_id,
                                                    const char *version_id,
                                                    GError **error);
/* TailorDatasetVersion*, oldest first. */
GPtrArray *
tailor_catalogue_list_versions (TailorCatalogue *self, gint64 project_id, GError **error);
/* One-way: a frozen eval set stays frozen. */
gboolean tailor_catalogue_freeze_eval (TailorCatalogue *self,
                                       gint64 project_id,
                                       const char *version_id,
                                       GError **error);
/* The `data versions --json` document: [{"id","parent","created","changelog","train","eval"}, …]
 * with created in ISO 8601 UTC. */
JsonNode *tailor_catalogue_versions_to_json (GPtrArray *versions);
/* The path of a split's examples file. */
char *tailor_catalogue_get_examples_path (TailorCatalogue *self,
                                          const TailorDatasetVersion *version,
                                          TailorSplit split);

/* Streams a split's examples back in constant memory. Each example's source is the examples
 * file and line its line number there. The file's SHA-256 is checked as it is read: a file
 * changed on disk ends in TAILOR_CATALOGUE_ERROR_CORRUPT at the end of the stream. */
typedef struct _TailorExampleReader TailorExampleReader;

TailorExampleReader *tailor_catalogue_read_examples (TailorCatalogue *self,
                                                     const TailorDatasetVersion *version,
                                                     TailorSplit split,
                                                     GError **error);
/* The next example, or NULL at the end (error unset) or on failure (error set). */
TailorExample *tailor_example_reader_next (TailorExampleReader *self, GError **error);
void tailor_example_reader_free (TailorExampleReader *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorExampleReader, tailor_example_reader_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorVersionWriter, tailor_version_writer_free)

/* Runs. A run starts as "running"; finishing sets its status and end time. */
TailorRun *tailor_catalogue_add_run (TailorCatalogue *self,
                                     gint64 project_id,
                                     const char *version_id,
                                     const char *run_json,
                                     const char *output_dir,
                                     GError **error);
gboolean tailor_catalogue_finish_run (TailorCatalogue *self,
                                      gint64 run_id,
                                      const char *status,
                                      GError **error);
TailorRun *tailor_catalogue_get_run (TailorCatalogue *self, gint64 run_id, GError **error);
/* TailorRun*, oldest first. */
GPtrArray *tailor_catalogue_list_runs (TailorCatalogue *self, gint64 project_id, GError **error);

/* Metrics: one value per run, step and name (a second write for the same step replaces it, so a
 * resumed run that repeats a step does not duplicate points). */
gboolean tailor_catalogue_add_metric (TailorCatalogue *self,
                                      gint64 run_id,
                                      gint64 step,
                                      const char *name,
                                      double value,
                                      GError **error);
/* TailorMetricPoint, by step. */
GArray *tailor_catalogue_list_metrics (TailorCatalogue *self,
                                       gint64 run_id,
                                       const char *name,
                                       GError **error);

/* Evaluations of a run (run_id) or of an adapter (adapter_id); exactly one is non-zero. */
gint64 tailor_catalogue_add_evaluation (TailorCatalogue *self,
                                        gint64 run_id,
                                        gint64 adapter_id,
                                        const char *set_name,
                                        const char *metric,
                                        double value,
                                        const char *detail_json,
                                        GError **error);
/* TailorEvaluation*, oldest first. */
GPtrArray *tailor_catalogue_list_evaluations (TailorCatalogue *self,
                                              gint64 run_id,
                                              gint64 adapter_id,
                                              GError **error);

/* Adapters: the version number is one more than the project's highest. run_id may be 0. */
TailorAdapter *tailor_catalogue_add_adapter (
  TailorCatalogue *self, gint64 project_id, gint64 run_id, const char *bundle_path, GError **error);
/* TailorAdapter*, by version number. */
GPtrArray *
tailor_catalogue_list_adapters (TailorCatalogue *self, gint64 project_id, GError **error);

G_END_DECLS
