/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Device memory: large blocks sub-allocated first-fit, device-local buffers, staged transfers
 * and the budget a run reports as its peak. */
#pragma once

#include "tailor-vk-device.h"

G_BEGIN_DECLS

typedef enum
{
  TAILOR_VK_MEMORY_DEVICE,  /* device-local: kernels' tensors */
  TAILOR_VK_MEMORY_STAGING, /* host-visible: the transfer ring */
} TailorVkMemoryKind;

/* One sub-allocation: a range of one of the context's VkDeviceMemory blocks. */
typedef struct
{
  guint block;         /* the block's number, stable while the block lives */
  VkDeviceSize offset; /* in the block, aligned as asked */
  VkDeviceSize size;   /* reserved bytes (the request rounded up) */
  TailorVkMemoryKind kind;
} TailorVkAllocation;

typedef struct
{
  guint n_blocks;     /* live VkDeviceMemory allocations */
  guint64 reserved;   /* bytes in those blocks */
  guint64 in_use;     /* bytes handed out */
  guint64 peak;       /* most bytes handed out at once since the context opened (or reset) */
  guint64 budget;     /* of the device-local heap: VK_EXT_memory_budget's, else its size */
  guint64 heap_usage; /* VK_EXT_memory_budget's usage of that heap (all processes), else reserved */
} TailorVkMemoryStats;

/* Reserves size bytes at the given alignment (a power of two; host-visible memory is also
 * aligned to nonCoherentAtomSize) from a memory type in type_bits. Requests larger than a block
 * get a block of their own. Going over the heap's budget or the device's limits is
 * TAILOR_VK_ERROR_OUT_OF_MEMORY, with advice, naming what. */
gboolean tailor_vk_memory_alloc (TailorVkContext *ctx,
                                 TailorVkMemoryKind kind,
                                 VkDeviceSize size,
                                 VkDeviceSize alignment,
                                 guint32 type_bits,
                                 const char *what,
                                 TailorVkAllocation *out,
                                 GError **error);
void tailor_vk_memory_free (TailorVkContext *ctx, const TailorVkAllocation *allocation);
void tailor_vk_memory_get_stats (TailorVkContext *ctx, TailorVkMemoryStats *stats);
void tailor_vk_memory_reset_peak (TailorVkContext *ctx);
/* Size of a regular block (default 256 MiB, at most a quarter of the heap); takes effect for
 * blocks made later. */
void tailor_vk_memory_set_block_size (TailorVkContext *ctx, VkDeviceSize size);

/* A device-local buffer usable as storage buffer, texel buffer and transfer source/target. */
typedef struct _TailorVkBuffer TailorVkBuffer;

TailorVkBuffer *
tailor_vk_buffer_new (TailorVkContext *ctx, gsize size, const char *name, GError **error);
void tailor_vk_buffer_free (TailorVkBuffer *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorVkBuffer, tailor_vk_buffer_free)

gsize tailor_vk_buffer_get_size (TailorVkBuffer *self);
const char *tailor_vk_buffer_get_name (TailorVkBuffer *self);
const TailorVkAllocation *tailor_vk_buffer_get_allocation (TailorVkBuffer *self);

/* Copies through the context's host-visible staging ring and waits; any offset and size. */
gboolean tailor_vk_buffer_upload (
  TailorVkBuffer *self, gsize offset, const void *data, gsize size, GError **error);
gboolean tailor_vk_buffer_download (
  TailorVkBuffer *self, gsize offset, void *data, gsize size, GError **error);
/* Sets size bytes (multiples of 4) to the repeated 32-bit value and waits. */
gboolean tailor_vk_buffer_fill (
  TailorVkBuffer *self, gsize offset, gsize size, guint32 value, GError **error);

G_END_DECLS
