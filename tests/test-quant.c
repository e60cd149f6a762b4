/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the ggml type table, fp16/bf16, block (de)quantization and the model quantizer. */

#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tailor-quant.h"
#include "tailor-quantize-model.h"

/* ---- Helpers ---- */

static void
put_le16 (guint8 *p, guint16 v)
{
  p[0] = (guint8) (v & 0xff);
  p[1] = (guint8) (v >> 8);
}

static float
gaussian (GRand *rand)
{
  /* Box–Muller; 1 − u keeps the logarithm finite. */
  double u = 1.0 - g_rand_double (rand);
  double v = g_rand_double (rand);

  return (float) (sqrt (-2.0 * log (u)) * cos (2.0 * G_PI * v));
}

static void
assert_row_equals (const float *got, const float *want, gint n)
{
  for (gint i = 0; i < n; i++)
    {
      if (got[i] != want[i])
        g_error ("element %d: got %.9g, want %.9g", i, (double) got[i], (double) want[i]);
    }
}

/* ---- Type table ---- */

static void
test_type_table_matches_ggml (void)
{
  /* ggml's type traits: (id, name, elements per block, bytes per block). */
  static const struct
  {
    TailorType type;
    const char *name;
    guint block_size;
    gsize type_size;
  } expected[] = {
    { TAILOR_TYPE_F32, "F32", 1, 4 },
    { TAILOR_TYPE_F16, "F16", 1, 2 },
    { TAILOR_TYPE_Q4_0, "Q4_0", 32, 18 },
    { TAILOR_TYPE_Q4_1, "Q4_1", 32, 20 },
    { TAILOR_TYPE_Q5_0, "Q5_0", 32, 22 },
    { TAILOR_TYPE_Q5_1, "Q5_1", 32, 24 },
    { TAILOR_TYPE_Q8_0, "Q8_0", 32, 34 },
    { TAILOR_TYPE_Q8_1, "Q8_1", 32, 36 },
    { TAILOR_TYPE_Q2_K, "Q2_K", 256, 84 },
    { TAILOR_TYPE_Q3_K, "Q3_K", 256, 110 },
    { TAILOR_TYPE_Q4_K, "Q4_K", 256, 144 },
    { TAILOR_TYPE_Q5_K, "Q5_K", 256, 176 },
    { TAILOR_TYPE_Q6_K, "Q6_K", 256, 210 },
    { TAILOR_TYPE_Q8_K, "Q8_K", 256, 292 },
    { TAILOR_TYPE_IQ2_XXS, "IQ2_XXS", 256, 66 },
    { TAILOR_TYPE_IQ2_XS, "IQ2_XS", 256, 74 },
    { TAILOR_TYPE_IQ3_XXS, "IQ3_XXS", 256, 98 },
    { TAILOR_TYPE_IQ1_S, "IQ1_S", 256, 50 },
    { TAILOR_TYPE_IQ4_NL, "IQ4_NL", 32, 18 },
    { TAILOR_TYPE_IQ3_S, "IQ3_S", 256, 110 },
    { TAILOR_TYPE_IQ2_S, "IQ2_S", 256, 82 },
    { TAILOR_TYPE_IQ4_XS, "IQ4_XS", 256, 136 },
    { TAILOR_TYPE_I8, "I8", 1, 1 },
    { TAILOR_TYPE_I16, "I16", 1, 2 },
    { TAILOR_TYPE_I32, "I32", 1, 4 },
    { TAILOR_TYPE_I64, "I64", 1, 8 },
    { TAILOR_TYPE_F64, "F64", 1, 8 },
    { TAILOR_TYPE_IQ1_M, "IQ1_M", 256, 56 },
    { TAILOR_TYPE_BF16, "BF16", 1, 2 },
    { TAILOR_TYPE_TQ1_0, "TQ1_0", 256, 54 },
    { TAILOR_TYPE_TQ2_0, "TQ2_0", 256, 66 },
    { TAILOR_TYPE_MXFP4, "MXFP4", 32, 17 },
  };
  static const TailorType can_convert[] = {
    TAILOR_TYPE_F32,  TAILOR_TYPE_F16,  TAILOR_TYPE_BF16, TAILOR_TYPE_Q4_0,
    TAILOR_TYPE_Q4_1, TAILOR_TYPE_Q5_0, TAILOR_TYPE_Q5_1, TAILOR_TYPE_Q8_0,
    TAILOR_TYPE_Q4_K, TAILOR_TYPE_Q5_K, TAILOR_TYPE_Q6_K,
  };
  guint n_known = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      const TailorTypeInfo *info = tailor_type_get_info (expected[i].type);
      TailorType parsed;
      g_autofree char *lower = g_ascii_strdown (expected[i].name, -1);

      g_assert_nonnull (info);
      g_assert_cmpstr (info->name, ==, expected[i].name);
      g_assert_cmpstr (tailor_type_name (expected[i].type), ==, expected[i].name);
      g_assert_cmpuint (info->block_size, ==, expected[i].block_size);
      g_assert_cmpuint (info->type_size, ==, expected[i].type_size);
      g_assert_true (tailor_type_from_name (lower, &parsed));
      g_assert_cmpint (parsed, ==, expected[i].type);
    }

  for (guint id = 0; id < TAILOR_TYPE_COUNT_ + 5; id++)
    if (tailor_type_get_info ((TailorType) id) != NULL)
      n_known++;
  g_assert_cmpuint (n_known, ==, G_N_ELEMENTS (expected));

  for (gsize i = 0; i < G_N_ELEMENTS (can_convert); i++)
    {
      g_assert_true (tailor_type_get_info (can_convert[i])->can_dequantize);
      g_assert_true (tailor_type_get_info (can_convert[i])->can_quantize);
    }
  g_assert_false (tailor_type_get_info (TAILOR_TYPE_Q2_K)->can_dequantize);
  g_assert_false (tailor_type_get_info (TAILOR_TYPE_IQ4_NL)->can_quantize);
}

static void
test_type_unknown_ids (void)
{
  TailorType parsed = TAILOR_TYPE_F32;

  /* 4 and 5 (Q4_2, Q4_3) and 31–33, 36–38 (repacked Q4_0/IQ4_NL) were removed from ggml. */
  static const guint removed[] = { 4, 5, 31, 32, 33, 36, 37, 38, 40, 1000 };

  for (gsize i = 0; i < G_N_ELEMENTS (removed); i++)
    {
      g_assert_null (tailor_type_get_info ((TailorType) removed[i]));
      g_assert_cmpstr (tailor_type_name ((TailorType) removed[i]), ==, "unknown");
      g_assert_cmpuint (tailor_type_row_size ((TailorType) removed[i], 32), ==, 0);
    }
  g_assert_null (tailor_type_get_info ((TailorType) -1));
  g_assert_false (tailor_type_from_name ("Q4_2", &parsed));
  g_assert_false (tailor_type_from_name ("", &parsed));
  g_assert_false (tailor_type_from_name ("unknown", &parsed));
  g_assert_cmpint (parsed, ==, TAILOR_TYPE_F32);
  g_assert_true (tailor_type_from_name ("q4_k", &parsed));
  g_assert_cmpint (parsed, ==, TAILOR_TYPE_Q4_K);
  g_assert_true (tailor_type_from_name ("Bf16", &parsed));
  g_assert_cmpint (parsed, ==, TAILOR_TYPE_BF16);
}

static void
test_type_row_size_checks_blocks_and_overflow (void)
{
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_F32, 7), ==, 28);
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_Q4_0, 64), ==, 36);
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_Q6_K, 4096), ==, 16 * 210);
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_Q4_K, 0), ==, 0);
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_Q4_K, 896), ==, 0);
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_Q8_0, 33), ==, 0);
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_F32, -4), ==, 0);
  /* 2⁶³ − 1 elements of 8 bytes cannot be counted in a 64-bit size. */
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_F64, G_MAXINT64), ==, 0);
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_F32, G_MAXINT64 / 2 + 1), ==, 0); /* 2⁶⁴ */
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_F32, G_MAXINT64 / 2), ==, G_MAXSIZE - 3);
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_I8, G_MAXINT64), ==, (gsize) G_MAXINT64);
  g_assert_cmpuint (tailor_type_row_size (TAILOR_TYPE_Q8_0, (G_MAXINT64 / 32) * 32), ==,
                    (gsize) (G_MAXINT64 / 32) * 34);
}

/* ---- fp16 / bf16 ---- */

static void
test_fp16_rounds_to_nearest_even (void)
{
  g_assert_cmphex (tailor_fp32_to_fp16 (1.0f), ==, 0x3c00);
  g_assert_cmphex (tailor_fp32_to_fp16 (-2.0f), ==, 0xc000);
  g_assert_cmphex (tailor_fp32_to_fp16 (0.5f), ==, 0x3800);
  g_assert_cmphex (tailor_fp32_to_fp16 (0.1f), ==, 0x2e66);
  /* 1 + 2⁻¹¹ is half-way between 0x3c00 and 0x3c01: ties go to the even 0x3c00. */
  g_assert_cmphex (tailor_fp32_to_fp16 (1.0f + ldexpf (1.0f, -11)), ==, 0x3c00);
  /* 1 + 3·2⁻¹¹ is half-way between 0x3c01 and 0x3c02: the even one is 0x3c02. */
  g_assert_cmphex (tailor_fp32_to_fp16 (1.0f + 3 * ldexpf (1.0f, -11)), ==, 0x3c02);
  /* Just above a tie rounds up, just below rounds down. */
  g_assert_cmphex (tailor_fp32_to_fp16 (nextafterf (1.0f + ldexpf (1.0f, -11), 2.0f)), ==, 0x3c01);
  g_assert_cmphex (tailor_fp32_to_fp16 (nextafterf (1.0f + 3 * ldexpf (1.0f, -11), 0.0f)), ==,
                   0x3c01);
  /* A carry out of the mantissa moves to the next binade: 2 − 2⁻¹² rounds to 2. */
  g_assert_cmphex (tailor_fp32_to_fp16 (2.0f - ldexpf (1.0f, -12)), ==, 0x4000);
}

static void
test_fp16_max_and_infinity (void)
{
  g_assert_cmphex (tailor_fp32_to_fp16 (65504.0f), ==, 0x7bff);
  g_assert_cmpfloat (tailor_fp16_to_fp32 (0x7bff), ==, 65504.0f);
  /* 65520 is half-way between 65504 (odd mantissa) and 65536 (infinity): rounds to infinity. */
  g_assert_cmphex (tailor_fp32_to_fp16 (nextafterf (65520.0f, 0.0f)), ==, 0x7bff);
  g_assert_cmphex (tailor_fp32_to_fp16 (65520.0f), ==, 0x7c00);
  g_assert_cmphex (tailor_fp32_to_fp16 (1e10f), ==, 0x7c00);
  g_assert_cmphex (tailor_fp32_to_fp16 (-1e10f), ==, 0xfc00);
  g_assert_cmphex (tailor_fp32_to_fp16 (INFINITY), ==, 0x7c00);
  g_assert_cmphex (tailor_fp32_to_fp16 (-INFINITY), ==, 0xfc00);
  g_assert_true (isinf (tailor_fp16_to_fp32 (0x7c00)) && tailor_fp16_to_fp32 (0x7c00) > 0);
  g_assert_true (isinf (tailor_fp16_to_fp32 (0xfc00)) && tailor_fp16_to_fp32 (0xfc00) < 0);
}

static void
test_fp16_nan_stays_nan (void)
{
  static const guint32 nan_bits[] = { 0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7f802000 };

  for (gsize i = 0; i < G_N_ELEMENTS (nan_bits); i++)
    {
      float f;
      guint16 h;

      memcpy (&f, &nan_bits[i], sizeof f);
      h = tailor_fp32_to_fp16 (f);
      /* A signalling NaN whose payload sits only in the low bits must not turn into infinity. */
      g_assert_cmphex (h & 0x7c00, ==, 0x7c00);
      g_assert_cmphex (h & 0x03ff, !=, 0);
      g_assert_cmphex (h & 0x8000, ==, (nan_bits[i] >> 16) & 0x8000);
    }
  g_assert_true (isnan (tailor_fp16_to_fp32 (0x7e00)));
  g_assert_true (isnan (tailor_fp16_to_fp32 (0x7c01)));
  g_assert_true (isnan (tailor_fp16_to_fp32 (0xfe00)));
}

static void
test_fp16_subnormals_and_signed_zero (void)
{
  const float min_sub = ldexpf (1.0f, -24);

  g_assert_cmpfloat (tailor_fp16_to_fp32 (0x0001), ==, min_sub);
  g_assert_cmpfloat (tailor_fp16_to_fp32 (0x03ff), ==, 1023 * min_sub);
  g_assert_cmpfloat (tailor_fp16_to_fp32 (0x0400), ==, ldexpf (1.0f, -14));
  g_assert_cmpfloat (tailor_fp16_to_fp32 (0x8001), ==, -min_sub);
  g_assert_cmphex (tailor_fp32_to_fp16 (min_sub), ==, 0x0001);
  g_assert_cmphex (tailor_fp32_to_fp16 (1023 * min_sub), ==, 0x03ff);
  g_assert_cmphex (tailor_fp32_to_fp16 (ldexpf (1.0f, -14)), ==, 0x0400);
  /* Half of the smallest subnormal is a tie between 0 and 0x0001: goes to the even 0. */
  g_assert_cmphex (tailor_fp32_to_fp16 (min_sub / 2), ==, 0x0000);
  g_assert_cmphex (tailor_fp32_to_fp16 (nextafterf (min_sub / 2, 1.0f)), ==, 0x0001);
  /* 1.5 and 2.5 subnormal steps are ties: to 2 and 2. */
  g_assert_cmphex (tailor_fp32_to_fp16 (1.5f * min_sub), ==, 0x0002);
  g_assert_cmphex (tailor_fp32_to_fp16 (2.5f * min_sub), ==, 0x0002);
  g_assert_cmphex (tailor_fp32_to_fp16 (-2.5f * min_sub), ==, 0x8002);
  /* The largest subnormal plus half a step rounds up into the smallest normal. */
  g_assert_cmphex (tailor_fp32_to_fp16 (1023.5f * min_sub), ==, 0x0400);
  /* Far below the range: a zero of the same sign; f32 subnormals too. */
  g_assert_cmphex (tailor_fp32_to_fp16 (1e-30f), ==, 0x0000);
  g_assert_cmphex (tailor_fp32_to_fp16 (-1e-30f), ==, 0x8000);
  g_assert_cmphex (tailor_fp32_to_fp16 (1e-45f), ==, 0x0000);
  g_assert_cmphex (tailor_fp32_to_fp16 (0.0f), ==, 0x0000);
  g_assert_cmphex (tailor_fp32_to_fp16 (-0.0f), ==, 0x8000);
  g_assert_true (signbit (tailor_fp16_to_fp32 (0x8000)));
  g_assert_cmpfloat (tailor_fp16_to_fp32 (0x8000), ==, 0.0f);
}

static void
test_fp16_round_trips_every_half (void)
{
  for (guint h = 0; h < 0x10000; h++)
    {
      const float f = tailor_fp16_to_fp32 ((guint16) h);

      if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0)
        {
          g_assert_true (isnan (f));
          continue;
        }
      if (tailor_fp32_to_fp16 (f) != h)
        g_error ("half 0x%04x → %.9g → 0x%04x", h, (double) f, tailor_fp32_to_fp16 (f));
    }
}

static float
float_from_bits (guint32 u)
{
  float f;

  memcpy (&f, &u, sizeof f);
  return f;
}

static void
test_bf16_rounds_to_nearest_even (void)
{
  g_assert_cmphex (tailor_fp32_to_bf16 (1.0f), ==, 0x3f80);
  g_assert_cmphex (tailor_fp32_to_bf16 (-2.0f), ==, 0xc000);
  /* Ties: 0x3f808000 lies half-way between 0x3f80 and 0x3f81 → even 0x3f80; 0x3f818000 → 0x3f82. */
  g_assert_cmphex (tailor_fp32_to_bf16 (float_from_bits (0x3f808000)), ==, 0x3f80);
  g_assert_cmphex (tailor_fp32_to_bf16 (float_from_bits (0x3f818000)), ==, 0x3f82);
  g_assert_cmphex (tailor_fp32_to_bf16 (float_from_bits (0x3f808001)), ==, 0x3f81);
  g_assert_cmphex (tailor_fp32_to_bf16 (float_from_bits (0x3f807fff)), ==, 0x3f80);
  /* The largest f32 rounds up to infinity; the largest bf16 stays. */
  g_assert_cmphex (tailor_fp32_to_bf16 (float_from_bits (0x7f7fffff)), ==, 0x7f80);
  g_assert_cmphex (tailor_fp32_to_bf16 (float_from_bits (0x7f7f0000)), ==, 0x7f7f);
  g_assert_cmphex (tailor_fp32_to_bf16 (INFINITY), ==, 0x7f80);
  g_assert_cmphex (tailor_fp32_to_bf16 (-INFINITY), ==, 0xff80);
  g_assert_cmphex (tailor_fp32_to_bf16 (-0.0f), ==, 0x8000);
  /* Subnormals are kept, rounded like the rest. */
  g_assert_cmphex (tailor_fp32_to_bf16 (float_from_bits (0x00010000)), ==, 0x0001);
  g_assert_cmphex (tailor_fp32_to_bf16 (float_from_bits (0x00018000)), ==, 0x0002);
  /* NaN: a payload only in the low 16 bits would truncate to infinity; it must stay a quiet NaN. */
  g_assert_cmphex (tailor_fp32_to_bf16 (float_from_bits (0x7f800001)) & 0xffc0, ==, 0x7fc0);
  g_assert_cmphex (tailor_fp32_to_bf16 (float_from_bits (0xffc00000)), ==, 0xffc0);
  g_assert_true (isnan (tailor_bf16_to_fp32 (0x7fc0)));
  g_assert_cmpfloat (tailor_bf16_to_fp32 (0x3f80), ==, 1.0f);
  g_assert_cmpfloat (tailor_bf16_to_fp32 (0xc0a0), ==, -5.0f);
  g_assert_true (signbit (tailor_bf16_to_fp32 (0x8000)));

  for (guint h = 0; h < 0x10000; h++)
    {
      const float f = tailor_bf16_to_fp32 ((guint16) h);

      if (!isnan (f) && tailor_fp32_to_bf16 (f) != h)
        g_error ("bf16 0x%04x does not round-trip", h);
    }
}

/* ---- Hand-made blocks ----
 * Each test builds block bytes from chosen d, m, scales and codes, and checks every output
 * element against the format's formula written out independently of the implementation. */

static void
test_dequantize_float_rows (void)
{
  const float values[4] = { 1.0f, -0.5f, 65504.0f, -0.0f };
  guint8 f16[8], bf16[8];
  float out[4];
  const float want_bf16[4] = { 1.0f, -0.5f, 65536.0f, -0.0f };

  put_le16 (f16 + 0, 0x3c00);
  put_le16 (f16 + 2, 0xb800);
  put_le16 (f16 + 4, 0x7bff);
  put_le16 (f16 + 6, 0x8000);
  tailor_dequantize_row (TAILOR_TYPE_F16, f16, out, 4);
  assert_row_equals (out, values, 4);

  /* 65504 = 0x477fe000 is a tie between bf16 0x477f and 0x4780 (65536): even is 0x4780. */
  put_le16 (bf16 + 0, 0x3f80);
  put_le16 (bf16 + 2, 0xbf00);
  put_le16 (bf16 + 4, 0x4780);
  put_le16 (bf16 + 6, 0x8000);
  tailor_dequantize_row (TAILOR_TYPE_BF16, bf16, out, 4);
  assert_row_equals (out, want_bf16, 4);

  tailor_dequantize_row (TAILOR_TYPE_F32, values, out, 4);
  assert_row_equals (out, values, 4);

  {
    guint8 q16[8], qb16[8];

    tailor_quantize_row (TAILOR_TYPE_F16, values, q16, 4);
    g_assert_cmpmem (q16, 8, f16, 8);
    tailor_quantize_row (TAILOR_TYPE_BF16, values, qb16, 4);
    g_assert_cmpmem (qb16, 8, bf16, 8);
  }
}

static void
test_dequantize_q4_0_block (void)
{
  guint8 block[2 * 18];
  float out[64], want[64];

  /* Block 0: d = 0.5 (0x3800), qs[j] = j | (15 − j) << 4. Block 1: d = −3 (0xc200). */
  put_le16 (block, 0x3800);
  for (gint j = 0; j < 16; j++)
    block[2 + j] = (guint8) (j | ((15 - j) << 4));
  put_le16 (block + 18, 0xc200);
  for (gint j = 0; j < 16; j++)
    block[18 + 2 + j] = (guint8) ((j * 5) & 0xff);

  for (gint j = 0; j < 16; j++)
    {
      want[j] = (j - 8) * 0.5f;
      want[j + 16] = (7 - j) * 0.5f;
      want[32 + j] = (((j * 5) & 0xf) - 8) * -3.0f;
      want[32 + j + 16] = (((j * 5) >> 4) - 8) * -3.0f;
    }
  tailor_dequantize_row (TAILOR_TYPE_Q4_0, block, out, 64);
  assert_row_equals (out, want, 64);
  g_assert_cmpfloat (out[0], ==, -4.0f);
  g_assert_cmpfloat (out[16], ==, 3.5f);
  g_assert_cmpfloat (out[32 + 3], ==, -21.0f); /* qs = 15: (15 − 8)·−3 */
}

static void
test_dequantize_q4_1_block (void)
{
  guint8 block[20];
  float out[32], want[32];

  /* d = 0.25 (0x3400), m = −1.5 (0xbe00). */
  put_le16 (block, 0x3400);
  put_le16 (block + 2, 0xbe00);
  for (gint j = 0; j < 16; j++)
    block[4 + j] = (guint8) ((j * 11 + 3) & 0xff);
  for (gint j = 0; j < 16; j++)
    {
      want[j] = ((j * 11 + 3) & 0xf) * 0.25f - 1.5f;
      want[j + 16] = (((j * 11 + 3) & 0xff) >> 4) * 0.25f - 1.5f;
    }
  tailor_dequantize_row (TAILOR_TYPE_Q4_1, block, out, 32);
  assert_row_equals (out, want, 32);
  g_assert_cmpfloat (out[1], ==, 14 * 0.25f - 1.5f); /* qs[1] = 0x0e */
  g_assert_cmpfloat (out[17], ==, -1.5f);
}

static void
test_dequantize_q5_0_block (void)
{
  guint8 block[22];
  float out[32], want[32];
  const guint32 qh = 0xa5c3f00f;

  /* d = 2 (0x4000); qh bit j is the fifth bit of element j, stored little-endian. */
  put_le16 (block, 0x4000);
  block[2] = 0x0f;
  block[3] = 0xf0;
  block[4] = 0xc3;
  block[5] = 0xa5;
  for (gint j = 0; j < 16; j++)
    block[6 + j] = (guint8) ((j * 7 + 1) & 0xff);
  for (gint j = 0; j < 16; j++)
    {
      const gint lo = ((j * 7 + 1) & 0xf) | (((qh >> j) & 1) << 4);
      const gint hi = (((j * 7 + 1) & 0xff) >> 4) | (((qh >> (j + 16)) & 1) << 4);

      want[j] = (lo - 16) * 2.0f;
      want[j + 16] = (hi - 16) * 2.0f;
    }
  tailor_dequantize_row (TAILOR_TYPE_Q5_0, block, out, 32);
  assert_row_equals (out, want, 32);
  /* Element 0: nibble 1, high bit 1 → 17 − 16 = 1 → 2. Element 4: nibble 13, bit 0 → −6. */
  g_assert_cmpfloat (out[0], ==, 2.0f);
  g_assert_cmpfloat (out[4], ==, -6.0f);
  /* Element 16: high nibble of qs[0] = 0x01 is 0, bit 16 of qh is 1 → 16 − 16 = 0. */
  g_assert_cmpfloat (out[16], ==, 0.0f);
  /* Element 18: qs[2] = 0x0f → high nibble 0, bit 18 of qh = 0 → −32. */
  g_assert_cmpfloat (out[18], ==, -32.0f);
}

static void
test_dequantize_q5_1_block (void)
{
  guint8 block[24];
  float out[32], want[32];
  const guint32 qh = 0x80000001;

  /* d = 0.5 (0x3800), m = 4 (0x4400); only elements 0 and 31 have the fifth bit. */
  put_le16 (block, 0x3800);
  put_le16 (block + 2, 0x4400);
  block[4] = 0x01;
  block[5] = 0x00;
  block[6] = 0x00;
  block[7] = 0x80;
  for (gint j = 0; j < 16; j++)
    block[8 + j] = (guint8) (0xf0 | j);
  for (gint j = 0; j < 16; j++)
    {
      want[j] = (j | (((qh >> j) & 1) << 4)) * 0.5f + 4.0f;
      want[j + 16] = (15 | (((qh >> (j + 16)) & 1) << 4)) * 0.5f + 4.0f;
    }
  tailor_dequantize_row (TAILOR_TYPE_Q5_1, block, out, 32);
  assert_row_equals (out, want, 32);
  g_assert_cmpfloat (out[0], ==, 16 * 0.5f + 4.0f);
  g_assert_cmpfloat (out[31], ==, 31 * 0.5f + 4.0f);
  g_assert_cmpfloat (out[30], ==, 15 * 0.5f + 4.0f);
}

static void
test_dequantize_q8_0_block (void)
{
  guint8 block[34];
  float out[32], want[32];

  /* d = −0.125 (0xb000), qs = −128, −127 … +127 spread over the block. */
  put_le16 (block, 0xb000);
  for (gint j = 0; j < 32; j++)
    {
      const gint8 q = (gint8) (j * 8 - 128 + (j == 31 ? 7 : 0));

      block[2 + j] = (guint8) q;
      want[j] = q * -0.125f;
    }
  tailor_dequantize_row (TAILOR_TYPE_Q8_0, block, out, 32);
  assert_row_equals (out, want, 32);
  g_assert_cmpfloat (out[0], ==, 16.0f);
  g_assert_cmpfloat (out[31], ==, -127 * 0.125f);
}

/* Sub-block scales and mins used by the Q4_K and Q5_K blocks, with their 12-byte packing
 * worked out by hand: bytes 0–3 = sc[0..3] | (sc[4..7] >> 4) << 6, bytes 4–7 = m[0..3] |
 * (m[4..7] >> 4) << 6, bytes 8–11 = (sc[4..7] & 15) | (m[4..7] & 15) << 4. */
static const guint8 k_sc[8] = { 1, 2, 3, 4, 33, 45, 50, 63 };
static const guint8 k_m[8] = { 5, 6, 7, 8, 17, 40, 48, 62 };
static const guint8 k_packed[12] = { 0x81, 0x82, 0xc3, 0xc4, 0x45, 0x86,
                                     0xc7, 0xc8, 0x11, 0x8d, 0x02, 0xef };

static void
test_dequantize_q4_k_block (void)
{
  guint8 block[144];
  float out[256], want[256];

  /* d = 2 (0x4000), dmin = 0.5 (0x3800); qs[i] = 7i mod 256. */
  put_le16 (block, 0x4000);
  put_le16 (block + 2, 0x3800);
  memcpy (block + 4, k_packed, 12);
  for (gint i = 0; i < 128; i++)
    block[16 + i] = (guint8) ((7 * i) & 0xff);

  /* Element e: chunk c = e / 64 of qs[32c … 32c + 31]; the first 32 take the low nibbles with
   * sub-block 2c, the next 32 the high nibbles with sub-block 2c + 1. */
  for (gint e = 0; e < 256; e++)
    {
      const gint c = e / 64, r = e % 64;
      const gint byte = (7 * (32 * c + r % 32)) & 0xff;
      const gint sub = 2 * c + r / 32;
      const gint q = r < 32 ? (byte & 0xf) : (byte >> 4);

      want[e] = 2.0f * k_sc[sub] * q - 0.5f * k_m[sub];
    }
  tailor_dequantize_row (TAILOR_TYPE_Q4_K, block, out, 256);
  assert_row_equals (out, want, 256);
  /* Worked by hand: y[0] = 2·1·0 − 0.5·5; y[225]: qs[97] = 0xa7, high nibble 10, sub-block 7
   * (sc 63, m 62) → 2·63·10 − 31; y[129]: qs[65] = 0xc7, low 7, sub-block 4 (33, 17). */
  g_assert_cmpfloat (out[0], ==, -2.5f);
  g_assert_cmpfloat (out[225], ==, 1229.0f);
  g_assert_cmpfloat (out[129], ==, 2.0f * 33 * 7 - 8.5f);
}

static void
test_dequantize_q5_k_block (void)
{
  guint8 block[176];
  float out[256], want[256];

  /* d = 0.25 (0x3400), dmin = 1 (0x3c00); qh[l] = 37l + 5, qs[i] = 13i + 1 (mod 256). */
  put_le16 (block, 0x3400);
  put_le16 (block + 2, 0x3c00);
  memcpy (block + 4, k_packed, 12);
  for (gint l = 0; l < 32; l++)
    block[16 + l] = (guint8) ((37 * l + 5) & 0xff);
  for (gint i = 0; i < 128; i++)
    block[48 + i] = (guint8) ((13 * i + 1) & 0xff);

  /* As Q4_K; element e of sub-block s takes its fifth bit from bit s of qh[e % 32]. */
  for (gint e = 0; e < 256; e++)
    {
      const gint c = e / 64, r = e % 64, l = r % 32;
      const gint byte = (13 * (32 * c + l) + 1) & 0xff;
      const gint sub = 2 * c + r / 32;
      const gint high = (((37 * l + 5) & 0xff) >> sub) & 1;
      const gint q = (r < 32 ? (byte & 0xf) : (byte >> 4)) | (high << 4);

      want[e] = 0.25f * k_sc[sub] * q - 1.0f * k_m[sub];
    }
  tailor_dequantize_row (TAILOR_TYPE_Q5_K, block, out, 256);
  assert_row_equals (out, want, 256);
  /* y[0]: qs[0] = 0x01, qh[0] = 0x05 bit 0 set → q = 17; 0.25·1·17 − 5.
   * y[255]: qs[127] = 0x74 high nibble 7, qh[31] = 0x80 bit 7 = 1 → 0.25·63·23 − 62.
   * y[192]: qs[96] = 0xe1 low 1, qh[0] bit 6 = 0 → 0.25·50·1 − 48. */
  g_assert_cmpfloat (out[0], ==, 0.25f * 17 - 5.0f);
  g_assert_cmpfloat (out[255], ==, 0.25f * 63 * 23 - 62.0f);
  g_assert_cmpfloat (out[192], ==, 0.25f * 50 - 48.0f);
}

static void
test_dequantize_q6_k_block (void)
{
  guint8 block[210];
  float out[256], want[256];
  static const gint8 scales[16] = {
    1, -2, 3, -4, 5, -6, 7, -8, 127, -128, 64, -64, 10, 20, -30, 0
  };

  /* Layout: ql[128], qh[64], int8 scales[16], d. d = 0.5 (0x3800). */
  for (gint i = 0; i < 128; i++)
    block[i] = (guint8) ((29 * i + 3) & 0xff);
  for (gint i = 0; i < 64; i++)
    block[128 + i] = (guint8) ((53 * i + 11) & 0xff);
  memcpy (block + 192, scales, 16);
  put_le16 (block + 208, 0x3800);

  /* Element e: half h = e / 128, quarter q = (e % 128) / 32, l = e % 32. Its low nibble is
   * in ql[64h + l + 32·(q & 1)] (low nibble for q < 2, high for q ≥ 2), its two high bits are
   * bits 2q, 2q + 1 of qh[32h + l], its scale is scales[8h + 2q + l / 16]. */
  for (gint e = 0; e < 256; e++)
    {
      const gint h = e / 128, q = (e % 128) / 32, l = e % 32;
      const gint lbyte = (29 * (64 * h + l + 32 * (q & 1)) + 3) & 0xff;
      const gint hbyte = (53 * (32 * h + l) + 11) & 0xff;
      const gint low = q < 2 ? (lbyte & 0xf) : (lbyte >> 4);
      const gint high = (hbyte >> (2 * q)) & 3;

      want[e] = 0.5f * scales[8 * h + 2 * q + l / 16] * ((low | (high << 4)) - 32);
    }
  tailor_dequantize_row (TAILOR_TYPE_Q6_K, block, out, 256);
  assert_row_equals (out, want, 256);
  /* y[0]: ql[0] = 0x03 → 3, qh[0] = 0x0b bits 0–1 = 3 → 51 − 32 = 19; 0.5·1·19.
   * y[64]: ql[0] high nibble 0, qh[0] bits 4–5 = 0 → −32; scale[4] = 5 → −80.
   * y[232] (h 1, q 3, l 8): ql[64+8+32] = ql[104] = 0xcb → high 12, qh[40] = 0x53 bits 6–7 = 1
   * → 28 − 32 = −4; scale[8+6+0] = −30 → 60. */
  g_assert_cmpfloat (out[0], ==, 9.5f);
  g_assert_cmpfloat (out[64], ==, -80.0f);
  g_assert_cmpfloat (out[232], ==, 60.0f);
}

/* ---- Round trips ---- */

typedef struct
{
  TailorType type;
  double gaussian_bound; /* relative RMSE on N(0, 1) rows */
  double outlier_bound;  /* relative RMSE on rows with 1 % outliers of ±8–16σ */
} ErrorBound;

/* Bounds are the measured relative RMSE (fixed seed) plus 25 %. The measurements follow from
 * the formats: a uniform quantizer of step Δ has RMS error Δ/√12, and the largest |x| of 32
 * N(0, 1) values is ~2.1σ. Q8_0: Δ = 2·2.1/254 → 0.48 %. Q5_0 and Q4_0 put −16 and −8 steps
 * on the signed extreme: Δ = 2.1/16 → 3.8 %, 2.1/8 → 7.6 %, plus the clipping of the
 * opposite side. Q5_1 and Q4_1 spread max − min (~4.1σ) over 31 and 15 steps: 3.8 %, 7.9 %.
 * The K-quants choose each sub-block's scale and offset by a weighted least-squares search,
 * then store those with 6 (8 for Q6_K) bits: Q5_K ~3.6 %, Q4_K ~7.1 %; Q6_K has 16-element
 * sub-blocks (|x| ≤ ~1.8σ) on 64 levels, Δ ≈ 0.056 → 1.6 %, 1.8 % with its int8 scales.
 * Outliers (1 % of values at 8–16σ) stretch the range of the blocks they fall in; formats
 * with a signed-extreme step (Q4_0, Q5_0, Q8_0) suffer most. F16 keeps 11 significant bits
 * (RMS relative error 2⁻¹¹/√12·~1.4 ≈ 0.02 %), BF16 8 bits (≈ 0.17 %). */
static const ErrorBound bounds[] = {
  { TAILOR_TYPE_F32, 0.0, 0.0 },
  { TAILOR_TYPE_F16, 0.00026, 0.00027 }, /* measured 0.021 %, 0.021 % */
  { TAILOR_TYPE_BF16, 0.0021, 0.0021 },  /* 0.17 %, 0.17 % */
  { TAILOR_TYPE_Q8_0, 0.0067, 0.0126 },  /* 0.53 %, 1.01 % */
  { TAILOR_TYPE_Q6_K, 0.0222, 0.0369 },  /* 1.77 %, 2.95 % */
  { TAILOR_TYPE_Q5_K, 0.0452, 0.0600 },  /* 3.61 %, 4.79 % */
  { TAILOR_TYPE_Q5_1, 0.0474, 0.0618 },  /* 3.79 %, 4.94 % */
  { TAILOR_TYPE_Q5_0, 0.0532, 0.0990 },  /* 4.26 %, 7.92 % */
  { TAILOR_TYPE_Q4_K, 0.0893, 0.1202 },  /* 7.14 %, 9.61 % */
  { TAILOR_TYPE_Q4_1, 0.0978, 0.1279 },  /* 7.82 %, 10.23 % */
  { TAILOR_TYPE_Q4_0, 0.1071, 0.1880 },  /* 8.57 %, 15.04 % */
};

/* Relative RMSE ‖dequant(quant(x)) − x‖ / ‖x‖. */
static double
round_trip_error (TailorType type, const float *x, gint64 n)
{
  g_autofree guint8 *q = g_malloc (tailor_type_row_size (type, n));
  g_autofree float *y = g_new (float, n);
  double err = 0, norm = 0;

  tailor_quantize_row (type, x, q, n);
  tailor_dequantize_row (type, q, y, n);
  for (gint64 i = 0; i < n; i++)
    {
      err += ((double) y[i] - x[i]) * ((double) y[i] - x[i]);
      norm += (double) x[i] * x[i];
    }
  return sqrt (err / norm);
}

static const ErrorBound *
bound_for (TailorType type)
{
  for (gsize i = 0; i < G_N_ELEMENTS (bounds); i++)
    if (bounds[i].type == type)
      return &bounds[i];
  g_assert_not_reached ();
}

static void
fill_rows (GRand *rand, float *x, gint64 n, gboolean outliers)
{
  for (gint64 i = 0; i < n; i++)
    {
      x[i] = gaussian (rand);
      if (outliers && g_rand_int_range (rand, 0, 100) == 0)
        x[i] *= (float) g_rand_double_range (rand, 8.0, 16.0);
    }
}

static void
test_round_trip_error_bounds (void)
{
  const gint64 n = 64 * 1024;
  g_autoptr (GRand) rand = g_rand_new_with_seed (1234);
  g_autofree float *plain = g_new (float, n);
  g_autofree float *spiky = g_new (float, n);

  fill_rows (rand, plain, n, FALSE);
  fill_rows (rand, spiky, n, TRUE);

  for (gsize i = 0; i < G_N_ELEMENTS (bounds); i++)
    {
      const double e_plain = round_trip_error (bounds[i].type, plain, n);
      const double e_spiky = round_trip_error (bounds[i].type, spiky, n);

      g_test_message ("%-5s relative RMSE: gaussian %.4f %%, with outliers %.4f %%",
                      tailor_type_name (bounds[i].type), 100 * e_plain, 100 * e_spiky);
      g_assert_cmpfloat (e_plain, <=, bounds[i].gaussian_bound);
      g_assert_cmpfloat (e_spiky, <=, bounds[i].outlier_bound);
    }
}

/* ---- Exactly representable blocks ---- */

static float
random_half (GRand *rand, double lo, double hi)
{
  return tailor_fp16_to_fp32 (tailor_fp32_to_fp16 ((float) g_rand_double_range (rand, lo, hi)));
}

/* Fills one block of type with random codes that the quantizer can reproduce exactly: every
 * block (sub-block for the K-quants) holds its extreme codes and the largest scale is the
 * format's full-range one. */
static void
make_representable_block (TailorType type, GRand *rand, guint8 *b)
{
  switch (type)
    {
      case TAILOR_TYPE_Q8_0:
        put_le16 (b, tailor_fp32_to_fp16 (random_half (rand, 0.001, 2.0)));
        for (gint j = 0; j < 32; j++)
          b[2 + j] = (guint8) (gint8) g_rand_int_range (rand, -127, 128);
        b[2 + g_rand_int_range (rand, 0, 32)] =
          (guint8) (gint8) (g_rand_boolean (rand) ? 127 : -127);
        break;
      case TAILOR_TYPE_Q4_0:
      case TAILOR_TYPE_Q5_0:
        {
          const gsize qs = type == TAILOR_TYPE_Q4_0 ? 2 : 6;
          const gint e = g_rand_int_range (rand, 0, 32);

          put_le16 (b, tailor_fp32_to_fp16 (random_half (rand, -2.0, 2.0)));
          for (gsize j = 2; j < qs + 16; j++)
            b[j] = (guint8) g_rand_int_range (rand, 0, 256);
          /* Code 0 (the most negative) on element e makes it the largest magnitude. */
          b[qs + e % 16] &= e < 16 ? 0xf0 : 0x0f;
          if (type == TAILOR_TYPE_Q5_0)
            b[2 + e / 8] &= (guint8) ~(1u << (e % 8));
        }
        break;
      case TAILOR_TYPE_Q4_1:
      case TAILOR_TYPE_Q5_1:
        {
          const gint n_codes = type == TAILOR_TYPE_Q4_1 ? 16 : 32;
          const gint lo = g_rand_int_range (rand, 0, 16),
                     hi = (lo + 1 + g_rand_int_range (rand, 0, 15)) % 16;
          gint codes[32];
          guint32 qh = 0;
          guint8 *qs = b + (type == TAILOR_TYPE_Q4_1 ? 4 : 8);

          /* Power-of-two step and a min on its grid keep max − min exact in float. */
          put_le16 (b, tailor_fp32_to_fp16 (ldexpf (1.0f, -g_rand_int_range (rand, 2, 8))));
          put_le16 (b + 2, tailor_fp32_to_fp16 (-0.25f * g_rand_int_range (rand, 1, 9)));
          for (gint j = 0; j < 32; j++)
            codes[j] = g_rand_int_range (rand, 0, n_codes);
          codes[lo] = 0;
          codes[16 + hi] = n_codes - 1;
          for (gint j = 0; j < 16; j++)
            {
              qs[j] = (guint8) ((codes[j] & 0xf) | ((codes[j + 16] & 0xf) << 4));
              qh |= (guint32) (codes[j] >> 4) << j;
              qh |= (guint32) (codes[j + 16] >> 4) << (j + 16);
            }
          if (type == TAILOR_TYPE_Q5_1)
            {
              b[4] = (guint8) qh;
              b[5] = (guint8) (qh >> 8);
              b[6] = (guint8) (qh >> 16);
              b[7] = (guint8) (qh >> 24);
            }
        }
        break;
      case TAILOR_TYPE_Q4_K:
      case TAILOR_TYPE_Q5_K:
        {
          const gint nmax = type == TAILOR_TYPE_Q4_K ? 15 : 31;
          guint8 sc[8], m[8], L[256];
          guint8 *qs = b + (type == TAILOR_TYPE_Q4_K ? 16 : 48);

          put_le16 (b, tailor_fp32_to_fp16 (random_half (rand, 0.001, 0.1)));
          put_le16 (b + 2, tailor_fp32_to_fp16 (random_half (rand, 0.001, 0.1)));
          for (gint j = 0; j < 8; j++)
            {
              sc[j] = (guint8) g_rand_int_range (rand, 1, 64);
              m[j] = (guint8) g_rand_int_range (rand, 0, 64);
              for (gint l = 0; l < 32; l++)
                L[32 * j + l] = (guint8) g_rand_int_range (rand, 0, nmax + 1);
              L[32 * j + g_rand_int_range (rand, 0, 16)] = 0;
              L[32 * j + 16 + g_rand_int_range (rand, 0, 16)] = (guint8) nmax;
            }
          sc[g_rand_int_range (rand, 0, 8)] = 63;
          m[g_rand_int_range (rand, 0, 8)] = 63;
          memset (b + 4, 0, 12);
          for (gint j = 0; j < 4; j++)
            {
              b[4 + j] = (guint8) (sc[j] | ((sc[j + 4] >> 4) << 6));
              b[8 + j] = (guint8) (m[j] | ((m[j + 4] >> 4) << 6));
              b[12 + j] = (guint8) ((sc[j + 4] & 0xf) | ((m[j + 4] & 0xf) << 4));
            }
          if (type == TAILOR_TYPE_Q5_K)
            memset (b + 16, 0, 32);
          for (gint e = 0; e < 256; e++)
            {
              const gint c = e / 64, r = e % 64, l = r % 32;

              if (r < 32)
                qs[32 * c + l] = (guint8) (L[e] & 0xf);
              else
                qs[32 * c + l] |= (guint8) ((L[e] & 0xf) << 4);
              if (type == TAILOR_TYPE_Q5_K)
                b[16 + l] |= (guint8) ((L[e] >> 4) << (e / 32));
            }
        }
        break;
      case TAILOR_TYPE_Q6_K:
        {
          guint8 L[256];
          gint8 sc[16];

          for (gint j = 0; j < 16; j++)
            {
              sc[j] = (gint8) (g_rand_int_range (rand, 1, 128) * (g_rand_boolean (rand) ? 1 : -1));
              for (gint l = 0; l < 16; l++)
                L[16 * j + l] = (guint8) g_rand_int_range (rand, 0, 64);
              L[16 * j + g_rand_int_range (rand, 0, 16)] = 0;
            }
          sc[g_rand_int_range (rand, 0, 16)] = -128;
          memset (b, 0, 192);
          for (gint e = 0; e < 256; e++)
            {
              const gint h = e / 128, q = (e % 128) / 32, l = e % 32;
              guint8 *ql = b + 64 * h + l + 32 * (q & 1);

              *ql |= (guint8) (q < 2 ? (L[e] & 0xf) : ((L[e] & 0xf) << 4));
              b[128 + 32 * h + l] |= (guint8) ((L[e] >> 4) << (2 * q));
            }
          memcpy (b + 192, sc, 16);
          put_le16 (b + 208, tailor_fp32_to_fp16 (random_half (rand, 0.0005, 0.05)));
        }
        break;
      case TAILOR_TYPE_F32:
      case TAILOR_TYPE_F16:
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
      case TAILOR_TYPE_BF16:
      case TAILOR_TYPE_TQ1_0:
      case TAILOR_TYPE_TQ2_0:
      case TAILOR_TYPE_MXFP4:
      case TAILOR_TYPE_COUNT_:
      default:
        g_assert_not_reached ();
    }
}

static void
test_requantize_reproduces_representable_blocks (void)
{
  static const TailorType types[] = {
    TAILOR_TYPE_Q8_0, TAILOR_TYPE_Q4_0, TAILOR_TYPE_Q5_0, TAILOR_TYPE_Q4_1,
    TAILOR_TYPE_Q5_1, TAILOR_TYPE_Q4_K, TAILOR_TYPE_Q5_K, TAILOR_TYPE_Q6_K,
  };
  g_autoptr (GRand) rand = g_rand_new_with_seed (99);

  for (gsize t = 0; t < G_N_ELEMENTS (types); t++)
    {
      const TailorTypeInfo *info = tailor_type_get_info (types[t]);
      const gint n_blocks = 64;
      const gint64 n = (gint64) n_blocks * info->block_size;
      g_autofree guint8 *q = g_malloc0 (n_blocks * info->type_size);
      g_autofree guint8 *q2 = g_malloc0 (n_blocks * info->type_size);
      g_autofree float *x = g_new (float, n);

      for (gint i = 0; i < n_blocks; i++)
        make_representable_block (types[t], rand, q + i * info->type_size);
      tailor_dequantize_row (types[t], q, x, n);
      tailor_quantize_row (types[t], x, q2, n);
      for (gint i = 0; i < n_blocks; i++)
        {
          if (memcmp (q + i * info->type_size, q2 + i * info->type_size, info->type_size) != 0)
            g_error ("%s block %d does not re-quantize to itself", info->name, i);
        }
    }
}

static void
test_quantize_is_deterministic_and_row_local (void)
{
  static const TailorType types[] = {
    TAILOR_TYPE_F16,  TAILOR_TYPE_BF16, TAILOR_TYPE_Q8_0, TAILOR_TYPE_Q4_0, TAILOR_TYPE_Q4_1,
    TAILOR_TYPE_Q5_0, TAILOR_TYPE_Q5_1, TAILOR_TYPE_Q4_K, TAILOR_TYPE_Q5_K, TAILOR_TYPE_Q6_K,
  };
  const gint64 n = 1024;
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autofree float *x = g_new (float, n);

  fill_rows (rand, x, n, TRUE);
  for (gsize t = 0; t < G_N_ELEMENTS (types); t++)
    {
      const gsize size = tailor_type_row_size (types[t], n);
      const gsize half = tailor_type_row_size (types[t], n / 2);
      g_autofree guint8 *a = g_malloc (size);
      g_autofree guint8 *b = g_malloc (size);
      g_autofree guint8 *c = g_malloc (size);

      memset (a, 0x55, size);
      memset (b, 0xaa, size);
      tailor_quantize_row (types[t], x, a, n);
      tailor_quantize_row (types[t], x, b, n);
      g_assert_cmpmem (a, size, b, size);
      /* Each block depends only on its own values, so rows can be split across threads. */
      tailor_quantize_row (types[t], x, c, n / 2);
      tailor_quantize_row (types[t], x + n / 2, c + half, n / 2);
      g_assert_cmpmem (a, size, c, size);
    }
}

static void
test_quantize_zero_and_constant_rows (void)
{
  static const TailorType types[] = {
    TAILOR_TYPE_Q8_0, TAILOR_TYPE_Q4_0, TAILOR_TYPE_Q4_1, TAILOR_TYPE_Q5_0,
    TAILOR_TYPE_Q5_1, TAILOR_TYPE_Q4_K, TAILOR_TYPE_Q5_K, TAILOR_TYPE_Q6_K,
  };
  float zeros[256] = { 0 }, constant[256], out[256];

  for (gint i = 0; i < 256; i++)
    constant[i] = -0.75f;
  for (gsize t = 0; t < G_N_ELEMENTS (types); t++)
    {
      guint8 q[256 / 32 * 34];

      tailor_quantize_row (types[t], zeros, q, 256);
      tailor_dequantize_row (types[t], q, out, 256);
      for (gint i = 0; i < 256; i++)
        g_assert_cmpfloat (out[i], ==, 0.0f);
      /* A constant block is a code at the extreme: exact up to the fp16 scale. */
      tailor_quantize_row (types[t], constant, q, 256);
      tailor_dequantize_row (types[t], q, out, 256);
      for (gint i = 0; i < 256; i++)
        g_assert_cmpfloat_with_epsilon (out[i], -0.75f, 0.75f * 2e-3f);
    }
}

/* ---- File-type policy ---- */

static void
test_ftype_names (void)
{
  static const struct
  {
    const char *name;
    TailorFileType ftype;
  } names[] = {
    { "f32", TAILOR_FTYPE_ALL_F32 },          { "f16", TAILOR_FTYPE_MOSTLY_F16 },
    { "bf16", TAILOR_FTYPE_MOSTLY_BF16 },     { "q8_0", TAILOR_FTYPE_MOSTLY_Q8_0 },
    { "q4_0", TAILOR_FTYPE_MOSTLY_Q4_0 },     { "q4_1", TAILOR_FTYPE_MOSTLY_Q4_1 },
    { "q5_0", TAILOR_FTYPE_MOSTLY_Q5_0 },     { "q5_1", TAILOR_FTYPE_MOSTLY_Q5_1 },
    { "q4_k_s", TAILOR_FTYPE_MOSTLY_Q4_K_S }, { "q4_k_m", TAILOR_FTYPE_MOSTLY_Q4_K_M },
    { "q5_k_s", TAILOR_FTYPE_MOSTLY_Q5_K_S }, { "q5_k_m", TAILOR_FTYPE_MOSTLY_Q5_K_M },
    { "q6_k", TAILOR_FTYPE_MOSTLY_Q6_K },
  };
  TailorFileType ftype;

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *upper = g_ascii_strup (names[i].name, -1);

      g_assert_cmpstr (tailor_ftype_name (names[i].ftype), ==, names[i].name);
      g_assert_true (tailor_ftype_from_name (upper, &ftype));
      g_assert_cmpint (ftype, ==, names[i].ftype);
    }
  g_assert_cmpint (TAILOR_FTYPE_MOSTLY_Q4_K_M, ==, 15);
  g_assert_false (tailor_ftype_from_name ("q4_k", &ftype));
  g_assert_false (tailor_ftype_from_name ("q3_k_m", &ftype));
  g_assert_cmpstr (tailor_ftype_name ((TailorFileType) 4), ==, "unknown");
}

static TailorType
policy (TailorFileType ftype, const char *name, gint64 ne0, gint layer, guint n_layer)
{
  return tailor_ftype_tensor_type (ftype, name, 2, ne0, layer, n_layer);
}

static void
test_ftype_q4_k_m_policy (void)
{
  /* llama.cpp's use_more_bits for 32 layers: i < 4, i ≥ 28, or (i − 4) mod 3 = 2. */
  static const gint more_bits[] = { 0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31 };
  const TailorFileType q4km = TAILOR_FTYPE_MOSTLY_Q4_K_M;

  for (gint layer = 0; layer < 32; layer++)
    {
      gboolean more = FALSE;
      g_autofree char *v = g_strdup_printf ("blk.%d.attn_v.weight", layer);
      g_autofree char *down = g_strdup_printf ("blk.%d.ffn_down.weight", layer);
      g_autofree char *q = g_strdup_printf ("blk.%d.attn_q.weight", layer);
      g_autofree char *up = g_strdup_printf ("blk.%d.ffn_up.weight", layer);
      g_autofree char *norm = g_strdup_printf ("blk.%d.attn_norm.weight", layer);

      for (gsize i = 0; i < G_N_ELEMENTS (more_bits); i++)
        more = more || more_bits[i] == layer;
      g_assert_cmpint (policy (q4km, v, 4096, layer, 32), ==,
                       more ? TAILOR_TYPE_Q6_K : TAILOR_TYPE_Q4_K);
      g_assert_cmpint (policy (q4km, down, 11008, layer, 32), ==,
                       more ? TAILOR_TYPE_Q6_K : TAILOR_TYPE_Q4_K);
      g_assert_cmpint (policy (q4km, q, 4096, layer, 32), ==, TAILOR_TYPE_Q4_K);
      g_assert_cmpint (policy (q4km, up, 4096, layer, 32), ==, TAILOR_TYPE_Q4_K);
      g_assert_cmpint (tailor_ftype_tensor_type (q4km, norm, 1, 4096, layer, 32), ==,
                       TAILOR_TYPE_F32);
    }

  g_assert_cmpint (policy (q4km, "output.weight", 4096, -1, 32), ==, TAILOR_TYPE_Q6_K);
  g_assert_cmpint (policy (q4km, "token_embd.weight", 4096, -1, 32), ==, TAILOR_TYPE_Q4_K);
  g_assert_cmpint (tailor_ftype_tensor_type (q4km, "output_norm.weight", 1, 4096, -1, 32), ==,
                   TAILOR_TYPE_F32);
  g_assert_cmpint (tailor_ftype_tensor_type (q4km, "blk.0.attn_q.bias", 1, 4096, 0, 32), ==,
                   TAILOR_TYPE_F32);
  g_assert_cmpint (tailor_ftype_tensor_type (q4km, "rope_freqs.weight", 1, 64, -1, 32), ==,
                   TAILOR_TYPE_F32);

  /* Qwen2-0.5B shapes: n_embd 896 is not a multiple of 256. Its 24 layers: i < 3, i ≥ 21,
   * (i − 3) mod 3 = 2. */
  g_assert_cmpint (policy (q4km, "blk.5.ffn_up.weight", 896, 5, 24), ==, TAILOR_TYPE_Q5_0);
  g_assert_cmpint (policy (q4km, "blk.5.attn_q.weight", 896, 5, 24), ==, TAILOR_TYPE_Q5_0);
  g_assert_cmpint (policy (q4km, "blk.4.attn_v.weight", 896, 4, 24), ==, TAILOR_TYPE_Q5_0);
  g_assert_cmpint (policy (q4km, "blk.5.attn_v.weight", 896, 5, 24), ==, TAILOR_TYPE_Q8_0);
  g_assert_cmpint (policy (q4km, "blk.5.ffn_down.weight", 4864, 5, 24), ==, TAILOR_TYPE_Q6_K);
  g_assert_cmpint (policy (q4km, "blk.4.ffn_down.weight", 4864, 4, 24), ==, TAILOR_TYPE_Q4_K);
  g_assert_cmpint (policy (q4km, "output.weight", 896, -1, 24), ==, TAILOR_TYPE_Q8_0);
  g_assert_cmpint (policy (q4km, "token_embd.weight", 896, -1, 24), ==, TAILOR_TYPE_Q5_0);
  /* Tied embeddings: token_embd is also the output, and gets the output's type. */
  g_assert_cmpint (tailor_ftype_tensor_type_full (q4km, "token_embd.weight", 2, 896, -1, 24, TRUE),
                   ==, TAILOR_TYPE_Q8_0);
  g_assert_cmpint (tailor_ftype_tensor_type_full (q4km, "token_embd.weight", 2, 4096, -1, 32, TRUE),
                   ==, TAILOR_TYPE_Q6_K);
  /* Rows that fit no 32-element block fall back to F16. */
  g_assert_cmpint (policy (q4km, "blk.0.attn_q.weight", 48, 0, 24), ==, TAILOR_TYPE_F16);
}

static void
test_ftype_other_policies (void)
{
  /* Q4_K_S: more bits only for the first attn_v layers and first eighth of ffn_down. */
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q4_K_S, "blk.3.attn_v.weight", 4096, 3, 32), ==,
                   TAILOR_TYPE_Q5_K);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q4_K_S, "blk.4.attn_v.weight", 4096, 4, 32), ==,
                   TAILOR_TYPE_Q4_K);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q4_K_S, "blk.3.ffn_down.weight", 4096, 3, 32), ==,
                   TAILOR_TYPE_Q5_K);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q4_K_S, "blk.31.ffn_down.weight", 4096, 31, 32), ==,
                   TAILOR_TYPE_Q4_K);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q4_K_S, "output.weight", 4096, -1, 32), ==,
                   TAILOR_TYPE_Q6_K);
  /* Q5_K_M: Q5_K, Q6_K on the same layers as Q4_K_M; Q5_K falls back to Q5_1. */
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q5_K_M, "blk.6.attn_v.weight", 4096, 6, 32), ==,
                   TAILOR_TYPE_Q6_K);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q5_K_M, "blk.7.attn_v.weight", 4096, 7, 32), ==,
                   TAILOR_TYPE_Q5_K);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q5_K_M, "blk.7.ffn_up.weight", 896, 7, 24), ==,
                   TAILOR_TYPE_Q5_1);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q5_K_S, "blk.6.attn_v.weight", 4096, 6, 32), ==,
                   TAILOR_TYPE_Q5_K);
  /* Q6_K everywhere; Q8_0 where 256 does not divide the row. */
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q6_K, "blk.1.attn_q.weight", 4096, 1, 32), ==,
                   TAILOR_TYPE_Q6_K);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q6_K, "blk.1.attn_q.weight", 896, 1, 24), ==,
                   TAILOR_TYPE_Q8_0);
  /* The legacy types keep their type, but llama.cpp still gives the output Q6_K. */
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q4_0, "blk.1.ffn_down.weight", 896, 1, 24), ==,
                   TAILOR_TYPE_Q4_0);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q4_0, "output.weight", 4096, -1, 32), ==,
                   TAILOR_TYPE_Q6_K);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q4_0, "output.weight", 896, -1, 24), ==,
                   TAILOR_TYPE_Q8_0);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q5_1, "blk.1.attn_v.weight", 896, 1, 24), ==,
                   TAILOR_TYPE_Q5_1);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q8_0, "output.weight", 896, -1, 24), ==,
                   TAILOR_TYPE_Q8_0);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_Q8_0, "blk.0.attn_v.weight", 896, 0, 24), ==,
                   TAILOR_TYPE_Q8_0);
  /* Float file types: every matrix in that type, 1-D tensors F32. */
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_F16, "output.weight", 896, -1, 24), ==,
                   TAILOR_TYPE_F16);
  g_assert_cmpint (policy (TAILOR_FTYPE_MOSTLY_BF16, "blk.0.attn_v.weight", 896, 0, 24), ==,
                   TAILOR_TYPE_BF16);
  g_assert_cmpint (policy (TAILOR_FTYPE_ALL_F32, "token_embd.weight", 896, -1, 24), ==,
                   TAILOR_TYPE_F32);
  g_assert_cmpint (
    tailor_ftype_tensor_type (TAILOR_FTYPE_MOSTLY_F16, "output_norm.weight", 1, 896, -1, 24), ==,
    TAILOR_TYPE_F32);
}

/* ---- Whole models ---- */

typedef struct
{
  const char *name;
  guint n_dims;
  gint64 ne0, ne1;
} FixtureTensor;

/* A llama-shaped F32 model of 8 layers with Gaussian weights (σ 0.02). Row lengths: 256 for
 * most, 512 for ffn_down, 96 for ffn_gate (no 256 block fits: the fallback path). */
static char *
write_f32_model (const char *dir, const char *file, gboolean with_output, GHashTable *values)
{
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (2024);
  g_autoptr (GPtrArray) tensors = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (dir, file, NULL);
  static const char *const tokens[] = { "<s>", "</s>", "hello" };

  tailor_gguf_writer_set_string (w, "general.architecture", "llama");
  tailor_gguf_writer_set_string (w, "general.name", "quant fixture");
  tailor_gguf_writer_set_u32 (w, "llama.block_count", 8);
  tailor_gguf_writer_set_u32 (w, "general.file_type", TAILOR_FTYPE_ALL_F32);
  tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.tokens", tokens, G_N_ELEMENTS (tokens));
  tailor_gguf_writer_set_f32 (w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);

  g_ptr_array_add (tensors, g_memdup2 (&(FixtureTensor){ "token_embd.weight", 2, 256, 48 },
                                       sizeof (FixtureTensor)));
  for (gint l = 0; l < 8; l++)
    {
      static const FixtureTensor per_layer[] = {
        { "attn_norm.weight", 1, 256, 1 }, { "attn_q.weight", 2, 256, 32 },
        { "attn_v.weight", 2, 256, 16 },   { "ffn_gate.weight", 2, 96, 16 },
        { "ffn_down.weight", 2, 512, 16 },
      };

      for (gsize i = 0; i < G_N_ELEMENTS (per_layer); i++)
        {
          FixtureTensor *t = g_memdup2 (&per_layer[i], sizeof (FixtureTensor));
          g_autofree char *name = g_strdup_printf ("blk.%d.%s", l, per_layer[i].name);

          t->name = g_intern_string (name);
          g_ptr_array_add (tensors, t);
        }
    }
  g_ptr_array_add (tensors, g_memdup2 (&(FixtureTensor){ "output_norm.weight", 1, 256, 1 },
                                       sizeof (FixtureTensor)));
  if (with_output)
    g_ptr_array_add (
      tensors, g_memdup2 (&(FixtureTensor){ "output.weight", 2, 256, 48 }, sizeof (FixtureTensor)));

  for (guint i = 0; i < tensors->len; i++)
    {
      const FixtureTensor *t = g_ptr_array_index (tensors, i);
      const gint64 n = t->ne0 * t->ne1;
      const gint64 ne[2] = { t->ne0, t->ne1 };
      float *x = g_new (float, n);
      g_autoptr (GBytes) bytes = NULL;

      for (gint64 j = 0; j < n; j++)
        x[j] = t->n_dims == 1 ? 1.0f + 0.1f * gaussian (rand) : 0.02f * gaussian (rand);
      bytes = g_bytes_new_take (x, (gsize) n * sizeof (float));
      g_hash_table_insert (values, g_strdup (t->name), g_bytes_ref (bytes));
      g_assert_true (
        tailor_gguf_writer_add_tensor (w, t->name, TAILOR_TYPE_F32, t->n_dims, ne, bytes, &error));
      g_assert_no_error (error);
    }

  g_assert_true (tailor_gguf_writer_write (w, path, &error));
  g_assert_no_error (error);
  return path;
}

static void
remove_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_remove (path);
    }
  g_rmdir (dir);
}

/* Checks every tensor of out_path against the policy and the original values. */
static void
check_quantized_model (
  const char *out_path, TailorFileType ftype, gboolean tied, GHashTable *values, guint n_kv_in)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) out = tailor_gguf_open (out_path, &error);
  guint32 file_type = 0, block_count = 0;

  g_assert_no_error (error);
  g_assert_true (tailor_gguf_get_u32 (out, "general.file_type", &file_type, &error));
  g_assert_cmpuint (file_type, ==, ftype);
  g_assert_true (tailor_gguf_get_u32 (out, "llama.block_count", &block_count, &error));
  g_assert_cmpuint (block_count, ==, 8);
  g_assert_cmpstr (tailor_gguf_get_string (out, "general.name", &error), ==, "quant fixture");
  g_assert_cmpuint (
    tailor_gguf_get_arr_n (out, tailor_gguf_find_key (out, "tokenizer.ggml.tokens")), ==, 3);
  g_assert_cmpstr (
    tailor_gguf_get_arr_str (out, tailor_gguf_find_key (out, "tokenizer.ggml.tokens"), 2, NULL), ==,
    "hello");
  /* Every input key plus general.quantization_version. */
  g_assert_cmpuint (tailor_gguf_get_n_kv (out), ==, n_kv_in + 1);
  g_assert_cmpuint (tailor_gguf_get_n_tensors (out), ==, g_hash_table_size (values));

  for (guint i = 0; i < tailor_gguf_get_n_tensors (out); i++)
    {
      const TailorGgufTensor *t = tailor_gguf_get_tensor (out, i);
      GBytes *orig = g_hash_table_lookup (values, t->name);
      const float *x = g_bytes_get_data (orig, NULL);
      gint layer = -1;
      TailorType want;
      g_autofree float *y = g_new (float, t->n_elements);
      double err = 0, norm = 0;

      g_assert_nonnull (orig);
      g_assert_cmpint (t->n_elements, ==, (gint64) (g_bytes_get_size (orig) / sizeof (float)));
      if (g_str_has_prefix (t->name, "blk."))
        layer = atoi (t->name + 4);
      want = tailor_ftype_tensor_type_full (ftype, t->name, t->n_dims, t->ne[0], layer, 8, tied);
      if (t->type != want)
        g_error ("%s: type %s, policy says %s", t->name, tailor_type_name (t->type),
                 tailor_type_name (want));

      tailor_dequantize_row (t->type, t->data, y, t->n_elements);
      for (gint64 j = 0; j < t->n_elements; j++)
        {
          err += ((double) y[j] - x[j]) * ((double) y[j] - x[j]);
          norm += (double) x[j] * x[j];
        }
      if (sqrt (err / norm) > bound_for (t->type)->gaussian_bound)
        g_error ("%s (%s): relative RMSE %.4f over the bound", t->name, tailor_type_name (t->type),
                 sqrt (err / norm));
    }
}

static void
test_quantize_model_q4_k_m (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("tailor-quant-XXXXXX", &error);
  g_autoptr (GHashTable) values =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  g_autofree char *in = NULL;
  g_autofree char *out = NULL;
  g_autoptr (TailorGguf) model_in = NULL;
  g_autoptr (TailorGguf) model_out = NULL;
  static const char *const more_bits[] = { "blk.0.", "blk.3.", "blk.6.", "blk.7.", NULL };

  g_assert_no_error (error);
  in = write_f32_model (dir, "in.gguf", TRUE, values);
  out = g_build_filename (dir, "out-q4_k_m.gguf", NULL);
  model_in = tailor_gguf_open (in, &error);
  g_assert_no_error (error);

  g_assert_true (tailor_quantize_model (in, out, TAILOR_FTYPE_MOSTLY_Q4_K_M, &error));
  g_assert_no_error (error);
  check_quantized_model (out, TAILOR_FTYPE_MOSTLY_Q4_K_M, FALSE, values,
                         tailor_gguf_get_n_kv (model_in));

  /* Spelled out for 8 layers (use-more-bits layers 0, 3, 6, 7), independent of the policy. */
  model_out = tailor_gguf_open (out, &error);
  g_assert_no_error (error);
  g_assert_cmpint (tailor_gguf_find_tensor (model_out, "output.weight")->type, ==,
                   TAILOR_TYPE_Q6_K);
  g_assert_cmpint (tailor_gguf_find_tensor (model_out, "token_embd.weight")->type, ==,
                   TAILOR_TYPE_Q4_K);
  g_assert_cmpint (tailor_gguf_find_tensor (model_out, "output_norm.weight")->type, ==,
                   TAILOR_TYPE_F32);
  for (gint l = 0; l < 8; l++)
    {
      g_autofree char *v = g_strdup_printf ("blk.%d.attn_v.weight", l);
      g_autofree char *down = g_strdup_printf ("blk.%d.ffn_down.weight", l);
      g_autofree char *gate = g_strdup_printf ("blk.%d.ffn_gate.weight", l);
      g_autofree char *q = g_strdup_printf ("blk.%d.attn_q.weight", l);
      g_autofree char *prefix = g_strdup_printf ("blk.%d.", l);
      gboolean more = g_strv_contains (more_bits, prefix);

      g_assert_cmpint (tailor_gguf_find_tensor (model_out, v)->type, ==,
                       more ? TAILOR_TYPE_Q6_K : TAILOR_TYPE_Q4_K);
      g_assert_cmpint (tailor_gguf_find_tensor (model_out, down)->type, ==,
                       more ? TAILOR_TYPE_Q6_K : TAILOR_TYPE_Q4_K);
      g_assert_cmpint (tailor_gguf_find_tensor (model_out, q)->type, ==, TAILOR_TYPE_Q4_K);
      g_assert_cmpint (tailor_gguf_find_tensor (model_out, gate)->type, ==, TAILOR_TYPE_Q5_0);
    }

  remove_dir (dir);
}

static void
test_quantize_model_tied_and_float_types (void)
{
  static const TailorFileType ftypes[] = {
    TAILOR_FTYPE_MOSTLY_Q8_0, TAILOR_FTYPE_MOSTLY_Q6_K, TAILOR_FTYPE_MOSTLY_Q5_K_M,
    TAILOR_FTYPE_MOSTLY_Q4_0, TAILOR_FTYPE_MOSTLY_F16,  TAILOR_FTYPE_MOSTLY_BF16,
  };
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("tailor-quant-XXXXXX", &error);
  g_autoptr (GHashTable) values =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  g_autofree char *in = NULL;
  g_autoptr (TailorGguf) model_in = NULL;

  g_assert_no_error (error);
  in = write_f32_model (dir, "tied.gguf", FALSE, values);
  model_in = tailor_gguf_open (in, &error);
  g_assert_no_error (error);

  for (gsize i = 0; i < G_N_ELEMENTS (ftypes); i++)
    {
      g_autofree char *file = g_strdup_printf ("out-%s.gguf", tailor_ftype_name (ftypes[i]));
      g_autofree char *out = g_build_filename (dir, file, NULL);
      g_autoptr (TailorGguf) model_out = NULL;

      g_assert_true (tailor_quantize_model (in, out, ftypes[i], &error));
      g_assert_no_error (error);
      check_quantized_model (out, ftypes[i], TRUE, values, tailor_gguf_get_n_kv (model_in));
      model_out = tailor_gguf_open (out, &error);
      g_assert_no_error (error);
      /* With no output.weight, token_embd is the output matrix: Q6_K in the quantized mixes. */
      if (ftypes[i] == TAILOR_FTYPE_MOSTLY_Q6_K || ftypes[i] == TAILOR_FTYPE_MOSTLY_Q5_K_M ||
          ftypes[i] == TAILOR_FTYPE_MOSTLY_Q4_0)
        g_assert_cmpint (tailor_gguf_find_tensor (model_out, "token_embd.weight")->type, ==,
                         TAILOR_TYPE_Q6_K);
    }

  remove_dir (dir);
}

static void
test_quantize_model_requantizes_quantized_input (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("tailor-quant-XXXXXX", &error);
  g_autoptr (GHashTable) values =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  g_autofree char *in = NULL;
  g_autofree char *q8 = NULL;
  g_autofree char *q4 = NULL;

  g_assert_no_error (error);
  in = write_f32_model (dir, "in.gguf", TRUE, values);
  q8 = g_build_filename (dir, "q8.gguf", NULL);
  q4 = g_build_filename (dir, "q4.gguf", NULL);
  g_assert_true (tailor_quantize_model (in, q8, TAILOR_FTYPE_MOSTLY_Q8_0, &error));
  g_assert_no_error (error);
  /* Q8_0 → Q4_K_M goes through F32; the Q8_0 noise (0.5 %) hides inside the Q4_K bounds. */
  g_assert_true (tailor_quantize_model (q8, q4, TAILOR_FTYPE_MOSTLY_Q4_K_M, &error));
  g_assert_no_error (error);
  {
    g_autoptr (TailorGguf) model_in = tailor_gguf_open (in, &error);

    g_assert_no_error (error);
    check_quantized_model (q4, TAILOR_FTYPE_MOSTLY_Q4_K_M, FALSE, values,
                           tailor_gguf_get_n_kv (model_in));
  }

  remove_dir (dir);
}

static void
test_quantize_model_rejects_unconvertible_types (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("tailor-quant-XXXXXX", &error);
  g_autofree char *in = g_build_filename (dir, "q2k.gguf", NULL);
  g_autofree char *out = g_build_filename (dir, "out.gguf", NULL);
  g_autofree char *bad = g_build_filename (dir, "missing.gguf", NULL);
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  const gint64 ne[2] = { 256, 4 };
  g_autoptr (GBytes) bytes = g_bytes_new_take (g_malloc0 (4 * 84), 4 * 84);

  g_assert_no_error (error);
  tailor_gguf_writer_set_string (w, "general.architecture", "llama");
  g_assert_true (tailor_gguf_writer_add_tensor (w, "blk.0.attn_q.weight", TAILOR_TYPE_Q2_K, 2, ne,
                                                bytes, &error));
  g_assert_true (tailor_gguf_writer_write (w, in, &error));
  g_assert_no_error (error);

  g_assert_false (tailor_quantize_model (in, out, TAILOR_FTYPE_MOSTLY_Q4_K_M, &error));
  g_assert_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "blk.0.attn_q.weight"));
  g_assert_nonnull (strstr (error->message, "Q2_K"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  g_assert_false (tailor_quantize_model (bad, out, TAILOR_FTYPE_MOSTLY_Q8_0, &error));
  g_assert_nonnull (error);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));

  remove_dir (dir);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/quant/type-table-matches-ggml", test_type_table_matches_ggml);
  g_test_add_func ("/quant/type-unknown-ids-have-no-info", test_type_unknown_ids);
  g_test_add_func ("/quant/row-size-checks-blocks-and-overflow",
                   test_type_row_size_checks_blocks_and_overflow);
  g_test_add_func ("/quant/fp16-rounds-to-nearest-even", test_fp16_rounds_to_nearest_even);
  g_test_add_func ("/quant/fp16-max-and-infinity", test_fp16_max_and_infinity);
  g_test_add_func ("/quant/fp16-nan-stays-nan", test_fp16_nan_stays_nan);
  g_test_add_func ("/quant/fp16-subnormals-and-signed-zero", test_fp16_subnormals_and_signed_zero);
  g_test_add_func ("/quant/fp16-round-trips-every-half", test_fp16_round_trips_every_half);
  g_test_add_func ("/quant/bf16-rounds-to-nearest-even", test_bf16_rounds_to_nearest_even);
  g_test_add_func ("/quant/dequantize/float-rows", test_dequantize_float_rows);
  g_test_add_func ("/quant/dequantize/q4_0-block", test_dequantize_q4_0_block);
  g_test_add_func ("/quant/dequantize/q4_1-block", test_dequantize_q4_1_block);
  g_test_add_func ("/quant/dequantize/q5_0-block-high-bits", test_dequantize_q5_0_block);
  g_test_add_func ("/quant/dequantize/q5_1-block-high-bits", test_dequantize_q5_1_block);
  g_test_add_func ("/quant/dequantize/q8_0-block", test_dequantize_q8_0_block);
  g_test_add_func ("/quant/dequantize/q4_k-block-packed-scales", test_dequantize_q4_k_block);
  g_test_add_func ("/quant/dequantize/q5_k-block-high-bits", test_dequantize_q5_k_block);
  g_test_add_func ("/quant/dequantize/q6_k-block-quarters", test_dequantize_q6_k_block);
  g_test_add_func ("/quant/round-trip-error-within-bounds", test_round_trip_error_bounds);
  g_test_add_func ("/quant/requantize-reproduces-representable-blocks",
                   test_requantize_reproduces_representable_blocks);
  g_test_add_func ("/quant/quantize-is-deterministic-and-row-local",
                   test_quantize_is_deterministic_and_row_local);
  g_test_add_func ("/quant/quantize-zero-and-constant-rows", test_quantize_zero_and_constant_rows);
  g_test_add_func ("/quant/ftype/names", test_ftype_names);
  g_test_add_func ("/quant/ftype/q4_k_m-policy", test_ftype_q4_k_m_policy);
  g_test_add_func ("/quant/ftype/other-policies", test_ftype_other_policies);
  g_test_add_func ("/quant/model/q4_k_m-types-and-values", test_quantize_model_q4_k_m);
  g_test_add_func ("/quant/model/tied-embeddings-and-other-ftypes",
                   test_quantize_model_tied_and_float_types);
  g_test_add_func ("/quant/model/requantizes-quantized-input",
                   test_quantize_model_requantizes_quantized_input);
  g_test_add_func ("/quant/model/rejects-unconvertible-types",
                   test_quantize_model_rejects_unconvertible_types);

  return g_test_run ();
}
