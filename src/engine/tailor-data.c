/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Training examples: construction, canonical JSON, content identity and normalised text. */
#include "config.h"

#include "tailor-data.h"

#include <json-glib/json-glib.h>
#include <string.h>

G_DEFINE_QUARK (tailor-data-error-quark, tailor_data_error)

static void
message_clear (gpointer data)
{
  TailorMessage *m = data;

  g_clear_pointer (&m->role, g_free);
  g_clear_pointer (&m->content, g_free);
}

static TailorExample *
example_alloc (TailorExampleKind kind)
{
  TailorExample *self = g_new0 (TailorExample, 1);

  self->kind = kind;
  self->tags = g_ptr_array_new_with_free_func (g_free);
  return self;
}

TailorExample *
tailor_example_new_chat (void)
{
  TailorExample *self = example_alloc (TAILOR_EXAMPLE_CHAT);

  self->messages = g_array_new (FALSE, TRUE, sizeof (TailorMessage));
  g_array_set_clear_func (self->messages, message_clear);
  return self;
}

TailorExample *
tailor_example_new_text (const char *text)
{
  TailorExample *self;

  g_return_val_if_fail (text != NULL, NULL);

  self = example_alloc (TAILOR_EXAMPLE_TEXT);
  self->text = g_strdup (text);
  return self;
}

void
tailor_example_add_message (TailorExample *self, const char *role, const char *content)
{
  TailorMessage m;

  g_return_if_fail (self != NULL);
  g_return_if_fail (self->kind == TAILOR_EXAMPLE_CHAT);
  g_return_if_fail (role != NULL);
  g_return_if_fail (content != NULL);

  m.role = g_strdup (role);
  m.content = g_strdup (content);
  g_array_append_val (self->messages, m);
}

gboolean
tailor_example_has_tag (const TailorExample *self, const char *tag)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (tag != NULL, FALSE);

  for (guint i = 0; i < self->tags->len; i++)
    if (g_strcmp0 (g_ptr_array_index (self->tags, i), tag) == 0)
      return TRUE;
  return FALSE;
}

void
tailor_example_add_tag (TailorExample *self, const char *tag)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (tag != NULL);

  /* Tags are a set: adding one twice must not change the serialised form. */
  if (!tailor_example_has_tag (self, tag))
    g_ptr_array_add (self->tags, g_strdup (tag));
}

TailorExample *
tailor_example_copy (const TailorExample *self)
{
  TailorExample *copy;

  g_return_val_if_fail (self != NULL, NULL);

  if (self->kind == TAILOR_EXAMPLE_CHAT)
    {
      copy = tailor_example_new_chat ();
      for (guint i = 0; i < self->messages->len; i++)
        {
          const TailorMessage *m = &g_array_index (self->messages, TailorMessage, i);
          tailor_example_add_message (copy, m->role, m->content);
        }
    }
  else
    copy = tailor_example_new_text (self->text);

  copy->source = g_strdup (self->source);
  copy->line = self->line;
  for (guint i = 0; i < self->tags->len; i++)
    g_ptr_array_add (copy->tags, g_strdup (g_ptr_array_index (self->tags, i)));
  return copy;
}

void
tailor_example_free (TailorExample *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->messages, g_array_unref);
  g_clear_pointer (&self->text, g_free);
  g_clear_pointer (&self->source, g_free);
  g_clear_pointer (&self->tags, g_ptr_array_unref);
  g_free (self);
}

static char *
example_json (const TailorExample *self, gboolean with_tags)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (builder);
  if (self->kind == TAILOR_EXAMPLE_CHAT)
    {
      json_builder_set_member_name (builder, "messages");
      json_builder_begin_array (builder);
      for (guint i = 0; i < self->messages->len; i++)
        {
          const TailorMessage *m = &g_array_index (self->messages, TailorMessage, i);

          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "role");
          json_builder_add_string_value (builder, m->role);
          json_builder_set_member_name (builder, "content");
          json_builder_add_string_value (builder, m->content);
          json_builder_end_object (builder);
        }
      json_builder_end_array (builder);
    }
  else
    {
      json_builder_set_member_name (builder, "text");
      json_builder_add_string_value (builder, self->text);
    }

  if (with_tags && self->tags->len > 0)
    {
      json_builder_set_member_name (builder, "tags");
      json_builder_begin_array (builder);
      for (guint i = 0; i < self->tags->len; i++)
        json_builder_add_string_value (builder, g_ptr_array_index (self->tags, i));
      json_builder_end_array (builder);
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, FALSE);
  return json_generator_to_data (generator, NULL);
}

char *
tailor_example_to_json (const TailorExample *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return example_json (self, TRUE);
}

static gboolean
json_string_member (JsonObject *obj, const char *name, const char **out, const char *where,
                    GError **error)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "%s: “%s” is missing or not a string; write it as a JSON string", where, name);
      return FALSE;
    }
  *out = json_node_get_string (node);
  return TRUE;
}

TailorExample *
tailor_example_from_json (const char *line, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (TailorExample) example = NULL;
  g_autoptr (GError) parse_error = NULL;
  JsonNode *root;
  JsonObject *obj;
  JsonNode *tags;

  g_return_val_if_fail (line != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!json_parser_load_from_data (parser, line, -1, &parse_error))
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "Example is not valid JSON: %s", parse_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                           "Example is not a JSON object; expected {\"messages\":[…]} or {\"text\":…}");
      return NULL;
    }
  obj = json_node_get_object (root);

  if (json_object_has_member (obj, "messages"))
    {
      JsonNode *messages = json_object_get_member (obj, "messages");
      JsonArray *array;

      if (!JSON_NODE_HOLDS_ARRAY (messages))
        {
          g_set_error_literal (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                               "Example: “messages” is not an array");
          return NULL;
        }
      array = json_node_get_array (messages);
      example = tailor_example_new_chat ();
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *item = json_array_get_element (array, i);
          g_autofree char *where = g_strdup_printf ("Example message %u", i + 1);
          const char *role = NULL;
          const char *content = NULL;

          if (!JSON_NODE_HOLDS_OBJECT (item))
            {
              g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                           "%s is not an object with “role” and “content”", where);
              return NULL;
            }
          if (!json_string_member (json_node_get_object (item), "role", &role, where, error)
              || !json_string_member (json_node_get_object (item), "content", &content, where,
                                      error))
            return NULL;
          tailor_example_add_message (example, role, content);
        }
    }
  else if (json_object_has_member (obj, "text"))
    {
      const char *text = NULL;

      if (!json_string_member (obj, "text", &text, "Example", error))
        return NULL;
      example = tailor_example_new_text (text);
    }
  else
    {
      g_set_error_literal (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                           "Example has neither “messages” nor “text”");
      return NULL;
    }

  tags = json_object_get_member (obj, "tags");
  if (tags != NULL)
    {
      JsonArray *array;

      if (!JSON_NODE_HOLDS_ARRAY (tags))
        {
          g_set_error_literal (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                               "Example: “tags” is not an array of strings");
          return NULL;
        }
      array = json_node_get_array (tags);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *item = json_array_get_element (array, i);

          if (!JSON_NODE_HOLDS_VALUE (item) || json_node_get_value_type (item) != G_TYPE_STRING)
            {
              g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                           "Example: tag %u is not a string", i + 1);
              return NULL;
            }
          tailor_example_add_tag (example, json_node_get_string (item));
        }
    }

  return g_steal_pointer (&example);
}

char *
tailor_example_content_id (const TailorExample *self)
{
  g_autofree char *json = NULL;

  g_return_val_if_fail (self != NULL, NULL);

  json = example_json (self, FALSE);
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, json, -1);
}

/* Appends text with every run of Unicode white space turned into one space. */
static void
append_collapsed (GString *out, const char *text)
{
  gboolean pending_space = out->len > 0;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c) || g_unichar_type (c) == G_UNICODE_SPACE_SEPARATOR)
        {
          pending_space = out->len > 0;
          continue;
        }
      if (pending_space)
        g_string_append_c (out, ' ');
      pending_space = FALSE;
      g_string_append_unichar (out, c);
    }
}

static void
append_normalized (GString *out, const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  g_autofree char *nfkc = g_utf8_normalize (valid, -1, G_NORMALIZE_NFKC);
  g_autofree char *folded = g_utf8_casefold (nfkc, -1);

  append_collapsed (out, folded);
}

char *
tailor_example_normalized_text (const TailorExample *self)
{
  GString *out;

  g_return_val_if_fail (self != NULL, NULL);

  out = g_string_new (NULL);
  if (self->kind == TAILOR_EXAMPLE_CHAT)
    {
      for (guint i = 0; i < self->messages->len; i++)
        append_normalized (out, g_array_index (self->messages, TailorMessage, i).content);
    }
  else
    append_normalized (out, self->text);

  return g_string_free (out, FALSE);
}
