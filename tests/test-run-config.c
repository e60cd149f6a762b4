/* SPDX-License-Identifier: GPL-3.0-or-later */
/* run.json: defaults, round trip, and every bad setting refused before any work with a
 * message that names the field. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "tailor-hash.h"
#include "tailor-run-config.h"
#include "tailor-test-model.h"
#include "tailor-train-ref.h"
#include "tailor-train.h"

typedef struct
{
  char *dir;
  char *model; /* a tiny F32 llama, context 256 */
  char *q8;    /* the same in Q8_0 */
  char *train;
  char *empty;
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

static char *
write_model (const char *dir, const char *name, TailorFileType ftype)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);
  TailorTestModelParams p;

  tailor_test_model_params_init (&p, TAILOR_ARCH_LLAMA);
  p.ftype = ftype;
  p.n_vocab = 300;
  g_assert_true (tailor_test_model_write (&p, path, &error));
  g_assert_no_error (error);
  return path;
}

static char *
write_text (const char *dir, const char *name, const char *text)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);

  g_assert_true (g_file_set_contents (path, text, -1, &error));
  g_assert_no_error (error);
  return path;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("tailor-run-config-XXXXXX", &error);
  g_assert_no_error (error);
  f->model = write_model (f->dir, "model.gguf", TAILOR_FTYPE_ALL_F32);
  f->q8 = write_model (f->dir, "model-q8.gguf", TAILOR_FTYPE_MOSTLY_Q8_0);
  f->train = write_text (f->dir, "train.jsonl",
                         "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
                         "{\"role\":\"assistant\",\"content\":\"hello there\"}]}\n"
                         "{\"text\":\"plain text to learn\"}\n");
  f->empty = write_text (f->dir, "empty.jsonl", "\n\n");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->model);
  g_free (f->q8);
  g_free (f->train);
  g_free (f->empty);
}

/* A valid run.json for the fixture's model with extra members added (JSON text). */
static char *
config_text (Fixture *f, const char *model, const char *extra)
{
  return g_strdup_printf ("{\"base_model\": \"%s\", \"train\": \"%s\", \"seq_len\": 64, "
                          "\"device\": \"cpu\"%s%s}",
                          model, f->train, extra[0] != '\0' ? ", " : "", extra);
}

static void
test_defaults (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRunConfig) c =
    tailor_run_config_parse ("{\"base_model\": \"m.gguf\", \"train\": \"data/t.jsonl\"}", -1,
                             "/runs/x", &error);

  g_assert_no_error (error);
  g_assert_cmpstr (c->base_model, ==, "/runs/x/m.gguf");
  g_assert_cmpstr (c->train, ==, "/runs/x/data/t.jsonl");
  g_assert_null (c->eval);
  g_assert_null (c->base_sha256);
  g_assert_cmpstr (c->output_dir, ==, "/runs/x/run");
  g_assert_cmpint (c->method, ==, TAILOR_TRAIN_QLORA);
  g_assert_cmpint (c->lora_rank, ==, 16);
  g_assert_cmpfloat (c->lora_alpha, ==, 32.0f);
  g_assert_cmpfloat (c->lora_dropout, ==, 0.05f);
  g_assert_false (c->lora_rslora);
  g_assert_cmpuint (c->lora_targets, ==, TAILOR_REF_LORA_ALL);
  g_assert_cmpfloat (c->lr, ==, 2e-4f);
  g_assert_cmpfloat (c->weight_decay, ==, 0.0f);
  g_assert_cmpfloat (c->beta1, ==, 0.9f);
  g_assert_cmpfloat (c->beta2, ==, 0.999f);
  g_assert_cmpfloat (c->eps, ==, 1e-8f);
  g_assert_cmpint (c->schedule, ==, TAILOR_SCHEDULE_COSINE);
  g_assert_cmpint (c->warmup_steps, ==, 10);
  g_assert_cmpfloat (c->grad_clip, ==, 1.0f);
  g_assert_cmpint (c->seq_len, ==, 512);
  g_assert_cmpint (c->batch, ==, 4);
  g_assert_cmpint (c->grad_accum, ==, 1);
  g_assert_cmpint (c->epochs, ==, 2);
  g_assert_cmpint (c->max_steps, ==, 0);
  g_assert_true (c->packing);
  g_assert_false (c->loss_on_all);
  g_assert_true (c->grad_checkpointing);
  g_assert_cmpuint (c->seed, ==, 42);
  g_assert_cmpstr (c->device, ==, "auto");
  g_assert_cmpint (c->eval_every, ==, 50);
  g_assert_cmpint (c->checkpoint_every, ==, 50);
}

static void
test_design_example_round_trips (Fixture *f, gconstpointer data)
{
  static const char *const example =
    "{\"base_model\": \"/path/model.Q4_K_M.gguf\", \"base_sha256\": null,"
    " \"train\": \"train.jsonl\", \"eval\": \"eval.jsonl\", \"method\": \"qlora\","
    " \"lora\": {\"rank\": 16, \"alpha\": 32, \"dropout\": 0.05, \"rslora\": false,"
    "          \"targets\": [\"q\", \"k\", \"v\", \"o\", \"gate\", \"up\", \"down\"]},"
    " \"optimizer\": {\"lr\": 2e-4, \"weight_decay\": 0.0, \"betas\": [0.9, 0.999], \"eps\": 1e-8,"
    "               \"schedule\": \"cosine\", \"warmup_steps\": 10, \"grad_clip\": 1.0},"
    " \"seq_len\": 512, \"batch\": 4, \"grad_accum\": 1, \"epochs\": 2, \"max_steps\": null,"
    " \"packing\": true, \"loss_on\": \"assistant\", \"grad_checkpointing\": true, \"seed\": 42,"
    " \"device\": \"auto\", \"eval_every\": 50, \"checkpoint_every\": 50,"
    " \"output_dir\": \"runs/2026-11-30-tone-v1\"}";
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorRunConfig) a = tailor_run_config_parse (example, -1, "/work", &error);
  g_autoptr (TailorRunConfig) b = NULL;
  g_autoptr (TailorRunConfig) changed = NULL;
  g_autofree char *json_a = NULL;
  g_autofree char *json_b = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (a->eval, ==, "/work/eval.jsonl");
  g_assert_cmpstr (a->output_dir, ==, "/work/runs/2026-11-30-tone-v1");
  json_a = tailor_run_config_to_json (a);
  b = tailor_run_config_parse (json_a, -1, "/elsewhere", &error);
  g_assert_no_error (error);
  json_b = tailor_run_config_to_json (b);
  g_assert_cmpstr (json_a, ==, json_b);

  changed = tailor_run_config_parse ("{\"base_model\": \"m\", \"train\": \"t\", \"method\": "
                                     "\"full\", \"lora\": {\"targets\": [\"down\", \"q\"], "
                                     "\"rslora\": true}, \"optimizer\": {\"schedule\": "
                                     "\"linear\", \"grad_clip\": null}, \"loss_on\": \"all\", "
                                     "\"max_steps\": 7, \"packing\": false}",
                                     -1, "/w", &error);
  g_assert_no_error (error);
  g_assert_cmpint (changed->method, ==, TAILOR_TRAIN_FULL);
  g_assert_cmpuint (changed->lora_targets, ==,
                    (1u << TAILOR_REF_LORA_DOWN) | (1u << TAILOR_REF_LORA_Q));
  g_assert_true (changed->lora_rslora);
  g_assert_cmpint (changed->schedule, ==, TAILOR_SCHEDULE_LINEAR);
  g_assert_cmpfloat (changed->grad_clip, ==, 0.0f);
  g_assert_true (changed->loss_on_all);
  g_assert_cmpint (changed->max_steps, ==, 7);
  g_assert_false (changed->packing);
}

typedef struct
{
  const char *json;  /* members added to a valid config */
  const char *field; /* what the message must name */
  int code;
} BadCase;

static const BadCase bad_cases[] = {
  { "\"learning_rate\": 0.1", "learning_rate", TAILOR_RUN_CONFIG_ERROR_UNKNOWN_KEY },
  { "\"lora\": {\"ranks\": 8}", "lora.ranks", TAILOR_RUN_CONFIG_ERROR_UNKNOWN_KEY },
  { "\"optimizer\": {\"momentum\": 0.9}", "optimizer.momentum",
    TAILOR_RUN_CONFIG_ERROR_UNKNOWN_KEY },
  { "\"lora\": {\"rank\": 0}", "lora.rank", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"lora\": {\"rank\": 1.5}", "lora.rank", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"lora\": {\"alpha\": 0}", "lora.alpha", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"lora\": {\"dropout\": 1.0}", "lora.dropout", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"lora\": {\"rslora\": 1}", "lora.rslora", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"lora\": {\"targets\": [\"q\", \"qkv\"]}", "qkv", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"lora\": {\"targets\": []}", "lora.targets", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"lora\": 16", "lora", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"optimizer\": {\"lr\": 0}", "optimizer.lr", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"optimizer\": {\"lr\": -1e-4}", "optimizer.lr", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"optimizer\": {\"lr\": \"fast\"}", "optimizer.lr", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"optimizer\": {\"betas\": [0.9]}", "optimizer.betas", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"optimizer\": {\"betas\": [0.9, 1.0]}", "optimizer.betas",
    TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"optimizer\": {\"eps\": 0}", "optimizer.eps", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"optimizer\": {\"weight_decay\": -0.1}", "optimizer.weight_decay",
    TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"optimizer\": {\"schedule\": \"step\"}", "optimizer.schedule",
    TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"optimizer\": {\"warmup_steps\": -1}", "optimizer.warmup_steps",
    TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"optimizer\": {\"grad_clip\": -1}", "optimizer.grad_clip", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"method\": \"qat\"", "method", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"seq_len\": 1", "seq_len", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"batch\": 0", "batch", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"grad_accum\": 0", "grad_accum", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"epochs\": 0", "epochs", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"max_steps\": 0", "max_steps", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"packing\": \"yes\"", "packing", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"loss_on\": \"none\"", "loss_on", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"grad_checkpointing\": null", "grad_checkpointing", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"seed\": -1", "seed", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"device\": \"gpu\"", "device", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"eval_every\": -5", "eval_every", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"checkpoint_every\": 2.5", "checkpoint_every", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"base_sha256\": \"abc\"", "base_sha256", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"eval\": 3", "eval", TAILOR_RUN_CONFIG_ERROR_INVALID },
  { "\"output_dir\": \"\"", "output_dir", TAILOR_RUN_CONFIG_ERROR_INVALID },
};

static void
test_bad_values_name_the_field (Fixture *f, gconstpointer data)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      const BadCase *c = &bad_cases[i];
      g_autoptr (GError) error = NULL;
      g_autofree char *text = config_text (f, f->model, c->json);
      g_autofree char *quoted = g_strdup_printf ("“%s”", c->field);
      g_autoptr (TailorRunConfig) config = tailor_run_config_parse (text, -1, f->dir, &error);

      g_test_message ("%s → %s", c->json, error != NULL ? error->message : "(accepted)");
      g_assert_null (config);
      g_assert_error (error, TAILOR_RUN_CONFIG_ERROR, c->code);
      g_assert_nonnull (strstr (error->message, g_str_has_prefix (c->field, "qkv") ? c->field
                                                                                 : quoted));
    }
}

static void
test_required_and_syntax (Fixture *f, gconstpointer data)
{
  static const struct
  {
    const char *json;
    const char *needle;
    int code;
  } cases[] = {
    { "{\"train\": \"t.jsonl\"}", "“base_model”", TAILOR_RUN_CONFIG_ERROR_MISSING },
    { "{\"base_model\": \"m.gguf\"}", "“train”", TAILOR_RUN_CONFIG_ERROR_MISSING },
    { "{\"base_model\": \"m.gguf\", \"train\": ", "not valid JSON",
      TAILOR_RUN_CONFIG_ERROR_SYNTAX },
    { "[1, 2]", "one JSON object", TAILOR_RUN_CONFIG_ERROR_SYNTAX },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (TailorRunConfig) config = tailor_run_config_parse (cases[i].json, -1, f->dir,
                                                                    &error);

      g_assert_null (config);
      g_assert_error (error, TAILOR_RUN_CONFIG_ERROR, cases[i].code);
      g_assert_nonnull (strstr (error->message, cases[i].needle));
    }
}

/* Parses (which must succeed), then the file checks and the data, which must fail naming
 * field; returns nothing, asserts. */
static void
assert_refused_before_work (Fixture *f, const char *model, const char *extra, const char *field,
                            int code)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = config_text (f, model, extra);
  g_autofree char *quoted = g_strdup_printf ("“%s”", field);
  g_autoptr (TailorRunConfig) config = tailor_run_config_parse (text, -1, f->dir, &error);
  g_autoptr (TailorTrainRun) run = NULL;
  g_autofree char *out_dir = NULL;

  g_assert_no_error (error);
  run = tailor_train_run_new (config, NULL, &error);
  g_test_message ("%s → %s", extra, error != NULL ? error->message : "(accepted)");
  g_assert_null (run);
  g_assert_error (error, TAILOR_RUN_CONFIG_ERROR, code);
  g_assert_nonnull (strstr (error->message, quoted));
  /* nothing was written */
  g_assert_false (g_file_test (config->output_dir, G_FILE_TEST_EXISTS) &&
                  !g_str_equal (field, "output_dir"));
}

static void
test_file_checks (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = g_build_filename (f->dir, "nope.gguf", NULL);
  g_autofree char *sha = tailor_file_sha256 (f->model, NULL, NULL, NULL, &error);
  g_autofree char *pin_ok = g_strdup_printf ("\"base_sha256\": \"%s\"", sha);
  g_autofree char *pin_bad = g_strdup_printf ("\"base_sha256\": \"%064d\"", 0);
  g_autofree char *bad_line = write_text (f->dir, "bad.jsonl", "{\"text\": \"ok\"}\n{oops\n");
  g_autofree char *eval_empty = g_strdup_printf ("\"eval\": \"%s\"", f->empty);
  g_autofree char *train_empty = g_strdup_printf ("\"train\": \"%s\"", f->empty);
  g_autofree char *train_bad = g_strdup_printf ("\"train\": \"%s\"", bad_line);
  g_autoptr (TailorRunConfig) good = NULL;
  g_autoptr (TailorTrainRun) run = NULL;
  g_autofree char *text = NULL;

  g_assert_no_error (error);
  assert_refused_before_work (f, missing, "", "base_model", TAILOR_RUN_CONFIG_ERROR_MISSING);
  assert_refused_before_work (f, f->model, pin_bad, "base_sha256",
                              TAILOR_RUN_CONFIG_ERROR_CHANGED);
  assert_refused_before_work (f, f->model, "\"seq_len\": 512", "seq_len",
                              TAILOR_RUN_CONFIG_ERROR_MODEL);
  assert_refused_before_work (f, f->q8, "\"method\": \"lora\"", "method",
                              TAILOR_RUN_CONFIG_ERROR_MODEL);
  assert_refused_before_work (f, f->q8, "\"method\": \"full\"", "method",
                              TAILOR_RUN_CONFIG_ERROR_MODEL);
  assert_refused_before_work (f, f->model, "\"train\": \"absent.jsonl\"", "train",
                              TAILOR_RUN_CONFIG_ERROR_MISSING);
  assert_refused_before_work (f, f->model, "\"eval\": \"absent.jsonl\"", "eval",
                              TAILOR_RUN_CONFIG_ERROR_MISSING);
  assert_refused_before_work (f, f->model, train_empty, "train", TAILOR_RUN_CONFIG_ERROR_DATA);
  assert_refused_before_work (f, f->model, eval_empty, "eval", TAILOR_RUN_CONFIG_ERROR_DATA);
  assert_refused_before_work (f, f->model, train_bad, "train", TAILOR_RUN_CONFIG_ERROR_DATA);

  /* the same settings with a correct pin are accepted */
  text = config_text (f, f->model, pin_ok);
  good = tailor_run_config_parse (text, -1, f->dir, &error);
  g_assert_no_error (error);
  run = tailor_train_run_new (good, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (run);
  g_assert_cmpint (tailor_train_run_get_n_steps (run), >, 0);
}

int
main (int argc, char *argv[])
{
  g_autofree char *cache = g_dir_make_tmp ("tailor-run-config-cache-XXXXXX", NULL);
  int status;

  /* the SHA-256 cache of the pinned-hash checks stays out of the user's cache */
  g_setenv ("TAILOR_CACHE_DIR", cache, TRUE);
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/run-config/omitted-keys-take-defaults", Fixture, NULL, fixture_setup,
              test_defaults, fixture_teardown);
  g_test_add ("/run-config/design-example-parses-and-round-trips", Fixture, NULL, fixture_setup,
              test_design_example_round_trips, fixture_teardown);
  g_test_add ("/run-config/bad-values-are-refused-naming-the-field", Fixture, NULL,
              fixture_setup, test_bad_values_name_the_field, fixture_teardown);
  g_test_add ("/run-config/required-keys-and-syntax", Fixture, NULL, fixture_setup,
              test_required_and_syntax, fixture_teardown);
  g_test_add ("/run-config/file-model-and-data-checks-refuse-before-work", Fixture, NULL,
              fixture_setup, test_file_checks, fixture_teardown);
  status = g_test_run ();
  remove_tree (cache);
  return status;
}
