/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Chat templates: recognition of tokenizer.chat_template by signature, native rendering to
 * text as llama.cpp's llama_chat_apply_template does, and to tokens with an assistant mask. */

#include "tailor-chat.h"

#include <string.h>

G_DEFINE_QUARK (tailor-chat-error-quark, tailor_chat_error)

/* A rendered conversation is a list of pieces. Markers are scaffolding that is a special
 * token where the vocabulary has one ("<|im_start|>", "[INST]" in Mistral v3, …); text is
 * scaffolding that never is; content is a message's text, never matched for special tokens. */
typedef enum {
  PIECE_TEXT,
  PIECE_MARKER,
  PIECE_CONTENT,
} PieceKind;

typedef struct {
  PieceKind kind;
  char *text;
  gboolean train;    /* assistant content, or the marker that ends an assistant turn */
  gboolean turn_end; /* a turn-ending marker: the model's EOS stands in when the vocabulary lacks it */
} Piece;

static void
piece_clear (gpointer data)
{
  Piece *p = data;

  g_free (p->text);
}

static GArray *
pieces_new (void)
{
  GArray *pieces = g_array_new (FALSE, TRUE, sizeof (Piece));

  g_array_set_clear_func (pieces, piece_clear);
  return pieces;
}

static void
pieces_add_len (GArray *pieces, PieceKind kind, const char *text, gsize len, gboolean train,
                gboolean turn_end)
{
  Piece p = { kind, NULL, train, turn_end };

  if (len == 0)
    return;
  p.text = g_strndup (text, len);
  g_array_append_val (pieces, p);
}

static void
add_text (GArray *pieces, const char *text)
{
  pieces_add_len (pieces, PIECE_TEXT, text, strlen (text), FALSE, FALSE);
}

static void
add_marker (GArray *pieces, const char *text)
{
  pieces_add_len (pieces, PIECE_MARKER, text, strlen (text), FALSE, FALSE);
}

/* The marker that closes a turn; it is trained on when the turn is the assistant's, since
 * emitting it is how the model learns to stop. */
static void
add_turn_end (GArray *pieces, const char *text, gboolean assistant)
{
  pieces_add_len (pieces, PIECE_MARKER, text, strlen (text), assistant, TRUE);
}

static void
add_content_len (GArray *pieces, const char *text, gsize len, gboolean assistant)
{
  pieces_add_len (pieces, PIECE_CONTENT, text, len, assistant, FALSE);
}

static void
add_content (GArray *pieces, const char *text, gboolean assistant)
{
  add_content_len (pieces, text, strlen (text), assistant);
}

/* llama.cpp trims with C isspace, which includes \v unlike g_ascii_isspace. */
static gboolean
is_c_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static void
add_content_trimmed (GArray *pieces, const char *text, gboolean assistant)
{
  gsize start = 0;
  gsize end = strlen (text);

  while (start < end && is_c_space (text[start]))
    start++;
  while (end > start && is_c_space (text[end - 1]))
    end--;
  add_content_len (pieces, text + start, end - start, assistant);
}

static gboolean
role_is (const TailorChatMessage *m, const char *role)
{
  return strcmp (m->role, role) == 0;
}

/* Names and families */

typedef struct {
  TailorChatStyle style;
  const char *name;
  TailorChatFamily family;
} StyleInfo;

static const StyleInfo style_infos[] = {
  { TAILOR_CHAT_STYLE_UNKNOWN, "unknown", TAILOR_CHAT_UNKNOWN },
  { TAILOR_CHAT_STYLE_CHATML, "chatml", TAILOR_CHAT_CHATML },
  { TAILOR_CHAT_STYLE_LLAMA3, "llama3", TAILOR_CHAT_LLAMA3 },
  /* The [INST] layout without <<SYS>> is what Mistral Instruct v0.1/v0.2 ship. */
  { TAILOR_CHAT_STYLE_LLAMA2, "llama2", TAILOR_CHAT_MISTRAL },
  { TAILOR_CHAT_STYLE_LLAMA2_SYS, "llama2-sys", TAILOR_CHAT_LLAMA2 },
  { TAILOR_CHAT_STYLE_LLAMA2_SYS_BOS, "llama2-sys-bos", TAILOR_CHAT_LLAMA2 },
  { TAILOR_CHAT_STYLE_LLAMA2_SYS_STRIP, "llama2-sys-strip", TAILOR_CHAT_LLAMA2 },
  { TAILOR_CHAT_STYLE_MISTRAL_V1, "mistral-v1", TAILOR_CHAT_MISTRAL },
  { TAILOR_CHAT_STYLE_MISTRAL_V3, "mistral-v3", TAILOR_CHAT_MISTRAL },
  { TAILOR_CHAT_STYLE_MISTRAL_V3_TEKKEN, "mistral-v3-tekken", TAILOR_CHAT_MISTRAL },
  { TAILOR_CHAT_STYLE_MISTRAL_V7, "mistral-v7", TAILOR_CHAT_MISTRAL },
  { TAILOR_CHAT_STYLE_MISTRAL_V7_TEKKEN, "mistral-v7-tekken", TAILOR_CHAT_MISTRAL },
  { TAILOR_CHAT_STYLE_GEMMA, "gemma", TAILOR_CHAT_GEMMA },
  { TAILOR_CHAT_STYLE_PHI3, "phi3", TAILOR_CHAT_PHI3 },
  { TAILOR_CHAT_STYLE_ZEPHYR, "zephyr", TAILOR_CHAT_ZEPHYR },
};

static const struct {
  TailorChatFamily family;
  const char *name;
  TailorChatStyle default_style;
} family_infos[] = {
  { TAILOR_CHAT_UNKNOWN, "unknown", TAILOR_CHAT_STYLE_CHATML },
  { TAILOR_CHAT_CHATML, "chatml", TAILOR_CHAT_STYLE_CHATML },
  { TAILOR_CHAT_LLAMA3, "llama3", TAILOR_CHAT_STYLE_LLAMA3 },
  { TAILOR_CHAT_LLAMA2, "llama2", TAILOR_CHAT_STYLE_LLAMA2_SYS },
  /* Mistral's own "v1" layout is the one its 7B v0.1/v0.2 and Mixtral 8x7B document. */
  { TAILOR_CHAT_MISTRAL, "mistral", TAILOR_CHAT_STYLE_MISTRAL_V1 },
  { TAILOR_CHAT_GEMMA, "gemma", TAILOR_CHAT_STYLE_GEMMA },
  { TAILOR_CHAT_PHI3, "phi3", TAILOR_CHAT_STYLE_PHI3 },
  { TAILOR_CHAT_ZEPHYR, "zephyr", TAILOR_CHAT_STYLE_ZEPHYR },
};

const char *
tailor_chat_style_name (TailorChatStyle style)
{
  for (gsize i = 0; i < G_N_ELEMENTS (style_infos); i++)
    if (style_infos[i].style == style)
      return style_infos[i].name;
  return "unknown";
}

TailorChatFamily
tailor_chat_style_get_family (TailorChatStyle style)
{
  for (gsize i = 0; i < G_N_ELEMENTS (style_infos); i++)
    if (style_infos[i].style == style)
      return style_infos[i].family;
  return TAILOR_CHAT_UNKNOWN;
}

gboolean
tailor_chat_style_from_name (const char *name, TailorChatStyle *out)
{
  g_return_val_if_fail (name != NULL, FALSE);

  for (gsize i = 1; i < G_N_ELEMENTS (style_infos); i++)
    {
      if (strcmp (style_infos[i].name, name) == 0)
        {
          if (out != NULL)
            *out = style_infos[i].style;
          return TRUE;
        }
    }
  return FALSE;
}

const char *
tailor_chat_family_name (TailorChatFamily family)
{
  for (gsize i = 0; i < G_N_ELEMENTS (family_infos); i++)
    if (family_infos[i].family == family)
      return family_infos[i].name;
  return "unknown";
}

TailorChatStyle
tailor_chat_family_get_default_style (TailorChatFamily family)
{
  for (gsize i = 0; i < G_N_ELEMENTS (family_infos); i++)
    if (family_infos[i].family == family)
      return family_infos[i].default_style;
  return TAILOR_CHAT_STYLE_CHATML;
}

gboolean
tailor_chat_family_from_name (const char *name, TailorChatFamily *out)
{
  TailorChatStyle style;

  g_return_val_if_fail (name != NULL, FALSE);

  for (gsize i = 1; i < G_N_ELEMENTS (family_infos); i++)
    {
      if (strcmp (family_infos[i].name, name) == 0)
        {
          if (out != NULL)
            *out = family_infos[i].family;
          return TRUE;
        }
    }
  if (tailor_chat_style_from_name (name, &style))
    {
      if (out != NULL)
        *out = tailor_chat_style_get_family (style);
      return TRUE;
    }
  return FALSE;
}

/* Recognition. The signatures are the substrings llama.cpp's llm_chat_detect_template keys
 * on, in its order; templates it assigns to families Tailor does not render (Phi-4,
 * SmolVLM, ChatGLM, GLM-Edge, Falcon 3, Monarch) are unknown here rather than mistaken
 * for a neighbour. */

static gboolean
contains (const char *haystack, const char *needle)
{
  return strstr (haystack, needle) != NULL;
}

TailorChatStyle
tailor_chat_style_detect (const char *t)
{
  TailorChatStyle named;

  if (t == NULL || *t == '\0')
    return TAILOR_CHAT_STYLE_UNKNOWN;
  if (tailor_chat_style_from_name (t, &named))
    return named;

  if (contains (t, "<|im_start|>"))
    {
      if (contains (t, "<|im_sep|>") || contains (t, "<end_of_utterance>"))
        return TAILOR_CHAT_STYLE_UNKNOWN;
      return TAILOR_CHAT_STYLE_CHATML;
    }
  if (g_str_has_prefix (t, "mistral") || contains (t, "[INST]"))
    {
      if (contains (t, "[SYSTEM_PROMPT]"))
        return TAILOR_CHAT_STYLE_MISTRAL_V7;
      if (contains (t, "' [INST] ' + system_message") || contains (t, "[AVAILABLE_TOOLS]"))
        {
          if (contains (t, " [INST]"))
            return TAILOR_CHAT_STYLE_MISTRAL_V1;
          if (contains (t, "\"[INST]\""))
            return TAILOR_CHAT_STYLE_MISTRAL_V3_TEKKEN;
          return TAILOR_CHAT_STYLE_MISTRAL_V3;
        }
      if (contains (t, "content.strip()"))
        return TAILOR_CHAT_STYLE_LLAMA2_SYS_STRIP;
      if (contains (t, "bos_token + '[INST]"))
        return TAILOR_CHAT_STYLE_LLAMA2_SYS_BOS;
      if (contains (t, "<<SYS>>"))
        return TAILOR_CHAT_STYLE_LLAMA2_SYS;
      return TAILOR_CHAT_STYLE_LLAMA2;
    }
  if (contains (t, "<|assistant|>") && contains (t, "<|end|>"))
    return TAILOR_CHAT_STYLE_PHI3;
  if (contains (t, "[gMASK]"))
    return TAILOR_CHAT_STYLE_UNKNOWN;
  if (contains (t, "<|user|>") && contains (t, "<|assistant|>"))
    {
      /* llama.cpp calls every such template Falcon 3 ("</s>") or GLM-Edge; Zephyr's own
       * (HuggingFaceH4/zephyr-7b-beta, StableLM 2 Zephyr) closes each turn with
       * eos_token or <|endoftext|>, which neither of those writes. */
      if (!contains (t, "</s>") && (contains (t, "eos_token") || contains (t, "<|endoftext|>")))
        return TAILOR_CHAT_STYLE_ZEPHYR;
      return TAILOR_CHAT_STYLE_UNKNOWN;
    }
  if (contains (t, "<|user|>") && contains (t, "<|endoftext|>"))
    return TAILOR_CHAT_STYLE_ZEPHYR;
  if (contains (t, "bos_token + message['role']"))
    return TAILOR_CHAT_STYLE_UNKNOWN;
  if (contains (t, "<start_of_turn>"))
    return TAILOR_CHAT_STYLE_GEMMA;
  if (contains (t, "<|start_header_id|>") && contains (t, "<|end_header_id|>"))
    return TAILOR_CHAT_STYLE_LLAMA3;
  return TAILOR_CHAT_STYLE_UNKNOWN;
}

TailorChatFamily
tailor_chat_family_detect (const char *template_text)
{
  return tailor_chat_style_get_family (tailor_chat_style_detect (template_text));
}

TailorChatStyle
tailor_chat_style_for_gguf (TailorGguf *gguf, char **warning)
{
  g_autofree char *text = NULL;
  TailorChatStyle style = TAILOR_CHAT_STYLE_UNKNOWN;
  gint i;

  g_return_val_if_fail (gguf != NULL, TAILOR_CHAT_STYLE_CHATML);

  i = tailor_gguf_find_key (gguf, "tokenizer.chat_template");
  if (i >= 0 && tailor_gguf_get_kv_type (gguf, (guint) i) == TAILOR_GGUF_STRING)
    {
      gsize len = 0;
      const char *s = tailor_gguf_get_val_str (gguf, (guint) i, &len);

      /* The mapped string has no terminating NUL of its own. */
      text = g_strndup (s, len);
      style = tailor_chat_style_detect (text);
    }
  if (warning != NULL)
    *warning = NULL;
  if (style != TAILOR_CHAT_STYLE_UNKNOWN)
    return style;

  if (warning != NULL)
    *warning = g_strdup_printf (
      "This model's chat format is not one Tailor knows; it will use the common ChatML "
      "format, which may make the tuned model answer worse. %s (%s). Tailor recognises "
      "ChatML (Qwen, SmolLM), Llama 2, Llama 3, Mistral, Gemma, Phi-3 and Zephyr; a model "
      "in one of those formats will give better results.",
      text == NULL ? "The file records no chat template" : "Its chat template matches none Tailor knows",
      tailor_gguf_get_path (gguf));
  return TAILOR_CHAT_STYLE_CHATML;
}

TailorChatFamily
tailor_chat_family_for_gguf (TailorGguf *gguf, char **warning)
{
  g_return_val_if_fail (gguf != NULL, TAILOR_CHAT_CHATML);

  return tailor_chat_style_get_family (tailor_chat_style_for_gguf (gguf, warning));
}

/* Checking a conversation against what the template accepts */

static gboolean
style_has_tool_role (TailorChatStyle style)
{
  return style == TAILOR_CHAT_STYLE_CHATML || style == TAILOR_CHAT_STYLE_LLAMA3;
}

/* Templates that raise an exception unless an optional system message is followed by
 * user and assistant messages taking turns, starting with the user. */
static gboolean
style_requires_alternation (TailorChatStyle style)
{
  switch (style)
    {
    case TAILOR_CHAT_STYLE_LLAMA2:
    case TAILOR_CHAT_STYLE_LLAMA2_SYS:
    case TAILOR_CHAT_STYLE_LLAMA2_SYS_BOS:
    case TAILOR_CHAT_STYLE_LLAMA2_SYS_STRIP:
    case TAILOR_CHAT_STYLE_MISTRAL_V1:
    case TAILOR_CHAT_STYLE_MISTRAL_V3:
    case TAILOR_CHAT_STYLE_MISTRAL_V3_TEKKEN:
    case TAILOR_CHAT_STYLE_GEMMA:
      return TRUE;
    case TAILOR_CHAT_STYLE_UNKNOWN:
    case TAILOR_CHAT_STYLE_CHATML:
    case TAILOR_CHAT_STYLE_LLAMA3:
    case TAILOR_CHAT_STYLE_MISTRAL_V7:
    case TAILOR_CHAT_STYLE_MISTRAL_V7_TEKKEN:
    case TAILOR_CHAT_STYLE_PHI3:
    case TAILOR_CHAT_STYLE_ZEPHYR:
    default:
      return FALSE;
    }
}

static gboolean
check_conversation (TailorChatStyle style, const TailorChatMessage *msgs, gsize n, GError **error)
{
  gboolean want_user = TRUE;

  for (gsize i = 0; i < n; i++)
    {
      const TailorChatMessage *m = &msgs[i];
      gboolean known = role_is (m, "system") || role_is (m, "user") || role_is (m, "assistant")
                       || (role_is (m, "tool") && style_has_tool_role (style));

      if (!known)
        {
          g_set_error (error, TAILOR_CHAT_ERROR, TAILOR_CHAT_ERROR_ROLE,
                       "Message %" G_GSIZE_FORMAT " has the role “%s”, which the %s chat format "
                       "cannot express; use “system”, “user” or “assistant”%s.",
                       i, m->role, tailor_chat_style_name (style),
                       style_has_tool_role (style) ? " (or “tool”)" : "");
          return FALSE;
        }
    }

  if (!style_requires_alternation (style))
    return TRUE;

  for (gsize i = 0; i < n; i++)
    {
      const TailorChatMessage *m = &msgs[i];
      gboolean ok;

      if (role_is (m, "system"))
        ok = i == 0;
      else
        ok = role_is (m, "user") == want_user;
      if (!ok)
        {
          g_set_error (error, TAILOR_CHAT_ERROR, TAILOR_CHAT_ERROR_ORDER,
                       "Message %" G_GSIZE_FORMAT " (%s) is out of order: the %s chat format "
                       "takes an optional system message first, then user and assistant "
                       "messages taking turns, starting with the user.",
                       i, m->role, tailor_chat_style_name (style));
          return FALSE;
        }
      if (!role_is (m, "system"))
        want_user = !want_user;
    }
  return TRUE;
}

/* Renderers: the layouts of llama.cpp's llm_chat_apply_template, as pieces. */

static void
render_chatml (GArray *p, const TailorChatMessage *msgs, gsize n, gboolean gen)
{
  for (gsize i = 0; i < n; i++)
    {
      gboolean a = role_is (&msgs[i], "assistant");

      add_marker (p, "<|im_start|>");
      add_text (p, msgs[i].role);
      add_text (p, "\n");
      add_content (p, msgs[i].content, a);
      add_turn_end (p, "<|im_end|>", a);
      add_text (p, "\n");
    }
  if (gen)
    {
      add_marker (p, "<|im_start|>");
      add_text (p, "assistant\n");
    }
}

static void
render_llama3 (GArray *p, const TailorChatMessage *msgs, gsize n, gboolean gen)
{
  for (gsize i = 0; i < n; i++)
    {
      gboolean a = role_is (&msgs[i], "assistant");

      add_marker (p, "<|start_header_id|>");
      add_text (p, msgs[i].role);
      add_marker (p, "<|end_header_id|>");
      add_text (p, "\n\n");
      add_content_trimmed (p, msgs[i].content, a);
      add_turn_end (p, "<|eot_id|>", a);
    }
  if (gen)
    {
      add_marker (p, "<|start_header_id|>");
      add_text (p, "assistant");
      add_marker (p, "<|end_header_id|>");
      add_text (p, "\n\n");
    }
}

static void
render_llama2 (GArray *p, TailorChatStyle style, const TailorChatMessage *msgs, gsize n)
{
  gboolean with_sys = style != TAILOR_CHAT_STYLE_LLAMA2;
  gboolean bos_inside = style == TAILOR_CHAT_STYLE_LLAMA2_SYS_BOS;
  gboolean strip = style == TAILOR_CHAT_STYLE_LLAMA2_SYS_STRIP;
  gboolean inside = TRUE;

  /* The first [INST] follows the tokenizer's BOS, which the template leaves out. */
  add_marker (p, "[INST]");
  add_text (p, " ");
  for (gsize i = 0; i < n; i++)
    {
      const TailorChatMessage *m = &msgs[i];
      gboolean a = role_is (m, "assistant");

      if (!inside)
        {
          inside = TRUE;
          if (bos_inside)
            add_marker (p, "<s>");
          add_marker (p, "[INST]");
          add_text (p, " ");
        }
      if (role_is (m, "system"))
        {
          if (with_sys)
            add_text (p, "<<SYS>>\n");
          if (strip)
            add_content_trimmed (p, m->content, FALSE);
          else
            add_content (p, m->content, FALSE);
          add_text (p, with_sys ? "\n<</SYS>>\n\n" : "\n");
        }
      else
        {
          if (strip)
            add_content_trimmed (p, m->content, a);
          else
            add_content (p, m->content, a);
          if (a)
            {
              add_turn_end (p, "</s>", TRUE);
              inside = FALSE;
            }
          else
            {
              add_text (p, " ");
              add_marker (p, "[/INST]");
            }
        }
    }
}

static void
render_mistral (GArray *p, TailorChatStyle style, const TailorChatMessage *msgs, gsize n)
{
  const char *lead = style == TAILOR_CHAT_STYLE_MISTRAL_V1 ? " " : "";
  const char *trail = style == TAILOR_CHAT_STYLE_MISTRAL_V3_TEKKEN ? "" : " ";
  gboolean trim_assistant = style == TAILOR_CHAT_STYLE_MISTRAL_V3;
  gboolean inside = FALSE;

  for (gsize i = 0; i < n; i++)
    {
      const TailorChatMessage *m = &msgs[i];

      if (!inside)
        {
          add_text (p, lead);
          add_marker (p, "[INST]");
          add_text (p, trail);
          inside = TRUE;
        }
      if (role_is (m, "system"))
        {
          add_content (p, m->content, FALSE);
          add_text (p, "\n\n");
        }
      else if (role_is (m, "user"))
        {
          add_content (p, m->content, FALSE);
          add_text (p, lead);
          add_marker (p, "[/INST]");
        }
      else
        {
          add_text (p, trail);
          if (trim_assistant)
            add_content_trimmed (p, m->content, TRUE);
          else
            add_content (p, m->content, TRUE);
          add_turn_end (p, "</s>", TRUE);
          inside = FALSE;
        }
    }
}

static void
render_mistral_v7 (GArray *p, TailorChatStyle style, const TailorChatMessage *msgs, gsize n)
{
  const char *sp = style == TAILOR_CHAT_STYLE_MISTRAL_V7 ? " " : "";

  for (gsize i = 0; i < n; i++)
    {
      const TailorChatMessage *m = &msgs[i];

      if (role_is (m, "system"))
        {
          add_marker (p, "[SYSTEM_PROMPT]");
          add_text (p, sp);
          add_content (p, m->content, FALSE);
          add_marker (p, "[/SYSTEM_PROMPT]");
        }
      else if (role_is (m, "user"))
        {
          add_marker (p, "[INST]");
          add_text (p, sp);
          add_content (p, m->content, FALSE);
          add_marker (p, "[/INST]");
        }
      else
        {
          add_text (p, sp);
          add_content (p, m->content, TRUE);
          add_turn_end (p, "</s>", TRUE);
        }
    }
}

static void
render_gemma (GArray *p, const TailorChatMessage *msgs, gsize n, gboolean gen)
{
  /* Gemma has no system turn: llama.cpp (and Gemma 2/3's own templates) put the system
   * text at the top of the next user turn. */
  g_autoptr(GPtrArray) pending_system = g_ptr_array_new ();

  for (gsize i = 0; i < n; i++)
    {
      const TailorChatMessage *m = &msgs[i];
      gboolean a = role_is (m, "assistant");

      if (role_is (m, "system"))
        {
          g_ptr_array_add (pending_system, (gpointer) m->content);
          continue;
        }
      add_marker (p, "<start_of_turn>");
      add_text (p, a ? "model" : m->role);
      add_text (p, "\n");
      if (!a && pending_system->len > 0)
        {
          guint before = p->len;

          for (guint j = 0; j < pending_system->len; j++)
            add_content_trimmed (p, g_ptr_array_index (pending_system, j), FALSE);
          /* Only a non-empty merged system text earns the blank line, as in llama.cpp. */
          if (p->len > before)
            add_text (p, "\n\n");
          g_ptr_array_set_size (pending_system, 0);
        }
      add_content_trimmed (p, m->content, a);
      add_turn_end (p, "<end_of_turn>", a);
      add_text (p, "\n");
    }
  if (gen)
    {
      add_marker (p, "<start_of_turn>");
      add_text (p, "model\n");
    }
}

/* Phi-3 and Zephyr share a layout and differ in the marker that ends a turn. */
static void
render_role_tags (GArray *p, const TailorChatMessage *msgs, gsize n, gboolean gen,
                  const char *turn_end)
{
  for (gsize i = 0; i < n; i++)
    {
      gboolean a = role_is (&msgs[i], "assistant");
      g_autofree char *tag = g_strdup_printf ("<|%s|>", msgs[i].role);

      add_marker (p, tag);
      add_text (p, "\n");
      add_content (p, msgs[i].content, a);
      add_turn_end (p, turn_end, a);
      add_text (p, "\n");
    }
  if (gen)
    {
      add_marker (p, "<|assistant|>");
      add_text (p, "\n");
    }
}

static GArray *
render_pieces (TailorChatStyle style, const TailorChatMessage *msgs, gsize n, gboolean gen,
               GError **error)
{
  g_autoptr(GArray) p = NULL;

  /* Rendering an unknown template means the ChatML fallback. */
  if (style == TAILOR_CHAT_STYLE_UNKNOWN)
    style = TAILOR_CHAT_STYLE_CHATML;
  if (!check_conversation (style, msgs, n, error))
    return NULL;

  p = pieces_new ();
  switch (style)
    {
    case TAILOR_CHAT_STYLE_LLAMA3:
      render_llama3 (p, msgs, n, gen);
      break;
    case TAILOR_CHAT_STYLE_LLAMA2:
    case TAILOR_CHAT_STYLE_LLAMA2_SYS:
    case TAILOR_CHAT_STYLE_LLAMA2_SYS_BOS:
    case TAILOR_CHAT_STYLE_LLAMA2_SYS_STRIP:
      render_llama2 (p, style, msgs, n);
      break;
    case TAILOR_CHAT_STYLE_MISTRAL_V1:
    case TAILOR_CHAT_STYLE_MISTRAL_V3:
    case TAILOR_CHAT_STYLE_MISTRAL_V3_TEKKEN:
      render_mistral (p, style, msgs, n);
      break;
    case TAILOR_CHAT_STYLE_MISTRAL_V7:
    case TAILOR_CHAT_STYLE_MISTRAL_V7_TEKKEN:
      render_mistral_v7 (p, style, msgs, n);
      break;
    case TAILOR_CHAT_STYLE_GEMMA:
      render_gemma (p, msgs, n, gen);
      break;
    case TAILOR_CHAT_STYLE_PHI3:
      render_role_tags (p, msgs, n, gen, "<|end|>");
      break;
    case TAILOR_CHAT_STYLE_ZEPHYR:
      render_role_tags (p, msgs, n, gen, "<|endoftext|>");
      break;
    case TAILOR_CHAT_STYLE_UNKNOWN:
    case TAILOR_CHAT_STYLE_CHATML:
    default:
      render_chatml (p, msgs, n, gen);
      break;
    }
  return g_steal_pointer (&p);
}

static gboolean
check_messages_given (const TailorChatMessage *msgs, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (msgs[i].role == NULL || msgs[i].content == NULL)
      return FALSE;
  return TRUE;
}

char *
tailor_chat_render_text_style (TailorChatStyle style, const TailorChatMessage *msgs, gsize n,
                               gboolean add_generation_prompt, GError **error)
{
  g_autoptr(GArray) pieces = NULL;
  GString *out;

  g_return_val_if_fail (n == 0 || msgs != NULL, NULL);
  g_return_val_if_fail (check_messages_given (msgs, n), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  pieces = render_pieces (style, msgs, n, add_generation_prompt, error);
  if (pieces == NULL)
    return NULL;
  out = g_string_new (NULL);
  for (guint i = 0; i < pieces->len; i++)
    g_string_append (out, g_array_index (pieces, Piece, i).text);
  return g_string_free (out, FALSE);
}

char *
tailor_chat_render_text (TailorChatFamily family, const TailorChatMessage *msgs, gsize n,
                         gboolean add_generation_prompt, GError **error)
{
  return tailor_chat_render_text_style (tailor_chat_family_get_default_style (family), msgs, n,
                                        add_generation_prompt, error);
}

/* Tokens.
 *
 * llama.cpp tokenizes a rendered prompt by first cutting it at every special-token text
 * (control, user-defined and unknown tokens) and then tokenizing each stretch of plain text
 * between two special tokens on its own; with a SentencePiece vocabulary each stretch gets
 * its own leading space. Tailor tokenizes the same stretches the same way, except that it
 * decides what is a special token from the template's structure instead of by searching
 * the text: scaffolding markers ("<|im_start|>", "<|eot_id|>", "[INST]" where the
 * vocabulary has it) become their tokens, and message content is never searched. Hence for
 * any conversation whose contents hold no special-token text, the ids are exactly those of
 * tokenizing the whole rendered text with special parsing on (tested). When a content
 * does hold one (a user writing "<|im_end|>"), whole-text tokenization turns it into a real
 * turn end and lets the user forge turns; here it stays the plain text it was typed as,
 * which is what the model must learn from.
 *
 * Scaffolding text and content inside one stretch are tokenized together, as llama.cpp
 * does, so a token may straddle them (with a SentencePiece vocabulary " Hi" after
 * "[/INST]" is one token "▁Hi"). A token is masked 1 when any of its bytes is assistant
 * content: the model emits "▁Hi" right after the prompt, so it is the answer's first token.
 *
 * Two deliberate departures from the rendered text: a turn-ending marker the vocabulary
 * lacks becomes the model's EOS (Zephyr's template writes eos_token, which llama.cpp's
 * renderer spells "<|endoftext|>"; a ChatML fallback on a model without <|im_end|>),
 * because a model only stops on a token, never on text that looks like one; and the BOS is
 * added once, as the tokenizer's add_bos says, unless the rendering starts with it. */

typedef struct {
  gsize start;
  gsize end;
} Span;

static gint32
special_token_id (TailorTokenizer *tok, const char *text)
{
  gint32 id = tailor_tokenizer_find_token (tok, text);

  if (id < 0)
    return -1;
  switch (tailor_tokenizer_get_token_type (tok, id))
    {
    case TAILOR_TOKEN_CONTROL:
    case TAILOR_TOKEN_USER_DEFINED:
    case TAILOR_TOKEN_UNKNOWN:
      return id;
    case TAILOR_TOKEN_NORMAL:
    case TAILOR_TOKEN_UNUSED:
    case TAILOR_TOKEN_BYTE:
    default:
      return -1;
    }
}

/* Tokenizes one stretch of plain text and masks the tokens that overlap a trained span,
 * locating each token by the bytes it stands for. */
static void
flush_stretch (TailorTokenizer *tok, GString *stretch, GArray *spans, GArray *ids, GArray *mask)
{
  g_autoptr(GArray) toks = NULL;
  g_autofree gsize *lens = NULL;
  gsize total = 0;
  gssize pos;

  if (stretch->len == 0)
    return;

  toks = g_array_new (FALSE, FALSE, sizeof (gint32));
  tailor_tokenizer_encode (tok, stretch->str, (gssize) stretch->len, TAILOR_TOKENIZE_NONE, toks);
  lens = g_new0 (gsize, toks->len + 1);
  for (guint i = 0; i < toks->len; i++)
    {
      g_autoptr(GBytes) piece = tailor_tokenizer_token_to_piece (tok, g_array_index (toks, gint32, i),
                                                                  FALSE);

      lens[i] = piece != NULL ? g_bytes_get_size (piece) : 0;
      total += lens[i];
    }

  /* A SentencePiece vocabulary prefixes the stretch with a space that is not in the text;
   * the pieces then hold one byte more than the stretch. */
  pos = total > stretch->len ? -(gssize) (total - stretch->len) : 0;
  for (guint i = 0; i < toks->len; i++)
    {
      gsize s = (gsize) CLAMP (pos, 0, (gssize) stretch->len);
      gsize e = (gsize) CLAMP (pos + (gssize) lens[i], 0, (gssize) stretch->len);
      guint8 m = 0;

      for (guint k = 0; k < spans->len && m == 0; k++)
        {
          const Span *sp = &g_array_index (spans, Span, k);

          if (s < sp->end && e > sp->start)
            m = 1;
        }
      g_array_append_val (ids, g_array_index (toks, gint32, i));
      g_array_append_val (mask, m);
      pos += (gssize) lens[i];
    }

  g_string_truncate (stretch, 0);
  g_array_set_size (spans, 0);
}

gboolean
tailor_chat_render_tokens_style (TailorTokenizer *tok, TailorChatStyle style,
                                 const TailorChatMessage *msgs, gsize n,
                                 gboolean add_generation_prompt, GArray *ids, GArray *mask,
                                 GError **error)
{
  g_autoptr(GArray) pieces = NULL;
  g_autoptr(GArray) out_ids = NULL;
  g_autoptr(GArray) out_mask = NULL;
  g_autoptr(GArray) spans = NULL;
  g_autoptr(GString) stretch = NULL;
  gint32 bos;
  gint32 eos;

  g_return_val_if_fail (tok != NULL, FALSE);
  g_return_val_if_fail (n == 0 || msgs != NULL, FALSE);
  g_return_val_if_fail (check_messages_given (msgs, n), FALSE);
  g_return_val_if_fail (ids != NULL && g_array_get_element_size (ids) == sizeof (gint32), FALSE);
  g_return_val_if_fail (mask == NULL || g_array_get_element_size (mask) == sizeof (guint8), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  pieces = render_pieces (style, msgs, n, add_generation_prompt, error);
  if (pieces == NULL)
    return FALSE;

  bos = tailor_tokenizer_get_bos (tok);
  eos = tailor_tokenizer_get_eos (tok);
  out_ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  out_mask = g_array_new (FALSE, FALSE, sizeof (guint8));
  spans = g_array_new (FALSE, FALSE, sizeof (Span));
  stretch = g_string_new (NULL);

  for (guint i = 0; i < pieces->len; i++)
    {
      const Piece *p = &g_array_index (pieces, Piece, i);

      if (p->kind == PIECE_MARKER)
        {
          gint32 id = special_token_id (tok, p->text);
          guint8 m = p->train ? 1 : 0;

          if (id < 0 && p->turn_end)
            id = eos;
          if (id >= 0)
            {
              flush_stretch (tok, stretch, spans, out_ids, out_mask);
              g_array_append_val (out_ids, id);
              g_array_append_val (out_mask, m);
              continue;
            }
        }
      if (p->train)
        {
          Span sp = { stretch->len, stretch->len + strlen (p->text) };

          g_array_append_val (spans, sp);
        }
      g_string_append (stretch, p->text);
    }
  flush_stretch (tok, stretch, spans, out_ids, out_mask);

  if (tailor_tokenizer_get_add_bos (tok) && bos >= 0
      && (out_ids->len == 0 || g_array_index (out_ids, gint32, 0) != bos))
    {
      guint8 zero = 0;

      g_array_append_val (ids, bos);
      if (mask != NULL)
        g_array_append_val (mask, zero);
    }
  g_array_append_vals (ids, out_ids->data, out_ids->len);
  if (mask != NULL)
    g_array_append_vals (mask, out_mask->data, out_mask->len);
  if (tailor_tokenizer_get_add_eos (tok) && eos >= 0)
    {
      guint8 zero = 0;

      g_array_append_val (ids, eos);
      if (mask != NULL)
        g_array_append_val (mask, zero);
    }
  return TRUE;
}

gboolean
tailor_chat_render_tokens (TailorTokenizer *tok, TailorChatFamily family,
                           const TailorChatMessage *msgs, gsize n, gboolean add_generation_prompt,
                           GArray *ids, GArray *mask, GError **error)
{
  return tailor_chat_render_tokens_style (tok, tailor_chat_family_get_default_style (family), msgs,
                                          n, add_generation_prompt, ids, mask, error);
}
