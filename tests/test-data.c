/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests for TailorExample: canonical JSON, content identity and normalised text. */
#include "config.h"

#include "tailor-data.h"

#include <string.h>

static TailorExample *
make_chat (void)
{
  TailorExample *ex = tailor_example_new_chat ();

  tailor_example_add_message (ex, "system", "Be brief.");
  tailor_example_add_message (ex, "user", "Say \"hi\"\n\tplease — ünïcödé");
  tailor_example_add_message (ex, "assistant", "hi");
  return ex;
}

static void
test_chat_json_is_canonical (void)
{
  g_autoptr (TailorExample) ex = make_chat ();
  g_autofree char *json = tailor_example_to_json (ex);

  g_assert_cmpstr (json, ==,
                   "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                   "{\"role\":\"user\",\"content\":\"Say \\\"hi\\\"\\n\\tplease — ünïcödé\"},"
                   "{\"role\":\"assistant\",\"content\":\"hi\"}]}");
}

static void
test_text_json_with_tags (void)
{
  g_autoptr (TailorExample) ex = tailor_example_new_text ("plain");
  g_autofree char *json = NULL;

  tailor_example_add_tag (ex, "counter-example");
  tailor_example_add_tag (ex, "counter-example");
  tailor_example_add_tag (ex, "style");
  json = tailor_example_to_json (ex);
  g_assert_cmpstr (json, ==, "{\"text\":\"plain\",\"tags\":[\"counter-example\",\"style\"]}");
  g_assert_true (tailor_example_has_tag (ex, "style"));
  g_assert_false (tailor_example_has_tag (ex, "other"));
}

static void
test_json_round_trip (void)
{
  g_autoptr (TailorExample) chat = make_chat ();
  g_autoptr (TailorExample) text = tailor_example_new_text ("line one\nline two \\ \x01");
  TailorExample *inputs[2] = { chat, text };

  tailor_example_add_tag (chat, "counter-example");
  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *json = tailor_example_to_json (inputs[i]);
      g_autoptr (TailorExample) back = tailor_example_from_json (json, &error);
      g_autofree char *again = NULL;

      g_assert_no_error (error);
      g_assert_nonnull (back);
      g_assert_cmpint (back->kind, ==, inputs[i]->kind);
      g_assert_cmpuint (back->tags->len, ==, inputs[i]->tags->len);
      again = tailor_example_to_json (back);
      g_assert_cmpstr (again, ==, json);
      g_assert_null (back->source);
    }
}

static void
test_from_json_accepts_foreign_key_order (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorExample) ex = tailor_example_from_json (
    "{\"tags\":[\"a\"],\"messages\":[{\"content\":\"q\",\"role\":\"user\"}]}", &error);

  g_assert_no_error (error);
  g_assert_cmpint (ex->kind, ==, TAILOR_EXAMPLE_CHAT);
  g_assert_cmpuint (ex->messages->len, ==, 1);
  g_assert_cmpstr (g_array_index (ex->messages, TailorMessage, 0).role, ==, "user");
  g_assert_cmpstr (g_array_index (ex->messages, TailorMessage, 0).content, ==, "q");
  g_assert_true (tailor_example_has_tag (ex, "a"));
}

static void
test_from_json_rejects_bad_input (void)
{
  const char *bad[] = {
    "not json",
    "[1,2]",
    "{}",
    "{\"messages\":{}}",
    "{\"messages\":[1]}",
    "{\"messages\":[{\"role\":\"user\"}]}",
    "{\"messages\":[{\"role\":3,\"content\":\"x\"}]}",
    "{\"text\":5}",
    "{\"text\":\"x\",\"tags\":\"a\"}",
    "{\"text\":\"x\",\"tags\":[1]}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (TailorExample) ex = tailor_example_from_json (bad[i], &error);

      g_assert_null (ex);
      g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
    }
}

static void
test_content_id_ignores_tags_and_provenance (void)
{
  g_autoptr (TailorExample) a = make_chat ();
  g_autoptr (TailorExample) b = make_chat ();
  g_autofree char *id_a = NULL;
  g_autofree char *id_b = NULL;
  g_autofree char *id_json = NULL;
  g_autofree char *json = NULL;

  b->source = g_strdup ("/somewhere/else.jsonl");
  b->line = 42;
  tailor_example_add_tag (b, "counter-example");
  id_a = tailor_example_content_id (a);
  id_b = tailor_example_content_id (b);
  g_assert_cmpuint (strlen (id_a), ==, 64);
  g_assert_cmpstr (id_a, ==, id_b);

  /* The id is the SHA-256 of the tag-free canonical JSON: stable across builds and machines. */
  json = tailor_example_to_json (a);
  id_json = g_compute_checksum_for_string (G_CHECKSUM_SHA256, json, -1);
  g_assert_cmpstr (id_a, ==, id_json);
}

static void
test_content_id_is_stable (void)
{
  g_autoptr (TailorExample) ex = tailor_example_new_text ("hello");
  g_autofree char *id = tailor_example_content_id (ex);

  /* sha256 of {"text":"hello"} */
  g_assert_cmpstr (id, ==, "cbbbdcd27692344de5dbab3abcaba413fb0f45307267de7081401576df1cb176");
}

static void
test_content_id_depends_on_content_roles_and_order (void)
{
  g_autoptr (TailorExample) a = tailor_example_new_chat ();
  g_autoptr (TailorExample) b = tailor_example_new_chat ();
  g_autoptr (TailorExample) c = tailor_example_new_chat ();
  g_autoptr (TailorExample) t = tailor_example_new_text ("q\na");
  g_autofree char *ia = NULL, *ib = NULL, *ic = NULL, *it = NULL;

  tailor_example_add_message (a, "user", "q");
  tailor_example_add_message (a, "assistant", "a");
  tailor_example_add_message (b, "assistant", "q");
  tailor_example_add_message (b, "user", "a");
  tailor_example_add_message (c, "user", "a");
  tailor_example_add_message (c, "assistant", "q");
  ia = tailor_example_content_id (a);
  ib = tailor_example_content_id (b);
  ic = tailor_example_content_id (c);
  it = tailor_example_content_id (t);
  g_assert_cmpstr (ia, !=, ib);
  g_assert_cmpstr (ia, !=, ic);
  g_assert_cmpstr (ia, !=, it);
}

static void
test_copy_is_deep (void)
{
  g_autoptr (TailorExample) a = make_chat ();
  g_autoptr (TailorExample) b = NULL;
  g_autofree char *ja = NULL;
  g_autofree char *jb = NULL;

  a->source = g_strdup ("f.jsonl");
  a->line = 7;
  tailor_example_add_tag (a, "t");
  b = tailor_example_copy (a);
  g_assert_cmpstr (b->source, ==, "f.jsonl");
  g_assert_cmpuint (b->line, ==, 7);
  g_assert_true (g_array_index (b->messages, TailorMessage, 0).content
                 != g_array_index (a->messages, TailorMessage, 0).content);
  ja = tailor_example_to_json (a);
  tailor_example_add_tag (b, "only-b");
  jb = tailor_example_to_json (b);
  g_assert_cmpstr (ja, !=, jb);
  g_assert_false (tailor_example_has_tag (a, "only-b"));
}

static void
test_normalized_text (void)
{
  g_autoptr (TailorExample) chat = tailor_example_new_chat ();
  /* U+FB01 (ﬁ ligature) and full-width A become "fi" and "a" under NFKC; ß case-folds to "ss";
   * U+00A0 and tabs/newlines are white space. */
  g_autoptr (TailorExample) text = tailor_example_new_text ("  \xef\xac\x81LE\xc2\xa0\xef\xbc\xa1 \t\n Straße  ");
  g_autofree char *nt = tailor_example_normalized_text (text);
  g_autofree char *nc = NULL;

  g_assert_cmpstr (nt, ==, "file a strasse");

  tailor_example_add_message (chat, "user", "Hello\n\nWORLD ");
  tailor_example_add_message (chat, "assistant", " Caf\xc3\xa9");
  tailor_example_add_message (chat, "assistant", "Cafe\xcc\x81!");
  nc = tailor_example_normalized_text (chat);
  g_assert_cmpstr (nc, ==, "hello world caf\xc3\xa9 caf\xc3\xa9!");
}

static void
test_normalized_text_makes_near_duplicates_equal (void)
{
  g_autoptr (TailorExample) a = tailor_example_new_text ("The  Quick\tbrown fox.");
  g_autoptr (TailorExample) b = tailor_example_new_text ("the quick\nBROWN   fox.");
  g_autofree char *na = tailor_example_normalized_text (a);
  g_autofree char *nb = tailor_example_normalized_text (b);
  g_autofree char *ia = tailor_example_content_id (a);
  g_autofree char *ib = tailor_example_content_id (b);

  g_assert_cmpstr (na, ==, nb);
  g_assert_cmpstr (ia, !=, ib);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/data/chat-json-is-canonical", test_chat_json_is_canonical);
  g_test_add_func ("/data/text-json-carries-tags-once", test_text_json_with_tags);
  g_test_add_func ("/data/json-round-trips", test_json_round_trip);
  g_test_add_func ("/data/from-json-accepts-any-key-order", test_from_json_accepts_foreign_key_order);
  g_test_add_func ("/data/from-json-rejects-malformed-examples", test_from_json_rejects_bad_input);
  g_test_add_func ("/data/content-id-ignores-tags-and-provenance",
                   test_content_id_ignores_tags_and_provenance);
  g_test_add_func ("/data/content-id-is-stable-sha256", test_content_id_is_stable);
  g_test_add_func ("/data/content-id-depends-on-content-roles-and-order",
                   test_content_id_depends_on_content_roles_and_order);
  g_test_add_func ("/data/copy-is-deep", test_copy_is_deep);
  g_test_add_func ("/data/normalized-text-nfkc-casefold-whitespace", test_normalized_text);
  g_test_add_func ("/data/normalized-text-equates-case-and-spacing-variants",
                   test_normalized_text_makes_near_duplicates_equal);

  return g_test_run ();
}
