/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Next-token sampling: greedy, or top-k → top-p → temperature → a draw from xoshiro256**. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "tailor-sampler.h"

/* The RNG is xoshiro256** (Blackman & Vigna), its state seeded from the 64-bit seed by
 * splitmix64, as its authors recommend. Both are fixed here so that a seed means the same
 * tokens on every machine and in every version that keeps this file's algorithm. */
typedef struct
{
  float logit;
  gint32 id;
} Candidate;

struct _TailorSampler
{
  TailorSamplerParams params;
  guint64 s[4];
  /* Scratch reused between calls. */
  Candidate *cand;
  float *probs;
  guint capacity;
};

static guint64
splitmix64_next (guint64 *x)
{
  guint64 z = (*x += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static inline guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static guint64
xoshiro_next (guint64 s[4])
{
  guint64 result = rotl (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double
next_uniform (TailorSampler *self)
{
  return (double) (xoshiro_next (self->s) >> 11) * (1.0 / 9007199254740992.0);
}

TailorSampler *
tailor_sampler_new (const TailorSamplerParams *params)
{
  TailorSampler *self;
  guint64 x;
  guint i;

  g_return_val_if_fail (params != NULL, NULL);

  self = g_new0 (TailorSampler, 1);
  self->params = *params;
  x = params->seed;
  for (i = 0; i < 4; i++)
    self->s[i] = splitmix64_next (&x);
  return self;
}

void
tailor_sampler_free (TailorSampler *self)
{
  if (self == NULL)
    return;
  g_free (self->cand);
  g_free (self->probs);
  g_free (self);
}

gint32
tailor_argmax (const float *logits, guint n)
{
  guint best = 0;
  guint i;

  g_return_val_if_fail (logits != NULL && n > 0, -1);

  for (i = 1; i < n; i++)
    if (logits[i] > logits[best])
      best = i;
  return (gint32) best;
}

void
tailor_log_softmax (float *x, guint n)
{
  float max;
  double sum = 0.0;
  float log_sum;
  guint i;

  g_return_if_fail (x != NULL || n == 0);

  if (n == 0)
    return;
  max = x[tailor_argmax (x, n)];
  /* Subtracting the maximum keeps every exp() in (0, 1]: no overflow for huge logits. */
  for (i = 0; i < n; i++)
    sum += exp ((double) x[i] - max);
  log_sum = (float) log (sum);
  for (i = 0; i < n; i++)
    x[i] = (x[i] - max) - log_sum;
}

/* Descending logit, then ascending id: a total order, so the sort is reproducible. */
static int
compare_candidates (const void *a, const void *b)
{
  const Candidate *ca = a;
  const Candidate *cb = b;

  if (ca->logit > cb->logit)
    return -1;
  if (ca->logit < cb->logit)
    return 1;
  return (ca->id > cb->id) - (ca->id < cb->id);
}

gint32
tailor_sampler_sample (TailorSampler *self, const float *logits, guint n_vocab)
{
  const TailorSamplerParams *p;
  guint n;
  guint i;
  double sum;
  double u;
  double acc;
  float max;

  g_return_val_if_fail (self != NULL, -1);
  g_return_val_if_fail (logits != NULL && n_vocab > 0, -1);

  p = &self->params;
  if (p->temperature <= 0.0f)
    return tailor_argmax (logits, n_vocab);

  if (self->capacity < n_vocab)
    {
      self->cand = g_renew (Candidate, self->cand, n_vocab);
      self->probs = g_renew (float, self->probs, n_vocab);
      self->capacity = n_vocab;
    }
  for (i = 0; i < n_vocab; i++)
    {
      self->cand[i].logit = logits[i];
      self->cand[i].id = (gint32) i;
    }
  qsort (self->cand, n_vocab, sizeof (Candidate), compare_candidates);

  /* The order of llama.cpp's default chain: top-k and top-p see the untempered
   * distribution, the temperature only reshapes what survives. */
  n = n_vocab;
  if (p->top_k > 0 && p->top_k < n)
    n = p->top_k;

  if (p->top_p < 1.0f)
    {
      double cum = 0.0;

      max = self->cand[0].logit;
      sum = 0.0;
      for (i = 0; i < n; i++)
        {
          self->probs[i] = (float) exp ((double) self->cand[i].logit - max);
          sum += self->probs[i];
        }
      /* The smallest prefix whose probability reaches top_p (at least one token). */
      for (i = 0; i < n; i++)
        {
          cum += self->probs[i] / sum;
          if (cum >= p->top_p)
            {
              n = i + 1;
              break;
            }
        }
    }

  max = self->cand[0].logit / p->temperature;
  sum = 0.0;
  for (i = 0; i < n; i++)
    {
      self->probs[i] = (float) exp ((double) self->cand[i].logit / p->temperature - max);
      sum += self->probs[i];
    }

  u = next_uniform (self) * sum;
  acc = 0.0;
  for (i = 0; i < n; i++)
    {
      acc += self->probs[i];
      if (u < acc)
        return self->cand[i].id;
    }
  return self->cand[n - 1].id;
}
