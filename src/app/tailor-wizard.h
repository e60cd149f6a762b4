/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The assistant: the steps of one project, a step indicator, Back and a suggested Next that
 * moves on only when the current page's apply succeeds. */
#pragma once

#include <adwaita.h>

#include "tailor-catalogue.h"
#include "tailor-wizard-page.h"

G_BEGIN_DECLS

#define TAILOR_TYPE_WIZARD (tailor_wizard_get_type ())
G_DECLARE_FINAL_TYPE (TailorWizard, tailor_wizard, TAILOR, WIZARD, AdwBin)

/* Loads the project's choices into every page and shows the step it was left on. */
void tailor_wizard_set_project (TailorWizard *self,
                                TailorCatalogue *catalogue,
                                const TailorProject *project);
void tailor_wizard_set_project_name (TailorWizard *self, const char *name);
gint64 tailor_wizard_get_project_id (TailorWizard *self);

const char *tailor_wizard_get_step_id (TailorWizard *self);
TailorWizardPage *tailor_wizard_get_page (TailorWizard *self, const char *step_id);
/* The pages, in step order. */
guint tailor_wizard_get_n_steps (TailorWizard *self);
TailorWizardPage *tailor_wizard_get_nth_page (TailorWizard *self, guint i);
/* Goes to a step without applying the current one (going back, or a test's screenshot). */
void tailor_wizard_show_step (TailorWizard *self, const char *step_id);

G_END_DECLS
