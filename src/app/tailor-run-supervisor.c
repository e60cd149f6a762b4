/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TailorRunSupervisor: spawning the trainer in its own session, following its progress file,
 * pause/resume/cancel by SIGTERM, crash detection, re-attaching, and preparing run folders. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "tailor-data-split.h"
#include "tailor-run-config.h"
#include "tailor-run-supervisor.h"

/* How often the progress file is read: often enough for a live chart, rare enough to cost
 * nothing. */
#define POLL_INTERVAL_MS 100

G_DEFINE_QUARK (tailor-run-supervisor-error-quark, tailor_run_supervisor_error)

G_DEFINE_ENUM_TYPE (TailorRunState,
                    tailor_run_state,
                    G_DEFINE_ENUM_VALUE (TAILOR_RUN_STATE_IDLE, "idle"),
                    G_DEFINE_ENUM_VALUE (TAILOR_RUN_STATE_RUNNING, "running"),
                    G_DEFINE_ENUM_VALUE (TAILOR_RUN_STATE_STOPPING, "stopping"),
                    G_DEFINE_ENUM_VALUE (TAILOR_RUN_STATE_PAUSED, "paused"),
                    G_DEFINE_ENUM_VALUE (TAILOR_RUN_STATE_CANCELLED, "cancelled"),
                    G_DEFINE_ENUM_VALUE (TAILOR_RUN_STATE_DONE, "done"),
                    G_DEFINE_ENUM_VALUE (TAILOR_RUN_STATE_FAILED, "failed"))

/* The last event of the current segment (since the last start) that says how it ends. */
typedef enum
{
  ENDING_NONE,
  ENDING_COMPLETE, /* done, complete */
  ENDING_STOPPED,  /* done, not complete: stopped at a checkpoint */
  ENDING_ERROR,
} Ending;

struct _TailorRunSupervisor
{
  GObject parent_instance;

  char *cli_path;
  char *run_dir;

  /* The child we spawned; NULL when following one started elsewhere. */
  GSubprocess *child;
  GCancellable *wait_cancellable;
  GPid pid;
  gboolean exited;
  int wait_status;
  goffset stderr_offset; /* where this segment's stderr starts */

  int progress_fd;
  GString *partial; /* a line read without its newline yet */
  guint poll_id;

  TailorRunState state;
  Ending ending;
  gboolean cancel_requested;

  gint64 step;
  gint64 steps;
  double loss;
  double eval_loss;
  double tokens_per_second;
  double eta_seconds;
  guint64 memory_bytes;
  char *device;
  char *checkpoint;
  char *error_code;
  char *error_message;
};

G_DEFINE_FINAL_TYPE (TailorRunSupervisor, tailor_run_supervisor, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_STATE,
  PROP_STEP,
  PROP_STEPS,
  PROP_LOSS,
  PROP_EVAL_LOSS,
  PROP_TOKENS_PER_SECOND,
  PROP_ETA_SECONDS,
  PROP_MEMORY_BYTES,
  PROP_DEVICE,
  PROP_RUN_DIR,
  PROP_PID,
  PROP_CHECKPOINT,
  PROP_ERROR_CODE,
  PROP_ERROR_MESSAGE,
  N_PROPS
};

enum
{
  SIGNAL_EVENT,
  SIGNAL_STARTED,
  SIGNAL_STEP,
  SIGNAL_EVAL,
  SIGNAL_WARNING,
  SIGNAL_FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

gboolean
tailor_run_state_is_final (TailorRunState state)
{
  return state == TAILOR_RUN_STATE_PAUSED || state == TAILOR_RUN_STATE_CANCELLED ||
         state == TAILOR_RUN_STATE_DONE || state == TAILOR_RUN_STATE_FAILED;
}

static void
set_state (TailorRunSupervisor *self, TailorRunState state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_string (TailorRunSupervisor *self, char **field, const char *value, guint prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
set_int (TailorRunSupervisor *self, gint64 *field, gint64 value, guint prop)
{
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
set_double (TailorRunSupervisor *self, double *field, double value, guint prop)
{
  if (*field == value || (isnan (*field) && isnan (value)))
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

/* A number member, or NAN when absent or null (the trainer writes null for NaN). */
static double
member_double (JsonObject *o, const char *key)
{
  JsonNode *node = json_object_get_member (o, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return NAN;
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_INT64:
    case G_TYPE_DOUBLE:
      return json_node_get_double (node);
    default:
      return NAN;
    }
}

static gint64
member_int (JsonObject *o, const char *key, gint64 fallback)
{
  double v = member_double (o, key);

  return isfinite (v) ? (gint64) v : fallback;
}

static const char *
member_string (JsonObject *o, const char *key)
{
  JsonNode *node = json_object_get_member (o, key);

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static void
handle_event (TailorRunSupervisor *self, JsonObject *o)
{
  const char *name = member_string (o, "event");

  if (name == NULL)
    return;
  g_signal_emit (self, signals[SIGNAL_EVENT], 0, o);

  if (g_str_equal (name, "start"))
    {
      gint64 start_step = member_int (o, "start_step", 0);
      gboolean resumed = json_object_get_boolean_member_with_default (o, "resumed", FALSE);

      self->ending = ENDING_NONE;
      set_string (self, &self->error_code, NULL, PROP_ERROR_CODE);
      set_string (self, &self->error_message, NULL, PROP_ERROR_MESSAGE);
      set_string (self, &self->device, member_string (o, "device"), PROP_DEVICE);
      set_int (self, &self->steps, member_int (o, "steps", self->steps), PROP_STEPS);
      set_int (self, &self->step, start_step, PROP_STEP);
      set_double (self, &self->eta_seconds, -1, PROP_ETA_SECONDS);
      g_signal_emit (self, signals[SIGNAL_STARTED], 0, start_step, self->steps, resumed);
    }
  else if (g_str_equal (name, "step"))
    {
      gint64 step = member_int (o, "step", self->step);
      double loss = member_double (o, "loss");
      double eta = member_double (o, "eta_s");

      set_int (self, &self->steps, member_int (o, "steps", self->steps), PROP_STEPS);
      set_int (self, &self->step, step, PROP_STEP);
      set_double (self, &self->loss, loss, PROP_LOSS);
      set_double (self, &self->tokens_per_second, member_double (o, "tokens_per_s"),
                  PROP_TOKENS_PER_SECOND);
      set_double (self, &self->eta_seconds, isfinite (eta) ? eta : -1, PROP_ETA_SECONDS);
      if (member_int (o, "mem_bytes", -1) >= 0 &&
          (guint64) member_int (o, "mem_bytes", 0) != self->memory_bytes)
        {
          self->memory_bytes = (guint64) member_int (o, "mem_bytes", 0);
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MEMORY_BYTES]);
        }
      g_signal_emit (self, signals[SIGNAL_STEP], 0, step, loss);
    }
  else if (g_str_equal (name, "eval"))
    {
      gint64 step = member_int (o, "step", self->step);
      double loss = member_double (o, "loss");

      set_double (self, &self->eval_loss, loss, PROP_EVAL_LOSS);
      g_signal_emit (self, signals[SIGNAL_EVAL], 0, step, loss);
    }
  else if (g_str_equal (name, "checkpoint"))
    set_string (self, &self->checkpoint, member_string (o, "path"), PROP_CHECKPOINT);
  else if (g_str_equal (name, "warning"))
    g_signal_emit (self, signals[SIGNAL_WARNING], 0, member_string (o, "code"),
                   member_string (o, "message"));
  else if (g_str_equal (name, "done"))
    {
      gboolean complete = json_object_get_boolean_member_with_default (o, "complete", FALSE);

      self->ending = complete ? ENDING_COMPLETE : ENDING_STOPPED;
      set_int (self, &self->step, member_int (o, "step", self->step), PROP_STEP);
      if (member_string (o, "checkpoint") != NULL)
        set_string (self, &self->checkpoint, member_string (o, "checkpoint"), PROP_CHECKPOINT);
      if (complete)
        set_double (self, &self->eta_seconds, 0, PROP_ETA_SECONDS);
    }
  else if (g_str_equal (name, "error"))
    {
      self->ending = ENDING_ERROR;
      set_string (self, &self->error_code, member_string (o, "code"), PROP_ERROR_CODE);
      set_string (self, &self->error_message, member_string (o, "message"), PROP_ERROR_MESSAGE);
    }
}

static void
handle_line (TailorRunSupervisor *self, const char *line)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonNode *root;

  if (line[0] == '\0')
    return;
  /* The trainer writes only protocol lines on stdout; anything else is a bug to log, not to
   * stop for. */
  if (!json_parser_load_from_data (parser, line, -1, &error))
    {
      g_debug ("Ignoring a progress line that is not JSON (%s): %s", error->message, line);
      return;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  handle_event (self, json_node_get_object (root));
}

/* Reads whatever the child appended since the last read, and handles its complete lines. */
static void
read_progress (TailorRunSupervisor *self)
{
  char buffer[8192];
  gssize n;

  if (self->progress_fd < 0)
    return;
  g_object_freeze_notify (G_OBJECT (self));
  while ((n = read (self->progress_fd, buffer, sizeof buffer)) > 0)
    {
      gsize start = 0;

      for (gsize i = 0; i < (gsize) n; i++)
        if (buffer[i] == '\n')
          {
            g_string_append_len (self->partial, buffer + start, (gssize) (i - start));
            handle_line (self, self->partial->str);
            g_string_truncate (self->partial, 0);
            start = i + 1;
          }
      g_string_append_len (self->partial, buffer + start, (gssize) ((gsize) n - start));
    }
  g_object_thaw_notify (G_OBJECT (self));
}

static char *
run_file (TailorRunSupervisor *self, const char *name)
{
  return g_build_filename (self->run_dir, name, NULL);
}

/* The first thing this segment's child said on stderr: a usage or startup error. */
static char *
first_stderr_line (TailorRunSupervisor *self)
{
  g_autofree char *path = run_file (self, TAILOR_RUN_STDERR_FILE);
  g_autofree char *text = NULL;
  gsize len = 0;
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (path, &text, &len, NULL) || (goffset) len <= self->stderr_offset)
    return NULL;
  lines = g_strsplit (text + self->stderr_offset, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_strstrip (lines[i]);
      if (lines[i][0] != '\0')
        return g_strdup (lines[i]);
    }
  return NULL;
}

static void
stop_following (TailorRunSupervisor *self)
{
  g_clear_handle_id (&self->poll_id, g_source_remove);
  if (self->progress_fd >= 0)
    {
      close (self->progress_fd);
      self->progress_fd = -1;
    }
  g_string_truncate (self->partial, 0);
}

static void
fail (TailorRunSupervisor *self, const char *code, const char *message)
{
  set_string (self, &self->error_code, code, PROP_ERROR_CODE);
  set_string (self, &self->error_message, message, PROP_ERROR_MESSAGE);
  set_state (self, TAILOR_RUN_STATE_FAILED);
}

/* The child is gone: everything it wrote is read, and the state follows from how the segment
 * ended, or from how the process ended when it said nothing. */
static void
conclude (TailorRunSupervisor *self)
{
  g_autofree char *pid_path = run_file (self, TAILOR_RUN_PID_FILE);
  TailorRunState state;

  read_progress (self);
  if (self->partial->len > 0)
    {
      /* a last line without its newline: the child wrote it whole before dying */
      g_autofree char *line = g_strdup (self->partial->str);

      g_string_truncate (self->partial, 0);
      handle_line (self, line);
    }
  stop_following (self);
  g_unlink (pid_path);
  self->pid = 0;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PID]);

  g_object_freeze_notify (G_OBJECT (self));
  switch (self->ending)
    {
    case ENDING_COMPLETE:
      set_state (self, TAILOR_RUN_STATE_DONE);
      break;
    case ENDING_ERROR:
      if (self->error_message == NULL)
        set_string (self, &self->error_message,
                    _("The trainer reported an error without a message"), PROP_ERROR_MESSAGE);
      set_state (self, TAILOR_RUN_STATE_FAILED);
      break;
    case ENDING_STOPPED:
      set_state (self, self->cancel_requested ? TAILOR_RUN_STATE_CANCELLED
                                              : TAILOR_RUN_STATE_PAUSED);
      break;
    case ENDING_NONE:
    default:
      if (self->cancel_requested)
        set_state (self, TAILOR_RUN_STATE_CANCELLED);
      else if (!self->exited)
        fail (self, "vanished",
              _("The training process ended without finishing: it crashed or was stopped from "
                "outside Tailor"));
      else if (WIFSIGNALED (self->wait_status))
        {
          /* Translators: the number and name of a Unix signal, e.g. "signal 11, Segmentation
           * fault" */
          g_autofree char *message = g_strdup_printf (
            _("The training process crashed (signal %d, %s)"), WTERMSIG (self->wait_status),
            g_strsignal (WTERMSIG (self->wait_status)));

          fail (self, "crashed", message);
        }
      else
        {
          g_autofree char *said = first_stderr_line (self);
          int status = WIFEXITED (self->wait_status) ? WEXITSTATUS (self->wait_status) : -1;
          g_autofree char *message = NULL;

          if (said != NULL)
            /* Translators: the last %s is the first line the trainer wrote on its error
             * output, in English */
            message = g_strdup_printf (_("The training process stopped with exit status %d: %s"),
                                       status, said);
          else
            message = g_strdup_printf (_("The training process stopped with exit status %d "
                                         "without saying why"),
                                       status);
          fail (self, "exit", message);
        }
      break;
    }
  g_object_thaw_notify (G_OBJECT (self));
  state = self->state;
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0, state);
}

static gboolean
poll_cb (gpointer user_data)
{
  TailorRunSupervisor *self = user_data;

  read_progress (self);
  /* A child of ours is reaped by wait_cb; one started elsewhere can only be watched. */
  if (self->child == NULL && !tailor_run_dir_child_alive (self->run_dir))
    {
      self->poll_id = 0;
      conclude (self);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
wait_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  GSubprocess *child = G_SUBPROCESS (object);
  g_autoptr (GError) error = NULL;
  TailorRunSupervisor *self;

  /* Cancelled only by dispose (or a new run): self may be gone, and the child keeps running.
   * Holding a reference instead would keep every supervisor alive as long as its child. */
  if (!g_subprocess_wait_finish (child, result, &error))
    return;
  self = user_data;
  if (child != self->child)
    return;
  self->exited = TRUE;
  self->wait_status = g_subprocess_get_status (child);
  g_clear_object (&self->child);
  g_clear_object (&self->wait_cancellable);
  conclude (self);
}

static void
reset_run (TailorRunSupervisor *self, const char *run_dir)
{
  g_object_freeze_notify (G_OBJECT (self));
  set_string (self, &self->run_dir, run_dir, PROP_RUN_DIR);
  set_string (self, &self->error_code, NULL, PROP_ERROR_CODE);
  set_string (self, &self->error_message, NULL, PROP_ERROR_MESSAGE);
  self->ending = ENDING_NONE;
  self->cancel_requested = FALSE;
  self->exited = FALSE;
  self->wait_status = 0;
  g_object_thaw_notify (G_OBJECT (self));
}

static gboolean
check_not_busy (TailorRunSupervisor *self, GError **error)
{
  if (self->state == TAILOR_RUN_STATE_RUNNING || self->state == TAILOR_RUN_STATE_STOPPING)
    {
      g_set_error (error, TAILOR_RUN_SUPERVISOR_ERROR, TAILOR_RUN_SUPERVISOR_ERROR_BUSY,
                   _("A training run in %s is still being followed; pause or cancel it first"),
                   self->run_dir);
      return FALSE;
    }
  /* A supervisor follows one run at a time; a new one forgets the old. */
  stop_following (self);
  g_cancellable_cancel (self->wait_cancellable);
  g_clear_object (&self->wait_cancellable);
  g_clear_object (&self->child);
  return TRUE;
}

static int
open_append (const char *path, GError **error)
{
  int fd = g_open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

  if (fd < 0)
    {
      int saved = errno;

      /* Translators: a file path and the system's reason */
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), _("Cannot open %s: %s"),
                   path, g_strerror (saved));
    }
  return fd;
}

static goffset
file_size (const char *path)
{
  GStatBuf st;

  return g_stat (path, &st) == 0 ? (goffset) st.st_size : 0;
}

/* The child gets its own session: closing the app's terminal or the app itself sends it no
 * hangup, and signals meant for the app's process group do not reach it. */
static void
child_setup (gpointer user_data)
{
  setsid ();
}

static gboolean
spawn (TailorRunSupervisor *self, const char *run_dir, const char *const *args, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *cli = NULL;
  g_autofree char *progress_path = NULL;
  g_autofree char *stderr_path = NULL;
  g_autofree char *pid_path = NULL;
  g_autofree char *pid_text = NULL;
  const char *identifier;
  goffset offset;
  int out_fd;
  int err_fd;

  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), FALSE);
  g_return_val_if_fail (run_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_not_busy (self, error))
    return FALSE;
  cli = self->cli_path != NULL ? g_strdup (self->cli_path) : tailor_run_supervisor_find_cli ();
  if (cli == NULL)
    {
      g_set_error (error, TAILOR_RUN_SUPERVISOR_ERROR, TAILOR_RUN_SUPERVISOR_ERROR_NO_CLI,
                   _("Cannot find tailor-cli beside Tailor or on the PATH; reinstall Tailor or "
                     "set TAILOR_CLI to its path"));
      return FALSE;
    }
  reset_run (self, run_dir);

  progress_path = run_file (self, TAILOR_RUN_PROGRESS_FILE);
  stderr_path = run_file (self, TAILOR_RUN_STDERR_FILE);
  pid_path = run_file (self, TAILOR_RUN_PID_FILE);
  offset = file_size (progress_path);
  self->stderr_offset = file_size (stderr_path);
  out_fd = open_append (progress_path, error);
  if (out_fd < 0)
    return FALSE;
  err_fd = open_append (stderr_path, error);
  if (err_fd < 0)
    {
      close (out_fd);
      return FALSE;
    }

  /* Files, not pipes: a pipe would break (SIGPIPE) when the app closes, the files outlive it,
   * and a reopened app replays them. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_stdin_file_path (launcher, "/dev/null");
  g_subprocess_launcher_take_stdout_fd (launcher, out_fd);
  g_subprocess_launcher_take_stderr_fd (launcher, err_fd);
  g_subprocess_launcher_set_cwd (launcher, run_dir);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  g_ptr_array_add (argv, cli);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  self->child = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, error);
  if (self->child == NULL)
    {
      /* Translators: the path of the trainer program, then the reason */
      g_prefix_error (error, _("Cannot start %s: "), cli);
      return FALSE;
    }
  /* A trainer that dies at once may already be reaped (no identifier): its exit status still
   * arrives through the wait below, and there is no process left to find again. */
  identifier = g_subprocess_get_identifier (self->child);
  self->pid = identifier != NULL ? (GPid) g_ascii_strtoll (identifier, NULL, 10) : 0;
  if (self->pid > 0)
    {
      pid_text = g_strdup_printf ("%d\n", (int) self->pid);
      if (!g_file_set_contents (pid_path, pid_text, -1, NULL))
        g_warning ("Cannot write %s: a reopened Tailor will not find this run's process",
                   pid_path);
    }
  else
    g_unlink (pid_path);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PID]);

  self->progress_fd = g_open (progress_path, O_RDONLY | O_CLOEXEC, 0);
  if (self->progress_fd >= 0)
    lseek (self->progress_fd, offset, SEEK_SET);
  self->wait_cancellable = g_cancellable_new ();
  g_subprocess_wait_async (self->child, self->wait_cancellable, wait_cb, self);
  self->poll_id = g_timeout_add (POLL_INTERVAL_MS, poll_cb, self);
  set_state (self, TAILOR_RUN_STATE_RUNNING);
  return TRUE;
}

gboolean
tailor_run_supervisor_start (TailorRunSupervisor *self, const char *run_dir, GError **error)
{
  g_autofree char *run_json = NULL;

  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), FALSE);
  g_return_val_if_fail (run_dir != NULL, FALSE);

  run_json = g_build_filename (run_dir, TAILOR_RUN_JSON_FILE, NULL);
  {
    const char *args[] = { "train", run_json, "--progress=json", NULL };

    return spawn (self, run_dir, args, error);
  }
}

gboolean
tailor_run_supervisor_resume (TailorRunSupervisor *self, const char *run_dir, GError **error)
{
  const char *args[] = { "train", "--resume", run_dir, "--progress=json", NULL };

  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), FALSE);
  g_return_val_if_fail (run_dir != NULL, FALSE);

  return spawn (self, run_dir, args, error);
}

gboolean
tailor_run_supervisor_attach (TailorRunSupervisor *self, const char *run_dir, GError **error)
{
  g_autofree char *progress_path = NULL;
  g_autofree char *pid_text = NULL;

  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), FALSE);
  g_return_val_if_fail (run_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_not_busy (self, error))
    return FALSE;
  progress_path = g_build_filename (run_dir, TAILOR_RUN_PROGRESS_FILE, NULL);
  self->progress_fd = g_open (progress_path, O_RDONLY | O_CLOEXEC, 0);
  if (self->progress_fd < 0)
    {
      int saved = errno;

      g_set_error (error, TAILOR_RUN_SUPERVISOR_ERROR, TAILOR_RUN_SUPERVISOR_ERROR_NOT_RUN,
                   _("%s holds no training progress (%s): the run never started"), run_dir,
                   g_strerror (saved));
      return FALSE;
    }
  reset_run (self, run_dir);
  {
    g_autofree char *pid_path = run_file (self, TAILOR_RUN_PID_FILE);

    if (g_file_get_contents (pid_path, &pid_text, NULL, NULL))
      self->pid = (GPid) g_ascii_strtoll (pid_text, NULL, 10);
  }
  set_state (self, TAILOR_RUN_STATE_RUNNING);
  read_progress (self);
  if (!tailor_run_dir_child_alive (run_dir))
    {
      conclude (self);
      return TRUE;
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PID]);
  self->poll_id = g_timeout_add (POLL_INTERVAL_MS, poll_cb, self);
  return TRUE;
}

static void
send_term (TailorRunSupervisor *self)
{
  if (self->child != NULL)
    g_subprocess_send_signal (self->child, SIGTERM);
  else if (self->pid > 0 && tailor_run_dir_child_alive (self->run_dir))
    kill (self->pid, SIGTERM);
  set_state (self, TAILOR_RUN_STATE_STOPPING);
}

void
tailor_run_supervisor_pause (TailorRunSupervisor *self)
{
  g_return_if_fail (TAILOR_IS_RUN_SUPERVISOR (self));

  if (self->state == TAILOR_RUN_STATE_RUNNING)
    send_term (self);
}

void
tailor_run_supervisor_cancel (TailorRunSupervisor *self)
{
  g_return_if_fail (TAILOR_IS_RUN_SUPERVISOR (self));

  self->cancel_requested = TRUE;
  if (self->state == TAILOR_RUN_STATE_RUNNING)
    send_term (self);
  else if (self->state == TAILOR_RUN_STATE_PAUSED || self->state == TAILOR_RUN_STATE_FAILED)
    {
      set_state (self, TAILOR_RUN_STATE_CANCELLED);
      g_signal_emit (self, signals[SIGNAL_FINISHED], 0, self->state);
    }
}

/* ---- Finding the child ---- */

char *
tailor_run_supervisor_find_cli (void)
{
  const char *env = g_getenv ("TAILOR_CLI");
  g_autofree char *self_exe = g_file_read_link ("/proc/self/exe", NULL);

  if (env != NULL && env[0] != '\0')
    return g_strdup (env);
  if (self_exe != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (self_exe);
      /* installed side by side; in a build tree the app is src/app/tailor, the CLI src/cli/ */
      const char *const candidates[] = { "tailor-cli", "../cli/tailor-cli", NULL };

      for (guint i = 0; candidates[i] != NULL; i++)
        {
          g_autofree char *path = g_build_filename (dir, candidates[i], NULL);

          if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
            return g_canonicalize_filename (path, NULL);
        }
    }
  return g_find_program_in_path ("tailor-cli");
}

/* Linux tells more than kill(0): a zombie is dead, and a recycled pid runs something else. */
static gboolean
proc_is_trainer_of (GPid pid, const char *run_dir, gboolean *known)
{
  g_autofree char *stat_path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *cmd_path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
  g_autofree char *stat = NULL;
  g_autofree char *cmdline = NULL;
  gsize len = 0;
  const char *paren;

  *known = FALSE;
  if (!g_file_get_contents (stat_path, &stat, NULL, NULL) ||
      !g_file_get_contents (cmd_path, &cmdline, &len, NULL))
    return FALSE;
  *known = TRUE;
  paren = strrchr (stat, ')');
  if (paren == NULL || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X')
    return FALSE;
  /* The arguments name run.json in the folder, or the folder itself when resuming. */
  for (gsize at = 0; at < len; at += strlen (cmdline + at) + 1)
    if (strstr (cmdline + at, run_dir) != NULL)
      return TRUE;
  return FALSE;
}

gboolean
tailor_run_dir_child_alive (const char *run_dir)
{
  g_autofree char *pid_path = NULL;
  g_autofree char *text = NULL;
  gboolean known;
  gboolean trainer;
  gint64 pid;

  g_return_val_if_fail (run_dir != NULL, FALSE);

  pid_path = g_build_filename (run_dir, TAILOR_RUN_PID_FILE, NULL);
  if (!g_file_get_contents (pid_path, &text, NULL, NULL))
    return FALSE;
  pid = g_ascii_strtoll (text, NULL, 10);
  if (pid <= 0 || pid > G_MAXINT)
    return FALSE;
  if (kill ((pid_t) pid, 0) != 0 && errno != EPERM)
    return FALSE;
  trainer = proc_is_trainer_of ((GPid) pid, run_dir, &known);
  return known ? trainer : TRUE;
}

/* ---- Preparing a run folder ---- */

static char *
make_run_dir (const char *catalogue_dir, gint64 project_id, GError **error)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  g_autofree char *runs = g_build_filename (catalogue_dir, "runs", NULL);

  if (g_mkdir_with_parents (runs, 0755) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Cannot create the runs folder %s: %s"), runs, g_strerror (saved));
      return NULL;
    }
  for (guint n = 1; n < 1000; n++)
    {
      g_autofree char *name = n == 1 ? g_strdup_printf ("%" G_GINT64_FORMAT "-%s", project_id,
                                                        stamp)
                                     : g_strdup_printf ("%" G_GINT64_FORMAT "-%s-%u", project_id,
                                                        stamp, n);
      g_autofree char *dir = g_build_filename (runs, name, NULL);

      if (g_mkdir (dir, 0755) == 0)
        return g_steal_pointer (&dir);
      if (errno != EEXIST)
        {
          int saved = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       _("Cannot create the run folder %s: %s"), dir, g_strerror (saved));
          return NULL;
        }
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
               _("Too many runs started this second in %s; try again"), runs);
  return NULL;
}

/* A folder that could not be made into a run leaves nothing behind. */
static void
remove_run_dir (const char *dir)
{
  const char *const names[] = { "train.jsonl", "eval.jsonl", TAILOR_RUN_JSON_FILE, NULL };

  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dir, names[i], NULL);

      g_unlink (path);
    }
  g_rmdir (dir);
}

static gboolean
fill_run_dir (TailorCatalogue *catalogue,
              const TailorDatasetVersion *version,
              const char *dir,
              JsonObject *settings,
              gint64 *run_id,
              GError **error)
{
  g_autoptr (TailorRun) run = NULL;
  g_autoptr (TailorRunConfig) config = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (JsonObject) object = NULL;
  g_autofree char *train_path = NULL;
  g_autofree char *eval_path = NULL;
  g_autofree char *json_path = NULL;
  g_autofree char *text = NULL;
  GList *members;

  train_path = g_build_filename (dir, "train.jsonl", NULL);
  eval_path = g_build_filename (dir, "eval.jsonl", NULL);
  if (!tailor_dataset_export_split (catalogue, version, TAILOR_SPLIT_TRAIN, train_path, NULL,
                                    error) ||
      (version->eval_count > 0 &&
       !tailor_dataset_export_split (catalogue, version, TAILOR_SPLIT_EVAL, eval_path, NULL,
                                     error)))
    return FALSE;

  object = json_object_new ();
  members = json_object_get_members (settings);
  for (GList *l = members; l != NULL; l = l->next)
    json_object_set_member (object, l->data,
                            json_node_copy (json_object_get_member (settings, l->data)));
  g_list_free (members);
  json_object_set_string_member (object, "train", "train.jsonl");
  /* Without held-out examples there is no held-out loss, rather than an empty file. */
  if (version->eval_count > 0)
    json_object_set_string_member (object, "eval", "eval.jsonl");
  else
    json_object_remove_member (object, "eval");
  json_object_set_string_member (object, "dataset_version", version->id);
  json_object_set_string_member (object, "output_dir", dir);
  node = json_node_init_object (json_node_alloc (), object);
  text = json_to_string (node, TRUE);

  config = tailor_run_config_parse (text, -1, dir, error);
  if (config == NULL)
    return FALSE;
  json_path = g_build_filename (dir, TAILOR_RUN_JSON_FILE, NULL);
  if (!g_file_set_contents (json_path, text, -1, error))
    return FALSE;
  run = tailor_catalogue_add_run (catalogue, version->project_id, version->id, text, dir, error);
  if (run == NULL)
    return FALSE;
  if (run_id != NULL)
    *run_id = run->id;
  return TRUE;
}

char *
tailor_run_prepare (const char *catalogue_dir,
                    gint64 project_id,
                    const char *version_id,
                    JsonObject *settings,
                    gint64 *run_id,
                    GError **error)
{
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autofree char *dir = NULL;

  g_return_val_if_fail (catalogue_dir != NULL, NULL);
  g_return_val_if_fail (version_id != NULL, NULL);
  g_return_val_if_fail (settings != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  catalogue = tailor_catalogue_open (catalogue_dir, TAILOR_CATALOGUE_OPEN_DEFAULT, error);
  if (catalogue == NULL)
    return NULL;
  version = tailor_catalogue_get_version (catalogue, project_id, version_id, error);
  if (version == NULL)
    return NULL;
  dir = make_run_dir (catalogue_dir, project_id, error);
  if (dir == NULL)
    return NULL;
  if (!fill_run_dir (catalogue, version, dir, settings, run_id, error))
    {
      remove_run_dir (dir);
      return NULL;
    }
  return g_steal_pointer (&dir);
}

/* ---- GObject ---- */

static void
tailor_run_supervisor_dispose (GObject *object)
{
  TailorRunSupervisor *self = TAILOR_RUN_SUPERVISOR (object);

  /* Let go of the child without stopping it: a run outlives the window. */
  stop_following (self);
  g_cancellable_cancel (self->wait_cancellable);
  g_clear_object (&self->wait_cancellable);
  g_clear_object (&self->child);

  G_OBJECT_CLASS (tailor_run_supervisor_parent_class)->dispose (object);
}

static void
tailor_run_supervisor_finalize (GObject *object)
{
  TailorRunSupervisor *self = TAILOR_RUN_SUPERVISOR (object);

  g_string_free (self->partial, TRUE);
  g_free (self->cli_path);
  g_free (self->run_dir);
  g_free (self->device);
  g_free (self->checkpoint);
  g_free (self->error_code);
  g_free (self->error_message);

  G_OBJECT_CLASS (tailor_run_supervisor_parent_class)->finalize (object);
}

static void
tailor_run_supervisor_get_property (GObject *object,
                                    guint prop_id,
                                    GValue *value,
                                    GParamSpec *pspec)
{
  TailorRunSupervisor *self = TAILOR_RUN_SUPERVISOR (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_STEP:
      g_value_set_int64 (value, self->step);
      break;
    case PROP_STEPS:
      g_value_set_int64 (value, self->steps);
      break;
    case PROP_LOSS:
      g_value_set_double (value, self->loss);
      break;
    case PROP_EVAL_LOSS:
      g_value_set_double (value, self->eval_loss);
      break;
    case PROP_TOKENS_PER_SECOND:
      g_value_set_double (value, self->tokens_per_second);
      break;
    case PROP_ETA_SECONDS:
      g_value_set_double (value, self->eta_seconds);
      break;
    case PROP_MEMORY_BYTES:
      g_value_set_uint64 (value, self->memory_bytes);
      break;
    case PROP_DEVICE:
      g_value_set_string (value, self->device);
      break;
    case PROP_RUN_DIR:
      g_value_set_string (value, self->run_dir);
      break;
    case PROP_PID:
      g_value_set_int (value, (int) self->pid);
      break;
    case PROP_CHECKPOINT:
      g_value_set_string (value, self->checkpoint);
      break;
    case PROP_ERROR_CODE:
      g_value_set_string (value, self->error_code);
      break;
    case PROP_ERROR_MESSAGE:
      g_value_set_string (value, self->error_message);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tailor_run_supervisor_class_init (TailorRunSupervisorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = tailor_run_supervisor_dispose;
  object_class->finalize = tailor_run_supervisor_finalize;
  object_class->get_property = tailor_run_supervisor_get_property;

  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, TAILOR_TYPE_RUN_STATE,
                                              TAILOR_RUN_STATE_IDLE, flags);
  properties[PROP_STEP] = g_param_spec_int64 ("step", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_STEPS] = g_param_spec_int64 ("steps", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_LOSS] =
    g_param_spec_double ("loss", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0, flags);
  properties[PROP_EVAL_LOSS] =
    g_param_spec_double ("eval-loss", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0, flags);
  properties[PROP_TOKENS_PER_SECOND] =
    g_param_spec_double ("tokens-per-second", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0, flags);
  properties[PROP_ETA_SECONDS] =
    g_param_spec_double ("eta-seconds", NULL, NULL, -1, G_MAXDOUBLE, -1, flags);
  properties[PROP_MEMORY_BYTES] =
    g_param_spec_uint64 ("memory-bytes", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_DEVICE] = g_param_spec_string ("device", NULL, NULL, NULL, flags);
  properties[PROP_RUN_DIR] = g_param_spec_string ("run-dir", NULL, NULL, NULL, flags);
  properties[PROP_PID] = g_param_spec_int ("pid", NULL, NULL, 0, G_MAXINT, 0, flags);
  properties[PROP_CHECKPOINT] = g_param_spec_string ("checkpoint", NULL, NULL, NULL, flags);
  properties[PROP_ERROR_CODE] = g_param_spec_string ("error-code", NULL, NULL, NULL, flags);
  properties[PROP_ERROR_MESSAGE] = g_param_spec_string ("error-message", NULL, NULL, NULL, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_EVENT] = g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1, JSON_TYPE_OBJECT);
  signals[SIGNAL_STARTED] =
    g_signal_new ("started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_INT64, G_TYPE_INT64, G_TYPE_BOOLEAN);
  signals[SIGNAL_STEP] = g_signal_new ("step", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT64,
                                       G_TYPE_DOUBLE);
  signals[SIGNAL_EVAL] = g_signal_new ("eval", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT64,
                                       G_TYPE_DOUBLE);
  signals[SIGNAL_WARNING] = g_signal_new ("warning", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING,
                                          G_TYPE_STRING);
  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                           TAILOR_TYPE_RUN_STATE);
}

static void
tailor_run_supervisor_init (TailorRunSupervisor *self)
{
  self->progress_fd = -1;
  self->partial = g_string_new (NULL);
  self->loss = NAN;
  self->eval_loss = NAN;
  self->tokens_per_second = NAN;
  self->eta_seconds = -1;
}

TailorRunSupervisor *
tailor_run_supervisor_new (const char *cli_path)
{
  TailorRunSupervisor *self = g_object_new (TAILOR_TYPE_RUN_SUPERVISOR, NULL);

  self->cli_path = g_strdup (cli_path);
  return self;
}

TailorRunState
tailor_run_supervisor_get_state (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), TAILOR_RUN_STATE_IDLE);
  return self->state;
}

gint64
tailor_run_supervisor_get_step (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), 0);
  return self->step;
}

gint64
tailor_run_supervisor_get_steps (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), 0);
  return self->steps;
}

double
tailor_run_supervisor_get_loss (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), NAN);
  return self->loss;
}

double
tailor_run_supervisor_get_eval_loss (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), NAN);
  return self->eval_loss;
}

double
tailor_run_supervisor_get_tokens_per_second (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), NAN);
  return self->tokens_per_second;
}

double
tailor_run_supervisor_get_eta_seconds (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), -1);
  return self->eta_seconds;
}

guint64
tailor_run_supervisor_get_memory_bytes (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), 0);
  return self->memory_bytes;
}

const char *
tailor_run_supervisor_get_device (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), NULL);
  return self->device;
}

const char *
tailor_run_supervisor_get_run_dir (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), NULL);
  return self->run_dir;
}

GPid
tailor_run_supervisor_get_pid (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), 0);
  return self->pid;
}

const char *
tailor_run_supervisor_get_checkpoint (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), NULL);
  return self->checkpoint;
}

const char *
tailor_run_supervisor_get_error_code (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), NULL);
  return self->error_code;
}

const char *
tailor_run_supervisor_get_error_message (TailorRunSupervisor *self)
{
  g_return_val_if_fail (TAILOR_IS_RUN_SUPERVISOR (self), NULL);
  return self->error_message;
}
