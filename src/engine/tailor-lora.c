/* SPDX-License-Identifier: GPL-3.0-or-later */
/* LoRA adapter GGUF in llama.cpp's layout: export of trained pairs, import with shape checks. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tailor-lora.h"

G_DEFINE_QUARK (tailor-lora-error-quark, tailor_lora_error)

#define N_TARGETS TAILOR_REF_LORA_N_TARGETS

static const TailorGgufTensor *
base_tensor (TailorModel *model, int layer, TailorRefLoraTarget target)
{
  const TailorLayerWeights *w = &model->layers[layer];
  const TailorGgufTensor *by_target[N_TARGETS] = {
    w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down,
  };

  return by_target[target];
}

/* llama.cpp scales every pair by alpha / r with one alpha per file: the alpha that gives
 * each pair its trained scale. */
static gboolean
file_alpha (TailorRefAdapter *adapter, float *alpha, GError **error)
{
  gboolean found = FALSE;
  int i;

  for (i = 0; i < adapter->n_layer * N_TARGETS; i++)
    {
      const TailorRefLora *lora = &adapter->lora[i];
      float a;

      if (lora->rank == 0)
        continue;
      a = tailor_ref_lora_scale (lora->alpha, lora->rank, lora->rslora) * (float) lora->rank;
      if (found && a != *alpha)
        {
          g_set_error (error, TAILOR_LORA_ERROR, TAILOR_LORA_ERROR_INVALID,
                       "LoRA pairs of one adapter must share one scale × rank for llama.cpp "
                       "(found %g and %g); train every target with the same rank and alpha",
                       *alpha, a);
          return FALSE;
        }
      *alpha = a;
      found = TRUE;
    }
  if (!found)
    {
      g_set_error_literal (error, TAILOR_LORA_ERROR, TAILOR_LORA_ERROR_INVALID,
                           "The adapter has no LoRA pair to write");
      return FALSE;
    }
  return TRUE;
}

static gboolean
add_f32_tensor (TailorGgufWriter *w, const char *name, const float *data, gint64 ne0, gint64 ne1,
                GError **error)
{
  gint64 ne[2] = { ne0, ne1 };
  g_autoptr (GBytes) bytes = g_bytes_new (data, sizeof (float) * (gsize) (ne0 * ne1));

  return tailor_gguf_writer_add_tensor (w, name, TAILOR_TYPE_F32, 2, ne, bytes, error);
}

static TailorGgufWriter *
build_writer (TailorRefAdapter *adapter, TailorModel *model, const TailorLoraInfo *info,
              GError **error)
{
  g_autoptr (TailorGgufWriter) w = tailor_gguf_writer_new ();
  float alpha = 0.0f;
  int l;
  int t;

  if (adapter->n_layer != (int) model->hp.n_layer)
    {
      g_set_error (error, TAILOR_LORA_ERROR, TAILOR_LORA_ERROR_MISMATCH,
                   "The adapter has %d layers but the model has %u", adapter->n_layer,
                   model->hp.n_layer);
      return NULL;
    }
  if (!file_alpha (adapter, &alpha, error))
    return NULL;

  tailor_gguf_writer_set_string (w, "general.type", "adapter");
  tailor_gguf_writer_set_string (w, "general.architecture", tailor_arch_name (model->hp.arch));
  if (info != NULL && info->name != NULL)
    tailor_gguf_writer_set_string (w, "general.name", info->name);
  tailor_gguf_writer_set_string (w, "adapter.type", "lora");
  tailor_gguf_writer_set_f32 (w, "adapter.lora.alpha", alpha);
  if (info != NULL && info->base_sha256 != NULL)
    tailor_gguf_writer_set_string (w, "tailor.base_sha256", info->base_sha256);
  if (info != NULL && info->run_config != NULL)
    tailor_gguf_writer_set_string (w, "tailor.run_config", info->run_config);

  for (l = 0; l < adapter->n_layer; l++)
    for (t = 0; t < N_TARGETS; t++)
      {
        TailorRefLora *lora = tailor_ref_adapter_get (adapter, l, t);
        const TailorGgufTensor *base = base_tensor (model, l, t);
        g_autofree char *name_a = NULL;
        g_autofree char *name_b = NULL;

        if (lora == NULL)
          continue;
        if (lora->in != base->ne[0] || lora->out != base->ne[1])
          {
            g_set_error (error, TAILOR_LORA_ERROR, TAILOR_LORA_ERROR_MISMATCH,
                         "The LoRA pair for %s is %d→%d but the tensor is %" G_GINT64_FORMAT
                         "→%" G_GINT64_FORMAT,
                         base->name, lora->in, lora->out, base->ne[0], base->ne[1]);
            return NULL;
          }
        name_a = g_strconcat (base->name, ".lora_a", NULL);
        name_b = g_strconcat (base->name, ".lora_b", NULL);
        if (!add_f32_tensor (w, name_a, lora->a, lora->in, lora->rank, error) ||
            !add_f32_tensor (w, name_b, lora->b, lora->rank, lora->out, error))
          return NULL;
      }
  return g_steal_pointer (&w);
}

GBytes *
tailor_lora_to_gguf_bytes (TailorRefAdapter *adapter,
                           TailorModel *model,
                           const TailorLoraInfo *info,
                           GError **error)
{
  g_autoptr (TailorGgufWriter) w = NULL;

  g_return_val_if_fail (adapter != NULL && model != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  w = build_writer (adapter, model, info, error);
  if (w == NULL)
    return NULL;
  return tailor_gguf_writer_to_bytes (w);
}

gboolean
tailor_lora_write_gguf (TailorRefAdapter *adapter,
                        TailorModel *model,
                        const TailorLoraInfo *info,
                        const char *path,
                        GError **error)
{
  g_autoptr (TailorGgufWriter) w = NULL;

  g_return_val_if_fail (adapter != NULL && model != NULL && path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  w = build_writer (adapter, model, info, error);
  if (w == NULL)
    return FALSE;
  return tailor_gguf_writer_write (w, path, error);
}

/* ---- Import ---- */

/* "blk.N.<tensor>.weight.lora_a|b" → layer, target, is_b; FALSE for other names. */
static gboolean
parse_lora_name (const char *name, int n_layer, int *layer, TailorRefLoraTarget *target,
                 gboolean *is_b)
{
  const char *p;
  char *end = NULL;
  gint64 l;
  int t;

  if (!g_str_has_prefix (name, "blk."))
    return FALSE;
  l = g_ascii_strtoll (name + 4, &end, 10);
  if (end == name + 4 || *end != '.' || l < 0 || l >= n_layer)
    return FALSE;
  p = end + 1;
  for (t = 0; t < N_TARGETS; t++)
    {
      const char *tensor = tailor_ref_lora_target_tensor (t);
      gsize len = strlen (tensor);

      if (strncmp (p, tensor, len) != 0)
        continue;
      if (g_str_equal (p + len, ".weight.lora_a") || g_str_equal (p + len, ".weight.lora_b"))
        {
          *layer = (int) l;
          *target = t;
          *is_b = p[len + strlen (".weight.lora_")] == 'b';
          return TRUE;
        }
    }
  return FALSE;
}

static gboolean
expect_string (TailorGguf *gguf, const char *key, const char *want, const char *path,
               GError **error)
{
  g_autoptr (GError) local_error = NULL;
  const char *value = tailor_gguf_get_string (gguf, key, &local_error);

  if (value == NULL || !g_str_equal (value, want))
    {
      g_set_error (error, TAILOR_LORA_ERROR, TAILOR_LORA_ERROR_NOT_ADAPTER,
                   "%s is not a LoRA adapter for a %s model: %s is %s%s%s", path, want, key,
                   value != NULL ? "“" : "", value != NULL ? value : "missing",
                   value != NULL ? "”" : "");
      return FALSE;
    }
  return TRUE;
}

TailorRefAdapter *
tailor_lora_read_gguf (const char *path, TailorModel *model, GError **error)
{
  g_autoptr (TailorGguf) gguf = NULL;
  g_autoptr (TailorRefAdapter) adapter = NULL;
  float alpha = 0.0f;
  gboolean has_alpha;
  guint n_pairs = 0;
  guint i;

  g_return_val_if_fail (path != NULL && model != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  gguf = tailor_gguf_open (path, error);
  if (gguf == NULL)
    return NULL;
  if (!expect_string (gguf, "general.type", "adapter", path, error) ||
      !expect_string (gguf, "adapter.type", "lora", path, error) ||
      !expect_string (gguf, "general.architecture", tailor_arch_name (model->hp.arch), path,
                      error))
    return NULL;
  has_alpha = tailor_gguf_find_key (gguf, "adapter.lora.alpha") >= 0;
  if (has_alpha && !tailor_gguf_get_f32 (gguf, "adapter.lora.alpha", &alpha, error))
    return NULL;

  adapter = g_new0 (TailorRefAdapter, 1);
  adapter->n_layer = (int) model->hp.n_layer;
  adapter->lora = g_new0 (TailorRefLora, (gsize) adapter->n_layer * N_TARGETS);

  for (i = 0; i < tailor_gguf_get_n_tensors (gguf); i++)
    {
      const TailorGgufTensor *src = tailor_gguf_get_tensor (gguf, i);
      const TailorGgufTensor *base;
      TailorRefLora *lora;
      TailorRefLoraTarget target = 0;
      gboolean is_b = FALSE;
      int layer = 0;
      gint64 want_in;
      gint64 want_out;
      float *dst;

      if (!parse_lora_name (src->name, adapter->n_layer, &layer, &target, &is_b))
        {
          g_set_error (error, TAILOR_LORA_ERROR, TAILOR_LORA_ERROR_MISMATCH,
                       "%s: tensor %s does not adapt a weight of this %u-layer model", path,
                       src->name, model->hp.n_layer);
          return NULL;
        }
      base = base_tensor (model, layer, target);
      lora = &adapter->lora[layer * N_TARGETS + target];
      if (src->n_dims != 2 || !tailor_type_get_info (src->type)->can_dequantize)
        {
          g_set_error (error, TAILOR_LORA_ERROR, TAILOR_LORA_ERROR_INVALID,
                       "%s: tensor %s must be a matrix of a readable type", path, src->name);
          return NULL;
        }
      want_in = is_b ? src->ne[0] : base->ne[0];
      want_out = is_b ? base->ne[1] : src->ne[1];
      if ((is_b && src->ne[1] != want_out) || (!is_b && src->ne[0] != want_in) ||
          src->ne[is_b ? 0 : 1] < 1 || (lora->rank > 0 && lora->rank != src->ne[is_b ? 0 : 1]))
        {
          g_set_error (error, TAILOR_LORA_ERROR, TAILOR_LORA_ERROR_MISMATCH,
                       "%s: tensor %s has shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                       "], which does not fit %s [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                       path, src->name, src->ne[0], src->ne[1], base->name, base->ne[0],
                       base->ne[1]);
          return NULL;
        }
      lora->rank = (int) src->ne[is_b ? 0 : 1];
      lora->in = (int) base->ne[0];
      lora->out = (int) base->ne[1];
      lora->alpha = has_alpha ? alpha : (float) lora->rank;
      dst = g_new (float, src->n_elements);
      tailor_dequantize_row (src->type, src->data, dst, src->n_elements);
      if (is_b)
        {
          g_free (lora->b);
          lora->b = dst;
        }
      else
        {
          g_free (lora->a);
          lora->a = dst;
        }
    }
  for (i = 0; i < (guint) adapter->n_layer * N_TARGETS; i++)
    {
      TailorRefLora *lora = &adapter->lora[i];

      if (lora->rank == 0)
        continue;
      if (lora->a == NULL || lora->b == NULL)
        {
          g_set_error (error, TAILOR_LORA_ERROR, TAILOR_LORA_ERROR_INVALID,
                       "%s: %s has a lora_%s tensor without its lora_%s", path,
                       base_tensor (model, (int) i / N_TARGETS, i % N_TARGETS)->name,
                       lora->a == NULL ? "b" : "a", lora->a == NULL ? "a" : "b");
          return NULL;
        }
      n_pairs++;
    }
  if (n_pairs == 0)
    {
      g_set_error (error, TAILOR_LORA_ERROR, TAILOR_LORA_ERROR_NOT_ADAPTER,
                   "%s has no LoRA tensors", path);
      return NULL;
    }
  return g_steal_pointer (&adapter);
}
