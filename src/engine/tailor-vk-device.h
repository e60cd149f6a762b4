/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Vulkan layer's entry: device enumeration, selection and the compute context. */
#pragma once

#include <gio/gio.h>
#include <vulkan/vulkan.h>

G_BEGIN_DECLS

#define TAILOR_VK_ERROR (tailor_vk_error_quark ())
GQuark tailor_vk_error_quark (void);

typedef enum
{
  TAILOR_VK_ERROR_NO_DEVICE,     /* no loader, no driver or no device: use the CPU */
  TAILOR_VK_ERROR_NOT_FOUND,     /* TAILOR_VK_DEVICE names no device */
  TAILOR_VK_ERROR_UNSUPPORTED,   /* the device lacks something Tailor needs */
  TAILOR_VK_ERROR_OUT_OF_MEMORY, /* device or host memory exhausted; the message gives advice */
  TAILOR_VK_ERROR_DEVICE_LOST,   /* the driver reset or lost the device; the context is unusable */
  TAILOR_VK_ERROR_TIMEOUT,       /* submitted work did not finish in time */
  TAILOR_VK_ERROR_INVALID,       /* a call broke a documented precondition (shape, alignment) */
  TAILOR_VK_ERROR_FAILED,        /* any other Vulkan failure */
} TailorVkError;

/* Selection order: discrete > integrated > virtual > CPU > other. */
typedef enum
{
  TAILOR_VK_DEVICE_DISCRETE,
  TAILOR_VK_DEVICE_INTEGRATED,
  TAILOR_VK_DEVICE_VIRTUAL,
  TAILOR_VK_DEVICE_CPU,
  TAILOR_VK_DEVICE_OTHER,
} TailorVkDeviceType;

typedef struct
{
  guint64 size;
  guint64 budget; /* VK_EXT_memory_budget's heapBudget, else the heap size */
  guint64 usage;  /* VK_EXT_memory_budget's heapUsage, else 0 */
  gboolean device_local;
} TailorVkHeap;

/* What `tailor-cli devices` reports, and what kernels choose their variants from. */
typedef struct
{
  guint index; /* in the loader's enumeration order; TAILOR_VK_DEVICE=<index> names it */
  char *name;
  TailorVkDeviceType type;
  char *driver_name;
  char *driver_info;
  guint32 api_version;
  guint32 driver_version;
  guint32 vendor_id;
  guint32 device_id;
  guint8 device_uuid[VK_UUID_SIZE];
  guint8 pipeline_cache_uuid[VK_UUID_SIZE];

  guint n_heaps;
  TailorVkHeap heaps[VK_MAX_MEMORY_HEAPS];
  gboolean memory_budget; /* VK_EXT_memory_budget is present */

  guint32 subgroup_size;
  VkShaderStageFlags subgroup_stages;
  VkSubgroupFeatureFlags subgroup_ops;

  guint32 max_workgroup_size[3];
  guint32 max_workgroup_count[3];
  guint32 max_workgroup_invocations;
  guint32 max_shared_memory;
  guint32 max_push_constants;
  guint32 max_storage_buffer_range;
  guint64 max_buffer_size;
  guint64 max_allocation_size;
  guint32 max_texel_buffer_elements;
  guint64 texel_buffer_alignment;   /* minTexelBufferOffsetAlignment */
  guint64 storage_buffer_alignment; /* minStorageBufferOffsetAlignment */
  guint64 non_coherent_atom_size;
  float timestamp_period;       /* nanoseconds per tick */
  guint32 timestamp_valid_bits; /* of the compute queue; 0: no timestamps */

  gboolean fp16_arithmetic;
  gboolean int8_arithmetic;
  gboolean storage_16bit;
  gboolean storage_8bit;

  gboolean usable;       /* Vulkan ≥ 1.2 with a compute queue and subgroup arithmetic */
  char *unusable_reason; /* why not, else NULL */
} TailorVkDeviceInfo;

void tailor_vk_device_info_free (TailorVkDeviceInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorVkDeviceInfo, tailor_vk_device_info_free)

const char *tailor_vk_device_type_to_string (TailorVkDeviceType type);
/* "basic", "vote", "arithmetic", … for the subgroup operations a device supports. */
GStrv tailor_vk_subgroup_ops_to_strv (VkSubgroupFeatureFlags ops);
/* "1.3.230" */
char *tailor_vk_version_to_string (guint32 api_version);

/* The devices the Vulkan loader sees (TailorVkDeviceInfo, enumeration order). No loader, no
 * driver or no device is TAILOR_VK_ERROR_NO_DEVICE. */
GPtrArray *tailor_vk_enumerate_devices (GError **error);

/* Picks a usable device: the one request names (an index, or a case-insensitive substring of the
 * name) when request is non-NULL and non-empty, else the best by type (discrete > integrated >
 * virtual > CPU), the first listed among equals. Returns its position in infos, or -1 with
 * TAILOR_VK_ERROR_NOT_FOUND / TAILOR_VK_ERROR_NO_DEVICE. */
gint tailor_vk_choose_device (GPtrArray *infos, const char *request, GError **error);

typedef struct _TailorVkContext TailorVkContext;

/* Opens the device TAILOR_VK_DEVICE names (or the best one) with one compute queue. With
 * TAILOR_VK_VALIDATION=1 the Khronos validation layer (with synchronization validation) runs,
 * and every warning or error it reports is recorded (tailor_vk_context_get_messages). */
TailorVkContext *tailor_vk_context_new (GError **error);
/* The same for an explicit request (NULL: the best device); TAILOR_VK_DEVICE is not read. */
TailorVkContext *tailor_vk_context_new_for_device (const char *request, GError **error);
/* Waits for the device, saves the pipeline cache when it grew, and frees everything. Buffers,
 * recorders made from the context must be freed first. */
void tailor_vk_context_free (TailorVkContext *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorVkContext, tailor_vk_context_free)

const TailorVkDeviceInfo *tailor_vk_context_get_info (TailorVkContext *self);
gboolean tailor_vk_context_get_validation (TailorVkContext *self);
/* The validation warnings and errors recorded so far (a new NULL-terminated copy). */
GStrv tailor_vk_context_get_messages (TailorVkContext *self);
guint tailor_vk_context_get_n_messages (TailorVkContext *self);

G_END_DECLS
