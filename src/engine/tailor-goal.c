/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Goals: their stored names and the run defaults each one implies. */
#include "config.h"

#include <string.h>

#include "tailor-goal.h"

G_DEFINE_QUARK (tailor-goal-error-quark, tailor_goal_error)

typedef struct
{
  TailorGoal goal;
  const char *name;
  TailorGoalDefaults defaults;
} GoalEntry;

/* Why these numbers: a format or a tone is a shallow, consistent pattern that the attention
 * projections learn at a small rank; terminology, tools and narrow tasks touch what the MLP
 * stores, so they adapt every projection at a larger rank. Goals that must not drift from
 * the base model's general skill (tone, tools, style guides) take a gentler learning rate.
 * Answering from documents is the only goal that learns the documents' text itself, hence
 * loss on all text and the largest rank. */
static const GoalEntry goals[] = {
  { TAILOR_GOAL_FORMAT, "format",
    { TAILOR_LORA_TARGETS_ATTENTION, 8, 16.0, 2e-4, 3, TAILOR_LOSS_ON_ASSISTANT } },
  { TAILOR_GOAL_TONE, "tone",
    { TAILOR_LORA_TARGETS_ATTENTION, 8, 16.0, 1e-4, 2, TAILOR_LOSS_ON_ASSISTANT } },
  { TAILOR_GOAL_TERMINOLOGY, "terminology",
    { TAILOR_LORA_TARGETS_ALL, 16, 32.0, 2e-4, 3, TAILOR_LOSS_ON_ASSISTANT } },
  { TAILOR_GOAL_TOOL_USE, "tool-use",
    { TAILOR_LORA_TARGETS_ALL, 16, 32.0, 1e-4, 3, TAILOR_LOSS_ON_ASSISTANT } },
  { TAILOR_GOAL_NARROW_TASK, "narrow-task",
    { TAILOR_LORA_TARGETS_ALL, 16, 32.0, 2e-4, 4, TAILOR_LOSS_ON_ASSISTANT } },
  { TAILOR_GOAL_STYLE_GUIDE, "style-guide",
    { TAILOR_LORA_TARGETS_ALL, 16, 32.0, 1e-4, 3, TAILOR_LOSS_ON_ASSISTANT } },
  { TAILOR_GOAL_DOCUMENTS_QA, "documents-qa",
    { TAILOR_LORA_TARGETS_ALL, 32, 64.0, 1e-4, 3, TAILOR_LOSS_ON_ALL } },
};

/* DESIGN.md's run.json: the balanced choice when nothing more is known. */
static const TailorGoalDefaults balanced = {
  TAILOR_LORA_TARGETS_ALL, 16, 32.0, 2e-4, 2, TAILOR_LOSS_ON_ASSISTANT
};

const char *
tailor_goal_name (TailorGoal goal)
{
  for (guint i = 0; i < G_N_ELEMENTS (goals); i++)
    if (goals[i].goal == goal)
      return goals[i].name;
  return NULL;
}

char *
tailor_goal_to_string (TailorGoal goal_set)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (goals); i++)
    if (goal_set & goals[i].goal)
      {
        if (s->len > 0)
          g_string_append_c (s, ',');
        g_string_append (s, goals[i].name);
      }
  return g_string_free (s, FALSE);
}

gboolean
tailor_goal_from_string (const char *text, TailorGoal *out, GError **error)
{
  g_auto (GStrv) names = NULL;
  TailorGoal result = TAILOR_GOAL_NONE;

  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (text == NULL)
    {
      *out = TAILOR_GOAL_NONE;
      return TRUE;
    }
  names = g_strsplit (text, ",", -1);
  for (guint n = 0; names[n] != NULL; n++)
    {
      const char *name = g_strstrip (names[n]);
      gboolean known = FALSE;

      if (*name == '\0')
        continue;
      for (guint i = 0; i < G_N_ELEMENTS (goals) && !known; i++)
        if (strcmp (goals[i].name, name) == 0)
          {
            result |= goals[i].goal;
            known = TRUE;
          }
      if (!known)
        {
          g_set_error (error, TAILOR_GOAL_ERROR, TAILOR_GOAL_ERROR_UNKNOWN,
                       "Unknown goal “%s” in “%s”: expected a comma-separated list of format, "
                       "tone, terminology, tool-use, narrow-task, style-guide or documents-qa",
                       name, text);
          return FALSE;
        }
    }
  *out = result;
  return TRUE;
}

void
tailor_goal_get_defaults (TailorGoal goal_set, TailorGoalDefaults *out)
{
  gboolean first = TRUE;

  g_return_if_fail (out != NULL);

  *out = balanced;
  for (guint i = 0; i < G_N_ELEMENTS (goals); i++)
    {
      const TailorGoalDefaults *d = &goals[i].defaults;

      if ((goal_set & goals[i].goal) == 0)
        continue;
      if (first)
        {
          *out = *d;
          first = FALSE;
          continue;
        }
      out->targets |= d->targets;
      out->rank = MAX (out->rank, d->rank);
      out->alpha = 2.0 * out->rank;
      out->learning_rate = MIN (out->learning_rate, d->learning_rate);
      out->epochs = MAX (out->epochs, d->epochs);
      if (d->loss_on == TAILOR_LOSS_ON_ALL)
        out->loss_on = TAILOR_LOSS_ON_ALL;
    }
}

char *
tailor_lora_targets_to_string (TailorLoraTargets targets)
{
  static const struct
  {
    TailorLoraTargets target;
    const char *name;
  } names[] = {
    { TAILOR_LORA_TARGET_Q, "q" },       { TAILOR_LORA_TARGET_K, "k" },
    { TAILOR_LORA_TARGET_V, "v" },       { TAILOR_LORA_TARGET_O, "o" },
    { TAILOR_LORA_TARGET_GATE, "gate" }, { TAILOR_LORA_TARGET_UP, "up" },
    { TAILOR_LORA_TARGET_DOWN, "down" },
  };
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (targets & names[i].target)
      {
        if (s->len > 0)
          g_string_append_c (s, ',');
        g_string_append (s, names[i].name);
      }
  return g_string_free (s, FALSE);
}

const char *
tailor_loss_on_name (TailorLossOn loss_on)
{
  switch (loss_on)
    {
    case TAILOR_LOSS_ON_ALL:
      return "all";
    case TAILOR_LOSS_ON_ASSISTANT:
    default:
      return "assistant";
    }
}
