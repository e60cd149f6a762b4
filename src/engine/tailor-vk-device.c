/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Vulkan instance, device enumeration and selection, the compute context and error mapping. */
#include "config.h"

#include <string.h>

#include "tailor-vk-private.h"

G_DEFINE_QUARK (tailor - vk - error - quark, tailor_vk_error)

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

const char tailor_vk_oom_advice[] =
  "Try a smaller batch size or sequence length, a lower LoRA rank, or turn on gradient "
  "checkpointing; closing other programs that use the GPU also frees memory.";

static const char *
result_to_string (VkResult result)
{
  switch ((int) result)
    {
      case VK_SUCCESS:
        return "VK_SUCCESS";
      case VK_NOT_READY:
        return "VK_NOT_READY";
      case VK_TIMEOUT:
        return "VK_TIMEOUT";
      case VK_INCOMPLETE:
        return "VK_INCOMPLETE";
      case VK_ERROR_OUT_OF_HOST_MEMORY:
        return "VK_ERROR_OUT_OF_HOST_MEMORY";
      case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
      case VK_ERROR_INITIALIZATION_FAILED:
        return "VK_ERROR_INITIALIZATION_FAILED";
      case VK_ERROR_DEVICE_LOST:
        return "VK_ERROR_DEVICE_LOST";
      case VK_ERROR_MEMORY_MAP_FAILED:
        return "VK_ERROR_MEMORY_MAP_FAILED";
      case VK_ERROR_LAYER_NOT_PRESENT:
        return "VK_ERROR_LAYER_NOT_PRESENT";
      case VK_ERROR_EXTENSION_NOT_PRESENT:
        return "VK_ERROR_EXTENSION_NOT_PRESENT";
      case VK_ERROR_FEATURE_NOT_PRESENT:
        return "VK_ERROR_FEATURE_NOT_PRESENT";
      case VK_ERROR_INCOMPATIBLE_DRIVER:
        return "VK_ERROR_INCOMPATIBLE_DRIVER";
      case VK_ERROR_TOO_MANY_OBJECTS:
        return "VK_ERROR_TOO_MANY_OBJECTS";
      case VK_ERROR_FORMAT_NOT_SUPPORTED:
        return "VK_ERROR_FORMAT_NOT_SUPPORTED";
      case VK_ERROR_FRAGMENTED_POOL:
        return "VK_ERROR_FRAGMENTED_POOL";
      case VK_ERROR_OUT_OF_POOL_MEMORY:
        return "VK_ERROR_OUT_OF_POOL_MEMORY";
      case VK_ERROR_INVALID_SHADER_NV:
        return "VK_ERROR_INVALID_SHADER_NV";
      default:
        return "an unknown VkResult";
    }
}

gboolean
tailor_vk_check (TailorVkContext *ctx, VkResult result, const char *what, GError **error)
{
  const char *device = ctx != NULL && ctx->info != NULL ? ctx->info->name : "the Vulkan device";

  switch ((int) result)
    {
      case VK_SUCCESS:
        return TRUE;
      case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_OUT_OF_MEMORY,
                     "“%s” ran out of memory while %s. %s", device, what, tailor_vk_oom_advice);
        return FALSE;
      case VK_ERROR_OUT_OF_HOST_MEMORY:
        g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_OUT_OF_MEMORY,
                     "The computer ran out of memory while %s on “%s”. %s", what, device,
                     tailor_vk_oom_advice);
        return FALSE;
      case VK_ERROR_DEVICE_LOST:
        if (ctx != NULL)
          ctx->lost = TRUE;
        g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_DEVICE_LOST,
                     "The Vulkan device “%s” was lost while %s: the driver reset it or it crashed. "
                     "Restart Tailor (updating the graphics driver helps if this repeats); a "
                     "training run resumes from its last checkpoint.",
                     device, what);
        return FALSE;
      case VK_TIMEOUT:
        g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_TIMEOUT,
                     "“%s” did not finish in time while %s.", device, what);
        return FALSE;
      default:
        g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_FAILED,
                     "Vulkan failed while %s on “%s”: %s (%d).", what, device,
                     result_to_string (result), (int) result);
        return FALSE;
    }
}

void
tailor_vk_device_info_free (TailorVkDeviceInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->driver_name);
  g_free (info->driver_info);
  g_free (info->unusable_reason);
  g_free (info);
}

const char *
tailor_vk_device_type_to_string (TailorVkDeviceType type)
{
  switch (type)
    {
      case TAILOR_VK_DEVICE_DISCRETE:
        return "discrete";
      case TAILOR_VK_DEVICE_INTEGRATED:
        return "integrated";
      case TAILOR_VK_DEVICE_VIRTUAL:
        return "virtual";
      case TAILOR_VK_DEVICE_CPU:
        return "cpu";
      case TAILOR_VK_DEVICE_OTHER:
      default:
        return "other";
    }
}

GStrv
tailor_vk_subgroup_ops_to_strv (VkSubgroupFeatureFlags ops)
{
  static const struct
  {
    VkSubgroupFeatureFlagBits bit;
    const char *name;
  } names[] = {
    { VK_SUBGROUP_FEATURE_BASIC_BIT, "basic" },
    { VK_SUBGROUP_FEATURE_VOTE_BIT, "vote" },
    { VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "arithmetic" },
    { VK_SUBGROUP_FEATURE_BALLOT_BIT, "ballot" },
    { VK_SUBGROUP_FEATURE_SHUFFLE_BIT, "shuffle" },
    { VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT, "shuffle-relative" },
    { VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "clustered" },
    { VK_SUBGROUP_FEATURE_QUAD_BIT, "quad" },
  };
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (ops & names[i].bit)
      g_strv_builder_add (builder, names[i].name);
  return g_strv_builder_end (builder);
}

char *
tailor_vk_version_to_string (guint32 api_version)
{
  return g_strdup_printf ("%u.%u.%u", VK_API_VERSION_MAJOR (api_version),
                          VK_API_VERSION_MINOR (api_version), VK_API_VERSION_PATCH (api_version));
}

static TailorVkDeviceType
map_device_type (VkPhysicalDeviceType type)
{
  switch (type)
    {
      case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return TAILOR_VK_DEVICE_DISCRETE;
      case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return TAILOR_VK_DEVICE_INTEGRATED;
      case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return TAILOR_VK_DEVICE_VIRTUAL;
      case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return TAILOR_VK_DEVICE_CPU;
      case VK_PHYSICAL_DEVICE_TYPE_OTHER:
      case VK_PHYSICAL_DEVICE_TYPE_MAX_ENUM:
      default:
        return TAILOR_VK_DEVICE_OTHER;
    }
}

static gboolean
has_extension (const VkExtensionProperties *extensions, guint32 n, const char *name)
{
  for (guint32 i = 0; i < n; i++)
    if (g_str_equal (extensions[i].extensionName, name))
      return TRUE;
  return FALSE;
}

static VkExtensionProperties *
device_extensions (VkPhysicalDevice physical, guint32 *n)
{
  VkExtensionProperties *extensions;

  *n = 0;
  if (vkEnumerateDeviceExtensionProperties (physical, NULL, n, NULL) != VK_SUCCESS)
    return NULL;
  extensions = g_new0 (VkExtensionProperties, MAX (*n, 1));
  if (vkEnumerateDeviceExtensionProperties (physical, NULL, n, extensions) != VK_SUCCESS)
    *n = 0;
  return extensions;
}

/* The queue family compute work goes to: a compute-only family when there is one (it may run
 * beside graphics), else the first with compute. -1 when none. */
static gint
find_compute_family (VkPhysicalDevice physical, guint32 *timestamp_bits)
{
  g_autofree VkQueueFamilyProperties *families = NULL;
  guint32 n = 0;
  gint best = -1;

  vkGetPhysicalDeviceQueueFamilyProperties (physical, &n, NULL);
  families = g_new0 (VkQueueFamilyProperties, MAX (n, 1));
  vkGetPhysicalDeviceQueueFamilyProperties (physical, &n, families);
  for (guint32 i = 0; i < n; i++)
    {
      if (!(families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || families[i].queueCount == 0)
        continue;
      if (best < 0 || ((families[best].queueFlags & VK_QUEUE_GRAPHICS_BIT) &&
                       !(families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)))
        best = (gint) i;
    }
  *timestamp_bits = best >= 0 ? families[best].timestampValidBits : 0;
  return best;
}

static TailorVkDeviceInfo *
query_device (VkPhysicalDevice physical, guint index)
{
  TailorVkDeviceInfo *info = g_new0 (TailorVkDeviceInfo, 1);
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT,
  };
  VkPhysicalDeviceMemoryProperties2 memory = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
  };
  g_autofree VkExtensionProperties *extensions = NULL;
  guint32 n_extensions = 0;
  gint family;

  vkGetPhysicalDeviceProperties (physical, &props);
  info->index = index;
  info->name = g_strndup (props.deviceName, sizeof props.deviceName);
  info->type = map_device_type (props.deviceType);
  info->api_version = props.apiVersion;
  info->driver_version = props.driverVersion;
  info->vendor_id = props.vendorID;
  info->device_id = props.deviceID;
  memcpy (info->pipeline_cache_uuid, props.pipelineCacheUUID, VK_UUID_SIZE);
  for (guint i = 0; i < 3; i++)
    {
      info->max_workgroup_size[i] = props.limits.maxComputeWorkGroupSize[i];
      info->max_workgroup_count[i] = props.limits.maxComputeWorkGroupCount[i];
    }
  info->max_workgroup_invocations = props.limits.maxComputeWorkGroupInvocations;
  info->max_shared_memory = props.limits.maxComputeSharedMemorySize;
  info->max_push_constants = props.limits.maxPushConstantsSize;
  info->max_storage_buffer_range = props.limits.maxStorageBufferRange;
  info->max_texel_buffer_elements = props.limits.maxTexelBufferElements;
  info->texel_buffer_alignment = props.limits.minTexelBufferOffsetAlignment;
  info->storage_buffer_alignment = props.limits.minStorageBufferOffsetAlignment;
  info->non_coherent_atom_size = props.limits.nonCoherentAtomSize;
  info->timestamp_period = props.limits.timestampPeriod;
  info->max_buffer_size = G_MAXUINT32;
  info->max_allocation_size = G_MAXUINT32;

  extensions = device_extensions (physical, &n_extensions);
  info->memory_budget =
    has_extension (extensions, n_extensions, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);

  if (info->memory_budget)
    memory.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2 (physical, &memory);
  info->n_heaps = memory.memoryProperties.memoryHeapCount;
  for (guint i = 0; i < info->n_heaps; i++)
    {
      const VkMemoryHeap *heap = &memory.memoryProperties.memoryHeaps[i];

      info->heaps[i].size = heap->size;
      info->heaps[i].device_local = (heap->flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
      info->heaps[i].budget =
        info->memory_budget && budget.heapBudget[i] > 0 ? budget.heapBudget[i] : heap->size;
      info->heaps[i].usage = info->memory_budget ? budget.heapUsage[i] : 0;
    }

  family = find_compute_family (physical, &info->timestamp_valid_bits);
  if (!props.limits.timestampComputeAndGraphics)
    info->timestamp_valid_bits = 0;

  if (props.apiVersion < VK_API_VERSION_1_2)
    {
      g_autofree char *version = tailor_vk_version_to_string (props.apiVersion);

      info->driver_name = g_strdup ("");
      info->driver_info = g_strdup ("");
      info->unusable_reason = g_strdup_printf ("it supports Vulkan %s; Tailor needs 1.2", version);
      return info;
    }

  {
    VkPhysicalDeviceMaintenance4Properties maintenance4 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES,
    };
    VkPhysicalDeviceVulkan12Properties props12 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES,
    };
    VkPhysicalDeviceVulkan11Properties props11 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES,
      .pNext = &props12,
    };
    VkPhysicalDeviceProperties2 props2 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
      .pNext = &props11,
    };
    VkPhysicalDeviceVulkan12Features features12 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
    };
    VkPhysicalDeviceVulkan11Features features11 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
      .pNext = &features12,
    };
    VkPhysicalDeviceFeatures2 features2 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
      .pNext = &features11,
    };

    if (props.apiVersion >= VK_API_VERSION_1_3)
      props12.pNext = &maintenance4;
    vkGetPhysicalDeviceProperties2 (physical, &props2);
    vkGetPhysicalDeviceFeatures2 (physical, &features2);

    info->driver_name = g_strndup (props12.driverName, sizeof props12.driverName);
    info->driver_info = g_strndup (props12.driverInfo, sizeof props12.driverInfo);
    memcpy (info->device_uuid, props11.deviceUUID, VK_UUID_SIZE);
    info->subgroup_size = props11.subgroupSize;
    info->subgroup_stages = props11.subgroupSupportedStages;
    info->subgroup_ops = props11.subgroupSupportedOperations;
    info->max_allocation_size = props11.maxMemoryAllocationSize;
    info->max_buffer_size = props.apiVersion >= VK_API_VERSION_1_3
                              ? maintenance4.maxBufferSize
                              : props11.maxMemoryAllocationSize;
    info->fp16_arithmetic = features12.shaderFloat16;
    info->int8_arithmetic = features12.shaderInt8;
    info->storage_16bit = features11.storageBuffer16BitAccess;
    info->storage_8bit = features12.storageBuffer8BitAccess;
  }

  if (family < 0)
    info->unusable_reason = g_strdup ("it has no compute queue");
  else if (!(info->subgroup_stages & VK_SHADER_STAGE_COMPUTE_BIT) ||
           (info->subgroup_ops &
            (VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT)) !=
             (VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT))
    info->unusable_reason = g_strdup ("its compute shaders lack subgroup arithmetic");
  else
    info->usable = TRUE;
  return info;
}

static gboolean
has_layer (const char *name)
{
  g_autofree VkLayerProperties *layers = NULL;
  guint32 n = 0;

  if (vkEnumerateInstanceLayerProperties (&n, NULL) != VK_SUCCESS)
    return FALSE;
  layers = g_new0 (VkLayerProperties, MAX (n, 1));
  if (vkEnumerateInstanceLayerProperties (&n, layers) != VK_SUCCESS)
    return FALSE;
  for (guint32 i = 0; i < n; i++)
    if (g_str_equal (layers[i].layerName, name))
      return TRUE;
  return FALSE;
}

static VkExtensionProperties *
instance_extensions (const char *layer, guint32 *n)
{
  VkExtensionProperties *extensions;

  *n = 0;
  if (vkEnumerateInstanceExtensionProperties (layer, n, NULL) != VK_SUCCESS)
    return NULL;
  extensions = g_new0 (VkExtensionProperties, MAX (*n, 1));
  if (vkEnumerateInstanceExtensionProperties (layer, n, extensions) != VK_SUCCESS)
    *n = 0;
  return extensions;
}

static VkBool32 VKAPI_PTR
on_validation_message (VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                       VkDebugUtilsMessageTypeFlagsEXT types,
                       const VkDebugUtilsMessengerCallbackDataEXT *data,
                       void *user_data)
{
  TailorVkContext *self = user_data;
  const char *kind = severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning";
  char *message = g_strdup_printf ("%s %s", kind, data->pMessage != NULL ? data->pMessage : "");

  g_message ("Vulkan validation %s", message);
  g_mutex_lock (&self->messages_lock);
  g_ptr_array_add (self->messages, message);
  g_mutex_unlock (&self->messages_lock);
  return VK_FALSE;
}

static gboolean
no_device_error (GError **error, const char *why)
{
  g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_NO_DEVICE,
               "No Vulkan device found; Tailor will use the CPU (%s).", why);
  return FALSE;
}

/* An instance for enumeration (self NULL) or for a context, whose validation messages are
 * recorded from instance creation on. */
static gboolean
create_instance (TailorVkContext *self, VkInstance *out, GError **error)
{
  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "Tailor",
    .applicationVersion = VK_MAKE_API_VERSION (0, 0, 1, 0),
    .pEngineName = "libtailor",
    .engineVersion = VK_MAKE_API_VERSION (0, 0, 1, 0),
    .apiVersion = VK_API_VERSION_1_3,
  };
  VkDebugUtilsMessengerCreateInfoEXT messenger = {
    .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
    .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
    .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
    .pfnUserCallback = on_validation_message,
    .pUserData = self,
  };
  static const VkValidationFeatureEnableEXT enables[] = {
    VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT,
  };
  VkValidationFeaturesEXT features = {
    .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
    .enabledValidationFeatureCount = G_N_ELEMENTS (enables),
    .pEnabledValidationFeatures = enables,
  };
  VkInstanceCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    .pApplicationInfo = &app,
  };
  g_autofree VkExtensionProperties *available = NULL;
  g_autofree VkExtensionProperties *layer_available = NULL;
  const char *extensions[4];
  const char *layers[1];
  guint32 n_available = 0, n_layer_available = 0, n_extensions = 0;
  guint32 version = 0;
  VkResult result;

  if (vkEnumerateInstanceVersion (&version) != VK_SUCCESS || version < VK_API_VERSION_1_1)
    return no_device_error (error, "the Vulkan loader is older than 1.1");

  available = instance_extensions (NULL, &n_available);
  if (has_extension (available, n_available, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME))
    {
      extensions[n_extensions++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
      info.flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }

  if (self != NULL && self->validation)
    {
      if (!has_layer (VALIDATION_LAYER))
        {
          g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_UNSUPPORTED,
                       "TAILOR_VK_VALIDATION=1 asks for %s, which is not installed (Debian: "
                       "vulkan-validationlayers). Install it or unset TAILOR_VK_VALIDATION.",
                       VALIDATION_LAYER);
          return FALSE;
        }
      layers[0] = VALIDATION_LAYER;
      info.enabledLayerCount = 1;
      info.ppEnabledLayerNames = layers;
      layer_available = instance_extensions (VALIDATION_LAYER, &n_layer_available);
      extensions[n_extensions++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
      info.pNext = &messenger;
      if (has_extension (layer_available, n_layer_available,
                         VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME))
        {
          extensions[n_extensions++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
          messenger.pNext = &features;
        }
    }
  info.enabledExtensionCount = n_extensions;
  info.ppEnabledExtensionNames = extensions;

  result = vkCreateInstance (&info, NULL, out);
  if (result == VK_ERROR_INCOMPATIBLE_DRIVER || result == VK_ERROR_INITIALIZATION_FAILED)
    return no_device_error (error, "no Vulkan driver is installed or it refused to start");
  if (!tailor_vk_check (NULL, result, "creating the Vulkan instance", error))
    return FALSE;

  if (self != NULL && self->validation)
    {
      PFN_vkCreateDebugUtilsMessengerEXT create_messenger =
        (PFN_vkCreateDebugUtilsMessengerEXT) vkGetInstanceProcAddr (
          *out, "vkCreateDebugUtilsMessengerEXT");

      self->destroy_messenger = (PFN_vkDestroyDebugUtilsMessengerEXT) vkGetInstanceProcAddr (
        *out, "vkDestroyDebugUtilsMessengerEXT");
      messenger.pNext = NULL;
      if (create_messenger == NULL || self->destroy_messenger == NULL ||
          create_messenger (*out, &messenger, NULL, &self->messenger) != VK_SUCCESS)
        {
          vkDestroyInstance (*out, NULL);
          *out = VK_NULL_HANDLE;
          g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_UNSUPPORTED,
                       "The validation layer's debug messenger could not be set up; unset "
                       "TAILOR_VK_VALIDATION to run without validation.");
          return FALSE;
        }
    }
  return TRUE;
}

static GPtrArray *
enumerate (VkInstance instance, VkPhysicalDevice **physicals, GError **error)
{
  g_autofree VkPhysicalDevice *devices = NULL;
  g_autoptr (GPtrArray) infos = NULL;
  guint32 n = 0;
  VkResult result;

  result = vkEnumeratePhysicalDevices (instance, &n, NULL);
  if (result == VK_ERROR_INITIALIZATION_FAILED)
    {
      no_device_error (error, "the Vulkan driver failed to start");
      return NULL;
    }
  if (!tailor_vk_check (NULL, result, "listing Vulkan devices", error))
    return NULL;
  if (n == 0)
    {
      no_device_error (error, "the Vulkan loader lists no device");
      return NULL;
    }
  devices = g_new0 (VkPhysicalDevice, n);
  result = vkEnumeratePhysicalDevices (instance, &n, devices);
  if (result != VK_INCOMPLETE && !tailor_vk_check (NULL, result, "listing Vulkan devices", error))
    return NULL;

  infos = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_vk_device_info_free);
  for (guint32 i = 0; i < n; i++)
    g_ptr_array_add (infos, query_device (devices[i], i));
  if (physicals != NULL)
    *physicals = g_steal_pointer (&devices);
  return g_steal_pointer (&infos);
}

GPtrArray *
tailor_vk_enumerate_devices (GError **error)
{
  VkInstance instance = VK_NULL_HANDLE;
  GPtrArray *infos;

  if (!create_instance (NULL, &instance, error))
    return NULL;
  infos = enumerate (instance, NULL, error);
  vkDestroyInstance (instance, NULL);
  return infos;
}

static gboolean
is_index (const char *request)
{
  if (*request == '\0')
    return FALSE;
  for (const char *p = request; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

static char *
list_devices (GPtrArray *infos)
{
  g_autoptr (GString) list = g_string_new (NULL);

  for (guint i = 0; i < infos->len; i++)
    {
      const TailorVkDeviceInfo *info = g_ptr_array_index (infos, i);

      g_string_append_printf (list, "%s%u “%s”", i > 0 ? ", " : "", info->index, info->name);
    }
  return g_string_free (g_steal_pointer (&list), FALSE);
}

gint
tailor_vk_choose_device (GPtrArray *infos, const char *request, GError **error)
{
  gint best = -1;

  g_return_val_if_fail (infos != NULL, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if (request != NULL && *request != '\0')
    {
      g_autofree char *wanted = g_utf8_casefold (request, -1);
      g_autofree char *available = list_devices (infos);

      for (guint i = 0; i < infos->len; i++)
        {
          const TailorVkDeviceInfo *info = g_ptr_array_index (infos, i);
          g_autofree char *name = g_utf8_casefold (info->name, -1);
          gboolean match = is_index (request) ? g_ascii_strtoull (request, NULL, 10) == info->index
                                              : strstr (name, wanted) != NULL;

          if (!match)
            continue;
          if (!info->usable)
            {
              g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_UNSUPPORTED,
                           "TAILOR_VK_DEVICE=%s names “%s”, which Tailor cannot use: %s. Choose "
                           "another device (%s) or unset TAILOR_VK_DEVICE.",
                           request, info->name, info->unusable_reason, available);
              return -1;
            }
          return (gint) i;
        }
      g_set_error (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_NOT_FOUND,
                   "TAILOR_VK_DEVICE=%s matches no Vulkan device; give an index or part of a "
                   "name among: %s.",
                   request, available);
      return -1;
    }

  for (guint i = 0; i < infos->len; i++)
    {
      const TailorVkDeviceInfo *info = g_ptr_array_index (infos, i);

      if (!info->usable)
        continue;
      if (best < 0 || info->type < ((const TailorVkDeviceInfo *) infos->pdata[best])->type)
        best = (gint) i;
    }
  if (best < 0)
    {
      const TailorVkDeviceInfo *first = infos->len > 0 ? g_ptr_array_index (infos, 0) : NULL;
      g_autofree char *why = first != NULL ? g_strdup_printf ("“%s” is not usable: %s", first->name,
                                                              first->unusable_reason)
                                           : g_strdup ("the list of devices is empty");

      no_device_error (error, why);
    }
  return best;
}

static gboolean
create_device (TailorVkContext *self, GError **error)
{
  const TailorVkDeviceInfo *info = self->info;
  float priority = 1.0f;
  guint32 timestamp_bits = 0;
  VkDeviceQueueCreateInfo queue = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueCount = 1,
    .pQueuePriorities = &priority,
  };
  VkPhysicalDeviceVulkan12Features features12 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
    .shaderFloat16 = info->fp16_arithmetic,
    .shaderInt8 = info->int8_arithmetic,
    .storageBuffer8BitAccess = info->storage_8bit,
  };
  VkPhysicalDeviceVulkan11Features features11 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
    .pNext = &features12,
    .storageBuffer16BitAccess = info->storage_16bit,
  };
  VkPhysicalDeviceFeatures2 features = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &features11,
  };
  VkDeviceCreateInfo create = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .pNext = &features,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &queue,
  };
  g_autofree VkExtensionProperties *available = NULL;
  guint32 n_available = 0;
  const char *extensions[2];
  guint32 n_extensions = 0;

  queue.queueFamilyIndex = (guint32) find_compute_family (self->physical, &timestamp_bits);
  self->queue_family = queue.queueFamilyIndex;

  available = device_extensions (self->physical, &n_available);
  if (info->memory_budget)
    extensions[n_extensions++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;
  /* Portability implementations (MoltenVK) must have their subset enabled when they list it. */
  if (has_extension (available, n_available, "VK_KHR_portability_subset"))
    extensions[n_extensions++] = "VK_KHR_portability_subset";
  create.enabledExtensionCount = n_extensions;
  create.ppEnabledExtensionNames = extensions;

  if (!tailor_vk_check (self, vkCreateDevice (self->physical, &create, NULL, &self->device),
                        "opening the device", error))
    return FALSE;
  vkGetDeviceQueue (self->device, self->queue_family, 0, &self->queue);
  vkGetPhysicalDeviceMemoryProperties (self->physical, &self->memory_properties);
  return TRUE;
}

TailorVkContext *
tailor_vk_context_new_for_device (const char *request, GError **error)
{
  g_autoptr (TailorVkContext) self = g_new0 (TailorVkContext, 1);
  g_autofree VkPhysicalDevice *physicals = NULL;
  g_autoptr (GPtrArray) infos = NULL;
  gint chosen;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_mutex_init (&self->messages_lock);
  self->messages = g_ptr_array_new_with_free_func (g_free);
  self->validation = g_strcmp0 (g_getenv ("TAILOR_VK_VALIDATION"), "1") == 0;
  self->device_type = -1;
  self->staging_type = -1;
  self->blocks = g_ptr_array_new ();
  tailor_vk_pipelines_init (self);

  if (!create_instance (self, &self->instance, error))
    return NULL;
  infos = enumerate (self->instance, &physicals, error);
  if (infos == NULL)
    return NULL;
  chosen = tailor_vk_choose_device (infos, request, error);
  if (chosen < 0)
    return NULL;
  self->physical = physicals[chosen];
  self->info = g_ptr_array_steal_index (infos, (guint) chosen);

  if (!create_device (self, error) || !tailor_vk_memory_init (self, error) ||
      !tailor_vk_pipeline_cache_open (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

TailorVkContext *
tailor_vk_context_new (GError **error)
{
  return tailor_vk_context_new_for_device (g_getenv ("TAILOR_VK_DEVICE"), error);
}

void
tailor_vk_context_free (TailorVkContext *self)
{
  guint n_messages;

  if (self == NULL)
    return;
  n_messages = tailor_vk_context_get_n_messages (self);
  if (self->device != VK_NULL_HANDLE)
    {
      g_autoptr (GError) error = NULL;

      if (!self->lost)
        {
          vkDeviceWaitIdle (self->device);
          if (!tailor_vk_context_save_pipeline_cache (self, &error))
            g_message ("%s", error->message);
        }
    }
  tailor_vk_pipelines_shutdown (self);
  tailor_vk_memory_shutdown (self);
  if (self->device != VK_NULL_HANDLE)
    vkDestroyDevice (self->device, NULL);
  if (self->messenger != VK_NULL_HANDLE)
    {
      /* Objects still alive are reported when the device goes: a leak must not pass unseen. */
      guint n_closing = tailor_vk_context_get_n_messages (self) - n_messages;

      if (n_closing > 0)
        g_warning ("Vulkan validation reported %u problem(s) while closing “%s”; see above.",
                   n_closing, self->info != NULL ? self->info->name : "the device");
      self->destroy_messenger (self->instance, self->messenger, NULL);
    }
  if (self->instance != VK_NULL_HANDLE)
    vkDestroyInstance (self->instance, NULL);
  tailor_vk_device_info_free (self->info);
  g_ptr_array_unref (self->blocks);
  g_ptr_array_unref (self->messages);
  g_mutex_clear (&self->messages_lock);
  g_free (self);
}

const TailorVkDeviceInfo *
tailor_vk_context_get_info (TailorVkContext *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->info;
}

gboolean
tailor_vk_context_get_validation (TailorVkContext *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->validation;
}

GStrv
tailor_vk_context_get_messages (TailorVkContext *self)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  g_return_val_if_fail (self != NULL, NULL);

  g_mutex_lock (&self->messages_lock);
  for (guint i = 0; i < self->messages->len; i++)
    g_strv_builder_add (builder, g_ptr_array_index (self->messages, i));
  g_mutex_unlock (&self->messages_lock);
  return g_strv_builder_end (builder);
}

guint
tailor_vk_context_get_n_messages (TailorVkContext *self)
{
  guint n;

  g_return_val_if_fail (self != NULL, 0);

  g_mutex_lock (&self->messages_lock);
  n = self->messages->len;
  g_mutex_unlock (&self->messages_lock);
  return n;
}
