/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The main window: a sidebar of tuning projects and the selected project's wizard. */
#pragma once

#include <adwaita.h>

#include "tailor-application.h"
#include "tailor-wizard.h"

G_BEGIN_DECLS

#define TAILOR_TYPE_WINDOW (tailor_window_get_type ())
G_DECLARE_FINAL_TYPE (TailorWindow, tailor_window, TAILOR, WINDOW, AdwApplicationWindow)

TailorWindow *tailor_window_new (TailorApplication *application);

TailorWizard *tailor_window_get_wizard (TailorWindow *self);
/* The project the wizard shows, 0 when none. */
gint64 tailor_window_get_project_id (TailorWindow *self);
/* Selects a project as a click in the sidebar would. */
void tailor_window_select_project (TailorWindow *self, gint64 project_id);

G_END_DECLS
