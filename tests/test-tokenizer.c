/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tokenizer tests: hand-worked SPM and BPE vocabularies, every pre-tokenizer, special
 * tokens, decoding, bad metadata, and the made-up test vocabularies. */
#include "config.h"

#include <string.h>

#include "tailor.h"

#define SP "\xe2\x96\x81"

typedef struct {
  const char *text;
  float score;
  gint32 type;
} Piece;

static TailorTokenizer *
tokenizer_from_writer (TailorGgufWriter *w, GError **error)
{
  g_autoptr (GBytes) bytes = tailor_gguf_writer_to_bytes (w);
  g_autoptr (TailorGguf) gguf = tailor_gguf_new_from_bytes (bytes, "test.gguf", error);

  return gguf != NULL ? tailor_tokenizer_new_from_gguf (gguf, error) : NULL;
}

static TailorTokenizer *
tokenizer_from_writer_ok (TailorGgufWriter *w)
{
  g_autoptr (GError) error = NULL;
  TailorTokenizer *tok = tokenizer_from_writer (w, &error);

  g_assert_no_error (error);
  g_assert_nonnull (tok);
  return tok;
}

/* <unk> <s> </s>, the 256 byte tokens, then the given pieces. */
static TailorGgufWriter *
spm_writer (const Piece *pieces, guint n)
{
  TailorGgufWriter *w = tailor_gguf_writer_new ();
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) scores = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr (GArray) types = g_array_new (FALSE, FALSE, sizeof (gint32));

  for (guint i = 0; i < 3 + 256 + n; i++)
    {
      float score = 0;
      gint32 type = i == 0 ? TAILOR_TOKEN_UNKNOWN : i < 3 ? TAILOR_TOKEN_CONTROL : TAILOR_TOKEN_BYTE;

      if (i < 3)
        g_ptr_array_add (texts, g_strdup ((const char *[]) { "<unk>", "<s>", "</s>" }[i]));
      else if (i < 259)
        g_ptr_array_add (texts, g_strdup_printf ("<0x%02X>", i - 3));
      else
        {
          g_ptr_array_add (texts, g_strdup (pieces[i - 259].text));
          score = pieces[i - 259].score;
          type = pieces[i - 259].type ? pieces[i - 259].type : TAILOR_TOKEN_NORMAL;
        }
      g_array_append_val (scores, score);
      g_array_append_val (types, type);
    }
  tailor_gguf_writer_set_string (w, "tokenizer.ggml.model", "llama");
  tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.tokens", (const char *const *) texts->pdata, texts->len);
  tailor_gguf_writer_set_array_f32 (w, "tokenizer.ggml.scores", (const float *) scores->data, scores->len);
  tailor_gguf_writer_set_array_i32 (w, "tokenizer.ggml.token_type", (const gint32 *) types->data, types->len);
  return w;
}

/* Byte b is token b (as its GPT-2 character), then merged pieces, then specials. */
static TailorGgufWriter *
bpe_writer (const char *pre, const char *const *merges, guint n_merges, const Piece *extra, guint n_extra)
{
  TailorGgufWriter *w = tailor_gguf_writer_new ();
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) types = g_array_new (FALSE, FALSE, sizeof (gint32));
  guint n_other = 0;

  for (guint b = 0; b < 256; b++)
    {
      gboolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      gunichar c = printable ? b : 256 + n_other++;
      char buf[8] = { 0 };
      gint32 t = TAILOR_TOKEN_NORMAL;

      g_unichar_to_utf8 (c, buf);
      g_ptr_array_add (texts, g_strdup (buf));
      g_array_append_val (types, t);
    }
  for (guint i = 0; i < n_merges; i++)
    {
      g_auto (GStrv) parts = g_strsplit (merges[i], " ", 2);
      gint32 t = TAILOR_TOKEN_NORMAL;

      g_ptr_array_add (texts, g_strconcat (parts[0], parts[1], NULL));
      g_array_append_val (types, t);
    }
  for (guint i = 0; i < n_extra; i++)
    {
      g_ptr_array_add (texts, g_strdup (extra[i].text));
      g_array_append_val (types, extra[i].type);
    }
  tailor_gguf_writer_set_string (w, "tokenizer.ggml.model", "gpt2");
  tailor_gguf_writer_set_string (w, "tokenizer.ggml.pre", pre);
  tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.tokens", (const char *const *) texts->pdata, texts->len);
  tailor_gguf_writer_set_array_i32 (w, "tokenizer.ggml.token_type", (const gint32 *) types->data, types->len);
  tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.merges", merges, n_merges);
  return w;
}

static GArray *
encode (TailorTokenizer *tok, const char *text, TailorTokenizeFlags flags)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));

  tailor_tokenizer_encode (tok, text, -1, flags, ids);
  return ids;
}

/* Compares ids with the expected token texts (NULL-terminated). */
static void
assert_tokens (TailorTokenizer *tok, const char *text, TailorTokenizeFlags flags, const char *const *expected)
{
  g_autoptr (GArray) ids = encode (tok, text, flags);
  g_autoptr (GString) got = g_string_new (NULL);
  g_autoptr (GString) want = g_string_new (NULL);

  for (guint i = 0; i < ids->len; i++)
    g_string_append_printf (got, "[%s]", tailor_tokenizer_get_token_text (tok, g_array_index (ids, gint32, i)));
  for (guint i = 0; expected[i] != NULL; i++)
    g_string_append_printf (want, "[%s]", expected[i]);
  g_assert_cmpstr (got->str, ==, want->str);
}

#define TOKENS(...) ((const char *const[]) { __VA_ARGS__, NULL })

static void
test_spm_merges_best_score_first (void)
{
  static const Piece pieces[] = {
    { "a", -10 }, { "b", -10 }, { "c", -10 }, { "ab", -2 }, { "bc", -1 },
    { "x", -10 }, { "y", -10 }, { "z", -10 }, { "xy", -3 }, { "yz", -3 }, { "cab", -5 },
  };
  g_autoptr (TailorGgufWriter) w = spm_writer (pieces, G_N_ELEMENTS (pieces));
  g_autoptr (TailorTokenizer) tok = NULL;

  tailor_gguf_writer_set_bool (w, "tokenizer.ggml.add_space_prefix", FALSE);
  tok = tokenizer_from_writer_ok (w);
  g_assert_cmpint (tailor_tokenizer_get_kind (tok), ==, TAILOR_TOKENIZER_SPM);
  /* "bc" scores higher than "ab", so it is merged first and "ab" never forms. */
  assert_tokens (tok, "abc", 0, TOKENS ("a", "bc"));
  assert_tokens (tok, "ab", 0, TOKENS ("ab"));
  /* equal scores: the leftmost pair first */
  assert_tokens (tok, "xyz", 0, TOKENS ("xy", "z"));
  /* a merge of merged pieces: c+ab forms "cab" */
  assert_tokens (tok, "cab", 0, TOKENS ("cab"));
}

static void
test_spm_byte_fallback (void)
{
  static const Piece pieces[] = { { "a", -1 } };
  g_autoptr (TailorGgufWriter) w = spm_writer (pieces, G_N_ELEMENTS (pieces));
  g_autoptr (TailorTokenizer) tok = NULL;
  g_autofree char *decoded = NULL;
  g_autoptr (GArray) ids = NULL;

  tailor_gguf_writer_set_bool (w, "tokenizer.ggml.add_space_prefix", FALSE);
  tok = tokenizer_from_writer_ok (w);
  assert_tokens (tok, "a\xc3\xa9\n", 0, TOKENS ("a", "<0xC3>", "<0xA9>", "<0x0A>"));
  ids = encode (tok, "a\xc3\xa9\n", 0);
  decoded = tailor_tokenizer_decode (tok, (const gint32 *) ids->data, ids->len, FALSE);
  g_assert_cmpstr (decoded, ==, "a\xc3\xa9\n");
}

static void
test_spm_space_prefix_bos_eos (void)
{
  static const Piece pieces[] = { { SP, -20 }, { "a", -10 }, { "b", -10 }, { SP "a", -1 } };
  g_autoptr (TailorGgufWriter) w = spm_writer (pieces, G_N_ELEMENTS (pieces));
  g_autoptr (TailorTokenizer) tok = NULL;

  tailor_gguf_writer_set_bool (w, "tokenizer.ggml.add_eos_token", TRUE);
  tok = tokenizer_from_writer_ok (w);
  g_assert_true (tailor_tokenizer_get_add_bos (tok));
  g_assert_true (tailor_tokenizer_get_add_eos (tok));
  assert_tokens (tok, "a b", 0, TOKENS (SP "a", SP, "b"));
  assert_tokens (tok, "a b", TAILOR_TOKENIZE_ADD_SPECIAL, TOKENS ("<s>", SP "a", SP, "b", "</s>"));
  /* llama.cpp: an empty text with specials added is just BOS and EOS */
  assert_tokens (tok, "", TAILOR_TOKENIZE_ADD_SPECIAL, TOKENS ("<s>", "</s>"));
}

static void
test_spm_special_tokens (void)
{
  static const Piece pieces[] = { { SP, -20 }, { "a", -10 }, { "b", -10 }, { SP "a", -1 } };
  g_autoptr (TailorGgufWriter) w = spm_writer (pieces, G_N_ELEMENTS (pieces));
  g_autoptr (TailorTokenizer) tok = tokenizer_from_writer_ok (w);

  assert_tokens (tok, "<s>a", 0, TOKENS (SP, "<0x3C>", "<0x73>", "<0x3E>", "a"));
  assert_tokens (tok, "<s>a", TAILOR_TOKENIZE_PARSE_SPECIAL, TOKENS ("<s>", SP "a"));
  /* text after a special token gets the space prefix again, as in llama.cpp */
  assert_tokens (tok, "a</s>b", TAILOR_TOKENIZE_PARSE_SPECIAL, TOKENS (SP "a", "</s>", SP, "b"));
  g_assert_true (tailor_tokenizer_is_eog (tok, 2));
  g_assert_false (tailor_tokenizer_is_eog (tok, 1));
}

static void
test_spm_decode (void)
{
  static const Piece pieces[] = { { SP, -20 }, { "a", -10 }, { "b", -10 }, { SP "a", -1 } };
  g_autoptr (TailorGgufWriter) w = spm_writer (pieces, G_N_ELEMENTS (pieces));
  g_autoptr (TailorTokenizer) tok = tokenizer_from_writer_ok (w);
  gint32 sa = tailor_tokenizer_find_token (tok, SP "a");
  gint32 sp = tailor_tokenizer_find_token (tok, SP);
  gint32 b = tailor_tokenizer_find_token (tok, "b");
  gint32 plain[] = { sa, sp, b };
  gint32 with_bos[] = { 1, sa };
  g_autofree char *d1 = tailor_tokenizer_decode (tok, plain, 3, FALSE);
  g_autofree char *d2 = tailor_tokenizer_decode (tok, with_bos, 2, FALSE);
  g_autofree char *d3 = tailor_tokenizer_decode (tok, with_bos, 2, TRUE);
  g_autoptr (GBytes) piece = tailor_tokenizer_token_to_piece (tok, sa, FALSE);
  g_autoptr (GBytes) bos_hidden = tailor_tokenizer_token_to_piece (tok, 1, FALSE);
  g_autoptr (GBytes) bos_shown = tailor_tokenizer_token_to_piece (tok, 1, TRUE);

  g_assert_cmpstr (d1, ==, "a b");
  /* llama.cpp strips the space from the first token only, even when that is a hidden BOS */
  g_assert_cmpstr (d2, ==, " a");
  g_assert_cmpstr (d3, ==, "<s> a");
  g_assert_cmpmem (g_bytes_get_data (piece, NULL), g_bytes_get_size (piece), " a", 2);
  g_assert_cmpuint (g_bytes_get_size (bos_hidden), ==, 0);
  g_assert_cmpmem (g_bytes_get_data (bos_shown, NULL), g_bytes_get_size (bos_shown), "<s>", 3);
}

static const char *const abc_merges[] = { "a b", "b c", "ab c", "\xc4\xa0 a" };
static const Piece abc_specials[] = {
  { "<|im_start|>", 0, TAILOR_TOKEN_CONTROL },
  { "<|im_end|>", 0, TAILOR_TOKEN_CONTROL },
  { "<tool>", 0, TAILOR_TOKEN_USER_DEFINED },
};

static void
test_bpe_merges_by_rank (void)
{
  g_autoptr (TailorGgufWriter) w = bpe_writer ("gpt-2", abc_merges, G_N_ELEMENTS (abc_merges), NULL, 0);
  g_autoptr (TailorTokenizer) tok = tokenizer_from_writer_ok (w);

  g_assert_cmpint (tailor_tokenizer_get_kind (tok), ==, TAILOR_TOKENIZER_BPE);
  g_assert_cmpstr (tailor_tokenizer_get_pre (tok), ==, "gpt-2");
  /* "a b" ranks before "b c": ab, then "ab c" */
  assert_tokens (tok, "abc", 0, TOKENS ("abc"));
  assert_tokens (tok, "bcab", 0, TOKENS ("bc", "ab"));
  assert_tokens (tok, " a", 0, TOKENS ("\xc4\xa0" "a"));
  /* bytes map to GPT-2's printable characters */
  assert_tokens (tok, "\n\xc3\xa9", 0, TOKENS ("\xc4\x8a", "\xc3\x83", "\xc2\xa9"));
}

static void
test_bpe_special_tokens (void)
{
  g_autoptr (TailorGgufWriter) w = bpe_writer ("gpt-2", abc_merges, G_N_ELEMENTS (abc_merges),
                                               abc_specials, G_N_ELEMENTS (abc_specials));
  g_autoptr (TailorTokenizer) tok = tokenizer_from_writer_ok (w);
  gint32 end = tailor_tokenizer_find_token (tok, "<|im_end|>");
  gint32 tool = tailor_tokenizer_find_token (tok, "<tool>");
  g_autoptr (GArray) ids = encode (tok, "ab<|im_end|><tool>", TAILOR_TOKENIZE_PARSE_SPECIAL);
  g_autofree char *hidden = tailor_tokenizer_decode (tok, (const gint32 *) ids->data, ids->len, FALSE);
  g_autofree char *shown = tailor_tokenizer_decode (tok, (const gint32 *) ids->data, ids->len, TRUE);

  assert_tokens (tok, "ab<|im_end|><tool>", TAILOR_TOKENIZE_PARSE_SPECIAL, TOKENS ("ab", "<|im_end|>", "<tool>"));
  /* control tokens stay text unless asked for; user-defined ones are always matched */
  assert_tokens (tok, "<|im_end|><tool>", 0,
                 TOKENS ("<", "|", "i", "m", "_", "e", "n", "d", "|", ">", "<tool>"));
  g_assert_cmpstr (hidden, ==, "ab<tool>");
  g_assert_cmpstr (shown, ==, "ab<|im_end|><tool>");
  g_assert_true (tailor_tokenizer_is_eog (tok, end));
  g_assert_false (tailor_tokenizer_is_eog (tok, tool));
  g_assert_cmpint (tailor_tokenizer_get_eot (tok), ==, end);
  g_assert_cmpint (tailor_tokenizer_get_token_type (tok, end), ==, TAILOR_TOKEN_CONTROL);
}

typedef struct {
  const char *pre;
  const char *text;
  const char *const *words;
} SplitCase;

static void
test_bpe_pre_tokenizer_splits (void)
{
  const SplitCase cases[] = {
    { "gpt-2", "  hello", TOKENS (" ", " hello") },
    { "gpt-2", "don't", TOKENS ("don", "'t") },
    { "gpt-2", "DON'T", TOKENS ("DON", "'", "T") },
    { "gpt-2", "123456", TOKENS ("123456") },
    { "gpt-2", "\n\n\t x", TOKENS ("\n\n\t", " x") },
    { "gpt-2", "\xe4\xbd\xa0\xe5\xa5\xbd \xe4\xb8\x96", TOKENS ("\xe4\xbd\xa0\xe5\xa5\xbd", " \xe4\xb8\x96") },
    { "gpt-2", "\xf0\x9f\x91\x8d\xf0\x9f\x91\x8d ok", TOKENS ("\xf0\x9f\x91\x8d\xf0\x9f\x91\x8d", " ok") },
    { "gpt-2", "a  ", TOKENS ("a", "  ") },
    { "llama-bpe", "  hello", TOKENS (" ", " hello") },
    { "llama-bpe", "DON'T", TOKENS ("DON", "'T") },
    { "llama-bpe", "1234567", TOKENS ("123", "456", "7") },
    { "llama-bpe", "\n\n\t x", TOKENS ("\n\n", "\t", " x") },
    { "llama3", "(hi)", TOKENS ("(hi", ")") },
    { "llama3", "x!\n\ny", TOKENS ("x", "!\n\n", "y") },
    { "qwen2", "123", TOKENS ("1", "2", "3") },
    { "qwen2", "DON'T", TOKENS ("DON", "'T") },
    { "qwen2", "\n\n\t x", TOKENS ("\n\n", "\t", " x") },
    { "qwen2", "\xe4\xbd\xa0\xe5\xa5\xbd", TOKENS ("\xe4\xbd\xa0\xe5\xa5\xbd") },
    { "smollm", "abc123", TOKENS ("abc", "1", "2", "3") },
    { "smollm", "  hello", TOKENS (" ", " hello") },
    { "default", "Hello, world!", TOKENS ("Hello", ",", " world", "!") },
    { "default", "1234567", TOKENS ("123", "456", "7") },
    { "default", "don't", TOKENS ("don", "'", "t") },
    { "default", "a+b=c", TOKENS ("a", "+", "b", "=", "c") },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (TailorGgufWriter) w = bpe_writer (cases[i].pre, abc_merges, G_N_ELEMENTS (abc_merges), NULL, 0);
      g_autoptr (TailorTokenizer) tok = tokenizer_from_writer_ok (w);
      g_auto (GStrv) words = tailor_tokenizer_pre_split (tok, cases[i].text, -1);
      g_autofree char *got = g_strjoinv ("|", words);
      g_autofree char *want = g_strjoinv ("|", (char **) cases[i].words);

      g_test_message ("pre %s on \"%s\"", cases[i].pre, cases[i].text);
      g_assert_cmpstr (got, ==, want);
    }
}

static void
test_bpe_decode_cleans_spaces_like_llama_cpp (void)
{
  g_autoptr (TailorGgufWriter) w1 = bpe_writer ("default", abc_merges, G_N_ELEMENTS (abc_merges), NULL, 0);
  g_autoptr (TailorGgufWriter) w2 = bpe_writer ("qwen2", abc_merges, G_N_ELEMENTS (abc_merges), NULL, 0);
  g_autoptr (TailorTokenizer) t1 = tokenizer_from_writer_ok (w1);
  g_autoptr (TailorTokenizer) t2 = tokenizer_from_writer_ok (w2);
  g_autoptr (GArray) i1 = encode (t1, "a , b 's", 0);
  g_autoptr (GArray) i2 = encode (t2, "a , b 's", 0);
  g_autofree char *d1 = tailor_tokenizer_decode (t1, (const gint32 *) i1->data, i1->len, FALSE);
  g_autofree char *d2 = tailor_tokenizer_decode (t2, (const gint32 *) i2->data, i2->len, FALSE);

  g_assert_cmpstr (d1, ==, "a, b's");
  g_assert_cmpstr (d2, ==, "a , b 's");
}

static const char *const round_trip_texts[] = {
  "Hello world", "  leading spaces", "trailing spaces  ", "tabs\tand\nnewlines\n\n", "don't DON'T",
  "123456789012", "3.14159 and 1e-10", "caf\xc3\xa9 na\xc3\xafve", "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c",
  "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb emoji", "int main (void) { return 0; }", "e\xcc\x81 combining",
  "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", "", " ", "a", "x\r\ny",
};

static void
test_test_vocab_round_trips (void)
{
  for (int kind = TAILOR_TOKENIZER_SPM; kind <= TAILOR_TOKENIZER_BPE; kind++)
    {
      g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
      g_autoptr (TailorGgufWriter) w_again = tailor_gguf_writer_new ();
      g_autoptr (GBytes) b1 = NULL;
      g_autoptr (GBytes) b2 = NULL;
      g_autoptr (TailorTokenizer) tok = NULL;
      guint n = tailor_test_vocab_write (kind, 800, 42, w);
      guint n_merged = 0;

      g_assert_cmpuint (tailor_test_vocab_write (kind, 800, 42, w_again), ==, n);
      b1 = tailor_gguf_writer_to_bytes (w);
      b2 = tailor_gguf_writer_to_bytes (w_again);
      g_assert_true (g_bytes_equal (b1, b2));
      g_assert_cmpuint (n, >=, 700);
      g_assert_cmpuint (n, <=, 800);

      tok = tokenizer_from_writer_ok (w);
      g_assert_cmpuint (tailor_tokenizer_get_n_vocab (tok), ==, n);
      for (guint i = 0; i < G_N_ELEMENTS (round_trip_texts); i++)
        {
          g_autoptr (GArray) ids = encode (tok, round_trip_texts[i], 0);
          g_autofree char *back = tailor_tokenizer_decode (tok, (const gint32 *) ids->data, ids->len, FALSE);

          g_assert_cmpstr (back, ==, round_trip_texts[i]);
          n_merged += ids->len < strlen (round_trip_texts[i]);
        }
      /* a learned vocabulary merges common text into fewer tokens than bytes */
      g_assert_cmpuint (n_merged, >=, 10);
      if (kind == TAILOR_TOKENIZER_BPE)
        {
          gint32 end = tailor_tokenizer_find_token (tok, "<|im_end|>");

          g_assert_cmpint (end, >=, 0);
          g_assert_true (tailor_tokenizer_is_eog (tok, end));
          g_assert_cmpint (tailor_tokenizer_get_token_type (tok, end), ==, TAILOR_TOKEN_CONTROL);
        }
      else
        g_assert_cmpint (tailor_tokenizer_find_token (tok, "<0x0A>"), >=, 0);
    }
}

static void
test_test_vocab_seed_changes_vocabulary (void)
{
  g_autoptr (TailorGgufWriter) w1 = tailor_gguf_writer_new ();
  g_autoptr (TailorGgufWriter) w2 = tailor_gguf_writer_new ();
  g_autoptr (GBytes) b1 = NULL;
  g_autoptr (GBytes) b2 = NULL;

  tailor_test_vocab_write (TAILOR_TOKENIZER_BPE, 900, 1, w1);
  tailor_test_vocab_write (TAILOR_TOKENIZER_BPE, 900, 2, w2);
  b1 = tailor_gguf_writer_to_bytes (w1);
  b2 = tailor_gguf_writer_to_bytes (w2);
  g_assert_false (g_bytes_equal (b1, b2));
}

static void
test_encodes_a_megabyte_quickly (void)
{
  for (int kind = TAILOR_TOKENIZER_SPM; kind <= TAILOR_TOKENIZER_BPE; kind++)
    {
      g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
      g_autoptr (TailorTokenizer) tok = NULL;
      g_autoptr (GString) text = g_string_new (NULL);
      g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
      gint64 t0;
      double secs;

      tailor_test_vocab_write (kind, 1000, 1, w);
      tok = tokenizer_from_writer_ok (w);
      for (guint i = 0; text->len < 1 << 20; i++)
        g_string_append (text, round_trip_texts[i % G_N_ELEMENTS (round_trip_texts)]);
      t0 = g_get_monotonic_time ();
      tailor_tokenizer_encode (tok, text->str, text->len, 0, ids);
      secs = (g_get_monotonic_time () - t0) / 1e6;
      g_test_message ("kind %d: 1 MiB in %.3f s, %u tokens", kind, secs, ids->len);
      /* about 0.2-0.3 s here; the bound leaves room for a loaded CI machine */
      g_assert_cmpfloat (secs, <, 3.0);
      g_assert_cmpuint (ids->len, >, 1000);
    }
}

static void
assert_load_fails (TailorGgufWriter *w, gint code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorTokenizer) tok = tokenizer_from_writer (w, &error);

  g_assert_null (tok);
  g_assert_error (error, TAILOR_TOKENIZER_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
}

static void
test_rejects_bad_metadata (void)
{
  static const Piece pieces[] = { { "a", -1 }, { "b", -2 } };
  static const char *const dup[] = { "a", "b", "a" };
  static const float short_scores[] = { 0, 0 };

  {
    g_autoptr (TailorGgufWriter) w = spm_writer (pieces, G_N_ELEMENTS (pieces));

    tailor_gguf_writer_set_array_f32 (w, "tokenizer.ggml.scores", short_scores, 2);
    assert_load_fails (w, TAILOR_TOKENIZER_ERROR_INVALID, "tokenizer.ggml.scores");
  }
  {
    g_autoptr (TailorGgufWriter) w = spm_writer (pieces, G_N_ELEMENTS (pieces));

    tailor_gguf_writer_set_string (w, "tokenizer.ggml.model", "bert");
    assert_load_fails (w, TAILOR_TOKENIZER_ERROR_UNSUPPORTED, "\"bert\"");
  }
  {
    g_autoptr (TailorGgufWriter) w = bpe_writer ("made-up-pre", abc_merges, 1, NULL, 0);

    assert_load_fails (w, TAILOR_TOKENIZER_ERROR_UNSUPPORTED, "\"made-up-pre\"");
  }
  {
    g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
    static const float scores[] = { 0, 0, 0 };

    tailor_gguf_writer_set_string (w, "tokenizer.ggml.model", "llama");
    tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.tokens", dup, 3);
    tailor_gguf_writer_set_array_f32 (w, "tokenizer.ggml.scores", scores, 3);
    assert_load_fails (w, TAILOR_TOKENIZER_ERROR_INVALID, "twice");
  }
  {
    g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
    static const char *const few[] = { "a", "b" };

    tailor_gguf_writer_set_string (w, "tokenizer.ggml.model", "gpt2");
    tailor_gguf_writer_set_string (w, "tokenizer.ggml.pre", "gpt-2");
    tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.tokens", few, 2);
    assert_load_fails (w, TAILOR_TOKENIZER_ERROR_INVALID, "tokenizer.ggml.merges");
    tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.merges", abc_merges, 1);
    tailor_gguf_writer_set_bool (w, "tokenizer.ggml.add_bos_token", TRUE);
    assert_load_fails (w, TAILOR_TOKENIZER_ERROR_INVALID, "bos_token_id");
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tokenizer/spm/merges-best-score-first", test_spm_merges_best_score_first);
  g_test_add_func ("/tokenizer/spm/byte-fallback-for-unknown-characters", test_spm_byte_fallback);
  g_test_add_func ("/tokenizer/spm/space-prefix-bos-eos", test_spm_space_prefix_bos_eos);
  g_test_add_func ("/tokenizer/spm/special-tokens-only-when-parsed", test_spm_special_tokens);
  g_test_add_func ("/tokenizer/spm/decode-drops-first-leading-space", test_spm_decode);
  g_test_add_func ("/tokenizer/bpe/merges-by-rank", test_bpe_merges_by_rank);
  g_test_add_func ("/tokenizer/bpe/control-and-user-defined-tokens", test_bpe_special_tokens);
  g_test_add_func ("/tokenizer/bpe/pre-tokenizer-splits", test_bpe_pre_tokenizer_splits);
  g_test_add_func ("/tokenizer/bpe/decode-cleans-spaces-like-llama-cpp", test_bpe_decode_cleans_spaces_like_llama_cpp);
  g_test_add_func ("/tokenizer/test-vocab/deterministic-and-round-trips", test_test_vocab_round_trips);
  g_test_add_func ("/tokenizer/test-vocab/seed-changes-vocabulary", test_test_vocab_seed_changes_vocabulary);
  g_test_add_func ("/tokenizer/encodes-a-megabyte-quickly", test_encodes_a_megabyte_quickly);
  g_test_add_func ("/tokenizer/rejects-bad-metadata", test_rejects_bad_metadata);

  return g_test_run ();
}
