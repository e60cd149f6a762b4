/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests for the CPU reference: each op against a naive formulation written here, then the
 * whole forward pass (KV cache, all_logits, tied output, quantized weights, threads). */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-cpu-ref.h"
#include "tailor-parallel.h"
#include "tailor-test-model.h"

/* ---- helpers ---- */

static void
fill_normal (float *x, gsize n, float std, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  gsize i;

  for (i = 0; i < n; i++)
    {
      /* Box–Muller; the test's own generator, unrelated to the engine's. */
      double u1 = g_rand_double_range (rand, 1e-12, 1.0);
      double u2 = g_rand_double (rand);

      x[i] = (float) (std * sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2));
    }
}

static double
max_abs_diff (const float *a, const float *b, gsize n)
{
  double m = 0.0;
  gsize i;

  for (i = 0; i < n; i++)
    m = MAX (m, fabs ((double) a[i] - b[i]));
  return m;
}

static gint32
argmax (const float *x, guint n)
{
  guint best = 0, i;

  for (i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return (gint32) best;
}

static double
max_abs (const float *a, gsize n)
{
  double m = 0.0;
  gsize i;

  for (i = 0; i < n; i++)
    m = MAX (m, fabs ((double) a[i]));
  return m;
}

/* A tensor built in memory: ne {ne0, ne1}, values encoded in type row by row. */
typedef struct
{
  TailorGgufTensor t;
  gpointer data;
} MemTensor;

static MemTensor *
mem_tensor_new (TailorType type, gint64 ne0, gint64 ne1, const float *values)
{
  MemTensor *m = g_new0 (MemTensor, 1);
  gsize row_bytes = tailor_type_row_size (type, ne0);
  gint64 r;

  g_assert_cmpuint (row_bytes, >, 0);
  m->data = g_malloc (row_bytes * ne1);
  for (r = 0; r < ne1; r++)
    {
      if (type == TAILOR_TYPE_F32)
        memcpy ((guint8 *) m->data + r * row_bytes, values + r * ne0, row_bytes);
      else
        tailor_quantize_row (type, values + r * ne0, (guint8 *) m->data + r * row_bytes, ne0);
    }
  m->t.name = "test";
  m->t.n_dims = 2;
  m->t.ne[0] = ne0;
  m->t.ne[1] = ne1;
  m->t.ne[2] = 1;
  m->t.ne[3] = 1;
  m->t.type = type;
  m->t.n_elements = ne0 * ne1;
  m->t.n_bytes = row_bytes * ne1;
  m->t.data = m->data;
  return m;
}

static void
mem_tensor_free (MemTensor *m)
{
  g_free (m->data);
  g_free (m);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MemTensor, mem_tensor_free)

/* The whole matrix dequantized at once (the thing the reference must never do). */
static float *
dequantize_all (const TailorGgufTensor *t)
{
  float *w = g_new (float, t->n_elements);

  tailor_dequantize_row (t->type, t->data, w, t->n_elements);
  return w;
}

/* ---- ops ---- */

static void
test_rmsnorm_matches_naive (void)
{
  enum
  {
    T = 5,
    C = 96
  };
  float inp[T * C], weight[C], out[T * C];
  const float eps = 1e-5f;
  int t, i;

  fill_normal (inp, T * C, 3.0f, 1);
  fill_normal (weight, C, 1.0f, 2);
  tailor_ref_rmsnorm_forward (out, inp, weight, T, C, eps);

  for (t = 0; t < T; t++)
    {
      double mean_sq = 0.0;

      for (i = 0; i < C; i++)
        mean_sq += (double) inp[t * C + i] * inp[t * C + i] / C;
      for (i = 0; i < C; i++)
        {
          double want = inp[t * C + i] / sqrt (mean_sq + eps) * weight[i];

          g_assert_cmpfloat_with_epsilon (out[t * C + i], want, 1e-5 * MAX (1.0, fabs (want)));
        }
    }
}

static void
check_matmul (TailorType type, int T, int IC, int OC, gboolean with_bias)
{
  g_autofree float *w_values = g_new (float, IC *OC);
  g_autofree float *inp = g_new (float, T *IC);
  g_autofree float *bias = g_new (float, OC);
  g_autofree float *out = g_new (float, T *OC);
  g_autofree float *w_full = NULL;
  g_autoptr (MemTensor) w = NULL;
  double worst = 0.0;
  int t, o, i;

  fill_normal (w_values, (gsize) IC * OC, 0.5f, 10 + type);
  fill_normal (inp, (gsize) T * IC, 1.0f, 20);
  fill_normal (bias, OC, 1.0f, 30);
  w = mem_tensor_new (type, IC, OC, w_values);
  w_full = dequantize_all (&w->t);

  tailor_ref_matmul_forward (out, inp, &w->t, with_bias ? bias : NULL, T, IC, OC);

  for (t = 0; t < T; t++)
    for (o = 0; o < OC; o++)
      {
        double want = with_bias ? bias[o] : 0.0;
        double scale = 0.0;

        for (i = 0; i < IC; i++)
          {
            want += (double) inp[t * IC + i] * w_full[(gsize) o * IC + i];
            scale += fabs ((double) inp[t * IC + i] * w_full[(gsize) o * IC + i]);
          }
        /* fp32 accumulation against an fp64 sum: relative to the sum of magnitudes. */
        worst = MAX (worst, fabs (out[t * OC + o] - want) / (scale + 1.0));
      }
  g_assert_cmpfloat (worst, <, 1e-5);
}

static void
test_matmul_matches_dequantize_then_multiply (void)
{
  static const TailorType types[] = {
    TAILOR_TYPE_F32,  TAILOR_TYPE_F16,  TAILOR_TYPE_BF16, TAILOR_TYPE_Q8_0,
    TAILOR_TYPE_Q4_0, TAILOR_TYPE_Q4_K, TAILOR_TYPE_Q5_K, TAILOR_TYPE_Q6_K,
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (types); i++)
    {
      const TailorTypeInfo *info = tailor_type_get_info (types[i]);

      g_assert_nonnull (info);
      g_assert_true (info->can_quantize && info->can_dequantize);
      g_test_message ("matmul over %s", info->name);
      check_matmul (types[i], 3, 512, 37, TRUE);
      check_matmul (types[i], 1, 256, 5, FALSE);
    }
}

static void
test_matmul_threads_give_identical_results (void)
{
  enum
  {
    T = 4,
    IC = 256,
    OC = 301
  };
  g_autofree float *w_values = g_new (float, IC *OC);
  float inp[T * IC];
  float one[T * OC], many[T * OC];
  g_autoptr (MemTensor) w = NULL;
  guint saved = tailor_parallel_get_n_threads ();

  fill_normal (w_values, IC * OC, 0.5f, 5);
  fill_normal (inp, T * IC, 1.0f, 6);
  w = mem_tensor_new (TAILOR_TYPE_Q4_K, IC, OC, w_values);

  tailor_parallel_set_n_threads (1);
  tailor_ref_matmul_forward (one, inp, &w->t, NULL, T, IC, OC);
  tailor_parallel_set_n_threads (7);
  tailor_ref_matmul_forward (many, inp, &w->t, NULL, T, IC, OC);
  tailor_parallel_set_n_threads (saved);

  /* Each output is one thread's dot product in a fixed order: bit-identical. */
  g_assert_cmpmem (one, sizeof one, many, sizeof many);
}

/* RoPE as an explicit 2×2 rotation of each pair, in double. */
static void
naive_rope (float *x,
            const int *pos,
            int T,
            int n_head,
            int hd,
            int n_rot,
            double base,
            double scale,
            const float *factors,
            TailorRopeType type)
{
  int t, h, i;

  for (t = 0; t < T; t++)
    for (h = 0; h < n_head; h++)
      for (i = 0; i < n_rot / 2; i++)
        {
          float *v = x + ((gsize) t * n_head + h) * hd;
          double inv_freq = exp (-(2.0 * i / n_rot) * log (base));
          double angle = pos[t] * inv_freq * scale / (factors ? factors[i] : 1.0);
          double r[2][2] = { { cos (angle), -sin (angle) }, { sin (angle), cos (angle) } };
          int a = type == TAILOR_ROPE_NORMAL ? 2 * i : i;
          int b = type == TAILOR_ROPE_NORMAL ? 2 * i + 1 : i + n_rot / 2;
          double va = v[a], vb = v[b];

          v[a] = (float) (r[0][0] * va + r[0][1] * vb);
          v[b] = (float) (r[1][0] * va + r[1][1] * vb);
        }
}

static void
test_rope_matches_pairwise_rotation (void)
{
  enum
  {
    T = 6,
    H = 3,
    HD = 32
  };
  static const TailorRopeType types[] = { TAILOR_ROPE_NORMAL, TAILOR_ROPE_NEOX };
  int pos[T] = { 0, 1, 2, 17, 100, 4000 };
  float factors[HD / 2];
  guint k;
  int n_rot;

  fill_normal (factors, HD / 2, 1.0f, 9);
  for (k = 0; k < HD / 2; k++)
    factors[k] = 1.0f + fabsf (factors[k]) * 4.0f;

  for (k = 0; k < G_N_ELEMENTS (types); k++)
    for (n_rot = 16; n_rot <= HD; n_rot += 16)
      {
        float x[T * H * HD], want[T * H * HD], orig[T * H * HD];
        gboolean with_factors;

        for (with_factors = FALSE; with_factors <= TRUE; with_factors++)
          {
            int i;

            fill_normal (orig, T * H * HD, 1.0f, 40 + n_rot);
            memcpy (x, orig, sizeof x);
            memcpy (want, orig, sizeof x);
            tailor_ref_rope_forward (x, pos, T, H, HD, n_rot, 10000.0f, 0.25f,
                                     with_factors ? factors : NULL, types[k]);
            naive_rope (want, pos, T, H, HD, n_rot, 10000.0, 0.25, with_factors ? factors : NULL,
                        types[k]);
            g_assert_cmpfloat (max_abs_diff (x, want, T * H * HD), <, 1e-5);
            /* Dimensions past n_rot are untouched. */
            for (i = 0; i < T * H; i++)
              g_assert_cmpmem (x + i * HD + n_rot, (HD - n_rot) * sizeof (float),
                               orig + i * HD + n_rot, (HD - n_rot) * sizeof (float));
          }
      }
}

static void
test_rope_layouts_pair_the_right_dimensions (void)
{
  /* One head of 4 dims at position 1 with base 1: every angle is exactly 1 radian. A unit
   * vector on dim 0 moves into dim 1 (normal: pairs (0,1), (2,3)) or dim 2 (NeoX: pairs
   * (0,2), (1,3)). */
  int pos = 1;
  float normal[4] = { 1, 0, 0, 0 };
  float neox[4] = { 1, 0, 0, 0 };

  tailor_ref_rope_forward (normal, &pos, 1, 1, 4, 4, 1.0f, 1.0f, NULL, TAILOR_ROPE_NORMAL);
  tailor_ref_rope_forward (neox, &pos, 1, 1, 4, 4, 1.0f, 1.0f, NULL, TAILOR_ROPE_NEOX);
  g_assert_cmpfloat_with_epsilon (normal[0], cos (1.0), 1e-6);
  g_assert_cmpfloat_with_epsilon (normal[1], sin (1.0), 1e-6);
  g_assert_cmpfloat_with_epsilon (normal[2], 0.0, 1e-7);
  g_assert_cmpfloat_with_epsilon (neox[0], cos (1.0), 1e-6);
  g_assert_cmpfloat_with_epsilon (neox[1], 0.0, 1e-7);
  g_assert_cmpfloat_with_epsilon (neox[2], sin (1.0), 1e-6);
}

static void
test_rope_scores_depend_on_relative_position (void)
{
  /* The property attention relies on: ⟨rope(q, m), rope(k, n)⟩ depends only on m − n. */
  enum
  {
    HD = 64
  };
  float q[HD], k[HD];
  float q1[HD], k1[HD], q2[HD], k2[HD];
  int m1 = 5, n1 = 2, m2 = 105, n2 = 102;
  double s1 = 0.0, s2 = 0.0;
  int i;

  fill_normal (q, HD, 1.0f, 50);
  fill_normal (k, HD, 1.0f, 51);
  memcpy (q1, q, sizeof q);
  memcpy (q2, q, sizeof q);
  memcpy (k1, k, sizeof k);
  memcpy (k2, k, sizeof k);
  tailor_ref_rope_forward (q1, &m1, 1, 1, HD, HD, 10000.0f, 1.0f, NULL, TAILOR_ROPE_NEOX);
  tailor_ref_rope_forward (k1, &n1, 1, 1, HD, HD, 10000.0f, 1.0f, NULL, TAILOR_ROPE_NEOX);
  tailor_ref_rope_forward (q2, &m2, 1, 1, HD, HD, 10000.0f, 1.0f, NULL, TAILOR_ROPE_NEOX);
  tailor_ref_rope_forward (k2, &n2, 1, 1, HD, HD, 10000.0f, 1.0f, NULL, TAILOR_ROPE_NEOX);
  for (i = 0; i < HD; i++)
    {
      s1 += (double) q1[i] * k1[i];
      s2 += (double) q2[i] * k2[i];
    }
  g_assert_cmpfloat_with_epsilon (s1, s2, 1e-4);
}

/* Attention with a materialised score matrix S (n_head, T, n_kv), the causal mask as −∞
 * and an explicit softmax per row. */
static void
naive_attention (float *out,
                 const float *q,
                 const float *k,
                 const float *v,
                 int T,
                 int q_pos0,
                 int n_head,
                 int n_head_kv,
                 int hd)
{
  int n_kv = q_pos0 + T;
  g_autofree double *S = g_new (double, (gsize) n_head *T *n_kv);
  int h, t, j, d;

  for (h = 0; h < n_head; h++)
    {
      int kvh = h * n_head_kv / n_head;

      for (t = 0; t < T; t++)
        {
          double *row = S + ((gsize) h * T + t) * n_kv;
          double max = -INFINITY, sum = 0.0;

          for (j = 0; j < n_kv; j++)
            {
              double s = 0.0;

              for (d = 0; d < hd; d++)
                s += (double) q[(t * n_head + h) * hd + d] * k[(j * n_head_kv + kvh) * hd + d];
              row[j] = j <= q_pos0 + t ? s / sqrt (hd) : -INFINITY;
              max = MAX (max, row[j]);
            }
          for (j = 0; j < n_kv; j++)
            {
              row[j] = exp (row[j] - max);
              sum += row[j];
            }
          for (d = 0; d < hd; d++)
            {
              double acc = 0.0;

              for (j = 0; j < n_kv; j++)
                acc += row[j] / sum * v[(j * n_head_kv + kvh) * hd + d];
              out[(t * n_head + h) * hd + d] = (float) acc;
            }
        }
    }
}

static void
test_attention_matches_materialised_softmax (void)
{
  static const int configs[][5] = {
    /* T, q_pos0, n_head, n_head_kv, hd */
    { 7, 0, 4, 2, 16 },
    { 3, 9, 8, 2, 32 },
    { 5, 4, 4, 4, 8 },
    { 1, 20, 6, 1, 16 },
  };
  guint c;

  for (c = 0; c < G_N_ELEMENTS (configs); c++)
    {
      int T = configs[c][0], q_pos0 = configs[c][1], n_head = configs[c][2];
      int n_head_kv = configs[c][3], hd = configs[c][4];
      int n_kv = q_pos0 + T;
      g_autofree float *q = g_new (float, T *n_head *hd);
      g_autofree float *k = g_new (float, n_kv *n_head_kv *hd);
      g_autofree float *v = g_new (float, n_kv *n_head_kv *hd);
      g_autofree float *out = g_new (float, T *n_head *hd);
      g_autofree float *want = g_new (float, T *n_head *hd);

      fill_normal (q, T * n_head * hd, 1.0f, 60 + c);
      fill_normal (k, n_kv * n_head_kv * hd, 1.0f, 70 + c);
      fill_normal (v, n_kv * n_head_kv * hd, 1.0f, 80 + c);
      tailor_ref_attention_forward (out, q, k, v, T, q_pos0, n_head, n_head_kv, hd);
      naive_attention (want, q, k, v, T, q_pos0, n_head, n_head_kv, hd);
      g_assert_cmpfloat (max_abs_diff (out, want, T * n_head * hd), <, 1e-5);
    }
}

static void
test_attention_maps_query_heads_to_kv_groups (void)
{
  /* 4 query heads over 2 kv heads: heads 0, 1 read kv head 0 and heads 2, 3 kv head 1, as
   * llama.cpp broadcasts. Values are constant per kv head, so the output shows which one
   * each query head read, whatever the weights. */
  enum
  {
    T = 3,
    NH = 4,
    NKV = 2,
    HD = 8
  };
  float q[T * NH * HD], k[T * NKV * HD], v[T * NKV * HD], out[T * NH * HD];
  int t, h, d;

  fill_normal (q, G_N_ELEMENTS (q), 1.0f, 90);
  fill_normal (k, G_N_ELEMENTS (k), 1.0f, 91);
  for (t = 0; t < T; t++)
    for (h = 0; h < NKV; h++)
      for (d = 0; d < HD; d++)
        v[(t * NKV + h) * HD + d] = (float) (h + 1);
  tailor_ref_attention_forward (out, q, k, v, T, 0, NH, NKV, HD);
  for (t = 0; t < T; t++)
    for (h = 0; h < NH; h++)
      g_assert_cmpfloat_with_epsilon (out[(t * NH + h) * HD], h < 2 ? 1.0 : 2.0, 1e-6);
}

static void
test_attention_is_causal (void)
{
  /* Changing a later position's key and value leaves earlier queries' outputs alone. */
  enum
  {
    T = 5,
    NH = 2,
    NKV = 1,
    HD = 8
  };
  float q[T * NH * HD], k[T * NKV * HD], v[T * NKV * HD], a[T * NH * HD], b[T * NH * HD];

  fill_normal (q, G_N_ELEMENTS (q), 1.0f, 100);
  fill_normal (k, G_N_ELEMENTS (k), 1.0f, 101);
  fill_normal (v, G_N_ELEMENTS (v), 1.0f, 102);
  tailor_ref_attention_forward (a, q, k, v, T, 0, NH, NKV, HD);
  fill_normal (k + 3 * NKV * HD, NKV * HD, 5.0f, 103);
  fill_normal (v + 3 * NKV * HD, NKV * HD, 5.0f, 104);
  tailor_ref_attention_forward (b, q, k, v, T, 0, NH, NKV, HD);
  g_assert_cmpmem (a, 3 * NH * HD * sizeof (float), b, 3 * NH * HD * sizeof (float));
  g_assert_cmpfloat (max_abs_diff (a + 3 * NH * HD, b + 3 * NH * HD, 2 * NH * HD), >, 1e-3);
}

static void
test_swiglu_matches_naive (void)
{
  enum
  {
    T = 3,
    C = 50
  };
  float gate[T * C], up[T * C], out[T * C];
  int i;

  fill_normal (gate, T * C, 4.0f, 110);
  fill_normal (up, T * C, 1.0f, 111);
  tailor_ref_swiglu_forward (out, gate, up, T, C);
  for (i = 0; i < T * C; i++)
    {
      double sigmoid = 1.0 / (1.0 + exp (-(double) gate[i]));
      double want = gate[i] * sigmoid * up[i];

      g_assert_cmpfloat_with_epsilon (out[i], want, 1e-6 * MAX (1.0, fabs (want)));
    }
}

static void
test_embedding_gathers_dequantized_rows (void)
{
  enum
  {
    C = 64,
    V = 20
  };
  static const TailorType types[] = { TAILOR_TYPE_F32, TAILOR_TYPE_Q8_0, TAILOR_TYPE_Q4_0 };
  float values[V * C];
  gint32 tokens[] = { 3, 0, 19, 3 };
  float out[G_N_ELEMENTS (tokens) * C];
  guint k, t;

  fill_normal (values, V * C, 1.0f, 120);
  for (k = 0; k < G_N_ELEMENTS (types); k++)
    {
      g_autoptr (MemTensor) e = mem_tensor_new (types[k], C, V, values);
      g_autofree float *full = dequantize_all (&e->t);

      tailor_ref_embedding_forward (out, &e->t, tokens, G_N_ELEMENTS (tokens), C);
      for (t = 0; t < G_N_ELEMENTS (tokens); t++)
        g_assert_cmpmem (out + t * C, C * sizeof (float), full + tokens[t] * C, C * sizeof (float));
      if (types[k] == TAILOR_TYPE_F32)
        g_assert_cmpmem (out, C * sizeof (float), values + 3 * C, C * sizeof (float));
    }
}

/* ---- the forward pass ---- */

typedef struct
{
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("tailor-cpu-ref-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autoptr (GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (f->dir);
  g_free (f->dir);
}

static TailorModel *
make_model (Fixture *f, TailorArch arch, TailorFileType ftype, gboolean tied, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = g_strdup_printf ("%s-%d-%d-%" G_GUINT64_FORMAT ".gguf",
                                           tailor_arch_name (arch), ftype, tied, seed);
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  TailorTestModelParams p;
  TailorModel *m;

  tailor_test_model_params_init (&p, arch);
  p.ftype = ftype;
  p.tied_output = tied;
  p.seed = seed;
  /* Larger than the default 0.02 so that attention and the feed-forward blocks move the
   * logits visibly: a wiring mistake must show. */
  p.weight_std = 0.1f;
  g_assert_true (tailor_test_model_write (&p, path, &error));
  g_assert_no_error (error);
  m = tailor_model_load (path, &error);
  g_assert_no_error (error);
  return m;
}

static void
random_tokens (gint32 *tokens, guint n, guint n_vocab, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  guint i;

  for (i = 0; i < n; i++)
    tokens[i] = g_rand_int_range (rand, 0, (gint32) n_vocab);
}

static float *
eval_all (TailorModel *m, const gint32 *tokens, guint n)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRefContext) ctx = tailor_ref_context_new (m, 0, &error);
  float *logits = g_new (float, (gsize) n * m->hp.n_vocab);

  g_assert_no_error (error);
  g_assert_true (tailor_ref_context_eval (ctx, tokens, n, TRUE, logits, &error));
  g_assert_no_error (error);
  return logits;
}

static float *
vector_of (const TailorGgufTensor *t)
{
  return t != NULL ? dequantize_all (t) : NULL;
}

/* out (T, OC) = inp (T, IC) · W (OC, IC)ᵀ + bias, in double, over the whole matrix. */
static void
naive_linear (float *out,
              const float *inp,
              const TailorGgufTensor *wt,
              const TailorGgufTensor *bt,
              int T,
              int IC,
              int OC)
{
  g_autofree float *w = dequantize_all (wt);
  g_autofree float *b = vector_of (bt);
  int t, o, i;

  for (t = 0; t < T; t++)
    for (o = 0; o < OC; o++)
      {
        double acc = b != NULL ? b[o] : 0.0;

        for (i = 0; i < IC; i++)
          acc += (double) inp[t * IC + i] * w[(gsize) o * IC + i];
        out[t * OC + o] = (float) acc;
      }
}

static void
naive_rmsnorm (float *out, const float *inp, const TailorGgufTensor *wt, int T, int C, float eps)
{
  g_autofree float *w = dequantize_all (wt);
  int t, i;

  for (t = 0; t < T; t++)
    {
      double ms = 0.0;

      for (i = 0; i < C; i++)
        ms += (double) inp[t * C + i] * inp[t * C + i];
      ms = 1.0 / sqrt (ms / C + eps);
      for (i = 0; i < C; i++)
        out[t * C + i] = (float) (inp[t * C + i] * ms * w[i]);
    }
}

/* The whole transformer spelled out from the naive ops above: logits (T, n_vocab). */
static void
naive_forward (TailorModel *m, const gint32 *tokens, int T, float *logits)
{
  const TailorHparams *hp = &m->hp;
  int C = hp->n_embd, hd = hp->head_dim, V = hp->n_vocab;
  g_autofree float *embd = dequantize_all (m->tok_embd);
  g_autofree float *freqs = vector_of (m->rope_freqs);
  g_autofree float *x = g_new (float, T *C);
  g_autofree float *xn = g_new (float, T *C);
  g_autofree int *pos = g_new (int, T);
  guint l;
  int t, i;

  for (t = 0; t < T; t++)
    {
      memcpy (x + t * C, embd + (gsize) tokens[t] * C, C * sizeof (float));
      pos[t] = t;
    }

  for (l = 0; l < hp->n_layer; l++)
    {
      const TailorLayerWeights *w = &m->layers[l];
      int nh = hp->layers[l].n_head, nkv = hp->layers[l].n_head_kv, ff = hp->layers[l].n_ff;
      g_autofree float *q = g_new (float, T *nh *hd);
      g_autofree float *k = g_new (float, T *nkv *hd);
      g_autofree float *v = g_new (float, T *nkv *hd);
      g_autofree float *att = g_new (float, T *nh *hd);
      g_autofree float *o = g_new (float, T *C);
      g_autofree float *g = g_new (float, T *ff);
      g_autofree float *u = g_new (float, T *ff);

      naive_rmsnorm (xn, x, w->attn_norm, T, C, hp->norm_eps);
      naive_linear (q, xn, w->wq, w->bq, T, C, nh * hd);
      naive_linear (k, xn, w->wk, w->bk, T, C, nkv * hd);
      naive_linear (v, xn, w->wv, w->bv, T, C, nkv * hd);
      naive_rope (q, pos, T, nh, hd, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale, freqs,
                  hp->rope_type);
      naive_rope (k, pos, T, nkv, hd, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale, freqs,
                  hp->rope_type);
      naive_attention (att, q, k, v, T, 0, nh, nkv, hd);
      naive_linear (o, att, w->wo, NULL, T, nh * hd, C);
      for (i = 0; i < T * C; i++)
        x[i] += o[i];

      naive_rmsnorm (xn, x, w->ffn_norm, T, C, hp->norm_eps);
      naive_linear (g, xn, w->w_gate, NULL, T, C, ff);
      naive_linear (u, xn, w->w_up, NULL, T, C, ff);
      for (i = 0; i < T * ff; i++)
        g[i] = (float) (g[i] / (1.0 + exp (-(double) g[i])) * u[i]);
      naive_linear (o, g, w->w_down, NULL, T, ff, C);
      for (i = 0; i < T * C; i++)
        x[i] += o[i];
    }
  naive_rmsnorm (xn, x, m->output_norm, T, C, hp->norm_eps);
  naive_linear (logits, xn, m->output, NULL, T, C, V);
}

static void
test_forward_matches_naive_transformer (Fixture *f, gconstpointer data)
{
  static const TailorArch archs[] = { TAILOR_ARCH_LLAMA, TAILOR_ARCH_QWEN2 };
  enum
  {
    T = 12
  };
  guint a;

  for (a = 0; a < G_N_ELEMENTS (archs); a++)
    {
      g_autoptr (TailorModel) m = make_model (f, archs[a], TAILOR_FTYPE_MOSTLY_Q8_0, FALSE, 3);
      gint32 tokens[T];
      g_autofree float *got = NULL;
      g_autofree float *want = g_new (float, T * m->hp.n_vocab);
      double diff, scale;

      random_tokens (tokens, T, m->hp.n_vocab, 4);
      got = eval_all (m, tokens, T);
      naive_forward (m, tokens, T, want);
      diff = max_abs_diff (got, want, T * m->hp.n_vocab);
      scale = max_abs (want, T * m->hp.n_vocab);
      g_test_message ("%s: max |logit| %.3f, max difference %.2e", tailor_arch_name (archs[a]),
                      scale, diff);
      /* fp32 against fp64 arithmetic through 2 layers: ~1e-6 relative; 1e-4 leaves room
       * and still fails on any real mistake (which moves logits by ≥ 1e-2 here). */
      g_assert_cmpfloat (diff, <, 1e-4 * MAX (scale, 1.0));
    }
}

static void
test_kv_cache_token_by_token_equals_batch (Fixture *f, gconstpointer data)
{
  enum
  {
    T = 20
  };
  g_autoptr (TailorModel) m = make_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q4_0, FALSE, 5);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRefContext) ctx = tailor_ref_context_new (m, 64, &error);
  guint V = m->hp.n_vocab;
  gint32 tokens[T];
  g_autofree float *batch = NULL;
  g_autofree float *step = g_new (float, V);
  g_autofree float *last = g_new (float, V);
  guint t;

  g_assert_no_error (error);
  random_tokens (tokens, T, V, 6);
  batch = eval_all (m, tokens, T);

  /* One token at a time through the cache, then a chunk of 7 after 13. */
  for (t = 0; t < T; t++)
    {
      g_assert_true (tailor_ref_context_eval (ctx, tokens + t, 1, FALSE, step, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (tailor_ref_context_get_n_past (ctx), ==, t + 1);
      /* Every op computes each row alone in a fixed order: batching changes nothing. */
      g_assert_cmpmem (step, V * sizeof (float), batch + (gsize) t * V, V * sizeof (float));
    }
  tailor_ref_context_reset (ctx);
  g_assert_cmpuint (tailor_ref_context_get_n_past (ctx), ==, 0);
  g_assert_true (tailor_ref_context_eval (ctx, tokens, 13, FALSE, step, &error));
  g_assert_cmpmem (step, V * sizeof (float), batch + (gsize) 12 * V, V * sizeof (float));
  g_assert_true (tailor_ref_context_eval (ctx, tokens + 13, T - 13, FALSE, last, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (last, V * sizeof (float), batch + (gsize) (T - 1) * V, V * sizeof (float));
}

static void
test_all_logits_last_row_is_last_token_logits (Fixture *f, gconstpointer data)
{
  enum
  {
    T = 9
  };
  g_autoptr (TailorModel) m = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32, FALSE, 8);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRefContext) ctx = tailor_ref_context_new (m, 0, &error);
  guint V = m->hp.n_vocab;
  gint32 tokens[T];
  g_autofree float *all = NULL;
  g_autofree float *last = g_new (float, V);

  random_tokens (tokens, T, V, 9);
  all = eval_all (m, tokens, T);
  g_assert_true (tailor_ref_context_eval (ctx, tokens, T, FALSE, last, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (last, V * sizeof (float), all + (gsize) (T - 1) * V, V * sizeof (float));
  /* And the rows differ from each other: they really are per position. */
  g_assert_cmpfloat (max_abs_diff (all, all + V, V), >, 1e-3);
}

static void
test_long_input_is_split_without_effect (Fixture *f, gconstpointer data)
{
  /* More tokens than one internal batch (256): the split must not show. */
  enum
  {
    T = 300
  };
  g_autoptr (TailorModel) m = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_F16, TRUE, 10);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRefContext) ctx = tailor_ref_context_new (m, T, &error);
  guint V = m->hp.n_vocab;
  gint32 tokens[T];
  g_autofree float *all = g_new (float, (gsize) T *V);
  g_autofree float *tail = g_new (float, (gsize) 50 * V);

  random_tokens (tokens, T, V, 11);
  g_assert_true (tailor_ref_context_eval (ctx, tokens, T, TRUE, all, &error));
  g_assert_no_error (error);
  tailor_ref_context_reset (ctx);
  g_assert_true (tailor_ref_context_eval (ctx, tokens, T - 50, FALSE, tail, &error));
  g_assert_true (tailor_ref_context_eval (ctx, tokens + T - 50, 50, TRUE, tail, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (tail, (gsize) 50 * V * sizeof (float), all + (gsize) (T - 50) * V,
                   (gsize) 50 * V * sizeof (float));
}

/* The same model with output.weight written out as a copy of token_embd. */
static TailorModel *
untie (TailorModel *tied)
{
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (TailorGguf) gguf = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  TailorModel *m;
  guint i;

  for (i = 0; i < tailor_gguf_get_n_kv (tied->gguf); i++)
    tailor_gguf_writer_copy_kv (w, tied->gguf, i);
  for (i = 0; i < tailor_gguf_get_n_tensors (tied->gguf); i++)
    {
      const TailorGgufTensor *t = tailor_gguf_get_tensor (tied->gguf, i);
      g_autoptr (GBytes) data = g_bytes_new_static (t->data, t->n_bytes);

      g_assert_true (
        tailor_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, data, &error));
    }
  {
    const TailorGgufTensor *t = tied->tok_embd;
    g_autoptr (GBytes) data = g_bytes_new_static (t->data, t->n_bytes);

    g_assert_true (
      tailor_gguf_writer_add_tensor (w, "output.weight", t->type, t->n_dims, t->ne, data, &error));
  }
  bytes = tailor_gguf_writer_to_bytes (w);
  gguf = tailor_gguf_new_from_bytes (bytes, "untied.gguf", &error);
  g_assert_no_error (error);
  m = tailor_model_new_from_gguf (gguf, &error);
  g_assert_no_error (error);
  return m;
}

static void
test_tied_output_equals_explicit_copy (Fixture *f, gconstpointer data)
{
  enum
  {
    T = 6
  };
  g_autoptr (TailorModel) tied =
    make_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q8_0, TRUE, 12);
  g_autoptr (TailorModel) copy = untie (tied);
  g_autoptr (TailorModel) untied =
    make_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q8_0, FALSE, 12);
  guint V = tied->hp.n_vocab;
  gint32 tokens[T];
  g_autofree float *a = NULL;
  g_autofree float *b = NULL;
  g_autofree float *c = NULL;

  g_assert_true (tied->hp.tied_output);
  g_assert_false (copy->hp.tied_output);
  random_tokens (tokens, T, V, 13);
  a = eval_all (tied, tokens, T);
  b = eval_all (copy, tokens, T);
  c = eval_all (untied, tokens, T);
  g_assert_cmpmem (a, (gsize) T * V * sizeof (float), b, (gsize) T * V * sizeof (float));
  /* A separate random output matrix gives other logits: the tie is what made a == b. */
  g_assert_cmpfloat (max_abs_diff (a, c, (gsize) T * V), >, 1e-2);
}

static void
test_f32_and_q8_0_models_give_close_logits (Fixture *f, gconstpointer data)
{
  enum
  {
    T = 10
  };
  static const TailorArch archs[] = { TAILOR_ARCH_LLAMA, TAILOR_ARCH_QWEN2 };
  guint a;

  for (a = 0; a < G_N_ELEMENTS (archs); a++)
    {
      /* Same seed: the same real-valued weights, once exact and once in Q8_0 blocks. */
      g_autoptr (TailorModel) m32 = make_model (f, archs[a], TAILOR_FTYPE_ALL_F32, FALSE, 14);
      g_autoptr (TailorModel) m8 = make_model (f, archs[a], TAILOR_FTYPE_MOSTLY_Q8_0, FALSE, 14);
      guint V = m32->hp.n_vocab;
      gint32 tokens[T];
      g_autofree float *l32 = NULL;
      g_autofree float *l8 = NULL;
      double diff, scale;
      guint t;

      g_assert_cmpint (m8->layers[0].wq->type, ==, TAILOR_TYPE_Q8_0);
      random_tokens (tokens, T, V, 15);
      l32 = eval_all (m32, tokens, T);
      l8 = eval_all (m8, tokens, T);
      diff = max_abs_diff (l32, l8, (gsize) T * V);
      scale = max_abs (l32, (gsize) T * V);
      g_test_message ("%s F32 vs Q8_0: max |logit| %.3f, max difference %.2e",
                      tailor_arch_name (archs[a]), scale, diff);
      /* Q8_0 rounds each weight to a step of 1/127 of its block's largest value (≈0.6%
       * rms of a weight here); summed through the embedding, two layers and the output
       * matrix that gives 2–2.5% of the largest logit on these seeds. 5% is the bound: a
       * wrong block decode moves logits by tens of percent. */
      g_assert_cmpfloat (diff, <, 0.05 * scale);
      g_assert_cmpfloat (diff, >, 0.0);
      for (t = 0; t < T; t++)
        {
          const float *r32 = l32 + (gsize) t * V;
          const float *r8 = l8 + (gsize) t * V;
          gint32 best = argmax (r32, V);

          /* The F32 winner is still (close to) the winner under Q8_0. */
          g_assert_cmpfloat (r8[argmax (r8, V)] - r8[best], <, 2 * diff);
        }
    }
}

static void
test_threads_give_identical_logits (Fixture *f, gconstpointer data)
{
  enum
  {
    T = 16
  };
  g_autoptr (TailorModel) m =
    make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q4_K_M, FALSE, 16);
  guint V = m->hp.n_vocab;
  guint saved = tailor_parallel_get_n_threads ();
  gint32 tokens[T];
  g_autofree float *one = NULL;
  g_autofree float *many = NULL;

  random_tokens (tokens, T, V, 17);
  tailor_parallel_set_n_threads (1);
  one = eval_all (m, tokens, T);
  tailor_parallel_set_n_threads (5);
  many = eval_all (m, tokens, T);
  tailor_parallel_set_n_threads (saved);
  /* Threads split rows and (position, head) pairs, never a sum: bit-identical. */
  g_assert_cmpmem (one, (gsize) T * V * sizeof (float), many, (gsize) T * V * sizeof (float));
}

static void
test_eval_rejects_full_context_and_bad_tokens (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorModel) m = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32, FALSE, 18);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRefContext) ctx = tailor_ref_context_new (m, 8, &error);
  g_autofree float *logits = g_new (float, (gsize) 8 * m->hp.n_vocab);
  gint32 tokens[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
  gint32 bad[2] = { 1, (gint32) m->hp.n_vocab };

  g_assert_no_error (error);
  g_assert_false (tailor_ref_context_eval (ctx, tokens, 9, FALSE, logits, &error));
  g_assert_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_CONTEXT_FULL);
  g_assert_nonnull (strstr (error->message, "8"));
  g_clear_error (&error);

  g_assert_false (tailor_ref_context_eval (ctx, bad, 2, FALSE, logits, &error));
  g_assert_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_INVALID_TOKEN);
  g_clear_error (&error);
  g_assert_cmpuint (tailor_ref_context_get_n_past (ctx), ==, 0);

  g_assert_true (tailor_ref_context_eval (ctx, tokens, 6, FALSE, logits, &error));
  g_assert_false (tailor_ref_context_eval (ctx, tokens, 3, FALSE, logits, &error));
  g_assert_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_CONTEXT_FULL);
  g_clear_error (&error);
  g_assert_cmpuint (tailor_ref_context_get_n_past (ctx), ==, 6);
  g_assert_true (tailor_ref_context_eval (ctx, tokens, 2, TRUE, logits, &error));
  g_assert_no_error (error);
}

static void
count_range (gint64 begin, gint64 end, gpointer user_data)
{
  gint *hits = user_data;
  gint64 i;

  for (i = begin; i < end; i++)
    g_atomic_int_inc (&hits[i]);
}

static void
nested_range (gint64 begin, gint64 end, gpointer user_data)
{
  gint *hits = user_data;
  gint64 i;

  for (i = begin; i < end; i++)
    tailor_parallel_for (10, 1, count_range, hits + 1000 + i * 10);
}

static void
test_parallel_for_covers_each_index_once (void)
{
  g_autofree gint *hits = g_new0 (gint, 1000 + 100 * 10);
  guint saved = tailor_parallel_get_n_threads ();
  gint i;

  tailor_parallel_set_n_threads (4);
  tailor_parallel_for (1000, 1, count_range, hits);
  tailor_parallel_for (100, 1, nested_range, hits);
  tailor_parallel_set_n_threads (saved);
  for (i = 0; i < 1000 + 100 * 10; i++)
    g_assert_cmpint (hits[i], ==, 1);
}

static void
noop_range (gint64 begin, gint64 end, gpointer user_data)
{
}

static void
test_parallel_for_overhead_is_small (void)
{
  guint saved = tailor_parallel_get_n_threads ();
  gint64 start;
  double per_call_us;
  int i;

  tailor_parallel_set_n_threads (4);
  tailor_parallel_for (64, 1, noop_range, NULL);
  start = g_get_monotonic_time ();
  for (i = 0; i < 2000; i++)
    tailor_parallel_for (64, 1, noop_range, NULL);
  per_call_us = (g_get_monotonic_time () - start) / 2000.0;
  tailor_parallel_set_n_threads (saved);
  g_test_message ("tailor_parallel_for with 4 threads: %.1f µs per call", per_call_us);
  /* A wake-up and a join through one condition variable each: tens of µs even on a busy
   * 2-core machine; a millisecond would mean sleeping or spawning per call. */
  g_assert_cmpfloat (per_call_us, <, 1000.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/cpu-ref/rmsnorm-matches-naive", test_rmsnorm_matches_naive);
  g_test_add_func ("/cpu-ref/matmul-matches-dequantize-then-multiply",
                   test_matmul_matches_dequantize_then_multiply);
  g_test_add_func ("/cpu-ref/matmul-threads-give-identical-results",
                   test_matmul_threads_give_identical_results);
  g_test_add_func ("/cpu-ref/rope-matches-pairwise-rotation", test_rope_matches_pairwise_rotation);
  g_test_add_func ("/cpu-ref/rope-layouts-pair-the-right-dimensions",
                   test_rope_layouts_pair_the_right_dimensions);
  g_test_add_func ("/cpu-ref/rope-scores-depend-on-relative-position",
                   test_rope_scores_depend_on_relative_position);
  g_test_add_func ("/cpu-ref/attention-matches-materialised-softmax",
                   test_attention_matches_materialised_softmax);
  g_test_add_func ("/cpu-ref/attention-maps-query-heads-to-kv-groups",
                   test_attention_maps_query_heads_to_kv_groups);
  g_test_add_func ("/cpu-ref/attention-is-causal", test_attention_is_causal);
  g_test_add_func ("/cpu-ref/swiglu-matches-naive", test_swiglu_matches_naive);
  g_test_add_func ("/cpu-ref/embedding-gathers-dequantized-rows",
                   test_embedding_gathers_dequantized_rows);
  g_test_add ("/cpu-ref/forward-matches-naive-transformer", Fixture, NULL, fixture_setup,
              test_forward_matches_naive_transformer, fixture_teardown);
  g_test_add ("/cpu-ref/kv-cache-token-by-token-equals-batch", Fixture, NULL, fixture_setup,
              test_kv_cache_token_by_token_equals_batch, fixture_teardown);
  g_test_add ("/cpu-ref/all-logits-last-row-is-last-token-logits", Fixture, NULL, fixture_setup,
              test_all_logits_last_row_is_last_token_logits, fixture_teardown);
  g_test_add ("/cpu-ref/long-input-is-split-without-effect", Fixture, NULL, fixture_setup,
              test_long_input_is_split_without_effect, fixture_teardown);
  g_test_add ("/cpu-ref/tied-output-equals-explicit-copy", Fixture, NULL, fixture_setup,
              test_tied_output_equals_explicit_copy, fixture_teardown);
  g_test_add ("/cpu-ref/f32-and-q8_0-models-give-close-logits", Fixture, NULL, fixture_setup,
              test_f32_and_q8_0_models_give_close_logits, fixture_teardown);
  g_test_add ("/cpu-ref/threads-give-identical-logits", Fixture, NULL, fixture_setup,
              test_threads_give_identical_logits, fixture_teardown);
  g_test_add ("/cpu-ref/eval-rejects-full-context-and-bad-tokens", Fixture, NULL, fixture_setup,
              test_eval_rejects_full_context_and_bad_tokens, fixture_teardown);
  g_test_add_func ("/parallel/for-covers-each-index-once-nested-too",
                   test_parallel_for_covers_each_index_once);
  g_test_add_func ("/parallel/for-overhead-is-small", test_parallel_for_overhead_is_small);

  return g_test_run ();
}
