/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The op interface: buffers, tensor views, a recorded list of ops, submit, read back.
 * Two implementations: Vulkan (tailor-backend-vk.c) and the CPU (tailor-backend-cpu.c,
 * OpenBLAS). The CPU reference in tailor-cpu-ref.c defines what every op computes. */
#pragma once

#include <json-glib/json-glib.h>

#include "tailor-gguf.h"
#include "tailor-model.h"

G_BEGIN_DECLS

#define TAILOR_BACKEND_ERROR (tailor_backend_error_quark ())
GQuark tailor_backend_error_quark (void);

typedef enum {
  TAILOR_BACKEND_ERROR_NO_DEVICE,     /* the device asked for does not exist */
  TAILOR_BACKEND_ERROR_OUT_OF_MEMORY, /* message carries advice: smaller batch/sequence/rank … */
  TAILOR_BACKEND_ERROR_DEVICE_LOST,   /* message: resume from the last checkpoint */
  TAILOR_BACKEND_ERROR_UNSUPPORTED,   /* an op/type this backend cannot run (message names it) */
  TAILOR_BACKEND_ERROR_INVALID,       /* shapes or arguments that do not fit (message names them) */
  TAILOR_BACKEND_ERROR_FAILED,
} TailorBackendError;

typedef enum {
  TAILOR_BACKEND_CPU,
  TAILOR_BACKEND_VULKAN,
} TailorBackendKind;

typedef struct _TailorBackend TailorBackend;
typedef struct _TailorBuf TailorBuf;
typedef struct _TailorGraph TailorGraph;

/* device: "auto" (a real GPU through Vulkan if there is one, else the CPU backend — a CPU
 * Vulkan implementation such as lavapipe is not chosen by auto), "cpu", "vulkan" (best
 * Vulkan device, lavapipe included), "vulkan:N" or "vulkan:NAME". NULL = "auto". */
TailorBackend *tailor_backend_new (const char *device, GError **error);
void tailor_backend_free (TailorBackend *self);
TailorBackendKind tailor_backend_get_kind (TailorBackend *self);
const char *tailor_backend_get_name (TailorBackend *self);  /* "cpu (OpenBLAS, 2 threads)", "llvmpipe …" */
/* The CPU backend as `tailor-cli devices` lists it: one JSON object with backend "cpu",
 * name (the processor), cores, threads (TAILOR_THREADS), simd (what the processor has:
 * "AVX-512", "AVX2+FMA", "AVX", "SSE2"), vector_loops (the variant Tailor's own loops run),
 * blas (OpenBLAS's configuration) and blas_kernels (the kernel family it runs). */
void tailor_backend_cpu_describe (JsonBuilder *builder);
/* Bytes currently allocated and the peak since creation (device memory or host memory). */
guint64 tailor_backend_get_allocated (TailorBackend *self);
guint64 tailor_backend_get_peak (TailorBackend *self);

/* ---- Memory ----
 * A buffer is plain backend memory; a tensor is a typed view into one. Quantized
 * tensors keep ggml's block layout as far as the API is concerned (a backend may repack
 * at upload, e.g. to split Q8_0 scales from quants, but views and downloads speak ggml). */
TailorBuf *tailor_buf_new (TailorBackend *backend, gsize n_bytes, GError **error); /* zeroed */
void tailor_buf_free (TailorBuf *self);
gsize tailor_buf_get_size (TailorBuf *self);

typedef struct {
  TailorBuf *buf;
  gsize offset;                      /* bytes from the start of buf; a multiple of 16 */
  TailorType type;                   /* F32, I32 (token ids, positions), or a weight type */
  gint64 ne[TAILOR_GGUF_MAX_DIMS];   /* ne[0] fastest; unused dims 1 */
} TailorTensor;

gsize tailor_tensor_n_bytes (const TailorTensor *t);
gint64 tailor_tensor_n_elements (const TailorTensor *t);
/* A new buffer holding exactly one tensor of that shape, zeroed. */
gboolean tailor_tensor_alloc (TailorBackend *backend, TailorType type, guint n_dims,
                              const gint64 *ne, TailorTensor *out, GError **error);
/* Uploads a GGUF tensor's raw blocks once (weights stay quantized in device memory). The CPU
 * backend instead reads a mapped file's blocks in place: no copy, no bytes counted in
 * tailor_backend_get_allocated, the file kept open until the buffer is freed, and the
 * tensor read-only (tailor_tensor_upload refuses it). */
gboolean tailor_tensor_alloc_from_gguf (TailorBackend *backend, const TailorGgufTensor *src,
                                        TailorTensor *out, GError **error);
/* Rows [row0, row0 + n_rows) of a 2-D view (rows = ne[1]). */
TailorTensor tailor_tensor_rows (const TailorTensor *t, gint64 row0, gint64 n_rows);
/* Host transfers of a whole view; synchronous, outside any graph. */
gboolean tailor_tensor_upload (const TailorTensor *t, const void *data, GError **error);
gboolean tailor_tensor_download (const TailorTensor *t, void *data, GError **error);

/* ---- Graphs ----
 * Ops are recorded, then run by submit (Vulkan: one command buffer, barriers only where
 * data flows; CPU: in order). A graph can be submitted again: values that change from step
 * to step (tokens, learning rate, step number, dropout seed) live in tensors that the
 * caller uploads before each submit. All shapes follow tailor-cpu-ref.h, whose functions
 * define each op's result; "backward" ops ACCUMULATE (+=) into gradients. */
TailorGraph *tailor_graph_new (TailorBackend *backend);
void tailor_graph_free (TailorGraph *self);
/* Per-op timings of the last submit, when profiling (label → milliseconds). */
void tailor_graph_set_profiling (TailorGraph *self, gboolean profiling);
GHashTable *tailor_graph_get_timings (TailorGraph *self);
gboolean tailor_graph_submit (TailorGraph *self, GError **error);

/* ---- Profiles ----
 * Device time of profiled submits summed by op kind, for `--profile` (Vulkan: kernel
 * timestamps; CPU: the clock around each op). */
typedef struct {
  char *kind;   /* as tailor-backend names ops: "matmul", "attention_backward" … */
  double ms;
  double flops; /* the matrix products among them: 2 × multiply-adds; 0 for other ops */
  guint n_ops;  /* ops of this kind timed, over every submit added (0: the backend's timings
                 * do not tell ops of a kind apart) */
} TailorOpProfile;

/* kind → TailorOpProfile, freed with g_hash_table_unref. */
GHashTable *tailor_op_profile_new (void);
/* Adds a graph's timings of its last submit (tailor_graph_get_timings). */
void tailor_op_profile_add_timings (GHashTable *profile, GHashTable *timings);
void tailor_op_profile_add_flops (GHashTable *profile, const char *kind, double flops);
/* The entries, slowest first; borrowed from profile. */
GPtrArray *tailor_op_profile_sorted (GHashTable *profile);

/* out = 0 */
void tailor_op_zero (TailorGraph *g, const TailorTensor *out);
/* out (n) = a (n) + b (n) */
void tailor_op_add (TailorGraph *g, const TailorTensor *out, const TailorTensor *a, const TailorTensor *b);
/* out (T, C) = rows of embd (ne {C, V}, any weight type) at tokens (I32, T) */
void tailor_op_embedding (TailorGraph *g, const TailorTensor *out, const TailorTensor *embd,
                          const TailorTensor *tokens);
/* dembd (F32 {C, V}) += scatter of dout rows */
void tailor_op_embedding_backward (TailorGraph *g, const TailorTensor *dembd,
                                   const TailorTensor *dout, const TailorTensor *tokens);
/* out (T, C) = rmsnorm (inp) * weight; rstd (T) kept for the backward (may be NULL) */
void tailor_op_rmsnorm (TailorGraph *g, const TailorTensor *out, const TailorTensor *rstd,
                        const TailorTensor *inp, const TailorTensor *weight, float eps);
void tailor_op_rmsnorm_backward (TailorGraph *g, const TailorTensor *dinp,
                                 const TailorTensor *dweight /* nullable */,
                                 const TailorTensor *dout, const TailorTensor *inp,
                                 const TailorTensor *weight, float eps);
/* out (T, OC) = inp (T, IC) · Wᵀ + bias; W ne {IC, OC} of any weight type; bias nullable */
void tailor_op_matmul (TailorGraph *g, const TailorTensor *out, const TailorTensor *inp,
                       const TailorTensor *w, const TailorTensor *bias);
/* dinp (T, IC) += dout (T, OC) · W */
void tailor_op_matmul_backward_input (TailorGraph *g, const TailorTensor *dinp,
                                      const TailorTensor *dout, const TailorTensor *w);
/* dw (F32 {IC, OC}) += doutᵀ · inp; dbias (OC) += Σ_t dout (nullable) */
void tailor_op_matmul_backward_weight (TailorGraph *g, const TailorTensor *dw,
                                       const TailorTensor *dbias, const TailorTensor *dout,
                                       const TailorTensor *inp);
/* In place on x (T, n_head, head_dim) at positions pos (I32, T); inverse = the backward */
void tailor_op_rope (TailorGraph *g, const TailorTensor *x, const TailorTensor *pos, int n_head,
                     int head_dim, int n_rot, float freq_base, float freq_scale,
                     const TailorTensor *freq_factors /* nullable */, TailorRopeType type,
                     gboolean inverse);
/* Causal GQA over the same T positions (training): out (T, n_head, hd); lse (n_head, T) kept
 * for the backward (nullable for inference). Memory must not grow with T². */
void tailor_op_attention (TailorGraph *g, const TailorTensor *out, const TailorTensor *lse,
                          const TailorTensor *q, const TailorTensor *k, const TailorTensor *v,
                          int n_head, int n_head_kv, int head_dim);
void tailor_op_attention_backward (TailorGraph *g, const TailorTensor *dq, const TailorTensor *dk,
                                   const TailorTensor *dv, const TailorTensor *dout,
                                   const TailorTensor *out, const TailorTensor *lse,
                                   const TailorTensor *q, const TailorTensor *k,
                                   const TailorTensor *v, int n_head, int n_head_kv, int head_dim);
/* Inference over a KV cache. k, v (T, n_head_kv, hd) become rows pos[0] … pos[0] + T − 1 of
 * k_cache, v_cache (n_ctx, n_head_kv, hd); then out (T, n_head, hd) is causal GQA attention of
 * q (T, n_head, hd) where query t sits at position pos[0] + t and sees cache rows 0 ..= pos[0] + t:
 * tailor_ref_attention_forward with q_pos0 = pos[0]. pos (I32, T) holds consecutive positions
 * (RoPE's) that must lie in [0, n_ctx); it is read at submit time, so one graph serves every
 * step of a generation. */
void tailor_op_attention_cached (TailorGraph *g, const TailorTensor *out, const TailorTensor *q,
                                 const TailorTensor *k, const TailorTensor *v,
                                 const TailorTensor *k_cache, const TailorTensor *v_cache,
                                 const TailorTensor *pos, int n_head, int n_head_kv,
                                 int head_dim);
/* out (T, C) = silu (gate) * up */
void tailor_op_swiglu (TailorGraph *g, const TailorTensor *out, const TailorTensor *gate,
                       const TailorTensor *up);
void tailor_op_swiglu_backward (TailorGraph *g, const TailorTensor *dgate, const TailorTensor *dup,
                                const TailorTensor *dout, const TailorTensor *gate,
                                const TailorTensor *up);
/* out (T, OC) += scale · B · dropout (A · inp)… exactly tailor_ref_lora_forward; xa (T, r)
 * kept for the backward. seed: I32 tensor of 1 element (the step's dropout seed). */
void tailor_op_lora (TailorGraph *g, const TailorTensor *out, const TailorTensor *xa,
                     const TailorTensor *inp, const TailorTensor *a, const TailorTensor *b,
                     float scale, float dropout, const TailorTensor *seed);
void tailor_op_lora_backward (TailorGraph *g, const TailorTensor *dinp /* nullable */,
                              const TailorTensor *da, const TailorTensor *db,
                              const TailorTensor *dout, const TailorTensor *inp,
                              const TailorTensor *xa, const TailorTensor *a, const TailorTensor *b,
                              float scale, float dropout, const TailorTensor *seed);
/* Chunked output projection + log-softmax + masked mean cross-entropy (never T×V in memory):
 * loss (F32, 1) = tailor_ref_cross_entropy_forward; lse (T) kept. targets I32 (T), mask F32 (T). */
void tailor_op_cross_entropy (TailorGraph *g, const TailorTensor *loss, const TailorTensor *lse,
                              const TailorTensor *inp, const TailorTensor *w,
                              const TailorTensor *targets, const TailorTensor *mask, int chunk);
/* dinp += …; dw (nullable, full fine-tune) += …; dloss: F32 (1) scale of the loss gradient */
void tailor_op_cross_entropy_backward (TailorGraph *g, const TailorTensor *dinp,
                                       const TailorTensor *dw, const TailorTensor *inp,
                                       const TailorTensor *w, const TailorTensor *targets,
                                       const TailorTensor *mask, const TailorTensor *lse,
                                       const TailorTensor *dloss, int chunk);
/* norm_sq (F32, 1) = Σ over tensors of Σ g² */
void tailor_op_grad_norm_sq (TailorGraph *g, const TailorTensor *norm_sq,
                             const TailorTensor *const *grads, guint n);

/* AdamW hyper-parameters, read on the device at submit time (upload before each step). */
typedef struct {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weight_decay;
  float step;          /* t, 1-based, for the bias corrections */
  float max_grad_norm; /* <= 0: no clipping */
  float pad;
} TailorAdamWHyper;   /* = one F32 tensor of 8 elements */

/* Clips by max_grad_norm using norm_sq (PyTorch's coefficient max/(norm+1e-6)), then
 * tailor_ref_adamw_update on param/m/v (F32, same n). */
void tailor_op_adamw (TailorGraph *g, const TailorTensor *param, const TailorTensor *m,
                      const TailorTensor *v, const TailorTensor *grad,
                      const TailorTensor *hyper, const TailorTensor *norm_sq);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorBackend, tailor_backend_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorGraph, tailor_graph_free)

G_END_DECLS
