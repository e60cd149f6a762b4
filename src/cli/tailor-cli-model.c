/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tailor-cli tokenize, logits and generate: running a model's tokenizer, and the forward pass
 * on a backend (tailor-infer) or the CPU reference. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tailor-chat.h"
#include "tailor-cli-private.h"
#include "tailor-cli-train.h"
#include "tailor-cpu-ref.h"
#include "tailor-infer.h"
#include "tailor-lora.h"
#include "tailor-model.h"
#include "tailor-sampler.h"
#include "tailor-tokenizer.h"

#define DEVICE_HELP \
  "auto (default: a GPU through Vulkan, else the CPU), cpu, vulkan, vulkan:N or ref"

/* Where logits and generate compute: a backend through tailor-infer, or the CPU reference
 * ("ref"). The reference has no adapter path with a KV cache, so with an adapter it evaluates
 * the whole sequence again at every step. */
typedef struct
{
  TailorModel *model;       /* borrowed */
  TailorBackend *backend;
  TailorInfer *infer;
  TailorRefContext *ref;
  TailorRefAdapter *adapter;
  GArray *seen;             /* ref with adapter: every token so far */
  double eval_s;            /* wall time in evaluation, for --profile */
} Runner;

static void
runner_clear (Runner *r)
{
  g_clear_pointer (&r->infer, tailor_infer_free);
  g_clear_pointer (&r->backend, tailor_backend_free);
  g_clear_pointer (&r->ref, tailor_ref_context_free);
  g_clear_pointer (&r->adapter, tailor_ref_adapter_free);
  g_clear_pointer (&r->seen, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Runner, runner_clear)

static gboolean
runner_open (Runner *r,
             TailorModel *model,
             const char *device,
             const char *adapter_path,
             guint n_ctx,
             gboolean profile,
             GError **error)
{
  memset (r, 0, sizeof *r);
  r->model = model;
  if (profile && device != NULL && g_str_equal (device, "ref"))
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--profile times a backend's ops; the CPU reference (--device ref) "
                           "has none: choose cpu or vulkan");
      return FALSE;
    }
  if (adapter_path != NULL)
    {
      r->adapter = tailor_lora_read_gguf (adapter_path, model, error);
      if (r->adapter == NULL)
        return FALSE;
    }
  if (device != NULL && g_str_equal (device, "ref"))
    {
      if (r->adapter != NULL)
        {
          r->seen = g_array_new (FALSE, FALSE, sizeof (gint32));
          return TRUE;
        }
      r->ref = tailor_ref_context_new (model, n_ctx, error);
      return r->ref != NULL;
    }
  r->backend = tailor_backend_new (device != NULL ? device : "auto", error);
  if (r->backend == NULL)
    return FALSE;
  r->infer = tailor_infer_new (r->backend, model, r->adapter, n_ctx, error);
  if (r->infer != NULL && profile)
    tailor_infer_set_profiling (r->infer, TRUE);
  return r->infer != NULL;
}

/* --profile: the kernels' time by op kind over every evaluation so far, on stderr (stdout
 * keeps the command's own output). */
static void
runner_print_profile (Runner *r)
{
  if (r->infer != NULL && tailor_infer_get_profile (r->infer) != NULL)
    tailor_cli_print_profile (stderr, tailor_infer_get_profile (r->infer), r->eval_s * 1e3);
}

/* "cpu (OpenBLAS, 2 threads)", "llvmpipe …" or "CPU reference". */
static const char *
runner_device_name (Runner *r)
{
  return r->backend != NULL ? tailor_backend_get_name (r->backend) : "CPU reference";
}

static guint
runner_n_past (Runner *r)
{
  if (r->infer != NULL)
    return tailor_infer_get_n_past (r->infer);
  if (r->ref != NULL)
    return tailor_ref_context_get_n_past (r->ref);
  return r->seen->len;
}

static gboolean
runner_eval (Runner *r, const gint32 *ids, guint n, gboolean all, float *logits, GError **error)
{
  g_autofree float *every = NULL;
  gsize n_vocab = r->model->hp.n_vocab;
  guint first;

  if (r->infer != NULL)
    {
      gint64 start = g_get_monotonic_time ();
      gboolean ok = tailor_infer_eval (r->infer, ids, n, all, logits, error);

      r->eval_s += (g_get_monotonic_time () - start) / 1e6;
      return ok;
    }
  if (r->ref != NULL)
    return tailor_ref_context_eval (r->ref, ids, n, all, logits, error);
  first = r->seen->len;
  g_array_append_vals (r->seen, ids, n);
  every = g_new (float, (gsize) r->seen->len * n_vocab);
  if (!tailor_ref_adapter_logits (r->model, r->adapter, (const gint32 *) r->seen->data,
                                  (int) r->seen->len, every, error))
    {
      g_array_set_size (r->seen, first);
      return FALSE;
    }
  if (all)
    memcpy (logits, every + (gsize) first * n_vocab, sizeof (float) * n * n_vocab);
  else
    memcpy (logits, every + (gsize) (r->seen->len - 1) * n_vocab, sizeof (float) * n_vocab);
  return TRUE;
}

/* "1 2 3" or "1,2,3"; ids are checked against the vocabulary later, by the caller. */
static GArray *
parse_token_list (const char *text, GError **error)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_auto (GStrv) parts = g_regex_split_simple ("[\\s,]+", text, 0, 0);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      guint64 v = 0;
      gint32 id;

      if (parts[i][0] == '\0')
        continue;
      if (!g_ascii_string_to_unsigned (parts[i], 10, 0, G_MAXINT32, &v, NULL))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--tokens: “%s” is not a token id (a non-negative integer)", parts[i]);
          return NULL;
        }
      id = (gint32) v;
      g_array_append_val (ids, id);
    }
  if (ids->len == 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--tokens holds no token ids");
      return NULL;
    }
  return g_steal_pointer (&ids);
}

static gboolean
check_token_ids (GArray *ids, guint n_vocab, const char *model_path, GError **error)
{
  for (guint i = 0; i < ids->len; i++)
    {
      gint32 id = g_array_index (ids, gint32, i);

      if (id < 0 || (guint) id >= n_vocab)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "Token id %d is out of range for “%s”: its vocabulary has %u entries "
                       "(ids 0 to %u)",
                       id, model_path, n_vocab, n_vocab - 1);
          return FALSE;
        }
    }
  return TRUE;
}

static void
add_int_array (JsonBuilder *b, const char *member, GArray *ids)
{
  json_builder_set_member_name (b, member);
  json_builder_begin_array (b);
  for (guint i = 0; i < ids->len; i++)
    json_builder_add_int_value (b, g_array_index (ids, gint32, i));
  json_builder_end_array (b);
}

/* ---- tokenize ---- */

int
tailor_cli_tokenize (int argc, char **argv)
{
  g_autofree char *model_path = NULL;
  gboolean json = FALSE, no_special = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "The GGUF model (required)", "MODEL" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON document with ids and pieces", NULL },
    { "no-special", 0, 0, G_OPTION_ARG_NONE, &no_special,
      "Add no BOS/EOS and read special-token text as plain text", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = tailor_cli_context_new ("tokenize", entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) gguf = NULL;
  g_autoptr (TailorTokenizer) tok = NULL;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autofree char *decoded = NULL;
  TailorTokenizeFlags flags;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (model_path == NULL)
    return tailor_cli_usage_error (context, "--model is required");
  if (argc != 2)
    return tailor_cli_usage_error (context, argc < 2 ? "TEXT is missing"
                                                     : "expected one TEXT argument (quote it)");
  if (!tailor_cli_check_utf8 (context, "TEXT", argv[1]))
    return TAILOR_CLI_EXIT_USAGE;

  gguf = tailor_gguf_open (model_path, &error);
  if (gguf == NULL)
    return tailor_cli_fail (error);
  tok = tailor_tokenizer_new_from_gguf (gguf, &error);
  if (tok == NULL)
    return tailor_cli_fail (error);

  flags =
    no_special ? TAILOR_TOKENIZE_NONE : TAILOR_TOKENIZE_ADD_SPECIAL | TAILOR_TOKENIZE_PARSE_SPECIAL;
  tailor_tokenizer_encode (tok, argv[1], -1, flags, ids);
  decoded = tailor_tokenizer_decode (tok, (const gint32 *) ids->data, ids->len, FALSE);

  if (json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();

      json_builder_begin_object (b);
      add_int_array (b, "tokens", ids);
      json_builder_set_member_name (b, "pieces");
      json_builder_begin_array (b);
      for (guint i = 0; i < ids->len; i++)
        {
          g_autoptr (GBytes) piece =
            tailor_tokenizer_token_to_piece (tok, g_array_index (ids, gint32, i), TRUE);
          tailor_cli_json_add_bytes_as_string (b, piece);
        }
      json_builder_end_array (b);
      json_builder_set_member_name (b, "text");
      json_builder_add_string_value (b, decoded);
      json_builder_end_object (b);
      return tailor_cli_print_json (b, FALSE) ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
    }

  for (guint i = 0; i < ids->len; i++)
    printf ("%s%d", i > 0 ? " " : "", g_array_index (ids, gint32, i));
  printf ("\n");
  return TAILOR_CLI_EXIT_OK;
}

/* ---- logits ---- */

static int
compare_by_logit (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const float *logits = user_data;
  gint32 x = *(const gint32 *) a, y = *(const gint32 *) b;

  if (logits[x] != logits[y])
    return logits[x] > logits[y] ? -1 : 1;
  return x < y ? -1 : (x > y);
}

/* Ids of the k largest logits, largest first (lower id first on ties). */
static GArray *
top_k_ids (const float *logits, guint n_vocab, guint k)
{
  GArray *order = g_array_sized_new (FALSE, FALSE, sizeof (gint32), n_vocab);

  for (guint i = 0; i < n_vocab; i++)
    {
      gint32 id = (gint32) i;
      g_array_append_val (order, id);
    }
  g_qsort_with_data (order->data, n_vocab, sizeof (gint32), compare_by_logit, (gpointer) logits);
  g_array_set_size (order, MIN (k, n_vocab));
  return order;
}

static char *
piece_text (TailorTokenizer *tok, gint32 id)
{
  g_autoptr (GBytes) piece = tailor_tokenizer_token_to_piece (tok, id, TRUE);
  gsize len = 0;
  const char *data = g_bytes_get_data (piece, &len);

  return g_utf8_make_valid (data != NULL ? data : "", len);
}

/* For a terminal: valid UTF-8 kept as is, control characters and quotes escaped. */
static char *
escape_piece (const char *piece)
{
  GString *out = g_string_new (NULL);

  for (const char *p = piece; *p != '\0'; p++)
    {
      guchar c = *p;

      if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c == '"' || c == '\\')
        g_string_append_printf (out, "\\%c", c);
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\x%02x", c);
      else
        g_string_append_c (out, c);
    }
  return g_string_free (out, FALSE);
}

static TailorModel *
load_model_and_tokenizer (const char *path, TailorTokenizer **tok, GError **error)
{
  g_autoptr (TailorModel) model = tailor_model_load (path, error);

  if (model == NULL)
    return NULL;
  *tok = tailor_tokenizer_new_from_gguf (model->gguf, error);
  if (*tok == NULL)
    return NULL;
  return g_steal_pointer (&model);
}

int
tailor_cli_logits (int argc, char **argv)
{
  g_autofree char *model_path = NULL;
  g_autofree char *tokens_text = NULL;
  g_autofree char *prompt = NULL;
  g_autofree char *device = NULL;
  g_autofree char *adapter = NULL;
  gboolean json = FALSE, all = FALSE, profile = FALSE;
  int top = 10;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "The GGUF model (required)", "MODEL" },
    { "tokens", 0, 0, G_OPTION_ARG_FILENAME, &tokens_text, "Token ids to evaluate", "\"1 2 3\"" },
    { "prompt", 'p', 0, G_OPTION_ARG_FILENAME, &prompt, "Text to tokenize and evaluate", "TEXT" },
    { "top", 'k', 0, G_OPTION_ARG_INT, &top,
      "How many of the most likely next tokens to list "
      "(default 10)",
      "K" },
    { "all", 0, 0, G_OPTION_ARG_NONE, &all, "Also give the full logits of every position", NULL },
    { "adapter", 0, 0, G_OPTION_ARG_FILENAME, &adapter,
      "Apply a LoRA adapter (adapter.gguf from tailor-cli train)", "ADAPTER" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON document", NULL },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "Where to compute: " DEVICE_HELP,
      "DEVICE" },
    { "profile", 0, 0, G_OPTION_ARG_NONE, &profile,
      "Print the time per op kind (kernel timestamps on Vulkan) and GFLOP/s of the matrix "
      "products on stderr",
      NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = tailor_cli_context_new ("logits", entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = NULL;
  g_autoptr (TailorTokenizer) tok = NULL;
  g_auto (Runner) runner = { 0 };
  g_autoptr (GArray) ids = NULL;
  g_autoptr (GArray) top_ids = NULL;
  g_autofree float *logits = NULL;
  g_autofree float *logprobs = NULL;
  const float *last;
  guint n_vocab, n_rows;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc > 1)
    return tailor_cli_usage_error (context, "unexpected argument “%s”", argv[1]);
  if (model_path == NULL)
    return tailor_cli_usage_error (context, "--model is required");
  if ((tokens_text == NULL) == (prompt == NULL))
    return tailor_cli_usage_error (context, "give exactly one of --tokens and --prompt");
  if (top < 0)
    return tailor_cli_usage_error (context, "--top must be 0 or more");
  if (prompt != NULL && !tailor_cli_check_utf8 (context, "--prompt", prompt))
    return TAILOR_CLI_EXIT_USAGE;
  if (tokens_text != NULL)
    {
      ids = parse_token_list (tokens_text, &error);
      if (ids == NULL)
        return tailor_cli_usage_error (context, "%s", error->message);
    }

  model = load_model_and_tokenizer (model_path, &tok, &error);
  if (model == NULL)
    return tailor_cli_fail (error);
  n_vocab = model->hp.n_vocab;

  if (prompt != NULL)
    {
      ids = g_array_new (FALSE, FALSE, sizeof (gint32));
      tailor_tokenizer_encode (tok, prompt, -1,
                               TAILOR_TOKENIZE_ADD_SPECIAL | TAILOR_TOKENIZE_PARSE_SPECIAL, ids);
      if (ids->len == 0)
        return tailor_cli_failf ("The prompt gives no tokens for “%s”; give a longer prompt",
                                 model_path);
    }
  else if (!check_token_ids (ids, n_vocab, model_path, &error))
    return tailor_cli_fail (error);

  n_rows = all ? ids->len : 1;
  logits = g_new (float, (gsize) n_rows *n_vocab);
  if (!runner_open (&runner, model, device, adapter, ids->len, profile, &error) ||
      !runner_eval (&runner, (const gint32 *) ids->data, ids->len, all, logits, &error))
    return tailor_cli_fail (error);
  runner_print_profile (&runner);

  last = logits + (gsize) (n_rows - 1) * n_vocab;
  logprobs = g_memdup2 (last, sizeof (float) * n_vocab);
  tailor_log_softmax (logprobs, n_vocab);
  top_ids = top_k_ids (last, n_vocab, top);

  if (json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "device");
      json_builder_add_string_value (b, runner_device_name (&runner));
      json_builder_set_member_name (b, "n_vocab");
      json_builder_add_int_value (b, n_vocab);
      add_int_array (b, "tokens", ids);
      json_builder_set_member_name (b, "top");
      json_builder_begin_array (b);
      for (guint i = 0; i < top_ids->len; i++)
        {
          gint32 id = g_array_index (top_ids, gint32, i);
          g_autofree char *piece = piece_text (tok, id);

          json_builder_begin_object (b);
          json_builder_set_member_name (b, "id");
          json_builder_add_int_value (b, id);
          json_builder_set_member_name (b, "piece");
          json_builder_add_string_value (b, piece);
          json_builder_set_member_name (b, "logit");
          tailor_cli_json_add_float (b, last[id]);
          json_builder_set_member_name (b, "logprob");
          tailor_cli_json_add_float (b, logprobs[id]);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      if (all)
        {
          json_builder_set_member_name (b, "positions");
          json_builder_begin_array (b);
          for (guint t = 0; t < n_rows; t++)
            {
              json_builder_begin_array (b);
              for (guint v = 0; v < n_vocab; v++)
                tailor_cli_json_add_float (b, logits[(gsize) t * n_vocab + v]);
              json_builder_end_array (b);
            }
          json_builder_end_array (b);
        }
      json_builder_end_object (b);
      return tailor_cli_print_json (b, FALSE) ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
    }

  printf ("%u tokens:", ids->len);
  for (guint i = 0; i < ids->len; i++)
    printf (" %d", g_array_index (ids, gint32, i));
  printf ("\n\n%4s  %7s  %10s  %10s  %s\n", "rank", "id", "logit", "logprob", "piece");
  for (guint i = 0; i < top_ids->len; i++)
    {
      gint32 id = g_array_index (top_ids, gint32, i);
      g_autofree char *piece = piece_text (tok, id);
      g_autofree char *escaped = escape_piece (piece);

      printf ("%4u  %7d  %10.4f  %10.4f  \"%s\"\n", i + 1, id, last[id], logprobs[id], escaped);
    }
  if (all)
    for (guint t = 0; t < n_rows; t++)
      {
        const float *row = logits + (gsize) t * n_vocab;
        gint32 best = tailor_argmax (row, n_vocab);

        printf ("position %u: argmax %d (logit %.4f)\n", t, best, row[best]);
      }
  return TAILOR_CLI_EXIT_OK;
}

/* ---- generate ---- */

/* Writes the complete UTF-8 characters of pending to out (if any) and keeps an unfinished
 * tail, since one character can be split over byte tokens. Bytes that can never start or
 * continue a valid character become U+FFFD. */
static void
emit_utf8 (GByteArray *pending, GString *all_text, FILE *out, gboolean flush)
{
  while (pending->len > 0)
    {
      const char *data = (const char *) pending->data;
      const char *end = NULL;
      const char *chunk = data;
      gsize good, chunk_len;

      g_utf8_validate_len (data, pending->len, &end);
      good = chunk_len = end - data;
      if (good == 0)
        {
          /* Up to 3 trailing bytes may begin a character that the next token completes. */
          if (!flush && pending->len < 4 &&
              g_utf8_get_char_validated (data, pending->len) == (gunichar) -2)
            break;
          chunk = "\xef\xbf\xbd";
          chunk_len = 3;
        }
      if (out != NULL)
        fwrite (chunk, 1, chunk_len, out);
      g_string_append_len (all_text, chunk, chunk_len);
      g_byte_array_remove_range (pending, 0, MAX (good, 1));
    }
  if (out != NULL)
    fflush (out);
}

int
tailor_cli_generate (int argc, char **argv)
{
  g_autofree char *model_path = NULL;
  g_autofree char *prompt = NULL;
  g_autofree char *system = NULL;
  g_autofree char *device = NULL;
  g_autofree char *adapter = NULL;
  gboolean chat = FALSE, json = FALSE, profile = FALSE;
  int max_tokens = 128, top_k = 40;
  double temperature = 0.8, top_p = 0.95;
  gint64 seed = -1;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "The GGUF model (required)", "MODEL" },
    { "prompt", 'p', 0, G_OPTION_ARG_FILENAME, &prompt, "The prompt (required)", "TEXT" },
    { "chat", 0, 0, G_OPTION_ARG_NONE, &chat,
      "Send the prompt as a user message with the model's chat template", NULL },
    { "system", 0, 0, G_OPTION_ARG_FILENAME, &system, "A system message (with --chat)", "TEXT" },
    { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &max_tokens, "Most tokens to generate (default 128)",
      "N" },
    { "temperature", 't', 0, G_OPTION_ARG_DOUBLE, &temperature,
      "Sampling temperature; 0 is greedy (default 0.8)", "T" },
    { "top-k", 0, 0, G_OPTION_ARG_INT, &top_k,
      "Sample among the K most likely; 0 is off "
      "(default 40)",
      "K" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &top_p, "Nucleus sampling mass; 1 is off (default 0.95)",
      "P" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Random seed (default: a random one)", "S" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      "Print one JSON document at the end instead of streaming text", NULL },
    { "adapter", 0, 0, G_OPTION_ARG_FILENAME, &adapter,
      "Apply a LoRA adapter (adapter.gguf from tailor-cli train)", "ADAPTER" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "Where to compute: " DEVICE_HELP,
      "DEVICE" },
    { "profile", 0, 0, G_OPTION_ARG_NONE, &profile,
      "Print the time per op kind (kernel timestamps on Vulkan) and GFLOP/s of the matrix "
      "products on stderr",
      NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = tailor_cli_context_new ("generate", entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorModel) model = NULL;
  g_autoptr (TailorTokenizer) tok = NULL;
  g_auto (Runner) runner = { 0 };
  g_autoptr (TailorSampler) sampler = NULL;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) generated = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GByteArray) pending = g_byte_array_new ();
  g_autoptr (GString) text = g_string_new (NULL);
  g_autofree float *logits = NULL;
  TailorSamplerParams params;
  const char *stop = "length";
  guint n_ctx, n_vocab;
  FILE *out;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc > 1)
    return tailor_cli_usage_error (context, "unexpected argument “%s”", argv[1]);
  if (model_path == NULL)
    return tailor_cli_usage_error (context, "--model is required");
  if (prompt == NULL)
    return tailor_cli_usage_error (context, "--prompt is required");
  if (system != NULL && !chat)
    return tailor_cli_usage_error (context, "--system needs --chat");
  if (max_tokens < 0 || top_k < 0 || temperature < 0 || top_p <= 0 || seed < -1)
    return tailor_cli_usage_error (context, "--max-tokens, --top-k, --temperature and --seed must "
                                            "not be negative, and --top-p must be above 0");
  if (!tailor_cli_check_utf8 (context, "--prompt", prompt) ||
      (system != NULL && !tailor_cli_check_utf8 (context, "--system", system)))
    return TAILOR_CLI_EXIT_USAGE;

  model = load_model_and_tokenizer (model_path, &tok, &error);
  if (model == NULL)
    return tailor_cli_fail (error);
  n_vocab = model->hp.n_vocab;

  if (chat)
    {
      g_autofree char *warning = NULL;
      TailorChatFamily family = tailor_chat_family_for_gguf (model->gguf, &warning);
      g_autoptr (GArray) mask = g_array_new (FALSE, FALSE, sizeof (guint8));
      TailorChatMessage msgs[2];
      gsize n = 0;

      if (warning != NULL)
        g_printerr ("%s: %s\n", g_get_prgname (), warning);
      if (system != NULL)
        msgs[n++] = (TailorChatMessage){ "system", system };
      msgs[n++] = (TailorChatMessage){ "user", prompt };
      if (!tailor_chat_render_tokens (tok, family, msgs, n, TRUE, ids, mask, &error))
        return tailor_cli_fail (error);
    }
  else
    tailor_tokenizer_encode (tok, prompt, -1,
                             TAILOR_TOKENIZE_ADD_SPECIAL | TAILOR_TOKENIZE_PARSE_SPECIAL, ids);
  if (ids->len == 0)
    return tailor_cli_failf ("The prompt gives no tokens for “%s”; give a longer prompt",
                             model_path);
  if (model->hp.n_ctx_train > 0 && ids->len >= model->hp.n_ctx_train)
    return tailor_cli_failf ("The prompt has %u tokens but “%s” has a context of %u; give a "
                             "shorter prompt",
                             ids->len, model_path, model->hp.n_ctx_train);

  n_ctx = ids->len + max_tokens;
  if (model->hp.n_ctx_train > 0)
    n_ctx = MIN (n_ctx, model->hp.n_ctx_train);
  if (!runner_open (&runner, model, device, adapter, n_ctx, profile, &error))
    return tailor_cli_fail (error);

  /* With --json the text is collected for the document instead of streamed. */
  out = json ? NULL : stdout;
  params.temperature = temperature;
  params.top_k = top_k;
  params.top_p = top_p;
  params.seed = seed >= 0 ? (guint64) seed : ((guint64) g_random_int () << 32) | g_random_int ();
  sampler = tailor_sampler_new (&params);

  logits = g_new (float, n_vocab);
  if (runner_eval (&runner, (const gint32 *) ids->data, ids->len, FALSE, logits, &error))
    {
      while (generated->len < (guint) max_tokens)
        {
          g_autoptr (GBytes) piece = NULL;
          gint32 next = tailor_sampler_sample (sampler, logits, n_vocab);
          gsize len = 0;
          const guint8 *bytes;

          if (tailor_tokenizer_is_eog (tok, next))
            {
              stop = "end-of-generation";
              break;
            }
          g_array_append_val (generated, next);
          piece = tailor_tokenizer_token_to_piece (tok, next, FALSE);
          bytes = g_bytes_get_data (piece, &len);
          g_byte_array_append (pending, bytes, len);
          emit_utf8 (pending, text, out, FALSE);
          if (generated->len >= (guint) max_tokens)
            break;
          if (runner_n_past (&runner) >= n_ctx)
            {
              stop = "context";
              break;
            }
          if (!runner_eval (&runner, &next, 1, FALSE, logits, &error))
            break;
        }
    }
  emit_utf8 (pending, text, out, TRUE);
  runner_print_profile (&runner);

  if (json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();

      if (error != NULL)
        return tailor_cli_fail (error);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "device");
      json_builder_add_string_value (b, runner_device_name (&runner));
      json_builder_set_member_name (b, "seed");
      json_builder_add_int_value (b, params.seed);
      add_int_array (b, "prompt_tokens", ids);
      add_int_array (b, "tokens", generated);
      json_builder_set_member_name (b, "text");
      json_builder_add_string_value (b, text->str);
      json_builder_set_member_name (b, "stop");
      json_builder_add_string_value (b, stop);
      json_builder_end_object (b);
      return tailor_cli_print_json (b, FALSE) ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
    }

  if (isatty (STDOUT_FILENO) && (text->len == 0 || text->str[text->len - 1] != '\n'))
    printf ("\n");
  if (error != NULL)
    return tailor_cli_fail (error);
  return TAILOR_CLI_EXIT_OK;
}
