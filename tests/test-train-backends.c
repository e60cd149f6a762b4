/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Runs across backends: the same steps on the CPU backend and on Vulkan give the same losses,
 * and a run stopped on one backend and resumed on the other from its checkpoint ends with
 * the adapter of a run that never moved. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-backend.h"
#include "tailor-test-model.h"
#include "tailor-train.h"

#define N_STEPS 6
#define STOP_AT 3

/* Per-step losses of the two backends: each op agrees with the CPU reference to ~1e-5 of
 * its scale (test-train) and here the losses differ by ~3e-6 of themselves; 1e-4 leaves a
 * 30× margin, while one step of training changes the loss by ~1e-2 of itself, so a step
 * lost or repeated across the move fails. */
#define LOSS_RTOL 1e-4
/* Adapter tensors of a moved run against an unmoved one, relative to each tensor's largest
 * value: measured ~1e-4 between backends (1e-5 against the run it left). One AdamW step
 * moves lora_b by ~lr = 2e-3 against a largest value of ~1e-2 after 6 steps (~0.2 of the
 * scale), so a resume that lost the moments, the step count or the data cursor is far
 * outside 2e-3, 20× above the fp32 differences. */
#define STATE_RTOL 2e-3

static char *work_dir;  /* shared by every test: the model, data and the finished runs */
static char *model_path;

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static gboolean
have_vulkan (void)
{
  static int have = -1;

  if (have < 0)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (TailorBackend) backend = tailor_backend_new ("vulkan", &error);

      have = backend != NULL;
      if (!have)
        g_test_message ("no Vulkan device: %s", error->message);
    }
  return have;
}

static const char *const fillers[] = { "please", "quickly", "now", "today", "friend", "here" };
static const char *const keys[] = { "red", "green", "blue", "yellow" };
static const char *const answers[] = {
  "The answer is apple.", "The answer is leaf.", "The answer is sky.", "The answer is sun.",
};

static char *
write_dataset (const char *name, int n, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (work_dir, name, NULL);
  int i;

  for (i = 0; i < n; i++)
    {
      int k = g_rand_int_range (rand, 0, G_N_ELEMENTS (keys));

      g_string_append_printf (text,
                              "{\"messages\":[{\"role\":\"user\",\"content\":\"%s tell me "
                              "about %s %s\"},{\"role\":\"assistant\",\"content\":\"%s\"}]}\n",
                              fillers[g_rand_int_range (rand, 0, G_N_ELEMENTS (fillers))],
                              keys[k],
                              fillers[g_rand_int_range (rand, 0, G_N_ELEMENTS (fillers))],
                              answers[k]);
    }
  g_assert_true (g_file_set_contents (path, text->str, -1, &error));
  g_assert_no_error (error);
  return path;
}

/* run.json of the run named name on device; every run has the same settings otherwise. */
static char *
write_run_json (const char *name, const char *device)
{
  g_autofree char *train = g_build_filename (work_dir, "train.jsonl", NULL);
  g_autofree char *eval = g_build_filename (work_dir, "eval.jsonl", NULL);
  g_autofree char *out = g_build_filename (work_dir, name, NULL);
  g_autofree char *file = g_strconcat (name, ".json", NULL);
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (work_dir, file, NULL);

  json = g_strdup_printf ("{\"base_model\": \"%s\", \"train\": \"%s\", \"eval\": \"%s\", "
                          "\"method\": \"qlora\", \"lora\": {\"rank\": 4, \"alpha\": 8, "
                          "\"dropout\": 0.05}, \"optimizer\": {\"lr\": 0.002, "
                          "\"warmup_steps\": 2, \"schedule\": \"cosine\"}, \"seq_len\": 48, "
                          "\"batch\": 2, \"max_steps\": %d, \"seed\": 5, \"device\": \"%s\", "
                          "\"eval_every\": 100, \"checkpoint_every\": 100, "
                          "\"output_dir\": \"%s\"}",
                          model_path, train, eval, N_STEPS, device, out);
  g_assert_true (g_file_set_contents (path, json, -1, &error));
  g_assert_no_error (error);
  return path;
}

typedef struct
{
  GPtrArray *events;
  int cancel_at;
  GCancellable *cancellable;
} Collect;

static void
collect_event (JsonObject *event, gpointer user_data)
{
  Collect *c = user_data;

  g_ptr_array_add (c->events, json_object_ref (event));
  if (c->cancel_at > 0 && g_str_equal (json_object_get_string_member (event, "event"), "step") &&
      json_object_get_int_member (event, "step") == c->cancel_at)
    g_cancellable_cancel (c->cancellable);
}

/* Runs a new run (resume_on NULL) or resumes the one in dir on resume_on; stops after step
 * cancel_at (0: runs to the end). Returns the events. */
static GPtrArray *
run (const char *json, const char *dir, const char *resume_on, int cancel_at)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRunConfig) config = NULL;
  g_autoptr (TailorTrainRun) r = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Collect c = { g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref), cancel_at,
                cancellable };

  if (resume_on != NULL)
    r = tailor_train_run_new_resume_on (dir, resume_on, NULL, &error);
  else
    {
      config = tailor_run_config_load (json, &error);
      g_assert_no_error (error);
      r = tailor_train_run_new (config, NULL, &error);
    }
  g_assert_no_error (error);
  tailor_train_run_set_event_func (r, collect_event, &c);
  g_assert_true (tailor_train_run_run (r, cancellable, &error));
  g_assert_no_error (error);
  g_assert_true (tailor_train_run_is_complete (r) == (cancel_at == 0));
  return c.events;
}

/* The name of the device the events say the run computed on. */
static const char *
events_device (GPtrArray *events)
{
  guint i;

  for (i = 0; i < events->len; i++)
    if (json_object_has_member (g_ptr_array_index (events, i), "device"))
      return json_object_get_string_member (g_ptr_array_index (events, i), "device");
  g_assert_not_reached ();
  return NULL;
}

/* The loss of every step event, by step number (index 0 unused). */
static void
events_losses (GPtrArray *events, double *losses)
{
  guint i;

  for (i = 0; i < events->len; i++)
    {
      JsonObject *o = g_ptr_array_index (events, i);
      gint64 step;

      if (!g_str_equal (json_object_get_string_member (o, "event"), "step"))
        continue;
      step = json_object_get_int_member (o, "step");
      g_assert_cmpint (step, >=, 1);
      g_assert_cmpint (step, <=, N_STEPS);
      losses[step] = json_object_get_double_member (o, "loss");
    }
}

/* An uninterrupted run on device, made once for all the tests that compare with it; its
 * folder (free it). */
static char *
whole_run (const char *device, double *losses)
{
  static GHashTable *done;
  g_autofree char *name = g_strconcat ("whole-", device, NULL);
  char *dir = g_build_filename (work_dir, name, NULL);
  double *kept;

  if (done == NULL)
    done = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  kept = g_hash_table_lookup (done, dir);
  if (kept == NULL)
    {
      g_autofree char *json = write_run_json (name, device);
      g_autoptr (GPtrArray) events = run (json, NULL, NULL, 0);

      kept = g_new0 (double, N_STEPS + 1);
      events_losses (events, kept);
      g_hash_table_insert (done, dir, kept);
    }
  else
    g_free (dir);
  if (losses != NULL)
    memcpy (losses, kept, sizeof (double) * (N_STEPS + 1));
  return g_build_filename (work_dir, name, NULL);
}

/* Largest difference of two adapter files' tensors, each relative to the tensor's largest
 * magnitude in a; every tensor of a must be in b with the same shape. */
static double
adapter_difference (const char *dir_a, const char *dir_b)
{
  g_autofree char *path_a = g_build_filename (dir_a, "adapter.gguf", NULL);
  g_autofree char *path_b = g_build_filename (dir_b, "adapter.gguf", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) a = tailor_gguf_open (path_a, &error);
  g_autoptr (TailorGguf) b = NULL;
  double worst = 0.0;
  guint n_checked = 0;
  guint i;

  g_assert_no_error (error);
  b = tailor_gguf_open (path_b, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_gguf_get_n_tensors (a), ==, tailor_gguf_get_n_tensors (b));
  for (i = 0; i < tailor_gguf_get_n_tensors (a); i++)
    {
      const TailorGgufTensor *ta = tailor_gguf_get_tensor (a, i);
      const TailorGgufTensor *tb = tailor_gguf_find_tensor (b, ta->name);
      g_autofree float *va = g_new (float, ta->n_elements);
      g_autofree float *vb = NULL;
      double scale = 0.0;
      double diff = 0.0;
      gint64 j;

      g_assert_nonnull (tb);
      g_assert_cmpint (ta->n_elements, ==, tb->n_elements);
      vb = g_new (float, tb->n_elements);
      tailor_dequantize_row (ta->type, ta->data, va, ta->n_elements);
      tailor_dequantize_row (tb->type, tb->data, vb, tb->n_elements);
      for (j = 0; j < ta->n_elements; j++)
        {
          g_assert_true (isfinite (vb[j]));
          scale = MAX (scale, fabs (va[j]));
          diff = MAX (diff, fabs ((double) va[j] - vb[j]));
        }
      /* lora_b starts at zero: after a few steps every one of them must have moved */
      g_assert_cmpfloat (scale, >, 0.0);
      worst = MAX (worst, diff / scale);
      n_checked++;
    }
  g_assert_cmpuint (n_checked, >, 0);
  return worst;
}

static void
test_same_steps_same_losses (void)
{
  double cpu[N_STEPS + 1] = { 0 };
  double vk[N_STEPS + 1] = { 0 };
  g_autofree char *dir_cpu = NULL;
  g_autofree char *dir_vk = NULL;
  double worst = 0.0;
  int s;

  if (!have_vulkan ())
    {
      g_test_skip ("no Vulkan device");
      return;
    }
  dir_cpu = whole_run ("cpu", cpu);
  dir_vk = whole_run ("vulkan", vk);
  for (s = 1; s <= N_STEPS; s++)
    {
      g_assert_true (isfinite (cpu[s]) && cpu[s] > 0.0);
      worst = MAX (worst, fabs (cpu[s] - vk[s]) / cpu[s]);
      if (fabs (cpu[s] - vk[s]) > LOSS_RTOL * cpu[s])
        g_error ("step %d: loss %.6f on the CPU backend, %.6f on Vulkan", s, cpu[s], vk[s]);
    }
  /* the steps trained something, so equal losses are not equal by standing still */
  g_assert_cmpfloat (cpu[N_STEPS], <, cpu[1]);
  g_test_message ("losses %.5f → %.5f; largest relative difference between backends %.2e; "
                  "adapters differ by %.2e of their scale",
                  cpu[1], cpu[N_STEPS], worst, adapter_difference (dir_cpu, dir_vk));
}

/* from: the device the run starts on; to: the one it is resumed on. */
static void
check_resume_across (const char *from, const char *to)
{
  g_autofree char *name = g_strdup_printf ("moved-%s-%s", from, to);
  g_autofree char *json = write_run_json (name, from);
  g_autofree char *dir = g_build_filename (work_dir, name, NULL);
  g_autofree char *whole_from = NULL;
  g_autofree char *whole_to = NULL;
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) second = NULL;
  g_autofree char *first_device = NULL;
  double losses[N_STEPS + 1] = { 0 };
  double moved[N_STEPS + 1] = { 0 };
  double diff_from;
  double diff_to;
  int s;

  if (!have_vulkan ())
    {
      g_test_skip ("no Vulkan device");
      return;
    }
  first = run (json, NULL, NULL, STOP_AT);
  first_device = g_strdup (events_device (first));
  second = run (NULL, dir, to, 0);
  /* it really moved: the resumed part names the other device */
  g_assert_cmpstr (first_device, !=, events_device (second));
  g_assert_true (g_str_has_prefix (g_str_equal (from, "cpu") ? first_device
                                                              : events_device (second),
                                   "cpu"));
  events_losses (first, moved);
  events_losses (second, moved);

  whole_from = whole_run (from, losses);
  for (s = 1; s <= N_STEPS; s++)
    if (fabs (moved[s] - losses[s]) > LOSS_RTOL * losses[s])
      g_error ("step %d: loss %.6f after moving from %s to %s, %.6f without moving", s,
               moved[s], from, to, losses[s]);
  whole_to = whole_run (to, NULL);
  diff_from = adapter_difference (whole_from, dir);
  diff_to = adapter_difference (whole_to, dir);
  g_test_message ("%s → %s at step %d: adapter differs from the unmoved %s run by %.2e and "
                  "from the %s run by %.2e of each tensor's scale",
                  from, to, STOP_AT, from, diff_from, to, diff_to);
  g_assert_cmpfloat (diff_from, <=, STATE_RTOL);
  g_assert_cmpfloat (diff_to, <=, STATE_RTOL);
}

static void
test_resume_cpu_on_vulkan (void)
{
  check_resume_across ("cpu", "vulkan");
}

static void
test_resume_vulkan_on_cpu (void)
{
  check_resume_across ("vulkan", "cpu");
}

/* A run that stops halfway and is resumed on its own backend with the device given
 * explicitly is the plain resume: byte-identical to not stopping (the override itself
 * changes nothing but the device). */
static void
test_resume_on_same_device_is_identical (void)
{
  g_autofree char *json = write_run_json ("same-cpu", "cpu");
  g_autofree char *dir = g_build_filename (work_dir, "same-cpu", NULL);
  g_autofree char *whole = whole_run ("cpu", NULL);
  g_autoptr (GPtrArray) first = run (json, NULL, NULL, STOP_AT);
  g_autoptr (GPtrArray) second = run (NULL, dir, "cpu", 0);
  g_autofree char *path_a = g_build_filename (whole, "adapter.gguf", NULL);
  g_autofree char *path_b = g_build_filename (dir, "adapter.gguf", NULL);
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  gsize len_a = 0;
  gsize len_b = 0;

  g_assert_true (g_file_get_contents (path_a, &a, &len_a, NULL));
  g_assert_true (g_file_get_contents (path_b, &b, &len_b, NULL));
  g_assert_cmpmem (a, len_a, b, len_b);
}

int
main (int argc, char *argv[])
{
  g_autoptr (GError) error = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *train = NULL;
  g_autofree char *eval = NULL;
  TailorTestModelParams p;
  int rc;

  g_test_init (&argc, &argv, NULL);
  work_dir = g_dir_make_tmp ("tailor-train-backends-XXXXXX", &error);
  g_assert_no_error (error);
  /* one pipeline cache for every run here: llvmpipe compiles each kernel once */
  cache = g_build_filename (work_dir, "cache", NULL);
  g_setenv ("TAILOR_CACHE_DIR", cache, TRUE);

  tailor_test_model_params_init (&p, TAILOR_ARCH_LLAMA);
  p.ftype = TAILOR_FTYPE_MOSTLY_Q8_0;
  p.n_vocab = 1000;
  p.weight_std = 0.1f;
  model_path = g_build_filename (work_dir, "model.gguf", NULL);
  g_assert_true (tailor_test_model_write (&p, model_path, &error));
  g_assert_no_error (error);
  train = write_dataset ("train.jsonl", 48, 1);
  eval = write_dataset ("eval.jsonl", 8, 2);

  g_test_add_func ("/train-backends/same-steps-give-same-losses-on-cpu-and-vulkan",
                   test_same_steps_same_losses);
  g_test_add_func ("/train-backends/run-stopped-on-cpu-resumes-on-vulkan",
                   test_resume_cpu_on_vulkan);
  g_test_add_func ("/train-backends/run-stopped-on-vulkan-resumes-on-cpu",
                   test_resume_vulkan_on_cpu);
  g_test_add_func ("/train-backends/resume-on-the-same-device-is-byte-identical",
                   test_resume_on_same_device_is_identical);
  rc = g_test_run ();
  remove_tree (work_dir);
  g_free (work_dir);
  g_free (model_path);
  return rc;
}
