/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The real window, driven as a user would: projects, the Goal, Model and Documents steps,
 * the Train step with a real trainer (fail, run, pause, reopen, resume, re-attach, finish),
 * reopening, and a screenshot of every page in light and dark style. */
#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <string.h>

#include "tailor-application.h"
#include "tailor-catalogue.h"
#include "tailor-documents-page.h"
#include "tailor-goal-page.h"
#include "tailor-hash.h"
#include "tailor-line-chart.h"
#include "tailor-model-page.h"
#include "tailor-test-model.h"
#include "tailor-train-page.h"
#include "tailor-window.h"

#define WAIT_MS 20000

typedef gboolean (*Condition) (gpointer data);

static void
iterate (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (2000);
}

/* Runs the main loop until cond holds; FALSE after WAIT_MS. */
static gboolean
wait_for (Condition cond, gpointer data)
{
  gint64 end = g_get_monotonic_time () + WAIT_MS * 1000;

  while (!cond (data))
    {
      if (g_get_monotonic_time () > end)
        return FALSE;
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (2000);
    }
  return TRUE;
}

typedef gboolean (*WidgetMatch) (GtkWidget *widget, gconstpointer data);

static GtkWidget *
find_widget (GtkWidget *root, WidgetMatch match, gconstpointer data)
{
  if (match (root, data))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_widget (child, match, data);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static gboolean
is_row_titled (GtkWidget *widget, gconstpointer title)
{
  return ADW_IS_PREFERENCES_ROW (widget) &&
         g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), title) == 0;
}

static gboolean
is_button_for (GtkWidget *widget, gconstpointer action)
{
  return GTK_IS_BUTTON (widget) &&
         g_strcmp0 (gtk_actionable_get_action_name (GTK_ACTIONABLE (widget)), action) == 0;
}

static gboolean
is_label_with (GtkWidget *widget, gconstpointer text)
{
  return GTK_IS_LABEL (widget) && g_strcmp0 (gtk_label_get_label (GTK_LABEL (widget)), text) == 0;
}

static gboolean
is_status_page_titled (GtkWidget *widget, gconstpointer title)
{
  return ADW_IS_STATUS_PAGE (widget) &&
         g_strcmp0 (adw_status_page_get_title (ADW_STATUS_PAGE (widget)), title) == 0;
}

static AdwActionRow *
find_row (GtkWidget *root, const char *title)
{
  GtkWidget *row = find_widget (root, is_row_titled, title);

  g_assert_nonnull (row);
  return ADW_ACTION_ROW (row);
}

/* A row the user can see: on the page shown, not hidden. */
static void
assert_row_shown (GtkWidget *root, const char *title)
{
  AdwActionRow *row = find_row (root, title);

  g_test_message ("row “%s”", title);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (row)));
}

static GtkWidget *
find_button (GtkWidget *root, const char *action)
{
  GtkWidget *button = find_widget (root, is_button_for, action);

  g_assert_nonnull (button);
  return button;
}

static AdwMessageDialog *
find_dialog (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr (GObject) window = g_list_model_get_item (toplevels, i);

      if (ADW_IS_MESSAGE_DIALOG (window) && gtk_widget_get_visible (GTK_WIDGET (window)))
        return ADW_MESSAGE_DIALOG (window);
    }
  return NULL;
}

static gboolean
is_button_labelled (GtkWidget *widget, gconstpointer label)
{
  return GTK_IS_BUTTON (widget) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), label) == 0;
}

/* Clicks the dialog's button for a response, as the user would. */
static void
respond (AdwMessageDialog *dialog, const char *response)
{
  const char *label = adw_message_dialog_get_response_label (dialog, response);
  GtkWidget *button = find_widget (GTK_WIDGET (dialog), is_button_labelled, label);

  g_assert_nonnull (button);
  g_assert_true (gtk_widget_is_sensitive (button));
  gtk_widget_activate (button);
}

static gboolean
dialog_shown (gpointer data)
{
  AdwMessageDialog *dialog = find_dialog ();

  return dialog != NULL && gtk_widget_get_mapped (GTK_WIDGET (dialog));
}

static gboolean
no_dialog (gpointer data)
{
  return find_dialog () == NULL;
}

/* ---- Screenshots ---- */

static void
settle (void)
{
  /* Long enough for a layout, a frame and the spinners' first draw; animations are off. */
  iterate (250);
}

static void
save_screenshot (GtkWidget *widget, const char *name)
{
  const char *dir = g_getenv ("TAILOR_SCREENSHOT_DIR");
  g_autoptr (GdkPaintable) paintable = NULL;
  g_autoptr (GtkSnapshot) snapshot = NULL;
  g_autoptr (GskRenderNode) node = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  g_autofree char *path = NULL;
  GskRenderer *renderer;
  int width, height;

  if (dir == NULL)
    return;
  settle ();
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);
  g_assert_cmpint (width, >, 0);
  g_assert_cmpint (height, >, 0);

  paintable = gtk_widget_paintable_new (widget);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  g_assert_nonnull (node);
  renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  path = g_strdup_printf ("%s/%s.png", dir, name);
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot %s", path);
}

/* The same view in both styles, back to light afterwards. */
static void
screenshot_both (GtkWidget *widget, const char *name)
{
  AdwStyleManager *style = adw_style_manager_get_default ();
  g_autofree char *light = g_strdup_printf ("%s-light", name);
  g_autofree char *dark = g_strdup_printf ("%s-dark", name);

  adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_FORCE_LIGHT);
  save_screenshot (widget, light);
  adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_FORCE_DARK);
  save_screenshot (widget, dark);
  adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_FORCE_LIGHT);
}

/* ---- Fixture: a temporary data dir, and a home with a fake Ollama store ---- */

static char *test_root;
static guint test_counter;

static void
set_dir_env (const char *variable, const char *relative)
{
  g_autofree char *path = g_build_filename (test_root, relative, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0700), ==, 0);
  g_setenv (variable, path, TRUE);
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);
        remove_tree (child);
      }
  g_remove (path);
}

typedef struct
{
  TailorApplication *app;
  TailorWindow *window;
  char *ollama_blob;
  char *broken_model;
} Fixture;

static char *
write_ollama_model (const char *home)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *blobs = g_build_filename (home, ".ollama", "models", "blobs", NULL);
  g_autofree char *manifest_dir = g_build_filename (
    home, ".ollama", "models", "manifests", "registry.ollama.ai", "library", "tinyllama", NULL);
  g_autofree char *tmp = g_build_filename (blobs, "incoming", NULL);
  g_autofree char *sha = NULL;
  g_autofree char *blob_name = NULL;
  g_autofree char *blob = NULL;
  g_autofree char *manifest_path = g_build_filename (manifest_dir, "latest", NULL);
  g_autofree char *manifest = NULL;
  TailorTestModelParams params;
  GStatBuf st;

  g_assert_cmpint (g_mkdir_with_parents (blobs, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (manifest_dir, 0755), ==, 0);
  tailor_test_model_params_init (&params, TAILOR_ARCH_LLAMA);
  params.ftype = TAILOR_FTYPE_MOSTLY_Q4_K_M;
  params.n_vocab = 400;
  g_assert_true (tailor_test_model_write (&params, tmp, &error));
  g_assert_no_error (error);
  sha = tailor_file_sha256 (tmp, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  blob_name = g_strdup_printf ("sha256-%s", sha);
  blob = g_build_filename (blobs, blob_name, NULL);
  g_assert_cmpint (g_rename (tmp, blob), ==, 0);
  g_assert_cmpint (g_stat (blob, &st), ==, 0);
  manifest = g_strdup_printf (
    "{\"schemaVersion\":2,"
    "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
    "\"digest\":\"sha256:%064d\",\"size\":485},"
    "\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\","
    "\"digest\":\"sha256:%s\",\"size\":%" G_GINT64_FORMAT "}]}",
    7, sha, (gint64) st.st_size);
  g_file_set_contents (manifest_path, manifest, -1, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&blob);
}

static void
open_window (Fixture *f)
{
  g_application_activate (G_APPLICATION (f->app));
  f->window = TAILOR_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (f->app)));
  g_assert_nonnull (f->window);
  gtk_window_set_default_size (GTK_WINDOW (f->window), 1100, 860);
  settle ();
}

static void
close_window (Fixture *f)
{
  gtk_window_close (GTK_WINDOW (f->window));
  f->window = NULL;
  settle ();
  g_assert_null (gtk_application_get_active_window (GTK_APPLICATION (f->app)));
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *test_dir = g_strdup_printf ("%s/test-%u", test_root, ++test_counter);
  g_autofree char *data_dir = g_build_filename (test_dir, "data", NULL);
  g_autofree char *cache_dir = g_build_filename (test_dir, "cache", NULL);
  g_autofree char *gpt4all = NULL;
  g_autofree char *app_id = NULL;

  /* Each test starts with an empty catalogue and hash cache; the model stores in the shared
   * temporary home are the same for all. */
  g_setenv ("TAILOR_DATA_DIR", data_dir, TRUE);
  g_setenv ("TAILOR_CACHE_DIR", cache_dir, TRUE);
  f->ollama_blob = write_ollama_model (g_get_home_dir ());
  gpt4all = g_build_filename (g_get_home_dir (), ".local", "share", "nomic.ai", "GPT4All", NULL);
  g_assert_cmpint (g_mkdir_with_parents (gpt4all, 0755), ==, 0);
  f->broken_model = g_build_filename (gpt4all, "half-downloaded.gguf", NULL);
  g_file_set_contents (f->broken_model, "GGML but not GGUF", -1, &error);
  g_assert_no_error (error);

  f->app = tailor_application_new ();
  /* One application per test in one process: each needs its own D-Bus object path. */
  app_id = g_strdup_printf ("io.github.tailorapp.Tailor.Test%u", test_counter);
  g_application_set_application_id (G_APPLICATION (f->app), app_id);
  g_application_set_flags (G_APPLICATION (f->app), G_APPLICATION_NON_UNIQUE);
  g_assert_true (g_application_register (G_APPLICATION (f->app), NULL, &error));
  g_assert_no_error (error);
  g_assert_nonnull (tailor_application_get_catalogue (f->app));
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (),
                                      ADW_COLOR_SCHEME_FORCE_LIGHT);
  open_window (f);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  if (f->window != NULL)
    close_window (f);
  g_clear_object (&f->app);
  g_free (f->ollama_blob);
  g_free (f->broken_model);
  g_unsetenv ("TAILOR_DATA_DIR");
  g_unsetenv ("TAILOR_CACHE_DIR");
}

/* A second connection, as another process would see the catalogue. */
static TailorProject *
stored_project (const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorCatalogue) catalogue = tailor_catalogue_open (NULL, 0, &error);
  TailorProject *project;

  g_assert_no_error (error);
  project = tailor_catalogue_find_project (catalogue, name, &error);
  return project;
}

static void
create_project_with_dialog (Fixture *f, const char *name)
{
  AdwMessageDialog *dialog;
  GtkWidget *entry;

  gtk_widget_activate_action (GTK_WIDGET (f->window), "win.new-project", NULL);
  g_assert_true (wait_for (dialog_shown, NULL));
  dialog = find_dialog ();
  entry = adw_message_dialog_get_extra_child (dialog);
  g_assert_true (GTK_IS_ENTRY (entry));
  /* The suggested name is free, so Create starts enabled. */
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "ok"));
  gtk_editable_set_text (GTK_EDITABLE (entry), name);
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "ok"));
  respond (dialog, "ok");
  g_assert_true (wait_for (no_dialog, NULL));
  settle ();
}

static TailorWizard *
wizard_of (Fixture *f)
{
  return tailor_window_get_wizard (f->window);
}

static gboolean
model_page_idle (gpointer data)
{
  return !tailor_model_page_get_discovering (data);
}

static gboolean
model_page_hashed (gpointer data)
{
  return tailor_model_page_get_sha256 (data) != NULL;
}

static gboolean
row_shown (gpointer data)
{
  AdwActionRow *row = data;

  return gtk_widget_get_visible (GTK_WIDGET (row)) && gtk_widget_get_mapped (GTK_WIDGET (row));
}

static gboolean
step_is (gpointer data)
{
  void **args = data;

  return g_strcmp0 (tailor_wizard_get_step_id (args[0]), args[1]) == 0;
}

static void
wait_for_step (TailorWizard *wizard, const char *step)
{
  void *args[] = { wizard, (void *) step };

  g_assert_true (wait_for (step_is, args));
}


/* ---- Documents ---- */

/* Eight records: line 4 repeats line 1, line 3 holds an email address, line 5 is broken. */
static char *
write_support_jsonl (void)
{
  static const char *const records[] = {
    "{\"messages\":[{\"role\":\"user\",\"content\":\"How do I reset my password?\"},"
    "{\"role\":\"assistant\",\"content\":\"Open Settings, choose Account, then press Reset "
    "password and follow the link we send you.\"}]}",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Can I change the delivery address after "
    "ordering?\"},{\"role\":\"assistant\",\"content\":\"Yes, until the parcel ships: open the "
    "order and press Change address.\"}]}",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Who do I contact about an invoice?\"},"
    "{\"role\":\"assistant\",\"content\":\"Write to billing.team@example.com with the invoice "
    "number and we answer within a day.\"}]}",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"How do I reset my password?\"},"
    "{\"role\":\"assistant\",\"content\":\"Open Settings, choose Account, then press Reset "
    "password and follow the link we send you.\"}]}",
    "{\"messages\": [{\"role\": \"user\", \"content\": ",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Do you ship to Norway?\"},"
    "{\"role\":\"assistant\",\"content\":\"We ship to every country in the European Economic "
    "Area, Norway included.\"}]}",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Can I pay by bank transfer?\"},"
    "{\"role\":\"assistant\",\"content\":\"Bank transfer works for orders above fifty euros; the "
    "details are printed on every invoice.\"}]}",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"How long does a refund take?\"},"
    "{\"role\":\"assistant\",\"content\":\"Refunds reach your account five to ten working days "
    "after we receive the returned parcel.\"}]}",
  };
  g_autoptr (GError) error = NULL;
  g_autofree char *parent = g_path_get_dirname (g_getenv ("TAILOR_DATA_DIR"));
  g_autofree char *dir = g_build_filename (parent, "docs", NULL);
  g_autofree char *path = g_build_filename (dir, "support.jsonl", NULL);
  g_autoptr (GString) text = g_string_new (NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (records); i++)
    g_string_append_printf (text, "%s\n", records[i]);
  g_file_set_contents (path, text->str, text->len, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&path);
}

static gboolean
documents_idle (gpointer page)
{
  return !tailor_documents_page_get_busy (page);
}

static gboolean
documents_busy (gpointer page)
{
  return tailor_documents_page_get_busy (page);
}

static gboolean
is_group_titled (GtkWidget *widget, gconstpointer title)
{
  return ADW_IS_PREFERENCES_GROUP (widget) &&
         g_strcmp0 (adw_preferences_group_get_title (ADW_PREFERENCES_GROUP (widget)), title) == 0;
}

static AdwPreferencesGroup *
find_group (GtkWidget *root, const char *title)
{
  GtkWidget *group = find_widget (root, is_group_titled, title);

  g_assert_nonnull (group);
  return ADW_PREFERENCES_GROUP (group);
}

/* A list with rows: a preferences group also holds an empty one of its own. */
static gboolean
is_filled_list_box (GtkWidget *widget, gconstpointer data)
{
  return GTK_IS_LIST_BOX (widget) && gtk_widget_get_first_child (widget) != NULL;
}

/* The version rows, newest first, as the user reads them. */
static GPtrArray *
version_rows (GtkWidget *page)
{
  GtkWidget *list = find_widget (GTK_WIDGET (find_group (page, "Versions")), is_filled_list_box, NULL);
  GPtrArray *rows = g_ptr_array_new ();

  g_assert_nonnull (list);
  for (GtkWidget *row = gtk_widget_get_first_child (list); row != NULL;
       row = gtk_widget_get_next_sibling (row))
    if (ADW_IS_ACTION_ROW (row))
      g_ptr_array_add (rows, row);
  return rows;
}

static gboolean
row_is_current (GtkWidget *row)
{
  return gtk_widget_has_css_class (row, "tailor-current-version") &&
         find_widget (row, is_label_with, "Current") != NULL;
}

static gboolean
is_switch (GtkWidget *widget, gconstpointer data)
{
  return GTK_IS_SWITCH (widget);
}

static gboolean
is_scrolled_window (GtkWidget *widget, gconstpointer data)
{
  return GTK_IS_SCROLLED_WINDOW (widget);
}

/* Screenshots of a long page: its top, then scrolled to show the given row at the top. */
static void
screenshot_scrolled_to (GtkWidget *window, GtkWidget *page, GtkWidget *row, const char *name)
{
  GtkWidget *scrolled = find_widget (page, is_scrolled_window, NULL);
  GtkAdjustment *adjustment;
  graphene_point_t point;

  g_assert_nonnull (scrolled);
  adjustment = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scrolled));
  settle ();
  g_assert_true (gtk_widget_compute_point (row, gtk_scrolled_window_get_child (GTK_SCROLLED_WINDOW (scrolled)),
                                           &GRAPHENE_POINT_INIT (0, 0), &point));
  gtk_adjustment_set_value (adjustment, point.y - 12);
  screenshot_both (window, name);
  gtk_adjustment_set_value (adjustment, 0);
}

/* Imports the file through the page as a user would (drop, then Import) and waits. */
static void
import_support_file (TailorDocumentsPage *page, const char *path)
{
  const char *paths[] = { path, NULL };
  GtkWidget *import;

  tailor_documents_page_add_files (page, paths);
  settle ();
  assert_row_shown (GTK_WIDGET (page), "support.jsonl");
  import = find_button (GTK_WIDGET (page), "documents.import");
  g_assert_true (gtk_widget_is_sensitive (import));
  /* A button activates after its pressed look has shown, so the import starts a little later. */
  gtk_widget_activate (import);
  g_assert_true (wait_for (documents_busy, page));
  g_assert_true (wait_for (documents_idle, page));
  settle ();
}

/* The report after importing the support file: what a user must be able to see. */
static void
assert_support_report (GtkWidget *page)
{
  GtkWidget *duplicates = find_widget (page, is_row_titled, "Duplicates removed");
  AdwActionRow *email = find_row (page, "Email addresses");

  g_assert_nonnull (duplicates);
  g_assert_true (gtk_widget_get_mapped (duplicates));
  g_assert_cmpstr (adw_expander_row_get_subtitle (ADW_EXPANDER_ROW (duplicates)), ==,
                   "1 exact, 0 near duplicates");
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (email)));
  g_assert_true (g_str_has_prefix (adw_action_row_get_subtitle (email), "1 found"));
  /* The address itself never appears, only its masked ends. */
  g_assert_null (strstr (adw_action_row_get_subtitle (email), "billing.team"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (email), "support.jsonl:3"));
  assert_row_shown (page, "support.jsonl:5 — Not readable as a record");
  assert_row_shown (page, "Evaluation examples");
  g_assert_cmpstr (adw_action_row_get_subtitle (find_row (page, "Evaluation examples")), ==,
                   "Kept aside to measure — never trained on");
  assert_row_shown (page, "Leak check passed");
  assert_row_shown (page, "Freeze the evaluation set");
}

static void
walk_documents (Fixture *f, TailorWizard *wizard)
{
  GtkWidget *window = GTK_WIDGET (f->window);
  TailorWizardPage *page = tailor_wizard_get_page (wizard, "documents");
  GtkWidget *next = find_button (GTK_WIDGET (wizard), "wizard.next");
  g_autofree char *path = write_support_jsonl ();
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (GPtrArray) sources = NULL;
  g_autoptr (GError) error = NULL;
  AdwComboRow *license;
  GtkWidget *file_row;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autoptr (GPtrArray) rows = NULL;
  AdwComboRow *email;

  /* Nothing yet: the page invites files, and Next waits. */
  assert_row_shown (GTK_WIDGET (page), "Drop files here");
  g_assert_false (gtk_widget_is_sensitive (next));
  g_assert_null (tailor_documents_page_get_version_id (TAILOR_DOCUMENTS_PAGE (page)));
  screenshot_both (window, "08-documents-empty");

  tailor_documents_page_add_files (TAILOR_DOCUMENTS_PAGE (page),
                                   (const char *const[]){ path, NULL });
  settle ();
  assert_row_shown (GTK_WIDGET (page), "support.jsonl");
  /* The license is asked for before the import; unknown until the user says otherwise. */
  g_assert_cmpuint (
    adw_combo_row_get_selected (ADW_COMBO_ROW (find_row (GTK_WIDGET (page), "support.jsonl"))), ==,
    0);
  screenshot_both (window, "09-documents-ready");

  /* Import: one duplicate removed, one email found and redacted by default, the broken line
   * listed with its line number, and the split's evaluation set marked. */
  gtk_widget_activate (find_button (GTK_WIDGET (page), "documents.import"));
  g_assert_true (wait_for (documents_busy, page));
  g_assert_false (gtk_widget_is_sensitive (next));
  g_assert_true (wait_for (documents_idle, page));
  settle ();
  assert_support_report (GTK_WIDGET (page));
  email = ADW_COMBO_ROW (find_row (GTK_WIDGET (page), "Email addresses"));
  g_assert_cmpuint (adw_combo_row_get_selected (email), ==, 0);
  g_assert_nonnull (strstr (adw_preferences_group_get_description (find_group (GTK_WIDGET (page), "Lengths")),
                            "counted with the tokenizer"));
  first = g_strdup (tailor_documents_page_get_version_id (TAILOR_DOCUMENTS_PAGE (page)));
  g_assert_nonnull (first);
  rows = version_rows (GTK_WIDGET (page));
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_true (row_is_current (rows->pdata[0]));
  g_assert_nonnull (strstr (adw_preferences_row_get_title (rows->pdata[0]), "redacted 1 email"));
  g_clear_pointer (&rows, g_ptr_array_unref);
  g_assert_true (gtk_widget_is_sensitive (next));
  screenshot_both (window, "10-documents-report");
  screenshot_scrolled_to (window, GTK_WIDGET (page),
                          GTK_WIDGET (find_group (GTK_WIDGET (page), "Secrets and Personal Data")),
                          "11-documents-hygiene");
  screenshot_scrolled_to (window, GTK_WIDGET (page),
                          GTK_WIDGET (find_group (GTK_WIDGET (page), "Lengths")),
                          "12-documents-split-and-versions");

  /* Keeping emails builds a new version from the same file, with its changelog line. */
  adw_combo_row_set_selected (email, 2);
  g_assert_true (tailor_documents_page_get_busy (TAILOR_DOCUMENTS_PAGE (page)));
  g_assert_false (gtk_widget_is_sensitive (next));
  g_assert_true (wait_for (documents_idle, page));
  settle ();
  second = g_strdup (tailor_documents_page_get_version_id (TAILOR_DOCUMENTS_PAGE (page)));
  g_assert_cmpstr (second, !=, first);
  rows = version_rows (GTK_WIDGET (page));
  g_assert_cmpuint (rows->len, ==, 2);
  g_assert_true (g_str_has_prefix (adw_preferences_row_get_title (rows->pdata[0]),
                                   "Chose to keep emails"));
  g_assert_true (row_is_current (rows->pdata[0]));
  g_assert_false (row_is_current (rows->pdata[1]));
  g_clear_pointer (&rows, g_ptr_array_unref);
  g_assert_cmpuint (adw_combo_row_get_selected (
                      ADW_COMBO_ROW (find_row (GTK_WIDGET (page), "Email addresses"))),
                    ==, 2);
  g_assert_true (gtk_widget_is_sensitive (next));

  /* Redacting again gives exactly the first version back: content decides identity. */
  adw_combo_row_set_selected (ADW_COMBO_ROW (find_row (GTK_WIDGET (page), "Email addresses")), 0);
  g_assert_true (wait_for (documents_idle, page));
  settle ();
  g_assert_cmpstr (tailor_documents_page_get_version_id (TAILOR_DOCUMENTS_PAGE (page)), ==, first);
  rows = version_rows (GTK_WIDGET (page));
  g_assert_cmpuint (rows->len, ==, 2);
  g_assert_false (row_is_current (rows->pdata[0]));
  g_assert_true (row_is_current (rows->pdata[1]));
  g_clear_pointer (&rows, g_ptr_array_unref);
  assert_support_report (GTK_WIDGET (page));
  g_assert_true (gtk_widget_is_sensitive (next));

  /* A file's license changes after the import: stored in the catalogue, shown in the file's
   * summary, and no new version (the examples are the same). */
  license = ADW_COMBO_ROW (find_row (GTK_WIDGET (page), "License"));
  g_assert_cmpuint (adw_combo_row_get_selected (license), ==, 0);
  adw_combo_row_set_selected (license, 5);
  settle ();
  g_assert_false (tailor_documents_page_get_busy (TAILOR_DOCUMENTS_PAGE (page)));
  g_assert_cmpstr (tailor_documents_page_get_version_id (TAILOR_DOCUMENTS_PAGE (page)), ==, first);
  g_assert_nonnull (strstr (adw_expander_row_get_subtitle (ADW_EXPANDER_ROW (find_widget (
                              GTK_WIDGET (page), is_row_titled, "support.jsonl"))),
                            "MIT"));
  project = stored_project ("Support replies");
  catalogue = tailor_catalogue_open (NULL, 0, &error);
  g_assert_no_error (error);
  sources = tailor_catalogue_list_sources (catalogue, project->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sources->len, >=, 1);
  for (guint i = 0; i < sources->len; i++)
    g_assert_cmpstr (((TailorSource *) sources->pdata[i])->license, ==, "MIT");
  g_assert_true (gtk_widget_is_sensitive (next));
  file_row = find_widget (GTK_WIDGET (page), is_row_titled, "support.jsonl");
  adw_expander_row_set_expanded (ADW_EXPANDER_ROW (file_row), TRUE);
  screenshot_scrolled_to (window, GTK_WIDGET (page), file_row, "13-documents-file-license");
  adw_expander_row_set_expanded (ADW_EXPANDER_ROW (file_row), FALSE);
}

/* ---- Train ---- */

static gboolean
is_spin_button (GtkWidget *widget, gconstpointer data)
{
  return GTK_IS_SPIN_BUTTON (widget);
}

static GtkSpinButton *
row_spin (GtkWidget *page, const char *title)
{
  GtkWidget *spin = find_widget (GTK_WIDGET (find_row (page, title)), is_spin_button, NULL);

  g_assert_nonnull (spin);
  return GTK_SPIN_BUTTON (spin);
}

static gboolean
widget_mapped (gpointer widget)
{
  return gtk_widget_get_mapped (widget);
}

static gboolean
train_idle (gpointer page)
{
  return !tailor_train_page_get_busy (page);
}

static gboolean
run_final (gpointer page)
{
  TailorRunSupervisor *s = tailor_train_page_get_supervisor (page);

  return s != NULL && tailor_run_state_is_final (tailor_run_supervisor_get_state (s));
}

static gboolean
run_not_final (gpointer page)
{
  return !run_final (page);
}

static gint64 wanted_step;

/* Past wanted_step, or ended: a test then fails on the state it sees, not on a timeout. */
static gboolean
run_past_step (gpointer page)
{
  TailorRunSupervisor *s = tailor_train_page_get_supervisor (page);

  return s != NULL && (tailor_run_supervisor_get_step (s) >= wanted_step ||
                       tailor_run_state_is_final (tailor_run_supervisor_get_state (s)));
}

static TailorRunState
run_state (TailorWizardPage *page)
{
  TailorRunSupervisor *s = tailor_train_page_get_supervisor (TAILOR_TRAIN_PAGE (page));

  g_assert_nonnull (s);
  return tailor_run_supervisor_get_state (s);
}

static void
assert_run_ok (TailorWizardPage *page)
{
  TailorRunSupervisor *s = tailor_train_page_get_supervisor (TAILOR_TRAIN_PAGE (page));

  if (s != NULL && tailor_run_supervisor_get_state (s) == TAILOR_RUN_STATE_FAILED)
    g_error ("the training run failed: %s", tailor_run_supervisor_get_error_message (s));
}

static gboolean
is_line_chart (GtkWidget *widget, gconstpointer data)
{
  return TAILOR_IS_LINE_CHART (widget);
}

/* Points of a series of the page's chart: 0 training loss, 1 held-out loss. */
static guint
chart_points (GtkWidget *page, guint series)
{
  GtkWidget *chart = find_widget (page, is_line_chart, NULL);
  g_autoptr (TailorChartSeries) s = NULL;

  g_assert_nonnull (chart);
  s = g_list_model_get_item (tailor_line_chart_get_series (TAILOR_LINE_CHART (chart)), series);
  return tailor_chart_series_get_n_points (s);
}

static gboolean
is_shown_action_row_titled (GtkWidget *widget, gconstpointer title)
{
  return ADW_IS_ACTION_ROW (widget) && gtk_widget_get_mapped (widget) &&
         is_row_titled (widget, title);
}

static gboolean
automatic_device_known (gpointer page)
{
  GtkWidget *row = find_widget (GTK_WIDGET (page), is_row_titled, "Automatic");

  return row != NULL &&
         strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), "Now: ") != NULL;
}

static void
walk_train (Fixture *f)
{
  GtkWidget *window = GTK_WIDGET (f->window);
  TailorWizard *wizard = wizard_of (f);
  TailorWizardPage *page;
  GtkWidget *start;
  g_autofree char *real_cli = g_strdup (g_getenv ("TAILOR_CLI"));
  g_autofree char *lr = NULL;
  g_autofree char *run_dir = NULL;
  g_autoptr (JsonObject) settings = NULL;
  g_autoptr (TailorProject) stored = NULL;
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (GPtrArray) runs = NULL;
  g_autoptr (GArray) losses = NULL;
  g_autoptr (GError) error = NULL;
  const char *advanced[] = { "Method", "Attention layers", "Feed-forward layers", "Rank", "Alpha",
                             "Dropout", "Rank-stabilised scaling (rsLoRA)", "Learning rate",
                             "Schedule", "Warm-up steps", "Weight decay", "Gradient clipping",
                             "Sequence length", "Batch size", "Gradient accumulation",
                             "Passes over the examples", "Maximum steps",
                             "Pack short examples together", "Learn from",
                             "Gradient checkpointing", "Seed", "Held-out loss every",
                             "Checkpoint every", "Device" };
  const char *expanders[] = { "Device", "Adapter", "Optimizer", "Data and Batches", "Run" };
  TailorRunSupervisor *s;
  GtkWidget *device_row;
  gint64 paused_at;

  g_assert_nonnull (real_cli);
  tailor_wizard_show_step (wizard, "train");
  page = tailor_wizard_get_page (wizard, "train");
  settle ();

  /* Three plain choices, each saying what it does and how many steps it takes. */
  assert_row_shown (GTK_WIDGET (page), "Quick");
  assert_row_shown (GTK_WIDGET (page), "Balanced");
  assert_row_shown (GTK_WIDGET (page), "Thorough");
  g_assert_cmpint (tailor_train_page_get_preset (TAILOR_TRAIN_PAGE (page)), ==,
                   TAILOR_TRAIN_PRESET_BALANCED);
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (find_row (GTK_WIDGET (page), "Quick")),
                            "the time is estimated after your first run"));
  g_assert_nonnull (strstr (adw_preferences_group_get_description (
                              find_group (GTK_WIDGET (page), "How Thorough Should Training Be?")),
                            "1 held-out example measures the result."));
  start = find_button (GTK_WIDGET (page), "train.start");
  g_assert_true (gtk_widget_is_sensitive (start));
  screenshot_both (window, "50-train-choices");

  /* Advanced holds every run.json setting. */
  for (guint i = 0; i < G_N_ELEMENTS (expanders); i++)
    {
      GtkWidget *expander = find_widget (GTK_WIDGET (page), is_row_titled, expanders[i]);

      g_assert_nonnull (expander);
      g_assert_true (gtk_widget_get_mapped (expander));
      adw_expander_row_set_expanded (ADW_EXPANDER_ROW (expander), TRUE);
    }
  settle ();
  for (guint i = 0; i < G_N_ELEMENTS (advanced); i++)
    {
      GtkWidget *row = find_widget (GTK_WIDGET (page), is_row_titled, advanced[i]);

      g_test_message ("setting “%s”", advanced[i]);
      g_assert_nonnull (row);
      g_assert_true (gtk_widget_get_mapped (row));
    }
  screenshot_scrolled_to (window, GTK_WIDGET (page),
                          GTK_WIDGET (find_group (GTK_WIDGET (page), "Advanced")),
                          "51-train-advanced");

  /* The devices come from `tailor-cli devices`: Automatic says what it picks here, and the
   * processor is always on offer. */
  g_assert_true (wait_for (automatic_device_known, page));
  assert_row_shown (GTK_WIDGET (page), "Processor (CPU)");
  settings = tailor_train_page_dup_settings (TAILOR_TRAIN_PAGE (page));
  g_assert_cmpstr (json_object_get_string_member (settings, "device"), ==, "auto");
  g_clear_pointer (&settings, json_object_unref);

  /* Quick makes one pass; Thorough more than Balanced, with a larger adapter. */
  adw_action_row_activate (find_row (GTK_WIDGET (page), "Quick"));
  settings = tailor_train_page_dup_settings (TAILOR_TRAIN_PAGE (page));
  g_assert_cmpint (json_object_get_int_member (settings, "epochs"), ==, 1);
  g_clear_pointer (&settings, json_object_unref);
  adw_action_row_activate (find_row (GTK_WIDGET (page), "Thorough"));
  settings = tailor_train_page_dup_settings (TAILOR_TRAIN_PAGE (page));
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (settings, "lora"),
                                               "rank"),
                   >, 16);
  g_clear_pointer (&settings, json_object_unref);
  adw_action_row_activate (find_row (GTK_WIDGET (page), "Quick"));
  /* The model's context is 256 tokens: the sequence length never exceeds it. */
  g_assert_cmpint (gtk_spin_button_get_value_as_int (row_spin (GTK_WIDGET (page), "Sequence length")),
                   <=, 256);

  /* A learning rate that is not a number is explained, and blocks the start. */
  lr = g_strdup (gtk_editable_get_text (
    GTK_EDITABLE (find_widget (GTK_WIDGET (page), is_row_titled, "Learning rate"))));
  gtk_editable_set_text (GTK_EDITABLE (find_widget (GTK_WIDGET (page), is_row_titled,
                                                    "Learning rate")),
                         "fast");
  g_assert_false (gtk_widget_is_sensitive (start));
  g_assert_nonnull (find_widget (GTK_WIDGET (page), is_label_with,
                                 "The learning rate must be a number above 0 and at most 0.1, "
                                 "such as 0.0002."));
  gtk_editable_set_text (GTK_EDITABLE (find_widget (GTK_WIDGET (page), is_row_titled,
                                                    "Learning rate")),
                         lr);
  g_assert_true (gtk_widget_is_sensitive (start));

  /* A trainer that dies without a word: the error is shown with advice, and a new run is
   * offered (there is no checkpoint to resume from). */
  g_setenv ("TAILOR_CLI", "/bin/false", TRUE);
  gtk_widget_activate (start);
  g_assert_true (wait_for (run_final, page));
  g_assert_true (wait_for (train_idle, page));
  settle ();
  g_assert_cmpint (run_state (page), ==, TAILOR_RUN_STATE_FAILED);
  assert_row_shown (GTK_WIDGET (page), "Training Failed");
  assert_row_shown (GTK_WIDGET (page),
                    "The training process stopped with exit status 1 without saying why");
  g_assert_cmpstr (adw_action_row_get_subtitle (find_row (
                     GTK_WIDGET (page),
                     "The training process stopped with exit status 1 without saying why")),
                   ==, "No checkpoint was written before it stopped. Start a new run.");
  g_assert_true (gtk_widget_get_mapped (find_button (GTK_WIDGET (page), "train.new")));
  g_assert_false (gtk_widget_get_mapped (find_button (GTK_WIDGET (page), "train.resume")));
  screenshot_both (window, "52-train-failed");
  gtk_widget_activate (find_button (GTK_WIDGET (page), "train.new"));
  g_assert_true (wait_for (widget_mapped, start));
  g_setenv ("TAILOR_CLI", real_cli, TRUE);

  /* The real trainer, small enough to be quick and long enough to pause. */
  gtk_spin_button_set_value (row_spin (GTK_WIDGET (page), "Sequence length"), 128);
  gtk_spin_button_set_value (row_spin (GTK_WIDGET (page), "Batch size"), 1);
  gtk_spin_button_set_value (row_spin (GTK_WIDGET (page), "Maximum steps"), 120);
  gtk_spin_button_set_value (row_spin (GTK_WIDGET (page), "Held-out loss every"), 20);
  gtk_spin_button_set_value (row_spin (GTK_WIDGET (page), "Checkpoint every"), 20);
  adw_action_row_activate (find_row (GTK_WIDGET (page), "Processor (CPU)"));
  settings = tailor_train_page_dup_settings (TAILOR_TRAIN_PAGE (page));
  g_assert_cmpstr (json_object_get_string_member (settings, "device"), ==, "cpu");
  g_clear_pointer (&settings, json_object_unref);
  g_assert_cmpstr (adw_expander_row_get_subtitle (ADW_EXPANDER_ROW (find_widget (
                     GTK_WIDGET (page), is_row_titled, "Device"))),
                   ==, "Processor (CPU)");
  g_assert_true (gtk_widget_is_sensitive (start));
  gtk_widget_activate (start);
  wanted_step = 3;
  g_assert_true (wait_for (run_past_step, page));
  assert_run_ok (page);
  g_assert_cmpint (run_state (page), ==, TAILOR_RUN_STATE_RUNNING);
  settle ();
  g_assert_cmpuint (chart_points (GTK_WIDGET (page), 0), >=, 3);
  assert_row_shown (GTK_WIDGET (page), "Training…");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (find_row (GTK_WIDGET (page), "Step")),
                            "of 120"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (find_row (GTK_WIDGET (page), "Speed")),
                            "tokens per second"));
  /* The run says where it trains, as the trainer reported it. */
  device_row = find_widget (GTK_WIDGET (page), is_shown_action_row_titled, "Device");
  g_assert_nonnull (device_row);
  g_assert_true (g_str_has_prefix (adw_action_row_get_subtitle (ADW_ACTION_ROW (device_row)),
                                   "cpu ("));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (device_row)),
                            "\nProcessor (CPU)"));
  screenshot_both (window, "53-train-running");

  /* Pause: a checkpoint, then Paused with Resume offered. */
  gtk_widget_activate (find_button (GTK_WIDGET (page), "train.pause"));
  g_assert_true (wait_for (run_final, page));
  assert_run_ok (page);
  g_assert_cmpint (run_state (page), ==, TAILOR_RUN_STATE_PAUSED);
  paused_at = tailor_run_supervisor_get_step (tailor_train_page_get_supervisor (TAILOR_TRAIN_PAGE (page)));
  g_assert_cmpint (paused_at, <, 120);
  settle ();
  assert_row_shown (GTK_WIDGET (page), "Paused");
  g_assert_true (gtk_widget_get_mapped (find_button (GTK_WIDGET (page), "train.resume")));
  screenshot_both (window, "54-train-paused");

  /* Reopening shows the paused run with its curve; Resume continues it. */
  close_window (f);
  open_window (f);
  window = GTK_WIDGET (f->window);
  wizard = wizard_of (f);
  g_assert_cmpstr (tailor_wizard_get_step_id (wizard), ==, "train");
  page = tailor_wizard_get_page (wizard, "train");
  settle ();
  g_assert_cmpint (run_state (page), ==, TAILOR_RUN_STATE_PAUSED);
  g_assert_cmpuint (chart_points (GTK_WIDGET (page), 0), >=, (guint) paused_at);
  gtk_widget_activate (find_button (GTK_WIDGET (page), "train.resume"));
  g_assert_true (wait_for (run_not_final, page));
  wanted_step = paused_at + 3;
  g_assert_true (wait_for (run_past_step, page));
  assert_run_ok (page);

  /* Closing the window mid-run leaves the child training; the reopened window follows it. */
  run_dir = g_strdup (tailor_run_supervisor_get_run_dir (
    tailor_train_page_get_supervisor (TAILOR_TRAIN_PAGE (page))));
  if (run_state (page) == TAILOR_RUN_STATE_RUNNING)
    {
      g_test_message ("closing the window at step %" G_GINT64_FORMAT " of a running run",
                      tailor_run_supervisor_get_step (
                        tailor_train_page_get_supervisor (TAILOR_TRAIN_PAGE (page))));
      close_window (f);
      g_assert_true (tailor_run_dir_child_alive (run_dir));
      open_window (f);
      window = GTK_WIDGET (f->window);
      wizard = wizard_of (f);
      page = tailor_wizard_get_page (wizard, "train");
      g_assert_nonnull (tailor_train_page_get_supervisor (TAILOR_TRAIN_PAGE (page)));
    }
  g_assert_true (wait_for (run_final, page));
  assert_run_ok (page);
  settle ();
  g_assert_cmpint (run_state (page), ==, TAILOR_RUN_STATE_DONE);
  assert_row_shown (GTK_WIDGET (page), "Finished");
  /* One point per step: the steps a resume repeats replace the old ones. */
  g_assert_cmpuint (chart_points (GTK_WIDGET (page), 0), ==, 120);
  g_assert_cmpuint (chart_points (GTK_WIDGET (page), 1), >=, 6);
  g_assert_true (gtk_widget_is_sensitive (find_button (GTK_WIDGET (wizard), "wizard.next")));
  screenshot_both (window, "55-train-finished");

  /* The catalogue has the run as done, with its losses. */
  catalogue = tailor_catalogue_open (NULL, 0, &error);
  g_assert_no_error (error);
  stored = tailor_catalogue_find_project (catalogue, "Support replies", &error);
  g_assert_no_error (error);
  runs = tailor_catalogue_list_runs (catalogue, stored->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (runs->len, ==, 2);
  g_assert_cmpstr (((TailorRun *) runs->pdata[0])->status, ==, "failed");
  g_assert_cmpstr (((TailorRun *) runs->pdata[1])->status, ==, "done");
  losses = tailor_catalogue_list_metrics (catalogue, ((TailorRun *) runs->pdata[1])->id, "loss",
                                          &error);
  g_assert_no_error (error);
  g_assert_cmpuint (losses->len, ==, 120);
  s = tailor_train_page_get_supervisor (TAILOR_TRAIN_PAGE (page));
  g_assert_true (g_file_test (tailor_run_supervisor_get_run_dir (s), G_FILE_TEST_IS_DIR));
}

static void
test_goal_and_model_survive_reopen (Fixture *f, gconstpointer data)
{
  GtkWidget *window = GTK_WIDGET (f->window);
  TailorWizard *wizard;
  TailorWizardPage *goal_page, *model_page;
  GtkWidget *next;
  AdwMessageDialog *dialog;
  g_autoptr (TailorProject) stored = NULL;
  g_autofree char *expected_sha = NULL;
  g_autoptr (GError) error = NULL;
  const char *behaviours[] = { "Format and structure", "Tone and clarity",
                               "Terminology and style", "Tool use and refusals",
                               "A narrow task", "Style-guide adherence" };
  const char *pending[] = { "checks", "results", "export" };
  TailorWizardPage *documents_page;
  g_autofree char *version = NULL;

  /* Nothing yet: the welcome page invites the first project. */
  g_assert_nonnull (find_widget (window, is_status_page_titled, "Teach a Model Your Way"));
  screenshot_both (window, "01-welcome");

  create_project_with_dialog (f, "Support replies");
  wizard = wizard_of (f);
  g_assert_cmpstr (tailor_wizard_get_step_id (wizard), ==, "goal");
  goal_page = tailor_wizard_get_page (wizard, "goal");
  model_page = tailor_wizard_get_page (wizard, "model");
  next = find_button (GTK_WIDGET (wizard), "wizard.next");

  /* Goal: every behaviour is offered with its sentence; Next waits for a choice. */
  for (guint i = 0; i < G_N_ELEMENTS (behaviours); i++)
    assert_row_shown (GTK_WIDGET (goal_page), behaviours[i]);
  assert_row_shown (GTK_WIDGET (goal_page), "Answer questions from my documents");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (find_row (window, "Tone and clarity")),
                            "Example:"));
  g_assert_false (gtk_widget_is_sensitive (next));
  g_assert_nonnull (find_widget (window, is_label_with, "Goal"));
  screenshot_both (window, "02-goal-empty");

  adw_action_row_activate (find_row (GTK_WIDGET (goal_page), "Tone and clarity"));
  settle ();
  g_assert_true (gtk_widget_is_sensitive (next));
  g_assert_cmpint (tailor_goal_page_get_goals (TAILOR_GOAL_PAGE (goal_page)), ==, TAILOR_GOAL_TONE);
  g_assert_cmpstr (adw_action_row_get_subtitle (find_row (window, "Learning rate")), ==, "0.0001");
  stored = stored_project ("Support replies");
  g_assert_cmpstr (stored->goal, ==, "tone");
  g_clear_pointer (&stored, tailor_project_free);

  /* Documents QA: the explanation comes first, and the choice counts only after Continue. */
  adw_action_row_activate (find_row (GTK_WIDGET (goal_page), "Answer questions from my documents"));
  g_assert_true (wait_for (dialog_shown, NULL));
  dialog = find_dialog ();
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, "Retrieval Fits This Better");
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), "does not make the model"));
  g_assert_cmpint (tailor_goal_page_get_goals (TAILOR_GOAL_PAGE (goal_page)), ==, TAILOR_GOAL_TONE);
  save_screenshot (GTK_WIDGET (dialog), "03-goal-documents-explanation-light");
  respond (dialog, "continue");
  g_assert_true (wait_for (no_dialog, NULL));
  g_assert_cmpint (tailor_goal_page_get_goals (TAILOR_GOAL_PAGE (goal_page)), ==,
                   TAILOR_GOAL_TONE | TAILOR_GOAL_DOCUMENTS_QA);
  g_assert_cmpstr (adw_action_row_get_subtitle (find_row (window, "Learns from")), ==,
                   "All text, prompts and documents included");
  stored = stored_project ("Support replies");
  g_assert_cmpstr (stored->goal, ==, "tone,documents-qa");
  g_clear_pointer (&stored, tailor_project_free);
  screenshot_both (window, "04-goal-chosen");

  /* Model: the Ollama model and the broken GPT4All file are both listed. */
  gtk_widget_activate (next);
  wait_for_step (wizard, "model");
  stored = stored_project ("Support replies");
  g_assert_cmpstr (stored->wizard_step, ==, "model");
  g_clear_pointer (&stored, tailor_project_free);
  g_assert_true (wait_for (model_page_idle, model_page));
  settle ();
  assert_row_shown (GTK_WIDGET (model_page), "tinyllama:latest");
  assert_row_shown (GTK_WIDGET (model_page), "half-downloaded");
  g_assert_false (gtk_widget_is_sensitive (next));
  screenshot_both (window, "05-model-list");

  /* An unusable file is shown with the reason, and Next stays off. */
  adw_action_row_activate (find_row (GTK_WIDGET (model_page), "half-downloaded"));
  g_assert_true (wait_for (row_shown,
                           find_row (GTK_WIDGET (model_page), "Tailor cannot train this model")));
  g_assert_nonnull (
    strstr (adw_action_row_get_subtitle (find_row (window, "Tailor cannot train this model")),
            "half-downloaded.gguf"));
  g_assert_false (gtk_widget_is_sensitive (next));
  screenshot_both (window, "06-model-unsupported");

  /* The generated model: facts, then the pinned fingerprint, then Next. */
  adw_action_row_activate (find_row (GTK_WIDGET (model_page), "tinyllama:latest"));
  g_assert_true (wait_for (model_page_hashed, model_page));
  settle ();
  expected_sha = tailor_file_sha256 (f->ollama_blob, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tailor_model_page_get_sha256 (TAILOR_MODEL_PAGE (model_page)), ==, expected_sha);
  g_assert_false (gtk_widget_get_visible (
    GTK_WIDGET (find_row (GTK_WIDGET (model_page), "Tailor cannot train this model"))));
  g_assert_cmpstr (adw_action_row_get_subtitle (find_row (window, "Architecture")), ==, "llama");
  g_assert_cmpstr (adw_action_row_get_subtitle (find_row (window, "Fingerprint (SHA-256)")), ==,
                   expected_sha);
  g_assert_nonnull (
    strstr (adw_action_row_get_subtitle (find_row (window, "Quantization")), "Q4_K"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (find_row (window, "License")), "apache"));
  g_assert_true (gtk_widget_is_sensitive (next));
  stored = stored_project ("Support replies");
  g_assert_cmpstr (stored->base_model_path, ==, f->ollama_blob);
  g_assert_cmpstr (stored->base_model_sha256, ==, expected_sha);
  g_clear_pointer (&stored, tailor_project_free);
  screenshot_both (window, "07-model-chosen");

  /* Closing and reopening lands on the same step with the same choices. */
  close_window (f);
  open_window (f);
  window = GTK_WIDGET (f->window);
  wizard = wizard_of (f);
  goal_page = tailor_wizard_get_page (wizard, "goal");
  model_page = tailor_wizard_get_page (wizard, "model");
  next = find_button (GTK_WIDGET (wizard), "wizard.next");
  g_assert_cmpstr (tailor_wizard_get_step_id (wizard), ==, "model");
  g_assert_cmpint (tailor_goal_page_get_goals (TAILOR_GOAL_PAGE (goal_page)), ==,
                   TAILOR_GOAL_TONE | TAILOR_GOAL_DOCUMENTS_QA);
  g_assert_cmpstr (tailor_model_page_get_path (TAILOR_MODEL_PAGE (model_page)), ==,
                   f->ollama_blob);
  g_assert_cmpstr (tailor_model_page_get_sha256 (TAILOR_MODEL_PAGE (model_page)), ==,
                   expected_sha);
  g_assert_true (wait_for (row_shown, find_row (GTK_WIDGET (model_page), "Architecture")));
  g_assert_true (wait_for (model_page_idle, model_page));
  settle ();
  g_assert_true (gtk_widget_is_sensitive (next));

  /* Documents: import, the report, a redaction choice that makes a new version, then Next. */
  gtk_widget_activate (next);
  wait_for_step (wizard, "documents");
  settle ();
  stored = stored_project ("Support replies");
  g_assert_cmpstr (stored->wizard_step, ==, "documents");
  g_clear_pointer (&stored, tailor_project_free);
  walk_documents (f, wizard);
  version = g_strdup (tailor_documents_page_get_version_id (
    TAILOR_DOCUMENTS_PAGE (tailor_wizard_get_page (wizard, "documents"))));

  /* Reopening shows the same version and its report, and Next is available again. */
  close_window (f);
  open_window (f);
  window = GTK_WIDGET (f->window);
  wizard = wizard_of (f);
  next = find_button (GTK_WIDGET (wizard), "wizard.next");
  documents_page = tailor_wizard_get_page (wizard, "documents");
  g_assert_cmpstr (tailor_wizard_get_step_id (wizard), ==, "documents");
  g_assert_true (wait_for (documents_idle, documents_page));
  settle ();
  g_assert_cmpstr (tailor_documents_page_get_version_id (TAILOR_DOCUMENTS_PAGE (documents_page)),
                   ==, version);
  assert_support_report (GTK_WIDGET (documents_page));
  g_assert_true (gtk_widget_is_sensitive (next));

  /* The steps not built yet say so; Checks lets the user go on to training. */
  gtk_widget_activate (next);
  wait_for_step (wizard, "checks");
  settle ();
  g_assert_nonnull (find_widget (window, is_status_page_titled, "Checks Is Not Available Yet"));
  g_assert_true (gtk_widget_is_sensitive (next));
  for (guint i = 0; i < G_N_ELEMENTS (pending); i++)
    {
      g_autofree char *name = g_strdup_printf ("%02u-%s", 13 + i, pending[i]);

      tailor_wizard_show_step (wizard, pending[i]);
      screenshot_both (window, name);
    }

  /* Back returns to the documents, with their report still shown. */
  tailor_wizard_show_step (wizard, "checks");
  gtk_widget_activate (find_button (GTK_WIDGET (wizard), "wizard.back"));
  wait_for_step (wizard, "documents");
  assert_row_shown (GTK_WIDGET (documents_page), "Leak check passed");

  walk_train (f);
}

static gboolean
match_leaflet (GtkWidget *widget, gconstpointer data)
{
  return ADW_IS_LEAFLET (widget);
}

static gboolean
match_toast_overlay (GtkWidget *widget, gconstpointer data)
{
  return ADW_IS_TOAST_OVERLAY (widget);
}

static gboolean
leaflet_folded (gpointer data)
{
  GtkWidget *leaflet = find_widget (data, match_leaflet, NULL);

  return adw_leaflet_get_folded (ADW_LEAFLET (leaflet));
}

static void
test_narrow_window_folds (Fixture *f, gconstpointer data)
{
  GtkWidget *window = GTK_WIDGET (f->window);
  GtkWidget *sidebar_button;
  TailorWizardPage *page;
  g_autofree char *path = write_support_jsonl ();
  g_autoptr (GPtrArray) rows = NULL;
  GtkWidget *toggle;

  create_project_with_dialog (f, "Narrow");
  gtk_window_set_default_size (GTK_WINDOW (window), 360, 720);
  g_assert_true (wait_for (leaflet_folded, window));
  settle ();
  screenshot_both (window, "20-narrow-goal");
  g_assert_cmpint (gtk_widget_get_width (window), <=, 360);

  /* Documents fit too; without a model the lengths are estimated, and the page says so. */
  tailor_wizard_show_step (wizard_of (f), "documents");
  page = tailor_wizard_get_page (wizard_of (f), "documents");
  settle ();
  import_support_file (TAILOR_DOCUMENTS_PAGE (page), path);
  assert_support_report (GTK_WIDGET (page));
  g_assert_nonnull (strstr (adw_preferences_group_get_description (find_group (GTK_WIDGET (page), "Lengths")),
                            "estimated at about 4 characters per token"));
  g_assert_cmpint (gtk_widget_get_width (window), <=, 360);
  screenshot_both (window, "22-narrow-documents");

  /* Train waits for a model, and says so. */
  tailor_wizard_show_step (wizard_of (f), "train");
  settle ();
  assert_row_shown (GTK_WIDGET (tailor_wizard_get_page (wizard_of (f), "train")),
                    "Choose a base model in the Model step first.");
  g_assert_false (gtk_widget_is_sensitive (
    find_button (GTK_WIDGET (tailor_wizard_get_page (wizard_of (f), "train")), "train.start")));
  g_assert_cmpint (gtk_widget_get_width (window), <=, 360);
  screenshot_both (window, "26-narrow-train");
  tailor_wizard_show_step (wizard_of (f), "documents");
  settle ();
  screenshot_scrolled_to (window, GTK_WIDGET (page),
                          GTK_WIDGET (find_group (GTK_WIDGET (page), "Secrets and Personal Data")),
                          "23-narrow-documents-hygiene");
  screenshot_scrolled_to (window, GTK_WIDGET (page),
                          GTK_WIDGET (find_group (GTK_WIDGET (page), "Lengths")),
                          "24-narrow-documents-split");

  /* A glossary term makes a new version with the term applied, and is listed. */
  gtk_editable_set_text (GTK_EDITABLE (find_widget (GTK_WIDGET (page), is_row_titled, "Variant")),
                         "parcel");
  gtk_editable_set_text (
    GTK_EDITABLE (find_widget (GTK_WIDGET (page), is_row_titled, "Preferred term")), "package");
  gtk_widget_activate (find_button (GTK_WIDGET (page), "documents.add-term"));
  g_assert_true (wait_for (documents_busy, page));
  g_assert_true (wait_for (documents_idle, page));
  settle ();
  assert_row_shown (GTK_WIDGET (page), "parcel → package");
  assert_row_shown (GTK_WIDGET (page), "2 replacements in 2 examples of the current version");
  rows = version_rows (GTK_WIDGET (page));
  g_assert_cmpuint (rows->len, ==, 2);
  g_assert_true (g_str_has_prefix (adw_preferences_row_get_title (rows->pdata[0]),
                                   "Glossary: added “parcel” → “package”"));
  g_clear_pointer (&rows, g_ptr_array_unref);

  /* A file of counter-examples stays in training: nothing is left to measure, so Next waits. */
  toggle = find_widget (GTK_WIDGET (find_row (GTK_WIDGET (page), "Examples of what not to do")),
                        is_switch, NULL);
  g_assert_nonnull (toggle);
  gtk_switch_set_active (GTK_SWITCH (toggle), TRUE);
  g_assert_true (wait_for (documents_idle, page));
  settle ();
  g_assert_nonnull (
    find_widget (GTK_WIDGET (find_row (GTK_WIDGET (page), "Evaluation examples")), is_label_with, "0"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (find_row (GTK_WIDGET (page), "Training examples")),
                            "examples of what not to do"));
  g_assert_false (gtk_widget_is_sensitive (find_button (GTK_WIDGET (wizard_of (f)), "wizard.next")));
  screenshot_scrolled_to (window, GTK_WIDGET (page),
                          GTK_WIDGET (find_group (GTK_WIDGET (page), "Training and Evaluation")),
                          "25-narrow-documents-counter-examples");

  tailor_wizard_show_step (wizard_of (f), "goal");
  settle ();
  sidebar_button = find_button (window, "win.show-projects");
  g_assert_true (gtk_widget_get_mapped (sidebar_button));
  assert_row_shown (window, "Tone and clarity");
  gtk_widget_activate (sidebar_button);
  settle ();
  g_assert_nonnull (find_widget (window, is_label_with, "Narrow"));
  screenshot_both (window, "21-narrow-projects");
}

static gboolean
label_first_shown (gpointer window)
{
  return find_widget (window, is_label_with, "First") != NULL;
}

static void
test_projects_create_rename_delete_undo (Fixture *f, gconstpointer data)
{
  GtkWidget *window = GTK_WIDGET (f->window);
  AdwMessageDialog *dialog;
  GtkWidget *entry;
  g_autoptr (TailorProject) stored = NULL;
  GtkWidget *overlay;
  GtkWidget *toast_widget;

  create_project_with_dialog (f, "First");
  adw_action_row_activate (find_row (window, "A narrow task"));
  create_project_with_dialog (f, "Second");
  g_assert_nonnull (find_widget (window, is_label_with, "First"));
  g_assert_nonnull (find_widget (window, is_label_with, "Second"));

  /* A name already taken cannot be created twice. */
  gtk_widget_activate_action (window, "win.new-project", NULL);
  g_assert_true (wait_for (dialog_shown, NULL));
  dialog = find_dialog ();
  entry = adw_message_dialog_get_extra_child (dialog);
  gtk_editable_set_text (GTK_EDITABLE (entry), "First");
  g_assert_false (adw_message_dialog_get_response_enabled (dialog, "ok"));
  save_screenshot (GTK_WIDGET (dialog), "30-new-project-name-taken-light");
  respond (dialog, "cancel");
  g_assert_true (wait_for (no_dialog, NULL));

  /* Rename the selected project (Second). */
  gtk_widget_activate_action (window, "win.rename-project", NULL);
  g_assert_true (wait_for (dialog_shown, NULL));
  dialog = find_dialog ();
  entry = adw_message_dialog_get_extra_child (dialog);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (entry)), ==, "Second");
  gtk_editable_set_text (GTK_EDITABLE (entry), "Second, renamed");
  respond (dialog, "ok");
  g_assert_true (wait_for (no_dialog, NULL));
  settle ();
  g_assert_nonnull (find_widget (window, is_label_with, "Second, renamed"));
  g_assert_null (find_widget (window, is_label_with, "Second"));
  stored = stored_project ("Second, renamed");
  g_assert_nonnull (stored);
  g_clear_pointer (&stored, tailor_project_free);

  /* Delete First, then undo: it comes back with its goal. */
  tailor_window_select_project (f->window, 0);
  stored = stored_project ("First");
  tailor_window_select_project (f->window, stored->id);
  g_clear_pointer (&stored, tailor_project_free);
  settle ();
  gtk_widget_activate_action (window, "win.delete-project", NULL);
  settle ();
  g_assert_null (find_widget (window, is_label_with, "First"));
  overlay = find_widget (window, match_toast_overlay, NULL);
  g_assert_nonnull (overlay);
  toast_widget = find_widget (window, is_label_with, "“First” deleted");
  g_assert_nonnull (toast_widget);
  screenshot_both (window, "31-project-deleted-toast");
  gtk_widget_activate (find_widget (overlay, is_button_labelled, "_Undo"));
  g_assert_true (wait_for (label_first_shown, window));
  stored = stored_project ("First");
  g_assert_nonnull (stored);
  g_assert_cmpstr (stored->goal, ==, "narrow-task");

  /* Delete again and let the toast go: now it is gone from the catalogue. */
  tailor_window_select_project (f->window, stored->id);
  g_clear_pointer (&stored, tailor_project_free);
  settle ();
  gtk_widget_activate_action (window, "win.delete-project", NULL);
  settle ();
  close_window (f);
  stored = stored_project ("First");
  g_assert_null (stored);
  stored = stored_project ("Second, renamed");
  g_assert_nonnull (stored);
}

static gboolean
shortcuts_shown (gpointer data)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr (GObject) window = g_list_model_get_item (toplevels, i);

      if (GTK_IS_SHORTCUTS_WINDOW (window) && gtk_widget_get_mapped (GTK_WIDGET (window)))
        {
          *(GtkWidget **) data = GTK_WIDGET (window);
          return TRUE;
        }
    }
  return FALSE;
}

static void
test_shortcuts_window_lists_main_actions (Fixture *f, gconstpointer data)
{
  GtkWidget *shortcuts = NULL;
  const char *titles[] = { "New project", "Rename project", "Delete project", "Next step",
                           "Previous step", "Choose a model file", "Add documents",
                           "Start training", "Pause training", "Resume training", "Help" };
  g_auto (GStrv) accels = NULL;

  gtk_widget_activate_action (GTK_WIDGET (f->window), "win.show-help-overlay", NULL);
  g_assert_true (wait_for (shortcuts_shown, &shortcuts));
  for (guint i = 0; i < G_N_ELEMENTS (titles); i++)
    {
      g_test_message ("shortcut “%s”", titles[i]);
      g_assert_nonnull (find_widget (shortcuts, is_label_with, titles[i]));
    }
  accels = gtk_application_get_accels_for_action (GTK_APPLICATION (f->app), "wizard.next");
  g_assert_cmpstr (accels[0], ==, "<Alt>Right");
  save_screenshot (shortcuts, "40-shortcuts-light");
  gtk_window_destroy (GTK_WINDOW (shortcuts));
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  /* A home of our own, set before GLib reads it. Not G_TEST_OPTION_ISOLATE_DIRS: that also
   * empties XDG_DATA_DIRS, and without the system's icon theme and MIME database the window
   * has no icons to render. */
  test_root = g_dir_make_tmp ("tailor-ui-XXXXXX", &error);
  g_assert_no_error (error);
  set_dir_env ("HOME", "home");
  set_dir_env ("XDG_DATA_HOME", "home/.local/share");
  set_dir_env ("XDG_CACHE_HOME", "home/.cache");
  set_dir_env ("XDG_CONFIG_HOME", "home/.config");
  set_dir_env ("XDG_STATE_HOME", "home/.local/state");

  gtk_test_init (&argc, &argv, NULL);
  adw_init ();
  /* The Train step runs the real trainer of this build. */
  if (g_getenv ("TAILOR_CLI") == NULL && g_getenv ("G_TEST_BUILDDIR") != NULL)
    {
      g_autofree char *cli = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "..", "..", "src",
                                               "cli", "tailor-cli", NULL);

      g_setenv ("TAILOR_CLI", cli, TRUE);
    }
  /* No animations, so a screenshot shows where a transition ends; GNOME's own title-button
   * layout, since a bare X server would otherwise add minimize and maximize. */
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE,
                "gtk-decoration-layout", "appmenu:close", NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/ui/wizard/goal-and-model-survive-reopen", test_goal_and_model_survive_reopen);
  ADD ("/ui/window/narrow-window-folds", test_narrow_window_folds);
  ADD ("/ui/projects/create-rename-delete-undo", test_projects_create_rename_delete_undo);
  ADD ("/ui/shortcuts/window-lists-main-actions", test_shortcuts_window_lists_main_actions);
#undef ADD

  status = g_test_run ();
  remove_tree (test_root);
  g_free (test_root);
  return status;
}
