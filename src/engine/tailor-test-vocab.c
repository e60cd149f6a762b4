/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Made-up vocabularies for test models, learned by BPE over a small built-in corpus. */
#include "config.h"

#include <string.h>

#include "tailor-test-model.h"

/* Written for Tailor: prose, code, numbers and a few other scripts, so that learned
 * pieces look like those of a real vocabulary (common words whole, rare ones split). */
static const char *const corpus[] = {
  "The quick brown fox jumps over the lazy dog. The dog did not mind; it was asleep in "
  "the sun, and the fox was already far away by the time anyone noticed.\n",
  "Once upon a time there was a small village at the edge of a great forest. The people "
  "of the village were farmers and weavers, and every autumn they held a market where "
  "travellers came from the towns along the river to trade cloth, grain and stories.\n",
  "It is important to remember that a model is only as good as the data it was trained "
  "on. If the training data is noisy, the model will learn the noise as well as the "
  "signal. That is why we check the data before we start training, and why we keep a "
  "held-out set for evaluation.\n",
  "She said: \"I don't think we're ready yet.\" He answered, \"We'll see. You've said "
  "that before, and it's always been fine.\" They'd been working on it since Monday.\n",
  "Questions and answers:\nQ: What is the capital of France?\nA: The capital of France "
  "is Paris.\nQ: How many days are there in a leap year?\nA: There are 366 days in a "
  "leap year.\nQ: What is 12 times 12?\nA: 12 times 12 is 144.\n",
  "Meeting notes, 2024-03-15: attendance 17 of 20; budget $12,450.75 approved; next "
  "review on 2024-04-01 at 09:30. Version 3.14.159 shipped to 1,024 users (98.6% "
  "uptime). Call +1 (555) 010-2030 or write to team@example.org.\n",
  "int\nmain (int argc, char **argv)\n{\n  int total = 0;\n\n  for (int i = 0; i < argc; "
  "i++)\n    total += strlen (argv[i]);\n  printf (\"%d\\n\", total);\n  return 0;\n}\n",
  "def train(model, data, epochs=3, lr=1e-4):\n    for epoch in range(epochs):\n        "
  "for batch in data:\n            loss = model(batch)\n            loss.backward()\n"
  "            optimizer.step()\n        print(f\"epoch {epoch}: loss={loss:.4f}\")\n"
  "    return model\n",
  "const items = [1, 2, 3].map((x) => x * 2);\nif (items.length !== 3) {\n  throw new "
  "Error(\"unexpected length\");\n}\nconsole.log(JSON.stringify({ items, ok: true }));\n",
  "<html><body><p class=\"note\">Hello, world!</p><a href=\"https://example.com/"
  "index.html?q=test&lang=en\">link</a></body></html>\n",
  "Le café de la gare est fermé le dimanche. Les élèves préfèrent étudier à la "
  "bibliothèque, où il fait plus calme. Ça coûte très cher, n'est-ce pas ?\n",
  "Der Bär läuft über die Straße. Müller und Schröder trafen sich um fünf Uhr im "
  "Büro, um die Größe des Gebäudes zu besprechen.\n",
  "El niño comió una manzana en la mañana. ¿Dónde está la estación? ¡Qué día tan "
  "bonito! Señoras y señores, bienvenidos.\n",
  "Москва — столица России. Привет, как дела? Ελληνικά: καλημέρα κόσμε.\n",
  "我们今天去公园散步。天气很好，阳光明媚。中文文本用于测试分词器。\n",
  "日本語のテキストです。東京は大きな都市です。ありがとうございます。\n",
  "한국어 문장입니다. 안녕하세요, 만나서 반갑습니다.\n",
  "Emoji: 😀 😂 👍 ❤️ 🎉 🚀 👩‍💻 👨‍👩‍👧 🇫🇷 ✨ — math: α + β = γ, x² ≥ 0, ∑ 1/n², π ≈ 3.14159.\n",
  "The results were clear: the smaller model trained faster, but the larger model "
  "generalised better. With more data, both models improved. We trained each model "
  "three times with different seeds and report the mean and the standard deviation.\n",
  "Please write a short answer. Keep it simple, keep it clear, and always say what you "
  "mean. The assistant should answer the question that the user asked, not a different "
  "one, and it should say so when it does not know the answer.\n",
  "In 1969, the first people walked on the Moon. In 1989, the Berlin Wall fell. In "
  "2007, the first smartphone with a large touch screen was sold. Numbers: 0 1 2 3 4 5 "
  "6 7 8 9 10 100 1000 10000 100000 1000000 3.5 -42 7e10 0x1F 0b1010.\n",
  "    indented line with four spaces\n\tline with a tab\n\n\nthree newlines above; "
  "trailing spaces here   \nWHY ARE WE SHOUTING? Because CAPITALS Are Sometimes "
  "Used. I'M SURE YOU'LL AGREE, DON'T YOU?\n",
};

static const char llama2_chat_template[] =
  "{% if messages[0]['role'] == 'system' %}"
  "{% set loop_messages = messages[1:] %}"
  "{% set system_message = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}"
  "{% else %}{% set loop_messages = messages %}{% set system_message = '' %}{% endif %}"
  "{% for message in loop_messages %}"
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
  "{% endif %}"
  "{% if loop.index0 == 0 %}{% set content = system_message + message['content'] %}"
  "{% else %}{% set content = message['content'] %}{% endif %}"
  "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
  "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}"
  "{% endif %}{% endfor %}";

static const char chatml_chat_template[] =
  "{% for message in messages %}"
  "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
  "{% endfor %}"
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

#define SPM_SPACE "\xe2\x96\x81" /* U+2581, SentencePiece's visible space */


/* ---- A small BPE learner over unique words ---- */

typedef struct {
  GArray *syms; /* guint symbol ids */
  gint64 count;
} Word;

typedef struct {
  guint left, right;
  gint64 count;
} Pair;

typedef struct {
  guint left, right, result;
  gboolean new_symbol;
} Merge;

typedef struct {
  GPtrArray *symbols;     /* symbol id → text */
  GHashTable *by_text;    /* text → symbol id + 1 */
  GArray *words;          /* Word */
  GHashTable *word_index; /* text → index into words + 1 */
  GArray *pairs;          /* Pair */
  GHashTable *pair_index; /* guint64 (left << 32 | right) → index into pairs + 1 */
  guint64 seed;
} Learner;

static void
learner_init (Learner *l, guint64 seed)
{
  l->symbols = g_ptr_array_new_with_free_func (g_free);
  l->by_text = g_hash_table_new (g_str_hash, g_str_equal);
  l->words = g_array_new (FALSE, FALSE, sizeof (Word));
  l->word_index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  l->pairs = g_array_new (FALSE, FALSE, sizeof (Pair));
  l->pair_index = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  l->seed = seed;
}

static void
learner_clear (Learner *l)
{
  for (guint i = 0; i < l->words->len; i++)
    g_array_unref (g_array_index (l->words, Word, i).syms);
  g_array_unref (l->words);
  g_hash_table_unref (l->word_index);
  g_hash_table_unref (l->by_text);
  g_ptr_array_unref (l->symbols);
  g_array_unref (l->pairs);
  g_hash_table_unref (l->pair_index);
}

static guint
learner_symbol (Learner *l, const char *text, gsize len)
{
  g_autofree char *key = g_strndup (text, len);
  gpointer v = g_hash_table_lookup (l->by_text, key);
  char *owned;

  if (v != NULL)
    return GPOINTER_TO_UINT (v) - 1;
  owned = g_steal_pointer (&key);
  g_ptr_array_add (l->symbols, owned);
  g_hash_table_insert (l->by_text, owned, GUINT_TO_POINTER (l->symbols->len));
  return l->symbols->len - 1;
}

/* Adds one occurrence of a word; its initial symbols are its UTF-8 characters. */
static void
learner_add_word (Learner *l, const char *text, gsize len)
{
  g_autofree char *key = NULL;
  gpointer v;
  Word w;

  if (len == 0)
    return;
  key = g_strndup (text, len);
  v = g_hash_table_lookup (l->word_index, key);
  if (v != NULL)
    {
      g_array_index (l->words, Word, GPOINTER_TO_UINT (v) - 1).count++;
      return;
    }
  w.syms = g_array_new (FALSE, FALSE, sizeof (guint));
  w.count = 1;
  for (const char *p = text; p < text + len; p = g_utf8_next_char (p))
    {
      guint id = learner_symbol (l, p, g_utf8_next_char (p) - p);
      g_array_append_val (w.syms, id);
    }
  g_array_append_val (l->words, w);
  g_hash_table_insert (l->word_index, g_steal_pointer (&key), GUINT_TO_POINTER (l->words->len));
}

static void
pair_add (Learner *l, guint a, guint b, gint64 delta)
{
  guint64 key = ((guint64) a << 32) | b;
  gpointer v = g_hash_table_lookup (l->pair_index, &key);

  if (v == NULL)
    {
      Pair p = { a, b, delta };

      g_array_append_val (l->pairs, p);
      g_hash_table_insert (l->pair_index, g_memdup2 (&key, sizeof key),
                           GUINT_TO_POINTER (l->pairs->len));
      return;
    }
  g_array_index (l->pairs, Pair, GPOINTER_TO_UINT (v) - 1).count += delta;
}

static void
word_count_pairs (Learner *l, const Word *w, gint64 sign)
{
  const guint *s = (const guint *) w->syms->data;

  for (guint j = 0; j + 1 < w->syms->len; j++)
    pair_add (l, s[j], s[j + 1], sign * w->count);
}

static guint64
mix64 (guint64 x)
{
  x += G_GUINT64_CONSTANT (0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return x ^ (x >> 31);
}

/* Learns up to max_merges merges; symbols in `barrier` (may be NULL) never merge.
 * Ties between equally frequent pairs are broken by a hash of the seed, so the seed
 * changes the vocabulary a little while each seed gives one fixed result. */
static GArray *
learner_run (Learner *l, guint max_merges, const gboolean *barrier, guint n_barrier)
{
  GArray *merges = g_array_new (FALSE, FALSE, sizeof (Merge));

  for (guint i = 0; i < l->words->len; i++)
    word_count_pairs (l, &g_array_index (l->words, Word, i), 1);

  while (merges->len < max_merges)
    {
      gint best = -1;
      guint64 best_tie = 0;
      Merge m;
      g_autofree char *text = NULL;
      guint n_before;

      for (guint i = 0; i < l->pairs->len; i++)
        {
          const Pair *p = &g_array_index (l->pairs, Pair, i);
          guint64 tie;

          if (p->count <= 0)
            continue;
          if (barrier != NULL && ((p->left < n_barrier && barrier[p->left])
                                  || (p->right < n_barrier && barrier[p->right])))
            continue;
          tie = mix64 (l->seed ^ mix64 (((guint64) p->left << 32) | p->right));
          if (best < 0 || p->count > g_array_index (l->pairs, Pair, best).count
              || (p->count == g_array_index (l->pairs, Pair, best).count && tie < best_tie))
            {
              best = i;
              best_tie = tie;
            }
        }
      if (best < 0)
        break;

      m.left = g_array_index (l->pairs, Pair, best).left;
      m.right = g_array_index (l->pairs, Pair, best).right;
      text = g_strconcat (g_ptr_array_index (l->symbols, m.left),
                          g_ptr_array_index (l->symbols, m.right), NULL);
      n_before = l->symbols->len;
      m.result = learner_symbol (l, text, strlen (text));
      m.new_symbol = l->symbols->len > n_before;
      g_array_append_val (merges, m);

      for (guint i = 0; i < l->words->len; i++)
        {
          Word *w = &g_array_index (l->words, Word, i);
          guint *s = (guint *) w->syms->data;
          gboolean found = FALSE;
          guint k = 0;

          for (guint j = 0; j + 1 < w->syms->len && !found; j++)
            found = s[j] == m.left && s[j + 1] == m.right;
          if (!found)
            continue;
          word_count_pairs (l, w, -1);
          for (guint j = 0; j < w->syms->len; j++)
            {
              if (j + 1 < w->syms->len && s[j] == m.left && s[j + 1] == m.right)
                {
                  s[k++] = m.result;
                  j++;
                }
              else
                s[k++] = s[j];
            }
          g_array_set_size (w->syms, k);
          word_count_pairs (l, w, 1);
        }
    }
  return merges;
}

/* ---- GPT-2 byte-level encoding ---- */

static gboolean
gpt2_byte_is_printable (guint b)
{
  return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

/* The code point GPT-2 uses to show byte b; *order receives the byte's id in the
 * usual vocabulary layout (printable bytes first, then the others). */
static gunichar
gpt2_byte_char (guint b, guint *order)
{
  guint n_printable_before = 0, n_other_before = 0;

  for (guint i = 0; i < b; i++)
    {
      if (gpt2_byte_is_printable (i))
        n_printable_before++;
      else
        n_other_before++;
    }
  if (gpt2_byte_is_printable (b))
    {
      if (order != NULL)
        *order = n_printable_before;
      return b;
    }
  if (order != NULL)
    *order = 188 + n_other_before;
  return 256 + n_other_before;
}

static char *
gpt2_encode (const char *text, gsize len)
{
  GString *s = g_string_sized_new (len * 2);

  for (gsize i = 0; i < len; i++)
    g_string_append_unichar (s, gpt2_byte_char ((guint8) text[i], NULL));
  return g_string_free (s, FALSE);
}

/* ---- The two vocabulary kinds ---- */

/* Fills the vocabulary up to exactly n_vocab entries once the corpus has no more pieces
 * to learn, with normal tokens "<unused-K>" (as real vocabularies reserve rows): plain
 * ASCII, so the SPM and byte-level BPE decoders (ours and llama.cpp's) accept them, and
 * no learned piece or merge leads to them, so text encodes as without them. `scores` may
 * be NULL; otherwise each pad scores below every earlier token. */
static void
pad_vocab (GPtrArray *tokens, GArray *scores, GArray *types, guint n_vocab)
{
  g_autoptr (GHashTable) taken = g_hash_table_new (g_str_hash, g_str_equal);
  float score = 0.0f;
  guint k = 0;

  if (tokens->len >= n_vocab)
    return;
  for (guint i = 0; i < tokens->len; i++)
    g_hash_table_add (taken, g_ptr_array_index (tokens, i));
  for (guint i = 0; scores != NULL && i < scores->len; i++)
    score = MIN (score, g_array_index (scores, float, i));
  while (tokens->len < n_vocab)
    {
      char *text = g_strdup_printf ("<unused-%u>", k++);
      gint32 t = TAILOR_TOKEN_NORMAL;

      if (g_hash_table_contains (taken, text))
        {
          g_free (text);
          continue;
        }
      g_ptr_array_add (tokens, text);
      g_array_append_val (types, t);
      if (scores != NULL)
        {
          score -= 1.0f;
          g_array_append_val (scores, score);
        }
    }
}

static void
split_corpus (Learner *l, GRegex *re, gboolean spm)
{
  for (guint c = 0; c < G_N_ELEMENTS (corpus); c++)
    {
      g_auto (GStrv) lines = g_strsplit (corpus[c], "\n", -1);

      for (guint li = 0; lines[li] != NULL; li++)
        {
          g_autofree char *line = NULL;
          g_autoptr (GMatchInfo) mi = NULL;

          if (lines[li][0] == '\0')
            continue;
          if (spm)
            {
              g_auto (GStrv) parts = g_strsplit (lines[li], " ", -1);
              g_autofree char *joined = g_strjoinv (SPM_SPACE, parts);

              line = g_strconcat (SPM_SPACE, joined, NULL);
            }
          else
            line = g_strconcat (lines[li], "\n", NULL);

          g_regex_match (re, line, 0, &mi);
          while (g_match_info_matches (mi))
            {
              gint start, end;

              g_match_info_fetch_pos (mi, 0, &start, &end);
              if (spm)
                learner_add_word (l, line + start, end - start);
              else
                {
                  g_autofree char *enc = gpt2_encode (line + start, end - start);

                  learner_add_word (l, enc, strlen (enc));
                }
              g_match_info_next (mi, NULL);
            }
        }
    }
}

static gint
compare_char_freq (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const gint64 *freq = user_data;
  guint x = *(const guint *) a, y = *(const guint *) b;

  if (freq[x] != freq[y])
    return freq[x] > freq[y] ? -1 : 1;
  return x < y ? -1 : x > y;
}

static guint
write_spm (guint n_vocab_target, guint64 seed, TailorGgufWriter *writer)
{
  Learner l;
  g_autoptr (GRegex) re = NULL;
  g_autoptr (GPtrArray) tokens = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) scores = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr (GArray) types = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) merges = NULL;
  g_autoptr (GArray) chars = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autofree gint64 *freq = NULL;
  g_autofree gboolean *barrier = NULL;
  guint n_chars, n_base, budget, n_pieces = 0;

  learner_init (&l, seed);
  re = g_regex_new ("\\p{N}|" SPM_SPACE "?[^" SPM_SPACE "\\p{N}]+|(?:" SPM_SPACE ")+",
                    G_REGEX_OPTIMIZE, 0, NULL);
  g_assert (re != NULL);
  split_corpus (&l, re, TRUE);

  /* Every symbol so far is one character; keep the most frequent ones as pieces. */
  n_base = l.symbols->len;
  freq = g_new0 (gint64, n_base);
  for (guint i = 0; i < l.words->len; i++)
    {
      const Word *w = &g_array_index (l.words, Word, i);

      for (guint j = 0; j < w->syms->len; j++)
        freq[g_array_index (w->syms, guint, j)] += w->count;
    }
  for (guint i = 0; i < n_base; i++)
    g_array_append_val (chars, i);
  g_array_sort_with_data (chars, compare_char_freq, freq);

  budget = n_vocab_target > 259 ? n_vocab_target - 259 : 0;
  n_chars = MIN (n_base, budget / 2);
  barrier = g_new0 (gboolean, n_base);
  for (guint i = n_chars; i < n_base; i++)
    barrier[g_array_index (chars, guint, i)] = TRUE;

  merges = learner_run (&l, budget - n_chars, barrier, n_base);

  g_ptr_array_add (tokens, g_strdup ("<unk>"));
  g_ptr_array_add (tokens, g_strdup ("<s>"));
  g_ptr_array_add (tokens, g_strdup ("</s>"));
  for (guint i = 0; i < 3; i++)
    {
      float zero = 0.0f;
      gint32 t = i == 0 ? TAILOR_TOKEN_UNKNOWN : TAILOR_TOKEN_CONTROL;

      g_array_append_val (scores, zero);
      g_array_append_val (types, t);
    }
  for (guint b = 0; b < 256; b++)
    {
      float zero = 0.0f;
      gint32 t = TAILOR_TOKEN_BYTE;

      g_ptr_array_add (tokens, g_strdup_printf ("<0x%02X>", b));
      g_array_append_val (scores, zero);
      g_array_append_val (types, t);
    }
  /* Learned pieces score by merge order, so that merging the best-scoring pair first
   * (as SentencePiece's encoder does) replays the learned merges. */
  for (guint i = 0; i < merges->len; i++)
    {
      const Merge *m = &g_array_index (merges, Merge, i);
      float score = -(float) n_pieces;
      gint32 t = TAILOR_TOKEN_NORMAL;

      if (!m->new_symbol)
        continue;
      g_ptr_array_add (tokens, g_strdup (g_ptr_array_index (l.symbols, m->result)));
      g_array_append_val (scores, score);
      g_array_append_val (types, t);
      n_pieces++;
    }
  for (guint i = 0; i < n_chars; i++)
    {
      float score = -(float) (n_pieces + i);
      gint32 t = TAILOR_TOKEN_NORMAL;

      g_ptr_array_add (tokens, g_strdup (g_ptr_array_index (l.symbols,
                                                            g_array_index (chars, guint, i))));
      g_array_append_val (scores, score);
      g_array_append_val (types, t);
    }
  pad_vocab (tokens, scores, types, n_vocab_target);

  tailor_gguf_writer_set_string (writer, "tokenizer.ggml.model", "llama");
  tailor_gguf_writer_set_array_str (writer, "tokenizer.ggml.tokens",
                                    (const char *const *) tokens->pdata, tokens->len);
  tailor_gguf_writer_set_array_f32 (writer, "tokenizer.ggml.scores",
                                    (const float *) scores->data, scores->len);
  tailor_gguf_writer_set_array_i32 (writer, "tokenizer.ggml.token_type",
                                    (const gint32 *) types->data, types->len);
  tailor_gguf_writer_set_u32 (writer, "tokenizer.ggml.bos_token_id", 1);
  tailor_gguf_writer_set_u32 (writer, "tokenizer.ggml.eos_token_id", 2);
  tailor_gguf_writer_set_u32 (writer, "tokenizer.ggml.unknown_token_id", 0);
  tailor_gguf_writer_set_bool (writer, "tokenizer.ggml.add_bos_token", TRUE);
  tailor_gguf_writer_set_bool (writer, "tokenizer.ggml.add_eos_token", FALSE);
  tailor_gguf_writer_set_bool (writer, "tokenizer.ggml.add_space_prefix", TRUE);
  tailor_gguf_writer_set_string (writer, "tokenizer.chat_template", llama2_chat_template);

  learner_clear (&l);
  return tokens->len;
}

static guint
write_bpe (guint n_vocab_target, guint64 seed, TailorGgufWriter *writer)
{
  static const char *const specials[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };
  Learner l;
  g_autoptr (GRegex) re = NULL;
  g_autoptr (GPtrArray) tokens = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) merge_strs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) types = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) merges = NULL;
  guint budget, first_special;

  learner_init (&l, seed);
  re = g_regex_new ("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                    G_REGEX_OPTIMIZE, 0, NULL);
  g_assert (re != NULL);
  split_corpus (&l, re, FALSE);

  g_ptr_array_set_size (tokens, 256);
  for (guint b = 0; b < 256; b++)
    {
      guint order = 0;
      gunichar c = gpt2_byte_char (b, &order);
      char buf[8] = { 0 };

      g_unichar_to_utf8 (c, buf);
      g_ptr_array_index (tokens, order) = g_strdup (buf);
    }
  for (guint i = 0; i < 256; i++)
    {
      gint32 t = TAILOR_TOKEN_NORMAL;

      g_array_append_val (types, t);
    }

  budget = n_vocab_target > 256 + G_N_ELEMENTS (specials)
             ? n_vocab_target - 256 - G_N_ELEMENTS (specials) : 0;
  merges = learner_run (&l, G_MAXUINT, NULL, 0);
  for (guint i = 0; i < merges->len && tokens->len - 256 < budget; i++)
    {
      const Merge *m = &g_array_index (merges, Merge, i);
      const char *left = g_ptr_array_index (l.symbols, m->left);
      const char *right = g_ptr_array_index (l.symbols, m->right);
      gint32 t = TAILOR_TOKEN_NORMAL;

      g_ptr_array_add (merge_strs, g_strconcat (left, " ", right, NULL));
      if (!m->new_symbol)
        continue;
      g_ptr_array_add (tokens, g_strdup (g_ptr_array_index (l.symbols, m->result)));
      g_array_append_val (types, t);
    }

  first_special = tokens->len;
  for (guint i = 0; i < G_N_ELEMENTS (specials); i++)
    {
      gint32 t = TAILOR_TOKEN_CONTROL;

      g_ptr_array_add (tokens, g_strdup (specials[i]));
      g_array_append_val (types, t);
    }
  pad_vocab (tokens, NULL, types, n_vocab_target);

  tailor_gguf_writer_set_string (writer, "tokenizer.ggml.model", "gpt2");
  tailor_gguf_writer_set_string (writer, "tokenizer.ggml.pre", "default");
  tailor_gguf_writer_set_array_str (writer, "tokenizer.ggml.tokens",
                                    (const char *const *) tokens->pdata, tokens->len);
  tailor_gguf_writer_set_array_i32 (writer, "tokenizer.ggml.token_type",
                                    (const gint32 *) types->data, types->len);
  tailor_gguf_writer_set_array_str (writer, "tokenizer.ggml.merges",
                                    (const char *const *) merge_strs->pdata, merge_strs->len);
  tailor_gguf_writer_set_u32 (writer, "tokenizer.ggml.bos_token_id", first_special);
  tailor_gguf_writer_set_u32 (writer, "tokenizer.ggml.eos_token_id", first_special + 2);
  tailor_gguf_writer_set_u32 (writer, "tokenizer.ggml.padding_token_id", first_special);
  tailor_gguf_writer_set_bool (writer, "tokenizer.ggml.add_bos_token", FALSE);
  tailor_gguf_writer_set_bool (writer, "tokenizer.ggml.add_eos_token", FALSE);
  tailor_gguf_writer_set_string (writer, "tokenizer.chat_template", chatml_chat_template);

  learner_clear (&l);
  return tokens->len;
}

guint
tailor_test_vocab_write (TailorTokenizerKind kind, guint n_vocab_target, guint64 seed,
                         TailorGgufWriter *writer)
{
  g_return_val_if_fail (writer != NULL, 0);

  if (n_vocab_target < TAILOR_TEST_VOCAB_MIN)
    return 0;
  switch (kind)
    {
    case TAILOR_TOKENIZER_SPM:
      return write_spm (n_vocab_target, seed, writer);
    case TAILOR_TOKENIZER_BPE:
      return write_bpe (n_vocab_target, seed, writer);
    default:
      g_return_val_if_reached (0);
    }
}
