/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Dataset hygiene: MinHash/LSH deduplication and the leak query, PII and secret detection with
 * redaction, glossary normalisation, counter-example tagging, length and balance reports. */
#include "config.h"

#include "tailor-data-hygiene.h"

#include <math.h>
#include <string.h>

#include "tailor-parallel.h"

/* ========================================================================================== */
/* Hashing */

/* The splitmix64 finaliser: a bijective mix with full avalanche. */
static inline guint64
mix64 (guint64 x)
{
  x ^= x >> 30;
  x *= G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  x ^= x >> 27;
  x *= G_GUINT64_CONSTANT (0x94d049bb133111eb);
  x ^= x >> 31;
  return x;
}

/* Reads little-endian words so that hashes (stored in the catalogue) do not depend on the host. */
static guint64
hash_bytes (const char *p, gsize n, guint64 seed)
{
  guint64 h = mix64 (seed ^ (n * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15)));
  guint64 w;

  while (n >= 8)
    {
      memcpy (&w, p, 8);
      h = mix64 (h ^ GUINT64_FROM_LE (w)) + G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
      p += 8;
      n -= 8;
    }
  w = 0;
  memcpy (&w, p, n);
  return mix64 (h ^ GUINT64_FROM_LE (w) ^ ((guint64) n << 56));
}

/* ========================================================================================== */
/* Signatures */

#define SIGNATURE_MAGIC       "TLSG"
#define SIGNATURE_VERSION     1
#define DEFAULT_SHINGLE_WORDS 5
#define DEFAULT_THRESHOLD     0.8
#define DEFAULT_SEED          G_GUINT64_CONSTANT (0x7a11035eed)
/* A pair at exactly the threshold must become an LSH candidate at least this often. */
#define CANDIDATE_PROBABILITY 0.995

struct _TailorSignatureSet
{
  TailorDedupOptions options;
  guint n;
  guint32 *minhash;   /* n * TAILOR_MINHASH_SIZE */
  guint64 *text_hash; /* n * 2: two independent 64-bit hashes of the normalised text */
  guint8 *counter;    /* n: tagged counter-example */
  /* h_i(x) = (mul_i * x + add_i) >> 32 over 32-bit x, the multiply-add-shift family (strongly
   * universal for 32-bit keys); mul_i is kept as two halves so that the loop vectorises with
   * 32 × 32 → 64-bit multiplies. */
  guint32 mul_lo[TAILOR_MINHASH_SIZE];
  guint32 mul_hi[TAILOR_MINHASH_SIZE];
  guint64 add[TAILOR_MINHASH_SIZE];
};

void
tailor_dedup_options_init (TailorDedupOptions *options)
{
  g_return_if_fail (options != NULL);

  options->shingle_words = DEFAULT_SHINGLE_WORDS;
  options->threshold = DEFAULT_THRESHOLD;
  options->seed = DEFAULT_SEED;
  options->bands = 0;
  options->rows = 0;
}

void
tailor_dedup_choose_bands (double threshold, guint *bands, guint *rows)
{
  guint r;

  g_return_if_fail (bands != NULL && rows != NULL);

  threshold = CLAMP (threshold, 0.01, 1.0);
  for (r = TAILOR_MINHASH_SIZE; r > 1; r--)
    {
      guint b = TAILOR_MINHASH_SIZE / r;
      double p = 1.0 - pow (1.0 - pow (threshold, r), b);

      if (p >= CANDIDATE_PROBABILITY)
        break;
    }
  *rows = r;
  *bands = TAILOR_MINHASH_SIZE / r;
}

static gboolean
resolve_options (const TailorDedupOptions *in, TailorDedupOptions *out, GError **error)
{
  if (in != NULL)
    *out = *in;
  else
    tailor_dedup_options_init (out);

  if (out->shingle_words == 0 || out->shingle_words > 64)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "Shingle size %u is out of range; use 1 to 64 words (default %d)",
                   out->shingle_words, DEFAULT_SHINGLE_WORDS);
      return FALSE;
    }
  if (!(out->threshold > 0.0 && out->threshold <= 1.0))
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "Near-duplicate threshold %g is out of range; use a Jaccard similarity above 0 "
                   "and at most 1 (default %g)",
                   out->threshold, DEFAULT_THRESHOLD);
      return FALSE;
    }
  if (out->bands == 0 || out->rows == 0)
    tailor_dedup_choose_bands (out->threshold, &out->bands, &out->rows);
  if ((guint64) out->bands * out->rows > TAILOR_MINHASH_SIZE)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "LSH banding %u bands × %u rows needs more than the %d MinHash values; "
                   "lower one, or leave both 0 to choose them from the threshold",
                   out->bands, out->rows, TAILOR_MINHASH_SIZE);
      return FALSE;
    }
  return TRUE;
}

static TailorSignatureSet *
signature_set_alloc (const TailorDedupOptions *options, guint n)
{
  TailorSignatureSet *self = g_new0 (TailorSignatureSet, 1);
  guint64 state = options->seed;
  guint i;

  self->options = *options;
  self->n = n;
  self->minhash = g_new (guint32, (gsize) MAX (n, 1) * TAILOR_MINHASH_SIZE);
  self->text_hash = g_new0 (guint64, (gsize) MAX (n, 1) * 2);
  self->counter = g_new0 (guint8, MAX (n, 1));
  for (i = 0; i < TAILOR_MINHASH_SIZE; i++)
    {
      guint64 mul;

      state += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
      mul = mix64 (state);
      self->mul_lo[i] = (guint32) mul;
      self->mul_hi[i] = (guint32) (mul >> 32);
      state += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
      self->add[i] = mix64 (state);
    }
  return self;
}

static guint
example_n_fields (const TailorExample *example)
{
  return example->kind == TAILOR_EXAMPLE_CHAT ? example->messages->len : 1;
}

static const char *
example_field (const TailorExample *example, guint field)
{
  if (example->kind == TAILOR_EXAMPLE_CHAT)
    return g_array_index (example->messages, TailorMessage, field).content;
  return example->text;
}

/* Appends the hash of every word of text: words are split at ASCII white space, which is also
 * where tailor_example_normalized_text puts its single spaces. */
static void
hash_words (const char *text, gsize len, guint64 seed, GArray *words)
{
  const char *p = text, *end = text + len;

  while (p < end)
    {
      const char *start;
      guint64 h;

      while (p < end && g_ascii_isspace (*p))
        p++;
      if (p == end)
        break;
      start = p;
      while (p < end && !g_ascii_isspace (*p))
        p++;
      h = hash_bytes (start, p - start, seed);
      g_array_append_val (words, h);
    }
}

static gboolean
example_is_ascii (const TailorExample *example)
{
  guint f;

  for (f = 0; f < example_n_fields (example); f++)
    {
      const guchar *p = (const guchar *) example_field (example, f);

      for (; p != NULL && *p != '\0'; p++)
        if (*p >= 0x80)
          return FALSE;
    }
  return TRUE;
}

/* The word hashes of the normalised text. NFKC and case folding leave ASCII as it is but for
 * upper case, so ASCII examples skip the (slow) Unicode normalisation and give the same words. */
static void
example_word_hashes (const TailorExample *example, guint64 seed, GArray *words, GString *scratch)
{
  guint f;

  if (!example_is_ascii (example))
    {
      g_autofree char *text = tailor_example_normalized_text (example);

      hash_words (text, strlen (text), seed, words);
      return;
    }
  for (f = 0; f < example_n_fields (example); f++)
    {
      const char *text = example_field (example, f);
      gsize i;

      if (text == NULL)
        continue;
      g_string_set_size (scratch, 0);
      g_string_append (scratch, text);
      for (i = 0; i < scratch->len; i++)
        scratch->str[i] = g_ascii_tolower (scratch->str[i]);
      hash_words (scratch->str, scratch->len, seed, words);
    }
}

/* x86-64 builds target the 2003 baseline; the MinHash loop is four times wider with AVX2. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define MINHASH_CLONES __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef MINHASH_CLONES
#define MINHASH_CLONES
#endif

/* Word shingles, folded to 32 bits, min-hashed. */
MINHASH_CLONES static void
compute_minhash (const TailorSignatureSet *set, const GArray *words, guint32 *out)
{
  guint k = set->options.shingle_words;
  guint64 seed = set->options.seed;
  const guint64 *w = (const guint64 *) words->data;
  guint n_shingles;
  guint i, s;

  for (i = 0; i < TAILOR_MINHASH_SIZE; i++)
    out[i] = G_MAXUINT32;
  if (words->len == 0)
    return;

  /* A text shorter than one shingle is one shingle. */
  n_shingles = words->len >= k ? words->len - k + 1 : 1;
  for (s = 0; s < n_shingles; s++)
    {
      guint64 h = seed;
      guint32 x;
      guint t;

      for (t = 0; t < k && s + t < words->len; t++)
        h = mix64 (h ^ w[s + t]) + t;
      x = (guint32) (h ^ (h >> 32));
      /* (mul * x + add) mod 2^64 >> 32 == ((mul_lo * x + add) >> 32) + mul_hi * x mod 2^32. */
      for (i = 0; i < TAILOR_MINHASH_SIZE; i++)
        {
          guint64 low = (guint64) set->mul_lo[i] * x + set->add[i];
          guint32 v = (guint32) (low >> 32) + set->mul_hi[i] * x;

          out[i] = MIN (out[i], v);
        }
    }
}

typedef struct
{
  TailorSignatureSet *set;
  GPtrArray *examples;
  GCancellable *cancellable;
} SignatureJob;

static void
signature_range (gint64 begin, gint64 end, gpointer user_data)
{
  SignatureJob *job = user_data;
  g_autoptr (GArray) words = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr (GString) scratch = g_string_new (NULL);
  gint64 i;

  for (i = begin; i < end; i++)
    {
      const TailorExample *example = g_ptr_array_index (job->examples, i);
      guint64 a = G_GUINT64_CONSTANT (0x5bd1e995), b = G_GUINT64_CONSTANT (0xc2b2ae3d27d4eb4f);
      guint w;

      if (job->cancellable != NULL && g_cancellable_is_cancelled (job->cancellable))
        return;
      g_array_set_size (words, 0);
      example_word_hashes (example, job->set->options.seed, words, scratch);
      /* Exact identity: the word sequence, through two independent 64-bit chains. */
      for (w = 0; w < words->len; w++)
        {
          guint64 h = g_array_index (words, guint64, w);

          a = mix64 (a ^ h);
          b = mix64 (b + h * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15)) ^ w;
        }
      job->set->text_hash[2 * i] = mix64 (a ^ words->len);
      job->set->text_hash[2 * i + 1] = mix64 (b + words->len);
      job->set->counter[i] = tailor_example_has_tag (example, TAILOR_TAG_COUNTER_EXAMPLE);
      compute_minhash (job->set, words, job->set->minhash + (gsize) i * TAILOR_MINHASH_SIZE);
    }
}

static gboolean
set_cancelled_error (GCancellable *cancellable, GError **error)
{
  if (cancellable == NULL || !g_cancellable_is_cancelled (cancellable))
    return FALSE;
  g_set_error_literal (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_CANCELLED,
                       "Hygiene check cancelled");
  return TRUE;
}

TailorSignatureSet *
tailor_signature_set_new (GPtrArray *examples,
                          const TailorDedupOptions *options,
                          GCancellable *cancellable,
                          GError **error)
{
  TailorDedupOptions resolved;
  g_autoptr (TailorSignatureSet) self = NULL;
  SignatureJob job;

  g_return_val_if_fail (examples != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!resolve_options (options, &resolved, error))
    return NULL;
  self = signature_set_alloc (&resolved, examples->len);
  job.set = self;
  job.examples = examples;
  job.cancellable = cancellable;
  tailor_parallel_for (examples->len, 64, signature_range, &job);
  if (set_cancelled_error (cancellable, error))
    return NULL;
  return g_steal_pointer (&self);
}

guint
tailor_signature_set_get_size (const TailorSignatureSet *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n;
}

const TailorDedupOptions *
tailor_signature_set_get_options (const TailorSignatureSet *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return &self->options;
}

const guint32 *
tailor_signature_set_get_minhash (const TailorSignatureSet *self, guint i)
{
  g_return_val_if_fail (self != NULL && i < self->n, NULL);
  return self->minhash + (gsize) i * TAILOR_MINHASH_SIZE;
}

static double
jaccard_estimate (const guint32 *a, const guint32 *b)
{
  guint equal = 0;
  guint i;

  for (i = 0; i < TAILOR_MINHASH_SIZE; i++)
    equal += a[i] == b[i];
  return (double) equal / TAILOR_MINHASH_SIZE;
}

double
tailor_signature_set_estimate_jaccard (const TailorSignatureSet *a,
                                       guint i,
                                       const TailorSignatureSet *b,
                                       guint j)
{
  g_return_val_if_fail (a != NULL && b != NULL, 0.0);
  g_return_val_if_fail (i < a->n && j < b->n, 0.0);
  g_return_val_if_fail (a->options.seed == b->options.seed, 0.0);
  g_return_val_if_fail (a->options.shingle_words == b->options.shingle_words, 0.0);

  return jaccard_estimate (a->minhash + (gsize) i * TAILOR_MINHASH_SIZE,
                           b->minhash + (gsize) j * TAILOR_MINHASH_SIZE);
}

static void
put_u32 (GByteArray *out, guint32 v)
{
  v = GUINT32_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &v, 4);
}

static void
put_u64 (GByteArray *out, guint64 v)
{
  v = GUINT64_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &v, 8);
}

static guint32
get_u32 (const guint8 *p)
{
  guint32 v;

  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}

static guint64
get_u64 (const guint8 *p)
{
  guint64 v;

  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

/* Layout: "TLSG", u32 version, u32 shingle words, f64 threshold (bits), u64 seed, u32 bands,
 * u32 rows, u32 n; then n × (u64 hash, u64 hash, u8 counter-example, 128 × u32 MinHash). */
#define SIGNATURE_HEADER_SIZE (4 + 4 + 4 + 8 + 8 + 4 + 4 + 4)
#define SIGNATURE_RECORD_SIZE (8 + 8 + 1 + 4 * TAILOR_MINHASH_SIZE)

GBytes *
tailor_signature_set_serialize (const TailorSignatureSet *self)
{
  g_autoptr (GByteArray) out = NULL;
  guint64 threshold_bits;
  guint i, j;

  g_return_val_if_fail (self != NULL, NULL);

  out = g_byte_array_sized_new (SIGNATURE_HEADER_SIZE + (gsize) self->n * SIGNATURE_RECORD_SIZE);
  g_byte_array_append (out, (const guint8 *) SIGNATURE_MAGIC, 4);
  put_u32 (out, SIGNATURE_VERSION);
  put_u32 (out, self->options.shingle_words);
  memcpy (&threshold_bits, &self->options.threshold, 8);
  put_u64 (out, threshold_bits);
  put_u64 (out, self->options.seed);
  put_u32 (out, self->options.bands);
  put_u32 (out, self->options.rows);
  put_u32 (out, self->n);
  for (i = 0; i < self->n; i++)
    {
      guint8 c = self->counter[i];

      put_u64 (out, self->text_hash[2 * i]);
      put_u64 (out, self->text_hash[2 * i + 1]);
      g_byte_array_append (out, &c, 1);
      for (j = 0; j < TAILOR_MINHASH_SIZE; j++)
        put_u32 (out, self->minhash[(gsize) i * TAILOR_MINHASH_SIZE + j]);
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

TailorSignatureSet *
tailor_signature_set_deserialize (GBytes *bytes, GError **error)
{
  TailorDedupOptions options;
  g_autoptr (TailorSignatureSet) self = NULL;
  const guint8 *p;
  gsize size;
  guint32 version, n;
  guint64 threshold_bits;
  guint i, j;

  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  p = g_bytes_get_data (bytes, &size);
  if (size < SIGNATURE_HEADER_SIZE || memcmp (p, SIGNATURE_MAGIC, 4) != 0)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "Stored signatures (%" G_GSIZE_FORMAT " bytes) do not start with the "
                   "signature header; recompute them from the frozen evaluation set",
                   size);
      return NULL;
    }
  version = get_u32 (p + 4);
  if (version != SIGNATURE_VERSION)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "Stored signatures have version %u, this Tailor reads version %d; recompute "
                   "them from the frozen evaluation set",
                   version, SIGNATURE_VERSION);
      return NULL;
    }
  options.shingle_words = get_u32 (p + 8);
  threshold_bits = get_u64 (p + 12);
  memcpy (&options.threshold, &threshold_bits, 8);
  options.seed = get_u64 (p + 20);
  options.bands = get_u32 (p + 28);
  options.rows = get_u32 (p + 32);
  n = get_u32 (p + 36);
  if ((size - SIGNATURE_HEADER_SIZE) / SIGNATURE_RECORD_SIZE != n ||
      (size - SIGNATURE_HEADER_SIZE) % SIGNATURE_RECORD_SIZE != 0)
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "Stored signatures declare %u items but hold %" G_GSIZE_FORMAT " bytes of "
                   "records; the data is truncated or corrupt, recompute it",
                   n, size - SIGNATURE_HEADER_SIZE);
      return NULL;
    }
  if (options.bands == 0 || options.rows == 0)
    {
      g_set_error_literal (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                           "Stored signatures have no LSH banding; recompute them");
      return NULL;
    }
  if (!resolve_options (&options, &options, error))
    return NULL;

  self = signature_set_alloc (&options, n);
  p += SIGNATURE_HEADER_SIZE;
  for (i = 0; i < n; i++)
    {
      self->text_hash[2 * i] = get_u64 (p);
      self->text_hash[2 * i + 1] = get_u64 (p + 8);
      self->counter[i] = p[16];
      p += 17;
      for (j = 0; j < TAILOR_MINHASH_SIZE; j++, p += 4)
        self->minhash[(gsize) i * TAILOR_MINHASH_SIZE + j] = get_u32 (p);
    }
  return g_steal_pointer (&self);
}

void
tailor_signature_set_free (TailorSignatureSet *self)
{
  if (self == NULL)
    return;
  g_free (self->minhash);
  g_free (self->text_hash);
  g_free (self->counter);
  g_free (self);
}

/* ========================================================================================== */
/* LSH index: one open-addressing table for all bands, keyed by a hash of (band, its rows);
 * every key heads a chain of the items that share it. */

#define EMPTY_SLOT G_MAXUINT32

typedef struct
{
  const TailorSignatureSet *set;
  guint bands, rows;
  guint64 *slot_keys;
  guint32 *slot_heads; /* first entry of the chain, EMPTY_SLOT when free */
  gsize mask;
  GArray *entry_next; /* guint32 */
  GArray *entry_item; /* guint32 */
  guint32 *stamp;     /* per item: the last query that saw it */
  guint32 query;
} LshIndex;

static void
lsh_init (LshIndex *lsh, const TailorSignatureSet *set, guint expected_items)
{
  gsize want = (gsize) MAX (expected_items, 16) * set->options.bands * 2;
  gsize size = 1;

  while (size < want)
    size <<= 1;
  lsh->set = set;
  lsh->bands = set->options.bands;
  lsh->rows = set->options.rows;
  lsh->slot_keys = g_new (guint64, size);
  lsh->slot_heads = g_new (guint32, size);
  memset (lsh->slot_heads, 0xff, size * sizeof (guint32));
  lsh->mask = size - 1;
  lsh->entry_next = g_array_sized_new (FALSE, FALSE, sizeof (guint32), expected_items * lsh->bands);
  lsh->entry_item = g_array_sized_new (FALSE, FALSE, sizeof (guint32), expected_items * lsh->bands);
  lsh->stamp = g_new0 (guint32, MAX (set->n, 1));
  lsh->query = 0;
}

static void
lsh_clear (LshIndex *lsh)
{
  g_free (lsh->slot_keys);
  g_free (lsh->slot_heads);
  g_array_unref (lsh->entry_next);
  g_array_unref (lsh->entry_item);
  g_free (lsh->stamp);
}

static guint64
band_key (const guint32 *minhash, guint band, guint rows)
{
  return hash_bytes ((const char *) (minhash + band * rows), rows * sizeof (guint32),
                     G_GUINT64_CONSTANT (0xba9d) + band);
}

static gsize
lsh_find_slot (const LshIndex *lsh, guint64 key)
{
  gsize slot = (gsize) mix64 (key) & lsh->mask;

  while (lsh->slot_heads[slot] != EMPTY_SLOT && lsh->slot_keys[slot] != key)
    slot = (slot + 1) & lsh->mask;
  return slot;
}

static void
lsh_grow (LshIndex *lsh)
{
  gsize old_size = lsh->mask + 1;
  guint64 *old_keys = lsh->slot_keys;
  guint32 *old_heads = lsh->slot_heads;
  gsize i;

  lsh->mask = old_size * 2 - 1;
  lsh->slot_keys = g_new (guint64, old_size * 2);
  lsh->slot_heads = g_new (guint32, old_size * 2);
  memset (lsh->slot_heads, 0xff, old_size * 2 * sizeof (guint32));
  for (i = 0; i < old_size; i++)
    if (old_heads[i] != EMPTY_SLOT)
      {
        gsize slot = lsh_find_slot (lsh, old_keys[i]);

        lsh->slot_keys[slot] = old_keys[i];
        lsh->slot_heads[slot] = old_heads[i];
      }
  g_free (old_keys);
  g_free (old_heads);
}

static void
lsh_insert (LshIndex *lsh, guint item)
{
  const guint32 *minhash = lsh->set->minhash + (gsize) item * TAILOR_MINHASH_SIZE;
  guint b;

  for (b = 0; b < lsh->bands; b++)
    {
      guint64 key = band_key (minhash, b, lsh->rows);
      gsize slot;
      guint32 entry = lsh->entry_item->len;
      guint32 it = item;

      /* Keep the load under one half so that probes stay short. */
      if ((gsize) entry * 2 >= lsh->mask)
        lsh_grow (lsh);
      slot = lsh_find_slot (lsh, key);
      if (lsh->slot_heads[slot] == EMPTY_SLOT)
        {
          guint32 none = EMPTY_SLOT;

          lsh->slot_keys[slot] = key;
          g_array_append_val (lsh->entry_next, none);
        }
      else
        g_array_append_val (lsh->entry_next, lsh->slot_heads[slot]);
      g_array_append_val (lsh->entry_item, it);
      lsh->slot_heads[slot] = entry;
    }
}

/* The indexed item most similar to minhash among the candidates allowed by filter, or -1.
 * *best_jaccard receives its estimate. */
typedef gboolean (*LshFilter) (guint item, gpointer user_data);

static gint64
lsh_best (
  LshIndex *lsh, const guint32 *minhash, LshFilter filter, gpointer user_data, double *best_jaccard)
{
  gint64 best = -1;
  double best_j = -1.0;
  guint b;

  lsh->query++;
  if (lsh->query == 0)
    {
      memset (lsh->stamp, 0, MAX (lsh->set->n, 1) * sizeof (guint32));
      lsh->query = 1;
    }
  for (b = 0; b < lsh->bands; b++)
    {
      gsize slot = lsh_find_slot (lsh, band_key (minhash, b, lsh->rows));
      guint32 e;

      for (e = lsh->slot_heads[slot]; e != EMPTY_SLOT;
           e = g_array_index (lsh->entry_next, guint32, e))
        {
          guint32 item = g_array_index (lsh->entry_item, guint32, e);
          double j;

          if (lsh->stamp[item] == lsh->query)
            continue;
          lsh->stamp[item] = lsh->query;
          if (filter != NULL && !filter (item, user_data))
            continue;
          j = jaccard_estimate (minhash, lsh->set->minhash + (gsize) item * TAILOR_MINHASH_SIZE);
          if (j > best_j || (j == best_j && item < best))
            {
              best_j = j;
              best = item;
            }
        }
    }
  *best_jaccard = best_j;
  return best;
}

/* Exact-text table: 128-bit text hash -> item. */
static guint
text_hash_hash (gconstpointer key)
{
  const guint64 *h = key;

  return (guint) h[0];
}

static gboolean
text_hash_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, 2 * sizeof (guint64)) == 0;
}

/* ========================================================================================== */
/* Duplicates */

static gboolean
same_population (guint item, gpointer user_data)
{
  const TailorSignatureSet *set = ((gpointer *) user_data)[0];
  const guint8 *counter = ((gpointer *) user_data)[1];

  return set->counter[item] == *counter;
}

static void
cluster_free (gpointer data)
{
  TailorDuplicateCluster *cluster = data;

  g_array_unref (cluster->duplicates);
  g_free (cluster);
}

static gint
cluster_compare (gconstpointer a, gconstpointer b)
{
  const TailorDuplicateCluster *ca = *(TailorDuplicateCluster *const *) a;
  const TailorDuplicateCluster *cb = *(TailorDuplicateCluster *const *) b;

  return (ca->keeper > cb->keeper) - (ca->keeper < cb->keeper);
}

TailorDuplicateReport *
tailor_signature_set_find_duplicates (const TailorSignatureSet *set,
                                      GCancellable *cancellable,
                                      GError **error)
{
  g_autoptr (TailorDuplicateReport) report = NULL;
  g_autoptr (GHashTable) exact_plain = NULL;
  g_autoptr (GHashTable) exact_counter = NULL;
  g_autoptr (GHashTable) cluster_of = NULL;
  LshIndex lsh;
  guint i;

  g_return_val_if_fail (set != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  report = g_new0 (TailorDuplicateReport, 1);
  report->n_examples = set->n;
  report->bands = set->options.bands;
  report->rows = set->options.rows;
  report->clusters = g_ptr_array_new_with_free_func (cluster_free);
  report->is_duplicate = g_new0 (guint8, MAX (set->n, 1));
  exact_plain = g_hash_table_new (text_hash_hash, text_hash_equal);
  exact_counter = g_hash_table_new (text_hash_hash, text_hash_equal);
  cluster_of = g_hash_table_new (NULL, NULL);
  lsh_init (&lsh, set, set->n);

  for (i = 0; i < set->n; i++)
    {
      guint8 pop = set->counter[i];
      guint64 *text_hash = set->text_hash + 2 * i;
      const guint32 *minhash = set->minhash + (gsize) i * TAILOR_MINHASH_SIZE;
      gpointer keeper_ptr = NULL;
      TailorDuplicate dup = { i, FALSE, 0.0 };
      TailorDuplicateCluster *cluster;
      GHashTable *exact = pop ? exact_counter : exact_plain;
      gint64 keeper;

      if ((i & 1023) == 0 && cancellable != NULL && g_cancellable_is_cancelled (cancellable))
        break;
      report->n_counter_examples += pop;
      if (g_hash_table_lookup_extended (exact, text_hash, NULL, &keeper_ptr))
        {
          keeper = GPOINTER_TO_UINT (keeper_ptr);
          dup.exact = TRUE;
          dup.jaccard = 1.0;
        }
      else
        {
          gpointer filter_data[2] = { (gpointer) set, &pop };

          keeper = lsh_best (&lsh, minhash, same_population, filter_data, &dup.jaccard);
          if (keeper >= 0 && dup.jaccard < set->options.threshold)
            keeper = -1;
        }

      if (keeper < 0)
        {
          g_hash_table_insert (exact, text_hash, GUINT_TO_POINTER (i));
          lsh_insert (&lsh, i);
          continue;
        }

      cluster = g_hash_table_lookup (cluster_of, GUINT_TO_POINTER ((guint) keeper + 1));
      if (cluster == NULL)
        {
          cluster = g_new0 (TailorDuplicateCluster, 1);
          cluster->keeper = keeper;
          cluster->counter_examples = pop;
          cluster->duplicates = g_array_new (FALSE, FALSE, sizeof (TailorDuplicate));
          g_ptr_array_add (report->clusters, cluster);
          g_hash_table_insert (cluster_of, GUINT_TO_POINTER ((guint) keeper + 1), cluster);
        }
      g_array_append_val (cluster->duplicates, dup);
      report->is_duplicate[i] = 1;
      if (dup.exact)
        report->n_exact++;
      else
        report->n_near++;
    }
  lsh_clear (&lsh);
  if (set_cancelled_error (cancellable, error))
    return NULL;
  g_ptr_array_sort (report->clusters, cluster_compare);
  return g_steal_pointer (&report);
}

TailorDuplicateReport *
tailor_find_duplicates (GPtrArray *examples,
                        const TailorDedupOptions *options,
                        GCancellable *cancellable,
                        GError **error)
{
  g_autoptr (TailorSignatureSet) set = NULL;

  g_return_val_if_fail (examples != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  set = tailor_signature_set_new (examples, options, cancellable, error);
  if (set == NULL)
    return NULL;
  return tailor_signature_set_find_duplicates (set, cancellable, error);
}

GPtrArray *
tailor_duplicate_report_apply (const TailorDuplicateReport *report, GPtrArray *examples)
{
  GPtrArray *out;
  guint i;

  g_return_val_if_fail (report != NULL && examples != NULL, NULL);
  g_return_val_if_fail (examples->len == report->n_examples, NULL);

  out = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);
  for (i = 0; i < examples->len; i++)
    if (!report->is_duplicate[i])
      g_ptr_array_add (out, tailor_example_copy (g_ptr_array_index (examples, i)));
  return out;
}

JsonNode *
tailor_duplicate_report_to_json (const TailorDuplicateReport *report)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint i, j;

  g_return_val_if_fail (report != NULL, NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "examples");
  json_builder_add_int_value (b, report->n_examples);
  json_builder_set_member_name (b, "counter_examples");
  json_builder_add_int_value (b, report->n_counter_examples);
  json_builder_set_member_name (b, "exact_duplicates");
  json_builder_add_int_value (b, report->n_exact);
  json_builder_set_member_name (b, "near_duplicates");
  json_builder_add_int_value (b, report->n_near);
  json_builder_set_member_name (b, "bands");
  json_builder_add_int_value (b, report->bands);
  json_builder_set_member_name (b, "rows");
  json_builder_add_int_value (b, report->rows);
  json_builder_set_member_name (b, "clusters");
  json_builder_begin_array (b);
  for (i = 0; i < report->clusters->len; i++)
    {
      const TailorDuplicateCluster *c = g_ptr_array_index (report->clusters, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "keeper");
      json_builder_add_int_value (b, c->keeper);
      json_builder_set_member_name (b, "counter_examples");
      json_builder_add_boolean_value (b, c->counter_examples);
      json_builder_set_member_name (b, "duplicates");
      json_builder_begin_array (b);
      for (j = 0; j < c->duplicates->len; j++)
        {
          const TailorDuplicate *d = &g_array_index (c->duplicates, TailorDuplicate, j);

          json_builder_begin_object (b);
          json_builder_set_member_name (b, "index");
          json_builder_add_int_value (b, d->index);
          json_builder_set_member_name (b, "kind");
          json_builder_add_string_value (b, d->exact ? "exact" : "near");
          json_builder_set_member_name (b, "jaccard");
          json_builder_add_double_value (b, d->jaccard);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
tailor_duplicate_report_free (TailorDuplicateReport *report)
{
  if (report == NULL)
    return;
  g_clear_pointer (&report->clusters, g_ptr_array_unref);
  g_free (report->is_duplicate);
  g_free (report);
}

/* ========================================================================================== */
/* Leak query against a frozen set */

TailorSetMatchReport *
tailor_signature_set_find_matches (const TailorSignatureSet *frozen,
                                   GPtrArray *examples,
                                   GCancellable *cancellable,
                                   GError **error)
{
  g_autoptr (TailorSignatureSet) query = NULL;
  g_autoptr (TailorSetMatchReport) report = NULL;
  g_autoptr (GHashTable) exact = NULL;
  LshIndex lsh;
  guint i;

  g_return_val_if_fail (frozen != NULL, NULL);
  g_return_val_if_fail (examples != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  query = tailor_signature_set_new (examples, &frozen->options, cancellable, error);
  if (query == NULL)
    return NULL;

  report = g_new0 (TailorSetMatchReport, 1);
  report->n_checked = examples->len;
  report->matches = g_array_new (FALSE, FALSE, sizeof (TailorSetMatch));
  exact = g_hash_table_new (text_hash_hash, text_hash_equal);
  lsh_init (&lsh, frozen, frozen->n);
  for (i = 0; i < frozen->n; i++)
    {
      /* The first of equal frozen items answers for all of them. */
      if (!g_hash_table_contains (exact, frozen->text_hash + 2 * i))
        g_hash_table_insert (exact, frozen->text_hash + 2 * i, GUINT_TO_POINTER (i));
      lsh_insert (&lsh, i);
    }

  for (i = 0; i < query->n; i++)
    {
      TailorSetMatch match = { i, 0, FALSE, 0.0 };
      gpointer hit = NULL;

      if ((i & 1023) == 0 && cancellable != NULL && g_cancellable_is_cancelled (cancellable))
        break;
      if (g_hash_table_lookup_extended (exact, query->text_hash + 2 * i, NULL, &hit))
        {
          match.frozen_index = GPOINTER_TO_UINT (hit);
          match.exact = TRUE;
          match.jaccard = 1.0;
          report->n_exact++;
        }
      else
        {
          gint64 best = lsh_best (&lsh, query->minhash + (gsize) i * TAILOR_MINHASH_SIZE, NULL,
                                  NULL, &match.jaccard);

          if (best < 0 || match.jaccard < frozen->options.threshold)
            continue;
          match.frozen_index = best;
          report->n_near++;
        }
      g_array_append_val (report->matches, match);
    }
  lsh_clear (&lsh);
  if (set_cancelled_error (cancellable, error))
    return NULL;
  return g_steal_pointer (&report);
}

JsonNode *
tailor_set_match_report_to_json (const TailorSetMatchReport *report)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint i;

  g_return_val_if_fail (report != NULL, NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "checked");
  json_builder_add_int_value (b, report->n_checked);
  json_builder_set_member_name (b, "exact");
  json_builder_add_int_value (b, report->n_exact);
  json_builder_set_member_name (b, "near");
  json_builder_add_int_value (b, report->n_near);
  json_builder_set_member_name (b, "matches");
  json_builder_begin_array (b);
  for (i = 0; i < report->matches->len; i++)
    {
      const TailorSetMatch *m = &g_array_index (report->matches, TailorSetMatch, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "index");
      json_builder_add_int_value (b, m->index);
      json_builder_set_member_name (b, "frozen_index");
      json_builder_add_int_value (b, m->frozen_index);
      json_builder_set_member_name (b, "kind");
      json_builder_add_string_value (b, m->exact ? "exact" : "near");
      json_builder_set_member_name (b, "jaccard");
      json_builder_add_double_value (b, m->jaccard);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
tailor_set_match_report_free (TailorSetMatchReport *report)
{
  if (report == NULL)
    return;
  g_clear_pointer (&report->matches, g_array_unref);
  g_free (report);
}

/* ========================================================================================== */
/* Secrets and personal data */

static const char *const pii_kind_names[TAILOR_PII_N_KINDS] = {
  [TAILOR_PII_EMAIL] = "email",
  [TAILOR_PII_PHONE] = "phone",
  [TAILOR_PII_CREDIT_CARD] = "credit-card",
  [TAILOR_PII_IBAN] = "iban",
  [TAILOR_PII_IP_ADDRESS] = "ip-address",
  [TAILOR_PII_PRIVATE_KEY] = "private-key",
  [TAILOR_PII_API_KEY] = "api-key",
  [TAILOR_PII_URL_PASSWORD] = "url-password",
  [TAILOR_PII_NATIONAL_ID] = "national-id",
};

static const char *const pii_placeholders[TAILOR_PII_N_KINDS] = {
  [TAILOR_PII_EMAIL] = "[EMAIL]",
  [TAILOR_PII_PHONE] = "[PHONE]",
  [TAILOR_PII_CREDIT_CARD] = "[CREDIT_CARD]",
  [TAILOR_PII_IBAN] = "[IBAN]",
  [TAILOR_PII_IP_ADDRESS] = "[IP_ADDRESS]",
  [TAILOR_PII_PRIVATE_KEY] = "[PRIVATE_KEY]",
  [TAILOR_PII_API_KEY] = "[API_KEY]",
  [TAILOR_PII_URL_PASSWORD] = "[PASSWORD]",
  [TAILOR_PII_NATIONAL_ID] = "[NATIONAL_ID]",
};

/* Where spans overlap, the lower rank wins: structures that cannot occur by chance (PEM blocks,
 * URL credentials, provider prefixes) before checksummed numbers, before bare patterns. */
static const guint pii_kind_rank[TAILOR_PII_N_KINDS] = {
  [TAILOR_PII_PRIVATE_KEY] = 0, [TAILOR_PII_URL_PASSWORD] = 1, [TAILOR_PII_API_KEY] = 2,
  [TAILOR_PII_CREDIT_CARD] = 3, [TAILOR_PII_IBAN] = 4,         [TAILOR_PII_EMAIL] = 5,
  [TAILOR_PII_NATIONAL_ID] = 6, [TAILOR_PII_IP_ADDRESS] = 7,   [TAILOR_PII_PHONE] = 8,
};

static const char *const pii_action_names[] = {
  [TAILOR_PII_ACTION_REDACT] = "redact",
  [TAILOR_PII_ACTION_DROP] = "drop",
  [TAILOR_PII_ACTION_KEEP] = "keep",
};

const char *
tailor_pii_kind_to_string (TailorPiiKind kind)
{
  g_return_val_if_fail (kind < TAILOR_PII_N_KINDS, NULL);
  return pii_kind_names[kind];
}

gboolean
tailor_pii_kind_from_string (const char *name, TailorPiiKind *kind)
{
  guint i;

  g_return_val_if_fail (name != NULL && kind != NULL, FALSE);

  for (i = 0; i < TAILOR_PII_N_KINDS; i++)
    if (g_strcmp0 (name, pii_kind_names[i]) == 0)
      {
        *kind = i;
        return TRUE;
      }
  return FALSE;
}

const char *
tailor_pii_kind_placeholder (TailorPiiKind kind)
{
  g_return_val_if_fail (kind < TAILOR_PII_N_KINDS, NULL);
  return pii_placeholders[kind];
}

const char *
tailor_pii_action_to_string (TailorPiiAction action)
{
  g_return_val_if_fail (action <= TAILOR_PII_ACTION_KEEP, NULL);
  return pii_action_names[action];
}

gboolean
tailor_pii_action_from_string (const char *name, TailorPiiAction *action)
{
  guint i;

  g_return_val_if_fail (name != NULL && action != NULL, FALSE);

  for (i = 0; i < G_N_ELEMENTS (pii_action_names); i++)
    if (g_strcmp0 (name, pii_action_names[i]) == 0)
      {
        *action = i;
        return TRUE;
      }
  return FALSE;
}

void
tailor_pii_options_init (TailorPiiOptions *options)
{
  guint i;

  g_return_if_fail (options != NULL);

  for (i = 0; i < TAILOR_PII_N_KINDS; i++)
    {
      options->actions[i] = TAILOR_PII_ACTION_REDACT;
      options->enabled[i] = TRUE;
    }
}

/* ---- validators: each may narrow the span [*start, *end) and says whether it is a finding ---- */

typedef gboolean (*PiiValidator) (const char *text, gsize *start, gsize *end);

static guint
count_digits (const char *p, const char *end)
{
  guint n = 0;

  for (; p < end; p++)
    n += g_ascii_isdigit (*p);
  return n;
}

/* The lower-cased word(s) just before offset, for context checks ("version 1.2.3.4"). */
static gboolean
preceded_by_word (const char *text, gsize start, const char *const *words)
{
  gsize from = start > 24 ? start - 24 : 0;
  g_autofree char *before = g_ascii_strdown (text + from, start - from);
  g_autofree char *trimmed = g_strchomp (g_steal_pointer (&before));
  guint i;

  for (i = 0; words[i] != NULL; i++)
    if (g_str_has_suffix (trimmed, words[i]))
      {
        gsize at = strlen (trimmed) - strlen (words[i]);

        if (at == 0 || !g_ascii_isalnum (trimmed[at - 1]))
          return TRUE;
      }
  return FALSE;
}

static gboolean
luhn_ok (const char *digits, guint n)
{
  guint sum = 0;
  guint i;

  for (i = 0; i < n; i++)
    {
      guint d = digits[n - 1 - i] - '0';

      if (i % 2 == 1)
        {
          d *= 2;
          if (d > 9)
            d -= 9;
        }
      sum += d;
    }
  return sum % 10 == 0;
}

static guint
prefix_value (const char *digits, guint len)
{
  guint v = 0;
  guint i;

  for (i = 0; i < len; i++)
    v = v * 10 + (digits[i] - '0');
  return v;
}

/* Issuer identification ranges and lengths of the common networks. */
static gboolean
card_issuer_ok (const char *d, guint n)
{
  guint p1 = prefix_value (d, 1), p2 = prefix_value (d, 2), p3 = prefix_value (d, 3);
  guint p4 = prefix_value (d, 4), p6 = prefix_value (d, 6);

  if (p1 == 4)
    return n == 13 || n == 16 || n == 19; /* Visa */
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
    return n == 16; /* Mastercard */
  if (p2 == 34 || p2 == 37)
    return n == 15; /* Amex */
  if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925))
    return n >= 16; /* Discover */
  if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39)
    return n >= 14; /* Diners */
  if (p4 >= 3528 && p4 <= 3589)
    return n >= 16; /* JCB */
  if (p2 == 62)
    return n >= 16; /* UnionPay */
  if (p2 == 50 || (p2 >= 56 && p2 <= 69))
    return n >= 13; /* Maestro */
  return FALSE;
}

typedef struct
{
  gsize start, end; /* byte offsets of the group */
  guint n_digits;
} DigitGroup;

/* Splits a run of digits and single separators into groups; FALSE when separators differ. */
static guint
split_groups (const char *text,
              gsize start,
              gsize end,
              DigitGroup *groups,
              guint max_groups,
              gboolean *consistent)
{
  guint n = 0;
  char sep = 0;
  gsize i = start;

  *consistent = TRUE;
  while (i < end && n < max_groups)
    {
      gsize g = i;

      while (i < end && g_ascii_isdigit (text[i]))
        i++;
      groups[n].start = g;
      groups[n].end = i;
      groups[n].n_digits = i - g;
      n++;
      if (i < end)
        {
          if (sep != 0 && text[i] != sep)
            *consistent = FALSE;
          sep = text[i];
          i++;
        }
    }
  if (i < end)
    *consistent = FALSE;
  return n;
}

#define MAX_GROUPS 24

static gboolean
validate_card (const char *text, gsize *start, gsize *end)
{
  DigitGroup groups[MAX_GROUPS];
  gboolean consistent;
  guint n = split_groups (text, *start, *end, groups, MAX_GROUPS, &consistent);
  guint a, b, width;

  if (!consistent)
    return FALSE;
  if (n > 1)
    for (a = 0; a < n; a++)
      if (groups[a].n_digits < 2 || groups[a].n_digits > 7)
        return FALSE;
  /* A card inside a longer run ("Ref 12 4111 1111 1111 1111"): the widest window of whole groups
   * that is a valid card number. */
  for (width = n; width >= 1; width--)
    for (a = 0; a + width <= n; a++)
      {
        char digits[32];
        guint nd = 0;

        b = a + width;
        for (guint g = a; g < b; g++)
          for (gsize i = groups[g].start; i < groups[g].end && nd < sizeof digits; i++)
            digits[nd++] = text[i];
        if (nd < 13 || nd > 19)
          continue;
        if (luhn_ok (digits, nd) && card_issuer_ok (digits, nd))
          {
            *start = groups[a].start;
            *end = groups[b - 1].end;
            return TRUE;
          }
      }
  return FALSE;
}

/* A phone number does not continue a run of digit groups ("DE89 3704 0044 0532 …"). */
static gboolean
continues_number (const char *text, gsize start)
{
  return start >= 2 && (text[start - 1] == ' ' || text[start - 1] == '-') &&
         g_ascii_isdigit (text[start - 2]);
}

static gboolean
validate_phone_plain (const char *text, gsize *start, gsize *end)
{
  return !continues_number (text, *start);
}

static gboolean
validate_phone_international (const char *text, gsize *start, gsize *end)
{
  gsize s = *start, e = *end;

  if (continues_number (text, s))
    return FALSE;

  /* Drops trailing groups while there are more digits than E.164 allows (a year after it…). */
  for (;;)
    {
      guint digits = count_digits (text + s, text + e);
      gsize cut;

      if (text[s] == '0')
        digits -= 2;
      if (digits >= 8 && digits <= 15)
        break;
      if (digits < 8)
        return FALSE;
      for (cut = e; cut > s && (g_ascii_isdigit (text[cut - 1]) || text[cut - 1] == ')'); cut--)
        ;
      if (cut <= s + 1)
        return FALSE;
      e = cut - 1;
    }
  *end = e;
  return TRUE;
}

static gboolean
has_separator (const char *text, gsize start, gsize end)
{
  gsize i;

  for (i = start; i < end; i++)
    if (text[i] == ' ' || text[i] == '-' || text[i] == '.' || text[i] == '/')
      return TRUE;
  return FALSE;
}

static gboolean
validate_phone_uk (const char *text, gsize *start, gsize *end)
{
  guint digits = count_digits (text + *start, text + *end);

  return (digits == 10 || digits == 11) && has_separator (text, *start, *end) &&
         !continues_number (text, *start);
}

static gboolean
validate_phone_de (const char *text, gsize *start, gsize *end)
{
  guint digits = count_digits (text + *start, text + *end);

  return digits >= 8 && digits <= 12 && !continues_number (text, *start);
}

static gboolean
validate_phone_context (const char *text, gsize *start, gsize *end)
{
  guint digits = count_digits (text + *start, text + *end);

  return digits >= 7 && digits <= 15;
}

static const struct
{
  char country[3];
  guint8 length;
} iban_lengths[] = {
  { "AD", 24 }, { "AE", 23 }, { "AL", 28 }, { "AT", 20 }, { "AZ", 28 }, { "BA", 20 }, { "BE", 16 },
  { "BG", 22 }, { "BH", 22 }, { "BR", 29 }, { "BY", 28 }, { "CH", 21 }, { "CR", 22 }, { "CY", 28 },
  { "CZ", 24 }, { "DE", 22 }, { "DK", 18 }, { "DO", 28 }, { "EE", 20 }, { "EG", 29 }, { "ES", 24 },
  { "FI", 18 }, { "FO", 18 }, { "FR", 27 }, { "GB", 22 }, { "GE", 22 }, { "GI", 23 }, { "GL", 18 },
  { "GR", 27 }, { "GT", 28 }, { "HR", 21 }, { "HU", 28 }, { "IE", 22 }, { "IL", 23 }, { "IQ", 23 },
  { "IS", 26 }, { "IT", 27 }, { "JO", 30 }, { "KW", 30 }, { "KZ", 20 }, { "LB", 28 }, { "LC", 32 },
  { "LI", 21 }, { "LT", 20 }, { "LU", 20 }, { "LV", 21 }, { "MC", 27 }, { "MD", 24 }, { "ME", 22 },
  { "MK", 19 }, { "MR", 27 }, { "MT", 31 }, { "MU", 30 }, { "NL", 18 }, { "NO", 15 }, { "PK", 24 },
  { "PL", 28 }, { "PS", 29 }, { "PT", 25 }, { "QA", 29 }, { "RO", 24 }, { "RS", 22 }, { "SA", 24 },
  { "SC", 31 }, { "SE", 24 }, { "SI", 19 }, { "SK", 24 }, { "SM", 27 }, { "ST", 25 }, { "SV", 28 },
  { "TL", 23 }, { "TN", 24 }, { "TR", 26 }, { "UA", 29 }, { "VA", 22 }, { "VG", 24 }, { "XK", 20 },
};

static gboolean
validate_iban (const char *text, gsize *start, gsize *end)
{
  char iban[40];
  guint want = 0, n = 0, i, rem = 0;
  gsize p;

  for (i = 0; i < G_N_ELEMENTS (iban_lengths); i++)
    if (strncmp (text + *start, iban_lengths[i].country, 2) == 0)
      want = iban_lengths[i].length;
  if (want == 0)
    return FALSE;
  for (p = *start; p < *end && n < want; p++)
    if (text[p] != ' ')
      iban[n++] = text[p];
  /* The number must end where a group ends, not inside a word that follows it. */
  if (n < want || (p < *end && text[p] != ' '))
    return FALSE;
  *end = p;
  /* ISO 13616: move the first four characters to the end, letters become 10..35, mod 97 = 1. */
  for (i = 0; i < n; i++)
    {
      char c = iban[(i + 4) % n];

      if (g_ascii_isdigit (c))
        rem = (rem * 10 + (c - '0')) % 97;
      else
        rem = (rem * 100 + (c - 'A' + 10)) % 97;
    }
  return rem == 1;
}

static gboolean
validate_ipv4 (const char *text, gsize *start, gsize *end)
{
  static const char *const version_words[] = { "version", "ver",      "ver.", "release",
                                               "build",   "firmware", "v",    NULL };

  return !preceded_by_word (text, *start, version_words);
}

static gboolean
validate_ipv6 (const char *text, gsize *start, gsize *end)
{
  g_autofree char *candidate = g_strndup (text + *start, *end - *start);
  g_autoptr (GInetAddress) address = NULL;
  g_auto (GStrv) groups = NULL;
  guint n_groups = 0, i;
  gboolean long_group = FALSE;
  char next = text[*end];

  if (g_ascii_isalnum (next) || next == '_' || next == ':' ||
      (next == '.' && g_ascii_isdigit (text[*end + 1])))
    return FALSE;
  address = g_inet_address_new_from_string (candidate);
  if (address == NULL || g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV6)
    return FALSE;
  /* "a::b" and "::1" parse, but so does C++ scope syntax: ask for some substance. */
  groups = g_strsplit (candidate, ":", -1);
  for (i = 0; groups[i] != NULL; i++)
    if (groups[i][0] != '\0')
      {
        n_groups++;
        long_group |= strlen (groups[i]) >= 3;
      }
  return n_groups >= 3 || long_group;
}

static gboolean
validate_email (const char *text, gsize *start, gsize *end)
{
  static const char *const file_extensions[] = { ".png",  ".jpg", ".jpeg", ".gif", ".svg",
                                                 ".webp", ".ico", ".bmp",  NULL };
  g_autofree char *email = g_ascii_strdown (text + *start, *end - *start);
  const char *at = strchr (email, '@');
  guint i;

  if (email[0] == '.' || at[-1] == '.' || strstr (email, "..") != NULL)
    return FALSE;
  /* "ssh://git@host" names an account on a host, not a mailbox. */
  if (*start >= 3 && strncmp (text + *start - 3, "://", 3) == 0)
    return FALSE;
  /* "logo@2x.png" is an image name. */
  for (i = 0; file_extensions[i] != NULL; i++)
    if (g_str_has_suffix (email, file_extensions[i]))
      return FALSE;
  return TRUE;
}

static gboolean
looks_like_placeholder (const char *value, gsize len)
{
  g_autofree char *lower = g_ascii_strdown (value, len);
  gsize i;
  gboolean all_same = TRUE;

  if (strchr ("<${%[*", lower[0]) != NULL)
    return TRUE;
  for (i = 1; i < len; i++)
    all_same &= lower[i] == lower[0];
  if (all_same)
    return TRUE;
  return strstr (lower, "your") != NULL || strstr (lower, "example") != NULL ||
         strstr (lower, "redacted") != NULL || strstr (lower, "changeme") != NULL ||
         strstr (lower, "placeholder") != NULL || strstr (lower, "xxxx") != NULL;
}

/* A generic "token: value" is a secret when the value looks machine-made: letters and digits
 * mixed, or long. Prose ("token: expiration") and placeholders are not. */
static gboolean
validate_assignment (const char *text, gsize *start, gsize *end)
{
  gsize len = *end - *start;
  gboolean digit = FALSE, alpha = FALSE;
  gsize i;

  if (looks_like_placeholder (text + *start, len))
    return FALSE;
  for (i = *start; i < *end; i++)
    {
      digit |= g_ascii_isdigit (text[i]);
      alpha |= g_ascii_isalpha (text[i]);
    }
  return (digit && alpha) || len >= 24;
}

static gboolean
validate_url_password (const char *text, gsize *start, gsize *end)
{
  return !looks_like_placeholder (text + *start, *end - *start);
}

static gboolean
validate_openai (const char *text, gsize *start, gsize *end)
{
  gboolean digit = FALSE, upper = FALSE, lower = FALSE;
  gsize i;

  for (i = *start + 3; i < *end; i++)
    {
      digit |= g_ascii_isdigit (text[i]);
      upper |= g_ascii_isupper (text[i]);
      lower |= g_ascii_islower (text[i]);
    }
  return digit && upper && lower;
}

/* The header of a JWT is base64url JSON naming its algorithm. */
static gboolean
validate_jwt (const char *text, gsize *start, gsize *end)
{
  const char *dot = memchr (text + *start, '.', *end - *start);
  g_autoptr (GString) b64 = g_string_new_len (text + *start, dot - (text + *start));
  g_autofree guchar *header = NULL;
  gsize len = 0;
  gsize i;

  for (i = 0; i < b64->len; i++)
    if (b64->str[i] == '-')
      b64->str[i] = '+';
    else if (b64->str[i] == '_')
      b64->str[i] = '/';
  while (b64->len % 4 != 0)
    g_string_append_c (b64, '=');
  header = g_base64_decode (b64->str, &len);
  return header != NULL && g_strstr_len ((const char *) header, len, "\"alg\"") != NULL;
}

static gboolean
validate_ssn (const char *text, gsize *start, gsize *end)
{
  char d[9];
  guint n = 0, area, group, serial;
  gsize i;

  for (i = *start; i < *end && n < 9; i++)
    if (g_ascii_isdigit (text[i]))
      d[n++] = text[i];
  if (n != 9)
    return FALSE;
  area = prefix_value (d, 3);
  group = prefix_value (d + 3, 2);
  serial = prefix_value (d + 5, 4);
  /* Never issued: area 000, 666, 900–999; group 00; serial 0000; and the two numbers printed in
   * advertising (078-05-1120, 219-09-9999). */
  if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
    return FALSE;
  if ((area == 78 && group == 5 && serial == 1120) || (area == 219 && group == 9 && serial == 9999))
    return FALSE;
  return TRUE;
}

static gboolean
validate_nino (const char *text, gsize *start, gsize *end)
{
  static const char *const unused_prefixes[] = { "BG", "GB", "NK", "KN", "TN", "NT", "ZZ", NULL };
  guint i;

  for (i = 0; unused_prefixes[i] != NULL; i++)
    if (strncmp (text + *start, unused_prefixes[i], 2) == 0)
      return FALSE;
  return TRUE;
}

static gboolean
validate_dni (const char *text, gsize *start, gsize *end)
{
  static const char letters[] = "TRWAGMYFPDXBNJZSQVHLCKE";
  guint number = 0;
  gsize i;
  char check = text[*end - 1];

  for (i = *start; i < *end - 1; i++)
    {
      char c = text[i];

      /* NIE: X, Y, Z stand for 0, 1, 2. */
      if (c == 'X' || c == 'Y' || c == 'Z')
        number = number * 10 + (c - 'X');
      else if (g_ascii_isdigit (c))
        number = number * 10 + (c - '0');
    }
  return letters[number % 23] == check;
}

static gboolean
validate_bsn (const char *text, gsize *start, gsize *end)
{
  gint sum = 0;
  guint i;

  if (*end - *start != 9)
    return FALSE;
  /* The "eleven test": weights 9..2 and -1. */
  for (i = 0; i < 8; i++)
    sum += (9 - i) * (text[*start + i] - '0');
  sum -= text[*start + 8] - '0';
  return sum != 0 && sum % 11 == 0;
}

typedef struct
{
  TailorPiiKind kind;
  const char *detail;
  const char *prefilter; /* a substring the text must contain, or NULL */
  gboolean needs_digit;
  const char *pattern;
  GRegexCompileFlags flags;
  gint group; /* the span: this capture group (0: the whole match) */
  PiiValidator validate;
} PiiDetector;

/* Digits are spelled [0-9]: GRegex matches Unicode, where \d is any script's digit. */
#define NOT_AFTER_WORD  "(?<![\\w.+-])"
#define NOT_BEFORE_WORD "(?![\\w]|[.-][0-9])"

static const PiiDetector pii_detectors[] = {
  { TAILOR_PII_PRIVATE_KEY, "pem", "-----BEGIN ", FALSE,
    "-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    "(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|.*)",
    G_REGEX_DOTALL, 0, NULL },
  { TAILOR_PII_URL_PASSWORD, "url", "://", FALSE,
    "\\b[A-Za-z][A-Za-z0-9+.-]*://[^\\s:/?#@]+:([^\\s/?#@]+)@[A-Za-z0-9.-]+", 0, 1,
    validate_url_password },
  { TAILOR_PII_API_KEY, "aws-access-key-id", NULL, FALSE,
    "\\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\\b", 0, 0, NULL },
  { TAILOR_PII_API_KEY, "aws-secret-access-key", NULL, FALSE,
    "(?i:aws)[\\w .-]{0,20}?(?i:secret)[\\w .-]{0,20}?[\"']?\\s*[:=]\\s*[\"']?"
    "([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
    0, 1, NULL },
  { TAILOR_PII_API_KEY, "github-token", "gh", FALSE, "\\bgh[pousr]_[A-Za-z0-9]{36,255}\\b", 0, 0,
    NULL },
  { TAILOR_PII_API_KEY, "github-token", "github_pat_", FALSE,
    "\\bgithub_pat_[A-Za-z0-9_]{50,255}\\b", 0, 0, NULL },
  { TAILOR_PII_API_KEY, "slack-token", "xox", FALSE, "\\bxox[abposr]-[A-Za-z0-9-]{10,250}", 0, 0,
    NULL },
  { TAILOR_PII_API_KEY, "stripe-key", NULL, FALSE,
    "\\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}\\b", 0, 0, NULL },
  { TAILOR_PII_API_KEY, "openai-key", "sk-", FALSE,
    "\\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250}", 0, 0, validate_openai },
  { TAILOR_PII_API_KEY, "google-api-key", "AIza", FALSE,
    "\\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])", 0, 0, NULL },
  { TAILOR_PII_API_KEY, "jwt", "eyJ", FALSE,
    "\\beyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{10,}", 0, 0, validate_jwt },
  { TAILOR_PII_API_KEY, "assignment", NULL, FALSE,
    "(?i:\\b(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token|"
    "secret[_-]?key|client[_-]?secret|bearer|token|secret|password|passwd|pwd))"
    "[\"']?\\s*(?:[:=]|=>)\\s*[\"']?([^\\s\"',;<>]{8,})",
    0, 1, validate_assignment },
  { TAILOR_PII_CREDIT_CARD, "card-number", NULL, TRUE,
    "(?<![\\w.+-])[0-9](?:[ -]?[0-9]){12,30}" NOT_BEFORE_WORD, 0, 0, validate_card },
  { TAILOR_PII_IBAN, "iban", NULL, TRUE, "(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,32}", 0,
    0, validate_iban },
  { TAILOR_PII_EMAIL, "email", "@", FALSE,
    "(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    "[A-Za-z0-9])?\\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])",
    0, 0, validate_email },
  { TAILOR_PII_NATIONAL_ID, "us-ssn", NULL, TRUE,
    "(?<![\\w-])[0-9]{3}([- ])[0-9]{2}\\1[0-9]{4}(?![\\w-])", 0, 0, validate_ssn },
  { TAILOR_PII_NATIONAL_ID, "us-ssn", NULL, TRUE,
    "(?i:\\bssn|social security(?: number| no\\.?)?)\\W{0,5}([0-9]{9})(?![0-9])", 0, 1,
    validate_ssn },
  { TAILOR_PII_NATIONAL_ID, "uk-nino", NULL, TRUE,
    "(?<![\\w])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D](?![\\w])",
    0, 0, validate_nino },
  { TAILOR_PII_NATIONAL_ID, "es-dni", NULL, TRUE,
    "(?<![\\w-])(?:[0-9]{8}|[XYZ]-?[0-9]{7})-?[A-Z](?![\\w])", 0, 0, validate_dni },
  { TAILOR_PII_NATIONAL_ID, "nl-bsn", NULL, TRUE,
    "(?i:\\bbsn|burgerservicenummer)\\W{0,5}([0-9]{9})(?![0-9])", 0, 1, validate_bsn },
  { TAILOR_PII_IP_ADDRESS, "ipv4", ".", TRUE,
    "(?<![\\w.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}"
    "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?![\\w]|\\.[0-9])",
    0, 0, validate_ipv4 },
  { TAILOR_PII_IP_ADDRESS, "ipv6", ":", FALSE,
    "(?<![\\w:.])(?:(?:[0-9A-Fa-f]{0,4}:){2,6}(?:[0-9]{1,3}\\.){3}[0-9]{1,3}|[0-9A-Fa-f:]{2,39})",
    0, 0, validate_ipv6 },
  { TAILOR_PII_PHONE, "international", NULL, TRUE,
    "(?<![\\w+])(?:\\+|\\b00)[1-9][0-9]{0,3}(?:[ .-]?(?:\\([0-9]{1,4}\\)|[0-9]{1,5})){1,7}"
    "(?![0-9])",
    0, 0, validate_phone_international },
  { TAILOR_PII_PHONE, "north-american", NULL, TRUE,
    "(?<![\\w+.-])(?:\\+?1[ .-]?)?(?:\\([2-9][0-9]{2}\\)[ .-]?|[2-9][0-9]{2}[ .-])"
    "[2-9][0-9]{2}[ .-][0-9]{4}" NOT_BEFORE_WORD,
    0, 0, validate_phone_plain },
  { TAILOR_PII_PHONE, "uk", NULL, TRUE,
    NOT_AFTER_WORD "0[1-9][0-9]{1,4}[ -]?[0-9]{3,4}[ -]?[0-9]{3,4}" NOT_BEFORE_WORD, 0, 0,
    validate_phone_uk },
  { TAILOR_PII_PHONE, "fr", NULL, TRUE, NOT_AFTER_WORD "0[1-9](?:[ .][0-9]{2}){4}" NOT_BEFORE_WORD,
    0, 0, validate_phone_plain },
  { TAILOR_PII_PHONE, "de", NULL, TRUE,
    NOT_AFTER_WORD "0[1-9][0-9]{1,4}[ /-][0-9]{3,8}(?![\\w]|[./-][0-9])", 0, 0, validate_phone_de },
  { TAILOR_PII_PHONE, "labelled", NULL, TRUE,
    "(?i:\\b(?:phone|telephone|tel|mobile|cell|fax|whatsapp|sms|call me at|call))\\b"
    "[^0-9\\n]{0,12}?(\\+?[0-9]{7,15})(?![0-9])",
    0, 1, validate_phone_context },
};

static GRegex **
pii_regexes (void)
{
  static GRegex **regexes = NULL;

  if (g_once_init_enter (&regexes))
    {
      GRegex **compiled = g_new0 (GRegex *, G_N_ELEMENTS (pii_detectors));
      guint i;

      for (i = 0; i < G_N_ELEMENTS (pii_detectors); i++)
        {
          g_autoptr (GError) error = NULL;

          compiled[i] = g_regex_new (pii_detectors[i].pattern,
                                     pii_detectors[i].flags | G_REGEX_OPTIMIZE, 0, &error);
          if (compiled[i] == NULL)
            g_error ("PII pattern %u (%s) does not compile: %s", i, pii_detectors[i].detail,
                     error->message);
        }
      g_once_init_leave (&regexes, compiled);
    }
  return regexes;
}

typedef struct
{
  TailorPiiSpan span;
  guint detector;
} PiiCandidate;

static gint
candidate_compare (gconstpointer a, gconstpointer b)
{
  const PiiCandidate *ca = a, *cb = b;
  guint ra = pii_kind_rank[ca->span.kind], rb = pii_kind_rank[cb->span.kind];
  gsize la = ca->span.end - ca->span.start, lb = cb->span.end - cb->span.start;

  if (ra != rb)
    return ra < rb ? -1 : 1;
  if (la != lb)
    return la > lb ? -1 : 1;
  if (ca->detector != cb->detector)
    return ca->detector < cb->detector ? -1 : 1;
  return (ca->span.start > cb->span.start) - (ca->span.start < cb->span.start);
}

static gint
span_compare (gconstpointer a, gconstpointer b)
{
  const TailorPiiSpan *sa = a, *sb = b;

  return (sa->start > sb->start) - (sa->start < sb->start);
}

GArray *
tailor_pii_scan_text (const char *text, const TailorPiiOptions *options)
{
  GRegex **regexes = NULL;
  g_autoptr (GArray) candidates = NULL;
  GArray *spans;
  gsize len;
  gboolean has_digit = FALSE;
  guint d, i, j;

  g_return_val_if_fail (text != NULL, NULL);

  regexes = pii_regexes ();
  spans = g_array_new (FALSE, FALSE, sizeof (TailorPiiSpan));
  candidates = g_array_new (FALSE, FALSE, sizeof (PiiCandidate));
  len = strlen (text);
  for (i = 0; i < len && !has_digit; i++)
    has_digit = g_ascii_isdigit (text[i]);

  for (d = 0; d < G_N_ELEMENTS (pii_detectors); d++)
    {
      const PiiDetector *det = &pii_detectors[d];
      g_autoptr (GMatchInfo) match = NULL;

      if (options != NULL && !options->enabled[det->kind])
        continue;
      if ((det->needs_digit && !has_digit) ||
          (det->prefilter != NULL && strstr (text, det->prefilter) == NULL))
        continue;
      g_regex_match_full (regexes[d], text, len, 0, 0, &match, NULL);
      while (g_match_info_matches (match))
        {
          gint s = -1, e = -1;

          if (g_match_info_fetch_pos (match, det->group, &s, &e) && s >= 0 && e > s)
            {
              PiiCandidate c = { { det->kind, det->detail, s, e }, d };

              if (det->validate == NULL || det->validate (text, &c.span.start, &c.span.end))
                g_array_append_val (candidates, c);
            }
          g_match_info_next (match, NULL);
        }
    }

  g_array_sort (candidates, candidate_compare);
  for (i = 0; i < candidates->len; i++)
    {
      const PiiCandidate *c = &g_array_index (candidates, PiiCandidate, i);
      gboolean overlaps = FALSE;

      for (j = 0; j < spans->len && !overlaps; j++)
        {
          const TailorPiiSpan *s = &g_array_index (spans, TailorPiiSpan, j);

          overlaps = c->span.start < s->end && s->start < c->span.end;
        }
      if (!overlaps)
        g_array_append_val (spans, c->span);
    }
  g_array_sort (spans, span_compare);
  return spans;
}

char *
tailor_pii_redact_text (const char *text, GArray *spans, const TailorPiiOptions *options)
{
  GString *out;
  gsize at = 0;
  guint i;

  g_return_val_if_fail (text != NULL && spans != NULL, NULL);

  out = g_string_sized_new (strlen (text));
  for (i = 0; i < spans->len; i++)
    {
      const TailorPiiSpan *s = &g_array_index (spans, TailorPiiSpan, i);

      if (options != NULL && options->actions[s->kind] != TAILOR_PII_ACTION_REDACT)
        continue;
      g_return_val_if_fail (s->start >= at, g_string_free (out, TRUE));
      g_string_append_len (out, text + at, s->start - at);
      g_string_append (out, pii_placeholders[s->kind]);
      at = s->end;
    }
  g_string_append (out, text + at);
  return g_string_free (out, FALSE);
}

char *
tailor_pii_mask_preview (const char *text, gsize start, gsize end)
{
  glong n;
  glong reveal;
  const char *head_end, *tail_start;
  GString *out;

  g_return_val_if_fail (text != NULL && start <= end, NULL);

  n = g_utf8_strlen (text + start, end - start);
  reveal = n >= 16 ? 2 : n >= 8 ? 1 : 0;
  out = g_string_new (NULL);
  head_end = g_utf8_offset_to_pointer (text + start, reveal);
  tail_start = g_utf8_offset_to_pointer (text + start, n - reveal);
  g_string_append_len (out, text + start, head_end - (text + start));
  g_string_append (out, "…");
  g_string_append_len (out, tail_start, (text + end) - tail_start);
  return g_string_free (out, FALSE);
}

typedef struct
{
  GPtrArray *examples;
  const TailorPiiOptions *options;
  GArray **findings; /* per example; NULL when none */
  GCancellable *cancellable;
} PiiJob;

static void
pii_finding_clear (gpointer data)
{
  TailorPiiFinding *f = data;

  g_free (f->preview);
}

static void
pii_range (gint64 begin, gint64 end, gpointer user_data)
{
  PiiJob *job = user_data;
  gint64 i;

  for (i = begin; i < end; i++)
    {
      const TailorExample *example = g_ptr_array_index (job->examples, i);
      guint f, k;

      if (job->cancellable != NULL && g_cancellable_is_cancelled (job->cancellable))
        return;
      for (f = 0; f < example_n_fields (example); f++)
        {
          const char *text = example_field (example, f);
          g_autoptr (GArray) spans = NULL;

          if (text == NULL)
            continue;
          spans = tailor_pii_scan_text (text, job->options);
          for (k = 0; k < spans->len; k++)
            {
              const TailorPiiSpan *s = &g_array_index (spans, TailorPiiSpan, k);
              TailorPiiFinding finding = { i, f, s->kind, s->detail, s->start, s->end, NULL };

              finding.preview = tailor_pii_mask_preview (text, s->start, s->end);
              if (job->findings[i] == NULL)
                {
                  job->findings[i] = g_array_new (FALSE, FALSE, sizeof (TailorPiiFinding));
                  g_array_set_clear_func (job->findings[i], pii_finding_clear);
                }
              g_array_append_val (job->findings[i], finding);
            }
        }
    }
}

TailorPiiReport *
tailor_pii_scan (GPtrArray *examples,
                 const TailorPiiOptions *options,
                 GCancellable *cancellable,
                 GError **error)
{
  g_autoptr (TailorPiiReport) report = NULL;
  g_autofree GArray **findings = NULL;
  PiiJob job;
  guint i, k;

  g_return_val_if_fail (examples != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  report = g_new0 (TailorPiiReport, 1);
  if (options != NULL)
    report->options = *options;
  else
    tailor_pii_options_init (&report->options);
  report->n_examples = examples->len;
  report->findings = g_array_new (FALSE, FALSE, sizeof (TailorPiiFinding));
  g_array_set_clear_func (report->findings, pii_finding_clear);

  findings = g_new0 (GArray *, MAX (examples->len, 1));
  job.examples = examples;
  job.options = &report->options;
  job.findings = findings;
  job.cancellable = cancellable;
  pii_regexes ();
  tailor_parallel_for (examples->len, 16, pii_range, &job);

  for (i = 0; i < examples->len; i++)
    {
      gboolean drop = FALSE;
      guint redact = 0;

      if (findings[i] == NULL)
        continue;
      report->n_examples_with_findings++;
      if (tailor_example_has_tag (g_ptr_array_index (examples, i), TAILOR_TAG_COUNTER_EXAMPLE))
        report->n_counter_examples_with_findings++;
      for (k = 0; k < findings[i]->len; k++)
        {
          TailorPiiFinding *f = &g_array_index (findings[i], TailorPiiFinding, k);

          report->counts[f->kind]++;
          drop |= report->options.actions[f->kind] == TAILOR_PII_ACTION_DROP;
          redact += report->options.actions[f->kind] == TAILOR_PII_ACTION_REDACT;
          g_array_append_val (report->findings, *f);
          f->preview = NULL;
        }
      if (drop)
        report->n_dropped++;
      else
        report->n_redacted += redact;
      g_array_unref (findings[i]);
    }
  if (set_cancelled_error (cancellable, error))
    return NULL;
  return g_steal_pointer (&report);
}

GPtrArray *
tailor_pii_report_apply (const TailorPiiReport *report, GPtrArray *examples)
{
  GPtrArray *out;
  guint i, at = 0;

  g_return_val_if_fail (report != NULL && examples != NULL, NULL);
  g_return_val_if_fail (examples->len == report->n_examples, NULL);

  out = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);
  for (i = 0; i < examples->len; i++)
    {
      const TailorExample *example = g_ptr_array_index (examples, i);
      guint first = at, last, k;
      gboolean drop = FALSE;
      TailorExample *copy;

      while (at < report->findings->len &&
             g_array_index (report->findings, TailorPiiFinding, at).index == i)
        at++;
      last = at;
      for (k = first; k < last; k++)
        drop |=
          report->options.actions[g_array_index (report->findings, TailorPiiFinding, k).kind] ==
          TAILOR_PII_ACTION_DROP;
      if (drop)
        continue;
      copy = tailor_example_copy (example);
      for (k = first; k < last;)
        {
          guint field = g_array_index (report->findings, TailorPiiFinding, k).field;
          g_autoptr (GArray) spans = g_array_new (FALSE, FALSE, sizeof (TailorPiiSpan));
          char **slot;

          for (; k < last && g_array_index (report->findings, TailorPiiFinding, k).field == field;
               k++)
            {
              const TailorPiiFinding *f = &g_array_index (report->findings, TailorPiiFinding, k);
              TailorPiiSpan s = { f->kind, f->detail, f->start, f->end };

              g_array_append_val (spans, s);
            }
          slot = copy->kind == TAILOR_EXAMPLE_CHAT
                   ? &g_array_index (copy->messages, TailorMessage, field).content
                   : &copy->text;
          {
            char *redacted = tailor_pii_redact_text (*slot, spans, &report->options);

            g_free (*slot);
            *slot = redacted;
          }
        }
      g_ptr_array_add (out, copy);
    }
  return out;
}

JsonNode *
tailor_pii_report_to_json (const TailorPiiReport *report)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint i;

  g_return_val_if_fail (report != NULL, NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "examples");
  json_builder_add_int_value (b, report->n_examples);
  json_builder_set_member_name (b, "examples_with_findings");
  json_builder_add_int_value (b, report->n_examples_with_findings);
  json_builder_set_member_name (b, "counter_examples_with_findings");
  json_builder_add_int_value (b, report->n_counter_examples_with_findings);
  json_builder_set_member_name (b, "redacted");
  json_builder_add_int_value (b, report->n_redacted);
  json_builder_set_member_name (b, "dropped");
  json_builder_add_int_value (b, report->n_dropped);
  json_builder_set_member_name (b, "kinds");
  json_builder_begin_object (b);
  for (i = 0; i < TAILOR_PII_N_KINDS; i++)
    {
      json_builder_set_member_name (b, pii_kind_names[i]);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "count");
      json_builder_add_int_value (b, report->counts[i]);
      json_builder_set_member_name (b, "enabled");
      json_builder_add_boolean_value (b, report->options.enabled[i]);
      json_builder_set_member_name (b, "action");
      json_builder_add_string_value (b, pii_action_names[report->options.actions[i]]);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "findings");
  json_builder_begin_array (b);
  for (i = 0; i < report->findings->len; i++)
    {
      const TailorPiiFinding *f = &g_array_index (report->findings, TailorPiiFinding, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "index");
      json_builder_add_int_value (b, f->index);
      json_builder_set_member_name (b, "field");
      json_builder_add_int_value (b, f->field);
      json_builder_set_member_name (b, "kind");
      json_builder_add_string_value (b, pii_kind_names[f->kind]);
      json_builder_set_member_name (b, "detail");
      json_builder_add_string_value (b, f->detail);
      json_builder_set_member_name (b, "start");
      json_builder_add_int_value (b, f->start);
      json_builder_set_member_name (b, "end");
      json_builder_add_int_value (b, f->end);
      json_builder_set_member_name (b, "preview");
      json_builder_add_string_value (b, f->preview);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
tailor_pii_report_free (TailorPiiReport *report)
{
  if (report == NULL)
    return;
  g_clear_pointer (&report->findings, g_array_unref);
  g_free (report);
}

/* ========================================================================================== */
/* Glossary */

typedef struct
{
  char *variant;
  char *preferred;
  gboolean exact;
} GlossaryEntry;

struct _TailorGlossary
{
  GPtrArray *entries;      /* GlossaryEntry*, in the order added */
  GHashTable *exact_index; /* variant, spaces collapsed -> entry index + 1 */
  GHashTable *fold_index;  /* case-folded variant, spaces collapsed -> entry index + 1 */
  GRegex *regex;           /* built on first use after a change */
};

static void
glossary_entry_free (gpointer data)
{
  GlossaryEntry *entry = data;

  g_free (entry->variant);
  g_free (entry->preferred);
  g_free (entry);
}

TailorGlossary *
tailor_glossary_new (void)
{
  TailorGlossary *self = g_new0 (TailorGlossary, 1);

  self->entries = g_ptr_array_new_with_free_func (glossary_entry_free);
  self->exact_index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->fold_index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return self;
}

void
tailor_glossary_free (TailorGlossary *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->entries);
  g_hash_table_unref (self->exact_index);
  g_hash_table_unref (self->fold_index);
  g_clear_pointer (&self->regex, g_regex_unref);
  g_free (self);
}

guint
tailor_glossary_get_n_entries (const TailorGlossary *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->entries->len;
}

/* Runs of Unicode whitespace become one space; ends trimmed. */
static char *
collapse_spaces (const char *s, gsize len)
{
  GString *out = g_string_sized_new (len);
  const char *p = s, *end = s + len;
  gboolean space = FALSE;

  while (p < end)
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c))
        space = out->len > 0;
      else
        {
          if (space)
            g_string_append_c (out, ' ');
          space = FALSE;
          g_string_append_unichar (out, c);
        }
      p = g_utf8_next_char (p);
    }
  return g_string_free (out, FALSE);
}

gboolean
tailor_glossary_add (TailorGlossary *self,
                     const char *variant,
                     const char *preferred,
                     gboolean exact_case,
                     GError **error)
{
  g_autofree char *collapsed = NULL;
  g_autofree char *folded = NULL;
  GlossaryEntry *entry;
  guint index;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (variant != NULL && preferred != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!g_utf8_validate (variant, -1, NULL) || !g_utf8_validate (preferred, -1, NULL))
    {
      g_set_error_literal (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_ENCODING,
                           "Glossary entry is not valid UTF-8; save the glossary as UTF-8");
      return FALSE;
    }
  collapsed = collapse_spaces (variant, strlen (variant));
  if (collapsed[0] == '\0' || preferred[0] == '\0')
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "Glossary entry “%s” → “%s” has an empty side; give both the variant and "
                   "the preferred term",
                   variant, preferred);
      return FALSE;
    }
  folded = g_utf8_casefold (collapsed, -1);
  if (g_hash_table_contains (exact_case ? self->exact_index : self->fold_index,
                             exact_case ? collapsed : folded))
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                   "Glossary variant “%s” is listed twice; keep one entry for it", variant);
      return FALSE;
    }

  entry = g_new0 (GlossaryEntry, 1);
  entry->variant = g_steal_pointer (&collapsed);
  entry->preferred = g_strdup (preferred);
  entry->exact = exact_case;
  index = self->entries->len;
  g_ptr_array_add (self->entries, entry);
  if (exact_case)
    g_hash_table_insert (self->exact_index, g_strdup (entry->variant),
                         GUINT_TO_POINTER (index + 1));
  else
    g_hash_table_insert (self->fold_index, g_steal_pointer (&folded), GUINT_TO_POINTER (index + 1));
  g_clear_pointer (&self->regex, g_regex_unref);
  return TRUE;
}

TailorGlossary *
tailor_glossary_load (const char *path, GError **error)
{
  g_autoptr (TailorGlossary) self = NULL;
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GError) local_error = NULL;
  guint i;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!g_file_get_contents (path, &contents, NULL, &local_error))
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_IO, "Cannot read glossary %s: %s",
                   path, local_error->message);
      return NULL;
    }
  if (!g_utf8_validate (contents, -1, NULL))
    {
      g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_ENCODING,
                   "Glossary %s is not valid UTF-8; save it as UTF-8", path);
      return NULL;
    }
  self = tailor_glossary_new ();
  lines = g_strsplit (contents, "\n", -1);
  for (i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = NULL;
      char *line = g_strchomp (lines[i]);
      guint n;

      if (line[0] == '\0' || line[0] == '#')
        continue;
      fields = g_strsplit (line, "\t", -1);
      n = g_strv_length (fields);
      if (n < 2 || n > 3 || (n == 3 && g_strcmp0 (fields[2], "exact") != 0))
        {
          g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT,
                       "%s:%u: expected “variant<TAB>preferred” or “variant<TAB>preferred<TAB>"
                       "exact”; fix or remove the line",
                       path, i + 1);
          return NULL;
        }
      if (!tailor_glossary_add (self, fields[0], fields[1], n == 3, &local_error))
        {
          g_set_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT, "%s:%u: %s", path, i + 1,
                       local_error->message);
          return NULL;
        }
    }
  return g_steal_pointer (&self);
}

static gint
entry_length_compare (gconstpointer a, gconstpointer b)
{
  const GlossaryEntry *ea = *(GlossaryEntry *const *) a;
  const GlossaryEntry *eb = *(GlossaryEntry *const *) b;
  glong la = g_utf8_strlen (ea->variant, -1), lb = g_utf8_strlen (eb->variant, -1);

  if (la != lb)
    return la > lb ? -1 : 1;
  return eb->exact - ea->exact;
}

static GRegex *
glossary_regex (TailorGlossary *self)
{
  g_autoptr (GPtrArray) sorted = NULL;
  g_autoptr (GString) pattern = NULL;
  g_autoptr (GError) error = NULL;
  guint i;

  if (self->regex != NULL)
    return self->regex;

  sorted = g_ptr_array_copy (self->entries, NULL, NULL);
  /* The copy inherits the entries' free function; it only borrows them. */
  g_ptr_array_set_free_func (sorted, NULL);
  g_ptr_array_sort (sorted, entry_length_compare);
  /* Unicode word boundaries: no letter, mark, digit or underscore on either side. */
  pattern = g_string_new ("(?<![\\p{L}\\p{M}\\p{N}_])(?:");
  for (i = 0; i < sorted->len; i++)
    {
      const GlossaryEntry *entry = g_ptr_array_index (sorted, i);
      g_auto (GStrv) words = g_strsplit (entry->variant, " ", -1);
      guint w;

      if (i > 0)
        g_string_append_c (pattern, '|');
      g_string_append (pattern, entry->exact ? "(?-i:" : "(?i:");
      for (w = 0; words[w] != NULL; w++)
        {
          g_autofree char *escaped = g_regex_escape_string (words[w], -1);

          if (w > 0)
            g_string_append (pattern, "\\s+");
          g_string_append (pattern, escaped);
        }
      g_string_append_c (pattern, ')');
    }
  g_string_append (pattern, ")(?![\\p{L}\\p{M}\\p{N}_])");
  self->regex = g_regex_new (pattern->str, G_REGEX_OPTIMIZE, 0, &error);
  g_assert_no_error (error);
  return self->regex;
}

/* The entry a match belongs to: an exact-case entry first, else the case-insensitive one. */
static gint
glossary_lookup (TailorGlossary *self, const char *match, gsize len)
{
  g_autofree char *collapsed = collapse_spaces (match, len);
  g_autofree char *folded = NULL;
  gpointer hit;

  hit = g_hash_table_lookup (self->exact_index, collapsed);
  if (hit != NULL)
    return GPOINTER_TO_UINT (hit) - 1;
  folded = g_utf8_casefold (collapsed, -1);
  hit = g_hash_table_lookup (self->fold_index, folded);
  return hit != NULL ? (gint) GPOINTER_TO_UINT (hit) - 1 : -1;
}

/* The preferred term in the case pattern of the match. */
static void
append_with_case (GString *out, const GlossaryEntry *entry, const char *match, gsize len)
{
  const char *p;
  guint n_upper = 0, n_lower = 0;
  gunichar first = 0;

  if (entry->exact)
    {
      g_string_append (out, entry->preferred);
      return;
    }
  for (p = match; p < match + len; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (first == 0 && g_unichar_isalpha (c))
        first = c;
      n_upper += g_unichar_isupper (c);
      n_lower += g_unichar_islower (c);
    }
  if (n_upper >= 2 && n_lower == 0)
    {
      g_autofree char *upper = g_utf8_strup (entry->preferred, -1);

      g_string_append (out, upper);
    }
  else if (first != 0 && g_unichar_isupper (first))
    {
      const char *rest = g_utf8_next_char (entry->preferred);

      g_string_append_unichar (out, g_unichar_totitle (g_utf8_get_char (entry->preferred)));
      g_string_append (out, rest);
    }
  else
    g_string_append (out, entry->preferred);
}

typedef struct
{
  TailorGlossary *glossary;
  guint *per_entry;
  guint total;
} GlossaryReplace;

static gboolean
glossary_replace_cb (const GMatchInfo *match, GString *result, gpointer user_data)
{
  GlossaryReplace *state = user_data;
  g_autofree char *text = g_match_info_fetch (match, 0);
  gint index = glossary_lookup (state->glossary, text, strlen (text));

  if (index < 0)
    {
      g_string_append (result, text);
      return FALSE;
    }
  append_with_case (result, g_ptr_array_index (state->glossary->entries, index), text,
                    strlen (text));
  state->per_entry[index]++;
  state->total++;
  return FALSE;
}

static char *
glossary_apply (TailorGlossary *self, const char *text, guint *per_entry, guint *n_replaced)
{
  GlossaryReplace state = { self, per_entry, 0 };
  char *out;

  if (self->entries->len == 0)
    out = g_strdup (text);
  else
    out = g_regex_replace_eval (glossary_regex (self), text, -1, 0, 0, glossary_replace_cb, &state,
                                NULL);
  if (n_replaced != NULL)
    *n_replaced = state.total;
  return out;
}

char *
tailor_glossary_apply_text (TailorGlossary *self, const char *text, guint *n_replaced)
{
  g_autofree guint *per_entry = NULL;

  g_return_val_if_fail (self != NULL && text != NULL, NULL);

  per_entry = g_new0 (guint, MAX (self->entries->len, 1));
  return glossary_apply (self, text, per_entry, n_replaced);
}

GPtrArray *
tailor_glossary_apply (TailorGlossary *self, GPtrArray *examples, TailorGlossaryReport **report)
{
  g_autoptr (TailorGlossaryReport) r = NULL;
  g_autofree guint *per_entry = NULL;
  g_autofree guint *seen = NULL;
  GPtrArray *out;
  guint i, e;

  g_return_val_if_fail (self != NULL && examples != NULL, NULL);

  r = g_new0 (TailorGlossaryReport, 1);
  r->n_examples = examples->len;
  r->entries = g_array_new (FALSE, TRUE, sizeof (TailorGlossaryCount));
  per_entry = g_new0 (guint, MAX (self->entries->len, 1));
  seen = g_new0 (guint, MAX (self->entries->len, 1));
  for (e = 0; e < self->entries->len; e++)
    {
      const GlossaryEntry *entry = g_ptr_array_index (self->entries, e);
      TailorGlossaryCount count = { g_strdup (entry->variant), g_strdup (entry->preferred), 0, 0 };

      g_array_append_val (r->entries, count);
    }

  out = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);
  for (i = 0; i < examples->len; i++)
    {
      TailorExample *copy = tailor_example_copy (g_ptr_array_index (examples, i));
      guint changed = 0;
      guint f;

      memset (per_entry, 0, MAX (self->entries->len, 1) * sizeof (guint));
      for (f = 0; f < example_n_fields (copy); f++)
        {
          char **slot = copy->kind == TAILOR_EXAMPLE_CHAT
                          ? &g_array_index (copy->messages, TailorMessage, f).content
                          : &copy->text;
          guint n = 0;
          char *normalised;

          if (*slot == NULL)
            continue;
          normalised = glossary_apply (self, *slot, per_entry, &n);
          g_free (*slot);
          *slot = normalised;
          changed += n;
        }
      for (e = 0; e < self->entries->len; e++)
        if (per_entry[e] > 0)
          {
            TailorGlossaryCount *count = &g_array_index (r->entries, TailorGlossaryCount, e);

            count->n_replacements += per_entry[e];
            count->n_examples++;
          }
      if (changed > 0)
        {
          r->n_examples_changed++;
          if (tailor_example_has_tag (copy, TAILOR_TAG_COUNTER_EXAMPLE))
            r->n_counter_examples_changed++;
        }
      g_ptr_array_add (out, copy);
    }
  if (report != NULL)
    *report = g_steal_pointer (&r);
  return out;
}

JsonNode *
tailor_glossary_report_to_json (const TailorGlossaryReport *report)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint i;

  g_return_val_if_fail (report != NULL, NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "examples");
  json_builder_add_int_value (b, report->n_examples);
  json_builder_set_member_name (b, "examples_changed");
  json_builder_add_int_value (b, report->n_examples_changed);
  json_builder_set_member_name (b, "counter_examples_changed");
  json_builder_add_int_value (b, report->n_counter_examples_changed);
  json_builder_set_member_name (b, "entries");
  json_builder_begin_array (b);
  for (i = 0; i < report->entries->len; i++)
    {
      const TailorGlossaryCount *c = &g_array_index (report->entries, TailorGlossaryCount, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "variant");
      json_builder_add_string_value (b, c->variant);
      json_builder_set_member_name (b, "preferred");
      json_builder_add_string_value (b, c->preferred);
      json_builder_set_member_name (b, "replacements");
      json_builder_add_int_value (b, c->n_replacements);
      json_builder_set_member_name (b, "examples");
      json_builder_add_int_value (b, c->n_examples);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
tailor_glossary_report_free (TailorGlossaryReport *report)
{
  guint i;

  if (report == NULL)
    return;
  for (i = 0; i < report->entries->len; i++)
    {
      TailorGlossaryCount *c = &g_array_index (report->entries, TailorGlossaryCount, i);

      g_free (c->variant);
      g_free (c->preferred);
    }
  g_array_unref (report->entries);
  g_free (report);
}

/* ========================================================================================== */
/* Counter-examples */

guint
tailor_examples_tag_where (GPtrArray *examples,
                           const char *tag,
                           TailorExamplePredicate predicate,
                           gconstpointer user_data)
{
  guint n = 0;
  guint i;

  g_return_val_if_fail (examples != NULL && tag != NULL && predicate != NULL, 0);

  for (i = 0; i < examples->len; i++)
    {
      TailorExample *example = g_ptr_array_index (examples, i);

      if (!tailor_example_has_tag (example, tag) && predicate (example, user_data))
        {
          tailor_example_add_tag (example, tag);
          n++;
        }
    }
  return n;
}

gboolean
tailor_example_source_matches (const TailorExample *example, gconstpointer glob)
{
  g_return_val_if_fail (example != NULL && glob != NULL, FALSE);

  return example->source != NULL && g_pattern_match_simple (glob, example->source);
}

gboolean
tailor_example_contains_marker (const TailorExample *example, gconstpointer marker)
{
  guint f;

  g_return_val_if_fail (example != NULL && marker != NULL, FALSE);

  for (f = 0; f < example_n_fields (example); f++)
    {
      const char *text = example_field (example, f);

      if (text != NULL && strstr (text, marker) != NULL)
        return TRUE;
    }
  return FALSE;
}

guint
tailor_examples_count_tag (GPtrArray *examples, const char *tag)
{
  guint n = 0;
  guint i;

  g_return_val_if_fail (examples != NULL && tag != NULL, 0);

  for (i = 0; i < examples->len; i++)
    n += tailor_example_has_tag (g_ptr_array_index (examples, i), tag);
  return n;
}

/* ========================================================================================== */
/* Token lengths */

typedef struct
{
  TailorLengthReport pub;
  GArray *all_lengths; /* guint: every length added, for the total */
} LengthReport;

static void
length_stats_free (gpointer data)
{
  TailorLengthStats *stats = data;

  if (stats == NULL)
    return;
  g_free (stats->split);
  g_free (stats->edges);
  g_free (stats->counts);
  g_free (stats);
}

static gint
guint_compare (gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *) a, y = *(const guint *) b;

  return (x > y) - (x < y);
}

/* Nearest rank: the smallest length with at least p% of lengths at or below it. */
static guint
percentile (const GArray *sorted, guint p)
{
  guint64 rank = ((guint64) p * sorted->len + 99) / 100;

  return g_array_index (sorted, guint, MAX (rank, 1) - 1);
}

static TailorLengthStats *
length_stats_new (const char *split, const GArray *lengths, guint sequence_length, guint n_buckets)
{
  TailorLengthStats *stats = g_new0 (TailorLengthStats, 1);
  g_autoptr (GArray) sorted = g_array_copy ((GArray *) lengths);
  guint i;

  stats->split = g_strdup (split);
  stats->n_buckets = n_buckets;
  stats->edges = g_new (guint, n_buckets + 1);
  stats->counts = g_new0 (guint, n_buckets);
  for (i = 0; i <= n_buckets; i++)
    stats->edges[i] = (guint) ((guint64) sequence_length * i / n_buckets);

  stats->n_examples = sorted->len;
  if (sorted->len == 0)
    return stats;
  g_array_sort (sorted, guint_compare);
  stats->min = g_array_index (sorted, guint, 0);
  stats->max = g_array_index (sorted, guint, sorted->len - 1);
  for (i = 0; i < sorted->len; i++)
    {
      guint len = g_array_index (sorted, guint, i);
      guint lo = 0, hi = n_buckets - 1;

      stats->n_tokens += len;
      if (len > sequence_length)
        {
          stats->n_truncated++;
          stats->n_tokens_lost += len - sequence_length;
          continue;
        }
      /* The bucket with edges[b] < len <= edges[b + 1]; 0 goes to bucket 0. */
      while (lo < hi)
        {
          guint mid = (lo + hi) / 2;

          if (len <= stats->edges[mid + 1])
            hi = mid;
          else
            lo = mid + 1;
        }
      stats->counts[lo]++;
    }
  stats->mean = (double) stats->n_tokens / sorted->len;
  stats->p50 = percentile (sorted, 50);
  stats->p90 = percentile (sorted, 90);
  stats->p95 = percentile (sorted, 95);
  stats->p99 = percentile (sorted, 99);
  return stats;
}

TailorLengthReport *
tailor_length_report_new (guint sequence_length, guint n_buckets)
{
  LengthReport *self;

  g_return_val_if_fail (sequence_length > 0, NULL);

  self = g_new0 (LengthReport, 1);
  if (n_buckets == 0)
    n_buckets = TAILOR_LENGTH_DEFAULT_BUCKETS;
  self->pub.sequence_length = sequence_length;
  self->pub.n_buckets = MIN (n_buckets, sequence_length);
  self->pub.splits = g_ptr_array_new_with_free_func (length_stats_free);
  self->all_lengths = g_array_new (FALSE, FALSE, sizeof (guint));
  self->pub.total =
    length_stats_new ("all", self->all_lengths, sequence_length, self->pub.n_buckets);
  return &self->pub;
}

void
tailor_length_report_add_split (TailorLengthReport *report,
                                const char *split,
                                GPtrArray *examples,
                                TailorTokenCountFunc count,
                                gpointer user_data)
{
  LengthReport *self = (LengthReport *) report;
  g_autoptr (GArray) lengths = NULL;
  guint i;

  g_return_if_fail (report != NULL && split != NULL && examples != NULL && count != NULL);

  lengths = g_array_sized_new (FALSE, FALSE, sizeof (guint), examples->len);
  for (i = 0; i < examples->len; i++)
    {
      guint n = count (g_ptr_array_index (examples, i), user_data);

      g_array_append_val (lengths, n);
    }
  g_array_append_vals (self->all_lengths, lengths->data, lengths->len);
  g_ptr_array_add (report->splits,
                   length_stats_new (split, lengths, report->sequence_length, report->n_buckets));
  length_stats_free (report->total);
  report->total =
    length_stats_new ("all", self->all_lengths, report->sequence_length, report->n_buckets);
}

static void
length_stats_to_json (JsonBuilder *b, const TailorLengthStats *s)
{
  guint i;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "split");
  json_builder_add_string_value (b, s->split);
  json_builder_set_member_name (b, "examples");
  json_builder_add_int_value (b, s->n_examples);
  json_builder_set_member_name (b, "truncated");
  json_builder_add_int_value (b, s->n_truncated);
  json_builder_set_member_name (b, "tokens");
  json_builder_add_int_value (b, s->n_tokens);
  json_builder_set_member_name (b, "tokens_lost");
  json_builder_add_int_value (b, s->n_tokens_lost);
  json_builder_set_member_name (b, "min");
  json_builder_add_int_value (b, s->min);
  json_builder_set_member_name (b, "max");
  json_builder_add_int_value (b, s->max);
  json_builder_set_member_name (b, "mean");
  json_builder_add_double_value (b, s->mean);
  json_builder_set_member_name (b, "p50");
  json_builder_add_int_value (b, s->p50);
  json_builder_set_member_name (b, "p90");
  json_builder_add_int_value (b, s->p90);
  json_builder_set_member_name (b, "p95");
  json_builder_add_int_value (b, s->p95);
  json_builder_set_member_name (b, "p99");
  json_builder_add_int_value (b, s->p99);
  json_builder_set_member_name (b, "edges");
  json_builder_begin_array (b);
  for (i = 0; i <= s->n_buckets; i++)
    json_builder_add_int_value (b, s->edges[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "counts");
  json_builder_begin_array (b);
  for (i = 0; i < s->n_buckets; i++)
    json_builder_add_int_value (b, s->counts[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
}

JsonNode *
tailor_length_report_to_json (const TailorLengthReport *report)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint i;

  g_return_val_if_fail (report != NULL, NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "sequence_length");
  json_builder_add_int_value (b, report->sequence_length);
  json_builder_set_member_name (b, "splits");
  json_builder_begin_array (b);
  for (i = 0; i < report->splits->len; i++)
    length_stats_to_json (b, g_ptr_array_index (report->splits, i));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "total");
  length_stats_to_json (b, report->total);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
tailor_length_report_free (TailorLengthReport *report)
{
  LengthReport *self = (LengthReport *) report;

  if (report == NULL)
    return;
  g_ptr_array_unref (report->splits);
  length_stats_free (report->total);
  g_array_unref (self->all_lengths);
  g_free (self);
}

/* ========================================================================================== */
/* Balance */

static const guint default_balance_edges[] = {
  0, 128, 256, 512, 1024, 2048, 4096, 8192, G_MAXUINT
};

static gint
count_compare (gconstpointer a, gconstpointer b)
{
  const TailorCount *ca = a, *cb = b;

  if (ca->count != cb->count)
    return ca->count > cb->count ? -1 : 1;
  return strcmp (ca->key, cb->key);
}

static GArray *
counts_from_table (GHashTable *table)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (TailorCount));
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      TailorCount c = { g_strdup (key), GPOINTER_TO_UINT (value) };

      g_array_append_val (out, c);
    }
  g_array_sort (out, count_compare);
  return out;
}

static void
table_increment (GHashTable *table, const char *key)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (table, key));

  g_hash_table_replace (table, g_strdup (key), GUINT_TO_POINTER (n + 1));
}

static guint
example_n_chars (const TailorExample *example)
{
  guint n = 0;
  guint f;

  for (f = 0; f < example_n_fields (example); f++)
    {
      const char *text = example_field (example, f);

      if (text != NULL)
        n += g_utf8_strlen (text, -1);
    }
  return n;
}

TailorBalanceReport *
tailor_balance_report_new (GPtrArray *examples,
                           TailorTokenCountFunc count,
                           gpointer user_data,
                           const guint *edges,
                           guint n_edges)
{
  g_autoptr (GHashTable) sources = NULL;
  g_autoptr (GHashTable) tags = NULL;
  TailorBalanceReport *report;
  guint i, t;

  g_return_val_if_fail (examples != NULL, NULL);
  g_return_val_if_fail ((edges == NULL) == (n_edges == 0), NULL);
  g_return_val_if_fail (edges == NULL || n_edges >= 2, NULL);

  if (edges == NULL)
    {
      edges = default_balance_edges;
      n_edges = G_N_ELEMENTS (default_balance_edges);
    }
  for (i = 1; i < n_edges; i++)
    g_return_val_if_fail (edges[i] > edges[i - 1], NULL);

  report = g_new0 (TailorBalanceReport, 1);
  report->n_examples = examples->len;
  report->length_in_tokens = count != NULL;
  report->n_length_buckets = n_edges - 1;
  report->length_edges = g_memdup2 (edges, n_edges * sizeof (guint));
  report->length_counts = g_new0 (guint, n_edges - 1);
  sources = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  tags = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (i = 0; i < examples->len; i++)
    {
      const TailorExample *example = g_ptr_array_index (examples, i);
      guint len = count != NULL ? count (example, user_data) : example_n_chars (example);
      guint b;

      table_increment (sources, example->source != NULL ? example->source : "(unknown)");
      for (t = 0; t < example->tags->len; t++)
        table_increment (tags, g_ptr_array_index (example->tags, t));
      report->n_counter_examples += tailor_example_has_tag (example, TAILOR_TAG_COUNTER_EXAMPLE);
      /* Bucket b holds (edges[b], edges[b + 1]]; the first also holds edges[0] itself. Lengths
       * outside every bucket go to the nearest end. */
      for (b = 0; b + 1 < report->n_length_buckets && len > edges[b + 1]; b++)
        ;
      report->length_counts[b]++;
    }
  report->per_source = counts_from_table (sources);
  report->per_tag = counts_from_table (tags);
  return report;
}

static void
counts_to_json (JsonBuilder *b, const char *name, const GArray *counts)
{
  guint i;

  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (i = 0; i < counts->len; i++)
    {
      const TailorCount *c = &g_array_index (counts, TailorCount, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "key");
      json_builder_add_string_value (b, c->key);
      json_builder_set_member_name (b, "count");
      json_builder_add_int_value (b, c->count);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

JsonNode *
tailor_balance_report_to_json (const TailorBalanceReport *report)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint i;

  g_return_val_if_fail (report != NULL, NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "examples");
  json_builder_add_int_value (b, report->n_examples);
  json_builder_set_member_name (b, "counter_examples");
  json_builder_add_int_value (b, report->n_counter_examples);
  counts_to_json (b, "sources", report->per_source);
  counts_to_json (b, "tags", report->per_tag);
  json_builder_set_member_name (b, "length_unit");
  json_builder_add_string_value (b, report->length_in_tokens ? "tokens" : "characters");
  json_builder_set_member_name (b, "length_buckets");
  json_builder_begin_array (b);
  for (i = 0; i < report->n_length_buckets; i++)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "above");
      json_builder_add_int_value (b, report->length_edges[i]);
      json_builder_set_member_name (b, "up_to");
      if (report->length_edges[i + 1] == G_MAXUINT)
        json_builder_add_null_value (b);
      else
        json_builder_add_int_value (b, report->length_edges[i + 1]);
      json_builder_set_member_name (b, "count");
      json_builder_add_int_value (b, report->length_counts[i]);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
counts_free (GArray *counts)
{
  guint i;

  for (i = 0; i < counts->len; i++)
    g_free (g_array_index (counts, TailorCount, i).key);
  g_array_unref (counts);
}

void
tailor_balance_report_free (TailorBalanceReport *report)
{
  if (report == NULL)
    return;
  counts_free (report->per_source);
  counts_free (report->per_tag);
  g_free (report->length_edges);
  g_free (report->length_counts);
  g_free (report);
}
