/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorGoalPage: behaviour rows, the retrieval explanation and the goal's run defaults. Every
 * change is written to the catalogue at once. */
#include "config.h"

#include <glib/gi18n.h>

#include "tailor-goal-page.h"

typedef struct
{
  TailorGoal goal;
  const char *title;
  const char *sentence;
  const char *example;
} Behaviour;

static const Behaviour behaviours[] = {
  { TAILOR_GOAL_FORMAT, N_("Format and structure"),
    N_("Always answer in the same layout: headings, lists, a table or JSON."),
    N_("Example: every reply is a JSON object with “summary” and “next_steps”.") },
  { TAILOR_GOAL_TONE, N_("Tone and clarity"),
    N_("Sound the way you want: friendly, formal, brief or plain-spoken."),
    N_("Example: short sentences without jargon when writing to customers.") },
  { TAILOR_GOAL_TERMINOLOGY, N_("Terminology and style"),
    N_("Use your organisation’s words and spelling, and avoid the ones you don’t use."),
    N_("Example: say “member” instead of “customer”.") },
  { TAILOR_GOAL_TOOL_USE, N_("Tool use and refusals"),
    N_("Call your tools the right way, and politely decline what it must not do."),
    N_("Example: look orders up with get_order() and decline to give legal advice.") },
  { TAILOR_GOAL_NARROW_TASK, N_("A narrow task"),
    N_("Do one job very well instead of everything a little."),
    N_("Example: turn a support e-mail into a ticket title and a category.") },
  { TAILOR_GOAL_STYLE_GUIDE, N_("Style-guide adherence"),
    N_("Follow the rules of a written style guide every time."),
    N_("Example: dates as “30 November 2026”, numbers below ten in words.") },
};

struct _TailorGoalPage
{
  TailorWizardPage parent_instance;

  /* Template widgets */
  AdwPreferencesGroup *behaviours_group;
  AdwActionRow *documents_row;
  GtkCheckButton *documents_check;
  AdwActionRow *targets_row;
  AdwActionRow *rank_row;
  AdwActionRow *lr_row;
  AdwActionRow *epochs_row;
  AdwActionRow *loss_row;

  /* Owned */
  GtkCheckButton *checks[G_N_ELEMENTS (behaviours)];
  TailorGoal goals;
  gboolean syncing; /* widgets are being set from goals: not a user choice */
};

G_DEFINE_FINAL_TYPE (TailorGoalPage, tailor_goal_page, TAILOR_TYPE_WIZARD_PAGE)

static void
show_defaults (TailorGoalPage *self)
{
  TailorGoalDefaults d;
  g_autofree char *targets = NULL;
  g_autofree char *rank = NULL;
  g_autofree char *lr = NULL;
  g_autofree char *epochs = NULL;

  tailor_goal_get_defaults (self->goals, &d);
  if (d.targets == TAILOR_LORA_TARGETS_ATTENTION)
    targets = g_strdup (_("Attention layers (q, k, v, o)"));
  else if (d.targets == TAILOR_LORA_TARGETS_ALL)
    targets = g_strdup (_("Attention and feed-forward layers (q, k, v, o, gate, up, down)"));
  else
    targets = tailor_lora_targets_to_string (d.targets);
  /* Translators: LoRA rank and alpha, e.g. "Rank 16, alpha 32". */
  rank = g_strdup_printf (_("Rank %u, alpha %g"), d.rank, d.alpha);
  lr = g_strdup_printf ("%g", d.learning_rate);
  epochs = g_strdup_printf (ngettext ("%u pass", "%u passes", d.epochs), d.epochs);

  adw_action_row_set_subtitle (self->targets_row, targets);
  adw_action_row_set_subtitle (self->rank_row, rank);
  adw_action_row_set_subtitle (self->lr_row, lr);
  adw_action_row_set_subtitle (self->epochs_row, epochs);
  adw_action_row_set_subtitle (self->loss_row,
                               d.loss_on == TAILOR_LOSS_ON_ALL
                                 ? _("All text, prompts and documents included")
                                 : _("The answers in your examples only"));
}

static void
sync_widgets (TailorGoalPage *self)
{
  self->syncing = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (behaviours); i++)
    gtk_check_button_set_active (self->checks[i], (self->goals & behaviours[i].goal) != 0);
  gtk_check_button_set_active (self->documents_check,
                               (self->goals & TAILOR_GOAL_DOCUMENTS_QA) != 0);
  self->syncing = FALSE;
  adw_action_row_set_subtitle (
    self->documents_row,
    (self->goals & TAILOR_GOAL_DOCUMENTS_QA) != 0
      ? _("Chosen knowing that retrieval fits better: tuning will learn from all of your "
          "documents’ text.")
      : _("Another approach usually fits this better; read why before choosing it."));
  show_defaults (self);
  tailor_wizard_page_set_complete (TAILOR_WIZARD_PAGE (self), self->goals != TAILOR_GOAL_NONE);
}

static void
set_goals (TailorGoalPage *self, TailorGoal goals)
{
  TailorWizardPage *page = TAILOR_WIZARD_PAGE (self);
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (page);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = tailor_goal_to_string (goals);

  self->goals = goals;
  sync_widgets (self);
  if (catalogue != NULL &&
      !tailor_catalogue_set_project_goal (catalogue, tailor_wizard_page_get_project_id (page), text,
                                          &error))
    tailor_wizard_page_show_error (page, error->message);
}

static void
on_behaviour_toggled (TailorGoalPage *self, GtkCheckButton *check)
{
  TailorGoal goals = self->goals;

  if (self->syncing)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (behaviours); i++)
    if (self->checks[i] == check)
      {
        if (gtk_check_button_get_active (check))
          goals |= behaviours[i].goal;
        else
          goals &= ~behaviours[i].goal;
      }
  set_goals (self, goals);
}

static void
on_explanation_response (TailorGoalPage *self, const char *response, AdwMessageDialog *dialog)
{
  if (g_strcmp0 (response, "continue") == 0)
    set_goals (self, self->goals | TAILOR_GOAL_DOCUMENTS_QA);
}

static void
explain_documents (TailorGoalPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  AdwMessageDialog *dialog;

  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (
    GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, _("Retrieval Fits This Better"), NULL));
  adw_message_dialog_format_body (
    dialog, "%s\n\n%s\n\n%s",
    _("To answer questions from documents, an assistant should look the answer up when it is "
      "asked. This is called retrieval: it stays current when the documents change, it can "
      "show where an answer came from, and it does not make up facts it half remembers."),
    _("Tuning on your documents teaches the model their wording, terms and the shape of "
      "typical answers. It does not make the model recall facts reliably, cite its sources, or "
      "know about documents added later."),
    _("If you still want the model to pick up your documents’ language, you can continue. "
      "Tailor will learn from all of their text and remember that you chose this knowingly."));
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "continue",
                                    _("Continue _Anyway"), NULL);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_explanation_response), self,
                           G_CONNECT_SWAPPED);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_documents_toggled (TailorGoalPage *self, GtkCheckButton *check)
{
  if (self->syncing)
    return;
  if (!gtk_check_button_get_active (check))
    {
      set_goals (self, self->goals & ~TAILOR_GOAL_DOCUMENTS_QA);
      return;
    }
  /* Checked only once the user has read the explanation and continued. */
  sync_widgets (self);
  explain_documents (self);
}

static void
explain_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  explain_documents (TAILOR_GOAL_PAGE (widget));
}

static void
tailor_goal_page_load (TailorWizardPage *page, const TailorProject *project)
{
  TailorGoalPage *self = TAILOR_GOAL_PAGE (page);
  g_autoptr (GError) error = NULL;
  TailorGoal goals = TAILOR_GOAL_NONE;

  /* A goal text written by a newer Tailor: keep what is understood, say what is not. */
  if (!tailor_goal_from_string (project->goal, &goals, &error))
    tailor_wizard_page_show_error (page, error->message);
  self->goals = goals;
  sync_widgets (self);
}

static void
tailor_goal_page_apply_async (TailorWizardPage *page,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
  TailorGoalPage *self = TAILOR_GOAL_PAGE (page);
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = tailor_goal_to_string (self->goals);

  g_task_set_source_tag (task, tailor_goal_page_apply_async);
  if (self->goals == TAILOR_GOAL_NONE)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s",
                             _("Choose at least one behaviour to change."));
  else if (!tailor_catalogue_set_project_goal (tailor_wizard_page_get_catalogue (page),
                                               tailor_wizard_page_get_project_id (page), text,
                                               &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
tailor_goal_page_apply_finish (TailorWizardPage *page, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
tailor_goal_page_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), TAILOR_TYPE_GOAL_PAGE);

  G_OBJECT_CLASS (tailor_goal_page_parent_class)->dispose (object);
}

static void
tailor_goal_page_class_init (TailorGoalPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  TailorWizardPageClass *page_class = TAILOR_WIZARD_PAGE_CLASS (klass);

  object_class->dispose = tailor_goal_page_dispose;
  page_class->load = tailor_goal_page_load;
  page_class->apply_async = tailor_goal_page_apply_async;
  page_class->apply_finish = tailor_goal_page_apply_finish;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/tailorapp/Tailor/tailor-goal-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TailorGoalPage, behaviours_group);
  gtk_widget_class_bind_template_child (widget_class, TailorGoalPage, documents_row);
  gtk_widget_class_bind_template_child (widget_class, TailorGoalPage, documents_check);
  gtk_widget_class_bind_template_child (widget_class, TailorGoalPage, targets_row);
  gtk_widget_class_bind_template_child (widget_class, TailorGoalPage, rank_row);
  gtk_widget_class_bind_template_child (widget_class, TailorGoalPage, lr_row);
  gtk_widget_class_bind_template_child (widget_class, TailorGoalPage, epochs_row);
  gtk_widget_class_bind_template_child (widget_class, TailorGoalPage, loss_row);
  gtk_widget_class_bind_template_callback (widget_class, on_documents_toggled);

  gtk_widget_class_install_action (widget_class, "goal.explain-documents", NULL, explain_action);
}

static void
tailor_goal_page_init (TailorGoalPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  for (guint i = 0; i < G_N_ELEMENTS (behaviours); i++)
    {
      const Behaviour *b = &behaviours[i];
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *check = gtk_check_button_new ();
      g_autofree char *subtitle =
        g_markup_printf_escaped ("%s\n%s", _(b->sentence), _(b->example));

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _(b->title));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
      gtk_widget_set_valign (check, GTK_ALIGN_CENTER);
      gtk_accessible_update_property (GTK_ACCESSIBLE (check), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      _(b->title), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                      _(b->sentence), -1);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), check);
      adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), check);
      g_signal_connect_object (check, "toggled", G_CALLBACK (on_behaviour_toggled), self,
                               G_CONNECT_SWAPPED);
      adw_preferences_group_add (self->behaviours_group, row);
      self->checks[i] = GTK_CHECK_BUTTON (check);
    }
  show_defaults (self);
}

TailorGoal
tailor_goal_page_get_goals (TailorGoalPage *self)
{
  g_return_val_if_fail (TAILOR_IS_GOAL_PAGE (self), TAILOR_GOAL_NONE);
  return self->goals;
}
