/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorPendingPage: an honest "not available yet" status page. */
#include "config.h"

#include <glib/gi18n.h>

#include "tailor-pending-page.h"

struct _TailorPendingPage
{
  TailorWizardPage parent_instance;
};

G_DEFINE_FINAL_TYPE (TailorPendingPage, tailor_pending_page, TAILOR_TYPE_WIZARD_PAGE)

static void
tailor_pending_page_class_init (TailorPendingPageClass *klass)
{
}

static void
tailor_pending_page_init (TailorPendingPage *self)
{
}

/* can_continue: the journey does not depend on this step, so Next may pass it (the step
 * checks nothing yet, and the page says so). */
TailorWizardPage *
tailor_pending_page_new (const char *step_id,
                         const char *title,
                         const char *description,
                         gboolean can_continue)
{
  TailorPendingPage *self;
  GtkWidget *status;
  g_autofree char *heading = NULL;

  g_return_val_if_fail (step_id != NULL, NULL);
  g_return_val_if_fail (title != NULL, NULL);

  self = g_object_new (TAILOR_TYPE_PENDING_PAGE, "step-id", step_id, "title", title, "available",
                       FALSE, NULL);
  /* Translators: %s is a wizard step such as "Documents". */
  heading = g_strdup_printf (_("%s Is Not Available Yet"), title);
  status = adw_status_page_new ();
  adw_status_page_set_icon_name (ADW_STATUS_PAGE (status), "preferences-system-time-symbolic");
  adw_status_page_set_title (ADW_STATUS_PAGE (status), heading);
  adw_status_page_set_description (ADW_STATUS_PAGE (status), description);
  adw_bin_set_child (ADW_BIN (self), status);
  tailor_wizard_page_set_complete (TAILOR_WIZARD_PAGE (self), can_continue);
  return TAILOR_WIZARD_PAGE (self);
}
