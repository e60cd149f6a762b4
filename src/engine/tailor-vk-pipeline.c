/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Compute pipelines from the embedded SPIR-V, and the pipeline cache file. */
#include "config.h"

#include <string.h>

#include "tailor-vk-private.h"

#define SHADER_PREFIX "/io/github/tailorapp/Tailor/shaders/"

/* The cache file: our header, then the driver's VkPipelineCache data. The header ties the data to
 * one device and driver version and carries a checksum, so a stale or damaged file is never
 * handed to a driver (not every driver survives bad cache data). */
#define CACHE_MAGIC       "TLRVKPC1"
#define CACHE_HEADER_SIZE (8 + 4 + 4 + 4 + VK_UUID_SIZE + VK_UUID_SIZE + 8 + 32)

static void
pipeline_free (TailorVkPipeline *self)
{
  g_free (self->key);
  g_free (self->shader);
  g_free (self->bindings);
  g_free (self);
}

void
tailor_vk_pipelines_init (TailorVkContext *ctx)
{
  ctx->pipelines =
    g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) pipeline_free);
}

void
tailor_vk_pipelines_shutdown (TailorVkContext *ctx)
{
  GHashTableIter iter;
  TailorVkPipeline *pipeline;

  if (ctx->pipelines == NULL)
    return;
  g_hash_table_iter_init (&iter, ctx->pipelines);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &pipeline))
    {
      vkDestroyPipeline (ctx->device, pipeline->pipeline, NULL);
      vkDestroyPipelineLayout (ctx->device, pipeline->layout, NULL);
      vkDestroyDescriptorSetLayout (ctx->device, pipeline->set_layout, NULL);
    }
  g_clear_pointer (&ctx->pipelines, g_hash_table_unref);
  if (ctx->pipeline_cache != VK_NULL_HANDLE)
    vkDestroyPipelineCache (ctx->device, ctx->pipeline_cache, NULL);
  g_clear_pointer (&ctx->pipeline_cache_path, g_free);
}

static void
put_u32 (GByteArray *out, guint32 value)
{
  guint32 le = GUINT32_TO_LE (value);

  g_byte_array_append (out, (const guint8 *) &le, 4);
}

static void
put_u64 (GByteArray *out, guint64 value)
{
  guint64 le = GUINT64_TO_LE (value);

  g_byte_array_append (out, (const guint8 *) &le, 8);
}

static guint32
get_u32 (const guint8 *p)
{
  guint32 le;

  memcpy (&le, p, 4);
  return GUINT32_FROM_LE (le);
}

static guint64
get_u64 (const guint8 *p)
{
  guint64 le;

  memcpy (&le, p, 8);
  return GUINT64_FROM_LE (le);
}

static void
sha256 (const guint8 *data, gsize len, guint8 digest[32])
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize digest_len = 32;

  g_checksum_update (checksum, data, len);
  g_checksum_get_digest (checksum, digest, &digest_len);
}

/* The driver data in contents when the file belongs to this device and driver and is intact. */
static const guint8 *
check_cache_file (const TailorVkDeviceInfo *info,
                  const guint8 *contents,
                  gsize len,
                  gsize *data_len,
                  const char **why)
{
  const guint8 *p = contents;
  const guint8 *data = contents + CACHE_HEADER_SIZE;
  guint8 digest[32];
  guint64 n;

  if (len < CACHE_HEADER_SIZE || memcmp (p, CACHE_MAGIC, 8) != 0)
    return *why = "not a Tailor pipeline cache", NULL;
  if (get_u32 (p + 8) != info->driver_version || get_u32 (p + 12) != info->vendor_id ||
      get_u32 (p + 16) != info->device_id ||
      memcmp (p + 20, info->device_uuid, VK_UUID_SIZE) != 0 ||
      memcmp (p + 20 + VK_UUID_SIZE, info->pipeline_cache_uuid, VK_UUID_SIZE) != 0)
    return *why = "written for another device or driver version", NULL;
  n = get_u64 (p + 20 + 2 * VK_UUID_SIZE);
  if (n != len - CACHE_HEADER_SIZE)
    return *why = "truncated", NULL;
  sha256 (data, n, digest);
  if (memcmp (digest, p + 28 + 2 * VK_UUID_SIZE, 32) != 0)
    return *why = "damaged (checksum mismatch)", NULL;
  /* The driver's own header: size ≥ 32, version 1, vendor, device, cache UUID. */
  if (n < 32 || get_u32 (data) < 32 || get_u32 (data + 4) != VK_PIPELINE_CACHE_HEADER_VERSION_ONE ||
      get_u32 (data + 8) != info->vendor_id || get_u32 (data + 12) != info->device_id ||
      memcmp (data + 16, info->pipeline_cache_uuid, VK_UUID_SIZE) != 0)
    return *why = "holding data of another driver", NULL;
  *data_len = n;
  return data;
}

gboolean
tailor_vk_pipeline_cache_open (TailorVkContext *ctx, GError **error)
{
  const char *dir = g_getenv ("TAILOR_CACHE_DIR");
  g_autofree char *default_dir = NULL;
  g_autofree char *uuid = NULL;
  g_autofree char *name = NULL;
  g_autofree char *contents = NULL;
  VkPipelineCacheCreateInfo create = { .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO };
  gsize len = 0;

  if (dir == NULL || *dir == '\0')
    dir = default_dir = g_build_filename (g_get_user_cache_dir (), "tailor", NULL);
  uuid = g_malloc0 (2 * VK_UUID_SIZE + 1);
  for (guint i = 0; i < VK_UUID_SIZE; i++)
    g_snprintf (uuid + 2 * i, 3, "%02x", ctx->info->device_uuid[i]);
  name = g_strdup_printf ("vulkan-pipelines-%s.bin", uuid);
  ctx->pipeline_cache_path = g_build_filename (dir, name, NULL);

  if (g_file_get_contents (ctx->pipeline_cache_path, &contents, &len, NULL))
    {
      const char *why = NULL;
      gsize data_len = 0;
      const guint8 *data =
        check_cache_file (ctx->info, (const guint8 *) contents, len, &data_len, &why);

      if (data != NULL)
        {
          create.initialDataSize = data_len;
          create.pInitialData = data;
        }
      else
        g_debug ("Ignoring the pipeline cache %s: %s", ctx->pipeline_cache_path, why);
    }
  if (!tailor_vk_check (ctx,
                        vkCreatePipelineCache (ctx->device, &create, NULL, &ctx->pipeline_cache),
                        "creating the pipeline cache", error))
    return FALSE;
  ctx->pipeline_cache_loaded = create.initialDataSize;
  return TRUE;
}

gboolean
tailor_vk_context_save_pipeline_cache (TailorVkContext *ctx, GError **error)
{
  g_autoptr (GByteArray) file = NULL;
  g_autofree guint8 *data = NULL;
  g_autofree char *dir = NULL;
  guint8 digest[32];
  gsize len = 0;
  VkResult result;

  g_return_val_if_fail (ctx != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!ctx->pipeline_cache_dirty || ctx->pipeline_cache == VK_NULL_HANDLE)
    return TRUE;
  result = vkGetPipelineCacheData (ctx->device, ctx->pipeline_cache, &len, NULL);
  if (result == VK_SUCCESS)
    {
      data = g_malloc (MAX (len, 1));
      result = vkGetPipelineCacheData (ctx->device, ctx->pipeline_cache, &len, data);
    }
  if (!tailor_vk_check (ctx, result, "reading the pipeline cache", error))
    return FALSE;

  file = g_byte_array_sized_new (CACHE_HEADER_SIZE + len);
  g_byte_array_append (file, (const guint8 *) CACHE_MAGIC, 8);
  put_u32 (file, ctx->info->driver_version);
  put_u32 (file, ctx->info->vendor_id);
  put_u32 (file, ctx->info->device_id);
  g_byte_array_append (file, ctx->info->device_uuid, VK_UUID_SIZE);
  g_byte_array_append (file, ctx->info->pipeline_cache_uuid, VK_UUID_SIZE);
  put_u64 (file, len);
  sha256 (data, len, digest);
  g_byte_array_append (file, digest, 32);
  g_byte_array_append (file, data, len);
  g_assert (file->len == CACHE_HEADER_SIZE + len);

  dir = g_path_get_dirname (ctx->pipeline_cache_path);
  if (g_mkdir_with_parents (dir, 0700) != 0 ||
      !g_file_set_contents_full (ctx->pipeline_cache_path, (const char *) file->data, file->len,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL))
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_FAILED,
                   "Cannot write the pipeline cache %s; check that the folder is writable (or "
                   "set TAILOR_CACHE_DIR). Kernels still run; they compile again next time.",
                   ctx->pipeline_cache_path);
      return FALSE;
    }
  ctx->pipeline_cache_dirty = FALSE;
  return TRUE;
}

const char *
tailor_vk_context_get_pipeline_cache_path (TailorVkContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->pipeline_cache_path;
}

gsize
tailor_vk_context_get_pipeline_cache_loaded (TailorVkContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, 0);
  return ctx->pipeline_cache_loaded;
}

guint
tailor_vk_context_get_n_pipelines (TailorVkContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, 0);
  return g_hash_table_size (ctx->pipelines);
}

const char *
tailor_vk_pipeline_get_shader (TailorVkPipeline *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->shader;
}

static VkDescriptorType
descriptor_type (TailorVkBindingKind kind)
{
  switch (kind)
    {
      case TAILOR_VK_BINDING_STORAGE_BUFFER:
        return VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      case TAILOR_VK_BINDING_UNIFORM_TEXEL_BUFFER:
        return VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
      case TAILOR_VK_BINDING_STORAGE_TEXEL_BUFFER:
        return VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER;
      default:
        g_assert_not_reached ();
    }
}

static char *
pipeline_key (const TailorVkPipelineDesc *desc)
{
  GString *key = g_string_new (desc->shader);

  g_string_append (key, "|b");
  for (guint i = 0; i < desc->n_bindings; i++)
    g_string_append_printf (key, ":%d/%d/%d", (int) desc->bindings[i].kind,
                            (int) desc->bindings[i].format, desc->bindings[i].writes ? 1 : 0);
  g_string_append_printf (key, "|p%u|s", desc->push_constant_size);
  for (guint i = 0; i < desc->n_spec_constants; i++)
    g_string_append_printf (key, ":%u", desc->spec_constants[i]);
  return g_string_free (key, FALSE);
}

static gboolean
create_pipeline (TailorVkContext *ctx,
                 TailorVkPipeline *self,
                 const TailorVkPipelineDesc *desc,
                 GError **error)
{
  g_autofree char *path = g_strconcat (SHADER_PREFIX, desc->shader, ".spv", NULL);
  g_autofree char *doing = g_strdup_printf ("creating the pipeline for shader “%s”", desc->shader);
  g_autofree VkDescriptorSetLayoutBinding *bindings = NULL;
  g_autofree VkSpecializationMapEntry *entries = NULL;
  g_autofree guint32 *code_copy = NULL;
  g_autoptr (GBytes) spirv = NULL;
  const guint32 *code;
  gsize code_len = 0;
  VkShaderModule module = VK_NULL_HANDLE;
  VkResult result;

  spirv = g_resource_lookup_data (tailor_shaders_get_resource (), path,
                                  G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (spirv == NULL)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_INVALID,
                   "The shader “%s” is not built into Tailor (no resource %s); add "
                   "shaders/%s.comp to shaders/meson.build.",
                   desc->shader, path, desc->shader);
      return FALSE;
    }
  code = g_bytes_get_data (spirv, &code_len);
  if ((guintptr) code % 4 != 0)
    code = code_copy = g_memdup2 (code, code_len);

  {
    VkShaderModuleCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
      .codeSize = code_len,
      .pCode = code,
    };

    if (!tailor_vk_check (ctx, vkCreateShaderModule (ctx->device, &info, NULL, &module), doing,
                          error))
      return FALSE;
  }

  bindings = g_new0 (VkDescriptorSetLayoutBinding, MAX (desc->n_bindings, 1));
  for (guint i = 0; i < desc->n_bindings; i++)
    {
      bindings[i].binding = i;
      bindings[i].descriptorType = descriptor_type (desc->bindings[i].kind);
      bindings[i].descriptorCount = 1;
      bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
  {
    VkDescriptorSetLayoutCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
      .bindingCount = desc->n_bindings,
      .pBindings = bindings,
    };

    result = vkCreateDescriptorSetLayout (ctx->device, &info, NULL, &self->set_layout);
  }
  if (result == VK_SUCCESS)
    {
      VkPushConstantRange push = {
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        .size = desc->push_constant_size,
      };
      VkPipelineLayoutCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &self->set_layout,
        .pushConstantRangeCount = desc->push_constant_size > 0 ? 1 : 0,
        .pPushConstantRanges = &push,
      };

      result = vkCreatePipelineLayout (ctx->device, &info, NULL, &self->layout);
    }
  if (result == VK_SUCCESS)
    {
      VkSpecializationInfo spec = {
        .mapEntryCount = desc->n_spec_constants,
        .dataSize = desc->n_spec_constants * sizeof (guint32),
        .pData = desc->spec_constants,
      };
      VkComputePipelineCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
          .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
          .stage = VK_SHADER_STAGE_COMPUTE_BIT,
          .module = module,
          .pName = "main",
          .pSpecializationInfo = desc->n_spec_constants > 0 ? &spec : NULL,
        },
        .layout = self->layout,
      };

      entries = g_new0 (VkSpecializationMapEntry, MAX (desc->n_spec_constants, 1));
      for (guint i = 0; i < desc->n_spec_constants; i++)
        {
          entries[i].constantID = i;
          entries[i].offset = i * sizeof (guint32);
          entries[i].size = sizeof (guint32);
        }
      spec.pMapEntries = entries;
      result = vkCreateComputePipelines (ctx->device, ctx->pipeline_cache, 1, &info, NULL,
                                         &self->pipeline);
    }
  vkDestroyShaderModule (ctx->device, module, NULL);
  return tailor_vk_check (ctx, result, doing, error);
}

TailorVkPipeline *
tailor_vk_pipeline_get (TailorVkContext *ctx, const TailorVkPipelineDesc *desc, GError **error)
{
  g_autofree char *key = NULL;
  TailorVkPipeline *self;

  g_return_val_if_fail (ctx != NULL, NULL);
  g_return_val_if_fail (desc != NULL && desc->shader != NULL, NULL);
  g_return_val_if_fail (desc->n_bindings == 0 || desc->bindings != NULL, NULL);
  g_return_val_if_fail (desc->n_spec_constants == 0 || desc->spec_constants != NULL, NULL);
  g_return_val_if_fail (desc->push_constant_size % 4 == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  key = pipeline_key (desc);
  self = g_hash_table_lookup (ctx->pipelines, key);
  if (self != NULL)
    return self;

  if (desc->push_constant_size > ctx->info->max_push_constants)
    {
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_UNSUPPORTED,
                   "The shader “%s” needs %u bytes of push constants; “%s” allows %u.",
                   desc->shader, desc->push_constant_size, ctx->info->name,
                   ctx->info->max_push_constants);
      return NULL;
    }
  self = g_new0 (TailorVkPipeline, 1);
  self->key = g_steal_pointer (&key);
  self->shader = g_strdup (desc->shader);
  self->bindings = g_memdup2 (desc->bindings, desc->n_bindings * sizeof (TailorVkBinding));
  self->n_bindings = desc->n_bindings;
  self->push_constant_size = desc->push_constant_size;
  if (!create_pipeline (ctx, self, desc, error))
    {
      if (self->layout != VK_NULL_HANDLE)
        vkDestroyPipelineLayout (ctx->device, self->layout, NULL);
      if (self->set_layout != VK_NULL_HANDLE)
        vkDestroyDescriptorSetLayout (ctx->device, self->set_layout, NULL);
      pipeline_free (self);
      return NULL;
    }
  g_hash_table_insert (ctx->pipelines, self->key, self);
  ctx->pipeline_cache_dirty = TRUE;
  return self;
}
