/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The whole-model reference training step on tiny made-up models: gradients against finite
 * differences of the whole-model loss (LoRA over F32, Q8_0 and Q4_K_M bases of both
 * architectures; every weight of F32 models), checkpointing, learning a synthetic task,
 * determinism, and adapters that leave a model exactly as it was. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "tailor-parallel.h"
#include "tailor-test-model.h"
#include "tailor-train-ref.h"

#define SEQ_T 12

typedef struct
{
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("tailor-train-ref-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autoptr (GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (f->dir);
  g_free (f->dir);
}

static TailorModel *
make_model (Fixture *f, TailorArch arch, TailorFileType ftype)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = g_strdup_printf ("%s-%d.gguf", tailor_arch_name (arch), ftype);
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  TailorTestModelParams p;
  TailorModel *m;

  tailor_test_model_params_init (&p, arch);
  p.ftype = ftype;
  p.n_vocab = 300;
  /* Larger than the default 0.02 so that attention and the feed-forward blocks shape the
   * output and the gradients through them are far from zero. */
  p.weight_std = ftype == TAILOR_FTYPE_MOSTLY_Q4_K_M ? 0.05f : 0.1f;
  g_assert_true (tailor_test_model_write (&p, path, &error));
  g_assert_no_error (error);
  m = tailor_model_load (path, &error);
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
typedef struct
{
  gint32 tokens[SEQ_T];
  gint32 targets[SEQ_T];
  guint8 mask[SEQ_T];
} Sequence;

static void
sequence_init (Sequence *s, guint n_vocab, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  gint32 all[SEQ_T + 1];
  int t;

  for (t = 0; t <= SEQ_T; t++)
    all[t] = g_rand_int_range (rand, 0, (gint32) n_vocab);
  for (t = 0; t < SEQ_T; t++)
    {
      s->tokens[t] = all[t];
      s->targets[t] = all[t + 1];
      s->mask[t] = t >= 2 && t != 7; /* as a prompt and a padding position would be */
    }
}

static double
loss_of (TailorRefTrainer *trainer, const Sequence *s)
{
  g_autoptr (GError) error = NULL;
  double loss = 0.0;

  g_assert_true (
    tailor_ref_trainer_loss (trainer, s->tokens, s->targets, s->mask, SEQ_T, TRUE, &loss, &error));
  g_assert_no_error (error);
  return loss;
}

/* Entries of a parameter to check: the three largest gradients (where the signal is
 * clearest) and three at random. */
static void
pick_entries (const TailorRefParam *p, GRand *rand, gsize *idx, int n_top, int n_random)
{
  int k;
  gsize i;

  for (k = 0; k < n_top; k++)
    {
      gsize best = 0;
      float best_abs = -1.0f;
      int j;

      for (i = 0; i < p->n; i++)
        {
          gboolean taken = FALSE;

          for (j = 0; j < k; j++)
            taken |= idx[j] == i;
          if (!taken && fabsf (p->grad[i]) > best_abs)
            {
              best = i;
              best_abs = fabsf (p->grad[i]);
            }
        }
      idx[k] = best;
    }
  for (k = n_top; k < n_top + n_random; k++)
    idx[k] = (gsize) g_rand_int_range (rand, 0, (gint32) p->n);
}

/* The whole-model gradient of every parameter against central differences of the
 * whole-model loss at sampled entries.
 *
 * Tolerance: the loss is an fp32 forward through every layer, so changing one parameter
 * moves every downstream activation, and the loss carries rounding noise of a few 1e-7
 * relative (~1e-6 absolute for a loss near log V ≈ 6). With the step h = 1e-2 · max(1, |x|)
 * that noise is ~1e-5 … 1e-4 in the difference quotient, and the truncation error
 * h²/6 · L''' is of the same order for these smooth functions. Each entry must satisfy
 * |g − fd| ≤ 1e-4 + 5e-3 · |fd| (the worst entry measured uses a quarter of it). The
 * largest gradient of every tensor is asserted to exceed 1e-3 (measured: 1e-2 … 1e-1), so
 * a missing term, a wrong scale or a transposed index (errors of the order of g itself)
 * cannot pass, while the noise floor stays below the bound. */
static void
assert_grads_match_fd (TailorRefTrainer *trainer, const Sequence *s, const char *what)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (99);
  g_autoptr (GError) error = NULL;
  int n_params = tailor_ref_trainer_get_n_params (trainer);
  double worst = 0.0;
  double smallest_top = G_MAXDOUBLE;
  int n_checked = 0;
  int i;
  int k;

  tailor_ref_trainer_zero_grad (trainer);
  g_assert_true (tailor_ref_trainer_forward_backward (trainer, s->tokens, s->targets, s->mask,
                                                      SEQ_T, 1.0f, NULL, &error));
  g_assert_no_error (error);
  for (i = 0; i < n_params; i++)
    {
      TailorRefParam *p = tailor_ref_trainer_get_param (trainer, i);
      gsize idx[6];

      pick_entries (p, rand, idx, 3, 3);
      /* the largest entry of every tensor must stand well above the bound's floor, or
       * the check would say nothing about that tensor */
      g_assert_cmpfloat (fabsf (p->grad[idx[0]]), >, 1e-3);
      smallest_top = MIN (smallest_top, fabsf (p->grad[idx[0]]));
      for (k = 0; k < 6; k++)
        {
          float x0 = p->value[idx[k]];
          float h = 1e-2f * MAX (1.0f, fabsf (x0));
          float xp = x0 + h;
          float xm = x0 - h;
          double lp;
          double lm;
          double fd;
          double err;
          double bound;

          p->value[idx[k]] = xp;
          lp = loss_of (trainer, s);
          p->value[idx[k]] = xm;
          lm = loss_of (trainer, s);
          p->value[idx[k]] = x0;
          fd = (lp - lm) / ((double) xp - xm);
          err = fabs (p->grad[idx[k]] - fd);
          bound = 1e-4 + 5e-3 * fabs (fd);
          if (err > bound)
            g_error ("%s: %s[%" G_GSIZE_FORMAT "] has gradient %.7g but finite differences "
                     "give %.7g (bound %.3g)",
                     what, p->name, idx[k], p->grad[idx[k]], fd, bound);
          worst = MAX (worst, err / bound);
          n_checked++;
        }
    }
  g_test_message ("%s: %d entries of %d tensors, worst error %.2f of the bound; the largest "
                  "gradient of each tensor is at least %.3g",
                  what, n_checked, n_params, worst, smallest_top);
}

/* ---- tests ---- */

static void
test_fresh_adapter_leaves_logits_bit_identical (Fixture *f, gconstpointer data)
{
  static const TailorArch archs[] = { TAILOR_ARCH_LLAMA, TAILOR_ARCH_QWEN2 };
  static const TailorFileType ftypes[] = { TAILOR_FTYPE_ALL_F32, TAILOR_FTYPE_MOSTLY_Q4_K_M };
  guint i;
  guint j;

  for (i = 0; i < G_N_ELEMENTS (archs); i++)
    for (j = 0; j < G_N_ELEMENTS (ftypes); j++)
      {
        g_autoptr (GError) error = NULL;
        g_autoptr (TailorModel) model = make_model (f, archs[i], ftypes[j]);
        g_autoptr (TailorRefAdapter) adapter =
          tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, 4, 8.0f, FALSE, 0.1f, 7);
        g_autoptr (TailorRefContext) ctx = tailor_ref_context_new (model, 64, &error);
        gsize n = (gsize) SEQ_T * model->hp.n_vocab;
        g_autofree float *plain = g_new (float, n);
        g_autofree float *with_adapter = g_new (float, n);
        g_autofree float *no_adapter = g_new (float, n);
        Sequence s;

        g_assert_no_error (error);
        sequence_init (&s, model->hp.n_vocab, 1);
        g_assert_true (tailor_ref_context_eval (ctx, s.tokens, SEQ_T, TRUE, plain, &error));
        g_assert_true (
          tailor_ref_adapter_logits (model, adapter, s.tokens, SEQ_T, with_adapter, &error));
        g_assert_true (
          tailor_ref_adapter_logits (model, NULL, s.tokens, SEQ_T, no_adapter, &error));
        g_assert_no_error (error);
        g_assert_cmpmem (plain, n * sizeof (float), with_adapter, n * sizeof (float));
        g_assert_cmpmem (plain, n * sizeof (float), no_adapter, n * sizeof (float));
      }
}

static void
test_kaiming_init_is_seeded_and_bounded (Fixture *f, gconstpointer data)
{
  g_autoptr (TailorModel) model = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32);
  g_autoptr (TailorRefAdapter) a1 = tailor_ref_adapter_new (
    model, (1u << TAILOR_REF_LORA_Q) | (1u << TAILOR_REF_LORA_DOWN), 8, 16.0f, TRUE, 0.0f, 5);
  g_autoptr (TailorRefAdapter) a2 = tailor_ref_adapter_new (
    model, (1u << TAILOR_REF_LORA_Q) | (1u << TAILOR_REF_LORA_DOWN), 8, 16.0f, TRUE, 0.0f, 5);
  g_autoptr (TailorRefAdapter) a3 = tailor_ref_adapter_new (
    model, (1u << TAILOR_REF_LORA_Q) | (1u << TAILOR_REF_LORA_DOWN), 8, 16.0f, TRUE, 0.0f, 6);
  TailorRefLora *q = tailor_ref_adapter_get (a1, 1, TAILOR_REF_LORA_Q);
  TailorRefLora *down = tailor_ref_adapter_get (a1, 0, TAILOR_REF_LORA_DOWN);
  TailorRefLora *loras[2] = { q, down };
  guint i;

  g_assert_null (tailor_ref_adapter_get (a1, 0, TAILOR_REF_LORA_K));
  g_assert_nonnull (q);
  g_assert_nonnull (down);
  g_assert_cmpint (q->in, ==, model->hp.n_embd);
  g_assert_cmpint (down->in, ==, model->hp.layers[0].n_ff);
  g_assert_cmpint (down->out, ==, model->hp.n_embd);
  for (i = 0; i < G_N_ELEMENTS (loras); i++)
    {
      TailorRefLora *l = loras[i];
      gsize n = (gsize) l->rank * l->in;
      double bound = 1.0 / sqrt (l->in);
      double sum = 0.0;
      double sum2 = 0.0;
      gsize j;

      for (j = 0; j < n; j++)
        {
          g_assert_cmpfloat (fabs (l->a[j]), <=, bound);
          sum += l->a[j];
          sum2 += (double) l->a[j] * l->a[j];
        }
      /* U(−b, b): mean 0, variance b²/3; n ≥ 512 draws, so 5σ of the estimates */
      g_assert_cmpfloat (fabs (sum / n), <, 5 * bound / sqrt (3.0 * n));
      g_assert_cmpfloat (fabs (sum2 / n - bound * bound / 3), <, 5 * bound * bound * 0.3 / sqrt (n));
      for (j = 0; j < (gsize) l->out * l->rank; j++)
        g_assert_cmpfloat (l->b[j], ==, 0.0f);
    }
  g_assert_cmpmem (q->a, sizeof (float) * q->rank * q->in,
                   tailor_ref_adapter_get (a2, 1, TAILOR_REF_LORA_Q)->a,
                   sizeof (float) * q->rank * q->in);
  g_assert_true (memcmp (q->a, tailor_ref_adapter_get (a3, 1, TAILOR_REF_LORA_Q)->a,
                         sizeof (float) * q->rank * q->in) != 0);
}

static void
randomise_b (TailorRefAdapter *adapter, float range, guint32 seed)
{
  int i;

  for (i = 0; i < adapter->n_layer * TAILOR_REF_LORA_N_TARGETS; i++)
    if (adapter->lora[i].rank > 0)
      fill_uniform (adapter->lora[i].b, (gsize) adapter->lora[i].out * adapter->lora[i].rank,
                    -range, range, seed + i);
}

static void
test_adapter_logits_equal_merged_weights (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = make_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_ALL_F32);
  g_autoptr (TailorRefAdapter) adapter =
    tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, 4, 8.0f, TRUE, 0.5f, 3);
  g_autoptr (TailorRefTrainer) merged = tailor_ref_trainer_new (model, NULL, &error);
  gsize n = (gsize) SEQ_T * model->hp.n_vocab;
  g_autofree float *want = g_new (float, n);
  g_autofree float *got = g_new (float, n);
  g_autofree float *plain = g_new (float, n);
  double max_diff = 0.0;
  double max_change = 0.0;
  Sequence s;
  int p;
  gsize i;

  g_assert_no_error (error);
  randomise_b (adapter, 0.2f, 10);
  sequence_init (&s, model->hp.n_vocab, 2);
  g_assert_true (tailor_ref_trainer_logits (merged, s.tokens, SEQ_T, plain, &error));
  /* W' = W + scale · B·A, written into the full fine-tuning copy of the weights; dropout
   * (0.5 here) must not apply outside training */
  for (p = 0; p < tailor_ref_trainer_get_n_params (merged); p++)
    {
      TailorRefParam *param = tailor_ref_trainer_get_param (merged, p);
      int l;
      int t;

      for (l = 0; l < adapter->n_layer; l++)
        for (t = 0; t < TAILOR_REF_LORA_N_TARGETS; t++)
          {
            g_autofree char *name =
              g_strdup_printf ("blk.%d.%s.weight", l, tailor_ref_lora_target_tensor (t));
            TailorRefLora *lora = tailor_ref_adapter_get (adapter, l, t);
            float scale = tailor_ref_lora_scale (lora->alpha, lora->rank, lora->rslora);
            int o;
            int c;
            int k;

            if (strcmp (name, param->name) != 0)
              continue;
            for (o = 0; o < lora->out; o++)
              for (c = 0; c < lora->in; c++)
                {
                  double d = 0.0;

                  for (k = 0; k < lora->rank; k++)
                    d += (double) lora->b[o * lora->rank + k] * lora->a[k * lora->in + c];
                  param->value[(gsize) o * lora->in + c] += (float) (scale * d);
                }
          }
    }
  g_assert_true (tailor_ref_trainer_logits (merged, s.tokens, SEQ_T, want, &error));
  g_assert_true (tailor_ref_adapter_logits (model, adapter, s.tokens, SEQ_T, got, &error));
  g_assert_no_error (error);
  for (i = 0; i < n; i++)
    {
      max_diff = MAX (max_diff, fabs ((double) want[i] - got[i]));
      max_change = MAX (max_change, fabs ((double) want[i] - plain[i]));
    }
  g_test_message ("adapter vs merged: max |Δ| %.3g, the adapter moves logits by up to %.3g",
                  max_diff, max_change);
  /* the adapter must matter, and the two roads differ only by fp32 rounding */
  g_assert_cmpfloat (max_change, >, 0.1);
  g_assert_cmpfloat (max_diff, <, 1e-4 * MAX (1.0, max_change));
}

typedef struct
{
  TailorArch arch;
  TailorFileType ftype;
  gboolean rslora;
  float dropout;
} GradCase;

static void
test_lora_gradients_match_fd (Fixture *f, gconstpointer data)
{
  const GradCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = make_model (f, c->arch, c->ftype);
  g_autoptr (TailorRefAdapter) adapter =
    tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, 4, 8.0f, c->rslora, c->dropout, 11);
  g_autoptr (TailorRefTrainer) trainer = tailor_ref_trainer_new (model, adapter, &error);
  g_autofree char *what = g_strdup_printf ("LoRA over %s %s", tailor_arch_name (c->arch),
                                           c->ftype == TAILOR_FTYPE_ALL_F32    ? "F32"
                                           : c->ftype == TAILOR_FTYPE_MOSTLY_Q8_0 ? "Q8_0"
                                                                                 : "Q4_K_M");
  Sequence s;

  g_assert_no_error (error);
  g_assert_cmpint (tailor_ref_trainer_get_n_params (trainer), ==,
                   2 * TAILOR_REF_LORA_N_TARGETS * (int) model->hp.n_layer);
  /* B = 0 would make every dA zero: give B values so both are tested */
  randomise_b (adapter, 0.2f, 20);
  tailor_ref_trainer_set_dropout_seed (trainer, 42);
  tailor_ref_trainer_set_vocab_chunk (trainer, 100); /* does not divide the vocabulary */
  sequence_init (&s, model->hp.n_vocab, 3);
  assert_grads_match_fd (trainer, &s, what);
}

static void
test_full_ft_gradients_match_fd (Fixture *f, gconstpointer data)
{
  const GradCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = make_model (f, c->arch, TAILOR_FTYPE_ALL_F32);
  g_autoptr (TailorRefTrainer) trainer = tailor_ref_trainer_new (model, NULL, &error);
  g_autofree char *what = g_strdup_printf ("full fine-tuning of %s", tailor_arch_name (c->arch));
  Sequence s;

  g_assert_no_error (error);
  /* every tensor of the file except rope factors is a parameter */
  g_assert_cmpint (tailor_ref_trainer_get_n_params (trainer), ==,
                   (model->hp.tied_output ? 2 : 3) +
                     (int) model->hp.n_layer * (c->arch == TAILOR_ARCH_QWEN2 ? 12 : 9));
  tailor_ref_trainer_set_vocab_chunk (trainer, 64);
  sequence_init (&s, model->hp.n_vocab, 4);
  assert_grads_match_fd (trainer, &s, what);
}

/* Gradients with and without checkpointing, compared bit for bit. */
static void
assert_checkpointing_invisible (TailorRefTrainer *trainer, int n_params, const Sequence *s)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) saved = g_ptr_array_new_with_free_func (g_free);
  double loss_plain = 0.0;
  double loss_ckpt = 0.0;
  int i;

  tailor_ref_trainer_zero_grad (trainer);
  g_assert_true (tailor_ref_trainer_forward_backward (trainer, s->tokens, s->targets, s->mask,
                                                      SEQ_T, 1.0f, &loss_plain, &error));
  for (i = 0; i < n_params; i++)
    {
      TailorRefParam *p = tailor_ref_trainer_get_param (trainer, i);

      g_ptr_array_add (saved, g_memdup2 (p->grad, p->n * sizeof (float)));
    }
  tailor_ref_trainer_set_checkpointing (trainer, TRUE);
  tailor_ref_trainer_zero_grad (trainer);
  g_assert_true (tailor_ref_trainer_forward_backward (trainer, s->tokens, s->targets, s->mask,
                                                      SEQ_T, 1.0f, &loss_ckpt, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (loss_plain, ==, loss_ckpt);
  for (i = 0; i < n_params; i++)
    {
      TailorRefParam *p = tailor_ref_trainer_get_param (trainer, i);

      g_assert_cmpmem (saved->pdata[i], p->n * sizeof (float), p->grad, p->n * sizeof (float));
    }
}

static void
test_checkpointing_gives_identical_gradients (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) q4 = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q4_K_M);
  g_autoptr (TailorModel) f32 = make_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_ALL_F32);
  g_autoptr (TailorRefAdapter) adapter =
    tailor_ref_adapter_new (q4, TAILOR_REF_LORA_ALL, 4, 8.0f, FALSE, 0.1f, 12);
  g_autoptr (TailorRefTrainer) lora = tailor_ref_trainer_new (q4, adapter, &error);
  g_autoptr (TailorRefTrainer) full = tailor_ref_trainer_new (f32, NULL, &error);
  Sequence s;

  g_assert_no_error (error);
  randomise_b (adapter, 0.2f, 30);
  tailor_ref_trainer_set_dropout_seed (lora, 5);
  sequence_init (&s, q4->hp.n_vocab, 5);
  assert_checkpointing_invisible (lora, tailor_ref_trainer_get_n_params (lora), &s);
  sequence_init (&s, f32->hp.n_vocab, 6);
  assert_checkpointing_invisible (full, tailor_ref_trainer_get_n_params (full), &s);
}

static void
test_gradients_do_not_depend_on_thread_count (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = make_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q8_0);
  g_autoptr (TailorRefAdapter) adapter =
    tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, 4, 8.0f, FALSE, 0.1f, 13);
  g_autoptr (TailorRefTrainer) trainer = tailor_ref_trainer_new (model, adapter, &error);
  g_autoptr (GPtrArray) saved = g_ptr_array_new_with_free_func (g_free);
  guint n_threads = tailor_parallel_get_n_threads ();
  int n_params;
  int i;
  Sequence s;

  g_assert_no_error (error);
  randomise_b (adapter, 0.2f, 40);
  sequence_init (&s, model->hp.n_vocab, 9);
  n_params = tailor_ref_trainer_get_n_params (trainer);
  tailor_parallel_set_n_threads (1);
  g_assert_true (tailor_ref_trainer_forward_backward (trainer, s.tokens, s.targets, s.mask, SEQ_T,
                                                      1.0f, NULL, &error));
  for (i = 0; i < n_params; i++)
    {
      TailorRefParam *p = tailor_ref_trainer_get_param (trainer, i);

      g_ptr_array_add (saved, g_memdup2 (p->grad, p->n * sizeof (float)));
    }
  tailor_parallel_set_n_threads (3);
  tailor_ref_trainer_zero_grad (trainer);
  g_assert_true (tailor_ref_trainer_forward_backward (trainer, s.tokens, s.targets, s.mask, SEQ_T,
                                                      1.0f, NULL, &error));
  tailor_parallel_set_n_threads (n_threads);
  g_assert_no_error (error);
  for (i = 0; i < n_params; i++)
    {
      TailorRefParam *p = tailor_ref_trainer_get_param (trainer, i);

      g_assert_cmpmem (saved->pdata[i], p->n * sizeof (float), p->grad, p->n * sizeof (float));
    }
}

/* ---- training ---- */

#define TASK_T 24
#define TASK_SYMBOLS 12

/* "After token a always comes token b": sequences walk a fixed cycle through TASK_SYMBOLS
 * vocabulary entries from a random start, so every next token is determined by the
 * current one; the loss counts from the second position on. */
static void
task_sequence (guint n_vocab, GRand *rand, gint32 *tokens, gint32 *targets, guint8 *mask)
{
  int start = g_rand_int_range (rand, 0, TASK_SYMBOLS);
  int t;

  for (t = 0; t < TASK_T; t++)
    {
      /* symbols spread over the vocabulary, away from the special tokens at the start */
      tokens[t] = (gint32) (n_vocab / 3 + 7 * ((start + t) % TASK_SYMBOLS));
      targets[t] = (gint32) (n_vocab / 3 + 7 * ((start + t + 1) % TASK_SYMBOLS));
      mask[t] = t >= 1;
    }
}

static double
held_out_loss (TailorRefTrainer *trainer, guint n_vocab)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (1000);
  g_autoptr (GError) error = NULL;
  gint32 tokens[TASK_T];
  gint32 targets[TASK_T];
  guint8 mask[TASK_T];
  double sum = 0.0;
  int i;

  for (i = 0; i < 4; i++)
    {
      double loss = 0.0;

      task_sequence (n_vocab, rand, tokens, targets, mask);
      g_assert_true (
        tailor_ref_trainer_loss (trainer, tokens, targets, mask, TASK_T, FALSE, &loss, &error));
      g_assert_no_error (error);
      sum += loss;
    }
  return sum / 4;
}

/* n_steps of AdamW on the task; returns the held-out loss after. */
static double
train_task (TailorRefTrainer *trainer, guint n_vocab, int n_steps, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr (GError) error = NULL;
  const TailorRefAdamW opt = { 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 1.0f };
  gint32 tokens[TASK_T];
  gint32 targets[TASK_T];
  guint8 mask[TASK_T];
  int step;

  for (step = 0; step < n_steps; step++)
    {
      tailor_ref_trainer_zero_grad (trainer);
      tailor_ref_trainer_set_dropout_seed (trainer, seed * 7919u + (guint32) step);
      task_sequence (n_vocab, rand, tokens, targets, mask);
      g_assert_true (tailor_ref_trainer_forward_backward (trainer, tokens, targets, mask, TASK_T,
                                                          1.0f, NULL, &error));
      g_assert_no_error (error);
      tailor_ref_trainer_step (trainer, &opt);
    }
  g_assert_cmpint (tailor_ref_trainer_get_step (trainer), ==, n_steps);
  return held_out_loss (trainer, n_vocab);
}

static void
test_lora_learns_synthetic_task (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0);
  g_autoptr (TailorRefAdapter) adapter =
    tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, 8, 16.0f, FALSE, 0.05f, 21);
  g_autoptr (TailorRefTrainer) trainer = tailor_ref_trainer_new (model, adapter, &error);
  double before;
  double after;
  gint64 t0;

  g_assert_no_error (error);
  before = held_out_loss (trainer, model->hp.n_vocab);
  t0 = g_get_monotonic_time ();
  after = train_task (trainer, model->hp.n_vocab, 300, 1);
  g_test_message ("held-out loss %.4f → %.4f after 300 steps (%.1f s)", before, after,
                  (g_get_monotonic_time () - t0) / 1e6);
  /* from about log(V) to a small fraction of it */
  g_assert_cmpfloat (before, >, 4.0);
  g_assert_cmpfloat (after, <, 0.25 * before);
}

static void
test_same_seed_gives_identical_adapter (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = make_model (f, TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q4_K_M);
  g_autoptr (TailorRefAdapter) a1 =
    tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, 4, 8.0f, TRUE, 0.1f, 31);
  g_autoptr (TailorRefAdapter) a2 =
    tailor_ref_adapter_new (model, TAILOR_REF_LORA_ALL, 4, 8.0f, TRUE, 0.1f, 31);
  g_autoptr (TailorRefTrainer) t1 = tailor_ref_trainer_new (model, a1, &error);
  g_autoptr (TailorRefTrainer) t2 = tailor_ref_trainer_new (model, a2, &error);
  gboolean moved = FALSE;
  int i;

  g_assert_no_error (error);
  tailor_ref_trainer_set_checkpointing (t2, TRUE);
  train_task (t1, model->hp.n_vocab, 10, 3);
  train_task (t2, model->hp.n_vocab, 10, 3);
  for (i = 0; i < a1->n_layer * TAILOR_REF_LORA_N_TARGETS; i++)
    {
      TailorRefLora *l1 = &a1->lora[i];
      TailorRefLora *l2 = &a2->lora[i];
      gsize na = (gsize) l1->rank * l1->in * sizeof (float);
      gsize nb = (gsize) l1->out * l1->rank * sizeof (float);
      gsize j;

      g_assert_cmpmem (l1->a, na, l2->a, na);
      g_assert_cmpmem (l1->b, nb, l2->b, nb);
      for (j = 0; j < (gsize) l1->out * l1->rank; j++)
        moved |= l1->b[j] != 0.0f;
    }
  g_assert_true (moved);
}

static void
test_rejects_bad_input (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) q8 = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0);
  g_autoptr (TailorModel) q4 = make_model (f, TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q4_K_M);
  g_autoptr (TailorRefAdapter) adapter =
    tailor_ref_adapter_new (q8, TAILOR_REF_LORA_ALL, 2, 4.0f, FALSE, 0.0f, 1);
  g_autoptr (TailorRefTrainer) full = tailor_ref_trainer_new (q8, NULL, &error);
  g_autoptr (TailorRefTrainer) mismatched = NULL;
  g_autoptr (TailorRefTrainer) trainer = NULL;
  Sequence s;
  double loss;

  /* full fine-tuning needs float weights */
  g_assert_null (full);
  g_assert_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "Q8_0"));
  g_clear_error (&error);

  /* an adapter for other shapes (n_embd 64 vs the K-quant model's 256) */
  mismatched = tailor_ref_trainer_new (q4, adapter, &error);
  g_assert_null (mismatched);
  g_assert_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "blk.0.attn_q.weight"));
  g_clear_error (&error);

  trainer = tailor_ref_trainer_new (q8, adapter, &error);
  g_assert_no_error (error);
  sequence_init (&s, q8->hp.n_vocab, 8);
  s.targets[5] = (gint32) q8->hp.n_vocab;
  g_assert_false (
    tailor_ref_trainer_loss (trainer, s.tokens, s.targets, s.mask, SEQ_T, FALSE, &loss, &error));
  g_assert_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_INVALID_TOKEN);
  g_assert_nonnull (strstr (error->message, "target 5"));
  g_clear_error (&error);
  g_assert_false (tailor_ref_trainer_loss (trainer, s.tokens, s.targets, s.mask,
                                           (int) q8->hp.n_ctx_train + 1, FALSE, &loss, &error));
  g_assert_error (error, TAILOR_REF_ERROR, TAILOR_REF_ERROR_CONTEXT_FULL);
}

int
main (int argc, char **argv)
{
  static const GradCase lora_cases[] = {
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32, FALSE, 0.0f },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_ALL_F32, TRUE, 0.1f },
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q8_0, TRUE, 0.0f },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q8_0, FALSE, 0.1f },
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_MOSTLY_Q4_K_M, FALSE, 0.1f },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_MOSTLY_Q4_K_M, TRUE, 0.0f },
  };
  static const GradCase full_cases[] = {
    { TAILOR_ARCH_LLAMA, TAILOR_FTYPE_ALL_F32, FALSE, 0.0f },
    { TAILOR_ARCH_QWEN2, TAILOR_FTYPE_ALL_F32, FALSE, 0.0f },
  };
  guint i;

  g_test_init (&argc, &argv, NULL);

  g_test_add ("/train-ref/fresh-adapter-leaves-logits-bit-identical", Fixture, NULL,
              fixture_setup, test_fresh_adapter_leaves_logits_bit_identical, fixture_teardown);
  g_test_add ("/train-ref/kaiming-init-is-seeded-and-bounded", Fixture, NULL, fixture_setup,
              test_kaiming_init_is_seeded_and_bounded, fixture_teardown);
  g_test_add ("/train-ref/adapter-logits-equal-merged-weights", Fixture, NULL, fixture_setup,
              test_adapter_logits_equal_merged_weights, fixture_teardown);
  for (i = 0; i < G_N_ELEMENTS (lora_cases); i++)
    {
      const GradCase *c = &lora_cases[i];
      g_autofree char *path = g_strdup_printf (
        "/train-ref/lora-gradients-match-fd/%s-%s%s%s", tailor_arch_name (c->arch),
        c->ftype == TAILOR_FTYPE_ALL_F32 ? "f32"
        : c->ftype == TAILOR_FTYPE_MOSTLY_Q8_0 ? "q8_0"
                                              : "q4_k_m",
        c->rslora ? "-rslora" : "", c->dropout > 0.0f ? "-dropout" : "");

      g_test_add (path, Fixture, c, fixture_setup, test_lora_gradients_match_fd,
                  fixture_teardown);
    }
  for (i = 0; i < G_N_ELEMENTS (full_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/train-ref/full-ft-gradients-match-fd/%s",
                                               tailor_arch_name (full_cases[i].arch));

      g_test_add (path, Fixture, &full_cases[i], fixture_setup, test_full_ft_gradients_match_fd,
                  fixture_teardown);
    }
  g_test_add ("/train-ref/checkpointing-gives-identical-gradients", Fixture, NULL, fixture_setup,
              test_checkpointing_gives_identical_gradients, fixture_teardown);
  g_test_add ("/train-ref/gradients-do-not-depend-on-thread-count", Fixture, NULL,
              fixture_setup, test_gradients_do_not_depend_on_thread_count, fixture_teardown);
  g_test_add ("/train-ref/lora-learns-synthetic-task", Fixture, NULL, fixture_setup,
              test_lora_learns_synthetic_task, fixture_teardown);
  g_test_add ("/train-ref/same-seed-gives-identical-adapter", Fixture, NULL, fixture_setup,
              test_same_seed_gives_identical_adapter, fixture_teardown);
  g_test_add ("/train-ref/rejects-bad-input", Fixture, NULL, fixture_setup,
              test_rejects_bad_input, fixture_teardown);

  return g_test_run ();
}
