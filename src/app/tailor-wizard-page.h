/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The base of every wizard step: whether it is complete, and the apply step that must succeed
 * before the wizard moves on. */
#pragma once

#include <adwaita.h>

#include "tailor-catalogue.h"

G_BEGIN_DECLS

#define TAILOR_TYPE_WIZARD_PAGE (tailor_wizard_page_get_type ())
G_DECLARE_DERIVABLE_TYPE (TailorWizardPage, tailor_wizard_page, TAILOR, WIZARD_PAGE, AdwBin)

struct _TailorWizardPageClass
{
  AdwBinClass parent_class;

  /* Shows the project's stored choices. Called whenever the wizard switches project; the
   * catalogue and project id are already set. */
  void (*load) (TailorWizardPage *self, const TailorProject *project);
  /* Makes the page's choices final (writes what is not written yet, checks what must hold).
   * The default succeeds at once. */
  void (*apply_async) (TailorWizardPage *self,
                       GCancellable *cancellable,
                       GAsyncReadyCallback callback,
                       gpointer user_data);
  gboolean (*apply_finish) (TailorWizardPage *self, GAsyncResult *result, GError **error);

  gpointer padding[8];
};

const char *tailor_wizard_page_get_step_id (TailorWizardPage *self);
const char *tailor_wizard_page_get_title (TailorWizardPage *self);
gboolean tailor_wizard_page_get_complete (TailorWizardPage *self);
void tailor_wizard_page_set_complete (TailorWizardPage *self, gboolean complete);
/* FALSE for a step whose engine part is not built yet. */
gboolean tailor_wizard_page_get_available (TailorWizardPage *self);

TailorCatalogue *tailor_wizard_page_get_catalogue (TailorWizardPage *self);
gint64 tailor_wizard_page_get_project_id (TailorWizardPage *self);

void tailor_wizard_page_load (TailorWizardPage *self,
                              TailorCatalogue *catalogue,
                              const TailorProject *project);
void tailor_wizard_page_apply_async (TailorWizardPage *self,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean
tailor_wizard_page_apply_finish (TailorWizardPage *self, GAsyncResult *result, GError **error);

/* Shows a message in the window's toast overlay, if the page is inside one. */
void tailor_wizard_page_show_error (TailorWizardPage *self, const char *message);

G_END_DECLS
