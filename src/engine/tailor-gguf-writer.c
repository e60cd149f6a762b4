/* SPDX-License-Identifier: GPL-3.0-or-later */
/* GGUF v3 writer: keys and tensors in insertion order, aligned data, atomic streaming writes. */

#include "tailor-gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define ALIGNMENT_KEY   "general.alignment"
#define MAX_TENSOR_NAME 64 /* llama.cpp's GGML_MAX_NAME, NUL included */
#define SINK_BUFFER     (256 * 1024)

typedef struct
{
  char *key;
  TailorGgufValueType type;
  GByteArray *value; /* the encoded value that follows the type field */
} WriterKv;

typedef struct
{
  char *name;
  TailorType type;
  guint n_dims;
  gint64 ne[TAILOR_GGUF_MAX_DIMS];
  GBytes *data;
} WriterTensor;

struct _TailorGgufWriter
{
  guint32 alignment;
  GPtrArray *kvs;           /* WriterKv, in insertion order */
  GHashTable *kv_index;     /* key (owned by its WriterKv) → WriterKv */
  GPtrArray *tensors;       /* WriterTensor, in insertion order */
  GHashTable *tensor_index; /* name (owned by its WriterTensor) → WriterTensor */
};

/* Where the encoded file goes: a byte array, a file descriptor (buffered), or nowhere when
 * only the size is wanted. */
typedef struct
{
  GByteArray *array;
  int fd;
  guint8 *buf;
  gsize buf_len;
  guint64 written;
  int errsv; /* errno of the first failed write; later writes are skipped */
} Sink;

static void
writer_kv_free (gpointer data)
{
  WriterKv *kv = data;

  g_free (kv->key);
  g_byte_array_unref (kv->value);
  g_free (kv);
}

static void
writer_tensor_free (gpointer data)
{
  WriterTensor *t = data;

  g_free (t->name);
  g_bytes_unref (t->data);
  g_free (t);
}

TailorGgufWriter *
tailor_gguf_writer_new (void)
{
  TailorGgufWriter *self = g_new0 (TailorGgufWriter, 1);

  self->alignment = TAILOR_GGUF_DEFAULT_ALIGNMENT;
  self->kvs = g_ptr_array_new_with_free_func (writer_kv_free);
  self->kv_index = g_hash_table_new (g_str_hash, g_str_equal);
  self->tensors = g_ptr_array_new_with_free_func (writer_tensor_free);
  self->tensor_index = g_hash_table_new (g_str_hash, g_str_equal);
  return self;
}

void
tailor_gguf_writer_free (TailorGgufWriter *self)
{
  g_return_if_fail (self != NULL);

  g_hash_table_unref (self->kv_index);
  g_hash_table_unref (self->tensor_index);
  g_ptr_array_unref (self->kvs);
  g_ptr_array_unref (self->tensors);
  g_free (self);
}

static void
put_bytes (GByteArray *ba, const void *p, gsize n)
{
  g_byte_array_append (ba, p, (guint) n);
}

static void
put_u32 (GByteArray *ba, guint32 v)
{
  v = GUINT32_TO_LE (v);
  put_bytes (ba, &v, 4);
}

static void
put_u64 (GByteArray *ba, guint64 v)
{
  v = GUINT64_TO_LE (v);
  put_bytes (ba, &v, 8);
}

static void
put_string (GByteArray *ba, const char *s, gsize len)
{
  put_u64 (ba, len);
  put_bytes (ba, s, len);
}

static void
put_f32 (GByteArray *ba, float f)
{
  guint32 bits;

  memcpy (&bits, &f, 4);
  put_u32 (ba, bits);
}

/* One number of type t, from its integer bits (integers, bools) or its value (floats). */
static void
put_number (GByteArray *ba, TailorGgufValueType t, gint64 i, double f)
{
  guint8 u8 = (guint8) i;
  guint16 u16 = GUINT16_TO_LE ((guint16) i);
  guint64 u64;

  switch (t)
    {
      case TAILOR_GGUF_U8:
      case TAILOR_GGUF_I8:
        put_bytes (ba, &u8, 1);
        break;
      case TAILOR_GGUF_BOOL:
        u8 = i != 0;
        put_bytes (ba, &u8, 1);
        break;
      case TAILOR_GGUF_U16:
      case TAILOR_GGUF_I16:
        put_bytes (ba, &u16, 2);
        break;
      case TAILOR_GGUF_U32:
      case TAILOR_GGUF_I32:
        put_u32 (ba, (guint32) i);
        break;
      case TAILOR_GGUF_U64:
      case TAILOR_GGUF_I64:
        put_u64 (ba, (guint64) i);
        break;
      case TAILOR_GGUF_F32:
        put_f32 (ba, (float) f);
        break;
      case TAILOR_GGUF_F64:
        memcpy (&u64, &f, 8);
        put_u64 (ba, u64);
        break;
      case TAILOR_GGUF_STRING:
      case TAILOR_GGUF_ARRAY:
      default:
        g_assert_not_reached ();
    }
}

static gboolean
key_is_valid (const char *key)
{
  return key != NULL && key[0] != '\0' && g_utf8_validate (key, -1, NULL);
}

/* Takes value; replaces an existing key in place so that its position is kept. */
static void
set_kv (TailorGgufWriter *self, const char *key, TailorGgufValueType type, GByteArray *value)
{
  WriterKv *kv = g_hash_table_lookup (self->kv_index, key);

  if (kv != NULL)
    {
      g_byte_array_unref (kv->value);
      kv->type = type;
      kv->value = value;
      return;
    }
  kv = g_new0 (WriterKv, 1);
  kv->key = g_strdup (key);
  kv->type = type;
  kv->value = value;
  g_ptr_array_add (self->kvs, kv);
  g_hash_table_insert (self->kv_index, kv->key, kv);
}

static void
remove_kv (TailorGgufWriter *self, const char *key)
{
  WriterKv *kv = g_hash_table_lookup (self->kv_index, key);

  if (kv == NULL)
    return;
  g_hash_table_remove (self->kv_index, key);
  g_ptr_array_remove (self->kvs, kv);
}

void
tailor_gguf_writer_set_alignment (TailorGgufWriter *self, guint32 alignment)
{
  GByteArray *value;

  g_return_if_fail (self != NULL);
  g_return_if_fail (alignment != 0 && (alignment & (alignment - 1)) == 0);

  self->alignment = alignment;
  if (alignment == TAILOR_GGUF_DEFAULT_ALIGNMENT)
    {
      remove_kv (self, ALIGNMENT_KEY);
      return;
    }
  value = g_byte_array_new ();
  put_u32 (value, alignment);
  set_kv (self, ALIGNMENT_KEY, TAILOR_GGUF_U32, value);
}

/* The alignment key decides the layout, so only set_alignment may write it. */
static gboolean
is_alignment_key (const char *key)
{
  return g_strcmp0 (key, ALIGNMENT_KEY) == 0;
}

static void
set_scalar (TailorGgufWriter *self, const char *key, TailorGgufValueType type, gint64 i, double f)
{
  GByteArray *value = g_byte_array_new ();

  put_number (value, type, i, f);
  set_kv (self, key, type, value);
}

void
tailor_gguf_writer_set_u32 (TailorGgufWriter *self, const char *key, guint32 v)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (key_is_valid (key));

  if (is_alignment_key (key))
    {
      tailor_gguf_writer_set_alignment (self, v);
      return;
    }
  set_scalar (self, key, TAILOR_GGUF_U32, v, 0);
}

void
tailor_gguf_writer_set_i32 (TailorGgufWriter *self, const char *key, gint32 v)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (key_is_valid (key));
  g_return_if_fail (!is_alignment_key (key));

  set_scalar (self, key, TAILOR_GGUF_I32, v, 0);
}

void
tailor_gguf_writer_set_u64 (TailorGgufWriter *self, const char *key, guint64 v)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (key_is_valid (key));
  g_return_if_fail (!is_alignment_key (key));

  set_scalar (self, key, TAILOR_GGUF_U64, (gint64) v, 0);
}

void
tailor_gguf_writer_set_f32 (TailorGgufWriter *self, const char *key, float v)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (key_is_valid (key));
  g_return_if_fail (!is_alignment_key (key));

  set_scalar (self, key, TAILOR_GGUF_F32, 0, v);
}

void
tailor_gguf_writer_set_bool (TailorGgufWriter *self, const char *key, gboolean v)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (key_is_valid (key));
  g_return_if_fail (!is_alignment_key (key));

  set_scalar (self, key, TAILOR_GGUF_BOOL, v != FALSE, 0);
}

void
tailor_gguf_writer_set_string (TailorGgufWriter *self, const char *key, const char *v)
{
  GByteArray *value;

  g_return_if_fail (self != NULL);
  g_return_if_fail (key_is_valid (key));
  g_return_if_fail (!is_alignment_key (key));
  g_return_if_fail (v != NULL);

  value = g_byte_array_new ();
  put_string (value, v, strlen (v));
  set_kv (self, key, TAILOR_GGUF_STRING, value);
}

static GByteArray *
array_header (TailorGgufValueType elem, gsize n)
{
  GByteArray *value = g_byte_array_new ();

  put_u32 (value, elem);
  put_u64 (value, n);
  return value;
}

void
tailor_gguf_writer_set_array_str (TailorGgufWriter *self,
                                  const char *key,
                                  const char *const *v,
                                  gsize n)
{
  GByteArray *value;

  g_return_if_fail (self != NULL);
  g_return_if_fail (key_is_valid (key));
  g_return_if_fail (!is_alignment_key (key));
  g_return_if_fail (v != NULL || n == 0);

  value = array_header (TAILOR_GGUF_STRING, n);
  for (gsize j = 0; j < n; j++)
    put_string (value, v[j], strlen (v[j]));
  set_kv (self, key, TAILOR_GGUF_ARRAY, value);
}

void
tailor_gguf_writer_set_array_f32 (TailorGgufWriter *self, const char *key, const float *v, gsize n)
{
  GByteArray *value;

  g_return_if_fail (self != NULL);
  g_return_if_fail (key_is_valid (key));
  g_return_if_fail (!is_alignment_key (key));
  g_return_if_fail (v != NULL || n == 0);

  value = array_header (TAILOR_GGUF_F32, n);
  for (gsize j = 0; j < n; j++)
    put_f32 (value, v[j]);
  set_kv (self, key, TAILOR_GGUF_ARRAY, value);
}

void
tailor_gguf_writer_set_array_i32 (TailorGgufWriter *self, const char *key, const gint32 *v, gsize n)
{
  GByteArray *value;

  g_return_if_fail (self != NULL);
  g_return_if_fail (key_is_valid (key));
  g_return_if_fail (!is_alignment_key (key));
  g_return_if_fail (v != NULL || n == 0);

  value = array_header (TAILOR_GGUF_I32, n);
  for (gsize j = 0; j < n; j++)
    put_u32 (value, (guint32) v[j]);
  set_kv (self, key, TAILOR_GGUF_ARRAY, value);
}

void
tailor_gguf_writer_set_array_u32 (TailorGgufWriter *self,
                                  const char *key,
                                  const guint32 *v,
                                  gsize n)
{
  GByteArray *value;

  g_return_if_fail (self != NULL);
  g_return_if_fail (key_is_valid (key));
  g_return_if_fail (!is_alignment_key (key));
  g_return_if_fail (v != NULL || n == 0);

  value = array_header (TAILOR_GGUF_U32, n);
  for (gsize j = 0; j < n; j++)
    put_u32 (value, v[j]);
  set_kv (self, key, TAILOR_GGUF_ARRAY, value);
}

void
tailor_gguf_writer_copy_kv (TailorGgufWriter *self, TailorGguf *src, guint i)
{
  const char *key;
  TailorGgufValueType type;
  GByteArray *value;
  const char *s;
  gsize len;

  g_return_if_fail (self != NULL);
  g_return_if_fail (src != NULL);
  g_return_if_fail (i < tailor_gguf_get_n_kv (src));

  key = tailor_gguf_get_key (src, i);
  type = tailor_gguf_get_kv_type (src, i);

  /* The reader accepts only a u32 power of two here, which set_alignment takes as is. */
  if (is_alignment_key (key))
    {
      tailor_gguf_writer_set_alignment (self, (guint32) tailor_gguf_get_val_u64 (src, i));
      return;
    }

  value = g_byte_array_new ();
  if (type == TAILOR_GGUF_STRING)
    {
      s = tailor_gguf_get_val_str (src, i, &len);
      put_string (value, s, len);
    }
  else if (type == TAILOR_GGUF_ARRAY)
    {
      TailorGgufValueType elem = tailor_gguf_get_arr_type (src, i);
      guint64 n = tailor_gguf_get_arr_n (src, i);

      put_u32 (value, elem);
      put_u64 (value, n);
      for (guint64 j = 0; j < n; j++)
        {
          if (elem == TAILOR_GGUF_STRING)
            {
              s = tailor_gguf_get_arr_str (src, i, j, &len);
              put_string (value, s, len);
            }
          else if (elem == TAILOR_GGUF_F32 || elem == TAILOR_GGUF_F64)
            put_number (value, elem, 0, tailor_gguf_get_arr_f64 (src, i, j));
          else
            put_number (value, elem, tailor_gguf_get_arr_i64 (src, i, j), 0);
        }
    }
  else if (type == TAILOR_GGUF_F32 || type == TAILOR_GGUF_F64)
    put_number (value, type, 0, tailor_gguf_get_val_f64 (src, i));
  else
    put_number (value, type, (gint64) tailor_gguf_get_val_u64 (src, i), 0);
  set_kv (self, key, type, value);
}

static gboolean G_GNUC_PRINTF (4, 5)
  tensor_error (GError **error, TailorGgufError code, const char *name, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, TAILOR_GGUF_ERROR, code, "tensor '%s': %s", name, what);
  return FALSE;
}

gboolean
tailor_gguf_writer_add_tensor (TailorGgufWriter *self,
                               const char *name,
                               TailorType type,
                               guint n_dims,
                               const gint64 *ne,
                               GBytes *data,
                               GError **error)
{
  const TailorTypeInfo *info;
  WriterTensor *t;
  gsize n_bytes;
  gsize len;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (ne != NULL, FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  len = strlen (name);
  if (len == 0 || len >= MAX_TENSOR_NAME || !g_utf8_validate (name, -1, NULL))
    return tensor_error (error, TAILOR_GGUF_ERROR_INVALID, name,
                         "a tensor name must be valid UTF-8 of 1 to %d bytes", MAX_TENSOR_NAME - 1);
  if (g_hash_table_contains (self->tensor_index, name))
    return tensor_error (error, TAILOR_GGUF_ERROR_INVALID, name,
                         "a tensor of that name was already added");
  if (n_dims < 1 || n_dims > TAILOR_GGUF_MAX_DIMS)
    return tensor_error (error, TAILOR_GGUF_ERROR_INVALID, name,
                         "%u dimensions given; GGUF tensors have 1 to %d", n_dims,
                         TAILOR_GGUF_MAX_DIMS);
  info = tailor_type_get_info (type);
  if (info == NULL)
    return tensor_error (error, TAILOR_GGUF_ERROR_UNSUPPORTED, name,
                         "ggml type id %d is not one Tailor knows", (int) type);
  for (guint d = 0; d < n_dims; d++)
    if (ne[d] < 0)
      return tensor_error (error, TAILOR_GGUF_ERROR_INVALID, name,
                           "dimension %u has a negative size", d);
  if (ne[0] % info->block_size != 0)
    return tensor_error (error, TAILOR_GGUF_ERROR_INVALID, name,
                         "row length %" G_GINT64_FORMAT " is not a multiple of the %s block "
                         "size %u",
                         ne[0], info->name, info->block_size);
  n_bytes = (gsize) (ne[0] / info->block_size);
  if (!g_size_checked_mul (&n_bytes, n_bytes, info->type_size))
    return tensor_error (error, TAILOR_GGUF_ERROR_INVALID, name, "the size in bytes overflows");
  for (guint d = 1; d < n_dims; d++)
    if (!g_size_checked_mul (&n_bytes, n_bytes, (gsize) ne[d]))
      return tensor_error (error, TAILOR_GGUF_ERROR_INVALID, name, "the size in bytes overflows");
  if (g_bytes_get_size (data) != n_bytes)
    return tensor_error (error, TAILOR_GGUF_ERROR_INVALID, name,
                         "%" G_GSIZE_FORMAT " bytes of data given; a %s tensor of this shape "
                         "takes %" G_GSIZE_FORMAT,
                         g_bytes_get_size (data), info->name, n_bytes);

  t = g_new0 (WriterTensor, 1);
  t->name = g_strdup (name);
  t->type = type;
  t->n_dims = n_dims;
  for (guint d = 0; d < TAILOR_GGUF_MAX_DIMS; d++)
    t->ne[d] = d < n_dims ? ne[d] : 1;
  t->data = g_bytes_ref (data);
  g_ptr_array_add (self->tensors, t);
  g_hash_table_insert (self->tensor_index, t->name, t);
  return TRUE;
}

static gboolean
write_all (int fd, const guint8 *p, gsize n, int *errsv)
{
  while (n > 0)
    {
      gssize r = write (fd, p, MIN (n, (gsize) G_MAXSSIZE));

      if (r < 0)
        {
          if (errno == EINTR)
            continue;
          *errsv = errno;
          return FALSE;
        }
      p += r;
      n -= (gsize) r;
    }
  return TRUE;
}

static void
sink_flush (Sink *s)
{
  if (s->fd >= 0 && s->errsv == 0 && s->buf_len > 0)
    write_all (s->fd, s->buf, s->buf_len, &s->errsv);
  s->buf_len = 0;
}

static void
sink_write (Sink *s, const void *data, gsize n)
{
  const guint8 *p = data;

  s->written += n;
  if (s->errsv != 0)
    return;
  if (s->array != NULL)
    {
      while (n > 0)
        {
          guint chunk = (guint) MIN (n, (gsize) G_MAXINT);

          g_byte_array_append (s->array, p, chunk);
          p += chunk;
          n -= chunk;
        }
      return;
    }
  if (s->fd < 0)
    return;
  if (s->buf_len + n <= SINK_BUFFER)
    {
      memcpy (s->buf + s->buf_len, p, n);
      s->buf_len += n;
      return;
    }
  sink_flush (s);
  if (n >= SINK_BUFFER)
    {
      if (s->errsv == 0)
        write_all (s->fd, p, n, &s->errsv);
      return;
    }
  memcpy (s->buf, p, n);
  s->buf_len = n;
}

static void
sink_bytes (Sink *s, GByteArray *ba)
{
  sink_write (s, ba->data, ba->len);
}

static void
sink_pad (Sink *s, guint32 alignment)
{
  static const guint8 zeros[4096] = { 0 };
  gsize n = (alignment - s->written % alignment) % alignment;

  while (n > 0)
    {
      gsize chunk = MIN (n, sizeof zeros);

      sink_write (s, zeros, chunk);
      n -= chunk;
    }
}

static gsize
padded (gsize n, guint32 alignment)
{
  return n + (alignment - n % alignment) % alignment;
}

static void
emit (TailorGgufWriter *self, Sink *s)
{
  g_autoptr (GByteArray) head = g_byte_array_new ();
  guint64 offset = 0;

  put_bytes (head, "GGUF", 4);
  put_u32 (head, 3);
  put_u64 (head, self->tensors->len);
  put_u64 (head, self->kvs->len);
  sink_bytes (s, head);

  for (guint i = 0; i < self->kvs->len; i++)
    {
      const WriterKv *kv = g_ptr_array_index (self->kvs, i);

      g_byte_array_set_size (head, 0);
      put_string (head, kv->key, strlen (kv->key));
      put_u32 (head, kv->type);
      sink_bytes (s, head);
      sink_bytes (s, kv->value);
    }

  for (guint i = 0; i < self->tensors->len; i++)
    {
      const WriterTensor *t = g_ptr_array_index (self->tensors, i);

      g_byte_array_set_size (head, 0);
      put_string (head, t->name, strlen (t->name));
      put_u32 (head, t->n_dims);
      for (guint d = 0; d < t->n_dims; d++)
        put_u64 (head, (guint64) t->ne[d]);
      put_u32 (head, t->type);
      put_u64 (head, offset);
      sink_bytes (s, head);
      offset += padded (g_bytes_get_size (t->data), self->alignment);
    }
  sink_pad (s, self->alignment);

  for (guint i = 0; i < self->tensors->len; i++)
    {
      const WriterTensor *t = g_ptr_array_index (self->tensors, i);
      gsize n;
      const void *p = g_bytes_get_data (t->data, &n);

      sink_write (s, p, n);
      sink_pad (s, self->alignment);
    }
  sink_flush (s);
}

GBytes *
tailor_gguf_writer_to_bytes (TailorGgufWriter *self)
{
  Sink count = { .fd = -1 };
  Sink out = { .fd = -1 };

  g_return_val_if_fail (self != NULL, NULL);

  emit (self, &count);
  g_return_val_if_fail (count.written <= G_MAXUINT, NULL);
  out.array = g_byte_array_sized_new ((guint) count.written);
  emit (self, &out);
  return g_byte_array_free_to_bytes (out.array);
}

static gboolean
write_failed (GError **error, const char *path, const char *what, int errsv)
{
  g_set_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_IO,
               "%s: cannot write the model: %s failed: %s. Check that the folder exists, that "
               "you may write to it and that the disk has room.",
               path, what, g_strerror (errsv));
  return FALSE;
}

/* Makes the rename itself durable; a failure here leaves a complete file, so it is not fatal. */
static void
sync_folder (const char *dir)
{
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  if (fd < 0)
    return;
  fsync (fd);
  g_close (fd, NULL);
}

gboolean
tailor_gguf_writer_write (TailorGgufWriter *self, const char *path, GError **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *base = NULL;
  g_autofree char *tmp_name = NULL;
  g_autofree char *tmp_path = NULL;
  g_autofree guint8 *buf = NULL;
  Sink s = { 0 };
  int errsv;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  dir = g_path_get_dirname (path);
  base = g_path_get_basename (path);
  tmp_name = g_strdup_printf (".%s.XXXXXX", base);
  tmp_path = g_build_filename (dir, tmp_name, NULL);

  s.fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0666);
  if (s.fd < 0)
    return write_failed (error, path, "creating a temporary file in its folder", errno);
  buf = g_malloc (SINK_BUFFER);
  s.buf = buf;

  emit (self, &s);
  if (s.errsv != 0)
    {
      write_failed (error, path, "writing", s.errsv);
      goto fail;
    }
  if (fsync (s.fd) != 0)
    {
      write_failed (error, path, "flushing to disk", errno);
      goto fail;
    }
  if (close (s.fd) != 0)
    {
      errsv = errno;
      s.fd = -1;
      write_failed (error, path, "closing", errsv);
      goto fail;
    }
  s.fd = -1;
  if (g_rename (tmp_path, path) != 0)
    {
      write_failed (error, path, "renaming the temporary file into place", errno);
      goto fail;
    }
  sync_folder (dir);
  return TRUE;

fail:
  if (s.fd >= 0)
    close (s.fd);
  g_unlink (tmp_path);
  return FALSE;
}
