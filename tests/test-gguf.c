/* SPDX-License-Identifier: GPL-3.0-or-later */
/* GGUF reader and writer: round trips, layout, every validation error, atomic writes. */

#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tailor-gguf.h"

#define NAME "crafted.gguf"

/* ---- a byte builder for hand-made files ---- */

static void
put_raw (GByteArray *b, const void *p, gsize n)
{
  g_byte_array_append (b, p, (guint) n);
}

static void
put_u8 (GByteArray *b, guint8 v)
{
  put_raw (b, &v, 1);
}

static void
put_u16 (GByteArray *b, guint16 v)
{
  v = GUINT16_TO_LE (v);
  put_raw (b, &v, 2);
}

static void
put_u32 (GByteArray *b, guint32 v)
{
  v = GUINT32_TO_LE (v);
  put_raw (b, &v, 4);
}

static void
put_u64 (GByteArray *b, guint64 v)
{
  v = GUINT64_TO_LE (v);
  put_raw (b, &v, 8);
}

static void
put_f32 (GByteArray *b, float f)
{
  guint32 bits;

  memcpy (&bits, &f, 4);
  put_u32 (b, bits);
}

static void
put_f64 (GByteArray *b, double f)
{
  guint64 bits;

  memcpy (&bits, &f, 8);
  put_u64 (b, bits);
}

static void
put_strn (GByteArray *b, const char *s, gsize len)
{
  put_u64 (b, len);
  put_raw (b, s, len);
}

static void
put_str (GByteArray *b, const char *s)
{
  put_strn (b, s, strlen (s));
}

static void
put_pad (GByteArray *b, gsize alignment)
{
  while (b->len % alignment != 0)
    put_u8 (b, 0);
}

static GByteArray *
begin_file (guint32 version, guint64 n_tensors, guint64 n_kv)
{
  GByteArray *b = g_byte_array_new ();

  put_raw (b, "GGUF", 4);
  put_u32 (b, version);
  put_u64 (b, n_tensors);
  put_u64 (b, n_kv);
  return b;
}

/* key, then its value type */
static void
put_key (GByteArray *b, const char *key, TailorGgufValueType type)
{
  put_str (b, key);
  put_u32 (b, type);
}

static void
put_kv_u32 (GByteArray *b, const char *key, guint32 v)
{
  put_key (b, key, TAILOR_GGUF_U32);
  put_u32 (b, v);
}

static void
put_kv_str (GByteArray *b, const char *key, const char *v)
{
  put_key (b, key, TAILOR_GGUF_STRING);
  put_str (b, v);
}

typedef struct
{
  const char *name;
  guint32 n_dims;
  gint64 ne[5]; /* one more than GGUF allows, to write a five-dimensional info */
  guint32 type;
  guint64 offset;
} Info;

static void
put_info (GByteArray *b, const Info *info)
{
  put_str (b, info->name);
  put_u32 (b, info->n_dims);
  for (guint d = 0; d < info->n_dims; d++)
    put_u64 (b, (guint64) info->ne[d]);
  put_u32 (b, info->type);
  put_u64 (b, info->offset);
}

/* A v3 file with one string KV, the given tensor infos and data_bytes zero bytes of data. */
static GByteArray *
craft (const Info *infos, guint n, gsize data_bytes)
{
  GByteArray *b = begin_file (3, n, 1);

  put_kv_str (b, "general.architecture", "llama");
  for (guint i = 0; i < n; i++)
    put_info (b, &infos[i]);
  put_pad (b, TAILOR_GGUF_DEFAULT_ALIGNMENT);
  for (gsize i = 0; i < data_bytes; i++)
    put_u8 (b, 0);
  return b;
}

static TailorGguf *
parse (GByteArray *b, GError **error)
{
  g_autoptr (GBytes) bytes = g_bytes_new (b->data, b->len);

  return tailor_gguf_new_from_bytes (bytes, NAME, error);
}

static void
assert_contains (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("expected \"%s\" in \"%s\"", needle, haystack);
}

/* The file is refused with code, and the message names the file, the field and the fault. */
static void
assert_rejected (GByteArray *b, TailorGgufError code, const char *field, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) gguf = parse (b, &error);

  g_assert_null (gguf);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_error (error, TAILOR_GGUF_ERROR, code);
  g_assert_true (g_str_has_prefix (error->message, NAME ": "));
  assert_contains (error->message, field);
  if (what != NULL)
    assert_contains (error->message, what);
}

static void
assert_parses (GByteArray *b)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) gguf = parse (b, &error);

  g_assert_no_error (error);
  g_assert_nonnull (gguf);
}

static GBytes *
random_bytes (GRand *rand, gsize n)
{
  guint8 *p = g_malloc (n);

  for (gsize i = 0; i < n; i++)
    p[i] = (guint8) g_rand_int_range (rand, 0, 256);
  return g_bytes_new_take (p, n);
}

static char *
make_tmp_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("tailor-gguf-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_tree (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        remove_tree (path);
      else
        g_unlink (path);
    }
  g_rmdir (dir);
}

static guint
count_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* ---- round trips ---- */

/* Every scalar type and every array element type, hand-encoded. */
static GByteArray *
craft_every_type (void)
{
  GByteArray *b = begin_file (3, 0, 26);

  put_key (b, "t.u8", TAILOR_GGUF_U8);
  put_u8 (b, 200);
  put_key (b, "t.i8", TAILOR_GGUF_I8);
  put_u8 (b, (guint8) -100);
  put_key (b, "t.u16", TAILOR_GGUF_U16);
  put_u16 (b, 60000);
  put_key (b, "t.i16", TAILOR_GGUF_I16);
  put_u16 (b, (guint16) -30000);
  put_key (b, "t.u32", TAILOR_GGUF_U32);
  put_u32 (b, 4000000000u);
  put_key (b, "t.i32", TAILOR_GGUF_I32);
  put_u32 (b, (guint32) -2000000000);
  put_key (b, "t.f32", TAILOR_GGUF_F32);
  put_f32 (b, 1.5f);
  put_key (b, "t.bool", TAILOR_GGUF_BOOL);
  put_u8 (b, 1);
  put_key (b, "t.string", TAILOR_GGUF_STRING);
  put_str (b, "h\xc3\xa9llo");
  put_key (b, "t.u64", TAILOR_GGUF_U64);
  put_u64 (b, G_GUINT64_CONSTANT (9223372036854775813));
  put_key (b, "t.i64", TAILOR_GGUF_I64);
  put_u64 (b, (guint64) G_GINT64_CONSTANT (-4611686018427387904));
  put_key (b, "t.f64", TAILOR_GGUF_F64);
  put_f64 (b, 0.1);

  put_key (b, "a.u8", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_U8);
  put_u64 (b, 3);
  put_u8 (b, 1);
  put_u8 (b, 2);
  put_u8 (b, 255);
  put_key (b, "a.i8", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_I8);
  put_u64 (b, 2);
  put_u8 (b, (guint8) -1);
  put_u8 (b, 5);
  put_key (b, "a.u16", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_U16);
  put_u64 (b, 2);
  put_u16 (b, 65535);
  put_u16 (b, 7);
  put_key (b, "a.i16", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_I16);
  put_u64 (b, 1);
  put_u16 (b, (guint16) -2);
  put_key (b, "a.u32", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_U32);
  put_u64 (b, 2);
  put_u32 (b, 4294967295u);
  put_u32 (b, 0);
  put_key (b, "a.i32", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_I32);
  put_u64 (b, 2);
  put_u32 (b, (guint32) -7);
  put_u32 (b, 32);
  put_key (b, "a.f32", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_F32);
  put_u64 (b, 2);
  put_f32 (b, -0.25f);
  put_f32 (b, 3e38f);
  put_key (b, "a.bool", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_BOOL);
  put_u64 (b, 3);
  put_u8 (b, 1);
  put_u8 (b, 0);
  put_u8 (b, 1);
  put_key (b, "a.string", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_STRING);
  put_u64 (b, 3);
  put_str (b, "a");
  put_str (b, "");
  put_strn (b, "x\0y", 3);
  put_key (b, "a.u64", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_U64);
  put_u64 (b, 1);
  put_u64 (b, G_MAXUINT64);
  put_key (b, "a.i64", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_I64);
  put_u64 (b, 1);
  put_u64 (b, (guint64) G_MININT64);
  put_key (b, "a.f64", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_F64);
  put_u64 (b, 2);
  put_f64 (b, 1e300);
  put_f64 (b, -2.5);
  put_key (b, "a.empty", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_U32);
  put_u64 (b, 0);
  put_key (b, "general.name", TAILOR_GGUF_STRING);
  put_str (b, "every type");
  /* the writer pads the end of the metadata even when there are no tensors */
  put_pad (b, TAILOR_GGUF_DEFAULT_ALIGNMENT);
  return b;
}

static void
check_every_type (TailorGguf *g)
{
  gint i;
  gsize len;

  g_assert_cmpuint (tailor_gguf_get_version (g), ==, 3);
  g_assert_cmpuint (tailor_gguf_get_n_kv (g), ==, 26);
  g_assert_cmpuint (tailor_gguf_get_n_tensors (g), ==, 0);
  g_assert_cmpstr (tailor_gguf_get_key (g, 0), ==, "t.u8");
  g_assert_cmpstr (tailor_gguf_get_key (g, 25), ==, "general.name");

  i = tailor_gguf_find_key (g, "t.u8");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_U8);
  g_assert_cmpint (tailor_gguf_get_val_i64 (g, i), ==, 200);
  i = tailor_gguf_find_key (g, "t.i8");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_I8);
  g_assert_cmpint (tailor_gguf_get_val_i64 (g, i), ==, -100);
  i = tailor_gguf_find_key (g, "t.u16");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_U16);
  g_assert_cmpint (tailor_gguf_get_val_i64 (g, i), ==, 60000);
  i = tailor_gguf_find_key (g, "t.i16");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_I16);
  g_assert_cmpint (tailor_gguf_get_val_i64 (g, i), ==, -30000);
  i = tailor_gguf_find_key (g, "t.u32");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_U32);
  g_assert_cmpuint (tailor_gguf_get_val_u64 (g, i), ==, 4000000000u);
  i = tailor_gguf_find_key (g, "t.i32");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_I32);
  g_assert_cmpint (tailor_gguf_get_val_i64 (g, i), ==, -2000000000);
  i = tailor_gguf_find_key (g, "t.f32");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_F32);
  g_assert_cmpfloat (tailor_gguf_get_val_f64 (g, i), ==, 1.5);
  i = tailor_gguf_find_key (g, "t.bool");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_BOOL);
  g_assert_cmpint (tailor_gguf_get_val_i64 (g, i), ==, 1);
  i = tailor_gguf_find_key (g, "t.string");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_STRING);
  g_assert_cmpstr (tailor_gguf_get_val_str (g, i, &len), ==, "h\xc3\xa9llo");
  g_assert_cmpuint (len, ==, 6);
  i = tailor_gguf_find_key (g, "t.u64");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_U64);
  g_assert_cmpuint (tailor_gguf_get_val_u64 (g, i), ==, G_GUINT64_CONSTANT (9223372036854775813));
  i = tailor_gguf_find_key (g, "t.i64");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_I64);
  g_assert_cmpint (tailor_gguf_get_val_i64 (g, i), ==, G_GINT64_CONSTANT (-4611686018427387904));
  i = tailor_gguf_find_key (g, "t.f64");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_F64);
  g_assert_cmpfloat (tailor_gguf_get_val_f64 (g, i), ==, 0.1);

  i = tailor_gguf_find_key (g, "a.u8");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_ARRAY);
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_U8);
  g_assert_cmpuint (tailor_gguf_get_arr_n (g, i), ==, 3);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 2), ==, 255);
  i = tailor_gguf_find_key (g, "a.i8");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_I8);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 0), ==, -1);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 1), ==, 5);
  i = tailor_gguf_find_key (g, "a.u16");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_U16);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 0), ==, 65535);
  i = tailor_gguf_find_key (g, "a.i16");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_I16);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 0), ==, -2);
  i = tailor_gguf_find_key (g, "a.u32");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_U32);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 0), ==, 4294967295);
  i = tailor_gguf_find_key (g, "a.i32");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_I32);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 0), ==, -7);
  g_assert_cmpfloat (tailor_gguf_get_arr_f64 (g, i, 1), ==, 32.0);
  i = tailor_gguf_find_key (g, "a.f32");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_F32);
  g_assert_cmpfloat (tailor_gguf_get_arr_f64 (g, i, 0), ==, -0.25);
  g_assert_cmpfloat (tailor_gguf_get_arr_f64 (g, i, 1), ==, (double) 3e38f);
  i = tailor_gguf_find_key (g, "a.bool");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_BOOL);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 0), ==, 1);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 1), ==, 0);
  i = tailor_gguf_find_key (g, "a.string");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_STRING);
  g_assert_cmpuint (tailor_gguf_get_arr_n (g, i), ==, 3);
  g_assert_cmpstr (tailor_gguf_get_arr_str (g, i, 0, &len), ==, "a");
  g_assert_cmpuint (len, ==, 1);
  g_assert_cmpstr (tailor_gguf_get_arr_str (g, i, 1, &len), ==, "");
  g_assert_cmpuint (len, ==, 0);
  g_assert_cmpmem (tailor_gguf_get_arr_str (g, i, 2, &len), 4, "x\0y", 4);
  g_assert_cmpuint (len, ==, 3);
  i = tailor_gguf_find_key (g, "a.u64");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_U64);
  g_assert_cmpuint ((guint64) tailor_gguf_get_arr_i64 (g, i, 0), ==, G_MAXUINT64);
  i = tailor_gguf_find_key (g, "a.i64");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_I64);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 0), ==, G_MININT64);
  i = tailor_gguf_find_key (g, "a.f64");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_F64);
  g_assert_cmpfloat (tailor_gguf_get_arr_f64 (g, i, 0), ==, 1e300);
  g_assert_cmpfloat (tailor_gguf_get_arr_f64 (g, i, 1), ==, -2.5);
  i = tailor_gguf_find_key (g, "a.empty");
  g_assert_cmpuint (tailor_gguf_get_arr_n (g, i), ==, 0);
  g_assert_cmpint (tailor_gguf_find_key (g, "absent"), ==, -1);
}

static void
test_reads_and_copies_every_value_type (void)
{
  g_autoptr (GByteArray) crafted = craft_every_type ();
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) g = parse (crafted, &error);
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (GBytes) copied = NULL;
  g_autoptr (TailorGguf) again = NULL;

  g_assert_no_error (error);
  check_every_type (g);

  /* copy_kv of every key re-encodes each value exactly: the copy is byte-identical */
  for (guint i = 0; i < tailor_gguf_get_n_kv (g); i++)
    tailor_gguf_writer_copy_kv (w, g, i);
  copied = tailor_gguf_writer_to_bytes (w);
  g_assert_cmpmem (g_bytes_get_data (copied, NULL), g_bytes_get_size (copied), crafted->data,
                   crafted->len);
  again = tailor_gguf_new_from_bytes (copied, "copy.gguf", &error);
  g_assert_no_error (error);
  check_every_type (again);
}

static void
test_reads_version_2 (void)
{
  g_autoptr (GByteArray) b = begin_file (2, 0, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) g = NULL;

  put_kv_u32 (b, "llama.block_count", 7);
  g = parse (b, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_gguf_get_version (g), ==, 2);
  g_assert_cmpstr (tailor_gguf_get_path (g), ==, NAME);
}

static void
test_writer_setters_round_trip (void)
{
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (TailorGguf) g = NULL;
  g_autoptr (GError) error = NULL;
  const char *const strs[] = { "<s>", "\xe2\x96\x81the", "" };
  const float f32s[] = { 0.5f, -1e-8f };
  const gint32 i32s[] = { -3, 1, G_MAXINT32 };
  const guint32 u32s[] = { G_MAXUINT32 };
  guint32 u32;
  gint32 i32;
  guint64 u64;
  float f;
  gboolean b;
  gint i;

  tailor_gguf_writer_set_string (w, "general.architecture", "llama");
  tailor_gguf_writer_set_u32 (w, "llama.block_count", 22);
  tailor_gguf_writer_set_i32 (w, "x.i32", -5);
  tailor_gguf_writer_set_u64 (w, "x.u64", G_GUINT64_CONSTANT (1) << 40);
  tailor_gguf_writer_set_f32 (w, "x.f32", 1e-5f);
  tailor_gguf_writer_set_bool (w, "x.bool", TRUE);
  tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.tokens", strs, 3);
  tailor_gguf_writer_set_array_f32 (w, "tokenizer.ggml.scores", f32s, 2);
  tailor_gguf_writer_set_array_i32 (w, "x.ai32", i32s, 3);
  tailor_gguf_writer_set_array_u32 (w, "x.au32", u32s, 1);
  bytes = tailor_gguf_writer_to_bytes (w);
  g = tailor_gguf_new_from_bytes (bytes, "set.gguf", &error);
  g_assert_no_error (error);

  g_assert_cmpuint (tailor_gguf_get_n_kv (g), ==, 10);
  g_assert_cmpstr (tailor_gguf_get_string (g, "general.architecture", &error), ==, "llama");
  g_assert_true (tailor_gguf_get_u32 (g, "llama.block_count", &u32, &error));
  g_assert_cmpuint (u32, ==, 22);
  g_assert_true (tailor_gguf_get_i32 (g, "x.i32", &i32, &error));
  g_assert_cmpint (i32, ==, -5);
  g_assert_true (tailor_gguf_get_u64 (g, "x.u64", &u64, &error));
  g_assert_cmpuint (u64, ==, G_GUINT64_CONSTANT (1) << 40);
  g_assert_true (tailor_gguf_get_f32 (g, "x.f32", &f, &error));
  g_assert_cmpfloat (f, ==, 1e-5f);
  g_assert_true (tailor_gguf_get_bool (g, "x.bool", &b, &error));
  g_assert_true (b);
  g_assert_no_error (error);

  i = tailor_gguf_find_key (g, "tokenizer.ggml.tokens");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_STRING);
  g_assert_cmpstr (tailor_gguf_get_arr_str (g, i, 1, NULL), ==, "\xe2\x96\x81the");
  g_assert_cmpstr (tailor_gguf_get_arr_str (g, i, 2, NULL), ==, "");
  i = tailor_gguf_find_key (g, "tokenizer.ggml.scores");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_F32);
  g_assert_cmpfloat (tailor_gguf_get_arr_f64 (g, i, 1), ==, -1e-8f);
  i = tailor_gguf_find_key (g, "x.ai32");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_I32);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 0), ==, -3);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 2), ==, G_MAXINT32);
  i = tailor_gguf_find_key (g, "x.au32");
  g_assert_cmpint (tailor_gguf_get_arr_type (g, i), ==, TAILOR_GGUF_U32);
  g_assert_cmpint (tailor_gguf_get_arr_i64 (g, i, 0), ==, G_MAXUINT32);
}

static void
test_writer_replaces_existing_key_in_place (void)
{
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (TailorGguf) g = NULL;
  g_autoptr (GError) error = NULL;

  tailor_gguf_writer_set_u32 (w, "a", 1);
  tailor_gguf_writer_set_u32 (w, "b", 2);
  tailor_gguf_writer_set_u32 (w, "c", 3);
  tailor_gguf_writer_set_string (w, "a", "now a string");
  bytes = tailor_gguf_writer_to_bytes (w);
  g = tailor_gguf_new_from_bytes (bytes, "replace.gguf", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_gguf_get_n_kv (g), ==, 3);
  g_assert_cmpstr (tailor_gguf_get_key (g, 0), ==, "a");
  g_assert_cmpstr (tailor_gguf_get_key (g, 1), ==, "b");
  g_assert_cmpstr (tailor_gguf_get_key (g, 2), ==, "c");
  g_assert_cmpint (tailor_gguf_get_kv_type (g, 0), ==, TAILOR_GGUF_STRING);
  g_assert_cmpstr (tailor_gguf_get_val_str (g, 0, NULL), ==, "now a string");
}

typedef struct
{
  const char *name;
  TailorType type;
  guint n_dims;
  gint64 ne[4];
  gsize n_bytes; /* from the block sizes: F16 2/1, Q8_0 34/32, Q4_K 144/256 */
} TensorCase;

static const TensorCase tensor_cases[] = {
  { "token_embd.weight", TAILOR_TYPE_Q4_K, 2, { 512, 3, 1, 1 }, 2 * 144 * 3 },
  { "output_norm.weight", TAILOR_TYPE_F32, 1, { 13, 1, 1, 1 }, 13 * 4 },
  { "blk.0.attn_q.weight", TAILOR_TYPE_Q8_0, 2, { 64, 5, 1, 1 }, 2 * 34 * 5 },
  { "blk.0.ffn_up.weight", TAILOR_TYPE_F16, 3, { 7, 3, 2, 1 }, 7 * 2 * 3 * 2 },
  { "blk.0.ffn_down.weight", TAILOR_TYPE_Q4_K, 4, { 256, 1, 1, 2 }, 144 * 2 },
};

static TailorGgufWriter *
make_tensor_writer (guint32 alignment, GBytes **data)
{
  TailorGgufWriter *w = tailor_gguf_writer_new ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autoptr (GError) error = NULL;

  tailor_gguf_writer_set_string (w, "general.architecture", "llama");
  tailor_gguf_writer_set_alignment (w, alignment);
  tailor_gguf_writer_set_u32 (w, "llama.block_count", 1);
  for (guint i = 0; i < G_N_ELEMENTS (tensor_cases); i++)
    {
      data[i] = random_bytes (rand, tensor_cases[i].n_bytes);
      g_assert_true (tailor_gguf_writer_add_tensor (w, tensor_cases[i].name, tensor_cases[i].type,
                                                    tensor_cases[i].n_dims, tensor_cases[i].ne,
                                                    data[i], &error));
      g_assert_no_error (error);
    }
  return w;
}

/* Layout as llama.cpp expects it: offsets are the padded running sum, data section and every
 * tensor aligned, padding after the last tensor too. */
static void
check_tensors (TailorGguf *g, guint32 alignment, GBytes **data)
{
  guint64 expected_offset = 0;
  gint i;

  g_assert_cmpuint (tailor_gguf_get_alignment (g), ==, alignment);
  g_assert_cmpuint (tailor_gguf_get_data_offset (g) % alignment, ==, 0);
  g_assert_cmpuint (tailor_gguf_get_file_size (g) % alignment, ==, 0);
  i = tailor_gguf_find_key (g, "general.alignment");
  if (alignment == TAILOR_GGUF_DEFAULT_ALIGNMENT)
    g_assert_cmpint (i, ==, -1);
  else
    {
      g_assert_cmpint (tailor_gguf_get_kv_type (g, i), ==, TAILOR_GGUF_U32);
      g_assert_cmpuint (tailor_gguf_get_val_u64 (g, i), ==, alignment);
    }

  g_assert_cmpuint (tailor_gguf_get_n_tensors (g), ==, G_N_ELEMENTS (tensor_cases));
  for (guint k = 0; k < G_N_ELEMENTS (tensor_cases); k++)
    {
      const TensorCase *c = &tensor_cases[k];
      const TailorGgufTensor *t = tailor_gguf_get_tensor (g, k);
      gint64 n_elements = 1;

      g_assert_true (tailor_gguf_find_tensor (g, c->name) == t);
      g_assert_cmpstr (t->name, ==, c->name);
      g_assert_cmpint (t->type, ==, c->type);
      g_assert_cmpuint (t->n_dims, ==, c->n_dims);
      for (guint d = 0; d < 4; d++)
        {
          g_assert_cmpint (t->ne[d], ==, c->ne[d]);
          n_elements *= c->ne[d];
        }
      g_assert_cmpint (t->n_elements, ==, n_elements);
      g_assert_cmpuint (t->n_bytes, ==, c->n_bytes);
      g_assert_cmpuint (t->offset, ==, expected_offset);
      g_assert_cmpuint ((guintptr) t->data % alignment, ==, 0);
      g_assert_cmpmem (t->data, t->n_bytes, g_bytes_get_data (data[k], NULL), c->n_bytes);
      expected_offset += (c->n_bytes + alignment - 1) / alignment * alignment;
    }
  g_assert_null (tailor_gguf_find_tensor (g, "absent.weight"));
  g_assert_cmpuint (tailor_gguf_get_data_offset (g) + expected_offset, ==,
                    tailor_gguf_get_file_size (g));
}

/* The address range /proc/self/maps shows for a mapping of path. */
static gboolean
find_mapping (const char *path, guintptr *start, guintptr *end)
{
  g_autofree char *maps = NULL;
  g_autofree char *real = realpath (path, NULL);
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL))
    return FALSE;
  lines = g_strsplit (maps, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_suffix (lines[i], real))
      {
        guint64 s = g_ascii_strtoull (lines[i], NULL, 16);
        guint64 e = g_ascii_strtoull (strchr (lines[i], '-') + 1, NULL, 16);

        *start = (guintptr) s;
        *end = (guintptr) e;
        return TRUE;
      }
  return FALSE;
}

static void
test_tensors_round_trip_through_a_mapped_file (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "model.gguf", NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  GBytes *data[G_N_ELEMENTS (tensor_cases)];
  g_autoptr (TailorGgufWriter) w = make_tensor_writer (64, data);
  g_autoptr (TailorGguf) g = NULL;
  g_autoptr (GBytes) in_memory = tailor_gguf_writer_to_bytes (w);
  gsize len;
  guintptr start = 0, end = 0;

  g_assert_true (tailor_gguf_writer_write (w, path, &error));
  g_assert_no_error (error);
  /* the streamed file and the in-memory encoding are the same bytes */
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpmem (contents, len, g_bytes_get_data (in_memory, NULL), g_bytes_get_size (in_memory));

  g = tailor_gguf_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tailor_gguf_get_path (g), ==, path);
  g_assert_cmpuint (tailor_gguf_get_file_size (g), ==, len);
  check_tensors (g, 64, data);

  /* zero-copy: every tensor's data lies inside the file's mapping */
  g_assert_true (find_mapping (path, &start, &end));
  for (guint k = 0; k < tailor_gguf_get_n_tensors (g); k++)
    {
      const TailorGgufTensor *t = tailor_gguf_get_tensor (g, k);

      g_assert_cmpuint ((guintptr) t->data, >=, start);
      g_assert_cmpuint ((guintptr) t->data + t->n_bytes, <=, end);
    }

  for (guint k = 0; k < G_N_ELEMENTS (tensor_cases); k++)
    g_bytes_unref (data[k]);
  g_clear_pointer (&g, tailor_gguf_unref);
  remove_tree (dir);
}

static void
test_tensors_from_bytes_are_aligned_and_zero_copy (void)
{
  GBytes *data[G_N_ELEMENTS (tensor_cases)];
  g_autoptr (TailorGgufWriter) w = make_tensor_writer (TAILOR_GGUF_DEFAULT_ALIGNMENT, data);
  g_autoptr (GBytes) encoded = tailor_gguf_writer_to_bytes (w);
  g_autoptr (GError) error = NULL;
  gsize n = g_bytes_get_size (encoded);
  guint8 *aligned = g_aligned_alloc (n, 1, 64);
  guint8 *shifted = g_malloc (n + 1);
  g_autoptr (GBytes) aligned_bytes = NULL;
  g_autoptr (GBytes) shifted_bytes = NULL;
  g_autoptr (TailorGguf) g = NULL;
  g_autoptr (TailorGguf) h = NULL;

  memcpy (aligned, g_bytes_get_data (encoded, NULL), n);
  aligned_bytes = g_bytes_new_with_free_func (aligned, n, g_aligned_free, aligned);
  g = tailor_gguf_new_from_bytes (aligned_bytes, "aligned.gguf", &error);
  g_assert_no_error (error);
  check_tensors (g, TAILOR_GGUF_DEFAULT_ALIGNMENT, data);
  for (guint k = 0; k < tailor_gguf_get_n_tensors (g); k++)
    {
      const guint8 *p = tailor_gguf_get_tensor (g, k)->data;

      g_assert_true (p >= aligned && p < aligned + n);
    }

  /* bytes at an odd address still give aligned tensor data */
  memcpy (shifted + 1, g_bytes_get_data (encoded, NULL), n);
  shifted_bytes = g_bytes_new_with_free_func (shifted + 1, n, g_free, shifted);
  h = tailor_gguf_new_from_bytes (shifted_bytes, "shifted.gguf", &error);
  g_assert_no_error (error);
  check_tensors (h, TAILOR_GGUF_DEFAULT_ALIGNMENT, data);

  for (guint k = 0; k < G_N_ELEMENTS (tensor_cases); k++)
    g_bytes_unref (data[k]);
}

static void
test_copied_alignment_keeps_the_layout_valid (void)
{
  GBytes *data[G_N_ELEMENTS (tensor_cases)];
  g_autoptr (TailorGgufWriter) w = make_tensor_writer (128, data);
  g_autoptr (GBytes) encoded = tailor_gguf_writer_to_bytes (w);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) g = tailor_gguf_new_from_bytes (encoded, "src.gguf", &error);
  g_autoptr (TailorGgufWriter) copy = tailor_gguf_writer_new ();
  g_autoptr (GBytes) copied = NULL;
  g_autoptr (TailorGguf) h = NULL;

  g_assert_no_error (error);
  for (guint i = 0; i < tailor_gguf_get_n_kv (g); i++)
    tailor_gguf_writer_copy_kv (copy, g, i);
  for (guint k = 0; k < tailor_gguf_get_n_tensors (g); k++)
    {
      const TailorGgufTensor *t = tailor_gguf_get_tensor (g, k);
      g_autoptr (GBytes) td = g_bytes_new_static (t->data, t->n_bytes);

      g_assert_true (
        tailor_gguf_writer_add_tensor (copy, t->name, t->type, t->n_dims, t->ne, td, &error));
    }
  copied = tailor_gguf_writer_to_bytes (copy);
  g_assert_cmpmem (g_bytes_get_data (copied, NULL), g_bytes_get_size (copied),
                   g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded));
  h = tailor_gguf_new_from_bytes (copied, "copy.gguf", &error);
  g_assert_no_error (error);
  check_tensors (h, 128, data);

  for (guint k = 0; k < G_N_ELEMENTS (tensor_cases); k++)
    g_bytes_unref (data[k]);
}

static void
test_writer_rejects_bad_tensors (void)
{
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (GBytes) d34 = g_bytes_new_take (g_malloc0 (34), 34);
  g_autoptr (GBytes) d4 = g_bytes_new_take (g_malloc0 (4), 4);
  g_autoptr (GError) error = NULL;
  const gint64 ne32[] = { 32, 1 };
  const gint64 ne33[] = { 33, 1 };
  const gint64 ne1[] = { 1 };
  g_autofree char *long_name = g_strnfill (64, 'x');

  g_assert_false (tailor_gguf_writer_add_tensor (w, "q", TAILOR_TYPE_Q8_0, 2, ne33, d34, &error));
  g_assert_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_INVALID);
  assert_contains (error->message, "tensor 'q'");
  g_clear_error (&error);
  g_assert_false (tailor_gguf_writer_add_tensor (w, "q", TAILOR_TYPE_Q8_0, 2, ne32, d4, &error));
  g_assert_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (tailor_gguf_writer_add_tensor (w, "q", (TailorType) 4, 1, ne32, d34, &error));
  g_assert_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_assert_false (
    tailor_gguf_writer_add_tensor (w, long_name, TAILOR_TYPE_F32, 1, ne1, d4, &error));
  g_assert_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (tailor_gguf_writer_add_tensor (w, "q", TAILOR_TYPE_Q8_0, 2, ne32, d34, &error));
  g_assert_false (tailor_gguf_writer_add_tensor (w, "q", TAILOR_TYPE_Q8_0, 2, ne32, d34, &error));
  g_assert_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_INVALID);
}

/* ---- typed getters ---- */

static void
test_typed_getters_convert_fitting_values (void)
{
  g_autoptr (GByteArray) b = begin_file (3, 0, 9);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) g = NULL;
  guint32 u32 = 0;
  gint32 i32 = 0;
  guint64 u64 = 0;
  float f = 0;
  gboolean flag = FALSE;

  put_key (b, "k.u64", TAILOR_GGUF_U64);
  put_u64 (b, 4096);
  put_key (b, "k.i32", TAILOR_GGUF_I32);
  put_u32 (b, 32);
  put_key (b, "k.u8", TAILOR_GGUF_U8);
  put_u8 (b, 9);
  put_key (b, "k.neg", TAILOR_GGUF_I32);
  put_u32 (b, (guint32) -1);
  put_key (b, "k.big", TAILOR_GGUF_U64);
  put_u64 (b, G_GUINT64_CONSTANT (1) << 33);
  put_key (b, "k.f64", TAILOR_GGUF_F64);
  put_f64 (b, 0.5);
  put_key (b, "k.f32", TAILOR_GGUF_F32);
  put_f32 (b, 2.0f);
  put_key (b, "k.bool", TAILOR_GGUF_BOOL);
  put_u8 (b, 0);
  put_kv_str (b, "k.str", "text");
  g = parse (b, &error);
  g_assert_no_error (error);

  g_assert_true (tailor_gguf_get_u32 (g, "k.u64", &u32, &error));
  g_assert_cmpuint (u32, ==, 4096);
  g_assert_true (tailor_gguf_get_u32 (g, "k.i32", &u32, &error));
  g_assert_cmpuint (u32, ==, 32);
  g_assert_true (tailor_gguf_get_u32 (g, "k.u8", &u32, &error));
  g_assert_cmpuint (u32, ==, 9);
  g_assert_true (tailor_gguf_get_i32 (g, "k.u64", &i32, &error));
  g_assert_cmpint (i32, ==, 4096);
  g_assert_true (tailor_gguf_get_i32 (g, "k.neg", &i32, &error));
  g_assert_cmpint (i32, ==, -1);
  g_assert_true (tailor_gguf_get_u64 (g, "k.big", &u64, &error));
  g_assert_cmpuint (u64, ==, G_GUINT64_CONSTANT (1) << 33);
  g_assert_true (tailor_gguf_get_f32 (g, "k.f64", &f, &error));
  g_assert_cmpfloat (f, ==, 0.5f);
  g_assert_true (tailor_gguf_get_f32 (g, "k.f32", &f, &error));
  g_assert_cmpfloat (f, ==, 2.0f);
  g_assert_true (tailor_gguf_get_bool (g, "k.bool", &flag, &error));
  g_assert_false (flag);
  g_assert_true (tailor_gguf_lookup_u32 (g, "k.absent", 77, &u32, &error));
  g_assert_cmpuint (u32, ==, 77);
  g_assert_true (tailor_gguf_lookup_f32 (g, "k.absent", 1e4f, &f, &error));
  g_assert_cmpfloat (f, ==, 1e4f);
  g_assert_true (tailor_gguf_lookup_bool (g, "k.absent", TRUE, &flag, &error));
  g_assert_true (flag);
  g_assert_true (tailor_gguf_lookup_u32 (g, "k.u8", 77, &u32, &error));
  g_assert_cmpuint (u32, ==, 9);
  g_assert_no_error (error);
}

static void
test_typed_getters_reject_wrong_types_and_ranges (void)
{
  g_autoptr (GByteArray) b = begin_file (3, 0, 6);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) g = NULL;
  guint32 u32 = 0;
  gint32 i32 = 0;
  guint64 u64 = 0;
  float f = 0;
  gboolean flag = FALSE;

  put_key (b, "k.huge", TAILOR_GGUF_F64);
  put_f64 (b, 1e300);
  put_key (b, "k.neg", TAILOR_GGUF_I32);
  put_u32 (b, (guint32) -1);
  put_key (b, "k.big", TAILOR_GGUF_U64);
  put_u64 (b, G_GUINT64_CONSTANT (1) << 33);
  put_key (b, "k.f32", TAILOR_GGUF_F32);
  put_f32 (b, 2.0f);
  put_key (b, "k.u32", TAILOR_GGUF_U32);
  put_u32 (b, 1);
  put_kv_str (b, "k.str", "text");
  g = parse (b, &error);
  g_assert_no_error (error);

#define EXPECT(call, code, key)                              \
  G_STMT_START                                               \
  {                                                          \
    g_assert_false (call);                                   \
    g_assert_error (error, TAILOR_GGUF_ERROR, code);         \
    g_assert_true (g_str_has_prefix (error->message, NAME)); \
    assert_contains (error->message, "key '" key "'");       \
    g_clear_error (&error);                                  \
  }                                                          \
  G_STMT_END

  EXPECT (tailor_gguf_get_u32 (g, "k.neg", &u32, &error), TAILOR_GGUF_ERROR_TYPE, "k.neg");
  EXPECT (tailor_gguf_get_u64 (g, "k.neg", &u64, &error), TAILOR_GGUF_ERROR_TYPE, "k.neg");
  EXPECT (tailor_gguf_get_u32 (g, "k.big", &u32, &error), TAILOR_GGUF_ERROR_TYPE, "k.big");
  EXPECT (tailor_gguf_get_i32 (g, "k.big", &i32, &error), TAILOR_GGUF_ERROR_TYPE, "k.big");
  EXPECT (tailor_gguf_get_u32 (g, "k.f32", &u32, &error), TAILOR_GGUF_ERROR_TYPE, "k.f32");
  EXPECT (tailor_gguf_get_f32 (g, "k.u32", &f, &error), TAILOR_GGUF_ERROR_TYPE, "k.u32");
  EXPECT (tailor_gguf_get_f32 (g, "k.huge", &f, &error), TAILOR_GGUF_ERROR_TYPE, "k.huge");
  EXPECT (tailor_gguf_get_bool (g, "k.u32", &flag, &error), TAILOR_GGUF_ERROR_TYPE, "k.u32");
  EXPECT (tailor_gguf_get_u32 (g, "k.str", &u32, &error), TAILOR_GGUF_ERROR_TYPE, "k.str");
  EXPECT (tailor_gguf_get_string (g, "k.u32", &error) != NULL, TAILOR_GGUF_ERROR_TYPE, "k.u32");
  EXPECT (tailor_gguf_get_u32 (g, "k.absent", &u32, &error), TAILOR_GGUF_ERROR_NOT_FOUND,
          "k.absent");
  EXPECT (tailor_gguf_get_string (g, "k.absent", &error) != NULL, TAILOR_GGUF_ERROR_NOT_FOUND,
          "k.absent");
  EXPECT (tailor_gguf_lookup_u32 (g, "k.str", 5, &u32, &error), TAILOR_GGUF_ERROR_TYPE, "k.str");
  EXPECT (tailor_gguf_lookup_f32 (g, "k.u32", 5, &f, &error), TAILOR_GGUF_ERROR_TYPE, "k.u32");
  EXPECT (tailor_gguf_lookup_bool (g, "k.str", TRUE, &flag, &error), TAILOR_GGUF_ERROR_TYPE,
          "k.str");
#undef EXPECT
}

/* ---- bad input ---- */

static void
test_rejects_bad_magic (void)
{
  g_autoptr (GByteArray) b = begin_file (3, 0, 0);

  b->data[0] = 'X';
  assert_rejected (b, TAILOR_GGUF_ERROR_NOT_GGUF, "magic", "not a GGUF model");
}

static void
test_rejects_unsupported_versions (void)
{
  g_autoptr (GByteArray) v1 = begin_file (1, 0, 0);
  g_autoptr (GByteArray) v4 = begin_file (4, 0, 0);
  g_autoptr (GByteArray) v0 = begin_file (0, 0, 0);
  g_autoptr (GByteArray) swapped = begin_file (0x03000000, 0, 0);

  assert_rejected (v1, TAILOR_GGUF_ERROR_VERSION, "version", "version 1 ");
  assert_rejected (v4, TAILOR_GGUF_ERROR_VERSION, "version", "version 4 ");
  assert_rejected (v0, TAILOR_GGUF_ERROR_VERSION, "version", "version 0 ");
  assert_rejected (swapped, TAILOR_GGUF_ERROR_VERSION, "version", "big-endian");
}

static void
test_rejects_truncated_header (void)
{
  g_autoptr (GByteArray) b = begin_file (3, 0, 1);

  g_byte_array_set_size (b, 12);
  assert_rejected (b, TAILOR_GGUF_ERROR_TRUNCATED, "header field n_tensors",
                   "needs 8 bytes at offset 8, file has 12");
}

/* A small valid file whose last tensor fills its padding exactly, so that every shorter
 * prefix lacks some tensor bytes and must be refused. */
static GBytes *
small_valid_file (void)
{
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (GBytes) a = g_bytes_new_take (g_malloc0 (34 * 2), 34 * 2);
  g_autoptr (GBytes) b = g_bytes_new_take (g_malloc0 (64), 64);
  const gint64 ne_a[] = { 32, 2 };
  const gint64 ne_b[] = { 16 };
  const char *const tokens[] = { "a", "b" };

  tailor_gguf_writer_set_string (w, "general.architecture", "llama");
  tailor_gguf_writer_set_array_str (w, "tokenizer.ggml.tokens", tokens, 2);
  tailor_gguf_writer_set_f32 (w, "llama.rope.freq_base", 10000.0f);
  g_assert_true (tailor_gguf_writer_add_tensor (w, "a.weight", TAILOR_TYPE_Q8_0, 2, ne_a, a, NULL));
  g_assert_true (tailor_gguf_writer_add_tensor (w, "b.weight", TAILOR_TYPE_F32, 1, ne_b, b, NULL));
  return tailor_gguf_writer_to_bytes (w);
}

static void
test_rejects_every_prefix_of_a_valid_file (void)
{
  g_autoptr (GBytes) full = small_valid_file ();
  gsize n;
  const guint8 *p = g_bytes_get_data (full, &n);
  g_autoptr (TailorGguf) whole = NULL;
  g_autoptr (GError) error = NULL;

  whole = tailor_gguf_new_from_bytes (full, NAME, &error);
  g_assert_no_error (error);
  for (gsize len = 0; len < n; len++)
    {
      g_autoptr (GBytes) prefix = g_bytes_new (p, len);
      g_autoptr (TailorGguf) g = tailor_gguf_new_from_bytes (prefix, NAME, &error);

      g_assert_null (g);
      g_assert_nonnull (error);
      g_assert_true (error->domain == TAILOR_GGUF_ERROR);
      g_assert_true (g_str_has_prefix (error->message, NAME ": "));
      g_clear_error (&error);
    }
}

static void
test_rejects_truncated_tensor_data (void)
{
  g_autoptr (GBytes) full = small_valid_file ();
  gsize n;
  const guint8 *p = g_bytes_get_data (full, &n);
  g_autoptr (GByteArray) b = g_byte_array_new ();
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "cut.gguf", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) g = NULL;

  put_raw (b, p, n - 10);
  assert_rejected (b, TAILOR_GGUF_ERROR_TRUNCATED, "tensor 'b.weight'",
                   "data runs past the end of the file (needs 64 bytes at offset");

  /* an opened file is named by its full path */
  g_assert_true (g_file_set_contents (path, (const char *) p, (gssize) n - 10, NULL));
  g = tailor_gguf_open (path, &error);
  g_assert_null (g);
  g_assert_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_TRUNCATED);
  g_assert_true (g_str_has_prefix (error->message, path));
  assert_contains (error->message, "tensor 'b.weight'");
  assert_contains (error->message, "download or export it again");
  remove_tree (dir);
}

static void
test_open_reports_missing_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) g = tailor_gguf_open ("/nonexistent/folder/model.gguf", &error);

  g_assert_null (g);
  g_assert_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_IO);
  assert_contains (error->message, "/nonexistent/folder/model.gguf");
}

static void
check_absurd_counts (void)
{
  g_autoptr (GByteArray) kv = begin_file (3, 0, G_GUINT64_CONSTANT (1) << 62);
  g_autoptr (GByteArray) tensors = begin_file (3, G_GUINT64_CONSTANT (1) << 62, 0);
  g_autoptr (GByteArray) negative = begin_file (3, 0, G_GUINT64_CONSTANT (1) << 63);
  g_autoptr (GByteArray) key_len = begin_file (3, 0, 1);
  g_autoptr (GByteArray) str_len = begin_file (3, 0, 1);
  g_autoptr (GByteArray) arr = begin_file (3, 0, 1);
  g_autoptr (GByteArray) str_arr = begin_file (3, 0, 1);
  g_autoptr (GByteArray) name_len = begin_file (3, 1, 0);

  for (guint i = 0; i < 8; i++)
    {
      put_u64 (kv, 0);
      put_u64 (tensors, 0);
    }
  assert_rejected (kv, TAILOR_GGUF_ERROR_TRUNCATED, "header field n_kv",
                   "4611686018427387904 key-value pairs cannot fit");
  assert_rejected (tensors, TAILOR_GGUF_ERROR_TRUNCATED, "header field n_tensors",
                   "4611686018427387904 tensor infos cannot fit");
  assert_rejected (negative, TAILOR_GGUF_ERROR_INVALID, "header field n_kv", "negative");

  put_u64 (key_len, G_GUINT64_CONSTANT (1) << 63);
  put_raw (key_len, "abcdefgh", 8);
  assert_rejected (key_len, TAILOR_GGUF_ERROR_TRUNCATED, "key #0",
                   "needs 9223372036854775808 bytes");

  put_key (str_len, "general.name", TAILOR_GGUF_STRING);
  put_u64 (str_len, G_GUINT64_CONSTANT (1) << 63);
  put_raw (str_len, "abcdefgh", 8);
  assert_rejected (str_len, TAILOR_GGUF_ERROR_TRUNCATED, "key 'general.name'",
                   "needs 9223372036854775808 bytes");

  put_key (arr, "tokenizer.ggml.scores", TAILOR_GGUF_ARRAY);
  put_u32 (arr, TAILOR_GGUF_F32);
  put_u64 (arr, G_GUINT64_CONSTANT (1) << 60);
  put_f32 (arr, 1.0f);
  assert_rejected (arr, TAILOR_GGUF_ERROR_TRUNCATED, "key 'tokenizer.ggml.scores'",
                   "1152921504606846976 f32 values");

  put_key (str_arr, "tokenizer.ggml.tokens", TAILOR_GGUF_ARRAY);
  put_u32 (str_arr, TAILOR_GGUF_STRING);
  put_u64 (str_arr, G_GUINT64_CONSTANT (1) << 60);
  put_str (str_arr, "a");
  assert_rejected (str_arr, TAILOR_GGUF_ERROR_TRUNCATED, "key 'tokenizer.ggml.tokens'",
                   "1152921504606846976 elements");

  put_u64 (name_len, G_GUINT64_CONSTANT (1) << 63);
  for (guint i = 0; i < 4; i++)
    put_u64 (name_len, 0);
  assert_rejected (name_len, TAILOR_GGUF_ERROR_INVALID, "tensor #0", "at most 63");
}

static void
test_rejects_absurd_counts_without_allocating (void)
{
  if (g_test_subprocess ())
    {
      /* far less than any of the claimed sizes: a reader that trusts a count dies here */
      struct rlimit limit = { 256 << 20, 256 << 20 };

      g_assert_cmpint (setrlimit (RLIMIT_DATA, &limit), ==, 0);
      g_test_timer_start ();
      check_absurd_counts ();
      g_assert_cmpfloat (g_test_timer_elapsed (), <, 1.0);
      return;
    }
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static void
test_rejects_nested_array (void)
{
  g_autoptr (GByteArray) b = begin_file (3, 0, 1);

  put_key (b, "x.nested", TAILOR_GGUF_ARRAY);
  put_u32 (b, TAILOR_GGUF_ARRAY);
  put_u64 (b, 1);
  put_u32 (b, TAILOR_GGUF_U8);
  put_u64 (b, 1);
  put_u8 (b, 1);
  assert_rejected (b, TAILOR_GGUF_ERROR_INVALID, "key 'x.nested'", "array of arrays");
}

static void
test_rejects_unknown_value_type (void)
{
  g_autoptr (GByteArray) b = begin_file (3, 0, 1);
  g_autoptr (GByteArray) elem = begin_file (3, 0, 1);

  put_key (b, "x.odd", 13);
  put_u64 (b, 0);
  assert_rejected (b, TAILOR_GGUF_ERROR_INVALID, "key 'x.odd'", "unknown value type 13");

  put_key (elem, "x.odd", TAILOR_GGUF_ARRAY);
  put_u32 (elem, 0xFFFFFFFF);
  put_u64 (elem, 0);
  assert_rejected (elem, TAILOR_GGUF_ERROR_INVALID, "key 'x.odd'", "unknown element type");
}

static void
test_rejects_unknown_tensor_type (void)
{
  const Info removed = { "blk.0.attn_q.weight", 1, { 32 }, 4, 0 };
  const Info future = { "blk.0.attn_k.weight", 1, { 32 }, 99, 0 };
  g_autoptr (GByteArray) a = craft (&removed, 1, 64);
  g_autoptr (GByteArray) b = craft (&future, 1, 64);

  assert_rejected (a, TAILOR_GGUF_ERROR_UNSUPPORTED, "tensor 'blk.0.attn_q.weight'",
                   "ggml type id 4");
  assert_rejected (b, TAILOR_GGUF_ERROR_UNSUPPORTED, "tensor 'blk.0.attn_k.weight'",
                   "ggml type id 99");
}

static void
test_rejects_bad_dimension_counts (void)
{
  const Info zero = { "t", 0, { 0 }, TAILOR_TYPE_F32, 0 };
  const Info five = { "t", 5, { 1, 1, 1, 1, 1 }, TAILOR_TYPE_F32, 0 };
  g_autoptr (GByteArray) a = craft (&zero, 1, 32);
  g_autoptr (GByteArray) b = craft (&five, 1, 64);

  assert_rejected (a, TAILOR_GGUF_ERROR_INVALID, "tensor 't'", "has 0 dimensions");
  assert_rejected (b, TAILOR_GGUF_ERROR_INVALID, "tensor 't'", "has 5 dimensions");
}

static void
test_rejects_partial_blocks (void)
{
  const Info q8 = { "blk.1.ffn_up.weight", 2, { 33, 1 }, TAILOR_TYPE_Q8_0, 0 };
  const Info q4k = { "blk.1.ffn_down.weight", 1, { 128 }, TAILOR_TYPE_Q4_K, 0 };
  g_autoptr (GByteArray) a = craft (&q8, 1, 64);
  g_autoptr (GByteArray) b = craft (&q4k, 1, 160);

  assert_rejected (a, TAILOR_GGUF_ERROR_INVALID, "tensor 'blk.1.ffn_up.weight'",
                   "row length 33 is not a multiple of the Q8_0 block size 32");
  assert_rejected (b, TAILOR_GGUF_ERROR_INVALID, "tensor 'blk.1.ffn_down.weight'",
                   "block size 256");
}

static void
test_rejects_element_count_overflow (void)
{
  const Info big = {
    "t", 3, { G_GINT64_CONSTANT (1) << 32, G_GINT64_CONSTANT (1) << 32, 2 }, TAILOR_TYPE_F32, 0
  };
  const Info bytes = {
    "u", 2, { G_GINT64_CONSTANT (1) << 40, G_GINT64_CONSTANT (1) << 22 }, TAILOR_TYPE_F32, 0
  };
  const Info negative = { "v", 2, { 4, -1 }, TAILOR_TYPE_F32, 0 };
  g_autoptr (GByteArray) a = craft (&big, 1, 32);
  g_autoptr (GByteArray) b = craft (&bytes, 1, 32);
  g_autoptr (GByteArray) c = craft (&negative, 1, 32);

  assert_rejected (a, TAILOR_GGUF_ERROR_INVALID, "tensor 't'", "element count");
  assert_rejected (b, TAILOR_GGUF_ERROR_INVALID, "tensor 'u'", "size in bytes overflows");
  assert_rejected (c, TAILOR_GGUF_ERROR_INVALID, "tensor 'v'", "negative size");
}

static void
test_rejects_misaligned_offset (void)
{
  const Info infos[] = {
    { "a", 1, { 2 }, TAILOR_TYPE_F32, 0 },
    { "b", 1, { 2 }, TAILOR_TYPE_F32, 8 },
  };
  g_autoptr (GByteArray) b = craft (infos, 2, 64);

  assert_rejected (b, TAILOR_GGUF_ERROR_INVALID, "tensor 'b'",
                   "data offset 8 is not a multiple of the alignment 32");
}

static void
test_rejects_overlapping_tensors (void)
{
  const Info infos[] = {
    { "a", 1, { 16 }, TAILOR_TYPE_F32, 32 },
    { "b", 1, { 16 }, TAILOR_TYPE_F32, 0 },
  };
  const Info disjoint[] = {
    { "a", 1, { 16 }, TAILOR_TYPE_F32, 64 },
    { "b", 1, { 16 }, TAILOR_TYPE_F32, 0 },
  };
  g_autoptr (GByteArray) b = craft (infos, 2, 128);
  g_autoptr (GByteArray) ok = craft (disjoint, 2, 128);

  assert_rejected (b, TAILOR_GGUF_ERROR_INVALID, "tensor 'a'", "overlaps tensor 'b'");
  /* the same tensors side by side, out of order, are accepted */
  assert_parses (ok);
}

static void
test_rejects_tensor_past_the_end (void)
{
  const Info far = { "a", 1, { 8 }, TAILOR_TYPE_F32, G_GUINT64_CONSTANT (1) << 40 };
  const Info wrap = { "b", 1, { 8 }, TAILOR_TYPE_F32, G_MAXUINT64 - 31 };
  g_autoptr (GByteArray) a = craft (&far, 1, 32);
  g_autoptr (GByteArray) b = craft (&wrap, 1, 32);

  assert_rejected (a, TAILOR_GGUF_ERROR_TRUNCATED, "tensor 'a'", "past the end of the file");
  assert_rejected (b, TAILOR_GGUF_ERROR_TRUNCATED, "tensor 'b'", "past the end of the file");
}

static void
test_accepts_empty_tensors_like_llama_cpp (void)
{
  const Info infos[] = {
    { "empty", 2, { 0, 4 }, TAILOR_TYPE_F32, 0 },
    { "full", 1, { 8 }, TAILOR_TYPE_F32, 0 },
  };
  g_autoptr (GByteArray) b = craft (infos, 2, 32);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) g = parse (b, &error);

  g_assert_no_error (error);
  g_assert_cmpint (tailor_gguf_get_tensor (g, 0)->n_elements, ==, 0);
  g_assert_cmpuint (tailor_gguf_get_tensor (g, 0)->n_bytes, ==, 0);
}

static void
test_rejects_bad_alignment (void)
{
  g_autoptr (GByteArray) npot = begin_file (3, 0, 1);
  g_autoptr (GByteArray) zero = begin_file (3, 0, 1);
  g_autoptr (GByteArray) wide = begin_file (3, 0, 1);

  put_kv_u32 (npot, "general.alignment", 48);
  assert_rejected (npot, TAILOR_GGUF_ERROR_INVALID, "key 'general.alignment'",
                   "48 is not a power of two");
  put_kv_u32 (zero, "general.alignment", 0);
  assert_rejected (zero, TAILOR_GGUF_ERROR_INVALID, "key 'general.alignment'",
                   "0 is not a power of two");
  put_key (wide, "general.alignment", TAILOR_GGUF_U64);
  put_u64 (wide, 64);
  assert_rejected (wide, TAILOR_GGUF_ERROR_INVALID, "key 'general.alignment'", "requires u32");
}

static void
test_rejects_bad_keys (void)
{
  g_autoptr (GByteArray) utf8 = begin_file (3, 0, 1);
  g_autoptr (GByteArray) empty = begin_file (3, 0, 1);
  g_autoptr (GByteArray) twice = begin_file (3, 0, 2);

  put_strn (utf8, "bad\xff\xfekey", 8);
  put_u32 (utf8, TAILOR_GGUF_U8);
  put_u8 (utf8, 0);
  assert_rejected (utf8, TAILOR_GGUF_ERROR_INVALID, "key #0", "not valid UTF-8");

  put_strn (empty, "", 0);
  put_u32 (empty, TAILOR_GGUF_U64);
  put_u64 (empty, 0);
  assert_rejected (empty, TAILOR_GGUF_ERROR_INVALID, "key #0", "empty");

  put_kv_u32 (twice, "llama.block_count", 1);
  put_kv_u32 (twice, "llama.block_count", 2);
  assert_rejected (twice, TAILOR_GGUF_ERROR_INVALID, "key 'llama.block_count'", "appears twice");
}

static void
test_rejects_bad_tensor_names (void)
{
  g_autofree char *name63 = g_strnfill (63, 'n');
  g_autofree char *name64 = g_strnfill (64, 'n');
  const Info twice[] = {
    { "blk.0.attn_q.weight", 1, { 8 }, TAILOR_TYPE_F32, 0 },
    { "blk.0.attn_q.weight", 1, { 8 }, TAILOR_TYPE_F32, 32 },
  };
  const Info longest = { name63, 1, { 8 }, TAILOR_TYPE_F32, 0 };
  const Info too_long = { name64, 1, { 8 }, TAILOR_TYPE_F32, 0 };
  const Info bad_utf8 = { "w\xc3(", 1, { 8 }, TAILOR_TYPE_F32, 0 };
  const Info empty = { "", 1, { 8 }, TAILOR_TYPE_F32, 0 };
  g_autoptr (GByteArray) a = craft (twice, 2, 64);
  g_autoptr (GByteArray) b = craft (&longest, 1, 32);
  g_autoptr (GByteArray) c = craft (&too_long, 1, 32);
  g_autoptr (GByteArray) d = craft (&bad_utf8, 1, 32);
  g_autoptr (GByteArray) e = craft (&empty, 1, 32);

  assert_rejected (a, TAILOR_GGUF_ERROR_INVALID, "tensor 'blk.0.attn_q.weight'", "appears twice");
  assert_parses (b);
  assert_rejected (c, TAILOR_GGUF_ERROR_INVALID, "tensor #0", "64 bytes long");
  assert_rejected (d, TAILOR_GGUF_ERROR_INVALID, "tensor #0", "not valid UTF-8");
  assert_rejected (e, TAILOR_GGUF_ERROR_INVALID, "tensor #0", "empty");
}

/* ---- atomic writes ---- */

static void
test_write_into_missing_folder_fails_cleanly (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "no-such-folder", "model.gguf", NULL);
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (GError) error = NULL;

  tailor_gguf_writer_set_string (w, "general.architecture", "llama");
  g_assert_false (tailor_gguf_writer_write (w, path, &error));
  g_assert_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_IO);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_cmpuint (count_entries (dir), ==, 0);
  remove_tree (dir);
}

static void
test_write_replaces_an_existing_file_whole (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "model.gguf", NULL);
  g_autoptr (TailorGgufWriter) big = tailor_gguf_writer_new ();
  g_autoptr (TailorGgufWriter) small = tailor_gguf_writer_new ();
  g_autoptr (GBytes) data = g_bytes_new_take (g_malloc0 (1 << 20), 1 << 20);
  g_autoptr (GBytes) expected = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  const gint64 ne[] = { 1 << 18 };
  gsize len;

  tailor_gguf_writer_set_string (big, "general.name", "big");
  g_assert_true (tailor_gguf_writer_add_tensor (big, "w", TAILOR_TYPE_F32, 1, ne, data, &error));
  g_assert_true (tailor_gguf_writer_write (big, path, &error));
  tailor_gguf_writer_set_string (small, "general.name", "small");
  g_assert_true (tailor_gguf_writer_write (small, path, &error));
  g_assert_no_error (error);

  expected = tailor_gguf_writer_to_bytes (small);
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpmem (contents, len, g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
  /* nothing but the model itself: no temporary files left behind */
  g_assert_cmpuint (count_entries (dir), ==, 1);
  remove_tree (dir);
}

static void
test_failed_rename_leaves_no_temporary_file (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "model.gguf", NULL);
  g_autofree char *inside = g_build_filename (path, "keep", NULL);
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  g_autoptr (GError) error = NULL;

  /* the destination is a non-empty folder, which rename() cannot replace */
  g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  g_assert_true (g_file_set_contents (inside, "x", 1, NULL));
  tailor_gguf_writer_set_string (w, "general.name", "x");
  g_assert_false (tailor_gguf_writer_write (w, path, &error));
  g_assert_error (error, TAILOR_GGUF_ERROR, TAILOR_GGUF_ERROR_IO);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_cmpuint (count_entries (dir), ==, 1);
  g_assert_true (g_file_test (inside, G_FILE_TEST_IS_REGULAR));
  remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/gguf/reads-and-copies-every-value-type",
                   test_reads_and_copies_every_value_type);
  g_test_add_func ("/gguf/reads-version-2", test_reads_version_2);
  g_test_add_func ("/gguf/writer-setters-round-trip", test_writer_setters_round_trip);
  g_test_add_func ("/gguf/writer-replaces-existing-key-in-place",
                   test_writer_replaces_existing_key_in_place);
  g_test_add_func ("/gguf/tensors-round-trip-through-a-mapped-file",
                   test_tensors_round_trip_through_a_mapped_file);
  g_test_add_func ("/gguf/tensors-from-bytes-are-aligned-and-zero-copy",
                   test_tensors_from_bytes_are_aligned_and_zero_copy);
  g_test_add_func ("/gguf/copied-alignment-keeps-the-layout-valid",
                   test_copied_alignment_keeps_the_layout_valid);
  g_test_add_func ("/gguf/writer-rejects-bad-tensors", test_writer_rejects_bad_tensors);
  g_test_add_func ("/gguf/typed-getters-convert-fitting-values",
                   test_typed_getters_convert_fitting_values);
  g_test_add_func ("/gguf/typed-getters-reject-wrong-types-and-ranges",
                   test_typed_getters_reject_wrong_types_and_ranges);
  g_test_add_func ("/gguf/rejects-bad-magic", test_rejects_bad_magic);
  g_test_add_func ("/gguf/rejects-unsupported-versions", test_rejects_unsupported_versions);
  g_test_add_func ("/gguf/rejects-truncated-header", test_rejects_truncated_header);
  g_test_add_func ("/gguf/rejects-every-prefix-of-a-valid-file",
                   test_rejects_every_prefix_of_a_valid_file);
  g_test_add_func ("/gguf/rejects-truncated-tensor-data", test_rejects_truncated_tensor_data);
  g_test_add_func ("/gguf/open-reports-missing-file", test_open_reports_missing_file);
  g_test_add_func ("/gguf/rejects-absurd-counts-without-allocating",
                   test_rejects_absurd_counts_without_allocating);
  g_test_add_func ("/gguf/rejects-nested-array", test_rejects_nested_array);
  g_test_add_func ("/gguf/rejects-unknown-value-type", test_rejects_unknown_value_type);
  g_test_add_func ("/gguf/rejects-unknown-tensor-type", test_rejects_unknown_tensor_type);
  g_test_add_func ("/gguf/rejects-bad-dimension-counts", test_rejects_bad_dimension_counts);
  g_test_add_func ("/gguf/rejects-partial-blocks", test_rejects_partial_blocks);
  g_test_add_func ("/gguf/rejects-element-count-overflow", test_rejects_element_count_overflow);
  g_test_add_func ("/gguf/rejects-misaligned-offset", test_rejects_misaligned_offset);
  g_test_add_func ("/gguf/rejects-overlapping-tensors", test_rejects_overlapping_tensors);
  g_test_add_func ("/gguf/rejects-tensor-past-the-end", test_rejects_tensor_past_the_end);
  g_test_add_func ("/gguf/accepts-empty-tensors-like-llama-cpp",
                   test_accepts_empty_tensors_like_llama_cpp);
  g_test_add_func ("/gguf/rejects-bad-alignment", test_rejects_bad_alignment);
  g_test_add_func ("/gguf/rejects-bad-keys", test_rejects_bad_keys);
  g_test_add_func ("/gguf/rejects-bad-tensor-names", test_rejects_bad_tensor_names);
  g_test_add_func ("/gguf/write-into-missing-folder-fails-cleanly",
                   test_write_into_missing_folder_fails_cleanly);
  g_test_add_func ("/gguf/write-replaces-an-existing-file-whole",
                   test_write_replaces_an_existing_file_whole);
  g_test_add_func ("/gguf/failed-rename-leaves-no-temporary-file",
                   test_failed_rename_leaves_no_temporary_file);

  return g_test_run ();
}
