/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Train/eval splits by content hash, the sacred (frozen) evaluation set and its leak check, and
 * the dataset builder that turns imported files into a new immutable catalogue version. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "tailor-catalogue.h"
#include "tailor-data-hygiene.h"
#include "tailor-data-import.h"
#include "tailor-data.h"

G_BEGIN_DECLS

#define TAILOR_SPLIT_ERROR (tailor_split_error_quark ())
GQuark tailor_split_error_quark (void);

typedef enum
{
  TAILOR_SPLIT_ERROR_INVALID, /* settings out of range, or a glossary that cannot be used */
  TAILOR_SPLIT_ERROR_EMPTY,   /* no training example would be left */
  TAILOR_SPLIT_ERROR_LEAK,    /* evaluation examples (or near-duplicates of them) in training */
  TAILOR_SPLIT_ERROR_FROZEN,  /* the change would alter a frozen evaluation set */
} TailorSplitError;

/* Stored examples carry where they came from as a tag "source:<file name>" (the catalogue keeps
 * no other per-example provenance); tailor_dataset_read_split turns it back into ->source. */
#define TAILOR_SOURCE_TAG_PREFIX "source:"

/* ------------------------------------------------------------------------------------------ */
/* Splits */

#define TAILOR_SPLIT_DEFAULT_EVAL_RATIO 0.1

typedef struct
{
  double eval_ratio; /* share of the (non-counter) examples that go to eval, in [0, 1);
                      * default 0.1 */
  guint eval_count;  /* non-zero: this many eval examples instead of the ratio */
  guint64 seed;      /* mixed into the content hash; default 0 */
} TailorSplitOptions;

void tailor_split_options_init (TailorSplitOptions *options);
/* {"eval_count"|"eval_ratio", "method":"content-hash", "seed", "stratify":"source"}: what a
 * version records as its split settings. */
char *tailor_split_options_to_json (const TailorSplitOptions *options);
gboolean
tailor_split_options_from_json (const char *json, TailorSplitOptions *options, GError **error);

/* Chooses the eval examples: per source (example->source; NULL is one source of its own), the
 * examples with the smallest SHA-256 of "<seed>:<content id>" — so the choice depends on content
 * only, never on input order. The eval total is round(ratio × eligible) (at least 1 when the ratio
 * is above 0 and there are two or more eligible examples) or eval_count, shared among sources in
 * proportion to their size (largest remainder), and always leaves one eligible example for
 * training. Counter-examples are never eligible: they stay in training. Returns examples->len
 * flags, 1 for eval; *n_eval (may be NULL) receives how many. */
guint8 *tailor_split_assign (GPtrArray *examples,
                             const TailorSplitOptions *options,
                             guint *n_eval,
                             GError **error);
/* Moves the examples of @examples (an array that owns them; it is left empty) into two new
 * arrays that own them, in input order. */
gboolean tailor_split_examples (GPtrArray *examples,
                                const TailorSplitOptions *options,
                                GPtrArray **train,
                                GPtrArray **eval,
                                GError **error);

/* ------------------------------------------------------------------------------------------ */
/* The leak check: nothing of the evaluation set, not even a near-duplicate, may be trained on. */

/* MinHash options of the leak check: 2-word shingles and an estimated Jaccard of 0.5, far looser
 * than deduplication, so that a paraphrase differing in a few words is caught (three words changed
 * in thirty keep about 0.65 of the word pairs; five-word shingles would keep under 0.4). */
void tailor_leak_options_init (TailorDedupOptions *options);

typedef struct
{
  char *train_id; /* content id of the training example */
  char *eval_id;  /* content id of the evaluation example it matches */
  char *source;   /* where the training example came from, NULL when unknown */
  guint64 line;
  gboolean exact; /* the same normalised text */
  double jaccard; /* estimated; 1.0 when exact */
} TailorLeak;

typedef struct
{
  char *version_id;        /* the version checked; NULL for in-memory examples */
  char *frozen_version_id; /* the version whose evaluation set is sacred; NULL when none */
  gboolean carries_frozen; /* FALSE when a version after the freeze has another eval set */
  guint n_train;
  guint n_eval;
  GPtrArray *leaks; /* TailorLeak*, by training example */
} TailorLeakReport;

/* Checks @train against @eval (exact by normalised text, near by MinHash; counter-examples are
 * checked like any example). options NULL: tailor_leak_options_init. */
TailorLeakReport *tailor_leak_check_examples (GPtrArray *eval,
                                              GPtrArray *train,
                                              const TailorDedupOptions *options,
                                              GCancellable *cancellable,
                                              GError **error);
/* Checks a stored version (version_id NULL: the project's latest). The reference is the frozen
 * evaluation set when the project has one and the version came after the freeze (and then the
 * version must carry exactly that set), else the version's own eval split. */
TailorLeakReport *tailor_dataset_leak_check (TailorCatalogue *catalogue,
                                             gint64 project_id,
                                             const char *version_id,
                                             GCancellable *cancellable,
                                             GError **error);
gboolean tailor_leak_report_is_clean (const TailorLeakReport *report);
/* TRUE when clean; else TAILOR_SPLIT_ERROR_LEAK (or FROZEN when the eval set is not the frozen
 * one) with a message listing the leaking training examples (id, file:line) and what to do. */
gboolean tailor_leak_report_to_error (const TailorLeakReport *report, GError **error);
/* {"version","frozen_version","carries_frozen","train","eval","clean","leaks":[{"train_id",
 * "eval_id","source","line","kind":"exact"|"near","jaccard"}…]} */
JsonNode *tailor_leak_report_to_json (const TailorLeakReport *report);
void tailor_leak_report_free (TailorLeakReport *report);

/* ------------------------------------------------------------------------------------------ */
/* Stored versions */

/* The version whose evaluation set is sacred: the project's first frozen one. NULL with no error
 * when nothing is frozen. */
TailorDatasetVersion *
tailor_dataset_get_frozen (TailorCatalogue *catalogue, gint64 project_id, GError **error);
/* Freezes a version's eval set after checking it: refused (FROZEN) when another evaluation set is
 * already frozen in the project, and (LEAK) when its training set leaks. Freezing the frozen set
 * again is a no-op. */
gboolean tailor_dataset_freeze_eval (TailorCatalogue *catalogue,
                                     gint64 project_id,
                                     const char *version_id,
                                     GCancellable *cancellable,
                                     GError **error);
/* All examples of one split (owned), with ->source restored from the provenance tag (which is
 * removed from ->tags) and ->line 0. */
GPtrArray *tailor_dataset_read_split (TailorCatalogue *catalogue,
                                      const TailorDatasetVersion *version,
                                      TailorSplit split,
                                      GError **error);

/* Streams one split to path as the JSON lines trainers read ({"messages":[…]} or {"text":…},
 * no tags), through a temporary file beside it renamed into place only when complete (a failed
 * export never leaves a half file). n_written (nullable) receives the number of examples. */
gboolean tailor_dataset_export_split (TailorCatalogue *catalogue,
                                      const TailorDatasetVersion *version,
                                      TailorSplit split,
                                      const char *path,
                                      guint64 *n_written,
                                      GError **error);

/* ------------------------------------------------------------------------------------------ */
/* The dataset builder: import → counter-example tags → secrets/PII → glossary → deduplication
 * (new examples against each other and against the parent's) → split → leak check → one new
 * version, all or nothing. */

typedef struct
{
  gboolean dedup;                     /* default TRUE */
  TailorDedupOptions dedup_options;   /* default tailor_dedup_options_init (threshold 0.8) */
  TailorPiiOptions pii;               /* default: every kind redacted */
  const char *glossary_path;          /* NULL: none */
  const char *const *counter_markers; /* NULL-terminated; an example containing one is tagged
                                       * counter-example */
  TailorDedupOptions leak_options;    /* default tailor_leak_options_init */
} TailorHygieneSettings;

void tailor_hygiene_settings_init (TailorHygieneSettings *settings);

typedef struct _TailorDatasetBuilder TailorDatasetBuilder;

/* A builder for project @project_name (created on commit when it does not exist). parent NULL
 * derives from the project's latest version, if any. split NULL keeps the parent's split settings
 * (or the defaults for a first version); hygiene NULL likewise keeps the hygiene settings the
 * parent recorded (its glossary stays recorded but, the file being unknown, is not applied to
 * new examples). Examples of the parent keep their split; new examples
 * are split among themselves (with eval_count, only what the parent's eval set lacks). When the
 * project's eval set is frozen, the new version carries exactly it and everything else is
 * training. Deduplication applies to all examples. Per-example hygiene (counter-example
 * markers, secrets and personal data, glossary) applies to new examples, and to the parent's
 * examples only when those settings differ from the ones the parent recorded (a changed PII
 * action or marker list, a glossary of other content): then every example of the parent is
 * scanned again, so that a version's examples have all been through the settings it records,
 * while unchanged settings never rewrite an example twice. The frozen evaluation set is never
 * scanned again: it stays exactly as frozen. Markers only add the counter-example tag; a marker
 * dropped later does not remove it.
 *
 * Memory does not grow with the size of the examples: they are spooled to files under the
 * catalogue's tmp/ folder as they arrive (free disk of about twice the input is needed until
 * the version is written), and only about 56 bytes per example stay in memory, plus, while
 * deduplication runs, the MinHash signature set and its LSH index (about 1.5 KiB an example). */
TailorDatasetBuilder *tailor_dataset_builder_new (TailorCatalogue *catalogue,
                                                  const char *project_name,
                                                  const char *parent,
                                                  const TailorHygieneSettings *hygiene,
                                                  const TailorSplitOptions *split,
                                                  GError **error);
/* Re-split every example of the parent with the builder's split options (refused when frozen). */
void tailor_dataset_builder_set_resplit (TailorDatasetBuilder *self, gboolean resplit);
/* FALSE: the new version records the parent (and inherits its settings when none are given)
 * but holds only the examples imported into this builder, plus the project's frozen evaluation
 * set when there is one. For rebuilding a version from its source files with other hygiene
 * choices: the parent's examples already went through the old ones (redacted text cannot be
 * kept again). Default TRUE. */
void tailor_dataset_builder_set_carry_parent (TailorDatasetBuilder *self, gboolean carry);
/* Why this version is built, in a sentence ("Removed notes.md"): the changelog starts with it,
 * followed by what the builder did. */
void tailor_dataset_builder_set_reason (TailorDatasetBuilder *self, const char *reason);
/* The new version's eval set becomes the project's sacred set. */
void tailor_dataset_builder_set_freeze_eval (TailorDatasetBuilder *self, gboolean freeze);
/* Examples go through hygiene, into the spool and back this many at a time (0: the default,
 * 2048); the version never depends on it. Only before the first import. */
void tailor_dataset_builder_set_batch_size (TailorDatasetBuilder *self, guint n);
/* Streams @path through the importer and the per-example hygiene steps. Rejects go to
 * on_reject; a file that fails as a whole fails here and the builder must not be committed. */
gboolean tailor_dataset_builder_import_file (TailorDatasetBuilder *self,
                                             const char *path,
                                             TailorImportFormat format,
                                             const TailorImportOptions *options,
                                             TailorImportRejectFunc on_reject,
                                             gpointer user_data,
                                             GCancellable *cancellable,
                                             GError **error);
/* Examples already imported from one file (its summary describes the source; size is the file's
 * size in bytes). Takes the examples out of @examples, which is left empty. */
gboolean tailor_dataset_builder_add_examples (TailorDatasetBuilder *self,
                                              const TailorImportSummary *summary,
                                              guint64 size,
                                              GPtrArray *examples,
                                              GError **error);
/* Runs deduplication, split and leak check and writes the sources and the version in one
 * catalogue transaction; on any failure the catalogue is left as it was. A file imported before
 * with the same content and license keeps its source row. When the result equals an existing
 * version, nothing is recorded and that version is returned with *created FALSE. */
TailorDatasetVersion *tailor_dataset_builder_commit (TailorDatasetBuilder *self,
                                                     gboolean *created,
                                                     GCancellable *cancellable,
                                                     GError **error);
/* After a successful commit: the generated changelog line and the counts (JSON). */
const char *tailor_dataset_builder_get_changelog (TailorDatasetBuilder *self);
const char *tailor_dataset_builder_get_counts (TailorDatasetBuilder *self);
void tailor_dataset_builder_free (TailorDatasetBuilder *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorLeakReport, tailor_leak_report_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorDatasetBuilder, tailor_dataset_builder_free)

G_END_DECLS
