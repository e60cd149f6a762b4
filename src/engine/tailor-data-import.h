/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Importers: JSONL, CSV/TSV, Q&A text and documents, streamed into TailorExamples. */
#pragma once

#include <gio/gio.h>

#include "tailor-data.h"

G_BEGIN_DECLS

/* What a file holds. AUTO and JSONL are requests only: a summary always names the concrete
 * format that was used. */
typedef enum {
  TAILOR_IMPORT_FORMAT_AUTO,                    /* detect from content and extension */
  TAILOR_IMPORT_FORMAT_JSONL,                   /* JSON Lines; record shape detected */
  TAILOR_IMPORT_FORMAT_JSONL_CHAT,              /* {"messages":[{"role","content"}…]} */
  TAILOR_IMPORT_FORMAT_JSONL_SHAREGPT,          /* {"conversations":[{"from","value"}…]} */
  TAILOR_IMPORT_FORMAT_JSONL_ALPACA,            /* {"instruction","input","output"} */
  TAILOR_IMPORT_FORMAT_JSONL_PROMPT_COMPLETION, /* {"prompt","completion"} */
  TAILOR_IMPORT_FORMAT_JSONL_TEXT,              /* {"text"} */
  TAILOR_IMPORT_FORMAT_CSV,                     /* delimiter sniffed: comma, semicolon or tab */
  TAILOR_IMPORT_FORMAT_TSV,                     /* tab-separated */
  TAILOR_IMPORT_FORMAT_QA_TEXT,                 /* "Q:"/"A:" (or "Question:"/"Answer:") pairs */
  TAILOR_IMPORT_FORMAT_QA_MARKDOWN,             /* Markdown heading = question, body = answer */
  TAILOR_IMPORT_FORMAT_DOCUMENT_TEXT,           /* plain text, chunked into TEXT examples */
  TAILOR_IMPORT_FORMAT_DOCUMENT_MARKDOWN,
  TAILOR_IMPORT_FORMAT_DOCUMENT_HTML,
  TAILOR_IMPORT_FORMAT_DOCUMENT_PDF,
  TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX,
} TailorImportFormat;

/* Stable names for the CLI's --format and for reports: "auto", "jsonl", "jsonl-chat",
 * "jsonl-sharegpt", "jsonl-alpaca", "jsonl-prompt-completion", "jsonl-text", "csv", "tsv", "qa",
 * "markdown-qa", "text", "markdown", "html", "pdf", "docx". */
const char *tailor_import_format_to_string (TailorImportFormat format);
/* FALSE (with *out untouched) for an unknown name. */
gboolean tailor_import_format_from_string (const char *name, TailorImportFormat *out);

/* Why a record was rejected. Names (tailor_import_reject_reason_to_string) are stable. */
typedef enum {
  TAILOR_IMPORT_REJECT_MALFORMED,        /* "malformed": not valid JSON / unterminated CSV quote */
  TAILOR_IMPORT_REJECT_WRONG_TYPE,       /* "wrong-type": a field or the record has the wrong type */
  TAILOR_IMPORT_REJECT_MISSING_FIELD,    /* "missing-field": a required field or column is absent */
  TAILOR_IMPORT_REJECT_EMPTY,            /* "empty": empty conversation, prompt, answer or text */
  TAILOR_IMPORT_REJECT_NO_ASSISTANT,     /* "no-assistant-turn": nothing for the model to learn */
  TAILOR_IMPORT_REJECT_UNKNOWN_ROLE,     /* "unknown-role" */
  TAILOR_IMPORT_REJECT_INVALID_ENCODING, /* "invalid-encoding": bytes that are not valid UTF-8/16 */
  TAILOR_IMPORT_REJECT_TOO_LONG,         /* "too-long": over TailorImportOptions.max_record_bytes */
  TAILOR_IMPORT_REJECT_N_REASONS,
} TailorImportRejectReason;

const char *tailor_import_reject_reason_to_string (TailorImportRejectReason reason);

/* What TailorImportReject.line and TailorExample.line count in a given format. */
typedef enum {
  TAILOR_IMPORT_UNIT_LINE,      /* 1-based line of the text file (the first line of a record) */
  TAILOR_IMPORT_UNIT_PAGE,      /* 1-based PDF page */
  TAILOR_IMPORT_UNIT_PARAGRAPH, /* 1-based DOCX paragraph */
} TailorImportUnit;

const char *tailor_import_unit_to_string (TailorImportUnit unit);

typedef struct {
  const char *path;
  guint64 line;                    /* in `unit`s */
  TailorImportUnit unit;
  TailorImportRejectReason reason;
  const char *message;             /* what is wrong and what to do; never the record's text */
  const char *preview;             /* at most TAILOR_IMPORT_PREVIEW_CHARS characters of the
                                    * record, control characters blanked, "…" when clipped;
                                    * NULL when the bytes could not be shown */
} TailorImportReject;

#define TAILOR_IMPORT_PREVIEW_CHARS 40

/* Called once per accepted example; takes ownership of @example. Returning FALSE (with @error
 * set) stops the import and tailor_import_file() fails with that error. */
typedef gboolean (*TailorImportExampleFunc) (TailorExample *example, gpointer user_data,
                                             GError **error);
/* Called once per rejected record; everything in @reject is only valid during the call. */
typedef void (*TailorImportRejectFunc) (const TailorImportReject *reject, gpointer user_data);
/* Number of tokens @text (valid UTF-8) takes in the model the data is for. */
typedef guint (*TailorImportTokenCountFunc) (const char *text, gpointer user_data);

typedef enum {
  TAILOR_IMPORT_HEADER_AUTO, /* a header if a first-row cell names a known or mapped column */
  TAILOR_IMPORT_HEADER_YES,
  TAILOR_IMPORT_HEADER_NO,
} TailorImportHeader;

/* A CSV/TSV column: by header name (case-insensitive) or by 1-based index. Both unset (NULL, 0)
 * means "guess from the header" (question/answer, prompt/response, input/output,
 * instruction[+input]/output, …; without a header: column 1 prompt, column 2 response). */
typedef struct {
  const char *name;
  guint index;
} TailorImportColumn;

/* Zero-initialised options (or NULL) give the defaults noted on each field. */
typedef struct {
  /* CSV/TSV */
  TailorImportColumn prompt_column;
  TailorImportColumn response_column;
  TailorImportColumn system_column;   /* optional: unset means no system message */
  TailorImportHeader header;
  char delimiter;                     /* 0: sniffed (CSV) or tab (TSV) */

  /* Documents: chunks of at most chunk_tokens tokens (default 512), split at paragraph
   * boundaries (a single longer paragraph is split at sentence, then word boundaries). */
  guint chunk_tokens;
  TailorImportTokenCountFunc count_tokens; /* NULL: characters / chars_per_token, rounded up */
  gpointer count_tokens_data;
  double chars_per_token;             /* 0: 4.0 */

  /* Bounds the memory of one record; longer ones are rejected as too-long (default 16 MiB). */
  gsize max_record_bytes;

  /* Declared license of the source (SPDX id or free text), copied into the summary. */
  const char *license;
} TailorImportOptions;

typedef struct {
  char *path;
  TailorImportFormat format;         /* concrete: never AUTO or JSONL */
  TailorImportUnit unit;
  char *sha256;                      /* of the file's bytes, computed while reading */
  char *license;                     /* from the options, or NULL */
  guint64 records_read;              /* records seen: accepted + rejected */
  guint64 accepted;
  guint64 rejected;
  guint64 rejected_by_reason[TAILOR_IMPORT_REJECT_N_REASONS];
} TailorImportSummary;

void tailor_import_summary_free (TailorImportSummary *summary);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorImportSummary, tailor_import_summary_free)

/* Tells what @path holds from its first bytes (magic numbers, BOM, JSON record shapes, CSV
 * delimiters, Q&A markers) and its extension. A binary file of an unsupported kind, a JSON
 * array instead of JSON Lines or an unreadable file is an error naming the file. */
gboolean tailor_import_detect_format (const char *path, TailorImportFormat *out_format,
                                      GCancellable *cancellable, GError **error);

/* Streams @path, calling @on_example for every valid record and @on_reject for every invalid
 * one; memory does not grow with the file's size. @format AUTO detects; a forced format is used
 * as is (records that do not fit it are rejected). Fails (NULL, TAILOR_DATA_ERROR) when the file
 * cannot be read at all (IO), is not in a usable format or encoding (FORMAT, ENCODING), yields no
 * usable record (EMPTY), or is cancelled (CANCELLED); examples already delivered stay with the
 * caller, who decides whether to keep them. */
TailorImportSummary *tailor_import_file (const char *path, TailorImportFormat format,
                                         const TailorImportOptions *options,
                                         TailorImportExampleFunc on_example,
                                         TailorImportRejectFunc on_reject, gpointer user_data,
                                         GCancellable *cancellable, GError **error);

G_END_DECLS
