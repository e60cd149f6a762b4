/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A wizard step whose engine part is not built yet: says so plainly, and never completes. */
#pragma once

#include "tailor-wizard-page.h"

G_BEGIN_DECLS

#define TAILOR_TYPE_PENDING_PAGE (tailor_pending_page_get_type ())
G_DECLARE_FINAL_TYPE (TailorPendingPage, tailor_pending_page, TAILOR, PENDING_PAGE, TailorWizardPage)

/* description: what the step will do once it exists. */
TailorWizardPage *
tailor_pending_page_new (const char *step_id,
                         const char *title,
                         const char *description,
                         gboolean can_continue);

G_END_DECLS
