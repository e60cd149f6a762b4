/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tailor-cli bench: GFLOP/s of the quantized matmul against the BLAS sgemm ceiling, and
 * tokens/s, model-FLOP utilisation and memory of whole training steps on random-weight
 * models of real shapes, on either backend. */
#include "config.h"

#include <cblas.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tailor-backend.h"
#include "tailor-cli-bench.h"
#include "tailor-cli-private.h"
#include "tailor-run-config.h"
#include "tailor-cli-train.h"
#include "tailor-parallel.h"
#include "tailor-train.h"
#include "tailor-vk-kernels.h"
#include "tailor-vk-matmul.h"

/* Uniform values of standard deviation std (uniform on ±std·√3): cheap and reproducible. */
static void
fill_random (float *x, gsize n, float std, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  float a = std * 1.7320508f;
  gsize i;

  for (i = 0; i < n; i++)
    x[i] = a * (float) (2.0 * g_rand_double (rand) - 1.0);
}

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* Seconds of CPU this process has used (user + system, all threads). */
static double
cpu_s (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/* The shortest of n times: on a shared machine, the run least disturbed by others. */
static double
best (const double *v, int n)
{
  double b = v[0];
  int i;

  for (i = 1; i < n; i++)
    b = MIN (b, v[i]);
  return b;
}

/* Best seconds of reps calls of sgemm C (M×N) = A (M×K) · op(B) on threads threads. */
static double
time_sgemm (int M, int N, int K, gboolean b_transposed, int reps, int threads)
{
  g_autofree float *a = g_new (float, (gsize) M * K);
  g_autofree float *b = g_new (float, (gsize) K * N);
  g_autofree float *c = g_new0 (float, (gsize) M * N);
  g_autofree double *times = g_new (double, reps);
  int r;

  fill_random (a, (gsize) M * K, 1.0f, 1);
  fill_random (b, (gsize) K * N, 1.0f, 2);
  openblas_set_num_threads (threads);
  for (r = -1; r < reps; r++)
    {
      double t0 = now_s ();

      cblas_sgemm (CblasRowMajor, CblasNoTrans, b_transposed ? CblasTrans : CblasNoTrans, M, N, K,
                   1.0f, a, K, b, b_transposed ? K : N, 0.0f, c, N);
      if (r >= 0)
        times[r] = now_s () - t0;
    }
  openblas_set_num_threads (1);
  return best (times, reps);
}

/* Best seconds of reps submits of g. */
static double
time_graph (TailorGraph *g, int reps, GError **error)
{
  g_autofree double *times = g_new (double, reps);
  int r;

  for (r = -1; r < reps; r++)
    {
      double t0 = now_s ();

      if (!tailor_graph_submit (g, error))
        return -1.0;
      if (r >= 0)
        times[r] = now_s () - t0;
    }
  return best (times, reps);
}

/* W {IC, OC} of type, random, in backend memory. */
static gboolean
weight_new (TailorBackend *b, TailorType type, int IC, int OC, TailorTensor *out, GError **error)
{
  gsize row = tailor_type_row_size (type, IC);
  g_autofree float *values = g_new (float, IC);
  g_autofree guint8 *data = NULL;
  gint64 ne[2] = { IC, OC };
  int o;

  if (row == 0)
    {
      g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID,
                   "rows of %d do not fit type %s", IC, tailor_type_name (type));
      return FALSE;
    }
  data = g_malloc (row * OC);
  for (o = 0; o < OC; o++)
    {
      fill_random (values, IC, 0.02f, (guint32) o + 7);
      tailor_quantize_row (type, values, data + row * o, IC);
    }
  return tailor_tensor_alloc (b, type, 2, ne, out, error) &&
         tailor_tensor_upload (out, data, error);
}

/* The load average, so a reader can judge how loaded the machine was. */
static char *
load_average (void)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) fields = NULL;

  if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL))
    return g_strdup ("unknown");
  fields = g_strsplit (text, " ", 4);
  if (g_strv_length (fields) < 3)
    return g_strdup ("unknown");
  return g_strdup_printf ("%s, %s, %s", fields[0], fields[1], fields[2]);
}

typedef struct
{
  int ic, oc;
} MatmulShape;

/* "IC×OC,…" (or with x) into shapes; FALSE on anything else. */
static gboolean
parse_shapes (const char *text, GArray *shapes)
{
  g_auto (GStrv) items = g_strsplit (text, ",", -1);
  guint i;

  for (i = 0; items[i] != NULL; i++)
    {
      g_autofree char *item = g_strstrip (g_strdup (items[i]));
      char *sep = strstr (item, "×");
      char *end = NULL;
      MatmulShape shape;
      gint64 ic, oc;

      if (sep == NULL)
        sep = strchr (item, 'x');
      if (sep == NULL)
        return FALSE;
      ic = g_ascii_strtoll (item, &end, 10);
      if (end != sep)
        return FALSE;
      oc = g_ascii_strtoll (sep + (*sep == 'x' ? 1 : strlen ("×")), &end, 10);
      if (*end != '\0' || ic < 4 || oc < 1 || ic > 65536 || oc > 1 << 20)
        return FALSE;
      shape.ic = (int) ic;
      shape.oc = (int) oc;
      g_array_append_val (shapes, shape);
    }
  return shapes->len > 0;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
median (double *v, int n)
{
  qsort (v, n, sizeof v[0], compare_doubles);
  return v[n / 2];
}

/* Vulkan: each type's kernel timed with timestamps against the device's fp32 GEMM kernel (the
 * F32 weight through the same family), forward and input gradient. This machine's speed swings
 * up to 2× from second to second (other guests on the host's cores), so the kernel and the
 * ceiling alternate run by run and the ratio is taken per pair: it holds where the rates move. */
static int
bench_matmul_vk (TailorBackend *b, int T, GStrv types, GArray *shapes, int reps)
{
  static const TailorVkMatmulDirection dirs[] = { TAILOR_VK_MATMUL_FORWARD,
                                                  TAILOR_VK_MATMUL_BACKWARD_INPUT };
  TailorVkContext *ctx = tailor_backend_vk_get_context (b);
  g_autofree char *load = load_average ();
  g_autofree double *ms = g_new (double, reps);
  g_autofree double *ratio = g_new (double, reps);
  g_autofree double *ceiling_ms = g_new (double, reps);
  guint s;

  printf ("# matmul on %s, T = %d, load average %s; GFLOP/s = 2·T·IC·OC / kernel time, median "
          "and best of %d runs, each followed by a run of the ceiling (the device's fp32 GEMM: "
          "F32 weight, forward); of fp32 = median of the pairs' ratios | best over the best "
          "ceiling run\n",
          tailor_backend_get_name (b), T, load, reps);
  printf ("%-12s %-8s %-6s %10s %10s %8s %8s %8s\n", "IC×OC", "dir", "type", "ms", "GFLOP/s",
          "of fp32", "best", "of fp32");
  for (s = 0; s < shapes->len; s++)
    {
      int IC = g_array_index (shapes, MatmulShape, s).ic;
      int OC = g_array_index (shapes, MatmulShape, s).oc;
      double flop = 2.0 * T * IC * OC;
      g_autofree char *shape = g_strdup_printf ("%d×%d", IC, OC);
      g_autoptr (GError) error = NULL;
      g_autoptr (TailorVkMatmulBench) ceiling = NULL;
      guint k, d;
      int r;

      ceiling = tailor_vk_matmul_bench_new (ctx, TAILOR_TYPE_F32, T, IC, OC,
                                            TAILOR_VK_MATMUL_FORWARD, &error);
      if (ceiling == NULL)
        return tailor_cli_fail (error);
      for (r = 0; r < reps; r++)
        if (!tailor_vk_matmul_bench_run (ceiling, &ceiling_ms[r], &error))
          return tailor_cli_fail (error);
      {
        double fastest = best (ceiling_ms, reps);
        double mid = median (ceiling_ms, reps);

        printf ("%-12s %-8s %-6s %10.2f %10.1f %8s %8.1f %8s\n", shape, "forward", "fp32", mid,
                flop / mid / 1e6, "1.00", flop / fastest / 1e6, "1.00");
      }
      for (k = 0; types[k] != NULL; k++)
        {
          TailorType type;

          if (!tailor_type_from_name (types[k], &type))
            return tailor_cli_failf ("bench: unknown type “%s”", types[k]);
          for (d = 0; d < G_N_ELEMENTS (dirs); d++)
            {
              const char *dir = dirs[d] == TAILOR_VK_MATMUL_FORWARD ? "forward" : "dX";
              g_autoptr (TailorVkMatmulBench) kernel = NULL;
              double fastest, fastest_ceiling, mid;

              if (tailor_type_row_size (type, IC) == 0)
                {
                  printf ("%-12s %-8s %-6s rows of %d do not fit the type's blocks\n", shape, dir,
                          tailor_type_name (type), IC);
                  break;
                }
              kernel = tailor_vk_matmul_bench_new (ctx, type, T, IC, OC, dirs[d], &error);
              if (kernel == NULL)
                return tailor_cli_fail (error);
              for (r = 0; r < reps; r++)
                {
                  if (!tailor_vk_matmul_bench_run (kernel, &ms[r], &error) ||
                      !tailor_vk_matmul_bench_run (ceiling, &ceiling_ms[r], &error))
                    return tailor_cli_fail (error);
                  ratio[r] = ceiling_ms[r] / ms[r];
                }
              fastest = best (ms, reps);
              fastest_ceiling = best (ceiling_ms, reps);
              mid = median (ms, reps);
              printf ("%-12s %-8s %-6s %10.2f %10.1f %8.2f %8.1f %8.2f\n", shape, dir,
                      tailor_type_name (type), mid, flop / mid / 1e6, median (ratio, reps),
                      flop / fastest / 1e6, fastest_ceiling / fastest);
            }
        }
    }
  return fflush (stdout) == 0 ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
}

static int
bench_matmul (TailorBackend *b, int T, GStrv types, GArray *shapes, int reps)
{
  guint s;

  if (tailor_backend_get_kind (b) != TAILOR_BACKEND_CPU)
    return bench_matmul_vk (b, T, types, shapes, reps);
  printf ("# matmul on %s, T = %d; GFLOP/s = 2·T·IC·OC / best time of %d runs\n",
          tailor_backend_get_name (b), T, reps);
  printf ("%-12s %-8s %-6s %10s %10s %8s\n", "IC×OC", "dir", "type", "ms", "GFLOP/s", "of sgemm");
  for (s = 0; s < shapes->len; s++)
    {
      int IC = g_array_index (shapes, MatmulShape, s).ic;
      int OC = g_array_index (shapes, MatmulShape, s).oc;
      double flop = 2.0 * T * IC * OC;
      int threads = (int) tailor_parallel_get_n_threads ();
      double ceil_fwd = flop / time_sgemm (T, OC, IC, TRUE, reps, threads) / 1e9;
      double ceil_bwd = flop / time_sgemm (T, IC, OC, FALSE, reps, threads) / 1e9;
      g_autofree char *shape = g_strdup_printf ("%d×%d", IC, OC);
      guint k;

      printf ("%-12s %-8s %-6s %10.2f %10.1f %8s\n", shape, "forward", "sgemm",
              flop / ceil_fwd / 1e6, ceil_fwd, "1.00");
      printf ("%-12s %-8s %-6s %10.2f %10.1f %8s\n", shape, "dX", "sgemm", flop / ceil_bwd / 1e6,
              ceil_bwd, "1.00");
      for (k = 0; types[k] != NULL; k++)
        {
          g_autoptr (GError) error = NULL;
          g_autoptr (TailorGraph) fwd = tailor_graph_new (b);
          g_autoptr (TailorGraph) bwd = tailor_graph_new (b);
          TailorType type;
          TailorTensor w = { 0 };
          TailorTensor x = { 0 };
          TailorTensor y = { 0 };
          gint64 ne_x[2] = { IC, T };
          gint64 ne_y[2] = { OC, T };
          double t_fwd;
          double t_bwd;

          if (!tailor_type_from_name (types[k], &type))
            return tailor_cli_failf ("bench: unknown type “%s”", types[k]);
          if (!weight_new (b, type, IC, OC, &w, &error) ||
              !tailor_tensor_alloc (b, TAILOR_TYPE_F32, 2, ne_x, &x, &error) ||
              !tailor_tensor_alloc (b, TAILOR_TYPE_F32, 2, ne_y, &y, &error))
            {
              printf ("%-12s %-8s %-6s %s\n", shape, "-", tailor_type_name (type), error->message);
              tailor_buf_free (w.buf);
              tailor_buf_free (x.buf);
              continue;
            }
          tailor_op_matmul (fwd, &y, &x, &w, NULL);
          tailor_op_matmul_backward_input (bwd, &x, &y, &w);
          t_fwd = time_graph (fwd, reps, &error);
          t_bwd = t_fwd >= 0 ? time_graph (bwd, reps, &error) : -1.0;
          tailor_buf_free (w.buf);
          tailor_buf_free (x.buf);
          tailor_buf_free (y.buf);
          if (t_fwd < 0 || t_bwd < 0)
            return tailor_cli_fail (error);
          printf ("%-12s %-8s %-6s %10.2f %10.1f %8.2f\n", shape, "forward",
                  tailor_type_name (type), t_fwd * 1e3, flop / t_fwd / 1e9,
                  flop / t_fwd / 1e9 / ceil_fwd);
          printf ("%-12s %-8s %-6s %10.2f %10.1f %8.2f\n", shape, "dX", tailor_type_name (type),
                  t_bwd * 1e3, flop / t_bwd / 1e9, flop / t_bwd / 1e9 / ceil_bwd);
        }
    }
  return fflush (stdout) == 0 ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
}

/* ---- Training steps ---- */

typedef struct
{
  const char *name;
  int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff;
  gboolean tied;
} Shape;

static const Shape shapes[] = {
  { "tiny", 4096, 288, 6, 6, 6, 768, FALSE },
  { "135m", 49152, 576, 30, 9, 3, 1536, TRUE },
  { "qwen0.5b", 151936, 896, 24, 14, 2, 4864, TRUE },
};

typedef struct
{
  TailorGgufWriter *writer;
  GPtrArray *names;
  TailorType type;
  guint32 seed;
} ModelWriter;

/* A random matrix {ne0, ne1} in the bench's type where its rows fit, else Q8_0, else F32
 * (llama.cpp's quantizer falls back the same way); vectors are F32 (norms are 1). */
static gboolean
add_tensor (ModelWriter *mw, const char *name, int ne0, int ne1, GError **error)
{
  TailorType type = ne1 == 1 ? TAILOR_TYPE_F32 : mw->type;
  gint64 ne[2] = { ne0, ne1 };
  g_autofree float *row = g_new (float, ne0);
  g_autoptr (GBytes) bytes = NULL;
  gsize row_bytes;
  guint8 *data;
  int r;
  int i;

  if (tailor_type_row_size (type, ne0) == 0)
    type = tailor_type_row_size (TAILOR_TYPE_Q8_0, ne0) != 0 ? TAILOR_TYPE_Q8_0 : TAILOR_TYPE_F32;
  row_bytes = tailor_type_row_size (type, ne0);
  data = g_malloc (row_bytes * ne1);
  for (r = 0; r < ne1; r++)
    {
      if (ne1 == 1)
        for (i = 0; i < ne0; i++)
          row[i] = 1.0f;
      else
        fill_random (row, ne0, 0.02f, mw->seed++);
      tailor_quantize_row (type, row, data + row_bytes * r, ne0);
    }
  bytes = g_bytes_new_take (data, row_bytes * ne1);
  /* the writer keeps the name until it writes */
  g_ptr_array_add (mw->names, g_strdup (name));
  return tailor_gguf_writer_add_tensor (mw->writer,
                                        g_ptr_array_index (mw->names, mw->names->len - 1), type,
                                        ne1 == 1 ? 1 : 2, ne, bytes, error);
}

/* Writes a random model of shape s to path: the bench then loads it as a run would (mapped,
 * not a copy in the heap), so that resident memory counts what a real run's does. */
static gboolean
model_write (const Shape *s, TailorType type, int n_ctx, const char *path, GError **error)
{
  g_autoptr (TailorGgufWriter) writer = tailor_gguf_writer_new ();
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  ModelWriter mw = { writer, names, type, 1 };
  int hd = s->n_embd / s->n_head;
  int l;

  tailor_gguf_writer_set_string (writer, "general.architecture", "llama");
  tailor_gguf_writer_set_string (writer, "general.name", s->name);
  tailor_gguf_writer_set_u32 (writer, "llama.context_length", n_ctx);
  tailor_gguf_writer_set_u32 (writer, "llama.embedding_length", s->n_embd);
  tailor_gguf_writer_set_u32 (writer, "llama.block_count", s->n_layer);
  tailor_gguf_writer_set_u32 (writer, "llama.feed_forward_length", s->n_ff);
  tailor_gguf_writer_set_u32 (writer, "llama.attention.head_count", s->n_head);
  tailor_gguf_writer_set_u32 (writer, "llama.attention.head_count_kv", s->n_head_kv);
  tailor_gguf_writer_set_f32 (writer, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  tailor_gguf_writer_set_f32 (writer, "llama.rope.freq_base", 10000.0f);
  tailor_gguf_writer_set_u32 (writer, "llama.vocab_size", s->n_vocab);

  if (!add_tensor (&mw, "token_embd.weight", s->n_embd, s->n_vocab, error) ||
      !add_tensor (&mw, "output_norm.weight", s->n_embd, 1, error) ||
      (!s->tied && !add_tensor (&mw, "output.weight", s->n_embd, s->n_vocab, error)))
    return FALSE;
  for (l = 0; l < s->n_layer; l++)
    {
      const struct
      {
        const char *name;
        int ne0, ne1;
      } t[] = {
        { "attn_norm", s->n_embd, 1 },
        { "attn_q", s->n_embd, s->n_head * hd },
        { "attn_k", s->n_embd, s->n_head_kv * hd },
        { "attn_v", s->n_embd, s->n_head_kv * hd },
        { "attn_output", s->n_head * hd, s->n_embd },
        { "ffn_norm", s->n_embd, 1 },
        { "ffn_gate", s->n_embd, s->n_ff },
        { "ffn_up", s->n_embd, s->n_ff },
        { "ffn_down", s->n_ff, s->n_embd },
      };
      guint i;

      for (i = 0; i < G_N_ELEMENTS (t); i++)
        {
          g_autofree char *name = g_strdup_printf ("blk.%d.%s.weight", l, t[i].name);

          if (!add_tensor (&mw, name, t[i].ne0, t[i].ne1, error))
            return FALSE;
        }
    }
  return tailor_gguf_writer_write (writer, path, error);
}

/* The model of a shape, made once and kept in the temporary folder (quantizing the 0.5B
 * shape takes a while), or a GGUF file. */
static TailorModel *
model_open (const Shape *s, const char *file, TailorType type, int n_ctx, GError **error)
{
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;

  if (s == NULL)
    return tailor_model_load (file, error);
  name = g_strdup_printf ("tailor-bench-%s-%s-%d.gguf", s->name, tailor_type_name (type), n_ctx);
  path = g_build_filename (g_get_tmp_dir (), name, NULL);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      fprintf (stderr, "bench: writing %s once\n", path);
      if (!model_write (s, type, n_ctx, path, error))
        return NULL;
    }
  return tailor_model_load (path, error);
}

/* Multiply-adds × 2 of the model's matrices per token: the linear layers and the output. */
static double
matrix_flops_per_token (TailorModel *model)
{
  const TailorHparams *hp = &model->hp;
  double total = (double) hp->n_embd * hp->n_vocab;
  guint l;

  for (l = 0; l < hp->n_layer; l++)
    total += (double) hp->n_embd * hp->head_dim *
               (2.0 * hp->layers[l].n_head + 2.0 * hp->layers[l].n_head_kv) +
             3.0 * hp->n_embd * hp->layers[l].n_ff;
  return 2.0 * total;
}

/* A field of /proc/self/status in bytes ("VmHWM", "RssAnon"…); 0 where there is none. */
static guint64
proc_status_bytes (const char *field)
{
  g_autofree char *text = NULL;
  g_autofree char *key = g_strconcat ("\n", field, ":", NULL);
  const char *at;

  if (!g_file_get_contents ("/proc/self/status", &text, NULL, NULL))
    return 0;
  at = strstr (text, key);
  if (at == NULL)
    return 0;
  return g_ascii_strtoull (at + strlen (key), NULL, 10) * 1024;
}

/* Starts the peak resident size (VmHWM) afresh, so that it measures the training alone and
 * not the writing of the model before it. */
static void
reset_peak_rss (void)
{
  FILE *f;

  malloc_trim (0);
  f = fopen ("/proc/self/clear_refs", "w");
  if (f == NULL)
    return;
  fputs ("5", f);
  fclose (f);
}

static double
mib (guint64 bytes)
{
  return bytes / 1048576.0;
}

/* The device's best fp32 GEMM at T × IC × OC, GFLOP/s, with threads (CPU): the fastest of
 * reps runs, on both backends (this machine's speed swings 2× from minute to minute; the
 * fastest run is what the device can do). Vulkan: the matmul kernel family the backend runs,
 * forward and input gradient, the faster of the two. */
static double
gemm_ceiling (TailorBackend *b, int T, int IC, int OC, int reps, int threads, GError **error)
{
  TailorVkContext *ctx;
  double fwd = 0.0;
  double bwd = 0.0;

  if (tailor_backend_get_kind (b) == TAILOR_BACKEND_CPU)
    return 2.0 * T * IC * OC / time_sgemm (T, OC, IC, TRUE, reps, threads) / 1e9;
  ctx = tailor_backend_vk_get_context (b);
  if (!tailor_vk_matmul_bench (ctx, TAILOR_TYPE_F32, T, IC, OC, TAILOR_VK_MATMUL_FORWARD, reps,
                               NULL, &fwd, error) ||
      !tailor_vk_matmul_bench (ctx, TAILOR_TYPE_F32, T, OC, IC, TAILOR_VK_MATMUL_FORWARD, reps,
                               NULL, &bwd, error))
    return -1.0;
  return MAX (fwd, bwd);
}

/* Utilisation in pairs: n more steps, each followed at once by a ceiling of its own (fastest
 * of three runs), the ratio taken per pair. This machine's speed wanders up to 2× from minute
 * to minute; the steps above and their ceiling can catch different phases, a pair rarely does.
 * Returns the pairs' median (-1 on error), their range in lo, hi. */
static double
paired_utilisation (TailorBackend *b,
                    TailorStep *step,
                    const gint32 *tokens,
                    const gint32 *targets,
                    const float *mask,
                    const gint32 *pos,
                    double flops_per_step,
                    int seq,
                    int embd,
                    int ff,
                    int n,
                    double *lo,
                    double *hi,
                    GError **error)
{
  g_autofree double *ratio = g_new (double, n);
  double mid;

  for (int k = 0; k < n; k++)
    {
      TailorAdamWHyper hyper = { 1e-5f, 0.9f, 0.999f, 1e-8f, 0.0f, 200.0f + k, 1.0f, 0.0f };
      double ts = now_s ();
      double step_s;
      double ceiling;

      if (!tailor_step_run (step, tokens, targets, mask, pos, 1.0f, 200u + k, &hyper, NULL, NULL,
                            error))
        return -1.0;
      step_s = now_s () - ts;
      ceiling = gemm_ceiling (b, seq, embd, ff, 3, (int) tailor_parallel_get_n_threads (), error);
      if (ceiling < 0)
        return -1.0;
      ratio[k] = flops_per_step / step_s / 1e9 / ceiling;
    }
  mid = median (ratio, n); /* sorts ratio */
  *lo = ratio[0];
  *hi = ratio[n - 1];
  return mid;
}

typedef struct
{
  const char *shape;
  const char *method;
  const char *type;
  int seq;
  int steps;
  int rank;
  double dropout;
  int reps;
  gboolean checkpointing;
  gboolean profile;
} TrainArgs;

/* Two more steps with per-op timing (after the measured ones: timing slows a step, and the
 * re-recording it takes has its own scratch); the second, free of that recording, is shown. */
static gboolean
profile_train_step (TailorStep *step, const gint32 *tokens, const gint32 *targets,
                    const float *mask, const gint32 *pos, GError **error)
{
  double wall = 0.0;

  tailor_step_set_profiling (step, TRUE);
  for (int k = 0; k < 2; k++)
    {
      TailorAdamWHyper hyper = { 1e-5f, 0.9f, 0.999f, 1e-8f, 0.0f, 100.0f + k, 1.0f, 0.0f };
      double ts = now_s ();

      if (!tailor_step_run (step, tokens, targets, mask, pos, 1.0f, 100u + k, &hyper, NULL, NULL,
                            error))
        return FALSE;
      wall = now_s () - ts;
    }
  tailor_step_set_profiling (step, FALSE);
  tailor_cli_print_profile (stdout, tailor_step_get_profile (step), wall * 1e3);
  return TRUE;
}

static int
bench_train (TailorBackend *b, const TrainArgs *args)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = NULL;
  g_autoptr (TailorRefAdapter) adapter = NULL;
  g_autoptr (TailorStep) step = NULL;
  g_autofree gint32 *tokens = NULL;
  g_autofree gint32 *targets = NULL;
  g_autofree gint32 *pos = NULL;
  g_autofree float *mask = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  g_autofree double *step_s = NULL;
  int seq = args->seq;
  int steps = args->steps;
  TailorStepConfig config = { TAILOR_TRAIN_FULL, 0.0f, seq, 1, args->checkpointing, 0 };
  gboolean cpu = tailor_backend_get_kind (b) == TAILOR_BACKEND_CPU;
  const Shape *s = NULL;
  TailorStepMemory parts;
  TailorType type;
  guint64 rss_before;
  guint64 rss_peak;
  guint64 rss_anon;
  guint64 rss_file;
  guint64 device_peak;
  guint64 sum;
  double peak_gflops;
  double core_gflops = 0.0;
  double flops_per_token;
  double t0 = 0.0;
  double c0 = 0.0;
  double elapsed;
  double busy;
  double model_gflops;
  double loadavg[3] = { 0 };
  float first_loss = 0.0f;
  float last_loss = 0.0f;
  int embd;
  int ff;
  guint i;
  int k;

  for (i = 0; i < G_N_ELEMENTS (shapes); i++)
    if (g_ascii_strcasecmp (shapes[i].name, args->shape) == 0)
      s = &shapes[i];
  if (s == NULL && !g_file_test (args->shape, G_FILE_TEST_IS_REGULAR))
    return tailor_cli_failf ("bench: “%s” is neither a model shape (tiny, 135m or qwen0.5b) "
                             "nor a GGUF file",
                             args->shape);
  if (!tailor_type_from_name (args->type, &type))
    return tailor_cli_failf ("bench: unknown type “%s”", args->type);
  if (g_strcmp0 (args->method, "full") == 0)
    config.method = TAILOR_TRAIN_FULL;
  else if (g_strcmp0 (args->method, "lora") == 0)
    config.method = type == TAILOR_TYPE_F32 || type == TAILOR_TYPE_F16 || type == TAILOR_TYPE_BF16
                      ? TAILOR_TRAIN_LORA
                      : TAILOR_TRAIN_QLORA;
  else
    return tailor_cli_failf ("bench: unknown method “%s” (full or lora)", args->method);

  reset_peak_rss ();
  rss_before = proc_status_bytes ("VmRSS");
  model = model_open (s, args->shape, type, MAX (seq, 512), &error);
  if (model == NULL)
    return tailor_cli_fail (error);
  if (s == NULL)
    type = model->layers[0].w_up->type;
  embd = model->hp.n_embd;
  ff = model->hp.layers[0].n_ff;
  if (config.method != TAILOR_TRAIN_FULL)
    {
      adapter = tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, args->rank,
                                        2.0f * args->rank, FALSE, 0.0f, 1);
      config.dropout = (float) args->dropout;
    }
  step = tailor_step_new (b, model, &config, adapter, &error);
  if (step == NULL)
    return tailor_cli_fail (error);

  tokens = g_new (gint32, seq);
  targets = g_new (gint32, seq);
  pos = g_new (gint32, seq);
  mask = g_new (float, seq);
  step_s = g_new0 (double, steps);
  for (k = 0; k < seq; k++)
    {
      tokens[k] = g_rand_int_range (rand, 0, (gint32) model->hp.n_vocab);
      pos[k] = k;
      mask[k] = 1.0f;
    }
  for (k = 0; k < seq; k++)
    targets[k] = k + 1 < seq ? tokens[k + 1] : 0;

  /* full: forward, input and weight gradients (6 per parameter and token); LoRA over a
   * frozen base: no weight gradient (4), the adapters' own work is below 1% at rank 16 */
  flops_per_token =
    matrix_flops_per_token (model) * (config.method == TAILOR_TRAIN_FULL ? 3.0 : 2.0);
  for (k = -1; k < steps; k++)
    {
      TailorAdamWHyper hyper = { 1e-5f, 0.9f, 0.999f, 1e-8f, 0.0f, (float) (k + 2), 1.0f, 0.0f };
      float loss = 0.0f;
      float norm_sq = 0.0f;
      double ts = now_s ();

      if (k == 0)
        {
          t0 = ts;
          c0 = cpu_s ();
        }
      if (!tailor_step_run (step, tokens, targets, mask, pos, 1.0f, (guint32) (k + 1), &hyper,
                            &loss, &norm_sq, &error))
        return tailor_cli_fail (error);
      if (k >= 0)
        step_s[k] = now_s () - ts;
      if (k == -1)
        first_loss = loss;
      last_loss = loss;
    }
  elapsed = now_s () - t0;
  busy = cpu_s () - c0;
  rss_peak = proc_status_bytes ("VmHWM");
  rss_anon = proc_status_bytes ("RssAnon");
  rss_file = proc_status_bytes ("RssFile");
  device_peak = tailor_backend_get_peak (b);
  tailor_step_get_memory (step, &parts);
  sum = parts.base_weights + parts.trainable + parts.activations + parts.workspace;
  if (getloadavg (loadavg, 3) < 0)
    loadavg[0] = -1.0;

  /* the ceiling after the steps, so that its buffers stay out of the peaks above */
  peak_gflops = gemm_ceiling (b, seq, embd, ff, MAX (args->reps, cpu ? 20 : 9),
                              (int) tailor_parallel_get_n_threads (), &error);
  if (peak_gflops < 0)
    return tailor_cli_fail (error);
  if (cpu)
    core_gflops = gemm_ceiling (b, seq, embd, ff, MAX (args->reps, 20), 1, NULL);
  model_gflops = flops_per_token * seq * steps / elapsed / 1e9;

  printf ("# training step on %s: %s %s %s, sequence %d, %d steps after one warm-up, "
          "load average %.1f\n",
          tailor_backend_get_name (b), s != NULL ? s->name : args->shape,
          tailor_type_name (type), tailor_train_method_name (config.method), seq, steps,
          loadavg[0]);
  if (config.method != TAILOR_TRAIN_FULL)
    printf ("LoRA            rank %d, alpha %d, dropout %g, on all linear layers\n", args->rank,
            2 * args->rank, args->dropout);
  printf ("checkpointing   %s\n", args->checkpointing ? "on (each layer's input kept)" : "off");
  printf ("tokens/s        %.1f (steps %.3f–%.3f s)\n", seq * steps / elapsed,
          best (step_s, steps), elapsed / steps);
  printf ("loss            %.4f → %.4f\n", first_loss, last_loss);
  printf ("model GFLOP/s   %.1f (%.4f GFLOP per token, %s)\n", model_gflops,
          flops_per_token / 1e9,
          config.method == TAILOR_TRAIN_FULL ? "6 × matrix parameters" : "4 × matrix parameters");
  printf ("GEMM peak       %.1f GFLOP/s (%s fp32, %d × %d × %d, fastest of %d runs)\n",
          peak_gflops, cpu ? "OpenBLAS sgemm" : "Vulkan matmul", seq, embd, ff,
          MAX (args->reps, cpu ? 20 : 9));
  printf ("utilisation     %.0f%% (fastest step: %.0f%%)\n", 100.0 * model_gflops / peak_gflops,
          100.0 * flops_per_token * seq / best (step_s, steps) / 1e9 / peak_gflops);
  {
    double lo = 0.0, hi = 0.0;
    double paired = paired_utilisation (b, step, tokens, targets, mask, pos, flops_per_token * seq,
                                        seq, embd, ff, steps, &lo, &hi, &error);

    if (paired < 0)
      return tailor_cli_fail (error);
    printf ("paired          %.0f%% (each of %d more steps against a ceiling measured right after "
            "it, fastest of 3; median, range %.0f–%.0f%%)\n",
            100.0 * paired, steps, 100.0 * lo, 100.0 * hi);
  }
  /* on a machine shared with other work, the same against the CPU time this process got */
  if (cpu)
    printf ("CPU time        %.3f s per step (%.2f cores busy); %.1f GFLOP per CPU-second, "
            "%.0f%% of one core's sgemm (%.1f GFLOP/s)\n",
            busy / steps, busy / elapsed, flops_per_token * seq * steps / busy / 1e9,
            100.0 * flops_per_token * seq * steps / busy / 1e9 / core_gflops, core_gflops);
  printf ("memory parts    base weights %.1f MiB + %s %.1f MiB + activations %.1f MiB "
          "+ workspace %.1f MiB = %.1f MiB\n",
          mib (parts.base_weights),
          config.method == TAILOR_TRAIN_FULL ? "weights, gradients, AdamW"
                                              : "LoRA weights, gradients, AdamW",
          mib (parts.trainable), mib (parts.activations), mib (parts.workspace), mib (sum));
  printf ("backend peak    %.1f MiB (%.2f× the parts)\n", mib (device_peak),
          (double) device_peak / sum);
  printf ("peak RSS        %.1f MiB (%.2f× the parts); %.1f MiB before the model; at the end "
          "%.1f MiB anonymous + %.1f MiB file pages (the mapped model)\n",
          mib (rss_peak), (double) rss_peak / sum, mib (rss_before), mib (rss_anon),
          mib (rss_file));
  printf ("memory target   %s %.2f× the parts (≤ 1.25×)\n", cpu ? "peak RSS" : "device peak",
          (double) (cpu ? rss_peak : device_peak) / sum);
  if (args->profile && !profile_train_step (step, tokens, targets, mask, pos, &error))
    return tailor_cli_fail (error);
  return fflush (stdout) == 0 ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
}
int
tailor_cli_bench (int argc, char **argv)
{
  gboolean matmul = FALSE;
  gboolean train = FALSE;
  g_autofree char *device = NULL;
  g_autofree char *types = NULL;
  g_autofree char *shape_text = NULL;
  g_autofree char *model = NULL;
  g_autofree char *method = NULL;
  g_autofree char *type = NULL;
  int tokens = 512;
  int seq = 256;
  int steps = 3;
  int rank = 16;
  double dropout = -1.0;
  int reps = 3;
  gboolean checkpointing = FALSE;
  gboolean profile = FALSE;
  const GOptionEntry entries[] = {
    { "matmul", 0, 0, G_OPTION_ARG_NONE, &matmul,
      "Quantized matmul against the device's fp32 ceiling", NULL },
    { "train", 0, 0, G_OPTION_ARG_NONE, &train, "Whole training steps", NULL },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto, cpu, vulkan, vulkan:N (default auto)",
      "DEVICE" },
    { "tokens", 0, 0, G_OPTION_ARG_INT, &tokens, "Rows T of the matmul (default 512)", "T" },
    { "types", 0, 0, G_OPTION_ARG_STRING, &types,
      "Weight types of the matmul (default F32,F16,Q8_0,Q4_0,Q4_K,Q6_K)", "LIST" },
    { "shapes", 0, 0, G_OPTION_ARG_STRING, &shape_text,
      "Weight shapes IC×OC of the matmul (default 576×1536,896×4864,2048×8192,4096×14336)",
      "LIST" },
    { "reps", 0, 0, G_OPTION_ARG_INT, &reps, "Timed runs per measurement (default 3)", "N" },
    { "model", 0, 0, G_OPTION_ARG_STRING, &model,
      "A random model of shape tiny, 135m or qwen0.5b (default tiny; written once to the "
      "temporary folder as tailor-bench-*.gguf), or a GGUF file",
      "SHAPE|FILE" },
    { "method", 0, 0, G_OPTION_ARG_STRING, &method, "full or lora (default full)", "METHOD" },
    { "type", 0, 0, G_OPTION_ARG_STRING, &type, "Weight type of the model (default F32)",
      "TYPE" },
    { "seq", 0, 0, G_OPTION_ARG_INT, &seq, "Sequence length (default 256)", "N" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "Timed steps (default 3)", "N" },
    { "rank", 0, 0, G_OPTION_ARG_INT, &rank, "LoRA rank (default 16)", "R" },
    { "dropout", 0, 0, G_OPTION_ARG_DOUBLE, &dropout,
      "LoRA dropout (default a run's, 0.05)", "P" },
    { "checkpointing", 0, 0, G_OPTION_ARG_NONE, &checkpointing,
      "Gradient checkpointing: keep each layer's input only, recompute the layer", NULL },
    { "profile", 0, 0, G_OPTION_ARG_NONE, &profile,
      "With --train: time per op kind of one more step (share, GFLOP/s of the products)", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = tailor_cli_context_new ("bench", entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorBackend) backend = NULL;
  g_auto (GStrv) type_list = NULL;
  int rc = TAILOR_CLI_EXIT_OK;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc > 1)
    return tailor_cli_usage_error (context, "bench takes no arguments");
  if (!matmul && !train)
    return tailor_cli_usage_error (context, "say what to measure: --matmul, --train or both");
  if (tokens < 1 || seq < 2 || steps < 1 || rank < 1 || reps < 1)
    return tailor_cli_usage_error (context, "--tokens, --seq, --steps, --rank and --reps must "
                                            "be positive (--seq at least 2)");

  if (dropout < 0.0)
    {
      g_autoptr (TailorRunConfig) defaults = tailor_run_config_new ();

      dropout = defaults->lora_dropout;
    }
  else if (dropout >= 1.0)
    return tailor_cli_usage_error (context, "--dropout must be below 1");

  backend = tailor_backend_new (device, &error);
  if (backend == NULL)
    return tailor_cli_fail (error);
  if (matmul)
    {
      g_autoptr (GArray) shape_list = g_array_new (FALSE, FALSE, sizeof (MatmulShape));

      if (!parse_shapes (shape_text != NULL ? shape_text : "576x1536,896x4864,2048x8192,4096x14336",
                         shape_list))
        return tailor_cli_usage_error (context, "--shapes takes IC×OC pairs separated by "
                                                "commas, such as 576x1536,896x4864");
      type_list = g_strsplit (types != NULL ? types : "F32,F16,Q8_0,Q4_0,Q4_K,Q6_K", ",", -1);
      rc = bench_matmul (backend, tokens, type_list, shape_list, reps);
    }
  if (train && rc == TAILOR_CLI_EXIT_OK)
    {
      TrainArgs args = { model != NULL ? model : "tiny", method != NULL ? method : "full",
                         type != NULL ? type : "F32", seq, steps, rank, dropout, reps,
                         checkpointing, profile };

      rc = bench_train (backend, &args);
    }
  return rc;
}
