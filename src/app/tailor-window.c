/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorWindow: the project sidebar (create, rename, delete with undo), the wizard, and the
 * window's size kept in GSettings. */
#include "config.h"

#include <glib/gi18n.h>

#include "tailor-window.h"

#define SETTINGS_SCHEMA "io.github.tailorapp.Tailor"

struct _TailorWindow
{
  AdwApplicationWindow parent_instance;

  /* Template widgets */
  AdwToastOverlay *toast_overlay;
  AdwLeaflet *leaflet;
  GtkWidget *sidebar;
  GtkStack *sidebar_stack;
  GtkListBox *project_list;
  GtkStack *content_stack;
  AdwStatusPage *welcome_page;
  TailorWizard *wizard;

  /* Borrowed */
  TailorCatalogue *catalogue; /* the application's; NULL when it could not be opened */

  /* Owned */
  GSettings *settings;
  /* Projects deleted from the list but not yet from the catalogue: their toast may undo it.
   * gint64 id → AdwToast*. */
  GHashTable *pending_deletes;
  gboolean refreshing;
};

G_DEFINE_FINAL_TYPE (TailorWindow, tailor_window, ADW_TYPE_APPLICATION_WINDOW)

static void
show_error (TailorWindow *self, const char *message)
{
  AdwToast *toast = adw_toast_new (message);

  adw_toast_set_timeout (toast, 0);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static gint64
row_project_id (GtkListBoxRow *row)
{
  gint64 *id = row != NULL ? g_object_get_data (G_OBJECT (row), "tailor-project-id") : NULL;

  return id != NULL ? *id : 0;
}

static GtkWidget *
project_row_new (const TailorProject *project)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *label = gtk_label_new (project->name);
  gint64 *id = g_new (gint64, 1);

  *id = project->id;
  gtk_label_set_xalign (GTK_LABEL (label), 0.0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), label);
  gtk_widget_set_tooltip_text (row, project->name);
  gtk_accessible_update_property (GTK_ACCESSIBLE (row), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  project->name, -1);
  g_object_set_data_full (G_OBJECT (row), "tailor-project-id", id, g_free);
  return row;
}

static void
update_project_actions (TailorWindow *self)
{
  gboolean has_project = tailor_window_get_project_id (self) != 0;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.new-project", self->catalogue != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.rename-project", has_project);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.delete-project", has_project);
}

static void
show_project (TailorWindow *self, gint64 project_id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) project = NULL;

  if (project_id != 0)
    project = tailor_catalogue_get_project (self->catalogue, project_id, &error);
  if (error != NULL)
    show_error (self, error->message);
  if (project == NULL)
    gtk_stack_set_visible_child_name (self->content_stack, "welcome");
  else
    {
      tailor_wizard_set_project (self->wizard, self->catalogue, project);
      gtk_stack_set_visible_child_name (self->content_stack, "wizard");
    }
  update_project_actions (self);
}

static void
on_row_selected (TailorWindow *self, GtkListBoxRow *row, GtkListBox *list)
{
  if (self->refreshing)
    return;
  show_project (self, row_project_id (row));
}

static void
on_row_activated (TailorWindow *self, GtkListBoxRow *row, GtkListBox *list)
{
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
}

/* Rebuilds the sidebar from the catalogue and selects select_id, or the project shown before,
 * or the first one. */
static void
refresh_projects (TailorWindow *self, gint64 select_id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) projects = NULL;
  GtkWidget *child;
  GtkListBoxRow *selected = NULL;
  gint64 shown = tailor_window_get_project_id (self);

  if (self->catalogue == NULL)
    return;
  projects = tailor_catalogue_list_projects (self->catalogue, &error);
  if (projects == NULL)
    {
      show_error (self, error->message);
      return;
    }
  if (select_id == 0)
    select_id = shown;

  self->refreshing = TRUE;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->project_list))) != NULL)
    gtk_list_box_remove (self->project_list, child);
  for (guint i = 0; i < projects->len; i++)
    {
      TailorProject *project = projects->pdata[i];
      GtkWidget *row;

      if (g_hash_table_contains (self->pending_deletes, &project->id))
        continue;
      row = project_row_new (project);
      gtk_list_box_append (self->project_list, row);
      if (project->id == select_id || selected == NULL)
        selected = GTK_LIST_BOX_ROW (row);
    }
  gtk_list_box_select_row (self->project_list, selected);
  self->refreshing = FALSE;

  gtk_stack_set_visible_child_name (self->sidebar_stack, selected != NULL ? "list" : "empty");
  if (row_project_id (selected) != shown || row_project_id (selected) == 0)
    show_project (self, row_project_id (selected));
  else
    update_project_actions (self);
}

/* A dialog asking for a project name; response "ok" is enabled only for a new, non-empty name
 * (current is the name being renamed, which may stay as it is). */
typedef struct
{
  TailorWindow *self;
  GtkEntry *entry;
  gint64 project_id; /* 0: create */
} NameDialog;

static gboolean
name_is_free (TailorWindow *self, const char *name, gint64 project_id)
{
  g_autoptr (TailorProject) existing = tailor_catalogue_find_project (self->catalogue, name, NULL);

  return existing == NULL || existing->id == project_id;
}

static void
on_name_changed (AdwMessageDialog *dialog, GtkEditable *editable)
{
  NameDialog *nd = g_object_get_data (G_OBJECT (dialog), "tailor-name-dialog");
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (editable)));
  gboolean ok = name[0] != '\0' && name_is_free (nd->self, name, nd->project_id);

  adw_message_dialog_set_response_enabled (dialog, "ok", ok);
  if (name[0] != '\0' && !ok)
    gtk_widget_add_css_class (GTK_WIDGET (nd->entry), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (nd->entry), "error");
}

static void
on_name_activate (AdwMessageDialog *dialog, GtkEntry *entry)
{
  if (adw_message_dialog_get_response_enabled (dialog, "ok"))
    adw_message_dialog_response (dialog, "ok");
}

static void
on_name_response (AdwMessageDialog *dialog, const char *response, gpointer user_data)
{
  NameDialog *nd = g_object_get_data (G_OBJECT (dialog), "tailor-name-dialog");
  TailorWindow *self = nd->self;
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;

  if (g_strcmp0 (response, "ok") != 0)
    return;
  name = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (nd->entry))));
  if (nd->project_id == 0)
    {
      g_autoptr (TailorProject) project =
        tailor_catalogue_create_project (self->catalogue, name, "", &error);

      if (project == NULL)
        show_error (self, error->message);
      else
        {
          refresh_projects (self, project->id);
          adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
        }
    }
  else if (!tailor_catalogue_rename_project (self->catalogue, nd->project_id, name, &error))
    show_error (self, error->message);
  else
    {
      refresh_projects (self, nd->project_id);
      tailor_wizard_set_project_name (self->wizard, name);
    }
}

static char *
unused_project_name (TailorWindow *self)
{
  for (guint n = 1;; n++)
    {
      g_autofree char *name = n == 1 ? g_strdup (_("New Project"))
                                     /* Translators: a default project name, e.g. "New Project 2". */
                                     : g_strdup_printf (_("New Project %u"), n);

      if (name_is_free (self, name, 0))
        return g_steal_pointer (&name);
    }
}

static void
ask_name (TailorWindow *self, gint64 project_id, const char *initial)
{
  GtkWidget *dialog;
  GtkWidget *entry = gtk_entry_new ();
  NameDialog *nd = g_new0 (NameDialog, 1);

  dialog = adw_message_dialog_new (GTK_WINDOW (self),
                                   project_id == 0 ? _("New Project") : _("Rename Project"),
                                   project_id == 0
                                     ? _("Name the project after what the tuned model will do.")
                                     : NULL);
  nd->self = self;
  nd->entry = GTK_ENTRY (entry);
  nd->project_id = project_id;
  g_object_set_data_full (G_OBJECT (dialog), "tailor-name-dialog", nd, g_free);

  gtk_editable_set_text (GTK_EDITABLE (entry), initial);
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Project name"), -1);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), entry);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _("_Cancel"), "ok",
                                    project_id == 0 ? _("C_reate") : _("_Rename"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "ok",
                                              ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "ok");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (entry, "changed", G_CALLBACK (on_name_changed), dialog,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (entry, "activate", G_CALLBACK (on_name_activate), dialog,
                           G_CONNECT_SWAPPED);
  g_signal_connect (dialog, "response", G_CALLBACK (on_name_response), NULL);
  on_name_changed (ADW_MESSAGE_DIALOG (dialog), GTK_EDITABLE (entry));
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (entry);
}

static void
new_project_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorWindow *self = TAILOR_WINDOW (widget);
  g_autofree char *name = unused_project_name (self);

  ask_name (self, 0, name);
}

static void
rename_project_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorWindow *self = TAILOR_WINDOW (widget);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) project =
    tailor_catalogue_get_project (self->catalogue, tailor_window_get_project_id (self), &error);

  if (project == NULL)
    show_error (self, error->message);
  else
    ask_name (self, project->id, project->name);
}

static void
finish_delete (TailorWindow *self, gint64 project_id)
{
  g_autoptr (GError) error = NULL;

  if (!g_hash_table_remove (self->pending_deletes, &project_id))
    return;
  if (!tailor_catalogue_delete_project (self->catalogue, project_id, &error))
    {
      show_error (self, error->message);
      refresh_projects (self, 0);
    }
}

static void
on_delete_toast_dismissed (AdwToast *toast, TailorWindow *self)
{
  gint64 *id = g_object_get_data (G_OBJECT (toast), "tailor-project-id");

  finish_delete (self, *id);
}

static void
on_delete_undo (AdwToast *toast, TailorWindow *self)
{
  gint64 *id = g_object_get_data (G_OBJECT (toast), "tailor-project-id");

  /* Nothing was deleted yet: bringing the row back restores everything. */
  if (g_hash_table_remove (self->pending_deletes, id))
    refresh_projects (self, *id);
}

static void
delete_project_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorWindow *self = TAILOR_WINDOW (widget);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorProject) project =
    tailor_catalogue_get_project (self->catalogue, tailor_window_get_project_id (self), &error);
  AdwToast *toast;
  gint64 *key;
  gint64 *toast_id;

  if (project == NULL)
    {
      show_error (self, error->message);
      return;
    }
  /* Translators: %s is a project name. */
  toast = adw_toast_new_format (_("“%s” deleted"), project->name);
  adw_toast_set_button_label (toast, _("_Undo"));
  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  toast_id = g_new (gint64, 1);
  *toast_id = project->id;
  g_object_set_data_full (G_OBJECT (toast), "tailor-project-id", toast_id, g_free);
  key = g_new (gint64, 1);
  *key = project->id;
  g_hash_table_insert (self->pending_deletes, key, g_object_ref (toast));
  g_signal_connect_object (toast, "button-clicked", G_CALLBACK (on_delete_undo), self, 0);
  g_signal_connect_object (toast, "dismissed", G_CALLBACK (on_delete_toast_dismissed), self, 0);

  gtk_list_box_unselect_all (self->project_list);
  show_project (self, 0);
  refresh_projects (self, 0);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
show_projects_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorWindow *self = TAILOR_WINDOW (widget);

  adw_leaflet_set_visible_child (self->leaflet, self->sidebar);
}

static gboolean
tailor_window_close_request (GtkWindow *window)
{
  TailorWindow *self = TAILOR_WINDOW (window);

  if (self->settings != NULL)
    {
      int width = 0, height = 0;

      gtk_window_get_default_size (window, &width, &height);
      g_settings_set (self->settings, "window-size", "(ii)", width, height);
      g_settings_set_boolean (self->settings, "window-maximized",
                              gtk_window_is_maximized (window));
    }
  return GTK_WINDOW_CLASS (tailor_window_parent_class)->close_request (window);
}

static void
tailor_window_dispose (GObject *object)
{
  TailorWindow *self = TAILOR_WINDOW (object);

  /* A closing window cannot show its undo toasts any more: the deletions become final. */
  if (self->pending_deletes != NULL)
    {
      g_autoptr (GList) ids = g_hash_table_get_keys (self->pending_deletes);
      g_autoptr (GArray) copy = g_array_new (FALSE, FALSE, sizeof (gint64));

      for (GList *l = ids; l != NULL; l = l->next)
        g_array_append_val (copy, *(gint64 *) l->data);
      for (guint i = 0; i < copy->len; i++)
        finish_delete (self, g_array_index (copy, gint64, i));
    }
  /* The list emptying itself must not try to show a project in a half-disposed window. */
  if (self->project_list != NULL)
    g_signal_handlers_disconnect_by_data (self->project_list, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), TAILOR_TYPE_WINDOW);

  G_OBJECT_CLASS (tailor_window_parent_class)->dispose (object);
}

static void
tailor_window_finalize (GObject *object)
{
  TailorWindow *self = TAILOR_WINDOW (object);

  g_clear_object (&self->settings);
  g_clear_pointer (&self->pending_deletes, g_hash_table_unref);

  G_OBJECT_CLASS (tailor_window_parent_class)->finalize (object);
}

static void
tailor_window_class_init (TailorWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = tailor_window_dispose;
  object_class->finalize = tailor_window_finalize;
  window_class->close_request = tailor_window_close_request;

  g_type_ensure (TAILOR_TYPE_WIZARD);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/tailorapp/Tailor/tailor-window.ui");
  gtk_widget_class_bind_template_child (widget_class, TailorWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, TailorWindow, leaflet);
  gtk_widget_class_bind_template_child (widget_class, TailorWindow, sidebar);
  gtk_widget_class_bind_template_child (widget_class, TailorWindow, sidebar_stack);
  gtk_widget_class_bind_template_child (widget_class, TailorWindow, project_list);
  gtk_widget_class_bind_template_child (widget_class, TailorWindow, content_stack);
  gtk_widget_class_bind_template_child (widget_class, TailorWindow, welcome_page);
  gtk_widget_class_bind_template_child (widget_class, TailorWindow, wizard);

  gtk_widget_class_install_action (widget_class, "win.new-project", NULL, new_project_action);
  gtk_widget_class_install_action (widget_class, "win.rename-project", NULL,
                                   rename_project_action);
  gtk_widget_class_install_action (widget_class, "win.delete-project", NULL,
                                   delete_project_action);
  gtk_widget_class_install_action (widget_class, "win.show-projects", NULL, show_projects_action);
}

static void
tailor_window_init (TailorWindow *self)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->pending_deletes = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                                 g_object_unref);
  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, SETTINGS_SCHEMA, TRUE);
  if (schema != NULL)
    {
      int width = 0, height = 0;

      self->settings = g_settings_new (SETTINGS_SCHEMA);
      g_settings_get (self->settings, "window-size", "(ii)", &width, &height);
      gtk_window_set_default_size (GTK_WINDOW (self), width, height);
      if (g_settings_get_boolean (self->settings, "window-maximized"))
        gtk_window_maximize (GTK_WINDOW (self));
    }
  else
    gtk_window_set_default_size (GTK_WINDOW (self), 1000, 720);

  if (g_strcmp0 (APPLICATION_ID, "io.github.tailorapp.Tailor") != 0)
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");

  g_signal_connect_object (self->project_list, "row-selected", G_CALLBACK (on_row_selected), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->project_list, "row-activated", G_CALLBACK (on_row_activated),
                           self, G_CONNECT_SWAPPED);
}

TailorWindow *
tailor_window_new (TailorApplication *application)
{
  TailorWindow *self;
  GError *open_error;

  g_return_val_if_fail (TAILOR_IS_APPLICATION (application), NULL);

  self = g_object_new (TAILOR_TYPE_WINDOW, "application", application, NULL);
  self->catalogue = tailor_application_get_catalogue (application);
  open_error = tailor_application_get_catalogue_error (application);
  if (self->catalogue == NULL)
    {
      adw_status_page_set_title (self->welcome_page, _("Projects Cannot Be Opened"));
      adw_status_page_set_description (self->welcome_page,
                                       open_error != NULL ? open_error->message : NULL);
      gtk_stack_set_visible_child_name (self->sidebar_stack, "empty");
      update_project_actions (self);
      return self;
    }
  if (tailor_catalogue_get_recovery_message (self->catalogue) != NULL)
    show_error (self, tailor_catalogue_get_recovery_message (self->catalogue));
  refresh_projects (self, 0);
  return self;
}

TailorWizard *
tailor_window_get_wizard (TailorWindow *self)
{
  g_return_val_if_fail (TAILOR_IS_WINDOW (self), NULL);
  return self->wizard;
}

gint64
tailor_window_get_project_id (TailorWindow *self)
{
  g_return_val_if_fail (TAILOR_IS_WINDOW (self), 0);

  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->content_stack), "wizard") != 0)
    return 0;
  return tailor_wizard_get_project_id (self->wizard);
}

void
tailor_window_select_project (TailorWindow *self, gint64 project_id)
{
  g_return_if_fail (TAILOR_IS_WINDOW (self));

  refresh_projects (self, project_id);
}
