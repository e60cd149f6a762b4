/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorRunSupervisor: a `tailor-cli train` child started, paused, resumed, cancelled and followed
 * through its JSON-lines progress (DESIGN.md §3), and the preparation of a run folder. No GTK:
 * the app and the tests use it the same way. */
#pragma once

#include <json-glib/json-glib.h>

#include "tailor-catalogue.h"

G_BEGIN_DECLS

/* Files the supervisor keeps in a run folder beside what the trainer writes there. */
#define TAILOR_RUN_PROGRESS_FILE "progress.jsonl" /* the child's stdout, appended across resumes */
#define TAILOR_RUN_STDERR_FILE "stderr.log"       /* the child's stderr, appended */
#define TAILOR_RUN_PID_FILE "child.pid"           /* the running child's process id */
#define TAILOR_RUN_JSON_FILE "run.json"

#define TAILOR_RUN_SUPERVISOR_ERROR (tailor_run_supervisor_error_quark ())
GQuark tailor_run_supervisor_error_quark (void);

typedef enum
{
  TAILOR_RUN_SUPERVISOR_ERROR_NO_CLI,  /* tailor-cli cannot be found */
  TAILOR_RUN_SUPERVISOR_ERROR_BUSY,    /* a run is already followed */
  TAILOR_RUN_SUPERVISOR_ERROR_NOT_RUN, /* the folder holds no run that can be followed */
} TailorRunSupervisorError;

typedef enum
{
  TAILOR_RUN_STATE_IDLE,      /* nothing started or attached */
  TAILOR_RUN_STATE_RUNNING,   /* the child trains */
  TAILOR_RUN_STATE_STOPPING,  /* asked to stop: it writes a checkpoint, then exits */
  TAILOR_RUN_STATE_PAUSED,    /* stopped at a checkpoint; resume continues it */
  TAILOR_RUN_STATE_CANCELLED, /* stopped for good at the user's request */
  TAILOR_RUN_STATE_DONE,      /* trained to the end; the adapter is written */
  TAILOR_RUN_STATE_FAILED,    /* an error event, a crash or a kill: see error-code/-message */
} TailorRunState;

GType tailor_run_state_get_type (void) G_GNUC_CONST;
#define TAILOR_TYPE_RUN_STATE (tailor_run_state_get_type ())

/* TRUE for the states a child is no longer alive in. */
gboolean tailor_run_state_is_final (TailorRunState state);

#define TAILOR_TYPE_RUN_SUPERVISOR (tailor_run_supervisor_get_type ())
G_DECLARE_FINAL_TYPE (TailorRunSupervisor, tailor_run_supervisor, TAILOR, RUN_SUPERVISOR, GObject)

/* Signals (all on the thread default main context the supervisor was made in):
 *   "event"   (JsonObject *event): every progress line, parsed, in order
 *   "started" (gint64 start_step, gint64 steps, gboolean resumed): a "start" event; points
 *             after start_step from an earlier segment of the run will be computed again
 *   "step"    (gint64 step, double loss)
 *   "eval"    (gint64 step, double loss): held-out loss
 *   "warning" (const char *code, const char *message)
 *   "finished" (TailorRunState state): the child is gone and the state is final
 * Properties (read-only, notified): state, step, steps, loss, eval-loss, tokens-per-second,
 * eta-seconds (-1 unknown), memory-bytes, device, run-dir, pid, checkpoint, error-code,
 * error-message. */

/* cli_path NULL: tailor_run_supervisor_find_cli () when a run starts. */
TailorRunSupervisor *tailor_run_supervisor_new (const char *cli_path);

/* $TAILOR_CLI, else tailor-cli beside the running program, else on $PATH; NULL if none. */
char *tailor_run_supervisor_find_cli (void);

/* Spawns `tailor-cli train RUN_DIR/run.json --progress=json` in its own session, with stdout
 * and stderr appended to files in run_dir, so that it outlives the supervisor and the app:
 * disposing the supervisor stops following, never the child. */
gboolean tailor_run_supervisor_start (TailorRunSupervisor *self, const char *run_dir, GError **error);
/* Spawns `tailor-cli train --resume RUN_DIR --progress=json`. */
gboolean
tailor_run_supervisor_resume (TailorRunSupervisor *self, const char *run_dir, GError **error);
/* Follows a run started earlier (by another supervisor or an earlier app): replays its progress
 * file from the start, then follows it while its child lives. A run whose child is gone ends
 * in its final state at once (PAUSED, DONE, FAILED). */
gboolean
tailor_run_supervisor_attach (TailorRunSupervisor *self, const char *run_dir, GError **error);

/* SIGTERM: the child checkpoints and exits, ending PAUSED. */
void tailor_run_supervisor_pause (TailorRunSupervisor *self);
/* SIGTERM as pause, ending CANCELLED; a run that is not alive becomes CANCELLED at once. */
void tailor_run_supervisor_cancel (TailorRunSupervisor *self);

TailorRunState tailor_run_supervisor_get_state (TailorRunSupervisor *self);
gint64 tailor_run_supervisor_get_step (TailorRunSupervisor *self);
gint64 tailor_run_supervisor_get_steps (TailorRunSupervisor *self);
double tailor_run_supervisor_get_loss (TailorRunSupervisor *self);
double tailor_run_supervisor_get_eval_loss (TailorRunSupervisor *self);
double tailor_run_supervisor_get_tokens_per_second (TailorRunSupervisor *self);
double tailor_run_supervisor_get_eta_seconds (TailorRunSupervisor *self);
guint64 tailor_run_supervisor_get_memory_bytes (TailorRunSupervisor *self);
const char *tailor_run_supervisor_get_device (TailorRunSupervisor *self);
const char *tailor_run_supervisor_get_run_dir (TailorRunSupervisor *self);
GPid tailor_run_supervisor_get_pid (TailorRunSupervisor *self);
const char *tailor_run_supervisor_get_checkpoint (TailorRunSupervisor *self);
const char *tailor_run_supervisor_get_error_code (TailorRunSupervisor *self);
const char *tailor_run_supervisor_get_error_message (TailorRunSupervisor *self);

/* TRUE when run_dir's recorded child is alive and is the trainer of that folder. */
gboolean tailor_run_dir_child_alive (const char *run_dir);

/* Makes a run folder <catalogue dir>/runs/<project id>-<UTC time>/ with the version's
 * train.jsonl and eval.jsonl (chat form) and run.json (settings, plus the data files, the
 * dataset version and the folder as output_dir), checks run.json as the trainer will parse
 * it, and records the run in the catalogue as running. settings is a run.json object without
 * those keys. Opens its own catalogue handle, so it may run in any thread. Returns the folder. */
char *tailor_run_prepare (const char *catalogue_dir,
                          gint64 project_id,
                          const char *version_id,
                          JsonObject *settings,
                          gint64 *run_id,
                          GError **error);

G_END_DECLS
