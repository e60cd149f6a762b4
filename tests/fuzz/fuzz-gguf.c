/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: the GGUF reader over arbitrary bytes, then every getter over what it accepts.
 */

#include <stdint.h>
#include <string.h>

#include "tailor-gguf.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Reads that the compiler may not drop, so that every byte a getter hands out is touched. */
static volatile guint64 sink;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* a failed precondition inside the reader is a bug like any crash */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

static void
touch (const void *p, gsize n)
{
  const guint8 *b = p;
  guint64 sum = 0;

  for (gsize i = 0; i < n; i++)
    sum += b[i];
  sink += sum;
}

static void
walk_typed_getters (TailorGguf *g, const char *key)
{
  g_autoptr (GError) error = NULL;
  guint32 u32;
  guint64 u64;
  gint32 i32;
  float f;
  gboolean b;
  const char *s;

  if (tailor_gguf_get_u32 (g, key, &u32, &error))
    sink += u32;
  g_clear_error (&error);
  if (tailor_gguf_get_u64 (g, key, &u64, &error))
    sink += u64;
  g_clear_error (&error);
  if (tailor_gguf_get_i32 (g, key, &i32, &error))
    sink += (guint64) i32;
  g_clear_error (&error);
  if (tailor_gguf_get_f32 (g, key, &f, &error))
    sink += (f == f);
  g_clear_error (&error);
  if (tailor_gguf_get_bool (g, key, &b, &error))
    sink += b;
  g_clear_error (&error);
  s = tailor_gguf_get_string (g, key, &error);
  if (s != NULL)
    touch (s, strlen (s) + 1);
  g_clear_error (&error);
  if (tailor_gguf_lookup_u32 (g, key, 0, &u32, &error))
    sink += u32;
  g_clear_error (&error);
}

static void
walk_kv (TailorGguf *g, guint i)
{
  const char *key = tailor_gguf_get_key (g, i);
  TailorGgufValueType type = tailor_gguf_get_kv_type (g, i);
  const char *s;
  gsize len;

  g_assert (key != NULL && key[0] != '\0');
  g_assert (tailor_gguf_find_key (g, key) == (gint) i);
  walk_typed_getters (g, key);

  if (type == TAILOR_GGUF_STRING)
    {
      s = tailor_gguf_get_val_str (g, i, &len);
      touch (s, len + 1);
      g_assert (s[len] == '\0');
    }
  else if (type == TAILOR_GGUF_ARRAY)
    {
      TailorGgufValueType elem = tailor_gguf_get_arr_type (g, i);
      guint64 n = tailor_gguf_get_arr_n (g, i);

      for (guint64 j = 0; j < n; j++)
        {
          if (elem == TAILOR_GGUF_STRING)
            {
              s = tailor_gguf_get_arr_str (g, i, j, &len);
              touch (s, len + 1);
              g_assert (s[len] == '\0');
            }
          else
            {
              sink += (guint64) tailor_gguf_get_arr_i64 (g, i, j);
              sink += tailor_gguf_get_arr_f64 (g, i, j) != 0;
            }
        }
    }
  else
    {
      sink += (guint64) tailor_gguf_get_val_i64 (g, i);
      sink += tailor_gguf_get_val_u64 (g, i);
      sink += tailor_gguf_get_val_f64 (g, i) != 0;
    }
}

static void
walk_tensor (TailorGguf *g, guint i)
{
  const TailorGgufTensor *t = tailor_gguf_get_tensor (g, i);
  const TailorTypeInfo *info = tailor_type_get_info (t->type);
  gsize row;

  g_assert (tailor_gguf_find_tensor (g, t->name) == t);
  g_assert (info != NULL);
  g_assert (t->n_dims >= 1 && t->n_dims <= TAILOR_GGUF_MAX_DIMS);
  g_assert ((guintptr) t->data % tailor_gguf_get_alignment (g) == 0);
  touch (t->data, t->n_bytes);

  /* the reader's byte count agrees with the block format, and a row dequantizes in bounds */
  if (t->n_elements == 0 || t->ne[0] > 65536)
    return;
  row = tailor_type_row_size (t->type, t->ne[0]);
  g_assert (row * (gsize) (t->n_elements / t->ne[0]) == t->n_bytes);
  if (info->can_dequantize)
    {
      g_autofree void *copy = g_memdup2 (t->data, row);
      g_autofree float *out = g_new (float, t->ne[0]);

      tailor_dequantize_row (t->type, copy, out, t->ne[0]);
      touch (out, sizeof (float) * (gsize) t->ne[0]);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) g = tailor_gguf_new_from_bytes (bytes, "fuzz.gguf", &error);

  if (g == NULL)
    {
      g_assert (error != NULL && error->domain == TAILOR_GGUF_ERROR);
      g_assert (g_str_has_prefix (error->message, "fuzz.gguf: "));
      return 0;
    }
  g_assert (error == NULL);
  g_assert (tailor_gguf_get_data_offset (g) <= tailor_gguf_get_file_size (g));
  for (guint i = 0; i < tailor_gguf_get_n_kv (g); i++)
    walk_kv (g, i);
  for (guint i = 0; i < tailor_gguf_get_n_tensors (g); i++)
    walk_tensor (g, i);
  return 0;
}
