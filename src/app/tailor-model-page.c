/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorModelPage: discovery in a worker thread, the model's facts, and hashing with progress
 * and cancel in another, so the window never waits on the disk. */
#include "config.h"

#include <glib/gi18n.h>

#include "tailor-discover.h"
#include "tailor-hash.h"
#include "tailor-model-facts.h"
#include "tailor-model-page.h"

#define SETTINGS_SCHEMA "io.github.tailorapp.Tailor"

/* Progress handed from the hashing thread to the window: the worker writes under the mutex and
 * schedules one low-priority idle at a time, so a fast disk cannot flood the main loop. */
typedef struct
{
  GMutex mutex;
  guint64 done;
  guint64 total;
  gboolean idle_pending;
  GWeakRef page;
} HashProgress;

typedef struct
{
  char *path;
  HashProgress *progress;
} HashJob;

struct _TailorModelPage
{
  TailorWizardPage parent_instance;

  /* Template widgets */
  AdwPreferencesGroup *details_group;
  AdwActionRow *unsupported_row;
  AdwActionRow *name_row;
  AdwActionRow *file_row;
  AdwActionRow *arch_row;
  AdwActionRow *params_row;
  AdwActionRow *quant_row;
  AdwActionRow *context_row;
  AdwActionRow *template_row;
  AdwActionRow *license_row;
  AdwActionRow *sha_row;
  GtkProgressBar *hash_progress;
  GtkWidget *hash_cancel_button;
  GtkWidget *hash_retry_button;
  GtkListBox *found_list;
  GtkWidget *discover_spinner;
  AdwPreferencesGroup *folders_group;

  /* Owned */
  GSettings *settings; /* NULL when the schema is not installed (running from the build) */
  GStrv folders;       /* the added folders when there are no settings */
  GPtrArray *folder_rows;
  GCancellable *discover_cancellable;
  GCancellable *facts_cancellable;
  GCancellable *hash_cancellable;
  HashProgress *hash_state;
  GtkNativeDialog *file_chooser;
  char *path;
  char *sha256;
  TailorModelFacts *facts;
};

G_DEFINE_FINAL_TYPE (TailorModelPage, tailor_model_page, TAILOR_TYPE_WIZARD_PAGE)

static void start_discovery (TailorModelPage *self);

static void
hash_progress_clear (HashProgress *p)
{
  g_mutex_clear (&p->mutex);
  g_weak_ref_clear (&p->page);
}

static void
hash_progress_release (gpointer p)
{
  g_atomic_rc_box_release_full (p, (GDestroyNotify) hash_progress_clear);
}

static void
hash_job_free (HashJob *job)
{
  g_free (job->path);
  hash_progress_release (job->progress);
  g_free (job);
}

static GStrv
get_folders (TailorModelPage *self)
{
  if (self->settings != NULL)
    return g_settings_get_strv (self->settings, "model-folders");
  return g_strdupv (self->folders);
}

static void
set_folders (TailorModelPage *self, const char *const *folders)
{
  if (self->settings != NULL)
    g_settings_set_strv (self->settings, "model-folders", folders);
  else
    {
      g_strfreev (self->folders);
      self->folders = g_strdupv ((char **) folders);
    }
}

static char *
format_params (guint64 n)
{
  if (n >= 1000000000)
    return g_strdup_printf (_("%.1f billion"), n / 1e9);
  if (n >= 1000000)
    return g_strdup_printf (_("%.1f million"), n / 1e6);
  if (n >= 1000)
    return g_strdup_printf (_("%.1f thousand"), n / 1e3);
  return g_strdup_printf ("%" G_GUINT64_FORMAT, n);
}

static void
update_marks (TailorModelPage *self)
{
  for (GtkWidget *row = gtk_widget_get_first_child (GTK_WIDGET (self->found_list)); row != NULL;
       row = gtk_widget_get_next_sibling (row))
    {
      GtkWidget *mark = g_object_get_data (G_OBJECT (row), "tailor-mark");
      const char *path = g_object_get_data (G_OBJECT (row), "tailor-path");

      if (mark != NULL)
        gtk_widget_set_visible (mark, path != NULL && g_strcmp0 (path, self->path) == 0);
    }
}

static void
set_subtitle (AdwActionRow *row, const char *text)
{
  g_autofree char *escaped = g_markup_escape_text (text != NULL ? text : "", -1);

  adw_action_row_set_subtitle (row, escaped);
}

static void
show_hash_state (TailorModelPage *self, const char *text, gboolean running, gboolean can_retry)
{
  set_subtitle (self->sha_row, text);
  gtk_widget_set_visible (GTK_WIDGET (self->hash_progress), running);
  gtk_widget_set_visible (self->hash_cancel_button, running);
  gtk_widget_set_visible (self->hash_retry_button, can_retry);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "model.cancel-hash", running);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "model.compute-hash", can_retry);
}

static void
update_complete (TailorModelPage *self)
{
  tailor_wizard_page_set_complete (TAILOR_WIZARD_PAGE (self), self->facts != NULL &&
                                                                self->facts->supported &&
                                                                self->sha256 != NULL);
}

static void
save_pin (TailorModelPage *self)
{
  TailorWizardPage *page = TAILOR_WIZARD_PAGE (self);
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (page);
  g_autoptr (GError) error = NULL;

  if (catalogue != NULL &&
      !tailor_catalogue_set_project_base_model (catalogue, tailor_wizard_page_get_project_id (page),
                                                self->path, self->sha256, &error))
    tailor_wizard_page_show_error (page, error->message);
}

static gboolean
hash_progress_idle (gpointer user_data)
{
  HashProgress *p = user_data;
  g_autoptr (TailorModelPage) self = g_weak_ref_get (&p->page);
  guint64 done, total;

  g_mutex_lock (&p->mutex);
  done = p->done;
  total = p->total;
  p->idle_pending = FALSE;
  g_mutex_unlock (&p->mutex);

  if (self != NULL && self->hash_state == p)
    gtk_progress_bar_set_fraction (self->hash_progress, total > 0 ? (double) done / total : 0.0);
  return G_SOURCE_REMOVE;
}

static void
hash_progress_cb (guint64 done, guint64 total, gpointer user_data)
{
  HashProgress *p = user_data;

  g_mutex_lock (&p->mutex);
  p->done = done;
  p->total = total;
  if (!p->idle_pending)
    {
      p->idle_pending = TRUE;
      g_idle_add_full (G_PRIORITY_LOW, hash_progress_idle, g_atomic_rc_box_acquire (p),
                       hash_progress_release);
    }
  g_mutex_unlock (&p->mutex);
}

static void
hash_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  HashJob *job = task_data;
  g_autoptr (GError) error = NULL;
  char *sha256;

  sha256 = tailor_file_sha256_cached (job->path, cancellable, hash_progress_cb, job->progress, NULL,
                                      &error);
  if (sha256 == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, sha256, g_free);
}

static void
hash_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TailorModelPage) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *sha256 = g_task_propagate_pointer (G_TASK (result), &error);
  const char *path = g_task_get_task_data (G_TASK (result)) != NULL
                       ? ((HashJob *) g_task_get_task_data (G_TASK (result)))->path
                       : NULL;

  /* Only the latest request for the current file may change the page. */
  if (g_strcmp0 (path, self->path) != 0 ||
      g_task_get_cancellable (G_TASK (result)) != self->hash_cancellable)
    return;
  g_clear_object (&self->hash_cancellable);
  g_clear_pointer (&self->hash_state, hash_progress_release);

  if (sha256 == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_hash_state (self, _("Not computed: stopped before the end"), FALSE, TRUE);
      else
        show_hash_state (self, error->message, FALSE, TRUE);
      update_complete (self);
      return;
    }
  g_free (self->sha256);
  self->sha256 = g_steal_pointer (&sha256);
  show_hash_state (self, self->sha256, FALSE, FALSE);
  save_pin (self);
  update_complete (self);
}

static void
start_hash (TailorModelPage *self)
{
  g_autoptr (GTask) task = NULL;
  HashJob *job;

  g_cancellable_cancel (self->hash_cancellable);
  g_clear_object (&self->hash_cancellable);
  g_clear_pointer (&self->hash_state, hash_progress_release);

  self->hash_cancellable = g_cancellable_new ();
  self->hash_state = g_atomic_rc_box_new0 (HashProgress);
  g_mutex_init (&self->hash_state->mutex);
  g_weak_ref_init (&self->hash_state->page, self);

  job = g_new0 (HashJob, 1);
  job->path = g_strdup (self->path);
  job->progress = g_atomic_rc_box_acquire (self->hash_state);

  gtk_progress_bar_set_fraction (self->hash_progress, 0.0);
  show_hash_state (self, _("Computing…"), TRUE, FALSE);
  task = g_task_new (NULL, self->hash_cancellable, hash_done_cb, g_object_ref (self));
  g_task_set_task_data (task, job, (GDestroyNotify) hash_job_free);
  g_task_run_in_thread (task, hash_thread);
}

static void
show_facts (TailorModelPage *self)
{
  TailorModelFacts *facts = self->facts;
  g_autofree char *size = g_format_size (facts->size);
  g_autofree char *params = NULL;
  g_autofree char *context = NULL;
  g_autofree char *quant = NULL;
  g_autofree char *file = NULL;
  GtkWidget *metadata_rows[] = { GTK_WIDGET (self->name_row),     GTK_WIDGET (self->arch_row),
                                 GTK_WIDGET (self->params_row),   GTK_WIDGET (self->quant_row),
                                 GTK_WIDGET (self->context_row),  GTK_WIDGET (self->template_row),
                                 GTK_WIDGET (self->license_row),  GTK_WIDGET (self->sha_row) };

  gtk_widget_set_visible (GTK_WIDGET (self->unsupported_row), !facts->supported);
  set_subtitle (self->unsupported_row, facts->unsupported_reason);
  /* A file that is not GGUF has none of these: only the reason and the file are worth showing. */
  for (guint i = 0; i < G_N_ELEMENTS (metadata_rows); i++)
    gtk_widget_set_visible (metadata_rows[i], facts->is_gguf);
  set_subtitle (self->name_row, facts->name != NULL ? facts->name : facts->file_name);
  /* Translators: a file's size and path, e.g. "1.3 GB · /home/me/models/x.gguf". */
  file = g_strdup_printf (_("%s · %s"), size, facts->path);
  set_subtitle (self->file_row, file);
  set_subtitle (self->arch_row, facts->architecture != NULL ? facts->architecture : _("Not stated"));
  params = facts->is_gguf ? format_params (facts->n_params) : g_strdup ("—");
  set_subtitle (self->params_row, params);
  if (facts->file_type != NULL)
    {
      g_autofree char *file_type = g_ascii_strup (facts->file_type, -1);

      quant = g_strdup_printf ("%s (%s)", facts->quantization, file_type);
    }
  set_subtitle (self->quant_row,
                quant != NULL ? quant : facts->quantization != NULL ? facts->quantization : "—");
  if (facts->context_length > 0 && facts->context_length <= G_MAXUINT)
    context = g_strdup_printf (ngettext ("%u token", "%u tokens", (gulong) facts->context_length),
                               (guint) facts->context_length);
  set_subtitle (self->context_row, context != NULL ? context : _("Not stated"));
  set_subtitle (self->template_row,
                facts->chat_template != NULL ? facts->chat_template : _("None in the file"));
  set_subtitle (self->license_row,
                facts->license != NULL ? facts->license
                                       : _("Not stated in the file: check where it came from"));
}

static void
facts_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_task_return_pointer (task, tailor_model_facts_read (task_data),
                         (GDestroyNotify) tailor_model_facts_free);
}

static void
facts_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TailorModelPage) self = user_data;
  g_autoptr (TailorModelFacts) facts = g_task_propagate_pointer (G_TASK (result), NULL);

  if (facts == NULL || g_task_get_cancellable (G_TASK (result)) != self->facts_cancellable)
    return;
  g_clear_object (&self->facts_cancellable);
  g_clear_pointer (&self->facts, tailor_model_facts_free);
  self->facts = g_steal_pointer (&facts);
  show_facts (self);
  if (!self->facts->supported)
    show_hash_state (self, _("Not computed for a model Tailor cannot train"), FALSE, FALSE);
  else if (self->sha256 != NULL)
    show_hash_state (self, self->sha256, FALSE, FALSE);
  else
    start_hash (self);
  update_complete (self);
}

static void
cancel_work (TailorModelPage *self)
{
  g_cancellable_cancel (self->facts_cancellable);
  g_clear_object (&self->facts_cancellable);
  g_cancellable_cancel (self->hash_cancellable);
  g_clear_object (&self->hash_cancellable);
  g_clear_pointer (&self->hash_state, hash_progress_release);
}

/* sha256: the pin already stored for this path, or NULL to compute it. */
static void
show_model (TailorModelPage *self, const char *path, const char *sha256)
{
  g_autoptr (GTask) task = NULL;
  const char *reading = _("Reading…");

  cancel_work (self);
  g_clear_pointer (&self->facts, tailor_model_facts_free);
  g_free (self->path);
  self->path = g_strdup (path);
  g_free (self->sha256);
  self->sha256 = g_strdup (sha256);
  update_marks (self);
  update_complete (self);

  gtk_widget_set_visible (GTK_WIDGET (self->details_group), path != NULL);
  if (path == NULL)
    return;
  gtk_widget_set_visible (GTK_WIDGET (self->unsupported_row), FALSE);
  set_subtitle (self->name_row, reading);
  set_subtitle (self->file_row, path);
  set_subtitle (self->arch_row, reading);
  set_subtitle (self->params_row, reading);
  set_subtitle (self->quant_row, reading);
  set_subtitle (self->context_row, reading);
  set_subtitle (self->template_row, reading);
  set_subtitle (self->license_row, reading);
  show_hash_state (self, reading, FALSE, FALSE);

  self->facts_cancellable = g_cancellable_new ();
  task = g_task_new (NULL, self->facts_cancellable, facts_done_cb, g_object_ref (self));
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, facts_thread);
}

void
tailor_model_page_select_file (TailorModelPage *self, const char *path)
{
  g_return_if_fail (TAILOR_IS_MODEL_PAGE (self));
  g_return_if_fail (path != NULL);

  show_model (self, path, NULL);
  /* The choice is kept at once; the pin follows when the fingerprint is known. */
  save_pin (self);
}

static void
on_model_row_activated (TailorModelPage *self, AdwActionRow *row)
{
  const char *path = g_object_get_data (G_OBJECT (row), "tailor-path");

  if (path != NULL && g_strcmp0 (path, self->path) != 0)
    tailor_model_page_select_file (self, path);
}

static GtkWidget *
model_row_new (TailorModelPage *self, const TailorDiscoveredModel *model)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *mark = gtk_image_new_from_icon_name ("object-select-symbolic");
  g_autofree char *size = g_format_size (model->size);
  g_autofree char *subtitle = NULL;
  g_autofree char *title = g_markup_escape_text (model->display_name, -1);

  if (model->detail[0] != '\0')
    subtitle = g_strdup_printf ("%s · %s · %s", tailor_model_store_name (model->store),
                                model->detail, size);
  else
    subtitle = g_strdup_printf ("%s · %s", tailor_model_store_name (model->store), size);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  set_subtitle (ADW_ACTION_ROW (row), subtitle);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
  gtk_widget_set_tooltip_text (row, model->path);
  gtk_accessible_update_property (GTK_ACCESSIBLE (mark), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Selected"), -1);
  gtk_widget_set_visible (mark, FALSE);
  gtk_widget_add_css_class (mark, "accent");
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), mark);
  g_object_set_data (G_OBJECT (row), "tailor-mark", mark);
  g_object_set_data_full (G_OBJECT (row), "tailor-path", g_strdup (model->path), g_free);
  g_signal_connect_object (row, "activated", G_CALLBACK (on_model_row_activated), self,
                           G_CONNECT_SWAPPED);
  return row;
}

static void
show_discovered (TailorModelPage *self, GPtrArray *models)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->found_list))) != NULL)
    gtk_list_box_remove (self->found_list, child);
  for (guint i = 0; i < models->len; i++)
    gtk_list_box_append (self->found_list, model_row_new (self, models->pdata[i]));
  if (models->len == 0)
    {
      GtkWidget *row = adw_action_row_new ();

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("No models found"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row),
                                   _("Choose a file above, or add a folder that holds GGUF files."));
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), FALSE);
      gtk_list_box_append (self->found_list, row);
    }
  update_marks (self);
}

static void
discover_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TailorModelPage) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) models = tailor_discover_models_finish (result, &error);

  if (models == NULL)
    return;
  g_clear_object (&self->discover_cancellable);
  gtk_widget_set_visible (self->discover_spinner, FALSE);
  gtk_spinner_set_spinning (GTK_SPINNER (self->discover_spinner), FALSE);
  show_discovered (self, models);
}

static void
remove_folder_cb (TailorModelPage *self, GtkButton *button)
{
  const char *folder = g_object_get_data (G_OBJECT (button), "tailor-folder");
  g_auto (GStrv) folders = get_folders (self);
  g_autoptr (GStrvBuilder) kept = g_strv_builder_new ();
  g_auto (GStrv) result = NULL;

  for (guint i = 0; folders[i] != NULL; i++)
    if (g_strcmp0 (folders[i], folder) != 0)
      g_strv_builder_add (kept, folders[i]);
  result = g_strv_builder_end (kept);
  set_folders (self, (const char *const *) result);
  start_discovery (self);
}

static void
show_folders (TailorModelPage *self, char **folders)
{
  for (guint i = 0; i < self->folder_rows->len; i++)
    adw_preferences_group_remove (self->folders_group, self->folder_rows->pdata[i]);
  g_ptr_array_set_size (self->folder_rows, 0);

  for (guint i = 0; folders[i] != NULL; i++)
    {
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *remove = gtk_button_new_from_icon_name ("user-trash-symbolic");
      g_autofree char *name = g_path_get_basename (folders[i]);
      g_autofree char *label = g_strdup_printf (_("Remove the folder %s"), folders[i]);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
      set_subtitle (ADW_ACTION_ROW (row), folders[i]);
      gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (remove, "flat");
      gtk_widget_set_tooltip_text (remove, _("Remove this folder"));
      gtk_accessible_update_property (GTK_ACCESSIBLE (remove), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      label, -1);
      g_object_set_data_full (G_OBJECT (remove), "tailor-folder", g_strdup (folders[i]), g_free);
      g_signal_connect_object (remove, "clicked", G_CALLBACK (remove_folder_cb), self,
                               G_CONNECT_SWAPPED);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);
      adw_preferences_group_add (self->folders_group, row);
      g_ptr_array_add (self->folder_rows, row);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->folders_group), folders[0] != NULL);
}

static void
start_discovery (TailorModelPage *self)
{
  g_auto (GStrv) folders = get_folders (self);

  g_cancellable_cancel (self->discover_cancellable);
  g_clear_object (&self->discover_cancellable);
  self->discover_cancellable = g_cancellable_new ();
  show_folders (self, folders);
  gtk_widget_set_visible (self->discover_spinner, TRUE);
  gtk_spinner_set_spinning (GTK_SPINNER (self->discover_spinner), TRUE);
  tailor_discover_models_async (NULL, (const char *const *) folders, self->discover_cancellable,
                                discover_done_cb, g_object_ref (self));
}

#if GTK_CHECK_VERSION(4, 10, 0)
static GtkFileFilter *
gguf_filter_new (void)
{
  GtkFileFilter *filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("GGUF models"));
  gtk_file_filter_add_suffix (filter, "gguf");
  return filter;
}

static void
file_dialog_open_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TailorModelPage) self = user_data;
  g_autoptr (GFile) file = gtk_file_dialog_open_finish (GTK_FILE_DIALOG (object), result, NULL);
  g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

  if (path != NULL)
    tailor_model_page_select_file (self, path);
}

static void
file_dialog_folder_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TailorModelPage) self = user_data;
  g_autoptr (GFile) file =
    gtk_file_dialog_select_folder_finish (GTK_FILE_DIALOG (object), result, NULL);
  g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) folders = NULL;
  g_auto (GStrv) result_folders = NULL;

  if (path == NULL)
    return;
  folders = get_folders (self);
  g_strv_builder_addv (builder, (const char **) folders);
  if (!g_strv_contains ((const char *const *) folders, path))
    g_strv_builder_add (builder, path);
  result_folders = g_strv_builder_end (builder);
  set_folders (self, (const char *const *) result_folders);
  start_discovery (self);
}

static void
choose_file_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorModelPage *self = TAILOR_MODEL_PAGE (widget);
  g_autoptr (GtkFileDialog) dialog = gtk_file_dialog_new ();
  g_autoptr (GtkFileFilter) filter = gguf_filter_new ();

  gtk_file_dialog_set_title (dialog, _("Choose a Model File"));
  gtk_file_dialog_set_default_filter (dialog, filter);
  gtk_file_dialog_open (dialog, GTK_WINDOW (gtk_widget_get_root (widget)), NULL,
                        file_dialog_open_cb, g_object_ref (self));
}

static void
add_folder_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorModelPage *self = TAILOR_MODEL_PAGE (widget);
  g_autoptr (GtkFileDialog) dialog = gtk_file_dialog_new ();

  gtk_file_dialog_set_title (dialog, _("Add a Folder With Models"));
  gtk_file_dialog_select_folder (dialog, GTK_WINDOW (gtk_widget_get_root (widget)), NULL,
                                 file_dialog_folder_cb, g_object_ref (self));
}
#else
static void
on_file_chosen (TailorModelPage *self, int response, GtkNativeDialog *native)
{
  g_autoptr (GFile) file = NULL;
  g_autofree char *path = NULL;
  gboolean folder =
    gtk_file_chooser_get_action (GTK_FILE_CHOOSER (native)) == GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (native));
  if (file != NULL)
    path = g_file_get_path (file);
  if (path != NULL && !folder)
    tailor_model_page_select_file (self, path);
  else if (path != NULL)
    {
      g_auto (GStrv) folders = get_folders (self);
      g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
      g_auto (GStrv) result = NULL;

      g_strv_builder_addv (builder, (const char **) folders);
      if (!g_strv_contains ((const char *const *) folders, path))
        g_strv_builder_add (builder, path);
      result = g_strv_builder_end (builder);
      set_folders (self, (const char *const *) result);
      start_discovery (self);
    }
  g_clear_object (&self->file_chooser);
}

static void
open_chooser (TailorModelPage *self, GtkFileChooserAction action, const char *title)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkFileChooserNative *native;

  if (self->file_chooser != NULL)
    gtk_native_dialog_destroy (self->file_chooser);
  g_clear_object (&self->file_chooser);
  native = gtk_file_chooser_native_new (title, GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                        action, NULL, NULL);
  if (action == GTK_FILE_CHOOSER_ACTION_OPEN)
    {
      GtkFileFilter *filter = gtk_file_filter_new ();

      gtk_file_filter_set_name (filter, _("GGUF models"));
      gtk_file_filter_add_suffix (filter, "gguf");
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (native), filter);
      g_object_unref (filter);
    }
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (native), TRUE);
  g_signal_connect_object (native, "response", G_CALLBACK (on_file_chosen), self,
                           G_CONNECT_SWAPPED);
  self->file_chooser = GTK_NATIVE_DIALOG (native);
  gtk_native_dialog_show (self->file_chooser);
}

static void
choose_file_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  open_chooser (TAILOR_MODEL_PAGE (widget), GTK_FILE_CHOOSER_ACTION_OPEN,
                _("Choose a Model File"));
}

static void
add_folder_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  open_chooser (TAILOR_MODEL_PAGE (widget), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                _("Add a Folder With Models"));
}
#endif

static void
refresh_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  start_discovery (TAILOR_MODEL_PAGE (widget));
}

static void
cancel_hash_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  g_cancellable_cancel (TAILOR_MODEL_PAGE (widget)->hash_cancellable);
}

static void
compute_hash_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorModelPage *self = TAILOR_MODEL_PAGE (widget);

  if (self->path != NULL && self->facts != NULL && self->facts->supported)
    start_hash (self);
}

static void
tailor_model_page_load (TailorWizardPage *page, const TailorProject *project)
{
  TailorModelPage *self = TAILOR_MODEL_PAGE (page);

  show_model (self, project->base_model_path, project->base_model_sha256);
  start_discovery (self);
}

static void
tailor_model_page_apply_async (TailorWizardPage *page,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data)
{
  TailorModelPage *self = TAILOR_MODEL_PAGE (page);
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr (GError) error = NULL;

  g_task_set_source_tag (task, tailor_model_page_apply_async);
  if (self->facts == NULL || !self->facts->supported || self->sha256 == NULL)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s",
                             _("Choose a model Tailor can train, and wait for its fingerprint."));
  else if (!tailor_catalogue_set_project_base_model (tailor_wizard_page_get_catalogue (page),
                                                     tailor_wizard_page_get_project_id (page),
                                                     self->path, self->sha256, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
tailor_model_page_apply_finish (TailorWizardPage *page, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
tailor_model_page_dispose (GObject *object)
{
  TailorModelPage *self = TAILOR_MODEL_PAGE (object);

  cancel_work (self);
  g_cancellable_cancel (self->discover_cancellable);
  g_clear_object (&self->discover_cancellable);
  if (self->file_chooser != NULL)
    gtk_native_dialog_destroy (self->file_chooser);
  g_clear_object (&self->file_chooser);
  gtk_widget_dispose_template (GTK_WIDGET (self), TAILOR_TYPE_MODEL_PAGE);

  G_OBJECT_CLASS (tailor_model_page_parent_class)->dispose (object);
}

static void
tailor_model_page_finalize (GObject *object)
{
  TailorModelPage *self = TAILOR_MODEL_PAGE (object);

  g_clear_object (&self->settings);
  g_clear_pointer (&self->folders, g_strfreev);
  g_clear_pointer (&self->folder_rows, g_ptr_array_unref);
  g_clear_pointer (&self->facts, tailor_model_facts_free);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->sha256, g_free);

  G_OBJECT_CLASS (tailor_model_page_parent_class)->finalize (object);
}

static void
tailor_model_page_class_init (TailorModelPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  TailorWizardPageClass *page_class = TAILOR_WIZARD_PAGE_CLASS (klass);

  object_class->dispose = tailor_model_page_dispose;
  object_class->finalize = tailor_model_page_finalize;
  page_class->load = tailor_model_page_load;
  page_class->apply_async = tailor_model_page_apply_async;
  page_class->apply_finish = tailor_model_page_apply_finish;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/tailorapp/Tailor/tailor-model-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, details_group);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, unsupported_row);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, name_row);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, file_row);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, arch_row);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, params_row);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, quant_row);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, context_row);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, template_row);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, license_row);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, sha_row);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, hash_progress);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, hash_cancel_button);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, hash_retry_button);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, found_list);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, discover_spinner);
  gtk_widget_class_bind_template_child (widget_class, TailorModelPage, folders_group);

  gtk_widget_class_install_action (widget_class, "model.choose-file", NULL, choose_file_action);
  gtk_widget_class_install_action (widget_class, "model.add-folder", NULL, add_folder_action);
  gtk_widget_class_install_action (widget_class, "model.refresh", NULL, refresh_action);
  gtk_widget_class_install_action (widget_class, "model.cancel-hash", NULL, cancel_hash_action);
  gtk_widget_class_install_action (widget_class, "model.compute-hash", NULL, compute_hash_action);
}

static void
tailor_model_page_init (TailorModelPage *self)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, SETTINGS_SCHEMA, TRUE);
  if (schema != NULL)
    self->settings = g_settings_new (SETTINGS_SCHEMA);
  else
    self->folders = g_new0 (char *, 1);
  self->folder_rows = g_ptr_array_new ();
  show_hash_state (self, "", FALSE, FALSE);
}

const char *
tailor_model_page_get_path (TailorModelPage *self)
{
  g_return_val_if_fail (TAILOR_IS_MODEL_PAGE (self), NULL);
  return self->path;
}

const char *
tailor_model_page_get_sha256 (TailorModelPage *self)
{
  g_return_val_if_fail (TAILOR_IS_MODEL_PAGE (self), NULL);
  return self->sha256;
}

gboolean
tailor_model_page_get_discovering (TailorModelPage *self)
{
  g_return_val_if_fail (TAILOR_IS_MODEL_PAGE (self), FALSE);
  return self->discover_cancellable != NULL;
}
