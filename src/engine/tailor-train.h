/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Training runs: the step recorded once over the op interface (LoRA, QLoRA, full), the data
 * pipeline, checkpoints and resume, the instability guard, progress events and the adapter. */
#pragma once

#include <json-glib/json-glib.h>

#include "tailor-backend.h"
#include "tailor-run-config.h"
#include "tailor-train-ref.h"

G_BEGIN_DECLS

#define TAILOR_TRAIN_ERROR (tailor_train_error_quark ())
GQuark tailor_train_error_quark (void);

typedef enum {
  TAILOR_TRAIN_ERROR_UNSTABLE,   /* the loss kept diverging after lowering the learning rate */
  TAILOR_TRAIN_ERROR_CHECKPOINT, /* a checkpoint cannot be written or does not fit the run */
  TAILOR_TRAIN_ERROR_UNSUPPORTED,/* a model shape the step cannot be built for */
  TAILOR_TRAIN_ERROR_IO,         /* the run folder cannot be written */
} TailorTrainError;

/* ---- The step ----
 * Forward, backward and AdamW of one model, recorded once as graphs on a backend and
 * submitted again for every micro-batch. Parameters, gradients and AdamW moments each live
 * in one flat F32 buffer (every tensor at a 16-byte aligned offset, padding zero). */
typedef struct {
  TailorTrainMethod method; /* QLORA and LORA are the same step; FULL trains every weight */
  float dropout;            /* on each LoRA input in training passes */
  int seq_len;              /* T of every sequence */
  int batch;                /* sequences per micro-batch */
  gboolean checkpointing;   /* keep each layer's input only; recompute the layer in backward */
  int vocab_chunk;          /* 0: 512 */
} TailorStepConfig;

typedef struct _TailorStep TailorStep;

/* adapter: the LoRA pairs to train and their starting values (copied; each pair keeps its
 * rank and scale). NULL for FULL, whose parameters are the model's own weights. Fails
 * naming the tensor or setting that cannot be built. */
TailorStep *tailor_step_new (TailorBackend *backend, TailorModel *model,
                             const TailorStepConfig *config, TailorRefAdapter *adapter,
                             GError **error);
void tailor_step_free (TailorStep *self);

int tailor_step_get_n_params (TailorStep *self);
/* "blk.0.attn_q.weight.lora_a" (LoRA), the GGUF tensor name (full). */
const char *tailor_step_get_param_name (TailorStep *self, int i);
gsize tailor_step_get_param_size (TailorStep *self, int i);
/* Elements of the flat buffers (parameters with their padding). */
gsize tailor_step_get_flat_size (TailorStep *self);
guint64 tailor_step_get_n_trainable (TailorStep *self);

/* One micro-batch (batch × seq_len rows): forward, then the backward of dloss · loss
 * ACCUMULATED into the gradients. mask is F32 (0 or 1); pos the RoPE positions;
 * dropout_seed names the LoRA dropout masks as TailorRefTrainer does. With hyper, AdamW
 * (with clipping by hyper->max_grad_norm) follows in the same submit and the gradients are
 * zeroed after it; *grad_norm_sq receives the squared norm before clipping. */
gboolean tailor_step_run (TailorStep *self, const gint32 *tokens, const gint32 *targets,
                          const float *mask, const gint32 *pos, float dloss, guint32 dropout_seed,
                          const TailorAdamWHyper *hyper, float *loss, float *grad_norm_sq,
                          GError **error);
/* The masked mean loss of one micro-batch with the current parameters, no dropout. */
gboolean tailor_step_eval (TailorStep *self, const gint32 *tokens, const gint32 *targets,
                           const float *mask, const gint32 *pos, float *loss, GError **error);
gboolean tailor_step_zero_grad (TailorStep *self, GError **error);

/* Host copies of the flat buffers (tailor_step_get_flat_size floats). */
typedef enum {
  TAILOR_STEP_VALUES,
  TAILOR_STEP_GRADS,
  TAILOR_STEP_M,
  TAILOR_STEP_V,
} TailorStepBuffer;

gboolean tailor_step_download (TailorStep *self, TailorStepBuffer which, float *data,
                               GError **error);
gboolean tailor_step_upload (TailorStep *self, TailorStepBuffer which, const float *data,
                             GError **error);
/* One parameter's slice of a host copy of a flat buffer. */
const float *tailor_step_param_slice (TailorStep *self, int i, const float *flat);

/* The current LoRA values as an adapter (LoRA methods only). */
TailorRefAdapter *tailor_step_get_adapter (TailorStep *self, GError **error);

/* Bytes of the backend buffers the step holds, by what they are for. A backend's own
 * scratch (dequantization panels, staging) is in none of them. */
typedef struct {
  guint64 base_weights; /* the frozen model as the backend keeps it (Vulkan: the layer weights
                         * in the matmul layout only); FULL: norms and biases only */
  guint64 trainable;    /* parameters, gradients and both AdamW moments */
  guint64 activations;  /* what backward reads: residual streams and the kept layer values */
  guint64 workspace;    /* activation gradients, attention/loss scratch, the batch's inputs */
} TailorStepMemory;

void tailor_step_get_memory (TailorStep *self, TailorStepMemory *out);

/* With profiling, each later tailor_step_run times its ops (tailor_graph_set_profiling). */
void tailor_step_set_profiling (TailorStep *self, gboolean profiling);
/* The last profiled tailor_step_run by op kind (kind → TailorOpProfile, tailor-backend.h), with
 * the FLOPs of its products; NULL before one. Borrowed. */
GHashTable *tailor_step_get_profile (TailorStep *self);

/* ---- Runs ---- */

typedef struct _TailorTrainRun TailorTrainRun;

/* Receives each progress event (DESIGN.md §3a), from the thread running the run. */
typedef void (*TailorTrainEventFunc) (JsonObject *event, gpointer user_data);

/* Validates config completely (files, base hash, model fit, data, an output_dir that holds
 * no run yet) and prepares the data; nothing is computed and the run folder is not touched
 * yet. config is borrowed: it must outlive the run; an unpinned base_sha256 is filled in. */
TailorTrainRun *tailor_train_run_new (TailorRunConfig *config, GCancellable *cancellable,
                                      GError **error);
/* Continues the run in run_dir from its last checkpoint (its config.json says the rest). */
TailorTrainRun *tailor_train_run_new_resume (const char *run_dir, GCancellable *cancellable,
                                             GError **error);
/* The same on another device than config.json names (as tailor_backend_new takes it):
 * checkpoints hold plain F32 state, the same for every backend, so a run can move between
 * them; it then matches an unmoved run within the backends' fp32 tolerance. */
TailorTrainRun *tailor_train_run_new_resume_on (const char *run_dir, const char *device,
                                                GCancellable *cancellable, GError **error);
void tailor_train_run_free (TailorTrainRun *self);

void tailor_train_run_set_event_func (TailorTrainRun *self, TailorTrainEventFunc func,
                                      gpointer user_data);
/* Total optimizer steps of the run. */
int tailor_train_run_get_n_steps (TailorTrainRun *self);

/* Trains to the end, or until cancellable is cancelled (then a checkpoint is written and
 * TRUE returned with tailor_train_run_is_complete FALSE). On completion writes
 * RUN_DIR/adapter.gguf (LoRA) or RUN_DIR/model.gguf (full). Errors are also sent as an
 * "error" event. */
gboolean tailor_train_run_run (TailorTrainRun *self, GCancellable *cancellable, GError **error);
gboolean tailor_train_run_is_complete (TailorTrainRun *self);
const char *tailor_train_run_get_dir (TailorTrainRun *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorStep, tailor_step_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TailorTrainRun, tailor_train_run_free)

G_END_DECLS
