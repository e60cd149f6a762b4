/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Device memory: first-fit sub-allocation in large blocks, buffers, the staging ring, budget. */
#include "config.h"

#include <string.h>

#include "tailor-vk-private.h"

#define DEFAULT_BLOCK_SIZE ((VkDeviceSize) 256 << 20)
#define STAGING_SLOT_SIZE  ((VkDeviceSize) 8 << 20)

#define BUFFER_USAGE                                                               \
  (VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT | \
   VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |   \
   VK_BUFFER_USAGE_TRANSFER_DST_BIT)

static VkDeviceSize
align_up (VkDeviceSize value, VkDeviceSize alignment)
{
  return (value + alignment - 1) & ~(alignment - 1);
}

/* The memory type for kind among type_bits: device-local for tensors; host-visible, preferably
 * coherent and cached, for staging. The driver lists types fastest first. */
static gint
find_memory_type (TailorVkContext *ctx, TailorVkMemoryKind kind, guint32 type_bits)
{
  const VkPhysicalDeviceMemoryProperties *props = &ctx->memory_properties;
  gint best = -1, best_score = -1;

  for (guint32 i = 0; i < props->memoryTypeCount; i++)
    {
      VkMemoryPropertyFlags flags = props->memoryTypes[i].propertyFlags;
      gint score;

      if (!(type_bits & (1u << i)))
        continue;
      if (kind == TAILOR_VK_MEMORY_DEVICE)
        score = (flags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) ? 1 : 0;
      else if (!(flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
        continue;
      else
        score = ((flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) ? 2 : 0) +
                ((flags & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? 1 : 0);
      if (score > best_score)
        {
          best = (gint) i;
          best_score = score;
        }
    }
  return best;
}

static gboolean
type_is_coherent (TailorVkContext *ctx, guint32 type)
{
  return (ctx->memory_properties.memoryTypes[type].propertyFlags &
          VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
}

/* Budget and usage of a heap now: VK_EXT_memory_budget's when present (usage then counts every
 * process), else the heap's size and what this context reserved. */
static void
heap_budget (TailorVkContext *ctx, guint32 heap, guint64 *budget, guint64 *usage)
{
  *budget = ctx->memory_properties.memoryHeaps[heap].size;
  *usage = ctx->reserved_per_heap[heap];
  if (ctx->info->memory_budget)
    {
      VkPhysicalDeviceMemoryBudgetPropertiesEXT ext = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT,
      };
      VkPhysicalDeviceMemoryProperties2 props = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
        .pNext = &ext,
      };

      vkGetPhysicalDeviceMemoryProperties2 (ctx->physical, &props);
      if (ext.heapBudget[heap] > 0)
        {
          *budget = ext.heapBudget[heap];
          *usage = MAX (ext.heapUsage[heap], ctx->reserved_per_heap[heap]);
        }
    }
}

static gboolean
out_of_memory (TailorVkContext *ctx,
               GError **error,
               VkDeviceSize size,
               const char *what,
               const char *limit,
               guint64 limit_bytes)
{
  g_autofree char *size_text = g_format_size_full (size, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *in_use_text = g_format_size_full (ctx->in_use, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *limit_text = g_format_size_full (limit_bytes, G_FORMAT_SIZE_IEC_UNITS);

  g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_OUT_OF_MEMORY,
               "Out of GPU memory: %s for %s does not fit on “%s” (%s in use; %s is %s). %s",
               size_text, what, ctx->info->name, in_use_text, limit, limit_text,
               tailor_vk_oom_advice);
  return FALSE;
}

/* Carves size bytes at alignment out of the block's first free range that holds them. */
static gboolean
carve (TailorVkBlock *block, VkDeviceSize size, VkDeviceSize alignment, VkDeviceSize *offset)
{
  for (guint i = 0; i < block->free->len; i++)
    {
      TailorVkRange range = g_array_index (block->free, TailorVkRange, i);
      VkDeviceSize start = align_up (range.offset, alignment);
      VkDeviceSize end = range.offset + range.size;
      TailorVkRange tail = { start + size, end - (start + size) };

      if (start > end || end - start < size)
        continue;
      if (start > range.offset)
        {
          g_array_index (block->free, TailorVkRange, i).size = start - range.offset;
          if (tail.size > 0)
            g_array_insert_val (block->free, i + 1, tail);
        }
      else if (tail.size > 0)
        g_array_index (block->free, TailorVkRange, i) = tail;
      else
        g_array_remove_index (block->free, i);
      block->used += size;
      *offset = start;
      return TRUE;
    }
  return FALSE;
}

static void
release_block (TailorVkContext *ctx, guint index)
{
  TailorVkBlock *block = g_ptr_array_index (ctx->blocks, index);

  if (block->mapped != NULL)
    vkUnmapMemory (ctx->device, block->memory);
  vkFreeMemory (ctx->device, block->memory, NULL);
  ctx->reserved_per_heap[block->heap] -= block->size;
  g_array_unref (block->free);
  g_free (block);
  g_ptr_array_index (ctx->blocks, index) = NULL;
}

static gboolean
new_block (TailorVkContext *ctx,
           TailorVkMemoryKind kind,
           guint32 type,
           VkDeviceSize size,
           const char *what,
           guint *index,
           GError **error)
{
  guint32 heap = ctx->memory_properties.memoryTypes[type].heapIndex;
  /* The staging ring is one allocation made once: it gets a block of its own size. */
  gboolean own = kind == TAILOR_VK_MEMORY_STAGING || size > ctx->block_size;
  VkDeviceSize block_size = own ? size : ctx->block_size;
  g_autofree char *doing = g_strdup_printf ("allocating memory for %s", what);
  VkMemoryAllocateInfo info = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO };
  TailorVkBlock *block;
  guint64 budget, usage;
  VkResult result;

  if (size > ctx->info->max_allocation_size)
    return out_of_memory (ctx, error, size, what, "the device's largest single allocation",
                          ctx->info->max_allocation_size);
  block_size = MIN (block_size, ctx->info->max_allocation_size);
  heap_budget (ctx, heap, &budget, &usage);
  /* A regular block that would cross the budget shrinks to the request before giving up. */
  if (usage + block_size > budget)
    block_size = size;
  if (usage + block_size > budget)
    return out_of_memory (ctx, error, size, what, "the memory budget", budget);

  info.allocationSize = block_size;
  info.memoryTypeIndex = type;
  block = g_new0 (TailorVkBlock, 1);
  result = vkAllocateMemory (ctx->device, &info, NULL, &block->memory);
  if (!tailor_vk_check (ctx, result, doing, error))
    {
      g_free (block);
      return FALSE;
    }
  if (ctx->memory_properties.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)
    {
      result = vkMapMemory (ctx->device, block->memory, 0, VK_WHOLE_SIZE, 0, &block->mapped);
      if (!tailor_vk_check (ctx, result, doing, error))
        {
          vkFreeMemory (ctx->device, block->memory, NULL);
          g_free (block);
          return FALSE;
        }
    }
  block->size = block_size;
  block->kind = kind;
  block->heap = heap;
  block->own = own;
  block->type = type;
  block->free = g_array_new (FALSE, FALSE, sizeof (TailorVkRange));
  g_array_append_val (block->free, ((TailorVkRange){ 0, block_size }));
  ctx->reserved_per_heap[heap] += block_size;

  for (guint i = 0; i < ctx->blocks->len; i++)
    if (g_ptr_array_index (ctx->blocks, i) == NULL)
      {
        g_ptr_array_index (ctx->blocks, i) = block;
        *index = i;
        return TRUE;
      }
  g_ptr_array_add (ctx->blocks, block);
  *index = ctx->blocks->len - 1;
  return TRUE;
}

gboolean
tailor_vk_memory_alloc (TailorVkContext *ctx,
                        TailorVkMemoryKind kind,
                        VkDeviceSize size,
                        VkDeviceSize alignment,
                        guint32 type_bits,
                        const char *what,
                        TailorVkAllocation *out,
                        GError **error)
{
  gint type;
  guint index;

  g_return_val_if_fail (ctx != NULL, FALSE);
  g_return_val_if_fail (size > 0, FALSE);
  g_return_val_if_fail (alignment > 0 && (alignment & (alignment - 1)) == 0, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (ctx->lost)
    return tailor_vk_check (ctx, VK_ERROR_DEVICE_LOST, what, error);

  type = find_memory_type (ctx, kind, type_bits);
  if (type < 0)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_UNSUPPORTED,
                   "“%s” has no %s memory for %s.", ctx->info->name,
                   kind == TAILOR_VK_MEMORY_DEVICE ? "device" : "host-visible", what);
      return FALSE;
    }
  /* Flushes and invalidations work on whole atoms: keep allocations from sharing one. */
  if (kind == TAILOR_VK_MEMORY_STAGING && !type_is_coherent (ctx, (guint32) type))
    alignment = MAX (alignment, ctx->info->non_coherent_atom_size);
  size = align_up (size, alignment);

  out->kind = kind;
  out->size = size;
  for (index = 0; index < ctx->blocks->len; index++)
    {
      TailorVkBlock *block = g_ptr_array_index (ctx->blocks, index);

      if (block != NULL && !block->own && block->kind == kind && block->type == (guint32) type &&
          carve (block, size, alignment, &out->offset))
        break;
    }
  if (index == ctx->blocks->len)
    {
      if (!new_block (ctx, kind, (guint32) type, size, what, &index, error))
        return FALSE;
      if (!carve (g_ptr_array_index (ctx->blocks, index), size, alignment, &out->offset))
        g_assert_not_reached ();
    }
  out->block = index;
  /* The budget a run reports counts its tensors, not the context's own staging ring. */
  if (kind == TAILOR_VK_MEMORY_DEVICE)
    {
      ctx->in_use += size;
      ctx->peak = MAX (ctx->peak, ctx->in_use);
    }
  return TRUE;
}

void
tailor_vk_memory_free (TailorVkContext *ctx, const TailorVkAllocation *allocation)
{
  TailorVkBlock *block;
  TailorVkRange range;
  GArray *free_list;
  guint i;

  g_return_if_fail (ctx != NULL && allocation != NULL);
  g_return_if_fail (allocation->block < ctx->blocks->len);

  block = g_ptr_array_index (ctx->blocks, allocation->block);
  g_return_if_fail (block != NULL);
  free_list = block->free;
  range.offset = allocation->offset;
  range.size = allocation->size;

  for (i = 0; i < free_list->len; i++)
    if (g_array_index (free_list, TailorVkRange, i).offset > range.offset)
      break;
  g_array_insert_val (free_list, i, range);
  /* Coalesce with the following range, then with the preceding one. */
  if (i + 1 < free_list->len)
    {
      TailorVkRange *next = &g_array_index (free_list, TailorVkRange, i + 1);
      TailorVkRange *cur = &g_array_index (free_list, TailorVkRange, i);

      g_assert (cur->offset + cur->size <= next->offset);
      if (cur->offset + cur->size == next->offset)
        {
          cur->size += next->size;
          g_array_remove_index (free_list, i + 1);
        }
    }
  if (i > 0)
    {
      TailorVkRange *prev = &g_array_index (free_list, TailorVkRange, i - 1);
      TailorVkRange *cur = &g_array_index (free_list, TailorVkRange, i);

      g_assert (prev->offset + prev->size <= cur->offset);
      if (prev->offset + prev->size == cur->offset)
        {
          prev->size += cur->size;
          g_array_remove_index (free_list, i);
        }
    }
  block->used -= allocation->size;
  if (allocation->kind == TAILOR_VK_MEMORY_DEVICE)
    ctx->in_use -= allocation->size;
  if (block->own && block->used == 0)
    release_block (ctx, allocation->block);
}

void
tailor_vk_memory_get_stats (TailorVkContext *ctx, TailorVkMemoryStats *stats)
{
  gint type;

  g_return_if_fail (ctx != NULL && stats != NULL);

  memset (stats, 0, sizeof *stats);
  for (guint i = 0; i < ctx->blocks->len; i++)
    {
      TailorVkBlock *block = g_ptr_array_index (ctx->blocks, i);

      if (block == NULL)
        continue;
      stats->n_blocks++;
      stats->reserved += block->size;
    }
  stats->in_use = ctx->in_use;
  stats->peak = ctx->peak;
  type = ctx->device_type >= 0 ? ctx->device_type
                               : find_memory_type (ctx, TAILOR_VK_MEMORY_DEVICE, G_MAXUINT32);
  if (type >= 0)
    heap_budget (ctx, ctx->memory_properties.memoryTypes[type].heapIndex, &stats->budget,
                 &stats->heap_usage);
}

void
tailor_vk_memory_reset_peak (TailorVkContext *ctx)
{
  g_return_if_fail (ctx != NULL);
  ctx->peak = ctx->in_use;
}

void
tailor_vk_memory_set_block_size (TailorVkContext *ctx, VkDeviceSize size)
{
  g_return_if_fail (ctx != NULL && size > 0);
  ctx->block_size = size;
}

void
tailor_vk_cmd_end_barrier (VkCommandBuffer cmd)
{
  VkMemoryBarrier barrier = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                     VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                     VK_ACCESS_HOST_READ_BIT,
  };

  vkCmdPipelineBarrier (cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                          VK_PIPELINE_STAGE_HOST_BIT,
                        0, 1, &barrier, 0, NULL, 0, NULL);
}

static TailorVkBlock *
staging_block (TailorVkContext *ctx)
{
  return g_ptr_array_index (ctx->blocks, ctx->staging_allocation.block);
}

/* Where a slot starts in the staging VkBuffer (and in its mapping). */
static VkDeviceSize
slot_buffer_offset (TailorVkContext *ctx, guint slot)
{
  return slot * ctx->staging_slot_size;
}

/* Waits for a staging slot's copy; a finished download is copied out to its destination. */
static gboolean
staging_wait (TailorVkContext *ctx, guint slot, GError **error)
{
  VkResult result;

  if (!ctx->staging_pending[slot])
    return TRUE;
  result = vkWaitForFences (ctx->device, 1, &ctx->staging_fence[slot], VK_TRUE, G_MAXUINT64);
  ctx->staging_pending[slot] = FALSE;
  if (!tailor_vk_check (ctx, result, "waiting for a transfer", error))
    return FALSE;
  vkResetFences (ctx->device, 1, &ctx->staging_fence[slot]);
  if (ctx->staging_dest[slot] != NULL)
    {
      TailorVkBlock *block = staging_block (ctx);
      VkDeviceSize offset = ctx->staging_allocation.offset + slot_buffer_offset (ctx, slot);

      if (!type_is_coherent (ctx, (guint32) ctx->staging_type))
        {
          VkMappedMemoryRange range = {
            .sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
            .memory = block->memory,
            .offset = offset,
            .size = ctx->staging_slot_size,
          };

          vkInvalidateMappedMemoryRanges (ctx->device, 1, &range);
        }
      memcpy (ctx->staging_dest[slot], ctx->staging_map + slot_buffer_offset (ctx, slot),
              ctx->staging_len[slot]);
      ctx->staging_dest[slot] = NULL;
    }
  return TRUE;
}

static gboolean
staging_wait_all (TailorVkContext *ctx, GError **error)
{
  gboolean ok = TRUE;

  /* In submission order, so a download's chunks land in order even on failure paths. */
  for (guint i = 0; i < TAILOR_VK_STAGING_SLOTS; i++)
    {
      guint slot = (ctx->staging_next + i) % TAILOR_VK_STAGING_SLOTS;

      if (ok)
        ok = staging_wait (ctx, slot, error);
      else
        staging_wait (ctx, slot, NULL);
    }
  return ok;
}

typedef enum
{
  STAGING_UPLOAD,
  STAGING_DOWNLOAD,
  STAGING_FILL,
} StagingOp;

/* Records and submits one transfer on the next staging slot. */
static gboolean
staging_submit (TailorVkContext *ctx,
                StagingOp op,
                VkBuffer buffer,
                VkDeviceSize offset,
                VkDeviceSize size,
                guint32 value,
                guint *slot_out,
                GError **error)
{
  guint slot = ctx->staging_next;
  VkCommandBuffer cmd = ctx->staging_cmd[slot];
  VkCommandBufferBeginInfo begin = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  VkSubmitInfo submit = {
    .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
    .commandBufferCount = 1,
    .pCommandBuffers = &cmd,
  };
  VkBufferCopy copy = { .size = size };
  VkResult result;

  if (!staging_wait (ctx, slot, error))
    return FALSE;
  *slot_out = slot;
  ctx->staging_next = (slot + 1) % TAILOR_VK_STAGING_SLOTS;

  result = vkResetCommandBuffer (cmd, 0);
  if (result == VK_SUCCESS)
    result = vkBeginCommandBuffer (cmd, &begin);
  if (!tailor_vk_check (ctx, result, "recording a transfer", error))
    return FALSE;
  switch (op)
    {
      case STAGING_UPLOAD:
        copy.srcOffset = slot_buffer_offset (ctx, slot);
        copy.dstOffset = offset;
        vkCmdCopyBuffer (cmd, ctx->staging, buffer, 1, &copy);
        break;
      case STAGING_DOWNLOAD:
        copy.srcOffset = offset;
        copy.dstOffset = slot_buffer_offset (ctx, slot);
        vkCmdCopyBuffer (cmd, buffer, ctx->staging, 1, &copy);
        break;
      case STAGING_FILL:
        vkCmdFillBuffer (cmd, buffer, offset, size, value);
        break;
      default:
        g_assert_not_reached ();
    }
  tailor_vk_cmd_end_barrier (cmd);
  result = vkEndCommandBuffer (cmd);
  if (result == VK_SUCCESS)
    result = vkQueueSubmit (ctx->queue, 1, &submit, ctx->staging_fence[slot]);
  if (!tailor_vk_check (ctx, result, "submitting a transfer", error))
    return FALSE;
  ctx->staging_pending[slot] = TRUE;
  return TRUE;
}

gboolean
tailor_vk_memory_init (TailorVkContext *ctx, GError **error)
{
  VkCommandPoolCreateInfo pool = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
    .queueFamilyIndex = ctx->queue_family,
  };
  VkCommandBufferAllocateInfo alloc = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = TAILOR_VK_STAGING_SLOTS,
  };
  VkFenceCreateInfo fence = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
  VkBufferCreateInfo staging = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = STAGING_SLOT_SIZE * TAILOR_VK_STAGING_SLOTS,
    .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  VkMemoryRequirements requirements;
  guint64 heap_size;
  gint type;

  type = find_memory_type (ctx, TAILOR_VK_MEMORY_DEVICE, G_MAXUINT32);
  heap_size =
    type >= 0
      ? ctx->memory_properties.memoryHeaps[ctx->memory_properties.memoryTypes[type].heapIndex].size
      : DEFAULT_BLOCK_SIZE;
  ctx->block_size = MIN (DEFAULT_BLOCK_SIZE, MAX (heap_size / 4, (VkDeviceSize) 1 << 20));

  if (!tailor_vk_check (ctx, vkCreateCommandPool (ctx->device, &pool, NULL, &ctx->command_pool),
                        "creating a command pool", error))
    return FALSE;
  alloc.commandPool = ctx->command_pool;
  if (!tailor_vk_check (ctx, vkAllocateCommandBuffers (ctx->device, &alloc, ctx->staging_cmd),
                        "allocating transfer command buffers", error))
    return FALSE;
  for (guint i = 0; i < TAILOR_VK_STAGING_SLOTS; i++)
    if (!tailor_vk_check (ctx, vkCreateFence (ctx->device, &fence, NULL, &ctx->staging_fence[i]),
                          "creating a fence", error))
      return FALSE;

  if (!tailor_vk_check (ctx, vkCreateBuffer (ctx->device, &staging, NULL, &ctx->staging),
                        "creating the staging buffer", error))
    return FALSE;
  vkGetBufferMemoryRequirements (ctx->device, ctx->staging, &requirements);
  ctx->staging_type = find_memory_type (ctx, TAILOR_VK_MEMORY_STAGING, requirements.memoryTypeBits);
  if (!tailor_vk_memory_alloc (ctx, TAILOR_VK_MEMORY_STAGING, requirements.size,
                               requirements.alignment, requirements.memoryTypeBits,
                               "the staging buffer", &ctx->staging_allocation, error))
    return FALSE;
  if (!tailor_vk_check (ctx,
                        vkBindBufferMemory (ctx->device, ctx->staging, staging_block (ctx)->memory,
                                            ctx->staging_allocation.offset),
                        "binding the staging buffer", error))
    return FALSE;
  ctx->staging_map = (guint8 *) staging_block (ctx)->mapped + ctx->staging_allocation.offset;
  ctx->staging_slot_size = STAGING_SLOT_SIZE;
  return TRUE;
}

void
tailor_vk_memory_shutdown (TailorVkContext *ctx)
{
  if (ctx->device == VK_NULL_HANDLE)
    return;
  if (ctx->staging != VK_NULL_HANDLE)
    {
      vkDestroyBuffer (ctx->device, ctx->staging, NULL);
      if (ctx->staging_map != NULL)
        tailor_vk_memory_free (ctx, &ctx->staging_allocation);
    }
  for (guint i = 0; i < TAILOR_VK_STAGING_SLOTS; i++)
    if (ctx->staging_fence[i] != VK_NULL_HANDLE)
      vkDestroyFence (ctx->device, ctx->staging_fence[i], NULL);
  if (ctx->command_pool != VK_NULL_HANDLE)
    vkDestroyCommandPool (ctx->device, ctx->command_pool, NULL);
  for (guint i = 0; i < ctx->blocks->len; i++)
    if (g_ptr_array_index (ctx->blocks, i) != NULL)
      release_block (ctx, i);
}

TailorVkBuffer *
tailor_vk_buffer_new (TailorVkContext *ctx, gsize size, const char *name, GError **error)
{
  g_autoptr (TailorVkBuffer) self = NULL;
  VkBufferCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = size,
    .usage = BUFFER_USAGE,
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  g_autofree char *what = NULL;
  VkMemoryRequirements requirements;

  g_return_val_if_fail (ctx != NULL, NULL);
  g_return_val_if_fail (size > 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  what = g_strdup_printf ("the buffer “%s”", name != NULL ? name : "unnamed");
  if (ctx->lost)
    {
      tailor_vk_check (ctx, VK_ERROR_DEVICE_LOST, what, error);
      return NULL;
    }
  if (size > ctx->info->max_buffer_size)
    {
      out_of_memory (ctx, error, size, what, "the device's largest buffer",
                     ctx->info->max_buffer_size);
      return NULL;
    }

  self = g_new0 (TailorVkBuffer, 1);
  self->ctx = ctx;
  self->name = g_strdup (name != NULL ? name : "unnamed");
  self->size = size;
  self->views = g_array_new (FALSE, FALSE, sizeof (TailorVkView));
  self->allocation.block = G_MAXUINT;
  if (!tailor_vk_check (ctx, vkCreateBuffer (ctx->device, &info, NULL, &self->buffer), what, error))
    return NULL;
  vkGetBufferMemoryRequirements (ctx->device, self->buffer, &requirements);
  if (ctx->device_type < 0)
    ctx->device_type = find_memory_type (ctx, TAILOR_VK_MEMORY_DEVICE, requirements.memoryTypeBits);
  if (!tailor_vk_memory_alloc (ctx, TAILOR_VK_MEMORY_DEVICE, requirements.size,
                               requirements.alignment, requirements.memoryTypeBits, what,
                               &self->allocation, error))
    {
      self->allocation.block = G_MAXUINT;
      return NULL;
    }
  if (!tailor_vk_check (
        ctx,
        vkBindBufferMemory (
          ctx->device, self->buffer,
          ((TailorVkBlock *) g_ptr_array_index (ctx->blocks, self->allocation.block))->memory,
          self->allocation.offset),
        what, error))
    return NULL;
  return g_steal_pointer (&self);
}

void
tailor_vk_buffer_free (TailorVkBuffer *self)
{
  VkDevice device;

  if (self == NULL)
    return;
  device = self->ctx->device;
  for (guint i = 0; i < self->views->len; i++)
    vkDestroyBufferView (device, g_array_index (self->views, TailorVkView, i).view, NULL);
  g_array_unref (self->views);
  if (self->buffer != VK_NULL_HANDLE)
    vkDestroyBuffer (device, self->buffer, NULL);
  if (self->allocation.block != G_MAXUINT)
    tailor_vk_memory_free (self->ctx, &self->allocation);
  g_free (self->name);
  g_free (self);
}

gsize
tailor_vk_buffer_get_size (TailorVkBuffer *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->size;
}

const char *
tailor_vk_buffer_get_name (TailorVkBuffer *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->name;
}

const TailorVkAllocation *
tailor_vk_buffer_get_allocation (TailorVkBuffer *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return &self->allocation;
}

static gboolean
check_range (TailorVkBuffer *self, gsize offset, gsize size, const char *doing, GError **error)
{
  if (offset > self->size || size > self->size - offset)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "Cannot %s bytes %" G_GSIZE_FORMAT "…%" G_GSIZE_FORMAT " of the buffer “%s”: "
                   "it holds %" G_GSIZE_FORMAT " bytes.",
                   doing, offset, offset + size, self->name, self->size);
      return FALSE;
    }
  if (self->ctx->lost)
    return tailor_vk_check (self->ctx, VK_ERROR_DEVICE_LOST, doing, error);
  return TRUE;
}

gboolean
tailor_vk_buffer_upload (
  TailorVkBuffer *self, gsize offset, const void *data, gsize size, GError **error)
{
  TailorVkContext *ctx;
  const guint8 *src = data;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (data != NULL || size == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = self->ctx;
  if (!check_range (self, offset, size, "upload", error))
    return FALSE;
  for (gsize done = 0; done < size;)
    {
      gsize n = MIN (ctx->staging_slot_size, size - done);
      guint slot = ctx->staging_next;

      /* The slot's previous copy must be done before its bytes are overwritten. */
      if (!staging_wait (ctx, slot, error))
        return FALSE;
      memcpy (ctx->staging_map + slot_buffer_offset (ctx, slot), src + done, n);
      if (!type_is_coherent (ctx, (guint32) ctx->staging_type))
        {
          VkMappedMemoryRange range = {
            .sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
            .memory = staging_block (ctx)->memory,
            .offset = ctx->staging_allocation.offset + slot_buffer_offset (ctx, slot),
            .size = ctx->staging_slot_size,
          };

          vkFlushMappedMemoryRanges (ctx->device, 1, &range);
        }
      if (!staging_submit (ctx, STAGING_UPLOAD, self->buffer, offset + done, n, 0, &slot, error))
        {
          staging_wait_all (ctx, NULL);
          return FALSE;
        }
      done += n;
    }
  return staging_wait_all (ctx, error);
}

gboolean
tailor_vk_buffer_download (
  TailorVkBuffer *self, gsize offset, void *data, gsize size, GError **error)
{
  TailorVkContext *ctx;
  guint8 *dest = data;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (data != NULL || size == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = self->ctx;
  if (!check_range (self, offset, size, "download", error))
    return FALSE;
  for (gsize done = 0; done < size;)
    {
      gsize n = MIN (ctx->staging_slot_size, size - done);
      guint slot;

      if (!staging_submit (ctx, STAGING_DOWNLOAD, self->buffer, offset + done, n, 0, &slot, error))
        {
          staging_wait_all (ctx, NULL);
          return FALSE;
        }
      ctx->staging_dest[slot] = dest + done;
      ctx->staging_len[slot] = n;
      done += n;
    }
  return staging_wait_all (ctx, error);
}

gboolean
tailor_vk_buffer_fill (
  TailorVkBuffer *self, gsize offset, gsize size, guint32 value, GError **error)
{
  guint slot;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (offset % 4 == 0 && size % 4 == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_range (self, offset, size, "fill", error))
    return FALSE;
  if (size == 0)
    return TRUE;
  if (!staging_submit (self->ctx, STAGING_FILL, self->buffer, offset, size, value, &slot, error))
    return FALSE;
  return staging_wait_all (self->ctx, error);
}

static guint
format_size (VkFormat format)
{
  switch ((int) format)
    {
      case VK_FORMAT_R8_UINT:
      case VK_FORMAT_R8_SINT:
        return 1;
      case VK_FORMAT_R16_SFLOAT:
      case VK_FORMAT_R16_UINT:
        return 2;
      case VK_FORMAT_R32_SFLOAT:
      case VK_FORMAT_R32_UINT:
      case VK_FORMAT_R32_SINT:
      case VK_FORMAT_R8G8B8A8_UINT:
      case VK_FORMAT_R8G8B8A8_SINT:
      case VK_FORMAT_R16G16_SFLOAT:
        return 4;
      case VK_FORMAT_R16G16B16A16_SFLOAT:
      case VK_FORMAT_R32G32_SFLOAT:
      case VK_FORMAT_R32G32_UINT:
        return 8;
      case VK_FORMAT_R32G32B32A32_SFLOAT:
      case VK_FORMAT_R32G32B32A32_UINT:
      case VK_FORMAT_R32G32B32A32_SINT:
        return 16;
      default:
        return 0;
    }
}

VkBufferView
tailor_vk_buffer_get_view (
  TailorVkBuffer *self, VkFormat format, VkDeviceSize offset, VkDeviceSize range, GError **error)
{
  const TailorVkDeviceInfo *info = self->ctx->info;
  guint texel = format_size (format);
  VkBufferViewCreateInfo create = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
    .buffer = self->buffer,
    .format = format,
    .offset = offset,
    .range = range,
  };
  TailorVkView view = { format, offset, range, VK_NULL_HANDLE };

  for (guint i = 0; i < self->views->len; i++)
    {
      const TailorVkView *v = &g_array_index (self->views, TailorVkView, i);

      if (v->format == format && v->offset == offset && v->range == range)
        return v->view;
    }
  if (texel == 0 || range == 0 || range % texel != 0 ||
      offset % info->texel_buffer_alignment != 0 || range / texel > info->max_texel_buffer_elements)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "Cannot view bytes %" G_GUINT64_FORMAT "…%" G_GUINT64_FORMAT " of the buffer "
                   "“%s” as texels of format %d: offsets must be multiples of %" G_GUINT64_FORMAT
                   " bytes, the size a multiple of the texel size and at most %u texels.",
                   (guint64) offset, (guint64) (offset + range), self->name, (int) format,
                   info->texel_buffer_alignment, info->max_texel_buffer_elements);
      return VK_NULL_HANDLE;
    }
  if (!tailor_vk_check (self->ctx,
                        vkCreateBufferView (self->ctx->device, &create, NULL, &view.view),
                        "creating a texel buffer view", error))
    return VK_NULL_HANDLE;
  g_array_append_val (self->views, view);
  return view.view;
}
