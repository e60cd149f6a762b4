/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tokenizers as llama.cpp runs them: SentencePiece-like ("llama") and byte-level BPE ("gpt2"). */
#define _GNU_SOURCE
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tailor-tokenizer.h"

G_DEFINE_QUARK (tailor-tokenizer-error-quark, tailor_tokenizer_error)

/* Token attributes, as llama.cpp derives them from token types (and then amends). */
enum {
  ATTR_UNKNOWN = 1 << 0,
  ATTR_UNUSED = 1 << 1,
  ATTR_NORMAL = 1 << 2,
  ATTR_CONTROL = 1 << 3,
  ATTR_USER_DEFINED = 1 << 4,
  ATTR_BYTE = 1 << 5,
};

/* Unicode classes of a code point as llama.cpp's pre-tokenizers see them. */
enum {
  CPT_NUMBER = 1 << 0,
  CPT_LETTER = 1 << 1,
  CPT_SEPARATOR = 1 << 2,
  CPT_MARK = 1 << 3,
  CPT_PUNCT = 1 << 4,
  CPT_SYMBOL = 1 << 5,
  CPT_CONTROL = 1 << 6,
  CPT_WHITESPACE = 1 << 7,
};

#define OUT_OF_RANGE G_MAXUINT32

typedef enum {
  SPLIT_GPT2,   /* llama.cpp's hand-written splitter for the GPT-2 pattern */
  SPLIT_LLAMA3, /* … and for the Llama 3 pattern */
  SPLIT_REGEX,  /* any other pattern: a regex over the category-collapsed text */
} SplitKind;

typedef struct {
  SplitKind kind;
  GRegex *regex;
} Splitter;

typedef struct {
  const char *text;
  guint32 len;
  guint32 attr;
  float score;
} Token;

/* Open-addressing map from byte strings to ids (no allocation on lookup). */
typedef struct {
  const char *key;
  guint32 len;
  guint32 hash;
  gint32 value;
} StrSlot;

typedef struct {
  StrSlot *slots;
  gsize mask;
  gsize n;
} StrMap;

struct _TailorTokenizer {
  TailorTokenizerKind kind;
  char *model_name;
  char *pre;

  Token *tokens;
  guint n_tokens;
  GStringChunk *strings;
  StrMap token_map;
  StrMap merge_map; /* "left right" → rank */

  gint32 bos, eos, eot, eom, unk;
  gboolean add_bos, add_eos, add_space_prefix, clean_spaces, ignore_merges;
  guint8 *eog;

  gint32 *specials; /* control, user-defined and unknown tokens, longest first */
  guint n_specials;

  Splitter splitters[4];
  guint n_splitters;

  /* token_to_piece (…, TRUE) of every token, computed once as llama.cpp does */
  char **pieces;
  guint32 *piece_lens;
};

/* ---- Byte-string map ---- */

static guint32
hash_bytes (guint32 h, const char *p, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      h ^= (guint8) p[i];
      h *= 16777619u;
    }
  return h;
}

#define HASH_SEED 2166136261u

static void
strmap_init (StrMap *m, gsize expected)
{
  gsize cap = 16;

  while (cap < expected * 2)
    cap *= 2;
  m->slots = g_new0 (StrSlot, cap);
  m->mask = cap - 1;
  m->n = 0;
}

static void
strmap_clear (StrMap *m)
{
  g_clear_pointer (&m->slots, g_free);
}

static void strmap_put_slot (StrMap *m, const StrSlot *s);

static void
strmap_grow (StrMap *m)
{
  StrSlot *old = m->slots;
  gsize old_cap = m->mask + 1;

  m->slots = g_new0 (StrSlot, old_cap * 2);
  m->mask = old_cap * 2 - 1;
  m->n = 0;
  for (gsize i = 0; i < old_cap; i++)
    if (old[i].key != NULL)
      strmap_put_slot (m, &old[i]);
  g_free (old);
}

static void
strmap_put_slot (StrMap *m, const StrSlot *s)
{
  gsize i = s->hash & m->mask;

  while (m->slots[i].key != NULL)
    i = (i + 1) & m->mask;
  m->slots[i] = *s;
  m->n++;
}

/* Inserts key → value unless the key is there; returns the id already stored, or -1. */
static gint32
strmap_insert (StrMap *m, const char *key, guint32 len, gint32 value)
{
  guint32 h = hash_bytes (HASH_SEED, key, len);
  gsize i = h & m->mask;
  StrSlot s = { key, len, h, value };

  while (m->slots[i].key != NULL)
    {
      if (m->slots[i].hash == h && m->slots[i].len == len && memcmp (m->slots[i].key, key, len) == 0)
        return m->slots[i].value;
      i = (i + 1) & m->mask;
    }
  if ((m->n + 1) * 2 > m->mask + 1)
    {
      strmap_grow (m);
      strmap_put_slot (m, &s);
    }
  else
    {
      m->slots[i] = s;
      m->n++;
    }
  return -1;
}

static gint32
strmap_lookup (const StrMap *m, const char *key, gsize len)
{
  guint32 h = hash_bytes (HASH_SEED, key, len);
  gsize i = h & m->mask;

  while (m->slots[i].key != NULL)
    {
      if (m->slots[i].hash == h && m->slots[i].len == len && memcmp (m->slots[i].key, key, len) == 0)
        return m->slots[i].value;
      i = (i + 1) & m->mask;
    }
  return -1;
}

/* Looks up the key "a b" without building it. */
static gint32
strmap_lookup_pair (const StrMap *m, const char *a, gsize alen, const char *b, gsize blen)
{
  guint32 h = hash_bytes (hash_bytes (hash_bytes (HASH_SEED, a, alen), " ", 1), b, blen);
  gsize i = h & m->mask;
  gsize len = alen + 1 + blen;

  while (m->slots[i].key != NULL)
    {
      const StrSlot *s = &m->slots[i];

      if (s->hash == h && s->len == len && memcmp (s->key, a, alen) == 0 && s->key[alen] == ' '
          && memcmp (s->key + alen + 1, b, blen) == 0)
        return s->value;
      i = (i + 1) & m->mask;
    }
  return -1;
}

/* ---- Unicode helpers ---- */

/* Length of a UTF-8 sequence from its first byte, without validation (llama.cpp's rule). */
static gsize
utf8_len (guint8 c)
{
  static const guint8 lookup[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };

  return lookup[c >> 4];
}

/* Decodes like llama.cpp: a malformed sequence becomes U+FFFD and consumes one byte. */
static gunichar *
decode_cpts (const char *text, gsize len, gsize *n_out)
{
  const guint8 *s = (const guint8 *) text;
  gunichar *out = g_new (gunichar, len + 1);
  gsize n = 0, i = 0;

  while (i < len)
    {
      guint8 c = s[i];

      if (c < 0x80)
        {
          out[n++] = c;
          i++;
        }
      else if ((c & 0x40) == 0)
        {
          out[n++] = 0xFFFD;
          i++;
        }
      else if ((c & 0x20) == 0)
        {
          if (i + 1 >= len || (s[i + 1] & 0xC0) != 0x80)
            {
              out[n++] = 0xFFFD;
              i++;
              continue;
            }
          out[n++] = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
          i += 2;
        }
      else if ((c & 0x10) == 0)
        {
          if (i + 2 >= len || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80)
            {
              out[n++] = 0xFFFD;
              i++;
              continue;
            }
          out[n++] = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
          i += 3;
        }
      else if ((c & 0x08) == 0)
        {
          if (i + 3 >= len || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80
              || (s[i + 3] & 0xC0) != 0x80)
            {
              out[n++] = 0xFFFD;
              i++;
              continue;
            }
          out[n++] = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6)
                     | (s[i + 3] & 0x3F);
          i += 4;
        }
      else
        {
          out[n++] = 0xFFFD;
          i++;
        }
    }
  *n_out = n;
  return out;
}

/* The Unicode White_Space property, which llama.cpp uses for \s. */
static gboolean
cpt_is_whitespace (gunichar c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
         || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F
         || c == 0x205F || c == 0x3000;
}

static guint
cpt_flags (gunichar c)
{
  guint f = 0;

  if (c > 0x10FFFF)
    return 0;
  switch (g_unichar_type (c))
    {
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
      f = CPT_NUMBER;
      break;
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
      f = CPT_LETTER;
      break;
    case G_UNICODE_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_NON_SPACING_MARK:
      f = CPT_MARK;
      break;
    case G_UNICODE_CONNECT_PUNCTUATION:
    case G_UNICODE_DASH_PUNCTUATION:
    case G_UNICODE_CLOSE_PUNCTUATION:
    case G_UNICODE_FINAL_PUNCTUATION:
    case G_UNICODE_INITIAL_PUNCTUATION:
    case G_UNICODE_OTHER_PUNCTUATION:
    case G_UNICODE_OPEN_PUNCTUATION:
      f = CPT_PUNCT;
      break;
    case G_UNICODE_CURRENCY_SYMBOL:
    case G_UNICODE_MODIFIER_SYMBOL:
    case G_UNICODE_MATH_SYMBOL:
    case G_UNICODE_OTHER_SYMBOL:
      f = CPT_SYMBOL;
      break;
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
    case G_UNICODE_SPACE_SEPARATOR:
      f = CPT_SEPARATOR;
      break;
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE:
    default:
      f = CPT_CONTROL;
      break;
    }
  if (cpt_is_whitespace (c))
    f |= CPT_WHITESPACE;
  return f;
}

/* ---- GPT-2 byte-level encoding ---- */

typedef struct {
  char utf8[4]; /* UTF-8 of the code point standing for each byte */
  guint8 len;
} ByteChar;

static const ByteChar *
byte_chars (void)
{
  static ByteChar table[256];
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      guint n = 0;

      for (guint b = 0; b < 256; b++)
        {
          gboolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
          gunichar c = printable ? b : 256 + n++;

          table[b].len = g_unichar_to_utf8 (c, table[b].utf8);
        }
      g_once_init_leave (&done, 1);
    }
  return table;
}

/* Inverse of byte_chars: the byte a code point stands for, or -1. */
static gint
unicode_to_byte (gunichar c)
{
  if ((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))
    return c;
  if (c >= 256 && c < 256 + 68)
    {
      guint n = c - 256;

      for (guint b = 0; b < 256; b++)
        {
          gboolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;

          if (!printable && n-- == 0)
            return b;
        }
    }
  return -1;
}

/* ---- Pre-tokenizers ---- */

/* A chunk of code points [ini, end) and its per-code-point classes. */
typedef struct {
  const gunichar *cpts;
  const guint16 *flags;
  gsize ini, end;
  gsize prev_end;
  GArray *out; /* gsize lengths in code points */
} SplitState;

static inline gunichar
st_cpt (const SplitState *s, gsize pos)
{
  return pos >= s->ini && pos < s->end ? s->cpts[pos] : OUT_OF_RANGE;
}

static inline guint
st_flags (const SplitState *s, gsize pos)
{
  return pos >= s->ini && pos < s->end ? s->flags[pos] : 0;
}

static gsize
st_emit (SplitState *s, gsize end)
{
  gsize len = end - s->prev_end;

  if (len > 0)
    g_array_append_val (s->out, len);
  s->prev_end = end;
  return len;
}

#define NOT_WLN (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER)

static gunichar
ascii_lower (gunichar c)
{
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Contractions 's 't 'm 'd 're 've 'll at pos; returns their length or 0. */
static gsize
match_contraction (const SplitState *s, gsize pos, gboolean any_case)
{
  gunichar a, b;

  if (st_cpt (s, pos) != '\'' || pos + 1 >= s->end)
    return 0;
  a = st_cpt (s, pos + 1);
  if (any_case)
    a = ascii_lower (a);
  if (a == 's' || a == 't' || a == 'm' || a == 'd')
    return 2;
  if (pos + 2 >= s->end)
    return 0;
  b = st_cpt (s, pos + 2);
  if (any_case)
    b = ascii_lower (b);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
    return 3;
  return 0;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void
split_gpt2 (SplitState *s)
{
  gsize pos = s->ini;

  s->prev_end = s->ini;
  while (pos < s->end)
    {
      gunichar c = st_cpt (s, pos);
      guint f2 = c == ' ' ? st_flags (s, pos + 1) : st_flags (s, pos);
      gsize n_ws = 0, k;

      if ((k = match_contraction (s, pos, FALSE)) > 0)
        {
          pos += st_emit (s, pos + k);
          continue;
        }
      if (f2 & CPT_LETTER)
        {
          pos += c == ' ';
          while (f2 & CPT_LETTER)
            f2 = st_flags (s, ++pos);
          st_emit (s, pos);
          continue;
        }
      if (f2 & CPT_NUMBER)
        {
          pos += c == ' ';
          while (f2 & CPT_NUMBER)
            f2 = st_flags (s, ++pos);
          st_emit (s, pos);
          continue;
        }
      if (!(f2 & NOT_WLN) && f2 != 0)
        {
          pos += c == ' ';
          while (!(f2 & NOT_WLN) && f2 != 0)
            f2 = st_flags (s, ++pos);
          st_emit (s, pos);
          continue;
        }
      while (st_flags (s, pos + n_ws) & CPT_WHITESPACE)
        n_ws++;
      if (n_ws > 1 && st_cpt (s, pos + n_ws) != OUT_OF_RANGE)
        {
          pos += n_ws - 1;
          st_emit (s, pos);
          continue;
        }
      if (n_ws > 0)
        {
          pos += n_ws;
          st_emit (s, pos);
          continue;
        }
      st_emit (s, ++pos);
    }
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
 * |\s*[\r\n]+|\s+(?!\S)|\s+ */
static void
split_llama3 (SplitState *s)
{
  gsize pos = s->ini;

  s->prev_end = s->ini;
  while (pos < s->end)
    {
      gunichar c = st_cpt (s, pos);
      guint f = st_flags (s, pos);
      guint f2;
      gsize n_ws = 0, last_rn = 0, k;

      if ((k = match_contraction (s, pos, TRUE)) > 0)
        {
          pos += st_emit (s, pos + k);
          continue;
        }
      if (!(c == '\r' || c == '\n' || (f & CPT_NUMBER))
          && ((f & CPT_LETTER) || (st_flags (s, pos + 1) & CPT_LETTER)))
        {
          pos++;
          while (st_flags (s, pos) & CPT_LETTER)
            pos++;
          st_emit (s, pos);
          continue;
        }
      if (f & CPT_NUMBER)
        {
          gsize ini = pos;

          while (st_flags (s, pos) & CPT_NUMBER)
            {
              if (++pos - ini >= 3)
                {
                  st_emit (s, pos);
                  ini = pos;
                }
            }
          st_emit (s, pos);
          continue;
        }
      /* llama.cpp tests the current code point's class (not the next one's) for being
       * defined here; kept so that splits stay identical. */
      f2 = c == ' ' ? st_flags (s, pos + 1) : f;
      if (!(f2 & NOT_WLN) && f != 0)
        {
          gunichar c2;

          pos += c == ' ';
          while (!(f2 & NOT_WLN) && f2 != 0)
            f2 = st_flags (s, ++pos);
          c2 = st_cpt (s, pos);
          while (c2 == '\r' || c2 == '\n')
            c2 = st_cpt (s, ++pos);
          st_emit (s, pos);
          continue;
        }
      while (st_flags (s, pos + n_ws) & CPT_WHITESPACE)
        {
          gunichar c2 = st_cpt (s, pos + n_ws);

          if (c2 == '\r' || c2 == '\n')
            last_rn = pos + n_ws + 1;
          n_ws++;
        }
      if (last_rn > 0)
        {
          pos = last_rn;
          st_emit (s, pos);
          continue;
        }
      if (n_ws > 1 && st_cpt (s, pos + n_ws) != OUT_OF_RANGE)
        {
          pos += n_ws - 1;
          st_emit (s, pos);
          continue;
        }
      if (n_ws > 0)
        {
          pos += n_ws;
          st_emit (s, pos);
          continue;
        }
      st_emit (s, ++pos);
    }
}

/* Every other pattern runs, as in llama.cpp, over a "collapsed" text with one byte per
 * code point: ASCII as is, other whitespace as \v, and each other code point as a byte
 * naming its class; \p{…} in the pattern becomes that byte plus the ASCII members. */
static const char GPT2_PATTERN[] =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
static const char LLAMA3_PATTERN[] =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
  "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_PATTERN[] =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
  "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct {
  const char *name;
  guint flag;
} Category;

static const Category categories[] = {
  { "\\p{N}", CPT_NUMBER },  { "\\p{L}", CPT_LETTER },  { "\\p{P}", CPT_PUNCT },
  { "\\p{M}", CPT_MARK },    { "\\p{S}", CPT_SYMBOL },  { "\\p{Lu}", CPT_LETTER },
  { "\\p{Ll}", CPT_LETTER }, { "\\p{Lt}", CPT_LETTER }, { "\\p{Lm}", CPT_LETTER },
  { "\\p{Lo}", CPT_LETTER },
};

static char
collapsed_byte (guint flag)
{
  switch (flag)
    {
    case CPT_NUMBER:
      return (char) 0xD1;
    case CPT_LETTER:
      return (char) 0xD2;
    case CPT_PUNCT:
      return (char) 0xD3;
    case CPT_MARK:
      return (char) 0xD4;
    case CPT_SYMBOL:
      return (char) 0xD5;
    default:
      return (char) 0xD0;
    }
}

static const char *
collapsed_ascii_members (guint flag)
{
  switch (flag)
    {
    case CPT_NUMBER:
      return "0-9";
    case CPT_LETTER:
      return "A-Za-z";
    case CPT_PUNCT:
      return "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}";
    case CPT_SYMBOL:
      return "\\$\\+<->^`\\|";
    default:
      return "";
    }
}

static char *
collapse_pattern (const char *pattern)
{
  GString *out = g_string_new (NULL);
  gsize n = strlen (pattern);
  gboolean inside = FALSE;

  for (gsize i = 0; i < n; i++)
    {
      gboolean replaced = FALSE;

      if (pattern[i] == '[' && (i == 0 || pattern[i - 1] != '\\'))
        {
          g_string_append_c (out, '[');
          inside = TRUE;
          continue;
        }
      if (inside && pattern[i] == ']' && pattern[i - 1] != '\\')
        {
          g_string_append_c (out, ']');
          inside = FALSE;
          continue;
        }
      if (pattern[i] == '\\' && i + 3 < n && pattern[i + 1] == 'p' && pattern[i + 2] == '{')
        {
          const char *close = strchr (pattern + i + 3, '}');

          if (close != NULL && (gsize) (close - pattern) <= i + 10)
            {
              gsize plen = close - (pattern + i) + 1;

              for (guint c = 0; c < G_N_ELEMENTS (categories) && !replaced; c++)
                {
                  if (strlen (categories[c].name) != plen
                      || strncmp (categories[c].name, pattern + i, plen) != 0)
                    continue;
                  if (!inside)
                    g_string_append_c (out, '[');
                  g_string_append_c (out, collapsed_byte (categories[c].flag));
                  g_string_append (out, collapsed_ascii_members (categories[c].flag));
                  if (!inside)
                    g_string_append_c (out, ']');
                  i += plen - 1;
                  replaced = TRUE;
                }
            }
        }
      if (!replaced)
        g_string_append_c (out, pattern[i]);
    }
  return g_string_free (out, FALSE);
}

static gboolean
splitter_init (Splitter *sp, const char *pattern, GError **error)
{
  g_autofree char *collapsed = NULL;
  g_autoptr (GError) local = NULL;

  sp->regex = NULL;
  if (strcmp (pattern, GPT2_PATTERN) == 0)
    {
      sp->kind = SPLIT_GPT2;
      return TRUE;
    }
  if (strcmp (pattern, LLAMA3_PATTERN) == 0)
    {
      sp->kind = SPLIT_LLAMA3;
      return TRUE;
    }
  sp->kind = SPLIT_REGEX;
  collapsed = collapse_pattern (pattern);
  sp->regex = g_regex_new (collapsed, G_REGEX_RAW | G_REGEX_OPTIMIZE, 0, &local);
  if (sp->regex == NULL)
    {
      g_set_error (error, TAILOR_TOKENIZER_ERROR, TAILOR_TOKENIZER_ERROR_UNSUPPORTED,
                   "Cannot compile the pre-tokenizer pattern %s: %s", pattern, local->message);
      return FALSE;
    }
  return TRUE;
}

static void
split_regex (SplitState *s, GRegex *regex, const char *collapsed)
{
  g_autoptr (GMatchInfo) mi = NULL;
  gsize done = 0;
  gsize len = s->end - s->ini;

  g_regex_match_full (regex, collapsed + s->ini, len, 0, 0, &mi, NULL);
  while (g_match_info_matches (mi))
    {
      gint start = 0, end = 0;
      gsize gap, mlen;

      g_match_info_fetch_pos (mi, 0, &start, &end);
      gap = start - done;
      mlen = end - start;
      if (gap > 0)
        g_array_append_val (s->out, gap);
      if (mlen > 0)
        g_array_append_val (s->out, mlen);
      done = end;
      g_match_info_next (mi, NULL);
    }
  if (done < len)
    {
      gsize rest = len - done;

      g_array_append_val (s->out, rest);
    }
}

/* ---- Encoding ---- */

typedef struct {
  gsize start; /* byte offset into the text being merged */
  gsize n;     /* bytes; 0 once merged into its left neighbour */
  gssize prev, next;
} Symbol;

typedef struct {
  gssize left, right;
  float score; /* SPM: higher first */
  gint32 rank; /* BPE: lower first */
  gsize size;
} Bigram;

/* A binary heap of bigrams; `before` says which of two comes out first. */
typedef struct {
  GArray *items;
  gboolean (*before) (const Bigram *a, const Bigram *b);
} Heap;

static gboolean
spm_before (const Bigram *a, const Bigram *b)
{
  return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static gboolean
bpe_before (const Bigram *a, const Bigram *b)
{
  return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void
heap_push (Heap *h, const Bigram *b)
{
  Bigram *items;
  gsize i;

  g_array_append_val (h->items, *b);
  items = (Bigram *) h->items->data;
  i = h->items->len - 1;
  while (i > 0)
    {
      gsize parent = (i - 1) / 2;
      Bigram tmp;

      if (!h->before (&items[i], &items[parent]))
        break;
      tmp = items[i];
      items[i] = items[parent];
      items[parent] = tmp;
      i = parent;
    }
}

static Bigram
heap_pop (Heap *h)
{
  Bigram *items = (Bigram *) h->items->data;
  Bigram top = items[0];
  gsize n = h->items->len - 1, i = 0;

  items[0] = items[n];
  g_array_set_size (h->items, n);
  for (;;)
    {
      gsize l = 2 * i + 1, r = l + 1, best = i;
      Bigram tmp;

      if (l < n && h->before (&items[l], &items[best]))
        best = l;
      if (r < n && h->before (&items[r], &items[best]))
        best = r;
      if (best == i)
        break;
      tmp = items[i];
      items[i] = items[best];
      items[best] = tmp;
      i = best;
    }
  return top;
}

static GArray *
symbols_from_utf8 (const char *text, gsize len)
{
  GArray *syms = g_array_sized_new (FALSE, FALSE, sizeof (Symbol), len);
  gsize off = 0;
  gssize index = 0;

  while (off < len)
    {
      Symbol s;

      s.start = off;
      s.n = MIN (utf8_len ((guint8) text[off]), len - off);
      off += s.n;
      s.prev = index - 1;
      s.next = off == len ? -1 : index + 1;
      index++;
      g_array_append_val (syms, s);
    }
  return syms;
}

static gint32
byte_token_spm (TailorTokenizer *self, guint8 byte)
{
  char buf[8];
  gint32 id;

  g_snprintf (buf, sizeof buf, "<0x%02X>", byte);
  id = strmap_lookup (&self->token_map, buf, 6);
  if (id >= 0)
    return id;
  buf[0] = (char) byte;
  id = strmap_lookup (&self->token_map, buf, 1);
  /* llama.cpp throws here; a vocabulary without byte fallback gets <unk> instead. */
  return id >= 0 ? id : self->unk;
}

static void
spm_try_bigram (TailorTokenizer *self, const char *text, GArray *syms, Heap *heap,
                gssize left, gssize right)
{
  const Symbol *l, *r;
  gint32 id;
  Bigram b;

  if (left < 0 || right < 0)
    return;
  l = &g_array_index (syms, Symbol, left);
  r = &g_array_index (syms, Symbol, right);
  id = strmap_lookup (&self->token_map, text + l->start, l->n + r->n);
  if (id < 0)
    return;
  b.left = left;
  b.right = right;
  b.score = self->tokens[id].score;
  b.rank = 0;
  b.size = l->n + r->n;
  heap_push (heap, &b);
}

static void
spm_tokenize (TailorTokenizer *self, const char *text, gsize len, GArray *out)
{
  g_autoptr (GArray) syms = symbols_from_utf8 (text, len);
  g_autoptr (GArray) items = g_array_new (FALSE, FALSE, sizeof (Bigram));
  Heap heap = { items, spm_before };

  for (gssize i = 1; i < (gssize) syms->len; i++)
    spm_try_bigram (self, text, syms, &heap, i - 1, i);

  while (heap.items->len > 0)
    {
      Bigram b = heap_pop (&heap);
      Symbol *l = &g_array_index (syms, Symbol, b.left);
      Symbol *r = &g_array_index (syms, Symbol, b.right);

      if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
        continue;
      l->n += r->n;
      r->n = 0;
      l->next = r->next;
      if (r->next >= 0)
        g_array_index (syms, Symbol, r->next).prev = b.left;
      spm_try_bigram (self, text, syms, &heap, l->prev, b.left);
      spm_try_bigram (self, text, syms, &heap, b.left, l->next);
    }

  /* A final symbol is a vocabulary piece (merges only make pieces) or a single
   * character; characters missing from the vocabulary fall back to byte tokens. */
  for (gssize i = syms->len > 0 ? 0 : -1; i >= 0; i = g_array_index (syms, Symbol, i).next)
    {
      const Symbol *s = &g_array_index (syms, Symbol, i);
      gint32 id = strmap_lookup (&self->token_map, text + s->start, s->n);

      if (id >= 0)
        {
          g_array_append_val (out, id);
          continue;
        }
      for (gsize j = 0; j < s->n; j++)
        {
          gint32 bid = byte_token_spm (self, (guint8) text[s->start + j]);

          if (bid >= 0)
            g_array_append_val (out, bid);
        }
    }
}

static void
bpe_try_bigram (TailorTokenizer *self, const char *word, GArray *syms, Heap *heap,
                gssize left, gssize right)
{
  const Symbol *l, *r;
  gint32 rank;
  Bigram b;

  if (left < 0 || right < 0)
    return;
  l = &g_array_index (syms, Symbol, left);
  r = &g_array_index (syms, Symbol, right);
  rank = strmap_lookup_pair (&self->merge_map, word + l->start, l->n, word + r->start, r->n);
  if (rank < 0)
    return;
  b.left = left;
  b.right = right;
  b.score = 0;
  b.rank = rank;
  b.size = l->n + r->n;
  heap_push (heap, &b);
}

static void
bpe_word (TailorTokenizer *self, const char *word, gsize len, GArray *items, GArray *out)
{
  g_autoptr (GArray) syms = NULL;
  Heap heap = { items, bpe_before };
  gint32 whole;

  if (len == 0)
    return;
  if (self->ignore_merges && (whole = strmap_lookup (&self->token_map, word, len)) >= 0)
    {
      g_array_append_val (out, whole);
      return;
    }

  syms = symbols_from_utf8 (word, len);
  g_array_set_size (items, 0);
  for (gssize i = 1; i < (gssize) syms->len; i++)
    bpe_try_bigram (self, word, syms, &heap, i - 1, i);

  while (heap.items->len > 0)
    {
      Bigram b = heap_pop (&heap);
      Symbol *l = &g_array_index (syms, Symbol, b.left);
      Symbol *r = &g_array_index (syms, Symbol, b.right);

      /* Both still alive and of the sizes they had when queued means the pair still
       * spells the queued text (symbols only grow, rightwards). */
      if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
        continue;
      l->n += r->n;
      r->n = 0;
      l->next = r->next;
      if (r->next >= 0)
        g_array_index (syms, Symbol, r->next).prev = b.left;
      bpe_try_bigram (self, word, syms, &heap, l->prev, b.left);
      bpe_try_bigram (self, word, syms, &heap, b.left, l->next);
    }

  for (gssize i = 0; i >= 0; i = g_array_index (syms, Symbol, i).next)
    {
      const Symbol *s = &g_array_index (syms, Symbol, i);
      gint32 id = strmap_lookup (&self->token_map, word + s->start, s->n);

      if (id >= 0)
        {
          g_array_append_val (out, id);
          continue;
        }
      /* As llama.cpp: each byte of the piece as a one-byte token, when there is one. */
      for (gsize j = 0; j < s->n; j++)
        {
          gint32 bid = strmap_lookup (&self->token_map, word + s->start + j, 1);

          if (bid >= 0)
            g_array_append_val (out, bid);
        }
    }
}

/* Runs the pre-tokenizer's patterns in turn, each splitting every chunk the previous
 * one left; returns the word lengths in code points. */
static GArray *
pre_split (TailorTokenizer *self, const gunichar *cpts, gsize n)
{
  g_autofree guint16 *flags = g_new (guint16, n + 1);
  g_autofree char *collapsed = NULL;
  GArray *offsets = g_array_new (FALSE, FALSE, sizeof (gsize));
  g_autoptr (GArray) next = g_array_new (FALSE, FALSE, sizeof (gsize));

  for (gsize i = 0; i < n; i++)
    flags[i] = cpt_flags (cpts[i]);
  g_array_append_val (offsets, n);
  for (guint k = 0; k < self->n_splitters; k++)
    {
      const Splitter *sp = &self->splitters[k];
      gsize start = 0;

      if (sp->kind == SPLIT_REGEX && collapsed == NULL)
        {
          collapsed = g_malloc (n + 1);
          for (gsize i = 0; i < n; i++)
            {
              if (cpts[i] < 128)
                collapsed[i] = (char) cpts[i];
              else if (flags[i] & CPT_WHITESPACE)
                collapsed[i] = 0x0B;
              else
                collapsed[i] = collapsed_byte (flags[i] & ~CPT_WHITESPACE);
            }
          collapsed[n] = '\0';
        }

      g_array_set_size (next, 0);
      for (guint c = 0; c < offsets->len; c++)
        {
          SplitState s = { cpts, flags, start, start + g_array_index (offsets, gsize, c), start, next };

          switch (sp->kind)
            {
            case SPLIT_GPT2:
              split_gpt2 (&s);
              break;
            case SPLIT_LLAMA3:
              split_llama3 (&s);
              break;
            case SPLIT_REGEX:
            default:
              split_regex (&s, sp->regex, collapsed);
              break;
            }
          start = s.end;
        }
      g_array_set_size (offsets, 0);
      g_array_append_vals (offsets, next->data, next->len);
    }
  return offsets;
}

static void
bpe_tokenize (TailorTokenizer *self, const char *text, gsize len, GArray *out)
{
  const ByteChar *bc = byte_chars ();
  g_autofree gunichar *cpts = NULL;
  g_autoptr (GArray) offsets = NULL;
  g_autoptr (GArray) items = g_array_new (FALSE, FALSE, sizeof (Bigram));
  g_autoptr (GString) word = g_string_new (NULL);
  gsize n = 0, pos = 0;

  cpts = decode_cpts (text, len, &n);
  if (n == 0)
    return;
  offsets = pre_split (self, cpts, n);
  for (guint c = 0; c < offsets->len; c++)
    {
      gsize wlen = g_array_index (offsets, gsize, c);

      /* Words are re-encoded from code points, so malformed input arrives as U+FFFD. */
      g_string_truncate (word, 0);
      for (gsize i = pos; i < pos + wlen; i++)
        {
          char utf8[6];
          gint ulen = g_unichar_to_utf8 (cpts[i], utf8);

          for (gint j = 0; j < ulen; j++)
            g_string_append_len (word, bc[(guint8) utf8[j]].utf8, bc[(guint8) utf8[j]].len);
        }
      pos += wlen;
      bpe_word (self, word->str, word->len, items, out);
    }
}

char **
tailor_tokenizer_pre_split (TailorTokenizer *self, const char *text, gssize len)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new ();
  g_autofree gunichar *cpts = NULL;
  g_autoptr (GArray) offsets = NULL;
  gsize n = 0, pos = 0;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (text != NULL || len == 0, NULL);

  if (len < 0)
    len = strlen (text);
  if (self->kind == TAILOR_TOKENIZER_SPM)
    {
      if (len > 0)
        g_ptr_array_add (words, g_strndup (text, len));
      g_ptr_array_add (words, NULL);
      return (char **) g_ptr_array_free (g_steal_pointer (&words), FALSE);
    }
  cpts = decode_cpts (text, len, &n);
  offsets = n > 0 ? pre_split (self, cpts, n) : g_array_new (FALSE, FALSE, sizeof (gsize));
  for (guint c = 0; c < offsets->len; c++)
    {
      gsize wlen = g_array_index (offsets, gsize, c);
      GString *w = g_string_new (NULL);

      for (gsize i = pos; i < pos + wlen; i++)
        g_string_append_unichar (w, cpts[i]);
      pos += wlen;
      g_ptr_array_add (words, g_string_free (w, FALSE));
    }
  g_ptr_array_add (words, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&words), FALSE);
}

typedef struct {
  gint32 token; /* -1: text */
  gsize off, len;
} Fragment;

/* Splits text fragments at every occurrence of each special token, longest token first
 * (llama.cpp's tokenizer_st_partition). */
static GArray *
partition_specials (TailorTokenizer *self, const char *text, gsize len, gboolean parse_special)
{
  GArray *frags = g_array_new (FALSE, FALSE, sizeof (Fragment));
  g_autoptr (GArray) next = g_array_new (FALSE, FALSE, sizeof (Fragment));
  Fragment all = { -1, 0, len };

  g_array_append_val (frags, all);
  for (guint k = 0; k < self->n_specials; k++)
    {
      gint32 id = self->specials[k];
      const Token *t = &self->tokens[id];
      gboolean changed = FALSE;

      if (!parse_special && (t->attr & (ATTR_CONTROL | ATTR_UNKNOWN)))
        continue;

      g_array_set_size (next, 0);
      for (guint f = 0; f < frags->len; f++)
        {
          Fragment fr = g_array_index (frags, Fragment, f);
          gsize off = fr.off, end = fr.off + fr.len;

          if (fr.token >= 0)
            {
              g_array_append_val (next, fr);
              continue;
            }
          while (off < end)
            {
              const char *hit = memmem (text + off, end - off, t->text, t->len);
              Fragment left, tok = { id, 0, 0 };

              if (hit == NULL)
                break;
              changed = TRUE;
              if ((gsize) (hit - text) > off)
                {
                  left.token = -1;
                  left.off = off;
                  left.len = hit - text - off;
                  g_array_append_val (next, left);
                }
              g_array_append_val (next, tok);
              off = hit - text + t->len;
            }
          if (off < end)
            {
              Fragment rest = { -1, off, end - off };

              g_array_append_val (next, rest);
            }
        }
      if (changed)
        {
          g_array_set_size (frags, 0);
          g_array_append_vals (frags, next->data, next->len);
        }
    }
  return frags;
}

void
tailor_tokenizer_encode (TailorTokenizer *self, const char *text, gssize len,
                         TailorTokenizeFlags flags, GArray *out)
{
  g_autoptr (GArray) frags = NULL;
  gboolean add_special = (flags & TAILOR_TOKENIZE_ADD_SPECIAL) != 0;
  gboolean prev_special = TRUE;

  g_return_if_fail (self != NULL);
  g_return_if_fail (text != NULL || len == 0);
  g_return_if_fail (out != NULL);

  if (len < 0)
    len = strlen (text);
  frags = len > 0 ? partition_specials (self, text, len, (flags & TAILOR_TOKENIZE_PARSE_SPECIAL) != 0)
                  : g_array_new (FALSE, FALSE, sizeof (Fragment));

  if (add_special && self->add_bos && self->bos >= 0)
    g_array_append_val (out, self->bos);

  for (guint f = 0; f < frags->len; f++)
    {
      const Fragment *fr = &g_array_index (frags, Fragment, f);

      if (fr->token >= 0)
        {
          g_array_append_val (out, fr->token);
          prev_special = TRUE;
          continue;
        }
      if (self->kind == TAILOR_TOKENIZER_SPM)
        {
          /* SentencePiece sees spaces as U+2581 and, like llama.cpp, a space is put in
           * front of the text and of any text that follows a special token. */
          GString *s = g_string_sized_new (fr->len * 3 + 4);

          if (self->add_space_prefix && prev_special)
            g_string_append (s, "\xe2\x96\x81");
          for (gsize i = fr->off; i < fr->off + fr->len; i++)
            {
              if (text[i] == ' ')
                g_string_append (s, "\xe2\x96\x81");
              else
                g_string_append_c (s, text[i]);
            }
          spm_tokenize (self, s->str, s->len, out);
          g_string_free (s, TRUE);
        }
      else
        bpe_tokenize (self, text + fr->off, fr->len, out);
      prev_special = FALSE;
    }

  if (add_special && self->add_eos && self->eos >= 0)
    g_array_append_val (out, self->eos);
}

/* ---- Decoding ---- */

static char *
compute_piece (TailorTokenizer *self, gint32 id, guint32 *len_out)
{
  const Token *t = &self->tokens[id];
  GString *s = g_string_new (NULL);

  if (t->attr & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED))
    g_string_append_len (s, t->text, t->len);
  else if ((t->attr & ATTR_NORMAL) && self->kind == TAILOR_TOKENIZER_SPM)
    {
      for (guint32 i = 0; i < t->len; i++)
        {
          if (i + 2 < t->len && memcmp (t->text + i, "\xe2\x96\x81", 3) == 0)
            {
              g_string_append_c (s, ' ');
              i += 2;
            }
          else
            g_string_append_c (s, t->text[i]);
        }
    }
  else if (t->attr & ATTR_NORMAL)
    {
      gsize n = 0;
      g_autofree gunichar *cpts = decode_cpts (t->text, t->len, &n);

      for (gsize i = 0; i < n; i++)
        {
          gint b = unicode_to_byte (cpts[i]);

          if (b >= 0)
            g_string_append_c (s, (char) b);
          else
            {
              /* llama.cpp's marker for a character that stands for no byte */
              char utf8[6];
              gint ulen = g_unichar_to_utf8 (cpts[i], utf8);

              g_string_append (s, "[UNK_BYTE_0x");
              for (gint j = 0; j < ulen; j++)
                g_string_append_printf (s, "%02x", (guint8) utf8[j]);
              g_string_append_len (s, t->text, t->len);
              g_string_append_c (s, ']');
            }
        }
    }
  else if (t->attr & ATTR_BYTE)
    {
      char hex[3] = { 0 };

      if (t->len >= 4)
        memcpy (hex, t->text + 3, MIN (2, t->len - 3));
      g_string_append_c (s, (char) strtol (hex, NULL, 16));
    }
  *len_out = s->len;
  return g_string_free (s, FALSE);
}

GBytes *
tailor_tokenizer_token_to_piece (TailorTokenizer *self, gint32 id, gboolean render_special)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (id >= 0 && (guint) id < self->n_tokens, NULL);

  if (!render_special && (self->tokens[id].attr & (ATTR_UNKNOWN | ATTR_CONTROL)))
    return g_bytes_new (NULL, 0);
  return g_bytes_new (self->pieces[id], self->piece_lens[id]);
}

/* llama.cpp's clean-up of spaces before punctuation and in contractions, done in place
 * the same way so that its corner cases come out the same. */
static gsize
clean_spaces (char *text, gsize total)
{
  gsize t1 = total, t2, t3;

  total = total ? 1 : 0;
  for (gsize i = 1; i < t1; i++)
    {
      char x = text[i];

      if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
        total--;
      text[total++] = x;
    }

  t2 = total;
  total = total ? 1 : 0;
  for (gsize i = 1; i < t2; i++)
    {
      char x = text[i];

      if (x == '\'' && i + 1 < t2 && text[i - 1] == ' ' && text[i + 1] == ' ')
        {
          total--;
          text[++i] = '\0';
        }
      text[total++] = x;
    }

  t3 = total;
  total = total ? 1 : 0;
  for (gsize i = 1; i < t3; i++)
    {
      char x = text[i];

      if (text[i - 1] == ' ' && x == '\'' && i + 1 < t3)
        {
          char x1 = text[i + 1];

          if (x1 == 's' || x1 == 'm')
            total--;
          else if (i + 2 < t3 && ((x1 == 'r' && text[i + 2] == 'e') || (x1 == 'v' && text[i + 2] == 'e')))
            total--;
        }
      text[total++] = x;
    }
  return total;
}

char *
tailor_tokenizer_decode (TailorTokenizer *self, const gint32 *ids, gsize n, gboolean render_special)
{
  GString *s = g_string_new (NULL);
  gboolean remove_space = self != NULL && self->add_space_prefix;

  g_return_val_if_fail (self != NULL, g_string_free (s, FALSE));
  g_return_val_if_fail (ids != NULL || n == 0, g_string_free (s, FALSE));

  for (gsize i = 0; i < n; i++)
    {
      const char *p;
      gsize plen;

      if (ids[i] < 0 || (guint) ids[i] >= self->n_tokens)
        {
          remove_space = FALSE;
          continue;
        }
      p = self->pieces[ids[i]];
      plen = self->piece_lens[ids[i]];
      if (!render_special && (self->tokens[ids[i]].attr & (ATTR_UNKNOWN | ATTR_CONTROL)))
        plen = 0;
      /* Only the first token's leading space goes, even when that token prints nothing. */
      if (remove_space && plen > 0 && p[0] == ' ')
        {
          p++;
          plen--;
        }
      remove_space = FALSE;
      g_string_append_len (s, p, plen);
    }

  if (self->clean_spaces)
    g_string_truncate (s, clean_spaces (s->str, s->len));
  return g_string_free (s, FALSE);
}

/* ---- Loading ---- */

typedef struct {
  const char *name;
  const char *const *patterns;
  gboolean clean_spaces;
  gboolean ignore_merges;
  gboolean add_bos;
  gboolean no_bos;
} PreType;

static const char *const pre_llama3[] = { LLAMA3_PATTERN, NULL };
static const char *const pre_gpt2[] = { GPT2_PATTERN, NULL };
static const char *const pre_qwen2[] = { QWEN2_PATTERN, NULL };
static const char *const pre_smollm[] = { "\\p{N}", GPT2_PATTERN, NULL };
static const char *const pre_falcon[] = { "[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_PATTERN, "[0-9][0-9][0-9]", NULL };
static const char *const pre_default[] = { "[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_PATTERN, "\\p{N}+", "[0-9][0-9][0-9]", NULL };

/* tokenizer.ggml.pre values whose pre-tokenizer is one of the above, with the options
 * llama.cpp sets for each (llama_vocab::impl::load). */
static const PreType pre_types[] = {
  { "default", pre_default, TRUE, FALSE, FALSE, FALSE },
  { "llama3", pre_llama3, TRUE, TRUE, TRUE, FALSE },
  { "llama-v3", pre_llama3, TRUE, TRUE, TRUE, FALSE },
  { "llama-bpe", pre_llama3, TRUE, TRUE, TRUE, FALSE },
  { "falcon3", pre_llama3, TRUE, TRUE, TRUE, FALSE },
  { "falcon-h1", pre_llama3, TRUE, TRUE, TRUE, FALSE },
  { "pixtral", pre_llama3, TRUE, TRUE, TRUE, FALSE },
  { "midm-2.0", pre_llama3, TRUE, TRUE, TRUE, FALSE },
  { "lfm2", pre_llama3, TRUE, TRUE, TRUE, FALSE },
  { "dbrx", pre_llama3, TRUE, FALSE, FALSE, FALSE },
  { "smaug-bpe", pre_llama3, TRUE, FALSE, FALSE, FALSE },
  { "glm4", pre_llama3, TRUE, FALSE, FALSE, TRUE },
  { "chatglm-bpe", pre_llama3, TRUE, FALSE, FALSE, TRUE },
  { "falcon", pre_falcon, TRUE, FALSE, FALSE, FALSE },
  { "gpt-2", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "phi-2", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "jina-es", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "jina-de", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "gigachat", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "jina-v2-es", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "jina-v2-de", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "a.x-4.0", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "mellum", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "modern-bert", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "mpt", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "olmo", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "jais", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "exaone4", pre_gpt2, TRUE, FALSE, FALSE, FALSE },
  { "trillion", pre_gpt2, FALSE, FALSE, FALSE, FALSE },
  { "granite-docling", pre_gpt2, FALSE, FALSE, FALSE, FALSE },
  { "qwen2", pre_qwen2, FALSE, FALSE, FALSE, FALSE },
  { "deepseek-r1-qwen", pre_qwen2, FALSE, FALSE, FALSE, FALSE },
  { "kormo", pre_qwen2, FALSE, FALSE, FALSE, FALSE },
  { "f2llmv2", pre_qwen2, FALSE, FALSE, FALSE, FALSE },
  { "megrez", pre_qwen2, TRUE, FALSE, FALSE, FALSE },
  { "stablelm2", pre_qwen2, TRUE, FALSE, FALSE, FALSE },
  { "hunyuan", pre_qwen2, FALSE, FALSE, FALSE, FALSE },
  { "solar-open", pre_qwen2, FALSE, FALSE, FALSE, FALSE },
  { "smollm", pre_smollm, FALSE, FALSE, FALSE, FALSE },
  { "starcoder", pre_smollm, TRUE, FALSE, FALSE, FALSE },
  { "refact", pre_smollm, TRUE, FALSE, FALSE, FALSE },
  { "command-r", pre_smollm, FALSE, FALSE, FALSE, FALSE },
  { "codeshell", pre_smollm, TRUE, FALSE, FALSE, FALSE },
  { "exaone", pre_smollm, TRUE, FALSE, FALSE, FALSE },
  { "minerva-7b", pre_smollm, TRUE, FALSE, FALSE, FALSE },
  { "mellum2", pre_smollm, TRUE, FALSE, FALSE, FALSE },
};

/* Token texts llama.cpp treats as ending generation (and so as control tokens). */
static const char *const eog_texts[] = {
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
  "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
  "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
  "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "[e~[",
  /* fill-in-the-middle pad, repo and file separators */
  "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>", "<|repo_name|>",
  "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>",
};

/* Candidates for the end-of-turn token when tokenizer.ggml.eot_token_id is absent,
 * in the order Tailor prefers them when several are present. */
static const char *const eot_texts[] = {
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
  "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
  "<end_of_utterance>",
};

static gboolean
fail (GError **error, gint code, TailorGguf *gguf, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError **error, gint code, TailorGguf *gguf, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, TAILOR_TOKENIZER_ERROR, code, "%s: %s", tailor_gguf_get_path (gguf), msg);
  return FALSE;
}

static gboolean
is_int_type (TailorGgufValueType t)
{
  switch (t)
    {
    case TAILOR_GGUF_U8:
    case TAILOR_GGUF_I8:
    case TAILOR_GGUF_U16:
    case TAILOR_GGUF_I16:
    case TAILOR_GGUF_U32:
    case TAILOR_GGUF_I32:
    case TAILOR_GGUF_U64:
    case TAILOR_GGUF_I64:
      return TRUE;
    case TAILOR_GGUF_F32:
    case TAILOR_GGUF_BOOL:
    case TAILOR_GGUF_STRING:
    case TAILOR_GGUF_ARRAY:
    case TAILOR_GGUF_F64:
    default:
      return FALSE;
    }
}

/* An optional token id key: absent keeps the default; out of range keeps it too, as
 * llama.cpp does (it warns). */
static gboolean
read_token_id (TailorTokenizer *self, TailorGguf *gguf, const char *key, gint32 *id, GError **error)
{
  gint k = tailor_gguf_find_key (gguf, key);
  gint64 v;

  if (*id >= 0 && (guint) *id >= self->n_tokens)
    *id = -1;
  if (k < 0)
    return TRUE;
  if (!is_int_type (tailor_gguf_get_kv_type (gguf, k)))
    return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                 "%s is not an integer; re-create the file with a token id there", key);
  v = tailor_gguf_get_val_i64 (gguf, k);
  if (v >= 0 && v < self->n_tokens)
    *id = (gint32) v;
  else
    g_warning ("%s: %s = %" G_GINT64_FORMAT " is outside the vocabulary of %u tokens; ignored",
               tailor_gguf_get_path (gguf), key, v, self->n_tokens);
  return TRUE;
}

static gboolean
read_bool (TailorGguf *gguf, const char *key, gboolean *value, GError **error)
{
  gint k = tailor_gguf_find_key (gguf, key);

  if (k < 0)
    return TRUE;
  if (tailor_gguf_get_kv_type (gguf, k) != TAILOR_GGUF_BOOL)
    return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf, "%s is not a bool", key);
  *value = tailor_gguf_get_val_i64 (gguf, k) != 0;
  return TRUE;
}

static gint32
find_text (TailorTokenizer *self, const char *text)
{
  return strmap_lookup (&self->token_map, text, strlen (text));
}

static gint
compare_special (gconstpointer a, gconstpointer b, gpointer user_data)
{
  TailorTokenizer *self = user_data;
  gint32 x = *(const gint32 *) a, y = *(const gint32 *) b;

  if (self->tokens[x].len != self->tokens[y].len)
    return self->tokens[x].len > self->tokens[y].len ? -1 : 1;
  return x < y ? -1 : x > y;
}

static gboolean
load_tokens (TailorTokenizer *self, TailorGguf *gguf, GError **error)
{
  gint k_tokens = tailor_gguf_find_key (gguf, "tokenizer.ggml.tokens");
  gint k_scores = tailor_gguf_find_key (gguf, "tokenizer.ggml.scores");
  gint k_types = tailor_gguf_find_key (gguf, "tokenizer.ggml.token_type");
  guint64 n;

  if (k_tokens < 0)
    return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                 "tokenizer.ggml.tokens is missing; the file has no vocabulary");
  if (tailor_gguf_get_kv_type (gguf, k_tokens) != TAILOR_GGUF_ARRAY
      || tailor_gguf_get_arr_type (gguf, k_tokens) != TAILOR_GGUF_STRING)
    return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                 "tokenizer.ggml.tokens is not an array of strings");
  n = tailor_gguf_get_arr_n (gguf, k_tokens);
  if (n == 0 || n > G_MAXINT32)
    return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                 "tokenizer.ggml.tokens has %" G_GUINT64_FORMAT " entries", n);

  if (k_scores >= 0)
    {
      TailorGgufValueType at = tailor_gguf_get_kv_type (gguf, k_scores) == TAILOR_GGUF_ARRAY
                                 ? tailor_gguf_get_arr_type (gguf, k_scores) : TAILOR_GGUF_ARRAY;

      if (at != TAILOR_GGUF_F32 && at != TAILOR_GGUF_I32)
        return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                     "tokenizer.ggml.scores is not an array of F32 or I32");
      if (tailor_gguf_get_arr_n (gguf, k_scores) < n)
        return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                     "tokenizer.ggml.scores has %" G_GUINT64_FORMAT " entries for %" G_GUINT64_FORMAT
                     " tokens; each token needs a score",
                     tailor_gguf_get_arr_n (gguf, k_scores), n);
    }
  if (k_types >= 0)
    {
      if (tailor_gguf_get_kv_type (gguf, k_types) != TAILOR_GGUF_ARRAY
          || tailor_gguf_get_arr_type (gguf, k_types) != TAILOR_GGUF_I32)
        return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                     "tokenizer.ggml.token_type is not an array of I32");
      if (tailor_gguf_get_arr_n (gguf, k_types) < n)
        return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                     "tokenizer.ggml.token_type has %" G_GUINT64_FORMAT " entries for %" G_GUINT64_FORMAT
                     " tokens; each token needs a type",
                     tailor_gguf_get_arr_n (gguf, k_types), n);
    }

  self->n_tokens = n;
  self->tokens = g_new0 (Token, n);
  strmap_init (&self->token_map, n);
  for (guint i = 0; i < n; i++)
    {
      Token *t = &self->tokens[i];
      const char *s = tailor_gguf_get_arr_str (gguf, k_tokens, i, NULL);
      g_autofree char *empty = NULL;
      gint32 dup;

      /* Strings end at a NUL, and an empty token gets a placeholder, as in llama.cpp. */
      if (s == NULL || s[0] == '\0')
        s = empty = g_strdup_printf ("[EMPTY_%u]", i);
      t->len = strlen (s);
      t->text = g_string_chunk_insert_len (self->strings, s, t->len);
      dup = strmap_insert (&self->token_map, t->text, t->len, i);
      if (dup >= 0)
        return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                     "tokenizer.ggml.tokens has \"%s\" twice (ids %d and %u)", s, dup, i);
      t->score = k_scores >= 0 ? (float) tailor_gguf_get_arr_f64 (gguf, k_scores, i) : 0.0f;
      if (k_types < 0)
        t->attr = ATTR_NORMAL;
      else
        switch (tailor_gguf_get_arr_i64 (gguf, k_types, i))
          {
          case TAILOR_TOKEN_NORMAL:
            t->attr = ATTR_NORMAL;
            break;
          case TAILOR_TOKEN_UNKNOWN:
            t->attr = ATTR_UNKNOWN;
            break;
          case TAILOR_TOKEN_CONTROL:
            t->attr = ATTR_CONTROL;
            break;
          case TAILOR_TOKEN_USER_DEFINED:
            t->attr = ATTR_USER_DEFINED;
            break;
          case TAILOR_TOKEN_UNUSED:
            t->attr = ATTR_UNUSED;
            break;
          case TAILOR_TOKEN_BYTE:
            t->attr = ATTR_BYTE;
            break;
          default:
            t->attr = 0;
            break;
          }
    }
  return TRUE;
}

static gboolean
load_merges (TailorTokenizer *self, TailorGguf *gguf, GError **error)
{
  gint k = tailor_gguf_find_key (gguf, "tokenizer.ggml.merges");
  guint64 n;

  if (k < 0)
    return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                 "tokenizer.ggml.merges is missing; a gpt2 (BPE) vocabulary needs its merges");
  if (tailor_gguf_get_kv_type (gguf, k) != TAILOR_GGUF_ARRAY
      || tailor_gguf_get_arr_type (gguf, k) != TAILOR_GGUF_STRING)
    return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                 "tokenizer.ggml.merges is not an array of strings");
  n = tailor_gguf_get_arr_n (gguf, k);
  if (n > G_MAXINT32)
    return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                 "tokenizer.ggml.merges has %" G_GUINT64_FORMAT " entries", n);
  strmap_init (&self->merge_map, n);
  for (guint i = 0; i < n; i++)
    {
      const char *s = tailor_gguf_get_arr_str (gguf, k, i, NULL);
      gsize len = s != NULL ? strlen (s) : 0;
      const char *space = len > 1 ? memchr (s + 1, ' ', len - 1) : NULL;
      const char *key;

      /* The split is at the first space after the first byte; a merge without one
       * becomes the pair ("", ""), as llama.cpp reads it. */
      if (space == NULL)
        key = g_string_chunk_insert_len (self->strings, " ", 1);
      else
        key = g_string_chunk_insert_len (self->strings, s, len);
      strmap_insert (&self->merge_map, key, space == NULL ? 1 : len, i);
    }
  return TRUE;
}

static gboolean
load_specials (TailorTokenizer *self, TailorGguf *gguf, GError **error)
{
  gint32 fim_ids[3] = { -1, -1, -1 };
  static const char *const fim_keys[3] = {
    "tokenizer.ggml.fim_pad_token_id", "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"
  };
  g_autoptr (GArray) specials = g_array_new (FALSE, FALSE, sizeof (gint32));
  gint32 end_id = -1, s_id = -1;
  gboolean has_return = FALSE, has_call = FALSE, has_flush = FALSE, has_tool_response = FALSE;

  if (!read_token_id (self, gguf, "tokenizer.ggml.bos_token_id", &self->bos, error)
      || !read_token_id (self, gguf, "tokenizer.ggml.eos_token_id", &self->eos, error)
      || !read_token_id (self, gguf, "tokenizer.ggml.eot_token_id", &self->eot, error)
      || !read_token_id (self, gguf, "tokenizer.ggml.eom_token_id", &self->eom, error)
      || !read_token_id (self, gguf, "tokenizer.ggml.unknown_token_id", &self->unk, error))
    return FALSE;
  for (guint i = 0; i < 3; i++)
    if (!read_token_id (self, gguf, fim_keys[i], &fim_ids[i], error))
      return FALSE;

  if (!read_bool (gguf, "tokenizer.ggml.add_bos_token", &self->add_bos, error)
      || !read_bool (gguf, "tokenizer.ggml.add_eos_token", &self->add_eos, error))
    return FALSE;
  if (self->add_bos && self->bos < 0)
    return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                 "tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
  if (self->add_eos && self->eos < 0)
    return fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
                 "tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set");

  /* Tokens found by their text, as llama.cpp does while files lack the keys; each is
   * made a control token. */
  if (self->eot < 0)
    {
      for (guint i = 0; i < G_N_ELEMENTS (eot_texts) && self->eot < 0; i++)
        self->eot = find_text (self, eot_texts[i]);
      if (self->eot >= 0)
        self->tokens[self->eot].attr |= ATTR_CONTROL;
    }
  if (self->eom < 0)
    {
      self->eom = find_text (self, "<|eom_id|>");
      if (self->eom >= 0)
        self->tokens[self->eom].attr |= ATTR_CONTROL;
    }

  self->eog = g_new0 (guint8, self->n_tokens);
  for (guint i = 0; i < 3; i++)
    if (fim_ids[i] >= 0)
      self->eog[fim_ids[i]] = 1;
  for (guint i = 0; i < G_N_ELEMENTS (eog_texts); i++)
    {
      gint32 id = find_text (self, eog_texts[i]);

      if (id < 0)
        continue;
      self->eog[id] = 1;
      self->tokens[id].attr |= ATTR_CONTROL;
    }
  for (const char *const *t = (const char *const[]) { "<|channel|>", "<|message|>", "<|start|>",
                                                      "<|constrain|>", NULL };
       *t != NULL; t++)
    {
      gint32 id = find_text (self, *t);

      if (id >= 0)
        self->tokens[id].attr = ATTR_USER_DEFINED;
    }
  if (self->eos >= 0)
    self->eog[self->eos] = 1;
  if (self->eot >= 0)
    self->eog[self->eot] = 1;
  if (self->eom >= 0)
    self->eog[self->eom] = 1;

  /* gpt-oss and solar-open: <|end|> ends a message, not the generation. */
  for (guint i = 0; i < self->n_tokens; i++)
    {
      const char *text = self->tokens[i].text;

      if (!self->eog[i])
        continue;
      if (strcmp (text, "<|return|>") == 0)
        has_return = TRUE;
      else if (strcmp (text, "<|call|>") == 0 || strcmp (text, "<|calls|>") == 0)
        has_call = TRUE;
      else if (strcmp (text, "<|flush|>") == 0)
        has_flush = TRUE;
      else if (strcmp (text, "<|end|>") == 0)
        end_id = i;
      else if (strcmp (text, "<|tool_response>") == 0)
        has_tool_response = TRUE;
      else if (strcmp (text, "</s>") == 0)
        s_id = i;
    }
  if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush)))
    {
      self->eog[end_id] = 0;
      self->tokens[end_id].attr = ATTR_USER_DEFINED;
    }
  if (s_id >= 0 && has_tool_response)
    {
      self->eog[s_id] = 0;
      self->tokens[s_id].attr = ATTR_NORMAL;
    }

  for (guint i = 0; i < self->n_tokens; i++)
    if (self->tokens[i].attr & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))
      g_array_append_val (specials, i);
  g_array_sort_with_data (specials, compare_special, self);
  self->n_specials = specials->len;
  self->specials = (gint32 *) g_array_free (g_steal_pointer (&specials), FALSE);
  return TRUE;
}

TailorTokenizer *
tailor_tokenizer_new_from_gguf (TailorGguf *gguf, GError **error)
{
  g_autoptr (TailorTokenizer) self = NULL;
  gint k_model, k_pre;
  const PreType *pre = NULL;

  g_return_val_if_fail (gguf != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_new0 (TailorTokenizer, 1);
  self->strings = g_string_chunk_new (1 << 16);
  self->bos = self->eos = self->eot = self->eom = self->unk = -1;

  k_model = tailor_gguf_find_key (gguf, "tokenizer.ggml.model");
  if (k_model < 0 || tailor_gguf_get_kv_type (gguf, k_model) != TAILOR_GGUF_STRING)
    {
      fail (error, TAILOR_TOKENIZER_ERROR_INVALID, gguf,
            "tokenizer.ggml.model is missing or not a string; the file has no usable vocabulary");
      return NULL;
    }
  self->model_name = g_strdup (tailor_gguf_get_val_str (gguf, k_model, NULL));
  k_pre = tailor_gguf_find_key (gguf, "tokenizer.ggml.pre");
  if (k_pre >= 0 && tailor_gguf_get_kv_type (gguf, k_pre) == TAILOR_GGUF_STRING)
    self->pre = g_strdup (tailor_gguf_get_val_str (gguf, k_pre, NULL));

  if (strcmp (self->model_name, "llama") == 0)
    {
      self->kind = TAILOR_TOKENIZER_SPM;
      self->bos = 1;
      self->eos = 2;
      self->unk = 0;
      self->add_space_prefix = TRUE;
      self->add_bos = TRUE;
    }
  else if (strcmp (self->model_name, "gpt2") == 0)
    {
      const char *name = self->pre != NULL && self->pre[0] != '\0' ? self->pre : "default";

      self->kind = TAILOR_TOKENIZER_BPE;
      for (guint i = 0; i < G_N_ELEMENTS (pre_types) && pre == NULL; i++)
        if (strcmp (pre_types[i].name, name) == 0)
          pre = &pre_types[i];
      if (pre == NULL)
        {
          fail (error, TAILOR_TOKENIZER_ERROR_UNSUPPORTED, gguf,
                "tokenizer.ggml.pre \"%s\" is a pre-tokenizer Tailor does not know; it supports "
                "llama-bpe/llama3, qwen2, smollm, gpt-2, default and their aliases", self->pre);
          return NULL;
        }
      if (self->pre == NULL || self->pre[0] == '\0')
        g_warning ("%s: tokenizer.ggml.pre is missing; using the default pre-tokenizer as llama.cpp "
                   "does, which may split text differently from the model's own tokenizer",
                   tailor_gguf_get_path (gguf));
      /* llama.cpp's defaults for BPE vocabularies, before the file's keys */
      self->bos = 11;
      self->eos = 11;
      self->clean_spaces = pre->clean_spaces;
      self->ignore_merges = pre->ignore_merges;
      self->add_bos = pre->add_bos;
      for (const char *const *p = pre->patterns; *p != NULL; p++)
        if (!splitter_init (&self->splitters[self->n_splitters++], *p, error))
          return NULL;
    }
  else
    {
      fail (error, TAILOR_TOKENIZER_ERROR_UNSUPPORTED, gguf,
            "tokenizer.ggml.model \"%s\" is not supported; Tailor reads \"llama\" (SentencePiece) "
            "and \"gpt2\" (byte-level BPE) vocabularies", self->model_name);
      return NULL;
    }
  if (self->pre == NULL)
    self->pre = g_strdup ("default");

  if (!read_bool (gguf, "tokenizer.ggml.add_space_prefix", &self->add_space_prefix, error))
    return NULL;
  if (!load_tokens (self, gguf, error))
    return NULL;
  if (self->kind == TAILOR_TOKENIZER_BPE && !load_merges (self, gguf, error))
    return NULL;
  if (pre != NULL && pre->no_bos)
    self->bos = -1;
  if (!load_specials (self, gguf, error))
    return NULL;

  self->pieces = g_new (char *, self->n_tokens);
  self->piece_lens = g_new (guint32, self->n_tokens);
  for (guint i = 0; i < self->n_tokens; i++)
    self->pieces[i] = compute_piece (self, i, &self->piece_lens[i]);

  return g_steal_pointer (&self);
}

void
tailor_tokenizer_free (TailorTokenizer *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < self->n_splitters; i++)
    g_clear_pointer (&self->splitters[i].regex, g_regex_unref);
  if (self->pieces != NULL)
    for (guint i = 0; i < self->n_tokens; i++)
      g_free (self->pieces[i]);
  g_free (self->pieces);
  g_free (self->piece_lens);
  g_free (self->specials);
  g_free (self->eog);
  strmap_clear (&self->token_map);
  strmap_clear (&self->merge_map);
  g_free (self->tokens);
  if (self->strings != NULL)
    g_string_chunk_free (self->strings);
  g_free (self->model_name);
  g_free (self->pre);
  g_free (self);
}

/* ---- Accessors ---- */

TailorTokenizerKind
tailor_tokenizer_get_kind (TailorTokenizer *self)
{
  g_return_val_if_fail (self != NULL, TAILOR_TOKENIZER_SPM);
  return self->kind;
}

const char *
tailor_tokenizer_get_model_name (TailorTokenizer *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->model_name;
}

const char *
tailor_tokenizer_get_pre (TailorTokenizer *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->pre;
}

guint
tailor_tokenizer_get_n_vocab (TailorTokenizer *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_tokens;
}

gint32
tailor_tokenizer_get_bos (TailorTokenizer *self)
{
  g_return_val_if_fail (self != NULL, -1);
  return self->bos;
}

gint32
tailor_tokenizer_get_eos (TailorTokenizer *self)
{
  g_return_val_if_fail (self != NULL, -1);
  return self->eos;
}

gint32
tailor_tokenizer_get_eot (TailorTokenizer *self)
{
  g_return_val_if_fail (self != NULL, -1);
  return self->eot;
}

gboolean
tailor_tokenizer_get_add_bos (TailorTokenizer *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->add_bos;
}

gboolean
tailor_tokenizer_get_add_eos (TailorTokenizer *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->add_eos;
}

gboolean
tailor_tokenizer_is_eog (TailorTokenizer *self, gint32 id)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return id >= 0 && (guint) id < self->n_tokens && self->eog[id];
}

TailorTokenType
tailor_tokenizer_get_token_type (TailorTokenizer *self, gint32 id)
{
  guint32 attr;

  g_return_val_if_fail (self != NULL, TAILOR_TOKEN_NORMAL);
  g_return_val_if_fail (id >= 0 && (guint) id < self->n_tokens, TAILOR_TOKEN_NORMAL);

  attr = self->tokens[id].attr;
  if (attr & ATTR_CONTROL)
    return TAILOR_TOKEN_CONTROL;
  if (attr & ATTR_USER_DEFINED)
    return TAILOR_TOKEN_USER_DEFINED;
  if (attr & ATTR_UNKNOWN)
    return TAILOR_TOKEN_UNKNOWN;
  if (attr & ATTR_BYTE)
    return TAILOR_TOKEN_BYTE;
  if (attr & ATTR_UNUSED)
    return TAILOR_TOKEN_UNUSED;
  return TAILOR_TOKEN_NORMAL;
}

const char *
tailor_tokenizer_get_token_text (TailorTokenizer *self, gint32 id)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (id >= 0 && (guint) id < self->n_tokens, NULL);
  return self->tokens[id].text;
}

gint32
tailor_tokenizer_find_token (TailorTokenizer *self, const char *text)
{
  g_return_val_if_fail (self != NULL, -1);
  g_return_val_if_fail (text != NULL, -1);
  return find_text (self, text);
}
