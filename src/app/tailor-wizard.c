/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorWizard: step navigation, the step indicator, and saving the step in the catalogue. */
#include "config.h"

#include <glib/gi18n.h>

#include "tailor-documents-page.h"
#include "tailor-goal-page.h"
#include "tailor-model-page.h"
#include "tailor-pending-page.h"
#include "tailor-train-page.h"
#include "tailor-wizard.h"

struct _TailorWizard
{
  AdwBin parent_instance;

  /* Template widgets */
  AdwHeaderBar *header_bar;
  AdwWindowTitle *window_title;
  GtkWidget *apply_spinner;
  GtkBox *steps_box;
  GtkStack *stack;

  /* Owned */
  GPtrArray *pages;  /* TailorWizardPage*, in step order */
  GPtrArray *labels; /* GtkLabel* of the step indicator, same order */
  TailorCatalogue *catalogue;
  gint64 project_id;
  char *project_name;
  GCancellable *apply_cancellable;
  guint current;
  gboolean folded;
};

G_DEFINE_FINAL_TYPE (TailorWizard, tailor_wizard, ADW_TYPE_BIN)

enum
{
  PROP_0,
  PROP_FOLDED,
  PROP_STEP_ID,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static TailorWizardPage *
current_page (TailorWizard *self)
{
  return self->pages->pdata[self->current];
}

static void
update_actions (TailorWizard *self)
{
  gboolean applying = self->apply_cancellable != NULL;
  TailorWizardPage *page = current_page (self);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.back",
                                 self->project_id != 0 && self->current > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.next",
                                 self->project_id != 0 && !applying &&
                                   self->current + 1 < self->pages->len &&
                                   tailor_wizard_page_get_complete (page));
  gtk_widget_set_visible (self->apply_spinner, applying);
  gtk_spinner_set_spinning (GTK_SPINNER (self->apply_spinner), applying);
}

static void
update_indicator (TailorWizard *self)
{
  g_autofree char *subtitle = NULL;

  for (guint i = 0; i < self->labels->len; i++)
    {
      GtkWidget *label = self->labels->pdata[i];

      if (i == self->current)
        gtk_widget_add_css_class (label, "current");
      else
        gtk_widget_remove_css_class (label, "current");
      if (i < self->current)
        gtk_widget_add_css_class (label, "done");
      else
        gtk_widget_remove_css_class (label, "done");
    }
  /* Translators: the window subtitle, e.g. "Step 2 of 7: Model". */
  subtitle = g_strdup_printf (_("Step %u of %u: %s"), self->current + 1, self->pages->len,
                              tailor_wizard_page_get_title (current_page (self)));
  adw_window_title_set_title (self->window_title,
                              self->project_name != NULL ? self->project_name : "");
  adw_window_title_set_subtitle (self->window_title, subtitle);
}

static void
go_to (TailorWizard *self, guint index, gboolean save)
{
  g_autoptr (GError) error = NULL;
  TailorWizardPage *page;

  g_assert (index < self->pages->len);

  g_cancellable_cancel (self->apply_cancellable);
  g_clear_object (&self->apply_cancellable);
  self->current = index;
  page = current_page (self);
  gtk_stack_set_visible_child (self->stack, GTK_WIDGET (page));
  update_indicator (self);
  update_actions (self);
  if (save && self->catalogue != NULL &&
      !tailor_catalogue_set_project_wizard_step (self->catalogue, self->project_id,
                                                 tailor_wizard_page_get_step_id (page), &error))
    tailor_wizard_page_show_error (page, error->message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STEP_ID]);
}

static gint
find_step (TailorWizard *self, const char *step_id)
{
  for (guint i = 0; i < self->pages->len; i++)
    if (g_strcmp0 (tailor_wizard_page_get_step_id (self->pages->pdata[i]), step_id) == 0)
      return i;
  return -1;
}

static void
apply_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TailorWizard) self = user_data;
  TailorWizardPage *page = TAILOR_WIZARD_PAGE (object);
  g_autoptr (GError) error = NULL;

  if (!tailor_wizard_page_apply_finish (page, result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_clear_object (&self->apply_cancellable);
          update_actions (self);
          tailor_wizard_page_show_error (page, error->message);
        }
      return;
    }
  /* The user may have gone back or switched project while the page applied. */
  if (page != current_page (self))
    return;
  g_clear_object (&self->apply_cancellable);
  go_to (self, self->current + 1, TRUE);
}

static void
next_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorWizard *self = TAILOR_WIZARD (widget);
  TailorWizardPage *page = current_page (self);

  if (self->apply_cancellable != NULL || !tailor_wizard_page_get_complete (page) ||
      self->current + 1 >= self->pages->len)
    return;
  self->apply_cancellable = g_cancellable_new ();
  update_actions (self);
  tailor_wizard_page_apply_async (page, self->apply_cancellable, apply_cb, g_object_ref (self));
}

static void
back_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorWizard *self = TAILOR_WIZARD (widget);

  if (self->current > 0)
    go_to (self, self->current - 1, TRUE);
}

static void
on_page_complete (TailorWizard *self, GParamSpec *pspec, TailorWizardPage *page)
{
  update_actions (self);
}

static void
add_page (TailorWizard *self, TailorWizardPage *page)
{
  GtkWidget *label;

  g_ptr_array_add (self->pages, page);
  gtk_stack_add_named (self->stack, GTK_WIDGET (page), tailor_wizard_page_get_step_id (page));
  g_signal_connect_object (page, "notify::complete", G_CALLBACK (on_page_complete), self,
                           G_CONNECT_SWAPPED);

  if (self->labels->len > 0)
    {
      GtkWidget *arrow = gtk_image_new_from_icon_name ("go-next-symbolic");

      gtk_widget_add_css_class (arrow, "dim-label");
      gtk_accessible_update_state (GTK_ACCESSIBLE (arrow), GTK_ACCESSIBLE_STATE_HIDDEN, TRUE, -1);
      gtk_box_append (self->steps_box, arrow);
    }
  label = gtk_label_new (tailor_wizard_page_get_title (page));
  gtk_widget_add_css_class (label, "tailor-step");
  if (!tailor_wizard_page_get_available (page))
    gtk_widget_add_css_class (label, "unavailable");
  gtk_box_append (self->steps_box, label);
  g_ptr_array_add (self->labels, label);
}

static void
tailor_wizard_dispose (GObject *object)
{
  TailorWizard *self = TAILOR_WIZARD (object);

  g_cancellable_cancel (self->apply_cancellable);
  g_clear_object (&self->apply_cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), TAILOR_TYPE_WIZARD);

  G_OBJECT_CLASS (tailor_wizard_parent_class)->dispose (object);
}

static void
tailor_wizard_finalize (GObject *object)
{
  TailorWizard *self = TAILOR_WIZARD (object);

  g_clear_pointer (&self->pages, g_ptr_array_unref);
  g_clear_pointer (&self->labels, g_ptr_array_unref);
  g_clear_pointer (&self->project_name, g_free);
  g_clear_object (&self->catalogue);

  G_OBJECT_CLASS (tailor_wizard_parent_class)->finalize (object);
}

static void
tailor_wizard_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  TailorWizard *self = TAILOR_WIZARD (object);

  switch (prop_id)
    {
    case PROP_FOLDED:
      g_value_set_boolean (value, self->folded);
      break;
    case PROP_STEP_ID:
      g_value_set_string (value, tailor_wizard_get_step_id (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_wizard_set_property (GObject *object,
                            guint prop_id,
                            const GValue *value,
                            GParamSpec *pspec)
{
  TailorWizard *self = TAILOR_WIZARD (object);

  switch (prop_id)
    {
    case PROP_FOLDED:
      if (self->folded != g_value_get_boolean (value))
        {
          self->folded = g_value_get_boolean (value);
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_wizard_class_init (TailorWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = tailor_wizard_dispose;
  object_class->finalize = tailor_wizard_finalize;
  object_class->get_property = tailor_wizard_get_property;
  object_class->set_property = tailor_wizard_set_property;

  /* Whether the window shows only the content (narrow): then a button leads to the projects. */
  properties[PROP_FOLDED] =
    g_param_spec_boolean ("folded", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STEP_ID] =
    g_param_spec_string ("step-id", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/tailorapp/Tailor/tailor-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, TailorWizard, header_bar);
  gtk_widget_class_bind_template_child (widget_class, TailorWizard, window_title);
  gtk_widget_class_bind_template_child (widget_class, TailorWizard, apply_spinner);
  gtk_widget_class_bind_template_child (widget_class, TailorWizard, steps_box);
  gtk_widget_class_bind_template_child (widget_class, TailorWizard, stack);

  gtk_widget_class_install_action (widget_class, "wizard.back", NULL, back_action);
  gtk_widget_class_install_action (widget_class, "wizard.next", NULL, next_action);
}

static void
tailor_wizard_init (TailorWizard *self)
{
  g_type_ensure (TAILOR_TYPE_DOCUMENTS_PAGE);
  g_type_ensure (TAILOR_TYPE_GOAL_PAGE);
  g_type_ensure (TAILOR_TYPE_MODEL_PAGE);
  g_type_ensure (TAILOR_TYPE_TRAIN_PAGE);
  gtk_widget_init_template (GTK_WIDGET (self));

  self->pages = g_ptr_array_new ();
  self->labels = g_ptr_array_new ();
  add_page (self, g_object_new (TAILOR_TYPE_GOAL_PAGE, NULL));
  add_page (self, g_object_new (TAILOR_TYPE_MODEL_PAGE, NULL));
  add_page (self, g_object_new (TAILOR_TYPE_DOCUMENTS_PAGE, NULL));
  add_page (self, tailor_pending_page_new (
                    "checks", _("Checks"),
                    _("Checking the model’s license and whether your computer can train it is not "
                      "built yet. You can continue to training; check the model’s license "
                      "yourself."),
                    TRUE));
  add_page (self, g_object_new (TAILOR_TYPE_TRAIN_PAGE, NULL));
  add_page (self, tailor_pending_page_new (
                    "results", _("Results"),
                    _("Comparing the tuned model with the base model is not built yet."), FALSE));
  add_page (self, tailor_pending_page_new (
                    "export", _("Export"),
                    _("Exporting the adapter for Ollama, llama.cpp and Hugging Face is not built "
                      "yet."),
                    FALSE));
  go_to (self, 0, FALSE);
}

void
tailor_wizard_set_project (TailorWizard *self,
                           TailorCatalogue *catalogue,
                           const TailorProject *project)
{
  gint step;

  g_return_if_fail (TAILOR_IS_WIZARD (self));
  g_return_if_fail (TAILOR_IS_CATALOGUE (catalogue));
  g_return_if_fail (project != NULL);

  g_cancellable_cancel (self->apply_cancellable);
  g_clear_object (&self->apply_cancellable);
  g_set_object (&self->catalogue, catalogue);
  self->project_id = project->id;
  g_free (self->project_name);
  self->project_name = g_strdup (project->name);
  for (guint i = 0; i < self->pages->len; i++)
    tailor_wizard_page_load (self->pages->pdata[i], catalogue, project);
  step = find_step (self, project->wizard_step);
  gtk_stack_set_transition_type (self->stack, GTK_STACK_TRANSITION_TYPE_NONE);
  go_to (self, step >= 0 ? (guint) step : 0, FALSE);
  gtk_stack_set_transition_type (self->stack, GTK_STACK_TRANSITION_TYPE_SLIDE_LEFT_RIGHT);
}

void
tailor_wizard_set_project_name (TailorWizard *self, const char *name)
{
  g_return_if_fail (TAILOR_IS_WIZARD (self));

  g_free (self->project_name);
  self->project_name = g_strdup (name);
  update_indicator (self);
}

gint64
tailor_wizard_get_project_id (TailorWizard *self)
{
  g_return_val_if_fail (TAILOR_IS_WIZARD (self), 0);
  return self->project_id;
}

const char *
tailor_wizard_get_step_id (TailorWizard *self)
{
  g_return_val_if_fail (TAILOR_IS_WIZARD (self), NULL);
  return tailor_wizard_page_get_step_id (current_page (self));
}

TailorWizardPage *
tailor_wizard_get_page (TailorWizard *self, const char *step_id)
{
  gint i;

  g_return_val_if_fail (TAILOR_IS_WIZARD (self), NULL);

  i = find_step (self, step_id);
  return i >= 0 ? self->pages->pdata[i] : NULL;
}

guint
tailor_wizard_get_n_steps (TailorWizard *self)
{
  g_return_val_if_fail (TAILOR_IS_WIZARD (self), 0);
  return self->pages->len;
}

TailorWizardPage *
tailor_wizard_get_nth_page (TailorWizard *self, guint i)
{
  g_return_val_if_fail (TAILOR_IS_WIZARD (self), NULL);
  g_return_val_if_fail (i < self->pages->len, NULL);
  return self->pages->pdata[i];
}

void
tailor_wizard_show_step (TailorWizard *self, const char *step_id)
{
  gint i;

  g_return_if_fail (TAILOR_IS_WIZARD (self));

  i = find_step (self, step_id);
  g_return_if_fail (i >= 0);
  go_to (self, i, TRUE);
}
