/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorDocumentsPage: files in by drag and drop or a chooser, every build and report in a
 * worker thread with progress and cancel, and the report of the current version. */
#include "config.h"

#include <glib/gi18n.h>

#include "tailor-bar-chart.h"
#include "tailor-documents-page.h"
#include "tailor-documents-work.h"

/* Licenses offered for a file: the stored text (NULL: unknown) and what the user reads. */
static const struct
{
  const char *id;
  const char *label;
} licenses[] = {
  { NULL, N_("Unknown") },
  { "own-work", N_("My own work") },
  { "CC-BY-4.0", N_("CC BY 4.0") },
  { "CC-BY-SA-4.0", N_("CC BY-SA 4.0") },
  { "CC0-1.0", N_("CC0 (public domain)") },
  { "MIT", N_("MIT") },
  { "Apache-2.0", N_("Apache 2.0") },
  { "with-permission", N_("Used with permission") },
};

/* Kinds of secrets as the page names them, and as the changelog (stored, in English) does. */
static const struct
{
  const char *label;
  const char *changelog;
} pii_kinds[TAILOR_PII_N_KINDS] = {
  [TAILOR_PII_EMAIL] = { N_("Email addresses"), "emails" },
  [TAILOR_PII_PHONE] = { N_("Phone numbers"), "phone numbers" },
  [TAILOR_PII_CREDIT_CARD] = { N_("Credit card numbers"), "credit card numbers" },
  [TAILOR_PII_IBAN] = { N_("Bank account numbers (IBAN)"), "IBANs" },
  [TAILOR_PII_IP_ADDRESS] = { N_("IP addresses"), "IP addresses" },
  [TAILOR_PII_PRIVATE_KEY] = { N_("Private keys"), "private keys" },
  [TAILOR_PII_API_KEY] = { N_("API keys and tokens"), "API keys" },
  [TAILOR_PII_URL_PASSWORD] = { N_("Passwords in links"), "passwords in URLs" },
  [TAILOR_PII_NATIONAL_ID] = { N_("National ID numbers"), "national ID numbers" },
};

typedef enum
{
  WORK_BUILD,
  WORK_REPORT,
  WORK_FREEZE,
} WorkKind;

/* Progress handed from the worker to the window: written under the mutex, shown by one
 * low-priority idle at a time so that a fast import cannot flood the main loop. */
typedef struct
{
  GMutex mutex;
  TailorDocsPhase phase;
  guint file_index;
  guint n_files;
  char *file_name;
  guint64 records;
  gboolean idle_pending;
  GWeakRef page;
} WorkProgress;

typedef struct
{
  WorkKind kind;
  TailorDocsBuildRequest *request; /* WORK_BUILD */
  char *catalogue_dir;
  gint64 project_id;
  char *project_dir;
  char *version_id; /* WORK_REPORT, WORK_FREEZE */
  char *model_path;
  GPtrArray *staged; /* char*: the new files of a build, given back when it fails */
  WorkProgress *progress;
} WorkData;

typedef struct
{
  char *path;
  AdwComboRow *row;
} StagedFile;

struct _TailorDocumentsPage
{
  TailorWizardPage parent_instance;

  /* Template widgets */
  AdwPreferencesGroup *files_group;
  AdwPreferencesGroup *staged_group;
  AdwPreferencesGroup *skipped_group;
  AdwPreferencesGroup *duplicates_group;
  AdwPreferencesGroup *pii_group;
  AdwPreferencesGroup *glossary_group;
  AdwPreferencesGroup *lengths_group;
  AdwPreferencesGroup *split_group;
  AdwPreferencesGroup *versions_group;
  AdwActionRow *empty_row;
  AdwActionRow *progress_row;
  AdwActionRow *error_row;
  AdwActionRow *pii_none_row;
  AdwActionRow *truncated_row;
  AdwActionRow *train_row;
  AdwActionRow *eval_row;
  AdwActionRow *leak_row;
  AdwActionRow *freeze_row;
  AdwExpanderRow *duplicates_row;
  AdwEntryRow *variant_entry;
  AdwEntryRow *preferred_entry;
  GtkProgressBar *progress_bar;
  TailorBarChart *length_chart;
  GtkLabel *train_count_label;
  GtkLabel *eval_count_label;
  GtkImage *leak_icon;
  GtkListBox *versions_list;

  /* Owned */
  char *catalogue_dir;
  char *project_dir;
  char *project_name;
  char *model_path;
  TailorDocsChoices *choices;
  GPtrArray *terms;   /* TailorDocsTerm* */
  GPtrArray *sources; /* TailorDocsSource*: what the current version was built from */
  GPtrArray *staged;  /* StagedFile* */
  TailorDocsReport *report;
  GCancellable *work_cancellable;
  WorkProgress *progress;
  GPtrArray *source_rows;
  GPtrArray *skipped_rows;
  GPtrArray *duplicate_rows;
  GPtrArray *pii_rows;
  GPtrArray *term_rows;
  GtkNativeDialog *file_chooser;
  gboolean showing; /* rows are being filled: their signals are not the user's */
};

G_DEFINE_FINAL_TYPE (TailorDocumentsPage, tailor_documents_page, TAILOR_TYPE_WIZARD_PAGE)

static void start_report (TailorDocumentsPage *self);

/* ------------------------------------------------------------------------------------------ */
/* Small helpers */

static void
staged_file_free (StagedFile *file)
{
  g_free (file->path);
  g_free (file);
}

static void
work_progress_clear (WorkProgress *p)
{
  g_mutex_clear (&p->mutex);
  g_free (p->file_name);
  g_weak_ref_clear (&p->page);
}

static void
work_progress_release (gpointer p)
{
  g_atomic_rc_box_release_full (p, (GDestroyNotify) work_progress_clear);
}

static void
work_data_free (WorkData *data)
{
  tailor_docs_build_request_free (data->request);
  g_free (data->catalogue_dir);
  g_free (data->project_dir);
  g_free (data->version_id);
  g_free (data->model_path);
  g_clear_pointer (&data->staged, g_ptr_array_unref);
  work_progress_release (data->progress);
  g_free (data);
}

static void
set_subtitle (AdwActionRow *row, const char *text)
{
  g_autofree char *escaped = g_markup_escape_text (text != NULL ? text : "", -1);

  adw_action_row_set_subtitle (row, escaped);
}

static void
set_title (AdwPreferencesRow *row, const char *text)
{
  g_autofree char *escaped = g_markup_escape_text (text != NULL ? text : "", -1);

  adw_preferences_row_set_title (row, escaped);
}

static void
clear_rows (AdwPreferencesGroup *group, GPtrArray *rows)
{
  for (guint i = 0; i < rows->len; i++)
    adw_preferences_group_remove (group, rows->pdata[i]);
  g_ptr_array_set_size (rows, 0);
}

static void
set_accessible_label (GtkWidget *widget, const char *label)
{
  gtk_accessible_update_property (GTK_ACCESSIBLE (widget), GTK_ACCESSIBLE_PROPERTY_LABEL, label,
                                  -1);
}

static const char *
license_label (const char *id)
{
  for (guint i = 0; i < G_N_ELEMENTS (licenses); i++)
    if (g_strcmp0 (licenses[i].id, id) == 0)
      return _(licenses[i].label);
  return id;
}

static GtkStringList *
license_model_new (void)
{
  GtkStringList *model = gtk_string_list_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (licenses); i++)
    gtk_string_list_append (model, _(licenses[i].label));
  return model;
}

static TailorDatasetVersion *
current_version (TailorDocumentsPage *self)
{
  return self->report != NULL ? self->report->version : NULL;
}

static gboolean
busy (TailorDocumentsPage *self)
{
  return self->work_cancellable != NULL;
}

static void
update_complete (TailorDocumentsPage *self)
{
  TailorDatasetVersion *version = current_version (self);

  tailor_wizard_page_set_complete (TAILOR_WIZARD_PAGE (self),
                                   !busy (self) && version != NULL && version->train_count > 0 &&
                                     version->eval_count > 0 && self->report->leak_clean);
}

static void
update_actions (TailorDocumentsPage *self)
{
  gboolean working = busy (self);
  gboolean frozen = self->report != NULL && self->report->frozen_version != NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "documents.import",
                                 !working && self->staged->len > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "documents.clear-staged",
                                 !working && self->staged->len > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "documents.cancel", working);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "documents.rebuild",
                                 !working && self->sources->len > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "documents.add-term",
                                 !working && self->sources->len > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "documents.freeze",
                                 !working && current_version (self) != NULL && !frozen &&
                                   self->report->leak_clean &&
                                   current_version (self)->eval_count > 0);
  for (guint i = 0; i < self->pii_rows->len; i++)
    gtk_widget_set_sensitive (self->pii_rows->pdata[i], !working);
  for (guint i = 0; i < self->source_rows->len; i++)
    gtk_widget_set_sensitive (self->source_rows->pdata[i], !working);
  for (guint i = 0; i < self->term_rows->len; i++)
    gtk_widget_set_sensitive (self->term_rows->pdata[i], !working);
  update_complete (self);
}

static void
show_error (TailorDocumentsPage *self, const char *title, const char *message)
{
  gtk_widget_set_visible (GTK_WIDGET (self->error_row), message != NULL);
  if (message == NULL)
    return;
  set_title (ADW_PREFERENCES_ROW (self->error_row), title);
  set_subtitle (self->error_row, message);
}

static char *
format_count (guint64 n)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT, n);
}

static void
save_choices (TailorDocumentsPage *self)
{
  g_autoptr (GError) error = NULL;

  if (!tailor_docs_choices_save (self->choices, self->project_dir, &error))
    tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), error->message);
}

/* ------------------------------------------------------------------------------------------ */
/* Progress */

static gboolean
progress_idle (gpointer user_data)
{
  WorkProgress *p = user_data;
  g_autoptr (TailorDocumentsPage) self = g_weak_ref_get (&p->page);
  g_autofree char *title = NULL;
  g_autofree char *subtitle = NULL;
  g_autofree char *count = NULL;
  double fraction = 0.0;

  g_mutex_lock (&p->mutex);
  p->idle_pending = FALSE;
  switch (p->phase)
    {
    case TAILOR_DOCS_PHASE_READING:
      /* Translators: e.g. "Reading faq.jsonl (file 1 of 3)". */
      title = g_strdup_printf (_("Reading %s (file %u of %u)"),
                               p->file_name != NULL ? p->file_name : "", p->file_index + 1,
                               p->n_files);
      count = format_count (p->records);
      subtitle = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s record read",
                                               "%s records read",
                                               (gulong) MIN (p->records, G_MAXULONG)),
                                  count);
      fraction = p->n_files > 0 ? 0.75 * p->file_index / p->n_files : 0.0;
      break;
    case TAILOR_DOCS_PHASE_CHECKING:
      title = g_strdup (_("Removing duplicates, splitting and checking for leaks…"));
      fraction = 0.8;
      break;
    case TAILOR_DOCS_PHASE_SAVING:
      title = g_strdup (_("Saving the new version…"));
      fraction = 0.9;
      break;
    case TAILOR_DOCS_PHASE_MEASURING:
      title = g_strdup (_("Measuring lengths and checking the split…"));
      fraction = 0.95;
      break;
    default:
      g_assert_not_reached ();
    }
  g_mutex_unlock (&p->mutex);

  if (self == NULL || self->progress != p)
    return G_SOURCE_REMOVE;
  set_title (ADW_PREFERENCES_ROW (self->progress_row), title);
  set_subtitle (self->progress_row, subtitle);
  gtk_progress_bar_set_fraction (self->progress_bar, fraction);
  return G_SOURCE_REMOVE;
}

/* Runs in the worker thread. */
static void
progress_cb (const TailorDocsProgress *progress, gpointer user_data)
{
  WorkProgress *p = user_data;

  g_mutex_lock (&p->mutex);
  p->phase = progress->phase;
  p->file_index = progress->file_index;
  p->n_files = progress->n_files;
  p->records = progress->records;
  if (g_strcmp0 (p->file_name, progress->file_name) != 0)
    {
      g_free (p->file_name);
      p->file_name = g_strdup (progress->file_name);
    }
  if (!p->idle_pending)
    {
      p->idle_pending = TRUE;
      g_idle_add_full (G_PRIORITY_LOW, progress_idle, g_atomic_rc_box_acquire (p),
                       work_progress_release);
    }
  g_mutex_unlock (&p->mutex);
}

/* ------------------------------------------------------------------------------------------ */
/* Showing the report */

static const char *
reject_reason_label (const char *reason)
{
  static const struct
  {
    const char *name;
    const char *label;
  } reasons[] = {
    { "malformed", N_("Not readable as a record") },
    { "wrong-type", N_("A field has the wrong type") },
    { "missing-field", N_("A required field is missing") },
    { "empty", N_("Nothing in it") },
    { "no-assistant-turn", N_("No answer to learn from") },
    { "unknown-role", N_("Unknown speaker role") },
    { "invalid-encoding", N_("Not valid text") },
    { "too-long", N_("Too long") },
  };

  for (guint i = 0; i < G_N_ELEMENTS (reasons); i++)
    if (g_strcmp0 (reasons[i].name, reason) == 0)
      return _(reasons[i].label);
  return reason;
}

static char *
reject_where (const TailorDocsReject *reject)
{
  g_autofree char *number = format_count (reject->line);

  /* Translators: where a skipped record is, e.g. "notes.pdf, page 3". */
  if (g_strcmp0 (reject->unit, "page") == 0)
    return g_strdup_printf (_("%s, page %s"), reject->file, number);
  /* Translators: where a skipped record is, e.g. "notes.docx, paragraph 12". */
  if (g_strcmp0 (reject->unit, "paragraph") == 0)
    return g_strdup_printf (_("%s, paragraph %s"), reject->file, number);
  return g_strdup_printf ("%s:%s", reject->file, number);
}

static GtkWidget *
plain_row (const char *title, const char *subtitle)
{
  GtkWidget *row = adw_action_row_new ();

  set_title (ADW_PREFERENCES_ROW (row), title);
  set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
  return row;
}

static void
show_skipped (TailorDocumentsPage *self)
{
  TailorDocsReport *report = self->report;

  clear_rows (self->skipped_group, self->skipped_rows);
  if (report == NULL)
    {
      gtk_widget_set_visible (GTK_WIDGET (self->skipped_group), FALSE);
      return;
    }
  for (guint i = 0; i < report->failures->len; i++)
    {
      const TailorDocsFailure *failure = g_ptr_array_index (report->failures, i);
      /* Translators: %s is a file name. */
      g_autofree char *title = g_strdup_printf (_("%s could not be read"), failure->file);
      GtkWidget *row = plain_row (title, failure->message);
      GtkWidget *icon = gtk_image_new_from_icon_name ("dialog-error-symbolic");

      gtk_widget_add_css_class (icon, "error");
      set_accessible_label (icon, _("Error"));
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
      adw_preferences_group_add (self->skipped_group, row);
      g_ptr_array_add (self->skipped_rows, row);
    }
  for (guint i = 0; i < report->rejects->len; i++)
    {
      const TailorDocsReject *reject = g_ptr_array_index (report->rejects, i);
      g_autofree char *where = reject_where (reject);
      /* Translators: a skipped record: where it is, then why, e.g. "faq.jsonl:12 — Too long". */
      g_autofree char *title =
        g_strdup_printf (_("%s — %s"), where, reject_reason_label (reject->reason));
      g_autofree char *subtitle =
        reject->preview != NULL ? g_strdup_printf ("%s\n“%s”", reject->message, reject->preview)
                                : g_strdup (reject->message);
      GtkWidget *row = plain_row (title, subtitle);

      adw_preferences_group_add (self->skipped_group, row);
      g_ptr_array_add (self->skipped_rows, row);
    }
  if (report->rejects_total > report->rejects->len)
    {
      guint64 more = report->rejects_total - report->rejects->len;
      g_autofree char *count = format_count (more);
      g_autofree char *title = g_strdup_printf (
        g_dngettext (GETTEXT_PACKAGE, "And %s more record", "And %s more records",
                     (gulong) MIN (more, G_MAXULONG)),
        count);
      GtkWidget *row = plain_row (title, NULL);

      adw_preferences_group_add (self->skipped_group, row);
      g_ptr_array_add (self->skipped_rows, row);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->skipped_group), self->skipped_rows->len > 0);
}

static void
show_duplicates (TailorDocumentsPage *self)
{
  TailorDocsReport *report = self->report;
  g_autofree char *subtitle = NULL;

  for (guint i = 0; i < self->duplicate_rows->len; i++)
    adw_expander_row_remove (self->duplicates_row, self->duplicate_rows->pdata[i]);
  g_ptr_array_set_size (self->duplicate_rows, 0);

  if (report->n_exact + report->n_near == 0)
    subtitle = g_strdup (_("None found"));
  else
    {
      g_autofree char *exact = format_count (report->n_exact);
      g_autofree char *near = format_count (report->n_near);

      /* Translators: e.g. "1 exact, 0 near duplicates". */
      subtitle = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s exact, %s near duplicate",
                                               "%s exact, %s near duplicates",
                                               (gulong) MIN (report->n_near, G_MAXULONG)),
                                  exact, near);
    }
  adw_expander_row_set_subtitle (self->duplicates_row, subtitle);
  for (guint i = 0; i < report->duplicates->len; i++)
    {
      const TailorDocsDuplicate *dup = g_ptr_array_index (report->duplicates, i);
      /* Translators: e.g. "faq.jsonl:7 repeats faq.jsonl:2". */
      g_autofree char *where =
        g_strdup_printf (dup->exact ? _("%s repeats %s") : _("%s is nearly the same as %s"),
                         dup->where, dup->keeper);
      g_autofree char *quoted = g_strdup_printf ("“%s”", dup->preview);
      GtkWidget *row = plain_row (quoted, where);

      adw_expander_row_add_row (self->duplicates_row, row);
      g_ptr_array_add (self->duplicate_rows, row);
    }
  adw_expander_row_set_enable_expansion (self->duplicates_row, self->duplicate_rows->len > 0);
  gtk_widget_set_visible (GTK_WIDGET (self->duplicates_group), TRUE);
}

static void rebuild_with_reason (TailorDocumentsPage *self,
                                 GPtrArray *sources,
                                 GPtrArray *staged,
                                 const char *reason);

static GPtrArray *
sources_copy (TailorDocumentsPage *self, const char *except)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_docs_source_free);

  for (guint i = 0; i < self->sources->len; i++)
    {
      const TailorDocsSource *source = g_ptr_array_index (self->sources, i);

      if (g_strcmp0 (source->path, except) == 0)
        continue;
      g_ptr_array_add (copy, tailor_docs_source_new (
                               source->path, source->license,
                               tailor_docs_choices_is_counter (self->choices, source->path)));
    }
  return copy;
}

static void
on_pii_selected (TailorDocumentsPage *self, GParamSpec *pspec, AdwComboRow *row)
{
  TailorPiiKind kind = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (row), "tailor-kind"));
  TailorPiiAction action = adw_combo_row_get_selected (row);
  g_autoptr (GPtrArray) sources = NULL;
  g_autofree char *reason = NULL;

  if (self->showing || action == self->choices->pii[kind] || action > TAILOR_PII_ACTION_KEEP)
    return;
  self->choices->pii[kind] = action;
  save_choices (self);
  switch (action)
    {
    case TAILOR_PII_ACTION_REDACT:
      reason = g_strdup_printf ("Chose to redact %s", pii_kinds[kind].changelog);
      break;
    case TAILOR_PII_ACTION_DROP:
      reason = g_strdup_printf ("Chose to drop examples with %s", pii_kinds[kind].changelog);
      break;
    case TAILOR_PII_ACTION_KEEP:
      reason = g_strdup_printf ("Chose to keep %s", pii_kinds[kind].changelog);
      break;
    default:
      g_assert_not_reached ();
    }
  sources = sources_copy (self, NULL);
  rebuild_with_reason (self, sources, NULL, reason);
}

static void
show_pii (TailorDocumentsPage *self)
{
  TailorDocsReport *report = self->report;

  clear_rows (self->pii_group, self->pii_rows);
  for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
    {
      g_autoptr (GtkStringList) actions = gtk_string_list_new (NULL);
      g_autofree char *count = format_count (report->pii_findings[k]);
      g_autofree char *subtitle = NULL;
      const TailorDocsPiiSample *sample = NULL;
      GtkWidget *row;

      if (report->pii_findings[k] == 0)
        continue;
      for (guint i = 0; i < report->pii_samples->len && sample == NULL; i++)
        if (((TailorDocsPiiSample *) g_ptr_array_index (report->pii_samples, i))->kind == k)
          sample = g_ptr_array_index (report->pii_samples, i);
      if (sample != NULL)
        /* Translators: "1 found · for example ja…om in faq.jsonl:3"; the secret is masked. */
        subtitle = g_strdup_printf (
          g_dngettext (GETTEXT_PACKAGE, "%s found · for example %s in %s",
                       "%s found · for example %s in %s",
                       (gulong) MIN (report->pii_findings[k], G_MAXULONG)),
          count, sample->preview, sample->where);
      else
        subtitle = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s found", "%s found",
                                                 (gulong) MIN (report->pii_findings[k], G_MAXULONG)),
                                    count);

      /* Same order as TailorPiiAction. */
      gtk_string_list_append (actions, _("Redact"));
      gtk_string_list_append (actions, _("Drop the example"));
      gtk_string_list_append (actions, _("Keep"));
      row = adw_combo_row_new ();
      set_title (ADW_PREFERENCES_ROW (row), _(pii_kinds[k].label));
      set_subtitle (ADW_ACTION_ROW (row), subtitle);
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
      adw_combo_row_set_model (ADW_COMBO_ROW (row), G_LIST_MODEL (actions));
      adw_combo_row_set_selected (ADW_COMBO_ROW (row), self->choices->pii[k]);
      g_object_set_data (G_OBJECT (row), "tailor-kind", GUINT_TO_POINTER (k));
      g_signal_connect_object (row, "notify::selected", G_CALLBACK (on_pii_selected), self,
                               G_CONNECT_SWAPPED);
      adw_preferences_group_add (self->pii_group, row);
      g_ptr_array_add (self->pii_rows, row);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->pii_none_row), self->pii_rows->len == 0);
  gtk_widget_set_visible (GTK_WIDGET (self->pii_group), TRUE);
}

static void
remove_term_cb (TailorDocumentsPage *self, GtkButton *button)
{
  guint i = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (button), "tailor-term"));
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) sources = NULL;
  g_autofree char *reason = NULL;
  TailorDocsTerm *term;

  if (busy (self) || i >= self->terms->len)
    return;
  term = g_ptr_array_steal_index (self->terms, i);
  reason = g_strdup_printf ("Glossary: removed “%s” → “%s”", term->variant, term->preferred);
  tailor_docs_term_free (term);
  if (!tailor_docs_glossary_save (self->terms, self->project_dir, &error))
    {
      tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), error->message);
      return;
    }
  sources = sources_copy (self, NULL);
  rebuild_with_reason (self, sources, NULL, reason);
}

static void
show_glossary (TailorDocumentsPage *self)
{
  clear_rows (self->glossary_group, self->term_rows);
  for (guint i = 0; i < self->terms->len; i++)
    {
      const TailorDocsTerm *term = g_ptr_array_index (self->terms, i);
      /* Translators: a glossary entry, variant → preferred term. */
      g_autofree char *title = g_strdup_printf (_("%s → %s"), term->variant, term->preferred);
      /* Translators: %s is a glossary entry such as "e-mail → email". */
      g_autofree char *label = g_strdup_printf (_("Remove %s from the glossary"), title);
      GtkWidget *row = plain_row (title, NULL);
      GtkWidget *remove = gtk_button_new_from_icon_name ("user-trash-symbolic");

      gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (remove, "flat");
      gtk_widget_set_tooltip_text (remove, _("Remove from the glossary"));
      set_accessible_label (remove, label);
      g_object_set_data (G_OBJECT (remove), "tailor-term", GUINT_TO_POINTER (i));
      g_signal_connect_object (remove, "clicked", G_CALLBACK (remove_term_cb), self,
                               G_CONNECT_SWAPPED);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);
      adw_preferences_group_add (self->glossary_group, row);
      g_ptr_array_add (self->term_rows, row);
    }
  if (self->report != NULL && self->report->glossary_replacements > 0)
    {
      g_autofree char *replacements = format_count (self->report->glossary_replacements);
      g_autofree char *examples = format_count (self->report->glossary_examples);
      /* Translators: e.g. "12 replacements in 9 examples of the current version". */
      g_autofree char *title = g_strdup_printf (
        g_dngettext (GETTEXT_PACKAGE, "%s replacement in %s examples of the current version",
                     "%s replacements in %s examples of the current version",
                     (gulong) MIN (self->report->glossary_replacements, G_MAXULONG)),
        replacements, examples);
      GtkWidget *row = plain_row (title, NULL);

      gtk_widget_add_css_class (row, "dim-label");
      adw_preferences_group_add (self->glossary_group, row);
      g_ptr_array_add (self->term_rows, row);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->glossary_group), self->sources->len > 0);
}

static void
show_lengths (TailorDocumentsPage *self)
{
  TailorDocsReport *report = self->report;
  g_autofree char *description = NULL;
  g_autofree char *marker = NULL;
  g_autofree char *title = NULL;
  g_autofree char *subtitle = NULL;

  if (report->tokens_from_model)
    /* Translators: %s is the model's name. */
    description = g_strdup_printf (_("Tokens per example, counted with the tokenizer and chat "
                                     "template of %s."),
                                   report->tokenizer_name);
  else
    description = g_strdup_printf (_("Tokens per example, estimated at about %.0f characters per "
                                     "token: choose a base model to count them exactly."),
                                   TAILOR_DOCS_CHARS_PER_TOKEN);
  adw_preferences_group_set_description (self->lengths_group, description);

  tailor_bar_chart_set_histogram (self->length_chart, report->edges, report->counts,
                                  report->n_buckets);
  /* Translators: the marker on the length chart, e.g. "Sequence length (512 tokens)". */
  marker = g_strdup_printf (_("Sequence length (%u tokens)"), report->sequence_length);
  tailor_bar_chart_set_marker (self->length_chart, report->sequence_length, marker);
  tailor_bar_chart_set_x_title (self->length_chart, _("Tokens"));
  tailor_bar_chart_set_value_title (self->length_chart, _("Examples"));
  tailor_bar_chart_set_histogram_colors (self->length_chart, TAILOR_CHART_COLOR_BLUE,
                                         TAILOR_CHART_COLOR_ORANGE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->length_chart),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Histogram of example lengths in tokens"),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, description, -1);

  if (report->n_truncated == 0)
    title = g_strdup_printf (_("None: every example fits in %u tokens"), report->sequence_length);
  else
    title = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                          "%u example will be cut at %u tokens",
                                          "%u examples will be cut at %u tokens",
                                          report->n_truncated),
                             report->n_truncated, report->sequence_length);
  /* Translators: statistics of example lengths in tokens. */
  subtitle = g_strdup_printf (_("Median %u, 95th percentile %u, longest %u tokens"), report->p50,
                              report->p95, report->max);
  set_title (ADW_PREFERENCES_ROW (self->truncated_row), title);
  set_subtitle (self->truncated_row, subtitle);
  gtk_widget_set_visible (GTK_WIDGET (self->lengths_group), TRUE);
}

static void
show_split (TailorDocumentsPage *self)
{
  TailorDocsReport *report = self->report;
  TailorDatasetVersion *version = report->version;
  g_autofree char *train = format_count (version->train_count);
  g_autofree char *eval = format_count (version->eval_count);
  gboolean frozen = report->frozen_version != NULL;

  gtk_label_set_label (self->train_count_label, train);
  gtk_label_set_label (self->eval_count_label, eval);
  if (report->counter_examples > 0)
    {
      g_autofree char *count = format_count (report->counter_examples);
      g_autofree char *subtitle = g_strdup_printf (
        g_dngettext (GETTEXT_PACKAGE, "What the model learns from, including %s example of what not to do",
                     "What the model learns from, including %s examples of what not to do",
                     (gulong) MIN (report->counter_examples, G_MAXULONG)),
        count);

      set_subtitle (self->train_row, subtitle);
    }
  else
    set_subtitle (self->train_row, _("What the model learns from"));
  if (version->eval_count == 0)
    set_subtitle (self->eval_row, _("None yet: add examples that are not marked as what not to "
                                    "do, so that some can be kept aside to measure"));
  else
    set_subtitle (self->eval_row, frozen ? _("Frozen: kept aside to measure — never trained on")
                                         : _("Kept aside to measure — never trained on"));

  gtk_widget_remove_css_class (GTK_WIDGET (self->leak_icon), "success");
  gtk_widget_remove_css_class (GTK_WIDGET (self->leak_icon), "error");
  if (report->leak_clean)
    {
      gtk_image_set_from_icon_name (self->leak_icon, "emblem-ok-symbolic");
      gtk_widget_add_css_class (GTK_WIDGET (self->leak_icon), "success");
      set_title (ADW_PREFERENCES_ROW (self->leak_row), _("Leak check passed"));
      set_subtitle (self->leak_row, _("No evaluation example, nor a near copy of one, is in the "
                                      "training set."));
    }
  else
    {
      gtk_image_set_from_icon_name (self->leak_icon, "dialog-warning-symbolic");
      gtk_widget_add_css_class (GTK_WIDGET (self->leak_icon), "error");
      set_title (ADW_PREFERENCES_ROW (self->leak_row), _("Leak check failed"));
      set_subtitle (self->leak_row, report->leak_message);
    }

  if (frozen)
    {
      set_title (ADW_PREFERENCES_ROW (self->freeze_row), _("Evaluation set frozen"));
      set_subtitle (self->freeze_row, _("Every later version keeps exactly these evaluation "
                                        "examples, so scores stay comparable."));
    }
  else
    {
      set_title (ADW_PREFERENCES_ROW (self->freeze_row), _("Freeze the evaluation set"));
      set_subtitle (self->freeze_row,
                    _("Every later version keeps exactly these evaluation examples, so scores "
                      "stay comparable; this cannot be undone."));
    }
  gtk_widget_set_visible (GTK_WIDGET (self->split_group), TRUE);
}

static char *
format_time (gint64 usec)
{
  g_autoptr (GDateTime) utc = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);
  g_autoptr (GDateTime) local = utc != NULL ? g_date_time_to_local (utc) : NULL;

  /* Translators: a version's date and time, see g_date_time_format. */
  return local != NULL ? g_date_time_format (local, _("%Y-%m-%d %H:%M")) : g_strdup ("");
}

static void
show_versions (TailorDocumentsPage *self)
{
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (TAILOR_WIZARD_PAGE (self));
  gint64 project_id = tailor_wizard_page_get_project_id (TAILOR_WIZARD_PAGE (self));
  g_autoptr (GPtrArray) versions = NULL;
  g_autoptr (GError) error = NULL;
  TailorDatasetVersion *current = current_version (self);
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->versions_list))) != NULL)
    gtk_list_box_remove (self->versions_list, child);
  if (catalogue == NULL)
    return;
  versions = tailor_catalogue_list_versions (catalogue, project_id, &error);
  if (versions == NULL)
    {
      tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), error->message);
      return;
    }
  for (guint i = versions->len; i > 0; i--)
    {
      const TailorDatasetVersion *version = g_ptr_array_index (versions, i - 1);
      gboolean is_current = current != NULL && g_strcmp0 (current->id, version->id) == 0;
      g_autofree char *when = format_time (version->created);
      g_autofree char *train = format_count (version->train_count);
      g_autofree char *eval = format_count (version->eval_count);
      g_autofree char *short_id = g_strndup (version->id, 8);
      g_autofree char *subtitle = NULL;
      GtkWidget *row = adw_action_row_new ();

      /* Translators: a version's facts: date · training and evaluation examples · short id. */
      subtitle = g_strdup_printf (_("%s · %s training, %s evaluation · %s"), when, train, eval,
                                  short_id);
      set_title (ADW_PREFERENCES_ROW (row), version->changelog);
      adw_action_row_set_title_lines (ADW_ACTION_ROW (row), 0);
      set_subtitle (ADW_ACTION_ROW (row), subtitle);
      if (is_current)
        {
          GtkWidget *mark = gtk_image_new_from_icon_name ("object-select-symbolic");
          GtkWidget *label = gtk_label_new (_("Current"));

          gtk_widget_add_css_class (row, "tailor-current-version");
          gtk_widget_add_css_class (mark, "accent");
          gtk_widget_add_css_class (label, "accent");
          gtk_widget_set_valign (label, GTK_ALIGN_CENTER);
          set_accessible_label (mark, _("Current version"));
          adw_action_row_add_prefix (ADW_ACTION_ROW (row), mark);
          adw_action_row_add_suffix (ADW_ACTION_ROW (row), label);
          gtk_accessible_update_property (GTK_ACCESSIBLE (row),
                                          GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                          _("Current version"), -1);
        }
      if (version->eval_frozen)
        {
          GtkWidget *lock = gtk_image_new_from_icon_name ("security-high-symbolic");

          gtk_widget_set_tooltip_text (lock, _("The evaluation set was frozen here"));
          set_accessible_label (lock, _("The evaluation set was frozen here"));
          adw_action_row_add_suffix (ADW_ACTION_ROW (row), lock);
        }
      gtk_list_box_append (self->versions_list, row);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->versions_group), versions->len > 0);
}

static void
on_counter_toggled (TailorDocumentsPage *self, GParamSpec *pspec, GtkSwitch *toggle)
{
  const char *path = g_object_get_data (G_OBJECT (toggle), "tailor-path");
  gboolean counter = gtk_switch_get_active (toggle);
  g_autofree char *name = g_path_get_basename (path);
  g_autofree char *reason = NULL;
  g_autoptr (GPtrArray) sources = NULL;

  if (self->showing || counter == tailor_docs_choices_is_counter (self->choices, path))
    return;
  tailor_docs_choices_set_counter (self->choices, path, counter);
  save_choices (self);
  reason = g_strdup_printf (counter ? "Marked %s as examples of what not to do"
                                    : "%s no longer marked as examples of what not to do",
                            name);
  sources = sources_copy (self, NULL);
  rebuild_with_reason (self, sources, NULL, reason);
}

/* The file row's subtitle: examples, skipped records when there were some, license. */
static char *
source_summary (const TailorSource *row_source, const char *license)
{
  g_autofree char *examples = format_count (row_source != NULL ? row_source->examples : 0);

  if (row_source != NULL && row_source->rejected > 0)
    {
      g_autofree char *rejected = format_count (row_source->rejected);

      /* Translators: a file's summary: examples, skipped records, license. */
      return g_strdup_printf (_("%s examples · %s skipped · %s"), examples, rejected,
                              license_label (license));
    }
  /* Translators: a file's summary: examples, license. */
  return g_strdup_printf (_("%s examples · %s"), examples, license_label (license));
}

/* A license is a fact about the file, not about its examples: it changes in the catalogue for
 * every import of that file, and no new dataset version is built. */
static void
on_license_selected (TailorDocumentsPage *self, GParamSpec *pspec, AdwComboRow *combo)
{
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (TAILOR_WIZARD_PAGE (self));
  gint64 project_id = tailor_wizard_page_get_project_id (TAILOR_WIZARD_PAGE (self));
  const char *path = g_object_get_data (G_OBJECT (combo), "tailor-path");
  guint selected = adw_combo_row_get_selected (combo);
  g_autoptr (GPtrArray) rows = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *subtitle = NULL;
  const TailorSource *row_source = NULL;
  const char *license;
  gboolean ok;

  if (self->showing || catalogue == NULL || selected >= G_N_ELEMENTS (licenses))
    return;
  license = licenses[selected].id;
  rows = tailor_catalogue_list_sources (catalogue, project_id, &error);
  ok = rows != NULL && tailor_catalogue_begin (catalogue, &error);
  if (ok)
    {
      for (guint i = 0; ok && i < rows->len; i++)
        {
          const TailorSource *source = g_ptr_array_index (rows, i);

          if (g_strcmp0 (source->path, path) != 0)
            continue;
          ok = tailor_catalogue_set_source_license (catalogue, source->id, license, &error);
          row_source = source;
        }
      if (ok)
        ok = tailor_catalogue_commit (catalogue, &error);
      else
        tailor_catalogue_rollback (catalogue);
    }
  if (!ok)
    {
      tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), error->message);
      return;
    }
  for (guint i = 0; i < self->sources->len; i++)
    {
      TailorDocsSource *source = g_ptr_array_index (self->sources, i);

      if (g_strcmp0 (source->path, path) == 0)
        {
          g_free (source->license);
          source->license = g_strdup (license);
        }
    }
  subtitle = source_summary (row_source, license);
  adw_expander_row_set_subtitle (
    ADW_EXPANDER_ROW (g_object_get_data (G_OBJECT (combo), "tailor-file-row")), subtitle);
}

static void
remove_source_cb (TailorDocumentsPage *self, GtkButton *button)
{
  const char *path = g_object_get_data (G_OBJECT (button), "tailor-path");
  g_autofree char *name = g_path_get_basename (path);
  g_autofree char *reason = g_strdup_printf ("Removed %s", name);
  g_autoptr (GPtrArray) sources = sources_copy (self, path);

  if (busy (self) || sources->len == 0)
    return;
  rebuild_with_reason (self, sources, NULL, reason);
}

static void
show_sources (TailorDocumentsPage *self)
{
  GHashTable *seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) rows = NULL;
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (TAILOR_WIZARD_PAGE (self));
  gint64 project_id = tailor_wizard_page_get_project_id (TAILOR_WIZARD_PAGE (self));
  TailorDatasetVersion *version = current_version (self);
  g_autoptr (GError) error = NULL;

  clear_rows (self->files_group, self->source_rows);
  g_ptr_array_set_size (self->sources, 0);
  if (version != NULL && catalogue != NULL)
    {
      rows = tailor_catalogue_list_sources (catalogue, project_id, &error);
      if (rows == NULL)
        tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), error->message);
    }
  for (guint i = 0; rows != NULL && i < rows->len; i++)
    {
      const TailorSource *source = g_ptr_array_index (rows, i);
      gboolean used = FALSE;

      for (guint j = 0; j < version->source_ids->len && !used; j++)
        used = g_array_index (version->source_ids, gint64, j) == source->id;
      if (!used || g_hash_table_contains (seen, source->path))
        continue;
      g_hash_table_add (seen, source->path);
      g_ptr_array_add (self->sources,
                       tailor_docs_source_new (source->path, source->license, FALSE));
    }

  for (guint i = 0; i < self->sources->len; i++)
    {
      const TailorDocsSource *source = g_ptr_array_index (self->sources, i);
      const TailorSource *row_source = NULL;
      g_autofree char *name = g_path_get_basename (source->path);
      g_autofree char *subtitle = NULL;
      g_autofree char *examples = NULL;
      g_autofree char *remove_label = NULL;
      GtkWidget *row = adw_expander_row_new ();
      GtkWidget *counter_row = plain_row (_("Examples of what not to do"),
                                          _("Kept in training as counter-examples, never "
                                            "chosen for evaluation"));
      GtkWidget *toggle = gtk_switch_new ();
      GtkWidget *license_row = adw_combo_row_new ();
      g_autoptr (GtkStringList) license_model = license_model_new ();
      g_autofree char *license_label_text = NULL;
      guint license_index = 0;
      GtkWidget *remove_row = plain_row (_("Remove from the dataset"),
                                         _("A new version is built without this file"));
      GtkWidget *remove = gtk_button_new_with_mnemonic (_("_Remove"));

      for (guint j = 0; j < rows->len; j++)
        {
          const TailorSource *candidate = g_ptr_array_index (rows, j);

          if (g_strcmp0 (candidate->path, source->path) == 0)
            row_source = candidate;
        }
      subtitle = source_summary (row_source, source->license);
      set_title (ADW_PREFERENCES_ROW (row), name);
      adw_expander_row_set_subtitle (ADW_EXPANDER_ROW (row), subtitle);
      gtk_widget_set_tooltip_text (row, source->path);

      self->showing = TRUE;
      gtk_switch_set_active (GTK_SWITCH (toggle),
                             tailor_docs_choices_is_counter (self->choices, source->path));
      self->showing = FALSE;
      gtk_widget_set_valign (toggle, GTK_ALIGN_CENTER);
      g_object_set_data_full (G_OBJECT (toggle), "tailor-path", g_strdup (source->path), g_free);
      set_accessible_label (toggle, _("Examples of what not to do"));
      g_signal_connect_object (toggle, "notify::active", G_CALLBACK (on_counter_toggled), self,
                               G_CONNECT_SWAPPED);
      adw_action_row_add_suffix (ADW_ACTION_ROW (counter_row), toggle);
      adw_action_row_set_activatable_widget (ADW_ACTION_ROW (counter_row), toggle);
      adw_expander_row_add_row (ADW_EXPANDER_ROW (row), counter_row);

      /* A license typed elsewhere (tailor-cli) that the list lacks is offered as it is. */
      while (license_index < G_N_ELEMENTS (licenses) &&
             g_strcmp0 (licenses[license_index].id, source->license) != 0)
        license_index++;
      if (license_index == G_N_ELEMENTS (licenses))
        gtk_string_list_append (license_model, source->license);
      set_title (ADW_PREFERENCES_ROW (license_row), _("License"));
      set_subtitle (ADW_ACTION_ROW (license_row),
                    _("How the file may be used; a change keeps the examples as they are"));
      adw_combo_row_set_model (ADW_COMBO_ROW (license_row), G_LIST_MODEL (license_model));
      adw_combo_row_set_selected (ADW_COMBO_ROW (license_row), license_index);
      /* Translators: accessible name of a file's license choice; %s is a file name. */
      license_label_text = g_strdup_printf (_("License of %s"), name);
      set_accessible_label (license_row, license_label_text);
      g_object_set_data_full (G_OBJECT (license_row), "tailor-path", g_strdup (source->path),
                              g_free);
      g_object_set_data (G_OBJECT (license_row), "tailor-file-row", row);
      g_signal_connect_object (license_row, "notify::selected", G_CALLBACK (on_license_selected),
                               self, G_CONNECT_SWAPPED);
      adw_expander_row_add_row (ADW_EXPANDER_ROW (row), license_row);

      /* Translators: %s is a file name. */
      remove_label = g_strdup_printf (_("Remove %s from the dataset"), name);
      gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (remove, "destructive-action");
      gtk_widget_set_sensitive (remove, self->sources->len > 1);
      if (self->sources->len <= 1)
        gtk_widget_set_tooltip_text (remove, _("The dataset needs at least one file"));
      set_accessible_label (remove, remove_label);
      g_object_set_data_full (G_OBJECT (remove), "tailor-path", g_strdup (source->path), g_free);
      g_signal_connect_object (remove, "clicked", G_CALLBACK (remove_source_cb), self,
                               G_CONNECT_SWAPPED);
      adw_action_row_add_suffix (ADW_ACTION_ROW (remove_row), remove);
      adw_expander_row_add_row (ADW_EXPANDER_ROW (row), remove_row);

      adw_preferences_group_add (self->files_group, row);
      g_ptr_array_add (self->source_rows, row);
    }
  g_hash_table_unref (seen);
  gtk_widget_set_visible (GTK_WIDGET (self->empty_row), self->sources->len == 0);
}

static void
show_report (TailorDocumentsPage *self)
{
  gboolean have = self->report != NULL;

  self->showing = TRUE;
  show_sources (self);
  show_skipped (self);
  show_glossary (self);
  if (have)
    {
      show_duplicates (self);
      show_pii (self);
      show_lengths (self);
      show_split (self);
    }
  else
    {
      gtk_widget_set_visible (GTK_WIDGET (self->duplicates_group), FALSE);
      gtk_widget_set_visible (GTK_WIDGET (self->pii_group), FALSE);
      gtk_widget_set_visible (GTK_WIDGET (self->lengths_group), FALSE);
      gtk_widget_set_visible (GTK_WIDGET (self->split_group), FALSE);
    }
  show_versions (self);
  self->showing = FALSE;
  update_actions (self);
}

/* ------------------------------------------------------------------------------------------ */
/* Work */

static void
show_staged (TailorDocumentsPage *self)
{
  gtk_widget_set_visible (GTK_WIDGET (self->staged_group), self->staged->len > 0);
  gtk_widget_set_visible (GTK_WIDGET (self->empty_row), self->sources->len == 0);
  update_actions (self);
}

static void
stage_file (TailorDocumentsPage *self, const char *path, guint license)
{
  g_autoptr (GtkStringList) model = license_model_new ();
  g_autofree char *name = g_path_get_basename (path);
  g_autofree char *folder = g_path_get_dirname (path);
  /* Translators: %s is a file name. */
  g_autofree char *label = g_strdup_printf (_("License of %s"), name);
  StagedFile *file;
  GtkWidget *row;

  for (guint i = 0; i < self->staged->len; i++)
    if (g_strcmp0 (((StagedFile *) g_ptr_array_index (self->staged, i))->path, path) == 0)
      return;
  for (guint i = 0; i < self->sources->len; i++)
    if (g_strcmp0 (((TailorDocsSource *) g_ptr_array_index (self->sources, i))->path, path) == 0)
      {
        /* Translators: %s is a file name. */
        g_autofree char *message = g_strdup_printf (_("%s is already in the dataset."), name);

        tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), message);
        return;
      }

  row = adw_combo_row_new ();
  set_title (ADW_PREFERENCES_ROW (row), name);
  set_subtitle (ADW_ACTION_ROW (row), folder);
  adw_combo_row_set_model (ADW_COMBO_ROW (row), G_LIST_MODEL (model));
  adw_combo_row_set_selected (ADW_COMBO_ROW (row), license);
  set_accessible_label (row, label);
  adw_preferences_group_add (self->staged_group, row);

  file = g_new0 (StagedFile, 1);
  file->path = g_strdup (path);
  file->row = ADW_COMBO_ROW (row);
  g_ptr_array_add (self->staged, file);
}

static void
clear_staged (TailorDocumentsPage *self)
{
  for (guint i = 0; i < self->staged->len; i++)
    adw_preferences_group_remove (self->staged_group,
                                  GTK_WIDGET (((StagedFile *) self->staged->pdata[i])->row));
  g_ptr_array_set_size (self->staged, 0);
  show_staged (self);
}

static void
work_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WorkData *data = task_data;
  g_autoptr (GError) error = NULL;
  TailorDocsReport *report = NULL;

  switch (data->kind)
    {
    case WORK_BUILD:
      report = tailor_docs_build (data->request, progress_cb, data->progress, cancellable, &error);
      break;
    case WORK_FREEZE:
      {
        g_autoptr (TailorCatalogue) catalogue =
          tailor_catalogue_open (data->catalogue_dir, TAILOR_CATALOGUE_OPEN_DEFAULT, &error);

        if (catalogue == NULL || !tailor_dataset_freeze_eval (catalogue, data->project_id,
                                                              data->version_id, cancellable,
                                                              &error))
          break;
      }
      report = tailor_docs_report_version (data->catalogue_dir, data->project_id,
                                           data->project_dir, data->version_id, data->model_path,
                                           progress_cb, data->progress, cancellable, &error);
      break;
    case WORK_REPORT:
      report = tailor_docs_report_version (data->catalogue_dir, data->project_id,
                                           data->project_dir, data->version_id, data->model_path,
                                           progress_cb, data->progress, cancellable, &error);
      break;
    default:
      g_assert_not_reached ();
    }
  if (report == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, report, (GDestroyNotify) tailor_docs_report_free);
}

static void
work_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TailorDocumentsPage) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorDocsReport) report = g_task_propagate_pointer (G_TASK (result), &error);
  WorkData *data = g_task_get_task_data (G_TASK (result));
  gboolean cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
                       g_error_matches (error, TAILOR_DATA_ERROR, TAILOR_DATA_ERROR_CANCELLED);

  /* A newer request, a project switch or dispose replaced this one. */
  if (g_task_get_cancellable (G_TASK (result)) != self->work_cancellable)
    return;
  g_clear_object (&self->work_cancellable);
  g_clear_pointer (&self->progress, work_progress_release);
  gtk_widget_set_visible (GTK_WIDGET (self->progress_row), FALSE);

  if (report == NULL)
    {
      /* Files that were to be added come back to the list, so nothing typed is lost. */
      for (guint i = 0; data->staged != NULL && i < data->staged->len; i += 2)
        stage_file (self, data->staged->pdata[i],
                    (guint) g_ascii_strtoull (data->staged->pdata[i + 1], NULL, 10));
      show_staged (self);
      if (cancelled)
        show_error (self, _("Stopped"),
                    data->kind == WORK_BUILD
                      ? _("Nothing was changed; the current version stays as it was.")
                      : _("The report was not finished."));
      else if (data->kind == WORK_FREEZE)
        show_error (self, _("The evaluation set was not frozen"), error->message);
      else
        show_error (self, _("The dataset was not updated"), error->message);
      update_actions (self);
      return;
    }

  show_error (self, NULL, NULL);
  if (data->kind == WORK_BUILD && !report->created)
    tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self),
                                   _("The result equals an earlier version, which is current "
                                     "again."));
  g_clear_pointer (&self->report, tailor_docs_report_free);
  self->report = g_steal_pointer (&report);
  if (g_strcmp0 (self->choices->current_version, self->report->version->id) != 0)
    {
      g_free (self->choices->current_version);
      self->choices->current_version = g_strdup (self->report->version->id);
      save_choices (self);
    }
  show_report (self);
}

static void
start_work (TailorDocumentsPage *self, WorkData *data)
{
  g_autoptr (GTask) task = NULL;

  g_cancellable_cancel (self->work_cancellable);
  g_clear_object (&self->work_cancellable);
  g_clear_pointer (&self->progress, work_progress_release);

  self->work_cancellable = g_cancellable_new ();
  self->progress = g_atomic_rc_box_new0 (WorkProgress);
  g_mutex_init (&self->progress->mutex);
  g_weak_ref_init (&self->progress->page, self);
  self->progress->phase =
    data->kind == WORK_BUILD ? TAILOR_DOCS_PHASE_READING : TAILOR_DOCS_PHASE_MEASURING;
  if (data->kind == WORK_BUILD)
    self->progress->n_files = data->request->sources->len;
  data->progress = g_atomic_rc_box_acquire (self->progress);
  data->catalogue_dir = g_strdup (self->catalogue_dir);
  data->project_id = tailor_wizard_page_get_project_id (TAILOR_WIZARD_PAGE (self));
  data->project_dir = g_strdup (self->project_dir);
  data->model_path = g_strdup (self->model_path);

  show_error (self, NULL, NULL);
  gtk_progress_bar_set_fraction (self->progress_bar, 0.0);
  gtk_widget_set_visible (GTK_WIDGET (self->progress_row), TRUE);
  self->progress->idle_pending = TRUE;
  g_idle_add_full (G_PRIORITY_LOW, progress_idle, g_atomic_rc_box_acquire (self->progress),
                   work_progress_release);
  update_actions (self);

  task = g_task_new (NULL, self->work_cancellable, work_done_cb, g_object_ref (self));
  g_task_set_task_data (task, data, (GDestroyNotify) work_data_free);
  g_task_run_in_thread (task, work_thread);
}

/* staged: StagedFile* to add; sources: what stays. */
static void
rebuild_with_reason (TailorDocumentsPage *self,
                     GPtrArray *sources,
                     GPtrArray *staged,
                     const char *reason)
{
  WorkData *data = g_new0 (WorkData, 1);
  TailorDocsBuildRequest *request = tailor_docs_build_request_new ();
  TailorDatasetVersion *version = current_version (self);

  request->catalogue_dir = g_strdup (self->catalogue_dir);
  request->project_name = g_strdup (self->project_name);
  request->project_id = tailor_wizard_page_get_project_id (TAILOR_WIZARD_PAGE (self));
  request->project_dir = g_strdup (self->project_dir);
  request->parent = version != NULL ? g_strdup (version->id) : NULL;
  for (guint i = 0; i < sources->len; i++)
    {
      const TailorDocsSource *source = g_ptr_array_index (sources, i);

      g_ptr_array_add (request->sources,
                       tailor_docs_source_new (source->path, source->license, source->counter));
    }
  data->staged = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; staged != NULL && i < staged->len; i++)
    {
      const StagedFile *file = g_ptr_array_index (staged, i);
      guint license = adw_combo_row_get_selected (file->row);

      if (license >= G_N_ELEMENTS (licenses))
        license = 0;
      g_ptr_array_add (request->sources,
                       tailor_docs_source_new (
                         file->path, licenses[license].id,
                         tailor_docs_choices_is_counter (self->choices, file->path)));
      g_ptr_array_add (data->staged, g_strdup (file->path));
      g_ptr_array_add (data->staged, g_strdup_printf ("%u", license));
      request->n_new++;
    }
  memcpy (request->pii, self->choices->pii, sizeof request->pii);
  request->glossary_path = tailor_docs_glossary_path (self->project_dir);
  request->reason = g_strdup (reason);
  request->model_path = g_strdup (self->model_path);

  data->kind = WORK_BUILD;
  data->request = request;
  start_work (self, data);
}

static void
start_report (TailorDocumentsPage *self)
{
  WorkData *data;

  if (self->choices == NULL || self->choices->current_version == NULL)
    return;
  data = g_new0 (WorkData, 1);
  data->kind = WORK_REPORT;
  data->version_id = g_strdup (self->choices->current_version);
  start_work (self, data);
}

/* ------------------------------------------------------------------------------------------ */
/* Actions */

static void
import_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorDocumentsPage *self = TAILOR_DOCUMENTS_PAGE (widget);
  g_autoptr (GPtrArray) sources = NULL;
  g_autoptr (GString) reason = NULL;

  if (busy (self) || self->staged->len == 0)
    return;
  if (current_version (self) != NULL)
    {
      reason = g_string_new ("Added ");
      for (guint i = 0; i < self->staged->len; i++)
        {
          g_autofree char *name =
            g_path_get_basename (((StagedFile *) self->staged->pdata[i])->path);

          g_string_append_printf (reason, "%s%s", i > 0 ? ", " : "", name);
        }
    }
  sources = sources_copy (self, NULL);
  rebuild_with_reason (self, sources, self->staged, reason != NULL ? reason->str : NULL);
  clear_staged (self);
}

static void
clear_staged_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  clear_staged (TAILOR_DOCUMENTS_PAGE (widget));
}

static void
cancel_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  g_cancellable_cancel (TAILOR_DOCUMENTS_PAGE (widget)->work_cancellable);
}

static void
rebuild_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorDocumentsPage *self = TAILOR_DOCUMENTS_PAGE (widget);
  g_autoptr (GPtrArray) sources = sources_copy (self, NULL);

  if (!busy (self) && sources->len > 0)
    rebuild_with_reason (self, sources, NULL, "Rebuilt with the current choices");
}

static void
add_term_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorDocumentsPage *self = TAILOR_DOCUMENTS_PAGE (widget);
  g_autofree char *variant =
    g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->variant_entry))));
  g_autofree char *preferred =
    g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->preferred_entry))));
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) sources = NULL;
  g_autofree char *reason = NULL;
  TailorDocsTerm *term;

  if (busy (self))
    return;
  if (variant[0] == '\0' || preferred[0] == '\0')
    {
      tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self),
                                     _("Write both the variant and the preferred term."));
      return;
    }
  term = g_new0 (TailorDocsTerm, 1);
  term->variant = g_strdup (variant);
  term->preferred = g_strdup (preferred);
  g_ptr_array_add (self->terms, term);
  if (!tailor_docs_glossary_save (self->terms, self->project_dir, &error))
    {
      g_ptr_array_remove_index (self->terms, self->terms->len - 1);
      tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), error->message);
      return;
    }
  gtk_editable_set_text (GTK_EDITABLE (self->variant_entry), "");
  gtk_editable_set_text (GTK_EDITABLE (self->preferred_entry), "");
  show_glossary (self);
  reason = g_strdup_printf ("Glossary: added “%s” → “%s”", variant, preferred);
  sources = sources_copy (self, NULL);
  rebuild_with_reason (self, sources, NULL, reason);
}

static void
freeze_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorDocumentsPage *self = TAILOR_DOCUMENTS_PAGE (widget);
  WorkData *data;

  if (busy (self) || current_version (self) == NULL)
    return;
  data = g_new0 (WorkData, 1);
  data->kind = WORK_FREEZE;
  data->version_id = g_strdup (current_version (self)->id);
  start_work (self, data);
}

static void
add_files (TailorDocumentsPage *self, GListModel *files)
{
  for (guint i = 0; i < g_list_model_get_n_items (files); i++)
    {
      g_autoptr (GFile) file = g_list_model_get_item (files, i);
      g_autofree char *path = g_file_get_path (file);

      if (path != NULL)
        stage_file (self, path, 0);
    }
  show_staged (self);
}

#if GTK_CHECK_VERSION(4, 10, 0)
static void
file_dialog_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TailorDocumentsPage) self = user_data;
  g_autoptr (GListModel) files =
    gtk_file_dialog_open_multiple_finish (GTK_FILE_DIALOG (object), result, NULL);

  if (files != NULL)
    add_files (self, files);
}

static void
add_files_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  g_autoptr (GtkFileDialog) dialog = gtk_file_dialog_new ();

  gtk_file_dialog_set_title (dialog, _("Add Documents"));
  gtk_file_dialog_open_multiple (dialog, GTK_WINDOW (gtk_widget_get_root (widget)), NULL,
                                 file_dialog_cb, g_object_ref (widget));
}
#else
static void
on_files_chosen (TailorDocumentsPage *self, int response, GtkNativeDialog *native)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GListModel) files = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (native));

      add_files (self, files);
    }
  g_clear_object (&self->file_chooser);
}

static void
add_files_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorDocumentsPage *self = TAILOR_DOCUMENTS_PAGE (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  GtkFileChooserNative *native;

  if (self->file_chooser != NULL)
    gtk_native_dialog_destroy (self->file_chooser);
  g_clear_object (&self->file_chooser);
  native = gtk_file_chooser_native_new (_("Add Documents"),
                                        GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                        GTK_FILE_CHOOSER_ACTION_OPEN, NULL, NULL);
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (native), TRUE);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (native), TRUE);
  g_signal_connect_object (native, "response", G_CALLBACK (on_files_chosen), self,
                           G_CONNECT_SWAPPED);
  self->file_chooser = GTK_NATIVE_DIALOG (native);
  gtk_native_dialog_show (self->file_chooser);
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* Drag and drop */

static gboolean
on_drop (GtkDropTarget *target, const GValue *value, double x, double y, gpointer user_data)
{
  TailorDocumentsPage *self = user_data;
  GSList *files;

  gtk_widget_remove_css_class (GTK_WIDGET (self), "tailor-drop-active");
  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  files = gdk_file_list_get_files (g_value_get_boxed (value));
  for (GSList *l = files; l != NULL; l = l->next)
    {
      g_autofree char *path = g_file_get_path (l->data);

      if (path != NULL)
        stage_file (self, path, 0);
    }
  g_slist_free (files);
  show_staged (self);
  return TRUE;
}

static GdkDragAction
on_drag_enter (GtkDropTarget *target, double x, double y, gpointer user_data)
{
  TailorDocumentsPage *self = user_data;

  gtk_widget_add_css_class (GTK_WIDGET (self), "tailor-drop-active");
  return GDK_ACTION_COPY;
}

static void
on_drag_leave (GtkDropTarget *target, gpointer user_data)
{
  TailorDocumentsPage *self = user_data;

  gtk_widget_remove_css_class (GTK_WIDGET (self), "tailor-drop-active");
}

/* ------------------------------------------------------------------------------------------ */
/* Page */

static void
reset (TailorDocumentsPage *self)
{
  g_cancellable_cancel (self->work_cancellable);
  g_clear_object (&self->work_cancellable);
  g_clear_pointer (&self->progress, work_progress_release);
  gtk_widget_set_visible (GTK_WIDGET (self->progress_row), FALSE);
  show_error (self, NULL, NULL);
  clear_staged (self);
  g_clear_pointer (&self->report, tailor_docs_report_free);
  g_clear_pointer (&self->choices, tailor_docs_choices_free);
  g_ptr_array_set_size (self->terms, 0);
  g_ptr_array_set_size (self->sources, 0);
}

static void
tailor_documents_page_load (TailorWizardPage *page, const TailorProject *project)
{
  TailorDocumentsPage *self = TAILOR_DOCUMENTS_PAGE (page);
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (page);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) terms = NULL;
  g_autoptr (GPtrArray) versions = NULL;

  reset (self);
  g_free (self->catalogue_dir);
  self->catalogue_dir = g_strdup (tailor_catalogue_get_dir (catalogue));
  g_free (self->project_dir);
  self->project_dir = tailor_docs_project_dir (catalogue, project);
  g_free (self->project_name);
  self->project_name = g_strdup (project->name);
  g_free (self->model_path);
  self->model_path = g_strdup (project->base_model_path);

  self->choices = tailor_docs_choices_load (self->project_dir, &error);
  if (self->choices == NULL)
    {
      tailor_wizard_page_show_error (page, error->message);
      g_clear_error (&error);
      self->choices = g_new0 (TailorDocsChoices, 1);
      self->choices->counter_paths = g_ptr_array_new_with_free_func (g_free);
    }
  terms = tailor_docs_glossary_load (self->project_dir, &error);
  if (terms == NULL)
    {
      tailor_wizard_page_show_error (page, error->message);
      g_clear_error (&error);
    }
  else
    for (guint i = 0; i < terms->len; i++)
      g_ptr_array_add (self->terms, g_ptr_array_steal_index (terms, i--));

  /* The version chosen last; the latest when none is recorded or it is gone. */
  versions = tailor_catalogue_list_versions (catalogue, project->id, &error);
  if (versions == NULL)
    tailor_wizard_page_show_error (page, error->message);
  else
    {
      gboolean found = FALSE;

      for (guint i = 0; i < versions->len && !found; i++)
        found = g_strcmp0 (((TailorDatasetVersion *) versions->pdata[i])->id,
                           self->choices->current_version) == 0;
      if (!found)
        {
          g_free (self->choices->current_version);
          self->choices->current_version =
            versions->len > 0
              ? g_strdup (((TailorDatasetVersion *) versions->pdata[versions->len - 1])->id)
              : NULL;
        }
    }
  show_report (self);
  start_report (self);
}

/* The model may have changed on the previous step: lengths are measured with its tokenizer. */
static void
tailor_documents_page_map (GtkWidget *widget)
{
  TailorDocumentsPage *self = TAILOR_DOCUMENTS_PAGE (widget);
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (TAILOR_WIZARD_PAGE (self));
  g_autoptr (TailorProject) project = NULL;

  GTK_WIDGET_CLASS (tailor_documents_page_parent_class)->map (widget);

  if (catalogue == NULL)
    return;
  project = tailor_catalogue_get_project (
    catalogue, tailor_wizard_page_get_project_id (TAILOR_WIZARD_PAGE (self)), NULL);
  if (project == NULL || g_strcmp0 (project->base_model_path, self->model_path) == 0)
    return;
  g_free (self->model_path);
  self->model_path = g_strdup (project->base_model_path);
  if (!busy (self))
    start_report (self);
}

static void
tailor_documents_page_apply_async (TailorWizardPage *page,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  TailorDocumentsPage *self = TAILOR_DOCUMENTS_PAGE (page);
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, tailor_documents_page_apply_async);
  if (!tailor_wizard_page_get_complete (page))
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s",
                             _("Import documents until there is at least one training and one "
                               "evaluation example, and the leak check passes."));
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
tailor_documents_page_apply_finish (TailorWizardPage *page, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
tailor_documents_page_dispose (GObject *object)
{
  TailorDocumentsPage *self = TAILOR_DOCUMENTS_PAGE (object);

  g_cancellable_cancel (self->work_cancellable);
  g_clear_object (&self->work_cancellable);
  g_clear_pointer (&self->progress, work_progress_release);
  if (self->file_chooser != NULL)
    gtk_native_dialog_destroy (self->file_chooser);
  g_clear_object (&self->file_chooser);
  gtk_widget_dispose_template (GTK_WIDGET (self), TAILOR_TYPE_DOCUMENTS_PAGE);

  G_OBJECT_CLASS (tailor_documents_page_parent_class)->dispose (object);
}

static void
tailor_documents_page_finalize (GObject *object)
{
  TailorDocumentsPage *self = TAILOR_DOCUMENTS_PAGE (object);

  g_clear_pointer (&self->catalogue_dir, g_free);
  g_clear_pointer (&self->project_dir, g_free);
  g_clear_pointer (&self->project_name, g_free);
  g_clear_pointer (&self->model_path, g_free);
  g_clear_pointer (&self->choices, tailor_docs_choices_free);
  g_clear_pointer (&self->terms, g_ptr_array_unref);
  g_clear_pointer (&self->sources, g_ptr_array_unref);
  g_clear_pointer (&self->staged, g_ptr_array_unref);
  g_clear_pointer (&self->report, tailor_docs_report_free);
  g_clear_pointer (&self->source_rows, g_ptr_array_unref);
  g_clear_pointer (&self->skipped_rows, g_ptr_array_unref);
  g_clear_pointer (&self->duplicate_rows, g_ptr_array_unref);
  g_clear_pointer (&self->pii_rows, g_ptr_array_unref);
  g_clear_pointer (&self->term_rows, g_ptr_array_unref);

  G_OBJECT_CLASS (tailor_documents_page_parent_class)->finalize (object);
}

static void
tailor_documents_page_class_init (TailorDocumentsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  TailorWizardPageClass *page_class = TAILOR_WIZARD_PAGE_CLASS (klass);

  object_class->dispose = tailor_documents_page_dispose;
  object_class->finalize = tailor_documents_page_finalize;
  widget_class->map = tailor_documents_page_map;
  page_class->load = tailor_documents_page_load;
  page_class->apply_async = tailor_documents_page_apply_async;
  page_class->apply_finish = tailor_documents_page_apply_finish;

  g_type_ensure (TAILOR_TYPE_BAR_CHART);
  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/tailorapp/Tailor/tailor-documents-page.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, TailorDocumentsPage, name)
  BIND (files_group);
  BIND (staged_group);
  BIND (skipped_group);
  BIND (duplicates_group);
  BIND (pii_group);
  BIND (glossary_group);
  BIND (lengths_group);
  BIND (split_group);
  BIND (versions_group);
  BIND (empty_row);
  BIND (progress_row);
  BIND (error_row);
  BIND (pii_none_row);
  BIND (truncated_row);
  BIND (train_row);
  BIND (eval_row);
  BIND (leak_row);
  BIND (freeze_row);
  BIND (duplicates_row);
  BIND (variant_entry);
  BIND (preferred_entry);
  BIND (progress_bar);
  BIND (length_chart);
  BIND (train_count_label);
  BIND (eval_count_label);
  BIND (leak_icon);
  BIND (versions_list);
#undef BIND

  gtk_widget_class_install_action (widget_class, "documents.add-files", NULL, add_files_action);
  gtk_widget_class_install_action (widget_class, "documents.import", NULL, import_action);
  gtk_widget_class_install_action (widget_class, "documents.clear-staged", NULL,
                                   clear_staged_action);
  gtk_widget_class_install_action (widget_class, "documents.cancel", NULL, cancel_action);
  gtk_widget_class_install_action (widget_class, "documents.rebuild", NULL, rebuild_action);
  gtk_widget_class_install_action (widget_class, "documents.add-term", NULL, add_term_action);
  gtk_widget_class_install_action (widget_class, "documents.freeze", NULL, freeze_action);
  /* Within the page these come first; elsewhere Ctrl+O stays the model chooser. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK,
                                       "documents.add-files", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "documents.cancel",
                                       NULL);
}

static void
tailor_documents_page_init (TailorDocumentsPage *self)
{
  GtkDropTarget *target;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->terms = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_docs_term_free);
  self->sources = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_docs_source_free);
  self->staged = g_ptr_array_new_with_free_func ((GDestroyNotify) staged_file_free);
  self->source_rows = g_ptr_array_new ();
  self->skipped_rows = g_ptr_array_new ();
  self->duplicate_rows = g_ptr_array_new ();
  self->pii_rows = g_ptr_array_new ();
  self->term_rows = g_ptr_array_new ();

  target = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect (target, "drop", G_CALLBACK (on_drop), self);
  g_signal_connect (target, "enter", G_CALLBACK (on_drag_enter), self);
  g_signal_connect (target, "leave", G_CALLBACK (on_drag_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (target));

  tailor_bar_chart_set_empty_text (self->length_chart, _("No examples yet"));
  update_actions (self);
}

void
tailor_documents_page_add_files (TailorDocumentsPage *self, const char *const *paths)
{
  g_return_if_fail (TAILOR_IS_DOCUMENTS_PAGE (self));
  g_return_if_fail (paths != NULL);

  for (guint i = 0; paths[i] != NULL; i++)
    stage_file (self, paths[i], 0);
  show_staged (self);
}

gboolean
tailor_documents_page_get_busy (TailorDocumentsPage *self)
{
  g_return_val_if_fail (TAILOR_IS_DOCUMENTS_PAGE (self), FALSE);
  return busy (self);
}

const char *
tailor_documents_page_get_version_id (TailorDocumentsPage *self)
{
  g_return_val_if_fail (TAILOR_IS_DOCUMENTS_PAGE (self), NULL);
  return current_version (self) != NULL ? current_version (self)->id : NULL;
}
