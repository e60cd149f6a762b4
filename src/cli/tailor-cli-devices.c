/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tailor-cli devices: the Vulkan devices and the CPU backend Tailor can compute on, and
 * which one it would pick. */
#include "config.h"

#include <stdio.h>

#include "tailor-backend.h"
#include "tailor-cli-private.h"
#include "tailor-vk-device.h"

static GStrv
stages_to_strv (VkShaderStageFlags stages)
{
  static const struct
  {
    VkShaderStageFlagBits bit;
    const char *name;
  } names[] = {
    { VK_SHADER_STAGE_COMPUTE_BIT, "compute" },
    { VK_SHADER_STAGE_VERTEX_BIT, "vertex" },
    { VK_SHADER_STAGE_FRAGMENT_BIT, "fragment" },
    { VK_SHADER_STAGE_GEOMETRY_BIT, "geometry" },
    { VK_SHADER_STAGE_TESSELLATION_CONTROL_BIT, "tessellation-control" },
    { VK_SHADER_STAGE_TESSELLATION_EVALUATION_BIT, "tessellation-evaluation" },
  };
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (stages & names[i].bit)
      g_strv_builder_add (builder, names[i].name);
  return g_strv_builder_end (builder);
}

static char *
uuid_to_string (const guint8 *uuid)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < VK_UUID_SIZE; i++)
    g_string_append_printf (text, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "",
                            uuid[i]);
  return g_string_free (text, FALSE);
}

static void
add_strv (JsonBuilder *builder, const char *member, GStrv values)
{
  json_builder_set_member_name (builder, member);
  json_builder_begin_array (builder);
  for (guint i = 0; values[i] != NULL; i++)
    json_builder_add_string_value (builder, values[i]);
  json_builder_end_array (builder);
}

static void
add_triple (JsonBuilder *builder, const char *member, const guint32 *values)
{
  json_builder_set_member_name (builder, member);
  json_builder_begin_array (builder);
  for (guint i = 0; i < 3; i++)
    json_builder_add_int_value (builder, values[i]);
  json_builder_end_array (builder);
}

static void
add_int (JsonBuilder *builder, const char *member, gint64 value)
{
  json_builder_set_member_name (builder, member);
  json_builder_add_int_value (builder, value);
}

static void
add_bool (JsonBuilder *builder, const char *member, gboolean value)
{
  json_builder_set_member_name (builder, member);
  json_builder_add_boolean_value (builder, value);
}

static void
add_string (JsonBuilder *builder, const char *member, const char *value)
{
  json_builder_set_member_name (builder, member);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

static void
device_to_json (JsonBuilder *builder, const TailorVkDeviceInfo *info, gboolean selected)
{
  g_autofree char *api = tailor_vk_version_to_string (info->api_version);
  g_autofree char *uuid = uuid_to_string (info->device_uuid);
  g_auto (GStrv) ops = tailor_vk_subgroup_ops_to_strv (info->subgroup_ops);
  g_auto (GStrv) stages = stages_to_strv (info->subgroup_stages);

  json_builder_begin_object (builder);
  add_string (builder, "backend", "vulkan");
  add_int (builder, "index", info->index);
  add_string (builder, "name", info->name);
  add_string (builder, "type", tailor_vk_device_type_to_string (info->type));
  add_bool (builder, "selected", selected);
  add_bool (builder, "usable", info->usable);
  add_string (builder, "unusable_reason", info->unusable_reason);
  add_string (builder, "driver_name", info->driver_name);
  add_string (builder, "driver_info", info->driver_info);
  add_string (builder, "api_version", api);
  add_int (builder, "driver_version", info->driver_version);
  add_int (builder, "vendor_id", info->vendor_id);
  add_int (builder, "device_id", info->device_id);
  add_string (builder, "device_uuid", uuid);

  json_builder_set_member_name (builder, "heaps");
  json_builder_begin_array (builder);
  for (guint i = 0; i < info->n_heaps; i++)
    {
      json_builder_begin_object (builder);
      add_int (builder, "size", (gint64) info->heaps[i].size);
      add_bool (builder, "device_local", info->heaps[i].device_local);
      add_int (builder, "budget", (gint64) info->heaps[i].budget);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  add_bool (builder, "memory_budget", info->memory_budget);

  add_int (builder, "subgroup_size", info->subgroup_size);
  add_strv (builder, "subgroup_stages", stages);
  add_strv (builder, "subgroup_ops", ops);
  add_triple (builder, "max_workgroup_size", info->max_workgroup_size);
  add_triple (builder, "max_workgroup_count", info->max_workgroup_count);
  add_int (builder, "max_workgroup_invocations", info->max_workgroup_invocations);
  add_int (builder, "max_shared_memory", info->max_shared_memory);
  add_int (builder, "max_push_constants", info->max_push_constants);
  add_int (builder, "max_storage_buffer_range", info->max_storage_buffer_range);
  add_int (builder, "max_buffer_size", (gint64) MIN (info->max_buffer_size, G_MAXINT64));
  add_int (builder, "max_allocation_size", (gint64) MIN (info->max_allocation_size, G_MAXINT64));
  add_int (builder, "max_texel_buffer_elements", info->max_texel_buffer_elements);
  add_int (builder, "texel_buffer_alignment", (gint64) info->texel_buffer_alignment);
  add_bool (builder, "timestamps", info->timestamp_valid_bits > 0);
  json_builder_set_member_name (builder, "timestamp_period_ns");
  tailor_cli_json_add_float (builder, info->timestamp_period);
  add_bool (builder, "fp16_arithmetic", info->fp16_arithmetic);
  add_bool (builder, "int8_arithmetic", info->int8_arithmetic);
  add_bool (builder, "storage_16bit", info->storage_16bit);
  add_bool (builder, "storage_8bit", info->storage_8bit);
  json_builder_end_object (builder);
}

static const char *
yes_no (gboolean value)
{
  return value ? "yes" : "no";
}

static void
print_device (const TailorVkDeviceInfo *info, gboolean selected)
{
  g_autofree char *api = tailor_vk_version_to_string (info->api_version);
  g_autofree char *shared = g_format_size_full (info->max_shared_memory, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *range =
    g_format_size_full (info->max_storage_buffer_range, G_FORMAT_SIZE_IEC_UNITS);
  g_auto (GStrv) ops = tailor_vk_subgroup_ops_to_strv (info->subgroup_ops);
  g_auto (GStrv) stages = stages_to_strv (info->subgroup_stages);
  g_autofree char *ops_text = g_strjoinv (", ", ops);
  g_autofree char *stages_text = g_strjoinv (", ", stages);

  printf ("%u  %s%s\n", info->index, info->name, selected ? "  (selected)" : "");
  printf ("   type:        %s; driver %s (%s); Vulkan %s\n",
          tailor_vk_device_type_to_string (info->type), info->driver_name, info->driver_info, api);
  if (!info->usable)
    printf ("   not usable:  %s\n", info->unusable_reason);
  for (guint i = 0; i < info->n_heaps; i++)
    {
      g_autofree char *size = g_format_size_full (info->heaps[i].size, G_FORMAT_SIZE_IEC_UNITS);
      g_autofree char *budget = g_format_size_full (info->heaps[i].budget, G_FORMAT_SIZE_IEC_UNITS);

      printf ("   heap %u:      %s%s, budget %s\n", i, size,
              info->heaps[i].device_local ? " device-local" : "", budget);
    }
  printf ("   memory budget extension: %s\n", yes_no (info->memory_budget));
  printf ("   subgroups:   %u lanes; %s; in %s\n", info->subgroup_size, ops_text, stages_text);
  printf ("   workgroups:  size ≤ %u × %u × %u, %u invocations, count ≤ %u × %u × %u, "
          "%s shared memory\n",
          info->max_workgroup_size[0], info->max_workgroup_size[1], info->max_workgroup_size[2],
          info->max_workgroup_invocations, info->max_workgroup_count[0],
          info->max_workgroup_count[1], info->max_workgroup_count[2], shared);
  printf ("   buffers:     storage range %s, %u texels per texel buffer\n", range,
          info->max_texel_buffer_elements);
  printf ("   arithmetic:  fp16 %s, int8 %s; storage 16-bit %s, 8-bit %s\n",
          yes_no (info->fp16_arithmetic), yes_no (info->int8_arithmetic),
          yes_no (info->storage_16bit), yes_no (info->storage_8bit));
  if (info->timestamp_valid_bits > 0)
    printf ("   timestamps:  %g ns per tick\n", info->timestamp_period);
  else
    printf ("   timestamps:  none (no --profile)\n");
}

/* Whether `--device auto` computes on the CPU: no usable discrete, integrated or virtual
 * GPU (a CPU implementation of Vulkan is slower than the CPU backend). */
static gboolean
auto_picks_cpu (GPtrArray *infos)
{
  for (guint i = 0; i < infos->len; i++)
    {
      const TailorVkDeviceInfo *info = g_ptr_array_index (infos, i);

      if (info->usable && (info->type == TAILOR_VK_DEVICE_DISCRETE ||
                           info->type == TAILOR_VK_DEVICE_INTEGRATED ||
                           info->type == TAILOR_VK_DEVICE_VIRTUAL))
        return FALSE;
    }
  return TRUE;
}

/* The CPU backend's entry: tailor_backend_cpu_describe's object plus "auto". */
static JsonNode *
cpu_node (gboolean chosen_by_auto)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  JsonNode *node;

  tailor_backend_cpu_describe (builder);
  node = json_builder_get_root (builder);
  json_object_set_boolean_member (json_node_get_object (node), "auto", chosen_by_auto);
  return node;
}

static void
print_cpu (JsonObject *cpu)
{
  printf ("cpu  %s%s\n", json_object_get_string_member (cpu, "name"),
          json_object_get_boolean_member (cpu, "auto") ? "  (chosen by --device auto)" : "");
  printf ("   cores:       %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT " threads (TAILOR_THREADS)\n",
          json_object_get_int_member (cpu, "cores"), json_object_get_int_member (cpu, "threads"));
  printf ("   SIMD:        %s; Tailor's loops run the %s variant\n",
          json_object_get_string_member (cpu, "simd"),
          json_object_get_string_member (cpu, "vector_loops"));
  printf ("   BLAS:        %s; %s kernels\n", json_object_get_string_member (cpu, "blas"),
          json_object_get_string_member (cpu, "blas_kernels"));
}

int
tailor_cli_devices (int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON array of devices", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = tailor_cli_context_new ("devices", entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) choose_error = NULL;
  g_autoptr (GPtrArray) infos = NULL;
  g_autoptr (JsonBuilder) builder = NULL;
  g_autoptr (JsonNode) cpu = NULL;
  gint selected;

  g_option_context_set_description (context,
                                    "TAILOR_VK_DEVICE=<index or part of a name> chooses the "
                                    "Vulkan device; otherwise a discrete GPU is preferred,\n"
                                    "then an integrated, a virtual and a CPU implementation. "
                                    "--device auto computes on\nthe CPU backend when there is "
                                    "no real GPU.");
  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc > 1)
    return tailor_cli_usage_error (context, "devices takes no arguments");

  infos = tailor_vk_enumerate_devices (&error);
  if (infos == NULL)
    {
      if (!g_error_matches (error, TAILOR_VK_ERROR, TAILOR_VK_ERROR_NO_DEVICE))
        return tailor_cli_fail (error);
      /* No device is an answer, not a failure: the CPU reference runs instead. */
      g_printerr ("%s\n", error->message);
      infos = g_ptr_array_new ();
    }

  selected = infos->len > 0
               ? tailor_vk_choose_device (infos, g_getenv ("TAILOR_VK_DEVICE"), &choose_error)
               : -1;
  if (choose_error != NULL)
    g_printerr ("%s\n", choose_error->message);

  cpu = cpu_node (auto_picks_cpu (infos));
  if (json)
    {
      builder = json_builder_new ();
      json_builder_begin_array (builder);
      for (guint i = 0; i < infos->len; i++)
        device_to_json (builder, g_ptr_array_index (infos, i), (gint) i == selected);
      json_builder_add_value (builder, g_steal_pointer (&cpu));
      json_builder_end_array (builder);
      return tailor_cli_print_json (builder, TRUE) ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
    }
  for (guint i = 0; i < infos->len; i++)
    {
      print_device (g_ptr_array_index (infos, i), (gint) i == selected);
      printf ("\n");
    }
  print_cpu (json_node_get_object (cpu));
  return fflush (stdout) == 0 ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
}
