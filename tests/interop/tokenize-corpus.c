/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tokenizes the parity corpus with Tailor's tokenizer and prints the results as JSON, for
 * tokenizer-parity.mjs to compare with llama.cpp. Decoded text is base64 since it need not
 * be valid UTF-8. */
#include "config.h"

#include <json-glib/json-glib.h>

#include "tailor.h"

static void
add_ids (JsonBuilder *b, const char *name, GArray *ids)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (guint i = 0; i < ids->len; i++)
    json_builder_add_int_value (b, g_array_index (ids, gint32, i));
  json_builder_end_array (b);
}

static void
add_text (JsonBuilder *b, const char *name, TailorTokenizer *tok, GArray *ids, gboolean special)
{
  g_autofree char *text = tailor_tokenizer_decode (tok, (const gint32 *) ids->data, ids->len, special);
  g_autofree char *b64 = g_base64_encode ((const guchar *) text, strlen (text));

  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, b64);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) gguf = NULL;
  g_autoptr (TailorTokenizer) tok = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  JsonArray *corpus;

  if (argc != 4)
    {
      g_printerr ("usage: %s MODEL.gguf CORPUS.json OUT.json\n", argv[0]);
      return 2;
    }
  gguf = tailor_gguf_open (argv[1], &error);
  if (gguf != NULL)
    tok = tailor_tokenizer_new_from_gguf (gguf, &error);
  if (tok == NULL || !json_parser_load_from_file (parser, argv[2], &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  corpus = json_node_get_array (json_parser_get_root (parser));

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "bos");
  json_builder_add_int_value (b, tailor_tokenizer_get_bos (tok));
  json_builder_set_member_name (b, "eos");
  json_builder_add_int_value (b, tailor_tokenizer_get_eos (tok));
  json_builder_set_member_name (b, "eot");
  json_builder_add_int_value (b, tailor_tokenizer_get_eot (tok));
  json_builder_set_member_name (b, "add_bos");
  json_builder_add_boolean_value (b, tailor_tokenizer_get_add_bos (tok));
  json_builder_set_member_name (b, "add_eos");
  json_builder_add_boolean_value (b, tailor_tokenizer_get_add_eos (tok));
  json_builder_set_member_name (b, "n_vocab");
  json_builder_add_int_value (b, tailor_tokenizer_get_n_vocab (tok));
  json_builder_set_member_name (b, "eog");
  json_builder_begin_array (b);
  for (guint i = 0; i < tailor_tokenizer_get_n_vocab (tok); i++)
    if (tailor_tokenizer_is_eog (tok, i))
      json_builder_add_int_value (b, i);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "control");
  json_builder_begin_array (b);
  for (guint i = 0; i < tailor_tokenizer_get_n_vocab (tok); i++)
    if (tailor_tokenizer_get_token_type (tok, i) == TAILOR_TOKEN_CONTROL)
      json_builder_add_int_value (b, i);
  json_builder_end_array (b);

  json_builder_set_member_name (b, "results");
  json_builder_begin_array (b);
  for (guint i = 0; i < json_array_get_length (corpus); i++)
    {
      const char *s = json_array_get_string_element (corpus, i);
      g_autoptr (GArray) plain = g_array_new (FALSE, FALSE, sizeof (gint32));
      g_autoptr (GArray) special = g_array_new (FALSE, FALSE, sizeof (gint32));
      g_autoptr (GArray) added = g_array_new (FALSE, FALSE, sizeof (gint32));

      tailor_tokenizer_encode (tok, s, -1, TAILOR_TOKENIZE_NONE, plain);
      tailor_tokenizer_encode (tok, s, -1, TAILOR_TOKENIZE_PARSE_SPECIAL, special);
      tailor_tokenizer_encode (tok, s, -1, TAILOR_TOKENIZE_PARSE_SPECIAL | TAILOR_TOKENIZE_ADD_SPECIAL, added);
      json_builder_begin_object (b);
      add_ids (b, "plain", plain);
      add_ids (b, "special", special);
      add_ids (b, "added", added);
      add_text (b, "text", tok, plain, FALSE);
      add_text (b, "text_special", tok, special, TRUE);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  if (!json_generator_to_file (gen, argv[3], &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  return 0;
}
