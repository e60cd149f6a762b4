/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of goal names and the run defaults each goal implies. */
#include "config.h"

#include <string.h>

#include "tailor-goal.h"

static void
test_names_round_trip (void)
{
  TailorGoal goals[] = { TAILOR_GOAL_FORMAT,      TAILOR_GOAL_TONE,        TAILOR_GOAL_TERMINOLOGY,
                         TAILOR_GOAL_TOOL_USE,    TAILOR_GOAL_NARROW_TASK, TAILOR_GOAL_STYLE_GUIDE,
                         TAILOR_GOAL_DOCUMENTS_QA };

  for (guint i = 0; i < G_N_ELEMENTS (goals); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *text = tailor_goal_to_string (goals[i]);
      TailorGoal parsed = TAILOR_GOAL_NONE;

      g_assert_cmpstr (text, ==, tailor_goal_name (goals[i]));
      g_assert_true (tailor_goal_from_string (text, &parsed, &error));
      g_assert_no_error (error);
      g_assert_cmpint (parsed, ==, goals[i]);
    }
  g_assert_null (tailor_goal_name (TAILOR_GOAL_TONE | TAILOR_GOAL_FORMAT));
  g_assert_null (tailor_goal_name (TAILOR_GOAL_NONE));
}

static void
test_combination_is_stored_in_flag_order (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text =
    tailor_goal_to_string (TAILOR_GOAL_STYLE_GUIDE | TAILOR_GOAL_FORMAT | TAILOR_GOAL_TONE);
  g_autofree char *empty = tailor_goal_to_string (TAILOR_GOAL_NONE);
  TailorGoal parsed = TAILOR_GOAL_NONE;

  g_assert_cmpstr (text, ==, "format,tone,style-guide");
  g_assert_cmpstr (empty, ==, "");
  g_assert_true (tailor_goal_from_string (" style-guide , format,,tone ", &parsed, &error));
  g_assert_no_error (error);
  g_assert_cmpint (parsed, ==, TAILOR_GOAL_STYLE_GUIDE | TAILOR_GOAL_FORMAT | TAILOR_GOAL_TONE);
  g_assert_true (tailor_goal_from_string ("", &parsed, &error));
  g_assert_cmpint (parsed, ==, TAILOR_GOAL_NONE);
  g_assert_true (tailor_goal_from_string (NULL, &parsed, &error));
  g_assert_cmpint (parsed, ==, TAILOR_GOAL_NONE);
}

static void
test_unknown_name_is_an_error_naming_it (void)
{
  g_autoptr (GError) error = NULL;
  TailorGoal parsed = TAILOR_GOAL_TONE;

  g_assert_false (tailor_goal_from_string ("tone,poetry", &parsed, &error));
  g_assert_error (error, TAILOR_GOAL_ERROR, TAILOR_GOAL_ERROR_UNKNOWN);
  g_assert_nonnull (strstr (error->message, "“poetry”"));
  g_assert_cmpint (parsed, ==, TAILOR_GOAL_TONE);
}

/* The table a reviewer can check against the reasoning in tailor-goal.c. */
static void
test_each_goal_has_its_defaults (void)
{
  static const struct
  {
    TailorGoal goal;
    const char *targets;
    guint rank;
    double alpha;
    double lr;
    guint epochs;
    const char *loss_on;
  } cases[] = {
    { TAILOR_GOAL_NONE, "q,k,v,o,gate,up,down", 16, 32, 2e-4, 2, "assistant" },
    { TAILOR_GOAL_FORMAT, "q,k,v,o", 8, 16, 2e-4, 3, "assistant" },
    { TAILOR_GOAL_TONE, "q,k,v,o", 8, 16, 1e-4, 2, "assistant" },
    { TAILOR_GOAL_TERMINOLOGY, "q,k,v,o,gate,up,down", 16, 32, 2e-4, 3, "assistant" },
    { TAILOR_GOAL_TOOL_USE, "q,k,v,o,gate,up,down", 16, 32, 1e-4, 3, "assistant" },
    { TAILOR_GOAL_NARROW_TASK, "q,k,v,o,gate,up,down", 16, 32, 2e-4, 4, "assistant" },
    { TAILOR_GOAL_STYLE_GUIDE, "q,k,v,o,gate,up,down", 16, 32, 1e-4, 3, "assistant" },
    { TAILOR_GOAL_DOCUMENTS_QA, "q,k,v,o,gate,up,down", 32, 64, 1e-4, 3, "all" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      TailorGoalDefaults d;
      g_autofree char *targets = NULL;

      tailor_goal_get_defaults (cases[i].goal, &d);
      targets = tailor_lora_targets_to_string (d.targets);
      g_test_message ("goal %s", tailor_goal_name (cases[i].goal));
      g_assert_cmpstr (targets, ==, cases[i].targets);
      g_assert_cmpuint (d.rank, ==, cases[i].rank);
      g_assert_cmpfloat (d.alpha, ==, cases[i].alpha);
      g_assert_cmpfloat_with_epsilon (d.learning_rate, cases[i].lr, 1e-12);
      g_assert_cmpuint (d.epochs, ==, cases[i].epochs);
      g_assert_cmpstr (tailor_loss_on_name (d.loss_on), ==, cases[i].loss_on);
    }
}

static void
test_combined_goals_take_the_safe_union (void)
{
  TailorGoalDefaults d;
  g_autofree char *targets = NULL;

  /* Format (attention, rank 8, 2e-4, 3 epochs) with tone (attention, rank 8, 1e-4, 2). */
  tailor_goal_get_defaults (TAILOR_GOAL_FORMAT | TAILOR_GOAL_TONE, &d);
  targets = tailor_lora_targets_to_string (d.targets);
  g_assert_cmpstr (targets, ==, "q,k,v,o");
  g_assert_cmpuint (d.rank, ==, 8);
  g_assert_cmpfloat (d.alpha, ==, 16);
  g_assert_cmpfloat_with_epsilon (d.learning_rate, 1e-4, 1e-12);
  g_assert_cmpuint (d.epochs, ==, 3);
  g_assert_cmpint (d.loss_on, ==, TAILOR_LOSS_ON_ASSISTANT);
  g_clear_pointer (&targets, g_free);

  /* Tone with documents-qa: every target, rank 32, all text. */
  tailor_goal_get_defaults (TAILOR_GOAL_TONE | TAILOR_GOAL_DOCUMENTS_QA, &d);
  targets = tailor_lora_targets_to_string (d.targets);
  g_assert_cmpstr (targets, ==, "q,k,v,o,gate,up,down");
  g_assert_cmpuint (d.rank, ==, 32);
  g_assert_cmpfloat (d.alpha, ==, 64);
  g_assert_cmpfloat_with_epsilon (d.learning_rate, 1e-4, 1e-12);
  g_assert_cmpuint (d.epochs, ==, 3);
  g_assert_cmpint (d.loss_on, ==, TAILOR_LOSS_ON_ALL);
  g_clear_pointer (&targets, g_free);

  /* Format with a narrow task: the task's MLP targets and rank join format's. */
  tailor_goal_get_defaults (TAILOR_GOAL_FORMAT | TAILOR_GOAL_NARROW_TASK, &d);
  targets = tailor_lora_targets_to_string (d.targets);
  g_assert_cmpstr (targets, ==, "q,k,v,o,gate,up,down");
  g_assert_cmpuint (d.rank, ==, 16);
  g_assert_cmpfloat (d.alpha, ==, 32);
  g_assert_cmpfloat_with_epsilon (d.learning_rate, 2e-4, 1e-12);
  g_assert_cmpuint (d.epochs, ==, 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/goal/names-round-trip", test_names_round_trip);
  g_test_add_func ("/goal/combination-is-stored-in-flag-order",
                   test_combination_is_stored_in_flag_order);
  g_test_add_func ("/goal/unknown-name-is-an-error-naming-it",
                   test_unknown_name_is_an_error_naming_it);
  g_test_add_func ("/goal/each-goal-has-its-defaults", test_each_goal_has_its_defaults);
  g_test_add_func ("/goal/combined-goals-take-the-safe-union",
                   test_combined_goals_take_the_safe_union);

  return g_test_run ();
}
