/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The device choice of the Train page: `tailor-cli devices --json` read in words. The list comes
 * from the CLI, not from the engine in-process, so that the window never loads a Vulkan driver
 * and sees the devices exactly as the trainer it launches will. */
#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "tailor-devices.h"
#include "tailor-run-supervisor.h"

void
tailor_device_choice_free (TailorDeviceChoice *choice)
{
  if (choice == NULL)
    return;
  g_free (choice->id);
  g_free (choice->title);
  g_free (choice->subtitle);
  g_free (choice);
}

static void
add_choice (GPtrArray *choices, const char *id, const char *title, const char *subtitle)
{
  TailorDeviceChoice *choice = g_new0 (TailorDeviceChoice, 1);

  choice->id = g_strdup (id);
  choice->title = g_strdup (title);
  choice->subtitle = g_strdup (subtitle);
  g_ptr_array_add (choices, choice);
}

static GPtrArray *
choices_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_device_choice_free);
}

GPtrArray *
tailor_device_choices_new_default (void)
{
  GPtrArray *choices = choices_new ();

  add_choice (choices, "auto", _("Automatic"),
              _("A graphics card when there is one, else the processor."));
  add_choice (choices, "cpu", _("Processor (CPU)"), _("Trains on the processor’s cores."));
  return choices;
}

static const char *
string_member (JsonObject *o, const char *key)
{
  JsonNode *node = json_object_get_member (o, key);

  return node != NULL && json_node_get_value_type (node) == G_TYPE_STRING
           ? json_node_get_string (node)
           : NULL;
}

static const char *
kind_in_words (const char *type)
{
  if (g_strcmp0 (type, "discrete") == 0)
    return _("Graphics card (Vulkan)");
  if (g_strcmp0 (type, "integrated") == 0)
    return _("Integrated graphics (Vulkan)");
  if (g_strcmp0 (type, "virtual") == 0)
    return _("Virtual graphics card (Vulkan)");
  if (g_strcmp0 (type, "cpu") == 0)
    return _("Vulkan in software on the processor: slow, for trying things out");
  return _("Vulkan device");
}

/* The device-local memory a model has to fit in, when the device says. */
static guint64
device_memory (JsonObject *device)
{
  JsonArray *heaps = json_object_has_member (device, "heaps")
                       ? json_object_get_array_member (device, "heaps")
                       : NULL;
  guint64 largest = 0;

  for (guint i = 0; heaps != NULL && i < json_array_get_length (heaps); i++)
    {
      JsonObject *heap = json_array_get_object_element (heaps, i);

      if (heap != NULL &&
          json_object_get_boolean_member_with_default (heap, "device_local", FALSE))
        largest = MAX (largest,
                       (guint64) json_object_get_int_member_with_default (heap, "size", 0));
    }
  return largest;
}

GPtrArray *
tailor_device_choices_parse (const char *json, gssize length, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GPtrArray) choices = choices_new ();
  g_autoptr (GPtrArray) vulkan = choices_new ();
  g_autofree char *cpu_subtitle = NULL;
  g_autofree char *auto_subtitle = NULL;
  const char *auto_name = NULL;
  JsonNode *root;
  JsonArray *devices;

  g_return_val_if_fail (json != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!json_parser_load_from_data (parser, json, length, error))
    {
      g_prefix_error (error, _("The device list of tailor-cli devices --json is not JSON: "));
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("tailor-cli devices --json printed no list of devices; reinstall Tailor so "
                     "that the app and tailor-cli match"));
      return NULL;
    }
  devices = json_node_get_array (root);
  for (guint i = 0; i < json_array_get_length (devices); i++)
    {
      JsonObject *device = json_array_get_object_element (devices, i);
      const char *backend = device != NULL ? string_member (device, "backend") : NULL;
      const char *name = device != NULL ? string_member (device, "name") : NULL;

      if (backend == NULL || name == NULL)
        continue;
      if (g_str_equal (backend, "vulkan"))
        {
          g_autofree char *id = NULL;
          g_autofree char *subtitle = NULL;
          guint64 memory = device_memory (device);

          /* A device the engine cannot use would only fail the run. */
          if (!json_object_get_boolean_member_with_default (device, "usable", FALSE) ||
              !json_object_has_member (device, "index"))
            continue;
          id = g_strdup_printf ("vulkan:%" G_GINT64_FORMAT,
                                json_object_get_int_member (device, "index"));
          if (memory > 0)
            {
              g_autofree char *size = g_format_size (memory);

              /* Translators: a kind of device and its memory, e.g. "Graphics card (Vulkan),
               * 8.6 GB" */
              subtitle = g_strdup_printf (_("%s, %s"), kind_in_words (string_member (device,
                                                                                     "type")),
                                          size);
            }
          else
            subtitle = g_strdup (kind_in_words (string_member (device, "type")));
          add_choice (vulkan, id, name, subtitle);
          if (json_object_get_boolean_member_with_default (device, "selected", FALSE) &&
              auto_name == NULL)
            auto_name = name;
        }
      else if (g_str_equal (backend, "cpu"))
        {
          gint64 cores = json_object_get_int_member_with_default (device, "cores", 0);

          if (cores > 0)
            /* Translators: the processor's name and its number of cores */
            cpu_subtitle = g_strdup_printf (ngettext ("%s, %u core", "%s, %u cores",
                                                      (gulong) cores),
                                            name, (guint) cores);
          else
            cpu_subtitle = g_strdup (name);
          if (json_object_get_boolean_member_with_default (device, "auto", FALSE))
            auto_name = _("Processor (CPU)");
        }
    }

  if (auto_name != NULL)
    /* Translators: what Automatic chooses on this computer, e.g. "Now: Processor (CPU)" */
    auto_subtitle = g_strdup_printf (_("A graphics card when there is one, else the processor. "
                                       "Now: %s"),
                                     auto_name);
  else
    auto_subtitle = g_strdup (_("A graphics card when there is one, else the processor."));
  add_choice (choices, "auto", _("Automatic"), auto_subtitle);
  g_ptr_array_extend_and_steal (choices, g_steal_pointer (&vulkan));
  add_choice (choices, "cpu", _("Processor (CPU)"),
              cpu_subtitle != NULL ? cpu_subtitle : _("Trains on the processor’s cores."));
  return g_steal_pointer (&choices);
}

const TailorDeviceChoice *
tailor_device_choices_find (GPtrArray *choices, const char *id)
{
  g_return_val_if_fail (choices != NULL, NULL);

  for (guint i = 0; id != NULL && i < choices->len; i++)
    {
      const TailorDeviceChoice *choice = g_ptr_array_index (choices, i);

      if (g_str_equal (choice->id, id))
        return choice;
    }
  return NULL;
}

static void
communicate_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GSubprocess *process = G_SUBPROCESS (object);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  GPtrArray *choices;

  if (!g_subprocess_communicate_utf8_finish (process, result, &out, NULL, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (!g_subprocess_get_successful (process))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                               _("tailor-cli devices failed (%s); run it in a terminal to see "
                                 "why"),
                               (const char *) g_task_get_task_data (task));
      return;
    }
  choices = tailor_device_choices_parse (out != NULL ? out : "", -1, &error);
  if (choices == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, choices, (GDestroyNotify) g_ptr_array_unref);
}

void
tailor_device_choices_list_async (const char *cli,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autofree char *path = cli != NULL ? g_strdup (cli) : tailor_run_supervisor_find_cli ();
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;

  g_task_set_source_tag (task, tailor_device_choices_list_async);
  if (path == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                               _("Cannot find tailor-cli beside Tailor or on the PATH; reinstall "
                                 "Tailor or set TAILOR_CLI to its path"));
      return;
    }
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                              &error, path, "devices", "--json", NULL);
  if (process == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_set_task_data (task, g_steal_pointer (&path), g_free);
  g_subprocess_communicate_utf8_async (process, NULL, cancellable, communicate_cb,
                                       g_steal_pointer (&task));
}

GPtrArray *
tailor_device_choices_list_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
