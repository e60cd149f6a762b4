/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What a backend implements: a table of functions behind tailor-backend.h. */
#pragma once

#include "tailor-backend.h"

G_BEGIN_DECLS

typedef enum {
  TAILOR_OP_ZERO,
  TAILOR_OP_ADD,
  TAILOR_OP_EMBEDDING,
  TAILOR_OP_EMBEDDING_BACKWARD,
  TAILOR_OP_RMSNORM,
  TAILOR_OP_RMSNORM_BACKWARD,
  TAILOR_OP_MATMUL,
  TAILOR_OP_MATMUL_BACKWARD_INPUT,
  TAILOR_OP_MATMUL_BACKWARD_WEIGHT,
  TAILOR_OP_ROPE,
  TAILOR_OP_ATTENTION,
  TAILOR_OP_ATTENTION_BACKWARD,
  TAILOR_OP_SWIGLU,
  TAILOR_OP_SWIGLU_BACKWARD,
  TAILOR_OP_LORA,
  TAILOR_OP_LORA_BACKWARD,
  TAILOR_OP_CROSS_ENTROPY,
  TAILOR_OP_CROSS_ENTROPY_BACKWARD,
  TAILOR_OP_GRAD_NORM_SQ,
  TAILOR_OP_ADAMW,
  TAILOR_OP_ATTENTION_CACHED,
} TailorOpKind;

#define TAILOR_OP_MAX_TENSORS 12

/* One recorded op: its tensors (absent ones have buf == NULL) and scalar arguments, in the
 * order of the tailor_op_* call. grad_norm_sq keeps its list in `list`. */
typedef struct {
  TailorOpKind kind;
  TailorTensor t[TAILOR_OP_MAX_TENSORS];
  guint n_t;
  int i[8];
  float f[8];
  TailorTensor *list;
  guint n_list;
} TailorOp;

typedef struct {
  const char *name;
  void (*free) (TailorBackend *self);
  TailorBuf *(*buf_new) (TailorBackend *self, gsize n_bytes, GError **error);
  void (*buf_free) (TailorBackend *self, TailorBuf *buf);
  gboolean (*upload) (TailorBackend *self, const TailorTensor *t, const void *data, GError **error);
  gboolean (*download) (TailorBackend *self, const TailorTensor *t, void *data, GError **error);
  /* Prepares a recorded op list for (repeated) execution; called once before the first run. */
  gpointer (*compile) (TailorBackend *self, const TailorOp *ops, guint n_ops, GError **error);
  gboolean (*run) (TailorBackend *self, gpointer compiled, gboolean profile, GHashTable *timings,
                   GError **error);
  void (*compiled_free) (TailorBackend *self, gpointer compiled);
  /* A buffer over n_bytes of a read-only mapped file at data, holding a reference to file so
   * that the mapping outlives the buffer; NULL where the backend must copy (Vulkan uploads). */
  TailorBuf *(*buf_wrap) (TailorBackend *self, TailorGguf *file, const void *data, gsize n_bytes,
                          GError **error);
} TailorBackendClass;

struct _TailorBackend {
  const TailorBackendClass *klass;
  TailorBackendKind kind;
  char *name;
  guint64 allocated;
  guint64 peak;
};

struct _TailorBuf {
  TailorBackend *backend;
  gsize size;
  gboolean borrowed; /* from buf_wrap: read-only, and not counted in allocated/peak */
};

/* Constructors behind tailor_backend_new. request: NULL for the best Vulkan device, else
 * an index or part of a name (tailor_vk_choose_device). */
TailorBackend *tailor_backend_cpu_new (GError **error);
TailorBackend *tailor_backend_vk_new (const char *request, GError **error);

/* The dispatch layer counts every buffer's size in allocated/peak; a backend calls this
 * for memory it takes beyond buffers (scratch), positive when taken, negative when freed. */
void tailor_backend_account (TailorBackend *self, gint64 delta);

/* The op's name as profiles and error messages show it: "matmul", "rmsnorm_backward". */
const char *tailor_op_kind_name (TailorOpKind kind);

G_END_DECLS
