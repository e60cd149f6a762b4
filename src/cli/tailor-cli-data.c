/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `tailor-cli data`: import files into a new dataset version, check its hygiene, split, list,
 * export and leak-check versions. */
#include "config.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tailor-catalogue.h"
#include "tailor-chat.h"
#include "tailor-cli-data.h"
#include "tailor-cli-private.h"
#include "tailor-data-hygiene.h"
#include "tailor-data-import.h"
#include "tailor-data-split.h"
#include "tailor-gguf.h"
#include "tailor-tokenizer.h"

/* Rejected records printed one by one before the rest are only counted. */
#define MAX_REJECTS_SHOWN 100

typedef struct
{
  const char *name;
  const char *params;
  const char *summary;
  const char *description;
  int (*run) (int argc, char **argv);
} DataCommand;

static const DataCommand *current;

static GOptionContext *
data_context_new (const GOptionEntry *entries)
{
  GOptionContext *context = g_option_context_new (current->params);

  g_option_context_set_summary (context, current->summary);
  if (current->description != NULL)
    g_option_context_set_description (context, current->description);
  g_option_context_add_main_entries (context, entries, NULL);
  return context;
}

static TailorCatalogue *
open_catalogue (void)
{
  g_autoptr (GError) error = NULL;
  TailorCatalogue *catalogue = tailor_catalogue_open (NULL, TAILOR_CATALOGUE_OPEN_DEFAULT, &error);

  if (catalogue == NULL)
    {
      tailor_cli_fail (error);
      return NULL;
    }
  return catalogue;
}

static TailorProject *
find_project (TailorCatalogue *catalogue, const char *name)
{
  g_autoptr (GError) error = NULL;
  TailorProject *project = tailor_catalogue_find_project (catalogue, name, &error);

  if (project == NULL)
    {
      if (g_error_matches (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND))
        tailor_cli_failf ("There is no project “%s”; create it with `tailor-cli data import %s "
                          "FILE…`.",
                          name, name);
      else
        tailor_cli_fail (error);
    }
  return project;
}

/* The version named, or the project's latest. */
static TailorDatasetVersion *
pick_version (TailorCatalogue *catalogue, const TailorProject *project, const char *version_id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) versions = NULL;

  if (version_id != NULL)
    {
      TailorDatasetVersion *version =
        tailor_catalogue_get_version (catalogue, project->id, version_id, &error);

      if (version == NULL)
        tailor_cli_fail (error);
      return version;
    }
  versions = tailor_catalogue_list_versions (catalogue, project->id, &error);
  if (versions == NULL)
    {
      tailor_cli_fail (error);
      return NULL;
    }
  if (versions->len == 0)
    {
      tailor_cli_failf ("Project “%s” has no dataset version yet; import data with `tailor-cli "
                        "data import %s FILE…`.",
                        project->name, project->name);
      return NULL;
    }
  return g_ptr_array_steal_index (versions, versions->len - 1);
}

/* As tailor_cli_print_json, for a document built elsewhere. */
static gboolean
print_json_node (JsonNode *node)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;
  gsize len = 0;

  json_generator_set_root (generator, node);
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  text = json_generator_to_data (generator, &len);
  if (fwrite (text, 1, len, stdout) != len || fputc ('\n', stdout) == EOF || fflush (stdout) != 0)
    {
      tailor_cli_failf ("Cannot write the JSON output: %s", g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------------ */
/* data import */

/* Applies one --pii value: ACTION for every kind, or KIND=ACTION; "off" disables detection. */
static gboolean
apply_pii_setting (TailorPiiOptions *pii, const char *setting, char **problem)
{
  g_auto (GStrv) parts = g_strsplit (setting, ",", -1);

  for (guint p = 0; parts[p] != NULL; p++)
    {
      const char *item = g_strstrip (parts[p]);
      const char *equals = strchr (item, '=');
      g_autofree char *kind_name = equals != NULL ? g_strndup (item, equals - item) : NULL;
      const char *action_name = equals != NULL ? equals + 1 : item;
      TailorPiiAction action = TAILOR_PII_ACTION_KEEP;
      gboolean off = g_str_equal (action_name, "off");
      TailorPiiKind kind = 0;

      if (*item == '\0')
        continue;
      if (!off && !tailor_pii_action_from_string (action_name, &action))
        {
          *problem = g_strdup_printf ("--pii: unknown action “%s”; use redact, drop, keep or off",
                                      action_name);
          return FALSE;
        }
      if (kind_name != NULL && !tailor_pii_kind_from_string (kind_name, &kind))
        {
          *problem = g_strdup_printf ("--pii: unknown kind “%s”; kinds are email, phone, "
                                      "credit-card, iban, ip-address, private-key, api-key, "
                                      "url-password, national-id",
                                      kind_name);
          return FALSE;
        }
      for (guint k = 0; k < TAILOR_PII_N_KINDS; k++)
        {
          if (kind_name != NULL && k != kind)
            continue;
          pii->enabled[k] = !off;
          if (!off)
            pii->actions[k] = action;
        }
    }
  return TRUE;
}

typedef struct
{
  guint64 n_rejects;
} RejectPrinter;

static void
print_reject (const TailorImportReject *reject, gpointer user_data)
{
  RejectPrinter *printer = user_data;

  printer->n_rejects++;
  if (printer->n_rejects > MAX_REJECTS_SHOWN)
    return;
  if (reject->unit == TAILOR_IMPORT_UNIT_LINE)
    g_printerr ("%s:%" G_GUINT64_FORMAT ": ", reject->path, reject->line);
  else
    g_printerr ("%s (%s %" G_GUINT64_FORMAT "): ", reject->path,
                tailor_import_unit_to_string (reject->unit), reject->line);
  g_printerr ("%s: %s", tailor_import_reject_reason_to_string (reject->reason), reject->message);
  if (reject->preview != NULL)
    g_printerr (" (“%s”)", reject->preview);
  g_printerr ("\n");
}

static void
add_version_members (JsonBuilder *builder, const TailorDatasetVersion *version)
{
  json_builder_set_member_name (builder, "version");
  json_builder_add_string_value (builder, version->id);
  json_builder_set_member_name (builder, "parent");
  if (version->parent != NULL)
    json_builder_add_string_value (builder, version->parent);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "changelog");
  json_builder_add_string_value (builder, version->changelog);
  json_builder_set_member_name (builder, "train");
  json_builder_add_int_value (builder, (gint64) version->train_count);
  json_builder_set_member_name (builder, "eval");
  json_builder_add_int_value (builder, (gint64) version->eval_count);
  json_builder_set_member_name (builder, "eval_frozen");
  json_builder_add_boolean_value (builder, version->eval_frozen);
}

static void
add_json_text_member (JsonBuilder *builder, const char *name, const char *json)
{
  g_autoptr (JsonNode) node = json != NULL ? json_from_string (json, NULL) : NULL;

  json_builder_set_member_name (builder, name);
  if (node != NULL)
    json_builder_add_value (builder, g_steal_pointer (&node));
  else
    json_builder_add_null_value (builder);
}

static gboolean
project_is_frozen (TailorCatalogue *catalogue, const char *name, char **frozen_id, GError **error)
{
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (TailorDatasetVersion) frozen = NULL;
  g_autoptr (GError) local_error = NULL;

  *frozen_id = NULL;
  project = tailor_catalogue_find_project (catalogue, name, &local_error);
  if (project == NULL)
    {
      if (g_error_matches (local_error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  frozen = tailor_dataset_get_frozen (catalogue, project->id, error);
  if (frozen == NULL)
    return error == NULL || *error == NULL;
  *frozen_id = g_strdup (frozen->id);
  return TRUE;
}

/* Options left at these values were not given. */
#define RATIO_UNSET NAN
#define COUNT_UNSET -1

/* Split options from --eval-ratio / --eval-count; *given FALSE when neither was given. */
static gboolean
parse_split_options (GOptionContext *context,
                     double ratio,
                     int count,
                     TailorSplitOptions *out,
                     gboolean *given,
                     int *status)
{
  *given = FALSE;
  tailor_split_options_init (out);
  if (!isnan (ratio) && count != COUNT_UNSET)
    {
      *status = tailor_cli_usage_error (context, "give --eval-ratio or --eval-count, not both");
      return FALSE;
    }
  if (count != COUNT_UNSET && count <= 0)
    {
      *status = tailor_cli_usage_error (context, "--eval-count must be a positive number");
      return FALSE;
    }
  if (!isnan (ratio) && !(ratio >= 0.0 && ratio < 1.0))
    {
      *status = tailor_cli_usage_error (context,
                                        "--eval-ratio %g is out of range; use a share from 0 up "
                                        "to (not including) 1, e.g. 0.1",
                                        ratio);
      return FALSE;
    }
  if (!isnan (ratio))
    {
      out->eval_ratio = ratio;
      *given = TRUE;
    }
  else if (count != COUNT_UNSET)
    {
      out->eval_count = (guint) count;
      *given = TRUE;
    }
  return TRUE;
}

static int
data_import (int argc, char **argv)
{
  g_autofree char *format_name = NULL;
  g_autofree char *license = NULL;
  g_autofree char *glossary = NULL;
  g_auto (GStrv) pii_settings = NULL;
  g_auto (GStrv) markers = NULL;
  double dedup_threshold = 0.8;
  gboolean no_dedup = FALSE;
  double eval_ratio = RATIO_UNSET;
  int eval_count = COUNT_UNSET;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format_name,
      "File format (default auto): jsonl, jsonl-chat, jsonl-sharegpt, jsonl-alpaca, "
      "jsonl-prompt-completion, jsonl-text, csv, tsv, qa, markdown-qa, text, markdown, html, pdf, "
      "docx",
      "F" },
    { "license", 'l', 0, G_OPTION_ARG_STRING, &license,
      "Declared license of the files (SPDX id or text)", "L" },
    { "dedup-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &dedup_threshold,
      "Near-duplicate similarity (estimated Jaccard, 0–1] at which examples are merged (default "
      "0.8)",
      "X" },
    { "no-dedup", 0, 0, G_OPTION_ARG_NONE, &no_dedup, "Keep duplicates", NULL },
    { "pii", 0, 0, G_OPTION_ARG_STRING_ARRAY, &pii_settings,
      "What to do with secrets and personal data: redact (default), drop, keep or off, for every "
      "kind or as KIND=ACTION (repeatable, comma-separated)",
      "ACTION|KIND=ACTION" },
    { "glossary", 'g', 0, G_OPTION_ARG_FILENAME, &glossary,
      "Terminology to normalise: lines “variant<TAB>preferred[<TAB>exact]”", "FILE" },
    { "counter-marker", 0, 0, G_OPTION_ARG_STRING_ARRAY, &markers,
      "Examples containing this text are counter-examples (kept in training; repeatable)", "TEXT" },
    { "eval-ratio", 0, 0, G_OPTION_ARG_DOUBLE, &eval_ratio,
      "Share of new examples held out for evaluation (default 0.1, or the project's setting)",
      "R" },
    { "eval-count", 0, 0, G_OPTION_ARG_INT, &eval_count,
      "Size of the evaluation set instead of a ratio", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the new version as JSON", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = data_context_new (entries);
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorDatasetBuilder) builder = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *frozen_id = NULL;
  g_autofree char *problem = NULL;
  TailorImportFormat format = TAILOR_IMPORT_FORMAT_AUTO;
  TailorHygieneSettings hygiene;
  TailorImportOptions import_options = { 0 };
  TailorSplitOptions split;
  RejectPrinter printer = { 0 };
  gboolean split_given = FALSE;
  gboolean created = FALSE;
  int status = TAILOR_CLI_EXIT_USAGE;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc < 3)
    return tailor_cli_usage_error (context, "name a project and at least one file to import");
  if (!tailor_cli_check_utf8 (context, "The project name", argv[1]))
    return TAILOR_CLI_EXIT_USAGE;
  if (format_name != NULL && !tailor_import_format_from_string (format_name, &format))
    return tailor_cli_usage_error (context, "unknown --format “%s”", format_name);
  if (license != NULL && !tailor_cli_check_utf8 (context, "--license", license))
    return TAILOR_CLI_EXIT_USAGE;
  if (!(dedup_threshold > 0.0 && dedup_threshold <= 1.0))
    return tailor_cli_usage_error (context,
                                   "--dedup-threshold %g is out of range; use a similarity above 0 "
                                   "and at most 1",
                                   dedup_threshold);
  if (!parse_split_options (context, eval_ratio, eval_count, &split, &split_given, &status))
    return status;

  tailor_hygiene_settings_init (&hygiene);
  hygiene.dedup = !no_dedup;
  hygiene.dedup_options.threshold = dedup_threshold;
  hygiene.glossary_path = glossary;
  hygiene.counter_markers = (const char *const *) markers;
  for (guint i = 0; pii_settings != NULL && pii_settings[i] != NULL; i++)
    if (!apply_pii_setting (&hygiene.pii, pii_settings[i], &problem))
      return tailor_cli_usage_error (context, "%s", problem);

  catalogue = open_catalogue ();
  if (catalogue == NULL)
    return TAILOR_CLI_EXIT_ERROR;
  if (tailor_catalogue_get_recovery_message (catalogue) != NULL)
    g_printerr ("%s\n", tailor_catalogue_get_recovery_message (catalogue));
  if (!project_is_frozen (catalogue, argv[1], &frozen_id, &error))
    return tailor_cli_fail (error);
  if (frozen_id != NULL && split_given)
    return tailor_cli_failf ("The evaluation set of “%s” is frozen (version %s); --eval-ratio and "
                             "--eval-count cannot change it. New examples all go to training.",
                             argv[1], frozen_id);

  builder = tailor_dataset_builder_new (catalogue, argv[1], NULL, &hygiene,
                                        split_given ? &split : NULL, &error);
  if (builder == NULL)
    return tailor_cli_fail (error);

  import_options.license = license;
  for (int i = 2; i < argc; i++)
    {
      if (!tailor_dataset_builder_import_file (builder, argv[i], format, &import_options,
                                               print_reject, &printer, NULL, &error))
        {
          tailor_cli_fail (error);
          g_printerr ("Nothing was imported: an import adds all its files or none.\n");
          return TAILOR_CLI_EXIT_ERROR;
        }
    }
  if (printer.n_rejects > MAX_REJECTS_SHOWN)
    g_printerr ("… and %" G_GUINT64_FORMAT " more rejected records (%" G_GUINT64_FORMAT
                " in all)\n",
                printer.n_rejects - MAX_REJECTS_SHOWN, printer.n_rejects);

  version = tailor_dataset_builder_commit (builder, &created, NULL, &error);
  if (version == NULL)
    {
      tailor_cli_fail (error);
      g_printerr ("Nothing was saved.\n");
      return TAILOR_CLI_EXIT_ERROR;
    }

  if (json)
    {
      g_autoptr (JsonBuilder) out = json_builder_new ();

      json_builder_begin_object (out);
      add_version_members (out, version);
      json_builder_set_member_name (out, "created");
      json_builder_add_boolean_value (out, created);
      json_builder_set_member_name (out, "rejected");
      json_builder_add_int_value (out, (gint64) printer.n_rejects);
      add_json_text_member (out, "counts",
                            created ? tailor_dataset_builder_get_counts (builder)
                                    : version->hygiene_counts);
      json_builder_end_object (out);
      return tailor_cli_print_json (out, TRUE) ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
    }
  if (created)
    g_print ("%s\nVersion %s: %" G_GUINT64_FORMAT " training, %" G_GUINT64_FORMAT
             " evaluation examples\n",
             tailor_dataset_builder_get_changelog (builder), version->id, version->train_count,
             version->eval_count);
  else
    g_print ("Nothing new: the result is version %s, which already exists.\n", version->id);
  return TAILOR_CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* data check */

typedef struct
{
  double chars_per_token;
  TailorTokenizer *tokenizer;
  TailorChatStyle style;
  GArray *ids;
} TokenCounter;

static guint
count_tokens (const TailorExample *example, gpointer user_data)
{
  TokenCounter *counter = user_data;
  guint64 chars = 0;

  if (counter->tokenizer != NULL)
    {
      g_array_set_size (counter->ids, 0);
      if (example->kind == TAILOR_EXAMPLE_TEXT)
        {
          tailor_tokenizer_encode (counter->tokenizer, example->text, -1,
                                   TAILOR_TOKENIZE_ADD_SPECIAL, counter->ids);
          return counter->ids->len;
        }
      else
        {
          g_autofree TailorChatMessage *msgs = g_new0 (TailorChatMessage, example->messages->len);

          for (guint i = 0; i < example->messages->len; i++)
            {
              const TailorMessage *m = &g_array_index (example->messages, TailorMessage, i);

              msgs[i].role = m->role;
              msgs[i].content = m->content;
            }
          if (tailor_chat_render_tokens_style (counter->tokenizer, counter->style, msgs,
                                               example->messages->len, FALSE, counter->ids, NULL,
                                               NULL))
            return counter->ids->len;
        }
    }

  /* The estimate (and the fallback for a conversation the template cannot render). */
  if (example->kind == TAILOR_EXAMPLE_TEXT)
    chars = g_utf8_strlen (example->text, -1);
  else
    for (guint i = 0; i < example->messages->len; i++)
      chars += g_utf8_strlen (g_array_index (example->messages, TailorMessage, i).content, -1);
  return (guint) MIN ((chars + counter->chars_per_token - 1) / counter->chars_per_token,
                      (double) G_MAXUINT);
}

static void
print_check_text (const TailorDatasetVersion *version,
                  const TailorDuplicateReport *dups,
                  const TailorPiiReport *pii,
                  const TailorLengthReport *lengths,
                  const TailorBalanceReport *balance,
                  const TokenCounter *counter)
{
  const TailorLengthStats *total = lengths->total;

  g_print ("Version %s: %" G_GUINT64_FORMAT " training, %" G_GUINT64_FORMAT
           " evaluation examples%s\n",
           version->id, version->train_count, version->eval_count,
           version->eval_frozen ? " (evaluation set frozen)" : "");
  g_print ("Duplicates: %u exact, %u near\n", dups->n_exact, dups->n_near);
  g_print ("Secrets and personal data: %u finding%s in %u example%s", pii->findings->len,
           pii->findings->len == 1 ? "" : "s", pii->n_examples_with_findings,
           pii->n_examples_with_findings == 1 ? "" : "s");
  for (guint k = 0, shown = 0; k < TAILOR_PII_N_KINDS; k++)
    if (pii->counts[k] > 0)
      g_print ("%s%s %u", shown++ == 0 ? " (" : ", ", tailor_pii_kind_to_string (k),
               pii->counts[k]);
  g_print ("%s\n", pii->findings->len > 0 ? ")" : "");
  for (guint i = 0; i < pii->findings->len && i < 20; i++)
    {
      const TailorPiiFinding *finding = &g_array_index (pii->findings, TailorPiiFinding, i);

      g_print ("  example %u: %s “%s”\n", finding->index, tailor_pii_kind_to_string (finding->kind),
               finding->preview);
    }
  g_print ("Lengths in tokens (%s): min %u, median %u, p95 %u, max %u; %u of %u longer than "
           "--seq-len %u\n",
           counter->tokenizer != NULL ? "the model's tokenizer" : "estimated from characters",
           total->min, total->p50, total->p95, total->max, total->n_truncated, total->n_examples,
           lengths->sequence_length);
  g_print ("Examples per source:");
  for (guint i = 0; i < balance->per_source->len; i++)
    {
      const TailorCount *count = &g_array_index (balance->per_source, TailorCount, i);

      g_print (" %s %u%s", count->key, count->count, i + 1 < balance->per_source->len ? "," : "");
    }
  g_print ("\nCounter-examples: %u\n", balance->n_counter_examples);
}

static int
data_check (int argc, char **argv)
{
  g_autofree char *model = NULL;
  g_autofree char *version_id = NULL;
  int seq_len = 512;
  double chars_per_token = 4.0;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "version", 0, 0, G_OPTION_ARG_STRING, &version_id, "Check this version (default: latest)",
      "ID" },
    { "seq-len", 0, 0, G_OPTION_ARG_INT, &seq_len,
      "Sequence length for the length report "
      "(default 512)",
      "N" },
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
      "Count tokens with this GGUF model's tokenizer and chat template", "M" },
    { "chars-per-token", 0, 0, G_OPTION_ARG_DOUBLE, &chars_per_token,
      "Characters per token for the estimate without --model (default 4)", "X" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the report as JSON", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = data_context_new (entries);
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GPtrArray) eval = NULL;
  g_autoptr (GPtrArray) all = NULL;
  g_autoptr (TailorDuplicateReport) dups = NULL;
  g_autoptr (TailorPiiReport) pii = NULL;
  g_autoptr (TailorLengthReport) lengths = NULL;
  g_autoptr (TailorBalanceReport) balance = NULL;
  g_autoptr (TailorGguf) gguf = NULL;
  g_autoptr (TailorTokenizer) tokenizer = NULL;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GError) error = NULL;
  TokenCounter counter = { 0 };

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc != 2)
    return tailor_cli_usage_error (context, "name one project");
  if (seq_len <= 0)
    return tailor_cli_usage_error (context, "--seq-len must be a positive number of tokens");
  if (!(chars_per_token > 0.0))
    return tailor_cli_usage_error (context, "--chars-per-token must be above 0");

  counter.chars_per_token = chars_per_token;
  counter.ids = ids;
  if (model != NULL)
    {
      g_autofree char *warning = NULL;

      gguf = tailor_gguf_open (model, &error);
      if (gguf == NULL)
        return tailor_cli_fail (error);
      tokenizer = tailor_tokenizer_new_from_gguf (gguf, &error);
      if (tokenizer == NULL)
        return tailor_cli_fail (error);
      counter.tokenizer = tokenizer;
      counter.style = tailor_chat_style_for_gguf (gguf, &warning);
      if (warning != NULL)
        g_printerr ("%s\n", warning);
    }

  catalogue = open_catalogue ();
  if (catalogue == NULL)
    return TAILOR_CLI_EXIT_ERROR;
  project = find_project (catalogue, argv[1]);
  if (project == NULL)
    return TAILOR_CLI_EXIT_ERROR;
  version = pick_version (catalogue, project, version_id);
  if (version == NULL)
    return TAILOR_CLI_EXIT_ERROR;
  train = tailor_dataset_read_split (catalogue, version, TAILOR_SPLIT_TRAIN, &error);
  if (train == NULL)
    return tailor_cli_fail (error);
  eval = tailor_dataset_read_split (catalogue, version, TAILOR_SPLIT_EVAL, &error);
  if (eval == NULL)
    return tailor_cli_fail (error);
  all = g_ptr_array_sized_new (train->len + eval->len);
  for (guint i = 0; i < train->len; i++)
    g_ptr_array_add (all, g_ptr_array_index (train, i));
  for (guint i = 0; i < eval->len; i++)
    g_ptr_array_add (all, g_ptr_array_index (eval, i));

  dups = tailor_find_duplicates (all, NULL, NULL, &error);
  if (dups == NULL)
    return tailor_cli_fail (error);
  pii = tailor_pii_scan (all, NULL, NULL, &error);
  if (pii == NULL)
    return tailor_cli_fail (error);
  lengths = tailor_length_report_new ((guint) seq_len, 0);
  tailor_length_report_add_split (lengths, "train", train, count_tokens, &counter);
  tailor_length_report_add_split (lengths, "eval", eval, count_tokens, &counter);
  balance = tailor_balance_report_new (all, count_tokens, &counter, NULL, 0);

  if (json)
    {
      g_autoptr (JsonBuilder) out = json_builder_new ();

      json_builder_begin_object (out);
      add_version_members (out, version);
      json_builder_set_member_name (out, "tokens");
      json_builder_begin_object (out);
      json_builder_set_member_name (out, "method");
      json_builder_add_string_value (out, tokenizer != NULL ? "model" : "estimate");
      json_builder_set_member_name (out, "chars_per_token");
      if (tokenizer != NULL)
        json_builder_add_null_value (out);
      else
        tailor_cli_json_add_float (out, chars_per_token);
      json_builder_end_object (out);
      json_builder_set_member_name (out, "duplicates");
      json_builder_add_value (out, tailor_duplicate_report_to_json (dups));
      json_builder_set_member_name (out, "pii");
      json_builder_add_value (out, tailor_pii_report_to_json (pii));
      json_builder_set_member_name (out, "lengths");
      json_builder_add_value (out, tailor_length_report_to_json (lengths));
      json_builder_set_member_name (out, "balance");
      json_builder_add_value (out, tailor_balance_report_to_json (balance));
      add_json_text_member (out, "hygiene", version->hygiene_counts);
      json_builder_end_object (out);
      return tailor_cli_print_json (out, TRUE) ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
    }
  print_check_text (version, dups, pii, lengths, balance, &counter);
  return TAILOR_CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* data split */

static int
data_split (int argc, char **argv)
{
  double eval_ratio = RATIO_UNSET;
  int eval_count = COUNT_UNSET;
  gboolean freeze = FALSE;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "eval-ratio", 0, 0, G_OPTION_ARG_DOUBLE, &eval_ratio,
      "Re-split every example with this evaluation share", "R" },
    { "eval-count", 0, 0, G_OPTION_ARG_INT, &eval_count,
      "Re-split with an evaluation set of this size", "N" },
    { "freeze", 0, 0, G_OPTION_ARG_NONE, &freeze,
      "Make the (new) evaluation set sacred: every later version keeps it, nothing near it is "
      "trained on",
      NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the version as JSON", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = data_context_new (entries);
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (GError) error = NULL;
  TailorSplitOptions split;
  gboolean split_given = FALSE;
  gboolean created = FALSE;
  int status = TAILOR_CLI_EXIT_USAGE;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc != 2)
    return tailor_cli_usage_error (context, "name one project");
  if (!parse_split_options (context, eval_ratio, eval_count, &split, &split_given, &status))
    return status;
  if (!split_given && !freeze)
    return tailor_cli_usage_error (context, "give --eval-ratio, --eval-count or --freeze");

  catalogue = open_catalogue ();
  if (catalogue == NULL)
    return TAILOR_CLI_EXIT_ERROR;
  project = find_project (catalogue, argv[1]);
  if (project == NULL)
    return TAILOR_CLI_EXIT_ERROR;

  if (split_given)
    {
      g_autoptr (TailorDatasetBuilder) builder =
        tailor_dataset_builder_new (catalogue, argv[1], NULL, NULL, &split, &error);

      if (builder == NULL)
        return tailor_cli_fail (error);
      tailor_dataset_builder_set_resplit (builder, TRUE);
      tailor_dataset_builder_set_freeze_eval (builder, freeze);
      version = tailor_dataset_builder_commit (builder, &created, NULL, &error);
      if (version == NULL)
        return tailor_cli_fail (error);
    }
  else
    {
      version = pick_version (catalogue, project, NULL);
      if (version == NULL)
        return TAILOR_CLI_EXIT_ERROR;
      if (!tailor_dataset_freeze_eval (catalogue, project->id, version->id, NULL, &error))
        return tailor_cli_fail (error);
      version->eval_frozen = TRUE;
    }

  if (json)
    {
      g_autoptr (JsonBuilder) out = json_builder_new ();

      json_builder_begin_object (out);
      add_version_members (out, version);
      json_builder_set_member_name (out, "created");
      json_builder_add_boolean_value (out, created);
      json_builder_end_object (out);
      return tailor_cli_print_json (out, TRUE) ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
    }
  g_print ("Version %s: %" G_GUINT64_FORMAT " training, %" G_GUINT64_FORMAT
           " evaluation examples%s\n",
           version->id, version->train_count, version->eval_count,
           version->eval_frozen ? "; the evaluation set is frozen" : "");
  return TAILOR_CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* data versions */

static int
data_versions (int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      "Print [{\"id\",\"parent\",\"created\",\"changelog\",\"train\",\"eval\"}…], oldest first",
      NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = data_context_new (entries);
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (GPtrArray) versions = NULL;
  g_autoptr (GError) error = NULL;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc != 2)
    return tailor_cli_usage_error (context, "name one project");

  catalogue = open_catalogue ();
  if (catalogue == NULL)
    return TAILOR_CLI_EXIT_ERROR;
  project = find_project (catalogue, argv[1]);
  if (project == NULL)
    return TAILOR_CLI_EXIT_ERROR;
  versions = tailor_catalogue_list_versions (catalogue, project->id, &error);
  if (versions == NULL)
    return tailor_cli_fail (error);

  if (json)
    {
      g_autoptr (JsonNode) node = tailor_catalogue_versions_to_json (versions);

      return print_json_node (node) ? TAILOR_CLI_EXIT_OK : TAILOR_CLI_EXIT_ERROR;
    }
  for (guint i = 0; i < versions->len; i++)
    {
      const TailorDatasetVersion *version = g_ptr_array_index (versions, i);
      g_autoptr (GDateTime) created =
        g_date_time_new_from_unix_utc (version->created / G_USEC_PER_SEC);
      g_autofree char *when = g_date_time_format (created, "%Y-%m-%d %H:%M:%S");

      g_print ("%s  %s UTC  train %" G_GUINT64_FORMAT ", eval %" G_GUINT64_FORMAT "%s\n  %s\n",
               version->id, when, version->train_count, version->eval_count,
               version->eval_frozen ? " (eval frozen)" : "", version->changelog);
    }
  if (versions->len == 0)
    g_print ("No dataset version yet.\n");
  return TAILOR_CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* data export */

/* A version by full id, or by a prefix unique across the catalogue. */
static TailorDatasetVersion *
find_version_anywhere (TailorCatalogue *catalogue, const char *id, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GPtrArray) projects = NULL;
  TailorDatasetVersion *found = NULL;
  guint n_found = 0;

  found = tailor_catalogue_get_version (catalogue, 0, id, &local_error);
  if (found != NULL ||
      !g_error_matches (local_error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND))
    {
      if (found == NULL)
        g_propagate_error (error, g_steal_pointer (&local_error));
      return found;
    }
  projects = tailor_catalogue_list_projects (catalogue, error);
  if (projects == NULL)
    return NULL;
  for (guint p = 0; p < projects->len; p++)
    {
      const TailorProject *project = g_ptr_array_index (projects, p);
      g_autoptr (GPtrArray) versions =
        tailor_catalogue_list_versions (catalogue, project->id, error);

      if (versions == NULL)
        {
          g_clear_pointer (&found, tailor_dataset_version_free);
          return NULL;
        }
      for (guint v = 0; v < versions->len; v++)
        {
          TailorDatasetVersion *version = g_ptr_array_index (versions, v);

          if (!g_str_has_prefix (version->id, id))
            continue;
          if (found != NULL && g_str_equal (found->id, version->id))
            continue;
          n_found++;
          if (found == NULL)
            found = g_ptr_array_steal_index (versions, v--);
        }
    }
  if (n_found == 1 && strlen (id) >= 4)
    return found;
  g_clear_pointer (&found, tailor_dataset_version_free);
  if (n_found > 1)
    g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                 "“%s” is the start of %u dataset versions; give more of the id.", id, n_found);
  else
    g_set_error (error, TAILOR_CATALOGUE_ERROR, TAILOR_CATALOGUE_ERROR_NOT_FOUND,
                 "There is no dataset version “%s”; `tailor-cli data versions PROJECT` lists "
                 "them.",
                 id);
  return NULL;
}

static int
data_export (int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { NULL },
  };
  g_autoptr (GOptionContext) context = data_context_new (entries);
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorDatasetVersion) version = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *train_path = NULL;
  g_autofree char *eval_path = NULL;
  guint64 n_train = 0;
  guint64 n_eval = 0;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc != 3)
    return tailor_cli_usage_error (context, "name a version and an output folder");

  catalogue = open_catalogue ();
  if (catalogue == NULL)
    return TAILOR_CLI_EXIT_ERROR;
  version = find_version_anywhere (catalogue, argv[1], &error);
  if (version == NULL)
    return tailor_cli_fail (error);
  if (g_mkdir_with_parents (argv[2], 0755) != 0)
    return tailor_cli_failf ("Cannot create the folder “%s”: %s", argv[2], g_strerror (errno));
  train_path = g_build_filename (argv[2], "train.jsonl", NULL);
  eval_path = g_build_filename (argv[2], "eval.jsonl", NULL);
  if (!tailor_dataset_export_split (catalogue, version, TAILOR_SPLIT_TRAIN, train_path, &n_train,
                                    &error) ||
      !tailor_dataset_export_split (catalogue, version, TAILOR_SPLIT_EVAL, eval_path, &n_eval,
                                    &error))
    return tailor_cli_fail (error);
  g_print ("Wrote %" G_GUINT64_FORMAT " training examples to %s and %" G_GUINT64_FORMAT
           " evaluation examples to %s\n",
           n_train, train_path, n_eval, eval_path);
  return TAILOR_CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* data leak-check */

static int
data_leak_check (int argc, char **argv)
{
  g_autofree char *version_id = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "version", 0, 0, G_OPTION_ARG_STRING, &version_id, "Check this version (default: latest)",
      "ID" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the report as JSON (also when it leaks)",
      NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = data_context_new (entries);
  g_autoptr (TailorCatalogue) catalogue = NULL;
  g_autoptr (TailorProject) project = NULL;
  g_autoptr (TailorLeakReport) report = NULL;
  g_autoptr (GError) error = NULL;

  if (!tailor_cli_parse (context, &argc, &argv))
    return TAILOR_CLI_EXIT_USAGE;
  if (argc != 2)
    return tailor_cli_usage_error (context, "name one project");

  catalogue = open_catalogue ();
  if (catalogue == NULL)
    return TAILOR_CLI_EXIT_ERROR;
  project = find_project (catalogue, argv[1]);
  if (project == NULL)
    return TAILOR_CLI_EXIT_ERROR;
  report = tailor_dataset_leak_check (catalogue, project->id, version_id, NULL, &error);
  if (report == NULL)
    return tailor_cli_fail (error);

  if (json)
    {
      g_autoptr (JsonNode) node = tailor_leak_report_to_json (report);

      if (!print_json_node (node))
        return TAILOR_CLI_EXIT_ERROR;
    }
  if (!tailor_leak_report_to_error (report, &error))
    return tailor_cli_fail (error);
  if (!json)
    g_print ("No leak: %u training examples checked against %u evaluation examples%s%s.\n",
             report->n_train, report->n_eval,
             report->frozen_version_id != NULL ? " frozen at version " : " of the same version",
             report->frozen_version_id != NULL ? report->frozen_version_id : "");
  return TAILOR_CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */

static const DataCommand data_commands[] = {
  { "import", "PROJECT FILE…",
    "Import files into a new dataset version of PROJECT (created if needed)",
    "Every new version goes through: import (rejected records are listed as FILE:LINE: reason), "
    "counter-example tags, secrets and personal data (redacted by default: each finding is "
    "replaced by a typed placeholder such as [EMAIL]), glossary, deduplication (near-duplicates "
    "at similarity 0.8 by default), the train/eval split (10% of each file by default, chosen by "
    "content hash) and the leak check against a frozen evaluation set. Either everything is "
    "saved or nothing.\n\n"
    "Examples already in the project are scanned again (markers, secrets, glossary) only when "
    "--pii, --glossary (its content) or --counter-marker differ from the settings of the "
    "latest version (options left out mean the defaults, not the project's earlier choice); "
    "unchanged settings never rewrite an example twice. The frozen evaluation "
    "set is never rewritten. A marker dropped later does not untag examples.\n\n"
    "Memory grows with the number of examples (about 1.5 KiB each while deduplicating), not with "
    "their size: examples are spooled to the catalogue's tmp/ folder, which needs free space "
    "of about twice the imported files.",
    data_import },
  { "check", "PROJECT",
    "Hygiene report of the latest version: duplicates, secrets, lengths, "
    "balance",
    NULL, data_check },
  { "split", "PROJECT", "Re-split the latest version, or freeze its evaluation set",
    "--freeze makes the evaluation set sacred: every later version keeps exactly it, and a "
    "version that would train on one of its examples (or a near-duplicate) is refused.",
    data_split },
  { "versions", "PROJECT", "List the dataset versions of PROJECT, oldest first", NULL,
    data_versions },
  { "export", "VERSION DIR", "Write train.jsonl and eval.jsonl of a version in chat form", NULL,
    data_export },
  { "leak-check", "PROJECT", "Check that no training example is (near) an evaluation example",
    "Exits 1 and lists the leaking training examples when there is a leak.", data_leak_check },
};

static void
print_data_commands (FILE *out)
{
  fprintf (out, "Usage:\n  tailor-cli data COMMAND [OPTION…]\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (data_commands); i++)
    fprintf (out, "  %-12s %s\n", data_commands[i].name, data_commands[i].summary);
  fprintf (out, "\nThe catalogue lives in $TAILOR_DATA_DIR, else $XDG_DATA_HOME/tailor.\n"
                "Run “tailor-cli data COMMAND --help” for a command's options.\n");
}

int
tailor_cli_data (int argc, char **argv)
{
  g_autofree char *prgname = NULL;

  g_return_val_if_fail (argc >= 1, TAILOR_CLI_EXIT_USAGE);

  if (argc < 2)
    {
      print_data_commands (stderr);
      return TAILOR_CLI_EXIT_USAGE;
    }
  if (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h") ||
      g_str_equal (argv[1], "help"))
    {
      print_data_commands (stdout);
      return TAILOR_CLI_EXIT_OK;
    }
  for (guint i = 0; i < G_N_ELEMENTS (data_commands); i++)
    {
      if (!g_str_equal (data_commands[i].name, argv[1]))
        continue;
      current = &data_commands[i];
      prgname = g_strdup_printf ("tailor-cli data %s", current->name);
      g_set_prgname (prgname);
      return current->run (argc - 1, argv + 1);
    }
  g_printerr ("tailor-cli data: unknown command “%s”\n\n", argv[1]);
  print_data_commands (stderr);
  return TAILOR_CLI_EXIT_USAGE;
}
