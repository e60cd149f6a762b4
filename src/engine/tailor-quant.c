/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ggml tensor types: size table, fp16/bf16 conversion, block dequantization and quantization. */

#include "config.h"

#include <math.h>
#include <string.h>

#include "tailor-quant.h"

/* Block sizes and bytes per block as ggml's type traits give them; ids without an entry
 * (4, 5, 31–33, 36–38) are types ggml removed. */
static const TailorTypeInfo type_infos[TAILOR_TYPE_COUNT_] = {
  [TAILOR_TYPE_F32] = { "F32", 1, 4, TRUE, TRUE },
  [TAILOR_TYPE_F16] = { "F16", 1, 2, TRUE, TRUE },
  [TAILOR_TYPE_Q4_0] = { "Q4_0", 32, 18, TRUE, TRUE },
  [TAILOR_TYPE_Q4_1] = { "Q4_1", 32, 20, TRUE, TRUE },
  [TAILOR_TYPE_Q5_0] = { "Q5_0", 32, 22, TRUE, TRUE },
  [TAILOR_TYPE_Q5_1] = { "Q5_1", 32, 24, TRUE, TRUE },
  [TAILOR_TYPE_Q8_0] = { "Q8_0", 32, 34, TRUE, TRUE },
  [TAILOR_TYPE_Q8_1] = { "Q8_1", 32, 36, FALSE, FALSE },
  [TAILOR_TYPE_Q2_K] = { "Q2_K", 256, 84, FALSE, FALSE },
  [TAILOR_TYPE_Q3_K] = { "Q3_K", 256, 110, FALSE, FALSE },
  [TAILOR_TYPE_Q4_K] = { "Q4_K", 256, 144, TRUE, TRUE },
  [TAILOR_TYPE_Q5_K] = { "Q5_K", 256, 176, TRUE, TRUE },
  [TAILOR_TYPE_Q6_K] = { "Q6_K", 256, 210, TRUE, TRUE },
  [TAILOR_TYPE_Q8_K] = { "Q8_K", 256, 292, FALSE, FALSE },
  [TAILOR_TYPE_IQ2_XXS] = { "IQ2_XXS", 256, 66, FALSE, FALSE },
  [TAILOR_TYPE_IQ2_XS] = { "IQ2_XS", 256, 74, FALSE, FALSE },
  [TAILOR_TYPE_IQ3_XXS] = { "IQ3_XXS", 256, 98, FALSE, FALSE },
  [TAILOR_TYPE_IQ1_S] = { "IQ1_S", 256, 50, FALSE, FALSE },
  [TAILOR_TYPE_IQ4_NL] = { "IQ4_NL", 32, 18, FALSE, FALSE },
  [TAILOR_TYPE_IQ3_S] = { "IQ3_S", 256, 110, FALSE, FALSE },
  [TAILOR_TYPE_IQ2_S] = { "IQ2_S", 256, 82, FALSE, FALSE },
  [TAILOR_TYPE_IQ4_XS] = { "IQ4_XS", 256, 136, FALSE, FALSE },
  [TAILOR_TYPE_I8] = { "I8", 1, 1, FALSE, FALSE },
  [TAILOR_TYPE_I16] = { "I16", 1, 2, FALSE, FALSE },
  [TAILOR_TYPE_I32] = { "I32", 1, 4, FALSE, FALSE },
  [TAILOR_TYPE_I64] = { "I64", 1, 8, FALSE, FALSE },
  [TAILOR_TYPE_F64] = { "F64", 1, 8, FALSE, FALSE },
  [TAILOR_TYPE_IQ1_M] = { "IQ1_M", 256, 56, FALSE, FALSE },
  [TAILOR_TYPE_BF16] = { "BF16", 1, 2, TRUE, TRUE },
  [TAILOR_TYPE_TQ1_0] = { "TQ1_0", 256, 54, FALSE, FALSE },
  [TAILOR_TYPE_TQ2_0] = { "TQ2_0", 256, 66, FALSE, FALSE },
  [TAILOR_TYPE_MXFP4] = { "MXFP4", 32, 17, FALSE, FALSE },
};

const TailorTypeInfo *
tailor_type_get_info (TailorType type)
{
  if ((guint) type >= TAILOR_TYPE_COUNT_ || type_infos[type].name == NULL)
    return NULL;
  return &type_infos[type];
}

const char *
tailor_type_name (TailorType type)
{
  const TailorTypeInfo *info = tailor_type_get_info (type);

  return info != NULL ? info->name : "unknown";
}

gboolean
tailor_type_from_name (const char *name, TailorType *out_type)
{
  g_return_val_if_fail (name != NULL, FALSE);

  for (guint i = 0; i < TAILOR_TYPE_COUNT_; i++)
    {
      if (type_infos[i].name != NULL && g_ascii_strcasecmp (type_infos[i].name, name) == 0)
        {
          if (out_type != NULL)
            *out_type = (TailorType) i;
          return TRUE;
        }
    }
  return FALSE;
}

gsize
tailor_type_row_size (TailorType type, gint64 n)
{
  const TailorTypeInfo *info = tailor_type_get_info (type);
  guint64 n_blocks;

  if (info == NULL || n < 0 || n % info->block_size != 0)
    return 0;
  n_blocks = (guint64) n / info->block_size;
  if (n_blocks > G_MAXSIZE / info->type_size)
    return 0;
  return (gsize) n_blocks * info->type_size;
}

/* ---- fp16 / bf16 ---- */

static inline guint32
f32_bits (float f)
{
  guint32 u;

  memcpy (&u, &f, sizeof u);
  return u;
}

static inline float
bits_f32 (guint32 u)
{
  float f;

  memcpy (&f, &u, sizeof f);
  return f;
}

static inline float
half_to_float (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16;
  guint32 exp = (h >> 10) & 0x1f;
  guint32 mant = h & 0x3ff;

  if (exp == 0x1f)
    return bits_f32 (sign | 0x7f800000u | (mant << 13));
  if (exp == 0)
    {
      gint e = 1 - 15;

      if (mant == 0)
        return bits_f32 (sign);
      /* Subnormal: normalise so the leading one becomes the implicit bit of an f32. */
      while ((mant & 0x400) == 0)
        {
          mant <<= 1;
          e--;
        }
      return bits_f32 (sign | ((guint32) (e + 127) << 23) | ((mant & 0x3ff) << 13));
    }
  return bits_f32 (sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

static inline guint16
float_to_half (float f)
{
  guint32 u = f32_bits (f);
  guint16 sign = (guint16) ((u >> 16) & 0x8000);
  gint exp = (gint) ((u >> 23) & 0xff);
  guint32 mant = u & 0x7fffff;
  gint e;

  if (exp == 0xff)
    {
      if (mant == 0)
        return sign | 0x7c00;
      /* Keep the top payload bits and force the quiet bit so the NaN cannot become infinity. */
      return sign | 0x7e00 | (guint16) (mant >> 13);
    }

  e = exp - 127;
  if (e > 15)
    return sign | 0x7c00;

  if (e >= -14)
    {
      guint32 h = ((guint32) (e + 15) << 10) | (mant >> 13);
      guint32 rest = mant & 0x1fff;

      /* A carry out of the mantissa correctly bumps the exponent, up to infinity. */
      if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
        h++;
      return sign | (guint16) h;
    }

  if (e >= -25)
    {
      /* Subnormal half: value = k·2⁻²⁴ with k = significand >> shift. */
      guint32 m = mant | 0x800000;
      guint shift = (guint) (-e - 1);
      guint32 k = m >> shift;
      guint32 rest = m & ((1u << shift) - 1);
      guint32 halfway = 1u << (shift - 1);

      if (rest > halfway || (rest == halfway && (k & 1)))
        k++;
      return sign | (guint16) k;
    }

  return sign;
}

static inline float
bf16_to_float (guint16 h)
{
  return bits_f32 ((guint32) h << 16);
}

static inline guint16
float_to_bf16 (float f)
{
  guint32 u = f32_bits (f);

  if ((u & 0x7fffffff) > 0x7f800000)
    return (guint16) ((u >> 16) | 0x40);
  return (guint16) ((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* Every half's value, so that F16 rows convert with one load per element. */
static const float *
half_table (void)
{
  static float table[65536];
  static gsize initialised = 0;

  if (g_once_init_enter (&initialised))
    {
      for (guint h = 0; h < 65536; h++)
        table[h] = half_to_float ((guint16) h);
      g_once_init_leave (&initialised, 1);
    }
  return table;
}

float
tailor_fp16_to_fp32 (guint16 h)
{
  return half_to_float (h);
}

guint16
tailor_fp32_to_fp16 (float f)
{
  return float_to_half (f);
}

float
tailor_bf16_to_fp32 (guint16 h)
{
  return bf16_to_float (h);
}

guint16
tailor_fp32_to_bf16 (float f)
{
  return float_to_bf16 (f);
}

/* ---- Block layouts ----
 * Byte arrays only, so a block may sit at any address and the layout is the file's on any
 * host; halves are little-endian. */

#define QK   32
#define QK_K 256

typedef struct
{
  guint8 d[2];
  guint8 qs[QK / 2];
} BlockQ4_0;
typedef struct
{
  guint8 d[2];
  guint8 m[2];
  guint8 qs[QK / 2];
} BlockQ4_1;
typedef struct
{
  guint8 d[2];
  guint8 qh[4];
  guint8 qs[QK / 2];
} BlockQ5_0;
typedef struct
{
  guint8 d[2];
  guint8 m[2];
  guint8 qh[4];
  guint8 qs[QK / 2];
} BlockQ5_1;
typedef struct
{
  guint8 d[2];
  gint8 qs[QK];
} BlockQ8_0;
typedef struct
{
  guint8 d[2];
  guint8 dmin[2];
  guint8 scales[12];
  guint8 qs[QK_K / 2];
} BlockQ4_K;
typedef struct
{
  guint8 d[2];
  guint8 dmin[2];
  guint8 scales[12];
  guint8 qh[QK_K / 8];
  guint8 qs[QK_K / 2];
} BlockQ5_K;
typedef struct
{
  guint8 ql[QK_K / 2];
  guint8 qh[QK_K / 4];
  gint8 scales[QK_K / 16];
  guint8 d[2];
} BlockQ6_K;

G_STATIC_ASSERT (sizeof (BlockQ4_0) == 18);
G_STATIC_ASSERT (sizeof (BlockQ4_1) == 20);
G_STATIC_ASSERT (sizeof (BlockQ5_0) == 22);
G_STATIC_ASSERT (sizeof (BlockQ5_1) == 24);
G_STATIC_ASSERT (sizeof (BlockQ8_0) == 34);
G_STATIC_ASSERT (sizeof (BlockQ4_K) == 144);
G_STATIC_ASSERT (sizeof (BlockQ5_K) == 176);
G_STATIC_ASSERT (sizeof (BlockQ6_K) == 210);

static inline float
load_half (const guint8 p[2])
{
  return half_to_float ((guint16) (p[0] | (p[1] << 8)));
}

static inline void
store_half (guint8 p[2], float f)
{
  guint16 h = float_to_half (f);

  p[0] = (guint8) (h & 0xff);
  p[1] = (guint8) (h >> 8);
}

static inline guint32
load_le32 (const guint8 p[4])
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16) | ((guint32) p[3] << 24);
}

static inline void
store_le32 (guint8 p[4], guint32 v)
{
  p[0] = (guint8) v;
  p[1] = (guint8) (v >> 8);
  p[2] = (guint8) (v >> 16);
  p[3] = (guint8) (v >> 24);
}

/* The 6-bit scale and min of sub-block j (0..7) packed in the 12 bytes of a Q4_K/Q5_K block:
 * bytes 0–3 hold scales 0–3 and the high bits of scales 4–7, bytes 4–7 mins 0–3 and the high
 * bits of mins 4–7, bytes 8–11 the low nibbles of scale (low) and min (high) 4–7. */
static inline void
get_scale_min_k4 (const guint8 *q, gint j, guint8 *sc, guint8 *m)
{
  if (j < 4)
    {
      *sc = q[j] & 63;
      *m = q[j + 4] & 63;
    }
  else
    {
      *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
      *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* ---- Dequantization ---- */

static void
dequantize_q4_0 (const BlockQ4_0 *x, float *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++, y += QK)
    {
      const float d = load_half (x[i].d);

      for (gint j = 0; j < QK / 2; j++)
        {
          y[j] = ((gint) (x[i].qs[j] & 0xf) - 8) * d;
          y[j + QK / 2] = ((gint) (x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void
dequantize_q4_1 (const BlockQ4_1 *x, float *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++, y += QK)
    {
      const float d = load_half (x[i].d);
      const float m = load_half (x[i].m);

      for (gint j = 0; j < QK / 2; j++)
        {
          y[j] = (x[i].qs[j] & 0xf) * d + m;
          y[j + QK / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

static void
dequantize_q5_0 (const BlockQ5_0 *x, float *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++, y += QK)
    {
      const float d = load_half (x[i].d);
      const guint32 qh = load_le32 (x[i].qh);

      for (gint j = 0; j < QK / 2; j++)
        {
          const gint hi0 = (qh >> j) & 1;
          const gint hi1 = (qh >> (j + QK / 2)) & 1;

          y[j] = ((gint) ((x[i].qs[j] & 0xf) | (hi0 << 4)) - 16) * d;
          y[j + QK / 2] = ((gint) ((x[i].qs[j] >> 4) | (hi1 << 4)) - 16) * d;
        }
    }
}

static void
dequantize_q5_1 (const BlockQ5_1 *x, float *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++, y += QK)
    {
      const float d = load_half (x[i].d);
      const float m = load_half (x[i].m);
      const guint32 qh = load_le32 (x[i].qh);

      for (gint j = 0; j < QK / 2; j++)
        {
          const gint hi0 = (qh >> j) & 1;
          const gint hi1 = (qh >> (j + QK / 2)) & 1;

          y[j] = ((x[i].qs[j] & 0xf) | (hi0 << 4)) * d + m;
          y[j + QK / 2] = ((x[i].qs[j] >> 4) | (hi1 << 4)) * d + m;
        }
    }
}

static void
dequantize_q8_0 (const BlockQ8_0 *x, float *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++, y += QK)
    {
      const float d = load_half (x[i].d);

      for (gint j = 0; j < QK; j++)
        y[j] = x[i].qs[j] * d;
    }
}

static void
dequantize_q4_k (const BlockQ4_K *x, float *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++)
    {
      const float d = load_half (x[i].d);
      const float dmin = load_half (x[i].dmin);
      const guint8 *q = x[i].qs;

      /* Four chunks of 64: the low nibbles of 32 bytes, then their high nibbles. */
      for (gint c = 0; c < 4; c++, q += 32, y += 64)
        {
          guint8 sc, m;
          float d1, m1, d2, m2;

          get_scale_min_k4 (x[i].scales, 2 * c, &sc, &m);
          d1 = d * sc;
          m1 = dmin * m;
          get_scale_min_k4 (x[i].scales, 2 * c + 1, &sc, &m);
          d2 = d * sc;
          m2 = dmin * m;
          for (gint l = 0; l < 32; l++)
            {
              y[l] = d1 * (q[l] & 0xf) - m1;
              y[l + 32] = d2 * (q[l] >> 4) - m2;
            }
        }
    }
}

static void
dequantize_q5_k (const BlockQ5_K *x, float *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++)
    {
      const float d = load_half (x[i].d);
      const float dmin = load_half (x[i].dmin);
      const guint8 *q = x[i].qs;
      const guint8 *qh = x[i].qh;

      /* As Q4_K; chunk c takes its fifth bits from bits 2c and 2c+1 of qh[l]. */
      for (gint c = 0; c < 4; c++, q += 32, y += 64)
        {
          guint8 sc, m;
          float d1, m1, d2, m2;

          get_scale_min_k4 (x[i].scales, 2 * c, &sc, &m);
          d1 = d * sc;
          m1 = dmin * m;
          get_scale_min_k4 (x[i].scales, 2 * c + 1, &sc, &m);
          d2 = d * sc;
          m2 = dmin * m;
          for (gint l = 0; l < 32; l++)
            {
              const gint h1 = (qh[l] >> (2 * c)) & 1;
              const gint h2 = (qh[l] >> (2 * c + 1)) & 1;

              y[l] = d1 * ((q[l] & 0xf) | (h1 << 4)) - m1;
              y[l + 32] = d2 * ((q[l] >> 4) | (h2 << 4)) - m2;
            }
        }
    }
}

static void
dequantize_q6_k (const BlockQ6_K *x, float *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++)
    {
      const float d = load_half (x[i].d);
      const guint8 *ql = x[i].ql;
      const guint8 *qh = x[i].qh;
      const gint8 *sc = x[i].scales;

      /* Two halves of 128; in each, ql[l] and ql[l+32] give the low nibbles of four quarters
       * and qh[l] their 2-bit high parts. */
      for (gint half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128)
        {
          for (gint l = 0; l < 32; l++)
            {
              const gint is = l / 16;
              const gint q1 = (gint) ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
              const gint q2 = (gint) ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
              const gint q3 = (gint) ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
              const gint q4 = (gint) ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;

              y[l] = d * sc[is] * q1;
              y[l + 32] = d * sc[is + 2] * q2;
              y[l + 64] = d * sc[is + 4] * q3;
              y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

void
tailor_dequantize_row (TailorType type, const void *src, float *dst, gint64 n)
{
  const TailorTypeInfo *info = tailor_type_get_info (type);
  gint64 nb;

  g_return_if_fail (info != NULL && info->can_dequantize);
  g_return_if_fail (n >= 0 && n % info->block_size == 0);
  g_return_if_fail (n == 0 || (src != NULL && dst != NULL));

  nb = n / info->block_size;
  switch (type)
    {
      case TAILOR_TYPE_F32:
        memmove (dst, src, (gsize) n * sizeof (float));
        break;
      case TAILOR_TYPE_F16:
        {
          const guint8 *p = src;
          const float *table = half_table ();

          for (gint64 i = 0; i < n; i++)
            dst[i] = table[p[2 * i] | (p[2 * i + 1] << 8)];
        }
        break;
      case TAILOR_TYPE_BF16:
        {
          const guint8 *p = src;

          for (gint64 i = 0; i < n; i++)
            dst[i] = bf16_to_float ((guint16) (p[2 * i] | (p[2 * i + 1] << 8)));
        }
        break;
      case TAILOR_TYPE_Q4_0:
        dequantize_q4_0 (src, dst, nb);
        break;
      case TAILOR_TYPE_Q4_1:
        dequantize_q4_1 (src, dst, nb);
        break;
      case TAILOR_TYPE_Q5_0:
        dequantize_q5_0 (src, dst, nb);
        break;
      case TAILOR_TYPE_Q5_1:
        dequantize_q5_1 (src, dst, nb);
        break;
      case TAILOR_TYPE_Q8_0:
        dequantize_q8_0 (src, dst, nb);
        break;
      case TAILOR_TYPE_Q4_K:
        dequantize_q4_k (src, dst, nb);
        break;
      case TAILOR_TYPE_Q5_K:
        dequantize_q5_k (src, dst, nb);
        break;
      case TAILOR_TYPE_Q6_K:
        dequantize_q6_k (src, dst, nb);
        break;
      case TAILOR_TYPE_Q8_1:
      case TAILOR_TYPE_Q2_K:
      case TAILOR_TYPE_Q3_K:
      case TAILOR_TYPE_Q8_K:
      case TAILOR_TYPE_IQ2_XXS:
      case TAILOR_TYPE_IQ2_XS:
      case TAILOR_TYPE_IQ3_XXS:
      case TAILOR_TYPE_IQ1_S:
      case TAILOR_TYPE_IQ4_NL:
      case TAILOR_TYPE_IQ3_S:
      case TAILOR_TYPE_IQ2_S:
      case TAILOR_TYPE_IQ4_XS:
      case TAILOR_TYPE_I8:
      case TAILOR_TYPE_I16:
      case TAILOR_TYPE_I32:
      case TAILOR_TYPE_I64:
      case TAILOR_TYPE_F64:
      case TAILOR_TYPE_IQ1_M:
      case TAILOR_TYPE_TQ1_0:
      case TAILOR_TYPE_TQ2_0:
      case TAILOR_TYPE_MXFP4:
      case TAILOR_TYPE_COUNT_:
      default:
        g_assert_not_reached ();
    }
}

/* ---- Quantization ---- */

/* Round half to even, like the FPU's default mode: adding 1.5·2²³ leaves the integer in the low
 * mantissa bits. Valid for |f| < 2²². */
static inline gint
nearest_int (float f)
{
  float v = f + 12582912.f;
  guint32 u = f32_bits (v);

  return (gint) (u & 0x007fffff) - 0x00400000;
}

static inline gint
clamp_int (gint v, gint lo, gint hi)
{
  return v < lo ? lo : (v > hi ? hi : v);
}

/* x·id rounded and clamped; a value |x·id| far beyond the range (or not finite) clamps
 * instead of overflowing nearest_int. */
static inline gint
quantize_value (float v, gint lo, gint hi)
{
  if (!(v > lo - 1.f))
    return lo;
  if (!(v < hi + 1.f))
    return hi;
  return clamp_int (nearest_int (v), lo, hi);
}

/* The element of largest magnitude, with its sign: the symmetric formats map it to the most
 * negative code so that the full range of codes is used. */
static float
signed_absmax (const float *x, gint n)
{
  float amax = 0.f, max = 0.f;

  for (gint j = 0; j < n; j++)
    {
      if (fabsf (x[j]) > amax)
        {
          amax = fabsf (x[j]);
          max = x[j];
        }
    }
  return max;
}

static void
min_max (const float *x, gint n, float *out_min, float *out_max)
{
  float min = x[0], max = x[0];

  for (gint j = 1; j < n; j++)
    {
      min = MIN (min, x[j]);
      max = MAX (max, x[j]);
    }
  *out_min = min;
  *out_max = max;
}

static void
quantize_q4_0 (const float *x, BlockQ4_0 *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++, x += QK)
    {
      const float d = signed_absmax (x, QK) / -8.f;
      const float id = d != 0.f ? 1.f / d : 0.f;

      store_half (y[i].d, d);
      for (gint j = 0; j < QK / 2; j++)
        {
          const gint q0 = quantize_value (x[j] * id, -8, 7) + 8;
          const gint q1 = quantize_value (x[j + QK / 2] * id, -8, 7) + 8;

          y[i].qs[j] = (guint8) (q0 | (q1 << 4));
        }
    }
}

static void
quantize_q4_1 (const float *x, BlockQ4_1 *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++, x += QK)
    {
      float min, max, d, id;

      min_max (x, QK, &min, &max);
      d = (max - min) / 15.f;
      id = d != 0.f ? 1.f / d : 0.f;
      store_half (y[i].d, d);
      store_half (y[i].m, min);
      for (gint j = 0; j < QK / 2; j++)
        {
          const gint q0 = quantize_value ((x[j] - min) * id, 0, 15);
          const gint q1 = quantize_value ((x[j + QK / 2] - min) * id, 0, 15);

          y[i].qs[j] = (guint8) (q0 | (q1 << 4));
        }
    }
}

static void
quantize_q5_0 (const float *x, BlockQ5_0 *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++, x += QK)
    {
      const float d = signed_absmax (x, QK) / -16.f;
      const float id = d != 0.f ? 1.f / d : 0.f;
      guint32 qh = 0;

      store_half (y[i].d, d);
      for (gint j = 0; j < QK / 2; j++)
        {
          const guint q0 = (guint) (quantize_value (x[j] * id, -16, 15) + 16);
          const guint q1 = (guint) (quantize_value (x[j + QK / 2] * id, -16, 15) + 16);

          y[i].qs[j] = (guint8) ((q0 & 0xf) | ((q1 & 0xf) << 4));
          qh |= ((q0 >> 4) & 1) << j;
          qh |= ((q1 >> 4) & 1) << (j + QK / 2);
        }
      store_le32 (y[i].qh, qh);
    }
}

static void
quantize_q5_1 (const float *x, BlockQ5_1 *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++, x += QK)
    {
      float min, max, d, id;
      guint32 qh = 0;

      min_max (x, QK, &min, &max);
      d = (max - min) / 31.f;
      id = d != 0.f ? 1.f / d : 0.f;
      store_half (y[i].d, d);
      store_half (y[i].m, min);
      for (gint j = 0; j < QK / 2; j++)
        {
          const guint q0 = (guint) quantize_value ((x[j] - min) * id, 0, 31);
          const guint q1 = (guint) quantize_value ((x[j + QK / 2] - min) * id, 0, 31);

          y[i].qs[j] = (guint8) ((q0 & 0xf) | ((q1 & 0xf) << 4));
          qh |= ((q0 >> 4) & 1) << j;
          qh |= ((q1 >> 4) & 1) << (j + QK / 2);
        }
      store_le32 (y[i].qh, qh);
    }
}

static void
quantize_q8_0 (const float *x, BlockQ8_0 *y, gint64 nb)
{
  for (gint64 i = 0; i < nb; i++, x += QK)
    {
      const float d = fabsf (signed_absmax (x, QK)) / 127.f;
      const float id = d != 0.f ? 1.f / d : 0.f;

      store_half (y[i].d, d);
      for (gint j = 0; j < QK; j++)
        y[i].qs[j] = (gint8) quantize_value (x[j] * id, -127, 127);
    }
}

/* Codes L in [0, nmax] and a scale and offset with x ≈ scale·L − the_min, minimising the
 * weighted squared error: start from the min/max grid, then try nstep + 1 slightly different
 * grids (nmax + rmin + rdelta·k steps over the range) and, for each rounding, solve the
 * weighted least-squares problem for scale and offset in closed form; the offset is kept ≤ 0
 * (a positive one is replaced by the best pure scale). ggml's K-quant scale search. */
static float
search_scale_min (gint n,
                  gint nmax,
                  const float *x,
                  const float *w,
                  guint8 *L,
                  float *the_min,
                  float rmin,
                  float rdelta,
                  gint nstep)
{
  float min = x[0], max = x[0];
  float sum_w = 0.f, sum_x = 0.f;
  float iscale, scale, best_error = 0.f;
  guint8 Laux[32];

  g_assert (n <= (gint) sizeof Laux);

  for (gint i = 0; i < n; i++)
    {
      min = MIN (min, x[i]);
      max = MAX (max, x[i]);
      sum_w += w[i];
      sum_x += w[i] * x[i];
    }
  if (min > 0.f)
    min = 0.f;
  if (max == min)
    {
      memset (L, 0, (gsize) n);
      *the_min = -min;
      return 0.f;
    }

  iscale = nmax / (max - min);
  scale = 1.f / iscale;
  for (gint i = 0; i < n; i++)
    {
      const gint l = quantize_value (iscale * (x[i] - min), 0, nmax);
      const float diff = scale * l + min - x[i];

      L[i] = (guint8) l;
      best_error += w[i] * diff * diff;
    }

  for (gint step = 0; step <= nstep; step++)
    {
      float sum_l = 0.f, sum_l2 = 0.f, sum_xl = 0.f, D;

      iscale = (rmin + rdelta * step + nmax) / (max - min);
      for (gint i = 0; i < n; i++)
        {
          const gint l = quantize_value (iscale * (x[i] - min), 0, nmax);

          Laux[i] = (guint8) l;
          sum_l += w[i] * l;
          sum_l2 += w[i] * l * l;
          sum_xl += w[i] * l * x[i];
        }
      D = sum_w * sum_l2 - sum_l * sum_l;
      if (D > 0.f)
        {
          float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
          float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
          float error = 0.f;

          if (this_min > 0.f)
            {
              this_min = 0.f;
              this_scale = sum_xl / sum_l2;
            }
          for (gint i = 0; i < n; i++)
            {
              const float diff = this_scale * Laux[i] + this_min - x[i];

              error += w[i] * diff * diff;
            }
          if (error < best_error)
            {
              memcpy (L, Laux, (gsize) n);
              best_error = error;
              scale = this_scale;
              min = this_min;
            }
        }
    }
  *the_min = -min;
  return scale;
}

/* Symmetric codes L − nmax in [−nmax, nmax − 1] and a scale with x ≈ scale·(L − nmax),
 * minimising the error weighted by x² over 19 grids around nmax/|max| (ggml's Q6_K search).
 * The largest-magnitude element maps to −nmax, so the scale has the opposite sign of it. */
static float
search_scale_symmetric (gint n, gint nmax, const float *x, guint8 *L)
{
  const float max = signed_absmax (x, n);
  float iscale, sumlx = 0.f, suml2 = 0.f, scale, best;

  if (fabsf (max) < 1e-15f)
    {
      memset (L, 0, (gsize) n);
      return 0.f;
    }

  iscale = -nmax / max;
  for (gint i = 0; i < n; i++)
    {
      const gint l = quantize_value (iscale * x[i], -nmax, nmax - 1);
      const float w = x[i] * x[i];

      L[i] = (guint8) (l + nmax);
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
  scale = suml2 > 0.f ? sumlx / suml2 : 0.f;
  best = scale * sumlx;

  for (gint step = -9; step <= 9; step++)
    {
      if (step == 0)
        continue;
      iscale = -(nmax + 0.1f * step) / max;
      sumlx = suml2 = 0.f;
      for (gint i = 0; i < n; i++)
        {
          const gint l = quantize_value (iscale * x[i], -nmax, nmax - 1);
          const float w = x[i] * x[i];

          sumlx += w * x[i] * l;
          suml2 += w * l * l;
        }
      /* sumlx²/suml2 is the error reduction of the best scale for this rounding. */
      if (suml2 > 0.f && sumlx * sumlx > best * suml2)
        {
          for (gint i = 0; i < n; i++)
            L[i] = (guint8) (quantize_value (iscale * x[i], -nmax, nmax - 1) + nmax);
          scale = sumlx / suml2;
          best = scale * sumlx;
        }
    }
  return scale;
}

/* Sub-block scales and mins of a Q4_K/Q5_K super-block: each sub-block of 32 gets its own
 * search (weights |x| + rms favour the large values), then the eight scales and mins are
 * quantized to 6 bits against the largest of each, and the codes are recomputed against the
 * quantized scales. */
static void
quantize_k_scales_mins (const float *x,
                        gint nmax,
                        float rmin,
                        gint nstep,
                        guint8 scales_out[12],
                        guint8 d_out[2],
                        guint8 dmin_out[2],
                        guint8 L[QK_K])
{
  float scales[QK_K / 32], mins[QK_K / 32], weights[32];
  float max_scale = 0.f, max_min = 0.f, inv_scale, inv_min, d, dmin;

  for (gint j = 0; j < QK_K / 32; j++)
    {
      const float *xs = x + 32 * j;
      float sum_x2 = 0.f, av_x;

      for (gint l = 0; l < 32; l++)
        sum_x2 += xs[l] * xs[l];
      av_x = sqrtf (sum_x2 / 32.f);
      for (gint l = 0; l < 32; l++)
        weights[l] = av_x + fabsf (xs[l]);
      scales[j] = search_scale_min (32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
      max_scale = MAX (max_scale, scales[j]);
      max_min = MAX (max_min, mins[j]);
    }

  inv_scale = max_scale > 0.f ? 63.f / max_scale : 0.f;
  inv_min = max_min > 0.f ? 63.f / max_min : 0.f;
  memset (scales_out, 0, 12);
  for (gint j = 0; j < QK_K / 32; j++)
    {
      const guint8 ls = (guint8) quantize_value (inv_scale * scales[j], 0, 63);
      const guint8 lm = (guint8) quantize_value (inv_min * mins[j], 0, 63);

      if (j < 4)
        {
          scales_out[j] |= ls;
          scales_out[j + 4] |= lm;
        }
      else
        {
          scales_out[j + 4] = (guint8) ((ls & 0xf) | ((lm & 0xf) << 4));
          scales_out[j - 4] |= (guint8) ((ls >> 4) << 6);
          scales_out[j] |= (guint8) ((lm >> 4) << 6);
        }
    }
  store_half (d_out, max_scale / 63.f);
  store_half (dmin_out, max_min / 63.f);
  d = load_half (d_out);
  dmin = load_half (dmin_out);

  for (gint j = 0; j < QK_K / 32; j++)
    {
      guint8 sc, m;
      float dj, mj;

      get_scale_min_k4 (scales_out, j, &sc, &m);
      dj = d * sc;
      mj = dmin * m;
      for (gint l = 0; l < 32; l++)
        L[32 * j + l] =
          dj != 0.f ? (guint8) quantize_value ((x[32 * j + l] + mj) / dj, 0, nmax) : 0;
    }
}

static void
quantize_q4_k (const float *x, BlockQ4_K *y, gint64 nb)
{
  guint8 L[QK_K];

  for (gint64 i = 0; i < nb; i++, x += QK_K)
    {
      quantize_k_scales_mins (x, 15, -1.f, 20, y[i].scales, y[i].d, y[i].dmin, L);
      for (gint c = 0; c < 4; c++)
        for (gint l = 0; l < 32; l++)
          y[i].qs[32 * c + l] = (guint8) (L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

static void
quantize_q5_k (const float *x, BlockQ5_K *y, gint64 nb)
{
  guint8 L[QK_K];

  for (gint64 i = 0; i < nb; i++, x += QK_K)
    {
      quantize_k_scales_mins (x, 31, -0.5f, 15, y[i].scales, y[i].d, y[i].dmin, L);
      memset (y[i].qh, 0, sizeof y[i].qh);
      for (gint c = 0; c < 4; c++)
        for (gint l = 0; l < 32; l++)
          {
            const guint8 lo = L[64 * c + l];
            const guint8 hi = L[64 * c + 32 + l];

            y[i].qs[32 * c + l] = (guint8) ((lo & 0xf) | ((hi & 0xf) << 4));
            y[i].qh[l] |= (guint8) (((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
          }
    }
}

static void
quantize_q6_k (const float *x, BlockQ6_K *y, gint64 nb)
{
  guint8 L[QK_K];
  float scales[QK_K / 16];

  for (gint64 i = 0; i < nb; i++, x += QK_K)
    {
      float max_scale = 0.f, max_abs_scale = 0.f, iscale, d;

      for (gint ib = 0; ib < QK_K / 16; ib++)
        {
          scales[ib] = search_scale_symmetric (16, 32, x + 16 * ib, L + 16 * ib);
          if (fabsf (scales[ib]) > max_abs_scale)
            {
              max_abs_scale = fabsf (scales[ib]);
              max_scale = scales[ib];
            }
        }

      memset (y[i].ql, 0, sizeof y[i].ql);
      memset (y[i].qh, 0, sizeof y[i].qh);
      if (max_abs_scale < 1e-15f)
        {
          memset (y[i].scales, 0, sizeof y[i].scales);
          store_half (y[i].d, 0.f);
          continue;
        }

      /* The largest scale maps to −128 so the int8 scales use their full range. */
      iscale = -128.f / max_scale;
      store_half (y[i].d, 1.f / iscale);
      for (gint ib = 0; ib < QK_K / 16; ib++)
        y[i].scales[ib] = (gint8) quantize_value (iscale * scales[ib], -128, 127);

      d = load_half (y[i].d);
      for (gint ib = 0; ib < QK_K / 16; ib++)
        {
          const float dj = d * y[i].scales[ib];

          for (gint l = 0; l < 16; l++)
            L[16 * ib + l] =
              dj != 0.f ? (guint8) (quantize_value (x[16 * ib + l] / dj, -32, 31) + 32) : 32;
        }

      for (gint half = 0; half < 2; half++)
        {
          guint8 *ql = y[i].ql + 64 * half;
          guint8 *qh = y[i].qh + 32 * half;
          const guint8 *Lh = L + 128 * half;

          for (gint l = 0; l < 32; l++)
            {
              ql[l] = (guint8) ((Lh[l] & 0xf) | ((Lh[l + 64] & 0xf) << 4));
              ql[l + 32] = (guint8) ((Lh[l + 32] & 0xf) | ((Lh[l + 96] & 0xf) << 4));
              qh[l] = (guint8) ((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}

void
tailor_quantize_row (TailorType type, const float *src, void *dst, gint64 n)
{
  const TailorTypeInfo *info = tailor_type_get_info (type);
  gint64 nb;

  g_return_if_fail (info != NULL && info->can_quantize);
  g_return_if_fail (n >= 0 && n % info->block_size == 0);
  g_return_if_fail (n == 0 || (src != NULL && dst != NULL));

  nb = n / info->block_size;
  switch (type)
    {
      case TAILOR_TYPE_F32:
        memmove (dst, src, (gsize) n * sizeof (float));
        break;
      case TAILOR_TYPE_F16:
        {
          guint8 *p = dst;

          for (gint64 i = 0; i < n; i++)
            {
              guint16 h = float_to_half (src[i]);

              p[2 * i] = (guint8) (h & 0xff);
              p[2 * i + 1] = (guint8) (h >> 8);
            }
        }
        break;
      case TAILOR_TYPE_BF16:
        {
          guint8 *p = dst;

          for (gint64 i = 0; i < n; i++)
            {
              guint16 h = float_to_bf16 (src[i]);

              p[2 * i] = (guint8) (h & 0xff);
              p[2 * i + 1] = (guint8) (h >> 8);
            }
        }
        break;
      case TAILOR_TYPE_Q4_0:
        quantize_q4_0 (src, dst, nb);
        break;
      case TAILOR_TYPE_Q4_1:
        quantize_q4_1 (src, dst, nb);
        break;
      case TAILOR_TYPE_Q5_0:
        quantize_q5_0 (src, dst, nb);
        break;
      case TAILOR_TYPE_Q5_1:
        quantize_q5_1 (src, dst, nb);
        break;
      case TAILOR_TYPE_Q8_0:
        quantize_q8_0 (src, dst, nb);
        break;
      case TAILOR_TYPE_Q4_K:
        quantize_q4_k (src, dst, nb);
        break;
      case TAILOR_TYPE_Q5_K:
        quantize_q5_k (src, dst, nb);
        break;
      case TAILOR_TYPE_Q6_K:
        quantize_q6_k (src, dst, nb);
        break;
      case TAILOR_TYPE_Q8_1:
      case TAILOR_TYPE_Q2_K:
      case TAILOR_TYPE_Q3_K:
      case TAILOR_TYPE_Q8_K:
      case TAILOR_TYPE_IQ2_XXS:
      case TAILOR_TYPE_IQ2_XS:
      case TAILOR_TYPE_IQ3_XXS:
      case TAILOR_TYPE_IQ1_S:
      case TAILOR_TYPE_IQ4_NL:
      case TAILOR_TYPE_IQ3_S:
      case TAILOR_TYPE_IQ2_S:
      case TAILOR_TYPE_IQ4_XS:
      case TAILOR_TYPE_I8:
      case TAILOR_TYPE_I16:
      case TAILOR_TYPE_I32:
      case TAILOR_TYPE_I64:
      case TAILOR_TYPE_F64:
      case TAILOR_TYPE_IQ1_M:
      case TAILOR_TYPE_TQ1_0:
      case TAILOR_TYPE_TQ2_0:
      case TAILOR_TYPE_MXFP4:
      case TAILOR_TYPE_COUNT_:
      default:
        g_assert_not_reached ();
    }
}
