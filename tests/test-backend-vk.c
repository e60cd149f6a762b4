/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Vulkan backend through the op interface: every op against its CPU reference on random
 * inputs, under the validation layer with no message allowed. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-backend-private.h"
#include "tailor-cpu-ref.h"
#include "tailor-quant.h"
#include "tailor-test-model.h"
#include "tailor-train-ref.h"
#include "tailor-vk-device.h"
#include "tailor-vk-kernels.h"

/* One backend for the whole program: instance, device and pipelines are made once. */
static TailorBackend *backend;
static GRand *rng;

static gboolean
need_backend (void)
{
  if (backend == NULL)
    {
      g_test_skip ("no Vulkan device");
      return FALSE;
    }
  return TRUE;
}

static void
assert_no_validation_messages (void)
{
  TailorVkContext *ctx = tailor_backend_vk_get_context (backend);
  g_auto (GStrv) messages = tailor_vk_context_get_messages (ctx);

  g_assert_true (tailor_vk_context_get_validation (ctx));
  for (guint i = 0; messages[i] != NULL; i++)
    g_test_message ("validation: %s", messages[i]);
  g_assert_cmpuint (g_strv_length (messages), ==, 0);
}

static float *
random_floats (gsize n, double lo, double hi)
{
  float *v = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rng, lo, hi);
  return v;
}

/* A tensor of type with the given dims, holding data (n_bytes of it) when data is non-NULL. */
static TailorTensor
tensor (TailorType type, guint n_dims, const gint64 *ne, const void *data)
{
  g_autoptr (GError) error = NULL;
  TailorTensor t;

  tailor_tensor_alloc (backend, type, n_dims, ne, &t, &error);
  g_assert_no_error (error);
  if (data != NULL)
    {
      tailor_tensor_upload (&t, data, &error);
      g_assert_no_error (error);
    }
  return t;
}

static TailorTensor
tensor_f32 (gint64 ne0, gint64 ne1, const float *data)
{
  gint64 ne[2] = { ne0, ne1 };

  return tensor (TAILOR_TYPE_F32, 2, ne, data);
}

static TailorTensor
tensor_i32 (gint64 n, const gint32 *data)
{
  return tensor (TAILOR_TYPE_I32, 1, &n, data);
}

static float *
download (const TailorTensor *t)
{
  g_autoptr (GError) error = NULL;
  float *v = g_malloc (tailor_tensor_n_bytes (t));

  tailor_tensor_download (t, v, &error);
  g_assert_no_error (error);
  return v;
}

static void
free_tensor (TailorTensor *t)
{
  g_clear_pointer (&t->buf, tailor_buf_free);
}

static void
submit (TailorGraph *g)
{
  g_autoptr (GError) error = NULL;

  tailor_graph_submit (g, &error);
  g_assert_no_error (error);
}

/* |got − want| ≤ atol + rtol·|want| everywhere; the worst element is reported. */
static void
assert_close (
  const char *what, const float *got, const float *want, gsize n, double atol, double rtol)
{
  double worst = 0.0;
  gsize at = 0;

  for (gsize i = 0; i < n; i++)
    {
      double excess = fabs ((double) got[i] - want[i]) - (atol + rtol * fabs (want[i]));

      if (!(excess <= worst) || isnan (got[i]))
        {
          worst = isnan (got[i]) ? INFINITY : excess;
          at = i;
        }
    }
  if (worst > 0.0)
    g_error ("%s: element %" G_GSIZE_FORMAT " is %.9g, the reference %.9g", what, at, got[at],
             want[at]);
}

/* ---- Element-wise ops ---- */

/* T × C elements: a multiple of 4 takes the kernels' four-at-a-time path, others one at a
 * time. */
static void
check_zero_add_swiglu (int T, int C)
{
  g_autofree float *a = NULL, *b = NULL, *dout = NULL, *dg0 = NULL, *du0 = NULL;
  g_autofree float *want = g_new (float, (gsize) T * C), *dg = NULL, *du = NULL;
  g_autofree float *got_add = NULL, *got_sw = NULL, *got_zero = NULL, *got_dg = NULL;
  g_autofree float *got_du = NULL;
  g_autoptr (TailorGraph) g = NULL;
  TailorTensor ta, tb, tsum, tsw, tdout, tdg, tdu, tz;

  a = random_floats (T * C, -4, 4);
  b = random_floats (T * C, -2, 2);
  dout = random_floats (T * C, -1, 1);
  dg0 = random_floats (T * C, -1, 1);
  du0 = random_floats (T * C, -1, 1);
  ta = tensor_f32 (C, T, a);
  tb = tensor_f32 (C, T, b);
  tsum = tensor_f32 (C, T, NULL);
  tsw = tensor_f32 (C, T, NULL);
  tdout = tensor_f32 (C, T, dout);
  tdg = tensor_f32 (C, T, dg0);
  tdu = tensor_f32 (C, T, du0);
  tz = tensor_f32 (C, T, a);

  g = tailor_graph_new (backend);
  tailor_op_add (g, &tsum, &ta, &tb);
  tailor_op_swiglu (g, &tsw, &ta, &tb);
  tailor_op_swiglu_backward (g, &tdg, &tdu, &tdout, &ta, &tb);
  tailor_op_zero (g, &tz);
  submit (g);

  got_add = download (&tsum);
  tailor_ref_residual_forward (want, a, b, T, C);
  assert_close ("add", got_add, want, T * C, 0, 0);
  got_sw = download (&tsw);
  tailor_ref_swiglu_forward (want, a, b, T, C);
  assert_close ("swiglu", got_sw, want, T * C, 1e-6, 1e-5);
  dg = g_memdup2 (dg0, sizeof (float) * T * C);
  du = g_memdup2 (du0, sizeof (float) * T * C);
  tailor_ref_swiglu_backward (dg, du, dout, a, b, T, C);
  got_dg = download (&tdg);
  got_du = download (&tdu);
  assert_close ("swiglu dgate", got_dg, dg, T * C, 1e-6, 1e-5);
  assert_close ("swiglu dup", got_du, du, T * C, 1e-6, 1e-5);
  got_zero = download (&tz);
  for (guint i = 0; i < T * C; i++)
    g_assert_cmpfloat (got_zero[i], ==, 0.0f);
  assert_no_validation_messages ();
  free_tensor (&ta), free_tensor (&tb), free_tensor (&tsum), free_tensor (&tsw);
  free_tensor (&tdout), free_tensor (&tdg), free_tensor (&tdu), free_tensor (&tz);
}

static void
test_zero_add_swiglu_match_cpu (void)
{
  if (!need_backend ())
    return;
  check_zero_add_swiglu (7, 37);
  check_zero_add_swiglu (7, 36);
}

/* ---- Embedding ---- */

static void
test_embedding_matches_cpu_for_each_type (void)
{
  static const TailorType types[] = {
    TAILOR_TYPE_F32,  TAILOR_TYPE_F16,  TAILOR_TYPE_BF16, TAILOR_TYPE_Q4_0,
    TAILOR_TYPE_Q4_1, TAILOR_TYPE_Q5_0, TAILOR_TYPE_Q5_1, TAILOR_TYPE_Q8_0,
    TAILOR_TYPE_Q4_K, TAILOR_TYPE_Q5_K, TAILOR_TYPE_Q6_K,
  };
  enum
  {
    C = 512,
    V = 9,
    T = 6
  };
  static const gint32 tokens[T] = { 3, 0, 8, 3, 5, 1 };
  g_autofree float *table = NULL;

  if (!need_backend ())
    return;
  table = random_floats (C * V, -1, 1);
  for (guint k = 0; k < G_N_ELEMENTS (types); k++)
    {
      TailorType type = types[k];
      gsize row_bytes = tailor_type_row_size (type, C);
      g_autofree guint8 *raw = g_malloc (row_bytes * V);
      g_autofree float *want = g_new (float, T *C);
      g_autofree float *got = NULL;
      gint64 ne[2] = { C, V };
      TailorGgufTensor ref = { "embd", 2, { C, V, 1, 1 }, type, 0, C * V, row_bytes * V, raw };
      g_autoptr (TailorGraph) g = tailor_graph_new (backend);
      TailorTensor tw, ttok, tout;

      for (guint v = 0; v < V; v++)
        tailor_quantize_row (type, table + v * C, raw + v * row_bytes, C);
      tw = tensor (type, 2, ne, raw);
      ttok = tensor_i32 (T, tokens);
      tout = tensor_f32 (C, T, NULL);
      tailor_op_embedding (g, &tout, &tw, &ttok);
      submit (g);
      got = download (&tout);
      tailor_ref_embedding_forward (want, &ref, tokens, T, C);
      /* Dequantization is the same arithmetic on both sides: only a contracted multiply-add
       * may differ, by an ulp. */
      assert_close (tailor_type_name (type), got, want, T * C, 1e-7, 1e-6);
      free_tensor (&tw), free_tensor (&ttok), free_tensor (&tout);
    }
  assert_no_validation_messages ();
}

static void
test_embedding_backward_scatters_in_order (void)
{
  enum
  {
    C = 24,
    V = 7,
    T = 10
  };
  static const gint32 tokens[T] = { 2, 5, 2, 0, 6, 2, 5, 1, 1, 2 };
  g_autofree float *dout = NULL, *d0 = NULL, *want = NULL, *got = NULL;
  g_autoptr (TailorGraph) g = NULL;
  TailorTensor td, tdout, ttok;

  if (!need_backend ())
    return;
  dout = random_floats (T * C, -1, 1);
  d0 = random_floats (V * C, -1, 1);
  want = g_memdup2 (d0, sizeof (float) * V * C);
  td = tensor_f32 (C, V, d0);
  tdout = tensor_f32 (C, T, dout);
  ttok = tensor_i32 (T, tokens);
  g = tailor_graph_new (backend);
  tailor_op_embedding_backward (g, &td, &tdout, &ttok);
  submit (g);
  got = download (&td);
  tailor_ref_embedding_backward (want, dout, tokens, T, C);
  /* Same additions in the same order: bit-identical. */
  assert_close ("embedding backward", got, want, V * C, 0, 0);
  assert_no_validation_messages ();
  free_tensor (&td), free_tensor (&tdout), free_tensor (&ttok);
}

/* ---- RMSNorm ---- */

static void
test_rmsnorm_forward_backward_match_cpu (void)
{
  enum
  {
    T = 5,
    C = 70
  };
  const float eps = 1e-5f;
  g_autofree float *x = NULL, *w = NULL, *dout = NULL, *dx0 = NULL, *dw0 = NULL;
  g_autofree float *want = g_new (float, T *C), *want_dx = NULL, *want_dw = NULL;
  g_autofree float *got = NULL, *got_rstd = NULL, *got_dx = NULL, *got_dw = NULL;
  g_autoptr (TailorGraph) g = NULL;
  TailorTensor tx, tw, tout, trstd, tdout, tdx, tdw;
  gint64 nT = T;

  if (!need_backend ())
    return;
  x = random_floats (T * C, -2, 2);
  w = random_floats (C, 0.5, 1.5);
  dout = random_floats (T * C, -1, 1);
  dx0 = random_floats (T * C, -1, 1);
  dw0 = random_floats (C, -1, 1);
  tx = tensor_f32 (C, T, x);
  tw = tensor_f32 (C, 1, w);
  tout = tensor_f32 (C, T, NULL);
  trstd = tensor (TAILOR_TYPE_F32, 1, &nT, NULL);
  tdout = tensor_f32 (C, T, dout);
  tdx = tensor_f32 (C, T, dx0);
  tdw = tensor_f32 (C, 1, dw0);
  g = tailor_graph_new (backend);
  tailor_op_rmsnorm (g, &tout, &trstd, &tx, &tw, eps);
  tailor_op_rmsnorm_backward (g, &tdx, &tdw, &tdout, &tx, &tw, eps);
  submit (g);

  tailor_ref_rmsnorm_forward (want, x, w, T, C, eps);
  got = download (&tout);
  assert_close ("rmsnorm", got, want, T * C, 1e-6, 1e-5);
  got_rstd = download (&trstd);
  for (guint t = 0; t < T; t++)
    {
      double ss = 0;

      for (guint i = 0; i < C; i++)
        ss += (double) x[t * C + i] * x[t * C + i];
      g_assert_cmpfloat_with_epsilon (got_rstd[t], 1.0 / sqrt (ss / C + eps), 1e-5);
    }
  want_dx = g_memdup2 (dx0, sizeof (float) * T * C);
  want_dw = g_memdup2 (dw0, sizeof (float) * C);
  tailor_ref_rmsnorm_backward (want_dx, want_dw, dout, x, w, T, C, eps);
  got_dx = download (&tdx);
  got_dw = download (&tdw);
  assert_close ("rmsnorm dinp", got_dx, want_dx, T * C, 1e-5, 1e-4);
  assert_close ("rmsnorm dweight", got_dw, want_dw, C, 1e-5, 1e-4);
  assert_no_validation_messages ();
  free_tensor (&tx), free_tensor (&tw), free_tensor (&tout), free_tensor (&trstd);
  free_tensor (&tdout), free_tensor (&tdx), free_tensor (&tdw);
}

/* ---- RoPE ---- */

static void
test_rope_normal_and_neox_match_cpu (void)
{
  enum
  {
    T = 6,
    H = 3,
    HD = 16,
    ROT = 12
  };
  static const gint32 pos[T] = { 0, 1, 7, 19, 33, 50 };
  g_autofree float *x = NULL, *factors = NULL;

  if (!need_backend ())
    return;
  x = random_floats (T * H * HD, -1, 1);
  factors = random_floats (ROT / 2, 1, 4);
  for (guint variant = 0; variant < 4; variant++)
    {
      TailorRopeType type = variant % 2 == 0 ? TAILOR_ROPE_NORMAL : TAILOR_ROPE_NEOX;
      gboolean with_factors = variant >= 2;
      g_autofree float *want = g_memdup2 (x, sizeof (float) * T * H * HD);
      g_autofree float *got = NULL, *back = NULL;
      g_autoptr (TailorGraph) g = tailor_graph_new (backend);
      g_autoptr (TailorGraph) inv = tailor_graph_new (backend);
      gint64 ne[3] = { HD, H, T };
      gint64 nf = ROT / 2;
      TailorTensor tx = tensor (TAILOR_TYPE_F32, 3, ne, x);
      TailorTensor tp = tensor_i32 (T, pos);
      TailorTensor tf = tensor (TAILOR_TYPE_F32, 1, &nf, factors);

      tailor_op_rope (g, &tx, &tp, H, HD, ROT, 10000.0f, 0.5f, with_factors ? &tf : NULL, type,
                      FALSE);
      submit (g);
      got = download (&tx);
      tailor_ref_rope_forward (want, pos, T, H, HD, ROT, 10000.0f, 0.5f,
                               with_factors ? factors : NULL, type);
      /* fp32 angles and the shader's sin/cos against double angles: 1e-5 of a turn here */
      assert_close ("rope", got, want, T * H * HD, 2e-5, 1e-4);
      tailor_op_rope (inv, &tx, &tp, H, HD, ROT, 10000.0f, 0.5f, with_factors ? &tf : NULL, type,
                      TRUE);
      submit (inv);
      back = download (&tx);
      assert_close ("rope inverse", back, x, T * H * HD, 2e-5, 1e-4);
      free_tensor (&tx), free_tensor (&tp), free_tensor (&tf);
    }
  assert_no_validation_messages ();
}

/* ---- Attention ---- */

static void
check_attention (guint T, guint H, guint HKV, guint HD)
{
  g_autofree float *q = NULL, *k = NULL, *v = NULL, *dout = NULL;
  g_autofree float *dq0 = NULL, *dk0 = NULL, *dv0 = NULL;
  g_autofree float *want = g_new (float, T *H *HD), *got = NULL, *got_lse = NULL;
  g_autofree float *wdq = NULL, *wdk = NULL, *wdv = NULL, *gdq = NULL, *gdk = NULL, *gdv = NULL;
  g_autofree double *s = g_new (double, T);
  g_autoptr (TailorGraph) g = NULL;
  gint64 nq[3] = { HD, H, T }, nkv[3] = { HD, HKV, T }, nl[2] = { T, H };
  TailorTensor tq, tk, tv, tout, tlse, tdout, tdq, tdk, tdv;
  float scale = 1.0f / sqrtf (HD);

  q = random_floats (T * H * HD, -1.5, 1.5);
  k = random_floats (T * HKV * HD, -1.5, 1.5);
  v = random_floats (T * HKV * HD, -1, 1);
  dout = random_floats (T * H * HD, -1, 1);
  dq0 = random_floats (T * H * HD, -1, 1);
  dk0 = random_floats (T * HKV * HD, -1, 1);
  dv0 = random_floats (T * HKV * HD, -1, 1);
  tq = tensor (TAILOR_TYPE_F32, 3, nq, q);
  tk = tensor (TAILOR_TYPE_F32, 3, nkv, k);
  tv = tensor (TAILOR_TYPE_F32, 3, nkv, v);
  tout = tensor (TAILOR_TYPE_F32, 3, nq, NULL);
  tlse = tensor (TAILOR_TYPE_F32, 2, nl, NULL);
  tdout = tensor (TAILOR_TYPE_F32, 3, nq, dout);
  tdq = tensor (TAILOR_TYPE_F32, 3, nq, dq0);
  tdk = tensor (TAILOR_TYPE_F32, 3, nkv, dk0);
  tdv = tensor (TAILOR_TYPE_F32, 3, nkv, dv0);
  g = tailor_graph_new (backend);
  tailor_op_attention (g, &tout, &tlse, &tq, &tk, &tv, H, HKV, HD);
  tailor_op_attention_backward (g, &tdq, &tdk, &tdv, &tdout, &tout, &tlse, &tq, &tk, &tv, H, HKV,
                                HD);
  submit (g);

  tailor_ref_attention_forward (want, q, k, v, T, 0, H, HKV, HD);
  got = download (&tout);
  assert_close ("attention", got, want, T * H * HD, 1e-5, 1e-4);
  got_lse = download (&tlse);
  for (guint t = 0; t < T; t++)
    for (guint h = 0; h < H; h++)
      {
        double m = -INFINITY, sum = 0;

        for (guint j = 0; j <= t; j++)
          {
            s[j] = 0;
            for (guint d = 0; d < HD; d++)
              s[j] += (double) q[(t * H + h) * HD + d] * k[(j * HKV + h / (H / HKV)) * HD + d];
            s[j] *= scale;
            m = MAX (m, s[j]);
          }
        for (guint j = 0; j <= t; j++)
          sum += exp (s[j] - m);
        g_assert_cmpfloat_with_epsilon (got_lse[h * T + t], m + log (sum), 1e-4);
      }
  wdq = g_memdup2 (dq0, sizeof (float) * T * H * HD);
  wdk = g_memdup2 (dk0, sizeof (float) * T * HKV * HD);
  wdv = g_memdup2 (dv0, sizeof (float) * T * HKV * HD);
  tailor_ref_attention_backward (wdq, wdk, wdv, dout, q, k, v, T, H, HKV, HD);
  gdq = download (&tdq);
  gdk = download (&tdk);
  gdv = download (&tdv);
  assert_close ("attention dq", gdq, wdq, T * H * HD, 1e-5, 1e-4);
  assert_close ("attention dk", gdk, wdk, T * HKV * HD, 1e-5, 1e-4);
  assert_close ("attention dv", gdv, wdv, T * HKV * HD, 1e-5, 1e-4);
  assert_no_validation_messages ();
  free_tensor (&tq), free_tensor (&tk), free_tensor (&tv), free_tensor (&tout);
  free_tensor (&tlse), free_tensor (&tdout), free_tensor (&tdq), free_tensor (&tdk);
  free_tensor (&tdv);
}

/* The device's own rows per invocation (several on CPU devices), one (GPUs'), and three
 * (ragged against every T below): short and long sequences (several key tiles), grouped and
 * plain heads, head sizes of real models. */
static void
test_attention_forward_backward_match_cpu (void)
{
  static const char *blocks[] = { NULL, "1", "3" };

  if (!need_backend ())
    return;
  for (guint b = 0; b < G_N_ELEMENTS (blocks); b++)
    {
      if (blocks[b] != NULL)
        g_setenv ("TAILOR_VK_ATTENTION_BLOCK", blocks[b], TRUE);
      else
        g_setenv ("TAILOR_VK_ATTENTION_BLOCK", "", TRUE);
      check_attention (13, 4, 2, 16);
      check_attention (70, 6, 2, 48);
      check_attention (37, 3, 3, 64);
    }
  g_setenv ("TAILOR_VK_ATTENTION_BLOCK", "", TRUE);
}

/* A prompt of 11 queries, then single queries resubmitting one graph at new positions: each
 * step matches the CPU reference over the cache so far, and the caches hold exactly what was
 * stored (the keys of the step come from k and v, earlier ones from the cache). */
static void
test_attention_cached_matches_cpu_step_by_step (void)
{
  enum
  {
    N_CTX = 24,
    P = 11,
    N = 17,
    H = 4,
    HKV = 2,
    HD = 16
  };
  g_autofree float *q = NULL, *k = NULL, *v = NULL, *got = NULL, *got_k = NULL, *got_v = NULL;
  g_autofree float *want = g_new (float, N *H *HD);
  g_autoptr (TailorGraph) g_prompt = NULL;
  g_autoptr (TailorGraph) g_step = NULL;
  gint32 pos[P];
  TailorTensor tq, tk, tv, tout, tkc, tvc, tpos, sq, sk, sv, sout, spos;

  if (!need_backend ())
    return;
  q = random_floats (N * H * HD, -1.5, 1.5);
  k = random_floats (N * HKV * HD, -1.5, 1.5);
  v = random_floats (N * HKV * HD, -1, 1);
  for (int t = 0; t < P; t++)
    pos[t] = t;
  tq = tensor_f32 (H * HD, P, q);
  tk = tensor_f32 (HKV * HD, P, k);
  tv = tensor_f32 (HKV * HD, P, v);
  tout = tensor_f32 (H * HD, P, NULL);
  tkc = tensor_f32 (HKV * HD, N_CTX, NULL);
  tvc = tensor_f32 (HKV * HD, N_CTX, NULL);
  tpos = tensor_i32 (P, pos);
  sq = tensor_f32 (H * HD, 1, NULL);
  sk = tensor_f32 (HKV * HD, 1, NULL);
  sv = tensor_f32 (HKV * HD, 1, NULL);
  sout = tensor_f32 (H * HD, 1, NULL);
  spos = tensor_i32 (1, NULL);
  g_prompt = tailor_graph_new (backend);
  tailor_op_attention_cached (g_prompt, &tout, &tq, &tk, &tv, &tkc, &tvc, &tpos, H, HKV, HD);
  g_step = tailor_graph_new (backend);
  tailor_op_attention_cached (g_step, &sout, &sq, &sk, &sv, &tkc, &tvc, &spos, H, HKV, HD);
  submit (g_prompt);
  got = download (&tout);
  tailor_ref_attention_forward (want, q, k, v, P, 0, H, HKV, HD);
  assert_close ("cached attention, prompt", got, want, P * H * HD, 1e-5, 1e-4);
  for (gint32 t = P; t < N; t++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree float *step = NULL;

      tailor_tensor_upload (&sq, q + t * H * HD, &error);
      g_assert_no_error (error);
      tailor_tensor_upload (&sk, k + t * HKV * HD, &error);
      g_assert_no_error (error);
      tailor_tensor_upload (&sv, v + t * HKV * HD, &error);
      g_assert_no_error (error);
      tailor_tensor_upload (&spos, &t, &error);
      g_assert_no_error (error);
      submit (g_step);
      step = download (&sout);
      tailor_ref_attention_forward (want, q + t * H * HD, k, v, 1, t, H, HKV, HD);
      assert_close ("cached attention, decoding", step, want, H * HD, 1e-5, 1e-4);
    }
  got_k = download (&tkc);
  got_v = download (&tvc);
  g_assert_cmpmem (got_k, sizeof (float) * N * HKV * HD, k, sizeof (float) * N * HKV * HD);
  g_assert_cmpmem (got_v, sizeof (float) * N * HKV * HD, v, sizeof (float) * N * HKV * HD);
  assert_no_validation_messages ();
  free_tensor (&tq), free_tensor (&tk), free_tensor (&tv), free_tensor (&tout);
  free_tensor (&tkc), free_tensor (&tvc), free_tensor (&tpos), free_tensor (&sq);
  free_tensor (&sk), free_tensor (&sv), free_tensor (&sout), free_tensor (&spos);
}

/* ---- Matmul: the general kernel with dequantized weights, split-K and the quantized kernels ----
 */

static void
matmul_case (guint T, guint IC, guint OC)
{
  g_autofree float *x = NULL, *w = NULL, *bias = NULL, *dout = NULL, *dx0 = NULL, *dw0 = NULL;
  g_autofree float *db0 = NULL;
  /* fp32 sums of IC or T products in another order */
  double tol = 1e-6 * MAX (IC, T);

  x = random_floats (T * IC, -1, 1);
  w = random_floats (IC * OC, -1, 1);
  bias = random_floats (OC, -1, 1);
  dout = random_floats (T * OC, -1, 1);
  dx0 = random_floats (T * IC, -1, 1);
  dw0 = random_floats (IC * OC, -1, 1);
  db0 = random_floats (OC, -1, 1);
  for (guint k = 0; k < 2; k++)
    {
      TailorType type = k == 0 ? TAILOR_TYPE_F32 : TAILOR_TYPE_Q8_0;
      gsize row_bytes = tailor_type_row_size (type, IC);
      g_autofree guint8 *raw = g_malloc (row_bytes * OC);
      TailorGgufTensor ref = { "w", 2, { IC, OC, 1, 1 }, type, 0, IC * OC, row_bytes * OC, raw };
      g_autofree float *want = g_new (float, T *OC), *got = NULL;
      g_autofree float *wdx = g_memdup2 (dx0, sizeof (float) * T * IC), *gdx = NULL;
      g_autofree float *wdw = g_memdup2 (dw0, sizeof (float) * IC * OC), *gdw = NULL;
      g_autofree float *wdb = g_memdup2 (db0, sizeof (float) * OC), *gdb = NULL;
      g_autoptr (TailorGraph) g = tailor_graph_new (backend);
      gint64 ne[2] = { IC, OC };
      TailorTensor tx, tw, tb, ty, tdout, tdx, tdw, tdb;

      for (guint o = 0; o < OC; o++)
        tailor_quantize_row (type, w + o * IC, raw + o * row_bytes, IC);
      tx = tensor_f32 (IC, T, x);
      tw = tensor (type, 2, ne, raw);
      tb = tensor_f32 (OC, 1, bias);
      ty = tensor_f32 (OC, T, NULL);
      tdout = tensor_f32 (OC, T, dout);
      tdx = tensor_f32 (IC, T, dx0);
      tdw = tensor_f32 (IC, OC, dw0);
      tdb = tensor_f32 (OC, 1, db0);
      tailor_op_matmul (g, &ty, &tx, &tw, &tb);
      tailor_op_matmul_backward_input (g, &tdx, &tdout, &tw);
      tailor_op_matmul_backward_weight (g, &tdw, &tdb, &tdout, &tx);
      submit (g);
      tailor_ref_matmul_forward (want, x, &ref, bias, T, IC, OC);
      got = download (&ty);
      assert_close ("matmul", got, want, T * OC, tol, tol);
      tailor_ref_matmul_backward (wdx, wdw, wdb, dout, x, &ref, T, IC, OC);
      gdx = download (&tdx);
      gdw = download (&tdw);
      gdb = download (&tdb);
      assert_close ("matmul dinp", gdx, wdx, T * IC, tol, tol);
      assert_close ("matmul dweight", gdw, wdw, IC * OC, tol, tol);
      assert_close ("matmul dbias", gdb, wdb, OC, tol, tol);
      free_tensor (&tx), free_tensor (&tw), free_tensor (&tb), free_tensor (&ty);
      free_tensor (&tdout), free_tensor (&tdx), free_tensor (&tdw), free_tensor (&tdb);
    }
}

/* A small shape takes the general kernel (weights dequantized for Q8_0); one of 2²⁰
 * multiply-adds takes the split-K fp32 and the quantized matmul kernels. */
static void
test_matmul_f32_and_q8_0_match_cpu (void)
{
  if (!need_backend ())
    return;
  matmul_case (5, 64, 12);
  matmul_case (16, 256, 256);
  assert_no_validation_messages ();
}

/* ---- LoRA ---- */

/* LoRA forward and backward of T rows, IC → R → OC, against the CPU twins within atol (plus
 * a relative 1e-5). */
static void
check_lora (int T, int IC, int R, int OC, float dropout, double atol)
{
  const float scale = 2.0f;
  const gint32 seed = 1234567;
  g_autofree float *x = NULL, *a = NULL, *b = NULL, *out0 = NULL, *dout = NULL;
  g_autofree float *dx0 = NULL, *da0 = NULL, *db0 = NULL;
  g_autofree float *wout = NULL, *wxa = g_new (float, T *R), *wdx = NULL, *wda = NULL;
  g_autofree float *wdb = NULL;
  g_autofree float *gout = NULL, *gxa = NULL, *gdx = NULL, *gda = NULL, *gdb = NULL;
  g_autoptr (TailorGraph) g = NULL;
  TailorTensor tx, ta, tb, tout, txa, tseed, tdout, tdx, tda, tdb;

  if (!need_backend ())
    return;
  x = random_floats (T * IC, -1, 1);
  a = random_floats (R * IC, -0.5, 0.5);
  b = random_floats (OC * R, -0.5, 0.5);
  out0 = random_floats (T * OC, -1, 1);
  dout = random_floats (T * OC, -1, 1);
  dx0 = random_floats (T * IC, -1, 1);
  da0 = random_floats (R * IC, -1, 1);
  db0 = random_floats (OC * R, -1, 1);
  tx = tensor_f32 (IC, T, x);
  ta = tensor_f32 (IC, R, a);
  tb = tensor_f32 (R, OC, b);
  tout = tensor_f32 (OC, T, out0);
  txa = tensor_f32 (R, T, NULL);
  tseed = tensor_i32 (1, &seed);
  tdout = tensor_f32 (OC, T, dout);
  tdx = tensor_f32 (IC, T, dx0);
  tda = tensor_f32 (IC, R, da0);
  tdb = tensor_f32 (R, OC, db0);
  g = tailor_graph_new (backend);
  tailor_op_lora (g, &tout, &txa, &tx, &ta, &tb, scale, dropout, &tseed);
  tailor_op_lora_backward (g, &tdx, &tda, &tdb, &tdout, &tx, &txa, &ta, &tb, scale, dropout,
                           &tseed);
  submit (g);

  wout = g_memdup2 (out0, sizeof (float) * T * OC);
  tailor_ref_lora_forward (wout, wxa, x, a, b, scale, dropout, (guint32) seed, T, IC, R, OC);
  gout = download (&tout);
  gxa = download (&txa);
  /* The dropout mask is bit-identical; a mismatch there would be a whole element off. */
  assert_close ("lora xa", gxa, wxa, T * R, atol, 1e-5);
  assert_close ("lora out", gout, wout, T * OC, atol, 1e-5);
  wdx = g_memdup2 (dx0, sizeof (float) * T * IC);
  wda = g_memdup2 (da0, sizeof (float) * R * IC);
  wdb = g_memdup2 (db0, sizeof (float) * OC * R);
  tailor_ref_lora_backward (wdx, wda, wdb, dout, x, wxa, a, b, scale, dropout, (guint32) seed, T,
                            IC, R, OC);
  gdx = download (&tdx);
  gda = download (&tda);
  gdb = download (&tdb);
  assert_close ("lora dinp", gdx, wdx, T * IC, atol, 1e-5);
  assert_close ("lora da", gda, wda, R * IC, atol, 1e-5);
  assert_close ("lora db", gdb, wdb, OC * R, atol, 1e-5);
  assert_no_validation_messages ();
  free_tensor (&tx), free_tensor (&ta), free_tensor (&tb), free_tensor (&tout);
  free_tensor (&txa), free_tensor (&tseed), free_tensor (&tdout), free_tensor (&tdx);
  free_tensor (&tda), free_tensor (&tdb);
}

static void
test_lora_with_dropout_matches_cpu (void)
{
  check_lora (5, 24, 4, 20, 0.25f, 1e-5);
}

/* Past 2²⁰ multiply-adds the up product, d(xa) and d(inp) take the matmul kernels
 * (tailor_vk_matmul_dense), the down product the fp32 forward, dA and dB the weight gradient's
 * split-K: ragged T
 * and OC against their blocks. dA sums 261 products of up to ~6 (d(xa) sums 300 of up to
 * 0.5): fp32 sums in another order may differ by ~1e-4 there, while a wrong index or block
 * edge is off by a whole product. */
static void
test_lora_large_matches_cpu (void)
{
  check_lora (261, 288, 16, 300, 0.0f, 1e-3);
  /* With dropout the down product, dA and d(inp) drop inp's elements in those kernels too, in
   * both matmul families. */
  check_lora (261, 288, 16, 300, 0.2f, 1e-3);
  g_setenv ("TAILOR_VK_MATMUL", "tiled", TRUE);
  check_lora (261, 288, 16, 300, 0.2f, 1e-3);
  g_setenv ("TAILOR_VK_MATMUL", "", TRUE);
}

/* A base matmul over a Q8_0 weight with its LoRA right after, as a training step records them
 * (rows, width and rank the CPU devices' kernels read in one pass): forward, input gradient and
 * the LoRA gradients match the CPU twins, with dropout. On CPU devices the LoRA ops take no
 * kernel of their own for the up product and d(inp): the base's kernels read them. */
static void
test_lora_with_base_matmul_matches_cpu (void)
{
  enum
  {
    T = 70,
    IC = 256,
    OC = 128,
    R = 8
  };
  const float scale = 2.0f, dropout = 0.1f;
  const gint32 seed = 31337;
  gsize row_bytes = tailor_type_row_size (TAILOR_TYPE_Q8_0, IC);
  g_autofree guint8 *raw = g_malloc (row_bytes * OC);
  TailorGgufTensor ref = { "w", 2, { IC, OC, 1, 1 }, TAILOR_TYPE_Q8_0, 0, IC * OC,
                           row_bytes * OC, raw };
  g_autofree float *x = NULL, *w = NULL, *bias = NULL, *a = NULL, *b = NULL, *dout = NULL;
  g_autofree float *dx0 = NULL, *da0 = NULL, *db0 = NULL;
  g_autofree float *want = g_new (float, T *OC), *wxa = g_new (float, T *R);
  g_autofree float *wdx = NULL, *wda = NULL, *wdb = NULL;
  g_autofree float *got = NULL, *gdx = NULL, *gda = NULL, *gdb = NULL;
  g_autoptr (TailorGraph) g = NULL;
  gint64 ne[2] = { IC, OC };
  TailorTensor tx, tw, tbias, ty, txa, ta, tb, tseed, tdout, tdx, tda, tdb;
  GHashTable *timings;

  if (!need_backend ())
    return;
  x = random_floats (T * IC, -1, 1);
  w = random_floats (IC * OC, -1, 1);
  bias = random_floats (OC, -1, 1);
  a = random_floats (R * IC, -0.5, 0.5);
  b = random_floats (OC * R, -0.5, 0.5);
  dout = random_floats (T * OC, -1, 1);
  dx0 = random_floats (T * IC, -1, 1);
  da0 = random_floats (R * IC, -1, 1);
  db0 = random_floats (OC * R, -1, 1);
  for (guint o = 0; o < OC; o++)
    tailor_quantize_row (TAILOR_TYPE_Q8_0, w + o * IC, raw + o * row_bytes, IC);
  tx = tensor_f32 (IC, T, x);
  tw = tensor (TAILOR_TYPE_Q8_0, 2, ne, raw);
  tbias = tensor_f32 (OC, 1, bias);
  ty = tensor_f32 (OC, T, NULL);
  txa = tensor_f32 (R, T, NULL);
  ta = tensor_f32 (IC, R, a);
  tb = tensor_f32 (R, OC, b);
  tseed = tensor_i32 (1, &seed);
  tdout = tensor_f32 (OC, T, dout);
  tdx = tensor_f32 (IC, T, dx0);
  tda = tensor_f32 (IC, R, da0);
  tdb = tensor_f32 (R, OC, db0);
  g = tailor_graph_new (backend);
  tailor_op_matmul (g, &ty, &tx, &tw, &tbias);
  tailor_op_lora (g, &ty, &txa, &tx, &ta, &tb, scale, dropout, &tseed);
  tailor_op_matmul_backward_input (g, &tdx, &tdout, &tw);
  tailor_op_lora_backward (g, &tdx, &tda, &tdb, &tdout, &tx, &txa, &ta, &tb, scale, dropout,
                           &tseed);
  tailor_graph_set_profiling (g, TRUE);
  submit (g);

  tailor_ref_matmul_forward (want, x, &ref, bias, T, IC, OC);
  tailor_ref_lora_forward (want, wxa, x, a, b, scale, dropout, (guint32) seed, T, IC, R, OC);
  got = download (&ty);
  assert_close ("base + lora out", got, want, T * OC, 1e-3, 1e-5);
  wdx = g_memdup2 (dx0, sizeof (float) * T * IC);
  wda = g_memdup2 (da0, sizeof (float) * R * IC);
  wdb = g_memdup2 (db0, sizeof (float) * OC * R);
  tailor_ref_matmul_backward (wdx, NULL, NULL, dout, NULL, &ref, T, IC, OC);
  tailor_ref_lora_backward (wdx, wda, wdb, dout, x, wxa, a, b, scale, dropout, (guint32) seed, T,
                            IC, R, OC);
  gdx = download (&tdx);
  gda = download (&tda);
  gdb = download (&tdb);
  assert_close ("base + lora dinp", gdx, wdx, T * IC, 1e-3, 1e-5);
  assert_close ("base + lora da", gda, wda, R * IC, 1e-3, 1e-5);
  assert_close ("base + lora db", gdb, wdb, OC * R, 1e-3, 1e-5);
  timings = tailor_graph_get_timings (g);
  if (tailor_vk_context_get_info (tailor_backend_vk_get_context (backend))->type ==
      TAILOR_VK_DEVICE_CPU)
    g_assert_false (g_hash_table_contains (timings, "001 lora"));
  g_assert_true (g_hash_table_contains (timings, "003 lora_backward"));
  assert_no_validation_messages ();
  free_tensor (&tx), free_tensor (&tw), free_tensor (&tbias), free_tensor (&ty);
  free_tensor (&txa), free_tensor (&ta), free_tensor (&tb), free_tensor (&tseed);
  free_tensor (&tdout), free_tensor (&tdx), free_tensor (&tda), free_tensor (&tdb);
}

/* ---- Cross-entropy ---- */

/* A masked mean cross-entropy over V vocabulary rows in chunks, forward and backward. */
static void
cross_entropy_case (guint T, guint C, guint V, guint chunk, TailorType type)
{
  gsize row_bytes = tailor_type_row_size (type, C);
  g_autofree gint32 *targets = g_new (gint32, T);
  g_autofree guint8 *mask8 = g_new (guint8, T);
  g_autofree float *mask = g_new (float, T);
  g_autofree float *x = random_floats (T * C, -1, 1);
  g_autofree float *w = random_floats (C * V, -0.5, 0.5);
  g_autofree float *dx0 = random_floats (T * C, -1, 1);
  g_autofree float *dw0 = random_floats (C * V, -1, 1);
  g_autofree guint8 *raw = g_malloc (row_bytes * V);
  TailorGgufTensor ref = { "output", 2, { C, V, 1, 1 }, type, 0, C * V, row_bytes * V, raw };
  g_autofree float *wlse = g_new0 (float, T), *glse = NULL, *gloss = NULL;
  g_autofree float *wdx = g_memdup2 (dx0, sizeof (float) * T * C), *gdx = NULL;
  g_autofree float *wdw = g_memdup2 (dw0, sizeof (float) * C * V), *gdw = NULL;
  g_autoptr (TailorGraph) g = tailor_graph_new (backend);
  gboolean full = type == TAILOR_TYPE_F32; /* a weight gradient only for fp32 weights */
  const float dloss = 0.5f;
  gint64 nT = T, one = 1;
  gint64 ne[2] = { C, V };
  TailorTensor tx, tw, ttg, tmask, tloss, tlse, tdl, tdx, tdw;
  double want;

  for (guint t = 0; t < T; t++)
    {
      targets[t] = g_rand_int_range (rng, 0, (gint32) V);
      mask8[t] = t % 3 != 2;
      mask[t] = mask8[t];
    }
  for (guint v = 0; v < V; v++)
    tailor_quantize_row (type, w + v * C, raw + v * row_bytes, C);
  tx = tensor_f32 (C, T, x);
  tw = tensor (type, 2, ne, raw);
  ttg = tensor_i32 (T, targets);
  tmask = tensor (TAILOR_TYPE_F32, 1, &nT, mask);
  tloss = tensor (TAILOR_TYPE_F32, 1, &one, NULL);
  tlse = tensor (TAILOR_TYPE_F32, 1, &nT, NULL);
  tdl = tensor (TAILOR_TYPE_F32, 1, &one, &dloss);
  tdx = tensor_f32 (C, T, dx0);
  tdw = tensor_f32 (C, V, dw0);
  tailor_op_cross_entropy (g, &tloss, &tlse, &tx, &tw, &ttg, &tmask, (int) chunk);
  tailor_op_cross_entropy_backward (g, &tdx, full ? &tdw : NULL, &tx, &tw, &ttg, &tmask, &tlse,
                                    &tdl, (int) chunk);
  submit (g);

  want = tailor_ref_cross_entropy_forward (wlse, x, &ref, targets, mask8, (int) T, (int) C, (int) V,
                                           (int) chunk);
  gloss = download (&tloss);
  glse = download (&tlse);
  g_assert_cmpfloat_with_epsilon (gloss[0], want, 1e-5 * MAX (1.0, fabs (want)));
  for (guint t = 0; t < T; t++)
    if (mask8[t])
      g_assert_cmpfloat_with_epsilon (glse[t], wlse[t], 1e-5 * MAX (1.0, fabs (wlse[t])));
  tailor_ref_cross_entropy_backward (wdx, full ? wdw : NULL, x, &ref, targets, mask8, wlse, dloss,
                                     (int) T, (int) C, (int) V, (int) chunk);
  gdx = download (&tdx);
  assert_close ("cross-entropy dinp", gdx, wdx, T * C, 1e-6, 1e-5);
  gdw = download (&tdw);
  assert_close ("cross-entropy dweight", gdw, wdw, C * V, 1e-6, 1e-5);
  free_tensor (&tx), free_tensor (&tw), free_tensor (&ttg), free_tensor (&tmask);
  free_tensor (&tloss), free_tensor (&tlse), free_tensor (&tdl), free_tensor (&tdx);
  free_tensor (&tdw);
}

/* Small chunks through the general kernel (F32, and Q8_0 dequantized per chunk), then chunks of
 * 2²⁰ multiply-adds through the split-K logits and the weight-gradient kernel, with a short last
 * chunk back on the general kernel. */
static void
test_cross_entropy_chunked_matches_cpu (void)
{
  if (!need_backend ())
    return;
  cross_entropy_case (7, 64, 50, 16, TAILOR_TYPE_F32);
  cross_entropy_case (7, 64, 50, 16, TAILOR_TYPE_Q8_0);
  cross_entropy_case (16, 256, 600, 256, TAILOR_TYPE_F32);
  assert_no_validation_messages ();
}

/* ---- Gradient norm and AdamW ---- */

static void
test_grad_norm_and_adamw_with_clipping_match_cpu (void)
{
  enum
  {
    N1 = 1000,
    N2 = 40000
  };
  TailorAdamWHyper hyper = { 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 3.0f, 1.0f, 0.0f };
  g_autofree float *g1 = NULL, *g2 = NULL, *p = NULL, *m = NULL, *v = NULL;
  g_autofree float *gp = NULL, *gm = NULL, *gv = NULL, *gnorm = NULL, *p0 = NULL;
  g_autoptr (TailorGraph) g = NULL;
  const float *grads[2];
  gsize sizes[2] = { N1, N2 };
  gint64 n1 = N1, n2 = N2, one = 1, eight = 8;
  TailorTensor t1, t2, tp, tm, tv, tn, th;
  const TailorTensor *list[2];
  double norm;
  float coef;

  if (!need_backend ())
    return;
  g1 = random_floats (N1, -0.1, 0.1);
  g2 = random_floats (N2, -0.1, 0.1);
  p = random_floats (N2, -1, 1);
  m = random_floats (N2, -0.01, 0.01);
  v = random_floats (N2, 0, 0.001);
  t1 = tensor (TAILOR_TYPE_F32, 1, &n1, g1);
  t2 = tensor (TAILOR_TYPE_F32, 1, &n2, g2);
  tp = tensor (TAILOR_TYPE_F32, 1, &n2, p);
  tm = tensor (TAILOR_TYPE_F32, 1, &n2, m);
  tv = tensor (TAILOR_TYPE_F32, 1, &n2, v);
  tn = tensor (TAILOR_TYPE_F32, 1, &one, NULL);
  th = tensor (TAILOR_TYPE_F32, 1, &eight, &hyper);
  list[0] = &t1;
  list[1] = &t2;
  g = tailor_graph_new (backend);
  tailor_op_grad_norm_sq (g, &tn, list, 2);
  tailor_op_adamw (g, &tp, &tm, &tv, &t2, &th, &tn);
  submit (g);

  grads[0] = g1;
  grads[1] = g2;
  norm = tailor_ref_grad_norm (grads, sizes, 2);
  g_assert_cmpfloat (norm, >, hyper.max_grad_norm); /* so the clipping is exercised */
  gnorm = download (&tn);
  g_assert_cmpfloat_with_epsilon (gnorm[0], norm * norm, 1e-5 * norm * norm);
  coef = (float) (hyper.max_grad_norm / (norm + 1e-6));
  for (guint i = 0; i < N2; i++)
    g2[i] *= coef;
  p0 = g_memdup2 (p, sizeof (float) * N2);
  tailor_ref_adamw_update (p, m, v, g2, N2, hyper.lr, hyper.beta1, hyper.beta2, hyper.eps,
                           hyper.weight_decay, (int) hyper.step);
  gp = download (&tp);
  gm = download (&tm);
  gv = download (&tv);
  assert_close ("adamw m", gm, m, N2, 1e-7, 1e-5);
  assert_close ("adamw v", gv, v, N2, 1e-9, 1e-5);
  /* Each step within 1e-4 of its own size: where m and v are both near 0, m̂ / √v̂ magnifies
   * the last bits of the clipping factor (the device's norm sums in another order). */
  for (guint i = 0; i < N2; i++)
    if (fabsf (gp[i] - p[i]) > 1e-6f + 1e-5f * fabsf (p[i]) + 1e-4f * fabsf (p[i] - p0[i]))
      g_error ("adamw param: element %u is %.9g, the reference %.9g (step %.9g)", i, gp[i], p[i],
               p[i] - p0[i]);
  assert_no_validation_messages ();
  free_tensor (&t1), free_tensor (&t2), free_tensor (&tp), free_tensor (&tm);
  free_tensor (&tv), free_tensor (&tn), free_tensor (&th);
}

/* ---- Graphs ---- */

static void
test_graph_resubmits_with_new_inputs_and_times_ops (void)
{
  enum
  {
    T = 4,
    C = 32
  };
  g_autoptr (TailorGraph) g = NULL;
  g_autofree float *w = NULL;
  TailorTensor tx, tw, tn, tsum, tout;

  if (!need_backend ())
    return;
  w = random_floats (C, 0.5, 1.5);
  tx = tensor_f32 (C, T, NULL);
  tw = tensor_f32 (C, 1, w);
  tn = tensor_f32 (C, T, NULL);
  tsum = tensor_f32 (C, T, NULL);
  tout = tensor_f32 (C, T, NULL);
  g = tailor_graph_new (backend);
  /* out = swiglu (rmsnorm (x), x + rmsnorm (x)): each op reads what the one before wrote */
  tailor_op_rmsnorm (g, &tn, NULL, &tx, &tw, 1e-6f);
  tailor_op_add (g, &tsum, &tx, &tn);
  tailor_op_swiglu (g, &tout, &tn, &tsum);
  for (guint round = 0; round < 3; round++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree float *x = random_floats (T * C, -3, 3);
      g_autofree float *n = g_new (float, T *C), *sum = g_new (float, T *C);
      g_autofree float *want = g_new (float, T *C), *got = NULL;

      tailor_tensor_upload (&tx, x, &error);
      g_assert_no_error (error);
      tailor_graph_set_profiling (g, round == 2);
      submit (g);
      tailor_ref_rmsnorm_forward (n, x, w, T, C, 1e-6f);
      tailor_ref_residual_forward (sum, x, n, T, C);
      tailor_ref_swiglu_forward (want, n, sum, T, C);
      got = download (&tout);
      assert_close ("graph", got, want, T * C, 1e-5, 1e-5);
    }
  /* The profiled run reports one entry per op. */
  g_assert_cmpuint (g_hash_table_size (tailor_graph_get_timings (g)), ==, 3);
  g_assert_nonnull (g_hash_table_lookup (tailor_graph_get_timings (g), "001 add"));
  assert_no_validation_messages ();
  free_tensor (&tx), free_tensor (&tw), free_tensor (&tn), free_tensor (&tsum);
  free_tensor (&tout);
}

static void
test_allocated_counts_tensors_and_scratch (void)
{
  enum
  {
    T = 3,
    C = 16
  };
  guint64 before;
  g_autoptr (TailorGraph) g = NULL;
  TailorTensor tx, tw, tdx, tdout;

  if (!need_backend ())
    return;
  before = tailor_backend_get_allocated (backend);
  tx = tensor_f32 (C, T, NULL);
  tw = tensor_f32 (C, 1, NULL);
  tdx = tensor_f32 (C, T, NULL);
  tdout = tensor_f32 (C, T, NULL);
  g_assert_cmpuint (tailor_backend_get_allocated (backend), ==, before + 4 * (3 * T * C + C));
  g = tailor_graph_new (backend);
  tailor_op_rmsnorm_backward (g, &tdx, NULL, &tdout, &tx, &tw, 1e-5f);
  submit (g);
  /* The backward keeps one scale per row in a scratch while the graph is compiled. */
  g_assert_cmpuint (tailor_backend_get_allocated (backend), >, before + 4 * (3 * T * C + C));
  g_assert_cmpuint (tailor_backend_get_peak (backend), >=, tailor_backend_get_allocated (backend));
  g_clear_pointer (&g, tailor_graph_free);
  free_tensor (&tx), free_tensor (&tw), free_tensor (&tdx), free_tensor (&tdout);
  g_assert_cmpuint (tailor_backend_get_allocated (backend), ==, before);
}

/* A Q8_0 weight kept only in the matmul layout: its blocks leave the device (allocated drops by
 * their size), a small product — which would otherwise dequantize them — its input gradient
 * and an embedding gather (from that layout, an id outside the table giving zeros) still match
 * the CPU, and a download, which needs the blocks, fails saying so. Kept only as blocks, the
 * gather reads them. */
static void
test_weight_kept_in_one_layout (void)
{
  enum
  {
    T = 3,
    IC = 64,
    OC = 8
  };
  g_autoptr (GError) error = NULL;
  g_autofree float *x = random_floats (T * IC, -1, 1);
  g_autofree float *w = random_floats (IC * OC, -1, 1);
  g_autofree float *dout = random_floats (T * OC, -1, 1);
  gsize row_bytes = tailor_type_row_size (TAILOR_TYPE_Q8_0, IC);
  g_autofree guint8 *raw = g_malloc (row_bytes * OC);
  TailorGgufTensor ref = { "w", 2,       { IC, OC, 1, 1 }, TAILOR_TYPE_Q8_0,
                           0,   IC * OC, row_bytes * OC,   raw };
  float want[T * OC], wdx[T * IC], gathered[3 * IC], want_rows[3 * IC];
  g_autofree float *got = NULL;
  g_autofree float *gdx = NULL;
  g_autofree float *back = NULL;
  gint32 ids[3] = { 5, 1, OC + 3 };
  gint64 ne[2] = { IC, OC };
  guint64 start, before, bytes = 0;
  g_autoptr (TailorGraph) g = NULL;
  g_autoptr (TailorGraph) gather = NULL;
  TailorTensor tx, tw, ty, tdout, tdx, tids, trows;

  if (!need_backend ())
    return;
  start = tailor_backend_get_allocated (backend);
  for (guint o = 0; o < OC; o++)
    tailor_quantize_row (TAILOR_TYPE_Q8_0, w + o * IC, raw + o * row_bytes, IC);
  tx = tensor_f32 (IC, T, x);
  tw = tensor (TAILOR_TYPE_Q8_0, 2, ne, raw);
  ty = tensor_f32 (OC, T, NULL);
  tdout = tensor_f32 (OC, T, dout);
  tdx = tensor_f32 (IC, T, NULL);
  tids = tensor_i32 (3, ids);
  trows = tensor_f32 (IC, 3, NULL);

  before = tailor_backend_get_allocated (backend);
  g_assert_true (tailor_backend_vk_keep_layout (&tw, TAILOR_VK_LAYOUT_REPACKED, &bytes));
  g_assert_cmpuint (bytes, >, 0);
  g_assert_cmpuint (tailor_backend_get_allocated (backend), ==, before - row_bytes * OC);
  /* only one layout is left to choose */
  g_assert_false (tailor_backend_vk_keep_layout (&tw, TAILOR_VK_LAYOUT_BLOCKS, NULL));

  g = tailor_graph_new (backend);
  tailor_op_matmul (g, &ty, &tx, &tw, NULL);
  tailor_op_matmul_backward_input (g, &tdx, &tdout, &tw);
  submit (g);
  tailor_ref_matmul_forward (want, x, &ref, NULL, T, IC, OC);
  memset (wdx, 0, sizeof wdx);
  tailor_ref_matmul_backward (wdx, NULL, NULL, dout, x, &ref, T, IC, OC);
  got = download (&ty);
  gdx = download (&tdx);
  assert_close ("matmul of a repacked-only weight", got, want, T * OC, 1e-4, 1e-4);
  assert_close ("its input gradient", gdx, wdx, T * IC, 1e-4, 1e-4);

  memset (want_rows, 0, sizeof want_rows);
  for (guint i = 0; i < 2; i++)
    tailor_dequantize_row (TAILOR_TYPE_Q8_0, raw + ids[i] * row_bytes, want_rows + i * IC, IC);
  gather = tailor_graph_new (backend);
  tailor_op_embedding (gather, &trows, &tw, &tids);
  submit (gather);
  tailor_tensor_download (&trows, gathered, &error);
  g_assert_no_error (error);
  assert_close ("gather of a repacked-only weight", gathered, want_rows, 3 * IC, 0.0, 0.0);
  back = g_malloc (row_bytes * OC);
  g_assert_false (tailor_tensor_download (&tw, back, &error));
  g_assert_nonnull (strstr (error->message, "blocks"));
  g_clear_error (&error);
  g_clear_pointer (&gather, tailor_graph_free);
  free_tensor (&tw);

  /* kept as blocks: the gather reads them */
  tw = tensor (TAILOR_TYPE_Q8_0, 2, ne, raw);
  g_assert_true (tailor_backend_vk_keep_layout (&tw, TAILOR_VK_LAYOUT_BLOCKS, &bytes));
  g_assert_cmpuint (bytes, ==, row_bytes * OC);
  gather = tailor_graph_new (backend);
  tailor_op_embedding (gather, &trows, &tw, &tids);
  submit (gather);
  memset (gathered, 0xff, sizeof gathered);
  tailor_tensor_download (&trows, gathered, &error);
  g_assert_no_error (error);
  assert_close ("gather of a blocks-only weight", gathered, want_rows, 3 * IC, 0.0, 0.0);

  g_clear_pointer (&g, tailor_graph_free);
  g_clear_pointer (&gather, tailor_graph_free);
  free_tensor (&tx), free_tensor (&tw), free_tensor (&ty), free_tensor (&tdout);
  free_tensor (&tdx), free_tensor (&tids), free_tensor (&trows);
  /* a weight whose blocks were freed balances its count when freed */
  g_assert_cmpuint (tailor_backend_get_allocated (backend), ==, start);
  assert_no_validation_messages ();
}

/* Temporaries are shared between ops: a graph of three backward norms holds as much scratch
 * as a graph of one. */
static guint64
norm_graph_scratch (guint n_ops)
{
  enum
  {
    T = 5,
    C = 16
  };
  g_autoptr (TailorGraph) g = NULL;
  TailorTensor tx = tensor_f32 (C, T, NULL), tw = tensor_f32 (C, 1, NULL);
  TailorTensor tdx = tensor_f32 (C, T, NULL), tdout = tensor_f32 (C, T, NULL);
  guint64 before = tailor_backend_get_allocated (backend);
  guint64 held;

  g = tailor_graph_new (backend);
  for (guint i = 0; i < n_ops; i++)
    tailor_op_rmsnorm_backward (g, &tdx, NULL, &tdout, &tx, &tw, 1e-5f);
  submit (g);
  held = tailor_backend_get_allocated (backend) - before;
  g_clear_pointer (&g, tailor_graph_free);
  free_tensor (&tx), free_tensor (&tw), free_tensor (&tdx), free_tensor (&tdout);
  return held;
}

static void
test_ops_share_scratch (void)
{
  if (!need_backend ())
    return;
  g_assert_cmpuint (norm_graph_scratch (1), >, 0);
  g_assert_cmpuint (norm_graph_scratch (3), ==, norm_graph_scratch (1));
  assert_no_validation_messages ();
}

static void
test_out_of_memory_is_error_with_advice (void)
{
  g_autoptr (GError) error = NULL;
  TailorBuf *buf;

  if (!need_backend ())
    return;
  /* 64 TiB: beyond any heap's budget */
  buf = tailor_buf_new (backend, G_GUINT64_CONSTANT (1) << 46, &error);
  g_assert_null (buf);
  g_assert_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_OUT_OF_MEMORY);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "batch"));
}

/* ---- A whole LoRA training step composed from ops ---- */

/* tailor-train-ref.c's per-(layer, target) dropout seed: SplitMix64 of (batch seed, index). */
static guint32
lora_seed (guint32 batch_seed, int l, int target)
{
  guint64 z = (((guint64) batch_seed << 32) | (guint32) (l * TAILOR_REF_LORA_N_TARGETS + target)) +
              0x9e3779b97f4a7c15ULL;

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (guint32) (z ^ (z >> 31));
}

typedef struct
{
  TailorTensor a, b, da, db, seed, xa;
  float scale;
} StepLora;

typedef struct
{
  TailorTensor attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
  TailorTensor xn1, q, k, v, att, lse, x_mid, xn2, gate, up, h;
  StepLora lora[TAILOR_REF_LORA_N_TARGETS];
} StepLayer;

static TailorTensor
weight (const TailorGgufTensor *src)
{
  g_autoptr (GError) error = NULL;
  TailorTensor t;

  tailor_tensor_alloc_from_gguf (backend, src, &t, &error);
  g_assert_no_error (error);
  return t;
}

/* out = x · Wᵀ plus the target's LoRA (as the reference's project_forward) */
static void
project (TailorGraph *g,
         StepLayer *ly,
         int target,
         const TailorTensor *out,
         const TailorTensor *x,
         const TailorTensor *w,
         float dropout)
{
  StepLora *lo = &ly->lora[target];

  tailor_op_matmul (g, out, x, w, NULL);
  tailor_op_lora (g, out, &lo->xa, x, &lo->a, &lo->b, lo->scale, dropout, &lo->seed);
}

/* dx (zeroed here when x_grad) += dout · W and its LoRA path; the LoRA gradients accumulate */
static void
project_back (TailorGraph *g,
              StepLayer *ly,
              int target,
              const TailorTensor *dx,
              const TailorTensor *dout,
              const TailorTensor *x,
              const TailorTensor *w,
              float dropout)
{
  StepLora *lo = &ly->lora[target];

  if (dx != NULL)
    tailor_op_matmul_backward_input (g, dx, dout, w);
  tailor_op_lora_backward (g, dx, &lo->da, &lo->db, dout, x, &lo->xa, &lo->a, &lo->b, lo->scale,
                           dropout, &lo->seed);
}

static void
test_lora_training_step_matches_reference_trainer (void)
{
  enum
  {
    T = 16,
    RANK = 4,
    CHUNK = 256
  };
  const float dropout = 0.1f;
  const guint32 batch_seed = 77;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL, *path = NULL;
  g_autoptr (TailorModel) model = NULL;
  g_autoptr (TailorRefAdapter) adapter = NULL;
  g_autoptr (TailorRefTrainer) trainer = NULL;
  g_autoptr (TailorGraph) g = NULL;
  g_autofree StepLayer *layers = NULL;
  g_autofree TailorTensor *xs = NULL;
  g_autoptr (GPtrArray) grads = g_ptr_array_new ();
  TailorTestModelParams params;
  const TailorHparams *hp;
  gint32 tokens[T], targets[T], pos[T];
  guint8 mask8[T];
  float mask[T];
  const float one = 1.0f;
  gint64 nT = T, n1 = 1;
  TailorTensor ttok, ttgt, tmask, tpos, tdloss, tloss, tlse, tnorm, tout_norm, toutput, tembd, txn;
  TailorTensor dxn, dx, datt, dq, dk, dv, dh, dgate, dup;
  g_autofree float *got_loss = NULL, *got_norm = NULL;
  double want_loss, norm_sq = 0, worst = 0;
  int L, C, hd, nh, nkv, ff;

  if (!need_backend ())
    return;
  dir = g_dir_make_tmp ("backend-vk-train-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (dir, "tiny.gguf", NULL);
  tailor_test_model_params_init (&params, TAILOR_ARCH_LLAMA);
  params.n_vocab = 600;
  params.weight_std = 0.2f;
  tailor_test_model_write (&params, path, &error);
  g_assert_no_error (error);
  model = tailor_model_load (path, &error);
  g_assert_no_error (error);
  hp = &model->hp;
  L = (int) hp->n_layer;
  C = (int) hp->n_embd;
  hd = (int) hp->head_dim;
  nh = (int) hp->layers[0].n_head;
  nkv = (int) hp->layers[0].n_head_kv;
  ff = (int) hp->layers[0].n_ff;

  /* B random rather than zero, so that every LoRA gradient is non-trivial. */
  adapter = tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, RANK, 8.0f, FALSE, dropout, 5);
  for (int l = 0; l < L; l++)
    for (int t = 0; t < TAILOR_REF_LORA_N_TARGETS; t++)
      {
        TailorRefLora *lo = tailor_ref_adapter_get (adapter, l, t);

        for (int i = 0; i < lo->out * lo->rank; i++)
          lo->b[i] = (float) g_rand_double_range (rng, -0.1, 0.1);
      }
  for (int t = 0; t < T; t++)
    {
      tokens[t] = g_rand_int_range (rng, 0, (gint32) hp->n_vocab);
      targets[t] = g_rand_int_range (rng, 0, (gint32) hp->n_vocab);
      mask8[t] = t >= 3;
      mask[t] = mask8[t];
      pos[t] = t;
    }

  ttok = tensor_i32 (T, tokens);
  ttgt = tensor_i32 (T, targets);
  tmask = tensor (TAILOR_TYPE_F32, 1, &nT, mask);
  tpos = tensor_i32 (T, pos);
  tdloss = tensor (TAILOR_TYPE_F32, 1, &n1, &one);
  tloss = tensor (TAILOR_TYPE_F32, 1, &n1, NULL);
  tnorm = tensor (TAILOR_TYPE_F32, 1, &n1, NULL);
  tlse = tensor (TAILOR_TYPE_F32, 1, &nT, NULL);
  tembd = weight (model->tok_embd);
  toutput = weight (model->output);
  tout_norm = weight (model->output_norm);
  txn = tensor_f32 (C, T, NULL);
  xs = g_new (TailorTensor, L + 1);
  for (int l = 0; l <= L; l++)
    xs[l] = tensor_f32 (C, T, NULL);
  dxn = tensor_f32 (C, T, NULL);
  dx = tensor_f32 (C, T, NULL);
  datt = tensor_f32 (nh * hd, T, NULL);
  dq = tensor_f32 (nh * hd, T, NULL);
  dk = tensor_f32 (nkv * hd, T, NULL);
  dv = tensor_f32 (nkv * hd, T, NULL);
  dh = tensor_f32 (ff, T, NULL);
  dgate = tensor_f32 (ff, T, NULL);
  dup = tensor_f32 (ff, T, NULL);
  layers = g_new0 (StepLayer, L);
  for (int l = 0; l < L; l++)
    {
      StepLayer *ly = &layers[l];
      const TailorLayerWeights *w = &model->layers[l];
      gint64 nl[2] = { T, nh };

      ly->attn_norm = weight (w->attn_norm);
      ly->wq = weight (w->wq);
      ly->wk = weight (w->wk);
      ly->wv = weight (w->wv);
      ly->wo = weight (w->wo);
      ly->ffn_norm = weight (w->ffn_norm);
      ly->w_gate = weight (w->w_gate);
      ly->w_up = weight (w->w_up);
      ly->w_down = weight (w->w_down);
      ly->xn1 = tensor_f32 (C, T, NULL);
      ly->q = tensor_f32 (nh * hd, T, NULL);
      ly->k = tensor_f32 (nkv * hd, T, NULL);
      ly->v = tensor_f32 (nkv * hd, T, NULL);
      ly->att = tensor_f32 (nh * hd, T, NULL);
      ly->lse = tensor (TAILOR_TYPE_F32, 2, nl, NULL);
      ly->x_mid = tensor_f32 (C, T, NULL);
      ly->xn2 = tensor_f32 (C, T, NULL);
      ly->gate = tensor_f32 (ff, T, NULL);
      ly->up = tensor_f32 (ff, T, NULL);
      ly->h = tensor_f32 (ff, T, NULL);
      for (int t = 0; t < TAILOR_REF_LORA_N_TARGETS; t++)
        {
          TailorRefLora *ref = tailor_ref_adapter_get (adapter, l, t);
          StepLora *lo = &ly->lora[t];
          gint32 seed = (gint32) lora_seed (batch_seed, l, t);

          lo->a = tensor_f32 (ref->in, ref->rank, ref->a);
          lo->b = tensor_f32 (ref->rank, ref->out, ref->b);
          lo->da = tensor_f32 (ref->in, ref->rank, NULL);
          lo->db = tensor_f32 (ref->rank, ref->out, NULL);
          lo->xa = tensor_f32 (ref->rank, T, NULL);
          lo->seed = tensor_i32 (1, &seed);
          lo->scale = tailor_ref_lora_scale (ref->alpha, ref->rank, ref->rslora);
          g_ptr_array_add (grads, &lo->da);
          g_ptr_array_add (grads, &lo->db);
        }
    }

  g = tailor_graph_new (backend);
  for (guint i = 0; i < grads->len; i++)
    tailor_op_zero (g, g_ptr_array_index (grads, i));
  /* forward */
  tailor_op_embedding (g, &xs[0], &tembd, &ttok);
  for (int l = 0; l < L; l++)
    {
      StepLayer *ly = &layers[l];

      tailor_op_rmsnorm (g, &ly->xn1, NULL, &xs[l], &ly->attn_norm, hp->norm_eps);
      project (g, ly, TAILOR_REF_LORA_Q, &ly->q, &ly->xn1, &ly->wq, dropout);
      project (g, ly, TAILOR_REF_LORA_K, &ly->k, &ly->xn1, &ly->wk, dropout);
      project (g, ly, TAILOR_REF_LORA_V, &ly->v, &ly->xn1, &ly->wv, dropout);
      tailor_op_rope (g, &ly->q, &tpos, nh, hd, (int) hp->n_rot, hp->rope_freq_base,
                      hp->rope_freq_scale, NULL, hp->rope_type, FALSE);
      tailor_op_rope (g, &ly->k, &tpos, nkv, hd, (int) hp->n_rot, hp->rope_freq_base,
                      hp->rope_freq_scale, NULL, hp->rope_type, FALSE);
      tailor_op_attention (g, &ly->att, &ly->lse, &ly->q, &ly->k, &ly->v, nh, nkv, hd);
      project (g, ly, TAILOR_REF_LORA_O, &dxn, &ly->att, &ly->wo, dropout);
      tailor_op_add (g, &ly->x_mid, &xs[l], &dxn);
      tailor_op_rmsnorm (g, &ly->xn2, NULL, &ly->x_mid, &ly->ffn_norm, hp->norm_eps);
      project (g, ly, TAILOR_REF_LORA_GATE, &ly->gate, &ly->xn2, &ly->w_gate, dropout);
      project (g, ly, TAILOR_REF_LORA_UP, &ly->up, &ly->xn2, &ly->w_up, dropout);
      tailor_op_swiglu (g, &ly->h, &ly->gate, &ly->up);
      project (g, ly, TAILOR_REF_LORA_DOWN, &dxn, &ly->h, &ly->w_down, dropout);
      tailor_op_add (g, &xs[l + 1], &ly->x_mid, &dxn);
    }
  tailor_op_rmsnorm (g, &txn, NULL, &xs[L], &tout_norm, hp->norm_eps);
  tailor_op_cross_entropy (g, &tloss, &tlse, &txn, &toutput, &ttgt, &tmask, CHUNK);
  /* backward */
  tailor_op_zero (g, &dxn);
  tailor_op_cross_entropy_backward (g, &dxn, NULL, &txn, &toutput, &ttgt, &tmask, &tlse, &tdloss,
                                    CHUNK);
  tailor_op_zero (g, &dx);
  tailor_op_rmsnorm_backward (g, &dx, NULL, &dxn, &xs[L], &tout_norm, hp->norm_eps);
  for (int l = L - 1; l >= 0; l--)
    {
      StepLayer *ly = &layers[l];

      tailor_op_zero (g, &dh);
      project_back (g, ly, TAILOR_REF_LORA_DOWN, &dh, &dx, &ly->h, &ly->w_down, dropout);
      tailor_op_zero (g, &dgate);
      tailor_op_zero (g, &dup);
      tailor_op_swiglu_backward (g, &dgate, &dup, &dh, &ly->gate, &ly->up);
      tailor_op_zero (g, &dxn);
      project_back (g, ly, TAILOR_REF_LORA_GATE, &dxn, &dgate, &ly->xn2, &ly->w_gate, dropout);
      project_back (g, ly, TAILOR_REF_LORA_UP, &dxn, &dup, &ly->xn2, &ly->w_up, dropout);
      tailor_op_rmsnorm_backward (g, &dx, NULL, &dxn, &ly->x_mid, &ly->ffn_norm, hp->norm_eps);
      tailor_op_zero (g, &datt);
      project_back (g, ly, TAILOR_REF_LORA_O, &datt, &dx, &ly->att, &ly->wo, dropout);
      tailor_op_zero (g, &dq);
      tailor_op_zero (g, &dk);
      tailor_op_zero (g, &dv);
      tailor_op_attention_backward (g, &dq, &dk, &dv, &datt, &ly->att, &ly->lse, &ly->q, &ly->k,
                                    &ly->v, nh, nkv, hd);
      tailor_op_rope (g, &dq, &tpos, nh, hd, (int) hp->n_rot, hp->rope_freq_base,
                      hp->rope_freq_scale, NULL, hp->rope_type, TRUE);
      tailor_op_rope (g, &dk, &tpos, nkv, hd, (int) hp->n_rot, hp->rope_freq_base,
                      hp->rope_freq_scale, NULL, hp->rope_type, TRUE);
      tailor_op_zero (g, &dxn);
      project_back (g, ly, TAILOR_REF_LORA_Q, l > 0 ? &dxn : NULL, &dq, &ly->xn1, &ly->wq, dropout);
      project_back (g, ly, TAILOR_REF_LORA_K, l > 0 ? &dxn : NULL, &dk, &ly->xn1, &ly->wk, dropout);
      project_back (g, ly, TAILOR_REF_LORA_V, l > 0 ? &dxn : NULL, &dv, &ly->xn1, &ly->wv, dropout);
      if (l > 0)
        tailor_op_rmsnorm_backward (g, &dx, NULL, &dxn, &xs[l], &ly->attn_norm, hp->norm_eps);
    }
  tailor_op_grad_norm_sq (g, &tnorm, (const TailorTensor *const *) grads->pdata, grads->len);
  submit (g);

  trainer = tailor_ref_trainer_new (model, adapter, &error);
  g_assert_no_error (error);
  tailor_ref_trainer_set_vocab_chunk (trainer, CHUNK);
  tailor_ref_trainer_set_dropout_seed (trainer, batch_seed);
  tailor_ref_trainer_zero_grad (trainer);
  tailor_ref_trainer_forward_backward (trainer, tokens, targets, mask8, T, 1.0f, &want_loss,
                                       &error);
  g_assert_no_error (error);

  got_loss = download (&tloss);
  g_test_message ("loss: vulkan %.7f, reference %.7f", got_loss[0], want_loss);
  g_assert_cmpfloat_with_epsilon (got_loss[0], want_loss, 1e-4 * MAX (1.0, fabs (want_loss)));
  for (int l = 0; l < L; l++)
    for (int t = 0; t < TAILOR_REF_LORA_N_TARGETS; t++)
      for (int ab = 0; ab < 2; ab++)
        {
          g_autofree char *name = g_strdup_printf (
            "blk.%d.%s.weight.lora_%s", l, tailor_ref_lora_target_tensor (t), ab == 0 ? "a" : "b");
          const TailorTensor *got_t = ab == 0 ? &layers[l].lora[t].da : &layers[l].lora[t].db;
          g_autofree float *got = download (got_t);
          const TailorRefParam *want = NULL;
          double peak = 0;

          for (int i = 0; i < tailor_ref_trainer_get_n_params (trainer); i++)
            if (g_strcmp0 (tailor_ref_trainer_get_param (trainer, i)->name, name) == 0)
              want = tailor_ref_trainer_get_param (trainer, i);
          g_assert_nonnull (want);
          g_assert_cmpuint (want->n, ==, tailor_tensor_n_elements (got_t));
          for (gsize i = 0; i < want->n; i++)
            {
              peak = MAX (peak, fabs (want->grad[i]));
              norm_sq += (double) want->grad[i] * want->grad[i];
            }
          g_assert_cmpfloat (peak, >, 0.0);
          /* fp32 sums in other orders through two layers: 1e-4 of the tensor's largest
           * gradient, plus 1e-4 relative (2.6e-6 measured on llvmpipe) */
          assert_close (name, got, want->grad, want->n, 1e-4 * peak, 1e-4);
          for (gsize i = 0; i < want->n; i++)
            worst = MAX (worst, fabs (got[i] - want->grad[i]) / peak);
        }
  g_test_message ("largest LoRA gradient difference: %.2g of its tensor's largest value", worst);
  got_norm = download (&tnorm);
  g_assert_cmpfloat_with_epsilon (got_norm[0], norm_sq, 1e-3 * norm_sq);

  /* The same step again gives the same bits: no atomics, fixed reduction orders. */
  {
    g_autoptr (GPtrArray) first = g_ptr_array_new_with_free_func (g_free);
    g_autofree float *again_loss = NULL, *again_norm = NULL;

    for (guint i = 0; i < grads->len; i++)
      g_ptr_array_add (first, download (g_ptr_array_index (grads, i)));
    submit (g);
    again_loss = download (&tloss);
    again_norm = download (&tnorm);
    g_assert_cmpmem (again_loss, sizeof (float), got_loss, sizeof (float));
    g_assert_cmpmem (again_norm, sizeof (float), got_norm, sizeof (float));
    for (guint i = 0; i < grads->len; i++)
      {
        const TailorTensor *t = g_ptr_array_index (grads, i);
        g_autofree float *again = download (t);

        g_assert_cmpmem (again, tailor_tensor_n_bytes (t), g_ptr_array_index (first, i),
                         tailor_tensor_n_bytes (t));
      }
  }
  assert_no_validation_messages ();

  g_clear_pointer (&g, tailor_graph_free);
  for (int l = 0; l < L; l++)
    {
      StepLayer *ly = &layers[l];
      TailorTensor *all[] = { &ly->attn_norm, &ly->wq,     &ly->wk,   &ly->wv,     &ly->wo,
                              &ly->ffn_norm,  &ly->w_gate, &ly->w_up, &ly->w_down, &ly->xn1,
                              &ly->q,         &ly->k,      &ly->v,    &ly->att,    &ly->lse,
                              &ly->x_mid,     &ly->xn2,    &ly->gate, &ly->up,     &ly->h };

      for (guint i = 0; i < G_N_ELEMENTS (all); i++)
        free_tensor (all[i]);
      for (int t = 0; t < TAILOR_REF_LORA_N_TARGETS; t++)
        {
          StepLora *lo = &ly->lora[t];

          free_tensor (&lo->a), free_tensor (&lo->b), free_tensor (&lo->da);
          free_tensor (&lo->db), free_tensor (&lo->seed), free_tensor (&lo->xa);
        }
    }
  for (int l = 0; l <= L; l++)
    free_tensor (&xs[l]);
  free_tensor (&ttok), free_tensor (&ttgt), free_tensor (&tmask), free_tensor (&tpos);
  free_tensor (&tdloss), free_tensor (&tloss), free_tensor (&tnorm), free_tensor (&tlse);
  free_tensor (&tembd), free_tensor (&toutput), free_tensor (&tout_norm), free_tensor (&txn);
  free_tensor (&dxn), free_tensor (&dx), free_tensor (&datt), free_tensor (&dq);
  free_tensor (&dk), free_tensor (&dv), free_tensor (&dh), free_tensor (&dgate);
  free_tensor (&dup);
  g_remove (path);
  g_rmdir (dir);
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_remove (child);
    }
  g_rmdir (path);
}

int
main (int argc, char *argv[])
{
  g_autofree char *tmp = g_dir_make_tmp ("test-backend-vk-XXXXXX", NULL);
  g_autofree char *cache = g_build_filename (tmp, "cache", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) devices = NULL;
  int status;

  /* Not G_TEST_OPTION_ISOLATE_DIRS: the Vulkan loader finds drivers and layers through
   * XDG_DATA_DIRS. Only the pipeline cache's home is private. */
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  g_setenv ("TAILOR_VK_VALIDATION", "1", TRUE);
  g_unsetenv ("TAILOR_CACHE_DIR");
  g_test_init (&argc, &argv, NULL);

  /* Only a machine whose loader lists no device at all may skip. */
  devices = tailor_vk_enumerate_devices (NULL);
  if (devices != NULL)
    {
      backend = tailor_backend_new ("vulkan", &error);
      g_assert_no_error (error);
      g_assert_cmpint (tailor_backend_get_kind (backend), ==, TAILOR_BACKEND_VULKAN);
    }
  rng = g_rand_new_with_seed (20261130);

  g_test_add_func ("/backend-vk/zero-add-swiglu-match-cpu", test_zero_add_swiglu_match_cpu);
  g_test_add_func ("/backend-vk/embedding/matches-cpu-for-each-type",
                   test_embedding_matches_cpu_for_each_type);
  g_test_add_func ("/backend-vk/embedding/backward-scatters-in-order",
                   test_embedding_backward_scatters_in_order);
  g_test_add_func ("/backend-vk/rmsnorm/forward-backward-match-cpu",
                   test_rmsnorm_forward_backward_match_cpu);
  g_test_add_func ("/backend-vk/rope/normal-and-neox-match-cpu",
                   test_rope_normal_and_neox_match_cpu);
  g_test_add_func ("/backend-vk/attention/forward-backward-match-cpu",
                   test_attention_forward_backward_match_cpu);
  g_test_add_func ("/backend-vk/attention/cached-matches-cpu-step-by-step",
                   test_attention_cached_matches_cpu_step_by_step);
  g_test_add_func ("/backend-vk/matmul/f32-and-q8_0-match-cpu", test_matmul_f32_and_q8_0_match_cpu);
  g_test_add_func ("/backend-vk/matmul/weight-kept-in-one-layout", test_weight_kept_in_one_layout);
  g_test_add_func ("/backend-vk/memory/ops-share-scratch", test_ops_share_scratch);
  g_test_add_func ("/backend-vk/lora/with-dropout-matches-cpu", test_lora_with_dropout_matches_cpu);
  g_test_add_func ("/backend-vk/lora/with-base-matmul-matches-cpu",
                   test_lora_with_base_matmul_matches_cpu);
  g_test_add_func ("/backend-vk/lora/large-matches-cpu", test_lora_large_matches_cpu);
  g_test_add_func ("/backend-vk/cross-entropy/chunked-matches-cpu",
                   test_cross_entropy_chunked_matches_cpu);
  g_test_add_func ("/backend-vk/optimizer/grad-norm-and-adamw-with-clipping-match-cpu",
                   test_grad_norm_and_adamw_with_clipping_match_cpu);
  g_test_add_func ("/backend-vk/graph/resubmits-with-new-inputs-and-times-ops",
                   test_graph_resubmits_with_new_inputs_and_times_ops);
  g_test_add_func ("/backend-vk/memory/allocated-counts-tensors-and-scratch",
                   test_allocated_counts_tensors_and_scratch);
  g_test_add_func ("/backend-vk/memory/out-of-memory-is-error-with-advice",
                   test_out_of_memory_is_error_with_advice);
  g_test_add_func ("/backend-vk/train/lora-step-matches-reference-and-repeats-exactly",
                   test_lora_training_step_matches_reference_trainer);
  status = g_test_run ();
  g_clear_pointer (&backend, tailor_backend_free);
  g_rand_free (rng);
  remove_tree (tmp);
  return status;
}
