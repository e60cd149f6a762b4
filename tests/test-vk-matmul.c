/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Vulkan matmuls over every weight type, both kernel families, against the CPU reference. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-cpu-ref.h"
#include "tailor-vk-matmul.h"

#define SECOND G_GUINT64_CONSTANT (1000000000)

static const TailorType types[] = {
  TAILOR_TYPE_F32,  TAILOR_TYPE_F16,  TAILOR_TYPE_BF16, TAILOR_TYPE_Q4_0,
  TAILOR_TYPE_Q4_1, TAILOR_TYPE_Q5_0, TAILOR_TYPE_Q5_1, TAILOR_TYPE_Q8_0,
  TAILOR_TYPE_Q4_K, TAILOR_TYPE_Q5_K, TAILOR_TYPE_Q6_K,
};

/* One context for the whole program, so pipelines made by one test are reused by the next. */
static TailorVkContext *ctx;

static gboolean
have_context (void)
{
  if (ctx == NULL)
    g_test_skip ("no Vulkan device");
  return ctx != NULL;
}

static void
assert_no_validation_messages (void)
{
  g_auto (GStrv) messages = tailor_vk_context_get_messages (ctx);

  for (guint i = 0; messages[i] != NULL; i++)
    g_test_message ("validation: %s", messages[i]);
  g_assert_cmpuint (g_strv_length (messages), ==, 0);
}

static float *
random_floats (GRand *rand, gsize n)
{
  float *v = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rand, -1, 1);
  return v;
}

static TailorVkBuffer *
upload (const float *data, gsize n, const char *name)
{
  g_autoptr (GError) error = NULL;
  TailorVkBuffer *buffer = tailor_vk_buffer_new (ctx, MAX (n, 4) * 4, name, &error);

  g_assert_no_error (error);
  tailor_vk_buffer_upload (buffer, 0, data, n * 4, &error);
  g_assert_no_error (error);
  return buffer;
}

static float *
download (TailorVkBuffer *buffer, gsize n)
{
  g_autoptr (GError) error = NULL;
  float *v = g_new (float, n);

  tailor_vk_buffer_download (buffer, 0, v, n * 4, &error);
  g_assert_no_error (error);
  return v;
}

/* A random weight (OC, IC) quantized with the reference quantizer, as a GGUF tensor. */
typedef struct
{
  TailorGgufTensor tensor;
  guint8 *data;
  float *dense; /* dequantized with tailor_dequantize_row */
} Weight;

static void
weight_init (Weight *w, GRand *rand, TailorType type, int IC, int OC)
{
  gsize row_bytes = tailor_type_row_size (type, IC);
  g_autofree float *row = NULL;

  g_assert_cmpuint (row_bytes, >, 0);
  w->data = g_malloc ((gsize) OC * row_bytes);
  w->dense = g_new (float, (gsize) OC *IC);
  for (int o = 0; o < OC; o++)
    {
      row = random_floats (rand, IC);
      tailor_quantize_row (type, row, w->data + (gsize) o * row_bytes, IC);
      tailor_dequantize_row (type, w->data + (gsize) o * row_bytes, w->dense + (gsize) o * IC, IC);
      g_clear_pointer (&row, g_free);
    }
  w->tensor = (TailorGgufTensor){
    .name = "blk.0.test.weight",
    .n_dims = 2,
    .ne = { IC, OC, 1, 1 },
    .type = type,
    .n_elements = (gint64) IC * OC,
    .n_bytes = (gsize) OC * row_bytes,
    .data = w->data,
  };
}

static void
weight_clear (Weight *w)
{
  g_free (w->data);
  g_free (w->dense);
}

/* The Vulkan result and the CPU reference are both fp32 sums of R products in some order, each
 * within γ_R·Σ|a_k w_k| of the exact sum (γ_R ≈ R·2⁻²⁴); the shader's dequantization may round
 * once more (a fused multiply-add) than the CPU's. So they may differ by
 * 2·(R + 72)·2⁻²⁴·(Σ|a_k w_k| + |bias| + |initial value|); an indexing or tile-edge mistake
 * is off by at least a whole product. */
static void
assert_close (
  const char *what, const float *got, const float *want, const double *bound, gsize n, guint R)
{
  double eps = 2.0 * (R + 72) * ldexp (1.0, -24);

  for (gsize i = 0; i < n; i++)
    if (!(fabs ((double) got[i] - want[i]) <= eps * bound[i] + 1e-30))
      g_error ("%s: element %" G_GSIZE_FORMAT " = %.9g, CPU reference %.9g (bound %.3g)", what, i,
               got[i], want[i], eps * bound[i]);
}

/* The packing scratch the kernels ask for (NULL when they read the operand in place), filled
 * with NaNs so that a packing pass that missed a texel shows in the results. */
static TailorVkBuffer *
pack_buffer (TailorVkMatmulDirection direction, TailorType type, int T, int IC, int OC)
{
  g_autoptr (GError) error = NULL;
  guint64 n = tailor_vk_matmul_pack_floats (ctx, direction, type, T, IC, OC);
  g_autofree float *nans = NULL;

  if (n == 0)
    return NULL;
  nans = g_new (float, n);
  for (guint64 i = 0; i < n; i++)
    nans[i] = NAN;
  return upload (nans, n, "packed");
}

/* Y (+)= X · Wᵀ (+ bias), plus with rank > 0 a LoRA part scale · xa · Bᵀ. */
static void
check_forward (GRand *rand,
               TailorType type,
               int T,
               int IC,
               int OC,
               gboolean bias,
               gboolean acc,
               int rank)
{
  const float scale = 1.5f;
  g_autofree float *xa = random_floats (rand, (gsize) T * MAX (rank, 1));
  g_autofree float *lb = random_floats (rand, (gsize) OC * MAX (rank, 1));
  g_autoptr (TailorVkBuffer) xa_buf = upload (xa, (gsize) T * MAX (rank, 1), "xa");
  g_autoptr (TailorVkBuffer) lb_buf = upload (lb, (gsize) OC * MAX (rank, 1), "B");
  TailorVkLoraPart part = { &(TailorVkBufferRange){ xa_buf, 0, 0 },
                            &(TailorVkBufferRange){ lb_buf, 0, 0 }, (guint) rank, scale, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorVkWeight) vw = NULL;
  g_autoptr (TailorVkBuffer) x_buf = NULL;
  g_autoptr (TailorVkBuffer) y_buf = NULL;
  g_autoptr (TailorVkBuffer) b_buf = NULL;
  g_autoptr (TailorVkBuffer) pack_buf = NULL;
  g_autoptr (TailorVkRecorder) rec = NULL;
  g_autofree float *x = random_floats (rand, (gsize) T * IC);
  g_autofree float *b = random_floats (rand, OC);
  g_autofree float *y0 = random_floats (rand, (gsize) T * OC);
  g_autofree float *want = g_new (float, (gsize) T *OC);
  g_autofree double *bound = g_new (double, (gsize) T *OC);
  g_autofree float *got = NULL;
  g_autofree char *what =
    g_strdup_printf ("%s forward T=%d IC=%d OC=%d LoRA rank %d (%s)", tailor_type_name (type), T,
                     IC, OC, rank, g_getenv ("TAILOR_VK_MATMUL"));
  Weight w;

  weight_init (&w, rand, type, IC, OC);
  vw = tailor_vk_weight_upload (ctx, &w.tensor, &error);
  g_assert_no_error (error);
  x_buf = upload (x, (gsize) T * IC, "X");
  y_buf = upload (y0, (gsize) T * OC, "Y");
  b_buf = upload (b, OC, "bias");

  rec = tailor_vk_recorder_new (ctx, FALSE, &error);
  g_assert_no_error (error);
  pack_buf = pack_buffer (TAILOR_VK_MATMUL_FORWARD, type, T, IC, OC);
  tailor_vk_matmul (rec, &(TailorVkBufferRange){ y_buf, 0, 0 },
                    &(TailorVkBufferRange){ x_buf, 0, 0 },
                    pack_buf != NULL ? &(TailorVkBufferRange){ pack_buf, 0, 0 } : NULL, vw,
                    bias ? &(TailorVkBufferRange){ b_buf, 0, 0 } : NULL, T, acc,
                    rank > 0 ? &part : NULL, &error);
  g_assert_no_error (error);
  tailor_vk_recorder_run (rec, 60 * SECOND, &error);
  g_assert_no_error (error);
  got = download (y_buf, (gsize) T * OC);

  tailor_ref_matmul_forward (want, x, &w.tensor, bias ? b : NULL, T, IC, OC);
  for (int t = 0; t < T; t++)
    for (int o = 0; o < OC; o++)
      {
        gsize at = (gsize) t * OC + o;
        double s = 0;

        for (int k = 0; k < IC; k++)
          s += fabs ((double) x[(gsize) t * IC + k] * w.dense[(gsize) o * IC + k]);
        if (bias)
          s += fabs (b[o]);
        if (acc)
          {
            want[at] += y0[at];
            s += fabs (y0[at]);
          }
        for (int j = 0; j < rank; j++)
          {
            double p = (double) scale * xa[(gsize) t * rank + j] * lb[(gsize) o * rank + j];

            want[at] += (float) p;
            s += fabs (p);
          }
        bound[at] = s;
      }
  assert_close (what, got, want, bound, (gsize) T * OC, IC);
  weight_clear (&w);
}

/* dX (+)= dY · W, plus with rank > 0 a LoRA part drop ⊙ (dxa · A), dropout p. */
static void
check_backward_input (
  GRand *rand, TailorType type, int T, int IC, int OC, gboolean acc, int rank, float p)
{
  const guint32 seed = 4242;
  g_autofree float *dxa = random_floats (rand, (gsize) T * MAX (rank, 1));
  g_autofree float *la = random_floats (rand, (gsize) IC * MAX (rank, 1));
  g_autoptr (TailorVkBuffer) dxa_buf = upload (dxa, (gsize) T * MAX (rank, 1), "dxa");
  g_autoptr (TailorVkBuffer) la_buf = upload (la, (gsize) IC * MAX (rank, 1), "A");
  g_autoptr (TailorVkBuffer) seed_buf = upload ((const float *) &seed, 1, "seed");
  TailorVkDropout drop = { &(TailorVkBufferRange){ seed_buf, 0, 4 }, p };
  TailorVkLoraPart part = { &(TailorVkBufferRange){ dxa_buf, 0, 0 },
                            &(TailorVkBufferRange){ la_buf, 0, 0 }, (guint) rank, 1.0f,
                            p > 0.0f ? &drop : NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorVkWeight) vw = NULL;
  g_autoptr (TailorVkBuffer) dy_buf = NULL;
  g_autoptr (TailorVkBuffer) dx_buf = NULL;
  g_autoptr (TailorVkBuffer) pack_buf = NULL;
  g_autoptr (TailorVkRecorder) rec = NULL;
  g_autofree float *dy = random_floats (rand, (gsize) T * OC);
  g_autofree float *dx0 = random_floats (rand, (gsize) T * IC);
  g_autofree float *want = g_new0 (float, (gsize) T *IC);
  g_autofree double *bound = g_new (double, (gsize) T *IC);
  g_autofree float *got = NULL;
  g_autofree char *what =
    g_strdup_printf ("%s backward-input T=%d IC=%d OC=%d LoRA rank %d dropout %g (%s)",
                     tailor_type_name (type), T, IC, OC, rank, p, g_getenv ("TAILOR_VK_MATMUL"));
  Weight w;

  weight_init (&w, rand, type, IC, OC);
  vw = tailor_vk_weight_upload (ctx, &w.tensor, &error);
  g_assert_no_error (error);
  dy_buf = upload (dy, (gsize) T * OC, "dY");
  dx_buf = upload (dx0, (gsize) T * IC, "dX");

  rec = tailor_vk_recorder_new (ctx, FALSE, &error);
  g_assert_no_error (error);
  pack_buf = pack_buffer (TAILOR_VK_MATMUL_BACKWARD_INPUT, type, T, IC, OC);
  tailor_vk_matmul_backward_input (
    rec, &(TailorVkBufferRange){ dx_buf, 0, 0 }, &(TailorVkBufferRange){ dy_buf, 0, 0 },
    pack_buf != NULL ? &(TailorVkBufferRange){ pack_buf, 0, 0 } : NULL, vw, T, acc,
    rank > 0 ? &part : NULL, &error);
  g_assert_no_error (error);
  tailor_vk_recorder_run (rec, 60 * SECOND, &error);
  g_assert_no_error (error);
  got = download (dx_buf, (gsize) T * IC);

  if (acc)
    memcpy (want, dx0, (gsize) T * IC * 4);
  tailor_ref_matmul_backward (want, NULL, NULL, dy, NULL, &w.tensor, T, IC, OC);
  for (int t = 0; t < T; t++)
    for (int k = 0; k < IC; k++)
      {
        double s = acc ? fabs (dx0[(gsize) t * IC + k]) : 0;
        double l = 0;

        for (int o = 0; o < OC; o++)
          s += fabs ((double) dy[(gsize) t * OC + o] * w.dense[(gsize) o * IC + k]);
        for (int j = 0; j < rank; j++)
          l += (double) dxa[(gsize) t * rank + j] * la[(gsize) j * IC + k];
        if (rank > 0 && p > 0.0f)
          l *= tailor_ref_dropout_factor (seed, (guint32) (t * IC + k), p);
        want[(gsize) t * IC + k] += (float) l;
        bound[(gsize) t * IC + k] = s + fabs (l) + 1e-3;
      }
  assert_close (what, got, want, bound, (gsize) T * IC, OC);
  weight_clear (&w);
}

/* dw (OC, IC) += alpha · dyᵀ · drop (x), the weight gradient (alpha 1, no dropout) or a LoRA
 * matrix's (dropout p > 0 on x). */
static void
check_backward_weight (GRand *rand, int T, int IC, int OC, float alpha, float p)
{
  const guint32 seed = 977;
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorVkBuffer) dy_buf = NULL;
  g_autoptr (TailorVkBuffer) x_buf = NULL;
  g_autoptr (TailorVkBuffer) dw_buf = NULL;
  g_autoptr (TailorVkRecorder) rec = NULL;
  g_autofree float *dy = random_floats (rand, (gsize) T * OC);
  g_autofree float *x = random_floats (rand, (gsize) T * IC);
  g_autofree float *dw0 = random_floats (rand, (gsize) OC * IC);
  g_autofree float *want = g_memdup2 (dw0, (gsize) OC * IC * 4);
  g_autofree double *bound = g_new (double, (gsize) OC *IC);
  g_autofree float *got = NULL;
  g_autofree char *what =
    g_strdup_printf ("F32 backward-weight T=%d IC=%d OC=%d alpha %g dropout %g (%s)", T, IC, OC,
                     alpha, p, g_getenv ("TAILOR_VK_MATMUL"));
  g_autoptr (TailorVkBuffer) seed_buf = NULL;
  TailorVkDropout drop;

  dy_buf = upload (dy, (gsize) T * OC, "dY");
  x_buf = upload (x, (gsize) T * IC, "X");
  dw_buf = upload (dw0, (gsize) OC * IC, "dW");
  seed_buf = upload ((const float *) &seed, 1, "seed");
  drop = (TailorVkDropout){ &(TailorVkBufferRange){ seed_buf, 0, 4 }, p };

  rec = tailor_vk_recorder_new (ctx, FALSE, &error);
  g_assert_no_error (error);
  tailor_vk_matmul_backward_weight (rec, &(TailorVkBufferRange){ dw_buf, 0, 0 },
                                    &(TailorVkBufferRange){ dy_buf, 0, 0 },
                                    &(TailorVkBufferRange){ x_buf, 0, 0 }, T, IC, OC, alpha,
                                    p > 0.0f ? &drop : NULL, &error);
  g_assert_no_error (error);
  tailor_vk_recorder_run (rec, 60 * SECOND, &error);
  g_assert_no_error (error);
  got = download (dw_buf, (gsize) OC * IC);

  for (gsize i = 0; p > 0.0f && i < (gsize) T * IC; i++)
    x[i] *= tailor_ref_dropout_factor (seed, (guint32) i, p);
  for (int o = 0; o < OC; o++)
    for (int k = 0; k < IC; k++)
      {
        double s = 0.0, b = fabs (dw0[(gsize) o * IC + k]);

        for (int t = 0; t < T; t++)
          {
            s += (double) dy[(gsize) t * OC + o] * x[(gsize) t * IC + k];
            b += fabs (alpha * (double) dy[(gsize) t * OC + o] * x[(gsize) t * IC + k]);
          }
        want[(gsize) o * IC + k] = (float) (dw0[(gsize) o * IC + k] + alpha * s);
        bound[(gsize) o * IC + k] = b;
      }
  assert_close (what, got, want, bound, (gsize) OC * IC, T);
}

/* tailor_vk_matmul_dense over a plain fp32 W (OC, IC) at an offset in a larger buffer, scaled
 * by 0.5 and accumulated: forward and input gradient, in the family TAILOR_VK_MATMUL names. */
static void
check_dense (GRand *rand, int T, int IC, int OC)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorVkBuffer) w_buf = NULL;
  g_autoptr (TailorVkBuffer) in_buf = NULL;
  g_autoptr (TailorVkBuffer) out_buf = NULL;
  g_autoptr (TailorVkRecorder) rec = NULL;
  gsize w_off = 256;
  g_autofree float *w = random_floats (rand, (gsize) IC * OC);
  g_autofree float *x = random_floats (rand, (gsize) T * MAX (IC, OC));
  g_autofree float *y0 = random_floats (rand, (gsize) T * MAX (IC, OC));
  g_autofree float *want = g_new (float, (gsize) T *MAX (IC, OC));
  g_autofree double *bound = g_new (double, (gsize) T *MAX (IC, OC));

  w_buf = tailor_vk_buffer_new (ctx, w_off + (gsize) IC * OC * 4, "W", &error);
  g_assert_no_error (error);
  tailor_vk_buffer_upload (w_buf, w_off, w, (gsize) IC * OC * 4, &error);
  g_assert_no_error (error);
  for (int d = 0; d < 2; d++)
    {
      gboolean forward = d == 0;
      int R = forward ? IC : OC, N = forward ? OC : IC;
      g_autofree float *got = NULL;
      g_autofree char *what =
        g_strdup_printf ("dense %s T=%d IC=%d OC=%d (%s)", forward ? "forward" : "backward-input",
                         T, IC, OC, g_getenv ("TAILOR_VK_MATMUL"));

      g_clear_pointer (&in_buf, tailor_vk_buffer_free);
      g_clear_pointer (&out_buf, tailor_vk_buffer_free);
      g_clear_pointer (&rec, tailor_vk_recorder_free);
      in_buf = upload (x, (gsize) T * R, "in");
      out_buf = upload (y0, (gsize) T * N, "out");
      rec = tailor_vk_recorder_new (ctx, FALSE, &error);
      g_assert_no_error (error);
      tailor_vk_matmul_dense (
        rec, forward ? TAILOR_VK_MATMUL_FORWARD : TAILOR_VK_MATMUL_BACKWARD_INPUT,
        &(TailorVkBufferRange){ out_buf, 0, 0 }, &(TailorVkBufferRange){ in_buf, 0, 0 }, NULL,
        &(TailorVkBufferRange){ w_buf, w_off, 0 }, T, IC, OC, 0.5f, TRUE, NULL, &error);
      g_assert_no_error (error);
      tailor_vk_recorder_run (rec, 60 * SECOND, &error);
      g_assert_no_error (error);
      got = download (out_buf, (gsize) T * N);
      for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++)
          {
            double sum = 0, mag = 0;

            for (int k = 0; k < R; k++)
              {
                double p = (double) x[(gsize) t * R + k] *
                           (forward ? w[(gsize) n * IC + k] : w[(gsize) k * IC + n]);

                sum += p;
                mag += fabs (p);
              }
            want[(gsize) t * N + n] = (float) (0.5 * sum + y0[(gsize) t * N + n]);
            bound[(gsize) t * N + n] = 0.5 * mag + fabs (y0[(gsize) t * N + n]);
          }
      assert_close (what, got, want, bound, (gsize) T * N, R);
    }
}

/* Row lengths: ragged against the split-K lanes (K/4 not a multiple of 8) where the type
 * allows it, a whole number of super-blocks for K-quants. */
static int
row_length (TailorType type)
{
  switch ((int) type)
    {
      case TAILOR_TYPE_F32:
        return 52;
      case TAILOR_TYPE_F16:
      case TAILOR_TYPE_BF16:
        return 72;
      case TAILOR_TYPE_Q4_K:
      case TAILOR_TYPE_Q5_K:
      case TAILOR_TYPE_Q6_K:
        return 256;
      default:
        return 96;
    }
}

static void
run_family (const char *family, guint seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);

  if (!have_context ())
    return;
  g_setenv ("TAILOR_VK_MATMUL", family, TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      TailorType type = types[i];
      int IC = row_length (type);

      /* Ragged T and OC against 16- and 32-wide tiles, with bias, then accumulating. */
      check_forward (rand, type, 37, IC, 45, TRUE, FALSE, 0);
      check_forward (rand, type, 21, IC, 36, FALSE, TRUE, 0);
      check_backward_input (rand, type, 37, IC, 44, FALSE, 0, 0.0f);
      check_backward_input (rand, type, 19, IC, 20, TRUE, 0, 0.0f);
    }
  check_backward_weight (rand, 37, 52, 44, 1.0f, 0.0f);
  check_backward_weight (rand, 70, 96, 36, 1.0f, 0.0f);
  check_backward_weight (rand, 37, 52, 16, 2.0f, 0.0f);
  check_backward_weight (rand, 37, 52, 16, 2.0f, 0.2f);
  check_dense (rand, 37, 16, 44);
  g_setenv ("TAILOR_VK_MATMUL", "", TRUE);
  assert_no_validation_messages ();
}

/* Small split-K blocks stepping twice per iteration for every type (llvmpipe compiles them
 * several times faster than the default block; the reductions are long enough for both the
 * unrolled loop and the remainder), then the default block for F32 and a K-quant with
 * reductions that take the default eight-step loop and its remainder. */
static void
test_splitk_matches_cpu_reference (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (111);

  g_setenv ("TAILOR_VK_MATMUL_TILES", "4x8/2", TRUE);
  run_family ("splitk", 101);
  g_setenv ("TAILOR_VK_MATMUL_TILES", "", TRUE);
  if (ctx == NULL)
    return;
  g_setenv ("TAILOR_VK_MATMUL", "splitk", TRUE);
  /* Forwards over reductions of 896 and more read X packed on CPU devices, in blocks of the
   * kernel's rows: T = 37 leaves the last block ragged. Shorter reductions, matrix-vector
   * products and input gradients read in place. */
  if (tailor_vk_context_get_info (ctx)->type == TAILOR_VK_DEVICE_CPU)
    {
      g_assert_cmpuint (tailor_vk_matmul_pack_floats (ctx, TAILOR_VK_MATMUL_FORWARD,
                                                      TAILOR_TYPE_F32, 37, 900, 45),
                        >=, 37 * 900);
      g_assert_cmpuint (tailor_vk_matmul_pack_floats (ctx, TAILOR_VK_MATMUL_FORWARD,
                                                      TAILOR_TYPE_F32, 37, 308, 45),
                        ==, 0);
      g_assert_cmpuint (tailor_vk_matmul_pack_floats (ctx, TAILOR_VK_MATMUL_FORWARD,
                                                      TAILOR_TYPE_F32, 3, 900, 45),
                        ==, 0);
      /* The F32 input gradient over rows of 896 and more reads its weight transposed into
       * the scratch, then dY packed as the forward reads X past a reduction of 896; shorter
       * rows and other types read their weight in place. */
      g_assert_cmpuint (tailor_vk_matmul_pack_floats (ctx, TAILOR_VK_MATMUL_BACKWARD_INPUT,
                                                      TAILOR_TYPE_F32, 37, 900, 300),
                        >=, 900 * 300);
      g_assert_cmpuint (tailor_vk_matmul_pack_floats (ctx, TAILOR_VK_MATMUL_BACKWARD_INPUT,
                                                      TAILOR_TYPE_F32, 37, 900, 900),
                        >=, 900 * 900 + 37 * 900);
      g_assert_cmpuint (tailor_vk_matmul_pack_floats (ctx, TAILOR_VK_MATMUL_BACKWARD_INPUT,
                                                      TAILOR_TYPE_F32, 37, 44, 900),
                        ==, 0);
      g_assert_cmpuint (tailor_vk_matmul_pack_floats (ctx, TAILOR_VK_MATMUL_BACKWARD_INPUT,
                                                      TAILOR_TYPE_Q4_K, 37, 1024, 900),
                        ==, 0);
      g_assert_cmpuint (tailor_vk_matmul_pack_floats (ctx, TAILOR_VK_MATMUL_BACKWARD_INPUT,
                                                      TAILOR_TYPE_F16, 37, 2048, 2048),
                        >=, 2048 * 2048);
      g_assert_cmpuint (tailor_vk_matmul_pack_floats (ctx, TAILOR_VK_MATMUL_BACKWARD_INPUT,
                                                      TAILOR_TYPE_Q4_K, 37, 2048, 2048),
                        ==, 0);
    }
  check_forward (rand, TAILOR_TYPE_F32, 37, 900, 45, TRUE, FALSE, 0);
  check_forward (rand, TAILOR_TYPE_Q4_K, 37, 1024, 45, TRUE, FALSE, 0);
  check_backward_input (rand, TAILOR_TYPE_Q4_K, 37, 256, 300, TRUE, 0, 0.0f);
  /* From 64 rows the forward takes its big block (16 × 16 on llvmpipe), ragged on both
   * sides here. */
  check_forward (rand, TAILOR_TYPE_F32, 70, 900, 45, TRUE, FALSE, 0);
  /* The input gradient's default 8 × 32 block holds four 8-element chunks of F16 and BF16
   * rows (ragged at 72 columns). */
  check_backward_input (rand, TAILOR_TYPE_F16, 37, 72, 44, TRUE, 0, 0.0f);
  check_backward_input (rand, TAILOR_TYPE_BF16, 37, 72, 44, FALSE, 0, 0.0f);
  /* The F32 input gradient over its weight transposed (forced for 72 columns: the
   * transpose's last group of sixteen and the forward's 16-wide block both ragged), reading dY
   * packed past a reduction of 896 (900: the sixteen-step loop and its remainder), then from
   * 64 rows in the big block, then a weight whose transpose outgrows the device's
   * storage-buffer range and goes in bands (the last one 4 columns), then in place. */
  g_setenv ("TAILOR_VK_MATMUL_TRANSPOSE", "1", TRUE);
  check_backward_input (rand, TAILOR_TYPE_F32, 37, 72, 900, TRUE, 0, 0.0f);
  check_backward_input (rand, TAILOR_TYPE_F32, 70, 72, 300, FALSE, 0, 0.0f);
  g_setenv ("TAILOR_VK_MATMUL_TRANSPOSE", "", TRUE);
  {
    const TailorVkDeviceInfo *info = tailor_vk_context_get_info (ctx);
    guint OC = 8192, IC = (guint) ((guint64) info->max_storage_buffer_range / (OC * 4) + 4);

    if (IC >= 896 && IC <= 8192 && (guint64) IC * OC * 4 / 16 <= info->max_texel_buffer_elements)
      check_backward_input (rand, TAILOR_TYPE_F32, 5, (int) IC, (int) OC, FALSE, 0, 0.0f);
  }
  g_setenv ("TAILOR_VK_MATMUL_TRANSPOSE", "0", TRUE);
  check_backward_input (rand, TAILOR_TYPE_F32, 37, 72, 300, TRUE, 0, 0.0f);
  /* Every other type dequantized as it is transposed (by default from rows of 2048 or 4096). */
  g_setenv ("TAILOR_VK_MATMUL_TRANSPOSE", "1", TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    if (types[i] != TAILOR_TYPE_F32)
      check_backward_input (rand, types[i], 37, row_length (types[i]), 44, TRUE, 0, 0.0f);
  g_setenv ("TAILOR_VK_MATMUL_TRANSPOSE", "", TRUE);
  /* LoRA parts read in the same pass (CPU devices, lanes owning blocks): over a packed X with
   * a bias, over a K-quant's chunks in the big block, and in the input gradient, masked by
   * dropout or not. */
  if (tailor_vk_matmul_takes_lora (ctx, TAILOR_VK_MATMUL_FORWARD, 37))
    {
      check_forward (rand, TAILOR_TYPE_F32, 37, 900, 45, TRUE, FALSE, 8);
      check_forward (rand, TAILOR_TYPE_Q4_K, 70, 256, 45, FALSE, FALSE, 16);
      check_backward_input (rand, TAILOR_TYPE_Q4_K, 37, 256, 300, TRUE, 8, 0.0f);
      check_backward_input (rand, TAILOR_TYPE_Q4_K, 37, 256, 300, TRUE, 16, 0.2f);
      g_setenv ("TAILOR_VK_MATMUL_TRANSPOSE", "1", TRUE);
      check_backward_input (rand, TAILOR_TYPE_F32, 37, 72, 300, TRUE, 16, 0.2f);
      g_setenv ("TAILOR_VK_MATMUL_TRANSPOSE", "", TRUE);
    }
  /* The same product reading in place. */
  g_setenv ("TAILOR_VK_MATMUL_PACK", "0", TRUE);
  check_forward (rand, TAILOR_TYPE_F32, 37, 900, 45, FALSE, TRUE, 0);
  g_setenv ("TAILOR_VK_MATMUL_PACK", "", TRUE);
  g_setenv ("TAILOR_VK_MATMUL", "", TRUE);
  assert_no_validation_messages ();
}

/* The forward whose lanes split each block's reduction (GPUs' split-K form and the
 * matrix-vector path) past T = 4, with small blocks: the block walk and the closing reduction
 * do not depend on the type (every type's decoding is proven above), so three types cover it
 * at a third of the compile time. */
static void
test_splitk_split_forward_matches_cpu_reference (void)
{
  static const TailorType split_types[] = { TAILOR_TYPE_F32, TAILOR_TYPE_Q8_0, TAILOR_TYPE_Q6_K };
  g_autoptr (GRand) rand = g_rand_new_with_seed (121);

  if (!have_context ())
    return;
  g_setenv ("TAILOR_VK_MATMUL", "splitk", TRUE);
  g_setenv ("TAILOR_VK_MATMUL_FORWARD", "split", TRUE);
  g_setenv ("TAILOR_VK_MATMUL_TILES", "4x8/2", TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (split_types); i++)
    {
      int IC = row_length (split_types[i]);

      check_forward (rand, split_types[i], 37, IC, 45, TRUE, FALSE, 0);
      check_forward (rand, split_types[i], 21, IC, 36, FALSE, TRUE, 0);
    }
  g_setenv ("TAILOR_VK_MATMUL_TILES", "", TRUE);
  g_setenv ("TAILOR_VK_MATMUL_FORWARD", "", TRUE);
  g_setenv ("TAILOR_VK_MATMUL", "", TRUE);
  assert_no_validation_messages ();
}

static void
test_tiled_matches_cpu_reference (void)
{
  run_family ("tiled", 202);
}

/* T = 1 … 4 take the matrix-vector path whatever the family. */
static void
test_matvec_matches_cpu_reference (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (303);

  if (!have_context ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      int IC = row_length (types[i]);

      check_forward (rand, types[i], 1, IC, 45, TRUE, FALSE, 0);
      check_forward (rand, types[i], 3, IC, 40, FALSE, TRUE, 0);
      check_backward_input (rand, types[i], 1, IC, 44, FALSE, 0, 0.0f);
    }
  assert_no_validation_messages ();
}

static void
test_rejects_bad_shapes_and_types (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (404);
  g_autoptr (TailorVkWeight) vw = NULL;
  g_autoptr (TailorVkBuffer) buf = NULL;
  g_autoptr (TailorVkRecorder) rec = NULL;
  guint8 raw[84 * 2] = { 0 };
  Weight w;

  if (!have_context ())
    return;
  /* Q2_K has no kernel: a clear error naming what to do. */
  g_assert_null (tailor_vk_weight_upload_data (ctx, "blk.0.ffn_up.weight", TAILOR_TYPE_Q2_K, raw,
                                               256, 2, &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "blk.0.ffn_up.weight"));
  g_clear_error (&error);
  /* Rows of 6 F32 values cannot be read as 16-byte texels. */
  g_assert_null (tailor_vk_weight_upload_data (ctx, "odd", TAILOR_TYPE_F32, raw, 6, 2, &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID);
  g_clear_error (&error);

  /* The input gradient needs OC a multiple of 4; short ranges are refused. */
  weight_init (&w, rand, TAILOR_TYPE_Q8_0, 32, 6);
  vw = tailor_vk_weight_upload (ctx, &w.tensor, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_vk_weight_get_device_size (vw), >=, 6 * 32 + 6 * 8);
  buf = tailor_vk_buffer_new (ctx, 4096, "any", &error);
  g_assert_no_error (error);
  rec = tailor_vk_recorder_new (ctx, FALSE, &error);
  g_assert_no_error (error);
  g_assert_false (tailor_vk_matmul_backward_input (rec, &(TailorVkBufferRange){ buf, 0, 0 },
                                                   &(TailorVkBufferRange){ buf, 0, 0 }, NULL, vw,
                                                   2, FALSE, NULL, &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (tailor_vk_matmul (rec, &(TailorVkBufferRange){ buf, 0, 0 },
                                    &(TailorVkBufferRange){ buf, 0, 64 }, NULL, vw, NULL, 2,
                                    FALSE, NULL, &error));
  g_assert_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID);
  weight_clear (&w);
  assert_no_validation_messages ();
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
  g_autofree char *tmp = g_dir_make_tmp ("test-vk-matmul-XXXXXX", NULL);
  g_autofree char *cache = g_build_filename (tmp, "cache", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) infos = NULL;
  int status;

  /* One pipeline-cache dir for the run; the loader still finds drivers through XDG_DATA_DIRS. */
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  g_setenv ("TAILOR_VK_VALIDATION", "1", TRUE);
  g_unsetenv ("TAILOR_VK_DEVICE");
  g_unsetenv ("TAILOR_CACHE_DIR");
  g_unsetenv ("TAILOR_VK_MATMUL");
  g_unsetenv ("TAILOR_VK_MATMUL_TILES");
  g_unsetenv ("TAILOR_VK_MATMUL_FORWARD");
  g_unsetenv ("TAILOR_VK_MATMUL_PACK");
  g_test_init (&argc, &argv, NULL);

  infos = tailor_vk_enumerate_devices (&error);
  if (infos != NULL)
    {
      ctx = tailor_vk_context_new (&error);
      g_assert_no_error (error);
      g_assert_true (tailor_vk_context_get_validation (ctx));
    }

  g_test_add_func ("/vk-matmul/splitk/matches-cpu-reference", test_splitk_matches_cpu_reference);
  g_test_add_func ("/vk-matmul/splitk/split-forward-matches-cpu-reference",
                   test_splitk_split_forward_matches_cpu_reference);
  g_test_add_func ("/vk-matmul/tiled/matches-cpu-reference", test_tiled_matches_cpu_reference);
  g_test_add_func ("/vk-matmul/matvec/matches-cpu-reference", test_matvec_matches_cpu_reference);
  g_test_add_func ("/vk-matmul/rejects-bad-shapes-and-types", test_rejects_bad_shapes_and_types);
  status = g_test_run ();

  g_clear_pointer (&ctx, tailor_vk_context_free);
  remove_tree (tmp);
  return status;
}
