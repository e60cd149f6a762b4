/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Chat templates: recognised from tokenizer.chat_template and rendered natively to tokens,
 * with a mask of the tokens that are assistant output (what training learns from). */
#pragma once

#include "tailor-tokenizer.h"

G_BEGIN_DECLS

#define TAILOR_CHAT_ERROR (tailor_chat_error_quark ())
GQuark tailor_chat_error_quark (void);

typedef enum {
  TAILOR_CHAT_ERROR_ROLE,     /* a role the template cannot express (message names it) */
  TAILOR_CHAT_ERROR_ORDER,    /* roles out of the order the template requires */
} TailorChatError;

typedef enum {
  TAILOR_CHAT_UNKNOWN,
  TAILOR_CHAT_CHATML,
  TAILOR_CHAT_LLAMA3,
  TAILOR_CHAT_LLAMA2,
  TAILOR_CHAT_MISTRAL,
  TAILOR_CHAT_GEMMA,
  TAILOR_CHAT_PHI3,
  TAILOR_CHAT_ZEPHYR,
} TailorChatFamily;

typedef struct {
  const char *role;    /* "system", "user", "assistant" ("tool" where the family has it) */
  const char *content;
} TailorChatMessage;

/* Recognise by signature; NULL or unknown text gives TAILOR_CHAT_UNKNOWN. */
TailorChatFamily tailor_chat_family_detect (const char *template_text);
const char *tailor_chat_family_name (TailorChatFamily family); /* "chatml", "llama3", … */
gboolean tailor_chat_family_from_name (const char *name, TailorChatFamily *out);

/* The family a model's GGUF uses; UNKNOWN falls back to ChatML for rendering, and
 * *warning (if given) receives a message to show the user. */
TailorChatFamily tailor_chat_family_for_gguf (TailorGguf *gguf, char **warning);

/* Text of the conversation as the template renders it (special tokens as text). */
char *tailor_chat_render_text (TailorChatFamily family, const TailorChatMessage *msgs, gsize n,
                               gboolean add_generation_prompt, GError **error);

/* Tokens of the conversation (BOS included where the template has it) and, in mask
 * (guint8, same length; NULL when only the ids are wanted), 1 for tokens of assistant
 * content and the token that ends an assistant turn, 0 elsewhere. Message content never
 * matches special tokens. */
gboolean tailor_chat_render_tokens (TailorTokenizer *tok, TailorChatFamily family,
                                    const TailorChatMessage *msgs, gsize n,
                                    gboolean add_generation_prompt, GArray *ids, GArray *mask,
                                    GError **error);

/* The exact layout within a family, named as llama.cpp names its built-in templates
 * ("llama2-sys", "mistral-v3", …): Llama 2 and Mistral templates differ in spaces, system
 * handling and BOS placement, and training must reproduce the model's own layout byte for
 * byte. The family functions above render with the family's default style; use these to
 * render what a given tokenizer.chat_template asks for. */
typedef enum {
  TAILOR_CHAT_STYLE_UNKNOWN,
  TAILOR_CHAT_STYLE_CHATML,
  TAILOR_CHAT_STYLE_LLAMA3,
  TAILOR_CHAT_STYLE_LLAMA2,           /* [INST] without <<SYS>>: Mistral Instruct v0.1/v0.2 */
  TAILOR_CHAT_STYLE_LLAMA2_SYS,
  TAILOR_CHAT_STYLE_LLAMA2_SYS_BOS,   /* <s> before every later [INST] */
  TAILOR_CHAT_STYLE_LLAMA2_SYS_STRIP, /* contents stripped (Meta's Llama 2 chat template) */
  TAILOR_CHAT_STYLE_MISTRAL_V1,
  TAILOR_CHAT_STYLE_MISTRAL_V3,
  TAILOR_CHAT_STYLE_MISTRAL_V3_TEKKEN,
  TAILOR_CHAT_STYLE_MISTRAL_V7,
  TAILOR_CHAT_STYLE_MISTRAL_V7_TEKKEN,
  TAILOR_CHAT_STYLE_GEMMA,
  TAILOR_CHAT_STYLE_PHI3,
  TAILOR_CHAT_STYLE_ZEPHYR,
} TailorChatStyle;

TailorChatStyle tailor_chat_style_detect (const char *template_text);
TailorChatFamily tailor_chat_style_get_family (TailorChatStyle style);
TailorChatStyle tailor_chat_family_get_default_style (TailorChatFamily family);
const char *tailor_chat_style_name (TailorChatStyle style); /* "chatml", "mistral-v3", … */
gboolean tailor_chat_style_from_name (const char *name, TailorChatStyle *out);
/* As tailor_chat_family_for_gguf, keeping the style; UNKNOWN falls back to ChatML. */
TailorChatStyle tailor_chat_style_for_gguf (TailorGguf *gguf, char **warning);
char *tailor_chat_render_text_style (TailorChatStyle style, const TailorChatMessage *msgs, gsize n,
                                     gboolean add_generation_prompt, GError **error);
gboolean tailor_chat_render_tokens_style (TailorTokenizer *tok, TailorChatStyle style,
                                          const TailorChatMessage *msgs, gsize n,
                                          gboolean add_generation_prompt, GArray *ids,
                                          GArray *mask, GError **error);

G_END_DECLS
