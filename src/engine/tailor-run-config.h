/* SPDX-License-Identifier: GPL-3.0-or-later */
/* run.json: everything a training run is, parsed and validated before any work starts. */
#pragma once

#include <gio/gio.h>

#include "tailor-model.h"

G_BEGIN_DECLS

#define TAILOR_RUN_CONFIG_ERROR (tailor_run_config_error_quark ())
GQuark tailor_run_config_error_quark (void);

typedef enum {
  TAILOR_RUN_CONFIG_ERROR_IO,          /* run.json cannot be read */
  TAILOR_RUN_CONFIG_ERROR_SYNTAX,      /* not JSON, or not an object */
  TAILOR_RUN_CONFIG_ERROR_UNKNOWN_KEY, /* a key run.json does not have (message names it) */
  TAILOR_RUN_CONFIG_ERROR_INVALID,     /* a value that cannot be (message names the field) */
  TAILOR_RUN_CONFIG_ERROR_MISSING,     /* a required field or a file it names is absent */
  TAILOR_RUN_CONFIG_ERROR_CHANGED,     /* base_sha256 no longer matches the file */
  TAILOR_RUN_CONFIG_ERROR_MODEL,       /* the settings do not fit the base model */
  TAILOR_RUN_CONFIG_ERROR_DATA,        /* the training data cannot be used (empty, bad line) */
} TailorRunConfigError;

typedef enum {
  TAILOR_TRAIN_QLORA, /* LoRA over the base's quantized weights as they are */
  TAILOR_TRAIN_LORA,  /* LoRA over an F16/BF16/F32 base */
  TAILOR_TRAIN_FULL,  /* every weight of a small F32/F16/BF16 model */
} TailorTrainMethod;

typedef enum {
  TAILOR_SCHEDULE_COSINE,
  TAILOR_SCHEDULE_LINEAR,
  TAILOR_SCHEDULE_CONSTANT,
} TailorSchedule;

typedef struct {
  /* Paths are absolute: relative ones in run.json are taken from run.json's folder. */
  char *base_model;
  char *base_sha256;     /* lowercase hex, or NULL (no pin) */
  char *train;
  char *eval;            /* NULL: no held-out loss */
  char *dataset_version; /* informational, or NULL */
  TailorTrainMethod method;

  int lora_rank;
  float lora_alpha;
  float lora_dropout;
  gboolean lora_rslora;
  guint lora_targets; /* bit set of 1 << TailorRefLoraTarget */

  float lr;
  float weight_decay;
  float beta1;
  float beta2;
  float eps;
  TailorSchedule schedule;
  int warmup_steps;
  float grad_clip; /* 0: no clipping */

  int seq_len;
  int batch;
  int grad_accum;
  int epochs;
  int max_steps; /* 0: epochs decide */
  gboolean packing;
  gboolean loss_on_all; /* FALSE: assistant tokens only */
  gboolean grad_checkpointing;
  guint64 seed;
  char *device;
  int eval_every;       /* 0: only at the end */
  int checkpoint_every; /* 0: only at the end and on SIGTERM */
  char *output_dir;
} TailorRunConfig;

/* Defaults of every field (DESIGN.md §3a); paths NULL. */
TailorRunConfig *tailor_run_config_new (void);
void tailor_run_config_free (TailorRunConfig *self);

/* Parses run.json text: unknown keys, wrong types and impossible values are errors naming
 * the field; omitted keys keep their defaults. Relative paths are resolved against
 * base_dir. Nothing is opened. */
TailorRunConfig *tailor_run_config_parse (const char *json, gssize len, const char *base_dir,
                                          GError **error);
/* Reads and parses a run.json file (relative paths from its folder; output_dir defaults to
 * a "run" folder beside it). */
TailorRunConfig *tailor_run_config_load (const char *path, GError **error);

/* The checks that need the files: base model present and loadable, its SHA-256 equal to
 * base_sha256 when pinned, seq_len within its context, the method possible for its
 * weight types, the data files present. The model is returned in *model (may be NULL). */
gboolean tailor_run_config_check_files (TailorRunConfig *self, GCancellable *cancellable,
                                        TailorModel **model, GError **error);

/* The config as JSON (absolute paths, every field): what a run folder keeps so that it
 * can be resumed, and what the adapter records. */
char *tailor_run_config_to_json (const TailorRunConfig *self);

const char *tailor_train_method_name (TailorTrainMethod method); /* "qlora", "lora", "full" */
const char *tailor_schedule_name (TailorSchedule schedule);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorRunConfig, tailor_run_config_free)

G_END_DECLS
