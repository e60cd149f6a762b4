/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ggml tensor types and their block formats: sizes, CPU dequantization and quantization. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Values are ggml's on-disk type ids (FORMATS.md). */
typedef enum {
  TAILOR_TYPE_F32 = 0,
  TAILOR_TYPE_F16 = 1,
  TAILOR_TYPE_Q4_0 = 2,
  TAILOR_TYPE_Q4_1 = 3,
  TAILOR_TYPE_Q5_0 = 6,
  TAILOR_TYPE_Q5_1 = 7,
  TAILOR_TYPE_Q8_0 = 8,
  TAILOR_TYPE_Q8_1 = 9,
  TAILOR_TYPE_Q2_K = 10,
  TAILOR_TYPE_Q3_K = 11,
  TAILOR_TYPE_Q4_K = 12,
  TAILOR_TYPE_Q5_K = 13,
  TAILOR_TYPE_Q6_K = 14,
  TAILOR_TYPE_Q8_K = 15,
  TAILOR_TYPE_IQ2_XXS = 16,
  TAILOR_TYPE_IQ2_XS = 17,
  TAILOR_TYPE_IQ3_XXS = 18,
  TAILOR_TYPE_IQ1_S = 19,
  TAILOR_TYPE_IQ4_NL = 20,
  TAILOR_TYPE_IQ3_S = 21,
  TAILOR_TYPE_IQ2_S = 22,
  TAILOR_TYPE_IQ4_XS = 23,
  TAILOR_TYPE_I8 = 24,
  TAILOR_TYPE_I16 = 25,
  TAILOR_TYPE_I32 = 26,
  TAILOR_TYPE_I64 = 27,
  TAILOR_TYPE_F64 = 28,
  TAILOR_TYPE_IQ1_M = 29,
  TAILOR_TYPE_BF16 = 30,
  TAILOR_TYPE_TQ1_0 = 34,
  TAILOR_TYPE_TQ2_0 = 35,
  TAILOR_TYPE_MXFP4 = 39,
  TAILOR_TYPE_COUNT_ = 40, /* one past the largest id; not a type */
} TailorType;

typedef struct {
  const char *name;       /* "Q4_K", as llama.cpp prints it */
  guint block_size;       /* elements per block */
  gsize type_size;        /* bytes per block */
  gboolean can_dequantize; /* tailor_dequantize_row() supports it */
  gboolean can_quantize;   /* tailor_quantize_row() supports it */
} TailorTypeInfo;

/* NULL for an id that is not a ggml type (or a removed one such as 4 and 5). */
const TailorTypeInfo *tailor_type_get_info (TailorType type);
const char *tailor_type_name (TailorType type); /* "unknown" for unknown ids */
/* Case-insensitive ("q4_k", "Q8_0", "bf16"). */
gboolean tailor_type_from_name (const char *name, TailorType *out_type);

/* Bytes taken by a row of n elements; 0 if n is not a multiple of the block size
 * or the type is unknown. */
gsize tailor_type_row_size (TailorType type, gint64 n);

/* n must be a multiple of the type's block size. */
void tailor_dequantize_row (TailorType type, const void *src, float *dst, gint64 n);
void tailor_quantize_row (TailorType type, const float *src, void *dst, gint64 n);

float tailor_fp16_to_fp32 (guint16 h);
guint16 tailor_fp32_to_fp16 (float f); /* round to nearest even */
float tailor_bf16_to_fp32 (guint16 h);
guint16 tailor_fp32_to_bf16 (float f); /* round to nearest even, NaN kept quiet */

G_END_DECLS
