/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Documents step: import files, review the hygiene report, choose what happens to secrets,
 * keep a glossary, see the split with its evaluation set and the versions it made. */
#pragma once

#include "tailor-wizard-page.h"

G_BEGIN_DECLS

#define TAILOR_TYPE_DOCUMENTS_PAGE (tailor_documents_page_get_type ())
G_DECLARE_FINAL_TYPE (TailorDocumentsPage,
                      tailor_documents_page,
                      TAILOR,
                      DOCUMENTS_PAGE,
                      TailorWizardPage)

/* Lists files as ready to import, as if the user had dropped them on the page. */
void tailor_documents_page_add_files (TailorDocumentsPage *self, const char *const *paths);
/* TRUE while files are read, a version is built or a report is made. */
gboolean tailor_documents_page_get_busy (TailorDocumentsPage *self);
/* The version the next steps use, or NULL before the first import. */
const char *tailor_documents_page_get_version_id (TailorDocumentsPage *self);

G_END_DECLS
