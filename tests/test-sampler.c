/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests for next-token sampling and the stable log-softmax. */
#include "config.h"

#include <math.h>

#include "tailor-sampler.h"

#define N_DRAWS 4000

static void
random_logits (float *logits, guint n, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  guint i;

  for (i = 0; i < n; i++)
    logits[i] = (float) g_rand_double_range (rand, -5.0, 5.0);
}

static TailorSampler *
sampler_new (float temperature, guint top_k, float top_p, guint64 seed)
{
  TailorSamplerParams params = { temperature, top_k, top_p, seed };

  return tailor_sampler_new (&params);
}

static void
test_greedy_is_argmax (void)
{
  float logits[500];
  guint round;

  for (round = 0; round < 20; round++)
    {
      g_autoptr (TailorSampler) s = sampler_new (0.0f, 0, 1.0f, round);
      gint32 expected = 0;
      guint i;

      random_logits (logits, G_N_ELEMENTS (logits), round);
      for (i = 1; i < G_N_ELEMENTS (logits); i++)
        if (logits[i] > logits[expected])
          expected = (gint32) i;
      g_assert_cmpint (tailor_argmax (logits, G_N_ELEMENTS (logits)), ==, expected);
      g_assert_cmpint (tailor_sampler_sample (s, logits, G_N_ELEMENTS (logits)), ==, expected);
    }
}

static void
test_argmax_prefers_lowest_index_on_ties (void)
{
  float logits[] = { 1.0f, 3.0f, -2.0f, 3.0f, 3.0f };

  g_assert_cmpint (tailor_argmax (logits, G_N_ELEMENTS (logits)), ==, 1);
}

static void
draw_sequence (guint64 seed, const float *logits, guint n, gint32 *out, guint count)
{
  g_autoptr (TailorSampler) s = sampler_new (1.0f, 0, 1.0f, seed);
  guint i;

  for (i = 0; i < count; i++)
    out[i] = tailor_sampler_sample (s, logits, n);
}

static void
test_same_seed_same_sequence (void)
{
  float logits[64];
  gint32 a[200], b[200], c[200];
  guint differ = 0;
  guint i;

  random_logits (logits, G_N_ELEMENTS (logits), 7);
  for (i = 0; i < G_N_ELEMENTS (logits); i++)
    logits[i] *= 0.2f; /* a flat distribution, so that sequences have room to differ */
  draw_sequence (1234, logits, G_N_ELEMENTS (logits), a, G_N_ELEMENTS (a));
  draw_sequence (1234, logits, G_N_ELEMENTS (logits), b, G_N_ELEMENTS (b));
  draw_sequence (1235, logits, G_N_ELEMENTS (logits), c, G_N_ELEMENTS (c));

  g_assert_cmpmem (a, sizeof a, b, sizeof b);
  for (i = 0; i < G_N_ELEMENTS (a); i++)
    differ += a[i] != c[i];
  /* Two independent draws from ~64 near-equal choices agree about 1/64 of the time. */
  g_assert_cmpuint (differ, >, 150);
}

static void
test_top_k_one_is_greedy (void)
{
  float logits[300];
  g_autoptr (TailorSampler) s = sampler_new (1.5f, 1, 1.0f, 99);
  gint32 best;
  guint i;

  random_logits (logits, G_N_ELEMENTS (logits), 3);
  best = tailor_argmax (logits, G_N_ELEMENTS (logits));
  for (i = 0; i < 500; i++)
    g_assert_cmpint (tailor_sampler_sample (s, logits, G_N_ELEMENTS (logits)), ==, best);
}

static void
test_top_k_keeps_the_k_largest (void)
{
  /* The three largest are ids 4, 0 and 6. */
  float logits[] = { 2.0f, -1.0f, 0.5f, 1.0f, 2.5f, 0.0f, 1.9f, -3.0f };
  g_autoptr (TailorSampler) s = sampler_new (1.0f, 3, 1.0f, 5);
  guint seen[G_N_ELEMENTS (logits)] = { 0 };
  guint i;

  for (i = 0; i < N_DRAWS; i++)
    seen[tailor_sampler_sample (s, logits, G_N_ELEMENTS (logits))]++;
  for (i = 0; i < G_N_ELEMENTS (logits); i++)
    {
      if (i == 4 || i == 0 || i == 6)
        g_assert_cmpuint (seen[i], >, 0);
      else
        g_assert_cmpuint (seen[i], ==, 0);
    }
}

/* probabilities 0.05, 0.5, 0.1, 0.2, 0.15 at ids 0..4 */
static const double hand_probs[] = { 0.05, 0.5, 0.1, 0.2, 0.15 };

static void
hand_logits (float *logits)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (hand_probs); i++)
    logits[i] = (float) log (hand_probs[i]);
}

static void
test_top_p_keeps_smallest_set_reaching_p (void)
{
  float logits[G_N_ELEMENTS (hand_probs)];
  guint seen[G_N_ELEMENTS (hand_probs)] = { 0 };
  g_autoptr (TailorSampler) s = sampler_new (1.0f, 0, 0.8f, 11);
  g_autoptr (TailorSampler) only_top = sampler_new (1.0f, 0, 0.45f, 11);
  guint i;

  hand_logits (logits);
  /* Sorted: 0.5 (id 1), 0.2 (id 3), 0.15 (id 4) reach 0.85 ≥ 0.8; 0.5 + 0.2 = 0.7 does not. */
  for (i = 0; i < N_DRAWS; i++)
    seen[tailor_sampler_sample (s, logits, G_N_ELEMENTS (logits))]++;
  g_assert_cmpuint (seen[0], ==, 0);
  g_assert_cmpuint (seen[2], ==, 0);
  /* Within the kept set the draw follows the renormalised probabilities (±0.03, about
   * four standard deviations for 4000 draws). */
  g_assert_cmpfloat_with_epsilon (seen[1] / (double) N_DRAWS, 0.5 / 0.85, 0.03);
  g_assert_cmpfloat_with_epsilon (seen[3] / (double) N_DRAWS, 0.2 / 0.85, 0.03);
  g_assert_cmpfloat_with_epsilon (seen[4] / (double) N_DRAWS, 0.15 / 0.85, 0.03);

  /* 0.5 alone reaches 0.45. */
  for (i = 0; i < 200; i++)
    g_assert_cmpint (tailor_sampler_sample (only_top, logits, G_N_ELEMENTS (logits)), ==, 1);
}

static void
test_draws_follow_softmax (void)
{
  float logits[G_N_ELEMENTS (hand_probs)];
  guint seen[G_N_ELEMENTS (hand_probs)] = { 0 };
  g_autoptr (TailorSampler) s = sampler_new (1.0f, 0, 1.0f, 42);
  guint i;

  hand_logits (logits);
  for (i = 0; i < N_DRAWS; i++)
    seen[tailor_sampler_sample (s, logits, G_N_ELEMENTS (logits))]++;
  for (i = 0; i < G_N_ELEMENTS (hand_probs); i++)
    g_assert_cmpfloat_with_epsilon (seen[i] / (double) N_DRAWS, hand_probs[i], 0.03);
}

static void
test_temperature_to_zero_approaches_greedy (void)
{
  float logits[G_N_ELEMENTS (hand_probs)];
  guint distinct_hot = 0;
  guint seen_hot[G_N_ELEMENTS (hand_probs)] = { 0 };
  g_autoptr (TailorSampler) cold = sampler_new (0.01f, 0, 1.0f, 8);
  g_autoptr (TailorSampler) hot = sampler_new (5.0f, 0, 1.0f, 8);
  guint i;

  hand_logits (logits);
  /* At T = 0.01 the runner-up (log 0.2 vs log 0.5) has weight e^(−91.6): never drawn. */
  for (i = 0; i < N_DRAWS; i++)
    g_assert_cmpint (tailor_sampler_sample (cold, logits, G_N_ELEMENTS (logits)), ==, 1);
  for (i = 0; i < N_DRAWS; i++)
    seen_hot[tailor_sampler_sample (hot, logits, G_N_ELEMENTS (logits))]++;
  for (i = 0; i < G_N_ELEMENTS (hand_probs); i++)
    distinct_hot += seen_hot[i] > 0;
  g_assert_cmpuint (distinct_hot, ==, G_N_ELEMENTS (hand_probs));
}

static void
test_log_softmax_sums_to_one (void)
{
  float x[1000];
  double sum = 0.0;
  guint i;

  random_logits (x, G_N_ELEMENTS (x), 17);
  tailor_log_softmax (x, G_N_ELEMENTS (x));
  for (i = 0; i < G_N_ELEMENTS (x); i++)
    {
      g_assert_cmpfloat (x[i], <=, 0.0f);
      sum += exp (x[i]);
    }
  g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
}

static void
test_log_softmax_stable_for_huge_logits (void)
{
  float x[] = { 1e4f, 1e4f - 1.0f, 0.0f, -1e4f };
  double lse_tail = log (1.0 + exp (-1.0)); /* the first two dominate */
  guint i;

  tailor_log_softmax (x, G_N_ELEMENTS (x));
  for (i = 0; i < G_N_ELEMENTS (x); i++)
    g_assert_true (isfinite (x[i]));
  g_assert_cmpfloat_with_epsilon (x[0], -lse_tail, 1e-5);
  g_assert_cmpfloat_with_epsilon (x[1], -1.0 - lse_tail, 1e-5);
  g_assert_cmpfloat_with_epsilon (x[2], -1e4 - lse_tail, 1e-2);
  g_assert_cmpfloat_with_epsilon (exp (x[0]) + exp (x[1]), 1.0, 1e-6);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/sampler/greedy-is-argmax", test_greedy_is_argmax);
  g_test_add_func ("/sampler/argmax-prefers-lowest-index-on-ties",
                   test_argmax_prefers_lowest_index_on_ties);
  g_test_add_func ("/sampler/same-seed-same-sequence-other-seed-other",
                   test_same_seed_same_sequence);
  g_test_add_func ("/sampler/top-k-one-is-greedy", test_top_k_one_is_greedy);
  g_test_add_func ("/sampler/top-k-keeps-the-k-largest", test_top_k_keeps_the_k_largest);
  g_test_add_func ("/sampler/top-p-keeps-smallest-set-reaching-p",
                   test_top_p_keeps_smallest_set_reaching_p);
  g_test_add_func ("/sampler/draws-follow-softmax", test_draws_follow_softmax);
  g_test_add_func ("/sampler/temperature-to-zero-approaches-greedy",
                   test_temperature_to_zero_approaches_greedy);
  g_test_add_func ("/sampler/log-softmax-sums-to-one", test_log_softmax_sums_to_one);
  g_test_add_func ("/sampler/log-softmax-stable-for-huge-logits",
                   test_log_softmax_stable_for_huge_logits);

  return g_test_run ();
}
