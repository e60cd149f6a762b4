/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The CPU reference's backward passes against central finite differences of their
 * forwards, and AdamW and clipping against hand-worked numbers.
 *
 * How the checks are sized: every op is scored with L = Σ R ⊙ out for a fixed random R (in
 * double), so the backward is run with dout = R and must give dL/dinput. The forwards are
 * fp32, so the finite differences are taken in fp32 with a step h = 1e-2 on inputs of unit
 * scale, dividing by the step the float inputs really took. Truncation error of a central
 * difference is h²/6 · |L'''| ≈ 2e-5 · |L'''|, and |L'''| is O(1) for these smooth ops at unit
 * scale; rounding error is what fp32 leaves in the few outputs that depend on the perturbed
 * entry (all others are bit-identical in L+ and L− and cancel), ~1e-7 · |out| / 2h ≈ 1e-5.
 * So each entry must satisfy |g − fd| ≤ 5e-4 · max|g| + 5e-4 · |fd|: a few times the
 * expected error (the worst entry measured uses a fifth of it), and far below what a wrong formula, a missing term, a transposed index or
 * a lost GQA head gives (errors of the order of max|g| itself). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "tailor-cpu-ref.h"
#include "tailor-parallel.h"

#define FD_STEP 1e-2f
#define FD_ATOL 5e-4 /* times the largest |gradient| of the tensor */
#define FD_RTOL 5e-4

/* ---- helpers ---- */

static void
fill_uniform (float *x, gsize n, float lo, float hi, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  gsize i;

  for (i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (rand, lo, hi);
}

static double
weighted_sum (const float *out, const float *r, gsize n)
{
  double s = 0.0;
  gsize i;

  for (i = 0; i < n; i++)
    s += (double) out[i] * r[i];
  return s;
}

static double
max_abs (const float *x, gsize n)
{
  double m = 0.0;
  gsize i;

  for (i = 0; i < n; i++)
    m = MAX (m, fabs ((double) x[i]));
  return m;
}

typedef double (*LossFunc) (gpointer data);

/* Every entry of grad (n) against the central difference of f over x (n). */
static void
assert_grad_matches_fd (
  const char *what, LossFunc f, gpointer data, float *x, const float *grad, gsize n)
{
  double gmax = max_abs (grad, n);
  double worst = 0.0;
  gsize i;

  /* an all-zero gradient would make the comparison empty */
  g_assert_cmpfloat (gmax, >, 1e-6);
  for (i = 0; i < n; i++)
    {
      float x0 = x[i];
      float xp;
      float xm;
      double lp;
      double lm;
      double fd;
      double bound;
      double err;

      x[i] = x0 + FD_STEP;
      xp = x[i];
      lp = f (data);
      x[i] = x0 - FD_STEP;
      xm = x[i];
      lm = f (data);
      x[i] = x0;
      fd = (lp - lm) / ((double) xp - xm);
      bound = FD_ATOL * gmax + FD_RTOL * fabs (fd);
      err = fabs (grad[i] - fd);
      if (err > bound)
        g_error ("%s: entry %" G_GSIZE_FORMAT " has gradient %.7g but finite differences give "
                 "%.7g (bound %.3g)",
                 what, i, grad[i], fd, bound);
      worst = MAX (worst, err / bound);
    }
  g_test_message ("%s: %" G_GSIZE_FORMAT " entries, max |g| %.3g, worst error %.2f of the bound",
                  what, n, gmax, worst);
}

/* A tensor built in memory: ne {ne0, ne1}, values encoded in type row by row. */
typedef struct
{
  TailorGgufTensor t;
  guint8 *data;
} MemTensor;

static void
mem_tensor_init (MemTensor *m, TailorType type, int ne0, int ne1, const float *values)
{
  gsize row_bytes = tailor_type_row_size (type, ne0);
  int r;

  g_assert_cmpuint (row_bytes, >, 0);
  m->data = g_malloc (row_bytes * ne1);
  for (r = 0; r < ne1; r++)
    tailor_quantize_row (type, values + (gsize) r * ne0, m->data + r * row_bytes, ne0);
  m->t.name = "w";
  m->t.n_dims = 2;
  m->t.ne[0] = ne0;
  m->t.ne[1] = ne1;
  m->t.ne[2] = m->t.ne[3] = 1;
  m->t.type = type;
  m->t.n_elements = (gint64) ne0 * ne1;
  m->t.n_bytes = row_bytes * ne1;
  m->t.data = m->data;
}

/* ---- embedding ---- */

typedef struct
{
  MemTensor embd;
  gint32 tokens[7];
  float out[7 * 8];
  float r[7 * 8];
} EmbeddingCase;

static double
embedding_loss (gpointer data)
{
  EmbeddingCase *c = data;

  tailor_ref_embedding_forward (c->out, &c->embd.t, c->tokens, 7, 8);
  return weighted_sum (c->out, c->r, G_N_ELEMENTS (c->out));
}

static void
test_embedding_backward_scatter_adds_rows (void)
{
  EmbeddingCase c = { .tokens = { 3, 0, 3, 9, 5, 3, 0 } }; /* repeats must add up */
  float values[10 * 8];
  float dembd[10 * 8] = { 0 };
  int v;
  int i;

  fill_uniform (values, G_N_ELEMENTS (values), -1, 1, 1);
  fill_uniform (c.r, G_N_ELEMENTS (c.r), -1, 1, 2);
  mem_tensor_init (&c.embd, TAILOR_TYPE_F32, 8, 10, values);
  tailor_ref_embedding_backward (dembd, c.r, c.tokens, 7, 8);
  assert_grad_matches_fd ("embedding dembd", embedding_loss, &c, (float *) c.embd.data, dembd,
                          G_N_ELEMENTS (dembd));
  /* rows of tokens that never occur stay exactly zero */
  for (v = 0; v < 10; v++)
    if (v == 1 || v == 2 || v == 4 || v == 6 || v == 7 || v == 8)
      for (i = 0; i < 8; i++)
        g_assert_cmpfloat (dembd[v * 8 + i], ==, 0.0f);
  g_free (c.embd.data);
}

/* ---- RMSNorm ---- */

#define NORM_T 4
#define NORM_C 16

typedef struct
{
  float inp[NORM_T * NORM_C];
  float weight[NORM_C];
  float out[NORM_T * NORM_C];
  float r[NORM_T * NORM_C];
} NormCase;

static double
rmsnorm_loss (gpointer data)
{
  NormCase *c = data;

  tailor_ref_rmsnorm_forward (c->out, c->inp, c->weight, NORM_T, NORM_C, 1e-5f);
  return weighted_sum (c->out, c->r, G_N_ELEMENTS (c->out));
}

static void
test_rmsnorm_backward_matches_fd (void)
{
  NormCase c;
  float dinp[NORM_T * NORM_C] = { 0 };
  float dweight[NORM_C] = { 0 };

  fill_uniform (c.inp, G_N_ELEMENTS (c.inp), -1.5f, 1.5f, 3);
  fill_uniform (c.weight, NORM_C, 0.5f, 1.5f, 4);
  fill_uniform (c.r, G_N_ELEMENTS (c.r), -1, 1, 5);
  tailor_ref_rmsnorm_backward (dinp, dweight, c.r, c.inp, c.weight, NORM_T, NORM_C, 1e-5f);
  assert_grad_matches_fd ("rmsnorm dinp", rmsnorm_loss, &c, c.inp, dinp, G_N_ELEMENTS (dinp));
  assert_grad_matches_fd ("rmsnorm dweight", rmsnorm_loss, &c, c.weight, dweight, NORM_C);
}

/* ---- matmul ---- */

typedef struct
{
  MemTensor w;
  float *inp;  /* (T, IC) */
  float *bias; /* (OC) */
  float *out;  /* (T, OC) */
  float *r;    /* (T, OC) */
  int T, IC, OC;
} MatmulCase;

static double
matmul_loss (gpointer data)
{
  MatmulCase *c = data;

  tailor_ref_matmul_forward (c->out, c->inp, &c->w.t, c->bias, c->T, c->IC, c->OC);
  return weighted_sum (c->out, c->r, (gsize) c->T * c->OC);
}

static void
matmul_case_init (MatmulCase *c, TailorType type, int T, int IC, int OC)
{
  g_autofree float *values = g_new (float, (gsize) IC * OC);

  c->T = T;
  c->IC = IC;
  c->OC = OC;
  c->inp = g_new (float, (gsize) T * IC);
  c->bias = g_new (float, OC);
  c->out = g_new (float, (gsize) T * OC);
  c->r = g_new (float, (gsize) T * OC);
  fill_uniform (values, (gsize) IC * OC, -0.5f, 0.5f, 10 + type);
  fill_uniform (c->inp, (gsize) T * IC, -1, 1, 11);
  fill_uniform (c->bias, OC, -1, 1, 12);
  fill_uniform (c->r, (gsize) T * OC, -1, 1, 13);
  mem_tensor_init (&c->w, type, IC, OC, values);
}

static void
matmul_case_clear (MatmulCase *c)
{
  g_free (c->w.data);
  g_free (c->inp);
  g_free (c->bias);
  g_free (c->out);
  g_free (c->r);
}

static void
test_matmul_input_gradient_over_quantized_weights (void)
{
  static const TailorType types[] = { TAILOR_TYPE_F32,  TAILOR_TYPE_F16,  TAILOR_TYPE_BF16,
                                      TAILOR_TYPE_Q4_0, TAILOR_TYPE_Q5_1, TAILOR_TYPE_Q8_0,
                                      TAILOR_TYPE_Q4_K, TAILOR_TYPE_Q6_K };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (types); i++)
    {
      MatmulCase c;
      g_autofree float *dinp = NULL;
      g_autofree char *what = g_strdup_printf ("matmul dinp over %s", tailor_type_name (types[i]));

      matmul_case_init (&c, types[i], 3, 256, 6);
      dinp = g_new0 (float, (gsize) c.T * c.IC);
      tailor_ref_matmul_backward (dinp, NULL, NULL, c.r, c.inp, &c.w.t, c.T, c.IC, c.OC);
      assert_grad_matches_fd (what, matmul_loss, &c, c.inp, dinp, (gsize) c.T * c.IC);
      matmul_case_clear (&c);
    }
}

static void
test_matmul_weight_and_bias_gradients (void)
{
  MatmulCase c;
  g_autofree float *dinp = NULL;
  g_autofree float *dw = NULL;
  g_autofree float *db = NULL;

  matmul_case_init (&c, TAILOR_TYPE_F32, 5, 12, 7);
  dinp = g_new0 (float, (gsize) c.T * c.IC);
  dw = g_new0 (float, (gsize) c.OC * c.IC);
  db = g_new0 (float, c.OC);
  tailor_ref_matmul_backward (dinp, dw, db, c.r, c.inp, &c.w.t, c.T, c.IC, c.OC);
  assert_grad_matches_fd ("matmul dinp", matmul_loss, &c, c.inp, dinp, (gsize) c.T * c.IC);
  assert_grad_matches_fd ("matmul dweight", matmul_loss, &c, (float *) c.w.data, dw,
                          (gsize) c.OC * c.IC);
  assert_grad_matches_fd ("matmul dbias", matmul_loss, &c, c.bias, db, c.OC);
  matmul_case_clear (&c);
}

static void
test_matmul_backward_is_thread_count_independent (void)
{
  MatmulCase c;
  guint n_threads = tailor_parallel_get_n_threads ();
  g_autofree float *dinp1 = NULL;
  g_autofree float *dinp3 = NULL;
  g_autofree float *dw1 = NULL;
  g_autofree float *dw3 = NULL;
  gsize n_inp;
  gsize n_w;

  matmul_case_init (&c, TAILOR_TYPE_Q4_K, 9, 256, 40);
  n_inp = (gsize) c.T * c.IC;
  n_w = (gsize) c.OC * c.IC;
  dinp1 = g_new0 (float, n_inp);
  dinp3 = g_new0 (float, n_inp);
  dw1 = g_new0 (float, n_w);
  dw3 = g_new0 (float, n_w);
  tailor_parallel_set_n_threads (1);
  tailor_ref_matmul_backward (dinp1, dw1, NULL, c.r, c.inp, &c.w.t, c.T, c.IC, c.OC);
  tailor_parallel_set_n_threads (3);
  tailor_ref_matmul_backward (dinp3, dw3, NULL, c.r, c.inp, &c.w.t, c.T, c.IC, c.OC);
  tailor_parallel_set_n_threads (n_threads);
  g_assert_cmpmem (dinp1, n_inp * sizeof (float), dinp3, n_inp * sizeof (float));
  g_assert_cmpmem (dw1, n_w * sizeof (float), dw3, n_w * sizeof (float));
  matmul_case_clear (&c);
}

/* ---- RoPE ---- */

#define ROPE_T 5
#define ROPE_H 3
#define ROPE_HD 8

typedef struct
{
  float x[ROPE_T * ROPE_H * ROPE_HD];
  float tmp[ROPE_T * ROPE_H * ROPE_HD];
  float r[ROPE_T * ROPE_H * ROPE_HD];
  int pos[ROPE_T];
  float factors[ROPE_HD / 2];
  int n_rot;
  TailorRopeType type;
} RopeCase;

static double
rope_loss (gpointer data)
{
  RopeCase *c = data;

  memcpy (c->tmp, c->x, sizeof (c->x));
  tailor_ref_rope_forward (c->tmp, c->pos, ROPE_T, ROPE_H, ROPE_HD, c->n_rot, 100.0f, 0.5f,
                           c->factors, c->type);
  return weighted_sum (c->tmp, c->r, G_N_ELEMENTS (c->tmp));
}

static void
test_rope_backward_both_layouts (void)
{
  static const TailorRopeType types[] = { TAILOR_ROPE_NORMAL, TAILOR_ROPE_NEOX };
  static const int n_rots[] = { ROPE_HD, ROPE_HD / 2 };
  guint i;
  guint j;

  for (i = 0; i < G_N_ELEMENTS (types); i++)
    for (j = 0; j < G_N_ELEMENTS (n_rots); j++)
      {
        RopeCase c = { .pos = { 0, 1, 2, 7, 30 }, .factors = { 1.0f, 1.5f, 4.0f, 8.0f } };
        float dx[ROPE_T * ROPE_H * ROPE_HD];
        g_autofree char *what =
          g_strdup_printf ("rope %s n_rot %d", types[i] == TAILOR_ROPE_NEOX ? "neox" : "normal",
                           n_rots[j]);

        c.type = types[i];
        c.n_rot = n_rots[j];
        fill_uniform (c.x, G_N_ELEMENTS (c.x), -1, 1, 20);
        fill_uniform (c.r, G_N_ELEMENTS (c.r), -1, 1, 21);
        memcpy (dx, c.r, sizeof (dx));
        tailor_ref_rope_backward (dx, c.pos, ROPE_T, ROPE_H, ROPE_HD, c.n_rot, 100.0f, 0.5f,
                                  c.factors, c.type);
        assert_grad_matches_fd (what, rope_loss, &c, c.x, dx, G_N_ELEMENTS (dx));
      }
}

/* ---- attention ---- */

#define ATT_T 6
#define ATT_H 4
#define ATT_KVH 2
#define ATT_HD 8

typedef struct
{
  float q[ATT_T * ATT_H * ATT_HD];
  float k[ATT_T * ATT_KVH * ATT_HD];
  float v[ATT_T * ATT_KVH * ATT_HD];
  float out[ATT_T * ATT_H * ATT_HD];
  float r[ATT_T * ATT_H * ATT_HD];
} AttentionCase;

static double
attention_loss (gpointer data)
{
  AttentionCase *c = data;

  tailor_ref_attention_forward (c->out, c->q, c->k, c->v, ATT_T, 0, ATT_H, ATT_KVH, ATT_HD);
  return weighted_sum (c->out, c->r, G_N_ELEMENTS (c->out));
}

static void
attention_case_init (AttentionCase *c)
{
  /* scores of a few units: softmax rows far from uniform and far from one-hot */
  fill_uniform (c->q, G_N_ELEMENTS (c->q), -1.5f, 1.5f, 30);
  fill_uniform (c->k, G_N_ELEMENTS (c->k), -1.5f, 1.5f, 31);
  fill_uniform (c->v, G_N_ELEMENTS (c->v), -1, 1, 32);
  fill_uniform (c->r, G_N_ELEMENTS (c->r), -1, 1, 33);
}

static void
test_attention_backward_gqa_matches_fd (void)
{
  AttentionCase c;
  float dq[ATT_T * ATT_H * ATT_HD] = { 0 };
  float dk[ATT_T * ATT_KVH * ATT_HD] = { 0 };
  float dv[ATT_T * ATT_KVH * ATT_HD] = { 0 };
  int d;

  attention_case_init (&c);
  tailor_ref_attention_backward (dq, dk, dv, c.r, c.q, c.k, c.v, ATT_T, ATT_H, ATT_KVH, ATT_HD);
  assert_grad_matches_fd ("attention dq", attention_loss, &c, c.q, dq, G_N_ELEMENTS (dq));
  assert_grad_matches_fd ("attention dk", attention_loss, &c, c.k, dk, G_N_ELEMENTS (dk));
  assert_grad_matches_fd ("attention dv", attention_loss, &c, c.v, dv, G_N_ELEMENTS (dv));
  /* the first query sees only the first key: softmax is constant there, so dk of key 0
   * comes from later queries only, and dq of query 0 is exactly zero */
  for (d = 0; d < ATT_H * ATT_HD; d++)
    g_assert_cmpfloat (dq[d], ==, 0.0f);
}

static void
test_attention_backward_is_thread_count_independent (void)
{
  AttentionCase c;
  guint n_threads = tailor_parallel_get_n_threads ();
  float dq1[ATT_T * ATT_H * ATT_HD] = { 0 }, dq3[ATT_T * ATT_H * ATT_HD] = { 0 };
  float dk1[ATT_T * ATT_KVH * ATT_HD] = { 0 }, dk3[ATT_T * ATT_KVH * ATT_HD] = { 0 };
  float dv1[ATT_T * ATT_KVH * ATT_HD] = { 0 }, dv3[ATT_T * ATT_KVH * ATT_HD] = { 0 };

  attention_case_init (&c);
  tailor_parallel_set_n_threads (1);
  tailor_ref_attention_backward (dq1, dk1, dv1, c.r, c.q, c.k, c.v, ATT_T, ATT_H, ATT_KVH,
                                 ATT_HD);
  tailor_parallel_set_n_threads (3);
  tailor_ref_attention_backward (dq3, dk3, dv3, c.r, c.q, c.k, c.v, ATT_T, ATT_H, ATT_KVH,
                                 ATT_HD);
  tailor_parallel_set_n_threads (n_threads);
  g_assert_cmpmem (dq1, sizeof (dq1), dq3, sizeof (dq3));
  g_assert_cmpmem (dk1, sizeof (dk1), dk3, sizeof (dk3));
  g_assert_cmpmem (dv1, sizeof (dv1), dv3, sizeof (dv3));
}

/* ---- SwiGLU and residual ---- */

#define EW_N 24

typedef struct
{
  float a[EW_N];
  float b[EW_N];
  float out[EW_N];
  float r[EW_N];
} ElementwiseCase;

static double
swiglu_loss (gpointer data)
{
  ElementwiseCase *c = data;

  tailor_ref_swiglu_forward (c->out, c->a, c->b, 4, EW_N / 4);
  return weighted_sum (c->out, c->r, EW_N);
}

static double
residual_loss (gpointer data)
{
  ElementwiseCase *c = data;

  tailor_ref_residual_forward (c->out, c->a, c->b, 4, EW_N / 4);
  return weighted_sum (c->out, c->r, EW_N);
}

static void
test_swiglu_and_residual_backward_match_fd (void)
{
  ElementwiseCase c;
  float da[EW_N] = { 0 };
  float db[EW_N] = { 0 };

  fill_uniform (c.a, EW_N, -4, 4, 40);
  fill_uniform (c.b, EW_N, -2, 2, 41);
  fill_uniform (c.r, EW_N, -1, 1, 42);
  tailor_ref_swiglu_backward (da, db, c.r, c.a, c.b, 4, EW_N / 4);
  assert_grad_matches_fd ("swiglu dgate", swiglu_loss, &c, c.a, da, EW_N);
  assert_grad_matches_fd ("swiglu dup", swiglu_loss, &c, c.b, db, EW_N);

  memset (da, 0, sizeof (da));
  memset (db, 0, sizeof (db));
  tailor_ref_residual_backward (da, db, c.r, 4, EW_N / 4);
  assert_grad_matches_fd ("residual dinp1", residual_loss, &c, c.a, da, EW_N);
  assert_grad_matches_fd ("residual dinp2", residual_loss, &c, c.b, db, EW_N);
}

/* ---- LoRA ---- */

#define LORA_T 4
#define LORA_IC 12
#define LORA_R 3
#define LORA_OC 10

typedef struct
{
  float inp[LORA_T * LORA_IC];
  float a[LORA_R * LORA_IC];
  float b[LORA_OC * LORA_R];
  float xa[LORA_T * LORA_R];
  float out[LORA_T * LORA_OC];
  float r[LORA_T * LORA_OC];
  float scale;
  float dropout;
  guint32 seed;
} LoraCase;

static double
lora_loss (gpointer data)
{
  LoraCase *c = data;

  memset (c->out, 0, sizeof (c->out));
  tailor_ref_lora_forward (c->out, c->xa, c->inp, c->a, c->b, c->scale, c->dropout, c->seed,
                           LORA_T, LORA_IC, LORA_R, LORA_OC);
  return weighted_sum (c->out, c->r, G_N_ELEMENTS (c->out));
}

static void
check_lora (const char *name, gboolean rslora, float dropout)
{
  LoraCase c = { .dropout = dropout, .seed = 1234 };
  float dinp[LORA_T * LORA_IC] = { 0 };
  float da[LORA_R * LORA_IC] = { 0 };
  float db[LORA_OC * LORA_R] = { 0 };
  g_autofree char *w_inp = g_strdup_printf ("lora %s dinp", name);
  g_autofree char *w_a = g_strdup_printf ("lora %s dA", name);
  g_autofree char *w_b = g_strdup_printf ("lora %s dB", name);
  int dropped = 0;
  int i;

  c.scale = tailor_ref_lora_scale (16.0f, LORA_R, rslora);
  g_assert_cmpfloat (c.scale, ==, rslora ? 16.0f / sqrtf (3.0f) : 16.0f / 3.0f);
  fill_uniform (c.inp, G_N_ELEMENTS (c.inp), -1, 1, 50);
  fill_uniform (c.a, G_N_ELEMENTS (c.a), -0.3f, 0.3f, 51);
  fill_uniform (c.b, G_N_ELEMENTS (c.b), -0.3f, 0.3f, 52);
  fill_uniform (c.r, G_N_ELEMENTS (c.r), -1, 1, 53);
  lora_loss (&c); /* the backward takes xa from the forward */
  tailor_ref_lora_backward (dinp, da, db, c.r, c.inp, c.xa, c.a, c.b, c.scale, c.dropout, c.seed,
                            LORA_T, LORA_IC, LORA_R, LORA_OC);
  assert_grad_matches_fd (w_inp, lora_loss, &c, c.inp, dinp, G_N_ELEMENTS (dinp));
  assert_grad_matches_fd (w_a, lora_loss, &c, c.a, da, G_N_ELEMENTS (da));
  assert_grad_matches_fd (w_b, lora_loss, &c, c.b, db, G_N_ELEMENTS (db));

  /* a dropped input element has no gradient at all */
  for (i = 0; i < LORA_T * LORA_IC; i++)
    if (tailor_ref_dropout_factor (c.seed, i, dropout) == 0.0f)
      {
        g_assert_cmpfloat (dinp[i], ==, 0.0f);
        dropped++;
      }
  if (dropout > 0.0f)
    g_assert_cmpint (dropped, >, 0);
}

static void
test_lora_backward_matches_fd (void)
{
  check_lora ("alpha/r", FALSE, 0.0f);
  check_lora ("rslora with dropout", TRUE, 0.3f);
}

static void
test_dropout_mask_is_seeded_and_inverted (void)
{
  const float p = 0.25f;
  int n = 100000;
  int dropped = 0;
  int differ = 0;
  int i;

  for (i = 0; i < n; i++)
    {
      float f = tailor_ref_dropout_factor (7, i, p);

      g_assert_true (f == 0.0f || f == 1.0f / (1.0f - p));
      g_assert_cmpfloat (f, ==, tailor_ref_dropout_factor (7, i, p));
      dropped += f == 0.0f;
      differ += f != tailor_ref_dropout_factor (8, i, p);
      g_assert_cmpfloat (tailor_ref_dropout_factor (7, i, 0.0f), ==, 1.0f);
    }
  /* binomial: σ = √(n p (1−p)) ≈ 137; allow 5σ */
  g_assert_cmpint (ABS (dropped - (int) (n * p)), <, 700);
  /* two seeds agree where both keep or both drop: p² + (1−p)² = 0.625 */
  g_assert_cmpint (ABS (differ - (int) (n * 0.375)), <, 800);
}

/* ---- cross-entropy ---- */

#define CE_T 6
#define CE_V 37

typedef struct
{
  MemTensor w;  /* ne {C, CE_V} */
  float *inp;   /* (CE_T, C) */
  gint32 targets[CE_T];
  guint8 mask[CE_T];
  float lse[CE_T];
  int C;
  int chunk;
} CrossEntropyCase;

static double
cross_entropy_loss (gpointer data)
{
  CrossEntropyCase *c = data;

  return tailor_ref_cross_entropy_forward (c->lse, c->inp, &c->w.t, c->targets, c->mask, CE_T,
                                           c->C, CE_V, c->chunk);
}

/* The loss from the full (T, V) logits of an F32 output, in double. */
static double
naive_cross_entropy (CrossEntropyCase *c)
{
  const float *w = (const float *) c->w.data;
  double sum = 0.0;
  int n = 0;
  int t;
  int v;
  int i;

  for (t = 0; t < CE_T; t++)
    {
      double logits[CE_V];
      double max = -INFINITY;
      double z = 0.0;

      if (!c->mask[t])
        continue;
      for (v = 0; v < CE_V; v++)
        {
          logits[v] = 0.0;
          for (i = 0; i < c->C; i++)
            logits[v] += (double) c->inp[t * c->C + i] * w[v * c->C + i];
          max = MAX (max, logits[v]);
        }
      for (v = 0; v < CE_V; v++)
        z += exp (logits[v] - max);
      sum += max + log (z) - logits[c->targets[t]];
      n++;
    }
  return sum / n;
}

static void
cross_entropy_case_init (CrossEntropyCase *c, TailorType type, int C)
{
  g_autofree float *values = g_new (float, (gsize) CE_V * C);
  static const gint32 targets[CE_T] = { 3, 36, 0, 17, 8, 36 };
  static const guint8 mask[CE_T] = { 1, 1, 0, 1, 0, 1 };

  c->C = C;
  c->inp = g_new (float, (gsize) CE_T * C);
  memcpy (c->targets, targets, sizeof (targets));
  memcpy (c->mask, mask, sizeof (mask));
  fill_uniform (values, (gsize) CE_V * C, -1, 1, 60);
  fill_uniform (c->inp, (gsize) CE_T * C, -1, 1, 61);
  mem_tensor_init (&c->w, type, C, CE_V, values);
}

static void
test_cross_entropy_chunks_match_fd_and_full_logits (void)
{
  static const int chunks[] = { 8, 5, CE_V, 64 }; /* 8 and 5 do not divide 37 */
  CrossEntropyCase c;
  double first_loss = 0.0;
  guint i;
  int t;
  int d;

  cross_entropy_case_init (&c, TAILOR_TYPE_F32, 16);
  for (i = 0; i < G_N_ELEMENTS (chunks); i++)
    {
      float dinp[CE_T * 16] = { 0 };
      float dw[CE_V * 16] = { 0 };
      g_autofree char *w_inp = g_strdup_printf ("cross-entropy chunk %d dinp", chunks[i]);
      g_autofree char *w_w = g_strdup_printf ("cross-entropy chunk %d dweight", chunks[i]);
      double loss;

      c.chunk = chunks[i];
      loss = cross_entropy_loss (&c);
      g_assert_cmpfloat_with_epsilon (loss, naive_cross_entropy (&c), 1e-5);
      if (i == 0)
        first_loss = loss;
      g_assert_cmpfloat_with_epsilon (loss, first_loss, 1e-6);
      tailor_ref_cross_entropy_backward (dinp, dw, c.inp, &c.w.t, c.targets, c.mask, c.lse, 1.0f,
                                         CE_T, c.C, CE_V, c.chunk);
      assert_grad_matches_fd (w_inp, cross_entropy_loss, &c, c.inp, dinp, G_N_ELEMENTS (dinp));
      assert_grad_matches_fd (w_w, cross_entropy_loss, &c, (float *) c.w.data, dw,
                              G_N_ELEMENTS (dw));
      /* rows outside the mask take no part */
      for (t = 0; t < CE_T; t++)
        if (!c.mask[t])
          for (d = 0; d < c.C; d++)
            g_assert_cmpfloat (dinp[t * c.C + d], ==, 0.0f);
    }
  g_free (c.w.data);
  g_free (c.inp);
}

static void
test_cross_entropy_over_quantized_output (void)
{
  CrossEntropyCase c;
  float dinp[CE_T * 64] = { 0 };

  /* Q8_0 rows span 32 values: a wider case */
  cross_entropy_case_init (&c, TAILOR_TYPE_Q8_0, 64);
  c.chunk = 7;
  cross_entropy_loss (&c);
  tailor_ref_cross_entropy_backward (dinp, NULL, c.inp, &c.w.t, c.targets, c.mask, c.lse, 1.0f,
                                     CE_T, c.C, CE_V, c.chunk);
  assert_grad_matches_fd ("cross-entropy over Q8_0 dinp", cross_entropy_loss, &c, c.inp, dinp,
                          G_N_ELEMENTS (dinp));
  g_free (c.w.data);
  g_free (c.inp);
}

/* ---- optimizer ---- */

static void
test_adamw_two_steps_match_hand_worked_example (void)
{
  /* lr 0.1, β1 0.9, β2 0.999, ε 1e-8, wd 0.01; w0 = 1 with gradients 0.5 then −0.25, and
   * w1 = 2 with gradient 0 (decoupled decay alone moves it).
   * step 1: m = 0.05, v = 0.00025, m̂ = 0.05/0.1 = 0.5, v̂ = 0.00025/0.001 = 0.25,
   *   w0 = 1·(1 − 0.001) − 0.1·0.5/(0.5 + 1e-8) = 0.999 − 0.099999998 = 0.899000002
   * step 2: m = 0.045 − 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225,
   *   m̂ = 0.02/0.19 = 0.105263158, v̂ = 0.00031225/0.001999 = 0.156203102, √v̂ = 0.395225381,
   *   w0 = 0.899000002·0.999 − 0.1·0.105263158/0.395225391 = 0.871467299
   * w1 = 2·0.999² = 1.996002 (an L2 penalty inside Adam would move it by ~lr per step). */
  float w[2] = { 1.0f, 2.0f };
  float m[2] = { 0 };
  float v[2] = { 0 };
  float g1[2] = { 0.5f, 0.0f };
  float g2[2] = { -0.25f, 0.0f };

  /* fp32 arithmetic (1 − 0.999f is 0.00099999 in fp32) allows ~1e-6 on w, ~1e-5 relative on
   * v; coupled decay or a missing bias correction would be off by 1e-3 or more */
  tailor_ref_adamw_update (w, m, v, g1, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
  g_assert_cmpfloat_with_epsilon (m[0], 0.05, 1e-7);
  g_assert_cmpfloat_with_epsilon (v[0], 0.00025, 1e-8);
  g_assert_cmpfloat_with_epsilon (w[0], 0.899000002, 1e-6);
  g_assert_cmpfloat_with_epsilon (w[1], 1.998, 1e-6);
  tailor_ref_adamw_update (w, m, v, g2, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 2);
  g_assert_cmpfloat_with_epsilon (m[0], 0.02, 1e-7);
  g_assert_cmpfloat_with_epsilon (v[0], 0.00031225, 1e-8);
  g_assert_cmpfloat_with_epsilon (w[0], 0.871467299, 1e-6);
  g_assert_cmpfloat_with_epsilon (w[1], 1.996002, 1e-6);
}

static void
test_clip_scales_to_max_norm (void)
{
  float a[2] = { 3.0f, 4.0f };
  float b[1] = { 12.0f };
  float *grads[2] = { a, b };
  gsize sizes[2] = { 2, 1 };
  double norm;
  float coef = (float) (6.5 / (13.0 + 1e-6));

  g_assert_cmpfloat (tailor_ref_grad_norm ((const float *const *) grads, sizes, 2), ==, 13.0);
  /* a larger limit leaves the gradients as they are */
  norm = tailor_ref_clip_grad_norm (grads, sizes, 2, 20.0f);
  g_assert_cmpfloat (norm, ==, 13.0);
  g_assert_cmpfloat (a[0], ==, 3.0f);
  g_assert_cmpfloat (b[0], ==, 12.0f);
  /* a smaller one scales every tensor by max/(norm + 1e-6) */
  norm = tailor_ref_clip_grad_norm (grads, sizes, 2, 6.5f);
  g_assert_cmpfloat (norm, ==, 13.0);
  g_assert_cmpfloat (a[0], ==, 3.0f * coef);
  g_assert_cmpfloat (a[1], ==, 4.0f * coef);
  g_assert_cmpfloat (b[0], ==, 12.0f * coef);
  g_assert_cmpfloat_with_epsilon (tailor_ref_grad_norm ((const float *const *) grads, sizes, 2),
                                  6.5, 1e-5);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/cpu-ref-grad/embedding-backward-scatter-adds-rows",
                   test_embedding_backward_scatter_adds_rows);
  g_test_add_func ("/cpu-ref-grad/rmsnorm-backward-matches-fd", test_rmsnorm_backward_matches_fd);
  g_test_add_func ("/cpu-ref-grad/matmul-input-gradient-over-quantized-weights",
                   test_matmul_input_gradient_over_quantized_weights);
  g_test_add_func ("/cpu-ref-grad/matmul-weight-and-bias-gradients",
                   test_matmul_weight_and_bias_gradients);
  g_test_add_func ("/cpu-ref-grad/matmul-backward-is-thread-count-independent",
                   test_matmul_backward_is_thread_count_independent);
  g_test_add_func ("/cpu-ref-grad/rope-backward-both-layouts", test_rope_backward_both_layouts);
  g_test_add_func ("/cpu-ref-grad/attention-backward-gqa-matches-fd",
                   test_attention_backward_gqa_matches_fd);
  g_test_add_func ("/cpu-ref-grad/attention-backward-is-thread-count-independent",
                   test_attention_backward_is_thread_count_independent);
  g_test_add_func ("/cpu-ref-grad/swiglu-and-residual-backward-match-fd",
                   test_swiglu_and_residual_backward_match_fd);
  g_test_add_func ("/cpu-ref-grad/lora-backward-matches-fd", test_lora_backward_matches_fd);
  g_test_add_func ("/cpu-ref-grad/dropout-mask-is-seeded-and-inverted",
                   test_dropout_mask_is_seeded_and_inverted);
  g_test_add_func ("/cpu-ref-grad/cross-entropy-chunks-match-fd-and-full-logits",
                   test_cross_entropy_chunks_match_fd_and_full_logits);
  g_test_add_func ("/cpu-ref-grad/cross-entropy-over-quantized-output",
                   test_cross_entropy_over_quantized_output);
  g_test_add_func ("/cpu-ref-grad/adamw-two-steps-match-hand-worked-example",
                   test_adamw_two_steps_match_hand_worked_example);
  g_test_add_func ("/cpu-ref-grad/clip-scales-to-max-norm", test_clip_scales_to_max_norm);

  return g_test_run ();
}
