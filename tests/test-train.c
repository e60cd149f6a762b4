/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Training runs on tiny made-up models: the op-interface step against the reference trainer
 * (loss and every gradient), a fresh adapter leaving the model as it was, learning a
 * synthetic task, byte-identical adapters, kill + resume, SIGTERM, the instability guard
 * and the progress protocol. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>

#include "tailor-backend.h"
#include "tailor-infer.h"
#include "tailor-lora.h"
#include "tailor-test-model.h"
#include "tailor-train-ref.h"
#include "tailor-train.h"

#define SEQ_T 16

typedef struct
{
  char *dir;
} Fixture;

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

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("tailor-train-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  remove_tree (f->dir);
  g_free (f->dir);
}

static char *
write_model_vocab (Fixture *f, TailorArch arch, TailorFileType ftype, float weight_std,
                   guint n_vocab)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = g_strdup_printf ("%s-%d.gguf", tailor_arch_name (arch), ftype);
  char *path = g_build_filename (f->dir, name, NULL);
  TailorTestModelParams p;

  tailor_test_model_params_init (&p, arch);
  p.ftype = ftype;
  p.n_vocab = n_vocab;
  p.weight_std = weight_std;
  g_assert_true (tailor_test_model_write (&p, path, &error));
  g_assert_no_error (error);
  return path;
}

static char *
write_model (Fixture *f, TailorArch arch, TailorFileType ftype, float weight_std)
{
  return write_model_vocab (f, arch, ftype, weight_std, 300);
}

/* Runs need real-shaped text: a vocabulary with merges, so words are a few tokens. */
static char *
write_run_model (Fixture *f, TailorArch arch, TailorFileType ftype)
{
  return write_model_vocab (f, arch, ftype, 0.1f, 1000);
}

static TailorModel *
make_model (Fixture *f, TailorArch arch, TailorFileType ftype)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path =
    write_model (f, arch, ftype, ftype == TAILOR_FTYPE_MOSTLY_Q4_K_M ? 0.05f : 0.1f);
  TailorModel *m = tailor_model_load (path, &error);

  g_assert_no_error (error);
  return m;
}

static void
fill_uniform (float *x, gsize n, float lo, float hi, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  gsize i;

  for (i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (rand, lo, hi);
}

/* A random sequence, its next-token targets and a mask that skips a few positions. */
static void
make_sequence (TailorModel *m, int T, guint32 seed, gint32 *tokens, gint32 *targets,
               guint8 *mask8, float *mask, gint32 *pos)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  int t;

  for (t = 0; t < T; t++)
    tokens[t] = g_rand_int_range (rand, 0, (gint32) m->hp.n_vocab);
  for (t = 0; t < T; t++)
    {
      targets[t] = t + 1 < T ? tokens[t + 1] : g_rand_int_range (rand, 0, (gint32) m->hp.n_vocab);
      mask8[t] = (t % 5) != 2;
      mask[t] = mask8[t];
      pos[t] = t;
    }
}

/* An adapter with every target, and B filled too, so that every gradient is non-zero. */
static TailorRefAdapter *
make_adapter (TailorModel *m, float dropout)
{
  TailorRefAdapter *adapter =
    tailor_ref_adapter_new (m, TAILOR_REF_LORA_ALL, 4, 8.0f, FALSE, dropout, 7);
  int i;

  for (i = 0; i < adapter->n_layer * TAILOR_REF_LORA_N_TARGETS; i++)
    if (adapter->lora[i].rank > 0)
      fill_uniform (adapter->lora[i].b, (gsize) adapter->lora[i].out * adapter->lora[i].rank,
                    -0.2f, 0.2f, 100 + i);
  return adapter;
}

typedef struct
{
  TailorArch arch;
  TailorFileType ftype;
  gboolean full;
  const char *device;
} StepCase;

/* The backend of a case; FALSE (test skipped) when this machine has none of that kind. */
static gboolean
open_backend (const char *device, TailorBackend **out)
{
  g_autoptr (GError) error = NULL;

  *out = tailor_backend_new (device, &error);
  if (*out == NULL)
    {
      g_autofree char *why = g_strdup_printf ("no %s backend here: %s", device, error->message);

      g_test_skip (why);
      return FALSE;
    }
  return TRUE;
}

/* A step's gradients after one micro-batch; NULL (test skipped) when the backend cannot run
 * an op of it, which only a backend still being completed may answer. */
static float *
step_gradients (TailorStep *step, const gint32 *tokens, const gint32 *targets, const float *mask,
                const gint32 *pos, float dloss, float *loss)
{
  g_autoptr (GError) error = NULL;
  g_autofree float *grads = g_new (float, tailor_step_get_flat_size (step));

  if (!tailor_step_run (step, tokens, targets, mask, pos, dloss, 1234, NULL, loss, NULL, &error) &&
      g_error_matches (error, TAILOR_BACKEND_ERROR, TAILOR_BACKEND_ERROR_UNSUPPORTED))
    {
      g_test_skip (error->message);
      return NULL;
    }
  g_assert_no_error (error);
  g_assert_true (tailor_step_download (step, TAILOR_STEP_GRADS, grads, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&grads);
}

static double
max_abs (const float *x, gsize n)
{
  double m = 0;
  gsize i;

  for (i = 0; i < n; i++)
    m = MAX (m, fabs (x[i]));
  return m;
}

/* Tolerances: both sides are fp32 with the same operations; they differ only in summation
 * order (OpenBLAS panels, blocked attention, chunked softmax), which moves results by a few
 * ulps per op, ~1e-6 relative after two layers. A wrong index, scale or missing term moves
 * them by whole percent. Loss: 1e-5 relative; each gradient tensor: max |Δ| within 1e-4 of
 * that tensor's largest |gradient| (measured worst ~1e-6). */
#define LOSS_RTOL 1e-5
#define GRAD_RTOL 1e-4

static void
test_step_matches_reference (Fixture *f, gconstpointer data)
{
  const StepCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = make_model (f, c->arch, c->ftype);
  g_autoptr (TailorRefAdapter) adapter = c->full ? NULL : make_adapter (model, 0.1f);
  g_autoptr (TailorBackend) backend = NULL;
  g_autoptr (TailorStep) step = NULL;
  g_autoptr (TailorStep) recompute = NULL;
  g_autoptr (TailorRefTrainer) ref = NULL;
  TailorStepConfig sc = { 0 };
  gint32 tokens[SEQ_T], targets[SEQ_T], pos[SEQ_T];
  guint8 mask8[SEQ_T];
  float mask[SEQ_T];
  float loss = 0;
  float loss_recompute = 0;
  double ref_loss = 0;
  g_autofree float *grads = NULL;
  g_autofree float *grads_recompute = NULL;
  double worst = 0;
  int i;

  if (!open_backend (c->device, &backend))
    return;
  make_sequence (model, SEQ_T, 11, tokens, targets, mask8, mask, pos);
  sc.method = c->full ? TAILOR_TRAIN_FULL : TAILOR_TRAIN_QLORA;
  sc.dropout = c->full ? 0.0f : 0.1f;
  sc.seq_len = SEQ_T;
  sc.batch = 1;
  step = tailor_step_new (backend, model, &sc, adapter, &error);
  g_assert_no_error (error);
  grads = step_gradients (step, tokens, targets, mask, pos, 1.0f, &loss);
  if (grads == NULL)
    return;

  /* gradient checkpointing recomputes each layer with the same ops and dropout masks */
  sc.checkpointing = TRUE;
  recompute = tailor_step_new (backend, model, &sc, adapter, &error);
  g_assert_no_error (error);
  grads_recompute = step_gradients (recompute, tokens, targets, mask, pos, 1.0f,
                                    &loss_recompute);
  g_assert_cmpmem (&loss, sizeof loss, &loss_recompute, sizeof loss);
  g_assert_cmpmem (grads, tailor_step_get_flat_size (step) * sizeof (float), grads_recompute,
                   tailor_step_get_flat_size (step) * sizeof (float));

  ref = tailor_ref_trainer_new (model, adapter, &error);
  g_assert_no_error (error);
  tailor_ref_trainer_set_dropout_seed (ref, 1234);
  g_assert_true (tailor_ref_trainer_forward_backward (ref, tokens, targets, mask8, SEQ_T, 1.0f,
                                                      &ref_loss, &error));
  g_assert_no_error (error);

  g_assert_cmpfloat_with_epsilon (loss, ref_loss, LOSS_RTOL * MAX (1.0, fabs (ref_loss)));
  g_assert_cmpint (tailor_step_get_n_params (step), ==, tailor_ref_trainer_get_n_params (ref));
  for (i = 0; i < tailor_step_get_n_params (step); i++)
    {
      TailorRefParam *p = tailor_ref_trainer_get_param (ref, i);
      const float *g = tailor_step_param_slice (step, i, grads);
      double scale = max_abs (p->grad, p->n);
      double diff = 0;
      gsize j;

      g_assert_cmpstr (tailor_step_get_param_name (step, i), ==, p->name);
      g_assert_cmpuint (tailor_step_get_param_size (step, i), ==, p->n);
      g_assert_cmpfloat (scale, >, 0.0);
      for (j = 0; j < p->n; j++)
        diff = MAX (diff, fabs (g[j] - p->grad[j]));
      worst = MAX (worst, diff / scale);
      if (diff > GRAD_RTOL * scale)
        g_error ("%s: gradient differs from the reference by %g (largest |grad| %g)", p->name,
                 diff, scale);
    }
  g_test_message ("loss %.7f (reference %.7f); worst gradient difference %.2e of its scale",
                  loss, ref_loss, worst);
}

/* Two sequences in one micro-batch: the loss is the mean over both sequences' counted
 * targets, i.e. the reference's two sequences each weighted by its share of them. */
static void
test_step_batch_matches_reference (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = make_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q8_0);
  g_autoptr (TailorRefAdapter) adapter = make_adapter (model, 0.0f);
  g_autoptr (TailorBackend) backend = tailor_backend_new ("cpu", &error);
  g_autoptr (TailorStep) step = NULL;
  g_autoptr (TailorRefTrainer) ref = NULL;
  TailorStepConfig sc = { 0 };
  gint32 tokens[2 * SEQ_T], targets[2 * SEQ_T], pos[2 * SEQ_T];
  guint8 mask8[2 * SEQ_T];
  float mask[2 * SEQ_T];
  float loss = 0;
  double loss0 = 0, loss1 = 0;
  double n0 = 0, n1 = 0;
  g_autofree float *grads = NULL;
  int i;
  int t;

  g_assert_no_error (error);
  make_sequence (model, SEQ_T, 31, tokens, targets, mask8, mask, pos);
  make_sequence (model, SEQ_T, 32, tokens + SEQ_T, targets + SEQ_T, mask8 + SEQ_T, mask + SEQ_T,
                 pos + SEQ_T);
  for (t = SEQ_T + 6; t < 2 * SEQ_T; t++)
    mask8[t] = mask[t] = 0; /* a second sequence with fewer counted targets */
  for (t = 0; t < SEQ_T; t++)
    {
      n0 += mask8[t];
      n1 += mask8[SEQ_T + t];
    }
  sc.method = TAILOR_TRAIN_QLORA;
  sc.seq_len = SEQ_T;
  sc.batch = 2;
  step = tailor_step_new (backend, model, &sc, adapter, &error);
  g_assert_no_error (error);
  grads = step_gradients (step, tokens, targets, mask, pos, 1.0f, &loss);

  ref = tailor_ref_trainer_new (model, adapter, &error);
  g_assert_no_error (error);
  g_assert_true (tailor_ref_trainer_forward_backward (ref, tokens, targets, mask8, SEQ_T,
                                                      (float) (n0 / (n0 + n1)), &loss0, &error));
  g_assert_true (tailor_ref_trainer_forward_backward (ref, tokens + SEQ_T, targets + SEQ_T,
                                                      mask8 + SEQ_T, SEQ_T,
                                                      (float) (n1 / (n0 + n1)), &loss1, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (loss, (loss0 * n0 + loss1 * n1) / (n0 + n1), LOSS_RTOL * loss);
  for (i = 0; i < tailor_step_get_n_params (step); i++)
    {
      TailorRefParam *p = tailor_ref_trainer_get_param (ref, i);
      const float *g = tailor_step_param_slice (step, i, grads);
      double scale = max_abs (p->grad, p->n);
      gsize j;

      for (j = 0; j < p->n; j++)
        g_assert_cmpfloat (fabs (g[j] - p->grad[j]), <=, GRAD_RTOL * scale);
    }
}

/* rsLoRA's scale alpha/√r reaches llama.cpp as the file's alpha = alpha·√r, and reading the
 * file back gives the same scale and tensors. */
static void
test_lora_file_round_trip (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0);
  g_autoptr (TailorRefAdapter) adapter =
    tailor_ref_adapter_new (model, (1u << TAILOR_REF_LORA_Q) | (1u << TAILOR_REF_LORA_DOWN), 4,
                            8.0f, TRUE, 0.0f, 3);
  g_autoptr (TailorRefAdapter) back = NULL;
  g_autoptr (TailorGguf) gguf = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GBytes) again = NULL;
  g_autofree char *path = g_build_filename (f->dir, "adapter.gguf", NULL);
  const TailorGgufTensor *a;
  const TailorGgufTensor *b;
  TailorLoraInfo info = { "test", NULL, NULL };
  float alpha = 0;
  int l;
  int t;

  for (l = 0; l < adapter->n_layer * TAILOR_REF_LORA_N_TARGETS; l++)
    if (adapter->lora[l].rank > 0)
      fill_uniform (adapter->lora[l].b, (gsize) adapter->lora[l].out * 4, -1, 1, 9 + l);
  g_assert_true (tailor_lora_write_gguf (adapter, model, &info, path, &error));
  g_assert_no_error (error);
  bytes = tailor_lora_to_gguf_bytes (adapter, model, &info, &error);
  again = tailor_lora_to_gguf_bytes (adapter, model, &info, &error);
  g_assert_true (g_bytes_equal (bytes, again));

  gguf = tailor_gguf_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tailor_gguf_get_string (gguf, "general.type", NULL), ==, "adapter");
  g_assert_cmpstr (tailor_gguf_get_string (gguf, "adapter.type", NULL), ==, "lora");
  g_assert_cmpstr (tailor_gguf_get_string (gguf, "general.architecture", NULL), ==, "llama");
  g_assert_cmpint (tailor_gguf_get_kv_type (gguf, tailor_gguf_find_key (gguf,
                                                                        "adapter.lora.alpha")),
                   ==, TAILOR_GGUF_F32);
  g_assert_true (tailor_gguf_get_f32 (gguf, "adapter.lora.alpha", &alpha, &error));
  g_assert_cmpfloat_with_epsilon (alpha, 8.0f * 2.0f, 1e-5f); /* alpha·√4 */
  a = tailor_gguf_find_tensor (gguf, "blk.1.attn_q.weight.lora_a");
  b = tailor_gguf_find_tensor (gguf, "blk.1.ffn_down.weight.lora_b");
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpint (a->ne[0], ==, model->hp.n_embd); /* [in, r] */
  g_assert_cmpint (a->ne[1], ==, 4);
  g_assert_cmpint (b->ne[0], ==, 4);                /* [r, out] */
  g_assert_cmpint (b->ne[1], ==, model->hp.n_embd);
  g_assert_null (tailor_gguf_find_tensor (gguf, "blk.0.attn_k.weight.lora_a"));

  back = tailor_lora_read_gguf (path, model, &error);
  g_assert_no_error (error);
  for (l = 0; l < adapter->n_layer; l++)
    for (t = 0; t < TAILOR_REF_LORA_N_TARGETS; t++)
      {
        TailorRefLora *x = tailor_ref_adapter_get (adapter, l, t);
        TailorRefLora *y = tailor_ref_adapter_get (back, l, t);

        g_assert_true ((x == NULL) == (y == NULL));
        if (x == NULL)
          continue;
        g_assert_cmpfloat_with_epsilon (tailor_ref_lora_scale (y->alpha, y->rank, y->rslora),
                                        tailor_ref_lora_scale (x->alpha, x->rank, x->rslora),
                                        1e-6f);
        g_assert_cmpmem (x->a, sizeof (float) * x->rank * x->in, y->a,
                         sizeof (float) * y->rank * y->in);
        g_assert_cmpmem (x->b, sizeof (float) * x->rank * x->out, y->b,
                         sizeof (float) * y->rank * y->out);
      }
}


/* ---- Whole runs ---- */

static const char *const fillers[] = {
  "please", "quickly", "now", "today", "friend", "kindly", "again", "here", "simply", "also",
};
static const char *const keys[] = { "red", "green", "blue", "yellow" };
static const char *const answers[] = {
  "The answer is apple.", "The answer is leaf.", "The answer is sky.", "The answer is sun.",
};

/* A learnable task: the reply depends only on the colour word among random filler words. */
static char *
write_dataset (Fixture *f, const char *name, int n, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr (GString) text = g_string_new (NULL);
  char *path = g_build_filename (f->dir, name, NULL);
  g_autoptr (GError) error = NULL;
  int i;

  for (i = 0; i < n; i++)
    {
      int k = g_rand_int_range (rand, 0, G_N_ELEMENTS (keys));

      g_string_append_printf (text,
                              "{\"messages\":[{\"role\":\"user\",\"content\":\"%s %s tell me "
                              "about %s %s\"},{\"role\":\"assistant\",\"content\":\"%s\"}]}\n",
                              fillers[g_rand_int_range (rand, 0, G_N_ELEMENTS (fillers))],
                              fillers[g_rand_int_range (rand, 0, G_N_ELEMENTS (fillers))],
                              keys[k],
                              fillers[g_rand_int_range (rand, 0, G_N_ELEMENTS (fillers))],
                              answers[k]);
    }
  g_assert_true (g_file_set_contents (path, text->str, -1, &error));
  g_assert_no_error (error);
  return path;
}

/* run.json with the shared settings, extra members (JSON text, may be empty) and dir. */
static char *
write_run_json_lora (Fixture *f, const char *model, const char *out_name, const char *lora,
                     const char *extra)
{
  g_autofree char *train = g_build_filename (f->dir, "train.jsonl", NULL);
  g_autofree char *eval = g_build_filename (f->dir, "eval.jsonl", NULL);
  g_autofree char *out = g_build_filename (f->dir, out_name, NULL);
  g_autofree char *name = g_strconcat (out_name, ".json", NULL);
  char *path = g_build_filename (f->dir, name, NULL);
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;

  if (!g_file_test (train, G_FILE_TEST_EXISTS))
    {
      g_autofree char *t = write_dataset (f, "train.jsonl", 64, 1);
      g_autofree char *e = write_dataset (f, "eval.jsonl", 16, 2);
    }
  json = g_strdup_printf ("{\"base_model\": \"%s\", \"train\": \"%s\", \"eval\": \"%s\", "
                          "\"method\": \"qlora\", \"lora\": %s, \"optimizer\": {\"lr\": 0.02, "
                          "\"warmup_steps\": 5, \"schedule\": \"cosine\"}, \"seq_len\": 96, "
                          "\"batch\": 4, \"max_steps\": 12, \"seed\": 3, \"device\": \"cpu\", "
                          "\"eval_every\": 50, \"checkpoint_every\": 4, \"output_dir\": \"%s\""
                          "%s%s}",
                          model, train, eval, lora, out, extra[0] != '\0' ? ", " : "", extra);
  g_assert_true (g_file_set_contents (path, json, -1, &error));
  g_assert_no_error (error);
  return path;
}

static char *
write_run_json (Fixture *f, const char *model, const char *out_name, const char *extra)
{
  return write_run_json_lora (f, model, out_name,
                              "{\"rank\": 8, \"alpha\": 16, \"dropout\": 0.05}", extra);
}

typedef struct
{
  GPtrArray *events; /* JsonObject */
  int cancel_at;     /* cancel when this step's event arrives; 0: never */
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

/* Runs run.json (or resumes run_dir) in this process; returns the events. */
static GPtrArray *
run_in_process (const char *run_json, const char *resume_dir, int cancel_at, gboolean *ok,
                GError **error)
{
  g_autoptr (TailorRunConfig) config = NULL;
  g_autoptr (TailorTrainRun) run = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Collect c = { g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref), cancel_at,
                cancellable };

  *ok = FALSE;
  if (resume_dir != NULL)
    run = tailor_train_run_new_resume (resume_dir, NULL, error);
  else
    {
      config = tailor_run_config_load (run_json, error);
      if (config != NULL)
        run = tailor_train_run_new (config, NULL, error);
    }
  if (run == NULL)
    return c.events;
  tailor_train_run_set_event_func (run, collect_event, &c);
  *ok = tailor_train_run_run (run, cancellable, error);
  return c.events;
}

static GPtrArray *
events_named (GPtrArray *events, const char *name)
{
  GPtrArray *out = g_ptr_array_new ();
  guint i;

  for (i = 0; i < events->len; i++)
    if (g_str_equal (json_object_get_string_member (g_ptr_array_index (events, i), "event"), name))
      g_ptr_array_add (out, g_ptr_array_index (events, i));
  return out;
}

static GBytes *
read_file (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

static void
test_run_learns_task (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *model = write_run_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0);
  g_autofree char *json = write_run_json (f, model, "learn",
                                          "\"max_steps\": 100, \"eval_every\": 25, "
                                          "\"checkpoint_every\": 50");
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (GPtrArray) evals = NULL;
  double first;
  double last;
  gboolean ok = FALSE;

  events = run_in_process (json, NULL, 0, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  evals = events_named (events, "eval");
  g_assert_cmpuint (evals->len, ==, 5); /* steps 0, 25, 50, 75, 100 */
  first = json_object_get_double_member (g_ptr_array_index (evals, 0), "loss");
  last = json_object_get_double_member (g_ptr_array_index (evals, evals->len - 1), "loss");
  g_test_message ("held-out loss %.4f before training, %.4f after 100 steps", first, last);
  /* the replies are a fixed phrase plus one word chosen by the colour: far below the
   * untrained model's ~ln(vocabulary) per token */
  g_assert_cmpfloat (last, <, 0.4 * first);
}

static void
test_run_same_config_same_bytes (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *model = write_run_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q8_0);
  g_autofree char *json_a = write_run_json (f, model, "a", "");
  g_autofree char *json_b = write_run_json (f, model, "b", "");
  g_autofree char *dir_a = g_build_filename (f->dir, "a", NULL);
  g_autofree char *dir_b = g_build_filename (f->dir, "b", NULL);
  g_autoptr (GPtrArray) events_a = NULL;
  g_autoptr (GPtrArray) events_b = NULL;
  g_autoptr (GBytes) bytes_a = NULL;
  g_autoptr (GBytes) bytes_b = NULL;
  gboolean ok = FALSE;

  events_a = run_in_process (json_a, NULL, 0, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  events_b = run_in_process (json_b, NULL, 0, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  bytes_a = read_file (dir_a, "adapter.gguf");
  bytes_b = read_file (dir_b, "adapter.gguf");
  g_assert_cmpuint (g_bytes_get_size (bytes_a), >, 1000);
  g_assert_true (g_bytes_equal (bytes_a, bytes_b));
}

static void
assert_run_ok (const char *json, const char *resume_dir, int cancel_at)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) events = NULL;
  gboolean ok = FALSE;

  events = run_in_process (json, resume_dir, cancel_at, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
}

/* Stopped at step 7 (a checkpoint is written on the way out), or killed after step 7 (the
 * last periodic checkpoint is step 4): resuming gives the adapter of an uninterrupted run,
 * byte for byte. */
static void
test_run_resume_is_identical (Fixture *f, gconstpointer data)
{
  g_autofree char *model = write_run_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q4_K_M);
  g_autofree char *json_a = write_run_json (f, model, "whole", "");
  g_autofree char *json_b = write_run_json (f, model, "stopped", "");
  g_autofree char *json_c = write_run_json (f, model, "killed", "");
  g_autofree char *dir_a = g_build_filename (f->dir, "whole", NULL);
  g_autofree char *dir_b = g_build_filename (f->dir, "stopped", NULL);
  g_autofree char *dir_c = g_build_filename (f->dir, "killed", NULL);
  g_autofree char *lost = g_build_filename (dir_c, "checkpoints", "step-00000007.gguf", NULL);
  g_autofree char *partial = g_build_filename (dir_b, "adapter.gguf", NULL);
  g_autoptr (GBytes) a = NULL;
  g_autoptr (GBytes) b = NULL;
  g_autoptr (GBytes) c = NULL;
  g_autoptr (GBytes) metrics = NULL;

  assert_run_ok (json_a, NULL, 0);
  assert_run_ok (json_b, NULL, 7);
  g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
  assert_run_ok (NULL, dir_b, 0);
  assert_run_ok (json_c, NULL, 7);
  g_assert_true (g_file_test (lost, G_FILE_TEST_EXISTS));
  g_assert_cmpint (g_unlink (lost), ==, 0);
  assert_run_ok (NULL, dir_c, 0);

  a = read_file (dir_a, "adapter.gguf");
  b = read_file (dir_b, "adapter.gguf");
  c = read_file (dir_c, "adapter.gguf");
  g_assert_true (g_bytes_equal (a, b));
  g_assert_true (g_bytes_equal (a, c));
  /* the resumed run's metrics hold each step once */
  metrics = read_file (dir_c, "metrics.jsonl");
  g_assert_nonnull (g_strstr_len (g_bytes_get_data (metrics, NULL), g_bytes_get_size (metrics),
                                  "\"step\":12,"));
  g_assert_null (g_strstr_len (strstr (g_bytes_get_data (metrics, NULL), "\"step\":5,") + 1,
                               -1, "\"step\":5,"));
}

static gboolean
adapter_is_finite (const char *dir, TailorModel *model)
{
  g_autofree char *path = g_build_filename (dir, "adapter.gguf", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRefAdapter) adapter = tailor_lora_read_gguf (path, model, &error);
  int i;

  g_assert_no_error (error);
  for (i = 0; i < adapter->n_layer * TAILOR_REF_LORA_N_TARGETS; i++)
    {
      TailorRefLora *l = &adapter->lora[i];
      gsize j;

      for (j = 0; l->rank > 0 && j < (gsize) l->rank * l->in; j++)
        if (!isfinite (l->a[j]))
          return FALSE;
      for (j = 0; l->rank > 0 && j < (gsize) l->rank * l->out; j++)
        if (!isfinite (l->b[j]))
          return FALSE;
    }
  return TRUE;
}

static void
test_guard_recovers_from_nan (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *model_path = write_run_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_ALL_F32);
  g_autofree char *json = write_run_json (f, model_path, "guard", "");
  g_autofree char *dir = g_build_filename (f->dir, "guard", NULL);
  g_autoptr (TailorModel) model = tailor_model_load (model_path, &error);
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (GPtrArray) warnings = NULL;
  g_autoptr (GPtrArray) steps = NULL;
  JsonObject *last;
  gboolean ok = FALSE;
  guint i;

  g_assert_no_error (error);
  g_setenv ("TAILOR_TRAIN_INJECT_NAN", "6", TRUE);
  events = run_in_process (json, NULL, 0, &ok, &error);
  g_unsetenv ("TAILOR_TRAIN_INJECT_NAN");
  g_assert_no_error (error);
  g_assert_true (ok);
  warnings = events_named (events, "warning");
  g_assert_cmpuint (warnings->len, ==, 1);
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (warnings, 0), "code"), ==,
                   "unstable");
  /* back to the checkpoint of step 4, then on to the end at half the learning rate */
  steps = events_named (events, "step");
  g_assert_cmpuint (steps->len, ==, 12 + 1);
  for (i = 0; i < steps->len; i++)
    g_assert_true (isfinite (json_object_get_double_member (g_ptr_array_index (steps, i), "loss")));
  last = g_ptr_array_index (events, events->len - 1);
  g_assert_cmpstr (json_object_get_string_member (last, "event"), ==, "done");
  g_assert_true (json_object_get_boolean_member (last, "complete"));
  g_assert_true (adapter_is_finite (dir, model));
}

static void
test_guard_stops_when_failures_repeat (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *model = write_run_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32);
  g_autofree char *json = write_run_json (f, model, "unstable", "");
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (GPtrArray) warnings = NULL;
  JsonObject *last;
  gboolean ok = TRUE;

  g_setenv ("TAILOR_TRAIN_INJECT_NAN", "6+", TRUE);
  events = run_in_process (json, NULL, 0, &ok, &error);
  g_unsetenv ("TAILOR_TRAIN_INJECT_NAN");
  g_assert_false (ok);
  g_assert_error (error, TAILOR_TRAIN_ERROR, TAILOR_TRAIN_ERROR_UNSTABLE);
  g_assert_nonnull (strstr (error->message, "lower optimizer.lr"));
  warnings = events_named (events, "warning");
  g_assert_cmpuint (warnings->len, ==, 3);
  last = g_ptr_array_index (events, events->len - 1);
  g_assert_cmpstr (json_object_get_string_member (last, "event"), ==, "error");
  g_assert_cmpstr (json_object_get_string_member (last, "code"), ==, "unstable");
}

/* A fresh adapter (B = 0) adds exactly zero: the step's loss is bit for bit that of the
 * same step without LoRA (full fine-tuning's forward over the same F32 weights), and the
 * reference's within LOSS_RTOL. */
static void
test_fresh_adapter_equals_base (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32);
  g_autoptr (TailorRefAdapter) fresh =
    tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, 8, 16.0f, FALSE, 0.0f, 5);
  g_autoptr (TailorBackend) backend = tailor_backend_new ("cpu", &error);
  g_autoptr (TailorStep) lora = NULL;
  g_autoptr (TailorStep) full = NULL;
  g_autoptr (TailorRefTrainer) ref = NULL;
  TailorStepConfig sc = { 0 };
  gint32 tokens[SEQ_T], targets[SEQ_T], pos[SEQ_T];
  guint8 mask8[SEQ_T];
  float mask[SEQ_T];
  float loss_lora = 0, loss_full = 0, loss_first_step = 0;
  double loss_ref = 0;
  TailorAdamWHyper hyper = { 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f, 1.0f, 0.0f };

  g_assert_no_error (error);
  make_sequence (model, SEQ_T, 21, tokens, targets, mask8, mask, pos);
  sc.seq_len = SEQ_T;
  sc.batch = 1;
  sc.method = TAILOR_TRAIN_QLORA;
  lora = tailor_step_new (backend, model, &sc, fresh, &error);
  g_assert_no_error (error);
  sc.method = TAILOR_TRAIN_FULL;
  full = tailor_step_new (backend, model, &sc, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tailor_step_eval (lora, tokens, targets, mask, pos, &loss_lora, &error));
  g_assert_true (tailor_step_eval (full, tokens, targets, mask, pos, &loss_full, &error));
  g_assert_true (tailor_step_run (lora, tokens, targets, mask, pos, 1.0f, 9, &hyper,
                                  &loss_first_step, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (&loss_lora, sizeof (float), &loss_full, sizeof (float));
  g_assert_cmpmem (&loss_first_step, sizeof (float), &loss_full, sizeof (float));

  ref = tailor_ref_trainer_new (model, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tailor_ref_trainer_loss (ref, tokens, targets, mask8, SEQ_T, FALSE, &loss_ref,
                                          &error));
  g_assert_cmpfloat_with_epsilon (loss_lora, loss_ref, LOSS_RTOL * MAX (1.0, fabs (loss_ref)));
}

/* A profiled step: none before it; then the time of every op kind the step runs, and the
 * FLOPs of its products — the base products exactly 2 · T · Σ IC · OC. On each backend here. */
static void
test_step_profile (Fixture *f, gconstpointer data)
{
  const char *devices[] = { "cpu", "vulkan" };
  g_autoptr (TailorModel) model = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0);
  g_autoptr (TailorRefAdapter) fresh =
    tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, 8, 16.0f, FALSE, 0.0f, 5);
  gint32 tokens[SEQ_T], targets[SEQ_T], pos[SEQ_T];
  guint8 mask8[SEQ_T];
  float mask[SEQ_T];
  double base_flops = 0.0;
  TailorAdamWHyper hyper = { 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f, 1.0f, 0.0f };

  make_sequence (model, SEQ_T, 21, tokens, targets, mask8, mask, pos);
  for (guint l = 0; l < model->hp.n_layer; l++)
    {
      const TailorLayerWeights *w = &model->layers[l];
      const TailorGgufTensor *ws[] = { w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down };

      for (guint t = 0; t < G_N_ELEMENTS (ws); t++)
        base_flops += 2.0 * SEQ_T * (double) ws[t]->ne[0] * (double) ws[t]->ne[1];
    }
  for (guint d = 0; d < G_N_ELEMENTS (devices); d++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (TailorBackend) backend = tailor_backend_new (devices[d], &error);
      g_autoptr (TailorStep) step = NULL;
      g_autoptr (GPtrArray) sorted = NULL;
      TailorStepConfig sc = { TAILOR_TRAIN_QLORA, 0.0f, SEQ_T, 1, FALSE, 0 };
      const TailorOpProfile *matmul;
      GHashTable *profile;

      if (backend == NULL)
        {
          g_test_message ("no %s backend: %s", devices[d], error->message);
          continue;
        }
      step = tailor_step_new (backend, model, &sc, fresh, &error);
      g_assert_no_error (error);
      g_assert_null (tailor_step_get_profile (step));
      tailor_step_set_profiling (step, TRUE);
      g_assert_true (tailor_step_run (step, tokens, targets, mask, pos, 1.0f, 9, &hyper, NULL,
                                      NULL, &error));
      g_assert_no_error (error);
      profile = tailor_step_get_profile (step);
      g_assert_nonnull (profile);
      matmul = g_hash_table_lookup (profile, "matmul");
      g_assert_nonnull (matmul);
      g_assert_cmpfloat_with_epsilon (matmul->flops, base_flops, 1e-6 * base_flops);
      g_assert_cmpfloat (matmul->ms, >, 0.0);
      for (const char *const *k = (const char *const[]){ "lora", "lora_backward", "adamw",
                                                          "attention_backward",
                                                          "cross_entropy_backward", NULL };
           *k != NULL; k++)
        g_assert_nonnull (g_hash_table_lookup (profile, *k));
      g_assert_cmpfloat (((TailorOpProfile *) g_hash_table_lookup (profile, "adamw"))->flops, ==,
                         0.0);
      sorted = tailor_op_profile_sorted (profile);
      g_assert_cmpuint (sorted->len, ==, g_hash_table_size (profile));
      for (guint i = 1; i < sorted->len; i++)
        g_assert_cmpfloat (((TailorOpProfile *) g_ptr_array_index (sorted, i - 1))->ms, >=,
                           ((TailorOpProfile *) g_ptr_array_index (sorted, i))->ms);
    }
}

/* Every event object is one of the protocol's, with its members of the right types, in an
 * order the app can rely on. */
static void
check_protocol (GPtrArray *events, gboolean complete)
{
  JsonObject *first;
  JsonObject *last;
  gint64 prev_step = 0;
  guint n_steps = 0;
  guint i;

  g_assert_cmpuint (events->len, >=, 3);
  first = g_ptr_array_index (events, 0);
  g_assert_cmpstr (json_object_get_string_member (first, "event"), ==, "start");
  g_assert_true (json_object_has_member (first, "steps"));
  g_assert_true (json_object_has_member (first, "device"));
  g_assert_true (json_object_has_member (first, "run_dir"));
  for (i = 1; i < events->len; i++)
    {
      JsonObject *o = g_ptr_array_index (events, i);
      const char *name = json_object_get_string_member (o, "event");

      if (g_str_equal (name, "step"))
        {
          static const char *const numbers[] = { "loss", "lr", "tokens_per_s", "mem_bytes",
                                                 "eta_s", "grad_norm" };
          guint k;

          g_assert_cmpint (json_object_get_int_member (o, "step"), ==, prev_step + 1);
          prev_step = json_object_get_int_member (o, "step");
          for (k = 0; k < G_N_ELEMENTS (numbers); k++)
            {
              JsonNode *n = json_object_get_member (o, numbers[k]);

              g_assert_nonnull (n);
              g_assert_true (json_node_get_value_type (n) == G_TYPE_DOUBLE ||
                             json_node_get_value_type (n) == G_TYPE_INT64);
            }
          g_assert_cmpfloat (json_object_get_double_member (o, "lr"), >, 0.0);
          g_assert_cmpint (json_object_get_int_member (o, "mem_bytes"), >, 0);
          n_steps++;
        }
      else if (g_str_equal (name, "eval"))
        {
          g_assert_cmpint (json_object_get_int_member (o, "step"), ==, prev_step);
          g_assert_cmpfloat (json_object_get_double_member (o, "loss"), >, 0.0);
        }
      else if (g_str_equal (name, "checkpoint"))
        {
          g_assert_cmpint (json_object_get_int_member (o, "step"), ==, prev_step);
          g_assert_true (g_file_test (json_object_get_string_member (o, "path"),
                                      G_FILE_TEST_EXISTS) ||
                         i + 3 < events->len); /* older ones are pruned */
        }
      else if (g_str_equal (name, "warning"))
        g_assert_nonnull (json_object_get_string_member (o, "message"));
      else
        {
          g_assert_cmpstr (name, ==, "done");
          g_assert_cmpuint (i, ==, events->len - 1);
        }
    }
  last = g_ptr_array_index (events, events->len - 1);
  g_assert_cmpstr (json_object_get_string_member (last, "event"), ==, "done");
  g_assert_cmpint (json_object_get_boolean_member (last, "complete"), ==, complete);
  g_assert_cmpuint (n_steps, >, 0);
  if (complete)
    g_assert_true (g_file_test (json_object_get_string_member (last, "adapter"),
                                G_FILE_TEST_EXISTS));
}

static void
test_progress_protocol_in_process (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *model = write_run_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0);
  g_autofree char *json = write_run_json (f, model, "protocol", "\"eval_every\": 5");
  g_autoptr (GPtrArray) events = NULL;
  gboolean ok = FALSE;

  events = run_in_process (json, NULL, 0, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  check_protocol (events, TRUE);
}

/* tailor-cli train, when this build's tailor-cli has it. */
static const char *
cli_with_train (void)
{
  const char *cli = g_getenv ("TAILOR_CLI");
  g_autoptr (GSubprocess) p = NULL;

  if (cli == NULL)
    return NULL;
  p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                        NULL, cli, "train", "--help", NULL);
  if (p == NULL || !g_subprocess_wait (p, NULL, NULL) || !g_subprocess_get_successful (p))
    return NULL;
  return cli;
}

static GPtrArray *
read_json_lines (GDataInputStream *in, gboolean sigterm_at_first_step, GSubprocess *p)
{
  GPtrArray *events = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  char *line;

  while ((line = g_data_input_stream_read_line (in, NULL, NULL, NULL)) != NULL)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) error = NULL;
      g_autofree char *owned = line;
      JsonObject *o;

      g_assert_true (json_parser_load_from_data (parser, owned, -1, &error));
      g_assert_no_error (error);
      g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
      o = json_node_get_object (json_parser_get_root (parser));
      g_ptr_array_add (events, json_object_ref (o));
      if (sigterm_at_first_step && g_str_equal (json_object_get_string_member (o, "event"), "step"))
        {
          g_subprocess_send_signal (p, SIGTERM);
          sigterm_at_first_step = FALSE;
        }
    }
  return events;
}

static void
test_cli_sigterm_checkpoints_and_exits_0 (Fixture *f, gconstpointer data)
{
  const char *cli = cli_with_train ();
  g_autoptr (GError) error = NULL;
  g_autofree char *model = NULL;
  g_autofree char *json = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GSubprocess) resume = NULL;
  g_autoptr (GDataInputStream) in = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (GPtrArray) resumed = NULL;
  g_autoptr (GPtrArray) checkpoints = NULL;
  JsonObject *last;
  gint64 t0;

  if (cli == NULL)
    {
      g_test_skip ("tailor-cli has no train command in this build");
      return;
    }
  model = write_run_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0);
  json = write_run_json (f, model, "cli", "\"max_steps\": 100000, \"checkpoint_every\": 0");
  dir = g_build_filename (f->dir, "cli", NULL);
  p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, cli, "train", json,
                        "--progress=json", NULL);
  g_assert_no_error (error);
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (p));
  t0 = g_get_monotonic_time ();
  events = read_json_lines (in, TRUE, p);
  g_assert_true (g_subprocess_wait (p, NULL, &error));
  g_assert_cmpfloat ((g_get_monotonic_time () - t0) / 1e6, <, 20.0);
  g_assert_true (g_subprocess_get_if_exited (p));
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 0);
  check_protocol (events, FALSE);
  checkpoints = events_named (events, "checkpoint");
  last = g_ptr_array_index (checkpoints, checkpoints->len - 1);
  g_assert_cmpint (json_object_get_int_member (last, "step"), >, 0);
  g_assert_true (g_file_test (json_object_get_string_member (last, "path"), G_FILE_TEST_EXISTS));

  /* and it continues from there */
  resume = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, cli, "train", "--resume",
                             dir, "--progress=json", NULL);
  g_assert_no_error (error);
  g_clear_object (&in);
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (resume));
  resumed = read_json_lines (in, TRUE, resume);
  g_assert_true (g_subprocess_wait (resume, NULL, &error));
  g_assert_cmpint (g_subprocess_get_exit_status (resume), ==, 0);
  g_assert_cmpint (json_object_get_int_member (g_ptr_array_index (resumed, 0), "start_step"), ==,
                   json_object_get_int_member (last, "step"));
}

static void
test_cli_refuses_bad_config (Fixture *f, gconstpointer data)
{
  const char *cli = cli_with_train ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "bad.json", NULL);
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GBytes) err = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o;

  if (cli == NULL)
    {
      g_test_skip ("tailor-cli has no train command in this build");
      return;
    }
  g_assert_true (g_file_set_contents (path, "{\"base_model\": \"m.gguf\", \"train\": \"t.jsonl\", "
                                            "\"lora\": {\"rank\": 0}}", -1, &error));
  p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                        cli, "train", path, "--progress=json", NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate (p, NULL, NULL, &out, &err, &error));
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 1);
  g_assert_nonnull (g_strstr_len (g_bytes_get_data (err, NULL), g_bytes_get_size (err),
                                  "lora.rank"));
  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (out, NULL),
                                             g_bytes_get_size (out), &error));
  o = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (o, "event"), ==, "error");
  g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "config");
}

static JsonObject *
first_named (GPtrArray *events, const char *name)
{
  g_autoptr (GPtrArray) named = events_named (events, name);

  g_assert_cmpuint (named->len, >, 0);
  return g_ptr_array_index (named, 0);
}

/* tailor-cli train with args; SIGTERM at its first step; returns its events (exit 0). */
static GPtrArray *
cli_train_until_first_step (const char *cli, const char *const *args)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GDataInputStream) in = NULL;
  GPtrArray *events;

  g_ptr_array_add (argv, (gpointer) cli);
  g_ptr_array_add (argv, (gpointer) "train");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, (gpointer) "--progress=json");
  g_ptr_array_add (argv, NULL);
  p = g_subprocess_newv ((const char *const *) argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                         &error);
  g_assert_no_error (error);
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (p));
  events = read_json_lines (in, TRUE, p);
  g_assert_true (g_subprocess_wait (p, NULL, &error));
  g_assert_true (g_subprocess_get_if_exited (p));
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 0);
  return events;
}

/* --device overrides the settings' device for a new run, and moves a resumed run to another
 * backend: the start events name the backend that really ran. */
static void
test_cli_device_moves_a_resumed_run (Fixture *f, gconstpointer data)
{
  const char *cli = cli_with_train ();
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorBackend) vk = NULL;
  g_autofree char *model = NULL;
  g_autofree char *json = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) resumed = NULL;
  g_autoptr (GPtrArray) checkpoints = NULL;
  JsonObject *start;
  JsonObject *last;

  if (cli == NULL)
    {
      g_test_skip ("tailor-cli has no train command in this build");
      return;
    }
  vk = tailor_backend_new ("vulkan", &error);
  if (vk == NULL)
    {
      g_test_skip (error->message);
      return;
    }
  model = write_run_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0);
  /* the settings say cpu */
  json = write_run_json (f, model, "moved", "\"max_steps\": 100000, \"checkpoint_every\": 0");
  dir = g_build_filename (f->dir, "moved", NULL);

  first = cli_train_until_first_step (cli, (const char *const[]){ json, "--device", "vulkan",
                                                                    NULL });
  start = first_named (first, "start");
  g_assert_cmpstr (json_object_get_string_member (start, "device"), ==,
                   tailor_backend_get_name (vk));
  checkpoints = events_named (first, "checkpoint");
  g_assert_cmpuint (checkpoints->len, >, 0);
  last = g_ptr_array_index (checkpoints, checkpoints->len - 1);

  resumed = cli_train_until_first_step (cli, (const char *const[]){ "--resume", dir, "--device",
                                                                      "cpu", NULL });
  start = first_named (resumed, "start");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (start, "device"), "cpu"));
  g_assert_cmpint (json_object_get_int_member (start, "start_step"), ==,
                   json_object_get_int_member (last, "step"));
}

/* Packing puts several examples in a sequence; without it each has its own. Text and chat
 * examples mix; an example whose learnable tokens fall past seq_len is skipped. */
static void
test_data_packing (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *model = write_run_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q8_0);
  g_autofree char *long_user = g_strnfill (400, 'x');
  g_autofree char *mixed_text =
    g_strdup_printf ("{\"text\": \"a plain text example\"}\n"
                     "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, "
                     "{\"role\": \"assistant\", \"content\": \"hello\"}]}\n"
                     "{\"messages\": [{\"role\": \"user\", \"content\": \"%s\"}, "
                     "{\"role\": \"assistant\", \"content\": \"cut off\"}]}\n",
                     long_user);
  g_autofree char *mixed = g_build_filename (f->dir, "mixed.jsonl", NULL);
  g_autofree char *packed = NULL;
  g_autofree char *single = NULL;
  g_autofree char *extra_packed = NULL;
  g_autofree char *extra_single = NULL;
  g_autoptr (GPtrArray) ev_packed = NULL;
  g_autoptr (GPtrArray) ev_single = NULL;
  JsonObject *sp;
  JsonObject *ss;
  gboolean ok = FALSE;

  g_assert_true (g_file_set_contents (mixed, mixed_text, -1, &error));
  extra_packed = g_strdup_printf ("\"train\": \"%s\", \"epochs\": 3, \"max_steps\": null, "
                                  "\"batch\": 1, \"packing\": true", mixed);
  extra_single = g_strdup_printf ("\"train\": \"%s\", \"epochs\": 3, \"max_steps\": null, "
                                  "\"batch\": 1, \"packing\": false", mixed);
  packed = write_run_json (f, model, "packed", extra_packed);
  single = write_run_json (f, model, "single", extra_single);
  ev_packed = run_in_process (packed, NULL, 0, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  ev_single = run_in_process (single, NULL, 0, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  sp = first_named (ev_packed, "start");
  ss = first_named (ev_single, "start");
  g_assert_cmpint (json_object_get_int_member (sp, "examples"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (sp, "skipped_examples"), ==, 1);
  /* two short examples share one sequence per epoch, or take one each */
  g_assert_cmpint (json_object_get_int_member (sp, "sequences"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (ss, "sequences"), ==, 6);
  g_assert_cmpint (json_object_get_int_member (sp, "steps"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (ss, "steps"), ==, 6);
}

/* One step of batch 2 equals one step of batch 1 with 2 accumulated micro-batches: the loss
 * is the mean over the same counted targets, and so is the gradient. */
static void
test_accumulation_equals_batch (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *model = write_run_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0);
  const char *lora = "{\"rank\": 8, \"alpha\": 16, \"dropout\": 0.0}";
  g_autofree char *batch = write_run_json_lora (f, model, "batch", lora,
                                                "\"batch\": 2, \"grad_accum\": 1, "
                                                "\"max_steps\": 1, \"packing\": false");
  g_autofree char *accum = write_run_json_lora (f, model, "accum", lora,
                                                "\"batch\": 1, \"grad_accum\": 2, "
                                                "\"max_steps\": 1, \"packing\": false");
  g_autoptr (GPtrArray) ev_batch = NULL;
  g_autoptr (GPtrArray) ev_accum = NULL;
  JsonObject *sb;
  JsonObject *sa;
  gboolean ok = FALSE;

  ev_batch = run_in_process (batch, NULL, 0, &ok, &error);
  g_assert_no_error (error);
  ev_accum = run_in_process (accum, NULL, 0, &ok, &error);
  g_assert_no_error (error);
  sb = first_named (ev_batch, "step");
  sa = first_named (ev_accum, "step");
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (sb, "loss"),
                                  json_object_get_double_member (sa, "loss"),
                                  LOSS_RTOL * json_object_get_double_member (sb, "loss"));
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (sb, "grad_norm"),
                                  json_object_get_double_member (sa, "grad_norm"),
                                  GRAD_RTOL * json_object_get_double_member (sb, "grad_norm"));
  g_assert_cmpfloat (json_object_get_double_member (sb, "grad_norm"), >, 0.0);
}

/* Full fine-tuning writes a whole F32 model that loads as one and predicts differently. */
static void
test_full_run_writes_model (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *base_path = write_run_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32);
  g_autofree char *json = write_run_json (f, base_path, "full",
                                          "\"method\": \"full\", \"max_steps\": 3, "
                                          "\"optimizer\": {\"lr\": 0.001}");
  g_autofree char *out = g_build_filename (f->dir, "full", "model.gguf", NULL);
  g_autoptr (TailorModel) base = NULL;
  g_autoptr (TailorModel) tuned = NULL;
  g_autoptr (GPtrArray) events = NULL;
  gint32 tokens[4] = { 1, 20, 30, 40 };
  g_autofree float *a = NULL;
  g_autofree float *b = NULL;
  gboolean ok = FALSE;
  guint i;

  events = run_in_process (json, NULL, 0, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  base = tailor_model_load (base_path, &error);
  g_assert_no_error (error);
  tuned = tailor_model_load (out, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_gguf_get_n_tensors (tuned->gguf), ==,
                    tailor_gguf_get_n_tensors (base->gguf));
  for (i = 0; i < tailor_gguf_get_n_tensors (tuned->gguf); i++)
    g_assert_cmpint (tailor_gguf_get_tensor (tuned->gguf, i)->type, ==, TAILOR_TYPE_F32);
  a = g_new (float, 4 * base->hp.n_vocab);
  b = g_new (float, 4 * base->hp.n_vocab);
  g_assert_true (tailor_ref_adapter_logits (base, NULL, tokens, 4, a, &error));
  g_assert_true (tailor_ref_adapter_logits (tuned, NULL, tokens, 4, b, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (a, b, sizeof (float) * 4 * base->hp.n_vocab) != 0);
}

int
main (int argc, char *argv[])
{
  static const StepCase step_cases[] = {
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32, FALSE, "cpu" },
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0, FALSE, "cpu" },
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q4_K_M, FALSE, "cpu" },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_ALL_F32, FALSE, "cpu" },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q8_0, FALSE, "cpu" },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q4_K_M, FALSE, "cpu" },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_F16, FALSE, "cpu" },
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32, TRUE, "cpu" },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_ALL_F32, TRUE, "cpu" },
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0, FALSE, "vulkan" },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q4_K_M, FALSE, "vulkan" },
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32, TRUE, "vulkan" },
  };
  g_autofree char *cache = g_dir_make_tmp ("tailor-train-cache-XXXXXX", NULL);
  int status;
  guint i;

  /* runs pin their base's SHA-256; its cache stays out of the user's */
  g_setenv ("TAILOR_CACHE_DIR", cache, TRUE);
  g_test_init (&argc, &argv, NULL);

  for (i = 0; i < G_N_ELEMENTS (step_cases); i++)
    {
      const StepCase *c = &step_cases[i];
      g_autofree char *path =
        g_strdup_printf ("/train/step-matches-reference/%s/%s/%s-%s", c->device,
                         c->full ? "full" : "lora", tailor_arch_name (c->arch),
                         tailor_ftype_name (c->ftype));

      g_test_add (path, Fixture, c, fixture_setup, test_step_matches_reference,
                  fixture_teardown);
    }
  g_test_add ("/train/step/batch-of-two-matches-reference", Fixture, NULL, fixture_setup,
              test_step_batch_matches_reference, fixture_teardown);
  g_test_add ("/train/lora/adapter-file-has-llama-cpp-layout-and-round-trips", Fixture, NULL,
              fixture_setup, test_lora_file_round_trip, fixture_teardown);
  g_test_add ("/train/data/packing-mixes-examples-and-skips-unlearnable", Fixture, NULL,
              fixture_setup, test_data_packing, fixture_teardown);
  g_test_add ("/train/step/accumulation-equals-larger-batch", Fixture, NULL, fixture_setup,
              test_accumulation_equals_batch, fixture_teardown);
  g_test_add ("/train/run/full-fine-tune-writes-a-model", Fixture, NULL, fixture_setup,
              test_full_run_writes_model, fixture_teardown);
  g_test_add ("/train/run/learns-synthetic-task", Fixture, NULL, fixture_setup,
              test_run_learns_task, fixture_teardown);
  g_test_add ("/train/run/same-config-gives-byte-identical-adapter", Fixture, NULL,
              fixture_setup, test_run_same_config_same_bytes, fixture_teardown);
  g_test_add ("/train/run/stop-or-kill-then-resume-gives-identical-adapter", Fixture, NULL,
              fixture_setup, test_run_resume_is_identical, fixture_teardown);
  g_test_add ("/train/guard/recovers-from-injected-nan", Fixture, NULL, fixture_setup,
              test_guard_recovers_from_nan, fixture_teardown);
  g_test_add ("/train/guard/stops-when-failures-repeat", Fixture, NULL, fixture_setup,
              test_guard_stops_when_failures_repeat, fixture_teardown);
  g_test_add ("/train/step/fresh-adapter-equals-base-model", Fixture, NULL, fixture_setup,
              test_fresh_adapter_equals_base, fixture_teardown);
  g_test_add ("/train/step/profile-times-op-kinds-and-counts-products", Fixture, NULL,
              fixture_setup, test_step_profile, fixture_teardown);
  g_test_add ("/train/progress/events-follow-the-protocol", Fixture, NULL, fixture_setup,
              test_progress_protocol_in_process, fixture_teardown);
  g_test_add ("/train/cli/sigterm-checkpoints-and-exits-0", Fixture, NULL, fixture_setup,
              test_cli_sigterm_checkpoints_and_exits_0, fixture_teardown);
  g_test_add ("/train/cli/refuses-bad-config-with-error-event", Fixture, NULL, fixture_setup,
              test_cli_refuses_bad_config, fixture_teardown);
  g_test_add ("/train/cli/device-option-moves-a-resumed-run", Fixture, NULL, fixture_setup,
              test_cli_device_moves_a_resumed_run, fixture_teardown);
  status = g_test_run ();
  remove_tree (cache);
  return status;
}
