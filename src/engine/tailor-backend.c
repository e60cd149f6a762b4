/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The op interface's dispatch layer: device choice, buffers and views, op recording with
 * shape checks, and submit (compile once, run many times). */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "tailor-backend-private.h"
#include "tailor-vk-device.h"

G_DEFINE_QUARK (tailor - backend - error - quark, tailor_backend_error)

/* Offsets of views: the alignment every backend may rely on (tailor-backend.h). */
#define VIEW_ALIGNMENT 16

struct _TailorGraph
{
  TailorBackend *backend;
  GArray *ops;           /* TailorOp */
  GPtrArray *lists;      /* the arrays grad_norm_sq ops point to */
  GError *record_error;  /* the first op that did not fit; submit reports it */
  gpointer compiled;     /* NULL until the first submit, and after any new op */
  gboolean profiling;
  GHashTable *timings;   /* label → double* milliseconds */
};

static const char *const op_names[] = {
  [TAILOR_OP_ZERO] = "zero",
  [TAILOR_OP_ADD] = "add",
  [TAILOR_OP_EMBEDDING] = "embedding",
  [TAILOR_OP_EMBEDDING_BACKWARD] = "embedding_backward",
  [TAILOR_OP_RMSNORM] = "rmsnorm",
  [TAILOR_OP_RMSNORM_BACKWARD] = "rmsnorm_backward",
  [TAILOR_OP_MATMUL] = "matmul",
  [TAILOR_OP_MATMUL_BACKWARD_INPUT] = "matmul_backward_input",
  [TAILOR_OP_MATMUL_BACKWARD_WEIGHT] = "matmul_backward_weight",
  [TAILOR_OP_ROPE] = "rope",
  [TAILOR_OP_ATTENTION] = "attention",
  [TAILOR_OP_ATTENTION_BACKWARD] = "attention_backward",
  [TAILOR_OP_SWIGLU] = "swiglu",
  [TAILOR_OP_SWIGLU_BACKWARD] = "swiglu_backward",
  [TAILOR_OP_LORA] = "lora",
  [TAILOR_OP_LORA_BACKWARD] = "lora_backward",
  [TAILOR_OP_CROSS_ENTROPY] = "cross_entropy",
  [TAILOR_OP_CROSS_ENTROPY_BACKWARD] = "cross_entropy_backward",
  [TAILOR_OP_GRAD_NORM_SQ] = "grad_norm_sq",
  [TAILOR_OP_ADAMW] = "adamw",
  [TAILOR_OP_ATTENTION_CACHED] = "attention_cached",
};

const char *
tailor_op_kind_name (TailorOpKind kind)
{
  if ((guint) kind < G_N_ELEMENTS (op_names) && op_names[kind] != NULL)
    return op_names[kind];
  return "unknown";
}

/* ---- Backends ---- */

/* A device Vulkan computes on for real; a CPU implementation (lavapipe) is slower than
 * the CPU backend on the same cores. */
static gboolean
is_real_gpu (const TailorVkDeviceInfo *info)
{
  return info->usable &&
         (info->type == TAILOR_VK_DEVICE_DISCRETE || info->type == TAILOR_VK_DEVICE_INTEGRATED ||
          info->type == TAILOR_VK_DEVICE_VIRTUAL);
}

/* The index of the best real GPU, as tailor_vk_choose_device ranks them, or -1. */
static gint
find_real_gpu (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) infos = tailor_vk_enumerate_devices (&error);
  gint chosen;
  const TailorVkDeviceInfo *info;

  if (infos == NULL || infos->len == 0)
    return -1;
  chosen = tailor_vk_choose_device (infos, NULL, NULL);
  if (chosen < 0)
    return -1;
  info = g_ptr_array_index (infos, chosen);
  return is_real_gpu (info) ? (gint) info->index : -1;
}

TailorBackend *
tailor_backend_new (const char *device, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (device == NULL || g_ascii_strcasecmp (device, "auto") == 0)
    {
      gint gpu = find_real_gpu ();

      if (gpu >= 0)
        {
          g_autofree char *request = g_strdup_printf ("%d", gpu);
          g_autoptr (GError) vk_error = NULL;
          TailorBackend *vk = tailor_backend_vk_new (request, &vk_error);

          if (vk != NULL)
            return vk;
          g_message ("Vulkan device %d could not be opened (%s); computing on the CPU instead",
                     gpu, vk_error->message);
        }
      return tailor_backend_cpu_new (error);
    }
  if (g_ascii_strcasecmp (device, "cpu") == 0)
    return tailor_backend_cpu_new (error);
  if (g_ascii_strcasecmp (device, "vulkan") == 0)
    return tailor_backend_vk_new (NULL, error);
  if (g_ascii_strncasecmp (device, "vulkan:", 7) == 0 && device[7] != '\0')
    return tailor_backend_vk_new (device + 7, error);

  g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_NO_DEVICE,
               "device “%s” is not one Tailor knows: use auto, cpu, vulkan, vulkan:INDEX or "
               "vulkan:NAME (tailor-cli devices lists them)",
               device);
  return NULL;
}

void
tailor_backend_free (TailorBackend *self)
{
  if (self == NULL)
    return;
  g_free (self->name);
  self->name = NULL;
  self->klass->free (self);
}

TailorBackendKind
tailor_backend_get_kind (TailorBackend *self)
{
  g_return_val_if_fail (self != NULL, TAILOR_BACKEND_CPU);
  return self->kind;
}

const char *
tailor_backend_get_name (TailorBackend *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->name;
}

guint64
tailor_backend_get_allocated (TailorBackend *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->allocated;
}

guint64
tailor_backend_get_peak (TailorBackend *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->peak;
}

void
tailor_backend_account (TailorBackend *self, gint64 delta)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (delta >= 0 || (guint64) -delta <= self->allocated);

  self->allocated += delta;
  self->peak = MAX (self->peak, self->allocated);
}

/* ---- Memory ---- */

TailorBuf *
tailor_buf_new (TailorBackend *backend, gsize n_bytes, GError **error)
{
  TailorBuf *buf;

  g_return_val_if_fail (backend != NULL, NULL);
  g_return_val_if_fail (n_bytes > 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  buf = backend->klass->buf_new (backend, n_bytes, error);
  if (buf == NULL)
    return NULL;
  buf->backend = backend;
  buf->size = n_bytes;
  tailor_backend_account (backend, (gint64) n_bytes);
  if (n_bytes >= 64 * 1024 * 1024)
    {
      g_autofree char *size = g_format_size_full (n_bytes, G_FORMAT_SIZE_IEC_UNITS);
      g_autofree char *total = g_format_size_full (backend->allocated, G_FORMAT_SIZE_IEC_UNITS);

      g_debug ("%s: a buffer of %s, %s in all", backend->name, size, total);
    }
  return buf;
}

void
tailor_buf_free (TailorBuf *self)
{
  TailorBackend *backend;

  if (self == NULL)
    return;
  backend = self->backend;
  if (!self->borrowed)
    tailor_backend_account (backend, -(gint64) self->size);
  backend->klass->buf_free (backend, self);
}

gsize
tailor_buf_get_size (TailorBuf *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->size;
}

gint64
tailor_tensor_n_elements (const TailorTensor *t)
{
  g_return_val_if_fail (t != NULL, 0);
  return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

gsize
tailor_tensor_n_bytes (const TailorTensor *t)
{
  g_return_val_if_fail (t != NULL, 0);
  return tailor_type_row_size (t->type, t->ne[0]) * (gsize) (t->ne[1] * t->ne[2] * t->ne[3]);
}

gboolean
tailor_tensor_alloc (TailorBackend *backend,
                     TailorType type,
                     guint n_dims,
                     const gint64 *ne,
                     TailorTensor *out,
                     GError **error)
{
  TailorTensor t = { 0 };
  gsize n_bytes;
  guint i;

  g_return_val_if_fail (backend != NULL, FALSE);
  g_return_val_if_fail (n_dims >= 1 && n_dims <= TAILOR_GGUF_MAX_DIMS, FALSE);
  g_return_val_if_fail (ne != NULL && out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  t.type = type;
  for (i = 0; i < TAILOR_GGUF_MAX_DIMS; i++)
    t.ne[i] = i < n_dims ? ne[i] : 1;
  for (i = 0; i < TAILOR_GGUF_MAX_DIMS; i++)
    if (t.ne[i] < 1)
      {
        g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID,
                     "a %s tensor cannot have %" G_GINT64_FORMAT " elements in dimension %u",
                     tailor_type_name (type), t.ne[i], i);
        return FALSE;
      }
  n_bytes = tailor_tensor_n_bytes (&t);
  if (n_bytes == 0)
    {
      g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID,
                   "rows of %" G_GINT64_FORMAT " elements do not fit type %s (its block size "
                   "must divide the row length)",
                   t.ne[0], tailor_type_name (type));
      return FALSE;
    }
  t.buf = tailor_buf_new (backend, n_bytes, error);
  if (t.buf == NULL)
    return FALSE;
  *out = t;
  return TRUE;
}

gboolean
tailor_tensor_alloc_from_gguf (TailorBackend *backend,
                               const TailorGgufTensor *src,
                               TailorTensor *out,
                               GError **error)
{
  TailorTensor t = { 0 };
  guint i;

  g_return_val_if_fail (backend != NULL, FALSE);
  g_return_val_if_fail (src != NULL && out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  t.type = src->type;
  for (i = 0; i < TAILOR_GGUF_MAX_DIMS; i++)
    t.ne[i] = src->ne[i];
  if (tailor_tensor_n_bytes (&t) != src->n_bytes)
    {
      g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID,
                   "tensor %s holds %" G_GSIZE_FORMAT " bytes, but its shape and type %s need "
                   "%" G_GSIZE_FORMAT,
                   src->name, src->n_bytes, tailor_type_name (src->type),
                   tailor_tensor_n_bytes (&t));
      return FALSE;
    }

  /* Host backends read the blocks where the file's mapping has them: a copy would hold the
   * weights twice, once in the copy and once in the mapping's resident pages. */
  if (backend->klass->buf_wrap != NULL && src->file != NULL && tailor_gguf_is_mapped (src->file) &&
      (guintptr) src->data % 16 == 0 && src->n_bytes > 0)
    {
      t.buf = backend->klass->buf_wrap (backend, src->file, src->data, src->n_bytes, error);
      if (t.buf == NULL)
        {
          g_prefix_error (error, "tensor %s: ", src->name);
          return FALSE;
        }
      t.buf->backend = backend;
      t.buf->size = src->n_bytes;
      t.buf->borrowed = TRUE;
      *out = t;
      return TRUE;
    }

  if (!tailor_tensor_alloc (backend, src->type, TAILOR_GGUF_MAX_DIMS, src->ne, &t, error))
    {
      g_prefix_error (error, "tensor %s: ", src->name);
      return FALSE;
    }
  if (!tailor_tensor_upload (&t, src->data, error))
    {
      tailor_buf_free (t.buf);
      return FALSE;
    }
  /* The backend holds its own copy now (a device's memory, which on a CPU implementation of
   * Vulkan is this process's): the file's pages would hold the weights a second time. Read
   * again, they come back from the file. */
  if (src->file != NULL)
    tailor_gguf_release_pages (src->file, src->data, src->n_bytes);
  *out = t;
  return TRUE;
}

TailorTensor
tailor_tensor_rows (const TailorTensor *t, gint64 row0, gint64 n_rows)
{
  TailorTensor view;

  g_return_val_if_fail (t != NULL, (TailorTensor) { 0 });
  view = *t;
  g_return_val_if_fail (t->ne[2] == 1 && t->ne[3] == 1, view);
  g_return_val_if_fail (row0 >= 0 && n_rows >= 1 && row0 + n_rows <= t->ne[1], view);

  view.offset = t->offset + (gsize) row0 * tailor_type_row_size (t->type, t->ne[0]);
  view.ne[1] = n_rows;
  return view;
}

/* The view lies inside its buffer. */
static gboolean
check_view (const TailorTensor *t, GError **error)
{
  gsize n_bytes = tailor_tensor_n_bytes (t);

  if (t->buf == NULL || n_bytes == 0 || t->offset > t->buf->size ||
      n_bytes > t->buf->size - t->offset)
    {
      g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID,
                   "a %s view of %" G_GSIZE_FORMAT " bytes at offset %" G_GSIZE_FORMAT
                   " does not fit its buffer of %" G_GSIZE_FORMAT " bytes",
                   tailor_type_name (t->type), n_bytes, t->offset,
                   t->buf != NULL ? t->buf->size : 0);
      return FALSE;
    }
  return TRUE;
}

gboolean
tailor_tensor_upload (const TailorTensor *t, const void *data, GError **error)
{
  TailorBackend *backend;

  g_return_val_if_fail (t != NULL && t->buf != NULL, FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_view (t, error))
    return FALSE;
  if (t->buf->borrowed)
    {
      g_set_error (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID,
                   "a %s tensor of %" G_GSIZE_FORMAT " bytes reads the model file in place and "
                   "cannot be written; allocate a tensor of its own to change the values",
                   tailor_type_name (t->type), tailor_tensor_n_bytes (t));
      return FALSE;
    }
  backend = t->buf->backend;
  return backend->klass->upload (backend, t, data, error);
}

gboolean
tailor_tensor_download (const TailorTensor *t, void *data, GError **error)
{
  TailorBackend *backend;

  g_return_val_if_fail (t != NULL && t->buf != NULL, FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_view (t, error))
    return FALSE;
  backend = t->buf->backend;
  return backend->klass->download (backend, t, data, error);
}

/* ---- Graphs ---- */

TailorGraph *
tailor_graph_new (TailorBackend *backend)
{
  TailorGraph *g;

  g_return_val_if_fail (backend != NULL, NULL);

  g = g_new0 (TailorGraph, 1);
  g->backend = backend;
  g->ops = g_array_new (FALSE, TRUE, sizeof (TailorOp));
  g->lists = g_ptr_array_new_with_free_func (g_free);
  g->timings = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return g;
}

static void
drop_compiled (TailorGraph *g)
{
  if (g->compiled != NULL)
    g->backend->klass->compiled_free (g->backend, g->compiled);
  g->compiled = NULL;
}

void
tailor_graph_free (TailorGraph *self)
{
  if (self == NULL)
    return;
  drop_compiled (self);
  g_array_unref (self->ops);
  g_ptr_array_unref (self->lists);
  g_clear_error (&self->record_error);
  g_hash_table_unref (self->timings);
  g_free (self);
}

void
tailor_graph_set_profiling (TailorGraph *self, gboolean profiling)
{
  g_return_if_fail (self != NULL);
  self->profiling = profiling;
}

GHashTable *
tailor_graph_get_timings (TailorGraph *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->timings;
}

gboolean
tailor_graph_submit (TailorGraph *self, GError **error)
{
  TailorBackend *backend;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->record_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->record_error));
      return FALSE;
    }
  backend = self->backend;
  if (self->compiled == NULL)
    {
      self->compiled = backend->klass->compile (backend, (const TailorOp *) self->ops->data,
                                                self->ops->len, error);
      if (self->compiled == NULL)
        return FALSE;
    }
  g_hash_table_remove_all (self->timings);
  return backend->klass->run (backend, self->compiled, self->profiling,
                              self->profiling ? self->timings : NULL, error);
}

/* ---- Recording, with shape checks ---- */

typedef struct
{
  TailorGraph *g;
  TailorOpKind kind;
  TailorOp op;
  gboolean ok;
} Rec;

static void
rec_begin (Rec *r, TailorGraph *g, TailorOpKind kind)
{
  memset (r, 0, sizeof (*r));
  r->g = g;
  r->kind = kind;
  r->op.kind = kind;
  r->ok = TRUE;
}

static void rec_fail (Rec *r, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Keeps the first mismatch, naming the op (and its place in the graph). */
static void
rec_fail (Rec *r, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  if (!r->ok)
    return;
  r->ok = FALSE;
  if (r->g->record_error != NULL)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (&r->g->record_error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_INVALID,
               "op %u (%s): %s", r->g->ops->len, tailor_op_kind_name (r->kind), message);
}

/* Appends tensor t (NULL: absent) named name; checks it lies in its buffer, on this
 * backend, at an aligned offset, and is of type want (TAILOR_TYPE_COUNT_: any weight
 * type the CPU can dequantize). Returns TRUE when present and valid. */
static gboolean
rec_tensor (Rec *r, const TailorTensor *t, const char *name, TailorType want, gboolean nullable)
{
  TailorTensor *slot = &r->op.t[r->op.n_t++];
  g_autoptr (GError) error = NULL;
  const TailorTypeInfo *info;

  g_assert (r->op.n_t <= TAILOR_OP_MAX_TENSORS);
  memset (slot, 0, sizeof (*slot));
  if (t == NULL || t->buf == NULL)
    {
      if (!nullable)
        rec_fail (r, "%s is missing", name);
      return FALSE;
    }
  *slot = *t;
  if (t->buf->backend != r->g->backend)
    {
      rec_fail (r, "%s lives on another backend", name);
      return FALSE;
    }
  if (t->offset % VIEW_ALIGNMENT != 0)
    {
      rec_fail (r, "%s starts at byte %" G_GSIZE_FORMAT ", not a multiple of %d", name, t->offset,
                VIEW_ALIGNMENT);
      return FALSE;
    }
  info = tailor_type_get_info (t->type);
  if (want == TAILOR_TYPE_COUNT_ ? info == NULL || !info->can_dequantize : t->type != want)
    {
      rec_fail (r, "%s is %s, expected %s", name, tailor_type_name (t->type),
                want == TAILOR_TYPE_COUNT_ ? "a weight type" : tailor_type_name (want));
      return FALSE;
    }
  if (!check_view (t, &error))
    {
      rec_fail (r, "%s: %s", name, error->message);
      return FALSE;
    }
  return TRUE;
}

#define F32 TAILOR_TYPE_F32
#define I32 TAILOR_TYPE_I32
#define WEIGHT TAILOR_TYPE_COUNT_

/* t has `want` elements (desc says how they were counted). */
static void
rec_elements (Rec *r, const TailorTensor *t, const char *name, gint64 want, const char *desc)
{
  gint64 n;

  if (t == NULL || t->buf == NULL)
    return;
  n = tailor_tensor_n_elements (t);
  if (n != want)
    rec_fail (r, "%s has %" G_GINT64_FORMAT " elements, expected %" G_GINT64_FORMAT " (%s)", name,
              n, want, desc);
}

/* t is a matrix of `rows` rows of `cols` elements (ne[0] = cols, the rest rows). */
static void
rec_matrix (Rec *r, const TailorTensor *t, const char *name, gint64 cols, const char *cols_desc,
            gint64 rows, const char *rows_desc)
{
  gint64 n;

  if (t == NULL || t->buf == NULL)
    return;
  n = tailor_tensor_n_elements (t);
  if (t->ne[0] != cols)
    rec_fail (r, "%s has rows of %" G_GINT64_FORMAT " elements (ne[0]), expected %" G_GINT64_FORMAT
              " (%s)", name, t->ne[0], cols, cols_desc);
  else if (n / cols != rows)
    rec_fail (r, "%s has %" G_GINT64_FORMAT " rows, expected %" G_GINT64_FORMAT " (%s)", name,
              n / cols, rows, rows_desc);
}

/* The number of rows of t (elements / ne[0]). */
static gint64
n_rows (const TailorTensor *t)
{
  return t != NULL && t->buf != NULL && t->ne[0] > 0 ? tailor_tensor_n_elements (t) / t->ne[0]
                                                      : 0;
}

static void
rec_end (Rec *r)
{
  if (r->ok)
    {
      drop_compiled (r->g);
      g_array_append_val (r->g->ops, r->op);
    }
}

void
tailor_op_zero (TailorGraph *g, const TailorTensor *out)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_ZERO);
  if (out != NULL && out->buf != NULL && out->type != I32)
    rec_tensor (&r, out, "out", F32, FALSE);
  else
    rec_tensor (&r, out, "out", I32, FALSE);
  rec_end (&r);
}

void
tailor_op_add (TailorGraph *g,
               const TailorTensor *out,
               const TailorTensor *a,
               const TailorTensor *b)
{
  Rec r;
  gint64 n;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_ADD);
  rec_tensor (&r, out, "out", F32, FALSE);
  rec_tensor (&r, a, "a", F32, FALSE);
  rec_tensor (&r, b, "b", F32, FALSE);
  if (r.ok)
    {
      n = tailor_tensor_n_elements (out);
      rec_elements (&r, a, "a", n, "as out");
      rec_elements (&r, b, "b", n, "as out");
    }
  rec_end (&r);
}

void
tailor_op_embedding (TailorGraph *g,
                     const TailorTensor *out,
                     const TailorTensor *embd,
                     const TailorTensor *tokens)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_EMBEDDING);
  rec_tensor (&r, out, "out", F32, FALSE);
  rec_tensor (&r, embd, "embd", WEIGHT, FALSE);
  rec_tensor (&r, tokens, "tokens", I32, FALSE);
  if (r.ok)
    rec_matrix (&r, out, "out", embd->ne[0], "C = embd ne[0]", tailor_tensor_n_elements (tokens),
                "T = tokens");
  rec_end (&r);
}

void
tailor_op_embedding_backward (TailorGraph *g,
                              const TailorTensor *dembd,
                              const TailorTensor *dout,
                              const TailorTensor *tokens)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_EMBEDDING_BACKWARD);
  rec_tensor (&r, dembd, "dembd", F32, FALSE);
  rec_tensor (&r, dout, "dout", F32, FALSE);
  rec_tensor (&r, tokens, "tokens", I32, FALSE);
  if (r.ok)
    rec_matrix (&r, dout, "dout", dembd->ne[0], "C = dembd ne[0]",
                tailor_tensor_n_elements (tokens), "T = tokens");
  rec_end (&r);
}

void
tailor_op_rmsnorm (TailorGraph *g,
                   const TailorTensor *out,
                   const TailorTensor *rstd,
                   const TailorTensor *inp,
                   const TailorTensor *weight,
                   float eps)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_RMSNORM);
  rec_tensor (&r, out, "out", F32, FALSE);
  rec_tensor (&r, rstd, "rstd", F32, TRUE);
  rec_tensor (&r, inp, "inp", F32, FALSE);
  rec_tensor (&r, weight, "weight", F32, FALSE);
  r.op.f[0] = eps;
  if (r.ok)
    {
      gint64 C = inp->ne[0];
      gint64 T = n_rows (inp);

      rec_matrix (&r, out, "out", C, "C = inp ne[0]", T, "T = inp rows");
      rec_elements (&r, weight, "weight", C, "C = inp ne[0]");
      rec_elements (&r, rstd, "rstd", T, "T = inp rows");
    }
  rec_end (&r);
}

void
tailor_op_rmsnorm_backward (TailorGraph *g,
                            const TailorTensor *dinp,
                            const TailorTensor *dweight,
                            const TailorTensor *dout,
                            const TailorTensor *inp,
                            const TailorTensor *weight,
                            float eps)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_RMSNORM_BACKWARD);
  rec_tensor (&r, dinp, "dinp", F32, FALSE);
  rec_tensor (&r, dweight, "dweight", F32, TRUE);
  rec_tensor (&r, dout, "dout", F32, FALSE);
  rec_tensor (&r, inp, "inp", F32, FALSE);
  rec_tensor (&r, weight, "weight", F32, FALSE);
  r.op.f[0] = eps;
  if (r.ok)
    {
      gint64 C = inp->ne[0];
      gint64 T = n_rows (inp);

      rec_matrix (&r, dinp, "dinp", C, "C = inp ne[0]", T, "T = inp rows");
      rec_matrix (&r, dout, "dout", C, "C = inp ne[0]", T, "T = inp rows");
      rec_elements (&r, weight, "weight", C, "C = inp ne[0]");
      rec_elements (&r, dweight, "dweight", C, "C = inp ne[0]");
    }
  rec_end (&r);
}

/* W is a 2-D weight {IC, OC}. */
static void
rec_weight_2d (Rec *r, const TailorTensor *w, const char *name)
{
  if (w != NULL && w->buf != NULL && (w->ne[2] != 1 || w->ne[3] != 1))
    rec_fail (r, "%s is not 2-D (ne %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT " × %"
              G_GINT64_FORMAT " × %" G_GINT64_FORMAT ")", name, w->ne[0], w->ne[1], w->ne[2],
              w->ne[3]);
}

void
tailor_op_matmul (TailorGraph *g,
                  const TailorTensor *out,
                  const TailorTensor *inp,
                  const TailorTensor *w,
                  const TailorTensor *bias)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_MATMUL);
  rec_tensor (&r, out, "out", F32, FALSE);
  rec_tensor (&r, inp, "inp", F32, FALSE);
  rec_tensor (&r, w, "w", WEIGHT, FALSE);
  rec_tensor (&r, bias, "bias", F32, TRUE);
  rec_weight_2d (&r, w, "w");
  if (r.ok)
    {
      gint64 T = n_rows (inp);

      rec_matrix (&r, inp, "inp", w->ne[0], "IC = w ne[0]", T, "T");
      rec_matrix (&r, out, "out", w->ne[1], "OC = w ne[1]", T, "T = inp rows");
      rec_elements (&r, bias, "bias", w->ne[1], "OC = w ne[1]");
    }
  rec_end (&r);
}

void
tailor_op_matmul_backward_input (TailorGraph *g,
                                 const TailorTensor *dinp,
                                 const TailorTensor *dout,
                                 const TailorTensor *w)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_MATMUL_BACKWARD_INPUT);
  rec_tensor (&r, dinp, "dinp", F32, FALSE);
  rec_tensor (&r, dout, "dout", F32, FALSE);
  rec_tensor (&r, w, "w", WEIGHT, FALSE);
  rec_weight_2d (&r, w, "w");
  if (r.ok)
    {
      gint64 T = n_rows (dout);

      rec_matrix (&r, dout, "dout", w->ne[1], "OC = w ne[1]", T, "T");
      rec_matrix (&r, dinp, "dinp", w->ne[0], "IC = w ne[0]", T, "T = dout rows");
    }
  rec_end (&r);
}

void
tailor_op_matmul_backward_weight (TailorGraph *g,
                                  const TailorTensor *dw,
                                  const TailorTensor *dbias,
                                  const TailorTensor *dout,
                                  const TailorTensor *inp)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_MATMUL_BACKWARD_WEIGHT);
  rec_tensor (&r, dw, "dw", F32, FALSE);
  rec_tensor (&r, dbias, "dbias", F32, TRUE);
  rec_tensor (&r, dout, "dout", F32, FALSE);
  rec_tensor (&r, inp, "inp", F32, FALSE);
  rec_weight_2d (&r, dw, "dw");
  if (r.ok)
    {
      gint64 T = n_rows (inp);

      rec_matrix (&r, inp, "inp", dw->ne[0], "IC = dw ne[0]", T, "T");
      rec_matrix (&r, dout, "dout", dw->ne[1], "OC = dw ne[1]", T, "T = inp rows");
      rec_elements (&r, dbias, "dbias", dw->ne[1], "OC = dw ne[1]");
    }
  rec_end (&r);
}

void
tailor_op_rope (TailorGraph *g,
                const TailorTensor *x,
                const TailorTensor *pos,
                int n_head,
                int head_dim,
                int n_rot,
                float freq_base,
                float freq_scale,
                const TailorTensor *freq_factors,
                TailorRopeType type,
                gboolean inverse)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_ROPE);
  rec_tensor (&r, x, "x", F32, FALSE);
  rec_tensor (&r, pos, "pos", I32, FALSE);
  rec_tensor (&r, freq_factors, "freq_factors", F32, TRUE);
  r.op.i[0] = n_head;
  r.op.i[1] = head_dim;
  r.op.i[2] = n_rot;
  r.op.i[3] = type;
  r.op.i[4] = inverse;
  r.op.f[0] = freq_base;
  r.op.f[1] = freq_scale;
  if (n_head < 1 || head_dim < 1 || n_rot < 2 || n_rot > head_dim || n_rot % 2 != 0)
    rec_fail (&r, "n_head %d, head_dim %d, n_rot %d: n_rot must be even and in [2, head_dim]",
              n_head, head_dim, n_rot);
  if (r.ok)
    {
      gint64 T = tailor_tensor_n_elements (pos);

      rec_elements (&r, x, "x", T * n_head * head_dim, "T = pos × n_head × head_dim");
      rec_elements (&r, freq_factors, "freq_factors", n_rot / 2, "n_rot / 2");
    }
  rec_end (&r);
}

static void
check_heads (Rec *r, int n_head, int n_head_kv, int head_dim)
{
  r->op.i[0] = n_head;
  r->op.i[1] = n_head_kv;
  r->op.i[2] = head_dim;
  if (n_head < 1 || n_head_kv < 1 || head_dim < 1 || n_head % n_head_kv != 0)
    rec_fail (r, "n_head %d is not a multiple of n_head_kv %d (head_dim %d)", n_head, n_head_kv,
              head_dim);
}

void
tailor_op_attention (TailorGraph *g,
                     const TailorTensor *out,
                     const TailorTensor *lse,
                     const TailorTensor *q,
                     const TailorTensor *k,
                     const TailorTensor *v,
                     int n_head,
                     int n_head_kv,
                     int head_dim)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_ATTENTION);
  rec_tensor (&r, out, "out", F32, FALSE);
  rec_tensor (&r, lse, "lse", F32, TRUE);
  rec_tensor (&r, q, "q", F32, FALSE);
  rec_tensor (&r, k, "k", F32, FALSE);
  rec_tensor (&r, v, "v", F32, FALSE);
  check_heads (&r, n_head, n_head_kv, head_dim);
  if (r.ok)
    {
      gint64 T = tailor_tensor_n_elements (q) / ((gint64) n_head * head_dim);

      rec_elements (&r, q, "q", T * n_head * head_dim, "T × n_head × head_dim");
      rec_elements (&r, out, "out", T * n_head * head_dim, "T × n_head × head_dim, as q");
      rec_elements (&r, k, "k", T * n_head_kv * head_dim, "T × n_head_kv × head_dim, T from q");
      rec_elements (&r, v, "v", T * n_head_kv * head_dim, "T × n_head_kv × head_dim, T from q");
      rec_elements (&r, lse, "lse", T * n_head, "n_head × T");
    }
  rec_end (&r);
}

void
tailor_op_attention_cached (TailorGraph *g,
                            const TailorTensor *out,
                            const TailorTensor *q,
                            const TailorTensor *k,
                            const TailorTensor *v,
                            const TailorTensor *k_cache,
                            const TailorTensor *v_cache,
                            const TailorTensor *pos,
                            int n_head,
                            int n_head_kv,
                            int head_dim)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_ATTENTION_CACHED);
  rec_tensor (&r, out, "out", F32, FALSE);
  rec_tensor (&r, q, "q", F32, FALSE);
  rec_tensor (&r, k, "k", F32, FALSE);
  rec_tensor (&r, v, "v", F32, FALSE);
  rec_tensor (&r, k_cache, "k_cache", F32, FALSE);
  rec_tensor (&r, v_cache, "v_cache", F32, FALSE);
  rec_tensor (&r, pos, "pos", I32, FALSE);
  check_heads (&r, n_head, n_head_kv, head_dim);
  if (r.ok)
    {
      gint64 T = tailor_tensor_n_elements (pos);
      gint64 kv_width = (gint64) n_head_kv * head_dim;
      gint64 n_ctx = tailor_tensor_n_elements (k_cache) / kv_width;

      rec_elements (&r, q, "q", T * n_head * head_dim, "T × n_head × head_dim, T = pos");
      rec_elements (&r, out, "out", T * n_head * head_dim, "T × n_head × head_dim, as q");
      rec_elements (&r, k, "k", T * kv_width, "T × n_head_kv × head_dim, T = pos");
      rec_elements (&r, v, "v", T * kv_width, "T × n_head_kv × head_dim, T = pos");
      rec_elements (&r, k_cache, "k_cache", n_ctx * kv_width, "n_ctx × n_head_kv × head_dim");
      rec_elements (&r, v_cache, "v_cache", n_ctx * kv_width,
                    "n_ctx × n_head_kv × head_dim, as k_cache");
      if (r.ok && n_ctx < T)
        rec_fail (&r, "the cache holds %" G_GINT64_FORMAT " positions, fewer than the %"
                  G_GINT64_FORMAT " queries", n_ctx, T);
    }
  rec_end (&r);
}

void
tailor_op_attention_backward (TailorGraph *g,
                              const TailorTensor *dq,
                              const TailorTensor *dk,
                              const TailorTensor *dv,
                              const TailorTensor *dout,
                              const TailorTensor *out,
                              const TailorTensor *lse,
                              const TailorTensor *q,
                              const TailorTensor *k,
                              const TailorTensor *v,
                              int n_head,
                              int n_head_kv,
                              int head_dim)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_ATTENTION_BACKWARD);
  rec_tensor (&r, dq, "dq", F32, FALSE);
  rec_tensor (&r, dk, "dk", F32, FALSE);
  rec_tensor (&r, dv, "dv", F32, FALSE);
  rec_tensor (&r, dout, "dout", F32, FALSE);
  rec_tensor (&r, out, "out", F32, FALSE);
  rec_tensor (&r, lse, "lse", F32, FALSE);
  rec_tensor (&r, q, "q", F32, FALSE);
  rec_tensor (&r, k, "k", F32, FALSE);
  rec_tensor (&r, v, "v", F32, FALSE);
  check_heads (&r, n_head, n_head_kv, head_dim);
  if (r.ok)
    {
      gint64 T = tailor_tensor_n_elements (q) / ((gint64) n_head * head_dim);
      gint64 nq = T * n_head * head_dim;
      gint64 nkv = T * n_head_kv * head_dim;

      rec_elements (&r, q, "q", nq, "T × n_head × head_dim");
      rec_elements (&r, dq, "dq", nq, "as q");
      rec_elements (&r, dout, "dout", nq, "as q");
      rec_elements (&r, out, "out", nq, "as q");
      rec_elements (&r, k, "k", nkv, "T × n_head_kv × head_dim, T from q");
      rec_elements (&r, v, "v", nkv, "T × n_head_kv × head_dim, T from q");
      rec_elements (&r, dk, "dk", nkv, "as k");
      rec_elements (&r, dv, "dv", nkv, "as v");
      rec_elements (&r, lse, "lse", T * n_head, "n_head × T");
    }
  rec_end (&r);
}

void
tailor_op_swiglu (TailorGraph *g,
                  const TailorTensor *out,
                  const TailorTensor *gate,
                  const TailorTensor *up)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_SWIGLU);
  rec_tensor (&r, out, "out", F32, FALSE);
  rec_tensor (&r, gate, "gate", F32, FALSE);
  rec_tensor (&r, up, "up", F32, FALSE);
  if (r.ok)
    {
      gint64 n = tailor_tensor_n_elements (out);

      rec_elements (&r, gate, "gate", n, "as out");
      rec_elements (&r, up, "up", n, "as out");
    }
  rec_end (&r);
}

void
tailor_op_swiglu_backward (TailorGraph *g,
                           const TailorTensor *dgate,
                           const TailorTensor *dup,
                           const TailorTensor *dout,
                           const TailorTensor *gate,
                           const TailorTensor *up)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_SWIGLU_BACKWARD);
  rec_tensor (&r, dgate, "dgate", F32, FALSE);
  rec_tensor (&r, dup, "dup", F32, FALSE);
  rec_tensor (&r, dout, "dout", F32, FALSE);
  rec_tensor (&r, gate, "gate", F32, FALSE);
  rec_tensor (&r, up, "up", F32, FALSE);
  if (r.ok)
    {
      gint64 n = tailor_tensor_n_elements (dout);

      rec_elements (&r, dgate, "dgate", n, "as dout");
      rec_elements (&r, dup, "dup", n, "as dout");
      rec_elements (&r, gate, "gate", n, "as dout");
      rec_elements (&r, up, "up", n, "as dout");
    }
  rec_end (&r);
}

/* The LoRA shapes: inp (T, IC), a (r, IC), b (OC, r), xa (T, r), out (T, OC). */
static void
check_lora (Rec *r,
            const TailorTensor *out,
            const char *out_name,
            const TailorTensor *xa,
            const TailorTensor *inp,
            const TailorTensor *a,
            const TailorTensor *b,
            float dropout,
            const TailorTensor *seed)
{
  gint64 IC = a->ne[0];
  gint64 rank = n_rows (a);
  gint64 OC = n_rows (b);
  gint64 T = n_rows (inp);

  if (dropout < 0.0f || dropout >= 1.0f)
    rec_fail (r, "dropout %g is outside [0, 1)", dropout);
  if (dropout > 0.0f && (seed == NULL || seed->buf == NULL))
    rec_fail (r, "dropout %g needs a seed tensor", dropout);
  rec_elements (r, seed, "seed", 1, "one I32");
  rec_matrix (r, b, "b", rank, "r = a rows", OC, "OC");
  rec_matrix (r, inp, "inp", IC, "IC = a ne[0]", T, "T");
  rec_matrix (r, xa, "xa", rank, "r = a rows", T, "T = inp rows");
  rec_matrix (r, out, out_name, OC, "OC = b rows", T, "T = inp rows");
}

void
tailor_op_lora (TailorGraph *g,
                const TailorTensor *out,
                const TailorTensor *xa,
                const TailorTensor *inp,
                const TailorTensor *a,
                const TailorTensor *b,
                float scale,
                float dropout,
                const TailorTensor *seed)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_LORA);
  rec_tensor (&r, out, "out", F32, FALSE);
  rec_tensor (&r, xa, "xa", F32, FALSE);
  rec_tensor (&r, inp, "inp", F32, FALSE);
  rec_tensor (&r, a, "a", F32, FALSE);
  rec_tensor (&r, b, "b", F32, FALSE);
  rec_tensor (&r, seed, "seed", I32, TRUE);
  r.op.f[0] = scale;
  r.op.f[1] = dropout;
  if (r.ok)
    check_lora (&r, out, "out", xa, inp, a, b, dropout, seed);
  rec_end (&r);
}

void
tailor_op_lora_backward (TailorGraph *g,
                         const TailorTensor *dinp,
                         const TailorTensor *da,
                         const TailorTensor *db,
                         const TailorTensor *dout,
                         const TailorTensor *inp,
                         const TailorTensor *xa,
                         const TailorTensor *a,
                         const TailorTensor *b,
                         float scale,
                         float dropout,
                         const TailorTensor *seed)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_LORA_BACKWARD);
  rec_tensor (&r, dinp, "dinp", F32, TRUE);
  rec_tensor (&r, da, "da", F32, FALSE);
  rec_tensor (&r, db, "db", F32, FALSE);
  rec_tensor (&r, dout, "dout", F32, FALSE);
  rec_tensor (&r, inp, "inp", F32, FALSE);
  rec_tensor (&r, xa, "xa", F32, FALSE);
  rec_tensor (&r, a, "a", F32, FALSE);
  rec_tensor (&r, b, "b", F32, FALSE);
  rec_tensor (&r, seed, "seed", I32, TRUE);
  r.op.f[0] = scale;
  r.op.f[1] = dropout;
  if (r.ok)
    {
      check_lora (&r, dout, "dout", xa, inp, a, b, dropout, seed);
      rec_elements (&r, da, "da", tailor_tensor_n_elements (a), "as a");
      rec_elements (&r, db, "db", tailor_tensor_n_elements (b), "as b");
      rec_elements (&r, dinp, "dinp", tailor_tensor_n_elements (inp), "as inp");
    }
  rec_end (&r);
}

/* inp (T, C), w {C, V}, targets and mask (T), lse (T). */
static void
check_cross_entropy (Rec *r,
                     const TailorTensor *inp,
                     const TailorTensor *w,
                     const TailorTensor *targets,
                     const TailorTensor *mask,
                     const TailorTensor *lse,
                     int chunk)
{
  gint64 T = n_rows (inp);

  r->op.i[0] = chunk;
  if (chunk < 1)
    rec_fail (r, "chunk %d must be at least 1", chunk);
  rec_weight_2d (r, w, "w");
  rec_matrix (r, inp, "inp", w->ne[0], "C = w ne[0]", T, "T");
  rec_elements (r, targets, "targets", T, "T = inp rows");
  rec_elements (r, mask, "mask", T, "T = inp rows");
  rec_elements (r, lse, "lse", T, "T = inp rows");
}

void
tailor_op_cross_entropy (TailorGraph *g,
                         const TailorTensor *loss,
                         const TailorTensor *lse,
                         const TailorTensor *inp,
                         const TailorTensor *w,
                         const TailorTensor *targets,
                         const TailorTensor *mask,
                         int chunk)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_CROSS_ENTROPY);
  rec_tensor (&r, loss, "loss", F32, FALSE);
  rec_tensor (&r, lse, "lse", F32, TRUE);
  rec_tensor (&r, inp, "inp", F32, FALSE);
  rec_tensor (&r, w, "w", WEIGHT, FALSE);
  rec_tensor (&r, targets, "targets", I32, FALSE);
  rec_tensor (&r, mask, "mask", F32, FALSE);
  if (r.ok)
    {
      check_cross_entropy (&r, inp, w, targets, mask, lse, chunk);
      rec_elements (&r, loss, "loss", 1, "one F32");
    }
  rec_end (&r);
}

void
tailor_op_cross_entropy_backward (TailorGraph *g,
                                  const TailorTensor *dinp,
                                  const TailorTensor *dw,
                                  const TailorTensor *inp,
                                  const TailorTensor *w,
                                  const TailorTensor *targets,
                                  const TailorTensor *mask,
                                  const TailorTensor *lse,
                                  const TailorTensor *dloss,
                                  int chunk)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_CROSS_ENTROPY_BACKWARD);
  rec_tensor (&r, dinp, "dinp", F32, FALSE);
  rec_tensor (&r, dw, "dw", F32, TRUE);
  rec_tensor (&r, inp, "inp", F32, FALSE);
  rec_tensor (&r, w, "w", WEIGHT, FALSE);
  rec_tensor (&r, targets, "targets", I32, FALSE);
  rec_tensor (&r, mask, "mask", F32, FALSE);
  rec_tensor (&r, lse, "lse", F32, FALSE);
  rec_tensor (&r, dloss, "dloss", F32, FALSE);
  if (r.ok)
    {
      check_cross_entropy (&r, inp, w, targets, mask, lse, chunk);
      rec_elements (&r, dinp, "dinp", tailor_tensor_n_elements (inp), "as inp");
      rec_elements (&r, dw, "dw", tailor_tensor_n_elements (w), "as w");
      rec_elements (&r, dloss, "dloss", 1, "one F32");
    }
  rec_end (&r);
}

void
tailor_op_grad_norm_sq (TailorGraph *g,
                        const TailorTensor *norm_sq,
                        const TailorTensor *const *grads,
                        guint n)
{
  Rec r;
  TailorTensor *list;
  guint i;

  g_return_if_fail (g != NULL);
  g_return_if_fail (grads != NULL || n == 0);
  rec_begin (&r, g, TAILOR_OP_GRAD_NORM_SQ);
  rec_tensor (&r, norm_sq, "norm_sq", F32, FALSE);
  rec_elements (&r, norm_sq, "norm_sq", 1, "one F32");
  list = g_new0 (TailorTensor, MAX (n, 1));
  for (i = 0; i < n && r.ok; i++)
    {
      g_autofree char *name = g_strdup_printf ("grads[%u]", i);

      /* each list entry is checked in the op's one tensor slot, then moved to the list */
      r.op.n_t = 1;
      if (rec_tensor (&r, grads[i], name, F32, FALSE))
        list[i] = *grads[i];
      r.op.n_t = 1;
    }
  if (!r.ok)
    {
      g_free (list);
      rec_end (&r);
      return;
    }
  memset (&r.op.t[1], 0, sizeof (TailorTensor));
  g_ptr_array_add (g->lists, list);
  r.op.list = list;
  r.op.n_list = n;
  rec_end (&r);
}

void
tailor_op_adamw (TailorGraph *g,
                 const TailorTensor *param,
                 const TailorTensor *m,
                 const TailorTensor *v,
                 const TailorTensor *grad,
                 const TailorTensor *hyper,
                 const TailorTensor *norm_sq)
{
  Rec r;

  g_return_if_fail (g != NULL);
  rec_begin (&r, g, TAILOR_OP_ADAMW);
  rec_tensor (&r, param, "param", F32, FALSE);
  rec_tensor (&r, m, "m", F32, FALSE);
  rec_tensor (&r, v, "v", F32, FALSE);
  rec_tensor (&r, grad, "grad", F32, FALSE);
  rec_tensor (&r, hyper, "hyper", F32, FALSE);
  rec_tensor (&r, norm_sq, "norm_sq", F32, TRUE);
  if (r.ok)
    {
      gint64 n = tailor_tensor_n_elements (param);

      rec_elements (&r, m, "m", n, "as param");
      rec_elements (&r, v, "v", n, "as param");
      rec_elements (&r, grad, "grad", n, "as param");
      rec_elements (&r, hyper, "hyper", sizeof (TailorAdamWHyper) / sizeof (float),
                    "TailorAdamWHyper");
      rec_elements (&r, norm_sq, "norm_sq", 1, "one F32");
    }
  rec_end (&r);
}

/* ---- Profiles ---- */

static void
profile_entry_free (gpointer data)
{
  TailorOpProfile *e = data;

  g_free (e->kind);
  g_free (e);
}

GHashTable *
tailor_op_profile_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, NULL, profile_entry_free);
}

static TailorOpProfile *
profile_entry (GHashTable *profile, const char *kind)
{
  TailorOpProfile *e = g_hash_table_lookup (profile, kind);

  if (e == NULL)
    {
      e = g_new0 (TailorOpProfile, 1);
      e->kind = g_strdup (kind);
      g_hash_table_insert (profile, e->kind, e);
    }
  return e;
}

void
tailor_op_profile_add_timings (GHashTable *profile, GHashTable *timings)
{
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  g_return_if_fail (profile != NULL && timings != NULL);

  g_hash_table_iter_init (&iter, timings);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const char *label = key;
      const char *kind = label;
      TailorOpProfile *e;

      /* a backend that times each op apart labels it "index kind" */
      while (g_ascii_isdigit (*kind))
        kind++;
      if (kind != label && *kind == ' ')
        kind++;
      else
        kind = label;
      e = profile_entry (profile, kind);
      e->ms += *(const double *) value;
      if (kind != label)
        e->n_ops++;
    }
}

void
tailor_op_profile_add_flops (GHashTable *profile, const char *kind, double flops)
{
  g_return_if_fail (profile != NULL && kind != NULL);
  profile_entry (profile, kind)->flops += flops;
}

static gint
slowest_first (gconstpointer a, gconstpointer b)
{
  const TailorOpProfile *x = *(TailorOpProfile *const *) a;
  const TailorOpProfile *y = *(TailorOpProfile *const *) b;

  if (x->ms != y->ms)
    return x->ms < y->ms ? 1 : -1;
  return g_strcmp0 (x->kind, y->kind);
}

GPtrArray *
tailor_op_profile_sorted (GHashTable *profile)
{
  GPtrArray *out;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (profile != NULL, NULL);

  out = g_ptr_array_new ();
  g_hash_table_iter_init (&iter, profile);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (out, value);
  g_ptr_array_sort (out, slowest_first);
  return out;
}
