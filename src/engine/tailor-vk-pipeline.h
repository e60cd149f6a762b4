/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Compute pipelines from the embedded SPIR-V, keyed by shader and specialization constants,
 * cached in memory and in a pipeline cache file per device. */
#pragma once

#include "tailor-vk-device.h"

G_BEGIN_DECLS

typedef enum
{
  TAILOR_VK_BINDING_STORAGE_BUFFER,       /* std430 buffer block */
  TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER, /* samplerBuffer read with texelFetch */
  TAILOR_VK_BINDING_STORAGE_TEXEL_BUFFER, /* imageBuffer */
} TailorVkBindingKind;

typedef struct
{
  TailorVkBindingKind kind;
  VkFormat format; /* texel buffers: the view's format */
  gboolean writes; /* the kernel writes it: later readers wait for it */
} TailorVkBinding;

/* Binding i of set 0 is bindings[i]; constant_id i is spec_constants[i]. */
typedef struct
{
  const char *shader; /* shaders/<shader>.comp */
  const TailorVkBinding *bindings;
  guint n_bindings;
  guint32 push_constant_size;
  const guint32 *spec_constants;
  guint n_spec_constants;
} TailorVkPipelineDesc;

typedef struct _TailorVkPipeline TailorVkPipeline;

/* The pipeline for desc, made on first use; owned by the context. */
TailorVkPipeline *
tailor_vk_pipeline_get (TailorVkContext *ctx, const TailorVkPipelineDesc *desc, GError **error);
const char *tailor_vk_pipeline_get_shader (TailorVkPipeline *self);
guint tailor_vk_context_get_n_pipelines (TailorVkContext *ctx);

/* $TAILOR_CACHE_DIR, else $XDG_CACHE_HOME/tailor, then vulkan-pipelines-<device uuid>.bin. */
const char *tailor_vk_context_get_pipeline_cache_path (TailorVkContext *ctx);
/* Bytes of cache data accepted from that file when the context opened: 0 when there was none,
 * or it belonged to another device or driver, or it was damaged. */
gsize tailor_vk_context_get_pipeline_cache_loaded (TailorVkContext *ctx);
/* Writes the cache file (atomically) if pipelines were made since it was read. */
gboolean tailor_vk_context_save_pipeline_cache (TailorVkContext *ctx, GError **error);

G_END_DECLS
