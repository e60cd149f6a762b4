/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Inference over the op interface: logits on the CPU backend and on Vulkan (under the
 * validation layer, no message allowed) against the CPU reference, with and without a LoRA
 * adapter, all positions and the last, decoding step by step against the whole sequence, and
 * greedy generation giving the same tokens on every device. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-backend.h"
#include "tailor-cpu-ref.h"
#include "tailor-infer.h"
#include "tailor-sampler.h"
#include "tailor-test-model.h"
#include "tailor-train-ref.h"
#include "tailor-vk-device.h"
#include "tailor-vk-kernels.h"

/* Logit tolerance, relative to the largest |logit| of the reference: the backends sum in
 * other orders than the reference (blocked GEMMs, tiled online-softmax attention, Vulkan's
 * split-K reductions) through 2 layers and the output projection, so values agree to fp32
 * rounding of long sums (measured ~1e-6 relative, see the test log), not bit for bit.
 * Quantized weights are dequantized exactly by every implementation, so the bound is the
 * same for every type. */
#define TOL_LOGITS 1e-4

#define N_TOKENS 13
#define N_PROMPT 5  /* the step-by-step case: a prompt batch, then one token at a time */
#define N_GREEDY 12

typedef struct
{
  TailorArch arch;
  TailorFileType ftype;
} ModelCase;

typedef struct
{
  char *dir;
  TailorModel *model;
  TailorRefAdapter *adapter; /* rank 4 on every target, B random so that it matters */
  gint32 tokens[N_TOKENS];
} Fixture;

/* One Vulkan backend for the whole program (instance, device and pipelines made once);
 * NULL when the loader lists no device. */
static TailorBackend *vk_backend;

static void
assert_no_validation_messages (void)
{
  TailorVkContext *ctx = tailor_backend_vk_get_context (vk_backend);
  g_auto (GStrv) messages = tailor_vk_context_get_messages (ctx);

  g_assert_true (tailor_vk_context_get_validation (ctx));
  for (guint i = 0; messages[i] != NULL; i++)
    g_test_message ("validation: %s", messages[i]);
  g_assert_cmpuint (g_strv_length (messages), ==, 0);
}

/* |got − want| ≤ TOL_LOGITS · max |want| everywhere. */
static void
assert_logits_close (const float *got, const float *want, gsize n, const char *what)
{
  double scale = 1e-3;
  double worst = 0.0;
  gsize worst_i = 0;

  for (gsize i = 0; i < n; i++)
    scale = MAX (scale, fabs ((double) want[i]));
  for (gsize i = 0; i < n; i++)
    {
      double d = fabs ((double) got[i] - want[i]);

      g_assert_false (isnan (got[i]));
      if (d > worst)
        {
          worst = d;
          worst_i = i;
        }
    }
  g_test_message ("%s: worst relative difference %.2g (allowed %.2g)", what, worst / scale,
                  TOL_LOGITS);
  if (worst > TOL_LOGITS * scale)
    g_error ("%s: logit %" G_GSIZE_FORMAT " is %.9g, the reference %.9g (difference %.3g, "
             "allowed %.3g)",
             what, worst_i, got[worst_i], want[worst_i], worst, TOL_LOGITS * scale);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const ModelCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  TailorTestModelParams p;

  f->dir = g_dir_make_tmp ("test-infer-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (f->dir, "model.gguf", NULL);
  tailor_test_model_params_init (&p, c->arch);
  p.ftype = c->ftype;
  g_assert_true (tailor_test_model_write (&p, path, &error));
  g_assert_no_error (error);
  f->model = tailor_model_load (path, &error);
  g_assert_no_error (error);

  f->adapter = tailor_ref_adapter_new (f->model, TAILOR_REF_LORA_ALL, 4, 8.0f, FALSE, 0.0f, 3);
  for (int l = 0; l < f->adapter->n_layer; l++)
    for (int t = 0; t < TAILOR_REF_LORA_N_TARGETS; t++)
      {
        TailorRefLora *lora = tailor_ref_adapter_get (f->adapter, l, t);

        for (int i = 0; i < lora->out * lora->rank; i++)
          lora->b[i] = (float) g_rand_double_range (rand, -0.05, 0.05);
      }
  for (int i = 0; i < N_TOKENS; i++)
    f->tokens[i] = (gint32) g_rand_int_range (rand, 0, (gint32) f->model->hp.n_vocab);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "model.gguf", NULL);

  g_clear_pointer (&f->adapter, tailor_ref_adapter_free);
  g_clear_pointer (&f->model, tailor_model_unref);
  g_remove (path);
  g_rmdir (f->dir);
  g_free (f->dir);
}

/* The backend of a device name: the CPU backend (made per test: it is cheap) or the program's
 * Vulkan backend; NULL (test skipped) when there is no Vulkan device. */
static TailorBackend *
backend_for (const char *device, TailorBackend **owned)
{
  g_autoptr (GError) error = NULL;

  *owned = NULL;
  if (g_str_equal (device, "vulkan"))
    {
      if (vk_backend == NULL)
        g_test_skip ("no Vulkan device");
      return vk_backend;
    }
  *owned = tailor_backend_new ("cpu", &error);
  g_assert_no_error (error);
  return *owned;
}

/* The reference's logits of every position, with or without the adapter. */
static float *
reference_logits (Fixture *f, gboolean with_adapter)
{
  g_autoptr (GError) error = NULL;
  float *want = g_new (float, (gsize) N_TOKENS * f->model->hp.n_vocab);

  if (with_adapter)
    g_assert_true (tailor_ref_adapter_logits (f->model, f->adapter, f->tokens, N_TOKENS, want,
                                              &error));
  else
    {
      g_autoptr (TailorRefContext) ref = tailor_ref_context_new (f->model, N_TOKENS, &error);

      g_assert_no_error (error);
      g_assert_true (tailor_ref_context_eval (ref, f->tokens, N_TOKENS, TRUE, want, &error));
    }
  g_assert_no_error (error);
  return want;
}

/* All positions, the last position, and a prompt followed by single tokens (each step's logits
 * against the reference's row of that position) on one backend. */
static void
check_device (Fixture *f, const char *device, gboolean with_adapter)
{
  g_autoptr (TailorBackend) owned = NULL;
  TailorBackend *backend = backend_for (device, &owned);
  g_autoptr (TailorInfer) infer = NULL;
  g_autoptr (GError) error = NULL;
  gsize V = f->model->hp.n_vocab;
  g_autofree float *want = NULL;
  g_autofree float *got = g_new (float, N_TOKENS * V);
  g_autofree char *what = NULL;

  if (backend == NULL)
    return;
  want = reference_logits (f, with_adapter);
  infer = tailor_infer_new (backend, f->model, with_adapter ? f->adapter : NULL, 32, &error);
  g_assert_no_error (error);

  g_assert_true (tailor_infer_eval (infer, f->tokens, N_TOKENS, TRUE, got, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (tailor_infer_get_n_past (infer), ==, N_TOKENS);
  what = g_strdup_printf ("%s, all positions", device);
  assert_logits_close (got, want, N_TOKENS * V, what);

  tailor_infer_reset (infer);
  g_assert_true (tailor_infer_eval (infer, f->tokens, N_TOKENS, FALSE, got, &error));
  g_assert_no_error (error);
  g_free (what);
  what = g_strdup_printf ("%s, last position", device);
  assert_logits_close (got, want + (N_TOKENS - 1) * V, V, what);

  tailor_infer_reset (infer);
  g_assert_true (tailor_infer_eval (infer, f->tokens, N_PROMPT, FALSE, got, &error));
  g_assert_no_error (error);
  g_free (what);
  what = g_strdup_printf ("%s, step by step", device);
  assert_logits_close (got, want + (N_PROMPT - 1) * V, V, what);
  for (int t = N_PROMPT; t < N_TOKENS; t++)
    {
      g_assert_true (tailor_infer_eval (infer, f->tokens + t, 1, FALSE, got, &error));
      g_assert_no_error (error);
      assert_logits_close (got, want + t * V, V, what);
    }
  if (g_str_equal (device, "vulkan"))
    assert_no_validation_messages ();
}

static void
test_cpu_matches_reference (Fixture *f, gconstpointer data)
{
  check_device (f, "cpu", FALSE);
}

static void
test_cpu_with_adapter_matches_reference (Fixture *f, gconstpointer data)
{
  check_device (f, "cpu", TRUE);
}

static void
test_vulkan_matches_reference (Fixture *f, gconstpointer data)
{
  check_device (f, "vulkan", FALSE);
}

static void
test_vulkan_with_adapter_matches_reference (Fixture *f, gconstpointer data)
{
  check_device (f, "vulkan", TRUE);
}

/* Greedy tokens after the prompt on one device: the prompt in one batch, then one token per
 * step from the cache. NULL device: the CPU reference. */
static GArray *
greedy (Fixture *f, const char *device)
{
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorBackend) owned = NULL;
  g_autoptr (TailorInfer) infer = NULL;
  g_autoptr (TailorRefContext) ref = NULL;
  guint V = f->model->hp.n_vocab;
  g_autofree float *logits = g_new (float, V);
  gint32 next;

  if (device == NULL)
    {
      ref = tailor_ref_context_new (f->model, N_PROMPT + N_GREEDY, &error);
      g_assert_no_error (error);
      g_assert_true (tailor_ref_context_eval (ref, f->tokens, N_PROMPT, FALSE, logits, &error));
    }
  else
    {
      TailorBackend *backend = backend_for (device, &owned);

      if (backend == NULL)
        return NULL;
      infer = tailor_infer_new (backend, f->model, NULL, N_PROMPT + N_GREEDY, &error);
      g_assert_no_error (error);
      g_assert_true (tailor_infer_eval (infer, f->tokens, N_PROMPT, FALSE, logits, &error));
    }
  g_assert_no_error (error);
  for (;;)
    {
      next = tailor_argmax (logits, V);
      g_array_append_val (out, next);
      if (out->len == N_GREEDY)
        break;
      if (ref != NULL)
        g_assert_true (tailor_ref_context_eval (ref, &next, 1, FALSE, logits, &error));
      else
        g_assert_true (tailor_infer_eval (infer, &next, 1, FALSE, logits, &error));
      g_assert_no_error (error);
    }
  return g_steal_pointer (&out);
}

static void
test_greedy_same_tokens_everywhere (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) want = greedy (f, NULL);
  const char *devices[] = { "cpu", "vulkan" };

  for (guint d = 0; d < G_N_ELEMENTS (devices); d++)
    {
      g_autoptr (GArray) got = greedy (f, devices[d]);

      if (got == NULL)
        continue;
      g_test_message ("%s: %u greedy tokens", devices[d], got->len);
      g_assert_cmpmem (got->data, got->len * sizeof (gint32), want->data,
                       want->len * sizeof (gint32));
    }
}

static void
test_rejects_full_context_and_bad_token (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorBackend) owned = NULL;
  TailorBackend *backend = backend_for ("cpu", &owned);
  g_autoptr (TailorInfer) infer = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree float *logits = g_new (float, f->model->hp.n_vocab);
  gint32 bad = (gint32) f->model->hp.n_vocab;

  infer = tailor_infer_new (backend, f->model, NULL, 4, &error);
  g_assert_no_error (error);
  g_assert_false (tailor_infer_eval (infer, f->tokens, 5, FALSE, logits, &error));
  g_assert_error (error, TAILOR_INFER_ERROR, TAILOR_INFER_ERROR_CONTEXT_FULL);
  g_assert_nonnull (strstr (error->message, "context of 4 positions"));
  g_clear_error (&error);
  g_assert_false (tailor_infer_eval (infer, &bad, 1, FALSE, logits, &error));
  g_assert_error (error, TAILOR_INFER_ERROR, TAILOR_INFER_ERROR_INVALID_TOKEN);
  g_assert_cmpuint (tailor_infer_get_n_past (infer), ==, 0);
}

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
        g_remove (child);
    }
  g_rmdir (path);
}

int
main (int argc, char **argv)
{
  static const ModelCase cases[] = {
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32 },
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0 },
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q4_K_M },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_ALL_F32 },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q8_0 },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q4_K_M },
  };
  g_autofree char *tmp = g_dir_make_tmp ("test-infer-cache-XXXXXX", NULL);
  g_autofree char *cache = g_build_filename (tmp, "cache", NULL);
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  /* Not G_TEST_OPTION_ISOLATE_DIRS: the Vulkan loader finds drivers and layers through
   * XDG_DATA_DIRS. Only the pipeline cache's home is private. */
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  g_setenv ("TAILOR_VK_VALIDATION", "1", TRUE);
  g_unsetenv ("TAILOR_CACHE_DIR");
  g_test_init (&argc, &argv, NULL);
  /* lavapipe keeps compiled kernels in Mesa's shader cache, not in the pipeline cache: one in
   * the build tree spares later runs the LLVM compiles (about half of this program's time). */
  if (g_getenv ("MESA_SHADER_CACHE_DIR") == NULL)
    {
      g_autofree char *mesa = g_build_filename (g_test_get_dir (G_TEST_BUILT),
                                                "infer-mesa-shader-cache", NULL);

      g_setenv ("MESA_SHADER_CACHE_DIR", mesa, TRUE);
    }

  /* Only a machine whose loader lists no device at all may skip the Vulkan cases. */
  devices = tailor_vk_enumerate_devices (NULL);
  if (devices != NULL)
    {
      vk_backend = tailor_backend_new ("vulkan", &error);
      g_assert_no_error (error);
    }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const ModelCase *c = &cases[i];
      g_autofree char *name = g_strdup_printf ("%s-%s", tailor_arch_name (c->arch),
                                               tailor_ftype_name (c->ftype));
      g_autofree char *cpu = g_strdup_printf ("/infer/cpu/matches-reference/%s", name);
      g_autofree char *cpu_lora =
        g_strdup_printf ("/infer/cpu/with-adapter-matches-reference/%s", name);
      g_autofree char *vk = g_strdup_printf ("/infer/vulkan/matches-reference/%s", name);
      g_autofree char *vk_lora =
        g_strdup_printf ("/infer/vulkan/with-adapter-matches-reference/%s", name);
      g_autofree char *gen = g_strdup_printf ("/infer/greedy-same-tokens-on-every-device/%s", name);

      g_test_add (cpu, Fixture, c, fixture_setup, test_cpu_matches_reference, fixture_teardown);
      g_test_add (cpu_lora, Fixture, c, fixture_setup, test_cpu_with_adapter_matches_reference,
                  fixture_teardown);
      g_test_add (vk, Fixture, c, fixture_setup, test_vulkan_matches_reference, fixture_teardown);
      g_test_add (vk_lora, Fixture, c, fixture_setup, test_vulkan_with_adapter_matches_reference,
                  fixture_teardown);
      g_test_add (gen, Fixture, c, fixture_setup, test_greedy_same_tokens_everywhere,
                  fixture_teardown);
    }
  g_test_add ("/infer/rejects-full-context-and-bad-token", Fixture, &cases[0], fixture_setup,
              test_rejects_full_context_and_bad_token, fixture_teardown);
  status = g_test_run ();
  g_clear_pointer (&vk_backend, tailor_backend_free);
  remove_tree (tmp);
  return status;
}
