/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The fp32 CPU reference: one plain function per op, and the llama/qwen2 forward pass. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "tailor-cpu-ref.h"
#include "tailor-parallel.h"

G_DEFINE_QUARK (tailor - ref - error - quark, tailor_ref_error)

/* Tokens evaluated per pass through the layers: bounds the activation buffers (T × n_ff)
 * for long prompts; the KV cache makes the split invisible in the results. */
#define MAX_BATCH 256

/* Work per parallel chunk worth a thread hand-off, in multiply-adds. */
#define MIN_CHUNK_WORK 32768

/* A dot product with eight fixed accumulators: the compiler can vectorise it, and the
 * summation order depends only on n, never on threads. */
static inline float
dot (const float *a, const float *b, int n)
{
  float acc[8] = { 0 };
  float sum;
  int i = 0;
  int j;

  for (; i + 8 <= n; i += 8)
    for (j = 0; j < 8; j++)
      acc[j] += a[i + j] * b[i + j];
  sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; i++)
    sum += a[i] * b[i];
  return sum;
}

void
tailor_ref_rmsnorm_forward (
  float *out, const float *inp, const float *weight, int T, int C, float eps)
{
  int t;
  int i;

  for (t = 0; t < T; t++)
    {
      const float *x = inp + (gsize) t * C; /* (C) */
      float *o = out + (gsize) t * C;       /* (C) */
      double ss = 0.0;
      float scale;

      for (i = 0; i < C; i++)
        ss += (double) x[i] * x[i];
      scale = (float) (1.0 / sqrt (ss / C + eps));
      for (i = 0; i < C; i++)
        o[i] = x[i] * scale * weight[i];
    }
}

typedef struct
{
  float *out;       /* (T, OC) */
  const float *inp; /* (T, IC) */
  const TailorGgufTensor *w;
  const float *bias; /* (OC) or NULL */
  int T, IC, OC;
  gsize row_bytes;
} MatmulArgs;

static void
matmul_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const MatmulArgs *a = user_data;
  g_autofree float *row = g_new (float, a->IC); /* one row of W, dequantized */
  const guint8 *w_data = a->w->data;
  gint64 o;
  int t;

  for (o = begin; o < end; o++)
    {
      float b = a->bias != NULL ? a->bias[o] : 0.0f;

      tailor_dequantize_row (a->w->type, w_data + (gsize) o * a->row_bytes, row, a->IC);
      for (t = 0; t < a->T; t++)
        a->out[(gsize) t * a->OC + o] = dot (a->inp + (gsize) t * a->IC, row, a->IC) + b;
    }
}

void
tailor_ref_matmul_forward (
  float *out, const float *inp, const TailorGgufTensor *w, const float *bias, int T, int IC, int OC)
{
  MatmulArgs a = { out, inp, w, bias, T, IC, OC, 0 };

  g_return_if_fail (w != NULL && w->ne[0] == IC && w->ne[1] == OC);

  a.row_bytes = tailor_type_row_size (w->type, IC);
  g_return_if_fail (a.row_bytes > 0);
  tailor_parallel_for (OC, MAX (1, MIN_CHUNK_WORK / MAX ((gint64) IC * T, 1)), matmul_rows, &a);
}

/* Rotates each pair by +θ (forward) or −θ (backward: the transposed rotation). */
static void
rope_rotate (float *x,
             const int *pos,
             int T,
             int n_head,
             int head_dim,
             int n_rot,
             float freq_base,
             float freq_scale,
             const float *freq_factors,
             TailorRopeType type,
             gboolean inverse)
{
  int half = n_rot / 2;
  int t;
  int h;
  int i;

  for (t = 0; t < T; t++)
    for (h = 0; h < n_head; h++)
      {
        float *xh = x + ((gsize) t * n_head + h) * head_dim; /* (head_dim) */

        for (i = 0; i < half; i++)
          {
            /* llama.cpp's angle: pos · base^(−2i/n_rot) · freq_scale / factor_i */
            double theta = pos[t] * pow (freq_base, -2.0 * i / n_rot) * freq_scale /
                           (freq_factors != NULL ? freq_factors[i] : 1.0f);
            float c = (float) cos (theta);
            float s = (float) sin (theta);
            int i0 = type == TAILOR_ROPE_NEOX ? i : 2 * i;
            int i1 = type == TAILOR_ROPE_NEOX ? i + half : 2 * i + 1;
            float x0 = xh[i0];
            float x1 = xh[i1];

            if (inverse)
              s = -s;
            xh[i0] = x0 * c - x1 * s;
            xh[i1] = x0 * s + x1 * c;
          }
      }
}

void
tailor_ref_rope_forward (float *x,
                         const int *pos,
                         int T,
                         int n_head,
                         int head_dim,
                         int n_rot,
                         float freq_base,
                         float freq_scale,
                         const float *freq_factors,
                         TailorRopeType type)
{
  rope_rotate (x, pos, T, n_head, head_dim, n_rot, freq_base, freq_scale, freq_factors, type,
               FALSE);
}

typedef struct
{
  float *out;     /* (T, n_head, hd) */
  const float *q; /* (T, n_head, hd) */
  const float *k; /* (n_kv, n_head_kv, hd) */
  const float *v; /* (n_kv, n_head_kv, hd) */
  int T, q_pos0, n_head, n_head_kv, hd;
} AttentionArgs;

static void
attention_items (gint64 begin, gint64 end, gpointer user_data)
{
  const AttentionArgs *a = user_data;
  int n_max = a->q_pos0 + a->T;
  g_autofree float *att = g_new (float, n_max); /* (n_kv) scores, then weights */
  float scale = 1.0f / sqrtf ((float) a->hd);
  int group = a->n_head / a->n_head_kv;
  gint64 item;

  for (item = begin; item < end; item++)
    {
      int t = (int) (item / a->n_head);
      int h = (int) (item % a->n_head);
      int kvh = h / group; /* GQA: consecutive query heads share one key/value head */
      int n_seen = a->q_pos0 + t + 1;
      const float *qh = a->q + ((gsize) t * a->n_head + h) * a->hd;
      float *oh = a->out + ((gsize) t * a->n_head + h) * a->hd;
      gsize kv_stride = (gsize) a->n_head_kv * a->hd;
      float max = -INFINITY;
      double sum = 0.0;
      int j;
      int d;

      for (j = 0; j < n_seen; j++)
        {
          att[j] = dot (qh, a->k + j * kv_stride + (gsize) kvh * a->hd, a->hd) * scale;
          max = MAX (max, att[j]);
        }
      for (j = 0; j < n_seen; j++)
        {
          att[j] = expf (att[j] - max);
          sum += att[j];
        }
      memset (oh, 0, sizeof (float) * a->hd);
      for (j = 0; j < n_seen; j++)
        {
          const float *vj = a->v + j * kv_stride + (gsize) kvh * a->hd;
          float p = (float) (att[j] / sum);

          for (d = 0; d < a->hd; d++)
            oh[d] += p * vj[d];
        }
    }
}

void
tailor_ref_attention_forward (float *out,
                              const float *q,
                              const float *k,
                              const float *v,
                              int T,
                              int q_pos0,
                              int n_head,
                              int n_head_kv,
                              int hd)
{
  AttentionArgs a = { out, q, k, v, T, q_pos0, n_head, n_head_kv, hd };

  g_return_if_fail (n_head_kv > 0 && n_head % n_head_kv == 0);

  tailor_parallel_for ((gint64) T * n_head,
                       MAX (1, MIN_CHUNK_WORK / MAX ((gint64) (q_pos0 + T) * hd * 2, 1)),
                       attention_items, &a);
}

void
tailor_ref_swiglu_forward (float *out, const float *gate, const float *up, int T, int C)
{
  gsize n = (gsize) T * C;
  gsize i;

  for (i = 0; i < n; i++)
    {
      float g = gate[i];

      out[i] = g / (1.0f + expf (-g)) * up[i];
    }
}

void
tailor_ref_embedding_forward (
  float *out, const TailorGgufTensor *embd, const gint32 *tokens, int T, int C)
{
  gsize row_bytes;
  int t;

  g_return_if_fail (embd != NULL && embd->ne[0] == C);

  row_bytes = tailor_type_row_size (embd->type, C);
  for (t = 0; t < T; t++)
    {
      g_return_if_fail (tokens[t] >= 0 && tokens[t] < embd->ne[1]);
      tailor_dequantize_row (embd->type,
                             (const guint8 *) embd->data + (gsize) tokens[t] * row_bytes,
                             out + (gsize) t * C, C);
    }
}

/* ---- Backward passes (each accumulates into its gradients) ---- */

/* y += a · x */
static inline void
axpy (float *y, float a, const float *x, int n)
{
  int i;

  for (i = 0; i < n; i++)
    y[i] += a * x[i];
}

/* One chunk per thread: for work that repeats a cost (dequantizing W) in every chunk. */
static gint64
one_chunk_per_thread (gint64 n)
{
  gint64 threads = tailor_parallel_get_n_threads ();

  return MAX (1, (n + threads - 1) / threads);
}

void
tailor_ref_embedding_backward (
  float *dembd, const float *dout, const gint32 *tokens, int T, int C)
{
  int t;

  for (t = 0; t < T; t++)
    axpy (dembd + (gsize) tokens[t] * C, 1.0f, dout + (gsize) t * C, C);
}

void
tailor_ref_rmsnorm_backward (float *dinp,
                             float *dweight,
                             const float *dout,
                             const float *inp,
                             const float *weight,
                             int T,
                             int C,
                             float eps)
{
  int t;
  int i;

  for (t = 0; t < T; t++)
    {
      const float *x = inp + (gsize) t * C;   /* (C) */
      const float *dy = dout + (gsize) t * C; /* (C) */
      double ss = 0.0;
      double dyw_x = 0.0;
      float scale;
      float k;

      for (i = 0; i < C; i++)
        {
          ss += (double) x[i] * x[i];
          dyw_x += (double) dy[i] * weight[i] * x[i];
        }
      /* the forward's scale s = (ss/C + eps)^−½, bit for bit */
      scale = (float) (1.0 / sqrt (ss / C + eps));
      /* ∂s/∂x_i = −s³ x_i / C, so dx_i = s w_i dy_i − (s³/C) x_i Σ_j dy_j w_j x_j */
      k = (float) ((double) scale * scale * scale * dyw_x / C);
      if (dinp != NULL)
        {
          float *dx = dinp + (gsize) t * C;

          for (i = 0; i < C; i++)
            dx[i] += scale * weight[i] * dy[i] - k * x[i];
        }
      if (dweight != NULL)
        for (i = 0; i < C; i++)
          dweight[i] += dy[i] * x[i] * scale;
    }
}

typedef struct
{
  float *dinp;       /* (T, IC) */
  float *dweight;    /* (OC, IC) */
  const float *dout; /* (T, OC) */
  const float *inp;  /* (T, IC) */
  const TailorGgufTensor *w;
  int T, IC, OC;
  gsize row_bytes;
} MatmulBackwardArgs;

/* dinp rows [begin, end): each chunk walks all of W once, so the sum over OC for an
 * element runs in the same order whatever the chunking. */
static void
matmul_backward_inp_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const MatmulBackwardArgs *a = user_data;
  g_autofree float *row = g_new (float, a->IC); /* one row of W, dequantized */
  const guint8 *w_data = a->w->data;
  gint64 t;
  int o;

  for (o = 0; o < a->OC; o++)
    {
      tailor_dequantize_row (a->w->type, w_data + (gsize) o * a->row_bytes, row, a->IC);
      for (t = begin; t < end; t++)
        axpy (a->dinp + (gsize) t * a->IC, a->dout[(gsize) t * a->OC + o], row, a->IC);
    }
}

static void
matmul_backward_weight_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const MatmulBackwardArgs *a = user_data;
  gint64 o;
  int t;

  for (o = begin; o < end; o++)
    for (t = 0; t < a->T; t++)
      axpy (a->dweight + (gsize) o * a->IC, a->dout[(gsize) t * a->OC + o],
            a->inp + (gsize) t * a->IC, a->IC);
}

void
tailor_ref_matmul_backward (float *dinp,
                            float *dweight,
                            float *dbias,
                            const float *dout,
                            const float *inp,
                            const TailorGgufTensor *w,
                            int T,
                            int IC,
                            int OC)
{
  MatmulBackwardArgs a = { dinp, dweight, dout, inp, w, T, IC, OC, 0 };
  int o;
  int t;

  g_return_if_fail (w != NULL && w->ne[0] == IC && w->ne[1] == OC);

  a.row_bytes = tailor_type_row_size (w->type, IC);
  g_return_if_fail (a.row_bytes > 0);
  if (dinp != NULL)
    tailor_parallel_for (T, one_chunk_per_thread (T), matmul_backward_inp_rows, &a);
  if (dweight != NULL)
    tailor_parallel_for (OC, MAX (1, MIN_CHUNK_WORK / MAX ((gint64) IC * T, 1)),
                         matmul_backward_weight_rows, &a);
  if (dbias != NULL)
    for (o = 0; o < OC; o++)
      for (t = 0; t < T; t++)
        dbias[o] += dout[(gsize) t * OC + o];
}

void
tailor_ref_rope_backward (float *dx,
                          const int *pos,
                          int T,
                          int n_head,
                          int head_dim,
                          int n_rot,
                          float freq_base,
                          float freq_scale,
                          const float *freq_factors,
                          TailorRopeType type)
{
  rope_rotate (dx, pos, T, n_head, head_dim, n_rot, freq_base, freq_scale, freq_factors, type,
               TRUE);
}

typedef struct
{
  float *dq, *dk, *dv; /* (T, n_head, hd), (T, n_head_kv, hd) ×2 */
  const float *dout;   /* (T, n_head, hd) */
  const float *q;      /* (T, n_head, hd) */
  const float *k, *v;  /* (T, n_head_kv, hd) */
  double *lse;         /* (T, n_head) log-sum-exp of each score row */
  double *delta;       /* (T, n_head) dout · out of each row */
  int T, n_head, n_head_kv, hd;
  float scale;
} AttentionBackwardArgs;

/* Per query row (t, h): the softmax statistics, out (recomputed), delta = dout·out and
 * dq = scale Σ_j p_j (dout·v_j − delta) k_j. */
static void
attention_backward_queries (gint64 begin, gint64 end, gpointer user_data)
{
  const AttentionBackwardArgs *a = user_data;
  g_autofree float *s = g_new (float, a->T); /* (T) scores of one row */
  g_autofree float *o = g_new (float, a->hd);
  int group = a->n_head / a->n_head_kv;
  gsize kv_stride = (gsize) a->n_head_kv * a->hd;
  gint64 item;

  for (item = begin; item < end; item++)
    {
      int t = (int) (item / a->n_head);
      int h = (int) (item % a->n_head);
      int kvh = h / group;
      gsize qi = ((gsize) t * a->n_head + h) * a->hd;
      const float *qh = a->q + qi;
      const float *doh = a->dout + qi;
      float *dqh = a->dq + qi;
      float max = -INFINITY;
      double sum = 0.0;
      double lse;
      double delta;
      int j;
      int d;

      for (j = 0; j <= t; j++)
        {
          s[j] = dot (qh, a->k + j * kv_stride + (gsize) kvh * a->hd, a->hd) * a->scale;
          max = MAX (max, s[j]);
        }
      for (j = 0; j <= t; j++)
        sum += exp ((double) s[j] - max);
      lse = max + log (sum);
      memset (o, 0, sizeof (float) * a->hd);
      for (j = 0; j <= t; j++)
        axpy (o, (float) exp (s[j] - lse), a->v + j * kv_stride + (gsize) kvh * a->hd, a->hd);
      delta = dot (doh, o, a->hd);
      for (j = 0; j <= t; j++)
        {
          const float *vj = a->v + j * kv_stride + (gsize) kvh * a->hd;
          const float *kj = a->k + j * kv_stride + (gsize) kvh * a->hd;
          float p = (float) exp (s[j] - lse);
          float ds = p * (float) (dot (doh, vj, a->hd) - delta);

          for (d = 0; d < a->hd; d++)
            dqh[d] += a->scale * ds * kj[d];
        }
      a->lse[item] = lse;
      a->delta[item] = delta;
    }
}

/* Per key row (j, kvh): dv_j = Σ p dout_t and dk_j = scale Σ ds q_t over the queries t ≥ j
 * of every head in the group, with p recomputed from the saved log-sum-exp. */
static void
attention_backward_keys (gint64 begin, gint64 end, gpointer user_data)
{
  const AttentionBackwardArgs *a = user_data;
  int group = a->n_head / a->n_head_kv;
  gint64 item;

  for (item = begin; item < end; item++)
    {
      int j = (int) (item / a->n_head_kv);
      int kvh = (int) (item % a->n_head_kv);
      gsize ki = ((gsize) j * a->n_head_kv + kvh) * a->hd;
      const float *kj = a->k + ki;
      const float *vj = a->v + ki;
      float *dkj = a->dk + ki;
      float *dvj = a->dv + ki;
      int h;
      int t;

      for (h = kvh * group; h < (kvh + 1) * group; h++)
        for (t = j; t < a->T; t++)
          {
            gsize qi = ((gsize) t * a->n_head + h) * a->hd;
            gsize row = (gsize) t * a->n_head + h;
            float sj = dot (a->q + qi, kj, a->hd) * a->scale;
            float p = (float) exp (sj - a->lse[row]);
            float ds = p * (float) (dot (a->dout + qi, vj, a->hd) - a->delta[row]);

            axpy (dvj, p, a->dout + qi, a->hd);
            axpy (dkj, a->scale * ds, a->q + qi, a->hd);
          }
    }
}

void
tailor_ref_attention_backward (float *dq,
                               float *dk,
                               float *dv,
                               const float *dout,
                               const float *q,
                               const float *k,
                               const float *v,
                               int T,
                               int n_head,
                               int n_head_kv,
                               int hd)
{
  AttentionBackwardArgs a = { dq, dk, dv, dout, q, k, v, NULL, NULL, T, n_head, n_head_kv, hd,
                              1.0f / sqrtf ((float) hd) };
  gint64 work = MAX ((gint64) T * hd * 4, 1);

  g_return_if_fail (n_head_kv > 0 && n_head % n_head_kv == 0);

  a.lse = g_new (double, (gsize) T * n_head);
  a.delta = g_new (double, (gsize) T * n_head);
  tailor_parallel_for ((gint64) T * n_head, MAX (1, MIN_CHUNK_WORK / work),
                       attention_backward_queries, &a);
  tailor_parallel_for ((gint64) T * n_head_kv, MAX (1, MIN_CHUNK_WORK / work),
                       attention_backward_keys, &a);
  g_free (a.lse);
  g_free (a.delta);
}

void
tailor_ref_swiglu_backward (
  float *dgate, float *dup, const float *dout, const float *gate, const float *up, int T, int C)
{
  gsize n = (gsize) T * C;
  gsize i;

  for (i = 0; i < n; i++)
    {
      float g = gate[i];
      float sig = 1.0f / (1.0f + expf (-g));

      /* silu'(g) = σ(g) (1 + g (1 − σ(g))) */
      if (dgate != NULL)
        dgate[i] += dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
      if (dup != NULL)
        dup[i] += dout[i] * g * sig;
    }
}

void
tailor_ref_residual_forward (float *out, const float *inp1, const float *inp2, int T, int C)
{
  gsize n = (gsize) T * C;
  gsize i;

  for (i = 0; i < n; i++)
    out[i] = inp1[i] + inp2[i];
}

void
tailor_ref_residual_backward (float *dinp1, float *dinp2, const float *dout, int T, int C)
{
  gsize n = (gsize) T * C;
  gsize i;

  for (i = 0; i < n; i++)
    {
      if (dinp1 != NULL)
        dinp1[i] += dout[i];
      if (dinp2 != NULL)
        dinp2[i] += dout[i];
    }
}

/* ---- LoRA ---- */

float
tailor_ref_lora_scale (float alpha, int rank, gboolean rslora)
{
  g_return_val_if_fail (rank > 0, 0.0f);
  return rslora ? alpha / sqrtf ((float) rank) : alpha / (float) rank;
}

/* A 32-bit integer hash with good avalanche (Wellons' lowbias32): cheap in a shader too. */
static inline guint32
hash32 (guint32 x)
{
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

float
tailor_ref_dropout_factor (guint32 seed, guint32 index, float p)
{
  float u;

  if (p <= 0.0f)
    return 1.0f;
  /* 24 bits make u exact in fp32 on [0, 1) */
  u = (float) (hash32 (index ^ hash32 (seed + 0x9e3779b9U)) >> 8) * (1.0f / 16777216.0f);
  return u < p ? 0.0f : 1.0f / (1.0f - p);
}

/* inp rows with the dropout mask applied: (T, IC); a copy of inp when dropout is 0. */
static float *
dropped_input (const float *inp, float dropout, guint32 seed, int T, int IC)
{
  gsize n = (gsize) T * IC;
  float *x = g_new (float, n);
  gsize i;

  for (i = 0; i < n; i++)
    x[i] = dropout > 0.0f ? inp[i] * tailor_ref_dropout_factor (seed, (guint32) i, dropout)
                          : inp[i];
  return x;
}

typedef struct
{
  float *out;       /* (T, OC) */
  float *xa;        /* (T, r) */
  const float *x;   /* (T, IC) dropped input */
  const float *a;   /* (r, IC) */
  const float *b;   /* (OC, r) */
  float scale;
  int IC, r, OC;
} LoraForwardArgs;

static void
lora_forward_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const LoraForwardArgs *a = user_data;
  gint64 t;
  int k;
  int o;

  for (t = begin; t < end; t++)
    {
      float *xa = a->xa + (gsize) t * a->r;
      float *out = a->out + (gsize) t * a->OC;

      for (k = 0; k < a->r; k++)
        xa[k] = dot (a->x + (gsize) t * a->IC, a->a + (gsize) k * a->IC, a->IC);
      for (o = 0; o < a->OC; o++)
        out[o] += a->scale * dot (xa, a->b + (gsize) o * a->r, a->r);
    }
}

void
tailor_ref_lora_forward (float *out,
                         float *xa,
                         const float *inp,
                         const float *a,
                         const float *b,
                         float scale,
                         float dropout,
                         guint32 seed,
                         int T,
                         int IC,
                         int r,
                         int OC)
{
  g_autofree float *x = dropped_input (inp, dropout, seed, T, IC);
  LoraForwardArgs args = { out, xa, x, a, b, scale, IC, r, OC };

  tailor_parallel_for (T, MAX (1, MIN_CHUNK_WORK / MAX ((gint64) (IC + OC) * r, 1)),
                       lora_forward_rows, &args);
}

typedef struct
{
  float *dinp, *da, *db;
  const float *dout; /* (T, OC) */
  const float *x;    /* (T, IC) dropped input */
  const float *xa;   /* (T, r) */
  const float *dxa;  /* (T, r) */
  const float *a;    /* (r, IC) */
  const float *b;    /* (OC, r) */
  float scale, dropout;
  guint32 seed;
  int T, IC, r, OC;
} LoraBackwardArgs;

static void
lora_backward_db_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const LoraBackwardArgs *a = user_data;
  gint64 o;
  int t;

  for (o = begin; o < end; o++)
    for (t = 0; t < a->T; t++)
      axpy (a->db + (gsize) o * a->r, a->scale * a->dout[(gsize) t * a->OC + o],
            a->xa + (gsize) t * a->r, a->r);
}

static void
lora_backward_da_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const LoraBackwardArgs *a = user_data;
  gint64 k;
  int t;

  for (k = begin; k < end; k++)
    for (t = 0; t < a->T; t++)
      axpy (a->da + (gsize) k * a->IC, a->dxa[(gsize) t * a->r + k], a->x + (gsize) t * a->IC,
            a->IC);
}

static void
lora_backward_dinp_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const LoraBackwardArgs *a = user_data;
  g_autofree float *row = g_new (float, a->IC);
  gint64 t;
  int k;
  int i;

  for (t = begin; t < end; t++)
    {
      float *dx = a->dinp + (gsize) t * a->IC;

      memset (row, 0, sizeof (float) * a->IC);
      for (k = 0; k < a->r; k++)
        axpy (row, a->dxa[(gsize) t * a->r + k], a->a + (gsize) k * a->IC, a->IC);
      for (i = 0; i < a->IC; i++)
        dx[i] += a->dropout > 0.0f
                   ? row[i] * tailor_ref_dropout_factor (a->seed, (guint32) (t * a->IC + i),
                                                         a->dropout)
                   : row[i];
    }
}

void
tailor_ref_lora_backward (float *dinp,
                          float *da,
                          float *db,
                          const float *dout,
                          const float *inp,
                          const float *xa,
                          const float *a,
                          const float *b,
                          float scale,
                          float dropout,
                          guint32 seed,
                          int T,
                          int IC,
                          int r,
                          int OC)
{
  g_autofree float *dxa = g_new (float, (gsize) T * r); /* (T, r) = scale · dout · B */
  g_autofree float *x = NULL;
  LoraBackwardArgs args = { dinp, da, db, dout, NULL, xa, dxa, a, b,
                            scale, dropout, seed, T, IC, r, OC };
  gint64 min_rows = MAX (1, MIN_CHUNK_WORK / MAX ((gint64) T * MAX (IC, r), 1));
  int t;
  int k;
  int o;

  for (t = 0; t < T; t++)
    for (k = 0; k < r; k++)
      {
        float acc = 0.0f;

        for (o = 0; o < OC; o++)
          acc += dout[(gsize) t * OC + o] * b[(gsize) o * r + k];
        dxa[(gsize) t * r + k] = scale * acc;
      }
  if (db != NULL)
    tailor_parallel_for (OC, min_rows, lora_backward_db_rows, &args);
  if (da != NULL)
    {
      x = dropped_input (inp, dropout, seed, T, IC);
      args.x = x;
      tailor_parallel_for (r, 1, lora_backward_da_rows, &args);
    }
  if (dinp != NULL)
    tailor_parallel_for (T, MAX (1, MIN_CHUNK_WORK / MAX ((gint64) IC * r, 1)),
                         lora_backward_dinp_rows, &args);
}

/* ---- Output projection and cross-entropy ---- */

typedef struct
{
  float *wbuf;         /* (nc, C) the chunk's rows of W, dequantized */
  float *logits;       /* (n_rows, chunk) */
  const float *inp;    /* (T, C) */
  const int *rows;     /* (n_rows) the counted rows of inp */
  const TailorGgufTensor *w;
  gsize row_bytes;
  int C, v0, nc, chunk;
} ChunkArgs;

static void
chunk_dequantize_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const ChunkArgs *a = user_data;
  gint64 j;

  for (j = begin; j < end; j++)
    tailor_dequantize_row (a->w->type,
                           (const guint8 *) a->w->data + (gsize) (a->v0 + j) * a->row_bytes,
                           a->wbuf + (gsize) j * a->C, a->C);
}

static void
chunk_logit_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const ChunkArgs *a = user_data;
  gint64 m;
  int j;

  for (m = begin; m < end; m++)
    for (j = 0; j < a->nc; j++)
      a->logits[(gsize) m * a->chunk + j] =
        dot (a->inp + (gsize) a->rows[m] * a->C, a->wbuf + (gsize) j * a->C, a->C);
}

/* Fills a->logits for vocabulary rows [v0, v0 + nc). */
static void
chunk_logits (ChunkArgs *a, int n_rows, int v0, int nc)
{
  a->v0 = v0;
  a->nc = nc;
  tailor_parallel_for (nc, MAX (1, MIN_CHUNK_WORK / MAX (a->C, 1)), chunk_dequantize_rows, a);
  tailor_parallel_for (n_rows, MAX (1, MIN_CHUNK_WORK / MAX ((gint64) nc * a->C, 1)),
                       chunk_logit_rows, a);
}

/* The rows of a mask that count; returns their number. */
static int
counted_rows (int *rows, const guint8 *mask, int T)
{
  int n = 0;
  int t;

  for (t = 0; t < T; t++)
    if (mask[t] != 0)
      rows[n++] = t;
  return n;
}

double
tailor_ref_cross_entropy_forward (float *lse,
                                  const float *inp,
                                  const TailorGgufTensor *w,
                                  const gint32 *targets,
                                  const guint8 *mask,
                                  int T,
                                  int C,
                                  int V,
                                  int chunk)
{
  g_autofree int *rows = g_new (int, MAX (T, 1));
  g_autofree double *run_max = NULL; /* (n_rows) online log-sum-exp: max so far */
  g_autofree double *run_sum = NULL; /* (n_rows) Σ exp(logit − max) so far */
  g_autofree double *target_logit = NULL;
  g_autofree float *wbuf = NULL;
  g_autofree float *logits = NULL;
  ChunkArgs a = { 0 };
  double loss = 0.0;
  int n_rows;
  int v0;
  int m;
  int j;

  g_return_val_if_fail (w != NULL && w->ne[0] == C && w->ne[1] == V, 0.0);
  g_return_val_if_fail (chunk > 0, 0.0);

  n_rows = counted_rows (rows, mask, T);
  if (n_rows == 0)
    return 0.0;
  chunk = MIN (chunk, V);
  run_max = g_new (double, n_rows);
  run_sum = g_new0 (double, n_rows);
  target_logit = g_new0 (double, n_rows);
  wbuf = g_new (float, (gsize) chunk * C);
  logits = g_new (float, (gsize) n_rows * chunk);
  for (m = 0; m < n_rows; m++)
    run_max[m] = -INFINITY;
  a = (ChunkArgs) { wbuf, logits, inp, rows, w, tailor_type_row_size (w->type, C), C, 0, 0, chunk };

  for (v0 = 0; v0 < V; v0 += chunk)
    {
      int nc = MIN (chunk, V - v0);

      chunk_logits (&a, n_rows, v0, nc);
      for (m = 0; m < n_rows; m++)
        {
          const float *l = logits + (gsize) m * chunk;
          int target = targets[rows[m]];
          double cmax = run_max[m];
          double sum = 0.0;

          for (j = 0; j < nc; j++)
            cmax = MAX (cmax, l[j]);
          for (j = 0; j < nc; j++)
            sum += exp (l[j] - cmax);
          run_sum[m] = run_sum[m] * exp (run_max[m] - cmax) + sum;
          run_max[m] = cmax;
          if (target >= v0 && target < v0 + nc)
            target_logit[m] = l[target - v0];
        }
    }
  for (m = 0; m < n_rows; m++)
    {
      double row_lse = run_max[m] + log (run_sum[m]);

      if (lse != NULL)
        lse[rows[m]] = (float) row_lse;
      loss += row_lse - target_logit[m];
    }
  return loss / n_rows;
}

typedef struct
{
  float *dinp;          /* (T, C) */
  float *dweight;       /* (V, C) */
  const float *dlogits; /* (n_rows, chunk) */
  const float *wbuf;    /* (nc, C) */
  const float *inp;     /* (T, C) */
  const int *rows;
  int n_rows, C, v0, nc, chunk;
} ChunkBackwardArgs;

static void
chunk_backward_inp_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const ChunkBackwardArgs *a = user_data;
  gint64 m;
  int j;

  for (m = begin; m < end; m++)
    for (j = 0; j < a->nc; j++)
      axpy (a->dinp + (gsize) a->rows[m] * a->C, a->dlogits[(gsize) m * a->chunk + j],
            a->wbuf + (gsize) j * a->C, a->C);
}

static void
chunk_backward_weight_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const ChunkBackwardArgs *a = user_data;
  gint64 j;
  int m;

  for (j = begin; j < end; j++)
    for (m = 0; m < a->n_rows; m++)
      axpy (a->dweight + (gsize) (a->v0 + j) * a->C, a->dlogits[(gsize) m * a->chunk + j],
            a->inp + (gsize) a->rows[m] * a->C, a->C);
}

void
tailor_ref_cross_entropy_backward (float *dinp,
                                   float *dweight,
                                   const float *inp,
                                   const TailorGgufTensor *w,
                                   const gint32 *targets,
                                   const guint8 *mask,
                                   const float *lse,
                                   float dloss,
                                   int T,
                                   int C,
                                   int V,
                                   int chunk)
{
  g_autofree int *rows = g_new (int, MAX (T, 1));
  g_autofree float *wbuf = NULL;
  g_autofree float *logits = NULL;
  ChunkArgs a = { 0 };
  ChunkBackwardArgs b = { 0 };
  float dl;
  int n_rows;
  int v0;
  int m;
  int j;

  g_return_if_fail (w != NULL && w->ne[0] == C && w->ne[1] == V);
  g_return_if_fail (chunk > 0);

  n_rows = counted_rows (rows, mask, T);
  if (n_rows == 0)
    return;
  chunk = MIN (chunk, V);
  dl = dloss / n_rows;
  wbuf = g_new (float, (gsize) chunk * C);
  logits = g_new (float, (gsize) n_rows * chunk);
  a = (ChunkArgs) { wbuf, logits, inp, rows, w, tailor_type_row_size (w->type, C), C, 0, 0, chunk };
  b = (ChunkBackwardArgs) { dinp, dweight, logits, wbuf, inp, rows, n_rows, C, 0, 0, chunk };

  for (v0 = 0; v0 < V; v0 += chunk)
    {
      int nc = MIN (chunk, V - v0);

      chunk_logits (&a, n_rows, v0, nc);
      /* ∂loss/∂logit = (softmax − onehot(target)) / n_rows, overwriting the logits */
      for (m = 0; m < n_rows; m++)
        {
          float *l = logits + (gsize) m * chunk;
          int target = targets[rows[m]];

          for (j = 0; j < nc; j++)
            l[j] = dl * ((float) exp (l[j] - lse[rows[m]]) - (v0 + j == target ? 1.0f : 0.0f));
        }
      b.v0 = v0;
      b.nc = nc;
      if (dinp != NULL)
        tailor_parallel_for (n_rows, MAX (1, MIN_CHUNK_WORK / MAX ((gint64) nc * C, 1)),
                             chunk_backward_inp_rows, &b);
      if (dweight != NULL)
        tailor_parallel_for (nc, MAX (1, MIN_CHUNK_WORK / MAX ((gint64) n_rows * C, 1)),
                             chunk_backward_weight_rows, &b);
    }
}

/* ---- Optimizer ---- */

void
tailor_ref_adamw_update (float *param,
                         float *m,
                         float *v,
                         const float *grad,
                         gsize n,
                         float lr,
                         float beta1,
                         float beta2,
                         float eps,
                         float weight_decay,
                         int t)
{
  float bc1;
  float bc2;
  gsize i;

  g_return_if_fail (t >= 1);

  bc1 = (float) (1.0 - pow (beta1, t));
  bc2 = (float) (1.0 - pow (beta2, t));
  for (i = 0; i < n; i++)
    {
      float g = grad[i];
      float m_hat;
      float v_hat;

      m[i] = beta1 * m[i] + (1.0f - beta1) * g;
      v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
      m_hat = m[i] / bc1;
      v_hat = v[i] / bc2;
      param[i] = param[i] * (1.0f - lr * weight_decay) - lr * m_hat / (sqrtf (v_hat) + eps);
    }
}

double
tailor_ref_grad_norm (const float *const *grads, const gsize *sizes, int n_tensors)
{
  double ss = 0.0;
  int k;
  gsize i;

  for (k = 0; k < n_tensors; k++)
    for (i = 0; i < sizes[k]; i++)
      ss += (double) grads[k][i] * grads[k][i];
  return sqrt (ss);
}

double
tailor_ref_clip_grad_norm (float *const *grads, const gsize *sizes, int n_tensors, float max_norm)
{
  double norm = tailor_ref_grad_norm ((const float *const *) grads, sizes, n_tensors);
  float coef = (float) (max_norm / (norm + 1e-6));
  int k;
  gsize i;

  if (coef < 1.0f)
    for (k = 0; k < n_tensors; k++)
      for (i = 0; i < sizes[k]; i++)
        grads[k][i] *= coef;
  return norm;
}

/* ---- The forward pass ---- */

typedef struct
{
  float *attn_norm; /* (C) */
  float *ffn_norm;  /* (C) */
  float *bq;        /* (n_head·hd) or NULL */
  float *bk;        /* (n_head_kv·hd) or NULL */
  float *bv;        /* (n_head_kv·hd) or NULL */
  float *k_cache;   /* (n_ctx, n_head_kv, hd) */
  float *v_cache;   /* (n_ctx, n_head_kv, hd) */
} RefLayer;

struct _TailorRefContext
{
  TailorModel *model;
  guint n_ctx;
  guint n_past;
  float *output_norm; /* (C) */
  float *rope_freqs;  /* (n_rot/2) or NULL */
  RefLayer *layers;   /* (n_layer) */
};

/* A 1-D tensor (norm, bias, rope factors) as fp32; NULL stays NULL. */
static float *
vector_to_f32 (const TailorGgufTensor *t)
{
  float *v;

  if (t == NULL)
    return NULL;
  v = g_new (float, t->n_elements);
  tailor_dequantize_row (t->type, t->data, v, t->n_elements);
  return v;
}

TailorRefContext *
tailor_ref_context_new (TailorModel *model, guint n_ctx, GError **error)
{
  g_autoptr (TailorRefContext) self = NULL;
  const TailorHparams *hp;
  guint l;

  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  hp = &model->hp;
  self = g_new0 (TailorRefContext, 1);
  self->model = tailor_model_ref (model);
  self->n_ctx = n_ctx > 0 ? n_ctx : hp->n_ctx_train;
  self->output_norm = vector_to_f32 (model->output_norm);
  self->rope_freqs = vector_to_f32 (model->rope_freqs);
  self->layers = g_new0 (RefLayer, hp->n_layer);

  for (l = 0; l < hp->n_layer; l++)
    {
      const TailorLayerWeights *w = &model->layers[l];
      RefLayer *rl = &self->layers[l];
      guint64 n_floats = (guint64) self->n_ctx * hp->layers[l].n_head_kv * hp->head_dim;

      rl->attn_norm = vector_to_f32 (w->attn_norm);
      rl->ffn_norm = vector_to_f32 (w->ffn_norm);
      rl->bq = vector_to_f32 (w->bq);
      rl->bk = vector_to_f32 (w->bk);
      rl->bv = vector_to_f32 (w->bv);
      if (n_floats > G_MAXSIZE / sizeof (float))
        rl->k_cache = NULL;
      else
        {
          rl->k_cache = g_try_new0 (float, n_floats);
          rl->v_cache = g_try_new0 (float, n_floats);
        }
      if (rl->k_cache == NULL || rl->v_cache == NULL)
        {
          g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_NO_MEMORY,
                       "the fp32 KV cache for %u positions (%" G_GUINT64_FORMAT
                       " MiB per layer) does not fit in memory; use a shorter context",
                       self->n_ctx, n_floats * 2 * sizeof (float) >> 20);
          return NULL;
        }
    }
  return g_steal_pointer (&self);
}

void
tailor_ref_context_free (TailorRefContext *self)
{
  guint l;

  if (self == NULL)
    return;
  for (l = 0; l < self->model->hp.n_layer && self->layers != NULL; l++)
    {
      RefLayer *rl = &self->layers[l];

      g_free (rl->attn_norm);
      g_free (rl->ffn_norm);
      g_free (rl->bq);
      g_free (rl->bk);
      g_free (rl->bv);
      g_free (rl->k_cache);
      g_free (rl->v_cache);
    }
  g_free (self->layers);
  g_free (self->output_norm);
  g_free (self->rope_freqs);
  tailor_model_unref (self->model);
  g_free (self);
}

guint
tailor_ref_context_get_n_past (TailorRefContext *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_past;
}

void
tailor_ref_context_reset (TailorRefContext *self)
{
  g_return_if_fail (self != NULL);
  self->n_past = 0;
}

static void
add_inplace (float *x, const float *y, gsize n)
{
  gsize i;

  for (i = 0; i < n; i++)
    x[i] += y[i];
}

/* Activation buffers for one batch, sized for the widest layer. */
typedef struct
{
  float *x;    /* (T, C) the residual stream */
  float *xn;   /* (T, C) normalised */
  float *q;    /* (T, n_head·hd) */
  float *k;    /* (T, n_head_kv·hd) */
  float *v;    /* (T, n_head_kv·hd) */
  float *att;  /* (T, n_head·hd) */
  float *proj; /* (T, C) */
  float *gate; /* (T, n_ff) */
  float *up;   /* (T, n_ff) */
  int *pos;    /* (T) */
} Activations;

static void
activations_init (Activations *a, const TailorHparams *hp, int T)
{
  guint q_max = 0;
  guint kv_max = 0;
  guint ff_max = 0;
  guint l;

  for (l = 0; l < hp->n_layer; l++)
    {
      q_max = MAX (q_max, hp->layers[l].n_head * hp->head_dim);
      kv_max = MAX (kv_max, hp->layers[l].n_head_kv * hp->head_dim);
      ff_max = MAX (ff_max, hp->layers[l].n_ff);
    }
  a->x = g_new (float, (gsize) T * hp->n_embd);
  a->xn = g_new (float, (gsize) T * hp->n_embd);
  a->q = g_new (float, (gsize) T *q_max);
  a->k = g_new (float, (gsize) T *kv_max);
  a->v = g_new (float, (gsize) T *kv_max);
  a->att = g_new (float, (gsize) T *q_max);
  a->proj = g_new (float, (gsize) T * hp->n_embd);
  a->gate = g_new (float, (gsize) T *ff_max);
  a->up = g_new (float, (gsize) T *ff_max);
  a->pos = g_new (int, T);
}

static void
activations_clear (Activations *a)
{
  g_free (a->x);
  g_free (a->xn);
  g_free (a->q);
  g_free (a->k);
  g_free (a->v);
  g_free (a->att);
  g_free (a->proj);
  g_free (a->gate);
  g_free (a->up);
  g_free (a->pos);
}

/* Runs T tokens at positions n_past … n_past+T−1; logits (n_out, n_vocab) for the last
 * n_out of them. */
static void
forward_batch (
  TailorRefContext *self, Activations *a, const gint32 *tokens, int T, int n_out, float *logits)
{
  TailorModel *m = self->model;
  const TailorHparams *hp = &m->hp;
  int C = hp->n_embd;
  int hd = hp->head_dim;
  guint l;
  int t;

  for (t = 0; t < T; t++)
    a->pos[t] = (int) self->n_past + t;

  tailor_ref_embedding_forward (a->x, m->tok_embd, tokens, T, C);

  for (l = 0; l < hp->n_layer; l++)
    {
      const TailorLayerWeights *w = &m->layers[l];
      RefLayer *rl = &self->layers[l];
      int n_head = hp->layers[l].n_head;
      int n_head_kv = hp->layers[l].n_head_kv;
      int n_ff = hp->layers[l].n_ff;
      int q_dim = n_head * hd;
      int kv_dim = n_head_kv * hd;

      /* attention block */
      tailor_ref_rmsnorm_forward (a->xn, a->x, rl->attn_norm, T, C, hp->norm_eps);
      tailor_ref_matmul_forward (a->q, a->xn, w->wq, rl->bq, T, C, q_dim);
      tailor_ref_matmul_forward (a->k, a->xn, w->wk, rl->bk, T, C, kv_dim);
      tailor_ref_matmul_forward (a->v, a->xn, w->wv, rl->bv, T, C, kv_dim);
      tailor_ref_rope_forward (a->q, a->pos, T, n_head, hd, hp->n_rot, hp->rope_freq_base,
                               hp->rope_freq_scale, self->rope_freqs, hp->rope_type);
      tailor_ref_rope_forward (a->k, a->pos, T, n_head_kv, hd, hp->n_rot, hp->rope_freq_base,
                               hp->rope_freq_scale, self->rope_freqs, hp->rope_type);
      memcpy (rl->k_cache + (gsize) self->n_past * kv_dim, a->k, sizeof (float) * T * kv_dim);
      memcpy (rl->v_cache + (gsize) self->n_past * kv_dim, a->v, sizeof (float) * T * kv_dim);
      tailor_ref_attention_forward (a->att, a->q, rl->k_cache, rl->v_cache, T, self->n_past, n_head,
                                    n_head_kv, hd);
      tailor_ref_matmul_forward (a->proj, a->att, w->wo, NULL, T, q_dim, C);
      add_inplace (a->x, a->proj, (gsize) T * C);

      /* feed-forward block */
      tailor_ref_rmsnorm_forward (a->xn, a->x, rl->ffn_norm, T, C, hp->norm_eps);
      tailor_ref_matmul_forward (a->gate, a->xn, w->w_gate, NULL, T, C, n_ff);
      tailor_ref_matmul_forward (a->up, a->xn, w->w_up, NULL, T, C, n_ff);
      tailor_ref_swiglu_forward (a->gate, a->gate, a->up, T, n_ff);
      tailor_ref_matmul_forward (a->proj, a->gate, w->w_down, NULL, T, n_ff, C);
      add_inplace (a->x, a->proj, (gsize) T * C);
    }

  if (n_out > 0)
    {
      const float *last = a->x + (gsize) (T - n_out) * C;

      tailor_ref_rmsnorm_forward (a->xn, last, self->output_norm, n_out, C, hp->norm_eps);
      tailor_ref_matmul_forward (logits, a->xn, m->output, NULL, n_out, C, hp->n_vocab);
    }
  self->n_past += T;
}

gboolean
tailor_ref_context_eval (TailorRefContext *self,
                         const gint32 *tokens,
                         guint n,
                         gboolean all_logits,
                         float *logits,
                         GError **error)
{
  const TailorHparams *hp;
  Activations a = { 0 };
  guint done;
  guint i;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (tokens != NULL || n == 0, FALSE);
  g_return_val_if_fail (logits != NULL || n == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  hp = &self->model->hp;
  if ((guint64) self->n_past + n > self->n_ctx)
    {
      g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_CONTEXT_FULL,
                   "%u more tokens after %u do not fit in the context of %u positions; "
                   "use a larger context or a shorter input",
                   n, self->n_past, self->n_ctx);
      return FALSE;
    }
  for (i = 0; i < n; i++)
    if (tokens[i] < 0 || (guint) tokens[i] >= hp->n_vocab)
      {
        g_set_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_INVALID_TOKEN,
                     "token %u of the input has id %d, outside the vocabulary of %u tokens", i,
                     tokens[i], hp->n_vocab);
        return FALSE;
      }
  if (n == 0)
    return TRUE;

  activations_init (&a, hp, (int) MIN (n, MAX_BATCH));
  for (done = 0; done < n; done += MIN (n - done, MAX_BATCH))
    {
      int T = (int) MIN (n - done, MAX_BATCH);
      gboolean last_batch = done + T == n;
      int n_out = all_logits ? T : (last_batch ? 1 : 0);
      float *dst = all_logits ? logits + (gsize) done * hp->n_vocab : logits;

      forward_batch (self, &a, tokens + done, T, n_out, dst);
    }
  activations_clear (&a);
  return TRUE;
}
