/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Matmuls over quantized weights on Vulkan: the device weight layout and its upload, forward,
 * input gradient, fp32 weight gradient and the matmul benchmark. */
#pragma once

#include "tailor-gguf.h"
#include "tailor-quant.h"
#include "tailor-vk-recorder.h"

G_BEGIN_DECLS

/* A weight W (OC, IC) — ggml ne {IC, OC} — kept quantized on the device in the layout
 * shaders/matmul-dequant.glsl reads: per 32 elements of a row (4 for F32, 8 for F16/BF16) one
 * 16-byte texel of quants (two for Q8_0), for 5- and 6-bit types their high bits, and an fp32
 * (scale, min) pair for block types. Both kernel families read this one layout: it makes every
 * load an aligned 16-byte texel (llvmpipe's fast path, and coalesced 128-bit loads on GPUs)
 * and needs no 8- or 16-bit storage support. It costs 2 bits per weight over the file for
 * the per-32 fp32 scales (Q4_K: 6 instead of 4.5), which keeps dequantization bit-exact with
 * tailor_dequantize_row. */
typedef struct _TailorVkWeight TailorVkWeight;

/* Types the kernels read: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K. */
gboolean tailor_vk_matmul_supports_type (TailorType type);

/* Repacks src (2-D, ne {IC, OC}, IC a multiple of 4 and of the type's block size) and uploads
 * it into a buffer of its own. */
TailorVkWeight *
tailor_vk_weight_upload (TailorVkContext *ctx, const TailorGgufTensor *src, GError **error);
/* The same from raw ggml row data of OC rows of IC elements; name is for messages. */
TailorVkWeight *tailor_vk_weight_upload_data (TailorVkContext *ctx,
                                              const char *name,
                                              TailorType type,
                                              const void *data,
                                              gint64 IC,
                                              gint64 OC,
                                              GError **error);
void tailor_vk_weight_free (TailorVkWeight *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorVkWeight, tailor_vk_weight_free)

TailorType tailor_vk_weight_get_type (const TailorVkWeight *self);
gint64 tailor_vk_weight_get_in (const TailorVkWeight *self);  /* IC */
gint64 tailor_vk_weight_get_out (const TailorVkWeight *self); /* OC */
/* Device bytes the layout takes. */
gsize tailor_vk_weight_get_device_size (const TailorVkWeight *self);
/* For F32 only: the range holding W as a plain row-major (OC, IC) fp32 matrix, so an optimizer
 * can update it in place for full fine-tuning. FALSE for other types. */
gboolean tailor_vk_weight_get_f32_range (const TailorVkWeight *self, TailorVkBufferRange *out);

/* Records rows of w dequantized into out (n_rows × IC fp32, exactly that long): row t is w's
 * row tokens[t] (tokens: R32I ids, NULL for row0 + t); ids outside w give zeros. */
gboolean tailor_vk_weight_rows (TailorVkRecorder *rec,
                                const TailorVkBufferRange *out,
                                const TailorVkWeight *w,
                                const TailorVkBufferRange *tokens,
                                guint row0,
                                guint n_rows,
                                GError **error);

/* Which kernel family runs the matmuls with T > 4 (T ≤ 4 always takes the matrix-vector path,
 * the split-K kernel with one block row per token). AUTO: split-K on CPU devices, tiled
 * elsewhere; the environment variable TAILOR_VK_MATMUL=splitk|tiled overrides AUTO. */
typedef enum
{
  TAILOR_VK_MATMUL_AUTO,
  TAILOR_VK_MATMUL_SPLITK,
  TAILOR_VK_MATMUL_TILED,
} TailorVkMatmulFamily;

/* Buffer conventions for the three kernels: every matrix is row-major fp32 in a
 * TailorVkBufferRange (size 0: to the end of the buffer). Inputs read as texel buffers, so
 * their offsets must be multiples of the device's texel_buffer_alignment; outputs are storage
 * buffers, so their offsets must be multiples of storage_buffer_alignment. With accumulate the
 * result is added to what the output holds, else it replaces it. */

typedef enum
{
  TAILOR_VK_MATMUL_FORWARD,        /* Y = X · Wᵀ */
  TAILOR_VK_MATMUL_BACKWARD_INPUT, /* dX = dY · W */
  TAILOR_VK_MATMUL_BACKWARD_WEIGHT /* dW = dYᵀ · X (type must be F32) */
} TailorVkMatmulDirection;

/* LoRA dropout on one operand of a gradient's product: element i of it is zeroed or scaled by
 * 1 / (1 − p) as tailor_ref_dropout_factor (seed, i, p) says, seed the first value of an R32I
 * range (a forward takes it on X through tailor_vk_matmul_f32_forward). */
typedef struct
{
  const TailorVkBufferRange *seed;
  float p;
} TailorVkDropout;

/* A LoRA pair's part of a product, read in the same pass (where tailor_vk_matmul_takes_lora
 * says the device's kernels do): the forward adds scale · in (T, rank) · wᵀ with w = B (OC,
 * rank); the input gradient adds drop ⊙ (in (T, rank) · w) with w = A (rank, IC), drop (may be
 * NULL) masking that part only. rank a multiple of 4. */
typedef struct
{
  const TailorVkBufferRange *in;
  const TailorVkBufferRange *w;
  guint rank;
  float scale;
  const TailorVkDropout *drop;
} TailorVkLoraPart;

/* Whether the kernels of direction over T rows take a LoRA part on this device. */
gboolean tailor_vk_matmul_takes_lora (TailorVkContext *ctx,
                                      TailorVkMatmulDirection direction,
                                      guint T);

/* y (T, OC) (+)= x (T, IC) · Wᵀ (+ bias (OC), NULL for none). */
gboolean tailor_vk_matmul (TailorVkRecorder *rec,
                           const TailorVkBufferRange *y,
                           const TailorVkBufferRange *x,
                           const TailorVkBufferRange *pack,
                           const TailorVkWeight *w,
                           const TailorVkBufferRange *bias,
                           guint T,
                           gboolean accumulate,
                           const TailorVkLoraPart *lora,
                           GError **error);

/* dx (T, IC) (+)= dy (T, OC) · W; OC must be a multiple of 4. */
gboolean tailor_vk_matmul_backward_input (TailorVkRecorder *rec,
                                          const TailorVkBufferRange *dx,
                                          const TailorVkBufferRange *dy,
                                          const TailorVkBufferRange *pack,
                                          const TailorVkWeight *w,
                                          guint T,
                                          gboolean accumulate,
                                          const TailorVkLoraPart *lora,
                                          GError **error);

/* dw (OC, IC) += alpha · dyᵀ · drop (x) with dy (T, OC), x (T, IC), all fp32 (the gradient of
 * an F32 weight for full fine-tuning, in the weight's own layout, or of a LoRA matrix); IC and
 * OC multiples of 4; drop may be NULL. */
gboolean tailor_vk_matmul_backward_weight (TailorVkRecorder *rec,
                                           const TailorVkBufferRange *dw,
                                           const TailorVkBufferRange *dy,
                                           const TailorVkBufferRange *x,
                                           guint T,
                                           guint IC,
                                           guint OC,
                                           float alpha,
                                           const TailorVkDropout *drop,
                                           GError **error);

/* The family a recorder's context uses now (AUTO resolved). */
TailorVkMatmulFamily tailor_vk_matmul_get_family (TailorVkContext *ctx);


/* Where the device's kernels read their X (or dY) packed, the floats of scratch that takes
 * (0 when they read it in place): pass that scratch as pack. pack may be NULL, which reads the
 * operand in place (slower on CPU devices for long rows); its contents do not matter and are
 * overwritten. */
guint64 tailor_vk_matmul_pack_floats (TailorVkContext *ctx,
                                      TailorVkMatmulDirection direction,
                                      TailorType type,
                                      guint T,
                                      guint IC,
                                      guint OC);

/* The same kernels over a plain row-major fp32 W (OC, IC) in a buffer range (a LoRA matrix),
 * with the product scaled by alpha: FORWARD y (T, OC) (+)= alpha · x (T, IC) · Wᵀ;
 * BACKWARD_INPUT dx (T, IC) (+)= drop ⊙ (alpha · dy (T, OC) · W). IC a multiple of 4, and OC
 * too for the input gradient; W read as a texel buffer; drop NULL (always, forward). */
gboolean tailor_vk_matmul_dense (TailorVkRecorder *rec,
                                 TailorVkMatmulDirection direction,
                                 const TailorVkBufferRange *out,
                                 const TailorVkBufferRange *in,
                                 const TailorVkBufferRange *pack,
                                 const TailorVkBufferRange *w,
                                 guint T,
                                 guint IC,
                                 guint OC,
                                 float alpha,
                                 gboolean accumulate,
                                 const TailorVkDropout *drop,
                                 GError **error);

/* One matmul of T × K (IC) × N (OC) on random data and random weights of type, recorded once
 * and run once to warm up; each tailor_vk_matmul_bench_run times one more run (timestamps, the
 * packing and transposing passes included), in ms. Benchmarks alternate two of them to compare
 * kernels on a machine whose speed wanders. */
typedef struct _TailorVkMatmulBench TailorVkMatmulBench;

TailorVkMatmulBench *tailor_vk_matmul_bench_new (TailorVkContext *ctx,
                                                 TailorType type,
                                                 guint T,
                                                 guint K,
                                                 guint N,
                                                 TailorVkMatmulDirection direction,
                                                 GError **error);
gboolean tailor_vk_matmul_bench_run (TailorVkMatmulBench *self, double *ms, GError **error);
void tailor_vk_matmul_bench_free (TailorVkMatmulBench *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorVkMatmulBench, tailor_vk_matmul_bench_free)

/* Times runs of one matmul as above: 2·T·K·N / time in GFLOP/s for the median run in gflops
 * and for the fastest in best (either may be NULL, not both). */
gboolean tailor_vk_matmul_bench (TailorVkContext *ctx,
                                 TailorType type,
                                 guint T,
                                 guint K,
                                 guint N,
                                 TailorVkMatmulDirection direction,
                                 guint runs,
                                 double *gflops,
                                 double *best,
                                 GError **error);

G_END_DECLS
