/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Goal step: which behaviours to change, and the training defaults they imply. */
#pragma once

#include "tailor-goal.h"
#include "tailor-wizard-page.h"

G_BEGIN_DECLS

#define TAILOR_TYPE_GOAL_PAGE (tailor_goal_page_get_type ())
G_DECLARE_FINAL_TYPE (TailorGoalPage, tailor_goal_page, TAILOR, GOAL_PAGE, TailorWizardPage)

TailorGoal tailor_goal_page_get_goals (TailorGoalPage *self);

G_END_DECLS
