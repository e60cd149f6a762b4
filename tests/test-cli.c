/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of tailor-cli as users and scripts run it: JSON output, exit codes and messages. */
#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "tailor-gguf.h"
#include "tailor-tokenizer.h"

static char *work_dir;   /* models and the hash cache of this run */
static char *llama_q4km; /* llama, SPM vocabulary, Q4_K_M */
static char *qwen2_q8;   /* qwen2, BPE vocabulary, Q8_0 */
static char *llama_f32;  /* llama, F32: the model the computing tests run */

typedef struct
{
  int status;
  char *out;
  char *err;
} CliResult;

static void
cli_result_clear (CliResult *r)
{
  g_clear_pointer (&r->out, g_free);
  g_clear_pointer (&r->err, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CliResult, cli_result_clear)

/* Runs tailor-cli with the NULL-terminated arguments; returns its exit status. */
static int
run_cli_v (CliResult *r, const char *const *args)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *cache_dir = g_build_filename (work_dir, "cache", NULL);
  const char *cli = g_getenv ("TAILOR_CLI");

  g_assert_nonnull (cli);
  g_ptr_array_add (argv, (gpointer) cli);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "TAILOR_CACHE_DIR", cache_dir, TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &r->out, &r->err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  r->status = g_subprocess_get_exit_status (proc);
  return r->status;
}

#define run_cli(r, ...) run_cli_v (r, (const char *const[]){ __VA_ARGS__, NULL })

/* Runs and expects success; returns the parsed JSON document on stdout. */
static JsonNode *
run_json_v (const char *const *args)
{
  g_auto (CliResult) r = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  run_cli_v (&r, args);
  if (r.status != 0)
    g_test_message ("stderr: %s", r.err);
  g_assert_cmpint (r.status, ==, 0);
  json_parser_load_from_data (parser, r.out, -1, &error);
  g_assert_no_error (error);
  return json_node_ref (json_parser_get_root (parser));
}

#define run_json(...) run_json_v ((const char *const[]){ __VA_ARGS__, NULL })

static char *
make_model (const char *name, const char *arch, const char *type)
{
  g_auto (CliResult) r = { 0 };
  char *path = g_build_filename (work_dir, name, NULL);

  run_cli (&r, "make-test-model", "--arch", arch, "--type", type, "--seed", "7", path);
  if (r.status != 0)
    g_test_message ("stderr: %s", r.err);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  return path;
}

static GArray *
int_array (JsonArray *a)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));

  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      gint32 id = json_array_get_int_element (a, i);
      g_array_append_val (ids, id);
    }
  return ids;
}

static char *
ids_to_string (GArray *ids, guint n)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append_printf (s, "%s%d", i > 0 ? " " : "", g_array_index (ids, gint32, i));
  return g_string_free (s, FALSE);
}

static char *
file_sha256 (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, len);
}

/* ---- inspect ---- */

static void
test_inspect_json_fields (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) gguf = tailor_gguf_open (llama_q4km, &error);
  g_autoptr (JsonNode) first = NULL;
  g_autoptr (JsonNode) second = NULL;
  g_autofree char *expected_sha = file_sha256 (llama_q4km);
  g_autofree char *basename = g_path_get_basename (llama_q4km);
  JsonObject *o, *tokenizer;
  JsonArray *quant;
  guint64 n_params = 0;
  guint counts[TAILOR_TYPE_COUNT_] = { 0 };
  guint64 bytes[TAILOR_TYPE_COUNT_] = { 0 };
  guint32 u32 = 0;
  gint64 prev_bytes = G_MAXINT64;
  guint listed_tensors = 0;

  g_assert_no_error (error);
  for (guint i = 0; i < tailor_gguf_get_n_tensors (gguf); i++)
    {
      const TailorGgufTensor *t = tailor_gguf_get_tensor (gguf, i);

      n_params += t->n_elements;
      counts[t->type]++;
      bytes[t->type] += t->n_bytes;
    }
  /* The fixture really is a Q4_K_M mix, so the test below checks something. */
  g_assert_cmpuint (counts[TAILOR_TYPE_Q4_K], >, 0);
  g_assert_cmpuint (counts[TAILOR_TYPE_Q6_K], >, 0);
  g_assert_cmpint (tailor_gguf_find_tensor (gguf, "output.weight")->type, ==, TAILOR_TYPE_Q6_K);

  first = run_json ("inspect", "--json", llama_q4km);
  o = json_node_get_object (first);
  g_assert_cmpstr (json_object_get_string_member (o, "file"), ==, basename);
  g_assert_true (g_path_is_absolute (json_object_get_string_member (o, "path")));
  g_assert_cmpint (json_object_get_int_member (o, "size"), ==, tailor_gguf_get_file_size (gguf));
  g_assert_cmpstr (json_object_get_string_member (o, "architecture"), ==, "llama");
  g_assert_true (json_object_get_boolean_member (o, "supported"));
  g_assert_cmpint (json_object_get_int_member (o, "parameters"), ==, n_params);
  g_assert_cmpstr (json_object_get_string_member (o, "file_type"), ==, "q4_k_m");
  g_assert_cmpint (json_object_get_int_member (o, "file_type_id"), ==, 15);
  g_assert_nonnull (json_object_get_string_member (o, "name"));

  quant = json_object_get_array_member (o, "quantization");
  for (guint i = 0; i < json_array_get_length (quant); i++)
    {
      JsonObject *q = json_array_get_object_element (quant, i);
      TailorType type;

      g_assert_true (tailor_type_from_name (json_object_get_string_member (q, "type"), &type));
      g_assert_cmpint (json_object_get_int_member (q, "tensors"), ==, counts[type]);
      g_assert_cmpint (json_object_get_int_member (q, "bytes"), ==, bytes[type]);
      g_assert_cmpint (json_object_get_int_member (q, "bytes"), <=, prev_bytes);
      prev_bytes = json_object_get_int_member (q, "bytes");
      listed_tensors += counts[type];
    }
  g_assert_cmpuint (listed_tensors, ==, tailor_gguf_get_n_tensors (gguf));
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (quant, 0), "type"),
                   ==, "Q4_K");

  g_assert_true (tailor_gguf_get_u32 (gguf, "llama.context_length", &u32, &error));
  g_assert_cmpint (json_object_get_int_member (o, "context_length"), ==, u32);
  g_assert_true (tailor_gguf_get_u32 (gguf, "llama.embedding_length", &u32, &error));
  g_assert_cmpint (json_object_get_int_member (o, "embedding_length"), ==, u32);
  g_assert_true (tailor_gguf_get_u32 (gguf, "llama.block_count", &u32, &error));
  g_assert_cmpint (json_object_get_int_member (o, "block_count"), ==, u32);
  g_assert_true (tailor_gguf_get_u32 (gguf, "llama.attention.head_count_kv", &u32, &error));
  g_assert_cmpint (json_object_get_int_member (o, "head_count_kv"), ==, u32);
  g_assert_cmpint (json_object_get_int_member (o, "vocab_size"), ==,
                   tailor_gguf_find_tensor (gguf, "token_embd.weight")->ne[1]);
  tokenizer = json_object_get_object_member (o, "tokenizer");
  g_assert_cmpstr (json_object_get_string_member (tokenizer, "model"), ==, "llama");
  g_assert_cmpstr (json_object_get_string_member (o, "chat_template"), ==, "llama2");
  g_assert_true (json_object_has_member (o, "license"));

  g_assert_cmpstr (json_object_get_string_member (o, "sha256"), ==, expected_sha);
  g_assert_false (json_object_get_boolean_member (o, "sha256_from_cache"));
  second = run_json ("inspect", "--json", llama_q4km);
  o = json_node_get_object (second);
  g_assert_cmpstr (json_object_get_string_member (o, "sha256"), ==, expected_sha);
  g_assert_true (json_object_get_boolean_member (o, "sha256_from_cache"));
}

static void
test_inspect_qwen2_bpe (void)
{
  g_autoptr (JsonNode) root = run_json ("inspect", "--json", qwen2_q8);
  JsonObject *o = json_node_get_object (root);
  JsonObject *tokenizer = json_object_get_object_member (o, "tokenizer");
  JsonArray *quant = json_object_get_array_member (o, "quantization");

  g_assert_cmpstr (json_object_get_string_member (o, "architecture"), ==, "qwen2");
  g_assert_cmpstr (json_object_get_string_member (tokenizer, "model"), ==, "gpt2");
  g_assert_cmpstr (json_object_get_string_member (o, "chat_template"), ==, "chatml");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (quant, 0), "type"),
                   ==, "Q8_0");
}

static void
test_inspect_human_table (void)
{
  g_auto (CliResult) r = { 0 };
  g_autofree char *sha = file_sha256 (llama_q4km);

  g_assert_cmpint (run_cli (&r, "inspect", llama_q4km), ==, 0);
  g_assert_nonnull (strstr (r.out, "Architecture"));
  g_assert_nonnull (strstr (r.out, "llama"));
  g_assert_nonnull (strstr (r.out, "Q6_K"));
  g_assert_nonnull (strstr (r.out, sha));
}

/* ---- tokenize ---- */

static void
test_tokenize_round_trip (void)
{
  const char *text = "Hello world, this is Tailor. Ça va? 123";
  g_autoptr (JsonNode) with_special = run_json ("tokenize", "--json", "--model", llama_f32, text);
  g_autoptr (JsonNode) plain =
    run_json ("tokenize", "--json", "--no-special", "--model", llama_f32, text);
  g_auto (CliResult) r = { 0 };
  JsonObject *o = json_node_get_object (with_special);
  JsonObject *p = json_node_get_object (plain);
  g_autoptr (GArray) ids = int_array (json_object_get_array_member (o, "tokens"));
  g_autoptr (GArray) plain_ids = int_array (json_object_get_array_member (p, "tokens"));
  g_autofree char *expected_line = NULL;
  g_autofree char *spaced = g_strconcat (" ", text, NULL);

  g_assert_cmpuint (ids->len, >, 1);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "pieces")), ==,
                    ids->len);
  g_assert_cmpstr (json_object_get_string_member (p, "text"), ==, text);
  /* As llama.cpp's detokenizer: the SPM space prefix is removed only from the first piece,
   * and with BOS first that piece is BOS's (empty), so the space stays. */
  g_assert_cmpstr (json_object_get_string_member (o, "text"), ==, spaced);
  /* The llama vocabulary adds BOS; without specials it is not there. */
  g_assert_cmpuint (ids->len, ==, plain_ids->len + 1);
  g_assert_cmpint (
    memcmp (ids->data + sizeof (gint32), plain_ids->data, plain_ids->len * sizeof (gint32)), ==, 0);

  g_assert_cmpint (run_cli (&r, "tokenize", "--model", llama_f32, text), ==, 0);
  expected_line = ids_to_string (ids, ids->len);
  g_strchomp (r.out);
  g_assert_cmpstr (r.out, ==, expected_line);
}

/* "--" ends the options, so a TEXT may start with a dash. */
static void
test_tokenize_dash_text (void)
{
  g_autoptr (JsonNode) root =
    run_json ("tokenize", "--json", "--no-special", "--model", llama_f32, "--", "-5 apples");

  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (root), "text"), ==,
                   "-5 apples");
}

/* ---- logits ---- */

static double
log_sum_exp (JsonArray *row)
{
  double max = -INFINITY, sum = 0;

  for (guint v = 0; v < json_array_get_length (row); v++)
    max = MAX (max, json_array_get_double_element (row, v));
  for (guint v = 0; v < json_array_get_length (row); v++)
    sum += exp (json_array_get_double_element (row, v) - max);
  return max + log (sum);
}

static guint
row_argmax (JsonArray *row)
{
  guint best = 0;

  for (guint v = 1; v < json_array_get_length (row); v++)
    if (json_array_get_double_element (row, v) > json_array_get_double_element (row, best))
      best = v;
  return best;
}

static void
test_logits_top_sorted_and_consistent (void)
{
  const char *text = "The quick brown fox";
  g_autoptr (JsonNode) tok = run_json ("tokenize", "--json", "--model", llama_f32, text);
  g_autoptr (GArray) ids =
    int_array (json_object_get_array_member (json_node_get_object (tok), "tokens"));
  g_autofree char *ids_text = ids_to_string (ids, ids->len);
  g_autofree char *prefix_text = ids_to_string (ids, 2);
  g_autoptr (JsonNode) root = run_json ("logits", "--json", "--all", "--top", "20", "--model",
                                        llama_f32, "--tokens", ids_text);
  g_autoptr (JsonNode) from_prompt =
    run_json ("logits", "--json", "--top", "20", "--model", llama_f32, "--prompt", text);
  g_autoptr (JsonNode) prefix = run_json ("logits", "--json", "--all", "--top", "1", "--model",
                                          llama_f32, "--tokens", prefix_text);
  JsonObject *o = json_node_get_object (root);
  JsonArray *top = json_object_get_array_member (o, "top");
  JsonArray *positions = json_object_get_array_member (o, "positions");
  JsonArray *last, *prefix_rows, *top_prompt;
  double lse, prev = INFINITY;
  gint64 n_vocab = json_object_get_int_member (o, "n_vocab");

  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "tokens")), ==,
                    ids->len);
  g_assert_cmpuint (json_array_get_length (top), ==, 20);
  g_assert_cmpuint (json_array_get_length (positions), ==, ids->len);
  last = json_array_get_array_element (positions, ids->len - 1);
  g_assert_cmpint (json_array_get_length (last), ==, n_vocab);
  lse = log_sum_exp (last);

  for (guint i = 0; i < json_array_get_length (top); i++)
    {
      JsonObject *e = json_array_get_object_element (top, i);
      gint64 id = json_object_get_int_member (e, "id");
      double logit = json_object_get_double_member (e, "logit");
      double logprob = json_object_get_double_member (e, "logprob");

      g_assert_cmpfloat (logit, <=, prev);
      prev = logit;
      g_assert_cmpfloat (logprob, <=, 0.0);
      g_assert_cmpfloat_with_epsilon (logit, json_array_get_double_element (last, id), 1e-6);
      g_assert_cmpfloat_with_epsilon (logprob, logit - lse, 1e-4);
      g_assert_true (json_object_has_member (e, "piece"));
    }
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (top, 0), "id"), ==,
                   row_argmax (last));

  /* The prompt tokenizes to the same ids, so the same distribution comes out. */
  top_prompt = json_object_get_array_member (json_node_get_object (from_prompt), "top");
  for (guint i = 0; i < 20; i++)
    {
      JsonObject *a = json_array_get_object_element (top, i);
      JsonObject *b = json_array_get_object_element (top_prompt, i);

      g_assert_cmpint (json_object_get_int_member (a, "id"), ==,
                       json_object_get_int_member (b, "id"));
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (a, "logit"),
                                      json_object_get_double_member (b, "logit"), 1e-5);
    }

  /* Causal attention: the logits of position 1 do not depend on the tokens after it. */
  prefix_rows = json_object_get_array_member (json_node_get_object (prefix), "positions");
  for (gint64 v = 0; v < n_vocab; v++)
    g_assert_cmpfloat_with_epsilon (
      json_array_get_double_element (json_array_get_array_element (prefix_rows, 1), v),
      json_array_get_double_element (json_array_get_array_element (positions, 1), v), 1e-4);
}

static void
test_logits_token_out_of_range (void)
{
  g_auto (CliResult) r = { 0 };

  g_assert_cmpint (run_cli (&r, "logits", "--model", llama_f32, "--tokens", "1 99999999"), ==, 1);
  g_assert_nonnull (strstr (r.err, "99999999"));
  g_assert_cmpstr (r.out, ==, "");
}

static void
test_logits_unknown_device (void)
{
  g_auto (CliResult) r = { 0 };

  g_assert_cmpint (
    run_cli (&r, "logits", "--model", llama_f32, "--tokens", "1 2", "--device", "quantum"), ==, 1);
  g_assert_nonnull (strstr (r.err, "quantum"));
}

/* --profile adds the table on stderr and leaves stdout's JSON as it was; generate's counts
 * every step. The CPU reference has no ops to time. */
static void
test_profile_tables_on_stderr (void)
{
  g_auto (CliResult) r = { 0 };
  g_auto (CliResult) g = { 0 };
  g_auto (CliResult) ref = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (run_cli (&r, "logits", "--model", llama_f32, "--tokens", "1 2 3", "--device",
                            "cpu", "--json", "--profile"),
                   ==, 0);
  g_assert_true (json_parser_load_from_data (parser, r.out, -1, &error));
  g_assert_no_error (error);
  g_assert_nonnull (strstr (r.err, "# profile"));
  g_assert_nonnull (strstr (r.err, "\nmatmul "));
  g_assert_nonnull (strstr (r.err, "rmsnorm"));

  g_assert_cmpint (run_cli (&g, "generate", "--model", llama_f32, "--prompt", "hello", "-n", "3",
                            "--seed", "1", "--device", "cpu", "--profile"),
                   ==, 0);
  g_assert_nonnull (strstr (g.err, "attention_cached"));

  g_assert_cmpint (run_cli (&ref, "logits", "--model", llama_f32, "--tokens", "1 2", "--device",
                            "ref", "--profile"),
                   ==, 1);
  g_assert_nonnull (strstr (ref.err, "--profile"));
}

/* ---- generate ---- */

static JsonNode *
generate_json (const char *seed, const char *temperature, const char *max_tokens)
{
  return run_json ("generate", "--json", "--model", llama_f32, "--prompt", "Once upon a time",
                   "--seed", seed, "--temperature", temperature, "--max-tokens", max_tokens);
}

static void
test_generate_seed_reproducible (void)
{
  g_autoptr (JsonNode) a = generate_json ("11", "1.5", "12");
  g_autoptr (JsonNode) b = generate_json ("11", "1.5", "12");
  g_autoptr (JsonNode) c = generate_json ("12", "1.5", "12");
  g_autoptr (JsonNode) d = generate_json ("13", "1.5", "12");
  g_autoptr (GArray) ta =
    int_array (json_object_get_array_member (json_node_get_object (a), "tokens"));
  g_autoptr (GArray) tb =
    int_array (json_object_get_array_member (json_node_get_object (b), "tokens"));
  g_autoptr (GArray) tc =
    int_array (json_object_get_array_member (json_node_get_object (c), "tokens"));
  g_autoptr (GArray) td =
    int_array (json_object_get_array_member (json_node_get_object (d), "tokens"));
  g_autofree char *sa = ids_to_string (ta, ta->len);
  g_autofree char *sb = ids_to_string (tb, tb->len);
  g_autofree char *sc = ids_to_string (tc, tc->len);
  g_autofree char *sd = ids_to_string (td, td->len);

  g_assert_cmpuint (ta->len, >, 0);
  g_assert_cmpstr (sa, ==, sb);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (a), "text"), ==,
                   json_object_get_string_member (json_node_get_object (b), "text"));
  /* A flat-ish distribution at temperature 1.5: other seeds take other paths. */
  g_assert_true (g_strcmp0 (sa, sc) != 0 || g_strcmp0 (sa, sd) != 0);
}

static void
test_generate_temperature_zero_is_greedy (void)
{
  g_autoptr (JsonNode) gen = generate_json ("3", "0", "6");
  JsonObject *o = json_node_get_object (gen);
  g_autoptr (GArray) prompt = int_array (json_object_get_array_member (o, "prompt_tokens"));
  g_autoptr (GArray) out = int_array (json_object_get_array_member (o, "tokens"));
  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (JsonNode) logits = NULL;
  g_autofree char *all_text = NULL;
  JsonArray *positions;

  g_assert_cmpuint (out->len, >, 0);
  g_array_append_vals (all, prompt->data, prompt->len);
  g_array_append_vals (all, out->data, out->len);
  all_text = ids_to_string (all, all->len);
  logits = run_json ("logits", "--json", "--all", "--top", "1", "--model", llama_f32, "--tokens",
                     all_text);
  positions = json_object_get_array_member (json_node_get_object (logits), "positions");

  /* Each generated token is the argmax after everything before it. */
  for (guint i = 0; i < out->len; i++)
    g_assert_cmpint (row_argmax (json_array_get_array_element (positions, prompt->len - 1 + i)), ==,
                     g_array_index (out, gint32, i));
}

static void
test_generate_streams_same_text (void)
{
  g_autoptr (JsonNode) gen = generate_json ("5", "1.0", "10");
  g_auto (CliResult) r = { 0 };

  g_assert_cmpint (run_cli (&r, "generate", "--model", llama_f32, "--prompt", "Once upon a time",
                            "--seed", "5", "--temperature", "1.0", "--max-tokens", "10"),
                   ==, 0);
  g_assert_true (g_utf8_validate (r.out, -1, NULL));
  g_assert_cmpstr (r.out, ==, json_object_get_string_member (json_node_get_object (gen), "text"));
}

/* The bytes the generated tokens stand for, and whether a valid multi-byte character in them
 * spans a token boundary (a character made of byte-fallback tokens). */
static GByteArray *
concat_pieces (TailorTokenizer *tok, GArray *ids, gboolean *split_char)
{
  GByteArray *bytes = g_byte_array_new ();
  g_autoptr (GArray) starts = g_array_new (FALSE, FALSE, sizeof (guint));

  for (guint i = 0; i < ids->len; i++)
    {
      g_autoptr (GBytes) piece =
        tailor_tokenizer_token_to_piece (tok, g_array_index (ids, gint32, i), FALSE);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (piece, &len);

      g_array_append_val (starts, bytes->len);
      g_byte_array_append (bytes, data, len);
    }

  *split_char = FALSE;
  for (guint pos = 0; pos < bytes->len;)
    {
      const char *at = (const char *) bytes->data + pos;
      gunichar c = g_utf8_get_char_validated (at, bytes->len - pos);
      guint len = (c == (gunichar) -1 || c == (gunichar) -2) ? 1 : g_unichar_to_utf8 (c, NULL);

      for (guint j = 0; j < starts->len && len > 1; j++)
        if (g_array_index (starts, guint, j) > pos && g_array_index (starts, guint, j) < pos + len)
          *split_char = TRUE;
      pos += len;
    }
  return bytes;
}

/* Streaming writes each character once it is complete: a character split over byte tokens
 * comes out whole, and bytes that never form one become U+FFFD, as g_utf8_make_valid does. */
static void
test_generate_streams_split_characters (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TailorGguf) gguf = tailor_gguf_open (llama_f32, &error);
  g_autoptr (TailorTokenizer) tok = NULL;
  gboolean found = FALSE;

  g_assert_no_error (error);
  tok = tailor_tokenizer_new_from_gguf (gguf, &error);
  g_assert_no_error (error);

  /* A flat distribution at temperature 3 picks byte tokens often; a few seeds suffice. */
  for (guint seed = 1; seed <= 200 && !found; seed++)
    {
      g_autofree char *seed_text = g_strdup_printf ("%u", seed);
      g_autoptr (JsonNode) gen =
        run_json ("generate", "--json", "--model", llama_f32, "--prompt", "Once upon a time",
                  "--seed", seed_text, "--temperature", "3", "--max-tokens", "48");
      g_autoptr (GArray) ids =
        int_array (json_object_get_array_member (json_node_get_object (gen), "tokens"));
      g_autoptr (GByteArray) bytes = concat_pieces (tok, ids, &found);
      g_autofree char *expected = g_utf8_make_valid ((const char *) bytes->data, bytes->len);
      g_auto (CliResult) r = { 0 };

      if (!found)
        continue;
      g_test_message ("seed %u splits a character over tokens", seed);
      g_assert_cmpstr (json_object_get_string_member (json_node_get_object (gen), "text"), ==,
                       expected);
      g_assert_cmpint (run_cli (&r, "generate", "--model", llama_f32, "--prompt",
                                "Once upon a time", "--seed", seed_text, "--temperature", "3",
                                "--max-tokens", "48"),
                       ==, 0);
      g_assert_cmpstr (r.out, ==, expected);
    }
  g_assert_true (found);
}

static void
test_generate_chat_uses_template (void)
{
  g_autoptr (JsonNode) chat =
    run_json ("generate", "--json", "--chat", "--system", "Be brief.", "--model", qwen2_q8,
              "--prompt", "Hi", "--seed", "1", "--max-tokens", "3");
  g_autoptr (JsonNode) tok = run_json ("tokenize", "--json", "--model", qwen2_q8,
                                       "<|im_start|>system\nBe brief.<|im_end|>\n"
                                       "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  g_autoptr (GArray) prompt =
    int_array (json_object_get_array_member (json_node_get_object (chat), "prompt_tokens"));
  g_autoptr (GArray) expected =
    int_array (json_object_get_array_member (json_node_get_object (tok), "tokens"));
  g_autofree char *a = ids_to_string (prompt, prompt->len);
  g_autofree char *b = ids_to_string (expected, expected->len);

  g_assert_cmpstr (a, ==, b);
}

/* ---- usage and errors ---- */

static void
test_usage_errors_exit_2 (void)
{
  const char *const *cases[] = {
    (const char *const[]){ NULL },
    (const char *const[]){ "frobnicate", NULL },
    (const char *const[]){ "inspect", NULL },
    (const char *const[]){ "inspect", "--bogus", "x.gguf", NULL },
    (const char *const[]){ "inspect", "a.gguf", "b.gguf", NULL },
    (const char *const[]){ "tokenize", "hello", NULL },
    (const char *const[]){ "tokenize", "--model", "m.gguf", NULL },
    (const char *const[]){ "logits", "--model", "m.gguf", NULL },
    (const char *const[]){ "logits", "--model", "m.gguf", "--tokens", "1", "--prompt", "x", NULL },
    (const char *const[]){ "logits", "--model", "m.gguf", "--tokens", "1 x", NULL },
    (const char *const[]){ "logits", "--model", "m.gguf", "--tokens", "1", "--top", "-1", NULL },
    (const char *const[]){ "logits", "--model", "m.gguf", "--tokens", "1", "--top", "many", NULL },
    (const char *const[]){ "generate", "--model", "m.gguf", NULL },
    (const char *const[]){ "generate", "--model", "m.gguf", "--prompt", "x", "--system", "y",
                           NULL },
    (const char *const[]){ "make-test-model", "--arch", "gpt5", "out.gguf", NULL },
    (const char *const[]){ "make-test-model", "--arch", "llama", "--type", "q3_xl", "o.gguf",
                           NULL },
    (const char *const[]){ "make-test-model", "--arch", "llama", NULL },
    (const char *const[]){ "make-test-model", "--arch", "llama", "--embd", "0", "o.gguf", NULL },
    (const char *const[]){ "make-test-model", "--arch", "llama", "--vocab-size", "100", "o.gguf",
                           NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto (CliResult) r = { 0 };
      g_autofree char *joined = g_strjoinv (" ", (char **) cases[i]);

      g_test_message ("tailor-cli %s", joined);
      g_assert_cmpint (run_cli_v (&r, cases[i]), ==, 2);
      g_assert_cmpstr (r.out, ==, "");
      g_assert_nonnull (strstr (r.err, "Usage"));
    }
}

/* --vocab-size is honoured exactly past the learned vocabulary, and a size too small
 * for the byte and special tokens is refused saying the minimum. */
static void
test_make_test_model_vocab_size (void)
{
  g_autofree char *path = g_build_filename (work_dir, "vocab-4096.gguf", NULL);
  g_auto (CliResult) made = { 0 };
  g_auto (CliResult) small = { 0 };
  g_autoptr (JsonNode) root = NULL;
  JsonObject *o;

  g_assert_cmpint (run_cli (&made, "make-test-model", "--arch", "qwen2", "--vocab-size", "4096",
                            "--layers", "1", path),
                   ==, 0);
  root = run_json ("inspect", "--json", path);
  o = json_node_get_object (root);
  g_assert_cmpint (json_object_get_int_member (o, "vocab_size"), ==, 4096);
  g_assert_cmpint (
    run_cli (&small, "make-test-model", "--arch", "llama", "--vocab-size", "258", path), ==, 2);
  g_assert_nonnull (strstr (small.err, "at least 259"));
  g_unlink (path);
}

static void
test_help_exits_0 (void)
{
  const char *names[] = { "inspect", "tokenize", "logits", "generate", "make-test-model" };
  g_auto (CliResult) top = { 0 };

  g_assert_cmpint (run_cli (&top, "--help"), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_auto (CliResult) r = { 0 };

      g_assert_nonnull (strstr (top.out, names[i]));
      g_assert_cmpint (run_cli (&r, names[i], "--help"), ==, 0);
      g_assert_nonnull (strstr (r.out, "Usage"));
      g_assert_nonnull (strstr (r.out, names[i]));
    }
}

static void
test_truncated_model_exits_1_naming_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  g_autofree char *path = g_build_filename (work_dir, "truncated-model.gguf", NULL);
  gsize len = 0;
  const char *const *cases[] = {
    (const char *const[]){ "inspect", path, NULL },
    (const char *const[]){ "tokenize", "--model", path, "hello", NULL },
    (const char *const[]){ "logits", "--model", path, "--tokens", "1", NULL },
    (const char *const[]){ "generate", "--model", path, "--prompt", "hello", NULL },
  };

  g_file_get_contents (llama_f32, &data, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (path, data, len / 2, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto (CliResult) r = { 0 };

      g_assert_cmpint (run_cli_v (&r, cases[i]), ==, 1);
      g_assert_nonnull (strstr (r.err, "truncated-model.gguf"));
      g_assert_cmpstr (r.out, ==, "");
    }
}

static void
test_not_gguf_exits_1_naming_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (work_dir, "notes-not-a-model.gguf", NULL);
  g_auto (CliResult) r = { 0 };
  const char text[] = "These are my notes, not a model. They are long enough to have a header.";

  g_file_set_contents (path, text, sizeof text - 1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (run_cli (&r, "inspect", "--json", path), ==, 1);
  g_assert_nonnull (strstr (r.err, "notes-not-a-model.gguf"));
  g_assert_cmpstr (r.out, ==, "");
}

static void
test_missing_file_exits_1 (void)
{
  g_autofree char *path = g_build_filename (work_dir, "no-such-model.gguf", NULL);
  g_auto (CliResult) a = { 0 };
  g_auto (CliResult) b = { 0 };

  g_assert_cmpint (run_cli (&a, "inspect", path), ==, 1);
  g_assert_nonnull (strstr (a.err, "no-such-model.gguf"));
  g_assert_cmpint (run_cli (&b, "logits", "--model", path, "--prompt", "hi"), ==, 1);
  g_assert_nonnull (strstr (b.err, "no-such-model.gguf"));
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);
        remove_tree (child);
      }
  g_remove (path);
}

int
main (int argc, char *argv[])
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  /* meson test sets it; by hand: TAILOR_CLI=build/src/cli/tailor-cli tests/test-cli */
  g_assert_nonnull (g_getenv ("TAILOR_CLI"));
  work_dir = g_dir_make_tmp ("tailor-cli-XXXXXX", &error);
  g_assert_no_error (error);
  llama_q4km = make_model ("llama-q4_k_m.gguf", "llama", "q4_k_m");
  qwen2_q8 = make_model ("qwen2-q8_0.gguf", "qwen2", "q8_0");
  llama_f32 = make_model ("llama-f32.gguf", "llama", "f32");

  g_test_add_func ("/cli/inspect/json-fields-match-the-file", test_inspect_json_fields);
  g_test_add_func ("/cli/inspect/qwen2-bpe-model", test_inspect_qwen2_bpe);
  g_test_add_func ("/cli/inspect/human-table", test_inspect_human_table);
  g_test_add_func ("/cli/tokenize/round-trip", test_tokenize_round_trip);
  g_test_add_func ("/cli/tokenize/double-dash-allows-text-starting-with-dash",
                   test_tokenize_dash_text);
  g_test_add_func ("/cli/logits/top-sorted-and-consistent-with-full-logits",
                   test_logits_top_sorted_and_consistent);
  g_test_add_func ("/cli/logits/token-out-of-range-exits-1", test_logits_token_out_of_range);
  g_test_add_func ("/cli/logits/unknown-device-exits-1", test_logits_unknown_device);
  g_test_add_func ("/cli/profile/tables-on-stderr", test_profile_tables_on_stderr);
  g_test_add_func ("/cli/generate/seed-is-reproducible", test_generate_seed_reproducible);
  g_test_add_func ("/cli/generate/temperature-zero-is-greedy",
                   test_generate_temperature_zero_is_greedy);
  g_test_add_func ("/cli/generate/streamed-text-equals-json-text", test_generate_streams_same_text);
  g_test_add_func ("/cli/generate/streams-characters-split-across-tokens",
                   test_generate_streams_split_characters);
  g_test_add_func ("/cli/generate/chat-renders-the-template", test_generate_chat_uses_template);
  g_test_add_func ("/cli/usage-errors-exit-2", test_usage_errors_exit_2);
  g_test_add_func ("/cli/make-test-model/vocab-size-is-exact", test_make_test_model_vocab_size);
  g_test_add_func ("/cli/help-exits-0", test_help_exits_0);
  g_test_add_func ("/cli/errors/truncated-model-exits-1-naming-file",
                   test_truncated_model_exits_1_naming_file);
  g_test_add_func ("/cli/errors/not-gguf-exits-1-naming-file", test_not_gguf_exits_1_naming_file);
  g_test_add_func ("/cli/errors/missing-file-exits-1", test_missing_file_exits_1);

  status = g_test_run ();
  remove_tree (work_dir);
  g_free (work_dir);
  g_free (llama_q4km);
  g_free (qwen2_q8);
  g_free (llama_f32);
  return status;
}
