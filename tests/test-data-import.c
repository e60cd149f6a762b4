/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests for the importers: every format, every malformed-input case, encodings, streaming memory. */
#include "config.h"

#include "tailor-data-import.h"

#include <archive.h>
#include <archive_entry.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  char *dir;
} Fixture;

typedef struct {
  GPtrArray *examples; /* "LINE JSON" */
  GPtrArray *rejects;  /* "LINE REASON" */
  GPtrArray *messages; /* reject messages, same order */
  char *path;          /* path every reject must name */
  gboolean keep;       /* FALSE: count only (memory test) */
  guint64 seen;
  guint stop_after;    /* 0: never fail */
} Collected;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("tailor-import-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
remove_tree (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  if (d == NULL)
    return;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_remove (path);
    }
  g_rmdir (dir);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  remove_tree (f->dir);
  g_free (f->dir);
}

static void
collected_init (Collected *c)
{
  memset (c, 0, sizeof *c);
  c->examples = g_ptr_array_new_with_free_func (g_free);
  c->rejects = g_ptr_array_new_with_free_func (g_free);
  c->messages = g_ptr_array_new_with_free_func (g_free);
  c->keep = TRUE;
}

static void
collected_clear (Collected *c)
{
  g_ptr_array_unref (c->examples);
  g_ptr_array_unref (c->rejects);
  g_ptr_array_unref (c->messages);
  g_free (c->path);
}

static gboolean
on_example (TailorExample *example, gpointer user_data, GError **error)
{
  Collected *c = user_data;
  g_autoptr (TailorExample) ex = example;

  c->seen++;
  g_assert_cmpstr (ex->source, ==, c->path);
  if (c->keep)
    {
      g_autofree char *json = tailor_example_to_json (ex);

      g_ptr_array_add (c->examples, g_strdup_printf ("%" G_GUINT64_FORMAT " %s", ex->line, json));
    }
  if (c->stop_after != 0 && c->seen == c->stop_after)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "disk full");
      return FALSE;
    }
  return TRUE;
}

static void
on_reject (const TailorImportReject *reject, gpointer user_data)
{
  Collected *c = user_data;

  g_assert_cmpstr (reject->path, ==, c->path);
  g_assert_nonnull (reject->message);
  g_assert_cmpstr (reject->message, !=, "");
  if (reject->preview != NULL)
    {
      g_assert_true (g_utf8_validate (reject->preview, -1, NULL));
      g_assert_cmpint (g_utf8_strlen (reject->preview, -1), <=, TAILOR_IMPORT_PREVIEW_CHARS + 1);
      g_assert_null (strchr (reject->preview, '\n'));
    }
  g_ptr_array_add (c->rejects, g_strdup_printf ("%" G_GUINT64_FORMAT " %s", reject->line,
                                                tailor_import_reject_reason_to_string (
                                                  reject->reason)));
  g_ptr_array_add (c->messages, g_strdup (reject->message));
}

static char *
write_fixture (Fixture *f, const char *name, const char *contents, gssize len)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (f->dir, name, NULL);

  g_file_set_contents (path, contents, len, &error);
  g_assert_no_error (error);
  return path;
}

static TailorImportSummary *
import_path (const char *path, TailorImportFormat format, const TailorImportOptions *opts,
             Collected *c, GError **error)
{
  g_free (c->path);
  c->path = g_strdup (path);
  return tailor_import_file (path, format, opts, on_example, on_reject, c, NULL, error);
}

static TailorImportSummary *
import_text (Fixture *f, const char *name, const char *contents, gssize len,
             TailorImportFormat format, const TailorImportOptions *opts, Collected *c,
             GError **error)
{
  g_autofree char *path = write_fixture (f, name, contents, len);

  return import_path (path, format, opts, c, error);
}

static void
assert_list (GPtrArray *got, const char *const *expected)
{
  guint n = g_strv_length ((char **) expected);

  for (guint i = 0; i < MIN (n, got->len); i++)
    g_assert_cmpstr (g_ptr_array_index (got, i), ==, expected[i]);
  g_assert_cmpuint (got->len, ==, n);
}

static const char *const none[] = { NULL };

/* Token counter for exact chunk tests: one token per white-space-separated word. */
static guint
count_words (const char *text, gpointer user_data)
{
  g_auto (GStrv) words = g_strsplit_set (text, " \n\t", -1);
  guint n = 0;

  for (guint i = 0; words[i] != NULL; i++)
    if (*words[i] != '\0')
      n++;
  if (user_data != NULL)
    (*(guint *) user_data)++;
  return n;
}

/* ---------------------------------------------------------------------------------------------- */
/* JSONL */

static void
test_jsonl_chat (Fixture *f, gconstpointer data)
{
  const char *text =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be terse.\"},"
    "{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello.\"}]}\n"
    "\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Part one\"},"
    "{\"type\":\"text\",\"text\":\"part two\"}]},{\"role\":\"assistant\",\"content\":\"ok\"}],"
    "\"id\":7}\r\n"
    "{\"messages\":[{\"role\":\"developer\",\"content\":\"d\"},{\"role\":\"user\",\"content\":\"w?\"},"
    "{\"role\":\"tool\",\"content\":\"{\\\"t\\\":1}\"},{\"role\":\"Assistant\",\"content\":\"sunny\"}]}";
  const char *const expected[] = {
    "1 {\"messages\":[{\"role\":\"system\",\"content\":\"Be terse.\"},{\"role\":\"user\","
    "\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello.\"}]}",
    "3 {\"messages\":[{\"role\":\"user\",\"content\":\"Part one\\npart two\"},"
    "{\"role\":\"assistant\",\"content\":\"ok\"}]}",
    "4 {\"messages\":[{\"role\":\"system\",\"content\":\"d\"},{\"role\":\"user\",\"content\":\"w?\"},"
    "{\"role\":\"tool\",\"content\":\"{\\\"t\\\":1}\"},{\"role\":\"assistant\",\"content\":\"sunny\"}]}",
    NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "chat.jsonl", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_JSONL_CHAT);
  g_assert_cmpint (s->unit, ==, TAILOR_IMPORT_UNIT_LINE);
  assert_list (c.examples, expected);
  assert_list (c.rejects, none);
  g_assert_cmpuint (s->records_read, ==, 3);
  g_assert_cmpuint (s->accepted, ==, 3);
  g_assert_cmpuint (s->rejected, ==, 0);
  collected_clear (&c);
}

static void
test_jsonl_chat_rejects (Fixture *f, gconstpointer data)
{
  const char *text =
    "{\"messages\":[{\"role\":\"user\",\"content\":\"q1\"},{\"role\":\"assistant\",\"content\":\"a1\"}]}\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"q2\"}\n"
    "{\"messages\":\"hello\"}\n"
    "{\"messages\":[]}\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"only a question\"}]}\n"
    "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"y\"}]}\n"
    "[1,2,3]\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":5},{\"role\":\"assistant\",\"content\":\"y\"}]}\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"  \"}]}\n"
    "{\"messages\":[{\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]},"
    "{\"role\":\"assistant\",\"content\":\"a\"}]}\n"
    "{\"conversations\":[{\"from\":\"human\",\"value\":\"other shape\"}]}\n"
    "\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"q14\"},{\"role\":\"assistant\",\"content\":\"a14\"}]}\n";
  const char *const expected[] = {
    "1 {\"messages\":[{\"role\":\"user\",\"content\":\"q1\"},{\"role\":\"assistant\",\"content\":\"a1\"}]}",
    "14 {\"messages\":[{\"role\":\"user\",\"content\":\"q14\"},{\"role\":\"assistant\",\"content\":\"a14\"}]}",
    NULL,
  };
  const char *const rejects[] = {
    "2 malformed", "3 wrong-type", "4 empty", "5 no-assistant-turn", "6 unknown-role",
    "7 wrong-type", "8 wrong-type", "9 no-assistant-turn", "10 missing-field", "11 wrong-type",
    "12 missing-field", NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "mixed.jsonl", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_JSONL_CHAT);
  assert_list (c.examples, expected);
  assert_list (c.rejects, rejects);
  g_assert_cmpuint (s->records_read, ==, 13);
  g_assert_cmpuint (s->accepted, ==, 2);
  g_assert_cmpuint (s->rejected, ==, 11);
  g_assert_cmpuint (s->rejected_by_reason[TAILOR_IMPORT_REJECT_WRONG_TYPE], ==, 4);
  g_assert_cmpuint (s->rejected_by_reason[TAILOR_IMPORT_REJECT_MISSING_FIELD], ==, 2);
  g_assert_cmpuint (s->rejected_by_reason[TAILOR_IMPORT_REJECT_NO_ASSISTANT], ==, 2);
  g_assert_cmpuint (s->rejected_by_reason[TAILOR_IMPORT_REJECT_MALFORMED], ==, 1);
  /* Messages say what is wrong in terms of the record's fields. */
  g_assert_nonnull (strstr (g_ptr_array_index (c.messages, 4), "wizard"));
  g_assert_nonnull (strstr (g_ptr_array_index (c.messages, 2), "empty"));
  collected_clear (&c);
}

static void
test_jsonl_sharegpt (Fixture *f, gconstpointer data)
{
  const char *text =
    "{\"conversations\":[{\"from\":\"system\",\"value\":\"S\"},{\"from\":\"human\",\"value\":\"H\"},"
    "{\"from\":\"gpt\",\"value\":\"G\"},{\"from\":\"human\",\"value\":\"H2\"},"
    "{\"from\":\"gpt\",\"value\":\"G2\"}]}\n"
    "{\"conversations\":[{\"from\":\"user\",\"value\":\"u\"},{\"from\":\"function\",\"value\":\"f\"},"
    "{\"from\":\"assistant\",\"value\":\"a\"}]}\n"
    "{\"conversations\":[{\"from\":\"alien\",\"value\":\"x\"},{\"from\":\"gpt\",\"value\":\"y\"}]}\n"
    "{\"conversations\":[{\"from\":\"human\",\"value\":\"x\"},{\"from\":\"gpt\",\"value\":3}]}\n"
    "{\"conversations\":[]}\n"
    "{\"conversations\":[{\"from\":\"human\",\"value\":\"x\"}]}\n";
  const char *const expected[] = {
    "1 {\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"H\"},"
    "{\"role\":\"assistant\",\"content\":\"G\"},{\"role\":\"user\",\"content\":\"H2\"},"
    "{\"role\":\"assistant\",\"content\":\"G2\"}]}",
    "2 {\"messages\":[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"tool\",\"content\":\"f\"},"
    "{\"role\":\"assistant\",\"content\":\"a\"}]}",
    NULL,
  };
  const char *const rejects[] = {
    "3 unknown-role", "4 wrong-type", "5 empty", "6 no-assistant-turn", NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "sharegpt.jsonl", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_JSONL_SHAREGPT);
  assert_list (c.examples, expected);
  assert_list (c.rejects, rejects);
  collected_clear (&c);
}

static void
test_jsonl_alpaca (Fixture *f, gconstpointer data)
{
  const char *text =
    "{\"instruction\":\"Translate to French.\",\"input\":\"cat\",\"output\":\"chat\"}\n"
    "{\"instruction\":\"Name a colour.\",\"input\":\"\",\"output\":\"Blue.\"}\n"
    "{\"instruction\":\"Sum.\",\"input\":null,\"output\":\"2\",\"system\":\"Math tutor\"}\n"
    "{\"instruction\":\"No answer\",\"input\":\"\",\"output\":\"\"}\n"
    "{\"instruction\":\"Missing output\"}\n"
    "{\"instruction\":[\"list\"],\"output\":\"x\"}\n";
  const char *const expected[] = {
    "1 {\"messages\":[{\"role\":\"user\",\"content\":\"Translate to French.\\n\\ncat\"},"
    "{\"role\":\"assistant\",\"content\":\"chat\"}]}",
    "2 {\"messages\":[{\"role\":\"user\",\"content\":\"Name a colour.\"},"
    "{\"role\":\"assistant\",\"content\":\"Blue.\"}]}",
    "3 {\"messages\":[{\"role\":\"system\",\"content\":\"Math tutor\"},{\"role\":\"user\","
    "\"content\":\"Sum.\"},{\"role\":\"assistant\",\"content\":\"2\"}]}",
    NULL,
  };
  const char *const rejects[] = { "4 empty", "5 missing-field", "6 wrong-type", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "alpaca.jsonl", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_JSONL_ALPACA);
  assert_list (c.examples, expected);
  assert_list (c.rejects, rejects);
  collected_clear (&c);
}

static void
test_jsonl_prompt_completion_and_text (Fixture *f, gconstpointer data)
{
  const char *pc = "{\"prompt\":\"2+2=\",\"completion\":\" 4\"}\n"
                   "{\"prompt\":\"\",\"completion\":\"x\"}\n"
                   "{\"prompt\":\"p\"}\n";
  const char *tx = "{\"text\":\"A paragraph of style.\"}\n"
                   "{\"text\":\"\"}\n"
                   "{\"text\":42}\n"
                   "{\"text\":\"Second.\",\"meta\":{\"a\":1}}\n";
  const char *const expected_pc[] = {
    "1 {\"messages\":[{\"role\":\"user\",\"content\":\"2+2=\"},{\"role\":\"assistant\","
    "\"content\":\" 4\"}]}",
    NULL,
  };
  const char *const rejects_pc[] = { "2 empty", "3 missing-field", NULL };
  const char *const expected_tx[] = {
    "1 {\"text\":\"A paragraph of style.\"}",
    "4 {\"text\":\"Second.\"}",
    NULL,
  };
  const char *const rejects_tx[] = { "2 empty", "3 wrong-type", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s1 = NULL;
  g_autoptr (TailorImportSummary) s2 = NULL;
  Collected c1, c2;

  collected_init (&c1);
  collected_init (&c2);
  s1 = import_text (f, "pc.jsonl", pc, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s1->format, ==, TAILOR_IMPORT_FORMAT_JSONL_PROMPT_COMPLETION);
  assert_list (c1.examples, expected_pc);
  assert_list (c1.rejects, rejects_pc);
  s2 = import_text (f, "text.ndjson", tx, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c2, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s2->format, ==, TAILOR_IMPORT_FORMAT_JSONL_TEXT);
  assert_list (c2.examples, expected_tx);
  assert_list (c2.rejects, rejects_tx);
  collected_clear (&c1);
  collected_clear (&c2);
}

static void
test_jsonl_shape_from_first_valid_records (Fixture *f, gconstpointer data)
{
  /* Line 1 is broken and line 2 is another shape: the majority of valid records decides. */
  const char *text = "{\"conversations\": [\n"
                     "{\"text\":\"lonely text record\"}\n"
                     "{\"conversations\":[{\"from\":\"human\",\"value\":\"a\"},{\"from\":\"gpt\",\"value\":\"b\"}]}\n"
                     "{\"conversations\":[{\"from\":\"human\",\"value\":\"c\"},{\"from\":\"gpt\",\"value\":\"d\"}]}\n";
  const char *const rejects[] = { "1 malformed", "2 missing-field", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  TailorImportFormat detected = TAILOR_IMPORT_FORMAT_AUTO;
  g_autofree char *path = write_fixture (f, "data", text, -1);
  Collected c;

  g_assert_true (tailor_import_detect_format (path, &detected, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (detected, ==, TAILOR_IMPORT_FORMAT_JSONL_SHAREGPT);

  collected_init (&c);
  s = import_path (path, TAILOR_IMPORT_FORMAT_JSONL, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_JSONL_SHAREGPT);
  g_assert_cmpuint (c.examples->len, ==, 2);
  assert_list (c.rejects, rejects);
  collected_clear (&c);
}

static void
test_jsonl_forced_shape (Fixture *f, gconstpointer data)
{
  const char *text = "{\"prompt\":\"p1\",\"completion\":\"c1\",\"text\":\"t1\"}\n"
                     "{\"prompt\":\"p2\",\"completion\":\"c2\",\"text\":\"t2\"}\n";
  const char *const expected[] = { "1 {\"text\":\"t1\"}", "2 {\"text\":\"t2\"}", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "both.jsonl", text, -1, TAILOR_IMPORT_FORMAT_JSONL_TEXT, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_JSONL_TEXT);
  assert_list (c.examples, expected);
  collected_clear (&c);
}

static void
test_json_array_is_error (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "alpaca_data.json", "[\n {\"instruction\":\"a\",\"output\":\"b\"}\n]\n", -1,
                   TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_null (s);
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "alpaca_data.json"));
  g_assert_nonnull (strstr (error->message, "JSON Lines"));
  collected_clear (&c);
}

static void
test_unknown_jsonl_shape_is_error (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "odd.jsonl", "{\"foo\":1}\n{\"bar\":2}\n", -1, TAILOR_IMPORT_FORMAT_AUTO,
                   NULL, &c, &error);
  g_assert_null (s);
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "odd.jsonl"));
  collected_clear (&c);
}

/* ---------------------------------------------------------------------------------------------- */
/* Encodings */

static GByteArray *
to_utf16 (const char *utf8, gboolean big_endian, gboolean bom)
{
  g_autofree gunichar2 *units = NULL;
  glong n = 0;
  GByteArray *out = g_byte_array_new ();

  units = g_utf8_to_utf16 (utf8, -1, NULL, &n, NULL);
  if (bom)
    g_byte_array_append (out, (const guint8 *) (big_endian ? "\xfe\xff" : "\xff\xfe"), 2);
  for (glong i = 0; i < n; i++)
    {
      guint8 b[2] = { units[i] & 0xff, units[i] >> 8 };

      if (big_endian)
        {
          guint8 t = b[0];
          b[0] = b[1];
          b[1] = t;
        }
      g_byte_array_append (out, b, 2);
    }
  return out;
}

static void
test_encodings_utf8_bom_and_utf16 (Fixture *f, gconstpointer data)
{
  const char *text = "{\"prompt\":\"Gr\xc3\xbc\xc3\x9f Gott \xf0\x9f\x98\x80\",\"completion\":\"Servus\"}\r\n"
                     "{\"prompt\":\"zwei\",\"completion\":\"two\"}\r\n";
  const char *const expected[] = {
    "1 {\"messages\":[{\"role\":\"user\",\"content\":\"Gr\xc3\xbc\xc3\x9f Gott \xf0\x9f\x98\x80\"},"
    "{\"role\":\"assistant\",\"content\":\"Servus\"}]}",
    "2 {\"messages\":[{\"role\":\"user\",\"content\":\"zwei\"},{\"role\":\"assistant\","
    "\"content\":\"two\"}]}",
    NULL,
  };
  g_autofree char *bom8 = g_strconcat ("\xef\xbb\xbf", text, NULL);
  g_autoptr (GByteArray) le = to_utf16 (text, FALSE, TRUE);
  g_autoptr (GByteArray) be = to_utf16 (text, TRUE, TRUE);
  struct {
    const char *name;
    const char *bytes;
    gssize len;
  } cases[] = {
    { "plain.jsonl", text, -1 },
    { "bom.jsonl", bom8, -1 },
    { "le.jsonl", (const char *) le->data, le->len },
    { "be.jsonl", (const char *) be->data, be->len },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (TailorImportSummary) s = NULL;
      g_autofree char *path = write_fixture (f, cases[i].name, cases[i].bytes, cases[i].len);
      TailorImportFormat detected = TAILOR_IMPORT_FORMAT_AUTO;
      Collected c;

      g_test_message ("case %s", cases[i].name);
      g_assert_true (tailor_import_detect_format (path, &detected, NULL, &error));
      g_assert_cmpint (detected, ==, TAILOR_IMPORT_FORMAT_JSONL_PROMPT_COMPLETION);
      collected_init (&c);
      s = import_path (path, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
      g_assert_no_error (error);
      assert_list (c.examples, expected);
      assert_list (c.rejects, none);
      collected_clear (&c);
    }
}

static void
test_invalid_utf8_line_rejected (Fixture *f, gconstpointer data)
{
  const char *text = "{\"text\":\"good one\"}\n"
                     "{\"text\":\"bad \xff\xfe byte\"}\n"
                     "{\"text\":\"good two\"}\n";
  const char *const expected[] = { "1 {\"text\":\"good one\"}", "3 {\"text\":\"good two\"}", NULL };
  const char *const rejects[] = { "2 invalid-encoding", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "bad.jsonl", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  assert_list (c.examples, expected);
  assert_list (c.rejects, rejects);
  g_assert_cmpuint (s->rejected_by_reason[TAILOR_IMPORT_REJECT_INVALID_ENCODING], ==, 1);
  collected_clear (&c);
}

static void
test_invalid_utf16_rejected (Fixture *f, gconstpointer data)
{
  g_autoptr (GByteArray) bytes = to_utf16 ("{\"text\":\"one\"}\n{\"text\":\"", FALSE, TRUE);
  g_autoptr (GByteArray) tail = to_utf16 ("\"}\n{\"text\":\"three\"}\n", FALSE, FALSE);
  const char *const expected[] = { "1 {\"text\":\"one\"}", "3 {\"text\":\"three\"}", NULL };
  const char *const rejects[] = { "2 invalid-encoding", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  /* A lone high surrogate followed by a normal character. */
  g_byte_array_append (bytes, (const guint8 *) "\x3d\xd8" "a\x00", 4);
  g_byte_array_append (bytes, tail->data, tail->len);
  collected_init (&c);
  s = import_text (f, "bad16.jsonl", (const char *) bytes->data, bytes->len,
                   TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  assert_list (c.examples, expected);
  assert_list (c.rejects, rejects);
  collected_clear (&c);
}

static void
test_binary_file_is_error (Fixture *f, gconstpointer data)
{
  static const char bytes[] = "\x7f" "ELF\x02\x01\x01\x00\x00\x00\x00\x00 binary";
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) detect_error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  g_autofree char *path = write_fixture (f, "program.txt", bytes, sizeof bytes - 1);
  TailorImportFormat detected = TAILOR_IMPORT_FORMAT_AUTO;
  Collected c;

  g_assert_false (tailor_import_detect_format (path, &detected, NULL, &detect_error));
  g_assert_error (detect_error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_ENCODING);
  collected_init (&c);
  s = import_path (path, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_null (s);
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_ENCODING);
  g_assert_nonnull (strstr (error->message, "program.txt"));
  g_assert_nonnull (strstr (error->message, "binary"));
  collected_clear (&c);
}

static void
test_missing_file_is_io_error (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "nope.jsonl", NULL);
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_path (path, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_null (s);
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "nope.jsonl"));
  collected_clear (&c);
}

static void
test_too_long_record_rejected (Fixture *f, gconstpointer data)
{
  g_autoptr (GString) text = g_string_new ("{\"text\":\"short\"}\n{\"text\":\"");
  const char *const expected[] = { "1 {\"text\":\"short\"}", "3 {\"text\":\"after\"}", NULL };
  const char *const rejects[] = { "2 too-long", NULL };
  TailorImportOptions opts = { .max_record_bytes = 100 };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  for (guint i = 0; i < 1000; i++)
    g_string_append (text, "secret ");
  g_string_append (text, "\"}\n{\"text\":\"after\"}\n");
  collected_init (&c);
  s = import_text (f, "long.jsonl", text->str, text->len, TAILOR_IMPORT_FORMAT_AUTO, &opts, &c,
                   &error);
  g_assert_no_error (error);
  assert_list (c.examples, expected);
  assert_list (c.rejects, rejects);
  collected_clear (&c);
}

static void
preview_capture (const TailorImportReject *reject, gpointer user_data)
{
  *(char **) user_data = g_strdup (reject->preview);
}

static void
test_reject_preview_is_clipped (Fixture *f, gconstpointer data)
{
  g_autoptr (GString) text = g_string_new ("{\"text\":\"ok\"}\n{\"text\": ");
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  g_autofree char *path = NULL;
  g_autofree char *preview = NULL;

  for (guint i = 0; i < 200; i++)
    g_string_append (text, "password123 ");
  g_string_append_c (text, '\n');
  path = write_fixture (f, "clip.jsonl", text->str, text->len);
  s = tailor_import_file (path, TAILOR_IMPORT_FORMAT_AUTO, NULL, NULL, preview_capture, &preview,
                          NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (preview, ==, "{\"text\": password123 password123 passwor…");
  g_assert_cmpuint (s->accepted, ==, 1);
  g_assert_cmpuint (s->rejected, ==, 1);
}

/* ---------------------------------------------------------------------------------------------- */
/* CSV / TSV */

static void
test_csv_rfc4180 (Fixture *f, gconstpointer data)
{
  const char *text = "Question,Answer\r\n"
                     "What is 1+1?,2\r\n"
                     "\"Quoted, with comma\",\"He said \"\"hi\"\"\"\r\n"
                     "\"Multi\r\nline question\",\"Multi\r\n\r\nline answer\"\r\n"
                     "\r\n"
                     "  spaced  ,  trimmed  \r\n"
                     "last,row";
  const char *const expected[] = {
    "2 {\"messages\":[{\"role\":\"user\",\"content\":\"What is 1+1?\"},{\"role\":\"assistant\","
    "\"content\":\"2\"}]}",
    "3 {\"messages\":[{\"role\":\"user\",\"content\":\"Quoted, with comma\"},"
    "{\"role\":\"assistant\",\"content\":\"He said \\\"hi\\\"\"}]}",
    "4 {\"messages\":[{\"role\":\"user\",\"content\":\"Multi\\nline question\"},"
    "{\"role\":\"assistant\",\"content\":\"Multi\\n\\nline answer\"}]}",
    "9 {\"messages\":[{\"role\":\"user\",\"content\":\"spaced\"},{\"role\":\"assistant\","
    "\"content\":\"trimmed\"}]}",
    "10 {\"messages\":[{\"role\":\"user\",\"content\":\"last\"},{\"role\":\"assistant\","
    "\"content\":\"row\"}]}",
    NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "faq.csv", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_CSV);
  assert_list (c.examples, expected);
  assert_list (c.rejects, none);
  collected_clear (&c);
}

static void
test_csv_semicolon_with_system (Fixture *f, gconstpointer data)
{
  const char *text = "id;prompt;response;system\n"
                     "1;Hallo;Guten Tag;Sei höflich\n"
                     "2;\"a;b\";c;\n";
  const char *const expected[] = {
    "2 {\"messages\":[{\"role\":\"system\",\"content\":\"Sei höflich\"},{\"role\":\"user\","
    "\"content\":\"Hallo\"},{\"role\":\"assistant\",\"content\":\"Guten Tag\"}]}",
    "3 {\"messages\":[{\"role\":\"user\",\"content\":\"a;b\"},{\"role\":\"assistant\","
    "\"content\":\"c\"}]}",
    NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "de.csv", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  assert_list (c.examples, expected);
  assert_list (c.rejects, none);
  collected_clear (&c);
}

static void
test_tsv_instruction_input (Fixture *f, gconstpointer data)
{
  const char *text = "instruction\tinput\toutput\n"
                     "Translate\tcat\tchat\n"
                     "Greet\t\tHello\n";
  const char *const expected[] = {
    "2 {\"messages\":[{\"role\":\"user\",\"content\":\"Translate\\n\\ncat\"},"
    "{\"role\":\"assistant\",\"content\":\"chat\"}]}",
    "3 {\"messages\":[{\"role\":\"user\",\"content\":\"Greet\"},{\"role\":\"assistant\","
    "\"content\":\"Hello\"}]}",
    NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "alpaca.tsv", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_TSV);
  assert_list (c.examples, expected);
  collected_clear (&c);
}

static void
test_csv_without_header (Fixture *f, gconstpointer data)
{
  /* Tab-delimited content in a .csv: the delimiter is sniffed, not assumed. */
  const char *text = "Wie spät ist es?\tZeit für Tee.\n"
                     "Und jetzt?\tImmer noch.\n";
  const char *const expected[] = {
    "1 {\"messages\":[{\"role\":\"user\",\"content\":\"Wie spät ist es?\"},"
    "{\"role\":\"assistant\",\"content\":\"Zeit für Tee.\"}]}",
    "2 {\"messages\":[{\"role\":\"user\",\"content\":\"Und jetzt?\"},"
    "{\"role\":\"assistant\",\"content\":\"Immer noch.\"}]}",
    NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "plain.csv", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  assert_list (c.examples, expected);
  collected_clear (&c);
}

static void
test_csv_mapping (Fixture *f, gconstpointer data)
{
  const char *text = "a,b,c,reply\n"
                     "x,y,the prompt,the reply\n";
  const char *const expected[] = {
    "2 {\"messages\":[{\"role\":\"system\",\"content\":\"y\"},{\"role\":\"user\","
    "\"content\":\"the prompt\"},{\"role\":\"assistant\",\"content\":\"the reply\"}]}",
    NULL,
  };
  TailorImportOptions opts = {
    .prompt_column = { .index = 3 },
    .response_column = { .name = "REPLY" },
    .system_column = { .index = 2 },
    .header = TAILOR_IMPORT_HEADER_YES,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "map.csv", text, -1, TAILOR_IMPORT_FORMAT_CSV, &opts, &c, &error);
  g_assert_no_error (error);
  assert_list (c.examples, expected);
  collected_clear (&c);
}

static void
test_csv_rejects (Fixture *f, gconstpointer data)
{
  const char *text = "prompt,response\n"
                     "ok,fine\n"
                     "only one field\n"
                     "no answer,\n"
                     ",no question\n"
                     "\"bad\xff\nbytes\",x\n"
                     "good,again\n"
                     "\"never closed,x\n"
                     "more\n";
  const char *const expected[] = {
    "2 {\"messages\":[{\"role\":\"user\",\"content\":\"ok\"},{\"role\":\"assistant\","
    "\"content\":\"fine\"}]}",
    "8 {\"messages\":[{\"role\":\"user\",\"content\":\"good\"},{\"role\":\"assistant\","
    "\"content\":\"again\"}]}",
    NULL,
  };
  const char *const rejects[] = {
    "3 missing-field", "4 empty", "5 empty", "6 invalid-encoding", "9 malformed", NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "bad.csv", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  assert_list (c.examples, expected);
  assert_list (c.rejects, rejects);
  collected_clear (&c);
}

static void
test_csv_mapping_errors (Fixture *f, gconstpointer data)
{
  TailorImportOptions opts = { .prompt_column = { .name = "frage" } };
  g_autoptr (GError) e1 = NULL;
  g_autoptr (TailorImportSummary) s1 = NULL;
  Collected c;

  collected_init (&c);
  s1 = import_text (f, "cols.csv", "question,answer\nq,a\n", -1, TAILOR_IMPORT_FORMAT_AUTO,
                    &opts, &c, &e1);
  g_assert_null (s1);
  g_assert_error (e1, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_nonnull (strstr (e1->message, "“frage”"));
  g_assert_nonnull (strstr (e1->message, "question, answer"));

  collected_clear (&c);
}

static void
test_csv_unguessable_columns (Fixture *f, gconstpointer data)
{
  TailorImportOptions opts = { .header = TAILOR_IMPORT_HEADER_YES };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "unknown.csv", "id,foo,bar\n1,q,a\n", -1, TAILOR_IMPORT_FORMAT_AUTO, &opts,
                   &c, &error);
  g_assert_null (s);
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "unknown.csv"));
  g_assert_nonnull (strstr (error->message, "id, foo, bar"));
  collected_clear (&c);
}

static void
test_csv_open_quote_over_limit (Fixture *f, gconstpointer data)
{
  g_autoptr (GString) text = g_string_new ("q,a\n\"open,x\n");
  const char *const expected[] = {
    "1 {\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
    "\"content\":\"a\"}]}",
    "12 {\"messages\":[{\"role\":\"user\",\"content\":\"after\"},{\"role\":\"assistant\","
    "\"content\":\"fine\"}]}",
    NULL,
  };
  const char *const rejects[] = { "2 too-long", NULL };
  TailorImportOptions opts = { .max_record_bytes = 200, .header = TAILOR_IMPORT_HEADER_NO };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  /* A quote left open swallows the lines after it; the size limit ends the damage and the
   * parser starts afresh on the next line. */
  /* 8 bytes + 9 × 23 bytes first exceeds the 200-byte limit on the ninth swallowed line. */
  for (guint i = 0; i < 9; i++)
    g_string_append (text, "swallowed line of text\n");
  g_string_append (text, "after,fine\n");
  collected_init (&c);
  s = import_text (f, "open.csv", text->str, text->len, TAILOR_IMPORT_FORMAT_CSV, &opts, &c,
                   &error);
  g_assert_no_error (error);
  assert_list (c.examples, expected);
  assert_list (c.rejects, rejects);
  collected_clear (&c);
}

/* ---------------------------------------------------------------------------------------------- */
/* Q&A text and Markdown */

static void
test_qa_invalid_bytes_reject_the_pair (Fixture *f, gconstpointer data)
{
  const char *qa = "Q: one\nA: fine\nQ: two\nA: bad \xc3\x28 bytes\nmore\nQ: three\nA: ok\n"
                   "\xff stray\n";
  const char *md = "## One?\nfine\n## Two?\nbad \xe2\x82 bytes\n## Three?\nok\n";
  const char *const expected_qa[] = {
    "1 {\"messages\":[{\"role\":\"user\",\"content\":\"one\"},{\"role\":\"assistant\","
    "\"content\":\"fine\"}]}",
    NULL,
  };
  const char *const rejects_qa[] = { "4 invalid-encoding", "8 invalid-encoding", NULL };
  const char *const expected_md[] = {
    "1 {\"messages\":[{\"role\":\"user\",\"content\":\"One?\"},{\"role\":\"assistant\","
    "\"content\":\"fine\"}]}",
    "5 {\"messages\":[{\"role\":\"user\",\"content\":\"Three?\"},{\"role\":\"assistant\","
    "\"content\":\"ok\"}]}",
    NULL,
  };
  const char *const rejects_md[] = { "4 invalid-encoding", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s1 = NULL;
  g_autoptr (TailorImportSummary) s2 = NULL;
  Collected c1, c2;

  collected_init (&c1);
  collected_init (&c2);
  s1 = import_text (f, "bad-qa.txt", qa, -1, TAILOR_IMPORT_FORMAT_QA_TEXT, NULL, &c1, &error);
  g_assert_no_error (error);
  assert_list (c1.examples, expected_qa);
  /* The last pair's stray line is inside that pair, so the pair is rejected at it. */
  assert_list (c1.rejects, rejects_qa);
  s2 = import_text (f, "bad-qa.md", md, -1, TAILOR_IMPORT_FORMAT_QA_MARKDOWN, NULL, &c2, &error);
  g_assert_no_error (error);
  assert_list (c2.examples, expected_md);
  assert_list (c2.rejects, rejects_md);
  collected_clear (&c1);
  collected_clear (&c2);
}

static void
test_qa_pairs (Fixture *f, gconstpointer data)
{
  const char *text = "Support FAQ for the shop\n"
                     "\n"
                     "Q: How do I return an item?\n"
                     "A: Send it back within 30 days.\n"
                     "Include the receipt.\n"
                     "\n"
                     "Question: Do you ship abroad?\n"
                     "Answer: Yes, to the EU.\n"
                     "Q: Is there a phone line?\n"
                     "Q: What about gift cards?\n"
                     "A:\n"
                     "A: Stray answer.\n"
                     "**Q:** Bold question?\n"
                     "**A:** Bold answer.\n";
  const char *const expected[] = {
    "3 {\"messages\":[{\"role\":\"user\",\"content\":\"How do I return an item?\"},"
    "{\"role\":\"assistant\",\"content\":\"Send it back within 30 days.\\nInclude the receipt.\"}]}",
    "7 {\"messages\":[{\"role\":\"user\",\"content\":\"Do you ship abroad?\"},"
    "{\"role\":\"assistant\",\"content\":\"Yes, to the EU.\"}]}",
    "13 {\"messages\":[{\"role\":\"user\",\"content\":\"Bold question?\"},"
    "{\"role\":\"assistant\",\"content\":\"Bold answer.\"}]}",
    NULL,
  };
  const char *const rejects[] = { "9 no-assistant-turn", "10 empty", "12 missing-field", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "faq.txt", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_QA_TEXT);
  assert_list (c.examples, expected);
  assert_list (c.rejects, rejects);
  collected_clear (&c);
}

static void
test_qa_markdown (Fixture *f, gconstpointer data)
{
  const char *text = "# Frequently asked questions\n"
                     "\n"
                     "## How do I reset my password?\n"
                     "\n"
                     "Open *Settings* and choose **Reset**.\n"
                     "\n"
                     "```sh\n"
                     "# not a heading\n"
                     "tailor reset\n"
                     "```\n"
                     "## Where is my invoice? ##\n"
                     "In your account.\n"
                     "## Is this one unanswered?\n"
                     "\n"
                     "## Shipping\n"
                     "Three days.\n";
  const char *const expected[] = {
    "3 {\"messages\":[{\"role\":\"user\",\"content\":\"How do I reset my password?\"},"
    "{\"role\":\"assistant\",\"content\":\"Open *Settings* and choose **Reset**.\\n\\n```sh\\n"
    "# not a heading\\ntailor reset\\n```\"}]}",
    "11 {\"messages\":[{\"role\":\"user\",\"content\":\"Where is my invoice?\"},"
    "{\"role\":\"assistant\",\"content\":\"In your account.\"}]}",
    "15 {\"messages\":[{\"role\":\"user\",\"content\":\"Shipping\"},"
    "{\"role\":\"assistant\",\"content\":\"Three days.\"}]}",
    NULL,
  };
  const char *const rejects[] = { "13 no-assistant-turn", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "faq.md", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_QA_MARKDOWN);
  assert_list (c.examples, expected);
  assert_list (c.rejects, rejects);
  collected_clear (&c);
}

/* ---------------------------------------------------------------------------------------------- */
/* Documents */

static void
test_text_document_chunks (Fixture *f, gconstpointer data)
{
  const char *text = "First paragraph, hard\n"
                     "wrapped   over\tlines.\n"
                     "\n"
                     "\n"
                     "Second one.\n"
                     "\n"
                     "Third paragraph is a bit longer than the others.\n"
                     "Fourth line joins it.\n";
  const char *const expected[] = {
    "1 {\"text\":\"First paragraph, hard wrapped over lines.\\n\\nSecond one.\"}",
    "7 {\"text\":\"Third paragraph is a bit longer than the others. Fourth line joins it.\"}",
    NULL,
  };
  guint calls = 0;
  TailorImportOptions opts = {
    .chunk_tokens = 13, .count_tokens = count_words, .count_tokens_data = &calls,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "notes.txt", text, -1, TAILOR_IMPORT_FORMAT_AUTO, &opts, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_DOCUMENT_TEXT);
  assert_list (c.examples, expected);
  g_assert_cmpuint (calls, >, 0);
  collected_clear (&c);
}

static void
test_long_paragraph_split (Fixture *f, gconstpointer data)
{
  const char *text = "One two three. Four five six seven. Eight nine ten eleven twelve thirteen "
                     "fourteen fifteen sixteen seventeen.\n";
  const char *const expected[] = {
    "1 {\"text\":\"One two three. Four five six seven.\"}",
    "1 {\"text\":\"Eight nine ten eleven twelve thirteen fourteen\"}",
    "1 {\"text\":\"fifteen sixteen seventeen.\"}",
    NULL,
  };
  TailorImportOptions opts = { .chunk_tokens = 7, .count_tokens = count_words };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "long.txt", text, -1, TAILOR_IMPORT_FORMAT_DOCUMENT_TEXT, &opts, &c,
                   &error);
  g_assert_no_error (error);
  assert_list (c.examples, expected);
  collected_clear (&c);
}

static void
test_default_token_estimate (Fixture *f, gconstpointer data)
{
  /* 4 characters per token by default: 10 tokens hold 40 characters. */
  const char *text = "aaaaaaaaa bbbbbbbbb ccccccccc ddddddddd eeeeeeeee fffffffff\n\n"
                     "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\n";
  const char *const expected[] = {
    "1 {\"text\":\"aaaaaaaaa bbbbbbbbb ccccccccc ddddddddd\"}",
    "1 {\"text\":\"eeeeeeeee fffffffff\\n\\n\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\"}",
    NULL,
  };
  TailorImportOptions opts = { .chunk_tokens = 10 };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "est.txt", text, -1, TAILOR_IMPORT_FORMAT_DOCUMENT_TEXT, &opts, &c, &error);
  g_assert_no_error (error);
  assert_list (c.examples, expected);
  collected_clear (&c);
}

static void
test_markdown_document (Fixture *f, gconstpointer data)
{
  const char *text = "# Style guide\n"
                     "We write short\n"
                     "sentences.\n"
                     "- one item\n"
                     "- two items\n"
                     "\n"
                     "```\n"
                     "code   stays\n"
                     "\n"
                     "  as is\n"
                     "```\n";
  const char *const expected[] = {
    "1 {\"text\":\"# Style guide\\n\\nWe write short sentences.\\n- one item\\n- two items\\n\\n"
    "```\\ncode   stays\\n\\n  as is\\n```\"}",
    NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "style.md", text, -1, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_DOCUMENT_MARKDOWN);
  assert_list (c.examples, expected);
  collected_clear (&c);
}

static void
test_html_document (Fixture *f, gconstpointer data)
{
  const char *text = "<!DOCTYPE html>\n"
                     "<html><head><meta charset=\"iso-8859-1\"><title>Page title</title>\n"
                     "<style>p { color: red }</style>\n"
                     "<script>var s = \"<p>not text</p>\";</script>\n"
                     "</head><body>\n"
                     "<nav><a href=\"/\">Home</a> <a href=\"/x\">Menu</a></nav>\n"
                     "<h1>Main   title</h1>\n"
                     "<p>Caf\xc3\xa9 <b>bold</b> para,\n"
                     "spanning two lines &amp; an entity.</p>\n"
                     "<div>Second<br>block</div>\n"
                     "</body></html>\n";
  const char *const expected[] = {
    "7 {\"text\":\"Main title\"}",
    "8 {\"text\":\"Caf\xc3\xa9 bold para, spanning two lines & an entity.\"}",
    "10 {\"text\":\"Second block\"}",
    NULL,
  };
  TailorImportOptions opts = { .chunk_tokens = 9, .count_tokens = count_words };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "page.html", text, -1, TAILOR_IMPORT_FORMAT_AUTO, &opts, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_DOCUMENT_HTML);
  assert_list (c.examples, expected);
  collected_clear (&c);
}

/* A PDF with Helvetica text, one content stream per page, and a correct cross-reference table. */
static GByteArray *
make_pdf (const char *const *pages, guint n_pages, gboolean encrypted)
{
  GByteArray *out = g_byte_array_new ();
  g_autoptr (GArray) offsets = g_array_new (FALSE, FALSE, sizeof (gsize));
  g_autoptr (GString) obj = g_string_new (NULL);
  g_autoptr (GString) kids = g_string_new (NULL);
  guint n_objects = 3 + 2 * n_pages + (encrypted ? 1 : 0);
  gsize xref;

#define EMIT(s)                                                                        \
  G_STMT_START                                                                         \
  {                                                                                    \
    gsize off = out->len;                                                              \
    g_array_append_val (offsets, off);                                                 \
    g_byte_array_append (out, (const guint8 *) (s)->str, (s)->len);                    \
  }                                                                                    \
  G_STMT_END

  g_byte_array_append (out, (const guint8 *) "%PDF-1.4\n", 9);
  for (guint i = 0; i < n_pages; i++)
    g_string_append_printf (kids, "%u 0 R ", 4 + 2 * i);

  g_string_printf (obj, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
  EMIT (obj);
  g_string_printf (obj, "2 0 obj\n<< /Type /Pages /Kids [%s] /Count %u >>\nendobj\n", kids->str,
                   n_pages);
  EMIT (obj);
  g_string_printf (obj, "3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\n"
                        "endobj\n");
  EMIT (obj);
  for (guint i = 0; i < n_pages; i++)
    {
      g_auto (GStrv) lines = g_strsplit (pages[i], "\n", -1);
      g_autoptr (GString) content = g_string_new ("BT /F1 12 Tf 14 TL 72 720 Td\n");

      for (guint l = 0; lines[l] != NULL; l++)
        g_string_append_printf (content, "(%s) Tj T*\n", lines[l]);
      g_string_append (content, "ET\n");
      g_string_printf (obj, "%u 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                            "/Resources << /Font << /F1 3 0 R >> >> /Contents %u 0 R >>\nendobj\n",
                       4 + 2 * i, 5 + 2 * i);
      EMIT (obj);
      g_string_printf (obj, "%u 0 obj\n<< /Length %" G_GSIZE_FORMAT " >>\nstream\n%sendstream\n"
                            "endobj\n",
                       5 + 2 * i, content->len, content->str);
      EMIT (obj);
    }
  if (encrypted)
    {
      g_string_printf (obj, "%u 0 obj\n<< /Filter /Standard /V 1 /R 2 /P -44 "
                            "/O <%s> /U <%s> >>\nendobj\n",
                       n_objects, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                       "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
      EMIT (obj);
    }
#undef EMIT

  xref = out->len;
  g_string_printf (obj, "xref\n0 %u\n0000000000 65535 f \n", n_objects + 1);
  for (guint i = 0; i < offsets->len; i++)
    g_string_append_printf (obj, "%010" G_GSIZE_FORMAT " 00000 n \n",
                            g_array_index (offsets, gsize, i));
  g_string_append_printf (obj, "trailer\n<< /Size %u /Root 1 0 R", n_objects + 1);
  if (encrypted)
    g_string_append_printf (obj, " /Encrypt %u 0 R /ID [<00112233445566778899aabbccddeeff>"
                                 "<00112233445566778899aabbccddeeff>]",
                            n_objects);
  g_string_append_printf (obj, " >>\nstartxref\n%" G_GSIZE_FORMAT "\n%%%%EOF\n", xref);
  g_byte_array_append (out, (const guint8 *) obj->str, obj->len);
  return out;
}

static void
test_pdf_document (Fixture *f, gconstpointer data)
{
  const char *const pages[] = {
    "Tailor turns messy docu-\n"
    "ments into clean training data for\n"
    "small models.\n"
    "The second paragraph starts here and\n"
    "ends on the first page.",
    "A third paragraph on page two.",
  };
  const char *const expected[] = {
    "1 {\"text\":\"Tailor turns messy documents into clean training data for small models.\"}",
    "1 {\"text\":\"The second paragraph starts here and ends on the first page.\"}",
    "2 {\"text\":\"A third paragraph on page two.\"}",
    NULL,
  };
  TailorImportOptions opts = { .chunk_tokens = 12, .count_tokens = count_words };
  g_autoptr (GByteArray) pdf = make_pdf (pages, G_N_ELEMENTS (pages), FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "guide.pdf", (const char *) pdf->data, pdf->len, TAILOR_IMPORT_FORMAT_AUTO,
                   &opts, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_DOCUMENT_PDF);
  g_assert_cmpint (s->unit, ==, TAILOR_IMPORT_UNIT_PAGE);
  assert_list (c.examples, expected);
  collected_clear (&c);
}

static void
test_pdf_unreadable (Fixture *f, gconstpointer data)
{
  const char *const pages[] = { "Secret text." };
  g_autoptr (GByteArray) pdf = make_pdf (pages, 1, TRUE);
  g_autoptr (GError) e1 = NULL;
  g_autoptr (GError) e2 = NULL;
  g_autoptr (TailorImportSummary) s1 = NULL;
  g_autoptr (TailorImportSummary) s2 = NULL;
  Collected c;

  collected_init (&c);
  s1 = import_text (f, "locked.pdf", (const char *) pdf->data, pdf->len,
                    TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &e1);
  g_assert_null (s1);
  g_assert_error (e1, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_nonnull (strstr (e1->message, "locked.pdf"));
  g_assert_nonnull (strstr (e1->message, "encrypted"));

  s2 = import_text (f, "broken.pdf", "%PDF-1.4\n1 0 obj << /Type /Cat", -1,
                    TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &e2);
  g_assert_null (s2);
  g_assert_error (e2, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_nonnull (strstr (e2->message, "broken.pdf"));
  g_assert_nonnull (strstr (e2->message, "damaged"));
  g_assert_cmpuint (c.examples->len, ==, 0);
  collected_clear (&c);
}

static void
write_zip (const char *path, const char *const *names, const char *const *contents)
{
  struct archive *a = archive_write_new ();

  g_assert_cmpint (archive_write_set_format_zip (a), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open_filename (a, path), ==, ARCHIVE_OK);
  for (guint i = 0; names[i] != NULL; i++)
    {
      struct archive_entry *entry = archive_entry_new ();
      gsize len = strlen (contents[i]);

      archive_entry_set_pathname (entry, names[i]);
      archive_entry_set_size (entry, len);
      archive_entry_set_filetype (entry, AE_IFREG);
      archive_entry_set_perm (entry, 0644);
      g_assert_cmpint (archive_write_header (a, entry), ==, ARCHIVE_OK);
      g_assert_cmpint (archive_write_data (a, contents[i], len), ==, (la_ssize_t) len);
      archive_entry_free (entry);
    }
  g_assert_cmpint (archive_write_close (a), ==, ARCHIVE_OK);
  archive_write_free (a);
}

static void
test_docx_document (Fixture *f, gconstpointer data)
{
  const char *const names[] = { "[Content_Types].xml", "word/document.xml", NULL };
  const char *const contents[] = {
    "<?xml version=\"1.0\"?><Types/>",
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<w:document xmlns:w=\"" "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    "\"><w:body>\n"
    "<w:p><w:r><w:t xml:space=\"preserve\">Hello </w:t></w:r><w:r><w:rPr><w:b/></w:rPr>"
    "<w:t>wor</w:t></w:r><w:r><w:t>ld.</w:t></w:r></w:p>\n"
    "<w:p/>\n"
    "<w:p><w:r><w:t>Tab</w:t><w:tab/><w:t>here &amp; there</w:t></w:r></w:p>\n"
    "<w:sectPr/></w:body></w:document>\n",
  };
  const char *const expected[] = {
    "1 {\"text\":\"Hello world.\"}",
    "3 {\"text\":\"Tab here & there\"}",
    NULL,
  };
  TailorImportOptions opts = { .chunk_tokens = 4, .count_tokens = count_words };
  g_autofree char *path = g_build_filename (f->dir, "letter.docx", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  write_zip (path, names, contents);
  collected_init (&c);
  s = import_path (path, TAILOR_IMPORT_FORMAT_AUTO, &opts, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->format, ==, TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX);
  g_assert_cmpint (s->unit, ==, TAILOR_IMPORT_UNIT_PARAGRAPH);
  assert_list (c.examples, expected);
  collected_clear (&c);
}

static void
test_docx_not_word (Fixture *f, gconstpointer data)
{
  const char *const names[] = { "readme.txt", NULL };
  const char *const contents[] = { "just a zip", NULL };
  const char *const bad_names[] = { "word/document.xml", NULL };
  const char *const bad_contents[] = { "<w:document><w:body><w:p>unclosed", NULL };
  g_autofree char *path = g_build_filename (f->dir, "archive.docx", NULL);
  g_autofree char *bad = g_build_filename (f->dir, "damaged.docx", NULL);
  g_autoptr (GError) e1 = NULL;
  g_autoptr (GError) e2 = NULL;
  g_autoptr (TailorImportSummary) s1 = NULL;
  g_autoptr (TailorImportSummary) s2 = NULL;
  Collected c;

  write_zip (path, names, contents);
  write_zip (bad, bad_names, bad_contents);
  collected_init (&c);
  s1 = import_path (path, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &e1);
  g_assert_null (s1);
  g_assert_error (e1, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_nonnull (strstr (e1->message, "archive.docx"));
  g_assert_nonnull (strstr (e1->message, "word/document.xml"));
  s2 = import_path (bad, TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX, NULL, &c, &e2);
  g_assert_null (s2);
  g_assert_error (e2, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_nonnull (strstr (e2->message, "damaged.docx"));
  collected_clear (&c);
}

/* ---------------------------------------------------------------------------------------------- */
/* Detection, summary, errors, cancellation */

static void
test_detect_format (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *name;
    const char *text;
    TailorImportFormat format;
  } cases[] = {
    { "a.jsonl", "{\"messages\":[]}\n", TAILOR_IMPORT_FORMAT_JSONL_CHAT },
    { "noext", "  {\"text\":\"x\"}\n", TAILOR_IMPORT_FORMAT_JSONL_TEXT },
    { "b.csv", "q;a\n1;2\n", TAILOR_IMPORT_FORMAT_CSV },
    { "c.tsv", "q\ta\n", TAILOR_IMPORT_FORMAT_TSV },
    { "d.txt", "Q: x\nA: y\n", TAILOR_IMPORT_FORMAT_QA_TEXT },
    { "e.md", "# T\n## A?\nb\n## C?\nd\n", TAILOR_IMPORT_FORMAT_QA_MARKDOWN },
    { "f.md", "# Title\nSome prose.\n## Part\nMore.\n", TAILOR_IMPORT_FORMAT_DOCUMENT_MARKDOWN },
    { "g.txt", "Just prose.\n", TAILOR_IMPORT_FORMAT_DOCUMENT_TEXT },
    { "h.htm", "<p>x</p>", TAILOR_IMPORT_FORMAT_DOCUMENT_HTML },
    { "page", "<!DOCTYPE html><p>x</p>", TAILOR_IMPORT_FORMAT_DOCUMENT_HTML },
    { "i.dat", "%PDF-1.7\n", TAILOR_IMPORT_FORMAT_DOCUMENT_PDF },
    { "j.bin", "PK\x03\x04rest", TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *path = write_fixture (f, cases[i].name, cases[i].text, -1);
      TailorImportFormat got = TAILOR_IMPORT_FORMAT_AUTO;

      g_test_message ("case %s", cases[i].name);
      g_assert_true (tailor_import_detect_format (path, &got, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (tailor_import_format_to_string (got), ==,
                       tailor_import_format_to_string (cases[i].format));
    }
}

static void
test_format_names_round_trip (void)
{
  for (guint i = TAILOR_IMPORT_FORMAT_AUTO; i <= TAILOR_IMPORT_FORMAT_DOCUMENT_DOCX; i++)
    {
      TailorImportFormat back = TAILOR_IMPORT_FORMAT_AUTO;

      g_assert_true (tailor_import_format_from_string (tailor_import_format_to_string (i), &back));
      g_assert_cmpint (back, ==, i);
    }
  g_assert_false (tailor_import_format_from_string ("xls", &(TailorImportFormat) { 0 }));
  for (guint i = 0; i < TAILOR_IMPORT_REJECT_N_REASONS; i++)
    g_assert_nonnull (tailor_import_reject_reason_to_string (i));
}

static void
test_summary (Fixture *f, gconstpointer data)
{
  const char *text = "{\"text\":\"a\"}\n{\"text\":1}\n{\"text\":\"b\"}\n";
  TailorImportOptions opts = { .license = "CC-BY-4.0" };
  g_autofree char *sha = g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  s = import_text (f, "sum.jsonl", text, -1, TAILOR_IMPORT_FORMAT_AUTO, &opts, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (s->sha256, ==, sha);
  g_assert_cmpstr (s->license, ==, "CC-BY-4.0");
  g_assert_cmpstr (s->path, ==, c.path);
  g_assert_cmpuint (s->records_read, ==, 3);
  g_assert_cmpuint (s->accepted, ==, 2);
  g_assert_cmpuint (s->rejected, ==, 1);
  g_assert_cmpuint (s->rejected_by_reason[TAILOR_IMPORT_REJECT_WRONG_TYPE], ==, 1);
  collected_clear (&c);
}

static void
test_no_usable_record_is_error (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) e1 = NULL;
  g_autoptr (GError) e2 = NULL;
  g_autoptr (TailorImportSummary) s1 = NULL;
  g_autoptr (TailorImportSummary) s2 = NULL;
  Collected c;

  collected_init (&c);
  s1 = import_text (f, "empty.txt", "", 0, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &e1);
  g_assert_null (s1);
  g_assert_error (e1, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_EMPTY);
  g_assert_nonnull (strstr (e1->message, "empty.txt"));
  s2 = import_text (f, "allbad.jsonl", "{\"text\":\"\"}\n{\"text\":2}\n", -1,
                    TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &e2);
  g_assert_null (s2);
  g_assert_error (e2, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_EMPTY);
  g_assert_cmpuint (c.rejects->len, ==, 2);
  collected_clear (&c);
}

static void
test_callback_error_stops_import (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  Collected c;

  collected_init (&c);
  c.stop_after = 2;
  s = import_text (f, "stop.jsonl", "{\"text\":\"a\"}\n{\"text\":\"b\"}\n{\"text\":\"c\"}\n", -1,
                   TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_null (s);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_assert_cmpuint (c.seen, ==, 2);
  collected_clear (&c);
}

static gboolean
cancel_on_first (TailorExample *example, gpointer user_data, GError **error)
{
  tailor_example_free (example);
  g_cancellable_cancel (user_data);
  return TRUE;
}

static void
test_cancellation (Fixture *f, gconstpointer data)
{
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  g_autofree char *path = NULL;

  for (guint i = 0; i < 5000; i++)
    g_string_append_printf (text, "{\"text\":\"record %u\"}\n", i);
  path = write_fixture (f, "many.jsonl", text->str, text->len);
  s = tailor_import_file (path, TAILOR_IMPORT_FORMAT_AUTO, NULL, cancel_on_first, NULL,
                          cancellable, cancellable, &error);
  g_assert_null (s);
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_CANCELLED);
}

/* ---------------------------------------------------------------------------------------------- */
/* Streaming */

static gsize
proc_status_kb (const char *key)
{
  g_autofree char *status = NULL;
  const char *p;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  p = strstr (status, key);
  if (p == NULL)
    return 0;
  return (gsize) g_ascii_strtoull (p + strlen (key) + 1, NULL, 10);
}

static void
test_streaming_memory_is_flat (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "big.jsonl", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorImportSummary) s = NULL;
  g_autofree char *filler = g_strnfill (180, 'x');
  FILE *out;
  gsize rss_before;
  gsize hwm_after;
  guint64 lines = 0;
  gsize written = 0;
  Collected c;

  if (!g_file_test ("/proc/self/status", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("needs /proc/self/status to read peak memory");
      return;
    }

  out = fopen (path, "w");
  g_assert_nonnull (out);
  while (written < 50 * 1024 * 1024)
    {
      int n = fprintf (out,
                       "{\"messages\":[{\"role\":\"user\",\"content\":\"Question %" G_GUINT64_FORMAT
                       " %s\"},{\"role\":\"assistant\",\"content\":\"Answer %s\"}]}\n",
                       lines, filler, filler);
      g_assert_cmpint (n, >, 0);
      written += (gsize) n;
      lines++;
    }
  g_assert_cmpint (fclose (out), ==, 0);

  /* Reset the peak so it measures this import alone (Linux ≥ 4.0); without that the check
   * still holds, only against an earlier, higher peak. */
  g_file_set_contents ("/proc/self/clear_refs", "5", 1, NULL);
  rss_before = proc_status_kb ("VmRSS:");

  collected_init (&c);
  c.keep = FALSE;
  s = import_path (path, TAILOR_IMPORT_FORMAT_AUTO, NULL, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (s->accepted, ==, lines);
  g_assert_cmpuint (c.seen, ==, lines);

  hwm_after = proc_status_kb ("VmHWM:");
  g_test_message ("50 MiB JSONL, %" G_GUINT64_FORMAT " records: RSS before %" G_GSIZE_FORMAT
                  " KiB, peak after %" G_GSIZE_FORMAT " KiB",
                  lines, rss_before, hwm_after);
  /* Holding the file would add 50 MiB; a streaming import adds buffers and allocator slack. */
  g_assert_cmpuint (hwm_after, <, rss_before + 16 * 1024);
  collected_clear (&c);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add ("/import/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("jsonl/chat-openai-style-with-parts-and-tools", test_jsonl_chat);
  ADD ("jsonl/chat-rejects-each-malformed-line-keeps-valid", test_jsonl_chat_rejects);
  ADD ("jsonl/sharegpt-maps-speakers-to-roles", test_jsonl_sharegpt);
  ADD ("jsonl/alpaca-joins-instruction-and-input", test_jsonl_alpaca);
  ADD ("jsonl/prompt-completion-and-text", test_jsonl_prompt_completion_and_text);
  ADD ("jsonl/shape-detected-from-first-valid-records", test_jsonl_shape_from_first_valid_records);
  ADD ("jsonl/forced-shape-overrides-detection", test_jsonl_forced_shape);
  ADD ("jsonl/json-array-is-a-clear-error", test_json_array_is_error);
  ADD ("jsonl/unknown-record-shape-is-a-clear-error", test_unknown_jsonl_shape_is_error);
  ADD ("encoding/utf8-bom-utf16le-utf16be-give-same-examples", test_encodings_utf8_bom_and_utf16);
  ADD ("encoding/invalid-utf8-line-rejected-rest-imported", test_invalid_utf8_line_rejected);
  ADD ("encoding/invalid-utf16-surrogate-rejected", test_invalid_utf16_rejected);
  ADD ("encoding/binary-file-is-a-clear-error", test_binary_file_is_error);
  ADD ("missing-file-is-an-io-error", test_missing_file_is_io_error);
  ADD ("too-long-record-rejected-without-buffering", test_too_long_record_rejected);
  ADD ("reject-preview-is-clipped", test_reject_preview_is_clipped);
  ADD ("csv/rfc4180-quotes-multiline-crlf", test_csv_rfc4180);
  ADD ("csv/semicolon-sniffed-system-column-guessed", test_csv_semicolon_with_system);
  ADD ("csv/tsv-instruction-and-input-joined", test_tsv_instruction_input);
  ADD ("csv/no-header-uses-first-two-columns", test_csv_without_header);
  ADD ("csv/mapping-by-index-and-name", test_csv_mapping);
  ADD ("csv/rejects-short-empty-bad-bytes-unclosed-quote", test_csv_rejects);
  ADD ("csv/unknown-mapped-column-names-the-columns", test_csv_mapping_errors);
  ADD ("csv/unguessable-columns-is-a-clear-error", test_csv_unguessable_columns);
  ADD ("csv/open-quote-over-size-limit-rejected-then-resyncs", test_csv_open_quote_over_limit);
  ADD ("qa/q-a-and-question-answer-pairs", test_qa_pairs);
  ADD ("qa/invalid-bytes-reject-the-whole-pair", test_qa_invalid_bytes_reject_the_pair);
  ADD ("qa/markdown-heading-is-question-body-is-answer", test_qa_markdown);
  ADD ("document/text-chunked-at-paragraphs", test_text_document_chunks);
  ADD ("document/long-paragraph-split-at-sentences-then-words", test_long_paragraph_split);
  ADD ("document/default-four-chars-per-token", test_default_token_estimate);
  ADD ("document/markdown-keeps-headings-lists-and-code", test_markdown_document);
  ADD ("document/html-drops-script-style-nav-keeps-paragraphs-ignores-meta-charset",
       test_html_document);
  ADD ("document/pdf-pages-with-hyphenation-joined", test_pdf_document);
  ADD ("document/pdf-encrypted-or-damaged-is-a-clear-error", test_pdf_unreadable);
  ADD ("document/docx-paragraphs-and-runs", test_docx_document);
  ADD ("document/docx-without-document-xml-or-damaged-is-an-error", test_docx_not_word);
  ADD ("detect-format-from-content-and-extension", test_detect_format);
  ADD ("summary-has-sha256-license-and-counts", test_summary);
  ADD ("no-usable-record-is-an-error", test_no_usable_record_is_error);
  ADD ("callback-error-stops-the-import", test_callback_error_stops_import);
  ADD ("cancellation-stops-the-import", test_cancellation);
  ADD ("streaming-memory-is-flat-for-50mb-jsonl", test_streaming_memory_is_flat);
#undef ADD
  g_test_add_func ("/import/format-names-round-trip", test_format_names_round_trip);

  return g_test_run ();
}
