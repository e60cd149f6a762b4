/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the user wants to change in a model, and the run settings that goal implies. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TAILOR_GOAL_ERROR (tailor_goal_error_quark ())
GQuark tailor_goal_error_quark (void);

typedef enum
{
  TAILOR_GOAL_ERROR_UNKNOWN, /* a goal text names a behaviour Tailor does not know */
} TailorGoalError;

/* The behaviours a project can tune; several may be chosen together. */
typedef enum
{
  TAILOR_GOAL_NONE = 0,
  TAILOR_GOAL_FORMAT = 1 << 0,      /* "format": output format and structure */
  TAILOR_GOAL_TONE = 1 << 1,        /* "tone": tone and clarity */
  TAILOR_GOAL_TERMINOLOGY = 1 << 2, /* "terminology": terminology and house style */
  TAILOR_GOAL_TOOL_USE = 1 << 3,    /* "tool-use": tool-use and refusal patterns */
  TAILOR_GOAL_NARROW_TASK = 1 << 4, /* "narrow-task": one narrow task done well */
  TAILOR_GOAL_STYLE_GUIDE = 1 << 5, /* "style-guide": adherence to a written style guide */
  /* "documents-qa": answering questions from the user's documents. Retrieval fits that better;
   * it is only ever set after the user has read why and chosen to continue. */
  TAILOR_GOAL_DOCUMENTS_QA = 1 << 6,
} TailorGoal;

#define TAILOR_GOAL_ALL                                                                            \
  (TAILOR_GOAL_FORMAT | TAILOR_GOAL_TONE | TAILOR_GOAL_TERMINOLOGY | TAILOR_GOAL_TOOL_USE |        \
   TAILOR_GOAL_NARROW_TASK | TAILOR_GOAL_STYLE_GUIDE | TAILOR_GOAL_DOCUMENTS_QA)

typedef enum
{
  TAILOR_LORA_TARGET_Q = 1 << 0,
  TAILOR_LORA_TARGET_K = 1 << 1,
  TAILOR_LORA_TARGET_V = 1 << 2,
  TAILOR_LORA_TARGET_O = 1 << 3,
  TAILOR_LORA_TARGET_GATE = 1 << 4,
  TAILOR_LORA_TARGET_UP = 1 << 5,
  TAILOR_LORA_TARGET_DOWN = 1 << 6,
} TailorLoraTargets;

#define TAILOR_LORA_TARGETS_ATTENTION                                                              \
  (TAILOR_LORA_TARGET_Q | TAILOR_LORA_TARGET_K | TAILOR_LORA_TARGET_V | TAILOR_LORA_TARGET_O)
#define TAILOR_LORA_TARGETS_ALL                                                                    \
  (TAILOR_LORA_TARGETS_ATTENTION | TAILOR_LORA_TARGET_GATE | TAILOR_LORA_TARGET_UP |               \
   TAILOR_LORA_TARGET_DOWN)

typedef enum
{
  TAILOR_LOSS_ON_ASSISTANT, /* "assistant": only the answers the model should learn to give */
  TAILOR_LOSS_ON_ALL,       /* "all": every token, prompts included */
} TailorLossOn;

/* The run.json settings a goal decides; everything else keeps run.json's own defaults. */
typedef struct
{
  TailorLoraTargets targets;
  guint rank;
  double alpha;
  double learning_rate;
  guint epochs;
  TailorLossOn loss_on;
} TailorGoalDefaults;

/* The stable name stored in the catalogue and run.json ("tone", …); NULL for a combination or
 * NONE. */
const char *tailor_goal_name (TailorGoal goal);

/* A catalogue goal text is the chosen names joined by ',' in flag order ("" for none). */
char *tailor_goal_to_string (TailorGoal goals);
/* Parses a goal text; whitespace around names is ignored, "" and NULL are NONE. An unknown
 * name is TAILOR_GOAL_ERROR_UNKNOWN naming it. */
gboolean tailor_goal_from_string (const char *text, TailorGoal *out, GError **error);

/* The defaults for a set of goals. NONE gets the balanced defaults of DESIGN.md's run.json.
 * Several goals combine to the union of targets, the largest rank and epochs, the smallest
 * learning rate and loss on all text when any goal asks for it; alpha stays twice the rank. */
void tailor_goal_get_defaults (TailorGoal goals, TailorGoalDefaults *out);

/* "q,k,v,o" style list of targets, in run.json order (q k v o gate up down). */
char *tailor_lora_targets_to_string (TailorLoraTargets targets);
const char *tailor_loss_on_name (TailorLossOn loss_on); /* "assistant", "all" */

G_END_DECLS
