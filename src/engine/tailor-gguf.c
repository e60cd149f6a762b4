/* SPDX-License-Identifier: GPL-3.0-or-later */
/* GGUF reader: validates every field of a mapped (or in-memory) file; zero-copy tensor access. */

#include "tailor-gguf.h"

#include <float.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GGUF_MAGIC "GGUF"
/* GGML_MAX_NAME: llama.cpp keeps names in a 64-byte buffer, NUL included. */
#define MAX_TENSOR_NAME 64
/* Smallest possible encodings, used to reject counts before allocating anything:
 * a KV is a key (u64 length + at least one byte), an i32 type and at least a one-byte value;
 * a tensor info is a name (u64 length + at least one byte), u32 n_dims, at least one i64 ne,
 * an i32 type and a u64 offset. */
#define MIN_KV_BYTES          (8 + 1 + 4 + 1)
#define MIN_TENSOR_INFO_BYTES (8 + 1 + 4 + 8 + 4 + 8)
/* Parsing reserves at most this many entries up front; the rest grows with what is really read. */
#define MAX_RESERVE 4096

#define ADVICE_TRUNCATED "The file is truncated or damaged; download or export it again."
#define ADVICE_DAMAGED \
  "The file is damaged or was written by a faulty tool; download or export it again."

typedef struct
{
  gsize off; /* into strings */
  gsize len;
} StrRef;

typedef struct
{
  gsize key; /* index into strs */
  TailorGgufValueType type;
  TailorGgufValueType arr_type; /* element type of an array; the type itself for a scalar */
  guint64 n;                    /* elements; 1 for a scalar */
  gsize value; /* numbers and bools: offset in the file; strings: first index into strs */
} Kv;

struct _TailorGguf
{
  gatomicrefcount ref_count;
  char *path;
  GBytes *bytes; /* owns the mapping or the memory that base points into */
  gboolean mapped; /* base is a read-only file mapping (not heap memory) */
  const guint8 *base;
  gsize size;
  guint32 version;
  gsize alignment;
  gsize data_offset;
  char *strings; /* every string of the file, NUL-terminated, in one allocation */
  StrRef *strs;
  Kv *kvs;
  guint n_kv;
  TailorGgufTensor *tensors;
  guint n_tensors;
  GHashTable *kv_index;     /* owned key copy → index + 1 */
  GHashTable *tensor_index; /* owned name copy → index + 1 */
};

typedef struct
{
  const guint8 *p;
  gsize size;
  gsize pos;
  const char *file;
  char *where; /* the field being read, for messages: "header", "key 'x'", "tensor 'y'" */
  GByteArray *strings;
  GArray *strs;    /* StrRef */
  GArray *kvs;     /* Kv */
  GArray *tensors; /* TailorGgufTensor, name not yet set */
  GArray *names;   /* gsize: index into strs of each tensor's name */
  GHashTable *kv_index;
  GHashTable *tensor_index;
  GError **error;
} Parser;

static const gsize value_type_size[] = {
  [TAILOR_GGUF_U8] = 1,     [TAILOR_GGUF_I8] = 1,    [TAILOR_GGUF_U16] = 2, [TAILOR_GGUF_I16] = 2,
  [TAILOR_GGUF_U32] = 4,    [TAILOR_GGUF_I32] = 4,   [TAILOR_GGUF_F32] = 4, [TAILOR_GGUF_BOOL] = 1,
  [TAILOR_GGUF_STRING] = 0, [TAILOR_GGUF_ARRAY] = 0, [TAILOR_GGUF_U64] = 8, [TAILOR_GGUF_I64] = 8,
  [TAILOR_GGUF_F64] = 8,
};

static const char *const value_type_names[] = {
  [TAILOR_GGUF_U8] = "u8",       [TAILOR_GGUF_I8] = "i8",     [TAILOR_GGUF_U16] = "u16",
  [TAILOR_GGUF_I16] = "i16",     [TAILOR_GGUF_U32] = "u32",   [TAILOR_GGUF_I32] = "i32",
  [TAILOR_GGUF_F32] = "f32",     [TAILOR_GGUF_BOOL] = "bool", [TAILOR_GGUF_STRING] = "string",
  [TAILOR_GGUF_ARRAY] = "array", [TAILOR_GGUF_U64] = "u64",   [TAILOR_GGUF_I64] = "i64",
  [TAILOR_GGUF_F64] = "f64",
};

GQuark
tailor_gguf_error_quark (void)
{
  return g_quark_from_static_string ("tailor-gguf-error-quark");
}

static gboolean
value_type_is_known (guint32 t)
{
  return t <= TAILOR_GGUF_F64;
}

static gboolean
value_type_is_integer (TailorGgufValueType t)
{
  return t == TAILOR_GGUF_U8 || t == TAILOR_GGUF_I8 || t == TAILOR_GGUF_U16 ||
         t == TAILOR_GGUF_I16 || t == TAILOR_GGUF_U32 || t == TAILOR_GGUF_I32 ||
         t == TAILOR_GGUF_U64 || t == TAILOR_GGUF_I64;
}

static gboolean
value_type_is_number (TailorGgufValueType t)
{
  return value_type_is_integer (t) || t == TAILOR_GGUF_F32 || t == TAILOR_GGUF_F64 ||
         t == TAILOR_GGUF_BOOL;
}

static gboolean
value_type_is_signed (TailorGgufValueType t)
{
  return t == TAILOR_GGUF_I8 || t == TAILOR_GGUF_I16 || t == TAILOR_GGUF_I32 ||
         t == TAILOR_GGUF_I64;
}

/* Integers and bools as stored: signed types sign-extended into *s, the others into *u. */
static void
load_integer (const guint8 *p, TailorGgufValueType t, gint64 *s, guint64 *u)
{
  guint8 u8;
  guint16 u16;
  guint32 u32;
  guint64 u64;

  *s = 0;
  *u = 0;
  switch (t)
    {
      case TAILOR_GGUF_U8:
      case TAILOR_GGUF_BOOL:
        *u = p[0];
        break;
      case TAILOR_GGUF_I8:
        memcpy (&u8, p, 1);
        *s = (gint8) u8;
        break;
      case TAILOR_GGUF_U16:
        memcpy (&u16, p, 2);
        *u = GUINT16_FROM_LE (u16);
        break;
      case TAILOR_GGUF_I16:
        memcpy (&u16, p, 2);
        *s = (gint16) GUINT16_FROM_LE (u16);
        break;
      case TAILOR_GGUF_U32:
        memcpy (&u32, p, 4);
        *u = GUINT32_FROM_LE (u32);
        break;
      case TAILOR_GGUF_I32:
        memcpy (&u32, p, 4);
        *s = (gint32) GUINT32_FROM_LE (u32);
        break;
      case TAILOR_GGUF_U64:
        memcpy (&u64, p, 8);
        *u = GUINT64_FROM_LE (u64);
        break;
      case TAILOR_GGUF_I64:
        memcpy (&u64, p, 8);
        *s = (gint64) GUINT64_FROM_LE (u64);
        break;
      case TAILOR_GGUF_F32:
      case TAILOR_GGUF_F64:
      case TAILOR_GGUF_STRING:
      case TAILOR_GGUF_ARRAY:
      default:
        g_assert_not_reached ();
    }
}

static double
load_double (const guint8 *p, TailorGgufValueType t)
{
  guint32 u32;
  guint64 u64;
  float f;
  double d;
  gint64 s;
  guint64 u;

  if (t == TAILOR_GGUF_F32)
    {
      memcpy (&u32, p, 4);
      u32 = GUINT32_FROM_LE (u32);
      memcpy (&f, &u32, 4);
      return f;
    }
  if (t == TAILOR_GGUF_F64)
    {
      memcpy (&u64, p, 8);
      u64 = GUINT64_FROM_LE (u64);
      memcpy (&d, &u64, 8);
      return d;
    }
  load_integer (p, t, &s, &u);
  return value_type_is_signed (t) ? (double) s : (double) u;
}

/* Saturating, since converting an out-of-range or NaN double to an integer is undefined. */
static gint64
double_to_i64 (double d)
{
  if (isnan (d))
    return 0;
  if (d >= 9223372036854775808.0)
    return G_MAXINT64;
  if (d <= -9223372036854775808.0)
    return G_MININT64;
  return (gint64) d;
}

static gint64
load_i64 (const guint8 *p, TailorGgufValueType t)
{
  gint64 s;
  guint64 u;

  if (t == TAILOR_GGUF_F32 || t == TAILOR_GGUF_F64)
    return double_to_i64 (load_double (p, t));
  load_integer (p, t, &s, &u);
  return value_type_is_signed (t) ? s : (gint64) u;
}

static gboolean G_GNUC_PRINTF (3, 4)
  fail (Parser *ps, TailorGgufError code, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (ps->error, TAILOR_GGUF_ERROR, code, "%s: %s: %s", ps->file, ps->where, what);
  return FALSE;
}

static void G_GNUC_PRINTF (2, 3) set_where (Parser *ps, const char *format, ...)
{
  va_list args;

  g_free (ps->where);
  va_start (args, format);
  ps->where = g_strdup_vprintf (format, args);
  va_end (args);
}

static gsize
remaining (Parser *ps)
{
  return ps->size - ps->pos;
}

static gboolean
need (Parser *ps, guint64 n, const char *what)
{
  if (n <= remaining (ps))
    return TRUE;
  return fail (ps, TAILOR_GGUF_ERROR_TRUNCATED,
               "%s runs past the end of the file (needs %" G_GUINT64_FORMAT
               " bytes at offset %" G_GSIZE_FORMAT ", file has %" G_GSIZE_FORMAT
               "). " ADVICE_TRUNCATED,
               what, n, ps->pos, ps->size);
}

static gboolean
read_u32 (Parser *ps, const char *what, guint32 *out)
{
  guint32 v;

  if (!need (ps, 4, what))
    return FALSE;
  memcpy (&v, ps->p + ps->pos, 4);
  ps->pos += 4;
  *out = GUINT32_FROM_LE (v);
  return TRUE;
}

static gboolean
read_u64 (Parser *ps, const char *what, guint64 *out)
{
  guint64 v;

  if (!need (ps, 8, what))
    return FALSE;
  memcpy (&v, ps->p + ps->pos, 8);
  ps->pos += 8;
  *out = GUINT64_FROM_LE (v);
  return TRUE;
}

/* Copies len bytes at the cursor (already checked to be there) into the string pool and gives
 * their index in strs. GByteArray and GArray lengths are guint: a file whose strings outgrow
 * them is refused rather than aborting. */
static gboolean
take_string (Parser *ps, gsize len, const char *what, gsize *index)
{
  StrRef ref = { ps->strings->len, len };
  const guint8 nul = 0;

  if (len >= G_MAXUINT - ps->strings->len || ps->strs->len == G_MAXUINT)
    return fail (ps, TAILOR_GGUF_ERROR_UNSUPPORTED,
                 "%s (%" G_GSIZE_FORMAT " bytes at offset %" G_GSIZE_FORMAT ") does not fit in "
                 "the %u bytes Tailor can hold for metadata strings. " ADVICE_DAMAGED,
                 what, len, ps->pos, G_MAXUINT);
  g_byte_array_append (ps->strings, ps->p + ps->pos, (guint) len);
  g_byte_array_append (ps->strings, &nul, 1);
  g_array_append_val (ps->strs, ref);
  ps->pos += len;
  *index = ps->strs->len - 1;
  return TRUE;
}

static gboolean
read_string (Parser *ps, const char *what, gsize *index)
{
  guint64 len;

  if (!read_u64 (ps, what, &len))
    return FALSE;
  if (!need (ps, len, what))
    return FALSE;
  return take_string (ps, (gsize) len, what, index);
}

static gboolean
parse_value (Parser *ps, Kv *kv)
{
  guint32 type;
  guint32 elem;
  guint64 count;
  gsize index;

  if (!read_u32 (ps, "the value type", &type))
    return FALSE;
  if (!value_type_is_known (type))
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "unknown value type %u (GGUF defines types 0 to 12). " ADVICE_DAMAGED, type);
  kv->type = type;
  kv->arr_type = type;
  kv->n = 1;

  if (type == TAILOR_GGUF_ARRAY)
    {
      if (!read_u32 (ps, "the array element type", &elem))
        return FALSE;
      if (elem == TAILOR_GGUF_ARRAY)
        return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                     "the value is an array of arrays, which GGUF does not allow. " ADVICE_DAMAGED);
      if (!value_type_is_known (elem))
        return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                     "the value is an array of unknown element type %u (GGUF defines types 0 to "
                     "12). " ADVICE_DAMAGED,
                     elem);
      if (!read_u64 (ps, "the array length", &count))
        return FALSE;
      kv->arr_type = elem;
      kv->n = count;

      if (elem == TAILOR_GGUF_STRING)
        {
          /* each element is at least its u64 length */
          if (count > remaining (ps) / 8)
            return fail (ps, TAILOR_GGUF_ERROR_TRUNCATED,
                         "the string array claims %" G_GUINT64_FORMAT
                         " elements but only %" G_GSIZE_FORMAT
                         " bytes remain at offset %" G_GSIZE_FORMAT
                         " (each element needs at least 8). " ADVICE_TRUNCATED,
                         count, remaining (ps), ps->pos);
          kv->value = ps->strs->len;
          for (guint64 j = 0; j < count; j++)
            if (!read_string (ps, "a string of the array", &index))
              return FALSE;
        }
      else
        {
          gsize esize = value_type_size[elem];

          if (count > remaining (ps) / esize)
            return fail (ps, TAILOR_GGUF_ERROR_TRUNCATED,
                         "the array of %" G_GUINT64_FORMAT " %s values runs past the end of "
                         "the file (only %" G_GSIZE_FORMAT
                         " bytes remain at offset %" G_GSIZE_FORMAT "). " ADVICE_TRUNCATED,
                         count, value_type_names[elem], remaining (ps), ps->pos);
          kv->value = ps->pos;
          ps->pos += (gsize) count * esize;
        }
      return TRUE;
    }

  if (type == TAILOR_GGUF_STRING)
    {
      if (!read_string (ps, "the string value", &index))
        return FALSE;
      kv->value = index;
      return TRUE;
    }

  if (!need (ps, value_type_size[type], "the value"))
    return FALSE;
  kv->value = ps->pos;
  ps->pos += value_type_size[type];
  return TRUE;
}

static const char *
pool_string (Parser *ps, gsize index)
{
  return (const char *) ps->strings->data + g_array_index (ps->strs, StrRef, index).off;
}

static gboolean
parse_kvs (Parser *ps, guint n_kv)
{
  for (guint i = 0; i < n_kv; i++)
    {
      Kv kv = { 0 };
      guint64 len;
      const char *key;

      set_where (ps, "key #%u", i);
      if (!read_u64 (ps, "the key length", &len))
        return FALSE;
      if (len == 0)
        return fail (ps, TAILOR_GGUF_ERROR_INVALID, "the key is empty. " ADVICE_DAMAGED);
      if (!need (ps, len, "the key"))
        return FALSE;
      if (!g_utf8_validate_len ((const char *) ps->p + ps->pos, (gsize) len, NULL))
        return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                     "the key (at offset %" G_GSIZE_FORMAT ") is not valid UTF-8. " ADVICE_DAMAGED,
                     ps->pos);
      if (!take_string (ps, (gsize) len, "the key", &kv.key))
        return FALSE;
      key = pool_string (ps, kv.key);
      set_where (ps, "key '%s'", key);
      if (g_hash_table_contains (ps->kv_index, key))
        return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                     "the key appears twice (second time as key #%u). " ADVICE_DAMAGED, i);
      /* before parse_value, which may grow the pool and move key */
      g_hash_table_insert (ps->kv_index, g_strdup (key), GUINT_TO_POINTER (i + 1));
      if (!parse_value (ps, &kv))
        return FALSE;
      g_array_append_val (ps->kvs, kv);
    }
  return TRUE;
}

static gboolean
parse_alignment (Parser *ps, gsize *alignment)
{
  gpointer found = g_hash_table_lookup (ps->kv_index, "general.alignment");
  const Kv *kv;
  gint64 s;
  guint64 u;

  *alignment = TAILOR_GGUF_DEFAULT_ALIGNMENT;
  if (found == NULL)
    return TRUE;
  kv = &g_array_index (ps->kvs, Kv, GPOINTER_TO_UINT (found) - 1);
  set_where (ps, "key 'general.alignment'");
  if (kv->type != TAILOR_GGUF_U32)
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "the value has type %s; GGUF requires u32. " ADVICE_DAMAGED,
                 value_type_names[kv->type]);
  load_integer (ps->p + kv->value, TAILOR_GGUF_U32, &s, &u);
  if (u == 0 || (u & (u - 1)) != 0)
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "the alignment %" G_GUINT64_FORMAT " is not a power of two. " ADVICE_DAMAGED, u);
  *alignment = (gsize) u;
  return TRUE;
}

static gboolean
parse_tensor_info (Parser *ps, guint i, gsize alignment)
{
  TailorGgufTensor t = { 0 };
  const TailorTypeInfo *info;
  guint64 len;
  guint32 n_dims;
  guint32 type;
  guint64 ne;
  guint64 n_elements = 1;
  gsize n_bytes;
  gsize name;
  gboolean empty = FALSE;

  set_where (ps, "tensor #%u", i);
  if (!read_u64 (ps, "the tensor name length", &len))
    return FALSE;
  if (len == 0)
    return fail (ps, TAILOR_GGUF_ERROR_INVALID, "the tensor name is empty. " ADVICE_DAMAGED);
  if (len >= MAX_TENSOR_NAME)
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "the tensor name is %" G_GUINT64_FORMAT " bytes long; llama.cpp allows at most "
                 "%d. " ADVICE_DAMAGED,
                 len, MAX_TENSOR_NAME - 1);
  if (!need (ps, len, "the tensor name"))
    return FALSE;
  if (!g_utf8_validate_len ((const char *) ps->p + ps->pos, (gsize) len, NULL))
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "the tensor name (at offset %" G_GSIZE_FORMAT
                 ") is not valid UTF-8. " ADVICE_DAMAGED,
                 ps->pos);
  if (!take_string (ps, (gsize) len, "the tensor name", &name))
    return FALSE;
  set_where (ps, "tensor '%s'", pool_string (ps, name));
  if (g_hash_table_contains (ps->tensor_index, pool_string (ps, name)))
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "the tensor name appears twice (second time as tensor #%u). " ADVICE_DAMAGED, i);

  if (!read_u32 (ps, "the number of dimensions", &n_dims))
    return FALSE;
  if (n_dims < 1 || n_dims > TAILOR_GGUF_MAX_DIMS)
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "the tensor has %u dimensions; GGUF tensors have 1 to %d. " ADVICE_DAMAGED, n_dims,
                 TAILOR_GGUF_MAX_DIMS);
  t.n_dims = n_dims;
  for (guint d = 0; d < TAILOR_GGUF_MAX_DIMS; d++)
    {
      t.ne[d] = 1;
      if (d >= n_dims)
        continue;
      if (!read_u64 (ps, "a tensor dimension", &ne))
        return FALSE;
      if (ne > G_MAXINT64)
        return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                     "dimension %u has a negative size (%" G_GINT64_FORMAT "). " ADVICE_DAMAGED, d,
                     (gint64) ne);
      t.ne[d] = (gint64) ne;
      /* llama.cpp accepts zero-sized dimensions (an empty tensor); so do we */
      if (ne == 0)
        empty = TRUE;
    }
  if (!empty)
    for (guint d = 0; d < TAILOR_GGUF_MAX_DIMS; d++)
      if (!g_uint64_checked_mul (&n_elements, n_elements, (guint64) t.ne[d]) ||
          n_elements > G_MAXINT64)
        return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                     "the element count of shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                     ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] overflows. " ADVICE_DAMAGED,
                     t.ne[0], t.ne[1], t.ne[2], t.ne[3]);
  t.n_elements = empty ? 0 : (gint64) n_elements;

  if (!read_u32 (ps, "the tensor type", &type))
    return FALSE;
  info = tailor_type_get_info ((TailorType) type);
  if (info == NULL)
    return fail (
      ps, TAILOR_GGUF_ERROR_UNSUPPORTED,
      "the tensor has ggml type id %d, which Tailor does not know. Update Tailor, or convert the "
      "model to a common type such as Q4_K_M, Q8_0 or F16.",
      (gint32) type);
  t.type = (TailorType) type;
  if (t.ne[0] % info->block_size != 0)
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "row length %" G_GINT64_FORMAT
                 " is not a multiple of the %s block size %u. " ADVICE_DAMAGED,
                 t.ne[0], info->name, info->block_size);
  n_bytes = (gsize) (t.ne[0] / info->block_size);
  if (!g_size_checked_mul (&n_bytes, n_bytes, info->type_size) ||
      !g_size_checked_mul (&n_bytes, n_bytes, (gsize) t.ne[1]) ||
      !g_size_checked_mul (&n_bytes, n_bytes, (gsize) t.ne[2]) ||
      !g_size_checked_mul (&n_bytes, n_bytes, (gsize) t.ne[3]))
    return fail (ps, TAILOR_GGUF_ERROR_INVALID, "the size in bytes overflows. " ADVICE_DAMAGED);
  t.n_bytes = n_bytes;

  if (!read_u64 (ps, "the tensor data offset", &t.offset))
    return FALSE;
  if (t.offset % alignment != 0)
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "data offset %" G_GUINT64_FORMAT
                 " is not a multiple of the alignment %" G_GSIZE_FORMAT ". " ADVICE_DAMAGED,
                 t.offset, alignment);

  g_array_append_val (ps->tensors, t);
  g_array_append_val (ps->names, name);
  g_hash_table_insert (ps->tensor_index, g_strdup (pool_string (ps, name)),
                       GUINT_TO_POINTER (i + 1));
  return TRUE;
}

typedef struct
{
  guint64 begin;
  guint64 end;
  guint index;
} Extent;

static int
extent_compare (const void *a, const void *b)
{
  const Extent *x = a;
  const Extent *y = b;

  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  return x->index < y->index ? -1 : (x->index > y->index);
}

static gboolean
check_tensor_data (Parser *ps, gsize data_offset)
{
  gsize avail = ps->size - data_offset;
  g_autofree Extent *extents = NULL;
  guint n = 0;
  guint64 end = 0;
  guint last = 0;

  for (guint i = 0; i < ps->tensors->len; i++)
    {
      const TailorGgufTensor *t = &g_array_index (ps->tensors, TailorGgufTensor, i);

      if (t->offset > avail || t->n_bytes > avail - t->offset)
        {
          set_where (ps, "tensor '%s'", pool_string (ps, g_array_index (ps->names, gsize, i)));
          if (t->offset > G_MAXUINT64 - data_offset)
            return fail (ps, TAILOR_GGUF_ERROR_TRUNCATED,
                         "data offset %" G_GUINT64_FORMAT " lies far past the end of the file "
                         "(file has %" G_GSIZE_FORMAT " bytes). " ADVICE_TRUNCATED,
                         t->offset, ps->size);
          return fail (ps, TAILOR_GGUF_ERROR_TRUNCATED,
                       "data runs past the end of the file (needs %" G_GSIZE_FORMAT
                       " bytes at offset %" G_GUINT64_FORMAT ", file has %" G_GSIZE_FORMAT
                       "). " ADVICE_TRUNCATED,
                       t->n_bytes, data_offset + t->offset, ps->size);
        }
    }

  /* Empty tensors take no bytes and cannot overlap anything. */
  extents = g_new (Extent, ps->tensors->len + 1);
  for (guint i = 0; i < ps->tensors->len; i++)
    {
      const TailorGgufTensor *t = &g_array_index (ps->tensors, TailorGgufTensor, i);

      if (t->n_bytes == 0)
        continue;
      extents[n].begin = t->offset;
      extents[n].end = t->offset + t->n_bytes;
      extents[n].index = i;
      n++;
    }
  qsort (extents, n, sizeof (Extent), extent_compare);
  for (guint k = 0; k < n; k++)
    {
      if (k > 0 && extents[k].begin < end)
        {
          set_where (ps, "tensor '%s'",
                     pool_string (ps, g_array_index (ps->names, gsize, extents[k].index)));
          return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                       "its data (bytes %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                       " of the data section) overlaps tensor '%s' (bytes %" G_GUINT64_FORMAT
                       " to %" G_GUINT64_FORMAT "). " ADVICE_DAMAGED,
                       extents[k].begin, extents[k].end,
                       pool_string (ps, g_array_index (ps->names, gsize, extents[last].index)),
                       extents[last].begin, extents[last].end);
        }
      if (extents[k].end > end)
        {
          end = extents[k].end;
          last = k;
        }
    }
  return TRUE;
}

static gboolean
parse_header (Parser *ps, TailorGguf *self)
{
  guint64 n_tensors;
  guint64 n_kv;
  guint32 version;
  gsize avail;

  set_where (ps, "header field magic");
  for (gsize k = 0; k < 4; k++)
    {
      if (k == ps->size)
        return need (ps, 4, "the magic number");
      if (ps->p[k] == GGUF_MAGIC[k])
        continue;
      return fail (ps, TAILOR_GGUF_ERROR_NOT_GGUF,
                   "the file does not start with the GGUF magic number; it is not a GGUF model. "
                   "Choose a .gguf file.");
    }
  ps->pos = 4;

  set_where (ps, "header field version");
  if (!read_u32 (ps, "the version", &version))
    return FALSE;
  if (version == 1)
    return fail (ps, TAILOR_GGUF_ERROR_VERSION,
                 "GGUF version 1 is no longer supported (Tailor reads versions 2 and 3). Convert "
                 "the model again with a current llama.cpp.");
  if (version != 0 && (version & 0xFFFF) == 0)
    return fail (ps, TAILOR_GGUF_ERROR_VERSION,
                 "version %u is not a GGUF version; the file is probably big-endian. Use a "
                 "little-endian GGUF file.",
                 version);
  if (version != 2 && version != 3)
    return fail (ps, TAILOR_GGUF_ERROR_VERSION,
                 "GGUF version %u is not supported (Tailor reads versions 2 and 3). Convert the "
                 "model again with a current llama.cpp, or update Tailor.",
                 version);
  self->version = version;

  set_where (ps, "header field n_tensors");
  if (!read_u64 (ps, "the tensor count", &n_tensors))
    return FALSE;
  if (n_tensors > G_MAXINT64)
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "the tensor count %" G_GINT64_FORMAT " is negative. " ADVICE_DAMAGED,
                 (gint64) n_tensors);
  set_where (ps, "header field n_kv");
  if (!read_u64 (ps, "the key-value count", &n_kv))
    return FALSE;
  if (n_kv > G_MAXINT64)
    return fail (ps, TAILOR_GGUF_ERROR_INVALID,
                 "the key-value count %" G_GINT64_FORMAT " is negative. " ADVICE_DAMAGED,
                 (gint64) n_kv);

  avail = remaining (ps);
  if (n_kv > avail / MIN_KV_BYTES)
    return fail (ps, TAILOR_GGUF_ERROR_TRUNCATED,
                 "%" G_GUINT64_FORMAT " key-value pairs cannot fit in the %" G_GSIZE_FORMAT
                 " bytes that remain (each needs at least %d). " ADVICE_TRUNCATED,
                 n_kv, avail, MIN_KV_BYTES);
  set_where (ps, "header field n_tensors");
  if (n_tensors > (avail - n_kv * MIN_KV_BYTES) / MIN_TENSOR_INFO_BYTES)
    return fail (ps, TAILOR_GGUF_ERROR_TRUNCATED,
                 "%" G_GUINT64_FORMAT " tensor infos cannot fit in the %" G_GSIZE_FORMAT
                 " bytes that remain after %" G_GUINT64_FORMAT
                 " key-value pairs (each needs at least %d). " ADVICE_TRUNCATED,
                 n_tensors, avail, n_kv, MIN_TENSOR_INFO_BYTES);
  if (n_kv > G_MAXINT || n_tensors > G_MAXINT)
    return fail (ps, TAILOR_GGUF_ERROR_UNSUPPORTED,
                 "more than %d key-value pairs or tensors cannot be held. " ADVICE_DAMAGED,
                 G_MAXINT);
  self->n_kv = (guint) n_kv;
  self->n_tensors = (guint) n_tensors;
  return TRUE;
}

static gboolean
parse (TailorGguf *self, GError **error)
{
  Parser ps = { 0 };
  gboolean ok = FALSE;

  ps.p = self->base;
  ps.size = self->size;
  ps.file = self->path;
  ps.error = error;
  ps.strings = g_byte_array_new ();
  ps.strs = g_array_new (FALSE, FALSE, sizeof (StrRef));
  ps.names = g_array_new (FALSE, FALSE, sizeof (gsize));
  ps.kv_index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ps.tensor_index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (!parse_header (&ps, self))
    goto out;
  ps.kvs = g_array_sized_new (FALSE, FALSE, sizeof (Kv), MIN (self->n_kv, MAX_RESERVE));
  ps.tensors =
    g_array_sized_new (FALSE, FALSE, sizeof (TailorGgufTensor), MIN (self->n_tensors, MAX_RESERVE));
  if (!parse_kvs (&ps, self->n_kv))
    goto out;
  if (!parse_alignment (&ps, &self->alignment))
    goto out;
  for (guint i = 0; i < self->n_tensors; i++)
    if (!parse_tensor_info (&ps, i, self->alignment))
      goto out;

  self->data_offset = ps.pos + (self->alignment - ps.pos % self->alignment) % self->alignment;
  if (self->data_offset > ps.size)
    {
      if (self->n_tensors > 0)
        {
          set_where (&ps, "tensor data section");
          fail (&ps, TAILOR_GGUF_ERROR_TRUNCATED,
                "the padding before the tensor data runs past the end of the file (data would "
                "start at offset %" G_GSIZE_FORMAT ", file has %" G_GSIZE_FORMAT
                "). " ADVICE_TRUNCATED,
                self->data_offset, ps.size);
          goto out;
        }
      /* llama.cpp does not look for padding when there are no tensors */
      self->data_offset = ps.size;
    }
  if (!check_tensor_data (&ps, self->data_offset))
    goto out;

  self->strings = (char *) g_byte_array_free (g_steal_pointer (&ps.strings), FALSE);
  self->strs = (StrRef *) (void *) g_array_free (g_steal_pointer (&ps.strs), FALSE);
  self->kvs = (Kv *) (void *) g_array_free (g_steal_pointer (&ps.kvs), FALSE);
  self->tensors = (TailorGgufTensor *) (void *) g_array_free (g_steal_pointer (&ps.tensors), FALSE);
  for (guint i = 0; i < self->n_tensors; i++)
    self->tensors[i].name = self->strings + self->strs[g_array_index (ps.names, gsize, i)].off;
  self->kv_index = g_steal_pointer (&ps.kv_index);
  self->tensor_index = g_steal_pointer (&ps.tensor_index);
  ok = TRUE;

out:
  g_free (ps.where);
  if (ps.strings != NULL)
    g_byte_array_unref (ps.strings);
  if (ps.strs != NULL)
    g_array_unref (ps.strs);
  if (ps.kvs != NULL)
    g_array_unref (ps.kvs);
  if (ps.tensors != NULL)
    g_array_unref (ps.tensors);
  g_array_unref (ps.names);
  g_clear_pointer (&ps.kv_index, g_hash_table_unref);
  g_clear_pointer (&ps.tensor_index, g_hash_table_unref);
  return ok;
}

static void
set_data_pointers (TailorGguf *self)
{
  for (guint i = 0; i < self->n_tensors; i++)
    {
      self->tensors[i].data = self->base + self->data_offset + self->tensors[i].offset;
      self->tensors[i].file = self;
    }
}

static TailorGguf *
gguf_new (const char *path, GBytes *bytes)
{
  TailorGguf *self = g_new0 (TailorGguf, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->path = g_strdup (path);
  self->bytes = g_bytes_ref (bytes);
  self->base = g_bytes_get_data (bytes, &self->size);
  return self;
}

TailorGguf *
tailor_gguf_new_from_bytes (GBytes *bytes, const char *name, GError **error)
{
  g_autoptr (TailorGguf) self = NULL;
  guintptr start;

  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = gguf_new (name, bytes);
  if (!parse (self, error))
    return NULL;

  /* Callers cast tensor data to float and friends: give them the file's alignment even when
   * the bytes sit at an arbitrary address, at the price of one copy. */
  start = (guintptr) self->base + self->data_offset;
  if (start % self->alignment != 0)
    {
      gsize align = MAX (self->alignment, sizeof (void *));
      void *copy = g_aligned_alloc (self->size, 1, align);

      memcpy (copy, self->base, self->size);
      g_bytes_unref (self->bytes);
      self->bytes = g_bytes_new_with_free_func (copy, self->size, g_aligned_free, copy);
      self->base = copy;
    }
  set_data_pointers (self);
  return g_steal_pointer (&self);
}

TailorGguf *
tailor_gguf_open (const char *path, GError **error)
{
  g_autoptr (GMappedFile) mapped = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (TailorGguf) self = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  mapped = g_mapped_file_new (path, FALSE, &local_error);
  if (mapped == NULL)
    {
      g_set_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_IO,
                   "%s: cannot open the model: %s. Check that the file exists and is readable.",
                   path, local_error->message);
      return NULL;
    }
  bytes = g_mapped_file_get_bytes (mapped);
  self = gguf_new (path, bytes);
  /* GLib reads an empty file into no mapping at all */
  self->mapped = g_mapped_file_get_length (mapped) > 0;
  if (!parse (self, error))
    return NULL;
  set_data_pointers (self);
  return g_steal_pointer (&self);
}

gboolean
tailor_gguf_is_mapped (TailorGguf *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->mapped;
}

void
tailor_gguf_release_pages (TailorGguf *self, const void *data, gsize n_bytes)
{
  gsize page = (gsize) sysconf (_SC_PAGESIZE);
  guintptr begin = (guintptr) data;
  guintptr end = begin + n_bytes;

  g_return_if_fail (self != NULL);
  g_return_if_fail (n_bytes == 0 || (begin >= (guintptr) self->base &&
                                     end <= (guintptr) self->base + self->size));

  if (!self->mapped)
    return;
  /* whole pages only: a page shared with a neighbour may still be in use in place */
  begin = (begin + page - 1) / page * page;
  end = end / page * page;
  if (end > begin)
    madvise ((void *) begin, end - begin, MADV_DONTNEED);
}

TailorGguf *
tailor_gguf_ref (TailorGguf *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
tailor_gguf_unref (TailorGguf *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_clear_pointer (&self->kv_index, g_hash_table_unref);
  g_clear_pointer (&self->tensor_index, g_hash_table_unref);
  g_free (self->tensors);
  g_free (self->kvs);
  g_free (self->strs);
  g_free (self->strings);
  g_bytes_unref (self->bytes);
  g_free (self->path);
  g_free (self);
}

const char *
tailor_gguf_get_path (TailorGguf *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->path;
}

guint32
tailor_gguf_get_version (TailorGguf *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->version;
}

gsize
tailor_gguf_get_alignment (TailorGguf *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->alignment;
}

gsize
tailor_gguf_get_file_size (TailorGguf *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->size;
}

gsize
tailor_gguf_get_data_offset (TailorGguf *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->data_offset;
}

guint
tailor_gguf_get_n_kv (TailorGguf *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_kv;
}

static const char *
string_at (TailorGguf *self, gsize index, gsize *len)
{
  if (len != NULL)
    *len = self->strs[index].len;
  return self->strings + self->strs[index].off;
}

const char *
tailor_gguf_get_key (TailorGguf *self, guint i)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (i < self->n_kv, NULL);
  return string_at (self, self->kvs[i].key, NULL);
}

gint
tailor_gguf_find_key (TailorGguf *self, const char *key)
{
  gpointer found;

  g_return_val_if_fail (self != NULL, -1);
  g_return_val_if_fail (key != NULL, -1);

  if (self->kv_index == NULL)
    return -1;
  found = g_hash_table_lookup (self->kv_index, key);
  return found == NULL ? -1 : (gint) GPOINTER_TO_UINT (found) - 1;
}

TailorGgufValueType
tailor_gguf_get_kv_type (TailorGguf *self, guint i)
{
  g_return_val_if_fail (self != NULL, TAILOR_GGUF_U8);
  g_return_val_if_fail (i < self->n_kv, TAILOR_GGUF_U8);
  return self->kvs[i].type;
}

TailorGgufValueType
tailor_gguf_get_arr_type (TailorGguf *self, guint i)
{
  g_return_val_if_fail (self != NULL, TAILOR_GGUF_U8);
  g_return_val_if_fail (i < self->n_kv, TAILOR_GGUF_U8);
  g_return_val_if_fail (self->kvs[i].type == TAILOR_GGUF_ARRAY, TAILOR_GGUF_U8);
  return self->kvs[i].arr_type;
}

guint64
tailor_gguf_get_arr_n (TailorGguf *self, guint i)
{
  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (i < self->n_kv, 0);
  g_return_val_if_fail (self->kvs[i].type == TAILOR_GGUF_ARRAY, 0);
  return self->kvs[i].n;
}

const char *
tailor_gguf_get_arr_str (TailorGguf *self, guint i, guint64 j, gsize *len)
{
  const Kv *kv;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (i < self->n_kv, NULL);
  kv = &self->kvs[i];
  g_return_val_if_fail (kv->type == TAILOR_GGUF_ARRAY && kv->arr_type == TAILOR_GGUF_STRING, NULL);
  g_return_val_if_fail (j < kv->n, NULL);
  return string_at (self, kv->value + (gsize) j, len);
}

static const guint8 *
array_element (TailorGguf *self, guint i, guint64 j)
{
  const Kv *kv = &self->kvs[i];

  return self->base + kv->value + (gsize) j * value_type_size[kv->arr_type];
}

double
tailor_gguf_get_arr_f64 (TailorGguf *self, guint i, guint64 j)
{
  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (i < self->n_kv, 0);
  g_return_val_if_fail (self->kvs[i].type == TAILOR_GGUF_ARRAY, 0);
  g_return_val_if_fail (value_type_is_number (self->kvs[i].arr_type), 0);
  g_return_val_if_fail (j < self->kvs[i].n, 0);
  return load_double (array_element (self, i, j), self->kvs[i].arr_type);
}

gint64
tailor_gguf_get_arr_i64 (TailorGguf *self, guint i, guint64 j)
{
  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (i < self->n_kv, 0);
  g_return_val_if_fail (self->kvs[i].type == TAILOR_GGUF_ARRAY, 0);
  g_return_val_if_fail (value_type_is_number (self->kvs[i].arr_type), 0);
  g_return_val_if_fail (j < self->kvs[i].n, 0);
  return load_i64 (array_element (self, i, j), self->kvs[i].arr_type);
}

double
tailor_gguf_get_val_f64 (TailorGguf *self, guint i)
{
  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (i < self->n_kv, 0);
  g_return_val_if_fail (value_type_is_number (self->kvs[i].type), 0);
  return load_double (self->base + self->kvs[i].value, self->kvs[i].type);
}

gint64
tailor_gguf_get_val_i64 (TailorGguf *self, guint i)
{
  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (i < self->n_kv, 0);
  g_return_val_if_fail (value_type_is_number (self->kvs[i].type), 0);
  return load_i64 (self->base + self->kvs[i].value, self->kvs[i].type);
}

guint64
tailor_gguf_get_val_u64 (TailorGguf *self, guint i)
{
  gint64 s;
  guint64 u;
  TailorGgufValueType t;

  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (i < self->n_kv, 0);
  t = self->kvs[i].type;
  g_return_val_if_fail (value_type_is_number (t), 0);
  if (t == TAILOR_GGUF_F32 || t == TAILOR_GGUF_F64)
    return (guint64) load_i64 (self->base + self->kvs[i].value, t);
  load_integer (self->base + self->kvs[i].value, t, &s, &u);
  return value_type_is_signed (t) ? (guint64) s : u;
}

const char *
tailor_gguf_get_val_str (TailorGguf *self, guint i, gsize *len)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (i < self->n_kv, NULL);
  g_return_val_if_fail (self->kvs[i].type == TAILOR_GGUF_STRING, NULL);
  return string_at (self, self->kvs[i].value, len);
}

static const char *
type_description (const Kv *kv)
{
  static const char *const array_names[] = {
    [TAILOR_GGUF_U8] = "array of u8",         [TAILOR_GGUF_I8] = "array of i8",
    [TAILOR_GGUF_U16] = "array of u16",       [TAILOR_GGUF_I16] = "array of i16",
    [TAILOR_GGUF_U32] = "array of u32",       [TAILOR_GGUF_I32] = "array of i32",
    [TAILOR_GGUF_F32] = "array of f32",       [TAILOR_GGUF_BOOL] = "array of bool",
    [TAILOR_GGUF_STRING] = "array of string", [TAILOR_GGUF_ARRAY] = "array of array",
    [TAILOR_GGUF_U64] = "array of u64",       [TAILOR_GGUF_I64] = "array of i64",
    [TAILOR_GGUF_F64] = "array of f64",
  };

  return kv->type == TAILOR_GGUF_ARRAY ? array_names[kv->arr_type] : value_type_names[kv->type];
}

/* The key's entry, or NULL with NOT_FOUND when absent and not_found_is_error. */
static const Kv *
find_kv (TailorGguf *self, const char *key, gboolean not_found_is_error, GError **error)
{
  gint i = tailor_gguf_find_key (self, key);

  if (i >= 0)
    return &self->kvs[i];
  if (not_found_is_error)
    g_set_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_NOT_FOUND,
                 "%s: key '%s' is missing. The model is incomplete or of a kind Tailor does not "
                 "support; try another GGUF file.",
                 self->path, key);
  return NULL;
}

static gboolean
wrong_type (TailorGguf *self, const char *key, const Kv *kv, const char *expected, GError **error)
{
  g_set_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_TYPE,
               "%s: key '%s' has type %s where %s is expected. The file was written by a tool "
               "Tailor does not understand; export the model again with llama.cpp.",
               self->path, key, type_description (kv), expected);
  return FALSE;
}

/* An integer value that fits in [min, max], as two's-complement bits. */
static gboolean
get_integer (TailorGguf *self,
             const char *key,
             gint64 min,
             guint64 max,
             const char *target,
             guint64 *bits,
             GError **error)
{
  const Kv *kv = find_kv (self, key, TRUE, error);
  gint64 s;
  guint64 u;
  gboolean fits;

  if (kv == NULL)
    return FALSE;
  if (!value_type_is_integer (kv->type))
    return wrong_type (self, key, kv, "an integer", error);
  load_integer (self->base + kv->value, kv->type, &s, &u);
  if (value_type_is_signed (kv->type))
    {
      fits = s >= min && (s < 0 || (guint64) s <= max);
      *bits = (guint64) s;
    }
  else
    {
      fits = u <= max && (min <= 0 || u >= (guint64) min);
      *bits = u;
    }
  if (!fits)
    {
      g_set_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_TYPE,
                   "%s: key '%s' has the value %s%" G_GUINT64_FORMAT ", which does not fit in "
                   "%s. The file is damaged or not meant for this model type; try another file.",
                   self->path, key, value_type_is_signed (kv->type) && s < 0 ? "-" : "",
                   value_type_is_signed (kv->type) && s < 0 ? -(guint64) s : *bits, target);
      return FALSE;
    }
  return TRUE;
}

gboolean
tailor_gguf_get_u32 (TailorGguf *self, const char *key, guint32 *out, GError **error)
{
  guint64 bits;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!get_integer (self, key, 0, G_MAXUINT32, "u32", &bits, error))
    return FALSE;
  *out = (guint32) bits;
  return TRUE;
}

gboolean
tailor_gguf_get_u64 (TailorGguf *self, const char *key, guint64 *out, GError **error)
{
  guint64 bits;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!get_integer (self, key, 0, G_MAXUINT64, "u64", &bits, error))
    return FALSE;
  *out = bits;
  return TRUE;
}

gboolean
tailor_gguf_get_i32 (TailorGguf *self, const char *key, gint32 *out, GError **error)
{
  guint64 bits;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!get_integer (self, key, G_MININT32, G_MAXINT32, "i32", &bits, error))
    return FALSE;
  *out = (gint32) (gint64) bits;
  return TRUE;
}

gboolean
tailor_gguf_get_f32 (TailorGguf *self, const char *key, float *out, GError **error)
{
  const Kv *kv;
  double d;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  kv = find_kv (self, key, TRUE, error);
  if (kv == NULL)
    return FALSE;
  if (kv->type != TAILOR_GGUF_F32 && kv->type != TAILOR_GGUF_F64)
    return wrong_type (self, key, kv, "f32 or f64", error);
  d = load_double (self->base + kv->value, kv->type);
  if (isfinite (d) && fabs (d) > FLT_MAX)
    {
      g_set_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_TYPE,
                   "%s: key '%s' has the value %g, which does not fit in f32. The file is "
                   "damaged or not meant for this model type; try another file.",
                   self->path, key, d);
      return FALSE;
    }
  *out = (float) d;
  return TRUE;
}

gboolean
tailor_gguf_get_bool (TailorGguf *self, const char *key, gboolean *out, GError **error)
{
  const Kv *kv;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  kv = find_kv (self, key, TRUE, error);
  if (kv == NULL)
    return FALSE;
  if (kv->type != TAILOR_GGUF_BOOL)
    return wrong_type (self, key, kv, "bool", error);
  *out = self->base[kv->value] != 0;
  return TRUE;
}

const char *
tailor_gguf_get_string (TailorGguf *self, const char *key, GError **error)
{
  const Kv *kv;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  kv = find_kv (self, key, TRUE, error);
  if (kv == NULL)
    return NULL;
  if (kv->type != TAILOR_GGUF_STRING)
    {
      wrong_type (self, key, kv, "string", error);
      return NULL;
    }
  return string_at (self, kv->value, NULL);
}

gboolean
tailor_gguf_lookup_u32 (
  TailorGguf *self, const char *key, guint32 def, guint32 *out, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  if (find_kv (self, key, FALSE, NULL) == NULL)
    {
      *out = def;
      return TRUE;
    }
  return tailor_gguf_get_u32 (self, key, out, error);
}

gboolean
tailor_gguf_lookup_f32 (TailorGguf *self, const char *key, float def, float *out, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  if (find_kv (self, key, FALSE, NULL) == NULL)
    {
      *out = def;
      return TRUE;
    }
  return tailor_gguf_get_f32 (self, key, out, error);
}

gboolean
tailor_gguf_lookup_bool (
  TailorGguf *self, const char *key, gboolean def, gboolean *out, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  if (find_kv (self, key, FALSE, NULL) == NULL)
    {
      *out = def;
      return TRUE;
    }
  return tailor_gguf_get_bool (self, key, out, error);
}

guint
tailor_gguf_get_n_tensors (TailorGguf *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_tensors;
}

const TailorGgufTensor *
tailor_gguf_get_tensor (TailorGguf *self, guint i)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (i < self->n_tensors, NULL);
  return &self->tensors[i];
}

const TailorGgufTensor *
tailor_gguf_find_tensor (TailorGguf *self, const char *name)
{
  gpointer found;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  if (self->tensor_index == NULL)
    return NULL;
  found = g_hash_table_lookup (self->tensor_index, name);
  return found == NULL ? NULL : &self->tensors[GPOINTER_TO_UINT (found) - 1];
}
