/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Whole-model quantization policies: which ggml type each tensor gets for a file type. */
#pragma once

#include "tailor-gguf.h"

G_BEGIN_DECLS

/* Values are llama.cpp's general.file_type (llama_ftype). */
typedef enum {
  TAILOR_FTYPE_ALL_F32 = 0,
  TAILOR_FTYPE_MOSTLY_F16 = 1,
  TAILOR_FTYPE_MOSTLY_Q4_0 = 2,
  TAILOR_FTYPE_MOSTLY_Q4_1 = 3,
  TAILOR_FTYPE_MOSTLY_Q8_0 = 7,
  TAILOR_FTYPE_MOSTLY_Q5_0 = 8,
  TAILOR_FTYPE_MOSTLY_Q5_1 = 9,
  TAILOR_FTYPE_MOSTLY_Q4_K_S = 14,
  TAILOR_FTYPE_MOSTLY_Q4_K_M = 15,
  TAILOR_FTYPE_MOSTLY_Q5_K_S = 16,
  TAILOR_FTYPE_MOSTLY_Q5_K_M = 17,
  TAILOR_FTYPE_MOSTLY_Q6_K = 18,
  TAILOR_FTYPE_MOSTLY_BF16 = 32,
} TailorFileType;

const char *tailor_ftype_name (TailorFileType ftype);          /* "q4_k_m" */
gboolean tailor_ftype_from_name (const char *name, TailorFileType *out); /* case-insensitive */

/* The type a tensor gets under ftype. 1-D tensors (norms, biases) stay F32. When ne0 is not
 * a multiple of the chosen type's block size, falls back as llama.cpp does
 * (Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0, else F16). layer is the block index (-1 if none). */
TailorType tailor_ftype_tensor_type (TailorFileType ftype, const char *tensor_name, guint n_dims,
                                     gint64 ne0, gint layer, guint n_layer);
/* As tailor_ftype_tensor_type (which assumes a separate output.weight); with tied_embeddings
 * (the model has no output.weight) token_embd.weight gets the output's type, as llama.cpp
 * gives it. */
TailorType tailor_ftype_tensor_type_full (TailorFileType ftype, const char *tensor_name,
                                          guint n_dims, gint64 ne0, gint layer, guint n_layer,
                                          gboolean tied_embeddings);

/* Re-encodes an F32/F16/BF16 (or any dequantizable) model into ftype, copying every key
 * (general.file_type updated). Writes atomically. */
gboolean tailor_quantize_model (const char *in_path, const char *out_path, TailorFileType ftype,
                                GError **error);

G_END_DECLS
