/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorWizardPage: step id, title, completeness and the default apply. */
#include "config.h"

#include "tailor-wizard-page.h"

typedef struct
{
  char *step_id;
  char *title;
  gboolean complete;
  gboolean available;
  TailorCatalogue *catalogue;
  gint64 project_id;
} TailorWizardPagePrivate;

G_DEFINE_TYPE_WITH_PRIVATE (TailorWizardPage, tailor_wizard_page, ADW_TYPE_BIN)

enum
{
  PROP_0,
  PROP_STEP_ID,
  PROP_TITLE,
  PROP_COMPLETE,
  PROP_AVAILABLE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
tailor_wizard_page_real_load (TailorWizardPage *self, const TailorProject *project)
{
}

static void
tailor_wizard_page_real_apply_async (TailorWizardPage *self,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, tailor_wizard_page_real_apply_async);
  g_task_return_boolean (task, TRUE);
}

static gboolean
tailor_wizard_page_real_apply_finish (TailorWizardPage *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
tailor_wizard_page_finalize (GObject *object)
{
  TailorWizardPage *self = TAILOR_WIZARD_PAGE (object);
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  g_clear_pointer (&priv->step_id, g_free);
  g_clear_pointer (&priv->title, g_free);
  g_clear_object (&priv->catalogue);

  G_OBJECT_CLASS (tailor_wizard_page_parent_class)->finalize (object);
}

static void
tailor_wizard_page_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  TailorWizardPage *self = TAILOR_WIZARD_PAGE (object);
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  switch (prop_id)
    {
    case PROP_STEP_ID:
      g_value_set_string (value, priv->step_id);
      break;
    case PROP_TITLE:
      g_value_set_string (value, priv->title);
      break;
    case PROP_COMPLETE:
      g_value_set_boolean (value, priv->complete);
      break;
    case PROP_AVAILABLE:
      g_value_set_boolean (value, priv->available);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_wizard_page_set_property (GObject *object,
                                 guint prop_id,
                                 const GValue *value,
                                 GParamSpec *pspec)
{
  TailorWizardPage *self = TAILOR_WIZARD_PAGE (object);
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  switch (prop_id)
    {
    case PROP_STEP_ID:
      g_free (priv->step_id);
      priv->step_id = g_value_dup_string (value);
      break;
    case PROP_TITLE:
      g_free (priv->title);
      priv->title = g_value_dup_string (value);
      break;
    case PROP_COMPLETE:
      tailor_wizard_page_set_complete (self, g_value_get_boolean (value));
      break;
    case PROP_AVAILABLE:
      priv->available = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_wizard_page_class_init (TailorWizardPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = tailor_wizard_page_finalize;
  object_class->get_property = tailor_wizard_page_get_property;
  object_class->set_property = tailor_wizard_page_set_property;

  klass->load = tailor_wizard_page_real_load;
  klass->apply_async = tailor_wizard_page_real_apply_async;
  klass->apply_finish = tailor_wizard_page_real_apply_finish;

  /* Set once, by g_object_new or by a subclass's template. */
  properties[PROP_STEP_ID] =
    g_param_spec_string ("step-id", NULL, NULL, NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_COMPLETE] =
    g_param_spec_boolean ("complete", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_AVAILABLE] =
    g_param_spec_boolean ("available", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
tailor_wizard_page_init (TailorWizardPage *self)
{
}

const char *
tailor_wizard_page_get_step_id (TailorWizardPage *self)
{
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  g_return_val_if_fail (TAILOR_IS_WIZARD_PAGE (self), NULL);
  return priv->step_id;
}

const char *
tailor_wizard_page_get_title (TailorWizardPage *self)
{
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  g_return_val_if_fail (TAILOR_IS_WIZARD_PAGE (self), NULL);
  return priv->title;
}

gboolean
tailor_wizard_page_get_complete (TailorWizardPage *self)
{
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  g_return_val_if_fail (TAILOR_IS_WIZARD_PAGE (self), FALSE);
  return priv->complete;
}

void
tailor_wizard_page_set_complete (TailorWizardPage *self, gboolean complete)
{
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  g_return_if_fail (TAILOR_IS_WIZARD_PAGE (self));

  complete = !!complete;
  if (priv->complete == complete)
    return;
  priv->complete = complete;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMPLETE]);
}

gboolean
tailor_wizard_page_get_available (TailorWizardPage *self)
{
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  g_return_val_if_fail (TAILOR_IS_WIZARD_PAGE (self), FALSE);
  return priv->available;
}

TailorCatalogue *
tailor_wizard_page_get_catalogue (TailorWizardPage *self)
{
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  g_return_val_if_fail (TAILOR_IS_WIZARD_PAGE (self), NULL);
  return priv->catalogue;
}

gint64
tailor_wizard_page_get_project_id (TailorWizardPage *self)
{
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  g_return_val_if_fail (TAILOR_IS_WIZARD_PAGE (self), 0);
  return priv->project_id;
}

void
tailor_wizard_page_load (TailorWizardPage *self,
                         TailorCatalogue *catalogue,
                         const TailorProject *project)
{
  TailorWizardPagePrivate *priv = tailor_wizard_page_get_instance_private (self);

  g_return_if_fail (TAILOR_IS_WIZARD_PAGE (self));
  g_return_if_fail (TAILOR_IS_CATALOGUE (catalogue));
  g_return_if_fail (project != NULL);

  g_set_object (&priv->catalogue, catalogue);
  priv->project_id = project->id;
  TAILOR_WIZARD_PAGE_GET_CLASS (self)->load (self, project);
}

void
tailor_wizard_page_apply_async (TailorWizardPage *self,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_return_if_fail (TAILOR_IS_WIZARD_PAGE (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  TAILOR_WIZARD_PAGE_GET_CLASS (self)->apply_async (self, cancellable, callback, user_data);
}

gboolean
tailor_wizard_page_apply_finish (TailorWizardPage *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (TAILOR_IS_WIZARD_PAGE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return TAILOR_WIZARD_PAGE_GET_CLASS (self)->apply_finish (self, result, error);
}

void
tailor_wizard_page_show_error (TailorWizardPage *self, const char *message)
{
  GtkWidget *overlay;

  g_return_if_fail (TAILOR_IS_WIZARD_PAGE (self));

  g_debug ("%s", message);
  overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);
  if (overlay != NULL)
    {
      AdwToast *toast = adw_toast_new (message);

      adw_toast_set_timeout (toast, 0);
      adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), toast);
    }
}
