/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Importers: JSONL, CSV/TSV, Q&A text and documents, streamed into TailorExamples. */
#include "config.h"

#include "tailor-data-import.h"

#include <archive.h>
#include <archive_entry.h>
#include <json-glib/json-glib.h>
#include <libxml/HTMLparser.h>
#include <libxml/SAX2.h>
#include <libxml/xmlreader.h>
#include <poppler.h>
#include <string.h>

/* Large enough that read() overhead vanishes, small enough to keep memory flat. */
#define READ_CHUNK (64 * 1024)
#define DEFAULT_MAX_RECORD_BYTES (16 * 1024 * 1024)
#define DEFAULT_CHUNK_TOKENS 512
#define DEFAULT_CHARS_PER_TOKEN 4.0
/* How much of a file detection looks at: enough records to outvote a few odd ones. */
#define PREFIX_LINES 200
#define PREFIX_BYTES (256 * 1024)
#define SHAPE_VOTES 32
#define CANCEL_CHECK_LINES 1024

#define WORD_NS "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

/* ---------------------------------------------------------------------------------------------- */
/* Names */

static const char *const format_names[] = {
  [TAILOR_IMPORT_FORMAT_AUTO] = "auto",
  [TAILOR_IMPORT_FORMAT_JSONL] = "jsonl",
  [TAILOR_IMPORT_FORMAT_JSONL_CHAT] = "jsonl-chat",
  [TAILOR_IMPORT_FORMAT_JSONL_SHAREGPT] = "jsonl-sharegpt",
  [TAILOR_IMPORT_FORMAT_JSONL_ALPACA] = "jsonl-alpaca",
  [TAILOR_IMPORT_FORMAT_JSONL_PROMPT_COMPLETION] = "jsonl-prompt-completion",
  [TAILOR_IMPORT_FORMAT_JSONL_TEXT] = "jsonl-text",
  [TAILOR_IMPORT_FORMAT_CSV] = "csv",
  [TAILOR_IMPORT_FORMAT_TSV] = "tsv",
  [TAILOR_IMPORT_FORMAT_QA_TEXT] = "qa",
  [TAILOR_IMPORT_FORMAT_QA_MARKDOWN] = "markdown-qa",
  [TAILOR_IMPORT_FORMAT_DOCUMENT_TEXT] = "text",
  [TAILOR_IMPORT_FORMAT_DOCUMENT_MARKDOWN] = "markdown",
  [TAILOR_IMPORT_FORMAT_DOCUMENT_HTML] = "html",
  [TAILOR_IMPORT_FORMAT_DOCUMENT_PDF] = "pdf",
  [TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX] = "docx",
};

static const char *const reason_names[] = {
  [TAILOR_IMPORT_REJECT_MALFORMED] = "malformed",
  [TAILOR_IMPORT_REJECT_WRONG_TYPE] = "wrong-type",
  [TAILOR_IMPORT_REJECT_MISSING_FIELD] = "missing-field",
  [TAILOR_IMPORT_REJECT_EMPTY] = "empty",
  [TAILOR_IMPORT_REJECT_NO_ASSISTANT] = "no-assistant-turn",
  [TAILOR_IMPORT_REJECT_UNKNOWN_ROLE] = "unknown-role",
  [TAILOR_IMPORT_REJECT_INVALID_ENCODING] = "invalid-encoding",
  [TAILOR_IMPORT_REJECT_TOO_LONG] = "too-long",
};

static const char *const unit_names[] = {
  [TAILOR_IMPORT_UNIT_LINE] = "line",
  [TAILOR_IMPORT_UNIT_PAGE] = "page",
  [TAILOR_IMPORT_UNIT_PARAGRAPH] = "paragraph",
};

const char *
tailor_import_format_to_string (TailorImportFormat format)
{
  g_return_val_if_fail ((guint) format < G_N_ELEMENTS (format_names), NULL);

  return format_names[format];
}

gboolean
tailor_import_format_from_string (const char *name, TailorImportFormat *out)
{
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (format_names); i++)
    if (g_ascii_strcasecmp (name, format_names[i]) == 0)
      {
        *out = (TailorImportFormat) i;
        return TRUE;
      }
  return FALSE;
}

const char *
tailor_import_reject_reason_to_string (TailorImportRejectReason reason)
{
  g_return_val_if_fail ((guint) reason < G_N_ELEMENTS (reason_names), NULL);

  return reason_names[reason];
}

const char *
tailor_import_unit_to_string (TailorImportUnit unit)
{
  g_return_val_if_fail ((guint) unit < G_N_ELEMENTS (unit_names), NULL);

  return unit_names[unit];
}

void
tailor_import_summary_free (TailorImportSummary *summary)
{
  if (summary == NULL)
    return;
  g_free (summary->path);
  g_free (summary->sha256);
  g_free (summary->license);
  g_free (summary);
}

/* ---------------------------------------------------------------------------------------------- */
/* One import in progress */

typedef struct {
  const char *path;
  TailorImportOptions opts;
  TailorImportExampleFunc on_example;
  TailorImportRejectFunc on_reject;
  gpointer user_data;
  GCancellable *cancellable;
  TailorImportSummary *summary;
} Import;

static gboolean
import_cancelled (Import *imp, GError **error)
{
  if (!g_cancellable_is_cancelled (imp->cancellable))
    return FALSE;
  g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_CANCELLED,
               "Import of “%s” was cancelled", imp->path);
  return TRUE;
}

/* A short, single-line glimpse of a record: enough to find it, too little to leak it. */
static char *
make_preview (const char *text, gssize len)
{
  gsize n = len < 0 ? strlen (text) : (gsize) len;
  gsize take = MIN (n, (gsize) TAILOR_IMPORT_PREVIEW_CHARS * 4);
  g_autofree char *valid = g_utf8_make_valid (text, take);
  GString *out = g_string_new (NULL);
  const char *p = valid;
  guint count = 0;

  while (*p != '\0' && g_unichar_isspace (g_utf8_get_char (p)))
    p = g_utf8_next_char (p);
  for (; *p != '\0' && count < TAILOR_IMPORT_PREVIEW_CHARS; p = g_utf8_next_char (p), count++)
    {
      gunichar c = g_utf8_get_char (p);

      g_string_append_unichar (out, g_unichar_iscntrl (c) ? ' ' : c);
    }
  if (*p != '\0' || take < n)
    g_string_append (out, "…");
  return g_string_free (out, FALSE);
}

static void import_reject (Import *imp, guint64 line, TailorImportRejectReason reason,
                           const char *record, gssize record_len, const char *format, ...)
  G_GNUC_PRINTF (6, 7);

static void
import_reject (Import *imp, guint64 line, TailorImportRejectReason reason, const char *record,
               gssize record_len, const char *format, ...)
{
  g_autofree char *message = NULL;
  g_autofree char *preview = NULL;
  TailorImportReject reject;
  va_list args;

  imp->summary->records_read++;
  imp->summary->rejected++;
  imp->summary->rejected_by_reason[reason]++;
  if (imp->on_reject == NULL)
    return;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  if (record != NULL)
    preview = make_preview (record, record_len);

  reject.path = imp->path;
  reject.line = line;
  reject.unit = imp->summary->unit;
  reject.reason = reason;
  reject.message = message;
  reject.preview = preview;
  imp->on_reject (&reject, imp->user_data);
}

static gboolean
import_emit (Import *imp, TailorExample *example, guint64 line, GError **error)
{
  example->source = g_strdup (imp->path);
  example->line = line;
  imp->summary->records_read++;
  imp->summary->accepted++;
  if (imp->on_example == NULL)
    {
      tailor_example_free (example);
      return TRUE;
    }
  return imp->on_example (example, imp->user_data, error);
}

static gboolean
is_blank (const char *s)
{
  for (; *s != '\0'; s++)
    if (!g_ascii_isspace (*s))
      return FALSE;
  return TRUE;
}

static gboolean
is_blank_utf8 (const char *s)
{
  for (; *s != '\0'; s = g_utf8_next_char (s))
    if (!g_unichar_isspace (g_utf8_get_char (s)))
      return FALSE;
  return TRUE;
}

/* ---------------------------------------------------------------------------------------------- */
/* Lines: bytes → UTF-8 lines, whatever the file's encoding, without holding more than one line */

typedef enum {
  ENCODING_UTF8,
  ENCODING_UTF16LE,
  ENCODING_UTF16BE,
} Encoding;

typedef enum {
  LINE_OK,
  LINE_INVALID_ENCODING,
  LINE_TOO_LONG,
} LineStatus;

typedef struct {
  char *path;
  GInputStream *stream;
  GCancellable *cancellable;
  GChecksum *checksum;
  Encoding encoding;
  guint8 *buf;
  gsize buf_len;
  gsize buf_pos;
  gboolean eof;
  GString *line;
  gsize max_line;
  gboolean overflow;
  gboolean bad;
  guint64 line_no;
  int odd_byte;
  gunichar high_surrogate;
} LineReader;

static void
line_reader_free (LineReader *r)
{
  if (r == NULL)
    return;
  g_free (r->path);
  g_clear_object (&r->stream);
  g_clear_object (&r->cancellable);
  g_clear_pointer (&r->checksum, g_checksum_free);
  g_free (r->buf);
  g_string_free (r->line, TRUE);
  g_free (r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LineReader, line_reader_free)

static gboolean
set_io_error (GError **error, const char *path, GError *cause)
{
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_CANCELLED,
                 "Import of “%s” was cancelled", path);
  else
    g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO,
                 "Cannot read “%s”: %s; check that the file exists and is readable", path,
                 cause->message);
  return FALSE;
}

static gboolean
line_reader_fill (LineReader *r, GError **error)
{
  g_autoptr (GError) local = NULL;
  gsize n = 0;

  if (!g_input_stream_read_all (r->stream, r->buf, READ_CHUNK, &n, r->cancellable, &local))
    return set_io_error (error, r->path, local);
  if (r->checksum != NULL && n > 0)
    g_checksum_update (r->checksum, r->buf, n);
  r->buf_len = n;
  r->buf_pos = 0;
  if (n < READ_CHUNK)
    r->eof = TRUE;
  return TRUE;
}

static LineReader *
line_reader_open (const char *path, gsize max_line, gboolean hash, GCancellable *cancellable,
                  GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GError) local = NULL;
  g_autoptr (LineReader) r = g_new0 (LineReader, 1);
  GFileInputStream *stream;

  r->path = g_strdup (path);
  r->line = g_string_new (NULL);
  r->max_line = max_line;
  r->odd_byte = -1;
  r->buf = g_malloc (READ_CHUNK);
  r->checksum = hash ? g_checksum_new (G_CHECKSUM_SHA256) : NULL;
  r->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;

  stream = g_file_read (file, cancellable, &local);
  if (stream == NULL)
    {
      set_io_error (error, path, local);
      return NULL;
    }
  r->stream = G_INPUT_STREAM (stream);
  if (!line_reader_fill (r, error))
    return NULL;

  if (r->buf_len >= 3 && memcmp (r->buf, "\xef\xbb\xbf", 3) == 0)
    r->buf_pos = 3;
  else if (r->buf_len >= 2 && memcmp (r->buf, "\xff\xfe", 2) == 0)
    {
      r->encoding = ENCODING_UTF16LE;
      r->buf_pos = 2;
    }
  else if (r->buf_len >= 2 && memcmp (r->buf, "\xfe\xff", 2) == 0)
    {
      r->encoding = ENCODING_UTF16BE;
      r->buf_pos = 2;
    }
  else if (memchr (r->buf, '\0', r->buf_len) != NULL)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_ENCODING,
                   "“%s” is a binary file, not text (it contains NUL bytes): Tailor imports "
                   "UTF-8 or UTF-16 (with a byte-order mark) text, PDF and DOCX; save it as "
                   "one of those",
                   path);
      return NULL;
    }

  return g_steal_pointer (&r);
}

static void
line_append (LineReader *r, const char *bytes, gsize n)
{
  if (r->overflow)
    return;
  if (r->line->len + n > r->max_line)
    {
      /* Keep a bounded head of the line for the preview, drop the rest. */
      r->overflow = TRUE;
      return;
    }
  g_string_append_len (r->line, bytes, n);
}

static void
line_append_unichar (LineReader *r, gunichar c)
{
  char utf8[6];
  int n = g_unichar_to_utf8 (c, utf8);

  line_append (r, utf8, n);
}

/* Decodes UTF-16 code units up to and including a newline; TRUE when the line is complete. */
static gboolean
decode_utf16 (LineReader *r)
{
  while (r->buf_pos < r->buf_len)
    {
      guint8 b = r->buf[r->buf_pos++];
      guint16 u;

      if (r->odd_byte < 0)
        {
          r->odd_byte = b;
          continue;
        }
      u = r->encoding == ENCODING_UTF16LE ? (guint16) (r->odd_byte | (b << 8))
                                          : (guint16) ((r->odd_byte << 8) | b);
      r->odd_byte = -1;

      if (r->high_surrogate != 0)
        {
          gunichar high = r->high_surrogate;

          r->high_surrogate = 0;
          if (u >= 0xDC00 && u <= 0xDFFF)
            {
              line_append_unichar (r, 0x10000 + ((high - 0xD800) << 10) + (u - 0xDC00));
              continue;
            }
          r->bad = TRUE;
          line_append_unichar (r, 0xFFFD);
        }

      if (u >= 0xD800 && u <= 0xDBFF)
        r->high_surrogate = u;
      else if ((u >= 0xDC00 && u <= 0xDFFF) || u == 0)
        {
          r->bad = TRUE;
          line_append_unichar (r, 0xFFFD);
        }
      else if (u == '\n')
        return TRUE;
      else
        line_append_unichar (r, u);
    }
  return FALSE;
}

/* 1: a line is in r->line; 0: end of file; -1: error. */
static int
line_reader_next (LineReader *r, LineStatus *status, GError **error)
{
  gboolean got_any = FALSE;
  gboolean complete = FALSE;

  g_string_truncate (r->line, 0);
  r->overflow = FALSE;
  r->bad = FALSE;

  if (r->line_no % CANCEL_CHECK_LINES == 0 && g_cancellable_is_cancelled (r->cancellable))
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_CANCELLED,
                   "Import of “%s” was cancelled", r->path);
      return -1;
    }

  while (!complete)
    {
      if (r->buf_pos == r->buf_len)
        {
          if (r->eof)
            break;
          if (!line_reader_fill (r, error))
            return -1;
          continue;
        }
      got_any = TRUE;
      if (r->encoding == ENCODING_UTF8)
        {
          const guint8 *start = r->buf + r->buf_pos;
          gsize avail = r->buf_len - r->buf_pos;
          const guint8 *nl = memchr (start, '\n', avail);
          gsize n = nl != NULL ? (gsize) (nl - start) : avail;

          line_append (r, (const char *) start, n);
          r->buf_pos += n;
          if (nl != NULL)
            {
              r->buf_pos++;
              complete = TRUE;
            }
        }
      else
        complete = decode_utf16 (r);
    }

  if (!got_any)
    return 0;
  if (!complete && (r->odd_byte >= 0 || r->high_surrogate != 0))
    {
      r->bad = TRUE;
      r->odd_byte = -1;
      r->high_surrogate = 0;
    }
  if (r->line->len > 0 && r->line->str[r->line->len - 1] == '\r')
    g_string_truncate (r->line, r->line->len - 1);
  r->line_no++;

  if (r->overflow)
    *status = LINE_TOO_LONG;
  else if (r->bad || !g_utf8_validate_len (r->line->str, r->line->len, NULL))
    *status = LINE_INVALID_ENCODING;
  else
    *status = LINE_OK;
  return 1;
}

/* Reads the rest of the file so the checksum covers all of it, and hands the digest over. */
static gboolean
line_reader_finish (LineReader *r, Import *imp, GError **error)
{
  while (!r->eof)
    if (!line_reader_fill (r, error))
      return FALSE;
  if (r->checksum != NULL)
    imp->summary->sha256 = g_strdup (g_checksum_get_string (r->checksum));
  return TRUE;
}

/* Reports a line that cannot be a record on its own terms; TRUE when it was one. */
static gboolean
reject_bad_line (Import *imp, LineReader *r, LineStatus status)
{
  switch (status)
    {
    case LINE_TOO_LONG:
      import_reject (imp, r->line_no, TAILOR_IMPORT_REJECT_TOO_LONG, r->line->str, r->line->len,
                     "Line is longer than %" G_GSIZE_FORMAT " bytes; split the record or raise "
                     "the record size limit",
                     r->max_line);
      return TRUE;
    case LINE_INVALID_ENCODING:
      import_reject (imp, r->line_no, TAILOR_IMPORT_REJECT_INVALID_ENCODING, r->line->str,
                     r->line->len,
                     "Line has bytes that are not valid %s; re-save the file as UTF-8",
                     r->encoding == ENCODING_UTF8 ? "UTF-8" : "UTF-16");
      return TRUE;
    case LINE_OK:
      return FALSE;
    default:
      g_assert_not_reached ();
    }
}

/* The first lines of a file (invalid ones as empty strings), for detection. */
static GPtrArray *
read_prefix (const char *path, GCancellable *cancellable, GError **error)
{
  g_autoptr (LineReader) r = line_reader_open (path, PREFIX_BYTES, FALSE, cancellable, error);
  g_autoptr (GPtrArray) lines = NULL;
  gsize total = 0;

  if (r == NULL)
    return NULL;
  lines = g_ptr_array_new_with_free_func (g_free);
  while (lines->len < PREFIX_LINES && total < PREFIX_BYTES)
    {
      LineStatus status = LINE_OK;
      int rc = line_reader_next (r, &status, error);

      if (rc < 0)
        return NULL;
      if (rc == 0)
        break;
      total += r->line->len;
      g_ptr_array_add (lines, status == LINE_OK ? g_strndup (r->line->str, r->line->len)
                                                : g_strdup (""));
    }
  return g_steal_pointer (&lines);
}

/* ---------------------------------------------------------------------------------------------- */
/* JSONL */

static const char *
node_type_name (JsonNode *node)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return "null";
  if (JSON_NODE_HOLDS_OBJECT (node))
    return "object";
  if (JSON_NODE_HOLDS_ARRAY (node))
    return "array";
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING:
      return "string";
    case G_TYPE_BOOLEAN:
      return "boolean";
    default:
      return "number";
    }
}

static gboolean
node_is_string (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node)
         && json_node_get_value_type (node) == G_TYPE_STRING;
}

typedef struct {
  TailorImportRejectReason reason;
  char *message;
} RecordError;

static void G_GNUC_PRINTF (3, 4)
record_error (RecordError *err, TailorImportRejectReason reason, const char *format, ...)
{
  va_list args;

  err->reason = reason;
  g_free (err->message);
  va_start (args, format);
  err->message = g_strdup_vprintf (format, args);
  va_end (args);
}

/* A required string member; @what names the record kind for the message. */
static const char *
require_string (JsonObject *obj, const char *name, const char *what, RecordError *err)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL)
    {
      record_error (err, TAILOR_IMPORT_REJECT_MISSING_FIELD, "No “%s” field (expected %s)", name,
                    what);
      return NULL;
    }
  if (!node_is_string (node))
    {
      record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE, "“%s” is a %s, not a string", name,
                    node_type_name (node));
      return NULL;
    }
  return json_node_get_string (node);
}

static const char *
chat_role (const char *role)
{
  static const char *const map[][2] = {
    { "system", "system" }, { "developer", "system" }, { "user", "user" },
    { "assistant", "assistant" }, { "tool", "tool" }, { "function", "tool" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (g_ascii_strcasecmp (role, map[i][0]) == 0)
      return map[i][1];
  return NULL;
}

static const char *
sharegpt_role (const char *from)
{
  static const char *const map[][2] = {
    { "human", "user" },           { "user", "user" },         { "gpt", "assistant" },
    { "assistant", "assistant" },  { "chatgpt", "assistant" }, { "bard", "assistant" },
    { "bing", "assistant" },       { "model", "assistant" },   { "system", "system" },
    { "tool", "tool" },            { "function", "tool" },     { "observation", "tool" },
    { "function_response", "tool" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (g_ascii_strcasecmp (from, map[i][0]) == 0)
      return map[i][1];
  return NULL;
}

/* "content" as a string, or a list of {"type":"text","text":…} parts joined by newlines. */
static char *
chat_content (JsonNode *node, guint index, RecordError *err)
{
  JsonArray *parts;
  GString *out;

  if (node == NULL)
    {
      record_error (err, TAILOR_IMPORT_REJECT_MISSING_FIELD, "Message %u has no “content”",
                    index);
      return NULL;
    }
  if (node_is_string (node))
    return g_strdup (json_node_get_string (node));
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE,
                    "Message %u: “content” is a %s, not a string or a list of text parts", index,
                    node_type_name (node));
      return NULL;
    }

  parts = json_node_get_array (node);
  out = g_string_new (NULL);
  for (guint i = 0; i < json_array_get_length (parts); i++)
    {
      JsonNode *part = json_array_get_element (parts, i);
      JsonObject *obj;
      JsonNode *type;
      JsonNode *text;

      if (!JSON_NODE_HOLDS_OBJECT (part))
        {
          record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE,
                        "Message %u: content part %u is a %s, not an object", index, i + 1,
                        node_type_name (part));
          g_string_free (out, TRUE);
          return NULL;
        }
      obj = json_node_get_object (part);
      type = json_object_get_member (obj, "type");
      text = json_object_get_member (obj, "text");
      if (!node_is_string (type) || strcmp (json_node_get_string (type), "text") != 0
          || !node_is_string (text))
        {
          record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE,
                        "Message %u: content part %u is not a {\"type\":\"text\",\"text\":…} "
                        "part; only text can be imported",
                        index, i + 1);
          g_string_free (out, TRUE);
          return NULL;
        }
      if (out->len > 0)
        g_string_append_c (out, '\n');
      g_string_append (out, json_node_get_string (text));
    }
  return g_string_free (out, FALSE);
}

/* Shared by chat and ShareGPT: the conversation is usable only if the model has something to
 * learn in it. */
static gboolean
check_conversation (TailorExample *ex, const char *field, RecordError *err)
{
  if (ex->messages->len == 0)
    {
      record_error (err, TAILOR_IMPORT_REJECT_EMPTY, "“%s” is an empty conversation", field);
      return FALSE;
    }
  for (guint i = 0; i < ex->messages->len; i++)
    {
      const TailorMessage *m = &g_array_index (ex->messages, TailorMessage, i);

      if (strcmp (m->role, "assistant") == 0 && !is_blank_utf8 (m->content))
        return TRUE;
    }
  record_error (err, TAILOR_IMPORT_REJECT_NO_ASSISTANT,
                "Conversation has no assistant turn with text: nothing for the model to learn");
  return FALSE;
}

static TailorExample *
jsonl_chat (JsonObject *obj, RecordError *err)
{
  g_autoptr (TailorExample) ex = NULL;
  JsonNode *node = json_object_get_member (obj, "messages");
  JsonArray *messages;

  if (node == NULL)
    {
      record_error (err, TAILOR_IMPORT_REJECT_MISSING_FIELD,
                    "No “messages” field (expected a chat record {\"messages\":[…]})");
      return NULL;
    }
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE, "“messages” is a %s, not an array",
                    node_type_name (node));
      return NULL;
    }

  messages = json_node_get_array (node);
  ex = tailor_example_new_chat ();
  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      JsonNode *item = json_array_get_element (messages, i);
      g_autofree char *content = NULL;
      JsonObject *msg;
      JsonNode *role_node;
      const char *role;

      if (!JSON_NODE_HOLDS_OBJECT (item))
        {
          record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE,
                        "Message %u is a %s, not an object with “role” and “content”", i + 1,
                        node_type_name (item));
          return NULL;
        }
      msg = json_node_get_object (item);
      role_node = json_object_get_member (msg, "role");
      if (role_node == NULL)
        {
          record_error (err, TAILOR_IMPORT_REJECT_MISSING_FIELD, "Message %u has no “role”",
                        i + 1);
          return NULL;
        }
      if (!node_is_string (role_node))
        {
          record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE,
                        "Message %u: “role” is a %s, not a string", i + 1,
                        node_type_name (role_node));
          return NULL;
        }
      role = chat_role (json_node_get_string (role_node));
      if (role == NULL)
        {
          g_autofree char *shown = make_preview (json_node_get_string (role_node), -1);

          record_error (err, TAILOR_IMPORT_REJECT_UNKNOWN_ROLE,
                        "Message %u has unknown role “%s”; use system, user, assistant or tool",
                        i + 1, shown);
          return NULL;
        }
      content = chat_content (json_object_get_member (msg, "content"), i + 1, err);
      if (content == NULL)
        return NULL;
      tailor_example_add_message (ex, role, content);
    }

  if (!check_conversation (ex, "messages", err))
    return NULL;
  return g_steal_pointer (&ex);
}

static TailorExample *
jsonl_sharegpt (JsonObject *obj, RecordError *err)
{
  g_autoptr (TailorExample) ex = NULL;
  JsonNode *node = json_object_get_member (obj, "conversations");
  JsonArray *turns;

  if (node == NULL)
    {
      record_error (err, TAILOR_IMPORT_REJECT_MISSING_FIELD,
                    "No “conversations” field (expected a ShareGPT record)");
      return NULL;
    }
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE, "“conversations” is a %s, not an array",
                    node_type_name (node));
      return NULL;
    }

  turns = json_node_get_array (node);
  ex = tailor_example_new_chat ();
  for (guint i = 0; i < json_array_get_length (turns); i++)
    {
      JsonNode *item = json_array_get_element (turns, i);
      g_autofree char *where = g_strdup_printf ("turn %u", i + 1);
      const char *from;
      const char *value;
      const char *role;

      if (!JSON_NODE_HOLDS_OBJECT (item))
        {
          record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE,
                        "Turn %u is a %s, not an object with “from” and “value”", i + 1,
                        node_type_name (item));
          return NULL;
        }
      from = require_string (json_node_get_object (item), "from", where, err);
      if (from == NULL)
        return NULL;
      value = require_string (json_node_get_object (item), "value", where, err);
      if (value == NULL)
        return NULL;
      role = sharegpt_role (from);
      if (role == NULL)
        {
          g_autofree char *shown = make_preview (from, -1);

          record_error (err, TAILOR_IMPORT_REJECT_UNKNOWN_ROLE,
                        "Turn %u is from unknown speaker “%s”; use human, gpt or system", i + 1,
                        shown);
          return NULL;
        }
      tailor_example_add_message (ex, role, value);
    }

  if (!check_conversation (ex, "conversations", err))
    return NULL;
  return g_steal_pointer (&ex);
}

static TailorExample *
jsonl_alpaca (JsonObject *obj, RecordError *err)
{
  const char *what = "an Alpaca record {\"instruction\",\"input\",\"output\"}";
  const char *instruction = require_string (obj, "instruction", what, err);
  const char *output;
  const char *input = NULL;
  const char *system = NULL;
  JsonNode *node;
  g_autoptr (TailorExample) ex = NULL;
  g_autofree char *user = NULL;

  if (instruction == NULL)
    return NULL;
  output = require_string (obj, "output", what, err);
  if (output == NULL)
    return NULL;
  node = json_object_get_member (obj, "input");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      if (!node_is_string (node))
        {
          record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE, "“input” is a %s, not a string",
                        node_type_name (node));
          return NULL;
        }
      input = json_node_get_string (node);
    }
  node = json_object_get_member (obj, "system");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      if (!node_is_string (node))
        {
          record_error (err, TAILOR_IMPORT_REJECT_WRONG_TYPE, "“system” is a %s, not a string",
                        node_type_name (node));
          return NULL;
        }
      system = json_node_get_string (node);
    }

  if (is_blank_utf8 (instruction) && (input == NULL || is_blank_utf8 (input)))
    {
      record_error (err, TAILOR_IMPORT_REJECT_EMPTY, "“instruction” and “input” are empty");
      return NULL;
    }
  if (is_blank_utf8 (output))
    {
      record_error (err, TAILOR_IMPORT_REJECT_EMPTY,
                    "“output” is empty: nothing for the model to learn");
      return NULL;
    }

  if (input != NULL && !is_blank_utf8 (input))
    user = is_blank_utf8 (instruction) ? g_strdup (input)
                                       : g_strconcat (instruction, "\n\n", input, NULL);
  else
    user = g_strdup (instruction);

  ex = tailor_example_new_chat ();
  if (system != NULL && !is_blank_utf8 (system))
    tailor_example_add_message (ex, "system", system);
  tailor_example_add_message (ex, "user", user);
  tailor_example_add_message (ex, "assistant", output);
  return g_steal_pointer (&ex);
}

static TailorExample *
jsonl_prompt_completion (JsonObject *obj, RecordError *err)
{
  const char *what = "a {\"prompt\",\"completion\"} record";
  const char *prompt = require_string (obj, "prompt", what, err);
  const char *completion;
  TailorExample *ex;

  if (prompt == NULL)
    return NULL;
  completion = require_string (obj, "completion", what, err);
  if (completion == NULL)
    return NULL;
  if (is_blank_utf8 (prompt))
    {
      record_error (err, TAILOR_IMPORT_REJECT_EMPTY, "“prompt” is empty");
      return NULL;
    }
  if (is_blank_utf8 (completion))
    {
      record_error (err, TAILOR_IMPORT_REJECT_EMPTY,
                    "“completion” is empty: nothing for the model to learn");
      return NULL;
    }
  ex = tailor_example_new_chat ();
  tailor_example_add_message (ex, "user", prompt);
  tailor_example_add_message (ex, "assistant", completion);
  return ex;
}

static TailorExample *
jsonl_text (JsonObject *obj, RecordError *err)
{
  const char *text = require_string (obj, "text", "a {\"text\"} record", err);

  if (text == NULL)
    return NULL;
  if (is_blank_utf8 (text))
    {
      record_error (err, TAILOR_IMPORT_REJECT_EMPTY, "“text” is empty");
      return NULL;
    }
  return tailor_example_new_text (text);
}

/* The record shape an object looks like, or AUTO when it matches none. */
static TailorImportFormat
jsonl_shape_of (JsonObject *obj)
{
  if (json_object_has_member (obj, "messages"))
    return TAILOR_IMPORT_FORMAT_JSONL_CHAT;
  if (json_object_has_member (obj, "conversations"))
    return TAILOR_IMPORT_FORMAT_JSONL_SHAREGPT;
  if (json_object_has_member (obj, "instruction") && json_object_has_member (obj, "output"))
    return TAILOR_IMPORT_FORMAT_JSONL_ALPACA;
  if (json_object_has_member (obj, "prompt") && json_object_has_member (obj, "completion"))
    return TAILOR_IMPORT_FORMAT_JSONL_PROMPT_COMPLETION;
  if (json_object_has_member (obj, "text"))
    return TAILOR_IMPORT_FORMAT_JSONL_TEXT;
  return TAILOR_IMPORT_FORMAT_AUTO;
}

/* Majority vote of the first valid records' shapes. */
static gboolean
detect_jsonl_shape (const char *path, GPtrArray *lines, TailorImportFormat *out, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  guint votes[TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX + 1] = { 0 };
  guint total = 0;
  TailorImportFormat best = TAILOR_IMPORT_FORMAT_AUTO;

  for (guint i = 0; i < lines->len && total < SHAPE_VOTES; i++)
    {
      const char *line = g_ptr_array_index (lines, i);
      JsonNode *root;
      TailorImportFormat shape;

      if (is_blank (line) || !json_parser_load_from_data (parser, line, -1, NULL))
        continue;
      root = json_parser_get_root (parser);
      if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
        continue;
      shape = jsonl_shape_of (json_node_get_object (root));
      if (shape == TAILOR_IMPORT_FORMAT_AUTO)
        continue;
      votes[shape]++;
      total++;
      /* Ties go to the shape seen first. */
      if (best == TAILOR_IMPORT_FORMAT_AUTO || votes[shape] > votes[best])
        best = shape;
    }

  if (best == TAILOR_IMPORT_FORMAT_AUTO)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "None of the first %u lines of “%s” is a JSON record Tailor knows: expected "
                   "chat {\"messages\"}, ShareGPT {\"conversations\"}, Alpaca "
                   "{\"instruction\",\"output\"}, {\"prompt\",\"completion\"} or {\"text\"}",
                   lines->len, path);
      return FALSE;
    }
  *out = best;
  return TRUE;
}

static gboolean
import_jsonl (Import *imp, TailorImportFormat shape, GError **error)
{
  g_autoptr (LineReader) r = line_reader_open (imp->path, imp->opts.max_record_bytes, TRUE,
                                               imp->cancellable, error);
  g_autoptr (JsonParser) parser = json_parser_new ();

  if (r == NULL)
    return FALSE;

  for (;;)
    {
      g_autoptr (GError) parse_error = NULL;
      RecordError err = { 0 };
      LineStatus status = LINE_OK;
      TailorExample *ex = NULL;
      JsonNode *root;
      JsonObject *obj;
      int rc = line_reader_next (r, &status, error);

      if (rc < 0)
        return FALSE;
      if (rc == 0)
        break;
      if (reject_bad_line (imp, r, status) || is_blank (r->line->str))
        continue;

      if (!json_parser_load_from_data (parser, r->line->str, r->line->len, &parse_error))
        {
          import_reject (imp, r->line_no, TAILOR_IMPORT_REJECT_MALFORMED, r->line->str,
                         r->line->len, "Not valid JSON: %s", parse_error->message);
          continue;
        }
      root = json_parser_get_root (parser);
      if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
        {
          import_reject (imp, r->line_no, TAILOR_IMPORT_REJECT_WRONG_TYPE, r->line->str,
                         r->line->len, "Record is a JSON %s, not an object",
                         node_type_name (root));
          continue;
        }
      obj = json_node_get_object (root);

      switch (shape)
        {
        case TAILOR_IMPORT_FORMAT_JSONL_CHAT:
          ex = jsonl_chat (obj, &err);
          break;
        case TAILOR_IMPORT_FORMAT_JSONL_SHAREGPT:
          ex = jsonl_sharegpt (obj, &err);
          break;
        case TAILOR_IMPORT_FORMAT_JSONL_ALPACA:
          ex = jsonl_alpaca (obj, &err);
          break;
        case TAILOR_IMPORT_FORMAT_JSONL_PROMPT_COMPLETION:
          ex = jsonl_prompt_completion (obj, &err);
          break;
        case TAILOR_IMPORT_FORMAT_JSONL_TEXT:
          ex = jsonl_text (obj, &err);
          break;
        case TAILOR_IMPORT_FORMAT_AUTO:
        case TAILOR_IMPORT_FORMAT_JSONL:
        case TAILOR_IMPORT_FORMAT_CSV:
        case TAILOR_IMPORT_FORMAT_TSV:
        case TAILOR_IMPORT_FORMAT_QA_TEXT:
        case TAILOR_IMPORT_FORMAT_QA_MARKDOWN:
        case TAILOR_IMPORT_FORMAT_DOCUMENT_TEXT:
        case TAILOR_IMPORT_FORMAT_DOCUMENT_MARKDOWN:
        case TAILOR_IMPORT_FORMAT_DOCUMENT_HTML:
        case TAILOR_IMPORT_FORMAT_DOCUMENT_PDF:
        case TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX:
        default:
          g_assert_not_reached ();
        }

      if (ex == NULL)
        {
          import_reject (imp, r->line_no, err.reason, r->line->str, r->line->len, "%s",
                         err.message);
          g_free (err.message);
          continue;
        }
      if (!import_emit (imp, ex, r->line_no, error))
        return FALSE;
    }

  return line_reader_finish (r, imp, error);
}

/* ---------------------------------------------------------------------------------------------- */
/* CSV / TSV (RFC 4180, with CRLF, quoted multi-line fields and doubled quotes) */

typedef struct {
  char delimiter;
  GPtrArray *fields;
  GString *field;
  gboolean in_quotes;
  gboolean quoted;      /* the current field started with a quote */
  gboolean in_record;
  guint64 start_line;
  guint64 bad_line;     /* first line of the record with invalid bytes, or 0 */
  gsize bytes;
  char *preview;        /* the record's first line, clipped */
} CsvParser;

static void
csv_reset (CsvParser *p)
{
  g_ptr_array_set_size (p->fields, 0);
  g_string_truncate (p->field, 0);
  p->in_quotes = FALSE;
  p->quoted = FALSE;
  p->in_record = FALSE;
  p->start_line = 0;
  p->bad_line = 0;
  p->bytes = 0;
  g_clear_pointer (&p->preview, g_free);
}

static void
csv_end_field (CsvParser *p)
{
  g_ptr_array_add (p->fields, g_strndup (p->field->str, p->field->len));
  g_string_truncate (p->field, 0);
  p->quoted = FALSE;
}

/* Feeds one physical line; TRUE when it completed a record (now in p->fields). */
static gboolean
csv_feed_line (CsvParser *p, const char *line, gsize len, guint64 line_no)
{
  if (!p->in_record)
    {
      p->in_record = TRUE;
      p->start_line = line_no;
      p->preview = g_strndup (line, MIN (len, 256));
    }
  else
    g_string_append_c (p->field, '\n');
  p->bytes += len + 1;

  for (gsize i = 0; i < len; i++)
    {
      char c = line[i];

      if (p->in_quotes)
        {
          if (c != '"')
            g_string_append_c (p->field, c);
          else if (i + 1 < len && line[i + 1] == '"')
            {
              g_string_append_c (p->field, '"');
              i++;
            }
          else
            p->in_quotes = FALSE;
        }
      else if (c == p->delimiter)
        csv_end_field (p);
      else if (c == '"' && p->field->len == 0 && !p->quoted)
        {
          p->in_quotes = TRUE;
          p->quoted = TRUE;
        }
      else
        /* Stray quotes inside unquoted fields are kept as text, as most spreadsheets do. */
        g_string_append_c (p->field, c);
    }

  if (p->in_quotes)
    return FALSE;
  csv_end_field (p);
  return TRUE;
}

/* How many of the first records have the most common field count, and that count. */
static guint
csv_agreement (GPtrArray *lines, char delimiter, guint *out_fields)
{
  CsvParser p = { .delimiter = delimiter };
  g_autoptr (GHashTable) counts = g_hash_table_new (NULL, NULL);
  GHashTableIter iter;
  gpointer key, value;
  guint records = 0;
  guint best = 0;

  p.fields = g_ptr_array_new_with_free_func (g_free);
  p.field = g_string_new (NULL);
  for (guint i = 0; i < lines->len && records < 20; i++)
    {
      const char *line = g_ptr_array_index (lines, i);
      guint n;

      if (!p.in_record && is_blank (line))
        continue;
      if (!csv_feed_line (&p, line, strlen (line), i + 1))
        continue;
      n = p.fields->len;
      g_hash_table_insert (counts, GUINT_TO_POINTER (n),
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts,
                                                                                    GUINT_TO_POINTER (n)))
                                             + 1));
      records++;
      csv_reset (&p);
    }
  csv_reset (&p);
  g_ptr_array_unref (p.fields);
  g_string_free (p.field, TRUE);

  *out_fields = 1;
  g_hash_table_iter_init (&iter, counts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      guint n = GPOINTER_TO_UINT (key);
      guint votes = GPOINTER_TO_UINT (value);

      if (n >= 2 && (votes > best || (votes == best && n > *out_fields)))
        {
          best = votes;
          *out_fields = n;
        }
    }
  return best;
}

/* The delimiter that splits most of the first records into the same number (≥ 2) of fields. */
static char
sniff_delimiter (GPtrArray *lines)
{
  static const char candidates[] = { ',', ';', '\t' };
  char best = ',';
  guint best_votes = 0;
  guint best_fields = 0;

  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      guint fields = 0;
      guint votes = csv_agreement (lines, candidates[i], &fields);

      if (votes > best_votes || (votes == best_votes && votes > 0 && fields > best_fields))
        {
          best = candidates[i];
          best_votes = votes;
          best_fields = fields;
        }
    }
  return best;
}

static const char *const prompt_names[] = {
  "prompt", "question", "instruction", "query", "input", "user", "human", "q", NULL,
};
static const char *const response_names[] = {
  "response", "answer", "output", "completion", "reply", "assistant", "gpt", "a", NULL,
};
static const char *const system_names[] = { "system", "system_prompt", "system prompt", NULL };

static int
header_find (GPtrArray *header, const char *name)
{
  for (guint i = 0; i < header->len; i++)
    {
      g_autofree char *cell = g_strstrip (g_strdup (g_ptr_array_index (header, i)));

      if (g_ascii_strcasecmp (cell, name) == 0)
        return (int) i;
    }
  return -1;
}

static int
header_guess (GPtrArray *header, const char *const *names)
{
  for (guint i = 0; names[i] != NULL; i++)
    {
      int col = header_find (header, names[i]);

      if (col >= 0)
        return col;
    }
  return -1;
}

static gboolean
looks_like_header (GPtrArray *row, const TailorImportOptions *opts)
{
  const char *const *lists[] = { prompt_names, response_names, system_names };
  const char *mapped[] = { opts->prompt_column.name, opts->response_column.name,
                           opts->system_column.name };

  for (guint i = 0; i < G_N_ELEMENTS (lists); i++)
    if (header_guess (row, lists[i]) >= 0)
      return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (mapped); i++)
    if (mapped[i] != NULL && header_find (row, mapped[i]) >= 0)
      return TRUE;
  return FALSE;
}

typedef struct {
  int prompt;
  int input;    /* Alpaca-style sheets: instruction + input joined into the prompt */
  int response;
  int system;
} CsvColumns;

static char *
header_list (GPtrArray *header)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < header->len; i++)
    {
      g_autofree char *name = make_preview (g_ptr_array_index (header, i), -1);

      g_string_append_printf (out, "%s%s", i > 0 ? ", " : "", name);
    }
  return g_string_free (out, FALSE);
}

static gboolean
resolve_column (Import *imp, GPtrArray *header, const TailorImportColumn *column,
                const char *role, const char *const *guesses, int fallback, int *out,
                GError **error)
{
  if (column->index > 0)
    {
      *out = (int) column->index - 1;
      return TRUE;
    }
  if (column->name != NULL)
    {
      g_autofree char *names = NULL;

      if (header != NULL && (*out = header_find (header, column->name)) >= 0)
        return TRUE;
      names = header != NULL ? header_list (header) : g_strdup ("none (no header row)");
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "“%s” has no column named “%s” for the %s; its columns are: %s", imp->path,
                   column->name, role, names);
      return FALSE;
    }
  *out = header != NULL ? header_guess (header, guesses) : fallback;
  return TRUE;
}

static gboolean
csv_columns_resolve (Import *imp, GPtrArray *header, CsvColumns *cols, GError **error)
{
  const TailorImportOptions *o = &imp->opts;

  cols->input = -1;
  if (!resolve_column (imp, header, &o->prompt_column, "prompt", prompt_names, 0, &cols->prompt,
                       error)
      || !resolve_column (imp, header, &o->response_column, "response", response_names, 1,
                          &cols->response, error)
      || !resolve_column (imp, header, &o->system_column, "system message", system_names, -1,
                          &cols->system, error))
    return FALSE;

  if (cols->prompt < 0 || cols->response < 0)
    {
      g_autofree char *names = header_list (header);

      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "Cannot tell which columns of “%s” hold the %s (columns: %s); name them in "
                   "the column mapping",
                   imp->path,
                   cols->prompt < 0 && cols->response < 0 ? "prompt and the response"
                   : cols->prompt < 0                     ? "prompt"
                                                          : "response",
                   names);
      return FALSE;
    }

  if (header != NULL && o->prompt_column.name == NULL && o->prompt_column.index == 0
      && header_find (header, "instruction") == cols->prompt)
    {
      int input = header_find (header, "input");

      if (input >= 0 && input != cols->response && input != cols->system)
        cols->input = input;
    }
  return TRUE;
}

static const char *
csv_cell (GPtrArray *fields, int col)
{
  return col >= 0 && (guint) col < fields->len ? g_ptr_array_index (fields, col) : NULL;
}

static gboolean
csv_all_empty (GPtrArray *fields)
{
  for (guint i = 0; i < fields->len; i++)
    if (!is_blank_utf8 (g_ptr_array_index (fields, i)))
      return FALSE;
  return TRUE;
}

static gboolean
csv_record (Import *imp, CsvParser *p, GPtrArray *header, const CsvColumns *cols, GError **error)
{
  const char *prompt = csv_cell (p->fields, cols->prompt);
  const char *response = csv_cell (p->fields, cols->response);
  const char *system = csv_cell (p->fields, cols->system);
  const char *input = csv_cell (p->fields, cols->input);
  g_autofree char *prompt_text = NULL;
  g_autofree char *response_text = NULL;
  TailorExample *ex;

  if (p->bad_line != 0)
    {
      import_reject (imp, p->bad_line, TAILOR_IMPORT_REJECT_INVALID_ENCODING, p->preview, -1,
                     "Row starting on line %" G_GUINT64_FORMAT " has bytes that are not valid "
                     "UTF-8; re-save the file as UTF-8",
                     p->start_line);
      return TRUE;
    }
  if (prompt == NULL || response == NULL)
    {
      int missing = prompt == NULL ? cols->prompt : cols->response;
      const char *name = header != NULL && (guint) missing < header->len
                           ? g_ptr_array_index (header, missing)
                           : (prompt == NULL ? "prompt" : "response");

      import_reject (imp, p->start_line, TAILOR_IMPORT_REJECT_MISSING_FIELD, p->preview, -1,
                     "Row has %u fields; column %d (%s) is missing", p->fields->len, missing + 1,
                     name);
      return TRUE;
    }

  prompt_text = g_strstrip (g_strdup (prompt));
  if (input != NULL && !is_blank_utf8 (input))
    {
      g_autofree char *joined = g_strconcat (prompt_text, "\n\n", input, NULL);

      g_free (prompt_text);
      prompt_text = g_strstrip (g_steal_pointer (&joined));
    }
  response_text = g_strstrip (g_strdup (response));
  if (*prompt_text == '\0')
    {
      import_reject (imp, p->start_line, TAILOR_IMPORT_REJECT_EMPTY, p->preview, -1,
                     "Prompt (column %d) is empty", cols->prompt + 1);
      return TRUE;
    }
  if (*response_text == '\0')
    {
      import_reject (imp, p->start_line, TAILOR_IMPORT_REJECT_EMPTY, p->preview, -1,
                     "Response (column %d) is empty: nothing for the model to learn",
                     cols->response + 1);
      return TRUE;
    }

  ex = tailor_example_new_chat ();
  if (system != NULL && !is_blank_utf8 (system))
    {
      g_autofree char *s = g_strstrip (g_strdup (system));

      tailor_example_add_message (ex, "system", s);
    }
  tailor_example_add_message (ex, "user", prompt_text);
  tailor_example_add_message (ex, "assistant", response_text);
  return import_emit (imp, ex, p->start_line, error);
}

static gboolean
import_csv (Import *imp, char delimiter, GError **error)
{
  g_autoptr (LineReader) r = NULL;
  g_autoptr (GPtrArray) header = NULL;
  CsvParser p = { .delimiter = delimiter };
  CsvColumns cols = { -1, -1, -1, -1 };
  gboolean first = TRUE;
  gboolean ok = FALSE;

  r = line_reader_open (imp->path, imp->opts.max_record_bytes, TRUE, imp->cancellable, error);
  if (r == NULL)
    return FALSE;
  p.fields = g_ptr_array_new_with_free_func (g_free);
  p.field = g_string_new (NULL);

  for (;;)
    {
      LineStatus status = LINE_OK;
      int rc = line_reader_next (r, &status, error);

      if (rc < 0)
        goto out;
      if (rc == 0)
        break;

      if (status == LINE_TOO_LONG)
        {
          /* The record's tail is unknowable once a line is cut: drop it and resync. */
          reject_bad_line (imp, r, status);
          csv_reset (&p);
          continue;
        }
      if (!p.in_record && is_blank (r->line->str))
        continue;
      if (status == LINE_INVALID_ENCODING)
        {
          /* Parse on, so the row's extent is known, and reject the whole row at its end. */
          g_autofree char *valid = g_utf8_make_valid (r->line->str, r->line->len);

          g_string_assign (r->line, valid);
          if (p.bad_line == 0)
            p.bad_line = r->line_no;
        }

      if (!csv_feed_line (&p, r->line->str, r->line->len, r->line_no))
        {
          if (p.bytes > imp->opts.max_record_bytes)
            {
              import_reject (imp, p.start_line, TAILOR_IMPORT_REJECT_TOO_LONG, p.preview, -1,
                             "Row is longer than %" G_GSIZE_FORMAT " bytes (is a quote left "
                             "open?); fix the quoting or split the row",
                             imp->opts.max_record_bytes);
              csv_reset (&p);
            }
          continue;
        }

      if (first)
        {
          gboolean has_header = imp->opts.header == TAILOR_IMPORT_HEADER_YES
                                || (imp->opts.header == TAILOR_IMPORT_HEADER_AUTO
                                    && looks_like_header (p.fields, &imp->opts));

          first = FALSE;
          if (has_header)
            {
              header = g_ptr_array_new_with_free_func (g_free);
              for (guint i = 0; i < p.fields->len; i++)
                g_ptr_array_add (header, g_strdup (g_ptr_array_index (p.fields, i)));
            }
          if (!csv_columns_resolve (imp, header, &cols, error))
            goto out;
          if (has_header)
            {
              csv_reset (&p);
              continue;
            }
        }

      if (!csv_all_empty (p.fields) && !csv_record (imp, &p, header, &cols, error))
        goto out;
      csv_reset (&p);
    }

  if (p.in_record)
    import_reject (imp, p.start_line, TAILOR_IMPORT_REJECT_MALFORMED, p.preview, -1,
                   "Quoted field opened on line %" G_GUINT64_FORMAT " is never closed; add the "
                   "missing quote",
                   p.start_line);
  ok = line_reader_finish (r, imp, error);

out:
  csv_reset (&p);
  g_ptr_array_unref (p.fields);
  g_string_free (p.field, TRUE);
  return ok;
}

/* ---------------------------------------------------------------------------------------------- */
/* Documents: paragraphs → chunks of at most N tokens */

typedef struct {
  Import *imp;
  GString *chunk;
  guint64 chunk_line;
} Chunker;

static guint
count_tokens (Import *imp, const char *text)
{
  if (imp->opts.count_tokens != NULL)
    return imp->opts.count_tokens (text, imp->opts.count_tokens_data);
  return (guint) ((g_utf8_strlen (text, -1) + imp->opts.chars_per_token - 1)
                  / imp->opts.chars_per_token);
}

static gboolean
chunker_flush (Chunker *c, GError **error)
{
  TailorExample *ex;

  if (c->chunk->len == 0)
    return TRUE;
  ex = tailor_example_new_text (c->chunk->str);
  g_string_truncate (c->chunk, 0);
  return import_emit (c->imp, ex, c->chunk_line, error);
}

static gboolean
fits (Chunker *c, const char *text, gsize len)
{
  g_autofree char *piece = g_strndup (text, len);

  return count_tokens (c->imp, piece) <= c->imp->opts.chunk_tokens;
}

static gboolean
is_sentence_end (const char *text, gsize cut)
{
  return cut >= 2 && strchr (".!?", text[cut - 2]) != NULL;
}

/* The longest prefix of @text that fits, cut after a sentence if one ends in its second half,
 * else after a word, else between characters. */
static gsize
longest_fitting_prefix (Chunker *c, const char *text, gsize len)
{
  g_autoptr (GArray) cuts = g_array_new (FALSE, FALSE, sizeof (gsize));
  gsize lo = 0;
  gsize hi;
  gsize best = 0;

  for (gsize i = 1; i < len; i++)
    if (text[i] == ' ')
      {
        gsize cut = i + 1;
        g_array_append_val (cuts, cut);
      }

  /* Binary search over word cuts (token counts grow with the prefix). */
  hi = cuts->len;
  while (lo < hi)
    {
      gsize mid = (lo + hi) / 2;

      if (fits (c, text, g_array_index (cuts, gsize, mid)))
        {
          best = g_array_index (cuts, gsize, mid);
          lo = mid + 1;
        }
      else
        hi = mid;
    }

  if (best > 0)
    {
      for (guint i = cuts->len; i > 0; i--)
        {
          gsize cut = g_array_index (cuts, gsize, i - 1);

          if (cut > best)
            continue;
          if (cut * 2 < best)
            break;
          if (is_sentence_end (text, cut))
            return cut;
        }
      return best;
    }

  /* Not even one word fits: cut inside it at a character boundary. */
  {
    glong chars = g_utf8_strlen (text, len);
    glong clo = 1;
    glong chi = chars;
    gsize cbest = (gsize) (g_utf8_next_char (text) - text);

    while (clo <= chi)
      {
        glong mid = (clo + chi) / 2;
        gsize bytes = (gsize) (g_utf8_offset_to_pointer (text, mid) - text);

        if (fits (c, text, bytes))
          {
            cbest = bytes;
            clo = mid + 1;
          }
        else
          chi = mid - 1;
      }
    return cbest;
  }
}

static gboolean
chunker_add (Chunker *c, const char *para, guint64 line, GError **error)
{
  const char *rest = para;
  gsize len = strlen (para);

  if (len == 0)
    return TRUE;

  if (c->chunk->len > 0)
    {
      g_autofree char *candidate = g_strconcat (c->chunk->str, "\n\n", para, NULL);

      if (count_tokens (c->imp, candidate) <= c->imp->opts.chunk_tokens)
        {
          g_string_append (c->chunk, "\n\n");
          g_string_append (c->chunk, para);
          return TRUE;
        }
      if (!chunker_flush (c, error))
        return FALSE;
    }

  while (!fits (c, rest, len))
    {
      gsize cut = longest_fitting_prefix (c, rest, len);
      gsize keep = cut;

      while (keep > 0 && rest[keep - 1] == ' ')
        keep--;
      g_string_append_len (c->chunk, rest, keep);
      c->chunk_line = line;
      if (!chunker_flush (c, error))
        return FALSE;
      rest += cut;
      len -= cut;
    }
  if (len > 0)
    {
      g_string_append_len (c->chunk, rest, len);
      c->chunk_line = line;
    }
  return TRUE;
}

/* Appends @text with every run of white space as one space, and none at the start of a line;
 * paragraph_end() trims the end. */
static void
append_normalized_ws (GString *out, const char *text, gsize len)
{
  const char *end = text + len;

  for (const char *p = text; p < end; p = g_utf8_next_char (p))
    {
      gunichar ch = g_utf8_get_char (p);

      if (g_unichar_isspace (ch) || g_unichar_type (ch) == G_UNICODE_SPACE_SEPARATOR)
        {
          if (out->len > 0 && out->str[out->len - 1] != ' ' && out->str[out->len - 1] != '\n')
            g_string_append_c (out, ' ');
          continue;
        }
      g_string_append_unichar (out, ch);
    }
}

static gboolean
md_keeps_line_break (const char *line)
{
  const char *p = line;

  while (*p == ' ')
    p++;
  if (*p == '>' || *p == '|' || ((*p == '-' || *p == '*' || *p == '+') && p[1] == ' '))
    return TRUE;
  while (g_ascii_isdigit (*p))
    p++;
  return p != line && (*p == '.' || *p == ')') && p[1] == ' ';
}

static gboolean
is_fence (const char *line)
{
  const char *p = line;

  while (*p == ' ')
    p++;
  return g_str_has_prefix (p, "```") || g_str_has_prefix (p, "~~~");
}

static gboolean
is_atx_heading (const char *line)
{
  const char *p = line;
  guint n = 0;

  while (*p == ' ' && p - line < 3)
    p++;
  while (*p == '#')
    p++, n++;
  return n >= 1 && n <= 6 && (*p == ' ' || *p == '\t' || *p == '\0');
}

typedef struct {
  GString *text;
  guint64 line;
} Paragraph;

static gboolean
paragraph_end (Paragraph *para, Chunker *c, GError **error)
{
  gboolean ok;

  while (para->text->len > 0 && (para->text->str[para->text->len - 1] == ' '
                                 || para->text->str[para->text->len - 1] == '\n'))
    g_string_truncate (para->text, para->text->len - 1);
  ok = chunker_add (c, para->text->str, para->line, error);
  g_string_truncate (para->text, 0);
  return ok;
}

static gboolean
import_document_lines (Import *imp, gboolean markdown, GError **error)
{
  g_autoptr (LineReader) r = line_reader_open (imp->path, imp->opts.max_record_bytes, TRUE,
                                               imp->cancellable, error);
  g_autoptr (GString) chunk = g_string_new (NULL);
  g_autoptr (GString) text = g_string_new (NULL);
  Chunker c = { imp, chunk, 0 };
  Paragraph para = { text, 0 };
  gboolean in_fence = FALSE;

  if (r == NULL)
    return FALSE;

  for (;;)
    {
      LineStatus status = LINE_OK;
      const char *line;
      int rc = line_reader_next (r, &status, error);

      if (rc < 0)
        return FALSE;
      if (rc == 0)
        break;
      /* A document is not a list of records: a bad line is reported and skipped, the rest of
       * its paragraph stays. */
      if (reject_bad_line (imp, r, status))
        continue;
      line = r->line->str;

      if (markdown && is_fence (line))
        {
          if (!in_fence && para.text->len > 0 && !paragraph_end (&para, &c, error))
            return FALSE;
          if (para.text->len == 0)
            para.line = r->line_no;
          else
            g_string_append_c (para.text, '\n');
          g_string_append (para.text, line);
          in_fence = !in_fence;
          if (!in_fence && !paragraph_end (&para, &c, error))
            return FALSE;
          continue;
        }
      if (in_fence)
        {
          g_string_append_c (para.text, '\n');
          g_string_append (para.text, line);
          continue;
        }
      if (is_blank_utf8 (line))
        {
          if (para.text->len > 0 && !paragraph_end (&para, &c, error))
            return FALSE;
          continue;
        }
      if (markdown && is_atx_heading (line))
        {
          if (para.text->len > 0 && !paragraph_end (&para, &c, error))
            return FALSE;
          para.line = r->line_no;
          append_normalized_ws (para.text, line, r->line->len);
          if (!paragraph_end (&para, &c, error))
            return FALSE;
          continue;
        }

      if (para.text->len == 0)
        para.line = r->line_no;
      else if (markdown && md_keeps_line_break (line))
        g_string_append_c (para.text, '\n');
      else
        g_string_append_c (para.text, ' ');
      append_normalized_ws (para.text, line, r->line->len);
    }

  if (para.text->len > 0 && !paragraph_end (&para, &c, error))
    return FALSE;
  if (!chunker_flush (&c, error))
    return FALSE;
  return line_reader_finish (r, imp, error);
}

/* ---------------------------------------------------------------------------------------------- */
/* Q&A text: "Q:"/"A:" pairs */

typedef struct {
  GString *question;
  GString *answer;
  guint64 q_line;
  guint64 bad_line;
  enum { QA_NONE, QA_QUESTION, QA_ANSWER, QA_SKIP } mode;
} QaPair;

static gboolean
qa_finish (Import *imp, QaPair *qa, GError **error)
{
  g_autofree char *q = g_strstrip (g_strdup (qa->question->str));
  g_autofree char *a = g_strstrip (g_strdup (qa->answer->str));
  gboolean ok = TRUE;

  if (qa->mode == QA_QUESTION || qa->mode == QA_ANSWER)
    {
      if (qa->bad_line != 0)
        import_reject (imp, qa->bad_line, TAILOR_IMPORT_REJECT_INVALID_ENCODING, q, -1,
                       "Pair starting on line %" G_GUINT64_FORMAT " has bytes that are not valid "
                       "UTF-8; re-save the file as UTF-8",
                       qa->q_line);
      else if (qa->mode == QA_QUESTION)
        import_reject (imp, qa->q_line, TAILOR_IMPORT_REJECT_NO_ASSISTANT, q, -1,
                       "Question has no answer (no “A:” line after it)");
      else if (*q == '\0')
        import_reject (imp, qa->q_line, TAILOR_IMPORT_REJECT_EMPTY, a, -1, "Question is empty");
      else if (*a == '\0')
        import_reject (imp, qa->q_line, TAILOR_IMPORT_REJECT_EMPTY, q, -1,
                       "Answer is empty: nothing for the model to learn");
      else
        {
          TailorExample *ex = tailor_example_new_chat ();

          tailor_example_add_message (ex, "user", q);
          tailor_example_add_message (ex, "assistant", a);
          ok = import_emit (imp, ex, qa->q_line, error);
        }
    }
  g_string_truncate (qa->question, 0);
  g_string_truncate (qa->answer, 0);
  qa->bad_line = 0;
  qa->mode = QA_NONE;
  return ok;
}

static GRegex *
qa_marker_regex (void)
{
  static GRegex *regex;

  if (g_once_init_enter (&regex))
    {
      GRegex *re = g_regex_new ("^\\s*(?:[*_]{1,2})?(q|question|a|answer)\\s*(?:[*_]{1,2})?\\s*:"
                                "(?:[*_]{1,2})?\\s*(.*)$",
                                G_REGEX_CASELESS | G_REGEX_OPTIMIZE, 0, NULL);
      g_once_init_leave (&regex, re);
    }
  return regex;
}

/* 'q' or 'a' for a marker line (and where its text starts), 0 otherwise. */
static char
qa_marker (const char *line, const char **rest)
{
  g_autoptr (GMatchInfo) match = NULL;
  int start = 0;
  int end = 0;
  char kind;

  if (!g_regex_match (qa_marker_regex (), line, 0, &match))
    return 0;
  g_match_info_fetch_pos (match, 1, &start, &end);
  kind = (char) g_ascii_tolower (line[start]);
  g_match_info_fetch_pos (match, 2, &start, &end);
  *rest = line + start;
  return kind;
}

static gboolean
import_qa_text (Import *imp, GError **error)
{
  g_autoptr (LineReader) r = line_reader_open (imp->path, imp->opts.max_record_bytes, TRUE,
                                               imp->cancellable, error);
  g_autoptr (GString) question = g_string_new (NULL);
  g_autoptr (GString) answer = g_string_new (NULL);
  QaPair qa = { question, answer, 0, 0, QA_NONE };

  if (r == NULL)
    return FALSE;

  for (;;)
    {
      LineStatus status = LINE_OK;
      const char *rest = NULL;
      char kind;
      int rc = line_reader_next (r, &status, error);

      if (rc < 0)
        return FALSE;
      if (rc == 0)
        break;
      if (status == LINE_TOO_LONG || (status == LINE_INVALID_ENCODING && qa.mode == QA_NONE))
        {
          reject_bad_line (imp, r, status);
          continue;
        }
      if (status == LINE_INVALID_ENCODING)
        {
          if (qa.bad_line == 0)
            qa.bad_line = r->line_no;
          continue;
        }

      kind = qa_marker (r->line->str, &rest);
      if (kind == 'q')
        {
          if (!qa_finish (imp, &qa, error))
            return FALSE;
          qa.mode = QA_QUESTION;
          qa.q_line = r->line_no;
          g_string_assign (qa.question, rest);
        }
      else if (kind == 'a' && qa.mode == QA_QUESTION)
        {
          qa.mode = QA_ANSWER;
          g_string_assign (qa.answer, rest);
        }
      else if (kind == 'a')
        {
          if (!qa_finish (imp, &qa, error))
            return FALSE;
          import_reject (imp, r->line_no, TAILOR_IMPORT_REJECT_MISSING_FIELD, rest, -1,
                         "Answer has no question before it (no “Q:” line)");
          qa.mode = QA_SKIP;
        }
      else if (qa.mode == QA_QUESTION)
        g_string_append_printf (qa.question, "\n%s", r->line->str);
      else if (qa.mode == QA_ANSWER)
        g_string_append_printf (qa.answer, "\n%s", r->line->str);
    }

  if (!qa_finish (imp, &qa, error))
    return FALSE;
  return line_reader_finish (r, imp, error);
}

/* ---------------------------------------------------------------------------------------------- */
/* Markdown Q&A: heading = question, body = answer */

static char *
heading_text (const char *line)
{
  const char *p = line;
  char *text;

  while (*p == ' ')
    p++;
  while (*p == '#')
    p++;
  text = g_strstrip (g_strdup (p));
  /* A closing run of '#' is decoration, per CommonMark. */
  for (gsize n = strlen (text); n > 0 && text[n - 1] == '#'; n--)
    text[n - 1] = '\0';
  return g_strstrip (text);
}

static gboolean
md_qa_finish (Import *imp, GString *heading, GString *body, guint64 line, guint64 bad_line,
              GError **error)
{
  g_autofree char *a = g_strstrip (g_strdup (body->str));
  gboolean ok = TRUE;

  if (heading->len == 0)
    return TRUE;
  if (bad_line != 0)
    import_reject (imp, bad_line, TAILOR_IMPORT_REJECT_INVALID_ENCODING, heading->str, -1,
                   "Section starting on line %" G_GUINT64_FORMAT " has bytes that are not valid "
                   "UTF-8; re-save the file as UTF-8",
                   line);
  else if (*a != '\0')
    {
      TailorExample *ex = tailor_example_new_chat ();

      tailor_example_add_message (ex, "user", heading->str);
      tailor_example_add_message (ex, "assistant", a);
      ok = import_emit (imp, ex, line, error);
    }
  else if (g_str_has_suffix (heading->str, "?"))
    import_reject (imp, line, TAILOR_IMPORT_REJECT_NO_ASSISTANT, heading->str, -1,
                   "Question heading has no answer below it");
  /* A heading without body that is not a question is a section title, not a record. */
  return ok;
}

static gboolean
import_qa_markdown (Import *imp, GError **error)
{
  g_autoptr (LineReader) r = line_reader_open (imp->path, imp->opts.max_record_bytes, TRUE,
                                               imp->cancellable, error);
  g_autoptr (GString) heading = g_string_new (NULL);
  g_autoptr (GString) body = g_string_new (NULL);
  guint64 heading_line = 0;
  guint64 bad_line = 0;
  gboolean in_fence = FALSE;

  if (r == NULL)
    return FALSE;

  for (;;)
    {
      LineStatus status = LINE_OK;
      int rc = line_reader_next (r, &status, error);

      if (rc < 0)
        return FALSE;
      if (rc == 0)
        break;
      if (status == LINE_TOO_LONG || (status == LINE_INVALID_ENCODING && heading->len == 0))
        {
          reject_bad_line (imp, r, status);
          continue;
        }
      if (status == LINE_INVALID_ENCODING)
        {
          if (bad_line == 0)
            bad_line = r->line_no;
          continue;
        }

      if (is_fence (r->line->str))
        in_fence = !in_fence;
      if (!in_fence && is_atx_heading (r->line->str))
        {
          g_autofree char *text = heading_text (r->line->str);

          if (!md_qa_finish (imp, heading, body, heading_line, bad_line, error))
            return FALSE;
          g_string_assign (heading, text);
          g_string_truncate (body, 0);
          heading_line = r->line_no;
          bad_line = 0;
          continue;
        }
      if (heading->len > 0)
        {
          g_string_append (body, r->line->str);
          g_string_append_c (body, '\n');
        }
    }

  if (!md_qa_finish (imp, heading, body, heading_line, bad_line, error))
    return FALSE;
  return line_reader_finish (r, imp, error);
}

/* ---------------------------------------------------------------------------------------------- */
/* HTML: streamed through libxml2's SAX HTML parser, keeping the text of block elements */

typedef struct {
  Import *imp;
  Chunker *chunker;
  Paragraph para;
  htmlParserCtxtPtr ctxt;
  guint skip_depth;
  guint64 block_line;
  GError *error;
} HtmlState;

static gboolean
html_in_set (const xmlChar *name, const char *const *set)
{
  for (guint i = 0; set[i] != NULL; i++)
    if (g_ascii_strcasecmp ((const char *) name, set[i]) == 0)
      return TRUE;
  return FALSE;
}

static const char *const html_skipped[] = {
  "script", "style", "nav", "noscript", "template", "head", "svg", "iframe", NULL,
};
static const char *const html_blocks[] = {
  "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "table",
  "tr", "td", "th", "blockquote", "pre", "section", "article", "header", "footer", "aside",
  "main", "figure", "figcaption", "hr", "address", "details", "summary", "caption", "body",
  "title", "form", "fieldset", NULL,
};

static void
html_paragraph_end (HtmlState *st)
{
  if (st->error != NULL || st->para.text->len == 0)
    return;
  paragraph_end (&st->para, st->chunker, &st->error);
  if (st->error != NULL)
    xmlStopParser (st->ctxt);
}

static void
html_start (void *data, const xmlChar *name, const xmlChar **attrs)
{
  HtmlState *st = data;

  if (html_in_set (name, html_skipped))
    st->skip_depth++;
  else if (st->skip_depth == 0 && html_in_set (name, html_blocks))
    {
      html_paragraph_end (st);
      st->block_line = (guint64) xmlSAX2GetLineNumber (st->ctxt);
    }
  else if (st->skip_depth == 0 && g_ascii_strcasecmp ((const char *) name, "br") == 0)
    g_string_append_c (st->para.text, ' ');
}

static void
html_end (void *data, const xmlChar *name)
{
  HtmlState *st = data;

  if (html_in_set (name, html_skipped))
    {
      if (st->skip_depth > 0)
        st->skip_depth--;
    }
  else if (st->skip_depth == 0 && html_in_set (name, html_blocks))
    html_paragraph_end (st);
}

static void
html_characters (void *data, const xmlChar *text, int len)
{
  HtmlState *st = data;

  if (st->skip_depth > 0)
    return;
  if (st->para.text->len == 0)
    {
      g_autofree char *copy = g_strndup ((const char *) text, len);

      if (is_blank_utf8 (copy))
        return;
      st->para.line = st->block_line != 0 ? st->block_line
                                          : (guint64) xmlSAX2GetLineNumber (st->ctxt);
    }
  append_normalized_ws (st->para.text, (const char *) text, len);
}

static gboolean
import_html (Import *imp, GError **error)
{
  g_autoptr (LineReader) r = line_reader_open (imp->path, imp->opts.max_record_bytes, TRUE,
                                               imp->cancellable, error);
  g_autoptr (GString) chunk = g_string_new (NULL);
  g_autoptr (GString) text = g_string_new (NULL);
  Chunker c = { imp, chunk, 0 };
  HtmlState st = { imp, &c, { text, 0 }, NULL, 0, 0, NULL };
  htmlSAXHandler sax;
  gboolean ok = FALSE;

  if (r == NULL)
    return FALSE;

  memset (&sax, 0, sizeof sax);
  sax.startElement = html_start;
  sax.endElement = html_end;
  sax.characters = html_characters;
  sax.ignorableWhitespace = html_characters;
  sax.cdataBlock = html_characters;
  st.ctxt = htmlCreatePushParserCtxt (&sax, &st, NULL, 0, imp->path, XML_CHAR_ENCODING_UTF8);
  if (st.ctxt == NULL)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO,
                   "Cannot start the HTML parser for “%s” (out of memory?)", imp->path);
      return FALSE;
    }
  /* The bytes are already UTF-8 (converted by the line reader): a <meta charset> must not make
   * the parser re-decode them. */
  htmlCtxtUseOptions (st.ctxt, HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING
                                 | HTML_PARSE_NONET | HTML_PARSE_IGNORE_ENC);

  for (;;)
    {
      LineStatus status = LINE_OK;
      int rc = line_reader_next (r, &status, error);

      if (rc < 0)
        goto out;
      if (rc == 0)
        break;
      /* Feed an empty line in place of a rejected one so libxml2's line numbers stay right. */
      if (reject_bad_line (imp, r, status))
        g_string_truncate (r->line, 0);
      g_string_append_c (r->line, '\n');
      htmlParseChunk (st.ctxt, r->line->str, (int) r->line->len, 0);
      if (st.error != NULL)
        break;
    }
  if (st.error == NULL)
    htmlParseChunk (st.ctxt, NULL, 0, 1);
  html_paragraph_end (&st);
  if (st.error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&st.error));
      goto out;
    }
  if (!chunker_flush (&c, error))
    goto out;
  ok = line_reader_finish (r, imp, error);

out:
  g_clear_error (&st.error);
  htmlFreeParserCtxt (st.ctxt);
  return ok;
}

/* ---------------------------------------------------------------------------------------------- */
/* Binary documents: PDF and DOCX are read by their libraries, so they are hashed separately */

static gboolean
hash_file (Import *imp, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (imp->path);
  g_autoptr (GError) local = NULL;
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr (GFileInputStream) stream = g_file_read (file, imp->cancellable, &local);
  g_autofree guint8 *buf = g_malloc (READ_CHUNK);

  if (stream == NULL)
    return set_io_error (error, imp->path, local);
  for (;;)
    {
      gssize n = g_input_stream_read (G_INPUT_STREAM (stream), buf, READ_CHUNK, imp->cancellable,
                                      &local);

      if (n < 0)
        return set_io_error (error, imp->path, local);
      if (n == 0)
        break;
      g_checksum_update (checksum, buf, n);
    }
  imp->summary->sha256 = g_strdup (g_checksum_get_string (checksum));
  return TRUE;
}

static gboolean
pdf_line_ends_paragraph (const char *line, glong chars, glong longest)
{
  gsize n = strlen (line);

  if (n == 0)
    return TRUE;
  /* A short line that ends a sentence is the last line of a paragraph in running text. */
  return strchr (".!?:\"", line[n - 1]) != NULL && chars * 4 < longest * 3;
}

static gboolean
pdf_page (Import *imp, Chunker *c, const char *page_text, guint64 page_no, GError **error)
{
  g_auto (GStrv) lines = g_strsplit (page_text, "\n", -1);
  g_autoptr (GString) text = g_string_new (NULL);
  Paragraph para = { text, page_no };
  glong longest = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_strstrip (lines[i]);
      longest = MAX (longest, g_utf8_strlen (lines[i], -1));
    }

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      const char *next = lines[i + 1];
      gsize n = strlen (line);
      gboolean hyphen;

      if (n == 0)
        {
          if (para.text->len > 0 && !paragraph_end (&para, c, error))
            return FALSE;
          continue;
        }
      /* "exam-" + "ple" at a line end is one word broken for layout. */
      hyphen = n >= 2 && line[n - 1] == '-' && g_ascii_isalpha (line[n - 2]) && next != NULL
               && g_unichar_islower (g_utf8_get_char (next));
      append_normalized_ws (para.text, line, hyphen ? n - 1 : n);
      if (pdf_line_ends_paragraph (line, g_utf8_strlen (line, -1), longest))
        {
          if (!paragraph_end (&para, c, error))
            return FALSE;
        }
      else if (!hyphen)
        g_string_append_c (para.text, ' ');
    }
  return para.text->len == 0 || paragraph_end (&para, c, error);
}

static gboolean
import_pdf (Import *imp, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (imp->path);
  g_autoptr (GError) local = NULL;
  /* poppler-glib 22 has no autoptr cleanups of its own. */
  g_autoptr (GObject) doc_owner = NULL;
  PopplerDocument *doc;
  g_autoptr (GString) chunk = g_string_new (NULL);
  Chunker c = { imp, chunk, 0 };
  int pages;

  if (!hash_file (imp, error))
    return FALSE;
  doc = poppler_document_new_from_gfile (file, NULL, imp->cancellable, &local);
  doc_owner = (GObject *) doc;
  if (doc == NULL)
    {
      if (g_error_matches (local, POPPLER_ERROR, POPPLER_ERROR_ENCRYPTED))
        g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                     "“%s” is an encrypted (password-protected) PDF: open it, remove the "
                     "protection or print it to a new PDF, and import that copy",
                     imp->path);
      else if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return set_io_error (error, imp->path, local);
      else
        g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                     "“%s” cannot be read as a PDF (%s): it may be damaged; re-export it from "
                     "the program that made it, or save it as text and import that",
                     imp->path, local->message);
      return FALSE;
    }

  pages = poppler_document_get_n_pages (doc);
  for (int i = 0; i < pages; i++)
    {
      PopplerPage *page = poppler_document_get_page (doc, i);
      g_autoptr (GObject) page_owner = (GObject *) page;
      g_autofree char *text = NULL;

      if (import_cancelled (imp, error))
        return FALSE;
      if (page == NULL)
        continue;
      text = poppler_page_get_text (page);
      if (text != NULL && !pdf_page (imp, &c, text, (guint64) i + 1, error))
        return FALSE;
    }
  if (!chunker_flush (&c, error))
    return FALSE;
  if (imp->summary->accepted == 0)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_EMPTY,
                   "“%s” has no extractable text (%d pages): if it is a scan, run it through OCR "
                   "first and import the result",
                   imp->path, pages);
      return FALSE;
    }
  return TRUE;
}

static int
docx_read (void *context, char *buffer, int len)
{
  la_ssize_t n = archive_read_data (context, buffer, (size_t) len);

  return n < 0 ? -1 : (int) n;
}

static int
docx_close (void *context)
{
  return 0;
}

static gboolean
import_docx (Import *imp, GError **error)
{
  struct archive *a = NULL;
  struct archive_entry *entry = NULL;
  xmlTextReaderPtr reader = NULL;
  g_autoptr (GString) chunk = g_string_new (NULL);
  g_autoptr (GString) text = g_string_new (NULL);
  Chunker c = { imp, chunk, 0 };
  Paragraph para = { text, 0 };
  guint64 para_no = 0;
  guint in_text = 0;
  gboolean found = FALSE;
  gboolean ok = FALSE;
  int rc;

  if (!hash_file (imp, error))
    return FALSE;

  a = archive_read_new ();
  archive_read_support_format_zip (a);
  if (archive_read_open_filename (a, imp->path, READ_CHUNK) != ARCHIVE_OK)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "“%s” cannot be read as a DOCX (ZIP) file (%s): it may be damaged; save it "
                   "again from the word processor",
                   imp->path, archive_error_string (a));
      goto out;
    }
  while ((rc = archive_read_next_header (a, &entry)) == ARCHIVE_OK)
    if (g_strcmp0 (archive_entry_pathname (entry), "word/document.xml") == 0)
      {
        found = TRUE;
        break;
      }
  if (!found)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "“%s” is %s: it has no word/document.xml, so it is not a Word document; "
                   "save it as .docx from the word processor",
                   imp->path,
                   rc == ARCHIVE_EOF ? "a ZIP archive" : "a damaged ZIP archive");
      goto out;
    }

  reader = xmlReaderForIO (docx_read, docx_close, a, NULL, NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (reader == NULL)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO,
                   "Cannot start the XML reader for “%s” (out of memory?)", imp->path);
      goto out;
    }

  while ((rc = xmlTextReaderRead (reader)) == 1)
    {
      int type = xmlTextReaderNodeType (reader);
      const char *name = (const char *) xmlTextReaderConstLocalName (reader);
      const char *ns = (const char *) xmlTextReaderConstNamespaceUri (reader);
      gboolean word = g_strcmp0 (ns, WORD_NS) == 0;

      if (type == XML_READER_TYPE_ELEMENT && word)
        {
          if (strcmp (name, "p") == 0)
            {
              if (para.text->len > 0 && !paragraph_end (&para, &c, error))
                goto out;
              para_no++;
              para.line = para_no;
              if (para_no % CANCEL_CHECK_LINES == 0 && import_cancelled (imp, error))
                goto out;
              if (xmlTextReaderIsEmptyElement (reader))
                continue;
            }
          else if (strcmp (name, "t") == 0 && !xmlTextReaderIsEmptyElement (reader))
            in_text++;
          else if (strcmp (name, "tab") == 0 || strcmp (name, "br") == 0
                   || strcmp (name, "cr") == 0)
            append_normalized_ws (para.text, " ", 1);
        }
      else if (type == XML_READER_TYPE_END_ELEMENT && word)
        {
          if (strcmp (name, "t") == 0 && in_text > 0)
            in_text--;
          else if (strcmp (name, "p") == 0 && !paragraph_end (&para, &c, error))
            goto out;
        }
      else if ((type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE)
               && in_text > 0)
        {
          const char *value = (const char *) xmlTextReaderConstValue (reader);

          /* Runs split words anywhere, so no separator is added between them. */
          append_normalized_ws (para.text, value, strlen (value));
        }
    }
  if (rc < 0)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "word/document.xml in “%s” is damaged (not well-formed XML near paragraph "
                   "%" G_GUINT64_FORMAT "); save the document again from the word processor",
                   imp->path, para_no);
      goto out;
    }
  if (para.text->len > 0 && !paragraph_end (&para, &c, error))
    goto out;
  ok = chunker_flush (&c, error);

out:
  if (reader != NULL)
    xmlFreeTextReader (reader);
  archive_read_free (a);
  return ok;
}

/* ---------------------------------------------------------------------------------------------- */
/* Detection and the entry point */

static gboolean
read_magic (const char *path, guint8 *magic, gsize size, gsize *got, GCancellable *cancellable,
            GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GError) local = NULL;
  g_autoptr (GFileInputStream) stream = g_file_read (file, cancellable, &local);
  GFileType type;

  if (stream == NULL)
    {
      type = g_file_query_file_type (file, G_FILE_QUERY_INFO_NONE, NULL);
      if (type == G_FILE_TYPE_DIRECTORY)
        {
          g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO,
                       "“%s” is a folder, not a file; import the files inside it", path);
          return FALSE;
        }
      return set_io_error (error, path, local);
    }
  if (!g_input_stream_read_all (G_INPUT_STREAM (stream), magic, size, got, cancellable, &local))
    return set_io_error (error, path, local);
  return TRUE;
}

static gboolean
has_qa_markers (GPtrArray *lines)
{
  gboolean q = FALSE;

  for (guint i = 0; i < lines->len; i++)
    {
      const char *rest = NULL;
      char kind = qa_marker (g_ptr_array_index (lines, i), &rest);

      if (kind == 'q')
        q = TRUE;
      else if (kind == 'a' && q)
        return TRUE;
    }
  return FALSE;
}

/* A FAQ written as Markdown: most headings are questions. */
static gboolean
has_question_headings (GPtrArray *lines)
{
  guint headings = 0;
  guint questions = 0;
  gboolean in_fence = FALSE;

  for (guint i = 0; i < lines->len; i++)
    {
      const char *line = g_ptr_array_index (lines, i);

      if (is_fence (line))
        in_fence = !in_fence;
      if (in_fence || !is_atx_heading (line))
        continue;
      headings++;
      {
        g_autofree char *text = heading_text (line);

        if (g_str_has_suffix (text, "?"))
          questions++;
      }
    }
  return questions >= 2 && questions * 2 >= headings;
}

static const char *
first_content (GPtrArray *lines)
{
  for (guint i = 0; i < lines->len; i++)
    {
      const char *p = g_ptr_array_index (lines, i);

      while (g_ascii_isspace (*p))
        p++;
      if (*p != '\0')
        return p;
    }
  return "";
}

static gboolean
detect (const char *path, TailorImportFormat requested, TailorImportFormat *out,
        char *out_delimiter, GCancellable *cancellable, GError **error)
{
  g_autofree char *base = g_path_get_basename (path);
  const char *dot = strrchr (base, '.');
  g_autofree char *ext = g_ascii_strdown (dot != NULL ? dot + 1 : "", -1);
  g_autoptr (GPtrArray) lines = NULL;
  guint8 magic[8] = { 0 };
  gsize got = 0;
  const char *first;

  if (requested == TAILOR_IMPORT_FORMAT_AUTO)
    {
      if (!read_magic (path, magic, sizeof magic, &got, cancellable, error))
        return FALSE;
      if (got >= 5 && memcmp (magic, "%PDF-", 5) == 0)
        {
          *out = TAILOR_IMPORT_FORMAT_DOCUMENT_PDF;
          return TRUE;
        }
      if (got >= 4 && memcmp (magic, "PK\x03\x04", 4) == 0)
        {
          *out = TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX;
          return TRUE;
        }
    }
  else if (requested != TAILOR_IMPORT_FORMAT_JSONL && requested != TAILOR_IMPORT_FORMAT_CSV
           && requested != TAILOR_IMPORT_FORMAT_TSV)
    {
      *out = requested;
      return TRUE;
    }

  lines = read_prefix (path, cancellable, error);
  if (lines == NULL)
    return FALSE;
  first = first_content (lines);

  if (requested == TAILOR_IMPORT_FORMAT_CSV || requested == TAILOR_IMPORT_FORMAT_TSV)
    {
      *out = requested;
      *out_delimiter = requested == TAILOR_IMPORT_FORMAT_TSV ? '\t' : sniff_delimiter (lines);
      return TRUE;
    }

  if (requested == TAILOR_IMPORT_FORMAT_JSONL || strcmp (ext, "jsonl") == 0
      || strcmp (ext, "ndjson") == 0 || strcmp (ext, "json") == 0 || *first == '{')
    {
      if (*first == '[' && strcmp (ext, "jsonl") != 0)
        {
          g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                       "“%s” is one JSON array, not JSON Lines (one record per line): convert "
                       "it, e.g. with  jq -c '.[]' file.json > file.jsonl",
                       path);
          return FALSE;
        }
      return detect_jsonl_shape (path, lines, out, error);
    }
  if (strcmp (ext, "csv") == 0)
    {
      *out = TAILOR_IMPORT_FORMAT_CSV;
      *out_delimiter = sniff_delimiter (lines);
      return TRUE;
    }
  if (strcmp (ext, "tsv") == 0 || strcmp (ext, "tab") == 0)
    {
      *out = TAILOR_IMPORT_FORMAT_TSV;
      *out_delimiter = '\t';
      return TRUE;
    }
  if (strcmp (ext, "html") == 0 || strcmp (ext, "htm") == 0 || strcmp (ext, "xhtml") == 0
      || g_ascii_strncasecmp (first, "<!doctype html", 14) == 0
      || g_ascii_strncasecmp (first, "<html", 5) == 0)
    {
      *out = TAILOR_IMPORT_FORMAT_DOCUMENT_HTML;
      return TRUE;
    }
  if (has_qa_markers (lines))
    *out = TAILOR_IMPORT_FORMAT_QA_TEXT;
  else if (strcmp (ext, "md") == 0 || strcmp (ext, "markdown") == 0)
    *out = has_question_headings (lines) ? TAILOR_IMPORT_FORMAT_QA_MARKDOWN
                                         : TAILOR_IMPORT_FORMAT_DOCUMENT_MARKDOWN;
  else
    *out = TAILOR_IMPORT_FORMAT_DOCUMENT_TEXT;
  return TRUE;
}

gboolean
tailor_import_detect_format (const char *path, TailorImportFormat *out_format,
                             GCancellable *cancellable, GError **error)
{
  char delimiter = 0;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (out_format != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return detect (path, TAILOR_IMPORT_FORMAT_AUTO, out_format, &delimiter, cancellable, error);
}

static TailorImportUnit
unit_for (TailorImportFormat format)
{
  if (format == TAILOR_IMPORT_FORMAT_DOCUMENT_PDF)
    return TAILOR_IMPORT_UNIT_PAGE;
  if (format == TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX)
    return TAILOR_IMPORT_UNIT_PARAGRAPH;
  return TAILOR_IMPORT_UNIT_LINE;
}

TailorImportSummary *
tailor_import_file (const char *path, TailorImportFormat format,
                    const TailorImportOptions *options, TailorImportExampleFunc on_example,
                    TailorImportRejectFunc on_reject, gpointer user_data,
                    GCancellable *cancellable, GError **error)
{
  g_autoptr (TailorImportSummary) summary = NULL;
  Import imp = { 0 };
  TailorImportFormat concrete = TAILOR_IMPORT_FORMAT_AUTO;
  char delimiter = 0;
  gboolean ok = FALSE;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail ((guint) format < G_N_ELEMENTS (format_names), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  imp.path = path;
  if (options != NULL)
    imp.opts = *options;
  if (imp.opts.chunk_tokens == 0)
    imp.opts.chunk_tokens = DEFAULT_CHUNK_TOKENS;
  if (imp.opts.chars_per_token <= 0)
    imp.opts.chars_per_token = DEFAULT_CHARS_PER_TOKEN;
  if (imp.opts.max_record_bytes == 0)
    imp.opts.max_record_bytes = DEFAULT_MAX_RECORD_BYTES;
  imp.on_example = on_example;
  imp.on_reject = on_reject;
  imp.user_data = user_data;
  imp.cancellable = cancellable;

  if (!detect (path, format, &concrete, &delimiter, cancellable, error))
    return NULL;
  if (imp.opts.delimiter != 0)
    delimiter = imp.opts.delimiter;

  summary = g_new0 (TailorImportSummary, 1);
  summary->path = g_strdup (path);
  summary->format = concrete;
  summary->unit = unit_for (concrete);
  summary->license = g_strdup (imp.opts.license);
  imp.summary = summary;

  switch (concrete)
    {
    case TAILOR_IMPORT_FORMAT_JSONL_CHAT:
    case TAILOR_IMPORT_FORMAT_JSONL_SHAREGPT:
    case TAILOR_IMPORT_FORMAT_JSONL_ALPACA:
    case TAILOR_IMPORT_FORMAT_JSONL_PROMPT_COMPLETION:
    case TAILOR_IMPORT_FORMAT_JSONL_TEXT:
      ok = import_jsonl (&imp, concrete, error);
      break;
    case TAILOR_IMPORT_FORMAT_CSV:
    case TAILOR_IMPORT_FORMAT_TSV:
      ok = import_csv (&imp, delimiter, error);
      break;
    case TAILOR_IMPORT_FORMAT_QA_TEXT:
      ok = import_qa_text (&imp, error);
      break;
    case TAILOR_IMPORT_FORMAT_QA_MARKDOWN:
      ok = import_qa_markdown (&imp, error);
      break;
    case TAILOR_IMPORT_FORMAT_DOCUMENT_TEXT:
      ok = import_document_lines (&imp, FALSE, error);
      break;
    case TAILOR_IMPORT_FORMAT_DOCUMENT_MARKDOWN:
      ok = import_document_lines (&imp, TRUE, error);
      break;
    case TAILOR_IMPORT_FORMAT_DOCUMENT_HTML:
      ok = import_html (&imp, error);
      break;
    case TAILOR_IMPORT_FORMAT_DOCUMENT_PDF:
      ok = import_pdf (&imp, error);
      break;
    case TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX:
      ok = import_docx (&imp, error);
      break;
    case TAILOR_IMPORT_FORMAT_AUTO:
    case TAILOR_IMPORT_FORMAT_JSONL:
    default:
      g_assert_not_reached ();
    }
  if (!ok)
    return NULL;

  if (summary->accepted == 0)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_EMPTY,
                   "“%s” has no usable record (%" G_GUINT64_FORMAT " rejected, read as %s): fix "
                   "the rejected lines, or choose another format",
                   path, summary->rejected, format_names[concrete]);
      return NULL;
    }
  return g_steal_pointer (&summary);
}
