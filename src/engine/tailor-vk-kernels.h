/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Kernels recorded on a TailorVkRecorder; each has a plain-C twin its test compares with. */
#pragma once

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

/* Y (T, N) = X (T, K) · Wᵀ with W (N, K), fp32, rows contiguous; K a multiple of 4 and the
 * X and W offsets aligned for texel buffers. tiles may be NULL. */
gboolean tailor_vk_matmul_f32_forward (TailorVkRecorder *rec,
                                       const TailorVkBufferRange *y,
                                       const TailorVkBufferRange *x,
                                       const TailorVkBufferRange *w,
                                       guint T,
                                       guint K,
                                       guint N,
                                       const TailorVkMatmulTiles *tiles,
                                       GError **error);

G_END_DECLS
