/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tokenizers as llama.cpp runs them: SentencePiece-like ("llama") and byte-level BPE ("gpt2"). */
#pragma once

#include "tailor-gguf.h"

G_BEGIN_DECLS

#define TAILOR_TOKENIZER_ERROR (tailor_tokenizer_error_quark ())
GQuark tailor_tokenizer_error_quark (void);

typedef enum {
  TAILOR_TOKENIZER_ERROR_UNSUPPORTED, /* tokenizer.ggml.model or .pre Tailor does not know */
  TAILOR_TOKENIZER_ERROR_INVALID,     /* vocabulary metadata is inconsistent */
} TailorTokenizerError;

typedef enum {
  TAILOR_TOKENIZER_SPM, /* tokenizer.ggml.model = "llama" */
  TAILOR_TOKENIZER_BPE, /* tokenizer.ggml.model = "gpt2" */
} TailorTokenizerKind;

/* tokenizer.ggml.token_type values */
typedef enum {
  TAILOR_TOKEN_NORMAL = 1,
  TAILOR_TOKEN_UNKNOWN = 2,
  TAILOR_TOKEN_CONTROL = 3,
  TAILOR_TOKEN_USER_DEFINED = 4,
  TAILOR_TOKEN_UNUSED = 5,
  TAILOR_TOKEN_BYTE = 6,
} TailorTokenType;

typedef enum {
  TAILOR_TOKENIZE_NONE = 0,
  TAILOR_TOKENIZE_ADD_SPECIAL = 1 << 0,   /* BOS/EOS as the model's add_bos/add_eos say */
  TAILOR_TOKENIZE_PARSE_SPECIAL = 1 << 1, /* match control/user-defined tokens in the text */
} TailorTokenizeFlags;

typedef struct _TailorTokenizer TailorTokenizer;

TailorTokenizer *tailor_tokenizer_new_from_gguf (TailorGguf *gguf, GError **error);
void tailor_tokenizer_free (TailorTokenizer *self);

TailorTokenizerKind tailor_tokenizer_get_kind (TailorTokenizer *self);
const char *tailor_tokenizer_get_model_name (TailorTokenizer *self); /* "llama", "gpt2" */
const char *tailor_tokenizer_get_pre (TailorTokenizer *self);        /* "llama3", "default", … */
guint tailor_tokenizer_get_n_vocab (TailorTokenizer *self);
gint32 tailor_tokenizer_get_bos (TailorTokenizer *self); /* -1 when none */
gint32 tailor_tokenizer_get_eos (TailorTokenizer *self);
gint32 tailor_tokenizer_get_eot (TailorTokenizer *self);
gboolean tailor_tokenizer_get_add_bos (TailorTokenizer *self);
gboolean tailor_tokenizer_get_add_eos (TailorTokenizer *self);
/* End of generation: eos, eot and other end-of-turn tokens. */
gboolean tailor_tokenizer_is_eog (TailorTokenizer *self, gint32 id);
TailorTokenType tailor_tokenizer_get_token_type (TailorTokenizer *self, gint32 id);
/* Vocabulary text of a token (e.g. "▁the", "Ġthe", "<0x0A>"). */
const char *tailor_tokenizer_get_token_text (TailorTokenizer *self, gint32 id);
/* Looks a vocabulary entry up by its text; -1 when absent. */
gint32 tailor_tokenizer_find_token (TailorTokenizer *self, const char *text);

/* Appends gint32 ids to out. */
void tailor_tokenizer_encode (TailorTokenizer *self, const char *text, gssize len,
                              TailorTokenizeFlags flags, GArray *out);
/* The bytes one token stands for, as llama.cpp's token_to_piece; control tokens
 * give their text when render_special, else nothing. The bytes need not be valid
 * UTF-8 on their own (a byte token may be part of a character). */
GBytes *tailor_tokenizer_token_to_piece (TailorTokenizer *self, gint32 id, gboolean render_special);
/* Concatenated pieces, with the SPM leading space removed as llama.cpp does. */
char *tailor_tokenizer_decode (TailorTokenizer *self, const gint32 *ids, gsize n,
                               gboolean render_special);

/* The words the BPE pre-tokenizer cuts text into (UTF-8, before byte-level mapping;
 * special tokens are not looked for). For SPM, the whole text as one word. Free with
 * g_strfreev. For tests and for showing how text is split. */
char **tailor_tokenizer_pre_split (TailorTokenizer *self, const char *text, gssize len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorTokenizer, tailor_tokenizer_free)

G_END_DECLS
