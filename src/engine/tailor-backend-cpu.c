/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The CPU backend: host buffers and an in-order interpreter of recorded ops, with every
 * matrix product in OpenBLAS sgemm over fp32 panels dequantized on the fly. */
/* dlsym's RTLD_DEFAULT */
#define _GNU_SOURCE 1

#include "config.h"

#include <cblas.h>
#include <dlfcn.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tailor-backend-private.h"
#include "tailor-cpu-ref.h"
#include "tailor-parallel.h"

/* Neither errno nor floating-point exception flags are read here; keeping them exact
 * would keep sqrtf and the clamped exponentials below out of vector loops. Jump threading
 * would copy the code after fast_expf's clamps into one path per clamp, with e⁻⁸⁷ and e⁸⁸
 * folded in as constants; vectorised, every lane then also computes those paths, and silu's
 * gate / (1 + e⁸⁸) is a subnormal that costs a microcode assist per vector (SwiGLU ran
 * 15 times slower). */
#pragma GCC optimize ("no-math-errno", "no-trapping-math", "no-thread-jumps")

#define ALWAYS_INLINE inline __attribute__ ((always_inline))

/* Hot loops are compiled twice, for AVX2+FMA and for the baseline, and picked at run time
 * by the CPU's features (not its model name: GCC's target_clones by "arch=" falls back to
 * the baseline on processors newer than the compiler, as in virtual machines). A loop
 * body is an always-inline function, so each wrapper compiles it for its own target. */
#if defined(__x86_64__) && defined(__GNUC__)
#define HOT_VARIANTS(name)                                                                      \
  static __attribute__ ((target ("avx2,fma"))) void name##_avx2 (                              \
    gint64 begin, gint64 end, gpointer user_data)                                               \
  {                                                                                             \
    name (begin, end, user_data);                                                               \
  }                                                                                             \
  static void name##_plain (                                                                    \
    gint64 begin, gint64 end, gpointer user_data)                                               \
  {                                                                                             \
    name (begin, end, user_data);                                                               \
  }
#define HOT(name) (cpu_has_avx2_fma () ? name##_avx2 : name##_plain)

static gboolean
cpu_has_avx2_fma (void)
{
  static gsize answer = 0;

  if (g_once_init_enter (&answer))
    {
      __builtin_cpu_init ();
      g_once_init_leave (&answer,
                         __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma") ? 2 : 1);
    }
  return answer == 2;
}
#else
#define HOT_VARIANTS(name)                                                                      \
  static void name##_plain (gint64 begin, gint64 end, gpointer user_data)                       \
  {                                                                                             \
    name (begin, end, user_data);                                                               \
  }
#define HOT(name) (name##_plain)
#endif

/* Bytes of fp32 weight panel dequantized at a time per thread: a few hundred rows of a
 * layer at most, never a whole matrix. sgemm packs its other operand again for every
 * call, so panels are as wide as this allows (up to MAX_PANEL_ROWS) rather than L1-sized. */
#define PANEL_BYTES (4 * 1024 * 1024)
#define MAX_PANEL_ROWS 1024
/* Attention tiles: queries × keys per block; keys a multiple of queries (see
 * attention_forward_blocks). */
#define ATT_BQ 64
#define ATT_BK 128
/* Below this many multiply-adds a product runs on one thread. */
#define GEMM_SPLIT_WORK (1 << 18)

/* From this size on a buffer is mapped anonymous memory: its zero pages take no memory until
 * first written, so a run's set-up (which holds the model file and a host copy of the
 * parameters for a while) does not also hold the gradients and AdamW's moments, untouched
 * until the first step; and freeing returns the memory at once. */
#define MAPPED_BUF_BYTES (1024 * 1024)

typedef struct
{
  TailorBuf base;
  guint8 *data;     /* 64-byte aligned (16 when it lies in a mapped model file) */
  gsize mapped;     /* bytes of an anonymous mapping at data; 0 for heap memory */
  TailorGguf *file; /* a model file whose mapping data lies in (a reference), or NULL */
} CpuBuf;

typedef struct
{
  TailorOp *ops;
  guint n_ops;
} CpuCompiled;

static inline void *
ptr (const TailorTensor *t)
{
  return t->buf != NULL ? ((CpuBuf *) t->buf)->data + t->offset : NULL;
}

static inline float *
fptr (const TailorTensor *t)
{
  return ptr (t);
}

static inline gint64
rows_of (const TailorTensor *t)
{
  return tailor_tensor_n_elements (t) / t->ne[0];
}

/* Scratch memory per thread, kept between ops: fresh allocations of a few MiB per call
 * cost more in page faults than the work they hold. Slots below SLOT_OP are for the
 * parallel callbacks, the others for the op functions on the submitting thread (which
 * also runs callbacks, hence the split). */
enum
{
  SLOT_PANEL = 0, /* callbacks: a weight panel, or an attention tile */
  SLOT_TILE = 1,  /* callbacks: a second attention tile */
  SLOT_OP = 2,    /* op functions: SLOT_OP + 0 … 3 */
  N_SLOTS = 6,
};

typedef struct
{
  float *p;
  gsize n;
} ScratchSlot;

/* Freed when its thread ends (a training run's thread, say), unlike a __thread array. */
static void
scratch_slots_free (gpointer data)
{
  ScratchSlot *slots = data;
  guint i;

  for (i = 0; i < N_SLOTS; i++)
    free (slots[i].p);
  g_free (slots);
}

static GPrivate scratch_key = G_PRIVATE_INIT (scratch_slots_free);

static float *
scratch (guint slot, gsize n_floats)
{
  ScratchSlot *slots = g_private_get (&scratch_key);

  if (slots == NULL)
    {
      slots = g_new0 (ScratchSlot, N_SLOTS);
      g_private_set (&scratch_key, slots);
    }
  n_floats = MAX (n_floats, 16);
  if (slots[slot].n < n_floats)
    {
      void *p = NULL;

      free (slots[slot].p);
      if (posix_memalign (&p, 64, n_floats * sizeof (float)) != 0)
        g_error ("out of memory allocating %" G_GSIZE_FORMAT " bytes of scratch",
                 n_floats * sizeof (float));
      slots[slot].p = p;
      slots[slot].n = n_floats;
    }
  return slots[slot].p;
}

/* e^x for fp32, vectorisable (no libm call, no branches): Cody–Waite range reduction
 * and a degree-6 polynomial, within 2 ulp on [−87, 88]; clamped outside. */
static ALWAYS_INLINE float
fast_expf (float x)
{
  const float round_magic = 12582912.0f; /* 1.5 · 2²³: adding it rounds to an integer */
  float n;
  float r;
  float y;
  union
  {
    guint32 u;
    float f;
  } scale;

  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  n = (x * 1.44269504088896341f + round_magic) - round_magic;
  r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  scale.u = (guint32) ((gint32) n + 127) << 23;
  return y * scale.f;
}

/* √x for x ≥ 0, vectorisable: libm's sqrtf keeps a call for errno on negative input,
 * which stops the vectoriser (the optimize pragma does not reach the builtin). A bit-level
 * first guess (3.5% off) and three Newton steps (3.5% → 6e-4 → 2e-7 → 1e-14) land within
 * an ulp; 0 gives about 1e-20 instead of 0, below every epsilon it is added to. */
static ALWAYS_INLINE float
vec_sqrtf (float x)
{
  union
  {
    guint32 u;
    float f;
  } g;
  float y;

  g.f = x;
  g.u = (g.u >> 1) + 0x1fbd1df5u;
  y = g.f;
  y = 0.5f * (y + x / y);
  y = 0.5f * (y + x / y);
  y = 0.5f * (y + x / y);
  return y;
}

/* ---- sgemm split over our threads ----
 * OpenBLAS itself runs single-threaded (tailor_backend_cpu_new); each product is cut into
 * one slice of rows or columns per thread, so only our pool ever runs and nothing is
 * oversubscribed. */

typedef struct
{
  CBLAS_TRANSPOSE ta, tb;
  int M, N, K;
  float alpha;
  const float *A;
  int lda;
  const float *B;
  int ldb;
  float beta;
  float *C;
  int ldc;
  gboolean split_n;
  int grain;
} Gemm;

static void
gemm_slice (gint64 begin, gint64 end, gpointer user_data)
{
  const Gemm *g = user_data;
  int total = g->split_n ? g->N : g->M;
  int b0 = (int) begin * g->grain;
  int b1 = MIN ((int) end * g->grain, total);

  if (b0 >= b1)
    return;
  if (g->split_n)
    {
      const float *B = g->tb == CblasNoTrans ? g->B + b0 : g->B + (gsize) b0 * g->ldb;

      cblas_sgemm (CblasRowMajor, g->ta, g->tb, g->M, b1 - b0, g->K, g->alpha, g->A, g->lda, B,
                   g->ldb, g->beta, g->C + b0, g->ldc);
    }
  else
    {
      const float *A = g->ta == CblasNoTrans ? g->A + (gsize) b0 * g->lda : g->A + b0;

      cblas_sgemm (CblasRowMajor, g->ta, g->tb, b1 - b0, g->N, g->K, g->alpha, A, g->lda, g->B,
                   g->ldb, g->beta, g->C + (gsize) b0 * g->ldc, g->ldc);
    }
}

/* C (M×N) = alpha · op(A) (M×K) · op(B) (K×N) + beta · C, row-major. */
static void
par_sgemm (CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
           const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
  Gemm g = { ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, N >= M, 16 };
  gint64 threads = tailor_parallel_get_n_threads ();
  gint64 n_grains;

  if (M <= 0 || N <= 0)
    return;
  if (K <= 0)
    {
      cblas_sgemm (CblasRowMajor, ta, tb, M, N, 0, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
  n_grains = ((g.split_n ? N : M) + g.grain - 1) / g.grain;
  if (threads <= 1 || (gint64) M * N * K < GEMM_SPLIT_WORK || n_grains < 2)
    {
      gemm_slice (0, n_grains, &g);
      return;
    }
  /* one slice per thread: sgemm packs its operands per call, so fewer, larger calls win */
  tailor_parallel_for (n_grains, (n_grains + threads - 1) / threads, gemm_slice, &g);
}

/* ---- Memory ---- */

static TailorBuf *
cpu_buf_new (TailorBackend *self, gsize n_bytes, GError **error)
{
  CpuBuf *buf;
  void *data = NULL;
  gsize mapped = 0;

  if (n_bytes >= MAPPED_BUF_BYTES)
    {
      mapped = n_bytes;
      data = mmap (NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (data == MAP_FAILED)
        data = NULL;
    }
  else if (posix_memalign (&data, 64, n_bytes) != 0)
    data = NULL;
  if (data == NULL)
    {
      g_autofree char *size = g_format_size_full (n_bytes, G_FORMAT_SIZE_IEC_UNITS);

      g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_OUT_OF_MEMORY,
                   "could not allocate %s of memory; try a smaller batch, sequence length or "
                   "LoRA rank, or gradient checkpointing",
                   size);
      return NULL;
    }
  if (mapped == 0)
    memset (data, 0, n_bytes);
  buf = g_new0 (CpuBuf, 1);
  buf->data = data;
  buf->mapped = mapped;
  return &buf->base;
}

static TailorBuf *
cpu_buf_wrap (TailorBackend *self, TailorGguf *file, const void *data, gsize n_bytes,
              GError **error)
{
  CpuBuf *buf = g_new0 (CpuBuf, 1);

  /* never written through: tailor_tensor_upload refuses borrowed buffers, and ops only
   * write their outputs and gradients, which are buffers of their own */
  buf->data = (guint8 *) data;
  buf->file = tailor_gguf_ref (file);
  return &buf->base;
}

static void
cpu_buf_free (TailorBackend *self, TailorBuf *buf)
{
  CpuBuf *cbuf = (CpuBuf *) buf;

  if (cbuf->file != NULL)
    tailor_gguf_unref (cbuf->file);
  else if (cbuf->mapped != 0)
    munmap (cbuf->data, cbuf->mapped);
  else
    free (cbuf->data);
  g_free (cbuf);
}

static gboolean
cpu_upload (TailorBackend *self, const TailorTensor *t, const void *data, GError **error)
{
  memcpy (ptr (t), data, tailor_tensor_n_bytes (t));
  return TRUE;
}

static gboolean
cpu_download (TailorBackend *self, const TailorTensor *t, void *data, GError **error)
{
  memcpy (data, ptr (t), tailor_tensor_n_bytes (t));
  return TRUE;
}

/* ---- Errors at run time ---- */

static gboolean op_fail (GError **error, guint index, const TailorOp *op, const char *format, ...)
  G_GNUC_PRINTF (4, 5);

static gboolean
op_fail (GError **error, guint index, const TailorOp *op, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID, "op %u (%s): %s", index,
               tailor_op_kind_name (op->kind), message);
  return FALSE;
}

/* Every id in [0, n_vocab). */
static gboolean
check_ids (const gint32 *ids, gint64 n, gint64 n_vocab, const char *what, guint index,
           const TailorOp *op, GError **error)
{
  gint64 t;

  for (t = 0; t < n; t++)
    if (ids[t] < 0 || ids[t] >= n_vocab)
      return op_fail (error, index, op,
                      "%s %" G_GINT64_FORMAT " is %d, outside the vocabulary of %" G_GINT64_FORMAT
                      " rows",
                      what, t, ids[t], n_vocab);
  return TRUE;
}

/* ---- Weights ---- */

typedef struct
{
  const guint8 *data;
  TailorType type;
  gsize row_bytes;
  int block;      /* elements per quant block */
  gsize block_bytes;
  int ne0, ne1;   /* IC, OC */
} Weight;

static Weight
weight_of (const TailorTensor *t)
{
  const TailorTypeInfo *info = tailor_type_get_info (t->type);
  Weight w = { ptr (t), t->type, tailor_type_row_size (t->type, t->ne[0]), (int) info->block_size,
               info->type_size, (int) t->ne[0], (int) rows_of (t) };

  return w;
}

/* Columns [c0, c0 + n) of row o, dequantized; c0 and n multiples of the block size. */
static inline void
weight_row_cols (const Weight *w, int o, int c0, int n, float *dst)
{
  const guint8 *src = w->data + (gsize) o * w->row_bytes + (gsize) (c0 / w->block) * w->block_bytes;

  if (w->type == TAILOR_TYPE_F32)
    memcpy (dst, src, sizeof (float) * n);
  else
    tailor_dequantize_row (w->type, src, dst, n);
}

/* Rows per panel so that a panel of `width` floats per row stays near PANEL_BYTES. */
static int
panel_rows (int width, int total)
{
  int rows = PANEL_BYTES / (int) (sizeof (float) * MAX (width, 1));

  rows = CLAMP (rows, 64, MAX_PANEL_ROWS) / 16 * 16;
  return MIN (rows, total);
}

/* ---- Matmul ---- */

typedef struct
{
  float *out;        /* (T, OC) */
  const float *inp;  /* (T, IC) */
  const float *dout; /* (T, OC) */
  float *dinp;       /* (T, IC) */
  Weight w;
  const float *bias;
  int T, IC, OC;
  int np;            /* rows per panel (forward) */
  int cb;            /* columns per block (backward input) */
} MatmulJob;

/* Forward over panels [begin, end) of np rows of W: out[:, panel] = inp · panelᵀ. */
static void
matmul_forward_panels (gint64 begin, gint64 end, gpointer user_data)
{
  const MatmulJob *j = user_data;
  float *panel = scratch (SLOT_PANEL, (gsize) j->np * j->IC);
  gint64 p;

  for (p = begin; p < end; p++)
    {
      int o0 = (int) p * j->np;
      int n = MIN (j->np, j->OC - o0);
      int o;

      for (o = 0; o < n; o++)
        weight_row_cols (&j->w, o0 + o, 0, j->IC, panel + (gsize) o * j->IC);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, j->T, n, j->IC, 1.0f, j->inp, j->IC,
                   panel, j->IC, 0.0f, j->out + o0, j->OC);
    }
}

static void
add_bias_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const MatmulJob *j = user_data;
  gint64 t;
  int o;

  for (t = begin; t < end; t++)
    for (o = 0; o < j->OC; o++)
      j->out[(gsize) t * j->OC + o] += j->bias[o];
}

static void
run_matmul (const TailorOp *op)
{
  MatmulJob j = { 0 };

  j.out = fptr (&op->t[0]);
  j.inp = fptr (&op->t[1]);
  j.w = weight_of (&op->t[2]);
  j.bias = fptr (&op->t[3]);
  j.T = (int) rows_of (&op->t[1]);
  j.IC = j.w.ne0;
  j.OC = j.w.ne1;

  if (j.w.type == TAILOR_TYPE_F32)
    par_sgemm (CblasNoTrans, CblasTrans, j.T, j.OC, j.IC, 1.0f, j.inp, j.IC,
               (const float *) j.w.data, j.IC, 0.0f, j.out, j.OC);
  else
    {
      gint64 threads = tailor_parallel_get_n_threads ();
      gint64 n_panels;

      j.np = panel_rows (j.IC, j.OC);
      /* enough panels for every thread */
      while (j.np > 16 && (j.OC + j.np - 1) / j.np < threads * 2)
        j.np -= 16;
      n_panels = (j.OC + j.np - 1) / j.np;
      tailor_parallel_for (n_panels, 1, matmul_forward_panels, &j);
    }
  if (j.bias != NULL)
    tailor_parallel_for (j.T, 16, add_bias_rows, &j);
}

/* Backward input over column blocks [begin, end) of cb columns of W:
 * dinp[:, block] += dout · W[:, block], W dequantized np rows at a time. */
static void
matmul_backward_input_blocks (gint64 begin, gint64 end, gpointer user_data)
{
  const MatmulJob *j = user_data;
  int np = panel_rows (j->cb, j->OC);
  float *panel = scratch (SLOT_PANEL, (gsize) np * j->cb);
  gint64 b;

  for (b = begin; b < end; b++)
    {
      int c0 = (int) b * j->cb;
      int nc = MIN (j->cb, j->IC - c0);
      int o0;

      for (o0 = 0; o0 < j->OC; o0 += np)
        {
          int n = MIN (np, j->OC - o0);
          int o;

          for (o = 0; o < n; o++)
            weight_row_cols (&j->w, o0 + o, c0, nc, panel + (gsize) o * nc);
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, j->T, nc, n, 1.0f,
                       j->dout + o0, j->OC, panel, nc, 1.0f, j->dinp + c0, j->IC);
        }
    }
}

static void
run_matmul_backward_input (const TailorOp *op)
{
  MatmulJob j = { 0 };
  gint64 threads = tailor_parallel_get_n_threads ();
  int align;

  j.dinp = fptr (&op->t[0]);
  j.dout = fptr (&op->t[1]);
  j.w = weight_of (&op->t[2]);
  j.T = (int) rows_of (&op->t[1]);
  j.IC = j.w.ne0;
  j.OC = j.w.ne1;

  if (j.w.type == TAILOR_TYPE_F32)
    {
      par_sgemm (CblasNoTrans, CblasNoTrans, j.T, j.IC, j.OC, 1.0f, j.dout, j.OC,
                 (const float *) j.w.data, j.IC, 1.0f, j.dinp, j.IC);
      return;
    }
  /* one block of whole quant blocks per thread, each owning its columns of dinp */
  align = MAX (j.w.block, 16);
  j.cb = (int) ((j.IC + threads - 1) / threads);
  j.cb = (j.cb + align - 1) / align * align;
  tailor_parallel_for ((j.IC + j.cb - 1) / j.cb, 1, matmul_backward_input_blocks, &j);
}

static void
bias_grad_cols (gint64 begin, gint64 end, gpointer user_data)
{
  const MatmulJob *j = user_data;
  float *dbias = (float *) j->bias;
  gint64 o;
  int t;

  for (o = begin; o < end; o++)
    {
      float s = 0.0f;

      for (t = 0; t < j->T; t++)
        s += j->dout[(gsize) t * j->OC + o];
      dbias[o] += s;
    }
}

static void
run_matmul_backward_weight (const TailorOp *op)
{
  MatmulJob j = { 0 };
  float *dw = fptr (&op->t[0]);

  j.bias = fptr (&op->t[1]);
  j.dout = fptr (&op->t[2]);
  j.inp = fptr (&op->t[3]);
  j.T = (int) rows_of (&op->t[3]);
  j.IC = (int) op->t[0].ne[0];
  j.OC = (int) rows_of (&op->t[0]);

  par_sgemm (CblasTrans, CblasNoTrans, j.OC, j.IC, j.T, 1.0f, j.dout, j.OC, j.inp, j.IC, 1.0f, dw,
             j.IC);
  if (j.bias != NULL)
    tailor_parallel_for (j.OC, 64, bias_grad_cols, &j);
}

/* ---- Embedding ---- */

typedef struct
{
  float *out;
  Weight w;
  const gint32 *tokens;
} EmbeddingJob;

static void
embedding_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const EmbeddingJob *j = user_data;
  gint64 t;

  for (t = begin; t < end; t++)
    weight_row_cols (&j->w, j->tokens[t], 0, j->w.ne0, j->out + (gsize) t * j->w.ne0);
}

/* ---- Element-wise ops ---- */

typedef struct
{
  float *out;
  const float *a;
  const float *b;
  float *c;
  float *d;
  const float *e;
  gint64 n;
  int C;
  float eps;
} Elementwise;

static ALWAYS_INLINE void
add_range (gint64 begin, gint64 end, gpointer user_data)
{
  const Elementwise *j = user_data;
  float *restrict out = j->out;
  const float *restrict a = j->a;
  const float *restrict b = j->b;
  gint64 i;

  for (i = begin; i < end; i++)
    out[i] = a[i] + b[i];
}

HOT_VARIANTS (add_range)

static ALWAYS_INLINE void
swiglu_range (gint64 begin, gint64 end, gpointer user_data)
{
  const Elementwise *j = user_data;
  float *restrict out = j->out;
  const float *restrict gate = j->a;
  const float *restrict up = j->b;
  gint64 i;

  for (i = begin; i < end; i++)
    out[i] = gate[i] / (1.0f + fast_expf (-gate[i])) * up[i];
}

HOT_VARIANTS (swiglu_range)

/* dgate (c), dup (d) += from dout (e), gate (a), up (b) */
static ALWAYS_INLINE void
swiglu_backward_range (gint64 begin, gint64 end, gpointer user_data)
{
  const Elementwise *j = user_data;
  float *restrict dgate = j->c;
  float *restrict dup = j->d;
  const float *restrict dout = j->e;
  const float *restrict gate = j->a;
  const float *restrict up = j->b;
  gint64 i;

  for (i = begin; i < end; i++)
    {
      float g = gate[i];
      float sig = 1.0f / (1.0f + fast_expf (-g));

      dgate[i] += dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
      dup[i] += dout[i] * g * sig;
    }
}

HOT_VARIANTS (swiglu_backward_range)

/* Reductions with 16 partial sums: the compiler vectorises them without reassociating
 * (no -ffast-math), and the order depends only on n. */
static ALWAYS_INLINE float
sum_squares (const float *restrict x, int n)
{
  float acc[16] = { 0 };
  float s = 0.0f;
  int i = 0;
  int k;

  for (; i + 16 <= n; i += 16)
    for (k = 0; k < 16; k++)
      acc[k] += x[i + k] * x[i + k];
  for (k = 0; k < 16; k++)
    s += acc[k];
  for (; i < n; i++)
    s += x[i] * x[i];
  return s;
}

static ALWAYS_INLINE float
dot3 (const float *restrict a, const float *restrict b, const float *restrict c, int n)
{
  float acc[16] = { 0 };
  float s = 0.0f;
  int i = 0;
  int k;

  for (; i + 16 <= n; i += 16)
    for (k = 0; k < 16; k++)
      acc[k] += a[i + k] * b[i + k] * c[i + k];
  for (k = 0; k < 16; k++)
    s += acc[k];
  for (; i < n; i++)
    s += a[i] * b[i] * c[i];
  return s;
}

static ALWAYS_INLINE float
dot (const float *restrict a, const float *restrict b, int n)
{
  float acc[16] = { 0 };
  float s = 0.0f;
  int i = 0;
  int k;

  for (; i + 16 <= n; i += 16)
    for (k = 0; k < 16; k++)
      acc[k] += a[i + k] * b[i + k];
  for (k = 0; k < 16; k++)
    s += acc[k];
  for (; i < n; i++)
    s += a[i] * b[i];
  return s;
}

static ALWAYS_INLINE float
max_of (const float *restrict x, int n, float init)
{
  float acc[16];
  float m = init;
  int i = 0;
  int k;

  for (k = 0; k < 16; k++)
    acc[k] = init;
  for (; i + 16 <= n; i += 16)
    for (k = 0; k < 16; k++)
      acc[k] = acc[k] > x[i + k] ? acc[k] : x[i + k];
  for (k = 0; k < 16; k++)
    m = m > acc[k] ? m : acc[k];
  for (; i < n; i++)
    m = m > x[i] ? m : x[i];
  return m;
}

/* x = exp(x − shift), −∞ to 0; returns Σ x. */
static ALWAYS_INLINE float
exp_shift_sum (float *restrict x, int n, float shift)
{
  float acc[16] = { 0 };
  float s = 0.0f;
  int i = 0;
  int k;

  for (; i + 16 <= n; i += 16)
    for (k = 0; k < 16; k++)
      {
        float v = x[i + k];
        float p = v == -INFINITY ? 0.0f : fast_expf (v - shift);

        x[i + k] = p;
        acc[k] += p;
      }
  for (k = 0; k < 16; k++)
    s += acc[k];
  for (; i < n; i++)
    {
      x[i] = x[i] == -INFINITY ? 0.0f : fast_expf (x[i] - shift);
      s += x[i];
    }
  return s;
}

/* out (a: inp, b: weight) and rstd (d) per row */
static ALWAYS_INLINE void
rmsnorm_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const Elementwise *j = user_data;
  const float *restrict w = j->b;
  int C = j->C;
  gint64 t;
  int i;

  for (t = begin; t < end; t++)
    {
      const float *restrict x = j->a + (gsize) t * C;
      float *restrict o = j->out + (gsize) t * C;
      float scale = 1.0f / sqrtf (sum_squares (x, C) / C + j->eps);

      for (i = 0; i < C; i++)
        o[i] = x[i] * scale * w[i];
      if (j->d != NULL)
        j->d[t] = scale;
    }
}

HOT_VARIANTS (rmsnorm_rows)

/* dinp (out) += from dout (e), inp (a), weight (b) */
static ALWAYS_INLINE void
rmsnorm_backward_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const Elementwise *j = user_data;
  const float *restrict w = j->b;
  int C = j->C;
  gint64 t;
  int i;

  for (t = begin; t < end; t++)
    {
      const float *restrict x = j->a + (gsize) t * C;
      const float *restrict dy = j->e + (gsize) t * C;
      float *restrict dx = j->out + (gsize) t * C;
      float scale = 1.0f / sqrtf (sum_squares (x, C) / C + j->eps);
      float k = scale * scale * scale * dot3 (dy, w, x, C) / C;

      for (i = 0; i < C; i++)
        dx[i] += scale * w[i] * dy[i] - k * x[i];
    }
}

HOT_VARIANTS (rmsnorm_backward_rows)

/* dweight (c) += Σ_t dout·x·scale over columns [begin, end): each thread owns columns */
static ALWAYS_INLINE void
rmsnorm_dweight_cols (gint64 begin, gint64 end, gpointer user_data)
{
  const Elementwise *j = user_data;
  float *restrict dw = j->c;
  const float *restrict scales = j->d;
  gint64 T = j->n;
  int C = j->C;
  gint64 t;
  gint64 i;

  for (t = 0; t < T; t++)
    {
      const float *restrict x = j->a + (gsize) t * C;
      const float *restrict dy = j->e + (gsize) t * C;
      float st = scales[t];

      for (i = begin; i < end; i++)
        dw[i] += dy[i] * x[i] * st;
    }
}

HOT_VARIANTS (rmsnorm_dweight_cols)

static ALWAYS_INLINE void
rmsnorm_scales (gint64 begin, gint64 end, gpointer user_data)
{
  const Elementwise *j = user_data;
  gint64 t;

  for (t = begin; t < end; t++)
    j->d[t] = 1.0f / sqrtf (sum_squares (j->a + (gsize) t * j->C, j->C) / j->C + j->eps);
}

HOT_VARIANTS (rmsnorm_scales)

static void
run_rmsnorm (const TailorOp *op)
{
  Elementwise j = { 0 };

  j.out = fptr (&op->t[0]);
  j.d = fptr (&op->t[1]);
  j.a = fptr (&op->t[2]);
  j.b = fptr (&op->t[3]);
  j.C = (int) op->t[2].ne[0];
  j.eps = op->f[0];
  tailor_parallel_for (rows_of (&op->t[2]), MAX (1, 4096 / j.C), HOT (rmsnorm_rows), &j);
}

static void
run_rmsnorm_backward (const TailorOp *op)
{
  Elementwise j = { 0 };
  gint64 T = rows_of (&op->t[3]);

  j.out = fptr (&op->t[0]);
  j.c = fptr (&op->t[1]);
  j.e = fptr (&op->t[2]);
  j.a = fptr (&op->t[3]);
  j.b = fptr (&op->t[4]);
  j.C = (int) op->t[3].ne[0];
  j.eps = op->f[0];
  j.n = T;
  tailor_parallel_for (T, MAX (1, 2048 / j.C), HOT (rmsnorm_backward_rows), &j);
  if (j.c != NULL)
    {
      j.d = scratch (SLOT_OP, T);
      tailor_parallel_for (T, MAX (1, 4096 / j.C), HOT (rmsnorm_scales), &j);
      tailor_parallel_for (j.C, 64, HOT (rmsnorm_dweight_cols), &j);
    }
}

/* ---- RoPE ---- */

typedef struct
{
  float *x;
  const float *cs; /* (T, half, 2): cos, sin */
  int n_head, head_dim, n_rot;
  gboolean neox;
  gboolean inverse;
} RopeJob;

static ALWAYS_INLINE void
rope_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const RopeJob *j = user_data;
  int half = j->n_rot / 2;
  float sign = j->inverse ? -1.0f : 1.0f;
  gint64 t;
  int h;
  int i;

  for (t = begin; t < end; t++)
    {
      const float *cs = j->cs + (gsize) t * half * 2;

      for (h = 0; h < j->n_head; h++)
        {
          float *xh = j->x + ((gsize) t * j->n_head + h) * j->head_dim;

          if (j->neox)
            for (i = 0; i < half; i++)
              {
                float c = cs[2 * i];
                float s = sign * cs[2 * i + 1];
                float x0 = xh[i];
                float x1 = xh[i + half];

                xh[i] = x0 * c - x1 * s;
                xh[i + half] = x0 * s + x1 * c;
              }
          else
            for (i = 0; i < half; i++)
              {
                float c = cs[2 * i];
                float s = sign * cs[2 * i + 1];
                float x0 = xh[2 * i];
                float x1 = xh[2 * i + 1];

                xh[2 * i] = x0 * c - x1 * s;
                xh[2 * i + 1] = x0 * s + x1 * c;
              }
        }
    }
}

HOT_VARIANTS (rope_rows)

typedef struct
{
  float *cs;
  const gint32 *pos;
  const double *inv_freq;
  const float *factors;
  float freq_scale;
  int half;
} RopeAnglesJob;

/* Positions [begin, end) of the cos/sin table (libm's double cos and sin are most of a
 * RoPE op's time, so the table is split over the threads too). */
static void
rope_angles_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const RopeAnglesJob *j = user_data;
  gint64 t;
  int i;

  for (t = begin; t < end; t++)
    for (i = 0; i < j->half; i++)
      {
        double theta = j->pos[t] * j->inv_freq[i] * j->freq_scale /
                       (j->factors != NULL ? j->factors[i] : 1.0f);

        j->cs[((gsize) t * j->half + i) * 2] = (float) cos (theta);
        j->cs[((gsize) t * j->half + i) * 2 + 1] = (float) sin (theta);
      }
}

static void
run_rope (const TailorOp *op)
{
  int T = (int) tailor_tensor_n_elements (&op->t[1]);
  RopeJob j = { fptr (&op->t[0]), NULL, op->i[0], op->i[1], op->i[2],
                op->i[3] == TAILOR_ROPE_NEOX, op->i[4] };
  int half = j.n_rot / 2;
  g_autofree double *inv_freq = g_new (double, half);
  RopeAnglesJob a = { scratch (SLOT_OP, (gsize) T * half * 2), ptr (&op->t[1]), inv_freq,
                      fptr (&op->t[2]), op->f[1], half };
  int i;

  /* the angles exactly as the reference computes them, once per position, not per head */
  for (i = 0; i < half; i++)
    inv_freq[i] = pow (op->f[0], -2.0 * i / j.n_rot);
  tailor_parallel_for (T, MAX (1, 256 / MAX (half, 1)), rope_angles_rows, &a);
  j.cs = a.cs;
  tailor_parallel_for (T, MAX (1, 8192 / (j.n_head * j.head_dim)), HOT (rope_rows), &j);
}

/* ---- Attention: tiles of queries × keys, online softmax, memory O(tile) ---- */

typedef struct
{
  float *out, *lse;            /* forward outputs */
  float *dq, *dk, *dv;         /* backward outputs (+=) */
  const float *q, *k, *v;      /* q (T, n_head, hd), k, v (T, n_head_kv, hd) */
  const float *dout;           /* (T, n_head, hd) */
  const float *olse;           /* the forward's lse (n_head, T) */
  float *delta;                /* (n_head, T) dout · out */
  int T, n_head, n_head_kv, hd;
  int n_qb, n_kb;
  int p0;                      /* the first query's key position (cached attention; else 0) */
  float scale;
} AttentionJob;

/* Causal mask of a block: −∞ where key j0 + c comes after query t0 + r. */
static ALWAYS_INLINE void
mask_block (float *s, int nq, int nk, int t0, int j0)
{
  int r;
  int c;

  if (j0 + nk - 1 <= t0)
    return;
  for (r = 0; r < nq; r++)
    for (c = MAX (0, t0 + r - j0 + 1); c < nk; c++)
      s[(gsize) r * ATT_BK + c] = -INFINITY;
}

/* Online softmax over one block of scores: updates the running max m and sum l, turns
 * s into exp(s − m_new) and returns per-row rescale factors in corr. */
/* Online softmax over one block of scores: updates the running max m and sum l, turns
 * s into exp(s − m_new) and returns per-row rescale factors in corr. */
static ALWAYS_INLINE void
softmax_block (float *s, int nq, int nk, float *m, float *l, float *corr)
{
  int r;

  for (r = 0; r < nq; r++)
    {
      float *row = s + (gsize) r * ATT_BK;
      float mx = max_of (row, nk, m[r]);
      float sum = exp_shift_sum (row, nk, mx);

      corr[r] = m[r] == -INFINITY ? 0.0f : fast_expf (m[r] - mx);
      l[r] = l[r] * corr[r] + sum;
      m[r] = mx;
    }
}

/* Forward tasks (h, query block): acc = Σ_blocks softmax-weighted V. */
static ALWAYS_INLINE void
attention_forward_blocks (gint64 begin, gint64 end, gpointer user_data)
{
  const AttentionJob *j = user_data;
  int hd = j->hd;
  int q_stride = j->n_head * hd;
  int kv_stride = j->n_head_kv * hd;
  int group = j->n_head / j->n_head_kv;
  float *s = scratch (SLOT_PANEL, (gsize) ATT_BQ * ATT_BK);
  float *acc = scratch (SLOT_TILE, (gsize) ATT_BQ * hd);
  float m[ATT_BQ];
  float l[ATT_BQ];
  float corr[ATT_BQ];
  gint64 task;

  for (task = begin; task < end; task++)
    {
      int h = (int) (task % j->n_head);
      int qb = j->n_qb - 1 - (int) (task / j->n_head);
      int kvh = h / group;
      int t0 = qb * ATT_BQ;
      int nq = MIN (ATT_BQ, j->T - t0);
      const float *qh = j->q + (gsize) t0 * q_stride + (gsize) h * hd;
      int j0;
      int r;
      int d;

      for (r = 0; r < nq; r++)
        {
          m[r] = -INFINITY;
          l[r] = 0.0f;
        }
      memset (acc, 0, sizeof (float) * nq * hd);
      for (j0 = 0; j0 < j->p0 + t0 + nq; j0 += ATT_BK)
        {
          int nk = MIN (ATT_BK, j->p0 + t0 + nq - j0);
          const float *kb = j->k + (gsize) j0 * kv_stride + (gsize) kvh * hd;
          const float *vb = j->v + (gsize) j0 * kv_stride + (gsize) kvh * hd;

          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, hd, j->scale, qh,
                       q_stride, kb, kv_stride, 0.0f, s, ATT_BK);
          mask_block (s, nq, nk, j->p0 + t0, j0);
          softmax_block (s, nq, nk, m, l, corr);
          for (r = 0; r < nq; r++)
            for (d = 0; d < hd; d++)
              acc[(gsize) r * hd + d] *= corr[r];
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, nk, 1.0f, s, ATT_BK,
                       vb, kv_stride, 1.0f, acc, hd);
        }
      for (r = 0; r < nq; r++)
        {
          float *o = j->out + (gsize) (t0 + r) * q_stride + (gsize) h * hd;
          float inv = 1.0f / l[r];

          for (d = 0; d < hd; d++)
            o[d] = acc[(gsize) r * hd + d] * inv;
          if (j->lse != NULL)
            j->lse[(gsize) h * j->T + t0 + r] = m[r] + logf (l[r]);
        }
    }
}

HOT_VARIANTS (attention_forward_blocks)

static void
run_attention (const TailorOp *op)
{
  AttentionJob j = { 0 };

  j.out = fptr (&op->t[0]);
  j.lse = fptr (&op->t[1]);
  j.q = fptr (&op->t[2]);
  j.k = fptr (&op->t[3]);
  j.v = fptr (&op->t[4]);
  j.n_head = op->i[0];
  j.n_head_kv = op->i[1];
  j.hd = op->i[2];
  j.T = (int) (tailor_tensor_n_elements (&op->t[2]) / ((gint64) j.n_head * j.hd));
  j.scale = 1.0f / sqrtf ((float) j.hd);
  j.n_qb = (j.T + ATT_BQ - 1) / ATT_BQ;
  /* tasks run the last query blocks (the longest rows) first, so the chunks left at the
   * end are the short ones */
  tailor_parallel_for ((gint64) j.n_qb * j.n_head, 1, HOT (attention_forward_blocks), &j);
}

/* Stores k, v at rows pos[0] … of the caches, then attends the queries over the cache. */
static gboolean
run_attention_cached (const TailorOp *op, guint index, GError **error)
{
  AttentionJob j = { 0 };
  const gint32 *pos = ptr (&op->t[6]);
  gint64 kv_width = (gint64) op->i[1] * op->i[2];
  gint64 n_ctx = tailor_tensor_n_elements (&op->t[4]) / kv_width;
  gint64 T = tailor_tensor_n_elements (&op->t[6]);

  if (pos[0] < 0 || pos[0] + T > n_ctx)
    return op_fail (error, index, op,
                    "positions %d … %" G_GINT64_FORMAT " lie outside the cache of %"
                    G_GINT64_FORMAT " positions",
                    pos[0], pos[0] + T - 1, n_ctx);
  memcpy (fptr (&op->t[4]) + pos[0] * kv_width, fptr (&op->t[2]), sizeof (float) * T * kv_width);
  memcpy (fptr (&op->t[5]) + pos[0] * kv_width, fptr (&op->t[3]), sizeof (float) * T * kv_width);
  j.out = fptr (&op->t[0]);
  j.q = fptr (&op->t[1]);
  j.k = fptr (&op->t[4]);
  j.v = fptr (&op->t[5]);
  j.n_head = op->i[0];
  j.n_head_kv = op->i[1];
  j.hd = op->i[2];
  j.T = (int) T;
  j.p0 = pos[0];
  j.scale = 1.0f / sqrtf ((float) j.hd);
  j.n_qb = (j.T + ATT_BQ - 1) / ATT_BQ;
  tailor_parallel_for ((gint64) j.n_qb * j.n_head, 1, HOT (attention_forward_blocks), &j);
  return TRUE;
}

/* P = exp(s − lse) (masked to 0) and dS = P ∘ (dP − delta) for one block. */
static ALWAYS_INLINE void
attention_grad_block (float *p, float *dp, int nq, int nk, const float *lse, const float *delta)
{
  int r;
  int c;

  for (r = 0; r < nq; r++)
    {
      float *restrict pr = p + (gsize) r * ATT_BK;
      float *restrict dr = dp + (gsize) r * ATT_BK;
      float lr = lse[r];
      float de = delta[r];

      for (c = 0; c < nk; c++)
        {
          float pv = pr[c] == -INFINITY ? 0.0f : fast_expf (pr[c] - lr);

          pr[c] = pv;
          dr[c] = pv * (dr[c] - de);
        }
    }
}

/* Scores and probabilities of block (h, t0, nq) × (j0, nk): s = P, dp = dS. */
static ALWAYS_INLINE void
attention_recompute (const AttentionJob *j, int h, int t0, int nq, int j0, int nk, float *s,
                     float *dp)
{
  int hd = j->hd;
  int q_stride = j->n_head * hd;
  int kv_stride = j->n_head_kv * hd;
  int kvh = h / (j->n_head / j->n_head_kv);
  const float *qh = j->q + (gsize) t0 * q_stride + (gsize) h * hd;
  const float *doh = j->dout + (gsize) t0 * q_stride + (gsize) h * hd;
  const float *kb = j->k + (gsize) j0 * kv_stride + (gsize) kvh * hd;
  const float *vb = j->v + (gsize) j0 * kv_stride + (gsize) kvh * hd;

  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, hd, j->scale, qh, q_stride, kb,
               kv_stride, 0.0f, s, ATT_BK);
  mask_block (s, nq, nk, t0, j0);
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, hd, 1.0f, doh, q_stride, vb,
               kv_stride, 0.0f, dp, ATT_BK);
  attention_grad_block (s, dp, nq, nk, j->olse + (gsize) h * j->T + t0,
                        j->delta + (gsize) h * j->T + t0);
}

/* dq of tasks (h, query block): dq += scale · dS · K over the key blocks it sees. */
static ALWAYS_INLINE void
attention_dq_blocks (gint64 begin, gint64 end, gpointer user_data)
{
  const AttentionJob *j = user_data;
  int hd = j->hd;
  int q_stride = j->n_head * hd;
  int kv_stride = j->n_head_kv * hd;
  float *s = scratch (SLOT_PANEL, (gsize) ATT_BQ * ATT_BK);
  float *dp = scratch (SLOT_TILE, (gsize) ATT_BQ * ATT_BK);
  gint64 task;

  for (task = begin; task < end; task++)
    {
      int h = (int) (task % j->n_head);
      int t0 = (j->n_qb - 1 - (int) (task / j->n_head)) * ATT_BQ;
      int nq = MIN (ATT_BQ, j->T - t0);
      int kvh = h / (j->n_head / j->n_head_kv);
      int j0;

      for (j0 = 0; j0 < t0 + nq; j0 += ATT_BK)
        {
          int nk = MIN (ATT_BK, t0 + nq - j0);

          attention_recompute (j, h, t0, nq, j0, nk, s, dp);
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, nk, j->scale, dp,
                       ATT_BK, j->k + (gsize) j0 * kv_stride + (gsize) kvh * hd, kv_stride, 1.0f,
                       j->dq + (gsize) t0 * q_stride + (gsize) h * hd, q_stride);
        }
    }
}

HOT_VARIANTS (attention_dq_blocks)

/* dk, dv of tasks (kv head, key block): sums over the group's query heads and the query
 * blocks that see the keys. */
static ALWAYS_INLINE void
attention_dkv_blocks (gint64 begin, gint64 end, gpointer user_data)
{
  const AttentionJob *j = user_data;
  int hd = j->hd;
  int q_stride = j->n_head * hd;
  int kv_stride = j->n_head_kv * hd;
  int group = j->n_head / j->n_head_kv;
  float *s = scratch (SLOT_PANEL, (gsize) ATT_BQ * ATT_BK);
  float *dp = scratch (SLOT_TILE, (gsize) ATT_BQ * ATT_BK);
  gint64 task;

  for (task = begin; task < end; task++)
    {
      int kvh = (int) (task % j->n_head_kv);
      int j0 = (int) (task / j->n_head_kv) * ATT_BK;
      int nk = MIN (ATT_BK, j->T - j0);
      float *dkb = j->dk + (gsize) j0 * kv_stride + (gsize) kvh * hd;
      float *dvb = j->dv + (gsize) j0 * kv_stride + (gsize) kvh * hd;
      int h;
      int t0;

      for (h = kvh * group; h < (kvh + 1) * group; h++)
        for (t0 = j0 / ATT_BQ * ATT_BQ; t0 < j->T; t0 += ATT_BQ)
          {
            int nq = MIN (ATT_BQ, j->T - t0);
            /* keys past the last query of the block are masked anyway: trim them */
            int nk_seen = MIN (nk, t0 + nq - j0);

            attention_recompute (j, h, t0, nq, j0, nk_seen, s, dp);
            cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, nk_seen, hd, nq, 1.0f, s,
                         ATT_BK, j->dout + (gsize) t0 * q_stride + (gsize) h * hd, q_stride, 1.0f,
                         dvb, kv_stride);
            cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, nk_seen, hd, nq, j->scale, dp,
                         ATT_BK, j->q + (gsize) t0 * q_stride + (gsize) h * hd, q_stride, 1.0f,
                         dkb, kv_stride);
          }
    }
}

HOT_VARIANTS (attention_dkv_blocks)

static ALWAYS_INLINE void
attention_delta_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const AttentionJob *j = user_data;
  gint64 t;
  int h;

  for (t = begin; t < end; t++)
    for (h = 0; h < j->n_head; h++)
      {
        gsize at = ((gsize) t * j->n_head + h) * j->hd;

        j->delta[(gsize) h * j->T + t] = dot (j->out + at, j->dout + at, j->hd);
      }
}

HOT_VARIANTS (attention_delta_rows)

static void
run_attention_backward (TailorBackend *backend, const TailorOp *op)
{
  AttentionJob j = { 0 };
  gint64 n_kb;

  j.dq = fptr (&op->t[0]);
  j.dk = fptr (&op->t[1]);
  j.dv = fptr (&op->t[2]);
  j.dout = fptr (&op->t[3]);
  j.out = fptr (&op->t[4]);
  j.olse = fptr (&op->t[5]);
  j.q = fptr (&op->t[6]);
  j.k = fptr (&op->t[7]);
  j.v = fptr (&op->t[8]);
  j.n_head = op->i[0];
  j.n_head_kv = op->i[1];
  j.hd = op->i[2];
  j.T = (int) (tailor_tensor_n_elements (&op->t[6]) / ((gint64) j.n_head * j.hd));
  j.scale = 1.0f / sqrtf ((float) j.hd);
  j.n_qb = (j.T + ATT_BQ - 1) / ATT_BQ;
  n_kb = (j.T + ATT_BK - 1) / ATT_BK;

  j.delta = scratch (SLOT_OP, (gsize) j.T * j.n_head);
  tailor_parallel_for (j.T, 16, HOT (attention_delta_rows), &j);
  tailor_parallel_for ((gint64) j.n_qb * j.n_head, 1, HOT (attention_dq_blocks), &j);
  tailor_parallel_for (n_kb * j.n_head_kv, 1, HOT (attention_dkv_blocks), &j);
}

/* ---- LoRA ---- */

typedef struct
{
  float *x;          /* (T, IC) output: the dropped input, or dinp += mask ∘ row */
  const float *inp;  /* (T, IC) */
  float dropout;
  guint32 seed;
  int IC;
} DropJob;

static void
drop_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const DropJob *j = user_data;
  gsize i;

  for (i = (gsize) begin * j->IC; i < (gsize) end * j->IC; i++)
    j->x[i] = j->inp[i] * tailor_ref_dropout_factor (j->seed, (guint32) i, j->dropout);
}

/* The LoRA input: inp itself, or a dropped copy in scratch. */
static const float *
lora_input (const float *inp, float dropout, guint32 seed, int T, int IC)
{
  DropJob j = { NULL, inp, dropout, seed, IC };

  if (dropout <= 0.0f)
    return inp;
  j.x = scratch (SLOT_OP, (gsize) T * IC);
  tailor_parallel_for (T, MAX (1, 4096 / IC), drop_rows, &j);
  return j.x;
}

static guint32
seed_of (const TailorOp *op, int slot)
{
  return op->t[slot].buf != NULL ? (guint32) * (const gint32 *) ptr (&op->t[slot]) : 0;
}

static void
run_lora (const TailorOp *op)
{
  float *out = fptr (&op->t[0]);
  float *xa = fptr (&op->t[1]);
  const float *a = fptr (&op->t[3]);
  const float *b = fptr (&op->t[4]);
  int T = (int) rows_of (&op->t[2]);
  int IC = (int) op->t[3].ne[0];
  int r = (int) rows_of (&op->t[3]);
  int OC = (int) rows_of (&op->t[4]);
  const float *x = lora_input (fptr (&op->t[2]), op->f[1], seed_of (op, 5), T, IC);

  par_sgemm (CblasNoTrans, CblasTrans, T, r, IC, 1.0f, x, IC, a, IC, 0.0f, xa, r);
  par_sgemm (CblasNoTrans, CblasTrans, T, OC, r, op->f[0], xa, r, b, r, 1.0f, out, OC);
}

static void
undrop_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const DropJob *j = user_data;
  gsize i;

  for (i = (gsize) begin * j->IC; i < (gsize) end * j->IC; i++)
    j->x[i] += j->inp[i] * tailor_ref_dropout_factor (j->seed, (guint32) i, j->dropout);
}

static void
run_lora_backward (const TailorOp *op)
{
  float *dinp = fptr (&op->t[0]);
  float *da = fptr (&op->t[1]);
  float *db = fptr (&op->t[2]);
  const float *dout = fptr (&op->t[3]);
  const float *xa = fptr (&op->t[5]);
  const float *a = fptr (&op->t[6]);
  const float *b = fptr (&op->t[7]);
  float scale = op->f[0];
  float dropout = op->f[1];
  guint32 seed = seed_of (op, 8);
  int T = (int) rows_of (&op->t[4]);
  int IC = (int) op->t[6].ne[0];
  int r = (int) rows_of (&op->t[6]);
  int OC = (int) rows_of (&op->t[7]);
  float *dxa = scratch (SLOT_OP + 1, (gsize) T * r);
  const float *x;

  /* dxa (T, r) = scale · dout · B;  db (OC, r) += scale · doutᵀ · xa */
  par_sgemm (CblasNoTrans, CblasNoTrans, T, r, OC, scale, dout, OC, b, r, 0.0f, dxa, r);
  par_sgemm (CblasTrans, CblasNoTrans, OC, r, T, scale, dout, OC, xa, r, 1.0f, db, r);
  /* da (r, IC) += dxaᵀ · drop(inp) */
  x = lora_input (fptr (&op->t[4]), dropout, seed, T, IC);
  par_sgemm (CblasTrans, CblasNoTrans, r, IC, T, 1.0f, dxa, r, x, IC, 1.0f, da, IC);
  /* dinp (T, IC) += mask ∘ (dxa · A) */
  if (dinp != NULL)
    {
      if (dropout <= 0.0f)
        par_sgemm (CblasNoTrans, CblasNoTrans, T, IC, r, 1.0f, dxa, r, a, IC, 1.0f, dinp, IC);
      else
        {
          float *row = scratch (SLOT_OP + 2, (gsize) T * IC);
          DropJob j = { dinp, row, dropout, seed, IC };

          par_sgemm (CblasNoTrans, CblasNoTrans, T, IC, r, 1.0f, dxa, r, a, IC, 0.0f, row, IC);
          tailor_parallel_for (T, MAX (1, 4096 / IC), undrop_rows, &j);
        }
    }
}

/* ---- Cross-entropy over vocabulary chunks ---- */

typedef struct
{
  Weight w;
  const float *x;      /* (n_rows, C) counted rows */
  float *wbuf;         /* (chunk, C) dequantized rows, unless W is F32 */
  float *logits;       /* (n_rows, chunk) */
  const gint32 *targets; /* per counted row */
  double *run_max, *run_sum, *target_logit;
  const float *lse;    /* per counted row (backward) */
  float dl;
  int n_rows, C, v0, nc, chunk;
} CeJob;

static void
ce_dequantize_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const CeJob *j = user_data;
  gint64 r;

  for (r = begin; r < end; r++)
    weight_row_cols (&j->w, j->v0 + (int) r, 0, j->C, j->wbuf + (gsize) r * j->C);
}

/* logits (n_rows, nc) of vocabulary rows [v0, v0 + nc); returns the chunk's W rows. */
static const float *
ce_logits (CeJob *j, int v0, int nc)
{
  const float *wc;

  j->v0 = v0;
  j->nc = nc;
  if (j->w.type == TAILOR_TYPE_F32)
    wc = (const float *) (j->w.data + (gsize) v0 * j->w.row_bytes);
  else
    {
      tailor_parallel_for (nc, 16, ce_dequantize_rows, j);
      wc = j->wbuf;
    }
  par_sgemm (CblasNoTrans, CblasTrans, j->n_rows, nc, j->C, 1.0f, j->x, j->C, wc, j->C, 0.0f,
             j->logits, j->chunk);
  return wc;
}

static ALWAYS_INLINE void
ce_forward_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const CeJob *j = user_data;
  gint64 m;

  for (m = begin; m < end; m++)
    {
      float *l = j->logits + (gsize) m * j->chunk;
      int target = j->targets[m];
      float cmax = max_of (l, j->nc, (float) j->run_max[m]);

      if (target >= j->v0 && target < j->v0 + j->nc)
        j->target_logit[m] = l[target - j->v0];
      j->run_sum[m] = j->run_sum[m] * exp (j->run_max[m] - cmax) + exp_shift_sum (l, j->nc, cmax);
      j->run_max[m] = cmax;
    }
}

HOT_VARIANTS (ce_forward_rows)

static ALWAYS_INLINE void
ce_backward_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const CeJob *j = user_data;
  float dl = j->dl;
  int nc = j->nc;
  gint64 m;
  int c;

  for (m = begin; m < end; m++)
    {
      float *restrict l = j->logits + (gsize) m * j->chunk;
      float lse = j->lse[m];
      int target = j->targets[m] - j->v0;

      for (c = 0; c < nc; c++)
        l[c] = dl * fast_expf (l[c] - lse);
      if (target >= 0 && target < nc)
        l[target] -= dl;
    }
}

HOT_VARIANTS (ce_backward_rows)

/* The counted rows of a cross-entropy op: their indices and, unless every row counts, a
 * packed copy of their inputs. */
typedef struct
{
  int *rows;
  int n_rows;
  float *packed;   /* (n_rows, C) or NULL when x is inp itself */
  const float *x;
  gint32 *targets; /* (n_rows) */
} CeRows;

static gboolean
ce_rows_init (CeRows *cr, const TailorOp *op, guint index, int slot_inp, int slot_w,
              GError **error)
{
  const TailorTensor *inp = &op->t[slot_inp];
  const float *mask = fptr (&op->t[slot_w + 2]);
  const gint32 *targets = ptr (&op->t[slot_w + 1]);
  gint64 V = rows_of (&op->t[slot_w]);
  int T = (int) rows_of (inp);
  int C = (int) inp->ne[0];
  int t;

  memset (cr, 0, sizeof (*cr));
  cr->rows = g_new (int, MAX (T, 1));
  cr->targets = g_new (gint32, MAX (T, 1));
  for (t = 0; t < T; t++)
    if (mask[t] != 0.0f)
      {
        if (targets[t] < 0 || targets[t] >= V)
          return op_fail (error, index, op,
                          "target %d is %d, outside the vocabulary of %" G_GINT64_FORMAT " rows",
                          t, targets[t], V);
        cr->targets[cr->n_rows] = targets[t];
        cr->rows[cr->n_rows++] = t;
      }
  if (cr->n_rows == T)
    cr->x = fptr (inp);
  else
    {
      int m;

      cr->packed = scratch (SLOT_OP, (gsize) MAX (cr->n_rows, 1) * C);
      for (m = 0; m < cr->n_rows; m++)
        memcpy (cr->packed + (gsize) m * C, fptr (inp) + (gsize) cr->rows[m] * C,
                sizeof (float) * C);
      cr->x = cr->packed;
    }
  return TRUE;
}

static void
ce_rows_clear (CeRows *cr)
{
  g_free (cr->rows);
  g_free (cr->targets);
}

/* The op's weight, chunking and counted rows, and the scratch each chunk's logits need. */
static void
ce_job_init (CeJob *j, const TailorOp *op, const CeRows *cr)
{
  memset (j, 0, sizeof (*j));
  j->w = weight_of (&op->t[3]);
  j->chunk = MIN (op->i[0], j->w.ne1);
  j->x = cr->x;
  j->targets = cr->targets;
  j->n_rows = cr->n_rows;
  j->C = j->w.ne0;
  j->wbuf = j->w.type != TAILOR_TYPE_F32 ? scratch (SLOT_OP + 1, (gsize) j->chunk * j->C) : NULL;
  j->logits = scratch (SLOT_OP + 2, (gsize) cr->n_rows * j->chunk);
}

static gboolean
run_cross_entropy (TailorBackend *backend, const TailorOp *op, guint index, GError **error)
{
  CeRows cr;
  CeJob j;
  float *lse_out = fptr (&op->t[1]);
  int V;
  int chunk;
  int v0;
  int m;
  double loss = 0.0;
  gsize extra;

  if (!ce_rows_init (&cr, op, index, 2, 3, error))
    {
      ce_rows_clear (&cr);
      return FALSE;
    }
  if (cr.n_rows == 0)
    {
      *fptr (&op->t[0]) = 0.0f;
      ce_rows_clear (&cr);
      return TRUE;
    }
  ce_job_init (&j, op, &cr);
  V = j.w.ne1;
  chunk = j.chunk;
  extra = (gsize) chunk * j.C * (j.w.type != TAILOR_TYPE_F32) + (gsize) cr.n_rows * chunk;
  tailor_backend_account (backend, (gint64) (extra * sizeof (float)));
  j.run_max = g_new (double, cr.n_rows);
  j.run_sum = g_new0 (double, cr.n_rows);
  j.target_logit = g_new0 (double, cr.n_rows);
  for (m = 0; m < cr.n_rows; m++)
    j.run_max[m] = -INFINITY;

  for (v0 = 0; v0 < V; v0 += chunk)
    {
      ce_logits (&j, v0, MIN (chunk, V - v0));
      tailor_parallel_for (cr.n_rows, 4, HOT (ce_forward_rows), &j);
    }
  for (m = 0; m < cr.n_rows; m++)
    {
      double row_lse = j.run_max[m] + log (j.run_sum[m]);

      if (lse_out != NULL)
        lse_out[cr.rows[m]] = (float) row_lse;
      loss += row_lse - j.target_logit[m];
    }
  *fptr (&op->t[0]) = (float) (loss / cr.n_rows);

  g_free (j.run_max);
  g_free (j.run_sum);
  g_free (j.target_logit);
  tailor_backend_account (backend, -(gint64) (extra * sizeof (float)));
  ce_rows_clear (&cr);
  return TRUE;
}

static gboolean
run_cross_entropy_backward (TailorBackend *backend, const TailorOp *op, guint index,
                            GError **error)
{
  CeRows cr;
  CeJob j;
  float *dinp = fptr (&op->t[0]);
  float *dw = fptr (&op->t[1]);
  const float *lse_in = fptr (&op->t[6]);
  g_autofree float *lse = NULL;
  float *dx;
  int V;
  int chunk;
  int v0;
  int m;
  gsize extra;

  if (!ce_rows_init (&cr, op, index, 2, 3, error))
    {
      ce_rows_clear (&cr);
      return FALSE;
    }
  if (cr.n_rows == 0)
    {
      ce_rows_clear (&cr);
      return TRUE;
    }
  ce_job_init (&j, op, &cr);
  V = j.w.ne1;
  chunk = j.chunk;
  j.dl = *fptr (&op->t[7]) / cr.n_rows;
  lse = g_new (float, cr.n_rows);
  for (m = 0; m < cr.n_rows; m++)
    lse[m] = lse_in[cr.rows[m]];
  j.lse = lse;
  extra = (gsize) chunk * j.C * (j.w.type != TAILOR_TYPE_F32) + (gsize) cr.n_rows * chunk +
            (cr.packed != NULL ? (gsize) cr.n_rows * j.C : 0);
  tailor_backend_account (backend, (gint64) (extra * sizeof (float)));
  /* the packed rows' gradient, scattered back at the end; inp's own rows otherwise */
  dx = cr.packed != NULL ? scratch (SLOT_OP + 3, (gsize) cr.n_rows * j.C) : dinp;
  if (cr.packed != NULL)
    memset (dx, 0, sizeof (float) * cr.n_rows * j.C);

  for (v0 = 0; v0 < V; v0 += chunk)
    {
      int nc = MIN (chunk, V - v0);
      const float *wc = ce_logits (&j, v0, nc);

      tailor_parallel_for (cr.n_rows, 4, HOT (ce_backward_rows), &j);
      par_sgemm (CblasNoTrans, CblasNoTrans, cr.n_rows, j.C, nc, 1.0f, j.logits, chunk, wc, j.C,
                 1.0f, dx, j.C);
      if (dw != NULL)
        par_sgemm (CblasTrans, CblasNoTrans, nc, j.C, cr.n_rows, 1.0f, j.logits, chunk, j.x, j.C,
                   1.0f, dw + (gsize) v0 * j.C, j.C);
    }
  if (cr.packed != NULL)
    {
      int c;

      for (m = 0; m < cr.n_rows; m++)
        for (c = 0; c < j.C; c++)
          dinp[(gsize) cr.rows[m] * j.C + c] += dx[(gsize) m * j.C + c];
    }
  tailor_backend_account (backend, -(gint64) (extra * sizeof (float)));
  ce_rows_clear (&cr);
  return TRUE;
}

/* ---- Optimizer ---- */

typedef struct
{
  const TailorTensor *list;
  double *partial; /* per tensor */
} NormJob;

static ALWAYS_INLINE void
norm_tensors (gint64 begin, gint64 end, gpointer user_data)
{
  const NormJob *j = user_data;
  gint64 k;

  for (k = begin; k < end; k++)
    {
      const float *g = fptr (&j->list[k]);
      gint64 n = tailor_tensor_n_elements (&j->list[k]);
      double total = 0.0;
      gint64 i0;

      /* fp32 partial sums of 4096, added in double */
      for (i0 = 0; i0 < n; i0 += 4096)
        total += sum_squares (g + i0, (int) MIN (4096, n - i0));
      j->partial[k] = total;
    }
}

HOT_VARIANTS (norm_tensors)

static void
run_grad_norm_sq (const TailorOp *op)
{
  g_autofree double *partial = g_new0 (double, MAX (op->n_list, 1));
  NormJob j = { op->list, partial };
  double ss = 0.0;
  guint k;

  tailor_parallel_for (op->n_list, 1, HOT (norm_tensors), &j);
  for (k = 0; k < op->n_list; k++)
    ss += partial[k];
  *fptr (&op->t[0]) = (float) ss;
}

typedef struct
{
  float *param, *m, *v;
  const float *grad;
  float coef, lr, beta1, beta2, eps, decay, bc1, bc2;
} AdamJob;

static ALWAYS_INLINE void
adamw_range (gint64 begin, gint64 end, gpointer user_data)
{
  const AdamJob *j = user_data;
  float *restrict param = j->param;
  float *restrict mom = j->m;
  float *restrict var = j->v;
  const float *restrict grad = j->grad;
  float coef = j->coef;
  float lr = j->lr;
  float beta1 = j->beta1;
  float beta2 = j->beta2;
  float eps = j->eps;
  float decay = j->decay;
  float inv_bc1 = 1.0f / j->bc1;
  float inv_bc2 = 1.0f / j->bc2;
  gint64 i;

  for (i = begin; i < end; i++)
    {
      float g = grad[i] * coef;
      float m = beta1 * mom[i] + (1.0f - beta1) * g;
      float v = beta2 * var[i] + (1.0f - beta2) * g * g;

      mom[i] = m;
      var[i] = v;
      param[i] = param[i] * decay - lr * (m * inv_bc1) / (vec_sqrtf (v * inv_bc2) + eps);
    }
}

HOT_VARIANTS (adamw_range)

static void
run_adamw (const TailorOp *op)
{
  const TailorAdamWHyper *h = ptr (&op->t[4]);
  const float *norm_sq = fptr (&op->t[5]);
  int step = MAX (1, (int) h->step);
  AdamJob j = { fptr (&op->t[0]), fptr (&op->t[1]), fptr (&op->t[2]), fptr (&op->t[3]), 1.0f,
                h->lr, h->beta1, h->beta2, h->eps, 1.0f - h->lr * h->weight_decay,
                (float) (1.0 - pow (h->beta1, step)), (float) (1.0 - pow (h->beta2, step)) };

  if (h->max_grad_norm > 0.0f && norm_sq != NULL)
    j.coef = MIN (1.0f, (float) (h->max_grad_norm / (sqrt ((double) *norm_sq) + 1e-6)));
  tailor_parallel_for (tailor_tensor_n_elements (&op->t[0]), 16384, HOT (adamw_range), &j);
}

/* ---- Zeroing ---- */

/* Bytes zeroed per chunk: gradients of a whole model are zeroed every step, and one thread
 * alone leaves the other cores idle for as long as that takes. */
#define ZERO_CHUNK_BYTES (256 * 1024)

typedef struct
{
  guint8 *data;
  gsize n_bytes;
} ZeroJob;

static void
zero_chunks (gint64 begin, gint64 end, gpointer user_data)
{
  const ZeroJob *j = user_data;
  gsize b0 = (gsize) begin * ZERO_CHUNK_BYTES;
  gsize b1 = MIN ((gsize) end * ZERO_CHUNK_BYTES, j->n_bytes);

  memset (j->data + b0, 0, b1 - b0);
}

/* ---- The interpreter ---- */

static gboolean
run_op (TailorBackend *backend, const TailorOp *op, guint index, GError **error)
{
  const TailorTensor *t = op->t;

  switch (op->kind)
    {
    case TAILOR_OP_ZERO:
      {
        ZeroJob j = { ptr (&t[0]), tailor_tensor_n_bytes (&t[0]) };

        tailor_parallel_for ((gint64) ((j.n_bytes + ZERO_CHUNK_BYTES - 1) / ZERO_CHUNK_BYTES), 1,
                             zero_chunks, &j);
        return TRUE;
      }
    case TAILOR_OP_ADD:
      {
        Elementwise j = { fptr (&t[0]), fptr (&t[1]), fptr (&t[2]) };

        tailor_parallel_for (tailor_tensor_n_elements (&t[0]), 16384, HOT (add_range), &j);
        return TRUE;
      }
    case TAILOR_OP_EMBEDDING:
      {
        EmbeddingJob j = { fptr (&t[0]), weight_of (&t[1]), ptr (&t[2]) };
        gint64 T = tailor_tensor_n_elements (&t[2]);

        if (!check_ids (j.tokens, T, j.w.ne1, "token", index, op, error))
          return FALSE;
        tailor_parallel_for (T, 16, embedding_rows, &j);
        return TRUE;
      }
    case TAILOR_OP_EMBEDDING_BACKWARD:
      {
        gint64 T = tailor_tensor_n_elements (&t[2]);

        if (!check_ids (ptr (&t[2]), T, rows_of (&t[0]), "token", index, op, error))
          return FALSE;
        tailor_ref_embedding_backward (fptr (&t[0]), fptr (&t[1]), ptr (&t[2]), (int) T,
                                       (int) t[0].ne[0]);
        return TRUE;
      }
    case TAILOR_OP_RMSNORM:
      run_rmsnorm (op);
      return TRUE;
    case TAILOR_OP_RMSNORM_BACKWARD:
      run_rmsnorm_backward (op);
      return TRUE;
    case TAILOR_OP_MATMUL:
      run_matmul (op);
      return TRUE;
    case TAILOR_OP_MATMUL_BACKWARD_INPUT:
      run_matmul_backward_input (op);
      return TRUE;
    case TAILOR_OP_MATMUL_BACKWARD_WEIGHT:
      run_matmul_backward_weight (op);
      return TRUE;
    case TAILOR_OP_ROPE:
      run_rope (op);
      return TRUE;
    case TAILOR_OP_ATTENTION:
      run_attention (op);
      return TRUE;
    case TAILOR_OP_ATTENTION_BACKWARD:
      run_attention_backward (backend, op);
      return TRUE;
    case TAILOR_OP_ATTENTION_CACHED:
      return run_attention_cached (op, index, error);
    case TAILOR_OP_SWIGLU:
      {
        Elementwise j = { fptr (&t[0]), fptr (&t[1]), fptr (&t[2]) };

        tailor_parallel_for (tailor_tensor_n_elements (&t[0]), 8192, HOT (swiglu_range), &j);
        return TRUE;
      }
    case TAILOR_OP_SWIGLU_BACKWARD:
      {
        Elementwise j = { NULL, fptr (&t[3]), fptr (&t[4]), fptr (&t[0]), fptr (&t[1]),
                          fptr (&t[2]) };

        tailor_parallel_for (tailor_tensor_n_elements (&t[2]), 8192, HOT (swiglu_backward_range),
                             &j);
        return TRUE;
      }
    case TAILOR_OP_LORA:
      run_lora (op);
      return TRUE;
    case TAILOR_OP_LORA_BACKWARD:
      run_lora_backward (op);
      return TRUE;
    case TAILOR_OP_CROSS_ENTROPY:
      return run_cross_entropy (backend, op, index, error);
    case TAILOR_OP_CROSS_ENTROPY_BACKWARD:
      return run_cross_entropy_backward (backend, op, index, error);
    case TAILOR_OP_GRAD_NORM_SQ:
      run_grad_norm_sq (op);
      return TRUE;
    case TAILOR_OP_ADAMW:
      run_adamw (op);
      return TRUE;
    default:
      g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_UNSUPPORTED,
                   "op %u has kind %d, which the CPU backend does not know", index, op->kind);
      return FALSE;
    }
}

/* ---- Graphs ---- */

static gpointer
cpu_compile (TailorBackend *self, const TailorOp *ops, guint n_ops, GError **error)
{
  CpuCompiled *c = g_new0 (CpuCompiled, 1);

  c->ops = g_memdup2 (ops, sizeof (TailorOp) * n_ops);
  c->n_ops = n_ops;
  return c;
}

static void
cpu_compiled_free (TailorBackend *self, gpointer compiled)
{
  CpuCompiled *c = compiled;

  g_free (c->ops);
  g_free (c);
}

static void
add_timing (GHashTable *timings, const char *label, double ms)
{
  double *total = g_hash_table_lookup (timings, label);

  if (total == NULL)
    {
      total = g_new0 (double, 1);
      g_hash_table_insert (timings, g_strdup (label), total);
    }
  *total += ms;
}

static gboolean
cpu_run (TailorBackend *self, gpointer compiled, gboolean profile, GHashTable *timings,
         GError **error)
{
  CpuCompiled *c = compiled;
  guint i;

  /* another library (or a bench) may have changed it since the backend was made */
  openblas_set_num_threads (1);
  for (i = 0; i < c->n_ops; i++)
    {
      gint64 start = profile ? g_get_monotonic_time () : 0;

      if (!run_op (self, &c->ops[i], i, error))
        return FALSE;
      if (profile && timings != NULL)
        add_timing (timings, tailor_op_kind_name (c->ops[i].kind),
                    (g_get_monotonic_time () - start) / 1000.0);
    }
  return TRUE;
}

static void
cpu_free (TailorBackend *self)
{
  g_free (self);
}

static const TailorBackendClass cpu_class = {
  .name = "cpu",
  .free = cpu_free,
  .buf_new = cpu_buf_new,
  .buf_free = cpu_buf_free,
  .upload = cpu_upload,
  .download = cpu_download,
  .compile = cpu_compile,
  .run = cpu_run,
  .compiled_free = cpu_compiled_free,
  .buf_wrap = cpu_buf_wrap,
};

/* OpenBLAS (0.3.21) picks its kernels by the processor's family and model; a processor
 * newer than the library, or one a hypervisor reports with a model number it does not
 * know, gets the generic SSE3 "Prescott" kernels, 5–8 times slower than the AVX2 or
 * AVX-512 ones the same processor runs (measured: 12–18 against 90–148 GFLOP/s on one
 * core). Unless the user chose with OPENBLAS_CORETYPE, a DYNAMIC_ARCH build is asked again,
 * by the features, through its own selection entry point. */
static const char *const generic_cores[] = {
  "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
  "Northwood", "Banias", "Unknown",
};

static void
choose_blas_kernels (void)
{
#if defined(__x86_64__) && defined(__GNUC__)
  const char *core = openblas_get_corename ();
  const char *wanted = NULL;
  void **table;
  void (*reinit) (void);
  gboolean generic = FALSE;
  guint i;

  if (g_getenv ("OPENBLAS_CORETYPE") != NULL || core == NULL)
    return;
  for (i = 0; i < G_N_ELEMENTS (generic_cores); i++)
    generic |= g_ascii_strcasecmp (core, generic_cores[i]) == 0;
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512vl") &&
      __builtin_cpu_supports ("avx512bw") && __builtin_cpu_supports ("avx512dq"))
    wanted = "SkylakeX";
  else if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    wanted = "Haswell";
  table = dlsym (RTLD_DEFAULT, "gotoblas");
  reinit = (void (*) (void)) dlsym (RTLD_DEFAULT, "gotoblas_dynamic_init");
  if (!generic || wanted == NULL || table == NULL || reinit == NULL)
    return;
  g_setenv ("OPENBLAS_CORETYPE", wanted, TRUE);
  *table = NULL;
  reinit ();
  g_unsetenv ("OPENBLAS_CORETYPE");
  g_debug ("OpenBLAS chose its %s kernels for this processor; switched to %s by its features",
           core, openblas_get_corename ());
#endif
}

TailorBackend *
tailor_backend_cpu_new (GError **error)
{
  static gsize kernels_chosen = 0;
  TailorBackend *self = g_new0 (TailorBackend, 1);

  if (g_once_init_enter (&kernels_chosen))
    {
      choose_blas_kernels ();
      g_once_init_leave (&kernels_chosen, 1);
    }
  /* our pool cuts every product into per-thread slices; OpenBLAS threads on top of that
   * would oversubscribe the cores */
  openblas_set_num_threads (1);
  self->klass = &cpu_class;
  self->kind = TAILOR_BACKEND_CPU;
  self->name = g_strdup_printf ("cpu (OpenBLAS %s, %u threads)", openblas_get_corename (),
                                tailor_parallel_get_n_threads ());
  return self;
}

/* "model name" of /proc/cpuinfo, or NULL. */
static char *
cpu_model_name (void)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  guint i;

  if (!g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL))
    return NULL;
  lines = g_strsplit (text, "\n", -1);
  for (i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "model name") && strchr (lines[i], ':') != NULL)
      return g_strstrip (g_strdup (strchr (lines[i], ':') + 1));
  return NULL;
}

static const char *
cpu_simd_level (void)
{
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512f"))
    return "AVX-512";
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    return "AVX2+FMA";
  if (__builtin_cpu_supports ("avx"))
    return "AVX";
  return "SSE2";
#else
  return "baseline";
#endif
}

void
tailor_backend_cpu_describe (JsonBuilder *builder)
{
  g_autofree char *model = cpu_model_name ();
  g_autoptr (TailorBackend) backend = NULL;

  g_return_if_fail (builder != NULL);

  /* making a backend settles which kernels OpenBLAS runs */
  backend = tailor_backend_cpu_new (NULL);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "backend");
  json_builder_add_string_value (builder, "cpu");
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, model != NULL ? model : "CPU");
  json_builder_set_member_name (builder, "cores");
  json_builder_add_int_value (builder, g_get_num_processors ());
  json_builder_set_member_name (builder, "threads");
  json_builder_add_int_value (builder, tailor_parallel_get_n_threads ());
  json_builder_set_member_name (builder, "simd");
  json_builder_add_string_value (builder, cpu_simd_level ());
  json_builder_set_member_name (builder, "vector_loops");
#if defined(__x86_64__) && defined(__GNUC__)
  json_builder_add_string_value (builder, cpu_has_avx2_fma () ? "AVX2+FMA" : "baseline");
#else
  json_builder_add_string_value (builder, "baseline");
#endif
  json_builder_set_member_name (builder, "blas");
  json_builder_add_string_value (builder, openblas_get_config ());
  json_builder_set_member_name (builder, "blas_kernels");
  json_builder_add_string_value (builder, openblas_get_corename ());
  json_builder_end_object (builder);
}
