/* SPDX-License-Identifier: GPL-3.0-or-later */
/* GGUF v2/v3: a validating, mmap'd, zero-copy reader and an atomic writer. */
#pragma once

#include <gio/gio.h>

#include "tailor-quant.h"

G_BEGIN_DECLS

#define TAILOR_GGUF_ERROR (tailor_gguf_error_quark ())
GQuark tailor_gguf_error_quark (void);

typedef enum {
  TAILOR_GGUF_ERROR_IO,          /* cannot open/map/write the file */
  TAILOR_GGUF_ERROR_NOT_GGUF,    /* bad magic */
  TAILOR_GGUF_ERROR_VERSION,     /* unsupported version */
  TAILOR_GGUF_ERROR_TRUNCATED,   /* a field or tensor data runs past the end of the file */
  TAILOR_GGUF_ERROR_INVALID,     /* a field has an impossible value */
  TAILOR_GGUF_ERROR_UNSUPPORTED, /* valid GGUF that Tailor cannot use (unknown tensor type …) */
  TAILOR_GGUF_ERROR_NOT_FOUND,   /* a key or tensor asked for is absent */
  TAILOR_GGUF_ERROR_TYPE,        /* a key has a value type the caller cannot use */
} TailorGgufError;

typedef enum {
  TAILOR_GGUF_U8 = 0,
  TAILOR_GGUF_I8 = 1,
  TAILOR_GGUF_U16 = 2,
  TAILOR_GGUF_I16 = 3,
  TAILOR_GGUF_U32 = 4,
  TAILOR_GGUF_I32 = 5,
  TAILOR_GGUF_F32 = 6,
  TAILOR_GGUF_BOOL = 7,
  TAILOR_GGUF_STRING = 8,
  TAILOR_GGUF_ARRAY = 9,
  TAILOR_GGUF_U64 = 10,
  TAILOR_GGUF_I64 = 11,
  TAILOR_GGUF_F64 = 12,
} TailorGgufValueType;

#define TAILOR_GGUF_MAX_DIMS 4
#define TAILOR_GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
  const char *name;  /* NUL-terminated copy */
  guint n_dims;
  gint64 ne[TAILOR_GGUF_MAX_DIMS]; /* ne[0] = row length (fastest); unused dims are 1 */
  TailorType type;
  guint64 offset;    /* relative to the data section */
  gint64 n_elements;
  gsize n_bytes;
  const void *data;  /* points into the mapping; aligned to the file's alignment */
  struct _TailorGguf *file; /* the file holding data (not a reference: the tensor lives
                             * inside it); NULL for a tensor made by hand */
} TailorGgufTensor;

typedef struct _TailorGguf TailorGguf;

/* Maps and validates the whole file. Every error names the file and the field. */
TailorGguf *tailor_gguf_open (const char *path, GError **error);
/* Same validation over bytes in memory (fuzzing, tests); name is used in messages. */
TailorGguf *tailor_gguf_new_from_bytes (GBytes *bytes, const char *name, GError **error);
TailorGguf *tailor_gguf_ref (TailorGguf *self);
void tailor_gguf_unref (TailorGguf *self);

const char *tailor_gguf_get_path (TailorGguf *self); /* the path or the name given */
guint32 tailor_gguf_get_version (TailorGguf *self);
gsize tailor_gguf_get_alignment (TailorGguf *self);
gsize tailor_gguf_get_file_size (TailorGguf *self);
gsize tailor_gguf_get_data_offset (TailorGguf *self); /* start of the tensor data section */

/* Metadata, by index. */
guint tailor_gguf_get_n_kv (TailorGguf *self);
const char *tailor_gguf_get_key (TailorGguf *self, guint i);
gint tailor_gguf_find_key (TailorGguf *self, const char *key); /* -1 when absent */
TailorGgufValueType tailor_gguf_get_kv_type (TailorGguf *self, guint i);
TailorGgufValueType tailor_gguf_get_arr_type (TailorGguf *self, guint i); /* element type */
guint64 tailor_gguf_get_arr_n (TailorGguf *self, guint i);
/* Element j of a string array (NUL-terminated copy), and its length in bytes. */
const char *tailor_gguf_get_arr_str (TailorGguf *self, guint i, guint64 j, gsize *len);
/* Element j of a numeric or bool array converted to double / gint64. */
double tailor_gguf_get_arr_f64 (TailorGguf *self, guint i, guint64 j);
gint64 tailor_gguf_get_arr_i64 (TailorGguf *self, guint i, guint64 j);
/* A scalar value converted; strings: NUL-terminated copy. */
double tailor_gguf_get_val_f64 (TailorGguf *self, guint i);
gint64 tailor_gguf_get_val_i64 (TailorGguf *self, guint i);
guint64 tailor_gguf_get_val_u64 (TailorGguf *self, guint i);
const char *tailor_gguf_get_val_str (TailorGguf *self, guint i, gsize *len);

/* Typed getters by key. Integer getters accept any integer type whose value fits;
 * float getters accept F32 and F64. A missing key is TAILOR_GGUF_ERROR_NOT_FOUND,
 * a wrong type or out-of-range value TAILOR_GGUF_ERROR_TYPE; both name file and key. */
gboolean tailor_gguf_get_u32 (TailorGguf *self, const char *key, guint32 *out, GError **error);
gboolean tailor_gguf_get_u64 (TailorGguf *self, const char *key, guint64 *out, GError **error);
gboolean tailor_gguf_get_i32 (TailorGguf *self, const char *key, gint32 *out, GError **error);
gboolean tailor_gguf_get_f32 (TailorGguf *self, const char *key, float *out, GError **error);
gboolean tailor_gguf_get_bool (TailorGguf *self, const char *key, gboolean *out, GError **error);
const char *tailor_gguf_get_string (TailorGguf *self, const char *key, GError **error);
/* Same, with a default when the key is absent (a present key of a wrong type is still an error). */
gboolean tailor_gguf_lookup_u32 (TailorGguf *self, const char *key, guint32 def, guint32 *out, GError **error);
gboolean tailor_gguf_lookup_f32 (TailorGguf *self, const char *key, float def, float *out, GError **error);
gboolean tailor_gguf_lookup_bool (TailorGguf *self, const char *key, gboolean def, gboolean *out, GError **error);

/* Tensors, in file order. */
guint tailor_gguf_get_n_tensors (TailorGguf *self);
const TailorGgufTensor *tailor_gguf_get_tensor (TailorGguf *self, guint i);
const TailorGgufTensor *tailor_gguf_find_tensor (TailorGguf *self, const char *name);

/* Whether tensor data lies in a read-only mapping of the file (tailor_gguf_open), which a
 * backend may then reference in place as long as it holds a reference to the file. */
gboolean tailor_gguf_is_mapped (TailorGguf *self);
/* Drops the resident pages of n_bytes at data (inside the mapping) from this process, for
 * data that was copied elsewhere and will not be read again soon: reading it later faults
 * the pages back in from the file. Nothing happens for a file held in memory. */
void tailor_gguf_release_pages (TailorGguf *self, const void *data, gsize n_bytes);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorGguf, tailor_gguf_unref)

/* ---- Writer ----
 * Keys are written in the order added, tensors in the order added, each tensor's data
 * padded to the alignment, as llama.cpp expects. Adding an existing key replaces it. */
typedef struct _TailorGgufWriter TailorGgufWriter;

TailorGgufWriter *tailor_gguf_writer_new (void);
void tailor_gguf_writer_free (TailorGgufWriter *self);
void tailor_gguf_writer_set_alignment (TailorGgufWriter *self, guint32 alignment); /* power of two */

void tailor_gguf_writer_set_u32 (TailorGgufWriter *self, const char *key, guint32 v);
void tailor_gguf_writer_set_i32 (TailorGgufWriter *self, const char *key, gint32 v);
void tailor_gguf_writer_set_u64 (TailorGgufWriter *self, const char *key, guint64 v);
void tailor_gguf_writer_set_f32 (TailorGgufWriter *self, const char *key, float v);
void tailor_gguf_writer_set_bool (TailorGgufWriter *self, const char *key, gboolean v);
void tailor_gguf_writer_set_string (TailorGgufWriter *self, const char *key, const char *v);
void tailor_gguf_writer_set_array_str (TailorGgufWriter *self, const char *key,
                                       const char *const *v, gsize n);
void tailor_gguf_writer_set_array_f32 (TailorGgufWriter *self, const char *key, const float *v, gsize n);
void tailor_gguf_writer_set_array_i32 (TailorGgufWriter *self, const char *key, const gint32 *v, gsize n);
void tailor_gguf_writer_set_array_u32 (TailorGgufWriter *self, const char *key, const guint32 *v, gsize n);
/* Copies key i of src (any type, arrays included). */
void tailor_gguf_writer_copy_kv (TailorGgufWriter *self, TailorGguf *src, guint i);

/* data must hold tailor_type_row_size (type, ne[0]) * ne[1] * ne[2] * ne[3] bytes; it is
 * referenced, not copied. Returns FALSE (with error) for a shape the type cannot hold. */
gboolean tailor_gguf_writer_add_tensor (TailorGgufWriter *self, const char *name, TailorType type,
                                        guint n_dims, const gint64 *ne, GBytes *data, GError **error);

/* Writes to path atomically: temporary file in the same folder, fsync, rename. */
gboolean tailor_gguf_writer_write (TailorGgufWriter *self, const char *path, GError **error);
GBytes *tailor_gguf_writer_to_bytes (TailorGgufWriter *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorGgufWriter, tailor_gguf_writer_free)

G_END_DECLS
