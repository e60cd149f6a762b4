/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests for the op interface on the CPU backend: every op against the CPU reference on
 * random inputs, graph resubmission, row views, shape errors and memory accounting. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-backend.h"
#include "tailor-cpu-ref.h"
#include "tailor-vk-device.h"

/* Tolerances, relative to the largest magnitude of the reference result. The backend sums
 * in another order than the reference (sgemm's blocking, tiled attention, vectorised
 * reductions), so results agree to fp32 rounding of sums over K terms, not bit for bit:
 * a dot product of K terms carries about √K·2⁻²⁴ relative error per ordering, far below
 * these bounds for the shapes here (K ≤ 512). */
#define TOL_ELEMENTWISE 1e-6 /* add, swiglu, rope, embedding: same formula per element */
#define TOL_REDUCTION 5e-6   /* norms, matmuls, attention, LoRA, cross-entropy */
#define TOL_OPTIMIZER 1e-5   /* AdamW: one division by √v̂ amplifies rounding */

static void
fill_normal (float *x, gsize n, float std, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  gsize i;

  for (i = 0; i < n; i++)
    {
      double u1 = g_rand_double_range (rand, 1e-12, 1.0);
      double u2 = g_rand_double (rand);

      x[i] = (float) (std * sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2));
    }
}

static float *
random_floats (gsize n, float std, guint32 seed)
{
  float *x = g_new (float, MAX (n, 1));

  fill_normal (x, n, std, seed);
  return x;
}

/* |got − want| ≤ tol · max(1e-3, max |want|) everywhere. */
static void
assert_close (const float *got, const float *want, gsize n, double tol, const char *what)
{
  double scale = 1e-3;
  double worst = 0.0;
  gsize worst_i = 0;
  gsize i;

  for (i = 0; i < n; i++)
    scale = MAX (scale, fabs ((double) want[i]));
  for (i = 0; i < n; i++)
    {
      double d = fabs ((double) got[i] - want[i]);

      g_assert_false (isnan (got[i]));
      if (d > worst)
        {
          worst = d;
          worst_i = i;
        }
    }
  g_test_message ("%s: worst relative difference %.2g (allowed %.2g)", what, worst / scale, tol);
  if (worst > tol * scale)
    g_error ("%s: element %" G_GSIZE_FORMAT " is %.9g, the reference %.9g (difference %.3g, "
             "allowed %.3g)",
             what, worst_i, got[worst_i], want[worst_i], worst, tol * scale);
}

static TailorBackend *
cpu_backend (void)
{
  g_autoptr (GError) error = NULL;
  TailorBackend *b = tailor_backend_new ("cpu", &error);

  g_assert_no_error (error);
  g_assert_nonnull (b);
  return b;
}

/* A tensor of ne {ne0, ne1} (ne1 1 for vectors) holding data (raw bytes of its type). */
static TailorTensor
tensor_new (TailorBackend *b, TailorType type, gint64 ne0, gint64 ne1, const void *data)
{
  g_autoptr (GError) error = NULL;
  gint64 ne[2] = { ne0, ne1 };
  TailorTensor t;

  g_assert_true (tailor_tensor_alloc (b, type, 2, ne, &t, &error));
  g_assert_no_error (error);
  if (data != NULL)
    {
      g_assert_true (tailor_tensor_upload (&t, data, &error));
      g_assert_no_error (error);
    }
  return t;
}

static float *
download (const TailorTensor *t)
{
  g_autoptr (GError) error = NULL;
  float *out = g_malloc (tailor_tensor_n_bytes (t));

  g_assert_true (tailor_tensor_download (t, out, &error));
  g_assert_no_error (error);
  return out;
}

static void
submit (TailorGraph *g)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (tailor_graph_submit (g, &error));
  g_assert_no_error (error);
}

static void
free_tensors (TailorTensor *ts, guint n)
{
  guint i;

  for (i = 0; i < n; i++)
    tailor_buf_free (ts[i].buf);
}

/* A weight {IC, OC} of type: random values quantized row by row (raw blocks returned). */
static guint8 *
random_weight (TailorType type, int IC, int OC, guint32 seed, gsize *n_bytes)
{
  g_autofree float *values = random_floats ((gsize) IC * OC, 0.5f, seed);
  gsize row = tailor_type_row_size (type, IC);
  guint8 *data = g_malloc (row * OC);
  int o;

  g_assert_cmpuint (row, >, 0);
  for (o = 0; o < OC; o++)
    tailor_quantize_row (type, values + (gsize) o * IC, data + row * o, IC);
  *n_bytes = row * OC;
  return data;
}

static TailorGgufTensor
gguf_tensor (TailorType type, int ne0, int ne1, const void *data, gsize n_bytes)
{
  TailorGgufTensor w = { 0 };

  w.name = "w";
  w.n_dims = 2;
  w.ne[0] = ne0;
  w.ne[1] = ne1;
  w.ne[2] = w.ne[3] = 1;
  w.type = type;
  w.n_elements = (gint64) ne0 * ne1;
  w.n_bytes = n_bytes;
  w.data = data;
  return w;
}

/* ---- device choice ---- */

static void
test_device_names (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorBackend) cpu = tailor_backend_new ("cpu", &error);
  g_autoptr (TailorBackend) bogus = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (tailor_backend_get_kind (cpu), ==, TAILOR_BACKEND_CPU);
  g_assert_true (g_str_has_prefix (tailor_backend_get_name (cpu), "cpu"));

  bogus = tailor_backend_new ("tpu", &error);
  g_assert_null (bogus);
  g_assert_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_NO_DEVICE);
  g_assert_nonnull (strstr (error->message, "tpu"));
}

/* auto never picks a CPU implementation of Vulkan (lavapipe) over the CPU backend. */
static void
test_auto_skips_cpu_vulkan (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) infos = tailor_vk_enumerate_devices (NULL);
  g_autoptr (TailorBackend) b = NULL;
  gboolean real_gpu = FALSE;
  guint i;

  for (i = 0; infos != NULL && i < infos->len; i++)
    {
      const TailorVkDeviceInfo *info = g_ptr_array_index (infos, i);

      real_gpu |= info->usable && info->type != TAILOR_VK_DEVICE_CPU &&
                  info->type != TAILOR_VK_DEVICE_OTHER;
    }
  if (real_gpu)
    {
      g_test_skip ("this machine has a real GPU; auto may choose it");
      return;
    }
  b = tailor_backend_new ("auto", &error);
  g_assert_no_error (error);
  g_assert_cmpint (tailor_backend_get_kind (b), ==, TAILOR_BACKEND_CPU);
  g_clear_pointer (&b, tailor_backend_free);
  b = tailor_backend_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (tailor_backend_get_kind (b), ==, TAILOR_BACKEND_CPU);
}

/* ---- ops against the reference ---- */

static void
check_matmul_type (TailorType type, int T, int IC, int OC)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  gsize w_bytes = 0;
  g_autofree guint8 *wdata = random_weight (type, IC, OC, 11 + type, &w_bytes);
  TailorGgufTensor wref = gguf_tensor (type, IC, OC, wdata, w_bytes);
  g_autofree float *x = random_floats ((gsize) T * IC, 1.0f, 1);
  g_autofree float *bias = random_floats (OC, 1.0f, 2);
  g_autofree float *dy = random_floats ((gsize) T * OC, 1.0f, 3);
  g_autofree float *dx0 = random_floats ((gsize) T * IC, 1.0f, 4);
  g_autofree float *want_y = g_new (float, (gsize) T * OC);
  g_autofree float *want_dx = g_memdup2 (dx0, sizeof (float) * T * IC);
  g_autofree float *got_y = NULL;
  g_autofree float *got_dx = NULL;
  g_autofree char *what = NULL;
  TailorTensor ts[5];

  ts[0] = tensor_new (b, type, IC, OC, wdata);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, IC, T, x);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, OC, 1, bias);
  ts[3] = tensor_new (b, TAILOR_TYPE_F32, OC, T, dy);
  ts[4] = tensor_new (b, TAILOR_TYPE_F32, IC, T, dx0);
  {
    TailorTensor y = tensor_new (b, TAILOR_TYPE_F32, OC, T, NULL);

    tailor_op_matmul (g, &y, &ts[1], &ts[0], &ts[2]);
    tailor_op_matmul_backward_input (g, &ts[4], &ts[3], &ts[0]);
    submit (g);
    got_y = download (&y);
    got_dx = download (&ts[4]);
    tailor_buf_free (y.buf);
  }
  tailor_ref_matmul_forward (want_y, x, &wref, bias, T, IC, OC);
  tailor_ref_matmul_backward (want_dx, NULL, NULL, dy, x, &wref, T, IC, OC);

  what = g_strdup_printf ("matmul %s forward", tailor_type_name (type));
  assert_close (got_y, want_y, (gsize) T * OC, TOL_REDUCTION, what);
  g_free (what);
  what = g_strdup_printf ("matmul %s backward input", tailor_type_name (type));
  assert_close (got_dx, want_dx, (gsize) T * IC, TOL_REDUCTION, what);
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_matmul_every_type (void)
{
  static const TailorType types[] = {
    TAILOR_TYPE_F32,  TAILOR_TYPE_F16,  TAILOR_TYPE_BF16, TAILOR_TYPE_Q4_0,
    TAILOR_TYPE_Q4_1, TAILOR_TYPE_Q5_0, TAILOR_TYPE_Q5_1, TAILOR_TYPE_Q8_0,
    TAILOR_TYPE_Q4_K, TAILOR_TYPE_Q5_K, TAILOR_TYPE_Q6_K,
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (types); i++)
    {
      check_matmul_type (types[i], 7, 256, 40);
      /* a T and OC that no blocking divides */
      check_matmul_type (types[i], 37, 512, 131);
    }
}

static void
test_matmul_backward_weight (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  int T = 19, IC = 48, OC = 33;
  g_autofree float *x = random_floats ((gsize) T * IC, 1.0f, 5);
  g_autofree float *dy = random_floats ((gsize) T * OC, 1.0f, 6);
  g_autofree float *dw0 = random_floats ((gsize) IC * OC, 1.0f, 7);
  g_autofree float *db0 = random_floats (OC, 1.0f, 8);
  g_autofree float *want_dw = g_memdup2 (dw0, sizeof (float) * IC * OC);
  g_autofree float *want_db = g_memdup2 (db0, sizeof (float) * OC);
  g_autofree float *got_dw = NULL;
  g_autofree float *got_db = NULL;
  TailorGgufTensor wshape = gguf_tensor (TAILOR_TYPE_F32, IC, OC, dw0, sizeof (float) * IC * OC);
  TailorTensor ts[4];

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, IC, OC, dw0);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, OC, 1, db0);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, OC, T, dy);
  ts[3] = tensor_new (b, TAILOR_TYPE_F32, IC, T, x);
  tailor_op_matmul_backward_weight (g, &ts[0], &ts[1], &ts[2], &ts[3]);
  submit (g);
  got_dw = download (&ts[0]);
  got_db = download (&ts[1]);
  tailor_ref_matmul_backward (NULL, want_dw, want_db, dy, x, &wshape, T, IC, OC);
  assert_close (got_dw, want_dw, (gsize) IC * OC, TOL_REDUCTION, "matmul dW");
  assert_close (got_db, want_db, OC, TOL_REDUCTION, "matmul dbias");
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_embedding (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  int C = 64, V = 50, T = 12;
  gsize w_bytes = 0;
  g_autofree guint8 *wdata = random_weight (TAILOR_TYPE_Q8_0, C, V, 9, &w_bytes);
  TailorGgufTensor wref = gguf_tensor (TAILOR_TYPE_Q8_0, C, V, wdata, w_bytes);
  gint32 tokens[12] = { 3, 0, 49, 7, 7, 12, 30, 3, 1, 2, 48, 7 };
  g_autofree float *dout = random_floats ((gsize) T * C, 1.0f, 10);
  g_autofree float *demb0 = random_floats ((gsize) V * C, 1.0f, 11);
  g_autofree float *want = g_new (float, (gsize) T * C);
  g_autofree float *want_d = g_memdup2 (demb0, sizeof (float) * V * C);
  g_autofree float *got = NULL;
  g_autofree float *got_d = NULL;
  TailorTensor ts[5];

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, C, T, NULL);
  ts[1] = tensor_new (b, TAILOR_TYPE_Q8_0, C, V, wdata);
  ts[2] = tensor_new (b, TAILOR_TYPE_I32, T, 1, tokens);
  ts[3] = tensor_new (b, TAILOR_TYPE_F32, C, V, demb0);
  ts[4] = tensor_new (b, TAILOR_TYPE_F32, C, T, dout);
  tailor_op_embedding (g, &ts[0], &ts[1], &ts[2]);
  tailor_op_embedding_backward (g, &ts[3], &ts[4], &ts[2]);
  submit (g);
  got = download (&ts[0]);
  got_d = download (&ts[3]);
  tailor_ref_embedding_forward (want, &wref, tokens, T, C);
  tailor_ref_embedding_backward (want_d, dout, tokens, T, C);
  assert_close (got, want, (gsize) T * C, TOL_ELEMENTWISE, "embedding");
  assert_close (got_d, want_d, (gsize) V * C, TOL_ELEMENTWISE, "embedding backward");
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_embedding_rejects_bad_token (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  g_autoptr (GError) error = NULL;
  gint32 tokens[2] = { 1, 50 };
  TailorTensor ts[3];

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, 32, 2, NULL);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, 32, 50, NULL);
  ts[2] = tensor_new (b, TAILOR_TYPE_I32, 2, 1, tokens);
  tailor_op_embedding (g, &ts[0], &ts[1], &ts[2]);
  g_assert_false (tailor_graph_submit (g, &error));
  g_assert_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "embedding"));
  g_assert_nonnull (strstr (error->message, "50"));
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_rmsnorm (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  int T = 11, C = 96;
  float eps = 1e-5f;
  g_autofree float *x = random_floats ((gsize) T * C, 2.0f, 12);
  g_autofree float *w = random_floats (C, 1.0f, 13);
  g_autofree float *dy = random_floats ((gsize) T * C, 1.0f, 14);
  g_autofree float *dx0 = random_floats ((gsize) T * C, 1.0f, 15);
  g_autofree float *dw0 = random_floats (C, 1.0f, 16);
  g_autofree float *want = g_new (float, (gsize) T * C);
  g_autofree float *want_rstd = g_new (float, T);
  g_autofree float *want_dx = g_memdup2 (dx0, sizeof (float) * T * C);
  g_autofree float *want_dw = g_memdup2 (dw0, sizeof (float) * C);
  g_autofree float *got = NULL;
  g_autofree float *got_rstd = NULL;
  g_autofree float *got_dx = NULL;
  g_autofree float *got_dw = NULL;
  TailorTensor ts[7];
  int t;

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, C, T, NULL);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, T, 1, NULL);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, C, T, x);
  ts[3] = tensor_new (b, TAILOR_TYPE_F32, C, 1, w);
  ts[4] = tensor_new (b, TAILOR_TYPE_F32, C, T, dx0);
  ts[5] = tensor_new (b, TAILOR_TYPE_F32, C, 1, dw0);
  ts[6] = tensor_new (b, TAILOR_TYPE_F32, C, T, dy);
  tailor_op_rmsnorm (g, &ts[0], &ts[1], &ts[2], &ts[3], eps);
  tailor_op_rmsnorm_backward (g, &ts[4], &ts[5], &ts[6], &ts[2], &ts[3], eps);
  submit (g);
  got = download (&ts[0]);
  got_rstd = download (&ts[1]);
  got_dx = download (&ts[4]);
  got_dw = download (&ts[5]);

  tailor_ref_rmsnorm_forward (want, x, w, T, C, eps);
  tailor_ref_rmsnorm_backward (want_dx, want_dw, dy, x, w, T, C, eps);
  for (t = 0; t < T; t++)
    {
      double ss = 0.0;
      int i;

      for (i = 0; i < C; i++)
        ss += (double) x[t * C + i] * x[t * C + i];
      want_rstd[t] = (float) (1.0 / sqrt (ss / C + eps));
    }
  assert_close (got, want, (gsize) T * C, TOL_REDUCTION, "rmsnorm");
  assert_close (got_rstd, want_rstd, T, TOL_REDUCTION, "rmsnorm rstd");
  assert_close (got_dx, want_dx, (gsize) T * C, TOL_REDUCTION, "rmsnorm dinp");
  assert_close (got_dw, want_dw, C, TOL_REDUCTION, "rmsnorm dweight");
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_rope (void)
{
  static const TailorRopeType types[] = { TAILOR_ROPE_NORMAL, TAILOR_ROPE_NEOX };
  int T = 9, n_head = 3, hd = 16, n_rot = 12;
  gint32 pos[9] = { 0, 1, 2, 3, 10, 11, 100, 7, 5000 };
  float factors[6] = { 1.0f, 1.5f, 2.0f, 1.0f, 4.0f, 8.0f };
  guint k;

  for (k = 0; k < G_N_ELEMENTS (types) * 2; k++)
    {
      g_autoptr (TailorBackend) b = cpu_backend ();
      g_autoptr (TailorGraph) g = tailor_graph_new (b);
      TailorRopeType type = types[k % 2];
      gboolean with_factors = k >= 2;
      gsize n = (gsize) T * n_head * hd;
      g_autofree float *x = random_floats (n, 1.0f, 17 + k);
      g_autofree float *want_f = g_memdup2 (x, sizeof (float) * n);
      g_autofree float *want_b = g_memdup2 (x, sizeof (float) * n);
      g_autofree float *got_f = NULL;
      g_autofree float *got_b = NULL;
      TailorTensor ts[4];

      ts[0] = tensor_new (b, TAILOR_TYPE_F32, hd * n_head, T, x);
      ts[1] = tensor_new (b, TAILOR_TYPE_F32, hd * n_head, T, x);
      ts[2] = tensor_new (b, TAILOR_TYPE_I32, T, 1, pos);
      ts[3] = tensor_new (b, TAILOR_TYPE_F32, n_rot / 2, 1, factors);
      tailor_op_rope (g, &ts[0], &ts[2], n_head, hd, n_rot, 10000.0f, 0.5f,
                      with_factors ? &ts[3] : NULL, type, FALSE);
      tailor_op_rope (g, &ts[1], &ts[2], n_head, hd, n_rot, 10000.0f, 0.5f,
                      with_factors ? &ts[3] : NULL, type, TRUE);
      submit (g);
      got_f = download (&ts[0]);
      got_b = download (&ts[1]);
      tailor_ref_rope_forward (want_f, pos, T, n_head, hd, n_rot, 10000.0f, 0.5f,
                               with_factors ? factors : NULL, type);
      tailor_ref_rope_backward (want_b, pos, T, n_head, hd, n_rot, 10000.0f, 0.5f,
                                with_factors ? factors : NULL, type);
      assert_close (got_f, want_f, n, TOL_ELEMENTWISE, "rope");
      assert_close (got_b, want_b, n, TOL_ELEMENTWISE, "rope inverse");
      free_tensors (ts, G_N_ELEMENTS (ts));
    }
}

static void
check_attention (int T, int n_head, int n_head_kv, int hd)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  gsize nq = (gsize) T * n_head * hd;
  gsize nkv = (gsize) T * n_head_kv * hd;
  g_autofree float *q = random_floats (nq, 1.0f, 20);
  g_autofree float *k = random_floats (nkv, 1.0f, 21);
  g_autofree float *v = random_floats (nkv, 1.0f, 22);
  g_autofree float *dout = random_floats (nq, 1.0f, 23);
  g_autofree float *dq0 = random_floats (nq, 1.0f, 24);
  g_autofree float *dk0 = random_floats (nkv, 1.0f, 25);
  g_autofree float *dv0 = random_floats (nkv, 1.0f, 26);
  g_autofree float *want = g_new (float, nq);
  g_autofree float *want_lse = g_new (float, (gsize) n_head * T);
  g_autofree float *want_dq = g_memdup2 (dq0, sizeof (float) * nq);
  g_autofree float *want_dk = g_memdup2 (dk0, sizeof (float) * nkv);
  g_autofree float *want_dv = g_memdup2 (dv0, sizeof (float) * nkv);
  g_autofree float *got = NULL;
  g_autofree float *got_lse = NULL;
  g_autofree float *got_dq = NULL;
  g_autofree float *got_dk = NULL;
  g_autofree float *got_dv = NULL;
  g_autofree char *what = g_strdup_printf ("attention T %d, %d/%d heads of %d", T, n_head,
                                           n_head_kv, hd);
  float scale = 1.0f / sqrtf ((float) hd);
  TailorTensor ts[9];
  int h;
  int t;

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, n_head * hd, T, NULL);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, T, n_head, NULL);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, n_head * hd, T, q);
  ts[3] = tensor_new (b, TAILOR_TYPE_F32, n_head_kv * hd, T, k);
  ts[4] = tensor_new (b, TAILOR_TYPE_F32, n_head_kv * hd, T, v);
  ts[5] = tensor_new (b, TAILOR_TYPE_F32, n_head * hd, T, dq0);
  ts[6] = tensor_new (b, TAILOR_TYPE_F32, n_head_kv * hd, T, dk0);
  ts[7] = tensor_new (b, TAILOR_TYPE_F32, n_head_kv * hd, T, dv0);
  ts[8] = tensor_new (b, TAILOR_TYPE_F32, n_head * hd, T, dout);
  tailor_op_attention (g, &ts[0], &ts[1], &ts[2], &ts[3], &ts[4], n_head, n_head_kv, hd);
  tailor_op_attention_backward (g, &ts[5], &ts[6], &ts[7], &ts[8], &ts[0], &ts[1], &ts[2],
                                &ts[3], &ts[4], n_head, n_head_kv, hd);
  submit (g);
  got = download (&ts[0]);
  got_lse = download (&ts[1]);
  got_dq = download (&ts[5]);
  got_dk = download (&ts[6]);
  got_dv = download (&ts[7]);

  tailor_ref_attention_forward (want, q, k, v, T, 0, n_head, n_head_kv, hd);
  tailor_ref_attention_backward (want_dq, want_dk, want_dv, dout, q, k, v, T, n_head, n_head_kv,
                                 hd);
  /* lse (n_head, T): the natural log of Σ_j≤t exp(scale · q·k_j), the softmax's normaliser */
  for (h = 0; h < n_head; h++)
    for (t = 0; t < T; t++)
      {
        const float *qh = q + ((gsize) t * n_head + h) * hd;
        double sum = 0.0;
        int j;
        int d;

        for (j = 0; j <= t; j++)
          {
            const float *kj = k + ((gsize) j * n_head_kv + h / (n_head / n_head_kv)) * hd;
            double s = 0.0;

            for (d = 0; d < hd; d++)
              s += (double) qh[d] * kj[d];
            sum += exp (s * scale);
          }
        want_lse[(gsize) h * T + t] = (float) log (sum);
      }
  assert_close (got, want, nq, TOL_REDUCTION, what);
  assert_close (got_lse, want_lse, (gsize) n_head * T, TOL_REDUCTION, what);
  assert_close (got_dq, want_dq, nq, TOL_REDUCTION, what);
  assert_close (got_dk, want_dk, nkv, TOL_REDUCTION, what);
  assert_close (got_dv, want_dv, nkv, TOL_REDUCTION, what);
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_attention (void)
{
  check_attention (1, 2, 1, 8);
  check_attention (13, 4, 2, 16);
  check_attention (70, 6, 2, 32);   /* past one tile of keys */
  check_attention (130, 3, 3, 64);  /* several tiles, no grouping */
}

/* A prompt of n_prompt queries, then n_decode single queries resubmitting one graph: each
 * step's output is the reference's over the cache so far, and the caches hold exactly the
 * keys and values stored into them. */
static void
check_attention_cached (int n_ctx, int n_prompt, int n_decode, int n_head, int n_head_kv, int hd)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g_prompt = tailor_graph_new (b);
  g_autoptr (TailorGraph) g_step = tailor_graph_new (b);
  int n = n_prompt + n_decode;
  gsize q_width = (gsize) n_head * hd;
  gsize kv_width = (gsize) n_head_kv * hd;
  g_autofree float *q = random_floats (n * q_width, 1.0f, 30);
  g_autofree float *k = random_floats (n * kv_width, 1.0f, 31);
  g_autofree float *v = random_floats (n * kv_width, 1.0f, 32);
  g_autofree float *want = g_new (float, n * q_width);
  g_autofree float *got_k = NULL;
  g_autofree float *got_v = NULL;
  g_autofree char *what = g_strdup_printf ("cached attention, %d + %d of %d positions, %d/%d "
                                           "heads of %d",
                                           n_prompt, n_decode, n_ctx, n_head, n_head_kv, hd);
  g_autofree gint32 *pos = g_new (gint32, n_prompt);
  TailorTensor ts[10];
  int t;

  for (t = 0; t < n_prompt; t++)
    pos[t] = t;
  ts[0] = tensor_new (b, TAILOR_TYPE_F32, q_width, n_prompt, NULL);  /* prompt out */
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, q_width, n_prompt, q);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, kv_width, n_prompt, k);
  ts[3] = tensor_new (b, TAILOR_TYPE_F32, kv_width, n_prompt, v);
  ts[4] = tensor_new (b, TAILOR_TYPE_F32, kv_width, n_ctx, NULL);    /* caches */
  ts[5] = tensor_new (b, TAILOR_TYPE_F32, kv_width, n_ctx, NULL);
  ts[6] = tensor_new (b, TAILOR_TYPE_I32, n_prompt, 1, pos);
  ts[7] = tensor_new (b, TAILOR_TYPE_F32, q_width, 3, NULL);         /* step out, q, k, v */
  ts[8] = tensor_new (b, TAILOR_TYPE_F32, kv_width, 2, NULL);
  ts[9] = tensor_new (b, TAILOR_TYPE_I32, 1, 1, NULL);
  {
    TailorTensor out1 = tailor_tensor_rows (&ts[7], 0, 1);
    TailorTensor q1 = tailor_tensor_rows (&ts[7], 1, 1);
    TailorTensor k1 = tailor_tensor_rows (&ts[8], 0, 1);
    TailorTensor v1 = tailor_tensor_rows (&ts[8], 1, 1);

    tailor_op_attention_cached (g_prompt, &ts[0], &ts[1], &ts[2], &ts[3], &ts[4], &ts[5], &ts[6],
                                n_head, n_head_kv, hd);
    tailor_op_attention_cached (g_step, &out1, &q1, &k1, &v1, &ts[4], &ts[5], &ts[9], n_head,
                                n_head_kv, hd);
    submit (g_prompt);
    {
      g_autofree float *got = download (&ts[0]);

      tailor_ref_attention_forward (want, q, k, v, n_prompt, 0, n_head, n_head_kv, hd);
      assert_close (got, want, n_prompt * q_width, TOL_REDUCTION, what);
    }
    for (t = n_prompt; t < n; t++)
      {
        g_autoptr (GError) error = NULL;
        g_autofree float *got = NULL;

        g_assert_true (tailor_tensor_upload (&q1, q + t * q_width, &error));
        g_assert_true (tailor_tensor_upload (&k1, k + t * kv_width, &error));
        g_assert_true (tailor_tensor_upload (&v1, v + t * kv_width, &error));
        g_assert_true (tailor_tensor_upload (&ts[9], &t, &error));
        g_assert_no_error (error);
        submit (g_step);
        got = download (&out1);
        tailor_ref_attention_forward (want, q + t * q_width, k, v, 1, t, n_head, n_head_kv, hd);
        assert_close (got, want, q_width, TOL_REDUCTION, what);
      }
  }
  got_k = download (&ts[4]);
  got_v = download (&ts[5]);
  g_assert_cmpmem (got_k, sizeof (float) * n * kv_width, k, sizeof (float) * n * kv_width);
  g_assert_cmpmem (got_v, sizeof (float) * n * kv_width, v, sizeof (float) * n * kv_width);
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_attention_cached (void)
{
  check_attention_cached (8, 3, 4, 2, 1, 8);
  check_attention_cached (96, 70, 9, 6, 2, 32); /* the prompt spans tiles of keys */
  check_attention_cached (40, 1, 20, 3, 3, 64); /* decoding alone, no grouping */
}

/* A position past the cache is an error naming the op, not a write outside it. */
static void
test_attention_cached_rejects_position_past_cache (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  g_autoptr (GError) error = NULL;
  gint32 pos[2] = { 7, 8 };
  TailorTensor ts[7];

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, 8, 2, NULL);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, 8, 2, NULL);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, 8, 2, NULL);
  ts[3] = tensor_new (b, TAILOR_TYPE_F32, 8, 2, NULL);
  ts[4] = tensor_new (b, TAILOR_TYPE_F32, 8, 8, NULL);
  ts[5] = tensor_new (b, TAILOR_TYPE_F32, 8, 8, NULL);
  ts[6] = tensor_new (b, TAILOR_TYPE_I32, 2, 1, pos);
  tailor_op_attention_cached (g, &ts[0], &ts[1], &ts[2], &ts[3], &ts[4], &ts[5], &ts[6], 1, 1, 8);
  g_assert_false (tailor_graph_submit (g, &error));
  g_assert_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "attention_cached"));
  g_assert_nonnull (strstr (error->message, "outside the cache of 8 positions"));
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_swiglu (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  gsize n = 7 * 129;
  g_autofree float *gate = random_floats (n, 3.0f, 30);
  g_autofree float *up = random_floats (n, 1.0f, 31);
  g_autofree float *dout = random_floats (n, 1.0f, 32);
  g_autofree float *dg0 = random_floats (n, 1.0f, 33);
  g_autofree float *du0 = random_floats (n, 1.0f, 34);
  g_autofree float *want = g_new (float, n);
  g_autofree float *want_dg = g_memdup2 (dg0, sizeof (float) * n);
  g_autofree float *want_du = g_memdup2 (du0, sizeof (float) * n);
  g_autofree float *got = NULL;
  g_autofree float *got_dg = NULL;
  g_autofree float *got_du = NULL;
  TailorTensor ts[6];

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, 129, 7, NULL);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, 129, 7, gate);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, 129, 7, up);
  ts[3] = tensor_new (b, TAILOR_TYPE_F32, 129, 7, dg0);
  ts[4] = tensor_new (b, TAILOR_TYPE_F32, 129, 7, du0);
  ts[5] = tensor_new (b, TAILOR_TYPE_F32, 129, 7, dout);
  tailor_op_swiglu (g, &ts[0], &ts[1], &ts[2]);
  tailor_op_swiglu_backward (g, &ts[3], &ts[4], &ts[5], &ts[1], &ts[2]);
  submit (g);
  got = download (&ts[0]);
  got_dg = download (&ts[3]);
  got_du = download (&ts[4]);
  tailor_ref_swiglu_forward (want, gate, up, 7, 129);
  tailor_ref_swiglu_backward (want_dg, want_du, dout, gate, up, 7, 129);
  assert_close (got, want, n, TOL_ELEMENTWISE, "swiglu");
  assert_close (got_dg, want_dg, n, TOL_ELEMENTWISE, "swiglu dgate");
  assert_close (got_du, want_du, n, TOL_ELEMENTWISE, "swiglu dup");
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
check_lora (float dropout)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  int T = 21, IC = 80, r = 8, OC = 56;
  float scale = 2.0f;
  gint32 seed = 1234;
  g_autofree float *x = random_floats ((gsize) T * IC, 1.0f, 40);
  g_autofree float *a = random_floats ((gsize) r * IC, 0.1f, 41);
  g_autofree float *bm = random_floats ((gsize) OC * r, 0.1f, 42);
  g_autofree float *out0 = random_floats ((gsize) T * OC, 1.0f, 43);
  g_autofree float *dout = random_floats ((gsize) T * OC, 1.0f, 44);
  g_autofree float *dx0 = random_floats ((gsize) T * IC, 1.0f, 45);
  g_autofree float *da0 = random_floats ((gsize) r * IC, 1.0f, 46);
  g_autofree float *db0 = random_floats ((gsize) OC * r, 1.0f, 47);
  g_autofree float *want = g_memdup2 (out0, sizeof (float) * T * OC);
  g_autofree float *want_xa = g_new (float, (gsize) T * r);
  g_autofree float *want_dx = g_memdup2 (dx0, sizeof (float) * T * IC);
  g_autofree float *want_da = g_memdup2 (da0, sizeof (float) * r * IC);
  g_autofree float *want_db = g_memdup2 (db0, sizeof (float) * OC * r);
  g_autofree float *got = NULL;
  g_autofree float *got_xa = NULL;
  g_autofree float *got_dx = NULL;
  g_autofree float *got_da = NULL;
  g_autofree float *got_db = NULL;
  TailorTensor ts[10];

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, OC, T, out0);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, r, T, NULL);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, IC, T, x);
  ts[3] = tensor_new (b, TAILOR_TYPE_F32, IC, r, a);
  ts[4] = tensor_new (b, TAILOR_TYPE_F32, r, OC, bm);
  ts[5] = tensor_new (b, TAILOR_TYPE_I32, 1, 1, &seed);
  ts[6] = tensor_new (b, TAILOR_TYPE_F32, IC, T, dx0);
  ts[7] = tensor_new (b, TAILOR_TYPE_F32, IC, r, da0);
  ts[8] = tensor_new (b, TAILOR_TYPE_F32, r, OC, db0);
  ts[9] = tensor_new (b, TAILOR_TYPE_F32, OC, T, dout);
  tailor_op_lora (g, &ts[0], &ts[1], &ts[2], &ts[3], &ts[4], scale, dropout, &ts[5]);
  tailor_op_lora_backward (g, &ts[6], &ts[7], &ts[8], &ts[9], &ts[2], &ts[1], &ts[3], &ts[4],
                           scale, dropout, &ts[5]);
  submit (g);
  got = download (&ts[0]);
  got_xa = download (&ts[1]);
  got_dx = download (&ts[6]);
  got_da = download (&ts[7]);
  got_db = download (&ts[8]);
  tailor_ref_lora_forward (want, want_xa, x, a, bm, scale, dropout, (guint32) seed, T, IC, r, OC);
  tailor_ref_lora_backward (want_dx, want_da, want_db, dout, x, want_xa, a, bm, scale, dropout,
                            (guint32) seed, T, IC, r, OC);
  assert_close (got, want, (gsize) T * OC, TOL_REDUCTION, "lora out");
  assert_close (got_xa, want_xa, (gsize) T * r, TOL_REDUCTION, "lora xa");
  assert_close (got_dx, want_dx, (gsize) T * IC, TOL_REDUCTION, "lora dinp");
  assert_close (got_da, want_da, (gsize) r * IC, TOL_REDUCTION, "lora da");
  assert_close (got_db, want_db, (gsize) OC * r, TOL_REDUCTION, "lora db");
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_lora (void)
{
  check_lora (0.0f);
  check_lora (0.25f);
}

static void
check_cross_entropy (TailorType type, int chunk)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  int T = 10, C = 64, V = 300;
  gsize w_bytes = 0;
  g_autofree guint8 *wdata = random_weight (type, C, V, 50, &w_bytes);
  TailorGgufTensor wref = gguf_tensor (type, C, V, wdata, w_bytes);
  g_autofree float *x = random_floats ((gsize) T * C, 1.0f, 51);
  g_autofree float *dx0 = random_floats ((gsize) T * C, 1.0f, 52);
  g_autofree float *dw0 = random_floats ((gsize) V * C, 1.0f, 53);
  gint32 targets[10] = { 0, 299, 5, 17, 100, 100, 250, 3, 42, 7 };
  float maskf[10] = { 1, 1, 0, 1, 1, 1, 0, 1, 1, 1 };
  guint8 mask[10];
  float dloss = 0.7f;
  float want_loss;
  g_autofree float *want_lse = g_new0 (float, T);
  g_autofree float *want_dx = g_memdup2 (dx0, sizeof (float) * T * C);
  g_autofree float *want_dw = g_memdup2 (dw0, sizeof (float) * V * C);
  g_autofree float *got_loss = NULL;
  g_autofree float *got_lse = NULL;
  g_autofree float *got_dx = NULL;
  g_autofree float *got_dw = NULL;
  TailorTensor ts[9];
  int t;

  for (t = 0; t < T; t++)
    mask[t] = maskf[t] != 0.0f;
  ts[0] = tensor_new (b, TAILOR_TYPE_F32, 1, 1, NULL);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, T, 1, NULL);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, C, T, x);
  ts[3] = tensor_new (b, type, C, V, wdata);
  ts[4] = tensor_new (b, TAILOR_TYPE_I32, T, 1, targets);
  ts[5] = tensor_new (b, TAILOR_TYPE_F32, T, 1, maskf);
  ts[6] = tensor_new (b, TAILOR_TYPE_F32, C, T, dx0);
  ts[7] = tensor_new (b, TAILOR_TYPE_F32, C, V, dw0);
  ts[8] = tensor_new (b, TAILOR_TYPE_F32, 1, 1, &dloss);
  tailor_op_cross_entropy (g, &ts[0], &ts[1], &ts[2], &ts[3], &ts[4], &ts[5], chunk);
  tailor_op_cross_entropy_backward (g, &ts[6], &ts[7], &ts[2], &ts[3], &ts[4], &ts[5], &ts[1],
                                    &ts[8], chunk);
  submit (g);
  got_loss = download (&ts[0]);
  got_lse = download (&ts[1]);
  got_dx = download (&ts[6]);
  got_dw = download (&ts[7]);

  want_loss = (float) tailor_ref_cross_entropy_forward (want_lse, x, &wref, targets, mask, T, C,
                                                        V, chunk);
  tailor_ref_cross_entropy_backward (want_dx, want_dw, x, &wref, targets, mask, want_lse, dloss,
                                     T, C, V, chunk);
  assert_close (got_loss, &want_loss, 1, TOL_REDUCTION, "cross-entropy loss");
  for (t = 0; t < T; t++)
    if (!mask[t])
      got_lse[t] = want_lse[t] = 0.0f; /* not defined for rows that do not count */
  assert_close (got_lse, want_lse, T, TOL_REDUCTION, "cross-entropy lse");
  assert_close (got_dx, want_dx, (gsize) T * C, TOL_REDUCTION, "cross-entropy dinp");
  assert_close (got_dw, want_dw, (gsize) V * C, TOL_REDUCTION, "cross-entropy dw");
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_cross_entropy (void)
{
  check_cross_entropy (TAILOR_TYPE_F32, 64);
  check_cross_entropy (TAILOR_TYPE_F32, 1000);
  check_cross_entropy (TAILOR_TYPE_Q8_0, 37);
  check_cross_entropy (TAILOR_TYPE_F16, 128);
}

static void
test_add_zero_grad_norm_adamw (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  gsize n1 = 300, n2 = 77;
  g_autofree float *p = random_floats (n1, 1.0f, 60);
  g_autofree float *g1 = random_floats (n1, 1.0f, 61);
  g_autofree float *g2 = random_floats (n2, 1.0f, 62);
  g_autofree float *m0 = random_floats (n1, 0.1f, 63);
  g_autofree float *v0 = g_new (float, n1);
  g_autofree float *sum = NULL;
  g_autofree float *got_p = NULL;
  g_autofree float *got_m = NULL;
  g_autofree float *got_v = NULL;
  g_autofree float *got_norm = NULL;
  g_autofree float *got_zero = NULL;
  g_autofree float *want_sum = g_new (float, n1);
  g_autofree float *want_p = g_memdup2 (p, sizeof (float) * n1);
  g_autofree float *want_m = g_memdup2 (m0, sizeof (float) * n1);
  g_autofree float *want_v = NULL;
  g_autofree float *clipped = g_memdup2 (g1, sizeof (float) * n1);
  g_autofree float *clipped2 = g_memdup2 (g2, sizeof (float) * n2);
  TailorAdamWHyper hyper = { 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 3.0f, 2.0f, 0.0f };
  float *grads[2] = { clipped, clipped2 };
  gsize sizes[2] = { n1, n2 };
  const TailorTensor *list[2];
  TailorTensor ts[9];
  double want_norm;
  float want_norm_sq;
  gsize i;

  for (i = 0; i < n1; i++)
    v0[i] = fabsf (g1[i]) * 0.01f;
  /* a parameter that has never had a gradient: √v̂ is 0 */
  g1[5] = clipped[5] = 0.0f;
  v0[5] = 0.0f;
  want_v = g_memdup2 (v0, sizeof (float) * n1);
  ts[0] = tensor_new (b, TAILOR_TYPE_F32, n1, 1, p);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, n1, 1, m0);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, n1, 1, v0);
  ts[3] = tensor_new (b, TAILOR_TYPE_F32, n1, 1, g1);
  ts[4] = tensor_new (b, TAILOR_TYPE_F32, n2, 1, g2);
  ts[5] = tensor_new (b, TAILOR_TYPE_F32, 8, 1, &hyper);
  ts[6] = tensor_new (b, TAILOR_TYPE_F32, 1, 1, NULL);
  ts[7] = tensor_new (b, TAILOR_TYPE_F32, n1, 1, NULL);
  ts[8] = tensor_new (b, TAILOR_TYPE_F32, n2, 1, g2);
  list[0] = &ts[3];
  list[1] = &ts[4];
  tailor_op_add (g, &ts[7], &ts[0], &ts[3]);
  tailor_op_grad_norm_sq (g, &ts[6], list, 2);
  tailor_op_adamw (g, &ts[0], &ts[1], &ts[2], &ts[3], &ts[5], &ts[6]);
  tailor_op_zero (g, &ts[8]);
  submit (g);
  sum = download (&ts[7]);
  got_p = download (&ts[0]);
  got_m = download (&ts[1]);
  got_v = download (&ts[2]);
  got_norm = download (&ts[6]);
  got_zero = download (&ts[8]);

  for (i = 0; i < n1; i++)
    want_sum[i] = p[i] + g1[i];
  assert_close (sum, want_sum, n1, TOL_ELEMENTWISE, "add");
  for (i = 0; i < n2; i++)
    g_assert_cmpfloat (got_zero[i], ==, 0.0f);
  want_norm = tailor_ref_clip_grad_norm (grads, sizes, 2, hyper.max_grad_norm);
  want_norm_sq = (float) (want_norm * want_norm);
  g_assert_cmpfloat (want_norm, >, hyper.max_grad_norm); /* the clipping path runs */
  assert_close (got_norm, &want_norm_sq, 1, TOL_REDUCTION, "grad_norm_sq");
  tailor_ref_adamw_update (want_p, want_m, want_v, clipped, n1, hyper.lr, hyper.beta1,
                           hyper.beta2, hyper.eps, hyper.weight_decay, (int) hyper.step);
  assert_close (got_m, want_m, n1, TOL_OPTIMIZER, "adamw m");
  assert_close (got_v, want_v, n1, TOL_OPTIMIZER, "adamw v");
  assert_close (got_p, want_p, n1, TOL_OPTIMIZER, "adamw param");
  free_tensors (ts, G_N_ELEMENTS (ts));
}

/* ---- graphs, views, errors, memory ---- */

static void
test_resubmit_reads_new_inputs (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  int T = 5, IC = 64, OC = 24;
  gsize w_bytes = 0;
  g_autofree guint8 *wdata = random_weight (TAILOR_TYPE_Q8_0, IC, OC, 70, &w_bytes);
  TailorGgufTensor wref = gguf_tensor (TAILOR_TYPE_Q8_0, IC, OC, wdata, w_bytes);
  TailorTensor ts[3];
  int round;

  ts[0] = tensor_new (b, TAILOR_TYPE_Q8_0, IC, OC, wdata);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, IC, T, NULL);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, OC, T, NULL);
  tailor_op_matmul (g, &ts[2], &ts[1], &ts[0], NULL);
  tailor_graph_set_profiling (g, TRUE);
  for (round = 0; round < 3; round++)
    {
      g_autofree float *x = random_floats ((gsize) T * IC, 1.0f, 71 + round);
      g_autofree float *want = g_new (float, (gsize) T * OC);
      g_autofree float *got = NULL;
      g_autoptr (GError) error = NULL;

      g_assert_true (tailor_tensor_upload (&ts[1], x, &error));
      g_assert_no_error (error);
      submit (g);
      got = download (&ts[2]);
      tailor_ref_matmul_forward (want, x, &wref, NULL, T, IC, OC);
      assert_close (got, want, (gsize) T * OC, TOL_REDUCTION, "resubmitted matmul");
      g_assert_nonnull (g_hash_table_lookup (tailor_graph_get_timings (g), "matmul"));
    }
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_row_views (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  g_autoptr (GError) error = NULL;
  int T = 8, C = 16;
  g_autofree float *x = random_floats ((gsize) T * C, 1.0f, 80);
  g_autofree float *w = random_floats (C, 1.0f, 81);
  g_autofree float *out = NULL;
  g_autofree float *part = g_new (float, 3 * C);
  g_autofree float *want = g_new (float, 3 * C);
  g_autofree float *ones = g_new (float, 2 * C);
  g_autofree float *back = NULL;
  TailorTensor ts[3];
  TailorTensor in_rows;
  TailorTensor out_rows;
  TailorTensor up_rows;
  int i;

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, C, T, x);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, C, 1, w);
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, C, T, NULL);
  in_rows = tailor_tensor_rows (&ts[0], 2, 3);
  out_rows = tailor_tensor_rows (&ts[2], 4, 3);
  g_assert_cmpint (in_rows.ne[1], ==, 3);
  g_assert_cmpuint (in_rows.offset, ==, 2 * C * sizeof (float));
  g_assert_cmpuint (tailor_tensor_n_bytes (&in_rows), ==, 3 * C * sizeof (float));
  tailor_op_rmsnorm (g, &out_rows, NULL, &in_rows, &ts[1], 1e-6f);
  submit (g);
  out = download (&ts[2]);
  tailor_ref_rmsnorm_forward (want, x + 2 * C, w, 3, C, 1e-6f);
  for (i = 0; i < T * C; i++)
    if (i < 4 * C || i >= 7 * C)
      g_assert_cmpfloat (out[i], ==, 0.0f); /* rows outside the view stay untouched */
  assert_close (out + 4 * C, want, 3 * C, TOL_REDUCTION, "rmsnorm over row views");
  g_assert_true (tailor_tensor_download (&out_rows, part, &error));
  g_assert_no_error (error);
  assert_close (part, want, 3 * C, TOL_REDUCTION, "download of a row view");

  /* uploads to a view write only its rows */
  for (i = 0; i < 2 * C; i++)
    ones[i] = 1.0f;
  up_rows = tailor_tensor_rows (&ts[0], 6, 2);
  g_assert_true (tailor_tensor_upload (&up_rows, ones, &error));
  g_assert_no_error (error);
  back = download (&ts[0]);
  g_assert_cmpmem (back, sizeof (float) * 6 * C, x, sizeof (float) * 6 * C);
  for (i = 6 * C; i < 8 * C; i++)
    g_assert_cmpfloat (back[i], ==, 1.0f);
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_shape_errors_name_op_and_dims (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  g_autoptr (TailorGraph) g2 = tailor_graph_new (b);
  g_autoptr (TailorGraph) g3 = tailor_graph_new (b);
  g_autoptr (GError) error = NULL;
  TailorTensor ts[5];

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, 576, 1536, NULL); /* W {IC 576, OC 1536} */
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, 512, 4, NULL);    /* inp with 512 columns */
  ts[2] = tensor_new (b, TAILOR_TYPE_F32, 1536, 4, NULL);
  ts[3] = tensor_new (b, TAILOR_TYPE_I32, 4, 1, NULL);
  ts[4] = tensor_new (b, TAILOR_TYPE_F32, 576, 4, NULL);

  tailor_op_zero (g, &ts[2]);
  tailor_op_matmul (g, &ts[2], &ts[1], &ts[0], NULL);
  g_assert_false (tailor_graph_submit (g, &error));
  g_assert_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "op 1 (matmul)"));
  g_assert_nonnull (strstr (error->message, "512"));
  g_assert_nonnull (strstr (error->message, "576"));
  g_clear_error (&error);

  /* a wrong type is named too */
  tailor_op_swiglu (g2, &ts[4], &ts[4], &ts[3]);
  g_assert_false (tailor_graph_submit (g2, &error));
  g_assert_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "swiglu"));
  g_assert_nonnull (strstr (error->message, "I32"));
  g_clear_error (&error);

  /* rows that do not match between out and inp */
  tailor_op_rmsnorm (g3, &ts[2], NULL, &ts[4], &ts[4], 1e-5f);
  g_assert_false (tailor_graph_submit (g3, &error));
  g_assert_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "rmsnorm"));
  g_assert_nonnull (strstr (error->message, "1536"));
  free_tensors (ts, G_N_ELEMENTS (ts));
}

static void
test_memory_accounting (void)
{
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (GError) error = NULL;
  TailorBuf *b1;
  TailorBuf *b2;
  TailorTensor t;
  gint64 ne[2] = { 64, 10 };

  g_assert_cmpuint (tailor_backend_get_allocated (b), ==, 0);
  b1 = tailor_buf_new (b, 1000, &error);
  g_assert_no_error (error);
  b2 = tailor_buf_new (b, 3000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_buf_get_size (b2), ==, 3000);
  g_assert_cmpuint (tailor_backend_get_allocated (b), ==, 4000);
  tailor_buf_free (b2);
  g_assert_cmpuint (tailor_backend_get_allocated (b), ==, 1000);
  g_assert_cmpuint (tailor_backend_get_peak (b), >=, 4000);
  g_assert_true (tailor_tensor_alloc (b, TAILOR_TYPE_Q8_0, 2, ne, &t, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_tensor_n_bytes (&t), ==, 2 * 34 * 10);
  g_assert_cmpuint (tailor_backend_get_allocated (b), ==, 1000 + 680);
  tailor_buf_free (t.buf);
  tailor_buf_free (b1);
  g_assert_cmpuint (tailor_backend_get_allocated (b), ==, 0);

  /* a row length the type cannot hold is refused, naming it */
  ne[0] = 40;
  g_assert_false (tailor_tensor_alloc (b, TAILOR_TYPE_Q8_0, 2, ne, &t, &error));
  g_assert_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "Q8_0"));
}

/* A GGUF file in a fresh temporary folder holding a Q8_0 weight "wq" {IC, OC} and an F32
 * weight "wf" {IC, OC}, opened (mapped); the folder's path in *dir. */
static TailorGguf *
mapped_weights_file (int IC, int OC, char **dir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGgufWriter) writer = tailor_gguf_writer_new ();
  g_autofree char *path = NULL;
  gsize q_bytes = 0;
  gsize f_bytes = 0;
  guint8 *q = random_weight (TAILOR_TYPE_Q8_0, IC, OC, 71, &q_bytes);
  guint8 *f = random_weight (TAILOR_TYPE_F32, IC, OC, 72, &f_bytes);
  g_autoptr (GBytes) qb = g_bytes_new_take (q, q_bytes);
  g_autoptr (GBytes) fb = g_bytes_new_take (f, f_bytes);
  gint64 ne[2] = { IC, OC };
  TailorGguf *file;

  *dir = g_dir_make_tmp ("tailor-test-backend-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (*dir, "weights.gguf", NULL);
  g_assert_true (tailor_gguf_writer_add_tensor (writer, "wq", TAILOR_TYPE_Q8_0, 2, ne, qb, &error));
  g_assert_true (tailor_gguf_writer_add_tensor (writer, "wf", TAILOR_TYPE_F32, 2, ne, fb, &error));
  g_assert_true (tailor_gguf_writer_write (writer, path, &error));
  g_assert_no_error (error);
  file = tailor_gguf_open (path, &error);
  g_assert_no_error (error);
  g_assert_true (tailor_gguf_is_mapped (file));
  return file;
}

static void
remove_weights_file (char *dir)
{
  g_autofree char *path = g_build_filename (dir, "weights.gguf", NULL);

  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
  g_free (dir);
}

/* out = x · Wᵀ on the CPU backend. */
static float *
matmul_with (TailorBackend *b, const TailorTensor *w, const float *x, int T)
{
  g_autoptr (TailorGraph) g = tailor_graph_new (b);
  TailorTensor ts[2];
  float *y;

  ts[0] = tensor_new (b, TAILOR_TYPE_F32, w->ne[0], T, x);
  ts[1] = tensor_new (b, TAILOR_TYPE_F32, w->ne[1], T, NULL);
  tailor_op_matmul (g, &ts[1], &ts[0], w, NULL);
  submit (g);
  y = download (&ts[1]);
  free_tensors (ts, G_N_ELEMENTS (ts));
  return y;
}

/* Weights from a mapped GGUF are read where the mapping has them: the backend owns no bytes
 * for them, keeps the file open after its opener lets go, refuses writes, and computes
 * exactly what a copy of the same blocks computes. */
static void
test_gguf_weights_read_in_place (void)
{
  const int T = 48;
  const int IC = 256;
  const int OC = 96;
  g_autoptr (TailorBackend) b = cpu_backend ();
  g_autoptr (GError) error = NULL;
  g_autofree float *x = random_floats ((gsize) T * IC, 1.0f, 73);
  char *dir = NULL;
  TailorGguf *file = mapped_weights_file (IC, OC, &dir);
  const char *names[2] = { "wq", "wf" };
  TailorTensor in_place[2];
  TailorTensor copied[2];
  guint i;

  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const TailorGgufTensor *src = tailor_gguf_find_tensor (file, names[i]);
      TailorGgufTensor by_hand = gguf_tensor (src->type, IC, OC, src->data, src->n_bytes);
      guint64 before = tailor_backend_get_allocated (b);
      g_autofree guint8 *bytes = NULL;

      g_assert_true (tailor_tensor_alloc_from_gguf (b, src, &in_place[i], &error));
      g_assert_no_error (error);
      g_assert_cmpuint (tailor_backend_get_allocated (b), ==, before);
      g_assert_cmpuint (tailor_tensor_n_bytes (&in_place[i]), ==, src->n_bytes);

      /* a tensor outside any file is copied and counted */
      g_assert_null (by_hand.file);
      g_assert_true (tailor_tensor_alloc_from_gguf (b, &by_hand, &copied[i], &error));
      g_assert_no_error (error);
      g_assert_cmpuint (tailor_backend_get_allocated (b), ==, before + src->n_bytes);

      bytes = g_malloc (src->n_bytes);
      g_assert_true (tailor_tensor_download (&in_place[i], bytes, &error));
      g_assert_cmpmem (bytes, src->n_bytes, src->data, src->n_bytes);

      g_assert_false (tailor_tensor_upload (&in_place[i], bytes, &error));
      g_assert_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, "model file"));
      g_clear_error (&error);
    }

  /* the tensors hold the mapping now: the opener's reference can go */
  tailor_gguf_unref (file);
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree float *want = matmul_with (b, &copied[i], x, T);
      g_autofree float *got = matmul_with (b, &in_place[i], x, T);

      g_assert_cmpmem (got, sizeof (float) * T * OC, want, sizeof (float) * T * OC);
      tailor_buf_free (copied[i].buf);
    }
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    tailor_buf_free (in_place[i].buf);
  g_assert_cmpuint (tailor_backend_get_allocated (b), ==, 0);
  remove_weights_file (dir);
}

/* Releasing a tensor's pages after copying it loses nothing: a mapped file reads the same
 * bytes again, and a file held in memory is left alone (its memory is the only copy). */
static void
test_gguf_release_pages_keeps_data (void)
{
  const int IC = 1024;
  const int OC = 64;
  g_autoptr (GError) error = NULL;
  char *dir = NULL;
  g_autoptr (TailorGguf) file = mapped_weights_file (IC, OC, &dir);
  g_autofree char *path = g_build_filename (dir, "weights.gguf", NULL);
  g_autoptr (GBytes) contents = NULL;
  g_autoptr (TailorGguf) in_memory = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;
  const char *names[2] = { "wq", "wf" };
  guint i;

  g_assert_true (g_file_get_contents (path, &text, &len, &error));
  g_assert_no_error (error);
  contents = g_bytes_new_take (g_steal_pointer (&text), len);
  in_memory = tailor_gguf_new_from_bytes (contents, "weights in memory", &error);
  g_assert_no_error (error);
  g_assert_false (tailor_gguf_is_mapped (in_memory));

  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const TailorGgufTensor *mapped = tailor_gguf_find_tensor (file, names[i]);
      const TailorGgufTensor *held = tailor_gguf_find_tensor (in_memory, names[i]);
      g_autofree guint8 *before = g_memdup2 (mapped->data, mapped->n_bytes);

      g_assert_cmpuint (mapped->n_bytes, >, 4 * 4096);
      g_assert_true (mapped->file == file);
      tailor_gguf_release_pages (file, mapped->data, mapped->n_bytes);
      g_assert_cmpmem (mapped->data, mapped->n_bytes, before, mapped->n_bytes);
      tailor_gguf_release_pages (in_memory, held->data, held->n_bytes);
      g_assert_cmpmem (held->data, held->n_bytes, before, mapped->n_bytes);
    }
  g_clear_pointer (&file, tailor_gguf_unref);
  remove_weights_file (dir);
}

/* This process's resident file-backed memory in KiB (RssFile of /proc/self/status). */
static gint64
rss_file_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  line = strstr (status, "RssFile:");
  g_assert_nonnull (line);
  return g_ascii_strtoll (line + strlen ("RssFile:"), NULL, 10);
}

/* A backend that copies a weight out of a mapped file (Vulkan) gives the file's pages back, so
 * the weight is not resident twice; the copy and the file still hold the same bytes. */
static void
test_device_upload_releases_file_pages (void)
{
  const int IC = 1024;
  const int OC = 4096;
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorBackend) b = tailor_backend_new ("vulkan", &error);
  g_autoptr (TailorGguf) file = NULL;
  g_autofree guint8 *back = NULL;
  const TailorGgufTensor *src;
  TailorTensor w = { 0 };
  char *dir = NULL;
  volatile guint8 sum = 0;
  gint64 before, after;

  if (b == NULL)
    {
      g_test_skip ("no Vulkan device");
      return;
    }
  file = mapped_weights_file (IC, OC, &dir);
  src = tailor_gguf_find_tensor (file, "wf");
  g_assert_cmpuint (src->n_bytes, ==, (gsize) IC * OC * 4);
  /* every page of the tensor resident, as after reading the file */
  for (gsize i = 0; i < src->n_bytes; i += 4096)
    sum += ((const guint8 *) src->data)[i];
  before = rss_file_kib ();
  g_assert_true (tailor_tensor_alloc_from_gguf (b, src, &w, &error));
  g_assert_no_error (error);
  after = rss_file_kib ();
  g_assert_cmpint (before - after, >=, (gint64) src->n_bytes / 1024 * 9 / 10);

  back = g_malloc (src->n_bytes);
  g_assert_true (tailor_tensor_download (&w, back, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (back, src->n_bytes, src->data, src->n_bytes);
  tailor_buf_free (w.buf);
  g_clear_pointer (&file, tailor_gguf_unref);
  remove_weights_file (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/backend/device/names-cpu-and-rejects-unknown", test_device_names);
  g_test_add_func ("/backend/device/auto-skips-cpu-vulkan", test_auto_skips_cpu_vulkan);
  g_test_add_func ("/backend/cpu/matmul-matches-reference-every-type", test_matmul_every_type);
  g_test_add_func ("/backend/cpu/matmul-backward-weight-matches-reference",
                   test_matmul_backward_weight);
  g_test_add_func ("/backend/cpu/embedding-matches-reference", test_embedding);
  g_test_add_func ("/backend/cpu/embedding-rejects-token-outside-vocabulary",
                   test_embedding_rejects_bad_token);
  g_test_add_func ("/backend/cpu/rmsnorm-matches-reference", test_rmsnorm);
  g_test_add_func ("/backend/cpu/rope-matches-reference", test_rope);
  g_test_add_func ("/backend/cpu/attention-matches-reference", test_attention);
  g_test_add_func ("/backend/cpu/attention-cached-matches-reference-step-by-step",
                   test_attention_cached);
  g_test_add_func ("/backend/cpu/attention-cached-rejects-position-past-cache",
                   test_attention_cached_rejects_position_past_cache);
  g_test_add_func ("/backend/cpu/swiglu-matches-reference", test_swiglu);
  g_test_add_func ("/backend/cpu/lora-matches-reference", test_lora);
  g_test_add_func ("/backend/cpu/cross-entropy-matches-reference", test_cross_entropy);
  g_test_add_func ("/backend/cpu/add-zero-grad-norm-adamw-match-reference",
                   test_add_zero_grad_norm_adamw);
  g_test_add_func ("/backend/graph/resubmit-reads-new-inputs", test_resubmit_reads_new_inputs);
  g_test_add_func ("/backend/tensor/row-views-read-and-write-only-their-rows", test_row_views);
  g_test_add_func ("/backend/graph/shape-errors-name-op-and-dims",
                   test_shape_errors_name_op_and_dims);
  g_test_add_func ("/backend/memory/allocated-and-peak", test_memory_accounting);
  g_test_add_func ("/backend/memory/gguf-weights-read-in-place-not-copied",
                   test_gguf_weights_read_in_place);
  g_test_add_func ("/backend/memory/gguf-release-pages-keeps-data",
                   test_gguf_release_pages_keeps_data);
  g_test_add_func ("/backend/memory/device-upload-releases-file-pages",
                   test_device_upload_releases_file_pages);
  return g_test_run ();
}
