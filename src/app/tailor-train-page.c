/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorTrainPage: presets derived from the goal and the data, the Advanced settings, preparing
 * and launching a run, and the live view of the supervised child (chart, step, speed, time left,
 * memory, pause, resume, cancel, errors with advice). Metrics go to the catalogue as they
 * arrive; a run left going when the window closed is found again on load. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "tailor-devices.h"
#include "tailor-documents-work.h"
#include "tailor-goal.h"
#include "tailor-line-chart.h"
#include "tailor-model-facts.h"
#include "tailor-train-page.h"

/* Metrics are written in one transaction at most this often: a fast trainer sends hundreds of
 * steps a second. */
#define METRIC_FLUSH_MS 1000

typedef struct
{
  int method; /* TailorTrainMethod order: qlora, lora, full */
  guint targets;
  int rank;
  double alpha;
  double dropout;
  gboolean rslora;
  double lr;
  int schedule; /* cosine, linear, constant */
  int warmup;
  double weight_decay;
  double grad_clip;
  int seq_len;
  int batch;
  int grad_accum;
  int epochs;
  int max_steps; /* 0: the epochs decide */
  gboolean packing;
  gboolean loss_on_all;
  gboolean grad_checkpointing;
  int seed;
  int eval_every;
  int checkpoint_every;
  char device[32]; /* run.json's "device": auto, vulkan:N, cpu */
} Settings;

static const char *const method_names[] = { "qlora", "lora", "full" };
static const char *const schedule_names[] = { "cosine", "linear", "constant" };
static const struct
{
  guint flag;
  const char *name;
} targets[] = {
  { TAILOR_LORA_TARGET_Q, "q" },       { TAILOR_LORA_TARGET_K, "k" },
  { TAILOR_LORA_TARGET_V, "v" },       { TAILOR_LORA_TARGET_O, "o" },
  { TAILOR_LORA_TARGET_GATE, "gate" }, { TAILOR_LORA_TARGET_UP, "up" },
  { TAILOR_LORA_TARGET_DOWN, "down" },
};

typedef struct
{
  gint64 step;
  const char *name; /* static */
  double value;
} PendingMetric;

struct _TailorTrainPage
{
  TailorWizardPage parent_instance;

  /* Borrowed: the page's child */
  GtkStack *stack;

  /* Template widgets */
  AdwPreferencesGroup *missing_group;
  AdwActionRow *missing_row;
  AdwPreferencesGroup *choice_group;
  AdwActionRow *quick_row;
  AdwActionRow *balanced_row;
  AdwActionRow *thorough_row;
  GtkCheckButton *quick_check;
  GtkCheckButton *balanced_check;
  GtkCheckButton *thorough_check;
  AdwPreferencesGroup *advanced_group;
  GtkLabel *validation_label;
  GtkSpinner *start_spinner;
  AdwActionRow *status_row;
  GtkSpinner *run_spinner;
  AdwActionRow *step_row;
  GtkProgressBar *progress_bar;
  TailorLineChart *chart;
  AdwPreferencesGroup *error_group;
  AdwActionRow *error_row;
  AdwActionRow *speed_row;
  AdwActionRow *eta_row;
  AdwActionRow *memory_row;
  AdwActionRow *device_row;
  AdwActionRow *folder_row;
  GtkWidget *pause_button;
  GtkWidget *resume_button;
  GtkWidget *new_button;
  GtkWidget *cancel_button;

  /* Advanced settings, built in code */
  AdwComboRow *method_row;
  GtkToggleButton *target_buttons[G_N_ELEMENTS (targets)];
  GtkSpinButton *rank_spin;
  GtkSpinButton *alpha_spin;
  GtkSpinButton *dropout_spin;
  GtkSwitch *rslora_switch;
  AdwEntryRow *lr_row;
  AdwComboRow *schedule_row;
  GtkSpinButton *warmup_spin;
  GtkSpinButton *weight_decay_spin;
  GtkSpinButton *grad_clip_spin;
  GtkSpinButton *seq_len_spin;
  GtkSpinButton *batch_spin;
  GtkSpinButton *grad_accum_spin;
  GtkSpinButton *epochs_spin;
  GtkSpinButton *max_steps_spin;
  GtkSwitch *packing_switch;
  AdwComboRow *loss_row;
  GtkSwitch *grad_checkpointing_switch;
  GtkSpinButton *seed_spin;
  GtkSpinButton *eval_every_spin;
  GtkSpinButton *checkpoint_every_spin;
  AdwExpanderRow *device_expander;
  GPtrArray *device_rows; /* AdwActionRow, borrowed: the expander's rows */
  GtkCheckButton *device_group; /* the first device's check button, which the others join */
  AdwActionRow *warning_row;

  /* Owned */
  GPtrArray *device_choices; /* TailorDeviceChoice */
  char *device_id;           /* the chosen one's */
  GCancellable *devices_cancellable;
  TailorChartSeries *train_series;
  TailorChartSeries *eval_series;
  TailorRunSupervisor *supervisor;
  GCancellable *prepare_cancellable;
  GArray *pending; /* PendingMetric */
  guint flush_id;
  guint generation; /* bumped on every load: late results for an old project are dropped */

  TailorGoal goals;
  char *base_model;
  char *base_sha256;
  gint64 model_context; /* -1: unknown */
  gboolean model_float; /* F32/F16/BF16 weights: plain LoRA and full tuning are possible */
  char *version_id;
  guint64 n_train;
  guint64 n_eval;
  double measured_tokens_per_second; /* from the project's earlier runs; 0 unknown */

  gint64 run_id;
  char *run_status; /* as the catalogue has it */
  gboolean syncing; /* widgets are set from a preset: not the user's edit */
};

G_DEFINE_FINAL_TYPE (TailorTrainPage, tailor_train_page, TAILOR_TYPE_WIZARD_PAGE)

enum
{
  PROP_0,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void update_run_view (TailorTrainPage *self);
static void validate (TailorTrainPage *self);

/* ---- Presets ---- */

static guint64
steps_per_epoch (const TailorTrainPage *self, const Settings *s)
{
  guint64 per_step = (guint64) MAX (1, s->batch) * (guint64) MAX (1, s->grad_accum);

  return MAX (1, (self->n_train + per_step - 1) / per_step);
}

static guint64
total_steps (const TailorTrainPage *self, const Settings *s)
{
  if (s->max_steps > 0)
    return (guint64) s->max_steps;
  return steps_per_epoch (self, s) * (guint64) MAX (1, s->epochs);
}

/* The goal decides what is adapted and how; the preset how long and how large, scaled to the
 * amount of data: few examples need more passes, many examples a cap on the steps. */
static void
preset_settings (const TailorTrainPage *self, TailorTrainPreset preset, Settings *s)
{
  TailorGoalDefaults d;
  gboolean few = self->n_train < 100;
  guint64 per_epoch;
  guint64 cap = 0;
  guint64 total;

  tailor_goal_get_defaults (self->goals, &d);
  memset (s, 0, sizeof *s);
  s->method = 0;
  s->targets = d.targets;
  s->rank = (int) d.rank;
  s->alpha = d.alpha;
  s->dropout = 0.05;
  s->lr = d.learning_rate;
  s->schedule = 0;
  s->weight_decay = 0.0;
  s->grad_clip = 1.0;
  s->seq_len = self->model_context > 0 ? (int) MIN (512, self->model_context) : 512;
  s->batch = 4;
  s->grad_accum = 1;
  s->epochs = (int) d.epochs;
  s->packing = TRUE;
  s->loss_on_all = d.loss_on == TAILOR_LOSS_ON_ALL;
  s->grad_checkpointing = TRUE;
  s->seed = 42;

  switch (preset)
    {
    case TAILOR_TRAIN_PRESET_QUICK:
      s->epochs = 1;
      s->rank = MAX (4, s->rank / 2);
      cap = 100;
      break;
    case TAILOR_TRAIN_PRESET_THOROUGH:
      s->epochs = (int) d.epochs + (few ? 2 : 1);
      s->rank = MIN (64, s->rank * 2);
      cap = 3000;
      break;
    case TAILOR_TRAIN_PRESET_BALANCED:
    default:
      s->epochs = (int) d.epochs + (few ? 1 : 0);
      cap = 1000;
      break;
    }
  s->alpha = 2.0 * s->rank;
  per_epoch = steps_per_epoch (self, s);
  if (per_epoch * (guint64) s->epochs > cap)
    s->max_steps = (int) cap;
  total = total_steps (self, s);
  /* a curve of about eight held-out points, and checkpoints often enough to lose little */
  s->warmup = (int) CLAMP (total / 10, 1, 10);
  s->eval_every = (int) CLAMP (total / 8, 1, 50);
  s->checkpoint_every = (int) CLAMP (total / 4, 1, 100);
}

static char *
format_duration (double seconds)
{
  guint s = (guint) MAX (0, seconds);

  if (s >= 3600)
    /* Translators: a duration, e.g. "2 h 05 min" */
    return g_strdup_printf (_("%u h %02u min"), s / 3600, (s / 60) % 60);
  if (s >= 60)
    /* Translators: a duration, e.g. "4 min 20 s" */
    return g_strdup_printf (_("%u min %02u s"), s / 60, s % 60);
  /* Translators: a duration in seconds, e.g. "45 s" */
  return g_strdup_printf (_("%u s"), s);
}

static void
describe_preset (TailorTrainPage *self, TailorTrainPreset preset, AdwActionRow *row)
{
  static const char *const sentences[] = {
    N_("A first look in a few minutes: one pass over your examples with a smaller adapter."),
    N_("The settings your goal suggests, with enough passes for your amount of data."),
    N_("More passes and a larger adapter, for the best result when there is time."),
  };
  Settings s;
  guint64 steps;
  g_autofree char *amount = NULL;
  g_autofree char *subtitle = NULL;

  preset_settings (self, preset, &s);
  steps = total_steps (self, &s);
  if (self->measured_tokens_per_second > 0)
    {
      double tokens = (double) steps * s.batch * s.grad_accum * s.seq_len;
      g_autofree char *time = format_duration (tokens / self->measured_tokens_per_second);

      /* Translators: e.g. "120 steps, about 4 min 20 s at the speed of your last run" */
      amount = g_strdup_printf (ngettext ("%u step, about %s at the speed of your last run",
                                          "%u steps, about %s at the speed of your last run",
                                          (gulong) steps),
                                (guint) steps, time);
    }
  else
    /* Translators: e.g. "120 steps; the time is estimated after your first run" */
    amount = g_strdup_printf (ngettext ("%u step; the time is estimated after your first run",
                                        "%u steps; the time is estimated after your first run",
                                        (gulong) steps),
                              (guint) steps);
  subtitle = g_strdup_printf ("%s\n%s", _(sentences[preset]), amount);
  adw_action_row_set_subtitle (row, subtitle);
}

TailorTrainPreset
tailor_train_page_get_preset (TailorTrainPage *self)
{
  g_return_val_if_fail (TAILOR_IS_TRAIN_PAGE (self), TAILOR_TRAIN_PRESET_BALANCED);

  if (gtk_check_button_get_active (self->quick_check))
    return TAILOR_TRAIN_PRESET_QUICK;
  if (gtk_check_button_get_active (self->thorough_check))
    return TAILOR_TRAIN_PRESET_THOROUGH;
  return TAILOR_TRAIN_PRESET_BALANCED;
}

/* ---- Settings and widgets ---- */

static void
show_settings (TailorTrainPage *self, const Settings *s)
{
  g_autofree char *lr = g_strdup_printf ("%g", s->lr);

  self->syncing = TRUE;
  adw_combo_row_set_selected (self->method_row, (guint) s->method);
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    gtk_toggle_button_set_active (self->target_buttons[i], (s->targets & targets[i].flag) != 0);
  gtk_spin_button_set_value (self->rank_spin, s->rank);
  gtk_spin_button_set_value (self->alpha_spin, s->alpha);
  gtk_spin_button_set_value (self->dropout_spin, s->dropout);
  gtk_switch_set_active (self->rslora_switch, s->rslora);
  gtk_editable_set_text (GTK_EDITABLE (self->lr_row), lr);
  adw_combo_row_set_selected (self->schedule_row, (guint) s->schedule);
  gtk_spin_button_set_value (self->warmup_spin, s->warmup);
  gtk_spin_button_set_value (self->weight_decay_spin, s->weight_decay);
  gtk_spin_button_set_value (self->grad_clip_spin, s->grad_clip);
  gtk_spin_button_set_value (self->seq_len_spin, s->seq_len);
  gtk_spin_button_set_value (self->batch_spin, s->batch);
  gtk_spin_button_set_value (self->grad_accum_spin, s->grad_accum);
  gtk_spin_button_set_value (self->epochs_spin, s->epochs);
  gtk_spin_button_set_value (self->max_steps_spin, s->max_steps);
  gtk_switch_set_active (self->packing_switch, s->packing);
  adw_combo_row_set_selected (self->loss_row, s->loss_on_all ? 1 : 0);
  gtk_switch_set_active (self->grad_checkpointing_switch, s->grad_checkpointing);
  gtk_spin_button_set_value (self->seed_spin, s->seed);
  gtk_spin_button_set_value (self->eval_every_spin, s->eval_every);
  gtk_spin_button_set_value (self->checkpoint_every_spin, s->checkpoint_every);
  self->syncing = FALSE;
  validate (self);
}

/* FALSE (with the sentence to show) when the learning rate is not a usable number. */
static gboolean
read_settings (TailorTrainPage *self, Settings *s, char **problem)
{
  const char *lr_text = gtk_editable_get_text (GTK_EDITABLE (self->lr_row));
  char *end = NULL;

  memset (s, 0, sizeof *s);
  s->method = (int) MIN (adw_combo_row_get_selected (self->method_row), 2);
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    if (gtk_toggle_button_get_active (self->target_buttons[i]))
      s->targets |= targets[i].flag;
  s->rank = gtk_spin_button_get_value_as_int (self->rank_spin);
  s->alpha = gtk_spin_button_get_value (self->alpha_spin);
  s->dropout = gtk_spin_button_get_value (self->dropout_spin);
  s->rslora = gtk_switch_get_active (self->rslora_switch);
  s->lr = g_ascii_strtod (lr_text, &end);
  s->schedule = (int) MIN (adw_combo_row_get_selected (self->schedule_row), 2);
  s->warmup = gtk_spin_button_get_value_as_int (self->warmup_spin);
  s->weight_decay = gtk_spin_button_get_value (self->weight_decay_spin);
  s->grad_clip = gtk_spin_button_get_value (self->grad_clip_spin);
  s->seq_len = gtk_spin_button_get_value_as_int (self->seq_len_spin);
  s->batch = gtk_spin_button_get_value_as_int (self->batch_spin);
  s->grad_accum = gtk_spin_button_get_value_as_int (self->grad_accum_spin);
  s->epochs = gtk_spin_button_get_value_as_int (self->epochs_spin);
  s->max_steps = gtk_spin_button_get_value_as_int (self->max_steps_spin);
  s->packing = gtk_switch_get_active (self->packing_switch);
  s->loss_on_all = adw_combo_row_get_selected (self->loss_row) == 1;
  s->grad_checkpointing = gtk_switch_get_active (self->grad_checkpointing_switch);
  s->seed = gtk_spin_button_get_value_as_int (self->seed_spin);
  s->eval_every = gtk_spin_button_get_value_as_int (self->eval_every_spin);
  s->checkpoint_every = gtk_spin_button_get_value_as_int (self->checkpoint_every_spin);
  /* The device is the machine's, not the preset's: it stays as the user chose it. */
  g_strlcpy (s->device, self->device_id, sizeof s->device);

  *problem = NULL;
  if (lr_text[0] == '\0' || end == NULL || *end != '\0' || !isfinite (s->lr) || s->lr <= 0 ||
      s->lr > 0.1)
    *problem = g_strdup (_("The learning rate must be a number above 0 and at most 0.1, such "
                           "as 0.0002."));
  else if (s->method != 2 && s->targets == 0)
    *problem = g_strdup (_("Choose at least one kind of layer for the adapter to change."));
  else if (s->method != 0 && !self->model_float)
    *problem = g_strdup (_("This model’s weights are quantized: train it with QLoRA, or choose "
                           "a 16- or 32-bit model for LoRA or full tuning."));
  else if (self->model_context > 0 && s->seq_len > self->model_context)
    *problem = g_strdup_printf (_("The sequence length is longer than the model’s context of "
                                  "%u tokens."),
                                (guint) self->model_context);
  else if ((guint64) s->warmup >= total_steps (self, s))
    *problem = g_strdup_printf (_("The warm-up of %d steps is as long as the whole run of "
                                  "%u steps; use fewer warm-up steps."),
                                s->warmup, (guint) total_steps (self, s));
  return *problem == NULL;
}

static JsonObject *
settings_to_json (TailorTrainPage *self, const Settings *s)
{
  JsonObject *o = json_object_new ();
  JsonObject *lora = json_object_new ();
  JsonObject *optimizer = json_object_new ();
  JsonArray *names = json_array_new ();

  if (self->base_model != NULL)
    json_object_set_string_member (o, "base_model", self->base_model);
  if (self->base_sha256 != NULL)
    json_object_set_string_member (o, "base_sha256", self->base_sha256);
  json_object_set_string_member (o, "method", method_names[s->method]);
  json_object_set_int_member (lora, "rank", s->rank);
  json_object_set_double_member (lora, "alpha", s->alpha);
  json_object_set_double_member (lora, "dropout", s->dropout);
  json_object_set_boolean_member (lora, "rslora", s->rslora);
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    if (s->targets & targets[i].flag)
      json_array_add_string_element (names, targets[i].name);
  json_object_set_array_member (lora, "targets", names);
  json_object_set_object_member (o, "lora", lora);
  json_object_set_double_member (optimizer, "lr", s->lr);
  json_object_set_double_member (optimizer, "weight_decay", s->weight_decay);
  json_object_set_string_member (optimizer, "schedule", schedule_names[s->schedule]);
  json_object_set_int_member (optimizer, "warmup_steps", s->warmup);
  json_object_set_double_member (optimizer, "grad_clip", s->grad_clip);
  json_object_set_object_member (o, "optimizer", optimizer);
  json_object_set_int_member (o, "seq_len", s->seq_len);
  json_object_set_int_member (o, "batch", s->batch);
  json_object_set_int_member (o, "grad_accum", s->grad_accum);
  json_object_set_int_member (o, "epochs", s->epochs);
  if (s->max_steps > 0)
    json_object_set_int_member (o, "max_steps", s->max_steps);
  json_object_set_boolean_member (o, "packing", s->packing);
  json_object_set_string_member (o, "loss_on", s->loss_on_all ? "all" : "assistant");
  json_object_set_boolean_member (o, "grad_checkpointing", s->grad_checkpointing);
  json_object_set_int_member (o, "seed", s->seed);
  json_object_set_string_member (o, "device", s->device);
  json_object_set_int_member (o, "eval_every", s->eval_every);
  json_object_set_int_member (o, "checkpoint_every", s->checkpoint_every);
  return o;
}

JsonObject *
tailor_train_page_dup_settings (TailorTrainPage *self)
{
  g_autofree char *problem = NULL;
  Settings s;

  g_return_val_if_fail (TAILOR_IS_TRAIN_PAGE (self), NULL);

  read_settings (self, &s, &problem);
  return settings_to_json (self, &s);
}

static gboolean
prerequisites_met (TailorTrainPage *self)
{
  return self->base_model != NULL && self->version_id != NULL && self->n_train > 0;
}

static void
validate (TailorTrainPage *self)
{
  g_autofree char *problem = NULL;
  Settings s;
  gboolean ok;

  if (self->syncing)
    return;
  ok = read_settings (self, &s, &problem);
  gtk_label_set_label (self->validation_label, problem != NULL ? problem : "");
  gtk_widget_set_visible (GTK_WIDGET (self->validation_label), problem != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.start",
                                 ok && prerequisites_met (self) &&
                                   self->prepare_cancellable == NULL &&
                                   (self->supervisor == NULL ||
                                    tailor_run_state_is_final (
                                      tailor_run_supervisor_get_state (self->supervisor))));
}

static void
on_setting_changed (TailorTrainPage *self)
{
  validate (self);
}

static void
on_preset_toggled (TailorTrainPage *self, GtkCheckButton *check)
{
  Settings s;

  if (self->syncing || !gtk_check_button_get_active (check))
    return;
  preset_settings (self, tailor_train_page_get_preset (self), &s);
  show_settings (self, &s);
}

/* ---- Building the Advanced rows ---- */

static AdwExpanderRow *
add_expander (TailorTrainPage *self, const char *title, const char *subtitle)
{
  GtkWidget *row = adw_expander_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_expander_row_set_subtitle (ADW_EXPANDER_ROW (row), subtitle);
  adw_preferences_group_add (self->advanced_group, row);
  return ADW_EXPANDER_ROW (row);
}

static GtkWidget *
add_row (AdwExpanderRow *expander, const char *title, const char *subtitle, GtkWidget *suffix)
{
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  if (subtitle != NULL)
    {
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
    }
  gtk_widget_set_valign (suffix, GTK_ALIGN_CENTER);
  gtk_accessible_update_property (GTK_ACCESSIBLE (suffix), GTK_ACCESSIBLE_PROPERTY_LABEL, title,
                                  -1);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), suffix);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), suffix);
  adw_expander_row_add_row (expander, row);
  return row;
}

static GtkSpinButton *
add_spin (TailorTrainPage *self,
          AdwExpanderRow *expander,
          const char *title,
          const char *subtitle,
          double min,
          double max,
          double step,
          guint digits)
{
  GtkWidget *spin = gtk_spin_button_new_with_range (min, max, step);

  gtk_spin_button_set_digits (GTK_SPIN_BUTTON (spin), digits);
  gtk_spin_button_set_numeric (GTK_SPIN_BUTTON (spin), TRUE);
  g_signal_connect_swapped (spin, "value-changed", G_CALLBACK (on_setting_changed), self);
  add_row (expander, title, subtitle, spin);
  return GTK_SPIN_BUTTON (spin);
}

static GtkSwitch *
add_switch (TailorTrainPage *self,
            AdwExpanderRow *expander,
            const char *title,
            const char *subtitle)
{
  GtkWidget *toggle = gtk_switch_new ();

  g_signal_connect_swapped (toggle, "notify::active", G_CALLBACK (on_setting_changed), self);
  add_row (expander, title, subtitle, toggle);
  return GTK_SWITCH (toggle);
}

static AdwComboRow *
add_combo (TailorTrainPage *self,
           AdwExpanderRow *expander,
           const char *title,
           const char *subtitle,
           const char *const *choices)
{
  GtkWidget *row = adw_combo_row_new ();
  g_autoptr (GtkStringList) model = gtk_string_list_new (NULL);

  for (guint i = 0; choices[i] != NULL; i++)
    gtk_string_list_append (model, _(choices[i]));
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  if (subtitle != NULL)
    {
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
    }
  adw_combo_row_set_model (ADW_COMBO_ROW (row), G_LIST_MODEL (model));
  g_signal_connect_swapped (row, "notify::selected", G_CALLBACK (on_setting_changed), self);
  adw_expander_row_add_row (expander, row);
  return ADW_COMBO_ROW (row);
}

static void
add_targets_row (TailorTrainPage *self,
                 AdwExpanderRow *expander,
                 const char *title,
                 guint first,
                 guint last)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 0);
  GtkWidget *row;

  gtk_widget_add_css_class (box, "linked");
  for (guint i = first; i <= last; i++)
    {
      GtkWidget *button = gtk_toggle_button_new_with_label (targets[i].name);
      /* Translators: accessible name of a LoRA target toggle, e.g. "Adapt q" */
      g_autofree char *label = g_strdup_printf (_("Adapt %s"), targets[i].name);

      gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      label, -1);
      g_signal_connect_swapped (button, "toggled", G_CALLBACK (on_setting_changed), self);
      gtk_box_append (GTK_BOX (box), button);
      self->target_buttons[i] = GTK_TOGGLE_BUTTON (button);
    }
  row = add_row (expander, title, NULL, box);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), NULL);
}

static void
build_advanced (TailorTrainPage *self)
{
  static const char *const methods[] = { N_("QLoRA"), N_("LoRA"), N_("Full"), NULL };
  static const char *const schedules[] = { N_("Cosine"), N_("Linear"), N_("Constant"), NULL };
  static const char *const losses[] = { N_("The answers only"), N_("All text, prompts included"),
                                        NULL };
  AdwExpanderRow *adapter;
  AdwExpanderRow *optimizer;
  AdwExpanderRow *data;
  AdwExpanderRow *run;

  /* First: which device trains is what people look for, and the list grows with the machine. */
  self->device_expander = add_expander (self, _("Device"), NULL);
  adapter = add_expander (self, _("Adapter"), _("Method, layers, rank, alpha, dropout"));
  self->method_row = add_combo (self, adapter, _("Method"),
                                _("QLoRA trains an adapter over the model as it is stored; LoRA "
                                  "needs a 16- or 32-bit model; Full changes every weight of a "
                                  "small model."),
                                methods);
  add_targets_row (self, adapter, _("Attention layers"), 0, 3);
  add_targets_row (self, adapter, _("Feed-forward layers"), 4, 6);
  self->rank_spin = add_spin (self, adapter, _("Rank"),
                              _("The adapter’s size: larger learns more, and needs more memory."),
                              1, 256, 1, 0);
  self->alpha_spin = add_spin (self, adapter, _("Alpha"),
                               _("How strongly the adapter acts; usually twice the rank."), 0.5,
                               1024, 1, 1);
  self->dropout_spin = add_spin (self, adapter, _("Dropout"), NULL, 0, 0.9, 0.01, 2);
  self->rslora_switch = add_switch (self, adapter, _("Rank-stabilised scaling (rsLoRA)"),
                                    _("Scale by alpha / √rank instead of alpha / rank."));

  optimizer = add_expander (self, _("Optimizer"),
                            _("Learning rate, schedule, warm-up, weight decay, clipping"));
  self->lr_row = ADW_ENTRY_ROW (adw_entry_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->lr_row), _("Learning rate"));
  g_signal_connect_swapped (self->lr_row, "changed", G_CALLBACK (on_setting_changed), self);
  adw_expander_row_add_row (optimizer, GTK_WIDGET (self->lr_row));
  self->schedule_row = add_combo (self, optimizer, _("Schedule"),
                                  _("How the learning rate falls after the warm-up."), schedules);
  self->warmup_spin = add_spin (self, optimizer, _("Warm-up steps"), NULL, 0, 100000, 1, 0);
  self->weight_decay_spin = add_spin (self, optimizer, _("Weight decay"), NULL, 0, 1, 0.001, 3);
  self->grad_clip_spin = add_spin (self, optimizer, _("Gradient clipping"),
                                   _("The largest gradient norm; 0 turns clipping off."), 0, 100,
                                   0.1, 2);

  data = add_expander (self, _("Data and Batches"),
                       _("Sequence length, batch, passes, packing, what the loss counts"));
  self->seq_len_spin = add_spin (self, data, _("Sequence length"),
                                 _("Tokens per example; longer ones are cut."), 16, 131072, 16, 0);
  self->batch_spin = add_spin (self, data, _("Batch size"), NULL, 1, 1024, 1, 0);
  self->grad_accum_spin = add_spin (self, data, _("Gradient accumulation"),
                                    _("Batches added up before each step."), 1, 1024, 1, 0);
  self->epochs_spin = add_spin (self, data, _("Passes over the examples"), NULL, 1, 100, 1, 0);
  self->max_steps_spin = add_spin (self, data, _("Maximum steps"),
                                   _("Stop after this many steps; 0 lets the passes decide."), 0,
                                   1000000, 10, 0);
  self->packing_switch = add_switch (self, data, _("Pack short examples together"),
                                     _("Fills each sequence, which makes training faster."));
  self->loss_row = add_combo (self, data, _("Learn from"), NULL, losses);

  run = add_expander (self, _("Run"), _("Memory, seed, evaluation and checkpoints"));
  self->grad_checkpointing_switch =
    add_switch (self, run, _("Gradient checkpointing"),
                _("Uses much less memory for about a third more time."));
  self->seed_spin = add_spin (self, run, _("Seed"),
                              _("The same seed and settings give the same adapter."), 0,
                              G_MAXINT32, 1, 0);
  self->eval_every_spin = add_spin (self, run, _("Held-out loss every"),
                                    _("Steps between measurements; 0 measures only at the end."),
                                    0, 100000, 1, 0);
  self->checkpoint_every_spin =
    add_spin (self, run, _("Checkpoint every"),
              _("Steps between checkpoints; 0 saves only at the end and when paused."), 0, 100000,
              1, 0);
}

/* ---- Devices ---- */

static void
on_device_toggled (TailorTrainPage *self, GtkCheckButton *check)
{
  const TailorDeviceChoice *choice;

  if (self->syncing || !gtk_check_button_get_active (check))
    return;
  choice = g_object_get_data (G_OBJECT (check), "tailor-device-choice");
  g_free (self->device_id);
  self->device_id = g_strdup (choice->id);
  adw_expander_row_set_subtitle (self->device_expander, choice->title);
  validate (self);
}

/* One row per device, the chosen one checked; a choice the new list lacks falls back to
 * Automatic. */
static void
show_devices (TailorTrainPage *self, GPtrArray *choices)
{
  const TailorDeviceChoice *chosen = tailor_device_choices_find (choices, self->device_id);
  gboolean syncing = self->syncing;

  if (chosen == NULL)
    chosen = tailor_device_choices_find (choices, "auto");
  /* Check buttons leaving their group toggle each other as they go: not a choice to act on. */
  self->syncing = TRUE;
  for (guint i = 0; i < self->device_rows->len; i++)
    adw_expander_row_remove (self->device_expander, g_ptr_array_index (self->device_rows, i));
  g_ptr_array_set_size (self->device_rows, 0);
  self->device_group = NULL;
  g_clear_pointer (&self->device_choices, g_ptr_array_unref);
  self->device_choices = g_ptr_array_ref (choices);
  g_free (self->device_id);
  self->device_id = g_strdup (chosen->id);
  adw_expander_row_set_subtitle (self->device_expander, chosen->title);

  for (guint i = 0; i < choices->len; i++)
    {
      const TailorDeviceChoice *choice = g_ptr_array_index (choices, i);
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *check = gtk_check_button_new ();

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), choice->title);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), choice->subtitle);
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
      gtk_widget_set_valign (check, GTK_ALIGN_CENTER);
      gtk_accessible_update_property (GTK_ACCESSIBLE (check), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      choice->title, -1);
      if (self->device_group != NULL)
        gtk_check_button_set_group (GTK_CHECK_BUTTON (check), self->device_group);
      else
        self->device_group = GTK_CHECK_BUTTON (check);
      gtk_check_button_set_active (GTK_CHECK_BUTTON (check), choice == chosen);
      g_object_set_data (G_OBJECT (check), "tailor-device-choice", (gpointer) choice);
      g_signal_connect_swapped (check, "toggled", G_CALLBACK (on_device_toggled), self);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), check);
      adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), check);
      adw_expander_row_add_row (self->device_expander, row);
      g_ptr_array_add (self->device_rows, row);
    }
  self->syncing = syncing;
}

static void
devices_listed_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TailorTrainPage) self = user_data;
  g_autoptr (GPtrArray) choices = NULL;
  g_autoptr (GError) error = NULL;

  choices = tailor_device_choices_list_finish (result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->devices_cancellable);
  /* Automatic and the processor stay on offer; the reason is for whoever debugs it. */
  if (choices == NULL)
    {
      g_debug ("Listing only the default devices: %s", error->message);
      return;
    }
  show_devices (self, choices);
  /* A run shown before the list came names its device in words now. */
  update_run_view (self);
}

/* ---- Metrics ---- */

static void
flush_metrics (TailorTrainPage *self)
{
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (TAILOR_WIZARD_PAGE (self));
  g_autoptr (GError) error = NULL;
  gboolean ok;

  g_clear_handle_id (&self->flush_id, g_source_remove);
  if (self->pending->len == 0 || catalogue == NULL || self->run_id == 0)
    {
      g_array_set_size (self->pending, 0);
      return;
    }
  ok = tailor_catalogue_begin (catalogue, &error);
  for (guint i = 0; ok && i < self->pending->len; i++)
    {
      const PendingMetric *m = &g_array_index (self->pending, PendingMetric, i);

      ok = tailor_catalogue_add_metric (catalogue, self->run_id, m->step, m->name, m->value,
                                        &error);
    }
  if (ok)
    ok = tailor_catalogue_commit (catalogue, &error);
  else
    tailor_catalogue_rollback (catalogue);
  g_array_set_size (self->pending, 0);
  if (!ok)
    tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), error->message);
}

static gboolean
flush_cb (gpointer user_data)
{
  TailorTrainPage *self = user_data;

  self->flush_id = 0;
  flush_metrics (self);
  return G_SOURCE_REMOVE;
}

static void
queue_metric (TailorTrainPage *self, gint64 step, const char *name, double value)
{
  PendingMetric m = { step, name, value };

  g_array_append_val (self->pending, m);
  if (self->flush_id == 0)
    self->flush_id = g_timeout_add (METRIC_FLUSH_MS, flush_cb, self);
}

static void
set_run_status (TailorTrainPage *self, const char *status)
{
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (TAILOR_WIZARD_PAGE (self));
  g_autoptr (GError) error = NULL;

  if (self->run_id == 0 || catalogue == NULL || g_strcmp0 (self->run_status, status) == 0)
    return;
  if (!tailor_catalogue_finish_run (catalogue, self->run_id, status, &error))
    {
      tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), error->message);
      return;
    }
  g_free (self->run_status);
  self->run_status = g_strdup (status);
}

/* ---- Following the run ---- */

static void
trim_series (TailorChartSeries *series, double max_x)
{
  guint n = tailor_chart_series_get_n_points (series);
  const TailorChartPoint *points = tailor_chart_series_get_points (series);
  g_autoptr (GArray) kept = g_array_new (FALSE, FALSE, sizeof (TailorChartPoint));

  for (guint i = 0; i < n; i++)
    if (points[i].x <= max_x)
      g_array_append_val (kept, points[i]);
  if (kept->len == n)
    return;
  tailor_chart_series_clear (series);
  for (guint i = 0; i < kept->len; i++)
    tailor_chart_series_append (series, g_array_index (kept, TailorChartPoint, i).x,
                                g_array_index (kept, TailorChartPoint, i).y);
}

static void
on_started (TailorRunSupervisor *supervisor,
            gint64 start_step,
            gint64 steps,
            gboolean resumed,
            TailorTrainPage *self)
{
  /* Steps after the checkpoint a resume starts from are computed again. */
  trim_series (self->train_series, (double) start_step);
  trim_series (self->eval_series, (double) start_step);
  if (steps > 0)
    tailor_line_chart_set_x_limits (self->chart, 0, (double) steps);
  gtk_widget_set_visible (GTK_WIDGET (self->warning_row), FALSE);
}

static void
on_step (TailorRunSupervisor *supervisor, gint64 step, double loss, TailorTrainPage *self)
{
  double tps = tailor_run_supervisor_get_tokens_per_second (supervisor);

  if (isfinite (loss))
    tailor_chart_series_append (self->train_series, (double) step, loss);
  queue_metric (self, step, "loss", loss);
  if (isfinite (tps) && tps > 0)
    queue_metric (self, step, "tokens_per_s", tps);
}

static void
on_eval (TailorRunSupervisor *supervisor, gint64 step, double loss, TailorTrainPage *self)
{
  if (isfinite (loss))
    tailor_chart_series_append (self->eval_series, (double) step, loss);
  queue_metric (self, step, "eval_loss", loss);
}

static void
on_warning (TailorRunSupervisor *supervisor,
            const char *code,
            const char *message,
            TailorTrainPage *self)
{
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->warning_row),
                                 message != NULL ? message : code);
  gtk_widget_set_visible (GTK_WIDGET (self->warning_row), TRUE);
}

static void
on_finished (TailorRunSupervisor *supervisor, TailorRunState state, TailorTrainPage *self)
{
  flush_metrics (self);
  switch (state)
    {
    case TAILOR_RUN_STATE_DONE:
      set_run_status (self, "done");
      break;
    case TAILOR_RUN_STATE_FAILED:
      set_run_status (self, "failed");
      break;
    case TAILOR_RUN_STATE_CANCELLED:
      set_run_status (self, "cancelled");
      break;
    case TAILOR_RUN_STATE_IDLE:
    case TAILOR_RUN_STATE_RUNNING:
    case TAILOR_RUN_STATE_STOPPING:
    case TAILOR_RUN_STATE_PAUSED:
    default:
      break;
    }
  update_run_view (self);
}

static void
on_supervisor_notify (TailorTrainPage *self)
{
  update_run_view (self);
}

static void
drop_supervisor (TailorTrainPage *self)
{
  if (self->supervisor == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->supervisor, self);
  /* The child keeps running: only the following stops. */
  g_clear_object (&self->supervisor);
}

static void
clear_chart (TailorTrainPage *self)
{
  tailor_chart_series_clear (self->train_series);
  tailor_chart_series_clear (self->eval_series);
  tailor_line_chart_set_x_limits (self->chart, NAN, NAN);
}

static TailorRunSupervisor *
new_supervisor (TailorTrainPage *self)
{
  TailorRunSupervisor *supervisor = tailor_run_supervisor_new (NULL);

  g_signal_connect (supervisor, "started", G_CALLBACK (on_started), self);
  g_signal_connect (supervisor, "step", G_CALLBACK (on_step), self);
  g_signal_connect (supervisor, "eval", G_CALLBACK (on_eval), self);
  g_signal_connect (supervisor, "warning", G_CALLBACK (on_warning), self);
  g_signal_connect (supervisor, "finished", G_CALLBACK (on_finished), self);
  g_signal_connect_swapped (supervisor, "notify", G_CALLBACK (on_supervisor_notify), self);
  return supervisor;
}

static gboolean
has_checkpoint (const char *run_dir)
{
  g_autofree char *path = g_build_filename (run_dir, "checkpoints", NULL);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".gguf"))
      return TRUE;
  return FALSE;
}

static const char *
advice_for (const char *code, gboolean resumable)
{
  if (g_strcmp0 (code, "out-of-memory") == 0)
    return _("The device ran out of memory. Lower the batch size or the sequence length, or turn "
             "on gradient checkpointing under Advanced, then start a new run.");
  if (g_strcmp0 (code, "unstable") == 0)
    return _("The loss kept exploding. Lower the learning rate or add warm-up steps under "
             "Advanced, check the examples, then start a new run.");
  if (g_strcmp0 (code, "device") == 0)
    return resumable ? _("The graphics driver reported a problem. Resume to try again, or "
                         "choose the processor as the device under Advanced.")
                     : _("The graphics driver reported a problem. Choose the processor as the "
                         "device under Advanced and start a new run.");
  if (g_strcmp0 (code, "config") == 0)
    return _("A setting does not fit this model or these examples. Change it under Advanced and "
             "start a new run.");
  if (g_strcmp0 (code, "checkpoint") == 0)
    return _("A checkpoint could not be written or read. Make sure the disk has free space, then "
             "start a new run.");
  if (resumable)
    return _("Resume continues from the last checkpoint; only the steps after it are done "
             "again.");
  return _("No checkpoint was written before it stopped. Start a new run.");
}

/* The device the trainer says it runs on, with what kind it is when the device list knows it:
 * the name alone does not tell a graphics card from Vulkan in software. */
static char *
describe_run_device (TailorTrainPage *self, const char *reported)
{
  if (reported == NULL)
    return g_strdup ("—");
  for (guint i = 0; self->device_choices != NULL && i < self->device_choices->len; i++)
    {
      const TailorDeviceChoice *choice = g_ptr_array_index (self->device_choices, i);

      if (g_str_has_prefix (choice->id, "vulkan:") && g_str_equal (choice->title, reported))
        return g_strdup_printf ("%s\n%s", reported, choice->subtitle);
    }
  /* The CPU backend names itself "cpu (BLAS kernels, threads)". */
  if (g_str_has_prefix (reported, "cpu"))
    return g_strdup_printf ("%s\n%s", reported, _("Processor (CPU)"));
  return g_strdup (reported);
}

static void
update_run_view (TailorTrainPage *self)
{
  TailorRunSupervisor *s = self->supervisor;
  TailorRunState state;
  gint64 step;
  gint64 steps;
  double tps;
  double eta;
  guint64 memory;
  const char *run_dir;
  gboolean resumable;
  g_autofree char *step_text = NULL;
  g_autofree char *speed = NULL;
  g_autofree char *eta_text = NULL;
  g_autofree char *memory_text = NULL;
  g_autofree char *device_text = NULL;
  g_autofree char *subtitle = NULL;
  const char *title;

  if (s == NULL)
    {
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.pause", FALSE);
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.resume", FALSE);
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.cancel", FALSE);
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.new", FALSE);
      gtk_widget_set_visible (self->pause_button, FALSE);
      gtk_widget_set_visible (self->resume_button, FALSE);
      gtk_widget_set_visible (self->cancel_button, FALSE);
      gtk_widget_set_visible (self->new_button, FALSE);
      tailor_wizard_page_set_complete (TAILOR_WIZARD_PAGE (self), FALSE);
      validate (self);
      return;
    }
  state = tailor_run_supervisor_get_state (s);
  step = tailor_run_supervisor_get_step (s);
  steps = tailor_run_supervisor_get_steps (s);
  tps = tailor_run_supervisor_get_tokens_per_second (s);
  eta = tailor_run_supervisor_get_eta_seconds (s);
  memory = tailor_run_supervisor_get_memory_bytes (s);
  run_dir = tailor_run_supervisor_get_run_dir (s);
  resumable = run_dir != NULL && has_checkpoint (run_dir);

  switch (state)
    {
    case TAILOR_RUN_STATE_RUNNING:
      title = _("Training…");
      subtitle = g_strdup (_("Training goes on when you close the window; Tailor shows it again "
                             "when you come back."));
      break;
    case TAILOR_RUN_STATE_STOPPING:
      title = _("Saving a checkpoint…");
      subtitle = g_strdup (_("Training stops as soon as the checkpoint is written."));
      break;
    case TAILOR_RUN_STATE_PAUSED:
      title = _("Paused");
      subtitle = g_strdup_printf (_("Stopped at step %u with a checkpoint. Resume continues "
                                    "from there."),
                                  (guint) step);
      break;
    case TAILOR_RUN_STATE_CANCELLED:
      title = _("Cancelled");
      subtitle = g_strdup (_("This run was stopped for good. Start a new run to train again."));
      break;
    case TAILOR_RUN_STATE_DONE:
      title = _("Finished");
      subtitle = g_strdup (_("The adapter is ready. Continue to compare the tuned model with the "
                             "base model."));
      break;
    case TAILOR_RUN_STATE_FAILED:
      title = _("Training Failed");
      subtitle = g_strdup (resumable ? _("It can be resumed from its last checkpoint.")
                                     : _("It stopped before its first checkpoint."));
      break;
    case TAILOR_RUN_STATE_IDLE:
    default:
      title = _("Starting…");
      subtitle = g_strdup ("");
      break;
    }
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->status_row), title);
  adw_action_row_set_subtitle (self->status_row, subtitle);
  gtk_spinner_set_spinning (self->run_spinner, state == TAILOR_RUN_STATE_RUNNING ||
                                                 state == TAILOR_RUN_STATE_STOPPING);
  gtk_widget_set_visible (GTK_WIDGET (self->run_spinner), state == TAILOR_RUN_STATE_RUNNING ||
                                                            state == TAILOR_RUN_STATE_STOPPING);

  if (steps > 0)
    /* Translators: training progress, e.g. "120 of 400" */
    step_text = g_strdup_printf (_("%u of %u"), (guint) step, (guint) steps);
  else
    step_text = g_strdup (_("Waiting for the trainer…"));
  adw_action_row_set_subtitle (self->step_row, step_text);
  gtk_progress_bar_set_fraction (self->progress_bar,
                                 steps > 0 ? CLAMP ((double) step / (double) steps, 0, 1) : 0);

  if (isfinite (tps) && tps > 0)
    /* Translators: training speed, e.g. "1,234 tokens per second" */
    speed = g_strdup_printf (_("%'.0f tokens per second"), tps);
  adw_action_row_set_subtitle (self->speed_row, speed != NULL ? speed : "—");
  if (state == TAILOR_RUN_STATE_RUNNING && eta >= 0)
    eta_text = format_duration (eta);
  adw_action_row_set_subtitle (self->eta_row, eta_text != NULL ? eta_text : "—");
  if (memory > 0)
    memory_text = g_format_size (memory);
  adw_action_row_set_subtitle (self->memory_row, memory_text != NULL ? memory_text : "—");
  device_text = describe_run_device (self, tailor_run_supervisor_get_device (s));
  adw_action_row_set_subtitle (self->device_row, device_text);
  adw_action_row_set_subtitle (self->folder_row, run_dir != NULL ? run_dir : "—");

  gtk_widget_set_visible (GTK_WIDGET (self->error_group), state == TAILOR_RUN_STATE_FAILED);
  if (state == TAILOR_RUN_STATE_FAILED)
    {
      const char *message = tailor_run_supervisor_get_error_message (s);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->error_row),
                                     message != NULL ? message : _("The trainer stopped."));
      adw_action_row_set_subtitle (self->error_row,
                                   advice_for (tailor_run_supervisor_get_error_code (s),
                                               resumable));
    }

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.pause",
                                 state == TAILOR_RUN_STATE_RUNNING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.resume",
                                 resumable && (state == TAILOR_RUN_STATE_PAUSED ||
                                               state == TAILOR_RUN_STATE_FAILED));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.cancel",
                                 state == TAILOR_RUN_STATE_RUNNING ||
                                   state == TAILOR_RUN_STATE_PAUSED ||
                                   state == TAILOR_RUN_STATE_FAILED);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.new",
                                 state == TAILOR_RUN_STATE_DONE ||
                                   state == TAILOR_RUN_STATE_CANCELLED ||
                                   state == TAILOR_RUN_STATE_FAILED);
  gtk_widget_set_visible (self->pause_button, state == TAILOR_RUN_STATE_RUNNING);
  gtk_widget_set_visible (self->resume_button,
                          resumable && (state == TAILOR_RUN_STATE_PAUSED ||
                                        state == TAILOR_RUN_STATE_FAILED));
  gtk_widget_set_visible (self->cancel_button, state == TAILOR_RUN_STATE_RUNNING ||
                                                 state == TAILOR_RUN_STATE_PAUSED ||
                                                 state == TAILOR_RUN_STATE_FAILED);
  gtk_widget_set_visible (self->new_button, state == TAILOR_RUN_STATE_DONE ||
                                              state == TAILOR_RUN_STATE_CANCELLED ||
                                              (state == TAILOR_RUN_STATE_FAILED && !resumable));
  tailor_wizard_page_set_complete (TAILOR_WIZARD_PAGE (self), state == TAILOR_RUN_STATE_DONE);
  validate (self);
}

static void
show_run (TailorTrainPage *self)
{
  gtk_stack_set_visible_child_name (self->stack, "run");
  update_run_view (self);
}

/* ---- Starting ---- */

typedef struct
{
  char *catalogue_dir;
  gint64 project_id;
  char *version_id;
  JsonObject *settings;
  guint generation;
  char *run_dir; /* result */
  gint64 run_id; /* result */
} PrepareData;

static void
prepare_data_free (PrepareData *data)
{
  g_free (data->catalogue_dir);
  g_free (data->version_id);
  g_clear_pointer (&data->settings, json_object_unref);
  g_free (data->run_dir);
  g_free (data);
}

static void
prepare_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  PrepareData *data = task_data;
  GError *error = NULL;

  data->run_dir = tailor_run_prepare (data->catalogue_dir, data->project_id, data->version_id,
                                      data->settings, &data->run_id, &error);
  if (data->run_dir == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
set_busy (TailorTrainPage *self, gboolean busy)
{
  gtk_widget_set_visible (GTK_WIDGET (self->start_spinner), busy);
  gtk_spinner_set_spinning (self->start_spinner, busy);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
  validate (self);
}

static void
fail_start (TailorTrainPage *self, const char *message)
{
  gtk_label_set_label (self->validation_label, message);
  gtk_widget_set_visible (GTK_WIDGET (self->validation_label), TRUE);
  tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), message);
}

static void
prepare_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TailorTrainPage) self = user_data;
  PrepareData *data = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRunSupervisor) supervisor = NULL;

  g_clear_object (&self->prepare_cancellable);
  set_busy (self, FALSE);
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      fail_start (self, error->message);
      return;
    }
  /* The user switched project meanwhile: the run starts anyway (it was asked for and is in the
   * catalogue), and the page finds it when that project is shown again. */
  if (data->generation != self->generation)
    {
      supervisor = tailor_run_supervisor_new (NULL);
      if (!tailor_run_supervisor_start (supervisor, data->run_dir, &error))
        g_warning ("Cannot start the run in %s: %s", data->run_dir, error->message);
      return;
    }

  drop_supervisor (self);
  clear_chart (self);
  self->run_id = data->run_id;
  g_free (self->run_status);
  self->run_status = g_strdup ("running");
  self->supervisor = new_supervisor (self);
  if (!tailor_run_supervisor_start (self->supervisor, data->run_dir, &error))
    {
      set_run_status (self, "failed");
      drop_supervisor (self);
      fail_start (self, error->message);
      update_run_view (self);
      return;
    }
  show_run (self);
}

static void
start_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorTrainPage *self = TAILOR_TRAIN_PAGE (widget);
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (TAILOR_WIZARD_PAGE (self));
  g_autoptr (GTask) task = NULL;
  g_autofree char *problem = NULL;
  PrepareData *data;
  Settings s;

  if (catalogue == NULL || !prerequisites_met (self) || self->prepare_cancellable != NULL ||
      !read_settings (self, &s, &problem))
    return;
  if (self->supervisor != NULL &&
      !tailor_run_state_is_final (tailor_run_supervisor_get_state (self->supervisor)))
    return;

  data = g_new0 (PrepareData, 1);
  data->catalogue_dir = g_strdup (tailor_catalogue_get_dir (catalogue));
  data->project_id = tailor_wizard_page_get_project_id (TAILOR_WIZARD_PAGE (self));
  data->version_id = g_strdup (self->version_id);
  data->settings = settings_to_json (self, &s);
  data->generation = self->generation;
  self->prepare_cancellable = g_cancellable_new ();
  gtk_widget_set_visible (GTK_WIDGET (self->validation_label), FALSE);
  set_busy (self, TRUE);
  task = g_task_new (self, self->prepare_cancellable, prepare_cb, g_object_ref (self));
  g_task_set_source_tag (task, start_action);
  g_task_set_task_data (task, data, (GDestroyNotify) prepare_data_free);
  g_task_run_in_thread (task, prepare_thread);
}

static void
pause_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorTrainPage *self = TAILOR_TRAIN_PAGE (widget);

  if (self->supervisor != NULL)
    tailor_run_supervisor_pause (self->supervisor);
}

static void
resume_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorTrainPage *self = TAILOR_TRAIN_PAGE (widget);
  g_autoptr (GError) error = NULL;
  g_autofree char *run_dir = NULL;

  if (self->supervisor == NULL)
    return;
  run_dir = g_strdup (tailor_run_supervisor_get_run_dir (self->supervisor));
  if (run_dir == NULL || !has_checkpoint (run_dir))
    return;
  if (!tailor_run_supervisor_resume (self->supervisor, run_dir, &error))
    tailor_wizard_page_show_error (TAILOR_WIZARD_PAGE (self), error->message);
  update_run_view (self);
}

static void
cancel_response (AdwMessageDialog *dialog, const char *response, gpointer user_data)
{
  g_autoptr (TailorTrainPage) self = user_data;

  if (g_strcmp0 (response, "cancel-run") != 0 || self->supervisor == NULL)
    return;
  /* Recorded at once: if the window closes before the child has stopped, the run stays
   * cancelled. */
  flush_metrics (self);
  set_run_status (self, "cancelled");
  tailor_run_supervisor_cancel (self->supervisor);
  update_run_view (self);
}

static void
cancel_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorTrainPage *self = TAILOR_TRAIN_PAGE (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  GtkWidget *dialog;

  dialog = adw_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                   _("Cancel Training?"),
                                   _("The run stops for good and cannot be resumed. What it "
                                     "wrote so far stays in its folder."));
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "keep", _("_Keep Training"),
                                    "cancel-run", _("C_ancel Run"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "cancel-run",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "keep");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "keep");
  g_signal_connect (dialog, "response", G_CALLBACK (cancel_response), g_object_ref (self));
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
new_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TailorTrainPage *self = TAILOR_TRAIN_PAGE (widget);

  if (self->supervisor != NULL &&
      !tailor_run_state_is_final (tailor_run_supervisor_get_state (self->supervisor)))
    return;
  flush_metrics (self);
  drop_supervisor (self);
  self->run_id = 0;
  g_clear_pointer (&self->run_status, g_free);
  gtk_stack_set_visible_child_name (self->stack, "setup");
  update_run_view (self);
}

/* ---- Loading a project ---- */

static double
measured_speed (TailorCatalogue *catalogue, GPtrArray *runs)
{
  for (guint i = runs->len; i > 0; i--)
    {
      const TailorRun *run = runs->pdata[i - 1];
      g_autoptr (GArray) points =
        tailor_catalogue_list_metrics (catalogue, run->id, "tokens_per_s", NULL);
      double sum = 0;
      guint n = 0;

      for (guint j = 0; points != NULL && j < points->len; j++)
        {
          double v = g_array_index (points, TailorMetricPoint, j).value;

          if (isfinite (v) && v > 0)
            {
              sum += v;
              n++;
            }
        }
      if (n > 0)
        return sum / n;
    }
  return 0;
}

static void
load_data (TailorTrainPage *self, TailorCatalogue *catalogue, const TailorProject *project)
{
  g_autofree char *project_dir = tailor_docs_project_dir (catalogue, project);
  g_autoptr (TailorDocsChoices) choices = tailor_docs_choices_load (project_dir, NULL);
  g_autoptr (GPtrArray) versions = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;

  if (choices != NULL && choices->current_version != NULL)
    version = tailor_catalogue_get_version (catalogue, project->id, choices->current_version,
                                            NULL);
  if (version == NULL)
    {
      versions = tailor_catalogue_list_versions (catalogue, project->id, NULL);
      if (versions != NULL && versions->len > 0)
        version = g_ptr_array_steal_index (versions, versions->len - 1);
    }
  if (version == NULL)
    return;
  self->version_id = g_strdup (version->id);
  self->n_train = version->train_count;
  self->n_eval = version->eval_count;
}

static void
load_model (TailorTrainPage *self, const TailorProject *project)
{
  g_autoptr (TailorModelFacts) facts = NULL;

  if (project->base_model_path == NULL || project->base_model_path[0] == '\0')
    return;
  self->base_model = g_strdup (project->base_model_path);
  self->base_sha256 = g_strdup (project->base_model_sha256);
  facts = tailor_model_facts_read (project->base_model_path);
  self->model_context = facts->context_length;
  self->model_float = facts->file_type != NULL &&
                      (g_str_equal (facts->file_type, "f32") ||
                       g_str_equal (facts->file_type, "f16") ||
                       g_str_equal (facts->file_type, "bf16"));
}

static void
show_prerequisites (TailorTrainPage *self)
{
  g_autofree char *description = NULL;
  const char *missing = NULL;

  if (self->base_model == NULL)
    missing = _("Choose a base model in the Model step first.");
  else if (self->version_id == NULL)
    missing = _("Import your examples in the Documents step first.");
  else if (self->n_train == 0)
    missing = _("The current dataset version has no training examples. Add examples in the "
                "Documents step.");
  gtk_widget_set_visible (GTK_WIDGET (self->missing_group), missing != NULL);
  if (missing != NULL)
    adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->missing_row), missing);

  if (self->version_id != NULL)
    {
      g_autofree char *learns = g_strdup_printf (
        ngettext ("Learns from %u example.", "Learns from %u examples.", (gulong) self->n_train),
        (guint) self->n_train);
      g_autofree char *held = NULL;

      if (self->n_eval > 0)
        held = g_strdup_printf (ngettext ("%u held-out example measures the result.",
                                          "%u held-out examples measure the result.",
                                          (gulong) self->n_eval),
                                (guint) self->n_eval);
      else
        held = g_strdup (_("No examples are held out, so there is no held-out loss."));
      description = g_strdup_printf ("%s %s", learns, held);
    }
  adw_preferences_group_set_description (self->choice_group, description);
}

/* Reads what the earlier steps decided (goal, model, dataset version). They change while the
 * page is not shown, so this runs on load and each time the page is shown; the settings are
 * derived again only when something they depend on changed, so the user's edits stay. */
static void
refresh_inputs (TailorTrainPage *self, const TailorProject *project, gboolean force)
{
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (TAILOR_WIZARD_PAGE (self));
  g_autofree char *old_model = g_steal_pointer (&self->base_model);
  g_autofree char *old_version = g_steal_pointer (&self->version_id);
  g_autoptr (GPtrArray) runs = NULL;
  TailorGoal old_goals = self->goals;
  Settings s;

  g_clear_pointer (&self->base_sha256, g_free);
  self->model_context = -1;
  self->model_float = FALSE;
  self->n_train = 0;
  self->n_eval = 0;
  self->goals = TAILOR_GOAL_NONE;
  tailor_goal_from_string (project->goal, &self->goals, NULL);
  load_model (self, project);
  load_data (self, catalogue, project);
  runs = tailor_catalogue_list_runs (catalogue, project->id, NULL);
  self->measured_tokens_per_second = runs != NULL ? measured_speed (catalogue, runs) : 0;

  show_prerequisites (self);
  describe_preset (self, TAILOR_TRAIN_PRESET_QUICK, self->quick_row);
  describe_preset (self, TAILOR_TRAIN_PRESET_BALANCED, self->balanced_row);
  describe_preset (self, TAILOR_TRAIN_PRESET_THOROUGH, self->thorough_row);
  if (force || old_goals != self->goals || g_strcmp0 (old_model, self->base_model) != 0 ||
      g_strcmp0 (old_version, self->version_id) != 0)
    {
      preset_settings (self, tailor_train_page_get_preset (self), &s);
      show_settings (self, &s);
    }
  else
    validate (self);
}

static void
on_map (TailorTrainPage *self)
{
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (TAILOR_WIZARD_PAGE (self));
  g_autoptr (TailorProject) project = NULL;

  if (catalogue == NULL)
    return;
  project = tailor_catalogue_get_project (
    catalogue, tailor_wizard_page_get_project_id (TAILOR_WIZARD_PAGE (self)), NULL);
  if (project != NULL)
    refresh_inputs (self, project, FALSE);
}

static void
tailor_train_page_load (TailorWizardPage *page, const TailorProject *project)
{
  TailorTrainPage *self = TAILOR_TRAIN_PAGE (page);
  TailorCatalogue *catalogue = tailor_wizard_page_get_catalogue (page);
  g_autoptr (GPtrArray) runs = NULL;
  g_autoptr (GError) error = NULL;
  TailorRun *last = NULL;

  flush_metrics (self);
  drop_supervisor (self);
  g_cancellable_cancel (self->prepare_cancellable);
  g_clear_object (&self->prepare_cancellable);
  self->generation++;
  clear_chart (self);
  self->run_id = 0;
  g_clear_pointer (&self->run_status, g_free);
  self->syncing = TRUE;
  gtk_check_button_set_active (self->balanced_check, TRUE);
  self->syncing = FALSE;
  refresh_inputs (self, project, TRUE);

  runs = tailor_catalogue_list_runs (catalogue, project->id, NULL);
  if (runs != NULL && runs->len > 0)
    last = runs->pdata[runs->len - 1];
  /* The project's latest run is shown again: still going (re-attached), paused, failed or
   * finished, all from its folder. */
  if (last != NULL)
    {
      self->supervisor = new_supervisor (self);
      self->run_id = last->id;
      self->run_status = g_strdup (last->status);
      if (tailor_run_supervisor_attach (self->supervisor, last->output_dir, &error))
        {
          if (g_str_equal (last->status, "cancelled"))
            tailor_run_supervisor_cancel (self->supervisor);
          flush_metrics (self);
          show_run (self);
          return;
        }
      g_debug ("Not showing run %" G_GINT64_FORMAT ": %s", last->id, error->message);
      drop_supervisor (self);
      self->run_id = 0;
      g_clear_pointer (&self->run_status, g_free);
    }
  gtk_stack_set_visible_child_name (self->stack, "setup");
  update_run_view (self);
}

/* ---- GObject ---- */

static void
tailor_train_page_dispose (GObject *object)
{
  TailorTrainPage *self = TAILOR_TRAIN_PAGE (object);

  /* Check buttons leaving their group toggle each other as they go: not a choice to act on. */
  self->syncing = TRUE;
  flush_metrics (self);
  drop_supervisor (self);
  g_cancellable_cancel (self->prepare_cancellable);
  g_clear_object (&self->prepare_cancellable);
  g_cancellable_cancel (self->devices_cancellable);
  g_clear_object (&self->devices_cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), TAILOR_TYPE_TRAIN_PAGE);

  G_OBJECT_CLASS (tailor_train_page_parent_class)->dispose (object);
}

static void
tailor_train_page_finalize (GObject *object)
{
  TailorTrainPage *self = TAILOR_TRAIN_PAGE (object);

  g_clear_object (&self->train_series);
  g_clear_object (&self->eval_series);
  g_clear_pointer (&self->pending, g_array_unref);
  g_clear_pointer (&self->device_rows, g_ptr_array_unref);
  g_clear_pointer (&self->device_choices, g_ptr_array_unref);
  g_free (self->device_id);
  g_free (self->base_model);
  g_free (self->base_sha256);
  g_free (self->version_id);
  g_free (self->run_status);

  G_OBJECT_CLASS (tailor_train_page_parent_class)->finalize (object);
}

static void
tailor_train_page_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  TailorTrainPage *self = TAILOR_TRAIN_PAGE (object);

  switch (prop_id)
    {
    case PROP_BUSY:
      g_value_set_boolean (value, tailor_train_page_get_busy (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_train_page_class_init (TailorTrainPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  TailorWizardPageClass *page_class = TAILOR_WIZARD_PAGE_CLASS (klass);

  object_class->dispose = tailor_train_page_dispose;
  object_class->finalize = tailor_train_page_finalize;
  object_class->get_property = tailor_train_page_get_property;
  page_class->load = tailor_train_page_load;

  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                                                G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                                                  G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/tailorapp/Tailor/tailor-train-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, missing_group);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, missing_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, choice_group);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, quick_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, balanced_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, thorough_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, quick_check);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, balanced_check);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, thorough_check);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, advanced_group);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, validation_label);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, start_spinner);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, status_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, run_spinner);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, step_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, chart);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, error_group);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, error_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, speed_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, eta_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, memory_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, device_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, folder_row);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, pause_button);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, resume_button);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, new_button);
  gtk_widget_class_bind_template_child (widget_class, TailorTrainPage, cancel_button);
  gtk_widget_class_bind_template_callback (widget_class, on_preset_toggled);

  gtk_widget_class_install_action (widget_class, "train.start", NULL, start_action);
  gtk_widget_class_install_action (widget_class, "train.pause", NULL, pause_action);
  gtk_widget_class_install_action (widget_class, "train.resume", NULL, resume_action);
  gtk_widget_class_install_action (widget_class, "train.cancel", NULL, cancel_action);
  gtk_widget_class_install_action (widget_class, "train.new", NULL, new_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK,
                                       "train.start", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_p, GDK_CONTROL_MASK, "train.pause",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK, "train.resume",
                                       NULL);
}

static void
tailor_train_page_init (TailorTrainPage *self)
{
  GtkWidget *warning_icon = gtk_image_new_from_icon_name ("dialog-warning-symbolic");

  g_type_ensure (TAILOR_TYPE_LINE_CHART);
  gtk_widget_init_template (GTK_WIDGET (self));
  /* Not a bound template child: disposing the template would free it under AdwBin's feet. */
  self->stack = GTK_STACK (adw_bin_get_child (ADW_BIN (self)));

  self->pending = g_array_new (FALSE, FALSE, sizeof (PendingMetric));
  self->model_context = -1;
  self->device_rows = g_ptr_array_new ();
  self->device_id = g_strdup ("auto");
  build_advanced (self);
  {
    g_autoptr (GPtrArray) defaults = tailor_device_choices_new_default ();

    show_devices (self, defaults);
  }
  self->devices_cancellable = g_cancellable_new ();
  tailor_device_choices_list_async (NULL, self->devices_cancellable, devices_listed_cb,
                                    g_object_ref (self));
  g_signal_connect (self, "map", G_CALLBACK (on_map), NULL);

  self->warning_row = ADW_ACTION_ROW (adw_action_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->warning_row), "");
  adw_action_row_set_title_lines (self->warning_row, 0);
  gtk_widget_add_css_class (warning_icon, "warning");
  adw_action_row_add_prefix (self->warning_row, warning_icon);
  gtk_widget_set_visible (GTK_WIDGET (self->warning_row), FALSE);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (gtk_widget_get_ancestor (
                               GTK_WIDGET (self->status_row), ADW_TYPE_PREFERENCES_GROUP)),
                             GTK_WIDGET (self->warning_row));

  self->train_series = tailor_chart_series_new (_("Training loss"), TAILOR_CHART_COLOR_BLUE);
  self->eval_series = tailor_chart_series_new (_("Held-out loss"), TAILOR_CHART_COLOR_ORANGE);
  tailor_line_chart_add_series (self->chart, self->train_series);
  tailor_line_chart_add_series (self->chart, self->eval_series);
  tailor_line_chart_set_x_title (self->chart, _("Step"));
  tailor_line_chart_set_y_title (self->chart, _("Loss"));
  tailor_line_chart_set_count_points (self->chart, TRUE);
  tailor_line_chart_set_empty_text (self->chart, _("The loss appears here after the first "
                                                   "step."));
  update_run_view (self);
}

gboolean
tailor_train_page_get_busy (TailorTrainPage *self)
{
  g_return_val_if_fail (TAILOR_IS_TRAIN_PAGE (self), FALSE);
  return self->prepare_cancellable != NULL;
}

TailorRunSupervisor *
tailor_train_page_get_supervisor (TailorTrainPage *self)
{
  g_return_val_if_fail (TAILOR_IS_TRAIN_PAGE (self), NULL);
  return self->supervisor;
}

gint64
tailor_train_page_get_run_id (TailorTrainPage *self)
{
  g_return_val_if_fail (TAILOR_IS_TRAIN_PAGE (self), 0);
  return self->run_id;
}
