/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of dataset hygiene: duplicates and the leak query, PII corpus precision/recall,
 * redaction, glossary case rules, counter-examples, length histograms and balance. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-data-hygiene.h"

static GPtrArray *
examples_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);
}

static void
add_text (GPtrArray *examples, const char *text)
{
  g_ptr_array_add (examples, tailor_example_new_text (text));
}

/* A text of n distinct words; replaced[i] != 0 swaps word i for a word unique to variant. */
static char *
words_text (guint n, const guint8 *replaced, guint variant)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < n; i++)
    {
      if (i > 0)
        g_string_append_c (s, ' ');
      if (replaced != NULL && replaced[i])
        g_string_append_printf (s, "other%uv%u", i, variant);
      else
        g_string_append_printf (s, "word%u", i);
    }
  return g_string_free (s, FALSE);
}

/* The true Jaccard similarity of the k-word shingle sets, computed independently of MinHash. */
static GHashTable *
shingle_set (const char *text, guint k)
{
  g_auto (GStrv) words = g_strsplit (text, " ", -1);
  guint n = g_strv_length (words);
  GHashTable *set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint i;

  for (i = 0; i + k <= n; i++)
    {
      g_autofree char *joined = NULL;
      char *saved = words[i + k];

      words[i + k] = NULL;
      joined = g_strjoinv (" ", words + i);
      words[i + k] = saved;
      g_hash_table_add (set, g_steal_pointer (&joined));
    }
  return set;
}

static double
true_jaccard (const char *a, const char *b, guint k)
{
  g_autoptr (GHashTable) sa = shingle_set (a, k);
  g_autoptr (GHashTable) sb = shingle_set (b, k);
  GHashTableIter iter;
  gpointer key;
  guint shared = 0;

  g_hash_table_iter_init (&iter, sa);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    shared += g_hash_table_contains (sb, key);
  return (double) shared / (g_hash_table_size (sa) + g_hash_table_size (sb) - shared);
}

static const TailorDuplicateCluster *
cluster_of_keeper (const TailorDuplicateReport *report, guint keeper)
{
  guint i;

  for (i = 0; i < report->clusters->len; i++)
    {
      const TailorDuplicateCluster *c = g_ptr_array_index (report->clusters, i);

      if (c->keeper == keeper)
        return c;
    }
  return NULL;
}

static gboolean
cluster_has (const TailorDuplicateCluster *cluster, guint index, gboolean exact)
{
  guint i;

  for (i = 0; cluster != NULL && i < cluster->duplicates->len; i++)
    {
      const TailorDuplicate *d = &g_array_index (cluster->duplicates, TailorDuplicate, i);

      if (d->index == index)
        return d->exact == exact;
    }
  return FALSE;
}

static void
test_exact_duplicates_join_first_seen (void)
{
  g_autoptr (GPtrArray) examples = examples_new ();
  g_autoptr (TailorDuplicateReport) report = NULL;
  g_autoptr (GPtrArray) kept = NULL;
  g_autoptr (GError) error = NULL;
  const TailorDuplicateCluster *c;

  add_text (examples, "The quick brown fox jumps over the lazy dog near the river bank today.");
  add_text (examples, "A completely different sentence about tailoring language models locally.");
  add_text (examples, "the  QUICK brown fox jumps over the lazy dog\nnear the river bank today.");
  add_text (examples, "Short one.");
  add_text (examples, "The quick brown fox jumps over the lazy dog near the river bank today.");
  add_text (examples, "short ONE.");
  /* Full-width letters: NFKC makes them ASCII, so the Unicode path meets the ASCII one. */
  add_text (examples, "\xef\xbc\xb3hort \xef\xbd\x8fne.");

  report = tailor_find_duplicates (examples, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (report->n_examples, ==, 7);
  g_assert_cmpuint (report->n_exact, ==, 4);
  g_assert_cmpuint (report->n_near, ==, 0);
  g_assert_cmpuint (report->clusters->len, ==, 2);
  c = cluster_of_keeper (report, 0);
  g_assert_nonnull (c);
  g_assert_cmpuint (c->duplicates->len, ==, 2);
  g_assert_true (cluster_has (c, 2, TRUE));
  g_assert_true (cluster_has (c, 4, TRUE));
  c = cluster_of_keeper (report, 3);
  g_assert_nonnull (c);
  g_assert_cmpuint (c->duplicates->len, ==, 2);
  g_assert_true (cluster_has (c, 5, TRUE));
  g_assert_true (cluster_has (c, 6, TRUE));

  kept = tailor_duplicate_report_apply (report, examples);
  g_assert_cmpuint (kept->len, ==, 3);
  g_assert_cmpstr (((TailorExample *) g_ptr_array_index (kept, 2))->text, ==, "Short one.");
}

/* Variants of a 200-word text with 1, 2, 8 and 20 words replaced far apart: true Jaccard about
 * 0.95, 0.90, 0.66 and 0.32 over 5-word shingles. */
static GPtrArray *
near_duplicate_family (double *jaccard)
{
  static const guint n_replaced[] = { 0, 1, 2, 8, 20 };
  GPtrArray *examples = examples_new ();
  g_autofree char *base = words_text (200, NULL, 0);
  guint v;

  for (v = 0; v < G_N_ELEMENTS (n_replaced); v++)
    {
      guint8 replaced[200] = { 0 };
      g_autofree char *text = NULL;
      guint r;

      for (r = 0; r < n_replaced[v]; r++)
        replaced[5 + r * (190 / MAX (n_replaced[v], 1))] = 1;
      text = words_text (200, replaced, v);
      jaccard[v] = true_jaccard (base, text, 5);
      add_text (examples, text);
    }
  return examples;
}

static void
test_near_duplicates_follow_threshold (void)
{
  double jaccard[5];
  g_autoptr (GPtrArray) examples = near_duplicate_family (jaccard);
  g_autoptr (TailorSignatureSet) set = NULL;
  g_autoptr (TailorDuplicateReport) at_08 = NULL;
  g_autoptr (TailorDuplicateReport) at_05 = NULL;
  g_autoptr (GError) error = NULL;
  TailorDedupOptions options;
  const TailorDuplicateCluster *c;
  guint v;

  g_test_message ("true Jaccard to the base: %.3f %.3f %.3f %.3f", jaccard[1], jaccard[2],
                  jaccard[3], jaccard[4]);
  g_assert_cmpfloat (jaccard[1], >, 0.93);
  g_assert_cmpfloat (jaccard[2], >, 0.88);
  g_assert_cmpfloat (jaccard[3], <, 0.70);
  g_assert_cmpfloat (jaccard[3], >, 0.60);
  g_assert_cmpfloat (jaccard[4], <, 0.40);

  /* The estimate stays within 4 standard deviations (sqrt(J(1-J)/128) <= 0.045) of the truth. */
  tailor_dedup_options_init (&options);
  set = tailor_signature_set_new (examples, &options, NULL, &error);
  g_assert_no_error (error);
  for (v = 1; v < 5; v++)
    g_assert_cmpfloat (fabs (tailor_signature_set_estimate_jaccard (set, 0, set, v) - jaccard[v]),
                       <, 0.18);

  at_08 = tailor_find_duplicates (examples, &options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (at_08->bands * at_08->rows, <=, TAILOR_MINHASH_SIZE);
  g_assert_cmpuint (at_08->n_near, ==, 2);
  g_assert_cmpuint (at_08->clusters->len, ==, 1);
  c = cluster_of_keeper (at_08, 0);
  g_assert_true (cluster_has (c, 1, FALSE));
  g_assert_true (cluster_has (c, 2, FALSE));
  g_assert_false (cluster_has (c, 3, FALSE));
  g_assert_false (cluster_has (c, 4, FALSE));

  options.threshold = 0.5;
  at_05 = tailor_find_duplicates (examples, &options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (at_05->n_near, ==, 3);
  c = cluster_of_keeper (at_05, 0);
  g_assert_true (cluster_has (c, 1, FALSE));
  g_assert_true (cluster_has (c, 2, FALSE));
  g_assert_true (cluster_has (c, 3, FALSE));
  g_assert_false (cluster_has (c, 4, FALSE));
}

static void
test_banding_catches_pairs_at_threshold (void)
{
  static const double thresholds[] = { 0.5, 0.7, 0.8, 0.9, 0.95 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (thresholds); i++)
    {
      double t = thresholds[i];
      guint bands, rows;
      double p, p_more_rows;

      tailor_dedup_choose_bands (t, &bands, &rows);
      g_assert_cmpuint (bands * rows, <=, TAILOR_MINHASH_SIZE);
      p = 1.0 - pow (1.0 - pow (t, rows), bands);
      p_more_rows = 1.0 - pow (1.0 - pow (t, rows + 1), TAILOR_MINHASH_SIZE / (rows + 1));
      g_test_message ("threshold %.2f: %u bands × %u rows, P(candidate at threshold) %.4f", t,
                      bands, rows, p);
      g_assert_cmpfloat (p, >=, 0.995);
      g_assert_cmpfloat (p_more_rows, <, 0.995);
    }
}

static void
test_bad_options_are_rejected (void)
{
  g_autoptr (GPtrArray) examples = examples_new ();
  g_autoptr (TailorSignatureSet) set = NULL;
  g_autoptr (GError) error = NULL;
  TailorDedupOptions options;

  add_text (examples, "one two three");
  tailor_dedup_options_init (&options);
  options.threshold = 1.5;
  set = tailor_signature_set_new (examples, &options, NULL, &error);
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_null (set);
  g_clear_error (&error);

  tailor_dedup_options_init (&options);
  options.bands = 20;
  options.rows = 8;
  set = tailor_signature_set_new (examples, &options, NULL, &error);
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_null (set);
}

static void
test_counter_examples_dedup_among_themselves (void)
{
  g_autoptr (GPtrArray) examples = examples_new ();
  g_autoptr (TailorDuplicateReport) report = NULL;
  g_autoptr (GError) error = NULL;
  const char *answer = "Always quote the variable when you expand it in a shell script.";
  const TailorDuplicateCluster *c;
  TailorExample *e;

  add_text (examples, answer);
  e = tailor_example_new_text (answer);
  tailor_example_add_tag (e, TAILOR_TAG_COUNTER_EXAMPLE);
  g_ptr_array_add (examples, e);
  e = tailor_example_new_text (answer);
  tailor_example_add_tag (e, TAILOR_TAG_COUNTER_EXAMPLE);
  g_ptr_array_add (examples, e);

  report = tailor_find_duplicates (examples, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (report->n_counter_examples, ==, 2);
  g_assert_cmpuint (report->n_exact, ==, 1);
  g_assert_cmpuint (report->clusters->len, ==, 1);
  c = cluster_of_keeper (report, 1);
  g_assert_nonnull (c);
  g_assert_true (c->counter_examples);
  g_assert_true (cluster_has (c, 2, TRUE));
}

static TailorExample *
chat (const char *user, const char *assistant)
{
  TailorExample *e = tailor_example_new_chat ();

  tailor_example_add_message (e, "user", user);
  tailor_example_add_message (e, "assistant", assistant);
  return e;
}

static void
test_leak_query_finds_exact_and_near_not_unrelated (void)
{
  g_autoptr (GPtrArray) eval = examples_new ();
  g_autoptr (GPtrArray) train = examples_new ();
  g_autoptr (TailorSignatureSet) frozen = NULL;
  g_autoptr (TailorSignatureSet) restored = NULL;
  g_autoptr (TailorSetMatchReport) report = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GBytes) truncated = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *long_answer = words_text (120, NULL, 0);
  guint8 replaced[120] = { 0 };
  g_autofree char *near_answer = NULL;
  const TailorSetMatch *m;

  replaced[60] = 1;
  near_answer = words_text (120, replaced, 9);
  g_ptr_array_add (eval,
                   chat ("What is the capital of France?", "Paris is the capital of France."));
  g_ptr_array_add (eval, chat ("How do I reverse a list in Python?",
                               "Use reversed(items) or items[::-1] to get a reversed copy."));
  g_ptr_array_add (eval, chat ("Summarise the document.", long_answer));

  g_ptr_array_add (train, chat ("Name a prime number.", "Seven is a prime number."));
  g_ptr_array_add (train, chat ("how do I reverse a list in python?",
                                "Use reversed(items)  or items[::-1] to get a reversed copy."));
  g_ptr_array_add (train, chat ("Summarise the document.", near_answer));
  g_ptr_array_add (train,
                   chat ("What is the capital of Spain?", "Madrid is the capital of Spain."));

  frozen = tailor_signature_set_new (eval, NULL, NULL, &error);
  g_assert_no_error (error);
  bytes = tailor_signature_set_serialize (frozen);
  restored = tailor_signature_set_deserialize (bytes, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_signature_set_get_size (restored), ==, 3);
  g_assert_cmpmem (tailor_signature_set_get_minhash (restored, 2), TAILOR_MINHASH_SIZE * 4,
                   tailor_signature_set_get_minhash (frozen, 2), TAILOR_MINHASH_SIZE * 4);

  report = tailor_signature_set_find_matches (restored, train, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (report->n_checked, ==, 4);
  g_assert_cmpuint (report->n_exact, ==, 1);
  g_assert_cmpuint (report->n_near, ==, 1);
  g_assert_cmpuint (report->matches->len, ==, 2);
  m = &g_array_index (report->matches, TailorSetMatch, 0);
  g_assert_cmpuint (m->index, ==, 1);
  g_assert_cmpuint (m->frozen_index, ==, 1);
  g_assert_true (m->exact);
  m = &g_array_index (report->matches, TailorSetMatch, 1);
  g_assert_cmpuint (m->index, ==, 2);
  g_assert_cmpuint (m->frozen_index, ==, 2);
  g_assert_false (m->exact);
  g_assert_cmpfloat (m->jaccard, >=, 0.8);

  truncated = g_bytes_new_from_bytes (bytes, 0, g_bytes_get_size (bytes) - 1);
  g_clear_pointer (&restored, tailor_signature_set_free);
  restored = tailor_signature_set_deserialize (truncated, &error);
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_null (restored);
}

static guint32
next_random (guint32 *state)
{
  *state ^= *state << 13;
  *state ^= *state >> 17;
  *state ^= *state << 5;
  return *state;
}

/* 20,000 texts of about 1 KB from a 4,000-word vocabulary; every 50th repeats an earlier one
 * with one word changed (about 0.94 Jaccard). Timing is printed, not asserted. */
static void
test_minhash_timing_20000 (void)
{
  const guint n = 20000;
  g_autoptr (GPtrArray) examples = examples_new ();
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (TailorDuplicateReport) report = NULL;
  g_autoptr (GError) error = NULL;
  guint32 state = 12345;
  guint planted = 0;
  gint64 t0, t1;
  gsize bytes = 0;
  guint i, w;

  for (i = 0; i < n; i++)
    {
      GString *s = g_string_new (NULL);

      if (i % 50 == 49)
        {
          g_auto (GStrv) words = g_strsplit (g_ptr_array_index (texts, i - 25), " ", -1);
          g_autofree char *joined = NULL;

          g_free (words[80]);
          words[80] = g_strdup ("changed");
          joined = g_strjoinv (" ", words);
          g_string_append (s, joined);
          planted++;
        }
      else
        for (w = 0; w < 170; w++)
          g_string_append_printf (s, "%sw%u", w > 0 ? " " : "", next_random (&state) % 4000);
      bytes += s->len;
      add_text (examples, s->str);
      g_ptr_array_add (texts, g_string_free (s, FALSE));
    }

  t0 = g_get_monotonic_time ();
  report = tailor_find_duplicates (examples, NULL, NULL, &error);
  t1 = g_get_monotonic_time ();
  g_assert_no_error (error);
  g_test_message ("MinHash + LSH dedup of %u examples (%.1f MB): %.3f s", n, bytes / 1e6,
                  (t1 - t0) / 1e6);
  g_assert_cmpuint (report->n_exact, ==, 0);
  g_assert_cmpuint (report->n_near, ==, planted);
}

/* ---- PII ---- */

typedef struct
{
  const char *text;
  const char *expected; /* "kind=substring" separated by "||", or "" */
} PiiCase;

#define PEM_KEY                                                                \
  "-----BEGIN RSA PRIVATE "                                                    \
  "KEY-----\nMIIEowIBAAKCAQEAq1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ0123456789\n" \
  "aBcDeFgHiJkLmNoPqRsTuVwXyZ+/abcdefghijklmnop==\n-----END RSA PRIVATE KEY-----"

static const PiiCase pii_corpus[] = {
  /* email */
  { "Contact jane.doe@example.com for details.", "email=jane.doe@example.com" },
  { "Send it to support+billing@example.org, thanks", "email=support+billing@example.org" },
  { "mailto:a.b-c@sub.example.co.uk", "email=a.b-c@sub.example.co.uk" },
  { "Use the logo@2x.png asset for retina screens.", "" },
  { "Ping user@localhost or @handle on chat.", "" },
  { "Write to name at example dot com.", "" },
  /* phone */
  { "Call +1 (202) 555-0143 after nine.", "phone=+1 (202) 555-0143" },
  { "Our London office: +44 20 7946 0958.", "phone=+44 20 7946 0958" },
  { "Paris: +33 1 23 45 67 89", "phone=+33 1 23 45 67 89" },
  { "Office (415) 555-0132 or cell 202-555-0187.", "phone=(415) 555-0132||phone=202-555-0187" },
  { "UK desk 020 7946 0018, mobile 07700 900123.", "phone=020 7946 0018||phone=07700 900123" },
  { "Appelez le 01 23 45 67 89 demain.", "phone=01 23 45 67 89" },
  { "Berlin: 030 12345678", "phone=030 12345678" },
  { "From Germany dial 0049 30 901820.", "phone=0049 30 901820" },
  { "Phone: 2025550143", "phone=2025550143" },
  { "The meeting is on 2023-10-15 at 10:30.", "" },
  { "Released 15/10/2023 and patched 15.10.2023.", "" },
  { "Upgrade to version 1.2.3 or v2.10.4.", "" },
  { "Order #123456789 shipped; invoice 2023-0042-17.", "" },
  { "Ticket 1234567890123 was closed.", "" },
  { "Timestamp 1697371200 in seconds.", "" },
  { "The result was +12 345 points.", "" },
  { "ISBN 978-3-16-148410-0 is on the cover.", "" },
  { "Pi is 3.14159265358979 and e is 2.71828.", "" },
  { "Call 123-456-7890 is not a valid North American number.", "" },
  { "Price: $1,234,567.89 on port 8080.", "" },
  /* credit cards */
  { "Card 4111 1111 1111 1111 exp 12/29.", "credit-card=4111 1111 1111 1111" },
  { "MC 5555-5555-5555-4444 and Amex 3782 822463 10005.",
    "credit-card=5555-5555-5555-4444||credit-card=3782 822463 10005" },
  { "Discover 6011111111111117, Diners 30569309025904, JCB 3530111333300000",
    "credit-card=6011111111111117||credit-card=30569309025904||credit-card=3530111333300000" },
  { "Ref 12 4111 1111 1111 1111 12 items", "credit-card=4111 1111 1111 1111" },
  { "Luhn fails: 4111 1111 1111 1112 and 5555555555554445.", "" },
  { "Serial 1234 5678 9012 3456 is not a card.", "" },
  /* IBAN */
  { "IBAN: GB82 WEST 1234 5698 7654 32 EUR", "iban=GB82 WEST 1234 5698 7654 32" },
  { "Pay DE89 3704 0044 0532 0130 00 today.", "iban=DE89 3704 0044 0532 0130 00" },
  { "Compte FR14 2004 1010 0505 0001 3M02 606 et NL91ABNA0417164300",
    "iban=FR14 2004 1010 0505 0001 3M02 606||iban=NL91ABNA0417164300" },
  { "Bad checksum GB82 WEST 1234 5698 7654 33 and DE89 3704 0044 0532 0130 01.", "" },
  { "Model XK20 ABCDEFGHIJKLMNOP is a product code.", "" },
  /* IP addresses */
  { "The server is at 192.168.1.20, backup 10.0.0.1.",
    "ip-address=192.168.1.20||ip-address=10.0.0.1" },
  { "IPv6 2001:db8::8a2e:370:7334 and fe80::1ff:fe23:4567:890a",
    "ip-address=2001:db8::8a2e:370:7334||ip-address=fe80::1ff:fe23:4567:890a" },
  { "Mapped ::ffff:192.0.2.128 here", "ip-address=::ffff:192.0.2.128" },
  { "Python 3.11.4 and firmware version 2.4.10.3 and build 10.0.19045.2965", "" },
  { "Use std::vector at 12:30:45; MAC 00:1A:2B:3C:4D:5E; a::b", "" },
  { "Address 256.1.1.1 is not valid.", "" },
  /* private keys */
  { "Here is my key:\n" PEM_KEY "\nkeep it safe", "private-key=" PEM_KEY },
  { "A public key: -----BEGIN PUBLIC KEY----- MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE", "" },
  /* API keys and tokens */
  { "AWS key AKIAIOSFODNN7EXAMPLE in the config", "api-key=AKIAIOSFODNN7EXAMPLE" },
  { "aws_secret_access_key = 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",
    "api-key=4LbyoVFz8uZdZv8FuKKIBJl5dzpJn0meq7WJjjIB" },
  { "export GITHUB_TOKEN=ghp_U8JZpDE0iGXlD6gNCFbaEPFjbD0kH8Oool8D",
    "api-key=ghp_U8JZpDE0iGXlD6gNCFbaEPFjbD0kH8Oool8D" },
  { "oauth gho_klZDOCj2ISaJiHkTj0rLGlkoMXGjtEkDnNfr done",
    "api-key=gho_klZDOCj2ISaJiHkTj0rLGlkoMXGjtEkDnNfr" },
  { "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",
    "api-key=github_pat_ibxUdl7dXTPyLsxPFkThf4_"
    "VucSmEHgaKwVJ7faC9qEwjky40UVsWmflzdE1F8ResqEDusTpkr0cStY4qW" },
  { "Slack bot xoxb-711777741215-4728038528084-p3Fs2QhX6KWxOiixgVoOnzyw",
    "api-key=xoxb-711777741215-4728038528084-p3Fs2QhX6KWxOiixgVoOnzyw" },
  { "Stripe sk_live_53x83rzjZZZZGeoZDMENcKHV and pk_live_mDGAkJiG8XnBE3NnYJoQ9WmX",
    "api-key=sk_live_53x83rzjZZZZGeoZDMENcKHV||api-key=pk_live_mDGAkJiG8XnBE3NnYJoQ9WmX" },
  { "OPENAI_API_KEY: sk-proj-Wr4Y9OJFLJOqOAf1lLQSAJaiXnkU8Is2g8nprvDd",
    "api-key=sk-proj-Wr4Y9OJFLJOqOAf1lLQSAJaiXnkU8Is2g8nprvDd" },
  { "maps key AIzaB8dWKnHfDNxSIvPZZ63fFKcZjR4I0b3jRta",
    "api-key=AIzaB8dWKnHfDNxSIvPZZ63fFKcZjR4I0b3jRta" },
  { "Authorization: Bearer "
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJ1c2VyLTQyIiwibmFtZSI6IlRlc3QgVXNlciIsImlhdCI6MTcwMDAwMDAwMH0."
    "2MzP0ZvzOMhfWuBByReQMsm9Wcz7uW9XFOGOeMVNen5",
    "api-key=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJ1c2VyLTQyIiwibmFtZSI6IlRlc3QgVXNlciIsImlhdCI6MTcwMDAwMDAwMH0."
    "2MzP0ZvzOMhfWuBByReQMsm9Wcz7uW9XFOGOeMVNen5" },
  { "config: api_key=9f8e7d6c5b4a3f2e1d0c and token: 7Hq2Lm9Xz4Rt8Wp3",
    "api-key=9f8e7d6c5b4a3f2e1d0c||api-key=7Hq2Lm9Xz4Rt8Wp3" },
  { "password = 'Tr0ub4dor&3'", "api-key=Tr0ub4dor&3" },
  { "The token: expiration is handled by the server.", "" },
  { "Set api_key=<YOUR_API_KEY> and password: ******** first.", "" },
  { "We use the sk-learn library and ghp_short names.", "" },
  { "Not a JWT: "
    "eyJoZWxsbyI6IndvcmxkISJ9."
    "eyJzdWIiOiJ1c2VyLTQyIiwibmFtZSI6IlRlc3QgVXNlciIsImlhdCI6MTcwMDAwMDAwMH0.n1Ae6pWzpF1qH6YytwMe",
    "" },
  { "secret: changeme123 is the default", "" },
  /* passwords in URLs */
  { "DATABASE_URL=postgres://admin:S3cr3tPa55@db.example.com:5432/app", "url-password=S3cr3tPa55" },
  { "git clone https://bob:hunter2x@git.example.org/repo.git", "url-password=hunter2x" },
  { "Visit https://example.com/path or ssh://git@example.net/repo", "" },
  { "Template https://user:<password>@host.example.com and http://localhost:8080/api", "" },
  /* national IDs */
  { "SSN 123-45-6789 on file.", "national-id=123-45-6789" },
  { "social security number: 219099998", "national-id=219099998" },
  { "Invalid SSNs 000-12-3456, 666-45-6789, 900-12-3456, 123-00-6789, 078-05-1120.", "" },
  { "NI number AB 12 34 56 C, also JK123456D.",
    "national-id=AB 12 34 56 C||national-id=JK123456D" },
  { "Not NI numbers: GB 12 34 56 A and QQ 12 34 56 C.", "" },
  { "DNI 12345678Z y NIE X1234567L", "national-id=12345678Z||national-id=X1234567L" },
  { "Wrong letters: 12345678A and 87654321B.", "" },
  { "BSN 111222333 van de klant", "national-id=111222333" },
  { "BSN 111222334 is ongeldig", "" },
  /* mixed */
  { "Jane (jane@example.com, +44 20 7946 0958) paid with 4012888888881881 from 10.1.2.3.",
    "email=jane@example.com||phone=+44 20 7946 "
    "0958||credit-card=4012888888881881||ip-address=10.1.2.3" },
  { "Nothing sensitive here, just a friendly sentence about sewing.", "" },
};

static void
test_pii_corpus_precision_recall (void)
{
  guint tp[TAILOR_PII_N_KINDS] = { 0 }, fp[TAILOR_PII_N_KINDS] = { 0 },
        fn[TAILOR_PII_N_KINDS] = { 0 };
  guint total_tp = 0, total_fp = 0, total_fn = 0;
  guint i, k;

  for (i = 0; i < G_N_ELEMENTS (pii_corpus); i++)
    {
      const PiiCase *c = &pii_corpus[i];
      g_autoptr (GArray) spans = tailor_pii_scan_text (c->text, NULL);
      g_auto (GStrv) expected =
        c->expected[0] != '\0' ? g_strsplit (c->expected, "||", -1) : g_new0 (char *, 1);
      guint n_expected = g_strv_length (expected);
      g_autofree gboolean *matched = g_new0 (gboolean, n_expected + 1);

      for (k = 0; k < spans->len; k++)
        {
          const TailorPiiSpan *s = &g_array_index (spans, TailorPiiSpan, k);
          g_autofree char *found = g_strndup (c->text + s->start, s->end - s->start);
          g_autofree char *label =
            g_strdup_printf ("%s=%s", tailor_pii_kind_to_string (s->kind), found);
          gboolean hit = FALSE;
          guint e;

          for (e = 0; e < n_expected && !hit; e++)
            if (!matched[e] && g_strcmp0 (expected[e], label) == 0)
              matched[e] = hit = TRUE;
          if (hit)
            tp[s->kind]++;
          else
            {
              fp[s->kind]++;
              g_test_message ("false positive on line %u: %s (%s)", i, label, s->detail);
            }
        }
      for (k = 0; k < n_expected; k++)
        if (!matched[k])
          {
            TailorPiiKind kind;
            g_autofree char *name = g_strndup (expected[k], strcspn (expected[k], "="));

            g_assert_true (tailor_pii_kind_from_string (name, &kind));
            fn[kind]++;
            g_test_message ("missed on line %u: %s", i, expected[k]);
          }
    }

  for (k = 0; k < TAILOR_PII_N_KINDS; k++)
    {
      double precision = tp[k] + fp[k] > 0 ? (double) tp[k] / (tp[k] + fp[k]) : 1.0;
      double recall = tp[k] + fn[k] > 0 ? (double) tp[k] / (tp[k] + fn[k]) : 1.0;

      g_test_message ("%-13s tp %2u fp %u fn %u precision %.3f recall %.3f",
                      tailor_pii_kind_to_string (k), tp[k], fp[k], fn[k], precision, recall);
      total_tp += tp[k];
      total_fp += fp[k];
      total_fn += fn[k];
      g_assert_cmpuint (tp[k], >, 0);
      g_assert_cmpuint (fn[k], ==, 0);
      g_assert_cmpfloat (precision, >=, 0.95);
    }
  g_test_message ("all           tp %2u fp %u fn %u precision %.3f recall %.3f", total_tp, total_fp,
                  total_fn, (double) total_tp / (total_tp + total_fp),
                  (double) total_tp / (total_tp + total_fn));
}

static void
test_pii_redaction_is_exact (void)
{
  const char *text =
    "Mail jane.doe@example.com or call +44 20 7946 0958; card 4111-1111-1111-1111, "
    "db postgres://app:Zx9vQ2mPw7@db.example.com/main from 192.168.0.7.";
  g_autoptr (GArray) spans = tailor_pii_scan_text (text, NULL);
  g_autofree char *redacted = tailor_pii_redact_text (text, spans, NULL);
  TailorPiiOptions options;
  g_autofree char *partial = NULL;

  g_assert_cmpstr (redacted, ==,
                   "Mail [EMAIL] or call [PHONE]; card [CREDIT_CARD], "
                   "db postgres://app:[PASSWORD]@db.example.com/main from [IP_ADDRESS].");

  tailor_pii_options_init (&options);
  options.actions[TAILOR_PII_IP_ADDRESS] = TAILOR_PII_ACTION_KEEP;
  options.actions[TAILOR_PII_PHONE] = TAILOR_PII_ACTION_KEEP;
  partial = tailor_pii_redact_text (text, spans, &options);
  g_assert_cmpstr (partial, ==,
                   "Mail [EMAIL] or call +44 20 7946 0958; card [CREDIT_CARD], "
                   "db postgres://app:[PASSWORD]@db.example.com/main from 192.168.0.7.");
}

static void
test_pii_spans_never_overlap (void)
{
  const char *text = "token: ghp_U8JZpDE0iGXlD6gNCFbaEPFjbD0kH8Oool8D and "
                     "https://ops:hunter2x@example.com and 4111111111111111@example.com";
  g_autoptr (GArray) spans = tailor_pii_scan_text (text, NULL);
  guint i;

  for (i = 1; i < spans->len; i++)
    g_assert_cmpuint (g_array_index (spans, TailorPiiSpan, i - 1).end, <=,
                      g_array_index (spans, TailorPiiSpan, i).start);
  g_assert_cmpuint (spans->len, ==, 3);
  g_assert_cmpint (g_array_index (spans, TailorPiiSpan, 0).kind, ==, TAILOR_PII_API_KEY);
  g_assert_cmpstr (g_array_index (spans, TailorPiiSpan, 0).detail, ==, "github-token");
  g_assert_cmpint (g_array_index (spans, TailorPiiSpan, 1).kind, ==, TAILOR_PII_URL_PASSWORD);
  /* A checksummed card outranks the longer email pattern around it. */
  g_assert_cmpint (g_array_index (spans, TailorPiiSpan, 2).kind, ==, TAILOR_PII_CREDIT_CARD);
}

static void
test_pii_scan_applies_actions_per_kind (void)
{
  g_autoptr (GPtrArray) examples = examples_new ();
  g_autoptr (TailorPiiReport) report = NULL;
  g_autoptr (GPtrArray) cleaned = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) json = NULL;
  g_autofree char *json_text = NULL;
  TailorPiiOptions options;
  TailorExample *e;
  const TailorPiiFinding *f;

  g_ptr_array_add (examples, chat ("My email is jane.doe@example.com.",
                                   "Noted, I will write to jane.doe@example.com."));
  add_text (examples, "Key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                      "-----END PRIVATE KEY-----");
  add_text (examples, "Server 10.0.0.7 is up.");
  e = tailor_example_new_text ("Never paste 4111 1111 1111 1111 in a chat.");
  tailor_example_add_tag (e, TAILOR_TAG_COUNTER_EXAMPLE);
  g_ptr_array_add (examples, e);
  add_text (examples, "Clean text.");

  tailor_pii_options_init (&options);
  options.actions[TAILOR_PII_PRIVATE_KEY] = TAILOR_PII_ACTION_DROP;
  options.actions[TAILOR_PII_IP_ADDRESS] = TAILOR_PII_ACTION_KEEP;
  report = tailor_pii_scan (examples, &options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (report->n_examples, ==, 5);
  g_assert_cmpuint (report->n_examples_with_findings, ==, 4);
  g_assert_cmpuint (report->n_counter_examples_with_findings, ==, 1);
  g_assert_cmpuint (report->counts[TAILOR_PII_EMAIL], ==, 2);
  g_assert_cmpuint (report->counts[TAILOR_PII_PRIVATE_KEY], ==, 1);
  g_assert_cmpuint (report->counts[TAILOR_PII_IP_ADDRESS], ==, 1);
  g_assert_cmpuint (report->counts[TAILOR_PII_CREDIT_CARD], ==, 1);
  g_assert_cmpuint (report->n_dropped, ==, 1);
  g_assert_cmpuint (report->n_redacted, ==, 3);
  g_assert_cmpuint (report->findings->len, ==, 5);
  f = &g_array_index (report->findings, TailorPiiFinding, 1);
  g_assert_cmpuint (f->index, ==, 0);
  g_assert_cmpint (f->field, ==, 1);
  g_assert_cmpuint (f->start, ==, strlen ("Noted, I will write to "));
  g_assert_cmpstr (f->preview, ==, "ja…om");

  cleaned = tailor_pii_report_apply (report, examples);
  g_assert_cmpuint (cleaned->len, ==, 4);
  e = g_ptr_array_index (cleaned, 0);
  g_assert_cmpstr (g_array_index (e->messages, TailorMessage, 0).content, ==,
                   "My email is [EMAIL].");
  g_assert_cmpstr (g_array_index (e->messages, TailorMessage, 1).content, ==,
                   "Noted, I will write to [EMAIL].");
  g_assert_cmpstr (((TailorExample *) g_ptr_array_index (cleaned, 1))->text, ==,
                   "Server 10.0.0.7 is up.");
  e = g_ptr_array_index (cleaned, 2);
  g_assert_cmpstr (e->text, ==, "Never paste [CREDIT_CARD] in a chat.");
  g_assert_true (tailor_example_has_tag (e, TAILOR_TAG_COUNTER_EXAMPLE));
  /* The originals are untouched. */
  g_assert_cmpstr (((TailorExample *) g_ptr_array_index (examples, 2))->text, ==,
                   "Server 10.0.0.7 is up.");

  json = tailor_pii_report_to_json (report);
  json_generator_set_root (gen, json);
  json_text = json_generator_to_data (gen, NULL);
  g_assert_nonnull (strstr (json_text, "\"kind\":\"email\""));
  g_assert_null (strstr (json_text, "jane.doe"));
  g_assert_null (strstr (json_text, "1111 1111"));
  g_assert_null (strstr (json_text, "MIIEvQ"));
}

/* ---- glossary ---- */

static void
test_glossary_case_rules_and_longest_first (void)
{
  g_autoptr (TailorGlossary) glossary = tailor_glossary_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  guint n = 0;

  g_assert_true (tailor_glossary_add (glossary, "e-mail", "email", FALSE, &error));
  g_assert_true (tailor_glossary_add (glossary, "Javascript", "JavaScript", FALSE, &error));
  g_assert_true (tailor_glossary_add (glossary, "colour", "color", FALSE, &error));
  g_assert_true (tailor_glossary_add (glossary, "colour scheme", "color palette", FALSE, &error));
  g_assert_true (tailor_glossary_add (glossary, "JS", "JavaScript", TRUE, &error));
  g_assert_true (tailor_glossary_add (glossary, "data base", "database", FALSE, &error));
  g_assert_true (tailor_glossary_add (glossary, "naïve", "naive", FALSE, &error));
  g_assert_false (tailor_glossary_add (glossary, "E-Mail", "email", FALSE, &error));
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_clear_error (&error);
  g_assert_cmpuint (tailor_glossary_get_n_entries (glossary), ==, 7);

  out = tailor_glossary_apply_text (glossary,
                                    "E-mail me about the JAVASCRIPT colour scheme; e-mail, js "
                                    "and JS. Colour, colours, übercolour, data  base, Naïve "
                                    "naïvely NAÏVE javascript.",
                                    &n);
  g_assert_cmpstr (out, ==,
                   "Email me about the JAVASCRIPT color palette; email, js and JavaScript. "
                   "Color, colours, übercolour, database, Naive naïvely NAIVE JavaScript.");
  g_assert_cmpuint (n, ==, 10);
}

static void
test_glossary_counts_per_entry_and_loads_tsv (void)
{
  g_autofree char *dir = g_dir_make_tmp ("tailor-hygiene-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "glossary.tsv", NULL);
  g_autofree char *bad_path = g_build_filename (dir, "bad.tsv", NULL);
  g_autoptr (TailorGlossary) glossary = NULL;
  g_autoptr (TailorGlossary) bad = NULL;
  g_autoptr (TailorGlossaryReport) report = NULL;
  g_autoptr (GPtrArray) examples = examples_new ();
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;
  const TailorGlossaryCount *c;
  TailorExample *e;

  g_assert_true (g_file_set_contents (path,
                                      "# variant\tpreferred\n"
                                      "e-mail\temail\n"
                                      "\n"
                                      "K8s\tKubernetes\texact\n",
                                      -1, NULL));
  g_assert_true (g_file_set_contents (bad_path, "e-mail\temail\nonly-one-field\n", -1, NULL));
  glossary = tailor_glossary_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_glossary_get_n_entries (glossary), ==, 2);
  bad = tailor_glossary_load (bad_path, &error);
  g_assert_error (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "bad.tsv:2"));
  g_assert_null (bad);

  g_ptr_array_add (examples, chat ("Send an e-mail about K8s", "The E-mail about k8s is sent."));
  add_text (examples, "Nothing to change.");
  e = tailor_example_new_text ("Do not write e-mail.");
  tailor_example_add_tag (e, TAILOR_TAG_COUNTER_EXAMPLE);
  g_ptr_array_add (examples, e);
  out = tailor_glossary_apply (glossary, examples, &report);
  g_assert_cmpuint (out->len, ==, 3);
  e = g_ptr_array_index (out, 0);
  g_assert_cmpstr (g_array_index (e->messages, TailorMessage, 0).content, ==,
                   "Send an email about Kubernetes");
  g_assert_cmpstr (g_array_index (e->messages, TailorMessage, 1).content, ==,
                   "The Email about k8s is sent.");
  g_assert_cmpuint (report->n_examples_changed, ==, 2);
  g_assert_cmpuint (report->n_counter_examples_changed, ==, 1);
  c = &g_array_index (report->entries, TailorGlossaryCount, 0);
  g_assert_cmpstr (c->variant, ==, "e-mail");
  g_assert_cmpuint (c->n_replacements, ==, 3);
  g_assert_cmpuint (c->n_examples, ==, 2);
  c = &g_array_index (report->entries, TailorGlossaryCount, 1);
  g_assert_cmpuint (c->n_replacements, ==, 1);
  g_assert_cmpuint (c->n_examples, ==, 1);

  g_assert_no_errno (g_remove (path));
  g_assert_no_errno (g_remove (bad_path));
  g_assert_no_errno (g_rmdir (dir));
}

/* ---- counter-examples, lengths, balance ---- */

static TailorExample *
text_from (const char *text, const char *source)
{
  TailorExample *e = tailor_example_new_text (text);

  e->source = g_strdup (source);
  return e;
}

static void
test_counter_examples_tagged_by_source_and_marker (void)
{
  g_autoptr (GPtrArray) examples = examples_new ();
  g_autoptr (TailorBalanceReport) balance = NULL;

  g_ptr_array_add (examples, text_from ("Good answer.", "/data/good.jsonl"));
  g_ptr_array_add (examples, text_from ("Bad answer.", "/data/bad-answers.jsonl"));
  g_ptr_array_add (examples, text_from ("[don't] Never do this.", "/data/good.jsonl"));
  g_ptr_array_add (examples, text_from ("Another bad one.", "/data/bad-answers.jsonl"));

  g_assert_cmpuint (tailor_examples_tag_where (examples, TAILOR_TAG_COUNTER_EXAMPLE,
                                               tailor_example_source_matches, "*/bad-*.jsonl"),
                    ==, 2);
  g_assert_cmpuint (tailor_examples_tag_where (examples, TAILOR_TAG_COUNTER_EXAMPLE,
                                               tailor_example_contains_marker, "[don't]"),
                    ==, 1);
  /* Tagging again adds nothing. */
  g_assert_cmpuint (tailor_examples_tag_where (examples, TAILOR_TAG_COUNTER_EXAMPLE,
                                               tailor_example_source_matches, "*/bad-*.jsonl"),
                    ==, 0);
  g_assert_cmpuint (tailor_examples_count_tag (examples, TAILOR_TAG_COUNTER_EXAMPLE), ==, 3);
  g_assert_false (
    tailor_example_has_tag (g_ptr_array_index (examples, 0), TAILOR_TAG_COUNTER_EXAMPLE));

  balance = tailor_balance_report_new (examples, NULL, NULL, NULL, 0);
  g_assert_cmpuint (balance->n_counter_examples, ==, 3);
}

static guint
count_words (const TailorExample *example, gpointer user_data)
{
  g_auto (GStrv) words = g_strsplit_set (example->text, " ", -1);
  guint n = 0;
  guint i;

  for (i = 0; words[i] != NULL; i++)
    n += words[i][0] != '\0';
  return n;
}

static char *
n_words (guint n)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < n; i++)
    g_string_append (s, i > 0 ? " w" : "w");
  return g_string_free (s, FALSE);
}

static GPtrArray *
examples_of_lengths (const guint *lengths, guint n)
{
  GPtrArray *examples = examples_new ();
  guint i;

  for (i = 0; i < n; i++)
    {
      g_autofree char *text = n_words (lengths[i]);

      add_text (examples, text);
    }
  return examples;
}

static void
test_length_histogram_and_percentiles (void)
{
  static const guint train_lengths[] = { 0, 1, 2, 3, 4, 5, 8, 9, 12 };
  static const guint eval_lengths[] = { 2, 2, 7 };
  static const guint edges[] = { 0, 2, 4, 6, 8 };
  static const guint train_counts[] = { 3, 2, 1, 1 };
  static const guint eval_counts[] = { 2, 0, 0, 1 };
  static const guint total_counts[] = { 5, 2, 1, 2 };
  g_autoptr (GPtrArray) train = examples_of_lengths (train_lengths, G_N_ELEMENTS (train_lengths));
  g_autoptr (GPtrArray) eval = examples_of_lengths (eval_lengths, G_N_ELEMENTS (eval_lengths));
  g_autoptr (TailorLengthReport) report = tailor_length_report_new (8, 4);
  g_autoptr (JsonNode) json = NULL;
  const TailorLengthStats *s;

  tailor_length_report_add_split (report, "train", train, count_words, NULL);
  tailor_length_report_add_split (report, "eval", eval, count_words, NULL);
  g_assert_cmpuint (report->splits->len, ==, 2);

  s = g_ptr_array_index (report->splits, 0);
  g_assert_cmpstr (s->split, ==, "train");
  g_assert_cmpuint (s->n_buckets, ==, 4);
  g_assert_cmpmem (s->edges, sizeof edges, edges, sizeof edges);
  g_assert_cmpmem (s->counts, sizeof train_counts, train_counts, sizeof train_counts);
  g_assert_cmpuint (s->n_examples, ==, 9);
  g_assert_cmpuint (s->n_truncated, ==, 2);
  g_assert_cmpuint (s->n_tokens, ==, 44);
  g_assert_cmpuint (s->n_tokens_lost, ==, 5);
  g_assert_cmpuint (s->min, ==, 0);
  g_assert_cmpuint (s->max, ==, 12);
  g_assert_cmpfloat_with_epsilon (s->mean, 44.0 / 9.0, 1e-12);
  g_assert_cmpuint (s->p50, ==, 4);
  g_assert_cmpuint (s->p90, ==, 12);
  g_assert_cmpuint (s->p95, ==, 12);
  g_assert_cmpuint (s->p99, ==, 12);

  s = g_ptr_array_index (report->splits, 1);
  g_assert_cmpstr (s->split, ==, "eval");
  g_assert_cmpmem (s->counts, sizeof eval_counts, eval_counts, sizeof eval_counts);
  g_assert_cmpuint (s->n_truncated, ==, 0);
  g_assert_cmpuint (s->p50, ==, 2);

  s = report->total;
  g_assert_cmpstr (s->split, ==, "all");
  g_assert_cmpuint (s->n_examples, ==, 12);
  g_assert_cmpmem (s->counts, sizeof total_counts, total_counts, sizeof total_counts);
  g_assert_cmpuint (s->n_truncated, ==, 2);
  g_assert_cmpuint (s->p50, ==, 3);

  json = tailor_length_report_to_json (report);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (json), "sequence_length"), ==,
                   8);
}

static void
test_balance_counts_sources_tags_and_lengths (void)
{
  static const guint edges[] = { 0, 5, 10, G_MAXUINT };
  g_autoptr (GPtrArray) examples = examples_new ();
  g_autoptr (TailorBalanceReport) report = NULL;
  g_autoptr (JsonNode) json = NULL;
  TailorExample *e;

  g_ptr_array_add (examples, text_from ("abc", "a.jsonl"));
  g_ptr_array_add (examples, text_from ("abcdefgh", "a.jsonl"));
  e = text_from ("abcdefghijkl", "b.jsonl");
  tailor_example_add_tag (e, "style");
  tailor_example_add_tag (e, TAILOR_TAG_COUNTER_EXAMPLE);
  g_ptr_array_add (examples, e);
  e = text_from ("ééééé", "a.jsonl");
  tailor_example_add_tag (e, "style");
  g_ptr_array_add (examples, e);
  g_ptr_array_add (examples, tailor_example_new_text (""));

  report = tailor_balance_report_new (examples, NULL, NULL, edges, G_N_ELEMENTS (edges));
  g_assert_cmpuint (report->n_examples, ==, 5);
  g_assert_cmpuint (report->n_counter_examples, ==, 1);
  g_assert_cmpuint (report->per_source->len, ==, 3);
  g_assert_cmpstr (g_array_index (report->per_source, TailorCount, 0).key, ==, "a.jsonl");
  g_assert_cmpuint (g_array_index (report->per_source, TailorCount, 0).count, ==, 3);
  g_assert_cmpstr (g_array_index (report->per_source, TailorCount, 1).key, ==, "(unknown)");
  g_assert_cmpstr (g_array_index (report->per_source, TailorCount, 2).key, ==, "b.jsonl");
  g_assert_cmpuint (report->per_tag->len, ==, 2);
  g_assert_cmpstr (g_array_index (report->per_tag, TailorCount, 0).key, ==, "style");
  g_assert_cmpuint (g_array_index (report->per_tag, TailorCount, 0).count, ==, 2);
  g_assert_cmpstr (g_array_index (report->per_tag, TailorCount, 1).key, ==, "counter-example");
  g_assert_false (report->length_in_tokens);
  g_assert_cmpuint (report->n_length_buckets, ==, 3);
  /* 3, 8, 12, 5 (characters, not bytes) and 0. */
  g_assert_cmpuint (report->length_counts[0], ==, 3);
  g_assert_cmpuint (report->length_counts[1], ==, 1);
  g_assert_cmpuint (report->length_counts[2], ==, 1);

  json = tailor_balance_report_to_json (report);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (json), "length_unit"), ==,
                   "characters");
}

static void
test_duplicate_report_json_lists_clusters (void)
{
  g_autoptr (GPtrArray) examples = examples_new ();
  g_autoptr (TailorDuplicateReport) report = NULL;
  g_autoptr (JsonNode) json = NULL;
  g_autoptr (GError) error = NULL;
  JsonObject *root;
  JsonObject *cluster;

  add_text (examples, "one two three four five six");
  add_text (examples, "One two three four five six");
  report = tailor_find_duplicates (examples, NULL, NULL, &error);
  g_assert_no_error (error);
  json = tailor_duplicate_report_to_json (report);
  root = json_node_get_object (json);
  g_assert_cmpint (json_object_get_int_member (root, "exact_duplicates"), ==, 1);
  cluster = json_array_get_object_element (json_object_get_array_member (root, "clusters"), 0);
  g_assert_cmpint (json_object_get_int_member (cluster, "keeper"), ==, 0);
  g_assert_cmpstr (
    json_object_get_string_member (
      json_array_get_object_element (json_object_get_array_member (cluster, "duplicates"), 0),
      "kind"),
    ==, "exact");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/hygiene/dedup/exact-duplicates-join-first-seen",
                   test_exact_duplicates_join_first_seen);
  g_test_add_func ("/hygiene/dedup/near-duplicates-follow-threshold",
                   test_near_duplicates_follow_threshold);
  g_test_add_func ("/hygiene/dedup/banding-catches-pairs-at-threshold",
                   test_banding_catches_pairs_at_threshold);
  g_test_add_func ("/hygiene/dedup/bad-options-are-rejected", test_bad_options_are_rejected);
  g_test_add_func ("/hygiene/dedup/counter-examples-dedup-among-themselves",
                   test_counter_examples_dedup_among_themselves);
  g_test_add_func ("/hygiene/dedup/report-json-lists-clusters",
                   test_duplicate_report_json_lists_clusters);
  g_test_add_func ("/hygiene/dedup/minhash-timing-20000", test_minhash_timing_20000);
  g_test_add_func ("/hygiene/leak/finds-exact-and-near-not-unrelated",
                   test_leak_query_finds_exact_and_near_not_unrelated);
  g_test_add_func ("/hygiene/pii/corpus-precision-recall", test_pii_corpus_precision_recall);
  g_test_add_func ("/hygiene/pii/redaction-is-exact", test_pii_redaction_is_exact);
  g_test_add_func ("/hygiene/pii/spans-never-overlap", test_pii_spans_never_overlap);
  g_test_add_func ("/hygiene/pii/scan-applies-actions-per-kind",
                   test_pii_scan_applies_actions_per_kind);
  g_test_add_func ("/hygiene/glossary/case-rules-and-longest-first",
                   test_glossary_case_rules_and_longest_first);
  g_test_add_func ("/hygiene/glossary/counts-per-entry-and-loads-tsv",
                   test_glossary_counts_per_entry_and_loads_tsv);
  g_test_add_func ("/hygiene/counter-examples/tagged-by-source-and-marker",
                   test_counter_examples_tagged_by_source_and_marker);
  g_test_add_func ("/hygiene/lengths/histogram-and-percentiles",
                   test_length_histogram_and_percentiles);
  g_test_add_func ("/hygiene/balance/counts-sources-tags-and-lengths",
                   test_balance_counts_sources_tags_and_lengths);

  return g_test_run ();
}
