/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Kernels recorded on a TailorVkRecorder; each has a plain-C twin its test compares with. */
#pragma once

#include "tailor-backend.h"
#include "tailor-vk-matmul.h"
#include "tailor-vk-recorder.h"

G_BEGIN_DECLS

/* out (n) = silu(gate) * up, all fp32. */
gboolean tailor_vk_swiglu_forward (TailorVkRecorder *rec,
                                   const TailorVkBufferRange *out,
                                   const TailorVkBufferRange *gate,
                                   const TailorVkBufferRange *up,
                                   guint64 n,
                                   GError **error);

/* Tiles of the split-K fp32 matmul: workgroup size (a multiple of the subgroup size), and the
 * BM × BN block of Y one subgroup owns (BN a multiple of 4, BM × BN ≤ 256). Zeros take the
 * device's defaults. */
typedef struct
{
  guint32 workgroup_size;
  guint32 block_m;
  guint32 block_n;
} TailorVkMatmulTiles;

/* Y (T, N) = drop (X) (T, K) · Wᵀ with W (N, K), fp32, rows contiguous; K a multiple of 4 and
 * the X and W offsets aligned for texel buffers. tiles and drop may be NULL. */
gboolean tailor_vk_matmul_f32_forward (TailorVkRecorder *rec,
                                       const TailorVkBufferRange *y,
                                       const TailorVkBufferRange *x,
                                       const TailorVkBufferRange *w,
                                       guint T,
                                       guint K,
                                       guint N,
                                       const TailorVkMatmulTiles *tiles,
                                       const TailorVkDropout *drop,
                                       GError **error);

/* ---- Op kernels (behind tailor-backend-vk.c) ----
 * Each range is one tensor: a buffer, a byte offset that is a multiple of 4 (16 where vec4
 * texels are read: attention) and its size. Offsets need no device alignment: a kernel binds the
 * aligned range around a tensor and is told where the tensor starts. Optional ranges are NULL.
 * Every kernel matches its tailor_ref_* twin; "backward" kernels accumulate (+=). */

/* out (n) = 0 */
gboolean tailor_vk_op_zero (TailorVkRecorder *rec,
                            const TailorVkBufferRange *out,
                            guint64 n,
                            GError **error);
/* out (n) = a (n) + b (i mod nb); out may be a */
gboolean tailor_vk_op_add (TailorVkRecorder *rec,
                           const TailorVkBufferRange *out,
                           const TailorVkBufferRange *a,
                           const TailorVkBufferRange *b,
                           guint64 n,
                           guint64 nb,
                           GError **error);
/* dgate, dup (n) += SwiGLU's gradients */
gboolean tailor_vk_op_swiglu_backward (TailorVkRecorder *rec,
                                       const TailorVkBufferRange *dgate,
                                       const TailorVkBufferRange *dup,
                                       const TailorVkBufferRange *dout,
                                       const TailorVkBufferRange *gate,
                                       const TailorVkBufferRange *up,
                                       guint64 n,
                                       GError **error);
/* out (T, C) = rmsnorm (inp) · weight; rstd (T) optional */
gboolean tailor_vk_op_rmsnorm (TailorVkRecorder *rec,
                               const TailorVkBufferRange *out,
                               const TailorVkBufferRange *rstd,
                               const TailorVkBufferRange *inp,
                               const TailorVkBufferRange *weight,
                               guint T,
                               guint C,
                               float eps,
                               GError **error);
/* dinp (optional) and dweight (optional) += RMSNorm's gradients; scratch holds T floats */
gboolean tailor_vk_op_rmsnorm_backward (TailorVkRecorder *rec,
                                        const TailorVkBufferRange *dinp,
                                        const TailorVkBufferRange *dweight,
                                        const TailorVkBufferRange *scratch,
                                        const TailorVkBufferRange *dout,
                                        const TailorVkBufferRange *inp,
                                        const TailorVkBufferRange *weight,
                                        guint T,
                                        guint C,
                                        float eps,
                                        GError **error);
/* In place on x (T, n_head, head_dim) at positions pos (I32, T); factors (n_rot/2) optional */
gboolean tailor_vk_op_rope (TailorVkRecorder *rec,
                            const TailorVkBufferRange *x,
                            const TailorVkBufferRange *pos,
                            const TailorVkBufferRange *factors,
                            guint T,
                            guint n_head,
                            guint head_dim,
                            guint n_rot,
                            float freq_base,
                            float freq_scale,
                            gboolean neox,
                            gboolean inverse,
                            GError **error);
/* out (T, C) row t = W (ggml blocks of type, n_rows rows of C) row tokens[t], or row row0 + t
 * when tokens is NULL. F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K. */
gboolean tailor_vk_op_embedding (TailorVkRecorder *rec,
                                 const TailorVkBufferRange *out,
                                 const TailorVkBufferRange *w,
                                 int type,
                                 guint n_rows,
                                 const TailorVkBufferRange *tokens,
                                 guint row0,
                                 guint T,
                                 guint C,
                                 GError **error);
gboolean tailor_vk_type_is_gatherable (int type);
/* dembd (n_rows, C) += dout (T, C) rows scattered to tokens (I32, T) */
gboolean tailor_vk_op_embedding_backward (TailorVkRecorder *rec,
                                          const TailorVkBufferRange *dembd,
                                          const TailorVkBufferRange *dout,
                                          const TailorVkBufferRange *tokens,
                                          guint T,
                                          guint C,
                                          guint n_rows,
                                          GError **error);
/* Causal GQA: out (T, n_head, hd), lse (n_head, T) optional; hd a multiple of 4, at most 256 */
gboolean tailor_vk_op_attention (TailorVkRecorder *rec,
                                 const TailorVkBufferRange *out,
                                 const TailorVkBufferRange *lse,
                                 const TailorVkBufferRange *q,
                                 const TailorVkBufferRange *k,
                                 const TailorVkBufferRange *v,
                                 guint T,
                                 guint n_head,
                                 guint n_head_kv,
                                 guint hd,
                                 GError **error);
/* Inference: k, v (T, n_head_kv, hd) stored as cache rows pos[0] + t, then out (T, n_head, hd) =
 * attention of query t at position pos[0] + t over cache rows 0 ..= pos[0] + t. */
gboolean tailor_vk_op_attention_cached (TailorVkRecorder *rec,
                                        const TailorVkBufferRange *out,
                                        const TailorVkBufferRange *k_cache,
                                        const TailorVkBufferRange *v_cache,
                                        const TailorVkBufferRange *q,
                                        const TailorVkBufferRange *k,
                                        const TailorVkBufferRange *v,
                                        const TailorVkBufferRange *pos,
                                        guint T,
                                        guint n_ctx,
                                        guint n_head,
                                        guint n_head_kv,
                                        guint hd,
                                        GError **error);
/* dq, dk, dv += attention's gradients; delta is a scratch of T · n_head floats */
gboolean tailor_vk_op_attention_backward (TailorVkRecorder *rec,
                                          const TailorVkBufferRange *dq,
                                          const TailorVkBufferRange *dk,
                                          const TailorVkBufferRange *dv,
                                          const TailorVkBufferRange *delta,
                                          const TailorVkBufferRange *dout,
                                          const TailorVkBufferRange *out,
                                          const TailorVkBufferRange *lse,
                                          const TailorVkBufferRange *q,
                                          const TailorVkBufferRange *k,
                                          const TailorVkBufferRange *v,
                                          guint T,
                                          guint n_head,
                                          guint n_head_kv,
                                          guint hd,
                                          GError **error);

typedef enum
{
  TAILOR_VK_DROP_NONE,
  TAILOR_VK_DROP_A, /* the mask of A's element index multiplies A */
  TAILOR_VK_DROP_B,
  TAILOR_VK_DROP_C, /* … multiplies the product before it is stored */
} TailorVkDropOperand;

/* C[m, n] = alpha Σ_k A(m, k) B(n, k) (+ C) (+ bias[n]) with A(m, k) = a[m·sam + k·sak],
 * B(n, k) = b[n·sbn + k·sbk] (1 when b_ones), C[m, n] = c[m·ldc + n]. */
typedef struct
{
  guint M, N, K;
  guint ldc, sam, sak, sbn, sbk;
  float alpha;
  gboolean accumulate;
  gboolean b_ones;
  TailorVkDropOperand drop;
  float dropout; /* with drop: p of tailor_ref_dropout_factor, the seed read from seed[0] */
} TailorVkGemm;

gboolean tailor_vk_op_gemm (TailorVkRecorder *rec,
                            const TailorVkBufferRange *c,
                            const TailorVkBufferRange *a,
                            const TailorVkBufferRange *b,
                            const TailorVkBufferRange *bias,
                            const TailorVkBufferRange *seed,
                            const TailorVkGemm *gemm,
                            GError **error);

/* Cross-entropy in vocabulary chunks: state (T, 3) folds each chunk's logits (T, nc) into an
 * online log-sum-exp; finish writes lse (T, counted rows, optional) and loss (1). */
gboolean tailor_vk_op_cross_entropy_chunk (TailorVkRecorder *rec,
                                           const TailorVkBufferRange *state,
                                           const TailorVkBufferRange *logits,
                                           const TailorVkBufferRange *targets,
                                           guint T,
                                           guint nc,
                                           guint v0,
                                           gboolean first,
                                           GError **error);
gboolean tailor_vk_op_cross_entropy_finish (TailorVkRecorder *rec,
                                            const TailorVkBufferRange *loss,
                                            const TailorVkBufferRange *lse,
                                            const TailorVkBufferRange *state,
                                            const TailorVkBufferRange *mask,
                                            guint T,
                                            GError **error);
/* A chunk's logits (T, nc) become dloss · ∂loss/∂logit, in place. */
gboolean tailor_vk_op_cross_entropy_backward (TailorVkRecorder *rec,
                                              const TailorVkBufferRange *logits,
                                              const TailorVkBufferRange *lse,
                                              const TailorVkBufferRange *targets,
                                              const TailorVkBufferRange *mask,
                                              const TailorVkBufferRange *dloss,
                                              guint T,
                                              guint nc,
                                              guint v0,
                                              GError **error);
/* out[g] = Σ over [g·span, (g+1)·span) of x² (square) or x, for g < ⌈n / span⌉ */
gboolean tailor_vk_op_reduce (TailorVkRecorder *rec,
                              const TailorVkBufferRange *out,
                              const TailorVkBufferRange *x,
                              guint64 n,
                              guint span,
                              gboolean square,
                              GError **error);
/* AdamW with clipping; hyper is a TailorAdamWHyper (8 floats), norm_sq 1 float (NULL: no
 * clipping) */
gboolean tailor_vk_op_adamw (TailorVkRecorder *rec,
                             const TailorVkBufferRange *param,
                             const TailorVkBufferRange *m,
                             const TailorVkBufferRange *v,
                             const TailorVkBufferRange *grad,
                             const TailorVkBufferRange *hyper,
                             const TailorVkBufferRange *norm_sq,
                             guint64 n,
                             GError **error);

/* The Vulkan context of a backend made by tailor_backend_vk_new (tailor-backend-vk.c): tests read
 * its validation messages. Declared here, beside the kernels it runs, to keep the op interface's
 * headers free of Vulkan types. */
TailorVkContext *tailor_backend_vk_get_context (TailorBackend *backend);

/* A quantized 2-D weight uploaded to the Vulkan backend is kept twice: its ggml blocks (read by
 * the gathers — embedding, the cross-entropy chunks, small products — and downloads) and the
 * matmul kernels' layout. A caller that knows how a weight will be read keeps one:
 * BLOCKS when only gathers read it, REPACKED when only tailor_op_matmul and its input gradient
 * do (they then take the matmul kernels at every size; an op or download that needs the blocks
 * fails saying so). *device_bytes (nullable) receives what the weight now takes. FALSE, and
 * nothing changes, on another backend or for a weight with one copy (F32, an unrepacked type,
 * a view into a larger buffer). */
typedef enum
{
  TAILOR_VK_LAYOUT_BLOCKS,
  TAILOR_VK_LAYOUT_REPACKED,
} TailorVkLayout;

gboolean
tailor_backend_vk_keep_layout (const TailorTensor *t, TailorVkLayout keep, guint64 *device_bytes);

G_END_DECLS
