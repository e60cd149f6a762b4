/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Model step: choose a GGUF file or a model found in local stores, see what it is, and pin
 * it by SHA-256. */
#pragma once

#include "tailor-wizard-page.h"

G_BEGIN_DECLS

#define TAILOR_TYPE_MODEL_PAGE (tailor_model_page_get_type ())
G_DECLARE_FINAL_TYPE (TailorModelPage, tailor_model_page, TAILOR, MODEL_PAGE, TailorWizardPage)

/* Chooses a model file as if the user had picked it: stores the path, reads it, pins it. */
void tailor_model_page_select_file (TailorModelPage *self, const char *path);
const char *tailor_model_page_get_path (TailorModelPage *self);
/* NULL until the fingerprint is computed. */
const char *tailor_model_page_get_sha256 (TailorModelPage *self);
/* TRUE while the model list is being gathered. */
gboolean tailor_model_page_get_discovering (TailorModelPage *self);

G_END_DECLS
