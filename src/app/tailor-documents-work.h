/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Documents step's work off the main thread: building a dataset version from the project's
 * files and hygiene choices, the report shown about a version, and the choices kept per project.
 * No GTK here: each call opens its own catalogue handle, so it may run in any thread. */
#pragma once

#include "tailor-data-split.h"

G_BEGIN_DECLS

/* Where the sequence length comes from when no run is configured yet: run.json's default. */
#define TAILOR_DOCS_DEFAULT_SEQUENCE_LENGTH 512
#define TAILOR_DOCS_CHARS_PER_TOKEN 4.0

typedef struct
{
  char *path;
  char *license;    /* SPDX id or free text; NULL when unknown */
  gboolean counter; /* every example of the file shows what not to do */
} TailorDocsSource;

TailorDocsSource *tailor_docs_source_new (const char *path, const char *license, gboolean counter);
void tailor_docs_source_free (TailorDocsSource *source);

/* What the user chose for a project, beside the catalogue in
 * <catalogue dir>/documents/<project id>-<created>/ (choices.json and glossary.tsv). */
typedef struct
{
  char *current_version; /* NULL: the project's latest */
  TailorPiiAction pii[TAILOR_PII_N_KINDS];
  GPtrArray *counter_paths; /* char*: sources marked as counter-examples */
} TailorDocsChoices;

typedef struct
{
  char *variant;
  char *preferred;
} TailorDocsTerm;

char *tailor_docs_project_dir (TailorCatalogue *catalogue, const TailorProject *project);
/* Missing files give the defaults (every kind redacted, nothing marked). */
TailorDocsChoices *tailor_docs_choices_load (const char *project_dir, GError **error);
gboolean
tailor_docs_choices_save (const TailorDocsChoices *choices, const char *project_dir, GError **error);
void tailor_docs_choices_free (TailorDocsChoices *choices);
gboolean tailor_docs_choices_is_counter (const TailorDocsChoices *choices, const char *path);
void tailor_docs_choices_set_counter (TailorDocsChoices *choices, const char *path, gboolean counter);

/* TailorDocsTerm*, in the order they were added; empty when there is no glossary. */
GPtrArray *tailor_docs_glossary_load (const char *project_dir, GError **error);
/* Refuses (FALSE, error naming the problem) an empty term, a tab or line break in a term, or a
 * variant listed twice; nothing is written then. */
gboolean tailor_docs_glossary_save (GPtrArray *terms, const char *project_dir, GError **error);
/* The glossary file to build with, or NULL when it has no entry. */
char *tailor_docs_glossary_path (const char *project_dir);
void tailor_docs_term_free (TailorDocsTerm *term);

typedef enum
{
  TAILOR_DOCS_PHASE_READING,   /* importing files */
  TAILOR_DOCS_PHASE_CHECKING,  /* duplicates, split and leak check */
  TAILOR_DOCS_PHASE_SAVING,    /* writing the version */
  TAILOR_DOCS_PHASE_MEASURING, /* token lengths and the leak check of the stored version */
} TailorDocsPhase;

typedef struct
{
  TailorDocsPhase phase;
  guint file_index; /* 0-based, while reading */
  guint n_files;
  const char *file_name;
  guint64 records; /* records of the current file read so far */
} TailorDocsProgress;

/* Called from the working thread. */
typedef void (*TailorDocsProgressFunc) (const TailorDocsProgress *progress, gpointer user_data);

typedef struct
{
  char *catalogue_dir;
  char *project_name;
  gint64 project_id;
  char *project_dir;
  char *parent;       /* the current version, or NULL */
  GPtrArray *sources; /* TailorDocsSource*: everything the version is built from */
  guint n_new;        /* the last n_new sources are new: one that cannot be read is left out and
                       * reported; an older one that cannot be read fails the build */
  TailorPiiAction pii[TAILOR_PII_N_KINDS];
  char *glossary_path; /* NULL: none */
  char *reason;        /* what changed, first in the changelog; NULL for a first import */
  char *model_path;    /* the pinned model whose tokenizer measures lengths; NULL: estimate */
} TailorDocsBuildRequest;

TailorDocsBuildRequest *tailor_docs_build_request_new (void);
void tailor_docs_build_request_free (TailorDocsBuildRequest *request);

typedef struct
{
  char *file; /* base name */
  guint64 line;
  char *unit; /* "line", "page", "paragraph" */
  char *reason;
  char *message;
  char *preview; /* the importer's clipped preview, or NULL */
} TailorDocsReject;

typedef struct
{
  char *file;
  char *message;
} TailorDocsFailure;

typedef struct
{
  char *preview; /* clipped, secrets masked */
  char *where;   /* "faq.jsonl:7" */
  char *keeper;  /* "faq.jsonl:2": the example it repeats */
  gboolean exact;
} TailorDocsDuplicate;

typedef struct
{
  TailorPiiKind kind;
  char *preview; /* masked: "ja…om" */
  char *where;
} TailorDocsPiiSample;

typedef struct
{
  TailorDatasetVersion *version;
  gboolean created; /* a build made a new version (FALSE: it equals an existing one) */

  /* From the version's hygiene counts. */
  guint64 n_read, n_accepted, n_rejected;
  guint64 n_exact, n_near;
  guint64 pii_findings[TAILOR_PII_N_KINDS];
  guint64 pii_redacted, pii_dropped_examples;
  guint64 glossary_replacements, glossary_examples;
  guint64 counter_examples;

  /* Kept beside the version by the build that made it (empty for versions made elsewhere). */
  GPtrArray *rejects;      /* TailorDocsReject*, at most TAILOR_DOCS_MAX_REJECTS */
  guint64 rejects_total;   /* rejects seen, shown or not */
  GPtrArray *failures;     /* TailorDocsFailure* */
  GPtrArray *duplicates;   /* TailorDocsDuplicate*, a few */
  GPtrArray *pii_samples;  /* TailorDocsPiiSample*, a few per kind */

  /* Token lengths of every example (training and evaluation) against the sequence length. */
  gboolean tokens_from_model;
  char *tokenizer_name; /* the model's name when measured with its tokenizer */
  guint sequence_length;
  guint n_examples;
  guint n_truncated;
  guint p50, p95, max;
  guint n_buckets;
  double *edges;  /* n_buckets + 1 */
  double *counts; /* n_buckets; the last bucket holds what is beyond the sequence length when
                   * n_truncated > 0 */

  /* The split. */
  gboolean leak_clean;
  guint n_leaks;
  char *leak_message; /* NULL when clean */
  char *frozen_version; /* the project's sacred set, NULL when nothing is frozen */
  gboolean carries_frozen;
} TailorDocsReport;

#define TAILOR_DOCS_MAX_REJECTS 200

void tailor_docs_report_free (TailorDocsReport *report);

/* Imports every source again with the request's choices into a new version derived from the
 * parent (the project's frozen evaluation set, if any, is kept), writes what only the build
 * knows (rejects, duplicates, masked findings) beside it, and reports on it. */
TailorDocsReport *tailor_docs_build (const TailorDocsBuildRequest *request,
                                     TailorDocsProgressFunc progress,
                                     gpointer user_data,
                                     GCancellable *cancellable,
                                     GError **error);

/* The report of a stored version: its counts, what its build kept beside it, token lengths
 * (model_path NULL: estimated) and the leak check. */
TailorDocsReport *tailor_docs_report_version (const char *catalogue_dir,
                                              gint64 project_id,
                                              const char *project_dir,
                                              const char *version_id,
                                              const char *model_path,
                                              TailorDocsProgressFunc progress,
                                              gpointer user_data,
                                              GCancellable *cancellable,
                                              GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorDocsSource, tailor_docs_source_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorDocsChoices, tailor_docs_choices_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorDocsBuildRequest, tailor_docs_build_request_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorDocsReport, tailor_docs_report_free)

G_END_DECLS
