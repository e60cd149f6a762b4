/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Whole-model quantization: llama.cpp's per-tensor type policy and the GGUF re-encoder. */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tailor-parallel.h"
#include "tailor-quantize-model.h"

/* llama.cpp's GGML_QNT_VERSION, written as general.quantization_version. */
#define QUANTIZATION_VERSION 2

typedef struct
{
  TailorFileType ftype;
  const char *name;
  TailorType default_type;
} FtypeInfo;

static const FtypeInfo ftype_infos[] = {
  { TAILOR_FTYPE_ALL_F32, "f32", TAILOR_TYPE_F32 },
  { TAILOR_FTYPE_MOSTLY_F16, "f16", TAILOR_TYPE_F16 },
  { TAILOR_FTYPE_MOSTLY_BF16, "bf16", TAILOR_TYPE_BF16 },
  { TAILOR_FTYPE_MOSTLY_Q8_0, "q8_0", TAILOR_TYPE_Q8_0 },
  { TAILOR_FTYPE_MOSTLY_Q4_0, "q4_0", TAILOR_TYPE_Q4_0 },
  { TAILOR_FTYPE_MOSTLY_Q4_1, "q4_1", TAILOR_TYPE_Q4_1 },
  { TAILOR_FTYPE_MOSTLY_Q5_0, "q5_0", TAILOR_TYPE_Q5_0 },
  { TAILOR_FTYPE_MOSTLY_Q5_1, "q5_1", TAILOR_TYPE_Q5_1 },
  { TAILOR_FTYPE_MOSTLY_Q4_K_S, "q4_k_s", TAILOR_TYPE_Q4_K },
  { TAILOR_FTYPE_MOSTLY_Q4_K_M, "q4_k_m", TAILOR_TYPE_Q4_K },
  { TAILOR_FTYPE_MOSTLY_Q5_K_S, "q5_k_s", TAILOR_TYPE_Q5_K },
  { TAILOR_FTYPE_MOSTLY_Q5_K_M, "q5_k_m", TAILOR_TYPE_Q5_K },
  { TAILOR_FTYPE_MOSTLY_Q6_K, "q6_k", TAILOR_TYPE_Q6_K },
};

static const FtypeInfo *
ftype_get_info (TailorFileType ftype)
{
  for (gsize i = 0; i < G_N_ELEMENTS (ftype_infos); i++)
    if (ftype_infos[i].ftype == ftype)
      return &ftype_infos[i];
  return NULL;
}

const char *
tailor_ftype_name (TailorFileType ftype)
{
  const FtypeInfo *info = ftype_get_info (ftype);

  return info != NULL ? info->name : "unknown";
}

gboolean
tailor_ftype_from_name (const char *name, TailorFileType *out)
{
  g_return_val_if_fail (name != NULL, FALSE);

  for (gsize i = 0; i < G_N_ELEMENTS (ftype_infos); i++)
    {
      if (g_ascii_strcasecmp (ftype_infos[i].name, name) == 0)
        {
          if (out != NULL)
            *out = ftype_infos[i].ftype;
          return TRUE;
        }
    }
  return FALSE;
}

static gboolean
is_block_quantized (TailorType type)
{
  return type != TAILOR_TYPE_F32 && type != TAILOR_TYPE_F16 && type != TAILOR_TYPE_BF16;
}

/* llama.cpp quantizes only weight matrices: 2-D or more, named "*weight", not a norm and not
 * an expert router. */
static gboolean
tensor_allows_quantization (const char *name, guint n_dims)
{
  return n_dims >= 2 && g_str_has_suffix (name, "weight") &&
         strstr (name, "_norm.weight") == NULL && strstr (name, "ffn_gate_inp.weight") == NULL;
}

/* llama.cpp's choice of layers that get more bits in the _M mixes: the first and last eighth
 * and every third layer in between. */
static gboolean
use_more_bits (gint layer, gint n_layer)
{
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

/* Where ne0 does not fit the block size, llama.cpp substitutes a 32-element type of similar
 * size, or F16 when even that does not fit. */
static TailorType
fallback_type (TailorType type, gint64 ne0)
{
  const TailorTypeInfo *info = tailor_type_get_info (type);

  if (ne0 % info->block_size == 0)
    return type;
  switch (type)
    {
      case TAILOR_TYPE_Q4_K:
        type = TAILOR_TYPE_Q5_0;
        break;
      case TAILOR_TYPE_Q5_K:
        type = TAILOR_TYPE_Q5_1;
        break;
      case TAILOR_TYPE_Q6_K:
        type = TAILOR_TYPE_Q8_0;
        break;
      case TAILOR_TYPE_F32:
      case TAILOR_TYPE_F16:
      case TAILOR_TYPE_Q4_0:
      case TAILOR_TYPE_Q4_1:
      case TAILOR_TYPE_Q5_0:
      case TAILOR_TYPE_Q5_1:
      case TAILOR_TYPE_Q8_0:
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
        return TAILOR_TYPE_F16;
    }
  if (ne0 % tailor_type_get_info (type)->block_size != 0)
    return TAILOR_TYPE_F16;
  return type;
}

TailorType
tailor_ftype_tensor_type_full (TailorFileType ftype,
                               const char *tensor_name,
                               guint n_dims,
                               gint64 ne0,
                               gint layer,
                               guint n_layer,
                               gboolean tied_embeddings)
{
  const FtypeInfo *info = ftype_get_info (ftype);
  const gint nl = (gint) n_layer;
  gboolean is_output, is_token_embd;
  TailorType type;

  g_return_val_if_fail (info != NULL, TAILOR_TYPE_F32);
  g_return_val_if_fail (tensor_name != NULL, TAILOR_TYPE_F32);

  if (!tensor_allows_quantization (tensor_name, n_dims))
    return TAILOR_TYPE_F32;
  type = info->default_type;
  if (!is_block_quantized (type))
    return type;

  is_output = strcmp (tensor_name, "output.weight") == 0;
  is_token_embd = strcmp (tensor_name, "token_embd.weight") == 0;

  if (is_output || (tied_embeddings && is_token_embd))
    {
      /* The output projection is the most sensitive matrix; a tied embedding is that matrix. */
      if (ne0 % tailor_type_get_info (type)->block_size != 0)
        type = TAILOR_TYPE_Q8_0;
      else if (type != TAILOR_TYPE_Q8_0)
        type = TAILOR_TYPE_Q6_K;
    }
  else if (strstr (tensor_name, "attn_qkv.weight") != NULL ||
           strstr (tensor_name, "attn_kv_b.weight") != NULL ||
           strstr (tensor_name, "attn_v.weight") != NULL)
    {
      if ((ftype == TAILOR_FTYPE_MOSTLY_Q4_K_M || ftype == TAILOR_FTYPE_MOSTLY_Q5_K_M) &&
          use_more_bits (layer, nl))
        type = TAILOR_TYPE_Q6_K;
      else if (ftype == TAILOR_FTYPE_MOSTLY_Q4_K_S && layer < 4)
        type = TAILOR_TYPE_Q5_K;
    }
  else if (strstr (tensor_name, "ffn_down") != NULL)
    {
      if ((ftype == TAILOR_FTYPE_MOSTLY_Q4_K_M || ftype == TAILOR_FTYPE_MOSTLY_Q5_K_M) &&
          use_more_bits (layer, nl))
        type = TAILOR_TYPE_Q6_K;
      else if (ftype == TAILOR_FTYPE_MOSTLY_Q4_K_S && layer < nl / 8)
        type = TAILOR_TYPE_Q5_K;
    }

  return fallback_type (type, ne0);
}

TailorType
tailor_ftype_tensor_type (TailorFileType ftype,
                          const char *tensor_name,
                          guint n_dims,
                          gint64 ne0,
                          gint layer,
                          guint n_layer)
{
  return tailor_ftype_tensor_type_full (ftype, tensor_name, n_dims, ne0, layer, n_layer, FALSE);
}

/* ---- Re-encoding ---- */

static gint
layer_of (const char *tensor_name)
{
  gint layer = -1;

  if (sscanf (tensor_name, "blk.%d.", &layer) != 1)
    return -1;
  return layer;
}

typedef struct
{
  const TailorGgufTensor *src;
  TailorType dst_type;
  guint8 *dst;
  gsize src_row_size;
  gsize dst_row_size;
} ConvertJob;

static void
convert_rows (gint64 begin, gint64 end, gpointer user_data)
{
  const ConvertJob *job = user_data;
  const gint64 ne0 = job->src->ne[0];
  const guint8 *src = job->src->data;
  g_autofree float *row = g_new (float, ne0);

  for (gint64 r = begin; r < end; r++)
    {
      tailor_dequantize_row (job->src->type, src + (gsize) r * job->src_row_size, row, ne0);
      tailor_quantize_row (job->dst_type, row, job->dst + (gsize) r * job->dst_row_size, ne0);
    }
}

static guint
model_n_layer (TailorGguf *in)
{
  const char *arch = NULL;
  gint max_layer = -1;
  gint i = tailor_gguf_find_key (in, "general.architecture");

  if (i >= 0 && tailor_gguf_get_kv_type (in, (guint) i) == TAILOR_GGUF_STRING)
    arch = tailor_gguf_get_val_str (in, (guint) i, NULL);
  if (arch != NULL)
    {
      g_autofree char *key = g_strdup_printf ("%s.block_count", arch);
      guint32 n = 0;

      if (tailor_gguf_get_u32 (in, key, &n, NULL))
        return n;
    }

  /* No usable block_count: the layers are the blk.N tensors present. */
  for (guint t = 0; t < tailor_gguf_get_n_tensors (in); t++)
    max_layer = MAX (max_layer, layer_of (tailor_gguf_get_tensor (in, t)->name));
  return (guint) (max_layer + 1);
}

gboolean
tailor_quantize_model (const char *in_path,
                       const char *out_path,
                       TailorFileType ftype,
                       GError **error)
{
  g_autoptr (TailorGguf) in = NULL;
  g_autoptr (TailorGgufWriter) writer = NULL;
  gboolean tied;
  guint n_layer;

  g_return_val_if_fail (in_path != NULL, FALSE);
  g_return_val_if_fail (out_path != NULL, FALSE);
  g_return_val_if_fail (ftype_get_info (ftype) != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  in = tailor_gguf_open (in_path, error);
  if (in == NULL)
    return FALSE;

  writer = tailor_gguf_writer_new ();
  for (guint i = 0; i < tailor_gguf_get_n_kv (in); i++)
    tailor_gguf_writer_copy_kv (writer, in, i);
  tailor_gguf_writer_set_u32 (writer, "general.quantization_version", QUANTIZATION_VERSION);
  tailor_gguf_writer_set_u32 (writer, "general.file_type", (guint32) ftype);

  tied = tailor_gguf_find_tensor (in, "output.weight") == NULL;
  n_layer = model_n_layer (in);

  for (guint t = 0; t < tailor_gguf_get_n_tensors (in); t++)
    {
      const TailorGgufTensor *src = tailor_gguf_get_tensor (in, t);
      const TailorTypeInfo *src_info = tailor_type_get_info (src->type);
      const gint64 ne0 = src->ne[0];
      const gint64 n_rows = ne0 > 0 ? src->n_elements / ne0 : 0;
      g_autoptr (GBytes) bytes = NULL;
      TailorType dst_type;
      ConvertJob job;

      dst_type = tailor_ftype_tensor_type_full (ftype, src->name, src->n_dims, ne0,
                                                layer_of (src->name), n_layer, tied);

      if (dst_type == src->type)
        {
          bytes = g_bytes_new_static (src->data, src->n_bytes);
        }
      else
        {
          gsize size;

          if (src_info == NULL || !src_info->can_dequantize)
            {
              g_set_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_UNSUPPORTED,
                           "%s: tensor “%s” has type %s, which Tailor cannot convert to %s; "
                           "quantize from an F32, F16, BF16, Q8_0, Q4/Q5 or K-quant model instead",
                           in_path, src->name, tailor_type_name (src->type),
                           tailor_type_name (dst_type));
              return FALSE;
            }

          job.src = src;
          job.dst_type = dst_type;
          job.src_row_size = tailor_type_row_size (src->type, ne0);
          job.dst_row_size = tailor_type_row_size (dst_type, ne0);
          if (n_rows > 0 && job.dst_row_size > G_MAXSIZE / (guint64) n_rows)
            {
              g_set_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_INVALID,
                           "%s: tensor “%s” is too large to convert to %s on this machine", in_path,
                           src->name, tailor_type_name (dst_type));
              return FALSE;
            }
          size = job.dst_row_size * (gsize) n_rows;
          job.dst = g_malloc (MAX (size, 1));
          tailor_parallel_for (n_rows, MAX (1, 65536 / MAX (ne0, 1)), convert_rows, &job);
          bytes = g_bytes_new_take (job.dst, size);
        }

      if (!tailor_gguf_writer_add_tensor (writer, src->name, dst_type, src->n_dims, src->ne, bytes,
                                          error))
        return FALSE;
    }

  /* The tensor bytes of unchanged tensors point into the input mapping, which `in` keeps
   * alive until the write is done. */
  return tailor_gguf_writer_write (writer, out_path, error);
}
