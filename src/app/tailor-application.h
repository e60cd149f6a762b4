/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The application: the catalogue, app-wide actions and their keyboard shortcuts. */
#pragma once

#include <adwaita.h>

#include "tailor-catalogue.h"

G_BEGIN_DECLS

#define TAILOR_TYPE_APPLICATION (tailor_application_get_type ())
G_DECLARE_FINAL_TYPE (TailorApplication, tailor_application, TAILOR, APPLICATION, AdwApplication)

TailorApplication *tailor_application_new (void);
/* NULL before startup, or when the catalogue could not be opened (then see the error). */
TailorCatalogue *tailor_application_get_catalogue (TailorApplication *self);
GError *tailor_application_get_catalogue_error (TailorApplication *self);

G_END_DECLS
