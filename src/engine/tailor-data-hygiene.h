/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Dataset hygiene: duplicates, secrets and personal data, glossary, counter-examples, length and
 * balance statistics. Every step reads a GPtrArray of TailorExample* and returns a report. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "tailor-data.h"

G_BEGIN_DECLS

/* ------------------------------------------------------------------------------------------ */
/* Duplicates: exact (same normalised text) and near (MinHash over word shingles, LSH banding). */

#define TAILOR_MINHASH_SIZE 128

typedef struct
{
  guint shingle_words; /* words per shingle, default 5 */
  double threshold;    /* estimated Jaccard at or above which two examples are near-duplicates,
                        * default 0.8 */
  guint64 seed;        /* seeds the hash family; signatures only compare under the same seed */
  guint bands;         /* LSH bands; 0 (default) chooses bands and rows from the threshold */
  guint rows;          /* rows per band; bands * rows <= TAILOR_MINHASH_SIZE */
} TailorDedupOptions;

void tailor_dedup_options_init (TailorDedupOptions *options);
/* The bands and rows used for a threshold: the most rows per band that still makes a pair at the
 * threshold a candidate with probability >= 0.995. */
void tailor_dedup_choose_bands (double threshold, guint *bands, guint *rows);

/* Signatures of a set of examples: a 128-bit hash of each normalised text and its MinHash.
 * Frozen sets (the sacred evaluation set) are stored with _serialize and queried with
 * tailor_signature_set_find_matches. */
typedef struct _TailorSignatureSet TailorSignatureSet;

TailorSignatureSet *tailor_signature_set_new (GPtrArray *examples,
                                              const TailorDedupOptions *options,
                                              GCancellable *cancellable,
                                              GError **error);
guint tailor_signature_set_get_size (const TailorSignatureSet *self);
const TailorDedupOptions *tailor_signature_set_get_options (const TailorSignatureSet *self);
/* The MinHash of item i: TAILOR_MINHASH_SIZE values. */
const guint32 *tailor_signature_set_get_minhash (const TailorSignatureSet *self, guint i);
/* Estimated Jaccard similarity of item i of a and item j of b (same seed and shingle size). */
double tailor_signature_set_estimate_jaccard (const TailorSignatureSet *a,
                                              guint i,
                                              const TailorSignatureSet *b,
                                              guint j);
/* A self-describing little-endian byte form (options included), for the catalogue. */
GBytes *tailor_signature_set_serialize (const TailorSignatureSet *self);
TailorSignatureSet *tailor_signature_set_deserialize (GBytes *bytes, GError **error);
void tailor_signature_set_free (TailorSignatureSet *self);

typedef struct
{
  guint index;    /* the duplicate's index in the examples */
  gboolean exact; /* same normalised text as the keeper */
  double jaccard; /* estimated Jaccard with the keeper (1.0 when exact) */
} TailorDuplicate;

typedef struct
{
  guint keeper;              /* the first example seen of the cluster */
  gboolean counter_examples; /* the cluster is made of counter-examples */
  GArray *duplicates;        /* TailorDuplicate, by index */
} TailorDuplicateCluster;

typedef struct
{
  guint n_examples;
  guint n_counter_examples; /* inputs tagged counter-example; only deduplicated among themselves */
  guint n_exact;            /* examples that are exact duplicates of a keeper */
  guint n_near;             /* examples that are near-duplicates of a keeper */
  guint bands, rows;        /* the LSH banding used */
  GPtrArray *clusters;      /* TailorDuplicateCluster*, by keeper index */
  guint8 *is_duplicate;     /* n_examples flags: 1 when the example is dropped as a duplicate */
} TailorDuplicateReport;

/* Each example is compared with the keepers seen before it; it joins the keeper with the highest
 * estimated Jaccard (exact first), or becomes a keeper. Counter-examples ("counter-example" tag)
 * are only compared with counter-examples: a "what not to do" answer next to its good twin is
 * intended. */
TailorDuplicateReport *tailor_find_duplicates (GPtrArray *examples,
                                               const TailorDedupOptions *options,
                                               GCancellable *cancellable,
                                               GError **error);
TailorDuplicateReport *tailor_signature_set_find_duplicates (const TailorSignatureSet *set,
                                                             GCancellable *cancellable,
                                                             GError **error);
/* New array (owning copies) of the examples that are not duplicates, in order. */
GPtrArray *tailor_duplicate_report_apply (const TailorDuplicateReport *report, GPtrArray *examples);
JsonNode *tailor_duplicate_report_to_json (const TailorDuplicateReport *report);
void tailor_duplicate_report_free (TailorDuplicateReport *report);

typedef struct
{
  guint index;        /* in the examples queried */
  guint frozen_index; /* the item of the frozen set it matches best */
  gboolean exact;
  double jaccard;
} TailorSetMatch;

typedef struct
{
  guint n_checked;
  guint n_exact;
  guint n_near;
  GArray *matches; /* TailorSetMatch, by index */
} TailorSetMatchReport;

/* Which examples are exact or near-duplicates (estimated Jaccard >= the frozen set's threshold) of
 * any item of the frozen set: the leak check. Counter-examples are checked like any example. */
TailorSetMatchReport *tailor_signature_set_find_matches (const TailorSignatureSet *frozen,
                                                         GPtrArray *examples,
                                                         GCancellable *cancellable,
                                                         GError **error);
JsonNode *tailor_set_match_report_to_json (const TailorSetMatchReport *report);
void tailor_set_match_report_free (TailorSetMatchReport *report);

/* ------------------------------------------------------------------------------------------ */
/* Secrets and personal data. */

typedef enum
{
  TAILOR_PII_EMAIL,
  TAILOR_PII_PHONE,
  TAILOR_PII_CREDIT_CARD,  /* 13–19 digits, Luhn and issuer prefix checked */
  TAILOR_PII_IBAN,         /* country length and mod-97 checked */
  TAILOR_PII_IP_ADDRESS,   /* IPv4 and IPv6 */
  TAILOR_PII_PRIVATE_KEY,  /* PEM private key blocks */
  TAILOR_PII_API_KEY,      /* provider tokens, JWTs, secret assignments */
  TAILOR_PII_URL_PASSWORD, /* the password of scheme://user:password@host */
  TAILOR_PII_NATIONAL_ID,  /* US SSN, UK NI number, Spanish DNI/NIE, Dutch BSN */
  TAILOR_PII_N_KINDS
} TailorPiiKind;

typedef enum
{
  TAILOR_PII_ACTION_REDACT, /* replace the span with the kind's placeholder, e.g. [EMAIL] */
  TAILOR_PII_ACTION_DROP,   /* drop the whole example */
  TAILOR_PII_ACTION_KEEP,   /* report only */
} TailorPiiAction;

/* "email", "phone", "credit-card", …: the names used in JSON and settings. */
const char *tailor_pii_kind_to_string (TailorPiiKind kind);
gboolean tailor_pii_kind_from_string (const char *name, TailorPiiKind *kind);
/* "[EMAIL]", "[PHONE]", "[CREDIT_CARD]", "[IBAN]", "[IP_ADDRESS]", "[PRIVATE_KEY]", "[API_KEY]",
 * "[PASSWORD]", "[NATIONAL_ID]". */
const char *tailor_pii_kind_placeholder (TailorPiiKind kind);
const char *tailor_pii_action_to_string (TailorPiiAction action);
gboolean tailor_pii_action_from_string (const char *name, TailorPiiAction *action);

typedef struct
{
  TailorPiiAction actions[TAILOR_PII_N_KINDS]; /* default: REDACT for every kind */
  gboolean enabled[TAILOR_PII_N_KINDS];        /* default: all TRUE */
} TailorPiiOptions;

void tailor_pii_options_init (TailorPiiOptions *options);

/* A finding in one string: byte offsets [start, end). Findings never overlap: where patterns
 * overlap, the more specific kind wins, then the longer span. */
typedef struct
{
  TailorPiiKind kind;
  const char *detail; /* static: "github-token", "us-ssn", "ipv6", … */
  gsize start;
  gsize end;
} TailorPiiSpan;

/* TailorPiiSpan array, by start. options may be NULL (all kinds). */
GArray *tailor_pii_scan_text (const char *text, const TailorPiiOptions *options);
/* A copy of text with each span replaced by its kind's placeholder (spans as returned by
 * tailor_pii_scan_text; those whose kind's action is not REDACT are left as they are when options
 * is non-NULL). */
char *tailor_pii_redact_text (const char *text, GArray *spans, const TailorPiiOptions *options);
/* A preview that never shows the secret: at most 2 characters at each end of long spans, none of
 * short ones, e.g. "ja…om". */
char *tailor_pii_mask_preview (const char *text, gsize start, gsize end);

typedef struct
{
  guint index; /* example index */
  gint field;  /* message index for chat examples; 0 for text examples */
  TailorPiiKind kind;
  const char *detail;
  gsize start, end; /* byte offsets in that field */
  char *preview;    /* masked */
} TailorPiiFinding;

typedef struct
{
  guint n_examples;
  guint n_examples_with_findings;
  guint n_counter_examples_with_findings;
  guint counts[TAILOR_PII_N_KINDS]; /* findings per kind */
  guint n_redacted;                 /* findings that apply would redact */
  guint n_dropped;                  /* examples that apply would drop */
  TailorPiiOptions options;
  GArray *findings; /* TailorPiiFinding, by example, field, start */
} TailorPiiReport;

TailorPiiReport *tailor_pii_scan (GPtrArray *examples,
                                  const TailorPiiOptions *options,
                                  GCancellable *cancellable,
                                  GError **error);
/* New array (owning copies): examples with a DROP finding left out, REDACT findings replaced by
 * their placeholders. The examples must be those that were scanned. */
GPtrArray *tailor_pii_report_apply (const TailorPiiReport *report, GPtrArray *examples);
JsonNode *tailor_pii_report_to_json (const TailorPiiReport *report);
void tailor_pii_report_free (TailorPiiReport *report);

/* ------------------------------------------------------------------------------------------ */
/* Terminology normalisation. */

typedef struct _TailorGlossary TailorGlossary;

TailorGlossary *tailor_glossary_new (void);
/* Whole-word (Unicode word boundaries), longest variant first. Unless exact_case, the variant
 * matches in any case and the replacement follows the match: ALL CAPS gives the preferred term in
 * capitals, a Capitalised match a capitalised term, anything else the term as written. Runs of
 * spaces in a variant match any run of whitespace. Returns FALSE with error for an empty variant or
 * preferred term, or a variant already present. */
gboolean tailor_glossary_add (TailorGlossary *self,
                              const char *variant,
                              const char *preferred,
                              gboolean exact_case,
                              GError **error);
/* Lines "variant<TAB>preferred" or "variant<TAB>preferred<TAB>exact"; '#' starts a comment line. */
TailorGlossary *tailor_glossary_load (const char *path, GError **error);
guint tailor_glossary_get_n_entries (const TailorGlossary *self);
/* *n_replaced (may be NULL) is the number of replacements. */
char *tailor_glossary_apply_text (TailorGlossary *self, const char *text, guint *n_replaced);
void tailor_glossary_free (TailorGlossary *self);

typedef struct
{
  char *variant;
  char *preferred;
  guint n_replacements;
  guint n_examples; /* examples where it replaced something */
} TailorGlossaryCount;

typedef struct
{
  guint n_examples;
  guint n_examples_changed;
  guint n_counter_examples_changed;
  GArray *entries; /* TailorGlossaryCount, in the order the entries were added */
} TailorGlossaryReport;

/* New array (owning copies) with every message and text normalised. */
GPtrArray *
tailor_glossary_apply (TailorGlossary *self, GPtrArray *examples, TailorGlossaryReport **report);
JsonNode *tailor_glossary_report_to_json (const TailorGlossaryReport *report);
void tailor_glossary_report_free (TailorGlossaryReport *report);

/* ------------------------------------------------------------------------------------------ */
/* Counter-examples ("what not to do"): kept in training, counted separately. */

#define TAILOR_TAG_COUNTER_EXAMPLE "counter-example"

typedef gboolean (*TailorExamplePredicate) (const TailorExample *example, gconstpointer user_data);

/* Adds tag to every example for which predicate is TRUE; returns how many gained it. */
guint tailor_examples_tag_where (GPtrArray *examples,
                                 const char *tag,
                                 TailorExamplePredicate predicate,
                                 gconstpointer user_data);
/* Ready-made predicates. user_data: a glob (GPatternSpec syntax) over the source path. */
gboolean tailor_example_source_matches (const TailorExample *example, gconstpointer glob);
/* user_data: a marker string that any message content (or the text) contains. */
gboolean tailor_example_contains_marker (const TailorExample *example, gconstpointer marker);
guint tailor_examples_count_tag (GPtrArray *examples, const char *tag);

/* ------------------------------------------------------------------------------------------ */
/* Token lengths against the sequence length. */

/* The caller passes the model's tokenizer; returns the tokens of the example as trained. */
typedef guint (*TailorTokenCountFunc) (const TailorExample *example, gpointer user_data);

#define TAILOR_LENGTH_DEFAULT_BUCKETS 16

typedef struct
{
  char *split; /* "train", "eval", …; "all" for the total */
  guint n_examples;
  guint n_truncated; /* longer than the sequence length */
  guint64 n_tokens;
  guint64 n_tokens_lost; /* tokens beyond the sequence length, summed */
  guint min, max;
  double mean;
  guint p50, p90, p95, p99; /* nearest-rank percentiles */
  /* counts[i]: lengths in (edges[i], edges[i+1]], bucket 0 also holding 0; lengths above the
   * sequence length are n_truncated, in no bucket. */
  guint n_buckets;
  guint *edges;  /* n_buckets + 1 values, edges[0] = 0, edges[n_buckets] = sequence length */
  guint *counts; /* n_buckets values */
} TailorLengthStats;

typedef struct
{
  guint sequence_length;
  guint n_buckets;
  GPtrArray *splits;        /* TailorLengthStats*, in the order added */
  TailorLengthStats *total; /* every split together, split "all" */
} TailorLengthReport;

/* n_buckets 0 means TAILOR_LENGTH_DEFAULT_BUCKETS; clamped to the sequence length. */
TailorLengthReport *tailor_length_report_new (guint sequence_length, guint n_buckets);
/* Counts the tokens of each example (in order, on the calling thread: tokenizers need not be
 * thread-safe) and adds them as split. */
void tailor_length_report_add_split (TailorLengthReport *report,
                                     const char *split,
                                     GPtrArray *examples,
                                     TailorTokenCountFunc count,
                                     gpointer user_data);
JsonNode *tailor_length_report_to_json (const TailorLengthReport *report);
void tailor_length_report_free (TailorLengthReport *report);

/* ------------------------------------------------------------------------------------------ */
/* Balance: examples per source, per tag, per length bucket. */

typedef struct
{
  char *key;
  guint count;
} TailorCount;

typedef struct
{
  guint n_examples;
  guint n_counter_examples;
  GArray *per_source; /* TailorCount, most first, then by key */
  GArray *per_tag;    /* TailorCount, most first, then by key; untagged examples not listed */
  gboolean length_in_tokens; /* FALSE: lengths are characters of all text */
  guint n_length_buckets;
  guint *length_edges; /* n_length_buckets + 1; bucket i holds (edges[i], edges[i+1]], the
                        * last edge G_MAXUINT */
  guint *length_counts;
} TailorBalanceReport;

/* count NULL measures characters. edges NULL uses 0, 128, 256, 512, 1024, 2048, 4096, 8192, ∞. */
TailorBalanceReport *tailor_balance_report_new (GPtrArray *examples,
                                                TailorTokenCountFunc count,
                                                gpointer user_data,
                                                const guint *edges,
                                                guint n_edges);
JsonNode *tailor_balance_report_to_json (const TailorBalanceReport *report);
void tailor_balance_report_free (TailorBalanceReport *report);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorSignatureSet, tailor_signature_set_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorDuplicateReport, tailor_duplicate_report_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorSetMatchReport, tailor_set_match_report_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorPiiReport, tailor_pii_report_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorGlossary, tailor_glossary_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorGlossaryReport, tailor_glossary_report_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorLengthReport, tailor_length_report_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorBalanceReport, tailor_balance_report_free)

G_END_DECLS
