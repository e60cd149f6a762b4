/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tailor-cli train: runs run.json in a worker thread, prints progress as JSON lines or a bar,
 * and turns SIGTERM/SIGINT into a checkpoint and a clean exit. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "tailor-cli-private.h"
#include "tailor-cli-train.h"
#include "tailor-infer.h"
#include "tailor-lora.h"
#include "tailor-train.h"

typedef struct
{
  TailorTrainRun *run;
  GCancellable *cancellable;
  GMainLoop *loop;
  GMutex lock;
  gboolean json;
  gboolean tty;      /* stderr is a terminal: the bar is redrawn in place */
  gboolean bar_open; /* a progress bar line is on stderr without its newline */
  gboolean ok;
  GError *error;
} TrainCli;

static void
print_json_line (JsonObject *event)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *line = NULL;

  json_node_set_object (node, event);
  line = json_to_string (node, FALSE);
  fprintf (stdout, "%s\n", line);
  fflush (stdout);
}

static double
member_double (JsonObject *o, const char *key)
{
  JsonNode *node = json_object_get_member (o, key);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_double (node) : NAN;
}

static void
format_duration (char *buf, gsize len, double s)
{
  if (!isfinite (s) || s < 0)
    g_snprintf (buf, len, "--:--");
  else if (s >= 3600)
    g_snprintf (buf, len, "%d:%02d:%02d", (int) s / 3600, ((int) s / 60) % 60, (int) s % 60);
  else
    g_snprintf (buf, len, "%d:%02d", (int) s / 60, (int) s % 60);
}

static void
end_bar (TrainCli *cli)
{
  if (cli->bar_open)
    fputc ('\n', stderr);
  cli->bar_open = FALSE;
}

/* The human view: one bar line rewritten per step, other events on their own lines. */
static void
print_human (TrainCli *cli, JsonObject *o)
{
  const char *event = json_object_get_string_member (o, "event");

  if (g_str_equal (event, "step"))
    {
      gint64 step = json_object_get_int_member (o, "step");
      gint64 steps = MAX (json_object_get_int_member (o, "steps"), 1);
      int width = 30;
      int filled = (int) (width * step / steps);
      char bar[64];
      char eta[32];
      int i;

      for (i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '-';
      bar[width] = '\0';
      format_duration (eta, sizeof eta, member_double (o, "eta_s"));
      fprintf (stderr, "%s[%s] step %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
               "  loss %.4f  lr %.2e  %.0f tok/s  ETA %s %s",
               cli->tty ? "\r" : "", bar, step, steps, member_double (o, "loss"),
               member_double (o, "lr"), member_double (o, "tokens_per_s"), eta,
               cli->tty ? "" : "\n");
      cli->bar_open = cli->tty;
    }
  else if (g_str_equal (event, "start"))
    fprintf (stderr, "Training %s on %s: %" G_GINT64_FORMAT " steps from step %" G_GINT64_FORMAT
             ", %" G_GINT64_FORMAT " examples, %" G_GINT64_FORMAT " trainable parameters\n",
             json_object_get_string_member (o, "method"),
             json_object_get_string_member (o, "device"), json_object_get_int_member (o, "steps"),
             json_object_get_int_member (o, "start_step"),
             json_object_get_int_member (o, "examples"),
             json_object_get_int_member (o, "trainable_params"));
  else if (g_str_equal (event, "eval"))
    {
      end_bar (cli);
      fprintf (stderr, "step %" G_GINT64_FORMAT ": held-out loss %.4f\n",
               json_object_get_int_member (o, "step"), member_double (o, "loss"));
    }
  else if (g_str_equal (event, "warning"))
    {
      end_bar (cli);
      fprintf (stderr, "warning: %s\n", json_object_get_string_member (o, "message"));
    }
  else if (g_str_equal (event, "done"))
    {
      end_bar (cli);
      if (json_object_get_boolean_member (o, "complete"))
        fprintf (stderr, "Done: %s\n",
                 json_object_has_member (o, "adapter")
                   ? json_object_get_string_member (o, "adapter")
                   : json_object_get_string_member (o, "model"));
      else
        fprintf (stderr, "Stopped at step %" G_GINT64_FORMAT "; continue with "
                 "tailor-cli train --resume %s\n",
                 json_object_get_int_member (o, "step"), tailor_train_run_get_dir (cli->run));
    }
  else if (g_str_equal (event, "error"))
    end_bar (cli);
  fflush (stderr);
}

static void
on_event (JsonObject *event, gpointer user_data)
{
  TrainCli *cli = user_data;

  g_mutex_lock (&cli->lock);
  if (cli->json)
    print_json_line (event);
  else
    print_human (cli, event);
  g_mutex_unlock (&cli->lock);
}

static gboolean
on_signal (gpointer user_data)
{
  TrainCli *cli = user_data;

  g_cancellable_cancel (cli->cancellable);
  return G_SOURCE_CONTINUE;
}

static gboolean
quit_loop (gpointer user_data)
{
  TrainCli *cli = user_data;

  g_main_loop_quit (cli->loop);
  return G_SOURCE_REMOVE;
}

static gpointer
worker (gpointer user_data)
{
  TrainCli *cli = user_data;

  cli->ok = tailor_train_run_run (cli->run, cli->cancellable, &cli->error);
  g_idle_add (quit_loop, cli);
  return NULL;
}

/* A failure before the run starts: the error event (with --progress=json) and the message. */
static int
fail_early (gboolean json, const GError *error)
{
  if (json)
    {
      JsonObject *o = json_object_new ();

      json_object_set_string_member (o, "event", "error");
      json_object_set_string_member (o, "code", error->domain == TAILOR_RUN_CONFIG_ERROR
                                                  ? "config"
                                                  : "io");
      json_object_set_string_member (o, "message", error->message);
      print_json_line (o);
      json_object_unref (o);
    }
  return tailor_cli_fail (error);
}

int
tailor_cli_train (int argc, char **argv)
{
  g_autofree char *progress = NULL;
  g_autofree char *resume = NULL;
  g_autofree char *device = NULL;
  const GOptionEntry entries[] = {
    { "progress", 0, 0, G_OPTION_ARG_STRING, &progress,
      "How to show progress: json (one JSON object per line on stdout) or bar (default)",
      "json|bar" },
    { "resume", 0, 0, G_OPTION_ARG_FILENAME, &resume,
      "Continue the run in RUN_DIR from its last checkpoint", "RUN_DIR" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device,
      "Train on this device instead of the one the settings name: auto, cpu, vulkan, "
      "vulkan:N; a resumed run may move between devices (its checkpoints are plain F32)",
      "DEVICE" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = tailor_cli_context_new ("train", entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRunConfig) config = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GMainLoop) loop = NULL;
  TrainCli cli = { 0 };
  GThread *thread;
  guint sigterm;
  guint sigint;
  int status;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (progress != NULL && !g_str_equal (progress, "json") && !g_str_equal (progress, "bar"))
    return tailor_cli_usage_error (context, "--progress must be json or bar, not “%s”", progress);
  if (resume == NULL && argc != 2)
    return tailor_cli_usage_error (context, "give the run settings, RUN.json (or --resume "
                                            "RUN_DIR)");
  if (resume != NULL && argc != 1)
    return tailor_cli_usage_error (context, "--resume RUN_DIR takes no RUN.json");
  cli.json = progress != NULL && g_str_equal (progress, "json");
  cli.tty = isatty (STDERR_FILENO);

  if (resume != NULL && device != NULL)
    cli.run = tailor_train_run_new_resume_on (resume, device, cancellable, &error);
  else if (resume != NULL)
    cli.run = tailor_train_run_new_resume (resume, cancellable, &error);
  else
    {
      config = tailor_run_config_load (argv[1], &error);
      if (config != NULL && device != NULL)
        {
          g_free (config->device);
          config->device = g_strdup (device);
        }
      if (config != NULL)
        cli.run = tailor_train_run_new (config, cancellable, &error);
    }
  if (cli.run == NULL)
    return fail_early (cli.json, error);

  g_mutex_init (&cli.lock);
  cli.cancellable = cancellable;
  loop = g_main_loop_new (NULL, FALSE);
  cli.loop = loop;
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &cli);
  sigint = g_unix_signal_add (SIGINT, on_signal, &cli);
  tailor_train_run_set_event_func (cli.run, on_event, &cli);
  thread = g_thread_new ("train", worker, &cli);
  g_main_loop_run (loop);
  g_thread_join (thread);
  g_source_remove (sigterm);
  g_source_remove (sigint);

  if (cli.ok)
    status = TAILOR_CLI_EXIT_OK;
  else
    {
      status = tailor_cli_fail (cli.error);
      g_clear_error (&cli.error);
    }
  tailor_train_run_free (cli.run);
  g_mutex_clear (&cli.lock);
  return status;
}

gboolean
tailor_cli_adapter_logits (TailorModel *model,
                           const char *adapter_path,
                           const gint32 *ids,
                           guint n,
                           gboolean all,
                           float *logits,
                           GError **error)
{
  g_autoptr (TailorRefAdapter) adapter = NULL;
  g_autofree float *every = NULL;
  gsize n_vocab;

  g_return_val_if_fail (model != NULL && adapter_path != NULL && ids != NULL, FALSE);
  g_return_val_if_fail (n > 0 && logits != NULL, FALSE);

  adapter = tailor_lora_read_gguf (adapter_path, model, error);
  if (adapter == NULL)
    return FALSE;
  if (all)
    return tailor_ref_adapter_logits (model, adapter, ids, (int) n, logits, error);
  n_vocab = model->hp.n_vocab;
  every = g_new (float, (gsize) n * n_vocab);
  if (!tailor_ref_adapter_logits (model, adapter, ids, (int) n, every, error))
    return FALSE;
  memcpy (logits, every + (gsize) (n - 1) * n_vocab, sizeof (float) * n_vocab);
  return TRUE;
}

void
tailor_cli_print_profile (FILE *out, GHashTable *profile, double wall_ms)
{
  g_autoptr (GPtrArray) sorted = NULL;
  double sum = 0.0;

  g_return_if_fail (out != NULL && profile != NULL);

  sorted = tailor_op_profile_sorted (profile);
  for (guint i = 0; i < sorted->len; i++)
    sum += ((TailorOpProfile *) g_ptr_array_index (sorted, i))->ms;
  fprintf (out, "# profile: %.1f ms in kernels, %.1f ms wall (%.0f%% in kernels)\n", sum, wall_ms,
           wall_ms > 0.0 ? 100.0 * sum / wall_ms : 0.0);
  fprintf (out, "%-26s %10s %7s %5s %10s\n", "op", "ms", "share", "ops", "GFLOP/s");
  for (guint i = 0; i < sorted->len; i++)
    {
      const TailorOpProfile *e = g_ptr_array_index (sorted, i);
      g_autofree char *ops = e->n_ops > 0 ? g_strdup_printf ("%u", e->n_ops) : g_strdup ("-");
      g_autofree char *rate = e->flops > 0.0 && e->ms > 0.0
                                ? g_strdup_printf ("%.2f", e->flops / e->ms / 1e6)
                                : g_strdup ("-");

      fprintf (out, "%-26s %10.2f %6.1f%% %5s %10s\n", e->kind, e->ms,
               wall_ms > 0.0 ? 100.0 * e->ms / wall_ms : 0.0, ops, rate);
    }
}
