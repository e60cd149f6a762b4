/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tailor-cli: the subcommand table, dispatch, and the helpers every subcommand shares. */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tailor-cli-bench.h"
#include "tailor-cli-data.h"
#include "tailor-cli-private.h"
#include "tailor-cli-train.h"

static const TailorCliCommand commands[] = {
  { "inspect", "MODEL", "Describe a GGUF model: architecture, size, quantization, license, SHA-256",
    tailor_cli_inspect },
  { "tokenize", "TEXT", "Turn text into the model's token ids", tailor_cli_tokenize },
  { "logits", "", "Next-token logits and log-probabilities of a prompt", tailor_cli_logits },
  { "generate", "", "Continue a prompt (or answer it as a chat) with the CPU reference",
    tailor_cli_generate },
  { "make-test-model", "OUT.gguf", "Write a small random model with a real-shaped vocabulary",
    tailor_cli_make_test_model },
  { "train", "RUN.json", "Train an adapter as run.json describes", tailor_cli_train },
  { "bench", "", "Measure matmul and training throughput on this machine", tailor_cli_bench },
  { "devices", "", "List the Vulkan devices Tailor can compute on", tailor_cli_devices },
  { "data", "COMMAND …", "Import, check, split, list, export and leak-check dataset versions",
    tailor_cli_data },
};

static const TailorCliCommand *
find_command (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];
  return NULL;
}

GOptionContext *
tailor_cli_context_new (const char *name, const GOptionEntry *entries)
{
  const TailorCliCommand *command = find_command (name);
  GOptionContext *context;

  g_return_val_if_fail (command != NULL, NULL);

  context = g_option_context_new (command->params);
  g_option_context_set_summary (context, command->summary);
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, NULL);
  return context;
}

static void
print_usage (GOptionContext *context)
{
  g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

  fputs (help, stderr);
}

gboolean
tailor_cli_parse (GOptionContext *context, int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;

  if (g_option_context_parse (context, argc, argv, &error))
    {
      /* The parser keeps the "--" that lets a TEXT start with a dash; it is not an argument. */
      for (int i = 1; i < *argc; i++)
        if (g_str_equal ((*argv)[i], "--"))
          {
            memmove (&(*argv)[i], &(*argv)[i + 1], sizeof (char *) * (*argc - i));
            (*argc)--;
            break;
          }
      return TRUE;
    }
  g_printerr ("%s: %s\n\n", g_get_prgname (), error->message);
  print_usage (context);
  return FALSE;
}

int
tailor_cli_usage_error (GOptionContext *context, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("%s: %s\n\n", g_get_prgname (), message);
  print_usage (context);
  return TAILOR_CLI_EXIT_USAGE;
}

int
tailor_cli_fail (const GError *error)
{
  g_printerr ("%s: %s\n", g_get_prgname (), error->message);
  return TAILOR_CLI_EXIT_ERROR;
}

int
tailor_cli_failf (const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("%s: %s\n", g_get_prgname (), message);
  return TAILOR_CLI_EXIT_ERROR;
}

gboolean
tailor_cli_check_utf8 (GOptionContext *context, const char *what, const char *text)
{
  if (g_utf8_validate (text, -1, NULL))
    return TRUE;
  tailor_cli_usage_error (context, "%s is not valid UTF-8", what);
  return FALSE;
}

gboolean
tailor_cli_print_json (JsonBuilder *builder, gboolean pretty)
{
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;
  gsize len = 0;

  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, pretty);
  json_generator_set_indent (generator, 2);
  text = json_generator_to_data (generator, &len);
  if (fwrite (text, 1, len, stdout) != len || fputc ('\n', stdout) == EOF || fflush (stdout) != 0)
    {
      tailor_cli_failf ("Cannot write the JSON output: %s", g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

void
tailor_cli_json_add_float (JsonBuilder *builder, double value)
{
  if (isfinite (value))
    json_builder_add_double_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

void
tailor_cli_json_add_bytes_as_string (JsonBuilder *builder, GBytes *bytes)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autofree char *valid = g_utf8_make_valid (data != NULL ? data : "", len);

  json_builder_add_string_value (builder, valid);
}

static void
print_commands (FILE *out)
{
  fprintf (out, "Usage:\n  tailor-cli COMMAND [OPTION…]\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-16s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nRun “tailor-cli COMMAND --help” for a command's options.\n"
                "Exit status: 0 success, 1 error (explained on stderr), 2 usage error.\n");
}

int
main (int argc, char *argv[])
{
  const TailorCliCommand *command;
  g_autofree char *prgname = NULL;

  setlocale (LC_ALL, "");

  if (argc < 2)
    {
      g_set_prgname ("tailor-cli");
      print_commands (stderr);
      return TAILOR_CLI_EXIT_USAGE;
    }
  if (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h") ||
      g_str_equal (argv[1], "help"))
    {
      print_commands (stdout);
      return TAILOR_CLI_EXIT_OK;
    }
  if (g_str_equal (argv[1], "--version"))
    {
      printf ("tailor-cli %s\n", PACKAGE_VERSION);
      return TAILOR_CLI_EXIT_OK;
    }

  command = find_command (argv[1]);
  if (command == NULL)
    {
      g_printerr ("tailor-cli: unknown command “%s”\n\n", argv[1]);
      print_commands (stderr);
      return TAILOR_CLI_EXIT_USAGE;
    }

  /* The option parser names the program in its usage line: "tailor-cli inspect [OPTION…] MODEL". */
  prgname = g_strdup_printf ("tailor-cli %s", command->name);
  g_set_prgname (prgname);
  return command->run (argc - 1, argv + 1);
}
