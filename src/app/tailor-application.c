/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorApplication: opens the catalogue at startup, owns the app actions and accelerators. */
#include "config.h"

#include <glib/gi18n.h>

#include "tailor-application.h"
#include "tailor-window.h"

struct _TailorApplication
{
  AdwApplication parent_instance;

  TailorCatalogue *catalogue;
  GError *catalogue_error;
};

G_DEFINE_FINAL_TYPE (TailorApplication, tailor_application, ADW_TYPE_APPLICATION)

static void
quit_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  GApplication *app = user_data;
  GList *windows = gtk_application_get_windows (GTK_APPLICATION (app));

  /* Closing (not just quitting) lets each window save its size and finish pending deletes. */
  while (windows != NULL)
    {
      gtk_window_destroy (windows->data);
      windows = gtk_application_get_windows (GTK_APPLICATION (app));
    }
  g_application_quit (app);
}

static void
help_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (user_data));
  const char *page = "index";
  g_autofree char *uri = NULL;

  /* Open the page of the step the user is on, when it has one. */
  if (TAILOR_IS_WINDOW (window) && tailor_window_get_project_id (TAILOR_WINDOW (window)) != 0)
    {
      const char *step = tailor_wizard_get_step_id (tailor_window_get_wizard (TAILOR_WINDOW (window)));

      /* The steps that have a help page of their own (help/C/<step>.page). */
      if (g_strv_contains ((const char *const[]) { "goal", "model", "documents", "train", NULL },
                           step != NULL ? step : ""))
        page = step;
    }
  uri = g_strdup_printf ("help:io.github.tailorapp.Tailor/%s", page);
  gtk_show_uri (window, uri, GDK_CURRENT_TIME);
}

static void
about_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (user_data));
  const char *developers[] = { "The Tailor contributors", NULL };

  adw_show_about_window (window, "application-name", _("Tailor"), "application-icon",
                         "io.github.tailorapp.Tailor", "version", PACKAGE_VERSION,
                         "developer-name", "The Tailor contributors", "developers", developers,
                         "license-type", GTK_LICENSE_GPL_3_0, "website",
                         "https://github.com/tailorapp/tailor", "translator-credits",
                         _("translator-credits"), NULL);
}

static const GActionEntry app_entries[] = {
  { "quit", quit_activated, NULL, NULL, NULL },
  { "help", help_activated, NULL, NULL, NULL },
  { "about", about_activated, NULL, NULL, NULL },
};

static void
tailor_application_startup (GApplication *application)
{
  TailorApplication *self = TAILOR_APPLICATION (application);
  static const struct
  {
    const char *action;
    const char *accels[3];
  } accels[] = {
    { "app.quit", { "<Control>q", NULL } },
    { "app.help", { "F1", NULL } },
    { "win.new-project", { "<Control>n", NULL } },
    { "win.rename-project", { "F2", NULL } },
    { "win.delete-project", { "<Control>Delete", NULL } },
    { "win.show-projects", { "<Alt>Home", NULL } },
    { "wizard.back", { "<Alt>Left", NULL } },
    { "wizard.next", { "<Alt>Right", NULL } },
    { "model.choose-file", { "<Control>o", NULL } },
    { "model.refresh", { "F5", NULL } },
    { "window.close", { "<Control>w", NULL } },
  };

  G_APPLICATION_CLASS (tailor_application_parent_class)->startup (application);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_entries, G_N_ELEMENTS (app_entries),
                                   self);
  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (self), accels[i].action,
                                           accels[i].accels);

  self->catalogue = tailor_catalogue_open (NULL, TAILOR_CATALOGUE_OPEN_SET_ASIDE_DAMAGED,
                                           &self->catalogue_error);
}

static void
tailor_application_activate (GApplication *application)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (application));

  if (window == NULL)
    window = GTK_WINDOW (tailor_window_new (TAILOR_APPLICATION (application)));
  gtk_window_present (window);
}

static void
tailor_application_shutdown (GApplication *application)
{
  TailorApplication *self = TAILOR_APPLICATION (application);

  G_APPLICATION_CLASS (tailor_application_parent_class)->shutdown (application);
  g_clear_object (&self->catalogue);
}

static void
tailor_application_finalize (GObject *object)
{
  TailorApplication *self = TAILOR_APPLICATION (object);

  g_clear_object (&self->catalogue);
  g_clear_error (&self->catalogue_error);

  G_OBJECT_CLASS (tailor_application_parent_class)->finalize (object);
}

static void
tailor_application_class_init (TailorApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = tailor_application_finalize;
  app_class->startup = tailor_application_startup;
  app_class->activate = tailor_application_activate;
  app_class->shutdown = tailor_application_shutdown;
}

static void
tailor_application_init (TailorApplication *self)
{
}

TailorApplication *
tailor_application_new (void)
{
  return g_object_new (TAILOR_TYPE_APPLICATION, "application-id", APPLICATION_ID, "flags",
                       G_APPLICATION_DEFAULT_FLAGS, "resource-base-path",
                       "/io/github/tailorapp/Tailor", NULL);
}

TailorCatalogue *
tailor_application_get_catalogue (TailorApplication *self)
{
  g_return_val_if_fail (TAILOR_IS_APPLICATION (self), NULL);
  return self->catalogue;
}

GError *
tailor_application_get_catalogue_error (TailorApplication *self)
{
  g_return_val_if_fail (TAILOR_IS_APPLICATION (self), NULL);
  return self->catalogue_error;
}
