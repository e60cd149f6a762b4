/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Train step: Quick, Balanced or Thorough with every run.json setting under Advanced, then a
 * supervised `tailor-cli train` child with a live loss chart, pause, resume and cancel. */
#pragma once

#include "tailor-run-supervisor.h"
#include "tailor-wizard-page.h"

G_BEGIN_DECLS

typedef enum
{
  TAILOR_TRAIN_PRESET_QUICK,
  TAILOR_TRAIN_PRESET_BALANCED,
  TAILOR_TRAIN_PRESET_THOROUGH,
} TailorTrainPreset;

#define TAILOR_TYPE_TRAIN_PAGE (tailor_train_page_get_type ())
G_DECLARE_FINAL_TYPE (TailorTrainPage, tailor_train_page, TAILOR, TRAIN_PAGE, TailorWizardPage)

TailorTrainPreset tailor_train_page_get_preset (TailorTrainPage *self);
/* The run.json settings the page would start a run with (without data files and folder). */
JsonObject *tailor_train_page_dup_settings (TailorTrainPage *self);
/* The supervisor of the run shown, or NULL when no run is shown. */
TailorRunSupervisor *tailor_train_page_get_supervisor (TailorTrainPage *self);
/* The catalogue id of the run shown, or 0. */
gint64 tailor_train_page_get_run_id (TailorTrainPage *self);
/* TRUE while a run folder is being prepared. */
gboolean tailor_train_page_get_busy (TailorTrainPage *self);

G_END_DECLS
