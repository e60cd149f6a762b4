/* SPDX-License-Identifier: GPL-3.0-or-later */
/* run.json: parsing with a message per field, defaults, and the checks against the files. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "tailor-hash.h"
#include "tailor-run-config.h"
#include "tailor-train-ref.h"

G_DEFINE_QUARK (tailor-run-config-error-quark, tailor_run_config_error)

static const char *const method_names[] = { "qlora", "lora", "full" };
static const char *const schedule_names[] = { "cosine", "linear", "constant" };

const char *
tailor_train_method_name (TailorTrainMethod method)
{
  g_return_val_if_fail (method <= TAILOR_TRAIN_FULL, NULL);
  return method_names[method];
}

const char *
tailor_schedule_name (TailorSchedule schedule)
{
  g_return_val_if_fail (schedule <= TAILOR_SCHEDULE_CONSTANT, NULL);
  return schedule_names[schedule];
}

TailorRunConfig *
tailor_run_config_new (void)
{
  TailorRunConfig *self = g_new0 (TailorRunConfig, 1);

  self->method = TAILOR_TRAIN_QLORA;
  self->lora_rank = 16;
  self->lora_alpha = 32.0f;
  self->lora_dropout = 0.05f;
  self->lora_rslora = FALSE;
  self->lora_targets = TAILOR_REF_LORA_ALL;
  self->lr = 2e-4f;
  self->weight_decay = 0.0f;
  self->beta1 = 0.9f;
  self->beta2 = 0.999f;
  self->eps = 1e-8f;
  self->schedule = TAILOR_SCHEDULE_COSINE;
  self->warmup_steps = 10;
  self->grad_clip = 1.0f;
  self->seq_len = 512;
  self->batch = 4;
  self->grad_accum = 1;
  self->epochs = 2;
  self->max_steps = 0;
  self->packing = TRUE;
  self->loss_on_all = FALSE;
  self->grad_checkpointing = TRUE;
  self->seed = 42;
  self->device = g_strdup ("auto");
  self->eval_every = 50;
  self->checkpoint_every = 50;
  return self;
}

void
tailor_run_config_free (TailorRunConfig *self)
{
  if (self == NULL)
    return;
  g_free (self->base_model);
  g_free (self->base_sha256);
  g_free (self->train);
  g_free (self->eval);
  g_free (self->dataset_version);
  g_free (self->device);
  g_free (self->output_dir);
  g_free (self);
}

/* ---- Typed members, each failure naming the field ---- */

static gboolean
fail (GError **error, TailorRunConfigError code, const char *field, const char *format, ...)
  G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError **error, TailorRunConfigError code, const char *field, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, TAILOR_RUN_CONFIG_ERROR, code, "run.json: “%s” %s", field, message);
  return FALSE;
}

static gboolean
get_number (JsonNode *node, const char *field, double *out, GError **error)
{
  GType type;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, field, "must be a number");
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    *out = (double) json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE)
    *out = json_node_get_double (node);
  else
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, field, "must be a number");
  if (!isfinite (*out))
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, field, "must be a finite number");
  return TRUE;
}

/* A positive (min 1) or non-negative (min 0) integer up to max. */
static gboolean
get_int (JsonNode *node, const char *field, gint64 min, gint64 max, gint64 *out, GError **error)
{
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, field, "must be a whole number");
  *out = json_node_get_int (node);
  if (*out < min || *out > max)
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, field,
                 "is %" G_GINT64_FORMAT "; it must be between %" G_GINT64_FORMAT " and %"
                 G_GINT64_FORMAT,
                 *out, min, max);
  return TRUE;
}

static gboolean
get_int32 (JsonNode *node, const char *field, int min, int max, int *out, GError **error)
{
  gint64 v = 0;

  if (!get_int (node, field, min, max, &v, error))
    return FALSE;
  *out = (int) v;
  return TRUE;
}

static gboolean
get_bool (JsonNode *node, const char *field, gboolean *out, GError **error)
{
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, field, "must be true or false");
  *out = json_node_get_boolean (node);
  return TRUE;
}

static gboolean
get_string (JsonNode *node, const char *field, const char **out, GError **error)
{
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, field, "must be a string");
  *out = json_node_get_string (node);
  if ((*out)[0] == '\0')
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, field, "must not be empty");
  return TRUE;
}

static gboolean
get_path (JsonNode *node, const char *field, const char *base_dir, char **out, GError **error)
{
  const char *text = NULL;

  if (!get_string (node, field, &text, error))
    return FALSE;
  g_free (*out);
  if (g_path_is_absolute (text) || base_dir == NULL)
    *out = g_canonicalize_filename (text, NULL);
  else
    *out = g_canonicalize_filename (text, base_dir);
  return TRUE;
}

static gboolean
get_choice (JsonNode *node, const char *field, const char *const *names, guint n, guint *out,
            GError **error)
{
  const char *text = NULL;
  g_autoptr (GString) list = g_string_new (NULL);
  guint i;

  if (!get_string (node, field, &text, error))
    return FALSE;
  for (i = 0; i < n; i++)
    {
      if (g_str_equal (text, names[i]))
        {
          *out = i;
          return TRUE;
        }
      g_string_append_printf (list, "%s“%s”", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                              names[i]);
    }
  return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, field, "is “%s”; use %s", text, list->str);
}

static gboolean
parse_sha256 (TailorRunConfig *self, JsonNode *node, GError **error)
{
  const char *text = NULL;
  int i;

  if (JSON_NODE_HOLDS_NULL (node))
    {
      g_clear_pointer (&self->base_sha256, g_free);
      return TRUE;
    }
  if (!get_string (node, "base_sha256", &text, error))
    return FALSE;
  for (i = 0; text[i] != '\0'; i++)
    if (!g_ascii_isxdigit (text[i]))
      break;
  if (i != 64 || text[i] != '\0')
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "base_sha256",
                 "must be 64 hexadecimal digits (the SHA-256 of the base model), or null");
  g_free (self->base_sha256);
  self->base_sha256 = g_ascii_strdown (text, -1);
  return TRUE;
}

static gboolean
parse_targets (TailorRunConfig *self, JsonNode *node, GError **error)
{
  JsonArray *array;
  guint targets = 0;
  guint i;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "lora.targets",
                 "must be a list such as [\"q\", \"k\", \"v\", \"o\", \"gate\", \"up\", \"down\"]");
  array = json_node_get_array (node);
  for (i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *item = json_array_get_element (array, i);
      const char *name = NULL;
      int t;

      if (!get_string (item, "lora.targets", &name, error))
        return FALSE;
      for (t = 0; t < TAILOR_REF_LORA_N_TARGETS; t++)
        if (g_str_equal (name, tailor_ref_lora_target_name (t)))
          break;
      if (t == TAILOR_REF_LORA_N_TARGETS)
        return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "lora.targets",
                     "names the unknown target “%s”; the targets are q, k, v, o, gate, up and "
                     "down",
                     name);
      targets |= 1u << t;
    }
  if (targets == 0)
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "lora.targets",
                 "is empty; name at least one of q, k, v, o, gate, up, down");
  self->lora_targets = targets;
  return TRUE;
}

static gboolean
check_object (JsonNode *node, const char *field, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, field, "must be an object");
  return TRUE;
}

static gboolean
parse_lora (TailorRunConfig *self, JsonObject *obj, GError **error)
{
  g_autoptr (GList) members = json_object_get_members (obj);
  GList *l;

  for (l = members; l != NULL; l = l->next)
    {
      const char *key = l->data;
      JsonNode *node = json_object_get_member (obj, key);
      double v = 0;

      if (g_str_equal (key, "rank"))
        {
          if (!get_int32 (node, "lora.rank", 1, 4096, &self->lora_rank, error))
            return FALSE;
        }
      else if (g_str_equal (key, "alpha"))
        {
          if (!get_number (node, "lora.alpha", &v, error))
            return FALSE;
          if (v <= 0)
            return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "lora.alpha",
                         "is %g; it must be greater than 0", v);
          self->lora_alpha = (float) v;
        }
      else if (g_str_equal (key, "dropout"))
        {
          if (!get_number (node, "lora.dropout", &v, error))
            return FALSE;
          if (v < 0 || v >= 1)
            return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "lora.dropout",
                         "is %g; it must be at least 0 and below 1", v);
          self->lora_dropout = (float) v;
        }
      else if (g_str_equal (key, "rslora"))
        {
          if (!get_bool (node, "lora.rslora", &self->lora_rslora, error))
            return FALSE;
        }
      else if (g_str_equal (key, "targets"))
        {
          if (!parse_targets (self, node, error))
            return FALSE;
        }
      else
        {
          g_autofree char *field = g_strconcat ("lora.", key, NULL);

          return fail (error, TAILOR_RUN_CONFIG_ERROR_UNKNOWN_KEY, field,
                       "is not a LoRA setting; the settings are rank, alpha, dropout, rslora and "
                       "targets");
        }
    }
  return TRUE;
}

static gboolean
parse_betas (TailorRunConfig *self, JsonNode *node, GError **error)
{
  JsonArray *array;
  double b[2] = { 0, 0 };
  int i;

  if (!JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) != 2)
    return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "optimizer.betas",
                 "must be a list of two numbers, such as [0.9, 0.999]");
  array = json_node_get_array (node);
  for (i = 0; i < 2; i++)
    {
      if (!get_number (json_array_get_element (array, i), "optimizer.betas", &b[i], error))
        return FALSE;
      if (b[i] < 0 || b[i] >= 1)
        return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "optimizer.betas",
                     "has %g; each must be at least 0 and below 1", b[i]);
    }
  self->beta1 = (float) b[0];
  self->beta2 = (float) b[1];
  return TRUE;
}

static gboolean
parse_optimizer (TailorRunConfig *self, JsonObject *obj, GError **error)
{
  g_autoptr (GList) members = json_object_get_members (obj);
  GList *l;

  for (l = members; l != NULL; l = l->next)
    {
      const char *key = l->data;
      JsonNode *node = json_object_get_member (obj, key);
      double v = 0;
      guint choice = 0;

      if (g_str_equal (key, "lr"))
        {
          if (!get_number (node, "optimizer.lr", &v, error))
            return FALSE;
          if (v <= 0 || v > 1)
            return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "optimizer.lr",
                         "is %g; it must be greater than 0 and at most 1 (2e-4 is typical)", v);
          self->lr = (float) v;
        }
      else if (g_str_equal (key, "weight_decay"))
        {
          if (!get_number (node, "optimizer.weight_decay", &v, error))
            return FALSE;
          if (v < 0 || v >= 1)
            return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "optimizer.weight_decay",
                         "is %g; it must be at least 0 and below 1", v);
          self->weight_decay = (float) v;
        }
      else if (g_str_equal (key, "betas"))
        {
          if (!parse_betas (self, node, error))
            return FALSE;
        }
      else if (g_str_equal (key, "eps"))
        {
          if (!get_number (node, "optimizer.eps", &v, error))
            return FALSE;
          if (v <= 0 || v > 1)
            return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "optimizer.eps",
                         "is %g; it must be greater than 0 and at most 1 (1e-8 is typical)", v);
          self->eps = (float) v;
        }
      else if (g_str_equal (key, "schedule"))
        {
          if (!get_choice (node, "optimizer.schedule", schedule_names,
                           G_N_ELEMENTS (schedule_names), &choice, error))
            return FALSE;
          self->schedule = choice;
        }
      else if (g_str_equal (key, "warmup_steps"))
        {
          if (!get_int32 (node, "optimizer.warmup_steps", 0, G_MAXINT32, &self->warmup_steps,
                          error))
            return FALSE;
        }
      else if (g_str_equal (key, "grad_clip"))
        {
          if (JSON_NODE_HOLDS_NULL (node))
            self->grad_clip = 0.0f;
          else if (!get_number (node, "optimizer.grad_clip", &v, error))
            return FALSE;
          else if (v < 0)
            return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "optimizer.grad_clip",
                         "is %g; it must be 0 or more (0 or null: no clipping)", v);
          else
            self->grad_clip = (float) v;
        }
      else
        {
          g_autofree char *field = g_strconcat ("optimizer.", key, NULL);

          return fail (error, TAILOR_RUN_CONFIG_ERROR_UNKNOWN_KEY, field,
                       "is not an optimizer setting; the settings are lr, weight_decay, betas, "
                       "eps, schedule, warmup_steps and grad_clip");
        }
    }
  return TRUE;
}

static gboolean
check_device (const char *device, GError **error)
{
  if (g_str_equal (device, "auto") || g_str_equal (device, "cpu") ||
      g_str_equal (device, "vulkan") || (g_str_has_prefix (device, "vulkan:") && device[7] != '\0'))
    return TRUE;
  return fail (error, TAILOR_RUN_CONFIG_ERROR_INVALID, "device",
               "is “%s”; use \"auto\", \"cpu\", \"vulkan\", \"vulkan:N\" or \"vulkan:NAME\" "
               "(tailor-cli devices lists them)",
               device);
}

/* One top-level key. */
static gboolean
parse_member (TailorRunConfig *self, const char *key, JsonNode *node, const char *base_dir,
              gboolean *max_steps_set, GError **error)
{
  const char *text = NULL;
  guint choice = 0;

  if (g_str_equal (key, "base_model"))
    return get_path (node, key, base_dir, &self->base_model, error);
  if (g_str_equal (key, "base_sha256"))
    return parse_sha256 (self, node, error);
  if (g_str_equal (key, "train"))
    return get_path (node, key, base_dir, &self->train, error);
  if (g_str_equal (key, "eval"))
    {
      if (JSON_NODE_HOLDS_NULL (node))
        {
          g_clear_pointer (&self->eval, g_free);
          return TRUE;
        }
      return get_path (node, key, base_dir, &self->eval, error);
    }
  if (g_str_equal (key, "dataset_version"))
    {
      if (JSON_NODE_HOLDS_NULL (node))
        return TRUE;
      if (!get_string (node, key, &text, error))
        return FALSE;
      g_free (self->dataset_version);
      self->dataset_version = g_strdup (text);
      return TRUE;
    }
  if (g_str_equal (key, "method"))
    {
      if (!get_choice (node, key, method_names, G_N_ELEMENTS (method_names), &choice, error))
        return FALSE;
      self->method = choice;
      return TRUE;
    }
  if (g_str_equal (key, "lora"))
    return check_object (node, key, error) && parse_lora (self, json_node_get_object (node), error);
  if (g_str_equal (key, "optimizer"))
    return check_object (node, key, error) &&
           parse_optimizer (self, json_node_get_object (node), error);
  if (g_str_equal (key, "seq_len"))
    return get_int32 (node, key, 2, 1 << 20, &self->seq_len, error);
  if (g_str_equal (key, "batch"))
    return get_int32 (node, key, 1, 4096, &self->batch, error);
  if (g_str_equal (key, "grad_accum"))
    return get_int32 (node, key, 1, 65536, &self->grad_accum, error);
  if (g_str_equal (key, "epochs"))
    return get_int32 (node, key, 1, 100000, &self->epochs, error);
  if (g_str_equal (key, "max_steps"))
    {
      *max_steps_set = TRUE;
      if (JSON_NODE_HOLDS_NULL (node))
        {
          self->max_steps = 0;
          return TRUE;
        }
      return get_int32 (node, key, 1, G_MAXINT32, &self->max_steps, error);
    }
  if (g_str_equal (key, "packing"))
    return get_bool (node, key, &self->packing, error);
  if (g_str_equal (key, "loss_on"))
    {
      static const char *const names[] = { "assistant", "all" };

      if (!get_choice (node, key, names, G_N_ELEMENTS (names), &choice, error))
        return FALSE;
      self->loss_on_all = choice == 1;
      return TRUE;
    }
  if (g_str_equal (key, "grad_checkpointing"))
    return get_bool (node, key, &self->grad_checkpointing, error);
  if (g_str_equal (key, "seed"))
    {
      gint64 seed = 0;

      if (!get_int (node, key, 0, G_MAXINT64, &seed, error))
        return FALSE;
      self->seed = (guint64) seed;
      return TRUE;
    }
  if (g_str_equal (key, "device"))
    {
      if (!get_string (node, key, &text, error) || !check_device (text, error))
        return FALSE;
      g_free (self->device);
      self->device = g_strdup (text);
      return TRUE;
    }
  if (g_str_equal (key, "eval_every"))
    return get_int32 (node, key, 0, G_MAXINT32, &self->eval_every, error);
  if (g_str_equal (key, "checkpoint_every"))
    return get_int32 (node, key, 0, G_MAXINT32, &self->checkpoint_every, error);
  if (g_str_equal (key, "output_dir"))
    return get_path (node, key, base_dir, &self->output_dir, error);
  return fail (error, TAILOR_RUN_CONFIG_ERROR_UNKNOWN_KEY, key,
               "is not a run.json key (check its spelling; DESIGN.md §3a lists the keys)");
}

TailorRunConfig *
tailor_run_config_parse (const char *json, gssize len, const char *base_dir, GError **error)
{
  g_autoptr (TailorRunConfig) self = tailor_run_config_new ();
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) parse_error = NULL;
  g_autoptr (GList) members = NULL;
  gboolean max_steps_set = FALSE;
  JsonNode *root;
  JsonObject *obj;
  GList *l;

  g_return_val_if_fail (json != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!json_parser_load_from_data (parser, json, len, &parse_error))
    {
      g_set_error (error, TAILOR_RUN_CONFIG_ERROR, TAILOR_RUN_CONFIG_ERROR_SYNTAX,
                   "run.json is not valid JSON: %s", parse_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, TAILOR_RUN_CONFIG_ERROR, TAILOR_RUN_CONFIG_ERROR_SYNTAX,
                           "run.json must hold one JSON object of settings");
      return NULL;
    }
  obj = json_node_get_object (root);
  members = json_object_get_members (obj);
  for (l = members; l != NULL; l = l->next)
    if (!parse_member (self, l->data, json_object_get_member (obj, l->data), base_dir,
                       &max_steps_set, error))
      return NULL;

  if (self->base_model == NULL)
    {
      fail (error, TAILOR_RUN_CONFIG_ERROR_MISSING, "base_model",
            "is required: the path of the GGUF model to train on");
      return NULL;
    }
  if (self->train == NULL)
    {
      fail (error, TAILOR_RUN_CONFIG_ERROR_MISSING, "train",
            "is required: the path of the training data (JSONL)");
      return NULL;
    }
  if (self->output_dir == NULL)
    self->output_dir = g_canonicalize_filename ("run", base_dir);
  return g_steal_pointer (&self);
}

TailorRunConfig *
tailor_run_config_load (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  g_autofree char *absolute = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (GError) read_error = NULL;
  gsize len = 0;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!g_file_get_contents (path, &text, &len, &read_error))
    {
      g_set_error (error, TAILOR_RUN_CONFIG_ERROR, TAILOR_RUN_CONFIG_ERROR_IO,
                   "Cannot read the run settings: %s", read_error->message);
      return NULL;
    }
  absolute = g_canonicalize_filename (path, NULL);
  dir = g_path_get_dirname (absolute);
  return tailor_run_config_parse (text, (gssize) len, dir, error);
}

/* ---- Checks against the files ---- */

static gboolean
is_float_type (TailorType type)
{
  return type == TAILOR_TYPE_F32 || type == TAILOR_TYPE_F16 || type == TAILOR_TYPE_BF16;
}

/* The first matrix of the model whose type the method cannot take, or NULL. */
static const TailorGgufTensor *
first_unfit_matrix (TailorModel *model, TailorTrainMethod method)
{
  guint l;

  if (method == TAILOR_TRAIN_QLORA)
    return NULL;
  if (method == TAILOR_TRAIN_FULL &&
      (!is_float_type (model->tok_embd->type) || !is_float_type (model->output->type)))
    return !is_float_type (model->tok_embd->type) ? model->tok_embd : model->output;
  for (l = 0; l < model->hp.n_layer; l++)
    {
      const TailorLayerWeights *w = &model->layers[l];
      const TailorGgufTensor *m[] = { w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down };
      guint i;

      for (i = 0; i < G_N_ELEMENTS (m); i++)
        if (!is_float_type (m[i]->type))
          return m[i];
    }
  return NULL;
}

static gboolean
check_data_file (const char *path, const char *field, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return fail (error, TAILOR_RUN_CONFIG_ERROR_MISSING, field,
                 "names %s, which does not exist; export the dataset version there or fix the "
                 "path",
                 path);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return fail (error, TAILOR_RUN_CONFIG_ERROR_MISSING, field, "names %s, which is not a file",
                 path);
  return TRUE;
}

gboolean
tailor_run_config_check_files (TailorRunConfig *self,
                               GCancellable *cancellable,
                               TailorModel **model_out,
                               GError **error)
{
  g_autoptr (TailorModel) model = NULL;
  g_autoptr (GError) local_error = NULL;
  const TailorGgufTensor *unfit;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!g_file_test (self->base_model, G_FILE_TEST_EXISTS))
    return fail (error, TAILOR_RUN_CONFIG_ERROR_MISSING, "base_model",
                 "names %s, which does not exist; choose the model file again", self->base_model);
  if (self->base_sha256 != NULL)
    {
      g_autofree char *sha = tailor_file_sha256_cached (self->base_model, cancellable, NULL, NULL,
                                                        NULL, &local_error);

      if (sha == NULL)
        return fail (error, TAILOR_RUN_CONFIG_ERROR_IO, "base_model", "cannot be hashed: %s",
                     local_error->message);
      if (!g_str_equal (sha, self->base_sha256))
        return fail (error, TAILOR_RUN_CONFIG_ERROR_CHANGED, "base_sha256",
                     "does not match %s any more (its SHA-256 is now %s): the model file has "
                     "changed since the run was set up; pin the new hash or restore the file",
                     self->base_model, sha);
    }
  model = tailor_model_load (self->base_model, &local_error);
  if (model == NULL)
    return fail (error, TAILOR_RUN_CONFIG_ERROR_MODEL, "base_model", "cannot be used: %s",
                 local_error->message);
  if ((guint) self->seq_len > model->hp.n_ctx_train)
    return fail (error, TAILOR_RUN_CONFIG_ERROR_MODEL, "seq_len",
                 "is %d, longer than the model's context of %u tokens; use %u or less",
                 self->seq_len, model->hp.n_ctx_train, model->hp.n_ctx_train);
  unfit = first_unfit_matrix (model, self->method);
  if (unfit != NULL)
    return fail (error, TAILOR_RUN_CONFIG_ERROR_MODEL, "method",
                 "is “%s”, but %s of the model is %s; %s",
                 tailor_train_method_name (self->method), unfit->name,
                 tailor_type_name (unfit->type),
                 self->method == TAILOR_TRAIN_LORA
                   ? "use \"qlora\" to train LoRA over quantized weights"
                   : "full fine-tuning needs an F32, F16 or BF16 model; use \"qlora\"");
  if (!check_data_file (self->train, "train", error))
    return FALSE;
  if (self->eval != NULL && !check_data_file (self->eval, "eval", error))
    return FALSE;
  if (model_out != NULL)
    *model_out = g_steal_pointer (&model);
  return TRUE;
}

/* ---- Serialisation ---- */

static void
add_string_or_null (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_int (JsonBuilder *b, const char *key, gint64 value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, value);
}

static void
add_float (JsonBuilder *b, const char *key, float value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_double_value (b, value);
}

static void
add_bool (JsonBuilder *b, const char *key, gboolean value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_boolean_value (b, value);
}

char *
tailor_run_config_to_json (const TailorRunConfig *self)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  int t;

  g_return_val_if_fail (self != NULL, NULL);

  json_builder_begin_object (b);
  add_string_or_null (b, "base_model", self->base_model);
  add_string_or_null (b, "base_sha256", self->base_sha256);
  add_string_or_null (b, "train", self->train);
  add_string_or_null (b, "eval", self->eval);
  add_string_or_null (b, "dataset_version", self->dataset_version);
  add_string_or_null (b, "method", tailor_train_method_name (self->method));
  json_builder_set_member_name (b, "lora");
  json_builder_begin_object (b);
  add_int (b, "rank", self->lora_rank);
  add_float (b, "alpha", self->lora_alpha);
  add_float (b, "dropout", self->lora_dropout);
  add_bool (b, "rslora", self->lora_rslora);
  json_builder_set_member_name (b, "targets");
  json_builder_begin_array (b);
  for (t = 0; t < TAILOR_REF_LORA_N_TARGETS; t++)
    if (self->lora_targets & (1u << t))
      json_builder_add_string_value (b, tailor_ref_lora_target_name (t));
  json_builder_end_array (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "optimizer");
  json_builder_begin_object (b);
  add_float (b, "lr", self->lr);
  add_float (b, "weight_decay", self->weight_decay);
  json_builder_set_member_name (b, "betas");
  json_builder_begin_array (b);
  json_builder_add_double_value (b, self->beta1);
  json_builder_add_double_value (b, self->beta2);
  json_builder_end_array (b);
  add_float (b, "eps", self->eps);
  add_string_or_null (b, "schedule", tailor_schedule_name (self->schedule));
  add_int (b, "warmup_steps", self->warmup_steps);
  add_float (b, "grad_clip", self->grad_clip);
  json_builder_end_object (b);
  add_int (b, "seq_len", self->seq_len);
  add_int (b, "batch", self->batch);
  add_int (b, "grad_accum", self->grad_accum);
  add_int (b, "epochs", self->epochs);
  json_builder_set_member_name (b, "max_steps");
  if (self->max_steps > 0)
    json_builder_add_int_value (b, self->max_steps);
  else
    json_builder_add_null_value (b);
  add_bool (b, "packing", self->packing);
  add_string_or_null (b, "loss_on", self->loss_on_all ? "all" : "assistant");
  add_bool (b, "grad_checkpointing", self->grad_checkpointing);
  add_int (b, "seed", (gint64) self->seed);
  add_string_or_null (b, "device", self->device);
  add_int (b, "eval_every", self->eval_every);
  add_int (b, "checkpoint_every", self->checkpoint_every);
  add_string_or_null (b, "output_dir", self->output_dir);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_indent (gen, 2);
  return json_generator_to_data (gen, NULL);
}
