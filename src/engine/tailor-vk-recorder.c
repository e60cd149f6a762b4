/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The command recorder: dispatches, data-flow barriers, one submit, fences and timestamps. */
#include "config.h"

#include <string.h>

#include "tailor-vk-private.h"
#include "tailor-vk-recorder.h"

#define SETS_PER_POOL        256
#define DESCRIPTORS_PER_POOL 1024
#define QUERIES_PER_POOL     512
#define MAX_BINDINGS         32

/* What the recorder knows about a buffer's last accesses in this command buffer. */
typedef struct
{
  gboolean dirty;   /* written by a dispatch no barrier has made visible yet */
  guint read_epoch; /* 1 + the barrier epoch of its last read; 0: not read */
} BufferState;

typedef struct
{
  guint pool;
  guint32 query; /* start; the end is query + 1 */
} TimedDispatch;

struct _TailorVkRecorder
{
  TailorVkContext *ctx;
  VkCommandBuffer cmd;
  VkFence fence;
  gboolean recording;
  gboolean pending;
  gboolean profile;

  GArray *descriptor_pools; /* VkDescriptorPool */
  guint sets_left;
  guint descriptors_left[3];

  GHashTable *states; /* TailorVkBuffer → BufferState */
  guint epoch;        /* barriers recorded so far */
  guint n_dispatches;

  GArray *query_pools;  /* VkQueryPool */
  guint32 queries_used; /* in the last query pool */
  GArray *timed;        /* TimedDispatch */
  GPtrArray *labels;
  GArray *timings; /* TailorVkTiming */
};

TailorVkRecorder *
tailor_vk_recorder_new (TailorVkContext *ctx, gboolean profile, GError **error)
{
  g_autoptr (TailorVkRecorder) self = NULL;
  VkCommandBufferAllocateInfo alloc = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = ctx->command_pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  VkCommandBufferBeginInfo begin = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO };
  VkFenceCreateInfo fence = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };

  g_return_val_if_fail (ctx != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (ctx->lost)
    {
      tailor_vk_check (ctx, VK_ERROR_DEVICE_LOST, "starting a recording", error);
      return NULL;
    }
  if (profile && ctx->info->timestamp_valid_bits == 0)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_UNSUPPORTED,
                   "“%s” cannot time kernels (its compute queue has no timestamps); run "
                   "without --profile.",
                   ctx->info->name);
      return NULL;
    }

  self = g_new0 (TailorVkRecorder, 1);
  self->ctx = ctx;
  self->profile = profile;
  self->descriptor_pools = g_array_new (FALSE, FALSE, sizeof (VkDescriptorPool));
  self->query_pools = g_array_new (FALSE, FALSE, sizeof (VkQueryPool));
  self->timed = g_array_new (FALSE, FALSE, sizeof (TimedDispatch));
  self->timings = g_array_new (FALSE, FALSE, sizeof (TailorVkTiming));
  self->labels = g_ptr_array_new_with_free_func (g_free);
  self->states = g_hash_table_new_full (NULL, NULL, NULL, g_free);

  if (!tailor_vk_check (ctx, vkAllocateCommandBuffers (ctx->device, &alloc, &self->cmd),
                        "allocating a command buffer", error) ||
      !tailor_vk_check (ctx, vkCreateFence (ctx->device, &fence, NULL, &self->fence),
                        "creating a fence", error) ||
      !tailor_vk_check (ctx, vkBeginCommandBuffer (self->cmd, &begin), "starting a recording",
                        error))
    return NULL;
  self->recording = TRUE;
  return g_steal_pointer (&self);
}

void
tailor_vk_recorder_free (TailorVkRecorder *self)
{
  VkDevice device;

  if (self == NULL)
    return;
  device = self->ctx->device;
  if (self->pending && !self->ctx->lost)
    vkWaitForFences (device, 1, &self->fence, VK_TRUE, G_MAXUINT64);
  for (guint i = 0; i < self->descriptor_pools->len; i++)
    vkDestroyDescriptorPool (device, g_array_index (self->descriptor_pools, VkDescriptorPool, i),
                             NULL);
  for (guint i = 0; i < self->query_pools->len; i++)
    vkDestroyQueryPool (device, g_array_index (self->query_pools, VkQueryPool, i), NULL);
  if (self->fence != VK_NULL_HANDLE)
    vkDestroyFence (device, self->fence, NULL);
  if (self->cmd != VK_NULL_HANDLE)
    vkFreeCommandBuffers (device, self->ctx->command_pool, 1, &self->cmd);
  g_array_unref (self->descriptor_pools);
  g_array_unref (self->query_pools);
  g_array_unref (self->timed);
  g_array_unref (self->timings);
  g_ptr_array_unref (self->labels);
  g_hash_table_unref (self->states);
  g_free (self);
}

static guint
kind_slot (TailorVkBindingKind kind)
{
  return (guint) kind;
}

static VkDescriptorSet
allocate_set (TailorVkRecorder *self, TailorVkPipeline *pipeline, GError **error)
{
  TailorVkContext *ctx = self->ctx;
  guint needed[3] = { 0, 0, 0 };
  VkDescriptorSetAllocateInfo alloc = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
    .descriptorSetCount = 1,
    .pSetLayouts = &pipeline->set_layout,
  };
  VkDescriptorSet set = VK_NULL_HANDLE;

  for (guint i = 0; i < pipeline->n_bindings; i++)
    needed[kind_slot (pipeline->bindings[i].kind)]++;
  /* Pools are sized by us, so exhaustion is known before the driver would report it. */
  if (self->sets_left == 0 || needed[0] > self->descriptors_left[0] ||
      needed[1] > self->descriptors_left[1] || needed[2] > self->descriptors_left[2])
    {
      VkDescriptorPoolSize sizes[] = {
        { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, DESCRIPTORS_PER_POOL },
        { VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, DESCRIPTORS_PER_POOL },
        { VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER, DESCRIPTORS_PER_POOL },
      };
      VkDescriptorPoolCreateInfo create = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = SETS_PER_POOL,
        .poolSizeCount = G_N_ELEMENTS (sizes),
        .pPoolSizes = sizes,
      };
      VkDescriptorPool pool = VK_NULL_HANDLE;

      if (!tailor_vk_check (ctx, vkCreateDescriptorPool (ctx->device, &create, NULL, &pool),
                            "creating a descriptor pool", error))
        return VK_NULL_HANDLE;
      g_array_append_val (self->descriptor_pools, pool);
      self->sets_left = SETS_PER_POOL;
      for (guint i = 0; i < 3; i++)
        self->descriptors_left[i] = DESCRIPTORS_PER_POOL;
    }
  alloc.descriptorPool =
    g_array_index (self->descriptor_pools, VkDescriptorPool, self->descriptor_pools->len - 1);
  if (!tailor_vk_check (ctx, vkAllocateDescriptorSets (ctx->device, &alloc, &set),
                        "allocating a descriptor set", error))
    return VK_NULL_HANDLE;
  self->sets_left--;
  for (guint i = 0; i < 3; i++)
    self->descriptors_left[i] -= needed[i];
  return set;
}

static BufferState *
buffer_state (TailorVkRecorder *self, TailorVkBuffer *buffer)
{
  BufferState *state = g_hash_table_lookup (self->states, buffer);

  if (state == NULL)
    {
      state = g_new0 (BufferState, 1);
      g_hash_table_insert (self->states, buffer, state);
    }
  return state;
}

/* Orders this dispatch after earlier ones it depends on: read-after-write and write-after-write
 * need the writes made visible, write-after-read only an execution dependency. One barrier
 * makes every pending write visible, so the next dependent dispatch needs no other. */
static void
order_access (TailorVkRecorder *self,
              const TailorVkBufferRange *ranges,
              const gboolean *writes,
              guint n)
{
  g_autoptr (GArray) barriers = NULL;
  gboolean needed = FALSE;
  GHashTableIter iter;
  TailorVkBuffer *buffer;
  BufferState *state;

  for (guint i = 0; i < n && !needed; i++)
    {
      state = buffer_state (self, ranges[i].buffer);
      needed = state->dirty || (writes[i] && state->read_epoch == self->epoch + 1);
    }
  if (needed)
    {
      barriers = g_array_new (FALSE, TRUE, sizeof (VkBufferMemoryBarrier));
      g_hash_table_iter_init (&iter, self->states);
      while (g_hash_table_iter_next (&iter, (gpointer *) &buffer, (gpointer *) &state))
        {
          VkBufferMemoryBarrier barrier = {
            .sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
            .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
            .dstAccessMask =
              VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
            .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
            .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
            .buffer = buffer->buffer,
            .offset = 0,
            .size = VK_WHOLE_SIZE,
          };

          if (!state->dirty)
            continue;
          g_array_append_val (barriers, barrier);
          state->dirty = FALSE;
        }
      /* fills (transfers) are ordered like dispatches */
      vkCmdPipelineBarrier (
        self->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL,
        barriers->len, (const VkBufferMemoryBarrier *) barriers->data, 0, NULL);
      self->epoch++;
    }
  for (guint i = 0; i < n; i++)
    {
      state = buffer_state (self, ranges[i].buffer);
      if (writes[i])
        state->dirty = TRUE;
      else
        state->read_epoch = self->epoch + 1;
    }
}

static gboolean
write_timestamp (TailorVkRecorder *self,
                 gboolean start,
                 VkPipelineStageFlagBits stage,
                 GError **error)
{
  TailorVkContext *ctx = self->ctx;
  VkQueryPool pool;

  if (start && (self->query_pools->len == 0 || self->queries_used + 2 > QUERIES_PER_POOL))
    {
      VkQueryPoolCreateInfo create = {
        .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
        .queryType = VK_QUERY_TYPE_TIMESTAMP,
        .queryCount = QUERIES_PER_POOL,
      };

      if (!tailor_vk_check (ctx, vkCreateQueryPool (ctx->device, &create, NULL, &pool),
                            "creating a timestamp query pool", error))
        return FALSE;
      g_array_append_val (self->query_pools, pool);
      /* Recorded in the command buffer, so every submission starts from reset queries. */
      vkCmdResetQueryPool (self->cmd, pool, 0, QUERIES_PER_POOL);
      self->queries_used = 0;
    }
  pool = g_array_index (self->query_pools, VkQueryPool, self->query_pools->len - 1);
  if (start)
    {
      TimedDispatch timed = { self->query_pools->len - 1, self->queries_used };

      g_array_append_val (self->timed, timed);
    }
  vkCmdWriteTimestamp (self->cmd, stage, pool, self->queries_used++);
  return TRUE;
}

gboolean
tailor_vk_recorder_dispatch (TailorVkRecorder *self,
                             TailorVkPipeline *pipeline,
                             const char *label,
                             const TailorVkBufferRange *ranges,
                             guint n_ranges,
                             const void *push,
                             gsize push_size,
                             guint32 groups_x,
                             guint32 groups_y,
                             guint32 groups_z,
                             GError **error)
{
  TailorVkContext *ctx;
  const TailorVkDeviceInfo *info;
  TailorVkBufferRange resolved[MAX_BINDINGS];
  VkDescriptorBufferInfo buffer_infos[MAX_BINDINGS];
  VkBufferView views[MAX_BINDINGS];
  VkWriteDescriptorSet writes[MAX_BINDINGS];
  gboolean writes_of[MAX_BINDINGS];
  VkDescriptorSet set;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (pipeline != NULL, FALSE);
  g_return_val_if_fail (n_ranges == 0 || ranges != NULL, FALSE);
  g_return_val_if_fail (push_size == 0 || push != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = self->ctx;
  info = ctx->info;
  if (label == NULL)
    label = pipeline->shader;
  if (!self->recording)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "Cannot record “%s”: the recording was already submitted.", label);
      return FALSE;
    }
  if (n_ranges != pipeline->n_bindings || n_ranges > MAX_BINDINGS ||
      push_size != pipeline->push_constant_size)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "“%s” was given %u buffers and %" G_GSIZE_FORMAT " bytes of push constants; "
                   "its shader “%s” takes %u and %u.",
                   label, n_ranges, push_size, pipeline->shader, pipeline->n_bindings,
                   pipeline->push_constant_size);
      return FALSE;
    }
  if (groups_x > info->max_workgroup_count[0] || groups_y > info->max_workgroup_count[1] ||
      groups_z > info->max_workgroup_count[2])
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "“%s” asks for %u × %u × %u workgroups; “%s” allows at most %u × %u × %u.",
                   label, groups_x, groups_y, groups_z, info->name, info->max_workgroup_count[0],
                   info->max_workgroup_count[1], info->max_workgroup_count[2]);
      return FALSE;
    }
  if (groups_x == 0 || groups_y == 0 || groups_z == 0)
    return TRUE;

  memset (writes, 0, sizeof writes);
  for (guint i = 0; i < n_ranges; i++)
    {
      const TailorVkBinding *binding = &pipeline->bindings[i];
      TailorVkBuffer *buffer = ranges[i].buffer;
      gsize offset = ranges[i].offset;
      gsize size;

      if (buffer == NULL || offset >= buffer->size || ranges[i].size > buffer->size - offset)
        {
          g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                       "Binding %u of “%s” lies outside its buffer “%s”.", i, label,
                       buffer != NULL ? buffer->name : "(none)");
          return FALSE;
        }
      size = ranges[i].size > 0 ? ranges[i].size : buffer->size - offset;
      resolved[i] = (TailorVkBufferRange){ buffer, offset, size };

      writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
      writes[i].dstBinding = i;
      writes[i].descriptorCount = 1;
      if (binding->kind == TAILOR_VK_BINDING_STORAGE_BUFFER)
        {
          if (offset % info->storage_buffer_alignment != 0 || size > info->max_storage_buffer_range)
            {
              g_set_error (
                error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                "Binding %u of “%s” (buffer “%s”) must start at a multiple of %" G_GUINT64_FORMAT
                " bytes and span at most %u bytes.",
                i, label, buffer->name, info->storage_buffer_alignment,
                info->max_storage_buffer_range);
              return FALSE;
            }
          buffer_infos[i] = (VkDescriptorBufferInfo){ buffer->buffer, offset, size };
          writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
          writes[i].pBufferInfo = &buffer_infos[i];
        }
      else
        {
          views[i] = tailor_vk_buffer_get_view (buffer, binding->format, offset, size, error);
          if (views[i] == VK_NULL_HANDLE)
            return FALSE;
          writes[i].descriptorType = binding->kind == TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER
                                       ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                       : VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER;
          writes[i].pTexelBufferView = &views[i];
        }
    }

  set = allocate_set (self, pipeline, error);
  if (set == VK_NULL_HANDLE)
    return FALSE;
  for (guint i = 0; i < n_ranges; i++)
    writes[i].dstSet = set;
  vkUpdateDescriptorSets (ctx->device, n_ranges, writes, 0, NULL);

  for (guint i = 0; i < n_ranges; i++)
    writes_of[i] = pipeline->bindings[i].writes;
  order_access (self, resolved, writes_of, n_ranges);
  if (self->profile && !write_timestamp (self, TRUE, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, error))
    return FALSE;
  vkCmdBindPipeline (self->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline->pipeline);
  vkCmdBindDescriptorSets (self->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline->layout, 0, 1, &set,
                           0, NULL);
  if (push_size > 0)
    vkCmdPushConstants (self->cmd, pipeline->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                        (guint32) push_size, push);
  vkCmdDispatch (self->cmd, groups_x, groups_y, groups_z);
  if (self->profile)
    {
      write_timestamp (self, FALSE, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, NULL);
      g_ptr_array_add (self->labels, g_strdup (label));
    }
  self->n_dispatches++;
  return TRUE;
}

gboolean
tailor_vk_recorder_fill (TailorVkRecorder *self,
                         const TailorVkBufferRange *range,
                         guint32 value,
                         const char *label,
                         GError **error)
{
  gsize size;
  const gboolean writes = TRUE;

  g_return_val_if_fail (self != NULL && range != NULL && range->buffer != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!self->recording)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "Cannot record “%s”: the recording was already submitted.", label);
      return FALSE;
    }
  size = range->size > 0 ? range->size : range->buffer->size - range->offset;
  if (range->offset % 4 != 0 || size % 4 != 0 || range->offset > range->buffer->size ||
      size > range->buffer->size - range->offset)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "“%s” fills bytes %" G_GSIZE_FORMAT "–%" G_GSIZE_FORMAT " of “%s”, which are "
                   "not whole 4-byte words inside it.",
                   label, range->offset, range->offset + size, range->buffer->name);
      return FALSE;
    }
  order_access (self, range, &writes, 1);
  if (self->profile && !write_timestamp (self, TRUE, VK_PIPELINE_STAGE_TRANSFER_BIT, error))
    return FALSE;
  if (size > 0)
    vkCmdFillBuffer (self->cmd, range->buffer->buffer, range->offset, size, value);
  if (self->profile)
    {
      write_timestamp (self, FALSE, VK_PIPELINE_STAGE_TRANSFER_BIT, NULL);
      g_ptr_array_add (self->labels, g_strdup (label));
    }
  self->n_dispatches++;
  return TRUE;
}

gboolean
tailor_vk_recorder_submit (TailorVkRecorder *self, GError **error)
{
  TailorVkContext *ctx;
  VkSubmitInfo submit = {
    .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
    .commandBufferCount = 1,
  };

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = self->ctx;
  if (self->pending)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "The recording is still running; wait for it before submitting it again.");
      return FALSE;
    }
  if (ctx->lost)
    return tailor_vk_check (ctx, VK_ERROR_DEVICE_LOST, "submitting work", error);
  if (self->recording)
    {
      tailor_vk_cmd_end_barrier (self->cmd);
      self->recording = FALSE;
      if (!tailor_vk_check (ctx, vkEndCommandBuffer (self->cmd), "ending a recording", error))
        return FALSE;
    }
  submit.pCommandBuffers = &self->cmd;
  if (!tailor_vk_check (ctx, vkQueueSubmit (ctx->queue, 1, &submit, self->fence), "submitting work",
                        error))
    return FALSE;
  self->pending = TRUE;
  return TRUE;
}

static gboolean
read_timings (TailorVkRecorder *self, GError **error)
{
  TailorVkContext *ctx = self->ctx;
  guint32 bits = ctx->info->timestamp_valid_bits;
  guint64 mask = bits >= 64 ? G_MAXUINT64 : (G_GUINT64_CONSTANT (1) << bits) - 1;

  g_array_set_size (self->timings, 0);
  for (guint i = 0; i < self->timed->len; i++)
    {
      const TimedDispatch *timed = &g_array_index (self->timed, TimedDispatch, i);
      guint64 ticks[2];
      TailorVkTiming timing;
      VkResult result;

      result = vkGetQueryPoolResults (
        ctx->device, g_array_index (self->query_pools, VkQueryPool, timed->pool), timed->query, 2,
        sizeof ticks, ticks, sizeof ticks[0], VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
      if (!tailor_vk_check (ctx, result, "reading kernel timings", error))
        return FALSE;
      timing.label = g_ptr_array_index (self->labels, i);
      timing.ms = (double) ((ticks[1] - ticks[0]) & mask) * ctx->info->timestamp_period / 1e6;
      g_array_append_val (self->timings, timing);
    }
  return TRUE;
}

gboolean
tailor_vk_recorder_wait (TailorVkRecorder *self, guint64 timeout_ns, GError **error)
{
  TailorVkContext *ctx;
  VkResult result;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ctx = self->ctx;
  if (!self->pending)
    return TRUE;
  result = vkWaitForFences (ctx->device, 1, &self->fence, VK_TRUE, timeout_ns);
  if (result == VK_TIMEOUT)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_TIMEOUT,
                   "“%s” did not finish %u kernels within %.3f s; the work is still running. "
                   "Wait longer, or use a smaller batch or sequence length.",
                   ctx->info->name, self->n_dispatches, timeout_ns / 1e9);
      return FALSE;
    }
  if (!tailor_vk_check (ctx, result, "waiting for submitted work", error))
    {
      if (ctx->lost)
        self->pending = FALSE;
      return FALSE;
    }
  self->pending = FALSE;
  if (!tailor_vk_check (ctx, vkResetFences (ctx->device, 1, &self->fence), "resetting a fence",
                        error))
    return FALSE;
  return !self->profile || read_timings (self, error);
}

gboolean
tailor_vk_recorder_run (TailorVkRecorder *self, guint64 timeout_ns, GError **error)
{
  return tailor_vk_recorder_submit (self, error) &&
         tailor_vk_recorder_wait (self, timeout_ns, error);
}

guint
tailor_vk_recorder_get_n_dispatches (TailorVkRecorder *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_dispatches;
}

guint
tailor_vk_recorder_get_n_barriers (TailorVkRecorder *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->epoch;
}

const TailorVkTiming *
tailor_vk_recorder_get_timings (TailorVkRecorder *self, guint *n_timings)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (n_timings != NULL, NULL);

  *n_timings = self->timings->len;
  return (const TailorVkTiming *) self->timings->data;
}
