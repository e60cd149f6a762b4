/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The devices a run can train on, as `tailor-cli devices --json` lists them, in words for the
 * Train page's device choice. No GTK: the supervisor's test links it as source. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char *id;       /* run.json's "device": "auto", "vulkan:N" or "cpu" */
  char *title;    /* "Automatic", the Vulkan device's name, "Processor (CPU)" */
  char *subtitle; /* what kind of device it is, in words */
} TailorDeviceChoice;

void tailor_device_choice_free (TailorDeviceChoice *choice);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorDeviceChoice, tailor_device_choice_free)

/* Automatic and the CPU backend: what every machine can run on, shown until the list is read. */
GPtrArray *tailor_device_choices_new_default (void);

/* Automatic, each usable Vulkan device by name and kind, then the CPU backend, from the JSON
 * array `tailor-cli devices --json` prints. */
GPtrArray *tailor_device_choices_parse (const char *json, gssize length, GError **error);

/* Runs `CLI devices --json` (cli NULL: tailor_run_supervisor_find_cli ()) and parses it. */
void tailor_device_choices_list_async (const char *cli,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
GPtrArray *tailor_device_choices_list_finish (GAsyncResult *result, GError **error);

/* The choice with this id, or NULL. */
const TailorDeviceChoice *tailor_device_choices_find (GPtrArray *choices, const char *id);

G_END_DECLS
