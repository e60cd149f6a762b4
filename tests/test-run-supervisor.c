/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The run supervisor against real children: a small shell trainer that speaks the progress
 * protocol (every ending, pause, resume, cancel, crash, re-attach), and the real `tailor-cli
 * train` on a tiny generated model when that command is built. */
#include "config.h"

#include <glib/gstdio.h>
#include <libintl.h>
#include <locale.h>
#include <signal.h>
#include <string.h>

/* The supervisor and the device list are the app's, but have no GTK: linked here as source. */
#include "../src/app/tailor-devices.c"
#include "../src/app/tailor-run-supervisor.c"

#define WAIT_MS 30000

/* Speaks DESIGN.md's protocol like `tailor-cli train RUN.json|--resume DIR --progress=json`:
 * FAKE_MODE normal | error | crash | usage | silent-exit; FAKE_STEPS, FAKE_DELAY. SIGTERM
 * writes a checkpoint (the step, in fake-ckpt) and ends with done complete=false, exit 0. */
static const char fake_trainer[] =
  "#!/bin/sh\n"
  "mode=${FAKE_MODE:-normal}\n"
  "steps=${FAKE_STEPS:-6}\n"
  "delay=${FAKE_DELAY:-0.01}\n"
  "[ \"$1\" = train ] || exit 2\n"
  "shift\n"
  "if [ \"$mode\" = usage ]; then echo 'tailor-cli: unknown command “train”' >&2; exit 2; fi\n"
  "if [ \"$1\" = --resume ]; then dir=$2; start=$(cat \"$dir/fake-ckpt\"); resumed=true\n"
  "else dir=$(dirname \"$1\"); start=0; resumed=false; fi\n"
  "stop=0\n"
  "trap 'stop=1' TERM\n"
  "echo \"{\\\"event\\\":\\\"start\\\",\\\"run_dir\\\":\\\"$dir\\\",\\\"device\\\":\\\"Fake "
  "CPU\\\",\\\"steps\\\":$steps,\\\"start_step\\\":$start,\\\"resumed\\\":$resumed}\"\n"
  "echo 'a line that is not JSON'\n"
  "step=$start\n"
  "while [ $step -lt $steps ]; do\n"
  "  if [ $stop = 1 ]; then\n"
  "    echo $step > \"$dir/fake-ckpt\"\n"
  "    echo \"{\\\"event\\\":\\\"checkpoint\\\",\\\"step\\\":$step,\\\"path\\\":\\\"$dir/ck-$step\\\"}\"\n"
  "    echo \"{\\\"event\\\":\\\"done\\\",\\\"step\\\":$step,\\\"steps\\\":$steps,"
  "\\\"complete\\\":false,\\\"checkpoint\\\":\\\"$dir/ck-$step\\\"}\"\n"
  "    exit 0\n"
  "  fi\n"
  "  step=$((step + 1))\n"
  "  echo \"{\\\"event\\\":\\\"step\\\",\\\"step\\\":$step,\\\"steps\\\":$steps,"
  "\\\"loss\\\":$((20 - step)).5,\\\"lr\\\":0.0002,\\\"tokens_per_s\\\":1234.5,"
  "\\\"mem_bytes\\\":1048576,\\\"eta_s\\\":$((steps - step))}\"\n"
  "  if [ $((step % 2)) = 0 ]; then\n"
  "    echo \"{\\\"event\\\":\\\"eval\\\",\\\"step\\\":$step,\\\"loss\\\":$((30 - step)).25}\"\n"
  "  fi\n"
  "  if [ $step = 3 ]; then\n"
  "    echo '{\"event\":\"warning\",\"code\":\"chat-template\",\"message\":\"Unknown template\"}'\n"
  "    case $mode in\n"
  "      error) echo '{\"event\":\"error\",\"code\":\"out-of-memory\",\"message\":\"Out of "
  "device memory\",\"step\":3}'; exit 1 ;;\n"
  "      crash) kill -KILL $$ ;;\n"
  "      silent-exit) echo 'something broke' >&2; exit 1 ;;\n"
  "    esac\n"
  "  fi\n"
  "  sleep $delay\n"
  "done\n"
  "echo \"{\\\"event\\\":\\\"done\\\",\\\"step\\\":$step,\\\"steps\\\":$steps,"
  "\\\"complete\\\":true,\\\"adapter\\\":\\\"$dir/adapter.gguf\\\"}\"\n";

typedef struct
{
  char *root;
  char *fake_cli;
  char *run_dir;
} Fixture;

/* What a supervisor told, as it told it. */
typedef struct
{
  GArray *steps;  /* gint64 */
  GArray *losses; /* double */
  GArray *evals;  /* gint64 */
  GPtrArray *warnings;
  guint n_events;
  guint n_started;
  gint64 last_start_step;
  gboolean last_resumed;
  guint n_finished;
  TailorRunState finished_state;
} Record;

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        remove_tree (child);
      }
  g_remove (path);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->root = g_dir_make_tmp ("tailor-supervisor-XXXXXX", &error);
  g_assert_no_error (error);
  f->fake_cli = g_build_filename (f->root, "fake-tailor-cli", NULL);
  g_file_set_contents (f->fake_cli, fake_trainer, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (f->fake_cli, 0755), ==, 0);
  f->run_dir = g_build_filename (f->root, "runs", "1-20261130-101010", NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->run_dir, 0755), ==, 0);
  g_unsetenv ("FAKE_MODE");
  g_unsetenv ("FAKE_STEPS");
  g_unsetenv ("FAKE_DELAY");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  remove_tree (f->root);
  g_free (f->root);
  g_free (f->fake_cli);
  g_free (f->run_dir);
}

static void
on_event (TailorRunSupervisor *s, JsonObject *event, Record *r)
{
  g_assert_nonnull (json_object_get_string_member (event, "event"));
  r->n_events++;
}

static void
on_started (TailorRunSupervisor *s, gint64 start_step, gint64 steps, gboolean resumed, Record *r)
{
  r->n_started++;
  r->last_start_step = start_step;
  r->last_resumed = resumed;
}

static void
on_step (TailorRunSupervisor *s, gint64 step, double loss, Record *r)
{
  g_array_append_val (r->steps, step);
  g_array_append_val (r->losses, loss);
}

static void
on_eval (TailorRunSupervisor *s, gint64 step, double loss, Record *r)
{
  g_array_append_val (r->evals, step);
}

static void
on_warning (TailorRunSupervisor *s, const char *code, const char *message, Record *r)
{
  g_ptr_array_add (r->warnings, g_strdup_printf ("%s: %s", code, message));
}

static void
on_finished (TailorRunSupervisor *s, TailorRunState state, Record *r)
{
  r->n_finished++;
  r->finished_state = state;
}

static void
record_init (Record *r, TailorRunSupervisor *s)
{
  memset (r, 0, sizeof *r);
  r->steps = g_array_new (FALSE, FALSE, sizeof (gint64));
  r->losses = g_array_new (FALSE, FALSE, sizeof (double));
  r->evals = g_array_new (FALSE, FALSE, sizeof (gint64));
  r->warnings = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (s, "event", G_CALLBACK (on_event), r);
  g_signal_connect (s, "started", G_CALLBACK (on_started), r);
  g_signal_connect (s, "step", G_CALLBACK (on_step), r);
  g_signal_connect (s, "eval", G_CALLBACK (on_eval), r);
  g_signal_connect (s, "warning", G_CALLBACK (on_warning), r);
  g_signal_connect (s, "finished", G_CALLBACK (on_finished), r);
}

static void
record_clear (Record *r)
{
  g_array_unref (r->steps);
  g_array_unref (r->losses);
  g_array_unref (r->evals);
  g_ptr_array_unref (r->warnings);
}

typedef gboolean (*Condition) (gpointer data);

static gboolean
wait_for (Condition cond, gpointer data)
{
  gint64 end = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;

  while (!cond (data))
    {
      if (g_get_monotonic_time () > end)
        return FALSE;
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  return TRUE;
}

static gboolean
is_final (gpointer data)
{
  return tailor_run_state_is_final (tailor_run_supervisor_get_state (data));
}

/* Or ended early: the test then fails on the state, not on a timeout. */
static gboolean
past_step_2 (gpointer data)
{
  return tailor_run_supervisor_get_step (data) >= 2 || is_final (data);
}

static gboolean
past_step_3 (gpointer data)
{
  return tailor_run_supervisor_get_step (data) >= 3 || is_final (data);
}

static void
wait_final (TailorRunSupervisor *s)
{
  g_assert_true (wait_for (is_final, s));
}

static gint64
step_at (Record *r, guint i)
{
  return g_array_index (r->steps, gint64, i);
}

static void
test_parses_every_event_to_done (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorRunSupervisor) s = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (GError) error = NULL;
  g_autofree char *pid_path = g_build_filename (f->run_dir, TAILOR_RUN_PID_FILE, NULL);
  g_autofree char *progress = NULL;
  Record r;

  record_init (&r, s);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_IDLE);
  g_assert_true (tailor_run_supervisor_start (s, f->run_dir, &error));
  g_assert_no_error (error);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_RUNNING);
  g_assert_cmpint (tailor_run_supervisor_get_pid (s), >, 0);
  g_assert_true (g_file_test (pid_path, G_FILE_TEST_EXISTS));
  wait_final (s);

  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_DONE);
  g_assert_cmpuint (r.n_finished, ==, 1);
  g_assert_cmpint (r.finished_state, ==, TAILOR_RUN_STATE_DONE);
  g_assert_cmpuint (r.n_started, ==, 1);
  g_assert_false (r.last_resumed);
  /* start, 6 steps, 3 evals, a warning, done; the line that is not JSON is skipped */
  g_assert_cmpuint (r.n_events, ==, 12);
  g_assert_cmpuint (r.steps->len, ==, 6);
  for (guint i = 0; i < 6; i++)
    {
      g_assert_cmpint (step_at (&r, i), ==, i + 1);
      g_assert_cmpfloat (g_array_index (r.losses, double, i), ==, 20 - (double) (i + 1) + 0.5);
    }
  g_assert_cmpuint (r.evals->len, ==, 3);
  g_assert_cmpint (g_array_index (r.evals, gint64, 2), ==, 6);
  g_assert_cmpuint (r.warnings->len, ==, 1);
  g_assert_cmpstr (r.warnings->pdata[0], ==, "chat-template: Unknown template");
  g_assert_cmpint (tailor_run_supervisor_get_step (s), ==, 6);
  g_assert_cmpint (tailor_run_supervisor_get_steps (s), ==, 6);
  g_assert_cmpfloat (tailor_run_supervisor_get_loss (s), ==, 14.5);
  g_assert_cmpfloat (tailor_run_supervisor_get_eval_loss (s), ==, 24.25);
  g_assert_cmpfloat (tailor_run_supervisor_get_tokens_per_second (s), ==, 1234.5);
  g_assert_cmpfloat (tailor_run_supervisor_get_eta_seconds (s), ==, 0);
  g_assert_cmpuint (tailor_run_supervisor_get_memory_bytes (s), ==, 1048576);
  g_assert_cmpstr (tailor_run_supervisor_get_device (s), ==, "Fake CPU");
  g_assert_null (tailor_run_supervisor_get_error_message (s));
  /* The child's stdout is kept in the run folder, and the finished child's pid file is gone. */
  g_assert_false (g_file_test (pid_path, G_FILE_TEST_EXISTS));
  g_assert_cmpint (tailor_run_supervisor_get_pid (s), ==, 0);
  progress = g_build_filename (f->run_dir, TAILOR_RUN_PROGRESS_FILE, NULL);
  g_assert_true (g_file_test (progress, G_FILE_TEST_IS_REGULAR));
  record_clear (&r);
}

static void
test_error_event_fails_with_its_message (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorRunSupervisor) s = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (GError) error = NULL;
  Record r;

  record_init (&r, s);
  g_setenv ("FAKE_MODE", "error", TRUE);
  g_assert_true (tailor_run_supervisor_start (s, f->run_dir, &error));
  g_assert_no_error (error);
  wait_final (s);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_FAILED);
  g_assert_cmpstr (tailor_run_supervisor_get_error_code (s), ==, "out-of-memory");
  g_assert_cmpstr (tailor_run_supervisor_get_error_message (s), ==, "Out of device memory");
  g_assert_cmpuint (r.steps->len, ==, 3);
  record_clear (&r);
}

static void
test_killed_child_is_a_crash (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorRunSupervisor) s = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (GError) error = NULL;

  g_setenv ("FAKE_MODE", "crash", TRUE);
  g_assert_true (tailor_run_supervisor_start (s, f->run_dir, &error));
  g_assert_no_error (error);
  wait_final (s);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_FAILED);
  g_assert_cmpstr (tailor_run_supervisor_get_error_code (s), ==, "crashed");
  g_assert_nonnull (strstr (tailor_run_supervisor_get_error_message (s), "signal 9"));
  g_assert_cmpint (tailor_run_supervisor_get_step (s), ==, 3);
}

static void
test_exit_without_event_reports_stderr (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorRunSupervisor) s = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (GError) error = NULL;

  /* A trainer too old to know the command: exit 2 and a message on stderr, nothing else. */
  g_setenv ("FAKE_MODE", "usage", TRUE);
  g_assert_true (tailor_run_supervisor_start (s, f->run_dir, &error));
  g_assert_no_error (error);
  wait_final (s);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_FAILED);
  g_assert_cmpstr (tailor_run_supervisor_get_error_code (s), ==, "exit");
  g_assert_cmpstr (tailor_run_supervisor_get_error_message (s), ==,
                   "The training process stopped with exit status 2: tailor-cli: unknown "
                   "command “train”");

  /* The next segment's stderr is its own: an earlier message is not repeated. */
  g_setenv ("FAKE_MODE", "silent-exit", TRUE);
  g_assert_true (tailor_run_supervisor_start (s, f->run_dir, &error));
  g_assert_no_error (error);
  wait_final (s);
  g_assert_cmpstr (tailor_run_supervisor_get_error_message (s), ==,
                   "The training process stopped with exit status 1: something broke");
}

/* A trainer that dies at once can be reaped before the supervisor asks for its pid (GLib reaps
 * children on its worker thread): that is a failed run with the exit status, never a crash.
 * Many starts make the race likely; each must end the same way. */
static void
test_instant_exit_is_a_failed_run (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorRunSupervisor) s = tailor_run_supervisor_new ("/bin/false");

  for (guint i = 0; i < 60; i++)
    {
      g_autoptr (GError) error = NULL;

      g_assert_true (tailor_run_supervisor_start (s, f->run_dir, &error));
      g_assert_no_error (error);
      wait_final (s);
      g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_FAILED);
      g_assert_cmpstr (tailor_run_supervisor_get_error_code (s), ==, "exit");
      g_assert_nonnull (strstr (tailor_run_supervisor_get_error_message (s), "exit status 1"));
    }
}

/* What the user reads is translated: with the German catalogue the build compiles, a trainer
 * that stops with a usage error is explained in German (its own words stay as it wrote them). */
static void
test_error_message_is_translated (Fixture *f, gconstpointer data)
{
  const char *builddir = g_getenv ("G_TEST_BUILDDIR");
  g_autofree char *locale_dir = g_build_filename (builddir != NULL ? builddir : ".", "..", "po",
                                                  NULL);
  g_autofree char *mo = g_build_filename (locale_dir, "de", "LC_MESSAGES", GETTEXT_PACKAGE ".mo",
                                          NULL);
  g_autoptr (TailorRunSupervisor) s = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (GError) error = NULL;

  if (!g_file_test (mo, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("the German catalogue is not built");
      return;
    }
  /* LANGUAGE is ignored in the plain C locale. */
  if (setlocale (LC_ALL, "C.UTF-8") == NULL)
    {
      g_test_skip ("the C.UTF-8 locale is missing");
      return;
    }
  g_setenv ("LANGUAGE", "de", TRUE);
  bindtextdomain (GETTEXT_PACKAGE, locale_dir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  g_setenv ("FAKE_MODE", "usage", TRUE);
  g_assert_true (tailor_run_supervisor_start (s, f->run_dir, &error));
  g_assert_no_error (error);
  wait_final (s);
  g_unsetenv ("LANGUAGE");
  setlocale (LC_ALL, "C");
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_FAILED);
  g_assert_cmpstr (tailor_run_supervisor_get_error_message (s), ==,
                   "Der Trainingsprozess endete mit dem Status 2: tailor-cli: unknown command "
                   "“train”");
}

static void
test_pause_checkpoints_and_resume_continues (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorRunSupervisor) s = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (GError) error = NULL;
  gint64 paused_at;
  Record r;

  record_init (&r, s);
  g_setenv ("FAKE_STEPS", "40", TRUE);
  g_setenv ("FAKE_DELAY", "0.05", TRUE);
  g_assert_true (tailor_run_supervisor_start (s, f->run_dir, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (past_step_2, s));
  tailor_run_supervisor_pause (s);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_STOPPING);
  wait_final (s);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_PAUSED);
  paused_at = tailor_run_supervisor_get_step (s);
  g_assert_cmpint (paused_at, >=, 2);
  g_assert_cmpint (paused_at, <, 40);
  g_assert_nonnull (strstr (tailor_run_supervisor_get_checkpoint (s), "ck-"));
  g_assert_cmpuint (r.n_finished, ==, 1);

  /* Resume starts where the checkpoint is and runs to the end. */
  g_setenv ("FAKE_DELAY", "0.001", TRUE);
  g_assert_true (tailor_run_supervisor_resume (s, f->run_dir, &error));
  g_assert_no_error (error);
  wait_final (s);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_DONE);
  g_assert_cmpuint (r.n_started, ==, 2);
  g_assert_true (r.last_resumed);
  g_assert_cmpint (r.last_start_step, ==, paused_at);
  g_assert_cmpuint (r.steps->len, ==, 40);
  for (guint i = 0; i < r.steps->len; i++)
    g_assert_cmpint (step_at (&r, i), ==, i + 1);
  record_clear (&r);
}

static void
test_cancel_running_and_paused (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorRunSupervisor) s = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (GError) error = NULL;
  Record r;

  record_init (&r, s);
  g_setenv ("FAKE_STEPS", "40", TRUE);
  g_setenv ("FAKE_DELAY", "0.05", TRUE);
  g_assert_true (tailor_run_supervisor_start (s, f->run_dir, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (past_step_2, s));
  tailor_run_supervisor_cancel (s);
  wait_final (s);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_CANCELLED);
  g_assert_cmpint (tailor_run_supervisor_get_step (s), <, 40);

  /* A paused run is cancelled at once: there is no child to stop. */
  g_assert_true (tailor_run_supervisor_resume (s, f->run_dir, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (past_step_3, s));
  tailor_run_supervisor_pause (s);
  wait_final (s);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_PAUSED);
  tailor_run_supervisor_cancel (s);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_CANCELLED);
  g_assert_cmpint (r.finished_state, ==, TAILOR_RUN_STATE_CANCELLED);
  g_assert_cmpuint (r.n_finished, ==, 3);
  record_clear (&r);
}

static gboolean
has_steps (gpointer data)
{
  return ((Record *) data)->steps->len > 0;
}

/* The app closed mid-run: the child keeps training, and a new supervisor finds it from the
 * folder alone, replays what it missed and follows it to the end. */
static void
test_child_survives_and_reattaches (Fixture *f, gconstpointer data)
{
  TailorRunSupervisor *first = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (TailorRunSupervisor) second = NULL;
  g_autoptr (GError) error = NULL;
  GPid pid;
  Record r;

  g_setenv ("FAKE_STEPS", "30", TRUE);
  g_setenv ("FAKE_DELAY", "0.05", TRUE);
  g_assert_true (tailor_run_supervisor_start (first, f->run_dir, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (past_step_3, first));
  pid = tailor_run_supervisor_get_pid (first);
  g_object_unref (first);
  g_assert_true (tailor_run_dir_child_alive (f->run_dir));
  g_assert_cmpint (kill (pid, 0), ==, 0);

  second = tailor_run_supervisor_new (f->fake_cli);
  record_init (&r, second);
  g_assert_true (tailor_run_supervisor_attach (second, f->run_dir, &error));
  g_assert_no_error (error);
  /* What happened before is replayed at once. */
  g_assert_cmpuint (r.steps->len, >=, 3);
  g_assert_cmpuint (r.n_started, ==, 1);
  g_assert_cmpint (tailor_run_supervisor_get_state (second), ==, TAILOR_RUN_STATE_RUNNING);
  g_assert_cmpint (tailor_run_supervisor_get_pid (second), ==, pid);
  wait_final (second);
  g_assert_cmpint (tailor_run_supervisor_get_state (second), ==, TAILOR_RUN_STATE_DONE);
  g_assert_cmpuint (r.steps->len, ==, 30);
  for (guint i = 0; i < r.steps->len; i++)
    g_assert_cmpint (step_at (&r, i), ==, i + 1);
  g_assert_false (tailor_run_dir_child_alive (f->run_dir));
  record_clear (&r);
}

/* A re-attached run can be paused too: the signal goes to the pid in the folder. */
static void
test_reattached_run_pauses (Fixture *f, gconstpointer data)
{
  TailorRunSupervisor *first = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (TailorRunSupervisor) second = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (GError) error = NULL;
  Record r;

  g_setenv ("FAKE_STEPS", "60", TRUE);
  g_setenv ("FAKE_DELAY", "0.05", TRUE);
  g_assert_true (tailor_run_supervisor_start (first, f->run_dir, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (past_step_2, first));
  g_object_unref (first);

  record_init (&r, second);
  g_assert_true (tailor_run_supervisor_attach (second, f->run_dir, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (has_steps, &r));
  tailor_run_supervisor_pause (second);
  wait_final (second);
  g_assert_cmpint (tailor_run_supervisor_get_state (second), ==, TAILOR_RUN_STATE_PAUSED);
  g_assert_cmpint (tailor_run_supervisor_get_step (second), <, 60);
  record_clear (&r);

  /* Attaching to the paused folder later ends paused at once, without a child. */
  g_clear_object (&second);
  second = tailor_run_supervisor_new (f->fake_cli);
  g_assert_true (tailor_run_supervisor_attach (second, f->run_dir, &error));
  g_assert_no_error (error);
  g_assert_cmpint (tailor_run_supervisor_get_state (second), ==, TAILOR_RUN_STATE_PAUSED);
}

/* A folder whose child died without a last word (the machine went down, or it was killed while
 * the app was closed) is a failure, whatever the pid file says. */
static void
test_attach_to_dead_run_fails (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorRunSupervisor) s = tailor_run_supervisor_new (f->fake_cli);
  g_autoptr (GError) error = NULL;
  g_autofree char *progress = g_build_filename (f->run_dir, TAILOR_RUN_PROGRESS_FILE, NULL);
  g_autofree char *pid_path = g_build_filename (f->run_dir, TAILOR_RUN_PID_FILE, NULL);
  g_autofree char *own_pid = g_strdup_printf ("%d\n", (int) getpid ());
  g_autofree char *elsewhere = g_build_filename (f->root, "elsewhere", NULL);

  /* Nothing to follow in a folder that never ran. */
  g_assert_false (tailor_run_supervisor_attach (s, elsewhere, &error));
  g_assert_error (error, TAILOR_RUN_SUPERVISOR_ERROR, TAILOR_RUN_SUPERVISOR_ERROR_NOT_RUN);
  g_clear_error (&error);

  g_file_set_contents (progress,
                       "{\"event\":\"start\",\"steps\":10,\"start_step\":0}\n"
                       "{\"event\":\"step\",\"step\":1,\"steps\":10,\"loss\":3.5}\n"
                       "{\"event\":\"step\",\"step\":2,\"steps\":10,\"loss\":3.",
                       -1, &error);
  g_assert_no_error (error);
  /* The pid is alive, but it is this test, not the trainer of the folder: a recycled pid. */
  g_file_set_contents (pid_path, own_pid, -1, &error);
  g_assert_no_error (error);
  g_assert_false (tailor_run_dir_child_alive (f->run_dir));

  g_assert_true (tailor_run_supervisor_attach (s, f->run_dir, &error));
  g_assert_no_error (error);
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_FAILED);
  g_assert_cmpstr (tailor_run_supervisor_get_error_code (s), ==, "vanished");
  g_assert_cmpint (tailor_run_supervisor_get_step (s), ==, 1);
  g_assert_cmpint (tailor_run_supervisor_get_steps (s), ==, 10);
}

static void
test_missing_cli_is_an_error (Fixture *f, gconstpointer data)
{
  g_autofree char *missing = g_build_filename (f->root, "no-such-cli", NULL);
  g_autoptr (TailorRunSupervisor) s = tailor_run_supervisor_new (missing);
  g_autoptr (GError) error = NULL;

  g_assert_false (tailor_run_supervisor_start (s, f->run_dir, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "no-such-cli"));
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_IDLE);
}

static void
test_find_cli_prefers_environment (Fixture *f, gconstpointer data)
{
  g_autofree char *saved = g_strdup (g_getenv ("TAILOR_CLI"));
  g_autofree char *found = NULL;

  g_setenv ("TAILOR_CLI", f->fake_cli, TRUE);
  found = tailor_run_supervisor_find_cli ();
  g_assert_cmpstr (found, ==, f->fake_cli);
  if (saved != NULL)
    g_setenv ("TAILOR_CLI", saved, TRUE);
  else
    g_unsetenv ("TAILOR_CLI");
}

/* ---- Preparing a run folder from a catalogue version ---- */

static TailorExample *
chat (const char *question, const char *answer)
{
  TailorExample *e = tailor_example_new_chat ();

  tailor_example_add_message (e, "user", question);
  tailor_example_add_message (e, "assistant", answer);
  return e;
}

static TailorDatasetVersion *
make_version (TailorCatalogue *catalogue, gint64 project_id, guint n_train, guint n_eval)
{
  g_autoptr (GPtrArray) train = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);
  g_autoptr (GPtrArray) eval = g_ptr_array_new_with_free_func ((GDestroyNotify) tailor_example_free);
  g_autoptr (GError) error = NULL;
  TailorVersionRequest request = { 0 };
  TailorDatasetVersion *version;

  for (guint i = 0; i < n_train + n_eval; i++)
    {
      g_autofree char *q = g_strdup_printf ("Question %u about shipping?", i);
      g_autofree char *a = g_strdup_printf ("Answer %u: we ship to every country.", i);
      TailorExample *e = chat (q, a);

      if (i == 0)
        tailor_example_add_tag (e, "counter-example");
      g_ptr_array_add (i < n_train ? train : eval, e);
    }
  request.changelog = "test";
  version =
    tailor_catalogue_write_version (catalogue, project_id, &request, train, eval, NULL, &error);
  g_assert_no_error (error);
  return version;
}

static guint
count_lines (const char *path)
{
  g_autofree char *text = NULL;
  guint n = 0;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  for (const char *p = text; *p != '\0'; p++)
    n += *p == '\n';
  return n;
}

static void
test_prepare_writes_run_folder_and_records_run (Fixture *f, gconstpointer data)
{
  g_autofree char *catalogue_dir = g_build_filename (f->root, "data", NULL);
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (TailorDatasetVersion) no_eval = NULL;
  g_autoptr (JsonObject) settings = json_object_new ();
  g_autoptr (JsonObject) lora = json_object_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) runs = NULL;
  g_autoptr (TailorRunConfig) config = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *second = NULL;
  g_autofree char *run_json = NULL;
  g_autofree char *train_path = NULL;
  g_autofree char *train_text = NULL;
  g_autofree char *eval_path = NULL;
  g_autofree char *runs_dir = NULL;
  g_autoptr (GDir) listing = NULL;
  TailorRun *run;
  gint64 run_id = 0;

  catalogue = tailor_catalogue_open (catalogue_dir, 0, &error);
  g_assert_no_error (error);
  project = tailor_catalogue_create_project (catalogue, "Support", "tone", &error);
  g_assert_no_error (error);
  version = make_version (catalogue, project->id, 5, 2);

  json_object_set_string_member (settings, "base_model", "/models/tiny.gguf");
  json_object_set_string_member (settings, "method", "qlora");
  json_object_set_int_member (lora, "rank", 8);
  json_object_set_object_member (settings, "lora", g_steal_pointer (&lora));
  json_object_set_int_member (settings, "max_steps", 12);
  dir = tailor_run_prepare (catalogue_dir, project->id, version->id, settings, &run_id, &error);
  g_assert_no_error (error);
  g_assert_nonnull (dir);
  g_assert_true (g_str_has_prefix (dir, catalogue_dir));
  g_assert_cmpint (run_id, >, 0);

  /* The data in chat form without Tailor's tags, and run.json as the trainer reads it. */
  train_path = g_build_filename (dir, "train.jsonl", NULL);
  eval_path = g_build_filename (dir, "eval.jsonl", NULL);
  g_assert_cmpuint (count_lines (train_path), ==, 5);
  g_assert_cmpuint (count_lines (eval_path), ==, 2);
  g_file_get_contents (train_path, &train_text, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (strstr (train_text, "counter-example"));
  g_assert_nonnull (strstr (train_text, "\"role\":\"assistant\""));
  run_json = g_build_filename (dir, TAILOR_RUN_JSON_FILE, NULL);
  config = tailor_run_config_load (run_json, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (config->train, ==, train_path);
  g_assert_cmpstr (config->eval, ==, eval_path);
  g_assert_cmpstr (config->output_dir, ==, dir);
  g_assert_cmpstr (config->dataset_version, ==, version->id);
  g_assert_cmpint (config->lora_rank, ==, 8);
  g_assert_cmpint (config->max_steps, ==, 12);

  /* Recorded as running, with run.json's text, in the catalogue. */
  runs = tailor_catalogue_list_runs (catalogue, project->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (runs->len, ==, 1);
  run = runs->pdata[0];
  g_assert_cmpint (run->id, ==, run_id);
  g_assert_cmpstr (run->status, ==, "running");
  g_assert_cmpstr (run->output_dir, ==, dir);
  g_assert_cmpstr (run->dataset_version, ==, version->id);
  g_assert_nonnull (strstr (run->run_json, "\"max_steps\""));

  /* A second run in the same second gets its own folder; no held-out set, no eval key. */
  no_eval = make_version (catalogue, project->id, 3, 0);
  second = tailor_run_prepare (catalogue_dir, project->id, no_eval->id, settings, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (second, !=, dir);
  g_clear_pointer (&config, tailor_run_config_free);
  g_free (run_json);
  run_json = g_build_filename (second, TAILOR_RUN_JSON_FILE, NULL);
  config = tailor_run_config_load (run_json, &error);
  g_assert_no_error (error);
  g_assert_null (config->eval);

  /* A setting run.json does not have is refused naming it, and leaves no folder behind. */
  json_object_set_int_member (settings, "learning_speed", 3);
  g_assert_null (
    tailor_run_prepare (catalogue_dir, project->id, version->id, settings, NULL, &error));
  g_assert_error (error, TAILOR_RUN_CONFIG_ERROR, TAILOR_RUN_CONFIG_ERROR_UNKNOWN_KEY);
  g_assert_nonnull (strstr (error->message, "learning_speed"));
  g_clear_error (&error);
  runs_dir = g_build_filename (catalogue_dir, "runs", NULL);
  listing = g_dir_open (runs_dir, 0, &error);
  g_assert_no_error (error);
  {
    guint n = 0;

    while (g_dir_read_name (listing) != NULL)
      n++;
    g_assert_cmpuint (n, ==, 2);
  }
  g_clear_pointer (&runs, g_ptr_array_unref);
  runs = tailor_catalogue_list_runs (catalogue, project->id, &error);
  g_assert_cmpuint (runs->len, ==, 2);
}

/* ---- The real trainer ---- */

static gboolean
real_trainer_available (const char *cli)
{
  g_autoptr (GSubprocess) p = NULL;

  if (cli == NULL || !g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    return FALSE;
  p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                        NULL, cli, "train", "--help", NULL);
  return p != NULL && g_subprocess_wait_check (p, NULL, NULL);
}

static void
run_cli (const char *cli, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;

  g_ptr_array_add (argv, (gpointer) cli);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  /* The child's stdout would land in the TAP stream; it goes out as a test message. */
  p = g_subprocess_newv ((const char *const *) argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("tailor-cli %s: %s", args[0], g_strchomp (out));
  g_assert_true (g_subprocess_get_if_exited (p));
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 0);
}

static void
test_real_trainer_runs_pauses_and_resumes (Fixture *f, gconstpointer data)
{
  const char *cli = g_getenv ("TAILOR_CLI");
  g_autofree char *model = g_build_filename (f->root, "tiny.gguf", NULL);
  g_autofree char *catalogue_dir = g_build_filename (f->root, "data", NULL);
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (JsonObject) settings = json_object_new ();
  g_autoptr (JsonObject) lora = json_object_new ();
  g_autoptr (TailorRunSupervisor) s = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *adapter = NULL;
  const char *make_args[] = { "make-test-model", "--arch", "llama", "--type", "q8_0",
                              "--vocab-size", "300", "--embd", "32", "--layers", "1",
                              "--heads", "2", "--ff", "64", "--ctx", "512", model, NULL };
  Record r;

  if (!real_trainer_available (cli))
    {
      g_test_skip ("tailor-cli train is not built yet");
      return;
    }
  run_cli (cli, make_args);
  catalogue = tailor_catalogue_open (catalogue_dir, 0, &error);
  g_assert_no_error (error);
  project = tailor_catalogue_create_project (catalogue, "Tiny", "tone", &error);
  g_assert_no_error (error);
  version = make_version (catalogue, project->id, 8, 2);
  json_object_set_string_member (settings, "base_model", model);
  json_object_set_int_member (lora, "rank", 2);
  json_object_set_int_member (lora, "alpha", 4);
  json_object_set_object_member (settings, "lora", g_steal_pointer (&lora));
  json_object_set_int_member (settings, "seq_len", 256);
  json_object_set_int_member (settings, "batch", 1);
  json_object_set_int_member (settings, "max_steps", 200);
  json_object_set_int_member (settings, "eval_every", 50);
  json_object_set_int_member (settings, "checkpoint_every", 50);
  json_object_set_string_member (settings, "device", "cpu");
  dir = tailor_run_prepare (catalogue_dir, project->id, version->id, settings, NULL, &error);
  g_assert_no_error (error);

  s = tailor_run_supervisor_new (cli);
  record_init (&r, s);
  g_assert_true (tailor_run_supervisor_start (s, dir, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (past_step_2, s));
  tailor_run_supervisor_pause (s);
  wait_final (s);
  if (tailor_run_supervisor_get_state (s) == TAILOR_RUN_STATE_FAILED)
    g_error ("the trainer failed: %s", tailor_run_supervisor_get_error_message (s));
  /* A fast trainer may finish before SIGTERM lands: then there is nothing to resume. */
  if (tailor_run_supervisor_get_state (s) == TAILOR_RUN_STATE_PAUSED)
    {
      g_test_message ("paused at step %" G_GINT64_FORMAT, tailor_run_supervisor_get_step (s));
      g_assert_nonnull (tailor_run_supervisor_get_checkpoint (s));
      g_assert_true (tailor_run_supervisor_resume (s, dir, &error));
      g_assert_no_error (error);
      wait_final (s);
      g_assert_true (r.last_resumed);
    }
  if (tailor_run_supervisor_get_state (s) == TAILOR_RUN_STATE_FAILED)
    g_error ("the resumed trainer failed: %s", tailor_run_supervisor_get_error_message (s));
  g_assert_cmpint (tailor_run_supervisor_get_state (s), ==, TAILOR_RUN_STATE_DONE);
  g_assert_cmpint (tailor_run_supervisor_get_step (s), ==, 200);
  g_assert_cmpint (tailor_run_supervisor_get_steps (s), ==, 200);
  g_assert_cmpuint (r.steps->len, >=, 200);
  g_assert_cmpint (step_at (&r, r.steps->len - 1), ==, 200);
  g_assert_cmpuint (r.evals->len, >=, 4);
  g_assert_true (isfinite (tailor_run_supervisor_get_eval_loss (s)));
  g_assert_nonnull (tailor_run_supervisor_get_device (s));
  adapter = g_build_filename (dir, "adapter.gguf", NULL);
  g_assert_true (g_file_test (adapter, G_FILE_TEST_IS_REGULAR));
  record_clear (&r);
}

/* What `tailor-cli devices --json` prints on a machine with a graphics card, a device the engine
 * cannot use, lavapipe and the CPU backend. */
static const char devices_json[] =
  "[{\"backend\":\"vulkan\",\"index\":0,\"name\":\"AMD Radeon RX 7600\",\"type\":\"discrete\","
  "\"selected\":true,\"usable\":true,\"heaps\":[{\"size\":8589934592,\"device_local\":true},"
  "{\"size\":33554432000,\"device_local\":false}]},"
  "{\"backend\":\"vulkan\",\"index\":1,\"name\":\"Old GPU\",\"type\":\"integrated\","
  "\"selected\":false,\"usable\":false,\"unusable_reason\":\"Vulkan 1.1\"},"
  "{\"backend\":\"vulkan\",\"index\":2,\"name\":\"llvmpipe (LLVM 15.0.6, 256 bits)\","
  "\"type\":\"cpu\",\"selected\":false,\"usable\":true,\"heaps\":[]},"
  "{\"backend\":\"cpu\",\"name\":\"Intel(R) Xeon(R) Processor\",\"cores\":2,\"threads\":2,"
  "\"auto\":false}]";

static const char *
choice_id (GPtrArray *choices, guint i)
{
  return ((const TailorDeviceChoice *) g_ptr_array_index (choices, i))->id;
}

static void
test_devices_lists_each_usable_device_by_name (void)
{
  g_autoptr (GPtrArray) choices = NULL;
  g_autoptr (GError) error = NULL;
  const TailorDeviceChoice *c;

  choices = tailor_device_choices_parse (devices_json, -1, &error);
  g_assert_no_error (error);
  /* Automatic first, the usable Vulkan devices by their index, the CPU backend last. */
  g_assert_cmpuint (choices->len, ==, 4);
  g_assert_cmpstr (choice_id (choices, 0), ==, "auto");
  g_assert_cmpstr (choice_id (choices, 1), ==, "vulkan:0");
  g_assert_cmpstr (choice_id (choices, 2), ==, "vulkan:2");
  g_assert_cmpstr (choice_id (choices, 3), ==, "cpu");
  c = tailor_device_choices_find (choices, "auto");
  g_assert_nonnull (strstr (c->subtitle, "Now: AMD Radeon RX 7600"));
  c = tailor_device_choices_find (choices, "vulkan:0");
  g_assert_cmpstr (c->title, ==, "AMD Radeon RX 7600");
  g_assert_cmpstr (c->subtitle, ==, "Graphics card (Vulkan), 8.6\u00a0GB");
  c = tailor_device_choices_find (choices, "vulkan:2");
  g_assert_cmpstr (c->title, ==, "llvmpipe (LLVM 15.0.6, 256 bits)");
  g_assert_true (g_str_has_prefix (c->subtitle, "Vulkan in software on the processor"));
  c = tailor_device_choices_find (choices, "cpu");
  g_assert_cmpstr (c->title, ==, "Processor (CPU)");
  g_assert_cmpstr (c->subtitle, ==, "Intel(R) Xeon(R) Processor, 2 cores");
  g_assert_null (tailor_device_choices_find (choices, "vulkan:1"));
}

static void
test_devices_automatic_names_the_processor_when_it_picks_it (void)
{
  const char *json = "[{\"backend\":\"cpu\",\"name\":\"Some CPU\",\"cores\":8,\"auto\":true}]";
  g_autoptr (GPtrArray) choices = NULL;
  g_autoptr (GError) error = NULL;

  choices = tailor_device_choices_parse (json, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (choices->len, ==, 2);
  g_assert_nonnull (strstr (tailor_device_choices_find (choices, "auto")->subtitle,
                            "Now: Processor (CPU)"));
  g_assert_cmpstr (tailor_device_choices_find (choices, "cpu")->subtitle, ==,
                   "Some CPU, 8 cores");
}

static void
test_devices_refuses_output_that_is_not_a_list (void)
{
  const char *const bad[] = { "", "{\"backend\":\"cpu\"}", "[{\"backend\":", "tailor-cli: oops" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GPtrArray) choices = NULL;
      g_autoptr (GError) error = NULL;

      g_test_message ("output %u: %s", i, bad[i]);
      choices = tailor_device_choices_parse (bad[i], -1, &error);
      g_assert_null (choices);
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, "tailor-cli devices --json"));
    }
}

static void
devices_listed (GObject *object, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static GPtrArray *
list_devices (const char *cli, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  tailor_device_choices_list_async (cli, NULL, devices_listed, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return tailor_device_choices_list_finish (result, error);
}

static void
test_devices_real_cli_lists_automatic_and_the_processor (void)
{
  const char *cli = g_getenv ("TAILOR_CLI");
  g_autoptr (GPtrArray) choices = NULL;
  g_autoptr (GError) error = NULL;

  if (cli == NULL || !g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("tailor-cli is not built yet");
      return;
    }
  choices = list_devices (cli, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (choices->len, >=, 2);
  g_assert_cmpstr (choice_id (choices, 0), ==, "auto");
  g_assert_cmpstr (choice_id (choices, choices->len - 1), ==, "cpu");
  for (guint i = 1; i + 1 < choices->len; i++)
    {
      g_test_message ("%s: %s", choice_id (choices, i),
                      ((const TailorDeviceChoice *) g_ptr_array_index (choices, i))->title);
      g_assert_true (g_str_has_prefix (choice_id (choices, i), "vulkan:"));
    }
}

static void
test_devices_failing_cli_is_an_error (void)
{
  g_autoptr (GPtrArray) choices = NULL;
  g_autoptr (GError) error = NULL;

  choices = list_devices ("/bin/false", &error);
  g_assert_null (choices);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "/bin/false"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/devices/lists-each-usable-device-by-name",
                   test_devices_lists_each_usable_device_by_name);
  g_test_add_func ("/devices/automatic-names-the-processor-when-it-picks-it",
                   test_devices_automatic_names_the_processor_when_it_picks_it);
  g_test_add_func ("/devices/refuses-output-that-is-not-a-list",
                   test_devices_refuses_output_that_is_not_a_list);
  g_test_add_func ("/devices/real-cli-lists-automatic-and-the-processor",
                   test_devices_real_cli_lists_automatic_and_the_processor);
  g_test_add_func ("/devices/failing-cli-is-an-error", test_devices_failing_cli_is_an_error);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/run-supervisor/parses-every-event-to-done", test_parses_every_event_to_done);
  ADD ("/run-supervisor/error-event-fails-with-its-message",
       test_error_event_fails_with_its_message);
  ADD ("/run-supervisor/killed-child-is-a-crash", test_killed_child_is_a_crash);
  ADD ("/run-supervisor/exit-without-event-reports-stderr",
       test_exit_without_event_reports_stderr);
  ADD ("/run-supervisor/pause-checkpoints-and-resume-continues",
       test_pause_checkpoints_and_resume_continues);
  ADD ("/run-supervisor/cancel-running-and-paused", test_cancel_running_and_paused);
  ADD ("/run-supervisor/child-survives-and-reattaches", test_child_survives_and_reattaches);
  ADD ("/run-supervisor/reattached-run-pauses", test_reattached_run_pauses);
  ADD ("/run-supervisor/attach-to-dead-run-fails", test_attach_to_dead_run_fails);
  ADD ("/run-supervisor/missing-cli-is-an-error", test_missing_cli_is_an_error);
  ADD ("/run-supervisor/find-cli-prefers-environment", test_find_cli_prefers_environment);
  ADD ("/run-supervisor/prepare-writes-run-folder-and-records-run",
       test_prepare_writes_run_folder_and_records_run);
  ADD ("/run-supervisor/real-trainer-runs-pauses-and-resumes",
       test_real_trainer_runs_pauses_and_resumes);
  ADD ("/run-supervisor/error-message-is-translated", test_error_message_is_translated);
  ADD ("/run-supervisor/instant-exit-is-a-failed-run", test_instant_exit_is_a_failed_run);
#undef ADD

  return g_test_run ();
}
