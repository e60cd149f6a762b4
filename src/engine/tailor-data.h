/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Training examples: the one record every importer produces and every hygiene step reads. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TAILOR_DATA_ERROR (tailor_data_error_quark ())
GQuark tailor_data_error_quark (void);

typedef enum {
  TAILOR_DATA_ERROR_IO,        /* cannot read/write the file */
  TAILOR_DATA_ERROR_FORMAT,    /* the file as a whole is not in the format asked for / detected */
  TAILOR_DATA_ERROR_ENCODING,  /* not UTF-8 / UTF-16 with BOM */
  TAILOR_DATA_ERROR_EMPTY,     /* no usable record at all */
  TAILOR_DATA_ERROR_CANCELLED,
} TailorDataError;

typedef enum {
  TAILOR_EXAMPLE_CHAT, /* messages */
  TAILOR_EXAMPLE_TEXT, /* plain text (raw documents, {"text"}) */
} TailorExampleKind;

typedef struct {
  char *role;    /* "system", "user", "assistant", "tool" */
  char *content;
} TailorMessage;

typedef struct {
  TailorExampleKind kind;
  GArray *messages;  /* TailorMessage, CHAT only (NULL for TEXT) */
  char *text;        /* TEXT only (NULL for CHAT) */
  /* Provenance: where it came from, for reports (never logged with its text). */
  char *source;      /* path of the file it was read from */
  guint64 line;      /* 1-based line (or record number / page for formats without lines) */
  GPtrArray *tags;   /* char*, e.g. "counter-example"; never NULL */
} TailorExample;

TailorExample *tailor_example_new_chat (void);
TailorExample *tailor_example_new_text (const char *text);
void tailor_example_add_message (TailorExample *self, const char *role, const char *content);
void tailor_example_add_tag (TailorExample *self, const char *tag);
gboolean tailor_example_has_tag (const TailorExample *self, const char *tag);
TailorExample *tailor_example_copy (const TailorExample *self);
void tailor_example_free (TailorExample *self);

/* Canonical one-line JSON: {"messages":[{"role":…,"content":…}…]} or {"text":…}, plus
 * "tags" when there are any. Provenance is not part of it. */
char *tailor_example_to_json (const TailorExample *self);
/* Parses what tailor_example_to_json wrote. */
TailorExample *tailor_example_from_json (const char *line, GError **error);
/* SHA-256 hex of the canonical JSON without tags: the example's identity. */
char *tailor_example_content_id (const TailorExample *self);
/* All text of the example (contents joined by "\n"), NFKC-normalised, case-folded, runs of
 * whitespace collapsed: what duplicate detection compares. */
char *tailor_example_normalized_text (const TailorExample *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorExample, tailor_example_free)

G_END_DECLS
